/* none tier: the baseline, no swap at all.  The same workload and probes
 * as the other tiers, in a memory cgroup whose limit the working set fits
 * in (swapbench run raises it: see tier.h, .baseline), so what the probes
 * see is the workload's own cost with nothing swapped; each tier's probe
 * latency is then reported as a difference from it.  The common settings
 * (swappiness, THP, ...) apply as for any tier, and zswap is turned off.
 * Try:
 *   sudo swapbench run --scenario quick --tiers none,zram --repeats 3 */
#include <stdio.h>

#include "tier.h"

static const struct tier_param none_params[] = {
	{ NULL, NULL, NULL, NULL },
};

static bool none_supported(struct tier *t, char *why, size_t len)
{
	if (t->no_swapon) {
		snprintf(why, len, "it has no device to run fio on");
		return false;
	}
	return true;
}

static int none_setup(struct tier *t)
{
	if (tier_apply_common(t) < 0)
		return -1;
	/* No device: later code finds no swap_dev and reads no device counters. */
	return 0;
}

static int none_describe(const struct tier *t, json_t *out)
{
	(void)t;
	json_object_set_new(out, "swap", json_string("none"));
	return 0;
}

static int none_counters(const struct tier *t, json_t *out)
{
	(void)t;
	(void)out;
	return 0;
}

static const struct tier_colour none_colours[] = {
	{ "none", 0x000000 },
	{ NULL, 0 },
};

const struct tier_ops tier_none = {
	.name = "none",
	.colours = none_colours,
	.summary = "no swap: the baseline, run with a limit the working set fits in",
	.params = none_params,
	.baseline = true,
	.supported = none_supported,
	.setup = none_setup,
	.teardown = NULL,
	.describe = none_describe,
	.counters = none_counters,
};
