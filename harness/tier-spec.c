/* --tiers entries, parsed: see tier-spec.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"

#include "tier-spec.h"

/* The characters of a label ('+' joins a stack's levels): it names files,
 * plot rows and table cells, and result documents refuse any other
 * (result_check). */
#define LABEL_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* Level TEXT (NAME[:KEY=VALUE...], cut out of a copy of the spec that
 * outlives the parse) into lv and its label; *as points at an as= value. */
static int parse_level(struct tier_spec *ts, struct level_spec *lv, char *text, const char **as,
		       char *label, size_t label_len, char *err, size_t len)
{
	char *tok, *save = NULL, *eq;

	tok = strtok_r(text, ":", &save);
	lv->ops = tok ? tier_find(tok) : NULL;
	if (!lv->ops) {
		snprintf(err, len, "unknown tier '%s' ('swapbench list tiers')", tok ? tok : "");
		return -1;
	}
	snprintf(label, label_len, "%s", lv->ops->name);
	while ((tok = strtok_r(NULL, ":", &save))) {
		eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1]) {
			snprintf(err, len, "expected KEY=VALUE after '%s:', got '%s'", lv->ops->name, tok);
			return -1;
		}
		*eq = '\0';
		/* as=LABEL names the runs; it is no option of the tier. */
		if (!strcmp(tok, "as")) {
			if (*as) {
				snprintf(err, len, "'as' given twice in '%s'", ts->spec);
				return -1;
			}
			*as = eq + 1;
			continue;
		}
		if (!tier_has_param(lv->ops, tok)) {
			snprintf(err, len, "tier '%s' has no option '%s' ('swapbench tier up %s --help')",
				 lv->ops->name, tok, lv->ops->name);
			return -1;
		}
		if (lv->nopt == TIER_SPEC_OPTS || strlen(tok) >= sizeof lv->key[0] ||
		    strlen(eq + 1) >= sizeof lv->val[0]) {
			snprintf(err, len, "too many or too long options in '%s'", ts->spec);
			return -1;
		}
		snprintf(lv->key[lv->nopt], sizeof lv->key[0], "%s", tok);
		snprintf(lv->val[lv->nopt], sizeof lv->val[0], "%s", eq + 1);
		lv->nopt++;
		if (strlen(label) + strlen(eq + 1) + 2 > label_len) {
			snprintf(err, len, "'%s' makes too long a label; name it with :as=LABEL", ts->spec);
			return -1;
		}
		strcat(label, "-");
		strcat(label, eq + 1);
	}
	return 0;
}

static bool label_ok(const char *as)
{
	return as[0] && as[0] != '.' && as[0] != '-' &&
	       strspn(as, LABEL_CHARS) == strlen(as);
}

int tier_spec_parse(struct tier_spec *ts, const char *spec, char *err, size_t len)
{
	char buf[1024], label[sizeof ts->label] = "", *lvl, *save = NULL;
	const char *as = NULL;
	const struct tier_ops *lops[TIER_STACK_MAX];
	char why[256];
	unsigned n = 0;

	memset(ts, 0, sizeof *ts);
	ts->throttle = -1;
	if (strlen(spec) >= sizeof buf) {
		snprintf(err, len, "'%.40s...' is too long", spec);
		return -1;
	}
	snprintf(ts->spec, sizeof ts->spec, "%s", spec);
	snprintf(buf, sizeof buf, "%s", spec);
	if (!spec[0] || spec[0] == '>' || spec[strlen(spec) - 1] == '>' || strstr(spec, ">>")) {
		snprintf(err, len, "'%s': expected TIER or a stack TIER>TIER (highest priority first)", spec);
		return -1;
	}
	for (lvl = strtok_r(buf, ">", &save); lvl; lvl = strtok_r(NULL, ">", &save)) {
		char one[sizeof ts->label];
		const char *as_here = NULL;

		if (n == TIER_STACK_MAX) {
			snprintf(err, len, "'%s': a stack has at most %d levels", spec, TIER_STACK_MAX);
			return -1;
		}
		if (parse_level(ts, &ts->lv[n], lvl, &as_here, one, sizeof one, err, len) < 0)
			return -1;
		if (as_here) {
			if (as) {
				snprintf(err, len, "'as' given twice in '%s'", spec);
				return -1;
			}
			as = as_here;
		}
		if (strlen(label) + strlen(one) + 2 > sizeof label) {
			snprintf(err, len, "'%s' makes too long a label; name it with :as=LABEL", spec);
			return -1;
		}
		if (n)
			strcat(label, "+");
		strcat(label, one);
		lops[n] = ts->lv[n].ops;
		n++;
	}
	ts->nlevel = n;
	if (tier_stack_refusal(lops, n, why, sizeof why)) {
		snprintf(err, len, "'%s' is no stack: %s", spec, why);
		return -1;
	}
	if (as) {
		if (strlen(as) >= sizeof label || !label_ok(as)) {
			snprintf(err, len, "as=%s: a label is 1 to %zu letters, digits, '.', '_' or "
				 "'-', not starting with '.' or '-'", as, sizeof ts->label - 1);
			return -1;
		}
		snprintf(label, sizeof label, "%s", as);
	}
	if (strspn(label, LABEL_CHARS "+") != strlen(label)) {
		snprintf(err, len, "'%s' makes the label '%s', which holds a character unfit for "
			 "file names; name it with :as=LABEL", spec, label);
		return -1;
	}
	snprintf(ts->label, sizeof ts->label, "%s", label);
	return 0;
}

