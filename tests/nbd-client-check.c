/* nbd-client-check: drive an NBD export (vramd) through libnbd the way a
 * careful client would, and check every answer: zero (with and without
 * NO_HOLE), trim, flush and FUA writes with read-back, 256 pipelined
 * commands retired out of issue order, overlapping pipelined writes that
 * must land in issue order, lone reads on two connections after pauses
 * of up to 3 ms (with vramd's --resident-idle 1, the resident kernel ends
 * and starts again between them), two connections sharing data
 * (multi-conn; a write read back on the other connection at once, with no
 * flush), and the errno libnbd maps from the server's error replies.
 *
 *   build/tests/nbd-client-check [--no-structured] [--read-only] URI
 *   build/tests/nbd-client-check --connection-limit N URI
 *   build/tests/nbd-client-check --stall-reads URI
 *
 * It writes over the first 64 MiB of the export, which must be at least
 * that big.  --read-only expects a fresh read-only export instead and
 * checks that writes are refused by the server with EPERM.
 * --connection-limit N checks only the server's connection limit instead
 * (check_connection_limit); --stall-reads leaves replies unread
 * (stall_reads).  Output is TAP
 * ("ok N - ..." / "not ok N - ..."); exit status 0 when every check
 * passed, 1 when one failed, 2 on a usage error.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#define KiB 1024u
#define MiB (1024u * 1024u)
#define WORK_BYTES (64 * MiB)	/* region of the export we write */
#define MAX_BLOCK (32 * MiB)	/* vramd's maximum block size */
#define AIO_BASE (32 * MiB)	/* pipelined commands use [32, 64) MiB */
#define AIO_STRIDE (128 * KiB)
#define NR_AIO 256
#define STEP_TIMEOUT_S 20	/* a step with no reply by then: server hung */

static const char *uri;
static bool structured = true;
static unsigned nr_checks, nr_failed;

/* What the first WORK_BYTES of the export must hold. */
static unsigned char *model;

/* The "not ok" line the watchdog prints if the current step hangs. */
static char hang_msg[256];
static size_t hang_len;

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* check: record one TAP result; returns OK so callers can stop early. */
static bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	nr_checks++;
	if (!ok)
		nr_failed++;
	printf("%sok %u - ", ok ? "" : "not ", nr_checks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return ok;
}

static void on_alarm(int sig)
{
	ssize_t r;

	(void)sig;
	r = write(STDOUT_FILENO, hang_msg, hang_len);
	(void)r;
	_exit(1);
}

/* step: name what is about to be sent and give it STEP_TIMEOUT_S to be
 * answered; a server that never replies fails the check by that name
 * instead of hanging the test. */
static void step(const char *what)
{
	int n;

	fflush(stdout);
	n = snprintf(hang_msg, sizeof hang_msg,
		     "not ok %u - %s: no reply within %d s (server hung?)\n",
		     nr_checks + 1, what, STEP_TIMEOUT_S);
	hang_len = n < 0 ? 0 : (size_t)n < sizeof hang_msg ? (size_t)n : sizeof hang_msg - 1;
	alarm(STEP_TIMEOUT_S);
}

/* A failed libnbd call: say which, with libnbd's message. */
static bool nbd_failed(const char *what)
{
	return check(false, "%s: %s (errno %d)", what, nbd_get_error(), nbd_get_errno());
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Fill BUF with bytes that depend on SEED and the export offset OFF, so
 * data landing at the wrong offset, or stale data, does not compare equal. */
static void fill(unsigned char *buf, size_t len, uint64_t off, uint64_t seed)
{
	uint64_t state = seed * UINT64_C(0x2545f4914f6cdd1d) ^ off, r = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			r = splitmix64(&state);
		buf[i] = (unsigned char)(r >> (8 * (i % 8)));
	}
}

/* Compare LEN bytes read at export offset OFF with WANT; on a difference
 * report the first differing byte. */
static bool same(const unsigned char *got, const unsigned char *want, size_t len,
		 uint64_t off, const char *what)
{
	size_t i;

	if (memcmp(got, want, len) == 0)
		return check(true, "%s: %zu bytes at %" PRIu64 " read back", what, len, off);
	for (i = 0; got[i] == want[i]; i++)
		;
	return check(false, "%s: byte at %" PRIu64 " is 0x%02x, expected 0x%02x",
		     what, off + i, got[i], want[i]);
}

static struct nbd_handle *open_handle(void)
{
	struct nbd_handle *h = nbd_create();

	if (h == NULL) {
		nbd_failed("nbd_create");
		return NULL;
	}
	step("connect");
	if (nbd_set_request_structured_replies(h, structured) == -1 ||
	    nbd_connect_uri(h, uri) == -1) {
		nbd_failed("connect");
		nbd_close(h);
		return NULL;
	}
	return h;
}

/* R is what a libnbd call returned: record WHAT as passed or failed. */
static bool call_ok(int r, const char *what)
{
	return r == -1 ? nbd_failed(what) : check(true, "%s", what);
}

/* Run CALL under the watchdog as step WHAT and record the result. */
#define CALL_OK(what, call) (step(what), call_ok((call), (what)))

/* Write LEN bytes of pattern SEED at OFF (within the model) and record
 * them in the model. */
