/*
 * nbd-hostile: a table-driven hostile NBD client over a Unix socket.
 * Each case sends what a well-behaved client never would (bad magic,
 * lying lengths, unknown commands and flags, requests past the end,
 * truncated frames, replies left unread) and checks the server's answer
 * against the NBD protocol: a given error in the reply that carries the
 * request's handle, a given option reply, or the connection closed within
 * a deadline.  Every socket operation is bounded by poll(), so a server
 * that misbehaves fails a case instead of hanging it.  After each case a
 * fresh connection proves the server is still alive.  Try it with:
 *
 *   nbdkit -U /tmp/m.sock memory 64M
 *   build/tests/nbd-hostile --list
 *   build/tests/nbd-hostile /tmp/m.sock 'read-*' handshake/abort
 *   build/tests/nbd-hostile --good-client 10 /tmp/m.sock
 *
 * Data checks: cases write a known pattern over the last quarter of the
 * export first and verify what they read there; --good-client writes and
 * verifies its own patterns in the first half, so both can run at once.
 * --no-data turns content checks off (for the null backend).
 */

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* --- NBD protocol constants: common/nbd-proto.h, plus what only a client needs --- */

#include "nbd-proto.h"

#define KIB		1024U
#define MIB		(1024U * 1024U)
#define HOSTILE_SEED	0x686f7374696c6521ULL	/* "hostile!" */

/* --- settings ----------------------------------------------------------- */

static int opt_timeout_ms = 5000;
static const char *opt_socket;
static const char *opt_ro_socket;
static const char *opt_export = "vramd";
static bool opt_verify = true;
static bool opt_verbose;

static volatile sig_atomic_t stop_flag;

/* --- small helpers ------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t deadline_after(int ms)
{
	return now_ns() + (int64_t)ms * 1000000;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "nbd-hostile: out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

/*
 * The data pattern: a byte per offset, a function of the offset and a
 * seed, so a read can be checked without remembering what was written.
 */
static uint8_t pat_byte(uint64_t off, uint64_t seed)
{
	uint64_t x = (off >> 3) ^ seed;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint8_t)(x >> ((off & 7) * 8));
}

static void pat_fill(uint8_t *buf, uint64_t off, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat_byte(off + i, seed);
}

/* Index of the first byte that differs from the pattern, or len. */
static size_t pat_check(const uint8_t *buf, uint64_t off, size_t len,
			uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pat_byte(off + i, seed))
			break;
	return i;
}

static const char *errname(uint32_t e)
{
	switch (e) {
	case 0:			return "success";
	case NBD_EPERM:		return "EPERM";
	case NBD_EIO:		return "EIO";
	case NBD_ENOMEM:	return "ENOMEM";
	case NBD_EINVAL:	return "EINVAL";
	case NBD_ENOSPC:	return "ENOSPC";
	case NBD_EOVERFLOW:	return "EOVERFLOW";
	case NBD_ENOTSUP:	return "ENOTSUP";
	case NBD_ESHUTDOWN:	return "ESHUTDOWN";
	}
	return NULL;
}

static const char *repname(uint32_t t)
{
	switch (t) {
	case NBD_REP_ACK:			return "NBD_REP_ACK";
	case NBD_REP_SERVER:			return "NBD_REP_SERVER";
	case NBD_REP_INFO:			return "NBD_REP_INFO";
	case NBD_REP_ERR_UNSUP:			return "NBD_REP_ERR_UNSUP";
	case NBD_REP_ERR_POLICY:		return "NBD_REP_ERR_POLICY";
	case NBD_REP_ERR_INVALID:		return "NBD_REP_ERR_INVALID";
	case NBD_REP_ERR_PLATFORM:		return "NBD_REP_ERR_PLATFORM";
	case NBD_REP_ERR_TLS_REQD:		return "NBD_REP_ERR_TLS_REQD";
	case NBD_REP_ERR_UNKNOWN:		return "NBD_REP_ERR_UNKNOWN";
	case NBD_REP_ERR_SHUTDOWN:		return "NBD_REP_ERR_SHUTDOWN";
	case NBD_REP_ERR_BLOCK_SIZE_REQD:	return "NBD_REP_ERR_BLOCK_SIZE_REQD";
	case NBD_REP_ERR_TOO_BIG:		return "NBD_REP_ERR_TOO_BIG";
	}
	return NULL;
}

/* --- outcomes ------------------------------------------------------------ */

/* What a case saw, and what its table row wants to see. */
enum what {
	G_ERRNO,	/* a transmission reply; val: its error (0 = success) */
	G_OPTREP,	/* the final option reply; val: its type */
	G_CLOSED,	/* the server closed the connection, sending nothing */
	G_TIMEOUT,	/* nothing happened before the deadline */
	G_BROKEN,	/* the server broke the protocol; text says how */
	G_OK,		/* a case with its own checks: all passed */
};

#define TEXT_MAX 400

struct got {
	enum what what;
	uint32_t val;
	char text[TEXT_MAX];
};

enum {
	THEN_CLOSED = 1,	/* after the answer, the server must close */
	THEN_USABLE = 2,	/* after the answer, the connection must work */
	OR_CLOSED = 4,		/* closing instead of answering is fine too */
};

struct want {
	enum what what;
	uint32_t val;
	uint32_t alt;		/* another acceptable val (nonzero) */
	unsigned then;
	const char *text;	/* G_OK: what the case checks */
};

static void setgot(struct got *g, enum what w, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void setgot(struct got *g, enum what w, const char *fmt, ...)
{
	va_list ap;

	g->what = w;
	g->val = 0;
	va_start(ap, fmt);
	vsnprintf(g->text, sizeof g->text, fmt, ap);
	va_end(ap);
}

/* Wrap g->text in BEFORE and AFTER, cutting what does not fit. */
static void text_wrap(struct got *g, const char *before, const char *after)
{
	const char *parts[3] = { before, g->text, after }, *p;
	char t[TEXT_MAX];
	size_t n = 0, i;

	for (i = 0; i < 3; i++)
		for (p = parts[i]; *p && n < sizeof t - 1; p++)
			t[n++] = *p;
	t[n] = '\0';
	memcpy(g->text, t, n + 1);
}

static void fmt_err(char *buf, size_t n, uint32_t e)
{
	const char *s = errname(e);

	if (e == 0)
		snprintf(buf, n, "success");
	else if (s)
		snprintf(buf, n, "error %s (%" PRIu32 ")", s, e);
	else
		snprintf(buf, n, "error %" PRIu32, e);
}

static void fmt_rep(char *buf, size_t n, uint32_t t)
{
	const char *s = repname(t);

	if (s)
		snprintf(buf, n, "%s", s);
	else
		snprintf(buf, n, "reply type 0x%08" PRIx32, t);
}

static const char *got_str(const struct got *g, char *buf, size_t n)
{
	switch (g->what) {
	case G_ERRNO:
		fmt_err(buf, n, g->val);
		break;
	case G_OPTREP:
		fmt_rep(buf, n, g->val);
		break;
	case G_CLOSED:
		snprintf(buf, n, "%s", g->text[0] ? g->text : "connection closed");
		break;
	default:
		snprintf(buf, n, "%s", g->text[0] ? g->text : "?");
		break;
	}
	return buf;
}

static const char *want_str(const struct want *w, char *buf, size_t n)
{
	char a[64] = "", b[64] = "";

	switch (w->what) {
	case G_ERRNO:
	case G_OPTREP:
		if (w->what == G_ERRNO) {
			fmt_err(a, sizeof a, w->val);
			if (w->alt)
				fmt_err(b, sizeof b, w->alt);
		} else {
			fmt_rep(a, sizeof a, w->val);
			if (w->alt)
				fmt_rep(b, sizeof b, w->alt);
		}
		snprintf(buf, n, "%s%s%s%s%s%s", a, b[0] ? " or " : "", b,
			 w->then & OR_CLOSED ? " or close" : "",
			 w->then & THEN_CLOSED ? ", then close" : "",
			 w->then & THEN_USABLE ? ", connection still usable" : "");
		break;
	case G_CLOSED:
		snprintf(buf, n, "close within %d s", opt_timeout_ms / 1000);
		break;
	default:
		snprintf(buf, n, "%s", w->text ? w->text : "success");
		break;
	}
	return buf;
}

static bool matches(const struct want *w, const struct got *g)
{
	if (g->what == G_CLOSED && (w->then & OR_CLOSED))
		return true;
	if (g->what != w->what)
		return false;
	if (w->what == G_ERRNO || w->what == G_OPTREP)
		return g->val == w->val || (w->alt && g->val == w->alt);
	return true;
}

/* --- connections and bounded I/O ---------------------------------------- */

enum io { IO_OK, IO_EOF, IO_TIMEOUT, IO_ERR };

enum phase { PH_NEW, PH_OPTIONS, PH_TX };

struct conn {
	int fd;
	const char *path;
	enum phase phase;
	bool structured;	/* structured replies negotiated */
	bool ro;		/* read-only export: no data checks */
	bool no_zeroes;
	bool have_export;	/* NBD_INFO_EXPORT seen */
	uint16_t hflags, tflags;
	uint64_t size;
	uint32_t min_block, pref_block, max_block;
	uint32_t gen;		/* handle generation: catches stale replies */
	int err;		/* errno of the last IO_ERR */
};

static uint32_t conn_gen;
static uint8_t scratch[64 * 1024];

static void conn_init(struct conn *c, const char *path)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->path = path;
	c->gen = ++conn_gen;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static enum io wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ns();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return IO_TIMEOUT;
		r = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return IO_ERR;
		if (r > 0)
			return IO_OK;	/* POLLHUP/POLLERR too: the call says which */
	}
}

/* Both loops restart their deadline on progress: a stall, not a slow
 * transfer, is what times out. */
static enum io send_all(struct conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int64_t deadline = deadline_after(opt_timeout_ms);

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = deadline_after(opt_timeout_ms);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			enum io w = wait_fd(c->fd, POLLOUT, deadline);

			if (w != IO_OK)
				return w;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			return IO_EOF;
		} else {
			c->err = errno;
			return IO_ERR;
		}
	}
	return IO_OK;
}

/* buf NULL: read and drop len bytes. */
static enum io recv_all(struct conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	int64_t deadline = deadline_after(opt_timeout_ms);

	while (len > 0) {
		size_t want = p ? len : (len < sizeof scratch ? len : sizeof scratch);
		ssize_t n = recv(c->fd, p ? p : scratch, want, MSG_DONTWAIT);

		if (n > 0) {
			if (p)
				p += n;
			len -= (size_t)n;
			deadline = deadline_after(opt_timeout_ms);
		} else if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			return IO_EOF;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			enum io w = wait_fd(c->fd, POLLIN, deadline);

			if (w != IO_OK)
				return w;
		} else if (errno != EINTR) {
			c->err = errno;
			return IO_ERR;
		}
	}
	return IO_OK;
}

static void from_io(struct got *g, const struct conn *c, enum io io,
		    const char *what)
{
	switch (io) {
	case IO_EOF:
		setgot(g, G_CLOSED, "connection closed while %s", what);
		break;
	case IO_TIMEOUT:
		setgot(g, G_TIMEOUT, "nothing within %d s while %s",
		       opt_timeout_ms / 1000, what);
		break;
	default:
		setgot(g, G_BROKEN, "%s: %s", what, strerror(c->err));
		break;
	}
}

