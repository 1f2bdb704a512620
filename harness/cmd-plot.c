/* swapbench plot RUN_DIR [RUN_DIR...]: figures of a run as PNG and SVG.
 * Writes the TSV inputs into RUN_DIR/plots/ from RUN_DIR/run.json (and the
 * runs' samples files) and runs gnuplot on plots/<figure>.gp, each of which
 * loads plots/common.gp (fixed colours per tier, titles with host, kernel
 * and scenario).  Which figures apply follows the scenario kind: the probe
 * figures for overcommit and ramp runs (the overcommit curve for a ramp
 * only), fio-latency for fio-raw runs.  A figure whose data is absent is
 * skipped with a note.  Try:
 *   build/swapbench plot tests/fixtures/results/run-a
 *   build/swapbench plot tests/fixtures/results/ramp-a tests/fixtures/results/fio-a */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "file.h"
#include "procfs.h"
#include "report-fleet.h"
#include "result.h"
#include "run.h"
#include "tier-names.h"
#include "stats.h"

#define GNUPLOT_TIMEOUT_S 60

static const char usage_text[] =
	"usage: swapbench plot RUN_DIR [RUN_DIR...]\n"
	"\n"
	"Draws the figures of each run directory (RUN_DIR/run.json, as written by\n"
	"'swapbench run') into RUN_DIR/plots/, as PNG and SVG, with the TSV files\n"
	"they are drawn from beside them.  Overcommit and ramp runs:\n"
	"  p99-by-tier       probe latency p99 by tier, with the run-to-run spread\n"
	"  psi-full          PSI memory full over time per tier (from samples files)\n"
	"  swap-rates        swap-in and swap-out rates over time per tier\n"
	"  latency-cdf       probe exec latency tail per tier: the share of probes\n"
	"                    slower than x (1 - CDF), log-log, from the valid runs'\n"
	"                    histograms merged (cdf-TIER.tsv)\n"
	"  overcommit-curve  ramp runs only: probe p99 and PSI full against the\n"
	"                    overcommit ratio, median and min-max over repeats\n"
	"                    (curve-TIER.tsv)\n"
	"  sweep             runs with --sweep only: probe p99 and work done against\n"
	"                    the swept factor per tier, median and min-max over\n"
	"                    repeats (sweep-TIER.tsv)\n"
	"fio-raw runs:\n"
	"  fio-latency       latency p50, p99 and p99.9 per fio job and tier, median\n"
	"                    over valid runs; runs marked not applicable are left out\n"
	"                    (fio-TIER.tsv)\n"
	"Titles carry the host, kernel and scenario; each tier keeps one colour in\n"
	"every figure.  A figure whose data is absent is skipped with a note.  The\n"
	"gnuplot scripts come from $SWAPBENCH_PLOTS, else plots/ beside the build\n"
	"directory, else ./plots.  Needs gnuplot (gnuplot-nox).  A fleet's figures\n"
	"(fleet-work, fleet-p99, fleet-psi: hosts side by side per tier) come with\n"
	"its report: 'swapbench report FLEET_DIR'.\n";

/* The directory of the gnuplot scripts (see usage_text). */
static void plot_dir(char *buf, size_t len)
{
	data_dir("SWAPBENCH_PLOTS", "plots", "common.gp", buf, len);
}

/* A name fit for a file name and for a gnuplot word list: characters
 * other than letters, digits and "._@+-" become '_'. */
static void safe_name(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; *src && i + 1 < len; src++) {
		char c = *src;

		dst[i++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   strchr("._@+-", c) ? c : '_';
	}
	dst[i] = '\0';
}

/* p99.tsv and p99-runs.tsv; returns the tiers with valid runs (0 when
 * none), -1 on error. */
static int write_p99(const json_t *doc, const char *dir)
{
	char path[PATH_MAX], runs_path[PATH_MAX];
	json_t *tiers = result_tiers(doc), *t;
	FILE *f = NULL, *fr = NULL;
	size_t i, j;
	int rows = -1;

	if (pathf(path, sizeof path, "%s/p99.tsv", dir) ||
	    pathf(runs_path, sizeof runs_path, "%s/p99-runs.tsv", dir))
		goto out;
	f = fopen(path, "w");
	fr = fopen(runs_path, "w");
	if (!f || !fr) {
		error("cannot write '%s': %m", !f ? path : runs_path);
		goto out;
	}
	fprintf(f, "# tier\tp99_median_ms\tp99_min_ms\tp99_max_ms\tvalid_runs\n");
	fprintf(fr, "# tier_index\ttier\tp99_ms\n");
	rows = 0;
	json_array_foreach(tiers, i, t) {
		size_t n, x;
		double *v = result_values(doc, json_string_value(t), "probe_p99_ns", &n, &x);
		double lo = INFINITY, hi = -INFINITY;

		char name[128];

		if (!n)
			continue;
		safe_name(name, sizeof name, json_string_value(t));
		for (j = 0; j < n; j++) {
			lo = fmin(lo, v[j]);
			hi = fmax(hi, v[j]);
			fprintf(fr, "%d\t%s\t%.6f\n", rows, name, v[j] / 1e6);
		}
		fprintf(f, "%s\t%.6f\t%.6f\t%.6f\t%zu\n", name,
			stats_median(v, n) / 1e6, lo / 1e6, hi / 1e6, n);
		rows++;
		free(v);
	}
out:
	if (f && fclose(f) && rows >= 0) {
		error("cannot write '%s': %m", path);
		rows = -1;
	}
	if (fr)
		fclose(fr);
	json_decref(tiers);
	return rows;
}

/* One sampling tick: raw counters (PSI full in us, pages). */
struct point {
	double t_ns, psi_cg, psi_sys, in, out;
	unsigned have;		/* HAVE_* bits */
};

