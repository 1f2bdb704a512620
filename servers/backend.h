/* vramd storage backends: an allocator table in the manner of nbdkit's
 * memory plugin allocators.  One backend per file (backend-<name>.c), one
 * line in BACKENDS() below.  CUDA types stay out of this header.
 *
 * Threading: create/free run once in the main thread.  Each worker thread
 * gets its own context from worker_open() (staging buffers, streams) and
 * calls the data operations only with that context.  Storage is shared by
 * all workers and connections (multi-conn), so a write completed by one
 * worker is visible to every later read by any worker. */
#ifndef VRAMD_BACKEND_H
#define VRAMD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* --cuda-sync (vram backend): how a host thread waits for the GPU. */
enum vram_cuda_sync { VRAM_SYNC_AUTO, VRAM_SYNC_SPIN, VRAM_SYNC_YIELD, VRAM_SYNC_BLOCKING };

/* The option's names ("auto", ...), indexed by enum vram_cuda_sync;
 * NULL-terminated. */
extern const char *const vram_cuda_sync_names[];

/* Sets *mode from its name; 0, or -1 if the name is unknown. */
int vram_cuda_sync_parse(const char *name, enum vram_cuda_sync *mode);

struct backend_config {
	uint64_t size;      /* export size in bytes, > 0 */
	int gpu;            /* GPU index (vram backend) */
	unsigned workers;   /* number of worker contexts that will be opened */
	uint32_t max_request; /* largest single pread/pwrite length */
	enum vram_cuda_sync cuda_sync; /* vram: --cuda-sync */
	uint32_t staging;   /* vram: write-back staging bytes per worker, 0: none */
	bool resident;      /* vram: a resident kernel answers lone small reads */
	uint32_t resident_idle_ms; /* vram: ... and ends after this long
				    * without one (0: runs until exit) */
	/* Asks worker thread `worker` to call deferred() soon; callable from
	 * any thread (another worker waiting for held-back work). */
	void (*wake)(unsigned worker);
};

struct backend_ops {
	const char *name;
	const char *summary;
	/* Reads complete in sync() after a device wait (not in the call
	 * itself): the worker then overlaps receiving with it. */
	bool waits;

	/* 1 when the backend can run in this build and on this host; else 0
	 * with a one-line reason in why (e.g. "built without CUDA"). */
	int (*supported)(char *why, size_t len);

	/* Allocates the export's storage, zero-filled.  Returns the backend
	 * handle, or NULL after logging the reason (size above what is free,
	 * no device, ...). */
	void *(*create)(const struct backend_config *cfg);
	void (*free)(void *b);

	/* Per-worker context; NULL after logging on failure.  All memory the
	 * I/O path needs is allocated here, never in the data operations. */
	void *(*worker_open)(void *b, unsigned idx);

	/* Optional.  Announces the host memory that will hold every buffer
	 * passed to pread/pwrite (the connection pool, allocated at
	 * start-up), so that the backend can pin it for DMA.  Returns 0, or
	 * -1 after logging.  A backend that has it gets the larger send
	 * region per connection (SESSION_TX_SPACE, session.h). */
	int (*register_buffers)(void *b, void *base, size_t len);
	void (*worker_close)(void *w);

	/* Data operations.  They may complete asynchronously: the buffer must
	 * stay valid and untouched, and *status (0 or a positive errno) is
	 * final, only once sync() has returned.  Bounds are checked by the
	 * caller.  Return 0 when queued or done, or -errno when the operation
	 * could not even be started (then *status is not touched). */
	int (*pread)(void *w, void *buf, uint32_t len, uint64_t off, int *status);
	/* fua: the write must be complete in the storage when sync()
	 * returns.  Without it a backend may finish the write after sync()
	 * (write-back) once it holds its own copy of buf: the buffer is
	 * free again, every later operation by any worker sees the data,
	 * and flush() waits for it. */
	int (*pwrite)(void *w, const void *buf, uint32_t len, uint64_t off, bool fua, int *status);
	int (*zero)(void *w, uint32_t len, uint64_t off, int *status);
	int (*trim)(void *w, uint32_t len, uint64_t off, int *status);

	/* Optional.  Where the next *len payload bytes of a large WRITE at
	 * off can be received with no copy through rx: the export itself
	 * (host storage) or a staging buffer the backend owns.  The backend
	 * may lower *len.  NULL when not now (then the payload goes through
	 * rx).  Every region handed out is returned by direct_done. */
	void *(*direct)(void *w, uint64_t off, uint32_t *len);
	/* Optional.  n bytes (0: the receive failed) landed at buf, a region
	 * from direct() for offset off.  Returns 0, or -errno for the
	 * write's reply. */
	int (*direct_done)(void *w, void *buf, uint32_t n, uint64_t off);

	/* Waits for every operation this worker queued; afterwards all their
	 * statuses are final.  Returns 0, or -errno when the device is lost
	 * (statuses then say which operations failed). */
	int (*sync)(void *w);
	/* Makes every write completed so far, by any worker, durable. */
	int (*flush)(void *w);
	/* Optional.  Device work held back to be started in bulk: the worker
	 * calls deferred() before it submits each round's replies; it returns
	 * 0 when nothing is held, BACKEND_KICK_NOW to have kick() called
	 * right after the replies are submitted, else the microseconds the
	 * worker may stay idle before it must call kick() (or sooner, when
	 * woken through backend_config.wake). */
	unsigned (*deferred)(void *w);
	void (*kick)(void *w);

	/* Capability lines for --dump-backend ("key=value\n"). */
	void (*dump)(FILE *f);
	/* Adds the backend's live state (e.g. GPU telemetry) to stats JSON. */
	void (*describe)(void *b, json_t *obj);
};

#define BACKEND_KICK_NOW UINT32_MAX

#define BACKENDS(X) X(null) X(ram) X(vram)

#define X(n) extern const struct backend_ops backend_##n;
BACKENDS(X)
#undef X

/* NULL-terminated list in BACKENDS() order. */
extern const struct backend_ops *const backend_list[];

/* Looks a backend up by exact name; NULL if unknown. */
const struct backend_ops *backend_find(const char *name);

#endif
