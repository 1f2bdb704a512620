/* Unit tests for harness/vramdcmd.c and the nbd tier's choice of transport
 * (harness/nbd-transport.c): vramd's command line in each mode, word for
 * word, the confs it refuses, the device line vramd prints, the options
 * its --help offers, and what auto picks and says.  ublk cannot run where
 * there is no ublk_drv; its commands are proven here instead. */
#include <string.h>

#include "nbd-transport.h"
#include "run.h"
#include "unit.h"
#include "vramdcmd.h"

static const char *joined(const char **argv)
{
	static char buf[1024];

	return argv_str(argv, buf, sizeof buf);
}

static void test_argv(void)
{
	struct vramd_conf c = {
		.vramd = "/opt/vramd", .backend = "ram", .size = "1G", .mode = VRAMD_SOCKET,
		.socket = "/run/swapbench/nbd/vramd.sock", .max_connections = 8, .ublk_id = -1,
		.pidfile = "/r/vramd.pid", .log = "/r/vramd.log", .stats_file = "/r/s.json",
		.swap = true,
	};
	const char *argv[40], *del[4];
	char buf[64], num[16];
	int n;

	n = vramd_argv(&c, argv, 40, buf, sizeof buf);
	CHECK(n == 16 && argv[n] == NULL);
	CHECK(!strcmp(joined(argv), "/opt/vramd --backend ram --size 1G --socket "
		      "/run/swapbench/nbd/vramd.sock --max-connections 8 --pidfile /r/vramd.pid "
		      "--log /r/vramd.log --stats-file /r/s.json --swap"));

	/* ublk: the id swapbench chose, the queue depth; no socket, no
	 * connections even when set. */
	c.mode = VRAMD_UBLK;
	c.ublk_id = 3;
	c.queue_depth = 64;
	c.threads = "4";
	c.swap = false;
	n = vramd_argv(&c, argv, 40, buf, sizeof buf);
	CHECK(n == 19);
	CHECK(!strcmp(joined(argv), "/opt/vramd --backend ram --size 1G --ublk --ublk-id 3 "
		      "--queue-depth 64 --pidfile /r/vramd.pid --log /r/vramd.log "
		      "--stats-file /r/s.json --threads 4 --no-swap"));
	c.ublk_id = -1;
	c.queue_depth = 0;
	n = vramd_argv(&c, argv, 40, buf, sizeof buf);
	CHECK(!strcmp(joined(argv), "/opt/vramd --backend ram --size 1G --ublk --pidfile "
		      "/r/vramd.pid --log /r/vramd.log --stats-file /r/s.json --threads 4 --no-swap"));

	/* fuse: the mount point and the io_uring choice. */
	c.mode = VRAMD_FUSE;
	c.mountpoint = "/run/swapbench/nbd/mnt";
	c.fuse_uring = "on";
	c.queue_depth = 32;
	c.threads = NULL;
	c.gpu = "1";
	c.busy_poll = "30";
	c.backend = "vram";
	c.swap = true;
	n = vramd_argv(&c, argv, 40, buf, sizeof buf);
	CHECK(!strcmp(joined(argv), "/opt/vramd --backend vram --size 1G --fuse "
		      "/run/swapbench/nbd/mnt --fuse-uring on --queue-depth 32 --pidfile /r/vramd.pid "
		      "--log /r/vramd.log --stats-file /r/s.json --gpu 1 --busy-poll 30 --swap"));

	/* Refused: a mode without its target, a bad io_uring choice, a
	 * missing runtime file, no room. */
	c.fuse_uring = "maybe";
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) == -1);
	c.fuse_uring = NULL;
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) > 0);
	c.mountpoint = "";
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) == -1);
	c.mode = VRAMD_SOCKET;
	c.socket = NULL;
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) == -1);
	c.mode = VRAMD_UBLK;
	c.ublk_id = -2;
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) == -1);
	c.ublk_id = 0;
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) > 0);
	CHECK(vramd_argv(&c, argv, 8, buf, sizeof buf) == -1);
	CHECK(vramd_argv(&c, argv, 40, buf, 8) == -1);
	c.pidfile = NULL;
	CHECK(vramd_argv(&c, argv, 40, buf, sizeof buf) == -1);

	CHECK(vramd_ublk_del_argv("/opt/vramd", 7, del, 4, num, sizeof num) == 3);
	CHECK(!strcmp(joined(del), "/opt/vramd --ublk-del 7"));
	CHECK(vramd_ublk_del_argv("/opt/vramd", -1, del, 4, num, sizeof num) == -1);
	CHECK(vramd_ublk_del_argv("", 0, del, 4, num, sizeof num) == -1);
}

