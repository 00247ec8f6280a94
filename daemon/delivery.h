/* delivery.h: alert changes to webhook receivers ([receiver.NAME] in esupd.conf), at least once,
 * in order, through the transactional outbox.
 *
 * The outbox is alert_actions: every change to an alert writes its row in the same transaction.
 * Each receiver reads it in position order (xid, id), only below the oldest transaction still
 * running, from its durable cursor (delivery_cursors), keeps the actions its routing wants
 * (region and scope, minimum severity, action kinds), POSTs them in batches as JSON modelled on
 * Alertmanager's webhook, and logs every attempt in deliveries. A 2xx moves the cursor in the
 * statement that logs the attempt; anything else is retried with exponential backoff, never
 * dropped and never overtaken. Receivers are independent of each other: each has its own HTTP
 * connection on the loop. Every query goes through the reader connection, one statement each;
 * ingest never waits for a receiver. */
#ifndef ESUP_DELIVERY_H
#define ESUP_DELIVERY_H

#include <event2/event.h>

struct config;
struct db;
struct delivery;

/* Delivery for the receivers of cfg, reading through db (the reader: autocommit). Listens to
 * NOTIFY esup_alert on db to look for work at once. Returns NULL when out of memory or when
 * the TLS context for https receivers cannot be made (logged). */
struct delivery *delivery_create(struct event_base *base, struct db *db, const struct config *cfg);
/* At exit, with the loop stopped: frees everything, attempts in flight included (their
 * callbacks are not called). Accepts NULL. */
void delivery_destroy(struct delivery *dl);

/* SIGHUP: receivers added start, receivers removed stop (an attempt in flight is abandoned;
 * its batch goes again from the cursor if it is configured again later), the others take their
 * new settings from the next attempt on. Keeps the old TLS context when the new one fails. */
void delivery_configure(struct delivery *dl, const struct config *cfg);

/* The periodic job (every [delivery] poll_ms): each idle receiver looks for undelivered
 * actions. NOTIFY esup_alert wakes them between ticks; the tick catches what a NOTIFY cannot
 * (a row held back below an older transaction, a lost connection). Until the periodic-jobs
 * module runs it, delivery calls it from its own timer (delivery_configure arms it). */
void delivery_job_tick(struct delivery *dl);

/* SIGTERM: no new attempts; those in flight end with the process. */
void delivery_stop(struct delivery *dl);

#endif
