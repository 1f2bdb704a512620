/* The nbd tier's transports: how vramd's export becomes the block device
 * that swap goes on.  One file each, harness/nbd-transport-<name>.c ending
 * in `const struct nbd_transport nbd_transport_<name> = {...};`, listed
 * once in NBD_TRANSPORTS below, in the order `--transport auto` prefers
 * them.  tier-nbd.c owns the lifecycle (vramd, swapon, teardown, counters);
 * a transport only journals what must outlive vramd before it starts, says
 * how vramd serves (socket, ublk, FUSE), and makes the device once vramd
 * runs.  Try:
 *   build/swapbench doctor        (the "nbd transports" section) */
#ifndef SWAPBENCH_NBD_TRANSPORT_H
#define SWAPBENCH_NBD_TRANSPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "tier.h"
#include "vramdcmd.h"

/* Preference order of auto: vramd as the block device itself (ublk), the
 * kernel's NBD client, vramd's own FUSE file, nbdfuse's FUSE file. */
#define NBD_TRANSPORTS(X) X(ublk) X(kernel) X(vramd_fuse) X(nbdfuse)

/* Runtime files, all under STATE_DIR/nbd. */
struct nbd_paths {
	char dir[PATH_MAX];	/* STATE_DIR/nbd */
	char sock[PATH_MAX];	/* vramd's socket (socket transports) */
	char pid[PATH_MAX], log[PATH_MAX], stats[PATH_MAX];	/* vramd's */
	char mnt[PATH_MAX];	/* FUSE mount point (FUSE transports) */
	char fpid[PATH_MAX], flog[PATH_MAX];	/* nbdfuse's */
};

struct nbd_transport {
	const char *name;	/* as --transport takes it */
	const char *summary;	/* one line for the parameter help and doctor */

	/* Whether this host offers the transport (kernel features, tools, a
	 * vramd at VRAMD that has the mode), changing nothing.  True with
	 * what was found in detail, false with the reason and its fix. */
	bool (*offered)(const char *vramd, char *detail, size_t len);

	/* Whether t's settings suit the transport where it is offered
	 * (--fuse-uring on needs a kernel with FUSE over io_uring); false
	 * with why.  May be NULL. */
	bool (*check)(const struct tier *t, char *why, size_t len);

	/* Before vramd starts: journals the changes to undo once vramd has
	 * stopped (a mount point, a kernel parameter, a module to unload)
	 * and sets how vramd serves in c (mode, socket, ublk id, mount
	 * point); the strings c points to live in p or static storage.  In
	 * a dry run, prints.  0, or -1 with a message. */
	int (*prepare)(struct tier *t, const struct nbd_paths *p, struct vramd_conf *c);

	/* Once vramd runs (it printed OUT as it started): makes the block
	 * device and writes its path to dev; helpers it starts are journaled
	 * as backing dev.  May add facts to t->state.  0, or -1 with a
	 * message (the journal undoes what was done). */
	int (*attach)(struct tier *t, const struct nbd_paths *p, const char *out,
		      char *dev, size_t len);
};

#define X(n) extern const struct nbd_transport nbd_transport_##n;
NBD_TRANSPORTS(X)
#undef X

/* In auto's order, ended by NULL. */
extern const struct nbd_transport *const nbd_transports[];

/* The transport NAME ("fuse" is the old name of nbdfuse), or NULL. */
const struct nbd_transport *nbd_transport_find(const char *name);

/* Auto's choice among n transports in preference order: the first whose
 * ok[i], its index, or -1 when none is.  In why, each one passed over with
 * its reason ("ublk: no /dev/ublk-control ...; kernel: ..."), then the
 * choice. */
int nbd_transport_pick(const char *const names[], const bool ok[], const char *const reasons[],
		       int n, char *why, size_t len);

/* Whether transport tr can run here with t's settings (offered, then its
 * check); false with the reason in why.  Changes nothing. */
bool nbd_transport_usable(const struct nbd_transport *tr, const struct tier *t, char *why,
			  size_t len);

/* Resolves t's --transport (auto: the first usable) to *out with the
 * reason in why.  False with the reason when the named transport, or for
 * auto every one, cannot run here.  Changes nothing. */
bool nbd_transport_resolve(const struct tier *t, const struct nbd_transport **out, char *why,
			   size_t len);

/* {"<name>": {"offered": bool, "detail": "..."}, ..., "auto": NAME or
 * null, "auto_why": "..."} for doctor, with default settings. */
json_t *nbd_transports_json(void);

/* --- what the transports and tier-nbd.c share --------------------------------- */

/* prepare() of the transports that are NBD clients (kernel, nbdfuse):
 * vramd listens on p->sock with room for --connections + 4. */
int nbd_prepare_socket(struct tier *t, const struct nbd_paths *p, struct vramd_conf *c);

/* The FUSE transports' block device: a loop device on FILE with direct I/O
 * where it can (journaled; state.direct_io says whether it got it). */
int nbd_loop_on(struct tier *t, const char *file, char *dev, size_t len);

/* The vramd binary: --vramd, else next to swapbench, else ../sbin/vramd
 * from it (make install), else "vramd" (found on PATH). */
void nbd_vramd_path(const struct tier *t, char *buf, size_t len);

/* The last line of a log file (or "(no log)"), for error messages. */
const char *nbd_log_tail(const char *path, char *buf, size_t len);

/* The pid in a pid file, or 0. */
pid_t nbd_read_pidfile(const char *path);

/* Asks for the daemon PID to be spared by the OOM killer; without
 * CAP_SYS_RESOURCE that fails, with a warning. */
void nbd_oom_protect(pid_t pid, const char *name);

/* Loads kernel module MODULE unless PRESENT exists (a device node or
 * /sys/module entry), journaling `rmmod MODULE` first.  0 or -1. */
int nbd_load_module(struct tier *t, const char *module, const char *present);

/* Whether the vramd at VRAMD has OPTION (its --help documents it): a
 * vramd built before the option existed has not. */
bool nbd_vramd_has(const char *vramd, const char *option);

/* `VRAMD --dump-backend --backend=vram` as an object of its key=value
 * lines (version, commit, supported, reason, cuda, ...), or NULL when it
 * could not run or did not answer in time. */
json_t *nbd_vramd_dump(const char *vramd);

/* Whether the vramd at VRAMD can run its vram backend here (a GPU that
 * works, a CUDA build): its dump says supported=yes; false with vramd's
 * reason in why. */
bool nbd_vram_works(const char *vramd, char *why, size_t len);

/* Whether the kernel has MODULE loaded (PRESENT exists) or can load it
 * (modprobe -n). */
bool nbd_module_available(const char *module, const char *present);

#endif
