/* The vram backend: the export lives in GPU memory, one plain cudaMalloc
 * allocation on --gpu N.  Each worker owns a CUDA stream; a batch of
 * requests becomes one launch of the batch copy kernel (small requests) or
 * cudaMemcpyAsync calls (large ones) on that stream, so small copies are
 * queued back to back instead of paying a synchronous round trip each.  The
 * connection buffers (allocated once at start-up) are registered as pinned
 * memory: reads move by DMA straight from VRAM into the reply buffer
 * (where large replies move on through 4 MiB: SESSION_TX_SPACE).
 *
 * Writes without FUA are write-back: copied into the worker's pinned
 * staging ring and answered before the copy to VRAM (vram-writeback.c).
 * A lone small read goes to the resident kernel (vram-resident.c); GPU
 * telemetry comes from NVML (vram-nvml.c).  What these files share is in
 * vram-internal.h; this one holds the device and the workers, copy
 * batching, the data operations and the ops table.
 * Try: build/vramd --backend vram --size 8G --socket /tmp/g.sock -f */
#include <cuda_runtime.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "server.h"
#include "vram-internal.h"

/* Room left free on the GPU beside the export (CUDA context, other users). */
#define VRAM_HEADROOM (256ULL << 20)

/* Requests up to this size are moved by the batch copy kernel; larger
 * ones by the copy engines (cudaMemcpyAsync), which win on bandwidth. */
#define VRAM_KERNEL_MAX (16u << 10)

/* Logs a failed CUDA call with its error string; yields -1 or 0. */
#define CU(call) cu_check((call), #call)
static int cu_check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	error("vram backend: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
	return -1;
}

/* --- the allocator ------------------------------------------------------ */

/* cudaInitDevice's flags for each --cuda-sync. */
static const unsigned cuda_sync_flags[] = {
	[VRAM_SYNC_AUTO] = cudaDeviceScheduleAuto,
	[VRAM_SYNC_SPIN] = cudaDeviceScheduleSpin,
	[VRAM_SYNC_YIELD] = cudaDeviceScheduleYield,
	[VRAM_SYNC_BLOCKING] = cudaDeviceScheduleBlockingSync,
};

/* Every kernel is loaded when the context is created: one loaded at its
 * first launch (lazy loading, CUDA's default since 12.2) would wait for
 * the resident kernel, which never ends, and so would the worker that
 * launched it.  Set before the first CUDA call, which reads it. */
static void eager_loading(void)
{
	setenv("CUDA_MODULE_LOADING", "EAGER", 1);
}

static int vram_supported(char *why, size_t len)
{
	int n = 0, drv = 0;
	cudaError_t e;

	eager_loading();
	if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0) {
		snprintf(why, len, "no NVIDIA driver (libcuda.so.1 cannot be loaded)");
		return 0;
	}
	e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess) {
		snprintf(why, len, "no usable CUDA driver or device: %s", cudaGetErrorString(e));
		return 0;
	}
	if (n == 0) {
		snprintf(why, len, "no CUDA device found");
		return 0;
	}
	return 1;
}

/* Long by design: the device, its VRAM, the resident kernel's mailboxes
 * and the workers are made in one sequence, each failure leaving by the
 * labels at the end that undo what was made, in reverse. */
