/* GPU code of the vram backend (see vram-copy.h).  The batch kernel: block
 * i copies descriptor i, 16 bytes per thread per step when source,
 * destination and length allow, byte by byte otherwise.  The ring kernel:
 * one resident block per worker, polling its mailbox in mapped pinned host
 * memory.  Host addresses are mapped pinned memory either way, so the SMs
 * move the data across PCIe themselves, with no copy-engine setup. */
#include <cuda_runtime.h>

#include "vram-copy.h"

#define RING_THREADS 128
#define RING_UNROLL 8           /* loads in flight per thread: 16 KiB a pass */
#define RING_IDLE_NS 2000000ull /* poll flat out this long after a post, */
#define RING_NAP_NS 1000        /* then pause this long between polls */

__global__ void vram_copy_kernel(const struct vram_copy_batch b)
{
	const struct vram_copy *c = &b.d[blockIdx.x];
	uint8_t *dst = (uint8_t *)c->dst;
	const uint8_t *src = (const uint8_t *)c->src;
	uint32_t len = c->len, i;

	if (((c->dst | c->src | len) & 15) == 0) {
		uint4 *d4 = (uint4 *)dst;
		const uint4 *s4 = (const uint4 *)src;

		for (i = threadIdx.x; i < len / 16; i += blockDim.x)
			d4[i] = s4[i];
	} else {
		for (i = threadIdx.x; i < len; i += blockDim.x)
			dst[i] = src[i];
	}
}

extern "C" int vram_copy_launch(const struct vram_copy_batch *b, void *stream)
{
	if (b->n == 0)
		return 0;
	vram_copy_kernel<<<b->n, 256, 0, (cudaStream_t)stream>>>(*b);
	return (int)cudaGetLastError();
}

/* --- the ring ------------------------------------------------------------ */

static __device__ __forceinline__ uint32_t ld_acquire_sys(const uint32_t *p)
{
	uint32_t v;

	asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
	return v;
}

static __device__ __forceinline__ void st_release_sys(uint32_t *p, uint32_t v)
{
	asm volatile("st.release.sys.global.u32 [%0], %1;" : : "l"(p), "r"(v) : "memory");
}

static __device__ __forceinline__ uint64_t globaltimer(void)
{
	uint64_t t;

	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

/* The block never exits between posts, so nothing invalidates its L1:
 * host memory is read with .cv (fetch again, the host rewrites the
 * connection buffers), VRAM with .cg (L2, where every other writer's data
 * lands), and stores bypass L1 too. */
template <typename T> static __device__ __forceinline__ T ring_load(const T *p, bool host)
{
	return host ? __ldcv(p) : __ldcg(p);
}

template <typename T> static __device__ __forceinline__ void ring_store(T *p, T v, bool host)
{
	if (host)
		__stwt(p, v);
	else
		__stcg(p, v);
}

/* Copies d[0..n) as one run of T-sized units (every address and length a
 * multiple of sizeof(T)); each thread issues RING_UNROLL loads before its
 * first store, so a pass costs about one PCIe round trip. */
template <typename T>
static __device__ void ring_copy(const struct vram_copy *d, const uint32_t *start, uint32_t n)
{
	uint32_t total = start[n], base, u;

	for (base = 0; base < total; base += RING_THREADS * RING_UNROLL) {
		T v[RING_UNROLL];
		uint32_t k[RING_UNROLL];

#pragma unroll
		for (u = 0; u < RING_UNROLL; u++) {
			uint32_t i = base + u * RING_THREADS + threadIdx.x, j = 0;

			k[u] = n;
			if (i >= total)
				continue;
			while (i >= start[j + 1])
				j++;
			k[u] = j;
			v[u] = ring_load((const T *)d[j].src + (i - start[j]),
					 d[j].flags & VRAM_COPY_SRC_HOST);
		}
#pragma unroll
		for (u = 0; u < RING_UNROLL; u++) {
			uint32_t i = base + u * RING_THREADS + threadIdx.x, j = k[u];

			if (j < n)
				ring_store((T *)d[j].dst + (i - start[j]), v[u],
					   d[j].flags & VRAM_COPY_DST_HOST);
		}
	}
}

__global__ void __launch_bounds__(RING_THREADS) vram_ring_kernel(struct vram_ring *r)
{
	__shared__ struct vram_copy d[VRAM_RING_MAX];
	__shared__ uint32_t start[VRAM_RING_MAX + 1], s_seq, s_n, s_unit;
	uint32_t seen = 0, n, i;
	uint64_t last = globaltimer();

	if (threadIdx.x == 0)
		st_release_sys(&r->started, 1);
	for (;;) {
		if (threadIdx.x == 0) {
			uint32_t s;

			while ((s = ld_acquire_sys(&r->seq)) == seen)
				if (globaltimer() - last > RING_IDLE_NS)
					__nanosleep(RING_NAP_NS);
			s_seq = s;
		}
		__syncthreads();
		seen = s_seq;
		/* n and the descriptors, one 8-byte word per thread. */
		if (threadIdx.x == 0)
			s_n = __ldcv(&r->n);
		if (threadIdx.x < VRAM_RING_MAX * 3)
			((unsigned long long *)d)[threadIdx.x] =
				__ldcv((const unsigned long long *)r->d + threadIdx.x);
		__syncthreads();
		n = s_n;
		if (n == 0 || n > VRAM_RING_MAX)
			return;
		if (threadIdx.x == 0) {
			uint64_t any = 0;

			for (i = 0; i < n; i++)
				any |= d[i].dst | d[i].src | d[i].len;
			s_unit = any & 15 ? any & 3 ? 1 : 4 : 16;
			start[0] = 0;
			for (i = 0; i < n; i++)
				start[i + 1] = start[i] + d[i].len / s_unit;
		}
		__syncthreads();
		if (s_unit == 16)
			ring_copy<uint4>(d, start, n);
		else if (s_unit == 4)
			ring_copy<unsigned int>(d, start, n);
		else
			ring_copy<unsigned char>(d, start, n);
		/* Every thread's stores reach VRAM or host memory before the
		 * host can see done. */
		__threadfence_system();
		__syncthreads();
		if (threadIdx.x == 0) {
			st_release_sys(&r->done, seen);
			last = globaltimer();
		}
	}
}

extern "C" int vram_ring_start(struct vram_ring *ring_dev, void *stream)
{
	vram_ring_kernel<<<1, RING_THREADS, 0, (cudaStream_t)stream>>>(ring_dev);
	return (int)cudaGetLastError();
}

extern "C" int vram_copy_preload(void)
{
	struct cudaFuncAttributes a;
	cudaError_t e = cudaFuncGetAttributes(&a, vram_copy_kernel);

	if (e == cudaSuccess)
		e = cudaFuncGetAttributes(&a, vram_ring_kernel);
	return (int)e;
}
