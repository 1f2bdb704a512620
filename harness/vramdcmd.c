/* vramd command lines: see vramdcmd.h. */
#include <stdio.h>
#include <string.h>

#include "vramdcmd.h"

static bool set(const char *s)
{
	return s && *s;
}

int vramd_argv(const struct vramd_conf *c, const char **argv, int max, char *buf, size_t len)
{
	char *conns = buf, *id = buf + 16, *depth = buf + 32;
	int n = 0;

	if (!set(c->vramd) || !set(c->backend) || !set(c->size) || !set(c->pidfile) ||
	    !set(c->log) || !set(c->stats_file) || max < 32 || len < 48)
		return -1;
	if ((c->mode == VRAMD_SOCKET && !set(c->socket)) ||
	    (c->mode == VRAMD_UBLK && c->ublk_id < -1) ||
	    (c->mode == VRAMD_FUSE && !set(c->mountpoint)) ||
	    (c->mode == VRAMD_FUSE && c->fuse_uring && strcmp(c->fuse_uring, "auto") &&
	     strcmp(c->fuse_uring, "on") && strcmp(c->fuse_uring, "off")))
		return -1;
	argv[n++] = c->vramd;
	argv[n++] = "--backend";
	argv[n++] = c->backend;
	argv[n++] = "--size";
	argv[n++] = c->size;
	switch (c->mode) {
	case VRAMD_SOCKET:
		argv[n++] = "--socket";
		argv[n++] = c->socket;
		if (c->max_connections) {
			snprintf(conns, 16, "%u", c->max_connections);
			argv[n++] = "--max-connections";
			argv[n++] = conns;
		}
		break;
	case VRAMD_UBLK:
		argv[n++] = "--ublk";
		if (c->ublk_id >= 0) {
			snprintf(id, 16, "%d", c->ublk_id);
			argv[n++] = "--ublk-id";
			argv[n++] = id;
		}
		break;
	case VRAMD_FUSE:
		argv[n++] = "--fuse";
		argv[n++] = c->mountpoint;
		if (c->fuse_uring) {
			argv[n++] = "--fuse-uring";
			argv[n++] = c->fuse_uring;
		}
		break;
	default:
		return -1;
	}
	if (c->mode != VRAMD_SOCKET && c->queue_depth) {
		snprintf(depth, 16, "%u", c->queue_depth);
		argv[n++] = "--queue-depth";
		argv[n++] = depth;
	}
	argv[n++] = "--pidfile";
	argv[n++] = c->pidfile;
	argv[n++] = "--log";
	argv[n++] = c->log;
	argv[n++] = "--stats-file";
	argv[n++] = c->stats_file;
	if (set(c->threads)) {
		argv[n++] = "--threads";
		argv[n++] = c->threads;
	}
	if (set(c->gpu)) {
		argv[n++] = "--gpu";
		argv[n++] = c->gpu;
	}
	if (set(c->busy_poll)) {
		argv[n++] = "--busy-poll";
		argv[n++] = c->busy_poll;
	}
	argv[n++] = c->swap ? "--swap" : "--no-swap";
	argv[n] = NULL;
	return n;
}

int vramd_ublk_del_argv(const char *vramd, int id, const char **argv, int max, char *buf, size_t len)
{
	if (!set(vramd) || id < 0 || max < 4 || len < 16)
		return -1;
	snprintf(buf, len, "%d", id);
	argv[0] = vramd;
	argv[1] = "--ublk-del";
	argv[2] = buf;
	argv[3] = NULL;
	return 3;
}

bool vramd_printed(const char *out, const char *want)
{
	size_t n = strlen(want);
	const char *p = out;

	if (!n)
		return false;
	while (p && *p) {
		const char *end = strchr(p, '\n');
		size_t l = end ? (size_t)(end - p) : strlen(p);

		if (l && p[l - 1] == '\r')
			l--;
		if (l == n && !memcmp(p, want, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool vramd_has_option(const char *text, const char *option)
{
	size_t n = strlen(option);
	const char *p = text;

	if (!n)
		return false;
	while ((p = strstr(p, option)) != NULL) {
		char after = p[n];
		bool starts = p == text || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t' ||
			      p[-1] == '[' || p[-1] == ',' || p[-1] == '|' || p[-1] == '(';

		if (starts && (after == '\0' || after == ' ' || after == '=' || after == '\n' ||
			       after == ']' || after == ',' || after == '\t'))
			return true;
		p += n;
	}
	return false;
}
