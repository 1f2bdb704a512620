/* The probe thread: see probe.h. */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "probe.h"
#include "run.h"

#define PROBE_PAGES 64		/* its own memory: 256 KiB */
#define PROBE_TOUCH 4		/* pages touched each slot */

extern char **environ;

static int exec_once(const char *cmd)
{
	char *const argv[] = { (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	int status = 0, rc;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
	rc = posix_spawn(&pid, cmd, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	uint64_t t0 = mono_ns(), k, intended, now, exec_ns, t_touch, touch_ns, step = (uint64_t)p->interval_ms * 1000000ULL;
	unsigned next_page = 0, i;
	struct timespec ts;

	for (k = 0; !p->stop; k++) {
		intended = t0 + k * step;
		now = mono_ns();
		if (now < intended) {
			ts.tv_sec = (time_t)(intended / 1000000000ULL);
			ts.tv_nsec = (long)(intended % 1000000000ULL);
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		} else if (now - intended > step / 10) {
			p->late_slots++;
		}
		if (p->stop)
			break;
		if (exec_once(p->cmd) < 0)
			p->exec_failures++;
		now = mono_ns();
		exec_ns = now - intended;
		hist_add(&p->exec, exec_ns);
		/* The touch is timed alone: page-fault latency as a program sees it. */
		t_touch = mono_ns();
		for (i = 0; i < PROBE_TOUCH; i++) {
			p->pages[(size_t)next_page * 4096] ^= 1;
			next_page = (next_page + 1) % p->npages;
		}
		touch_ns = mono_ns() - t_touch;
		hist_add(&p->touch, touch_ns);
		if (p->nlog < PROBE_LOG_MAX)
			p->log[p->nlog++] = (struct probe_sample){ intended, exec_ns, touch_ns };
		p->slots++;
	}
	return NULL;
}

int probe_start(struct probe *p)
{
	unsigned i;

	hist_init(&p->exec);
	hist_init(&p->touch);
	p->slots = p->late_slots = p->exec_failures = 0;
	p->nlog = 0;
	p->log = calloc(PROBE_LOG_MAX, sizeof *p->log);
	if (!p->log) {
		error("out of memory for the probe's log");
		return -1;
	}
	p->npages = PROBE_PAGES;
	p->pages = mmap(NULL, (size_t)p->npages * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->pages == MAP_FAILED) {
		error("cannot map the probe's pages: %m");
		probe_free(p);
		return -1;
	}
	for (i = 0; i < p->npages * 4096; i++)
		p->pages[i] = (char)(i * 2654435761u >> 24);
	p->stop = false;
	errno = pthread_create(&p->thread, NULL, probe_main, p);
	if (errno) {
		error("cannot start the probe thread: %m");
		munmap(p->pages, (size_t)p->npages * 4096);
		probe_free(p);
		return -1;
	}
	p->started = true;
	return 0;
}

void probe_stop(struct probe *p)
{
	if (!p->started)
		return;
	p->stop = true;
	pthread_join(p->thread, NULL);
	munmap(p->pages, (size_t)p->npages * 4096);
	p->started = false;
}

void probe_free(struct probe *p)
{
	free(p->log);
	p->log = NULL;
	p->nlog = 0;
}
