/* check.c: the configuration checks of `esupd -n` and `esupctl doctor`. See check.h. */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

void
check_say(struct check_report *r, enum check_level level, const struct config *cfg,
		const char *section, const char *option, const char *fmt, ...)
{
	char where[1100], name[128], message[1024];
	va_list ap;

	where[0] = name[0] = '\0';
	if (section != NULL) {
		unsigned line = config_line(cfg, section, option);

		if (line > 0)
			snprintf(where, sizeof(where), "%s:%u", cfg->path, line);
		else
			snprintf(where, sizeof(where), "%s", cfg->path);
		snprintf(name, sizeof(name), "%s.%s", section, option);
	} else
		snprintf(name, sizeof(name), "%s", option);
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (level == CHECK_OK)
		r->oks++;
	else if (level == CHECK_WARN)
		r->warnings++;
	else if (level == CHECK_FAIL)
		r->failures++;
	r->emit(r->arg, level, where, name, message);
}

/* "2026-12-01T20:00:00Z", or "none" for a missing time. */
static void
check_format_time(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "none");
}

bool
check_crl_current(const X509_CRL *crl, time_t now, char *why, size_t len)
{
	const ASN1_TIME *last = X509_CRL_get0_lastUpdate(crl), *next = X509_CRL_get0_nextUpdate(crl);
	char last_s[32], next_s[32];

	check_format_time(last, last_s, sizeof(last_s));
	check_format_time(next, next_s, sizeof(next_s));
	if (last == NULL || ASN1_TIME_cmp_time_t(last, now) > 0) {
		snprintf(why, len, "CRL not yet valid: lastUpdate %s is in the future", last_s);
		return false;
	}
	if (next != NULL && ASN1_TIME_cmp_time_t(next, now) <= 0) {
		snprintf(why, len, "CRL expired: nextUpdate %s has passed (lastUpdate %s)", next_s, last_s);
		return false;
	}
	snprintf(why, len, "CRL valid: lastUpdate %s, nextUpdate %s", last_s, next_s);
	return true;
}

const char *
check_daemon_user(const struct config *cfg)
{
	struct passwd *pw;

	if (geteuid() == 0)
		return cfg->user;
	pw = getpwuid(geteuid());
	return pw != NULL ? pw->pw_name : "";
}

/* errno of opening path for reading as pw (0: it opens). As root for another user, the open
 * is tried in a child that has become that user, so permissions and ACLs are judged as the
 * kernel will judge them for the daemon. */
static int
check_open_as(const struct passwd *pw, const char *path)
{
	pid_t pid;
	int fd, status;

	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return errno;
		close(fd);
		return 0;
	}
	fflush(NULL);
	if ((pid = fork()) < 0)
		return errno;
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
		    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(EPERM);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			_exit(errno > 0 && errno < 256 ? errno : EIO);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* The file of [section] option exists and the daemon user can read it. */
static bool
check_readable(const struct config *cfg, const struct passwd *pw, const char *section,
		const char *option, const char *path, struct check_report *r)
{
	int err;

	if (access(path, F_OK) != 0) {
		check_say(r, CHECK_FAIL, cfg, section, option, "%s: %s", path, strerror(errno));
		return false;
	}
	if ((err = check_open_as(pw, path)) != 0) {
		check_say(r, CHECK_FAIL, cfg, section, option, "%s: not readable by user %s: %s", path,
			pw != NULL ? pw->pw_name : "(this user)", strerror(err));
		return false;
	}
	return true;
}

/* OpenSSL's first queued error, or what, for a message; clears the queue. */
static const char *
check_openssl_error(const char *what, char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();

	if (e != 0)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", what);
	ERR_clear_error();
	return buf;
}

