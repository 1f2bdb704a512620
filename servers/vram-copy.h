/* The vram backend's batch copy kernel (vram-copy.cu): one launch copies
 * many small blocks between VRAM and mapped pinned host memory, so a batch
 * of small requests costs one driver call instead of one each.  Plain C
 * interface; the stream is passed as an opaque pointer. */
#ifndef VRAMD_VRAM_COPY_H
#define VRAMD_VRAM_COPY_H

#include <stdint.h>

#define VRAM_COPY_MAX 128 /* descriptors per launch (kernel parameter space) */

struct vram_copy {
	uint64_t dst; /* device-visible addresses */
	uint64_t src;
	uint32_t len;
	uint32_t pad;
};

struct vram_copy_batch {
	uint32_t n;
	uint32_t pad;
	struct vram_copy d[VRAM_COPY_MAX];
};

#ifdef __cplusplus
extern "C"
#endif
/* Queues the copies of b on stream (a cudaStream_t); returns the
 * cudaError_t of the launch (0 on success). */
int vram_copy_launch(const struct vram_copy_batch *b, void *stream);

#endif
