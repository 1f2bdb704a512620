/* swapbench report FLEET_DIR (or several run directories): the fleet report.
 * Reads each host's run.json (results/fleet-ID/HOST/, as
 * scripts/fleet/swapbench.sbatch and swapbench.yml leave them), groups the
 * hosts by fingerprint class (kernel, CPU model, GPU model), and writes
 * fleet.md: a row per host and tier with the medians of work done, probe
 * p99 and PSI full and their bootstrap intervals, the hosts that failed
 * with the reason, the figures (cmd-plot.c's plot_fleet) and each host's
 * provenance.  It describes; `swapbench compare` judges.
 * Try:
 *   build/swapbench report --out /tmp/fleet tests/fixtures/results/run-a tests/fixtures/results/run-b */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "procfs.h"
#include "report.h"
#include "report-fleet.h"
#include "result.h"

/* The largest run.json read (the H100 host's default run: 350 KiB) and
 * fleet-job.json. */
#define FLEET_DOC_MAX (64 << 20)
#define FLEET_JOB_MAX (64 << 10)
/* Hosts in one report: a bound on what a hostile directory can make us
 * hold. */
#define FLEET_MAX_HOSTS 4096

const struct fleet_metric fleet_metrics[FLEET_NMETRICS] = {
	[FLEET_WORK] = { "workload_ops_per_s", "work done (ops/s)", "work/s", "fleet-work",
			 "Work done by host and tier (median, 95% interval)", "work done (ops/s)", 1 },
	[FLEET_P99] = { "probe_p99_ns", "probe p99", "probe p99", "fleet-p99",
			"Probe latency p99 by host and tier (median, 95% interval)",
			"probe latency p99 (ms)", 1e-6 },
	[FLEET_PSI] = { "psi_full_pct", "PSI full", "PSI full", "fleet-psi",
			"PSI memory full by host and tier (median, 95% interval)",
			"PSI memory full (% of the run)", 1 },
};

/* What a fleet job's record (fleet-job.json) may say of its run. */
static const char *const job_states[] = { "running", "done", "failed" };

/* The label of a directory: its base name, characters other than
 * [A-Za-z0-9._@+-] as '_'. */
