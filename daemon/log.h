/* log.h: the daemon's one logging API. stderr in the foreground, syslog otherwise. */
#ifndef ESUP_LOG_H
#define ESUP_LOG_H

#include <stdbool.h>

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
/* Only before the loop runs: log and exit(1). */
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
