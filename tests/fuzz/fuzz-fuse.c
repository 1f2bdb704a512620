/* libFuzzer target: the FUSE protocol of vramd --fuse (fuse-session.c), fed
 * a stream of requests as /dev/fuse delivers them (each starts with its
 * fuse_in_header, whose len says where the next begins), after a valid
 * FUSE_INIT.  The first input byte picks how each request is split: as
 * read from /dev/fuse, or as FUSE over io_uring delivers it (the opcode's
 * argument struct in a 128-byte header, the rest in the payload buffer,
 * which also takes the reply, as in front-fuse.c).  Every block
 * request it makes is checked: inside the export, inside the buffers it
 * came in or goes out through, no longer than the largest I/O.
 * Try: make fuzz && build/fuzz/fuzz-fuse tests/fuzz/corpus/fuse */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuse-session.h"

#define SIZE (64u << 20)
#define MAX_IO (256u << 10)

static uint8_t out[MAX_IO];
static uint8_t req[MAX_IO + 8192] __attribute__((aligned(8)));

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* The size of an opcode's argument struct: what the kernel puts in the
 * ring entry's op_in (in_args[0]); 0 where it has none (LOOKUP's name). */
static uint32_t op_struct(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_INIT: return sizeof(struct fuse_init_in);
	case FUSE_GETATTR: return sizeof(struct fuse_getattr_in);
	case FUSE_SETATTR: return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
	case FUSE_OPENDIR: return sizeof(struct fuse_open_in);
	case FUSE_READ:
	case FUSE_READDIR: return sizeof(struct fuse_read_in);
	case FUSE_WRITE: return sizeof(struct fuse_write_in);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR: return sizeof(struct fuse_release_in);
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR: return sizeof(struct fuse_fsync_in);
	case FUSE_FLUSH: return sizeof(struct fuse_flush_in);
	case FUSE_FALLOCATE: return sizeof(struct fuse_fallocate_in);
	}
	return 0;
}

static uint8_t payload[MAX_IO];

static void one(struct fuse_fs *fs, uint8_t *buf, size_t n, bool uring)
{
	struct fuse_view v;
	struct fuse_in_header h;
	struct blk_req io;
	uint32_t out_len;
	uint8_t op_in[VRAMD_FUSE_URING_HDR];
	enum fuse_action a;
	int err;

	uint8_t *reply = out;

	if (fuse_view_classic(buf, n, &v) < 0)
		return;
	if (uring) {
		/* The argument struct goes to op_in, the rest to the payload
		 * buffer, which the reply then overwrites. */
		uint32_t body = v.arg_len, fixed = op_struct(v.h->opcode);

		if (fixed > body)
			fixed = body;
		memcpy(&h, v.h, sizeof h);
		memset(op_in, 0, sizeof op_in);
		memcpy(op_in, v.arg, fixed);
		memcpy(payload, v.arg + fixed, body - fixed);
		v.h = &h;
		v.arg = op_in;
		v.arg_len = sizeof op_in;
		v.data = payload;
		v.data_len = body - fixed;
		reply = payload;
	}
	a = fuse_handle(fs, &v, reply, MAX_IO, &out_len, &err, &io);
	check(err <= 0);
	if (a == FUSE_REPLY)
		check(out_len <= MAX_IO && (err == 0 || out_len == 0));
	if (a != FUSE_IO)
		return;
	check(io.op <= BLK_ZERO);
	if (io.op == BLK_READ || io.op == BLK_WRITE) {
		check(io.len > 0 && io.len <= MAX_IO);
		check(io.off <= SIZE && io.len <= SIZE - io.off);
		if (io.op == BLK_READ)
			check((uint8_t *)io.buf == reply && io.len <= MAX_IO);
		else
			check((uint8_t *)io.buf >= v.data && (uint8_t *)io.buf + io.len <= v.data + v.data_len);
		if (io.op == BLK_READ)
			memset(io.buf, 0xa5, io.len); /* touches every byte: ASan checks */
		else
			check(((volatile uint8_t *)io.buf)[io.len - 1] || 1);
	} else if (io.op != BLK_FLUSH) {
		check(io.len > 0 && io.off <= SIZE && io.len <= SIZE - io.off);
	}
	io.status = (io.off & 1) ? 5 : 0;
	fuse_io_done(&v, &io, reply, &out_len, &err);
	check(out_len <= MAX_IO && err <= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_fs fs = { .size = SIZE, .max_io = MAX_IO, .max_background = 64,
			      .want_uring = true, .read_only = size && (data[0] & 2) };
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { .len = sizeof init, .opcode = FUSE_INIT, .unique = 1 },
		   { .major = 7, .minor = 38, .max_readahead = 1 << 17,
		     .flags = FUSE_ASYNC_DIO | FUSE_MAX_PAGES | FUSE_INIT_EXT,
		     .flags2 = (uint32_t)(FUSE_OVER_IO_URING >> 32) } };
	bool uring = size && (data[0] & 1);
	size_t off = 1;

	memcpy(req, &init, sizeof init);
	one(&fs, req, sizeof init, false);
	check(fs.inited && fs.uring);
	while (size > off && size - off >= sizeof(struct fuse_in_header)) {
		uint32_t len;

		memcpy(&len, data + off, sizeof len);
		if (len < sizeof(struct fuse_in_header) || len > size - off || len > sizeof req)
			break;
		memcpy(req, data + off, len);
		one(&fs, req, len, uring);
		off += len;
	}
	return 0;
}
