/* The fio-raw scenario kind (see fio-raw.h): the region fio uses is written
 * once sequentially (so that reads do not hit unwritten blocks, which zram
 * and vramd answer for free), then each job in fio_jobs[] is one fio
 * invocation with --output-format=json+, its summary parsed into
 * run["fio_jobs"].  Try:
 *   sudo build/swapbench run --scenario fio-raw --tiers zram --repeats 1 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fio-raw.h"
#include "log.h"
#include "parse.h"
#include "procfs.h"
#include "run.h"

#define FIO_FLOOR_S 30		/* a job's timeout: at least duration_s plus this */
#define PRECOND_FLOOR_S 60	/* the precondition's: this plus 1 s per PRECOND_MIN_BPS */
#define PRECOND_MIN_BPS (8u << 20)
#define REAP_MS 10000		/* after SIGKILL, how long fio gets to go */
#define PERCENTILES "50:90:99:99.9"

struct fio_job {
	const char *name, *rw;
	unsigned bs, iodepth;
};

static const struct fio_job fio_jobs[] = {
	{ "randread-4k-qd1", "randread", 4096, 1 },
	{ "randwrite-4k-qd1", "randwrite", 4096, 1 },
	{ "randread-4k-qd32", "randread", 4096, 32 },
	{ "randwrite-4k-qd32", "randwrite", 4096, 32 },
	{ "randread-64k-qd8", "randread", 65536, 8 },
	{ "randwrite-64k-qd8", "randwrite", 65536, 8 },
};

/* What one fio invocation needs besides its job. */
struct fio_ctx {
	const struct scenario *sc;
	const char *dev, *engine, *out_dir, *tag;
	uint64_t size;
	char log[PATH_MAX];	/* every fio's stderr, appended */
	json_t *children;
};

/* io_uring when this fio has it and the kernel allows it, else libaio.
 * Asked once per process. */
static const char *fio_engine(void)
{
	static const char *const argv[] = { "fio", "--enghelp", NULL };
	static const char *engine;
	struct run_result r;
	char buf[16], *line, *save = NULL;

	if (engine)
		return engine;
	engine = "libaio";
	if (read_text("/proc/sys/kernel/io_uring_disabled", buf, sizeof buf) >= 0 && strcmp(buf, "0"))
		return engine;
	if (run(argv, TIMEOUT_QUICK_S, RUN_QUIET, &r) < 0)
		return engine;
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strcmp(line + strspn(line, " \t"), "io_uring"))
			engine = "io_uring";
	return engine;
}

/* The size of DEV in bytes: a block device's (BLKGETSIZE64), or a file's
 * (the disk tier's swap file).  0 or -1 with a message. */
static int dev_size(const char *dev, uint64_t *bytes)
{
	struct stat st;
	int fd = open(dev, O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd < 0) {
		error("cannot open '%s': %m", dev);
		return -1;
	}
	if (fstat(fd, &st) < 0)
		error("cannot stat '%s': %m", dev);
	else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, bytes) < 0)
		error("cannot get the size of '%s': %m", dev);
	else if (S_ISBLK(st.st_mode) || S_ISREG(st.st_mode))
		rc = 0;
	else
		error("'%s' is neither a block device nor a file", dev);
	if (rc == 0 && S_ISREG(st.st_mode))
		*bytes = (uint64_t)st.st_size;
	close(fd);
	return rc;
}

/* Whether DEV is active swap: by name in /proc/swaps, and by identity
 * (another path to the same device or file).  1, 0, or -1 when /proc/swaps
 * cannot be read (reported). */
static int swap_in_use(const char *dev)
{
	struct swap_area a[16];
	struct stat d, s;
	int i, n;

	if (swap_active(dev, NULL))
		return 1;
	n = swaps_read(a, 16);
	if (n < 0)
		return -1;
	if (stat(dev, &d) < 0)
		return 0;
	for (i = 0; i < n && i < 16; i++) {
		if (stat(a[i].name, &s) < 0)
			continue;
		if (S_ISBLK(d.st_mode) ? S_ISBLK(s.st_mode) && s.st_rdev == d.st_rdev :
		    s.st_dev == d.st_dev && s.st_ino == d.st_ino)
			return 1;
	}
	return 0;
}

/* Runs fio ARGV under TIMEOUT_S in a process group of its own, stderr to
 * c->log, and records it in c->children.  Returns 0 when it ended (its exit
 * code in *exit_code), 1 when it timed out (killed), 128+N on signal N
 * (killed), -1 when it could not be run or would not die (reported). */
