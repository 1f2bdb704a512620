/* User-space OOM daemons' default policies, one row each: see
 * oom-daemons.h.  To add a daemon: one judge function and one row in
 * `daemons`.  Try: build/tests/unit-harness-oom-daemons
 *
 * Where the defaults come from (the sources were read for these facts):
 *
 * systemd-oomd, systemd main (v259/v260 man pages; the defaults are the
 * same since v247, DefaultMemoryPressureDurationSec= since v248):
 *   oomd.conf(5), https://www.freedesktop.org/software/systemd/man/latest/oomd.conf.html
 *     DefaultMemoryPressureLimit=60%, DefaultMemoryPressureDurationSec=30s
 *     ("30 seconds when unset or 0"), SwapUsedLimit=90%; the pressure is
 *     "the fraction of time in a 10 second window in which all tasks in the
 *     control group were delayed", i.e. the "full" avg10.
 *   https://github.com/systemd/systemd src/oom/oomd-manager.h:
 *     DEFAULT_MEM_PRESSURE_LIMIT_PERCENT 60, DEFAULT_MEM_PRESSURE_DURATION_USEC
 *     30 s, DEFAULT_SWAP_USED_LIMIT_PERCENT 90, MEM_PRESSURE_INTERVAL_USEC 1 s,
 *     SWAP_INTERVAL_USEC 150 ms.
 *   src/oom/oomd-util.c: reads the "full" line of the cgroup's
 *     memory.pressure; a poll whose avg10 is strictly above the limit starts
 *     the clock (if not started), a poll at or under it stops it; the cgroup
 *     is acted on at the first poll where now - start >= the duration.  The
 *     swap rule acts when MemAvailable < (100 - 90)% of MemTotal and SwapFree
 *     < 10% of SwapTotal, both strict, so never without swap.
 *   Units opt in: ManagedOOMMemoryPressure= and ManagedOOMSwap= default to
 *   "auto" (not acted on), and a unit may set its own
 *   ManagedOOMMemoryPressureLimit= and ManagedOOMMemoryPressureDurationSec=
 *   (distributions that enable oomd on desktops do, for user@.service).  The
 *   rows judge the upstream defaults as if the workload's cgroup were a
 *   monitored one.
 *
 * earlyoom v1.7 (Debian 12, Ubuntu 24.04), https://github.com/rfjakob/earlyoom
 * MANPAGE.md, README.md, main.c/kill.c (lowmem_sig), meminfo.c:
 *   -m 10 -s 10: SIGTERM once MemAvailable <= 10% of MemTotal *and* SwapFree
 *   <= 10% of SwapTotal, SIGKILL once both are <= 5%.  With no swap,
 *   SwapFree% is taken as 0, so memory alone decides.  It polls every 100 ms
 *   to 1 s, the nearer the limits the more often.  v1.8 measures memory
 *   against MemAvailable + AnonPages instead of MemTotal.
 *
 * The kernel's avg10 (kernel/sched/psi.c): every 2 s (PSI_FREQ, 2*HZ+1
 * ticks) the period's stall time, as a whole percent of the period
 * (truncated), is folded into the average with weight 1 - 1677/2048
 * (EXP_10s, 2048/e^(2/10)) in 11-bit fixed point, rounded up while it rises
 * (calc_load); the files print it with two decimals.  total= is the
 * aggregate the averages are computed from. */
#include "oom-daemons.h"

#define NS_PER_S 1000000000ULL

/* --- the kernel's avg10, rebuilt from the cumulative totals ------------------
 *
 * Why the kernel's decay and not the stall share of the last 10 s: oomd
 * compares avg10, and avg10 is not a window.  After a step from 0 to 80%
 * it passes 60% after 7 periods (14 s) where a 10-s window passes it after
 * 7.5 s, and it falls back under 60% about 4 s after the step where a
 * window would after 2.5 s: a 40-s step keeps a window above 60% for 35 s
 * but avg10 for about 30, and against a 30-s duration that decides.  What the
 * samples cannot tell is the kernel's phase: the periods here start at the
 * first sample, the kernel's when the cgroup was made, so a second
 * reported here can be up to 2 s off (and oomd's 1-s poll adds up to 1 s).
 *
 * Stall is spread over the time between two samples evenly; time no trusted
 * interval covers adds no stall (a lower bound: unknown never looks like
 * pressure) and is counted as unknown. */

