/* A swap tier is an ops table, one per file harness/tier-<name>.c, listed
 * once in TIERS below (which drives the registry, `swapbench list` and the
 * JSON keys).  To add a tier: write tier-foo.c ending in
 * `const struct tier_ops tier_foo = {...};` and add X(foo) to TIERS.
 *
 * Life of a tier: supported() says whether this host can run it with these
 * settings (nothing changed yet); setup() makes it live swap, recording
 * every change in the undo journal first (change.h); describe() and
 * counters() report it; teardown() does the tier's own work before the
 * journal undoes setup's changes in reverse (the same replay that restores
 * after a crash, so the normal path and the crash path are one code path). */
#ifndef SWAPBENCH_TIER_H
#define SWAPBENCH_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "journal.h"

#define TIERS(X) X(zram) X(zswap) X(disk) X(nbd) X(none)

/* One option of `swapbench tier up TIER`: --NAME ARG (arg NULL: a flag
 * taking no argument, stored as "yes"). */
struct tier_param {
	const char *name;
	const char *arg;	/* "SIZE", "N", "NAME", ... or NULL */
	const char *def;	/* default as text, or NULL (unset) */
	const char *help;
};

struct tier {
	const struct tier_ops *ops;
	struct journal *j;	/* every change of setup() is recorded here */
	json_t *settings;	/* option name -> text, defaults included; borrowed
				 * from the journal's tier object */
	json_t *state;		/* what setup() made (devices, pids, paths), kept in
				 * the journal so that later commands (tier show,
				 * tier down) find it; borrowed likewise */
	bool dry_run;		/* setup prints what it would do */
	bool no_swapon;		/* setup stops short of mkswap and swapon: the
				 * device is made and state.swap_dev names it, for
				 * fio on the raw device (scenario kind fio-raw) */
	/* In a stack (tier_stack below), set before supported(): */
	bool over_lower;	/* levels below this one swap: a frontswap
				 * level (zswap) makes no swap of its own and
				 * caches in front of theirs */
	bool keep_zswap;	/* a frontswap level is in the stack: no level
				 * turns zswap off */
};

/* A colour of the figures (swapbench plot) for the runs labelled LABEL. */
struct tier_colour {
	const char *label;
	unsigned rgb;		/* 0xRRGGBB */
};

struct tier_ops {
	const char *name;
	const char *summary;	/* one line for `swapbench list` */
	const struct tier_param *params;	/* tier's own options, ended by {NULL} */
	/* The figures' colours of its runs by label: its name's, and those of
	 * labels its options make (nbd-vram); ended by {NULL}.  A label not
	 * listed takes the colour of its first word (nbd-vram-30: nbd's). */
	const struct tier_colour *colours;

	/* A compressed pool in front of another swap device (zswap, the
	 * kernel's frontswap): zswap stays on while it is up (other tiers turn
	 * it off), its workload cgroup may use zswap, its traffic is judged by
	 * its pool (zswpout) rather than by a device's writes, and it has no
	 * raw device of its own for fio. */
	bool frontswap;

	/* It compresses what it holds (zram, zswap): a stack refuses a
	 * compressing frontswap over a compressing level (pages compressed
	 * twice). */
	bool compressing;

	/* The no-swap baseline (tier none): makes no device; swapbench run
	 * gives its workload cgroup a limit the working set fits in (the
	 * working set and a quarter, plus 64 MiB) and judges a run of it
	 * valid when it swapped under 1% of the working set, where other
	 * tiers must swap. */
	bool baseline;

	/* Whether this host can run the tier with t's settings, checked
	 * before anything is changed.  Returns false with a one-line reason
	 * naming the fix in why ("no zram support: modprobe zram ...");
	 * a bad option value is reported where it is parsed (tier_size and
	 * co.) and leaves why empty.  Must not change the machine; t->state
	 * is empty. */
	bool (*supported)(struct tier *t, char *why, size_t len);

	/* Makes the tier live swap.  Every change goes through change.h's
	 * functions (journal first); facts later calls need go to t->state
	 * (the swap device's path as "swap_dev", always).  On failure reports
	 * once and returns -1: the caller replays the journal, undoing what
	 * was done.  In a dry run, prints and changes nothing. */
	int (*setup)(struct tier *t);

