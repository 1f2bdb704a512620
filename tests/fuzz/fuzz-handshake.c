/* libFuzzer target: the NBD handshake, fed the client's side of the byte
 * stream from the fuzzer's input; what the server writes is discarded.
 * Try: make fuzz && build/fuzz/fuzz-handshake tests/fuzz/corpus/handshake */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handshake.h"

struct feed {
	const uint8_t *p;
	size_t left;
};

static int feed_read(void *ctx, void *buf, size_t n)
{
	struct feed *f = ctx;

	if (n > f->left)
		return -1;
	memcpy(buf, f->p, n);
	f->p += n;
	f->left -= n;
	return 0;
}

static int sink_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct export ex = { .name = "vramd", .description = "fuzz", .size = 1 << 20,
				    .ops = &backend_null };
	struct feed f = { data, size };
	struct hs_io io = { feed_read, sink_write, &f };
	bool structured;
	char why[128];

	export_init_flags(&ex);
	handshake(&io, &ex, &structured, why, sizeof why);
	return 0;
}
