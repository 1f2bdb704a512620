/* swapbench compare BASE.json CAND.json: the CI regression gate.  For each
 * tier and gated metric, the ratio of the medians over runs (a difference
 * in percentage points for PSI) with a seeded bootstrap 95% interval and a
 * Mann-Whitney U test as support; regressed when the interval lies wholly
 * above the threshold, ok when wholly below, inconclusive otherwise.  Try:
 *   build/swapbench compare tests/fixtures/results/base.json tests/fixtures/results/cand-regressed.json */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "parse.h"
#include "result.h"
#include "stats.h"

#define EXIT_REGRESSED 1
#define EXIT_INCONCLUSIVE 2
#define EXIT_INPUT 3
#define MIN_RUNS 3		/* valid runs a side below which nothing is judged */
#define RUNS_CAP 1000
#define REGRESS_P 0.05		/* regressed also needs the rank test under this */

#define COUNT_METRIC(n, k, kind, unit, gated, col, head) + 1
enum { NMETRICS = 0 RESULT_METRICS(COUNT_METRIC) };
_Static_assert(NMETRICS <= 32, "struct options' limit_of is too small");

static const char usage_text[] =
	"usage: swapbench compare [OPTIONS] BASE.json CAND.json\n"
	"       swapbench compare [OPTIONS] --pair BASE,CAND RUN.json\n"
	"\n"
	"Compares two result documents of 'swapbench run' run by run: for each tier\n"
	"and gated metric, the ratio of the candidate's median to the baseline's\n"
	"with a bootstrap 95% confidence interval over runs (10^4 resamples, seeded),\n"
	"and a Mann-Whitney U test as support.  PSI fractions are compared by their\n"
	"difference in percentage points instead.  Verdicts: 'regressed' when the\n"
	"interval lies wholly above 1 + threshold (the margin for PSI) and the U\n"
	"test's two-sided p is under 0.05, 'ok' when the interval lies wholly below,\n"
	"'inconclusive' otherwise, with the runs a side that would likely settle it.\n"
	"Invalid runs are excluded and counted; fewer than 3 valid runs a side is\n"
	"inconclusive, and 3 runs against 3 (or 4), all different, are never\n"
	"regressed (p >= 0.05).  For metrics where higher is better (throughput,\n"
	"swap rates) the ratio is taken the other way round, so that above 1 is\n"
	"always worse.  With --pair, one document's tier CAND is judged against\n"
	"its tier BASE (labels of 'swapbench run --tiers', e.g. as=LABEL), ratio\n"
	"by ratio: runs interleaved in one run share the machine's drift.\n"
	"\n"
	"  -m, --metric NAME        gate on NAME (repeatable, or a comma list;\n"
	"                           default probe_p99,psi_full); 'all' for every one\n"
	"  -t, --threshold [M=]PCT  allowed slowdown of a ratio, e.g. 10% (default\n"
	"                           10%); M=PCT for metric M alone (repeatable),\n"
	"                           e.g. probe_p99=30%\n"
	"      --margin [M=]PP      allowed rise of a PSI fraction in percentage\n"
	"                           points (default 1); M=PP for metric M alone\n"
	"      --json               print the comparison as JSON\n"
	"      --markdown           print a GitHub-style markdown table\n"
	"  -f, --force              compare even when the fingerprints differ in\n"
	"                           machine, sizing, kernel, tier config, scenario\n"
	"                           or factors\n"
	"      --inconclusive-exit N  exit status for inconclusive (default 2)\n"
	"      --seed N             bootstrap seed (default fixed)\n"
	"      --pair BASE,CAND     compare tier CAND with tier BASE of one document\n"
	"\n"
	"Metrics:";

static const char exit_text[] =
	"\n\nExit status: 0 ok, 1 regressed, 2 inconclusive (--inconclusive-exit),\n"
	"3 usage or input error (including fingerprints that differ).\n";

