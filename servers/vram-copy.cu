/* Batch copy kernel for the vram backend: block i copies descriptor i,
 * 16 bytes per thread per step when source, destination and length allow,
 * byte by byte otherwise.  Host addresses are mapped pinned memory, so the
 * SMs move the data across PCIe themselves, with no copy-engine setup per
 * request.  See vram-copy.h. */
#include <cuda_runtime.h>

#include "vram-copy.h"

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

__device__ __forceinline__ uint4 ld_relaxed_sys_v4(const void *p)
{
	uint4 v;

	asm volatile("ld.relaxed.sys.global.v4.u32 {%0,%1,%2,%3}, [%4];"
		     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
	return v;
}

__device__ __forceinline__ void st_release_sys(uint32_t *p, uint32_t v)
{
	asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

/* Copies len bytes in units of T (every address and len a multiple of
 * its size); loads bypass L1, which may hold bytes the copy engines
 * have since overwritten (this kernel runs as long as vramd). */
template <typename T>
__device__ void serve_copy(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	T *d = (T *)dst;
	const T *s = (const T *)src;

	for (uint32_t i = threadIdx.x; i < len / sizeof(T); i += blockDim.x)
		__stcg(&d[i], __ldcv(&s[i]));
}

__device__ __forceinline__ uint64_t globaltimer(void)
{
	uint64_t t;

	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

__global__ void vram_serve_kernel(const struct vram_serve_args a)
{
	struct vram_mbox *m = &a.boxes[blockIdx.x];
	volatile struct vram_serve_ctl *ctl = a.ctl;
	__shared__ uint64_t s_src, s_dst;
	__shared__ uint32_t s_len, s_seq;
	uint64_t t_start = a.idle_ns ? globaltimer() : 0, wrote = 0;
	uint32_t seen, polls = 0;

	if (threadIdx.x == 0)
		s_seq = *(volatile uint32_t *)&m->done; /* answered by an earlier launch */
	__syncthreads();
	seen = s_seq;
	for (;;) {
		if (threadIdx.x < 32) {
			/* Lane 0 reads half a, lane 1 half b (with quit),
			 * in one round trip across PCIe; every 32nd poll
			 * lane 2 reads the shared words (L2) meanwhile. */
			for (;;) {
				uint4 h = make_uint4(0, 0, 0, 0);
				uint64_t last = 0;
				uint32_t end = 0;
				bool look = a.idle_ns && ++polls % 32 == 0;

				if (threadIdx.x < 2) {
					h = ld_relaxed_sys_v4((const uint8_t *)m + 16 * threadIdx.x);
				} else if (threadIdx.x == 2 && look) {
					last = ctl->last_ns;
					end = ctl->end_gen;
				}
				uint32_t sa = __shfl_sync(0xffffffffu, h.x, 0);
				uint32_t sb = __shfl_sync(0xffffffffu, h.x, 1);

				if (__shfl_sync(0xffffffffu, h.y, 1)) { /* quit */
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
				if (!look)
					continue;
				/* Lane 2 decides for the warp (each lane's
				 * clock differs: lanes deciding apart would
				 * leave the loop apart). */
				uint32_t stay = threadIdx.x == 2 && end != a.gen &&
						globaltimer() - max(last, t_start) <= a.idle_ns;

				end = __shfl_sync(0xffffffffu, end, 2);
				if (__shfl_sync(0xffffffffu, stay, 2))
					continue;
				/* Idle: the first block to see it tells the
				 * others (they end within 32 polls, some
				 * 30 us), then the host. */
				if (threadIdx.x == 0) {
					s_len = 0;
					if (end != a.gen) {
						ctl->end_gen = a.gen;
						st_release_sys(a.gone, a.gen);
					}
				}
				break;
			}
		}
		__syncthreads();
		uint32_t len = s_len;
		uint8_t *dst = (uint8_t *)s_dst;
		const uint8_t *src = (const uint8_t *)s_src;
		uint64_t addr = s_dst | s_src | len;

		if (len == 0)
			return; /* quit, or idle */
		seen = s_seq;
		if ((addr & 15) == 0)
			serve_copy<uint4>(dst, src, len);
		else if ((addr & 7) == 0)
			serve_copy<uint2>(dst, src, len);
		else if ((addr & 3) == 0)
			serve_copy<uint32_t>(dst, src, len);
		else
			serve_copy<uint8_t>(dst, src, len);
		__syncthreads();
		/* The barrier orders every thread's bytes before thread 0's
		 * release; PTX fences are cumulative.  The time after it,
		 * off the reply's path, and only when the one there is
		 * older than a sixteenth of the idle time (the kernel may
		 * end that much early). */
		if (threadIdx.x == 0) {
			st_release_sys(&m->done, seen);
			if (a.idle_ns) {
				uint64_t now = globaltimer();

				if (now - wrote > a.idle_ns / 16) {
					ctl->last_ns = now;
					wrote = now;
				}
			}
		}
	}
}

extern "C" int vram_kernels_load(void)
{
	struct cudaFuncAttributes a;
	cudaError_t e = cudaFuncGetAttributes(&a, vram_copy_kernel);

	return (int)(e != cudaSuccess ? e : cudaFuncGetAttributes(&a, vram_serve_kernel));
}

/* cudaLaunchKernel returns the launch's own error; cudaGetLastError after
 * <<<>>> would also return one left by an earlier call of this thread. */
extern "C" int vram_serve_launch(const struct vram_serve_args *a, unsigned n, void *stream)
{
	void *args[] = { (void *)a };

	if (n == 0)
		return 0;
	return (int)cudaLaunchKernel((const void *)vram_serve_kernel, dim3(n), dim3(256), args, 0,
				     (cudaStream_t)stream);
}

extern "C" int vram_copy_launch(const struct vram_copy_batch *b, void *stream)
{
	void *args[] = { (void *)b };

	if (b->n == 0)
		return 0;
	return (int)cudaLaunchKernel((const void *)vram_copy_kernel, dim3(b->n), dim3(256), args, 0,
				     (cudaStream_t)stream);
}