static void host_label(char *dst, size_t len, const char *dir)
{
	const char *base;
	size_t i = 0, n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	for (base = dir + n; base > dir && base[-1] != '/'; base--)
		;
	for (; base < dir + n && i + 1 < len; base++) {
		char c = *base;

		dst[i++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   strchr("._@+-", c) ? c : '_';
	}
	dst[i] = '\0';
	if (!i)
		snprintf(dst, len, "_");
}

/* Reads NAME in directory DFD as JSON: never through a symbolic link, a
 * regular file, at most MAX bytes (however much it grows while read).
 * NULL with why (no such file: why left empty). */
static json_t *load_input(int dfd, const char *name, size_t max, char *why, size_t len)
{
	struct stat st;
	json_error_t err;
	json_t *doc = NULL;
	size_t used = 0;
	ssize_t got = 1;
	char *buf = NULL;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	*why = '\0';
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(why, len, "%s: %s", name, file_why(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s: not a regular file (refused)", name);
		goto out;
	}
	/* What fstat says, at most MAX: a file that grows while read is
	 * refused as one too large. */
	if ((uintmax_t)st.st_size < max)
		max = (size_t)st.st_size;
	if (!(buf = malloc(max + 1))) {
		snprintf(why, len, "%s: out of memory", name);
		goto out;
	}
	while (used <= max && (got = read(fd, buf + used, max + 1 - used)) > 0)
		used += (size_t)got;
	if (got < 0) {
		snprintf(why, len, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (used > max) {
		snprintf(why, len, "%s: larger than %zu bytes, or growing (refused)", name, max);
		goto out;
	}
	doc = json_loadb(buf, used, JSON_REJECT_DUPLICATES, &err);
	if (!doc)
		snprintf(why, len, "%s:%d:%d: %s", name, err.line, err.column, err.text);
out:
	free(buf);
	close(fd);
	return doc;
}

/* What the fleet report needs of a run document: what result_load asks
 * (result_check), runs, and not fio-raw.  0, or -1 with why. */
static int check_doc(const json_t *doc, char *why, size_t len)
{
	char w[256];

	if (result_check(doc, w, sizeof w) < 0) {
		snprintf(why, len, "run.json%s", w);
		return -1;
	}
	if (!json_array_size(json_object_get(doc, "runs"))) {
		snprintf(why, len, "run.json has no runs");
		return -1;
	}
	if (!strcmp(result_kind(doc), "fio-raw")) {
		snprintf(why, len, "a fio-raw run: the fleet report takes overcommit and ramp runs");
		return -1;
	}
	return 0;
}

/* The job record scripts/fleet/ leaves beside the run: its state and
 * swapbench run's exit status, where they are what they may be. */
static void read_job(struct fleet_host *h, int dfd)
{
	char why[160];
	json_t *job = load_input(dfd, "fleet-job.json", FLEET_JOB_MAX, why, sizeof why);
	const char *state = json_string_value(json_object_get(job, "state"));
	const json_t *ex = json_object_get(job, "exit_status");
	size_t i;

	h->job_state[0] = '\0';
	h->job_exit = -1;
	if (!job && why[0])
		warn("%s: %s", h->dir, why);
	for (i = 0; state && i < sizeof job_states / sizeof job_states[0]; i++)
		if (!strcmp(state, job_states[i]))
			snprintf(h->job_state, sizeof h->job_state, "%s", state);
	if (json_is_integer(ex) && json_integer_value(ex) >= 0 && json_integer_value(ex) <= 255)
		h->job_exit = (int)json_integer_value(ex);
	json_decref(job);
}

/* Why a host without run.json has none, from its job record. */
static void why_no_doc(struct fleet_host *h)
{
	if (!strcmp(h->job_state, "running"))
		snprintf(h->why, sizeof h->why, "no run.json: the job never finished (its record says "
			 "running: the node failed, or the job was killed before it could say)");
	else if (h->job_exit > 128)
		snprintf(h->why, sizeof h->why, "no run.json: swapbench run was killed by signal %d "
			 "(see run.log)", h->job_exit - 128);
	else if (h->job_exit > 0)
		snprintf(h->why, sizeof h->why, "no run.json: swapbench run exited with status %d "
			 "(see run.log)", h->job_exit);
	else
		snprintf(h->why, sizeof h->why, "no run.json");
}

/* Loads host H from NAME in directory PARENT (flags: O_NOFOLLOW for a
 * subdirectory found in a fleet directory). */
static void host_load(struct fleet_host *h, int parent, const char *name, int flags)
{
	int dfd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);

	h->job_exit = -1;
	if (dfd < 0) {
		snprintf(h->why, sizeof h->why, "cannot open the directory: %s", file_why(errno));
		return;
	}
	read_job(h, dfd);
	h->doc = load_input(dfd, "run.json", FLEET_DOC_MAX, h->why, sizeof h->why);
	if (!h->doc && !h->why[0])
		why_no_doc(h);
	if (h->doc && check_doc(h->doc, h->why, sizeof h->why) < 0) {
		json_decref(h->doc);
		h->doc = NULL;
	}
	close(dfd);
}

/* Whether NAME in DFD exists, not followed if a link. */
static bool has_entry(int dfd, const char *name)
{
	struct stat st;

	return !fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW);
}

bool fleet_is_run_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool yes = dfd >= 0 && has_entry(dfd, "run.json");

	if (dfd >= 0)
		close(dfd);
	return yes;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static struct fleet_host *host_new(struct fleet *fl, const char *dir)
{
	struct fleet_host *h, *more;

	if (fl->nhosts >= FLEET_MAX_HOSTS) {
		error("more than %d hosts: '%s' left out", FLEET_MAX_HOSTS, dir);
		return NULL;
	}
	more = realloc(fl->host, (fl->nhosts + 1) * sizeof *more);
	if (!more) {
		error("cannot read the fleet: out of memory");
		return NULL;
	}
	fl->host = more;
	h = &fl->host[fl->nhosts];
	*h = (struct fleet_host){ .job_exit = -1 };
	if (!(h->dir = strdup(dir))) {
		error("cannot read the fleet: out of memory");
		return NULL;
	}
	host_label(h->name, sizeof h->name, dir);
	fl->nhosts++;
	return h;
}

/* The hosts of fleet directory DIR (open as DFD): its subdirectories, by
 * name, that hold a run.json or a fleet-job.json.  IN_OUT: DIR is the
 * report's directory.  Returns the hosts added, or -1. */
static int add_fleet_dir(struct fleet *fl, const char *dir, int dfd, bool in_out)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, i;
	int added = 0, dup_fd = dup(dfd);

	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		error("cannot read '%s': %m", dir);
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while ((e = readdir(d)) && n < FLEET_MAX_HOSTS) {
		struct stat st;
		char **more;
		int sub;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "plots") ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (has_entry(sub, "run.json") || has_entry(sub, "fleet-job.json")) {
			more = realloc(names, (n + 1) * sizeof *names);
			if (!more || !(more[n] = strdup(e->d_name))) {
				names = more ? more : names;
				close(sub);
				added = -1;
				break;
			}
			names = more;
			n++;
		}
		close(sub);
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof *names, cmp_str);
	for (i = 0; i < n && added >= 0; i++) {
		struct fleet_host *h;

		if (pathf(path, sizeof path, "%s/%s", dir, names[i]) || !(h = host_new(fl, path))) {
			added = -1;
			break;
		}
		host_load(h, dfd, names[i], O_NOFOLLOW);
		h->in_out = in_out && !strcmp(h->name, names[i]);
		added++;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return added;
}

/* One directory argument: a host's run directory, or a fleet directory
 * (LONE: the only argument, which must be one). */
static int add_input(struct fleet *fl, const char *dir, const char *out_real, bool lone)
{
	char real[PATH_MAX];
	struct fleet_host *h;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), added = 0;

	if (dfd < 0 && lone) {
		error("cannot open '%s': %m", dir);
		return -1;
	}
	if (dfd >= 0 && !has_entry(dfd, "run.json") && !has_entry(dfd, "fleet-job.json")) {
		bool in_out = out_real && realpath(dir, real) && !strcmp(real, out_real);

		added = add_fleet_dir(fl, dir, dfd, in_out);
	}
	if (dfd >= 0)
		close(dfd);
	if (added)
		return added < 0 ? -1 : 0;
	if (lone) {
		error("'%s' has no run.json, and no host directories (subdirectories holding a "
		      "run.json or a fleet-job.json)", dir);
		return -1;
	}
	/* A host of its own, or a directory that is neither: a failed host. */
	if (!(h = host_new(fl, dir)))
		return -1;
	host_load(h, AT_FDCWD, dir, 0);
	return 0;
}

