/* Log-linear histograms: see histogram.h. */
#include <math.h>
#include <string.h>

#include "histogram.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

unsigned hist_bucket(uint64_t v)
{
	unsigned e, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);
	shift = e - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_low(unsigned i)
{
	unsigned shift;

	if (i < HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return (uint64_t)(HIST_SUB + i % HIST_SUB) << shift;
}

uint64_t hist_bucket_high(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	return hist_bucket_low(i) + ((1ULL << (i / HIST_SUB - 1)) - 1);
}

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof *h);
}

void hist_add(struct histogram *h, uint64_t v)
{
	unsigned b = hist_bucket(v);

	if (h->count == 0 || v < h->min)
		STORE(h->min, v);
	if (v > h->max)
		STORE(h->max, v);
	STORE(h->bucket[b], h->bucket[b] + 1);
	STORE(h->sum, h->sum + v);
	STORE(h->count, h->count + 1);
}

void hist_merge(struct histogram *dst, const struct histogram *src)
{
	uint64_t n = 0, mn = LOAD(src->min), mx = LOAD(src->max);
	unsigned i;

	/* Count from the buckets so that count and buckets agree even while
	 * the owner is writing. */
	for (i = 0; i < HIST_BUCKETS; i++) {
		uint64_t c = LOAD(src->bucket[i]);

		dst->bucket[i] += c;
		n += c;
	}
	if (n == 0)
		return;
	if (dst->count == 0 || mn < dst->min)
		dst->min = mn;
	if (mx > dst->max)
		dst->max = mx;
	dst->count += n;
	dst->sum += LOAD(src->sum);
}

uint64_t hist_quantile(const struct histogram *h, double q)
{
	uint64_t target, seen = 0, lo, hi, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	target = (uint64_t)ceil(q * (double)h->count);
	if (target == 0)
		target = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= target)
			break;
	}
	if (i == HIST_BUCKETS)
		return h->max;
	lo = hist_bucket_low(i);
	hi = hist_bucket_high(i);
	v = lo + (hi - lo) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}
