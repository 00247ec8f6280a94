-- 034_audit_rules.sql: TRD-OPENING-LATE (libmonitor/trade.c, docs/rules.md): bids opened
-- more than opening_tolerance_minutes after the bid deadline (招标投标法 §34: 开标应当在提交投标
-- 文件截止时间的同一时间公开进行; TRD-EARLY-OPENING judges an opening before it).
-- esup_apply_evaluation raises alerts only for rules in this table. Its parameter lives in
-- esupd.conf [rules] like the others; no event type or column is new.
-- ENF-SINGLE-OFFICER (libmonitor/enforcement.c): an inspection by fewer than min_officers (2)
-- different officers (行政处罚法 (2021) §42: 执法人员不得少于两人).
-- APR-SPECIAL-RED (libmonitor/ladder.c): a special procedure's overrun not put right within
-- the 督办 period after its approved end (the design's ladder: a yellow card not rectified by
-- its 督办 deadline turns red).
INSERT INTO rules (code, severity) VALUES
	('TRD-OPENING-LATE', 'yellow'),
	('ENF-SINGLE-OFFICER', 'yellow'),
	('APR-SPECIAL-RED', 'red')
ON CONFLICT (code) DO NOTHING;