#define PSI_PERIOD_NS	(2 * NS_PER_S)
#define PSI_FSHIFT	11
#define PSI_FIXED_1	(1UL << PSI_FSHIFT)
#define PSI_EXP_10S	1677UL

struct psi_walk {
	uint64_t t0, t_end;		/* the series */
	uint64_t p_end;			/* the end of the period being filled */
	uint64_t stall_ns, covered_ns;	/* in it, from trusted intervals */
	unsigned long avg10;		/* percent << PSI_FSHIFT */
	uint64_t unknown_ns;
	bool judged;			/* a period had data */
	void (*period_done)(struct psi_walk *w);	/* sees avg10 at p_end */
	void *ctx;
};

/* LOAD moved towards ACTIVE by the 10-s weight, as calc_load() does. */
static unsigned long psi_fold(unsigned long load, unsigned long active)
{
	unsigned long v = load * PSI_EXP_10S + active * (PSI_FIXED_1 - PSI_EXP_10S);

	if (active >= load)
		v += PSI_FIXED_1 - 1;
	return v / PSI_FIXED_1;
}

/* avg10 as the file prints it, in hundredths of a percent. */
static unsigned long psi_hundredths(unsigned long avg)
{
	return (avg >> PSI_FSHIFT) * 100 + (((avg & (PSI_FIXED_1 - 1)) * 100) >> PSI_FSHIFT);
}

static void psi_finish_period(struct psi_walk *w)
{
	uint64_t stall = w->stall_ns < PSI_PERIOD_NS ? w->stall_ns : PSI_PERIOD_NS;
	uint64_t covered = w->covered_ns < PSI_PERIOD_NS ? w->covered_ns : PSI_PERIOD_NS;
	unsigned long pct = (unsigned long)(stall * 100 / PSI_PERIOD_NS);

	w->unknown_ns += PSI_PERIOD_NS - covered;
	w->judged |= covered > 0;
	w->avg10 = psi_fold(w->avg10, pct << PSI_FSHIFT);
	w->period_done(w);
	w->p_end += PSI_PERIOD_NS;
	w->stall_ns = w->covered_ns = 0;
}

/* Finishes every period that ends by T. */
static void psi_advance(struct psi_walk *w, uint64_t t)
{
	while (w->p_end <= t)
		psi_finish_period(w);
}

/* A trusted interval [A, B) holding STALL ns (STALL <= B - A), split over
 * the periods it spans in proportion to time. */
static void psi_add(struct psi_walk *w, uint64_t a, uint64_t b, uint64_t stall)
{
	uint64_t from = a, done = 0;

	psi_advance(w, a);
	while (from < b) {
		uint64_t to = b < w->p_end ? b : w->p_end;
		uint64_t upto = stall * (to - a) / (b - a);

		w->stall_ns += upto - done;
		w->covered_ns += to - from;
		done = upto;
		from = to;
		if (from == w->p_end)
			psi_finish_period(w);
	}
}

/* The stall (full) between two PSI samples, or false when the pair cannot
 * be trusted: a total fell (the cgroup was recreated or the counter was
 * reset) or grew faster than the clock (beyond an eighth and 1 ms of
 * slack for when the totals and the timestamp were taken), or a hole. */
static bool psi_interval(const struct oom_sample *p, const struct oom_sample *q, uint64_t *stall_ns)
{
	uint64_t dt = q->t_ns - p->t_ns, most_us = (dt + dt / 8) / 1000 + 1000;
	uint64_t full_us, some_us;

	if (dt > OOM_GAP_NS || q->full_us < p->full_us || q->some_us < p->some_us)
		return false;
	full_us = q->full_us - p->full_us;
	some_us = q->some_us - p->some_us;
	if (full_us > most_us || some_us > most_us)
		return false;
	*stall_ns = full_us * 1000 < dt ? full_us * 1000 : dt;
	return true;
}

