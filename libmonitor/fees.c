/* fees.c: the fee catalogue (收费目录: item, standard amount or range, legal basis, date
 * abolished, review required, free of charge) and the fee rules: a fee outside the
 * catalogue or abolished, above its standard, collected without review (无审核收费) or on a
 * free item, filed before collection with the office its amount calls for (涉企收费
 * 备案, seed 002 item 11: filing.c, shared with fines), and each refund recorded as the
 * correction of an earlier collection. A fee is judged on its own: every condition is keyed
 * by the event's id (a fee.filed's office by the fee.filed's). */
#include "filing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

enum {
	RULE_FEE_ITEM_UNKNOWN,
	RULE_FEE_ITEM_ABOLISHED,
	RULE_FEE_OVER_STANDARD,
	RULE_FEE_NO_REVIEW,
	RULE_FEE_FREE_ITEM,
	RULE_FEE_REFUND,
	RULE_FEE_FILING_MISSING,
	RULE_FEE_FILING_OFFICE,
};

static const struct rule_def rules[] = {
	[RULE_FEE_ITEM_UNKNOWN] = { "FEE-ITEM-UNKNOWN", MON_SEVERITY_YELLOW },
	[RULE_FEE_ITEM_ABOLISHED] = { "FEE-ITEM-ABOLISHED", MON_SEVERITY_RED },
	[RULE_FEE_OVER_STANDARD] = { "FEE-OVER-STANDARD", MON_SEVERITY_YELLOW },
	[RULE_FEE_NO_REVIEW] = { "FEE-NO-REVIEW", MON_SEVERITY_YELLOW },
	[RULE_FEE_FREE_ITEM] = { "FEE-FREE-ITEM", MON_SEVERITY_RED },
	[RULE_FEE_REFUND] = { "FEE-REFUND", MON_SEVERITY_NOTICE },
	[RULE_FEE_FILING_MISSING] = { "FEE-FILING-MISSING", MON_SEVERITY_YELLOW },
	[RULE_FEE_FILING_OFFICE] = { "FEE-FILING-OFFICE", MON_SEVERITY_YELLOW },
};

static const char *const fee_columns[] = {
	"code", "dept", "name", "min_amount", "max_amount", "basis", "abolished_on",
	"review_required", "free",
};

static int cmp_fee_item(const void *a, const void *b)
{
	const struct fee_item *x = a, *y = b;
	int c = strcmp(x->dept, y->dept);

	return c != 0 ? c : strcmp(x->code, y->code);
}

static bool fee_item_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct fee_item *f = out;

	memset(f, 0, sizeof(*f));
	if (!ref_code(row, 0, "code", "._-", f->code, err) ||
			!ref_code(row, 1, "dept", "_-", f->dept, err) ||
			!ref_name(row, 2, "name", false, f->name, err) ||
			!ref_money(row, 3, "min_amount", false, &f->min_fen, err) ||
			!ref_money(row, 4, "max_amount", true, &f->max_fen, err) ||
			!ref_name(row, 5, "basis", true, f->basis, err) ||
			!ref_date(row, 6, "abolished_on", true, &f->abolished_on, err) ||
			!ref_bool(row, 7, "review_required", &f->review_required, err) ||
			!ref_bool(row, 8, "free", &f->free, err))
		return false;
	if (f->max_fen != NO_CAP && f->max_fen < f->min_fen) {
		csv_error(err, row, "max_amount", "empty, or at least min_amount", row->fields[4]);
		return false;
	}
	/* A free item's standard is nothing; a range on it would contradict the flag. */
	if (f->free && (f->min_fen != 0 || f->max_fen != 0)) {
		csv_error(err, row, "free", "false, or min_amount and max_amount both 0.00",
			row->fields[8]);
		return false;
	}
	return true;
}

const struct table_def fee_items_def = {
	.name = "fee_items",
	.columns = fee_columns,
	.column_count = sizeof(fee_columns) / sizeof(fee_columns[0]),
	.row_size = sizeof(struct fee_item),
	.rows_max = 100000,
	.row = fee_item_row,
	.cmp = cmp_fee_item,
	.unique = "each (dept, code) at most once",
	.check = NULL,
};

const struct fee_item *fee_item_find(const struct mon_ruleset *rs, const char *dept,
		const char *code)
{
	struct fee_item key;

	if (strlen(dept) > MON_CODE_MAX || strlen(code) > MON_CODE_MAX)
		return NULL;
	memcpy(key.dept, dept, strlen(dept) + 1);
	memcpy(key.code, code, strlen(code) + 1);
	return table_find(rs, TABLE_FEE_ITEMS, &key);
}

/* What the catalogue says about the amount: abolished, free, or above the standard. */
static void check_standard(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce, const struct fee_item *item, int64_t fen)
{
	char amount[24], max[24], date[16];
	struct mon_condition *c;

	mon_money_format(fen, amount, sizeof(amount));
	if (item->abolished_on >= 0 && mon_day_of(ce->event->at) >= item->abolished_on) {
		if ((c = condition_for_event(list, h, &rules[RULE_FEE_ITEM_ABOLISHED], ce)) != NULL) {
			mon_day_format(item->abolished_on, date, sizeof(date));
			condition_message(c, "红牌: 收取已取消的收费项目 (%s %s abolished on %s, "
				"%s yuan collected)", item->code, item->name, date, amount);
		}
	} else if (item->free && fen > 0) {
		if ((c = condition_for_event(list, h, &rules[RULE_FEE_FREE_ITEM], ce)) != NULL)
			condition_message(c, "红牌: 免费项目收费 (%s %s is free of charge, %s yuan "
				"collected)", item->code, item->name, amount);
	} else if (item->max_fen != NO_CAP && fen > item->max_fen) {
		if ((c = condition_for_event(list, h, &rules[RULE_FEE_OVER_STANDARD], ce)) != NULL) {
			mon_money_format(item->max_fen, max, sizeof(max));
			condition_message(c, "黄牌: 超标准收费 (%s yuan for %s, standard at most %s)",
				amount, item->code, max);
		}
	}
}

