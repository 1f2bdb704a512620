/* swapbench doctor: what this host can run and why not (kernel features,
 * modules, tools and their versions, cgroups, PSI, GPU), and configuration
 * advice (advice.c).  Changes nothing; runs as any user (some answers need
 * root).  Try:
 *   build/swapbench doctor
 *   build/swapbench doctor --json | jq .tiers,.nbd_transports */
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "advice.h"
#include "cmd.h"
#include "log.h"
#include "memcg.h"
#include "nbd-transport.h"
#include "procfs.h"
#include "run.h"
#include "scenario.h"
#include "tier.h"

static const char usage_text[] =
	"usage: swapbench doctor [--json]\n"
	"\n"
	"Says what this host can run and why not: root, PSI, memory cgroups,\n"
	"each tier's kernel features (zram, zswap, the nbd module, FUSE, loop),\n"
	"which transports the nbd tier has here (ublk, kernel, vramd-fuse with or\n"
	"without FUSE over io_uring, nbdfuse), why not, and which auto takes,\n"
	"the tools swapbench drives and their versions, the GPU; then advice from\n"
	"established rules (zram and zswap both on, swappiness with a RAM-speed\n"
	"tier, swap on a Kubernetes node, a desktop without an OOM daemon,\n"
	"vm.page-cluster with zram).  Changes nothing.\n"
	"\n"
	"  --json   one JSON document (schema swapbench-doctor) on stdout\n";

static void check(json_t *checks, const char *name, bool ok, const char *detail, const char *fix)
{
	json_t *c = json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok, "detail", detail);

	if (!ok && fix)
		json_object_set_new(c, "fix", json_string(fix));
	json_array_append_new(checks, c);
}

static bool has_cap(int cap)
{
	char *st = read_all("/proc/self/status"), v[64];
	unsigned long long eff = 0;

	if (st && kv_str(st, "CapEff", v, sizeof v) == 0)
		eff = strtoull(v, NULL, 16);
	free(st);
	return (eff >> cap) & 1;
}

static void gather_checks(json_t *checks)
{
	struct memcg_root r;
	char buf[512], detail[PATH_MAX + 64];
	bool b;

	check(checks, "root", geteuid() == 0, geteuid() == 0 ? "running as root" : "not root",
	      "run swapbench as root (sudo) to set tiers up");
	b = read_text("/proc/pressure/memory", buf, sizeof buf) >= 0;
	check(checks, "psi", b, b ? "/proc/pressure/memory is readable" : "no /proc/pressure/memory",
	      "boot with psi=1 (CONFIG_PSI)");
	if (memcg_find(&r) == 0) {
		snprintf(detail, sizeof detail, "cgroup v%d memory controller at '%s'", r.version, r.root);
		check(checks, "memory_cgroup", true, detail, NULL);
	} else {
		check(checks, "memory_cgroup", false, "no mounted hierarchy has the memory controller",
		      "mount cgroup2 with the memory controller, or boot without cgroup_disable=memory");
	}
	b = has_cap(24); /* CAP_SYS_RESOURCE */
	check(checks, "cap_sys_resource", b, b ? "present" : "absent: vramd and nbdfuse cannot be made "
	      "OOM-immune (oom_score_adj -1000) or I/O flushers", "run outside a container or VM "
	      "sandbox that drops CAP_SYS_RESOURCE");
	b = access("/sys/class/zram-control", F_OK) == 0 || access("/sys/block/zram0", F_OK) == 0;
	if (b && read_text("/sys/block/zram0/comp_algorithm", buf, sizeof buf) >= 0) {
		char cur[64], list[256];

		choice_parse(buf, cur, sizeof cur, list, sizeof list);
		snprintf(detail, sizeof detail, "zram algorithms: %s", list);
	} else {
		snprintf(detail, sizeof detail, b ? "zram present" : "no zram");
	}
	check(checks, "zram", b, detail, "modprobe zram (CONFIG_ZRAM)");
	b = read_text("/sys/module/zswap/parameters/enabled", buf, sizeof buf) >= 0;
	snprintf(detail, sizeof detail, b ? "zswap enabled=%s" : "no zswap", buf);
	check(checks, "zswap", b, detail, "CONFIG_ZSWAP");
	b = access("/dev/nbd0", F_OK) == 0 || access("/sys/module/nbd", F_OK) == 0;
	check(checks, "nbd_module", b, b ? "kernel NBD client present" :
	      "no kernel NBD client: the nbd tier's kernel transport is not offered",
	      "modprobe nbd (CONFIG_BLK_DEV_NBD)");
	b = access("/dev/fuse", F_OK) == 0;
	check(checks, "fuse", b, b ? "/dev/fuse present" : "no /dev/fuse", "modprobe fuse");
	b = access("/dev/loop-control", F_OK) == 0;
	check(checks, "loop", b, b ? "/dev/loop-control present" : "no /dev/loop-control", "modprobe loop");
	b = is_mounted("/sys/kernel/debug", NULL, 0);
	check(checks, "debugfs", b, b ? "mounted at /sys/kernel/debug" :
	      "not mounted (the zswap tier mounts it for its counters)", "mount -t debugfs debugfs /sys/kernel/debug");
}