	/* The tier's own work before the journal undoes setup (final
	 * counters, checks, warnings); must not undo journaled changes.
	 * May be NULL.  Returns 0 or -1 (the replay happens either way). */
	int (*teardown)(struct tier *t);

	/* Adds the tier's configuration to out: device, sizes with units,
	 * algorithm, parameters in force.  0 or -1. */
	int (*describe)(const struct tier *t, json_t *out);

	/* Adds the counters that prove the tier served the faults (its block
	 * device's stat, zram mm_stat/io_stat, zswap counters, /proc/swaps
	 * use) to out, raw, with units in the keys; a compressing tier adds
	 * "compression": {"orig_bytes", "stored_bytes"} (what it holds now,
	 * before and after compression).  Called before and after each run
	 * and once a second on the sampler thread, beside its 100 ms vmstat
	 * and PSI reads: it must not block (read what is there; no signal
	 * and wait for a daemon to answer).  0 or -1. */
	int (*counters)(const struct tier *t, json_t *out);

	/* The values this host offers for option NAME (zram's algorithm,
	 * zswap's compressor), space separated, into list: what `run --sweep
	 * F=all` runs.  0, or -1 (with a message) when the option has no such
	 * list or it cannot be read.  May be NULL. */
	int (*choices)(const char *name, char *list, size_t len);

	/* The --tiers entry `swapbench run` takes for this tier when no tier
	 * is named and supported() said yes (t with default settings), into
	 * spec, saying why where it chose (nbd: backend=vram where the GPU
	 * works, else ram).  NULL: its name alone. */
	void (*default_spec)(struct tier *t, char *spec, size_t len);

	/* What the tier runs beyond swapbench, for the run document's
	 * tool_versions: adds to v the versions of the programs it would run
	 * with t's settings, for the entry labelled LABEL (nbd: "vramd":
	 * {LABEL: its --dump-backend}, "nbdfuse", "nbd-client").  Called for
	 * every level of every entry that is this tier, so it must keep what
	 * an earlier call added; t has ops and settings only (nothing is up).
	 * May be NULL. */
	void (*tool_versions)(const struct tier *t, const char *label, json_t *v);
};

#define X(n) extern const struct tier_ops tier_##n;
TIERS(X)
#undef X

/* The registry, in TIERS order, ended by NULL. */
extern const struct tier_ops *const tiers[];

/* The tier named NAME, or NULL. */
const struct tier_ops *tier_find(const char *name);

/* Options every tier takes (size, priority, swappiness, page-cluster,
 * watermark-scale-factor, thp). */
extern const struct tier_param tier_common_params[];

/* Whether NAME is an option of OPS (its own or a common one). */
bool tier_has_param(const struct tier_ops *ops, const char *name);

/* The setting NAME: the option given, else its default; NULL when unset. */
const char *tier_get(const struct tier *t, const char *name);

/* Parsed settings; each reports "--NAME: expected ..., got 'X'" and
 * returns -1 on a bad value.  An unset setting leaves *out and returns 1. */
int tier_size(const struct tier *t, const char *name, uint64_t *out);
int tier_uint(const struct tier *t, const char *name, uint64_t min, uint64_t max, uint64_t *out);
int tier_bool(const struct tier *t, const char *name, bool *out);

/* --- the life of a tier in the undo journal -------------------------------------
 * One owner for what `swapbench run`, `tier` and `restore` do alike: the
 * journal's "tier" object ({name, settings, state, up}) names the tier and
 * carries what setup() made, so that any later command (or the next one
 * after a crash) can take it down.  A stack keeps its lower levels in the
 * same object, "levels": [{name, settings, state}, ...], highest priority
 * first after the tier itself. */

/* A stack of swap tiers, as `swapbench run --tiers 'zram>disk'` makes it:
 * level 0 the highest priority (100 unless its priority is set), then 10,
 * then 1; brought up, counted and taken down as one unit.  A single tier
 * is a stack of one. */
#define TIER_STACK_MAX 3
struct tier_stack {
	unsigned n;
	struct tier lv[TIER_STACK_MAX];
};