static void check_collected(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	const char *code = event_string(ce, "fee_item");
	const struct fee_item *item;
	struct mon_condition *c;
	int64_t fen;

	/* Without a catalogue there is nothing to judge by: the rules wait for one. */
	if (code == NULL || !event_money(ce, "amount", &fen) ||
			!table_has_rows(h->rs, TABLE_FEE_ITEMS))
		return;
	item = fee_item_find(h->rs, ce->event->dept, code);
	if (item == NULL) {
		if ((c = condition_for_event(list, h, &rules[RULE_FEE_ITEM_UNKNOWN], ce)) != NULL)
			condition_message(c, "黄牌: 目录外收费 (fee item %s is not in the catalogue of "
				"%s)", code, ce->event->dept);
		return;
	}
	check_standard(h, list, ce, item, fen);
	if (item->review_required && event_string(ce, "reviewer") == NULL &&
			(c = condition_for_event(list, h, &rules[RULE_FEE_NO_REVIEW], ce)) != NULL)
		condition_message(c, "黄牌: 无审核收费 (%s %s requires a reviewer)", item->code,
			item->name);
}

/* A refund corrects an earlier collection: recorded, so corrections can be counted. */
static void note_refund(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	const char *code = event_string(ce, "fee_item"), *of = event_string(ce, "of");
	struct mon_condition *c;
	char amount[24];
	int64_t fen;

	if (code == NULL || !event_money(ce, "amount", &fen) ||
			(c = condition_for_event(list, h, &rules[RULE_FEE_REFUND], ce)) == NULL)
		return;
	mon_money_format(fen, amount, sizeof(amount));
	if (of != NULL)
		condition_message(c, "预警: 收费退还纠正 (%s yuan of %s refunded, correcting %s)",
			amount, code, of);
	else
		condition_message(c, "预警: 收费退还纠正 (%s yuan of %s refunded, collection not "
			"named)", amount, code);
	condition_evidence_id(c, of);
}

/* A fee.filed covers the collections of its case of its fee_item (any, when it names none). */
static bool filed_for(const struct mon_case_event *filed, const struct mon_case_event *fee)
{
	const char *item = event_string(filed, "fee_item");

	return item == NULL || strcmp(item, event_string(fee, "fee_item")) == 0;
}

/* An enterprise's fee (涉企收费) of more than 0 is a duty to file; false for any other. */
static bool fee_duty(const struct mon_case_event *ce, struct filing_duty *d)
{
	*d = (struct filing_duty){ .ce = ce, .what = "收费", .act = "collection",
		.done = "collected" };
	return ce->event->type == MON_EV_FEE_COLLECTED &&
		filing_party_is_enterprise(json_object_get(ce->event->body, "payer")) &&
		event_string(ce, "fee_item") != NULL && event_money(ce, "amount", &d->fen);
}

/* 备案 of each enterprise fee: its own filing, or a fee.filed of the case for its item, on
 * time (filing.c) and with the office its amount calls for (the larger of the proposed and
 * the collected). */
static void check_filings(const struct history *h, struct conditions *list, int64_t *next)
{
	const struct mon_case_event **filed = calloc(h->count > 0 ? 2 * h->count : 1,
		sizeof(*filed));
	const struct mon_case_event **mine;
	size_t nfiled = 0;
	struct filing_duty d;

	if (filed == NULL) {
		list->failed = true;
		return;
	}
	mine = filed + h->count;
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_FEE_FILED)
			filed[nfiled++] = h->events[i];
	}
	for (size_t i = 0; i < h->count; i++) {
		size_t n = 0;
		if (!fee_duty(h->events[i], &d))
			continue;
		for (size_t j = 0; j < nfiled; j++) {
			if (filed_for(filed[j], d.ce))
				mine[n++] = filed[j];
		}
		filing_check_time(h, list, &rules[RULE_FEE_FILING_MISSING], &d, mine, n, next);
		filing_check_office(h, list, &rules[RULE_FEE_FILING_OFFICE], &d, d.ce);
	}
	free(filed);
}

/* A fee.filed names the office of the fee it files: the latest of its item collected at or
 * before it, else (filed ahead, as it should be) the first after it. */
static void check_filed_offices(const struct history *h, struct conditions *list)
{
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *filed = h->events[i];
		struct filing_duty d, best = { .ce = NULL };
		if (filed->event->type != MON_EV_FEE_FILED)
			continue;
		for (size_t j = 0; j < h->count; j++) {
			if (!fee_duty(h->events[j], &d) || !filed_for(filed, d.ce))
				continue;
			if (best.ce == NULL || d.ce->event->at <= filed->event->at)
				best = d;
			if (d.ce->event->at > filed->event->at)
				break;
		}
		if (best.ce != NULL)
			filing_check_office(h, list, &rules[RULE_FEE_FILING_OFFICE], &best, filed);
	}
}

static void fees_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type == MON_EV_FEE_COLLECTED)
			check_collected(h, list, ce);
		else if (ce->event->type == MON_EV_FEE_REFUNDED)
			note_refund(h, list, ce);
	}
	check_filings(h, list, &state->next_check);
	check_filed_offices(h, list);
}

const struct rule_family fees_family = {
	.name = "fees",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = NULL,
	.param_count = 0,
	.evaluate = fees_evaluate,
};