static json_t *gather_tiers(void)
{
	json_t *out = json_object();
	int i;

	for (i = 0; tiers[i]; i++) {
		json_t *settings = json_object(), *state = json_object();
		struct tier t = { .ops = tiers[i], .settings = settings, .state = state, .dry_run = true };
		char why[512] = "";
		bool ok;

		ok = tiers[i]->supported(&t, why, sizeof why);
		json_object_set_new(out, tiers[i]->name, ok ? json_pack("{s:b}", "supported", 1) :
				    json_pack("{s:b, s:s}", "supported", 0, "why", why));
		json_decref(settings);
		json_decref(state);
	}
	return out;
}

/* First line of `TOOL ARG`, or NULL when it is not installed. */
static json_t *tool_version(const char *tool, const char *arg)
{
	const char *argv[] = { tool, arg, NULL };
	struct run_result r;
	char *nl;

	if (!have_command(tool))
		return json_null();
	run(argv, 10, RUN_QUIET, &r);
	nl = strchr(r.out, '\n');
	if (nl)
		*nl = '\0';
	return json_string(r.out[0] ? r.out : "(no version printed)");
}

static json_t *gather_tools(void)
{
	static const struct { const char *name, *arg; } tools[] = {
		{ "nbd-client", "-V" }, { "nbdfuse", "--version" }, { "nbdkit", "--version" },
		{ "nbdinfo", "--version" }, { "fio", "--version" }, { "stress-ng", "--version" },
		{ "mkswap", "--version" }, { "swapon", "--version" }, { "losetup", "--version" },
		{ "fusermount3", "--version" }, { "jq", "--version" }, { "nvidia-smi", "--version" },
	};
	json_t *out = json_object(), *settings = json_object(), *state = json_object();
	struct tier t = { .ops = &tier_nbd, .settings = settings, .state = state, .dry_run = true };
	char vramd[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof tools / sizeof tools[0]; i++)
		json_object_set_new(out, tools[i].name, tool_version(tools[i].name, tools[i].arg));
	/* The vramd the nbd tier would run. */
	nbd_vramd_path(&t, vramd, sizeof vramd);
	json_object_set_new(out, "vramd", tool_version(vramd, "--version"));
	json_decref(settings);
	json_decref(state);
	return out;
}

