/* vramd's I/O workers: one thread and one io_uring per worker, each serving
 * the connections handed to it after the handshake.  Connection buffers
 * come from a pool allocated at start-up, so serving requests allocates
 * nothing. */
#ifndef VRAMD_WORKER_H
#define VRAMD_WORKER_H

#include <stdbool.h>

#include "server.h"

struct conn;

/* Allocates the connection pool and starts n workers for ex, each polling
 * busy_poll_us for completions before it sleeps (0: never polls).
 * Returns 0, or -1 after logging (nothing left running). */
int workers_start(const struct export *ex, unsigned n, unsigned max_conns, unsigned busy_poll_us);

/* A connection slot (buffers from the pool) for a client about to start
 * transmission, or NULL when all --max-connections are taken; given back
 * with workers_unreserve unless adopted.  workers_slot_free says whether
 * one is free now (a hint: another thread may take it first). */
struct conn *workers_reserve(void);
void workers_unreserve(struct conn *c);
bool workers_slot_free(void);

/* Hands a negotiated connection and its reserved slot to the least busy
 * worker, which owns both afterwards. */
void workers_adopt(int fd, bool structured, struct conn *c);

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