static void *vram_create(const struct backend_config *cfg)
{
	struct vram *v = calloc(1, sizeof *v);
	struct cudaDeviceProp prop;
	size_t fr = 0, total = 0;
	char a[32], b[32];
	int n = 0;

	eager_loading();
	if (!v) {
		error("vram backend: out of memory");
		return NULL;
	}
	v->gpu = cfg->gpu;
	v->wake = cfg->wake;
	v->size = cfg->size;
	v->nworkers = cfg->workers ? cfg->workers : 1;
	v->ring_len = cfg->staging & ~63u;
	v->delay_bytes = v->ring_len / 2 < VRAM_DELAY_BYTES ? v->ring_len / 2 : VRAM_DELAY_BYTES;
	v->chunk_shift = VRAM_CHUNK_MIN_SHIFT;
	while ((cfg->size >> v->chunk_shift) * v->nworkers * sizeof *v->lastw > VRAM_MAP_MAX)
		v->chunk_shift++;
	v->wb = aligned_alloc(64, sizeof *v->wb * v->nworkers);
	v->counts = aligned_alloc(64, sizeof *v->counts * v->nworkers);
	v->lastw = calloc(((cfg->size - 1) >> v->chunk_shift) + 1, sizeof *v->lastw * v->nworkers);
	if (!v->wb || !v->counts || !v->lastw) {
		error("vram backend: out of memory");
		goto err;
	}
	memset(v->wb, 0, sizeof *v->wb * v->nworkers);
	memset(v->counts, 0, sizeof *v->counts * v->nworkers);
	if (CU(cudaGetDeviceCount(&n)) < 0)
		goto err;
	if (cfg->gpu >= n) {
		error("vram backend: --gpu %d: this host has %d CUDA device(s)", cfg->gpu, n);
		goto err;
	}
	/* How a host thread waits for the GPU: spinning answers fastest,
	 * blocking leaves the CPU to the clients (and costs some 45 us per
	 * wait on the H100 host).  Set before first use; without
	 * cudaInitDeviceFlagsAreValid the runtime ignores the flags. */
	v->sync_mode = cfg->cuda_sync;
	if (CU(cudaInitDevice(cfg->gpu, cuda_sync_flags[cfg->cuda_sync],
			      cudaInitDeviceFlagsAreValid)) < 0)
		goto err;
	if (CU(cudaSetDevice(cfg->gpu)) < 0 || CU(cudaGetDeviceProperties(&prop, cfg->gpu)) < 0 ||
	    CU(cudaMemGetInfo(&fr, &total)) < 0 || CU(cudaGetDeviceFlags(&v->device_flags)) < 0)
		goto err; /* a device in a bad state fails here */
	snprintf(v->name, sizeof v->name, "%s", prop.name);
	{
		cudaError_t e = (cudaError_t)vram_kernels_load();

		if (e != cudaSuccess) {
			error("vram backend: the copy kernels cannot run on GPU %d (%s, compute "
			      "capability %d.%d): %s", cfg->gpu, v->name, prop.major, prop.minor,
			      cudaGetErrorString(e));
			goto err;
		}
	}
	if (cfg->size + VRAM_HEADROOM > fr) {
		error("vram backend: --size %s does not fit: GPU %d (%s) has %s free (%s kept in reserve)",
		      format_size(cfg->size, a, sizeof a), cfg->gpu, v->name, format_size(fr, b, sizeof b),
		      "256 MiB");
		goto err;
	}
	if (CU(cudaMalloc((void **)&v->dev, cfg->size)) < 0)
		goto err;
	/* A fresh export reads as zeros. */
	if (CU(cudaMemset(v->dev, 0, cfg->size)) < 0 || CU(cudaDeviceSynchronize()) < 0)
		goto err_free;
	{
		void *fn = NULL;
		enum cudaDriverEntryPointQueryResult q;

		if (cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", &fn, 12000,
						     cudaEnableDefault, &q) == cudaSuccess &&
		    q == cudaDriverEntryPointSuccess)
			*(void **)&v->write_value = fn;
	}
	v->serve_state = SERVE_OFF;
	/* The resident kernel's blocks (256 threads, one per worker) stay on
	 * the GPU while it runs: past half its threads, copy kernels would
	 * wait behind them (many --threads, or a small MIG slice). */
	if (cfg->resident && (uint64_t)v->nworkers * 256 * 2 >
				     (uint64_t)prop.multiProcessorCount * prop.maxThreadsPerMultiProcessor) {
		info("vram backend: no resident kernel: %u workers' blocks would hold more than half "
		     "of GPU %d's threads (%d SMs); lone reads use the copy engines", v->nworkers,
		     cfg->gpu, prop.multiProcessorCount);
	} else if (cfg->resident && cfg->cuda_sync != VRAM_SYNC_BLOCKING /* no spinning */) {
		/* The boxes, then the word the kernel sets when it ends on
		 * idle, in its own 64 bytes. */
		size_t bytes = sizeof *v->boxes * v->nworkers + 64;

		if (CU(cudaHostAlloc((void **)&v->boxes, bytes, cudaHostAllocMapped)) == 0 &&
		    CU(cudaHostGetDevicePointer((void **)&v->boxes_dev, v->boxes, 0)) == 0 &&
		    CU(cudaMalloc((void **)&v->serve_args.ctl, sizeof *v->serve_args.ctl)) == 0 &&
		    CU(cudaMemset(v->serve_args.ctl, 0, sizeof *v->serve_args.ctl)) == 0 &&
		    CU(cudaStreamCreateWithFlags(&v->serve, cudaStreamNonBlocking)) == 0) {
			memset(v->boxes, 0, bytes);
			v->gone = (uint32_t *)(v->boxes + v->nworkers);
			v->serve_args.boxes = v->boxes_dev;
			v->serve_args.gone = (uint32_t *)(v->boxes_dev + v->nworkers);
			v->serve_args.idle_ns = (uint64_t)cfg->resident_idle_ms * 1000000;
			pthread_mutex_init(&v->serve_mu, NULL);
			v->serve_state = SERVE_IDLE;
		} else {
			warn("vram backend: no resident kernel: lone reads use the copy engines");
		}
	}
	v->nvml = nvml_device(cfg->gpu);
	info("vram backend: %s on GPU %d (%s), %s free before", format_size(cfg->size, a, sizeof a),
	     cfg->gpu, v->name, format_size(fr, b, sizeof b));
	return v;
