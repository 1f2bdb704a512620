/* Statistics for comparing result documents run by run: medians, a seeded
 * bootstrap confidence interval of the ratio (or difference) of medians,
 * the Mann-Whitney U test, the verdict rule and an estimate of the runs
 * that would settle an inconclusive verdict.  Pure functions: no I/O, no
 * global state; the same inputs and seed give the same answers.
 * Try: build/tests/unit-harness-stats */
#ifndef SWAPBENCH_STATS_H
#define SWAPBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#define STATS_RESAMPLES 10000	/* bootstrap resamples (issue 6) */
#define STATS_SEED 0x5eedb0075ULL	/* default bootstrap seed */

/* splitmix64: a small seeded generator; the state is the seed. */
uint64_t stats_rand(uint64_t *state);

/* Median of x[0..n-1] (mean of the middle two when n is even); x is left
 * unchanged.  NAN when n is 0 or on allocation failure. */
double stats_median(const double *x, size_t n);

/* Median absolute deviation from the median of x[0..n-1] (unscaled); NAN
 * when n is 0. */
double stats_mad(const double *x, size_t n);

/* What the interval is about: cand/base medians, or cand - base. */
enum stats_effect {
	STATS_RATIO,
	STATS_DIFF,
};

struct stats_ci {
	double point;		/* the effect on the samples themselves */
	double lo, hi;		/* 2.5th and 97.5th percentiles of the resampled effect */
};

/* Bootstrap 95% interval of the effect of cand against base: each of
 * `resamples` rounds draws nb values from base and nc from cand with
 * replacement (stats_rand seeded with seed) and computes the effect of the
 * medians.  For STATS_RATIO, rounds whose base median is 0 are dropped.
 * Returns 0, or -1 (nothing reported) when a side is empty, a ratio's base
 * median is 0 or allocation fails. */
int stats_bootstrap(const double *base, size_t nb, const double *cand, size_t nc,
		    enum stats_effect effect, unsigned resamples, uint64_t seed,
		    struct stats_ci *ci);

/* Bootstrap 95% interval of the median of x[0..n-1] itself (point: the
 * median; lo and hi: the 2.5th and 97.5th percentiles of the medians of
 * `resamples` draws of n with replacement, seeded).  With n of 2 to 5 the
 * interval is close to the range of the values: a report says n beside it.
 * Returns 0, or -1 when n is 0 or allocation fails. */
int stats_bootstrap_median(const double *x, size_t n, unsigned resamples, uint64_t seed,
			   struct stats_ci *ci);

/* Mann-Whitney U of x against y: u counts the pairs with x > y (ties count
 * one half), p is the two-sided p-value of the normal approximation with
 * tie correction and continuity correction (1 when every value ties).
 * Returns 0, or -1 when a side is empty. */
int stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
		       double *u, double *p);

enum stats_verdict {
	STATS_OK,
	STATS_INCONCLUSIVE,
	STATS_REGRESSED,
};

/* The verdict of an interval against a limit (1 + threshold for a ratio,
 * the margin for a difference): regressed when the interval lies wholly
 * above the limit, ok when wholly below, inconclusive otherwise. */
enum stats_verdict stats_judge(const struct stats_ci *ci, double limit);

const char *stats_verdict_name(enum stats_verdict v);

/* Runs per side that would likely settle an inconclusive verdict, taken
 * at n runs per side: the interval's half-width shrinks as 1/sqrt(n), so
 * the answer is n * (half-width / distance from the point to the limit)^2,
 * on a log scale for ratios.  Returns n when already settled, 0 when the
 * point sits on the limit (no number of runs is likely to settle it), and
 * at most cap. */
unsigned stats_runs_needed(const struct stats_ci *ci, enum stats_effect effect,
			   double limit, size_t n, unsigned cap);

#endif
