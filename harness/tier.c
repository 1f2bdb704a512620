/* The tier registry, settings and what tiers share: see tier.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "tier-names.h"
#include "parse.h"
#include "procfs.h"
#include "run.h"
#include "tier.h"

const struct tier_ops *const tiers[] = {
#define X(n) &tier_##n,
	TIERS(X)
#undef X
	NULL,
};

const struct tier_ops *tier_find(const char *name)
{
	int i;

	for (i = 0; tiers[i]; i++)
		if (!strcmp(tiers[i]->name, name))
			return tiers[i];
	return NULL;
}

const struct tier_param tier_common_params[] = {
	{ "size", "SIZE", "1G", "swap device size (zram disksize, swap file, NBD export)" },
	{ "priority", "N", "100", "swap priority, 0 to 32767" },
	{ "swappiness", "N", NULL, "set vm.swappiness (0 to 200) while the tier is up" },
	{ "page-cluster", "N", NULL, "set vm.page-cluster (0 to 10) while the tier is up" },
	{ "watermark-scale-factor", "N", NULL, "set vm.watermark_scale_factor (1 to 3000) while up" },
	{ "thp", "MODE", NULL, "set transparent hugepages (always, madvise, never) while up" },
	{ NULL, NULL, NULL, NULL },
};

static const struct tier_param *param_of(const struct tier_ops *ops, const char *name)
{
	const struct tier_param *p;

	for (p = tier_common_params; p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	for (p = ops->params; p && p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

bool tier_has_param(const struct tier_ops *ops, const char *name)
{
	return param_of(ops, name) != NULL;
}

const char *tier_get(const struct tier *t, const char *name)
{
	const char *v = json_string_value(json_object_get(t->settings, name));
	const struct tier_param *p;

	if (v)
		return v;
	p = param_of(t->ops, name);
	return p ? p->def : NULL;
}

/* The journal object of level I (0: the "tier" object itself), or NULL. */
static json_t *level_object(struct journal *j, unsigned i)
{
	json_t *to = json_object_get(j->doc, "tier");

	return i ? json_array_get(json_object_get(to, "levels"), i - 1) : to;
}

static void bind_level(struct tier *t, const struct tier_ops *ops, struct journal *j, unsigned i)
{
	json_t *lo = level_object(j, i);

	*t = (struct tier){ .ops = ops, .j = j, .settings = json_object_get(lo, "settings"),
			    .state = json_object_get(lo, "state"), .dry_run = j->dry_run };
}

void tier_bind(struct tier *t, const struct tier_ops *ops, struct journal *j)
{
	bind_level(t, ops, j, 0);
}

const struct tier_ops *tier_from_journal(struct journal *j, struct tier *t)
{
	const char *name = json_string_value(json_object_get(json_object_get(j->doc, "tier"), "name"));
	const struct tier_ops *ops = name ? tier_find(name) : NULL;

	if (ops)
		tier_bind(t, ops, j);
	return ops;
}

int tier_bring_up(struct tier *t)
{
	struct tier_stack s = { .n = 1, .lv = { *t } };

	return tier_stack_bring_up(&s);
}

int tier_take_down(struct journal *j, struct tier *t, bool *teardown_failed)
{
	struct tier_stack s = { .n = 1 };

	if (!t)
		return tier_stack_take_down(j, NULL, teardown_failed);
	s.lv[0] = *t;
	return tier_stack_take_down(j, &s, teardown_failed);
}

json_t *tier_snapshot(const struct tier *t, bool describe)
{
	json_t *o = json_object();

	if (describe ? t->ops->describe(t, o) : t->ops->counters(t, o))
		debug("tier '%s' %s incomplete", t->ops->name, describe ? "description" : "counters");
	return o;
}

/* --- stacks ---------------------------------------------------------------------- */

/* One refusal rule: true when OPS[0..n-1] break it, with the reason. */
struct stack_rule {
	bool (*broken)(const struct tier_ops *const ops[], unsigned n, char *why, size_t len);
};

static bool too_deep(const struct tier_ops *const ops[], unsigned n, char *why, size_t len)
{
	(void)ops;
	if (n <= TIER_STACK_MAX)
		return false;
	snprintf(why, len, "%u levels: a stack has at most %d", n, TIER_STACK_MAX);
	return true;
}

