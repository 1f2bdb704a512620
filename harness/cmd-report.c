/* swapbench report RUN_DIR: RUN_DIR/report.md, the write-up of one run: a
 * table per tier (medians over valid runs of probe latency, PSI full, the
 * longest stall, swap traffic and throughput, and validity), for a ramp a
 * table per ratio as well, for a fio-raw run a table per tier and job
 * instead, the figures of 'swapbench plot' embedded, the fingerprint and
 * the command to reproduce.
 * Try:
 *   build/swapbench plot tests/fixtures/results/run-a
 *   build/swapbench report tests/fixtures/results/run-a */
#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "report.h"
#include "report-fleet.h"
#include "result.h"
#include "stats.h"
#include "tier-names.h"

static const char usage_text[] =
	"usage: swapbench report RUN_DIR\n"
	"       swapbench report [--out DIR] FLEET_DIR\n"
	"       swapbench report --out DIR DIR DIR...\n"
	"\n"
	"Writes RUN_DIR/report.md from RUN_DIR/run.json:\n"
	"  overcommit and ramp runs: per tier the medians over valid runs with\n"
	"    their bootstrap 95% intervals (probe latency p50/p99/p99.9 (p99.9 only\n"
	"    from 10000 probes a run), PSI full, longest stall, swap-in and swap-out\n"
	"    pages, work done first) with how many runs were valid; with tier none\n"
	"    in the run, each tier's probe p50/p99 over the baseline's (difference\n"
	"    and interval); the start-up the probe figures leave out (until the\n"
	"    workload first fills its cgroup); then each run's work done and probe\n"
	"    p99 by round (drift shows along a row); for a ramp also a table per\n"
	"    ratio (probe p99 and PSI full of each tier)\n"
	"  fio-raw runs: per tier and fio job the medians over valid runs of IOPS,\n"
	"    bandwidth and latency p50/p99/p99.9 (us)\n"
	"and why runs were invalid, the figures in RUN_DIR/plots/ (run 'swapbench\n"
	"plot RUN_DIR' first: p99-by-tier, psi-full, swap-rates, latency-cdf,\n"
	"overcommit-curve, fio-latency, those drawn), the fingerprint and the\n"
	"command that reproduces the run.  Prints, for overcommit and ramp runs, a\n"
	"summary per tier (valid runs, work done, probe p99, PSI full, swap-out and\n"
	"swap-in), then the path of report.md.\n"
	"\n"
	"A fleet report, the same scenario on many hosts (scripts/fleet/ leaves each\n"
	"host's run in results/fleet-ID/HOST/): from a FLEET_DIR (a directory with no\n"
	"run.json whose subdirectories holding a run.json or a fleet-job.json are the\n"
	"hosts, each named by its directory), or from two or more directories (each a\n"
	"host's run directory or a fleet directory), writes DIR/fleet.md (default:\n"
	"FLEET_DIR/fleet.md): a row per host and tier with the valid runs and the\n"
	"medians of work done, probe p99 and PSI full with their bootstrap 95%\n"
	"intervals, hosts grouped by fingerprint class (kernel, CPU model, GPU model),\n"
	"the medians again as a host x tier table per metric, every host without a\n"
	"usable run.json as failed with the reason, and each host's sizing and\n"
	"provenance; where gnuplot is, DIR/plots/fleet-work, fleet-p99 and fleet-psi\n"
	"(PNG and SVG): per metric each tier's hosts side by side.  Prints a summary\n"
	"per host and tier, then the path of fleet.md.  It describes, and judges\n"
	"nothing: 'swapbench compare' refuses two machines unless --force.\n"
	"\n"
	"  --out DIR   the fleet report's directory (made if missing)\n";

/* report.md's table of medians: RESULT_METRICS' rows with a column, in
 * column order (filled once). */
static const struct metric *columns[16];
static size_t ncolumns;

static void columns_init(void)
{
	int want;
	size_t i;

	if (ncolumns)
		return;
	for (want = 1; want < 64 && ncolumns < sizeof columns / sizeof columns[0]; want++)
		for (i = 0; metrics[i].name; i++)
			if (metrics[i].column == want)
				columns[ncolumns++] = &metrics[i];
}

static const struct {
	const char *file, *caption;
} figures[] = {
	{ "p99-by-tier", "Probe latency p99 by tier, with the run-to-run spread" },
	{ "psi-full", "PSI memory full over time" },
	{ "swap-rates", "Swap-in and swap-out rates over time" },
	{ "latency-cdf", "Probe exec latency tail per tier: share of probes slower than x (1 - CDF)" },
	{ "overcommit-curve", "Overcommit curve: probe p99 and PSI full by ratio, median and min-max over repeats" },
	{ "sweep", "Sweep: probe p99 and work done against the swept factor, median and min-max over repeats" },
	{ "fio-latency", "fio on the raw device: latency p50, p99 and p99.9 per job and tier" },
};

void report_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '|')
			fputs("\\|", f);
		else
			fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
	}
}

static void write_invalid(FILE *f, const json_t *doc, bool fio);
static const char *baseline_of(const json_t *doc, const char *group, char *buf, size_t len);
static const char *signed_value(enum metric_unit u, double v, char *buf, size_t len);

/* The median of KEY over TIER's valid runs, formatted in buf, or "-". */
static const char *median_cell(const json_t *doc, const char *tier, const char *key, char *buf,
			       size_t len)
{
	size_t n, x;
	double *v = result_values(doc, tier, key, &n, &x);
	const char *out = n ? metric_format(metric_find(key)->unit, stats_median(v, n), buf, len) : "-";

	free(v);
	return out;
}

