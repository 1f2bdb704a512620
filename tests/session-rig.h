/* A ram export with one worker context and a connection's buffers, sized
 * for either tx region: the rig of the session's unit test and fuzz
 * target, which drive servers/session.c without a worker or a socket. */
#ifndef SWAPBENCH_SESSION_RIG_H
#define SWAPBENCH_SESSION_RIG_H

#include <stdlib.h>

#include "session.h"

/* Returns 0, or -1 when something could not be allocated. */
static inline int session_rig_open(struct export *ex, uint64_t size, void **bw, uint8_t **rx,
				   uint8_t **tx)
{
	struct backend_config cfg = { .size = size, .workers = 1 };

	ex->name = "vramd";
	ex->size = size;
	ex->ops = &backend_ram;
	export_init_flags(ex);
	ex->backend = ex->ops->create(&cfg);
	*bw = ex->backend ? ex->ops->worker_open(ex->backend, 0) : NULL;
	*rx = malloc(SESSION_RX_CAP);
	*tx = malloc(SESSION_TX_SPACE);
	return ex->backend && *bw && *rx && *tx ? 0 : -1;
}

#endif
