/* The ram backend: the export lives in anonymous host memory (transparent
 * huge pages where the kernel allows).  It is the control for the vram
 * backend: same server, same NBD path, host memory instead of VRAM.
 * In swap mode mlockall() makes the whole export resident at start-up.
 * Try: build/vramd --backend ram --size 1G --socket /tmp/r.sock -f */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "parse.h"

struct ram {
	uint8_t *base;
	uint64_t size;
};

static int ram_supported(char *why, size_t len)
{
	(void)why;
	(void)len;
	return 1;
}

static void *ram_create(const struct backend_config *cfg)
{
	struct ram *r = calloc(1, sizeof *r);
	char buf[32];

	if (!r) {
		error("ram backend: out of memory");
		return NULL;
	}
	r->size = cfg->size;
	/* Anonymous memory reads as zeros, as a fresh export must. */
	r->base = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED) {
		error("ram backend: cannot map %s: %m", format_size(cfg->size, buf, sizeof buf));
		free(r);
		return NULL;
	}
	madvise(r->base, cfg->size, MADV_HUGEPAGE); /* best effort */
	return r;
}

static void ram_free(void *b)
{
	struct ram *r = b;

	munmap(r->base, r->size);
	free(r);
}

static void *ram_worker_open(void *b, unsigned idx)
{
	(void)idx;
	return b;
}

static void ram_worker_close(void *w)
{
	(void)w;
}

static int ram_pread(void *w, void *buf, uint32_t len, uint64_t off, int *status)
{
	struct ram *r = w;

	memcpy(buf, r->base + off, len);
	*status = 0;
	return 0;
}

static int ram_pwrite(void *w, const void *buf, uint32_t len, uint64_t off, bool fua,
			 int *status)
{
	struct ram *r = w;

	(void)fua; /* host memory: complete on return */
	memcpy(r->base + off, buf, len);
	*status = 0;
	return 0;
}

/* Trim and zeroing give whole pages back to the kernel (they read as zeros
 * again, and a sparse export stays sparse: zeroing 256 MiB of a fresh
 * export made it resident); the partial pages at the edges are zeroed.
 * Memory locked for swap (mlockall) cannot be given back without unlocking
 * it, which would let it be swapped onto itself: there madvise() refuses
 * (EINVAL) and the range is zeroed in place. */
static int ram_zero(void *w, uint32_t len, uint64_t off, int *status)
{
	struct ram *r = w;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = r->base + off, *end = p + len;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + page - 1) & ~(page - 1));
	uint8_t *b = (uint8_t *)((uintptr_t)end & ~(page - 1));

	if (a < b && madvise(a, (size_t)(b - a), MADV_DONTNEED) == 0) {
		memset(p, 0, (size_t)(a - p));
		memset(b, 0, (size_t)(end - b));
	} else {
		memset(p, 0, len);
	}
	*status = 0;
	return 0;
}

static void *ram_direct(void *w, uint64_t off, uint32_t *len)
{
	struct ram *r = w;

	(void)len;
	return r->base + off;
}

static int ram_sync(void *w)
{
	(void)w;
	return 0;
}

static void ram_dump(FILE *f)
{
	fprintf(f, "storage=host-memory\npersistent=no\n");
}

static void ram_describe(void *b, json_t *obj)
{
	struct ram *r = b;

	json_object_set_new(obj, "storage", json_string("host-memory"));
	json_object_set_new(obj, "storage_bytes", json_integer((json_int_t)r->size));
}

const struct backend_ops backend_ram = {
	.name = "ram",
	.summary = "export in host memory (the control for vram)",
	.supported = ram_supported,
	.create = ram_create,
	.free = ram_free,
	.worker_open = ram_worker_open,
	.worker_close = ram_worker_close,
	.pread = ram_pread,
	.pwrite = ram_pwrite,
	.zero = ram_zero,
	.trim = ram_zero,
	.direct = ram_direct,
	.sync = ram_sync,
	.flush = ram_sync,
	.dump = ram_dump,
	.describe = ram_describe,
};
