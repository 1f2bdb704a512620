/* The pieces of `swapbench report` that the one-run report (cmd-report.c)
 * and the fleet report (report-fleet.c) share: a markdown table cell, a
 * group's median with its bootstrap interval, and how many of its runs
 * were valid.  Pure functions of a loaded result document.
 * Try: build/swapbench report tests/fixtures/results/run-a */
#ifndef SWAPBENCH_REPORT_H
#define SWAPBENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "result.h"
#include "stats.h"

/* Writes S to F as text for a markdown table cell: '|' escaped, newlines
 * and other control characters as spaces. */
void report_cell(FILE *f, const char *s);

/* The median of metric KEY over GROUP's valid runs (result_values) and its
 * bootstrap 95% interval (STATS_RESAMPLES, STATS_SEED) into *ci; *n gets
 * the number of runs.  Returns 0, or -1 when there is no such run (or
 * allocation failed). */
int report_median_ci(const json_t *doc, const char *group, const char *key, struct stats_ci *ci,
		     size_t *n);

/* "6.47 ms [6.10 ms, 7.02 ms]" (unit u) from *ci over n runs: the value
 * alone when n is 1, "-" when n is 0.  Written into buf, which it returns. */
const char *report_ci_format(enum metric_unit u, const struct stats_ci *ci, size_t n, char *buf,
			     size_t len);

/* GROUP's runs in doc: *total of them, *valid marked valid. */
void report_valid_runs(const json_t *doc, const char *group, size_t *valid, size_t *total);

#endif
