/* The nbd-client command lines of the nbd tier's kernel transport, built by
 * pure functions so that they are unit-tested on hosts without the nbd
 * module (tests/unit-harness-nbdclient.c).  nbd-client 3.x syntax:
 *   nbd-client -unix SOCK /dev/nbdN -b 4096 -timeout T -connections C -name E -swap
 *   nbd-client -d /dev/nbdN */
#ifndef SWAPBENCH_NBDCLIENT_H
#define SWAPBENCH_NBDCLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct nbd_client_conf {
	const char *socket;		/* the server's Unix socket */
	const char *device;		/* "/dev/nbdN" */
	const char *export_name;	/* NULL: the server's default export */
	unsigned block_size;		/* 512, 1024, 2048 or 4096 */
	unsigned timeout_s;		/* dead-connection timeout, >= 1 */
	unsigned connections;		/* 1 to 16 */
	bool swap;			/* -swap: nbd-client locks itself in memory */
	bool no_netlink;		/* -nonetlink: the ioctl interface */
};

/* Fills argv (room for max pointers, NULL-terminated) with the connect
 * command; numbers are formatted into buf.  Returns the argument count, or
 * -1 for a bad conf (empty socket or device, a device not under /dev/nbd,
 * a block size nbd-client refuses, a zero timeout or connection count) or
 * too little room. */
int nbd_client_argv(const struct nbd_client_conf *c, const char **argv, int max,
		    char *buf, size_t len);

/* The disconnect command: nbd-client -d DEVICE.  Same returns. */
int nbd_client_disconnect_argv(const char *device, const char **argv, int max);

#endif
