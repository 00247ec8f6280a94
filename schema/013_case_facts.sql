-- 013_case_facts.sql: what statistics need to know of each case, kept on its row.
--
-- libmonitor derives these facts from the case's events with the rest of its state, and
-- esup_apply_evaluation stores them in the same upsert, in the transaction that stored the
-- events (ingest) or moved the clock (the sweeper). A late event re-derives the case, and so
-- its facts. NULL means "does not apply" or "not yet".
--
--   kind                'approval' (the case has approval.* events), 'complaint' (it has a
--                       complaint.received), else 'other'
--   received_at         business time of approval.received, or of complaint.received
--   accepted_at         business time of approval.accepted
--   closed_at           approval.decided, refused_intake or withdrawn; complaint.closed
--   result              approved | denied | refused_intake | withdrawn | closed; NULL while open
--   reported            denied or refused_intake: the refusal carried its report (不批准报告)
--   supplements         approval.supplement_requested events of the case
--   on_time_committed   approved or denied within the committed limit, as the clock counts
--   on_time_statutory   … within the statutory limit
--   replied_at          complaint cases: the first complaint.replied
--   reply_on_time       … replied within complaint_reply_days working days
--   close_on_time       … closed within complaint_close_days working days
--   applicant           the applicant's unified social credit code (an enterprise), if any

ALTER TABLE cases
	ADD COLUMN kind text NOT NULL DEFAULT 'approval'
		CHECK (kind IN ('approval', 'complaint', 'other')),
	ADD COLUMN received_at timestamptz,
	ADD COLUMN accepted_at timestamptz,
	ADD COLUMN closed_at timestamptz,
	ADD COLUMN result text
		CHECK (result IN ('approved', 'denied', 'refused_intake', 'withdrawn', 'closed')),
	ADD COLUMN reported boolean,
	ADD COLUMN supplements int NOT NULL DEFAULT 0,
	ADD COLUMN on_time_committed boolean,
	ADD COLUMN on_time_statutory boolean,
	ADD COLUMN replied_at timestamptz,
	ADD COLUMN reply_on_time boolean,
	ADD COLUMN close_on_time boolean,
	ADD COLUMN applicant text;

CREATE INDEX cases_item_closed ON cases (dept, item, closed_at);
CREATE INDEX cases_applicant_closed ON cases (applicant, closed_at) WHERE applicant IS NOT NULL;
