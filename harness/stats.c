/* Statistics for swapbench compare and calibrate: see stats.h.
 * Try: build/tests/unit-harness-stats */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

uint64_t stats_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias worth caring about for n of runs. */
static size_t rand_below(uint64_t *state, size_t n)
{
	return (size_t)(((unsigned __int128)stats_rand(state) * n) >> 64);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of x, sorting x in place. */
static double median_inplace(double *x, size_t n)
{
	qsort(x, n, sizeof *x, cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

double stats_median(const double *x, size_t n)
{
	double *s, m;

	if (n == 0 || !(s = malloc(n * sizeof *s)))
		return NAN;
	memcpy(s, x, n * sizeof *s);
	m = median_inplace(s, n);
	free(s);
	return m;
}

double stats_mad(const double *x, size_t n)
{
	double m = stats_median(x, n), *d, r;
	size_t i;

	if (n == 0 || !(d = malloc(n * sizeof *d)))
		return NAN;
	for (i = 0; i < n; i++)
		d[i] = fabs(x[i] - m);
	r = median_inplace(d, n);
	free(d);
	return r;
}

static double effect_of(enum stats_effect effect, double mb, double mc)
{
	return effect == STATS_RATIO ? mc / mb : mc - mb;
}

/* The q-quantile of sorted v[0..n-1], linear between order statistics. */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;

	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

int stats_bootstrap_median(const double *x, size_t n, unsigned resamples, uint64_t seed,
			   struct stats_ci *ci)
{
	double *r, *med;
	uint64_t state = seed;
	unsigned k;
	size_t i;

	if (n == 0 || resamples == 0)
		return -1;
	r = malloc(n * sizeof *r);
	med = malloc(resamples * sizeof *med);
	if (!r || !med) {
		free(r);
		free(med);
		return -1;
	}
	for (k = 0; k < resamples; k++) {
		for (i = 0; i < n; i++)
			r[i] = x[rand_below(&state, n)];
		med[k] = median_inplace(r, n);
	}
	qsort(med, resamples, sizeof *med, cmp_double);
	ci->point = stats_median(x, n);
	ci->lo = quantile(med, resamples, 0.025);
	ci->hi = quantile(med, resamples, 0.975);
	free(r);
	free(med);
	return 0;
}

int stats_bootstrap(const double *base, size_t nb, const double *cand, size_t nc,
		    enum stats_effect effect, unsigned resamples, uint64_t seed,
		    struct stats_ci *ci)
{
	double *rb = NULL, *rc = NULL, *eff = NULL, mb;
	uint64_t state = seed;
	size_t kept = 0, i;
	unsigned r;
	int ret = -1;

	if (nb == 0 || nc == 0 || resamples == 0)
		return -1;
	mb = stats_median(base, nb);
	if (effect == STATS_RATIO && mb == 0)
		return -1;
	ci->point = effect_of(effect, mb, stats_median(cand, nc));
	rb = malloc(nb * sizeof *rb);
	rc = malloc(nc * sizeof *rc);
	eff = malloc(resamples * sizeof *eff);
	if (!rb || !rc || !eff)
		goto out;
	for (r = 0; r < resamples; r++) {
		double b, c;

		for (i = 0; i < nb; i++)
			rb[i] = base[rand_below(&state, nb)];
		for (i = 0; i < nc; i++)
			rc[i] = cand[rand_below(&state, nc)];
		b = median_inplace(rb, nb);
		c = median_inplace(rc, nc);
		if (effect == STATS_RATIO && b == 0)
			continue;
		eff[kept++] = effect_of(effect, b, c);
	}
	if (kept == 0)
		goto out;
	qsort(eff, kept, sizeof *eff, cmp_double);
	ci->lo = quantile(eff, kept, 0.025);
	ci->hi = quantile(eff, kept, 0.975);
	ret = 0;
out:
	free(eff);
	free(rc);
	free(rb);
	return ret;
}

int stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
		       double *u, double *p)
{
	double n1 = (double)nx, n2 = (double)ny, nn = n1 + n2, ties = 0, mu, var, z;
	double *all;
	size_t i, j, n = nx + ny;

	if (nx == 0 || ny == 0)
		return -1;
	*u = 0;
	for (i = 0; i < nx; i++)
		for (j = 0; j < ny; j++)
			*u += x[i] > y[j] ? 1 : x[i] == y[j] ? 0.5 : 0;
	/* Tie correction: sum of t^3 - t over the groups of tied values. */
	all = malloc(n * sizeof *all);
	if (!all)
		return -1;
	memcpy(all, x, nx * sizeof *all);
	memcpy(all + nx, y, ny * sizeof *all);
	qsort(all, n, sizeof *all, cmp_double);
	for (i = 0; i < n; i = j) {
		double t;

		for (j = i + 1; j < n && all[j] == all[i]; j++)
			;
		t = (double)(j - i);
		ties += t * t * t - t;
	}
	free(all);
	mu = n1 * n2 / 2;
	var = n1 * n2 / 12 * ((nn + 1) - ties / (nn * (nn - 1)));
	if (var <= 0) {
		*p = 1;
		return 0;
	}
	z = fabs(*u - mu) - 0.5;
	if (z < 0)
		z = 0;
	*p = erfc(z / sqrt(var) / sqrt(2.0));
	if (*p > 1)
		*p = 1;
	return 0;
}

enum stats_verdict stats_judge(const struct stats_ci *ci, double limit)
{
	if (ci->lo > limit)
		return STATS_REGRESSED;
	if (ci->hi < limit)
		return STATS_OK;
	return STATS_INCONCLUSIVE;
}

const char *stats_verdict_name(enum stats_verdict v)
{
	switch (v) {
	case STATS_OK:
		return "ok";
	case STATS_REGRESSED:
		return "regressed";
	case STATS_INCONCLUSIVE:
		break;
	}
	return "inconclusive";
}

unsigned stats_runs_needed(const struct stats_ci *ci, enum stats_effect effect,
			   double limit, size_t n, unsigned cap)
{
	double lo = ci->lo, hi = ci->hi, point = ci->point, half, dist, need;

	if (stats_judge(ci, limit) != STATS_INCONCLUSIVE)
		return (unsigned)n;
	if (effect == STATS_RATIO) {
		if (lo <= 0 || point <= 0 || limit <= 0)
			return cap;
		lo = log(lo);
		hi = log(hi);
		point = log(point);
		limit = log(limit);
	}
	half = (hi - lo) / 2;
	dist = fabs(point - limit);
	if (dist == 0)
		return 0;
	need = ceil((double)n * (half / dist) * (half / dist));
	if (need > cap)
		return cap;
	return need < (double)n + 1 ? (unsigned)n + 1 : (unsigned)need;
}
