/* Whether a run of `swapbench run` counts: the facts a run measured, judged
 * by rules in a table, one row each, in the order that decides which
 * reason a run gets when several apply (the first).  Pure: no I/O, so each
 * rule is unit-tested (tests/unit-harness-verdict.c), as advice.c's are. */
#ifndef SWAPBENCH_VERDICT_H
#define SWAPBENCH_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct run_facts {
	int signal;			/* > 0: the run was interrupted by it */
	bool timed_out;			/* the workload outlived timeout_s */
	unsigned timeout_s;
	const char *engine;		/* the workload engine's name ("touch") */
	const char *engine_title;	/* ... as a command ("swapbench touch") */
	bool verifies;			/* it checks the pages it reads back */
	uint64_t oom_kills;		/* in the workload's cgroup */
	const char *oom_report;		/* the file holding the kernel's reports, or NULL */
	uint64_t limit_bytes;		/* the cgroup's limit */
	bool limit_is_high;		/* ... memory.high (memcg.mode=high; the kill
					 * comes at memory.max, twice it and 64 MiB) */
	/* zswap's pool charged to the cgroup at its largest (memory.zswap.current;
	 * 0: unknown, as on cgroup v1) and the pages it wrote back to the
	 * device below it (zswpwb): over a quarter of the limit, an OOM kill is
	 * zswap's pool filling the cgroup. */
	uint64_t zswap_peak_bytes;
	uint64_t zswap_written_back_pages;
	/* zswap's shrinker as the run had it (in_force): on, it is no remedy
	 * to offer; absent (kernels before 6.8), it is none either. */
	enum { SHRINKER_OFF, SHRINKER_ON, SHRINKER_ABSENT } zswap_shrinker;
	int64_t mismatches;		/* a verifying engine: pages read back wrong */
	int exit_code;			/* the workload's; -1 when it was left hung */
	char exit_detail[128];		/* what the engine says its exit code means, or "" */
	char log[256];			/* the workload's log, named in messages */
	bool baseline;			/* tier none: must not swap */
	uint64_t swapped_pages;		/* pswpout + zswpout over the run */
	uint64_t working_set_pages;
	uint64_t overflow_pages;	/* working set over the limit; 0: it fits */
	uint64_t min_pages;		/* swap-out needed to count */
	/* A compressing tier's achieved ratio, judged once it stored 16 MiB. */
	bool compression_judged;
	bool compression_fits;		/* inside the declared band */
	const char *compressibility;	/* as declared */
	char band[32];			/* the declared band, "LO to HI" */
	/* For zswap on cgroup v2, the cgroup's memory.stat's zswapped over
	 * zswap: what zswap held for what it charged (about 1: kept whole),
	 * not its pool's counter, machine-wide and in its allocator's pages
	 * (with 2:1 data on the VM test's 6.1 and zbud it read 1.00:1 while
	 * the cgroup was charged 1.85:1); compression_source then says so. */
	double compression_ratio;
	const char *compression_source;	/* what measured it; NULL: "the tier stored" */
	/* The tier device's share of the swap-out traffic; not for zswap. */
	bool share_known;
	double share_pct;
	uint64_t pswpout_pages;
};

/* Whether RATIO (orig/stored, as a compressing tier measured it) is in the
 * band a DECLARED compressibility allows, written to band as "LO to HI":
 * wide enough for the algorithms kernels offer, narrow enough to tell the
 * declarations apart.  An unknown declaration fits anything. */
bool compressibility_band(const char *declared, double ratio, char *band, size_t len);

/* Swap-out a run needs to count: half the overflow, and at least 1% of the
 * working set (so that stray swap elsewhere does not make it valid). */
uint64_t run_min_pages(uint64_t working_set_pages, uint64_t overflow_pages);

/* The size of the buffer a reason needs (the longest, a zswap OOM kill's
 * with the report's file named, is under it: unit-tested). */
#define VERDICT_WHY_MAX 768

/* The first rule that applies: writes why the run does not count into why
 * and returns the rule's name; NULL (why "") when the run counts. */
const char *run_verdict(const struct run_facts *f, char *why, size_t len);

#endif
