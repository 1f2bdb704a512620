/* The vram backend's GPU code (vram-copy.cu).  Two ways to move small
 * blocks between VRAM and mapped pinned host memory:
 *   - the batch copy kernel: one launch copies many blocks, so a batch of
 *     small requests costs one driver call instead of one each;
 *   - the ring: one resident block per worker polls a mailbox in mapped
 *     pinned host memory and copies what the host posts there, so a lone
 *     request costs no driver call and no CUDA synchronisation at all.
 * Plain C interface; streams are passed as opaque pointers. */
#ifndef VRAMD_VRAM_COPY_H
#define VRAMD_VRAM_COPY_H

#include <stdint.h>

#define VRAM_COPY_MAX 128 /* descriptors per launch (kernel parameter space) */
#define VRAM_RING_MAX 8   /* descriptors per ring post */

/* vram_copy.flags: which side is host memory (PCIe) rather than VRAM; the
 * ring block loads and stores each side with the cache policy it needs. */
#define VRAM_COPY_SRC_HOST 1u
#define VRAM_COPY_DST_HOST 2u

struct vram_copy {
	uint64_t dst; /* device-visible addresses */
	uint64_t src;
	uint32_t len;
	uint32_t flags; /* VRAM_COPY_* */
};

struct vram_copy_batch {
	uint32_t n;
	uint32_t pad;
	struct vram_copy d[VRAM_COPY_MAX];
};

/* A worker's mailbox, in mapped pinned host memory, zeroed before the
 * block starts.  The host writes n and d[], then seq (release); the block
 * copies, makes the data visible system-wide, then stores seq in done.
 * done has a cache line of its own: the GPU writes it, the host polls it. */
struct vram_ring {
	uint32_t seq;     /* bumped by the host to post; starts at 0 */
	uint32_t n;       /* copies posted, 1..VRAM_RING_MAX; 0 stops the block */
	uint32_t pad[2];
	struct vram_copy d[VRAM_RING_MAX];
	uint32_t done __attribute__((aligned(128))); /* last seq served */
	uint32_t started; /* 1 once the block runs */
	uint32_t pad2[30];
};

#ifdef __cplusplus
extern "C" {
#endif
/* Queues the copies of b on stream (a cudaStream_t); returns the
 * cudaError_t of the launch (0 on success). */
int vram_copy_launch(const struct vram_copy_batch *b, void *stream);

/* Starts the resident block serving ring (its device address) on stream,
 * which it occupies until n = 0 is posted.  Returns the launch's
 * cudaError_t. */
int vram_ring_start(struct vram_ring *ring_dev, void *stream);

/* Loads both kernels now: a kernel loaded lazily while a ring block runs
 * may wait for the device to go idle, which it never does. */
int vram_copy_preload(void);
#ifdef __cplusplus
}
#endif

#endif
