/* Unit tests for harness/result.c's writing (issue #20, item 12): a metric
 * that comes out NaN or infinite is recorded as null with a warning naming
 * it, a value JSON cannot hold is left out with the rest kept, and the
 * document is written whole (read back, same keys). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "result.h"
#include "unit.h"

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
	if (!unit_failures)
		fprintf(stderr, "# item 12: a NaN metric is recorded as null and run.json is written\n");
	UNIT_DONE();
}