static bool do_pwrite(struct nbd_handle *h, uint64_t off, size_t len, uint64_t seed,
		      uint32_t flags, const char *what)
{
	fill(model + off, len, off, seed);
	step(what);
	if (nbd_pwrite(h, model + off, len, off, flags) == -1)
		return nbd_failed(what);
	return true;
}

/* Read [OFF, OFF+LEN) and compare it with the model. */
static bool verify(struct nbd_handle *h, uint64_t off, size_t len, const char *what)
{
	unsigned char *buf = malloc(len);
	bool ok;

	if (buf == NULL) {
		perror("malloc");
		exit(2);
	}
	step(what);
	if (nbd_pread(h, buf, len, off, 0) == -1)
		ok = nbd_failed(what);
	else
		ok = same(buf, model + off, len, off, what);
	free(buf);
	return ok;
}

/* R is what a command returned: it must have failed with errno WANT. */
static bool expect_errno(int r, int want, const char *what)
{
	int err = nbd_get_errno();

	if (r != -1)
		return check(false, "%s: succeeded, expected %s", what, strerror(want));
	if (err != want)
		return check(false, "%s: errno %d (%s), expected %d (%s): %s", what,
			     err, strerror(err), want, strerror(want), nbd_get_error());
	return check(true, "%s: fails with %s", what, strerror(want));
}

/* Run CALL under the watchdog as step WHAT; it must fail with WANT. */
#define EXPECT(want, what, call) (step(what), expect_errno((call), (want), (what)))

/* The connection must still work after an error reply. */
static bool still_serving(struct nbd_handle *h, const char *after)
{
	char what[128];

	snprintf(what, sizeof what, "connection usable after %s", after);
	return verify(h, 0, 4096, what);
}

/* Flags and sizes from the handshake; false only when the export is too
 * small to test (other differences are reported and testing goes on). */
static bool check_handshake(struct nbd_handle *h, bool read_only)
{
	int64_t size = nbd_get_size(h);
	bool ok = true;

	if (size == -1)
		return nbd_failed("nbd_get_size");
	if (!read_only)
		ok = check(size >= (int64_t)WORK_BYTES, "export size %" PRId64 " >= %u",
			   size, WORK_BYTES);
	check(nbd_get_structured_replies_negotiated(h) == structured,
	      "structured replies %s", structured ? "negotiated" : "not negotiated");
	check(nbd_is_read_only(h) == read_only, "is_read_only is %d", read_only);
	check(nbd_can_flush(h) == 1, "can_flush");
	check(nbd_can_multi_conn(h) == 1, "can_multi_conn");
	/* Whether a read-only export advertises write-type commands is its
	 * own business: they are refused either way. */
	if (!read_only) {
		check(nbd_can_fua(h) == 1, "can_fua");
		check(nbd_can_trim(h) == 1, "can_trim");
		check(nbd_can_zero(h) == 1, "can_zero");
	}
	check(nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM) == 1, "minimum block size 1");
	check(nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED) == 4096,
	      "preferred block size 4096");
	check(nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM) == MAX_BLOCK,
	      "maximum block size %u", MAX_BLOCK);
	return ok;
}

/* Plain, unaligned, FUA and maximum-size writes. */
static bool check_writes(struct nbd_handle *h)
{
	bool ok = true;

	ok &= do_pwrite(h, 0, 4 * MiB, 1, 0, "pwrite 4 MiB at 0") &&
	      verify(h, 0, 4 * MiB, "pwrite 4 MiB at 0");
	ok &= do_pwrite(h, 4095, 4097, 2, 0, "pwrite across a page boundary") &&
	      do_pwrite(h, 12345, 1, 3, 0, "pwrite 1 byte") &&
	      verify(h, 0, 64 * KiB, "unaligned pwrites");
	ok &= do_pwrite(h, 2 * MiB + 1, 64 * KiB, 4, LIBNBD_CMD_FLAG_FUA, "pwrite FUA") &&
	      verify(h, 2 * MiB - 4096, 72 * KiB, "pwrite FUA");
	ok &= CALL_OK("nbd_flush", nbd_flush(h, 0));
	ok &= verify(h, 0, 4 * MiB, "data after flush");
	ok &= do_pwrite(h, 0, MAX_BLOCK, 5, 0, "pwrite 32 MiB (maximum block)") &&
	      verify(h, 0, MAX_BLOCK, "pread 32 MiB (maximum block)");
	return ok;
}

/* A write answered before its bytes reach the storage (write-back) is
 * still what the next read sees: on the same connection, the last 4 KiB
 * of each write read as soon as the write is answered (queue depth 1). */
static bool check_read_after_write(struct nbd_handle *h)
{
	static const size_t lens[] = { 4096, 8192, 64 * KiB, MiB };
	static unsigned char got[4096];
	unsigned round;
	char what[96];

	step("write, then read its end at once");
	for (round = 0; round < 64; round++) {
		size_t len = lens[round % 4];
		uint64_t off = 8 * MiB + (uint64_t)(round % 16) * MiB, end = off + len - 4096;

		fill(model + off, len, off, 200 + round);
		if (nbd_pwrite(h, model + off, len, off, 0) == -1)
			return nbd_failed("pwrite (read after write)");
		if (nbd_pread(h, got, 4096, end, 0) == -1)
			return nbd_failed("pread (read after write)");
		if (memcmp(got, model + end, 4096) != 0) {
			snprintf(what, sizeof what, "round %u: 4 KiB read right after a %zu-byte write",
				 round, len);
			return same(got, model + end, 4096, end, what);
		}
	}
	return check(true, "64 writes of 4 KiB to 1 MiB, each read back at once");
}

