/* check.h: the configuration checks of `esupd -n` and `esupctl doctor` (one module, linked
 * into both). Each check reports through a callback, synchronously, before the check function
 * returns; nothing is kept after it. The checks only read: files, the user database, OpenSSL
 * objects they load and free. */
#ifndef ESUP_CHECK_H
#define ESUP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "config.h"

/* Warn this long before the certificate or CA expires, and before the CRL's nextUpdate. */
#define CHECK_CERT_WARN_S (14 * 86400)
#define CHECK_CRL_WARN_S (3 * 86400)

enum check_level { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/* One check's outcome. where is "FILE:LINE" of the option checked ("FILE" when the option was
 * not set in the file and its default is checked; "" for checks of no option); name is
 * "section.option" or, for checks of no option, a short name. */
typedef void check_emit(void *arg, enum check_level level, const char *where, const char *name,
		const char *message);

struct check_report {
	check_emit *emit;
	void *arg;
	unsigned oks, warnings, failures;   /* counted by check_say */
};

/* Reports one outcome through r->emit and counts it. */
void check_say(struct check_report *r, enum check_level level, const struct config *cfg,
		const char *section, const char *option, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Every check of `esupd -n`, with one CHECK_OK for each option that passed: [server] user; [tls] certificate, private_key, ca, crl (readable
 * by the daemon user, load, the key matches, expiry, the certificate's purpose (TLS server;
 * a warning without subjectAltName), the CRL's issuer and nextUpdate);
 * [database] conninfo and owner_conninfo (no DNS host name); [metrics] listen (not where
 * [server] listen is). now is the time the expiry is
 * judged at. Returns false when any failed (warnings alone: true). */
bool check_config(const struct config *cfg, time_t now, struct check_report *r);

/* Whether a libpq connection string names no host to resolve: every host is a socket
 * directory (absolute path) or an IP address; hostaddr is allowed. On false why says which
 * host, or what PQconninfoParse said. */
bool check_conninfo(const char *conninfo, char *why, size_t len);

/* Whether one CRL is inside its validity window at now (lastUpdate passed, nextUpdate not
 * yet); why receives one line with its dates either way. Shared with tls.c. */
bool check_crl_current(const X509_CRL *crl, time_t now, char *why, size_t len);

/* Whether cert may authenticate a TLS server (X509_check_purpose, X509_PURPOSE_SSL_SERVER:
 * an extendedKeyUsage, when present, with serverAuth; a keyUsage and nsCertType that allow
 * it). On false why says what the certificate has instead: clients refuse such a server
 * certificate ("unsuitable certificate purpose"). Shared with tls.c. */
bool check_server_purpose(X509 *cert, char *why, size_t len);

/* The daemon user the checks judge file access for: [server] user when running as root,
 * else the current user. */
const char *check_daemon_user(const struct config *cfg);

#endif
