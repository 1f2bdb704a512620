/* Unit tests for harness/oom-daemons.c: synthetic traces, each with the
 * second a daemon would act at worked out by hand below, and bad data
 * (holes, counter resets, jumps, timestamps that go back) that must read as
 * unknown, never as pressure.
 *
 * The avg10 arithmetic used in the comments: the kernel folds each 2-s
 * period's stall percent P into avg10 as avg' = avg * e + P * (1 - e) with
 * e = 1677/2048 = 0.81885, so from 0 under a constant P, after n periods
 * avg10 = P * (1 - e^n); with no stall it decays as avg * e^n.  e^n for the
 * n used: e^7 = 0.2470, e^9 = 0.1655, e^15 = 0.0499, e^20 = 0.0184,
 * e^21 = 0.0150.  (The kernel's fixed point rounds each step up by under
 * 1/2048 of a percent, nowhere near the margins below.)  Periods start at
 * the first sample; oomd polls each second and sees the last finished
 * period's average. */
#include <math.h>
#include <string.h>

#include "oom-daemons.h"
#include "unit.h"

#define T0	5000000000000ULL	/* any CLOCK_MONOTONIC start */
#define TICK_NS	100000000ULL		/* the sampler's 100 ms */
#define HALF_NS	500000000ULL		/* its 2 Hz memory files */
#define MIB	1048576ULL
#define MAX	4096

static struct oom_sample trace[MAX];
static struct oom_call calls[8];

struct step {
	double from_s, to_s;	/* [from, to) */
	unsigned pct;		/* full stall, % of the time */
};

/* A PSI trace every 100 ms from second 0 to END_S: full (and some) stall
 * PCT% inside each step, none outside.  Returns the sample count. */
static size_t psi_trace(unsigned end_s, const struct step *st, size_t nst)
{
	uint64_t total = 987654;	/* totals never start at 0 */
	size_t i, j, n = (size_t)end_s * 10 + 1;

	for (i = 0; i < n; i++) {
		double mid = (i - 0.5) / 10;

		for (j = 0; i && j < nst; j++)
			if (mid >= st[j].from_s && mid < st[j].to_s)
				total += st[j].pct * 1000ULL;	/* of 100 ms, µs */
		trace[i] = (struct oom_sample){
			.t_ns = T0 + i * TICK_NS, .psi_known = true, .some_us = total, .full_us = total,
		};
	}
	return n;
}

/* A memory trace every 500 ms for I = 0..200 (0 to 100 s), in MiB, of a
 * 1000 MiB limit and a SWAP MiB tier: available = MEM0 - MEM_DROP * I,
 * free swap = SWAP0 - SWAP_DROP * I. */
static size_t mem_trace(unsigned mem0, unsigned mem_drop, unsigned swap, unsigned swap0,
			unsigned swap_drop)
{
	size_t i;

	for (i = 0; i <= 200; i++)
		trace[i] = (struct oom_sample){
			.t_ns = T0 + i * HALF_NS, .mem_known = true,
			.mem_total_bytes = 1000 * MIB, .mem_available_bytes = (mem0 - mem_drop * i) * MIB,
			.swap_total_bytes = swap * MIB, .swap_free_bytes = (swap0 - swap_drop * i) * MIB,
		};
	return 201;
}

/* The call of DAEMON on the first N samples of trace. */
static const struct oom_call *judge(size_t n, const char *daemon)
{
	static const struct oom_call missing = { .daemon = "missing", .at_s = -2 };
	size_t i, k = oom_daemons_judge(trace, n, calls, sizeof calls / sizeof calls[0]);

	for (i = 0; i < k; i++)
		if (!strcmp(calls[i].daemon, daemon))
			return &calls[i];
	return &missing;
}

static bool near(double a, double b, double eps)
{
	return fabs(a - b) <= eps;
}

#define OOMD "systemd_oomd_pressure"
#define OOMD_SWAP "systemd_oomd_swap"
#define EARLYOOM "earlyoom"

static void test_table(void)
{
	size_t i;

	CHECK(oom_daemon_count() == 3);
	/* Nothing to judge: nobody fires and nothing is known. */
	CHECK(oom_daemons_judge(NULL, 0, calls, 8) == 3);
	for (i = 0; i < 3; i++) {
		CHECK(calls[i].daemon && calls[i].policy && calls[i].peak_key);
		CHECK(!calls[i].fired && calls[i].at_s == -1 && calls[i].peak == -1);
		CHECK(calls[i].unknown_s == 0);
	}
	CHECK(!strcmp(calls[0].peak_key, "full_avg10_max_pct"));
	/* A short OUT gets only what fits. */
	memset(calls, 0, sizeof calls);
	CHECK(oom_daemons_judge(NULL, 0, calls, 1) == 3);
	CHECK(calls[0].daemon && !calls[1].daemon);
	/* One sample: no period ends, nothing fires. */
	psi_trace(0, NULL, 0);
	CHECK(!judge(1, OOMD)->fired && judge(1, OOMD)->peak == -1);
}