const char *tier_spec_opt(const struct tier_spec *ts, unsigned i, const char *key)
{
	unsigned k;

	for (k = 0; i < ts->nlevel && k < ts->lv[i].nopt; k++)
		if (!strcmp(ts->lv[i].key[k], key))
			return ts->lv[i].val[k];
	return NULL;
}

void tier_spec_settings(const struct tier_spec *ts, unsigned i, json_t *settings)
{
	unsigned k;

	for (k = 0; i < ts->nlevel && k < ts->lv[i].nopt; k++)
		json_object_set_new(settings, ts->lv[i].key[k], json_string(ts->lv[i].val[k]));
}

bool tier_spec_frontswap(const struct tier_spec *ts)
{
	unsigned i;

	for (i = 0; i < ts->nlevel; i++)
		if (ts->lv[i].ops->frontswap)
			return true;
	return false;
}

void tier_spec_ops(const struct tier_spec *ts, const struct tier_ops *ops[TIER_STACK_MAX])
{
	unsigned i;

	for (i = 0; i < ts->nlevel; i++)
		ops[i] = ts->lv[i].ops;
}

/* --- sweeps ------------------------------------------------------------------------ */

/* A factor: the tier option it sets (on every level, or on the levels of
 * one tier), or the workload cgroup's limit file; its values' range. */
struct sweep_factor {
	const char *name;	/* as --sweep takes it */
	const char *shortname;	/* in the variants' labels */
	const char *option;	/* the tier option it sets; NULL: memcg.mode */
	const struct tier_ops *only;	/* the levels it applies to; NULL: every level */
	long min, max;		/* a number's range; min > max: a name */
};

static const struct sweep_factor factors[] = {
	{ "vm.swappiness", "swappiness", "swappiness", NULL, 0, 200 },
	{ "vm.page-cluster", "pagecluster", "page-cluster", NULL, 0, 10 },
	{ "zram.comp_algorithm", "", "algorithm", &tier_zram, 1, 0 },
	{ "zswap.compressor", "", "compressor", &tier_zswap, 1, 0 },
	{ "memcg.mode", "memcg", NULL, NULL, 1, 0 },
};

const char *sweep_factor_name(const struct sweep *sw)
{
	return sw->f->name;
}

bool sweep_numeric(const struct sweep *sw)
{
	return sw->f->min <= sw->f->max;
}

static int value_ok(const struct sweep_factor *f, const char *v, char *err, size_t len)
{
	uint64_t u;

	if (f->min <= f->max) {
		if (parse_uint(v, (uint64_t)f->min, (uint64_t)f->max, &u) < 0) {
			snprintf(err, len, "--sweep %s: expected integers from %ld to %ld, got '%s'",
				 f->name, f->min, f->max, v);
			return -1;
		}
		return 0;
	}
	if (!f->option && strcmp(v, "max") && strcmp(v, "high")) {
		snprintf(err, len, "--sweep %s: expected max or high, got '%s'", f->name, v);
		return -1;
	}
	if (!v[0] || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(v)) {
		snprintf(err, len, "--sweep %s: '%s' is no name (letters, digits, '.', '-')", f->name, v);
		return -1;
	}
	return 0;
}

