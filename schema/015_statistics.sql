-- 015_statistics.sql: the views auditors and leaders read (schema esup_stats), and leaders.
--
-- Every view reads the rollup tables of 014 (never raw events), in Asia/Shanghai calendar
-- terms: a row's period is the first day of its Shanghai day, month, quarter or year, and its
-- label names it ('2026-03-02', '2026-03', '2026-Q1', '2026'). The views are
-- security_invoker: a person reads through them only the departments row-level security lets
-- it read in the tables below. A view has a row only for a key with something counted in the
-- period. Rates are numeric to 4 places, NULL when their denominator is 0; money is in yuan.
-- docs/auditing.md shows each view with a query and its answer on the demo data.

CREATE SCHEMA esup_stats;
COMMENT ON SCHEMA esup_stats IS
	'统计分析视图（审计、领导查询用）statistics views for auditors and leaders, Asia/Shanghai calendar periods; see docs/auditing.md';

-- The city's target for the days an enterprise deals with the government in a year (first
-- seed: 10). esupd may write it like late_report_hours.
ALTER TABLE stat_settings ADD COLUMN dealing_days_target int NOT NULL DEFAULT 10
	CHECK (dealing_days_target BETWEEN 1 AND 366);

-- A month query (of one department or of all) finds its rows by index: the views group by
-- this very expression, so a condition on period reaches the tables as one on the index.
CREATE INDEX stat_case_day_month ON stat_case_day ((date_trunc('month', day::timestamp)::date), dept);
CREATE INDEX stat_event_day_month ON stat_event_day ((date_trunc('month', day::timestamp)::date), dept);
CREATE INDEX stat_alert_day_month ON stat_alert_day ((date_trunc('month', day::timestamp)::date), dept);
CREATE INDEX stat_penalty_day_month ON stat_penalty_day ((date_trunc('month', day::timestamp)::date), dept);

-- ---------------------------------------------------------------- per department and period