static int fio_exec(struct fio_ctx *c, const char *const argv[], unsigned timeout_s, int *exit_code)
{
	/* fio forks its jobs: its own process group, which goes as a whole. */
	struct child_opts co = { .own_pgrp = true, .output = c->log };
	int status = 0, w, rc = 0;
	bool hung;

	*exit_code = -1;
	w = child_run(argv, &co, (int)timeout_s * 1000, 200, NULL, NULL, REAP_MS, "fio", &status, &hung);
	if (w == -1 && !hung && !status)
		return -1;	/* not started (reported): nothing to record */
	if (hung) {
		json_array_append_new(c->children, json_pack("{s:o, s:i}", "argv",
							     argv_json(argv), "exit_code", -1));
		return -1;
	}
	if (w != 1)
		rc = w == 2 ? 128 + (int)sig_pending : w == 0 ? 1 : -1;
	*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	json_array_append_new(c->children, json_pack("{s:o, s:i}", "argv", argv_json(argv),
						     "exit_code", *exit_code));
	return rc;
}

/* fio's JSON output in PATH, or NULL.  Older fio versions print notes
 * ("fio: ...") before the document, so parsing starts at the first line
 * that opens an object. */
static json_t *fio_load(const char *path)
{
	char *text = read_all(path), *p;
	json_error_t err;
	json_t *doc = NULL;

	if (!text)
		return NULL;
	for (p = text; *p && *p != '{'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		;
	if (*p)
		doc = json_loads(p, JSON_DISABLE_EOF_CHECK, &err);
	if (*p && !doc)
		debug("%s:%d: %s", path, err.line, err.text);
	free(text);
	return doc;
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* The percentile P (50, 99.9...) of fio's "percentile" object, whose keys
 * are formatted numbers ("99.900000"); 0 when absent. */
static json_int_t percentile(json_t *pct, double p)
{
	const char *key;
	json_t *v;

	json_object_foreach(pct, key, v) {
		double k = strtod(key, NULL);

		if (k > p - 1e-6 && k < p + 1e-6)
			return (json_int_t)json_number_value(v);
	}
	return 0;
}

/* Builds the fio_jobs entry of job J (named NAME) from fio document DOC:
 * the section of its direction, completion latency (clat_ns) when fio gave
 * its percentiles, else total latency (lat_ns).  NULL when DOC has no such
 * job. */
static json_t *job_summary(json_t *doc, const char *name, const char *rw, unsigned bs,
			   unsigned iodepth, const char *file)
{
	json_t *jobs = json_object_get(doc, "jobs"), *job = NULL, *sec, *lat, *pct;
	const char *kind = "clat";
	size_t i;

	for (i = 0; i < json_array_size(jobs); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(jobs, i), "jobname"));

		if (n && !strcmp(n, name))
			job = json_array_get(jobs, i);
	}
	sec = json_object_get(job, strstr(rw, "read") ? "read" : "write");
	if (!json_is_object(sec))
		return NULL;
	lat = json_object_get(sec, "clat_ns");
	pct = json_object_get(lat, "percentile");
	if (!json_is_object(pct)) {
		kind = "lat";
		lat = json_object_get(sec, "lat_ns");
		pct = json_object_get(lat, "percentile");
	}
	return json_pack("{s:s, s:s, s:i, s:i, s:I, s:f, s:I, s:I, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			 "job", name, "rw", rw, "bs_bytes", (int)bs, "iodepth", (int)iodepth,
			 /* fio's runtime is in ms */
			 "runtime_ns", (json_int_t)(num(sec, "runtime") * 1e6),
			 "iops", num(sec, "iops"), "bw_bytes_per_s", (json_int_t)num(sec, "bw_bytes"),
			 "io_bytes", (json_int_t)num(sec, "io_bytes"), "latency", kind,
			 "lat_mean_ns", num(lat, "mean"),
			 "lat_p50_ns", percentile(pct, 50), "lat_p90_ns", percentile(pct, 90),
			 "lat_p99_ns", percentile(pct, 99), "lat_p999_ns", percentile(pct, 99.9),
			 "lat_max_ns", (json_int_t)num(lat, "max"),
			 "error", (json_int_t)num(job, "error"), "output_file", file);
}

/* One fio invocation: job NAME (rw, bs, iodepth; time-based unless bs is
 * the precondition's 1 MiB sequential write).  Sets *summary (caller owns)
 * when fio produced a result, and reason when the run is invalid.  Returns
 * 0, 128+N on signal N, -1 when fio could not be run. */
