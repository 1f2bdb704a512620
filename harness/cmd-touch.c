/* swapbench touch: the built-in workload.  Worker processes each hold a
 * share of --bytes of anonymous memory whose pages carry a checkable
 * pattern of declared compressibility (common/pattern.h), then, until
 * --duration ends, pick a page (at random or in sequence), verify it and
 * rewrite it with its next generation.  Unlike stress-ng's --vm methods,
 * whose data compresses about 3:1 whatever is asked, the data here is as
 * compressible as declared, and a page that comes back wrong from swap is
 * counted.  `swapbench run` starts it inside the workload cgroup for
 * scenarios with [workload] engine = touch.  Try:
 *   build/swapbench touch --bytes 64M --duration 2 --compressibility 2:1 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "parse.h"
#include "pattern.h"
#include "run.h"

#define TOUCH_MAX_WORKERS 256
#define TOUCH_REPORTED 10	/* mismatches described per worker, then counted */

static const char usage_text[] =
	"usage: swapbench touch --bytes N [--workers W] [--duration S]\n"
	"                       [--compressibility C] [--locality L] [--seed S] [--output FILE]\n"
	"\n"
	"The built-in workload: W processes share N bytes of anonymous memory, fill\n"
	"every 4 KiB page with a checkable pattern, then for S seconds pick a page,\n"
	"verify it and rewrite it (one op).  Prints (or writes to FILE) one JSON\n"
	"object: ops, ops_per_s, mismatches, ...  Run it inside a memory cgroup\n"
	"smaller than N to make it swap; 'swapbench run' does that for scenarios\n"
	"with [workload] engine = touch.\n"
	"\n"
	"  --bytes N            memory in all (K/M/G suffixes, powers of 1024)\n"
	"  --workers W          processes, each with N/W (default 1)\n"
	"  --duration S         seconds of touching after the fill (default 10)\n"
	"  --compressibility C  incompressible (default), 2:1, 4:1 or zero\n"
	"  --locality L         random (default) or sequential\n"
	"  --seed S             pattern and page-order seed (default 42)\n"
	"  --output FILE        write the JSON there instead of stdout\n"
	"\n"
	"Exit status: 0 every page read back intact, 1 a mismatch or a runtime\n"
	"error, 2 usage error.\n";

struct touch_opts {
	uint64_t bytes, workers, duration_s, seed;
	unsigned random_words;
	bool sequential;
	bool corrupt;		/* $SWAPBENCH_TEST_TOUCH_CORRUPT: a test build's hook */
	const char *compressibility, *output;
};

