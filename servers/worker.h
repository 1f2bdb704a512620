/* vramd's I/O workers: one thread and one io_uring per worker, each serving
 * the connections handed to it after the handshake.  Connection buffers
 * come from a pool allocated at start-up, so serving requests allocates
 * nothing. */
#ifndef VRAMD_WORKER_H
#define VRAMD_WORKER_H

#include <stdbool.h>

#include "server.h"

/* Allocates the connection pool and starts n workers for ex, each polling
 * busy_poll_us for completions before it sleeps (0: never polls).
 * Returns 0, or -1 after logging (nothing left running). */
int workers_start(const struct export *ex, unsigned n, unsigned max_conns, unsigned busy_poll_us);

/* Hands a negotiated connection to the least busy worker; the worker owns
 * fd afterwards.  Returns -1 (fd closed) when the pool is exhausted. */
int workers_adopt(int fd, bool structured);

/* Wakes worker idx so that it runs a round (backend_config.wake). */
void workers_wake(unsigned idx);

/* Closes every connection and joins the workers. */
void workers_stop(void);

/* Per-worker statistics, for stats_json(). */
struct worker_stats *const *workers_stats(unsigned *n);

/* Connections accepted and not yet closed (in handshake or served). */
unsigned connections_open(void);
void connections_add(int delta);

#endif
