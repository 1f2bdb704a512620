/* Unit tests for common/pattern.c: a page checks against its own key and
 * no other (seed, generation, page), the zero tail is checked too, and the
 * compressibility names map to the share of random words. */
#include <stdint.h>
#include <string.h>

#include "pattern.h"
#include "unit.h"

int main(void)
{
	static uint64_t page[PATTERN_WORDS];
	uint64_t want = 0, k = pattern_key(1, 0, 7);
	unsigned zeros = 0, i;

	CHECK(pattern_words_for("incompressible") == (int)PATTERN_WORDS);
	CHECK(pattern_words_for("2:1") == (int)PATTERN_WORDS / 2);
	CHECK(pattern_words_for("4:1") == (int)PATTERN_WORDS / 4);
	CHECK(pattern_words_for("zero") == 0);
	CHECK(pattern_words_for("3:1") == -1);

	pattern_fill(page, k, PATTERN_WORDS);
	CHECK(pattern_check(page, k, PATTERN_WORDS, &want) == -1);
	/* Another generation, page or seed gives another key and a mismatch. */
	CHECK(pattern_key(1, 1, 7) != k && pattern_key(1, 0, 8) != k && pattern_key(2, 0, 7) != k);
	CHECK(pattern_check(page, pattern_key(1, 1, 7), PATTERN_WORDS, &want) == 0);
	for (i = 0; i < PATTERN_WORDS; i++)
		zeros += page[i] == 0;
	CHECK(zeros == 0);
	/* One flipped bit deep in the page is found, with the word expected. */
	page[300] ^= 1u << 9;
	CHECK(pattern_check(page, k, PATTERN_WORDS, &want) == 300 && want == (page[300] ^ (1u << 9)));

	/* Half random: the tail is zero and checked as such. */
	pattern_fill(page, k, PATTERN_WORDS / 2);
	CHECK(page[PATTERN_WORDS / 2 - 1] != 0 && page[PATTERN_WORDS / 2] == 0);
	CHECK(pattern_check(page, k, PATTERN_WORDS / 2, &want) == -1);
	page[PATTERN_WORDS - 1] = 5;
	CHECK(pattern_check(page, k, PATTERN_WORDS / 2, &want) == (int)PATTERN_WORDS - 1 && want == 0);

	/* Zero pages. */
	pattern_fill(page, k, 0);
	CHECK(pattern_check(page, k, 0, &want) == -1);
	for (i = 0, zeros = 0; i < PATTERN_WORDS; i++)
		zeros += page[i] == 0;
	CHECK(zeros == PATTERN_WORDS);
	UNIT_DONE();
}
