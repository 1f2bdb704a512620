/* I/O workers on io_uring: see worker.h.  Per connection at most one recv
 * and one send are in flight; a receive completion runs the session, whose
 * replies go out in one send.  With requests pipelined by the client (the
 * kernel client, libnbd, fio), one recv brings many requests and one send
 * returns all their replies, so system calls are amortised over the batch.
 * Why one ring per worker thread: connections never migrate, nothing on
 * the I/O path takes a lock, and a worker per core scales across cores. */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "worker.h"

enum { OP_RECV, OP_SEND, OP_EVENT };

struct conn {
	struct session s;
	struct worker *w;
	struct conn *next;      /* free list or hand-off queue */
	int fd;
	unsigned ops;           /* SQEs in flight */
	bool recv_posted, send_posted;
	bool recv_direct;       /* the posted recv targets s.direct, not rx */
	bool eof, dead;         /* peer closed / send failed */
	bool structured;
	unsigned slot;          /* index in the worker's conns[] */
};

struct worker {
	unsigned idx;
	pthread_t thread;
	struct io_uring ring;
	int efd;
	uint64_t efd_val;
	pthread_mutex_t lock;
	struct conn *incoming;  /* handed over, not yet adopted */
	struct conn **conns;    /* served connections */
	unsigned nconns, load;  /* load: adopted + incoming, for balancing */
	void *bw;
	struct worker_stats stats;
};

static const struct export *export;
static struct worker *workers;
static struct worker_stats **stats_ptrs;
static unsigned nworkers;
static struct conn *pool, *pool_free;
static uint8_t *pool_mem;
static size_t pool_bytes;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stopping;
static unsigned open_conns;
static uint64_t poll_ns;        /* --busy-poll */

unsigned connections_open(void)
{
	return __atomic_load_n(&open_conns, __ATOMIC_SEQ_CST);
}

void connections_add(int delta)
{
	__atomic_add_fetch(&open_conns, (unsigned)delta, __ATOMIC_SEQ_CST);
}

struct worker_stats *const *workers_stats(unsigned *n)
{
	*n = nworkers;
	return stats_ptrs;
}

static inline uint64_t ud(void *p, unsigned op)
{
	return (uint64_t)(uintptr_t)p | op;
}

/* Every submission goes through here: the backend first learns that
 * replies are about to leave (deferred(), which may start held-back
 * device work, keep it for later, or ask for kick() once the replies are
 * submitted); returns how long the worker may idle with work held (us),
 * or 0.  With always false, a submission only happens for a kick: the
 * wait in worker_main submits the rest. */
static unsigned submit(struct worker *w, bool always)
{
	unsigned held = export->ops->deferred ? export->ops->deferred(w->bw) : 0;

	if (always || held == BACKEND_KICK_NOW)
		io_uring_submit(&w->ring);
	if (held == BACKEND_KICK_NOW) {
		export->ops->kick(w->bw);
		held = 0;
	}
	return held;
}

static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		submit(w, true);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe; /* the ring has room for every connection's two ops */
}

static void post_event_read(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof w->efd_val, 0);
	io_uring_sqe_set_data64(sqe, ud(w, OP_EVENT));
}

static void release(struct conn *c)
{
	struct worker *w = c->w;

	if (c->s.direct)
		session_direct_done(&c->s, 0); /* a lent region goes back */
	close(c->fd);
	w->conns[c->slot] = w->conns[--w->nconns];
	w->conns[c->slot]->slot = c->slot;
	__atomic_store_n(&w->stats.connections_current, w->stats.connections_current - 1,
			 __ATOMIC_RELAXED);
	__atomic_sub_fetch(&w->load, 1, __ATOMIC_RELAXED);
	if (c->s.close_why)
		warn_limited("connection closed: %s", c->s.close_why);
	workers_unreserve(c);
	connections_add(-1);
}

/* Drives one connection after any completion: process, send, receive,
 * or close once nothing is left to do. */
static void post_recv(struct conn *c)
{
	struct session *s = &c->s;
	struct io_uring_sqe *sqe;

	if (c->recv_posted || c->eof || c->dead || s->close || stopping)
		return;
	if (!s->direct) {
		session_compact_rx(s);
		if (!session_rx_room(s))
			return; /* rx full: the next send completion calls us again */
	}
	sqe = get_sqe(c->w);
	c->recv_direct = s->direct != NULL;
	if (s->direct)
		io_uring_prep_recv(sqe, c->fd, s->direct,
				   s->direct_len < s->s_left ? s->direct_len : s->s_left, 0);
	else
		io_uring_prep_recv(sqe, c->fd, s->rx + s->rx_tail, session_rx_room(s), 0);
	io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
	c->recv_posted = true;
	c->ops++;
}