static void usage(void)
{
	int i;

	fputs(usage_text, stdout);
	for (i = 0; metrics[i].name; i++)
		printf("%s%s", i % 6 ? " " : "\n  ", metrics[i].name);
	fputs(exit_text, stdout);
}

struct options {
	const struct metric *gate[32];
	int ngate;
	double threshold;	/* fraction: 0.10 */
	double margin_pp;
	double limit_of[32];	/* per metric (index in metrics[]): its own
				 * threshold (fraction) or margin; NAN: the default */
	bool json, markdown, force;
	int inconclusive_exit;
	uint64_t seed;
	char pair_base[64], pair_cand[64];	/* --pair, or empty */
};

static int add_metrics(struct options *o, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int i, ret = 0;

	for (tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save)) {
		const struct metric *m = metric_find(tok);

		if (!strcmp(tok, "all")) {
			for (i = 0; metrics[i].name && o->ngate < 32; i++)
				o->gate[o->ngate++] = &metrics[i];
		} else if (!m) {
			ret = usage_error("compare", "unknown metric '%s'", tok);
		} else if (o->ngate < 32) {
			o->gate[o->ngate++] = m;
		}
	}
	free(copy);
	return ret;
}

/* A non-negative number, with an optional trailing '%' (pct). */
static int parse_number(const char *s, bool pct, double *out)
{
	char buf[64];
	size_t n = strlen(s);

	if (pct && n && s[n - 1] == '%')
		n--;
	if (n >= sizeof buf)
		return -1;
	snprintf(buf, sizeof buf, "%.*s", (int)n, s);
	return parse_double(buf, 0, HUGE_VAL, out);
}

/* One tier and metric compared: group btier of base against group tier of
 * cand (the same group but with --pair). */
static json_t *compare_one(const json_t *base, const char *btier, const json_t *cand, const char *tier,
			   const struct metric *m, const struct options *o,
			   enum stats_verdict *verdict)
{
	size_t nb, nc, xb, xc;
	double *b = result_values(base, btier, m->key, &nb, &xb);
	double *c = result_values(cand, tier, m->key, &nc, &xc);
	enum stats_effect eff = m->kind == METRIC_MARGIN_PP ? STATS_DIFF : STATS_RATIO;
	double own = o->limit_of[m - metrics];
	double limit = eff == STATS_DIFF ? (isnan(own) ? o->margin_pp : own) :
		       1 + (isnan(own) ? o->threshold : own);
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f}", "tier", tier,
				"base_tier", btier,
				"metric", m->name, "effect", eff == STATS_DIFF ? "difference_pp" : "ratio",
				"base_runs", (json_int_t)nb, "cand_runs", (json_int_t)nc,
				"base_excluded", (json_int_t)xb, "cand_excluded", (json_int_t)xc,
				"limit", limit);
	const char *why = NULL;
	char whybuf[128];
	struct stats_ci ci;
	double u, p;

	*verdict = STATS_INCONCLUSIVE;
	if (nb)
		json_object_set_new(row, "base_median", json_real(stats_median(b, nb)));
	if (nc)
		json_object_set_new(row, "cand_median", json_real(stats_median(c, nc)));
	if (nb < MIN_RUNS || nc < MIN_RUNS) {
		why = "fewer than 3 valid runs a side";
		goto out;
	}
	/* Higher is better: judge base/cand so that above 1 is worse. */
	if (m->kind == METRIC_HIGHER_BETTER ?
	    stats_bootstrap(c, nc, b, nb, eff, STATS_RESAMPLES, o->seed, &ci) :
	    stats_bootstrap(b, nb, c, nc, eff, STATS_RESAMPLES, o->seed, &ci)) {
		why = "the baseline's median is zero";
		goto out;
	}
	*verdict = stats_judge(&ci, limit);
	json_object_set_new(row, "point", json_real(ci.point));
	json_object_set_new(row, "ci95_lo", json_real(ci.lo));
	json_object_set_new(row, "ci95_hi", json_real(ci.hi));
	if (stats_mann_whitney(c, nc, b, nb, &u, &p) == 0) {
		json_object_set_new(row, "mann_whitney_u", json_real(u));
		json_object_set_new(row, "mann_whitney_p", json_real(p));
	} else {
		p = 1;
	}
	/* The percentile bootstrap of a few runs is too narrow (3 against 3
	 * fall wholly apart one time in 20 by chance alone): regressed also
	 * takes the rank test, which 3 runs against 3 or 4 without ties never
	 * pass. */
	if (*verdict == STATS_REGRESSED && !(p < REGRESS_P)) {
		*verdict = STATS_INCONCLUSIVE;
		snprintf(whybuf, sizeof whybuf, "the interval lies above the limit, but the rank "
			 "test's p = %.3f is not under %.2f", p, REGRESS_P);
		why = whybuf;
	} else if (*verdict == STATS_INCONCLUSIVE) {
		unsigned need = stats_runs_needed(&ci, eff, limit, nb < nc ? nb : nc, RUNS_CAP);

		json_object_set_new(row, "runs_needed", need ? json_integer(need) : json_null());
	}
