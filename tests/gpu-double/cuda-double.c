/* An emulated GPU for testing vramd's vram backend where there is none:
 * the CUDA runtime calls servers/backend-vram.c makes, and the batch copy
 * kernel's entry point, implemented on the CPU, so that the backend's own
 * code (write-back staging, fences, ordering between workers, the lost
 * device) runs against real clients in CI.  It is linked only into
 * build/tests/vramd-gpu-double, never into vramd.
 *
 * What makes it a useful double is that it is asynchronous like a GPU:
 * every stream is a thread that runs its operations in order, each after
 * a delay (GPU_DOUBLE_DELAY_US, default 20, plus up to as much again at
 * random), so a read that is not ordered after a write's copy sees stale
 * data, and a staging buffer reused before its copy ran corrupts it.
 * Events and cudaStreamWaitEvent work across streams as CUDA's do.  The
 * resident kernel is an operation that keeps its stream busy, polling the
 * mailboxes and answering each request at once, until the quit word is
 * set or no request has come for its idle time.  GPU_DOUBLE_SERIALIZE=1
 * holds every other stream's work while it runs, as a driver would that
 * waited for it (lazy kernel loading did).
 *
 * GPU_DOUBLE_FAIL_AFTER=N makes the Nth copy or memset fail with a sticky
 * error (cudaErrorIllegalAddress), as a lost device does: that operation
 * and every later call fail.  GPU_DOUBLE_REFUSE_READ=N (or _WRITE=N)
 * refuses the Nth submission that reads (writes) device memory, a
 * cudaMemcpyAsync or a batch kernel launch, with a non-sticky error
 * (cudaErrorInvalidValue): nothing is queued and later calls work, as
 * when the driver refuses a launch for its parameters.  GPU_DOUBLE_MEM_MIB sets the "free VRAM"
 * (default 2048).  Device memory is host memory (calloc). */
#include <cuda_runtime.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h" /* now_ns */
#include "vram-copy.h"

enum op_kind { OP_COPY, OP_SET, OP_BATCH, OP_EVENT, OP_WAIT, OP_FLAG, OP_SERVE };

struct op {
	enum op_kind kind;
	void *dst;
	const void *src;
	size_t len;
	int val;
	struct CUevent_st *ev;
	uint64_t seq;
	struct vram_copy_batch *batch;
	struct vram_serve_args serve;
	struct op *next;
};

struct CUstream_st {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* new work, or work finished */
	struct op *head, *tail;
	unsigned pending;           /* queued or running */
	bool stop;
	struct CUstream_st *next;   /* all streams, for cudaDeviceSynchronize */
};

