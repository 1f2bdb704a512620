/* Result documents of `swapbench run` (schema "swapbench-run", version 1)
 * as compare, calibrate, plot and report read them: loading with a clear
 * error, the metrics they gate on (one list, RESULT_METRICS), the values of
 * one metric over a tier's valid runs, the fingerprint check, and what plot
 * and report draw besides: the scenario kind, the ratios of a ramp, merged
 * latency histograms and the jobs of fio-raw runs.
 * Try: build/swapbench compare tests/fixtures/results/base.json tests/fixtures/results/cand-ok.json */
#ifndef SWAPBENCH_RESULT_H
#define SWAPBENCH_RESULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* How a metric is judged: a ratio of medians where lower is better, one
 * where higher is better (throughput: the ratio is inverted so that above
 * 1 is worse), or a difference in percentage points (PSI fractions sit
 * near zero, where ratios mean nothing). */
enum metric_kind {
	METRIC_LOWER_BETTER,
	METRIC_HIGHER_BETTER,
	METRIC_MARGIN_PP,
};

enum metric_unit { UNIT_NS, UNIT_PCT, UNIT_PAGES, UNIT_RATE, UNIT_OPS };

/* X(name, json key, kind, unit, gated by default, report column: its place
 * in report.md's table of medians (0: not shown) and its head).  One line
 * a metric: compare, calibrate, the summary and the report's columns go by
 * it; cmd-run.c's RUN_METRICS writes each into a run's "metrics". */
#define RESULT_METRICS(X) \
	X(probe_p50, "probe_p50_ns", METRIC_LOWER_BETTER, UNIT_NS, false, 2, "probe p50") \
	X(probe_p99, "probe_p99_ns", METRIC_LOWER_BETTER, UNIT_NS, true, 3, "probe p99") \
	X(probe_p999, "probe_p999_ns", METRIC_LOWER_BETTER, UNIT_NS, false, 4, "probe p99.9") \
	X(psi_full, "psi_full_pct", METRIC_MARGIN_PP, UNIT_PCT, true, 5, "PSI full") \
	X(psi_some, "psi_some_pct", METRIC_MARGIN_PP, UNIT_PCT, false, 0, NULL) \
	X(longest_stall, "longest_stall_ns", METRIC_LOWER_BETTER, UNIT_NS, false, 7, "longest stall") \
	X(pswpin, "pswpin_pages", METRIC_LOWER_BETTER, UNIT_PAGES, false, 0, NULL) \
	X(pswpout, "pswpout_pages", METRIC_LOWER_BETTER, UNIT_PAGES, false, 0, NULL) \
	X(swapin_rate, "swapin_rate_pages_per_s", METRIC_HIGHER_BETTER, UNIT_RATE, false, 0, NULL) \
	X(swapout_rate, "swapout_rate_pages_per_s", METRIC_HIGHER_BETTER, UNIT_RATE, false, 0, NULL) \
	X(throughput, "stressng_bogo_ops", METRIC_HIGHER_BETTER, UNIT_OPS, false, 0, NULL) \
	X(duration, "duration_ns", METRIC_LOWER_BETTER, UNIT_NS, false, 0, NULL) \
	X(psi_full_1s_p99, "psi_full_1s_p99_pct", METRIC_MARGIN_PP, UNIT_PCT, false, 6, "PSI full, p99 of seconds") \
	X(ops_rate, "workload_ops_per_s", METRIC_HIGHER_BETTER, UNIT_RATE, false, 1, "work done (ops/s)") \
	X(out_rate, "swapped_out_rate_pages_per_s", METRIC_HIGHER_BETTER, UNIT_RATE, false, 8, "swap-out (pages/s)") \
	X(in_rate, "swapped_in_rate_pages_per_s", METRIC_HIGHER_BETTER, UNIT_RATE, false, 9, "swap-in (pages/s)") \
	X(daemons_cpu, "tier_daemons_cpu_pct_of_core", METRIC_MARGIN_PP, UNIT_PCT, false, 10, \
	  "NBD daemons CPU (% of a core)") \
	X(daemons_cpu_per_page, "tier_daemons_cpu_ns_per_page", METRIC_LOWER_BETTER, UNIT_NS, false, 11, \
	  "NBD daemons CPU per page swapped")

/* swapped_{out,in}_rate_pages_per_s are derived when a run lacks them: the
 * pages that went to the device or into zswap's pool (pswp* + zswp*) per
 * second of the workload (duration_ns), so that zswap, whose pages mostly
 * never reach a device, compares with the others.  So is
 * tier_daemons_cpu_ns_per_page, from tier_daemons_cpu_ns and the pages
 * swapped either way (pswp* + zswp*), for documents written before runs
 * recorded it. */

/* tier_daemons_cpu_ns over the pages swapped either way (pswp* + zswp*,
 * pages zswap kept count as for the swap rates) of a run's metrics M,
 * into *v: what cmd-run.c writes, and what readers derive for a run
 * recorded before it did.  Whether M has both. */
bool result_daemons_cpu_per_page(const json_t *m, double *v);

struct metric {
	const char *name;	/* what --metric takes */
	const char *key;	/* the key in a run's "metrics" */
	enum metric_kind kind;
	enum metric_unit unit;
	bool gated;		/* compared when no --metric is given */
	int column;		/* place in report.md's table of medians, 0: none */
	const char *head;	/* that column's head */
};

extern const struct metric metrics[];	/* RESULT_METRICS, NULL name last */

/* The metric named NAME (its name or its JSON key), or NULL. */
const struct metric *metric_find(const char *name);

