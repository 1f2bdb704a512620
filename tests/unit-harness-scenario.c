/* Unit tests of the scenario parser (harness/scenario.c) and the PSI
 * total= parser (harness/sampler.c), fed by tests/fixtures/harness/.  Run
 * from the top directory (or with $top set):
 *   build/tests/unit-harness-scenario */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"
#include "sampler.h"
#include "scenario.h"
#include "unit.h"

static const char *fixture_path(const char *name)
{
	static char path[4096];
	const char *top = getenv("top");

	snprintf(path, sizeof path, "%s/tests/fixtures/harness/%s", top && *top ? top : ".", name);
	return path;
}

static char *fixture(const char *name)
{
	char *t = read_all(fixture_path(name));

	if (!t) {
		fprintf(stderr, "cannot read fixture '%s'\n", fixture_path(name));
		exit(1);
	}
	return t;
}

static void test_good(void)
{
	struct scenario s;

	CHECK(scenario_load(fixture_path("scenario-good.ini"), &s) == 0);
	CHECK(!strcmp(s.name, "scenario-good"));
	CHECK(!strcmp(s.summary, "all keys"));
	CHECK(s.kind == SCENARIO_RAMP);
	CHECK(s.limit_bytes == 0 && s.limit_pct == 25);
	CHECK(scenario_limit(&s, 1000ULL << 20) == (1000ULL << 20) / 100 * 25);
	CHECK(s.nratios == 3 && s.ratios[0] == 1.0 && s.ratios[1] == 1.25 && s.ratios[2] == 2.0);
	CHECK(s.workers == 3 && !strcmp(s.method, "flip"));
	CHECK(s.duration_s == 5 && s.timeout_s == 30 && s.seed == 7);
	CHECK(s.ntier == 2 && !strcmp(s.tier_key[0], "page-cluster") && !strcmp(s.tier_val[0], "0"));
	CHECK(!strcmp(s.compressibility, "2:1") && !strcmp(s.locality, "sequential"));
	CHECK(s.sample_interval_ms == 50 && s.probe_interval_ms == 200);
	CHECK(!strcmp(s.probe_cmd, "/bin/true"));
	CHECK(s.repeats == 2 && !strcmp(s.tiers, "zram,disk"));
}

static void test_defaults(void)
{
	struct scenario s;

	scenario_defaults(&s);
	CHECK(s.kind == SCENARIO_OVERCOMMIT && s.nratios == 1 && s.ratios[0] == 1.2);
	CHECK(scenario_limit(&s, 1ULL << 34) == 512ULL << 20);
	CHECK(s.sample_interval_ms == 100);
}

static void test_bad(void)
{
	static const char *const bad[] = {
		"scenario-unknown-key.ini", "scenario-bad-ratio.ini", "scenario-syntax.ini",
		"scenario-bad-limit.ini", "scenario-timeout.ini", "scenario-bad-tier-key.ini",
		"no-such-scenario.ini",
	};
	struct scenario s;
	size_t i;

	/* The messages go to stderr; tests/test-harness-run.sh checks their text. */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(scenario_load(fixture_path(bad[i]), &s) < 0);
}

static void test_path(void)
{
	char buf[4096];

	scenario_path("x/y.ini", buf, sizeof buf);
	CHECK(!strcmp(buf, "x/y.ini"));
	scenario_path("z.ini", buf, sizeof buf);
	CHECK(!strcmp(buf, "z.ini"));
	setenv("SWAPBENCH_SCENARIOS", "/d", 1);
	scenario_path("quick", buf, sizeof buf);
	CHECK(!strcmp(buf, "/d/quick.ini"));
	unsetenv("SWAPBENCH_SCENARIOS");
}

static void test_psi(void)
{
	char *mem = fixture("proc-pressure-memory-6.18.txt"), *cpu = fixture("proc-pressure-cpu-some-only.txt");
	uint64_t v = 1;

	CHECK(psi_total(mem, "some", &v) == 0 && v > 0);
	CHECK(psi_total(mem, "full", &v) == 0 && v > 0);
	CHECK(psi_total(mem, "ful", &v) < 0);	/* whole words only */
	CHECK(psi_total(cpu, "some", &v) == 0 && v == 0);
	CHECK(psi_total(cpu, "full", &v) < 0);
	CHECK(psi_total("some avg10=1.00 total=12x\n", "some", &v) < 0);
	CHECK(psi_total("some avg10=1.00 total=12\nfull avg10=0 total=34\n", "full", &v) == 0 && v == 34);
	free(mem);
	free(cpu);
}

/* "auto" values sized to a host: this 2-CPU, 24 GiB VM and a 16-CPU,
 * 125 GiB GPU host; explicit values are left alone. */
