/* Exact-key parsers for /proc and sysfs: see procfs.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"
#include "provenance.h"

ssize_t read_text(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	/* sysfs answers in one read; /proc files may need several. */
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	while (got > 0 && buf[got - 1] == '\n')
		got--;
	buf[got] = '\0';
	return got;
}

char *read_all(const char *path)
{
	size_t cap = 16384, got = 0;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto err;
	for (;;) {
		if (got + 1 >= cap) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto err_close;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto err_close;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return buf;

err_close:
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
err:
	{
		int saved = errno;
		free(buf);
		errno = saved;
	}
	return NULL;
}

int write_text(const char *path, const char *value, bool quiet)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		goto err;
	n = write(fd, value, len);
	if (n < 0 || (size_t)n != len) {
		int saved = n < 0 ? errno : EIO;
		close(fd);
		errno = saved;
		goto err;
	}
	if (close(fd) < 0)
		goto err;
	return 0;
err:
	if (!quiet)
		error("cannot write '%s' to '%s': %m", value, path);
	return -1;
}

int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		error("path too long: '%s...'", buf);
		return -1;
	}
	return 0;
}

int self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int self_dir(char *buf, size_t len)
{
	char *slash;

	if (self_exe(buf, len) < 0 || !(slash = strrchr(buf, '/')))
		return -1;
	*slash = '\0';
	return 0;
}

void data_dir(const char *env, const char *name, const char *probe, char *buf, size_t len)
{
	const char *e = getenv(env);
	char self[PATH_MAX];

	if (e && *e) {
		snprintf(buf, len, "%s", e);
		return;
	}
	if (self_dir(self, sizeof self) == 0) {
		/* The tree (build/../NAME), then an installed copy
		 * (PREFIX/bin/../share/swapbench/NAME, as make install puts it). */
		if (pathf(buf, len, "%s/../%s/%s", self, name, probe) == 0 && access(buf, F_OK) == 0) {
			snprintf(buf, len, "%s/../%s", self, name);
			return;
		}
		if (pathf(buf, len, "%s/../share/swapbench/%s/%s", self, name, probe) == 0 &&
		    access(buf, F_OK) == 0) {
			snprintf(buf, len, "%s/../share/swapbench/%s", self, name);
			return;
		}
	}
	snprintf(buf, len, "%s", name);
}

bool kv_next(const char **pos, char *key, size_t klen, char *val, size_t vlen)
{
	const char *p = *pos, *eol, *k, *v, *e;
	size_t n;

	while (*p) {
		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		k = p;
		while (k < eol && *k != ':' && !isspace((unsigned char)*k))
			k++;
		n = (size_t)(k - p);
		if (n == 0 || n >= klen) {
			p = *eol ? eol + 1 : eol;
			continue;
		}
		memcpy(key, p, n);
		key[n] = '\0';
		v = k;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		if (v < eol && *v == ':')
			v++;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		e = eol;
		while (e > v && isspace((unsigned char)e[-1]))
			e--;
		n = (size_t)(e - v);
		if (n >= vlen)
			n = vlen - 1;
		memcpy(val, v, n);
		val[n] = '\0';
		*pos = *eol ? eol + 1 : eol;
		return true;
	}
	*pos = p;
	return false;
}

int kv_str(const char *text, const char *key, char *val, size_t vlen)
{
	char k[128];
	const char *p = text;

	while (kv_next(&p, k, sizeof k, val, vlen))
		if (!strcmp(k, key))
			return 0;
	return -1;
}

static int parse_u64_prefix(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\t'))
		return -1;
	*out = v;
	return 0;
}

int kv_u64(const char *text, const char *key, uint64_t *out)
{
	char v[128];

	if (kv_str(text, key, v, sizeof v) < 0)
		return -1;
	return parse_u64_prefix(v, out);
}

bool kv_has(const char *text, const char *key, const char *value)
{
	char k[128], v[256];
	const char *p = text;

	while (kv_next(&p, k, sizeof k, v, sizeof v))
		if (!strcmp(k, key) && !strcmp(v, value))
			return true;
	return false;
}

