/* Per-second windows of a run: the sampler's snapshot on each second and the
 * probe's slots, cut into one-second windows, written as a TSV sidecar
 * (TAG-windows.tsv) and summarised (the p99 over seconds of the full-stall
 * share, the worst second's probe p99).  Try:
 *   sudo build/swapbench run --scenario quick --tiers zram --repeats 1 */
#ifndef SWAPBENCH_WINDOWS_H
#define SWAPBENCH_WINDOWS_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "probe.h"
#include "sampler.h"

/* What windows_summarise adds to a run's metrics (keys with units). */
struct windows_summary {
	size_t windows;			/* whole seconds */
	double psi_full_p99_pct;	/* p99 over seconds of the full-stall share */
	double psi_full_max_pct;	/* the worst second */
	uint64_t probe_p99_max_ns;	/* the worst second's exec probe p99 */
};

/* Writes the windows of SECS[0..NSECS) (a snapshot a second, ascending)
 * and LOG[0..NLOG) (probe slots) to OUT (NULL: none) as TSV with a header
 * line, and summarises them into *sum.  Slots before the first snapshot or
 * after the last are left out. */
void windows_summarise(const struct sampler_totals *secs, size_t nsecs,
		       const struct probe_sample *log, size_t nlog, FILE *out,
		       struct windows_summary *sum);

/* Adds sum's keys to metrics. */
void windows_json(const struct windows_summary *sum, json_t *metrics);

#endif
