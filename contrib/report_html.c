/* report_html.c: the monthly 通报 as one self-contained HTML document (report_doc.h): inline
 * CSS with print rules (A4, tables that break between rows with their heading repeated, no
 * section split across a page when it fits on one), inline SVG charts (svg.c), no script, no
 * font or file from outside. Every string from the database is escaped (markup_put). */
#include "report_doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

#define RED "#cf1322"
#define YELLOW "#d4a106"
#define BLUE "#1f6fd1"
#define GREEN "#389e0d"
#define GREY "#8c8c8c"

static const char style[] =
	"@page{size:A4;margin:14mm 12mm}"
	"body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"WenQuanYi Micro Hei\","
	"\"Microsoft YaHei\",\"PingFang SC\",\"SimSun\",sans-serif;color:#222;margin:24px auto;"
	"max-width:980px;padding:0 16px;font-size:14px;line-height:1.5}"
	"header{border-bottom:3px solid " RED ";margin-bottom:12px}"
	"h1{font-size:26px;text-align:center;color:" RED ";margin:8px 0 4px;letter-spacing:2px}"
	"p.period{text-align:center;font-size:18px;margin:0 0 6px}"
	"p.meta{text-align:center;color:#555;font-size:12px;margin:0 0 8px}"
	"h2{font-size:18px;border-left:5px solid " RED ";padding-left:8px;margin:22px 0 8px}"
	"p.lead{text-indent:2em}"
	".figures{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}"
	".figure{flex:1 1 120px;border:1px solid #ddd;border-radius:4px;padding:6px 10px}"
	".figure b{display:block;font-size:20px}.figure span{color:#555;font-size:12px}"
	"table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:12px}"
	"th,td{border:1px solid #bbb;padding:3px 5px}"
	"th{background:#f2f2f2;font-weight:600;min-width:2.4em}td.c{white-space:nowrap}td.t{min-width:7em}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	"td.h{font-family:monospace;font-size:11px;word-break:break-all}"
	"tr.bottom td{background:#fff1f0}.mark{color:#fff;background:" RED ";padding:0 4px;"
	"border-radius:3px;font-size:11px}"
	"svg.chart{display:block;max-width:100%;height:auto;margin:6px auto}"
	".note{color:#555;font-size:12px}"
	"footer{border-top:1px solid #ccc;margin-top:18px;color:#777;font-size:11px}"
	"@media print{body{margin:0;max-width:none;padding:0;font-size:11pt}table{font-size:8pt}th,td{padding:2px 3px}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	"section{break-inside:avoid-page;page-break-inside:avoid}"
	"section.long{break-inside:auto;page-break-inside:auto}"
	"h2{break-after:avoid;page-break-after:avoid}"
	"thead{display:table-header-group}tr,svg.chart{break-inside:avoid;page-break-inside:avoid}"
	"section.newpage{break-before:page;page-break-before:always}}";

/* A fraction 0..1 as "95.0%", or "—". */
static void
rate_put(FILE *out, const char *v)
{
	if (v == NULL)
		fputs("—", out);
	else
		fprintf(out, "%.1f%%", strtod(v, NULL) * 100);
}

static void
cell_put(FILE *out, const struct report_table *t, int row, size_t c)
{
	const char *v = PQgetisnull(t->res, row, t->idx[c]) ? NULL : PQgetvalue(t->res, row, t->idx[c]);

	switch (t->cols[c].kind) {
	case K_NUM: fputs("<td class=\"n\">", out); markup_put(out, v != NULL ? v : "—"); break;
	case K_RATE: fputs("<td class=\"n\">", out); rate_put(out, v); break;
	case K_BOOL:
		fputs("<td>", out);
		if (v != NULL && strcmp(v, "t") == 0)
			fputs("<span class=\"mark\">末位</span>", out);
		break;
	case K_CODE: fputs("<td class=\"c\">", out); markup_put(out, v); break;
	case K_HASH: fputs("<td class=\"h\">", out); markup_put(out, v); break;
	case K_TEXT: fputs("<td class=\"t\">", out); markup_put(out, v); break;
	}
	fputs("</td>", out);
}

