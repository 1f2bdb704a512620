/* Statistics documents: see stats.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "session.h"
#include "stats.h"

static const char *const cmd_names[] = {
#define X(n) #n,
	STAT_COMMANDS(X)
#undef X
};

/* A histogram as {"count","min","max","mean","p50","p90","p99","p999",
 * "buckets":[[low,high,count],...]} (non-empty buckets only); values in the
 * unit of the caller's key. */
static json_t *hist_json(const struct histogram *h)
{
	json_t *o = json_object(), *b = json_array();
	unsigned i;

	json_object_set_new(o, "count", json_integer((json_int_t)h->count));
	json_object_set_new(o, "min", json_integer((json_int_t)(h->count ? h->min : 0)));
	json_object_set_new(o, "max", json_integer((json_int_t)h->max));
	json_object_set_new(o, "mean", json_real(h->count ? (double)h->sum / (double)h->count : 0));
	json_object_set_new(o, "p50", json_integer((json_int_t)hist_quantile(h, 0.50)));
	json_object_set_new(o, "p90", json_integer((json_int_t)hist_quantile(h, 0.90)));
	json_object_set_new(o, "p99", json_integer((json_int_t)hist_quantile(h, 0.99)));
	json_object_set_new(o, "p999", json_integer((json_int_t)hist_quantile(h, 0.999)));
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (!h->bucket[i])
			continue;
		json_array_append_new(b, json_pack("[I,I,I]", (json_int_t)hist_bucket_low(i),
						   (json_int_t)hist_bucket_high(i),
						   (json_int_t)h->bucket[i]));
	}
	json_object_set_new(o, "buckets", b);
	return o;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

json_t *stats_json(const struct export *ex, struct worker_stats *const *ws, unsigned n,
		   uint64_t start_ns)
{
	json_t *doc = json_object(), *cmds = json_object(), *be = json_object();
	struct histogram *lat = calloc(1, sizeof *lat), *depth = calloc(1, sizeof *depth);
	uint64_t conn_total = 0, conn_cur = 0, perr = 0, polled = 0;
	unsigned c, w;

	if (!lat || !depth) {
		free(lat);
		free(depth);
		return doc;
	}
	json_object_set_new(doc, "schema", json_string("vramd-stats"));
	json_object_set_new(doc, "schema_version", json_integer(1));
	json_object_set_new(doc, "version", json_string(VERSION));
	json_object_set_new(doc, "pid", json_integer(getpid()));
	json_object_set_new(doc, "backend", json_string(ex->ops->name));
	json_object_set_new(doc, "size_bytes", json_integer((json_int_t)ex->size));
	json_object_set_new(doc, "read_only", json_boolean(ex->read_only));
	json_object_set_new(doc, "workers", json_integer(n));
	json_object_set_new(doc, "uptime_ns", json_integer((json_int_t)(now_ns() - start_ns)));
	json_object_set_new(doc, "timestamp_ns", json_integer((json_int_t)now_ns()));

	for (c = 0; c < STAT_NCMD; c++) {
		uint64_t cnt = 0, bytes = 0, errs = 0;
		json_t *o;

		hist_init(lat);
		for (w = 0; w < n; w++) {
			cnt += LOAD(ws[w]->cmd[c].count);
			bytes += LOAD(ws[w]->cmd[c].bytes);
			errs += LOAD(ws[w]->cmd[c].errors);
			hist_merge(lat, &ws[w]->cmd[c].latency_ns);
		}
		o = json_object();
		json_object_set_new(o, "count", json_integer((json_int_t)cnt));
		json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
		json_object_set_new(o, "errors", json_integer((json_int_t)errs));
		json_object_set_new(o, "latency_ns", hist_json(lat));
		json_object_set_new(cmds, cmd_names[c], o);
	}
	for (w = 0; w < n; w++) {
		hist_merge(depth, &ws[w]->inflight);
		conn_total += LOAD(ws[w]->connections_total);
		conn_cur += LOAD(ws[w]->connections_current);
		perr += LOAD(ws[w]->protocol_errors);
		polled += LOAD(ws[w]->busy_poll_hits);
	}
	json_object_set_new(doc, "commands", cmds);
	json_object_set_new(doc, "inflight_requests", hist_json(depth));
	json_object_set_new(doc, "connections_current", json_integer((json_int_t)conn_cur));
	json_object_set_new(doc, "connections_total", json_integer((json_int_t)conn_total));
	json_object_set_new(doc, "protocol_errors", json_integer((json_int_t)perr));
	json_object_set_new(doc, "busy_poll_hits", json_integer((json_int_t)polled));
	if (ex->ops->describe)
		ex->ops->describe(ex->backend, be);
	json_object_set_new(doc, "backend_state", be);
	free(lat);
	free(depth);
	return doc;
}

static int dump(int fd, void *doc)
{
	return json_dumpfd(doc, fd, JSON_INDENT(1) | JSON_SORT_KEYS);
}

int stats_write_file(json_t *doc, const char *path)
{
	/* A fresh temporary file renamed over path: nothing planted at path
	 * or at a guessable temporary name is written through. */
	if (file_replace(path, dump, doc) < 0) {
		error("cannot write stats file '%s': %m", path);
		return -1;
	}
	return 0;
}
