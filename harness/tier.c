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

void tier_bind(struct tier *t, const struct tier_ops *ops, struct journal *j)
{
	json_t *to = json_object_get(j->doc, "tier");

	*t = (struct tier){ .ops = ops, .j = j, .settings = json_object_get(to, "settings"),
			    .state = json_object_get(to, "state"), .dry_run = j->dry_run };
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
	if (journal_save(t->j) < 0 || t->ops->setup(t) < 0)
		return -1;
	json_object_set_new(json_object_get(t->j->doc, "tier"), "up", json_true());
	return journal_save(t->j);
}

int tier_take_down(struct journal *j, struct tier *t, bool *teardown_failed)
{
	struct tier own;

	if (teardown_failed)
		*teardown_failed = false;
	if (!t && tier_from_journal(j, &own))
		t = &own;
	if (t && t->ops->teardown && !j->dry_run &&
	    json_is_true(json_object_get(json_object_get(j->doc, "tier"), "up")) &&
	    t->ops->teardown(t) < 0 && teardown_failed)
		*teardown_failed = true;
	return journal_replay(j);
}

json_t *tier_snapshot(const struct tier *t, bool describe)
{
	json_t *o = json_object();

	if (describe ? t->ops->describe(t, o) : t->ops->counters(t, o))
		debug("tier '%s' %s incomplete", t->ops->name, describe ? "description" : "counters");
	return o;
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
	if (!t->ops->frontswap && read_text(zswap, v, sizeof v) > 0 && v[0] == 'Y') {
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
