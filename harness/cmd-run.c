/* swapbench run: the same, declared memory pressure on each tier, in turn
 * (A B C A B C ...), with sampling and probes, into one result document
 * (schema "swapbench-run", results/SCHEMA.md).  Per run: set the tier up
 * (journaled), drop caches and compact, wait for quiet memory PSI, run
 * stress-ng --vm in a limited memory cgroup, tear down, judge validity.
 * Try:
 *   sudo build/swapbench run --scenario quick --tiers zram,disk --repeats 1 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "fio-raw.h"
#include "journal.h"
#include "kmsg.h"
#include "log.h"
#include "memcg.h"
#include "provenance.h"
#include "parse.h"
#include "pattern.h"
#include "probe.h"
#include "result.h"
#include "procfs.h"
#include "run.h"
#include "sampler.h"
#include "scenario.h"
#include "tier.h"
#include "tier-spec.h"
#include "verdict.h"
#include "workload.h"
#include "windows.h"

#define RUN_SCHEMA "swapbench-run"
#define RUN_SCHEMA_VERSION 1
#define QUIET_DEADLINE_S 30	/* waiting for quiet PSI, at most */
#define QUIET_FULL_US_PER_S 2000	/* "quiet": under 0.2% full stall */

static const char usage_text[] =
	"usage: swapbench run [--scenario NAME|FILE] [--tiers A,B] [--repeats N] [--sweep F=V,V] [--out DIR]\n"
	"\n"
	"Runs scenario NAME (scenarios/NAME.ini, default overcommit) on each tier in\n"
	"turn, interleaved and rotated (A B C, B C A, C A B ...), and writes one\n"
	"result document, DIR/run.json (default results/HOST-DATE-SCENARIO/), with\n"
	"a TSV time series per run beside it.  A run that did not swap, hit an OOM\n"
	"kill, timed out or whose workload failed is kept and marked invalid with\n"
	"its reason.\n"
	"\n"
	"  --scenario NAME   scenario name or .ini path (default overcommit)\n"
	"  --tiers A,B       tiers to run (default: the scenario's, else all this host supports,\n"
	"                    nbd as nbd-vram where vramd's GPU works, else nbd-ram);\n"
	"                    a tier may carry options: nbd:backend=vram:threads=4 runs as\n"
	"                    'nbd-vram-4' (the option values joined), beside nbd:backend=ram;\n"
	"                    :as=LABEL names its runs instead (nbd:vramd=/opt/vramd:as=old);\n"
	"                    A>B is a stack, highest priority first (zram>disk runs as\n"
	"                    'zram+disk': zram at priority 100, the disk at 10; up to 3\n"
	"                    levels; an upper level's size defaults to half the overflow)\n"
	"  --repeats N       runs per tier (default: the scenario's)\n"
	"  --probe-cmd CMD   the exec probe's command (default /bin/true; a command line\n"
	"                    with a space runs under /bin/sh -c: 'ls -R /usr/share')\n"
	"  --set S.K=V       override the scenario's key K of section [S], e.g.\n"
	"                    --set memcg.limit=4G --set workload.ratio=1.5 (repeatable;\n"
	"                    recorded in the result)\n"
	"  --out DIR         output directory\n"
	"  --progress        a live progress line even when stderr is not a terminal\n"
	"  --sweep F=V1,V2   run every tier at each value of factor F (the product,\n"
	"                    interleaved; runs labelled TIER_SHORTVALUE, zram_swappiness60):\n"
	"                    vm.swappiness, vm.page-cluster, zram.comp_algorithm,\n"
	"                    zswap.compressor, memcg.mode (max or high: memory.max or\n"
	"                    memory.high as the limit, cgroup v2); plot draws the metrics\n"
	"                    against F, report tabulates it\n";

struct run_opts {
	struct scenario sc;
	struct tier_spec tiers[24];	/* --tiers entries: tiers and stacks, or
					 * with --sweep their variants */
	struct sweep sweep;		/* --sweep (f NULL: none) */
	const char *sets[32];		/* --set and --probe-cmd, as given */
	unsigned nsets;
	unsigned ntiers, repeats;
	char out[1024];		/* the output directory */
	bool progress;
	struct memcg_root root;
	uint64_t mem_total;
};

/* --- small helpers ------------------------------------------------------------------ */

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof buf, "%s", dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	error("cannot create '%s': %m", buf);
	return -1;
}

/* The versions of what the run used: swapbench's, stress-ng's, fio's,
 * jansson's, and what each level of each entry adds through its tier's
 * tool_versions (nbd: the --dump-backend of the vramd it runs, nbdfuse's
 * and nbd-client's). */
static json_t *tool_versions(const struct run_opts *o)
{
	static const char *const stress[] = { "stress-ng", "--version", NULL };
	static const char *const fio[] = { "fio", "--version", NULL };
	char jv[32];
	json_t *v;
	unsigned i, k;

	snprintf(jv, sizeof jv, "%s", JANSSON_VERSION);
	v = json_pack("{s:s, s:s, s:o, s:o, s:s}", "swapbench", VERSION, "swapbench_commit", build_commit,
		      "stress-ng", command_version(stress), "fio", command_version(fio), "jansson", jv);
	for (i = 0; v && i < o->ntiers; i++) {
		const struct tier_spec *ts = &o->tiers[i];

		for (k = 0; k < ts->nlevel; k++) {
			struct tier t = { .ops = ts->lv[k].ops };

			if (!t.ops->tool_versions)
				continue;
			t.settings = json_object();
			tier_spec_settings(ts, k, t.settings);
			t.ops->tool_versions(&t, ts->label, v);
			json_decref(t.settings);
		}
	}
	return v;
}

/* Drops the page cache and compacts, so that each run starts alike. */
static void settle_memory(void)
{
	sync();
	write_text("/proc/sys/vm/drop_caches", "3", false);
	write_text("/proc/sys/vm/compact_memory", "1", true);
}

/* Waits until system memory PSI full grows by less than the quiet rate over
 * a second, at most QUIET_DEADLINE_S.  Returns whether it became quiet and
 * the time waited in *waited. */
static bool wait_quiet(uint64_t *waited)
{
	uint64_t t0 = mono_ns(), a = 0, b = 0;
	char buf[512];

	while (mono_ns() - t0 < QUIET_DEADLINE_S * 1000000000ULL) {
		if (read_text("/proc/pressure/memory", buf, sizeof buf) < 0 ||
		    psi_total(buf, "full", &a) < 0)
			break;	/* no PSI: nothing to wait for */
		if (sleep_ms(1000))
			break;
		if (read_text("/proc/pressure/memory", buf, sizeof buf) < 0 ||
		    psi_total(buf, "full", &b) < 0)
			break;
		if (b - a < QUIET_FULL_US_PER_S) {
			*waited = mono_ns() - t0;
			return true;
		}
	}
	*waited = mono_ns() - t0;
	return false;
}

/* --- one run ---------------------------------------------------------------------- */

struct progress {
	const struct run_opts *o;
	struct sampler *s;
	const char *tier;
	unsigned repeat;
	uint64_t t0;
	struct sampler_totals prev;
};

static void progress_tick(void *arg)
{
	struct progress *p = arg;
	struct sampler_totals now;
	double dt, el;

	if (!p->o->progress || !p->s->samples)
		return;
	sampler_latest(p->s, &now);
	if (!p->prev.t_ns || now.t_ns <= p->prev.t_ns) {
		p->prev = now;
		return;
	}
	dt = (double)(now.t_ns - p->prev.t_ns) / 1e9;
	el = (double)(mono_ns() - p->t0) / 1e9;
	fprintf(stderr, "\r\033[K%s %u/%u  %.0f/%u s  psi full %.1f%%  swap in %.0f out %.0f pages/s",
		p->tier, p->repeat, p->o->repeats, el, p->o->sc.duration_s,
		(double)(now.full_us - p->prev.full_us) / 1e4 / dt,
		(double)(now.pswpin - p->prev.pswpin) / dt, (double)(now.pswpout - p->prev.pswpout) / dt);
	p->prev = now;
}

