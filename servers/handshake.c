/* Fixed-newstyle NBD negotiation: see handshake.h.  Follows the option
 * haggling part of the NBD protocol specification: every option gets a
 * reply (errors for what we do not support), lengths are checked exactly,
 * and a payload larger than VRAMD_MAX_OPTION is refused unread. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handshake.h"
#include "nbd-proto.h"

struct hs {
	const struct hs_io *io;
	const struct export *ex;
	bool no_zeroes;
	bool structured;
	char *why;
	size_t whylen;
	uint8_t buf[VRAMD_MAX_OPTION];
};

int hs_fd_read(void *ctx, void *buf, size_t n)
{
	const struct hs_fd *f = ctx;
	uint8_t *p = buf;

	while (n) {
		ssize_t r;

		if (f->deadline_ns) {
			uint64_t now = now_ns();
			struct pollfd pf = { .fd = f->fd, .events = POLLIN };
			int ms = now >= f->deadline_ns ? 0 : (int)((f->deadline_ns - now + 999999) / 1000000);

			if (ms == 0)
				return -1;
			r = poll(&pf, 1, ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
		}
		r = read(f->fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int hs_fd_write(void *ctx, const void *buf, size_t n)
{
	int fd = ((const struct hs_fd *)ctx)->fd;
	const uint8_t *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int fail(struct hs *h, const char *what)
{
	snprintf(h->why, h->whylen, "%s", what);
	return -1;
}

static int reply(struct hs *h, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	uint8_t hdr[NBD_REP_HDR_SIZE];

	nbd_put64(hdr, NBD_REP_MAGIC);
	nbd_put32(hdr + 8, opt);
	nbd_put32(hdr + 12, type);
	nbd_put32(hdr + 16, len);
	if (h->io->write(h->io->ctx, hdr, sizeof hdr) < 0 ||
	    (len && h->io->write(h->io->ctx, data, len) < 0))
		return fail(h, "client went away while replying");
	return 0;
}

/* An error reply carries a human-readable message, as the spec allows. */
static int reply_err(struct hs *h, uint32_t opt, uint32_t type, const char *msg)
{
	return reply(h, opt, type, msg, (uint32_t)strlen(msg));
}

static bool name_matches(const struct export *ex, const uint8_t *name, uint32_t len)
{
	return len == 0 || (strlen(ex->name) == len && !memcmp(ex->name, name, len));
}

static int reply_info(struct hs *h, uint32_t opt, uint16_t type)
{
	const struct export *ex = h->ex;
	uint8_t b[2 + 4096];
	size_t n = 2, l;

	nbd_put16(b, type);
	switch (type) {
	case NBD_INFO_EXPORT:
		nbd_put64(b + 2, ex->size);
		nbd_put16(b + 10, ex->tflags);
		n = 12;
		break;
	case NBD_INFO_BLOCK_SIZE:
		nbd_put32(b + 2, VRAMD_MIN_BLOCK);
		nbd_put32(b + 6, VRAMD_PREF_BLOCK);
		nbd_put32(b + 10, VRAMD_MAX_BLOCK);
		n = 14;
		break;
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION: {
		const char *s = type == NBD_INFO_NAME ? ex->name : ex->description;

		if (!s)
			return 0;
		l = strnlen(s, 4096);
		memcpy(b + 2, s, l);
		n = 2 + l;
		break;
	}
	default:
		return 0; /* unknown requests are ignored, per the spec */
	}
	return reply(h, opt, NBD_REP_INFO, b, (uint32_t)n);
}

