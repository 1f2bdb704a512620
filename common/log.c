/* Logging: see log.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

enum log_level log_level = LOG_INFO;
static const char *log_prog = "swapbench";
static int log_fd = 2;

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_level = level;
}

int log_to_file(const char *path)
{
	/* Root may append to a log in a directory others can write: no
	 * symbolic link followed, no file of another owner appended to. */
	int fd = file_open_private(path, O_APPEND, 0644);

	if (fd < 0)
		return -1;
	log_fd = fd;
	return 0;
}

static void vlog(enum log_level lvl, const char *tail, const char *fmt, va_list ap)
{
	/* Format into one buffer so concurrent threads' lines do not interleave. */
	char buf[1024];
	int saved = errno, n;

	n = snprintf(buf, sizeof buf, "%s: %s", log_prog,
		     lvl == LOG_WARN ? "warning: " : lvl == LOG_DEBUG ? "debug: " : "");
	errno = saved; /* keep %m meaningful */
	n += vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	if (n < (int)sizeof buf - 1 && tail)
		n += snprintf(buf + n, sizeof buf - n, "%s", tail);
	if (n >= (int)sizeof buf - 1)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if (write(log_fd, buf, n) < 0) {
		/* nothing sensible left to do */
	}
	errno = saved;
}

void log_limited(struct log_limit *l, const char *fmt, ...)
{
	struct timespec ts;
	uint64_t now, next;
	unsigned held;
	char tail[96] = "";
	va_list ap;

	if (LOG_WARN > log_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	next = __atomic_load_n(&l->next_ns, __ATOMIC_RELAXED);
	if (now < next || !__atomic_compare_exchange_n(&l->next_ns, &next, now + 1000000000ull, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&l->held, 1, __ATOMIC_RELAXED);
		return;
	}
	held = __atomic_exchange_n(&l->held, 0, __ATOMIC_RELAXED);
	if (held)
		snprintf(tail, sizeof tail, " (and %u more like it in the last second)", held);
	va_start(ap, fmt);
	vlog(LOG_WARN, tail, fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}