/* {"probe_exec_ns": [[low, high, count], ...], "probe_touch_ns": ...}: the
 * non-empty buckets, for CDFs and merging across repeats. */
static json_t *histograms_json(const struct histogram *exec, const struct histogram *touch)
{
	const struct histogram *h[] = { exec, touch };
	const char *names[] = { "probe_exec_ns", "probe_touch_ns" };
	json_t *o = json_object();
	unsigned i, b;

	for (i = 0; i < 2; i++) {
		json_t *a = json_array();

		for (b = 0; b < HIST_BUCKETS; b++)
			if (h[i]->bucket[b])
				json_array_append_new(a, json_pack("[I, I, I]",
					(json_int_t)hist_bucket_low(b), (json_int_t)hist_bucket_high(b),
					(json_int_t)h[i]->bucket[b]));
		json_object_set_new(o, names[i], a);
	}
	return o;
}

/* The workload's bytes at RATIO: the scenario's memcg limit times it. */
static uint64_t working_set(const struct run_opts *o, double ratio)
{
	return (uint64_t)((double)scenario_limit(&o->sc, o->mem_total) * ratio);
}

/* The workload cgroup's limit: the scenario's, or for the baseline one the
 * working set fits in with room for the workload's own memory. */
static uint64_t cgroup_limit(const struct run_opts *o, const struct tier_ops *ops, double ratio)
{
	uint64_t ws = working_set(o, ratio);

	if (!ops->baseline)
		return scenario_limit(&o->sc, o->mem_total);
	return (ws + ws / 4 + (64ULL << 20) + (1ULL << 20) - 1) & ~((1ULL << 20) - 1);
}

/* Whether the baseline's cgroup at the scenario's largest ratio fits in
 * half of what the host has available now (why not in why): its memory is
 * not swapped, so it must be there. */
static bool baseline_fits(const struct run_opts *o, const struct tier_ops *ops, char *why, size_t len)
{
	struct host_shape h;
	uint64_t total, limit;
	double max = 0;
	unsigned i;

	for (i = 0; i < o->sc.nratios; i++)
		if (o->sc.ratios[i] > max)
			max = o->sc.ratios[i];
	limit = cgroup_limit(o, ops, max);
	if (host_shape_read(&h, &total) < 0)
		return true; /* reported there; the cgroup limit still holds it */
	if (limit <= h.mem_available_bytes / 2)
		return true;
	snprintf(why, len, "its cgroup needs %" PRIu64 " MiB (the working set and room, held in RAM), "
		 "over half of MemAvailable (%" PRIu64 " MiB): lower memcg.limit or workload.ratio",
		 limit >> 20, h.mem_available_bytes >> 20);
	return false;
}

/* The probe summary of a run, start-up apart: the quantiles of the probes
 * meant to start after the workload first filled its cgroup, and those of
 * the ones before, keyed startup_*. */
static void probe_metrics(const struct probe *p, const struct sampler *s, uint64_t t0, json_t *m,
			  json_t *run)
{
	struct probe_split *sp = calloc(1, sizeof *sp);

	if (!sp) {
		error("out of memory for the probe summary");
		return;
	}
	probe_split(p, s->filled_t_ns, sp);
	json_object_update_new(m, json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"probe_p50_ns", (json_int_t)hist_quantile(&sp->exec[1], 0.50),
		"probe_p99_ns", (json_int_t)hist_quantile(&sp->exec[1], 0.99),
		"probe_p999_ns", (json_int_t)hist_quantile(&sp->exec[1], 0.999),
		"probe_max_ns", (json_int_t)sp->exec[1].max,
		"probe_run_slots", (json_int_t)sp->slots[1],
		"touch_p50_ns", (json_int_t)hist_quantile(&sp->touch[1], 0.50),
		"touch_p99_ns", (json_int_t)hist_quantile(&sp->touch[1], 0.99),
		"touch_p999_ns", (json_int_t)hist_quantile(&sp->touch[1], 0.999),
		"startup_probe_slots", (json_int_t)sp->slots[0],
		"startup_probe_p50_ns", (json_int_t)hist_quantile(&sp->exec[0], 0.50),
		"startup_probe_p99_ns", (json_int_t)hist_quantile(&sp->exec[0], 0.99),
		"startup_probe_max_ns", (json_int_t)sp->exec[0].max));
	/* null: the workload never filled its cgroup, and nothing was left out. */
	json_object_set_new(m, "startup_ns", s->filled_t_ns > t0 ?
			    json_integer((json_int_t)(s->filled_t_ns - t0)) :
			    s->filled_t_ns ? json_integer(0) : json_null());
	if (sp->truncated)
		json_object_set_new(m, "probe_log_truncated", json_true());
	json_object_set_new(run, "histograms", histograms_json(&sp->exec[1], &sp->touch[1]));
	json_object_set_new(run, "histograms_startup", histograms_json(&sp->exec[0], &sp->touch[0]));
	free(sp);
}

/* What one run observed, for record_metrics. */
struct run_obs {
	const struct sampler *s;
	const struct probe *p;
	const struct windows_summary *win;
	const struct workload *wl;
	uint64_t t0, dur_ns, limit, ws, kills, flushes;
	int64_t bogo, mismatches;
	int exit_code, signal;
	bool timed_out;
};

/* Each level's place in the overflow: the most it held and when it had
 * first taken a MiB (written to its device; zswap: held in its pool;
 * seconds from the workload's start, null: never), into run.levels, for a
 * stack. */
static void levels_json(const struct tier_stack *st, const struct sampler *s, uint64_t t0,
			json_t *run)
{
	json_t *levels;
	unsigned i;

	if (st->n < 2)
		return;
	levels = json_array();
	for (i = 0; i < st->n; i++) {
		uint64_t f = s->level_first_t_ns[i];

		json_array_append_new(levels, json_pack("{s:s, s:i, s:I, s:o}", "tier",
			st->lv[i].ops->name, "level", (int)i,
			"held_peak_bytes", (json_int_t)s->level_peak_bytes[i], "first_took_s",
			f ? json_real(f > t0 ? (double)(f - t0) / 1e9 : 0.0) : json_null()));
	}
	json_object_set_new(run, "levels", levels);
}

/* What each user-space OOM daemon's default policy would have done over the
 * run (oom-daemons.h), into run.oom_daemons: {NAME: {policy, fired, at_s
 * (null: it would not have), PEAK_KEY (null: nothing judged), unknown_s}}.
 * On cgroup v1 the pressure rows have nothing to judge (no memory.pressure). */
static void oom_daemons_json(const struct sampler *s, json_t *run)
{
	struct oom_call calls[8];
	size_t i, n = oom_daemons_judge(s->oom, s->noom, calls, 8);
	json_t *o = json_object();

	for (i = 0; i < n && i < 8; i++)
		json_object_set_new(o, calls[i].daemon, json_pack("{s:s, s:b, s:o, s:o, s:f}",
			"policy", calls[i].policy, "fired", calls[i].fired,
			"at_s", calls[i].fired ? json_real(calls[i].at_s) : json_null(),
			calls[i].peak_key, calls[i].peak >= 0 ? json_real(calls[i].peak) : json_null(),
			"unknown_s", calls[i].unknown_s));
	json_object_set_new(run, "oom_daemons", o);
}

