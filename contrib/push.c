/* push.c: `esupctl push` (push.h). The inputs are read line by line as batches are filled,
 * never whole; each line's bytes go through a running SHA-256 of its input, so that the
 * state can say "the first BYTES bytes, LINES lines, hashing to SHA256, are acknowledged" and
 * a rerun can check that the input still starts with them before skipping them. A batch
 * may span inputs; its request is all or nothing, so when its 200 answer arrives every input
 * it touched moves to where the batch ended, and the state file is rewritten atomically. */
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "https.h"
#include "lines.h"
#include "push_state.h"

#define BATCH_DEFAULT 500
#define BATCH_MAX 5000               /* esupd's default max_events_per_request */
#define BODY_SOFT_MAX (4 * 1024 * 1024)   /* a batch closes early past this many bytes */
#define RETRY_MAX_DEFAULT 600
#define READ_CHUNK 65536
#define TIMEOUT_MS 60000

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_STOPPED = 3 };

static volatile sig_atomic_t interrupted;

struct options {
	const char *url, *cert, *key, *ca, *state_path, *rejects_path;
	size_t batch;
	long retry_max_s;
	bool dry_run, quiet;
};

struct source {
	const char *path;            /* as given; "-" is stdin */
	int fd;                      /* while being read, else -1 */
	EVP_MD_CTX *hash;            /* of the bytes read so far */
	uint64_t offset, lines;      /* read so far */
	bool last_nl;                /* nothing read yet, or the last byte was a line feed */
	bool done;                   /* read to its end and closed */
	bool tail_partial;           /* resumed after a last line without a line feed */
	char *rbuf;
	size_t rpos, rlen;
	struct push_input_state pending;   /* where the batch being sent leaves it (no path) */
	bool has_pending;
};

struct item {
	size_t src;
	uint64_t line;
	size_t off, len;             /* the line in the batch body */
	bool too_long;               /* refused here: not sent */
};

struct push {
	struct options o;
	struct push_state state;     /* what is acknowledged, one entry per source */
	struct source *src;
	size_t nsrc, cur;
	struct https_client *client;
	FILE *rejects;
	/* the batch */
	char *body;
	size_t body_len, body_cap;
	struct item *items;
	size_t count;
	char *line;                  /* LINES_MAX_BYTES + 1 */
	/* counts of this run */
	uint64_t sent, accepted, duplicate, rejected;
	uint64_t total_bytes;        /* of all inputs when all are regular files, else 0 */
	uint64_t start_bytes;        /* acknowledged before this run */
	bool acked_any;              /* some request was acknowledged in this run */
	int64_t started_ms, last_progress_ms, last_draw_ms;
	bool progress;               /* draw the progress line */
	bool drawn;                  /* a progress line is on the screen */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: esupctl push --url URL --cert CRT --key KEY --cacert CA [--batch N]\n"
		"                    [--state FILE] [--rejects FILE] [--dry-run]\n"
		"                    [--retry-max-time SECONDS] [--quiet] [FILE...]\n"
		"\n"
		"--url, --cert, --key and --cacert (also spelt --ca) default to ESUP_URL,\n"
		"ESUP_CERT, ESUP_KEY and ESUP_CA, as for esupctl alerts; the flags win.\n"
		"push sends NDJSON events (stdin when no FILE or FILE is -) to URL/v1/events in\n"
		"batches of N (default %d, at most %d) over one keep-alive connection, retrying\n"
		"429, 503 and lost connections with backoff (honouring Retry-After) until\n"
		"SECONDS pass without progress (default %d; 0: never give up). What esupd\n"
		"acknowledged is recorded in --state (default esup-push.state): a rerun resumes\n"
		"after it. Rejected events are appended to --rejects (default\n"
		"esup-push.rejected.ndjson). --dry-run validates without storing and keeps no\n"
		"state. Exit 0: all acknowledged, none rejected; 1: some rejected; 2: usage,\n"
		"input, state or certificate error; 3: stopped before the end (rerun to resume).\n",
		BATCH_DEFAULT, BATCH_MAX, RETRY_MAX_DEFAULT);
}

/* ------------------------------------------------------------ output */

static void
clear_progress(struct push *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = false;
}