/* Wait for the server to close, reading whatever it sends: anything
 * sent before the close is reported, since nothing was due. */
static void expect_closed(struct conn *c, struct got *g)
{
	int64_t deadline = deadline_after(opt_timeout_ms);
	uint8_t first[8];
	size_t nfirst = 0;
	uint64_t extra = 0;

	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);

		if (n > 0) {
			ssize_t k;

			for (k = 0; k < n && nfirst < sizeof first; k++)
				first[nfirst++] = scratch[k];
			extra += (uint64_t)n;
		} else if (n == 0 || errno == ECONNRESET) {
			break;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			enum io w = wait_fd(c->fd, POLLIN, deadline);

			if (w == IO_TIMEOUT) {
				setgot(g, G_TIMEOUT, "connection still open after %d s%s",
				       opt_timeout_ms / 1000,
				       extra ? " (and unexpected bytes)" : "");
				return;
			}
			if (w == IO_ERR) {
				setgot(g, G_BROKEN, "poll: %s", strerror(errno));
				return;
			}
		} else if (errno != EINTR) {
			setgot(g, G_BROKEN, "recv: %s", strerror(errno));
			return;
		}
	}
	if (extra) {
		char hex[3 * sizeof first + 1] = "";
		size_t i;

		for (i = 0; i < nfirst; i++)
			snprintf(hex + 2 * i, sizeof hex - 2 * i, "%02x", first[i]);
		setgot(g, G_BROKEN, "%" PRIu64 " unexpected bytes (%s...) then close",
		       extra, hex);
		return;
	}
	setgot(g, G_CLOSED, "connection closed");
}

static int conn_open(struct conn *c, struct got *g)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = deadline_after(opt_timeout_ms);

	if (strlen(c->path) >= sizeof sa.sun_path) {
		setgot(g, G_BROKEN, "socket path too long: '%s'", c->path);
		return -1;
	}
	strcpy(sa.sun_path, c->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		setgot(g, G_BROKEN, "socket: %s", strerror(errno));
		return -1;
	}
	/* A full backlog says EAGAIN on a Unix socket: retry until the
	 * deadline rather than block. */
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EAGAIN && now_ns() < deadline) {
			sleep_ms(10);
			continue;
		}
		if (errno == EINTR)
			continue;
		setgot(g, G_BROKEN, "connect '%s': %s", c->path, strerror(errno));
		conn_close(c);
		return -1;
	}
	return 0;
}

/* --- handshake ------------------------------------------------------------ */

static int hs_greeting(struct conn *c, struct got *g)
{
	uint8_t b[18];
	enum io io = recv_all(c, b, sizeof b);

	if (io != IO_OK) {
		from_io(g, c, io, "reading the greeting");
		return -1;
	}
	if (nbd_get64(b) != NBD_MAGIC || nbd_get64(b + 8) != NBD_IHAVEOPT) {
		setgot(g, G_BROKEN, "greeting is not fixed newstyle (%016" PRIx64
		       " %016" PRIx64 ")", nbd_get64(b), nbd_get64(b + 8));
		return -1;
	}
	c->hflags = nbd_get16(b + 16);
	if (!(c->hflags & NBD_FLAG_FIXED_NEWSTYLE)) {
		setgot(g, G_BROKEN, "handshake flags 0x%04x lack FIXED_NEWSTYLE",
		       c->hflags);
		return -1;
	}
	return 0;
}

static uint32_t default_cflags(const struct conn *c)
{
	return NBD_FLAG_C_FIXED_NEWSTYLE |
	       (c->hflags & NBD_FLAG_NO_ZEROES ? NBD_FLAG_C_NO_ZEROES : 0);
}

static int hs_flags(struct conn *c, uint32_t cflags, struct got *g)
{
	uint8_t b[4];
	enum io io;

	nbd_put32(b, cflags);
	io = send_all(c, b, sizeof b);
	if (io != IO_OK) {
		from_io(g, c, io, "sending client flags");
		return -1;
	}
	c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
	c->phase = PH_OPTIONS;
	return 0;
}

/* Send an option header whose length field says lenfield, then datalen
 * bytes of data (which need not agree with lenfield). */
static enum io opt_send(struct conn *c, uint64_t magic, uint32_t opt,
			uint32_t lenfield, const void *data, size_t datalen)
{
	uint8_t *b = xmalloc(16 + datalen);
	enum io io;

	nbd_put64(b, magic);
	nbd_put32(b + 8, opt);
	nbd_put32(b + 12, lenfield);
	if (datalen)
		memcpy(b + 16, data, datalen);
	io = send_all(c, b, 16 + datalen);
	free(b);
	return io;
}

static int parse_info(struct conn *c, const uint8_t *p, uint32_t len,
		      struct got *g)
{
	uint16_t type;

	if (len < 2) {
		setgot(g, G_BROKEN, "NBD_REP_INFO of %" PRIu32 " bytes", len);
		return -1;
	}
	type = nbd_get16(p);
	if (type == NBD_INFO_EXPORT) {
		if (len != 12) {
			setgot(g, G_BROKEN, "NBD_INFO_EXPORT of %" PRIu32 " bytes", len);
			return -1;
		}
		c->size = nbd_get64(p + 2);
		c->tflags = nbd_get16(p + 10);
		c->have_export = true;
		if (!(c->tflags & NBD_FLAG_HAS_FLAGS)) {
			setgot(g, G_BROKEN, "transmission flags 0x%04x lack HAS_FLAGS",
			       c->tflags);
			return -1;
		}
	} else if (type == NBD_INFO_BLOCK_SIZE) {
		if (len != 14) {
			setgot(g, G_BROKEN, "NBD_INFO_BLOCK_SIZE of %" PRIu32 " bytes", len);
			return -1;
		}
		c->min_block = nbd_get32(p + 2);
		c->pref_block = nbd_get32(p + 6);
		c->max_block = nbd_get32(p + 10);
	}
	/* Other information types are the server's business. */
	return 0;
}

/*
 * Read the replies to option OPT up to the final one: NBD_REP_INFO ones
 * fill in the export, NBD_REP_SERVER ones are checked and skipped.  The
 * final reply's type goes into g as G_OPTREP.  Returns 0 when a final
 * reply came (whatever its type), -1 with g set on trouble.
 */
static int opt_final(struct conn *c, uint32_t opt, struct got *g)
{
	static uint8_t buf[64 * 1024];

	for (;;) {
		uint8_t h[20];
		uint32_t type, len;
		enum io io = recv_all(c, h, sizeof h);

		if (io != IO_OK) {
			from_io(g, c, io, "reading the option reply");
			return -1;
		}
		if (nbd_get64(h) != NBD_REP_MAGIC) {
			setgot(g, G_BROKEN, "option reply magic 0x%016" PRIx64, nbd_get64(h));
			return -1;
		}
		type = nbd_get32(h + 12);
		len = nbd_get32(h + 16);
		if (nbd_get32(h + 8) != opt) {
			setgot(g, G_BROKEN, "reply to option %" PRIu32 " names option %" PRIu32,
			       opt, nbd_get32(h + 8));
			return -1;
		}
		if (len > sizeof buf) {
			setgot(g, G_BROKEN, "option reply of %" PRIu32 " bytes", len);
			return -1;
		}
		io = recv_all(c, buf, len);
		if (io != IO_OK) {
			from_io(g, c, io, "reading the option reply payload");
			return -1;
		}
		if (type == NBD_REP_INFO && (opt == NBD_OPT_GO || opt == NBD_OPT_INFO)) {
			if (parse_info(c, buf, len, g) < 0)
				return -1;
			continue;
		}
		if (type == NBD_REP_SERVER && opt == NBD_OPT_LIST) {
			if (len < 4 || nbd_get32(buf) > len - 4) {
				setgot(g, G_BROKEN, "NBD_REP_SERVER with a bad name length");
				return -1;
			}
			continue;
		}
		if (type != NBD_REP_ACK && !(type & 0x80000000U)) {
			char r[64];

			fmt_rep(r, sizeof r, type);
			setgot(g, G_BROKEN, "unexpected %s to option %" PRIu32, r, opt);
			return -1;
		}
		if (opt_verbose && (type & 0x80000000U) && len)
			fprintf(stderr, "# server says: %.*s\n", (int)len, (const char *)buf);
		setgot(g, G_OPTREP, "%s", "");
		g->val = type;
		if (type == NBD_REP_ACK && opt == NBD_OPT_GO) {
			if (!c->have_export) {
				setgot(g, G_BROKEN, "GO acknowledged without NBD_INFO_EXPORT");
				return -1;
			}
			c->phase = PH_TX;
		}
		return 0;
	}
}

/* NBD_OPT_GO or NBD_OPT_INFO for NAME with the given information
 * requests; 0 on NBD_REP_ACK, else -1 with g saying what came instead. */
static int hs_go(struct conn *c, uint32_t opt, const char *name,
		 const uint16_t *infos, unsigned ninfos, struct got *g)
{
	size_t nlen = strlen(name), len = 4 + nlen + 2 + 2 * (size_t)ninfos;
	uint8_t *b = xmalloc(len);
	enum io io;
	unsigned i;

	nbd_put32(b, (uint32_t)nlen);
	memcpy(b + 4, name, nlen);
	nbd_put16(b + 4 + nlen, (uint16_t)ninfos);
	for (i = 0; i < ninfos; i++)
		nbd_put16(b + 6 + nlen + 2 * i, infos[i]);
	c->have_export = false;
	io = opt_send(c, NBD_IHAVEOPT, opt, (uint32_t)len, b, len);
	free(b);
	if (io != IO_OK) {
		from_io(g, c, io, "sending the option");
		return -1;
	}
	if (opt_final(c, opt, g) < 0)
		return -1;
	return g->val == NBD_REP_ACK ? 0 : -1;
}

/* Connect to c->path and go into transmission with the default export. */
static int conn_go(struct conn *c, bool structured, struct got *g)
{
	if (conn_open(c, g) < 0 || hs_greeting(c, g) < 0 ||
	    hs_flags(c, default_cflags(c), g) < 0)
		return -1;
	if (structured) {
		enum io io = opt_send(c, NBD_IHAVEOPT, NBD_OPT_STRUCTURED_REPLY,
				      0, NULL, 0);

		if (io != IO_OK) {
			from_io(g, c, io, "sending STRUCTURED_REPLY");
			return -1;
		}
		if (opt_final(c, NBD_OPT_STRUCTURED_REPLY, g) < 0)
			return -1;
		if (g->val != NBD_REP_ACK) {
			char r[64];

			setgot(g, G_BROKEN, "STRUCTURED_REPLY answered %s",
			       (fmt_rep(r, sizeof r, g->val), r));
			return -1;
		}
		c->structured = true;
	}
	if (hs_go(c, NBD_OPT_GO, opt_export, NULL, 0, g) < 0) {
		if (g->what == G_OPTREP) {
			char r[64];

			setgot(g, G_BROKEN, "GO '%s' answered %s", opt_export,
			       (fmt_rep(r, sizeof r, g->val), r));
		}
		return -1;
	}
	if (c->tflags & NBD_FLAG_READ_ONLY)
		c->ro = true;
	return 0;
}

/* --- transmission ---------------------------------------------------------- */

struct req {
	uint64_t handle;
	uint16_t flags, type;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;		/* READ data lands here; NULL: dropped */
	uint32_t error;		/* first error the server reported */
	uint64_t data_bytes;	/* content bytes seen in structured chunks */
	bool done;
	bool own_check;		/* data checked by the caller, not verify_read */
};