int report_median_ci(const json_t *doc, const char *group, const char *key, struct stats_ci *ci,
		     size_t *n)
{
	size_t x;
	double *v = result_values(doc, group, key, n, &x);
	int rc = *n ? stats_bootstrap_median(v, *n, STATS_RESAMPLES, STATS_SEED, ci) : -1;

	free(v);
	if (rc < 0)
		*n = 0;
	return rc;
}

const char *report_ci_format(enum metric_unit u, const struct stats_ci *ci, size_t n, char *buf,
			     size_t len)
{
	char a[32], lo[32], hi[32];

	if (!n)
		snprintf(buf, len, "-");
	else if (n == 1)
		snprintf(buf, len, "%s", metric_format(u, ci->point, a, sizeof a));
	else
		snprintf(buf, len, "%s [%s, %s]", metric_format(u, ci->point, a, sizeof a),
			 metric_format(u, ci->lo, lo, sizeof lo), metric_format(u, ci->hi, hi, sizeof hi));
	return buf;
}

/* The median of KEY over TIER's valid runs and its bootstrap 95% interval,
 * "6.47 ms [6.10 ms, 7.02 ms]" (one run: the value alone), or "-". */
static const char *median_ci_cell(const json_t *doc, const char *tier, const char *key, char *buf,
				  size_t len)
{
	struct stats_ci ci;
	size_t n;

	report_median_ci(doc, tier, key, &ci, &n);
	return report_ci_format(metric_find(key)->unit, &ci, n, buf, len);
}

void report_valid_runs(const json_t *doc, const char *group, size_t *valid, size_t *total)
{
	json_t *run;
	size_t j;

	*valid = *total = 0;
	json_array_foreach(json_object_get(doc, "runs"), j, run) {
		char g[128];

		if (strcmp(group, result_group(run, g, sizeof g)))
			continue;
		(*total)++;
		*valid += json_is_true(json_object_get(run, "valid"));
	}
}

/* "VALID/TOTAL" of TIER's runs. */
static void valid_runs(const json_t *doc, const char *tier, char *buf, size_t len)
{
	size_t valid, total;

	report_valid_runs(doc, tier, &valid, &total);
	snprintf(buf, len, "%zu/%zu", valid, total);
}

/* The run's summary for the terminal: per tier the valid runs and the
 * medians of the columns a reader compares first. */
static void print_summary(FILE *f, const json_t *doc)
{
	static const struct {
		const char *key, *head;
	} cols[] = {
		{ "workload_ops_per_s", "work/s" },
		{ "probe_p99_ns", "probe p99" },
		{ "psi_full_pct", "PSI full" },
		{ "swapped_out_rate_pages_per_s", "out pg/s" },
		{ "swapped_in_rate_pages_per_s", "in pg/s" },
	};
	json_t *tiers = result_tiers(doc), *t;
	size_t i, k, w = 4;

	bool base = false;
	char b[128];

	json_array_foreach(tiers, i, t) {
		if (strlen(json_string_value(t)) > w)
			w = strlen(json_string_value(t));
		base = base || baseline_of(doc, json_string_value(t), b, sizeof b);
	}
	fprintf(f, "%-*s  %5s", (int)w, "tier", "valid");
	for (k = 0; k < sizeof cols / sizeof cols[0]; k++)
		fprintf(f, "  %10s", cols[k].head);
	if (base)
		fprintf(f, "  %11s", "p99 vs none");
	fputc('\n', f);
	json_array_foreach(tiers, i, t) {
		const char *tier = json_string_value(t);
		char vr[24];

		valid_runs(doc, tier, vr, sizeof vr);
		fprintf(f, "%-*s  %5s", (int)w, tier, vr);
		for (k = 0; k < sizeof cols / sizeof cols[0]; k++) {
			char buf[32];

			fprintf(f, "  %10s", median_cell(doc, tier, cols[k].key, buf, sizeof buf));
		}
		if (base) {
			size_t nb, nc, x;
			double *vb = baseline_of(doc, tier, b, sizeof b) ?
				     result_values(doc, b, "probe_p99_ns", &nb, &x) : NULL;
			double *vc = result_values(doc, tier, "probe_p99_ns", &nc, &x);
			char buf[32];

			fprintf(f, "  %11s", vb && nc ? signed_value(UNIT_NS, stats_median(vc, nc) -
				stats_median(vb, nb), buf, sizeof buf) : "-");
			free(vb);
			free(vc);
		}
		fputc('\n', f);
	}
	fprintf(f, "(medians over each tier's valid runs; work/s: the workload's ops per second%s)\n",
		base ? "; p99 vs none: probe p99 over the no-swap baseline's" : "");
	json_decref(tiers);
}

/* Whether a run of the document counts its start-up apart. */
static bool has_startup(const json_t *doc)
{
	json_t *run;
	size_t j;

	json_array_foreach(json_object_get(doc, "runs"), j, run)
		if (json_object_get(json_object_get(run, "metrics"), "startup_probe_slots"))
			return true;
	return false;
}

static bool is_baseline_run(const json_t *run)
{
	return tier_is_baseline(json_string_value(json_object_get(run, "tier_name")));
}

/* The group of the baseline (tier none) run at GROUP's ratio, in buf; NULL
 * when GROUP is a baseline itself or the document has none at its ratio. */
