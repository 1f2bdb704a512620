/* zram tier: a compressed RAM block device as swap.  Picks a free zram
 * device (or hot-adds one, journalled first: a zram_add change), sets its compression algorithm, size and memory
 * limit, mkswap + swapon; on undo the device is reset (retried while busy)
 * and its algorithm put back.  Try:
 *   sudo swapbench tier up zram --size 2G --algorithm lz4 --hold */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "procfs.h"
#include "run.h"
#include "tier.h"

static const struct tier_param zram_params[] = {
	{ "algorithm", "NAME", NULL, "compression algorithm (default: the kernel's current one)" },
	{ "mem-limit", "SIZE", NULL, "most memory the device may use (mem_limit)" },
	{ "streams", "N", NULL, "compression streams, on kernels that have max_comp_streams" },
	{ NULL, NULL, NULL, NULL },
};

static bool zram_present(void)
{
	return access("/sys/class/zram-control", F_OK) == 0 || access("/sys/block/zram0", F_OK) == 0;
}

/* A zram device that is unused: no disksize, not swap.  Copies its name
 * ("zram0") to name; 0, or -1 when there is none. */
static int free_device(char *name, size_t len)
{
	glob_t g;
	size_t i;
	int rc = -1;

	if (glob("/sys/block/zram*", 0, NULL, &g) != 0)
		return -1;
	for (i = 0; i < g.gl_pathc && rc < 0; i++) {
		char path[PATH_MAX], v[64], dev[64];
		const char *n = strrchr(g.gl_pathv[i], '/') + 1;

		snprintf(path, sizeof path, "%s/disksize", g.gl_pathv[i]);
		if (read_text(path, v, sizeof v) < 0 || strcmp(v, "0"))
			continue;
		snprintf(dev, sizeof dev, "/dev/%s", n);
		if (swap_active(dev, NULL))
			continue;
		snprintf(name, len, "%s", n);
		rc = 0;
	}
	globfree(&g);
	return rc;
}

/* The algorithms a zram device offers and its current one. */
static int algorithms(const char *dev, char *cur, size_t curlen, char *list, size_t listlen)
{
	char path[PATH_MAX], buf[512];

	snprintf(path, sizeof path, "/sys/block/%s/comp_algorithm", dev);
	if (read_text(path, buf, sizeof buf) < 0)
		return -1;
	return choice_parse(buf, cur, curlen, list, listlen);
}

static int zram_choices(const char *name, char *list, size_t len)
{
	char dev[32], cur[64];

	if (strcmp(name, "algorithm")) {
		error("tier zram offers no list of values for '%s'", name);
		return -1;
	}
	if (free_device(dev, sizeof dev) < 0 || algorithms(dev, cur, sizeof cur, list, len) < 0) {
		error("cannot list zram's algorithms: no free zram device to read "
		      "comp_algorithm from (modprobe zram)");
		return -1;
	}
	return 0;
}

static bool zram_supported(struct tier *t, char *why, size_t len)
{
	const char *modprobe[] = { "modprobe", "-n", "-q", "zram", NULL };
	const char *alg = tier_get(t, "algorithm");
	char dev[32], cur[64], list[256];
	uint64_t v;

	if (!zram_present() && run(modprobe, TIMEOUT_QUICK_S, RUN_QUIET, NULL) < 0) {
		snprintf(why, len, "no zram in this kernel and no zram module to load (CONFIG_ZRAM)");
		return false;
	}
	if (tier_size(t, "size", &v) < 0 || tier_size(t, "mem-limit", &v) < 0 ||
	    tier_uint(t, "streams", 1, 1024, &v) < 0) {
		why[0] = '\0'; /* reported by tier_size and co. */
		return false;
	}
	if (tier_get(t, "streams") && access("/sys/block/zram0/max_comp_streams", F_OK) < 0) {
		snprintf(why, len, "--streams: this kernel has per-CPU compression streams "
			 "(no max_comp_streams); leave the option out");
		return false;
	}
	if (alg && free_device(dev, sizeof dev) == 0 &&
	    algorithms(dev, cur, sizeof cur, list, sizeof list) == 0 && !word_in(list, alg)) {
		snprintf(why, len, "compression algorithm '%s' is not offered by this kernel's zram "
			 "(offered: %s)", alg, list);
		return false;
	}
	return true;
}

