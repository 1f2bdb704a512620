/* The vram backend: the export lives in GPU memory, one plain cudaMalloc
 * allocation on --gpu N.  Each worker owns a CUDA stream; a batch of
 * requests becomes one launch of the batch copy kernel (small requests) or
 * cudaMemcpyAsync calls (large ones) on that stream, so small copies are
 * queued back to back instead of paying a synchronous round trip each.  The
 * connection buffers (allocated once at start-up) are registered as pinned
 * memory: reads move by DMA straight from VRAM into the reply buffer
 * (where large replies move on through 4 MiB: SESSION_TX_SPACE).
 *
 * Writes are write-back, as the NBD protocol allows for a write without
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
 * A lone small read (queue depth 1) with nothing else on the worker's
 * stream goes to the resident kernel instead (vram-copy.h), launched at
 * the first such read: the worker fills its mailbox and spins until the
 * GPU answers, with no driver call.  The kernel ends once no lone read
 * has come for --resident-idle (the GPU idles again) and is launched
 * anew by the next.  --resident-kernel off, or --cuda-sync blocking,
 * leaves it unused.
 *
 * GPU telemetry comes from NVML, loaded at run time (libnvidia-ml.so.1).
 * Try: build/vramd --backend vram --size 8G --socket /tmp/g.sock -f */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "parse.h"
#include "server.h"
#include "vram-copy.h"

/* Room left free on the GPU beside the export (CUDA context, other users). */
#define VRAM_HEADROOM (256ULL << 20)
#define VRAM_QUEUE 1024 /* operations queued per worker between syncs */
/* Requests up to this size are moved by the batch copy kernel; larger
 * ones by the copy engines (cudaMemcpyAsync), which win on bandwidth. */
#define VRAM_KERNEL_MAX (16u << 10)
/* Per worker: the regions and fences its write-back staging (pinned,
 * allocated at start-up, --staging bytes) tracks, and the largest
 * direct receive. */
#define VRAM_REGIONS 4096
#define VRAM_FENCES 64
#define VRAM_DIRECT_MAX (1u << 20)
#define SEQ_HELD UINT64_MAX /* region lent to a receive in progress */
/* Write-backs are tracked per chunk of the export (who wrote there last):
 * 64 KiB, or more where that map would pass 64 MiB. */
#define VRAM_CHUNK_MIN_SHIFT 16
#define VRAM_MAP_MAX (64u << 20)

/* What a worker publishes for the others: write-backs are numbered 1, 2,
 * ... per worker.  The replies of the first `announced` may be out; the
 * first `kicked` are on the stream before event `last`; the first `done`
 * are complete. */
struct vram_wb {
	uint64_t announced, kicked, done;
	cudaEvent_t last;
	int kick_req;     /* another worker waits for `kicked` to catch up */
} __attribute__((aligned(64)));
/* Small write-backs gather in the batch and start together: once this
 * many are held, when a worker has been idle this long, or when another
 * worker needs them on the stream. */
#define VRAM_WB_BATCH 64
#define VRAM_WB_IDLE_US 20
/* Large write-backs start late: the GPU reading a staging region the
 * worker has just received into (its lines still in that core's cache)
 * is slow.  A region's copy starts once this many newer bytes wait behind
 * it (at most half the ring), or before any other work of the worker, or
 * when another worker needs it, or after VRAM_WB_IDLE_US idle.  1 MiB
 * writes on 4 connections, H100 host (docs/bench/history, run 12): 13.9 GB/s
 * started at once, 15.7 / 16.6 / 18.3 with 1 / 2 / 4 MiB waiting. */
#define VRAM_DELAY_BYTES (4u << 20)
#define VRAM_DELAY_MAX 16 /* copies delayed at once (past it the oldest starts) */

/* A worker's counters for the statistics, in a line of their own that
 * only that worker writes (COUNT), instead of lines every worker
 * updated with atomic adds; vram_describe sums them. */
struct vram_counts {
	uint64_t launches, kernel_copies, engine_copies, writebacks, staging_waits, order_waits,
		delayed_writebacks, resident_reads;
} __attribute__((aligned(64)));
#define COUNT(w, field, n)                                                                  \
	__atomic_store_n(&(w)->v->counts[(w)->idx].field, (w)->v->counts[(w)->idx].field + (n), \
			 __ATOMIC_RELAXED)

