/* nbd tier: swap on vramd's export (backend vram, ram or null) as a block
 * device, made by one of four transports (harness/nbd-transport-*.c):
 * ublk (vramd is /dev/ublkbN itself), kernel (nbd-client + /dev/nbdN),
 * vramd-fuse (vramd's FUSE file + a loop device) or nbdfuse (nbdfuse's
 * FUSE file + a loop device); auto takes the first of these the host
 * offers and says why it passed the others over.  This file owns the
 * lifecycle: vramd in swap mode (locked in memory, OOM-immune where
 * permitted) in a session of its own, the transport's device, swapon;
 * the journal's undo runs it backwards (swapoff, losetup -d or nbd-client
 * -d, vramd stopped by SIGTERM with a deadline, unmount, parameters back),
 * and teardown checks that no daemon's pages went to swap (VmSwap).  The
 * runtime files (socket, pid files, logs, vramd's stats, the FUSE mount
 * point) live in STATE_DIR/nbd.  Try:
 *   sudo swapbench tier up nbd --backend ram --size 2G --transport auto --hold */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
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
#include "tier.h"
#include "vramdcmd.h"

static const struct tier_param nbd_params[] = {
	{ "backend", "NAME", "ram", "vramd backend: vram, ram or null" },
	{ "transport", "NAME", "auto", "ublk (vramd as /dev/ublkbN), kernel (nbd-client + /dev/nbdN), "
	  "vramd-fuse (vramd's FUSE file + loop), nbdfuse (nbdfuse + loop; 'fuse' is its old name) "
	  "or auto (the first of these, in this order, that the host offers)" },
	{ "connections", "N", "4", "kernel and nbdfuse: NBD connections (nbd-client -connections, nbdfuse -C)" },
	{ "timeout", "SECONDS", "30", "kernel transport: dead-connection timeout" },
	{ "queue-depth", "N", NULL, "ublk and vramd-fuse: requests in flight per queue (vramd --queue-depth; "
	  "default vramd's)" },
	{ "fuse-uring", "auto|on|off", "auto", "vramd-fuse: FUSE over io_uring; auto and on turn the fuse "
	  "module's enable_uring on while the tier is up, on fails where the kernel lacks it" },
	{ "threads", "N", NULL, "vramd worker threads, or queues (default: one per CPU, at most connections + 4 on a socket, at most 16 with ublk and vramd-fuse)" },
	{ "gpu", "N", NULL, "vram backend: GPU index" },
	{ "busy-poll", "USECS", NULL, "vramd workers (ublk and FUSE io_uring queue threads; not /dev/fuse readers) poll this long before sleeping (lower latency, a busy core each)" },
	{ "server-swap", "on|off", "on", "run vramd in swap mode (off for sanitizer builds)" },
	{ "vramd", "PATH", NULL, "the vramd binary (default: next to swapbench, else ../sbin from it, else $PATH)" },
	{ NULL, NULL, NULL, NULL },
};

static bool nbd_supported(struct tier *t, char *why, size_t len)
{
	const char *backend = tier_get(t, "backend"), *uring = tier_get(t, "fuse-uring");
	const struct nbd_transport *tr;
	char vramd[PATH_MAX];
	const char *dump[] = { vramd, "--backend", backend, "--dump-backend", NULL };
	struct run_result r;
	uint64_t v;
	bool b;

	why[0] = '\0'; /* a bad value is reported by tier_size and co. */
	if (tier_size(t, "size", &v) < 0 || tier_uint(t, "connections", 1, 16, &v) < 0 ||
	    tier_uint(t, "timeout", 1, 3600, &v) < 0 || tier_uint(t, "threads", 1, 1024, &v) < 0 ||
	    tier_uint(t, "gpu", 0, 255, &v) < 0 || tier_uint(t, "busy-poll", 0, 10000, &v) < 0 ||
	    tier_uint(t, "queue-depth", 1, 4096, &v) < 0 || tier_bool(t, "server-swap", &b) < 0)
		return false;
	if (strcmp(uring, "auto") && strcmp(uring, "on") && strcmp(uring, "off")) {
		error("--fuse-uring: expected auto, on or off, got '%s'", uring);
		return false;
	}
	nbd_vramd_path(t, vramd, sizeof vramd);
	if (!have_command(vramd)) {
		snprintf(why, len, "no vramd binary at '%s' (run make, or pass --vramd PATH)", vramd);
		return false;
	}
	if (run(dump, TIMEOUT_QUICK_S, RUN_QUIET, &r) < 0 ||
	    (!strcmp(backend, "vram") && !strstr(r.out, "cuda=yes"))) {
		snprintf(why, len, "vramd cannot serve backend '%s' here: %s", backend,
			 r.out[0] ? r.out : "no answer to --dump-backend");
		return false;
	}
	return nbd_transport_resolve(t, &tr, why, len);
}

