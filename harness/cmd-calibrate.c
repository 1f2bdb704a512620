/* swapbench calibrate RESULT.json: the run-to-run variation of this host,
 * from A/A halves of one document's repeats (even repeats against odd ones,
 * interleaved so that drift lands in both), and the compare thresholds it
 * suggests: about 2.5 times the observed variation.  Try:
 *   build/swapbench calibrate tests/fixtures/results/base.json */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "result.h"
#include "stats.h"

#define EXIT_INPUT 3
#define MIN_RUNS 4		/* two a half */
#define SAFETY 2.5		/* suggested threshold / observed variation */

static const char usage_text[] =
	"usage: swapbench calibrate [--json] [--metric NAME...] RESULT.json\n"
	"\n"
	"Measures run-to-run variation from A/A halves of one result document: per\n"
	"tier, the valid runs in repeat order are split into even and odd ones and\n"
	"compared as 'swapbench compare' would (bootstrap 95% interval of the ratio\n"
	"of medians, or of the difference in percentage points for PSI).  The widest\n"
	"excursion of that interval from no change is the observed variation; the\n"
	"suggested --threshold (or --margin) is 2.5 times it.  Use a document of at\n"
	"least 10 repeats of one configuration; fewer than 4 valid runs are skipped.\n"
	"\n"
	"  -m, --metric NAME   only NAME (repeatable; default every metric)\n"
	"      --json          print JSON\n"
	"\n"
	"Exit status: 0, or 3 on a usage or input error.\n";

static json_t *calibrate_one(const json_t *doc, const char *tier, const struct metric *m)
{
	enum stats_effect eff = m->kind == METRIC_MARGIN_PP ? STATS_DIFF : STATS_RATIO;
	json_t *row = json_pack("{s:s, s:s}", "tier", tier, "metric", m->name);
	size_t n, x, i, na = 0, nb = 0;
	double *v = result_values(doc, tier, m->key, &n, &x), *a = NULL, *b = NULL;
	struct stats_ci ci;

	json_object_set_new(row, "valid_runs", json_integer((json_int_t)n));
	if (n < MIN_RUNS) {
		json_object_set_new(row, "reason", json_string("fewer than 4 valid runs"));
		goto out;
	}
	a = malloc(n * sizeof *a);
	b = malloc(n * sizeof *b);
	if (!a || !b)
		goto out;
	for (i = 0; i < n; i++) {
		if (i % 2)
			b[nb++] = v[i];
		else
			a[na++] = v[i];
	}
	json_object_set_new(row, "median", json_real(stats_median(v, n)));
	if (m->kind == METRIC_HIGHER_BETTER ?
	    stats_bootstrap(b, nb, a, na, eff, STATS_RESAMPLES, STATS_SEED, &ci) :
	    stats_bootstrap(a, na, b, nb, eff, STATS_RESAMPLES, STATS_SEED, &ci)) {
		json_object_set_new(row, "reason", json_string("median is zero"));
		goto out;
	}
	json_object_set_new(row, "aa_point", json_real(ci.point));
	json_object_set_new(row, "aa_ci95_lo", json_real(ci.lo));
	json_object_set_new(row, "aa_ci95_hi", json_real(ci.hi));
	if (eff == STATS_RATIO) {
		double var = fmax(ci.hi - 1, 1 - ci.lo) * 100;

		json_object_set_new(row, "variation_pct", json_real(var));
		json_object_set_new(row, "suggested_threshold_pct",
				    json_real(fmax(1, ceil(SAFETY * var))));
	} else {
		double var = fmax(fabs(ci.lo), fabs(ci.hi));

		json_object_set_new(row, "variation_pp", json_real(var));
		json_object_set_new(row, "suggested_margin_pp",
				    json_real(fmax(0.01, ceil(SAFETY * var * 100) / 100)));
	}
out:
	free(a);
	free(b);
	free(v);
	return row;
}

