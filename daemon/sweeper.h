/* sweeper.h: time moves cases on. Every interval the sweeper takes the cases whose next check
 * has come (cases.next_check_at <= now, FOR UPDATE SKIP LOCKED, so several esupd can share a
 * database) and re-derives them, raising the warnings and cards that time alone brings. Its
 * cost follows the number of due cases, not the number of open ones. */
#ifndef ESUP_SWEEPER_H
#define ESUP_SWEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct db;
struct refdata;
struct sweeper;
struct metrics;

typedef int64_t sweeper_clock(void *arg);

struct sweeper *sweeper_create(struct event_base *base, struct db *db, const struct refdata *rd,
		sweeper_clock *now, void *now_arg);
void sweeper_destroy(struct sweeper *sw);
/* Sets the period, the cases taken per transaction and the open cases a marking step marks
 * (below); starts the timer. */
void sweeper_configure(struct sweeper *sw, unsigned interval_ms, size_t batch, size_t mark_batch);
/* Marks every open case due when the rules just loaded (refdata_digest) are not those the open
 * cases were last re-derived under (a new calendar moves deadlines); the next sweeps then
 * re-derive them in batches, beside ingest. The marking goes in steps of mark_batch cases, each
 * its own transaction, one before each sweep (migration 032), and is taken up where it stopped
 * by the next load of the same rules (a restart, this or another daemon). Logs, once per load,
 * "rules changed: N open cases to re-derive" when the marking of new rules is finished (every
 * open case is then due), or "rules unchanged since the open cases were last re-derived". */
void sweeper_rederive(struct sweeper *sw);
/* Told by main when the sweeper's connection comes up: a re-derivation asked for while it was
 * down runs at once, not a whole interval later (the tick that found the connection down
 * re-armed for the interval). */
void sweeper_db_up(struct sweeper *sw);
/* No new sweeps. A sweep in flight goes on to its COMMIT (or fails with its connection). */
void sweeper_stop(struct sweeper *sw);
/* For exit: stops as sweeper_stop, then calls drained once no sweep is in flight (at once,
 * before returning, if none is). Until then the sweep's case evaluation holds memory that only
 * its query's callback frees: a connection destroyed under it would drop it (db_destroy). */
void sweeper_drain(struct sweeper *sw, void (*drained)(void *arg), void *arg);
/* The alerts a sweep's evaluation raises are counted in metrics once the sweep committed;
 * metrics outlives the sweeper. False when out of memory. */
bool sweeper_set_metrics(struct sweeper *sw, struct metrics *metrics)
	__attribute__((warn_unused_result));

#endif
