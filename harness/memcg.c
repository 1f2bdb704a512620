/* Memory cgroups for workloads: see memcg.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "memcg.h"
#include "procfs.h"

int memcg_pick(const char *mounts, const char *(*controllers)(const char *mnt, void *arg),
	       void *arg, struct memcg_root *out)
{
	struct mount_entry m;
	const char *p = mounts;

	while (mounts_next(&p, &m)) {
		const char *c;

		if (strcmp(m.type, "cgroup2"))
			continue;
		c = controllers(m.dir, arg);
		if (c && word_in(c, "memory")) {
			out->version = 2;
			snprintf(out->root, sizeof out->root, "%s", m.dir);
			return 0;
		}
	}
	p = mounts;
	while (mounts_next(&p, &m)) {
		if (!strcmp(m.type, "cgroup") && opt_has(m.opts, "memory")) {
			out->version = 1;
			snprintf(out->root, sizeof out->root, "%s", m.dir);
			return 0;
		}
	}
	return -1;
}

static const char *live_controllers(const char *mnt, void *arg)
{
	char path[PATH_MAX];
	char *buf = arg;

	snprintf(path, sizeof path, "%s/cgroup.controllers", mnt);
	return read_text(path, buf, 512) < 0 ? NULL : buf;
}

int memcg_find(struct memcg_root *out)
{
	char *mounts = read_all("/proc/self/mounts");
	char buf[512];
	int rc;

	if (!mounts)
		return -1;
	rc = memcg_pick(mounts, live_controllers, buf, out);
	free(mounts);
	return rc;
}

/* Writes VALUE to the cgroup's FILE; the cgroup is ours and goes away with
 * its journal entry, so its own files need no undo of their own. */
static int cg_set(struct journal *j, const char *cg, const char *file, const char *value)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", cg, file);
	if (j->dry_run) {
		printf("would: write '%s' to '%s'\n", value, path);
		return 0;
	}
	return write_text(path, value, false);
}

int memcg_create(struct journal *j, const struct memcg_root *r, const char *name,
		 uint64_t limit_bytes, bool zswap, bool throttle, char *path, size_t len)
{
	char limit[32], sc[PATH_MAX], file[PATH_MAX], ctl[512];

	snprintf(path, len, "%s/%s", r->root, name);
	snprintf(limit, sizeof limit, "%" PRIu64, limit_bytes);
	if (r->version == 2) {
		/* Children get memory.max only when the parent delegates memory. */
		if (pathf(sc, sizeof sc, "%s/cgroup.subtree_control", r->root) < 0)
			return -1;
		if (read_text(sc, ctl, sizeof ctl) < 0) {
			error("cannot read '%s': %m", sc);
			return -1;
		}
		if (!word_in(ctl, "memory")) {
			if (change_on_undo_write(j, sc, "-memory") < 0)
				return -1;
			if (j->dry_run)
				printf("would: write '+memory' to '%s'\n", sc);
			else if (write_text(sc, "+memory", false) < 0)
				return -1;
		}
	}
	if (throttle && r->version != 2) {
		error("memcg.mode=high needs cgroup v2's memory.high; this host's memory controller is "
		      "cgroup v1's (memory.limit_in_bytes only)");
		return -1;
	}
	if (change_cgroup(j, path) < 0)
		return -1;
	if (r->version == 1)
		return cg_set(j, path, "memory.limit_in_bytes", limit);
	if (cg_set(j, path, throttle ? "memory.high" : "memory.max", limit) < 0)
		return -1;
	if (throttle) {
		/* A ceiling all the same: memory.high throttles but never
		 * stops growth, and pressure stays inside a limited cgroup.
		 * Twice the limit and 64 MiB: what memory.high lets a workload
		 * overshoot by is a small share of it. */
		char max[32];

		snprintf(max, sizeof max, "%" PRIu64, limit_bytes * 2 + ((uint64_t)64 << 20));
		if (cg_set(j, path, "memory.max", max) < 0)
			return -1;
	}
	snprintf(file, sizeof file, "%s/memory.swap.max", path);
	if ((j->dry_run || access(file, F_OK) == 0) && cg_set(j, path, "memory.swap.max", "max") < 0)
		return -1;
	snprintf(file, sizeof file, "%s/memory.zswap.max", path);
	if (!zswap && (j->dry_run || access(file, F_OK) == 0) &&
	    cg_set(j, path, "memory.zswap.max", "0") < 0)
		return -1;
	return 0;
}

int memcg_oom_kills(const struct memcg_root *r, const char *path, uint64_t *kills)
{
	char file[PATH_MAX], buf[2048];

	snprintf(file, sizeof file, "%s/%s", path,
		 r->version == 2 ? "memory.events" : "memory.oom_control");
	*kills = 0;
	if (read_text(file, buf, sizeof buf) < 0)
		return -1;
	return kv_u64(buf, "oom_kill", kills);
}

static void *flusher_main(void *arg)
{
	struct memcg_flusher *f = arg;
	struct timespec next;
	char buf[4096];

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		/* The read is the point (it flushes); what it says is not. */
		if (pread(f->fd, buf, sizeof buf, 0) >= 0)
			f->flushes++;
		next.tv_nsec += (long)f->interval_ms * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return NULL;
}

int memcg_flusher_start(struct memcg_flusher *f, const char *path, unsigned interval_ms)
{
	char file[PATH_MAX];
	int err;

	*f = (struct memcg_flusher){ .fd = -1, .interval_ms = interval_ms };
	if (!interval_ms)
		return 0;
	if (pathf(file, sizeof file, "%s/memory.stat", path) < 0)
		return -1;
	f->fd = open(file, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		error("cannot open '%s': %m", file);
		return -1;
	}
	err = pthread_create(&f->thread, NULL, flusher_main, f);
	if (err) {
		errno = err;
		error("cannot start the memory.stat flusher: %m");
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	return 0;
}

void memcg_flusher_stop(struct memcg_flusher *f)
{
	if (f->fd < 0)
		return;
	__atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
	pthread_join(f->thread, NULL);
	close(f->fd);
	f->fd = -1;
}
