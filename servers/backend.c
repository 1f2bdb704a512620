/* The backend registry, generated from BACKENDS() in backend.h.  When the
 * build has no CUDA, the vram entry exists but reports why it cannot run.
 * Also the names of --cuda-sync, which vramd.c parses and the vram backend
 * reports, built or not. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

#if !HAVE_CUDA
static int vram_unsupported(char *why, size_t len)
{
	snprintf(why, len, "vram backend not built: %s (rebuild with CUDA=1 and the CUDA toolkit)",
		 CUDA_WHY);
	return 0;
}

static void vram_dump(FILE *f)
{
	fprintf(f, "cuda=no\ncuda_reason=%s\n", CUDA_WHY);
}

const struct backend_ops backend_vram = {
	.name = "vram",
	.summary = "export stored in GPU memory (CUDA)",
	.supported = vram_unsupported,
	.dump = vram_dump,
};
#endif

const struct backend_ops *const backend_list[] = {
#define X(n) &backend_##n,
	BACKENDS(X)
#undef X
	NULL
};

const char *const vram_cuda_sync_names[] = {
	[VRAM_SYNC_AUTO] = "auto",
	[VRAM_SYNC_SPIN] = "spin",
	[VRAM_SYNC_YIELD] = "yield",
	[VRAM_SYNC_BLOCKING] = "blocking",
	NULL,
};

int vram_cuda_sync_parse(const char *name, enum vram_cuda_sync *mode)
{
	unsigned i;

	for (i = 0; vram_cuda_sync_names[i]; i++)
		if (!strcmp(vram_cuda_sync_names[i], name)) {
			*mode = (enum vram_cuda_sync)i;
			return 0;
		}
	return -1;
}

const struct backend_ops *backend_find(const char *name)
{
	const struct backend_ops *const *b;

	for (b = backend_list; *b; b++)
		if (!strcmp((*b)->name, name))
			return *b;
	return NULL;
}
