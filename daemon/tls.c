/* tls.c: OpenSSL server context, CRL, handshake deadline, peer certificate identity.
 *
 * Per-connection TLS state hangs off the SSL object as ex_data, so it lives exactly as long as
 * the SSL that evhttp's bufferevent owns; OpenSSL frees it through the index's free callback. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"

struct tls_peer_count {
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	unsigned connections;
};

struct tls_peers {
	unsigned max;
	size_t count, cap;
	struct tls_peer_count *items;   /* certificates with open connections; few, so a list */
};

struct tls_conn {
	SSL *ssl;
	struct tls_peers *peers;
	bool counted, too_many;
	bool nodelay;          /* TCP_NODELAY set on its socket */
	struct event *deadline;
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	char subject[256];
	bool identified;
};

static int tls_conn_index = -1;

struct tls_peers *
tls_peers_create(unsigned max_per_certificate)
{
	struct tls_peers *peers = calloc(1, sizeof(*peers));

	if (peers != NULL)
		peers->max = max_per_certificate;
	return peers;
}

void
tls_peers_destroy(struct tls_peers *peers)
{
	if (peers == NULL)
		return;
	free(peers->items);
	free(peers);
}

void
tls_peers_set_limit(struct tls_peers *peers, unsigned max_per_certificate)
{
	peers->max = max_per_certificate;
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

static void
tls_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_conn *tc = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (tc == NULL)
		return;
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

static bool
tls_load_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

	if (lookup == NULL || X509_load_crl_file(lookup, path, X509_FILETYPE_PEM) <= 0) {
		log_openssl_errors(path);
		log_warnx("%s: cannot load certificate revocation list", path);
		return false;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return true;
}

static void
tls_info_callback(const SSL *ssl, int where, int ret)
{
	struct tls_conn *tc = SSL_get_ex_data(ssl, tls_conn_index);

	(void)ret;
	/* A response leaves as several TLS records; with Nagle on, each one after the first waits
	 * for the client's delayed ACK (~40 ms a request). The socket is known only from here. */
	if ((where & SSL_CB_HANDSHAKE_START) && tc != NULL && !tc->nodelay) {
		int fd = SSL_get_fd(ssl), on = 1;

		tc->nodelay = true;
		if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
			log_warn("TCP_NODELAY");
	}
	if (tc != NULL && (where & SSL_CB_HANDSHAKE_DONE) && tc->deadline)
		event_del(tc->deadline);
}

static bool
tls_context_configure(SSL_CTX *ctx, const struct config *cfg)
{
	static const unsigned char session_context[] = "esupd";
	STACK_OF(X509_NAME) *client_cas;

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
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1 ||
	    (client_cas = SSL_load_client_CA_file(cfg->tls_ca)) == NULL) {
		log_openssl_errors(cfg->tls_ca);
		log_warnx("%s: cannot load client CA", cfg->tls_ca);
		return false;
	}
	SSL_CTX_set_client_CA_list(ctx, client_cas);
	if (cfg->tls_crl[0] != '\0' && !tls_load_crl(ctx, cfg->tls_crl))
		return false;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
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
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		log_openssl_errors("SSL_CTX_new");
		return NULL;
	}
	if (!tls_context_configure(ctx, cfg)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
tls_deadline_passed(evutil_socket_t unused, short what, void *arg)
{
	struct tls_conn *tc = arg;
	int fd = SSL_get_fd(tc->ssl);

	(void)unused, (void)what;
	log_info("TLS handshake not finished within the handshake timeout; closing connection");
	/* evhttp owns the socket: shutting it down makes evhttp see EOF and tear down cleanly. */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

SSL *
tls_session_new(SSL_CTX *ctx, struct event_base *base, unsigned handshake_timeout_s,
		struct tls_peers *peers)
{
	SSL *ssl = SSL_new(ctx);
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	struct timeval tv = { .tv_sec = handshake_timeout_s };

	if (ssl == NULL || tc == NULL)
		goto fail;
	tc->ssl = ssl;
	tc->peers = peers;
	tc->deadline = evtimer_new(base, tls_deadline_passed, tc);
	if (tc->deadline == NULL)
		goto fail;
	if (!SSL_set_ex_data(ssl, tls_conn_index, tc))
		goto fail;
	evtimer_add(tc->deadline, &tv);
	return ssl;
fail:
	if (tc && tc->deadline)
		event_free(tc->deadline);
	free(tc);
	SSL_free(ssl);
	return NULL;
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
	X509_NAME_oneline(X509_get_subject_name(cert), tc->subject, sizeof(tc->subject));
	tc->identified = true;
	return true;
}

enum tls_peer
tls_peer_identity(SSL *ssl, const char **fingerprint, const char **subject)
{
	struct tls_conn *tc = SSL_get_ex_data(ssl, tls_conn_index);
	X509 *cert;

	if (tc == NULL)
		return TLS_PEER_NONE;
	if (!tc->identified) {
		cert = SSL_get0_peer_certificate(ssl);
		if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK || !tls_conn_identify(tc, cert))
			return TLS_PEER_NONE;
		tc->counted = tls_peers_acquire(tc->peers, tc->fingerprint);
		tc->too_many = !tc->counted;
	}
	*fingerprint = tc->fingerprint;
	*subject = tc->subject;
	return tc->too_many ? TLS_PEER_TOO_MANY : TLS_PEER_OK;
}