enum { HAVE_CG = 1, HAVE_SYS = 2, HAVE_IN = 4, HAVE_OUT = 8 };

struct series {
	struct point *p;
	size_t n, cap;
};

static struct point *series_at(struct series *s, double t_ns)
{
	if (s->n && s->p[s->n - 1].t_ns == t_ns)
		return &s->p[s->n - 1];
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct point *p = realloc(s->p, cap * sizeof *p);

		if (!p)
			return NULL;
		s->p = p;
		s->cap = cap;
	}
	s->p[s->n] = (struct point){ .t_ns = t_ns };
	return &s->p[s->n++];
}

/* The next field of the strtok_r state *save as a number; -1 if none. */
static int field_num(char **save, double *v)
{
	char *tok = strtok_r(NULL, " \t\n", save), *end;

	if (!tok)
		return -1;
	*v = strtod(tok, &end);
	return *end || !isfinite(*v) ? -1 : 0;
}

/* Reads a samples file in either layout:
 *   wide: "t_ns psi_full_total_us pswpin pswpout" (columns by exact name)
 *   long: "t_ns source key value", as the sampler writes it: PSI full from
 *         cg_memory.pressure (the workload's cgroup) where present, else
 *         psi_memory; pswpin and pswpout from vmstat; other rows ignored.
 * Returns 0, or -1 after a warning when SRC is unreadable or unknown. */
static int read_samples(const char *src, struct series *s)
{
	int col_t = -1, col_psi = -1, col_in = -1, col_out = -1, ncol = 0, lineno = 1;
	char line[1024], *save = NULL, *tok;
	bool long_form;
	FILE *f;

	f = fopen(src, "r");
	if (!f) {
		warn("cannot read samples file '%s': %m", src);
		return -1;
	}
	if (!fgets(line, sizeof line, f)) {
		warn("'%s' is empty", src);
		fclose(f);
		return -1;
	}
	for (tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save), ncol++) {
		if (!strcmp(tok, "t_ns"))
			col_t = ncol;
		else if (!strcmp(tok, "psi_full_total_us"))
			col_psi = ncol;
		else if (!strcmp(tok, "pswpin"))
			col_in = ncol;
		else if (!strcmp(tok, "pswpout"))
			col_out = ncol;
	}
	long_form = col_t == 0 && col_psi < 0 && ncol == 4;
	if (!long_form && (col_t < 0 || col_psi < 0 || col_in < 0 || col_out < 0 || ncol > 32)) {
		warn("'%s': expected a header 't_ns psi_full_total_us pswpin pswpout' or "
		     "'t_ns source key value'", src);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		struct point *p;
		double v[32], t;
		int i;

		lineno++;
		save = NULL;
		tok = strtok_r(line, " \t\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		t = strtod(tok, NULL);
		if (!isfinite(t))
			continue;
		if (long_form) {
			const char *source = strtok_r(NULL, " \t\n", &save);
			const char *key = strtok_r(NULL, " \t\n", &save);
			unsigned bit = 0;
			double val;

			if (!source || !key || field_num(&save, &val))
				continue;
			if (!strcmp(source, "cg_memory.pressure") && !strcmp(key, "full_total_us"))
				bit = HAVE_CG;
			else if (!strcmp(source, "psi_memory") && !strcmp(key, "full_total_us"))
				bit = HAVE_SYS;
			else if (!strcmp(source, "vmstat") && !strcmp(key, "pswpin"))
				bit = HAVE_IN;
			else if (!strcmp(source, "vmstat") && !strcmp(key, "pswpout"))
				bit = HAVE_OUT;
			if (!bit)
				continue;
			if (!(p = series_at(s, t)))
				goto nomem;
			p->have |= bit;
			*(bit == HAVE_CG ? &p->psi_cg : bit == HAVE_SYS ? &p->psi_sys :
			  bit == HAVE_IN ? &p->in : &p->out) = val;
			continue;
		}
		v[0] = t;
		for (i = 1; i < ncol && field_num(&save, &v[i]) == 0; i++)
			;
		if (i != ncol) {
			warn("'%s' line %d: expected %d numbers; line skipped", src, lineno, ncol);
			continue;
		}
		if (!(p = series_at(s, v[col_t])))
			goto nomem;
		*p = (struct point){ v[col_t], v[col_psi], v[col_psi], v[col_in], v[col_out],
				     HAVE_CG | HAVE_SYS | HAVE_IN | HAVE_OUT };
	}
	fclose(f);
	return 0;
nomem:
	error("out of memory reading '%s'", src);
	fclose(f);
	return -1;
}

/* series-TIER.tsv from the samples file SRC: per interval, PSI full as a
 * share of the interval and the swap rates.  Returns the rows written, or
 * -1 when SRC is unusable. */
static int write_series(const char *src, const char *dst)
{
	struct series s = { 0 };
	struct point prev = { 0 };
	unsigned psi_bit;
	size_t i;
	FILE *out;
	int rows = 0;

	if (read_samples(src, &s) || s.n < 2) {
		free(s.p);
		return -1;
	}
	psi_bit = HAVE_SYS;
	for (i = 0; i < s.n; i++)
		if (s.p[i].have & HAVE_CG)
			psi_bit = HAVE_CG;
	out = fopen(dst, "w");
	if (!out) {
		error("cannot write '%s': %m", dst);
		free(s.p);
		return -1;
	}
	fprintf(out, "# t_s\tpsi_full_pct\tswapin_pages_per_s\tswapout_pages_per_s\n");
	for (i = 0; i < s.n; i++) {
		struct point cur = s.p[i];

		/* A counter missing from a tick keeps its last value. */
		if (!(cur.have & psi_bit)) {
			cur.psi_cg = prev.psi_cg;
			cur.psi_sys = prev.psi_sys;
		}
		if (!(cur.have & HAVE_IN))
			cur.in = prev.in;
		if (!(cur.have & HAVE_OUT))
			cur.out = prev.out;
		if (i && cur.t_ns > prev.t_ns) {
			double dt_s = (cur.t_ns - prev.t_ns) / 1e9;
			double psi = psi_bit == HAVE_CG ? cur.psi_cg - prev.psi_cg : cur.psi_sys - prev.psi_sys;

			fprintf(out, "%.3f\t%.4f\t%.1f\t%.1f\n", (cur.t_ns - s.p[0].t_ns) / 1e9,
				psi / 1e6 / dt_s * 100, (cur.in - prev.in) / dt_s, (cur.out - prev.out) / dt_s);
			rows++;
		}
		prev = cur;
	}
	free(s.p);
	if (fclose(out)) {
		error("cannot write '%s': %m", dst);
		return -1;
	}
	return rows;
}

