/* tls.c: OpenSSL server context, CRL, handshake deadline, peer certificate identity,
 * revocation of established connections, and the log of refused clients.
 *
 * Per-connection TLS state hangs off the SSL object as ex_data, so it lives exactly as long as
 * the SSL that evhttp's bufferevent owns; OpenSSL frees it through the index's free callback.
 * A context's generation hangs off the SSL_CTX the same way. */
#include "tls.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "log.h"

struct tls_peer_count {
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	unsigned connections;
};

/* Lines about refused clients in the current second, and those held back since `since`. */
struct tls_ratelimit {
	time_t window;
	unsigned logged, held;
	time_t since;
};

struct tls_peers {
	unsigned max;
	size_t count, cap;
	struct tls_peer_count *items;   /* certificates with open connections; few, so a list */
	struct tls_ratelimit refusals;
	unsigned long failures[TLS_FAILURE_COUNT];
};

const char *const tls_failure_names[TLS_FAILURE_COUNT] = {
	"unknown_ca", "revoked", "expired", "bad_certificate", "timeout", "protocol", "closed",
};

struct tls_conn {
	SSL *ssl;
	struct tls_peers *peers;
	bool counted, too_many;
	bool refused;          /* failed a re-check after a reload: every request gets 403 */
	bool nodelay;          /* TCP_NODELAY set on its socket */
	bool handshake_done;
	bool timed_out;
	unsigned long generation;   /* of the context the certificate was last verified under */
	struct event *deadline;
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	char subject[256];
	char serial[64];
	char peer[INET6_ADDRSTRLEN + 8];
	char reason[192];      /* why the handshake failed, the first cause seen */
	int verify_error;      /* the first X509_V_ERR_* of the chain; X509_V_OK when none */
	bool identified;
	void (*on_done)(void *arg);   /* tls_session_new's handshake_done */
	void *on_done_arg;
};

static int tls_conn_index = -1;
static int tls_ctx_index = -1;
static unsigned long tls_generation;   /* of the newest context created */

struct tls_peers *
tls_peers_create(unsigned max_per_certificate)
{
	struct tls_peers *peers = calloc(1, sizeof(*peers));

	if (peers != NULL)
		peers->max = max_per_certificate;
	return peers;
}

