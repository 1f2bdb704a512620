/* Scenario files: see scenario.h. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "log.h"
#include "parse.h"
#include "memcg.h"
#include "procfs.h"
#include "pattern.h"
#include "scenario.h"
#include "tier.h"
#include "workload.h"

static const char *const kind_names[] = { "overcommit", "ramp", "fio-raw" };

static const char *scenario_kind_name(enum scenario_kind k)
{
	return kind_names[k];
}

void scenario_defaults(struct scenario *s)
{
	memset(s, 0, sizeof *s);
	s->kind = SCENARIO_OVERCOMMIT;
	s->limit_bytes = 512ULL << 20;
	s->stat_flush_ms = MEMCG_FLUSH_MS;
	s->ratios[0] = 1.2;
	s->nratios = 1;
	s->workers = 1;
	snprintf(s->engine, sizeof s->engine, "stress-ng");
	snprintf(s->method, sizeof s->method, "rand-set");
	s->duration_s = 60;
	s->timeout_s = 120;
	s->seed = 42;
	snprintf(s->compressibility, sizeof s->compressibility, "incompressible");
	snprintf(s->locality, sizeof s->locality, "random");
	s->sample_interval_ms = 100;
	s->probe_interval_ms = 100;
	snprintf(s->probe_cmd, sizeof s->probe_cmd, "/bin/true");
	s->fio_size_bytes = 1ULL << 30;
	s->repeats = 3;
}

struct ctx {
	struct scenario *s;
	const char *path;
	int line;		/* set by handler on error (ini_parse returns it too) */
	char msg[256];
};

static int copy(char *dst, size_t len, const char *v)
{
	if (!*v || strlen(v) >= len)
		return -1;
	snprintf(dst, len, "%s", v);
	return 0;
}

static int uint_val(const char *v, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t u;

	if (parse_uint(v, min, max, &u) < 0)
		return -1;
	*out = (unsigned)u;
	return 0;
}

static int ratio_list(struct scenario *s, const char *v)
{
	char buf[256], *tok, *save = NULL, *end;
	double d;

	if (strlen(v) >= sizeof buf)
		return -1;
	snprintf(buf, sizeof buf, "%s", v);
	s->nratios = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		/* parse_double refuses nan and inf, which every comparison passes. */
		if (parse_double(tok, 0, 16, &d) < 0 || d <= 0 || s->nratios == SCENARIO_MAX_RATIOS)
			return -1;
		s->ratios[s->nratios++] = d;
	}
	return s->nratios ? 0 : -1;
}

static int limit_val(struct scenario *s, const char *v)
{
	size_t n = strlen(v);
	char buf[32];
	uint64_t u;

	s->limit_auto = false;
	if (!strcmp(v, "auto")) {
		s->limit_auto = true;
		s->limit_bytes = 0;
		s->limit_pct = 0;
		return 0;
	}
	if (n > 1 && v[n - 1] == '%' && n < sizeof buf) {
		snprintf(buf, sizeof buf, "%.*s", (int)(n - 1), v);
		if (parse_uint(buf, 1, 90, &u) < 0)
			return -1;
		s->limit_pct = (unsigned)u;
		s->limit_bytes = 0;
		return 0;
	}
	if (parse_size(v, &u) < 0 || u < (16ULL << 20))
		return -1;
	s->limit_bytes = u;
	s->limit_pct = 0;
	return 0;
}

/* One "section.key" with its expectation, for the message.  Long by
 * design: one branch per scenario key (its parser and the expectation its
 * error names), in the order of the file's sections; a new key is one
 * branch here and one line in scenario.h. */
