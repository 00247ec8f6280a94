/* log.h: the daemon's one logging API. Lines go to one target, chosen once at log_init:
 * the journal (sd_journal_send, with a priority and structured fields), stderr (with an
 * sd-daemon "<N>" priority prefix when stderr is not a terminal, a timestamp when it is) or
 * syslog. Every function logs synchronously and keeps no pointer to its arguments. */
#ifndef ESUP_LOG_H
#define ESUP_LOG_H

#include <stdbool.h>
#include <time.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* [log] target. auto: the journal when stderr is connected to it ($JOURNAL_STREAM names
 * stderr's device:inode) and esupd is built with libsystemd, else stderr in the foreground,
 * else syslog. */
enum log_target { LOG_TARGET_AUTO, LOG_TARGET_JOURNAL, LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

void log_init(bool foreground, enum log_level level, const char *facility, enum log_target target);
void log_set_level(enum log_level level);
bool log_level_from_name(const char *name, enum log_level *level);
bool log_facility_valid(const char *name);
/* false when name is no target, or is "journal" and esupd is built without libsystemd;
 * *why then says which. */
bool log_target_from_name(const char *name, enum log_target *target, const char **why);
/* The target log_init chose: "journal", "stderr" or "syslog". */
const char *log_target_name(void);
/* Whether stderr is the journal's stream: $JOURNAL_STREAM is "DEV:INO" of fd 2. */
bool log_stderr_is_journal(void);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
/* Lines about one cause (one refusal, one failing call), at most one per interval: the owner of
 * the cause embeds one zero-initialised log_limit per cause. Lines within the interval are
 * dropped and counted; the next line written says how many were, so a flood costs one line a
 * period and the count is never lost. */
struct log_limit {
	struct timespec last;       /* monotonic time of the last line written */
	unsigned long suppressed;   /* lines dropped since */
	bool started;
};
void log_limited(struct log_limit *limit, unsigned interval_s, enum log_level level,
		const char *fmt, ...) LOG_PRINTF(4, 5);
/* What a line about one alert names. Every member may be NULL or "" (left out); the strings
 * are read only during the call. In the journal each non-empty one becomes a field
 * (ESUP_ALERT_ID, ESUP_RULE, ESUP_DEPARTMENT, ESUP_CASE, ESUP_SUBJECT); other targets get
 * only the message text, which must itself name the alert and its subject. */
struct log_fields {
	const char *alert_id;
	const char *rule;
	const char *department;
	const char *case_no;
	const char *subject;
};
void log_alert(enum log_level level, const struct log_fields *f, const char *fmt, ...)
	LOG_PRINTF(3, 4);
/* Only before the loop runs: log and exit(1). */
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
