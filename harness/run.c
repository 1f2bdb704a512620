/* Child processes under timeouts: see run.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kmsg.h"
#include "log.h"
#include "procfs.h"
#include "run.h"

volatile sig_atomic_t sig_pending;
json_t *run_log;

static void on_signal(int sig)
{
	sig_pending = sig;
}

void sig_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool have_command(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		const char *c = strchr(path, ':');
		size_t n = c ? (size_t)(c - path) : strlen(path);

		snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name);
		if (n && access(buf, X_OK) == 0)
			return true;
		if (!c)
			break;
		path = c + 1;
	}
	return false;
}

json_t *command_version(const char *const argv[])
{
	struct run_result r;
	char *nl;

	if (!have_command(argv[0]))
		return json_null();
	if (run(argv, TIMEOUT_QUICK_S, RUN_QUIET, &r) < 0 && r.exit_code != 0)
		return json_null();
	nl = strchr(r.out, '\n');
	if (nl)
		*nl = '\0';
	return json_string(r.out);
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (sig_pending)
		return true;
	nanosleep(&ts, NULL); /* EINTR on a signal is what we want */
	return sig_pending != 0;
}

const char *argv_str(const char *const argv[], char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; argv[i] && used + 1 < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (used >= len)
		buf[len - 1] = '\0';
	return buf;
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Waits for PID up to timeout_ms, draining fd (when >= 0) into out.  Returns
 * 1 with *status when it ended, 0 on timeout. */
static int wait_draining(pid_t pid, int timeout_ms, int *fdp, char *out, size_t outlen,
			 size_t *used, int *status)
{
	int fd = *fdp;
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	int pfd = pidfd_open_(pid);
	char sink[4096];

	for (;;) {
		struct pollfd p[2];
		int np = 0, left;
		uint64_t now;

		if (waitpid(pid, status, WNOHANG) == pid) {
			/* Collect what is left in the pipe. */
			while (fd >= 0) {
				ssize_t n = read(fd, sink, sizeof sink);

				if (n <= 0)
					break;
				if (*used + 1 < outlen) {
					size_t k = (size_t)n < outlen - 1 - *used ? (size_t)n : outlen - 1 - *used;
					memcpy(out + *used, sink, k);
					*used += k;
				}
			}
			if (pfd >= 0)
				close(pfd);
			return 1;
		}
		now = mono_ns();
		if (now >= deadline) {
			if (pfd >= 0)
				close(pfd);
			return 0;
		}
		left = (int)((deadline - now) / 1000000u) + 1;
		if (fd >= 0) {
			p[np].fd = fd;
			p[np++].events = POLLIN;
		}
		if (pfd >= 0) {
			p[np].fd = pfd;
			p[np++].events = POLLIN;
		}
		if (pfd < 0 && left > 20)
			left = 20; /* no pidfd: poll for the exit */
		if (poll(p, (nfds_t)np, left) > 0 && fd >= 0 && (p[0].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(fd, sink, sizeof sink);

			if (n > 0 && *used + 1 < outlen) {
				size_t k = (size_t)n < outlen - 1 - *used ? (size_t)n : outlen - 1 - *used;
				memcpy(out + *used, sink, k);
				*used += k;
			} else if (n == 0) {
				close(fd);
				fd = *fdp = -1;
			}
		}
	}
}

static void log_run(const char *const argv[], int code, uint64_t ns, bool timed_out)
{
	json_t *e;

	if (!run_log)
		run_log = json_array();
	e = json_pack("{s:o, s:i, s:I, s:b}", "argv", argv_json(argv), "exit_code", code,
		      "elapsed_ns", (json_int_t)ns, "timed_out", timed_out);
	if (e)
		json_array_append_new(run_log, e);
}

/* In a child before exec: the signals swapbench catches back to default. */
static void child_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

int join_cgroup(const char *procs)
{
	char buf[24], *s = buf + sizeof buf;
	unsigned long pid = (unsigned long)getpid();
	int fd = open(procs, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	do
		*--s = (char)('0' + pid % 10);
	while ((pid /= 10));
	ok = write(fd, s, (size_t)(buf + sizeof buf - s)) > 0;
	close(fd);
	return ok ? 0 : -1;
}

int run(const char *const argv[], int timeout_s, unsigned flags, struct run_result *r)
{
	struct run_result local;
	char line[512];
	int pipefd[2], status = 0, ended;
	size_t used = 0;
	uint64_t t0;
	pid_t pid;

	if (!r)
		r = &local;
	memset(r, 0, sizeof *r);
	r->exit_code = -1;
	argv_str(argv, line, sizeof line);
	if (flags & RUN_DRY) {
		printf("would run: %s\n", line);
		r->exit_code = 0;
		return 0;
	}
	debug("run: %s", line);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		error("pipe: %m");
		return -1;
	}
	t0 = mono_ns();
	pid = fork();
	if (pid < 0) {
		error("fork: %m");
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		child_signals();
		if (null >= 0)
			dup2(null, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run '%s': %s", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* both sides, so no race with the child's own */
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	ended = wait_draining(pid, timeout_s * 1000, &pipefd[0], r->out, sizeof r->out, &used, &status);
	if (!ended) {
		r->timed_out = true;
		kill(-pid, SIGTERM);
		ended = wait_draining(pid, 2000, &pipefd[0], r->out, sizeof r->out, &used, &status);
		if (!ended) {
			kill(-pid, SIGKILL);
			ended = wait_draining(pid, 3000, &pipefd[0], r->out, sizeof r->out, &used, &status);
		}
	}
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	r->out[used] = '\0';
	while (used > 0 && (r->out[used - 1] == '\n' || r->out[used - 1] == ' '))
		r->out[--used] = '\0';
	if (ended)
		r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	else
		r->hung = true;
	log_run(argv, r->exit_code, mono_ns() - t0, r->timed_out);

	if (r->hung) {
		error("'%s' did not finish within %d s and survives SIGKILL (stuck in the kernel); leaving it",
		      line, timeout_s);
		hang_report(line);
		return -1;
	}
	if (r->timed_out) {
		error("'%s' did not finish within %d s; killed it%s%s", line, timeout_s,
		      r->out[0] ? ": " : "", r->out);
		hang_report(line);
		return -1;
	}
	if (r->exit_code != 0) {
		if (!(flags & RUN_QUIET))
			error("'%s' exited with status %d%s%s", line, r->exit_code,
			      r->out[0] ? ": " : "", r->out);
		return -1;
	}
	return 0;
}

pid_t spawn_daemon(const char *const argv[], const char *log)
{
	int pipefd[2], status;
	pid_t mid, pid = -1;
	char line[512];

	argv_str(argv, line, sizeof line);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		error("pipe: %m");
		return -1;
	}
	mid = fork();
	if (mid < 0) {
		error("fork: %m");
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (mid == 0) {
		pid_t d;

		setsid();
		d = fork();
		if (d == 0) {
			int null = open("/dev/null", O_RDONLY);
			int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

			child_signals();
			if (null >= 0)
				dup2(null, 0);
			if (out >= 0) {
				dup2(out, 1);
				dup2(out, 2);
			}
			execvp(argv[0], (char *const *)argv);
			fprintf(stderr, "cannot run '%s': %s\n", argv[0], strerror(errno));
			_exit(127);
		}
		if (write(pipefd[1], &d, sizeof d) != sizeof d)
			_exit(1);
		_exit(d > 0 ? 0 : 1);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &pid, sizeof pid) != sizeof pid)
		pid = -1;
	/* The daemon's copy of the pipe closes when it execs (or exits): then
	 * its name is the program's, which the journal records. */
	if (pid > 0) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		char c;

		if (poll(&p, 1, TIMEOUT_DAEMON_S * 1000) <= 0 || read(pipefd[0], &c, 1) != 0)
			warn("'%s' (pid %d) did not start its program within %d s", line, (int)pid,
			     TIMEOUT_DAEMON_S);
	}
	close(pipefd[0]);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid <= 0)
		error("cannot start '%s': fork failed", line);
	else
		log_run(argv, 0, 0, false); /* started; its end is the caller's to judge */
	debug("daemon %d: %s", (int)pid, line);
	return pid;
}

pid_t child_start(const char *const argv[], const struct child_opts *o)
{
	pid_t pid = fork();

	if (pid < 0) {
		error("fork: %m");
		return -1;
	}
	if (pid == 0) {
		child_signals();
		if (o && o->own_pgrp)
			setpgid(0, 0);
		if (o && o->cgroup_procs && join_cgroup(o->cgroup_procs) < 0) {
			error("cannot join the cgroup ('%s'): %m", o->cgroup_procs);
			_exit(127);
		}
		if (o && o->output) {
			int fd = open(o->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
				error("cannot write '%s': %m", o->output);
				_exit(127);
			}
		}
		execvp(argv[0], (char *const *)argv);
		error("cannot run '%s': %m", argv[0]);
		_exit(127);
	}
	if (o && o->own_pgrp)
		setpgid(pid, pid);
	return pid;
}

int child_wait(pid_t pid, int timeout_ms, int tick_ms, void (*tick)(void *), void *arg, int *status)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			error("waitpid %d: %m", (int)pid);
			return -1;
		}
		if (sig_pending)
			return 2;
		if (mono_ns() >= deadline)
			return 0;
		if (tick)
			tick(arg);
		sleep_ms(tick_ms);
	}
}