static int handler(void *arg, const char *section, const char *key, const char *v)
{
	struct ctx *c = arg;
	struct scenario *s = c->s;
	const char *expect = NULL;
	int bad = 0;
	unsigned k;

#define IS(sec, k_) (!strcmp(section, sec) && !strcmp(key, k_))
	if (IS("scenario", "summary")) {
		bad = copy(s->summary, sizeof s->summary, v);
		expect = "a line of text";
	} else if (IS("scenario", "kind")) {
		expect = "overcommit, ramp or fio-raw";
		bad = -1;
		for (k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
			if (!strcmp(v, kind_names[k])) {
				s->kind = k;
				bad = 0;
			}
	} else if (IS("memcg", "limit")) {
		bad = limit_val(s, v);
		expect = "a size of 16M or more, a share of MemTotal such as 25%, or auto (sized to the host)";
	} else if (IS("memcg", "stat_flush_ms")) {
		bad = uint_val(v, 0, 2000, &s->stat_flush_ms);
		if (!bad && s->stat_flush_ms > 0 && s->stat_flush_ms < 10)
			bad = -1;
		expect = "milliseconds from 10 to 2000, or 0 (no reads: the kernel's own flush only)";
	} else if (IS("memcg", "mode")) {
		bad = strcmp(v, "max") && strcmp(v, "high") ? -1 : 0;
		s->throttle = !strcmp(v, "high");
		expect = "max (the limit is memory.max: reclaim, then the OOM killer) or high (memory.high: "
			 "reclaim and throttling; cgroup v2)";
	} else if (IS("workload", "ratio") || IS("workload", "ratios")) {
		bad = ratio_list(s, v);
		expect = "working set / limit, a finite number above 0 and at most 16 (ratios: up to 8, comma-separated)";
	} else if (IS("workload", "workers")) {
		s->workers_auto = !strcmp(v, "auto");
		bad = s->workers_auto ? 0 : uint_val(v, 1, 64, &s->workers);
		expect = "a number from 1 to 64, or auto (sized to the host)";
	} else if (IS("workload", "engine")) {
		expect = workload_names();
		bad = !workload_find(v) ? -1 : copy(s->engine, sizeof s->engine, v);
	} else if (IS("workload", "vm-method")) {
		bad = copy(s->method, sizeof s->method, v);
		expect = "a stress-ng --vm-method name";
	} else if (IS("workload", "duration_s")) {
		bad = uint_val(v, 1, 86400, &s->duration_s);
		expect = "seconds from 1 to 86400";
	} else if (IS("workload", "timeout_s")) {
		bad = uint_val(v, 1, 86400, &s->timeout_s);
		expect = "seconds from 1 to 86400";
	} else if (IS("workload", "seed")) {
		uint64_t u;

		bad = parse_uint(v, 0, UINT64_MAX, &u);
		s->seed = u;
		expect = "an unsigned number";
	} else if (IS("factors", "compressibility")) {
		expect = "incompressible, 2:1, 4:1 or zero";
		/* The names the touch engine and the toucher can make. */
		bad = pattern_words_for(v) < 0 ? -1 : copy(s->compressibility, sizeof s->compressibility, v);
	} else if (IS("factors", "locality")) {
		expect = "random or sequential";
		bad = strcmp(v, "random") && strcmp(v, "sequential") ? -1 :
		      copy(s->locality, sizeof s->locality, v);
	} else if (IS("sampling", "interval_ms")) {
		bad = uint_val(v, 10, 10000, &s->sample_interval_ms);
		expect = "milliseconds from 10 to 10000";
	} else if (IS("probe", "interval_ms")) {
		bad = uint_val(v, 10, 10000, &s->probe_interval_ms);
		expect = "milliseconds from 10 to 10000";
	} else if (IS("probe", "placement")) {
		expect = "outside (unrelated work) or inside (in the workload's cgroup)";
		bad = strcmp(v, "outside") && strcmp(v, "inside") ? -1 : 0;
		if (!bad)
			s->probe_inside = !strcmp(v, "inside");
	} else if (IS("probe", "cmd")) {
		bad = copy(s->probe_cmd, sizeof s->probe_cmd, v);
		expect = "an absolute path of a program, or a shell command line (with a space)";
		if (!bad && s->probe_cmd[0] != '/' && !strchr(s->probe_cmd, ' '))
			bad = -1;
	} else if (IS("fio", "size")) {
		uint64_t u;

		/* Whole MiB: fio preconditions it with 1 MiB writes. */
		bad = parse_size(v, &u) < 0 || u < (1ULL << 20) || u % (1ULL << 20) ? -1 : 0;
		if (!bad)
			s->fio_size_bytes = u;
		expect = "a size in whole MiB, 1M or more";
	} else if (IS("run", "repeats")) {
		bad = uint_val(v, 1, 100, &s->repeats);
		expect = "a number from 1 to 100";
	} else if (IS("run", "tiers")) {
		bad = copy(s->tiers, sizeof s->tiers, v);
		expect = "comma-separated tier names";
	} else if (!strcmp(section, "tier")) {
		const struct tier_param *tp;

		for (tp = tier_common_params; tp->name && strcmp(tp->name, key); tp++)
			;
		if (!tp->name) {
			if (!c->msg[0])
				snprintf(c->msg, sizeof c->msg, "unknown key '%s' in section [tier] (one of the "
				 "options every tier takes: 'swapbench tier --help')", key);
			return 0;
		}
		expect = "a value of at most 63 characters (checked when the tier is set up)";
		/* A key given again (a --set over the file's) replaces it. */
		for (k = 0; k < s->ntier && strcmp(s->tier_key[k], key); k++)
			;
		bad = k == 8 ? -1 : copy(s->tier_val[k], sizeof s->tier_val[0], v);
		if (!bad && k == s->ntier)
			snprintf(s->tier_key[s->ntier++], sizeof s->tier_key[0], "%s", key);
	} else {
		if (!c->msg[0])
			snprintf(c->msg, sizeof c->msg, "unknown key '%s' in section [%s]", key, section);
		return 0;
	}
#undef IS
	if (bad) {
		if (!c->msg[0])
			snprintf(c->msg, sizeof c->msg, "%s.%s: expected %s, got '%s'", section, key, expect, v);
		return 0;
	}
	return 1;
}

static int accept_all(void *arg, const char *section, const char *key, const char *v)
{
	(void)arg, (void)section, (void)key, (void)v;
	return 1;
}

/* A scenario file as inih reads it, through ini_read. */
struct ini_src {
	FILE *f;
	int line;		/* lines read so far */
	int too_long;		/* the first line longer than inih's buffer, 0 if none */
	int max;		/* inih's buffer, newline and NUL included */
};

/* inih's reader: fgets, except that a line longer than inih's buffer,
 * which inih would split and parse the rest of as a line of its own
 * ("ratio = 1.2<250 spaces>2" read as 2), ends the parse and is noted. */
static char *ini_read(char *str, int num, void *stream)
{
	struct ini_src *src = stream;
	size_t n;
	int c;

	if (!fgets(str, num, src->f))
		return NULL;
	src->line++;
	src->max = num;
	n = strlen(str);
	if ((n && str[n - 1] == '\n') || (int)n < num - 1)
		return str;
	c = fgetc(src->f);
	if (c == EOF || c == '\n')
		return str; /* the buffer held the whole line */
	src->too_long = src->line;
	return NULL;
}

/* ini_parse of PATH with FN, refusing a line too long for inih:
 * inih's result (0, the first bad line, -1 unreadable, -2 out of memory),
 * or -3 with *too_long set to the long line and *max to the limit. */
static int ini_parse_whole(const char *path, ini_handler fn, void *arg, int *too_long, int *max)
{
	struct ini_src src = { .f = fopen(path, "re") };
	int rc;

	if (!src.f)
		return -1;
	rc = ini_parse_stream(ini_read, &src, fn, arg);
	fclose(src.f);
	*too_long = src.too_long;
	*max = src.max;
	if (src.too_long && (rc == 0 || rc > src.too_long))
		return -3;
	return rc;
}

int scenario_load(const char *path, struct scenario *s)
{
	struct ctx c = { .s = s, .path = path };
	const char *base = strrchr(path, '/');
	size_t n;
	int line, too_long, max;

	scenario_defaults(s);
	n = strlen(path);
	if (n >= sizeof s->path) {
		error("scenario path too long: '%.64s...'", path);
		return -1;
	}
	memcpy(s->path, path, n + 1);
	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".ini"))
		n -= 4;
	snprintf(s->name, sizeof s->name, "%.*s", (int)n, base);
	line = ini_parse_whole(path, handler, &c, &too_long, &max);
	if (line == -3) {
		error("%s:%d: line longer than %d characters (split, its end would be read as a "
		      "line of its own)", path, too_long, max - 1);
		return -1;
	}
	if (line < 0) {
		error("cannot read scenario '%s': %s", path, line == -1 ? strerror(errno) : "out of memory");
		return -1;
	}
	/* inih reports the first error's line but goes on; a syntax error before
	 * the first bad key must not be named by that key's message. */
	if (line > 0 && c.msg[0]) {
		int syntax = ini_parse_whole(path, accept_all, NULL, &too_long, &max);

		if (syntax > 0 && syntax <= line)
			c.msg[0] = '\0';
	}
	if (line > 0) {
		error("%s:%d: %s", path, line, c.msg[0] ? c.msg : "syntax error (expected [section] or key = value)");
		return -1;
	}
	return scenario_check(s);
}

