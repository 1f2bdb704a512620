/* libFuzzer target: the request decoder and everything behind it (checks,
 * batching, streaming, replies) over a 1 MiB ram export.  The input is the
 * client's byte stream after negotiation; byte 0 picks simple or structured
 * replies, the size of tx's region (as for the ram backend, or for one that
 * DMAs into tx) and the receive chunk size, so partial frames are exercised
 * too; sends alternate between half and all of what waits.
 * Try: make fuzz && build/fuzz/fuzz-session tests/fuzz/corpus/session */
#include <stdlib.h>
#include <string.h>

#include "../session-rig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct export ex;
	static struct worker_stats st;
	static struct session s;
	static uint8_t *rx, *tx;
	static void *bw;
	size_t chunk, n;
	int guard = 0;
	unsigned rounds = 0;

	if (!rx && session_rig_open(&ex, 1 << 20, &bw, &rx, &tx) < 0)
		abort();
	if (size < 1)
		return 0;
	session_init(&s, &ex, bw, &st, data[0] & 1, rx, tx);
	if (data[0] & 2)
		s.tx_space = SESSION_TX_SPACE; /* as for a backend that DMAs into tx */
	chunk = 1 + (size_t)(data[0] >> 2) * 97;
	data++;
	size--;
	for (;;) {
		if (s.direct) {
			/* The worker would receive straight into the export. */
			n = size < chunk ? size : chunk;
			if (n > s.direct_len)
				n = s.direct_len;
			memcpy(s.direct, data, n);
			data += n;
			size -= n;
			session_direct_done(&s, (uint32_t)n); /* 0: returned unused */
		}
		session_compact_rx(&s);
		n = size < chunk ? size : chunk;
		if (n > session_rx_room(&s))
			n = session_rx_room(&s);
		memcpy(s.rx + s.rx_tail, data, n);
		s.rx_tail += (uint32_t)n;
		data += n;
		size -= n;
		if (session_process(&s) < 0)
			break;
		/* Every other round a send takes half of what waits (a partial
		 * send), otherwise all of it. */
		s.tx_sent = (++rounds & 1) ? s.tx_len - (s.tx_len - s.tx_sent) / 2 : s.tx_len;
		session_compact_tx(&s);
		if (size == 0 && ++guard > 64)
			break; /* streams waiting for input that will never come */
	}
	return 0;
}
