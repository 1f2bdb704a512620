/* Unit tests for harness/probe.c's probe_split: the start-up's probes come
 * from the per-slot log, the rest is every probe but those, so slots past
 * what the log keeps still count after the cut. */
#include <stdlib.h>

#include "probe.h"
#include "unit.h"

int main(void)
{
	struct probe p = { 0 };
	struct probe_split *sp = calloc(1, sizeof *sp);
	uint64_t k;

	hist_init(&p.exec);
	hist_init(&p.touch);
	p.log = calloc(8, sizeof *p.log);
	/* 10 slots 100 ms apart; the log kept the first 8 (as if full). */
	for (k = 0; k < 10; k++) {
		uint64_t exec = k < 2 ? 5000000 : 1000000 + k;	/* start-up: 5 ms */

		hist_add(&p.exec, exec);
		hist_add(&p.touch, 2000);
		if (k < 8)
			p.log[p.nlog++] = (struct probe_sample){ k * 100000000ULL, exec, 2000 };
	}
	p.slots = 10;
	p.touch_slots = 10;

	probe_split(&p, 150000000ULL, sp);	/* slots 0 and 1 before the cut */
	CHECK(sp->slots[0] == 2 && sp->slots[1] == 8);
	CHECK(sp->exec[0].count == 2 && sp->exec[1].count == 8);
	CHECK(sp->touch_slots[0] == 2 && sp->touch_slots[1] == 8);
	CHECK(hist_quantile(&sp->exec[0], 0.5) >= 4900000);
	/* After the cut: the two unlogged slots counted, no 5 ms sample. */
	CHECK(sp->exec[1].max < 1100000 && sp->exec[1].min >= 1000000);
	CHECK(hist_quantile(&sp->exec[1], 0.99) < 1100000);
	CHECK(!sp->truncated);

	probe_split(&p, 0, sp);			/* no start-up: everything after */
	CHECK(sp->slots[0] == 0 && sp->slots[1] == 10 && sp->exec[1].count == 10);
	CHECK(sp->exec[1].max == p.exec.max);

	probe_split(&p, 10000000000ULL, sp);	/* the start-up outlasted the log */
	CHECK(sp->slots[0] == 8 && sp->slots[1] == 2 && sp->truncated);
	free(p.log);
	free(sp);
	UNIT_DONE();
}