/* A table with every column of t; rows whose column bottom is true are marked. */
static void
table_put(FILE *out, const struct report_table *t, const char *caption)
{
	int bottom = PQfnumber(t->res, "bottom");

	fputs("<table>", out);
	if (caption != NULL) {
		fputs("<caption class=\"note\">", out);
		markup_put(out, caption);
		fputs("</caption>", out);
	}
	fputs("<thead><tr>", out);
	for (size_t c = 0; c < t->ncols; c++) {
		fputs("<th>", out);
		markup_put(out, t->cols[c].heading);
		fputs("</th>", out);
	}
	fputs("</tr></thead>\n<tbody>\n", out);
	for (int row = 0; row < PQntuples(t->res); row++) {
		bool marked = bottom >= 0 && strcmp(PQgetvalue(t->res, row, bottom), "t") == 0;

		fputs(marked ? "<tr class=\"bottom\">" : "<tr>", out);
		for (size_t c = 0; c < t->ncols; c++)
			cell_put(out, t, row, c);
		fputs("</tr>\n", out);
	}
	if (PQntuples(t->res) == 0)
		fprintf(out, "<tr><td colspan=\"%zu\" class=\"note\">本期无数据 (no rows)</td></tr>\n",
			t->ncols);
	fputs("</tbody></table>\n", out);
}

/* The scope in words: the region's name (or code), or every region. */
static void
scope_put(FILE *out, const struct report *r)
{
	if (r->region_name[0] != '\0')
		markup_put(out, r->region_name);
	else if (r->region[0] != '\0')
		markup_put(out, r->region);
}

static void
head_put(FILE *out, const struct report *r)
{
	fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", out);
	scope_put(out, r);
	fprintf(out, "电子监察月度通报 %d年%d月</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n"
		"<h1>", r->year, r->mon, style);
	scope_put(out, r);
	fprintf(out, "电子监察月度通报</h1>\n<p class=\"period\">%d年%d月</p>\n<p class=\"meta\">"
		"统计期间 %s 至 %s (北京时间) · 范围 ", r->year, r->mon, r->first, r->last);
	if (r->region[0] != '\0') {
		markup_put(out, r->region);
		fputs(" 所辖部门", out);
	} else
		fputs("全部可见部门", out);
	fputs(" · 生成时间 ", out);
	markup_put(out, r->generated);
	fputs(" (北京时间)</p>\n</header>\n", out);
}

static void
figure_put(FILE *out, const char *label, const char *value, const char *unit)
{
	fputs("<div class=\"figure\"><b>", out);
	markup_put(out, value != NULL ? value : "—");
	fprintf(out, "%s</b><span>%s</span></div>\n", unit, label);
}

/* The paragraph of 一、总体情况: each piece of text, then the summary column after it ("%":
 * the on-time rate as a percentage; NULL: nothing). */
static const struct {
	const char *before, *column;
} lead[] = {
	{ "本月纳入统计的部门 ", "departments" }, { " 个，共收件 ", "received" },
	{ " 件，办结 ", "decided" }, { " 件，其中按承诺时限办结 ", "on_time_committed" },
	{ " 件，按时办结率 ", "%" }, { "；有效红牌 ", "alerts_red" },
	{ " 张、黄牌 ", "alerts_yellow" }, { " 张、预警 ", "alerts_notice" },
	{ " 次，经申诉撤消 ", "alerts_revoked" }, { " 张；收费净额 ", "fees_net_yuan" },
	{ " 元，作出罚款 ", "penalties_yuan" }, { " 元；受理投诉 ", "complaints_received" },
	{ " 件，办结 ", "complaints_closed" }, { " 件；报送事件 ", "events" },
	{ " 条，其中迟报 ", "late_reported" }, { " 条。", NULL },
};

