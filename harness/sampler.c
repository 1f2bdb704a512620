/* The sampler thread: see sampler.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "parse.h"
#include "procfs.h"
#include "run.h"
#include "sampler.h"
#include "tier.h"

int psi_total(const char *text, const char *which, uint64_t *us)
{
	const char *line = text, *p, *end;
	size_t n = strlen(which);
	char *e;

	while (line && *line) {
		end = strchr(line, '\n');
		if (!strncmp(line, which, n) && line[n] == ' ') {
			for (p = line + n; p && (!end || p < end); p = strchr(p + 1, ' ')) {
				if (!strncmp(p, " total=", 7)) {
					errno = 0;
					*us = strtoull(p + 7, &e, 10);
					if (errno || e == p + 7 || (*e && *e != '\n' && *e != ' '))
						return -1;
					return 0;
				}
			}
			return -1;
		}
		line = end ? end + 1 : NULL;
	}
	return -1;
}

static int open_ro(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* pread of a kept-open file into buf; the length or -1. */
static ssize_t reread(int fd, char *buf, size_t len)
{
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Writes every "key value" line of TEXT whose value is a number. */
static void emit_kv(struct sampler *s, uint64_t t, const char *source, const char *text)
{
	char key[128], val[128];
	const char *pos = text;

	if (!s->out)
		return;
	while (kv_next(&pos, key, sizeof key, val, sizeof val))
		fprintf(s->out, "%" PRIu64 "\t%s\t%s\t%s\n", t, source, key, val);
}

static void emit_psi(struct sampler *s, uint64_t t, const char *source, const char *text,
		     uint64_t *some, uint64_t *full)
{
	if (psi_total(text, "some", some) == 0 && s->out)
		fprintf(s->out, "%" PRIu64 "\t%s\tsome_total_us\t%" PRIu64 "\n", t, source, *some);
	if (psi_total(text, "full", full) == 0 && s->out)
		fprintf(s->out, "%" PRIu64 "\t%s\tfull_total_us\t%" PRIu64 "\n", t, source, *full);
}

/* A cgroup file of one number (memory.current, memory.zswap.current): the
 * number, then a newline.  0, or -1 for anything else. */
static int cg_number(char *text, uint64_t *v)
{
	char *nl = strchr(text, '\n');
	int rc;

	if (!nl || nl[1])
		return -1;
	*nl = '\0';
	rc = parse_uint(text, 0, UINT64_MAX, v);
	*nl = '\n';
	return rc;
}

/* --- the timer table ------------------------------------------------------------- */

static char buf[1 << 16];	/* the sampler thread's only */

static void sample_fast(struct sampler *s)
{
	struct sampler_totals now = { .t_ns = mono_ns() };
	uint64_t some = 0, full = 0, dt;

	if (reread(s->fd_vmstat, buf, sizeof buf) > 0) {
		kv_u64(buf, "pswpin", &now.pswpin);
		kv_u64(buf, "pswpout", &now.pswpout);
		kv_u64(buf, "zswpin", &now.zswpin);
		kv_u64(buf, "zswpout", &now.zswpout);
		kv_u64(buf, "zswpwb", &now.zswpwb);
		emit_kv(s, now.t_ns, "vmstat", buf);
	}
	if (reread(s->fd_psi_mem, buf, sizeof buf) > 0) {
		emit_psi(s, now.t_ns, "psi_memory", buf, &some, &full);
		now.some_us = some;
		now.full_us = full;
	}
	if (reread(s->fd_psi_io, buf, sizeof buf) > 0)
		emit_psi(s, now.t_ns, "psi_io", buf, &some, &full);
	s->cg_psi_ok = false;
	if (reread(s->fd_cg_psi, buf, sizeof buf) > 0) {
		emit_psi(s, now.t_ns, "cg_memory.pressure", buf, &now.some_us, &now.full_us);
		s->cg_psi_ok = psi_total(buf, "some", &s->cg_some_us) == 0 &&
			       psi_total(buf, "full", &s->cg_full_us) == 0;
	}

	/* zswap's pool charged to the cgroup (v2), on every round, into the
	 * series too (sample_cgroup leaves it out): it can fill the limit and
	 * be OOM-killed within under a second. */
	if (s->fd_cg_zswap >= 0 && reread(s->fd_cg_zswap, buf, sizeof buf) > 0) {
		uint64_t v;

		if (cg_number(buf, &v) == 0) {
			if (v > s->cg_zswap_peak_bytes)
				s->cg_zswap_peak_bytes = v;
			if (s->out)
				fprintf(s->out, "%" PRIu64 "\tcg_memory.zswap.current\tvalue\t%" PRIu64 "\n",
					now.t_ns, v);
		}
	}
	/* Until the workload fills its cgroup: memory.current or
	 * memory.usage_in_bytes on every round. */
	if (s->fill_bytes && !s->filled_t_ns && reread(s->fd_cg[0], buf, sizeof buf) > 0) {
		uint64_t v;

		if (cg_number(buf, &v) == 0 && v >= s->fill_bytes)
			s->filled_t_ns = now.t_ns;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->samples) {
		s->first = now;
	} else {
		/* An interval at least half stalled (all tasks) extends the episode. */
		dt = now.t_ns - s->last.t_ns;
		if (now.full_us >= s->last.full_us && (now.full_us - s->last.full_us) * 1000 * 2 >= dt) {
			s->stall_run_ns += dt;
			if (s->stall_run_ns > s->longest_stall_ns)
				s->longest_stall_ns = s->stall_run_ns;
		} else {
			s->stall_run_ns = 0;
		}
	}
	s->last = now;
	s->samples++;
	pthread_mutex_unlock(&s->lock);
	/* On the second, measured from the first sample: an absolute grid. */
	if (s->secs && s->nsecs < SAMPLER_SECS_MAX &&
	    now.t_ns - s->first.t_ns >= (uint64_t)s->nsecs * 1000000000ULL)
		s->secs[s->nsecs++] = now;
}

static void sample_meminfo(struct sampler *s)
{
	uint64_t total, free_kib;

	if (reread(s->fd_meminfo, buf, sizeof buf) <= 0)
		return;
	s->swap_known = kv_u64(buf, "SwapTotal", &total) == 0 && kv_u64(buf, "SwapFree", &free_kib) == 0;
	if (s->swap_known) {
		s->swap_total_bytes = total * 1024;
		s->swap_free_bytes = free_kib * 1024;
	}
	emit_kv(s, mono_ns(), "meminfo", buf);
}

/* One sample of the OOM daemons' series: the cgroup's PSI as the last fast
 * round read it, and memory with the cgroup as the machine (its usage in
 * USAGE, read now; usage_known false: unknown). */
static void oom_sample_add(struct sampler *s, uint64_t t, bool usage_known, uint64_t usage)
{
	struct oom_sample *o;

	if (!s->limit_bytes)
		return;
	if (s->noom == s->oom_cap) {
		size_t cap = s->oom_cap ? s->oom_cap * 2 : 1024;
		struct oom_sample *more = cap <= 4 * SAMPLER_SECS_MAX ?
			realloc(s->oom, cap * sizeof *more) : NULL;

		if (!more)
			return;	/* two hours at 2 Hz kept; beyond that, not judged */
		s->oom = more;
		s->oom_cap = cap;
	}
	o = &s->oom[s->noom++];
	*o = (struct oom_sample){ .t_ns = t, .psi_known = s->cg_psi_ok, .some_us = s->cg_some_us,
				  .full_us = s->cg_full_us };
	if (usage_known && s->swap_known) {
		o->mem_known = true;
		o->mem_total_bytes = s->limit_bytes;
		o->mem_available_bytes = usage < s->limit_bytes ? s->limit_bytes - usage : 0;
		o->swap_total_bytes = s->swap_total_bytes;
		o->swap_free_bytes = s->swap_free_bytes;
	}
}

static void sample_cgroup(struct sampler *s)
{
	uint64_t t = mono_ns(), usage = 0;
	bool usage_known = false;
	char src[64];
	int i;

	for (i = 0; i < 6; i++) {
		if (s->fd_cg[i] == s->fd_cg_zswap || reread(s->fd_cg[i], buf, sizeof buf) <= 0)
			continue;	/* memory.zswap.current: every fast round */
		snprintf(src, sizeof src, "cg_%s", s->cg_name[i]);
		/* names[0]: memory.current (v2) or memory.usage_in_bytes (v1). */
		if (i == 0)
			usage_known = cg_number(buf, &usage) == 0;
		/* What zswap charged the cgroup, and for how much it held:
		 * whether it compressed what it kept (v2). */
		if (s->cgroup_version == 2 && !strcmp(s->cg_name[i], "memory.stat")) {
			uint64_t zswap, zswapped;

			if (kv_u64(buf, "zswap", &zswap) == 0 && kv_u64(buf, "zswapped", &zswapped) == 0 &&
			    zswap > s->cg_stat_zswap_bytes) {
				s->cg_stat_zswap_bytes = zswap;
				s->cg_stat_zswapped_bytes = zswapped;
			}
		}
		if (strchr(buf, ' '))
			emit_kv(s, t, src, buf);
		else if (s->out)
			fprintf(s->out, "%" PRIu64 "\t%s\tvalue\t%s\n", t, src, strtok(buf, "\n"));
	}
	oom_sample_add(s, t, usage_known, usage);
}

/* The tier's counters(), flattened: "tier" source, "a.b" keys, numbers only. */
static void emit_json(struct sampler *s, uint64_t t, const char *prefix, json_t *o)
{
	const char *k;
	json_t *v;
	char key[256];

	json_object_foreach(o, k, v) {
		snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
		if (json_is_object(v))
			emit_json(s, t, key, v);
		else if (json_is_integer(v))
			fprintf(s->out, "%" PRIu64 "\ttier\t%s\t%" JSON_INTEGER_FORMAT "\n", t, key,
				json_integer_value(v));
	}
}

/* Each level's counters(): a stack's keyed "levelN." (N from 0, the
 * highest priority), a single tier's as they come. */
static void sample_tier(struct sampler *s)
{
	json_t *o, *c, *sw, *wr;
	uint64_t orig, held, t;
	unsigned i;
	char prefix[16] = "";

	if (!s->stack)
		return;
	for (i = 0; i < s->stack->n; i++) {
		const struct tier *lv = &s->stack->lv[i];

		if (!lv->ops->counters)
			continue;
		o = json_object();
		lv->ops->counters(lv, o);
		t = mono_ns();
		c = json_object_get(o, "compression");
		orig = (uint64_t)json_integer_value(json_object_get(c, "orig_bytes"));
		if (orig > s->comp_orig_bytes) {
			s->comp_orig_bytes = orig;
			s->comp_stored_bytes = (uint64_t)json_integer_value(json_object_get(c, "stored_bytes"));
		}
		sw = json_object_get(json_object_get(o, "swaps"), "used_bytes");
		held = sw ? (uint64_t)json_integer_value(sw) : orig;
		if (held > s->level_peak_bytes[i])
			s->level_peak_bytes[i] = held;
		wr = json_object_get(json_object_get(o, "block_stat"), "write_bytes");
		if (json_is_integer(wr)) {
			/* (A device under zswap holds a slot for every page zswap
			 * keeps: what it took is what was written to it.) */
			if (s->level_writes0[i] < 0)
				s->level_writes0[i] = json_integer_value(wr);
			else if (!s->level_first_t_ns[i] &&
				 json_integer_value(wr) - s->level_writes0[i] >= (1 << 20))
				s->level_first_t_ns[i] = t;
		} else if (held >= (1ULL << 20) && !s->level_first_t_ns[i]) {
			s->level_first_t_ns[i] = t;
		}
		if (s->stack->n > 1)
			snprintf(prefix, sizeof prefix, "level%u", i);
		if (s->out)
			emit_json(s, t, prefix, o);
		json_decref(o);
	}
}

struct timer {
	const char *name;
	unsigned every;		/* in rounds of interval_ms */
	void (*fn)(struct sampler *s);
};

static const struct timer timers[] = {
	{ "vmstat+psi", 1, sample_fast },
	{ "meminfo", 5, sample_meminfo },
	{ "cgroup", 5, sample_cgroup },
	{ "tier", 10, sample_tier },
};

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	struct timespec next;
	struct rusage ru;
	uint64_t t0 = mono_ns(), round;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (round = 0; ; round++) {
		bool last = s->stop;

		for (i = 0; i < sizeof timers / sizeof timers[0]; i++)
			if (last || round % timers[i].every == 0)
				timers[i].fn(s);
		if (last)
			break;
		/* An absolute schedule: a slow round does not shift later ones. */
		next.tv_nsec += (long)s->interval_ms * 1000000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	if (getrusage(RUSAGE_THREAD, &ru) == 0)
		s->cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
			    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	s->wall_ns = mono_ns() - t0;
	return NULL;
}

int sampler_start(struct sampler *s)
{
	static const char *const v2[] = { "memory.current", "memory.swap.current", "memory.stat",
					  "memory.events", "memory.zswap.current", NULL };
	static const char *const v1[] = { "memory.usage_in_bytes", "memory.memsw.usage_in_bytes",
					  "memory.stat", "memory.oom_control", "memory.failcnt", NULL };
	const char *const *names = s->cgroup_version == 2 ? v2 : v1;
	char path[PATH_MAX];
	int i;

	s->nsecs = 0;
	s->secs = calloc(SAMPLER_SECS_MAX, sizeof *s->secs);
	if (!s->secs) {
		error("out of memory for the sampler's windows");
		return -1;
	}
	s->fd_vmstat = open_ro("/proc/vmstat");
	s->fd_psi_mem = open_ro("/proc/pressure/memory");
	s->fd_psi_io = open_ro("/proc/pressure/io");
	s->fd_meminfo = open_ro("/proc/meminfo");
	s->fd_cg_psi = -1;
	for (i = 0; i < 6; i++)
		s->fd_cg[i] = -1;
	s->fd_cg_zswap = -1;
	if (s->fd_vmstat < 0) {
		error("cannot open '/proc/vmstat': %m");
		goto fail;
	}
	if (s->cgroup) {
		if (s->cgroup_version == 2 &&
		    snprintf(path, sizeof path, "%s/memory.pressure", s->cgroup) < (int)sizeof path)
			s->fd_cg_psi = open_ro(path);
		for (i = 0; names[i]; i++) {
			s->cg_name[i] = names[i];
			if (snprintf(path, sizeof path, "%s/%s", s->cgroup, names[i]) < (int)sizeof path)
				s->fd_cg[i] = open_ro(path);
			if (!strcmp(names[i], "memory.zswap.current"))
				s->fd_cg_zswap = s->fd_cg[i];
		}
	}
	if (s->out)
		fprintf(s->out, "t_ns\tsource\tkey\tvalue\n");
	pthread_mutex_init(&s->lock, NULL);
	s->stop = false;
	s->samples = 0;
	for (i = 0; i < TIER_STACK_MAX; i++) {
		s->level_writes0[i] = -1;
		s->level_first_t_ns[i] = s->level_peak_bytes[i] = 0;
	}
	s->longest_stall_ns = s->stall_run_ns = 0;
	s->comp_orig_bytes = s->comp_stored_bytes = 0;
	s->cg_zswap_peak_bytes = s->cg_stat_zswap_bytes = s->cg_stat_zswapped_bytes = 0;
	s->filled_t_ns = 0;
	errno = pthread_create(&s->thread, NULL, sampler_main, s);
	if (errno) {
		error("cannot start the sampler thread: %m");
		pthread_mutex_destroy(&s->lock);
		goto fail;
	}
	s->started = true;
	return 0;
fail:
	s->started = true;	/* so that stop closes the files */
	s->thread = 0;
	sampler_stop(s);
	return -1;
}

void sampler_stop(struct sampler *s)
{
	int i;

	if (!s->started)
		return;
	if (s->thread) {
		s->stop = true;
		pthread_join(s->thread, NULL);
		pthread_mutex_destroy(&s->lock);
		s->thread = 0;
	}
	if (s->fd_vmstat >= 0) close(s->fd_vmstat);
	if (s->fd_psi_mem >= 0) close(s->fd_psi_mem);
	if (s->fd_psi_io >= 0) close(s->fd_psi_io);
	if (s->fd_meminfo >= 0) close(s->fd_meminfo);
	if (s->fd_cg_psi >= 0) close(s->fd_cg_psi);
	for (i = 0; i < 6; i++)
		if (s->fd_cg[i] >= 0)
			close(s->fd_cg[i]);
	s->started = false;
}

void sampler_latest(struct sampler *s, struct sampler_totals *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->last;
	pthread_mutex_unlock(&s->lock);
}

void sampler_free(struct sampler *s)
{
	free(s->secs);
	s->secs = NULL;
	s->nsecs = 0;
	free(s->oom);
	s->oom = NULL;
	s->noom = s->oom_cap = 0;
}
