/* Parsers for command-line values shared by swapbench and vramd: sizes with
 * binary suffixes, bounded unsigned integers.  Each returns 0 on success and
 * -1 on a malformed or out-of-range value (no message: the caller names the
 * option in its error). */
#ifndef SWAPBENCH_PARSE_H
#define SWAPBENCH_PARSE_H

#include <stdint.h>

/* "4096", "512K", "8G", "1.5G", "2T" (powers of 1024; optional trailing
 * "B" or "iB"; case-insensitive).  Rejects negatives, garbage, overflow and
 * fractional byte counts. */
int parse_size(const char *s, uint64_t *out);

/* Decimal unsigned integer in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A finite decimal number in [min, max] ("1.5", "2e-3"): rejects "nan",
 * "inf", hexadecimal floats, garbage and overflow. */
int parse_double(const char *s, double min, double max, double *out);

/* Formats bytes as a short human string ("1.5 GiB") into buf. */
const char *format_size(uint64_t bytes, char *buf, int len);

#endif