static const char *baseline_of(const json_t *doc, const char *group, char *buf, size_t len)
{
	const json_t *runs = json_object_get(doc, "runs"), *run, *ratio = NULL;
	char g[128];
	size_t j;

	json_array_foreach(runs, j, run)
		if (!strcmp(result_group(run, g, sizeof g), group)) {
			if (is_baseline_run(run))
				return NULL;
			ratio = json_object_get(run, "ratio");
			break;
		}
	json_array_foreach(runs, j, run)
		if (is_baseline_run(run) && (!ratio || json_equal(json_object_get(run, "ratio"), ratio)))
			return result_group(run, buf, len);
	return NULL;
}

/* V of unit U with its sign: "+1.20 ms", "-0.31%". */
static const char *signed_value(enum metric_unit u, double v, char *buf, size_t len)
{
	char a[32];

	snprintf(buf, len, "%s%s", v < 0 ? "-" : "+", metric_format(u, fabs(v), a, sizeof a));
	return buf;
}

/* GROUP against its baseline on KEY: the difference of medians (ratio:
 * the change in percent) with its bootstrap 95% interval, or "-". */
static const char *versus_cell(const json_t *doc, const char *group, const char *base, const char *key,
			       enum stats_effect eff, char *buf, size_t len)
{
	const struct metric *m = metric_find(key);
	size_t nb, nc, x;
	double *b = result_values(doc, base, key, &nb, &x), *c = result_values(doc, group, key, &nc, &x);
	char p[32], lo[32], hi[32];
	struct stats_ci ci;

	if (!nb || !nc || stats_bootstrap(b, nb, c, nc, eff, STATS_RESAMPLES, STATS_SEED, &ci) < 0)
		snprintf(buf, len, "-");
	else if (nb == 1 && nc == 1 && eff == STATS_RATIO)	/* no spread to show */
		snprintf(buf, len, "%+.1f%%", (ci.point - 1) * 100);
	else if (nb == 1 && nc == 1)
		snprintf(buf, len, "%s", signed_value(m->unit, ci.point, p, sizeof p));
	else if (eff == STATS_RATIO)
		snprintf(buf, len, "%+.1f%% [%+.1f%%, %+.1f%%]", (ci.point - 1) * 100, (ci.lo - 1) * 100,
			 (ci.hi - 1) * 100);
	else
		snprintf(buf, len, "%s [%s, %s]", signed_value(m->unit, ci.point, p, sizeof p),
			 signed_value(m->unit, ci.lo, lo, sizeof lo), signed_value(m->unit, ci.hi, hi, sizeof hi));
	free(b);
	free(c);
	return buf;
}

/* Each tier's probe latency next to the baseline's (tier none at the same
 * ratio): what swapping added to unrelated work, with intervals. */
static void write_baseline_table(FILE *f, const json_t *doc)
{
	json_t *tiers = result_tiers(doc), *t;
	bool any = false;
	size_t i;

	json_array_foreach(tiers, i, t) {
		char base[128], vr[24], nr[24], c[6][112];
		const char *tier = json_string_value(t);

		if (!baseline_of(doc, tier, base, sizeof base))
			continue;
		if (!any)
			fprintf(f, "\n### Against the baseline (no swap)\n\n"
				   "| tier | valid runs (tier / none) | probe p50 | p50 over none | "
				   "probe p99 | p99 over none | work done against none |\n"
				   "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		any = true;
		valid_runs(doc, tier, vr, sizeof vr);
		valid_runs(doc, base, nr, sizeof nr);
		fprintf(f, "| %s | %s / %s | %s | %s | %s | %s | %s |\n", tier, vr, nr,
			median_cell(doc, tier, "probe_p50_ns", c[0], sizeof c[0]),
			versus_cell(doc, tier, base, "probe_p50_ns", STATS_DIFF, c[1], sizeof c[1]),
			median_cell(doc, tier, "probe_p99_ns", c[2], sizeof c[2]),
			versus_cell(doc, tier, base, "probe_p99_ns", STATS_DIFF, c[3], sizeof c[3]),
			versus_cell(doc, tier, base, "workload_ops_per_s", STATS_RATIO, c[4], sizeof c[4]));
	}
	if (any)
		fprintf(f, "\nThe baseline is tier none: the same workload and probes with no swap, in a "
			   "cgroup the working set fits in.  \"Over none\": the tier's median minus the "
			   "baseline's, with the bootstrap 95%% interval of that difference (%d resamples, "
			   "seeded); work done: the change of the median in percent.  An interval that "
			   "holds 0 shows no difference these runs can tell.\n", STATS_RESAMPLES);
	else
		fprintf(f, "\nNo baseline in this run: add tier none (`--tiers none,...`) to see each "
			   "tier's probe latency as a difference from no swap.\n");
	json_decref(tiers);
}

/* The start-up the probe figures leave out: its length and its probes. */
static void write_startup_table(FILE *f, const json_t *doc)
{
	static const char *const keys[] = { "startup_ns", "startup_probe_slots", "startup_probe_p99_ns",
					     "startup_probe_max_ns" };
	json_t *tiers = result_tiers(doc), *t;
	size_t i, k;

	if (!has_startup(doc)) {
		json_decref(tiers);
		return;
	}
	fprintf(f, "\n### Start-up\n\n| tier | start-up | probes in it | probe p99 | probe max |\n"
		   "| --- | ---: | ---: | ---: | ---: |\n");
	json_array_foreach(tiers, i, t) {
		fprintf(f, "| %s |", json_string_value(t));
		for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			size_t n, x;
			double *v = result_values(doc, json_string_value(t), keys[k], &n, &x);
			char buf[32];

			fprintf(f, " %s |", !n ? "-" : metric_format(k == 1 ? UNIT_OPS : UNIT_NS,
				stats_median(v, n), buf, sizeof buf));
			free(v);
		}
		fputc('\n', f);
	}
	fprintf(f, "\nMedians over valid runs.  The start-up runs from the workload's start until "
		   "its memory cgroup first holds 9/10 of the limit or of the working set, whichever "
		   "is smaller (read every sampling interval); a run that never got there has no "
		   "start-up figure and all its probes count.\n");
	json_decref(tiers);
}