static bool has_baseline(const struct tier_ops *const ops[], unsigned n, char *why, size_t len)
{
	unsigned i;

	for (i = 0; n > 1 && i < n; i++)
		if (ops[i]->baseline) {
			snprintf(why, len, "tier '%s' is no swap at all: it has no place in a stack",
				 ops[i]->name);
			return true;
		}
	return false;
}

static bool twice(const struct tier_ops *const ops[], unsigned n, char *why, size_t len)
{
	unsigned i, k;

	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (ops[i] == ops[k]) {
				snprintf(why, len, "tier '%s' twice: each level is a device of its own "
					 "kind (one zram0, one swap file ...)", ops[i]->name);
				return true;
			}
	return false;
}

static bool frontswap_below(const struct tier_ops *const ops[], unsigned n, char *why, size_t len)
{
	unsigned i;

	for (i = 1; i < n; i++)
		if (ops[i]->frontswap) {
			snprintf(why, len, "'%s' caches in front of every swap device, so it can only be "
				 "the top level ('%s>%s', not '%s>%s')", ops[i]->name, ops[i]->name,
				 ops[0]->name, ops[0]->name, ops[i]->name);
			return true;
		}
	return false;
}

static bool compressed_twice(const struct tier_ops *const ops[], unsigned n, char *why, size_t len)
{
	unsigned i;

	for (i = 1; n > 1 && ops[0]->frontswap && ops[0]->compressing && i < n; i++)
		if (ops[i]->compressing) {
			snprintf(why, len, "'%s' over '%s' compresses every page twice (the pool's "
				 "write-back goes to a compressing device): put a disk or nbd level "
				 "under %s", ops[0]->name, ops[i]->name, ops[0]->name);
			return true;
		}
	return false;
}

/* In order: the first broken rule is the reason given. */
static const struct stack_rule stack_rules[] = {
	{ too_deep }, { has_baseline }, { twice }, { frontswap_below }, { compressed_twice },
};

const char *tier_stack_refusal(const struct tier_ops *const ops[], unsigned n, char *why,
			       size_t len)
{
	size_t i;

	for (i = 0; i < sizeof stack_rules / sizeof stack_rules[0]; i++)
		if (stack_rules[i].broken(ops, n, why, len))
			return why;
	return NULL;
}

static void stack_flags(struct tier_stack *s)
{
	bool front = false;
	unsigned i;

	for (i = 0; i < s->n; i++)
		front = front || s->lv[i].ops->frontswap;
	for (i = 0; i < s->n; i++) {
		s->lv[i].over_lower = i + 1 < s->n;
		s->lv[i].keep_zswap = front;
	}
}

void tier_stack_begin(struct tier_stack *s, const struct tier_ops *const ops[], unsigned n,
		      struct journal *j)
{
	json_t *to = json_pack("{s:s, s:{}, s:{}, s:b}", "name", ops[0]->name, "settings", "state",
			       "up", 0);
	unsigned i;

	if (n > 1) {
		json_t *levels = json_array();

		for (i = 1; i < n; i++)
			json_array_append_new(levels, json_pack("{s:s, s:{}, s:{}}", "name",
								ops[i]->name, "settings", "state"));
		json_object_set_new(to, "levels", levels);
	}
	json_object_set_new(j->doc, "tier", to);
	s->n = n;
	for (i = 0; i < n; i++)
		bind_level(&s->lv[i], ops[i], j, i);
	stack_flags(s);
}

unsigned tier_stack_from_journal(struct journal *j, struct tier_stack *s)
{
	json_t *levels = json_object_get(json_object_get(j->doc, "tier"), "levels");
	const struct tier_ops *ops;
	unsigned i, n = 1 + (unsigned)json_array_size(levels);

	if (n > TIER_STACK_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(level_object(j, i), "name"));

		if (!name || !(ops = tier_find(name)))
			return 0;
		bind_level(&s->lv[i], ops, j, i);
	}
	s->n = n;
	stack_flags(s);
	return n;
}