err_free:
	cudaFree(v->dev);
err:
	free(v->lastw);
	free(v->counts);
	free(v->wb);
	free(v);
	return NULL;
}

static void vram_free(void *p)
{
	struct vram *v = p;

	serve_stop(v);
	/* With the kernel still running these would wait for it forever;
	 * the process exits next, which frees the device's memory. */
	if (v->serve_state != SERVE_STUCK) {
		if (v->pinned)
			cudaHostUnregister(v->pinned);
		if (v->serve)
			cudaStreamDestroy(v->serve);
		if (v->boxes)
			cudaFreeHost(v->boxes);
		if (v->serve_args.ctl)
			cudaFree(v->serve_args.ctl);
		cudaFree(v->dev);
	}
	free(v->lastw);
	free(v->counts);
	free(v->wb);
	free(v);
}

static int vram_register(void *p, void *base, size_t len)
{
	struct vram *v = p;

	void *dev;

	if (CU(cudaHostRegister(base, len, cudaHostRegisterMapped)) < 0)
		return -1;
	if (CU(cudaHostGetDevicePointer(&dev, base, 0)) < 0) {
		cudaHostUnregister(base);
		return -1;
	}
	v->pinned = base;
	v->pinned_dev = dev;
	v->pinned_len = len;
	return 0;
}

static void vram_worker_close(void *p);

static void *vram_worker_open(void *p, unsigned idx)
{
	struct vram *v = p;
	struct vram_worker *w = calloc(1, sizeof *w);
	unsigned i;

	if (!w || !(w->seen = calloc(v->nworkers, sizeof *w->seen))) {
		error("vram backend: out of memory");
		free(w);
		return NULL;
	}
	if (idx >= v->nworkers) { /* each worker has its own box, ring, map column */
		error("vram backend: internal error: worker %u opened, but the backend was "
		      "created for %u workers", idx, v->nworkers);
		free(w->seen);
		free(w);
		return NULL;
	}
	w->v = v;
	w->idx = idx;
	if (CU(cudaSetDevice(v->gpu)) < 0 ||
	    CU(cudaStreamCreateWithFlags(&w->stream, cudaStreamNonBlocking)) < 0) {
		free(w->seen);
		free(w);
		return NULL;
	}
	/* The ring, and 64 bytes after it for the completion flag. */
	if (CU(cudaHostAlloc((void **)&w->ring, v->ring_len + 64, cudaHostAllocMapped)) < 0) {
		char a[32];

		error("vram backend: cannot pin %s of write-back staging for worker %u (see --staging)",
		      format_size(v->ring_len + 64, a, sizeof a), idx);
		w->ring = NULL;
		vram_worker_close(w);
		return NULL;
	}
	if (CU(cudaHostGetDevicePointer((void **)&w->ring_dev, w->ring, 0)) < 0) {
		vram_worker_close(w);
		return NULL;
	}
	for (i = 0; i < VRAM_FENCES; i++)
		if (CU(cudaEventCreateWithFlags(&w->fence[i].ev, cudaEventDisableTiming)) < 0) {
			vram_worker_close(w);
			return NULL;
		}
	return w;
}

