/* nbd transport vramd-fuse: vramd mounts a one-file FUSE filesystem
 * (fuse.vramd) on STATE_DIR/nbd/mnt and serves the kernel's FUSE requests
 * itself, with no NBD on the way; a loop device with direct I/O goes on
 * mnt/export.  With --fuse-uring auto or on, the fuse module's
 * enable_uring parameter is turned on while the tier is up (a journaled
 * change), so that vramd can take requests over io_uring.  If vramd is
 * killed the mount stays, its connection dead: the journal unmounts it.
 * Try:
 *   sudo swapbench tier up nbd --transport vramd-fuse --fuse-uring on --hold */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "nbd-transport.h"
#include "procfs.h"
#include "run.h"

#define ENABLE_URING "/sys/module/fuse/parameters/enable_uring"

static bool vfuse_offered(const char *vramd, char *detail, size_t len)
{
	char v[8];

	if (access("/dev/fuse", F_OK) < 0 || access("/dev/loop-control", F_OK) < 0) {
		snprintf(detail, len, "needs /dev/fuse and /dev/loop-control (modprobe fuse loop)");
		return false;
	}
	if (!have_command("losetup")) {
		snprintf(detail, len, "needs losetup (apt install mount)");
		return false;
	}
	if (!nbd_vramd_has(vramd, "--fuse")) {
		snprintf(detail, len, "the vramd at '%s' has no --fuse (built before its FUSE front "
			 "end: run make, or pass --vramd PATH)", vramd);
		return false;
	}
	if (read_text(ENABLE_URING, v, sizeof v) > 0)
		snprintf(detail, len, "/dev/fuse and /dev/loop-control present, vramd has --fuse; "
			 "FUSE over io_uring available, %s now (enable_uring=%s)",
			 v[0] == 'Y' ? "on" : "off", v);
	else
		snprintf(detail, len, "/dev/fuse and /dev/loop-control present, vramd has --fuse; "
			 "FUSE over io_uring not in this kernel (no %s)", ENABLE_URING);
	return true;
}

static bool vfuse_check(const struct tier *t, char *why, size_t len)
{
	if (!strcmp(tier_get(t, "fuse-uring"), "on") && access(ENABLE_URING, F_OK) < 0) {
		snprintf(why, len, "--fuse-uring on: this kernel has no FUSE over io_uring (no %s: "
			 "CONFIG_FUSE_IO_URING, Linux 6.14 or later); use --fuse-uring auto or off",
			 ENABLE_URING);
		return false;
	}
	return true;
}

static int vfuse_prepare(struct tier *t, const struct nbd_paths *p, struct vramd_conf *c)
{
	const char *uring = tier_get(t, "fuse-uring");
	char v[8];

	/* The kernel offers io_uring to FUSE servers only while enable_uring
	 * is on; restored after vramd has gone. */
	if (strcmp(uring, "off") && access(ENABLE_URING, F_OK) == 0) {
		static bool said;	/* once a process: run sets the tier up for every repeat */

		if (read_text(ENABLE_URING, v, sizeof v) > 0 && v[0] != 'Y') {
			if (!said)
				info("turning FUSE over io_uring on while the tier is up (%s)", ENABLE_URING);
			said = true;
		}
		if (change_value(t->j, ENABLE_URING, "Y") < 0)
			return -1;
	}
	/* Recorded before vramd starts, so undone after it stopped: a vramd
	 * killed leaves its mount behind. */
	if (change_dir(t->j, p->mnt) < 0 || change_mount(t->j, p->mnt, "fuse.vramd", NULL) < 0)
		return -1;
	c->mode = VRAMD_FUSE;
	c->mountpoint = p->mnt;
	c->fuse_uring = uring;
	json_object_set_new(t->state, "fuse_uring", json_string(uring));
	if (!t->dry_run && read_text(ENABLE_URING, v, sizeof v) > 0)
		json_object_set_new(t->state, "fuse_enable_uring", json_string(v));
	return 0;
}

static int vfuse_attach(struct tier *t, const struct nbd_paths *p, const char *out, char *dev,
			size_t len)
{
	char file[PATH_MAX], type[64] = "";
	struct stat st;

	if (pathf(file, sizeof file, "%s/export", p->mnt) < 0)
		return -1;
	if (!t->dry_run) {
		if (!vramd_printed(out, file)) {
			error("vramd did not name '%s' as its export: it printed '%s'", file, out);
			return -1;
		}
		if (!is_mounted(p->mnt, type, sizeof type) || strcmp(type, "fuse.vramd")) {
			error("'%s' is not a fuse.vramd mount after vramd started (%s)", p->mnt,
			      type[0] ? type : "not mounted");
			return -1;
		}
		if (stat(file, &st) < 0) {
			error("cannot stat vramd's export '%s': %m", file);
			return -1;
		}
		if (st.st_size == 0) {
			error("vramd's export '%s' is empty", file);
			return -1;
		}
		json_object_set_new(t->state, "export_file", json_string(file));
	}
	return nbd_loop_on(t, file, dev, len);
}

const struct nbd_transport nbd_transport_vramd_fuse = {
	.name = "vramd-fuse",
	.summary = "vramd's own FUSE file (no NBD) + a loop device with direct I/O",
	.offered = vfuse_offered,
	.check = vfuse_check,
	.prepare = vfuse_prepare,
	.attach = vfuse_attach,
};
