/* Unit tests for common/parse.c: sizes and bounded integers, good and bad. */
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
	char buf[32];
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
	CHECK(!strcmp(format_size(1ULL << 30, buf, sizeof buf), "1 GiB"));
	CHECK(!strcmp(format_size(3ULL << 29, buf, sizeof buf), "1.5 GiB"));
	CHECK(!strcmp(format_size(100, buf, sizeof buf), "100 B"));
	UNIT_DONE();
}
