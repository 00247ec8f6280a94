/* push_state.h: the pure parts of `esupctl push` (push.c): its state file's text form and
 * the retry delay. No I/O, no clock, no randomness of their own, so that tests/unit can pin
 * them down.
 *
 * The state file, written whole after every acknowledged request:
 *
 *     esup-push-state 1
 *     status running|finished
 *     input BYTES LINES SHA256 PATH
 *     ...
 *
 * one `input` line per input in the order given (PATH "-" is stdin; the rest of the line, so
 * it may hold spaces but no line break): the first BYTES bytes of it, LINES lines, whose
 * SHA-256 is SHA256 (64 lower-case hex digits), are acknowledged. `finished` means every
 * input was acknowledged to its end when the state was written. */
#ifndef ESUP_PUSH_STATE_H
#define ESUP_PUSH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUSH_STATE_MAX_BYTES (1024 * 1024)   /* a longer state file is refused */
#define PUSH_STATE_INPUTS_MAX 10000
#define PUSH_PATH_MAX 4096

struct push_input_state {
	char *path;                  /* owned */
	uint64_t bytes;              /* acknowledged prefix */
	uint64_t lines;              /* lines in it, blank ones included */
	char sha256[65];             /* of the prefix, hex */
};

struct push_state {
	bool finished;
	size_t count;
	struct push_input_state *inputs;    /* owned, count of them */
};

/* Parses a state file's text (len bytes, need not be NUL-terminated) into st, which the
 * caller releases with push_state_finish whatever the result. False with err set (the line
 * and what was expected there) when the text is not a state file. */
bool push_state_parse(const char *text, size_t len, struct push_state *st, char *err,
	size_t errlen) __attribute__((warn_unused_result));

/* The text of st, malloc'ed and NUL-terminated (*len without the NUL); NULL when out of
 * memory or a path holds a line break. */
char *push_state_format(const struct push_state *st, size_t *len);

/* Adds an input (path copied); false when out of memory or the path cannot be stored (empty,
 * a line break, longer than PUSH_PATH_MAX). */
bool push_state_add(struct push_state *st, const char *path)
	__attribute__((warn_unused_result));

void push_state_finish(struct push_state *st);

#define PUSH_BACKOFF_BASE_MS 500
#define PUSH_BACKOFF_CAP_MS 30000

/* The wait before retry number attempt (0 for the first retry): "full jitter", u times
 * min(cap, base * 2^attempt) with u in [0, 1) drawn by the caller, but never less than the
 * server's Retry-After (retry_after_s >= 0; -1 when it sent none). In milliseconds. */
int64_t push_backoff_ms(unsigned attempt, long retry_after_s, double u);

#endif
