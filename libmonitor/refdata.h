/* refdata.h (private to libmonitor): the rows of the supervision reference tables (fee
 * items, penalty tiers, filing offices, officers, enterprises, regions, hearing thresholds), the shared
 * loader that reads any of them from CSV, and the look-ups the rules use. */
#ifndef MON_REFDATA_H
#define MON_REFDATA_H

#include <stdbool.h>
#include <stdint.h>

#include "csv.h"
#include "engine.h"

/* Internal to libmonitor: never exported, so a host program's own symbols cannot clash. */
#pragma GCC visibility push(hidden)

#define REF_NAME_MAX 256        /* bytes of a name, basis or description */
#define NO_CAP (-1)             /* an amount range without an upper bound */
#define USCC_LEN 18

enum penalty_severity { SEV_MINOR, SEV_GENERAL, SEV_SERIOUS };

struct fee_item {
	char code[MON_CODE_MAX + 1];
	char dept[MON_CODE_MAX + 1];
	char name[REF_NAME_MAX + 1];
	int64_t min_fen;
	int64_t max_fen;            /* NO_CAP: no standard ceiling */
	char basis[REF_NAME_MAX + 1];
	int32_t abolished_on;       /* first local day it may not be collected; -1 never */
	bool review_required;
	bool free;                  /* nothing may be collected */
};

struct penalty_tier {
	char violation[MON_CODE_MAX + 1];
	enum penalty_severity severity;
	int64_t min_fen;
	int64_t max_fen;
	char description[REF_NAME_MAX + 1];
};

struct filing_office {
	char office[MON_CODE_MAX + 1];
	int64_t min_fen;            /* inclusive */
	int64_t max_fen;            /* exclusive; NO_CAP */
	char name[REF_NAME_MAX + 1];
};

/* A department's own 听证 threshold (a State Council department's standard, which prevails
 * over the province's: 河南省行政处罚听证办法 §4). */
enum party_kind { PARTY_CITIZEN, PARTY_ORGANISATION };

struct hearing_threshold {
	char dept[MON_CODE_MAX + 1];
	enum party_kind kind;
	int64_t min_fen;             /* a notice from this amount (inclusive) */
	char basis[REF_NAME_MAX + 1];
};

struct officer {
	char id[MON_CODE_MAX + 1];
	char dept[MON_CODE_MAX + 1];
	char name[REF_NAME_MAX + 1];
	char certificate[REF_NAME_MAX + 1];
	int32_t valid_from;         /* local days, both inclusive */
	int32_t valid_to;
};

struct enterprise {
	char uscc[USCC_LEN + 1];
	char name[REF_NAME_MAX + 1];
	uint32_t quiet_days;        /* bit d set: day d of every month is a quiet day */
};

enum region_level { LEVEL_PROVINCE, LEVEL_CITY, LEVEL_COUNTY };

struct region {
	char code[7];
	char name[REF_NAME_MAX + 1];
	enum region_level level;
	char parent[7];             /* "" for a province */
};

/* refdata.c: one table's definition and the whole-file loader. */
struct table_def {
	const char *name;
	const char *const *columns;  /* the header, exactly */
	size_t column_count;
	size_t row_size;
	size_t rows_max;
	bool (*row)(const struct csv_row *row, void *out, struct mon_error *err);
	int (*cmp)(const void *a, const void *b);       /* order and uniqueness */
	const char *unique;                             /* what a duplicate breaks */
	bool (*check)(const struct table *t, struct mon_error *err);   /* optional */
};

void table_finish(struct table *t);
const void *table_find(const struct mon_ruleset *rs, enum table_id id, const void *key);

/* Field parsers shared by the table files; each fills *err (line and column) on failure. */
bool ref_code(const struct csv_row *row, size_t col, const char *column, const char *punct,
		char *out, struct mon_error *err);
bool ref_name(const struct csv_row *row, size_t col, const char *column, bool optional,
		char *out, struct mon_error *err);
bool ref_money(const struct csv_row *row, size_t col, const char *column, bool optional,
		int64_t *fen, struct mon_error *err);
bool ref_date(const struct csv_row *row, size_t col, const char *column, bool optional,
		int32_t *day, struct mon_error *err);
bool ref_bool(const struct csv_row *row, size_t col, const char *column, bool *out,
		struct mon_error *err);

/* The table definitions, one per file that owns the table's rules. */
extern const struct table_def fee_items_def;
extern const struct table_def penalty_tiers_def;
extern const struct table_def filing_offices_def;
extern const struct table_def officers_def;
extern const struct table_def enterprises_def;
extern const struct table_def regions_def;
extern const struct table_def hearing_thresholds_def;

/* Look-ups: NULL when absent. */
const struct fee_item *fee_item_find(const struct mon_ruleset *rs, const char *dept,
		const char *code);
const struct penalty_tier *penalty_tier_find(const struct mon_ruleset *rs,
		const char *violation, enum penalty_severity severity);
/* The office that files this amount: the loaded table, else the seed's defaults. */
const struct filing_office *filing_office_for(const struct mon_ruleset *rs, int64_t fen);
const struct filing_office *filing_office_find(const struct mon_ruleset *rs,
		const char *office);
const struct hearing_threshold *hearing_threshold_find(const struct mon_ruleset *rs,
		const char *dept, enum party_kind kind);
const struct enterprise *enterprise_find(const struct mon_ruleset *rs, const char *uscc);
/* The first row of officer `id` (rows of one id are adjacent), with their number. */
const struct officer *officers_of(const struct mon_ruleset *rs, const char *id, size_t *n);

bool table_has_rows(const struct mon_ruleset *rs, enum table_id id);
const char *penalty_severity_name(enum penalty_severity s);
bool penalty_severity_parse(const char *s, enum penalty_severity *out);

#pragma GCC visibility pop

#endif