static void
tls_ratelimit_flush(struct tls_ratelimit *rl)
{
	char since[32];
	struct tm tm;

	if (rl->held == 0)
		return;
	if (gmtime_r(&rl->since, &tm) == NULL || strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(since, sizeof(since), "?");
	log_info("refused clients: %u more lines not logged since %s (at most %d a second)",
		rl->held, since, TLS_REFUSALS_PER_S);
	rl->held = 0;
}

void
tls_peers_destroy(struct tls_peers *peers)
{
	if (peers == NULL)
		return;
	tls_ratelimit_flush(&peers->refusals);
	free(peers->items);
	free(peers);
}

void
tls_peers_set_limit(struct tls_peers *peers, unsigned max_per_certificate)
{
	peers->max = max_per_certificate;
}

/* True when one more line may be written now; first reports what was held back. */
static bool
tls_ratelimit_allow(struct tls_ratelimit *rl, time_t now)
{
	if (now != rl->window) {
		rl->window = now;
		rl->logged = 0;
		tls_ratelimit_flush(rl);
	}
	if (rl->logged < TLS_REFUSALS_PER_S) {
		rl->logged++;
		return true;
	}
	if (rl->held++ == 0)
		rl->since = now;
	return false;
}

static const char *
tls_peer_address(const SSL *ssl)
{
	struct tls_conn *tc = ssl ? SSL_get_ex_data(ssl, tls_conn_index) : NULL;

	return tc != NULL && tc->peer[0] != '\0' ? tc->peer : "unknown peer";
}

static void
tls_vlog_refusal(struct tls_peers *peers, const char *peer, const char *fmt, va_list ap)
{
	char message[768];

	if (!tls_ratelimit_allow(&peers->refusals, time(NULL)))
		return;
	vsnprintf(message, sizeof(message), fmt, ap);
	log_info("refused %s: %s", peer, message);
}

void
tls_log_refusal(struct tls_peers *peers, const SSL *ssl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tls_vlog_refusal(peers, tls_peer_address(ssl), fmt, ap);
	va_end(ap);
}

/* For a connection whose SSL is being freed: its peer from its own state. */
static void __attribute__((format(printf, 2, 3)))
tls_conn_log_refusal(const struct tls_conn *tc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tls_vlog_refusal(tc->peers, tc->peer[0] ? tc->peer : "unknown peer", fmt, ap);
	va_end(ap);
}

static struct tls_peer_count *
tls_peers_find(struct tls_peers *peers, const char *fingerprint)
{
	for (size_t i = 0; i < peers->count; i++)
		if (strcmp(peers->items[i].fingerprint, fingerprint) == 0)
			return &peers->items[i];
	return NULL;
}

/* Takes a connection slot for the certificate; false when it has none left. */
static bool
tls_peers_acquire(struct tls_peers *peers, const char *fingerprint)
{
	struct tls_peer_count *pc = tls_peers_find(peers, fingerprint);

	if (pc == NULL) {
		if (peers->count == peers->cap) {
			size_t cap = peers->cap ? 2 * peers->cap : 16;
			struct tls_peer_count *grown = realloc(peers->items, cap * sizeof(*grown));

			if (grown == NULL)
				return false;
			peers->items = grown;
			peers->cap = cap;
		}
		pc = &peers->items[peers->count++];
		memcpy(pc->fingerprint, fingerprint, sizeof(pc->fingerprint));
		pc->connections = 0;
	}
	if (pc->connections >= peers->max)
		return false;
	pc->connections++;
	return true;
}

static void
tls_peers_release(struct tls_peers *peers, const char *fingerprint)
{
	struct tls_peer_count *pc = tls_peers_find(peers, fingerprint);

	if (pc == NULL || pc->connections == 0)
		return;
	if (--pc->connections == 0)
		*pc = peers->items[--peers->count];
}

/* Why a handshake failed, for esup_tls_handshake_failures_total: the certificate's verdict
 * first, then the deadline, then any alert or error seen (tls.h, enum tls_failure). */
static enum tls_failure
tls_conn_failure(const struct tls_conn *tc)
{
	switch (tc->verify_error) {
	case X509_V_OK:
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return TLS_FAILURE_UNKNOWN_CA;
	case X509_V_ERR_CERT_REVOKED:
		return TLS_FAILURE_REVOKED;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_FAILURE_EXPIRED;
	default:
		return TLS_FAILURE_BAD_CERTIFICATE;
	}
	if (tc->timed_out)
		return TLS_FAILURE_TIMEOUT;
	return tc->reason[0] != '\0' ? TLS_FAILURE_PROTOCOL : TLS_FAILURE_CLOSED;
}

unsigned long
tls_peers_failures(const struct tls_peers *peers, enum tls_failure reason)
{
	return peers->failures[reason];
}

/* A handshake that did not complete, told once: who, with what certificate, and why. */
static void
tls_conn_log_failure(const struct tls_conn *tc)
{
	const char *reason = tc->reason;

	tc->peers->failures[tls_conn_failure(tc)]++;

	if (tc->timed_out)
		reason = "handshake not finished within handshake_timeout_s";
	else if (reason[0] == '\0')
		reason = "connection closed before the handshake completed";
	tls_conn_log_refusal(tc, "TLS handshake failed: %s (certificate %s, serial %s)",
		reason, tc->subject[0] ? tc->subject : "none", tc->serial[0] ? tc->serial : "none");
}

static void
tls_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_conn *tc = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (tc == NULL)
		return;
	if (!tc->handshake_done)
		tls_conn_log_failure(tc);
	if (tc->counted)
		tls_peers_release(tc->peers, tc->fingerprint);
	if (tc->deadline)
		event_free(tc->deadline);
	free(tc);
}

static void
log_openssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("%s: %s", what, buf);
	}
}

/* True when a certificate of the store (the configured CA) issued and signed the CRL. A CRL
 * of another CA leaves every client without one of its own CA: all would be refused. */
static bool
tls_crl_issuer_known(X509_STORE *store, X509_CRL *crl)
{
	STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);

	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));

		if (ca != NULL && X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return true;
	}
	return false;
}

/* Reads every CRL of a PEM file into the store; each must be issued by the configured CA and
 * inside its validity window, because OpenSSL would refuse every client certificate with an
 * expired or foreign one. */
