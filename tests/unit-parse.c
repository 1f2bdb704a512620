/* Unit tests for common/parse.c: sizes, bounded integers and finite
 * numbers, good and bad. */
#include <string.h>

#include "parse.h"
#include "unit.h"

int main(void)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "1K", 1024 }, { "512M", 512ULL << 20 },
		{ "8G", 8ULL << 30 }, { "8g", 8ULL << 30 }, { "1.5G", 3ULL << 29 },
		{ "2T", 2ULL << 40 }, { "1GiB", 1ULL << 30 }, { "1GB", 1ULL << 30 }, { "100B", 100 },
		{ "15E", 15ULL << 60 },
	};
	static const char *const bad[] = {
		"", "G", "-1", "1X", "1GX", "abc", "1.5", "0.1K", "16E", "1e30", " 1G", "1G ", "nan",
	};
	static const char *const bad_num[] = {
		"", "nan", "NaN", "-nan", "inf", "-inf", "infinity", "0x1p3", "1e999", "1.5x", " 1", "1 ",
	};
	char buf[32];
	double d;
	uint64_t v;
	unsigned i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = 12345;
		CHECK(parse_size(good[i].s, &v) == 0 && v == good[i].v);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(parse_size(bad[i], &v) == -1);
	CHECK(parse_uint("7", 1, 10, &v) == 0 && v == 7);
	CHECK(parse_uint("0", 1, 10, &v) == -1);
	CHECK(parse_uint("11", 1, 10, &v) == -1);
	CHECK(parse_uint("-1", 0, 10, &v) == -1);
	CHECK(parse_uint("1x", 0, 10, &v) == -1);
	CHECK(parse_uint("99999999999999999999999", 0, UINT64_MAX, &v) == -1);
	/* Issue #20, item 12: no NaN or infinity gets through. */
	CHECK(parse_double("1.5", 0, 16, &d) == 0 && d == 1.5);
	CHECK(parse_double("2e-1", 0, 16, &d) == 0 && d == 0.2);
	for (i = 0; i < sizeof bad_num / sizeof bad_num[0]; i++)
		CHECK(parse_double(bad_num[i], -1e300, 1e300, &d) == -1);
	CHECK(parse_double("17", 0, 16, &d) == -1);
	CHECK(!strcmp(format_size(1ULL << 30, buf, sizeof buf), "1 GiB"));
	CHECK(!strcmp(format_size(3ULL << 29, buf, sizeof buf), "1.5 GiB"));
	CHECK(!strcmp(format_size(100, buf, sizeof buf), "100 B"));
	UNIT_DONE();
}