/* The GPU models a document's vramd saw (gpuN_name of each nbd tier's
 * vramd), distinct, sorted and joined by ", "; "-" where no nbd tier
 * ran, "none" where its vramd saw no GPU.  NULL when out of memory. */
static char *gpu_models(const json_t *doc)
{
	const json_t *vramd = json_object_get(json_object_get(doc, "tool_versions"), "vramd");
	const char *label, *key, **names = NULL;
	json_t *dump, *v;
	size_t n = 0, len = 1, i;
	char *out;

	json_object_foreach((json_t *)vramd, label, dump) {
		json_object_foreach(dump, key, v) {
			const char **more;
			unsigned idx;
			int end = 0;

			if (sscanf(key, "gpu%u_name%n", &idx, &end) != 1 || key[end] || !json_is_string(v))
				continue;
			for (i = 0; i < n && strcmp(names[i], json_string_value(v)); i++)
				;
			if (i < n)
				continue;
			if (!(more = realloc(names, (n + 1) * sizeof *more))) {
				free(names);
				return NULL;
			}
			names = more;
			names[n++] = json_string_value(v);
			len += strlen(json_string_value(v)) + 2;
		}
	}
	if (!vramd || !n) {
		free(names);
		return strdup(vramd ? "none" : "-");
	}
	qsort(names, n, sizeof *names, cmp_str);
	if ((out = malloc(len))) {
		out[0] = '\0';
		for (i = 0; i < n; i++) {
			if (i)
				strcat(out, ", ");
			strcat(out, names[i]);
		}
	}
	free(names);
	return out;
}

