/* The NBD transmission phase of one connection, free of I/O: the worker
 * appends received bytes to rx, calls session_process(), and sends what it
 * appended to tx.  session_process() decodes every complete request in rx,
 * validates it, queues the backend operations of a whole batch, waits for
 * the batch once (backend sync), and writes the replies, in request order.
 * Large reads and writes stream through the buffers in segments, so
 * buffers much smaller than the 32 MiB maximum request are enough.
 *
 * The libFuzzer target (tests/fuzz/fuzz-session.c) drives this directly. */
#ifndef VRAMD_SESSION_H
#define VRAMD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd-proto.h"
#include "server.h"

/* Buffer sizes per connection (2 MiB buffers measured no faster on the
 * H100 host: 1 MiB sequential I/O fell from 14-16 to 11 GB/s on 4
 * connections).  A write payload up to SESSION_STREAM_MIN is gathered
 * whole in rx; larger ones stream. */
#define SESSION_RX_CAP      ((1u << 20) + (64u << 10))
#define SESSION_TX_CAP      ((1u << 20) + (64u << 10))
/* tx holds at most SESSION_TX_CAP unsent bytes.  Where the backend's
 * device writes read data into tx by DMA, large replies move on through a
 * larger region, SESSION_TX_SPACE, starting over at its beginning only
 * near its end, so the DMA lands in lines the worker's core has not
 * touched for megabytes: into lines that core has just sent from, it is
 * slow (1 MiB reads on 4 connections, H100 host: 12.7-14.2 GB/s in a
 * 1 MiB region, 17.2-18.0 in 4 MiB; docs/bench/history, run 13).  Small replies
 * are better off in lines still in the cache (4 KiB reads at QD32 fell
 * 7-9%, QD1 reads took 1.7 us longer, when they moved on too), so tx
 * also starts over whenever all is sent and the replies since its last
 * start fill less than SESSION_TX_SMALL.  A CPU copy (ram backend) is
 * faster into lines still in its cache: there tx is just SESSION_TX_CAP. */
#define SESSION_TX_SPACE    (4u << 20)
#define SESSION_TX_SMALL    (512u << 10)
#define SESSION_STREAM_MIN  (512u << 10)
#define SESSION_BATCH       512

enum session_state {
	SS_HEADER,        /* expecting a request header */
	SS_WRITE_STREAM,  /* consuming a large WRITE payload into the backend */
	SS_WRITE_SKIP,    /* consuming the payload of a rejected WRITE */
	SS_WRITE_REPLY,   /* payload consumed; the reply waits for tx space */
	SS_READ_STREAM,   /* sending a large READ in segments */
};

struct pending {
	uint32_t tx_pos;    /* where this reply starts in tx */
	uint32_t data_len;  /* READ data bytes following the reply header */
	int status;         /* set by the backend by sync() */
	uint8_t cmd;        /* STAT_* */
	uint8_t kind;       /* PK_* in session.c */
	uint64_t handle;
	uint64_t offset;    /* for ERROR_OFFSET chunks */
	uint64_t bytes;     /* counted in statistics */
};

struct session {
	const struct export *ex;
	void *bw;                    /* backend worker context */
	struct worker_stats *st;
	bool structured;

	uint8_t *rx;                 /* rx[rx_head, rx_tail) not yet consumed */
	uint32_t rx_head, rx_tail;
	uint8_t *tx;                 /* tx[tx_sent, tx_len) not yet sent */
	uint32_t tx_len, tx_sent;
	uint32_t tx_space;           /* session_tx_space() */

	enum session_state state;
	bool close;                  /* close once tx is sent (DISC, fatal error) */
	const char *close_why;       /* why, for the log; NULL for DISC */

	/* The request being streamed (SS_WRITE_*, SS_READ_STREAM). */
	uint64_t s_handle, s_off;
	uint32_t s_left, s_len;
	uint16_t s_flags;
	int s_error;                 /* positive errno for the final reply */
	int s_status;                /* backend status of the last segment */
	bool s_started;              /* READ stream: first segment sent */
	uint8_t *direct;             /* WRITE stream: receive the next
				      * direct_len payload bytes here, not
				      * into rx (ops->direct) */
	uint32_t direct_len;
	uint32_t direct_got;         /* bytes of the region already in */
	bool hdr_only;               /* after a direct write: receive just the
				      * next header, so a following large write's
				      * payload can land in place too */

	uint64_t t_batch;            /* CLOCK_MONOTONIC ns when rx data arrived */
	unsigned npending;
	struct pending pending[SESSION_BATCH];
};

/* The size of tx's region for export ex: SESSION_TX_SPACE or
 * SESSION_TX_CAP (see above). */
uint32_t session_tx_space(const struct export *ex);

/* Prepares s for a connection; rx and tx must hold SESSION_RX_CAP and
 * session_tx_space(ex) bytes and stay owned by the caller. */
void session_init(struct session *s, const struct export *ex, void *bw,
		  struct worker_stats *st, bool structured, uint8_t *rx, uint8_t *tx);

/* Consumes rx and appends replies to tx until it needs more input or more
 * tx space.  Returns 0, or -1 when the connection must be closed after the
 * bytes already in tx are sent (s->close_why says why). */
int session_process(struct session *s);

/* The worker received n (<= direct_len) payload bytes at s->direct; n = 0
 * when the receive failed.  The region goes back to the backend
 * (direct_done) once full, at the end of the payload, or on failure;
 * until then the next receive continues where this one ended. */
void session_direct_done(struct session *s, uint32_t n);

/* Moves unconsumed rx bytes to the front; call before receiving, never
 * while backend operations are queued (session_process never returns
 * with any queued). */
void session_compact_rx(struct session *s);
/* After a send: where tx starts over (above), moves what is left to send
 * to its beginning once that is small (a large tail stays until more of
 * it has left). */
void session_compact_tx(struct session *s);

/* Whether to receive more while processing what rx holds: only when that
 * processing will wait for the backend's device (reads, FUA writes,
 * zeroing, flushes; not plain writes, which a backend may finish after the
 * reply, nor a large WRITE whose payload it may take in place), and not
 * for a lone request (queue depth 1: nothing comes before its reply, and
 * the system call would only delay the device). */
bool session_receive_ahead(const struct session *s);

/* How much the next receive into rx should take. */
static inline uint32_t session_rx_room(const struct session *s)
{
	uint32_t have = s->rx_tail - s->rx_head;

	if (s->hdr_only && have < NBD_REQUEST_SIZE)
		return NBD_REQUEST_SIZE - have;
	return SESSION_RX_CAP - s->rx_tail;
}

#endif