/* notBefore passed, notAfter not yet, and a warning when it comes within CHECK_CERT_WARN_S. */
static void
check_validity(const struct config *cfg, const char *section, const char *option, X509 *cert,
		time_t now, struct check_report *r)
{
	const ASN1_TIME *before = X509_get0_notBefore(cert), *after = X509_get0_notAfter(cert);
	char subject[256], after_s[32], before_s[32];

	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	check_format_time(after, after_s, sizeof(after_s));
	check_format_time(before, before_s, sizeof(before_s));
	if (ASN1_TIME_cmp_time_t(before, now) > 0)
		check_say(r, CHECK_FAIL, cfg, section, option, "certificate %s is not valid before %s",
			subject, before_s);
	else if (ASN1_TIME_cmp_time_t(after, now) <= 0)
		check_say(r, CHECK_FAIL, cfg, section, option, "certificate %s expired at %s", subject,
			after_s);
	else if (ASN1_TIME_cmp_time_t(after, now + CHECK_CERT_WARN_S) <= 0)
		check_say(r, CHECK_WARN, cfg, section, option, "certificate %s expires at %s, in less "
			"than %d days", subject, after_s, CHECK_CERT_WARN_S / 86400);
}

/* Every certificate of a PEM file (a chain, or a CA bundle); NULL when it holds none. */
static STACK_OF(X509) *
check_load_certificates(const char *path, char *why, size_t len)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL || certs == NULL) {
		snprintf(why, len, "%s", strerror(errno));
		sk_X509_free(certs);
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(certs, x) == 0) {
			X509_free(x);
			break;
		}
	fclose(f);
	if (sk_X509_num(certs) == 0) {
		check_openssl_error("no PEM certificate in the file", why, len);
		sk_X509_free(certs);
		return NULL;
	}
	ERR_clear_error();   /* the PEM reader's end of file */
	return certs;
}

bool
check_server_purpose(X509 *cert, char *why, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} usages[] = {
		{ XKU_SSL_SERVER, "serverAuth" }, { XKU_SSL_CLIENT, "clientAuth" },
		{ XKU_SMIME, "emailProtection" }, { XKU_CODE_SIGN, "codeSigning" },
		{ XKU_OCSP_SIGN, "OCSPSigning" }, { XKU_TIMESTAMP, "timeStamping" },
		{ XKU_DVCS, "DVCS" }, { XKU_ANYEKU, "anyExtendedKeyUsage" },
	};
	char subject[256], has[160];
	size_t n = 0;

	if (X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) == 1)
		return true;
	ERR_clear_error();
	X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER)) {
		uint32_t xku = X509_get_extended_key_usage(cert);

		has[0] = '\0';
		for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
			if ((xku & usages[i].bit) && n < sizeof(has))
				n += (size_t)snprintf(has + n, sizeof(has) - n, "%s%s", n ? ", " : "",
					usages[i].name);
		snprintf(why, len, "certificate %s cannot authenticate a TLS server: extendedKeyUsage "
			"is %s, expected one with serverAuth; clients refuse it (\"unsuitable certificate "
			"purpose\")", subject, n > 0 ? has : "none OpenSSL knows");
	} else
		snprintf(why, len, "certificate %s cannot authenticate a TLS server: its keyUsage "
			"(expected digitalSignature or keyEncipherment) or nsCertType (expected SSL "
			"server) does not allow it; clients refuse it (\"unsuitable certificate "
			"purpose\")", subject);
	return false;
}

/* The server certificate (the chain's first): usable by a TLS server, and a warning when it
 * has no subjectAltName (clients that ignore the subject's CN cannot match the host). */
static void
check_server_certificate(const struct config *cfg, X509 *leaf, struct check_report *r)
{
	char why[640], subject[256];

	if (!check_server_purpose(leaf, why, sizeof(why))) {
		check_say(r, CHECK_FAIL, cfg, "tls", "certificate", "%s: %s; issue it with "
			"extendedKeyUsage serverAuth", cfg->tls_certificate, why);
		return;
	}
	if (X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1) < 0) {
		X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
		check_say(r, CHECK_WARN, cfg, "tls", "certificate", "%s: certificate %s has no "
			"subjectAltName: clients that match the host name against it alone (browsers, "
			"Python's ssl) will refuse it; issue it with subjectAltName DNS:host or IP:address",
			cfg->tls_certificate, subject);
	}
}

