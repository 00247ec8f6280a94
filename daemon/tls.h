/* tls.h: the server's TLS context and what a connection's peer certificate says. */
#ifndef ESUP_TLS_H
#define ESUP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"

#define TLS_FINGERPRINT_LEN 64

/* Builds a context from the [tls] options: TLS 1.2+, client certificates verified against
 * the CA (and CRL when set) but optional at the TLS level, so /healthz can answer without one.
 * A client certificate must carry extendedKeyUsage clientAuth and must not be a CA. A CRL
 * that cannot be read, holds no CRL, or is outside its lastUpdate..nextUpdate window is
 * refused. Each context gets a new generation: connections made under an older one re-check
 * their certificate against the newest at their next request (tls_peer_identity). Returns
 * NULL (logged) when anything fails to load. */
SSL_CTX *tls_context_create(const struct config *cfg);

/* Whether the context's CRL can be used at `now`: false when it has expired (nextUpdate
 * passed) or is not yet valid; true, with its nextUpdate, when it is usable or none is
 * configured. why receives one line either way. For /healthz and esupd -n. */
bool tls_crl_status(const SSL_CTX *ctx, time_t now, char *why, size_t len);

/* Open connections per client certificate, so one principal cannot take every socket, and the
 * rate limit of the log lines about refused clients. A connection counts from the end of its
 * handshake until it closes. */
struct tls_peers;

struct tls_peers *tls_peers_create(unsigned max_per_certificate);
/* Connections still open keep counting; they release into the same table. Destroy only after
 * every connection is closed. Logs what the rate limit still holds back. */
void tls_peers_destroy(struct tls_peers *peers);
void tls_peers_set_limit(struct tls_peers *peers, unsigned max_per_certificate);

/* Why a TLS handshake did not complete, as far as the verify callback, the alerts and the
 * deadline tell: the client's certificate is signed by no CA we know (unknown_ca), revoked by
 * the CRL, expired or not yet valid (expired), refused for another reason (bad_certificate:
 * not for clientAuth, a CA, a bad signature...), the handshake deadline passed (timeout), a
 * fatal alert without a certificate verdict (protocol: no shared version or cipher, garbage),
 * or the peer closed before finishing (closed). A missing client certificate does not fail a
 * handshake (it is optional at the TLS level): it is the 401 of the request. */
enum tls_failure {
	TLS_FAILURE_UNKNOWN_CA, TLS_FAILURE_REVOKED, TLS_FAILURE_EXPIRED,
	TLS_FAILURE_BAD_CERTIFICATE, TLS_FAILURE_TIMEOUT, TLS_FAILURE_PROTOCOL,
	TLS_FAILURE_CLOSED, TLS_FAILURE_COUNT
};
extern const char *const tls_failure_names[TLS_FAILURE_COUNT];
/* Handshakes failed for that reason since peers was created. */
unsigned long tls_peers_failures(const struct tls_peers *peers, enum tls_failure reason);

/* Seconds from now until the context's server certificate expires (which = 0), the earliest
 * of its CA certificates (which = 1), or the earliest nextUpdate of its CRLs (which = 2);
 * false when there is none. Negative once passed. */
bool tls_expiry(const SSL_CTX *ctx, int which, time_t now, double *seconds);

/* At most TLS_REFUSALS_PER_S lines a second about refused clients (failed handshakes, 401,
 * 403); what is held back is counted and reported on the next line allowed. */
#define TLS_REFUSALS_PER_S 10
/* Logs "refused <peer address>: <message>" through that limit (ssl may be NULL). */
void tls_log_refusal(struct tls_peers *peers, const SSL *ssl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A new server-side SSL with a handshake deadline (armed now): a peer that has not finished
 * the handshake by then has its socket shut down, and so has a peer whose certificate is over
 * its connection share and has not sent its first request by then. A handshake that fails is
 * logged once, when the SSL is freed, with the peer, the certificate and the reason.
 * handshake_done (may be NULL) is called with arg once a handshake completes with a verified
 * certificate within its share, from OpenSSL's info callback: it must not free the SSL. */
SSL *tls_session_new(SSL_CTX *ctx, struct event_base *base, unsigned handshake_timeout_s,
		struct tls_peers *peers, void (*handshake_done)(void *arg), void *arg);

enum tls_peer {
	TLS_PEER_NONE,        /* no (verified) client certificate */
	TLS_PEER_OK,
	TLS_PEER_TOO_MANY,    /* this certificate already holds its share of connections */
	TLS_PEER_REFUSED,     /* no longer passes verification under the current context */
};

/* The verified peer certificate's SHA-256 fingerprint (lowercase hex) and subject. When the
 * connection was verified under an older context than `current` (a reload since), the
 * certificate is verified again against current's CA and CRL first; once refused it stays
 * refused (logged once). */
enum tls_peer tls_peer_identity(SSL *ssl, SSL_CTX *current, const char **fingerprint,
		const char **subject);

#endif
