/* The null backend: reads return zeros, writes are dropped.  Together with
 * `nbdkit null` it measures what the NBD transport costs by itself.
 * Try: build/vramd --backend null --size 1G --socket /tmp/n.sock -f */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static int null_supported(char *why, size_t len)
{
	(void)why;
	(void)len;
	return 1;
}

static void *null_create(const struct backend_config *cfg)
{
	(void)cfg;
	return (void *)&backend_null; /* any non-NULL handle: no state */
}

static void null_free(void *b)
{
	(void)b;
}

static void *null_worker_open(void *b, unsigned idx)
{
	(void)idx;
	return b;
}

static void null_worker_close(void *w)
{
	(void)w;
}

static int null_pread(void *w, void *buf, uint32_t len, uint64_t off, int *status)
{
	(void)w;
	(void)off;
	memset(buf, 0, len);
	*status = 0;
	return 0;
}

static int null_pwrite(void *w, const void *buf, uint32_t len, uint64_t off, bool fua,
			 int *status)
{
	(void)w;
	(void)buf;
	(void)len;
	(void)off;
	(void)fua;
	*status = 0;
	return 0;
}

static int null_discard(void *w, uint32_t len, uint64_t off, int *status)
{
	(void)w;
	(void)len;
	(void)off;
	*status = 0;
	return 0;
}

static int null_sync(void *w)
{
	(void)w;
	return 0;
}

static void null_dump(FILE *f)
{
	fprintf(f, "storage=none\npersistent=no\n");
}

static void null_describe(void *b, json_t *obj)
{
	(void)b;
	json_object_set_new(obj, "storage", json_string("none"));
}

const struct backend_ops backend_null = {
	.name = "null",
	.summary = "reads return zeros, writes are dropped (transport ceiling)",
	.supported = null_supported,
	.create = null_create,
	.free = null_free,
	.worker_open = null_worker_open,
	.worker_close = null_worker_close,
	.pread = null_pread,
	.pwrite = null_pwrite,
	.zero = null_discard,
	.trim = null_discard,
	.sync = null_sync,
	.flush = null_sync,
	.dump = null_dump,
	.describe = null_describe,
};