static uint64_t handle_of(const struct conn *c, uint32_t idx)
{
	return (uint64_t)(0xc0de0000U | (c->gen & 0xffffU)) << 32 | idx;
}

static void req_init(struct req *r, const struct conn *c, uint32_t idx,
		     uint16_t type, uint16_t flags, uint64_t off, uint32_t len)
{
	memset(r, 0, sizeof *r);
	r->handle = handle_of(c, idx);
	r->type = type;
	r->flags = flags;
	r->off = off;
	r->len = len;
}

static void put_req(uint8_t *b, uint32_t magic, const struct req *r)
{
	nbd_put32(b, magic);
	nbd_put16(b + 4, r->flags);
	nbd_put16(b + 6, r->type);
	nbd_put64(b + 8, r->handle);
	nbd_put64(b + 16, r->off);
	nbd_put32(b + 24, r->len);
}

/* The hostile cases' pattern lives in the last quarter of the export. */
static uint64_t region_lo(const struct conn *c)
{
	return (c->size - c->size / 4) & ~(uint64_t)4095;
}

static int verify_read(const struct conn *c, const struct req *r, struct got *g)
{
	uint64_t lo, hi, end;
	size_t i;

	if (!opt_verify || c->ro || r->type != NBD_CMD_READ || r->error || !r->buf ||
	    r->own_check)
		return 0;
	end = r->off + r->len;
	lo = r->off > region_lo(c) ? r->off : region_lo(c);
	hi = end < c->size ? end : c->size;
	if (lo >= hi)
		return 0;
	i = pat_check(r->buf + (lo - r->off), lo, hi - lo, HOSTILE_SEED);
	if (i < hi - lo) {
		setgot(g, G_BROKEN, "READ at %" PRIu64 ": byte at offset %" PRIu64
		       " is 0x%02x, want 0x%02x", r->off, lo + i,
		       r->buf[lo - r->off + i], pat_byte(lo + i, HOSTILE_SEED));
		return -1;
	}
	return 0;
}

/*
 * Read one reply message (a simple reply or one structured chunk) and
 * apply it to its request.  Returns the index of a request that is now
 * complete, -2 for a chunk that did not complete one, -1 with g set on
 * trouble.
 */
static int rx_msg(struct conn *c, struct req *reqs, uint32_t n, struct got *g)
{
	uint8_t h[20];
	uint64_t handle;
	uint32_t idx;
	struct req *r;
	enum io io = recv_all(c, h, 4);

	if (io != IO_OK) {
		from_io(g, c, io, "reading a reply");
		return -1;
	}
	if (nbd_get32(h) == NBD_SIMPLE_REPLY_MAGIC) {
		uint32_t err;

		io = recv_all(c, h + 4, 12);
		if (io != IO_OK) {
			from_io(g, c, io, "reading a simple reply");
			return -1;
		}
		err = nbd_get32(h + 4);
		handle = nbd_get64(h + 8);
		idx = (uint32_t)handle;
		if (idx >= n || reqs[idx].handle != handle || reqs[idx].done) {
			setgot(g, G_BROKEN, "simple reply for handle 0x%016" PRIx64
			       ", which is not in flight", handle);
			return -1;
		}
		r = &reqs[idx];
		if (c->structured && r->type == NBD_CMD_READ) {
			setgot(g, G_BROKEN, "simple reply (error %" PRIu32 ") to READ after "
			       "structured replies were negotiated", err);
			return -1;
		}
		if (err == 0 && r->type == NBD_CMD_READ) {
			io = recv_all(c, r->buf, r->len);
			if (io != IO_OK) {
				from_io(g, c, io, "reading READ data");
				return -1;
			}
		}
		r->error = err;
		r->done = true;
		return (int)idx;
	}
	if (nbd_get32(h) != NBD_STRUCTURED_REPLY_MAGIC) {
		setgot(g, G_BROKEN, "reply magic 0x%08" PRIx32, nbd_get32(h));
		return -1;
	}
	if (!c->structured) {
		setgot(g, G_BROKEN, "structured reply that was not negotiated");
		return -1;
	}
	io = recv_all(c, h + 4, 16);
	if (io != IO_OK) {
		from_io(g, c, io, "reading a structured reply");
		return -1;
	}
	uint16_t flags = nbd_get16(h + 4), type = nbd_get16(h + 6);
	uint32_t len = nbd_get32(h + 16);

	handle = nbd_get64(h + 8);
	idx = (uint32_t)handle;
	if (idx >= n || reqs[idx].handle != handle || reqs[idx].done) {
		setgot(g, G_BROKEN, "structured chunk for handle 0x%016" PRIx64
		       ", which is not in flight", handle);
		return -1;
	}
	r = &reqs[idx];
	if (type == NBD_REPLY_TYPE_NONE) {
		if (len != 0 || !(flags & NBD_REPLY_FLAG_DONE)) {
			setgot(g, G_BROKEN, "NONE chunk with length %" PRIu32
			       " and flags 0x%x", len, flags);
			return -1;
		}
	} else if (type == NBD_REPLY_TYPE_OFFSET_DATA ||
		   type == NBD_REPLY_TYPE_OFFSET_HOLE) {
		uint8_t b[12];
		uint64_t off;
		uint32_t dlen;

		if (r->type != NBD_CMD_READ ||
		    (type == NBD_REPLY_TYPE_OFFSET_DATA && (len < 9 || len - 8 > r->len)) ||
		    (type == NBD_REPLY_TYPE_OFFSET_HOLE && len != 12)) {
			setgot(g, G_BROKEN, "content chunk type %u of %" PRIu32
			       " bytes for command %u", type, len, r->type);
			return -1;
		}
		io = recv_all(c, b, type == NBD_REPLY_TYPE_OFFSET_HOLE ? 12 : 8);
		if (io != IO_OK) {
			from_io(g, c, io, "reading a content chunk");
			return -1;
		}
		off = nbd_get64(b);
		dlen = type == NBD_REPLY_TYPE_OFFSET_HOLE ? nbd_get32(b + 8) : len - 8;
		if (off < r->off || off - r->off > r->len || dlen > r->len - (off - r->off)) {
			setgot(g, G_BROKEN, "content chunk at %" PRIu64 "+%" PRIu32
			       " outside READ %" PRIu64 "+%" PRIu32, off, dlen, r->off, r->len);
			return -1;
		}
		if (type == NBD_REPLY_TYPE_OFFSET_DATA) {
			io = recv_all(c, r->buf ? r->buf + (off - r->off) : NULL, dlen);
			if (io != IO_OK) {
				from_io(g, c, io, "reading READ data");
				return -1;
			}
		} else if (r->buf) {
			memset(r->buf + (off - r->off), 0, dlen);
		}
		r->data_bytes += dlen;
	} else if (type & 0x8000) {
		uint8_t b[6];
		uint32_t err;

		if (len < 6 || len > 64 * KIB) {
			setgot(g, G_BROKEN, "error chunk of %" PRIu32 " bytes", len);
			return -1;
		}
		io = recv_all(c, b, 6);
		if (io == IO_OK)
			io = recv_all(c, scratch, len - 6);
		if (io != IO_OK) {
			from_io(g, c, io, "reading an error chunk");
			return -1;
		}
		err = nbd_get32(b);
		if (err == 0 || nbd_get16(b + 4) > len - 6) {
			setgot(g, G_BROKEN, "error chunk with error %" PRIu32
			       " and message length %u of %" PRIu32, err, nbd_get16(b + 4), len);
			return -1;
		}
		if (opt_verbose && nbd_get16(b + 4))
			fprintf(stderr, "# server says: %.*s\n", nbd_get16(b + 4),
				(const char *)scratch);
		if (!r->error)
			r->error = err;
	} else {
		setgot(g, G_BROKEN, "unknown structured chunk type %u", type);
		return -1;
	}
	if (!(flags & NBD_REPLY_FLAG_DONE))
		return -2;
	r->done = true;
	if (!r->error && r->type == NBD_CMD_READ && r->data_bytes != r->len) {
		setgot(g, G_BROKEN, "successful READ reply covers %" PRIu64
		       " of %" PRIu32 " bytes", r->data_bytes, r->len);
		return -1;
	}
	return (int)idx;
}

/* Wait until every request in reqs[0..n) has its reply. */
static int wait_replies(struct conn *c, struct req *reqs, uint32_t n, struct got *g)
{
	uint32_t left = 0, i;

	for (i = 0; i < n; i++)
		left += !reqs[i].done;
	while (left > 0) {
		int k = rx_msg(c, reqs, n, g);

		if (k == -1) {
			if (n > 1) {
				char t[64];

				snprintf(t, sizeof t, " (after %" PRIu32 " of %" PRIu32
					 " replies)", n - left, n);
				text_wrap(g, "", t);
			}
			return -1;
		}
		if (k >= 0) {
			left--;
			if (verify_read(c, &reqs[k], g) < 0)
				return -1;
		}
	}
	return 0;
}

/* One request, its payload (if any), its reply; g gets G_ERRNO. */
static int xfer(struct conn *c, struct req *r, const void *payload, struct got *g)
{
	uint8_t h[NBD_REQUEST_SIZE];
	enum io io;

	put_req(h, NBD_REQUEST_MAGIC, r);
	io = send_all(c, h, sizeof h);
	if (io == IO_OK && payload)
		io = send_all(c, payload, r->len);
	if (io != IO_OK) {
		from_io(g, c, io, "sending a request");
		return -1;
	}
	if (wait_replies(c, r, 1, g) < 0)
		return -1;
	setgot(g, G_ERRNO, "%s", "");
	g->val = r->error;
	return 0;
}

static int write_pattern(struct conn *c, uint64_t lo, uint64_t hi, struct got *g)
{
	uint8_t *buf = xmalloc(MIB);
	int ret = 0;

	while (lo < hi && ret == 0) {
		struct req r;
		uint32_t len = hi - lo < MIB ? (uint32_t)(hi - lo) : MIB;

		req_init(&r, c, 0, NBD_CMD_WRITE, 0, lo, len);
		pat_fill(buf, lo, len, HOSTILE_SEED);
		ret = xfer(c, &r, buf, g);
		if (ret == 0 && r.error) {
			char e[64];

			setgot(g, G_BROKEN, "writing the pattern at %" PRIu64 ": %s",
			       lo, (fmt_err(e, sizeof e, r.error), e));
			ret = -1;
		}
		lo += len;
	}
	free(buf);
	return ret;
}

/* A valid READ of the export's last 4 KiB, checked against the pattern
 * (which a failing case may have overwritten: put it back then). */
static int follow_read(struct conn *c, struct got *g)
{
	uint8_t buf[4096];
	struct req r;
	uint32_t len = c->size < sizeof buf ? (uint32_t)c->size : sizeof buf;

	req_init(&r, c, 0, NBD_CMD_READ, 0, c->size - len, len);
	r.buf = buf;
	if (xfer(c, &r, NULL, g) < 0) {
		if (g->what == G_BROKEN && strstr(g->text, "byte at offset")) {
			struct got g2;
			struct req w;

			req_init(&w, c, 0, NBD_CMD_WRITE, 0, c->size - len, len);
			pat_fill(buf, w.off, len, HOSTILE_SEED);
			xfer(c, &w, buf, &g2);
		}
		return -1;
	}
	if (r.error) {
		char e[64];

		setgot(g, G_BROKEN, "a valid READ got %s", (fmt_err(e, sizeof e, r.error), e));
		return -1;
	}
	return 0;
}

