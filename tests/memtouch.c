/* memtouch: fill anonymous memory with a checkable pattern and read it back,
 * so that memory pushed out to swap and faulted back in is proven intact.
 * Every 4 KiB page gets its own pseudo-random words (derived from the seed,
 * the pass and the page index), so pages are neither alike nor compressible
 * and a page returned from the wrong slot or a stale earlier pass is caught.
 * Each pass writes every page, then verifies every page.  Run inside a memory
 * cgroup smaller than --bytes to force swapping:
 *
 *   build/tests/memtouch --bytes 768M --passes 2 --seed 1
 *
 * prints one JSON line; exit 0 when every page matched, 1 on a mismatch or a
 * runtime error, 2 on a usage error. */
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "log.h"
#include "pattern.h"
#include "parse.h"

#define PAGE_BYTES PATTERN_PAGE
/* Mismatching pages described on stderr before we only count them. */
#define MAX_REPORTED 10

static const char usage_text[] =
	"usage: memtouch --bytes N [--passes K] [--seed S]\n"
	"\n"
	"Allocates N bytes of anonymous memory, writes a pseudo-random pattern\n"
	"to every 4 KiB page and reads it all back, K times, then prints\n"
	"{\"bytes\":...,\"pages\":...,\"mismatches\":...,\"elapsed_ns\":...}.\n"
	"\n"
	"  --bytes N    memory to touch; K/M/G/T suffixes are powers of 1024\n"
	"  --passes K   write+verify passes, each with a fresh pattern (default 2)\n"
	"  --seed S     pattern seed, a decimal integer (default 1)\n"
	"  --help       show this text\n"
	"\n"
	"Exit status: 0 all pages matched, 1 mismatch or runtime error,\n"
	"2 usage error.\n";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int usage_error(const char *msg, const char *arg)
{
	error("%s '%s'", msg, arg);
	fprintf(stderr, "Try 'memtouch --help' for more information.\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "passes", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t bytes = 0, passes = 2, seed = 1, pages, pass, pg;
	uint64_t mismatches = 0, t0, write_ns = 0, verify_ns = 0, t;
	unsigned char *mem;
	size_t len;
	int c;

	log_init("memtouch", LOG_INFO);
	while ((c = getopt_long(argc, argv, "b:p:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_size(optarg, &bytes) < 0 || bytes == 0)
				return usage_error("--bytes: expected a size above 0 like 768M, got", optarg);
			break;
		case 'p':
			if (parse_uint(optarg, 1, 1000000, &passes) < 0)
				return usage_error("--passes: expected an integer from 1 to 1000000, got", optarg);
			break;
		case 's':
			if (parse_uint(optarg, 0, UINT64_MAX, &seed) < 0)
				return usage_error("--seed: expected a decimal integer, got", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'memtouch --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (bytes == 0) {
		error("--bytes is required");
		fprintf(stderr, "Try 'memtouch --help' for more information.\n");
		return 2;
	}

	pages = (bytes + PAGE_BYTES - 1) / PAGE_BYTES;
	if (pages > SIZE_MAX / PAGE_BYTES) {
		error("--bytes: %" PRIu64 " is too large for this machine", bytes);
		return 2;
	}
	len = (size_t)pages * PAGE_BYTES;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		error("mmap %" PRIu64 " bytes: %m", (uint64_t)len);
		return 1;
	}
	/* Transparent huge pages would be split before swap-out anyway; asking
	 * for small pages keeps the test about 4 KiB swap slots.  Best effort. */
	madvise(mem, len, MADV_NOHUGEPAGE);

	t0 = now_ns();
	for (pass = 0; pass < passes; pass++) {
		t = now_ns();
		for (pg = 0; pg < pages; pg++)
			pattern_fill((uint64_t *)(mem + pg * PAGE_BYTES),
				     pattern_key(seed, pass, pg), PATTERN_WORDS);
		write_ns += now_ns() - t;

		t = now_ns();
		for (pg = 0; pg < pages; pg++) {
			uint64_t want;
			const uint64_t *w = (const uint64_t *)(mem + pg * PAGE_BYTES);
			int bad = pattern_check(w, pattern_key(seed, pass, pg), PATTERN_WORDS, &want);

			if (bad < 0)
				continue;
			if (mismatches++ < MAX_REPORTED)
				error("mismatch: pass %" PRIu64 " page %" PRIu64
				      " byte offset %" PRIu64 ": expected 0x%016" PRIx64
				      " got 0x%016" PRIx64,
				      pass, pg, pg * PAGE_BYTES + (uint64_t)bad * 8,
				      want, w[bad]);
		}
		verify_ns += now_ns() - t;
	}

	printf("{\"bytes\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"passes\":%" PRIu64
	       ",\"seed\":%" PRIu64 ",\"mismatches\":%" PRIu64
	       ",\"write_ns\":%" PRIu64 ",\"verify_ns\":%" PRIu64
	       ",\"elapsed_ns\":%" PRIu64 "}\n",
	       bytes, pages, passes, seed, mismatches, write_ns, verify_ns,
	       now_ns() - t0);
	if (fflush(stdout) != 0) {
		error("write summary: %m");
		return 1;
	}
	munmap(mem, len);
	if (mismatches)
		error("%" PRIu64 " of %" PRIu64 " page checks failed", mismatches,
		      pages * passes);
	return mismatches ? 1 : 0;
}
