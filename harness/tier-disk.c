/* disk tier: plain swap on storage, a swap file (made the way its
 * filesystem needs) or a whole partition or NVMe namespace: what a machine
 * without a RAM-speed tier swaps to.  Try:
 *   sudo swapbench tier up disk --file /var/tmp/swapbench.swap --size 2G --hold */
#include <stdio.h>

#include "storage.h"
#include "tier.h"

static const struct tier_param disk_params[] = {
	{ "file", "PATH", "/var/tmp/swapbench.swap", "swap file to create (removed on teardown)" },
	{ "device", "DEV", NULL, "swap on this partition or namespace instead (mkswap destroys it)" },
	{ "force", NULL, NULL, "with --device: overwrite whatever signature it holds (a swap area keeps its UUID and label)" },
	{ NULL, NULL, NULL, NULL },
};

static bool disk_supported(struct tier *t, char *why, size_t len)
{
	return storage_supported(t, why, len);
}

static int disk_setup(struct tier *t)
{
	if (tier_apply_common(t) < 0)
		return -1;
	return storage_setup(t);
}

static int disk_describe(const struct tier *t, json_t *out)
{
	storage_describe(t, out);
	return 0;
}

static int disk_counters(const struct tier *t, json_t *out)
{
	storage_counters(t, out);
	tier_swap_counters(t, out);
	return 0;
}

static const struct tier_colour disk_colours[] = {
	{ "disk", 0x7f7f7f },
	{ NULL, 0 },
};

const struct tier_ops tier_disk = {
	.name = "disk",
	.colours = disk_colours,
	.summary = "swap file or partition on storage (plain swap)",
	.params = disk_params,
	.supported = disk_supported,
	.setup = disk_setup,
	.teardown = NULL,
	.describe = disk_describe,
	.counters = disk_counters,
};
