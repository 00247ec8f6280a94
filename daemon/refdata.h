/* refdata.h: the ruleset built from the reference tables (calendar, catalogue, ...). Loaded on
 * the reader connection when it connects, on NOTIFY esup_refdata and on SIGHUP; a load builds a
 * whole new ruleset and swaps it in only if every table parsed, so a bad row keeps the old one. */
#ifndef ESUP_REFDATA_H
#define ESUP_REFDATA_H

#include "config.h"
#include "mon_rules.h"

struct db;
struct refdata;

/* Told after each load: swapped is true when a new ruleset replaced the old one (the deadlines
 * of open cases must be re-derived), false when the load was refused or failed (see
 * refdata_error). */
typedef void refdata_loaded_cb(bool swapped, void *arg);

struct refdata *refdata_create(struct db *reader, refdata_loaded_cb *loaded, void *arg);
void refdata_destroy(struct refdata *rd);
/* Asks for a fresh load, applying cfg's [rules] to the ruleset it builds. cfg must outlive
 * the load (the daemon's current configuration). */
void refdata_reload(struct refdata *rd, const struct config *cfg);
/* The current ruleset; NULL until the first load succeeded. Valid until the next swap, which
 * only happens in a reader callback: use it within one callback, never keep it. */
const struct mon_ruleset *refdata_rules(const struct refdata *rd);
/* The SHA-256 (64 hex digits) of what the current ruleset was made of: this build of esupd and
 * libmonitor, every reference table, the [rules] section and the test clock's offset; "" until
 * the first load succeeded. Two loads of the same rules have the same digest: the sweeper
 * re-derives the open cases only when it is new (sweeper_rederive). Valid until the next swap. */
const char *refdata_digest(const struct refdata *rd);
/* Why the last load did not swap in a ruleset ("" after a successful one): a refused table
 * with its field, expected and got, or the database's error. */
const char *refdata_error(const struct refdata *rd);

/* Loads finished since creation, by result, and how long the last one took (query sent to
 * ruleset built or refused), for /metrics. */
enum refdata_result { REFDATA_OK, REFDATA_REFUSED, REFDATA_LOST, REFDATA_RESULTS };
extern const char *const refdata_result_names[REFDATA_RESULTS];
unsigned long refdata_loads(const struct refdata *rd, enum refdata_result result);
double refdata_last_duration_s(const struct refdata *rd);

#endif
