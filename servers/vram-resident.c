/* A lone small read (queue depth 1) with nothing else on the worker's
 * stream goes to the resident kernel instead (vram-copy.h), launched at
 * the first such read: the worker fills its mailbox and spins until the
 * GPU answers, with no driver call.  The kernel ends once no lone read
 * has come for --resident-idle (the GPU idles again) and is launched
 * anew by the next.  --resident-kernel off, or --cuda-sync blocking,
 * leaves it unused.
 *
 * Here: its launches, its end on idle and relaunch, the watch on waits
 * it may hold up, and its states (enum serve_state) as stats name them.
 * Try: tests/test-vram-double.sh (over an emulated GPU, tests/gpu-double/),
 * or vramd -v on a GPU, which logs each launch. */
#include <cuda_runtime.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "vram-internal.h"

static const char *const serve_names[] = { "off", "idle", "launching", "running", "stopped",
					   "failed", "stuck", "abandoned" };
/* Stats' name for SERVE_RUNNING once that launch has ended on idle. */
#define SERVE_PARKED_NAME "parked"
/* A wait for the GPU this long while the resident kernel runs means the
 * driver holds other work behind it (it should not: every kernel is
 * loaded at start-up); the kernel is then told to quit, for good. */
#define SERVE_PATIENCE_NS (500ull * 1000 * 1000)

/* Whether the launch on the stream has ended on idle (and the next lone
 * read must launch it again). */
static bool serve_parked(struct vram *v)
{
	return __atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE) == SERVE_RUNNING &&
	       __atomic_load_n(v->gone, __ATOMIC_ACQUIRE) ==
		       __atomic_load_n(&v->serve_args.gen, __ATOMIC_ACQUIRE);
}

/* Stats' name for the state: serve_names[], or SERVE_PARKED_NAME. */
const char *serve_state_name(struct vram *v)
{
	return serve_parked(v) ? SERVE_PARKED_NAME :
	       serve_names[__atomic_load_n(&v->serve_state, __ATOMIC_RELAXED)];
}

/* Launches the kernel as the next gen (serve_mu held, the stream idle). */
static cudaError_t serve_launch(struct vram *v)
{
	struct vram_serve_args a = v->serve_args;
	cudaError_t e;

	a.gen++;
	e = (cudaError_t)vram_serve_launch(&a, v->nworkers, v->serve);
	if (e != cudaSuccess)
		return e;
	__atomic_store_n(&v->serve_args.gen, a.gen, __ATOMIC_RELEASE);
	__atomic_add_fetch(&v->resident_launches, 1, __ATOMIC_RELAXED);
	return e;
}

/* A lone read is about to be posted, or one waiting in its mailbox found
 * the stream idle, with the kernel said to have ended.  Judged under
 * serve_mu: the stream still busy (the last blocks of a launch that
 * ended on idle are ending, or another worker has launched it again) or
 * failed (the read's own query tells it): false.  Ended on idle: launched
 * again here, false (unless the launch failed: that stops it for good).
 * Told to quit, ended unasked, or not launched again: true, lone reads
 * take the stream (no launch will answer a mailbox). */