static int paths_init(const struct tier *t, struct nbd_paths *p)
{
	if (pathf(p->dir, sizeof p->dir, "%s/nbd", t->j->dir) < 0 ||
	    pathf(p->sock, sizeof p->sock, "%s/vramd.sock", p->dir) < 0 ||
	    pathf(p->pid, sizeof p->pid, "%s/vramd.pid", p->dir) < 0 ||
	    pathf(p->log, sizeof p->log, "%s/vramd.log", p->dir) < 0 ||
	    pathf(p->stats, sizeof p->stats, "%s/vramd-stats.json", p->dir) < 0 ||
	    pathf(p->mnt, sizeof p->mnt, "%s/mnt", p->dir) < 0 ||
	    pathf(p->fpid, sizeof p->fpid, "%s/nbdfuse.pid", p->dir) < 0 ||
	    pathf(p->flog, sizeof p->flog, "%s/nbdfuse.log", p->dir) < 0)
		return -1;
	return 0;
}

/* What every mode of vramd gets from the settings; the transport's
 * prepare() adds how it serves.  c's strings point into t's settings, p
 * and vramd (the caller's buffer). */
static void vramd_conf_init(const struct tier *t, const struct nbd_paths *p, const char *vramd,
			    struct vramd_conf *c)
{
	uint64_t depth = 0;
	bool swap = true;

	tier_uint(t, "queue-depth", 1, 4096, &depth);
	tier_bool(t, "server-swap", &swap);
	*c = (struct vramd_conf){ .vramd = vramd, .backend = tier_get(t, "backend"),
				  .size = tier_get(t, "size"), .ublk_id = -1,
				  .queue_depth = (unsigned)depth, .threads = tier_get(t, "threads"),
				  .gpu = tier_get(t, "gpu"), .busy_poll = tier_get(t, "busy-poll"),
				  .pidfile = p->pid, .log = p->log, .stats_file = p->stats,
				  .swap = swap };
}

/* Starts vramd as c says (it daemonizes and returns once it serves); what
 * it printed goes to r, its journal index to *idx. */
static int start_vramd(struct tier *t, const struct nbd_paths *p, const struct vramd_conf *c,
		       int *idx, struct run_result *r)
{
	const char *argv[40];
	char nums[64], last[256];
	pid_t pid;

	if (vramd_argv(c, argv, 40, nums, sizeof nums) < 0) {
		error("cannot build the vramd command for '%s'", c->vramd);
		return -1;
	}
	*idx = change_process(t->j, "vramd", p->pid, NULL);
	if (*idx < 0)
		return -1;
	if (run(argv, TIMEOUT_DAEMON_S, t->dry_run ? RUN_DRY : RUN_QUIET, r) < 0) {
		error("vramd did not start (exit %d): %s", r->exit_code,
		      r->out[0] ? r->out : nbd_log_tail(p->log, last, sizeof last));
		return -1;
	}
	if (t->dry_run)
		return 0;
	pid = nbd_read_pidfile(p->pid);
	if (pid <= 0) {
		error("vramd wrote no pid to '%s'", p->pid);
		return -1;
	}
	json_object_set_new(t->state, "vramd_pid", json_integer(pid));
	json_object_set_new(t->state, "stats_file", json_string(p->stats));
	return change_process_pid(t->j, *idx, pid);
}