/* A run's "metrics" from what it observed, one line a metric: X(JSON key
 * with its unit, INT or REAL, its value from ob (struct run_obs), s (the
 * sampler), p (the probes) and the locals of record_metrics (in, out,
 * zin, zout, zwb: pages; secs: the sampled span; min_pages)).
 * results/SCHEMA.md says what each means; RESULT_METRICS how the judged
 * ones are compared and shown.  The probes' quantiles (probe_metrics), the
 * per-second windows (windows_json), compression, the tier's share and its
 * daemons' CPU are written beside them. */
#define RUN_METRICS(X) \
	X("longest_stall_ns", INT, s->longest_stall_ns) \
	X("pswpin_pages", INT, in) \
	X("pswpout_pages", INT, out) \
	X("duration_ns", INT, ob->dur_ns) \
	X("psi_full_pct", REAL, (double)(s->last.full_us - s->first.full_us) / 1e4 / secs) \
	X("psi_some_pct", REAL, (double)(s->last.some_us - s->first.some_us) / 1e4 / secs) \
	X("swapin_rate_pages_per_s", REAL, (double)in / secs) \
	X("swapout_rate_pages_per_s", REAL, (double)out / secs) \
	X("workload_ops_per_s", REAL, ob->bogo >= 0 ? \
	  (double)ob->bogo / (o->sc.duration_s ? o->sc.duration_s : 1) : 0) \
	X("probe_slots", INT, p->slots) \
	X("probe_late_slots", INT, p->late_slots) \
	X("probe_exec_failures", INT, p->exec_failures) \
	X("touch_slots", INT, p->touch_slots) \
	X("oom_kills", INT, ob->kills) \
	X("samples", INT, s->samples) \
	X("sampler_cpu_ns", INT, s->cpu_ns) \
	X("sampler_cpu_pct_of_core", REAL, s->wall_ns ? (double)s->cpu_ns * 100 / (double)s->wall_ns : 0.0) \
	X("memcg_limit_bytes", INT, ob->limit) \
	X("working_set_bytes", INT, ob->ws) \
	X("min_pswpout_pages", INT, min_pages) \
	X("zswpin_pages", INT, zin) \
	X("zswpout_pages", INT, zout) \
	X("zswpwb_pages", INT, zwb) \
	X("memcg_zswap_peak_bytes", INT, s->cg_zswap_peak_bytes) \
	X("memcg_zswap_ratio", REAL, cg_zswap_ratio(s)) \
	X("memcg_stat_flushes", INT, ob->flushes)

/* The cgroup's memory.stat's zswapped over zswap, read when its zswap was
 * largest: what zswap held for what it charged the cgroup; 0 until it held
 * 16 MiB (a few MiB say nothing) and on cgroup v1. */
static double cg_zswap_ratio(const struct sampler *s)
{
	return s->cg_stat_zswapped_bytes >= (16ULL << 20) && s->cg_stat_zswap_bytes ?
	       (double)s->cg_stat_zswapped_bytes / (double)s->cg_stat_zswap_bytes : 0;
}

/* The run's metrics from what it observed (keys with units: results/
 * SCHEMA.md), into run, and *rf, what its validity is judged on. */
static void record_metrics(const struct run_opts *o, const struct tier_stack *st,
			   const struct run_obs *ob, json_t *run, struct run_facts *rf)
{
	const struct scenario *sc = &o->sc;
	const struct sampler *s = ob->s;
	const struct probe *p = ob->p;
	uint64_t in = s->last.pswpin - s->first.pswpin, out = s->last.pswpout - s->first.pswpout;
	uint64_t zin = s->last.zswpin - s->first.zswpin, zout = s->last.zswpout - s->first.zswpout;
	uint64_t zwb = s->last.zswpwb - s->first.zswpwb;	/* zswap to the device below it */
	uint64_t overflow_pages = ob->ws > ob->limit ? (ob->ws - ob->limit) / 4096 : 0;
	uint64_t min_pages = run_min_pages(ob->ws / 4096, overflow_pages);
	/* zswap keeps what it stores off the device: its pool counts as swap. */
	uint64_t swapped = out + zout;
	uint64_t span = s->last.t_ns - s->first.t_ns;
	double secs = span ? (double)span / 1e9 : 1;
	const char *shrinker;	/* zswap's, as in force for the run, or NULL */
	json_t *m = json_object();

	result_set(run, "metrics", m);
	m = json_object_get(run, "metrics");
	/* Integers as they are; reals each set on its own, so that one that
	 * comes out NaN cannot take the others (or run.json) with it. */
#define INT(key, v) json_object_set_new(m, key, json_integer((json_int_t)(v)));
#define REAL(key, v) result_set_real(m, key, (double)(v));
#define X(key, kind, v) kind(key, v)
	RUN_METRICS(X)
#undef X
#undef REAL
#undef INT
	/* The engine's own: its work count under its key, its check. */
	json_object_set_new(m, ob->wl->ops->ops_key, json_integer((json_int_t)ob->bogo));
	if (ob->mismatches >= 0)
		json_object_set_new(m, "touch_mismatches", json_integer(ob->mismatches));
	windows_json(ob->win, m);
	probe_metrics(p, s, ob->t0, m, run);
	levels_json(st, s, ob->t0, run);
	oom_daemons_json(s, run);
	shrinker = json_string_value(json_object_get(json_object_get(run, "in_force"),
						      "zswap_shrinker_enabled"));
	*rf = (struct run_facts){
		.signal = ob->signal, .timed_out = ob->timed_out, .timeout_s = sc->timeout_s,
		.engine = ob->wl->ops->name, .engine_title = ob->wl->ops->title,
		.verifies = ob->wl->ops->verifies, .oom_kills = ob->kills,
		.oom_report = json_string_value(json_object_get(run, "oom_report_file")),
		.limit_bytes = ob->limit, .zswap_peak_bytes = s->cg_zswap_peak_bytes,
		.zswap_written_back_pages = zwb,
		.zswap_shrinker = !shrinker ? SHRINKER_ABSENT : !strcmp(shrinker, "Y") ? SHRINKER_ON :
				  SHRINKER_OFF,
		.mismatches = ob->mismatches > 0 ? ob->mismatches : 0,
		.exit_code = ob->exit_code, .baseline = st->lv[0].ops->baseline, .swapped_pages = swapped,
		.working_set_pages = ob->ws / 4096, .overflow_pages = overflow_pages,
		.min_pages = min_pages, .compressibility = sc->compressibility,
	};
	snprintf(rf->log, sizeof rf->log, "%.255s", ob->wl->log);
	if (ob->exit_code > 0 && ob->wl->ops->exit_detail)
		ob->wl->ops->exit_detail(ob->wl, ob->exit_code, rf->exit_detail, sizeof rf->exit_detail);
	if (s->comp_orig_bytes) {
		double cratio = s->comp_stored_bytes ? (double)s->comp_orig_bytes /
						      (double)s->comp_stored_bytes : 0;

		json_object_set_new(m, "compression", json_pack(
			"{s:I, s:I, s:f}", "orig_bytes", (json_int_t)s->comp_orig_bytes,
			"stored_bytes", (json_int_t)s->comp_stored_bytes, "ratio", cratio));
		/* Judged only on enough data: a few MiB say nothing. */
		rf->compression_judged = s->comp_orig_bytes >= (16ULL << 20) && s->comp_stored_bytes;
		rf->compression_ratio = cratio;
	}
	/* zswap's own counter is its pool's, machine-wide and in its
	 * allocator's pages (zbud gives each 2:1 page a page of its own: 1.00:1
	 * on the VM test's 6.1); what it did with the workload's pages is the
	 * cgroup's memory.stat's (v2). */
	if (s->cg_stat_zswapped_bytes) {
		rf->compression_ratio = cg_zswap_ratio(s);
		rf->compression_judged = rf->compression_ratio > 0;	/* once it held 16 MiB */
		rf->compression_source = "zswap held the cgroup's pages at";
	}
	if (rf->compression_judged)
		rf->compression_fits = compressibility_band(sc->compressibility, rf->compression_ratio,
							    rf->band, sizeof rf->band);
}

