/* The kernel log: a hang's tail, a run's OOM reports; see kmsg.h.
 * Try: build/tests/unit-harness-kmsg */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "kmsg.h"
#include "log.h"

/* A report that never says whom it killed ends after this many records. */
#define REPORT_MAX_RECORDS 400

struct oom_scan {
	const char *cgroup;	/* the run's memory cgroup, its last component */
	bool in_report;		/* between "invoked oom-killer" and its end */
	bool ours;		/* the report names the run's cgroup */
	bool kept_last;		/* the report just ended was kept */
	bool after_kill;	/* the record after a kill: the oom_reaper's, if it is */
	bool full;		/* out is full: later lines are left out */
	unsigned records;	/* in the current report */
	size_t start;		/* *used where the current report began */
	int reports;		/* kept */
	char *out;
	size_t len, *used;
};

/* Whether TEXT (n bytes) holds WORD. */
static const char *find(const char *text, size_t n, const char *word)
{
	size_t w = strlen(word), i;

	for (i = 0; i + w <= n; i++)
		if (!memcmp(text + i, word, w))
			return text + i;
	return NULL;
}

/* Whether "KEY=" in TEXT has a value (up to ',' or the end) that ends with
 * "/" CGROUP. */
static bool names_cgroup(const char *text, size_t n, const char *key, const char *cgroup)
{
	const char *v = find(text, n, key), *end;
	size_t c = strlen(cgroup);

	if (!v || !c)
		return false;
	v += strlen(key);
	end = memchr(v, ',', n - (size_t)(v - text));
	if (!end)
		end = text + n;
	return (size_t)(end - v) > c && end[-(ptrdiff_t)c - 1] == '/' && !memcmp(end - c, cgroup, c);
}

/* Appends a record's text to the scan's buffer, a line for each of its
 * lines (a multi-line printk, such as memory.stat's dump on older
 * kernels, comes as one record with its newlines written \x0a), each with
 * the record's time (two in a row give an empty line); from the first
 * line that does not fit on, lines are left out (the report is cut, never
 * garbled). */
static void put(struct oom_scan *sc, uint64_t us, const char *text, size_t n)
{
	const char *nl;
	size_t line;
	int k;

	for (;;) {
		if (sc->full || *sc->used >= sc->len)
			return;
		nl = find(text, n, "\\x0a");
		line = nl ? (size_t)(nl - text) : n;
		k = snprintf(sc->out + *sc->used, sc->len - *sc->used, "[%5" PRIu64 ".%06" PRIu64 "] %.*s\n",
			     us / 1000000, us % 1000000, (int)line, text);
		if (k < 0 || (size_t)k >= sc->len - *sc->used) {
			sc->out[*sc->used] = '\0';
			sc->full = true;
			return;
		}
		*sc->used += (size_t)k;
		if (!nl || line + 4 == n)	/* no line after a last \x0a */
			return;
		text = nl + 4;
		n -= line + 4;
	}
}

/* The current report ends: kept when it named the run's cgroup, else
 * taken back out of the buffer. */
static void end_report(struct oom_scan *sc)
{
	sc->in_report = false;
	sc->kept_last = sc->ours;
	if (sc->ours) {
		sc->reports++;
	} else if (sc->len) {
		*sc->used = sc->start;
		sc->out[sc->start] = '\0';
		sc->full = false;
	}
}

