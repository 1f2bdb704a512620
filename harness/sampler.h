/* The sampler: a thread that reads counters on a timer table like fio's
 * helper thread ({ name, interval_ms, fn }), from files kept open and read
 * with pread, and appends them raw, stamped with CLOCK_MONOTONIC, to a TSV
 * time series ("t_ns source key value", one counter a line): /proc/vmstat
 * (every key), /proc/pressure/{memory,io} total= (system, and the workload
 * cgroup's memory.pressure on cgroup v2), /proc/meminfo, the cgroup's
 * memory files and the tier's counters.  Rates, percentages and episodes
 * are computed from the raw counters afterwards; the few the run needs
 * (swap in/out, PSI) are also kept here.  It measures its own CPU time
 * (getrusage RUSAGE_THREAD).  Try:
 *   sudo build/swapbench run --scenario quick --tiers zram --repeats 1 */
#ifndef SWAPBENCH_SAMPLER_H
#define SWAPBENCH_SAMPLER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "oom-daemons.h"
#include "tier.h"

/* What the run reads back: first and last values, the longest stall. */
struct sampler_totals {
	uint64_t t_ns;			/* CLOCK_MONOTONIC of the sample */
	uint64_t pswpin, pswpout;	/* /proc/vmstat, pages */
	uint64_t zswpin, zswpout;	/* pages into and out of zswap's pool (0 without) */
	uint64_t zswpwb;		/* pages zswap wrote back to the swap below it (0 without) */
	uint64_t some_us, full_us;	/* memory PSI total=: the cgroup's on v2, else the system's */
};

struct sampler {
	/* set before sampler_start */
	unsigned interval_ms;		/* of the fast sources (vmstat, PSI) */
	const char *cgroup;		/* the workload cgroup's directory, or NULL */
	int cgroup_version;		/* 1 or 2 */
	const struct tier_stack *stack;	/* whose levels' counters() are sampled, or NULL */
	FILE *out;			/* the TSV, or NULL */
	uint64_t fill_bytes;		/* the cgroup's usage that ends the
					 * workload's start-up (0: not watched) */
	uint64_t limit_bytes;		/* the cgroup's limit, for the OOM
					 * daemons' series (0: none kept) */
	/* results, valid after sampler_stop */
	struct sampler_totals first, last;
	uint64_t longest_stall_ns;	/* longest run of intervals at least half stalled (full) */
	uint64_t samples;		/* rounds of the fast table */
	uint64_t comp_orig_bytes;	/* a compressing tier at its fullest: what */
	uint64_t comp_stored_bytes;	/* it held, and in how many bytes (0: none) */
	uint64_t cg_zswap_peak_bytes;	/* the workload cgroup's memory.zswap.current
					 * at its highest: zswap's pool charged to
					 * it (0: no such file, as on cgroup v1) */
	uint64_t cg_stat_zswap_bytes;	/* its memory.stat's zswap (charged) and */
	uint64_t cg_stat_zswapped_bytes; /* zswapped (held) when zswap was largest */
	/* Per level of the stack: the most it held (swaps.used_bytes, else a
	 * pool's compression.orig_bytes) and when it had first taken a MiB
	 * (CLOCK_MONOTONIC; 0: never): a MiB written to its block device since
	 * the first sample, or for a pool without one (zswap) a MiB held.
	 * Where the overflow went, and when. */
	uint64_t level_peak_bytes[TIER_STACK_MAX];
	uint64_t level_first_t_ns[TIER_STACK_MAX];
	int64_t level_writes0[TIER_STACK_MAX];	/* block_stat.write_bytes at the
						 * first sample, -1: none yet */
	uint64_t cpu_ns, wall_ns;	/* the thread's CPU time and its life */
	uint64_t filled_t_ns;		/* CLOCK_MONOTONIC of the first sample
					 * whose cgroup usage reached
					 * fill_bytes; 0: it never did */
	struct sampler_totals *secs;	/* a snapshot each second from the first
					 * sample on (per-second windows), owned,
					 * freed by sampler_free */
	size_t nsecs;
	/* The OOM daemons' series (oom-daemons.h), at the cgroup files' rate
	 * (2 Hz): the cgroup's PSI totals (v2), its limit and what is left
	 * under it, and swap (meminfo: the tier is the only swap).  Owned,
	 * freed by sampler_free. */
	struct oom_sample *oom;
	size_t noom, oom_cap;
	/* private */
	bool cg_psi_ok;			/* the last fast round read the cgroup's PSI */
	uint64_t cg_some_us, cg_full_us;	/* its totals then */
	uint64_t swap_total_bytes, swap_free_bytes;	/* meminfo's, the latest */
	bool swap_known;
	pthread_t thread;
	pthread_mutex_t lock;		/* guards last */
	volatile bool stop;
	bool started;
	uint64_t stall_run_ns;
	int fd_vmstat, fd_psi_mem, fd_psi_io, fd_meminfo, fd_cg_psi;
	int fd_cg[6];
	const char *cg_name[6];
	int fd_cg_zswap;		/* memory.zswap.current (fd_cg's), or -1 */
};

/* Opens the files and starts the thread.  0, or -1 with a message. */
int sampler_start(struct sampler *s);

/* Stops the thread (one last sample first) and closes the files; the
 * results stay. */
void sampler_stop(struct sampler *s);

/* Frees the per-second snapshots. */
void sampler_free(struct sampler *s);

#define SAMPLER_SECS_MAX 7200	/* per-second snapshots kept: two hours */

/* The latest sample, for a progress line. */
void sampler_latest(struct sampler *s, struct sampler_totals *out);

/* From a /proc/pressure file's or memory.pressure's text: the total= of the line
 * whose first word is WHICH ("some" or "full").  0 or -1. */
int psi_total(const char *text, const char *which, uint64_t *us);

#endif