static bool serve_gone(struct vram *v)
{
	int running = SERVE_RUNNING;
	bool gone = false;
	cudaError_t e;

	pthread_mutex_lock(&v->serve_mu);
	e = cudaStreamQuery(v->serve);
	if (e != cudaSuccess)
		goto out;
	if (serve_parked(v)) {
		e = serve_launch(v);
		if (e == cudaSuccess) {
			debug("vram backend: resident kernel launched again (launch %u)",
			      v->serve_args.gen);
			goto out;
		}
		warn("vram backend: the resident kernel cannot start again (%s): lone reads use "
		     "the copy engines", cudaGetErrorString(e));
		__atomic_store_n(&v->serve_state, SERVE_FAILED, __ATOMIC_RELEASE);
	} else if (__atomic_compare_exchange_n(&v->serve_state, &running, SERVE_FAILED, false,
					       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		warn("vram backend: the resident kernel ended; lone reads use the copy engines");
	}
	gone = true;
out:
	pthread_mutex_unlock(&v->serve_mu);
	return gone;
}

/* Whether the resident kernel runs; the first worker to ask launches it
 * (late, so that no start-up call waits for a kernel that never ends),
 * and the first after it ended on idle launches it again. */
bool serve_ready(struct vram *v)
{
	int st = __atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE), idle = SERVE_IDLE;
	cudaError_t e;

	if (st == SERVE_RUNNING)
		return !serve_parked(v) || !serve_gone(v);
	if (st != SERVE_IDLE ||
	    !__atomic_compare_exchange_n(&v->serve_state, &idle, SERVE_LAUNCHING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&v->serve_mu);
	e = serve_launch(v);
	pthread_mutex_unlock(&v->serve_mu);
	if (e != cudaSuccess)
		warn("vram backend: the resident kernel cannot start (%s): lone reads use the copy "
		     "engines", cudaGetErrorString(e));
	else
		debug("vram backend: resident kernel launched, %u blocks", v->nworkers);
	__atomic_store_n(&v->serve_state, e == cudaSuccess ? SERVE_RUNNING : SERVE_FAILED,
			 __ATOMIC_RELEASE);
	return e == cudaSuccess;
}

/* Sets every block's quit (a word no worker writes). */
static void serve_quit(struct vram *v)
{
	unsigned i;

	for (i = 0; i < v->nworkers; i++)
		__atomic_store_n(&v->boxes[i].quit, 1u, __ATOMIC_RELEASE);
}

/* Tells the kernel to quit and waits up to 2 s for it (at exit, after
 * every worker has stopped). */
void serve_stop(struct vram *v)
{
	cudaError_t e = cudaErrorNotReady;
	unsigned tries;
	int st = __atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE);

	if (st != SERVE_RUNNING && st != SERVE_ABANDONED)
		return;
	serve_quit(v);
	for (tries = 0; tries < 20000 && (e = cudaStreamQuery(v->serve)) == cudaErrorNotReady; tries++)
		usleep(100);
	if (e == cudaErrorNotReady)
		warn("vram backend: the resident kernel did not stop within 2 s; leaving it to "
		     "process exit");
	__atomic_store_n(&v->serve_state,
			 e == cudaErrorNotReady ? SERVE_STUCK : st == SERVE_RUNNING ? SERVE_STOPPED : st,
			 __ATOMIC_RELEASE);
}

/* Called now and then by a thread waiting for the GPU (*t0: 0, then when
 * the wait began): past SERVE_PATIENCE_NS with the kernel running, it is
 * told to quit.  Workers serving a read through it then see it end and
 * take the stream. */
void serve_watch(struct vram *v, uint64_t *t0)
{
	uint64_t now;
	int running = SERVE_RUNNING;

	if (__atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE) != SERVE_RUNNING)
		return;
	now = now_ns();
	if (!*t0)
		*t0 = now;
	if (now - *t0 < SERVE_PATIENCE_NS ||
	    !__atomic_compare_exchange_n(&v->serve_state, &running, SERVE_ABANDONED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	warn("vram backend: a wait for the GPU has lasted %llu ms with the resident kernel "
	     "running: telling it to quit (lone reads use the copy engines from now on)",
	     (unsigned long long)((now - *t0) / 1000000));
	serve_quit(v);
}

/* The lone read in the batch through this worker's mailbox.  Returns 0
 * (done), -EIO (the device failed), or 1 when the kernel is gone and
 * the read must take the stream (the batch is left as it was). */
int serve_read(struct vram_worker *w)
{
	struct vram *v = w->v;
	struct vram_mbox *m = &v->boxes[w->idx];
	const struct vram_copy *c = &w->batch.d[0];
	uint32_t want = vram_mbox_post(m, c->src, c->dst, c->len);
	uint64_t t0 = 0;
	unsigned spins;
	cudaError_t e;

	for (spins = 1; __atomic_load_n(&m->done, __ATOMIC_ACQUIRE) != want; spins++) {
		if (spins % 2048)
			continue;
		e = cudaStreamQuery(v->serve);
		if (e == cudaErrorNotReady) {
			serve_watch(v, &t0); /* an answer that never comes */
			if (v->sync_mode == 2 /* yield */)
				sched_yield();
			continue;
		}
		if (__atomic_load_n(&m->done, __ATOMIC_ACQUIRE) == want)
			break; /* answered just before the end */
		if (e == cudaSuccess) {
			/* Ended on idle just as the read was posted (the next
			 * launch answers it), or for good. */
			if (serve_gone(v))
				return 1;
			continue;
		}
		__atomic_store_n(&v->serve_state, SERVE_FAILED, __ATOMIC_RELEASE);
		mark_lost(v, e);
		*w->queued[0] = EIO;
		w->nq = 0;
		w->batch.n = 0;
		return -EIO;
	}
	w->nq = 0;
	w->batch.n = 0;
	COUNT(w, resident_reads, 1);
	return 0;
}