/* 一、总体情况: the key figures and one paragraph that says them. */
static void
summary_put(FILE *out, const struct report *r)
{
	const struct report_table *s = &r->t[T_SUMMARY];
	char rate[32] = "—";

	if (report_cell(s, 0, "on_time_rate") != NULL)
		snprintf(rate, sizeof(rate), "%.1f%%", report_num(s, 0, "on_time_rate") * 100);
	fputs("<section>\n<h2>一、总体情况</h2>\n<div class=\"figures\">\n", out);
	figure_put(out, "收件", report_cell(s, 0, "received"), " 件");
	figure_put(out, "办结", report_cell(s, 0, "decided"), " 件");
	figure_put(out, "按时办结率", rate, "");
	figure_put(out, "有效红牌", report_cell(s, 0, "alerts_red"), " 张");
	figure_put(out, "有效黄牌", report_cell(s, 0, "alerts_yellow"), " 张");
	figure_put(out, "预警", report_cell(s, 0, "alerts_notice"), " 次");
	figure_put(out, "收费净额", report_cell(s, 0, "fees_net_yuan"), " 元");
	figure_put(out, "投诉", report_cell(s, 0, "complaints_received"), " 件");
	fputs("</div>\n<p class=\"lead\">", out);
	for (size_t i = 0; i < sizeof(lead) / sizeof(lead[0]); i++) {
		const char *v = lead[i].column == NULL ? "" : strcmp(lead[i].column, "%") == 0 ? rate :
			report_cell(s, 0, lead[i].column);

		fputs(lead[i].before, out);
		markup_put(out, v != NULL ? v : "—");
	}
	fputs("</p>\n", out);
	fputs("</section>\n", out);
}

/* The department names of t, for chart labels (the code when the name is missing). */
static const char **
labels_of(const struct report_table *t, const char *name, const char *fallback)
{
	int n = PQntuples(t->res);
	const char **labels = calloc((size_t)(n > 0 ? n : 1), sizeof(*labels));

	for (int i = 0; labels != NULL && i < n; i++) {
		labels[i] = report_cell(t, i, name);
		if (labels[i] == NULL)
			labels[i] = report_cell(t, i, fallback);
	}
	return labels;
}

/* The values of column name of t (times scale), NAN for NULL; NULL when out of memory. */
static double *
values_of(const struct report_table *t, const char *name, double scale)
{
	int n = PQntuples(t->res);
	double *v = calloc((size_t)(n > 0 ? n : 1), sizeof(*v));

	for (int i = 0; v != NULL && i < n; i++)
		v[i] = report_num(t, i, name) * scale;
	return v;
}

/* 二、各部门办件情况: the table and the on-time rate by department. */
static bool
depts_put(FILE *out, const struct report *r)
{
	const struct report_table *t = &r->t[T_DEPTS];
	const char **labels = labels_of(t, "dept_name", "dept");
	double *rate = values_of(t, "on_time_rate", 100);
	struct svg_series s = { "按时办结率", GREEN, rate };
	struct svg_bars chart = { "各部门按时办结率 (on-time rate by department)",
		(size_t)PQntuples(t->res), labels, 1, &s, 100, "%", 1 };

	if (labels == NULL || rate == NULL) {
		free(labels), free(rate);
		return false;
	}
	fputs("<section class=\"long\">\n<h2>二、各部门办件情况</h2>\n", out);
	table_put(out, t, "办结、按时办结按办结日统计；用时为工作日 (counted working days)");
	fputs("<p class=\"note\">图1 各部门按时办结率 (按承诺时限)</p>\n", out);
	svg_hbars(out, &chart);
	fputs("</section>\n", out);
	free(labels), free(rate);
	return true;
}