/* Whether PATH is relative and has no ".." component. */
static bool inside_name(const char *path)
{
	const char *p = path;

	if (!*path || path[0] == '/')
		return false;
	while (p) {
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2]))
			return false;
		p = strchr(p, '/');
		if (p)
			p++;
	}
	return true;
}

/* For each tier, the series of its first valid run with a samples file;
 * appends the tiers written to `tiers` (space-separated). */
static int write_all_series(const json_t *doc, const char *run_dir, const char *dir,
			    char *tiers, size_t len)
{
	json_t *names = result_tiers(doc), *t, *run;
	size_t i, j;

	tiers[0] = '\0';
	json_array_foreach(names, i, t) {
		const char *tier = json_string_value(t);

		json_array_foreach(json_object_get(doc, "runs"), j, run) {
			const char *file = json_string_value(json_object_get(run, "samples_file"));
			char src[PATH_MAX], dst[PATH_MAX], group[128], name[128];

			if (!file || strcmp(tier, result_group(run, group, sizeof group)) ||
			    !json_is_true(json_object_get(run, "valid")))
				continue;
			/* A result document names files of its own directory. */
			if (!inside_name(file)) {
				warn("%s: samples file '%s' is not a path inside the run directory; ignored",
				     run_dir, file);
				continue;
			}
			safe_name(name, sizeof name, tier);
			if (pathf(src, sizeof src, "%s/%s", run_dir, file) ||
			    pathf(dst, sizeof dst, "%s/series-%s.tsv", dir, name))
				break;
			if (write_series(src, dst) > 0 && strlen(tiers) + strlen(name) + 2 < len) {
				if (tiers[0])
					strcat(tiers, " ");
				strcat(tiers, name);
				break;
			}
		}
	}
	json_decref(names);
	return 0;
}

/* Writes S to F as a gnuplot single-quoted string: inside one, gnuplot
 * expands neither backquotes nor macros and knows no escape but '' for a
 * quote.  With TEXT (a title from a result document), control characters
 * and backquotes become '_' as well: nothing there is more than text.
 * Returns -1 when S (a path) has a control character, which no gnuplot
 * line can carry. */
static int gp_quote(FILE *f, const char *s, bool text)
{
	fputc('\'', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f) {
			if (!text)
				return -1;
			c = '_';
		} else if (c == '`' && text) {
			c = '_';
		}
		if (c == '\'')
			fputc('\'', f);
		fputc(c, f);
	}
	fputc('\'', f);
	fputc('\n', f);
	return 0;
}

/* Closes a TSV input: -1 when it could not be written (reported), 0 when
 * it has no rows (removed), 1 when kept. */
static int series_close(FILE *f, const char *path, size_t rows)
{
	if (fclose(f)) {
		error("cannot write '%s': %m", path);
		return -1;
	}
	if (!rows) {
		unlink(path);
		return 0;
	}
	return 1;
}

/* Appends word W to the space-separated LIST of LEN bytes; -1 (with a
 * warning) when it does not fit. */
static int words_add(char *list, size_t len, const char *w)
{
	size_t used = strlen(list);

	if (used + strlen(w) + 2 > len) {
		warn("too many tiers for one figure: '%s' left out", w);
		return -1;
	}
	snprintf(list + used, len - used, "%s%s", used ? " " : "", w);
	return 0;
}

/* Opens DIR/PREFIX-NAME.tsv for writing (its path into path); NULL after a
 * message. */
static FILE *open_tsv(const char *dir, const char *prefix, const char *name, char *path, size_t len)
{
	FILE *f;

	if (pathf(path, len, "%s/%s-%s.tsv", dir, prefix, name))
		return NULL;
	if (!(f = fopen(path, "w")))
		error("cannot write '%s': %m", path);
	return f;
}

/* A gnuplot variable set for a figure: a string (str), else a number. */
struct gp_var {
	const char *name;
	const char *str;
	double num;
	bool path;		/* str is a path: kept as it is, or refused */
};

/* Writes the variables of one rendering into a new file in DIR (its name
 * into path): every value an assignment of a quoted string or a finite
 * number, never text spliced into a command.  0, or -1 after a message. */