/* What watches a run, started in order: the sampler (s->out opened by the
 * caller), the probes (placed outside the workload's cgroup, or in it
 * through PROCS), the memory.stat flusher of cgroup CG.  0, or -1 with
 * whatever had started stopped again. */
static int instruments_start(const struct scenario *sc, struct sampler *s, struct probe *p,
			     struct memcg_flusher *fl, const char *cg, const char *procs)
{
	int words = pattern_words_for(sc->compressibility);

	if (sampler_start(s) < 0)
		return -1;
	p->interval_ms = sc->probe_interval_ms;
	p->cmd = sc->probe_cmd;
	p->cgroup_procs = sc->probe_inside ? procs : NULL;
	p->touch_random_words = words < 0 ? PATTERN_WORDS : (unsigned)words;
	if (probe_start(p) < 0) {
		sampler_stop(s);
		return -1;
	}
	/* Without it, v1 reclaim OOM-kills behind zram and zswap: see memcg.h. */
	if (memcg_flusher_start(fl, cg, sc->stat_flush_ms) < 0) {
		probe_stop(p);
		sampler_stop(s);
		return -1;
	}
	return 0;
}

static void instruments_stop(struct sampler *s, struct probe *p, struct memcg_flusher *fl)
{
	memcg_flusher_stop(fl);
	probe_stop(p);
	sampler_stop(s);
}

/* The kernel's reports of the run's OOM kills in cgroup CG, from the
 * log KFD (opened at its end before the workload started), into
 * TAG-oom.txt, named in the run as oom_report_file; without kills, an
 * earlier invocation's file of that name (a reused --out) goes. */
static void oom_report(const struct run_opts *o, const char *tag, const char *cg, int kfd,
		       uint64_t kills, json_t *run)
{
	const char *base = strrchr(cg, '/');
	char name[160], path[PATH_MAX];
	int n;

	snprintf(name, sizeof name, "%s-oom.txt", tag);
	if (pathf(path, sizeof path, "%s/%s", o->out, name))
		return;
	if (!kills) {
		if (unlink(path) && errno != ENOENT)
			warn("cannot remove '%s': %m", path);
		return;
	}
	if (kfd < 0)
		return;
	n = kmsg_save_oom(kfd, base ? base + 1 : cg, path);
	if (n > 0)
		json_object_set_new(run, "oom_report_file", json_string(name));
	else if (n == 0)
		warn("%" PRIu64 " OOM kill(s) in '%s' but the kernel log holds no report of them "
		     "(rate-limited, overwritten or unreadable)", kills, tag);
}

/* Runs the workload in the cgroup with sampling and probes; fills run's
 * metrics and children, and *rf with what its validity is judged on
 * (run_one judges it, with the tier's share of the traffic).  Returns 0,
 * or -1 when the run could not be made (setup failures; *rf not filled),
 * 128+N on signal N. */
static int measure(const struct run_opts *o, const struct tier_stack *st, unsigned repeat,
		   double ratio, const char *cg, json_t *run, json_t *children, const char *tag,
		   struct run_facts *rf)
{
	const struct scenario *sc = &o->sc;
	uint64_t ws = working_set(o, ratio), limit = cgroup_limit(o, st->lv[0].ops, ratio);
	uint64_t kills = 0, t0, dur;
	struct workload wl = { 0 };
	char tsv_name[128], tsv[PATH_MAX], procs[PATH_MAX + 16];
	char win_name[128], win[PATH_MAX];
	struct windows_summary ws1;
	FILE *wf;
	struct sampler s = { .interval_ms = sc->sample_interval_ms, .cgroup = cg,
			     .cgroup_version = o->root.version, .stack = st };
	struct probe *p = calloc(1, sizeof *p);
	struct child_opts co = { .own_pgrp = true };
	struct memcg_flusher fl = { .fd = -1 };
	struct progress pr = { .o = o, .s = &s, .tier = tag, .repeat = repeat };
	int status = 0, w, rc = 0, exit_code = -1, kfd = -1;
	bool timed_out = false, hung = false;
	int64_t bogo, mismatches;
	json_t *tj = NULL;

	if (!p) {
		error("out of memory");
		return -1;
	}
	snprintf(tsv_name, sizeof tsv_name, "%s-samples.tsv", tag);
	snprintf(tsv, sizeof tsv, "%s/%s", o->out, tsv_name);
	snprintf(win_name, sizeof win_name, "%s-windows.tsv", tag);
	snprintf(win, sizeof win, "%s/%s", o->out, win_name);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
	wl.ops = workload_find(sc->engine);
	wl.sc = sc;
	/* Whole pages per worker. */
	wl.bytes = ws / sc->workers / 4096 * 4096 * sc->workers;
	snprintf(wl.out_prefix, sizeof wl.out_prefix, "%s/%s", o->out, tag);
	if (!wl.ops || wl.ops->command(&wl) < 0) {
		if (!wl.ops)
			error("unknown workload engine '%s'", sc->engine);
		free(p);
		return -1;
	}

