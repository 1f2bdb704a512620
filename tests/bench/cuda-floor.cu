// cuda-floor: what moving 4 KiB between VRAM and pinned host memory costs
// on this host, by each way vramd's vram backend could do it, measured
// with nothing else running.  It is the floor under vramd's own time for
// a lone request (QD1): no server can answer a 4 KiB read from VRAM
// sooner than the best line here.  A benchmark, not a test.
//
//   build/tests/cuda-floor [--iterations N] [--gpu N]
//   make bench-cuda-floor
//
// Prints, per method and direction, p10/p50/p90 in microseconds of N
// round trips at random 4 KiB-aligned offsets of a 64 MiB buffer, with
// the host thread spinning (cudaDeviceScheduleSpin, as vramd's default
// does); then vramd's resident kernel (servers/vram-copy.cu: 16 blocks, as
// many as vramd's workers on a 16-core host, each polling a mailbox in
// mapped pinned memory, so no driver call per copy); whether the pollers
// slow 64 MiB copies; the floor under the resident kernel (the mailbox's
// round trip alone, and a copy answered without the release that keeps
// the flag behind the bytes); then the cost of the calls the write-back path
// makes.
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "vram-copy.h"

static double now_us()
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

#define CK(x)                                                                       \
	do {                                                                        \
		cudaError_t e_ = (x);                                               \
		if (e_ != cudaSuccess) {                                            \
			fprintf(stderr, "cuda-floor: %s: %s\n", #x, cudaGetErrorString(e_)); \
			exit(1);                                                    \
		}                                                                   \
	} while (0)

static void report(const char *what, std::vector<double> &v)
{
	std::sort(v.begin(), v.end());
	printf("%-46s p10 %6.2f  p50 %6.2f  p90 %6.2f us\n", what, v[v.size() / 10],
	       v[v.size() / 2], v[v.size() * 9 / 10]);
}

__global__ void copy_kernel(uint4 *d, const uint4 *s, int n)
{
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		d[i] = s[i];
}

/* Lower bounds for the resident kernel, not protocols: one block polls
 * box m like vram_serve_kernel, then answers with a plain (relaxed)
 * store of done, either at once (ping: the PCIe round trip alone) or
 * after copying len bytes (copy: the flag may overtake the bytes, which
 * vramd's system-scope release prevents; what that release costs is the
 * difference to the resident kernel's line). */
__global__ void floor_kernel(vram_mbox *m, bool copy)
{
	__shared__ uint64_t s_src, s_dst;
	__shared__ uint32_t s_len, s_seq;
	uint32_t seen = *(volatile uint32_t *)&m->done;

	for (;;) {
		if (threadIdx.x < 32) {
			/* Both halves in one round trip, as vram_serve_kernel. */
			for (;;) {
				uint4 h = make_uint4(0, 0, 0, 0);

				if (threadIdx.x < 2)
					asm volatile("ld.relaxed.sys.global.v4.u32 {%0,%1,%2,%3}, [%4];"
						     : "=r"(h.x), "=r"(h.y), "=r"(h.z), "=r"(h.w)
						     : "l"((const uint8_t *)m + 16 * threadIdx.x) : "memory");
				uint32_t sa = __shfl_sync(0xffffffffu, h.x, 0);
				uint32_t sb = __shfl_sync(0xffffffffu, h.x, 1);

				if (__shfl_sync(0xffffffffu, h.y, 1)) {
					if (threadIdx.x == 0)
						s_len = 0;
					break;
				}
				if (sa == sb && sa != seen) {
					if (threadIdx.x == 0) {
						s_seq = sa;
						s_len = h.y;
						s_src = (uint64_t)h.z | (uint64_t)h.w << 32;
					} else if (threadIdx.x == 1) {
						s_dst = (uint64_t)h.z | (uint64_t)h.w << 32;
					}
					break;
				}
			}
		}
		__syncthreads();
		if (s_len == 0)
			return;
		seen = s_seq;
		if (copy)
			for (uint32_t i = threadIdx.x; i < s_len / 16; i += blockDim.x)
				__stcg((uint4 *)s_dst + i, __ldcv((const uint4 *)s_src + i));
		__syncthreads();
		if (threadIdx.x == 0)
			asm volatile("st.relaxed.sys.global.u32 [%0], %1;" ::"l"(&m->done), "r"(seen) : "memory");
	}
}

/* One copy through vramd's resident kernel (servers/vram-copy.cu), block
 * m; false when the kernel is gone. */
static bool resident_copy(vram_mbox *m, cudaStream_t rs, void *dst, const void *src, uint32_t len)
{
	unsigned want = vram_mbox_post(m, (uint64_t)(uintptr_t)src, (uint64_t)(uintptr_t)dst, len);
	unsigned long spins = 0;
	double t0 = now_us();
	while (__atomic_load_n(&m->done, __ATOMIC_ACQUIRE) != want)
		if (++spins % 4096 == 0) {
			cudaError_t e = cudaStreamQuery(rs);
			if (e != cudaErrorNotReady || now_us() - t0 > 1e6) {
				fprintf(stderr, "cuda-floor: resident copy %u unanswered after %.0f us "
						"(done %u, kernel %s)\n", want, now_us() - t0, m->done,
					e == cudaErrorNotReady ? "running" : cudaGetErrorString(e));
				return false;
			}
		}
	return true;
}

typedef CUresult (*write_value_fn)(CUstream, CUdeviceptr, cuuint32_t, unsigned);

int main(int argc, char **argv)
{
	int iters = 3000, gpu = 0, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			iters = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--gpu") && i + 1 < argc) {
			gpu = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--help")) {
			printf("usage: cuda-floor [--iterations N] [--gpu N]\n");
			return 0;
		} else {
			fprintf(stderr, "cuda-floor: bad argument '%s'\n"
					"usage: cuda-floor [--iterations N] [--gpu N]\n", argv[i]);
			return 2;
		}
	}
	if (iters < 200) {
		fprintf(stderr, "cuda-floor: --iterations must be at least 200\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	CK(cudaInitDevice(gpu, cudaDeviceScheduleSpin, cudaInitDeviceFlagsAreValid));
	CK(cudaSetDevice(gpu));
	cudaDeviceProp prop;
	CK(cudaGetDeviceProperties(&prop, gpu));
	int drv = 0;
	cudaDriverGetVersion(&drv);
	printf("# cuda-floor: GPU %d %s, driver API %d, %d iterations (first 100 dropped)\n", gpu,
	       prop.name, drv, iters);

	uint8_t *dev, *host, *hostd;
	CK(cudaMalloc(&dev, 64 << 20));
	CK(cudaHostAlloc((void **)&host, 1 << 20, cudaHostAllocMapped));
	CK(cudaHostGetDevicePointer((void **)&hostd, host, 0));
	cudaStream_t s, s2;
	cudaEvent_t ev;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	void *fp = NULL;
	cudaDriverEntryPointQueryResult q;
	write_value_fn write_value = NULL;
	if (cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", &fp, 12000, cudaEnableDefault,
					     &q) == cudaSuccess && q == cudaDriverEntryPointSuccess)
		write_value = (write_value_fn)fp;

	/* The GPU's address of a host or device pointer used below. */
	auto gpu_addr = [&](const void *p) -> void * {
		return p == (const void *)host ? (void *)hostd : (void *)p;
	};
	/* Resident blocks (as many as vramd has workers on a 16-core host);
	 * block 0 serves the measurements, the others poll idle, as they
	 * would in the server. */
	const int nres = 16;
	vram_mbox *boxes, *boxes_dev;
	cudaStream_t rs;
	/* The boxes, then the word a launch sets when it ends on idle. */
	CK(cudaHostAlloc((void **)&boxes, sizeof(vram_mbox) * nres + 64, cudaHostAllocMapped));
	memset(boxes, 0, sizeof(vram_mbox) * nres + 64);
	CK(cudaHostGetDevicePointer((void **)&boxes_dev, boxes, 0));
	volatile uint32_t *gone = (volatile uint32_t *)(boxes + nres);
	vram_serve_args sa = {};
	sa.boxes = boxes_dev;
	sa.gone = (uint32_t *)(boxes_dev + nres);
	sa.gen = 1;
	sa.idle_ns = 1000000000ull; /* vramd's default --resident-idle */
	CK(cudaMalloc((void **)&sa.ctl, sizeof *sa.ctl));
	CK(cudaMemset(sa.ctl, 0, sizeof *sa.ctl));
	CK(cudaStreamCreateWithFlags(&rs, cudaStreamNonBlocking));
	std::vector<double> v;
	char what[96];
	unsigned flag_value = 0;
	volatile unsigned *flag = (volatile unsigned *)(host + 65536);
	for (int dir = 0; dir < 2; dir++) {
		const char *d = dir ? "write (H2D)" : "read (D2H)";
#define MEASURE(label, ...)                                                         \
	do {                                                                        \
		v.clear();                                                          \
		for (int k = 0; k < iters; k++) {                                   \
			size_t off = (size_t)(rand() % 16000) * 4096;               \
			void *dst = dir ? (void *)(dev + off) : (void *)host;       \
			const void *src = dir ? (const void *)host : (const void *)(dev + off); \
			double t0 = now_us();                                       \
			__VA_ARGS__;                                                \
			double t1 = now_us();                                       \
			if (k >= 100)                                               \
				v.push_back(t1 - t0);                               \
		}                                                                   \
		snprintf(what, sizeof what, "%s %s", d, label);                     \
		report(what, v);                                                    \
	} while (0)
		MEASURE("cudaMemcpy", CK(cudaMemcpy(dst, src, 4096, cudaMemcpyDefault)));
		MEASURE("cudaMemcpyAsync + cudaStreamSynchronize",
			CK(cudaMemcpyAsync(dst, src, 4096, cudaMemcpyDefault, s));
			CK(cudaStreamSynchronize(s)));
		MEASURE("cudaMemcpyAsync + event query spin",
			CK(cudaMemcpyAsync(dst, src, 4096, cudaMemcpyDefault, s));
			CK(cudaEventRecord(ev, s)); while (cudaEventQuery(ev) == cudaErrorNotReady););
		if (write_value)
			MEASURE("cudaMemcpyAsync + flag written by the GPU",
				CK(cudaMemcpyAsync(dst, src, 4096, cudaMemcpyDefault, s));
				flag_value++;
				write_value((CUstream)s, (CUdeviceptr)(hostd + 65536), flag_value, 0);
				while (*flag != flag_value););
		MEASURE("copy kernel (mapped host memory) + sync",
			copy_kernel<<<1, 256, 0, s>>>((uint4 *)gpu_addr(dst), (const uint4 *)gpu_addr(src), 256);
			CK(cudaStreamSynchronize(s)));
		MEASURE("cudaMemcpyAsync call alone",
			CK(cudaMemcpyAsync(dst, src, 4096, cudaMemcpyDefault, s)));
		CK(cudaStreamSynchronize(s));
		MEASURE("copy kernel launch call alone",
			copy_kernel<<<1, 256, 0, s>>>((uint4 *)gpu_addr(dst), (const uint4 *)gpu_addr(src), 256));
		CK(cudaStreamSynchronize(s));
	}
	/* The resident kernel: launched once, then each copy is a mailbox
	 * write and a wait for the GPU's answer. */
	CK((cudaError_t)vram_serve_launch(&sa, nres, rs));
	printf("# resident kernel launched: %d blocks of 256 threads\n", nres);
	bool resident_ok = true;
	{
		/* First a check that it copies the right bytes both ways. */
		std::vector<uint8_t> pat(4096), back(4096);
		for (i = 0; i < 4096; i++)
			pat[i] = (uint8_t)(i * 7 + 3);
		CK(cudaMemcpyAsync(dev, pat.data(), 4096, cudaMemcpyHostToDevice, s));
		CK(cudaStreamSynchronize(s));
		memset(host, 0, 4096);
		resident_ok = resident_copy(&boxes[0], rs, hostd, dev, 4096) &&
			      !memcmp(host, pat.data(), 4096);
		if (resident_ok) {
			memcpy(host, pat.data(), 4096);
			host[5] ^= 0xff;
			resident_ok = resident_copy(&boxes[0], rs, dev + 8192, hostd, 4096);
			CK(cudaMemcpyAsync(back.data(), dev + 8192, 4096, cudaMemcpyDeviceToHost, s));
			CK(cudaStreamSynchronize(s));
			resident_ok = resident_ok && !memcmp(back.data(), host, 4096);
		}
		if (!resident_ok)
			printf("resident kernel: copies failed or came back wrong; not measured\n");
	}
	for (int dir = 0; dir < 2 && resident_ok; dir++) {
		const char *d = dir ? "write (H2D)" : "read (D2H)";
		MEASURE("resident kernel (mapped mailbox)",
			if (!resident_copy(&boxes[0], rs, gpu_addr(dst), gpu_addr(src), 4096)) {
				printf("resident kernel stopped answering\n");
				exit(1);
			});
	}
	/* The floor under it: the same mailbox answered with no release. */
	for (int copy = 0; copy < 2 && resident_ok; copy++) {
		const int dir = 0;
		const char *d = "read (D2H)";

		for (int b = 0; b < nres; b++)
			__atomic_store_n(&boxes[b].quit, 1u, __ATOMIC_RELEASE);
		CK(cudaStreamSynchronize(rs));
		__atomic_store_n(&boxes[0].quit, 0u, __ATOMIC_RELEASE);
		floor_kernel<<<1, 256, 0, rs>>>(boxes_dev, copy);
		CK(cudaGetLastError());
		MEASURE(copy ? "floor: copy, done unfenced (unsafe)" : "floor: mailbox ping, no copy",
			if (!resident_copy(&boxes[0], rs, gpu_addr(dst), gpu_addr(src), 4096)) {
				printf("floor kernel stopped answering\n");
				exit(1);
			});
	}
	/* A lone read after the kernel ended on idle: the launch, then the
	 * copy through the new launch (as vramd's first lone read after
	 * --resident-idle).  The kernel above is told to quit first. */
	for (int b = 0; b < nres; b++)
		__atomic_store_n(&boxes[b].quit, 1u, __ATOMIC_RELEASE);
	CK(cudaStreamSynchronize(rs));
	for (int b = 0; b < nres; b++)
		__atomic_store_n(&boxes[b].quit, 0u, __ATOMIC_RELEASE);
	sa.idle_ns = 1000000; /* 1 ms */
	v.clear();
	for (int k = 0; k < 300 && resident_ok; k++) {
		sa.gen++;
		double t0 = now_us();
		CK((cudaError_t)vram_serve_launch(&sa, nres, rs));
		resident_ok = resident_copy(&boxes[0], rs, hostd, dev + (size_t)(rand() % 16000) * 4096, 4096);
		double t1 = now_us();
		while (*gone != sa.gen && now_us() - t1 < 2e6)
			;
		CK(cudaStreamSynchronize(rs));
		if (k >= 100)
			v.push_back(t1 - t0);
	}
	if (resident_ok && *gone == sa.gen)
		report("read (D2H) resident kernel launched, then its copy", v);
	else
		printf("resident kernel: did not answer, or did not end on idle, after a launch\n");
	sa.idle_ns = 1000000000ull;
	sa.gen++;
	CK((cudaError_t)vram_serve_launch(&sa, nres, rs));

	/* Does polling (16 blocks reading host memory across PCIe) slow the
	 * copy engines?  64 MiB pinned copies with the pollers, then without. */
	uint8_t *big;
	CK(cudaHostAlloc((void **)&big, 64 << 20, 0));
	for (int pass = 0; pass < 2; pass++) {
		for (int dir = 0; dir < 2; dir++) {
			double best = 0;
			for (int k = 0; k < 8; k++) {
				double t0 = now_us();
				CK(cudaMemcpyAsync(dir ? (void *)dev : (void *)big, dir ? (void *)big : (void *)dev,
						   64 << 20, cudaMemcpyDefault, s));
				CK(cudaStreamSynchronize(s));
				double gbs = (64 << 20) / (now_us() - t0) / 1e3;
				best = gbs > best ? gbs : best;
			}
			printf("%-46s %6.2f GB/s (best of 8)\n",
			       dir ? (pass ? "64 MiB H2D, no resident kernel" : "64 MiB H2D, 16 resident blocks polling")
				   : (pass ? "64 MiB D2H, no resident kernel" : "64 MiB D2H, 16 resident blocks polling"),
			       best);
		}
		if (pass == 0) {
			for (int b = 0; b < nres; b++)
				__atomic_store_n(&boxes[b].quit, 1u, __ATOMIC_RELEASE);
			double t0 = now_us();
			while (cudaStreamQuery(rs) == cudaErrorNotReady)
				if (now_us() - t0 > 2e6) {
					printf("resident kernel would not stop\n");
					exit(1);
				}
			CK(cudaStreamSynchronize(rs));
		}
	}
	v.clear();
	for (i = 0; i < 2000; i++) {
		double t0 = now_us();
		CK(cudaEventRecord(ev, s));
		v.push_back(now_us() - t0);
	}
	CK(cudaDeviceSynchronize());
	report("cudaEventRecord call", v);
	v.clear();
	for (i = 0; i < 2000; i++) {
		CK(cudaMemcpyAsync(dev, host, 4096, cudaMemcpyHostToDevice, s2));
		CK(cudaEventRecord(ev, s2));
		double t0 = now_us();
		CK(cudaStreamWaitEvent(s, ev, 0));
		v.push_back(now_us() - t0);
	}
	CK(cudaDeviceSynchronize());
	report("cudaStreamWaitEvent call (pending event)", v);
	v.clear();
	for (i = 0; i < 2000; i++) {
		double t0 = now_us();
		(void)cudaEventQuery(ev);
		v.push_back(now_us() - t0);
	}
	report("cudaEventQuery call (complete event)", v);
	v.clear();
	for (i = 0; i < 2000; i++) {
		double t0 = now_us();
		memcpy(host + 8192, host + 4096 * (i % 8 + 4), 4096);
		v.push_back(now_us() - t0);
	}
	report("memcpy 4 KiB within pinned host memory", v);
	return 0;
}
