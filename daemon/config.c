/* config.c: the option table, the ini parser callback and validation. Every option has
 * one row: section, name, type, default, bounds, and whether a reload may change it. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <ini.h>

enum opt_type { OPT_STRING, OPT_UINT, OPT_SIZE, OPT_LLONG, OPT_LEVEL, OPT_FACILITY, OPT_TARGET,
	OPT_LISTEN, OPT_WORK_HOURS, OPT_CENTS, OPT_LOOPBACK };

struct option {
	const char *section;
	const char *name;
	enum opt_type type;
	size_t offset;
	const char *fallback;
	long long min, max;     /* OPT_CENTS: in hundredths */
	bool fixed;             /* a reload cannot change it */
};

/* An option of a named section, with what its value must be beyond its type. */
struct section_option {
	struct option o;
	bool (*check)(const char *value, char *error, size_t size);   /* NULL: the type says all */
};

static bool set_string(char **slot, const char *value);
static bool check_receiver_url(const char *value, char *error, size_t size);
static bool check_receiver_scope(const char *value, char *error, size_t size);
static bool check_receiver_severity(const char *value, char *error, size_t size);
static bool check_receiver_actions(const char *value, char *error, size_t size);
static bool check_receiver_region(const char *value, char *error, size_t size);

#define O(field) offsetof(struct config, field)
static const struct option options[] = {
	{ "server", "listen", OPT_LISTEN, O(listen_address), "127.0.0.1:8443", 0, 0, true },
	{ "server", "user", OPT_STRING, O(user), "", 0, 0, true },
	{ "server", "pidfile", OPT_STRING, O(pidfile), "", 0, 0, true },
	{ "tls", "certificate", OPT_STRING, O(tls_certificate), "/etc/esup/server.crt", 0, 0, false },
	{ "tls", "private_key", OPT_STRING, O(tls_private_key), "/etc/esup/server.key", 0, 0, false },
	{ "tls", "ca", OPT_STRING, O(tls_ca), "/etc/esup/ca.crt", 0, 0, false },
	{ "tls", "crl", OPT_STRING, O(tls_crl), "", 0, 0, false },
	{ "tls", "ciphers", OPT_STRING, O(tls_ciphers),
	  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305", 0, 0, false },
	{ "tls", "ciphersuites", OPT_STRING, O(tls_ciphersuites),
	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", 0, 0, false },
	{ "database", "conninfo", OPT_STRING, O(db_conninfo),
	  "host=/var/run/postgresql dbname=esup user=esupd", 0, 0, true },
	{ "database", "owner_conninfo", OPT_STRING, O(db_owner_conninfo), "", 0, 0, false },
	{ "database", "reconnect_min_ms", OPT_UINT, O(db_reconnect_min_ms), "100", 1, 600000, false },
	{ "database", "reconnect_max_ms", OPT_UINT, O(db_reconnect_max_ms), "5000", 1, 600000, false },
	{ "limits", "max_body_bytes", OPT_SIZE, O(max_body_bytes), "8388608", 64, 1LL << 30, false },
	{ "limits", "max_line_bytes", OPT_SIZE, O(max_line_bytes), "65536", 64, 1LL << 26, false },
	{ "limits", "max_json_depth", OPT_SIZE, O(max_json_depth), "16", 2, 1000, false },
	{ "limits", "max_events_per_request", OPT_SIZE, O(max_events_per_request), "5000", 1, 1000000, false },
	{ "limits", "max_header_bytes", OPT_SIZE, O(max_header_bytes), "16384", 512, 1 << 20, false },
	{ "limits", "max_connections_per_principal", OPT_UINT, O(max_connections_per_principal), "64", 1, 100000, false },
	{ "limits", "idle_timeout_s", OPT_UINT, O(idle_timeout_s), "60", 1, 86400, false },
	{ "limits", "handshake_timeout_s", OPT_UINT, O(handshake_timeout_s), "10", 1, 600, false },
	{ "limits", "max_connections", OPT_UINT, O(max_connections), "0", 0, 1000000, false },
	{ "limits", "max_unauthenticated_connections", OPT_UINT, O(max_unauthenticated_connections), "1024", 1, 1000000, false },
	{ "limits", "header_timeout_s", OPT_UINT, O(header_timeout_s), "10", 1, 600, false },
	{ "limits", "body_timeout_s", OPT_UINT, O(body_timeout_s), "10", 1, 3600, false },
	{ "limits", "body_min_rate_bytes_s", OPT_UINT, O(body_min_rate_bytes_s), "4096", 1, 1 << 30, false },
	{ "ingest", "batch_max_events", OPT_SIZE, O(batch_max_events), "1000", 1, 100000, false },
	{ "ingest", "batch_max_delay_ms", OPT_UINT, O(batch_max_delay_ms), "0", 0, 10000, false },
	{ "ingest", "queue_max_events", OPT_SIZE, O(queue_max_events), "50000", 1, 100000000, false },
	{ "ingest", "retry_after_s", OPT_UINT, O(retry_after_s), "2", 1, 3600, false },
	{ "ingest", "writers", OPT_UINT, O(writers), "2", 1, 8, true },
	{ "sweeper", "interval_ms", OPT_UINT, O(sweep_interval_ms), "1000", 10, 3600000, false },
	{ "sweeper", "batch", OPT_SIZE, O(sweep_batch), "100", 1, 100000, false },
	{ "sweeper", "rederive_batch", OPT_SIZE, O(sweep_mark_batch), "1000", 1, 1000000, false },
	{ "alerts", "stream_heartbeat_s", OPT_UINT, O(stream_heartbeat_s), "15", 1, 3600, false },
	{ "alerts", "stream_max_buffer_bytes", OPT_SIZE, O(stream_max_buffer_bytes), "1048576", 4096, 1LL << 30, false },
	{ "jobs", "interval_ms", OPT_UINT, O(jobs_interval_ms), "1000", 10, 3600000, false },
	{ "jobs", "batch", OPT_SIZE, O(jobs_batch), "100", 1, 10000, false },
	{ "escalation", "ack_hours_notice", OPT_UINT, O(ack_hours[MON_SEVERITY_NOTICE]), "16", 0, 10000, false },
	{ "escalation", "ack_hours_yellow", OPT_UINT, O(ack_hours[MON_SEVERITY_YELLOW]), "8", 0, 10000, false },
	{ "escalation", "ack_hours_red", OPT_UINT, O(ack_hours[MON_SEVERITY_RED]), "4", 0, 10000, false },
	{ "escalation", "resolve_days_notice", OPT_UINT, O(resolve_days[MON_SEVERITY_NOTICE]), "10", 0, 1000, false },
	{ "escalation", "resolve_days_yellow", OPT_UINT, O(resolve_days[MON_SEVERITY_YELLOW]), "5", 0, 1000, false },
	{ "escalation", "resolve_days_red", OPT_UINT, O(resolve_days[MON_SEVERITY_RED]), "3", 0, 1000, false },
	{ "escalation", "work_hours", OPT_WORK_HOURS, O(work_start_s), "09:00-17:00", 0, 0, false },
	{ "statistics", "interval_s", OPT_UINT, O(stat_interval_s), "3600", 1, 604800, false },
	{ "scores", "on_time", OPT_CENTS, O(score_on_time), "60", 0, 100000, false },
	{ "scores", "satisfaction", OPT_CENTS, O(score_satisfaction), "20", 0, 100000, false },
	{ "scores", "complaints", OPT_CENTS, O(score_complaints), "20", 0, 100000, false },
	{ "scores", "red", OPT_CENTS, O(score_red), "5", 0, 10000, false },
	{ "scores", "yellow", OPT_CENTS, O(score_yellow), "2", 0, 10000, false },
	{ "scores", "notice", OPT_CENTS, O(score_notice), "0.5", 0, 10000, false },
	{ "scores", "bottom_count", OPT_UINT, O(score_bottom_count), "1", 0, 1000, false },
	{ "rules", "disable", OPT_STRING, O(rules_disable), "", 0, 0, false },
	{ "log", "level", OPT_LEVEL, O(log_level), "info", 0, 0, false },
	{ "log", "facility", OPT_FACILITY, O(log_facility), "daemon", 0, 0, true },
	{ "log", "target", OPT_TARGET, O(log_target), "auto", 0, 0, true },
	{ "metrics", "listen", OPT_LOOPBACK, O(metrics_listen), "", 0, 0, true },
	{ "delivery", "poll_ms", OPT_UINT, O(delivery_poll_ms), "1000", 10, 3600000, false },
	{ "testing", "clock_offset_s", OPT_LLONG, O(clock_offset_s), "0", -(1LL << 40), 1LL << 40, false },
};
#undef O
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Named sections: [receiver.NAME], one per webhook receiver (daemon/delivery.h). The section
 * column is the prefix; offsets are into struct config_receiver. */
#define RECEIVER_PREFIX "receiver."
#define R(field) offsetof(struct config_receiver, field)
static const struct section_option receiver_options[] = {
	{ { "receiver", "url", OPT_STRING, R(url), "", 0, 0, false }, check_receiver_url },
	{ { "receiver", "region", OPT_STRING, R(region), "", 0, 0, false }, check_receiver_region },
	{ { "receiver", "scope", OPT_STRING, R(scope), "subtree", 0, 0, false }, check_receiver_scope },
	{ { "receiver", "min_severity", OPT_STRING, R(min_severity), "notice", 0, 0, false },
	  check_receiver_severity },
	{ { "receiver", "actions", OPT_STRING, R(actions), CONFIG_RECEIVER_ACTIONS, 0, 0, false },
	  check_receiver_actions },
	{ { "receiver", "timeout_s", OPT_UINT, R(timeout_s), "10", 1, 3600, false }, NULL },
	{ { "receiver", "backoff_min_ms", OPT_UINT, R(backoff_min_ms), "1000", 10, 3600000, false }, NULL },
	{ { "receiver", "backoff_max_ms", OPT_UINT, R(backoff_max_ms), "300000", 10, 86400000, false }, NULL },
	{ { "receiver", "batch", OPT_SIZE, R(batch), "100", 1, 1000, false }, NULL },
};
#undef R
#define N_RECEIVER_OPTIONS (sizeof(receiver_options) / sizeof(receiver_options[0]))
_Static_assert(N_RECEIVER_OPTIONS == CONFIG_RECEIVER_OPTIONS,
	"CONFIG_RECEIVER_OPTIONS counts the rows of receiver_options");

const char *const config_action_names[CONFIG_ACTION_COUNT] = {
	"raise", "held", "ack", "appeal", "reject", "revoke", "resolve", "dismiss", "confirm",
	"cancel", "escalate", "suppress", "issue", "supersede", "correct",
};

int
config_severity_rank(const char *severity)
{
	static const char *const ranks[] = { "notice", "yellow", "red" };

	for (int i = 0; i < 3; i++)
		if (strcmp(severity, ranks[i]) == 0)
			return i;
	return -1;
}

/* http://HOST[:PORT][/PATH][?QUERY] or https://...; no user, no fragment. Fills the derived
 * fields of r when it is given. */
static bool
receiver_url_parse(const char *value, struct config_receiver *r)
{
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(value, 0);
	const char *scheme, *host, *path, *query;
	char buf[4096];
	bool ok;

	if (u == NULL)
		return false;
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	ok = scheme && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
		host && host[0] != '\0' && evhttp_uri_get_userinfo(u) == NULL &&
		evhttp_uri_get_fragment(u) == NULL && evhttp_uri_get_port(u) != 0;
	if (ok && r != NULL) {
		int port = evhttp_uri_get_port(u);

		r->https = strcmp(scheme, "https") == 0;
		r->port = port > 0 ? (unsigned)port : r->https ? 443 : 80;
		snprintf(buf, sizeof(buf), "%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
			query ? query : "");
		ok = set_string(&r->host, host) && set_string(&r->path, buf);
	}
	evhttp_uri_free(u);
	return ok;
}

static bool
check_receiver_url(const char *value, char *error, size_t size)
{
	if (strlen(value) < 2048 && receiver_url_parse(value, NULL))
		return true;
	snprintf(error, size, "url: expected http://HOST[:PORT]/PATH or https://..., got \"%.200s\"",
		value);
	return false;
}

static bool
check_receiver_region(const char *value, char *error, size_t size)
{
	size_t len = strlen(value);

	if (len == 0 || (len == 6 && strspn(value, "0123456789") == 6))
		return true;
	snprintf(error, size, "region: expected a six-digit region code or nothing, got \"%.40s\"",
		value);
	return false;
}

static bool
check_receiver_scope(const char *value, char *error, size_t size)
{
	if (strcmp(value, "region") == 0 || strcmp(value, "subtree") == 0)
		return true;
	snprintf(error, size, "scope: expected region or subtree, got \"%.40s\"", value);
	return false;
}

static bool
check_receiver_severity(const char *value, char *error, size_t size)
{
	if (config_severity_rank(value) >= 0)
		return true;
	snprintf(error, size, "min_severity: expected notice, yellow or red, got \"%.40s\"", value);
	return false;
}

/* Parses a comma-separated list of action kinds ("all" for every one) into a mask. */
static bool
receiver_actions_parse(const char *value, unsigned *mask, char *error, size_t size)
{
	const char *p = value + strspn(value, ", \t");

	*mask = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ", \t");
		int found = -1;

		for (int i = 0; i < CONFIG_ACTION_COUNT; i++)
			if (strlen(config_action_names[i]) == len && strncmp(p, config_action_names[i], len) == 0)
				found = i;
		if (len == 3 && strncmp(p, "all", 3) == 0)
			*mask |= (1u << CONFIG_ACTION_COUNT) - 1;
		else if (found >= 0)
			*mask |= 1u << found;
		else {
			snprintf(error, size, "actions: unknown action kind \"%.*s\" (expected %s, or all)",
				(int)(len > 40 ? 40 : len), p, "raise, held, ack, appeal, reject, revoke, "
				"resolve, dismiss, confirm, cancel, escalate, suppress, issue, supersede, correct");
			return false;
		}
		p += len;
		p += strspn(p, ", \t");
	}
	if (*mask != 0)
		return true;
	snprintf(error, size, "actions: expected at least one action kind");
	return false;
}

