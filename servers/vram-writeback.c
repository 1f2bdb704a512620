/* Writes are write-back, as the NBD protocol allows for a write without
 * FUA: the payload is copied into the worker's pinned staging ring (large
 * payloads are received there directly), the reply goes out, and the copy
 * to VRAM starts after it (a large one once newer ones wait behind it:
 * VRAM_DELAY_BYTES); a CUDA event fences each round.  Every later
 * request sees the data: the worker's own in stream order, other workers'
 * by waiting on the writer's latest fence (cudaStreamWaitEvent) where
 * that writer's write-backs touched the same 64 KiB.  FLUSH and FUA wait
 * for completion.  A copy that fails marks the device lost: every later
 * request fails (a read could return bytes from before a lost write).
 *
 * Here: each worker's staging ring and its regions, the fences that
 * retire them, and the ordering of one worker's stream after another's
 * write-backs.  Try: tests/test-vram-double.sh (over an emulated GPU,
 * tests/gpu-double/), or test-vram.sh on a GPU. */
#include <cuda_runtime.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "vram-internal.h"

/* Frees the staging regions whose copies are complete. */
void reclaim(struct vram_worker *w, uint64_t done)
{
	while (w->g_n && w->reg[w->g_head].seq != SEQ_HELD && w->reg[w->g_head].seq <= done) {
		w->r_head = w->reg[w->g_head].end;
		w->g_head = (w->g_head + 1) % VRAM_REGIONS;
		w->g_n--;
	}
	if (w->g_n == 0)
		w->r_head = w->r_tail = 0;
}

/* Waits for event ev, or with ev NULL for stream s: the runtime's own
 * wait, or while the resident kernel runs a loop of queries that watches
 * how long the wait lasts (serve_watch). */
cudaError_t host_wait(struct vram *v, cudaStream_t s, cudaEvent_t ev)
{
	uint64_t t0 = 0;
	unsigned spins = 0;
	cudaError_t e;

	if (__atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE) != SERVE_RUNNING)
		return ev ? cudaEventSynchronize(ev) : cudaStreamSynchronize(s);
	while ((e = ev ? cudaEventQuery(ev) : cudaStreamQuery(s)) == cudaErrorNotReady)
		if (++spins % 256 == 0)
			serve_watch(v, &t0);
	return e;
}

/* Retires completed fences, looking at no more than max of them (each
 * look is a cudaEventQuery, some 0.4 us); with wait, waits for the
 * oldest first. */
static void fence_poll(struct vram_worker *w, bool wait, unsigned max)
{
	struct vram_wb *me = &w->v->wb[w->idx];
	uint64_t done = me->done;

	while (w->f_n && max--) {
		cudaEvent_t ev = w->fence[w->f_head].ev;
		cudaError_t e = wait ? host_wait(w->v, NULL, ev) : cudaEventQuery(ev);

		if (e == cudaErrorNotReady)
			break;
		if (e != cudaSuccess)
			mark_lost(w->v, e); /* the copies failed: nothing to wait for */
		done = w->fence[w->f_head].seq;
		w->f_head = (w->f_head + 1) % VRAM_FENCES;
		w->f_n--;
		wait = false;
	}
	store_rel(&me->done, done);
	reclaim(w, done);
}

/* Everything on the stream finished (after a synchronisation). */
void all_done(struct vram_worker *w)
{
	struct vram_wb *me = &w->v->wb[w->idx];

	w->f_n = 0;
	w->dirty = w->dirty_engine = w->on_stream = false;
	store_rel(&me->done, w->posted);
	store_rel(&me->kicked, w->posted);
	reclaim(w, w->posted);
}

/* Puts every write-back of this worker on the stream behind a fence, and
 * publishes the fence for the other workers. */
void cover(struct vram_worker *w)
{
	struct vram_wb *me = &w->v->wb[w->idx];
	cudaError_t e;
	unsigned i;

	launch(w); /* delayed write-backs first, then the batch */
	if (!w->dirty)
		return;
	/* Retire as fences are added, a couple at a time: a full table
	 * would cost a burst of queries at once (a slow request in 64 at
	 * queue depth 1). */
	fence_poll(w, w->f_n == VRAM_FENCES, 2);
	i = (w->f_head + w->f_n) % VRAM_FENCES;
	e = cudaEventRecord(w->fence[i].ev, w->stream);
	if (e != cudaSuccess) {
		/* Without a fence the others cannot wait on the stream:
		 * finish it here instead. */
		mark_lost(w->v, e);
		cudaStreamSynchronize(w->stream);
		all_done(w);
		return;
	}
	w->fence[i].seq = w->posted;
	w->f_n++;
	w->dirty = w->dirty_engine = false;
	__atomic_store_n(&me->last, w->fence[i].ev, __ATOMIC_RELEASE);
	store_rel(&me->kicked, w->posted);
}

/* Orders this worker's stream after the first t write-backs of worker
 * i.  Those may still be held in i's batch: then i is asked to start
 * them, after this worker has started its own (so two workers waiting
 * for each other both go on). */