/* --- the cases -------------------------------------------------------------- */

struct hcase;
typedef void case_fn(struct conn *c, const struct hcase *hc, struct got *g);

/* A handshake message, sent by hs_generic. */
struct hs_msg {
	uint32_t cflags;	/* client flags; 0: the usual ones */
	bool flags_only;	/* send the client flags and nothing more */
	uint64_t magic;		/* option magic; 0: IHAVEOPT */
	uint32_t opt;
	const char *payload;
	size_t paylen;
	bool lie;		/* length field is lenfield, payload as given */
	bool pad;		/* length field is lenfield, payload zero-padded to it */
	uint32_t lenfield;
	size_t send_bytes;	/* send only this much of it, then shut down writing */
};

/* Where a request goes: offsets relative to the export's end may be
 * negative; AT_ABS offsets wrap (-4096 is 2^64 - 4096). */
enum at { AT_ABS, AT_END };

/* Payload after a request: junk (0xa5) that must not reach the export,
 * or the pattern that is already there. */
enum payload { PL_NONE, PL_JUNK, PL_PATTERN };

struct tx_msg {
	uint32_t magic;		/* 0: NBD_REQUEST_MAGIC */
	uint16_t type, flags;
	enum at at;
	int64_t off;
	uint32_t len;
	enum payload pl;
	uint32_t pl_bytes;	/* send only this much payload, then shut down writing */
	uint32_t hdr_bytes;	/* send only this much header, then shut down writing */
};

enum {
	C_HS = 1,		/* handshake case: starts on a bare connection */
	C_TX = 2,		/* transmission case: runs after GO, simple and structured */
	C_RO = 4,		/* needs the read-only server (--ro-socket) */
};

struct hcase {
	const char *name;
	const char *doc;
	unsigned flags;
	case_fn *fn;
	struct hs_msg hs;
	struct tx_msg tx;
	int arg;
	struct want want;
};

/* Handshake cases: send hc->hs, read the final option reply. */
static void hs_generic(struct conn *c, const struct hcase *hc, struct got *g)
{
	const struct hs_msg *m = &hc->hs;
	size_t plen, total, nsend;
	uint32_t lenfield;
	uint8_t *b;
	enum io io;

	if (hs_greeting(c, g) < 0 ||
	    hs_flags(c, m->cflags ? m->cflags : default_cflags(c), g) < 0)
		return;
	if (m->flags_only) {
		expect_closed(c, g);
		return;
	}
	plen = m->pad ? m->lenfield : m->paylen;
	lenfield = m->pad || m->lie ? m->lenfield : (uint32_t)m->paylen;
	total = 16 + plen;
	b = calloc(1, total);
	if (!b) {
		setgot(g, G_BROKEN, "out of memory");
		return;
	}
	nbd_put64(b, m->magic ? m->magic : NBD_IHAVEOPT);
	nbd_put32(b + 8, m->opt);
	nbd_put32(b + 12, lenfield);
	if (m->paylen)
		memcpy(b + 16, m->payload, m->paylen < plen ? m->paylen : plen);
	nsend = m->send_bytes ? m->send_bytes : total;
	io = send_all(c, b, nsend);
	free(b);
	if (m->send_bytes) {
		shutdown(c->fd, SHUT_WR);
		expect_closed(c, g);
		return;
	}
	if (hc->want.what == G_CLOSED) {
		expect_closed(c, g);
		return;
	}
	/* A server may close before taking the whole option: what it said
	 * before closing is still there to read. */
	if (io == IO_TIMEOUT || io == IO_ERR) {
		from_io(g, c, io, "sending the option");
		return;
	}
	opt_final(c, m->opt, g);
}

/* Go away at once, after the greeting, after the flags, or mid-option;
 * twenty times, so that a race in the server's cleanup has a chance. */
static void hs_vanish(struct conn *c, const struct hcase *hc, struct got *g)
{
	int i;

	for (i = 0; i < 20; i++) {
		if (i > 0) {
			conn_init(c, c->path);
			if (conn_open(c, g) < 0)
				return;
		}
		if (hc->arg >= 1 && hs_greeting(c, g) < 0)
			return;
		if (hc->arg >= 2 && hs_flags(c, default_cflags(c), g) < 0)
			return;
		if (hc->arg >= 3)
			opt_send(c, NBD_IHAVEOPT, NBD_OPT_GO, 100, "\0\0\0\x05vra", 8);
		conn_close(c);
	}
	setgot(g, G_OK, "%s", "");
}

static void hs_export_name(struct conn *c, const struct hcase *hc, struct got *g)
{
	const char *name = hc->hs.payload ? hc->hs.payload : opt_export;
	size_t nlen = hc->hs.payload ? hc->hs.paylen : strlen(opt_export);
	uint8_t b[10 + 124];
	size_t i, need;
	enum io io;

	if (hs_greeting(c, g) < 0 ||
	    hs_flags(c, hc->hs.cflags ? hc->hs.cflags : default_cflags(c), g) < 0)
		return;
	io = opt_send(c, NBD_IHAVEOPT, NBD_OPT_EXPORT_NAME, (uint32_t)nlen, name, nlen);
	if (io != IO_OK) {
		from_io(g, c, io, "sending EXPORT_NAME");
		return;
	}
	if (hc->want.what == G_CLOSED) {
		expect_closed(c, g);
		return;
	}
	need = c->no_zeroes ? 10 : sizeof b;
	io = recv_all(c, b, need);
	if (io != IO_OK) {
		from_io(g, c, io, "reading the EXPORT_NAME reply");
		return;
	}
	c->size = nbd_get64(b);
	c->tflags = nbd_get16(b + 8);
	c->phase = PH_TX;
	c->ro = c->tflags & NBD_FLAG_READ_ONLY;
	if (!(c->tflags & NBD_FLAG_HAS_FLAGS)) {
		setgot(g, G_BROKEN, "transmission flags 0x%04x lack HAS_FLAGS", c->tflags);
		return;
	}
	for (i = 10; i < need; i++)
		if (b[i]) {
			setgot(g, G_BROKEN, "byte %zu of the 124 zeroes is 0x%02x", i - 10, b[i]);
			return;
		}
	if (follow_read(c, g) == 0)
		setgot(g, G_OK, "%s", "");
}

static bool pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

/* GO asking for every information type, and one nobody knows. */
static void hs_go_infos(struct conn *c, const struct hcase *hc, struct got *g)
{
	static const uint16_t infos[] = {
		NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_INFO_DESCRIPTION, 0x7777,
	};

	(void)hc;
	if (hs_greeting(c, g) < 0 || hs_flags(c, default_cflags(c), g) < 0)
		return;
	if (hs_go(c, NBD_OPT_GO, opt_export, infos, 4, g) < 0)
		return;
	if (c->min_block &&
	    (!pow2(c->min_block) || !pow2(c->pref_block) ||
	     c->pref_block < c->min_block || c->max_block < c->pref_block ||
	     c->max_block % c->min_block)) {
		setgot(g, G_BROKEN, "block sizes min %" PRIu32 " preferred %" PRIu32
		       " max %" PRIu32 " break the protocol's rules",
		       c->min_block, c->pref_block, c->max_block);
		return;
	}
	if (follow_read(c, g) == 0)
		setgot(g, G_OK, "%s", "");
}

/* INFO must leave the client in option haggling; GO must still work. */
static void hs_info_then_go(struct conn *c, const struct hcase *hc, struct got *g)
{
	(void)hc;
	if (hs_greeting(c, g) < 0 || hs_flags(c, default_cflags(c), g) < 0)
		return;
	if (hs_go(c, NBD_OPT_INFO, opt_export, NULL, 0, g) < 0) {
		if (g->what == G_OPTREP) {
			char r[64];

			setgot(g, G_BROKEN, "INFO answered %s", (fmt_rep(r, sizeof r, g->val), r));
		}
		return;
	}
	if (!c->have_export) {
		setgot(g, G_BROKEN, "INFO acknowledged without NBD_INFO_EXPORT");
		return;
	}
	if (hs_go(c, NBD_OPT_GO, opt_export, NULL, 0, g) < 0) {
		if (g->what == G_OPTREP) {
			char r[64];

			setgot(g, G_BROKEN, "GO after INFO answered %s",
			       (fmt_rep(r, sizeof r, g->val), r));
		}
		return;
	}
	if (follow_read(c, g) == 0)
		setgot(g, G_OK, "%s", "");
}

static uint64_t tx_offset(const struct conn *c, const struct tx_msg *t)
{
	return t->at == AT_END ? c->size + (uint64_t)t->off : (uint64_t)t->off;
}

/* Transmission cases: send hc->tx, read its reply. */
static void tx_generic(struct conn *c, const struct hcase *hc, struct got *g)
{
	const struct tx_msg *t = &hc->tx;
	uint8_t h[NBD_REQUEST_SIZE], *payload = NULL;
	struct req r;
	enum io io;

	req_init(&r, c, 0, t->type, t->flags, tx_offset(c, t), t->len);
	if (t->type == NBD_CMD_READ && t->len <= 32 * MIB)
		r.buf = xmalloc(t->len);
	put_req(h, t->magic ? t->magic : NBD_REQUEST_MAGIC, &r);
	io = send_all(c, h, t->hdr_bytes ? t->hdr_bytes : sizeof h);
	if (io == IO_OK && t->pl != PL_NONE) {
		payload = xmalloc(t->len);
		if (t->pl == PL_JUNK)
			memset(payload, 0xa5, t->len);
		else
			pat_fill(payload, r.off, t->len, HOSTILE_SEED);
		io = send_all(c, payload, t->pl_bytes ? t->pl_bytes : t->len);
	}
	if (t->hdr_bytes || t->pl_bytes) {
		shutdown(c->fd, SHUT_WR);
		expect_closed(c, g);
	} else if (hc->want.what == G_CLOSED) {
		expect_closed(c, g);
	} else if (io == IO_TIMEOUT || io == IO_ERR) {
		from_io(g, c, io, "sending the request");
	} else if (wait_replies(c, &r, 1, g) == 0) {
		setgot(g, G_ERRNO, "%s", "");
		g->val = r.error;
	}
	free(payload);
	free(r.buf);
}

/* Reads in flight, then NBD_CMD_DISC in the same write: the server must
 * answer every read ("MUST handle all outstanding requests"), send
 * nothing for the DISC, and close. */
static void tx_disc_inflight(struct conn *c, const struct hcase *hc, struct got *g)
{
	enum { N = 16 };
	struct req reqs[N + 1];
	uint8_t h[(N + 1) * NBD_REQUEST_SIZE];
	uint32_t i;
	enum io io;

	(void)hc;
	for (i = 0; i < N; i++) {
		req_init(&reqs[i], c, i, NBD_CMD_READ, 0,
			 region_lo(c) + (uint64_t)i * 256 * KIB % (c->size - region_lo(c)),
			 256 * KIB);
		put_req(h + i * NBD_REQUEST_SIZE, NBD_REQUEST_MAGIC, &reqs[i]);
	}
	req_init(&reqs[N], c, N, NBD_CMD_DISC, 0, 0, 0);
	put_req(h + N * NBD_REQUEST_SIZE, NBD_REQUEST_MAGIC, &reqs[N]);
	io = send_all(c, h, sizeof h);
	if (io != IO_OK) {
		from_io(g, c, io, "sending the requests");
		return;
	}
	if (wait_replies(c, reqs, N, g) < 0)
		return;
	expect_closed(c, g);
	if (g->what == G_CLOSED)
		setgot(g, G_OK, "%s", "");
	else
		text_wrap(g, "all replies, then ", "");
}