static int nbd_setup(struct tier *t)
{
	const struct nbd_transport *tr;
	struct nbd_paths p;
	struct vramd_conf c;
	struct run_result r = { .out = "" };
	char vramd[PATH_MAX], why[1024], dev[64];
	int vidx = -1;

	if (!nbd_transport_resolve(t, &tr, why, sizeof why)) {
		error("nbd tier: no transport: %s", why);
		return -1;
	}
	{
		/* Said once a process (run sets the tier up for every repeat;
		 * the state and run.json keep it each time). */
		static char said[32];

		if (strcmp(said, tr->name)) {
			info("nbd tier: transport %s (%s)", tr->name, why);
			snprintf(said, sizeof said, "%s", tr->name);
		} else {
			debug("nbd tier: transport %s (%s)", tr->name, why);
		}
	}
	json_object_set_new(t->state, "transport", json_string(tr->name));
	json_object_set_new(t->state, "transport_why", json_string(why));
	if (paths_init(t, &p) < 0)
		return -1;
	nbd_vramd_path(t, vramd, sizeof vramd);
	vramd_conf_init(t, &p, vramd, &c);
	if (tier_apply_common(t) < 0 || change_dir(t->j, p.dir) < 0 || tr->prepare(t, &p, &c) < 0)
		return -1;
	if (c.mode == VRAMD_SOCKET && tier_get(t, "queue-depth"))
		warn("--queue-depth: transport %s does not use it (ublk and vramd-fuse do)", tr->name);
	if (start_vramd(t, &p, &c, &vidx, &r) < 0 || tr->attach(t, &p, r.out, dev, sizeof dev) < 0)
		return -1;
	json_object_set_new(t->state, "device", json_string(dev));
	/* vramd may not be killed while swap lives on its device. */
	if (!t->dry_run && journal_note(t->j, vidx, "backs", json_string(dev)) < 0)
		return -1;
	return tier_swapon(t, dev);
}

/* {"pid": N, "vm_swap_bytes": N, "cpu_ns": N} of the daemons. */
static json_t *daemons(const struct tier *t)
{
	static const char *const names[] = { "vramd", "nbdfuse" };
	json_t *out = json_object();
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		char key[32];
		pid_t pid;
		uint64_t sw, cpu;

		snprintf(key, sizeof key, "%s_pid", names[i]);
		pid = (pid_t)json_integer_value(json_object_get(t->state, key));
		if (pid <= 0 || pid_vmswap(pid, &sw) < 0)
			continue;
		json_object_set_new(out, names[i], json_pack("{s:i, s:I}", "pid", (int)pid,
							     "vm_swap_bytes", (json_int_t)sw));
		if (pid_cpu_ns(pid, &cpu) == 0)
			json_object_set_new(json_object_get(out, names[i]), "cpu_ns",
					    json_integer((json_int_t)cpu));
	}
	return out;
}

static int nbd_teardown(struct tier *t)
{
	json_t *d = daemons(t), *v;
	const char *name;
	int rc = 0;

	json_object_foreach(d, name, v) {
		json_int_t sw = json_integer_value(json_object_get(v, "vm_swap_bytes"));

		if (sw > 0) {
			warn("%lld bytes of %s's memory were swapped out: it can deadlock serving "
			     "swap (run it locked in memory)", (long long)sw, name);
			rc = -1;
		}
	}
	json_decref(d);
	return rc;
}

/* vramd's statistics.  vramd rewrites its stats file every second; with
 * fresh, swapbench also asks it for a new one (SIGUSR1) and waits up to
 * 1 s for the file to change: describe() only, never counters(), which the
 * sampler thread calls and which must not block. */
static json_t *vramd_stats(const struct tier *t, bool fresh)
{
	const char *file = tier_state(t, "stats_file");
	pid_t pid = (pid_t)json_integer_value(json_object_get(t->state, "vramd_pid"));
	struct stat before, now;
	int i;

	if (!file || pid <= 0)
		return NULL;
	if (stat(file, &before) < 0)
		memset(&before, 0, sizeof before);
	if (fresh && kill(pid, SIGUSR1) == 0) {
		for (i = 0; i < 40; i++) {
			if (stat(file, &now) == 0 &&
			    (now.st_ino != before.st_ino || now.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
			     now.st_mtim.tv_sec != before.st_mtim.tv_sec))
				break;
			usleep(25000);
		}
	}
	return json_load_file(file, 0, NULL);
}

static int nbd_describe(const struct tier *t, json_t *out)
{
	const char *keys[] = { "transport", "transport_why", "device", "swap_dev", "fuse_uring",
			       "fuse_enable_uring" };
	json_t *s = vramd_stats(t, true), *dio = json_object_get(t->state, "direct_io");
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (tier_state(t, keys[i]))
			json_object_set_new(out, keys[i], json_string(tier_state(t, keys[i])));
	if (dio)
		json_object_set(out, "direct_io", dio);
	json_object_set_new(out, "backend", json_string(tier_get(t, "backend")));
	if (s) {
		json_object_set(out, "export_size_bytes", json_object_get(s, "size_bytes"));
		json_object_set(out, "server_swap_mode", json_object_get(s, "swap_mode"));
		if (json_object_get(s, "frontend"))
			json_object_set(out, "frontend", json_object_get(s, "frontend"));
		json_decref(s);
	}
	return 0;
}

