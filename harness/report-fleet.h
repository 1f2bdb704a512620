/* The fleet report: one scenario run on many hosts (scripts/fleet/ runs it
 * through Slurm or Ansible into results/fleet-ID/HOST/), read back from the
 * hosts' run directories and set side by side: per host and tier the
 * medians of work done, probe p99 and PSI full with their intervals, hosts
 * grouped by fingerprint class (kernel, CPU model, GPU model), a host
 * without a usable run.json listed as failed with the reason.  Every input
 * is data from other machines: opened without following symbolic links,
 * bounded in size, never passed to a shell.
 * Try:
 *   build/swapbench report --out /tmp/fleet tests/fixtures/results/run-a tests/fixtures/results/run-b */
#ifndef SWAPBENCH_REPORT_FLEET_H
#define SWAPBENCH_REPORT_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "stats.h"

/* The metrics of the fleet table and figures, in column order. */
enum { FLEET_WORK, FLEET_P99, FLEET_PSI, FLEET_NMETRICS };

struct fleet_metric {
	const char *key;	/* the run metric (result.h) */
	const char *head;	/* its column in fleet.md */
	const char *short_head;	/* its column on the terminal */
	const char *figure;	/* plots/FIGURE.png and .svg */
	const char *what;	/* the figure's title */
	const char *axis;	/* the figure's y axis, with its unit */
	double scale;		/* the metric's value to the axis unit */
};

extern const struct fleet_metric fleet_metrics[FLEET_NMETRICS];

/* One metric of one host's tier: the median over its valid runs with the
 * bootstrap interval (n of them; n == 0: no value), and the tier's runs. */
struct fleet_stat {
	struct stats_ci ci;
	size_t n, valid, total;
};

struct fleet_host {
	char name[72];		/* the directory's base name, other characters than
				 * [A-Za-z0-9._@+-] as '_' (unique: "~N" added) */
	char *dir;		/* the run directory, as found */
	json_t *doc;		/* its run.json; NULL: the host failed */
	char why[320];		/* a failed host: why */
	char job_state[16];	/* fleet-job.json's "state", "" when none */
	int job_exit;		/* fleet-job.json's "exit_status", -1 when none */
	size_t cls;		/* index into fleet.cls (hosts with a doc) */
	bool in_out;		/* a subdirectory of the report's directory, by name */
	struct fleet_stat *stat;	/* [tier * FLEET_NMETRICS + metric] */
};

/* A fingerprint class: hosts alike in kernel, CPU model and GPU model. */
struct fleet_class {
	char label[8];		/* "A", "B", ... */
	char *kernel, *cpu, *gpu;
};

struct fleet {
	struct fleet_host *host;	/* hosts with a doc by class then name, then the failed */
	size_t nhosts, nok;		/* hosts, of them with a doc (the first nok) */
	struct fleet_class *cls;
	size_t nclasses;
	char **tier;			/* groups (result_group) of every host's runs */
	size_t ntiers;
};

/* Whether DIR is a run directory (has a run.json, whatever it holds). */
bool fleet_is_run_dir(const char *dir);

/* Reads the hosts of DIRS[0..n-1] (each a host's run directory, or a fleet
 * directory whose subdirectories holding a run.json or a fleet-job.json
 * are hosts) into *fl; OUT is the report's directory (for links to the
 * hosts' report.md).  Returns 0, or -1 after a message (allocation, or no
 * host at all); a host that cannot be read is kept, failed, with why. */
int fleet_load(struct fleet *fl, char *const dirs[], size_t n, const char *out);

void fleet_free(struct fleet *fl);

/* Metric M of host H (< nok) in tier T. */
const struct fleet_stat *fleet_stat_of(const struct fleet *fl, size_t h, size_t t, size_t m);

/* swapbench report's fleet form: OUT/fleet.md, the figures in OUT/plots/
 * where gnuplot is, a summary on stdout.  Returns the exit status. */
int report_fleet(char *const dirs[], size_t n, const char *out);

/* Draws the fleet figures (fleet_metrics[].figure, PNG and SVG, with their
 * TSV inputs) into DIR/plots/ (cmd-plot.c).  Returns the figures drawn,
 * 0 when none could be (no gnuplot, no data: said on stderr), -1 after a
 * message. */
int plot_fleet(const struct fleet *fl, const char *dir);

#endif