static void
check_certificates_valid(const struct config *cfg, const char *option, STACK_OF(X509) *certs,
		time_t now, struct check_report *r)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		check_validity(cfg, "tls", option, sk_X509_value(certs, i), now, r);
}

static void
check_private_key(const struct config *cfg, const struct passwd *pw, X509 *leaf,
		struct check_report *r)
{
	char why[256];
	EVP_PKEY *key;
	FILE *f;

	if (!check_readable(cfg, pw, "tls", "private_key", cfg->tls_private_key, r))
		return;
	if ((f = fopen(cfg->tls_private_key, "r")) == NULL) {
		check_say(r, CHECK_FAIL, cfg, "tls", "private_key", "%s: %s", cfg->tls_private_key,
			strerror(errno));
		return;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		check_say(r, CHECK_FAIL, cfg, "tls", "private_key", "%s: cannot load a private key: %s",
			cfg->tls_private_key, check_openssl_error("no PEM key", why, sizeof(why)));
		return;
	}
	if (leaf != NULL && X509_check_private_key(leaf, key) != 1)
		check_say(r, CHECK_FAIL, cfg, "tls", "private_key", "%s does not match the certificate "
			"%s", cfg->tls_private_key, cfg->tls_certificate);
	ERR_clear_error();
	EVP_PKEY_free(key);
}

/* The CA certificate that issued and signed crl, or NULL. */
static X509 *
check_crl_issuer(STACK_OF(X509) *cas, X509_CRL *crl)
{
	for (int i = 0; cas != NULL && i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return ca;
	}
	ERR_clear_error();
	return NULL;
}

static void
check_crl(const struct config *cfg, const struct passwd *pw, STACK_OF(X509) *cas, time_t now,
		struct check_report *r)
{
	const char *path = cfg->tls_crl;
	char why[256], issuer[256];
	X509_CRL *crl;
	int loaded = 0;
	FILE *f;

	if (path[0] == '\0' || !check_readable(cfg, pw, "tls", "crl", path, r))
		return;
	if ((f = fopen(path, "r")) == NULL) {
		check_say(r, CHECK_FAIL, cfg, "tls", "crl", "%s: %s", path, strerror(errno));
		return;
	}
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

		loaded++;
		X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
		if (cas != NULL && check_crl_issuer(cas, crl) == NULL)
			check_say(r, CHECK_FAIL, cfg, "tls", "crl", "%s: CRL issued by %s, which is not (or "
				"did not sign it as) the configured CA %s", path, issuer, cfg->tls_ca);
		if (!check_crl_current(crl, now, why, sizeof(why)))
			check_say(r, CHECK_FAIL, cfg, "tls", "crl", "%s: %s; publish a current CRL "
				"(openssl ca -gencrl)", path, why);
		else if (next != NULL && ASN1_TIME_cmp_time_t(next, now + CHECK_CRL_WARN_S) <= 0)
			check_say(r, CHECK_WARN, cfg, "tls", "crl", "%s: %s: it expires in less than %d "
				"days", path, why, CHECK_CRL_WARN_S / 86400);
		X509_CRL_free(crl);
	}
	fclose(f);
	if (loaded == 0)
		check_say(r, CHECK_FAIL, cfg, "tls", "crl", "%s: cannot load certificate revocation "
			"list: %s", path, check_openssl_error("no PEM CRL in the file", why, sizeof(why)));
	ERR_clear_error();
}

/* A CHECK_OK for [section] option when nothing was said since r held `before` problems. */
static void
check_ok_since(struct check_report *r, unsigned before, const struct config *cfg,
		const char *section, const char *option, const char *detail)
{
	if (r->warnings + r->failures == before)
		check_say(r, CHECK_OK, cfg, section, option, "%s", detail);
}

