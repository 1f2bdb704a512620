/* nbd transport nbdfuse (old name: fuse): vramd serves NBD on a Unix
 * socket, nbdfuse (libnbd's) makes a one-file FUSE filesystem of it, and a
 * loop device with direct I/O goes on that file.  For kernels without the
 * nbd module.  Try:
 *   sudo swapbench tier up nbd --transport nbdfuse --hold */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "nbd-transport.h"
#include "procfs.h"
#include "run.h"

static bool nbdfuse_offered(const char *vramd, char *detail, size_t len)
{
	(void)vramd;
	if (!have_command("nbdfuse") || !have_command("fusermount3") || !have_command("losetup")) {
		snprintf(detail, len, "needs nbdfuse, fusermount3 and losetup "
			 "(apt install nbdfuse fuse3 mount)");
		return false;
	}
	if (access("/dev/fuse", F_OK) < 0 || access("/dev/loop-control", F_OK) < 0) {
		snprintf(detail, len, "needs /dev/fuse and /dev/loop-control (modprobe fuse loop)");
		return false;
	}
	snprintf(detail, len, "nbdfuse, fusermount3 and losetup installed, /dev/fuse and "
		 "/dev/loop-control present");
	return true;
}

/* Starts nbdfuse on p->mnt/nbd; its journal index to *idx. */
static int start_nbdfuse(struct tier *t, const struct nbd_paths *p, const char *file, int *idx)
{
	char conns[16], last[256];
	const char *argv[] = { "nbdfuse", "-P", p->fpid, "-C", conns, file, "--unix", p->sock, NULL };
	uint64_t nconn = 4;
	struct stat st;
	pid_t pid;
	int i;

	tier_uint(t, "connections", 1, 16, &nconn);
	snprintf(conns, sizeof conns, "%" PRIu64, nconn);
	if (change_dir(t->j, p->mnt) < 0)
		return -1;
	*idx = change_process(t->j, "nbdfuse", p->fpid, NULL);
	if (*idx < 0 || change_mount(t->j, p->mnt, "fuse.nbdfuse", NULL) < 0)
		return -1;
	if (t->dry_run)
		return run(argv, TIMEOUT_DAEMON_S, RUN_DRY, NULL);
	pid = spawn_daemon(argv, p->flog);
	if (pid <= 0)
		return -1;
	if (change_process_pid(t->j, *idx, pid) < 0)
		return -1;
	for (i = 0; i < TIMEOUT_DAEMON_S * 20; i++) {
		if (nbd_read_pidfile(p->fpid) > 0 && is_mounted(p->mnt, NULL, 0) &&
		    stat(file, &st) == 0 && st.st_size > 0)
			break;
		if (!pid_running(pid)) {
			error("nbdfuse exited during start-up: %s", nbd_log_tail(p->flog, last, sizeof last));
			return -1;
		}
		if (sleep_ms(50)) {
			error("interrupted while nbdfuse started");
			return -1;
		}
	}
	if (stat(file, &st) < 0 || st.st_size == 0) {
		error("nbdfuse did not serve '%s' within %d s: %s", file, TIMEOUT_DAEMON_S,
		      nbd_log_tail(p->flog, last, sizeof last));
		return -1;
	}
	json_object_set_new(t->state, "nbdfuse_pid", json_integer(pid));
	nbd_oom_protect(pid, "nbdfuse");
	return 0;
}

static int nbdfuse_attach(struct tier *t, const struct nbd_paths *p, const char *out, char *dev,
			  size_t len)
{
	char file[PATH_MAX];
	int idx = -1;

	(void)out;
	if (pathf(file, sizeof file, "%s/nbd", p->mnt) < 0 || start_nbdfuse(t, p, file, &idx) < 0 ||
	    nbd_loop_on(t, file, dev, len) < 0)
		return -1;
	/* nbdfuse may not be killed while swap lives on its file. */
	return t->dry_run ? 0 : journal_note(t->j, idx, "backs", json_string(dev));
}

const struct nbd_transport nbd_transport_nbdfuse = {
	.name = "nbdfuse",
	.summary = "nbdfuse's FUSE file (an NBD client) + a loop device with direct I/O",
	.offered = nbdfuse_offered,
	.prepare = nbd_prepare_socket,
	.attach = nbdfuse_attach,
};
