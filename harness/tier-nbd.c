/* nbd tier: swap on vramd's export (backend vram, ram or null) reached as a
 * block device, through the kernel's NBD client (transport kernel:
 * nbd-client -unix SOCK /dev/nbdN) or, where the kernel has no nbd module,
 * through nbdfuse and a loop device with direct I/O (transport fuse).
 * vramd runs in swap mode (locked in memory, OOM-immune where permitted);
 * both daemons run in sessions of their own, and teardown checks that none
 * of their pages went to swap (VmSwap).  The runtime files (socket, pid
 * files, logs, vramd's stats) live in STATE_DIR/nbd.  Try:
 *   sudo swapbench tier up nbd --backend ram --size 2G --transport fuse --hold */
#include <errno.h>
#include <glob.h>
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
#include "nbdclient.h"
#include "procfs.h"
#include "run.h"
#include "tier.h"

static const struct tier_param nbd_params[] = {
	{ "backend", "NAME", "ram", "vramd backend: vram, ram or null" },
	{ "transport", "NAME", "auto", "kernel (nbd module), fuse (nbdfuse + loop) or auto" },
	{ "connections", "N", "4", "NBD connections (nbd-client -connections, nbdfuse -C)" },
	{ "timeout", "SECONDS", "30", "kernel transport: dead-connection timeout" },
	{ "threads", "N", NULL, "vramd worker threads (default: one per CPU, at most connections + 4)" },
	{ "gpu", "N", NULL, "vram backend: GPU index" },
	{ "busy-poll", "USECS", NULL, "vramd workers poll this long before sleeping (lower latency, a busy core each)" },
	{ "server-swap", "on|off", "on", "run vramd in swap mode (off for sanitizer builds)" },
	{ "vramd", "PATH", NULL, "the vramd binary (default: next to swapbench, else $PATH)" },
	{ NULL, NULL, NULL, NULL },
};

static void vramd_path(const struct tier *t, char *buf, size_t len)
{
	const char *v = tier_get(t, "vramd");
	char self[PATH_MAX];

	if (v) {
		snprintf(buf, len, "%s", v);
		return;
	}
	if (self_dir(self, sizeof self) == 0 && pathf(buf, len, "%s/vramd", self) == 0 &&
	    access(buf, X_OK) == 0)
		return;
	snprintf(buf, len, "vramd");
}

static bool kernel_nbd_present(void)
{
	return access("/dev/nbd0", F_OK) == 0 || access("/sys/module/nbd", F_OK) == 0;
}

static bool kernel_nbd_loadable(void)
{
	const char *modprobe[] = { "modprobe", "-n", "-q", "nbd", NULL };

	return run(modprobe, TIMEOUT_QUICK_S, RUN_QUIET, NULL) == 0;
}

/* The transport in force: kernel or fuse (auto resolved). */
static const char *transport(const struct tier *t)
{
	const char *tr = tier_get(t, "transport");

	if (strcmp(tr, "auto"))
		return tr;
	return kernel_nbd_present() || kernel_nbd_loadable() ? "kernel" : "fuse";
}

static bool nbd_supported(struct tier *t, char *why, size_t len)
{
	const char *tr = tier_get(t, "transport"), *backend = tier_get(t, "backend");
	char vramd[PATH_MAX];
	const char *dump[] = { vramd, "--backend", backend, "--dump-backend", NULL };
	struct run_result r;
	uint64_t v;
	bool b;

	if (strcmp(tr, "auto") && strcmp(tr, "kernel") && strcmp(tr, "fuse")) {
		snprintf(why, len, "--transport: expected kernel, fuse or auto, got '%s'", tr);
		return false;
	}
	if (tier_size(t, "size", &v) < 0 || tier_uint(t, "connections", 1, 16, &v) < 0 ||
	    tier_uint(t, "timeout", 1, 3600, &v) < 0 || tier_uint(t, "threads", 1, 1024, &v) < 0 ||
	    tier_uint(t, "gpu", 0, 255, &v) < 0 || tier_uint(t, "busy-poll", 0, 10000, &v) < 0 ||
	    tier_bool(t, "server-swap", &b) < 0) {
		why[0] = '\0'; /* reported by tier_size and co. */
		return false;
	}
	vramd_path(t, vramd, sizeof vramd);
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
	tr = transport(t);
	if (!strcmp(tr, "kernel")) {
		if (!have_command("nbd-client")) {
			snprintf(why, len, "transport kernel: nbd-client not installed (apt install nbd-client)");
			return false;
		}
		if (!kernel_nbd_present() && !kernel_nbd_loadable()) {
			snprintf(why, len, "transport kernel: no kernel NBD client (/dev/nbd0 absent, no nbd "
				 "module: CONFIG_BLK_DEV_NBD); use --transport fuse");
			return false;
		}
		return true;
	}
	if (!have_command("nbdfuse") || !have_command("fusermount3") || !have_command("losetup")) {
		snprintf(why, len, "transport fuse: needs nbdfuse, fusermount3 and losetup "
			 "(apt install nbdfuse fuse3 mount)");
		return false;
	}
	if (access("/dev/fuse", F_OK) < 0 || access("/dev/loop-control", F_OK) < 0) {
		snprintf(why, len, "transport fuse: needs /dev/fuse and /dev/loop-control "
			 "(modprobe fuse loop)");
		return false;
	}
	return true;
}

