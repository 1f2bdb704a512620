/* The vram backend: the export lives in GPU memory, one plain cudaMalloc
 * allocation on --gpu N.  Each worker owns a CUDA stream; a batch of
 * requests becomes a run of cudaMemcpyAsync/cudaMemsetAsync calls on that
 * stream and one cudaStreamSynchronize, so small copies are queued back to
 * back instead of paying a synchronous round trip each.  The connection
 * buffers (allocated once at start-up) are registered as pinned memory, so
 * they are the staging buffers: data moves by DMA straight between the
 * socket buffers and VRAM, with no extra host copy.
 * GPU telemetry comes from NVML, loaded at run time (libnvidia-ml.so.1).
 * Try: build/vramd --backend vram --size 8G --socket /tmp/g.sock -f */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "parse.h"
#include "vram-copy.h"

/* Room left free on the GPU beside the export (CUDA context, other users). */
#define VRAM_HEADROOM (256ULL << 20)
#define VRAM_QUEUE 1024 /* operations queued per worker between syncs */
/* Requests up to this size are moved by the batch copy kernel; larger
 * ones by the copy engines (cudaMemcpyAsync), which win on bandwidth. */
#define VRAM_KERNEL_MAX (16u << 10)

struct vram {
	int gpu;
	uint8_t *dev;
	uint64_t size;
	int sync_mode;       /* enum backend_cuda_sync */
	uint8_t *pinned;     /* registered connection pool (host address) */
	uint8_t *pinned_dev; /* the same, as the GPU addresses it */
	size_t pinned_len;
	char name[256];
	volatile int lost;   /* a sticky CUDA error: refuse writes */
	uint64_t launches, kernel_copies, engine_copies; /* relaxed counters */
	unsigned device_flags; /* cudaGetDeviceFlags() after start-up */
	void *nvml;          /* NVML device handle, or NULL */
};

struct vram_worker {
	struct vram *v;
	cudaStream_t stream;
	unsigned nq;
	int *queued[VRAM_QUEUE]; /* statuses to settle at sync */
	/* Small copies gathered for one kernel launch, with the VRAM range
	 * each touches: requests in one launch run in parallel, so one that
	 * overlaps an earlier write (or a write overlapping an earlier
	 * access) starts a new launch. */
	struct vram_copy_batch batch;
	uint64_t b_off[VRAM_COPY_MAX];
	uint32_t b_len[VRAM_COPY_MAX];
	bool b_write[VRAM_COPY_MAX];
};

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

static int vram_supported(char *why, size_t len)
{
	int n = 0, drv = 0;
	cudaError_t e;

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

	if (!v) {
		error("vram backend: out of memory");
		return NULL;
	}
	v->gpu = cfg->gpu;
	v->size = cfg->size;
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
	v->nvml = nvml_device(cfg->gpu);
	info("vram backend: %s on GPU %d (%s), %s free before", format_size(cfg->size, a, sizeof a),
	     cfg->gpu, v->name, format_size(fr, b, sizeof b));
	return v;
err_free:
	cudaFree(v->dev);
err:
	free(v);
	return NULL;
}

