/* Page patterns that prove swapped memory intact: every 4 KiB page gets
 * words derived from (seed, generation, page index), so a page returned from
 * the wrong slot or a stale generation is caught.  A page may carry random
 * words in only its first part and zeros after, which makes its
 * compressibility a declared factor: all of it random is incompressible,
 * half about 2:1, a quarter about 4:1, none a zero page.  Used by
 * `swapbench touch` and tests/memtouch.  Try: tests/unit-pattern. */
#ifndef SWAPBENCH_PATTERN_H
#define SWAPBENCH_PATTERN_H

#include <stdint.h>

#define PATTERN_PAGE 4096u
#define PATTERN_WORDS (PATTERN_PAGE / sizeof(uint64_t))

/* The key of one page's content. */
uint64_t pattern_key(uint64_t seed, uint64_t gen, uint64_t page);

/* Writes the page: RANDOM_WORDS (0..PATTERN_WORDS) words from key, then zeros. */
void pattern_fill(uint64_t *w, uint64_t key, unsigned random_words);

/* The index of the first wrong word (its expected value in *want), or -1. */
int pattern_check(const uint64_t *w, uint64_t key, unsigned random_words, uint64_t *want);

/* Random words per page for a compressibility name ("incompressible",
 * "2:1", "4:1", "zero"); -1 for another name. */
int pattern_words_for(const char *compressibility);

#endif
