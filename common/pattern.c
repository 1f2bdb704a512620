/* Page patterns: see pattern.h. */
#include <string.h>

#include "pattern.h"

#define GOLDEN 0x9e3779b97f4a7c15ull

static uint64_t mix64(uint64_t z)
{
	/* splitmix64's finaliser: every input bit flips about half the output. */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t pattern_key(uint64_t seed, uint64_t gen, uint64_t page)
{
	return mix64(mix64(seed ^ (gen * GOLDEN)) + page * GOLDEN);
}

static uint64_t word_at(uint64_t key, unsigned i)
{
	return mix64(key + (uint64_t)(i + 1) * GOLDEN);
}

void pattern_fill(uint64_t *w, uint64_t key, unsigned random_words)
{
	unsigned i;

	for (i = 0; i < random_words; i++)
		w[i] = word_at(key, i);
	memset(w + random_words, 0, (PATTERN_WORDS - random_words) * sizeof *w);
}

int pattern_check(const uint64_t *w, uint64_t key, unsigned random_words, uint64_t *want)
{
	unsigned i;

	for (i = 0; i < PATTERN_WORDS; i++) {
		uint64_t v = i < random_words ? word_at(key, i) : 0;

		if (w[i] != v) {
			*want = v;
			return (int)i;
		}
	}
	return -1;
}

int pattern_words_for(const char *c)
{
	if (!strcmp(c, "incompressible"))
		return PATTERN_WORDS;
	if (!strcmp(c, "2:1"))
		return PATTERN_WORDS / 2;
	if (!strcmp(c, "4:1"))
		return PATTERN_WORDS / 4;
	if (!strcmp(c, "zero"))
		return 0;
	return -1;
}
