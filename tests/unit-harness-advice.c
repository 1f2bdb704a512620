/* Unit tests for harness/advice.c: each of doctor's configuration rules
 * fires on the facts it is about, and only then. */
#include <string.h>

#include "advice.h"
#include "unit.h"

/* Whether advise(f) gives exactly the rules listed (NULL-terminated). */
static int gives(const struct host_facts *f, const char *const want[])
{
	json_t *out = json_array();
	size_t i, n = 0;
	int ok;

	advise(f, out);
	for (; want[n]; n++)
		;
	ok = json_array_size(out) == n;
	for (i = 0; ok && i < n; i++) {
		const char *rule = json_string_value(json_object_get(json_array_get(out, i), "rule"));
		const char *msg = json_string_value(json_object_get(json_array_get(out, i), "message"));

		ok = rule && !strcmp(rule, want[i]) && msg && strlen(msg) > 20;
	}
	json_decref(out);
	return ok;
}

int main(void)
{
	const struct host_facts quiet = { .swappiness = 60, .page_cluster = 3, .fail_swap_on = true };
	struct host_facts f;

	CHECK(gives(&quiet, (const char *const[]){ NULL }));

	f = quiet;
	f.swap_active = f.zram_swap = f.zswap_enabled = true;
	CHECK(gives(&f, (const char *const[]){ "double_compression", "swappiness_ram_tier",
					       "page_cluster_zram", NULL }));
	f.swappiness = 100;
	f.page_cluster = 0;
	CHECK(gives(&f, (const char *const[]){ "double_compression", NULL }));
	f.zram_swap = false; /* zswap over disk: a RAM-speed tier still */
	f.swappiness = 60;
	CHECK(gives(&f, (const char *const[]){ "swappiness_ram_tier", NULL }));
	f.swappiness = -1; /* unknown: no advice */
	CHECK(gives(&f, (const char *const[]){ NULL }));

	f = quiet;
	f.kubelet = true;
	CHECK(gives(&f, (const char *const[]){ NULL })); /* no swap on */
	f.swap_active = true;
	CHECK(gives(&f, (const char *const[]){ "kubelet_fail_swap_on", NULL }));
	f.fail_swap_on = false;
	CHECK(gives(&f, (const char *const[]){ NULL }));

	f = quiet;
	f.desktop = true;
	CHECK(gives(&f, (const char *const[]){ "desktop_oom_daemon", NULL }));
	f.oom_daemon = true;
	CHECK(gives(&f, (const char *const[]){ NULL }));
	UNIT_DONE();
}