static json_t *gather_gpu(void)
{
	const char *argv[] = { "nvidia-smi", "-L", NULL };
	struct run_result r;
	char drv[512];

	if (read_text("/proc/driver/nvidia/version", drv, sizeof drv) < 0)
		snprintf(drv, sizeof drv, "none");
	if (!have_command("nvidia-smi") || run(argv, 15, RUN_QUIET, &r) < 0)
		return json_pack("{s:b, s:s}", "present", 0, "driver", drv);
	return json_pack("{s:b, s:s, s:s}", "present", 1, "driver", drv, "gpus", r.out);
}

static bool process_running(const char *const names[], size_t n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)) != NULL) {
		char path[300], comm[64];
		size_t i;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
		if (read_text(path, comm, sizeof comm) < 0)
			continue;
		for (i = 0; i < n; i++)
			found |= !strcmp(comm, names[i]);
	}
	if (d)
		closedir(d);
	return found;
}

static void gather_facts(struct host_facts *f)
{
	static const char *const oomd[] = { "earlyoom", "systemd-oomd", "nohang", "oomd" };
	struct swap_area a[16];
	char buf[256], *kubelet, target[PATH_MAX];
	int n, i;
	ssize_t l;

	memset(f, 0, sizeof *f);
	n = swaps_read(a, 16);
	f->swap_active = n > 0;
	for (i = 0; i < n && i < 16; i++)
		f->zram_swap |= !strncmp(a[i].name, "/dev/zram", 9);
	f->zswap_enabled = read_text("/sys/module/zswap/parameters/enabled", buf, sizeof buf) > 0 &&
			   buf[0] == 'Y';
	f->swappiness = read_text("/proc/sys/vm/swappiness", buf, sizeof buf) > 0 ? atoi(buf) : -1;
	f->page_cluster = read_text("/proc/sys/vm/page-cluster", buf, sizeof buf) > 0 ? atoi(buf) : -1;
	kubelet = read_all("/var/lib/kubelet/config.yaml");
	f->kubelet = kubelet != NULL;
	/* failSwapOn defaults to true; only an explicit false turns it off. */
	f->fail_swap_on = !(kubelet && kv_has(kubelet, "failSwapOn", "false"));
	free(kubelet);
	l = readlink("/etc/systemd/system/default.target", target, sizeof target - 1);
	if (l > 0) {
		target[l] = '\0';
		f->desktop = strstr(target, "graphical.target") != NULL;
	}
	f->oom_daemon = process_running(oomd, sizeof oomd / sizeof oomd[0]);
}

/* How `swapbench run` would size the default scenario here ("auto"
 * values), or why it cannot. */
static json_t *default_run(void)
{
	struct scenario sc;
	struct host_shape h;
	char path[PATH_MAX];

	scenario_path("overcommit", path, sizeof path);
	if (access(path, R_OK) != 0)
		return json_pack("{s:s, s:s}", "scenario", "overcommit", "error", "scenario file not found");
	if (scenario_load(path, &sc) < 0 || host_shape_read(&h, NULL) < 0)
		return json_pack("{s:s, s:s}", "scenario", "overcommit", "error", "scenario not loaded (see above)");
	if (scenario_fit(&sc, &h) < 0)
		return json_pack("{s:s, s:s}", "scenario", "overcommit", "error",
				 "this host is too small for it (see above)");
	return json_pack("{s:s, s:s, s:I, s:i, s:I, s:i}", "scenario", "overcommit", "sizing", sc.sizing,
			 "memcg_limit_bytes", (json_int_t)scenario_limit(&sc, h.mem_total_bytes), "workers", (int)sc.workers,
			 "mem_available_bytes", (json_int_t)h.mem_available_bytes, "cpus", (int)h.cpus);
}

