-- 007_history_costs.sql: what keeps alert writes from slowing down as closed alerts pile up.
--
-- esup_apply_evaluation() asks, for every condition of every evaluation, whether the same
-- condition was raised before and closed ("a closed alert stays closed": dedup_key and since
-- equal, status resolved, dismissed, revoked or superseded). alerts_live_key covers only the
-- live alerts, so that question read every closed alert: ingest fell sevenfold with 20,000 of
-- them. This index answers it from the alerts of that one condition, whatever the history.
-- It is not partial, so it holds whichever statuses a later migration counts as closed.
CREATE INDEX alerts_key_since ON alerts (dedup_key, since);

