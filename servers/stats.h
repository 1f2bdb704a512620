/* vramd statistics as JSON (jansson): per-command counts, bytes, errors and
 * latency histograms, batch depth, connections, merged over the workers.
 * Keys carry units (_ns, _bytes).  Schema: "vramd-stats" version 1. */
#ifndef VRAMD_STATS_H
#define VRAMD_STATS_H

#include <jansson.h>

#include "server.h"

/* Builds the document from n workers' statistics; caller frees. */
json_t *stats_json(const struct export *ex, struct worker_stats *const *ws, unsigned n,
		   uint64_t start_ns);

/* Writes doc to path atomically (temporary file + rename); -1 after
 * logging on failure. */
int stats_write_file(json_t *doc, const char *path);

#endif