int crypto_compressors(const char *text, char *list, size_t len)
{
	char k[64], v[128], name[128] = "";
	const char *p = text;
	size_t used = 0;
	int n = 0;

	if (len)
		list[0] = '\0';
	while (kv_next(&p, k, sizeof k, v, sizeof v)) {
		if (!strcmp(k, "name")) {
			snprintf(name, sizeof name, "%s", v);
			continue;
		}
		if (strcmp(k, "type") || !name[0] || word_in(list, name))
			continue;
		if (strcmp(v, "scomp") && strcmp(v, "acomp") && strcmp(v, "compression"))
			continue;
		if (used + strlen(name) + 2 > len)
			break;
		used += (size_t)snprintf(list + used, len - used, "%s%s", used ? " " : "", name);
		n++;
	}
	return n;
}

int fields_to_json(const char *text, const struct field *f, unsigned n, json_t *out)
{
	const char *p = text;
	unsigned i = 0;
	char *end;
	unsigned long long v;

	while (i < n) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || (*end && !isspace((unsigned char)*end)))
			return -1;
		json_object_set_new(out, f[i].key, json_integer((json_int_t)(v * f[i].scale)));
		p = end;
		i++;
	}
	return (int)i;
}

const struct field blockstat_fields[] = {
	{ "read_ios", 1 }, { "read_merges", 1 }, { "read_bytes", 512 }, { "read_ticks_ms", 1 },
	{ "write_ios", 1 }, { "write_merges", 1 }, { "write_bytes", 512 }, { "write_ticks_ms", 1 },
	{ "in_flight", 1 }, { "io_ticks_ms", 1 }, { "time_in_queue_ms", 1 },
	{ "discard_ios", 1 }, { "discard_merges", 1 }, { "discard_bytes", 512 },
	{ "discard_ticks_ms", 1 }, { "flush_ios", 1 }, { "flush_ticks_ms", 1 },
};
const unsigned blockstat_nfields = sizeof blockstat_fields / sizeof blockstat_fields[0];

const struct field zram_mm_fields[] = {
	{ "orig_data_bytes", 1 }, { "compr_data_bytes", 1 }, { "mem_used_total_bytes", 1 },
	{ "mem_limit_bytes", 1 }, { "mem_used_max_bytes", 1 }, { "same_pages", 1 },
	{ "pages_compacted", 1 }, { "huge_pages", 1 }, { "huge_pages_since", 1 },
};
const unsigned zram_mm_nfields = sizeof zram_mm_fields / sizeof zram_mm_fields[0];

const struct field zram_io_fields[] = {
	{ "failed_reads", 1 }, { "failed_writes", 1 }, { "invalid_io", 1 }, { "notify_free", 1 },
};
const unsigned zram_io_nfields = sizeof zram_io_fields / sizeof zram_io_fields[0];

int choice_parse(const char *text, char *cur, size_t curlen, char *list, size_t listlen)
{
	const char *p = text, *w;
	size_t n, used = 0;
	bool found = false, br;

	if (list && listlen)
		list[0] = '\0';
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		br = *p == '[';
		w = br ? p + 1 : p;
		p = w;
		while (*p && !isspace((unsigned char)*p) && *p != ']')
			p++;
		n = (size_t)(p - w);
		if (br && *p == ']') {
			p++;
			if (n < curlen) {
				memcpy(cur, w, n);
				cur[n] = '\0';
				found = true;
			}
		}
		if (list && n > 0 && used + n + 2 < listlen) {
			if (used)
				list[used++] = ' ';
			memcpy(list + used, w, n);
			used += n;
			list[used] = '\0';
		}
	}
	return found ? 0 : -1;
}

bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		bool start = p == list || isspace((unsigned char)p[-1]);
		bool end = !p[n] || isspace((unsigned char)p[n]);

		if (start && end && n)
			return true;
		p += n ? n : 1;
	}
	return false;
}