static void conn_run(struct conn *c)
{
	struct session *s = &c->s;
	struct io_uring_sqe *sqe;

	/* A backend that waits for a device (the GPU) gets the next receive
	 * going before the wait, so network and device overlap; session
	 * processing only reads rx below rx_tail, the receive writes above.
	 * session_receive_ahead() says when that is worth it. */
	if (export->ops->waits && !c->recv_posted && s->rx_tail > s->rx_head &&
	    session_receive_ahead(s)) {
		post_recv(c);
		submit(c->w, true);
	}
	if (!c->dead && !s->close && session_process(s) < 0)
		s->close = true;
	if (!c->dead && !c->send_posted && s->tx_sent < s->tx_len) {
		sqe = get_sqe(c->w);
		io_uring_prep_send(sqe, c->fd, s->tx + s->tx_sent, s->tx_len - s->tx_sent,
				   MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
		c->send_posted = true;
		c->ops++;
	}
	post_recv(c);
	/* Done when the peer is gone or we decided to close, and every reply
	 * that can be sent has been. */
	if ((c->eof || c->dead || s->close || stopping) && !c->send_posted) {
		if (c->ops == 0)
			release(c);
		else
			shutdown(c->fd, SHUT_RDWR); /* completes the pending recv */
	} else if (stopping) {
		/* A send to a client that reads no more would hold the exit
		 * for ever: ended here, it completes with an error. */
		shutdown(c->fd, SHUT_RDWR);
	}
}

static void adopt_incoming(struct worker *w)
{
	struct conn *c, *next;

	pthread_mutex_lock(&w->lock);
	c = w->incoming;
	w->incoming = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; c; c = next) {
		next = c->next;
		c->w = w;
		c->slot = w->nconns;
		w->conns[w->nconns++] = c;
		session_init(&c->s, export, w->bw, &w->stats, c->structured, c->s.rx, c->s.tx);
		__atomic_store_n(&w->stats.connections_total, w->stats.connections_total + 1,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&w->stats.connections_current, w->stats.connections_current + 1,
				 __ATOMIC_RELAXED);
		conn_run(c);
	}
}

/* A receive or send that failed for now only (posted again later). */
static bool retry(int res)
{
	return res == -EINTR || res == -EAGAIN || res == -ENOBUFS;
}

static void handle(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t d = io_uring_cqe_get_data64(cqe);
	unsigned op = d & 3;
	struct conn *c = (struct conn *)(uintptr_t)(d & ~(uint64_t)3);
	int res = cqe->res;
	unsigned i;

	if (op == OP_EVENT) {
		adopt_incoming(w);
		if (stopping)
			for (i = w->nconns; i-- > 0;)
				conn_run(w->conns[i]);
		else
			post_event_read(w);
		return;
	}
	c->ops--;
	if (op == OP_RECV) {
		c->recv_posted = false;
		if (c->recv_direct) {
			/* A failed receive still returns the region. */
			session_direct_done(&c->s, res > 0 ? (uint32_t)res : 0);
			if (res <= 0 && !retry(res))
				c->eof = true;
		} else if (res > 0) {
			/* A region lent while this receive into rx was in
			 * flight would now be at the wrong offset: give it
			 * back; the session asks again once rx is consumed. */
			if (c->s.direct)
				session_direct_done(&c->s, 0);
			c->s.rx_tail += (uint32_t)res;
			c->s.t_batch = now_ns();
		} else if (!retry(res)) {
			c->eof = true;
		}
	} else {
		c->send_posted = false;
		if (res > 0) {
			c->s.tx_sent += (uint32_t)res;
			session_compact_tx(&c->s);
		} else if (!retry(res)) {
			c->dead = true;
		}
	}
	conn_run(c);
}

/* --busy-poll: with clients connected and nothing completed, submit and
 * spin on the completion queue for a while before sleeping in the kernel.
 * A receive that completes meanwhile is delivered by task work, which
 * interrupts the spinning thread; a sleeping one would first have to be
 * woken, its (virtual) CPU brought out of idle: several microseconds per
 * request at queue depth 1. */
