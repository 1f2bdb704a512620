/* Swap on storage, shared by the disk tier and the zswap tier's backing
 * swap: a swap file made the way its filesystem needs (fallocate on ext4
 * and xfs, No_COW first on btrfs, written zeros where fallocate is not
 * supported), or a whole partition or NVMe namespace given by the user
 * (refused while it holds a filesystem, unless --force). */
#ifndef SWAPBENCH_STORAGE_H
#define SWAPBENCH_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "tier.h"

/* Options: --file PATH, --device DEV, --force.  Tiers list them in their
 * params (tier-disk.c, tier-zswap.c) with their own default file. */

/* Whether the --file or --device setting can take swap here (nothing is
 * changed); false with a one-line reason. */
bool storage_supported(struct tier *t, char *why, size_t len);

/* Creates the swap file (journaled) or takes the device, then mkswap and
 * swapon.  Sets state: swap_dev, backing ("file" or "device"),
 * block_dev ("MAJ:MIN" of the device the I/O reaches), fs_type. */
int storage_setup(struct tier *t);

/* Adds backing, block_dev and fs_type to out. */
void storage_describe(const struct tier *t, json_t *out);

/* Adds {"block_dev": name, "block_stat": {...}} of the device under the
 * swap area. */
void storage_counters(const struct tier *t, json_t *out);

#endif
