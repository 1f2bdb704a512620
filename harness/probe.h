/* Probes: what a user feels while the workload presses on memory.  On an
 * absolute schedule, a thread of swapbench runs the exec probe (spawn
 * PROBE_CMD, default /bin/true, and wait for it), and a small process, the
 * toucher, runs the anon-touch probe (write one byte to each of a few of its
 * own pages, whose data has the scenario's compressibility, and time it:
 * page-fault latency as a program sees it).  Both go outside the workload's
 * memory cgroup (placement "outside", the default: unrelated work) or into
 * it ("inside": the workload's own view).  Each exec latency is timed from
 * the slot's intended start, so a stall that swallows ten slots counts as
 * ten late samples (no coordinated omission).  Latencies go to log-linear
 * histograms (common/histogram.h).
 * Try: sudo build/swapbench run --scenario quick --tiers zram --repeats 1 */
#ifndef SWAPBENCH_PROBE_H
#define SWAPBENCH_PROBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "histogram.h"

/* One slot: when it was meant to start and what it measured. */
struct probe_sample {
	uint64_t t_ns;			/* intended start, CLOCK_MONOTONIC */
	uint64_t exec_ns, touch_ns;
};

#define PROBE_LOG_MAX (1u << 16)	/* slots kept one by one (109 min at 100 ms) */

struct probe_shared;

struct probe {
	/* set before probe_start */
	unsigned interval_ms;
	const char *cmd;		/* absolute path, run without arguments; or a
					 * command line with a space, run by /bin/sh -c */
	const char *cgroup_procs;	/* placement inside: the workload cgroup's
					 * cgroup.procs; NULL: outside */
	unsigned touch_random_words;	/* the toucher's page data (pattern.h) */
	/* results, valid after probe_stop */
	struct histogram exec;		/* ns from intended start to the child's exit */
	struct histogram touch;		/* ns to touch PROBE_TOUCH pages */
	uint64_t slots, late_slots;	/* slots run; those started after their time */
	uint64_t exec_failures;		/* spawns that failed or exited non-zero */
	uint64_t touch_slots;		/* the toucher's slots */
	struct probe_sample *log;	/* the first PROBE_LOG_MAX slots (touch_ns
					 * by slot index from the toucher's), for
					 * per-second windows; owned, freed by probe_free */
	size_t nlog;
	/* private */
	pthread_t thread;
	volatile bool stop;
	bool started;
	pid_t toucher;
	struct probe_shared *shared;	/* with the toucher */
};

/* Starts the probe thread and the toucher.  0, or -1 with a message. */
int probe_start(struct probe *p);

/* Stops both (the toucher gets a few seconds, then SIGKILL) and collects
 * the toucher's results (the log stays). */
void probe_stop(struct probe *p);

/* Frees the log. */
void probe_free(struct probe *p);

/* The probes cut at a moment: those meant to start before since_ns (the
 * workload's start-up) and those from it on (the run proper). */
struct probe_split {
	struct histogram exec[2], touch[2];	/* [0] start-up, [1] after */
	uint64_t slots[2], touch_slots[2];
	bool truncated;		/* the start-up outlasted the slots the log
				 * keeps: the later ones count as after it */
};

/* Splits p's slots (after probe_stop) at since_ns into *out: the start-up
 * from the log, the rest as every slot's histogram less those; since_ns 0
 * puts every slot after the cut. */
void probe_split(const struct probe *p, uint64_t since_ns, struct probe_split *out);

#endif