/* NBD_OPT_INFO and NBD_OPT_GO: 1 to start transmission (GO), 0 to go on. */
static int opt_info(struct hs *h, uint32_t opt, uint32_t len)
{
	const uint8_t *p = h->buf;
	uint32_t nlen;
	uint16_t nreq, i;
	bool sent[4] = { false };

	if (len < 6)
		return reply_err(h, opt, NBD_REP_ERR_INVALID, "option too short");
	nlen = nbd_get32(p);
	if (nlen > len - 6)
		return reply_err(h, opt, NBD_REP_ERR_INVALID, "export name length exceeds option");
	nreq = nbd_get16(p + 4 + nlen);
	if ((uint64_t)6 + nlen + 2ULL * nreq != len)
		return reply_err(h, opt, NBD_REP_ERR_INVALID, "information request count does not match length");
	if (!name_matches(h->ex, p + 4, nlen))
		return reply_err(h, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	if (opt == NBD_OPT_GO && h->io->admit && h->io->admit(h->io->ctx) < 0)
		return reply_err(h, opt, NBD_REP_ERR_POLICY,
				 "all connections in use (--max-connections): try again later");
	for (i = 0; i < nreq; i++) {
		uint16_t t = nbd_get16(p + 6 + nlen + 2 * i);

		if (t < 4 && !sent[t]) {
			sent[t] = true;
			if (reply_info(h, opt, t) < 0)
				return -1;
		}
	}
	/* Always tell the export and our block sizes, even unasked. */
	if ((!sent[NBD_INFO_EXPORT] && reply_info(h, opt, NBD_INFO_EXPORT) < 0) ||
	    (!sent[NBD_INFO_BLOCK_SIZE] && reply_info(h, opt, NBD_INFO_BLOCK_SIZE) < 0) ||
	    reply(h, opt, NBD_REP_ACK, NULL, 0) < 0)
		return -1;
	return opt == NBD_OPT_GO;
}

static int opt_list(struct hs *h, uint32_t len)
{
	const struct export *ex = h->ex;
	uint8_t b[4 + 4096 + 4096];
	size_t nl = strnlen(ex->name, 4096), dl = ex->description ? strnlen(ex->description, 4096) : 0;

	if (len)
		return reply_err(h, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
	nbd_put32(b, (uint32_t)nl);
	memcpy(b + 4, ex->name, nl);
	if (dl)
		memcpy(b + 4 + nl, ex->description, dl);
	if (reply(h, NBD_OPT_LIST, NBD_REP_SERVER, b, (uint32_t)(4 + nl + dl)) < 0)
		return -1;
	return reply(h, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME has no error reply: a wrong name closes. */
static int opt_export_name(struct hs *h, uint32_t len)
{
	uint8_t b[8 + 2 + 124] = { 0 };

	if (!name_matches(h->ex, h->buf, len))
		return fail(h, "EXPORT_NAME for an unknown export");
	if (h->io->admit && h->io->admit(h->io->ctx) < 0)
		return fail(h, "EXPORT_NAME with all connections in use (--max-connections)");
	nbd_put64(b, h->ex->size);
	nbd_put16(b + 8, h->ex->tflags);
	if (h->io->write(h->io->ctx, b, h->no_zeroes ? 10 : sizeof b) < 0)
		return fail(h, "client went away");
	return 1;
}

enum hs_result handshake(const struct hs_io *io, const struct export *ex,
			 bool *structured, char *why, size_t whylen)
{
	static __thread struct hs hs; /* 64 KiB option buffer: not on the stack */
	struct hs *h = &hs;
	uint8_t b[NBD_OPT_HDR_SIZE];
	uint32_t cflags, opt, len;
	int r;

	h->io = io;
	h->ex = ex;
	h->why = why;
	h->whylen = whylen;
	h->structured = false;
	why[0] = 0;

	nbd_put64(b, NBD_MAGIC);
	nbd_put64(b + 8, NBD_IHAVEOPT);
	if (io->write(io->ctx, b, 16) < 0)
		return fail(h, "client went away before the greeting");
	nbd_put16(b, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	if (io->write(io->ctx, b, 2) < 0)
		return fail(h, "client went away before the greeting");
	if (io->read(io->ctx, b, 4) < 0)
		return fail(h, "no client flags");
	cflags = nbd_get32(b);
	if (cflags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return fail(h, "unknown client flags");
	h->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

	for (;;) {
		if (io->read(io->ctx, b, NBD_OPT_HDR_SIZE) < 0)
			return HS_DONE; /* clients may just hang up, e.g. after LIST */
		if (nbd_get64(b) != NBD_IHAVEOPT)
			return fail(h, "bad option magic");
		opt = nbd_get32(b + 8);
		len = nbd_get32(b + 12);
		if (len > VRAMD_MAX_OPTION) {
			/* Reading 4 GiB to skip it would let a client pin us. */
			if (opt != NBD_OPT_EXPORT_NAME)
				reply_err(h, opt, NBD_REP_ERR_TOO_BIG, "option data too large");
			return fail(h, "option data too large");
		}
		if (len && io->read(io->ctx, h->buf, len) < 0)
			return fail(h, "truncated option");

		switch (opt) {
		case NBD_OPT_EXPORT_NAME:
			r = opt_export_name(h, len);
			break;
		case NBD_OPT_ABORT:
			reply(h, opt, NBD_REP_ACK, NULL, 0); /* client may have gone */
			return HS_DONE;
		case NBD_OPT_LIST:
			r = opt_list(h, len);
			break;
		case NBD_OPT_STRUCTURED_REPLY:
			if (len) {
				r = reply_err(h, opt, NBD_REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
			} else if (h->structured) {
				r = reply_err(h, opt, NBD_REP_ERR_INVALID, "structured replies already on");
			} else {
				h->structured = true;
				r = reply(h, opt, NBD_REP_ACK, NULL, 0);
			}
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			r = opt_info(h, opt, len);
			break;
		default:
			r = reply_err(h, opt, NBD_REP_ERR_UNSUP, "option not supported");
			break;
		}
		if (r < 0)
			return HS_ERROR;
		if (r > 0) {
			*structured = h->structured;
			return HS_TRANSMIT;
		}
	}
}
