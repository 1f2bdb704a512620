/* nbd transport ublk: vramd is the block device itself, /dev/ublkbN made
 * through /dev/ublk-control (the ublk_drv module, loaded for the while when
 * absent), with no NBD and no FUSE on the way.  swapbench picks N (the
 * lowest free) so that the undo can be journaled before vramd makes it:
 * should vramd be killed, `vramd --ublk-del N` deletes what it left.  Try:
 *   sudo swapbench tier up nbd --transport ublk --queue-depth 64 --hold */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "nbd-transport.h"
#include "procfs.h"
#include "run.h"

#define UBLK_CONTROL "/dev/ublk-control"

static bool ublk_offered(const char *vramd, char *detail, size_t len)
{
	bool present = access(UBLK_CONTROL, F_OK) == 0;
	char v[16];

	if (!present && !nbd_module_available("ublk_drv", UBLK_CONTROL)) {
		snprintf(detail, len, "no ublk in this kernel (no %s, no loadable ublk_drv module: "
			 "CONFIG_BLK_DEV_UBLK)", UBLK_CONTROL);
		return false;
	}
	if (read_text("/proc/sys/kernel/io_uring_disabled", v, sizeof v) > 0 && atoi(v) == 2) {
		snprintf(detail, len, "io_uring is disabled (kernel.io_uring_disabled=2) and ublk "
			 "runs on it: sysctl kernel.io_uring_disabled=0");
		return false;
	}
	if (!nbd_vramd_has(vramd, "--ublk")) {
		snprintf(detail, len, "the vramd at '%s' has no --ublk (built before its ublk front "
			 "end: run make, or pass --vramd PATH)", vramd);
		return false;
	}
	snprintf(detail, len, "%s, vramd has --ublk", present ? UBLK_CONTROL " present" :
		 "ublk_drv loadable (modprobe ublk_drv)");
	return true;
}

/* The lowest N the kernel has no ublk device of. */
static int free_ublk_id(void)
{
	char c[64], b[32];
	int n;

	for (n = 0; n < 1024; n++) {
		snprintf(c, sizeof c, "/sys/class/ublk-char/ublkc%d", n);
		snprintf(b, sizeof b, "/dev/ublkb%d", n);
		if (access(c, F_OK) < 0 && access(b, F_OK) < 0)
			return n;
	}
	return -1;
}

static int ublk_prepare(struct tier *t, const struct nbd_paths *p, struct vramd_conf *c)
{
	const char *del[4];
	char vramd[PATH_MAX], num[16], cond[64];
	int id;

	(void)p;
	if (nbd_load_module(t, "ublk_drv", UBLK_CONTROL) < 0)
		return -1;
	id = free_ublk_id();
	if (id < 0) {
		error("no free ublk device number (0 to 1023 all taken)");
		return -1;
	}
	nbd_vramd_path(t, vramd, sizeof vramd);
	snprintf(cond, sizeof cond, "/sys/class/ublk-char/ublkc%d", id);
	if (vramd_ublk_del_argv(vramd, id, del, 4, num, sizeof num) < 0) {
		error("cannot build the ublk delete command for device %d", id);
		return -1;
	}
	/* vramd deletes the device when it stops; this is for a vramd killed. */
	if (change_on_undo_run_if(t->j, del, TIMEOUT_QUICK_S, cond) < 0)
		return -1;
	c->mode = VRAMD_UBLK;
	c->ublk_id = id;
	json_object_set_new(t->state, "ublk_id", json_integer(id));
	return 0;
}

static int ublk_attach(struct tier *t, const struct nbd_paths *p, const char *out, char *dev,
		       size_t len)
{
	int id = (int)json_integer_value(json_object_get(t->state, "ublk_id")), i;
	struct stat st;

	(void)p;
	snprintf(dev, len, "/dev/ublkb%d", id);
	if (t->dry_run)
		return 0;
	if (!vramd_printed(out, dev)) {
		error("vramd did not name '%s' as its device: it printed '%s'", dev, out);
		return -1;
	}
	/* vramd speaks once the device serves I/O; udev may still be making
	 * the node. */
	for (i = 0; i < 100 && (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)); i++)
		if (sleep_ms(50))
			break;
	if (stat(dev, &st) < 0) {
		error("'%s' is absent 5 s after vramd made it: %m", dev);
		return -1;
	}
	if (!S_ISBLK(st.st_mode)) {
		error("'%s' is not a block device", dev);
		return -1;
	}
	return 0;
}

const struct nbd_transport nbd_transport_ublk = {
	.name = "ublk",
	.summary = "vramd as the block device itself: /dev/ublkbN (ublk_drv), no NBD",
	.offered = ublk_offered,
	.prepare = ublk_prepare,
	.attach = ublk_attach,
};
