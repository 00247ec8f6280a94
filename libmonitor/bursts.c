/* bursts.c: frequency/timeframe grouping, the way rule daemons count "N events within T"
 * (OSSEC/Wazuh frequency rules), without state: a window of `days` days after an item's
 * day qualifies when it holds enough items (or enough departments); windows that share an
 * item are one burst, raised once. A period counts as 民法典 §201 counts one: "按照年、月、日
 * 计算期间的，开始的当日不计入，自下一日开始计算" — the item's own day is not counted, the
 * `days` local days after it are, so the window holds the items from that day through the
 * `days`-th day after it (30 days from 03-02 end with 04-01). Whoever evaluates any member of a burst
 * computes the same first member, and so the same dedup key. Two pointers keep it linear
 * in the number of items. */
#include "engine.h"

#include <stdlib.h>

/* The instant the window starting at `first` reached `need`: its need-th item, or the item
 * that brought its need-th department. */
static int64_t window_since(const struct burst_item *items, size_t first, int need,
		bool distinct, size_t *seen_at)
{
	int distinct_count = 0;

	if (!distinct)
		return items[first + (size_t)need - 1].ce->event->at;
	for (size_t i = first;; i++) {
		/* seen_at[d] == first + 1 marks "seen in this scan"; indexes shift by one so 0 is
		 * never a valid mark. */
		if (seen_at[items[i].dept] != first + 1) {
			seen_at[items[i].dept] = first + 1;
			if (++distinct_count == need)
				return items[i].ce->event->at;
		}
	}
}

bool bursts_find(const struct burst_item *items, size_t n, int days, int need, bool distinct,
		struct burst *out, size_t *count)
{
	size_t *per_dept = calloc(n > 0 ? n : 1, sizeof(*per_dept));
	size_t *seen_at = calloc(n > 0 ? n : 1, sizeof(*seen_at));
	size_t end = 0, depts = 0;
	bool qualifies;

	*count = 0;
	if (per_dept == NULL || seen_at == NULL) {
		free(per_dept);
		free(seen_at);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		/* Window [i, end): the items of item i's day and the `days` days after it. */
		while (end < n && items[end].day - items[i].day <= days) {
			if (per_dept[items[end].dept]++ == 0)
				depts++;
			end++;
		}
		qualifies = (distinct ? depts : end - i) >= (size_t)need;
		if (qualifies && *count > 0 && i <= out[*count - 1].last) {
			/* It shares item i with the burst before: that burst goes on. */
			if (end - 1 > out[*count - 1].last)
				out[*count - 1].last = end - 1;
		} else if (qualifies) {
			out[*count].first = i;
			out[*count].last = end - 1;
			out[*count].since = window_since(items, i, need, distinct, seen_at);
			(*count)++;
		}
		if (--per_dept[items[i].dept] == 0)
			depts--;
	}
	free(per_dept);
	free(seen_at);
	return true;
}