int tier_stack_bring_up(struct tier_stack *s)
{
	static const char *const prio[TIER_STACK_MAX] = { "100", "10", "1" };
	struct journal *j = s->lv[0].j;
	unsigned i;

	for (i = 0; s->n > 1 && i < s->n; i++)
		if (!json_object_get(s->lv[i].settings, "priority"))
			json_object_set_new(s->lv[i].settings, "priority", json_string(prio[i]));
	if (journal_save(j) < 0)
		return -1;
	for (i = 0; i < s->n; i++)
		if (s->lv[i].ops->setup(&s->lv[i]) < 0)
			return -1;
	json_object_set_new(json_object_get(j->doc, "tier"), "up", json_true());
	return journal_save(j);
}

int tier_stack_take_down(struct journal *j, struct tier_stack *s, bool *teardown_failed)
{
	struct tier_stack own;
	unsigned i;

	if (teardown_failed)
		*teardown_failed = false;
	if (!s && tier_stack_from_journal(j, &own))
		s = &own;
	for (i = 0; s && !j->dry_run && i < s->n &&
	     json_is_true(json_object_get(json_object_get(j->doc, "tier"), "up")); i++)
		if (s->lv[i].ops->teardown && s->lv[i].ops->teardown(&s->lv[i]) < 0 && teardown_failed)
			*teardown_failed = true;
	return journal_replay(j);
}

json_t *tier_stack_snapshot(const struct tier_stack *s, bool describe)
{
	json_t *levels;
	unsigned i;

	if (s->n == 1)
		return tier_snapshot(&s->lv[0], describe);
	levels = json_array();
	for (i = 0; i < s->n; i++) {
		json_t *o = tier_snapshot(&s->lv[i], describe);

		json_object_set_new(o, "tier", json_string(s->lv[i].ops->name));
		json_array_append_new(levels, o);
	}
	return json_pack("{s:o}", "levels", levels);
}

bool tier_is_baseline(const char *name)
{
	const struct tier_ops *ops = name ? tier_find(name) : NULL;

	return ops && ops->baseline;
}

/* See tier-names.h. */
const char *tier_palette(void)
{
	static char pal[1024];
	const struct tier_colour *c;
	size_t i, n = 0;
	int w;

	if (pal[0])
		return pal;
	for (i = 0; tiers[i]; i++)
		for (c = tiers[i]->colours; c && c->label; c++) {
			w = snprintf(pal + n, sizeof pal - n, "%s%s=%u", n ? " " : "", c->label, c->rgb);
			if (w < 0 || (size_t)w >= sizeof pal - n) {
				pal[n] = '\0';	/* full: the labels past it draw red */
				return pal;
			}
			n += (size_t)w;
		}
	return pal;
}

int tier_size(const struct tier *t, const char *name, uint64_t *out)
{
	const char *v = tier_get(t, name);

	if (!v)
		return 1;
	if (parse_size(v, out) < 0) {
		error("--%s: expected a size like 512M or 4G, got '%s'", name, v);
		return -1;
	}
	return 0;
}

int tier_uint(const struct tier *t, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v = tier_get(t, name);

	if (!v)
		return 1;
	if (parse_uint(v, min, max, out) < 0) {
		error("--%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'",
		      name, min, max, v);
		return -1;
	}
	return 0;
}

int tier_bool(const struct tier *t, const char *name, bool *out)
{
	const char *v = tier_get(t, name);

	if (!v)
		return 1;
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "Y") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "N") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	error("--%s: expected on or off, got '%s'", name, v);
	return -1;
}

const char *tier_state(const struct tier *t, const char *key)
{
	return json_string_value(json_object_get(t->state, key));
}

static int set_sysctl(struct tier *t, const char *name, const char *path, uint64_t min,
		      uint64_t max)
{
	uint64_t v;
	char buf[32];
	int rc = tier_uint(t, name, min, max, &v);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return change_value(t->j, path, buf);
}

int tier_check_common(const struct tier *t)
{
	const char *thp_path = "/sys/kernel/mm/transparent_hugepage/enabled";
	const char *thp = tier_get(t, "thp");
	char raw[128], modes[128], cur[32];
	uint64_t v;

	if (tier_size(t, "size", &v) < 0 || tier_uint(t, "priority", 0, 32767, &v) < 0 ||
	    tier_uint(t, "swappiness", 0, 200, &v) < 0 || tier_uint(t, "page-cluster", 0, 10, &v) < 0 ||
	    tier_uint(t, "watermark-scale-factor", 1, 3000, &v) < 0)
		return -1;
	if (!thp)
		return 0;
	if (read_text(thp_path, raw, sizeof raw) < 0 ||
	    choice_parse(raw, cur, sizeof cur, modes, sizeof modes) < 0) {
		error("--thp: cannot read '%s': %m", thp_path);
		return -1;
	}
	if (!word_in(modes, thp)) {
		error("--thp: expected one of '%s', got '%s'", modes, thp);
		return -1;
	}
	return 0;
}

