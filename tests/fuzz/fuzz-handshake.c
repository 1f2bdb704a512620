/* libFuzzer target: the NBD handshake, fed the client's side of the byte
 * stream from the fuzzer's input; what the server writes is discarded.
 * Every other request to start transmission is refused (no slot free), so
 * both answers to GO are reached.
 * Try: make fuzz && build/fuzz/fuzz-handshake tests/fuzz/corpus/handshake */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handshake.h"

struct feed {
	const uint8_t *p;
	size_t left;
	unsigned admits;
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

static int refuse_every_other(void *ctx)
{
	struct feed *f = ctx;

	return f->admits++ % 2 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct export ex = { .name = "vramd", .description = "fuzz", .size = 1 << 20,
				    .ops = &backend_null };
	struct feed f = { data, size, 0 };
	struct hs_io io = { feed_read, sink_write, &f, refuse_every_other };
	bool structured;
	char why[128];

	export_init_flags(&ex);
	handshake(&io, &ex, &structured, why, sizeof why);
	return 0;
}