/* The medians over group GROUP's valid runs of run.levels[LEVEL].KEY into
 * *med; false when no run has it. */
static bool level_median(const json_t *doc, const char *group, size_t level, const char *key,
			 double *med)
{
	json_t *run, *runs = json_object_get(doc, "runs");
	double v[256];
	size_t i, n = 0;

	json_array_foreach(runs, i, run) {
		char g[128];
		json_t *x = json_object_get(json_array_get(json_object_get(run, "levels"), level), key);

		if (n < sizeof v / sizeof v[0] && json_is_true(json_object_get(run, "valid")) &&
		    json_is_number(x) && !strcmp(result_group(run, g, sizeof g), group))
			v[n++] = json_number_value(x);
	}
	if (n)
		*med = stats_median(v, n);
	return n > 0;
}

/* Stacks: per level, the pages written to it, the most it held and when
 * it first took a MiB (where the overflow went, and when the lower level
 * began to take it). */
static void write_levels_table(FILE *f, const json_t *doc)
{
	json_t *tiers = result_tiers(doc), *t, *run;
	bool any = false;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "runs"), i, run)
		any = any || json_array_size(json_object_get(run, "levels")) > 1;
	if (!any) {
		json_decref(tiers);
		return;
	}
	fprintf(f, "\n### Stacks: where the overflow went\n\n| stack | level | tier | pages written | "
		   "most held | took its first MiB at |\n| --- | ---: | --- | ---: | ---: | ---: |\n");
	json_array_foreach(tiers, i, t) {
		const char *g = json_string_value(t);
		const json_t *first = NULL;

		json_array_foreach(json_object_get(doc, "runs"), k, run) {
			char rg[128];

			if (!strcmp(result_group(run, rg, sizeof rg), g) &&
			    json_array_size(json_object_get(run, "levels")) > 1) {
				first = run;
				break;
			}
		}
		for (k = 0; first && k < json_array_size(json_object_get(first, "levels")); k++) {
			json_t *lv = json_array_get(json_object_get(first, "levels"), k);
			const char *name = json_string_value(json_object_get(lv, "tier"));
			char a[32], b[32], c[32];
			double w, h, s;

			fprintf(f, "| %s | %zu | ", g, k);
			report_cell(f, name ? name : "?");
			fprintf(f, " | %s | %s | %s |\n",
				level_median(doc, g, k, "written_pages", &w) ?
					metric_format(UNIT_PAGES, w, a, sizeof a) : "-",
				level_median(doc, g, k, "held_peak_bytes", &h) ?
					(snprintf(b, sizeof b, "%.0f MiB", h / 1048576), b) : "-",
				level_median(doc, g, k, "first_took_s", &s) ?
					(snprintf(c, sizeof c, "%.0f s", s), c) : "never");
		}
	}
	fprintf(f, "\nMedians over valid runs; level 0 has the highest priority.  Pages written: "
		   "to the level's block device (zswap: into its pool, zswpout); most held: its swap "
		   "area's use (zswap: what its pool held, uncompressed; a device under zswap counts "
		   "the slots of pages zswap holds too); its first MiB: seconds from the "
		   "workload's start until a MiB had been written to the level's device (zswap: "
		   "held in its pool), read once a second.\n");
	json_decref(tiers);
}

/* One daemon's call over group GROUP's valid runs, into buf: "fired in k
 * of n, at S s (median)", "no (PEAK)", or why it could not judge. */
static const char *oom_cell(const json_t *doc, const char *group, const char *daemon, char *buf,
			    size_t len)
{
	double at[256], peak[256];
	size_t i, n = 0, nf = 0, np = 0;
	const char *peak_key = NULL;
	json_t *run;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		json_t *d = json_object_get(json_object_get(run, "oom_daemons"), daemon), *v;
		const char *k;
		char g[128];

		if (!d || !json_is_true(json_object_get(run, "valid")) ||
		    strcmp(result_group(run, g, sizeof g), group) || n == 256)
			continue;
		n++;
		if (json_is_true(json_object_get(d, "fired")) && json_is_number(json_object_get(d, "at_s")))
			at[nf++] = json_number_value(json_object_get(d, "at_s"));
		json_object_foreach(d, k, v)
			if (strstr(k, "_pct")) {
				peak_key = k;
				if (json_is_number(v))
					peak[np++] = json_number_value(v);
			}
	}
	if (!n)
		snprintf(buf, len, "-");
	else if (nf)
		snprintf(buf, len, "fired in %zu of %zu, at %.0f s", nf, n, stats_median(at, nf));
	else if (!np)
		snprintf(buf, len, "not judged (%s)", peak_key && strstr(peak_key, "avg10") ?
			 "no cgroup memory.pressure: cgroup v1" : "no samples");
	else
		snprintf(buf, len, "no (%s %.0f%%)", peak_key && strstr(peak_key, "avg10") ?
			 "full avg10 at most" : "headroom at least", stats_median(peak, np));
	return buf;
}