/* A decimal field of n bytes at s, all digits. */
static bool number(const char *s, size_t n, uint64_t *v)
{
	size_t i;

	if (!n || n > 19)
		return false;
	for (*v = 0, i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return true;
}

/* One record, "PRI,SEQ,USEC,FLAGS;TEXT" up to its first newline (the
 * dictionary lines after it are not the message). */
static void scan_record(struct oom_scan *sc, const char *rec, size_t n)
{
	const char *nl = memchr(rec, '\n', n), *semi, *c1, *c2, *c3, *text;
	uint64_t pri, us;
	size_t line = nl ? (size_t)(nl - rec) : n, tn;

	semi = memchr(rec, ';', line);
	if (!semi)
		return;
	c1 = memchr(rec, ',', (size_t)(semi - rec));
	c2 = c1 ? memchr(c1 + 1, ',', (size_t)(semi - c1 - 1)) : NULL;
	c3 = c2 ? memchr(c2 + 1, ',', (size_t)(semi - c2 - 1)) : NULL;
	/* Only the kernel's own records (facility 0: PRI under 8); user
	 * space's writes to /dev/kmsg carry a facility of 1 or more. */
	if (!c3 || !number(rec, (size_t)(c1 - rec), &pri) || pri >= 8 ||
	    !number(c2 + 1, (size_t)(c3 - c2 - 1), &us))
		return;
	text = semi + 1;
	tn = line - (size_t)(text - rec);
	if (find(text, tn, "invoked oom-killer: gfp_mask=")) {
		if (sc->in_report)
			end_report(sc);
		sc->in_report = true;
		sc->ours = false;
		sc->records = 0;
		sc->start = *sc->used;
	}
	if (sc->in_report) {
		put(sc, us, text, tn);
		if (find(text, tn, "oom-kill:constraint=") &&
		    (names_cgroup(text, tn, "task_memcg=", sc->cgroup) ||
		     names_cgroup(text, tn, "oom_memcg=", sc->cgroup)))
			sc->ours = true;
		if (find(text, tn, "of memory: Killed process ") ||
		    find(text, tn, "is already exiting. Skip killing") ||
		    ++sc->records >= REPORT_MAX_RECORDS) {
			end_report(sc);
			sc->after_kill = true;
			return;
		}
	} else if (sc->after_kill && sc->kept_last && find(text, tn, "oom_reaper: reaped process ")) {
		put(sc, us, text, tn);
	}
	sc->after_kill = false;
}

static void scan_oom_record(void *arg, const char *rec, size_t n)
{
	scan_record(arg, rec, n);
}

int kmsg_oom_filter(const char *records, size_t n, const char *cgroup, char *out, size_t len,
		    size_t *used)
{
	struct oom_scan sc = { .cgroup = cgroup, .out = out, .len = len, .used = used };
	size_t i = 0;

	if (len)
		out[*used < len ? *used : len - 1] = '\0';
	while (i < n) {
		/* A record runs to the first line that is not a dictionary
		 * line (those start with a space). */
		size_t j = i;

		do {
			const char *nl = memchr(records + j, '\n', n - j);

			j = nl ? (size_t)(nl - records) + 1 : n;
		} while (j < n && records[j] == ' ');
		scan_record(&sc, records + i, j - i);
		i = j;
	}
	if (sc.in_report)
		end_report(&sc);
	return sc.reports;
}

/* Reads FD's records to the end, each to fn: EPIPE (records overwritten:
 * the next read goes on from the oldest left), EINTR and EINVAL (a record
 * too long for the buffer, skipped) go on; EAGAIN ends it; another error
 * ends it with a warning. */
static void read_records(int fd, void (*fn)(void *arg, const char *rec, size_t n), void *arg)
{
	char rec[8192];
	unsigned skipped = 0;

	for (;;) {
		ssize_t len = read(fd, rec, sizeof rec);

		if (len < 0 && (errno == EPIPE || errno == EINTR || errno == EINVAL) &&
		    ++skipped < 100000)
			continue;
		if (len < 0 && errno != EAGAIN)
			warn("reading the kernel log (/dev/kmsg): %m");
		if (len <= 0)
			return;
		fn(arg, rec, (size_t)len);
	}
}

struct tail {
	char **ring;
	int n, count;
};

/* A record's message (its first line after ';') into the ring. */
static void tail_record(void *arg, const char *rec, size_t n)
{
	struct tail *t = arg;
	const char *nl = memchr(rec, '\n', n), *semi;
	size_t line = nl ? (size_t)(nl - rec) : n;

	semi = memchr(rec, ';', line);
	if (!semi)
		return;
	free(t->ring[t->count % t->n]);
	t->ring[t->count % t->n] = strndup(semi + 1, line - (size_t)(semi + 1 - rec));
	t->count++;
}

void kmsg_print_tail(FILE *f, int n)
{
	struct tail t = { .ring = calloc((size_t)(n > 0 ? n : 1), sizeof(char *)), .n = n > 0 ? n : 1 };
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC), i;

	if (!t.ring || fd < 0) {
		fprintf(f, "  (cannot read /dev/kmsg: %s)\n", t.ring ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		free(t.ring);
		return;
	}
	read_records(fd, tail_record, &t);
	close(fd);
	fprintf(f, "  kernel log, last %d lines:\n", t.count < t.n ? t.count : t.n);
	for (i = t.count < t.n ? 0 : t.count - t.n; i < t.count; i++)
		fprintf(f, "    %s\n", t.ring[i % t.n] ? t.ring[i % t.n] : "");
	for (i = 0; i < t.n; i++)
		free(t.ring[i]);
	free(t.ring);
}

int kmsg_open_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || lseek(fd, 0, SEEK_END) < 0) {
		warn("cannot read the kernel log (/dev/kmsg): %m; a run's OOM reports are not kept");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int kmsg_save_oom(int fd, const char *cgroup, const char *path)
{
	struct oom_scan sc = { .cgroup = cgroup };
	char *out = malloc(KMSG_OOM_MAX_BYTES);
	size_t used = 0, off = 0;
	int wfd;

	if (!out) {
		warn("out of memory for the kernel's OOM report");
		return -1;
	}
	out[0] = '\0';
	sc.out = out;
	sc.len = KMSG_OOM_MAX_BYTES;
	sc.used = &used;
	read_records(fd, scan_oom_record, &sc);
	if (sc.in_report)
		end_report(&sc);
	if (!sc.reports) {
		free(out);
		return 0;
	}
	wfd = file_open_private(path, O_TRUNC, 0600);
	if (wfd < 0) {
		warn("cannot write '%s': %s; the OOM report is not kept", path, file_why(errno));
		free(out);
		return -1;
	}
	while (off < used) {
		ssize_t w = write(wfd, out + off, used - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			warn("cannot write '%s': %m; the OOM report is cut", path);
			break;
		}
		off += (size_t)w;
	}
	close(wfd);
	free(out);
	return sc.reports;
}