static int fio_one(struct fio_ctx *c, const char *name, const char *rw, unsigned bs,
		   unsigned iodepth, bool time_based, json_t **summary, char *reason, size_t rlen)
{
	const struct scenario *sc = c->sc;
	char a_name[96], a_file[PATH_MAX + 16], a_rw[48], a_bs[32], a_qd[32], a_eng[48];
	char a_size[48], a_run[48], a_out[PATH_MAX + 16], file[160], path[PATH_MAX];
	const char *argv[40];
	unsigned n = 0, timeout_s;
	int exit_code, rc, busy;
	json_t *doc;

	snprintf(file, sizeof file, "%s-fio-%s.json", c->tag, name);
	if (pathf(path, sizeof path, "%s/%s", c->out_dir, file) < 0)
		return -1;
	snprintf(a_name, sizeof a_name, "--name=%s", name);
	snprintf(a_file, sizeof a_file, "--filename=%s", c->dev);
	snprintf(a_rw, sizeof a_rw, "--rw=%s", rw);
	snprintf(a_bs, sizeof a_bs, "--bs=%u", bs);
	snprintf(a_qd, sizeof a_qd, "--iodepth=%u", iodepth);
	snprintf(a_eng, sizeof a_eng, "--ioengine=%s", c->engine);
	snprintf(a_size, sizeof a_size, "--size=%" PRIu64, c->size);
	snprintf(a_run, sizeof a_run, "--runtime=%u", sc->duration_s);
	snprintf(a_out, sizeof a_out, "--output=%s", path);
	argv[n++] = "fio";
	argv[n++] = a_name;
	argv[n++] = a_file;
	argv[n++] = a_rw;
	argv[n++] = a_bs;
	argv[n++] = a_qd;
	argv[n++] = "--direct=1";
	argv[n++] = a_eng;
	argv[n++] = a_size;
	if (time_based) {
		argv[n++] = "--time_based";
		argv[n++] = a_run;
		argv[n++] = "--randrepeat=0";
		argv[n++] = "--norandommap";
	}
	/* What the device stores (and zram compresses): the scenario's factor. */
	if (!strcmp(sc->compressibility, "zero")) {
		argv[n++] = "--zero_buffers";
	} else {
		argv[n++] = "--refill_buffers";
		if (!strcmp(sc->compressibility, "2:1"))
			argv[n++] = "--buffer_compress_percentage=50";
		else if (!strcmp(sc->compressibility, "4:1"))
			argv[n++] = "--buffer_compress_percentage=75";
	}
	argv[n++] = "--percentile_list=" PERCENTILES;
	argv[n++] = "--output-format=json+";
	argv[n++] = a_out;
	argv[n] = NULL;

	busy = swap_in_use(c->dev);
	if (busy) {
		if (busy > 0) {
			error("'%s' is active swap: refusing to run fio on it", c->dev);
			snprintf(reason, rlen, "refused: '%s' is active swap", c->dev);
		}
		return -1;
	}
	if (time_based)
		timeout_s = sc->timeout_s > sc->duration_s + FIO_FLOOR_S ? sc->timeout_s :
			    sc->duration_s + FIO_FLOOR_S;
	else
		timeout_s = PRECOND_FLOOR_S + (unsigned)(c->size / PRECOND_MIN_BPS);
	if (!time_based && timeout_s < sc->timeout_s)
		timeout_s = sc->timeout_s;
	/* A failed fio must not leave an earlier run's output to be read. */
	unlink(path);
	rc = fio_exec(c, argv, timeout_s, &exit_code);
	if (rc < 0)
		return -1;
	if (rc > 128) {
		snprintf(reason, rlen, "interrupted by signal %d", rc - 128);
		return rc;
	}
	if (rc == 1) {
		snprintf(reason, rlen, "timeout: fio %s outlived %u s", name, timeout_s);
		return 0;
	}
	doc = fio_load(path);
	*summary = doc ? job_summary(doc, name, rw, bs, iodepth, file) : NULL;
	json_decref(doc);
	if (exit_code != 0)
		snprintf(reason, rlen, "fio %s exit code %d (see %s-fio.log)", name, exit_code, c->tag);
	else if (!*summary)
		snprintf(reason, rlen, "fio %s: no job result in '%s'", name, file);
	else if (json_integer_value(json_object_get(*summary, "error")))
		snprintf(reason, rlen, "fio %s error %" JSON_INTEGER_FORMAT " (%s)", name,
			 json_integer_value(json_object_get(*summary, "error")),
			 strerror((int)json_integer_value(json_object_get(*summary, "error"))));
	else if (json_integer_value(json_object_get(*summary, "io_bytes")) <= 0 ||
		 json_real_value(json_object_get(*summary, "iops")) <= 0)
		snprintf(reason, rlen, "fio %s did no I/O", name);
	return 0;
}

