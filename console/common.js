/* common.js: what the console's scripts share, loaded before them: the words people read
 * (severities, statuses, event types, in Chinese), the severity colours, and the few SVG
 * helpers charts.js and timeline.js draw with. One table each, so the alert page, the
 * timeline and the charts cannot name the same thing two ways.
 *
 *   EsupCommon.dict(o)                 a frozen lookup table without a prototype
 *   EsupCommon.COLOUR / SEVERITY_WORD / STATUS_WORD / EVENT_TYPE_WORD
 *   EsupCommon.svg.node(tag, attrs, parent), .text(parent, x, y, str, attrs), .tip(parent, str),
 *   EsupCommon.svg.textWidth(str, fs)
 * No innerHTML, no style attributes (the console's Content-Security-Policy forbids them). */
(function () {
	'use strict';

	/* lookup tables without a prototype: a type or field named "constructor" finds nothing */
	const dict = (o) => Object.freeze(Object.assign(Object.create(null), o));

	const COLOUR = dict({ red: '#c62828', yellow: '#f9a825', notice: '#1565c0', clear: '#2e7d32' });
	const SEVERITY_WORD = dict({ red: '红牌', yellow: '黄牌', notice: '提示', clear: '正常' });
	const STATUS_WORD = dict({
		held: '待发', open: '未处理', acknowledged: '已回告', appealed: '申诉中',
		suppressed: '已抑制', resolved: '已解除', dismissed: '不予认定', revoked: '已撤消',
		cancelled: '已取消', superseded: '已替代', expired: '已结束',
	});
	/* Every event type of docs/protocol.md (libmonitor/event.c's table). */
	const EVENT_TYPE_WORD = dict({
		'approval.received': '收件',
		'approval.supplement_requested': '补正告知',
		'approval.supplement_received': '补正收到',
		'approval.accepted': '受理',
		'approval.refused_intake': '不予受理',
		'approval.step': '环节',
		'approval.suspended': '中止',
		'approval.resumed': '恢复',
		'approval.extended': '延期',
		'approval.decided': '办结',
		'approval.withdrawn': '撤回',
		'approval.delay_reported': '缓批报告',
		'fee.collected': '收费',
		'fee.refunded': '退费',
		'fee.filed': '收费备案',
		'penalty.decided': '处罚决定',
		'penalty.filed': '处罚备案',
		'penalty.hearing_held': '听证',
		'inspection.started': '检查开始',
		'inspection.ended': '检查结束',
		'complaint.received': '投诉受理',
		'complaint.replied': '投诉答复',
		'complaint.closed': '投诉办结',
		'evaluation.received': '评价',
		'evaluation.rectified': '整改',
		'inquiry.received': '咨询',
		'inquiry.answered': '咨询答复',
		'trade.announced': '交易公告',
		'trade.bids_opened': '开标',
		'trade.awarded': '定标',
	});

	const NS = 'http://www.w3.org/2000/svg';

	/* An SVG element with attributes (null and undefined left out), appended to parent. */
	function node(tag, attrs, parent) {
		const n = document.createElementNS(NS, tag);
		for (const k of Object.keys(attrs || {}))
			if (attrs[k] !== null && attrs[k] !== undefined)
				n.setAttribute(k, String(attrs[k]));
		if (parent)
			parent.appendChild(n);
		return n;
	}

	function text(parent, x, y, str, attrs) {
		const t = node('text', Object.assign({ x: x, y: y }, attrs || {}), parent);
		t.textContent = str;
		return t;
	}

	/* A <title> child: the tooltip. */
	function tip(parent, str) {
		const t = node('title', null, parent);
		t.textContent = str;
		return t;
	}

	/* An estimate of a string's width in px at font size fs: CJK and full-width characters
	 * take about fs, others about 0.6 fs. Enough to lay labels out without measuring. */
	function textWidth(str, fs) {
		let w = 0;
		for (const ch of String(str)) {
			const c = ch.codePointAt(0);
			w += (c >= 0x2e80 && c <= 0xffef) ? fs : 0.6 * fs;
		}
		return w;
	}

	window.EsupCommon = Object.freeze({
		dict, COLOUR, SEVERITY_WORD, STATUS_WORD, EVENT_TYPE_WORD,
		svg: Object.freeze({ NS, node, text, tip, textWidth }),
	});
})();
