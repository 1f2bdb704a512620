/* zswap tier: the kernel's compressed cache in front of a disk swap (a
 * swap file by default, as for the disk tier).  Sets the compressor, pool
 * size, acceptance threshold, shrinker and, where the kernel still has it,
 * the zpool; counts from /proc/vmstat (zswpin, zswpout, zswpwb) and from
 * debugfs's zswap directory (mounted when needed, every file read).  Try:
 *   sudo swapbench tier up zswap --compressor lzo --max-pool-percent 25 --hold */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "procfs.h"
#include "run.h"
#include "storage.h"
#include "tier.h"

#define PARAMS "/sys/module/zswap/parameters"
#define DEBUGFS "/sys/kernel/debug"
#define DEBUG_ZSWAP DEBUGFS "/zswap"

static const struct tier_param zswap_params[] = {
	{ "compressor", "NAME", NULL, "zswap compressor (default: the kernel's current one)" },
	{ "max-pool-percent", "N", NULL, "pool limit, percent of RAM" },
	{ "accept-threshold-percent", "N", NULL, "refill the pool below this share of its limit" },
	{ "shrinker", "on|off", NULL, "write back cold pages under pressure (shrinker_enabled)" },
	{ "zpool", "NAME", NULL, "pool allocator, on kernels that still choose (before 6.15)" },
	{ "file", "PATH", "/var/tmp/swapbench-zswap.swap", "backing swap file to create" },
	{ "device", "DEV", NULL, "back it with this partition instead (mkswap destroys it)" },
	{ "force", NULL, NULL, "with --device: overwrite whatever signature it holds (a swap area keeps its UUID and label)" },
	{ NULL, NULL, NULL, NULL },
};

/* Each option and the module parameter it sets. */
static const struct { const char *opt, *param; } knobs[] = {
	{ "compressor", "compressor" },
	{ "zpool", "zpool" },
	{ "max-pool-percent", "max_pool_percent" },
	{ "accept-threshold-percent", "accept_threshold_percent" },
	{ "shrinker", "shrinker_enabled" },
};

static bool compressor_available(const char *name, char *have, size_t len)
{
	const char *modprobe[] = { "modprobe", "-n", "-q", NULL, NULL };
	char mod[128], *crypto = read_all("/proc/crypto");
	bool ok = false;

	if (crypto) {
		ok = kv_has(crypto, "name", name);
		crypto_compressors(crypto, have, len);
		free(crypto);
	}
	if (ok)
		return true;
	/* Not registered yet: a module the kernel would load on demand? */
	snprintf(mod, sizeof mod, "crypto-%s", name);
	modprobe[3] = mod;
	return run(modprobe, TIMEOUT_QUICK_S, RUN_QUIET, NULL) == 0;
}

static int zswap_choices(const char *name, char *list, size_t len)
{
	char *crypto;

	if (strcmp(name, "compressor")) {
		error("tier zswap offers no list of values for '%s'", name);
		return -1;
	}
	if (!(crypto = read_all("/proc/crypto"))) {
		error("cannot read /proc/crypto: %m");
		return -1;
	}
	crypto_compressors(crypto, list, len);
	free(crypto);
	return list[0] ? 0 : -1;
}

static bool zswap_supported(struct tier *t, char *why, size_t len)
{
	const char *comp = tier_get(t, "compressor");
	char have[256] = "", path[PATH_MAX];
	uint64_t v;
	bool b;
	size_t i;

	if (access(PARAMS "/enabled", F_OK) < 0) {
		snprintf(why, len, "no zswap in this kernel (CONFIG_ZSWAP)");
		return false;
	}
	for (i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		snprintf(path, sizeof path, PARAMS "/%s", knobs[i].param);
		if (tier_get(t, knobs[i].opt) && access(path, F_OK) < 0) {
			snprintf(why, len, "--%s: this kernel's zswap has no '%s' parameter%s",
				 knobs[i].opt, knobs[i].param,
				 !strcmp(knobs[i].opt, "zpool") ? " (zsmalloc only since 6.15)" : "");
			return false;
		}
	}
	if (tier_uint(t, "max-pool-percent", 1, 100, &v) < 0 ||
	    tier_uint(t, "accept-threshold-percent", 0, 100, &v) < 0 ||
	    tier_bool(t, "shrinker", &b) < 0) {
		why[0] = '\0'; /* reported by tier_size and co. */
		return false;
	}
	if (comp && !compressor_available(comp, have, sizeof have)) {
		snprintf(why, len, "zswap compressor '%s' is not available: not in /proc/crypto and "
			 "no module crypto-%s (available: %s)", comp, comp, have);
		return false;
	}
	/* Over a stack's lower levels it caches in front of their swap. */
	return t->over_lower || storage_supported(t, why, len);
}