static int nbd_counters(const struct tier *t, json_t *out)
{
	const char *dev = tier_state(t, "device");
	json_t *s = vramd_stats(t, false), *cmds, *o;
	char path[PATH_MAX], buf[512];

	if (dev && !strncmp(dev, "/dev/", 5)) {
		snprintf(path, sizeof path, "/sys/block/%s/stat", dev + 5);
		if (read_text(path, buf, sizeof buf) >= 0) {
			o = json_object();
			fields_to_json(buf, blockstat_fields, blockstat_nfields, o);
			json_object_set_new(out, "block_stat", o);
		}
	}
	cmds = s ? json_object_get(s, "commands") : NULL;
	if (cmds) {
		static const char *const which[] = { "read", "write", "flush", "trim" };
		json_t *v = json_object();
		size_t i;

		for (i = 0; i < sizeof which / sizeof which[0]; i++) {
			json_t *c = json_object_get(cmds, which[i]);

			if (c)
				json_object_set_new(v, which[i], json_pack("{s:O*, s:O*, s:O*}",
					"count", json_object_get(c, "count"),
					"bytes", json_object_get(c, "bytes"),
					"errors", json_object_get(c, "errors")));
		}
		json_object_set(v, "connections_current", json_object_get(s, "connections_current"));
		json_object_set_new(out, "vramd", v);
	}
	json_decref(s);
	json_object_set_new(out, "daemons", daemons(t));
	tier_swap_counters(t, out);
	return 0;
}

static const struct tier_colour nbd_colours[] = {
	{ "nbd", 0x17becf }, { "nbd-vram", 0x2ca02c }, { "nbd-ram", 0x9467bd }, { "nbd-null", 0x8c564b },
	{ NULL, 0 },
};

/* The tier the project exists for: VRAM where the GPU works, else host
 * memory behind the same transport (its control), which its label says
 * either way. */
static void nbd_default_spec(struct tier *t, char *spec, size_t len)
{
	const struct nbd_transport *tr;
	char why[512], vramd[PATH_MAX];

	nbd_vramd_path(t, vramd, sizeof vramd);
	if (nbd_transport_resolve(t, &tr, why, sizeof why))
		info("tier nbd: transport %s (auto: %s)", tr->name, why);
	if (nbd_vram_works(vramd, why, sizeof why)) {
		info("tier nbd: backend vram (the GPU works)");
		snprintf(spec, len, "nbd:backend=vram");
	} else {
		info("tier nbd: backend ram, the transport's control (no vram backend here: %s)", why);
		snprintf(spec, len, "nbd:backend=ram");
	}
}

static void nbd_tool_versions(const struct tier *t, const char *label, json_t *v)
{
	static const char *const nbdfuse[] = { "nbdfuse", "--version", NULL };
	static const char *const nbdc[] = { "nbd-client", "-V", NULL };
	char vramd[PATH_MAX];
	json_t *dumps = json_object_get(v, "vramd"), *d;

	if (!dumps) {
		json_object_set_new(v, "nbdfuse", command_version(nbdfuse));
		json_object_set_new(v, "nbd-client", command_version(nbdc));
		json_object_set_new(v, "vramd", dumps = json_object());
	}
	nbd_vramd_path(t, vramd, sizeof vramd);
	d = nbd_vramd_dump(vramd);
	json_object_set_new(dumps, label, d ? d : json_null());
}

const struct tier_ops tier_nbd = {
	.name = "nbd",
	.colours = nbd_colours,
	.summary = "vramd's export (vram, ram or null) as swap, via ublk, nbd-client, vramd's FUSE or nbdfuse",
	.params = nbd_params,
	.supported = nbd_supported,
	.setup = nbd_setup,
	.teardown = nbd_teardown,
	.describe = nbd_describe,
	.counters = nbd_counters,
	.default_spec = nbd_default_spec,
	.tool_versions = nbd_tool_versions,
};