static void
say(struct push *p, const char *fmt, ...)
{
	va_list ap;

	clear_progress(p);
	fputs("esupctl push: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t
acked_bytes(const struct push *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->state.count; i++)
		n += p->state.inputs[i].bytes;
	return n;
}

static void
draw_progress(struct push *p, bool force)
{
	int64_t now = now_ms();
	double secs = (double)(now - p->started_ms) / 1000.0;
	uint64_t done = p->accepted + p->duplicate + p->rejected;
	char eta[48] = "";

	if (!p->progress || (!force && now - p->last_draw_ms < 100))
		return;
	p->last_draw_ms = now;
	if (p->total_bytes > 0 && secs > 0.2) {
		uint64_t bytes = acked_bytes(p);
		double rate = (double)(bytes - p->start_bytes) / secs;
		double pct = 100.0 * (double)bytes / (double)p->total_bytes;
		if (rate > 0 && bytes <= p->total_bytes) {
			long left = (long)((double)(p->total_bytes - bytes) / rate + 0.5);
			snprintf(eta, sizeof(eta), ", %.0f%%, ETA %ld:%02ld", pct > 100 ? 100 : pct,
				left / 60, left % 60);
		}
	}
	fprintf(stderr, "\r\033[Kesupctl push: %llu sent: %llu accepted, %llu duplicate, "
		"%llu rejected, %.0f events/s%s", (unsigned long long)p->sent,
		(unsigned long long)p->accepted, (unsigned long long)p->duplicate,
		(unsigned long long)p->rejected, secs > 0 ? (double)done / secs : 0.0, eta);
	fflush(stderr);
	p->drawn = true;
}

static void
summary(struct push *p)
{
	double secs = (double)(now_ms() - p->started_ms) / 1000.0;
	uint64_t done = p->accepted + p->duplicate + p->rejected;

	clear_progress(p);
	fprintf(stderr, "esupctl push: %llu events: %llu accepted, %llu duplicate, %llu rejected "
		"in %.1f s (%.0f events/s)\n", (unsigned long long)done,
		(unsigned long long)p->accepted, (unsigned long long)p->duplicate,
		(unsigned long long)p->rejected, secs, secs > 0 ? (double)done / secs : 0.0);
}

/* ------------------------------------------------------------ hashing */

static void
digest_hex(const EVP_MD_CTX *ctx, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *copy = EVP_MD_CTX_new();

	out[0] = '\0';
	if (copy == NULL || !EVP_MD_CTX_copy_ex(copy, ctx) || !EVP_DigestFinal_ex(copy, md, &n) ||
	    n != 32) {
		EVP_MD_CTX_free(copy);
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(copy);
}

/* ------------------------------------------------------------ the state file */

static bool
state_save(struct push *p)
{
	char tmp[PUSH_PATH_MAX + 8], dir[PUSH_PATH_MAX + 1];
	size_t len;
	char *text;
	int fd, dfd;
	bool ok;

	if (p->o.dry_run)
		return true;
	if ((text = push_state_format(&p->state, &len)) == NULL) {
		say(p, "out of memory");
		return false;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->o.state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	ok = ok && rename(tmp, p->o.state_path) == 0;
	free(text);
	if (!ok) {
		say(p, "state %s: %s", p->o.state_path, strerror(errno));
		return false;
	}
	snprintf(dir, sizeof(dir), "%s", p->o.state_path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return true;
}

/* The state of an earlier run when there is one and it is for these inputs; else a fresh
 * one. False (said) when it exists but cannot be used. */
static bool
state_load(struct push *p, const char *empty_sha)
{
	struct push_state old = { 0 };
	char err[256];
	bool other = false;
	FILE *f;
	char *text;
	size_t len;
	bool ok = true;

	for (size_t i = 0; i < p->nsrc; i++) {
		if (!push_state_add(&p->state, p->src[i].path)) {
			say(p, "%s: not a path a state can record", p->src[i].path);
			return false;
		}
		memcpy(p->state.inputs[i].sha256, empty_sha, 65);
	}
	if (p->o.dry_run || (f = fopen(p->o.state_path, "r")) == NULL) {
		if (p->o.dry_run || errno == ENOENT)
			return true;
		say(p, "state %s: %s", p->o.state_path, strerror(errno));
		return false;
	}
	text = malloc(PUSH_STATE_MAX_BYTES + 1);
	len = text != NULL ? fread(text, 1, PUSH_STATE_MAX_BYTES + 1, f) : 0;
	if (text == NULL || ferror(f)) {
		say(p, "state %s: cannot be read", p->o.state_path);
		ok = false;
	} else if (!push_state_parse(text, len, &old, err, sizeof(err))) {
		say(p, "state %s: %s", p->o.state_path, err);
		ok = false;
	} else if (old.count != p->nsrc) {
		ok = false;
		other = true;
	} else {
		for (size_t i = 0; i < p->nsrc; i++)
			ok = ok && strcmp(old.inputs[i].path, p->src[i].path) == 0;
		other = !ok;
	}
	if (other) {
		say(p, "state %s records the inputs %s%s of another push; give the same inputs "
			"to resume it, or another --state (or remove it) to start over",
			p->o.state_path, old.inputs[0].path, old.count > 1 ? " ..." : "");
	}
	for (size_t i = 0; ok && i < p->nsrc; i++) {
		p->state.inputs[i].bytes = old.inputs[i].bytes;
		p->state.inputs[i].lines = old.inputs[i].lines;
		memcpy(p->state.inputs[i].sha256, old.inputs[i].sha256, 65);
	}
	p->state.finished = ok && old.finished;   /* rewritten as it is until a batch is sent */
	push_state_finish(&old);
	free(text);
	fclose(f);
	return ok;
}

/* ------------------------------------------------------------ reading the inputs */

/* The next line of s into p->line (its first LINES_MAX_BYTES bytes; *too_long when it had
 * more), without its line feed or trailing CRs: 1, or 0 at the end, -1 on a read error. No
 * byte at or past stop_at is taken (a line cut there ends there). */
static int
source_line(struct push *p, struct source *s, uint64_t stop_at, size_t *len, bool *too_long)
{
	size_t raw = 0;

	*len = 0;
	*too_long = false;
	for (;;) {
		char *start, *nl;
		size_t avail, take;
		if (s->rpos == s->rlen) {
			/* read(2), not stdio: a line a producer has written to a pipe is sent
			 * without waiting for a buffer's worth after it */
			ssize_t n;
			s->rpos = s->rlen = 0;
			n = read(s->fd, s->rbuf, READ_CHUNK);
			if (n < 0 && errno == EINTR && !interrupted)
				continue;
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			s->rlen = (size_t)n;
		}
		start = s->rbuf + s->rpos;
		avail = s->rlen - s->rpos;
		nl = memchr(start, '\n', avail);
		take = nl != NULL ? (size_t)(nl - start) + 1 : avail;
		if (s->offset >= stop_at)
			break;
		if (take > stop_at - s->offset) {
			take = (size_t)(stop_at - s->offset);
			nl = NULL;
		}
		EVP_DigestUpdate(s->hash, start, take);
		s->offset += take;
		s->rpos += take;
		raw += take;
		s->last_nl = nl != NULL;
		if (*len + take <= LINES_MAX_BYTES) {
			memcpy(p->line + *len, start, take);
			*len += take;
		} else {
			*too_long = true;
		}
		if (nl != NULL || s->offset == stop_at)
			break;
	}
	if (raw == 0)
		return 0;
	s->lines++;
	while (*len > 0 && (p->line[*len - 1] == '\n' || p->line[*len - 1] == '\r'))
		(*len)--;
	p->line[*len] = '\0';
	return 1;
}

static void
source_close(struct source *s)
{
	if (s->fd > STDIN_FILENO)
		close(s->fd);
	s->fd = -1;
	EVP_MD_CTX_free(s->hash);
	s->hash = NULL;
	free(s->rbuf);
	s->rbuf = NULL;
	s->done = true;
}

static void
source_snapshot(struct source *s)
{
	s->pending.bytes = s->offset;
	s->pending.lines = s->lines;
	digest_hex(s->hash, s->pending.sha256);
	s->has_pending = true;
}

/* Opens input i and reads past what the state says is acknowledged, checking that it is
 * still there unchanged. False (said) when it cannot be opened or read or has changed. */
static bool
source_open(struct push *p, size_t i)
{
	struct source *s = &p->src[i];
	const struct push_input_state *acked = &p->state.inputs[i];
	char sha[65];
	size_t len;
	bool too_long;
	int r = 1;

	s->fd = strcmp(s->path, "-") == 0 ? STDIN_FILENO : open(s->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		say(p, "%s: %s", s->path, strerror(errno));
		return false;
	}
	s->hash = EVP_MD_CTX_new();
	s->rbuf = malloc(READ_CHUNK);
	s->last_nl = true;
	if (s->hash == NULL || s->rbuf == NULL || !EVP_DigestInit_ex(s->hash, EVP_sha256(), NULL)) {
		say(p, "out of memory");
		return false;
	}
	while (s->offset < acked->bytes &&
	    (r = source_line(p, s, acked->bytes, &len, &too_long)) == 1)
		;
	if (r < 0) {
		say(p, "%s: %s", s->path, strerror(errno));
		return false;
	}
	if (acked->bytes > 0)
		digest_hex(s->hash, sha);
	if (acked->bytes > 0 && (s->offset != acked->bytes || s->lines != acked->lines ||
	    strcmp(sha, acked->sha256) != 0)) {
		say(p, "%s does not match the state %s: its first %llu bytes (%llu lines) were "
			"acknowledged, and it %s; a state is for the input it was made with (which "
			"may grow, never change): give that input, or another --state to send this "
			"one", s->path, p->o.state_path, (unsigned long long)acked->bytes,
			(unsigned long long)acked->lines, s->offset < acked->bytes ?
			"is shorter now" : "does not start with them any more");
		return false;
	}
	s->tail_partial = !s->last_nl;
	return true;
}

static bool
batch_add(struct push *p, size_t src, const char *text, size_t len, bool too_long)
{
	struct item *it = &p->items[p->count];

	it->src = src;
	it->line = p->src[src].lines;
	it->too_long = too_long;
	it->off = p->body_len;
	it->len = too_long ? 0 : len;
	if (!too_long) {
		if (p->body_len + len + 1 > p->body_cap) {
			size_t ncap = p->body_cap == 0 ? 65536 : p->body_cap;
			char *nb;
			while (ncap < p->body_len + len + 1)
				ncap *= 2;
			if ((nb = realloc(p->body, ncap)) == NULL)
				return false;
			p->body = nb;
			p->body_cap = ncap;
		}
		memcpy(p->body + p->body_len, text, len);
		p->body[p->body_len + len] = '\n';
		p->body_len += len + 1;
	}
	p->count++;
	return true;
}

/* Fills the batch from the current input on: up to --batch events, fewer when the inputs end
 * or the body grows past BODY_SOFT_MAX. Every input it read from has a pending snapshot of
 * where it stopped. False (said) on an input error. */
static bool
batch_fill(struct push *p)
{
	p->count = 0;
	p->body_len = 0;
	while (p->cur < p->nsrc && p->count < p->o.batch && p->body_len < BODY_SOFT_MAX) {
		struct source *s = &p->src[p->cur];
		size_t len;
		bool too_long;
		int r;

		if (s->fd < 0 && !source_open(p, p->cur))
			return false;
		r = source_line(p, s, UINT64_MAX, &len, &too_long);
		if (r < 0) {
			say(p, "%s: %s", s->path, interrupted ? "interrupted" : strerror(errno));
			return false;
		}
		if (r == 1 && s->tail_partial && len == 0 && !too_long && s->last_nl) {
			/* the line feed that completes the last acknowledged line */
			s->tail_partial = false;
			s->lines--;
			continue;
		}
		if (r == 1 && s->tail_partial) {
			say(p, "%s: its last acknowledged line (%llu) had no line feed and has been "
				"extended since: the input changed under the state %s", s->path,
				(unsigned long long)s->lines, p->o.state_path);
			return false;
		}
		s->tail_partial = false;
		if (r == 0) {
			source_snapshot(s);
			source_close(s);
			p->cur++;
			continue;
		}
		if (!too_long && strspn(p->line, " \t") == len)
			continue;
		if (!batch_add(p, p->cur, p->line, len, too_long)) {
			say(p, "out of memory");
			return false;
		}
	}
	if (p->cur < p->nsrc && p->src[p->cur].fd >= 0)
		source_snapshot(&p->src[p->cur]);
	return true;
}

/* ------------------------------------------------------------ answers */

static bool
write_reject(struct push *p, const struct item *it, const char *id, json_t *errors)
{
	json_t *o, *ev = NULL;
	char *copy = NULL;
	int rc;

	if (p->rejects == NULL && (p->rejects = fopen(p->o.rejects_path, "a")) == NULL) {
		say(p, "rejects %s: %s", p->o.rejects_path, strerror(errno));
		json_decref(errors);
		return false;
	}
	if (!it->too_long) {
		ev = json_stringn(p->body + it->off, it->len);
		if (ev == NULL && (copy = malloc(it->len + 1)) != NULL) {
			/* not UTF-8: the bytes outside ASCII become '?' */
			for (size_t i = 0; i < it->len; i++) {
				unsigned char c = (unsigned char)p->body[it->off + i];
				copy[i] = c >= 0x80 || c == 0 ? '?' : (char)c;
			}
			ev = json_stringn(copy, it->len);
			free(copy);
		}
	}
	o = json_pack("{s:s, s:I, s:o, s:o}", "file", p->src[it->src].path,
		"line", (json_int_t)it->line, "errors", errors, "event", ev != NULL ? ev : json_null());
	if (o != NULL && id != NULL && id[0] != '\0')
		json_object_set_new(o, "id", json_string(id));
	rc = o != NULL ? json_dumpf(o, p->rejects, JSON_COMPACT) : -1;
	json_decref(o);
	if (rc != 0 || fputc('\n', p->rejects) == EOF) {
		say(p, "rejects %s: %s", p->o.rejects_path, strerror(errno));
		return false;
	}
	return true;
}

static json_t *
local_error(void)
{
	char expected[96];

	snprintf(expected, sizeof(expected), "a line of at most %d bytes", LINES_MAX_BYTES);
	return json_pack("[{s:s, s:s, s:s}]", "field", "", "expected", expected,
		"got", "a longer one (not sent)");
}

/* Counts a 200 answer's results against the batch and writes the rejected events. False
 * (said) when the answer does not fit the batch or the rejects file fails. */
static bool
take_answer(struct push *p, json_t *answer)
{
	json_t *results = json_object_get(answer, "results");
	size_t j = 0, sent = 0;

	for (size_t i = 0; i < p->count; i++)
		sent += !p->items[i].too_long;
	if (sent > 0 && (!json_is_array(results) || json_array_size(results) != sent)) {
		say(p, "the answer does not have one result per event sent (%zu)", sent);
		return false;
	}
	for (size_t i = 0; i < p->count; i++) {
		const struct item *it = &p->items[i];
		json_t *r;
		const char *status, *id;

		if (it->too_long) {
			p->rejected++;
			if (!write_reject(p, it, NULL, local_error()))
				return false;
			continue;
		}
		r = json_array_get(results, j++);
		status = json_string_value(json_object_get(r, "status"));
		id = json_string_value(json_object_get(r, "id"));
		if (status != NULL && strcmp(status, "accepted") == 0) {
			p->accepted++;
		} else if (status != NULL && strcmp(status, "duplicate") == 0) {
			p->duplicate++;
		} else if (status != NULL && strcmp(status, "rejected") == 0) {
			json_t *e = json_object_get(r, "error");
			p->rejected++;
			if (!write_reject(p, it, id, json_pack("[O]", e != NULL ? e : json_null())))
				return false;
		} else {
			say(p, "result %zu of the answer has no known status", j - 1);
			return false;
		}
	}
	return true;
}

/* The batch is acknowledged: rejects on disk, then the inputs it read move on, then the
 * state says so. */
static bool
acknowledge(struct push *p)
{
	if (p->rejects != NULL && (fflush(p->rejects) != 0 || fsync(fileno(p->rejects)) != 0)) {
		say(p, "rejects %s: %s", p->o.rejects_path, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < p->nsrc; i++) {
		struct source *s = &p->src[i];
		if (!s->has_pending)
			continue;
		p->state.inputs[i].bytes = s->pending.bytes;
		p->state.inputs[i].lines = s->pending.lines;
		memcpy(p->state.inputs[i].sha256, s->pending.sha256, 65);
		s->has_pending = false;
	}
	p->last_progress_ms = now_ms();
	return state_save(p);
}

/* ------------------------------------------------------------ sending */

enum sent { SENT_ACKED, SENT_STOPPED, SENT_FATAL };

/* Sleeps ms, waking early on a signal; false when interrupted. */
static bool
nap(struct push *p, int64_t ms)
{
	int64_t until = now_ms() + ms;

	while (!interrupted) {
		int64_t left = until - now_ms();
		if (left <= 0)
			return true;
		(void)poll(NULL, 0, left > 100 ? 100 : (int)left);
		draw_progress(p, false);
	}
	return false;
}

/* A short form of a refusal's body: its error message, else its first bytes. */
static void
refusal_text(const struct https_response *resp, char *out, size_t outlen)
{
	json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(e);
	const char *field = json_string_value(json_object_get(e, "field"));
	const char *expected = json_string_value(json_object_get(e, "expected"));
	const char *got = json_string_value(json_object_get(e, "got"));

	if (msg == NULL && expected != NULL)
		snprintf(out, outlen, "%.60s%sexpected %.100s, got %.100s", field != NULL ? field : "",
			field != NULL && field[0] != '\0' ? ": " : "", expected, got != NULL ? got : "");
	else
		snprintf(out, outlen, "%.200s", msg != NULL ? msg : resp->body != NULL ?
			resp->body : "");
	for (char *c = out; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	json_decref(j);
}

/* --retry-max-time has passed since the last acknowledged request: said, with how long. */
static enum sent
give_up(struct push *p, const char *why)
{
	say(p, "%s; giving up: no progress for %.1f s (--retry-max-time %ld)", why,
		(double)(now_ms() - p->last_progress_ms) / 1000.0, p->o.retry_max_s);
	return SENT_STOPPED;
}

static enum sent
send_batch(struct push *p)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	struct https_request req = {
		.method = "POST",
		.target = p->o.dry_run ? "/v1/events?dry_run=1" : "/v1/events",
		.headers = headers,
		.content_type = "application/x-ndjson",
		.body = p->body_len > 0 ? p->body : "",
		.body_len = p->body_len,
	};
	unsigned attempt = 0;

	p->sent += p->count;
	for (;;) {
		struct https_response resp;
		char err[HTTPS_ERR_MAX], why[300];
		bool ok = https_request(p->client, &req, &resp, err, sizeof(err));
		bool held;                   /* the wait is the server's Retry-After */
		int64_t delay;

		if (ok && resp.status == 200) {
			json_t *answer = json_loadb(resp.body, resp.body_len, 0, NULL);
			bool dry = json_is_true(json_object_get(answer, "dry_run"));
			bool taken = answer != NULL && take_answer(p, answer);
			if (answer == NULL)
				say(p, "the 200 answer is not JSON");
			/* a daemon that does not know dry runs stores them: stop at once */
			if (taken && p->o.dry_run && !dry) {
				say(p, "the daemon's answer is not a dry run's (no \"dry_run\": true): "
					"it does not know dry runs, and STORED the %zu events of this "
					"request; stopping", p->count);
				taken = false;
			}
			json_decref(answer);
			https_response_finish(&resp);
			return taken ? SENT_ACKED : SENT_FATAL;
		}
		if (!ok && https_client_failure(p->client) == HTTPS_FAIL_INTERRUPTED) {
			https_response_finish(&resp);
			return SENT_STOPPED;
		}
		if (!ok && https_client_failure(p->client) == HTTPS_FAIL_TLS) {
			say(p, "%s", err);
			https_response_finish(&resp);
			return SENT_FATAL;
		}
		if (ok && resp.status != 429 && resp.status != 503) {
			refusal_text(&resp, why, sizeof(why));
			say(p, "POST %s%s: HTTP %d: %s%s", p->o.url, req.target, resp.status, why,
				resp.status == 413 ? " (try a smaller --batch)" : "");
			https_response_finish(&resp);
			return SENT_FATAL;
		}
		if (ok) {
			char text[240];
			refusal_text(&resp, text, sizeof(text));
			snprintf(why, sizeof(why), "HTTP %d (%s)", resp.status, text);
		} else {
			snprintf(why, sizeof(why), "%s", err);
		}
		delay = push_backoff_ms(attempt++, ok ? resp.retry_after_s : -1, drand48());
		held = ok && resp.retry_after_s >= 0 && resp.retry_after_s * 1000 >= delay;
		https_response_finish(&resp);
		if (p->o.retry_max_s > 0) {
			int64_t left = p->o.retry_max_s * 1000 - (now_ms() - p->last_progress_ms);

			if (left <= 0)
				return give_up(p, why);
			/* The last wait ends at the limit. A backoff cut short retries there once
			 * more; a Retry-After is honoured: the limit comes first, and no retry. */
			if (delay > left && held) {
				say(p, "%s; Retry-After %.0f s passes --retry-max-time: waiting the "
					"%.1f s left", why, (double)delay / 1000.0, (double)left / 1000.0);
				return nap(p, left) ? give_up(p, why) : SENT_STOPPED;
			}
			if (delay > left)
				delay = left;
		}
		say(p, "%s; retry %u in %.1f s", why, attempt, (double)delay / 1000.0);
		if (!nap(p, delay))
			return SENT_STOPPED;
	}
}

/* ------------------------------------------------------------ the run */

static int
run(struct push *p)
{
	for (;;) {
		enum sent r;

		if (interrupted)
			return EXIT_STOPPED;
		if (!batch_fill(p))
			return interrupted ? EXIT_STOPPED : p->acked_any ? EXIT_STOPPED : EXIT_USAGE;
		if (p->cur == p->nsrc && p->count == 0)
			break;
		r = p->body_len > 0 ? send_batch(p) : SENT_ACKED;
		if (r == SENT_ACKED && p->body_len == 0 && !take_answer(p, NULL))
			r = SENT_FATAL;
		if (r == SENT_STOPPED)
			return EXIT_STOPPED;
		p->state.finished = false;    /* until this run has read every input to its end */
		if (r == SENT_FATAL || !acknowledge(p))
			return p->acked_any ? EXIT_STOPPED : EXIT_USAGE;
		p->acked_any = true;
		draw_progress(p, false);
	}
	p->state.finished = true;
	if (!acknowledge(p))
		return EXIT_STOPPED;
	return p->rejected > 0 ? EXIT_REJECTED : EXIT_OK;
}

static bool
parse_number(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "esupctl push: %s: expected a whole number from %ld to %ld, got "
			"'%s'\n", opt, min, max, s);
		return false;
	}
	*out = v;
	return true;
}

/* The flag's value, else the environment variable's; NULL when neither is set (or it is empty). */
static const char *
setting(const char *flag, const char *env)
{
	const char *v = flag != NULL ? flag : getenv(env);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "cacert", required_argument, NULL, 'a' },
		{ "ca", required_argument, NULL, 'a' },   /* as esupctl alerts spells it */
		{ "batch", required_argument, NULL, 'b' },
		{ "state", required_argument, NULL, 's' },
		{ "rejects", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "retry-max-time", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long n;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u': o->url = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->ca = optarg; break;
		case 's': o->state_path = optarg; break;
		case 'r': o->rejects_path = optarg; break;
		case 'n': o->dry_run = true; break;
		case 'q': o->quiet = true; break;
		case 'b':
			if (!parse_number("--batch", optarg, 1, BATCH_MAX, &n))
				return false;
			o->batch = (size_t)n;
			break;
		case 't':
			if (!parse_number("--retry-max-time", optarg, 0, 100000000, &n))
				return false;
			o->retry_max_s = n;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return false;
		}
	}
	/* What the flags leave out comes from the environment, as for esupctl alerts. */
	o->url = setting(o->url, "ESUP_URL");
	o->cert = setting(o->cert, "ESUP_CERT");
	o->key = setting(o->key, "ESUP_KEY");
	o->ca = setting(o->ca, "ESUP_CA");
	if (o->url == NULL || o->cert == NULL || o->key == NULL || o->ca == NULL) {
		fprintf(stderr, "esupctl push: no%s%s%s%s: --url, --cert, --key and --cacert (or "
			"ESUP_URL, ESUP_CERT, ESUP_KEY and ESUP_CA) are required\n",
			o->url == NULL ? " --url" : "", o->cert == NULL ? " --cert" : "",
			o->key == NULL ? " --key" : "", o->ca == NULL ? " --cacert" : "");
		usage(stderr);
		return false;
	}
	if (strlen(o->state_path) > PUSH_PATH_MAX) {
		fprintf(stderr, "esupctl push: --state: a path too long\n");
		return false;
	}
	return true;
}

/* The inputs, their total size when all are regular files; false (said) when one cannot be
 * read or stdin is named twice. */
static bool
take_inputs(struct push *p, int argc, char **argv)
{
	static const char *const stdin_only[] = { "-" };
	const char *const *names = argc > 0 ? (const char *const *)argv : stdin_only;
	size_t n = argc > 0 ? (size_t)argc : 1, stdins = 0;
	bool sized = true;

	if ((p->src = calloc(n, sizeof(*p->src))) == NULL)
		return false;
	p->nsrc = n;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int rc;

		p->src[i].path = names[i];
		p->src[i].fd = -1;
		if (strcmp(names[i], "-") == 0) {
			stdins++;
			rc = fstat(STDIN_FILENO, &st);
		} else if ((rc = stat(names[i], &st)) != 0 || access(names[i], R_OK) != 0) {
			fprintf(stderr, "esupctl push: %s: %s\n", names[i], strerror(errno));
			return false;
		}
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			fprintf(stderr, "esupctl push: %s: is a directory\n", names[i]);
			return false;
		}
		if (rc == 0 && S_ISREG(st.st_mode))
			p->total_bytes += (uint64_t)st.st_size;
		else
			sized = false;
	}
	if (stdins > 1) {
		fprintf(stderr, "esupctl push: stdin (-) given more than once\n");
		return false;
	}
	if (!sized)
		p->total_bytes = 0;
	return true;
}