static int write_vars(const char *dir, const struct gp_var *v, size_t n, char *path, size_t len)
{
	FILE *f;
	size_t i;
	int fd, bad = 0;

	if (pathf(path, len, "%s/.vars-XXXXXX", dir))
		return -1;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		error("cannot create '%s': %m", path);
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	for (i = 0; i < n && !bad; i++) {
		fprintf(f, "%s = ", v[i].name);
		if (v[i].str) {
			if (gp_quote(f, v[i].str, !v[i].path) < 0) {
				error("cannot plot with %s '%s': it has a control character", v[i].name, v[i].str);
				bad = 1;
			}
		} else if (isfinite(v[i].num)) {
			fprintf(f, "%.17g\n", v[i].num);
		} else {
			error("cannot plot with %s = %g: not a finite number", v[i].name, v[i].num);
			bad = 1;
		}
	}
	if (fclose(f) && !bad) {
		error("cannot write '%s': %m", path);
		bad = 1;
	}
	if (bad) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* What a figure's subtitle names. */
struct gp_title {
	const char *host, *kernel, *scenario;
};

/* Renders plots/SCRIPT.gp as FIGURE.png and FIGURE.svg into DIR (both
 * absolute paths), its subtitle from T, and with LIST prints their paths.
 * TIERS is the gnuplot variable of the same name; EXTRA (NEXTRA of them)
 * the figure's own variables. */
static int render_as(const char *plots, const char *dir, const char *script_name, const char *figure,
		     const struct gp_title *t, bool list, const char *tiers, const struct gp_var *extra,
		     size_t nextra)
{
	static const char *const fmts[] = { "png", "svg" };
	char script[PATH_MAX], out[PATH_MAX], vars[PATH_MAX];
	struct gp_var v[16] = {
		{ "plotdir", plots, 0, true }, { "datadir", dir, 0, true }, { "out", out, 0, true },
		{ "fmt", NULL, 0, false }, { "host", t->host, 0, false },
		{ "kernel", t->kernel, 0, false },
		{ "scenario", t->scenario, 0, false }, { "tiers", tiers, 0, false },
		{ "palette", tier_palette(), 0, false },
	};
	size_t i, n = 9;
	int rc;

	for (i = 0; i < nextra && n < sizeof v / sizeof v[0]; i++)
		v[n++] = extra[i];
	if (pathf(script, sizeof script, "%s/%s.gp", plots, script_name))
		return -1;
	for (i = 0; i < 2; i++) {
		/* Two script files, run in one gnuplot session: the variables,
		 * then the figure. */
		const char *argv[] = { "gnuplot", vars, script, NULL };

		v[3].str = fmts[i];
		if (pathf(out, sizeof out, "%s/%s.%s", dir, figure, fmts[i]) ||
		    write_vars(dir, v, n, vars, sizeof vars))
			return -1;
		rc = run(argv, GNUPLOT_TIMEOUT_S, 0, NULL);
		unlink(vars);
		if (rc)
			return -1;
		if (list)
			printf("%s\n", out);
	}
	return 0;
}

/* Renders plots/FIGURE.gp for run document DOC (see render_as). */
static int render(const char *plots, const char *dir, const char *figure, const json_t *doc,
		  const char *tiers, const struct gp_var *extra, size_t nextra)
{
	const struct gp_title t = { result_fp_str(doc, "host"), result_fp_str(doc, "kernel"),
				    result_fp_str(doc, "scenario") };

	return render_as(plots, dir, figure, figure, &t, true, tiers, extra, nextra);
}

/* The first run of group GROUP (result_group), or NULL. */
static const json_t *group_run(const json_t *doc, const char *group)
{
	json_t *run;
	size_t i;

	json_array_foreach(json_object_get(doc, "runs"), i, run) {
		char g[128];

		if (!strcmp(result_group(run, g, sizeof g), group))
			return run;
	}
	return NULL;
}

/* doc's groups ordered by tier (in order of first appearance), each
 * tier's groups in order of first appearance: a new array of strings. */
static json_t *groups_by_tier(const json_t *doc)
{
	json_t *groups = result_tiers(doc), *tiers = result_base_tiers(doc), *out = json_array(), *t, *g;
	size_t i, j;

	json_array_foreach(tiers, i, t) {
		json_array_foreach(groups, j, g) {
			const char *tier = json_string_value(json_object_get(group_run(doc,
						json_string_value(g)), "tier"));

			if (tier && !strcmp(tier, json_string_value(t)))
				json_array_append(out, g);
		}
	}
	json_decref(groups);
	json_decref(tiers);
	return out;
}

/* cdf-GROUP.tsv per group whose valid runs carry histograms.probe_exec_ns:
 * at each bucket's upper edge, the share of probes at or below it and the
 * share above it.  Fills TIERS (the groups written, a tier's ratios
 * together), DASHES (a gnuplot
 * dash type per group: the rank of its ratio when the runs have several)
 * and *ymin (a power of ten at or below the smallest share above, at most
 * 1e-4 so that p99.9 shows above the axis).  Returns the groups written, -1
 * on error. */
static int write_cdf(const json_t *doc, const char *dir, char *tiers, char *dashes, size_t len,
		     double *ymin)
{
	json_t *groups = groups_by_tier(doc), *g;
	size_t i, j, k, nr;
	double *ratios = result_ratios(doc, NULL, &nr), low = 5e-4;
	int rows = 0;

	tiers[0] = dashes[0] = '\0';
	json_array_foreach(groups, i, g) {
		const char *group = json_string_value(g);
		char name[128], path[PATH_MAX], dash[24];
		size_t n, runs;
		struct result_bucket *b = result_histogram(doc, group, "probe_exec_ns", &n, &runs);
		const json_t *ratio = json_object_get(group_run(doc, group), "ratio");
		double total = 0, cum = 0, r = json_is_number(ratio) ? json_number_value(ratio) : NAN;
		FILE *f;

		for (j = 0; j < n; j++)
			total += b[j].count;
		if (!n || total <= 0) {
			free(b);
			continue;
		}
		safe_name(name, sizeof name, group);
		if (!(f = open_tsv(dir, "cdf", name, path, sizeof path))) {
			free(b);
			rows = -1;
			break;
		}
		fprintf(f, "# %s: probe exec latency, %.0f probes over %zu valid runs\n"
			"# latency_ms\tcdf\texceedance\n", name, total, runs);
		/* The lowest bucket's lower edge: no probe below it. */
		fprintf(f, "%.6f\t%.9f\t%.6e\n", b[0].low_ns / 1e6, 0.0, 1.0);
		for (j = 0; j < n; j++) {
			double above;

			cum += b[j].count;
			above = (total - cum) / total;
			fprintf(f, "%.6f\t%.9f\t%.6e\n", b[j].high_ns / 1e6, cum / total, above);
			if (above > 0 && above < low)
				low = above;
		}
		free(b);
		if (series_close(f, path, 1) < 0) {
			rows = -1;
			break;
		}
		for (k = 0; k < nr && ratios[k] != r; k++)
			;
		snprintf(dash, sizeof dash, "%zu", nr > 1 && k < nr ? k + 1 : 1);
		if (words_add(tiers, len, name))
			break;
		words_add(dashes, len, dash);
		rows++;
	}
	*ymin = pow(10, floor(log10(low)));
	free(ratios);
	json_decref(groups);
	return rows;
}

/* Median, minimum and maximum of v[0..n) into out[0..2]. */
static void spread(double *v, size_t n, double scale, double out[3])
{
	size_t i;

	out[0] = stats_median(v, n) * scale;
	out[1] = out[2] = v[0] * scale;
	for (i = 1; i < n; i++) {
		out[1] = fmin(out[1], v[i] * scale);
		out[2] = fmax(out[2], v[i] * scale);
	}
}

/* Closes a tier's series (series_close) and, when it was kept, adds NAME to
 * TIERS and counts it in *rows.  Returns true when the caller should stop:
 * an error (*rows -1), or TIERS full (the figure draws those before it). */
static bool series_keep(FILE *f, const char *path, size_t written, const char *name, char *tiers,
			size_t len, int *rows)
{
	int kept = series_close(f, path, written);

	if (kept < 0) {
		*rows = -1;
		return true;
	}
	if (!kept)
		return false;
	if (words_add(tiers, len, name))
		return true;
	(*rows)++;
	return false;
}

/* curve-TIER.tsv per tier of a ramp: per ratio, probe p99 (ms) and PSI full
 * (%) as median, minimum and maximum over the valid runs ('?' where none).
 * x_plot is the ratio nudged per tier so that error bars do not hide each
 * other.  Fills TIERS; returns the tiers written, -1 on error. */
static int write_curve(const json_t *doc, const char *dir, char *tiers, size_t len)
{
	json_t *names = result_base_tiers(doc), *t;
	size_t i, j, nall, nt = json_array_size(names);
	double *all = result_ratios(doc, NULL, &nall);
	double nudge = nall > 1 ? (all[nall - 1] - all[0]) * 0.008 : 0;
	int rows = 0;

	tiers[0] = '\0';
	json_array_foreach(names, i, t) {
		const char *tier = json_string_value(t);
		char name[128], path[PATH_MAX];
		size_t nr, written = 0;
		double *ratios = result_ratios(doc, tier, &nr);
		FILE *f;

		safe_name(name, sizeof name, tier);
		if (!(f = open_tsv(dir, "curve", name, path, sizeof path))) {
			free(ratios);
			rows = -1;
			break;
		}
		fprintf(f, "# ratio\tx_plot\tp99_median_ms\tp99_min_ms\tp99_max_ms\t"
			"psi_full_median_pct\tpsi_full_min_pct\tpsi_full_max_pct\tvalid_runs\n");
		for (j = 0; j < nr; j++) {
			char group[160];
			size_t np, ns, x;
			double *p99, *psi, a[3], b[3];

			snprintf(group, sizeof group, "%s@%g", tier, ratios[j]);
			p99 = result_values(doc, group, "probe_p99_ns", &np, &x);
			psi = result_values(doc, group, "psi_full_pct", &ns, &x);
			if (np || ns) {
				fprintf(f, "%g\t%.4f", ratios[j], ratios[j] + ((double)i - (nt - 1) / 2.0) * nudge);
				if (np) {
					spread(p99, np, 1e-6, a);
					fprintf(f, "\t%.6f\t%.6f\t%.6f", a[0], a[1], a[2]);
				} else {
					fprintf(f, "\t?\t?\t?");
				}
				if (ns) {
					spread(psi, ns, 1, b);
					fprintf(f, "\t%.4f\t%.4f\t%.4f", b[0], b[1], b[2]);
				} else {
					fprintf(f, "\t?\t?\t?");
				}
				fprintf(f, "\t%zu\n", np > ns ? np : ns);
				written++;
			}
			free(p99);
			free(psi);
		}
		free(ratios);
		if (series_keep(f, path, written, name, tiers, len, &rows))
			break;
	}
	free(all);
	json_decref(names);
	return rows;
}

/* fio latency keys of fio-TIER.tsv, in its column order. */
static const char *const fio_keys[] = {
	"iops", "bw_bytes_per_s", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
};

/* fio-TIER.tsv per tier with a valid fio run: per job, the medians over the
 * valid runs whose job reported no error; x_plot places the tier in its
 * job's cluster.  Fills TIERS and JOBS (the job names, the x categories
 * 0, 1, ...); returns the tiers written, -1 on error. */
static int write_fio(const json_t *doc, const char *dir, char *tiers, char *jobs, size_t len)
{
	json_t *names = result_base_tiers(doc), *jl = result_fio_jobs(doc), *t, *job;
	size_t i, j, k, n, nt = 0, ti = 0;
	int rows = 0;

	tiers[0] = jobs[0] = '\0';
	json_array_foreach(jl, j, job) {
		char name[128];

		safe_name(name, sizeof name, json_string_value(job));
		if (words_add(jobs, len, name)) {
			while (json_array_size(jl) > j)
				json_array_remove(jl, j);
			break;
		}
	}
	/* Tiers with data first: they share each job's cluster. */
	json_array_foreach(names, i, t) {
		bool any = false;

		json_array_foreach(jl, j, job) {
			free(result_fio_values(doc, json_string_value(t), json_string_value(job), "lat_p99_ns", &n));
			any = any || n;
		}
		if (any)
			nt++;
	}
	json_array_foreach(names, i, t) {
		const char *tier = json_string_value(t);
		char name[128], path[PATH_MAX];
		size_t written = 0;
		FILE *f;

		safe_name(name, sizeof name, tier);
		if (!(f = open_tsv(dir, "fio", name, path, sizeof path))) {
			rows = -1;
			break;
		}
		fprintf(f, "# x_plot\tjob\tvalid_runs\tiops\tbw_bytes_per_s\tlat_p50_us\tlat_p90_us\t"
			"lat_p99_us\tlat_p999_us\tlat_max_us\n");
		json_array_foreach(jl, j, job) {
			double *p99 = result_fio_values(doc, tier, json_string_value(job), "lat_p99_ns", &n);
			char jname[128];

			free(p99);
			if (!n)
				continue;
			safe_name(jname, sizeof jname, json_string_value(job));
			fprintf(f, "%.4f\t%s\t%zu", (double)j + ((double)ti - (nt - 1) / 2.0) * 0.7 / nt,
				jname, n);
			for (k = 0; k < sizeof fio_keys / sizeof fio_keys[0]; k++) {
				size_t m;
				double *v = result_fio_values(doc, tier, json_string_value(job), fio_keys[k], &m);
				double scale = k >= 2 ? 1e-3 : 1;

				if (m)
					fprintf(f, "\t%.3f", stats_median(v, m) * scale);
				else
					fprintf(f, "\t?");
				free(v);
			}
			fputc('\n', f);
			written++;
		}
		int kept = series_close(f, path, written);
		if (kept < 0) {
			rows = -1;
			break;
		}
		if (!kept)
			continue;
		ti++;
		if (words_add(tiers, len, name))
			break;
		rows++;
	}
	json_decref(jl);
	json_decref(names);
	return rows;
}

/* sweep-TIER.tsv per base tier of a --sweep run: per value of the factor
 * (settings.sweep.values, in the order given), probe p99 (ms) and work
 * done (per s) as median, minimum and maximum over the valid runs.  x_plot
 * is the value where numeric, else its position (the value is the tic).
 * Fills TIERS; returns the tiers written, -1 on error. */
static int write_sweep(const json_t *doc, const char *dir, char *tiers, size_t len)
{
	json_t *sw = json_object_get(json_object_get(doc, "settings"), "sweep");
	json_t *values = json_object_get(sw, "values"), *bases = result_sweep_bases(doc), *b;
	bool numeric = json_is_true(json_object_get(sw, "numeric"));
	size_t i, k;
	int rows = 0;

	tiers[0] = '\0';
	json_array_foreach(bases, i, b) {
		char name[128], path[PATH_MAX];
		size_t written = 0;
		FILE *f;

		safe_name(name, sizeof name, json_string_value(b));
		if (!(f = open_tsv(dir, "sweep", name, path, sizeof path))) {
			rows = -1;
			break;
		}
		fprintf(f, "# value\tx_plot\tp99_median_ms\tp99_min_ms\tp99_max_ms\t"
			"work_median_per_s\twork_min_per_s\twork_max_per_s\tvalid_runs\n");
		for (k = 0; k < json_array_size(values); k++) {
			const char *v = json_string_value(json_array_get(values, k));
			char group[160];
			size_t np, nw, x;
			double *p99, *work, a[3], c[3];

			if (!v || !result_sweep_group(doc, json_string_value(b), v, group, sizeof group))
				continue;
			p99 = result_values(doc, group, "probe_p99_ns", &np, &x);
			work = result_values(doc, group, "workload_ops_per_s", &nw, &x);
			if (np && nw) {
				spread(p99, np, 1e-6, a);
				spread(work, nw, 1, c);
				fprintf(f, "%s\t%g\t%.6f\t%.6f\t%.6f\t%.1f\t%.1f\t%.1f\t%zu\n", v,
					numeric ? strtod(v, NULL) : (double)(k + 1), a[0], a[1], a[2],
					c[0], c[1], c[2], np);
				written++;
			}
			free(p99);
			free(work);
		}
		if (series_keep(f, path, written, name, tiers, len, &rows))
			break;
	}
	json_decref(bases);
	return rows;
}

/* The sweep figure of a --sweep run; 0 or -1. */
static int plot_sweep(const char *run_dir, const char *plots, const char *dir, const json_t *doc)
{
	json_t *sw = json_object_get(json_object_get(doc, "settings"), "sweep");
	const char *factor = json_string_value(json_object_get(sw, "factor"));
	char tiers[2048];
	int n;

	if (!factor)
		return 0;
	n = write_sweep(doc, dir, tiers, sizeof tiers);
	if (n < 0)
		return -1;
	if (n == 0) {
		info("%s: sweep skipped: no value of %s has valid runs with probe_p99_ns and "
		     "workload_ops_per_s", run_dir, factor);
		return 0;
	}
	{
		const struct gp_var vars[] = {
			{ "factor", factor, 0, false },
			{ "numeric", NULL, json_is_true(json_object_get(sw, "numeric")) ? 1 : 0, false },
		};

		return render(plots, dir, "sweep", doc, tiers, vars, 2);
	}
}

/* The probe figures of an overcommit or ramp run; 0 or -1. */
static int plot_probe(const char *run_dir, const char *plots, const char *dir, const json_t *doc,
		      bool ramp)
{
	char tiers[2048], dashes[2048];
	double ymin;
	int n;

	n = write_p99(doc, dir);
	if (n < 0)
		return -1;
	if (n == 0)
		info("%s: p99-by-tier skipped: no valid run has probe_p99_ns", run_dir);
	else if (render(plots, dir, "p99-by-tier", doc, "", NULL, 0))
		return -1;
	write_all_series(doc, run_dir, dir, tiers, sizeof tiers);
	if (!tiers[0]) {
		info("%s: psi-full and swap-rates skipped: no valid run has a samples file", run_dir);
	} else if (render(plots, dir, "psi-full", doc, tiers, NULL, 0) ||
		   render(plots, dir, "swap-rates", doc, tiers, NULL, 0)) {
		return -1;
	}
	n = write_cdf(doc, dir, tiers, dashes, sizeof tiers, &ymin);
	if (n < 0)
		return -1;
	if (n == 0) {
		info("%s: latency-cdf skipped: no valid run has histograms.probe_exec_ns", run_dir);
	} else {
		const struct gp_var vars[] = { { "dashes", dashes, 0, false }, { "ymin", NULL, ymin, false } };

		if (render(plots, dir, "latency-cdf", doc, tiers, vars, 2))
			return -1;
	}
	if (!ramp) {
		info("%s: overcommit-curve skipped: not a ramp (each tier ran at one ratio)", run_dir);
		return 0;
	}
	n = write_curve(doc, dir, tiers, sizeof tiers);
	if (n < 0)
		return -1;
	if (n == 0)
		info("%s: overcommit-curve skipped: no valid run has probe_p99_ns or psi_full_pct", run_dir);
	else if (render(plots, dir, "overcommit-curve", doc, tiers, NULL, 0))
		return -1;
	return 0;
}

/* The figure of a fio-raw run; 0 or -1. */
static int plot_fio(const char *run_dir, const char *plots, const char *dir, const json_t *doc)
{
	char tiers[2048], jobs[2048];
	struct gp_var vars[] = { { "jobs", jobs, 0, false } };
	int n;

	n = write_fio(doc, dir, tiers, jobs, sizeof tiers);
	if (n < 0)
		return -1;
	if (n == 0) {
		info("%s: fio-latency skipped: no valid fio run has a job with lat_p99_ns", run_dir);
		return 0;
	}
	return render(plots, dir, "fio-latency", doc, tiers, vars, 1);
}

static int plot_one(const char *run_dir, const char *plots)
{
	char path[PATH_MAX], dir[PATH_MAX], abs[PATH_MAX];
	const char *kind;
	json_t *doc;
	int ret = -1;

	if (pathf(path, sizeof path, "%s/run.json", run_dir) ||
	    pathf(dir, sizeof dir, "%s/plots", run_dir))
		return -1;
	if (!(doc = result_load(path)))
		return -1;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		error("cannot create '%s': %m", dir);
		goto out;
	}
	/* gnuplot reads a file name starting with '<' or '|' as a command:
	 * every path it is given is absolute. */
	if (!realpath(dir, abs)) {
		error("cannot resolve '%s': %m", dir);
		goto out;
	}
	kind = result_kind(doc);
	if (!strcmp(kind, "fio-raw")) {
		info("%s: a fio-raw run: only fio-latency applies", run_dir);
		ret = plot_fio(run_dir, plots, abs, doc);
	} else {
		ret = plot_probe(run_dir, plots, abs, doc, !strcmp(kind, "ramp"));
		if (ret == 0)
			ret = plot_sweep(run_dir, plots, abs, doc);
		if (!ret)
			info("%s: fio-latency skipped: not a fio-raw run", run_dir);
	}
out:
	json_decref(doc);
	return ret;
}

