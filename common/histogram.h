/* Log-linear histograms of nanosecond values (latencies, depths): exact
 * below 128, then 128 linear sub-buckets per power of two (a bucket spans
 * under 0.8% of its values, so a quantile reported at its middle is within
 * 0.4%), covering all of uint64_t in HIST_BUCKETS buckets (58 KiB).
 * One writer per histogram; readers (a stats dump in another thread) merge
 * racily but without tearing (relaxed atomics), which is what a live
 * statistics view needs.  Try: tests/unit-histogram. */
#ifndef SWAPBENCH_HISTOGRAM_H
#define SWAPBENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t sum;
	uint64_t min; /* valid when count > 0 */
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

/* Index of the bucket holding v. */
unsigned hist_bucket(uint64_t v);
/* Smallest and largest value that falls in bucket i. */
uint64_t hist_bucket_low(unsigned i);
uint64_t hist_bucket_high(unsigned i);

void hist_init(struct histogram *h);
/* Adds one value; single writer only. */
void hist_add(struct histogram *h, uint64_t v);
/* dst += src (src may be concurrently written by its owner). */
void hist_merge(struct histogram *dst, const struct histogram *src);
/* Value at quantile q (0..1): the middle of the bucket holding the
 * ceil(q*count)-th value, clamped to [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct histogram *h, double q);

#endif