/* Walks the PSI samples through the periods; calls w->period_done at the
 * end of each period that ends within the series. */
static void psi_walk(struct psi_walk *w, const struct oom_sample *s, size_t n)
{
	const struct oom_sample *prev = NULL;
	uint64_t stall;
	size_t i;

	w->t0 = s[0].t_ns;
	w->t_end = s[n - 1].t_ns;
	w->p_end = w->t0 + PSI_PERIOD_NS;
	for (i = 0; i < n; i++) {
		/* Out of the series, or not after the last one used: dropped,
		 * so that no stretch of time is counted twice. */
		if (!s[i].psi_known || s[i].t_ns < w->t0 || s[i].t_ns > w->t_end ||
		    (prev && s[i].t_ns <= prev->t_ns))
			continue;
		if (prev && psi_interval(prev, &s[i], &stall))
			psi_add(w, prev->t_ns, s[i].t_ns, stall);
		prev = &s[i];
	}
	psi_advance(w, w->t_end);
}

/* --- systemd-oomd: memory pressure ------------------------------------------- */

#define OOMD_PRESSURE_LIMIT_PCT		60
#define OOMD_PRESSURE_DURATION_S	30

struct oomd_pressure {
	struct oom_call *call;
	bool above;
	uint64_t since_s;		/* the poll that first saw it above */
};

/* XXX oomd also skips a cgroup that has not reclaimed (pgscan) in the last
 * 30 s; a cgroup stalled at its memory limit is reclaiming, so that is
 * taken as met. */
static void oomd_pressure_period(struct psi_walk *w)
{
	struct oomd_pressure *o = w->ctx;
	unsigned long h = psi_hundredths(w->avg10);
	uint64_t k = (w->p_end - w->t0) / NS_PER_S, last = k + PSI_PERIOD_NS / NS_PER_S;

	if (w->covered_ns && h / 100.0 > o->call->peak)
		o->call->peak = h / 100.0;
	/* oomd polls each second; the polls until the next period's end see
	 * this period's average. */
	for (; k < last && w->t0 + k * NS_PER_S <= w->t_end; k++) {
		if (h <= OOMD_PRESSURE_LIMIT_PCT * 100UL) {
			o->above = false;
			continue;
		}
		if (!o->above) {
			o->above = true;
			o->since_s = k;
		}
		if (!o->call->fired && k - o->since_s >= OOMD_PRESSURE_DURATION_S) {
			o->call->fired = true;
			o->call->at_s = (double)k;
		}
	}
}

static void oomd_pressure(const struct oom_sample *s, size_t n, struct oom_call *c)
{
	struct oomd_pressure o = { .call = c };
	struct psi_walk w = { .period_done = oomd_pressure_period, .ctx = &o };

	psi_walk(&w, s, n);
	c->unknown_s = (double)w.unknown_ns / NS_PER_S;
	if (!w.judged)
		c->peak = -1;
}

/* --- thresholds on available memory and free swap ----------------------------- */

/* Each judged sample in turn: FIRES says whether the rule holds and sets
 * the headroom (the larger of available memory % and free swap %, what
 * must fall for both to be low).  Holes longer than OOM_GAP_NS between
 * usable samples, and at either end of the series, are unknown. */
static void judge_thresholds(const struct oom_sample *s, size_t n, struct oom_call *c,
			     bool (*fires)(const struct oom_sample *s, double *headroom))
{
	uint64_t t0 = s[0].t_ns, t_end = s[n - 1].t_ns, last = t0, unknown = 0;
	double headroom;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct oom_sample *x = &s[i];

		if (!x->mem_known || !x->mem_total_bytes || x->mem_available_bytes > x->mem_total_bytes ||
		    x->swap_free_bytes > x->swap_total_bytes || x->t_ns < last || x->t_ns > t_end)
			continue;
		if (x->t_ns - last > OOM_GAP_NS)
			unknown += x->t_ns - last;
		last = x->t_ns;
		if (fires(x, &headroom) && !c->fired) {
			c->fired = true;
			c->at_s = (double)(x->t_ns - t0) / NS_PER_S;
		}
		if (c->peak < 0 || headroom < c->peak)
			c->peak = headroom;
	}
	if (t_end - last > OOM_GAP_NS)
		unknown += t_end - last;
	c->unknown_s = (double)unknown / NS_PER_S;
}