static bool
tls_load_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *in = BIO_new_file(path, "r");
	X509_CRL *crl;
	char why[160];
	int loaded = 0;
	bool ok = in != NULL;

	while (ok && (crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
		if (!tls_crl_issuer_known(store, crl)) {
			X509_NAME_oneline(X509_CRL_get_issuer(crl), why, sizeof(why));
			log_warnx("%s: CRL issued by %s, which is not (or did not sign it as) the configured "
				"CA; refusing it", path, why);
			ok = false;
		} else if (!check_crl_current(crl, time(NULL), why, sizeof(why))) {
			log_warnx("%s: %s; refusing it: publish a current CRL (openssl ca -gencrl) and reload", path, why);
			ok = false;
		} else if (X509_STORE_add_crl(store, crl) != 1) {
			ok = false;
		} else {
			log_info("%s: %s", path, why);
			loaded++;
		}
		X509_CRL_free(crl);
	}
	BIO_free(in);
	if (ok && loaded == 0)
		ok = false;
	else
		ERR_clear_error();   /* the PEM reader's end-of-file */
	if (!ok) {
		log_openssl_errors(path);
		log_warnx("%s: cannot load certificate revocation list", path);
		return false;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return true;
}

bool
tls_crl_status(const SSL_CTX *ctx, time_t now, char *why, size_t len)
{
	STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	bool any = false;

	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objects, i);

		if (X509_OBJECT_get_type(o) != X509_LU_CRL)
			continue;
		any = true;
		if (!check_crl_current(X509_OBJECT_get0_X509_CRL(o), now, why, len))
			return false;
	}
	if (!any)
		snprintf(why, len, "no CRL configured");
	return true;
}

/* Seconds from now to t; false when t is NULL or unreadable. */
static bool
tls_seconds_until(const ASN1_TIME *t, time_t now, double *seconds)
{
	int days, secs;
	ASN1_TIME *from = t ? ASN1_TIME_set(NULL, now) : NULL;
	bool ok = from != NULL && ASN1_TIME_diff(&days, &secs, from, t) == 1;

	ASN1_TIME_free(from);
	if (ok)
		*seconds = (double)days * 86400.0 + secs;
	return ok;
}

bool
tls_expiry(const SSL_CTX *ctx, int which, time_t now, double *seconds)
{
	STACK_OF(X509_OBJECT) *objects;
	bool any = false;
	double s;

	if (which == 0) {
		X509 *cert = SSL_CTX_get0_certificate(ctx);

		return cert != NULL && tls_seconds_until(X509_get0_notAfter(cert), now, seconds);
	}
	objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objects, i);
		const ASN1_TIME *t;

		if (which == 1 && X509_OBJECT_get_type(o) == X509_LU_X509)
			t = X509_get0_notAfter(X509_OBJECT_get0_X509(o));
		else if (which == 2 && X509_OBJECT_get_type(o) == X509_LU_CRL)
			t = X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(o));
		else
			continue;
		if (tls_seconds_until(t, now, &s) && (!any || s < *seconds)) {
			*seconds = s;
			any = true;
		}
	}
	return any;
}

/* Client certificates only: extendedKeyUsage clientAuth present (no EKU at all is refused)
 * and not a CA. NULL when acceptable, else why not. */
static const char *
tls_leaf_unacceptable(X509 *cert)
{
	if (X509_check_ca(cert) != 0)
		return "certificate is a CA (basicConstraints CA:TRUE or keyCertSign), not a client certificate";
	if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0)
		return "certificate has no extendedKeyUsage (clientAuth required)";
	if ((X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) == 0)
		return "certificate's extendedKeyUsage lacks clientAuth";
	return NULL;
}

/* The subject and serial of the first certificate seen, for the log lines about it. */
static void
tls_conn_note_certificate(struct tls_conn *tc, X509 *cert)
{
	BIGNUM *bn;
	char *hex;

	if (cert == NULL || tc->subject[0] != '\0')
		return;
	X509_NAME_oneline(X509_get_subject_name(cert), tc->subject, sizeof(tc->subject));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(tc->serial, sizeof(tc->serial), "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* OpenSSL's verdict on each certificate of the chain, and ours on the leaf: the first cause of
 * a refusal is kept for the failed-handshake log line. */
static int
tls_verify_callback(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *tc = ssl ? SSL_get_ex_data(ssl, tls_conn_index) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
	int depth = X509_STORE_CTX_get_error_depth(sctx);
	const char *why = depth == 0 && leaf ? tls_leaf_unacceptable(leaf) : NULL;

	if (tc != NULL)
		tls_conn_note_certificate(tc, leaf);
	if (ok && why != NULL)
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_INVALID_PURPOSE);
	if (ok && why == NULL)
		return 1;
	if (why == NULL || X509_STORE_CTX_get_error(sctx) != X509_V_ERR_INVALID_PURPOSE)
		why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx));
	if (tc != NULL && tc->reason[0] == '\0') {
		snprintf(tc->reason, sizeof(tc->reason), "%s (depth %d)", why, depth);
		tc->verify_error = X509_STORE_CTX_get_error(sctx);
	}
	return 0;
}

static unsigned long
tls_ctx_generation(const SSL_CTX *ctx)
{
	return (unsigned long)(uintptr_t)SSL_CTX_get_ex_data(ctx, tls_ctx_index);
}