static int zswap_setup(struct tier *t)
{
	const char *mount[] = { "mount", "-t", "debugfs", "debugfs", DEBUGFS, NULL };
	char path[PATH_MAX];
	size_t i;

	if (tier_apply_common(t) < 0)
		return -1;
	/* The backing swap first: zswap only caches pages on their way to it
	 * (in a stack, the lower levels are its backing swap). */
	if (!t->over_lower && storage_setup(t) < 0)
		return -1;
	for (i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		const char *v = tier_get(t, knobs[i].opt);
		bool b;

		if (!v)
			continue;
		if (!strcmp(knobs[i].opt, "shrinker")) {
			tier_bool(t, "shrinker", &b);
			v = b ? "Y" : "N";
		}
		snprintf(path, sizeof path, PARAMS "/%s", knobs[i].param);
		if (change_value(t->j, path, v) < 0)
			return -1;
	}
	if (access(DEBUG_ZSWAP, F_OK) < 0 && !is_mounted(DEBUGFS, NULL, 0)) {
		if (change_mount(t->j, DEBUGFS, "debugfs", mount) < 0)
			warn("zswap's debugfs counters will be missing");
	}
	json_object_set_new(t->state, "debugfs", json_string(DEBUG_ZSWAP));
	return change_value(t->j, PARAMS "/enabled", "Y");
}

static int zswap_describe(const struct tier *t, json_t *out)
{
	json_t *params = json_object();
	struct dirent *e;
	DIR *d = opendir(PARAMS);

	/* Every parameter this kernel has, whatever their number. */
	while (d && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], v[256];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, PARAMS "/%s", e->d_name);
		if (read_text(path, v, sizeof v) >= 0)
			json_object_set_new(params, e->d_name, json_string(v));
	}
	if (d)
		closedir(d);
	json_object_set_new(out, "parameters", params);
	if (t->over_lower)
		json_object_set_new(out, "backing", json_string("the stack's lower levels"));
	storage_describe(t, out);
	return 0;
}

/* debugfs names that hold sizes in bytes get the unit in their key. */
static const char *debugfs_key(const char *name, char *buf, size_t len)
{
	if (!strcmp(name, "pool_total_size"))
		snprintf(buf, len, "%s_bytes", name);
	else
		snprintf(buf, len, "%s", name);
	return buf;
}

static int zswap_counters(const struct tier *t, json_t *out)
{
	static const char *const vmkeys[] = { "zswpin", "zswpout", "zswpwb" };
	json_t *vm = json_object(), *dbg = json_object();
	char *vmstat = read_all("/proc/vmstat");
	struct dirent *e;
	size_t i;
	uint64_t v;
	DIR *d;

	for (i = 0; vmstat && i < sizeof vmkeys / sizeof vmkeys[0]; i++)
		if (kv_u64(vmstat, vmkeys[i], &v) == 0)
			json_object_set_new(vm, vmkeys[i], json_integer((json_int_t)v));
	free(vmstat);
	json_object_set_new(out, "vmstat", vm);
	d = opendir(DEBUG_ZSWAP);
	while (d && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], buf[64], key[300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, DEBUG_ZSWAP "/%s", e->d_name);
		char *end;

		if (read_text(path, buf, sizeof buf) <= 0)
			continue;
		errno = 0;
		v = strtoull(buf, &end, 10);
		if (!errno && !*end)
			json_object_set_new(dbg, debugfs_key(e->d_name, key, sizeof key),
					    json_integer((json_int_t)v));
	}
	if (d)
		closedir(d);
	if (json_object_get(dbg, "stored_pages") && json_object_get(dbg, "pool_total_size_bytes"))
		json_object_set_new(out, "compression", json_pack("{s:I, s:O}", "orig_bytes",
			json_integer_value(json_object_get(dbg, "stored_pages")) * 4096,
			"stored_bytes", json_object_get(dbg, "pool_total_size_bytes")));
	json_object_set_new(out, "debugfs", dbg);
	storage_counters(t, out);
	tier_swap_counters(t, out);
	return 0;
}

static const struct tier_colour zswap_colours[] = {
	{ "zswap", 0xff7f0e },
	{ NULL, 0 },
};

const struct tier_ops tier_zswap = {
	.name = "zswap",
	.colours = zswap_colours,
	.frontswap = true,
	.compressing = true,
	.choices = zswap_choices,
	.summary = "zswap compressed cache in front of a disk swap file",
	.params = zswap_params,
	.supported = zswap_supported,
	.setup = zswap_setup,
	.teardown = NULL,
	.describe = zswap_describe,
	.counters = zswap_counters,
};