/* What a user-space OOM daemon would have done (run.oom_daemons), per tier. */
static void write_oom_table(FILE *f, const json_t *doc)
{
	static const struct { const char *key, *head; } daemons[] = {
		{ "systemd_oomd_pressure", "systemd-oomd, pressure" },
		{ "systemd_oomd_swap", "systemd-oomd, swap" },
		{ "earlyoom", "earlyoom" },
	};
	json_t *tiers = result_tiers(doc), *t, *run;
	bool any = false;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "runs"), i, run)
		any = any || json_object_get(run, "oom_daemons");
	if (!any) {
		json_decref(tiers);
		return;
	}
	fprintf(f, "\n### What an OOM daemon would have done\n\n| tier |");
	for (k = 0; k < sizeof daemons / sizeof daemons[0]; k++)
		fprintf(f, " %s |", daemons[k].head);
	fprintf(f, "\n| --- | --- | --- | --- |\n");
	json_array_foreach(tiers, i, t) {
		fprintf(f, "| %s |", json_string_value(t));
		for (k = 0; k < sizeof daemons / sizeof daemons[0]; k++) {
			char cell[128];

			fprintf(f, " %s |", oom_cell(doc, json_string_value(t), daemons[k].key, cell,
						      sizeof cell));
		}
		fputc('\n', f);
	}
	fprintf(f, "\nEach daemon's default policy judged on the run's samples, the workload's cgroup "
		   "standing for the machine: systemd-oomd kills when the cgroup's memory.pressure "
		   "full avg10 stays above 60%% for 30 s (DefaultMemoryPressureLimit, "
		   "DefaultMemoryPressureDurationSec), or when available memory and free swap are "
		   "both under 10%% (SwapUsedLimit=90%%); earlyoom (-m 10 -s 10) when both are at or "
		   "under 10%%.  Seconds from the workload's start (median over the runs that fired); "
		   "headroom: the larger of available memory and free swap, in percent, at its "
		   "lowest.\n");
	json_decref(tiers);
}

/* A --sweep run: per tier (its base label) and value of the factor, the
 * probe p99 and work done, medians with their intervals; rows tiers,
 * columns values. */
static void write_sweep_table(FILE *f, const json_t *doc)
{
	static const struct { const char *key, *title; } cols[] = {
		{ "probe_p99_ns", "probe p99" }, { "workload_ops_per_s", "work done" },
	};
	json_t *sw = json_object_get(json_object_get(doc, "settings"), "sweep");
	json_t *values = json_object_get(sw, "values"), *bases, *b, *v;
	const char *factor = json_string_value(json_object_get(sw, "factor"));
	size_t i, k, c;

	if (!factor || !json_array_size(values))
		return;
	bases = result_sweep_bases(doc);
	for (c = 0; c < sizeof cols / sizeof cols[0]; c++) {
		fprintf(f, "\n### Sweep of ");
		report_cell(f, factor);
		fprintf(f, ": %s\n\n| tier |", cols[c].title);
		json_array_foreach(values, k, v) {
			fputc(' ', f);
			report_cell(f, json_is_string(v) ? json_string_value(v) : "?");
			fprintf(f, " |");
		}
		fprintf(f, "\n| --- |");
		json_array_foreach(values, k, v)
			fprintf(f, " ---: |");
		fputc('\n', f);
		json_array_foreach(bases, i, b) {
			fprintf(f, "| %s |", json_string_value(b));
			json_array_foreach(values, k, v) {
				char group[160], cell[128];
				const char *g = json_string_value(v) ? result_sweep_group(doc,
					json_string_value(b), json_string_value(v), group, sizeof group) : NULL;

				fprintf(f, " %s |", g ? median_ci_cell(doc, g, cols[c].key, cell, sizeof cell) : "-");
			}
			fputc('\n', f);
		}
	}
	fprintf(f, "\nMedians over valid runs with their bootstrap 95%% intervals; 'swapbench "
		   "plot' draws them (sweep.png).\n");
	json_decref(bases);
}

/* Probes a run needs for its p99.9 to rest on 10 samples beyond it. */
#define P999_MIN_PROBES 10000

/* Whether every valid run of TIER had P999_MIN_PROBES probes. */
static bool enough_for_p999(const json_t *doc, const char *tier)
{
	size_t n, x, i;
	/* The probes the quantiles rest on: those after start-up, where the
	 * document counts them apart (older ones: all). */
	double *v = result_values(doc, tier, "probe_run_slots", &n, &x);
	bool ok;

	if (!n) {
		free(v);
		v = result_values(doc, tier, "probe_slots", &n, &x);
	}
	ok = n > 0;

	for (i = 0; i < n; i++)
		ok = ok && v[i] >= P999_MIN_PROBES;
	free(v);
	return ok;
}

