/* What every part of vramd shares: the export being served and the
 * per-worker statistics.  The export is filled in by vramd.c at start-up
 * and read-only afterwards. */
#ifndef VRAMD_SERVER_H
#define VRAMD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "histogram.h"

#define VRAMD_MIN_BLOCK   1u
#define VRAMD_PREF_BLOCK  4096u
#define VRAMD_MAX_BLOCK   (32u << 20)
#define VRAMD_MAX_OPTION  (64u << 10) /* largest option payload read */

struct export {
	const char *name;        /* "" also selects it */
	const char *description; /* may be NULL */
	uint64_t size;
	bool read_only;
	uint16_t tflags;         /* transmission flags sent to clients */
	const struct backend_ops *ops;
	void *backend;           /* ops->create() result */
};

/* Fills tflags from read_only. */
void export_init_flags(struct export *ex);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* Tells the CPU that the caller is spinning. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Commands counted in statistics; STAT_OTHER collects invalid ones. */
#define STAT_COMMANDS(X) X(read) X(write) X(flush) X(trim) X(write_zeroes) X(disc) X(other)
enum stat_cmd {
#define X(n) STAT_##n,
	STAT_COMMANDS(X)
#undef X
	STAT_NCMD
};

struct cmd_stats {
	uint64_t count;
	uint64_t bytes;
	uint64_t errors;
	struct histogram latency_ns;
};

/* One per worker, written only by its worker, read racily by the stats
 * dump (see histogram.h for why that is safe). */
struct worker_stats {
	struct cmd_stats cmd[STAT_NCMD];
	struct histogram inflight;   /* requests serviced together per batch */
	uint64_t connections_total;
	uint64_t connections_current;
	uint64_t protocol_errors;    /* connections closed for bad framing */
	uint64_t busy_poll_hits;     /* rounds whose work came while polling */
};

#endif