	/* The start-up ends when the workload first fills its cgroup (9/10 of
	 * the limit or of the working set, the smaller): probes before that
	 * are summarised apart (probe_metrics). */
	s.fill_bytes = (ws < limit ? ws : limit) / 10 * 9;
	s.limit_bytes = limit;
	s.out = fopen(tsv, "we");
	if (!s.out)
		warn("cannot write '%s': %m; no time series for this run", tsv);
	if (instruments_start(sc, &s, p, &fl, cg, procs) < 0) {
		rc = -1;
		goto out;
	}
	co.cgroup_procs = procs;
	co.output = wl.log;
	kfd = kmsg_open_end();	/* what the kernel logs from here on */
	t0 = pr.t0 = mono_ns();
	w = child_run(wl.argv, &co, (int)sc->timeout_s * 1000, 200, progress_tick, &pr, REAP_DEADLINE_MS,
		      "the workload", &status, &hung);
	if (w == -1) {
		rc = -1;
	} else {
		timed_out = w == 0;
		if (w == 2) {
			rc = 128 + (int)sig_pending;
			info("signal %d: stopping the workload and tearing tier '%s' down",
			     rc - 128, tag);
		}
		/* A hung workload was left behind: no exit status. */
		exit_code = hung ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	dur = mono_ns() - t0;
	instruments_stop(&s, p, &fl);
	if (o->progress)
		fprintf(stderr, "\r\033[K");
	if (s.out)
		fclose(s.out);
	s.out = NULL;
	if (rc == -1)
		goto out;
	wf = fopen(win, "we");
	if (!wf)
		warn("cannot write '%s': %m; no per-second windows kept", win);
	windows_summarise(s.secs, s.nsecs, p->log, p->nlog, wf, &ws1);
	if (wf)
		fclose(wf);
	json_array_append_new(children, json_pack("{s:o, s:i}", "argv", argv_json(wl.argv),
						  "exit_code", exit_code));
	memcg_oom_kills(&o->root, cg, &kills);
	oom_report(o, tag, cg, kfd, kills, run);
	wl.ops->results(&wl, &bogo, &mismatches, &tj);
	record_metrics(o, st, &(struct run_obs){
		.s = &s, .p = p, .win = &ws1, .wl = &wl, .t0 = t0, .dur_ns = dur, .limit = limit,
		.ws = ws, .kills = kills, .flushes = fl.flushes, .bogo = bogo,
		.mismatches = mismatches, .exit_code = exit_code,
		.signal = rc > 128 ? rc - 128 : 0, .timed_out = timed_out }, run, rf);
	json_object_set_new(run, "samples_file", json_string(tsv_name));
	json_object_set_new(run, "windows_file", json_string(win_name));
	json_decref(tj);
out:
	if (kfd >= 0)
		close(kfd);
	sampler_free(&s);
	probe_free(p);
	free(p);
	return rc;
}

/* The level objects of a snapshot (tier_stack_snapshot): its "levels",
 * or the snapshot itself for a single tier, into lv; their count. */
static size_t level_snaps(json_t *snap, json_t *lv[TIER_STACK_MAX])
{
	json_t *levels = json_object_get(snap, "levels");
	size_t i, n = 0;

	if (!json_is_array(levels)) {
		lv[0] = snap;
		return snap ? 1 : 0;
	}
	for (i = 0; i < json_array_size(levels) && n < TIER_STACK_MAX; i++)
		lv[n++] = json_array_get(levels, i);
	return n;
}

/* counters.block_stat.write_bytes, or -1. */
static json_int_t device_writes(json_t *counters)
{
	json_t *v = json_object_get(json_object_get(counters, "block_stat"), "write_bytes");

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* The share of swap-out traffic that reached the tier's own devices (their
 * block devices' writes, every level of a stack, over pswpout), into the
 * run's metrics and rf (at least 95%, or the run does not count), and for
 * a stack each level's pages written (run.levels[].written_pages).  A
 * frontswap tier (zswap) on top is judged by its pool (zswpout) instead:
 * pages it keeps never reach a device, by design. */
static void tier_share(json_t *run, const struct tier_stack *st, struct run_facts *rf)
{
	json_t *m = json_object_get(run, "metrics"), *b[TIER_STACK_MAX], *a[TIER_STACK_MAX];
	json_t *levels = json_object_get(run, "levels");
	json_int_t out = json_integer_value(json_object_get(m, "pswpout_pages")), sum = 0;
	size_t nb = level_snaps(json_object_get(run, "tier_counters_before"), b);
	size_t na = level_snaps(json_object_get(run, "tier_counters_after"), a), i;
	bool all = nb == na && nb > 0;

	for (i = 0; all && i < na; i++) {
		json_int_t x = device_writes(b[i]), y = device_writes(a[i]);

		if (x < 0 || y < x) {
			/* zswap's pool has no device: its pages are zswpout. */
			json_t *zb = json_object_get(json_object_get(b[i], "vmstat"), "zswpout");
			json_t *za = json_object_get(json_object_get(a[i], "vmstat"), "zswpout");

			if (levels && zb && za)
				json_object_set_new(json_array_get(levels, i), "written_pages",
						    json_integer(json_integer_value(za) - json_integer_value(zb)));
			if (st->lv[i].ops->frontswap)
				continue;
			all = false;
			break;
		}
		sum += y - x;
		if (levels)
			json_object_set_new(json_array_get(levels, i), "written_pages",
					    json_integer((y - x) / 4096));
	}
	if (!m || !all || out <= 0 || st->lv[0].ops->frontswap)
		return;
	rf->share_known = true;
	rf->share_pct = (double)sum / ((double)out * 4096) * 100;
	rf->pswpout_pages = (uint64_t)out;
	result_set_real(m, "tier_write_share_pct", rf->share_pct);
}

/* The CPU time the tier's daemons (vramd, nbdfuse; every level's) used
 * over the run, from counters.daemons.NAME.cpu_ns before and after: the
 * NBD path's own cost, as a share of a core and per page swapped. */
static void daemons_cpu(json_t *run)
{
	json_t *m = json_object_get(run, "metrics"), *v, *bl[TIER_STACK_MAX], *al[TIER_STACK_MAX];
	size_t nb = level_snaps(json_object_get(run, "tier_counters_before"), bl);
	size_t na = level_snaps(json_object_get(run, "tier_counters_after"), al), i;
	json_int_t dur = json_integer_value(json_object_get(m, "duration_ns")), sum = 0;
	const char *name;
	bool any = false;

	for (i = 0; i < na && i < nb; i++) {
		json_t *b = json_object_get(bl[i], "daemons"), *a = json_object_get(al[i], "daemons");

		json_object_foreach(a, name, v) {
			json_int_t x = json_integer_value(json_object_get(json_object_get(b, name), "cpu_ns"));
			json_int_t y = json_integer_value(json_object_get(v, "cpu_ns"));

			if (y >= x && json_object_get(json_object_get(b, name), "cpu_ns")) {
				sum += y - x;
				any = true;
			}
		}
	}
	if (!any || dur <= 0)
		return;
	json_object_set_new(m, "tier_daemons_cpu_ns", json_integer(sum));
	result_set_real(m, "tier_daemons_cpu_pct_of_core", (double)sum * 100 / (double)dur);
	/* Per page the tier moved, either way: what a swapped page costs the
	 * daemons (result.c's one formula, which readers of older documents
	 * use too). */
	{
		double per_page;

		if (result_daemons_cpu_per_page(m, &per_page))
			result_set_real(m, "tier_daemons_cpu_ns_per_page", per_page);
	}
}

/* The size an upper level of a stack takes when neither its spec nor the
 * scenario sets one: level I of N gets 1/2^(I+1) of the overflow (the
 * working set over the limit), whole MiB, at least 16 MiB, so that the
 * levels below it take the rest. */
static uint64_t upper_level_size(const struct run_opts *o, double ratio, unsigned i)
{
	uint64_t ws = working_set(o, ratio), limit = scenario_limit(&o->sc, o->mem_total);
	uint64_t over = ws > limit ? ws - limit : 0, sz = over >> (i + 1);

	sz = (sz + (1ULL << 20) - 1) & ~((1ULL << 20) - 1);
	return sz < (16ULL << 20) ? 16ULL << 20 : sz;
}

/* The stack's settings: the scenario's [tier] keys and the spec's options
 * for every level; an upper level's size as upper_level_size says unless
 * its own options set one (a scenario's size, sized for one tier to hold
 * the whole overflow, goes to the lowest level: above it, it would leave
 * the levels below nothing to take, as on the H100 host at 4 GiB). */
static void stack_settings(const struct run_opts *o, const struct tier_spec *ts,
			   struct tier_stack *st, double ratio)
{
	unsigned i, k;

	for (i = 0; i < st->n; i++) {
		struct tier *t = &st->lv[i];

		t->no_swapon = o->sc.kind == SCENARIO_FIO_RAW;
		for (k = 0; k < o->sc.ntier; k++)
			json_object_set_new(t->settings, o->sc.tier_key[k], json_string(o->sc.tier_val[k]));
		if (i + 1 < st->n && !tier_spec_opt(ts, i, "size")) {
			char sz[32];

			snprintf(sz, sizeof sz, "%" PRIu64 "M", upper_level_size(o, ratio, i) >> 20);
			json_object_set_new(t->settings, "size", json_string(sz));
		}
		tier_spec_settings(ts, i, t->settings);
	}
}

/* Whether every level can run (tier_check_common, supported()); false
 * after one message. */
static bool stack_supported(struct tier_stack *st, const char *label)
{
	char why[512];
	unsigned i;

	for (i = 0; i < st->n; i++) {
		why[0] = '\0';
		if (tier_check_common(&st->lv[i]) < 0)
			return false;
		if (!st->lv[i].ops->supported(&st->lv[i], why, sizeof why)) {
			if (why[0])
				error("tier '%s' cannot run here: %s%s%s", label, st->n > 1 ? "level " : "",
				      st->n > 1 ? st->lv[i].ops->name : "", why);
			return false;
		}
	}
	return true;
}

/* Whether entry ts's workload cgroup takes memory.high as its limit: its
 * sweep value of memcg.mode, else the scenario's. */
static bool entry_throttle(const struct run_opts *o, const struct tier_spec *ts)
{
	return ts->throttle >= 0 ? ts->throttle == 1 : o->sc.throttle;
}

/* Sets the tier or stack up, measures, tears down.  Returns 0 (run
 * appended, valid or not), -1 when it could not be set up or the machine
 * not restored, 128+N on signal. */
static int run_one(const struct run_opts *o, struct journal *j, const struct tier_spec *ts,
		   unsigned repeat, double ratio, json_t *runs, json_t *tier_config)
{
	const struct tier_ops *ops[TIER_STACK_MAX];
	json_t *run, *children = json_array();
	size_t log0 = run_log ? json_array_size(run_log) : 0, i;
	char why[VERDICT_WHY_MAX] = "", name[64], cg[PATH_MAX], tag[96];
	struct run_facts rf = { 0 };
	uint64_t waited = 0;
	struct tier_stack st;
	bool quiet, torn_badly;
	int rc = -1;

	if (o->sc.kind == SCENARIO_FIO_RAW)
		snprintf(tag, sizeof tag, "%s-r%u", ts->label, repeat);
	else
		snprintf(tag, sizeof tag, "%s-r%u-x%.2f", ts->label, repeat, ratio);
	run = json_pack("{s:s, s:s, s:i, s:f}", "tier", ts->label, "tier_name", ts->lv[0].ops->name,
			"repeat", (int)repeat, "ratio", ratio);
	if (ts->nlevel > 1) {
		json_t *names = json_array();

		for (i = 0; i < ts->nlevel; i++)
			json_array_append_new(names, json_string(ts->lv[i].ops->name));
		json_object_set_new(run, "stack", names);
	}
	if (ts->base_label[0])
		json_object_set_new(run, "sweep", json_pack("{s:s, s:s, s:s}", "factor",
				    sweep_factor_name(&o->sweep), "value", ts->factor_value,
				    "base_tier", ts->base_label));
	if (journal_begin(j) < 0)
		goto out;
	tier_spec_ops(ts, ops);
	tier_stack_begin(&st, ops, ts->nlevel, j);
	stack_settings(o, ts, &st, ratio);
	/* (A baseline's fit was checked for every ratio before the first run.) */
	if (!stack_supported(&st, ts->label)) {
		json_object_del(j->doc, "tier");
		journal_save(j);
		goto out;
	}
	if (tier_stack_bring_up(&st) < 0 || sig_pending)
		goto take_down;
	if (!json_object_get(tier_config, ts->label))
		json_object_set_new(tier_config, ts->label, tier_stack_snapshot(&st, true));
	json_object_set_new(run, "tier_counters_before", tier_stack_snapshot(&st, false));
	json_object_set_new(run, "in_force", tier_in_force());
	if (o->sc.kind == SCENARIO_FIO_RAW) {
		rc = fio_raw_measure(&o->sc, &st.lv[0], o->out, tag, run, children);
		json_object_set_new(run, "tier_counters_after", tier_stack_snapshot(&st, false));
		goto take_down;
	}
	settle_memory();
	quiet = wait_quiet(&waited);
	json_object_set_new(run, "psi_quiet", json_boolean(quiet));
	json_object_set_new(run, "psi_quiet_wait_ns", json_integer((json_int_t)waited));
	if (!quiet)
		warn("memory PSI still not quiet after %d s; running anyway", QUIET_DEADLINE_S);
	snprintf(name, sizeof name, "swapbench-run-%d", (int)getpid());
	/* A frontswap tier (zswap) wants the pages; the others must not lose them to it. */
	if (memcg_create(j, &o->root, name, cgroup_limit(o, ops[0], ratio),
			 tier_spec_frontswap(ts), entry_throttle(o, ts),
			 cg, sizeof cg) < 0)
		goto take_down;
	rc = measure(o, &st, repeat, ratio, cg, run, children, tag, &rf);
	json_object_set_new(run, "tier_counters_after", tier_stack_snapshot(&st, false));
	if (rc != -1) {
		const char *rule;

		tier_share(run, &st, &rf);
		rf.limit_is_high = entry_throttle(o, ts);
		rule = run_verdict(&rf, why, sizeof why);
		json_object_set_new(run, "valid", json_boolean(!rule));
		json_object_set_new(run, "invalid_reason", rule ? json_string(why) : json_null());
	}
	daemons_cpu(run);
take_down:
	if (tier_stack_take_down(j, &st, &torn_badly) < 0) {
		error("the machine is not fully restored: see above, then 'swapbench restore'");
		rc = -1;
	} else if (torn_badly && rc == 0) {
		rc = -1;
	}
	if (sig_pending && rc != -1)
		rc = 128 + (int)sig_pending;
out:
	for (i = log0; run_log && i < json_array_size(run_log); i++) {
		json_t *e = json_array_get(run_log, i);

		json_array_append_new(children, json_pack("{s:O, s:O}", "argv",
			json_object_get(e, "argv"),
			"exit_code", json_object_get(e, "exit_code")));
	}
	json_object_set_new(run, "children", children);
	if (json_object_get(run, "valid"))
		json_array_append(runs, run);
	json_decref(run);
	return rc;
}

/* --- the command ----------------------------------------------------------------- */

/* Adds SPEC (tier-spec.h: a tier or a stack, with options) to o->tiers. */
static int add_tier(struct run_opts *o, const char *spec)
{
	struct tier_spec *ts;
	char err[1200];
	unsigned i;

	if (o->ntiers == sizeof o->tiers / sizeof o->tiers[0])
		return usage_error("run", "too many tiers (at most %zu)", sizeof o->tiers / sizeof o->tiers[0]);
	ts = &o->tiers[o->ntiers];
	if (tier_spec_parse(ts, spec, err, sizeof err) < 0)
		return usage_error("run", "--tiers: %s", err);
	if (ts->nlevel > 1 && o->sc.kind == SCENARIO_FIO_RAW)
		return usage_error("run", "--tiers: '%s': a fio-raw scenario measures one device; "
				   "run a stack with an overcommit scenario", spec);
	for (i = 0; i < o->ntiers; i++)
		if (!strcmp(o->tiers[i].label, ts->label))
			return usage_error("run", "tier '%s' named twice", ts->label);
	o->ntiers++;
	return 0;
}

static int parse_tiers(struct run_opts *o, const char *list)
{
	char buf[4096], *tok, *save = NULL;
	int rc;

	if (strlen(list) >= sizeof buf)
		return usage_error("run", "--tiers: the list is too long (%zu bytes, at most %zu)",
				   strlen(list), sizeof buf - 1);
	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if ((rc = add_tier(o, tok)))
			return rc;
	if (!o->ntiers)
		return usage_error("run", "--tiers: expected tier names, got '%s'", list);
	return 0;
}

/* Every tier whose supported() says yes with default settings. */
static void supported_tiers(struct run_opts *o, struct journal *j)
{
	char why[512], spec[128];
	struct tier t;
	int i;

	for (i = 0; tiers[i] && o->ntiers < 8; i++) {
		json_t *settings = json_object(), *state = json_object();

		t = (struct tier){ .ops = tiers[i], .j = j, .settings = settings, .state = state,
				   .no_swapon = o->sc.kind == SCENARIO_FIO_RAW };
		why[0] = '\0';
		if (!tiers[i]->supported(&t, why, sizeof why) ||
		    (tiers[i]->baseline && !baseline_fits(o, tiers[i], why, sizeof why))) {
			info("skipping tier '%s': %s", tiers[i]->name, why);
		} else {
			snprintf(spec, sizeof spec, "%s", tiers[i]->name);
			if (tiers[i]->default_spec)
				tiers[i]->default_spec(&t, spec, sizeof spec);
			add_tier(o, spec);
		}
		json_decref(settings);
		json_decref(state);
	}
}

static json_t *fingerprint(const struct run_opts *o, json_t *tier_config)
{
	struct utsname u;
	char cmdline[1024] = "", bid[64] = "";

	uname(&u);
	read_text("/proc/cmdline", cmdline, sizeof cmdline);
	boot_id(bid, sizeof bid);
	json_t *fp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:O, s:{s:s, s:s}}",
			       "host", u.nodename, "kernel", u.release, "machine", u.machine,
			       "cmdline", cmdline, "boot_id", bid,
			       "mem_total_bytes", (json_int_t)o->mem_total,
			       "cgroup_version", o->root.version, "scenario", o->sc.name,
			       "tier_config", tier_config, "factors",
			       "compressibility", o->sc.compressibility, "locality", o->sc.locality);

