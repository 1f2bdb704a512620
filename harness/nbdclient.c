/* nbd-client command lines: see nbdclient.h. */
#include <stdio.h>
#include <string.h>

#include "nbdclient.h"

static bool nbd_device_ok(const char *d)
{
	const char *p;

	if (!d || strncmp(d, "/dev/nbd", 8) || !d[8])
		return false;
	for (p = d + 8; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

int nbd_client_argv(const struct nbd_client_conf *c, const char **argv, int max,
		    char *buf, size_t len)
{
	char *bs, *to, *cn;
	int n = 0;

	if (!c->socket || !*c->socket || !nbd_device_ok(c->device) || c->timeout_s == 0 ||
	    c->connections == 0 || c->connections > 16 || max < 16 || len < 48)
		return -1;
	if (c->block_size != 512 && c->block_size != 1024 && c->block_size != 2048 &&
	    c->block_size != 4096)
		return -1;
	bs = buf;
	to = buf + 16;
	cn = buf + 32;
	snprintf(bs, 16, "%u", c->block_size);
	snprintf(to, 16, "%u", c->timeout_s);
	snprintf(cn, 16, "%u", c->connections);
	argv[n++] = "nbd-client";
	argv[n++] = "-unix";
	argv[n++] = c->socket;
	argv[n++] = c->device;
	argv[n++] = "-b";
	argv[n++] = bs;
	argv[n++] = "-timeout";
	argv[n++] = to;
	argv[n++] = "-connections";
	argv[n++] = cn;
	if (c->export_name) {
		argv[n++] = "-name";
		argv[n++] = c->export_name;
	}
	if (c->swap)
		argv[n++] = "-swap";
	if (c->no_netlink)
		argv[n++] = "-nonetlink";
	argv[n] = NULL;
	return n;
}

int nbd_client_disconnect_argv(const char *device, const char **argv, int max)
{
	if (!nbd_device_ok(device) || max < 4)
		return -1;
	argv[0] = "nbd-client";
	argv[1] = "-d";
	argv[2] = device;
	argv[3] = NULL;
	return 3;
}