struct CUevent_st {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t recorded, completed;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct CUstream_st *g_streams;
static volatile int sticky;          /* cudaError_t once the device is lost */
static long fail_after = -1, ops_done;
static long refuse_read = -1, refuse_write = -1, reads_seen, writes_seen;
/* Device allocations (cudaMalloc), to tell device memory from host. */
static struct { uintptr_t lo, hi; } dev_mem[16];
static unsigned dev_n;
static unsigned delay_us = 20;
static bool serialize;
static volatile int serving;         /* the resident kernel runs */
static unsigned device_flags;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void g_init(void)
{
	const char *e;

	if ((e = getenv("GPU_DOUBLE_DELAY_US")))
		delay_us = (unsigned)strtoul(e, NULL, 10);
	if ((e = getenv("GPU_DOUBLE_FAIL_AFTER")))
		fail_after = strtol(e, NULL, 10);
	if ((e = getenv("GPU_DOUBLE_REFUSE_READ")))
		refuse_read = strtol(e, NULL, 10);
	if ((e = getenv("GPU_DOUBLE_REFUSE_WRITE")))
		refuse_write = strtol(e, NULL, 10);
	serialize = (e = getenv("GPU_DOUBLE_SERIALIZE")) && strcmp(e, "1") == 0;
}

static cudaError_t lost(void)
{
	pthread_once(&g_once, g_init);
	return (cudaError_t)__atomic_load_n(&sticky, __ATOMIC_ACQUIRE);
}

static void pause_a_little(unsigned *seed)
{
	unsigned us = delay_us ? delay_us + (unsigned)rand_r(seed) % (delay_us + 1) : 0;
	struct timespec ts = { 0, (long)us * 1000 };

	if (us)
		nanosleep(&ts, NULL);
}

/* A copy or memset runs, or fails and loses the device. */
static bool data_op_allowed(void)
{
	long n = __atomic_add_fetch(&ops_done, 1, __ATOMIC_SEQ_CST);

	if (lost())
		return false;
	if (fail_after >= 0 && n >= fail_after) {
		__atomic_store_n(&sticky, cudaErrorIllegalAddress, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

static bool on_device(uint64_t p)
{
	unsigned i, n = __atomic_load_n(&dev_n, __ATOMIC_ACQUIRE);

	for (i = 0; i < n && i < 16; i++)
		if (p >= dev_mem[i].lo && p < dev_mem[i].hi)
			return true;
	return false;
}

/* A submission copying to dst from src (n pairs): refused, or queued. */
static cudaError_t submission(const struct vram_copy *d, unsigned n)
{
	bool reads = false, writes = false;
	unsigned i;

	pthread_once(&g_once, g_init);
	for (i = 0; i < n; i++) {
		reads |= on_device(d[i].src);
		writes |= on_device(d[i].dst);
	}
	if ((reads && refuse_read >= 0 &&
	     __atomic_add_fetch(&reads_seen, 1, __ATOMIC_SEQ_CST) == refuse_read) ||
	    (writes && refuse_write >= 0 &&
	     __atomic_add_fetch(&writes_seen, 1, __ATOMIC_SEQ_CST) == refuse_write))
		return cudaErrorInvalidValue;
	return cudaSuccess;
}

static void event_complete(struct CUevent_st *ev, uint64_t seq)
{
	pthread_mutex_lock(&ev->mu);
	if (ev->completed < seq)
		ev->completed = seq;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
}

static void event_wait(struct CUevent_st *ev, uint64_t seq)
{
	pthread_mutex_lock(&ev->mu);
	while (ev->completed < seq)
		pthread_cond_wait(&ev->cv, &ev->mu);
	pthread_mutex_unlock(&ev->mu);
}

/* How many times ev has been recorded so far. */
static uint64_t recorded(struct CUevent_st *ev)
{
	uint64_t seq;

	pthread_mutex_lock(&ev->mu);
	seq = ev->recorded;
	pthread_mutex_unlock(&ev->mu);
	return seq;
}

/* The resident kernel: returns when told to quit, when the device is
 * lost (a failed copy, as a fault ends a kernel), or after a->idle_ns
 * without a request (then *a->gone = a->gen, 200 us later).  Each box
 * starts from the seq its done holds, as the kernel's blocks do. */
static void serve(const struct vram_serve_args *a, unsigned n)
{
	struct vram_mbox *boxes = a->boxes;
	uint32_t *seen = calloc(n, sizeof *seen);
	unsigned i;
	struct timespec idle = { 0, 5000 };
	uint64_t last = now_ns();

	for (i = 0; seen && i < n; i++)
		seen[i] = __atomic_load_n(&boxes[i].done, __ATOMIC_ACQUIRE);
	__atomic_store_n(&serving, 1, __ATOMIC_RELEASE);
	while (seen && !__atomic_load_n(&boxes[0].quit, __ATOMIC_ACQUIRE) && !lost()) {
		bool any = false;

		for (i = 0; i < n; i++) {
			struct vram_mbox *m = &boxes[i];
			uint32_t seq = __atomic_load_n(&m->seq_a, __ATOMIC_ACQUIRE);

			if (seq != __atomic_load_n(&m->seq_b, __ATOMIC_ACQUIRE) || seq == seen[i])
				continue;
			any = true;
			/* No delay: sooner than any stream's copy, so a read
			 * not ordered after a pending write sees stale data. */
			if (!data_op_allowed())
				break;
			memcpy((void *)(uintptr_t)m->dst, (const void *)(uintptr_t)m->src, m->len);
			seen[i] = seq;
			__atomic_store_n(&m->done, seq, __ATOMIC_RELEASE);
		}
		if (any) {
			last = now_ns();
		} else if (a->idle_ns && now_ns() - last > a->idle_ns) {
			/* Ending takes a while (the kernel's blocks end one
			 * by one): a read posted meanwhile is left to the
			 * next launch. */
			struct timespec ending = { 0, 200000 };

			nanosleep(&ending, NULL);
			__atomic_store_n(a->gone, a->gen, __ATOMIC_RELEASE);
			break;
		} else {
			nanosleep(&idle, NULL);
		}
	}
	free(seen);
	__atomic_store_n(&serving, 0, __ATOMIC_RELEASE);
}

static void run_op(struct op *o, unsigned *seed)
{
	struct timespec nap = { 0, 50000 };
	uint32_t i;

	while (serialize && o->kind != OP_SERVE && __atomic_load_n(&serving, __ATOMIC_ACQUIRE))
		nanosleep(&nap, NULL);
	switch (o->kind) {
	case OP_COPY:
		pause_a_little(seed);
		if (data_op_allowed())
			memcpy(o->dst, o->src, o->len);
		break;
	case OP_SET:
		pause_a_little(seed);
		if (data_op_allowed())
			memset(o->dst, o->val, o->len);
		break;
	case OP_BATCH:
		pause_a_little(seed);
		if (data_op_allowed())
			for (i = 0; i < o->batch->n; i++)
				memcpy((void *)(uintptr_t)o->batch->d[i].dst,
				       (const void *)(uintptr_t)o->batch->d[i].src, o->batch->d[i].len);
		free(o->batch);
		break;
	case OP_EVENT:
		event_complete(o->ev, o->seq);
		break;
	case OP_WAIT:
		event_wait(o->ev, o->seq);
		break;
	case OP_SERVE:
		serve(&o->serve, (unsigned)o->len);
		break;
	case OP_FLAG:
		/* After the stream's earlier work, as cuStreamWriteValue32;
		 * never once the device is lost. */
		if (!lost())
			__atomic_store_n((uint32_t *)o->dst, (uint32_t)o->seq, __ATOMIC_RELEASE);
		break;
	}
}

static void *stream_main(void *arg)
{
	struct CUstream_st *s = arg;
	unsigned seed = (unsigned)(uintptr_t)s;
	struct op *o;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head)
			break;
		o = s->head;
		pthread_mutex_unlock(&s->mu);
		run_op(o, &seed);
		pthread_mutex_lock(&s->mu);
		s->head = o->next;
		if (!s->head)
			s->tail = NULL;
		s->pending--;
		free(o);
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static cudaError_t push(struct CUstream_st *s, struct op o)
{
	struct op *p = malloc(sizeof *p);
	cudaError_t e = lost();

	if (e) {
		free(o.batch);
		free(p);
		return e;
	}
	if (!s || !p) {
		free(o.batch);
		free(p);
		return !s ? cudaErrorInvalidResourceHandle : cudaErrorMemoryAllocation;
	}
	*p = o;
	p->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	s->pending++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return cudaSuccess;
}

static void drain(struct CUstream_st *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->pending)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* --- the runtime API used by backend-vram.c ----------------------------- */

cudaError_t cudaDriverGetVersion(int *v)
{
	*v = 13000;
	return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
	*v = 13000;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int *n)
{
	*n = 1;
	return cudaSuccess;
}

cudaError_t cudaInitDevice(int dev, unsigned int flags, unsigned int how)
{
	(void)how;
	if (dev != 0)
		return cudaErrorInvalidDevice;
	device_flags = flags | cudaDeviceMapHost;
	return lost();
}

cudaError_t cudaSetDevice(int dev)
{
	return dev == 0 ? lost() : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDeviceFlags(unsigned int *flags)
{
	*flags = device_flags;
	return lost();
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int dev)
{
	if (dev != 0)
		return cudaErrorInvalidDevice;
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "GPU double (emulated, tests only)");
	/* A small GPU: vramd keeps its resident kernel to 32 workers here. */
	p->multiProcessorCount = 8;
	p->maxThreadsPerMultiProcessor = 2048;
	return lost();
}

cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int dev)
{
	(void)dev;
	snprintf(id, (size_t)len, "0000:00:00.0");
	return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *fr, size_t *total)
{
	const char *e = getenv("GPU_DOUBLE_MEM_MIB");
	size_t mib = e ? strtoull(e, NULL, 10) : 2048;

	*fr = *total = mib << 20;
	return lost();
}

cudaError_t cudaMalloc(void **p, size_t len)
{
	*p = calloc(1, len);
	if (*p) {
		pthread_mutex_lock(&g_mu);
		if (dev_n < 16) {
			dev_mem[dev_n].lo = (uintptr_t)*p;
			dev_mem[dev_n].hi = (uintptr_t)*p + len;
			__atomic_store_n(&dev_n, dev_n + 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&g_mu);
	}
	return *p ? lost() : cudaErrorMemoryAllocation;
}

cudaError_t cudaFree(void *p)
{
	unsigned i;

	pthread_mutex_lock(&g_mu);
	for (i = 0; i < dev_n; i++)
		if (dev_mem[i].lo == (uintptr_t)p)
			dev_mem[i].lo = dev_mem[i].hi = 0;
	pthread_mutex_unlock(&g_mu);
	free(p);
	return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t len, unsigned int flags)
{
	(void)flags;
	*p = calloc(1, len);
	return *p ? lost() : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void *p)
{
	free(p);
	return cudaSuccess;
}

cudaError_t cudaHostRegister(void *p, size_t len, unsigned int flags)
{
	(void)p;
	(void)len;
	(void)flags;
	return lost();
}

cudaError_t cudaHostUnregister(void *p)
{
	(void)p;
	return cudaSuccess;
}

cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned int flags)
{
	(void)flags;
	*dev = host; /* unified addressing, as on 64-bit Linux */
	return lost();
}

cudaError_t cudaDeviceSynchronize(void)
{
	struct CUstream_st *s;

	pthread_mutex_lock(&g_mu);
	for (s = g_streams; s; s = s->next)
		drain(s);
	pthread_mutex_unlock(&g_mu);
	return lost();
}

cudaError_t cudaMemset(void *p, int val, size_t len)
{
	cudaError_t e = cudaDeviceSynchronize();

	if (e)
		return e;
	if (!data_op_allowed())
		return lost();
	memset(p, val, len);
	return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *ps, unsigned int flags)
{
	struct CUstream_st *s = calloc(1, sizeof *s);

	(void)flags;
	if (!s)
		return cudaErrorMemoryAllocation;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->thread, NULL, stream_main, s)) {
		free(s);
		return cudaErrorMemoryAllocation;
	}
	pthread_mutex_lock(&g_mu);
	s->next = g_streams;
	g_streams = s;
	pthread_mutex_unlock(&g_mu);
	*ps = s;
	return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	struct CUstream_st **pp;

	drain(s);
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_mutex_lock(&g_mu);
	for (pp = &g_streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&g_mu);
	free(s);
	return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	drain(s);
	return lost();
}

cudaError_t cudaStreamQuery(cudaStream_t s)
{
	unsigned pending;
	cudaError_t e = lost();

	if (e)
		return e;
	pthread_mutex_lock(&s->mu);
	pending = s->pending;
	pthread_mutex_unlock(&s->mu);
	return pending ? cudaErrorNotReady : cudaSuccess;
}

/* cuStreamWriteValue32, the one driver entry point the backend asks for. */
static int write_value32(void *stream, unsigned long long addr, uint32_t value, unsigned flags)
{
	(void)flags;
	return push(stream, (struct op){ .kind = OP_FLAG, .dst = (void *)(uintptr_t)addr,
					 .seq = value }) == cudaSuccess ? 0 : 1;
}

cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **fn, unsigned int version,
					     unsigned long long flags,
					     enum cudaDriverEntryPointQueryResult *status)
{
	(void)version;
	(void)flags;
	*fn = NULL;
	*status = cudaDriverEntryPointSymbolNotFound;
	if (strcmp(symbol, "cuStreamWriteValue32") == 0) {
		*fn = (void *)write_value32;
		*status = cudaDriverEntryPointSuccess;
	}
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t len, enum cudaMemcpyKind kind,
			    cudaStream_t s)
{
	struct vram_copy d = { .dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = (uint32_t)len };
	cudaError_t e = submission(&d, 1);

	(void)kind;
	return e ? e : push(s, (struct op){ .kind = OP_COPY, .dst = dst, .src = src, .len = len });
}

