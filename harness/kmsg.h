/* The kernel's OOM reports of a run, kept beside its results: read from
 * /dev/kmsg without blocking (records since a moment, by their own
 * timestamps), each report from its "invoked oom-killer" line to its
 * "Killed process" line (and the oom_reaper's that follows), as dmesg
 * prints them.  Try: tests/test-harness-oom-report.sh */
#ifndef SWAPBENCH_KMSG_H
#define SWAPBENCH_KMSG_H

#include <stddef.h>
#include <stdint.h>

/* At most this much of a run's reports is kept (a kill report is 4-8
 * KiB; a run that kills a hundred times keeps the first ones). */
#define KMSG_OOM_MAX_BYTES (256u << 10)

/* Writes the OOM reports the kernel logged at or after SINCE_NS
 * (CLOCK_MONOTONIC, the clock of /dev/kmsg's timestamps) to PATH, a new
 * file (not followed where it is a link; replaced where it is a regular
 * file of ours), one line per record, "[seconds.micro] text".  Returns
 * how many reports it found (0: none, no file written), or -1 with a
 * warning when the log or the file cannot be had. */
int kmsg_save_oom(uint64_t since_ns, const char *path);

/* The same from a buffer holding /dev/kmsg's records, one after another
 * ("PRI,SEQ,USEC,FLAGS;TEXT\n" each, dictionary lines " KEY=VALUE" after
 * the text): appends what kmsg_save_oom would write to out (len bytes,
 * NUL-terminated; *used advances).  Returns the reports found.  Pure, for
 * the unit test. */
int kmsg_oom_filter(const char *records, size_t n, uint64_t since_us, char *out, size_t len,
		    size_t *used);

#endif