int sweep_parse(struct sweep *sw, const char *arg, char *err, size_t len)
{
	char buf[512], *vals, *tok, *save = NULL;
	size_t i, k;

	memset(sw, 0, sizeof *sw);
	if (strlen(arg) >= sizeof buf || !(vals = strchr(strcpy(buf, arg), '='))) {
		snprintf(err, len, "--sweep: expected FACTOR=V1,V2,..., got '%.60s'", arg);
		return -1;
	}
	*vals++ = '\0';
	for (i = 0; i < sizeof factors / sizeof factors[0]; i++)
		if (!strcmp(factors[i].name, buf))
			sw->f = &factors[i];
	if (!sw->f) {
		snprintf(err, len, "--sweep: unknown factor '%s' (vm.swappiness, vm.page-cluster, "
			 "zram.comp_algorithm, zswap.compressor, memcg.mode)", buf);
		return -1;
	}
	for (tok = strtok_r(vals, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (sw->n == SWEEP_MAX_VALUES) {
			snprintf(err, len, "--sweep %s: at most %d values", sw->f->name, SWEEP_MAX_VALUES);
			return -1;
		}
		if (strlen(tok) >= sizeof sw->val[0] || value_ok(sw->f, tok, err, len) < 0) {
			if (strlen(tok) >= sizeof sw->val[0])
				snprintf(err, len, "--sweep %s: '%.40s...' is too long", sw->f->name, tok);
			return -1;
		}
		for (k = 0; k < sw->n; k++)
			if (!strcmp(sw->val[k], tok)) {
				snprintf(err, len, "--sweep %s: '%s' given twice", sw->f->name, tok);
				return -1;
			}
		snprintf(sw->val[sw->n++], sizeof sw->val[0], "%s", tok);
	}
	if (sw->n == 1 && !strcmp(sw->val[0], "all") && sw->f->only && sw->f->only->choices)
		return 0;	/* sweep_fill_all lists them */
	if (sw->n < 2) {
		snprintf(err, len, "--sweep %s: give two values or more (V1,V2,...)", sw->f->name);
		return -1;
	}
	return 0;
}

int sweep_fill_all(struct sweep *sw)
{
	char list[512], *tok, *save = NULL;

	if (sw->n != 1 || strcmp(sw->val[0], "all"))
		return 0;
	if (sw->f->only->choices(sw->f->option, list, sizeof list) < 0)
		return -1;
	sw->n = 0;
	for (tok = strtok_r(list, " ", &save); tok && sw->n < SWEEP_MAX_VALUES;
	     tok = strtok_r(NULL, " ", &save))
		if (strlen(tok) < sizeof sw->val[0])
			snprintf(sw->val[sw->n++], sizeof sw->val[0], "%s", tok);
	if (tok)
		warn("--sweep %s=all: the first %d of the %s offered", sw->f->name, SWEEP_MAX_VALUES,
		     sw->f->only->name);
	if (sw->n < 2) {
		error("--sweep %s=all: this host offers %u (a sweep needs two)", sw->f->name, sw->n);
		return -1;
	}
	{
		char names[SWEEP_MAX_VALUES * 33] = "";
		unsigned i;

		for (i = 0; i < sw->n; i++) {
			strcat(names, i ? " " : "");
			strcat(names, sw->val[i]);
		}
		info("--sweep %s=all: %s", sw->f->name, names);
	}
	return 0;
}

/* Sets the factor's option to V on the levels of *t it applies to; -1
 * with the reason when none is such a level, or one sets it already. */
static int apply_factor(const struct sweep_factor *f, struct tier_spec *t, const char *v, char *err,
			size_t len)
{
	unsigned i, hit = 0;

	if (!f->option) {
		t->throttle = !strcmp(v, "high");
		return 0;
	}
	for (i = 0; i < t->nlevel; i++) {
		struct level_spec *lv = &t->lv[i];

		if (f->only && lv->ops != f->only)
			continue;
		if (tier_spec_opt(t, i, f->option)) {
			snprintf(err, len, "--sweep %s: '%s' sets %s itself", f->name, t->spec, f->option);
			return -1;
		}
		if (lv->nopt == TIER_SPEC_OPTS) {
			snprintf(err, len, "--sweep %s: '%s' has too many options for one more", f->name,
				 t->spec);
			return -1;
		}
		snprintf(lv->key[lv->nopt], sizeof lv->key[0], "%s", f->option);
		snprintf(lv->val[lv->nopt], sizeof lv->val[0], "%s", v);
		lv->nopt++;
		hit++;
	}
	if (!hit) {
		snprintf(err, len, "--sweep %s: '%s' has no %s level", f->name, t->spec, f->only->name);
		return -1;
	}
	return 0;
}

int sweep_expand(const struct sweep *sw, struct tier_spec *in, unsigned *n, unsigned cap,
		 char *err, size_t len)
{
	struct tier_spec *out;
	unsigned i, k, m = 0;

	if (*n * sw->n > cap) {
		snprintf(err, len, "--sweep: %u entries x %u values make %u runs a round, over %u",
			 *n, sw->n, *n * sw->n, cap);
		return -1;
	}
	out = calloc(*n * sw->n, sizeof *out);
	if (!out) {
		snprintf(err, len, "--sweep: out of memory");
		return -1;
	}
	for (i = 0; i < *n; i++)
		for (k = 0; k < sw->n; k++) {
			struct tier_spec *t = &out[m++];

			*t = in[i];
			t->throttle = -1;
			if (apply_factor(sw->f, t, sw->val[k], err, len) < 0) {
				free(out);
				return -1;
			}
			snprintf(t->base_label, sizeof t->base_label, "%s", in[i].label);
			snprintf(t->factor_value, sizeof t->factor_value, "%s", sw->val[k]);
			if (strlen(in[i].label) + strlen(sw->f->shortname) + strlen(sw->val[k]) + 2 >
			    sizeof t->label) {
				snprintf(err, len, "--sweep: '%s' makes too long a label with '%s'; name it "
					 "with :as=LABEL", in[i].spec, sw->val[k]);
				free(out);
				return -1;
			}
			snprintf(t->label, sizeof t->label, "%.*s_%s%s", (int)strlen(in[i].label),
				 in[i].label, sw->f->shortname, sw->val[k]);
		}
	memcpy(in, out, m * sizeof *out);
	*n = m;
	free(out);
	return 0;
}