static void print_row(const json_t *row, int w)
{
	const struct metric *m = metric_find(json_string_value(json_object_get(row, "metric")));
	const char *why = json_string_value(json_object_get(row, "reason"));
	char med[32] = "-", ci[64] = "-", var[32] = "-", sug[48] = "-";
	json_t *md = json_object_get(row, "median");

	if (md)
		metric_format(m->unit, json_real_value(md), med, sizeof med);
	if (why) {
		snprintf(sug, sizeof sug, "(%s)", why);
	} else if (json_object_get(row, "variation_pct")) {
		snprintf(ci, sizeof ci, "[%+.1f%%, %+.1f%%]",
			 (json_real_value(json_object_get(row, "aa_ci95_lo")) - 1) * 100,
			 (json_real_value(json_object_get(row, "aa_ci95_hi")) - 1) * 100);
		snprintf(var, sizeof var, "%.1f%%", json_real_value(json_object_get(row, "variation_pct")));
		snprintf(sug, sizeof sug, "--threshold %.0f%%",
			 json_real_value(json_object_get(row, "suggested_threshold_pct")));
	} else {
		snprintf(ci, sizeof ci, "[%+.2f, %+.2f] pp",
			 json_real_value(json_object_get(row, "aa_ci95_lo")),
			 json_real_value(json_object_get(row, "aa_ci95_hi")));
		snprintf(var, sizeof var, "%.2f pp", json_real_value(json_object_get(row, "variation_pp")));
		snprintf(sug, sizeof sug, "--margin %.2f",
			 json_real_value(json_object_get(row, "suggested_margin_pp")));
	}
	printf("%-*s %-13s %4lld %11s %-24s %10s  %s\n", w, json_string_value(json_object_get(row, "tier")),
	       m->name, json_integer_value(json_object_get(row, "valid_runs")), med, ci, var, sug);
}

int cmd_calibrate(int argc, char **argv)
{
	enum { OPT_JSON = 256 };
	static const struct option opts[] = {
		{ "metric", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct metric *only[32];
	json_t *doc, *tiers, *rows, *t, *row;
	int c, nonly = 0, i;
	bool json = false;
	size_t ti;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!(only[nonly] = metric_find(optarg))) {
				usage_error("calibrate", "unknown metric '%s'", optarg);
				return EXIT_INPUT;
			}
			nonly += nonly < 31;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'swapbench calibrate --help' for more information.\n");
			return EXIT_INPUT;
		}
	}
	if (argc - optind != 1) {
		usage_error("calibrate", "expected one RESULT.json");
		return EXIT_INPUT;
	}
	if (!(doc = result_load(argv[optind])))
		return EXIT_INPUT;
	if (!nonly)
		for (i = 0; metrics[i].name && nonly < 32; i++)
			only[nonly++] = &metrics[i];
	tiers = result_tiers(doc);
	rows = json_array();
	json_array_foreach(tiers, ti, t)
		for (i = 0; i < nonly; i++)
			json_array_append_new(rows, calibrate_one(doc, json_string_value(t), only[i]));
	if (json) {
		json_t *out = json_pack("{s:s, s:i, s:s, s:s, s:s, s:f, s:O}", "schema", "swapbench-calibrate",
					"schema_version", 1, "document", argv[optind],
					"host", result_fp_str(doc, "host"), "kernel", result_fp_str(doc, "kernel"),
					"safety_factor", SAFETY, "results", rows);

		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(out);
	} else {
		int w = 4;	/* the longest tier label */

		printf("A/A halves of %s (host %s, kernel %s): even against odd repeats\n\n",
		       argv[optind], result_fp_str(doc, "host"), result_fp_str(doc, "kernel"));
		json_array_foreach(rows, ti, row)
			if ((int)strlen(json_string_value(json_object_get(row, "tier"))) > w)
				w = (int)strlen(json_string_value(json_object_get(row, "tier")));
		printf("%-*s %-13s %4s %11s %-24s %10s  %s\n", w, "tier", "metric", "runs", "median",
		       "A/A 95% CI", "variation", "suggested");
		json_array_foreach(rows, ti, row)
			print_row(row, w);
	}
	json_decref(rows);
	json_decref(tiers);
	json_decref(doc);
	return 0;
}