out:
	json_object_set_new(row, "verdict", json_string(stats_verdict_name(*verdict)));
	if (why)
		json_object_set_new(row, "reason", json_string(why));
	free(b);
	free(c);
	return row;
}

static double num(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);

	return v ? json_number_value(v) : NAN;
}

/* "+12.3%" for a ratio, "+0.12 pp" for a difference; "-" when absent. */
static const char *fmt_effect(const json_t *row, const char *key, char *buf, size_t len)
{
	double v = num(row, key);

	if (isnan(v))
		snprintf(buf, len, "-");
	else if (!strcmp(json_string_value(json_object_get(row, "effect")), "ratio"))
		snprintf(buf, len, "%+.1f%%", (v - 1) * 100);
	else
		snprintf(buf, len, "%+.2f pp", v);
	return buf;
}

static const char *fmt_value(const json_t *row, const char *key, char *buf, size_t len)
{
	const struct metric *m = metric_find(json_string_value(json_object_get(row, "metric")));
	double v = num(row, key);

	if (isnan(v))
		return snprintf(buf, len, "-"), buf;
	return metric_format(m->unit, v, buf, len);
}

static const char *fmt_verdict(const json_t *row, char *buf, size_t len)
{
	const char *v = json_string_value(json_object_get(row, "verdict"));
	json_t *need = json_object_get(row, "runs_needed");
	const char *why = json_string_value(json_object_get(row, "reason"));

	if (why)
		snprintf(buf, len, "%s (%s)", v, why);
	else if (json_is_integer(need))
		snprintf(buf, len, "%s (~%lld runs a side%s)", v, json_integer_value(need),
			 json_integer_value(need) >= RUNS_CAP ? " or more" : "");
	else if (json_is_null(need))
		snprintf(buf, len, "%s (on the threshold)", v);
	else
		snprintf(buf, len, "%s", v);
	return buf;
}