static void test_oomd_steps(void)
{
	const struct oom_call *c;
	size_t n;

	/* 0% to second 10, then 80% to the end (80 s).  Periods ending at
	 * 12, 14, ... carry 80%: after the one ending at 24 (n = 7) avg10 =
	 * 80 * (1 - 0.2470) = 60.24 > 60; at 22 (n = 6) it was 55.9.  The poll
	 * at 24 starts the clock, the poll at 24 + 30 = 54 acts. */
	n = psi_trace(80, (const struct step[]){ { 10, 1e9, 80 } }, 1);
	c = judge(n, OOMD);
	CHECK(c->fired && c->at_s == 54);
	CHECK(c->peak > 79.8 && c->peak <= 80);	/* 80 * (1 - e^35) = 79.99 */
	CHECK(c->unknown_s == 0);
	/* No memory figures: the threshold rows know nothing. */
	c = judge(n, EARLYOOM);
	CHECK(!c->fired && c->at_s == -1 && c->peak == -1 && near(c->unknown_s, 80, 1e-9));

	/* The same step for 40 s (10 to 50): above from the poll at 24; the
	 * period ending at 50 leaves 80 * (1 - e^20) = 78.53, the one ending
	 * at 52 (no stall) 78.53 * e = 64.31, the one at 54 52.66.  The polls
	 * from 24 to 53 saw it above: 29 s, one short of 30.  avg10 lags the
	 * step by 14 s on the way up and only 4 s on the way down, so a 40-s
	 * episode is just short of what oomd's default acts on. */
	n = psi_trace(80, (const struct step[]){ { 10, 50, 80 } }, 1);
	c = judge(n, OOMD);
	CHECK(!c->fired && c->at_s == -1);
	CHECK(near(c->peak, 78.53, 0.02));

	/* 30 s (10 to 40): above from 24 to 41 (the period ending at 40 gives
	 * 80 * (1 - e^15) = 76.01, at 42 62.24, at 44 50.97): 19 s. */
	n = psi_trace(80, (const struct step[]){ { 10, 40, 80 } }, 1);
	c = judge(n, OOMD);
	CHECK(!c->fired && near(c->peak, 76.01, 0.02));

	/* 55% for 100 s: avg10 rises towards 55.00 and never passes it. */
	n = psi_trace(100, (const struct step[]){ { 0, 1e9, 55 } }, 1);
	c = judge(n, OOMD);
	CHECK(!c->fired && c->peak > 54.9 && c->peak <= 55);

	/* Exactly 60%: avg10 reaches 60.00, which is not above 60. */
	n = psi_trace(200, (const struct step[]){ { 0, 1e9, 60 } }, 1);
	c = judge(n, OOMD);
	CHECK(!c->fired && c->peak == 60);

	/* 61%: 61 * (1 - e^20) = 59.88, 61 * (1 - e^21) = 60.09: above from
	 * the poll at 42, acts at 72. */
	n = psi_trace(100, (const struct step[]){ { 0, 1e9, 61 } }, 1);
	c = judge(n, OOMD);
	CHECK(c->fired && c->at_s == 72);
}

