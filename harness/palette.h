/* The figures' colours (swapbench plot), from the tiers' tables (tier.h):
 * apart from tier.h, whose `tiers` the plot code's own names would shadow. */
#ifndef SWAPBENCH_PALETTE_H
#define SWAPBENCH_PALETTE_H

/* "LABEL=RGB LABEL=RGB ..." (RGB as a decimal 0xRRGGBB) over every tier's
 * colours, for plots/common.gp's tier_rgb (a label holds no '=' or space:
 * run --tiers refuses them). */
const char *tier_palette(void);

#endif