static void test_printed(void)
{
	CHECK(vramd_printed("/dev/ublkb0", "/dev/ublkb0"));
	CHECK(vramd_printed("vramd: warning: no io_flusher\n/dev/ublkb0\n", "/dev/ublkb0"));
	CHECK(vramd_printed("/run/x/mnt/export\r\n", "/run/x/mnt/export"));
	CHECK(!vramd_printed("/dev/ublkb10", "/dev/ublkb1"));
	CHECK(!vramd_printed("/dev/ublkb1x\n", "/dev/ublkb1"));
	CHECK(!vramd_printed("", "/dev/ublkb0"));
	CHECK(!vramd_printed("/dev/ublkb0", ""));
}

static void test_has_option(void)
{
	const char *help = "usage: vramd --backend NAME ...\n"
			   "      --fuse-uring MODE    auto, on or off\n"
			   "      --ublk-del N         delete device N\n"
			   "  -f, --foreground\n";

	CHECK(!vramd_has_option(help, "--fuse"));
	CHECK(!vramd_has_option(help, "--ublk"));
	CHECK(vramd_has_option(help, "--ublk-del"));
	CHECK(vramd_has_option(help, "--foreground"));
	CHECK(vramd_has_option("  --fuse MOUNTPOINT  serve\n", "--fuse"));
	CHECK(vramd_has_option("[--ublk] [--ublk-id N]", "--ublk"));
	CHECK(vramd_has_option("      --ublk", "--ublk"));
	CHECK(vramd_has_option("--ublk=ID", "--ublk"));
	CHECK(!vramd_has_option("x--ublk", "--ublk"));
}

static void test_pick(void)
{
	const char *names[] = { "ublk", "kernel", "vramd-fuse", "nbdfuse" };
	const char *reasons[] = { "no ublk", "no nbd module", "no --fuse", "ok" };
	bool ok[] = { false, false, true, true };
	char why[512];

	CHECK(nbd_transport_pick(names, ok, reasons, 4, why, sizeof why) == 2);
	CHECK(!strcmp(why, "ublk passed over: no ublk; kernel passed over: no nbd module; "
		      "vramd-fuse is the first offered"));
	ok[0] = true;
	CHECK(nbd_transport_pick(names, ok, reasons, 4, why, sizeof why) == 0);
	CHECK(!strcmp(why, "ublk is the first choice and offered"));
	ok[0] = ok[2] = ok[3] = false;
	CHECK(nbd_transport_pick(names, ok, reasons, 4, why, sizeof why) == -1);
	CHECK(strstr(why, "nbdfuse passed over: ok; none is offered") != NULL);
	/* A short buffer truncates, never overruns. */
	ok[3] = true;
	CHECK(nbd_transport_pick(names, ok, reasons, 4, why, 10) == 3);
	CHECK(strlen(why) == 9);

	CHECK(nbd_transport_find("fuse") == &nbd_transport_nbdfuse);
	CHECK(nbd_transport_find("vramd-fuse") == &nbd_transport_vramd_fuse);
	CHECK(nbd_transport_find("ublk") == &nbd_transport_ublk);
	CHECK(nbd_transport_find("auto") == NULL);
	CHECK(nbd_transports[0] == &nbd_transport_ublk && nbd_transports[1] == &nbd_transport_kernel &&
	      nbd_transports[2] == &nbd_transport_vramd_fuse && nbd_transports[3] == &nbd_transport_nbdfuse &&
	      nbd_transports[4] == NULL);
}

int main(void)
{
	test_argv();
	test_printed();
	test_has_option();
	test_pick();
	UNIT_DONE();
}
