/* NBD transmission: request decoding, validation, batching and replies.
 * See session.h for the contract; the error table is in RUNBOOK.md
 * ("vramd's answers to bad requests") and tested by tests/test-hostile.sh. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "nbd-proto.h"
#include "session.h"

/* Room kept free at the end of tx so that any reply in a batch can grow
 * into an error chunk (6 bytes more each) without a second pass. */
#define TX_SLACK (8u * SESSION_BATCH + 64)
#define MAX_ERR_REPLY 34 /* ERROR_OFFSET chunk */
#define SEG_MIN (64u << 10)
#define WSEG_MIN (256u << 10)

enum { PK_SIMPLE, PK_SIMPLE_READ, PK_STRUCT_NONE, PK_STRUCT_READ, PK_RSEG_SIMPLE,
       PK_RSEG_STRUCT, PK_WSEG };

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Maps a host errno to the NBD error sent on the wire. */
static uint32_t nbd_errno(int err)
{
	switch (err) {
	case 0: return 0;
	case EPERM: case EROFS: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL: return NBD_EINVAL;
	case ENOSPC: case EFBIG: case EDQUOT: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP: return NBD_ENOTSUP;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}

void export_init_flags(struct export *e)
{
	e->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN;
	if (e->read_only)
		e->tflags |= NBD_FLAG_READ_ONLY;
	else
		e->tflags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
}

uint32_t session_tx_space(const struct export *ex)
{
	return ex->ops->register_buffers ? SESSION_TX_SPACE : SESSION_TX_CAP;
}

void session_init(struct session *s, const struct export *ex, void *bw,
		  struct worker_stats *st, bool structured, uint8_t *rx, uint8_t *tx)
{
	memset(s, 0, sizeof *s);
	s->ex = ex;
	s->bw = bw;
	s->st = st;
	s->structured = structured;
	s->rx = rx;
	s->tx = tx;
	s->tx_space = session_tx_space(ex);
	s->state = SS_HEADER;
}

void session_direct_done(struct session *s, uint32_t n)
{
	const struct backend_ops *ops = s->ex->ops;
	int r = 0;

	s->direct += n;
	s->direct_len -= n;
	s->direct_got += n;
	s->s_off += n;
	s->s_left -= n;
	/* The region goes back whole: once full, at the end of the payload,
	 * or when the receive failed (n = 0; what landed still counts). */
	if (n == 0 || s->direct_len == 0 || s->s_left == 0) {
		if (ops->direct_done)
			r = ops->direct_done(s->bw, s->direct - s->direct_got, s->direct_got,
					     s->s_off - s->direct_got);
		s->direct = NULL;
		if (r < 0 && !s->s_error)
			s->s_error = -r;
	}
	if (s->s_left == 0) {
		s->state = SS_WRITE_REPLY;
		s->hdr_only = true;
	}
}

void session_compact_rx(struct session *s)
{
	if (s->rx_head == 0)
		return;
	memmove(s->rx, s->rx + s->rx_head, s->rx_tail - s->rx_head);
	s->rx_tail -= s->rx_head;
	s->rx_head = 0;
}

void session_compact_tx(struct session *s)
{
	uint32_t left = s->tx_len - s->tx_sent;

	/* Replies go on at the end while a whole SESSION_TX_CAP fits there,
	 * once they have moved past SESSION_TX_SMALL; small ones start over
	 * at the beginning as soon as all is sent.  Otherwise what is left
	 * to send moves to the beginning once it is small; in a region of
	 * just SESSION_TX_CAP, also once half of it has left, or a large
	 * read would wait for its whole previous segment to be sent.
	 * (Moving a large tail after every partial send would cost a
	 * memmove per send.) */
	if (s->tx_len + SESSION_TX_CAP <= s->tx_space && (left || s->tx_len >= SESSION_TX_SMALL))
		return;
	if (left > (64u << 10) && (s->tx_space > SESSION_TX_CAP || s->tx_sent < SESSION_TX_CAP / 2))
		return;
	memmove(s->tx, s->tx + s->tx_sent, left);
	s->tx_len = left;
	s->tx_sent = 0;
}

static uint32_t tx_room(const struct session *s)
{
	uint32_t unsent = s->tx_len - s->tx_sent + TX_SLACK;
	uint32_t end = s->tx_len + TX_SLACK;
	uint32_t room = unsent >= SESSION_TX_CAP ? 0 : SESSION_TX_CAP - unsent;

	if (end >= s->tx_space)
		return 0;
	return room < s->tx_space - end ? room : s->tx_space - end;
}

/* --- reply writers (space checked by the caller) ----------------------- */

static void put_simple(struct session *s, uint64_t handle, int err)
{
	uint8_t *p = s->tx + s->tx_len;

	nbd_put32(p, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put32(p + 4, nbd_errno(err));
	nbd_put64(p + 8, handle);
	s->tx_len += NBD_SIMPLE_REPLY_SIZE;
}

static void put_chunk_hdr(uint8_t *p, uint16_t flags, uint16_t type, uint64_t handle, uint32_t len)
{
	nbd_put32(p, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(p + 4, flags);
	nbd_put16(p + 6, type);
	nbd_put64(p + 8, handle);
	nbd_put32(p + 16, len);
}

/* ERROR (or ERROR_OFFSET when with_off) chunk with DONE, no message. */
static uint32_t put_error_chunk(uint8_t *p, uint64_t handle, int err, bool with_off, uint64_t off)
{
	put_chunk_hdr(p, NBD_REPLY_FLAG_DONE,
		      with_off ? NBD_REPLY_TYPE_ERROR_OFFSET : NBD_REPLY_TYPE_ERROR,
		      handle, with_off ? 14 : 6);
	nbd_put32(p + 20, nbd_errno(err));
	nbd_put16(p + 24, 0);
	if (with_off)
		nbd_put64(p + 26, off);
	return with_off ? 34 : 26;
}

/* The final reply of a request that carries no data back. */
static void put_reply(struct session *s, uint64_t handle, int err)
{
	if (!s->structured)
		put_simple(s, handle, err);
	else if (err)
		s->tx_len += put_error_chunk(s->tx + s->tx_len, handle, err, false, 0);
	else {
		put_chunk_hdr(s->tx + s->tx_len, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, handle, 0);
		s->tx_len += NBD_STRUCTURED_HDR_SIZE;
	}
}

static void count(struct session *s, unsigned cmd, uint64_t bytes, int err, uint64_t t0)
{
	struct cmd_stats *c = &s->st->cmd[cmd];

	/* Single writer: plain increments published with relaxed stores. */
	__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
	if (err)
		__atomic_store_n(&c->errors, c->errors + 1, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&c->bytes, c->bytes + bytes, __ATOMIC_RELAXED);
	hist_add(&c->latency_ns, now_ns() - t0);
}

/* Reply at once with an error, nothing queued. */
static void reject(struct session *s, uint64_t handle, unsigned cmd, int err)
{
	put_reply(s, handle, err);
	count(s, cmd, 0, err, s->t_batch);
}

static struct pending *add_pending(struct session *s, unsigned kind, unsigned cmd,
				   uint64_t handle, uint64_t off, uint32_t data_len, uint64_t bytes)
{
	struct pending *p = &s->pending[s->npending++];

	p->tx_pos = s->tx_len;
	p->data_len = data_len;
	p->status = 0;
	p->cmd = (uint8_t)cmd;
	p->kind = (uint8_t)kind;
	p->handle = handle;
	p->offset = off;
	p->bytes = bytes;
	return p;
}

/* Shifts tx[from, tx_len) by delta bytes (either way). */
static void tx_shift(struct session *s, uint32_t from, int64_t delta)
{
	memmove(s->tx + (int64_t)from + delta, s->tx + from, s->tx_len - from);
	s->tx_len = (uint32_t)((int64_t)s->tx_len + delta);
}

/* Waits for the batch, then turns the replies of failed operations into
 * error replies (walking backwards so earlier positions stay valid). */
static void finish_batch(struct session *s)
{
	int i;

	if (s->npending == 0)
		return;
	s->ex->ops->sync(s->bw);
	hist_add(&s->st->inflight, s->npending);
	for (i = (int)s->npending - 1; i >= 0; i--) {
		struct pending *p = &s->pending[i];
		uint8_t *r = s->tx + p->tx_pos;
		int err = p->status;

		if (p->kind == PK_WSEG) {
			if (err && !s->s_error)
				s->s_error = err;
			continue;
		}
		if (p->kind == PK_RSEG_SIMPLE || p->kind == PK_RSEG_STRUCT) {
			if (!err)
				continue;
			/* The last pending of its batch (streams end batches). */
			s->tx_len = p->tx_pos;
			s->st->cmd[STAT_read].errors++;
			if (p->kind == PK_RSEG_SIMPLE) {
				/* Data already promised in a simple reply: the
				 * only honest way out is to close. */
				s->close = true;
				s->close_why = "backend read failed in the middle of a simple reply";
			} else {
				s->tx_len += put_error_chunk(r, p->handle, err, true, p->offset);
			}
			s->state = SS_HEADER;
			s->s_left = 0;
			continue;
		}
		if (err) {
			uint32_t end = p->tx_pos + (p->kind == PK_SIMPLE ? 16 :
				       p->kind == PK_SIMPLE_READ ? 16 + p->data_len :
				       p->kind == PK_STRUCT_NONE ? 20 : 28 + p->data_len);

			switch (p->kind) {
			case PK_SIMPLE:
			case PK_SIMPLE_READ:
				nbd_put32(r + 4, nbd_errno(err));
				tx_shift(s, end, 16 - (int64_t)(end - p->tx_pos));
				break;
			case PK_STRUCT_NONE:
				tx_shift(s, end, 26 - 20);
				put_error_chunk(r, p->handle, err, false, 0);
				break;
			case PK_STRUCT_READ:
				tx_shift(s, end, 34 - (int64_t)(end - p->tx_pos));
				put_error_chunk(r, p->handle, err, true, p->offset);
				break;
			}
		}
		count(s, p->cmd, p->bytes, err, s->t_batch);
	}
	s->npending = 0;
}

/* 0 if the request may run, else the errno for its reply. */
static int check_request(const struct export *ex, uint16_t flags, uint16_t type,
			 uint64_t off, uint32_t len)
{
	uint16_t ok_flags;
	bool writes = false;

	/* The spec makes FUA valid on every command (older clients set it on
	 * FLUSH and READ); it means nothing where nothing is written. */
	switch (type) {
	case NBD_CMD_READ: ok_flags = NBD_CMD_FLAG_FUA; break;
	case NBD_CMD_WRITE: ok_flags = NBD_CMD_FLAG_FUA; writes = true; break;
	case NBD_CMD_TRIM: ok_flags = NBD_CMD_FLAG_FUA; writes = true; break;
	case NBD_CMD_WRITE_ZEROES:
		ok_flags = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
		writes = true;
		break;
	case NBD_CMD_FLUSH:
		return flags & ~NBD_CMD_FLAG_FUA ? EINVAL : 0;
	case NBD_CMD_DISC:
		return 0; /* never answered, whatever its flags: the client is leaving */
	default:
		return EINVAL;
	}
	if (flags & ~ok_flags)
		return EINVAL;
	if (writes && ex->read_only)
		return EPERM;
	if (len == 0)
		return EINVAL;
	if ((type == NBD_CMD_READ || type == NBD_CMD_WRITE) && len > VRAMD_MAX_BLOCK)
		return EOVERFLOW;
	if (off > ex->size || len > ex->size - off)
		return type == NBD_CMD_READ ? EINVAL : ENOSPC;
	return 0;
}

static unsigned stat_cmd(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ: return STAT_read;
	case NBD_CMD_WRITE: return STAT_write;
	case NBD_CMD_FLUSH: return STAT_flush;
	case NBD_CMD_TRIM: return STAT_trim;
	case NBD_CMD_WRITE_ZEROES: return STAT_write_zeroes;
	case NBD_CMD_DISC: return STAT_disc;
	default: return STAT_other;
	}
}

/* Step results. */
enum { BLOCKED = 0, PROGRESS = 1, NEED_SYNC = 2, CLOSE = -1 };

/* Long by design: the NBD request header's checks in the order the
 * protocol states them (size, magic, flags, command, bounds), each an
 * early reply; split, the half-checked header would travel between
 * functions. */
static int step_header(struct session *s)
{
	const struct backend_ops *ops = s->ex->ops;
	const uint8_t *h = s->rx + s->rx_head;
	uint32_t avail = s->rx_tail - s->rx_head, len, hdr;
	uint16_t flags, type;
	uint64_t handle, off;
	unsigned cmd;
	struct pending *p;
	int err, r;

	if (avail < NBD_REQUEST_SIZE || tx_room(s) < MAX_ERR_REPLY)
		return BLOCKED;
	s->hdr_only = false;
	if (nbd_get32(h) != NBD_REQUEST_MAGIC) {
		s->st->protocol_errors++;
		s->close_why = "bad request magic";
		return CLOSE;
	}
	flags = nbd_get16(h + 4);
	type = nbd_get16(h + 6);
	handle = nbd_get64(h + 8);
	off = nbd_get64(h + 16);
	len = nbd_get32(h + 24);
	cmd = stat_cmd(type);
	err = check_request(s->ex, flags, type, off, len);

	if (type == NBD_CMD_WRITE) {
		if (err == EOVERFLOW) {
			/* Skipping up to 4 GiB of payload is not worth it. */
			s->rx_head += NBD_REQUEST_SIZE;
			reject(s, handle, cmd, err);
			s->st->protocol_errors++;
			s->close_why = "write larger than the maximum block size";
			return CLOSE;
		}
		if (err && len == 0) {
			s->rx_head += NBD_REQUEST_SIZE;
			reject(s, handle, cmd, err);
			return PROGRESS;
		}
		if (err || len > SESSION_STREAM_MIN) {
			s->rx_head += NBD_REQUEST_SIZE;
			s->state = err ? SS_WRITE_SKIP : SS_WRITE_STREAM;
			s->s_handle = handle;
			s->s_off = off;
			s->s_left = s->s_len = len;
			s->s_flags = flags;
			s->s_error = err;
			return PROGRESS;
		}
		if (avail < NBD_REQUEST_SIZE + len)
			return BLOCKED;
		p = add_pending(s, s->structured ? PK_STRUCT_NONE : PK_SIMPLE, cmd, handle, off, 0, len);
		r = ops->pwrite(s->bw, h + NBD_REQUEST_SIZE, len, off,
				(flags & NBD_CMD_FLAG_FUA) != 0, &p->status);
		if (r < 0)
			p->status = -r;
		put_reply(s, handle, 0);
		s->rx_head += NBD_REQUEST_SIZE + len;
		return PROGRESS;
	}

	if (err) {
		s->rx_head += NBD_REQUEST_SIZE;
		reject(s, handle, cmd, err);
		return PROGRESS;
	}

	switch (type) {
	case NBD_CMD_READ:
		hdr = s->structured ? NBD_STRUCTURED_HDR_SIZE + 8 : NBD_SIMPLE_REPLY_SIZE;
		if (len > SESSION_STREAM_MIN) {
			s->rx_head += NBD_REQUEST_SIZE;
			s->state = SS_READ_STREAM;
			s->s_handle = handle;
			s->s_off = off;
			s->s_left = s->s_len = len;
			s->s_started = false;
			return PROGRESS;
		}
		if (tx_room(s) < hdr + len)
			return BLOCKED;
		p = add_pending(s, s->structured ? PK_STRUCT_READ : PK_SIMPLE_READ, cmd, handle,
				off, len, len);
		if (s->structured) {
			put_chunk_hdr(s->tx + s->tx_len, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
				      handle, 8 + len);
			nbd_put64(s->tx + s->tx_len + NBD_STRUCTURED_HDR_SIZE, off);
			s->tx_len += hdr;
		} else {
			put_simple(s, handle, 0);
		}
		r = ops->pread(s->bw, s->tx + s->tx_len, len, off, &p->status);
		if (r < 0)
			p->status = -r;
		s->tx_len += len;
		s->rx_head += NBD_REQUEST_SIZE;
		return PROGRESS;

	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		p = add_pending(s, s->structured ? PK_STRUCT_NONE : PK_SIMPLE, cmd, handle, off, 0, len);
		r = (type == NBD_CMD_TRIM ? ops->trim : ops->zero)(s->bw, len, off, &p->status);
		if (r < 0)
			p->status = -r;
		put_reply(s, handle, 0);
		s->rx_head += NBD_REQUEST_SIZE;
		return PROGRESS;

	case NBD_CMD_FLUSH:
		/* Everything before the flush must be complete first. */
		if (s->npending)
			return NEED_SYNC;
		r = ops->flush(s->bw);
		reject(s, handle, cmd, r < 0 ? -r : 0);
		s->rx_head += NBD_REQUEST_SIZE;
		return PROGRESS;

	case NBD_CMD_DISC:
		s->rx_head += NBD_REQUEST_SIZE;
		count(s, cmd, 0, 0, s->t_batch);
		s->close = true;
		s->close_why = NULL;
		return CLOSE;
	}
	return CLOSE; /* not reached: check_request rejects other types */
}

static int step_write_stream(struct session *s)
{
	uint32_t n = s->rx_tail - s->rx_head;
	struct pending *p;
	int r;

	bool fua = (s->s_flags & NBD_CMD_FLAG_FUA) != 0;
	/* A FUA write goes through rx: its segments are complete before the
	 * reply, as pwrite() promises for fua. */
	bool direct = s->state == SS_WRITE_STREAM && !s->s_error && !fua && s->ex->ops->direct;

	if (n > s->s_left)
		n = s->s_left;
	if (n == 0) {
		/* What rx held is written; the rest can land in place (unless
		 * a region is lent already: a receive may be filling it). */
		if (direct && !s->direct) {
			s->direct_got = 0;
			s->direct_len = s->s_left;
			s->direct = s->ex->ops->direct(s->bw, s->s_off, &s->direct_len);
		}
		return BLOCKED;
	}
	/* Otherwise gather a worthwhile segment first: each one ends a batch,
	 * and on a GPU each costs a synchronisation.  rx has room for it. */
	if (s->state == SS_WRITE_STREAM && !direct && n < s->s_left && n < WSEG_MIN)
		return BLOCKED;
	if (s->state == SS_WRITE_STREAM && !s->s_error) {
		p = add_pending(s, PK_WSEG, STAT_write, s->s_handle, s->s_off, 0, 0);
		r = s->ex->ops->pwrite(s->bw, s->rx + s->rx_head, n, s->s_off, fua, &p->status);
		if (r < 0)
			p->status = -r;
	}
	s->rx_head += n;
	s->s_off += n;
	s->s_left -= n;
	if (s->s_left == 0)
		s->state = SS_WRITE_REPLY;
	return s->state == SS_WRITE_REPLY ? NEED_SYNC : PROGRESS;
}

static int step_write_reply(struct session *s)
{
	if (tx_room(s) < MAX_ERR_REPLY)
		return BLOCKED;
	put_reply(s, s->s_handle, s->s_error);
	count(s, STAT_write, s->s_len, s->s_error, s->t_batch);
	s->state = SS_HEADER;
	return PROGRESS;
}

static int step_read_stream(struct session *s)
{
	uint32_t hdr = s->structured ? NBD_STRUCTURED_HDR_SIZE + 8 :
		       s->s_started ? 0 : NBD_SIMPLE_REPLY_SIZE;
	uint32_t room = tx_room(s), seg;
	struct pending *p;
	int r;

	if (room <= hdr)
		return BLOCKED;
	seg = room - hdr;
	if (seg > s->s_left)
		seg = s->s_left;
	if (seg < s->s_left && seg < SEG_MIN)
		return BLOCKED; /* wait for tx to drain rather than send slivers */
	p = add_pending(s, s->structured ? PK_RSEG_STRUCT : PK_RSEG_SIMPLE, STAT_read,
			s->s_handle, s->s_off, seg, 0);
	if (s->structured) {
		put_chunk_hdr(s->tx + s->tx_len, seg == s->s_left ? NBD_REPLY_FLAG_DONE : 0,
			      NBD_REPLY_TYPE_OFFSET_DATA, s->s_handle, 8 + seg);
		nbd_put64(s->tx + s->tx_len + NBD_STRUCTURED_HDR_SIZE, s->s_off);
		s->tx_len += hdr;
	} else if (!s->s_started) {
		put_simple(s, s->s_handle, 0);
	}
	r = s->ex->ops->pread(s->bw, s->tx + s->tx_len, seg, s->s_off, &p->status);
	if (r < 0)
		p->status = -r;
	s->tx_len += seg;
	s->s_started = true;
	s->s_off += seg;
	s->s_left -= seg;
	if (s->s_left == 0) {
		s->state = SS_HEADER;
		count(s, STAT_read, s->s_len, 0, s->t_batch);
	}
	/* A segment ends its batch so that a failure can cut tx right here. */
	return NEED_SYNC;
}

bool session_receive_ahead(const struct session *s)
{
	uint32_t pos = s->rx_head, n, len;
	const uint8_t *h;
	bool waits = false;

	if (s->state != SS_HEADER)
		return s->state == SS_READ_STREAM;
	for (n = 0; n < 64 && !waits && s->rx_tail - pos >= NBD_REQUEST_SIZE; n++) {
		h = s->rx + pos;
		len = nbd_get16(h + 6) == NBD_CMD_WRITE ? nbd_get32(h + 24) : 0;
		if (len > SESSION_STREAM_MIN)
			return false; /* streamed: the backend may take it in place */
		waits = nbd_get16(h + 6) != NBD_CMD_WRITE || (nbd_get16(h + 4) & NBD_CMD_FLAG_FUA);
		pos += NBD_REQUEST_SIZE + len;
	}
	/* One whole request and nothing after it: the client waits for its
	 * reply (queue depth 1) and sends nothing meanwhile. */
	if (n == 1 && pos == s->rx_tail)
		return false;
	return waits || n == 64;
}

int session_process(struct session *s)
{
	int r = PROGRESS;

	while (!s->close && r != CLOSE) {
		switch (s->state) {
		case SS_HEADER: r = step_header(s); break;
		case SS_WRITE_STREAM:
		case SS_WRITE_SKIP: r = step_write_stream(s); break;
		case SS_WRITE_REPLY: r = step_write_reply(s); break;
		case SS_READ_STREAM: r = step_read_stream(s); break;
		}
		if (r == BLOCKED)
			break;
		if (r == NEED_SYNC || s->npending == SESSION_BATCH)
			finish_batch(s);
	}
	finish_batch(s);
	if (r == CLOSE)
		s->close = true;
	return s->close ? -1 : 0;
}