/* Decodes the kernel's octal escapes (\040 for a blank) in place. */
static void unescape(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

int swaps_parse(const char *text, struct swap_area *a, int max)
{
	const char *p = strchr(text, '\n');
	int n = 0;

	if (!p) /* header only, or empty */
		return 0;
	p++;
	while (*p) {
		struct swap_area s;
		char name[256], type[16];
		unsigned long long size, used;
		int prio, consumed = 0;
		const char *eol = strchr(p, '\n');

		if (*p == '\n') {
			p++;
			continue;
		}
		if (sscanf(p, "%255s %15s %llu %llu %d%n", name, type, &size, &used, &prio, &consumed) != 5)
			return -1;
		if (eol && p + consumed > eol)
			return -1;
		if (n < max) {
			memset(&s, 0, sizeof s);
			snprintf(s.name, sizeof s.name, "%s", name);
			unescape(s.name);
			snprintf(s.type, sizeof s.type, "%s", type);
			s.size_kib = size;
			s.used_kib = used;
			s.priority = prio;
			a[n] = s;
		}
		n++;
		if (!eol)
			break;
		p = eol + 1;
	}
	return n;
}

int swaps_read(struct swap_area *a, int max)
{
	char *t = read_all("/proc/swaps");
	int n;

	if (!t) {
		error("cannot read '/proc/swaps': %m");
		return -1;
	}
	n = swaps_parse(t, a, max);
	if (n < 0)
		error("cannot parse '/proc/swaps'");
	free(t);
	return n;
}

bool swap_active(const char *name, struct swap_area *out)
{
	struct swap_area a[32];
	int n = swaps_read(a, 32), i;

	for (i = 0; i < n && i < 32; i++) {
		if (!strcmp(a[i].name, name)) {
			if (out)
				*out = a[i];
			return true;
		}
	}
	return false;
}

bool mounts_next(const char **pos, struct mount_entry *m)
{
	const char *p = *pos;

	while (*p) {
		const char *eol = strchr(p, '\n');
		int k;

		if (!eol)
			eol = p + strlen(p);
		k = sscanf(p, "%255s %511s %63s %511s", m->source, m->dir, m->type, m->opts);
		p = *eol ? eol + 1 : eol;
		if (k != 4)
			continue;
		unescape(m->source);
		unescape(m->dir);
		*pos = p;
		return true;
	}
	*pos = p;
	return false;
}

bool is_mounted(const char *dir, char *type, size_t tlen)
{
	char *t = read_all("/proc/self/mounts");
	const char *p = t;
	struct mount_entry m;
	bool found = false;

	if (!t)
		return false;
	while (mounts_next(&p, &m)) {
		if (!strcmp(m.dir, dir)) {
			found = true;
			if (type)
				snprintf(type, tlen, "%s", m.type);
		}
	}
	free(t);
	return found;
}

bool opt_has(const char *opts, const char *word)
{
	size_t n = strlen(word);
	const char *p = opts;

	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (len == n && !strncmp(p, word, n))
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

/* The text of field FIELD (3 = state) of a /proc/PID/stat text, counted
 * after the last ')' so that any comm is safe; NULL when short. */
static const char *pidstat_at(const char *text, int field)
{
	const char *p = strrchr(text, ')');
	int f;

	if (!p)
		return NULL;
	for (p++, f = 3; f < field; f++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
		if (!*p)
			return NULL;
	}
	return p;
}

int pidstat_cpu_ticks(const char *text, uint64_t *ticks)
{
	const char *p = pidstat_at(text, 14);
	unsigned long long u, s;

	if (!p || sscanf(p, " %llu %llu", &u, &s) != 2)
		return -1;
	*ticks = u + s;
	return 0;
}

int pid_cpu_ns(pid_t pid, uint64_t *ns)
{
	char path[64], buf[1024];
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t t;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (pid <= 0 || read_text(path, buf, sizeof buf) < 0 || pidstat_cpu_ticks(buf, &t) < 0)
		return -1;
	*ns = t * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
	return 0;
}

int pidstat_parse(const char *text, char *state, uint64_t *start_ticks)
{
	const char *p = pidstat_at(text, 3), *q = pidstat_at(text, 22);
	unsigned long long st;
	char s;

	if (!p || !q || sscanf(p, " %c", &s) != 1 || sscanf(q, " %llu", &st) != 1)
		return -1;
	*state = s;
	*start_ticks = st;
	return 0;
}

int pid_stat(pid_t pid, char *state, uint64_t *start_ticks)
{
	char path[64], buf[1024];

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof buf) < 0)
		return -1;
	if (pidstat_parse(buf, state, start_ticks) < 0)
		return -1;
	return *state == 'Z' || *state == 'X' ? -1 : 0;
}