static double pct_of(uint64_t part, uint64_t whole)
{
	return (double)part * 100 / (double)whole;
}

/* --- systemd-oomd: swap ------------------------------------------------------- */

#define OOMD_SWAP_USED_LIMIT_PCT	90

static bool oomd_swap_fires(const struct oom_sample *s, double *headroom)
{
	uint64_t mem_min = s->mem_total_bytes / 100 * (100 - OOMD_SWAP_USED_LIMIT_PCT) +
			   s->mem_total_bytes % 100 * (100 - OOMD_SWAP_USED_LIMIT_PCT) / 100;
	uint64_t swap_min = s->swap_total_bytes / 100 * (100 - OOMD_SWAP_USED_LIMIT_PCT) +
			    s->swap_total_bytes % 100 * (100 - OOMD_SWAP_USED_LIMIT_PCT) / 100;
	double mem = pct_of(s->mem_available_bytes, s->mem_total_bytes);
	/* No swap is none used: never over the limit. */
	double swap = s->swap_total_bytes ? pct_of(s->swap_free_bytes, s->swap_total_bytes) : 100;

	*headroom = mem > swap ? mem : swap;
	return s->mem_available_bytes < mem_min && s->swap_free_bytes < swap_min;
}

static void oomd_swap(const struct oom_sample *s, size_t n, struct oom_call *c)
{
	judge_thresholds(s, n, c, oomd_swap_fires);
}

/* --- earlyoom ------------------------------------------------------------------ */

#define EARLYOOM_MEM_MIN_PCT	10.0	/* -m */
#define EARLYOOM_SWAP_MIN_PCT	10.0	/* -s */

static bool earlyoom_fires(const struct oom_sample *s, double *headroom)
{
	double mem = pct_of(s->mem_available_bytes, s->mem_total_bytes);
	/* No swap counts as none free: memory alone decides. */
	double swap = s->swap_total_bytes ? pct_of(s->swap_free_bytes, s->swap_total_bytes) : 0;

	*headroom = mem > swap ? mem : swap;
	return mem <= EARLYOOM_MEM_MIN_PCT && swap <= EARLYOOM_SWAP_MIN_PCT;
}

static void earlyoom(const struct oom_sample *s, size_t n, struct oom_call *c)
{
	judge_thresholds(s, n, c, earlyoom_fires);
}

/* --- the table ----------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *policy;
	const char *peak_key;
	void (*judge)(const struct oom_sample *s, size_t n, struct oom_call *c);
} daemons[] = {
	{ "systemd_oomd_pressure", "memory.pressure full avg10 > 60% for 30 s (polled each second)",
	  "full_avg10_max_pct", oomd_pressure },
	{ "systemd_oomd_swap", "available memory < 10% and free swap < 10% (SwapUsedLimit=90%)",
	  "headroom_min_pct", oomd_swap },
	{ "earlyoom", "available memory <= 10% and free swap <= 10%, no swap as 0% free (-m 10 -s 10)",
	  "headroom_min_pct", earlyoom },
};

size_t oom_daemon_count(void)
{
	return sizeof daemons / sizeof daemons[0];
}

size_t oom_daemons_judge(const struct oom_sample *s, size_t n, struct oom_call *out, size_t len)
{
	size_t i;

	for (i = 0; i < oom_daemon_count() && i < len; i++) {
		out[i] = (struct oom_call){
			.daemon = daemons[i].name, .policy = daemons[i].policy,
			.peak_key = daemons[i].peak_key, .at_s = -1, .peak = -1,
		};
		if (n)
			daemons[i].judge(s, n, &out[i]);
	}
	return oom_daemon_count();
}