static void test_oomd_bad_data(void)
{
	const struct oom_call *c;
	size_t n, i, j;

	/* 80% from 0 with no samples from 30 to 35 s.  Without a hole: above
	 * from 14 (n = 7), acting at 44.  With it: the periods ending at 32
	 * and 34 have no data, the one at 36 data for 35..36 only, so they
	 * count 0, 0 and 40% (0.8 s of stall known in 2 s), and 5 s are
	 * unknown.  avg10: 76.01 at 30 (n = 15), 62.24 at 32, 50.97 at 34 (the
	 * poll at 34 stops the clock), 48.98 at 36, then 80% again: 54.60 at
	 * 38, 59.20 at 40, 62.97 at 42: the clock starts at 42, acts at 72. */
	n = psi_trace(100, (const struct step[]){ { 0, 1e9, 80 } }, 1);
	for (i = j = 0; i < n; i++)
		if (!(trace[i].t_ns > T0 + 30 * 1000000000ULL && trace[i].t_ns < T0 + 35 * 1000000000ULL))
			trace[j++] = trace[i];
	c = judge(j, OOMD);
	CHECK(c->fired && c->at_s == 72);
	CHECK(near(c->unknown_s, 5, 1e-9));

	/* No stall for 60 s, but at 30 s the totals jump by 100 s: more stall
	 * than time, so the 100 ms before it is unknown, not a spike. */
	n = psi_trace(60, NULL, 0);
	for (i = 300; i < n; i++) {
		trace[i].full_us += 100000000;
		trace[i].some_us += 100000000;
	}
	c = judge(n, OOMD);
	CHECK(!c->fired && c->peak == 0);
	CHECK(near(c->unknown_s, 0.1, 1e-9));

	/* 80% from 0, the totals reset to 0 at 20 s (the cgroup made again):
	 * 100 ms unknown, the period ending at 20 counts 1.52 s of 2, 76%,
	 * avg10 stays above 60 (66.76 at 18, 68.44 at 20): acts at 44. */
	n = psi_trace(60, (const struct step[]){ { 0, 1e9, 80 } }, 1);
	for (i = 200; i < n; i++) {
		trace[i].full_us -= trace[199].full_us + 1;
		trace[i].some_us -= trace[199].some_us + 1;
	}
	c = judge(n, OOMD);
	CHECK(c->fired && c->at_s == 44 && c->peak <= 80);
	CHECK(near(c->unknown_s, 0.1, 1e-9));

	/* A timestamp that goes back is dropped; its neighbours still pair. */
	n = psi_trace(60, (const struct step[]){ { 0, 1e9, 80 } }, 1);
	trace[200].t_ns = trace[199].t_ns - 50000000;
	c = judge(n, OOMD);
	CHECK(c->fired && c->at_s == 44 && c->unknown_s == 0);

	/* Memory figures only: the pressure row knows nothing. */
	n = mem_trace(1000, 0, 1000, 1000, 0);
	c = judge(n, OOMD);
	CHECK(!c->fired && c->peak == -1 && near(c->unknown_s, 100, 1e-9));
}

static void test_thresholds(void)
{
	const struct oom_call *c;
	size_t n, i, j;

	/* Memory low (5%) but half the swap free: neither acts; the headroom
	 * (the larger of the two) never fell under 50%. */
	n = mem_trace(50, 0, 1000, 500, 0);
	c = judge(n, EARLYOOM);
	CHECK(!c->fired && c->at_s == -1 && c->peak == 50 && c->unknown_s == 0);
	c = judge(n, OOMD_SWAP);
	CHECK(!c->fired && c->peak == 50);

	/* Memory at 5%, swap all free and falling 1% a second (5 MiB a
	 * sample): at 90 s exactly 10% is free.  earlyoom acts at or below
	 * 10%: 90.0; oomd's swap rule needs under 10%: the next sample, 90.5.
	 * At 100 s the swap is empty and the headroom is memory's 5%. */
	n = mem_trace(50, 0, 1000, 1000, 5);
	c = judge(n, EARLYOOM);
	CHECK(c->fired && c->at_s == 90 && c->peak == 5);
	c = judge(n, OOMD_SWAP);
	CHECK(c->fired && c->at_s == 90.5);
	/* With a hole from 20 to 30 s (10 s unknown) and nonsense at 90 s
	 * (more available than the limit: skipped), earlyoom acts at 90.5. */
	trace[180].mem_available_bytes = 2000 * MIB;
	for (i = j = 0; i < n; i++)
		if (i <= 40 || i >= 60)
			trace[j++] = trace[i];
	c = judge(j, EARLYOOM);
	CHECK(c->fired && c->at_s == 90.5 && near(c->unknown_s, 10, 1e-9));

	/* No swap at all, memory falling 1% a second from all available:
	 * earlyoom counts no swap as 0% free, so memory alone decides: 10%
	 * at 90 s.  oomd's swap rule never acts without swap (none used). */
	n = mem_trace(1000, 5, 0, 0, 0);
	c = judge(n, EARLYOOM);
	CHECK(c->fired && c->at_s == 90 && c->peak == 0);
	c = judge(n, OOMD_SWAP);
	CHECK(!c->fired && c->peak == 100);
	/* No swap, memory at half: nobody. */
	n = mem_trace(500, 0, 0, 0, 0);
	c = judge(n, EARLYOOM);
	CHECK(!c->fired && c->peak == 50);

	/* PSI only: the threshold rows know nothing over the 60 s. */
	n = psi_trace(60, (const struct step[]){ { 0, 1e9, 100 } }, 1);
	c = judge(n, OOMD_SWAP);
	CHECK(!c->fired && c->peak == -1 && near(c->unknown_s, 60, 1e-9));
}

int main(void)
{
	test_table();
	test_oomd_steps();
	test_oomd_bad_data();
	test_thresholds();
	UNIT_DONE();
}