bool pid_running(pid_t pid)
{
	char st;
	uint64_t t;

	return pid > 0 && pid_stat(pid, &st, &t) == 0;
}

int pid_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	return pid > 0 && read_text(path, buf, len) >= 0 ? 0 : -1;
}

bool pid_is(pid_t pid, uint64_t start_ticks, const char *comm)
{
	char st, now[64];
	uint64_t t;

	if (pid <= 0 || !start_ticks || !comm || !comm[0] || pid_stat(pid, &st, &t) < 0 ||
	    t != start_ticks || pid_comm(pid, now, sizeof now) < 0)
		return false;
	/* The start time is read again: the pid may have been reused meanwhile. */
	return !strncmp(now, comm, 15) && pid_stat(pid, &st, &t) == 0 && t == start_ticks;
}

uint64_t boot_ticks_now(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);

	clock_gettime(CLOCK_BOOTTIME, &ts);
	if (hz <= 0)
		hz = 100;
	return (uint64_t)ts.tv_sec * (uint64_t)hz + (uint64_t)ts.tv_nsec / (1000000000u / (uint64_t)hz);
}

int pid_vmswap(pid_t pid, uint64_t *bytes)
{
	char path[64];
	char *t;
	uint64_t kib;
	int rc;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	t = read_all(path);
	if (!t)
		return -1;
	rc = kv_u64(t, "VmSwap", &kib);
	free(t);
	if (rc == 0)
		*bytes = kib * 1024;
	return rc;
}

int blockdev_name(dev_t dev, char *name, size_t len)
{
	char path[128], target[512], *slash;
	ssize_t n;

	snprintf(path, sizeof path, "/sys/dev/block/%u:%u", major(dev), minor(dev));
	n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(name, len, "%s", slash ? slash + 1 : target);
	return 0;
}

int blockstat_json(dev_t dev, json_t *out)
{
	char path[128], buf[512];

	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/stat", major(dev), minor(dev));
	if (read_text(path, buf, sizeof buf) < 0)
		return -1;
	return fields_to_json(buf, blockstat_fields, blockstat_nfields, out) < 0 ? -1 : 0;
}

int boot_id(char *buf, size_t len)
{
	return read_text("/proc/sys/kernel/random/boot_id", buf, len) < 0 ? -1 : 0;
}

int machine_id_hash(char *buf, size_t len)
{
	static const char salt[] = "swapbench:";
	char id[128];
	uint64_t h = 14695981039346656037ULL;
	const char *p;

	if (len)
		buf[0] = '\0';
	/* Where systemd left no machine id (containers, bare images), the
	 * firmware's: both stay across boots.  Not a placeholder UUID that
	 * many boards and VMs share (all zeros, all F, 03000200-...-0009). */
	if ((read_text("/etc/machine-id", id, sizeof id) < 0 || !id[0]) &&
	    (read_text("/sys/class/dmi/id/product_uuid", id, sizeof id) < 0 || !id[0] ||
	     strspn(id, "0-") == strlen(id) || strspn(id, "fF-") == strlen(id) ||
	     !strcasecmp(id, "03000200-0400-0500-0006-000700080009")))
		return -1;
	for (p = salt; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(buf, len, "%016" PRIx64, h);
	return 0;
}

int cpu_model(char *buf, size_t len)
{
	char *all = read_all("/proc/cpuinfo"), *line, *save = NULL, *v;

	if (len)
		buf[0] = '\0';
	if (!all)
		return -1;
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "model name", 10) || !(v = strchr(line, ':')))
			continue;
		v += 1 + strspn(v + 1, " \t");
		snprintf(buf, len, "%s", v);
		break;
	}
	free(all);
	return buf[0] ? 0 : -1;
}

void provenance_json(json_t *obj)
{
	char mid[32], cpu[256];

	machine_id_hash(mid, sizeof mid);
	cpu_model(cpu, sizeof cpu);
	json_object_set_new(obj, "machine_id", mid[0] ? json_string(mid) : json_null());
	json_object_set_new(obj, "cpu_model", json_string(cpu));
	json_object_set_new(obj, "swapbench_commit", json_string(build_commit));
}