static void write_table(FILE *f, const json_t *doc)
{
	bool thin = false;
	json_t *tiers = result_tiers(doc), *t;
	size_t i, k;

	columns_init();
	fprintf(f, "| tier | valid runs |");
	for (k = 0; k < ncolumns; k++)
		fprintf(f, " %s |", columns[k]->head);
	fprintf(f, "\n| --- | ---: |");
	for (k = 0; k < ncolumns; k++)
		fprintf(f, " ---: |");
	fputc('\n', f);
	json_array_foreach(tiers, i, t) {
		const char *tier = json_string_value(t);
		char vr[24];

		valid_runs(doc, tier, vr, sizeof vr);
		fprintf(f, "| %s | %s |", tier, vr);
		for (k = 0; k < ncolumns; k++) {
			char buf[112];

			if (!strcmp(columns[k]->key, "probe_p999_ns") && !enough_for_p999(doc, tier)) {
				thin = true;
				fputs(" - |", f);
				continue;
			}
			fprintf(f, " %s |", median_ci_cell(doc, tier, columns[k]->key, buf, sizeof buf));
		}
		fputc('\n', f);
	}
	fprintf(f, "\nMedians over each tier's valid runs (n: the valid runs), each with its "
		   "bootstrap 95%% interval in brackets (%d resamples of the runs, seeded); with "
		   "n of 3 to 5 the interval is about the range of the runs.  Swap-out and swap-in "
		   "count pages to and from the device and zswap's pool, per second of the workload.\n",
		STATS_RESAMPLES);
	if (has_startup(doc))
		fprintf(f, "Probe latency leaves out the workload's start-up, from its start until its "
			   "memory cgroup first held 9/10 of the limit or of the working set (the "
			   "smaller); the start-up's own probes are in the table \"Start-up\" below.\n");
	if (thin)
		fprintf(f, "Probe p99.9 is shown only where every valid run had at least %d probes "
			   "(10 beyond the quantile); with fewer it is the largest few samples.\n",
			P999_MIN_PROBES);
	if (strcmp(json_string_value(json_object_get(json_object_get(json_object_get(doc, "settings"),
		   "scenario"), "engine")) ?: "stress-ng", "touch"))
		fprintf(f, "Work done is stress-ng's bogo ops per second, which its --vm stressor counts "
			   "once per pass over its whole buffer: 0 means under one pass in the run "
			   "(the touch engine's ops, the default scenario's, count every page).\n");
	else
		fprintf(f, "Work done is swapbench touch's page verify-and-rewrite operations per second "
			   "(higher is better: a tier that stalls less but does less work is not better).\n");
	{
		const json_t *fl = json_object_get(json_object_get(json_object_get(doc, "settings"),
								   "scenario"), "memcg_stat_flush_ms");

		if (json_integer_value(fl) > 0)
			fprintf(f, "swapbench read the workload cgroup's memory.stat every %lld ms, which "
				   "keeps the statistics reclaim decides from fresh (a machine without such a "
				   "reader leaves them to the kernel's 2 s flush; `[memcg] stat_flush_ms = 0` "
				   "measures that).\n", (long long)json_integer_value(fl));
		else if (fl)
			fprintf(f, "The workload cgroup's statistics were left to the kernel's own flush "
				   "(`[memcg] stat_flush_ms = 0`).\n");
	}
	fputc('\n', f);
	write_invalid(f, doc, false);
	json_decref(tiers);
}

/* Why runs were invalid, one line each; a fio run by its tier alone (its
 * "ratio" means nothing). */
static void write_invalid(FILE *f, const json_t *doc, bool fio)
{
	json_t *run;
	size_t j;

	json_array_foreach(json_object_get(doc, "runs"), j, run) {
		const char *why = json_string_value(json_object_get(run, "invalid_reason"));
		char group[128];

		if (json_is_true(json_object_get(run, "valid")))
			continue;
		fprintf(f, "- invalid: %s repeat %lld: ",
			fio ? json_string_value(json_object_get(run, "tier")) :
			      result_group(run, group, sizeof group),
			json_integer_value(json_object_get(run, "repeat")));
		report_cell(f, why ? why : "(no reason recorded)");
		fputc('\n', f);
	}
}

/* The median of KEY over TIER's runs of JOB, scaled, with PREC decimals,
 * as a table cell; "-" when there is none. */
static void fio_cell(FILE *f, const json_t *doc, const char *tier, const char *job, const char *key,
		     double scale, int prec)
{
	size_t n;
	double *v = result_fio_values(doc, tier, job, key, &n);

	if (n) {
		fprintf(f, " %.*f |", prec, stats_median(v, n) * scale);
	} else {
		fputs(" - |", f);
	}
	free(v);
}

/* fio-raw: per tier and job, medians over the valid runs whose job had no
 * error; a tier without any such run gets one row. */
static void write_fio_table(FILE *f, const json_t *doc)
{
	json_t *tiers = result_base_tiers(doc), *jobs = result_fio_jobs(doc), *t, *job, *run;
	size_t i, j, k;

	fprintf(f, "| tier | job | valid runs | IOPS | bandwidth (MiB/s) | p50 (us) | p99 (us) | p99.9 (us) |\n"
		   "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	json_array_foreach(tiers, i, t) {
		const char *tier = json_string_value(t);
		size_t total = 0, rows = 0, n;

		json_array_foreach(json_object_get(doc, "runs"), k, run)
			total += !strcmp(tier, json_string_value(json_object_get(run, "tier")));
		json_array_foreach(jobs, j, job) {
			const char *name = json_string_value(job);

			free(result_fio_values(doc, tier, name, "lat_p50_ns", &n));
			if (!n)
				free(result_fio_values(doc, tier, name, "iops", &n));
			if (!n)
				continue;
			fprintf(f, "| %s | ", tier);
			report_cell(f, name);
			fprintf(f, " | %zu/%zu |", n, total);
			fio_cell(f, doc, tier, name, "iops", 1, 0);
			fio_cell(f, doc, tier, name, "bw_bytes_per_s", 1.0 / (1 << 20), 1);
			fio_cell(f, doc, tier, name, "lat_p50_ns", 1e-3, 1);
			fio_cell(f, doc, tier, name, "lat_p99_ns", 1e-3, 1);
			fio_cell(f, doc, tier, name, "lat_p999_ns", 1e-3, 1);
			fputc('\n', f);
			rows++;
		}
		if (!rows)
			fprintf(f, "| %s | - | 0/%zu | - | - | - | - | - |\n", tier, total);
	}
	fprintf(f, "\nMedians over each tier's valid runs whose job reported no error; latency is\n"
		   "fio's completion latency (clat) where it gave one, else its total (lat).\n\n");
	write_invalid(f, doc, true);
	json_decref(jobs);
	json_decref(tiers);
}

