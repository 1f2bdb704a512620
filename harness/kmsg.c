/* A run's OOM reports from the kernel log: see kmsg.h.
 * Try: build/tests/unit-harness-kmsg */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "kmsg.h"
#include "log.h"

struct oom_scan {
	uint64_t since_us;
	bool in_report;		/* between "invoked oom-killer" and "Killed process" */
	bool after_kill;	/* the record after a kill: the oom_reaper's, if it is */
	bool full;		/* out is full: later lines are left out */
	int reports;
	char *out;
	size_t len, *used;
};

/* Appends one line to the scan's buffer; from the first line that does
 * not fit on, lines are left out (the report is cut, never garbled). */
static void put(struct oom_scan *sc, uint64_t us, const char *text, size_t n)
{
	int k;

	if (sc->full || *sc->used >= sc->len)
		return;
	k = snprintf(sc->out + *sc->used, sc->len - *sc->used, "[%5" PRIu64 ".%06" PRIu64 "] %.*s\n",
		     us / 1000000, us % 1000000, (int)n, text);
	if (k < 0 || (size_t)k >= sc->len - *sc->used) {
		sc->out[*sc->used] = '\0';
		sc->full = true;
	} else {
		*sc->used += (size_t)k;
	}
}

static bool has(const char *text, size_t n, const char *word)
{
	size_t w = strlen(word), i;

	for (i = 0; i + w <= n; i++)
		if (!memcmp(text + i, word, w))
			return true;
	return false;
}

/* One record, "PRI,SEQ,USEC,FLAGS;TEXT" up to its first newline. */
static void scan_record(struct oom_scan *sc, const char *rec, size_t n)
{
	const char *semi = memchr(rec, ';', n), *c = memchr(rec, ',', n), *nl, *text;
	unsigned long long us;
	size_t tn;

	/* The third field, after PRI and SEQ. */
	if (c)
		c = memchr(c + 1, ',', n - (size_t)(c + 1 - rec));
	if (!semi || !c || c > semi || sscanf(c + 1, "%llu", &us) != 1)
		return;
	text = semi + 1;
	nl = memchr(text, '\n', n - (size_t)(text - rec));
	tn = nl ? (size_t)(nl - text) : n - (size_t)(text - rec);
	if (us < sc->since_us)
		return;
	if (has(text, tn, "invoked oom-killer:")) {
		sc->in_report = true;
		sc->reports++;
	}
	if (sc->in_report || (sc->after_kill && has(text, tn, "oom_reaper:")))
		put(sc, us, text, tn);
	sc->after_kill = false;
	if (sc->in_report && has(text, tn, "Killed process")) {
		sc->in_report = false;
		sc->after_kill = true;
	}
}

int kmsg_oom_filter(const char *records, size_t n, uint64_t since_us, char *out, size_t len,
		    size_t *used)
{
	struct oom_scan sc = { .since_us = since_us, .out = out, .len = len, .used = used };
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
	return sc.reports;
}

struct fill_arg {
	const char *buf;
	size_t n;
};

static int fill(int fd, void *arg)
{
	const struct fill_arg *a = arg;
	size_t off = 0;

	while (off < a->n) {
		ssize_t w = write(fd, a->buf + off, a->n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

int kmsg_save_oom(uint64_t since_ns, const char *path)
{
	struct oom_scan sc = { .since_us = since_ns / 1000 };
	char rec[8192], *out = malloc(KMSG_OOM_MAX_BYTES);
	size_t used = 0;
	int fd;

	if (!out) {
		warn("out of memory for the kernel's OOM report");
		return -1;
	}
	out[0] = '\0';
	sc.out = out;
	sc.len = KMSG_OOM_MAX_BYTES;
	sc.used = &used;
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		warn("cannot read the kernel log (/dev/kmsg): %m; the OOM report is not kept");
		free(out);
		return -1;
	}
	/* One record a read, oldest first; EPIPE: one was overwritten. */
	for (;;) {
		ssize_t len = read(fd, rec, sizeof rec - 1);

		if (len < 0 && errno == EPIPE)
			continue;
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		scan_record(&sc, rec, (size_t)len);
	}
	close(fd);
	if (sc.reports && file_replace(path, fill, &(struct fill_arg){ out, used }) < 0) {
		warn("cannot write '%s': %s; the OOM report is not kept", path, file_why(errno));
		free(out);
		return -1;
	}
	free(out);
	return sc.reports;
}