static void test_fit(void)
{
	const uint64_t MiB = 1ULL << 20, GiB = 1ULL << 30;
	struct host_shape vm = { .mem_total_bytes = 24 * GiB, .mem_available_bytes = 22 * GiB, .cpus = 2 },
			  gpu = { .mem_total_bytes = 125 * GiB, .mem_available_bytes = 120 * GiB, .cpus = 16 },
			  tiny = { .mem_total_bytes = GiB, .mem_available_bytes = 500 * MiB, .cpus = 1 },
			  big = { .mem_total_bytes = 1100 * GiB, .mem_available_bytes = 1024 * GiB, .cpus = 128 };
	unsigned i;
	struct scenario s;

	scenario_defaults(&s);
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && s.limit_auto);
	CHECK(scenario_set(&s, "workload.workers=auto") == 0 && s.workers_auto);
	CHECK(scenario_set(&s, "tier.size=auto") == 0);
	CHECK(scenario_fit(&s, &vm) == 0);
	CHECK(s.limit_bytes == 512 * MiB && s.workers == 2);
	CHECK(s.ntier == 1 && !strcmp(s.tier_val[0], "1024M"));	/* 1.2 x 512M -> at least 1G */
	CHECK(strstr(s.sizing, "memcg limit 512 MiB") && strstr(s.sizing, "2 workers"));
	CHECK(!s.limit_auto && !s.workers_auto);

	scenario_defaults(&s);
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && scenario_set(&s, "workload.workers=auto") == 0);
	CHECK(scenario_set(&s, "workload.ratio=1.5") == 0 && scenario_set(&s, "tier.size=auto") == 0);
	CHECK(scenario_fit(&s, &gpu) == 0);
	CHECK(s.limit_bytes == 2 * GiB && s.workers == 4 && !strcmp(s.tier_val[0], "4096M"));

	scenario_defaults(&s);		/* bounds: 256 MiB .. 4 GiB, 2 .. 8 workers */
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && scenario_set(&s, "workload.workers=auto") == 0);
	CHECK(scenario_fit(&s, &big) == 0 && s.limit_bytes == 4 * GiB && s.workers == 8);
	scenario_defaults(&s);
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && scenario_set(&s, "workload.workers=auto") == 0);
	CHECK(scenario_fit(&s, &tiny) < 0);	/* 1.2 x 256M is more than half of 500M */

	scenario_defaults(&s);		/* an explicit value wins over auto, and is not touched */
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && scenario_set(&s, "memcg.limit=1G") == 0);
	CHECK(scenario_set(&s, "workload.workers=auto") == 0 && scenario_set(&s, "workload.workers=3") == 0);
	CHECK(scenario_fit(&s, &tiny) == 0 && s.limit_bytes == GiB && s.workers == 3 && !s.sizing[0]);
	CHECK(scenario_set(&s, "workload.workers=autox") < 0 && scenario_set(&s, "memcg.limit=Auto") < 0);
	CHECK(s.stat_flush_ms == 50 && scenario_set(&s, "memcg.stat_flush_ms=0") == 0 && s.stat_flush_ms == 0);
	CHECK(scenario_set(&s, "memcg.stat_flush_ms=5") < 0 && scenario_set(&s, "memcg.stat_flush_ms=2001") < 0);
	CHECK(scenario_set(&s, "memcg.stat_flush_ms=10") == 0 && s.stat_flush_ms == 10);

	/* A [tier] key given again replaces it: an explicit size over auto is
	 * what runs and nothing claims otherwise; auto given many times is one
	 * note, never past the end of s.sizing. */
	scenario_defaults(&s);
	CHECK(scenario_set(&s, "tier.size=auto") == 0 && scenario_set(&s, "tier.size=2G") == 0);
	CHECK(s.ntier == 1 && !strcmp(s.tier_val[0], "2G"));
	CHECK(scenario_fit(&s, &vm) == 0 && !s.sizing[0] && !strcmp(s.tier_val[0], "2G"));
	scenario_defaults(&s);
	for (i = 0; i < 12; i++)
		CHECK(scenario_set(&s, "tier.size=auto") == 0);
	CHECK(scenario_set(&s, "memcg.limit=auto") == 0 && scenario_set(&s, "workload.workers=auto") == 0);
	CHECK(s.ntier == 1 && scenario_fit(&s, &vm) == 0 && strlen(s.sizing) < sizeof s.sizing);
	CHECK(strstr(s.sizing, "tier size 1024 MiB") && !strstr(strstr(s.sizing, "tier size") + 1, "tier size"));
	/* A share of MemTotal sizes the tier from the limit the run uses. */
	scenario_defaults(&s);
	CHECK(scenario_set(&s, "memcg.limit=10%") == 0 && scenario_set(&s, "tier.size=auto") == 0);
	CHECK(scenario_fit(&s, &gpu) == 0);	/* 12.5 GiB x 1.2 -> 16 GiB */
	CHECK(!strcmp(s.tier_val[0], "16384M"));
}

int main(void)
{
	test_fit();
	test_good();
	test_defaults();
	test_bad();
	test_path();
	test_psi();
	UNIT_DONE();
}