/* path can be appended to, or created in its directory; false (said) otherwise. */
static bool
writable(const char *path)
{
	char dir[PUSH_PATH_MAX + 1];
	int rc;

	if (access(path, F_OK) == 0) {
		rc = access(path, W_OK);
	} else {
		snprintf(dir, sizeof(dir), "%s", path);
		rc = errno == ENOENT ? access(dirname(dir), W_OK | X_OK) : -1;
	}
	if (rc != 0)
		fprintf(stderr, "esupctl push: rejects %s: %s\n", path, strerror(errno));
	return rc == 0;
}

static void
push_finish(struct push *p)
{
	for (size_t i = 0; i < p->nsrc; i++)
		if (!p->src[i].done)
			source_close(&p->src[i]);
	free(p->src);
	push_state_finish(&p->state);
	https_client_destroy(p->client);
	if (p->rejects != NULL)
		fclose(p->rejects);
	free(p->body);
	free(p->items);
	free(p->line);
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;         /* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
push_main(int argc, char **argv)
{
	struct push p = { .o = {
		.state_path = "esup-push.state", .rejects_path = "esup-push.rejected.ndjson",
		.batch = BATCH_DEFAULT, .retry_max_s = RETRY_MAX_DEFAULT,
	} };
	char err[HTTPS_ERR_MAX], empty_sha[65];
	EVP_MD_CTX *empty = EVP_MD_CTX_new();
	int status = EXIT_USAGE;

	if (empty == NULL || !EVP_DigestInit_ex(empty, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(empty);
		return EXIT_USAGE;
	}
	digest_hex(empty, empty_sha);
	EVP_MD_CTX_free(empty);
	if (!parse_options(argc, argv, &p.o) || !take_inputs(&p, argc - optind, argv + optind))
		goto out;
	p.items = calloc(p.o.batch, sizeof(*p.items));
	p.line = malloc(LINES_MAX_BYTES + 1);
	if (p.items == NULL || p.line == NULL) {
		fprintf(stderr, "esupctl push: out of memory\n");
		goto out;
	}
	install_signals();
	p.client = https_client_create(&(struct https_options){ .url = p.o.url,
		.cert = p.o.cert, .key = p.o.key, .ca = p.o.ca, .timeout_ms = TIMEOUT_MS,
		.interrupted = &interrupted, .keep_alive = true }, err, sizeof(err));
	if (p.client == NULL) {
		fprintf(stderr, "esupctl push: %s\n", err);
		goto out;
	}
	/* the state and the rejects file must be writable before anything is sent: a batch the
	 * daemon acknowledged that cannot be recorded would be sent again by the rerun */
	if (!state_load(&p, empty_sha) || !state_save(&p) || !writable(p.o.rejects_path))
		goto out;
	srand48((long)time(NULL) ^ (long)getpid());
	p.progress = !p.o.quiet && isatty(STDERR_FILENO);
	p.started_ms = p.last_progress_ms = now_ms();
	p.last_draw_ms = p.started_ms - 1000;    /* the first answer is drawn at once */
	p.start_bytes = acked_bytes(&p);
	status = run(&p);
	if (status == EXIT_STOPPED)
		say(&p, "stopped before the end%s; %s", interrupted ? " (interrupted)" : "",
			p.o.dry_run ? "nothing was recorded (--dry-run)" :
			"what was acknowledged is in the state: rerun to resume");
	summary(&p);
out:
	push_finish(&p);
	return status;
}
