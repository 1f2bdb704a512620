/* Logging: see log.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	/* Format into one buffer so concurrent threads' lines do not interleave. */
	char buf[1024];
	int saved = errno, n;
	va_list ap;

	if (lvl > log_level)
		return;
	n = snprintf(buf, sizeof buf, "%s: %s", log_prog,
		     lvl == LOG_WARN ? "warning: " : lvl == LOG_DEBUG ? "debug: " : "");
	va_start(ap, fmt);
	errno = saved; /* keep %m meaningful */
	n += vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof buf - 1)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if (write(log_fd, buf, n) < 0) {
		/* nothing sensible left to do */
	}
	errno = saved;
}
