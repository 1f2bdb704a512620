/* Unit tests for harness/verdict.c: each rule of a run's validity fires on
 * the facts it is about and says why, the order decides between rules that
 * apply together, and a run that swapped as it should counts. */
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "verdict.h"
#include "workload.h"

/* run_verdict's rule for f (NULL: valid), its message in why. */
static char why[VERDICT_WHY_MAX];

static int is(const struct run_facts *f, const char *rule, const char *says)
{
	const char *r = run_verdict(f, why, sizeof why);

	if (!rule)
		return r == NULL && why[0] == '\0';
	return r && !strcmp(r, rule) && strstr(why, says) != NULL;
}

int main(void)
{
	/* A good overcommit run: 1.2x of 65536 pages, half the overflow out. */
	const struct run_facts good = {
		.engine = "touch", .engine_title = "swapbench touch", .verifies = true,
		.timeout_s = 60, .working_set_pages = 78643,
		.overflow_pages = 13107, .min_pages = run_min_pages(78643, 13107),
		.swapped_pages = 40000, .compressibility = "2:1", .log = "/r/x-touch.log",
	};
	static const char plain_oom[] = "oom kill: 1 in the workload cgroup (the kernel's report is "
		"in dmesg; RUNBOOK.md, \"cgroup v1: why runs were OOM-killed under swap-in\", says how "
		"to read it)";
	static const char zswap_oom[] = "oom kill: 1 in the workload cgroup, while zswap's pool held "
		"up to 510 MiB of the cgroup's 512 MiB limit and wrote back 0 pages: zswap charges its "
		"pool to the cgroup, so once the pool fills the cgroup swapping out frees nothing unless "
		"it writes pages back (zswap:shrinker=on, or a lower memory.zswap.max); the kernel's "
		"report is in dmesg; RUNBOOK.md, \"zswap OOM-killed: its pool filled the cgroup\"";
	struct run_facts f;
	char band[32], wide[1024];

	CHECK(good.min_pages == 6553);
	CHECK(run_min_pages(100000, 0) == 1001);	/* fits: 1% of the working set */
	CHECK(is(&good, NULL, NULL));

	f = good;
	f.swapped_pages = 6552;
	CHECK(is(&f, "did_not_swap", "under the 6553 that half the overcommit needs"));
	f.overflow_pages = 0;
	f.min_pages = run_min_pages(f.working_set_pages, 0);
	f.swapped_pages = 10;
	CHECK(is(&f, "did_not_swap", "(the working set fits in the limit)"));

	/* The baseline: valid when nothing swapped, not when it did. */
	f = good;
	f.baseline = true;
	f.overflow_pages = 0;
	f.swapped_pages = 0;
	CHECK(is(&f, NULL, NULL));
	f.swapped_pages = 786;
	CHECK(is(&f, NULL, NULL));	/* within 1% of the working set */
	f.swapped_pages = 787;
	CHECK(is(&f, "baseline_swapped", "the baseline must not swap"));

	f = good;
	f.signal = 2;
	f.oom_kills = 1;	/* both apply: the signal comes first */
	CHECK(is(&f, "interrupted", "interrupted by signal 2"));
	f.signal = 0;
	CHECK(is(&f, "oom_kill", "oom kill: 1 in the workload cgroup"));
	f.timed_out = true;
	CHECK(is(&f, "timeout", "timeout: touch outlived 60 s"));

	/* An OOM kill with zswap's pool over a quarter of the limit says why
	 * (the H100 host's incompressible runs, shrinker off: sampled at 228
	 * MiB of 512 once, the pool filling in under a second); at a quarter
	 * or under, or
	 * without a limit, it is an OOM kill like any other. */
	f = good;
	f.oom_kills = 1;
	f.limit_bytes = 512ULL << 20;
	CHECK(is(&f, "oom_kill", plain_oom) && !strcmp(why, plain_oom));
	f.zswap_peak_bytes = 535449757;	/* memory.stat's zswap in the kernel's report */
	CHECK(is(&f, "oom_kill", zswap_oom) && !strcmp(why, zswap_oom));
	/* What it did with the pages, where measured (memory.stat's), judged
	 * as printed: under 1.10, not compressed. */
	f.compression_judged = true;
	f.compression_ratio = 1.0;
	CHECK(is(&f, "oom_kill", "charges its pool to the cgroup and did not compress these pages "
		 "(1.00:1), so once the pool fills"));
	f.compression_ratio = 1.094;
	CHECK(is(&f, "oom_kill", "the cgroup and did not compress these pages (1.09:1), so"));
	f.compression_ratio = 1.095;	/* the double under 1.095: printed 1.09 */
	CHECK(is(&f, "oom_kill", "the cgroup and did not compress these pages (1.09:1), so"));
	f.compression_ratio = 1.096;	/* printed 1.10: compressed */
	CHECK(is(&f, "oom_kill", "the cgroup and compressed these pages 1.10:1, so once"));
	f.compression_ratio = 1.85;
	CHECK(is(&f, "oom_kill", "the cgroup and compressed these pages 1.85:1, so once"));
	f.limit_is_high = true;	/* memcg.mode=high: the limit is memory.high */
	CHECK(is(&f, "oom_kill", "held up to 510 MiB of the cgroup's 512 MiB memory.high and wrote back"));
	f.limit_is_high = false;
	f.compression_judged = false;	/* unknown (under 16 MiB held) */
	CHECK(is(&f, "oom_kill", "charges its pool to the cgroup, so once"));
	f.zswap_shrinker = SHRINKER_ON;	/* then the shrinker is no remedy to offer */
	CHECK(is(&f, "oom_kill", "writes pages back (its shrinker was on: a lower memory.zswap.max);"));
	CHECK(!strstr(why, "zswap:shrinker=on"));
	f.zswap_shrinker = SHRINKER_ABSENT;	/* nor where the kernel has none */
	CHECK(is(&f, "oom_kill", "(this kernel's zswap has no shrinker: a lower memory.zswap.max);"));
	CHECK(!strstr(why, "zswap:shrinker=on"));
	f.zswap_shrinker = SHRINKER_OFF;
	f.zswap_peak_bytes = 128ULL << 20;	/* a quarter: not enough */
	CHECK(is(&f, "oom_kill", "(the kernel's report is in dmesg;"));
	f.oom_report = "zram-r1-x1.20-oom.txt";	/* kept beside the run */
	CHECK(is(&f, "oom_kill", "(the kernel's report is in zram-r1-x1.20-oom.txt; RUNBOOK.md"));
	f.oom_report = NULL;
	f.zswap_peak_bytes++;
	f.zswap_written_back_pages = 12;
	CHECK(is(&f, "oom_kill", "held up to 128 MiB of the cgroup's 512 MiB limit and wrote back "
		 "12 pages"));
	f.limit_bytes = 0;	/* unknown */
	CHECK(is(&f, "oom_kill", "(the kernel's report is in dmesg;"));
	f.oom_kills = 0;	/* a full pool without a kill is no reason */
	f.limit_bytes = 512ULL << 20;
	CHECK(is(&f, NULL, NULL));
	/* Every number and the report's name at their widest still fit. */
	f.oom_report = "zswap-r1-x1.20-oom.txt-and-a-very-long-label-padding-padding-padding-padding-"
		       "padding-padding-padding-padding-padding-padding-padding-padding-padding-padding";
	f.oom_kills = f.zswap_peak_bytes = f.limit_bytes = f.zswap_written_back_pages = UINT64_MAX;
	CHECK(!strcmp(run_verdict(&f, wide, sizeof wide), "oom_kill") && strlen(wide) < VERDICT_WHY_MAX - 1);
	f.zswap_shrinker = SHRINKER_ABSENT;	/* the longest remedy */
	CHECK(!strcmp(run_verdict(&f, wide, sizeof wide), "oom_kill") && strlen(wide) < VERDICT_WHY_MAX - 1);
	f.compression_judged = true;	/* and the longest account of the pages */
	f.compression_ratio = 1e300;
	f.limit_is_high = true;	/* and limit's longest name */
	CHECK(!strcmp(run_verdict(&f, wide, sizeof wide), "oom_kill") && strlen(wide) < VERDICT_WHY_MAX - 1);

	f = good;
	f.mismatches = 3;
	f.exit_code = 1;
	CHECK(is(&f, "data_corruption", "data corruption: 3 page(s) read back wrong (/r/x-touch.log)"));
	f.mismatches = 0;
	workload_touch.exit_detail(&(struct workload){ .log = "/r/x-touch.log" }, 1, f.exit_detail,
				   sizeof f.exit_detail);
	CHECK(is(&f, "workload_failed", "swapbench touch exit code 1 (/r/x-touch.log)"));
	f.engine = "stress-ng";
	f.engine_title = "stress-ng";
	f.verifies = false;
	f.exit_code = 3;
	workload_stress_ng.exit_detail(NULL, 3, f.exit_detail, sizeof f.exit_detail);
	CHECK(is(&f, "workload_failed", "stress-ng exit code 3 (out of resources)"));
	f.exit_code = 7;
	workload_stress_ng.exit_detail(NULL, 7, f.exit_detail, sizeof f.exit_detail);
	CHECK(is(&f, "workload_failed", "(stressor killed or failed)"));
	f.exit_code = 2;
	workload_stress_ng.exit_detail(NULL, 2, f.exit_detail, sizeof f.exit_detail);
	CHECK(is(&f, "workload_failed", "stress-ng exit code 2") && !strchr(why, '('));
	f.mismatches = 5;	/* stress-ng has no such check */
	CHECK(is(&f, "workload_failed", "stress-ng exit code 2"));

	/* Compressibility: judged only when the tier stored enough. */
	CHECK(compressibility_band("2:1", 2.4, band, sizeof band) && !strcmp(band, "1.5 to 3.5"));
	CHECK(!compressibility_band("incompressible", 2.8, band, sizeof band) &&
	      !strcmp(band, "0.0 to 1.3"));
	CHECK(compressibility_band("4:1", 3.0, band, sizeof band));
	CHECK(!compressibility_band("4:1", 8.0, band, sizeof band));
	CHECK(compressibility_band("zero", 50, band, sizeof band));
	CHECK(compressibility_band("something-else", 0.1, band, sizeof band) && band[0] == '\0');
	f = good;
	f.compressibility = "incompressible";
	f.compression_ratio = 2.8;
	f.compression_fits = compressibility_band(f.compressibility, 2.8, f.band, sizeof f.band);
	CHECK(is(&f, NULL, NULL));	/* not judged: under 16 MiB stored */
	f.compression_judged = true;
	CHECK(is(&f, "compressibility", "declares incompressible (orig/stored 0.0 to 1.3) but the tier stored 2.80:1"));
	f.compression_source = "zswap held the cgroup's pages at";	/* zswap's, from memory.stat */
	CHECK(is(&f, "compressibility", "(orig/stored 0.0 to 1.3) but zswap held the cgroup's pages at 2.80:1"));
	f.compression_source = NULL;
	/* A run that did not swap is that first, whatever it stored. */
	f.swapped_pages = 0;
	CHECK(is(&f, "did_not_swap", "did not swap"));

	/* The tier's share of the traffic: last. */
	f = good;
	f.share_known = true;
	f.share_pct = 95;
	f.pswpout_pages = 40000;
	CHECK(is(&f, NULL, NULL));
	f.share_pct = 94.9;
	CHECK(is(&f, "wrong_tier", "its device took 94.9% of the 40000 pages swapped out"));
	f.compression_judged = true;
	f.compression_fits = false;
	CHECK(is(&f, "compressibility", "compressibility"));
	UNIT_DONE();
}