int child_reap(pid_t pid, bool group, int deadline_ms, const char *why, int *status)
{
	uint64_t deadline = mono_ns() + (uint64_t)deadline_ms * 1000000u;
	const struct timespec step = { 0, 20 * 1000000L };

	if (kill(group ? -pid : pid, SIGKILL) < 0 && group)
		kill(pid, SIGKILL); /* it left its group, or never led one */
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR) {
			error("cannot wait for %s (pid %d): %m", why, (int)pid);
			return -1;
		}
		if (mono_ns() >= deadline)
			break;
		nanosleep(&step, NULL);
	}
	error("%s (pid %d) did not end within %d ms of SIGKILL (stuck in the kernel?); leaving it",
	      why, (int)pid, deadline_ms);
	hang_report(why);
	return -1;
}

int child_run(const char *const argv[], const struct child_opts *o, int timeout_ms, int tick_ms,
	      void (*tick)(void *), void *arg, int reap_ms, const char *what, int *status, bool *hung)
{
	pid_t pid = child_start(argv, o);
	int w;

	*hung = false;
	*status = 0;
	if (pid < 0)
		return -1;
	w = child_wait(pid, timeout_ms, tick_ms, tick, arg, status);
	if (w != 1 && child_reap(pid, o->own_pgrp, reap_ms, what, status) < 0)
		*hung = true;
	return w;
}