cudaError_t cudaMemsetAsync(void *p, int val, size_t len, cudaStream_t s)
{
	return push(s, (struct op){ .kind = OP_SET, .dst = p, .val = val, .len = len });
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *pe, unsigned int flags)
{
	struct CUevent_st *ev = calloc(1, sizeof *ev);

	(void)flags;
	if (!ev)
		return cudaErrorMemoryAllocation;
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	*pe = ev;
	return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t ev)
{
	free(ev);
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t s)
{
	uint64_t seq;
	cudaError_t e = lost();

	if (e)
		return e;
	pthread_mutex_lock(&ev->mu);
	seq = ++ev->recorded;
	pthread_mutex_unlock(&ev->mu);
	return push(s, (struct op){ .kind = OP_EVENT, .ev = ev, .seq = seq });
}

cudaError_t cudaEventQuery(cudaEvent_t ev)
{
	bool done;
	cudaError_t e = lost();

	if (e)
		return e;
	pthread_mutex_lock(&ev->mu);
	done = ev->completed >= ev->recorded;
	pthread_mutex_unlock(&ev->mu);
	return done ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t ev)
{
	event_wait(ev, recorded(ev));
	return lost();
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t ev, unsigned int flags)
{
	(void)flags;
	return push(s, (struct op){ .kind = OP_WAIT, .ev = ev, .seq = recorded(ev) });
}

