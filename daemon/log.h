/* log.h: the daemon's one logging API. stderr in the foreground, syslog otherwise. */
#ifndef ESUP_LOG_H
#define ESUP_LOG_H

#include <stdbool.h>
#include <time.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(bool foreground, enum log_level level, const char *facility);
void log_set_level(enum log_level level);
bool log_level_from_name(const char *name, enum log_level *level);
bool log_facility_valid(const char *name);

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
/* Only before the loop runs: log and exit(1). */
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
