/* The FUSE protocol of vramd's one-file filesystem, free of I/O: the front
 * end (front-fuse.c) hands each request it took from the kernel, through
 * /dev/fuse reads or FUSE over io_uring, to fuse_handle(), which answers
 * it or turns it into a block request for blk_run().  The filesystem is a
 * root directory holding one regular file, "export", whose size is the
 * export's; reads and writes of the file are the export's.
 *
 * The libFuzzer target (tests/fuzz/fuzz-fuse.c) drives this directly. */
#ifndef VRAMD_FUSE_SESSION_H
#define VRAMD_FUSE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/fuse.h>

#include "frontend.h"

/* What kernels newer than Debian 12's <linux/fuse.h> (7.38) add. */
#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41)
#endif
#define VRAMD_FUSE_URING_HDR 128 /* in_out and op_in: 128 bytes each */
#define VRAMD_FUSE_CMD_REGISTER 1
#define VRAMD_FUSE_CMD_COMMIT_AND_FETCH 2

struct vramd_fuse_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique, echoed at commit */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

/* One ring entry's header buffer (iov[0] at registration). */
struct vramd_fuse_uring_hdr {
	uint8_t in_out[VRAMD_FUSE_URING_HDR];  /* fuse_in_header, then fuse_out_header */
	uint8_t op_in[VRAMD_FUSE_URING_HDR];   /* the opcode's fixed arguments */
	struct vramd_fuse_ent_in_out ent;
};

/* The command area of an IORING_OP_URING_CMD submission (SQE128). */
struct vramd_fuse_uring_cmd {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#define VRAMD_FUSE_ROOT 1      /* FUSE_ROOT_ID */
#define VRAMD_FUSE_FILE 2      /* the export file's node id */
#define VRAMD_FUSE_NAME "export"

struct fuse_fs {
	/* Set by the caller before the first request. */
	uint64_t size;
	bool read_only;
	bool want_uring;          /* accept FUSE over io_uring if offered */
	uint32_t max_io;          /* max_write and largest read (<= BLK_MAX_IO) */
	uint32_t page_size;       /* the kernel's (max_pages counts them); 0: 4096 */
	uint16_t max_background;  /* requests the kernel keeps in flight */
	uint64_t time_s;          /* timestamps of both inodes */

	/* Negotiated at FUSE_INIT. */
	bool inited;
	bool uring;               /* the kernel will use io_uring */
	uint32_t minor;           /* the protocol minor version in force */

	/* Handles of the file open now: a loop device holds one. */
	int64_t opens;
};

/* One request: its header, the opcode's fixed arguments (arg), and what
 * follows them (data: a WRITE's payload, a LOOKUP's name). */
struct fuse_view {
	const struct fuse_in_header *h;
	const uint8_t *arg;
	uint32_t arg_len;
	uint8_t *data;
	uint32_t data_len;
};

/* Splits a request read from /dev/fuse (n bytes at buf, 8-byte aligned)
 * into v.  Returns 0, or -1 when it is too short or its length field
 * disagrees with n. */
int fuse_view_classic(uint8_t *buf, size_t n, struct fuse_view *v);

enum fuse_action {
	FUSE_REPLY,    /* reply now: *out_len payload bytes in out, error *err */
	FUSE_IO,       /* run *io through blk_run, then fuse_io_done() */
	FUSE_NOREPLY,  /* FORGET, INTERRUPT: nothing goes back */
};

/* Handles one request.  out receives the reply's payload (out_cap bytes,
 * at least 4096; a READ's data goes there too, through io->buf).  *err is
 * 0 or a negative errno for the reply header.  Never fails: a request it
 * cannot parse gets EINVAL, an opcode it does not know ENOSYS. */
enum fuse_action fuse_handle(struct fuse_fs *fs, const struct fuse_view *v, uint8_t *out,
			     uint32_t out_cap, uint32_t *out_len, int *err, struct blk_req *io);

/* After blk_run: the reply for a FUSE_IO request (payload bytes in out,
 * as fuse_handle left them, and the error). */
void fuse_io_done(const struct fuse_view *v, const struct blk_req *io, uint8_t *out,
		  uint32_t *out_len, int *err);

/* The INIT reply's length for the minor version negotiated. */
uint32_t fuse_init_out_len(uint32_t minor);

#endif