static void busy_poll(struct worker *w)
{
	uint64_t end;
	unsigned k = 0;

	if (!poll_ns || !w->nconns || io_uring_cq_ready(&w->ring))
		return;
	io_uring_submit(&w->ring);
	end = now_ns() + poll_ns;
	while (!io_uring_cq_ready(&w->ring)) {
		if ((++k & 63) == 0 && now_ns() >= end)
			return;
		cpu_relax();
	}
	__atomic_store_n(&w->stats.busy_poll_hits, w->stats.busy_poll_hits + 1, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct io_uring_cqe *cqe;
	unsigned head, n, held = 0;

	post_event_read(w);
	while (!stopping || w->nconns) {
		int r;

		if (held) {
			/* Held-back device work starts when the worker has been
			 * idle that long, unless a round comes first. */
			struct __kernel_timespec ts = { 0, (long long)held * 1000 };
			struct io_uring_cqe *first;

			r = io_uring_submit_and_wait_timeout(&w->ring, &first, 1, &ts, NULL);
			if (r == -ETIME) {
				export->ops->kick(w->bw);
				held = 0;
				continue;
			}
		} else {
			busy_poll(w);
			r = io_uring_submit_and_wait(&w->ring, 1);
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
			errno = -r;
			error("worker %u: io_uring_submit_and_wait: %m", w->idx);
			break;
		}
		n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			handle(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		held = submit(w, false); /* the wait above submits */
	}
	/* Device work held back starts now: a worker still serving may be
	 * waiting for it, and no round of this one will come to start it. */
	if (export->ops->kick)
		export->ops->kick(w->bw);
	return NULL;
}

static int pool_init(unsigned max)
{
	size_t per = SESSION_RX_CAP + session_tx_space(export);
	unsigned i;

	pool = calloc(max, sizeof *pool);
	pool_bytes = per * max;
	pool_mem = mmap(NULL, pool_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!pool || pool_mem == MAP_FAILED) {
		error("cannot allocate buffers for %u connections: %m", max);
		free(pool);
		return -1;
	}
	for (i = 0; i < max; i++) {
		pool[i].s.rx = pool_mem + per * i;
		pool[i].s.tx = pool[i].s.rx + SESSION_RX_CAP;
		pool[i].next = i + 1 < max ? &pool[i + 1] : NULL;
	}
	pool_free = pool;
	return 0;
}

int workers_start(const struct export *ex, unsigned n, unsigned max_conns, unsigned busy_poll_us)
{
	unsigned i, entries = 2 * max_conns + 8;
	int r;

	export = ex;
	poll_ns = busy_poll_us * 1000ull;
	if (pool_init(max_conns) < 0)
		return -1;
	if (ex->ops->register_buffers &&
	    ex->ops->register_buffers(ex->backend, pool_mem, pool_bytes) < 0)
		return -1;
	workers = calloc(n, sizeof *workers);
	stats_ptrs = calloc(n, sizeof *stats_ptrs);
	if (!workers || !stats_ptrs) {
		error("out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		pthread_mutex_init(&w->lock, NULL);
		stats_ptrs[i] = &w->stats;
		hist_init(&w->stats.inflight);
		w->conns = calloc(max_conns, sizeof *w->conns);
		w->efd = eventfd(0, EFD_CLOEXEC);
		if (!w->conns || w->efd < 0) {
			error("worker %u: cannot set up: %m", i);
			return -1;
		}
		r = io_uring_queue_init(entries < 4096 ? entries : 4096, &w->ring, 0);
		if (r < 0) {
			errno = -r;
			error("io_uring_queue_init: %m (io_uring disabled? see kernel.io_uring_disabled)");
			return -1;
		}
		w->bw = ex->ops->worker_open(ex->backend, i);
		if (!w->bw)
			return -1;
	}
	for (i = 0; i < n; i++) {
		r = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (r) {
			errno = r;
			error("cannot start worker thread: %m");
			workers_stop(); /* those started: nothing left running */
			return -1;
		}
		nworkers = i + 1;
	}
	return 0;
}

struct conn *workers_reserve(void)
{
	struct conn *c;

	pthread_mutex_lock(&pool_lock);
	c = pool_free;
	if (c)
		__atomic_store_n(&pool_free, c->next, __ATOMIC_RELAXED); /* workers_slot_free */
	pthread_mutex_unlock(&pool_lock);
	return c;
}

void workers_unreserve(struct conn *c)
{
	pthread_mutex_lock(&pool_lock);
	c->next = pool_free;
	__atomic_store_n(&pool_free, c, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool_lock);
}

bool workers_slot_free(void)
{
	return __atomic_load_n(&pool_free, __ATOMIC_RELAXED) != NULL;
}

void workers_adopt(int fd, bool structured, struct conn *c)
{
	struct worker *best;
	uint64_t one = 1;
	unsigned i;

	best = &workers[0];
	for (i = 1; i < nworkers; i++)
		if ( __atomic_load_n(&workers[i].load, __ATOMIC_RELAXED) <
			     __atomic_load_n(&best->load, __ATOMIC_RELAXED))
			best = &workers[i];
	c->fd = fd;
	c->structured = structured;
	c->ops = 0;
	c->recv_posted = c->send_posted = c->eof = c->dead = false;
	c->s.close_why = NULL;
	__atomic_add_fetch(&best->load, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&best->lock);
	c->next = best->incoming;
	best->incoming = c;
	pthread_mutex_unlock(&best->lock);
	if (write(best->efd, &one, sizeof one) < 0)
		error("cannot wake worker: %m");
}

void workers_wake(unsigned idx)
{
	uint64_t one = 1;

	if (idx < nworkers && write(workers[idx].efd, &one, sizeof one) < 0)
		error("cannot wake worker %u: %m", idx);
}

void workers_stop(void)
{
	uint64_t one = 1;
	unsigned i;

	stopping = 1;
	for (i = 0; i < nworkers; i++)
		if (write(workers[i].efd, &one, sizeof one) < 0)
			error("cannot wake worker: %m");
	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i].thread, NULL);
	for (i = 0; i < nworkers; i++) {
		io_uring_queue_exit(&workers[i].ring);
		export->ops->worker_close(workers[i].bw);
	}
}