/* The class of host H, added when new: its index, or -1. */
static int classify(struct fleet *fl, struct fleet_host *h)
{
	const char *kernel = result_fp_str(h->doc, "kernel"), *cpu = result_fp_str(h->doc, "cpu_model");
	char *gpu = gpu_models(h->doc);
	struct fleet_class *c;
	size_t i;

	if (!gpu)
		return -1;
	for (i = 0; i < fl->nclasses; i++) {
		c = &fl->cls[i];
		if (!strcmp(c->kernel, kernel) && !strcmp(c->cpu, cpu) && !strcmp(c->gpu, gpu)) {
			free(gpu);
			h->cls = i;
			return 0;
		}
	}
	c = realloc(fl->cls, (fl->nclasses + 1) * sizeof *c);
	if (!c) {
		free(gpu);
		return -1;
	}
	fl->cls = c;
	c = &fl->cls[fl->nclasses];
	*c = (struct fleet_class){ .gpu = gpu, .kernel = strdup(kernel), .cpu = strdup(cpu) };
	if (fl->nclasses < 26)
		snprintf(c->label, sizeof c->label, "%c", 'A' + (int)fl->nclasses);
	else
		snprintf(c->label, sizeof c->label, "C%zu", fl->nclasses + 1);
	h->cls = fl->nclasses++;
	return c->kernel && c->cpu ? 0 : -1;
}

/* Hosts with a document first, by class then name; then the failed, by
 * name. */