/* The first fatal alert either side sent: the reason when the verify callback gave none. */
static void
tls_conn_note_alert(struct tls_conn *tc, int where, int ret)
{
	if (tc->reason[0] != '\0' || strcmp(SSL_alert_type_string(ret), "F") != 0)
		return;
	snprintf(tc->reason, sizeof(tc->reason), "%s alert: %s",
		(where & SSL_CB_READ) ? "client sent" : "sent", SSL_alert_desc_string_long(ret));
}

static void
tls_conn_note_error(struct tls_conn *tc, unsigned long e)
{
	const char *why = ERR_reason_error_string(e);

	snprintf(tc->reason, sizeof(tc->reason), "protocol error: %s", why ? why : "unknown");
}

static void
tls_conn_note_peer(struct tls_conn *tc, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sslen) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(tc->peer, sizeof(tc->peer), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static bool
tls_conn_identify(struct tls_conn *tc, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	static const char hex[] = "0123456789abcdef";

	if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len * 2 != TLS_FINGERPRINT_LEN)
		return false;
	for (unsigned i = 0; i < len; i++) {
		tc->fingerprint[2 * i] = hex[md[i] >> 4];
		tc->fingerprint[2 * i + 1] = hex[md[i] & 15];
	}
	tc->fingerprint[TLS_FINGERPRINT_LEN] = '\0';
	tls_conn_note_certificate(tc, cert);
	tc->identified = true;
	return true;
}

/* The handshake is done, so the certificate is verified: it takes its connection slot now,
 * before any request. Over its share, the deadline stays armed and closes the connection
 * unless its first request (answered 429, Connection: close) comes sooner. */
static void
tls_conn_handshake_done(struct tls_conn *tc)
{
	X509 *cert = SSL_get0_peer_certificate(tc->ssl);

	tc->handshake_done = true;
	if (cert != NULL && SSL_get_verify_result(tc->ssl) == X509_V_OK &&
	    tls_conn_identify(tc, cert)) {
		tc->counted = tls_peers_acquire(tc->peers, tc->fingerprint);
		tc->too_many = !tc->counted;
	}
	if (tc->too_many)
		tls_log_refusal(tc->peers, tc->ssl, "certificate %s (%s) already holds "
			"max_connections_per_principal connections", tc->fingerprint, tc->subject);
	else if (tc->deadline)
		event_del(tc->deadline);
	if (tc->counted && tc->on_done != NULL)
		tc->on_done(tc->on_done_arg);
}

static void
tls_info_callback(const SSL *ssl, int where, int ret)
{
	struct tls_conn *tc = SSL_get_ex_data(ssl, tls_conn_index);

	if (tc == NULL)
		return;
	/* A response leaves as several TLS records; with Nagle on, each one after the first waits
	 * for the client's delayed ACK (~40 ms a request). The socket is known only from here. */
	if ((where & SSL_CB_HANDSHAKE_START) && !tc->nodelay) {
		int fd = SSL_get_fd(ssl), on = 1;

		tc->nodelay = true;
		tls_conn_note_peer(tc, fd);
		if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
			log_warn("TCP_NODELAY");
	}
	if ((where & SSL_CB_ALERT) && !tc->handshake_done)
		tls_conn_note_alert(tc, where, ret);
	/* A fatal error that sent no alert (plain HTTP, not TLS at all): the handshake step failed
	 * with an error queued, where a step that only waits for bytes queues none. */
	if ((where & SSL_CB_EXIT) && ret <= 0 && !tc->handshake_done && tc->reason[0] == '\0' &&
	    ERR_peek_error() != 0)
		tls_conn_note_error(tc, ERR_peek_error());
	if ((where & SSL_CB_HANDSHAKE_DONE) && !tc->handshake_done)
		tls_conn_handshake_done(tc);
}

static bool
tls_context_configure(SSL_CTX *ctx, const struct config *cfg)
{
	static const unsigned char session_context[] = "esupd";
	STACK_OF(X509_NAME) *client_cas;
	char why[640];

	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites)) {
		log_warnx("[tls] ciphers or ciphersuites not accepted by OpenSSL");
		return false;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_certificate) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_private_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_openssl_errors(cfg->tls_certificate);
		log_warnx("%s: cannot load server certificate and key", cfg->tls_certificate);
		return false;
	}
	if (!check_server_purpose(SSL_CTX_get0_certificate(ctx), why, sizeof(why))) {
		log_warnx("%s: %s", cfg->tls_certificate, why);
		return false;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1 ||
	    (client_cas = SSL_load_client_CA_file(cfg->tls_ca)) == NULL) {
		log_openssl_errors(cfg->tls_ca);
		log_warnx("%s: cannot load client CA", cfg->tls_ca);
		return false;
	}
	SSL_CTX_set_client_CA_list(ctx, client_cas);
	if (cfg->tls_crl[0] != '\0' && !tls_load_crl(ctx, cfg->tls_crl))
		return false;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_callback);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_session_id_context(ctx, session_context, sizeof(session_context) - 1);
	SSL_CTX_set_info_callback(ctx, tls_info_callback);
	return true;
}

