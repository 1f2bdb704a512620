/* vramd as the block device itself: a front end receives the kernel's block
 * requests directly (ublk: /dev/ublkbN; FUSE: a one-file filesystem whose
 * file a loop device serves) instead of NBD commands over a socket.  One
 * front end per file (front-<name>.c), one line in FRONTENDS() below.
 *
 * A front end runs its own queue threads, one per backend worker context
 * (backend_config.workers of them, opened with ops->worker_open), and hands
 * each batch of requests it takes from the kernel to blk_run(), which
 * queues them on the backend, waits once, and sets each status.  Every
 * buffer a request names lies in one region the front end allocates at
 * start-up and announces with ops->register_buffers (the vram backend pins
 * it, so reads and writes move by DMA between VRAM and the kernel-facing
 * buffer).  Nothing on the I/O path allocates. */
#ifndef VRAMD_FRONTEND_H
#define VRAMD_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "server.h"

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_TRIM, BLK_ZERO };

struct blk_req {
	uint8_t op;        /* enum blk_op */
	bool fua;          /* BLK_WRITE: in storage before blk_run returns */
	uint32_t len;      /* bytes; 0 for BLK_FLUSH */
	uint64_t off;
	void *buf;         /* BLK_READ / BLK_WRITE: len bytes in the region
			    * given to register_buffers */
	int status;        /* out: 0 or a positive errno once blk_run returns */
};

/* One queue's context: the export, its backend worker context, and the
 * statistics its thread alone writes. */
struct blk_queue {
	const struct export *ex;
	void *bw;
	struct worker_stats st;
};

/* Largest request a front end passes to blk_run (it tells the kernel so). */
#define BLK_MAX_IO (1u << 20)

/* Opens the backend worker context idx for q; -1 after logging. */
int blk_queue_open(struct blk_queue *q, const struct export *ex, unsigned idx);
void blk_queue_close(struct blk_queue *q);

/* Runs r[0..n) in order: each checked (EINVAL past the end of the export,
 * or a read or write longer than BLK_MAX_IO; EPERM for a change to a read-only export),
 * queued on the backend, then one wait for the batch; a BLK_FLUSH first
 * waits for everything before it.  Each request is counted in q->st with
 * its latency from t0_ns (when the batch arrived).  Never fails as a whole:
 * every status says how its request ended. */
void blk_run(struct blk_queue *q, struct blk_req *r, unsigned n, uint64_t t0_ns);

/* Call once the batch's replies are with the kernel: starts device work
 * the backend held back (vram write-backs) so it never waits for a next
 * batch that may not come. */
void blk_after_reply(struct blk_queue *q);

struct io_uring;
struct io_uring_sqe;

/* The queue rings of both front ends have 128-byte entries
 * (IORING_SETUP_SQE128: a URING_CMD's command follows the usual 64 bytes).
 * blk_sqe: a free entry of ring, all of it zeroed, submitting what is
 * queued first when the ring is full; NULL (logged with who) only when
 * there is still none, which the rings' sizes rule out. */
struct io_uring_sqe *blk_sqe(struct io_uring *ring, const char *who);
/* The command area of a 128-byte entry. */
void *blk_sqe_cmd(struct io_uring_sqe *sqe);
/* Posts a read of eventfd efd into *val with user data ud: how another
 * thread wakes a queue thread waiting in its ring.  False when blk_sqe
 * found no entry. */
bool blk_post_wake(struct io_uring *ring, int efd, uint64_t *val, uint64_t ud, const char *who);
/* Submits what is queued on ring and waits for a completion: with poll_us
 * > 0 it first polls the completion ring that long (no sleep, no wake-up
 * to pay when the next request comes soon; a busy core meanwhile), then
 * sleeps in the kernel.  Returns io_uring_submit_and_wait's value, or the
 * count submitted when a completion came while polling (counted in q's
 * busy_poll_hits). */
int blk_submit_wait(struct blk_queue *q, struct io_uring *ring, unsigned poll_us);

struct frontend_config {
	const char *target;  /* fuse: the mount point (an empty directory) */
	int dev_id;          /* ublk: device number, -1 lets the kernel choose */
	unsigned queues;     /* queue threads = backend worker contexts */
	unsigned depth;      /* requests in flight per queue */
	int uring;           /* fuse: -1 io_uring where offered, 0 /dev/fuse
			      * reads, 1 io_uring or fail */
	bool swap;           /* swap mode is on (threads inherit it) */
	unsigned poll_us;    /* queue threads poll their ring this long before
			      * sleeping (--busy-poll); 0: sleep at once */
};

struct frontend_ops {
	const char *name;
	const char *summary;

	/* 1 when the front end can run on this host now; else 0 with a
	 * one-line reason in why (module missing, no /dev/fuse, ...). */
	int (*supported)(char *why, size_t len);

	/* Creates the device for ex and starts cfg->queues queue threads;
	 * on return the device serves I/O and path holds what users open
	 * (/dev/ublkb0, MOUNTPOINT/export).  Returns 0, or -1 after logging
	 * with nothing left behind (no device, no mount, no thread). */
	int (*start)(const struct export *ex, const struct frontend_config *cfg,
		     char *path, size_t len);

	/* Whether someone holds the device (swapon, a loop device, a mount):
	 * in swap mode vramd then refuses to exit. */
	bool (*busy)(void);

	/* Whether the kernel side is gone (device deleted, filesystem
	 * unmounted by hand): vramd then exits. */
	bool (*gone)(void);

	/* Removes the device (or unmounts) and joins the threads; stats()
	 * stays valid afterwards (vramd's last statistics dump).  Returns 0,
	 * or -1 when a thread did not stop in time: it may still use the
	 * backend, which must then not be freed. */
	int (*stop)(void);

	/* Wakes queue idx so that it calls blk_after_reply soon (from any
	 * thread; backend_config.wake). */
	void (*wake)(unsigned idx);

	/* Per-queue statistics, for stats_json(). */
	struct worker_stats *const *(*stats)(unsigned *n);

	/* Adds the front end's state (features, io_uring in use, device) to
	 * the statistics document. */
	void (*describe)(json_t *doc);
};

#define FRONTENDS(X) X(ublk) X(fuse)

#define X(n) extern const struct frontend_ops frontend_##n;
FRONTENDS(X)
#undef X

/* vramd --ublk-del N: stops and deletes ublk device N that a vramd killed
 * without cleaning up left behind (front-ublk.c).  Returns 0, or -1 after
 * logging (no such device, no ublk_drv, a command that timed out). */
int ublk_delete(int dev_id, bool force);

#endif