int tier_apply_common(struct tier *t)
{
	const char *zswap = "/sys/module/zswap/parameters/enabled";
	const char *thp_path = "/sys/kernel/mm/transparent_hugepage/enabled";
	const char *thp = tier_get(t, "thp");
	char v[8];

	if (set_sysctl(t, "swappiness", "/proc/sys/vm/swappiness", 0, 200) < 0 ||
	    set_sysctl(t, "page-cluster", "/proc/sys/vm/page-cluster", 0, 10) < 0 ||
	    set_sysctl(t, "watermark-scale-factor", "/proc/sys/vm/watermark_scale_factor", 1, 3000) < 0)
		return -1;
	if (thp && change_value(t->j, thp_path, thp) < 0)
		return -1;
	/* zswap in front would take the faults meant for the device under test. */
	if (!t->ops->frontswap && !t->keep_zswap && read_text(zswap, v, sizeof v) > 0 && v[0] == 'Y') {
		info("turning zswap off while tier '%s' is up", t->ops->name);
		return change_value(t->j, zswap, "N");
	}
	return 0;
}

int tier_swapon(struct tier *t, const char *dev)
{
	const char *uuid = tier_state(t, "swap_uuid"), *label = tier_state(t, "swap_label");
	const char *mkswap[8] = { "mkswap" };
	uint64_t prio = 0;
	int n = 1;

	/* A device's own UUID and label survive (storage.c found them). */
	if (uuid) {
		mkswap[n++] = "-U";
		mkswap[n++] = uuid;
	}
	if (label) {
		mkswap[n++] = "-L";
		mkswap[n++] = label;
	}
	mkswap[n++] = dev;

	if (tier_uint(t, "priority", 0, 32767, &prio) < 0)
		return -1;
	json_object_set_new(t->state, "swap_dev", json_string(dev));
	if (t->no_swapon)
		return 0;
	if (run(mkswap, TIMEOUT_QUICK_S, t->dry_run ? RUN_DRY : 0, NULL) < 0)
		return -1;
	if (change_swapon(t->j, dev, (int)prio) < 0)
		return -1;
	if (!t->dry_run && !swap_active(dev, NULL)) {
		error("'%s' is not in /proc/swaps after swapon", dev);
		return -1;
	}
	return 0;
}

void tier_swap_counters(const struct tier *t, json_t *out)
{
	const char *dev = tier_state(t, "swap_dev");
	struct swap_area a;

	if (!dev || !swap_active(dev, &a))
		return;
	json_object_set_new(out, "swaps", json_pack("{s:s, s:I, s:I, s:i}", "name", a.name,
		"size_bytes", (json_int_t)(a.size_kib * 1024), "used_bytes",
		(json_int_t)(a.used_kib * 1024), "priority", a.priority));
}

json_t *tier_in_force(void)
{
	static const struct { const char *key, *path; } knobs[] = {
		{ "vm_swappiness", "/proc/sys/vm/swappiness" },
		{ "vm_page_cluster", "/proc/sys/vm/page-cluster" },
		{ "vm_watermark_scale_factor", "/proc/sys/vm/watermark_scale_factor" },
		{ "vm_overcommit_memory", "/proc/sys/vm/overcommit_memory" },
		{ "thp_enabled", "/sys/kernel/mm/transparent_hugepage/enabled" },
		{ "zswap_enabled", "/sys/module/zswap/parameters/enabled" },
		{ "zswap_shrinker_enabled", "/sys/module/zswap/parameters/shrinker_enabled" },
	};
	json_t *o = json_object();
	char buf[256], cur[64];
	size_t i;

	for (i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		if (read_text(knobs[i].path, buf, sizeof buf) < 0)
			continue;
		if (strchr(buf, '[') && choice_parse(buf, cur, sizeof cur, NULL, 0) == 0)
			snprintf(buf, sizeof buf, "%s", cur);
		json_object_set_new(o, knobs[i].key, json_string(buf));
	}
	return o;
}
