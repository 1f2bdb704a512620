/* Unit tests for harness/stats.c on synthetic data with known answers: the
 * median, Mann-Whitney U against hand-computed examples, a 20% shift judged
 * regressed, identical distributions never regressed beyond the stated
 * false-positive rate over seeded trials, and the runs-needed estimate. */
#include <math.h>
#include <string.h>

/* servers/stats.h shadows the name on the include path. */
#include "stats.h"
#include "unit.h"

#define NEAR(a, b, eps) (fabs((a) - (b)) <= (eps))

/* Normal deviate (Box-Muller) from the seeded generator. */
static double gauss(uint64_t *s)
{
	double u1 = ((double)(stats_rand(s) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = (double)(stats_rand(s) >> 11) / 9007199254740992.0;

	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* n runs' p99 around `level`, each off by a log-normal factor of sd. */
static void runs(double *x, size_t n, double level, double sd, uint64_t *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = level * exp(sd * gauss(s));
}

static void test_median(void)
{
	double odd[] = { 3, 1, 2 }, even[] = { 4, 1, 3, 2 };

	CHECK(stats_median(odd, 3) == 2);
	CHECK(stats_median(even, 4) == 2.5);
	CHECK(odd[0] == 3 && even[0] == 4);	/* left unchanged */
	CHECK(isnan(stats_median(odd, 0)));
}

static void test_mann_whitney(void)
{
	double u, p;

	/* x {1,2,3} y {4,5}: no pair with x > y, U = 0; mu = 3, var = 3*2/12 * 6 = 3;
	 * z = (3 - 0.5) / sqrt(3); p = erfc(z / sqrt 2) = 0.148915 */
	CHECK(stats_mann_whitney((double[]){ 1, 2, 3 }, 3, (double[]){ 4, 5 }, 2, &u, &p) == 0);
	CHECK(u == 0);
	CHECK(NEAR(p, 0.1489147, 1e-6));
	/* x {1,2,2} y {2,3}: U = 2 * 0.5 = 1; the value 2 ties three times, so
	 * var = 6/12 * (6 - 24/20) = 2.4; z = 1.5 / sqrt(2.4); p = 0.332922 */
	CHECK(stats_mann_whitney((double[]){ 1, 2, 2 }, 3, (double[]){ 2, 3 }, 2, &u, &p) == 0);
	CHECK(u == 1);
	CHECK(NEAR(p, 0.3329216, 1e-6));
	/* U of y against x is the complement, with the same p. */
	CHECK(stats_mann_whitney((double[]){ 2, 3 }, 2, (double[]){ 1, 2, 2 }, 3, &u, &p) == 0);
	CHECK(u == 5);
	CHECK(NEAR(p, 0.3329216, 1e-6));
	/* Everything tied: no evidence at all. */
	CHECK(stats_mann_whitney((double[]){ 7, 7 }, 2, (double[]){ 7, 7 }, 2, &u, &p) == 0);
	CHECK(p == 1);
	CHECK(stats_mann_whitney((double[]){ 1 }, 1, NULL, 0, &u, &p) == -1);
}

static void test_bootstrap_basics(void)
{
	double b[] = { 100, 102, 98, 101, 99 }, c[] = { 120, 122, 118, 121, 119 };
	struct stats_ci a, a2, d;

	CHECK(stats_bootstrap(b, 5, c, 5, STATS_RATIO, STATS_RESAMPLES, 1, &a) == 0);
	CHECK(stats_bootstrap(b, 5, c, 5, STATS_RATIO, STATS_RESAMPLES, 1, &a2) == 0);
	CHECK(memcmp(&a, &a2, sizeof a) == 0);	/* seeded: deterministic */
	CHECK(NEAR(a.point, 1.2, 1e-12));
	CHECK(a.lo <= a.point && a.point <= a.hi);
	CHECK(a.lo > 1.1 && a.hi < 1.3);
	CHECK(stats_bootstrap(b, 5, c, 5, STATS_DIFF, STATS_RESAMPLES, 1, &d) == 0);
	CHECK(d.point == 20);
	CHECK(stats_bootstrap((double[]){ 0, 0, 0 }, 3, c, 5, STATS_RATIO, 100, 1, &a) == -1);
	CHECK(stats_bootstrap(b, 0, c, 5, STATS_RATIO, 100, 1, &a) == -1);
}

static void test_bootstrap_median(void)
{
	double x[] = { 5, 1, 3, 2, 4 }, many[200];
	struct stats_ci a, a2;
	uint64_t s = 7;
	size_t i;

	CHECK(stats_bootstrap_median(x, 5, STATS_RESAMPLES, 1, &a) == 0);
	CHECK(stats_bootstrap_median(x, 5, STATS_RESAMPLES, 1, &a2) == 0);
	CHECK(memcmp(&a, &a2, sizeof a) == 0);	/* seeded */
	CHECK(a.point == 3);
	CHECK(a.lo >= 1 && a.lo < 3 && a.hi > 3 && a.hi <= 5);
	/* One value: no spread. */
	CHECK(stats_bootstrap_median((double[]){ 9 }, 1, 100, 1, &a) == 0);
	CHECK(a.point == 9 && a.lo == 9 && a.hi == 9);
	CHECK(stats_bootstrap_median(x, 0, 100, 1, &a) == -1);
	/* Many values from 1e6 with 3% noise: a narrow interval around 1e6. */
	runs(many, 200, 1e6, 0.03, &s);
	CHECK(stats_bootstrap_median(many, 200, STATS_RESAMPLES, STATS_SEED, &a) == 0);
	CHECK(a.lo < a.point && a.point < a.hi);
	CHECK(a.lo > 0.99e6 && a.hi < 1.01e6);
	for (i = 0; i < 200; i++)
		many[i] = 1e6 + (double)i;	/* median 1e6 + 99.5 */
	CHECK(stats_bootstrap_median(many, 200, STATS_RESAMPLES, STATS_SEED, &a) == 0);
	CHECK(NEAR(a.point, 1e6 + 99.5, 1e-9));
}

static void test_shift_regressed(void)
{
	double b[10], c[10];
	uint64_t s = 42;
	struct stats_ci ci;
	int trial, regressed = 0;

	/* A 20% shift with 3% run-to-run noise, 10 runs each, 10% threshold. */
	for (trial = 0; trial < 20; trial++) {
		runs(b, 10, 1e6, 0.03, &s);
		runs(c, 10, 1.2e6, 0.03, &s);
		CHECK(stats_bootstrap(b, 10, c, 10, STATS_RATIO, STATS_RESAMPLES, STATS_SEED, &ci) == 0);
		regressed += stats_judge(&ci, 1.10) == STATS_REGRESSED;
	}
	CHECK(regressed == 20);
	/* And an improvement by 20% is ok. */
	CHECK(stats_bootstrap(c, 10, b, 10, STATS_RATIO, STATS_RESAMPLES, STATS_SEED, &ci) == 0);
	CHECK(stats_judge(&ci, 1.10) == STATS_OK);
}

/* Identical distributions: over 200 seeded trials never regressed at a 10%
 * threshold, and at a zero threshold (the interval's own error alone)
 * regressed no more than the stated false-positive rate of 5% (a 95%
 * interval misses above in 2.5% of trials, nominally). */
static void test_identical_false_positives(void)
{
	double b[8], c[8];
	uint64_t s = 7;
	struct stats_ci ci;
	int trial, at10 = 0, at0 = 0, ok = 0;

	for (trial = 0; trial < 200; trial++) {
		runs(b, 8, 1e6, 0.05, &s);
		runs(c, 8, 1e6, 0.05, &s);
		CHECK(stats_bootstrap(b, 8, c, 8, STATS_RATIO, STATS_RESAMPLES,
				      STATS_SEED + (uint64_t)trial, &ci) == 0);
		at10 += stats_judge(&ci, 1.10) == STATS_REGRESSED;
		ok += stats_judge(&ci, 1.10) == STATS_OK;
		at0 += stats_judge(&ci, 1.0) == STATS_REGRESSED;
	}
	fprintf(stderr, "identical: 200 trials, regressed at 10%%: %d, at 0%%: %d, ok at 10%%: %d\n",
		at10, at0, ok);
	CHECK(at10 == 0);
	CHECK(at0 <= 10);
	CHECK(ok >= 150);
}

static void test_margin_and_runs_needed(void)
{
	/* PSI full % near zero: judged by a difference in percentage points. */
	double b[] = { 0, 0.02, 0.01, 0, 0.03 }, c[] = { 0.05, 0.01, 0.04, 0.02, 0.06 };
	struct stats_ci ci, settled = { .point = 1.0, .lo = 0.9, .hi = 1.05 };
	unsigned need;

	CHECK(stats_bootstrap(b, 5, c, 5, STATS_DIFF, STATS_RESAMPLES, 1, &ci) == 0);
	CHECK(stats_judge(&ci, 1.0) == STATS_OK);
	CHECK(stats_judge(&ci, 0.0) != STATS_OK);

	ci = (struct stats_ci){ .point = 1.05, .lo = 0.98, .hi = 1.13 };
	need = stats_runs_needed(&ci, STATS_RATIO, 1.10, 5, 1000);
	CHECK(need > 5 && need < 1000);
	/* Half-width 0.04 at distance 0.02 (linear): 4x the runs. */
	ci = (struct stats_ci){ .point = 0.5, .lo = 0.46, .hi = 0.54 };
	CHECK(stats_runs_needed(&ci, STATS_DIFF, 0.52, 6, 1000) == 24);
	CHECK(stats_runs_needed(&settled, STATS_RATIO, 1.10, 5, 1000) == 5);
	ci = (struct stats_ci){ .point = 1.10, .lo = 1.0, .hi = 1.2 };
	CHECK(stats_runs_needed(&ci, STATS_RATIO, 1.10, 5, 1000) == 0);
	ci = (struct stats_ci){ .point = 1.099, .lo = 0.5, .hi = 2.0 };
	CHECK(stats_runs_needed(&ci, STATS_RATIO, 1.10, 5, 1000) == 1000);
	CHECK(strcmp(stats_verdict_name(STATS_REGRESSED), "regressed") == 0);
}

int main(void)
{
	test_median();
	test_mann_whitney();
	test_bootstrap_basics();
	test_bootstrap_median();
	test_shift_regressed();
	test_identical_false_positives();
	test_margin_and_runs_needed();
	UNIT_DONE();
}