/* nbd_zero with and without NO_HOLE and FUA; only the range changes. */
static bool check_zero(struct nbd_handle *h)
{
	static const struct {
		uint64_t off;
		uint64_t len;
		uint32_t flags;
		const char *what;
	} z[] = {
		{ 128 * KiB + 3, 100000, 0, "nbd_zero" },
		{ 512 * KiB - 1, 64 * KiB + 2, LIBNBD_CMD_FLAG_NO_HOLE, "nbd_zero NO_HOLE" },
		{ 768 * KiB, 8 * KiB, LIBNBD_CMD_FLAG_FUA, "nbd_zero FUA" },
		{ 800 * KiB + 17, 1, LIBNBD_CMD_FLAG_NO_HOLE | LIBNBD_CMD_FLAG_FUA,
		  "nbd_zero 1 byte NO_HOLE|FUA" },
	};
	bool ok = do_pwrite(h, 0, MiB, 6, 0, "pwrite before zero");
	size_t i;

	for (i = 0; ok && i < sizeof z / sizeof z[0]; i++) {
		step(z[i].what);
		if (nbd_zero(h, z[i].len, z[i].off, z[i].flags) == -1) {
			ok = nbd_failed(z[i].what);
			break;
		}
		memset(model + z[i].off, 0, z[i].len);
		ok &= verify(h, 0, MiB, z[i].what);
	}
	return ok;
}

/* Trimmed bytes may read back as zero or as what they were (the protocol
 * leaves it to the server); bytes outside the range must not change. */
static bool check_trim(struct nbd_handle *h)
{
	static const struct {
		uint64_t off;
		uint64_t len;
		uint32_t flags;
		const char *what;
	} t[] = {
		{ MiB + 4096, 256 * KiB, 0, "nbd_trim aligned" },
		{ MiB + 300000, 5000, 0, "nbd_trim unaligned" },
		{ MiB + 512 * KiB, 64 * KiB, LIBNBD_CMD_FLAG_FUA, "nbd_trim FUA" },
	};
	unsigned char *buf = malloc(MiB);
	bool ok;
	size_t i, j, zeros;

	if (buf == NULL) {
		perror("malloc");
		exit(2);
	}
	ok = do_pwrite(h, MiB, MiB, 7, 0, "pwrite before trim");
	for (i = 0; ok && i < sizeof t / sizeof t[0]; i++) {
		step(t[i].what);
		if (nbd_trim(h, t[i].len, t[i].off, t[i].flags) == -1) {
			ok = nbd_failed(t[i].what);
			break;
		}
		if (nbd_pread(h, buf, MiB, MiB, 0) == -1) {
			ok = nbd_failed("pread after trim");
			break;
		}
		for (j = 0, zeros = 0; j < MiB; j++) {
			uint64_t off = MiB + j;
			bool inside = off >= t[i].off && off < t[i].off + t[i].len;

			if (inside && buf[j] == 0)
				zeros++;
			if (buf[j] == model[off] || (inside && buf[j] == 0))
				continue;
			break;
		}
		if (!check(j == MiB, "%s: data outside the range unchanged, inside old or zero",
			   t[i].what)) {
			diag("byte at %" PRIu64 " is 0x%02x, expected 0x%02x", MiB + j,
			     buf[j], model[MiB + j]);
			ok = false;
			break;
		}
		diag("%s: %zu of %" PRIu64 " bytes now read as zero", t[i].what, zeros,
		     t[i].len);
		/* What trimmed bytes hold is the server's choice: take it. */
		memcpy(model + MiB, buf, MiB);
	}
	/* Written again, the range holds data again. */
	ok &= do_pwrite(h, MiB, MiB, 8, 0, "pwrite after trim") &&
	      verify(h, MiB, MiB, "pwrite after trim");
	free(buf);
	return ok;
}

/* Error replies, relayed by libnbd as errno.  libnbd refuses most of these
 * itself, so its strictness is turned off for them and back on after. */
