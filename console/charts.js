/* charts.js: the statistics charts of the console (统计分析, 绩效评估), drawn as SVG.
 *
 *   EsupCharts.onTime(el, json of GET /v1/stats/ontime)   按时办结率, one bar per department
 *   EsupCharts.cards(el, json of GET /v1/stats/cards)     每月预警, stacked columns per month
 *   EsupCharts.ranking(el, json of GET /v1/scores)        绩效评估排名, ranked bars of score
 *
 * Each function empties `el` and appends one <svg> drawn from exactly the JSON the endpoint
 * returned (it is read, never modified), and returns that <svg>. Nothing is fetched here.
 * The DOM hooks the console's tests rely on:
 *   on-time and ranking bars  rect.bar[data-dept]             (departments without a rate or
 *                                                              score get no bar, only a label)
 *   card columns              rect.bar[data-month][data-severity][data-count]
 *                              one per month and severity with a count above zero
 * Every bar carries a <title> (the browser's tooltip) in Chinese. Colours are SVG presentation
 * attributes (fill) and classes; console.css's charts section styles the text. No innerHTML,
 * no style attributes (the console's Content-Security-Policy forbids inline style). */
(function () {
	'use strict';

	const C = window.EsupCommon;
	const { NS, node, text, tip, textWidth } = C.svg;
	const COLOUR = C.COLOUR;
	const NEUTRAL = '#546e7a';   /* bars that are not a severity: rates, scores */
	const SEVERITY_WORD = C.SEVERITY_WORD;
	const SEVERITIES = ['red', 'yellow', 'notice'];   /* bottom of a column first */

	/* Cut a label to at most maxW px, with an ellipsis. */
	function fit(str, fs, maxW) {
		str = String(str);
		if (textWidth(str, fs) <= maxW)
			return str;
		let out = '';
		for (const ch of str) {
			if (textWidth(out + ch + '…', fs) > maxW)
				break;
			out += ch;
		}
		return out + '…';
	}

	function clear(el) {
		while (el.firstChild)
			el.removeChild(el.firstChild);
	}

	function width(el) {
		const w = el.clientWidth || (el.getBoundingClientRect ? el.getBoundingClientRect().width : 0);
		return Math.max(480, Math.floor(w || 900));
	}

	/* The <svg> root: its own coordinate system is its pixel size, so text is drawn at the
	 * size given (the CSS lets it shrink with max-width: 100% on narrow screens). */
	function root(el, cls, w, h, label) {
		clear(el);
		const svg = node('svg', {
			xmlns: NS, class: 'chart ' + cls, width: w, height: h,
			viewBox: '0 0 ' + w + ' ' + h, role: 'img', 'aria-label': label,
		}, el);
		tip(svg, label);
		text(svg, 0, 20, label, { class: 'chart-title' });
		return svg;
	}

	function pct(rate, digits) {
		return (rate * 100).toFixed(digits === undefined ? 1 : digits) + '%';
	}

	function deptLabel(d) {
		return d.name ? d.name : d.dept;
	}

	/* A message in place of an empty chart. */
	function empty(svg, y, msg) {
		text(svg, 0, y, msg, { class: 'chart-empty' });
	}

	/* Vertical grid lines and labels of a 0..max horizontal axis at [x0, x0+pw]. */
	function xAxis(svg, x0, pw, top, bottom, ticks, label) {
		const g = node('g', { class: 'axis' }, svg);
		for (const v of ticks) {
			const x = x0 + pw * v.at;
			node('line', { x1: x, x2: x, y1: top, y2: bottom, class: 'grid' }, g);
			text(g, x, bottom + 14, v.label, { 'text-anchor': 'middle', class: 'tick' });
		}
		if (label)
			text(g, x0 + pw, bottom + 30, label, { 'text-anchor': 'end', class: 'axis-label' });
		return g;
	}

	const FS = 13;   /* label font size, px; the CSS uses the same */

	/* 按时办结率 · {month}: departments by rate, highest first; no decision: "无办结". */
	function onTime(el, data) {
		const depts = (data && Array.isArray(data.departments)) ? data.departments.slice() : [];
		depts.sort((a, b) => {
			const ra = a.rate === null || a.rate === undefined, rb = b.rate === null || b.rate === undefined;
			if (ra !== rb)
				return ra ? 1 : -1;
			if (!ra && a.rate !== b.rate)
				return b.rate - a.rate;
			if (!ra && a.decided !== b.decided)
				return b.decided - a.decided;
			return a.dept < b.dept ? -1 : a.dept > b.dept ? 1 : 0;
		});
		const W = width(el), rowH = 24, top = 40;
		const labelW = Math.min(260, Math.floor(W * 0.28)), valueW = 150;
		const x0 = labelW + 8, pw = W - x0 - valueW;
		const H = top + Math.max(1, depts.length) * rowH + 40;
		const svg = root(el, 'chart-ontime', W, H, '按时办结率 · ' + (data && data.month ? data.month : ''));
		if (depts.length === 0) {
			empty(svg, top + 16, '范围内没有部门');
			return svg;
		}
		const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ at: v, label: pct(v, 0) }));
		xAxis(svg, x0, pw, top - 4, top + depts.length * rowH, ticks, '按时办结 / 办结');
		depts.forEach((d, i) => {
			const y = top + i * rowH, cy = y + rowH / 2;
			const g = node('g', { class: 'row' }, svg);
			const name = text(g, labelW, cy + 4, fit(deptLabel(d), FS, labelW - 4),
			    { 'text-anchor': 'end', class: 'label' });
			tip(name, d.dept + ' ' + deptLabel(d));
			if (d.rate === null || d.rate === undefined) {
				const t = text(g, x0 + 4, cy + 4, '无办结', { class: 'value none' });
				tip(t, deptLabel(d) + '（' + d.dept + '）：本月无办结件');
				return;
			}
			const r = Math.max(0, Math.min(1, Number(d.rate)));
			const bar = node('rect', {
				class: 'bar', 'data-dept': d.dept, 'data-rate': d.rate,
				x: x0, y: y + 4, width: Math.max(1, pw * r), height: rowH - 8,
				fill: NEUTRAL,
			}, g);
			tip(bar, deptLabel(d) + '（' + d.dept + '）\n按时办结率 ' + pct(r) + '\n按时 ' +
			    d.on_time + ' / 办结 ' + d.decided + ' 件');
			text(g, x0 + pw * r + 6, cy + 4, pct(r) + '（' + d.on_time + '/' + d.decided + '）',
			    { class: 'value' });
		});
		return svg;
	}

	/* Round an axis maximum up to 1, 2 or 5 × 10^k, with about `n` ticks below it. */
	function niceTicks(max, n) {
		if (max <= 0)
			return { max: 1, step: 1 };
		const raw = max / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
		let step = mag;
		for (const m of [1, 2, 5, 10])
			if (m * mag >= raw) {
				step = m * mag;
				break;
			}
		step = Math.max(1, step);
		return { max: Math.ceil(max / step) * step, step: step };
	}

	/* 每月预警（有效红黄牌）: one stacked column per month, red at the bottom. */
	function cards(el, data) {
		const months = (data && Array.isArray(data.months)) ? data.months : [];
		const W = width(el), top = 56, plotH = 220, left = 44, right = 12;
		const H = top + plotH + 56;
		const svg = root(el, 'chart-cards', W, H, '每月预警（有效红黄牌）');
		/* the legend, top right */
		const legend = node('g', { class: 'legend' }, svg);
		let lx = W - right;
		for (const s of SEVERITIES.slice().reverse()) {
			const word = SEVERITY_WORD[s];
			lx -= textWidth(word, FS) + 4;
			text(legend, lx, 21, word, { class: 'legend-label' });
			lx -= 16;
			node('rect', { x: lx, y: 10, width: 12, height: 12, fill: COLOUR[s], class: 'swatch sev-' + s }, legend);
			lx -= 14;
		}
		if (months.length === 0) {
			empty(svg, top + 16, '没有数据');
			return svg;
		}
		const totals = months.map((m) => SEVERITIES.reduce((t, s) => t + (Number(m[s]) || 0), 0));
		const nice = niceTicks(Math.max.apply(null, totals), 5);
		const pw = W - left - right, colW = pw / months.length;
		const barW = Math.max(4, Math.min(48, colW * 0.64));
		const base = top + plotH, yOf = (v) => base - plotH * v / nice.max;
		const axis = node('g', { class: 'axis' }, svg);
		for (let v = 0; v <= nice.max; v += nice.step) {
			node('line', { x1: left, x2: W - right, y1: yOf(v), y2: yOf(v), class: v === 0 ? 'baseline' : 'grid' }, axis);
			text(axis, left - 6, yOf(v) + 4, String(v), { 'text-anchor': 'end', class: 'tick' });
		}
		text(axis, 0, top - 10, '张', { class: 'axis-label' });
		/* month labels: every month when there is room, else every 2nd, 3rd, 6th or 12th month of
		 * the calendar (January always); the year under each January and under the first label */
		const every = [1, 2, 3, 6].find((n) => n * colW >= 34) || 12;
		const mon = (m) => Number(String(m.month).slice(5, 7));
		const labelled = months.map((m) => (mon(m) - 1) % every === 0);
		const firstLabel = labelled.indexOf(true);
		const nextJan = months.findIndex((m, i) => i > firstLabel && mon(m) === 1);
		months.forEach((m, i) => {
			const cx = left + colW * (i + 0.5), x = cx - barW / 2;
			const g = node('g', { class: 'column' }, svg);
			let y = base;
			for (const s of SEVERITIES) {
				const n = Number(m[s]) || 0;
				if (n <= 0)
					continue;
				const h = plotH * n / nice.max;
				y -= h;
				const bar = node('rect', {
					class: 'bar sev-' + s, 'data-month': m.month, 'data-severity': s, 'data-count': n,
					x: x, y: y, width: barW, height: Math.max(0.5, h), fill: COLOUR[s],
				}, g);
				tip(bar, m.month + ' ' + SEVERITY_WORD[s] + ' ' + n + ' 张');
			}
			const total = text(g, cx, y - 4, String(totals[i]), { 'text-anchor': 'middle', class: 'total' });
			tip(total, m.month + ' 共 ' + totals[i] + ' 张：红牌 ' + (m.red || 0) + '，黄牌 ' +
			    (m.yellow || 0) + '，提示 ' + (m.notice || 0));
			if (labelled[i]) {
				text(g, cx, base + 16, mon(m) + '月', { 'text-anchor': 'middle', class: 'tick' });
				if (mon(m) === 1 || (i === firstLabel && (nextJan < 0 || (nextJan - i) * colW >= 44)))
					text(g, cx, base + 32, String(m.month).slice(0, 4), { 'text-anchor': 'middle', class: 'tick year' });
			}
		});
		return svg;
	}

	/* 绩效评估排名 · {period}: by rank; the bottom marked 末位; no score: "无可评", last. */
	function ranking(el, data) {
		const depts = (data && Array.isArray(data.departments)) ? data.departments.slice() : [];
		const scored = (d) => d.score !== null && d.score !== undefined;
		depts.sort((a, b) => {
			if (scored(a) !== scored(b))
				return scored(a) ? -1 : 1;
			const ra = a.rank === null || a.rank === undefined ? Infinity : a.rank;
			const rb = b.rank === null || b.rank === undefined ? Infinity : b.rank;
			if (ra !== rb)
				return ra - rb;
			if (scored(a) && a.score !== b.score)
				return b.score - a.score;
			return a.dept < b.dept ? -1 : a.dept > b.dept ? 1 : 0;
		});
		const W = width(el), rowH = 24, top = 40, rankW = 36;
		const labelW = Math.min(260, Math.floor(W * 0.28)), valueW = 110;
		const x0 = rankW + labelW + 8, pw = W - x0 - valueW;
		const H = top + Math.max(1, depts.length) * rowH + 40;
		const svg = root(el, 'chart-ranking', W, H, '绩效评估排名 · ' + (data && data.period ? data.period : ''));
		if (depts.length === 0) {
			empty(svg, top + 16, '范围内没有部门');
			return svg;
		}
		const ticks = [0, 20, 40, 60, 80, 100].map((v) => ({ at: v / 100, label: String(v) }));
		xAxis(svg, x0, pw, top - 4, top + depts.length * rowH, ticks, '得分');
		depts.forEach((d, i) => {
			const y = top + i * rowH, cy = y + rowH / 2;
			const g = node('g', { class: 'row' + (d.bottom ? ' bottom' : '') }, svg);
			text(g, rankW - 6, cy + 4, d.rank === null || d.rank === undefined ? '—' : String(d.rank),
			    { 'text-anchor': 'end', class: 'rank' });
			const name = text(g, rankW + labelW, cy + 4, fit(deptLabel(d), FS, labelW - 4),
			    { 'text-anchor': 'end', class: 'label' });
			tip(name, d.dept + ' ' + deptLabel(d));
			const detail = '办结 ' + d.decided + ' 件，按时办结率 ' +
			    (d.on_time_rate === null || d.on_time_rate === undefined ? '—' : pct(d.on_time_rate)) +
			    '\n红牌 ' + d.red + '，黄牌 ' + d.yellow + '，提示 ' + d.notice;
			if (!scored(d)) {
				const t = text(g, x0 + 4, cy + 4, '无可评', { class: 'value none' });
				tip(t, deptLabel(d) + '（' + d.dept + '）：本期无可评\n' + detail);
				return;
			}
			const s = Math.max(0, Math.min(100, Number(d.score)));
			const bar = node('rect', {
				class: 'bar' + (d.bottom ? ' bottom' : ''), 'data-dept': d.dept, 'data-score': d.score,
				'data-rank': d.rank === null || d.rank === undefined ? null : d.rank,
				x: x0, y: y + 4, width: Math.max(1, pw * s / 100), height: rowH - 8,
				fill: d.bottom ? COLOUR.red : NEUTRAL,
			}, g);
			tip(bar, (d.rank ? '第 ' + d.rank + ' 名　' : '') + deptLabel(d) + '（' + d.dept + '）\n得分 ' +
			    s.toFixed(1) + (d.bottom ? '（末位）' : '') + '\n' + detail);
			text(g, x0 + pw * s / 100 + 6, cy + 4, s.toFixed(1), { class: 'value' });
			if (d.bottom)
				text(g, x0 + pw * s / 100 + 6 + textWidth(s.toFixed(1), FS) + 6, cy + 4, '末位',
				    { class: 'value bottom-mark', fill: COLOUR.red });
		});
		return svg;
	}

	window.EsupCharts = Object.freeze({ onTime: onTime, cards: cards, ranking: ranking });
}());