static void order_after(struct vram_worker *w, unsigned i, uint64_t t)
{
	struct vram_wb *o = &w->v->wb[i];
	unsigned spins;
	uint64_t k;
	cudaEvent_t ev;
	cudaError_t e;

	if (load_acq(&o->kicked) < t && load_acq(&o->done) < t) {
		cover(w);
		__atomic_store_n(&o->kick_req, 1, __ATOMIC_RELEASE);
		if (w->v->wake)
			w->v->wake(i);
	}
	for (spins = 0; load_acq(&o->kicked) < t && load_acq(&o->done) < t; spins++)
		if (spins > 64)
			sched_yield();
	if (load_acq(&o->done) >= t) {
		if (w->seen[i] < t)
			w->seen[i] = t;
		return;
	}
	k = load_acq(&o->kicked); /* `last` is at least this recent */
	ev = __atomic_load_n(&o->last, __ATOMIC_ACQUIRE);
	if ((e = cudaStreamWaitEvent(w->stream, ev, 0)) != cudaSuccess) {
		/* Not ordered on the stream: wait for the copies here. */
		warn("vram backend: cudaStreamWaitEvent: %s; waiting on the host",
		     cudaGetErrorString(e));
		if ((e = host_wait(w->v, NULL, ev)) != cudaSuccess) {
			mark_lost(w->v, e); /* unordered: no request may go on */
			return;
		}
	}
	w->on_stream = true;
	COUNT(w, order_waits, 1);
	w->seen[i] = k;
}

/* Orders the stream after worker i's first t write-backs unless it is
 * already, or they are complete. */
void order_upto(struct vram_worker *w, unsigned i, uint64_t t)
{
	if (i != w->idx && t > w->seen[i] && load_acq(&w->v->wb[i].done) < t)
		order_after(w, i, t);
}

/* Before an access to [off, off+len): orders the stream after the other
 * workers' write-backs there whose replies may have reached a client
 * (the announced ones; an unannounced one is concurrent with this
 * request).  Each worker is tracked on its own, so no ordering passes
 * through a third, and requests elsewhere never wait. */
void order_range(struct vram_worker *w, uint64_t off, uint32_t len)
{
	struct vram *v = w->v;
	uint64_t c, last = (off + len - 1) >> v->chunk_shift;
	unsigned i;

	for (c = off >> v->chunk_shift; c <= last; c++)
		for (i = 0; i < v->nworkers; i++) {
			uint64_t t = load_acq(&v->lastw[c * v->nworkers + i]), a;

			if (t <= w->seen[i])
				continue; /* the common case: nothing new there */
			a = load_acq(&v->wb[i].announced);
			order_upto(w, i, a < t ? a : t);
		}
}

/* Records write-back number seq of this worker over [off, off+len). */
void note_write(struct vram_worker *w, uint64_t off, uint32_t len, uint64_t seq)
{
	struct vram *v = w->v;
	uint64_t c, last = (off + len - 1) >> v->chunk_shift;

	for (c = off >> v->chunk_shift; c <= last; c++)
		store_rel(&v->lastw[c * v->nworkers + w->idx], seq);
}

/* A staging region of len bytes for write-back number seq (or SEQ_HELD),
 * waiting for older copies when the ring is full; NULL when it cannot be
 * had (the caller then takes the synchronous path). */
uint8_t *ring_alloc(struct vram_worker *w, uint32_t len, uint64_t seq)
{
	uint32_t at;
	bool polled = false;

	len = (len + 63) & ~63u;
	if (!w->v->ring_len || len > w->v->ring_len / 2)
		return NULL;
	for (;;) {
		if (w->g_n < VRAM_REGIONS) {
			if (w->r_tail >= w->r_head) {
				if (w->v->ring_len - w->r_tail >= len)
					at = w->r_tail;
				else if (w->r_head > len)
					at = 0;
				else
					goto full;
			} else if (w->r_head - w->r_tail > len) {
				at = w->r_tail;
			} else {
				goto full;
			}
			w->r_tail = at + len;
			w->reg[(w->g_head + w->g_n) % VRAM_REGIONS].start = at;
			w->reg[(w->g_head + w->g_n) % VRAM_REGIONS].end = at + len;
			w->reg[(w->g_head + w->g_n) % VRAM_REGIONS].seq = seq;
			w->g_n++;
			return w->ring + at;
		}
full:
		if (!polled) {
			fence_poll(w, false, VRAM_FENCES);
			polled = true;
			continue;
		}
		/* The oldest region may be lent to a receive that only this
		 * thread can complete: never wait for it. */
		if (w->g_n && w->reg[w->g_head].seq == SEQ_HELD)
			return NULL;
		if (!w->f_n)
			cover(w);
		if (!w->f_n)
			return NULL;
		COUNT(w, staging_waits, 1);
		fence_poll(w, true, VRAM_FENCES);
	}
}
