/* The fixed-newstyle NBD handshake, over an abstract byte stream so that the
 * libFuzzer target can drive it from memory.  Runs in a short-lived thread
 * per connection with a receive timeout on the socket; it never reads an
 * option payload larger than VRAMD_MAX_OPTION. */
#ifndef VRAMD_HANDSHAKE_H
#define VRAMD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct hs_io {
	/* Read or write exactly n bytes; 0 on success, -1 on EOF or error. */
	int (*read)(void *ctx, void *buf, size_t n);
	int (*write)(void *ctx, const void *buf, size_t n);
	void *ctx;
	/* Optional: asked before GO or EXPORT_NAME starts transmission; 0 to
	 * go on, -1 when the client cannot be served now (GO then gets
	 * NBD_REP_ERR_POLICY and negotiation goes on; EXPORT_NAME, which has
	 * no error reply, ends it: HS_ERROR). */
	int (*admit)(void *ctx);
};

enum hs_result {
	HS_TRANSMIT = 1,  /* enter transmission; *structured says the reply mode */
	HS_DONE = 0,      /* client ended negotiation (ABORT, LIST only, EOF) */
	HS_ERROR = -1,    /* protocol error or I/O failure: close the socket */
};

/* Negotiates the export ex with a client.  why gets a short description
 * of the failure for HS_ERROR (for the log). */
enum hs_result handshake(const struct hs_io *io, const struct export *ex,
			 bool *structured, char *why, size_t whylen);

/* Helpers for file descriptors: read/write the whole buffer, retrying on
 * EINTR; ctx points to a struct hs_fd.  A read fails once the deadline
 * (CLOCK_MONOTONIC, now_ns; 0: none) has passed, so that a client sending
 * a byte now and then cannot hold a handshake for ever; writes rely on
 * the socket's send timeout. */
struct hs_fd {
	int fd;
	uint64_t deadline_ns;
};
int hs_fd_read(void *ctx, void *buf, size_t n);
int hs_fd_write(void *ctx, const void *buf, size_t n);

#endif
