/* nbd transport kernel: vramd serves NBD on a Unix socket and the kernel's
 * NBD client makes /dev/nbdN of it (nbd-client -unix SOCK /dev/nbdN -b 4096
 * -timeout T -connections C -swap; the command lines are nbdclient.c's).
 * Needs nbd-client and the nbd module (loaded for the while when absent).
 * Try:
 *   sudo swapbench tier up nbd --transport kernel --hold */
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "nbd-transport.h"
#include "nbdclient.h"
#include "procfs.h"
#include "run.h"

static bool kernel_offered(const char *vramd, char *detail, size_t len)
{
	bool present = access("/dev/nbd0", F_OK) == 0 || access("/sys/module/nbd", F_OK) == 0;

	(void)vramd;
	/* The kernel first: where it has no NBD client, installing
	 * nbd-client would not help. */
	if (!present && !nbd_module_available("nbd", "/dev/nbd0")) {
		snprintf(detail, len, "no kernel NBD client (/dev/nbd0 absent, no nbd module: "
			 "CONFIG_BLK_DEV_NBD)");
		return false;
	}
	if (!have_command("nbd-client")) {
		snprintf(detail, len, "nbd-client not installed (apt install nbd-client)");
		return false;
	}
	snprintf(detail, len, "nbd-client installed, kernel NBD client %s",
		 present ? "present" : "loadable (modprobe nbd)");
	return true;
}

/* A free /dev/nbdN: no client pid and size 0. */
static int free_nbd(char *dev, size_t len)
{
	glob_t g;
	size_t i;
	int rc = -1;

	if (glob("/sys/block/nbd*", 0, NULL, &g) != 0)
		return -1;
	for (i = 0; i < g.gl_pathc && rc < 0; i++) {
		char path[PATH_MAX], v[32];

		snprintf(path, sizeof path, "%s/pid", g.gl_pathv[i]);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(path, sizeof path, "%s/size", g.gl_pathv[i]);
		if (read_text(path, v, sizeof v) < 0 || strcmp(v, "0"))
			continue;
		snprintf(dev, len, "/dev/%s", strrchr(g.gl_pathv[i], '/') + 1);
		rc = 0;
	}
	globfree(&g);
	return rc;
}

static int kernel_attach(struct tier *t, const struct nbd_paths *p, const char *out, char *dev,
			 size_t len)
{
	const char *argv[24], *disc[4];
	struct nbd_client_conf c;
	uint64_t conns = 4, timeout = 30;
	char buf[64];

	(void)out;
	if (nbd_load_module(t, "nbd", "/dev/nbd0") < 0)
		return -1;
	if (free_nbd(dev, len) < 0) {
		if (!t->dry_run) {
			error("no free /dev/nbdN (every one has a client)");
			return -1;
		}
		snprintf(dev, len, "/dev/nbd0");
	}
	tier_uint(t, "connections", 1, 16, &conns);
	tier_uint(t, "timeout", 1, 3600, &timeout);
	c = (struct nbd_client_conf){ .socket = p->sock, .device = dev, .export_name = NULL,
				      .block_size = 4096, .timeout_s = (unsigned)timeout,
				      .connections = (unsigned)conns, .swap = true };
	if (nbd_client_argv(&c, argv, 24, buf, sizeof buf) < 0 ||
	    nbd_client_disconnect_argv(dev, disc, 4) < 0) {
		error("cannot build the nbd-client command for '%s'", dev);
		return -1;
	}
	if (change_on_undo_run(t->j, disc, TIMEOUT_QUICK_S) < 0)
		return -1;
	return run(argv, TIMEOUT_QUICK_S, t->dry_run ? RUN_DRY : 0, NULL);
}

const struct nbd_transport nbd_transport_kernel = {
	.name = "kernel",
	.summary = "the kernel's NBD client: nbd-client + /dev/nbdN",
	.offered = kernel_offered,
	.prepare = nbd_prepare_socket,
	.attach = kernel_attach,
};