static bool check_errors(struct nbd_handle *h)
{
	int64_t size = nbd_get_size(h);
	uint32_t strict = nbd_get_strict_mode(h);
	unsigned char *buf = malloc(MAX_BLOCK + 4096);
	bool ok = true;

	if (buf == NULL) {
		perror("malloc");
		exit(2);
	}
	memset(buf, 0xa5, MAX_BLOCK + 4096);
	if (nbd_set_strict_mode(h, 0) == -1) {
		free(buf);
		return nbd_failed("nbd_set_strict_mode");
	}

	ok &= EXPECT(EINVAL, "pread across the end",
		      nbd_pread(h, buf, 4096, (uint64_t)size - 2048, 0));
	ok &= EXPECT(EINVAL, "pread at the end",
		      nbd_pread(h, buf, 1, (uint64_t)size, 0));
	ok &= EXPECT(EINVAL, "pread with offset+length past 2^64",
		      nbd_pread(h, buf, 4096, UINT64_MAX - 100, 0));
	ok &= EXPECT(ENOSPC, "pwrite across the end",
		      nbd_pwrite(h, buf, 4096, (uint64_t)size - 2048, 0));
	ok &= EXPECT(ENOSPC, "pwrite with offset+length past 2^64",
		      nbd_pwrite(h, buf, 4096, UINT64_MAX - 100, 0));
	ok &= EXPECT(ENOSPC, "nbd_zero across the end",
		      nbd_zero(h, 8192, (uint64_t)size - 4096, 0));
	ok &= EXPECT(ENOSPC, "nbd_trim across the end",
		      nbd_trim(h, 8192, (uint64_t)size - 4096, 0));
	ok &= still_serving(h, "out-of-bounds requests");

	ok &= EXPECT(EOVERFLOW, "pread longer than 32 MiB",
		      nbd_pread(h, buf, MAX_BLOCK + 4096, 0, 0));
	ok &= EXPECT(EINVAL, "pread of length 0",
		      nbd_pread(h, buf, 0, 0, 0));
	ok &= EXPECT(EINVAL, "pwrite with NO_HOLE",
		      nbd_pwrite(h, buf, 4096, 0, LIBNBD_CMD_FLAG_NO_HOLE));
	ok &= EXPECT(EINVAL, "nbd_trim with NO_HOLE",
		      nbd_trim(h, 4096, 0, LIBNBD_CMD_FLAG_NO_HOLE));
	/* FUA means nothing to a read or a flush, but is accepted there. */
	step("pread with FUA");
	if (nbd_pread(h, buf, 4096, 0, LIBNBD_CMD_FLAG_FUA) == -1)
		ok = nbd_failed("pread with FUA");
	else
		ok &= same(buf, model, 4096, 0, "pread with FUA");
	ok &= CALL_OK("nbd_flush with FUA", nbd_flush(h, LIBNBD_CMD_FLAG_FUA));
	/* Refused commands must not have written anything. */
	ok &= still_serving(h, "refused requests");
	ok &= verify(h, 0, MiB, "data untouched by refused requests");

	if (nbd_set_strict_mode(h, strict) == -1)
		ok = nbd_failed("nbd_set_strict_mode");
	free(buf);
	return ok;
}

/* A zero-length write carries no payload: the server must answer it, not
 * wait for data.  Last, as a server that gets it wrong stops answering. */
static bool check_zero_length_write(struct nbd_handle *h)
{
	static unsigned char byte;
	uint32_t strict = nbd_get_strict_mode(h);
	bool ok;

	if (nbd_set_strict_mode(h, strict & ~LIBNBD_STRICT_ZERO_SIZE) == -1)
		return nbd_failed("nbd_set_strict_mode");
	ok = EXPECT(EINVAL, "pwrite of length 0", nbd_pwrite(h, &byte, 0, 0, 0));
	ok &= still_serving(h, "a zero-length write");
	if (nbd_set_strict_mode(h, strict) == -1)
		ok = nbd_failed("nbd_set_strict_mode");
	return ok;
}

static uint64_t aio_off(unsigned i)
{
	return AIO_BASE + (uint64_t)i * AIO_STRIDE + (i * 37u) % 4096;
}

static size_t aio_len(unsigned i)
{
	return 4096 * (1 + i % 16) - i % 3;
}

/* Wait for COOKIE and retire it; track the most commands seen in flight. */
static int retire(struct nbd_handle *h, int64_t cookie, int *max_in_flight)
{
	int r, n;

	while ((r = nbd_aio_command_completed(h, cookie)) == 0) {
		n = nbd_aio_in_flight(h);
		if (n > *max_in_flight)
			*max_in_flight = n;
		if (nbd_poll(h, -1) == -1)
			return -1;
	}
	return r == 1 ? 0 : -1;
}

