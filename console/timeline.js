/* timeline.js: one case's life on a time axis (the case view of the console), drawn as SVG.
 *
 *   EsupTimeline.render(el, caseJson[, now])
 *
 * caseJson is exactly the JSON of GET /v1/cases/{dept}/{case} (docs/protocol.md), read and never
 * modified: `events`, `clock`, `deadline`, `limits`, `unit`, `alerts`, `facts`. `now` is the
 * business clock (an RFC 3339 string, a Date or milliseconds; GET /v1/me gives it as `now`);
 * when absent, caseJson.now, else the browser's clock. Empties `el`, appends one <svg>, returns it.
 *
 * The axis runs in Asia/Shanghai calendar days (hours when the span is short) from the first
 * thing that happened to the latest of now, the last event and the deadlines, with a margin.
 * Drawn, each with a <title> tooltip in Chinese:
 *   g.tl-event[data-type][data-id]        an event: marker and its Chinese name
 *   rect.tl-suspended[data-event]         a suspension (特别程序), open-ended to now while it lasts
 *   g.tl-extended[data-event]             an extension (延期), with its days
 *   g.tl-deadline[data-kind]              committed (承诺时限) / statutory (法定时限): the end
 *                                         (24:00, Shanghai) of the deadline day
 *   g.tl-alert[data-id][data-severity]    an alert at its `since`, in its severity's colour
 *   g.tl-now                              the business clock's now
 * Labels are packed into rows so that none overlaps another (events of one day stack).
 * No innerHTML, no style attributes (the console's Content-Security-Policy forbids them). */