/* 三、红黄牌: valid cards by department and severity, stacked. */
static bool
cards_put(FILE *out, const struct report *r)
{
	const struct report_table *t = &r->t[T_CARDS];
	const char **labels = labels_of(t, "dept_name", "dept");
	double *red = values_of(t, "alerts_red", 1), *yellow = values_of(t, "alerts_yellow", 1);
	double *notice = values_of(t, "alerts_notice", 1);
	struct svg_series s[3] = { { "红牌", RED, red }, { "黄牌", YELLOW, yellow },
		{ "预警", BLUE, notice } };
	struct svg_bars chart = { "各部门有效红黄牌及预警 (valid cards by department and severity)",
		(size_t)PQntuples(t->res), labels, 3, s, 0, "", 0 };
	bool ok = labels != NULL && red != NULL && yellow != NULL && notice != NULL;

	if (ok) {
		fputs("<section class=\"long newpage\">\n<h2>三、预警纠错与红黄牌</h2>\n"
			"<p class=\"note\">图2 各部门有效红牌、黄牌、预警 (按发出日统计，不含撤消、作废；"
			"含统计规则 STA-* 的发现)</p>\n",
			out);
		svg_hbars(out, &chart);
		table_put(out, t, NULL);
		fputs("</section>\n", out);
	}
	free(labels), free(red), free(yellow), free(notice);
	return ok;
}

/* 四、绩效评估排名, the last (末位) marked. */
static void
ranking_put(FILE *out, const struct report *r)
{
	char caption[640];

	snprintf(caption, sizeof(caption), "得分由 esup_scores('%s') 按配置的权重计算，"
		"可在数据库中复核；扣分的红黄牌不含统计规则 (STA-*) 的发现 (它们评判的按时办结率、"
		"满意率等已计入得分，不重复扣分)，故可少于第三部分的数目；末位部门标红；"
		"本期无可评数据的部门列于最后，不参与排名（—）", r->month);
	fputs("<section class=\"long\">\n<h2>四、绩效评估排名</h2>\n", out);
	table_put(out, &r->t[T_RANKING], caption);
	fputs("</section>\n", out);
}

/* 五、近六个月趋势: received and decided as columns, the on-time rate as a line. */
static bool
trend_put(FILE *out, const struct report *r)
{
	const struct report_table *t = &r->t[T_TREND];
	const char **labels = labels_of(t, "month", "month");
	double *received = values_of(t, "received", 1), *decided = values_of(t, "decided", 1);
	double *rate = values_of(t, "on_time_rate", 100);
	struct svg_series bars[2] = { { "收件", GREY, received }, { "办结", BLUE, decided } };
	struct svg_trend chart = { "近六个月趋势 (month-over-month trend)",
		(size_t)PQntuples(t->res), labels, 2, bars, { "按时办结率", GREEN, rate } };
	bool ok = labels != NULL && received != NULL && decided != NULL && rate != NULL;

	if (ok) {
		fputs("<section class=\"newpage\">\n<h2>五、近六个月趋势</h2>\n"
			"<p class=\"note\">图3 近六个月收件、办结 (左轴，件) 与按时办结率 (右轴)</p>\n",
			out);
		svg_trend(out, &chart);
		table_put(out, t, NULL);
		fputs("</section>\n", out);
	}
	free(labels), free(received), free(decided), free(rate);
	return ok;
}

/* 六、数据完整性: the daily chain heads, which a rebuilt chain would not reproduce. */
static void
heads_put(FILE *out, const struct report *r)
{
	fputs("<section class=\"long\">\n<h2>六、数据完整性 (事件哈希链链头)</h2>\n"
		"<p class=\"note\">各部门报送的事件逐条以 SHA-256 串成哈希链。下表为截至 ", out);
	markup_put(out, r->last);
	fputs(" 各部门最后一次发布的日链头；以后任何时候用 <code>esupctl verify</code> 复核，"
		"链头不符即说明记录被改动、删除、插入或重排。本表随通报存档备查。</p>\n", out);
	table_put(out, &r->t[T_HEADS], NULL);
	fputs("</section>\n", out);
}

bool
report_html(FILE *out, const struct report *r)
{
	bool ok;

	head_put(out, r);
	summary_put(out, r);
	ok = depts_put(out, r) && cards_put(out, r);
	ranking_put(out, r);
	ok = ok && trend_put(out, r);
	heads_put(out, r);
	fputs("<footer><p>本通报由 esupctl report 据电子监察数据库统计视图 (esup_stats) 生成；"
		"日期均为北京时间自然日，用时为工作日。同名 CSV 文件载有相同表格。</p></footer>\n"
		"</body>\n</html>\n", out);
	return ok;
}