static int zram_setup(struct tier *t)
{
	const char *modprobe[] = { "modprobe", "zram", NULL };
	const char *rmmod[] = { "rmmod", "zram", NULL };
	const char *alg = tier_get(t, "algorithm");
	char dev[80], path[PATH_MAX], v[64], devpath[96];
	uint64_t size = 0, limit = 0, streams = 0;

	if (tier_size(t, "size", &size) < 0 || tier_size(t, "mem-limit", &limit) < 0 ||
	    tier_uint(t, "streams", 1, 1024, &streams) < 0)
		return -1;
	if (tier_apply_common(t) < 0)
		return -1;
	if (!zram_present()) {
		if (change_on_undo_run(t->j, rmmod, TIMEOUT_QUICK_S) < 0 ||
		    run(modprobe, TIMEOUT_QUICK_S, t->dry_run ? RUN_DRY : 0, NULL) < 0)
			return -1;
	}
	if (free_device(dev, sizeof dev) < 0) {
		/* Journalled before the hot_add: a crash between the two
		 * still finds the device added. */
		if (change_zram_add(t->j, "/sys/class/zram-control", v, sizeof v) < 0)
			return -1;
		snprintf(dev, sizeof dev, "zram%s", v);
	}
	snprintf(devpath, sizeof devpath, "/dev/%s", dev);
	json_object_set_new(t->state, "device", json_string(devpath));
	snprintf(path, sizeof path, "/sys/block/%s", dev);
	json_object_set_new(t->state, "sysfs", json_string(path));

	/* The algorithm is recorded before the reset, so that it is put back
	 * after the reset undoes the device. */
	if (alg) {
		snprintf(path, sizeof path, "/sys/block/%s/comp_algorithm", dev);
		if (t->dry_run && !strcmp(dev, "zramN"))
			printf("would: write '%s' to '%s'\n", alg, path);
		else if (change_value(t->j, path, alg) < 0)
			return -1;
	}
	snprintf(path, sizeof path, "/sys/block/%s/reset", dev);
	if (change_on_undo_write(t->j, path, "1") < 0)
		return -1;
	if (streams) {
		snprintf(path, sizeof path, "/sys/block/%s/max_comp_streams", dev);
		snprintf(v, sizeof v, "%" PRIu64, streams);
		if (t->dry_run)
			printf("would: write '%s' to '%s'\n", v, path);
		else if (write_text(path, v, false) < 0)
			return -1;
	}
	snprintf(path, sizeof path, "/sys/block/%s/disksize", dev);
	snprintf(v, sizeof v, "%" PRIu64, size);
	if (t->dry_run)
		printf("would: write '%s' to '%s'\n", v, path);
	else if (write_text(path, v, false) < 0)
		return -1;
	if (limit) {
		snprintf(path, sizeof path, "/sys/block/%s/mem_limit", dev);
		snprintf(v, sizeof v, "%" PRIu64, limit);
		if (t->dry_run)
			printf("would: write '%s' to '%s'\n", v, path);
		else if (write_text(path, v, false) < 0)
			return -1;
	}
	return tier_swapon(t, devpath);
}

static int sys_u64(const char *sysfs, const char *file, uint64_t *v)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof path, "%s/%s", sysfs, file);
	if (read_text(path, buf, sizeof buf) < 0)
		return -1;
	*v = strtoull(buf, NULL, 10);
	return 0;
}

static int zram_describe(const struct tier *t, json_t *out)
{
	const char *sysfs = tier_state(t, "sysfs"), *dev = tier_state(t, "device");
	char cur[64] = "", list[256] = "";
	uint64_t v;

	if (!sysfs || !dev)
		return -1;
	json_object_set_new(out, "device", json_string(dev));
	if (sys_u64(sysfs, "disksize", &v) == 0)
		json_object_set_new(out, "disksize_bytes", json_integer((json_int_t)v));
	if (algorithms(dev + 5, cur, sizeof cur, list, sizeof list) == 0) {
		json_object_set_new(out, "comp_algorithm", json_string(cur));
		json_object_set_new(out, "comp_algorithms_offered", json_string(list));
	}
	if (sys_u64(sysfs, "max_comp_streams", &v) == 0)
		json_object_set_new(out, "max_comp_streams", json_integer((json_int_t)v));
	return 0;
}

static int zram_counters(const struct tier *t, json_t *out)
{
	const char *sysfs = tier_state(t, "sysfs");
	char path[PATH_MAX], buf[512];
	json_t *o;

	if (!sysfs)
		return -1;
	snprintf(path, sizeof path, "%s/mm_stat", sysfs);
	if (read_text(path, buf, sizeof buf) >= 0) {
		o = json_object();
		fields_to_json(buf, zram_mm_fields, zram_mm_nfields, o);
		json_object_set_new(out, "mm_stat", o);
		json_object_set_new(out, "compression", json_pack("{s:O*, s:O*}",
			"orig_bytes", json_object_get(o, "orig_data_bytes"),
			"stored_bytes", json_object_get(o, "compr_data_bytes")));
	}
	snprintf(path, sizeof path, "%s/io_stat", sysfs);
	if (read_text(path, buf, sizeof buf) >= 0) {
		o = json_object();
		fields_to_json(buf, zram_io_fields, zram_io_nfields, o);
		json_object_set_new(out, "io_stat", o);
	}
	snprintf(path, sizeof path, "%s/stat", sysfs);
	if (read_text(path, buf, sizeof buf) >= 0) {
		o = json_object();
		fields_to_json(buf, blockstat_fields, blockstat_nfields, o);
		json_object_set_new(out, "block_stat", o);
	}
	tier_swap_counters(t, out);
	return 0;
}

static const struct tier_colour zram_colours[] = {
	{ "zram", 0x1f77b4 },
	{ NULL, 0 },
};

const struct tier_ops tier_zram = {
	.name = "zram",
	.compressing = true,
	.choices = zram_choices,
	.colours = zram_colours,
	.summary = "compressed RAM block device (zram) as swap",
	.params = zram_params,
	.supported = zram_supported,
	.setup = zram_setup,
	.teardown = NULL,
	.describe = zram_describe,
	.counters = zram_counters,
};