static bool
check_receiver_actions(const char *value, char *error, size_t size)
{
	unsigned mask;

	return receiver_actions_parse(value, &mask, error, size);
}

struct parse_state {
	struct config *cfg;
	FILE *file;
	unsigned line;            /* of the line inih read last */
	char error[512];
};

/* inih's reader, counting lines: inih calls the handler for a line right after reading it,
 * so st->line is then that line's number (a line longer than inih's buffer counts as inih
 * counts it). */
static char *
config_read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	char *s = fgets(str, num, st->file);

	if (s != NULL)
		st->line++;
	return s;
}

static bool
parse_integer(const char *value, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
set_string(char **slot, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return false;
	free(*slot);
	*slot = copy;
	return true;
}

static bool
set_listen(struct config *cfg, const char *value, char *error, size_t size)
{
	const char *colon = strrchr(value, ':');
	long long port;

	if (colon == NULL || colon == value || !parse_integer(colon + 1, 1, 65535, &port)) {
		snprintf(error, size, "listen: expected ADDRESS:PORT, got \"%s\"", value);
		return false;
	}
	char *addr = strndup(value, (size_t)(colon - value));
	if (addr == NULL)
		return false;
	free(cfg->listen_address);
	cfg->listen_address = addr;
	cfg->listen_port = (unsigned)port;
	return true;
}

/* [metrics] listen: "" (none), or a loopback ADDRESS:PORT: 127.0.0.0/8 or ::1 (written ::1 or
 * [::1]), never a name. Sets metrics_listen as written and the derived address and port. */
static bool
set_loopback(struct config *cfg, const char *written, char *error, size_t size)
{
	const char *value = written;
	const char *colon = strrchr(value, ':');
	struct in_addr a4;
	struct in6_addr a6;
	long long port = 0;
	char addr[INET6_ADDRSTRLEN + 2];
	size_t len = colon ? (size_t)(colon - value) : 0;
	bool loopback = false;

	if (value[0] == '\0') {
		cfg->metrics_port = 0;
		return set_string(&cfg->metrics_listen, "") && set_string(&cfg->metrics_address, "");
	}
	if (len >= 2 && value[0] == '[' && value[len - 1] == ']') {
		value++;
		len -= 2;
	}
	if (colon != NULL && len > 0 && len < sizeof(addr) &&
	    parse_integer(colon + 1, 1, 65535, &port)) {
		memcpy(addr, value, len);
		addr[len] = '\0';
		if (inet_pton(AF_INET, addr, &a4) == 1)
			loopback = (ntohl(a4.s_addr) >> 24) == 127;
		else if (inet_pton(AF_INET6, addr, &a6) == 1)
			loopback = IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (!loopback) {
		snprintf(error, size, "listen: expected a loopback ADDRESS:PORT (127.0.0.0/8 or "
			"[::1], no host name) or nothing, got \"%.200s\"", written);
		return false;
	}
	cfg->metrics_port = (unsigned)port;
	return set_string(&cfg->metrics_listen, written) &&
		set_string(&cfg->metrics_address, addr);
}

/* A decimal with at most two places ("60", "0.5", "2.25") into hundredths, within
 * [min, max] hundredths. */
static bool
parse_cents(const char *value, long long min, long long max, unsigned *out)
{
	size_t whole = strspn(value, "0123456789"), frac = 0;
	long long v = 0;

	if (whole == 0 || whole > 9)
		return false;
	if (value[whole] == '.') {
		frac = strspn(value + whole + 1, "0123456789");
		if (frac == 0 || frac > 2 || value[whole + 1 + frac] != '\0')
			return false;
	} else if (value[whole] != '\0')
		return false;
	for (size_t i = 0; i < whole; i++)
		v = v * 10 + (value[i] - '0');
	v *= 100;
	if (frac >= 1)
		v += (value[whole + 1] - '0') * 10;
	if (frac == 2)
		v += value[whole + 2] - '0';
	if (v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* "HH:MM" into seconds after midnight; 24:00 is the day's end. */
static bool
parse_clock(const char *s, size_t len, int *out)
{
	if (len != 5 || s[2] != ':')
		return false;
	for (size_t i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return false;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return false;
	*out = h * 3600 + m * 60;
	return true;
}

/* "09:00-17:00" into cfg->work_start_s and work_end_s (Asia/Shanghai, start before end). */
static bool
set_work_hours(struct config *cfg, const char *value, char *error, size_t size)
{
	const char *dash = strchr(value, '-');
	int start, end;

	if (dash == NULL || !parse_clock(value, (size_t)(dash - value), &start) ||
	    !parse_clock(dash + 1, strlen(dash + 1), &end) || !mon_work_hours_valid(start, end)) {
		snprintf(error, size, "work_hours: expected HH:MM-HH:MM with the start before the end,"
			" got \"%s\"", value);
		return false;
	}
	cfg->work_start_s = start;
	cfg->work_end_s = end;
	return true;
}

/* Sets one option in base (the config, or one of its named sections); cfg is the config. */
static bool
option_set(struct config *cfg, void *base, const struct option *opt, const char *value,
		char *error, size_t size)
{
	void *slot = (char *)base + opt->offset;
	long long n;

	switch (opt->type) {
	case OPT_STRING:
		return set_string(slot, value);
	case OPT_LISTEN:
		return set_listen(cfg, value, error, size);
	case OPT_LOOPBACK:
		return set_loopback(cfg, value, error, size);
	case OPT_WORK_HOURS:
		return set_work_hours(cfg, value, error, size);
	case OPT_CENTS:
		if (parse_cents(value, opt->min, opt->max, slot))
			return true;
		snprintf(error, size, "%s: expected a number from %lld to %lld.%02lld with at most two"
			" decimals, got \"%s\"", opt->name, opt->min / 100, opt->max / 100, opt->max % 100,
			value);
		return false;
	case OPT_LEVEL:
		if (log_level_from_name(value, slot))
			return true;
		snprintf(error, size, "%s: expected error, warning, info or debug, got \"%s\"", opt->name, value);
		return false;
	case OPT_FACILITY:
		if (log_facility_valid(value))
			return set_string(slot, value);
		snprintf(error, size, "%s: expected daemon, user or local0..local7, got \"%s\"", opt->name, value);
		return false;
	case OPT_TARGET: {
		const char *why;

		if (log_target_from_name(value, slot, &why))
			return true;
		snprintf(error, size, "%s: %s, got \"%s\"", opt->name, why, value);
		return false;
	}
	case OPT_UINT:
	case OPT_SIZE:
	case OPT_LLONG:
		if (!parse_integer(value, opt->min, opt->max, &n)) {
			snprintf(error, size, "%s: expected an integer from %lld to %lld, got \"%s\"",
				opt->name, opt->min, opt->max, value);
			return false;
		}
		if (opt->type == OPT_UINT)
			*(unsigned *)slot = (unsigned)n;
		else if (opt->type == OPT_SIZE)
			*(size_t *)slot = (size_t)n;
		else
			*(long long *)slot = n;
		return true;
	}
	return false;
}

/* Tries the [rules] so far on a scratch ruleset, so a bad name or value is reported with
 * the line that holds it. */
static bool
config_check_rules(const struct config *cfg, char *error, size_t size)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;
	bool ok;

	if (rs == NULL) {
		snprintf(error, size, "out of memory");
		return false;
	}
	ok = config_apply_rules(cfg, rs, &err);
	if (!ok)
		snprintf(error, size, "[rules] %s: expected %s, got %s", err.field, err.expected, err.got);
	mon_ruleset_destroy(rs);
	return ok;
}

static bool
config_add_rule_param(struct config *cfg, const char *name, const char *value, char *error, size_t size)
{
	long long n;
	struct config_rule_param *grown;

	if (!parse_integer(value, -(1LL << 40), 1LL << 40, &n)) {
		snprintf(error, size, "%s: expected an integer, got \"%s\"", name, value);
		return false;
	}
	grown = realloc(cfg->rule_params, (cfg->rule_params_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return false;
	cfg->rule_params = grown;
	grown[cfg->rule_params_count].name = strdup(name);
	grown[cfg->rule_params_count].value = n;
	if (grown[cfg->rule_params_count].name == NULL)
		return false;
	cfg->rule_params_count++;
	return true;
}

static bool
receiver_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= 63 && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789_-") == len;
}

/* The receiver a [receiver.NAME] section describes, made with its defaults on its first line;
 * a section of the same name later in the file continues it. */
static struct config_receiver *
config_receiver_get(struct config *cfg, const char *name, char *error, size_t size)
{
	struct config_receiver *grown, *r;

	for (size_t i = 0; i < cfg->receivers_count; i++)
		if (strcmp(cfg->receivers[i].name, name) == 0)
			return &cfg->receivers[i];
	if (!receiver_name_valid(name)) {
		snprintf(error, size, "[receiver.%.80s]: a receiver name is 1 to 63 letters, digits, "
			"'-' or '_'", name);
		return NULL;
	}
	grown = realloc(cfg->receivers, (cfg->receivers_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	cfg->receivers = grown;
	r = &grown[cfg->receivers_count++];
	memset(r, 0, sizeof(*r));
	if ((r->name = strdup(name)) == NULL)
		return NULL;
	for (size_t i = 0; i < N_RECEIVER_OPTIONS; i++)
		if (!option_set(cfg, r, &receiver_options[i].o, receiver_options[i].o.fallback, error, size))
			return NULL;
	return r;
}

/* An option given a second time: refused, whichever value was meant (an operator who
 * edits the first and misses the second would otherwise see no change). */
static int
config_already_set(struct parse_state *st, const char *section, const char *name,
		unsigned first)
{
	snprintf(st->error, sizeof(st->error), "option \"%s\" in section [%s] already set at line "
		"%u: give each option once", name, section, first);
	return 0;
}

static int
config_receiver_line(struct parse_state *st, const char *section, const char *name,
		const char *value)
{
	struct config_receiver *r = config_receiver_get(st->cfg,
		section + strlen(RECEIVER_PREFIX), st->error, sizeof(st->error));

	if (r == NULL) {
		if (st->error[0] == '\0')
			snprintf(st->error, sizeof(st->error), "[%s]: out of memory", section);
		return 0;
	}
	for (size_t i = 0; i < N_RECEIVER_OPTIONS; i++) {
		const struct section_option *so = &receiver_options[i];

		if (strcmp(so->o.name, name) != 0)
			continue;
		if (r->option_lines[i] != 0)
			return config_already_set(st, section, name, r->option_lines[i]);
		r->option_lines[i] = st->line;
		if (so->check != NULL && !so->check(value, st->error, sizeof(st->error)))
			return 0;
		if (option_set(st->cfg, r, &so->o, value, st->error, sizeof(st->error)))
			return 1;
		if (st->error[0] == '\0')
			snprintf(st->error, sizeof(st->error), "%s: out of memory", name);
		return 0;
	}
	snprintf(st->error, sizeof(st->error), "unknown option \"%s\" in section [%s]", name, section);
	return 0;
}

static int
config_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	if (strncmp(section, RECEIVER_PREFIX, strlen(RECEIVER_PREFIX)) == 0)
		return config_receiver_line(st, section, name, value);
	if (strcmp(section, "rules") == 0 && strcmp(name, "disable") != 0) {
		for (size_t i = 0; i < st->cfg->rule_params_count; i++)
			if (strcmp(st->cfg->rule_params[i].name, name) == 0)
				return config_already_set(st, section, name, st->cfg->rule_params[i].line);
		if (!config_add_rule_param(st->cfg, name, value, st->error, sizeof(st->error)))
			return 0;
		st->cfg->rule_params[st->cfg->rule_params_count - 1].line = st->line;
		return config_check_rules(st->cfg, st->error, sizeof(st->error));
	}

	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (strcmp(options[i].section, section) != 0 || strcmp(options[i].name, name) != 0)
			continue;
		if (st->cfg->option_lines[i] != 0)
			return config_already_set(st, section, name, st->cfg->option_lines[i]);
		if (!option_set(st->cfg, st->cfg, &options[i], value, st->error, sizeof(st->error))) {
			if (st->error[0] == '\0')
				snprintf(st->error, sizeof(st->error), "%s: out of memory", name);
			return 0;
		}
		st->cfg->option_lines[i] = st->line;
		if (strcmp(section, "rules") == 0)
			return config_check_rules(st->cfg, st->error, sizeof(st->error));
		return 1;
	}
	snprintf(st->error, sizeof(st->error), "unknown option \"%s\" in section [%s]", name, section);
	return 0;
}

static bool
config_validate(const struct config *cfg, char *error, size_t size)
{
	if (cfg->db_reconnect_min_ms > cfg->db_reconnect_max_ms) {
		snprintf(error, size, "reconnect_min_ms must not exceed reconnect_max_ms");
		return false;
	}
	if (cfg->max_line_bytes > cfg->max_body_bytes) {
		snprintf(error, size, "max_line_bytes must not exceed max_body_bytes");
		return false;
	}
	if (cfg->score_on_time + cfg->score_satisfaction + cfg->score_complaints == 0) {
		snprintf(error, size, "[scores] on_time, satisfaction and complaints must not all be 0");
		return false;
	}
	if (cfg->tls_certificate[0] == '\0' || cfg->tls_private_key[0] == '\0' || cfg->tls_ca[0] == '\0') {
		snprintf(error, size, "[tls] certificate, private_key and ca are required");
		return false;
	}
	return true;
}

/* Checks each receiver as a whole and derives the fields delivery.c uses. */
static bool
config_finish_receivers(struct config *cfg, char *error, size_t size)
{
	char why[256];

	for (size_t i = 0; i < cfg->receivers_count; i++) {
		struct config_receiver *r = &cfg->receivers[i];
		int n = snprintf(error, size, "[receiver.%s] ", r->name);
		size_t used = n > 0 && (size_t)n < size ? (size_t)n : 0;

		why[0] = '\0';
		if (r->url[0] == '\0')
			snprintf(why, sizeof(why), "url is required");
		else if (strcmp(r->scope, "region") == 0 && r->region[0] == '\0')
			snprintf(why, sizeof(why), "scope = region needs a region");
		else if (r->backoff_min_ms > r->backoff_max_ms)
			snprintf(why, sizeof(why), "backoff_min_ms must not exceed backoff_max_ms");
		else if (!receiver_url_parse(r->url, r))
			snprintf(why, sizeof(why), "out of memory");
		else
			(void)receiver_actions_parse(r->actions, &r->action_mask, why, sizeof(why));
		if (why[0] != '\0') {
			snprintf(error + used, size - used, "%s", why);
			return false;
		}
		r->subtree = strcmp(r->scope, "subtree") == 0;
		r->min_rank = config_severity_rank(r->min_severity);
	}
	return true;
}

struct config *
config_load(const char *path)
{
	struct parse_state st = { .cfg = calloc(1, sizeof(struct config)) };
	int line;

	if (st.cfg == NULL)
		return NULL;
	if ((st.cfg->path = strdup(path)) == NULL ||
	    (st.cfg->option_lines = calloc(N_OPTIONS, sizeof(unsigned))) == NULL) {
		config_destroy(st.cfg);
		return NULL;
	}
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (!option_set(st.cfg, st.cfg, &options[i], options[i].fallback, st.error, sizeof(st.error))) {
			config_destroy(st.cfg);
			return NULL;
		}
	}
	if ((st.file = fopen(path, "r")) == NULL)
		line = -1;
	else {
		line = ini_parse_stream(config_read_line, &st, config_ini_line, &st);
		fclose(st.file);
	}
	if (line < 0) {
		log_warnx("%s: cannot open configuration file", path);
	} else if (line > 0) {
		log_warnx("%s:%d: %s", path, line, st.error[0] ? st.error : "syntax error");
	} else if (!config_validate(st.cfg, st.error, sizeof(st.error)) ||
		   !config_finish_receivers(st.cfg, st.error, sizeof(st.error))) {
		log_warnx("%s: %s", path, st.error);
		line = -1;
	}
	if (line != 0) {
		config_destroy(st.cfg);
		return NULL;
	}
	if (st.cfg->db_owner_conninfo[0] == '\0' && !set_string(&st.cfg->db_owner_conninfo, st.cfg->db_conninfo)) {
		config_destroy(st.cfg);
		return NULL;
	}
	return st.cfg;
}

bool
config_apply_rules(const struct config *cfg, struct mon_ruleset *rs, struct mon_error *err)
{
	const char *p = cfg->rules_disable;

	for (size_t i = 0; i < cfg->rule_params_count; i++)
		if (!mon_ruleset_set_param(rs, cfg->rule_params[i].name, cfg->rule_params[i].value, err))
			return false;
	while (*p != '\0') {
		char code[MON_RULE_MAX];
		size_t len = strcspn(p, ", \t");

		if (len > 0) {
			snprintf(code, sizeof(code), "%.*s", (int)(len < sizeof(code) ? len : sizeof(code) - 1), p);
			if (len >= sizeof(code) || !mon_ruleset_disable_rule(rs, code, err)) {
				if (len >= sizeof(code))
					snprintf(err->got, sizeof(err->got), "%.40s...", p);
				snprintf(err->field, sizeof(err->field), "disable");
				return false;
			}
		}
		p += len;
		p += strspn(p, ", \t");
	}
	return true;
}

void
config_destroy(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->rule_params_count; i++)
		free(cfg->rule_params[i].name);
	free(cfg->rule_params);
	for (size_t i = 0; i < cfg->receivers_count; i++) {
		struct config_receiver *r = &cfg->receivers[i];

		for (size_t j = 0; j < N_RECEIVER_OPTIONS; j++)
			if (receiver_options[j].o.type == OPT_STRING)
				free(*(char **)((char *)r + receiver_options[j].o.offset));
		free(r->name);
		free(r->host);
		free(r->path);
	}
	free(cfg->receivers);
	free(cfg->path);
	free(cfg->option_lines);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		enum opt_type t = options[i].type;

		if (t == OPT_STRING || t == OPT_LISTEN || t == OPT_FACILITY || t == OPT_LOOPBACK)
			free(*(char **)((char *)cfg + options[i].offset));
	}
	free(cfg->metrics_address);
	free(cfg);
}

const char *
config_default(const char *section, const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].section, section) == 0 && strcmp(options[i].name, name) == 0)
			return options[i].fallback;
	return NULL;
}

unsigned
config_line(const struct config *cfg, const char *section, const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].section, section) == 0 && strcmp(options[i].name, name) == 0)
			return cfg->option_lines[i];
	return 0;
}

const char *
config_fixed_difference(const struct config *old, const struct config *new)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option *opt = &options[i];
		const char *a = (const char *)old + opt->offset, *b = (const char *)new + opt->offset;

		if (!opt->fixed)
			continue;
		if (opt->type == OPT_STRING || opt->type == OPT_FACILITY || opt->type == OPT_LOOPBACK) {
			if (strcmp(*(char *const *)a, *(char *const *)b) != 0)
				return opt->name;
		} else if (opt->type == OPT_TARGET) {
			if (old->log_target != new->log_target)
				return opt->name;
		} else if (opt->type == OPT_LISTEN) {
			if (strcmp(old->listen_address, new->listen_address) != 0 || old->listen_port != new->listen_port)
				return opt->name;
		}
	}
	return NULL;
}