struct vram {
	int gpu;
	void (*wake)(unsigned worker);
	uint8_t *dev;
	uint64_t size;
	int sync_mode;       /* enum backend_cuda_sync */
	/* cuStreamWriteValue32 (driver API), or NULL: a stream writes a
	 * flag in pinned memory when its work is done, which a spinning
	 * host thread sees some 0.8 us sooner than cudaStreamSynchronize
	 * returns (bench-cuda-floor). */
	int (*write_value)(void *stream, unsigned long long addr, uint32_t value, unsigned flags);
	uint8_t *pinned;     /* registered connection pool (host address) */
	uint8_t *pinned_dev; /* the same, as the GPU addresses it */
	size_t pinned_len;
	char name[256];
	volatile int lost;   /* failed, or lost answered writes: refuse all (mark_lost) */
	unsigned nworkers;
	uint32_t ring_len;   /* staging per worker; 0: no write-back */
	struct vram_wb *wb;  /* [nworkers] */
	/* [chunk * nworkers + worker]: the number of that worker's latest
	 * write-back into that chunk (0: none); written by its worker only. */
	uint64_t *lastw;
	unsigned chunk_shift;
	struct vram_counts *counts; /* [nworkers] */
	uint32_t delay_bytes;  /* VRAM_DELAY_BYTES, or half a smaller ring */
	uint64_t resident_launches;
	unsigned device_flags; /* cudaGetDeviceFlags() after start-up */
	/* The resident kernel: mailboxes (host, GPU address), its stream,
	 * its state.  While serve_state is SERVE_RUNNING the launch numbered
	 * serve_args.gen is on the stream, or has ended on idle once *gone
	 * (the word after the boxes, written by the GPU) says that gen; the
	 * next lone read launches it again (serve_mu: one launch at a time,
	 * and whether the stream is idle is judged only under it). */
	struct vram_mbox *boxes, *boxes_dev;
	uint32_t *gone;
	struct vram_serve_args serve_args;
	pthread_mutex_t serve_mu;
	cudaStream_t serve;
	int serve_state;     /* enum serve_state */
	void *nvml;          /* NVML device handle, or NULL */
};

enum serve_state {
	SERVE_OFF,       /* not wanted, or cannot run here */
	SERVE_IDLE,      /* not launched yet */
	SERVE_LAUNCHING, /* a worker is launching it */
	SERVE_RUNNING,
	SERVE_STOPPED,
	SERVE_FAILED,    /* it could not start, or ended by itself */
	SERVE_STUCK,     /* it would not stop: calls that wait for the
			  * whole device must not be made */
	SERVE_ABANDONED, /* told to quit: other work waited behind it */
};
static const char *const serve_names[] = { "off", "idle", "launching", "running", "stopped",
					   "failed", "stuck", "abandoned" };
/* Stats' name for SERVE_RUNNING once that launch has ended on idle. */
#define SERVE_PARKED_NAME "parked"
/* A wait for the GPU this long while the resident kernel runs means the
 * driver holds other work behind it (it should not: every kernel is
 * loaded at start-up); the kernel is then told to quit, for good. */
#define SERVE_PATIENCE_NS (500ull * 1000 * 1000)

struct vram_worker {
	struct vram *v;
	unsigned idx;
	cudaStream_t stream;
	/* Write-back state (see the top of the file). */
	uint64_t posted;          /* write-backs accepted */
	bool dirty;               /* some are not behind a fence yet */
	bool dirty_engine;        /* ... and some of those on the stream */
	unsigned round_adds;      /* write-backs since the last deferred() */
	uint32_t flag_seq;        /* last value asked of the completion flag */
	uint64_t *seen;           /* [nworkers]: the stream is ordered after
				   * that many of each worker's write-backs */
	uint8_t *ring, *ring_dev; /* staging (host, GPU address); [r_head,
				   * r_tail) circularly in use, equal when
				   * empty */
	uint32_t r_head, r_tail;
	struct { uint32_t start, end; uint64_t seq; } reg[VRAM_REGIONS];
	unsigned g_head, g_n;     /* regions in ring order */
	struct { cudaEvent_t ev; uint64_t seq; } fence[VRAM_FENCES];
	unsigned f_head, f_n;
	unsigned nq;
	int *queued[VRAM_QUEUE]; /* statuses to settle at sync */
	bool on_stream;           /* work besides write-backs is on the
				   * stream (until the next sync) */
	/* Small copies gathered for one kernel launch, with the VRAM range
	 * each touches: requests in one launch run in parallel, so one that
	 * overlaps an earlier write (or a write overlapping an earlier
	 * access) starts a new launch. */
	struct vram_copy_batch batch;
	/* Large write-backs not on the stream yet, oldest first (they are
	 * older than everything in the batch, which launch() starts after
	 * them: stage_copy() launches the batch before it queues one). */
	struct { const uint8_t *src; uint64_t off; uint32_t len; } delayed[VRAM_DELAY_MAX];
	unsigned d_n;
	uint32_t d_bytes;
	uint64_t b_off[VRAM_COPY_MAX];
	uint32_t b_len[VRAM_COPY_MAX];
	bool b_write[VRAM_COPY_MAX];
	int *b_status[VRAM_COPY_MAX]; /* NULL: a write-back (answered already) */
};