	if (fp) {
		result_set_real(json_object_get(fp, "factors"), "ratio", o->sc.ratios[0]);
		if (o->sweep.f) {
			json_t *vals = json_array();
			unsigned i;

			for (i = 0; i < o->sweep.n; i++)
				json_array_append_new(vals, json_string(o->sweep.val[i]));
			json_object_set_new(json_object_get(fp, "factors"), "sweep", json_pack("{s:s, s:o}",
					    "factor", sweep_factor_name(&o->sweep), "values", vals));
		}
		/* (Only when not the default: older documents stay comparable.) */
		if (o->sc.throttle)
			json_object_set_new(json_object_get(fp, "factors"), "memcg_mode",
					    json_string("high"));
		provenance_json(fp);
		/* What "auto" made of the scenario here: runs of other sizes
		 * must not be compared as if alike. */
		json_object_set_new(fp, "sizing", json_pack("{s:I, s:i, s:s}", "memcg_limit_bytes",
				    (json_int_t)scenario_limit(&o->sc, o->mem_total), "workers",
				    (int)o->sc.workers, "engine", o->sc.engine));
	}
	return fp;
}

/* Options into o (the scenario loaded, --set applied, --tiers parsed).
 * Returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "tiers", required_argument, NULL, 't' },
		{ "repeats", required_argument, NULL, 'r' },
		{ "set", required_argument, NULL, 'S' },
		{ "probe-cmd", required_argument, NULL, 'P' },
		{ "out", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'p' },
		{ "sweep", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char probe_set[300];
	const char *scen = "overcommit", *tier_list = NULL;
	char path[PATH_MAX], err[512];
	uint64_t repeats = 0;
	unsigned si;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+s:t:r:S:P:o:pW:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': scen = optarg; break;
		case 't': tier_list = optarg; break;
		case 'r':
			if (parse_uint(optarg, 1, 100, &repeats) < 0)
				return usage_error("run", "--repeats: expected a number from 1 to 100, got '%s'", optarg);
			break;
		case 'o':
			if (strlen(optarg) >= sizeof o->out)
				return usage_error("run", "--out: a path under %zu characters, please", sizeof o->out);
			snprintf(o->out, sizeof o->out, "%s", optarg);
			break;
		case 'S':
			if (o->nsets == sizeof o->sets / sizeof o->sets[0])
				return usage_error("run", "--set: at most %zu, please", sizeof o->sets / sizeof o->sets[0]);
			o->sets[o->nsets++] = optarg;
			break;
		case 'P':
			if (o->nsets == sizeof o->sets / sizeof o->sets[0] ||
			    snprintf(probe_set, sizeof probe_set, "probe.cmd=%s", optarg) >= (int)sizeof probe_set)
				return usage_error("run", "--probe-cmd: too long");
			o->sets[o->nsets++] = probe_set;
			break;
		case 'p': o->progress = true; break;
		case 'W':
			if (o->sweep.f)
				return usage_error("run", "--sweep: one factor a run (the product of two "
						   "is a run per value of the other)");
			if (sweep_parse(&o->sweep, optarg, err, sizeof err) < 0)
				return usage_error("run", "%s", err);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default:
			fprintf(stderr, "Try 'swapbench run --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("run", "unexpected argument '%s'", argv[optind]);
	scenario_path(scen, path, sizeof path);
	if (scenario_load(path, &o->sc) < 0)
		return 1;
	for (si = 0; si < o->nsets; si++)
		if (scenario_set(&o->sc, o->sets[si]) < 0)
			return 2;
	if (o->nsets && scenario_check(&o->sc) < 0)
		return 2;
	o->repeats = repeats ? (unsigned)repeats : o->sc.repeats;
	if (!tier_list && o->sc.tiers[0])
		tier_list = o->sc.tiers;
	if (tier_list && (r = parse_tiers(o, tier_list)))
		return r;
	for (si = 0; si < o->ntiers; si++) {
		unsigned k;

		for (k = 0; o->tiers[si].nlevel > 1 && k < o->sc.ntier; k++)
			if (!strcmp(o->sc.tier_key[k], "priority"))
				return usage_error("run", "--tiers: the stack '%s' gives its levels "
						   "priorities 100, 10, 1; the scenario's tier.priority "
						   "would give them all one: set it per level "
						   "(zram:priority=50>disk) instead", o->tiers[si].spec);
	}
	if (o->sweep.f && o->sc.nratios > 1)
		return usage_error("run", "--sweep: scenario '%s' is a ramp (%u ratios); a sweep runs at "
				   "one ratio (--set workload.ratio=R)", o->sc.name, o->sc.nratios);
	if (o->sweep.f && o->sc.kind == SCENARIO_FIO_RAW)
		return usage_error("run", "--sweep: a fio-raw scenario measures the raw device, which "
				   "no factor of a sweep changes");
	return -1;
}

/* Whether this host can run o at all, before anything is changed: root,
 * its shape (the scenario sized to it), a memory cgroup controller,
 * stress-ng where used, no swap active; names the output directory
 * (plan_tiers checks memcg.mode=high against it, cmd_run makes it).  0, or 1 after a message. */
