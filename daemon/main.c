/* main.c: esupd start-up, signals, reload and shutdown. Everything runs on one libevent loop;
 * signal handlers are libevent events, so they run as ordinary callbacks. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "alert_stream.h"
#include "api.h"
#include "check.h"
#include "db.h"
#include "delivery.h"
#include "esupd.h"
#include "health.h"
#include "http.h"
#include "identity.h"
#include "jobs.h"
#include "ingest.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "refdata.h"
#include "sweeper.h"
#include "tls.h"

#define ESUPD_VERSION "0.1.0"

int64_t
esupd_now(const struct esupd *d)
{
	return (int64_t)time(NULL) + d->cfg->clock_offset_s;
}

static struct ingest_limits
ingest_limits_of(const struct config *cfg)
{
	return (struct ingest_limits){
		.batch_max_events = cfg->batch_max_events,
		.batch_max_delay_ms = cfg->batch_max_delay_ms,
		.queue_max_events = cfg->queue_max_events,
	};
}

/* The reader brings what readiness needs: schema version, then (esupd_schema_current)
 * principals and rules. Nothing reads the schema's tables before its version is known, so a
 * database that was never migrated gives one message, not SQL errors. */
static void
reader_state_changed(struct db *db, bool up, void *arg)
{
	struct esupd *d = arg;

	(void)db;
	if (up)
		health_check_schema(d, true);
	health_changed(d);
}

void
esupd_schema_current(struct esupd *d)
{
	identity_reload(d->identity);
	refdata_reload(d->refdata, d->cfg);
	alert_streams_db_up(d->streams);
}

static void
database_state_changed(struct db *db, bool up, void *arg)
{
	(void)db, (void)up;
	health_changed(arg);
}

static void
sweeper_state_changed(struct db *db, bool up, void *arg)
{
	struct esupd *d = arg;

	if (up && d->sweeper != NULL)
		sweeper_db_up(d->sweeper);
	database_state_changed(db, up, arg);
}

static void
principals_loaded(void *arg)
{
	struct esupd *d = arg;

	alert_streams_principals_changed(d->streams);
	health_changed(d);
}

static void
rules_loaded(bool swapped, void *arg)
{
	struct esupd *d = arg;

	if (swapped) {
		sweeper_rederive(d->sweeper);
		jobs_changed(d->jobs);
	}
	health_changed(d);
}

static int64_t
business_clock(void *arg)
{
	return esupd_now(arg);
}

/* SIGHUP: parse into new objects, validate, swap; keep the old on any error. */
static void
reload(struct esupd *d)
{
	struct config *cfg;
	const char *fixed;
	SSL_CTX *tls;

	health_sd_notify("RELOADING=1");
	log_info("reloading %s", d->config_path);
	cfg = config_load(d->config_path);
	if (cfg == NULL) {
		log_warnx("reload refused: configuration invalid; keeping the running one");
		goto done;
	}
	if ((fixed = config_fixed_difference(d->cfg, cfg)) != NULL)
		log_warnx("reload: option %s changes only on restart; keeping the running value", fixed);
	tls = tls_context_create(cfg);
	if (tls == NULL) {
		log_warnx("reload refused: TLS material invalid; keeping the running one");
		config_destroy(cfg);
		goto done;
	}
	SSL_CTX_free(d->tls);   /* live connections hold their own reference */
	d->tls = tls;
	/* restart-only options keep their running values */
	config_destroy(d->cfg);
	d->cfg = cfg;
	log_set_level(cfg->log_level);
	http_apply_limits(d);
	tls_peers_set_limit(d->peers, cfg->max_connections_per_principal);
	struct ingest_limits limits = ingest_limits_of(cfg);
	ingest_set_limits(d->ingest, &limits);
	sweeper_configure(d->sweeper, cfg->sweep_interval_ms, cfg->sweep_batch,
	    cfg->sweep_mark_batch);
	alert_streams_configure(d->streams);
	jobs_configure(d->jobs);
	jobs_changed(d->jobs);    /* [escalation] may have changed */
	delivery_configure(d->delivery, cfg);
	health_check_schema(d, false);   /* after an `esupd --migrate` while running */
	identity_reload(d->identity);
	refdata_reload(d->refdata, cfg);
	log_info("reload complete");
done:
	/* systemd waits for READY=1 after RELOADING=1; before the first readiness there is
	 * nothing to confirm yet: health_changed sends it when the dependencies are there */
	if (d->announced_ready)
		health_sd_notify("READY=1");
}

