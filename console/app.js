/* app.js: the supervision console (监察控制台), a single-page app served by esupd under
 * /console/. Plain ES2017, no framework: api() talks to the daemon's /v1 JSON routes with the
 * browser's client certificate, a hash router draws one view at a time into <main>, one
 * EventSource follows /v1/alerts/stream and refreshes the current view when an alert changes.
 * Data never goes through innerHTML: every node is built with createElement/textContent.
 * The DOM hooks (ids, classes, data-* attributes) are the contract in docs/console.md. */
'use strict';

(function () {
	const SEVERITY = window.EsupCommon.SEVERITY_WORD;
	const SEVERITY_RANK = { red: 3, yellow: 2, notice: 1, clear: 0 };
	const STATUS = window.EsupCommon.STATUS_WORD;
	const ACTION = {
		ack: '回告', appeal: '申诉', reject: '驳回申诉', revoke: '撤消', resolve: '解除',
		dismiss: '不予认定', confirm: '确认发出', cancel: '取消', escalate: '督办', silence: '静默',
		raise: '产生预警', suppress: '抑制', issue: '发出', supersede: '被替代', correct: '部门纠错',
	};
	const ROLE = { supervisor: '监察室', department: '部门', auditor: '审计', monitor: '监测', system: '系统' };
	const CASE_STATUS = {
		received: '已收件', accepted: '已受理', suspended: '已中止', decided: '已办结',
		refused: '不予受理', withdrawn: '已撤回', closed: '已办结', open: '办理中',
	};
	const STATUS_PRESETS = [
		['', '全部状态'],
		['open,acknowledged,appealed,held', '待处理（未处理/已回告/申诉中/待发）'],
		['open,acknowledged,appealed', '在办（未处理/已回告/申诉中）'],
	];
	const PENDING = 'open,acknowledged,appealed,held';
	const SEVERITY_PRESETS = [
		['', '全部级别'], ['red', '红牌'], ['yellow', '黄牌'], ['notice', '提示'],
		['red,yellow', '红牌和黄牌'],
	];
	const PAGE = 50;
	const REFRESH_DEBOUNCE_MS = 300;

	/* ------------------------------------------------------------ DOM helpers */

	/* h('tag.class', {attr: value, onclick: fn}, child, …): an element. Attributes are set
	 * with setAttribute (never "style"); children are nodes or text. */
	function h(spec, attrs, ...children) {
		const parts = spec.split('.');
		const el = document.createElement(parts[0]);
		if (parts.length > 1)
			el.className = parts.slice(1).join(' ');
		if (attrs) {
			for (const [k, v] of Object.entries(attrs)) {
				if (v === null || v === undefined || v === false)
					continue;
				if (k.startsWith('on') && typeof v === 'function')
					el.addEventListener(k.slice(2), v);
				else if (k === 'style')
					throw new Error('style attributes are blocked by the CSP');
				else if (k === 'dataset')
					Object.assign(el.dataset, v);
				else if (k === 'text')
					el.textContent = v;
				else
					el.setAttribute(k, v === true ? '' : String(v));
			}
		}
		append(el, children);
		return el;
	}

	/* append(el, child, [child, …], …): nodes or text, arrays flattened, nulls skipped. */
	function append(el, ...children) {
		for (const c of children) {
			if (c === null || c === undefined || c === false)
				continue;
			if (Array.isArray(c))
				append(el, ...c);
			else if (c instanceof Node)
				el.appendChild(c);
			else
				el.appendChild(document.createTextNode(String(c)));
		}
		return el;
	}

	function clear(el) {
		while (el.firstChild)
			el.removeChild(el.firstChild);
		return el;
	}

	/* Redraws with fn() and puts the keyboard focus back where it was: on the same element
	 * when fn() kept it (the note being typed, with its caret), else on the first link or
	 * button of the row or tile (same data-id / data-dept / data-case / data-item) it was in,
	 * so that a live refresh does not throw a keyboard user back to the top. */
	function keepFocus(container, fn) {
		const el = document.activeElement;
		if (!el || el === document.body || !container.contains(el))
			return fn();
		const caret = 'selectionStart' in el && typeof el.selectionStart === 'number' ?
			[el.selectionStart, el.selectionEnd] : null;
		const holder = el.closest('[data-id], [data-dept], [data-case], [data-item]');
		let key = null;
		if (holder) {
			for (const a of ['data-id', 'data-case', 'data-item', 'data-dept'])
				if (holder.hasAttribute(a)) {
					key = `[${a}="${CSS.escape(holder.getAttribute(a))}"]`;
					break;
				}
		}
		const sameAction = el.dataset && el.dataset.action ? el.dataset.action : null;
		const result = fn();
		if (container.contains(el) && el.isConnected) {
			el.focus({ preventScroll: true });
			if (caret)
				el.setSelectionRange(caret[0], caret[1]);
		} else if (sameAction && container.querySelector(`[data-action="${CSS.escape(sameAction)}"]`)) {
			container.querySelector(`[data-action="${CSS.escape(sameAction)}"]`).focus({ preventScroll: true });
		} else if (key) {
			const again = container.querySelector(key);
			const target = again && (again.matches('a, button') ? again : again.querySelector('a, button'));
			if (target)
				target.focus({ preventScroll: true });
		}
		return result;
	}

	function severityBadge(sev) {
		return h('span.badge.sev-' + (SEVERITY[sev] ? sev : 'clear'), { 'data-severity': sev },
			SEVERITY[sev] || sev);
	}

	function statusBadge(status) {
		return h('span.status.st-' + status, { 'data-status': status }, STATUS[status] || status);
	}

	function deptName(code) {
		const d = state.depts.get(code);
		return d && d.name ? d.name : code;
	}

	function deptLabel(code) {
		if (!code)
			return '—';
		return h('span.dept', null, deptName(code),
			deptName(code) !== code ? h('small.code', null, ' ', code) : null);
	}

	/* ------------------------------------------------------------ times (Asia/Shanghai) */

	const shanghai = new Intl.DateTimeFormat('en-CA', {
		timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
		hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
	});
	const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

	/* "2026-03-26 10:12:40" in Shanghai time, from an RFC 3339 string with any offset. */
	function fmtTime(text, withSeconds) {
		if (!text)
			return '—';
		const d = new Date(text);
		if (isNaN(d.getTime()))
			return String(text);
		const p = {};
		for (const part of shanghai.formatToParts(d))
			p[part.type] = part.value;
		const t = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
		return withSeconds === false ? t : `${t}:${p.second}`;
	}

	function timeEl(text, withSeconds) {
		return h('time', { datetime: text || null, title: text ? fmtTime(text) : null }, fmtTime(text, withSeconds));
	}

	/* The business date (YYYY-MM-DD, Shanghai) of an RFC 3339 time. */
	function businessDate(text) {
		return text ? fmtTime(text).slice(0, 10) : '';
	}

	/* An RFC 3339 time in +08:00 for epoch milliseconds. */
	function toShanghaiISO(ms) {
		return fmtTime(new Date(ms).toISOString()).replace(' ', 'T') + '+08:00';
	}

	/* ------------------------------------------------------------ state */

	const state = {
		me: null,
		now: null,                 /* the business clock as last heard (businessNow) */
		depts: new Map(),          /* code → {dept, name, region} from /v1/board */
		gen: 0,                    /* bumped on every navigation: stale loads draw nothing */
		route: null,
		view: null,                /* {name, refresh()} of the view on screen */
		source: null,              /* the EventSource */
		refreshTimer: 0,
		retryTimer: 0,
		lastEventAt: null,
	};

	/* ------------------------------------------------------------ the API */

	class ApiError extends Error {
		constructor(status, body, path) {
			super(errorText(body) || ('HTTP ' + status));
			this.status = status;
			this.body = body;
			this.path = path;
		}
	}

	/* The message of an error body: {"error":"…"} or {"error":{"field","expected","got"}}. */
	function errorText(body) {
		if (!body || body.error === undefined)
			return '';
		const e = body.error;
		if (typeof e === 'string')
			return e;
		if (e && typeof e === 'object') {
			let s = (e.field ? e.field + ': ' : '') + (e.expected ? '应为 ' + e.expected : '');
			if (e.got !== undefined && e.got !== null)
				s += '，收到 ' + e.got;
			return s;
		}
		return String(e);
	}

	function sleep(ms) {
		return new Promise((resolve) => setTimeout(resolve, ms));
	}

	/* fetch a /v1 route as JSON. A 503 (or 429) is retried after its Retry-After for as long
	 * as the view that asked is still on screen (gen), with the banner saying so; any other
	 * non-2xx throws an ApiError. opts: {method, body (an object, sent as JSON), gen}. */
	async function api(path, opts) {
		opts = opts || {};
		const gen = opts.gen === undefined ? state.gen : opts.gen;
		const init = {
			method: opts.method || 'GET',
			credentials: 'same-origin',
			cache: 'no-store',
			headers: { Accept: 'application/json' },
		};
		if (opts.body !== undefined) {
			init.headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(opts.body);
		}
		for (let attempt = 0; ; attempt++) {
			let res;
			try {
				res = await fetch(path, init);
			} catch (err) {
				/* The connection itself failed (daemon restarting, network): retry too. */
				if (gen !== state.gen && !opts.keep)
					throw new ApiError(0, { error: '已离开此页面' }, path);
				showRetry(0, Math.min(2 + attempt, 10), '无法连接监察服务');
				await sleep(Math.min(2 + attempt, 10) * 1000);
				continue;
			}
			let body = null;
			const type = res.headers.get('Content-Type') || '';
			if (type.indexOf('json') >= 0) {
				try {
					body = await res.json();
				} catch (err) {
					body = null;
				}
			}
			if ((res.status === 503 || res.status === 429) &&
			    (gen === state.gen || opts.keep)) {
				const after = retryAfter(res.headers.get('Retry-After'));
				showRetry(res.status, after, errorText(body));
				await sleep(after * 1000);
				continue;
			}
			hideRetry();
			/* A refused read says something about the certificate; a refused change (an
			 * action, a silence) is that form's own error. */
			if ((res.status === 401 || res.status === 403) && init.method === 'GET')
				showAuthProblem(res.status, body, path);
			if (!res.ok)
				throw new ApiError(res.status, body, path);
			return body;
		}
	}

	function retryAfter(header) {
		const n = parseInt(header || '', 10);
		return Number.isFinite(n) && n > 0 ? Math.min(n, 120) : 2;
	}

	function banner() {
		return document.getElementById('banner');
	}

	function showRetry(status, seconds, detail) {
		const b = banner();
		b.hidden = false;
		b.className = 'retry';
		b.dataset.status = String(status);
		clear(b);
		const what = status === 503 ? '数据库暂不可用，正在重试' :
			status === 429 ? '服务繁忙，正在重试' : '无法连接监察服务，正在重试';
		append(b, [h('strong', null, what), `（${seconds} 秒后）`,
			detail ? h('small', null, ' ', detail) : null]);
	}

	function hideRetry() {
		const b = banner();
		if (b.className === 'retry') {
			b.hidden = true;
			b.className = '';
			clear(b);
		}
	}

	/* 401 and 403 answer what the certificate may do: say it where it cannot be missed. */
	function showAuthProblem(status, body, path) {
		if (path.startsWith('/v1/alerts/') && path.split('/').length > 4 && status === 403)
			return;   /* a refused action: the action's own error line says it */
		if (path.startsWith('/v1/stats') || path.startsWith('/v1/scores'))
			return;   /* departments: the charts view says it */
		const b = banner();
		b.hidden = false;
		b.className = 'auth';
		b.dataset.status = String(status);
		clear(b);
		if (status === 401)
			append(b, [h('strong', null, '未出示客户端证书（401）'),
				'：请把监察证书（PKCS#12）导入浏览器后重新打开本页，打开时选择该证书。']);
		else
			append(b, [h('strong', null, '此证书无权访问（403）'), '：',
				errorText(body) || '证书未登记、已停用或已吊销', '。请联系运维核对证书登记。']);
	}

	/* ------------------------------------------------------------ router */

	/* "#/alerts?status=open&dept=X" → {name:"alerts", parts:[], query:URLSearchParams} */
	function parseHash() {
		let hash = location.hash.replace(/^#\/?/, '');
		let query = '';
		const q = hash.indexOf('?');
		if (q >= 0) {
			query = hash.slice(q + 1);
			hash = hash.slice(0, q);
		}
		const parts = hash.split('/').filter((s) => s !== '').map((s) => {
			try {
				return decodeURIComponent(s);
			} catch (err) {
				return s;
			}
		});
		return { name: parts[0] || 'board', parts: parts.slice(1), query: new URLSearchParams(query) };
	}

	const VIEWS = {
		board: viewBoard, dept: viewDept, alerts: viewAlerts, alert: viewAlert,
		case: viewCase, charts: viewCharts,
	};

	function navigate() {
		const route = parseHash();
		const fn = VIEWS[route.name];
		state.gen++;
		state.route = route;
		clearTimeout(state.refreshTimer);
		document.body.classList.toggle('wall', route.name === 'board' && route.query.get('wall') === '1');
		for (const a of document.querySelectorAll('#nav a')) {
			const active = a.dataset.nav === route.name ||
				(a.dataset.nav === 'board' && (route.name === 'dept' || route.name === 'case')) ||
				(a.dataset.nav === 'alerts' && route.name === 'alert');
			if (active)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
		const main = clear(document.getElementById('main'));
		if (!fn) {
			setView('board', false);
			append(main, h('p.notice-box', null, '没有这个页面：', location.hash, '。',
				h('a', { href: '#/board' }, '回到监察看板')));
			setReady(true);
			return;
		}
		setView(route.name, false);
		state.view = fn(main, route, state.gen) || null;
	}

	function setView(name, ready) {
		document.body.dataset.view = name;
		setReady(ready);
	}

	function setReady(ready) {
		document.body.dataset.ready = ready ? '1' : '0';
	}

	/* Runs a view's load: data-ready 0, then 1 once drawn; errors drawn into `into`. */
	async function load(gen, into, fn) {
		setReady(false);
		try {
			await fn();
		} catch (err) {
			if (gen !== state.gen)
				return;
			showError(into, err);
		}
		if (gen === state.gen)
			setReady(true);
	}

	function showError(into, err) {
		let old = into.querySelector(':scope > .load-error');
		if (old)
			old.remove();
		let text;
		if (err instanceof ApiError) {
			if (err.status === 404)
				text = '未找到：不存在，或不在您的监察范围内。';
			else if (err.status === 401)
				text = '需要客户端证书（401）。';
			else if (err.status === 403)
				text = '此证书无权查看（403）：' + err.message;
			else if (err.status === 400)
				text = '请求无效（400）：' + err.message;
			else
				text = `服务出错（${err.status}）：${err.message}`;
		} else {
			text = '页面出错：' + (err && err.message ? err.message : String(err));
		}
		into.insertBefore(h('p.load-error', { role: 'alert' }, text), into.firstChild);
	}

	/* ------------------------------------------------------------ header, /v1/me */

	async function loadMe() {
		const me = await api('/v1/me', { keep: true });
		state.me = me;
		const region = me.region_name || (me.region ? me.region : '全部地区');
		document.getElementById('title').textContent = '电子监察 · ' + region;
		document.title = '电子监察 · ' + region;
		const el = clear(document.getElementById('me'));
		append(el, [
			h('span.subject', null, me.subject || '—'),
			h('span.role', { 'data-role': me.role }, ROLE[me.role] || me.role),
			me.dept ? h('span.dept-name', { title: me.dept }, deptName(me.dept)) : null,
			me.region ? h('span.region', { title: '地区代码' }, me.region_name ?
				`${me.region_name} ${me.region}` : me.region) : h('span.region', null, '全部地区'),
		]);
		document.body.dataset.role = me.role || '';
		document.getElementById('nav-charts').hidden = me.role === 'department';
		showClock(me.now);
		return me;
	}

	/* The business clock as last heard from esupd (GET /v1/me, GET /v1/board). */
	function businessNow() {
		return state.now || (state.me && state.me.now) || null;
	}

	function showClock(now) {
		const c = document.getElementById('clock');
		if (now) {
			state.now = now;
			c.textContent = '业务日期 ' + businessDate(now);
			c.dataset.now = now;
		}
	}

	function isSupervisor() {
		return state.me && state.me.role === 'supervisor';
	}

	/* Department names for labels, from the board (scoped like everything else). */
	async function loadDepts(gen) {
		const board = await api('/v1/board', { gen });
		rememberDepts(board);
		return board;
	}

	function rememberDepts(board) {
		for (const d of board.departments || [])
			state.depts.set(d.dept, d);
		const mine = document.querySelector('#me .dept-name');
		if (mine && state.me && state.me.dept)
			mine.textContent = deptName(state.me.dept);
		if (board.now)
			showClock(board.now);
	}

	/* ------------------------------------------------------------ live (SSE) */

	function setLive(s) {
		const el = document.getElementById('live');
		el.dataset.state = s;
		el.textContent = s === 'live' ? '实时' : s === 'connecting' ? '连接中' : '已断开';
		el.title = s === 'live' ? '实时预警流已连接' +
			(state.lastEventAt ? '；最近变化 ' + fmtTime(state.lastEventAt) : '') :
			s === 'connecting' ? '正在连接实时预警流' : '实时预警流已断开，稍后重连';
	}

	/* One EventSource for the page; it reconnects by itself (Last-Event-ID). Only when the
	 * browser gives up (a non-200 answer such as 503 or 429 closes it) is a new one made,
	 * after a pause; the view is refreshed then, since changes may have been missed. */
	function startLive() {
		if (typeof EventSource === 'undefined') {
			setLive('down');
			return;
		}
		setLive('connecting');
		const es = new EventSource('/v1/alerts/stream');
		state.source = es;
		let wasDown = false;
		es.onopen = () => {
			setLive('live');
			if (wasDown)
				scheduleRefresh();
			wasDown = false;
		};
		es.onerror = () => {
			wasDown = true;
			if (es.readyState === EventSource.CLOSED) {
				setLive('down');
				state.source = null;
				clearTimeout(state.retryTimer);
				state.retryTimer = setTimeout(() => {
					startLive();
					scheduleRefresh();
				}, 5000);
			} else {
				setLive('connecting');
			}
		};
		es.addEventListener('alert', (ev) => {
			let data = null;
			try {
				data = JSON.parse(ev.data);
				if (data && data.action && data.action.at)
					state.lastEventAt = data.action.at;
			} catch (err) {
				data = null;   /* a malformed event is still a reason to look again */
			}
			setLive('live');
			const view = state.view;
			if (!data || !data.alert || !view || !view.concerns || view.concerns(data.alert))
				scheduleRefresh();
		});
	}

	function scheduleRefresh() {
		clearTimeout(state.refreshTimer);
		state.refreshTimer = setTimeout(() => {
			if (state.view && state.view.refresh)
				state.view.refresh();
		}, REFRESH_DEBOUNCE_MS);
	}

	/* ------------------------------------------------------------ shared pieces */

	/* A section title with its count: "案件（12）", or when the server sent only the first of
	 * them, "案件（前500件，共1508件）". */
	function shownOf(title, shown, total, unit) {
		return total > shown ? `${title}（前${shown}${unit}，共${total}${unit}）` : `${title}（${shown}）`;
	}

	function counts(live, held, showHeld) {
		live = live || {};
		const one = (cls, n, title) => h('span.count.' + cls + (n ? '' : '.zero'), { title }, String(n || 0));
		return h('span.counts', null,
			one('count-red', live.red, '红牌'), one('count-yellow', live.yellow, '黄牌'),
			one('count-notice', live.notice, '提示'), showHeld ? one('count-held', held, '待发') : null);
	}

	function seesHeld() {
		return state.me && state.me.role !== 'department';
	}

	/* A row that opens `href` when clicked anywhere; the link inside keeps it keyboard-usable. */
	function clickableRow(tr, href) {
		tr.classList.add('clickable');
		tr.addEventListener('click', (ev) => {
			if (ev.target.closest('a, button, input, select, textarea'))
				return;
			if (window.getSelection && String(window.getSelection()).length > 0)
				return;
			location.hash = href;
		});
		return tr;
	}

	function table(cls, headers, rows, empty) {
		if (rows.length === 0)
			return h('p.empty', null, empty);
		return h('div.table-wrap', null, h('table.' + cls, null,
			h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
			h('tbody', null, rows)));
	}

	function caseHref(dept, caseNo) {
		return '#/case/' + encodeURIComponent(dept) + '/' + encodeURIComponent(caseNo);
	}

	function alertRow(a) {
		const tr = h('tr.alert-row', {
			'data-id': a.id, 'data-status': a.status, 'data-severity': a.severity,
		},
		h('td.num', null, h('a', { href: '#/alert/' + a.id }, '#' + a.id)),
		h('td', null, severityBadge(a.severity)),
		h('td', null, statusBadge(a.status),
			a.escalation_level > 0 ? h('span.esc', { title: '督办至 ' + (a.escalated_to || '') },
				' 督办' + a.escalation_level) : null),
		h('td.rule', null, h('code', null, a.rule)),
		h('td', null, deptLabel(a.dept)),
		h('td.case', null, a['case'] ? h('a', { href: caseHref(a.dept, a['case']) }, a['case']) : '—'),
		h('td.time', null, timeEl(a.since, false)),
		h('td.msg', null, h('span.clamp', { title: a.message || null }, a.message || '')));
		return clickableRow(tr, '#/alert/' + a.id);
	}

	const ALERT_HEADERS = ['编号', '级别', '状态', '规则', '部门', '案件', '发生时间', '内容'];

	function section(id, title, ...children) {
		return h('section.panel', id ? { id, 'aria-labelledby': id + '-title' } : null,
			title ? h('h2', { id: id ? id + '-title' : null }, title) : null, children);
	}

	/* ------------------------------------------------------------ board */

	function viewBoard(main, route, gen) {
		const wall = route.query.get('wall') === '1';
		const sortWorst = localStorage.getItem('esup.board.sort') === 'worst';
		const summary = h('div.summary', { 'aria-live': 'polite' });
		const grid = h('div.tiles', { id: 'board' });
		const sortBtn = h('button.ghost', { type: 'button', 'aria-pressed': sortWorst ? 'true' : 'false' },
			'按严重程度排序');
		const tools = h('div.tools', null, sortBtn,
			h('a.ghost', { href: wall ? '#/board' : '#/board?wall=1' }, wall ? '退出大屏' : '大屏模式'));
		append(main, h('div.view-head', null, h('h2', null, '监察看板'), summary, wall ? null : tools),
			grid, wall ? tools : null);
		let last = null;
		sortBtn.addEventListener('click', () => {
			const on = sortBtn.getAttribute('aria-pressed') !== 'true';
			sortBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
			localStorage.setItem('esup.board.sort', on ? 'worst' : 'code');
			if (last)
				draw(last);
		});

		function draw(board) {
			last = board;
			let depts = (board.departments || []).slice();
			if (sortBtn.getAttribute('aria-pressed') === 'true')
				depts.sort((a, b) => (SEVERITY_RANK[b.worst] || 0) - (SEVERITY_RANK[a.worst] || 0) ||
					((b.live || {}).red || 0) - ((a.live || {}).red || 0) ||
					((b.live || {}).yellow || 0) - ((a.live || {}).yellow || 0) ||
					(a.dept < b.dept ? -1 : a.dept > b.dept ? 1 : 0));
			const total = { red: 0, yellow: 0, notice: 0, held: 0, open: 0, overdue: 0 };
			for (const d of depts) {
				const l = d.live || {};
				total.red += l.red || 0;
				total.yellow += l.yellow || 0;
				total.notice += l.notice || 0;
				total.held += d.held || 0;
				total.open += d.open_cases || 0;
				total.overdue += d.overdue_cases || 0;
			}
			clear(summary);
			append(summary, [
				h('span', null, `${depts.length} 个部门`),
				h('a.sum.sev-red', { href: '#/alerts?status=open,acknowledged,appealed&severity=red' },
					`红牌 ${total.red}`),
				h('a.sum.sev-yellow', { href: '#/alerts?status=open,acknowledged,appealed&severity=yellow' },
					`黄牌 ${total.yellow}`),
				h('a.sum.sev-notice', { href: '#/alerts?status=open,acknowledged,appealed&severity=notice' },
					`提示 ${total.notice}`),
				seesHeld() ? h('a.sum.held', { href: '#/alerts?status=held' }, `待发 ${total.held}`) : null,
				h('span', null, `在办案件 ${total.open}`),
				h('span', { class: total.overdue ? 'overdue' : null }, `超期 ${total.overdue}`),
			]);
			clear(grid);
			if (depts.length === 0)
				append(grid, h('p.empty', null, '您的监察范围内没有部门。'));
			for (const d of depts)
				grid.appendChild(tile(d));
		}

		function tile(d) {
			const href = '#/dept/' + encodeURIComponent(d.dept);
			const l = d.live || {};
			const liveTotal = (l.red || 0) + (l.yellow || 0) + (l.notice || 0);
			return h('article.tile.worst-' + d.worst, { 'data-dept': d.dept, 'data-worst': d.worst },
				h('header', null,
					h('h3', null, h('a.tile-link', { href }, d.name || d.dept)),
					h('span.worst', null, SEVERITY[d.worst] || d.worst)),
				h('small.code', null, d.dept),
				h('div.tile-counts', { title: `在办预警 ${liveTotal} 条` },
					['red', 'yellow', 'notice'].map((s) => h('span.c.' + s + (l[s] ? '' : '.zero'), null,
						h('span.count-' + s, null, String(l[s] || 0)), h('small', null, SEVERITY[s])))),
				h('dl.tile-facts', null,
					seesHeld() ? [h('dt', null, '待发'), h('dd.count-held', null, String(d.held || 0))] : null,
					h('dt', null, '在办案件'), h('dd.open-cases', null, String(d.open_cases || 0)),
					h('dt', null, '超期'), h('dd.overdue-cases' + (d.overdue_cases ? '.overdue' : ''), null,
						String(d.overdue_cases || 0))));
		}

		const run = () => load(gen, main, async () => {
			const board = await api('/v1/board', { gen });
			if (gen !== state.gen)
				return;
			rememberDepts(board);
			keepFocus(grid, () => draw(board));
		});
		run();
		return { refresh: run };
	}

	/* ------------------------------------------------------------ department */

	function viewDept(main, route, gen) {
		const code = route.parts[0] || '';
		const root = h('section', { id: 'dept', 'data-dept': code });
		append(main, h('p.crumbs', null, h('a', { href: '#/board' }, '监察看板'), ' › ', deptName(code)), root);

		function draw(d) {
			clear(root);
			const pending = '#/alerts?status=' + (seesHeld() ? PENDING : 'open,acknowledged,appealed') +
				'&dept=' + encodeURIComponent(code);
			append(root, [
				h('div.view-head.worst-' + d.worst, null,
					h('h2', null, d.name || d.dept, ' ', h('small.code', null, d.dept)),
					severityBadge(d.worst),
					counts(d.live, d.held, seesHeld()),
					h('a.ghost', { href: pending }, '该部门待处理预警'),
					h('a.ghost', { href: '#/alerts?dept=' + encodeURIComponent(code) }, '全部预警')),
				section('dept-cases', shownOf('案件', (d.cases || []).length, d.cases_total, '件'),
					table('cases', ['案件', '事项', '状态', '最严重', '红/黄/提示', '已用/承诺/法定 (日)', '承诺期限', '法定期限'],
						(d.cases || []).map(caseRow), '没有在办案件。')),
				section('dept-other', shownOf('无案件的预警（收费、评价、统计）', (d.other_alerts || []).length, d.other_alerts_total, '条'),
					table('alerts', ALERT_HEADERS, (d.other_alerts || []).map(alertRow), '没有无案件的在办预警。')),
				section('dept-items', '事项', table('items', ['事项', '名称', '最严重', '红/黄/提示', '在办案件'],
					(d.items || []).map((it) => h('tr.item-row', { 'data-item': it.item, 'data-worst': it.worst },
						h('td', null, h('a', { href: '#/alerts?dept=' + encodeURIComponent(code) + '&item=' +
							encodeURIComponent(it.item), title: '该事项的预警' }, h('code', null, it.item))),
						h('td', null, it.name || '—'),
						h('td', null, severityBadge(it.worst)),
						h('td', null, counts(it.live, 0, false)),
						h('td.num', null, String(it.open_cases || 0)))),
					'没有在办案件或在办预警的事项。')),
			]);
		}

		function caseRow(c) {
			const href = caseHref(code, c['case']);
			const today = businessDate(businessNow());
			const dl = c.deadline || {};
			const lim = c.limits || {};
			const late = (day) => day && today && day < today && isOpenCase(c.status);
			return clickableRow(h('tr.case-row', { 'data-case': c['case'], 'data-worst': c.worst },
				h('td', null, h('a', { href }, c['case'])),
				h('td', null, c.item ? h('code', null, c.item) : '—'),
				h('td', null, CASE_STATUS[c.status] || c.status || '—'),
				h('td', null, severityBadge(c.worst)),
				h('td', null, counts(c.live, 0, false)),
				h('td.num', null, `${c.counted_days === null || c.counted_days === undefined ? '—' : c.counted_days}` +
					` / ${lim.committed || '—'} / ${lim.statutory || '—'}`),
				h('td' + (late(dl.committed) ? '.overdue' : ''), null, dl.committed || '—'),
				h('td' + (late(dl.statutory) ? '.overdue' : ''), null, dl.statutory || '—')), href);
		}

		const run = () => load(gen, root, async () => {
			if (state.depts.size === 0)
				await loadDepts(gen).catch(() => null);
			const d = await api('/v1/board/' + encodeURIComponent(code), { gen });
			if (gen !== state.gen)
				return;
			state.depts.set(d.dept, Object.assign(state.depts.get(d.dept) || {}, { dept: d.dept, name: d.name }));
			const crumbs = main.querySelector('.crumbs');
			if (crumbs)
				crumbs.lastChild.textContent = d.name || d.dept;
			keepFocus(root, () => draw(d));
		});
		run();
		return { refresh: run, concerns: (a) => a.dept === code };
	}

	function isOpenCase(status) {
		return !['decided', 'closed', 'refused', 'withdrawn'].includes(status);
	}

	/* ------------------------------------------------------------ alert list */

	function viewAlerts(main, route, gen) {
		const q = route.query;
		const status = q.get('status') || '';
		const severity = q.get('severity') || '';
		const dept = q.get('dept') || '';
		const rule = q.get('rule') || '';
		let item = q.get('item') || '';   /* from a department's item row; shown as a chip */

		const statusSel = h('select', { name: 'status', id: 'f-status' });
		const presets = STATUS_PRESETS.concat(Object.keys(STATUS).filter((s) => s !== 'expired')
			.filter((s) => s !== 'held' || seesHeld()).map((s) => [s, STATUS[s]]));
		addOptions(statusSel, presets, status);
		const sevSel = h('select', { name: 'severity', id: 'f-severity' });
		addOptions(sevSel, SEVERITY_PRESETS, severity);
		const deptSel = h('select', { name: 'dept', id: 'f-dept' });
		const ruleIn = h('input', {
			name: 'rule', id: 'f-rule', type: 'search', list: 'rule-codes', value: rule,
			placeholder: '如 APR-DEADLINE-RED', autocomplete: 'off', spellcheck: 'false',
			maxlength: '64',
		});
		const ruleList = h('datalist', { id: 'rule-codes' });
		const form = h('form', { id: 'alert-filters', role: 'search', 'aria-label': '预警筛选' },
			h('label', null, h('span', null, '状态'), statusSel),
			h('label', null, h('span', null, '级别'), sevSel),
			h('label', null, h('span', null, '部门'), deptSel),
			h('label', null, h('span', null, '规则'), ruleIn, ruleList),
			item ? h('button.ghost.chip', { type: 'button', id: 'f-item', title: '取消按事项筛选' },
				'事项 ', h('code', null, item), ' ×') : null,
			h('button', { type: 'submit' }, '筛选'),
			h('button.ghost', { type: 'button', id: 'f-reset' }, '清除'));
		const count = h('p.count-line', { 'aria-live': 'polite' });
		const body = h('tbody');
		const tableEl = h('div.table-wrap', null, h('table', { id: 'alerts' },
			h('thead', null, h('tr', null, ALERT_HEADERS.map((t) => h('th', { scope: 'col' }, t)))), body));
		const more = h('div.more');
		append(main, h('div.view-head', null, h('h2', null, '预警')), form, count, tableEl, more);

		fillDepts(deptSel, dept);
		api('/v1/rules', { gen }).then((r) => {
			for (const x of (r && r.rules) || [])
				ruleList.appendChild(h('option', { value: x.code }, `${SEVERITY[x.severity] || x.severity} ${x.mode}`));
		}).catch(() => null);

		function apply(ev) {
			if (ev)
				ev.preventDefault();
			const p = new URLSearchParams();
			if (statusSel.value) p.set('status', statusSel.value);
			if (sevSel.value) p.set('severity', sevSel.value);
			if (deptSel.value) p.set('dept', deptSel.value);
			if (ruleIn.value.trim()) p.set('rule', ruleIn.value.trim());
			if (item) p.set('item', item);
			const s = p.toString().replace(/%2C/gi, ',');
			location.hash = '#/alerts' + (s ? '?' + s : '');
		}
		form.addEventListener('submit', apply);
		for (const sel of [statusSel, sevSel, deptSel])
			sel.addEventListener('change', apply);
		if (item)
			form.querySelector('#f-item').addEventListener('click', () => {
				item = '';
				apply();
			});
		form.querySelector('#f-reset').addEventListener('click', () => {
			location.hash = '#/alerts';
		});

		let shown = 0;
		let cursor = null;

		function params(limit, after) {
			const p = new URLSearchParams();
			if (status) p.set('status', status);
			if (severity) p.set('severity', severity);
			if (dept) p.set('dept', dept);
			if (rule) p.set('rule', rule);
			if (item) p.set('item', item);
			p.set('limit', String(limit));
			if (after) p.set('cursor', after);
			return '/v1/alerts?' + p.toString();
		}

		function drawMore() {
			clear(more);
			if (cursor) {
				const b = h('button', { type: 'button', id: 'alerts-more' }, '加载更多');
				b.addEventListener('click', () => {
					b.disabled = true;
					load(gen, main, async () => {
						const page = await api(params(PAGE, cursor), { gen });
						if (gen !== state.gen)
							return;
						for (const a of page.alerts || [])
							body.appendChild(alertRow(a));
						shown += (page.alerts || []).length;
						cursor = page.next_cursor || null;
						drawCount();
						drawMore();
					});
				});
				more.appendChild(b);
			}
		}

		function drawCount() {
			count.textContent = shown === 0 ? '' : `已显示 ${shown} 条` + (cursor ? '，还有更多' : '，已全部显示');
		}

		/* The first load reads one page; a live refresh re-reads as many rows as are shown
		 * (up to 500) so the list stays where the reader is. */
		const run = () => load(gen, main, async () => {
			const limit = Math.min(Math.max(shown, PAGE), 500);
			const page = await api(params(limit, null), { gen });
			if (gen !== state.gen)
				return;
			keepFocus(body, () => {
				clear(body);
				for (const a of page.alerts || [])
					body.appendChild(alertRow(a));
			});
			shown = (page.alerts || []).length;
			cursor = page.next_cursor || null;
			if (shown === 0)
				body.appendChild(h('tr.empty-row', null, h('td', { colspan: ALERT_HEADERS.length },
					'没有符合条件的预警。')));
			drawCount();
			drawMore();
		});
		run();
		return { refresh: run };
	}

	function addOptions(select, pairs, value) {
		let found = false;
		for (const [v, label] of pairs) {
			const o = h('option', { value: v }, label);
			if (v === value) {
				o.selected = true;
				found = true;
			}
			select.appendChild(o);
		}
		if (!found && value) {
			const o = h('option', { value }, value);
			o.selected = true;
			select.appendChild(o);
		}
	}

	async function fillDepts(select, value) {
		if (state.depts.size === 0)
			await loadDepts(state.gen).catch(() => null);
		const pairs = [['', '全部部门']];
		for (const d of Array.from(state.depts.values()).sort((a, b) => (a.dept < b.dept ? -1 : 1)))
			pairs.push([d.dept, `${d.name || d.dept} (${d.dept})`]);
		clear(select);
		addOptions(select, pairs, value);
	}

	/* ------------------------------------------------------------ one alert */

	function viewAlert(main, route, gen) {
		const id = route.parts[0] || '';
		const root = h('section', { id: 'alert', 'data-id': id });
		/* The note survives live refreshes: the same textarea is put back each time. */
		const note = h('textarea', { id: 'act-note', rows: '3', maxlength: '2000',
			placeholder: '理由或说明（回告、申诉时必填）' });
		const noteLabel = h('label', { for: 'act-note' }, '说明');
		const error = h('p', { id: 'act-error', role: 'alert', hidden: true });
		const result = h('p', { id: 'act-result', role: 'status', hidden: true });
		let silence = null;     /* the silence form, kept across refreshes once opened */
		let current = null;
		append(main, h('p.crumbs', null, h('a', { href: '#/alerts' }, '预警'), ' › #' + id), root);

		function draw(a) {
			current = a;
			root.dataset.status = a.status;
			root.dataset.severity = a.severity;
			clear(root);
			const evidence = h('div', { id: 'alert-evidence' });
			for (const e of a.events || [])
				evidence.appendChild(eventBox(e));
			if ((a.events || []).length === 0)
				evidence.appendChild(h('p.empty', null, (a.evidence || []).length ?
					'证据事件：' + a.evidence.join('，') + '（正文不可读）' : '无证据事件。'));
			const history = h('ol', { id: 'alert-history' });
			for (const x of a.actions || [])
				history.appendChild(actionItem(x));
			append(root, [
				h('div.view-head.alert-head.worst-' + a.severity, null,
					severityBadge(a.severity), statusBadge(a.status),
					h('h2', null, a.message || '(无内容)')),
				h('div.cols', null,
					h('div.col', null,
						section('alert-facts', '预警信息', facts(a)),
						section('alert-evidence-panel', '证据事件', evidence)),
					h('div.col', null,
						section('alert-actions-panel', '处置', actions(a)),
						section('alert-history-panel', '处置记录', history))),
			]);
		}

		function facts(a) {
			const dl = h('dl.facts');
			const row = (k, v) => append(dl, [h('dt', null, k), h('dd', null, v)]);
			row('编号', '#' + a.id);
			row('规则', h('code', null, a.rule));
			row('级别', severityBadge(a.severity));
			row('状态', [statusBadge(a.status), ' ', h('small', null, '自 ', fmtTime(a.status_at))]);
			row('部门', a.dept ? h('a', { href: '#/dept/' + encodeURIComponent(a.dept) }, deptLabel(a.dept)) : '—');
			row('案件', a['case'] ? h('a', { href: caseHref(a.dept, a['case']) }, a['case']) : '无（不针对具体案件）');
			row('事项', a.item ? h('code', null, a.item) : '—');
			row('地区', a.region || '—');
			row('发生时间', timeEl(a.since));
			row('预警时间', timeEl(a.raised_at));
			if (a.issued_at)
				row('发出时间', timeEl(a.issued_at));
			row('督办', a.escalation_level > 0 ? `第 ${a.escalation_level} 级，督办至 ${a.escalated_to || '—'}` : '未督办');
			return dl;
		}

		function actions(a) {
			const box = h('div', { id: 'alert-actions' });
			const allowed = Array.isArray(a.allowed) ? a.allowed : [];
			const buttons = h('div.buttons');
			for (const x of allowed) {
				const b = h('button.act' + (['revoke', 'dismiss', 'cancel'].includes(x.action) ? '.warn' : ''),
					{ type: 'button', 'data-action': x.action, 'data-to': x.to,
						title: `${ACTION[x.action] || x.action}：${STATUS[a.status] || a.status} → ${STATUS[x.to] || x.to}` +
							(x.note_required ? '（须填写说明）' : '') },
					ACTION[x.action] || x.action,
					x.to && x.to !== a.status ? h('small', null, ' → ' + (STATUS[x.to] || x.to)) : null);
				b.addEventListener('click', () => act(x, b));
				buttons.appendChild(b);
			}
			if (allowed.length === 0)
				buttons.appendChild(h('p.empty', null, state.me && state.me.role === 'auditor' ?
					'审计只读，不能处置预警。' : '当前状态下您没有可执行的处置。'));
			append(box, [buttons]);
			if (allowed.length > 0)
				append(box, [noteLabel, note]);
			if (isSupervisor()) {
				const sb = h('button.act-silence.ghost', { type: 'button', 'aria-expanded': silence && !silence.hidden ? 'true' : 'false',
					'aria-controls': 'silence-form' }, '静默…');
				sb.addEventListener('click', () => {
					if (!silence) {
						silence = silenceForm(current);
						box.appendChild(silence);
					}
					silence.hidden = !silence.hidden;
					sb.setAttribute('aria-expanded', silence.hidden ? 'false' : 'true');
					if (!silence.hidden)
						silence.querySelector('select, input, textarea').focus();
				});
				box.appendChild(h('div.buttons', null, sb));
			}
			append(box, [error, result]);
			if (silence)
				box.appendChild(silence);
			return box;
		}

		async function act(x, button) {
			error.hidden = true;
			result.hidden = true;
			const text = note.value.trim();
			if (x.note_required && text === '') {
				showActError(`${ACTION[x.action] || x.action}须填写说明。`);
				note.focus();
				return;
			}
			for (const b of root.querySelectorAll('button.act'))
				b.disabled = true;
			button.classList.add('busy');
			try {
				const after = await api(`/v1/alerts/${encodeURIComponent(id)}/${x.action}`,
					{ method: 'POST', body: text ? { note: text } : {}, gen, keep: true });
				/* The reply is the alert as it now is: the stream's echo of this step then
				 * matches it and redraws nothing (concerns below). */
				if (after && String(after.id) === id)
					current = Object.assign({}, current, after);
				note.value = '';
				result.hidden = false;
				result.textContent = `已${ACTION[x.action] || x.action}：状态现为「${STATUS[after && after.status] ||
					(after && after.status) || x.to}」。`;
				await refreshAlert();
				result.hidden = false;
			} catch (err) {
				showActError(actErrorText(err, x));
				for (const b of root.querySelectorAll('button.act'))
					b.disabled = false;
				button.classList.remove('busy');
				/* The alert may have moved on (409): show it as it is, keeping the note. */
				if (err instanceof ApiError && err.status === 409)
					refreshAlert();
			}
		}

		function showActError(text) {
			error.textContent = text;
			error.hidden = false;
		}

		const refreshAlert = () => load(gen, root, async () => {
			const a = await api('/v1/alerts/' + encodeURIComponent(id), { gen });
			if (gen !== state.gen)
				return;
			if (state.depts.size === 0)
				await loadDepts(gen).catch(() => null);
			keepFocus(root, () => draw(a));
		});
		refreshAlert();
		/* An event about this alert redraws it, unless what is drawn is already that state (the
		 * echo of this page's own action): every step changes status, status_at or the 督办
		 * level. */
		const concerns = (a) => String(a.id) === id && !(current && a.status === current.status &&
			a.status_at === current.status_at && a.escalation_level === current.escalation_level);
		return { refresh: refreshAlert, concerns };
	}

	function actErrorText(err, x) {
		const label = ACTION[x.action] || x.action;
		if (!(err instanceof ApiError))
			return `${label}失败：${err.message || err}`;
		const msg = err.message ? `（服务器：${err.message}）` : '';
		switch (err.status) {
		case 409:
			return `当前状态不允许${label}` +
				(err.body && err.body.status ? `，预警现为「${STATUS[err.body.status] || err.body.status}」` : '') + msg;
		case 403:
			return `您无权${label}此预警` + msg;
		case 404:
			return '预警不存在或不在您的监察范围内' + msg;
		case 400:
			return `${label}被拒绝：请求不完整` + msg;
		default:
			return `${label}失败（${err.status}）` + msg;
		}
	}

	/* Event types in words (docs/protocol.md, the same words as timeline.js). */
	const EVENT_TYPE = window.EsupCommon.EVENT_TYPE_WORD;
	const VALUE_WORDS = { approved: '准予', denied: '不予许可' };

	/* An evidence event as readable key/values; nested objects as "a.b" keys. */
	const EVENT_KEYS = {
		id: '编号', dept: '部门', type: '类型', at: '时间', 'case': '案件', item: '事项',
		applicant: '申请人', reason: '理由', result: '结果', days: '天数', kind: '种类',
		step: '环节', handler: '经办人', approver: '批准人', fee_item: '收费项目', amount: '金额（元）',
		payer: '缴费人', party: '当事人', violation: '违法行为', severity: '情节', filing: '备案',
		officers: '执法人员', enterprise: '企业', subject: '事由', against: '被投诉方',
		materials: '材料', report: '报告', uscc: '统一社会信用代码', name: '名称', office: '机关',
		ref: '文号', of: '原收费', reviewer: '复核人', hearing_notice: '听证告知',
		first_offence: '首次违法', certificate: '证件号', rating: '评价', channel: '渠道',
	};

	function flatten(obj, prefix, out) {
		for (const [k, v] of Object.entries(obj)) {
			const key = prefix ? prefix + '.' + k : k;
			if (v && typeof v === 'object' && !Array.isArray(v))
				flatten(v, key, out);
			else if (Array.isArray(v) && v.some((x) => x && typeof x === 'object'))
				v.forEach((x, i) => (x && typeof x === 'object' ? flatten(x, `${key}[${i + 1}]`, out) :
					out.push([`${key}[${i + 1}]`, x])));
			else
				out.push([key, v]);
		}
		return out;
	}

	function keyLabel(key) {
		const last = key.replace(/\[\d+\]/g, '').split('.').pop();
		return EVENT_KEYS[last] ? `${EVENT_KEYS[last]} ${key}` : key;
	}

	function valueText(v) {
		if (v === null || v === undefined)
			return '—';
		if (typeof v === 'boolean')
			return v ? '是' : '否';
		if (Array.isArray(v))
			return v.join('，');
		if (typeof v === 'string' && RFC3339.test(v))
			return fmtTime(v);
		if (typeof v === 'string' && VALUE_WORDS[v])
			return `${VALUE_WORDS[v]} (${v})`;
		return String(v);
	}

	function eventBox(e) {
		const body = e.body && typeof e.body === 'object' ? e.body : e;
		const dl = h('dl.kv');
		for (const [k, v] of flatten(body, '', [])) {
			if (k === 'id' || k === 'type')
				continue;
			append(dl, [h('dt', { title: k }, keyLabel(k)), h('dd', null, valueText(v))]);
		}
		return h('div.event', { 'data-id': body.id || e.id || '', 'data-type': body.type || e.type || '' },
			h('div.event-head', null,
				h('strong', null, EVENT_TYPE[body.type || e.type] || '事件'),
				h('code.type', null, body.type || e.type || ''),
				h('span.event-id', null, body.id || e.id || ''),
				body.at ? timeEl(body.at) : null),
			dl);
	}

	function actionItem(x) {
		return h('li.action', { 'data-action': x.action },
			h('div.action-head', null,
				timeEl(x.at),
				h('strong', null, ACTION[x.action] || x.action),
				h('span.actor', null, x.actor || '—',
					x.role ? h('small', null, '（' + (ROLE[x.role] || x.role) + '）') : null),
				h('span.transition', null, x.from ? (STATUS[x.from] || x.from) : '—', ' → ',
					STATUS[x.to] || x.to || '—')),
			x.note ? h('p.note', null, x.note) : null);
	}

	/* ------------------------------------------------------------ silence form */

	const DURATIONS = [
		['1', '1 小时'], ['4', '4 小时'], ['8', '8 小时'], ['24', '1 天'], ['72', '3 天'], ['168', '7 天'],
		['custom', '指定结束时间…'],
	];

	/* The form a supervisor silences planned work with (POST /v1/silences), prefilled from the
	 * alert: its rule, department and item (a silence matches by rule, dept, item and region,
	 * all that are given; not by case). Starts now (the daemon's business clock). */
	function silenceForm(a) {
		const field = (name, label, value, extra) => h('label', null, h('span', null, label),
			h('input', Object.assign({ name, value: value || '', maxlength: '64', autocomplete: 'off',
				spellcheck: 'false' }, extra || {})));
		const dur = h('select', { name: 'duration' });
		addOptions(dur, DURATIONS, '4');
		const until = h('input', { name: 'until', type: 'datetime-local', hidden: true });
		const untilLabel = h('label.until', { hidden: true }, h('span', null, '结束（北京时间）'), until);
		dur.addEventListener('change', () => {
			untilLabel.hidden = dur.value !== 'custom';
			until.hidden = dur.value !== 'custom';
			until.required = dur.value === 'custom';
		});
		const reason = h('textarea', { name: 'reason', rows: '2', required: true, maxlength: '2000',
			placeholder: '如：财务系统割接，收费数据延迟' });
		const msg = h('p.form-msg', { role: 'status', hidden: true });
		const form = h('form', { id: 'silence-form', hidden: true, 'aria-label': '静默' },
			h('h3', null, '静默：计划内工作期间不发出预警'),
			h('p.hint', null, '填写的条件须同时满足（留空的不限）。',
				a['case'] ? `静默不按案件（${a['case']}）匹配，可按事项静默。` : null),
			h('div.grid', null,
				field('rule', '规则', a.rule),
				field('dept', '部门', a.dept),
				field('item', '事项', a.item),
				field('region', '地区（留空为本监察室）', '', { pattern: '[0-9]{6}', inputmode: 'numeric' }),
				h('label', null, h('span', null, '时长'), dur),
				untilLabel),
			h('label.wide', null, h('span', null, '原因（必填）'), reason),
			h('div.buttons', null, h('button', { type: 'submit' }, '创建静默'),
				h('button.ghost', { type: 'button', 'data-close': '1' }, '关闭')),
			msg);
		form.querySelector('[data-close]').addEventListener('click', () => {
			form.hidden = true;
			const b = document.querySelector('button.act-silence');
			if (b) {
				b.setAttribute('aria-expanded', 'false');
				b.focus();
			}
		});
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			msg.hidden = true;
			msg.className = 'form-msg';
			const body = {};
			for (const k of ['rule', 'dept', 'item', 'region']) {
				const v = form.elements.namedItem(k).value.trim();
				if (v)
					body[k] = v;
			}
			body.reason = reason.value.trim();
			if (!body.rule && !body.dept && !body.item && !body.region)
				return formMsg(msg, '至少填写规则、部门、事项、地区中的一项。', true);
			if (!body.reason)
				return formMsg(msg, '请填写静默原因。', true);
			const submit = form.querySelector('button[type=submit]');
			submit.disabled = true;
			try {
				/* The business clock is the daemon's: ask it for now. */
				const me = await api('/v1/me', { keep: true });
				const now = Date.parse(me.now);
				let end;
				if (dur.value === 'custom') {
					if (!until.value)
						throw new Error('请指定结束时间。');
					end = Date.parse(until.value + (until.value.length === 16 ? ':00' : '') + '+08:00');
				} else {
					end = now + Number(dur.value) * 3600 * 1000;
				}
				if (!(end > now))
					throw new Error('结束时间须晚于现在（' + fmtTime(me.now) + '）。');
				body.ends_at = toShanghaiISO(end);
				const s = await api('/v1/silences', { method: 'POST', body, keep: true });
				formMsg(msg, `已创建静默 #${s.id}：${fmtTime(s.starts_at)} 至 ${fmtTime(s.ends_at)}。` +
					'期间新产生的预警将被抑制，结束后条件仍成立的将发出。', false);
				reason.value = '';
			} catch (err) {
				formMsg(msg, err instanceof ApiError ?
					`静默被拒绝（${err.status}）：${err.message}` : err.message, true);
			} finally {
				submit.disabled = false;
			}
		});
		return form;
	}

	function formMsg(el, text, bad) {
		el.textContent = text;
		el.hidden = false;
		el.classList.toggle('bad', bad);
		el.classList.toggle('good', !bad);
	}

	/* ------------------------------------------------------------ case */

	const FACT_LABELS = {
		received_at: '收件时间', accepted_at: '受理时间', closed_at: '办结时间', decided_at: '决定时间',
		result: '办理结果', applicant: '申请人', refused_at: '不予受理时间', withdrawn_at: '撤回时间',
	};
	const CLOCK_KIND = { suspended: '中止', extended: '延长' };

	function viewCase(main, route, gen) {
		const dept = route.parts[0] || '';
		const caseNo = route.parts.slice(1).join('/');
		const root = h('section', { id: 'case', 'data-dept': dept, 'data-case': caseNo });
		append(main, h('p.crumbs', null, h('a', { href: '#/board' }, '监察看板'), ' › ',
			h('a', { href: '#/dept/' + encodeURIComponent(dept) }, deptName(dept)), ' › ', caseNo), root);

		function draw(c) {
			clear(root);
			const lim = c.limits || {};
			const dl = c.deadline || {};
			const info = h('dl.facts');
			const row = (k, v) => append(info, [h('dt', null, k), h('dd', null, v)]);
			row('部门', h('a', { href: '#/dept/' + encodeURIComponent(c.dept) }, deptLabel(c.dept)));
			row('事项', c.item ? h('code', null, c.item) : '—');
			row('状态', CASE_STATUS[c.status] || c.status || '—');
			if (c.unit)
				row('计时单位', /^working/.test(c.unit) ? '工作日' : /^calendar/.test(c.unit) ? '自然日' : c.unit);
			row('已用天数', `${c.counted_days === null || c.counted_days === undefined ? '—' : c.counted_days}` +
				(c.suspended_days ? `（另中止 ${c.suspended_days} 天）` : ''));
			row('承诺时限', `${lim.committed || '—'} 天，最后一天 ${dl.committed || '—'}`);
			row('法定时限', `${lim.statutory || '—'} 天，最后一天 ${dl.statutory || '—'}`);
			for (const [k, v] of Object.entries(c.facts || {})) {
				if (v === null || v === undefined || v === '')
					continue;
				row(FACT_LABELS[k] || k, typeof v === 'object' ? flatten(v, '', []).map(([a, b]) => `${a}: ${valueText(b)}`).join('；') : valueText(v));
			}
			const timeline = h('div', { id: 'timeline', role: 'img', 'aria-label': '案件时间轴' });
			const clock = (c.clock || []).map((k) => h('li', { 'data-kind': k.kind },
				CLOCK_KIND[k.kind] || k.kind, '：',
				k.kind === 'extended' ? `${fmtTime(k.at)} 延长 ${k.days} 天` :
					`${fmtTime(k.from)} 至 ${k.to ? fmtTime(k.to) : '（仍在中止）'}`));
			append(root, [
				h('div.view-head', null, h('h2', null, '案件 ', h('code', null, c['case'] || caseNo)),
					h('span.case-status', null, CASE_STATUS[c.status] || c.status || '')),
				section('case-timeline', null, h('h2.sr-only', null, '时间轴'), timeline,
					clock.length ? h('ul.clock', null, clock) : null),
				h('div.cols', null,
					h('div.col.narrow', null, section('case-facts', '办件信息', info)),
					h('div.col', null,
						section('case-alerts', `预警（${(c.alerts || []).length}）`,
							table('alerts', ['编号', '级别', '状态', '规则', '发生时间', '内容'],
								(c.alerts || []).map(caseAlertRow), '此案件没有预警。')))),
				section('case-events', `事件（${(c.events || []).length}）`,
					table('events', ['业务时间', '类型', '编号', '内容', '接收时间'],
						(c.events || []).map(eventRow), '没有事件。')),
			]);
			if (window.EsupTimeline && typeof window.EsupTimeline.render === 'function') {
				try {
					window.EsupTimeline.render(timeline, c, businessNow() || undefined);
				} catch (err) {
					timeline.appendChild(h('p.load-error', null, '时间轴绘制失败：' + err.message));
				}
			} else {
				timeline.appendChild(h('p.empty', null, '时间轴组件未加载。'));
			}
		}

		function caseAlertRow(a) {
			return clickableRow(h('tr.alert-row', { 'data-id': a.id, 'data-status': a.status, 'data-severity': a.severity },
				h('td.num', null, h('a', { href: '#/alert/' + a.id }, '#' + a.id)),
				h('td', null, severityBadge(a.severity)),
				h('td', null, statusBadge(a.status)),
				h('td.rule', null, h('code', null, a.rule)),
				h('td.time', null, timeEl(a.since, false)),
				h('td.msg', null, a.message || '')), '#/alert/' + a.id);
		}

		function eventRow(e) {
			const body = e.body || {};
			const summary = flatten(body, '', []).filter(([k]) => !['id', 'type', 'at', 'dept', 'case'].includes(k))
				.map(([k, v]) => `${keyLabel(k)}：${valueText(v)}`).join('；');
			return h('tr.event-row', { 'data-id': e.id, 'data-type': e.type },
				h('td.time', null, timeEl(e.at)),
				h('td', null, EVENT_TYPE[e.type] ? EVENT_TYPE[e.type] + ' ' : '', h('code', null, e.type)),
				h('td', null, e.id),
				h('td.msg', null, summary || '—'),
				h('td.time', null, timeEl(e.received_at)));
		}

		const run = () => load(gen, root, async () => {
			const c = await api('/v1/cases/' + encodeURIComponent(dept) + '/' + encodeURIComponent(caseNo), { gen });
			if (gen !== state.gen)
				return;
			keepFocus(root, () => draw(c));
		});
		run();
		return { refresh: run, concerns: (a) => a.dept === dept && a['case'] === caseNo };
	}

	/* ------------------------------------------------------------ charts */

	function viewCharts(main, route, gen) {
		if (state.me && state.me.role === 'department') {
			append(main, h('p.notice-box', { role: 'alert' }, '统计图表只对监察室和审计开放。',
				h('a', { href: '#/board' }, '回到监察看板')));
			setReady(true);
			return null;
		}
		const nowMonth = businessNow() ? businessDate(businessNow()).slice(0, 7) : '';
		/* type=month: a text field where the browser has no month picker (Firefox): YYYY-MM. */
		const month = h('input', { type: 'month', id: 'chart-month', name: 'month', value: route.query.get('month') || nowMonth,
			max: nowMonth || null, required: true, pattern: '[0-9]{4}-[0-9]{2}', placeholder: 'YYYY-MM' });
		const period = h('select', { id: 'chart-period', name: 'period' });
		addOptions(period, [['month', '当月'], ['quarter', '当季'], ['year', '全年']], route.query.get('period') || 'month');
		const months = h('select', { id: 'chart-months', name: 'months' });
		addOptions(months, [['6', '6 个月'], ['12', '12 个月'], ['24', '24 个月'], ['36', '36 个月']],
			route.query.get('months') || '12');
		const form = h('form', { id: 'chart-filters' },
			h('label', null, h('span', null, '月份'), month),
			h('label', null, h('span', null, '排名期间'), period),
			h('label', null, h('span', null, '红黄牌走势'), months));
		const ontime = h('div.chart', { id: 'chart-ontime' });
		const cards = h('div.chart', { id: 'chart-cards' });
		const ranking = h('div.chart', { id: 'chart-ranking' });
		const titles = {
			ontime: h('h2.sr-only', { id: 'chart-ontime-title' }, '按时办结率'),
			cards: h('h2.sr-only', { id: 'chart-cards-title' }, '红黄牌走势'),
			ranking: h('h2.sr-only', { id: 'chart-ranking-title' }, '部门排名'),
		};
		append(main, h('div.view-head', null, h('h2', null, '统计'), form),
			h('div.charts', null,
				h('section.panel.chart-panel', { 'aria-labelledby': 'chart-ontime-title' }, titles.ontime, ontime),
				h('section.panel.chart-panel', { 'aria-labelledby': 'chart-cards-title' }, titles.cards, cards),
				h('section.panel.chart-panel.wide', { 'aria-labelledby': 'chart-ranking-title' }, titles.ranking, ranking)));

		function scorePeriod(m) {
			if (!/^\d{4}-\d{2}$/.test(m))
				return '';
			const y = m.slice(0, 4);
			const mo = Number(m.slice(5, 7));
			return period.value === 'year' ? y : period.value === 'quarter' ? `${y}-Q${Math.ceil(mo / 3)}` : m;
		}

		function change() {
			const p = new URLSearchParams();
			if (month.value && month.value !== nowMonth) p.set('month', month.value);
			if (period.value !== 'month') p.set('period', period.value);
			if (months.value !== '12') p.set('months', months.value);
			const s = p.toString();
			location.hash = '#/charts' + (s ? '?' + s : '');
		}
		for (const el of [month, period, months])
			el.addEventListener('change', change);
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			change();
		});

		function drawOne(el, fn, data) {
			clear(el);
			if (!window.EsupCharts || typeof window.EsupCharts[fn] !== 'function') {
				el.appendChild(h('p.empty', null, '图表组件未加载。'));
				return;
			}
			try {
				window.EsupCharts[fn](el, data);
			} catch (err) {
				el.appendChild(h('p.load-error', null, '图表绘制失败：' + err.message));
			}
		}

		async function one(el, fn, path, title, suffix) {
			try {
				const data = await api(path, { gen });
				if (gen !== state.gen)
					return;
				title.textContent = title.dataset.base + suffix(data);
				drawOne(el, fn, data);
			} catch (err) {
				if (gen !== state.gen)
					return;
				clear(el);
				el.appendChild(h('p.load-error', { role: 'alert' }, err instanceof ApiError && err.status === 403 ?
					'统计图表只对监察室和审计开放（403）。' : `读取失败（${err.status || ''}）：${err.message}`));
			}
		}
		for (const t of Object.values(titles))
			t.dataset.base = t.textContent;

		const run = () => load(gen, main, async () => {
			const m = month.value;
			const qm = /^\d{4}-\d{2}$/.test(m) ? m : '';
			const sp = scorePeriod(m);
			await Promise.all([
				one(ontime, 'onTime', '/v1/stats/ontime' + (qm ? '?month=' + qm : ''), titles.ontime,
					(d) => (d.month ? ` · ${d.month}` : '')),
				one(cards, 'cards', '/v1/stats/cards?months=' + encodeURIComponent(months.value), titles.cards,
					(d) => (d.months && d.months.length ? ` · ${d.months[0].month} 至 ${d.months[d.months.length - 1].month}` : '')),
				one(ranking, 'ranking', '/v1/scores' + (sp ? '?period=' + sp : ''), titles.ranking,
					(d) => (d.period ? ` · ${d.period}` : '')),
			]);
		});
		run();
		return { refresh: run };
	}

	/* ------------------------------------------------------------ start */

	async function start() {
		window.addEventListener('hashchange', navigate);
		if (!location.hash)
			history.replaceState(null, '', '#/board');
		try {
			await loadMe();
		} catch (err) {
			/* 401/403 were announced in the banner; draw nothing else behind it. */
			clear(document.getElementById('me')).textContent = '未识别';
			document.body.dataset.view = parseHash().name;
			const main = clear(document.getElementById('main'));
			showError(main, err);
			setReady(true);
			setLive('down');
			return;
		}
		startLive();
		navigate();
		if (state.me.dept && state.depts.size === 0)   /* the header names the department */
			api('/v1/board', { keep: true }).then(rememberDepts).catch(() => null);
		/* Should the stream be away for long, the view (a wall display above all) is read
		 * again every minute all the same, while the page is visible. */
		setInterval(() => {
			const open = state.source && state.source.readyState === 1;   /* OPEN */
			if (!open && document.visibilityState === 'visible')
				scheduleRefresh();
		}, 60000);
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
}());