static void
check_tls(const struct config *cfg, const struct passwd *pw, time_t now, struct check_report *r)
{
	STACK_OF(X509) *chain = NULL, *cas = NULL;
	unsigned before = r->warnings + r->failures;
	char why[256];

	if (check_readable(cfg, pw, "tls", "certificate", cfg->tls_certificate, r)) {
		if ((chain = check_load_certificates(cfg->tls_certificate, why, sizeof(why))) == NULL)
			check_say(r, CHECK_FAIL, cfg, "tls", "certificate", "%s: cannot load a "
				"certificate: %s", cfg->tls_certificate, why);
		else {
			check_certificates_valid(cfg, "certificate", chain, now, r);
			check_server_certificate(cfg, sk_X509_value(chain, 0), r);
		}
	}
	check_ok_since(r, before, cfg, "tls", "certificate", cfg->tls_certificate);
	before = r->warnings + r->failures;
	check_private_key(cfg, pw, chain != NULL ? sk_X509_value(chain, 0) : NULL, r);
	check_ok_since(r, before, cfg, "tls", "private_key", cfg->tls_private_key);
	before = r->warnings + r->failures;
	if (check_readable(cfg, pw, "tls", "ca", cfg->tls_ca, r)) {
		if ((cas = check_load_certificates(cfg->tls_ca, why, sizeof(why))) == NULL)
			check_say(r, CHECK_FAIL, cfg, "tls", "ca", "%s: cannot load a CA certificate: %s",
				cfg->tls_ca, why);
		else
			check_certificates_valid(cfg, "ca", cas, now, r);
	}
	check_ok_since(r, before, cfg, "tls", "ca", cfg->tls_ca);
	before = r->warnings + r->failures;
	check_crl(cfg, pw, cas, now, r);
	check_ok_since(r, before, cfg, "tls", "crl", cfg->tls_crl[0] ? cfg->tls_crl : "none configured");
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
}

static bool
check_ip_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool
check_conninfo(const char *conninfo, char *why, size_t len)
{
	char *error = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &error);
	bool ok = true;

	if (opts == NULL) {
		snprintf(why, len, "not a libpq connection string: %s",
			error != NULL ? strtok(error, "\n") : "out of memory");
		PQfreemem(error);
		return false;
	}
	for (PQconninfoOption *o = opts; ok && o->keyword != NULL; o++) {
		const char *p;

		if (strcmp(o->keyword, "host") != 0 || o->val == NULL)
			continue;
		/* a comma-separated list: each must be a directory or an address */
		for (p = o->val; ok && *p != '\0';) {
			size_t n = strcspn(p, ",");
			char host[256];

			snprintf(host, sizeof(host), "%.*s", (int)(n < sizeof(host) ? n : sizeof(host) - 1), p);
			if (host[0] != '\0' && host[0] != '/' && !check_ip_address(host)) {
				snprintf(why, len, "host=%s is a DNS host name: libpq would resolve it with a "
					"blocking call in esupd's event loop; give an IP address (hostaddr or "
					"host) or a socket directory (an absolute path)", host);
				ok = false;
			}
			p += n;
			p += *p == ',';
		}
	}
	PQconninfoFree(opts);
	return ok;
}

static void
check_database(const struct config *cfg, struct check_report *r)
{
	char why[512];

	if (!check_conninfo(cfg->db_conninfo, why, sizeof(why)))
		check_say(r, CHECK_FAIL, cfg, "database", "conninfo", "%s", why);
	else
		check_say(r, CHECK_OK, cfg, "database", "conninfo", "no DNS host name");
	if (strcmp(cfg->db_owner_conninfo, cfg->db_conninfo) == 0)
		return;
	if (!check_conninfo(cfg->db_owner_conninfo, why, sizeof(why)))
		check_say(r, CHECK_FAIL, cfg, "database", "owner_conninfo", "%s", why);
	else
		check_say(r, CHECK_OK, cfg, "database", "owner_conninfo", "no DNS host name");
}

/* Whether a socket bound to address a (a host name is resolved) would take port from one
 * bound to b: the same address, or either one the wildcard of its family (:: takes IPv4 too,
 * as Linux binds it dual-stack). */