int fio_raw_measure(const struct scenario *sc, struct tier *t, const char *out_dir,
		    const char *tag, json_t *run, json_t *children)
{
	struct fio_ctx c = { .sc = sc, .out_dir = out_dir, .tag = tag, .children = children };
	json_t *jobs, *summary = NULL;
	char reason[512] = "", sz[32];
	uint64_t dev_bytes = 0, t0, pre_ns = 0;
	unsigned i;
	int rc = 0;

	json_object_set_new(run, "kind", json_string("fio"));
	if (t->ops->frontswap) {
		snprintf(reason, sizeof reason, "not applicable: %s has no block device of its own "
			 "(it compresses in front of the disk tier's swap device: measure tier disk)",
			 t->ops->name);
		goto done;
	}
	if (!have_command("fio")) {
		error("'fio' not found: apt-get install fio (or make deps)");
		return -1;
	}
	c.dev = tier_state(t, "swap_dev");
	if (!c.dev) {
		error("tier '%s' named no device (state.swap_dev): nothing for fio", t->ops->name);
		return -1;
	}
	if (dev_size(c.dev, &dev_bytes) < 0)
		return -1;
	/* Whole MiB: the precondition writes 1 MiB blocks. */
	c.size = (dev_bytes < sc->fio_size_bytes ? dev_bytes : sc->fio_size_bytes) & ~((1ULL << 20) - 1);
	if (!c.size) {
		error("'%s' is smaller than 1 MiB: nothing for fio", c.dev);
		return -1;
	}
	c.engine = fio_engine();
	if (pathf(c.log, sizeof c.log, "%s/%s-fio.log", out_dir, tag) < 0)
		return -1;
	jobs = json_array();
	json_object_set_new(run, "fio_jobs", jobs);
	json_object_set_new(run, "fio", json_pack("{s:s, s:I, s:I, s:s, s:s, s:i}", "device", c.dev,
		"device_bytes", (json_int_t)dev_bytes, "size_bytes", (json_int_t)c.size,
		"ioengine", c.engine, "compressibility", sc->compressibility,
		"duration_s", (int)sc->duration_s));

	info("fio precondition: writing %s of %s once (%s)", format_size(c.size, sz, sizeof sz),
	     c.dev, sc->compressibility);
	t0 = mono_ns();
	rc = fio_one(&c, "precondition", "write", 1u << 20, 8, false, &summary, reason, sizeof reason);
	pre_ns = mono_ns() - t0;
	json_object_set_new(json_object_get(run, "fio"), "precondition_ns", json_integer((json_int_t)pre_ns));
	json_object_set(json_object_get(run, "fio"), "precondition_bw_bytes_per_s",
			summary ? json_object_get(summary, "bw_bytes_per_s") : json_null());
	json_decref(summary);
	for (i = 0; i < sizeof fio_jobs / sizeof fio_jobs[0] && rc == 0 && !reason[0]; i++) {
		const struct fio_job *j = &fio_jobs[i];

		if (sig_pending) {
			rc = 128 + (int)sig_pending;
			snprintf(reason, sizeof reason, "interrupted by signal %d", rc - 128);
			break;
		}
		info("fio %s on %s (%s, %u s)", j->name, c.dev, c.engine, sc->duration_s);
		summary = NULL;
		rc = fio_one(&c, j->name, j->rw, j->bs, j->iodepth, true, &summary, reason, sizeof reason);
		if (!summary)
			continue;
		info("fio %s: %.0f IOPS, %.1f MB/s, %s p50 %.1f us, p99 %.1f us", j->name,
		     json_real_value(json_object_get(summary, "iops")),
		     (double)json_integer_value(json_object_get(summary, "bw_bytes_per_s")) / 1e6,
		     json_string_value(json_object_get(summary, "latency")),
		     (double)json_integer_value(json_object_get(summary, "lat_p50_ns")) / 1e3,
		     (double)json_integer_value(json_object_get(summary, "lat_p99_ns")) / 1e3);
		json_array_append_new(jobs, summary);
	}
	if (rc > 128)
		info("signal %d: stopping fio and tearing tier '%s' down", rc - 128, t->ops->name);
	if (rc < 0 && !reason[0])
		snprintf(reason, sizeof reason, "fio could not be run on '%s' (see above)", c.dev);
done:
	json_object_set_new(run, "valid", json_boolean(!reason[0]));
	json_object_set_new(run, "invalid_reason", reason[0] ? json_string(reason) : json_null());
	return rc;
}