/* Issue order 0..N-1; retire in a shuffled (seeded) or reversed order. */
static void retire_order(unsigned *order, bool shuffle)
{
	uint64_t state = 42;
	unsigned i, j, tmp;

	for (i = 0; i < NR_AIO; i++)
		order[i] = shuffle ? i : NR_AIO - 1 - i;
	if (!shuffle)
		return;
	for (i = NR_AIO - 1; i > 0; i--) {
		j = (unsigned)(splitmix64(&state) % (i + 1));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
}

/* 256 commands issued without waiting, retired out of issue order:
 * writes, then reads, then reads and writes interleaved. */
static bool check_pipelining(struct nbd_handle *h)
{
	static unsigned char *bufs[NR_AIO];
	int64_t cookies[NR_AIO];
	unsigned order[NR_AIO];
	int max_in_flight = 0, n;
	bool ok = true, is_write[NR_AIO];
	unsigned i, round;
	char what[64];

	for (i = 0; i < NR_AIO; i++) {
		if (bufs[i] == NULL && (bufs[i] = malloc(aio_len(i))) == NULL) {
			perror("malloc");
			exit(2);
		}
	}

	for (round = 0; round < 3 && ok; round++) {
		for (i = 0; i < NR_AIO; i++) {
			uint64_t off = aio_off(i);
			size_t len = aio_len(i);

			/* round 0 writes all, round 1 reads all, round 2 alternates */
			is_write[i] = round == 0 || (round == 2 && i % 2 == 0);
			if (is_write[i]) {
				fill(model + off, len, off, 1000 * round + i);
				memcpy(bufs[i], model + off, len);
				cookies[i] = nbd_aio_pwrite(h, bufs[i], len, off,
							    NBD_NULL_COMPLETION, 0);
			} else {
				memset(bufs[i], 0xee, len);
				cookies[i] = nbd_aio_pread(h, bufs[i], len, off,
							   NBD_NULL_COMPLETION, 0);
			}
			if (cookies[i] == -1) {
				snprintf(what, sizeof what, "round %u: issuing command %u", round, i);
				return nbd_failed(what);
			}
			n = nbd_aio_in_flight(h);
			if (n > max_in_flight)
				max_in_flight = n;
		}
		snprintf(what, sizeof what, "round %u: %d pipelined commands", round, NR_AIO);
		step(what);
		retire_order(order, round != 1);
		for (i = 0; i < NR_AIO; i++) {
			unsigned k = order[i];

			if (retire(h, cookies[k], &max_in_flight) == -1) {
				snprintf(what, sizeof what, "round %u: command %u (%s)", round, k,
					 is_write[k] ? "write" : "read");
				ok = nbd_failed(what);
				break;
			}
		}
		if (!ok)
			break;
		check(true, "round %u: %d %s commands retired %s", round, NR_AIO,
		      round == 0 ? "write" : round == 1 ? "read" : "mixed",
		      round == 1 ? "in reverse order" : "shuffled");
		for (i = 0; i < NR_AIO; i++) {
			if (is_write[i])
				continue;
			if (memcmp(bufs[i], model + aio_off(i), aio_len(i)) != 0) {
				snprintf(what, sizeof what, "round %u: pipelined read %u", round, i);
				ok = same(bufs[i], model + aio_off(i), aio_len(i), aio_off(i), what);
				break;
			}
		}
		if (ok && round != 0)
			check(true, "round %u: every pipelined read returned its own data", round);
	}
	ok &= verify(h, AIO_BASE, WORK_BYTES - AIO_BASE, "pipelined writes");
	ok &= check(max_in_flight > 1, "commands in flight at once: %d (> 1)", max_in_flight);
	return ok;
}

/* Overlapping writes pipelined on one connection land in issue order:
 * in each 256 KiB group a 4 KiB write, a 64 KiB write over it, a 4 KiB
 * write inside that, then a 64 KiB write and a 4 KiB write inside it,
 * all in flight at once, then the groups read back, also pipelined.
 * (vramd's vram backend copies small and large write-backs to the GPU by
 * different paths; a newer large one must not be overtaken by an older
 * small one.) */
#define OVL_GROUPS 64
#define OVL_GROUP (256 * KiB)
static bool check_overlapping_writes(struct nbd_handle *h)
{
	static const struct { uint32_t at, len; } w[] = {
		{ 16 * KiB, 4 * KiB }, { 0, 64 * KiB }, { 32 * KiB, 4 * KiB },
		{ 128 * KiB, 64 * KiB }, { 144 * KiB, 4 * KiB },
	};
	enum { NW = sizeof w / sizeof w[0] };
	static unsigned char *bufs[OVL_GROUPS][NW], *rbuf;
	int64_t cookies[OVL_GROUPS * (NW + 1)];
	unsigned g, i, n = 0;
	int max_in_flight = 0;
	bool ok = true;

	if (rbuf == NULL && (rbuf = malloc((size_t)OVL_GROUPS * OVL_GROUP)) == NULL) {
		perror("malloc");
		exit(2);
	}
	step("overlapping writes, pipelined");
	for (g = 0; g < OVL_GROUPS; g++) {
		uint64_t base = AIO_BASE + (uint64_t)g * OVL_GROUP;

		for (i = 0; i < NW; i++) {
			if (bufs[g][i] == NULL && (bufs[g][i] = malloc(w[i].len)) == NULL) {
				perror("malloc");
				exit(2);
			}
			fill(model + base + w[i].at, w[i].len, base + w[i].at, 7000 + g * NW + i);
			memcpy(bufs[g][i], model + base + w[i].at, w[i].len);
			cookies[n] = nbd_aio_pwrite(h, bufs[g][i], w[i].len, base + w[i].at,
						    NBD_NULL_COMPLETION, 0);
			if (cookies[n++] == -1)
				return nbd_failed("overlapping writes: issuing a write");
		}
	}
	for (g = 0; g < OVL_GROUPS; g++) {
		cookies[n] = nbd_aio_pread(h, rbuf + (size_t)g * OVL_GROUP, OVL_GROUP,
					   AIO_BASE + (uint64_t)g * OVL_GROUP, NBD_NULL_COMPLETION, 0);
		if (cookies[n++] == -1)
			return nbd_failed("overlapping writes: issuing a read");
	}
	for (i = 0; i < n && ok; i++)
		if (retire(h, cookies[i], &max_in_flight) == -1)
			ok = nbd_failed("overlapping writes: a command failed");
	if (!ok)
		return false;
	ok = same(rbuf, model + AIO_BASE, (size_t)OVL_GROUPS * OVL_GROUP, AIO_BASE,
		  "overlapping pipelined writes, in issue order");
	/* Zero again, as check_pipelining expects between its blocks when
	 * the checker runs a second time on the same export. */
	memset(model + AIO_BASE, 0, (size_t)OVL_GROUPS * OVL_GROUP);
	ok &= CALL_OK("overlapping writes: zero them again",
		      nbd_zero(h, (size_t)OVL_GROUPS * OVL_GROUP, AIO_BASE, 0));
	return check(max_in_flight > 1, "overlapping writes: %d commands in flight at once (> 1)",
		     max_in_flight) && ok;
}

/* Lone 4 KiB reads after pauses of 0 to 3 ms, one on each of two
 * connections at once (two server workers, when it has them), checked
 * against the model: a server that stops polling after an idle
 * millisecond (vramd --resident-idle 1) must answer the reads that come
 * as it stops, both, and the next. */
static bool check_lone_reads_after_pauses(struct nbd_handle *h)
{
	static const unsigned pause_us[] = { 0, 300, 700, 950, 1000, 1050, 1300, 2000, 3000 };
	const uint64_t base = 24 * MiB;
	struct nbd_handle *h2 = open_handle();
	unsigned char got[2][4096];
	char what[96];
	int64_t cookie[2];
	int in_flight = 0;
	bool ok;
	unsigned i, k;

	if (h2 == NULL)
		return check(false, "lone reads: second connection");
	ok = do_pwrite(h, base, 256 * KiB, 9, 0, "pwrite 256 KiB for lone reads");
	step("flush before lone reads");
	ok = ok && (nbd_flush(h, 0) != -1 || nbd_failed("flush before lone reads"));
	for (i = 0; ok && i < 54; i++) {
		struct nbd_handle *hs[2] = { h, h2 };
		uint64_t off[2] = { base + (uint64_t)(i * 37 % 64) * 4096,
				    base + (uint64_t)((i * 37 + 32) % 64) * 4096 };
		unsigned us = pause_us[i % (sizeof pause_us / sizeof pause_us[0])];

		usleep(us);
		snprintf(what, sizeof what, "lone reads %u after a %u us pause", i, us);
		step(what);
		for (k = 0; ok && k < 2; k++)
			if ((cookie[k] = nbd_aio_pread(hs[k], got[k], 4096, off[k], NBD_NULL_COMPLETION,
						       0)) == -1)
				ok = nbd_failed(what);
		for (k = 0; ok && k < 2; k++)
			if (retire(hs[k], cookie[k], &in_flight) == -1)
				ok = nbd_failed(what);
		for (k = 0; ok && k < 2; k++)
			ok = same(got[k], model + off[k], 4096, off[k], what);
	}
	step("lone reads: second connection shutdown");
	nbd_shutdown(h2, 0);
	nbd_close(h2);
	return check(ok, "54 pairs of lone 4 KiB reads on two connections after pauses of 0 to 3 ms");
}

/* A write is visible on the other connection as soon as its reply is in,
 * with no flush between (vramd's write-back copies to the GPU must not
 * let a read overtake them, nor a later write): one write then one read,
 * and batches of 64 pipelined writes then 64 pipelined reads, at random
 * 4 KiB-aligned offsets of [0, 32) MiB, 4 or 8 KiB each, on alternating
 * connections; every fourth round the other connection overwrites the
 * same blocks first and the writer reads them back. */
#define VIS_ROUNDS 2000
#define VIS_BATCH 64
/* Writes n blocks of len bytes at off[] on h, pattern seed, and waits for
 * every reply. */
static bool vis_write(struct nbd_handle *h, const uint64_t *off, unsigned n, size_t len,
		      uint64_t seed)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		fill(model + off[i], len, off[i], seed);
		if (nbd_aio_pwrite(h, model + off[i], len, off[i], NBD_NULL_COMPLETION, 0) == -1)
			return nbd_failed("aio_pwrite");
	}
	while (nbd_aio_in_flight(h) > 0)
		if (nbd_poll(h, -1) == -1)
			return nbd_failed("poll (writes)");
	return true;
}

