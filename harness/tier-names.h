/* What the plot and report code needs to know of the tiers by the names
 * result documents carry, apart from tier.h (whose `tiers` those files'
 * own names would shadow). */
#ifndef SWAPBENCH_TIER_NAMES_H
#define SWAPBENCH_TIER_NAMES_H

#include <stdbool.h>

/* "LABEL=RGB LABEL=RGB ..." (RGB as a decimal 0xRRGGBB) over every tier's
 * colours, for plots/common.gp's tier_rgb (a label holds no '=' or space:
 * run --tiers refuses them). */
const char *tier_palette(void);

/* Whether the tier named NAME (a run's "tier_name") is the no-swap
 * baseline; false for a name this build does not know. */
bool tier_is_baseline(const char *name);

#endif