int scenario_check(const struct scenario *s)
{
	if (s->timeout_s <= s->duration_s) {
		error("%s: workload.timeout_s (%u) must exceed workload.duration_s (%u) "
		      "(--set workload.timeout_s=N raises it)", s->path, s->timeout_s, s->duration_s);
		return -1;
	}
	return 0;
}

int scenario_set(struct scenario *s, const char *assignment)
{
	struct ctx c = { .s = s, .path = s->path };
	char section[64], key[64];
	const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');

	if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1 ||
	    (size_t)(dot - assignment) >= sizeof section || (size_t)(eq - dot - 1) >= sizeof key) {
		error("--set: expected SECTION.KEY=VALUE (workload.ratio=1.5), got '%s'", assignment);
		return -1;
	}
	snprintf(section, sizeof section, "%.*s", (int)(dot - assignment), assignment);
	snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
	if (!handler(&c, section, key, eq + 1)) {
		error("--set %s", c.msg);
		return -1;
	}
	return 0;
}

void scenario_dir(char *buf, size_t len)
{
	data_dir("SWAPBENCH_SCENARIOS", "scenarios", ".", buf, len);
}

void scenario_path(const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];
	size_t n = strlen(name);

	if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".ini"))) {
		snprintf(buf, len, "%s", name);
		return;
	}
	scenario_dir(dir, sizeof dir);
	snprintf(buf, len, "%s/%s.ini", dir, name);
}

