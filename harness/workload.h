/* A workload engine is an ops table, one per file harness/workload-<name>.c,
 * listed once in WORKLOADS below (a scenario's [workload] engine names
 * one): what command runs the workload in the memory cgroup, and how much
 * work it did, read back from its output afterwards.  To add an engine:
 * write workload-foo.c ending in `const struct workload_ops workload_foo =
 * {...};` and add X(foo) to WORKLOADS. */
#ifndef SWAPBENCH_WORKLOAD_H
#define SWAPBENCH_WORKLOAD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "scenario.h"

#define WORKLOADS(X) X(stress_ng) X(touch)

/* One run of an engine: what it is given and where its files go. */
struct workload {
	const struct workload_ops *ops;
	const struct scenario *sc;
	uint64_t bytes;			/* the working set, all workers together,
					 * whole pages per worker */
	char out_prefix[PATH_MAX];	/* DIR/TAG: its files are DIR/TAG-... */
	/* filled by argv(): the strings its command line points into */
	char self[PATH_MAX];		/* swapbench's own binary */
	char log[PATH_MAX + 32];	/* stdout and stderr */
	char result[PATH_MAX + 32];	/* the engine's own result file */
	char args[8][64];
	const char *argv[32];
};

struct workload_ops {
	const char *name;		/* [workload] engine = NAME */
	const char *title;		/* as a command, in messages ("swapbench touch") */
	const char *ops_key;		/* the metric its work count goes to */
	bool verifies;			/* it checks every page it reads back
					 * (a run's validity weighs mismatches) */
	/* Fills w->argv (and w->log, w->result) for w->bytes over the
	 * scenario's workers.  0, or -1 with a message. */
	int (*command)(struct workload *w);
	/* The work it did (ops, -1 when it wrote none) and, when it checks
	 * what it reads back, the pages that came back wrong (-1 when it does
	 * not, or wrote no result), from its result file.  Its result as JSON goes to *doc (new,
	 * or NULL). */
	void (*results)(const struct workload *w, int64_t *ops, int64_t *mismatches, json_t **doc);
	/* What exit status CODE of the engine means, into buf (one phrase,
	 * or "" when it has nothing to add), for an invalid run's reason. */
	void (*exit_detail)(const struct workload *w, int code, char *buf, size_t len);
};

#define X(n) extern const struct workload_ops workload_##n;
WORKLOADS(X)
#undef X

/* The engine named NAME ("stress-ng", "touch"), or NULL. */
const struct workload_ops *workload_find(const char *name);

/* The engines' names, space separated, for messages. */
const char *workload_names(void);

#endif