/* hc->arg reads of 4 KiB, all sent before any reply is read. */
static void tx_pipeline(struct conn *c, const struct hcase *hc, struct got *g)
{
	uint32_t n = (uint32_t)hc->arg, i;
	uint64_t span = c->size - region_lo(c);
	struct req *reqs = xmalloc(n * sizeof *reqs);
	uint8_t *h = xmalloc((size_t)n * NBD_REQUEST_SIZE);
	uint8_t *data = xmalloc((size_t)n * 4096);
	enum io io;

	for (i = 0; i < n; i++) {
		req_init(&reqs[i], c, i, NBD_CMD_READ, 0,
			 region_lo(c) + (uint64_t)i * 4096 % span, 4096);
		reqs[i].buf = data + (size_t)i * 4096;
		put_req(h + (size_t)i * NBD_REQUEST_SIZE, NBD_REQUEST_MAGIC, &reqs[i]);
	}
	io = send_all(c, h, (size_t)n * NBD_REQUEST_SIZE);
	if (io != IO_OK)
		from_io(g, c, io, "sending the requests");
	else if (wait_replies(c, reqs, n, g) == 0)
		setgot(g, G_OK, "%s", "");
	free(data);
	free(h);
	free(reqs);
}

/* 64 reads of 1 MiB; the replies are left unread for 0.5 s (the server
 * blocked on a full socket), during which another connection must still
 * be served; then all are read. */
static void tx_stall(struct conn *c, const struct hcase *hc, struct got *g)
{
	enum { N = 64 };
	uint32_t len = c->size < MIB ? (uint32_t)c->size : MIB, i;
	struct req reqs[N];
	uint8_t h[N * NBD_REQUEST_SIZE];
	uint8_t *data = xmalloc((size_t)N * len);
	int64_t t0;
	struct conn c2;
	enum io io;

	(void)hc;
	for (i = 0; i < N; i++) {
		req_init(&reqs[i], c, i, NBD_CMD_READ, 0,
			 (uint64_t)i * len % (c->size - len + 1), len);
		reqs[i].buf = data + (size_t)i * len;
		put_req(h + i * NBD_REQUEST_SIZE, NBD_REQUEST_MAGIC, &reqs[i]);
	}
	io = send_all(c, h, sizeof h);
	t0 = now_ns();
	if (io != IO_OK) {
		from_io(g, c, io, "sending the requests");
		goto out;
	}
	conn_init(&c2, c->path);
	if (conn_go(&c2, false, g) < 0 || follow_read(&c2, g) < 0) {
		text_wrap(g, "while one client stalled, another was not served: ", "");
		g->what = G_BROKEN;
		conn_close(&c2);
		goto out;
	}
	conn_close(&c2);
	while (now_ns() - t0 < 500000000LL)
		sleep_ms(50);
	if (wait_replies(c, reqs, N, g) == 0)
		setgot(g, G_OK, "%s", "");
out:
	free(data);
}

/* Reads of 64 MiB in all, then close without reading a byte: the server
 * must survive its replies failing (EPIPE, SIGPIPE).  Eight times. */
static void tx_vanish_pending(struct conn *c, const struct hcase *hc, struct got *g)
{
	enum { N = 64 };
	uint32_t len = c->size < MIB ? (uint32_t)c->size : MIB, i;
	bool structured = c->structured;
	uint8_t h[N * NBD_REQUEST_SIZE];
	int k;

	(void)hc;
	for (k = 0; k < 8; k++) {
		if (k > 0) {
			conn_init(c, c->path);
			if (conn_go(c, structured, g) < 0)
				return;
		}
		for (i = 0; i < N; i++) {
			struct req r;

			req_init(&r, c, i, NBD_CMD_READ, 0,
				 (uint64_t)i * len % (c->size - len + 1), len);
			put_req(h + i * NBD_REQUEST_SIZE, NBD_REQUEST_MAGIC, &r);
		}
		send_all(c, h, sizeof h);
		conn_close(c);
	}
	setgot(g, G_OK, "%s", "");
}

/*
 * WRITE hc->arg bytes of a second pattern ending at the export's end (the
 * header a byte at a time and the payload in 1000-byte pieces when
 * hc->tx.pl_bytes is set), READ them back and compare, then put the
 * first pattern back.  A second pattern, so a dropped write shows.
 */
static void tx_write_read_back(struct conn *c, const struct hcase *hc, struct got *g)
{
	const uint64_t seed = HOSTILE_SEED ^ 0x5a5a5a5a5a5a5a5aULL;
	uint32_t len = (uint32_t)hc->arg, i;
	uint64_t off = c->size - len;
	uint8_t h[NBD_REQUEST_SIZE], *wbuf = xmalloc(len), *rbuf = xmalloc(len);
	bool dribble = hc->tx.pl_bytes;
	struct req r;
	struct got g2;
	enum io io = IO_OK;
	size_t bad;

	req_init(&r, c, 0, NBD_CMD_WRITE, 0, off, len);
	put_req(h, NBD_REQUEST_MAGIC, &r);
	pat_fill(wbuf, off, len, seed);
	if (dribble) {
		for (i = 0; i < sizeof h && io == IO_OK; i++) {
			io = send_all(c, h + i, 1);
			sleep_ms(1);
		}
		for (i = 0; i < len && io == IO_OK; i += 1000) {
			io = send_all(c, wbuf + i, len - i < 1000 ? len - i : 1000);
			sleep_us(100);
		}
	} else {
		io = send_all(c, h, sizeof h);
		if (io == IO_OK)
			io = send_all(c, wbuf, len);
	}
	if (io != IO_OK) {
		from_io(g, c, io, "sending the WRITE");
		goto out;
	}
	if (wait_replies(c, &r, 1, g) < 0)
		goto out;
	if (r.error) {
		setgot(g, G_ERRNO, "%s", "");
		g->val = r.error;
		goto out;
	}
	req_init(&r, c, 0, NBD_CMD_READ, 0, off, len);
	r.buf = rbuf;
	r.own_check = true;
	if (xfer(c, &r, NULL, g) < 0)
		goto out;
	if (r.error) {
		char e[64];

		setgot(g, G_BROKEN, "READ back: %s", (fmt_err(e, sizeof e, r.error), e));
		goto out;
	}
	if (opt_verify && (bad = pat_check(rbuf, off, len, seed)) < len) {
		setgot(g, G_BROKEN, "READ back: byte at offset %" PRIu64 " is 0x%02x, "
		       "want 0x%02x", off + bad, rbuf[bad], pat_byte(off + bad, seed));
		goto out;
	}
	setgot(g, G_OK, "%s", "");
out:
	/* Put the cases' pattern back, whatever happened. */
	if (write_pattern(c, off, c->size, &g2) < 0 && g->what == G_OK) {
		*g = g2;
		text_wrap(g, "restoring the pattern: ", "");
	}
	free(wbuf);
	free(rbuf);
}

struct sender {
	struct conn c;
	const uint8_t *buf;
	size_t len;
	enum io io;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->io = send_all(&s->c, s->buf, s->len);
	return NULL;
}

/*
 * 600 requests mixing good and bad ones (READ, WRITE, command 42, READ
 * past the end, WRITE of junk past the end, FLUSH), sent by a second
 * thread while this one reads replies: each must get its own answer.
 */
static void tx_pipeline_mixed(struct conn *c, const struct hcase *hc, struct got *g)
{
	enum { N = 600, K = 6, BLK = 4096 };
	static const uint32_t want[K] = { 0, 0, NBD_EINVAL, NBD_EINVAL, NBD_ENOSPC, 0 };
	static const char *const what[K] = {
		"READ", "WRITE", "command 42", "READ past the end",
		"WRITE past the end", "FLUSH",
	};
	uint64_t span = c->size - region_lo(c);
	struct req *reqs = xmalloc(N * sizeof *reqs);
	uint8_t *buf = xmalloc((size_t)N * (NBD_REQUEST_SIZE + BLK)), *p = buf;
	uint8_t *data = xmalloc((size_t)N * BLK);
	struct sender snd;
	pthread_t tid;
	uint32_t i;
	int err;

	(void)hc;
	for (i = 0; i < N; i++) {
		uint64_t off = region_lo(c) + (uint64_t)i * BLK % span;

		switch (i % K) {
		case 0:
			req_init(&reqs[i], c, i, NBD_CMD_READ, 0, off, BLK);
			reqs[i].buf = data + (size_t)i * BLK;
			break;
		case 1:
			req_init(&reqs[i], c, i, NBD_CMD_WRITE, 0, off, BLK);
			break;
		case 2:
			req_init(&reqs[i], c, i, 42, 0, off, BLK);
			break;
		case 3:
			req_init(&reqs[i], c, i, NBD_CMD_READ, 0, c->size, BLK);
			break;
		case 4:
			req_init(&reqs[i], c, i, NBD_CMD_WRITE, 0, c->size - BLK / 2, BLK);
			break;
		default:
			req_init(&reqs[i], c, i, NBD_CMD_FLUSH, 0, 0, 0);
			break;
		}
		put_req(p, NBD_REQUEST_MAGIC, &reqs[i]);
		p += NBD_REQUEST_SIZE;
		if (i % K == 1) {
			pat_fill(p, off, BLK, HOSTILE_SEED);
			p += BLK;
		} else if (i % K == 4) {
			memset(p, 0xa5, BLK);
			p += BLK;
		}
	}
	snd.c = *c;
	snd.buf = buf;
	snd.len = (size_t)(p - buf);
	err = pthread_create(&tid, NULL, sender_main, &snd);
	if (err) {
		setgot(g, G_BROKEN, "pthread_create: %s", strerror(err));
		goto out;
	}
	if (wait_replies(c, reqs, N, g) == 0) {
		setgot(g, G_OK, "%s", "");
		for (i = 0; i < N; i++)
			if (reqs[i].error != want[i % K]) {
				char a[64], b[64];

				fmt_err(a, sizeof a, want[i % K]);
				fmt_err(b, sizeof b, reqs[i].error);
				setgot(g, G_BROKEN, "request %" PRIu32 " (%s): expected %s, got %s",
				       i, what[i % K], a, b);
				break;
			}
	}
	/* The sender gives up by itself within the timeout. */
	pthread_join(tid, NULL);
	if (g->what == G_OK && snd.io != IO_OK)
		from_io(g, c, snd.io, "sending the requests");
out:
	free(data);
	free(buf);
	free(reqs);
}

static void ro_flags(struct conn *c, const struct hcase *hc, struct got *g)
{
	(void)hc;
	if (!(c->tflags & NBD_FLAG_READ_ONLY))
		setgot(g, G_BROKEN, "transmission flags 0x%04x lack READ_ONLY", c->tflags);
	else
		setgot(g, G_OK, "%s", "");
}