/* Work done and probe p99 of each tier's runs by round, in the order they
 * ran: drift over the rounds (a machine warming up, a neighbour) shows as
 * a trend along a row; "-" for an invalid run. */
static void write_round_table(FILE *f, const json_t *doc)
{
	static const struct {
		const char *key, *head;
	} what[] = { { "workload_ops_per_s", "Work done (ops/s)" }, { "probe_p99_ns", "Probe p99" } };
	json_t *tiers = result_tiers(doc), *t, *run;
	json_int_t rounds = 0;
	size_t i, j, w;

	json_array_foreach(json_object_get(doc, "runs"), j, run)
		if (json_integer_value(json_object_get(run, "repeat")) > rounds)
			rounds = json_integer_value(json_object_get(run, "repeat"));
	if (rounds < 2 || rounds > 100) {
		json_decref(tiers);
		return;
	}
	fprintf(f, "\n### By round\n\nEach run in the order the rounds ran it (the tier order "
		   "rotates from round to round); a trend along a row is drift, not the tier.\n");
	for (w = 0; w < sizeof what / sizeof what[0]; w++) {
		const struct metric *m = metric_find(what[w].key);
		json_int_t r;

		fprintf(f, "\n%s:\n\n| tier |", what[w].head);
		for (r = 1; r <= rounds; r++)
			fprintf(f, " round %lld |", (long long)r);
		fprintf(f, "\n| --- |");
		for (r = 1; r <= rounds; r++)
			fprintf(f, " ---: |");
		fputc('\n', f);
		json_array_foreach(tiers, i, t) {
			fprintf(f, "| %s |", json_string_value(t));
			for (r = 1; r <= rounds; r++) {
				const char *cellv = "-";
				char buf[32], group[128];

				json_array_foreach(json_object_get(doc, "runs"), j, run) {
					const json_t *v = json_object_get(json_object_get(run, "metrics"), what[w].key);

					if (json_integer_value(json_object_get(run, "repeat")) != r ||
					    strcmp(result_group(run, group, sizeof group), json_string_value(t)) ||
					    !json_is_true(json_object_get(run, "valid")) || !json_is_number(v))
						continue;
					cellv = metric_format(m->unit, json_number_value(v), buf, sizeof buf);
				}
				fprintf(f, " %s |", cellv);
			}
			fputc('\n', f);
		}
	}
	json_decref(tiers);
}

/* A ramp: a row per ratio, per tier the median probe p99 and PSI full over
 * its valid runs at that ratio. */
static void write_ratio_table(FILE *f, const json_t *doc)
{
	json_t *tiers = result_base_tiers(doc), *t;
	size_t i, j, nr;
	double *ratios = result_ratios(doc, NULL, &nr);
	static const char *const keys[] = { "probe_p99_ns", "psi_full_pct" };

	fprintf(f, "\n## Overcommit curve: per ratio\n\n| ratio |");
	json_array_foreach(tiers, i, t)
		fprintf(f, " %s probe p99 | %s PSI full |", json_string_value(t), json_string_value(t));
	fprintf(f, "\n| ---: |");
	json_array_foreach(tiers, i, t)
		fprintf(f, " ---: | ---: |");
	fputc('\n', f);
	for (j = 0; j < nr; j++) {
		fprintf(f, "| %g |", ratios[j]);
		json_array_foreach(tiers, i, t) {
			char group[160], buf[32];
			size_t k, n, x;

			snprintf(group, sizeof group, "%s@%g", json_string_value(t), ratios[j]);
			for (k = 0; k < 2; k++) {
				double *v = result_values(doc, group, keys[k], &n, &x);

				fprintf(f, " %s |", n ? metric_format(metric_find(keys[k])->unit,
						stats_median(v, n), buf, sizeof buf) : "-");
				free(v);
			}
		}
		fputc('\n', f);
	}
	fprintf(f, "\nMedians over the valid runs of each tier at each ratio (working set /\n"
		   "memory cgroup limit); the spread is in the overcommit-curve figure.\n");
	free(ratios);
	json_decref(tiers);
}

static void write_figures(FILE *f, const char *run_dir)
{
	char path[PATH_MAX];
	size_t i;
	int shown = 0;

	fprintf(f, "\n## Figures\n\n");
	for (i = 0; i < sizeof figures / sizeof figures[0]; i++) {
		const char *ext = "png";

		if (snprintf(path, sizeof path, "%s/plots/%s.png", run_dir, figures[i].file) >= (int)sizeof path)
			continue;
		if (access(path, R_OK)) {
			ext = "svg";
			if (snprintf(path, sizeof path, "%s/plots/%s.svg", run_dir, figures[i].file) >= (int)sizeof path ||
			    access(path, R_OK))
				continue;
		}
		fprintf(f, "![%s](plots/%s.%s)\n\n", figures[i].caption, figures[i].file, ext);
		shown++;
	}
	if (!shown)
		fprintf(f, "No figures: run `swapbench plot %s` before the report.\n", run_dir);
}

/* The run command rebuilt from the settings 'swapbench run' records
 * (scenario, tiers, repeats, out) when they carry no "command". */