static int host_ready(struct run_opts *o)
{
	char host[64] = "host", date[32];
	struct swap_area areas[4];
	struct host_shape shape;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (require_root("swapbench run"))
		return 1;
	if (host_shape_read(&shape, &o->mem_total) < 0 || scenario_fit(&o->sc, &shape) < 0)
		return 1;
	if (o->sc.sizing[0])
		info("sized to this host: %s", o->sc.sizing);
	if (memcg_find(&o->root) < 0 && o->sc.kind != SCENARIO_FIO_RAW) {
		error("no memory cgroup controller is mounted: mount cgroup v2 with the memory "
		      "controller (or v1 memory); memory pressure is only ever made inside one");
		return 1;
	}
	if (o->sc.kind != SCENARIO_FIO_RAW && !strcmp(o->sc.engine, "stress-ng") &&
	    !have_command("stress-ng")) {
		error("'stress-ng' not found: apt-get install stress-ng (or make deps)");
		return 1;
	}
	r = swaps_read(areas, 4);
	if (r != 0) {
		if (r > 0)
			error("swap is active already ('%s'); each tier must be the only swap: swap it off first",
			      areas[0].name);
		return 1;
	}
	gethostname(host, sizeof host - 1);
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
	if (!o->out[0])
		snprintf(o->out, sizeof o->out, "results/%s-%s-%s", host, date, o->sc.name);
	return 0;
}

/* The tiers to run: the baseline asked for refused when it cannot fit,
 * every supported tier when none was named, a sweep's variants.  0, else
 * the exit status after a message. */
