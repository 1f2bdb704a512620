/* Unit tests for common/histogram.c: bucket bounds tile uint64_t without
 * gaps, a bucket spans at most 1/128 of its values (under 1% relative
 * error), quantiles of known data. */
#include <stdint.h>
#include <stdlib.h>

#include "histogram.h"
#include "unit.h"

int main(void)
{
	static struct histogram h, m;
	uint64_t v, prev_high = 0;
	unsigned i, b;

	for (i = 0; i < HIST_BUCKETS; i++) {
		CHECK(hist_bucket_low(i) <= hist_bucket_high(i));
		if (i)
			CHECK(hist_bucket_low(i) == prev_high + 1);
		prev_high = hist_bucket_high(i);
		CHECK(hist_bucket(hist_bucket_low(i)) == i);
		CHECK(hist_bucket(hist_bucket_high(i)) == i);
	}
	CHECK(prev_high == UINT64_MAX);
	for (v = 1; v < (1ULL << 40); v = v * 3 + 1) {
		b = hist_bucket(v);
		CHECK(hist_bucket_low(b) <= v && v <= hist_bucket_high(b));
		CHECK((double)(hist_bucket_high(b) - hist_bucket_low(b)) <= (double)v / 128 + 1);
	}

	hist_init(&h);
	CHECK(hist_quantile(&h, 0.5) == 0);
	for (v = 1; v <= 1000; v++)
		hist_add(&h, v * 1000); /* 1 us .. 1 ms */
	CHECK(h.count == 1000 && h.min == 1000 && h.max == 1000000);
	v = hist_quantile(&h, 0.5);
	CHECK(v > 500000 * 0.99 && v < 500000 * 1.01);
	v = hist_quantile(&h, 0.99);
	CHECK(v > 990000 * 0.99 && v < 990000 * 1.01);
	CHECK(hist_quantile(&h, 1.0) <= 1000000);
	CHECK(hist_quantile(&h, 0.0) >= 1000);

	hist_init(&m);
	hist_merge(&m, &h);
	hist_merge(&m, &h);
	CHECK(m.count == 2000 && m.sum == 2 * h.sum && m.min == 1000 && m.max == 1000000);
	CHECK(hist_quantile(&m, 0.5) == hist_quantile(&h, 0.5));
	UNIT_DONE();
}