static void reconstruct(FILE *f, const json_t *settings)
{
	const json_t *sc = json_object_get(settings, "scenario"), *tiers, *t;
	const char *name = json_is_string(sc) ? json_string_value(sc) :
			   json_string_value(json_object_get(sc, "name"));
	const char *out = json_string_value(json_object_get(settings, "out"));
	bool labels = false;
	size_t i;

	if (!name)
		name = json_string_value(json_object_get(sc, "file"));
	fprintf(f, "sudo swapbench run");
	if (name)
		fprintf(f, " --scenario '%s'", name);
	/* The --tiers given (tier_specs), else the labels, which name a tier
	 * with options only by their values ("nbd-vram"). */
	tiers = json_object_get(settings, "tier_specs");
	if (!json_is_array(tiers)) {
		tiers = json_object_get(settings, "tiers");
		labels = true;
	}
	json_array_foreach(tiers, i, t)
		fprintf(f, "%s%s", i ? "," : " --tiers ", json_string_value(t));
	if (json_is_integer(json_object_get(settings, "repeats")))
		fprintf(f, " --repeats %lld", json_integer_value(json_object_get(settings, "repeats")));
	json_array_foreach(json_object_get(settings, "overrides"), i, t)
		fprintf(f, " --set '%s'", json_string_value(t));
	if (out)
		fprintf(f, " --out '%s'", out);
	fputc('\n', f);
	if (labels)
		fprintf(f, "# --tiers above are labels: a tier run with options (nbd-vram) is\n"
			   "# NAME:KEY=VALUE (nbd:backend=vram); fingerprint.tier_config has them\n");
}

static void write_reproduce(FILE *f, const json_t *doc)
{
	const json_t *settings = json_object_get(doc, "settings");
	const json_t *cmd = json_object_get(settings, "command"), *arg;
	size_t i;

	fprintf(f, "\n## Reproduce\n\n```sh\n");
	if (json_is_string(cmd)) {
		fprintf(f, "%s\n", json_string_value(cmd));
	} else if (json_is_array(cmd)) {
		json_array_foreach(cmd, i, arg) {
			const char *s = json_string_value(arg);

			if (!s)
				continue;
			/* Quote what the shell would split or expand. */
			if (strpbrk(s, " \t'\"$`\\*?;&|<>()") || !*s) {
				fputs(i ? " '" : "'", f);
				for (; *s; s++)
					fputs(*s == '\'' ? "'\\''" : (char[]){ *s, 0 }, f);
				fputc('\'', f);
			} else {
				fprintf(f, "%s%s", i ? " " : "", s);
			}
		}
		fputc('\n', f);
	} else {
		reconstruct(f, settings);
	}
	fprintf(f, "```\n\nSettings in force:\n\n```json\n");
	json_dumpf(settings ? settings : json_null(), f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(f, "\n```\n");
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_MAX], out[PATH_MAX], tmp[PATH_MAX + 8];
	const char *run_dir, *kind, *fleet_out = NULL;
	json_t *doc;
	FILE *f;
	int c, ret = 1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		if (c == 'o' && *optarg) {
			fleet_out = optarg;
			continue;
		}
		if (c == 'o')
			return usage_error("report", "--out needs a directory");
		fprintf(stderr, "Try 'swapbench report --help' for more information.\n");
		return 2;
	}
	if (argc - optind < 1)
		return usage_error("report", "expected a RUN_DIR, a FLEET_DIR or several directories");
	if (argc - optind > 1 && !fleet_out)
		return usage_error("report", "several directories make a fleet report: name its "
				   "directory with --out DIR");
	if (argc - optind > 1 || !fleet_is_run_dir(argv[optind]))
		return report_fleet(argv + optind, (size_t)(argc - optind),
				    fleet_out ? fleet_out : argv[optind]);
	if (fleet_out)
		return usage_error("report", "--out is for a fleet report; '%s' is a run directory "
				   "(its report is RUN_DIR/report.md)", argv[optind]);
	run_dir = argv[optind];
	if (snprintf(path, sizeof path, "%s/run.json", run_dir) >= (int)sizeof path ||
	    snprintf(out, sizeof out, "%s/report.md", run_dir) >= (int)sizeof out ||
	    snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int)sizeof tmp) {
		error("path too long: '%s'", run_dir);
		return 1;
	}
	if (!(doc = result_load(path)))
		return 1;
	f = fopen(tmp, "w");
	if (!f) {
		error("cannot write '%s': %m", tmp);
		goto out;
	}
	fprintf(f, "# swapbench: %s on %s, kernel %s\n\n", result_fp_str(doc, "scenario"),
		result_fp_str(doc, "host"), result_fp_str(doc, "kernel"));
	kind = result_kind(doc);
	if (!strcmp(kind, "fio-raw")) {
		fprintf(f, "## Results per tier and job: fio on the raw device\n\n");
		write_fio_table(f, doc);
	} else {
		fprintf(f, "## Results per tier\n\n");
		write_table(f, doc);
		write_baseline_table(f, doc);
		write_startup_table(f, doc);
		write_levels_table(f, doc);
		write_oom_table(f, doc);
		write_sweep_table(f, doc);
		write_round_table(f, doc);
		if (!strcmp(kind, "ramp"))
			write_ratio_table(f, doc);
	}
	write_figures(f, run_dir);
	fprintf(f, "\n## Fingerprint\n\n```json\n");
	json_dumpf(json_object_get(doc, "fingerprint"), f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(f, "\n```\n\nTool versions:\n\n```json\n");
	json_dumpf(json_object_get(doc, "tool_versions") ? json_object_get(doc, "tool_versions") : json_null(),
		   f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fprintf(f, "\n```\n");
	write_reproduce(f, doc);
	if (fclose(f)) {
		error("cannot write '%s': %m", tmp);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, out)) {
		error("cannot rename '%s' to '%s': %m", tmp, out);
		unlink(tmp);
		goto out;
	}
	if (strcmp(kind, "fio-raw"))
		print_summary(stdout, doc);
	printf("%s\n", out);
	ret = 0;
out:
	json_decref(doc);
	return ret;
}