-- dept_day, dept_month, dept_quarter, dept_year: one template, the period expression (%1$s,
-- over a table's day) and the label format (%2$s) filled in. The four tables' rows are
-- stacked (each filling its own columns, zeros elsewhere; a row left all zeros when a late
-- event moved its case elsewhere is skipped) and summed per department and period: a condition on dept or period reaches every table's index, and the planner's row
-- estimates stay those of the rows read.
DO $$
DECLARE
	template CONSTANT text := $v$
CREATE VIEW esup_stats.%3$I WITH (security_invoker = true) AS
SELECT s.dept, d.name AS dept_name, d.region, s.period,
       to_char(s.period::timestamp, %2$L) AS label,
       s.received, s.accepted, s.decided, s.on_time_committed,
       round(s.on_time_committed::numeric / nullif(s.decided, 0), 4) AS on_time_rate,
       s.on_time_statutory,
       round(s.days_used_sum::numeric / nullif(s.decided, 0), 2) AS avg_days,
       s.max_days, s.suspended_days, s.refused_intake, s.refusals_reported,
       s.refusals_unreported, s.supplement_requests,
       s.red AS alerts_red, s.yellow AS alerts_yellow, s.notice AS alerts_notice,
       s.revoked AS alerts_revoked, s.dismissed AS alerts_dismissed,
       (s.fees_collected_fen / 100.0)::numeric(14,2) AS fees_collected_yuan,
       (s.fees_refunded_fen / 100.0)::numeric(14,2) AS fees_refunded_yuan,
       ((s.fees_collected_fen - s.fees_refunded_fen) / 100.0)::numeric(14,2) AS fees_net_yuan,
       s.penalties, (s.amount_fen / 100.0)::numeric(14,2) AS penalties_yuan, s.inspections,
       s.complaints_received, s.complaints_replied_on_time, s.complaints_closed,
       s.complaints_closed_on_time, s.evaluations_satisfied, s.evaluations_unsatisfied,
       round(s.evaluations_satisfied::numeric
	     / nullif(s.evaluations_satisfied + s.evaluations_unsatisfied, 0), 4) AS satisfaction_rate,
       s.events, s.late_reported, s.approved, s.denied, s.withdrawn
  FROM (SELECT dept, period,
	       sum(received)::bigint AS received, sum(accepted)::bigint AS accepted,
	       sum(decided)::bigint AS decided, sum(approved)::bigint AS approved,
	       sum(denied)::bigint AS denied, sum(on_time_committed)::bigint AS on_time_committed,
	       sum(on_time_statutory)::bigint AS on_time_statutory,
	       sum(days_used_sum)::bigint AS days_used_sum, max(days_used_max) AS max_days,
	       sum(suspended_days)::bigint AS suspended_days,
	       sum(refused_intake)::bigint AS refused_intake,
	       sum(refusals_reported)::bigint AS refusals_reported,
	       sum(refusals_unreported)::bigint AS refusals_unreported,
	       sum(withdrawn)::bigint AS withdrawn,
	       sum(complaints_received)::bigint AS complaints_received,
	       sum(complaints_replied_on_time)::bigint AS complaints_replied_on_time,
	       sum(complaints_closed)::bigint AS complaints_closed,
	       sum(complaints_closed_on_time)::bigint AS complaints_closed_on_time,
	       sum(events)::bigint AS events, sum(late_reported)::bigint AS late_reported,
	       sum(supplement_requests)::bigint AS supplement_requests,
	       sum(fees_collected_fen)::bigint AS fees_collected_fen,
	       sum(fees_refunded_fen)::bigint AS fees_refunded_fen,
	       sum(inspections)::bigint AS inspections,
	       sum(evaluations_satisfied)::bigint AS evaluations_satisfied,
	       sum(evaluations_unsatisfied)::bigint AS evaluations_unsatisfied,
	       sum(red)::bigint AS red, sum(yellow)::bigint AS yellow, sum(notice)::bigint AS notice,
	       sum(revoked)::bigint AS revoked, sum(dismissed)::bigint AS dismissed,
	       sum(penalties)::bigint AS penalties, sum(amount_fen)::bigint AS amount_fen
	  FROM (SELECT dept, %1$s AS period,
		       received, accepted, decided, approved, denied, on_time_committed,
		       on_time_statutory, days_used_sum, days_used_max,
		       suspended_days_sum AS suspended_days, refused_intake, refusals_reported,
		       refusals_unreported, withdrawn, complaints_received,
		       complaints_replied_on_time, complaints_closed, complaints_closed_on_time,
		       0::bigint AS events, 0::bigint AS late_reported,
		       0::bigint AS supplement_requests, 0::bigint AS fees_collected_fen,
		       0::bigint AS fees_refunded_fen, 0::bigint AS inspections,
		       0::bigint AS evaluations_satisfied, 0::bigint AS evaluations_unsatisfied,
		       0::bigint AS red, 0::bigint AS yellow, 0::bigint AS notice,
		       0::bigint AS revoked, 0::bigint AS dismissed,
		       0::bigint AS penalties, 0::bigint AS amount_fen
		  FROM stat_case_day
		 WHERE greatest(received, accepted, decided, approved, denied, on_time_committed,
			   on_time_statutory, days_used_sum, days_used_max, suspended_days_sum,
			   refused_intake, refusals_reported, refusals_unreported, withdrawn,
			   complaints_received, complaints_replied_on_time, complaints_closed,
			   complaints_closed_on_time) > 0
		UNION ALL
		SELECT dept, %1$s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		       events, late_reported, supplement_requests, fees_collected_fen,
		       fees_refunded_fen, inspections, evaluations_satisfied, evaluations_unsatisfied,
		       0, 0, 0, 0, 0, 0, 0
		  FROM stat_event_day
		 WHERE events > 0
		UNION ALL
		SELECT dept, %1$s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		       0, 0, 0, 0, 0, 0, 0, 0,
		       CASE severity WHEN 'red' THEN valid ELSE 0 END,
		       CASE severity WHEN 'yellow' THEN valid ELSE 0 END,
		       CASE severity WHEN 'notice' THEN valid ELSE 0 END,
		       revoked, dismissed, 0, 0
		  FROM stat_alert_day
		 WHERE greatest(valid, revoked, dismissed) > 0
		UNION ALL
		SELECT dept, %1$s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, penalties, amount_fen
		  FROM stat_penalty_day
		 WHERE penalties > 0) x
	 GROUP BY dept, period) s
  LEFT JOIN departments d ON d.code = s.dept
$v$;
	v record;
BEGIN
	FOR v IN SELECT * FROM (VALUES
		('dept_day', 'day', 'YYYY-MM-DD', '日'),
		('dept_month', 'date_trunc(''month'', day::timestamp)::date', 'YYYY-MM', '月'),
		('dept_quarter', 'date_trunc(''quarter'', day::timestamp)::date', 'YYYY-"Q"Q', '季度'),
		('dept_year', 'date_trunc(''year'', day::timestamp)::date', 'YYYY', '年'))
		AS x (name, expr, fmt, zh)
	LOOP
		EXECUTE format(template, v.expr, v.fmt, v.name);
		EXECUTE format('COMMENT ON VIEW esup_stats.%I IS %L', v.name, format(
			'各部门每%s统计 per department and Shanghai %s: cases, cards, fees, penalties, inspections, complaints, evaluations, reporting; one row per department with anything counted in the %s',
			v.zh, split_part(v.name, '_', 2), split_part(v.name, '_', 2)));
		EXECUTE format('COMMENT ON COLUMN esup_stats.%I.label IS %L', v.name, format(
			'期间标签 period label, %s', to_char(timestamp '2026-03-02', v.fmt)));
	END LOOP;
END
$$;

-- The columns' comments, the same in the four views.
DO $$
DECLARE
	v text;
	col record;
BEGIN
	FOREACH v IN ARRAY ARRAY['dept_day', 'dept_month', 'dept_quarter', 'dept_year'] LOOP
		FOR col IN SELECT * FROM (VALUES
('dept', '部门代码 department code'),
('dept_name', '部门名称 department name (departments.name)'),
('region', '部门所属行政区划代码 the department''s region code (departments.region)'),
('period', '统计期间首日（上海日历）first day of the period, an Asia/Shanghai calendar day'),
('received', '收件数 approval applications received (approval.received), by the day received'),
('accepted', '受理数 approval cases accepted (approval.accepted), by the day accepted'),
('decided', '办结数 approval cases decided (approved + denied), by the day decided'),
('on_time_committed', '按承诺时限办结数 decided within the committed limit (working days used <= committed days, as the clock counts suspensions and extensions)'),
('on_time_rate', '按期办结率 on-time rate: on_time_committed / decided, 4 places; NULL when none decided'),
('on_time_statutory', '按法定时限办结数 decided within the statutory limit'),
('avg_days', '平均办理用时（工作日）average working days used by the cases decided (cases.counted_days), 2 places; NULL when none decided'),
('max_days', '最长办理用时（工作日）the most working days used by one case decided; 0 when none'),
('suspended_days', '暂停计时天数 days suspended (补正、听证、检验等) of the cases decided'),
('refused_intake', '不予受理数 applications refused at intake (approval.refused_intake), by the day refused'),
('refusals_reported', '附报告的不予批准/不予受理数 denials and intake refusals that carried their report (不批准报告)'),
('refusals_unreported', '未附报告的不予批准/不予受理数 denials and intake refusals without their report'),
('supplement_requests', '补正告知次数 supplement notices (approval.supplement_requested events), by business time'),
('alerts_red', '有效红牌数 valid red cards raised in the period: issued and not revoked on appeal, dismissed or cancelled (esup_alerts.valid)'),
('alerts_yellow', '有效黄牌数 valid yellow cards raised in the period'),
('alerts_notice', '有效提示数 valid notices raised in the period'),
('alerts_revoked', '申诉撤消数 alerts raised in the period and revoked on appeal (撤消), any severity'),
('alerts_dismissed', '误报驳回数 alerts raised in the period and dismissed as false alarms, any severity'),
('fees_collected_yuan', '收费金额（元）fees collected (fee.collected), yuan, by business time'),
('fees_refunded_yuan', '退费金额（元）fees refunded (fee.refunded), yuan, by business time'),
('fees_net_yuan', '净收费（元）net fees: collected minus refunded in the period, yuan'),
('penalties', '罚款决定数 penalty decisions (penalty.decided)'),
('penalties_yuan', '罚款金额（元）amount of the penalties decided, yuan'),
('inspections', '检查次数 inspections started (inspection.started)'),
('complaints_received', '投诉受理数 complaint cases received (complaint.received), by the day received'),
('complaints_replied_on_time', '按期答复投诉数 complaint cases first replied within complaint_reply_days working days, by the day of the reply'),
('complaints_closed', '投诉办结数 complaint cases closed (complaint.closed), by the day closed'),
('complaints_closed_on_time', '按期办结投诉数 complaint cases closed within complaint_close_days working days, by the day closed'),
('evaluations_satisfied', '满意评价数 satisfied evaluations (evaluation.received, satisfied true)'),
('evaluations_unsatisfied', '不满意评价数 unsatisfied evaluations (evaluation.received, satisfied false)'),
('satisfaction_rate', '满意率 satisfaction rate: satisfied / (satisfied + unsatisfied), 4 places; NULL when none'),
('events', '上报事件数 events, by business time (at)'),
('late_reported', '迟报事件数 events received more than stat_settings.late_report_hours after their business time'),
('approved', '批准数 approval cases approved, by the day decided'),
('denied', '不予批准数 approval cases denied, by the day decided'),
('withdrawn', '撤回申请数 applications withdrawn (approval.withdrawn), by the day withdrawn'))
			AS x (name, text)
		LOOP
			EXECUTE format('COMMENT ON COLUMN esup_stats.%I.%I IS %L', v, col.name, col.text);
		END LOOP;
	END LOOP;
END
$$;

-- ---------------------------------------------------------------- per item

CREATE VIEW esup_stats.item_month WITH (security_invoker = true) AS
SELECT s.dept, s.item, i.name AS item_name, s.period, to_char(s.period::timestamp, 'YYYY-MM') AS label,
       s.decided, round(s.days_used_sum::numeric / nullif(s.decided, 0), 2) AS avg_days,
       s.max_days, round(s.on_time_committed::numeric / nullif(s.decided, 0), 4) AS on_time_rate
  FROM (SELECT dept, item, date_trunc('month', day::timestamp)::date AS period,
	       sum(decided)::bigint AS decided, sum(days_used_sum)::bigint AS days_used_sum,
	       max(days_used_max) AS max_days, sum(on_time_committed)::bigint AS on_time_committed
	  FROM stat_case_day WHERE item <> '' GROUP BY 1, 2, 3 HAVING sum(decided) > 0) s
  LEFT JOIN items i ON i.code = s.item;

CREATE VIEW esup_stats.item_all WITH (security_invoker = true) AS
SELECT s.dept, s.item, i.name AS item_name,
       s.decided, round(s.days_used_sum::numeric / nullif(s.decided, 0), 2) AS avg_days,
       s.max_days, round(s.on_time_committed::numeric / nullif(s.decided, 0), 4) AS on_time_rate
  FROM (SELECT dept, item, sum(decided)::bigint AS decided,
	       sum(days_used_sum)::bigint AS days_used_sum, max(days_used_max) AS max_days,
	       sum(on_time_committed)::bigint AS on_time_committed
	  FROM stat_case_day WHERE item <> '' GROUP BY 1, 2 HAVING sum(decided) > 0) s
  LEFT JOIN items i ON i.code = s.item;

COMMENT ON VIEW esup_stats.item_month IS
	'各事项每月办理用时 per approval item and Shanghai month: cases decided, average and worst working days used, on-time rate; a row for each item and month with a case decided';
COMMENT ON VIEW esup_stats.item_all IS
	'各事项累计办理用时 per approval item over all time: cases decided, average and worst working days used, on-time rate; a row for each item with a case decided';
DO $$
DECLARE
	v text;
	col record;
BEGIN
	FOREACH v IN ARRAY ARRAY['item_month', 'item_all'] LOOP
		FOR col IN SELECT * FROM (VALUES
('dept', '部门代码 department code'),
('item', '事项编码 approval item code (items.code)'),
('item_name', '事项名称 item name (items.name); NULL for a code not in the catalogue'),
('period', '月份首日（上海日历）first day of the Asia/Shanghai month'),
('label', '月份标签 month label, 2026-03'),
('decided', '办结数 cases of the item decided (approved + denied), by the day decided'),
('avg_days', '平均办理用时（工作日）average working days used by the cases decided, 2 places; NULL when none'),
('max_days', '最长办理用时（工作日）the most working days one decided case used'),
('on_time_rate', '按期办结率 decided within the committed limit / decided, 4 places; NULL when none'))
			AS x (name, text)
		LOOP
			CONTINUE WHEN NOT EXISTS (SELECT 1 FROM information_schema.columns
				WHERE table_schema = 'esup_stats' AND table_name = v AND column_name = col.name);
			EXECUTE format('COMMENT ON COLUMN esup_stats.%I.%I IS %L', v, col.name, col.text);
		END LOOP;
	END LOOP;
END
$$;

-- ---------------------------------------------------------------- enterprises

-- 企业与政府打交道的天数: per enterprise and Shanghai year, the working days its decided
-- approval cases used plus one day per inspection of it, against the city's target.
CREATE VIEW esup_stats.enterprise_year WITH (security_invoker = true) AS
SELECT s.applicant, n.name, extract(year FROM s.period)::int AS year,
       to_char(s.period::timestamp, 'YYYY') AS label, s.cases, s.days_used_sum + s.inspections AS dealing_days,
       s.inspections, t.dealing_days_target AS target,
       s.days_used_sum + s.inspections > t.dealing_days_target AS over_target
  FROM (SELECT applicant, date_trunc('year', day::timestamp)::date AS period,
	       sum(cases)::bigint AS cases, sum(days_used_sum)::bigint AS days_used_sum,
	       sum(inspections)::bigint AS inspections
	  FROM stat_enterprise_day GROUP BY 1, 2) s
  CROSS JOIN stat_settings t
  LEFT JOIN enterprises n ON n.uscc = s.applicant;

COMMENT ON VIEW esup_stats.enterprise_year IS
	'企业与政府打交道天数（按年）per enterprise and Shanghai year: working days its decided approval cases used plus one per inspection, against the city''s target (first seed: 10 days)';
COMMENT ON COLUMN esup_stats.enterprise_year.applicant IS '统一社会信用代码 the enterprise''s unified social credit code (USCC)';
COMMENT ON COLUMN esup_stats.enterprise_year.name IS '企业名称 enterprise name (enterprises.name); NULL when not in the register';
COMMENT ON COLUMN esup_stats.enterprise_year.year IS '年度（上海日历）the Asia/Shanghai calendar year';
COMMENT ON COLUMN esup_stats.enterprise_year.label IS '年度标签 year label, 2026';
COMMENT ON COLUMN esup_stats.enterprise_year.cases IS '办结审批件数 its approval cases decided (approved or denied) in the year';
COMMENT ON COLUMN esup_stats.enterprise_year.dealing_days IS '打交道天数 dealing days: working days used by its decided cases + inspections of it';
COMMENT ON COLUMN esup_stats.enterprise_year.inspections IS '被检查次数 inspections of it started in the year (one dealing day each)';
COMMENT ON COLUMN esup_stats.enterprise_year.target IS '目标天数 the target (stat_settings.dealing_days_target, first seed: 10)';
COMMENT ON COLUMN esup_stats.enterprise_year.over_target IS '是否超标 dealing_days > target';

-- ---------------------------------------------------------------- alerts and penalties

CREATE VIEW esup_stats.alerts_month WITH (security_invoker = true) AS
SELECT dept, rule, severity, date_trunc('month', day::timestamp)::date AS period,
       to_char(date_trunc('month', day::timestamp), 'YYYY-MM') AS label,
       sum(raised)::bigint AS raised, sum(valid)::bigint AS valid,
       sum(revoked)::bigint AS revoked, sum(dismissed)::bigint AS dismissed,
       sum(cancelled)::bigint AS cancelled
  FROM stat_alert_day GROUP BY 1, 2, 3, 4, 5;

COMMENT ON VIEW esup_stats.alerts_month IS
	'各部门每月预警（按规则、等级）alerts per department, rule, severity and Shanghai month, by the day raised';
COMMENT ON COLUMN esup_stats.alerts_month.dept IS '部门代码 department code';
COMMENT ON COLUMN esup_stats.alerts_month.rule IS '规则编码 rule code (rules.code, docs/rules.md)';
COMMENT ON COLUMN esup_stats.alerts_month.severity IS '等级 severity: red 红牌, yellow 黄牌, notice 提示';
COMMENT ON COLUMN esup_stats.alerts_month.period IS '月份首日（上海日历）first day of the Asia/Shanghai month the alerts were raised in';
COMMENT ON COLUMN esup_stats.alerts_month.label IS '月份标签 month label, 2026-03';
COMMENT ON COLUMN esup_stats.alerts_month.raised IS '产生数 alerts raised (whatever became of them)';
COMMENT ON COLUMN esup_stats.alerts_month.valid IS '有效数 valid: issued as a card and not revoked, dismissed or cancelled (esup_alerts.valid)';
COMMENT ON COLUMN esup_stats.alerts_month.revoked IS '申诉撤消数 revoked on appeal (撤消)';
COMMENT ON COLUMN esup_stats.alerts_month.dismissed IS '误报驳回数 dismissed as false alarms';
COMMENT ON COLUMN esup_stats.alerts_month.cancelled IS '取消数 held by a rule in trial and cancelled, never issued';

CREATE VIEW esup_stats.penalties_month WITH (security_invoker = true) AS
SELECT dept, date_trunc('month', day::timestamp)::date AS period,
       to_char(date_trunc('month', day::timestamp), 'YYYY-MM') AS label, band, office,
       sum(penalties)::bigint AS penalties, (sum(amount_fen) / 100.0)::numeric(14,2) AS amount_yuan
  FROM stat_penalty_day GROUP BY 1, 2, 3, 4, 5;

COMMENT ON VIEW esup_stats.penalties_month IS
	'各部门每月罚款（按金额档次、备案机关）penalties decided per department and Shanghai month, by amount band and the filing office named';
COMMENT ON COLUMN esup_stats.penalties_month.dept IS '部门代码 department code';
COMMENT ON COLUMN esup_stats.penalties_month.period IS '月份首日（上海日历）first day of the Asia/Shanghai month decided';
COMMENT ON COLUMN esup_stats.penalties_month.label IS '月份标签 month label, 2026-03';
COMMENT ON COLUMN esup_stats.penalties_month.band IS '金额档次 amount band: the filing office (filing_offices) whose [min_amount, max_amount) covers the amount; empty when none does';
COMMENT ON COLUMN esup_stats.penalties_month.office IS '备案机关 the filing office named on the event (filing.office); empty when none';
COMMENT ON COLUMN esup_stats.penalties_month.penalties IS '罚款决定数 penalty decisions (penalty.decided)';
COMMENT ON COLUMN esup_stats.penalties_month.amount_yuan IS '罚款金额（元）amount decided, yuan';

-- ---------------------------------------------------------------- leaders

-- A leader (领导) reads like an auditor: a member of esup_auditor, scoped by region, acting on
-- no alert (esup_alert_act answers 'forbidden' to every role but department and supervisor).
ALTER TABLE people DROP CONSTRAINT people_role_check;
ALTER TABLE people ADD CONSTRAINT people_role_check
	CHECK (role IN ('supervisor', 'auditor', 'leader', 'department'));

-- ---------------------------------------------------------------- privileges

REVOKE ALL ON SCHEMA esup_stats FROM PUBLIC;
GRANT USAGE ON SCHEMA esup_stats TO esup_writer, esup_supervisor, esup_auditor;
REVOKE ALL ON ALL TABLES IN SCHEMA esup_stats FROM PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA esup_stats TO esup_writer, esup_supervisor, esup_auditor;
