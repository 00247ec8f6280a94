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

/* Open connections per client certificate, so one principal cannot take every socket. A
 * connection counts from its first request until it closes. */
struct tls_peers;

struct tls_peers *tls_peers_create(unsigned max_per_certificate);
/* Connections still open keep counting; they release into the same table. Destroy only after
 * every connection is closed. */
void tls_peers_destroy(struct tls_peers *peers);
void tls_peers_set_limit(struct tls_peers *peers, unsigned max_per_certificate);

/* A new server-side SSL with a handshake deadline (armed now): a peer that has not finished
 * the handshake by then has its socket shut down. */
SSL *tls_session_new(SSL_CTX *ctx, struct event_base *base, unsigned handshake_timeout_s,
		struct tls_peers *peers);

enum tls_peer {
	TLS_PEER_NONE,        /* no (verified) client certificate */
	TLS_PEER_OK,
	TLS_PEER_TOO_MANY,    /* this certificate already holds its share of connections */
};

/* The verified peer certificate's SHA-256 fingerprint (lowercase hex) and subject. The first
 * call on a connection takes its place in the certificate's count. */
enum tls_peer tls_peer_identity(SSL *ssl, const char **fingerprint, const char **subject);

#endif
