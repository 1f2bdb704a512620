/* vramd --ublk: vramd is the block device /dev/ublkbN itself, through the
 * kernel's ublk driver (ublk_drv, kernel 6.0 on), with no NBD socket in
 * between.  Try (as root, with ublk_drv loaded):
 *
 *   vramd --ublk --no-swap --backend ram --size 1G --foreground
 *   fio --name=v --filename=/dev/ublkb0 --direct=1 --rw=randwrite --bs=4k \
 *       --size=64M --verify=crc32c
 *
 * /dev/ublk-control creates the device (ADD_DEV, SET_PARAMS, START_DEV);
 * each queue thread then owns /dev/ublkcN's queue of the same number: an
 * io_uring of 128-byte SQEs in which every tag has a FETCH_REQ command
 * posted.  A command completes when the block layer hands that tag a
 * request, described in the descriptor array mmap()ed from /dev/ublkcN;
 * the thread runs each batch of completions through blk_run() and answers
 * every request with COMMIT_AND_FETCH_REQ, which also waits for the tag's
 * next request.
 *
 * Data moves the classic way: every tag has a buffer in one region
 * allocated here, the kernel copies a write's pages into it before the
 * command completes and a read's data out of it when it is committed.
 * That is one copy per request, the same as UBLK_F_USER_COPY (pread/pwrite
 * on /dev/ublkcN) but without two extra system calls per request, and the
 * region is one block that the vram backend pins once for DMA.  User copy
 * would pay off only where the data could go straight to its destination
 * without the buffer, which a GPU copy cannot. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "log.h"
#include "ublk-abi.h"

#define UBLK_CONTROL "/dev/ublk-control"

/* The per-tag buffer, which is also the largest request the kernel sends
 * (max_io_buf_bytes, max_sectors).  The region holds queues x depth of
 * them and is all resident (mlockall in swap mode, pinned by the vram
 * backend): 512 KiB x 128 tags = 64 MiB a queue.  Swap writes its pages
 * in clusters of far less, and a 1 MiB direct write becomes two requests
 * of one batch; with many queues the buffer shrinks so that the region
 * stays within UBLK_REGION_MAX. */
#define UBLK_IO_BYTES   (512u << 10)
#define UBLK_IO_MIN     (64u << 10)
#define UBLK_REGION_MAX (256ull << 20)
#define UBLK_DISCARD_MAX (1u << 30)

/* Deadlines.  START_DEV waits for every queue's FETCH commands and then
 * reads the partition table through them; STOP_DEV drains requests in
 * flight; DEL_DEV waits until /dev/ublkcN is closed everywhere. */
#define CTRL_TIMEOUT_MS  10000
#define START_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 10000
#define NODE_TIMEOUT_MS  5000
#define JOIN_TIMEOUT_MS  5000

#define UD_EVENT UINT64_MAX /* user_data of the eventfd read; else the tag */

struct uqueue {
	unsigned idx;
	pthread_t thread;
	bool running;            /* thread created, not joined */
	struct io_uring ring;
	bool ring_ok;
	int efd;                 /* wake(): eventfd read posted in the ring */
	uint64_t efd_val;
	bool event_posted;
	const struct ublksrv_io_desc *iod;
	size_t iod_len;
	uint8_t *bufs;           /* depth buffers of io_bytes in the region */
	unsigned posted;         /* tags with a command in the kernel */
	struct blk_queue q;
	bool q_open;
	struct blk_req *reqs;    /* one batch, depth at most */
	uint16_t *tags;
	int ready;               /* 0 posting, 1 every tag fetched, -1 failed */
	int quit;                /* stop(): end even with commands posted */
};

static struct {
	const struct export *ex;
	int ctrl_fd;
	int cfd;                 /* /dev/ublkcN (one opener only), fixed file 0
				  * of every queue's ring */
	bool encoded;            /* ioctl-encoded command numbers */
	bool have_features;      /* GET_FEATURES answered */
	uint64_t features;       /* what the driver offers */
	uint64_t flags;          /* the device's flags (ADD_DEV's answer) */
	int dev_id;
	unsigned nq, depth;
	uint32_t io_bytes;
	unsigned want_depth;      /* asked of ADD_DEV, within UBLK_REGION_MAX */
	uint8_t *region;
	size_t region_len;
	struct uqueue *qs;
	struct worker_stats **stats;
	char path[64];
	bool added, started;
	int stopping, gone;
	unsigned poll_us;        /* --busy-poll */
} u = { .ctrl_fd = -1, .cfd = -1, .dev_id = -1 };

/* The command number the driver takes: ioctl-encoded where it says it
 * understands them, else the 6.0-6.2 plain numbers. */
