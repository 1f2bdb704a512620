/* Minimal checks for the C unit tests (tests/unit-*.c): CHECK prints the
 * failing expression with its line and counts it; main returns
 * unit_failures != 0 (UNIT_DONE), or skips with UNIT_SKIP (exit status 77,
 * the reason on stderr, as tests/test-unit.sh expects). */
#ifndef SWAPBENCH_UNIT_H
#define SWAPBENCH_UNIT_H

#include <stdio.h>

static int unit_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		unit_failures++; \
	} \
} while (0)

#define UNIT_DONE() do { \
	if (unit_failures) \
		fprintf(stderr, "%d check(s) failed\n", unit_failures); \
	return unit_failures != 0; \
} while (0)

#define UNIT_SKIP(...) do { \
	fprintf(stderr, "SKIP: "); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	return 77; \
} while (0)

#endif