static void vram_worker_close(void *p)
{
	struct vram_worker *w = p;
	unsigned i;

	/* Workers close after all have stopped: the first to close stops
	 * the resident kernel, which cudaFreeHost would wait for. */
	serve_stop(w->v);
	/* Delayed write-backs are dropped with the export: nothing reads
	 * them any more, and they refer to nothing on the stream. */
	cudaStreamSynchronize(w->stream);
	for (i = 0; i < VRAM_FENCES; i++)
		if (w->fence[i].ev)
			cudaEventDestroy(w->fence[i].ev);
	cudaStreamDestroy(w->stream);
	if (w->ring && w->v->serve_state != SERVE_STUCK)
		cudaFreeHost(w->ring);
	free(w->seen);
	free(w);
}

/* The runtime's current device is per thread: set it once per worker. */
static int bind_thread(struct vram_worker *w)
{
	static __thread int bound = -1;

	if (bound == w->v->gpu)
		return 0;
	if (CU(cudaSetDevice(w->v->gpu)) < 0)
		return -EIO;
	bound = w->v->gpu;
	return 0;
}

/* The device failed, or work already answered for (a write-back) was
 * lost: every later request fails with EIO, reads too (one could return
 * the bytes from before a lost write). */
void mark_lost(struct vram *v, cudaError_t e)
{
	if (!__atomic_exchange_n(&v->lost, 1, __ATOMIC_SEQ_CST))
		error("vram backend: GPU %d (%s) failed: %s (%s); refusing further requests; check "
		      "dmesg for NVIDIA Xid messages, swapoff and restart the server",
		      v->gpu, v->name, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Queues status to be settled by sync. */
static int enqueue(struct vram_worker *w, cudaError_t e, const char *what, int *status)
{
	if (e != cudaSuccess) {
		error("vram backend: %s: %s", what, cudaGetErrorString(e));
		return -EIO;
	}
	*status = 0;
	w->queued[w->nq++] = status;
	w->on_stream = true;
	return 0;
}

static int vram_sync(void *p);

/* --- copies and the data operations ------------------------------------- */

/* Before each request: none once the device is lost (mark_lost). */
static int begin(struct vram_worker *w)
{
	int r = bind_thread(w);

	if (r < 0)
		return r;
	if (__atomic_load_n(&w->v->lost, __ATOMIC_ACQUIRE))
		return -EIO;
	if (w->nq == VRAM_QUEUE)
		vram_sync(w);
	return 0;
}

/* The GPU address of host buffer p, or NULL when p is not in the
 * registered pool (then only the copy engines can reach it). */
static void *mapped(const struct vram *v, const void *p, uint32_t len)
{
	const uint8_t *b = p;

	if (!v->pinned || b < v->pinned || b + len > v->pinned + v->pinned_len)
		return NULL;
	return v->pinned_dev + (b - v->pinned);
}

/* Puts the oldest delayed write-backs on the stream until no more than keep
 * bytes stay delayed.  A failure marks the device lost (their replies may
 * be out; later requests fail) and returns -EIO. */
static int start_delayed(struct vram_worker *w, uint32_t keep)
{
	unsigned i = 0;
	cudaError_t e;
	int r = 0;

	while (i < w->d_n && w->d_bytes > keep) {
		e = cudaMemcpyAsync(w->v->dev + w->delayed[i].off, w->delayed[i].src, w->delayed[i].len,
				    cudaMemcpyHostToDevice, w->stream);
		if (e != cudaSuccess) {
			mark_lost(w->v, e);
			r = -EIO;
		}
		COUNT(w, engine_copies, 1);
		w->d_bytes -= w->delayed[i].len;
		w->dirty_engine = true;
		i++;
	}
	if (i) {
		w->d_n -= i;
		memmove(w->delayed, w->delayed + i, w->d_n * sizeof w->delayed[0]);
	}
	return r;
}

/* Starts the delayed write-backs, then launches the gathered small copies
 * (every later use of the stream goes through here, or through cover()).
 * A batch the GPU refused fails its requests with EIO; a write-back in
 * it was answered already, so its loss marks the device lost. */
int launch(struct vram_worker *w)
{
	unsigned i, n = w->batch.n;
	const char *what;
	cudaError_t e;
	bool answered = false;

	start_delayed(w, 0);
	if (n == 0)
		return 0;
	w->on_stream = true;
	if (n == 1) {
		/* One copy alone (queue depth 1): the copy engine answers
		 * sooner than a kernel launch. */
		struct vram_copy *c = &w->batch.d[0];

		what = "cudaMemcpyAsync (single)";
		e = cudaMemcpyAsync((void *)(uintptr_t)c->dst, (void *)(uintptr_t)c->src, c->len,
				    cudaMemcpyDefault, w->stream);
		COUNT(w, engine_copies, 1);
	} else {
		what = "copy kernel launch";
		e = (cudaError_t)vram_copy_launch(&w->batch, w->stream);
		COUNT(w, launches, 1);
		COUNT(w, kernel_copies, n);
	}
	w->batch.n = 0;
	if (e == cudaSuccess)
		return 0;
	error("vram backend: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
	for (i = 0; i < n; i++) {
		if (w->b_status[i])
			*w->b_status[i] = EIO;
		else
			answered = true;
	}
	if (answered)
		mark_lost(w->v, e);
	return -EIO;
}

/* Adds a small copy to the batch; status NULL for a write-back (nothing
 * to settle at sync). */
static int add_copy(struct vram_worker *w, void *dst, const void *src, uint32_t len,
		    uint64_t off, bool write, int *status)
{
	unsigned i, n = w->batch.n;
	int r;

	for (i = 0; i < n; i++)
		if ((write || w->b_write[i]) && off < w->b_off[i] + w->b_len[i] &&
		    w->b_off[i] < off + len)
			break;
	if (i < n || n == VRAM_COPY_MAX) {
		r = launch(w);
		if (r < 0)
			return r;
		n = 0;
	}
	w->batch.d[n] = (struct vram_copy){ .dst = (uint64_t)(uintptr_t)dst,
					    .src = (uint64_t)(uintptr_t)src, .len = len };
	w->b_off[n] = off;
	w->b_len[n] = len;
	w->b_write[n] = write;
	w->b_status[n] = status;
	w->batch.n = n + 1;
	if (status) {
		*status = 0;
		w->queued[w->nq++] = status;
	}
	return 0;
}

static int vram_pread(void *p, void *buf, uint32_t len, uint64_t off, int *status)
{
	struct vram_worker *w = p;
	void *hbuf = len <= VRAM_KERNEL_MAX ? mapped(w->v, buf, len) : NULL;
	int r = begin(w);

	if (r < 0)
		return r;
	order_range(w, off, len);
	if (__atomic_load_n(&w->v->lost, __ATOMIC_ACQUIRE))
		return -EIO; /* lost while ordering: the bytes may be old */
	if (hbuf)
		return add_copy(w, hbuf, w->v->dev + off, len, off, false, status);
	if ((r = launch(w)) < 0)
		return r;
	COUNT(w, engine_copies, 1);
	return enqueue(w, cudaMemcpyAsync(buf, w->v->dev + off, len, cudaMemcpyDeviceToHost, w->stream),
		       "cudaMemcpyAsync (read)", status);
}

/* Queues the copy of staged bytes to VRAM, as write-back number
 * w->posted + 1. */
static int stage_copy(struct vram_worker *w, const uint8_t *st, uint32_t len, uint64_t off)
{
	int r;

	if (len <= VRAM_KERNEL_MAX) {
		r = add_copy(w, w->v->dev + off, w->ring_dev + (st - w->ring), len, off, true, NULL);
	} else {
		/* Through the delayed queue, behind the batch's older copies;
		 * one larger than the delay starts at once. */
		bool delay = len <= w->v->delay_bytes;

		r = w->batch.n ? launch(w) : 0;
		if (w->d_n == VRAM_DELAY_MAX && start_delayed(w, w->d_bytes - w->delayed[0].len) < 0)
			r = -EIO;
		w->delayed[w->d_n].src = st;
		w->delayed[w->d_n].off = off;
		w->delayed[w->d_n].len = len;
		w->d_n++;
		w->d_bytes += len;
		if (start_delayed(w, delay ? w->v->delay_bytes : 0) < 0)
			r = -EIO;
		if (delay)
			COUNT(w, delayed_writebacks, 1);
	}
	w->posted++;
	w->round_adds++;
	w->dirty = true;
	COUNT(w, writebacks, 1);
	return r;
}

static int vram_pwrite(void *p, const void *buf, uint32_t len, uint64_t off, bool fua, int *status)
{
	struct vram_worker *w = p;
	void *hbuf = len <= VRAM_KERNEL_MAX ? mapped(w->v, buf, len) : NULL;
	uint8_t *st;
	int r = begin(w);

	if (r < 0)
		return r;
	order_range(w, off, len);
	if (!fua && (st = ring_alloc(w, len, w->posted + 1))) {
		memcpy(st, buf, len);
		*status = 0;
		note_write(w, off, len, w->posted + 1);
		return stage_copy(w, st, len, off);
	}
	if (hbuf)
		return add_copy(w, w->v->dev + off, hbuf, len, off, true, status);
	if ((r = launch(w)) < 0)
		return r;
	COUNT(w, engine_copies, 1);
	return enqueue(w, cudaMemcpyAsync(w->v->dev + off, buf, len, cudaMemcpyHostToDevice, w->stream),
		       "cudaMemcpyAsync (write)", status);
}

/* Large writes are received straight into staging. */
static void *vram_direct(void *p, uint64_t off, uint32_t *len)
{
	struct vram_worker *w = p;
	uint32_t n = *len < VRAM_DIRECT_MAX ? *len : VRAM_DIRECT_MAX;
	uint8_t *st;

	(void)off;
	if (w->v->lost || bind_thread(w) < 0 || !(st = ring_alloc(w, n, SEQ_HELD)))
		return NULL;
	*len = n;
	return st;
}

static int vram_direct_done(void *p, void *buf, uint32_t n, uint64_t off)
{
	struct vram_worker *w = p;
	uint32_t start = (uint32_t)((uint8_t *)buf - w->ring);
	unsigned i, k = w->g_n;
	int r;

	/* Find the region (it is among the newest: one receive per
	 * connection is in flight). */
	while (k-- > 0) {
		i = (w->g_head + k) % VRAM_REGIONS;
		if (w->reg[i].start == start && w->reg[i].seq == SEQ_HELD)
			break;
	}
	if (k == (unsigned)-1) {
		error("vram backend: direct_done for a region not lent");
		return -EIO;
	}
	i = (w->g_head + k) % VRAM_REGIONS;
	if (k == w->g_n - 1 && n < w->reg[i].end - start) {
		/* The newest region: give the unused end back. */
		w->reg[i].end = start + ((n + 63) & ~63u);
		w->r_tail = w->reg[i].end;
	}
	if (n == 0) {
		w->reg[i].seq = 0; /* nothing to wait for */
		reclaim(w, 0);
		return 0;
	}
	r = begin(w);
	w->reg[i].seq = w->posted + 1;
	if (r < 0) {
		w->reg[i].seq = 0;
		return r;
	}
	order_range(w, off, n);
	note_write(w, off, n, w->posted + 1);
	return stage_copy(w, buf, n, off);
}

static int vram_zero(void *p, uint32_t len, uint64_t off, int *status)
{
	struct vram_worker *w = p;
	int r = begin(w);

	if (r < 0)
		return r;
	order_range(w, off, len);
	if ((r = launch(w)) < 0)
		return r;
	return enqueue(w, cudaMemsetAsync(w->v->dev + off, 0, len, w->stream), "cudaMemsetAsync", status);
}

/* Waits for everything on the stream.  Spinning modes watch a flag the
 * stream writes after its work (checking the stream now and then, so an
 * error cannot leave the thread spinning, and how long the wait lasts:
 * serve_watch); otherwise, or without stream memory operations,
 * host_wait. */
static cudaError_t wait_stream(struct vram_worker *w)
{
	volatile uint32_t *flag = (volatile uint32_t *)(w->ring + w->v->ring_len);
	uint32_t want = ++w->flag_seq;
	uint64_t t0 = 0;
	unsigned spins;
	cudaError_t e;

	if (!w->v->write_value || w->v->sync_mode == VRAM_SYNC_BLOCKING ||
	    w->v->write_value(w->stream, (unsigned long long)(uintptr_t)(w->ring_dev + w->v->ring_len),
			      want, 0) != 0)
		return host_wait(w->v, w->stream, NULL);
	for (spins = 1;; spins++) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == want)
			return cudaSuccess;
		if (spins % 2048 == 0) {
			e = cudaStreamQuery(w->stream);
			if (e != cudaErrorNotReady)
				return e != cudaSuccess ? e : cudaStreamSynchronize(w->stream);
			serve_watch(w->v, &t0);
			if (w->v->sync_mode == VRAM_SYNC_YIELD)
				sched_yield();
		}
	}
}


/* Waits for the stream when something waits for it (reads, FUA writes,
 * zeroing); write-backs alone are left to deferred() and kick(). */
static int vram_sync(void *p)
{
	struct vram_worker *w = p;
	cudaError_t e;
	unsigned i;

	if (w->nq == 0)
		return 0;
	/* A lone small read, with nothing on the stream it must follow. */
	if (w->nq == 1 && w->batch.n == 1 && !w->b_write[0] && !w->on_stream && !w->dirty &&
	    !w->f_n && serve_ready(w->v)) {
		int r = serve_read(w);

		if (r <= 0)
			return r;
	}
	launch(w); /* a refused one has failed its requests (launch) */
	e = wait_stream(w);
	if (e != cudaSuccess) {
		mark_lost(w->v, e);
		for (i = 0; i < w->nq; i++)
			*w->queued[i] = EIO;
	}
	w->nq = 0;
	all_done(w);
	return e == cudaSuccess ? 0 : -EIO;
}

/* Before replies go out: announces the write-backs they may cover, and
 * starts them when enough are held, when copies are on the stream
 * already (they only need their fence), or when another worker asked.
 * A round that brought one small write alone (queue depth 1) has it
 * started at once after its reply leaves: the client's next request is
 * some 15 us away, and a later start could delay it. */
static unsigned vram_deferred(void *p)
{
	struct vram_worker *w = p;
	struct vram_wb *me = &w->v->wb[w->idx];
	bool lone = w->round_adds == 1 && w->batch.n == 1;

	w->round_adds = 0;
	if (!w->batch.n && !w->dirty)
		return 0;
	if ((w->batch.n >= VRAM_WB_BATCH || w->dirty_engine ||
	     __atomic_exchange_n(&me->kick_req, 0, __ATOMIC_ACQ_REL)) && bind_thread(w) == 0)
		cover(w);
	store_rel(&me->announced, w->posted);
	if (!w->batch.n && !w->dirty)
		return 0;
	return lone ? BACKEND_KICK_NOW : VRAM_WB_IDLE_US;
}

static void vram_kick(void *p)
{
	struct vram_worker *w = p;

	if (bind_thread(w) == 0)
		cover(w);
}

/* Completes every write acknowledged so far by any worker: waits on the
 * others' fences on this stream, then for the stream. */
static int vram_flush(void *p)
{
	struct vram_worker *w = p;
	struct vram *v = w->v;
	cudaError_t e;
	unsigned i;

	if (bind_thread(w) < 0 || v->lost)
		return -EIO;
	/* The session flushes between batches: nothing of this worker's
	 * waits for sync(), only its write-backs. */
	cover(w);
	for (i = 0; i < v->nworkers; i++)
		order_upto(w, i, load_acq(&v->wb[i].announced));
	e = wait_stream(w);
	if (e != cudaSuccess)
		mark_lost(v, e);
	all_done(w);
	return v->lost ? -EIO : 0;
}

static void vram_dump(FILE *f)
{
	char why[256];
	int rt = 0, drv = 0;

	cudaRuntimeGetVersion(&rt);
	cudaDriverGetVersion(&drv);
	if (vram_supported(why, sizeof why))
		fprintf(f, "cuda=yes\n");
	else
		fprintf(f, "cuda=no\ncuda_reason=%s\n", why);
	fprintf(f, "cuda_runtime=%d.%d\ncuda_driver=%d.%d\n", rt / 1000, rt % 1000 / 10,
		drv / 1000, drv % 1000 / 10);
	nvml_dump_status(f);
	fprintf(f, "storage=gpu-memory\npersistent=no\ntransfer=pinned-dma\n");
	dump_gpus(f);
}

/* The per-worker counters (struct vram_counts) by their stats key. */
#define COUNT_KEY(key, field) { key, offsetof(struct vram_counts, field) }
static const struct {
	const char *key;
	size_t off;
} count_keys[] = {
	COUNT_KEY("kernel_launches", launches),
	COUNT_KEY("kernel_copies", kernel_copies),
	COUNT_KEY("engine_copies", engine_copies),
	COUNT_KEY("writeback_writes", writebacks),
	COUNT_KEY("writeback_delayed", delayed_writebacks),
	COUNT_KEY("staging_waits", staging_waits),
	COUNT_KEY("order_waits", order_waits),
	COUNT_KEY("resident_reads", resident_reads),
};

static void vram_describe(void *p, json_t *o)
{
	struct vram *v = p;
	unsigned i;
	size_t k;

	json_object_set_new(o, "storage", json_string("gpu-memory"));
	json_object_set_new(o, "gpu_index", json_integer(v->gpu));
	json_object_set_new(o, "gpu_name", json_string(v->name));
	json_object_set_new(o, "device_lost", json_boolean(v->lost));
	for (k = 0; k < sizeof count_keys / sizeof count_keys[0]; k++) {
		uint64_t sum = 0;

		for (i = 0; i < v->nworkers; i++)
			sum += __atomic_load_n((uint64_t *)((char *)&v->counts[i] + count_keys[k].off),
					       __ATOMIC_RELAXED);
		json_object_set_new(o, count_keys[k].key, json_integer((json_int_t)sum));
	}
	json_object_set_new(o, "staging_bytes_per_worker", json_integer(v->ring_len));
	json_object_set_new(o, "cuda_sync", json_string(vram_cuda_sync_names[v->sync_mode]));
	json_object_set_new(o, "cuda_device_flags", json_integer(v->device_flags));
	json_object_set_new(o, "completion_flag", json_boolean(v->write_value != NULL));
	json_object_set_new(o, "resident_kernel", json_string(serve_state_name(v)));
	json_object_set_new(o, "resident_launches", json_integer((json_int_t)v->resident_launches));
	json_object_set_new(o, "resident_idle_ms", json_integer((json_int_t)(v->serve_args.idle_ns / 1000000)));
	nvml_describe(v, o);
}

const struct backend_ops backend_vram = {
	.name = "vram",
	.summary = "export stored in GPU memory (CUDA)",
	.waits = true,
	.supported = vram_supported,
	.create = vram_create,
	.free = vram_free,
	.worker_open = vram_worker_open,
	.worker_close = vram_worker_close,
	.register_buffers = vram_register,
	.pread = vram_pread,
	.pwrite = vram_pwrite,
	.zero = vram_zero,
	.trim = vram_zero,
	.direct = vram_direct,
	.direct_done = vram_direct_done,
	.sync = vram_sync,
	.flush = vram_flush,
	.deferred = vram_deferred,
	.kick = vram_kick,
	.dump = vram_dump,
	.describe = vram_describe,
};
