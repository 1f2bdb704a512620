/* Result documents of `swapbench run`: see result.h.
 * Try: build/swapbench compare tests/fixtures/results/base.json tests/fixtures/results/truncated.json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "result.h"

const struct metric metrics[] = {
#define X(n, k, kind, unit, gated) { #n, k, kind, unit, gated },
	RESULT_METRICS(X)
#undef X
	{ NULL, NULL, 0, 0, false },
};

const struct metric *metric_find(const char *name)
{
	int i;

	for (i = 0; metrics[i].name; i++)
		if (!strcmp(name, metrics[i].name) || !strcmp(name, metrics[i].key))
			return &metrics[i];
	return NULL;
}

const char *metric_format(enum metric_unit u, double v, char *buf, size_t len)
{
	switch (u) {
	case UNIT_NS:
		if (v >= 1e9)
			snprintf(buf, len, "%.2f s", v / 1e9);
		else if (v >= 1e6)
			snprintf(buf, len, "%.2f ms", v / 1e6);
		else if (v >= 1e3)
			snprintf(buf, len, "%.1f us", v / 1e3);
		else
			snprintf(buf, len, "%.0f ns", v);
		break;
	case UNIT_PCT:
		snprintf(buf, len, "%.2f%%", v);
		break;
	case UNIT_PAGES:
	case UNIT_OPS:
		snprintf(buf, len, "%.0f", v);
		break;
	case UNIT_RATE:
		snprintf(buf, len, "%.0f/s", v);
		break;
	}
	return buf;
}

json_t *result_load(const char *path)
{
	json_error_t err;
	json_t *doc, *runs, *run;
	const char *schema;
	size_t i;

	doc = json_load_file(path, 0, &err);
	if (!doc) {
		if (err.line < 1)
			error("'%s': %s", path, err.text);	/* e.g. cannot open */
		else
			error("%s:%d:%d: %s", path, err.line, err.column, err.text);
		return NULL;
	}
	schema = json_string_value(json_object_get(doc, "schema"));
	if (!schema || strcmp(schema, "swapbench-run")) {
		error("'%s' is not a swapbench-run result document (schema '%s')", path,
		      schema ? schema : "none");
		goto bad;
	}
	if (json_integer_value(json_object_get(doc, "schema_version")) != 1) {
		error("'%s': unsupported schema_version (expected 1)", path);
		goto bad;
	}
	if (!json_is_object(json_object_get(doc, "fingerprint"))) {
		error("'%s': no \"fingerprint\" object", path);
		goto bad;
	}
	runs = json_object_get(doc, "runs");
	if (!json_is_array(runs)) {
		error("'%s': no \"runs\" array", path);
		goto bad;
	}
	json_array_foreach(runs, i, run) {
		if (!json_is_string(json_object_get(run, "tier")) ||
		    !json_is_object(json_object_get(run, "metrics"))) {
			error("'%s': run %zu has no \"tier\" string or \"metrics\" object", path, i);
			goto bad;
		}
	}
	return doc;
bad:
	json_decref(doc);
	return NULL;
}

const char *result_group(const json_t *run, char *buf, size_t len)
{
	const char *tier = json_string_value(json_object_get(run, "tier"));
	const json_t *ratio = json_object_get(run, "ratio");

	if (json_is_number(ratio))
		snprintf(buf, len, "%s@%g", tier, json_number_value(ratio));
	else
		snprintf(buf, len, "%s", tier);
	return buf;
}

json_t *result_tiers(const json_t *doc)
{
	json_t *tiers = json_array(), *run, *t;
	size_t i, j;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		char group[128];
		const char *name = result_group(run, group, sizeof group);
		bool seen = false;

		json_array_foreach(tiers, j, t)
			seen = seen || !strcmp(json_string_value(t), name);
		if (!seen)
			json_array_append_new(tiers, json_string(name));
	}
	return tiers;
}

struct keyed {
	long long repeat;
	size_t idx;		/* position in "runs": ties keep document order */
	double v;
};

static int cmp_repeat(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->repeat != y->repeat)
		return (x->repeat > y->repeat) - (x->repeat < y->repeat);
	return (x->idx > y->idx) - (x->idx < y->idx);
}

double *result_values(const json_t *doc, const char *tier, const char *key,
		      size_t *n, size_t *excluded)
{
	const json_t *runs = json_object_get(doc, "runs");
	struct keyed *k;
	double *out = NULL;
	json_t *run;
	size_t i;

	*n = *excluded = 0;
	k = calloc(json_array_size(runs) + 1, sizeof *k);
	if (!k)
		return NULL;
	json_array_foreach(runs, i, run) {
		json_t *v = json_object_get(json_object_get(run, "metrics"), key);
		char group[128];

		if (strcmp(result_group(run, group, sizeof group), tier))
			continue;
		if (!json_is_true(json_object_get(run, "valid")) || !json_is_number(v)) {
			(*excluded)++;
			continue;
		}
		k[*n].repeat = json_integer_value(json_object_get(run, "repeat"));
		k[*n].idx = i;
		k[(*n)++].v = json_number_value(v);
	}
	if (*n) {
		qsort(k, *n, sizeof *k, cmp_repeat);
		out = malloc(*n * sizeof *out);
		for (i = 0; out && i < *n; i++)
			out[i] = k[i].v;
		if (!out)
			*n = 0;
	}
	free(k);
	return out;
}

const char *result_fingerprint_diff(const json_t *a, const json_t *b)
{
	static const char *const keys[] = { "kernel", "scenario", "tier_config", "factors" };
	const json_t *fa = json_object_get(a, "fingerprint"), *fb = json_object_get(b, "fingerprint");
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_t *x = json_object_get(fa, keys[i]), *y = json_object_get(fb, keys[i]);

		if (!(x == NULL && y == NULL) && !json_equal(x, y))
			return keys[i];
	}
	return NULL;
}

const char *result_fp_str(const json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(doc, "fingerprint"), key));

	return s ? s : "?";
}