static uint32_t ctrl_op(bool encoded, unsigned nr)
{
	if (!encoded)
		return nr;
	switch (nr) {
	case UBLK_CMD_GET_DEV_INFO: return UBLK_U_CMD_GET_DEV_INFO;
	case UBLK_CMD_ADD_DEV: return UBLK_U_CMD_ADD_DEV;
	case UBLK_CMD_DEL_DEV: return UBLK_U_CMD_DEL_DEV;
	case UBLK_CMD_START_DEV: return UBLK_U_CMD_START_DEV;
	case UBLK_CMD_STOP_DEV: return UBLK_U_CMD_STOP_DEV;
	case UBLK_CMD_SET_PARAMS: return UBLK_U_CMD_SET_PARAMS;
	case VRAMD_UBLK_CMD_GET_FEATURES: return UBLK_U_CMD_GET_FEATURES;
	}
	return nr;
}

/* Runs one control command, waiting at most timeout_ms for its answer:
 * returns the driver's result (0 or more, or -errno), or -ETIMEDOUT.  A
 * ring of its own, and IOSQE_ASYNC, so that the command sleeps in an
 * io_uring worker (START_DEV, DEL_DEV may sleep long) while this thread
 * keeps its deadline; a command given up on is cancelled with the ring.
 * Logs nothing: the caller knows which failures are expected. */
static int ctrl_cmd(int fd, bool encoded, unsigned nr, struct ublksrv_ctrl_cmd *c, int timeout_ms)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000ll };
	struct ublksrv_ctrl_cmd bc = *c;
	void *bounce = NULL;
	int r;

	/* The driver writes answers through c->addr from an io_uring worker,
	 * possibly after a deadline has passed and this function returned:
	 * it writes into a heap copy, given back only once the command
	 * completed (kept for ever otherwise). */
	if (c->addr && c->len) {
		bounce = malloc(c->len);
		if (!bounce)
			return -ENOMEM;
		memcpy(bounce, (void *)(uintptr_t)c->addr, c->len);
		bc.addr = (uint64_t)(uintptr_t)bounce;
	}
	r = io_uring_queue_init(2, &ring, IORING_SETUP_SQE128);
	if (r < 0) {
		free(bounce);
		return r;
	}
	sqe = blk_sqe(&ring, "ublk control");
	if (!sqe) {
		io_uring_queue_exit(&ring);
		free(bounce);
		return -EBUSY;
	}
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->flags = IOSQE_ASYNC;
	sqe->cmd_op = ctrl_op(encoded, nr);
	memcpy(blk_sqe_cmd(sqe), &bc, sizeof bc);
	r = io_uring_submit(&ring);
	if (r == 1) {
		r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
		if (r == 0)
			r = cqe->res;
		else if (r == -ETIME)
			r = -ETIMEDOUT;
	} else if (r >= 0) {
		r = -EIO;
	}
	io_uring_queue_exit(&ring);
	if (r == -ETIMEDOUT)
		return r; /* bounce stays: the command may still write it */
	if (bounce) {
		memcpy((void *)(uintptr_t)c->addr, bounce, c->len);
		free(bounce);
	}
	return r;
}

static int ctrl(unsigned nr, struct ublksrv_ctrl_cmd *c, int timeout_ms)
{
	return ctrl_cmd(u.ctrl_fd, u.encoded, nr, c, timeout_ms);
}