(function () {
	'use strict';

	const C = window.EsupCommon;
	const dict = C.dict;
	const HOUR = 3600e3, DAY = 24 * HOUR, SH = 8 * HOUR;   /* Asia/Shanghai: UTC+8, no DST */
	const COLOUR = C.COLOUR, SEVERITY_WORD = C.SEVERITY_WORD, STATUS_WORD = C.STATUS_WORD;
	const TYPE_WORD = C.EVENT_TYPE_WORD;
	const LIVE = dict({ open: true, acknowledged: true, appealed: true, held: true });
	const SUSPEND_KIND = dict({
		hearing: '听证', testing: '检验检测', expert_review: '专家评审', public_notice: '公示',
		bidding: '招标拍卖', quarantine: '检疫', appraisal: '鉴定', site_inspection: '现场勘验',
	});
	const FIELD_WORD = dict({
		kind: '程序', days: '天数', approver: '批准人', result: '结果', reason: '理由', report: '报告',
		item: '事项', name: '事项名称', step: '环节', handler: '经办人', materials: '材料', applicant: '申请人', amount: '金额',
		fee_item: '收费项目', payer: '缴费人', reviewer: '审核人', party: '当事人', violation: '违法行为',
		severity: '情节', hearing_notice: '听证告知', first_offence: '首次', filing: '备案',
		enterprise: '企业', officers: '执法人员', subject: '事由', against: '被投诉方',
		satisfied: '满意', window: '窗口', note: '说明', documents_issued: '文件发出',
		bid_deadline: '投标截止', publicity_start: '公示开始', publicity_end: '公示结束', of: '原收费',
	});
	const UNIT_WORD = dict({ working: '个工作日', calendar: '日' });
	const FS = 12;   /* label font size, px; console.css's timeline section uses the same */

	const { NS, node, text, tip, textWidth } = C.svg;


	/* Times. Instants are milliseconds since the epoch; Shanghai's wall clock is UTC+8. */
	function instant(v) {
		if (v === null || v === undefined || v === '')
			return null;
		if (v instanceof Date)
			return v.getTime();
		if (typeof v === 'number')
			return v;
		const t = Date.parse(v);
		return Number.isNaN(t) ? null : t;
	}
	function wall(ms) {
		const d = new Date(ms + SH);
		return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate(),
			h: d.getUTCHours(), mi: d.getUTCMinutes(), wd: d.getUTCDay() };
	}
	const two = (n) => (n < 10 ? '0' : '') + n;
	function fmtDay(ms) {
		const w = wall(ms);
		return w.y + '-' + two(w.m) + '-' + two(w.d);
	}
	function fmtTime(ms) {
		const w = wall(ms);
		return fmtDay(ms) + ' ' + two(w.h) + ':' + two(w.mi);
	}
	function shortDay(ms) {
		const w = wall(ms);
		return two(w.m) + '-' + two(w.d);
	}
	function hhmm(ms) {
		const w = wall(ms);
		return two(w.h) + ':' + two(w.mi);
	}
	const dayNumber = (ms) => Math.floor((ms + SH) / DAY);
	const dayStart = (n) => n * DAY - SH;
	/* The end (24:00, Shanghai) of a YYYY-MM-DD day: when that deadline has passed. */
	function dayEnd(s) {
		const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(s || ''));
		return m ? Date.UTC(+m[1], +m[2] - 1, +m[3] + 1) - SH : null;
	}
	function monthStart(y, m) {   /* m: 1..12, may overflow */
		return Date.UTC(y, m - 1, 1) - SH;
	}

	/* Axis ticks over [t0, t1] at px per ms `k`, labels at least `gap` px apart. */
	function ticks(t0, t1, k, gap) {
		const out = [];
		const mins = [5, 10, 15, 30].find((n) => n * 60e3 * k >= gap);
		if (mins) {
			const step = mins * 60e3;
			for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
				const w = wall(t);
				out.push({ t: t, label: w.h === 0 && w.mi === 0 ? shortDay(t) : hhmm(t), major: w.mi === 0 });
			}
			return out;
		}
		const hours = [1, 2, 3, 6, 12].find((h) => h * HOUR * k >= gap);
		if (hours) {
			for (let t = Math.floor((t0 + SH) / (hours * HOUR)) * hours * HOUR - SH; t <= t1; t += hours * HOUR)
				if (t >= t0) {
					const w = wall(t);
					out.push({ t: t, label: w.h === 0 ? shortDay(t) : two(w.h) + ':00', major: w.h === 0 });
				}
			return out;
		}
		const days = [1, 2].find((n) => n * DAY * k >= gap);
		if (days) {
			for (let n = dayNumber(t0); dayStart(n) <= t1; n++)
				if (dayStart(n) >= t0 && n % days === 0)
					out.push({ t: dayStart(n), label: shortDay(dayStart(n)), major: wall(dayStart(n)).d === 1 });
			return out;
		}
		if (7 * DAY * k >= gap) {
			for (let n = dayNumber(t0); dayStart(n) <= t1; n++) {
				const t = dayStart(n);
				if (t >= t0 && wall(t).wd === 1)
					out.push({ t: t, label: shortDay(t), major: false, minor: true });
			}
			return out;
		}
		const months = [1, 2, 3, 6, 12].find((n) => n * 30 * DAY * k >= gap) || 12;
		const w0 = wall(t0);
		for (let y = w0.y, m = w0.m; monthStart(y, m) <= t1; m++) {
			if (m > 12) {
				y++;
				m = 1;
			}
			const t = monthStart(y, m);
			if (t >= t0 && (m - 1) % months === 0)
				out.push({ t: t, label: m === 1 ? y + '年' : m + '月', major: m === 1 });
		}
		return out;
	}

	/* Rows of non-overlapping intervals: returns the row for [a, b], lowest that fits. */
	function packer(pad) {
		const ends = [];
		return function (a, b) {
			for (let r = 0; r < ends.length; r++)
				if (ends[r] + pad <= a) {
					ends[r] = b;
					return r;
				}
			ends.push(b);
			return ends.length - 1;
		};
	}

	function primitive(v) {
		if (v === null || v === undefined)
			return null;
		if (typeof v === 'boolean')
			return v ? '是' : '否';
		if (typeof v === 'object') {
			if (Array.isArray(v))
				return v.map((x) => (x && typeof x === 'object') ? (x.id || x.name || JSON.stringify(x)) : String(x)).join('、');
			const parts = [];
			for (const k of ['name', 'uscc', 'id', 'office', 'ref'])
				if (v[k] !== undefined)
					parts.push(String(v[k]));
			return parts.length ? parts.join(' ') : JSON.stringify(v);
		}
		return String(v);
	}

	const ENVELOPE = dict({ id: 1, dept: 1, type: 1, at: 1, case: 1 });

	function eventName(e) {
		const b = e.body || {};
		if (e.type === 'approval.decided')
			return b.result === 'denied' ? '不予许可' : b.result === 'approved' ? '办结（准予）' : '办结';
		if (e.type === 'approval.suspended' && SUSPEND_KIND[b.kind])
			return '中止（' + SUSPEND_KIND[b.kind] + '）';
		if (e.type === 'approval.step' && b.step)
			return '环节 ' + b.step;
		if (e.type === 'approval.extended' && b.days !== undefined)
			return '延期 ' + b.days + ' 日';
		if (e.type === 'evaluation.received' && typeof b.satisfied === 'boolean')
			return b.satisfied ? '评价：满意' : '评价：不满意';
		return TYPE_WORD[e.type] || e.type;
	}

	function eventTip(e) {
		const lines = [eventName(e) + '（' + e.type + '）', '业务时间 ' + fmtTime(instant(e.at))];
		const rcv = instant(e.received_at);
		if (rcv !== null)
			lines.push('接收时间 ' + fmtTime(rcv));
		const b = e.body || {};
		for (const k of Object.keys(b)) {
			if (ENVELOPE[k])
				continue;
			let v = b[k];
			if (k === 'kind' && SUSPEND_KIND[v])
				v = SUSPEND_KIND[v] + ' ' + v;
			else if (k === 'result')
				v = v === 'approved' ? '准予许可' : v === 'denied' ? '不予许可' : v;
			const s = primitive(v);
			if (s !== null && s !== '')
				lines.push((FIELD_WORD[k] || k) + '：' + s);
		}
		lines.push('事件编号 ' + e.id);
		return lines.join('\n');
	}

	function eventColour(e) {
		const b = e.body || {};
		switch (e.type) {
		case 'approval.decided':
			return b.result === 'denied' ? '#6d4c41' : COLOUR.clear;
		case 'approval.refused_intake':
		case 'approval.withdrawn':
			return '#6d4c41';
		case 'approval.suspended':
		case 'approval.resumed':
			return '#757575';
		case 'approval.extended':
			return '#6a1b9a';
		default:
			return '#37474f';
		}
	}

	function width(el) {
		const w = el.clientWidth || (el.getBoundingClientRect ? el.getBoundingClientRect().width : 0);
		return Math.max(640, Math.floor(w || 1000));
	}

	function render(el, c, nowArg) {
		c = c || {};
		const events = (Array.isArray(c.events) ? c.events : [])
			.filter((e) => instant(e.at) !== null)
			.slice().sort((a, b) => instant(a.at) - instant(b.at));
		const clock = Array.isArray(c.clock) ? c.clock : [];
		const alerts = (Array.isArray(c.alerts) ? c.alerts : []).filter((a) => instant(a.since) !== null);
		const byId = new Map();
		for (const e of events)
			byId.set(e.id, e);
		let now = instant(nowArg);
		if (now === null)
			now = instant(c.now);
		if (now === null)
			now = Date.now();
		const unit = UNIT_WORD[c.unit] || '日';

		const suspensions = clock.filter((k) => k.kind === 'suspended' && instant(k.from) !== null)
			.map((k) => ({ k: k, from: instant(k.from), to: instant(k.to), ev: byId.get(k.event) }));
		const extensions = clock.filter((k) => k.kind === 'extended' && instant(k.at) !== null)
			.map((k) => ({ k: k, at: instant(k.at), ev: byId.get(k.event) }));
		const deadlines = [];
		const limits = c.limits || {};
		for (const kind of ['committed', 'statutory']) {
			const day = c.deadline ? c.deadline[kind] : null;
			const t = dayEnd(day);
			if (t !== null)
				deadlines.push({ kind: kind, day: day, t: t, word: kind === 'committed' ? '承诺时限' : '法定时限',
					limit: limits[kind] });
		}

		/* The span: first happening .. max(now, last happening, deadlines), plus a margin. */
		const starts = [], ends = [now];
		for (const e of events)
			starts.push(instant(e.at));
		for (const a of alerts)
			starts.push(instant(a.since));
		for (const s of suspensions)
			starts.push(s.from);
		for (const x of extensions)
			starts.push(x.at);
		const facts = c.facts || {};
		for (const f of ['received_at', 'accepted_at', 'closed_at'])
			if (instant(facts[f]) !== null)
				starts.push(instant(facts[f]));
		for (const d of deadlines)
			ends.push(d.t);
		for (const s of suspensions)
			if (s.to !== null)
				ends.push(s.to);
		let t0 = starts.length ? Math.min.apply(null, starts) : now - DAY;
		let t1 = Math.max(Math.max.apply(null, ends), Math.max.apply(null, starts.concat([t0])));
		t0 = Math.min(t0, t1);
		const first = t0, last = t1;
		const span0 = Math.max(t1 - t0, HOUR);
		if (span0 > 2 * DAY) {   /* whole Shanghai days, plus a small margin */
			t0 = dayStart(dayNumber(t0));
			t1 = dayStart(dayNumber(t1) + 1);
			const m = Math.max(DAY / 2, (t1 - t0) * 0.02);
			t0 -= m;
			t1 += m;
		} else {
			const m = Math.max(span0 * 0.05, 10 * 60e3);
			t1 = Math.max(t1, t0 + HOUR);
			t0 -= m;
			t1 += m;
		}
		const byDay = t1 - t0 > 2 * DAY;

		const W = width(el), left = 56, right = 16, pw = W - left - right;
		const k = pw / (t1 - t0);
		const X = (t) => left + (Math.max(t0, Math.min(t1, t)) - t0) * k;
		const rowH = 20;

		while (el.firstChild)
			el.removeChild(el.firstChild);
		const title = '办件时间轴 · ' + (c.case || '');
		const svg = node('svg', { xmlns: NS, class: 'timeline', role: 'img', 'aria-label': title }, el);
		tip(svg, title);
		text(svg, 0, 18, title, { class: 'tl-title' });
		const summary = [];
		if (typeof c.counted_days === 'number')
			summary.push('已计 ' + c.counted_days + ' ' + unit);
		if (c.suspended_days)
			summary.push('中止 ' + c.suspended_days + ' ' + unit);
		if (limits.committed !== undefined && limits.committed !== null)
			summary.push('承诺 ' + limits.committed + ' ' + unit);
		if (limits.statutory !== undefined && limits.statutory !== null)
			summary.push('法定 ' + limits.statutory + ' ' + unit);
		if (c.status === 'suspended' && deadlines.length === 0)
			summary.push('中止期间时钟停止，时限待恢复后重算');
		if (summary.length)
			text(svg, 0, 36, summary.join(' · '), { class: 'tl-summary' });

		/* flags: labels of deadlines and now, packed into rows at the top */
		let y = 52;
		const flags = deadlines.map((d) => ({ t: d.t, label: d.word + ' ' + d.day, d: d }));
		flags.push({ t: now, label: '现在 ' + (byDay ? fmtDay(now) : hhmm(now)), now: true });
		flags.sort((a, b) => a.t - b.t);
		const flagRow = packer(8);
		for (const f of flags) {
			const w = textWidth(f.label, FS), x = X(f.t);
			const onRight = x + 3 + w <= W;   /* label right of the line when it fits */
			f.anchor = onRight ? 'start' : 'end';
			f.lx = onRight ? x + 3 : x - 3;
			f.row = flagRow(onRight ? x : x - w - 6, onRight ? x + w + 6 : x);
		}
		const flagRows = flags.reduce((m, f) => Math.max(m, f.row + 1), 0);
		const flagTop = y;
		y += flagRows * 16 + 4;

		/* lanes */
		const laneTop = y;
		const lanes = node('g', { class: 'tl-lanes' }, svg);
		const vlines = node('g', { class: 'tl-lines' }, svg);

		/* the clock lane: suspensions and extensions */
		const clockTop = y, clockH = 28;
		text(lanes, 0, clockTop + 18, '时钟', { class: 'tl-lane-label' });
		const clockG = node('g', { class: 'tl-clock' }, svg);
		for (const s of suspensions) {
			const open = s.to === null;
			const to = open ? Math.max(now, s.from) : s.to;
			const b = s.ev && s.ev.body ? s.ev.body : {};
			const kind = s.k.procedure || b.kind, days = s.k.days !== undefined ? s.k.days : b.days;
			const kindWord = SUSPEND_KIND[kind] || '特别程序';
			const x0 = X(s.from), x1 = Math.max(X(to), x0 + 2);
			const r = node('rect', {
				class: 'tl-suspended' + (open ? ' open' : ''), 'data-event': s.k.event,
				x: x0, y: clockTop + 4, width: x1 - x0, height: clockH - 8, fill: '#9e9e9e',
			}, clockG);
			let t = '中止：' + kindWord + '\n自 ' + fmtTime(s.from) + '\n' +
			    (open ? '至今（未恢复）' : '至 ' + fmtTime(s.to) + ' 恢复');
			if (days !== undefined && days !== null)
				t += '\n批准 ' + days + ' ' + unit;
			if (b.approver)
				t += '，批准人 ' + b.approver;
			tip(r, t);
			const lab = kindWord + (open ? '（进行中）' : '');
			if (textWidth(lab, FS) + 8 <= x1 - x0)
				text(clockG, x0 + 4, clockTop + clockH / 2 + 4, lab, { class: 'tl-bar-label' });
		}
		for (const x of extensions) {
			const cx = X(x.at), b = x.ev && x.ev.body ? x.ev.body : {};
			const g = node('g', { class: 'tl-extended', 'data-event': x.k.event }, clockG);
			node('path', { d: 'M' + cx + ' ' + (clockTop + 2) + 'v' + (clockH - 4) + 'M' + cx + ' ' + (clockTop + 2) +
				'h10l-3 5l3 5h-10z', fill: '#6a1b9a', stroke: '#6a1b9a', 'stroke-width': 1.5 }, g);
			text(g, cx + 13, clockTop + 12, '+' + x.k.days, { class: 'tl-ext-label' });
			tip(g, '延期 ' + x.k.days + ' ' + unit + '\n' + fmtTime(x.at) + (b.approver ? '\n批准人 ' + b.approver : ''));
		}
		y += clockH;

		/* the events lane: markers with their names, packed into rows */
		const evTop = y + 6;
		const evRow = packer(6);
		const perDay = new Map();   /* events of one day show their time of day too */
		for (const e of events)
			perDay.set(dayNumber(instant(e.at)), (perDay.get(dayNumber(instant(e.at))) || 0) + 1);
		const placed = events.map((e) => {
			const t = instant(e.at), x = X(t);
			const when = !byDay ? hhmm(t) : perDay.get(dayNumber(t)) > 1 ? shortDay(t) + ' ' + hhmm(t) : shortDay(t);
			const name = eventName(e);
			const label = name + (name.endsWith('）') ? '' : ' ') + when;   /* ） has its own space */
			const w = textWidth(label, FS);
			const right = x + 8 + w <= W;
			const row = right ? evRow(x - 6, x + 8 + w) : evRow(x - 8 - w, x + 6);
			return { e: e, t: t, x: x, label: label, right: right, row: row };
		});
		const evRows = Math.max(1, placed.reduce((m, p) => Math.max(m, p.row + 1), 0));
		text(lanes, 0, evTop + 14, '事件', { class: 'tl-lane-label' });
		const evG = node('g', { class: 'tl-events' }, svg);
		for (const p of placed) {
			const cy = evTop + p.row * rowH + rowH / 2;
			const g = node('g', { class: 'tl-event', 'data-type': p.e.type, 'data-id': p.e.id }, evG);
			node('line', { x1: p.x, x2: p.x, y1: cy, y2: evTop + evRows * rowH + 2, class: 'tl-stem',
				stroke: '#b0bec5' }, g);
			node('circle', { cx: p.x, cy: cy, r: 5, fill: eventColour(p.e), class: 'tl-dot' }, g);
			text(g, p.right ? p.x + 8 : p.x - 8, cy + 4, p.label,
			    { 'text-anchor': p.right ? 'start' : 'end', class: 'tl-label' });
			tip(g, eventTip(p.e));
		}
		if (events.length === 0)
			text(evG, left + 4, evTop + 14, '没有事件', { class: 'tl-empty' });
		y = evTop + evRows * rowH + 6;

		/* the alerts lane */
		const alTop = y;
		const alRow = packer(6);
		const alPlaced = alerts.slice().sort((a, b) => instant(a.since) - instant(b.since)).map((a) => {
			const t = instant(a.since), x = X(t);
			const label = (SEVERITY_WORD[a.severity] || a.severity) + ' ' + a.rule;
			const w = textWidth(label, FS);
			const right = x + 9 + w <= W;
			const row = right ? alRow(x - 7, x + 9 + w) : alRow(x - 9 - w, x + 7);
			return { a: a, t: t, x: x, label: label, right: right, row: row };
		});
		const alRows = Math.max(1, alPlaced.reduce((m, p) => Math.max(m, p.row + 1), 0));
		text(lanes, 0, alTop + 14, '预警', { class: 'tl-lane-label' });
		const alG = node('g', { class: 'tl-alerts' }, svg);
		for (const p of alPlaced) {
			const a = p.a, cy = alTop + p.row * rowH + rowH / 2;
			const live = LIVE[a.status] === true;
			const g = node('g', {
				class: 'tl-alert sev-' + a.severity + (live ? ' live' : ' closed'),
				'data-id': a.id, 'data-severity': a.severity, 'data-status': a.status,
			}, alG);
			node('path', { d: 'M' + p.x + ' ' + (cy - 7) + 'l7 7l-7 7l-7-7z', fill: COLOUR[a.severity] || '#757575',
				'fill-opacity': live ? 1 : 0.45, class: 'tl-mark' }, g);
			text(g, p.right ? p.x + 9 : p.x - 9, cy + 4, p.label,
			    { 'text-anchor': p.right ? 'start' : 'end', class: 'tl-label' });
			let t = (SEVERITY_WORD[a.severity] || a.severity) + ' ' + a.rule + ' · ' +
			    (STATUS_WORD[a.status] || a.status) + '\n' + (a.message || '') + '\n起于 ' + fmtTime(p.t);
			if (instant(a.raised_at) !== null)
				t += '\n发出 ' + fmtTime(instant(a.raised_at));
			if (instant(a.status_at) !== null)
				t += '\n状态变更 ' + fmtTime(instant(a.status_at));
			tip(g, t + '\n预警编号 ' + a.id);
		}
		if (alerts.length === 0)
			text(alG, left + 4, alTop + 14, '没有预警', { class: 'tl-empty' });
		y = alTop + alRows * rowH + 4;

		/* the axis */
		const axisY = y;
		const axis = node('g', { class: 'tl-axis' }, svg);
		node('line', { x1: left, x2: W - right, y1: axisY, y2: axisY, class: 'baseline', stroke: '#455a64' }, axis);
		if (byDay && k * DAY >= 3) {   /* a small tick per day */
			for (let n = dayNumber(t0) + 1; dayStart(n) < t1; n++)
				node('line', { x1: X(dayStart(n)), x2: X(dayStart(n)), y1: axisY, y2: axisY + 3, class: 'day',
					stroke: '#90a4ae' }, axis);
		}
		for (const tk of ticks(t0, t1, k, 56)) {
			const x = X(tk.t);
			node('line', { x1: x, x2: x, y1: laneTop, y2: axisY + 6, class: 'grid' + (tk.major ? ' major' : ''),
				stroke: '#eceff1' }, axis);
			text(axis, x, axisY + 18, tk.label, { 'text-anchor': 'middle', class: 'tick' + (tk.major ? ' major' : '') });
		}
		/* the year (or the day, for hours) under the first tick */
		text(axis, left, axisY + 34, (byDay ? fmtDay(first) + ' 至 ' + fmtDay(last) : fmtTime(first) + ' 至 ' +
		    hhmm(last)) + '（北京时间）', { class: 'tl-axis-note' });
		lanes.parentNode.insertBefore(axis, lanes);   /* the grid under everything */

		/* deadlines and now: vertical lines through every lane, labelled in the flag rows */
		for (const f of flags) {
			const x = X(f.t), ly = flagTop + f.row * 16 + 11;
			if (f.now) {
				const g = node('g', { class: 'tl-now' }, vlines);
				node('line', { x1: x, x2: x, y1: ly - 11, y2: axisY, stroke: '#263238', 'stroke-dasharray': '2 3' }, g);
				text(g, f.lx, ly, f.label, { 'text-anchor': f.anchor, class: 'tl-flag' });
				tip(g, '现在（业务时钟）' + fmtTime(now));
				continue;
			}
			const d = f.d, colour = d.kind === 'committed' ? COLOUR.yellow : COLOUR.red;
			const g = node('g', { class: 'tl-deadline', 'data-kind': d.kind, 'data-day': d.day }, vlines);
			node('line', { x1: x, x2: x, y1: ly - 11, y2: axisY, stroke: colour, 'stroke-width': 2,
				'stroke-dasharray': d.kind === 'committed' ? '6 3' : null }, g);
			text(g, f.lx, ly, f.label, { 'text-anchor': f.anchor, class: 'tl-flag', fill: colour });
			tip(g, d.word + '：' + d.day + ' 24:00 止' +
			    (d.limit !== undefined && d.limit !== null ? '（' + d.limit + ' ' + unit + '，含延期，中止不计）' : '') +
			    (now > d.t ? '\n已超过' : ''));
		}
		svg.appendChild(clockG);   /* bars and markers above the lines */
		svg.appendChild(evG);
		svg.appendChild(alG);

		const H = axisY + 42;
		svg.setAttribute('width', W);
		svg.setAttribute('height', H);
		svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
		return svg;
	}

	window.EsupTimeline = Object.freeze({ render: render });
}());
