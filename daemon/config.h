/* config.h: esupd's configuration, parsed from one ini file. A reload parses into a new
 * object and swaps it in only when it is valid. */
#ifndef ESUP_CONFIG_H
#define ESUP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "mon_rules.h"

/* The action kinds a receiver can be sent, in bit order of config_receiver.action_mask:
 * the actions of alert_actions, except that a raise is "raise" when it issued the alert and
 * "held" when it held it for confirmation (待发); a raise into suppressed is never sent. */
enum config_action {
	CONFIG_ACTION_RAISE, CONFIG_ACTION_HELD, CONFIG_ACTION_ACK, CONFIG_ACTION_APPEAL,
	CONFIG_ACTION_REJECT, CONFIG_ACTION_REVOKE, CONFIG_ACTION_RESOLVE, CONFIG_ACTION_DISMISS,
	CONFIG_ACTION_CONFIRM, CONFIG_ACTION_CANCEL, CONFIG_ACTION_ESCALATE, CONFIG_ACTION_SUPPRESS,
	CONFIG_ACTION_ISSUE, CONFIG_ACTION_SUPERSEDE, CONFIG_ACTION_CORRECT, CONFIG_ACTION_COUNT
};
extern const char *const config_action_names[CONFIG_ACTION_COUNT];
#define CONFIG_RECEIVER_ACTIONS "raise,confirm,issue,escalate,resolve,dismiss,revoke,correct"

/* The options of a [receiver.NAME] section (url, region, scope, min_severity, actions,
 * timeout_s, backoff_min_ms, backoff_max_ms, batch). */
#define CONFIG_RECEIVER_OPTIONS 9

/* One [receiver.NAME] section. The strings are as written; the fields after them are derived
 * from them when the file has been read. */
struct config_receiver {
	char *name;               /* 1-63 of [A-Za-z0-9_-] */
	char *url;                /* http://HOST[:PORT]/PATH or https://... */
	char *region;             /* GB/T 2260 code; "" routes every region */
	char *scope;              /* "region": that region only; "subtree": it and those under it */
	char *min_severity;       /* notice | yellow | red */
	char *actions;            /* comma-separated action kinds (config_action_names) */
	unsigned timeout_s;       /* one attempt, connect to answer */
	unsigned backoff_min_ms;  /* first retry after a failure; doubles up to backoff_max_ms */
	unsigned backoff_max_ms;
	size_t batch;             /* actions per POST at most */
	/* the line that set each option of the section, 0 if none (a second one is refused) */
	unsigned option_lines[CONFIG_RECEIVER_OPTIONS];
	/* derived */
	bool https;
	char *host;
	unsigned port;
	char *path;               /* with the query, "/" when the URL has none */
	bool subtree;
	int min_rank;             /* 0 notice, 1 yellow, 2 red */
	unsigned action_mask;     /* 1u << enum config_action */
};