#define BYTES(s)	.payload = (s), .paylen = sizeof(s) - 1
#define ERR(e, t)	{ .what = G_ERRNO, .val = (e), .then = (t) }
#define ERR2(e, a, t)	{ .what = G_ERRNO, .val = (e), .alt = (a), .then = (t) }
#define SUCCESS(t)	{ .what = G_ERRNO, .val = 0, .then = (t) }
#define REP(r, t)	{ .what = G_OPTREP, .val = (r), .then = (t) }
#define REP2(r, a, t)	{ .what = G_OPTREP, .val = (r), .alt = (a), .then = (t) }
#define CLOSED		{ .what = G_CLOSED }
#define CHECKS(s)	{ .what = G_OK, .text = (s) }
#define USABLE		THEN_USABLE

/* GO/INFO payloads: name length, name, number of info requests, requests. */
#define NAME_UNKNOWN	"\0\0\0\x0eno-such-export\0\0"

static const struct hcase cases[] = {
	/* --- handshake ------------------------------------------------------- */
	{ "bad-client-flags", "client flags with an unknown bit (0x4)",
	  C_HS, hs_generic, .hs = { .cflags = 0x7, .flags_only = true }, .want = CLOSED },
	{ "bad-client-flags-high", "client flags with bit 31 set",
	  C_HS, hs_generic, .hs = { .cflags = 0x80000003, .flags_only = true },
	  .want = CLOSED },
	{ "bad-option-magic", "option header with magic IHAVEOPU",
	  C_HS, hs_generic, .hs = { .magic = 0x49484156454F5055ULL, .opt = NBD_OPT_GO,
				   BYTES("\0\0\0\x05vramd\0\0") }, .want = CLOSED },
	{ "option-length-4g", "GO whose length field is 2^32-1, no payload sent",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, .lie = true, .lenfield = 0xffffffffU },
	  .want = REP(NBD_REP_ERR_TOO_BIG, THEN_CLOSED | OR_CLOSED) },
	{ "option-length-over-64k", "INFO with 64 KiB + 1 of payload, all sent",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_INFO, BYTES("\0\0\0\x05vramd\0\0"),
				   .pad = true, .lenfield = 64 * KIB + 1 },
	  .want = REP(NBD_REP_ERR_TOO_BIG, THEN_CLOSED | OR_CLOSED) },
	{ "unknown-option", "option 0x7fff with 16 bytes of payload",
	  C_HS, hs_generic, .hs = { .opt = 0x7fff, BYTES("hostile payload!") },
	  .want = REP(NBD_REP_ERR_UNSUP, USABLE) },
	{ "unknown-option-high", "option 0xdeadbeef, no payload",
	  C_HS, hs_generic, .hs = { .opt = 0xdeadbeefU }, .want = REP(NBD_REP_ERR_UNSUP, USABLE) },
	{ "starttls", "STARTTLS to a server without TLS",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_STARTTLS },
	  .want = REP2(NBD_REP_ERR_UNSUP, NBD_REP_ERR_POLICY, USABLE) },
	{ "go-unknown-export", "GO for export 'no-such-export'",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES(NAME_UNKNOWN) },
	  .want = REP(NBD_REP_ERR_UNKNOWN, USABLE) },
	{ "info-unknown-export", "INFO for export 'no-such-export'",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_INFO, BYTES(NAME_UNKNOWN) },
	  .want = REP(NBD_REP_ERR_UNKNOWN, USABLE) },
	{ "info-name-overrun", "INFO whose name length (100) exceeds its payload (11)",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_INFO, BYTES("\0\0\0\x64vramd\0\0") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "go-name-overrun", "GO whose name length (100) exceeds its payload (11)",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0\0\x64vramd\0\0") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "go-name-length-4g", "GO whose name length is 2^32-1 (wraps 4 + length)",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\xff\xff\xff\xffvramd\0\0") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "go-short-payload", "GO with 2 bytes of payload (no room for the name length)",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "go-info-count-overrun", "GO announcing 5 information requests, carrying 1",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0\0\x05vramd\0\x05\0\x03") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "go-trailing-bytes", "GO with 4 bytes after its information requests",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0\0\x05vramd\0\0junk") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "structured-reply-with-data", "STRUCTURED_REPLY with 4 bytes of payload",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_STRUCTURED_REPLY, BYTES("\0\0\0\0") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "list", "LIST: SERVER replies, then ACK",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_LIST }, .want = REP(NBD_REP_ACK, USABLE) },
	{ "list-with-data", "LIST with 2 bytes of payload",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_LIST, BYTES("xx") },
	  .want = REP(NBD_REP_ERR_INVALID, USABLE) },
	{ "abort", "ABORT: ACK, then the server closes",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_ABORT },
	  .want = REP(NBD_REP_ACK, THEN_CLOSED | OR_CLOSED) },
	{ "truncated-option-header", "12 of the 16 bytes of an option header, then EOF",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, .send_bytes = 12 }, .want = CLOSED },
	{ "truncated-option-payload", "GO with 5 of its 11 payload bytes, then EOF",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0\0\x05vramd\0\0"),
				   .send_bytes = 16 + 5 }, .want = CLOSED },
	{ "go-empty-name", "GO for the empty name (the default export)",
	  C_HS, hs_generic, .hs = { .opt = NBD_OPT_GO, BYTES("\0\0\0\0\0\0") },
	  .want = REP(NBD_REP_ACK, USABLE) },
	{ "go-info-requests", "GO asking for BLOCK_SIZE, NAME, DESCRIPTION and 0x7777",
	  C_HS, hs_go_infos, .want = CHECKS("ACK with sane block sizes, then a READ works") },
	{ "info-then-go", "INFO, then GO on the same connection",
	  C_HS, hs_info_then_go, .want = CHECKS("ACK to both, then a READ works") },
	{ "vanish-at-once", "connect and close, 20 times",
	  C_HS, hs_vanish, .arg = 0, .want = CHECKS("server still alive") },
	{ "vanish-after-greeting", "read the greeting and close, 20 times",
	  C_HS, hs_vanish, .arg = 1, .want = CHECKS("server still alive") },
	{ "vanish-after-flags", "send client flags and close, 20 times",
	  C_HS, hs_vanish, .arg = 2, .want = CHECKS("server still alive") },
	{ "vanish-mid-option", "send half a GO and close, 20 times",
	  C_HS, hs_vanish, .arg = 3, .want = CHECKS("server still alive") },
	{ "export-name", "EXPORT_NAME for the export (--export-name)",
	  C_HS, hs_export_name, .want = CHECKS("size and flags, then a READ works") },
	{ "export-name-empty", "EXPORT_NAME for the empty name",
	  C_HS, hs_export_name, .hs = { BYTES("") },
	  .want = CHECKS("size and flags, then a READ works") },
	{ "export-name-with-zeroes", "EXPORT_NAME without NO_ZEROES: 124 zero bytes follow",
	  C_HS, hs_export_name, .hs = { .cflags = NBD_FLAG_C_FIXED_NEWSTYLE },
	  .want = CHECKS("size, flags and 124 zeroes, then a READ works") },
	{ "export-name-unknown", "EXPORT_NAME for 'no-such-export'",
	  C_HS, hs_export_name, .hs = { BYTES("no-such-export") }, .want = CLOSED },

	/* --- transmission, after GO (simple and structured replies) ---------- */
	{ "bad-request-magic", "READ with request magic 0x25609514",
	  C_TX, tx_generic, .tx = { .magic = 0x25609514, .type = NBD_CMD_READ,
				   .at = AT_END, .off = -4096, .len = 4096 }, .want = CLOSED },
	/* Issue #20, item 13: DISC is never answered, whatever its flags. */
	{ "disc-with-flags", "DISC with command flag FUA (0x1)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_DISC, .flags = NBD_CMD_FLAG_FUA, .at = AT_END,
				   .off = 0, .len = 0 }, .want = CLOSED },
	{ "unknown-command-42", "command 42",
	  C_TX, tx_generic, .tx = { .type = 42, .at = AT_END, .off = -4096, .len = 4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "cmd-cache", "CACHE (not advertised)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_CACHE, .at = AT_END, .off = -4096,
				   .len = 4096 }, .want = ERR(NBD_EINVAL, USABLE) },
	{ "cmd-block-status", "BLOCK_STATUS without a metadata context",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_BLOCK_STATUS, .at = AT_END,
				   .off = -4096, .len = 4096 }, .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-unknown-flag", "READ with command flag 0x8000",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .flags = 0x8000, .at = AT_END,
				   .off = -4096, .len = 4096 }, .want = ERR(NBD_EINVAL, USABLE) },
	{ "write-unknown-flag", "WRITE with command flag 0x0100 and junk payload",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .flags = 0x0100, .at = AT_END,
				   .off = -4096, .len = 4096, .pl = PL_JUNK },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "write-no-hole", "WRITE with NO_HOLE and junk payload",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .flags = NBD_CMD_FLAG_NO_HOLE,
				   .at = AT_END, .off = -4096, .len = 4096, .pl = PL_JUNK },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-df", "READ with DF, SEND_DF not advertised",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .flags = NBD_CMD_FLAG_DF,
				   .at = AT_END, .off = -4096, .len = 4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-fua", "READ with FUA (the protocol: MUST be accepted when SEND_FUA is set)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .flags = NBD_CMD_FLAG_FUA,
				   .at = AT_END, .off = -4096, .len = 4096 },
	  .want = SUCCESS(USABLE) },
	{ "flush-fua", "FLUSH with FUA (old qemu sends it; MUST be accepted)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_FLUSH, .flags = NBD_CMD_FLAG_FUA },
	  .want = SUCCESS(USABLE) },
	{ "read-len-0", "READ of 0 bytes",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .off = -4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "write-len-0", "WRITE of 0 bytes",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "trim-len-0", "TRIM of 0 bytes",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_TRIM, .at = AT_END, .off = -4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "write-zeroes-len-0", "WRITE_ZEROES of 0 bytes",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE_ZEROES, .at = AT_END, .off = -4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-at-end", "READ of 4 KiB at offset = size",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .len = 4096 },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-straddle-end", "READ of 4 KiB at size - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .off = -2048,
				   .len = 4096 }, .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-wrap-2^64", "READ of 8 KiB at 2^64 - 4 KiB (offset + length wraps)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_ABS, .off = -4096,
				   .len = 8192 }, .want = ERR(NBD_EINVAL, USABLE) },
	{ "read-64m", "READ of 64 MiB at 0",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .len = 64 * MIB },
	  .want = ERR(NBD_EOVERFLOW, USABLE) },
	{ "read-32m-plus-1", "READ of 32 MiB + 1 at 0",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .len = 32 * MIB + 1 },
	  .want = ERR(NBD_EOVERFLOW, USABLE) },
	{ "read-32m", "READ of the export's last 32 MiB (the maximum block size)",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END,
				   .off = -32 * (int64_t)MIB, .len = 32 * MIB },
	  .want = SUCCESS(USABLE) },
	{ "read-last-byte", "READ of the export's last byte",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .off = -1, .len = 1 },
	  .want = SUCCESS(USABLE) },
	{ "write-last-byte", "WRITE of the export's last byte",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -1, .len = 1,
				   .pl = PL_PATTERN }, .want = SUCCESS(USABLE) },
	{ "write-past-end", "WRITE of 4 KiB of junk at offset = size",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .len = 4096,
				   .pl = PL_JUNK }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-straddle-end", "WRITE of 4 KiB of junk at size - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -2048,
				   .len = 4096, .pl = PL_JUNK }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-wrap-2^64", "WRITE of 4 KiB of junk at 2^64 - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_ABS, .off = -2048,
				   .len = 4096, .pl = PL_JUNK }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-stream-past-end", "WRITE of 2 MiB of junk at size - 1 MiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -(int64_t)MIB,
				   .len = 2 * MIB, .pl = PL_JUNK }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-stream-unknown-flag", "WRITE of 2 MiB of junk with command flag 0x0100",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .flags = 0x0100, .at = AT_END,
				   .off = -2 * (int64_t)MIB, .len = 2 * MIB, .pl = PL_JUNK },
	  .want = ERR(NBD_EINVAL, USABLE) },
	{ "write-2m-read-back", "WRITE of 2 MiB, READ it back",
	  C_TX, tx_write_read_back, .arg = 2 * MIB, .want = CHECKS("the data read back") },
	{ "write-32m-read-back", "WRITE of 32 MiB (the maximum block size), READ it back",
	  C_TX, tx_write_read_back, .arg = 32 * MIB, .want = CHECKS("the data read back") },
	{ "write-dribble-64k", "WRITE of 64 KiB: header byte by byte, payload in 1000-byte "
	  "pieces; READ it back",
	  C_TX, tx_write_read_back, .arg = 64 * KIB, .tx = { .pl_bytes = 1 },
	  .want = CHECKS("the data read back") },
	{ "write-dribble-768k", "WRITE of 768 KiB: header byte by byte, payload in 1000-byte "
	  "pieces; READ it back",
	  C_TX, tx_write_read_back, .arg = 768 * KIB, .tx = { .pl_bytes = 1 },
	  .want = CHECKS("the data read back") },
	{ "write-64m-header-only", "WRITE header of 64 MiB, no payload",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .len = 64 * MIB },
	  .want = ERR(NBD_EOVERFLOW, THEN_CLOSED) },
	{ "trim-past-end", "TRIM of 4 KiB at offset = size",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_TRIM, .at = AT_END, .len = 4096 },
	  .want = ERR(NBD_ENOSPC, USABLE) },
	{ "trim-straddle-end", "TRIM of 4 KiB at size - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_TRIM, .at = AT_END, .off = -2048,
				   .len = 4096 }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "trim-wrap-2^64", "TRIM of 4 KiB at 2^64 - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_TRIM, .at = AT_ABS, .off = -2048,
				   .len = 4096 }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-zeroes-past-end", "WRITE_ZEROES of 4 KiB at offset = size",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE_ZEROES, .at = AT_END, .len = 4096 },
	  .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-zeroes-straddle-end", "WRITE_ZEROES of 4 KiB at size - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE_ZEROES, .at = AT_END, .off = -2048,
				   .len = 4096 }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "write-zeroes-wrap-2^64", "WRITE_ZEROES of 4 KiB at 2^64 - 2 KiB",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE_ZEROES, .at = AT_ABS, .off = -2048,
				   .len = 4096 }, .want = ERR(NBD_ENOSPC, USABLE) },
	{ "truncated-request-header", "10 of the 28 bytes of a READ header, then EOF",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .off = -4096,
				   .len = 4096, .hdr_bytes = 10 }, .want = CLOSED },
	{ "write-close-mid-payload", "WRITE of 1 MiB, 1000 bytes of payload, then EOF",
	  C_TX, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -(int64_t)MIB,
				   .len = MIB, .pl = PL_PATTERN, .pl_bytes = 1000 },
	  .want = CLOSED },
	{ "disc-in-flight", "16 READs of 256 KiB and DISC in one write",
	  C_TX, tx_disc_inflight, .want = CHECKS("16 replies, none for DISC, then close") },
	{ "pipeline-1000", "1000 READs of 4 KiB sent before reading any reply",
	  C_TX, tx_pipeline, .arg = 1000, .want = CHECKS("1000 replies with matching handles") },
	{ "pipeline-mixed", "600 good and bad requests, sent while replies are read",
	  C_TX, tx_pipeline_mixed, .want = CHECKS("each request its own answer") },
	{ "reply-stall-64m", "64 READs of 1 MiB, replies unread for 0.5 s",
	  C_TX, tx_stall, .want = CHECKS("others served during the stall, then all replies") },
	{ "vanish-with-replies-pending", "64 READs of 1 MiB then close, 8 times",
	  C_TX, tx_vanish_pending, .want = CHECKS("server still alive") },

	/* --- transmission on the read-only server ---------------------------- */
	{ "ro-flags", "transmission flags of a --read-only export",
	  C_TX | C_RO, ro_flags, .want = CHECKS("READ_ONLY set") },
	{ "ro-read", "READ of 4 KiB",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_READ, .at = AT_END, .off = -4096,
					  .len = 4096 }, .want = SUCCESS(USABLE) },
	{ "ro-write", "WRITE of 4 KiB of junk",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .off = -4096,
					  .len = 4096, .pl = PL_JUNK },
	  .want = ERR(NBD_EPERM, USABLE) },
	{ "ro-write-fua", "WRITE with FUA of 4 KiB of junk",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_WRITE, .flags = NBD_CMD_FLAG_FUA,
					  .at = AT_END, .off = -4096, .len = 4096,
					  .pl = PL_JUNK }, .want = ERR(NBD_EPERM, USABLE) },
	{ "ro-trim", "TRIM of 4 KiB",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_TRIM, .at = AT_END, .off = -4096,
					  .len = 4096 }, .want = ERR(NBD_EPERM, USABLE) },
	{ "ro-write-zeroes", "WRITE_ZEROES of 4 KiB",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_WRITE_ZEROES, .at = AT_END,
					  .off = -4096, .len = 4096 },
	  .want = ERR(NBD_EPERM, USABLE) },
	{ "ro-write-past-end", "WRITE of 4 KiB of junk at offset = size",
	  C_TX | C_RO, tx_generic, .tx = { .type = NBD_CMD_WRITE, .at = AT_END, .len = 4096,
					  .pl = PL_JUNK },
	  .want = ERR2(NBD_EPERM, NBD_ENOSPC, USABLE) },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* --- the runner -------------------------------------------------------------- */

