/* Unit tests for tx's region in servers/session.c (session.h, "tx holds at
 * most SESSION_TX_CAP unsent bytes"): with the region of a backend that
 * DMAs into tx, large replies move on through it and wrap near its end,
 * small ones start over at its beginning once sent; in the plain region
 * (ram backend) every reply starts near its beginning.  In both, with whole
 * and partial sends, the unsent bytes never pass SESSION_TX_CAP nor the
 * region its size, and every reply the client receives carries its
 * handle and the export's bytes. */
#include <stdlib.h>
#include <string.h>

#include "nbd-proto.h"
#include "session-rig.h"
#include "unit.h"

#define EXPORT_SIZE (8u << 20)
#define MAX_REQS 4096

static struct export ex;
static struct worker_stats st;
static void *bw;
static uint8_t *rx, *tx, *out;
static size_t out_len;
static struct { uint64_t off; uint32_t len; } reqs[MAX_REQS];
static unsigned nreqs;
static uint32_t max_unsent, max_end;

static uint8_t pat(uint64_t o)
{
	return (uint8_t)((o >> 12) * 31 + o * 7 + 1);
}

static void request(struct session *s, uint64_t off, uint32_t len)
{
	uint8_t *h = s->rx + s->rx_tail;

	nbd_put32(h, NBD_REQUEST_MAGIC);
	nbd_put16(h + 4, 0);
	nbd_put16(h + 6, NBD_CMD_READ);
	nbd_put64(h + 8, nreqs);
	nbd_put64(h + 16, off);
	nbd_put32(h + 24, len);
	s->rx_tail += NBD_REQUEST_SIZE;
	reqs[nreqs].off = off;
	reqs[nreqs].len = len;
	nreqs++;
}

/* Processes, then "sends" up to chunk bytes (0: all), as the worker does
 * after a send completes. */
static void step(struct session *s, uint32_t chunk)
{
	uint32_t n;

	session_compact_rx(s);
	CHECK(session_process(s) == 0);
	if (s->tx_len - s->tx_sent > max_unsent)
		max_unsent = s->tx_len - s->tx_sent;
	if (s->tx_len > max_end)
		max_end = s->tx_len;
	n = s->tx_len - s->tx_sent;
	if (chunk && n > chunk)
		n = chunk;
	memcpy(out + out_len, s->tx + s->tx_sent, n);
	out_len += n;
	s->tx_sent += n;
	session_compact_tx(s);
}

/* Everything received: each simple reply in order, no error, its handle,
 * the export's bytes. */
static void check_replies(void)
{
	size_t pos = 0;
	unsigned i;
	uint32_t j, bad = 0;

	for (i = 0; i < nreqs && pos + 16 <= out_len; i++) {
		CHECK(nbd_get32(out + pos) == NBD_SIMPLE_REPLY_MAGIC);
		CHECK(nbd_get32(out + pos + 4) == 0);
		CHECK(nbd_get64(out + pos + 8) == i);
		pos += 16;
		for (j = 0; j < reqs[i].len && pos + j < out_len; j++)
			bad += out[pos + j] != pat(reqs[i].off + j);
		pos += reqs[i].len;
	}
	CHECK(i == nreqs);
	CHECK(pos == out_len);
	CHECK(bad == 0);
}

/* rounds of `per` reads of len bytes each, sent chunk bytes at a time;
 * returns where in tx the last round's first reply began. */
static uint32_t run(struct session *s, unsigned rounds, unsigned per, uint32_t len, uint32_t chunk)
{
	uint32_t first = 0;
	unsigned r, k;

	for (r = 0; r < rounds; r++) {
		for (k = 0; k < per; k++)
			request(s, (uint64_t)(nreqs * 4096u + k * len) % (EXPORT_SIZE - len), len);
		first = s->tx_len;
		for (k = 0; s->rx_head < s->rx_tail || s->state != SS_HEADER ||
			    s->tx_sent < s->tx_len; k++) {
			if (k == 100000) {
				CHECK(!"the session stalled");
				return first;
			}
			step(s, chunk);
		}
	}
	return first;
}

static void start(struct session *s, uint32_t space)
{
	session_init(s, &ex, bw, &st, false, rx, tx);
	s->tx_space = space;
	nreqs = 0;
	out_len = 0;
	max_unsent = max_end = 0;
}

int main(void)
{
	static struct session s;
	static uint8_t buf[1 << 16];
	uint32_t pos[8];
	uint64_t o;
	unsigned i;
	int status;

	out = malloc(64u << 20);
	if (session_rig_open(&ex, EXPORT_SIZE, &bw, &rx, &tx) < 0 || !out)
		return 1;
	for (o = 0; o < EXPORT_SIZE; o += sizeof buf) {
		for (uint32_t j = 0; j < sizeof buf; j++)
			buf[j] = pat(o + j);
		CHECK(ex.ops->pwrite(bw, buf, sizeof buf, o, false, &status) == 0);
	}
	ex.ops->sync(bw);
	CHECK(session_tx_space(&ex) == SESSION_TX_CAP); /* no DMA into tx */

	/* Region of a DMA backend, 1 MiB reads sent whole: each reply starts
	 * where the last ended, until the region wraps. */
	start(&s, SESSION_TX_SPACE);
	for (i = 0; i < 8; i++)
		pos[i] = run(&s, 1, 1, 1u << 20, 0);
	CHECK(pos[0] == 0 && pos[1] == (1u << 20) + 16 && pos[2] == (2u << 20) + 32);
	CHECK(pos[3] == 0 && pos[4] == (1u << 20) + 16); /* 3 MiB + 48 + a whole CAP would not fit */
	CHECK(max_end <= SESSION_TX_SPACE && max_unsent <= SESSION_TX_CAP);
	check_replies();

	/* Small replies start over once sent. */
	start(&s, SESSION_TX_SPACE);
	CHECK(run(&s, 4, 32, 4096, 0) == 0);
	CHECK(s.tx_len == 0);
	check_replies();

	/* Partial sends, a mix of sizes, streamed reads of up to 2 MiB. */
	start(&s, SESSION_TX_SPACE);
	run(&s, 6, 3, (1u << 20) + 4096, 200u << 10);
	run(&s, 6, 40, 16384, 100000);
	run(&s, 4, 2, 2u << 20, 300000);
	run(&s, 4, 16, 65536, 77777);
	CHECK(max_end <= SESSION_TX_SPACE && max_unsent <= SESSION_TX_CAP);
	CHECK(max_end > 2 * SESSION_TX_CAP); /* large replies moved on */
	check_replies();

	/* The plain region (ram backend): the same traffic stays in it. */
	start(&s, SESSION_TX_CAP);
	run(&s, 6, 3, (1u << 20) + 4096, 200u << 10);
	run(&s, 6, 40, 16384, 100000);
	run(&s, 4, 2, 2u << 20, 300000);
	CHECK(run(&s, 1, 1, 1u << 20, 0) == 0);
	CHECK(max_end <= SESSION_TX_CAP);
	check_replies();
	UNIT_DONE();
}