static int open_control(void)
{
	int fd = open(UBLK_CONTROL, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		error("cannot open '%s': no such file: load ublk_drv (CONFIG_BLK_DEV_UBLK)", UBLK_CONTROL);
	else if (fd < 0)
		error("cannot open '%s': %m", UBLK_CONTROL);
	return fd;
}

/* What the driver offers, and which command numbers it takes.  GET_FEATURES
 * came in 6.5 (ioctl numbers in 6.3): on an older driver the features stay
 * unknown until ADD_DEV answers with the device's flags. */
static void detect(int fd, bool *encoded, bool *have, uint64_t *features)
{
	uint64_t f = 0;
	struct ublksrv_ctrl_cmd c = { .dev_id = (uint32_t)-1, .queue_id = (uint16_t)-1,
				      .addr = (uint64_t)(uintptr_t)&f, .len = sizeof f };

	*have = ctrl_cmd(fd, true, VRAMD_UBLK_CMD_GET_FEATURES, &c, CTRL_TIMEOUT_MS) == 0;
	*features = *have ? f : 0;
	*encoded = *have && (f & UBLK_F_CMD_IOCTL_ENCODE);
}

static uint64_t ms_from_now(unsigned ms)
{
	return now_ns() + ms * 1000000ull;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* --- the queue threads -------------------------------------------------- */

static void post_io(struct uqueue *q, unsigned nr, uint16_t tag, int32_t result)
{
	struct io_uring_sqe *sqe = blk_sqe(&q->ring, "ublk queue");
	struct ublksrv_io_cmd c = {
		.q_id = (uint16_t)q->idx, .tag = tag, .result = result,
		.addr = (uint64_t)(uintptr_t)(q->bufs + (size_t)tag * u.io_bytes),
	};

	if (!sqe)
		return; /* never: the ring has room for every tag */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;
	sqe->flags = IOSQE_FIXED_FILE;
	if (!u.encoded)
		sqe->cmd_op = nr;
	else
		sqe->cmd_op = nr == UBLK_IO_FETCH_REQ ? UBLK_U_IO_FETCH_REQ : UBLK_U_IO_COMMIT_AND_FETCH_REQ;
	memcpy(blk_sqe_cmd(sqe), &c, sizeof c);
	io_uring_sqe_set_data64(sqe, tag);
	q->posted++;
}

static void post_event(struct uqueue *q)
{
	/* Without it, wake() waits for the next batch. */
	if (blk_post_wake(&q->ring, q->efd, &q->efd_val, UD_EVENT, "ublk queue"))
		q->event_posted = true;
}

/* The request of a completed FETCH, as blk_run takes it. */
static void take(struct uqueue *q, uint16_t tag, struct blk_req *r)
{
	const struct ublksrv_io_desc *d = &q->iod[tag];
	uint32_t op = d->op_flags & 0xff;

	uint64_t bytes = (uint64_t)d->nr_sectors << 9;

	*r = (struct blk_req){ .op = UINT8_MAX, .off = d->start_sector << 9,
			       .len = bytes > UINT32_MAX ? 0 : (uint32_t)bytes };
	if (bytes > UINT32_MAX)
		return; /* never: the limits below; refused as invalid */
	switch (op) {
	case UBLK_IO_OP_READ:
	case UBLK_IO_OP_WRITE:
		if (r->len > u.io_bytes)
			break; /* never: max_sectors; refused as invalid */
		r->op = op == UBLK_IO_OP_READ ? BLK_READ : BLK_WRITE;
		r->fua = op == UBLK_IO_OP_WRITE && (d->op_flags & UBLK_IO_F_FUA);
		r->buf = q->bufs + (size_t)tag * u.io_bytes;
		break;
	case UBLK_IO_OP_FLUSH:
		r->op = BLK_FLUSH;
		r->off = r->len = 0;
		break;
	case UBLK_IO_OP_DISCARD:
		r->op = BLK_TRIM;
		break;
	case UBLK_IO_OP_WRITE_ZEROES:
		r->op = BLK_ZERO;
		break;
	}
	/* Anything else (WRITE_SAME, zone operations) keeps an op that
	 * blk_run refuses with EINVAL and counts as "other". */
}

/* How the kernel's command ended: a request, or the tag is done. */
static void completed(struct uqueue *q, struct io_uring_cqe *cqe, unsigned *n, bool *woken)
{
	uint64_t d = io_uring_cqe_get_data64(cqe);
	int res = cqe->res;

	if (d == UD_EVENT) {
		q->event_posted = false;
		*woken = true;
		return;
	}
	q->posted--;
	if (res == UBLK_IO_RES_OK) {
		q->tags[*n] = (uint16_t)d;
		take(q, (uint16_t)d, &q->reqs[*n]);
		(*n)++;
		return;
	}
	/* ABORT: the device is stopping (ours, or someone else's STOP_DEV
	 * or DEL_DEV); anything else is a command the driver refused. */
	if (res != UBLK_IO_RES_ABORT)
		error("ublk queue %u tag %u: command failed: %s", q->idx, (unsigned)d, strerror(-res));
	if (!__atomic_load_n(&u.stopping, __ATOMIC_ACQUIRE))
		__atomic_store_n(&u.gone, 1, __ATOMIC_RELEASE);
}

static void *queue_main(void *arg)
{
	struct uqueue *q = arg;
	struct io_uring_cqe *cqe;
	unsigned tag, head, k, n;
	int r;

	for (tag = 0; tag < u.depth; tag++)
		post_io(q, UBLK_IO_FETCH_REQ, (uint16_t)tag, 0);
	post_event(q);
	r = io_uring_submit(&q->ring);
	/* A refused FETCH completes at once; START_DEV would wait for it in
	 * vain, so start() hears of it here. */
	if (r < 0 || io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		if (r < 0)
			error("ublk queue %u: io_uring_submit: %s", q->idx, strerror(-r));
		else
			error("ublk queue %u: FETCH_REQ failed: %s", q->idx, strerror(-cqe->res));
		__atomic_store_n(&q->ready, -1, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n(&q->ready, 1, __ATOMIC_RELEASE);

	while (q->posted > 0 && !__atomic_load_n(&q->quit, __ATOMIC_ACQUIRE)) {
		bool woken = false;
		uint64_t t0;

		r = blk_submit_wait(&q->q, &q->ring, u.poll_us);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			error("ublk queue %u: io_uring_submit_and_wait: %s", q->idx, strerror(-r));
			break;
		}
		t0 = now_ns();
		n = 0;
		k = 0;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			completed(q, cqe, &n, &woken);
			k++;
		}
		io_uring_cq_advance(&q->ring, k);
		if (n) {
			blk_run(&q->q, q->reqs, n, t0);
			for (k = 0; k < n; k++) {
				const struct blk_req *x = &q->reqs[k];
				int32_t res = x->status ? -x->status :
					x->op == BLK_READ || x->op == BLK_WRITE ? (int32_t)x->len : 0;

				post_io(q, UBLK_IO_COMMIT_AND_FETCH_REQ, q->tags[k], res);
			}
		}
		if (!q->event_posted && !__atomic_load_n(&u.stopping, __ATOMIC_ACQUIRE))
			post_event(q);
		if (n) {
			io_uring_submit(&q->ring);
			blk_after_reply(&q->q);
		} else if (woken) {
			blk_after_reply(&q->q);
		}
	}
	if (!__atomic_load_n(&u.stopping, __ATOMIC_ACQUIRE))
		__atomic_store_n(&u.gone, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Waits up to ms for thread q to end; true when it did. */
static bool join_within(struct uqueue *q, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(q->thread, NULL, &ts) != 0)
		return false;
	q->running = false;
	return true;
}

static void wake_queue(struct uqueue *q)
{
	uint64_t one = 1;

	if (q->efd >= 0 && write(q->efd, &one, sizeof one) < 0)
		error("cannot wake ublk queue %u: %m", q->idx);
}

/* Ends queue thread q within a deadline: it ends by itself once STOP_DEV
 * aborted its commands; else it is told to quit (closing its ring then
 * cancels the commands).  False when it is stuck: its memory stays. */
static bool queue_join(struct uqueue *q)
{
	if (!q->running)
		return true;
	if (join_within(q, JOIN_TIMEOUT_MS))
		return true;
	__atomic_store_n(&q->quit, 1, __ATOMIC_RELEASE);
	wake_queue(q);
	if (join_within(q, JOIN_TIMEOUT_MS))
		return true;
	error("ublk queue %u did not end within %u s: leaving it", q->idx, 2 * JOIN_TIMEOUT_MS / 1000);
	return false;
}

static void queue_close(struct uqueue *q)
{
	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	q->ring_ok = false;
	if (q->iod && q->iod != MAP_FAILED)
		munmap((void *)q->iod, q->iod_len);
	q->iod = NULL;
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	if (q->q_open)
		blk_queue_close(&q->q);
	q->q_open = false;
	free(q->reqs);
	free(q->tags);
	q->reqs = NULL;
	q->tags = NULL;
}

/* Everything queue idx needs before its thread starts: its descriptor
 * array, the ring with the char device as fixed file 0, the eventfd, the
 * backend worker context. */
static int queue_open(struct uqueue *q, unsigned idx)
{
	size_t stride = ((size_t)UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc) + 4095) & ~(size_t)4095;
	int r;

	q->idx = idx;
	q->efd = -1;
	q->bufs = u.region + (size_t)idx * u.depth * u.io_bytes;
	/* Queue idx's descriptors lie at a stride sized for the deepest queue. */
	q->iod_len = ((size_t)u.depth * sizeof(struct ublksrv_io_desc) + 4095) & ~(size_t)4095;
	q->iod = mmap(NULL, q->iod_len, PROT_READ, MAP_SHARED | MAP_POPULATE, u.cfd,
		      (off_t)(UBLKSRV_CMD_BUF_OFFSET + idx * stride));
	if (q->iod == MAP_FAILED) {
		q->iod = NULL;
		error("cannot map the descriptors of '/dev/ublkc%d' queue %u: %m", u.dev_id, idx);
		return -1;
	}
	/* Room for a command per tag and the eventfd read; the completion
	 * ring (twice that) never overflows. */
	r = io_uring_queue_init(u.depth + 1, &q->ring, IORING_SETUP_SQE128);
	if (r < 0) {
		error("ublk queue %u: io_uring_queue_init: %s (io_uring disabled? see "
		      "kernel.io_uring_disabled)", idx, strerror(-r));
		return -1;
	}
	q->ring_ok = true;
	r = io_uring_register_files(&q->ring, &u.cfd, 1);
	if (r < 0) {
		error("ublk queue %u: io_uring_register_files: %s", idx, strerror(-r));
		return -1;
	}
	q->efd = eventfd(0, EFD_CLOEXEC);
	q->reqs = calloc(u.depth, sizeof *q->reqs);
	q->tags = calloc(u.depth, sizeof *q->tags);
	if (q->efd < 0 || !q->reqs || !q->tags) {
		error("ublk queue %u: cannot set up: %m", idx);
		return -1;
	}
	if (blk_queue_open(&q->q, u.ex, idx) < 0)
		return -1;
	q->q_open = true;
	u.stats[idx] = &q->q.st;
	return 0;
}

/* --- the device --------------------------------------------------------- */

static int add_dev(const struct frontend_config *cfg)
{
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = (uint16_t)cfg->queues,
		.queue_depth = (uint16_t)u.want_depth,
		.max_io_buf_bytes = u.io_bytes,
		.dev_id = (uint32_t)cfg->dev_id,
		.ublksrv_pid = getpid(),
		.flags = u.features & UBLK_F_CMD_IOCTL_ENCODE,
	};
	struct ublksrv_ctrl_cmd c = { .dev_id = info.dev_id, .queue_id = (uint16_t)-1,
				      .addr = (uint64_t)(uintptr_t)&info, .len = sizeof info };
	int r = ctrl(UBLK_CMD_ADD_DEV, &c, CTRL_TIMEOUT_MS);

	if (r < 0) {
		if (r == -EEXIST)
			error("ublk ADD_DEV %d failed: device exists (a vramd killed earlier? "
			      "vramd --ublk-del %d removes it)", cfg->dev_id, cfg->dev_id);
		else
			error("ublk ADD_DEV failed: %s", strerror(-r));
		return -1;
	}
	u.added = true;
	u.dev_id = (int)info.dev_id;
	u.flags = info.flags;
	if (!u.have_features) {
		/* An older driver: the flags it kept say what it knows. */
		u.features = info.flags;
		u.encoded = info.flags & UBLK_F_CMD_IOCTL_ENCODE;
	}
	if (info.nr_hw_queues != cfg->queues || info.queue_depth != (cfg->depth ? cfg->depth : 128))
		warn("ublk device %d: the driver gave %u queues of depth %u (asked %u of %u)",
		     u.dev_id, info.nr_hw_queues, info.queue_depth, cfg->queues, cfg->depth);
	u.nq = info.nr_hw_queues;
	u.depth = info.queue_depth;
	if (info.max_io_buf_bytes < u.io_bytes)
		u.io_bytes = info.max_io_buf_bytes & ~4095u;
	if (!u.nq || !u.depth || u.io_bytes < 4096) {
		error("ublk device %d: unusable geometry from the driver: %u queues, depth %u, "
		      "buffers of %u bytes", u.dev_id, u.nq, u.depth, u.io_bytes);
		return -1;
	}
	return 0;
}

static int set_params(const struct export *ex)
{
	struct ublk_params p = { .len = sizeof p, .types = UBLK_PARAM_TYPE_BASIC };
	struct ublksrv_ctrl_cmd c = { .dev_id = (uint32_t)u.dev_id, .queue_id = (uint16_t)-1,
				      .addr = (uint64_t)(uintptr_t)&p, .len = sizeof p };
	int r;

	/* A volatile cache and FUA: the kernel then sends flushes and FUA
	 * writes, which the vram backend's write-back needs to hear. */
	p.basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA |
			(ex->read_only ? UBLK_ATTR_READ_ONLY : 0);
	p.basic.logical_bs_shift = 12;
	p.basic.physical_bs_shift = 12;
	p.basic.io_opt_shift = 12;
	p.basic.io_min_shift = 12;
	p.basic.max_sectors = u.io_bytes >> 9;
	p.basic.dev_sectors = (ex->size & ~4095ull) >> 9;
	if (!ex->read_only) {
		/* Trims and zeroing move no data through the buffers: up to
		 * 1 GiB a request (a length blk_run takes in 32 bits). */
		p.types |= UBLK_PARAM_TYPE_DISCARD;
		p.discard.discard_granularity = 4096;
		p.discard.max_discard_sectors = UBLK_DISCARD_MAX >> 9;
		p.discard.max_write_zeroes_sectors = UBLK_DISCARD_MAX >> 9;
		p.discard.max_discard_segments = 1;
	}
	r = ctrl(UBLK_CMD_SET_PARAMS, &c, CTRL_TIMEOUT_MS);
	if (r < 0) {
		error("ublk device %d: SET_PARAMS failed: %s", u.dev_id, strerror(-r));
		return -1;
	}
	return 0;
}

/* Waits for udev or devtmpfs to make the block device node. */
static int wait_node(void)
{
	uint64_t end = ms_from_now(NODE_TIMEOUT_MS);
	struct stat st;

	while (stat(u.path, &st) != 0 || !S_ISBLK(st.st_mode)) {
		if (now_ns() > end) {
			error("'%s' did not appear within %u s of START_DEV", u.path, NODE_TIMEOUT_MS / 1000);
			return -1;
		}
		nap_ms(10);
	}
	return 0;
}

/* Waits until every queue thread has posted its FETCHes (START_DEV waits
 * for them in the kernel, without a deadline of its own). */
static int wait_ready(void)
{
	uint64_t end = ms_from_now(READY_TIMEOUT_MS);
	unsigned i;

	for (i = 0; i < u.nq; i++) {
		int s;

		while ((s = __atomic_load_n(&u.qs[i].ready, __ATOMIC_ACQUIRE)) == 0) {
			if (now_ns() > end) {
				error("ublk queue %u not ready within %u s", i, READY_TIMEOUT_MS / 1000);
				return -1;
			}
			nap_ms(1);
		}
		if (s < 0)
			return -1;
	}
	return 0;
}

static int ublk_stop(void);

static int ublk_start(const struct export *ex, const struct frontend_config *cfg,
		      char *path, size_t len)
{
	struct ublksrv_ctrl_cmd c = { .queue_id = (uint16_t)-1 };
	char cdev[64];
	unsigned i;
	int r;

	if (!cfg->queues || cfg->queues > UBLK_MAX_NR_QUEUES ||
	    cfg->depth > UBLK_MAX_QUEUE_DEPTH || cfg->dev_id < -1) {
		error("ublk: invalid geometry: %u queues of depth %u, device %d", cfg->queues,
		      cfg->depth, cfg->dev_id);
		return -1;
	}
	u.ex = ex;
	u.stopping = u.gone = 0;
	u.poll_us = cfg->poll_us;
	u.ctrl_fd = open_control();
	if (u.ctrl_fd < 0)
		return -1;
	detect(u.ctrl_fd, &u.encoded, &u.have_features, &u.features);
	u.io_bytes = UBLK_IO_BYTES;
	u.want_depth = cfg->depth ? cfg->depth : 128;
	while (u.io_bytes > UBLK_IO_MIN &&
	       (uint64_t)cfg->queues * u.want_depth * u.io_bytes > UBLK_REGION_MAX)
		u.io_bytes >>= 1;
	/* Still too much at the smallest buffer: fewer tags per queue. */
	while (u.want_depth > 1 && (uint64_t)cfg->queues * u.want_depth * u.io_bytes > UBLK_REGION_MAX)
		u.want_depth >>= 1;
	if (u.want_depth < (cfg->depth ? cfg->depth : 128u))
		info("ublk: queue depth %u instead of %u: %u queues of %u KiB buffers stay within "
		     "%llu MiB", u.want_depth, cfg->depth ? cfg->depth : 128u, cfg->queues, u.io_bytes >> 10,
		     (unsigned long long)(UBLK_REGION_MAX >> 20));
	if (add_dev(cfg) < 0 || set_params(ex) < 0)
		goto fail;
	snprintf(u.path, sizeof u.path, "/dev/ublkb%d", u.dev_id);

	u.region_len = (size_t)u.nq * u.depth * u.io_bytes;
	u.region = mmap(NULL, u.region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u.region == MAP_FAILED) {
		u.region = NULL;
		error("cannot allocate %zu bytes of ublk buffers: %m", u.region_len);
		goto fail;
	}
	if (ex->ops->register_buffers &&
	    ex->ops->register_buffers(ex->backend, u.region, u.region_len) < 0)
		goto fail;
	u.qs = calloc(u.nq, sizeof *u.qs);
	u.stats = calloc(u.nq, sizeof *u.stats);
	if (!u.qs || !u.stats) {
		error("out of memory");
		goto fail;
	}
	snprintf(cdev, sizeof cdev, "/dev/ublkc%d", u.dev_id);
	u.cfd = open(cdev, O_RDWR | O_CLOEXEC);
	if (u.cfd < 0) {
		error("cannot open '%s': %m", cdev);
		goto fail;
	}
	for (i = 0; i < u.nq; i++)
		u.qs[i].efd = -1;
	for (i = 0; i < u.nq; i++)
		if (queue_open(&u.qs[i], i) < 0)
			goto fail;
	for (i = 0; i < u.nq; i++) {
		r = pthread_create(&u.qs[i].thread, NULL, queue_main, &u.qs[i]);
		if (r) {
			errno = r;
			error("cannot start ublk queue thread: %m");
			goto fail;
		}
		u.qs[i].running = true;
	}
	if (wait_ready() < 0)
		goto fail;
	c.dev_id = (uint32_t)u.dev_id;
	c.data[0] = (uint64_t)getpid();
	r = ctrl(UBLK_CMD_START_DEV, &c, START_TIMEOUT_MS);
	if (r < 0) {
		error("ublk device %d: START_DEV failed: %s", u.dev_id, strerror(-r));
		goto fail;
	}
	u.started = true;
	if (wait_node() < 0)
		goto fail;
	if ((size_t)snprintf(path, len, "%s", u.path) >= len) {
		error("ublk: path buffer too small");
		goto fail;
	}
	info("ublk device %d: %u queues of depth %u, %u KiB buffers (%zu MiB), %s commands%s",
	     u.dev_id, u.nq, u.depth, u.io_bytes >> 10, u.region_len >> 20,
	     u.encoded ? "ioctl-encoded" : "plain", u.have_features ? "" : ", no GET_FEATURES");
	return 0;
fail:
	ublk_stop();
	return -1;
}

/* Removes the device and everything start() made, whatever got made; every
 * wait has a deadline.  The statistics stay for vramd's last dump. */
static int ublk_stop(void)
{
	struct ublksrv_ctrl_cmd c = { .dev_id = (uint32_t)u.dev_id, .queue_id = (uint16_t)-1 };
	bool all = true;
	unsigned i;
	int r;

	__atomic_store_n(&u.stopping, 1, __ATOMIC_RELEASE);
	if (u.added) {
		/* STOP_DEV aborts every posted FETCH, also of a device never
		 * started, which ends the queue threads. */
		r = ctrl(UBLK_CMD_STOP_DEV, &c, CTRL_TIMEOUT_MS);
		if (r < 0 && r != -ENODEV)
			error("ublk device %d: STOP_DEV failed: %s", u.dev_id, strerror(-r));
	}
	for (i = 0; u.qs && i < u.nq; i++) {
		if (!queue_join(&u.qs[i])) {
			all = false;
			continue;
		}
		queue_close(&u.qs[i]);
	}
	/* Closed before DEL_DEV, which waits for it; with a queue stuck, the
	 * device stays (vramd --ublk-del removes it once vramd is gone). */
	if (all && u.cfd >= 0) {
		close(u.cfd);
		u.cfd = -1;
	}
	if (u.added && !all) {
		/* DEL_DEV would wait for a close that cannot come: the device
		 * goes with the process, or `vramd --ublk-del` removes it. */
		error("ublk device %d left in place: a queue is stuck (vramd --ublk-del %d once "
		      "this vramd is gone)", u.dev_id, u.dev_id);
	} else if (u.added) {
		/* DEL_DEV waits for /dev/ublkcN to be closed everywhere. */
		r = ctrl(UBLK_CMD_DEL_DEV, &c, CTRL_TIMEOUT_MS);
		if (r < 0 && r != -ENODEV)
			error("ublk device %d: DEL_DEV failed: %s%s", u.dev_id, strerror(-r),
			      r == -ETIMEDOUT ? " (is /dev/ublkc open elsewhere?)" : "");
		else
			info("ublk device %d deleted", u.dev_id);
	}
	u.added = u.started = false;
	if (!all)
		return -1; /* a stuck thread may still use the buffers and stats */
	if (u.region)
		munmap(u.region, u.region_len);
	u.region = NULL;
	if (u.ctrl_fd >= 0)
		close(u.ctrl_fd);
	u.ctrl_fd = -1;
	return 0;
}

static int ublk_supported(char *why, size_t len)
{
	if (access(UBLK_CONTROL, F_OK) != 0) {
		snprintf(why, len, "no %s: load ublk_drv (CONFIG_BLK_DEV_UBLK)", UBLK_CONTROL);
		return 0;
	}
	if (access(UBLK_CONTROL, R_OK | W_OK) != 0) {
		snprintf(why, len, "cannot open '%s': %s (needs root)", UBLK_CONTROL, strerror(errno));
		return 0;
	}
	return 1;
}

/* Someone holds the device exclusively (swapon, a mount, a loop device's
 * claim): an exclusive open of our own fails with EBUSY. */
static bool ublk_busy(void)
{
	int fd;

	if (!u.started)
		return false;
	fd = open(u.path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == EBUSY;
	close(fd);
	return false;
}

static bool ublk_gone(void)
{
	return __atomic_load_n(&u.gone, __ATOMIC_ACQUIRE) != 0;
}

static void ublk_wake(unsigned idx)
{
	if (u.qs && idx < u.nq)
		wake_queue(&u.qs[idx]);
}

static struct worker_stats *const *ublk_stats(unsigned *n)
{
	*n = u.nq;
	return u.stats;
}

static void ublk_describe(json_t *doc)
{
	json_t *f = json_array();
	unsigned b;

	for (b = 0; b < 64; b++) {
		char name[16];

		if (!(u.features & (1ull << b)))
			continue;
		switch (b) {
#define X(bit, s) case bit: json_array_append_new(f, json_string(s)); continue;
		UBLK_FEATURES(X)
#undef X
		}
		snprintf(name, sizeof name, "bit%u", b);
		json_array_append_new(f, json_string(name));
	}
	json_object_set_new(doc, "frontend", json_string("ublk"));
	json_object_set_new(doc, "dev_id", json_integer(u.dev_id));
	json_object_set_new(doc, "device", json_string(u.path));
	json_object_set_new(doc, "features", f);
	json_object_set_new(doc, "features_known", json_boolean(u.have_features));
	json_object_set_new(doc, "ioctl_encoded", json_boolean(u.encoded));
	json_object_set_new(doc, "user_copy", json_false());
	json_object_set_new(doc, "queues", json_integer(u.nq));
	json_object_set_new(doc, "depth", json_integer(u.depth));
	json_object_set_new(doc, "io_buf_bytes", json_integer(u.io_bytes));
	json_object_set_new(doc, "buffers_bytes", json_integer((json_int_t)u.region_len));
}

int ublk_delete(int dev_id, bool force)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublksrv_ctrl_cmd c = { .dev_id = (uint32_t)dev_id, .queue_id = (uint16_t)-1 };
	bool encoded, have;
	uint64_t features;
	int fd, r, rc = -1;

	if (dev_id < 0) {
		error("invalid ublk device number %d", dev_id);
		return -1;
	}
	fd = open_control();
	if (fd < 0)
		return -1;
	detect(fd, &encoded, &have, &features);
	memset(&info, 0, sizeof info);
	c.addr = (uint64_t)(uintptr_t)&info;
	c.len = sizeof info;
	r = ctrl_cmd(fd, encoded, UBLK_CMD_GET_DEV_INFO, &c, CTRL_TIMEOUT_MS);
	if (r == -ENODEV) {
		error("cannot delete ublk device %d: no such device", dev_id);
		goto out;
	}
	if (r < 0) {
		error("cannot delete ublk device %d: GET_DEV_INFO failed: %s", dev_id, strerror(-r));
		goto out;
	}
	/* A device whose server lives is someone's device in use (maybe a
	 * number taken after a crash left it journalled for deletion), not
	 * a leftover: only deleted when asked to be. */
	if (info.ublksrv_pid > 0 && kill(info.ublksrv_pid, 0) == 0) {
		if (!force) {
			error("not deleting ublk device %d: its server (pid %d) is running, so it is "
			      "not a leftover; stop that server, or add --force", dev_id, info.ublksrv_pid);
			goto out;
		}
		warn("ublk device %d: its server (pid %d) is still running; deleting it (--force)",
		     dev_id, info.ublksrv_pid);
	}
	c.addr = 0;
	c.len = 0;
	r = ctrl_cmd(fd, encoded, UBLK_CMD_STOP_DEV, &c, CTRL_TIMEOUT_MS);
	if (r < 0 && r != -ENODEV) {
		error("cannot delete ublk device %d: STOP_DEV failed: %s", dev_id, strerror(-r));
		goto out;
	}
	r = ctrl_cmd(fd, encoded, UBLK_CMD_DEL_DEV, &c, CTRL_TIMEOUT_MS);
	if (r < 0) {
		error("cannot delete ublk device %d: DEL_DEV failed: %s%s", dev_id, strerror(-r),
		      r == -ETIMEDOUT ? " (is /dev/ublkc open elsewhere?)" : "");
		goto out;
	}
	info("ublk device %d deleted", dev_id);
	rc = 0;
out:
	close(fd);
	return rc;
}

const struct frontend_ops frontend_ublk = {
	.name = "ublk",
	.summary = "the block device /dev/ublkbN itself, through ublk_drv",
	.supported = ublk_supported,
	.start = ublk_start,
	.busy = ublk_busy,
	.gone = ublk_gone,
	.stop = ublk_stop,
	.wake = ublk_wake,
	.stats = ublk_stats,
	.describe = ublk_describe,
};