static int start_delayed(struct vram_worker *w, uint32_t keep);

static void serve_watch(struct vram *v, uint64_t *t0);

/* Logs a failed CUDA call with its error string; yields -1 or 0. */
#define CU(call) cu_check((call), #call)
static int cu_check(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	error("vram backend: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
	return -1;
}

/* --- NVML, loaded at run time ------------------------------------------ */

typedef int nvml_ret;
typedef void *nvml_dev;
struct nvml_memory {
	unsigned long long total, free, used;
};
struct nvml_process_info {
	unsigned int pid;
	unsigned long long used_gpu_memory;
	unsigned int gpu_instance_id, compute_instance_id;
};

static struct {
	pthread_once_t once;
	void *lib;
	nvml_ret (*init)(void);
	nvml_ret (*by_index)(unsigned, nvml_dev *);
	nvml_ret (*memory)(nvml_dev, struct nvml_memory *);
	nvml_ret (*pcie)(nvml_dev, int, unsigned *);
	nvml_ret (*clock)(nvml_dev, int, unsigned *);
	nvml_ret (*throttle)(nvml_dev, unsigned long long *);
	nvml_ret (*procs)(nvml_dev, unsigned *, struct nvml_process_info *);
	nvml_ret (*temp)(nvml_dev, int, unsigned *);
	nvml_ret (*power)(nvml_dev, unsigned *);
	nvml_ret (*name)(nvml_dev, char *, unsigned);
	nvml_ret (*driver)(char *, unsigned);
	nvml_ret (*link_gen)(nvml_dev, unsigned *);
	nvml_ret (*link_width)(nvml_dev, unsigned *);
	nvml_ret (*link_gen_max)(nvml_dev, unsigned *);
	nvml_ret (*link_width_max)(nvml_dev, unsigned *);
	const char *why;
} nvml = { .once = PTHREAD_ONCE_INIT };

static void nvml_load(void)
{
	nvml.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nvml.lib) {
		nvml.why = "libnvidia-ml.so.1 not found";
		return;
	}
#define SYM(f, n) (*(void **)&nvml.f = dlsym(nvml.lib, n))
	SYM(init, "nvmlInit_v2");
	SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
	SYM(memory, "nvmlDeviceGetMemoryInfo");
	SYM(pcie, "nvmlDeviceGetPcieThroughput");
	SYM(clock, "nvmlDeviceGetClockInfo");
	if (!SYM(throttle, "nvmlDeviceGetCurrentClocksEventReasons"))
		SYM(throttle, "nvmlDeviceGetCurrentClocksThrottleReasons");
	if (!SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v3"))
		SYM(procs, "nvmlDeviceGetComputeRunningProcesses");
	SYM(temp, "nvmlDeviceGetTemperature");
	SYM(power, "nvmlDeviceGetPowerUsage");
	SYM(name, "nvmlDeviceGetName");
	SYM(driver, "nvmlSystemGetDriverVersion");
	SYM(link_gen, "nvmlDeviceGetCurrPcieLinkGeneration");
	SYM(link_width, "nvmlDeviceGetCurrPcieLinkWidth");
	SYM(link_gen_max, "nvmlDeviceGetMaxPcieLinkGeneration");
	SYM(link_width_max, "nvmlDeviceGetMaxPcieLinkWidth");
#undef SYM
	if (!nvml.init || !nvml.by_index || nvml.init() != 0) {
		nvml.why = "nvmlInit failed";
		nvml.init = NULL;
	}
}

/* NVML's index order may differ from CUDA's: match on the PCI bus id. */
static void *nvml_device(int gpu)
{
	char busid[32];
	nvml_ret (*by_bus)(const char *, nvml_dev *);
	nvml_dev d = NULL;

	pthread_once(&nvml.once, nvml_load);
	if (!nvml.init)
		return NULL;
	*(void **)&by_bus = dlsym(nvml.lib, "nvmlDeviceGetHandleByPciBusId_v2");
	if (by_bus && cudaDeviceGetPCIBusId(busid, sizeof busid, gpu) == cudaSuccess &&
	    by_bus(busid, &d) == 0)
		return d;
	return nvml.by_index((unsigned)gpu, &d) == 0 ? d : NULL;
}

/* --- the allocator ------------------------------------------------------ */

static const char *const cuda_sync_names[] = { "auto", "spin", "yield", "blocking" };
static const unsigned cuda_sync_flags[] = { cudaDeviceScheduleAuto, cudaDeviceScheduleSpin,
					    cudaDeviceScheduleYield, cudaDeviceScheduleBlockingSync };

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
	} else if (cfg->resident && cfg->cuda_sync != 3 /* blocking: no spinning */) {
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

static void serve_stop(struct vram *v);

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
static void mark_lost(struct vram *v, cudaError_t e)
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
static int launch(struct vram_worker *w);

/* --- write-back: fences, staging, ordering between workers -------------- */

static inline uint64_t load_acq(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(uint64_t *p, uint64_t x)
{
	__atomic_store_n(p, x, __ATOMIC_RELEASE);
}

/* Frees the staging regions whose copies are complete. */
static void reclaim(struct vram_worker *w, uint64_t done)
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
static cudaError_t host_wait(struct vram *v, cudaStream_t s, cudaEvent_t ev)
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
static void all_done(struct vram_worker *w)
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
static void cover(struct vram_worker *w)
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
static void order_upto(struct vram_worker *w, unsigned i, uint64_t t)
{
	if (i != w->idx && t > w->seen[i] && load_acq(&w->v->wb[i].done) < t)
		order_after(w, i, t);
}

/* Before an access to [off, off+len): orders the stream after the other
 * workers' write-backs there whose replies may have reached a client
 * (the announced ones; an unannounced one is concurrent with this
 * request).  Each worker is tracked on its own, so no ordering passes
 * through a third, and requests elsewhere never wait. */
static void order_range(struct vram_worker *w, uint64_t off, uint32_t len)
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
static void note_write(struct vram_worker *w, uint64_t off, uint32_t len, uint64_t seq)
{
	struct vram *v = w->v;
	uint64_t c, last = (off + len - 1) >> v->chunk_shift;

	for (c = off >> v->chunk_shift; c <= last; c++)
		store_rel(&v->lastw[c * v->nworkers + w->idx], seq);
}

/* A staging region of len bytes for write-back number seq (or SEQ_HELD),
 * waiting for older copies when the ring is full; NULL when it cannot be
 * had (the caller then takes the synchronous path). */
static uint8_t *ring_alloc(struct vram_worker *w, uint32_t len, uint64_t seq)
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
static int launch(struct vram_worker *w)
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

	if (!w->v->write_value || w->v->sync_mode >= 3 /* blocking */ ||
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
			if (w->v->sync_mode == 2 /* yield */)
				sched_yield();
		}
	}
}