static void print_rows(const json_t *rows, bool markdown)
{
	char bm[32], cm[32], eff[32], lo[32], hi[32], ci[80], p[16], runs[32], v[192];
	const json_t *row;
	size_t i;

	if (markdown)
		printf("| tier | metric | runs (base/cand) | base median | cand median | change | 95%% CI | p (M-W) | verdict |\n"
		       "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- |\n");
	else
		printf("%-14s %-13s %-7s %11s %11s %10s %-22s %6s  %s\n", "tier", "metric", "runs",
		       "base", "cand", "change", "95% CI", "p", "verdict");
	json_array_foreach(rows, i, row) {
		double pv = num(row, "mann_whitney_p");

		snprintf(runs, sizeof runs, "%lld/%lld",
			 json_integer_value(json_object_get(row, "base_runs")),
			 json_integer_value(json_object_get(row, "cand_runs")));
		fmt_effect(row, "ci95_lo", lo, sizeof lo);
		fmt_effect(row, "ci95_hi", hi, sizeof hi);
		if (isnan(num(row, "ci95_lo")))
			snprintf(ci, sizeof ci, "-");
		else
			snprintf(ci, sizeof ci, "[%s, %s]", lo, hi);
		if (isnan(pv))
			snprintf(p, sizeof p, "-");
		else
			snprintf(p, sizeof p, "%.3f", pv);
		fmt_value(row, "base_median", bm, sizeof bm);
		fmt_value(row, "cand_median", cm, sizeof cm);
		fmt_effect(row, "point", eff, sizeof eff);
		fmt_verdict(row, v, sizeof v);
		if (markdown)
			printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s%s%s |\n",
			       json_string_value(json_object_get(row, "tier")),
			       json_string_value(json_object_get(row, "metric")), runs, bm, cm, eff, ci, p,
			       strncmp(v, "regressed", 9) ? "" : "**", v, strncmp(v, "regressed", 9) ? "" : "**");
		else
			printf("%-14s %-13s %-7s %11s %11s %10s %-22s %6s  %s\n",
			       json_string_value(json_object_get(row, "tier")),
			       json_string_value(json_object_get(row, "metric")), runs, bm, cm, eff, ci, p, v);
	}
}

/* The notes, then per tier the runs left out (counted on the tier's first
 * metric). */
static void print_notes(const json_t *notes, const json_t *rows)
{
	const char *prev = "";
	const json_t *row;
	bool first = true;
	size_t i;

	for (i = 0; i < json_array_size(notes); i++, first = false)
		printf("%snote: %s\n", first ? "\n" : "", json_string_value(json_array_get(notes, i)));
	json_array_foreach(rows, i, row) {
		const char *tier = json_string_value(json_object_get(row, "tier"));
		long long xb = json_integer_value(json_object_get(row, "base_excluded"));
		long long xc = json_integer_value(json_object_get(row, "cand_excluded"));

		if (!strcmp(tier, prev))
			continue;
		prev = tier;
		if (!xb && !xc)
			continue;
		printf("%snote: %s: %lld baseline and %lld candidate run(s) excluded "
		       "(invalid, or without the metric)\n", first ? "\n" : "", tier, xb, xc);
		first = false;
	}
}

/* --threshold [METRIC=]PCT or --margin [METRIC=]PP: the default, or one
 * metric's own (a ratio metric takes a threshold, a PSI one a margin). */