/* Runtime paths, all under STATE_DIR/nbd. */
struct nbd_paths {
	char dir[PATH_MAX], sock[PATH_MAX], pid[PATH_MAX], log[PATH_MAX], stats[PATH_MAX];
	char mnt[PATH_MAX], file[PATH_MAX], fpid[PATH_MAX], flog[PATH_MAX];
};

static int paths_init(const struct tier *t, struct nbd_paths *p)
{
	if (pathf(p->dir, sizeof p->dir, "%s/nbd", t->j->dir) < 0 ||
	    pathf(p->sock, sizeof p->sock, "%s/vramd.sock", p->dir) < 0 ||
	    pathf(p->pid, sizeof p->pid, "%s/vramd.pid", p->dir) < 0 ||
	    pathf(p->log, sizeof p->log, "%s/vramd.log", p->dir) < 0 ||
	    pathf(p->stats, sizeof p->stats, "%s/vramd-stats.json", p->dir) < 0 ||
	    pathf(p->mnt, sizeof p->mnt, "%s/mnt", p->dir) < 0 ||
	    pathf(p->file, sizeof p->file, "%s/mnt/nbd", p->dir) < 0 ||
	    pathf(p->fpid, sizeof p->fpid, "%s/nbdfuse.pid", p->dir) < 0 ||
	    pathf(p->flog, sizeof p->flog, "%s/nbdfuse.log", p->dir) < 0)
		return -1;
	return 0;
}

/* The last line of a log file, for error messages. */
static const char *log_tail(const char *path, char *buf, size_t len)
{
	char *all = read_all(path), *end, *nl;

	snprintf(buf, len, "(no log)");
	if (!all)
		return buf;
	end = all + strlen(all);
	while (end > all && end[-1] == '\n')
		*--end = '\0';
	nl = strrchr(all, '\n');
	snprintf(buf, len, "%s", nl ? nl + 1 : all);
	free(all);
	return buf;
}

static pid_t read_pidfile(const char *path)
{
	char buf[32];

	return read_text(path, buf, sizeof buf) > 0 ? (pid_t)atoi(buf) : 0;
}

static int start_vramd(struct tier *t, const struct nbd_paths *p, int *idx)
{
	char vramd[PATH_MAX], size[32], conns[16], last[256];
	const char *argv[32];
	uint64_t nconn = 4;
	bool swap = true;
	int n = 0;
	pid_t pid;

	vramd_path(t, vramd, sizeof vramd);
	tier_uint(t, "connections", 1, 16, &nconn);
	tier_bool(t, "server-swap", &swap);
	snprintf(size, sizeof size, "%s", tier_get(t, "size"));
	snprintf(conns, sizeof conns, "%" PRIu64, nconn + 4);
	argv[n++] = vramd;
	argv[n++] = "--backend";
	argv[n++] = tier_get(t, "backend");
	argv[n++] = "--size";
	argv[n++] = size;
	argv[n++] = "--socket";
	argv[n++] = p->sock;
	argv[n++] = "--pidfile";
	argv[n++] = p->pid;
	argv[n++] = "--log";
	argv[n++] = p->log;
	argv[n++] = "--stats-file";
	argv[n++] = p->stats;
	argv[n++] = "--max-connections";
	argv[n++] = conns;
	if (tier_get(t, "threads")) {
		argv[n++] = "--threads";
		argv[n++] = tier_get(t, "threads");
	}
	if (tier_get(t, "gpu")) {
		argv[n++] = "--gpu";
		argv[n++] = tier_get(t, "gpu");
	}
	if (tier_get(t, "busy-poll")) {
		argv[n++] = "--busy-poll";
		argv[n++] = tier_get(t, "busy-poll");
	}
	argv[n++] = swap ? "--swap" : "--no-swap";
	argv[n] = NULL;

	*idx = change_process(t->j, "vramd", p->pid, NULL);
	if (*idx < 0)
		return -1;
	/* vramd daemonizes and returns once it listens. */
	if (run(argv, TIMEOUT_DAEMON_S, t->dry_run ? RUN_DRY : RUN_QUIET, NULL) < 0) {
		error("vramd did not start: %s", log_tail(p->log, last, sizeof last));
		return -1;
	}
	if (t->dry_run)
		return 0;
	pid = read_pidfile(p->pid);
	if (pid <= 0) {
		error("vramd wrote no pid to '%s'", p->pid);
		return -1;
	}
	json_object_set_new(t->state, "vramd_pid", json_integer(pid));
	json_object_set_new(t->state, "stats_file", json_string(p->stats));
	return change_process_pid(t->j, *idx, pid);
}