static void print_text(json_t *doc)
{
	json_t *v, *host = json_object_get(doc, "host");
	const char *k;
	size_t i;

	printf("host: %s %s, kernel %s, machine id %s; swapbench %s\n",
	       json_string_value(json_object_get(host, "hostname")),
	       json_string_value(json_object_get(host, "machine")),
	       json_string_value(json_object_get(host, "kernel")),
	       json_string_value(json_object_get(host, "machine_id")) ?: "unknown",
	       json_string_value(json_object_get(host, "swapbench_commit")));
	printf("\nchecks:\n");
	json_array_foreach(json_object_get(doc, "checks"), i, v) {
		const char *fix = json_string_value(json_object_get(v, "fix"));

		printf("  %-4s %-17s %s%s%s\n", json_is_true(json_object_get(v, "ok")) ? "ok" : "no",
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "detail")), fix ? "; fix: " : "", fix ? fix : "");
	}
	printf("\ntiers:\n");
	json_object_foreach(json_object_get(doc, "tiers"), k, v) {
		const char *why = json_string_value(json_object_get(v, "why"));

		printf("  %-4s %-6s %s\n", json_is_true(json_object_get(v, "supported")) ? "yes" : "no",
		       k, why ? why : "");
	}
	v = json_object_get(doc, "nbd_transports");
	printf("\nnbd transports (auto's order):\n");
	for (i = 0; nbd_transports[i]; i++) {
		json_t *tr = json_object_get(v, nbd_transports[i]->name);

		printf("  %-4s %-11s %s\n", json_is_true(json_object_get(tr, "offered")) ? "yes" : "no",
		       nbd_transports[i]->name, json_string_value(json_object_get(tr, "detail")));
	}
	k = json_string_value(json_object_get(v, "auto"));
	printf("  auto takes %s: %s\n", k ? k : "none", json_string_value(json_object_get(v, "auto_why")));
	printf("\ntools:\n");
	json_object_foreach(json_object_get(doc, "tools"), k, v)
		printf("  %-12s %s\n", k, json_is_null(v) ? "(not installed)" : json_string_value(v));
	v = json_object_get(doc, "gpu");
	printf("\ngpu: %s\n", json_is_true(json_object_get(v, "present")) ?
	       json_string_value(json_object_get(v, "gpus")) : "none");
	v = json_object_get(doc, "default_run");
	if (v) {
		const char *sz = json_string_value(json_object_get(v, "sizing"));
		const char *err = json_string_value(json_object_get(v, "error"));

		printf("\ndefault run (make bench, scenario %s): %s\n",
		       json_string_value(json_object_get(v, "scenario")),
		       err ? err : sz && sz[0] ? sz : "fixed sizes (nothing sized to the host)");
	}
	printf("\nadvice:\n");
	if (json_array_size(json_object_get(doc, "advice")) == 0)
		printf("  none\n");
	json_array_foreach(json_object_get(doc, "advice"), i, v)
		printf("  - %s\n", json_string_value(json_object_get(v, "message")));
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct host_facts f;
	struct utsname u;
	json_t *doc, *checks, *advice;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else {
			fprintf(stderr, "Try 'swapbench doctor --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("doctor", "unexpected argument '%s'", argv[optind]);
	uname(&u);
	checks = json_array();
	advice = json_array();
	gather_checks(checks);
	gather_facts(&f);
	advise(&f, advice);
	doc = json_pack("{s:s, s:i, s:{s:s, s:s, s:s}, s:o, s:o, s:o, s:o, s:o, s:o}",
			"schema", "swapbench-doctor", "version", 1,
			"host", "kernel", u.release, "machine", u.machine, "hostname", u.nodename,
			"checks", checks, "tiers", gather_tiers(), "nbd_transports", nbd_transports_json(),
			"tools", gather_tools(), "gpu", gather_gpu(), "advice", advice);
	json_object_set_new(doc, "default_run", default_run());
	provenance_json(json_object_get(doc, "host"));
	json_object_set_new(json_object_get(doc, "host"), "swappiness", json_integer(f.swappiness));
	json_object_set_new(json_object_get(doc, "host"), "page_cluster", json_integer(f.page_cluster));
	if (json) {
		json_dumpf(doc, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		print_text(doc);
	}
	json_decref(doc);
	return 0;
}
