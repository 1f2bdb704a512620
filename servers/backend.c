/* The backend registry, generated from BACKENDS() in backend.h.  When the
 * build has no CUDA, the vram entry exists but reports why it cannot run. */
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

const struct backend_ops *backend_find(const char *name)
{
	const struct backend_ops *const *b;

	for (b = backend_list; *b; b++)
		if (!strcmp((*b)->name, name))
			return *b;
	return NULL;
}
