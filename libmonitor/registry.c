/* registry.c: the rule families, in the order their rules are listed (mon_rule_code) and
 * cases are judged (mon_case_evaluate), and the lookups from a rule's or parameter's table
 * entry to its place in the registry. */
#include "engine.h"

#include <stdint.h>

const struct rule_family *const rule_families[] = {
	&ladder_family,
	&checks_family,
	&reports_family,
	&fees_family,
	&penalties_family,
	&enforcement_family,
	&service_family,
	&trade_family,
	&stats_family,
};

const size_t rule_family_count = sizeof(rule_families) / sizeof(rule_families[0]);

size_t rule_index(const struct rule_def *rule)
{
	size_t base = 0;

	for (size_t f = 0; f < rule_family_count; f++) {
		const struct rule_family *fam = rule_families[f];
		for (size_t i = 0; i < fam->rule_count; i++) {
			if (&fam->rules[i] == rule)
				return base + i;
		}
		base += fam->rule_count;
	}
	return SIZE_MAX;
}

size_t param_index(const struct param_def *param)
{
	size_t base = 0;

	for (size_t f = 0; f < rule_family_count; f++) {
		const struct rule_family *fam = rule_families[f];
		for (size_t i = 0; i < fam->param_count; i++) {
			if (&fam->params[i] == param)
				return base + i;
		}
		base += fam->param_count;
	}
	return SIZE_MAX;
}

const struct rule_def *rule_at(size_t i)
{
	for (size_t f = 0; f < rule_family_count; f++) {
		if (i < rule_families[f]->rule_count)
			return &rule_families[f]->rules[i];
		i -= rule_families[f]->rule_count;
	}
	return NULL;
}

const struct param_def *param_at(size_t i)
{
	for (size_t f = 0; f < rule_family_count; f++) {
		if (i < rule_families[f]->param_count)
			return &rule_families[f]->params[i];
		i -= rule_families[f]->param_count;
	}
	return NULL;
}

size_t rule_total(void)
{
	size_t n = 0;

	for (size_t f = 0; f < rule_family_count; f++)
		n += rule_families[f]->rule_count;
	return n;
}

size_t param_total(void)
{
	size_t n = 0;

	for (size_t f = 0; f < rule_family_count; f++)
		n += rule_families[f]->param_count;
	return n;
}
