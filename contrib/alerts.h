/* alerts.h: `esupctl alerts`, the supervisors' and departments' client of esupd's alert API
 * (docs/protocol.md, docs/supervising.md). alerts.c parses the command line and runs the
 * request-answer commands; alerts_tail.c follows the Server-Sent Events stream. */
#ifndef ESUP_ALERTS_H
#define ESUP_ALERTS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "https.h"

#define ALERTS_TZ_MIN 480            /* times are shown in Asia/Shanghai (+08:00) */

/* What every command needs: the connection and how to print. */
struct ctl {
	struct https_client *client;
	bool json;                   /* print the server's JSON, not tables */
	size_t width;                /* terminal width when stdout is one, else 0 (no cutting) */
	int timeout_ms;              /* 0: the default of the command */
};

/* One answer: status, the raw body, and the body parsed when it is JSON. */
struct reply {
	int status;
	char *raw;
	size_t len;
	json_t *json;
};

/* Sends the request (body: JSON to send, or NULL) and reads the answer. Returns 0 on a 2xx
 * answer; otherwise prints why on stderr (the server's error, and the alert's current status
 * on 409; with --json the server's body on stdout too) and returns 1. */
int ctl_call(struct ctl *c, const char *method, const char *target, json_t *body,
	struct reply *r);
void reply_finish(struct reply *r);

/* An RFC 3339 time from the server as "YYYY-MM-DD HH:MM[:SS]" in Asia/Shanghai; the
 * text itself when it is not a time, "" for NULL. */
void show_time(const char *iso, bool seconds, char *buf, size_t len);

/* obj[key] as text: strings as they are, numbers in decimal, true/false, "" for null or
 * missing. The result lives in buf (or in obj for strings). */
const char *jtext(const json_t *obj, const char *key, char *buf, size_t len);

/* Follows GET /v1/alerts/stream, printing one line per event, from position after (NULL:
 * from now). Reconnects with Last-Event-ID when the connection is lost; returns 0 when
 * *stop is set (SIGINT, SIGTERM), 1 when the server refuses the stream. */
int tail_run(struct ctl *c, const char *after, volatile sig_atomic_t *stop);

int alerts_main(int argc, char **argv);

#endif