/* Why the levels OPS[0..n-1] (highest priority first) make no stack, in
 * why (one line naming the rule), or NULL when they do: more than
 * TIER_STACK_MAX levels, the baseline in a stack, a tier twice (one device
 * each), a frontswap level anywhere but on top (it caches in front of
 * every swap device), a compressing frontswap over a compressing level
 * (compressed twice).  Pure; one rule per row. */
const char *tier_stack_refusal(const struct tier_ops *const ops[], unsigned n, char *why,
			       size_t len);

/* Puts the stack OPS[0..n-1] into the journal's "tier" object (empty
 * settings and state, not up) and binds s to it: levels' flags set, in a
 * dry run when the journal is. */
void tier_stack_begin(struct tier_stack *s, const struct tier_ops *const ops[], unsigned n,
		      struct journal *j);

/* The stack the journal holds, bound to s: its number of levels, or 0 when
 * it holds none or a tier this build does not know. */
unsigned tier_stack_from_journal(struct journal *j, struct tier_stack *s);

/* Makes the bound stack live swap: the journal saved, each level's
 * setup() in order (the default priorities set first), the stack marked
 * up and saved again.  0, or -1 (reported): take it down. */
int tier_stack_bring_up(struct tier_stack *s);

/* Takes the journal's stack down: each level's teardown() when up (not
 * in a dry run), then the journal's replay, every change undone in
 * reverse (a level's swapoff before its server goes, lower levels
 * first).  s may be NULL (the stack from the journal).  As
 * tier_take_down. */
int tier_stack_take_down(struct journal *j, struct tier_stack *s, bool *teardown_failed);

/* The stack's description or counters: the tier's own object for a stack
 * of one, else {"levels": [{"tier": NAME, ...its object}, ...]}.  New. */
json_t *tier_stack_snapshot(const struct tier_stack *s, bool describe);

/* t on the journal's tier object (its settings and state, borrowed), in a
 * dry run when the journal is. */
void tier_bind(struct tier *t, const struct tier_ops *ops, struct journal *j);

/* The tier the journal holds, bound to t; NULL when it holds none or one
 * this build does not know. */
const struct tier_ops *tier_from_journal(struct journal *j, struct tier *t);

/* Makes the bound tier live swap: the journal saved, setup(), the tier
 * marked up and saved again.  0, or -1 (reported): take it down. */
int tier_bring_up(struct tier *t);

/* Takes the journal's tier down: its own teardown() when it is up (not in
 * a dry run), then the journal's replay, every change undone in reverse.
 * t may be NULL (the tier from the journal).  *teardown_failed (may be
 * NULL) says whether teardown() reported a failure.  0, or -1 when
 * something could not be undone (reported; it stays in the journal). */
int tier_take_down(struct journal *j, struct tier *t, bool *teardown_failed);

/* The tier's description (describe) or its counters, as a new object. */
json_t *tier_snapshot(const struct tier *t, bool describe);

/* --- helpers several tiers share ------------------------------------------- */

/* Checks the options every tier takes (sizes, numbers in range, a THP mode
 * the kernel offers); reports the first bad one and returns -1.  Run before
 * anything is changed. */
int tier_check_common(const struct tier *t);

/* Applies the common settings that are not the device's own (vm.swappiness,
 * vm.page-cluster, vm.watermark_scale_factor, THP, when given) and turns
 * zswap off for tiers other than zswap (so faults reach the device under
 * test).  Journaled. */
int tier_apply_common(struct tier *t);

/* mkswap DEV, then swapon at the --priority setting (journaled), and
 * state.swap_dev = DEV.  With t->no_swapon, only state.swap_dev = DEV. */
int tier_swapon(struct tier *t, const char *dev);

/* Adds {"swaps": {size_bytes, used_bytes, priority}} for state.swap_dev
 * from /proc/swaps (nothing when it is not active). */
void tier_swap_counters(const struct tier *t, json_t *out);

/* The machine-wide settings in force now (vm.swappiness, page-cluster,
 * watermark_scale_factor, overcommit_memory, THP, zswap), as strings keyed
 * with their units' names (vm_swappiness ...): what a tier's run ran
 * under.  New. */
json_t *tier_in_force(void);

/* state.KEY as a string, or NULL. */
const char *tier_state(const struct tier *t, const char *key);

#endif
