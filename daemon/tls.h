/* tls.h: the server's TLS context and what a connection's peer certificate says. */
#ifndef ESUP_TLS_H
#define ESUP_TLS_H

#include <stdbool.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"

#define TLS_FINGERPRINT_LEN 64

/* Builds a context from the [tls] options: TLS 1.2+, client certificates verified against
 * the CA (and CRL when set) but optional at the TLS level, so /healthz can answer without one.
 * Returns NULL (logged) when anything fails to load. */
SSL_CTX *tls_context_create(const struct config *cfg);

/* A new server-side SSL with a handshake deadline (armed now): a peer that has not finished
 * the handshake by then has its socket shut down. */
SSL *tls_session_new(SSL_CTX *ctx, struct event_base *base, unsigned handshake_timeout_s);

/* The verified peer certificate's SHA-256 fingerprint (lowercase hex) and subject; false
 * when the peer sent no certificate. */
bool tls_peer_identity(SSL *ssl, const char **fingerprint, const char **subject);

#endif
