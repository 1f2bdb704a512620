/* The stress-ng engine: `stress-ng --vm` over the working set, keeping its
 * memory (--vm-keep), no madvise, OOM-killable; its --vm bogo ops (whole
 * passes over a worker's buffer, 0 on a slow tier) are the work done. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"
#include "workload.h"

static int stress_ng_command(struct workload *w)
{
	const struct scenario *sc = w->sc;
	const char *const argv[] = { "stress-ng", "--vm", w->args[0], "--vm-bytes", w->args[1],
				     "--vm-method", w->args[2], "--vm-keep", "--no-madvise", "--oomable",
				     "--seed", w->args[3], "--timeout", w->args[4], "--metrics-brief",
				     "--yaml", w->result, NULL };
	size_t i;

	snprintf(w->args[0], sizeof w->args[0], "%u", sc->workers);
	/* stress-ng 0.15 splits --vm-bytes among the --vm workers: pass the
	 * total, which each worker divides.  XXX: newer stress-ng gives each
	 * worker --vm-bytes; check the version when it changes. */
	snprintf(w->args[1], sizeof w->args[1], "%" PRIu64, w->bytes);
	snprintf(w->args[2], sizeof w->args[2], "%s", sc->method);
	snprintf(w->args[3], sizeof w->args[3], "%" PRIu64, sc->seed);
	snprintf(w->args[4], sizeof w->args[4], "%us", sc->duration_s);
	snprintf(w->log, sizeof w->log, "%s-stress-ng.log", w->out_prefix);
	snprintf(w->result, sizeof w->result, "%s-stress-ng.yaml", w->out_prefix);
	for (i = 0; i < sizeof argv / sizeof argv[0]; i++)
		w->argv[i] = argv[i];
	return 0;
}

/* Sums the "bogo-ops: N" lines of stress-ng's --yaml output. */
static void stress_ng_results(const struct workload *w, int64_t *ops, int64_t *mismatches, json_t **doc)
{
	char *text = read_all(w->result), *line, *save = NULL, *p;
	int64_t sum = 0;
	bool any = false;

	*ops = -1;
	*mismatches = -1;
	*doc = NULL;
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		p = line + strspn(line, " -");
		if (!strncmp(p, "bogo-ops:", 9)) {
			sum += strtoll(p + 9, NULL, 10);
			any = true;
		}
	}
	free(text);
	*ops = any ? sum : -1;
}

/* stress-ng's documented exit statuses that say more than "failed". */
static void stress_ng_exit_detail(const struct workload *w, int code, char *buf, size_t len)
{
	(void)w;
	snprintf(buf, len, "%s", code == 3 ? "out of resources" :
		 code == 7 ? "stressor killed or failed" : "");
}

const struct workload_ops workload_stress_ng = {
	.name = "stress-ng",
	.title = "stress-ng",
	.exit_detail = stress_ng_exit_detail,
	.ops_key = "stressng_bogo_ops",
	.command = stress_ng_command,
	.results = stress_ng_results,
};