/* --- the fleet figures (swapbench report's fleet form) --------------------- */

/* Each tier's hosts side by side: host H of tier T at x = T * (hosts + 1) + H. */
static double fleet_x(const struct fleet *fl, size_t t, size_t h)
{
	return (double)(t * (fl->nok + 1) + h);
}

struct fleet_tsv {
	const struct fleet *fl;
	size_t m;		/* fleet_metrics[m]; FLEET_NMETRICS: the tiers' positions */
};

/* METRIC.tsv: "x tier host median lo hi runs", a row per tier and host with
 * results ("?" where the host has no value); fleet-tiers.tsv: "x tier", the
 * middle of each tier's hosts. */
static int fill_fleet_tsv(int fd, void *arg)
{
	const struct fleet_tsv *a = arg;
	const struct fleet *fl = a->fl;
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "w") : NULL;
	size_t t, h;

	if (!f) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if (a->m == FLEET_NMETRICS)
		fprintf(f, "# x\ttier\n");
	else
		fprintf(f, "# x\ttier\thost\tmedian\tlo\thi\truns (%s)\n", fleet_metrics[a->m].axis);
	for (t = 0; t < fl->ntiers; t++) {
		char tier[128];

		safe_name(tier, sizeof tier, fl->tier[t]);
		if (a->m == FLEET_NMETRICS) {
			fprintf(f, "%.1f\t%s\n", (fleet_x(fl, t, 0) + fleet_x(fl, t, fl->nok - 1)) / 2, tier);
			continue;
		}
		for (h = 0; h < fl->nok; h++) {
			const struct fleet_stat *s = fleet_stat_of(fl, h, t, a->m);
			double k = fleet_metrics[a->m].scale;

			fprintf(f, "%.0f\t%s\t%s (%s)\t", fleet_x(fl, t, h), tier, fl->host[h].name,
				fl->cls[fl->host[h].cls].label);
			if (s->n)
				fprintf(f, "%.6g\t%.6g\t%.6g\t%zu\n", s->ci.point * k, s->ci.lo * k,
					s->ci.hi * k, s->n);
			else
				fprintf(f, "?\t?\t?\t0\n");
		}
	}
	return fclose(f) ? -1 : 0;
}

