/* The kernel log, its one reader: the tail a hung child's diagnostics
 * print, and the kernel's OOM reports of a run, kept beside its results: /dev/kmsg
 * opened at its end before the workload starts and read without blocking
 * after it ends (by record, so no clock is compared), each report from its
 * "invoked oom-killer" line to its "Killed process" line (and the
 * oom_reaper's that follows) kept when it killed a task of the run's
 * memory cgroup, the lines as /dev/kmsg gives them (non-printing bytes as
 * \xNN) but for a record's own newlines (\x0a), which become lines with the
 * record's time.  Try: tests/test-harness-oom-report.sh */
#ifndef SWAPBENCH_KMSG_H
#define SWAPBENCH_KMSG_H

#include <stddef.h>
#include <stdio.h>

/* The kernel's last N messages to F, indented, as a hung child's
 * diagnostics show them (or why the log cannot be read). */
void kmsg_print_tail(FILE *f, int n);

/* At most this much of a run's reports is kept (a kill report is 4-8
 * KiB; a run that kills many times keeps the first ones). */
#define KMSG_OOM_MAX_BYTES (256u << 10)

/* /dev/kmsg, positioned after its last record: what is read from it later
 * was logged later.  The descriptor (non-blocking), or -1 with a warning
 * (then no report is kept). */
int kmsg_open_end(void);

/* Reads FD (kmsg_open_end's) to its end and writes the reports of OOM
 * kills in the memory cgroup named CGROUP (its last path component: the
 * report's task_memcg= or oom_memcg= ends with /CGROUP) to PATH, a file of
 * root's alone (mode 0600: the log is root's to read; a link there is
 * refused, not followed).  Returns how many reports it kept (0: none, no
 * file written), or -1 with a warning. */
int kmsg_save_oom(int fd, const char *cgroup, const char *path);

/* The same from a buffer of /dev/kmsg records, one after another
 * ("PRI,SEQ,USEC,FLAGS;TEXT\n" each, dictionary lines " KEY=VALUE" after
 * the text; no NUL needed): appends what kmsg_save_oom would write to out
 * (len bytes, NUL-terminated; *used advances).  Returns the reports kept.
 * Pure, for the unit test. */
int kmsg_oom_filter(const char *records, size_t n, const char *cgroup, char *out, size_t len,
		    size_t *used);

#endif
