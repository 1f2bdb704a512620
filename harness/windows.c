/* Per-second windows: see windows.h. */
#include <inttypes.h>
#include <stdlib.h>

#include "windows.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank quantile q of sorted v[0..n), n > 0. */
static size_t rank(size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	return k ? k - 1 : 0;
}

/* b - a of a counter: one that went down from under 2^32 wrapped as a
 * 32-bit counter (block stat fields on 32-bit kernels); any other drop is a
 * reset and counts as none. */
static uint64_t delta(uint64_t a, uint64_t b)
{
	if (b >= a)
		return b - a;
	return a <= UINT32_MAX ? b + (UINT32_MAX - a) + 1 : 0;
}

void windows_summarise(const struct sampler_totals *secs, size_t nsecs,
		       const struct probe_sample *log, size_t nlog, FILE *out,
		       struct windows_summary *sum)
{
	double *full = nsecs > 1 ? calloc(nsecs - 1, sizeof *full) : NULL;
	uint64_t *lat = nlog ? calloc(nlog, sizeof *lat) : NULL;
	size_t w, k = 0, n;

	*sum = (struct windows_summary){ 0 };
	if (out)
		fprintf(out, "second\tprobes\tprobe_p50_ns\tprobe_p99_ns\tprobe_max_ns\ttouch_max_ns\t"
			     "psi_full_us\tpsi_some_us\tpswpin_pages\tpswpout_pages\tzswpin_pages\t"
			     "zswpout_pages\n");
	if (!full || (nlog && !lat))
		goto out;
	while (k < nlog && log[k].t_ns < secs[0].t_ns)
		k++;
	for (w = 0; w + 1 < nsecs; w++) {
		const struct sampler_totals *a = &secs[w], *b = &secs[w + 1];
		uint64_t span = b->t_ns - a->t_ns, touch_max = 0, p50 = 0, p99 = 0, max = 0;

		for (n = 0; k < nlog && log[k].t_ns < b->t_ns; k++, n++) {
			lat[n] = log[k].exec_ns;
			if (log[k].touch_ns > touch_max)
				touch_max = log[k].touch_ns;
		}
		if (n) {
			qsort(lat, n, sizeof *lat, cmp_u64);
			p50 = lat[rank(n, 0.50)];
			p99 = lat[rank(n, 0.99)];
			max = lat[n - 1];
		}
		if (p99 > sum->probe_p99_max_ns)
			sum->probe_p99_max_ns = p99;
		full[w] = span ? (double)delta(a->full_us, b->full_us) * 1e5 / (double)span : 0;
		if (full[w] > 100)	/* a stall share is at most 100% (rounding) */
			full[w] = 100;
		if (out)
			fprintf(out, "%zu\t%zu\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
				"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
				w, n, p50, p99, max, touch_max, delta(a->full_us, b->full_us),
				delta(a->some_us, b->some_us), delta(a->pswpin, b->pswpin),
				delta(a->pswpout, b->pswpout), delta(a->zswpin, b->zswpin),
				delta(a->zswpout, b->zswpout));
	}
	sum->windows = nsecs - 1;
	qsort(full, sum->windows, sizeof *full, cmp_double);
	sum->psi_full_p99_pct = full[rank(sum->windows, 0.99)];
	sum->psi_full_max_pct = full[sum->windows - 1];
out:
	free(full);
	free(lat);
}

void windows_json(const struct windows_summary *sum, json_t *metrics)
{
	json_object_set_new(metrics, "windows_1s", json_integer((json_int_t)sum->windows));
	json_object_set_new(metrics, "psi_full_1s_p99_pct", json_real(sum->psi_full_p99_pct));
	json_object_set_new(metrics, "psi_full_1s_max_pct", json_real(sum->psi_full_max_pct));
	json_object_set_new(metrics, "probe_p99_1s_max_ns", json_integer((json_int_t)sum->probe_p99_max_ns));
}