static int parse_limit(struct options *o, const char *arg, bool threshold)
{
	const char *eq = strchr(arg, '='), *what = threshold ? "--threshold" : "--margin";
	const struct metric *m = NULL;
	char name[64];
	double d;

	if (eq) {
		snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
		m = metric_find(name);
		if (!m || eq - arg >= (long)sizeof name)
			return usage_error("compare", "%s: unknown metric '%s'", what, name), -1;
		if ((m->kind == METRIC_MARGIN_PP) == threshold)
			return usage_error("compare", "%s: %s is judged by %s", what, m->name,
					   threshold ? "a margin in percentage points (--margin)" :
					   "a ratio threshold (--threshold)"), -1;
		arg = eq + 1;
	}
	if (parse_number(arg, threshold, &d))
		return usage_error("compare", "%s: bad value '%s' (%s)", what, arg,
				   threshold ? "want e.g. 10%" : "percentage points"), -1;
	if (threshold)
		d /= 100;
	if (m)
		o->limit_of[m - metrics] = d;
	else if (threshold)
		o->threshold = d;
	else
		o->margin_pp = d;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_JSON = 256, OPT_MARKDOWN, OPT_MARGIN, OPT_INCONCLUSIVE, OPT_SEED, OPT_PAIR };
	static const struct option opts[] = {
		{ "metric", required_argument, NULL, 'm' },
		{ "threshold", required_argument, NULL, 't' },
		{ "margin", required_argument, NULL, OPT_MARGIN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "markdown", no_argument, NULL, OPT_MARKDOWN },
		{ "force", no_argument, NULL, 'f' },
		{ "inconclusive-exit", required_argument, NULL, OPT_INCONCLUSIVE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "pair", required_argument, NULL, OPT_PAIR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct options){ .threshold = 0.10, .margin_pp = 1.0,
			       .inconclusive_exit = EXIT_INCONCLUSIVE, .seed = STATS_SEED };
	for (c = 0; c < 32; c++)
		o->limit_of[c] = NAN;
	optind = 0;	/* re-initialise getopt: permute, options may follow the files */
	while ((c = getopt_long(argc, argv, "m:t:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (add_metrics(o, optarg))
				return -1;
			break;
		case 't':
		case OPT_MARGIN:
			if (parse_limit(o, optarg, c == 't') < 0)
				return -1;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_MARKDOWN:
			o->markdown = true;
			break;
		case 'f':
			o->force = true;
			break;
		case OPT_INCONCLUSIVE:
			errno = 0;
			o->inconclusive_exit = (int)strtol(optarg, &end, 10);
			if (end == optarg || *end || errno || o->inconclusive_exit < 0 ||
			    o->inconclusive_exit > 255)
				return usage_error("compare", "bad exit status '%s' (0-255)", optarg), -1;
			break;
		case OPT_SEED:
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (end == optarg || *end || errno)
				return usage_error("compare", "bad seed '%s'", optarg), -1;
			break;
		case OPT_PAIR: {
			const char *comma = strchr(optarg, ',');

			if (!comma || comma == optarg || !comma[1] || strchr(comma + 1, ',') ||
			    strchr(optarg, '@') || (size_t)(comma - optarg) >= sizeof o->pair_base ||
			    strlen(comma + 1) >= sizeof o->pair_cand)
				return usage_error("compare", "--pair: expected BASE,CAND (two tier "
						   "labels), got '%s'", optarg), -1;
			snprintf(o->pair_base, sizeof o->pair_base, "%.*s", (int)(comma - optarg), optarg);
			snprintf(o->pair_cand, sizeof o->pair_cand, "%s", comma + 1);
			if (!strcmp(o->pair_base, o->pair_cand))
				return usage_error("compare", "--pair: '%s' against itself", o->pair_base), -1;
			break;
		}
		case 'h':
			usage();
			return 1;
		default:
			fprintf(stderr, "Try 'swapbench compare --help' for more information.\n");
			return -1;
		}
	}
	if (o->json && o->markdown)
		return usage_error("compare", "--json and --markdown exclude each other"), -1;
	if (o->pair_base[0] && argc - optind != 1)
		return usage_error("compare", "--pair takes one RUN.json"), -1;
	if (!o->pair_base[0] && argc - optind != 2)
		return usage_error("compare", "expected BASE.json and CAND.json"), -1;
	if (!o->ngate)
		for (c = 0; metrics[c].name; c++)
			if (metrics[c].gated)
				o->gate[o->ngate++] = &metrics[c];
	return 0;
}

/* Whether the document's probe figures leave the start-up out (swapbench
 * from 08b90f7 on): such figures and older ones are not the same metric. */
static bool startup_apart(const json_t *doc)
{
	const json_t *run;
	size_t i;

	json_array_foreach(json_object_get(doc, "runs"), i, run)
		if (json_object_get(json_object_get(run, "metrics"), "probe_run_slots"))
			return true;
	return false;
}

/* TIER@RATIO's tier part, or GROUP itself, equal to LABEL. */
static bool group_of(const char *group, const char *label)
{
	size_t n = strlen(label);

	return !strncmp(group, label, n) && (group[n] == '\0' || group[n] == '@');
}

/* Whether DOC has runs of GROUP, valid or not. */
static bool has_group(const json_t *doc, const char *group)
{
	size_t n, x;
	double *v = result_values(doc, group, "probe_p99_ns", &n, &x);

	free(v);
	return n + x > 0;
}

/* Group BG of BASE against group CG of CAND on every gated metric: rows
 * appended, *worst updated (regressed over inconclusive over ok). */
static void compare_groups(const json_t *base, const char *bg, const json_t *cand, const char *cg,
			   const struct options *o, json_t *rows, int *worst)
{
	int i;

	for (i = 0; i < o->ngate; i++) {
		enum stats_verdict verdict;

		json_array_append_new(rows, compare_one(base, bg, cand, cg, o->gate[i], o, &verdict));
		if (verdict == STATS_REGRESSED || (verdict == STATS_INCONCLUSIVE && *worst == STATS_OK))
			*worst = verdict;
	}
}

/* --pair: each group of o->pair_base in DOC against the group of
 * o->pair_cand at the same ratio.  0, or -1 with a message when there is no
 * pair at all. */
static int compare_pair(const json_t *doc, const struct options *o, json_t *rows, json_t *notes,
			int *worst)
{
	json_t *groups = result_tiers(doc), *g;
	size_t gi, pairs = 0;

	json_array_foreach(groups, gi, g) {
		const char *bg = json_string_value(g), *at = strchr(bg, '@');
		char cg[160];

		if (!group_of(bg, o->pair_base))
			continue;
		snprintf(cg, sizeof cg, "%s%s", o->pair_cand, at ? at : "");
		if (!has_group(doc, cg)) {
			json_array_append_new(notes, json_sprintf("tier '%s' has no counterpart '%s'", bg, cg));
			continue;
		}
		pairs++;
		compare_groups(doc, bg, doc, cg, o, rows, worst);
	}
	json_decref(groups);
	if (!pairs) {
		error("no runs of both tier '%s' and tier '%s' at one ratio in the document",
		      o->pair_base, o->pair_cand);
		return -1;
	}
	return 0;
}

/* The command in its steps: load both documents, refuse what cannot be
 * compared (fingerprint, start-up exclusion), judge each tier and metric,
 * print, write --json and --markdown; one function so that the
 * documents' references have one owner and one exit. */
int cmd_compare(int argc, char **argv)
{
	json_t *base = NULL, *cand = NULL, *tiers = NULL, *rows = NULL, *notes = NULL, *out, *t;
	int worst = STATS_OK, ret = EXIT_INPUT, i, r;
	const char *diff, *bpath, *cpath;
	bool own_limits = false;
	struct options o;
	size_t ti;

	r = parse_args(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : EXIT_INPUT;
	bpath = argv[optind];
	cpath = o.pair_base[0] ? bpath : argv[optind + 1];
	if (!(base = result_load(bpath)) || !(cand = o.pair_base[0] ? json_incref(base) : result_load(cpath)))
		goto out;
	notes = json_array();
	if (o.pair_base[0]) {
		rows = json_array();
		if (compare_pair(base, &o, rows, notes, &worst) < 0)
			goto out;
		diff = NULL;
		goto print;
	}
	diff = result_fingerprint_diff(base, cand);
	if (!diff && startup_apart(base) != startup_apart(cand))
		diff = "the probe figures (one document leaves the workload's start-up out of them, "
		       "the other, an older one, does not)";
	if (diff && !o.force) {
		error("refusing to compare: the fingerprints differ in %s ('%s' against '%s'); "
		      "--force compares anyway", diff, bpath, cpath);
		goto out;
	}
	if (diff) {
		warn("the fingerprints differ in %s; compared anyway (--force)", diff);
		json_array_append_new(notes, json_sprintf("fingerprints differ in %s (--force)", diff));
	}
	tiers = result_tiers(base);
	rows = json_array();
	json_array_foreach(tiers, ti, t) {
		const char *tier = json_string_value(t);

		if (!has_group(cand, tier)) {
			json_array_append_new(notes, json_sprintf("tier '%s' is only in the baseline", tier));
			continue;
		}
		compare_groups(base, tier, cand, tier, &o, rows, &worst);
	}
	{
		json_t *ct = result_tiers(cand);

		json_array_foreach(ct, ti, t)
			if (!has_group(base, json_string_value(t)))
				json_array_append_new(notes, json_sprintf("tier '%s' is only in the candidate",
									  json_string_value(t)));
		json_decref(ct);
	}
	if (json_array_size(rows) == 0) {
		error("'%s' and '%s' have no tier in common", bpath, cpath);
		goto out;
	}
print:
	if (o.json) {
		out = json_pack("{s:s, s:i, s:s, s:s, s:f, s:f, s:I, s:b, s:O, s:O, s:s}",
				"schema", "swapbench-compare", "schema_version", 1, "base", bpath,
				"candidate", cpath, "threshold_pct", o.threshold * 100,
				"margin_pp", o.margin_pp, "seed", (json_int_t)o.seed, "forced", diff != NULL,
				"notes", notes, "results", rows,
				"verdict", stats_verdict_name((enum stats_verdict)worst));
		if (o.pair_base[0])
			json_object_set_new(out, "pair", json_pack("{s:s, s:s}", "base", o.pair_base,
								   "candidate", o.pair_cand));
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(out);
	} else {
		if (o.markdown)
			printf("**swapbench compare**: `%s%s%s` against `%s%s%s` (%s, kernel %s, scenario %s); "
			       "threshold %.0f%%, PSI margin %.2g pp\n\n", cpath,
			       o.pair_base[0] ? "`, tier `" : "", o.pair_cand, bpath,
			       o.pair_base[0] ? "`, tier `" : "", o.pair_base,
			       result_fp_str(base, "host"), result_fp_str(base, "kernel"),
			       result_fp_str(base, "scenario"), o.threshold * 100, o.margin_pp);
		else if (o.pair_base[0])
			printf("%s: tier %s against tier %s: kernel %s, scenario %s; threshold %.0f%%, "
			       "PSI margin %.2g pp\n\n", bpath, o.pair_cand, o.pair_base,
			       result_fp_str(base, "kernel"), result_fp_str(base, "scenario"),
			       o.threshold * 100, o.margin_pp);
		else
			printf("base %s, candidate %s: kernel %s, scenario %s; threshold %.0f%%, "
			       "PSI margin %.2g pp\n\n", bpath, cpath, result_fp_str(base, "kernel"),
			       result_fp_str(base, "scenario"), o.threshold * 100, o.margin_pp);
		for (i = 0; i < NMETRICS; i++)
			if (!isnan(o.limit_of[i]))
				printf(metrics[i].kind == METRIC_MARGIN_PP ? "%s%s: margin %.2g pp\n" :
				       "%s%s: threshold %.0f%%\n", o.markdown ? "- " : "", metrics[i].name,
				       metrics[i].kind == METRIC_MARGIN_PP ? o.limit_of[i] : o.limit_of[i] * 100),
				own_limits = true;
		if (own_limits && o.markdown)
			putchar('\n');	/* the list ends before the table */
		print_rows(rows, o.markdown);
		print_notes(notes, rows);
		printf(o.markdown ? "\n**verdict: %s**\n" : "\nverdict: %s\n",
		       stats_verdict_name((enum stats_verdict)worst));
	}
	ret = worst == STATS_REGRESSED ? EXIT_REGRESSED :
	      worst == STATS_INCONCLUSIVE ? o.inconclusive_exit : 0;
out:
	json_decref(notes);
	json_decref(rows);
	json_decref(tiers);
	json_decref(cand);
	json_decref(base);
	return ret;
}
