/* The request path the block front ends share (frontend.h): a batch of
 * block requests from the kernel becomes backend operations, one wait, and
 * a status each, counted in the queue's statistics like NBD commands. */
#include <errno.h>
#include <liburing.h>
#include <stddef.h>
#include <string.h>

#include "frontend.h"
#include "log.h"

int blk_queue_open(struct blk_queue *q, const struct export *ex, unsigned idx)
{
	memset(q, 0, sizeof *q);
	q->ex = ex;
	hist_init(&q->st.inflight);
	q->bw = ex->ops->worker_open(ex->backend, idx);
	return q->bw ? 0 : -1;
}

void blk_queue_close(struct blk_queue *q)
{
	if (q->bw) {
		if (q->ex->ops->kick)
			q->ex->ops->kick(q->bw); /* held-back work starts before the context goes */
		q->ex->ops->worker_close(q->bw);
	}
	q->bw = NULL;
}

static unsigned stat_of(uint8_t op)
{
	switch (op) {
	case BLK_READ: return STAT_read;
	case BLK_WRITE: return STAT_write;
	case BLK_FLUSH: return STAT_flush;
	case BLK_TRIM: return STAT_trim;
	case BLK_ZERO: return STAT_write_zeroes;
	}
	return STAT_other;
}

/* 0, or the positive errno a request fails with before reaching the
 * backend. */
static int check(const struct export *ex, const struct blk_req *r)
{
	if (r->op > BLK_ZERO)
		return EINVAL;
	if (r->op == BLK_FLUSH)
		return 0;
	/* Only data moves through the buffers; a trim or zeroing may span
	 * much more (a loop device passes up to 4 GiB). */
	if (r->len == 0 || (r->len > BLK_MAX_IO && (r->op == BLK_READ || r->op == BLK_WRITE)) ||
	    r->off > ex->size || r->len > ex->size - r->off)
		return EINVAL;
	if (ex->read_only && r->op != BLK_READ)
		return EPERM;
	return 0;
}

static void count(struct blk_queue *q, const struct blk_req *r, uint64_t t0_ns)
{
	struct cmd_stats *c = &q->st.cmd[stat_of(r->op)];

	/* Single writer: plain increments published with relaxed stores. */
	__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
	if (r->status)
		__atomic_store_n(&c->errors, c->errors + 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&c->bytes, c->bytes + r->len, __ATOMIC_RELAXED);
	hist_add(&c->latency_ns, now_ns() - t0_ns);
}

/* Waits for what is queued; a lost device fails every request queued
 * (their statuses say so already, or get EIO here). */
static void wait_queued(struct blk_queue *q, struct blk_req *r, unsigned from, unsigned to)
{
	int rc = q->ex->ops->sync(q->bw);
	unsigned i;

	if (rc < 0)
		for (i = from; i < to; i++)
			if (r[i].op != BLK_FLUSH && !r[i].status)
				r[i].status = -rc;
}

void blk_run(struct blk_queue *q, struct blk_req *r, unsigned n, uint64_t t0_ns)
{
	const struct backend_ops *ops = q->ex->ops;
	unsigned i, first = 0; /* r[first..i) are queued, not yet waited for */
	int rc;

	for (i = 0; i < n; i++) {
		struct blk_req *x = &r[i];

		x->status = check(q->ex, x);
		if (x->status)
			continue;
		switch (x->op) {
		case BLK_READ:
			rc = ops->pread(q->bw, x->buf, x->len, x->off, &x->status);
			break;
		case BLK_WRITE:
			rc = ops->pwrite(q->bw, x->buf, x->len, x->off, x->fua, &x->status);
			break;
		case BLK_TRIM:
			rc = ops->trim(q->bw, x->len, x->off, &x->status);
			break;
		case BLK_ZERO:
			rc = ops->zero(q->bw, x->len, x->off, &x->status);
			break;
		default: /* BLK_FLUSH: everything before it completes first */
			if (first < i)
				wait_queued(q, r, first, i);
			first = i + 1;
			rc = ops->flush(q->bw);
			break;
		}
		if (rc < 0)
			x->status = -rc;
	}
	if (first < n)
		wait_queued(q, r, first, n);
	hist_add(&q->st.inflight, n);
	for (i = 0; i < n; i++)
		count(q, &r[i], t0_ns);
}

void blk_after_reply(struct blk_queue *q)
{
	const struct backend_ops *ops = q->ex->ops;

	/* XXX: a backend may hold write-backs to start several rounds' in
	 * bulk; started after every round here, which costs batching but
	 * never leaves work waiting for a round that does not come. */
	if (ops->deferred && ops->deferred(q->bw))
		ops->kick(q->bw);
}

struct io_uring_sqe *blk_sqe(struct io_uring *ring, const char *who)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	if (!sqe) {
		error("%s: no free submission entry", who);
		return NULL;
	}
	memset((void *)(uintptr_t)sqe, 0, 2 * sizeof *sqe);
	return sqe;
}

void *blk_sqe_cmd(struct io_uring_sqe *sqe)
{
	return (uint8_t *)(uintptr_t)sqe + offsetof(struct io_uring_sqe, cmd);
}

bool blk_post_wake(struct io_uring *ring, int efd, uint64_t *val, uint64_t ud, const char *who)
{
	struct io_uring_sqe *sqe = blk_sqe(ring, who);

	if (!sqe)
		return false;
	io_uring_prep_read(sqe, efd, val, sizeof *val, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return true;
}

/* A completion that comes while the thread spins is posted by task work,
 * which interrupts it (neither ring defers task work): the spin sees it
 * with no sleep and no wake-up in between. */
int blk_submit_wait(struct blk_queue *q, struct io_uring *ring, unsigned poll_us)
{
	uint64_t end;
	unsigned k = 0;
	int r;

	if (!poll_us || io_uring_cq_ready(ring))
		return io_uring_submit_and_wait(ring, 1);
	r = io_uring_submit(ring);
	if (r < 0)
		return r;
	end = now_ns() + (uint64_t)poll_us * 1000;
	while (!io_uring_cq_ready(ring)) {
		if ((++k & 63) == 0 && now_ns() >= end)
			return io_uring_submit_and_wait(ring, 1);
		cpu_relax();
	}
	__atomic_store_n(&q->st.busy_poll_hits, q->st.busy_poll_hits + 1, __ATOMIC_RELAXED);
	return r;
}
