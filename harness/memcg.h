/* Memory cgroups for workloads, on cgroup v2 (preferred) or v1: find the
 * hierarchy with the memory controller, create a limited cgroup (journaled,
 * so that a crash still removes it and kills what runs in it), keep its
 * statistics fresh while a workload runs in it, read its OOM kills.  The C
 * twin of tests/functions.sh's memcg_* helpers. */
#ifndef SWAPBENCH_MEMCG_H
#define SWAPBENCH_MEMCG_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal.h"

struct memcg_root {
	int version;		/* 2 or 1 */
	char root[PATH_MAX];	/* mount point of that hierarchy */
};

/* Picks the memory hierarchy from a /proc/mounts text: the first cgroup2
 * mount whose controllers (controllers(mnt, arg) returns its
 * cgroup.controllers text, or NULL) include "memory", else the first
 * cgroup (v1) mount with the memory option.  0, or -1 when there is none. */
int memcg_pick(const char *mounts, const char *(*controllers)(const char *mnt, void *arg),
	       void *arg, struct memcg_root *out);

/* memcg_pick on this machine's mounts.  0 or -1 (no message). */
int memcg_find(struct memcg_root *out);

/* Creates NAME under the root, limited to limit_bytes of memory with
 * unlimited swap; with zswap false (v2 only) kept out of zswap, so that
 * pages reach the swap device; with throttle, the limit is memory.high
 * (reclaim and throttling; refused on v1, which has none) rather than
 * memory.max, which is then a backstop at twice the limit and 64 MiB.  Enables +memory in the v2 root's
 * subtree_control when needed (journaled too).  The cgroup's directory
 * goes to path.  0 or -1 with a message. */
int memcg_create(struct journal *j, const struct memcg_root *r, const char *name,
		 uint64_t limit_bytes, bool zswap, bool throttle, char *path, size_t len);

/* The cgroup's OOM kills so far (memory.events or memory.oom_control). */
int memcg_oom_kills(const struct memcg_root *r, const char *path, uint64_t *kills);

/* How often the flusher reads memory.stat by default (a scenario's
 * [memcg] stat_flush_ms; 0 turns it off).  Measured on the test VM (kernel
 * 6.18, cgroup v1, zram, 2 workers at 1.2x 512 MiB): every 500 ms still
 * OOM-kills within 20 s, every 100 ms does not; half that for margin. */
#define MEMCG_FLUSH_MS 50

/* Keeps the cgroup's memory statistics fresh while a workload runs in it.
 * Reclaim decides from them whether to age the active anon list (the
 * inactive:active ratio, the count of refaults activated), and the kernel
 * flushes them only every 2 s.  Behind a RAM-speed tier most of the
 * workload's pages change lists in 2 s: each one swapped in goes to the
 * active list, nothing ages it, and the cgroup is OOM-killed with all its
 * memory active and swap to spare (RUNBOOK.md, "cgroup v1: why runs were
 * OOM-killed under swap-in").  Reading memory.stat flushes them. */
struct memcg_flusher {
	uint64_t flushes;	/* reads of memory.stat, valid after stop */
	/* private */
	pthread_t thread;
	int fd;			/* memory.stat; -1 when not started */
	unsigned interval_ms;
	bool stop;		/* __atomic */
};

/* Starts a thread that reads path's memory.stat every interval_ms (0:
 * none is started, and the kernel's own 2 s flush is all there is).  0, or
 * -1 with a message (f is then safe to stop). */
int memcg_flusher_start(struct memcg_flusher *f, const char *path, unsigned interval_ms);

/* Stops the thread and closes the file; nothing when it never started. */
void memcg_flusher_stop(struct memcg_flusher *f);

#endif