static bool check_visible_at_once(struct nbd_handle *h1, struct nbd_handle *h2)
{
	static unsigned char got[VIS_BATCH][8192];
	uint64_t rng = 7, off[VIS_BATCH];
	unsigned round, i, bad = 0;
	char what[96];

	step("write on one connection, read at once on the other");
	for (round = 0; round < VIS_ROUNDS && !bad; round++) {
		struct nbd_handle *w = round & 1 ? h2 : h1, *r = round & 1 ? h1 : h2;
		unsigned n = round % 10 == 9 ? VIS_BATCH : 1;
		size_t len = round % 3 == 0 ? 8192 : 4096;
		bool overwrite = round % 4 == 2;

		/* One write per 512 KiB slice: writes in flight together
		 * never overlap (their order is free). */
		for (i = 0; i < n; i++)
			off[i] = (splitmix64(&rng) % 126 + 128 * (uint64_t)(n == 1 ?
				  splitmix64(&rng) % VIS_BATCH : i)) * 4096;
		if (!vis_write(w, off, n, len, 100 + round))
			return false;
		if (overwrite) {
			/* ... and overwritten at once from the other side:
			 * the second write must be the one that stays. */
			if (!vis_write(r, off, n, len, 50000 + round))
				return false;
			r = w;
		}
		for (i = 0; i < n; i++)
			if (nbd_aio_pread(r, got[i], len, off[i], NBD_NULL_COMPLETION, 0) == -1)
				return nbd_failed("aio_pread");
		while (nbd_aio_in_flight(r) > 0)
			if (nbd_poll(r, -1) == -1)
				return nbd_failed("poll (reads)");
		for (i = 0; i < n; i++)
			if (memcmp(got[i], model + off[i], len) != 0) {
				snprintf(what, sizeof what, "round %u: read %u on the other connection%s",
					 round, i, overwrite ? " after an overwrite" : "");
				bad++;
				same(got[i], model + off[i], len, off[i], what);
				break;
			}
	}
	return check(!bad, "%u rounds of writes read back at once on the other connection",
		     round);
}

