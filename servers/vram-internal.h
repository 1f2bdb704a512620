/* What the files of the vram backend share: the backend (struct vram),
 * a worker's context (struct vram_worker), their constants, and the
 * functions one file calls in another.  The backend is split by job:
 * backend-vram.c (the device, the workers, copy batching and the data
 * operations: the ops table), vram-writeback.c (the staging ring, its
 * fences, ordering between workers), vram-resident.c (the resident
 * kernel's launches and states) and vram-nvml.c (GPU telemetry).  Only
 * these files include it: CUDA types stay out of backend.h. */
#ifndef VRAMD_VRAM_INTERNAL_H
#define VRAMD_VRAM_INTERNAL_H

#include <cuda_runtime.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "backend.h"
#include "vram-copy.h"

#define VRAM_QUEUE 1024 /* operations queued per worker between syncs */
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
	enum vram_cuda_sync sync_mode;
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

struct vram_worker {
	struct vram *v;
	unsigned idx;
	cudaStream_t stream;
	/* Write-back state (see the top of vram-writeback.c). */
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

/* Loads and stores of the counters workers publish for each other. */
static inline uint64_t load_acq(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(uint64_t *p, uint64_t x)
{
	__atomic_store_n(p, x, __ATOMIC_RELEASE);
}

/* --- backend-vram.c ----------------------------------------------------- */

/* Marks the device lost after error e (logged once): later requests fail with EIO. */
void mark_lost(struct vram *v, cudaError_t e);
/* Starts w's delayed write-backs, then its batch; -EIO if the GPU refused the batch. */
int launch(struct vram_worker *w);

/* --- vram-writeback.c --------------------------------------------------- */

/* Frees w's staging regions whose write-backs, up to number done, are complete. */
void reclaim(struct vram_worker *w, uint64_t done);
/* Waits for event ev, or with ev NULL for stream s; returns the CUDA result. */
cudaError_t host_wait(struct vram *v, cudaStream_t s, cudaEvent_t ev);
/* Records and publishes that all of w's stream has finished (after a sync). */
void all_done(struct vram_worker *w);
/* Puts every write-back of w on its stream behind a fence the others can wait on. */
void cover(struct vram_worker *w);
/* Orders w's stream after worker i's first t write-backs, unless done already. */
void order_upto(struct vram_worker *w, unsigned i, uint64_t t);
/* Orders w's stream after the others' announced write-backs into [off, off+len). */
void order_range(struct vram_worker *w, uint64_t off, uint32_t len);
/* Records w's write-back number seq over [off, off+len) for the other workers. */
void note_write(struct vram_worker *w, uint64_t off, uint32_t len, uint64_t seq);
/* A staging region for write-back seq (or SEQ_HELD), waiting if full; NULL: none. */
uint8_t *ring_alloc(struct vram_worker *w, uint32_t len, uint64_t seq);

/* --- vram-resident.c ---------------------------------------------------- */

/* Whether the resident kernel serves lone reads now; (re)launches it if due. */
bool serve_ready(struct vram *v);
/* w's lone read via its mailbox: 0 done, -EIO failed, 1 kernel gone (use the stream). */
int serve_read(struct vram_worker *w);
/* Tells the resident kernel to quit and waits up to 2 s for it (at exit). */
void serve_stop(struct vram *v);
/* Called now and then in a wait for the GPU (*t0: 0 at first); a long one quits the kernel. */
void serve_watch(struct vram *v, uint64_t *t0);
/* The resident kernel's state as stats name it ("running", "parked", ...). */
const char *serve_state_name(struct vram *v);

/* --- vram-nvml.c -------------------------------------------------------- */

/* The NVML handle of CUDA device gpu, or NULL (loads NVML at the first call). */
void *nvml_device(int gpu);
/* Adds v's GPU telemetry to o, or why there is none ("nvml"). */
void nvml_describe(const struct vram *v, json_t *o);
/* The --dump-backend line "nvml=": yes, or why NVML did not load. */
void nvml_dump_status(FILE *f);
/* The --dump-backend lines naming each GPU by CUDA index (gpu_count, gpuN_...). */
void dump_gpus(FILE *f);

#endif
