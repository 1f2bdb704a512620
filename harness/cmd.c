/* Helpers the commands share: see cmd.h. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"

int require_root(const char *what)
{
	if (geteuid() == 0)
		return 0;
	error("'%s' changes swap and kernel settings and needs root; run it with sudo", what);
	return 1;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	error("%s", buf);
	fprintf(stderr, "Try 'swapbench %s --help' for more information.\n", cmd);
	return 2;
}