static uint64_t pow2_floor(uint64_t v)
{
	uint64_t p = 1;

	while (p <= v / 2)
		p *= 2;
	return p;
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p *= 2;
	return p;
}

/* Appends to s->sizing what scenario_fit chose, ", "-separated; a note
 * that does not fit is cut, never written past the end. */
static void sizing_note(struct scenario *s, const char *fmt, ...)
{
	size_t used = strlen(s->sizing);
	va_list ap;

	if (used + 3 >= sizeof s->sizing)
		return;
	if (used) {
		memcpy(s->sizing + used, ", ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(s->sizing + used, sizeof s->sizing - used, fmt, ap);
	va_end(ap);
}

int scenario_fit(struct scenario *s, const struct host_shape *h)
{
	const uint64_t MiB = 1ULL << 20, GiB = 1ULL << 30;
	double top = 0;
	uint64_t size, limit;
	unsigned i, t;

	s->sizing[0] = '\0';
	if (s->limit_auto) {
		uint64_t l = pow2_floor(h->mem_available_bytes / 32 ? h->mem_available_bytes / 32 : 1);

		s->limit_bytes = l < 256 * MiB ? 256 * MiB : l > 4 * GiB ? 4 * GiB : l;
		s->limit_auto = false;
		sizing_note(s, "memcg limit %llu MiB (MemAvailable %llu MiB / 32)",
			    (unsigned long long)(s->limit_bytes / MiB),
			    (unsigned long long)(h->mem_available_bytes / MiB));
	}
	if (s->workers_auto) {
		unsigned k = h->cpus / 4;

		s->workers = k < 2 ? 2 : k > 8 ? 8 : k;
		s->workers_auto = false;
		sizing_note(s, "%u workers (%u CPUs / 4, at least 2)", s->workers, h->cpus);
	}
	for (i = 0; i < s->nratios; i++)
		if (s->ratios[i] > top)
			top = s->ratios[i];
	limit = scenario_limit(s, h->mem_total_bytes);
	for (t = 0; t < s->ntier; t++) {
		if (strcmp(s->tier_key[t], "size") || strcmp(s->tier_val[t], "auto"))
			continue;
		size = pow2_ceil((uint64_t)(top * (double)limit));
		if (size < GiB)
			size = GiB;
		snprintf(s->tier_val[t], sizeof s->tier_val[t], "%lluM", (unsigned long long)(size / MiB));
		sizing_note(s, "tier size %llu MiB (the working set, %.2f x the limit, rounded up)",
			    (unsigned long long)(size / MiB), top);
	}
	if (s->sizing[0] && top * (double)limit > (double)h->mem_available_bytes / 2) {
		error("this host is too small for the scenario: its working set (%.0f MiB) is more "
		      "than half of MemAvailable (%llu MiB)", top * (double)limit / (double)MiB,
		      (unsigned long long)(h->mem_available_bytes / MiB));
		return -1;
	}
	return 0;
}

int host_shape_read(struct host_shape *h, uint64_t *mem_total)
{
	char buf[8192];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t total;

	if (read_text("/proc/meminfo", buf, sizeof buf) < 0 || kv_u64(buf, "MemTotal", &total) < 0 ||
	    kv_u64(buf, "MemAvailable", &h->mem_available_bytes) < 0) {
		error("cannot read MemTotal and MemAvailable from '/proc/meminfo'");
		return -1;
	}
	if (mem_total)
		*mem_total = total * 1024;
	h->mem_total_bytes = total * 1024;
	h->mem_available_bytes *= 1024;
	h->cpus = cpus > 0 ? (unsigned)cpus : 1;
	return 0;
}

uint64_t scenario_limit(const struct scenario *s, uint64_t mem_total)
{
	if (s->limit_bytes)
		return s->limit_bytes;
	return mem_total / 100 * s->limit_pct;
}

json_t *scenario_json(const struct scenario *s)
{
	json_t *r = json_array(), *t = json_object(), *o;
	unsigned i;

	for (i = 0; i < s->nratios; i++)
		json_array_append_new(r, json_real(s->ratios[i]));
	for (i = 0; i < s->ntier; i++)
		json_object_set_new(t, s->tier_key[i], json_string(s->tier_val[i]));
	o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:o, s:i, s:s, s:i, s:i, s:I, s:i, s:i, s:s, s:o}",
			 "name", s->name, "file", s->path, "kind", scenario_kind_name(s->kind),
			 "memcg_limit_bytes", s->limit_bytes ? (json_int_t)s->limit_bytes : (json_int_t)0,
			 "memcg_limit_pct_of_memtotal", (int)s->limit_pct,
			 "ratios", r, "workers", (int)s->workers, "vm_method", s->method,
			 "duration_s", (int)s->duration_s, "timeout_s", (int)s->timeout_s,
			 "seed", (json_int_t)s->seed, "sample_interval_ms", (int)s->sample_interval_ms,
			 "probe_interval_ms", (int)s->probe_interval_ms, "probe_cmd", s->probe_cmd,
			 "tier_settings", t);
	if (o) {
		json_object_set_new(o, "engine", json_string(s->engine));
		json_object_set_new(o, "probe_placement", json_string(s->probe_inside ? "inside" : "outside"));
		if (s->sizing[0])
			json_object_set_new(o, "host_sizing", json_string(s->sizing));
		json_object_set_new(o, "memcg_stat_flush_ms", json_integer(s->stat_flush_ms));
		json_object_set_new(o, "memcg_mode", json_string(s->throttle ? "high" : "max"));
	}
	if (o && s->kind == SCENARIO_FIO_RAW)
		json_object_set_new(o, "fio_size_bytes", json_integer((json_int_t)s->fio_size_bytes));
	return o;
}
