/* What `swapbench run --tiers` takes, parsed: a tier or a stack of them,
 * each level with its options, and the label the runs carry.
 *
 *   zram                      the tier, label "zram"
 *   nbd:backend=vram          options, label "nbd-vram" (values joined)
 *   zram>disk                 a stack, highest priority first: "zram+disk"
 *   zswap>nbd:backend=ram     zswap in front of an nbd device: "zswap+nbd-ram"
 *   zram>disk:as=waterfall    :as=LABEL (anywhere) names the whole entry
 *
 * Pure (no I/O): tests/unit-harness-tier-spec.c. */
#ifndef SWAPBENCH_TIER_SPEC_H
#define SWAPBENCH_TIER_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tier.h"

#define TIER_SPEC_OPTS 6

struct level_spec {
	const struct tier_ops *ops;
	char key[TIER_SPEC_OPTS][32], val[TIER_SPEC_OPTS][512];
	unsigned nopt;
};

struct tier_spec {
	char label[64];
	char spec[1024];	/* as given: nbd:backend=vram, zram>disk */
	unsigned nlevel;	/* 1 for a tier, 2 or more for a stack */
	struct level_spec lv[TIER_STACK_MAX];
	/* A variant of a sweep (sweep_expand): */
	char base_label[64];	/* the entry's own label ("" when no sweep) */
	char factor_value[32];	/* the swept factor's value here */
	signed char throttle;	/* memcg.mode swept: 1 high, 0 max; -1 the scenario's */
};

/* Parses SPEC into ts.  0, or -1 with the reason in err (one line, for a
 * usage error): an unknown tier or option, KEY=VALUE malformed, 'as' twice,
 * a stack tier_stack_refusal refuses, a label unfit for file names. */
int tier_spec_parse(struct tier_spec *ts, const char *spec, char *err, size_t len);

/* Level I's option KEY as given, or NULL. */
const char *tier_spec_opt(const struct tier_spec *ts, unsigned i, const char *key);

/* Sets level I's options into SETTINGS (a tier's settings object). */
void tier_spec_settings(const struct tier_spec *ts, unsigned i, json_t *settings);

/* Whether a level of ts is a frontswap tier (its cgroup may use zswap). */
bool tier_spec_frontswap(const struct tier_spec *ts);

/* The levels' tier_ops, for tier_stack_begin. */
void tier_spec_ops(const struct tier_spec *ts, const struct tier_ops *ops[TIER_STACK_MAX]);

/* --- sweeps: run --sweep FACTOR=V1,V2,... ---------------------------------------
 * One factor, each value a variant of every --tiers entry, labelled
 * LABEL_SHORTVALUE (zram_swappiness60): the interleaved design then runs
 * the product.  Factors:
 *   vm.swappiness        0 to 200, every level's swappiness option
 *   vm.page-cluster      0 to 10, every level's page-cluster option
 *   zram.comp_algorithm  zram levels' algorithm option (entries need one);
 *                        "all": every algorithm this kernel's zram offers
 *   zswap.compressor     zswap levels' compressor option (entries need one);
 *                        "all": every compressor in /proc/crypto
 *   memcg.mode           max or high, the workload cgroup's limit file */
#define SWEEP_MAX_VALUES 8

struct sweep_factor;

struct sweep {
	const struct sweep_factor *f;
	unsigned n;
	char val[SWEEP_MAX_VALUES][32];
};

/* Parses "FACTOR=V1,V2,..." into sw.  0, or -1 with the reason in err: an
 * unknown factor (the list named), a value out of range or unfit for a
 * label, fewer than 2 or more than SWEEP_MAX_VALUES values, one twice. */
int sweep_parse(struct sweep *sw, const char *arg, char *err, size_t len);

/* A sweep of one value, "all", over a factor of names (an algorithm, a
 * compressor): replaced by what the factor's tier offers on this host
 * (its choices()).  0 (nothing to do, or done), or -1 with a message. */
int sweep_fill_all(struct sweep *sw);

/* The factor's name ("vm.swappiness"). */
const char *sweep_factor_name(const struct sweep *sw);

/* Whether the factor's values are numbers (a numeric axis in the figure). */
bool sweep_numeric(const struct sweep *sw);

/* Replaces in[0..*n-1] by their variants, value-major within each entry
 * (zram_swappiness60, zram_swappiness100, ..., disk_swappiness60, ...),
 * into in itself (cap entries).  0, or -1 with the reason in err: too
 * many variants, an entry without the level the factor needs, an option
 * the entry sets already, a label too long. */
int sweep_expand(const struct sweep *sw, struct tier_spec *in, unsigned *n, unsigned cap,
		 char *err, size_t len);

#endif
