/* log.c: operational logging. stderr when in the foreground, syslog otherwise. The only
 * process-wide state of the daemon lives here, because syslog itself is process-wide. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

static struct {
	bool foreground;
	enum log_level level;
} logger = { true, LOG_LEVEL_INFO };

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static const char *const level_names[] = { "error", "warning", "info", "debug" };

bool
log_level_from_name(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool
log_facility_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return true;
	return false;
}

void
log_init(bool foreground, enum log_level level, const char *facility)
{
	int fac = LOG_DAEMON;

	for (size_t i = 0; facility && i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(facility, facilities[i].name) == 0)
			fac = facilities[i].facility;
	logger.foreground = foreground;
	logger.level = level;
	if (!foreground)
		openlog("esupd", LOG_PID | LOG_NDELAY, fac);
}

void
log_set_level(enum log_level level)
{
	logger.level = level;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	static const int priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[2048];

	if (level > logger.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (logger.foreground) {
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);

		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
		fprintf(stderr, "%s esupd %s: %s%s%s\n", stamp, level_names[level], msg,
			suffix ? ": " : "", suffix ? suffix : "");
	} else {
		syslog(priorities[level], "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
	}
}

static void log_print(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);

static void
log_print(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, fmt, ap, NULL);
	va_end(ap);
}

#define LOG_BODY(level, suffix) do {            \
	va_list ap;                             \
	va_start(ap, fmt);                      \
	log_emit(level, fmt, ap, suffix);       \
	va_end(ap);                             \
} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_LEVEL_WARNING, err);
}

void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARNING, NULL); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_INFO, NULL); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_DEBUG, NULL); }

/* Whether a line of this cause may be written now; stamps it when so. */
static bool
log_limit_due(struct log_limit *limit, unsigned interval_s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (limit->started && now.tv_sec - limit->last.tv_sec < (time_t)interval_s)
		return false;
	limit->last = now;
	limit->started = true;
	return true;
}

void
log_limited(struct log_limit *limit, unsigned interval_s, enum log_level level, const char *fmt, ...)
{
	char msg[1024], count[64] = "";
	va_list ap;

	if (level > logger.level)
		return;
	if (!log_limit_due(limit, interval_s)) {
		limit->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (limit->suppressed > 0)
		snprintf(count, sizeof(count), " (%lu more like this suppressed)", limit->suppressed);
	limit->suppressed = 0;
	log_print(level, "%s%s", msg, count);
}

void
fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_LEVEL_ERROR, err);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
	exit(1);
}