static bool
check_addresses_overlap(const char *a, const char *b)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *la, *lb;
	bool overlap = false;

	if (getaddrinfo(a[0] ? a : NULL, "1", &hints, &la) != 0)
		return strcmp(a, b) == 0;
	if (getaddrinfo(b[0] ? b : NULL, "1", &hints, &lb) != 0) {
		freeaddrinfo(la);
		return strcmp(a, b) == 0;
	}
	for (const struct addrinfo *x = la; !overlap && x != NULL; x = x->ai_next)
		for (const struct addrinfo *y = lb; !overlap && y != NULL; y = y->ai_next) {
			const struct addrinfo *p[2] = { x, y };

			for (int i = 0; i < 2 && !overlap; i++) {
				const struct addrinfo *u = p[i], *v = p[1 - i];

				if (u->ai_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
						&((const struct sockaddr_in6 *)(const void *)u->ai_addr)->sin6_addr))
					overlap = true;
				else if (u->ai_family == AF_INET && v->ai_family == AF_INET &&
				    ((const struct sockaddr_in *)(const void *)u->ai_addr)->sin_addr.s_addr ==
				    htonl(INADDR_ANY))
					overlap = true;
			}
			if (!overlap && x->ai_family == y->ai_family && x->ai_addrlen == y->ai_addrlen)
				overlap = memcmp(x->ai_addr, y->ai_addr, x->ai_addrlen) == 0;
		}
	freeaddrinfo(la);
	freeaddrinfo(lb);
	return overlap;
}

/* [metrics] listen: not where [server] listen is (the second bind would fail at start). */
static void
check_listeners(const struct config *cfg, struct check_report *r)
{
	if (cfg->metrics_port == 0)
		return;
	if (cfg->metrics_port == cfg->listen_port &&
	    check_addresses_overlap(cfg->listen_address, cfg->metrics_address))
		check_say(r, CHECK_FAIL, cfg, "metrics", "listen", "%s is also where [server] listen "
			"(%s:%u, line %u) listens: esupd would fail to bind one of them at start; give "
			"/metrics a port of its own", cfg->metrics_listen, cfg->listen_address,
			cfg->listen_port, config_line(cfg, "server", "listen"));
	else
		check_say(r, CHECK_OK, cfg, "metrics", "listen", "%s, apart from [server] listen",
			cfg->metrics_listen);
}

/* [server] user: required when running as root, and it must exist. Returns its entry (static
 * storage of getpwnam) or NULL. */
static const struct passwd *
check_user(const struct config *cfg, struct check_report *r)
{
	struct passwd *pw;

	if (cfg->user[0] == '\0') {
		if (geteuid() == 0)
			check_say(r, CHECK_FAIL, cfg, "server", "user", "empty while running as root: esupd "
				"refuses to run as root; name the unprivileged user it drops to");
		else
			check_say(r, CHECK_OK, cfg, "server", "user", "empty: esupd runs as the user that "
				"starts it");
		return NULL;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		check_say(r, CHECK_FAIL, cfg, "server", "user", "no such user \"%s\"%s%s", cfg->user,
			errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return NULL;
	}
	if (pw->pw_uid == 0)
		check_say(r, CHECK_FAIL, cfg, "server", "user", "\"%s\" is root: name an unprivileged "
			"user", cfg->user);
	else
		check_say(r, CHECK_OK, cfg, "server", "user", "%s exists", cfg->user);
	return pw;
}

bool
check_config(const struct config *cfg, time_t now, struct check_report *r)
{
	unsigned failures = r->failures;
	const struct passwd *found = check_user(cfg, r);
	struct passwd pw;
	char *name = NULL;

	/* getpwnam's storage is overwritten by the next lookup (initgroups): keep a copy */
	if (found != NULL) {
		pw = *found;
		if ((name = strdup(found->pw_name)) == NULL) {
			check_say(r, CHECK_FAIL, cfg, NULL, "memory", "out of memory");
			return false;
		}
		pw.pw_name = name;
	}
	check_tls(cfg, found != NULL && geteuid() == 0 ? &pw : NULL, now, r);
	check_database(cfg, r);
	check_listeners(cfg, r);
	free(name);
	return r->failures == failures;
}