SSL_CTX *
tls_context_create(const struct config *cfg)
{
	SSL_CTX *ctx;

	if (tls_conn_index < 0)
		tls_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_conn_free);
	if (tls_ctx_index < 0)
		tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		log_openssl_errors("SSL_CTX_new");
		return NULL;
	}
	if (!tls_context_configure(ctx, cfg) ||
	    !SSL_CTX_set_ex_data(ctx, tls_ctx_index, (void *)(uintptr_t)(tls_generation + 1))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_generation++;
	return ctx;
}

static void
tls_deadline_passed(evutil_socket_t unused, short what, void *arg)
{
	struct tls_conn *tc = arg;
	int fd = SSL_get_fd(tc->ssl);

	(void)unused, (void)what;
	if (tc->handshake_done) {
		log_info("closing %s: over max_connections_per_principal and no request within "
			"handshake_timeout_s", tls_peer_address(tc->ssl));
	} else {
		tc->timed_out = true;
	}
	/* evhttp owns the socket: shutting it down makes evhttp see EOF and tear down cleanly. */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

SSL *
tls_session_new(SSL_CTX *ctx, struct event_base *base, unsigned handshake_timeout_s,
		struct tls_peers *peers, void (*handshake_done)(void *arg), void *arg)
{
	SSL *ssl = SSL_new(ctx);
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	struct timeval tv = { .tv_sec = handshake_timeout_s };

	if (ssl == NULL || tc == NULL)
		goto fail;
	tc->ssl = ssl;
	tc->peers = peers;
	tc->on_done = handshake_done;
	tc->on_done_arg = arg;
	tc->generation = tls_ctx_generation(ctx);
	tc->handshake_done = true;   /* nothing to report if this function fails */
	tc->deadline = evtimer_new(base, tls_deadline_passed, tc);
	if (tc->deadline == NULL)
		goto fail;
	if (!SSL_set_ex_data(ssl, tls_conn_index, tc))
		goto fail;
	tc->handshake_done = false;
	evtimer_add(tc->deadline, &tv);
	return ssl;
fail:
	if (tc && tc->deadline)
		event_free(tc->deadline);
	free(tc);
	SSL_free(ssl);
	return NULL;
}

/* Verifies the connection's certificate chain again, against `current`'s CA and CRL, now;
 * false (logged) when it no longer passes. */
static bool
tls_conn_recheck(struct tls_conn *tc, SSL_CTX *current)
{
	X509 *leaf = SSL_get0_peer_certificate(tc->ssl);
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	const char *why = NULL;

	if (leaf == NULL || sctx == NULL ||
	    !X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(current), leaf, SSL_get_peer_cert_chain(tc->ssl)) ||
	    !X509_STORE_CTX_set_default(sctx, "ssl_client") ||
	    !X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sctx), SSL_CTX_get0_param(current))) {
		why = "cannot verify the certificate again (out of memory)";
	} else if (X509_verify_cert(sctx) <= 0) {
		why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx));
	} else {
		why = tls_leaf_unacceptable(leaf);
	}
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	if (why != NULL)
		tls_log_refusal(tc->peers, tc->ssl, "certificate %s (%s, serial %s) on an established "
			"connection, re-checked after a reload: %s", tc->fingerprint, tc->subject,
			tc->serial, why);
	return why == NULL;
}

enum tls_peer
tls_peer_identity(SSL *ssl, SSL_CTX *current, const char **fingerprint, const char **subject)
{
	struct tls_conn *tc = SSL_get_ex_data(ssl, tls_conn_index);

	if (tc == NULL || !tc->identified)
		return TLS_PEER_NONE;
	*fingerprint = tc->fingerprint;
	*subject = tc->subject;
	if (!tc->refused && current != NULL && tls_ctx_generation(current) != tc->generation) {
		tc->generation = tls_ctx_generation(current);
		tc->refused = !tls_conn_recheck(tc, current);
	}
	if (tc->refused)
		return TLS_PEER_REFUSED;
	return tc->too_many ? TLS_PEER_TOO_MANY : TLS_PEER_OK;
}