/* One worker's tally, in memory shared with the parent. */
struct tally {
	uint64_t ops, mismatches, fill_ns;
	int failed;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void worker(const struct touch_opts *o, unsigned id, uint64_t pages, struct tally *t)
{
	size_t len = (size_t)pages * PATTERN_PAGE;
	unsigned char *mem, *gen;
	uint64_t pg = 0, rng = o->seed * 2654435761u + id + 1, want, deadline, t0, seed = o->seed + id;
	unsigned k = 0;
	int bad;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gen = calloc(pages, 1);
	if (mem == MAP_FAILED || !gen) {
		error("worker %u: cannot map %" PRIu64 " bytes: %m", id, (uint64_t)len);
		t->failed = 1;
		return;
	}
	/* 4 KiB swap slots, as a program with small pages sees them. */
	madvise(mem, len, MADV_NOHUGEPAGE);
	t0 = mono_ns();
	for (pg = 0; pg < pages; pg++)
		pattern_fill((uint64_t *)(mem + pg * PATTERN_PAGE), pattern_key(seed, 0, pg),
			     o->random_words);
	t->fill_ns = mono_ns() - t0;
	/* Test hook: one flipped bit, as swap that lost a write would leave. */
	if (o->corrupt && id == 0)
		mem[PATTERN_PAGE / 2] ^= 1;
	deadline = mono_ns() + o->duration_s * 1000000000ULL;
	for (pg = 0;; k++) {
		uint64_t *w;

		if ((k & 63) == 0 && mono_ns() >= deadline)
			break;
		pg = o->sequential ? (pg + 1) % pages : xorshift(&rng) % pages;
		w = (uint64_t *)(mem + pg * PATTERN_PAGE);
		bad = pattern_check(w, pattern_key(seed, gen[pg], pg), o->random_words, &want);
		if (bad >= 0 && t->mismatches++ < TOUCH_REPORTED)
			error("worker %u: page %" PRIu64 " generation %u word %d: expected 0x%016" PRIx64
			      ", got 0x%016" PRIx64, id, pg, gen[pg], bad, want, w[bad]);
		gen[pg]++;
		pattern_fill(w, pattern_key(seed, gen[pg], pg), o->random_words);
		t->ops++;
	}
	munmap(mem, len);
	free(gen);
}

/* The touch engine's command: options (one case each), the mapping, the
 * workers, the summary; long because its option table and its checks are
 * in it. */
int cmd_touch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "compressibility", required_argument, NULL, 'c' },
		{ "locality", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct touch_opts o = { .workers = 1, .duration_s = 10, .seed = 42,
				.random_words = PATTERN_WORDS, .compressibility = "incompressible" };
	struct tally *tallies, sum = { 0 };
	uint64_t pages, t0, elapsed;
	pid_t pids[TOUCH_MAX_WORKERS];
	unsigned i, started = 0;
	int c, words, status, rc = 0;
	FILE *out = stdout;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+b:w:d:c:l:s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_size(optarg, &o.bytes) < 0 || o.bytes < PATTERN_PAGE)
				return usage_error("touch", "--bytes: expected a size of at least 4K like 768M, got '%s'", optarg);
			break;
		case 'w':
			if (parse_uint(optarg, 1, TOUCH_MAX_WORKERS, &o.workers) < 0)
				return usage_error("touch", "--workers: expected a number from 1 to 256, got '%s'", optarg);
			break;
		case 'd':
			if (parse_uint(optarg, 0, 86400, &o.duration_s) < 0)
				return usage_error("touch", "--duration: expected seconds from 0 to 86400, got '%s'", optarg);
			break;
		case 'c':
			words = pattern_words_for(optarg);
			if (words < 0)
				return usage_error("touch", "--compressibility: expected incompressible, 2:1, 4:1 or zero, "
						   "got '%s'", optarg);
			o.random_words = (unsigned)words;
			o.compressibility = optarg;
			break;
		case 'l':
			if (strcmp(optarg, "random") && strcmp(optarg, "sequential"))
				return usage_error("touch", "--locality: expected random or sequential, got '%s'", optarg);
			o.sequential = !strcmp(optarg, "sequential");
			break;
		case 's':
			if (parse_uint(optarg, 0, UINT64_MAX, &o.seed) < 0)
				return usage_error("touch", "--seed: expected a decimal integer, got '%s'", optarg);
			break;
		case 'o': o.output = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default:
			fprintf(stderr, "Try 'swapbench touch --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("touch", "unexpected argument '%s'", argv[optind]);
	if (!o.bytes)
		return usage_error("touch", "--bytes is required");
#ifdef SWAPBENCH_TEST_HOOKS
	/* Only in build/swapbench-test: proves that a wrong page is caught. */
	o.corrupt = getenv("SWAPBENCH_TEST_TOUCH_CORRUPT") != NULL;
#endif
	pages = o.bytes / PATTERN_PAGE / o.workers;
	if (!pages)
		return usage_error("touch", "--bytes: under one page per worker");
	if (pages > SIZE_MAX / PATTERN_PAGE)
		return usage_error("touch", "--bytes: too large for this machine");
	if (o.output && !(out = fopen(o.output, "we"))) {
		error("cannot write '%s': %m", o.output);
		return 1;
	}
	tallies = mmap(NULL, o.workers * sizeof *tallies, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tallies == MAP_FAILED) {
		error("cannot map the workers' tallies: %m");
		rc = 1;
		goto out;
	}
	t0 = mono_ns();
	for (i = 0; i < o.workers; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			error("cannot start worker %u: %m", i);
			rc = 1;
			break;
		}
		if (pid == 0) {
			worker(&o, i, pages, &tallies[i]);
			_exit(tallies[i].failed ? 1 : 0);
		}
		pids[started++] = pid;
	}
	for (i = 0; i < started; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			if (WIFSIGNALED(status))
				error("worker %u killed by signal %d", i, WTERMSIG(status));
			rc = 1;
		}
		sum.ops += tallies[i].ops;
		sum.mismatches += tallies[i].mismatches;
		if (tallies[i].fill_ns > sum.fill_ns)
			sum.fill_ns = tallies[i].fill_ns;
	}
	elapsed = mono_ns() - t0;
	if (sum.mismatches) {
		error("%" PRIu64 " page(s) read back wrong: memory came back corrupted from swap",
		      sum.mismatches);
		rc = 1;
	}
	fprintf(out, "{\"bytes\":%" PRIu64 ",\"workers\":%" PRIu64 ",\"pages\":%" PRIu64
		",\"compressibility\":\"%s\",\"locality\":\"%s\",\"seed\":%" PRIu64
		",\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,\"mismatches\":%" PRIu64
		",\"fill_ns\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64 "}\n",
		pages * o.workers * PATTERN_PAGE, o.workers, pages * o.workers, o.compressibility,
		o.sequential ? "sequential" : "random", o.seed, sum.ops,
		o.duration_s ? (double)sum.ops / (double)o.duration_s : 0.0, sum.mismatches,
		sum.fill_ns, elapsed);
	munmap(tallies, o.workers * sizeof *tallies);
out:
	if (out != stdout && fclose(out) != 0) {
		error("cannot write '%s': %m", o.output);
		rc = 1;
	}
	return rc;
}
