/* The probe thread and the toucher: see probe.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pattern.h"
#include "probe.h"
#include "run.h"

#define PROBE_PAGES 64		/* the toucher's memory: 256 KiB */
#define PROBE_TOUCH 4		/* pages touched each slot */
#define TOUCHER_STOP_MS 5000	/* then SIGKILL: it may sit in a swap-in */

extern char **environ;

/* What the toucher writes and the parent reads: one writer each way. */
struct probe_shared {
	volatile int stop;
	uint64_t slots;
	struct histogram touch;
	uint64_t touch_ns[PROBE_LOG_MAX];
};

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ULL),
			       .tv_nsec = (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int exec_once(const struct probe *p)
{
	/* A command line with a space goes to the shell: "ls -R /usr/share". */
	char *const direct[] = { (char *)p->cmd, NULL };
	char *const shell[] = { (char *)"/bin/sh", (char *)"-c", (char *)p->cmd, NULL };
	char *const *argv = strchr(p->cmd, ' ') ? shell : direct;
	posix_spawn_file_actions_t fa;
	int status = 0, rc, fd;
	pid_t pid;

	if (p->cgroup_procs) {
		/* Into the workload's cgroup before exec: fork, join, exec. */
		pid = fork();
		if (pid == 0) {
			fd = open("/dev/null", O_RDWR);
			if (fd < 0 || join_cgroup(p->cgroup_procs) < 0)
				_exit(127);
			dup2(fd, 0);
			dup2(fd, 1);
			execve(argv[0], argv, environ);
			_exit(127);
		}
		if (pid < 0)
			return -1;
	} else {
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
		rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (rc)
			return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	uint64_t t0 = mono_ns(), k, intended, now, step = (uint64_t)p->interval_ms * 1000000ULL;

	for (k = 0; !p->stop; k++) {
		intended = t0 + k * step;
		now = mono_ns();
		if (now < intended)
			sleep_until(intended);
		else if (now - intended > step / 10)
			p->late_slots++;
		if (p->stop)
			break;
		if (exec_once(p) < 0)
			p->exec_failures++;
		now = mono_ns();
		hist_add(&p->exec, now - intended);
		if (p->nlog < PROBE_LOG_MAX)
			p->log[p->nlog++] = (struct probe_sample){ intended, now - intended, 0 };
		p->slots++;
	}
	return NULL;
}

/* The toucher, after fork: async-signal-safe calls only. */
static void toucher_main(const struct probe *p, struct probe_shared *sh)
{
	uint64_t t0, k, t, step = (uint64_t)p->interval_ms * 1000000ULL;
	size_t len = (size_t)PROBE_PAGES * PATTERN_PAGE;
	unsigned next = 0, i;
	char *pages;

	/* Never outlive swapbench, even one killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (p->cgroup_procs && join_cgroup(p->cgroup_procs) < 0)
		_exit(2);
	pages = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		_exit(1);
	madvise(pages, len, MADV_NOHUGEPAGE);
	for (i = 0; i < PROBE_PAGES; i++)
		pattern_fill((uint64_t *)(pages + (size_t)i * PATTERN_PAGE), pattern_key(7, 0, i),
			     p->touch_random_words);
	t0 = mono_ns();
	for (k = 0; !sh->stop; k++) {
		sleep_until(t0 + k * step);
		t = mono_ns();
		for (i = 0; i < PROBE_TOUCH; i++) {
			pages[(size_t)next * PATTERN_PAGE + PATTERN_PAGE - 1] ^= 1;
			next = (next + 1) % PROBE_PAGES;
		}
		t = mono_ns() - t;
		hist_add(&sh->touch, t);
		if (sh->slots < PROBE_LOG_MAX)
			sh->touch_ns[sh->slots] = t;
		sh->slots++;
	}
	_exit(0);
}

int probe_start(struct probe *p)
{
	int status;

	hist_init(&p->exec);
	hist_init(&p->touch);
	p->slots = p->late_slots = p->exec_failures = p->touch_slots = 0;
	p->nlog = 0;
	p->toucher = 0;
	p->log = calloc(PROBE_LOG_MAX, sizeof *p->log);
	p->shared = mmap(NULL, sizeof *p->shared, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!p->log || p->shared == MAP_FAILED) {
		error("out of memory for the probes");
		p->shared = NULL;
		probe_free(p);
		return -1;
	}
	hist_init(&p->shared->touch);
	p->toucher = fork();
	if (p->toucher == 0)
		toucher_main(p, p->shared);
	if (p->toucher < 0) {
		error("cannot start the toucher: %m");
		probe_free(p);
		return -1;
	}
	p->stop = false;
	errno = pthread_create(&p->thread, NULL, probe_main, p);
	if (errno) {
		error("cannot start the probe thread: %m");
		child_reap(p->toucher, false, REAP_DEADLINE_MS, "the probe's toucher", &status);
		probe_free(p);
		return -1;
	}
	p->started = true;
	return 0;
}

void probe_stop(struct probe *p)
{
	uint64_t deadline, k;
	int status = 0;

	if (!p->started)
		return;
	p->stop = true;
	p->shared->stop = 1;
	pthread_join(p->thread, NULL);
	deadline = mono_ns() + TOUCHER_STOP_MS * 1000000ULL;
	while (waitpid(p->toucher, &status, WNOHANG) == 0) {
		if (mono_ns() > deadline) {
			warn("the toucher (pid %d) did not stop in %d ms: killing it", (int)p->toucher,
			     TOUCHER_STOP_MS);
			child_reap(p->toucher, false, REAP_DEADLINE_MS, "the probe's toucher", &status);
			break;
		}
		usleep(10000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		warn("the toucher could not join the workload's cgroup: its latencies are from outside");
	hist_merge(&p->touch, &p->shared->touch);
	p->touch_slots = p->shared->slots;
	/* Both run on the same interval from (nearly) the same start: slot k
	 * of one is slot k of the other. */
	for (k = 0; k < p->nlog && k < p->shared->slots; k++)
		p->log[k].touch_ns = p->shared->touch_ns[k];
	p->started = false;
}

void probe_free(struct probe *p)
{
	free(p->log);
	p->log = NULL;
	p->nlog = 0;
	if (p->shared)
		munmap(p->shared, sizeof *p->shared);
	p->shared = NULL;
}

/* dst = all - part, bucket by bucket (part's values are among all's); its
 * min and max those of the buckets left, within all's. */
static void hist_minus(struct histogram *dst, const struct histogram *all, const struct histogram *part)
{
	unsigned b, lo = HIST_BUCKETS, hi = 0;

	hist_init(dst);
	for (b = 0; b < HIST_BUCKETS; b++) {
		dst->bucket[b] = all->bucket[b] - part->bucket[b];
		if (dst->bucket[b]) {
			lo = b < lo ? b : lo;
			hi = b;
		}
	}
	dst->count = all->count - part->count;
	dst->sum = all->sum - part->sum;
	if (!dst->count)
		return;
	dst->min = hist_bucket_low(lo) > all->min ? hist_bucket_low(lo) : all->min;
	dst->max = hist_bucket_high(hi) < all->max ? hist_bucket_high(hi) : all->max;
}

void probe_split(const struct probe *p, uint64_t since_ns, struct probe_split *out)
{
	uint64_t k;
	int h;

	for (h = 0; h < 2; h++) {
		hist_init(&out->exec[h]);
		hist_init(&out->touch[h]);
		out->slots[h] = out->touch_slots[h] = 0;
	}
	/* The start-up from the log (it holds the first PROBE_LOG_MAX slots,
	 * 109 min at 100 ms); the rest is every probe but those. */
	for (k = 0; k < p->nlog && p->log[k].t_ns < since_ns; k++) {
		hist_add(&out->exec[0], p->log[k].exec_ns);
		out->slots[0]++;
		/* The toucher's slot k, where it ran one. */
		if (k < p->touch_slots) {
			hist_add(&out->touch[0], p->log[k].touch_ns);
			out->touch_slots[0]++;
		}
	}
	out->truncated = k == p->nlog && p->nlog < p->slots;
	hist_minus(&out->exec[1], &p->exec, &out->exec[0]);
	hist_minus(&out->touch[1], &p->touch, &out->touch[0]);
	out->slots[1] = p->slots - out->slots[0];
	out->touch_slots[1] = p->touch_slots - out->touch_slots[0];
}