/* Asks the daemon at PID to be spared by the OOM killer; needs
 * CAP_SYS_RESOURCE, so its absence is a warning. */
static void oom_protect(pid_t pid, const char *name)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
	if (write_text(path, "-1000", true) < 0)
		warn("cannot make %s (pid %d) immune to the OOM killer: %m (needs CAP_SYS_RESOURCE)",
		     name, (int)pid);
}

static int start_fuse(struct tier *t, const struct nbd_paths *p, int *idx)
{
	char conns[16], last[256];
	const char *argv[] = { "nbdfuse", "-P", p->fpid, "-C", conns, p->file, "--unix", p->sock, NULL };
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
		if (read_pidfile(p->fpid) > 0 && is_mounted(p->mnt, NULL, 0) &&
		    stat(p->file, &st) == 0 && st.st_size > 0)
			break;
		if (!pid_alive(pid, 0)) {
			error("nbdfuse exited during start-up: %s", log_tail(p->flog, last, sizeof last));
			return -1;
		}
		if (sleep_ms(50)) {
			error("interrupted while nbdfuse started");
			return -1;
		}
	}
	if (stat(p->file, &st) < 0 || st.st_size == 0) {
		error("nbdfuse did not serve '%s' within %d s: %s", p->file, TIMEOUT_DAEMON_S,
		      log_tail(p->flog, last, sizeof last));
		return -1;
	}
	json_object_set_new(t->state, "nbdfuse_pid", json_integer(pid));
	oom_protect(pid, "nbdfuse");
	return 0;
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

static int attach_kernel(struct tier *t, const struct nbd_paths *p, char *dev, size_t len)
{
	const char *modprobe[] = { "modprobe", "nbd", NULL };
	const char *rmmod[] = { "rmmod", "nbd", NULL };
	const char *argv[24], *disc[4];
	struct nbd_client_conf c;
	uint64_t conns = 4, timeout = 30;
	char buf[64];

	if (!kernel_nbd_present()) {
		if (change_on_undo_run(t->j, rmmod, TIMEOUT_QUICK_S) < 0 ||
		    run(modprobe, TIMEOUT_QUICK_S, t->dry_run ? RUN_DRY : 0, NULL) < 0)
			return -1;
	}
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

static int nbd_setup(struct tier *t)
{
	struct nbd_paths p;
	const char *tr = transport(t);
	char dev[64];
	int vidx = -1, fidx = -1;
	bool dio = false;

	if (paths_init(t, &p) < 0)
		return -1;
	json_object_set_new(t->state, "transport", json_string(tr));
	if (tier_apply_common(t) < 0 || change_dir(t->j, p.dir) < 0 || start_vramd(t, &p, &vidx) < 0)
		return -1;
	if (!strcmp(tr, "fuse")) {
		if (start_fuse(t, &p, &fidx) < 0 || change_loop(t->j, p.file, dev, sizeof dev, &dio) < 0)
			return -1;
		json_object_set_new(t->state, "direct_io", json_boolean(dio));
		if (!dio)
			warn("'%s' has no direct I/O: swap writes go through the page cache", dev);
	} else if (attach_kernel(t, &p, dev, sizeof dev) < 0) {
		return -1;
	}
	json_object_set_new(t->state, "device", json_string(dev));
	/* Neither daemon may be killed while swap lives on their device. */
	if (!t->dry_run && (journal_note(t->j, vidx, "backs", json_string(dev)) < 0 ||
			    (fidx >= 0 && journal_note(t->j, fidx, "backs", json_string(dev)) < 0)))
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

/* vramd's statistics, fresh: SIGUSR1, then wait for the file to change. */
static json_t *vramd_stats(const struct tier *t)
{
	const char *file = tier_state(t, "stats_file");
	pid_t pid = (pid_t)json_integer_value(json_object_get(t->state, "vramd_pid"));
	struct stat before, now;
	int i;

	if (!file || pid <= 0)
		return NULL;
	if (stat(file, &before) < 0)
		memset(&before, 0, sizeof before);
	if (kill(pid, SIGUSR1) == 0) {
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
	const char *keys[] = { "transport", "device", "swap_dev" };
	json_t *s = vramd_stats(t), *dio = json_object_get(t->state, "direct_io");
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
		json_decref(s);
	}
	return 0;
}

static int nbd_counters(const struct tier *t, json_t *out)
{
	const char *dev = tier_state(t, "device");
	json_t *s = vramd_stats(t), *cmds, *o;
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

const struct tier_ops tier_nbd = {
	.name = "nbd",
	.summary = "vramd's NBD export (vram, ram or null) as swap, via nbd-client or nbdfuse",
	.params = nbd_params,
	.supported = nbd_supported,
	.setup = nbd_setup,
	.teardown = nbd_teardown,
	.describe = nbd_describe,
	.counters = nbd_counters,
};
