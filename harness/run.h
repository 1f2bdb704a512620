/* Child processes, each under a timeout: external commands (swapon,
 * mkswap, losetup, nbd-client...), daemons (nbdfuse) and the workload.
 * Nothing is waited on forever: a child that outlives its timeout gets
 * SIGTERM, then SIGKILL, and one that survives even that (stuck in the
 * kernel, D state) is reported with diagnostics (/proc/PID/stack of every
 * D-state task, the kernel log's tail) and left behind.  Every command run
 * is recorded with its exit status in run_log (for result documents).
 * Try: build/tests/unit-harness-run */
#ifndef SWAPBENCH_RUN_H
#define SWAPBENCH_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* Timeouts of the commands swapbench runs, in seconds. */
#define TIMEOUT_QUICK_S   30	/* losetup, mkswap, modprobe, fusermount3, nbd-client */
#define TIMEOUT_SWAPON_S  60
#define TIMEOUT_SWAPOFF_S 300	/* every page comes back into RAM */
#define TIMEOUT_DAEMON_S  30	/* a daemon until it is ready */

enum {
	RUN_QUIET = 1,		/* no message for a non-zero exit (the caller judges) */
	RUN_DRY = 2,		/* print "would run: ..." and succeed without running */
};

struct run_result {
	int exit_code;		/* 0..255, or 128+signal; -1 when it did not end */
	bool timed_out;		/* outlived its timeout (then killed) */
	bool hung;		/* survived SIGKILL: still running, not reaped */
	char out[2048];		/* the start of its stdout+stderr, NUL-terminated */
};

/* Set by the SIGINT/SIGTERM/SIGHUP handler (sig_install): the signal
 * number, 0 when none came.  Long waits return early when it is set. */
extern volatile sig_atomic_t sig_pending;

/* Installs handlers that only set sig_pending (no SA_RESTART: blocking
 * calls return EINTR), and ignores SIGPIPE. */
void sig_install(void);

/* Every command run so far: [{"argv": "...", "exit_code": N, "elapsed_ns":
 * N, "timed_out": bool}].  Owned here; never NULL after the first run. */
extern json_t *run_log;

/* Runs ARGV (argv[0] looked up in PATH) with stdin from /dev/null and
 * stdout+stderr captured, in a process group of its own (a ^C at the
 * terminal reaches swapbench, which decides).  Returns 0 when it exited 0;
 * otherwise reports once ("'CMD' exited with status N: OUTPUT", or the
 * timeout with diagnostics) and returns -1.  With RUN_QUIET a non-zero exit
 * is not reported (timeouts still are).  r may be NULL. */
int run(const char *const argv[], int timeout_s, unsigned flags, struct run_result *r);

/* Formats ARGV as a shell-like line into buf (for messages and dry runs). */
const char *argv_str(const char *const argv[], char *buf, size_t len);

/* Starts ARGV as a daemon: double fork, new session, stdin /dev/null,
 * stdout and stderr appended to LOG.  Returns the daemon's pid (a child of
 * init, not ours), or -1 with a message. */
pid_t spawn_daemon(const char *const argv[], const char *log);

/* Starting a child that swapbench waits for itself (the workload). */
struct child_opts {
	const char *cgroup_procs;	/* write the child's pid here before exec (NULL: none) */
	bool own_pgrp;			/* setpgid(0, 0) */
	const char *output;		/* stdout and stderr appended here (NULL: inherited) */
};

/* Forks and execs ARGV (stdio inherited unless o->output).  Returns the pid or -1 with a
 * message; an exec failure makes the child exit 127 after a message. */
pid_t child_start(const char *const argv[], const struct child_opts *o);

/* Waits up to timeout_ms for PID (our child) to end, calling tick(arg)
 * about every tick_ms meanwhile.  Returns 1 and the wait status in *status
 * when it ended, 0 on timeout, 2 when sig_pending became set, -1 on error. */
int child_wait(pid_t pid, int timeout_ms, int tick_ms, void (*tick)(void *), void *arg, int *status);

/* How long a child gets to end after SIGKILL before it is given up on. */
#define REAP_DEADLINE_MS 5000

/* A child from start to end: child_start, child_wait up to timeout_ms
 * (tick as there), and when it does not end by itself (a timeout, a signal
 * for swapbench, a failed wait) child_reap: its process group when
 * o->own_pgrp, given reap_ms, named WHAT in messages.  Returns child_wait's
 * answer: 1 it ended (*status), 0 it timed out, 2 sig_pending became set
 * (both killed, *status), -1 it could not be started or waited for
 * (reported); *hung is true when a killed child would not go (no *status:
 * stuck in the kernel, reported with diagnostics and left behind).  The one
 * way swapbench runs a child it waits for. */
int child_run(const char *const argv[], const struct child_opts *o, int timeout_ms, int tick_ms,
	      void (*tick)(void *), void *arg, int reap_ms, const char *what, int *status, bool *hung);

/* Ends our child PID for good: SIGKILL to its process group (GROUP: PID
 * leads one) or to PID alone, then waits up to deadline_ms for it, whatever
 * sig_pending says.  Returns 0 with its wait status in *status; -1 when it
 * has not ended by then (stuck in the kernel: D state on a dead device),
 * reported once naming WHY, with hang_report's diagnostics, and left
 * behind.  The one way swapbench waits for a killed child. */
int child_reap(pid_t pid, bool group, int deadline_ms, const char *why, int *status);

/* Prints the diagnostics for a hung tier to stderr: every task in D state
 * with its /proc/PID/stack and wchan, and the last lines of the kernel log. */
void hang_report(const char *what);

/* Moves the calling process into the cgroup whose cgroup.procs is PROCS;
 * async-signal-safe (for a child between fork and exec).  0, or -1 with
 * errno set. */
int join_cgroup(const char *procs);

/* A command's argv as a JSON array of strings (for a document's
 * "children"): a new reference. */
json_t *argv_json(const char *const argv[]);

/* Whether NAME is an executable in $PATH (or, with a '/', that file). */
bool have_command(const char *name);

/* The first line of what ARGV (a --version call) prints, as a JSON
 * string; JSON null when the command is missing or fails (a document's
 * tool_versions).  A new reference. */
json_t *command_version(const char *const argv[]);

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mono_ns(void);

/* Sleeps ms milliseconds, returning early (true) when sig_pending is set. */
bool sleep_ms(int ms);

#endif
