/* Unit tests for harness/result.c's writing (issue #20, item 12): a metric
 * that comes out NaN or infinite is recorded as null with a warning naming
 * it, a value JSON cannot hold is left out with the rest kept, and the
 * document is written whole (read back, same keys).  And its reading: the
 * NBD daemons' CPU per page derived for a run recorded before runs wrote
 * it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "result.h"
#include "unit.h"

/* tier_daemons_cpu_ns_per_page: a run's own value where it has one, else
 * tier_daemons_cpu_ns over pswp* + zswp* pages; a run with neither, or no
 * pages, has none. */
static void derived_cpu_per_page(void)
{
	json_t *doc = json_pack("{s:[{s:s, s:b, s:i, s:{s:I, s:I, s:I, s:I, s:I}},"
				"{s:s, s:b, s:i, s:{s:I, s:f}},"
				"{s:s, s:b, s:i, s:{s:I}},"
				"{s:s, s:b, s:i, s:{s:I, s:I, s:I}}]}", "runs",
				"tier", "nbd-vram", "valid", 1, "repeat", 1, "metrics",
				"tier_daemons_cpu_ns", (json_int_t)7000000, "pswpin_pages", (json_int_t)400,
				"pswpout_pages", (json_int_t)500, "zswpin_pages", (json_int_t)0,
				"zswpout_pages", (json_int_t)100,
				"tier", "nbd-vram", "valid", 1, "repeat", 2, "metrics",
				"tier_daemons_cpu_ns", (json_int_t)1, "tier_daemons_cpu_ns_per_page", 5000.0,
				"tier", "nbd-vram", "valid", 1, "repeat", 3, "metrics",
				"pswpout_pages", (json_int_t)500,
				"tier", "nbd-vram", "valid", 1, "repeat", 4, "metrics",
				"tier_daemons_cpu_ns", (json_int_t)9, "pswpin_pages", (json_int_t)0,
				"pswpout_pages", (json_int_t)0);
	size_t n, x;
	double *v = result_values(doc, "nbd-vram", "tier_daemons_cpu_ns_per_page", &n, &x);

	CHECK(doc && n == 2 && x == 2);
	CHECK(v && n == 2 && v[0] == 7000.0 && v[1] == 5000.0);
	free(v);
	json_decref(doc);
}

int main(void)
{
	char dir[] = "/tmp/unit-harness-result.XXXXXX", path[128];
	json_t *doc, *m, *back;

	log_init("unit-harness-result", LOG_INFO);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/run.json", dir);
	doc = json_pack("{s:s, s:[]}", "schema", "swapbench-run", "runs");
	m = json_object();
	CHECK(result_set_real(m, "psi_full_pct", 1.5) == 0);
	CHECK(result_set_real(m, "probe_ratio", NAN) == 1);
	CHECK(result_set_real(m, "swapin_rate_pages_per_s", INFINITY) == 1);
	CHECK(result_set(m, "host", json_string("bench\xff")) == -1); /* not UTF-8: NULL */
	CHECK(result_set(doc, "metrics", m) == 0);
	CHECK(json_is_null(json_object_get(m, "probe_ratio")));
	CHECK(json_real_value(json_object_get(m, "psi_full_pct")) == 1.5);
	CHECK(!json_object_get(m, "host"));
	CHECK(result_save(doc, path) == 0);
	back = json_load_file(path, 0, NULL);
	CHECK(back && json_equal(back, doc));
	CHECK(back && json_is_null(json_object_get(json_object_get(back, "metrics"), "probe_ratio")));
	CHECK(result_save(NULL, path) == -1);
	json_decref(back);
	json_decref(doc);
	unlink(path);
	rmdir(dir);
	derived_cpu_per_page();
	if (!unit_failures)
		fprintf(stderr, "# item 12: a NaN metric is recorded as null and run.json is written\n");
	UNIT_DONE();
}