struct config {
	/* [server] */
	char *listen_address;     /* "127.0.0.1" */
	unsigned listen_port;     /* 8443 */
	char *user;               /* drop to this user when started as root */
	char *pidfile;
	/* [tls] */
	char *tls_certificate;
	char *tls_private_key;
	char *tls_ca;
	char *tls_crl;            /* optional */
	char *tls_ciphers;        /* TLS 1.2 */
	char *tls_ciphersuites;   /* TLS 1.3 */
	/* [database] */
	char *db_conninfo;        /* the daemon's role (writer) */
	char *db_owner_conninfo;  /* only for --migrate; defaults to db_conninfo */
	unsigned db_reconnect_min_ms;
	unsigned db_reconnect_max_ms;
	/* [limits] */
	size_t max_body_bytes;
	size_t max_line_bytes;
	size_t max_json_depth;
	size_t max_events_per_request;
	size_t max_header_bytes;
	unsigned max_connections_per_principal;
	unsigned idle_timeout_s;
	unsigned handshake_timeout_s;
	unsigned max_connections;           /* 0: derived from the file descriptor limit */
	unsigned max_unauthenticated_connections;
	unsigned header_timeout_s;          /* a request head, from its first byte */
	unsigned body_timeout_s;            /* a body: this long plus its length at the rate below */
	unsigned body_min_rate_bytes_s;
	/* [ingest] */
	size_t batch_max_events;
	unsigned batch_max_delay_ms;
	size_t queue_max_events;
	unsigned retry_after_s;
	unsigned writers;                   /* writer connections (restart) */
	/* [sweeper] */
	unsigned sweep_interval_ms;
	size_t sweep_batch;
	size_t sweep_mark_batch;
	/* [alerts] */
	unsigned stream_heartbeat_s;        /* a comment line on every open stream this often */
	size_t stream_max_buffer_bytes;     /* a live stream with more output unsent is cut */
	/* [jobs]: the periodic jobs (jobs.c) */
	unsigned jobs_interval_ms;
	size_t jobs_batch;        /* alerts one escalation round plans or escalates */
	/* [escalation]: 督办 deadlines per severity (index enum mon_severity); 0 = never */
	unsigned ack_hours[3];    /* working hours after issued_at to acknowledge */
	unsigned resolve_days[3]; /* working days after issued_at to resolve */
	int work_start_s, work_end_s;   /* a working day's working hours, seconds after midnight */
	/* [statistics]: the statistical rules' job (stat_rules.c) runs at start and this often */
	unsigned stat_interval_s;
	/* [rules]: libmonitor parameters by name, and the rule codes switched off */
	struct config_rule_param {
		char *name;
		long long value;
		unsigned line;    /* that set it (a second one is refused) */
	} *rule_params;
	size_t rule_params_count;
	char *rules_disable;      /* comma-separated rule codes */
	/* [scores]: 绩效评估 (scores.c, migration 016), in hundredths: the weights of the on-time,
	 * satisfaction and complaint rates in the weighted mean, and the points off per valid
	 * card; then how many of the lowest are flagged 末位 */
	unsigned score_on_time, score_satisfaction, score_complaints;
	unsigned score_red, score_yellow, score_notice;
	unsigned score_bottom_count;
	/* [receiver.NAME]: webhook receivers (delivery.c), in file order */
	struct config_receiver *receivers;
	size_t receivers_count;
	/* [delivery] */
	unsigned delivery_poll_ms;  /* receivers look for undelivered actions this often */
	/* [metrics] */
	char *metrics_listen;     /* as written; "" = no plain-HTTP metrics listener */
	char *metrics_address;    /* derived: a loopback address ("127.0.0.1", "::1"), or "" */
	unsigned metrics_port;    /* derived; 0 when metrics_listen is "" */
	/* [log] */
	enum log_level log_level;
	char *log_facility;
	enum log_target log_target;
	/* [testing] */
	long long clock_offset_s; /* test-only: added to the wall clock; never set in production */
	/* where it came from */
	char *path;               /* the file config_load read */
	unsigned *option_lines;   /* per option of the table: the line that set it, 0 = default */
};

/* Parses path into a new config. On error logs "file:line: message" and returns NULL. */
struct config *config_load(const char *path);
void config_destroy(struct config *cfg);
/* Applies [rules] (parameters and switched-off rules) to a ruleset being built. */
bool config_apply_rules(const struct config *cfg, struct mon_ruleset *rs, struct mon_error *err)
	__attribute__((warn_unused_result));
/* Options that a reload cannot change (listen address, user); names the first differing. */
const char *config_fixed_difference(const struct config *old, const struct config *new);
/* The line of cfg->path that set [section] name (its last setting), 0 when it was not set
 * (the default is in force) or is no option of the table. For messages "FILE:LINE: ...". */
unsigned config_line(const struct config *cfg, const char *section, const char *name);
/* The default of an option of the table as written there ("65536"), NULL for an unknown
 * option: for tools that must agree with esupd without a configuration file. Static text. */
const char *config_default(const char *section, const char *name);
/* 0 notice, 1 yellow, 2 red; -1 for anything else. */
int config_severity_rank(const char *severity);

#endif
