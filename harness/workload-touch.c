/* The touch engine: swapbench itself, as `swapbench touch` (cmd-touch.c):
 * workers that pick pages of the working set (random or sequential, of the
 * scenario's compressibility), verify and rewrite them; every page is an
 * op, so the work done never reads 0 while the workload makes progress, and
 * a page that comes back wrong is counted. */
#include <inttypes.h>
#include <stdio.h>

#include "procfs.h"
#include "workload.h"

static int touch_command(struct workload *w)
{
	const struct scenario *sc = w->sc;
	const char *const argv[] = { w->self, "touch", "--bytes", w->args[1], "--workers", w->args[2],
				     "--duration", w->args[3], "--compressibility", sc->compressibility,
				     "--locality", sc->locality, "--seed", w->args[4], "--output",
				     w->result, NULL };
	size_t i;

	if (self_exe(w->self, sizeof w->self) < 0)
		snprintf(w->self, sizeof w->self, "/proc/self/exe");
	snprintf(w->args[1], sizeof w->args[1], "%" PRIu64, w->bytes);
	snprintf(w->args[2], sizeof w->args[2], "%u", sc->workers);
	snprintf(w->args[3], sizeof w->args[3], "%u", sc->duration_s);
	snprintf(w->args[4], sizeof w->args[4], "%" PRIu64, sc->seed);
	snprintf(w->log, sizeof w->log, "%s-touch.log", w->out_prefix);
	snprintf(w->result, sizeof w->result, "%s-touch.json", w->out_prefix);
	for (i = 0; i < sizeof argv / sizeof argv[0]; i++)
		w->argv[i] = argv[i];
	return 0;
}

static void touch_results(const struct workload *w, int64_t *ops, int64_t *mismatches, json_t **doc)
{
	*doc = json_load_file(w->result, 0, NULL);
	*ops = *doc ? json_integer_value(json_object_get(*doc, "ops")) : -1;
	*mismatches = *doc ? json_integer_value(json_object_get(*doc, "mismatches")) : -1;
}

/* Its own log says what failed. */
static void touch_exit_detail(const struct workload *w, int code, char *buf, size_t len)
{
	(void)code;
	snprintf(buf, len, "%s", w->log);
}

const struct workload_ops workload_touch = {
	.name = "touch",
	.title = "swapbench touch",
	.exit_detail = touch_exit_detail,
	.ops_key = "touch_ops",
	.verifies = true,
	.command = touch_command,
	.results = touch_results,
};