static int plan_tiers(struct run_opts *o, struct journal *j)
{
	char why[1200];
	unsigned ti;

	/* The default list skips a baseline that would not fit; one asked for
	 * is refused before anything runs, not after the other tiers' runs. */
	for (ti = 0; ti < o->ntiers; ti++)
		if (o->tiers[ti].lv[0].ops->baseline &&
		    !baseline_fits(o, o->tiers[ti].lv[0].ops, why, sizeof why)) {
			error("tier '%s' cannot run here: %s", o->tiers[ti].label, why);
			return 1;
		}
	if (!o->ntiers)
		supported_tiers(o, j);
	if (!o->ntiers) {
		error("no tier can run on this host ('swapbench doctor' says why)");
		return 1;
	}
	if (o->sweep.f && sweep_fill_all(&o->sweep) < 0)
		return 1;
	if (o->sweep.f && sweep_expand(&o->sweep, o->tiers, &o->ntiers,
				       sizeof o->tiers / sizeof o->tiers[0], why, sizeof why) < 0)
		return usage_error("run", "%s", why);
	if (o->sweep.f)
		info("sweep of %s over %u values: %u variants a round", sweep_factor_name(&o->sweep),
		     o->sweep.n, o->ntiers);
	/* memcg.mode=high, the scenario's or a sweep variant's: memory.high is
	 * cgroup v2's (memcg_create refuses it too, but only at a run). */
	for (ti = 0; ti < o->ntiers; ti++)
		if (entry_throttle(o, &o->tiers[ti]) && o->root.version != 2) {
			error("memcg.mode=high needs cgroup v2's memory.high; this host's memory "
			      "controller is cgroup v1's, which has none (memcg.mode=max runs here)");
			return 1;
		}
	return 0;
}

/* The result document before any run: schema, tool versions, settings
 * (the scenario, tiers as labels and as given, overrides, a sweep) and the
 * fingerprint.  New, or NULL after a message. */
static json_t *doc_new(const struct run_opts *o)
{
	json_t *doc, *settings, *tier_config = json_object(), *tl, *ov, *specs;
	unsigned i;

	doc = json_pack("{s:s, s:i, s:o, s:{s:i, s:s, s:s, s:i}, s:[]}",
			"schema", RUN_SCHEMA, "schema_version", RUN_SCHEMA_VERSION,
			"tool_versions", tool_versions(o),
			"settings", "repeats", (int)o->repeats,
			"out", o->out, "order", "interleaved, rotated", "quiet_deadline_s", QUIET_DEADLINE_S,
			"runs");
	if (!doc) {
		error("cannot build the result document for '%s' (out of memory or not UTF-8)", o->out);
		json_decref(tier_config);
		return NULL;
	}
	/* Parts built from the host's and the user's text: one that JSON
	 * cannot hold is reported and left out, not the document. */
	if (result_set(doc, "fingerprint", fingerprint(o, tier_config)) < 0)
		json_object_set_new(doc, "fingerprint", json_pack("{s:o}", "tier_config", json_object()));
	json_decref(tier_config);
	settings = json_object_get(doc, "settings");
	result_set(settings, "scenario", scenario_json(&o->sc));
	tl = json_array();
	specs = json_array();
	for (i = 0; i < o->ntiers; i++) {
		json_array_append_new(tl, json_string(o->tiers[i].label));
		json_array_append_new(specs, json_string(o->tiers[i].spec));
	}
	json_object_set_new(settings, "tiers", tl);
	ov = json_array();
	for (i = 0; i < o->nsets; i++)
		json_array_append_new(ov, json_string(o->sets[i]));
	json_object_set_new(settings, "overrides", ov);
	json_object_set_new(settings, "tier_specs", specs);
	if (o->sweep.f) {
		json_t *vals = json_array();

		for (i = 0; i < o->sweep.n; i++)
			json_array_append_new(vals, json_string(o->sweep.val[i]));
		json_object_set_new(settings, "sweep", json_pack("{s:s, s:o, s:b}",
				    "factor", sweep_factor_name(&o->sweep), "values", vals,
				    "numeric", sweep_numeric(&o->sweep)));
	}
	return doc;
}

/* Every run, interleaved and rotated (A B C, B C A, C A B ...), so that
 * drift hits every tier alike and no tier always goes first (after
 * bring-up of a cold machine, or just after another's teardown).  Counts
 * failed and invalid runs.  0, 1 when the machine was left unrestored
 * (stopped there), 128+N on signal N. */
static int run_rounds(const struct run_opts *o, struct journal *j, json_t *doc, unsigned *nfail,
		      unsigned *ninvalid)
{
	json_t *runs = json_object_get(doc, "runs");
	json_t *tier_config = json_object_get(json_object_get(doc, "fingerprint"), "tier_config");
	unsigned rep, ri, k, done = 0, total = o->repeats * o->sc.nratios * o->ntiers;
	uint64_t t_start = mono_ns();
	int rc = 0, r;

	for (rep = 1; rep <= o->repeats && rc < 128; rep++) {
		for (ri = 0; ri < o->sc.nratios && rc < 128; ri++) {
			for (k = 0; k < o->ntiers && rc < 128; k++) {
				size_t n = json_array_size(runs);
				unsigned at = (k + rep - 1) % o->ntiers;
				/* Time left: the runs so far at their mean, or before
				 * the first the workload's duration and 5 s of set-up
				 * and teardown (3 s a run on the test VM and on the
				 * H100 host, the nbd tier's included). */
				double per = done ? (double)(mono_ns() - t_start) / 1e9 / done
						  : o->sc.duration_s + 5.0, left;

				left = per * (total - done);
				info("run %u/%u: tier %s, repeat %u/%u, ratio %.2f; about %.0f %s left",
				     done + 1, total, o->tiers[at].label, rep, o->repeats, o->sc.ratios[ri],
				     left < 90 ? left : left / 60, left < 90 ? "s" : "min");
				r = run_one(o, j, &o->tiers[at], rep, o->sc.ratios[ri], runs, tier_config);
				if (json_array_size(runs) > n)
					json_object_set_new(json_array_get(runs, n), "position_in_round",
							    json_integer(k + 1));
				if (r >= 128)
					rc = r;
				else if (r < 0)
					(*nfail)++;
				if (json_array_size(runs) > n &&
				    !json_is_true(json_object_get(json_array_get(runs, n), "valid"))) {
					(*ninvalid)++;
					warn("tier '%s' repeat %u: invalid: %s", o->tiers[at].label, rep,
					     json_string_value(json_object_get(json_array_get(runs, n),
									       "invalid_reason")));
				}
				done++;
				if (!journal_empty(j)) {
					error("stopping: the machine is not restored");
					return 1;
				}
			}
		}
	}
	return rc;
}

int cmd_run(int argc, char **argv)
{
	static struct run_opts o;	/* large: tier specs */
	char docpath[PATH_MAX + 16];
	unsigned nfail = 0, ninvalid = 0;
	json_t *doc = NULL;
	struct journal j;
	int rc;

	memset(&o, 0, sizeof o);
	if ((rc = parse_args(argc, argv, &o)) >= 0 || (rc = host_ready(&o)))
		return rc;
	sig_install();
	o.progress = o.progress || isatty(2);
	if (journal_open(&j, false) < 0)
		return 1;
	rc = 1;
	if (recover_journal(&j) < 0)
		goto out_close;
	if (json_object_get(j.doc, "tier")) {
		error("a tier is up already (kept by 'swapbench tier up'); take it down first: "
		      "swapbench tier down");
		goto out_close;
	}
	/* The output directory once nothing is left to refuse. */
	if ((rc = plan_tiers(&o, &j)) || (rc = mkdir_p(o.out) < 0) || !(doc = doc_new(&o))) {
		rc = rc ? rc : 1;
		goto out_close;
	}
	rc = run_rounds(&o, &j, doc, &nfail, &ninvalid);
	if (o.sc.kind != SCENARIO_FIO_RAW)
		json_object_set_new(doc, "summary", result_summary(doc));
	snprintf(docpath, sizeof docpath, "%s/run.json", o.out);
	if (result_save(doc, docpath) < 0)
		rc = rc ? rc : 1;
	else
		info("%zu run(s), %u invalid, %u failed: %s", json_array_size(json_object_get(doc, "runs")),
		     ninvalid, nfail, docpath);
	if (rc == 0 && nfail)
		rc = 1;
out_close:
	json_decref(doc);
	journal_close(&j);
	return rc;
}