/* The directory the fleet figures go into, DIR/plots, resolved into abs:
 * made here, or an existing one of ours that others cannot write (gnuplot
 * follows a symbolic link planted where it writes). */
static int fleet_plot_dir(const char *dir, char *abs)
{
	char path[PATH_MAX];
	struct stat st;

	if (pathf(path, sizeof path, "%s/plots", dir))
		return -1;
	if (mkdir(path, 0755) && errno != EEXIST) {
		error("cannot create '%s': %m", path);
		return -1;
	}
	if (lstat(path, &st) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & S_IWOTH)) {
		error("'%s' is not a directory of this user's that others cannot write (refused)", path);
		return -1;
	}
	if (!realpath(path, abs)) {
		error("cannot resolve '%s': %m", path);
		return -1;
	}
	return 0;
}

int plot_fleet(const struct fleet *fl, const char *dir)
{
	char plots[PATH_MAX], abs[PATH_MAX], path[PATH_MAX], probe[PATH_MAX + 16], tiers[2048];
	char hosts[32], kernels[80], sc[256];
	const char *kernel, *scenario;
	struct gp_title title = { hosts, NULL, NULL };
	size_t t, m, h;
	int drawn = 0;

	if (!fl->nok || !fl->ntiers) {
		info("fleet figures skipped: no host has results");
		return 0;
	}
	if (!have_command("gnuplot")) {
		info("fleet figures skipped: gnuplot not found (apt-get install gnuplot-nox)");
		return 0;
	}
	plot_dir(path, sizeof path);
	if (pathf(probe, sizeof probe, "%s/common.gp", path))
		return -1;
	if (access(probe, R_OK) || !realpath(path, plots)) {
		error("cannot read '%s': %m (set SWAPBENCH_PLOTS to the plots/ directory)", probe);
		return -1;
	}
	if (fleet_plot_dir(dir, abs))
		return -1;
	tiers[0] = '\0';
	for (t = 0; t < fl->ntiers; t++) {
		char name[128];

		safe_name(name, sizeof name, fl->tier[t]);
		words_add(tiers, sizeof tiers, name);
	}
	/* The subtitle: how many hosts, their kernel and scenario where one. */
	kernel = result_fp_str(fl->host[0].doc, "kernel");
	scenario = result_fp_str(fl->host[0].doc, "scenario");
	for (h = 1; h < fl->nok; h++) {
		if (kernel && strcmp(kernel, result_fp_str(fl->host[h].doc, "kernel")))
			kernel = NULL;
		if (scenario && strcmp(scenario, result_fp_str(fl->host[h].doc, "scenario")))
			scenario = NULL;
	}
	snprintf(hosts, sizeof hosts, "%zu host%s", fl->nok, fl->nok == 1 ? "" : "s");
	if (kernel)
		snprintf(kernels, sizeof kernels, "kernel %.56s", kernel);
	else
		snprintf(kernels, sizeof kernels, "%zu host classes", fl->nclasses);
	snprintf(sc, sizeof sc, "%s", scenario ? scenario : "several");
	title.kernel = kernels;
	title.scenario = sc;
	if (pathf(path, sizeof path, "%s/fleet-tiers.tsv", abs) ||
	    file_replace(path, fill_fleet_tsv, &(struct fleet_tsv){ fl, FLEET_NMETRICS })) {
		error("cannot write '%s': %m", path);
		return -1;
	}
	for (m = 0; m < FLEET_NMETRICS; m++) {
		const struct fleet_metric *fm = &fleet_metrics[m];
		double bars = (double)(fl->ntiers * (fl->nok + 1));
		const struct gp_var vars[] = {
			{ "metric", fm->figure, 0, false }, { "what", fm->what, 0, false },
			{ "ylab", fm->axis, 0, false }, { "xmax", NULL, bars - 2, false },
			{ "fig_width", NULL, fmin(4000, fmax(900, 160 + 22 * bars)), false },
		};
		bool any = false;

		for (h = 0; h < fl->nok; h++)
			for (t = 0; t < fl->ntiers; t++)
				any = any || fleet_stat_of(fl, h, t, m)->n;
		if (pathf(path, sizeof path, "%s/%s.tsv", abs, fm->figure))
			return -1;
		if (!any) {
			info("%s skipped: no host has %s", fm->figure, fm->key);
			unlink(path);
			if (!pathf(path, sizeof path, "%s/%s.png", abs, fm->figure))
				unlink(path);
			if (!pathf(path, sizeof path, "%s/%s.svg", abs, fm->figure))
				unlink(path);
			continue;
		}
		if (file_replace(path, fill_fleet_tsv, &(struct fleet_tsv){ fl, m })) {
			error("cannot write '%s': %m", path);
			return -1;
		}
		if (render_as(plots, abs, "fleet", fm->figure, &title, false, tiers, vars,
			      sizeof vars / sizeof vars[0]))
			return -1;
		drawn++;
	}
	return drawn;
}

int cmd_plot(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[PATH_MAX], plots[PATH_MAX], probe[PATH_MAX + 16];
	int c, i, ret = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		fprintf(stderr, "Try 'swapbench plot --help' for more information.\n");
		return 2;
	}
	if (optind >= argc)
		return usage_error("plot", "expected at least one RUN_DIR");
	if (!have_command("gnuplot")) {
		error("gnuplot not found; install it (apt-get install gnuplot-nox)");
		return 1;
	}
	plot_dir(dir, sizeof dir);
	if (pathf(probe, sizeof probe, "%s/common.gp", dir))
		return 1;
	if (access(probe, R_OK) || !realpath(dir, plots)) {
		error("cannot read '%s': %m (set SWAPBENCH_PLOTS to the plots/ directory)", probe);
		return 1;
	}
	for (i = optind; i < argc; i++)
		if (plot_one(argv[i], plots))
			ret = 1;
	return ret;
}