enum mode { MODE_HS, MODE_SIMPLE, MODE_STRUCTURED };

static const char *const mode_prefix[] = { "handshake/", "simple/", "structured/" };

struct sel {
	const struct hcase *hc;
	enum mode mode;
	char name[96];
};

/* After a case: the connection answers as its table row says. */
static int then_usable(struct conn *c, struct got *g)
{
	if (c->phase == PH_OPTIONS) {
		if (hs_go(c, NBD_OPT_GO, opt_export, NULL, 0, g) < 0) {
			if (g->what == G_OPTREP)
				fmt_rep(g->text, sizeof g->text, g->val);
			text_wrap(g, "then GO: ", "");
			g->what = G_BROKEN;
			return -1;
		}
	}
	if (follow_read(c, g) < 0) {
		if (g->what == G_ERRNO)
			fmt_err(g->text, sizeof g->text, g->val);
		text_wrap(g, "then a valid READ: ", "");
		g->what = G_BROKEN;
		return -1;
	}
	return 0;
}

static bool server_alive(const char *path, struct got *g)
{
	struct conn c;
	int ret;

	conn_init(&c, path);
	ret = conn_go(&c, false, g);
	if (ret == 0) {
		uint8_t buf[512];
		struct req r;

		req_init(&r, &c, 0, NBD_CMD_READ, 0, 0, c.size < 512 ? (uint32_t)c.size : 512);
		r.buf = buf;
		ret = xfer(&c, &r, NULL, g);
		if (ret == 0 && r.error) {
			setgot(g, G_BROKEN, "READ of offset 0 failed with %" PRIu32, r.error);
			ret = -1;
		}
	}
	conn_close(&c);
	return ret == 0;
}

/* Run one case; false when it failed.  *dead is set when the server no
 * longer answers. */
static bool run_one(const struct sel *s, int n, bool *dead)
{
	const struct hcase *hc = s->hc;
	const char *path = hc->flags & C_RO ? opt_ro_socket : opt_socket;
	char ws[256], gs[TEXT_MAX], extra[TEXT_MAX + 16] = "";
	struct got g, g2;
	struct conn c;
	bool ok = true;
	int64_t t0 = now_ns();

	if (!path) {
		printf("ok %d %s # SKIP needs --ro-socket\n", n, s->name);
		return true;
	}
	memset(&g, 0, sizeof g);
	conn_init(&c, path);
	if (s->mode == MODE_HS) {
		if (conn_open(&c, &g) < 0)
			ok = false;
	} else if (conn_go(&c, s->mode == MODE_STRUCTURED, &g) < 0) {
		ok = false;
	}
	if (!ok) {
		printf("not ok %d %s: setting up: %s\n", n, s->name, got_str(&g, gs, sizeof gs));
		conn_close(&c);
	} else {
		hc->fn(&c, hc, &g);
		ok = matches(&hc->want, &g);
		if (ok && g.what != G_CLOSED && c.fd >= 0) {
			if (hc->want.then & THEN_CLOSED) {
				expect_closed(&c, &g2);
				if (g2.what != G_CLOSED) {
					ok = false;
					snprintf(extra, sizeof extra, ", then %s",
						 got_str(&g2, gs, sizeof gs));
				}
			}
			if (hc->want.then & THEN_USABLE && then_usable(&c, &g2) < 0) {
				ok = false;
				snprintf(extra, sizeof extra, ", %s", g2.text);
			}
		}
		conn_close(&c);
		if (ok)
			printf("ok %d %s\n", n, s->name);
		else
			printf("not ok %d %s: expected %s, got %s%s\n", n, s->name,
			       want_str(&hc->want, ws, sizeof ws),
			       got_str(&g, gs, sizeof gs), extra);
	}
	if (opt_verbose)
		printf("# %s: %.0f ms\n", s->name, (now_ns() - t0) / 1e6);
	if (!server_alive(path, &g2)) {
		printf("not ok %d %s: the server no longer answers after this case: %s\n",
		       n, s->name, got_str(&g2, gs, sizeof gs));
		*dead = true;
		return false;
	}
	return ok;
}

static bool selected(const struct sel *s, const struct hcase *hc,
		     char **pats, int npats)
{
	int i;

	if (npats == 0)
		return true;
	for (i = 0; i < npats; i++)
		if (fnmatch(pats[i], s->name, 0) == 0 || fnmatch(pats[i], hc->name, 0) == 0)
			return true;
	return false;
}

static int select_cases(struct sel *sels, char **pats, int npats)
{
	int n = 0;
	size_t i;
	enum mode m;

	for (i = 0; i < NCASES; i++) {
		const struct hcase *hc = &cases[i];

		for (m = MODE_HS; m <= MODE_STRUCTURED; m++) {
			struct sel *s = &sels[n];

			if (!!(hc->flags & C_HS) != (m == MODE_HS))
				continue;
			s->hc = hc;
			s->mode = m;
			snprintf(s->name, sizeof s->name, "%s%s", mode_prefix[m], hc->name);
			if (selected(s, hc, pats, npats))
				n++;
		}
	}
	return n;
}

/* The hostile region holds a known pattern before any case reads it. */
static int prepare_data(void)
{
	struct conn c;
	struct got g;
	char gs[sizeof g.text];
	int ret;

	conn_init(&c, opt_socket);
	ret = conn_go(&c, false, &g);
	if (ret == 0 && c.ro) {
		fprintf(stderr, "nbd-hostile: '%s' is read-only: data checks off\n", opt_socket);
		opt_verify = false;
	} else if (ret == 0) {
		ret = write_pattern(&c, region_lo(&c), c.size, &g);
	}
	if (ret < 0)
		printf("Bail out! cannot write the data pattern to '%s': %s\n",
		       opt_socket, got_str(&g, gs, sizeof gs));
	conn_close(&c);
	return ret;
}