/* Two connections: what one writes and flushes, the other reads. */
static bool check_multi_conn(struct nbd_handle *h)
{
	struct nbd_handle *h2 = open_handle();
	bool ok = true;

	if (h2 == NULL)
		return false;
	ok &= check(nbd_can_multi_conn(h2) == 1, "second connection: can_multi_conn");
	ok &= do_pwrite(h, 4 * MiB, MiB, 20, 0, "connection 1: pwrite") &&
	      CALL_OK("connection 1: flush", nbd_flush(h, 0)) &&
	      verify(h2, 4 * MiB, MiB, "connection 2 reads connection 1's write");
	ok &= do_pwrite(h2, 4 * MiB + 4095, 70000, 21, LIBNBD_CMD_FLAG_FUA,
			"connection 2: pwrite FUA") &&
	      CALL_OK("connection 2: flush", nbd_flush(h2, 0)) &&
	      verify(h, 4 * MiB, MiB, "connection 1 reads connection 2's write");
	ok &= CALL_OK("connection 2: zero", nbd_zero(h2, 4096, 4 * MiB, 0));
	memset(model + 4 * MiB, 0, 4096);
	ok &= CALL_OK("connection 2: flush", nbd_flush(h2, 0)) &&
	      verify(h, 4 * MiB, 8192, "connection 1 reads connection 2's zero");
	ok &= check_visible_at_once(h, h2);
	step("connection 2: shutdown");
	if (nbd_shutdown(h2, 0) == -1)
		ok = nbd_failed("connection 2: shutdown");
	nbd_close(h2);
	return ok;
}

/* A fresh read-only export reads zeros and refuses every write-type
 * command with EPERM; libnbd would refuse them itself, so its strict
 * command checking is turned off to let them reach the server. */
static bool check_read_only(struct nbd_handle *h)
{
	unsigned char *buf = calloc(1, MiB);
	bool ok = true;

	if (buf == NULL) {
		perror("calloc");
		exit(2);
	}
	memset(model, 0, MiB);
	ok &= verify(h, 0, MiB, "read-only export reads zeros");
	if (nbd_set_strict_mode(h, nbd_get_strict_mode(h) & ~LIBNBD_STRICT_COMMANDS) == -1) {
		free(buf);
		return nbd_failed("nbd_set_strict_mode");
	}
	memset(buf, 0x5a, MiB);
	ok &= EXPECT(EPERM, "pwrite on a read-only export",
		      nbd_pwrite(h, buf, MiB, 0, 0));
	ok &= EXPECT(EPERM, "pwrite FUA on a read-only export",
		      nbd_pwrite(h, buf, 4096, 4096, LIBNBD_CMD_FLAG_FUA));
	ok &= EXPECT(EPERM, "nbd_zero on a read-only export",
		      nbd_zero(h, 4096, 0, 0));
	ok &= EXPECT(EPERM, "nbd_trim on a read-only export",
		      nbd_trim(h, 4096, 0, 0));
	ok &= verify(h, 0, MiB, "read-only export unchanged");
	free(buf);
	return ok;
}

/* --connection-limit N: N clients negotiating (libnbd's option mode:
 * connected, GO not sent yet) take no slot, so N more are served all the
 * same; one more is refused when it connects; a negotiating one that asks
 * to start then (GO) gets an error for it, not a GO answered and then a
 * closed connection, and can go on negotiating; once a served one leaves,
 * its GO succeeds (within 5 s, the time the server may take to notice). */
