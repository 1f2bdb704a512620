/* swapbench's subcommands, one harness/cmd-<name>.c each with its own
 * getopt_long table and usage text, listed once in COMMANDS (which drives
 * dispatch and `swapbench --help`).  Each takes argv with argv[0] the
 * command's name and returns the exit status: 0 success, 1 failure or
 * refusal, 2 usage error, 128+N after signal N. */
#ifndef SWAPBENCH_CMD_H
#define SWAPBENCH_CMD_H

struct journal;

#define COMMANDS(X) \
	X(list, "list tiers or scenarios") \
	X(doctor, "what this host can run, and configuration advice") \
	X(tier, "set up, show or tear down one tier by hand") \
	X(restore, "undo every change recorded in the journal") \
	X(run, "run a scenario on each tier: pressure, sampling, probes, result JSON") \
	X(compare, "compare two result documents run by run: the CI gate") \
	X(calibrate, "run-to-run variation from A/A halves, and thresholds") \
	X(plot, "draw a run's figures (PNG and SVG) with gnuplot") \
	X(report, "write a run's report.md: table, figures, fingerprint") \
	X(touch, "the built-in workload: checked pages of declared compressibility")

#define X(n, summary) int cmd_##n(int argc, char **argv);
COMMANDS(X)
#undef X

/* Refuses (1, with a message naming the fix) unless running as root. */
int require_root(const char *what);

/* Restores an interrupted run's journal (one whose swapbench died) before a
 * command changes anything; a journal holding a kept tier is left alone.
 * j must be open (journal_open).  Returns 0, or -1 with a message when
 * the restore failed. */
int recover_journal(struct journal *j);

/* Usage error: prints "MSG" and "Try 'swapbench CMD --help'"; returns 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
