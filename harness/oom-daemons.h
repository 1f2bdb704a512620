/* Would a user-space OOM daemon have acted during a run?  Each daemon's
 * documented default policy is one row in a table (oom-daemons.c), judged
 * on the run's samples: whether it would have fired, at what second from the
 * series' start, and how close the judged quantity came.  Pure: no I/O, so
 * every row is unit-tested on synthetic traces
 * (tests/unit-harness-oom-daemons.c).  Try:
 *   build/tests/unit-harness-oom-daemons
 *
 * The rows, with their defaults (sources in oom-daemons.c):
 *   systemd_oomd_pressure  memory.pressure "full" avg10 > 60% for 30 s,
 *                          polled every 1 s (DefaultMemoryPressureLimit=,
 *                          DefaultMemoryPressureDurationSec=)
 *   systemd_oomd_swap      available memory < 10% and free swap < 10%
 *                          (SwapUsedLimit=90%), polled every 150 ms
 *   earlyoom               available memory <= 10% and free swap <= 10%
 *                          (-m 10 -s 10: SIGTERM), no swap counts as 0% free
 *
 * The caller's contract: swapbench confines the workload to a memory
 * cgroup, so the memory figures are the cgroup's, not the host's: PSI from
 * the cgroup's memory.pressure (cgroup v2), memory total = the cgroup's
 * limit (memory.max, or memory.high if that is what binds), memory
 * available = the limit minus memory.current (clamped at 0).  Swap is
 * /proc/meminfo's SwapTotal and SwapFree (the tier is the only swap while
 * it runs, so they are the tier's).  Both daemons read /proc/meminfo system
 * wide; the cgroup's figures stand for the machine the cgroup models.  The
 * series should begin while the cgroup is new (its PSI averages still 0, as
 * a cgroup's are when created), since avg10 is rebuilt from 0 at the first
 * sample. */
#ifndef SWAPBENCH_OOM_DAEMONS_H
#define SWAPBENCH_OOM_DAEMONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One sample of the run, in time order.  A sample may carry PSI, memory
 * figures, both or neither (the sampler reads PSI every 100 ms and memory at
 * 2 Hz): what is not known is flagged, never zero-filled.  Zero-initialise
 * and set the flags; a sample with no flag set only extends the series. */
struct oom_sample {
	uint64_t t_ns;			/* CLOCK_MONOTONIC; the first sample is
					 * second 0 of the series */
	bool psi_known;			/* the two totals were read */
	uint64_t some_us, full_us;	/* memory.pressure's cumulative total=
					 * of the "some" and "full" lines, µs,
					 * as the kernel reports them */
	bool mem_known;			/* the four figures were read */
	uint64_t mem_total_bytes;	/* the cgroup's limit */
	uint64_t mem_available_bytes;	/* limit minus usage */
	uint64_t swap_total_bytes;	/* the tier's size; 0: no swap */
	uint64_t swap_free_bytes;
};

/* A daemon's call on one run. */
struct oom_call {
	const char *daemon;		/* the row's name, a JSON-safe key */
	const char *policy;		/* its defaults, in words */
	const char *peak_key;		/* what peak measures, a JSON key with
					 * its unit */
	bool fired;
	double at_s;			/* seconds from the first sample at
					 * which it would have acted; -1 when
					 * it would not have */
	double peak;			/* the judged quantity at its closest
					 * to firing over the whole series; -1
					 * when nothing could be judged */
	double unknown_s;		/* seconds of the series it could not
					 * judge (holes, counter resets) */
};

/* How many daemon policies there are (the rows of the table). */
size_t oom_daemon_count(void);

/* Judges the N samples S (time order; S may be NULL when N is 0) by every
 * row, writing min(len, oom_daemon_count()) calls into OUT in the table's
 * order.  Returns oom_daemon_count().  Data that cannot be trusted (a hole
 * longer than OOM_GAP_NS, a PSI total that fell or grew faster than the
 * clock, a timestamp that did not advance, memory figures that do not add
 * up) is unknown: it never makes a daemon fire, and it is counted in
 * unknown_s.  Allocates nothing. */
size_t oom_daemons_judge(const struct oom_sample *s, size_t n, struct oom_call *out, size_t len);

/* The longest hole between two samples whose data is still used: PSI
 * stall across a shorter hole is known exactly (the totals are
 * cumulative), only how it splits between two 2-s PSI periods is assumed
 * even; the sampler's per-second snapshots fit within it. */
#define OOM_GAP_NS 2500000000ULL

#endif