/* Told by the ingest and by the sweeper once each has nothing in flight, and by the alert
 * streams once their closing chunks are written. */
static void
drained(void *arg)
{
	struct esupd *d = arg;
	struct timeval flush = { 0, 200000 };

	if (--d->draining_parts > 0)
		return;
	log_info("in-flight batches finished; exiting");
	/* one more short turn of the loop lets the last replies reach their sockets */
	event_base_loopexit(d->base, &flush);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct esupd *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	if (d->draining) {
		log_warnx("second termination signal: exiting now");
		event_base_loopbreak(d->base);
		return;
	}
	log_info("signal %d: no longer accepting; finishing in-flight batches", (int)sig);
	health_sd_notify("STOPPING=1");
	d->draining = true;
	http_stop_accepting(d);
	jobs_stop(d->jobs);
	delivery_stop(d->delivery);
	metrics_server_stop(d->metrics_server);
	/* each may call drained before returning: the count is set first */
	d->draining_parts = 3;
	alert_streams_drain(d->streams, drained, d);
	sweeper_drain(d->sweeper, drained, d);
	ingest_drain(d->ingest, drained, d);
}

static void
drop_privileges(const struct config *cfg)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if (cfg->user[0] == '\0')
		fatalx("refusing to run as root: set [server] user");
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL)
		fatalx("unknown user \"%s\"", cfg->user);
	if (setgroups(0, NULL) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		fatal("cannot drop privileges to %s", cfg->user);
	if (setuid(0) == 0)
		fatalx("privileges could be regained after dropping them");
	log_info("running as %s", cfg->user);
}

static void
write_pidfile(const char *path)
{
	FILE *f;

	if (path[0] == '\0')
		return;
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		fatal("%s", path);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: esupd [-f] [-n] [-c file] [--migrate]\n"
		"  -c, --config FILE  configuration (default /etc/esup/esupd.conf)\n"
		"  -f, --foreground   stay in the foreground and log to stderr\n"
		"  -n, --check        check the configuration and exit\n"
		"      --migrate      apply database migrations as [database] owner_conninfo and exit\n"
		"  -V, --version      print the version and exit\n");
}

/* esupd -n prints each problem as "FILE:LINE: section.option: message" on stderr. */
static void
check_print(void *arg, enum check_level level, const char *where, const char *name,
		const char *message)
{
	(void)arg;
	if (level == CHECK_OK)
		return;
	fprintf(stderr, "%s%s%s: %s%s\n", where, where[0] ? ": " : "", name,
		level == CHECK_WARN ? "warning: " : "", message);
}

/* esupd -n: every check of check.c, then the TLS context as esupd builds it (ciphers). */
static bool
check_configuration(const struct config *cfg)
{
	struct check_report r = { .emit = check_print };
	SSL_CTX *ctx;

	if (!check_config(cfg, time(NULL), &r))
		return false;
	if ((ctx = tls_context_create(cfg)) == NULL) {
		fprintf(stderr, "%s: TLS configuration invalid\n", cfg->path);
		return false;
	}
	SSL_CTX_free(ctx);
	return true;
}

struct options {
	const char *config_path;
	bool foreground, check, migrate;
};

