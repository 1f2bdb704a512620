/* Unit tests for harness/windows.c on synthetic data with known answers:
 * probe slots land in their second, per-second PSI full shares and their
 * p99, the worst second's probe p99, the TSV's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "windows.h"
#include "unit.h"

#define S 1000000000ULL

int main(void)
{
	static struct sampler_totals secs[101];
	static struct probe_sample log[1000];
	struct windows_summary sum;
	char line[512];
	size_t i, nlines = 0;
	FILE *f;

	/* 100 seconds; second 37 is 80% stalled, second 60 25%, the rest 1%. */
	for (i = 0; i <= 100; i++) {
		secs[i].t_ns = 5 * S + i * S;
		secs[i].pswpout = i * 100;
		if (i)
			secs[i].full_us = secs[i - 1].full_us +
					  (i == 38 ? 800000 : i == 61 ? 250000 : 10000);
	}
	/* 10 probes a second; second 37 has one slow (50 ms) probe, all others 1 ms. */
	for (i = 0; i < 1000; i++) {
		log[i].t_ns = 5 * S + i * (S / 10);
		log[i].exec_ns = i == 375 ? 50000000 : 1000000;
		log[i].touch_ns = 2000;
	}
	f = tmpfile();
	windows_summarise(secs, 101, log, 1000, f, &sum);
	CHECK(sum.windows == 100);
	CHECK(sum.psi_full_max_pct > 79.9 && sum.psi_full_max_pct < 80.1);
	/* p99 of 100 seconds by nearest rank: the 99th smallest, 25%. */
	CHECK(sum.psi_full_p99_pct > 24.9 && sum.psi_full_p99_pct < 25.1);
	CHECK(sum.probe_p99_max_ns == 50000000);
	rewind(f);
	while (fgets(line, sizeof line, f)) {
		if (nlines == 0)
			CHECK(!strncmp(line, "second\tprobes\tprobe_p50_ns", 26));
		if (nlines == 38)
			CHECK(!strncmp(line, "37\t10\t1000000\t50000000\t50000000\t2000\t800000\t0\t0\t100\t", 50));
		nlines++;
	}
	CHECK(nlines == 101);
	fclose(f);

	/* A 32-bit counter that wraps within a window counts what it moved. */
	secs[1].pswpout = 4294967000ULL;
	secs[2].pswpout = 100;
	f = tmpfile();
	windows_summarise(secs, 3, NULL, 0, f, &sum);
	rewind(f);
	nlines = 0;
	while (fgets(line, sizeof line, f))
		if (nlines++ == 2)
			CHECK(!strncmp(line, "1\t0\t0\t0\t0\t0\t10000\t0\t0\t396\t", 22));
	fclose(f);

	/* Probes before the first snapshot are left out; no windows, no crash. */
	windows_summarise(secs, 1, log, 1000, NULL, &sum);
	CHECK(sum.windows == 0 && sum.probe_p99_max_ns == 0);
	windows_summarise(secs, 3, NULL, 0, NULL, &sum);
	CHECK(sum.windows == 2 && sum.probe_p99_max_ns == 0);
	UNIT_DONE();
}