void hang_report(const char *what)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	fprintf(stderr, "swapbench: diagnostics for '%s':\n", what);
	while (d && (e = readdir(d)) != NULL) {
		char path[300], buf[4096], comm[64], state;
		uint64_t st;
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 0 || pid_stat(pid, &state, &st) < 0 || state != 'D')
			continue;
		found++;
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
		if (read_text(path, comm, sizeof comm) < 0)
			snprintf(comm, sizeof comm, "?");
		fprintf(stderr, "  task %d (%s) in D state", (int)pid, comm);
		snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
		if (read_text(path, buf, sizeof buf) >= 0)
			fprintf(stderr, ", wchan %s", buf);
		fprintf(stderr, "\n");
		snprintf(path, sizeof path, "/proc/%d/stack", (int)pid);
		if (read_text(path, buf, sizeof buf) >= 0) {
			char *line = strtok(buf, "\n");

			while (line) {
				fprintf(stderr, "    %s\n", line);
				line = strtok(NULL, "\n");
			}
		}
	}
	if (d)
		closedir(d);
	if (!found)
		fprintf(stderr, "  no task in D state\n");
	kmsg_print_tail(stderr, 20);
}

json_t *argv_json(const char *const argv[])
{
	json_t *a = json_array();

	for (; *argv; argv++)
		json_array_append_new(a, json_string(*argv));
	return a;
}
