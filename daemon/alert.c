/* alert.c: alert scopes, state and action names, and the outcomes of an action. See alert.h. */
#include "alert.h"

#include <stdio.h>
#include <string.h>

static const char *const alert_states[] = {
	"held", "open", "acknowledged", "appealed", "suppressed",
	"resolved", "dismissed", "revoked", "cancelled", "superseded",
};

/* The actions of a person (POST /v1/alerts/{id}/{action}); raise, suppress, issue and
 * supersede are the daemon's own. */
static const char *const alert_actions[] = {
	"ack", "appeal", "reject", "revoke", "resolve", "dismiss", "confirm", "cancel", "escalate",
};

static const struct {
	const char *name;
	enum alert_outcome outcome;
	int http_status;
} alert_outcomes[] = {
	{ "done", ALERT_DONE, 200 },
	{ "illegal", ALERT_ILLEGAL, 409 },
	{ "forbidden", ALERT_FORBIDDEN, 403 },
	{ "not_found", ALERT_NOT_FOUND, 404 },
	{ "bad_request", ALERT_BAD_REQUEST, 400 },
};

#define ALERT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

size_t
region_prefix_len(const char *region)
{
	size_t len = strlen(region);

	while (len >= 2 && region[len - 1] == '0' && region[len - 2] == '0')
		len -= 2;
	return len;
}

bool
region_covers(const char *scope, const char *region)
{
	return strncmp(scope, region, region_prefix_len(scope)) == 0;
}

void
alert_scope_init(struct alert_scope *scope, const struct principal *p)
{
	memset(scope, 0, sizeof(*scope));
	if (p->role == ROLE_DEPARTMENT) {
		snprintf(scope->dept, sizeof(scope->dept), "%s", p->dept);
		return;
	}
	snprintf(scope->prefix, sizeof(scope->prefix), "%.*s", (int)region_prefix_len(p->region),
		p->region);
	scope->escalated = p->role == ROLE_SUPERVISOR;
}

void
alert_scope_params(const struct alert_scope *scope, const char **values)
{
	values[0] = scope->dept[0] != '\0' ? scope->dept : NULL;
	values[1] = scope->prefix;
	values[2] = scope->escalated ? "t" : "f";
}

bool
alert_state_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ALERT_NELEM(alert_states); i++)
		if (strlen(alert_states[i]) == len && strncmp(alert_states[i], name, len) == 0)
			return true;
	return false;
}

bool
alert_action_known(const char *name)
{
	for (size_t i = 0; i < ALERT_NELEM(alert_actions); i++)
		if (strcmp(alert_actions[i], name) == 0)
			return true;
	return false;
}

bool
alert_outcome_parse(const char *text, enum alert_outcome *outcome)
{
	for (size_t i = 0; i < ALERT_NELEM(alert_outcomes); i++) {
		if (strcmp(alert_outcomes[i].name, text) == 0) {
			*outcome = alert_outcomes[i].outcome;
			return true;
		}
	}
	return false;
}

int
alert_outcome_http_status(enum alert_outcome outcome)
{
	for (size_t i = 0; i < ALERT_NELEM(alert_outcomes); i++)
		if (alert_outcomes[i].outcome == outcome)
			return alert_outcomes[i].http_status;
	return 500;
}

const char *
alert_subject_text(char *buf, size_t len, const char *dept, const char *case_no,
		const char *subject)
{
	if (case_no[0] != '\0')
		snprintf(buf, len, "%s/%s", dept, case_no);
	else if (subject[0] != '\0')
		snprintf(buf, len, "%s %s", dept, subject);
	else
		snprintf(buf, len, "%s", dept);
	return buf;
}