/* Formats value v of unit u for people ("2.31 ms", "0.42%") into buf. */
const char *metric_format(enum metric_unit u, double v, char *buf, size_t len);

/* Checks a loaded document: its schema and version, a fingerprint, runs
 * each with a tier label swapbench could have written and metrics (or fio
 * jobs).  0, or -1 with what is wrong in why, worded to follow the
 * document's name (" is not ...", ": run 3 ..."). */
int result_check(const json_t *doc, char *why, size_t len);

/* Loads PATH and checks its schema, fingerprint and runs (result_check).  Returns a new
 * reference, or NULL after one message: "PATH:LINE:COLUMN: jansson's text"
 * for JSON that is malformed or cut short, else what is wrong with it. */
json_t *result_load(const char *path);

/* The group a run belongs to: its tier, or "TIER@RATIO" when the run
 * carries an overcommit "ratio" (a ramp: runs at different ratios are not
 * alike).  Written into buf, which it returns. */
const char *result_group(const json_t *run, char *buf, size_t len);

/* {GROUP: {METRIC_KEY: {"median", "mad", "runs"}}} over each group's valid
 * runs, for every metric of RESULT_METRICS a run has: a new object. */
json_t *result_summary(const json_t *doc);

/* The groups (result_group) of doc's runs in order of first appearance: a
 * new array of strings.  compare, calibrate, plot and report call them
 * tiers. */
json_t *result_tiers(const json_t *doc);

/* The values of metric KEY over the valid runs of group TIER, in order of "repeat",
 * into a malloc'd array (NULL when there are none; the caller frees);
 * *n gets their count, *excluded the runs of TIER left out (invalid, or
 * without the metric). */
double *result_values(const json_t *doc, const char *tier, const char *key,
		      size_t *n, size_t *excluded);

/* The first part of the fingerprints that matters and differs ("kernel",
 * "scenario", "tier_config", "factors"; "machine_id" and "sizing" where
 * both documents have them), or NULL when none does. */
const char *result_fingerprint_diff(const json_t *a, const json_t *b);

/* The fingerprint's string member KEY, or "?" when absent. */
const char *result_fp_str(const json_t *doc, const char *key);

/* doc's scenario kind: settings.scenario.kind ("overcommit", "ramp",
 * "fio-raw") where recorded, else "fio-raw" when a run is a fio run,
 * "ramp" when a tier ran at two ratios or more, else "overcommit".  The
 * string lives as long as doc. */
const char *result_kind(const json_t *doc);

/* The runs' "tier"s (ratio left out: "zram", never "zram@1.5") in order of
 * first appearance: a new array of strings. */
json_t *result_base_tiers(const json_t *doc);

/* The distinct "ratio"s of the runs of TIER ("tier", not a group; NULL for
 * every tier), ascending, into a malloc'd array (NULL when none; the
 * caller frees); *n gets their count. */
double *result_ratios(const json_t *doc, const char *tier, size_t *n);

/* One bucket of a latency histogram as runs record them:
 * "histograms": { KEY: [[low_ns, high_ns, count], ...] }, both ends in. */
struct result_bucket {
	double low_ns, high_ns, count;
};

/* Histogram KEY ("probe_exec_ns", "probe_touch_ns") summed over the valid
 * runs of group GROUP (result_group), ascending by high_ns then low_ns,
 * equal buckets merged, empty ones left out, into a malloc'd array (NULL
 * when there are none; the caller frees).  *n gets the buckets, *runs the
 * runs that contributed.  A run whose histogram is malformed (not
 * [low, high, count] numbers with 0 <= low <= high, count >= 0) is left
 * out with a warning. */
struct result_bucket *result_histogram(const json_t *doc, const char *group, const char *key,
				       size_t *n, size_t *runs);

/* The "job" names of every fio run's "fio_jobs" in order of first
 * appearance: a new array of strings. */
json_t *result_fio_jobs(const json_t *doc);

/* The values of KEY ("iops", "lat_p99_ns", ...) of job JOB over the valid
 * fio runs of TIER (the runs' "tier") where that job has "error" 0, in
 * document order, into a malloc'd array (NULL when none; the caller
 * frees); *n gets their count. */
double *result_fio_values(const json_t *doc, const char *tier, const char *job, const char *key,
			  size_t *n);

/* --- writing ------------------------------------------------------------------ */

/* Sets OBJ.KEY to the number V; when V is not finite (NaN, infinity: JSON
 * has neither, and jansson's json_real gives NULL for them, which lost the
 * key or a whole json_pack with it), to null with a warning naming KEY.
 * Returns 0, or 1 when null was written. */
int result_set_real(json_t *obj, const char *key, double v);

/* Sets OBJ.KEY to VALUE (a new reference, taken); a NULL VALUE (what
 * could not be built) is reported naming KEY and left out, and the rest
 * of OBJ is kept.  Returns 0 or -1. */
int result_set(json_t *obj, const char *key, json_t *value);

/* Writes DOC to PATH through a temporary file renamed over it, so that a
 * failed write never leaves half a document; reports and returns -1 on
 * failure. */
int result_save(const json_t *doc, const char *path);

/* A --sweep run's tiers (its variants' "sweep".base_tier) in order of first
 * appearance: a new array of strings (empty without a sweep). */
json_t *result_sweep_bases(const json_t *doc);

/* The group (result_group) of the runs of sweep variant BASE at VALUE into
 * buf, or NULL when none ran. */
const char *result_sweep_group(const json_t *doc, const char *base, const char *value, char *buf,
			       size_t len);

#endif