static struct options
parse_arguments(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'n' }, { "migrate", no_argument, NULL, 'M' },
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .config_path = "/etc/esup/esupd.conf" };
	int ch;

	while ((ch = getopt_long(argc, argv, "c:fnVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config_path = optarg; break;
		case 'f': o.foreground = true; break;
		case 'n': o.check = true; break;
		case 'M': o.migrate = true; break;
		case 'V': printf("esupd %s\n", ESUPD_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	return o;
}

#if HAVE_SYSTEMD
static void
watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	sd_notify(0, "WATCHDOG=1");
}
#endif

/* systemd's watchdog (WatchdogSec= sets $WATCHDOG_USEC and $WATCHDOG_PID): WATCHDOG=1 from a
 * timer of the event loop at half the interval, so the keep-alives stop when the loop stops
 * turning (a callback stuck in a loop, a deadlock) and systemd kills and restarts esupd. */
static void
watchdog_start(struct esupd *d)
{
#if HAVE_SYSTEMD
	uint64_t usec = 0;
	struct timeval half;
	int r = sd_watchdog_enabled(0, &usec);

	if (r < 0)
		log_warnx("systemd watchdog: cannot read $WATCHDOG_USEC: %s", strerror(-r));
	if (r <= 0 || usec == 0)
		return;
	half.tv_sec = (time_t)(usec / 2 / 1000000);
	half.tv_usec = (suseconds_t)(usec / 2 % 1000000);
	d->watchdog = event_new(d->base, -1, EV_PERSIST, watchdog_tick, d);
	if (d->watchdog == NULL || event_add(d->watchdog, &half) != 0)
		fatalx("cannot start the systemd watchdog timer");
	sd_notify(0, "WATCHDOG=1");
	log_info("systemd watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)(usec / 2000));
#else
	(void)d;
	if (getenv("WATCHDOG_USEC") != NULL)
		log_warnx("systemd watchdog requested but this esupd is built without libsystemd");
#endif
}

static void
esupd_start(struct esupd *d)
{
	struct ingest_limits limits = ingest_limits_of(d->cfg);
	const struct config *cfg = d->cfg;

	if ((d->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((d->metrics = metrics_create()) == NULL)
		fatalx("out of memory");
	d->started_at = (int64_t)time(NULL);
	metrics_set(d->metrics, METRIC_START_TIME, NULL, (double)d->started_at);
	metrics_set(d->metrics, METRIC_BUILD_INFO, (const char *const[]){ ESUPD_VERSION }, 1);
	if ((d->tls = tls_context_create(cfg)) == NULL)
		fatalx("TLS configuration failed");
	if ((d->peers = tls_peers_create(cfg->max_connections_per_principal)) == NULL)
		fatalx("out of memory");
	d->fd_limit = listener_raise_fd_limit();
	if (!http_start(d))
		exit(1);
	drop_privileges(cfg);
	d->schema_version = -1;
	d->nwriters = cfg->writers < 1 ? 1 : cfg->writers > INGEST_WRITERS_MAX ? INGEST_WRITERS_MAX
		: cfg->writers;
	for (size_t i = 0; i < d->nwriters; i++) {
		char name[16];

		/* the first is "writer", as before there were more */
		if (i == 0)
			snprintf(name, sizeof(name), "writer");
		else
			snprintf(name, sizeof(name), "writer%zu", i + 1);
		if ((d->writers[i] = db_create(d->base, name, cfg->db_conninfo,
				cfg->db_reconnect_min_ms, cfg->db_reconnect_max_ms,
				database_state_changed, d)) == NULL)
			fatalx("out of memory");
	}
	d->writer = d->writers[0];
	d->reader = db_create(d->base, "reader", cfg->db_conninfo, cfg->db_reconnect_min_ms,
		cfg->db_reconnect_max_ms, reader_state_changed, d);
	d->sweep_db = db_create(d->base, "sweeper", cfg->db_conninfo, cfg->db_reconnect_min_ms,
		cfg->db_reconnect_max_ms, sweeper_state_changed, d);
	if (d->writer == NULL || d->reader == NULL || d->sweep_db == NULL ||
	    (d->streams = alert_streams_create(d)) == NULL ||
	    (d->identity = identity_create(d->reader, principals_loaded, d)) == NULL ||
	    (d->refdata = refdata_create(d->reader, rules_loaded, d)) == NULL ||
	    (d->sweeper = sweeper_create(d->base, d->sweep_db, d->refdata, business_clock, d)) == NULL ||
	    (d->jobs = jobs_create(d)) == NULL ||
	    (d->ingest = ingest_create(d->base, d->writers, d->nwriters, &limits)) == NULL ||
	    (d->delivery = delivery_create(d->base, d->reader, cfg)) == NULL)
		fatalx("out of memory");
	ingest_set_refdata(d->ingest, d->refdata);
	if (!ingest_set_metrics(d->ingest, d->metrics) || !sweeper_set_metrics(d->sweeper, d->metrics))
		fatalx("out of memory");
	if ((d->metrics_server = metrics_server_start(d)) == NULL)
		exit(1);
	sweeper_configure(d->sweeper, cfg->sweep_interval_ms, cfg->sweep_batch,
	    cfg->sweep_mark_batch);
	jobs_configure(d->jobs);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup || evsignal_add(d->sig_term, NULL) ||
	    evsignal_add(d->sig_int, NULL) || evsignal_add(d->sig_hup, NULL))
		fatalx("cannot install signal handlers");
	watchdog_start(d);
	for (size_t i = 0; i < d->nwriters; i++)
		db_start(d->writers[i]);
	db_start(d->reader);
	db_start(d->sweep_db);
}

static void
esupd_finish(struct esupd *d)
{
	event_free(d->sig_term);
	event_free(d->sig_int);
	event_free(d->sig_hup);
	if (d->watchdog)
		event_free(d->watchdog);
	listener_stop(d->accept);
	if (d->http)
		evhttp_free(d->http);
	metrics_server_destroy(d->metrics_server);
	for (size_t i = 0; i < d->nwriters; i++)
		db_destroy(d->writers[i]);
	db_destroy(d->reader);
	db_destroy(d->sweep_db);
	alert_streams_destroy(d->streams);   /* after evhttp_free closed their connections */
	delivery_destroy(d->delivery);   /* its queries were dropped with the reader */
	ingest_destroy(d->ingest);
	sweeper_destroy(d->sweeper);
	jobs_destroy(d->jobs);
	refdata_destroy(d->refdata);
	identity_destroy(d->identity);
	SSL_CTX_free(d->tls);
	/* libevent finalizes bufferevents lazily: their SSLs, which release into d->peers, may be
	 * freed only here */
	event_base_free(d->base);
	tls_peers_destroy(d->peers);
	listener_destroy(d->accept);
	metrics_destroy(d->metrics);
	config_destroy(d->cfg);
}

int
main(int argc, char **argv)
{
	struct options o = parse_arguments(argc, argv);
	struct esupd d = { .config_path = o.config_path };

	log_init(true, LOG_LEVEL_INFO, NULL, LOG_TARGET_AUTO);
	if ((d.cfg = config_load(o.config_path)) == NULL)
		return 1;
	if (o.check) {
		bool ok = check_configuration(d.cfg);

		if (ok)
			printf("%s: configuration ok\n", o.config_path);
		config_destroy(d.cfg);
		return ok ? 0 : 1;
	}
	if (o.migrate) {
		bool ok = migrate_run(d.cfg->db_owner_conninfo);

		config_destroy(d.cfg);
		return ok ? 0 : 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!o.foreground && daemon(1, 0) != 0)
		fatal("cannot detach");
	log_init(o.foreground, d.cfg->log_level, d.cfg->log_facility, d.cfg->log_target);
	write_pidfile(d.cfg->pidfile);
	esupd_start(&d);
	log_info("esupd %s started; ready once the database, its schema, the principals and "
		"the rules are there", ESUPD_VERSION);
	event_base_dispatch(d.base);
	if (d.cfg->pidfile[0] != '\0' && unlink(d.cfg->pidfile) != 0)
		log_debug("cannot remove pidfile %s (written before dropping privileges)", d.cfg->pidfile);
	esupd_finish(&d);
	return d.exit_status;
}
