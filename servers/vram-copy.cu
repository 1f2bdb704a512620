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

extern "C" int vram_copy_launch(const struct vram_copy_batch *b, void *stream)
{
	if (b->n == 0)
		return 0;
	vram_copy_kernel<<<b->n, 256, 0, (cudaStream_t)stream>>>(*b);
	return (int)cudaGetLastError();
}
