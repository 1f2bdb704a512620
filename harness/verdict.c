/* A run's validity, rule by rule: see verdict.h.
 * Try: build/tests/unit-harness-verdict */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict.h"

uint64_t run_min_pages(uint64_t working_set_pages, uint64_t overflow_pages)
{
	uint64_t one_pct = working_set_pages / 100 + 1;

	return overflow_pages / 2 > one_pct ? overflow_pages / 2 : one_pct;
}

bool compressibility_band(const char *declared, double ratio, char *band, size_t len)
{
	static const struct { const char *name; double lo, hi; } bands[] = {
		{ "incompressible", 0, 1.3 }, { "2:1", 1.5, 3.5 }, { "4:1", 3.0, 8.0 },
		{ "zero", 8.0, 1e12 },
	};
	size_t i;

	if (len)
		band[0] = '\0';
	for (i = 0; i < sizeof bands / sizeof bands[0]; i++)
		if (!strcmp(declared, bands[i].name)) {
			snprintf(band, len, "%.1f to %.1f", bands[i].lo, bands[i].hi);
			return ratio >= bands[i].lo && ratio < bands[i].hi;
		}
	return true;
}

/* --- the rules: each says whether it applies and why ------------------------ */

static bool interrupted(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "interrupted by signal %d", f->signal);
	return f->signal > 0;
}

static bool timeout(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "timeout: %s outlived %u s", f->engine, f->timeout_s);
	return f->timed_out;
}

static bool oom_kill(const struct run_facts *f, char *why, size_t len)
{
	char how[64] = "";

	/* What zswap did with the pages, where the run measured it (the
	 * cgroup's own ratio: memory.zswap.current, which this reason needs,
	 * is cgroup v2's, as memory.stat's zswap keys are): kept them whole
	 * (the H100 host's 6.18 with random bytes) or compressed, its pool
	 * growing into the limit all the same (the VM test's 6.1 with 2:1 data
	 * at three times the limit). */
	if (f->compression_judged) {
		char r[32];

		/* Judged on the ratio as printed: under 1.10, not compressed. */
		snprintf(r, sizeof r, "%.2f", f->compression_ratio);
		snprintf(how, sizeof how, strtod(r, NULL) < 1.1 ? " and did not compress these pages (%s:1)" :
			 " and compressed these pages %s:1", r);
	}
	/* Callers' buffers are VERDICT_WHY_MAX: this text with every number
	 * and the report's name at their widest fits (unit-tested). */
	if (f->limit_bytes && f->zswap_peak_bytes > f->limit_bytes / 4)
		snprintf(why, len, "oom kill: %" PRIu64 " in the workload cgroup, while zswap's pool "
			 "held up to %" PRIu64 " MiB of the cgroup's %" PRIu64 " MiB %s and wrote "
			 "back %" PRIu64 " pages: zswap charges its pool to the cgroup%s, so once the "
			 "pool fills the cgroup swapping out frees nothing unless it writes pages back "
			 "(%s); the kernel's report is in %.160s; RUNBOOK.md, \"zswap OOM-killed: its "
			 "pool filled the cgroup\"", f->oom_kills,
			 f->zswap_peak_bytes >> 20, f->limit_bytes >> 20,
			 f->limit_is_high ? "memory.high" : "limit", f->zswap_written_back_pages, how,
			 f->zswap_shrinker == SHRINKER_ON ? "its shrinker was on: a lower memory.zswap.max" :
			 f->zswap_shrinker == SHRINKER_ABSENT ?
			 "this kernel's zswap has no shrinker: a lower memory.zswap.max" :
			 "zswap:shrinker=on, or a lower memory.zswap.max",
			 f->oom_report ? f->oom_report : "dmesg");
	else
		snprintf(why, len, "oom kill: %" PRIu64 " in the workload cgroup (the kernel's report is "
			 "in %.160s; RUNBOOK.md, \"cgroup v1: why runs were OOM-killed under swap-in\", "
			 "says how to read it)", f->oom_kills, f->oom_report ? f->oom_report : "dmesg");
	return f->oom_kills > 0;
}

static bool corruption(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "data corruption: %" PRId64 " page(s) read back wrong (%.120s)",
		 f->mismatches, f->log);
	return f->verifies && f->mismatches > 0;
}

static bool workload_failed(const struct run_facts *f, char *why, size_t len)
{
	if (f->exit_detail[0])
		snprintf(why, len, "%s exit code %d (%.120s)", f->engine_title, f->exit_code, f->exit_detail);
	else
		snprintf(why, len, "%s exit code %d", f->engine_title, f->exit_code);
	return f->exit_code != 0;
}

static bool baseline_swapped(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "swapped: pswpout+zswpout rose by %" PRIu64 " pages, and the baseline must "
		 "not swap (other swap active?)", f->swapped_pages);
	return f->baseline && f->swapped_pages > f->working_set_pages / 100;
}

static bool did_not_swap(const struct run_facts *f, char *why, size_t len)
{
	if (f->overflow_pages)
		snprintf(why, len, "did not swap: pswpout+zswpout rose by %" PRIu64 " pages, under the %"
			 PRIu64 " that half the overcommit needs", f->swapped_pages, f->min_pages);
	else
		snprintf(why, len, "did not swap: pswpout+zswpout rose by %" PRIu64 " pages, under the %"
			 PRIu64 " needed (the working set fits in the limit)", f->swapped_pages, f->min_pages);
	return !f->baseline && f->swapped_pages < f->min_pages;
}

static bool wrong_compressibility(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "compressibility: the scenario declares %s (orig/stored %s) but %s "
		 "%.2f:1", f->compressibility ? f->compressibility : "?", f->band,
		 f->compression_source ? f->compression_source : "the tier stored", f->compression_ratio);
	return f->compression_judged && !f->compression_fits;
}

static bool wrong_tier(const struct run_facts *f, char *why, size_t len)
{
	snprintf(why, len, "wrong tier: its device took %.1f%% of the %" PRIu64 " pages swapped out "
		 "(95%% needed)", f->share_pct, f->pswpout_pages);
	return f->share_known && f->share_pct < 95;
}

/* In order: what stopped the run, what broke the workload, then whether
 * what was measured is what the tier did. */
static const struct {
	const char *name;
	bool (*applies)(const struct run_facts *f, char *why, size_t len);
} rules[] = {
	{ "interrupted", interrupted },
	{ "timeout", timeout },
	{ "oom_kill", oom_kill },
	{ "data_corruption", corruption },
	{ "workload_failed", workload_failed },
	{ "baseline_swapped", baseline_swapped },
	{ "did_not_swap", did_not_swap },
	{ "compressibility", wrong_compressibility },
	{ "wrong_tier", wrong_tier },
};

const char *run_verdict(const struct run_facts *f, char *why, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (rules[i].applies(f, why, len))
			return rules[i].name;
	if (len)
		why[0] = '\0';
	return NULL;
}