static void vram_free(void *p)
{
	struct vram *v = p;

	if (v->pinned)
		cudaHostUnregister(v->pinned);
	cudaFree(v->dev);
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

static void *vram_worker_open(void *p, unsigned idx)
{
	struct vram *v = p;
	struct vram_worker *w = calloc(1, sizeof *w);

	(void)idx;
	if (!w) {
		error("vram backend: out of memory");
		return NULL;
	}
	w->v = v;
	if (CU(cudaSetDevice(v->gpu)) < 0 ||
	    CU(cudaStreamCreateWithFlags(&w->stream, cudaStreamNonBlocking)) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

static void vram_worker_close(void *p)
{
	struct vram_worker *w = p;

	cudaStreamSynchronize(w->stream);
	cudaStreamDestroy(w->stream);
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

static void mark_lost(struct vram *v, cudaError_t e)
{
	if (!__atomic_exchange_n(&v->lost, 1, __ATOMIC_SEQ_CST))
		error("vram backend: GPU %d (%s) failed: %s (%s); refusing further writes; check "
		      "dmesg for NVIDIA Xid messages, swapoff and restart the server",
		      v->gpu, v->name, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Queues status to be settled by sync; a full queue syncs first. */
static int enqueue(struct vram_worker *w, cudaError_t e, const char *what, int *status)
{
	if (e != cudaSuccess) {
		error("vram backend: %s: %s", what, cudaGetErrorString(e));
		return -EIO;
	}
	*status = 0;
	w->queued[w->nq++] = status;
	return 0;
}

static int vram_sync(void *p);

static int begin(struct vram_worker *w, bool writes)
{
	int r = bind_thread(w);

	if (r < 0)
		return r;
	if (writes && w->v->lost)
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

/* Launches the gathered small copies. */
static int launch(struct vram_worker *w)
{
	int e;

	if (w->batch.n == 0)
		return 0;
	if (w->batch.n == 1) {
		/* One copy alone (queue depth 1): the copy engine answers
		 * sooner than a kernel launch. */
		struct vram_copy *c = &w->batch.d[0];

		w->batch.n = 0;
		__atomic_add_fetch(&w->v->engine_copies, 1, __ATOMIC_RELAXED);
		return cu_check(cudaMemcpyAsync((void *)(uintptr_t)c->dst, (void *)(uintptr_t)c->src,
						c->len, cudaMemcpyDefault, w->stream),
				"cudaMemcpyAsync (single)") < 0 ? -EIO : 0;
	}
	e = vram_copy_launch(&w->batch, w->stream);
	__atomic_add_fetch(&w->v->launches, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->v->kernel_copies, w->batch.n, __ATOMIC_RELAXED);
	w->batch.n = 0;
	if (e) {
		error("vram backend: copy kernel launch: %s", cudaGetErrorString((cudaError_t)e));
		return -EIO;
	}
	return 0;
}

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
	w->batch.n = n + 1;
	*status = 0;
	w->queued[w->nq++] = status;
	return 0;
}

static int vram_pread(void *p, void *buf, uint32_t len, uint64_t off, int *status)
{
	struct vram_worker *w = p;
	void *hbuf = len <= VRAM_KERNEL_MAX ? mapped(w->v, buf, len) : NULL;
	int r = begin(w, false);

	if (r < 0)
		return r;
	if (hbuf)
		return add_copy(w, hbuf, w->v->dev + off, len, off, false, status);
	if ((r = launch(w)) < 0)
		return r;
	__atomic_add_fetch(&w->v->engine_copies, 1, __ATOMIC_RELAXED);
	return enqueue(w, cudaMemcpyAsync(buf, w->v->dev + off, len, cudaMemcpyDeviceToHost, w->stream),
		       "cudaMemcpyAsync (read)", status);
}

static int vram_pwrite(void *p, const void *buf, uint32_t len, uint64_t off, int *status)
{
	struct vram_worker *w = p;
	void *hbuf = len <= VRAM_KERNEL_MAX ? mapped(w->v, buf, len) : NULL;
	int r = begin(w, true);

	if (r < 0)
		return r;
	if (hbuf)
		return add_copy(w, w->v->dev + off, hbuf, len, off, true, status);
	if ((r = launch(w)) < 0)
		return r;
	__atomic_add_fetch(&w->v->engine_copies, 1, __ATOMIC_RELAXED);
	return enqueue(w, cudaMemcpyAsync(w->v->dev + off, buf, len, cudaMemcpyHostToDevice, w->stream),
		       "cudaMemcpyAsync (write)", status);
}

static int vram_zero(void *p, uint32_t len, uint64_t off, int *status)
{
	struct vram_worker *w = p;
	int r = begin(w, true);

	if (r < 0)
		return r;
	if ((r = launch(w)) < 0)
		return r;
	return enqueue(w, cudaMemsetAsync(w->v->dev + off, 0, len, w->stream), "cudaMemsetAsync", status);
}

static int vram_sync(void *p)
{
	struct vram_worker *w = p;
	cudaError_t e;
	unsigned i;

	if (w->nq == 0)
		return 0;
	launch(w); /* a failed launch shows again in the synchronisation */
	e = cudaStreamSynchronize(w->stream);
	if (e != cudaSuccess) {
		mark_lost(w->v, e);
		for (i = 0; i < w->nq; i++)
			*w->queued[i] = EIO;
	}
	w->nq = 0;
	return e == cudaSuccess ? 0 : -EIO;
}

/* Writes are complete in VRAM before they are acknowledged (every batch
 * is synchronised before its replies go out), so a flush only has to wait
 * for this worker's stream. */
static int vram_flush(void *p)
{
	struct vram_worker *w = p;

	if (w->v->lost)
		return -EIO;
	return vram_sync(p);
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
}

static void vram_describe(void *p, json_t *o)
{
	struct vram *v = p;
	struct nvml_memory m;
	unsigned x, n = 0;
	unsigned long long reasons;

	json_object_set_new(o, "storage", json_string("gpu-memory"));
	json_object_set_new(o, "gpu_index", json_integer(v->gpu));
	json_object_set_new(o, "gpu_name", json_string(v->name));
	json_object_set_new(o, "device_lost", json_boolean(v->lost));
	json_object_set_new(o, "kernel_launches", json_integer((json_int_t)v->launches));
	json_object_set_new(o, "kernel_copies", json_integer((json_int_t)v->kernel_copies));
	json_object_set_new(o, "engine_copies", json_integer((json_int_t)v->engine_copies));
	json_object_set_new(o, "cuda_sync", json_string(cuda_sync_names[v->sync_mode]));
	json_object_set_new(o, "cuda_device_flags", json_integer(v->device_flags));
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
	.sync = vram_sync,
	.flush = vram_flush,
	.dump = vram_dump,
	.describe = vram_describe,
};