const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorNotReady: return "device not ready";
	case cudaErrorIllegalAddress: return "an illegal memory access was encountered (GPU double)";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidDevice: return "invalid device ordinal";
	case cudaErrorInvalidValue: return "invalid argument (GPU double: refused)";
	default: return "unknown error (GPU double)";
	}
}

const char *cudaGetErrorName(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "cudaSuccess";
	case cudaErrorNotReady: return "cudaErrorNotReady";
	case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
	case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
	case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
	case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
	default: return "cudaErrorUnknown";
	}
}

/* --- the batch copy kernel (servers/vram-copy.cu) ----------------------- */

int vram_copy_launch(const struct vram_copy_batch *b, void *stream)
{
	struct vram_copy_batch *copy;

	if (b->n == 0)
		return 0;
	if (submission(b->d, b->n))
		return cudaErrorInvalidValue;
	copy = malloc(sizeof *copy);
	if (!copy)
		return cudaErrorMemoryAllocation;
	memcpy(copy, b, sizeof *copy);
	return push(stream, (struct op){ .kind = OP_BATCH, .batch = copy });
}

int vram_serve_launch(const struct vram_serve_args *a, unsigned n, void *stream)
{
	if (n == 0)
		return 0;
	return push(stream, (struct op){ .kind = OP_SERVE, .serve = *a, .len = n });
}

int vram_kernels_load(void)
{
	return lost();
}
