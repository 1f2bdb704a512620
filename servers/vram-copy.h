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

/* The resident read kernel: one block per worker, launched once, polls
 * that worker's mailbox in mapped pinned memory and copies what it names,
 * so a lone small read costs no driver call (4.7 us against 6.9 for
 * cudaMemcpyAsync and a completion flag on the H100 host: cuda-floor).
 * The host fills src, dst and len, then stores the same new seq in
 * seq_a and seq_b; each 16-byte half is read in one load, so a half read
 * while the host was still writing has a stale seq and is read again.
 * (This rests on one aligned 16-byte read across PCIe seeing host memory
 * at one instant, as a device's read of part of a cache line does on x86
 * hosts; PTX does not promise it for a vector load.)
 * The block copies, then stores seq in done with system-scope release
 * (the bytes are visible before done is).  A non-zero quit stops the
 * block (a word of its own box: one quit word polled by every block
 * slowed each poll, and a lone read with it, from 26 to 84 us). */
struct vram_mbox {
	uint32_t seq_a, len;
	uint64_t src;
	uint32_t seq_b, quit;
	uint64_t dst;
	uint32_t pad[8];
	uint32_t done;        /* in its own 64 bytes: written by the GPU */
	uint32_t pad2[15];
};

/* What the resident kernel's blocks share, in device memory: when one
 * last served a request, and the launch told to end.  The blocks end
 * together, once none has served one for idle_ns: a block that ended
 * alone would leave its worker's requests unanswered while the kernel,
 * held up by the others, still counts as running. */
struct vram_serve_ctl {
	uint64_t last_ns;  /* %globaltimer */
	uint32_t end_gen;  /* the launch (gen) whose blocks must end */
	uint32_t pad;
};

/* One launch of the resident kernel.  A block starts from the seq its
 * box's done holds (the request answered last), so a launch after one
 * that ended answers what was posted meanwhile, and nothing twice. */
struct vram_serve_args {
	struct vram_mbox *boxes;     /* GPU addresses of mapped pinned memory */
	struct vram_serve_ctl *ctl;  /* device memory, zeroed once */
	uint32_t *gone;              /* mapped pinned (GPU address): set to gen
				      * when the launch ends on idle */
	uint32_t gen;                /* 1, 2, ...: this launch */
	uint32_t pad;
	uint64_t idle_ns;            /* 0: runs until told to quit */
};

/* Posts a request in m (the host side of the protocol above); returns
 * the seq whose appearance in done answers it. */
static inline uint32_t vram_mbox_post(struct vram_mbox *m, uint64_t src, uint64_t dst,
				      uint32_t len)
{
	uint32_t want = m->seq_a + 1;

	m->src = src;
	m->dst = dst;
	m->len = len;
	__atomic_store_n(&m->seq_a, want, __ATOMIC_RELEASE);
	__atomic_store_n(&m->seq_b, want, __ATOMIC_RELEASE);
	return want;
}

#ifdef __cplusplus
extern "C" {
#endif
/* Queues the copies of b on stream (a cudaStream_t); returns the
 * cudaError_t of the launch (0 on success). */
int vram_copy_launch(const struct vram_copy_batch *b, void *stream);
/* Loads both kernels now (a kernel loaded lazily at its first launch
 * would wait for the resident kernel, which never ends); returns the
 * cudaError_t, e.g. when this GPU has no image for them. */
int vram_kernels_load(void);
/* Launches the resident kernel on stream, block i serving a->boxes[i]
 * until its quit is set, or until no block has served a request for
 * a->idle_ns; returns the cudaError_t of the launch. */
int vram_serve_launch(const struct vram_serve_args *a, unsigned n, void *stream);
#ifdef __cplusplus
}
#endif

#endif