/* --- the good client ------------------------------------------------------- */

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One good-client operation: returns 0, or -1 with what/g saying why. */
static int good_op(struct conn *c, uint64_t *rng, uint8_t *wbuf, uint8_t *rbuf,
		   uint64_t *vbytes, char *what, size_t whatlen, struct got *g)
{
	static const uint32_t lens[] = { 512, 4096, 64 * KIB, MIB };
	uint64_t span = c->size / 2, seed = rng_next(rng), off;
	uint32_t len = lens[rng_next(rng) % 4], op = (uint32_t)(rng_next(rng) % 10), i;
	struct req r;
	size_t bad;

	if (len > span)
		len = (uint32_t)span;
	off = rng_next(rng) % ((span - len) / 512 + 1) * 512;
	if (op == 7 && (c->tflags & NBD_FLAG_SEND_FLUSH)) {
		snprintf(what, whatlen, "FLUSH");
		req_init(&r, c, 0, NBD_CMD_FLUSH, 0, 0, 0);
		if (xfer(c, &r, NULL, g) < 0)
			return -1;
		goto check_error;
	}
	if (op >= 8) {
		/* Eight writes of 64 KiB in flight, then eight reads. */
		enum { N = 8 };
		struct req reqs[N];
		uint32_t blen = 64 * KIB;
		uint64_t base = rng_next(rng) % ((span - N * blen) / blen + 1) * blen;
		enum io io = IO_OK;

		snprintf(what, whatlen, "8 pipelined WRITEs then READs at %" PRIu64, base);
		for (i = 0; i < N && io == IO_OK; i++) {
			uint8_t h[NBD_REQUEST_SIZE];

			req_init(&reqs[i], c, i, NBD_CMD_WRITE, 0, base + i * blen, blen);
			pat_fill(wbuf + i * blen, reqs[i].off, blen, seed);
			put_req(h, NBD_REQUEST_MAGIC, &reqs[i]);
			io = send_all(c, h, sizeof h);
			if (io == IO_OK)
				io = send_all(c, wbuf + i * blen, blen);
		}
		if (io != IO_OK) {
			from_io(g, c, io, "sending WRITEs");
			return -1;
		}
		if (wait_replies(c, reqs, N, g) < 0)
			return -1;
		for (i = 0; i < N; i++) {
			uint8_t h[NBD_REQUEST_SIZE];

			if (reqs[i].error) {
				setgot(g, G_ERRNO, "%s", "");
				g->val = reqs[i].error;
				return -1;
			}
			req_init(&reqs[i], c, i, NBD_CMD_READ, 0, base + i * blen, blen);
			reqs[i].buf = rbuf + i * blen;
			put_req(h, NBD_REQUEST_MAGIC, &reqs[i]);
			io = send_all(c, h, sizeof h);
			if (io != IO_OK) {
				from_io(g, c, io, "sending READs");
				return -1;
			}
		}
		if (wait_replies(c, reqs, N, g) < 0)
			return -1;
		for (i = 0; i < N; i++) {
			if (reqs[i].error) {
				setgot(g, G_ERRNO, "%s", "");
				g->val = reqs[i].error;
				return -1;
			}
			if (opt_verify && (bad = pat_check(reqs[i].buf, reqs[i].off, blen, seed)) < blen) {
				setgot(g, G_BROKEN, "data mismatch at offset %" PRIu64,
				       reqs[i].off + bad);
				return -1;
			}
		}
		*vbytes += N * blen;
		return 0;
	}
	if (op == 6 && (c->tflags & NBD_FLAG_SEND_WRITE_ZEROES)) {
		snprintf(what, whatlen, "WRITE_ZEROES at %" PRIu64 "+%" PRIu32, off, len);
		req_init(&r, c, 0, NBD_CMD_WRITE_ZEROES,
			 rng_next(rng) & 1 ? NBD_CMD_FLAG_NO_HOLE : 0, off, len);
		if (xfer(c, &r, NULL, g) < 0)
			return -1;
		if (r.error)
			goto check_error;
		memset(wbuf, 0, len);
	} else {
		snprintf(what, whatlen, "WRITE at %" PRIu64 "+%" PRIu32, off, len);
		pat_fill(wbuf, off, len, seed);
		req_init(&r, c, 0, NBD_CMD_WRITE,
			 (c->tflags & NBD_FLAG_SEND_FUA) && rng_next(rng) % 4 == 0 ?
			 NBD_CMD_FLAG_FUA : 0, off, len);
		if (xfer(c, &r, wbuf, g) < 0)
			return -1;
		if (r.error)
			goto check_error;
	}
	snprintf(what + strlen(what), whatlen - strlen(what), ", READ back");
	req_init(&r, c, 0, NBD_CMD_READ, 0, off, len);
	r.buf = rbuf;
	if (xfer(c, &r, NULL, g) < 0)
		return -1;
	if (r.error)
		goto check_error;
	if (opt_verify && memcmp(rbuf, wbuf, len) != 0) {
		for (bad = 0; rbuf[bad] == wbuf[bad]; bad++)
			;
		setgot(g, G_BROKEN, "data mismatch at offset %" PRIu64 ": 0x%02x, want 0x%02x",
		       off + bad, rbuf[bad], wbuf[bad]);
		return -1;
	}
	*vbytes += len;
	return 0;

check_error:
	if (r.error) {
		setgot(g, G_ERRNO, "%s", "");
		g->val = r.error;
		return -1;
	}
	return 0;
}

/*
 * A well-behaved client: write a pattern, read it back, compare; now and
 * then WRITE_ZEROES, FLUSH, or eight requests in flight; reconnect every
 * 256 operations, switching between simple and structured replies.  Runs
 * for SECONDS or until SIGTERM/SIGINT; exit status 1 on any error.
 */
static int good_client(const char *path, int seconds)
{
	struct sigaction sa = { .sa_handler = on_stop };
	uint64_t rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32), ops = 0, vbytes = 0;
	int64_t t0 = now_ns(), end = t0 + (int64_t)seconds * 1000000000;
	uint8_t *wbuf = xmalloc(MIB), *rbuf = xmalloc(MIB);
	unsigned nconn = 0;
	struct conn c;
	struct got g;
	char what[160] = "connect", gs[sizeof g.text];
	int rc = 0;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rng |= 1;
	conn_init(&c, path);
	while (!stop_flag && now_ns() < end) {
		if (c.fd < 0) {
			conn_init(&c, path);
			snprintf(what, sizeof what, "connect (%s replies)",
				 nconn & 1 ? "structured" : "simple");
			if (conn_go(&c, nconn & 1, &g) < 0) {
				rc = 1;
				break;
			}
			nconn++;
			if (c.ro || c.size < 2 * MIB) {
				setgot(&g, G_BROKEN, "export is read-only or smaller than 2 MiB");
				rc = 1;
				break;
			}
		}
		if (good_op(&c, &rng, wbuf, rbuf, &vbytes, what, sizeof what, &g) < 0) {
			rc = 1;
			break;
		}
		if (++ops % 256 == 0) {
			struct req r;
			uint8_t h[NBD_REQUEST_SIZE];

			req_init(&r, &c, 0, NBD_CMD_DISC, 0, 0, 0);
			put_req(h, NBD_REQUEST_MAGIC, &r);
			send_all(&c, h, sizeof h);
			conn_close(&c);
		}
	}
	if (rc)
		fprintf(stderr, "good-client: %s: %s\n", what, got_str(&g, gs, sizeof gs));
	conn_close(&c);
	if (rc == 0 && ops == 0) {
		fprintf(stderr, "good-client: no operation completed\n");
		rc = 1;
	}
	printf("good-client: %" PRIu64 " operations on %u connections in %.1f s, "
	       "%" PRIu64 " bytes %s, %s\n", ops, nconn, (now_ns() - t0) / 1e9,
	       vbytes, opt_verify ? "verified" : "transferred (no data checks)",
	       rc ? "FAILED" : "no errors");
	free(wbuf);
	free(rbuf);
	return rc;
}

/* --- main ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nbd-hostile [OPTIONS] SOCKET [CASE...]\n"
		"       nbd-hostile --list\n"
		"       nbd-hostile [--no-data] --good-client SECONDS SOCKET\n"
		"Run hostile NBD client cases against the server on SOCKET and print\n"
		"TAP lines; exit 1 if any failed.  CASE is a name or glob matched\n"
		"against 'handshake/NAME', 'simple/NAME', 'structured/NAME' or NAME.\n"
		"  --ro-socket PATH    also run the cases for a --read-only server on PATH\n"
		"  --no-data           do not check data (backends that keep none)\n"
		"  --export-name NAME  the export to ask for (default \"vramd\")\n"
		"  --timeout SECONDS   deadline for each socket operation (default 5)\n"
		"  --good-client SECONDS  be a well-behaved client doing verified I/O\n"
		"  -v, --verbose       print timings and the server's error messages\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ro-socket", required_argument, NULL, 'r' },
		{ "no-data", no_argument, NULL, 'n' },
		{ "export-name", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "good-client", required_argument, NULL, 'g' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sel *sels;
	int c, i, n, good_seconds = -1, failed = 0;
	bool list = false, dead = false, need_data = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			opt_ro_socket = optarg;
			break;
		case 'n':
			opt_verify = false;
			break;
		case 'e':
			opt_export = optarg;
			break;
		case 't':
			opt_timeout_ms = atoi(optarg) * 1000;
			if (opt_timeout_ms <= 0) {
				fprintf(stderr, "nbd-hostile: bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'g':
			good_seconds = atoi(optarg);
			if (good_seconds <= 0) {
				fprintf(stderr, "nbd-hostile: bad --good-client '%s'\n", optarg);
				return 2;
			}
			break;
		case 'l':
			list = true;
			break;
		case 'v':
			opt_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	sels = xmalloc(3 * NCASES * sizeof *sels);
	if (list) {
		char ws[256];

		n = select_cases(sels, argv + optind, argc - optind);
		for (i = 0; i < n; i++)
			printf("%-45s %s; expect %s\n", sels[i].name, sels[i].hc->doc,
			       want_str(&sels[i].hc->want, ws, sizeof ws));
		free(sels);
		return 0;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	opt_socket = argv[optind++];
	if (good_seconds > 0) {
		free(sels);
		return good_client(opt_socket, good_seconds);
	}
	n = select_cases(sels, argv + optind, argc - optind);
	if (n == 0) {
		fprintf(stderr, "nbd-hostile: no case matches\n");
		return 2;
	}
	printf("1..%d\n", n);
	for (i = 0; i < n; i++)
		need_data |= !(sels[i].hc->flags & C_RO);
	if (opt_verify && need_data && prepare_data() < 0)
		return 1;
	for (i = 0; i < n && !dead; i++)
		failed += !run_one(&sels[i], i + 1, &dead);
	if (dead)
		printf("Bail out! the server on '%s' no longer answers\n",
		       sels[i - 1].hc->flags & C_RO ? opt_ro_socket : opt_socket);
	printf("# %d of %d cases failed%s\n", failed, n, dead ? " (then stopped)" : "");
	free(sels);
	return failed ? 1 : 0;
}
