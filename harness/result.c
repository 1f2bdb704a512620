/* Result documents of `swapbench run`: see result.h.
 * Try: build/swapbench compare tests/fixtures/results/base.json tests/fixtures/results/truncated.json */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "result.h"
#include "stats.h"

const struct metric metrics[] = {
#define X(n, k, kind, unit, gated, col, head) { #n, k, kind, unit, gated, col, head },
	RESULT_METRICS(X)
#undef X
	{ NULL, NULL, 0, 0, false, 0, NULL },
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

static bool result_is_fio(const json_t *run);

/* Whether LABEL is one swapbench writes: 1 to 127 of letters, digits,
 * '.', '_', '+' and '-' (tier-spec.c makes no other), so that a label
 * from a document passed around can name files, plot rows and table
 * cells as it is. */
static bool label_fit(const char *label)
{
	size_t n = strlen(label);

	return n && n < 128 &&
	       strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

int result_check(const json_t *doc, char *why, size_t len)
{
	const char *schema = json_string_value(json_object_get(doc, "schema"));
	json_t *runs, *run;
	size_t i;

	if (!schema || strcmp(schema, "swapbench-run")) {
		snprintf(why, len, " is not a swapbench-run result document (schema '%.64s')",
			 schema ? schema : "none");
		return -1;
	}
	if (json_integer_value(json_object_get(doc, "schema_version")) != 1) {
		snprintf(why, len, ": unsupported schema_version (expected 1)");
		return -1;
	}
	if (!json_is_object(json_object_get(doc, "fingerprint"))) {
		snprintf(why, len, ": no \"fingerprint\" object");
		return -1;
	}
	runs = json_object_get(doc, "runs");
	if (!json_is_array(runs)) {
		snprintf(why, len, ": no \"runs\" array");
		return -1;
	}
	json_array_foreach(runs, i, run) {
		const char *tier = json_string_value(json_object_get(run, "tier"));

		/* fio-raw runs carry "fio_jobs" instead of "metrics". */
		if (!tier || (!json_is_object(json_object_get(run, "metrics")) && !result_is_fio(run))) {
			snprintf(why, len, ": run %zu has no \"tier\" string or \"metrics\" object", i);
			return -1;
		}
		if (!label_fit(tier)) {
			snprintf(why, len, ": run %zu's tier label holds a character swapbench never "
				 "writes in one (letters, digits, '.', '_', '+', '-' only)", i);
			return -1;
		}
	}
	return 0;
}

json_t *result_load(const char *path)
{
	json_error_t err;
	json_t *doc;
	char why[256];

	doc = json_load_file(path, 0, &err);
	if (!doc) {
		if (err.line < 1)
			error("'%s': %s", path, err.text);	/* e.g. cannot open */
		else
			error("%s:%d:%d: %s", path, err.line, err.column, err.text);
		return NULL;
	}
	if (result_check(doc, why, sizeof why) < 0) {
		error("'%s'%s", path, why);
		json_decref(doc);
		return NULL;
	}
	return doc;
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

bool result_daemons_cpu_per_page(const json_t *m, double *v)
{
	static const char *const keys[] = { "pswpin_pages", "pswpout_pages", "zswpin_pages",
					    "zswpout_pages" };
	json_t *cpu = json_object_get(m, "tier_daemons_cpu_ns");
	double pages = 0;
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		pages += json_number_value(json_object_get(m, keys[i]));
	if (!json_is_integer(cpu) || pages <= 0)
		return false;
	*v = json_number_value(cpu) / pages;
	return true;
}

/* A run's metric KEY into *v, derived where result.h says so.  Returns
 * whether the run has it. */
static bool run_metric(const json_t *run, const char *key, double *v)
{
	json_t *m = json_object_get(run, "metrics"), *x = json_object_get(m, key);
	const char *a = NULL, *b = NULL;
	double secs;

	if (x) {
		*v = json_number_value(x);
		return json_is_number(x);
	}
	if (!strcmp(key, "tier_daemons_cpu_ns_per_page"))
		return result_daemons_cpu_per_page(m, v);
	if (!strcmp(key, "swapped_out_rate_pages_per_s"))
		a = "pswpout_pages", b = "zswpout_pages";
	else if (!strcmp(key, "swapped_in_rate_pages_per_s"))
		a = "pswpin_pages", b = "zswpin_pages";
	secs = json_number_value(json_object_get(m, "duration_ns")) / 1e9;
	if (!a || !json_is_number(json_object_get(m, a)) || secs <= 0)
		return false;
	*v = (json_number_value(json_object_get(m, a)) + json_number_value(json_object_get(m, b))) / secs;
	return true;
}

json_t *result_summary(const json_t *doc)
{
	json_t *out = json_object(), *tiers = result_tiers(doc), *t;
	size_t i, k, n, x;

	json_array_foreach(tiers, i, t) {
		json_t *g = json_object();

		for (k = 0; metrics[k].name; k++) {
			double *v = result_values(doc, json_string_value(t), metrics[k].key, &n, &x);

			if (n)
				json_object_set_new(g, metrics[k].key, json_pack("{s:f, s:f, s:I}",
					"median", stats_median(v, n), "mad", stats_mad(v, n),
					"runs", (json_int_t)n));
			free(v);
		}
		json_object_set_new(out, json_string_value(t), g);
	}
	json_decref(tiers);
	return out;
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
		double v = 0;
		bool has = run_metric(run, key, &v);
		char group[128];

		if (strcmp(result_group(run, group, sizeof group), tier))
			continue;
		if (!json_is_true(json_object_get(run, "valid")) || !has) {
			(*excluded)++;
			continue;
		}
		k[*n].repeat = json_integer_value(json_object_get(run, "repeat"));
		k[*n].idx = i;
		k[(*n)++].v = v;
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

	static const char *const recent[] = { "machine_id", "sizing" };

	/* Another machine, or other sizes: only where both documents say
	 * (documents before swapbench recorded them have neither). */
	for (i = 0; i < sizeof recent / sizeof recent[0]; i++) {
		json_t *x = json_object_get(fa, recent[i]), *y = json_object_get(fb, recent[i]);

		if (x && y && !json_is_null(x) && !json_is_null(y) && !json_equal(x, y))
			return recent[i];
	}
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

/* Whether RUN is a fio-raw run ("kind": "fio", or a "fio_jobs" array): it
 * has "fio_jobs" instead of "metrics". */
static bool result_is_fio(const json_t *run)
{
	const char *kind = json_string_value(json_object_get(run, "kind"));

	return (kind && !strcmp(kind, "fio")) || json_is_array(json_object_get(run, "fio_jobs"));
}

const char *result_kind(const json_t *doc)
{
	const json_t *sc = json_object_get(json_object_get(doc, "settings"), "scenario");
	const char *kind = json_string_value(json_object_get(sc, "kind"));
	json_t *tiers, *t, *run;
	size_t i, n;

	if (kind)
		return kind;
	json_array_foreach(json_object_get(doc, "runs"), i, run)
		if (result_is_fio(run))
			return "fio-raw";
	kind = "overcommit";
	tiers = result_base_tiers(doc);
	json_array_foreach(tiers, i, t) {
		free(result_ratios(doc, json_string_value(t), &n));
		if (n > 1)
			kind = "ramp";
	}
	json_decref(tiers);
	return kind;
}

json_t *result_base_tiers(const json_t *doc)
{
	json_t *tiers = json_array(), *run, *t;
	size_t i, j;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		const char *name = json_string_value(json_object_get(run, "tier"));
		bool seen = false;

		if (!name)
			continue;
		json_array_foreach(tiers, j, t)
			seen = seen || !strcmp(json_string_value(t), name);
		if (!seen)
			json_array_append_new(tiers, json_string(name));
	}
	return tiers;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double *result_ratios(const json_t *doc, const char *tier, size_t *n)
{
	const json_t *runs = json_object_get(doc, "runs");
	double *r;
	json_t *run;
	size_t i, k = 0;

	*n = 0;
	r = malloc((json_array_size(runs) + 1) * sizeof *r);
	if (!r)
		return NULL;
	json_array_foreach(runs, i, run) {
		const json_t *ratio = json_object_get(run, "ratio");
		const char *t = json_string_value(json_object_get(run, "tier"));

		if (json_is_number(ratio) && t && (!tier || !strcmp(t, tier)))
			r[k++] = json_number_value(ratio);
	}
	qsort(r, k, sizeof *r, cmp_double);
	for (i = 0; i < k; i++)
		if (!*n || r[*n - 1] != r[i])
			r[(*n)++] = r[i];
	if (!*n) {
		free(r);
		return NULL;
	}
	return r;
}

static int cmp_bucket(const void *a, const void *b)
{
	const struct result_bucket *x = a, *y = b;

	if (x->high_ns != y->high_ns)
		return (x->high_ns > y->high_ns) - (x->high_ns < y->high_ns);
	return (x->low_ns > y->low_ns) - (x->low_ns < y->low_ns);
}

/* Whether h is a list of [low, high, count] with 0 <= low <= high, count >= 0. */
static bool histogram_ok(const json_t *h)
{
	const json_t *b;
	size_t i;

	if (!json_is_array(h))
		return false;
	json_array_foreach(h, i, b) {
		const json_t *lo = json_array_get(b, 0), *hi = json_array_get(b, 1), *c = json_array_get(b, 2);

		if (json_array_size(b) != 3 || !json_is_number(lo) || !json_is_number(hi) ||
		    !json_is_number(c))
			return false;
		/* Written so that NaN fails too. */
		if (!(json_number_value(lo) >= 0 && json_number_value(lo) <= json_number_value(hi) &&
		      json_number_value(c) >= 0 && isfinite(json_number_value(hi)) &&
		      isfinite(json_number_value(c))))
			return false;
	}
	return true;
}

struct result_bucket *result_histogram(const json_t *doc, const char *group, const char *key,
				       size_t *n, size_t *runs)
{
	struct result_bucket *b = NULL, *nb;
	size_t i, j, total = 0, cap = 0;
	json_t *run, *e;

	*n = *runs = 0;
	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		const json_t *h = json_object_get(json_object_get(run, "histograms"), key);
		char g[128];

		if (!h || !json_is_true(json_object_get(run, "valid")) ||
		    strcmp(result_group(run, g, sizeof g), group))
			continue;
		if (!histogram_ok(h)) {
			warn("%s repeat %lld: histogram '%s' is not a list of [low_ns, high_ns, count]; "
			     "run left out", group, json_integer_value(json_object_get(run, "repeat")), key);
			continue;
		}
		if (total + json_array_size(h) > cap) {
			cap = 2 * (total + json_array_size(h));
			if (!(nb = realloc(b, cap * sizeof *b)))
				goto nomem;
			b = nb;
		}
		json_array_foreach(h, j, e) {
			struct result_bucket x = { json_number_value(json_array_get(e, 0)),
						   json_number_value(json_array_get(e, 1)),
						   json_number_value(json_array_get(e, 2)) };

			if (x.count > 0)
				b[total++] = x;
		}
		(*runs)++;
	}
	if (!total) {
		free(b);
		return NULL;
	}
	qsort(b, total, sizeof *b, cmp_bucket);
	for (i = 0; i < total; i++) {
		if (*n && b[*n - 1].low_ns == b[i].low_ns && b[*n - 1].high_ns == b[i].high_ns)
			b[*n - 1].count += b[i].count;
		else
			b[(*n)++] = b[i];
	}
	return b;
nomem:
	error("out of memory merging histograms");
	free(b);
	*n = *runs = 0;
	return NULL;
}

json_t *result_fio_jobs(const json_t *doc)
{
	json_t *jobs = json_array(), *run, *job, *t;
	size_t i, j, k;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		json_array_foreach(json_object_get(run, "fio_jobs"), j, job) {
			const char *name = json_string_value(json_object_get(job, "job"));
			bool seen = false;

			if (!name)
				continue;
			json_array_foreach(jobs, k, t)
				seen = seen || !strcmp(json_string_value(t), name);
			if (!seen)
				json_array_append_new(jobs, json_string(name));
		}
	}
	return jobs;
}

double *result_fio_values(const json_t *doc, const char *tier, const char *job, const char *key,
			  size_t *n)
{
	const json_t *runs = json_object_get(doc, "runs");
	double *v;
	json_t *run, *e;
	size_t i, j;

	*n = 0;
	v = malloc((json_array_size(runs) + 1) * sizeof *v);
	if (!v)
		return NULL;
	json_array_foreach(runs, i, run) {
		const char *t = json_string_value(json_object_get(run, "tier"));

		if (!t || strcmp(t, tier) || !json_is_true(json_object_get(run, "valid")))
			continue;
		json_array_foreach(json_object_get(run, "fio_jobs"), j, e) {
			const char *name = json_string_value(json_object_get(e, "job"));
			const json_t *x = json_object_get(e, key), *err = json_object_get(e, "error");

			/* One value per run: the first entry of the job. */
			if (name && !strcmp(name, job)) {
				if (json_is_number(x) && (!err || (json_is_number(err) && json_number_value(err) == 0)))
					v[(*n)++] = json_number_value(x);
				break;
			}
		}
	}
	if (!*n) {
		free(v);
		return NULL;
	}
	return v;
}

int result_set_real(json_t *obj, const char *key, double v)
{
	if (isfinite(v)) {
		json_object_set_new(obj, key, json_real(v));
		return 0;
	}
	warn("'%s' is not a finite number (%g): recorded as null", key, v);
	json_object_set_new(obj, key, json_null());
	return 1;
}

int result_set(json_t *obj, const char *key, json_t *value)
{
	if (!value) {
		error("cannot record '%s' (a value JSON cannot hold); left out", key);
		return -1;
	}
	if (json_object_set_new(obj, key, value) < 0) {
		error("cannot record '%s'", key);
		return -1;
	}
	return 0;
}

/* file_replace's filler: the document, a newline, and on disk before the
 * rename makes it run.json. */
static int dump_doc(int fd, void *doc)
{
	if (json_dumpfd(doc, fd, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || write(fd, "\n", 1) != 1)
		return -1;
	return fsync(fd);
}

int result_save(const json_t *doc, const char *path)
{
	if (!doc) {
		error("cannot write '%s': no document", path);
		return -1;
	}
	if (file_replace(path, dump_doc, (void *)doc) < 0) {
		error("cannot write '%s': %m", path);
		return -1;
	}
	return 0;
}

json_t *result_sweep_bases(const json_t *doc)
{
	json_t *bases = json_array(), *run, *b;
	size_t i, k;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		json_t *base = json_object_get(json_object_get(run, "sweep"), "base_tier");
		bool seen = false;

		json_array_foreach(bases, k, b)
			seen = seen || json_equal(b, base);
		if (json_is_string(base) && !seen)
			json_array_append(bases, base);
	}
	return bases;
}

const char *result_sweep_group(const json_t *doc, const char *base, const char *value, char *buf,
			       size_t len)
{
	json_t *run;
	size_t i;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		json_t *sw = json_object_get(run, "sweep");
		const char *b = json_string_value(json_object_get(sw, "base_tier"));
		const char *v = json_string_value(json_object_get(sw, "value"));

		if (b && v && !strcmp(b, base) && !strcmp(v, value))
			return result_group(run, buf, len);
	}
	return NULL;
}