static void check_connection_limit(unsigned n)
{
	struct nbd_handle *neg[64] = { NULL }, *h[64] = { NULL }, *extra;
	unsigned i, negotiating = 0, served = 0;
	char buf[4096];
	bool went = false;
	struct timespec t0, t;

	for (i = 0; i < n; i++) {
		neg[i] = nbd_create();
		step("connect a client that stays negotiating");
		if (neg[i] && nbd_set_opt_mode(neg[i], true) != -1 && nbd_connect_uri(neg[i], uri) != -1 &&
		    nbd_aio_is_negotiating(neg[i]) == 1)
			negotiating++;
		else
			diag("negotiating client %u: %s", i + 1, nbd_get_error());
	}
	check(negotiating == n, "%u of %u clients negotiating", negotiating, n);
	for (i = 0; i < n; i++) {
		h[i] = nbd_create();
		step("connect a served client");
		if (h[i] && nbd_set_request_structured_replies(h[i], structured) != -1 &&
		    nbd_connect_uri(h[i], uri) != -1 && nbd_pread(h[i], buf, sizeof buf, 0, 0) != -1)
			served++;
		else
			diag("client %u: %s", i + 1, nbd_get_error());
	}
	check(served == n, "%u of %u clients served while %u others negotiate", served, n, n);
	extra = nbd_create();
	step("connect one client past the limit");
	check(extra && (nbd_connect_uri(extra, uri) == -1 || nbd_pread(extra, buf, sizeof buf, 0, 0) == -1),
	      "client %u of --max-connections %u refused", n + 1, n);
	if (extra)
		nbd_close(extra);
	if (neg[0] == NULL || h[0] == NULL)
		goto out;
	step("GO with every connection in use");
	if (!check(nbd_opt_go(neg[0]) == -1, "GO refused while all %u connections are in use", n))
		goto out;
	diag("the refused GO: %s", nbd_get_error());
	check(nbd_aio_is_negotiating(neg[0]) == 1, "still negotiating after the refused GO");
	step("one client leaves");
	nbd_shutdown(h[0], 0);
	nbd_close(h[0]);
	h[0] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		step("GO again");
		if (nbd_opt_go(neg[0]) != -1) {
			went = nbd_pread(neg[0], buf, sizeof buf, 0, 0) != -1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 5 || nbd_aio_is_negotiating(neg[0]) != 1)
			break;
		usleep(20000);
	}
	check(went, "GO and a read served once a connection left");
	if (!went)
		diag("%s", nbd_get_error());
out:
	for (i = 0; i < n; i++) {
		if (neg[i])
			nbd_close(neg[i]);
		if (h[i])
			nbd_close(h[i]);
	}
}

/* --stall-reads: 64 reads of 1 MiB sent, their replies never read (the
 * server's send then blocks on the full socket); says "stalled" and
 * waits to be killed.  For a test that the server still exits. */
static int stall_reads(void)
{
	struct nbd_handle *h = open_handle();
	static char buf[64][MiB];
	unsigned i;

	if (h == NULL)
		return 1;
	for (i = 0; i < 64; i++)
		if (nbd_aio_pread(h, buf[i], MiB, (uint64_t)i * MiB, NBD_NULL_COMPLETION, 0) == -1) {
			nbd_failed("nbd_aio_pread");
			return 1;
		}
	while (nbd_aio_in_flight(h) > 0 && nbd_aio_get_direction(h) & LIBNBD_AIO_DIRECTION_WRITE)
		if (nbd_aio_notify_write(h) == -1)
			break;
	printf("stalled\n");
	fflush(stdout);
	alarm(0);
	for (;;)
		pause();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nbd-client-check [--no-structured] [--read-only] URI\n"
		   "       nbd-client-check --connection-limit N URI\n"
		   "       nbd-client-check --stall-reads URI\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-structured", no_argument, NULL, 's' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "connection-limit", required_argument, NULL, 'c' },
		{ "stall-reads", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_alarm };
	struct nbd_handle *h, *h2;
	bool read_only = false;
	unsigned limit = 0;
	bool stall = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			structured = false;
			break;
		case 'r':
			read_only = true;
			break;
		case 'S':
			stall = true;
			break;
		case 'c':
			limit = (unsigned)atoi(optarg);
			if (limit < 1 || limit > 64) {
				fprintf(stderr, "nbd-client-check: --connection-limit wants 1 to 64\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	uri = argv[optind];
	sigaction(SIGALRM, &sa, NULL);
	model = calloc(1, WORK_BYTES);
	if (model == NULL) {
		perror("calloc");
		return 2;
	}

	if (stall)
		return stall_reads();
	if (limit) {
		diag("%s: --max-connections %u expected", uri, limit);
		check_connection_limit(limit);
		goto out;
	}
	diag("%s, structured replies %s%s", uri, structured ? "requested" : "not requested",
	     read_only ? ", read-only export expected" : "");
	h = open_handle();
	if (h == NULL)
		goto out;
	diag("libnbd %s", nbd_get_version(h));
	if (!check_handshake(h, read_only))
		goto out_close;
	if (read_only) {
		check_read_only(h);
		goto out_close;
	}
	check_writes(h);
	check_read_after_write(h);
	check_zero(h);
	check_trim(h);
	check_pipelining(h);
	check_overlapping_writes(h);
	check_lone_reads_after_pauses(h);
	check_multi_conn(h);
	/* Error replies on a connection of their own: if one of them wedges
	 * it, the data checks above have already reported. */
	h2 = open_handle();
	if (h2 != NULL) {
		check_errors(h2);
		check_zero_length_write(h2);
		step("connection for errors: shutdown");
		if (nbd_shutdown(h2, 0) == -1)
			nbd_failed("connection for errors: shutdown");
		nbd_close(h2);
	}
out_close:
	step("shutdown");
	if (nbd_shutdown(h, 0) == -1)
		nbd_failed("nbd_shutdown");
	nbd_close(h);
out:
	alarm(0);
	printf("1..%u\n", nr_checks);
	if (nr_failed)
		diag("%u of %u checks failed", nr_failed, nr_checks);
	free(model);
	return nr_failed ? 1 : 0;
}