/* --- the resident kernel ------------------------------------------------ */

/* Whether the launch on the stream has ended on idle (and the next lone
 * read must launch it again). */
static bool serve_parked(struct vram *v)
{
	return __atomic_load_n(&v->serve_state, __ATOMIC_ACQUIRE) == SERVE_RUNNING &&
	       __atomic_load_n(v->gone, __ATOMIC_ACQUIRE) ==
		       __atomic_load_n(&v->serve_args.gen, __ATOMIC_ACQUIRE);
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
static bool serve_ready(struct vram *v)
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
static void serve_stop(struct vram *v)
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
static void serve_watch(struct vram *v, uint64_t *t0)
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
static int serve_read(struct vram_worker *w)
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

/* NVML's unsigned getter G on D as "=N", or "=?". */
static void dump_nvml_uint(FILE *f, const char *key, int gpu, nvml_ret (*g)(nvml_dev, unsigned *),
			   nvml_dev d)
{
	unsigned v;

	if (d && g && g(d, &v) == 0)
		fprintf(f, "gpu%d_%s=%u\n", gpu, key, v);
	else
		fprintf(f, "gpu%d_%s=?\n", gpu, key);
}

/* The GPUs by CUDA index (what --gpu takes): name, memory, PCIe link now
 * and at most, from NVML where it answers, else CUDA's name and memory.
 * The driver's version once. */
static void dump_gpus(FILE *f)
{
	char text[96];
	int n = 0, i;

	if (nvml.init && nvml.driver && nvml.driver(text, sizeof text) == 0)
		fprintf(f, "gpu_driver=%s\n", text);
	if (cudaGetDeviceCount(&n) != cudaSuccess)
		n = 0;
	fprintf(f, "gpu_count=%d\n", n);
	for (i = 0; i < n; i++) {
		nvml_dev d = nvml_device(i);
		struct nvml_memory m;
		struct cudaDeviceProp prop;
		bool have_prop = cudaGetDeviceProperties(&prop, i) == cudaSuccess;

		if (d && nvml.name && nvml.name(d, text, sizeof text) == 0)
			fprintf(f, "gpu%d_name=%s\n", i, text);
		else
			fprintf(f, "gpu%d_name=%s\n", i, have_prop ? prop.name : "?");
		if (d && nvml.memory && nvml.memory(d, &m) == 0)
			fprintf(f, "gpu%d_vram_total_bytes=%llu\n", i, m.total);
		else if (have_prop)
			fprintf(f, "gpu%d_vram_total_bytes=%zu\n", i, prop.totalGlobalMem);
		dump_nvml_uint(f, "pcie_gen", i, nvml.link_gen, d);
		dump_nvml_uint(f, "pcie_width", i, nvml.link_width, d);
		dump_nvml_uint(f, "pcie_gen_max", i, nvml.link_gen_max, d);
		dump_nvml_uint(f, "pcie_width_max", i, nvml.link_width_max, d);
	}
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
	pthread_once(&nvml.once, nvml_load);
	fprintf(f, "nvml=%s\n", nvml.init ? "yes" : nvml.why ? nvml.why : "no");
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
	struct nvml_memory m;
	unsigned x, n = 0, i;
	size_t k;
	unsigned long long reasons;

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
	json_object_set_new(o, "cuda_sync", json_string(cuda_sync_names[v->sync_mode]));
	json_object_set_new(o, "cuda_device_flags", json_integer(v->device_flags));
	json_object_set_new(o, "completion_flag", json_boolean(v->write_value != NULL));
	json_object_set_new(o, "resident_kernel", json_string(serve_parked(v) ? SERVE_PARKED_NAME :
			    serve_names[__atomic_load_n(&v->serve_state, __ATOMIC_RELAXED)]));
	json_object_set_new(o, "resident_launches", json_integer((json_int_t)v->resident_launches));
	json_object_set_new(o, "resident_idle_ms", json_integer((json_int_t)(v->serve_args.idle_ns / 1000000)));
	if (!v->nvml) {
		json_object_set_new(o, "nvml", json_string(nvml.why ? nvml.why : "unavailable"));
		return;
	}
	if (nvml.memory && nvml.memory(v->nvml, &m) == 0) {
		json_object_set_new(o, "vram_total_bytes", json_integer((json_int_t)m.total));
		json_object_set_new(o, "vram_used_bytes", json_integer((json_int_t)m.used));
		json_object_set_new(o, "vram_free_bytes", json_integer((json_int_t)m.free));
	}
	/* NVML reports PCIe throughput in KB/s over a 20 ms window. */
	if (nvml.pcie && nvml.pcie(v->nvml, 0, &x) == 0)
		json_object_set_new(o, "pcie_tx_bytes_per_s", json_integer((json_int_t)x * 1024));
	if (nvml.pcie && nvml.pcie(v->nvml, 1, &x) == 0)
		json_object_set_new(o, "pcie_rx_bytes_per_s", json_integer((json_int_t)x * 1024));
	if (nvml.clock && nvml.clock(v->nvml, 1, &x) == 0)
		json_object_set_new(o, "sm_clock_mhz", json_integer(x));
	if (nvml.clock && nvml.clock(v->nvml, 2, &x) == 0)
		json_object_set_new(o, "mem_clock_mhz", json_integer(x));
	if (nvml.throttle && nvml.throttle(v->nvml, &reasons) == 0)
		json_object_set_new(o, "throttle_reasons_mask", json_integer((json_int_t)reasons));
	if (nvml.temp && nvml.temp(v->nvml, 0, &x) == 0)
		json_object_set_new(o, "temperature_c", json_integer(x));
	if (nvml.power && nvml.power(v->nvml, &x) == 0)
		json_object_set_new(o, "power_mw", json_integer(x));
	if (nvml.procs) {
		/* With no buffer NVML returns the count (INSUFFICIENT_SIZE). */
		nvml.procs(v->nvml, &n, NULL);
		json_object_set_new(o, "gpu_processes", json_integer(n));
	}
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
