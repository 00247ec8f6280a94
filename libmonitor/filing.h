/* filing.h (private to libmonitor): 罚款收费备案 (seed 002 item 11), shared by the fines of
 * penalties.c and the fees of fees.c: which office files an amount (the filing_offices table,
 * else the seed's bands), and whether a fine or fee was filed, on time, with that office.
 *
 * A filing is the `filing` object ({office, ref, amount?, filed_at?}) of an event: of the
 * decision or collection itself, or of a penalty.filed / fee.filed. It is filed at its
 * `filed_at`, else at the `at` of the event that carries it; it files its `amount` (the
 * proposed, 拟, amount), else the amount of the fine or fee it belongs to, and its office is
 * judged by the larger of the two (a decision above the proposal's band is filed with the
 * higher band's office). It is due before
 * the decision or collection: at its instant, or within filing_grace_days working days after
 * it (0 by default: the seed's "拟罚款、收费" is filed before). */
#ifndef MON_FILING_H
#define MON_FILING_H

#include <stdbool.h>
#include <stdint.h>

#include "refdata.h"

#pragma GCC visibility push(hidden)

/* One fine or fee that the seed wants filed. */
struct filing_duty {
	const struct mon_case_event *ce;   /* the penalty.decided or fee.collected */
	int64_t fen;                       /* the amount decided or collected */
	const char *what;                  /* "罚款" or "收费", for messages */
	const char *act;                   /* "decision" or "collection", for messages */
	const char *done;                  /* "decided" or "collected", for messages */
};

/* True when the party or payer object is an enterprise (a `uscc`): the seed's system is
 * 涉企 (对企业进行罚款、收费), so a citizen's fine or fee files nothing. */
bool filing_party_is_enterprise(const json_t *party);

/* True when the event carries a `filing` object. */
bool filing_carried(const struct mon_case_event *ce);

/* The office the carrier's filing names, or NULL. */
const char *filing_office_named(const struct mon_case_event *carrier);

/* The carrier's filing names the office for the larger of its proposed amount and the duty's
 * (the message says both when they differ), else `rule` is raised
 * (keyed by the carrier's id, since its time, with the duty and the carrier as evidence). */
void filing_check_office(const struct history *h, struct conditions *list,
		const struct rule_def *rule, const struct filing_duty *d,
		const struct mon_case_event *carrier);

/* The duty is filed by its own filing or by one of `filings` (events carrying one) at or
 * before its due instant; else `rule` is raised, keyed by the duty's id, from one second after
 * it. While nothing is filed and the due instant is ahead, offers next_check that second;
 * except for an event without a case (judged once, on arrival, and only it can carry its
 * filing), which unfiled holds from its own instant. A duty of 0 yuan files nothing. */
void filing_check_time(const struct history *h, struct conditions *list,
		const struct rule_def *rule, const struct filing_duty *d,
		const struct mon_case_event *const *filings, size_t n, int64_t *next);

#pragma GCC visibility pop

#endif
