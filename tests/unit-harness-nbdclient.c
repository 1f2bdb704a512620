/* Unit tests for harness/nbdclient.c: the kernel transport's nbd-client
 * command lines, checked word for word, and the confs they refuse.  The
 * kernel transport cannot run where there is no nbd module; its commands
 * are proven here instead. */
#include <string.h>

#include "nbdclient.h"
#include "run.h"
#include "unit.h"

static const char *joined(const char **argv)
{
	static char buf[512];

	return argv_str(argv, buf, sizeof buf);
}

int main(void)
{
	struct nbd_client_conf c = {
		.socket = "/run/swapbench/nbd/vramd.sock", .device = "/dev/nbd0",
		.block_size = 4096, .timeout_s = 30, .connections = 4, .swap = true,
	};
	const char *argv[24];
	char buf[64];
	int n;

	n = nbd_client_argv(&c, argv, 24, buf, sizeof buf);
	CHECK(n == 11 && argv[n] == NULL);
	CHECK(!strcmp(joined(argv), "nbd-client -unix /run/swapbench/nbd/vramd.sock /dev/nbd0 "
				    "-b 4096 -timeout 30 -connections 4 -swap"));

	c.export_name = "vramd";
	c.swap = false;
	c.no_netlink = true;
	c.device = "/dev/nbd15";
	c.connections = 16;
	c.block_size = 512;
	n = nbd_client_argv(&c, argv, 24, buf, sizeof buf);
	CHECK(n == 13);
	CHECK(!strcmp(joined(argv), "nbd-client -unix /run/swapbench/nbd/vramd.sock /dev/nbd15 "
				    "-b 512 -timeout 30 -connections 16 -name vramd -nonetlink"));

	/* Refused: what nbd-client or the kernel would refuse, and no room. */
	c.block_size = 8192;
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.block_size = 4096;
	c.connections = 0;
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.connections = 17;
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.connections = 1;
	c.timeout_s = 0;
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.timeout_s = 5;
	c.device = "/dev/loop0";
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.device = "/dev/nbd";
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.device = "/dev/nbd1x";
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.device = "/dev/nbd1";
	c.socket = "";
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) == -1);
	c.socket = "/s";
	CHECK(nbd_client_argv(&c, argv, 8, buf, sizeof buf) == -1);
	CHECK(nbd_client_argv(&c, argv, 24, buf, 16) == -1);
	CHECK(nbd_client_argv(&c, argv, 24, buf, sizeof buf) > 0);

	n = nbd_client_disconnect_argv("/dev/nbd3", argv, 4);
	CHECK(n == 3 && !strcmp(joined(argv), "nbd-client -d /dev/nbd3") && !argv[3]);
	CHECK(nbd_client_disconnect_argv("/dev/sda", argv, 4) == -1);
	CHECK(nbd_client_disconnect_argv("/dev/nbd3", argv, 3) == -1);
	UNIT_DONE();
}