static int cmp_host(const void *a, const void *b)
{
	const struct fleet_host *x = a, *y = b;

	if (!x->doc != !y->doc)
		return x->doc ? -1 : 1;
	if (x->doc && x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Adds the groups of doc to the fleet's tiers. */
static int add_tiers(struct fleet *fl, const json_t *doc)
{
	json_t *tiers = result_tiers(doc), *t;
	size_t i, j;
	int rc = 0;

	json_array_foreach(tiers, i, t) {
		const char *name = json_string_value(t);
		char **more;
		bool seen = false;

		for (j = 0; j < fl->ntiers && !seen; j++)
			seen = !strcmp(fl->tier[j], name);
		if (seen)
			continue;
		more = realloc(fl->tier, (fl->ntiers + 1) * sizeof *more);
		if (!more || !(more[fl->ntiers] = strdup(name))) {
			fl->tier = more ? more : fl->tier;
			rc = -1;
			break;
		}
		fl->tier = more;
		fl->ntiers++;
	}
	json_decref(tiers);
	return rc;
}

/* Labels made unique in input order: a second "node1" becomes "node1~2". */
static void unique_names(struct fleet *fl)
{
	size_t i, j;

	for (i = 1; i < fl->nhosts; i++) {
		unsigned k = 1;
		bool clash = true;
		char base[sizeof fl->host[i].name];

		memcpy(base, fl->host[i].name, sizeof base);
		while (clash) {
			clash = false;
			for (j = 0; j < i && !clash; j++)
				clash = !strcmp(fl->host[j].name, fl->host[i].name);
			if (clash) {
				snprintf(fl->host[i].name, sizeof fl->host[i].name, "%.60s~%u", base, ++k);
				fl->host[i].in_out = false;
			}
		}
	}
}

int fleet_load(struct fleet *fl, char *const dirs[], size_t n, const char *out)
{
	char out_real[PATH_MAX];
	const char *o = out && realpath(out, out_real) ? out_real : NULL;
	size_t i, t, m;

	*fl = (struct fleet){ 0 };
	for (i = 0; i < n; i++)
		if (add_input(fl, dirs[i], o, n == 1) < 0) {
			fleet_free(fl);
			return -1;
		}
	unique_names(fl);
	/* Classes in the order of the hosts' names. */
	qsort(fl->host, fl->nhosts, sizeof *fl->host, cmp_host);
	for (i = 0; i < fl->nhosts; i++)
		if (fl->host[i].doc && classify(fl, &fl->host[i]) < 0)
			goto nomem;
	qsort(fl->host, fl->nhosts, sizeof *fl->host, cmp_host);
	for (i = 0; i < fl->nhosts && fl->host[i].doc; i++)
		if (add_tiers(fl, fl->host[i].doc) < 0)
			goto nomem;
	fl->nok = i;
	for (i = 0; i < fl->nok; i++) {
		struct fleet_host *h = &fl->host[i];

		h->stat = calloc(fl->ntiers * FLEET_NMETRICS + 1, sizeof *h->stat);
		if (!h->stat)
			goto nomem;
		for (t = 0; t < fl->ntiers; t++)
			for (m = 0; m < FLEET_NMETRICS; m++) {
				struct fleet_stat *s = &h->stat[t * FLEET_NMETRICS + m];

				report_valid_runs(h->doc, fl->tier[t], &s->valid, &s->total);
				report_median_ci(h->doc, fl->tier[t], fleet_metrics[m].key, &s->ci, &s->n);
			}
	}
	return 0;
nomem:
	error("cannot read the fleet: out of memory");
	fleet_free(fl);
	return -1;
}

void fleet_free(struct fleet *fl)
{
	size_t i;

	for (i = 0; i < fl->nhosts; i++) {
		free(fl->host[i].dir);
		free(fl->host[i].stat);
		json_decref(fl->host[i].doc);
	}
	for (i = 0; i < fl->nclasses; i++) {
		free(fl->cls[i].kernel);
		free(fl->cls[i].cpu);
		free(fl->cls[i].gpu);
	}
	for (i = 0; i < fl->ntiers; i++)
		free(fl->tier[i]);
	free(fl->host);
	free(fl->cls);
	free(fl->tier);
	*fl = (struct fleet){ 0 };
}

const struct fleet_stat *fleet_stat_of(const struct fleet *fl, size_t h, size_t t, size_t m)
{
	return &fl->host[h].stat[t * FLEET_NMETRICS + m];
}

/* --- fleet.md ------------------------------------------------------------------ */

/* The scenario a host ran, with its --set overrides: "quick
 * (workload.duration_s=2)". */
static void scenario_of(const json_t *doc, char *buf, size_t len)
{
	const json_t *ov = json_object_get(json_object_get(doc, "settings"), "overrides"), *o;
	size_t i, used;

	snprintf(buf, len, "%s", result_fp_str(doc, "scenario"));
	json_array_foreach(ov, i, o) {
		used = strlen(buf);
		if (json_is_string(o) && used < len)
			snprintf(buf + used, len - used, "%s%s", i ? ", " : " (", json_string_value(o));
	}
	used = strlen(buf);
	if (json_array_size(ov) && used < len)
		snprintf(buf + used, len - used, ")");
}

static void write_classes(FILE *f, const struct fleet *fl)
{
	size_t c, i;

	fprintf(f, "## Host classes\n\nHosts alike in kernel, CPU model and GPU model (as each "
		   "run's fingerprint records them; the GPU from the vramd of an nbd tier, \"-\" where "
		   "none ran).\n\n| class | hosts | kernel | CPU | GPU |\n| --- | --- | --- | --- | --- |\n");
	for (c = 0; c < fl->nclasses; c++) {
		fprintf(f, "| %s | ", fl->cls[c].label);
		for (i = 0; i < fl->nok; i++)
			if (fl->host[i].cls == c)
				fprintf(f, "%s%s", i && fl->host[i - 1].cls == c ? ", " : "", fl->host[i].name);
		fputs(" | ", f);
		report_cell(f, fl->cls[c].kernel);
		fputs(" | ", f);
		report_cell(f, fl->cls[c].cpu);
		fputs(" | ", f);
		report_cell(f, fl->cls[c].gpu);
		fputs(" |\n", f);
	}
}

static void write_results(FILE *f, const struct fleet *fl)
{
	size_t h, t, m;

	fprintf(f, "\n## Results per host and tier\n\n| class | host | tier | valid runs |");
	for (m = 0; m < FLEET_NMETRICS; m++)
		fprintf(f, " %s |", fleet_metrics[m].head);
	fprintf(f, "\n| --- | --- | --- | ---: |");
	for (m = 0; m < FLEET_NMETRICS; m++)
		fprintf(f, " ---: |");
	fputc('\n', f);
	for (h = 0; h < fl->nhosts; h++) {
		const struct fleet_host *hp = &fl->host[h];

		if (!hp->doc) {
			fprintf(f, "| - | %s | - | failed |", hp->name);
			for (m = 0; m < FLEET_NMETRICS; m++)
				fputs(" - |", f);
			fputc('\n', f);
			continue;
		}
		for (t = 0; t < fl->ntiers; t++) {
			const struct fleet_stat *s0 = fleet_stat_of(fl, h, t, 0);

			if (!s0->total)
				continue;
			fprintf(f, "| %s | %s | %s | %zu/%zu |", fl->cls[hp->cls].label, hp->name, fl->tier[t],
				s0->valid, s0->total);
			for (m = 0; m < FLEET_NMETRICS; m++) {
				const struct fleet_stat *s = fleet_stat_of(fl, h, t, m);
				char buf[112];

				fprintf(f, " %s |", report_ci_format(metric_find(fleet_metrics[m].key)->unit,
								     &s->ci, s->n, buf, sizeof buf));
			}
			fputc('\n', f);
		}
	}
	fprintf(f, "\nOne row per host and tier, hosts grouped by class.  Medians over the host's "
		   "valid runs of the tier (n: the valid runs), each with its bootstrap 95%% interval "
		   "in brackets (%d resamples, seeded); one run: the value alone.  Work done is the "
		   "workload's operations per second (higher is better); probe p99 the latency of "
		   "unrelated work outside the workload's cgroup; PSI full the share of the run all "
		   "tasks of the cgroup stalled on memory.  This report describes: hosts of different "
		   "classes, or sized differently (see \"Hosts\"), are not alike, and "
		   "`swapbench compare` refuses to judge two machines unless told to (`--force`).\n",
		STATS_RESAMPLES);
}

/* The medians alone, a row per host and a column per tier, for each
 * metric: the fleet at a glance. */
static void write_glance(FILE *f, const struct fleet *fl)
{
	size_t h, t, m;

	if (!fl->nok || !fl->ntiers)
		return;
	fprintf(f, "\n## At a glance\n");
	for (m = 0; m < FLEET_NMETRICS; m++) {
		const struct metric *mt = metric_find(fleet_metrics[m].key);

		fprintf(f, "\nMedian %s:\n\n| class | host |", fleet_metrics[m].head);
		for (t = 0; t < fl->ntiers; t++)
			fprintf(f, " %s |", fl->tier[t]);
		fprintf(f, "\n| --- | --- |");
		for (t = 0; t < fl->ntiers; t++)
			fprintf(f, " ---: |");
		fputc('\n', f);
		for (h = 0; h < fl->nok; h++) {
			fprintf(f, "| %s | %s |", fl->cls[fl->host[h].cls].label, fl->host[h].name);
			for (t = 0; t < fl->ntiers; t++) {
				const struct fleet_stat *s = fleet_stat_of(fl, h, t, m);
				char buf[32];

				fprintf(f, " %s |", s->n ? metric_format(mt->unit, s->ci.point, buf, sizeof buf) : "-");
			}
			fputc('\n', f);
		}
	}
}

static void write_failed(FILE *f, const struct fleet *fl)
{
	size_t h;

	if (fl->nok == fl->nhosts)
		return;
	fprintf(f, "\n## Hosts that failed\n\nNo result from these hosts; every other host's "
		   "results stand.\n\n");
	for (h = fl->nok; h < fl->nhosts; h++) {
		fprintf(f, "- %s: ", fl->host[h].name);
		report_cell(f, fl->host[h].why);
		fputc('\n', f);
	}
}

static void write_fleet_figures(FILE *f, const char *out, int drawn)
{
	char path[PATH_MAX];
	size_t m;
	int shown = 0;

	fprintf(f, "\n## Figures\n");
	for (m = 0; m < FLEET_NMETRICS; m++) {
		const char *ext = "png";

		if (pathf(path, sizeof path, "%s/plots/%s.png", out, fleet_metrics[m].figure))
			continue;
		if (access(path, R_OK)) {
			ext = "svg";
			if (pathf(path, sizeof path, "%s/plots/%s.svg", out, fleet_metrics[m].figure) ||
			    access(path, R_OK))
				continue;
		}
		fprintf(f, "\n![%s](plots/%s.%s)\n", fleet_metrics[m].what, fleet_metrics[m].figure, ext);
		shown++;
	}
	if (!shown)
		fprintf(f, "\nNo figures%s.\n", drawn < 0 ? ": drawing them failed" :
			": gnuplot was not found, or no host has values");
}

/* Each host's provenance: what makes two hosts of one class differ. */
static void write_hosts(FILE *f, const struct fleet *fl, const char *out)
{
	size_t h;

	fprintf(f, "\n## Hosts\n\n| class | host | scenario | memcg limit | workers | memory | "
		   "machine id | swapbench | run | report |\n"
		   "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |\n");
	for (h = 0; h < fl->nhosts; h++) {
		const struct fleet_host *hp = &fl->host[h];
		const json_t *fp = json_object_get(hp->doc, "fingerprint");
		const json_t *sizing = json_object_get(fp, "sizing");
		const json_t *lim = json_object_get(sizing, "memcg_limit_bytes");
		const json_t *workers = json_object_get(sizing, "workers");
		const json_t *mem = json_object_get(fp, "mem_total_bytes");
		char sc[256], path[PATH_MAX];

		if (!json_is_integer(lim))
			lim = json_object_get(json_object_get(fp, "factors"), "memcg_limit_bytes");
		scenario_of(hp->doc, sc, sizeof sc);
		fprintf(f, "| %s | %s | ", hp->doc ? fl->cls[hp->cls].label : "-", hp->name);
		report_cell(f, hp->doc ? sc : "-");
		if (json_is_integer(lim) && json_integer_value(lim) > 0)
			fprintf(f, " | %lld MiB", (long long)(json_integer_value(lim) >> 20));
		else
			fputs(" | -", f);
		if (json_is_integer(workers))
			fprintf(f, " | %lld", (long long)json_integer_value(workers));
		else
			fputs(" | -", f);
		if (json_is_integer(mem) && json_integer_value(mem) > 0)
			fprintf(f, " | %.1f GiB", json_integer_value(mem) / 1073741824.0);
		else
			fputs(" | -", f);
		fputs(" | ", f);
		report_cell(f, json_is_string(json_object_get(fp, "machine_id")) ?
			    json_string_value(json_object_get(fp, "machine_id")) : "-");
		fputs(" | ", f);
		report_cell(f, hp->doc ? result_fp_str(hp->doc, "swapbench_commit") : "-");
		if (hp->job_exit >= 0)
			fprintf(f, " | exit %d", hp->job_exit);
		else
			fprintf(f, " | %s", hp->job_state[0] ? hp->job_state : "-");
		if (hp->in_out && !pathf(path, sizeof path, "%s/%s/report.md", out, hp->name) &&
		    !access(path, R_OK))
			fprintf(f, " | [report.md](%s/report.md) |\n", hp->name);
		else
			fputs(" | - |\n", f);
	}
	fprintf(f, "\nmemcg limit and workers: how the scenario was sized on the host (a scenario's "
		   "\"auto\" follows its memory and CPUs); run: swapbench run's exit status as the "
		   "fleet job recorded it.  Each host's directory holds its run.json, the runs' time "
		   "series and, where the merge made them, its own report.md and figures.\n");
}

struct fleet_md {
	const struct fleet *fl;
	const char *out;
	int drawn;
};

static int fill_fleet_md(int fd, void *arg)
{
	const struct fleet_md *a = arg;
	const struct fleet *fl = a->fl;
	char first[256], sc[256];
	bool same = true;
	size_t h;
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "w") : NULL;

	if (!f) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	first[0] = '\0';
	for (h = 0; h < fl->nok; h++) {
		scenario_of(fl->host[h].doc, sc, sizeof sc);
		if (!h)
			memcpy(first, sc, sizeof first);
		same = same && !strcmp(first, sc);
	}
	fprintf(f, "# swapbench fleet: ");
	report_cell(f, fl->nok ? (same ? first : "several scenarios") : "no results");
	fprintf(f, " on %zu host%s", fl->nhosts, fl->nhosts == 1 ? "" : "s");
	if (fl->nok < fl->nhosts)
		fprintf(f, ", %zu failed", fl->nhosts - fl->nok);
	fprintf(f, "\n\n");
	if (!same)
		fprintf(f, "**The hosts did not all run the same scenario and overrides** (see "
			   "\"Hosts\"): their rows do not compare.\n\n");
	write_classes(f, fl);
	write_results(f, fl);
	write_glance(f, fl);
	write_failed(f, fl);
	write_fleet_figures(f, a->out, a->drawn);
	write_hosts(f, fl, a->out);
	return fclose(f) ? -1 : 0;
}

/* The summary on the terminal: a row per host and tier. */
static void print_fleet_summary(FILE *f, const struct fleet *fl)
{
	size_t h, t, m, wh = 4, wt = 4;

	for (h = 0; h < fl->nhosts; h++)
		wh = strlen(fl->host[h].name) > wh ? strlen(fl->host[h].name) : wh;
	for (t = 0; t < fl->ntiers; t++)
		wt = strlen(fl->tier[t]) > wt ? strlen(fl->tier[t]) : wt;
	fprintf(f, "%-5s  %-*s  %-*s  %5s", "class", (int)wh, "host", (int)wt, "tier", "valid");
	for (m = 0; m < FLEET_NMETRICS; m++)
		fprintf(f, "  %10s", fleet_metrics[m].short_head);
	fputc('\n', f);
	for (h = 0; h < fl->nok; h++)
		for (t = 0; t < fl->ntiers; t++) {
			const struct fleet_stat *s0 = fleet_stat_of(fl, h, t, 0);
			char vr[24];

			if (!s0->total)
				continue;
			snprintf(vr, sizeof vr, "%zu/%zu", s0->valid, s0->total);
			fprintf(f, "%-5s  %-*s  %-*s  %5s", fl->cls[fl->host[h].cls].label, (int)wh,
				fl->host[h].name, (int)wt, fl->tier[t], vr);
			for (m = 0; m < FLEET_NMETRICS; m++) {
				const struct fleet_stat *s = fleet_stat_of(fl, h, t, m);
				char buf[32];

				fprintf(f, "  %10s", s->n ? metric_format(metric_find(fleet_metrics[m].key)->unit,
					s->ci.point, buf, sizeof buf) : "-");
			}
			fputc('\n', f);
		}
	for (h = fl->nok; h < fl->nhosts; h++) {
		fprintf(f, "%-5s  %-*s  failed: ", "-", (int)wh, fl->host[h].name);
		report_cell(f, fl->host[h].why);
		fputc('\n', f);
	}
	fprintf(f, "(medians over each host's valid runs of each tier; intervals in fleet.md)\n");
}

int report_fleet(char *const dirs[], size_t n, const char *out)
{
	char md[PATH_MAX];
	struct fleet fl;
	struct fleet_md arg;
	int drawn;

	if (pathf(md, sizeof md, "%s/fleet.md", out) || fleet_load(&fl, dirs, n, out) < 0)
		return 1;
	if (mkdir(out, 0755) && errno != EEXIST) {
		error("cannot create '%s': %m", out);
		fleet_free(&fl);
		return 1;
	}
	drawn = plot_fleet(&fl, out);
	arg = (struct fleet_md){ &fl, out, drawn };
	if (file_replace(md, fill_fleet_md, &arg) < 0) {
		error("cannot write '%s': %m", md);
		fleet_free(&fl);
		return 1;
	}
	print_fleet_summary(stdout, &fl);
	printf("%s\n", md);
	fleet_free(&fl);
	return drawn < 0 ? 1 : 0;
}
