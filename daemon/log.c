/* log.c: operational logging to the journal, stderr or syslog (log.h). The only
 * process-wide state of the daemon lives here, because syslog and stderr are process-wide. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#if HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

/* What a resolved target writes to: never LOG_TARGET_AUTO once log_init ran. Before it runs
 * (option parsing, the configuration) lines go to stderr. */
static struct {
	enum log_target target;
	bool stderr_tty;       /* stderr: a timestamp for a person, else an sd-daemon prefix */
	enum log_level level;
} logger = { LOG_TARGET_STDERR, true, LOG_LEVEL_INFO };

static const char *const target_names[] = {
	[LOG_TARGET_AUTO] = "auto", [LOG_TARGET_JOURNAL] = "journal",
	[LOG_TARGET_STDERR] = "stderr", [LOG_TARGET_SYSLOG] = "syslog",
};

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

bool
log_target_from_name(const char *name, enum log_target *target, const char **why)
{
	for (size_t i = 0; i < sizeof(target_names) / sizeof(target_names[0]); i++) {
		if (strcasecmp(name, target_names[i]) != 0)
			continue;
		if (i == LOG_TARGET_JOURNAL && !HAVE_SYSTEMD) {
			*why = "this esupd is built without libsystemd (meson option systemd)";
			return false;
		}
		*target = (enum log_target)i;
		return true;
	}
	*why = "expected auto, journal, stderr or syslog";
	return false;
}

const char *
log_target_name(void)
{
	return target_names[logger.target];
}

bool
log_stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	int end = 0;

	if (stream == NULL || sscanf(stream, "%ju:%ju%n", &dev, &ino, &end) != 2 ||
	    stream[end] != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void
log_init(bool foreground, enum log_level level, const char *facility, enum log_target target)
{
	int fac = LOG_DAEMON;

	for (size_t i = 0; facility && i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(facility, facilities[i].name) == 0)
			fac = facilities[i].facility;
	if (target == LOG_TARGET_AUTO) {
		if (log_stderr_is_journal())
			target = HAVE_SYSTEMD ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
		else
			target = foreground ? LOG_TARGET_STDERR : LOG_TARGET_SYSLOG;
	}
	logger.target = target;
	logger.stderr_tty = isatty(STDERR_FILENO) == 1;
	logger.level = level;
	if (target == LOG_TARGET_SYSLOG)
		openlog("esupd", LOG_PID | LOG_NDELAY, fac);
}

void
log_set_level(enum log_level level)
{
	logger.level = level;
}

#if HAVE_SYSTEMD
/* One journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and each of f's non-empty fields.
 * The journal stamps it; a failed send falls back to stderr, so a line is never lost
 * silently. */
static void
log_journal(int priority, const char *line, const struct log_fields *f)
{
	static const char *const names[] = {
		"ESUP_ALERT_ID", "ESUP_RULE", "ESUP_DEPARTMENT", "ESUP_CASE", "ESUP_SUBJECT",
	};
	const char *values[5] = { NULL };
	char fields[5][320];
	struct iovec iov[3 + 5];
	char message[2100], prio[16];
	int n = 0;

	if (f != NULL) {
		values[0] = f->alert_id, values[1] = f->rule, values[2] = f->department;
		values[3] = f->case_no, values[4] = f->subject;
	}
	snprintf(message, sizeof(message), "MESSAGE=%s", line);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
	iov[n++] = (struct iovec){ message, strlen(message) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=esupd", strlen("SYSLOG_IDENTIFIER=esupd") };
	for (int i = 0; i < 5; i++) {
		if (values[i] == NULL || values[i][0] == '\0')
			continue;
		snprintf(fields[i], sizeof(fields[i]), "%s=%s", names[i], values[i]);
		iov[n++] = (struct iovec){ fields[i], strlen(fields[i]) };
	}
	if (sd_journal_sendv(iov, n) < 0)
		fprintf(stderr, "<%d>esupd: %s\n", priority, line);
}
#endif

static void
log_write(enum log_level level, const char *line, const struct log_fields *f)
{
	/* syslog(3) priorities, which are also sd-daemon's and the journal's */
	static const int priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	switch (logger.target) {
	case LOG_TARGET_JOURNAL:
#if HAVE_SYSTEMD
		log_journal(priorities[level], line, f);
		return;
#else
		(void)f;
		break;   /* log_target_from_name refuses it */
#endif
	case LOG_TARGET_SYSLOG:
		syslog(priorities[level], "%s", line);
		return;
	case LOG_TARGET_AUTO:
	case LOG_TARGET_STDERR:
		break;
	}
	if (logger.stderr_tty) {
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);

		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
		fprintf(stderr, "%s esupd %s: %s\n", stamp, level_names[level], line);
	} else {
		/* whatever collects a pipe stamps its lines; sd-daemon(3) reads the priority */
		fprintf(stderr, "<%d>esupd %s: %s\n", priorities[level], level_names[level], line);
	}
}

static void
log_emit_fields(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap,
		const char *suffix)
{
	char msg[1900], line[2048];

	if (level > logger.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(line, sizeof(line), "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
	log_write(level, line, f);
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	log_emit_fields(level, NULL, fmt, ap, suffix);
}

void
log_alert(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit_fields(level, f, fmt, ap, NULL);
	va_end(ap);
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

