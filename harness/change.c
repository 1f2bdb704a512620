/* Changes to the machine and their undo: see change.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "run.h"

#define S(c, key) json_string_value(json_object_get((c), (key)))
/* An optional field, for saying: "?" when it is not there. */
#define OPT(c, key) (S(c, key) ? S(c, key) : "?")

/* --- value ---------------------------------------------------------------------- */

/* The current value of PATH: a choice file's bracketed word, else the text. */
static int current_value(const char *path, char *buf, size_t len)
{
	char raw[1024], cur[128];

	if (read_text(path, raw, sizeof raw) < 0)
		return -1;
	if (strchr(raw, '[') && choice_parse(raw, cur, sizeof cur, NULL, 0) == 0)
		snprintf(buf, len, "%s", cur);
	else
		snprintf(buf, len, "%s", raw);
	return 0;
}

int change_value(struct journal *j, const char *path, const char *value)
{
	char old[1024];

	if (current_value(path, old, sizeof old) < 0) {
		error("cannot read '%s': %m", path);
		return -1;
	}
	if (!strcmp(old, value))
		return 0;
	if (journal_add(j, json_pack("{s:s, s:s, s:s}", "kind", "value", "path", path, "old", old)) < 0)
		return -1;
	if (j->dry_run) {
		printf("would: write '%s' to '%s' (now '%s')\n", value, path, old);
		return 0;
	}
	return write_text(path, value, false);
}

static int undo_value(json_t *c)
{
	const char *path = S(c, "path"), *old = S(c, "old");
	char now[1024];

	if (!path || !old) {
		error("journal entry 'value' lacks path or old");
		return -1;
	}
	if (current_value(path, now, sizeof now) < 0) {
		if (errno == ENOENT)
			return 0; /* the device or module is gone, and its setting with it */
		error("cannot read '%s': %m", path);
		return -1;
	}
	if (!strcmp(now, old))
		return 0;
	return write_text(path, old, false);
}

static void say_value(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "write '%s' back to '%s'", S(c, "old"), S(c, "path"));
}

/* --- write (on undo) ------------------------------------------------------------- */

int change_on_undo_write(struct journal *j, const char *path, const char *undo_value)
{
	return journal_add(j, json_pack("{s:s, s:s, s:s}", "kind", "write", "path", path,
					"value", undo_value));
}

static int undo_write(json_t *c)
{
	const char *path = S(c, "path"), *value = S(c, "value");
	int delay = 20, waited = 0;

	if (!path || !value) {
		error("journal entry 'write' lacks path or value");
		return -1;
	}
	for (;;) {
		if (write_text(path, value, true) == 0)
			return 0;
		if (errno == ENOENT || errno == ENODEV)
			return 0; /* the object is gone already */
		if (errno != EBUSY || waited >= 10000)
			break;
		/* zram's reset is EBUSY while something still holds the device
		 * open (udev's probe after swapoff): back off and retry. */
		usleep((useconds_t)delay * 1000);
		waited += delay;
		delay = delay < 640 ? delay * 2 : delay;
	}
	error("cannot write '%s' to '%s'%s: %m", value, path,
	      errno == EBUSY ? " (busy for 10 s)" : "");
	return -1;
}

static void say_write(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "write '%s' to '%s'", S(c, "value"), S(c, "path"));
}

/* --- run (on undo) --------------------------------------------------------------- */

int change_on_undo_run_if(struct journal *j, const char *const argv[], int timeout_s,
			  const char *if_exists)
{
	json_t *a = json_array(), *c;
	int i;

	for (i = 0; argv[i]; i++)
		json_array_append_new(a, json_string(argv[i]));
	c = json_pack("{s:s, s:o, s:i}", "kind", "run", "argv", a, "timeout_s", timeout_s);
	if (c && if_exists)
		json_object_set_new(c, "if_exists", json_string(if_exists));
	return journal_add(j, c);
}

int change_on_undo_run(struct journal *j, const char *const argv[], int timeout_s)
{
	return change_on_undo_run_if(j, argv, timeout_s, NULL);
}

static int undo_run(json_t *c)
{
	json_t *a = json_object_get(c, "argv");
	const char *argv[32];
	size_t i, n = json_array_size(a);
	int t = (int)json_integer_value(json_object_get(c, "timeout_s"));
	const char *cond = S(c, "if_exists");

	/* The object the command would remove is gone already (removed by
	 * its owner on the way out, or never made). */
	if (cond && access(cond, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (n == 0 || n >= 32) {
		error("journal entry 'run' has no usable argv");
		return -1;
	}
	for (i = 0; i < n; i++) {
		argv[i] = json_string_value(json_array_get(a, i));
		if (!argv[i]) {
			error("journal entry 'run' has a non-string argument");
			return -1;
		}
	}
	argv[n] = NULL;
	return run(argv, t > 0 ? t : TIMEOUT_QUICK_S, 0, NULL);
}

static void say_run(const json_t *c, char *buf, size_t len)
{
	json_t *a = json_object_get(c, "argv");
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(a) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "run ",
					 json_string_value(json_array_get(a, i)));
	if (S(c, "if_exists") && used < len)
		snprintf(buf + used, len - used, " (if '%s' exists)", S(c, "if_exists"));
}

/* --- swapon / swapoff ------------------------------------------------------------- */

int change_swapon(struct journal *j, const char *dev, int prio)
{
	char p[16];
	const char *with[] = { "swapon", "--priority", p, dev, NULL };
	const char *without[] = { "swapon", dev, NULL };

	snprintf(p, sizeof p, "%d", prio);
	if (journal_add(j, json_pack("{s:s, s:s}", "kind", "swapon", "dev", dev)) < 0)
		return -1;
	return run(prio >= 0 ? with : without, TIMEOUT_SWAPON_S, j->dry_run ? RUN_DRY : 0, NULL);
}

static int undo_swapon(json_t *c)
{
	const char *dev = S(c, "dev");
	const char *argv[] = { "swapoff", dev, NULL };

	if (!dev) {
		error("journal entry 'swapon' lacks dev");
		return -1;
	}
	if (!swap_active(dev, NULL))
		return 0;
	if (run(argv, TIMEOUT_SWAPOFF_S, 0, NULL) < 0)
		return -1;
	if (swap_active(dev, NULL)) {
		error("'%s' is still active swap after swapoff", dev);
		return -1;
	}
	return 0;
}

static void say_swapon(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "swapoff '%s'", S(c, "dev"));
}

int change_swapoff(struct journal *j, const struct swap_area *a)
{
	const char *argv[] = { "swapoff", a->name, NULL };

	if (journal_add(j, json_pack("{s:s, s:s, s:i}", "kind", "swapoff", "dev", a->name,
				     "priority", a->priority)) < 0)
		return -1;
	return run(argv, TIMEOUT_SWAPOFF_S, j->dry_run ? RUN_DRY : 0, NULL);
}

static int undo_swapoff(json_t *c)
{
	const char *dev = S(c, "dev");
	int prio = (int)json_integer_value(json_object_get(c, "priority"));
	char p[16];
	const char *with[] = { "swapon", "--priority", p, dev, NULL };
	const char *without[] = { "swapon", dev, NULL };

	if (!dev) {
		error("journal entry 'swapoff' lacks dev");
		return -1;
	}
	if (swap_active(dev, NULL))
		return 0;
	/* A negative priority was the kernel's choice: let it choose again. */
	snprintf(p, sizeof p, "%d", prio);
	return run(prio >= 0 ? with : without, TIMEOUT_SWAPON_S, 0, NULL);
}

static void say_swapoff(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "swapon '%s' at priority %d", S(c, "dev"),
		 (int)json_integer_value(json_object_get(c, "priority")));
}

/* --- file / dir ------------------------------------------------------------------------ */

int change_file(struct journal *j, const char *path, int *fd)
{
	*fd = -1;
	if (journal_add(j, json_pack("{s:s, s:s}", "kind", "file", "path", path)) < 0)
		return -1;
	if (j->dry_run) {
		printf("would: create '%s'\n", path);
		return 0;
	}
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd < 0) {
		error("cannot create '%s': %m", path);
		return -1;
	}
	return 0;
}

static int undo_file(json_t *c)
{
	const char *path = S(c, "path");

	if (!path) {
		error("journal entry 'file' lacks path");
		return -1;
	}
	if (swap_active(path, NULL)) {
		error("not removing '%s': it is still active swap", path);
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		error("cannot remove '%s': %m", path);
		return -1;
	}
	return 0;
}

static void say_file(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "remove '%s'", S(c, "path"));
}

int change_dir(struct journal *j, const char *path)
{
	if (journal_add(j, json_pack("{s:s, s:s}", "kind", "dir", "path", path)) < 0)
		return -1;
	if (j->dry_run) {
		printf("would: create directory '%s'\n", path);
		return 0;
	}
	if (mkdir(path, 0700) < 0) {
		error("cannot create directory '%s': %m", path);
		return -1;
	}
	return 0;
}

static int undo_dir(json_t *c)
{
	const char *path = S(c, "path");
	struct dirent *e;
	DIR *d;

	if (!path) {
		error("journal entry 'dir' lacks path");
		return -1;
	}
	if (is_mounted(path, NULL, 0)) {
		error("not removing '%s': something is mounted there", path);
		return -1;
	}
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : (error("cannot open '%s': %m", path), -1);
	/* Only plain files (logs, sockets, pid files): subdirectories are
	 * changes of their own, undone before. */
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];

		if (e->d_type == DT_DIR)
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		if (unlink(p) < 0 && errno != ENOENT)
			warn("cannot remove '%s': %m", p);
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT) {
		error("cannot remove directory '%s': %m", path);
		return -1;
	}
	return 0;
}

static void say_dir(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "remove directory '%s' and its files", S(c, "path"));
}

/* --- loop ------------------------------------------------------------------------------------ */

/* Loop devices whose backing file is FILE ("/dev/loopN" each), up to max. */
static int loops_of(const char *file, char dev[][32], int max)
{
	glob_t g;
	size_t i;
	int n = 0;

	if (glob("/sys/block/loop*/loop/backing_file", 0, NULL, &g) != 0)
		return 0;
	for (i = 0; i < g.gl_pathc && n < max; i++) {
		char b[PATH_MAX], name[27];

		if (read_text(g.gl_pathv[i], b, sizeof b) < 0 || strcmp(b, file))
			continue;
		if (sscanf(g.gl_pathv[i], "/sys/block/%26[^/]", name) == 1)
			snprintf(dev[n++], 32, "/dev/%s", name);
	}
	globfree(&g);
	return n;
}

int change_loop(struct journal *j, const char *file, char *dev, size_t len, bool *direct_io)
{
	const char *dio[] = { "losetup", "--direct-io=on", "--find", "--show", file, NULL };
	const char *buffered[] = { "losetup", "--find", "--show", file, NULL };
	struct run_result r;
	char path[96], v[16];
	int idx;

	*direct_io = false;
	idx = journal_add(j, json_pack("{s:s, s:s, s:n}", "kind", "loop", "file", file, "dev"));
	if (idx < 0)
		return -1;
	if (j->dry_run) {
		run(dio, TIMEOUT_QUICK_S, RUN_DRY, NULL);
		snprintf(dev, len, "/dev/loopN");
		*direct_io = true;
		return 0;
	}
	if (run(dio, TIMEOUT_QUICK_S, RUN_QUIET, &r) < 0) {
		if (r.timed_out || r.hung)
			return -1;
		warn("losetup --direct-io=on '%s' failed (%s); using buffered I/O, so swap "
		     "writes go through the page cache", file, r.out);
		if (run(buffered, TIMEOUT_QUICK_S, 0, &r) < 0)
			return -1;
	}
	if (strncmp(r.out, "/dev/loop", 9) != 0) {
		error("losetup printed '%s', not a loop device", r.out);
		return -1;
	}
	snprintf(dev, len, "%s", r.out);
	if (journal_note(j, idx, "dev", json_string(dev)) < 0)
		return -1;
	snprintf(path, sizeof path, "/sys/block/%s/loop/dio", dev + 5);
	*direct_io = read_text(path, v, sizeof v) > 0 && !strcmp(v, "1");
	return 0;
}

static int undo_loop(json_t *c)
{
	const char *file = S(c, "file"), *known = S(c, "dev");
	char devs[8][32];
	int n, i, t;

	if (!file) {
		error("journal entry 'loop' lacks file");
		return -1;
	}
	n = loops_of(file, devs, 8);
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		const char *argv[] = { "losetup", "-d", devs[i], NULL };
		char bf[96];

		if (known && strcmp(known, devs[i]))
			debug("'%s' is also attached to '%s'", devs[i], file);
		if (swap_active(devs[i], NULL)) {
			error("not detaching '%s': it is still active swap", devs[i]);
			return -1;
		}
		if (run(argv, TIMEOUT_QUICK_S, 0, NULL) < 0)
			return -1;
		/* The detach is deferred while udev or blkid hold the device. */
		snprintf(bf, sizeof bf, "/sys/block/%s/loop/backing_file", devs[i] + 5);
		for (t = 0; t < 100 && access(bf, F_OK) == 0; t++)
			usleep(100000);
		if (access(bf, F_OK) == 0) {
			error("'%s' is still attached 10 s after losetup -d", devs[i]);
			return -1;
		}
	}
	return 0;
}

static void say_loop(const json_t *c, char *buf, size_t len)
{
	const char *dev = S(c, "dev");

	snprintf(buf, len, "detach %s from '%s'", dev ? dev : "the loop device", S(c, "file"));
}

/* --- mount ------------------------------------------------------------------------------------ */

int change_mount(struct journal *j, const char *dir, const char *fstype, const char *const argv[])
{
	int idx = journal_add(j, json_pack("{s:s, s:s, s:s}", "kind", "mount", "dir", dir,
					   "fstype", fstype));

	if (idx < 0)
		return -1;
	if (argv && run(argv, TIMEOUT_QUICK_S, j->dry_run ? RUN_DRY : 0, NULL) < 0)
		return -1;
	return idx;
}

static int undo_mount(json_t *c)
{
	const char *dir = S(c, "dir"), *fstype = S(c, "fstype");
	const char *fusermount[] = { "fusermount3", "-u", dir, NULL };
	const char *umount[] = { "umount", dir, NULL };
	bool fuse = fstype && !strncmp(fstype, "fuse", 4);

	if (!dir) {
		error("journal entry 'mount' lacks dir");
		return -1;
	}
	if (!is_mounted(dir, NULL, 0))
		return 0;
	if (fuse && run(fusermount, TIMEOUT_QUICK_S, RUN_QUIET, NULL) == 0 && !is_mounted(dir, NULL, 0))
		return 0;
	if (run(umount, TIMEOUT_QUICK_S, 0, NULL) < 0)
		return -1;
	if (is_mounted(dir, NULL, 0)) {
		error("'%s' is still mounted after umount", dir);
		return -1;
	}
	return 0;
}

static void say_mount(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "unmount '%s' (%s)", S(c, "dir"), OPT(c, "fstype"));
}

/* --- process ----------------------------------------------------------------------------------- */

int change_process(struct journal *j, const char *name, const char *pidfile, const char *backs)
{
	/* not_before_ticks: the process is started after this entry, so a
	 * process found through the pid file that is older is not it. */
	json_t *c = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I}", "kind", "process", "name", name,
			      "pidfile", pidfile, "pid", 0, "start_ticks", 0, "not_before_ticks",
			      (json_int_t)boot_ticks_now());

	if (c && backs)
		json_object_set_new(c, "backs", json_string(backs));
	return journal_add(j, c);
}

int change_process_pid(struct journal *j, int idx, pid_t pid)
{
	char st, comm[64] = "";
	uint64_t ticks = 0;

	if (j->dry_run)
		return 0;
	/* Its identity, checked before any signal on undo: a pid alone may
	 * name another process by then. */
	if (pid_stat(pid, &st, &ticks) < 0 || pid_comm(pid, comm, sizeof comm) < 0)
		warn("pid %d ended before its start time and name were read", (int)pid);
	if (journal_note(j, idx, "start_ticks", json_integer((json_int_t)ticks)) < 0 ||
	    journal_note(j, idx, "comm", json_string(comm)) < 0)
		return -1;
	return journal_note(j, idx, "pid", json_integer(pid));
}

/* Waits up to ms for the process PID (START, COMM) to end; true when it did. */
static bool pid_gone(pid_t pid, uint64_t ticks, const char *comm, int ms)
{
	int t;

	for (t = 0; t < ms; t += 50) {
		if (!pid_is(pid, ticks, comm))
			return true;
		usleep(50000);
	}
	return !pid_is(pid, ticks, comm);
}

/* The process entry C names, when it is still there and provably the one
 * swapbench started: its pid with its start time and name as recorded, or
 * (when swapbench died before recording them) the pid in its pid file,
 * named NAME and started after the entry was made.  0 when there is none. */
static pid_t process_of(const json_t *c, uint64_t *ticks, char *comm, size_t len)
{
	const char *name = S(c, "name"), *pidfile = S(c, "pidfile"), *rec = S(c, "comm");
	pid_t pid = (pid_t)json_integer_value(json_object_get(c, "pid"));
	uint64_t not_before = (uint64_t)json_integer_value(json_object_get(c, "not_before_ticks"));
	char buf[64], st;

	*ticks = (uint64_t)json_integer_value(json_object_get(c, "start_ticks"));
	snprintf(comm, len, "%s", rec ? rec : "");
	if (pid > 0) {
		if (pid_is(pid, *ticks, comm))
			return pid;
		if (pid_running(pid))
			info("not stopping pid %d: it is not the %s swapbench started (%s)", (int)pid, name,
			     !*ticks || !comm[0] ? "its start time and name were not both recorded" :
			     "its start time or name differ");
		return 0;
	}
	if (!pidfile || read_text(pidfile, buf, sizeof buf) <= 0)
		return 0;
	pid = (pid_t)atoi(buf);
	if (pid <= 0 || pid_stat(pid, &st, ticks) < 0 || pid_comm(pid, comm, len) < 0)
		return 0;
	if (!not_before || *ticks < not_before || strncmp(comm, name, 15)) {
		info("not stopping pid %d from '%s': not a %s started after the journal entry",
		     (int)pid, pidfile, name);
		return 0;
	}
	return pid;
}

static int undo_process(json_t *c)
{
	const char *name = S(c, "name"), *backs = S(c, "backs");
	char comm[64];
	uint64_t ticks;
	pid_t pid;

	if (!name) {
		error("journal entry 'process' lacks name");
		return -1;
	}
	pid = process_of(c, &ticks, comm, sizeof comm);
	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	if (pid_gone(pid, ticks, comm, 10000))
		return 0;
	if (backs && swap_active(backs, NULL)) {
		error("%s (pid %d) did not exit on SIGTERM and '%s' is still swap on it; not killing it",
		      name, (int)pid, backs);
		return -1;
	}
	warn("%s (pid %d) did not exit within 10 s of SIGTERM; sending SIGKILL", name, (int)pid);
	/* Checked again: the pid must still be the process it was. */
	if (!pid_is(pid, ticks, comm))
		return 0;
	kill(pid, SIGKILL);
	if (pid_gone(pid, ticks, comm, 5000))
		return 0;
	error("%s (pid %d) survives SIGKILL", name, (int)pid);
	hang_report(name);
	return -1;
}

static void say_process(const json_t *c, char *buf, size_t len)
{
	json_int_t pid = json_integer_value(json_object_get(c, "pid"));

	if (pid > 0)
		snprintf(buf, len, "stop %s (pid %lld)", S(c, "name"), (long long)pid);
	else
		snprintf(buf, len, "stop %s (pid in '%s')", S(c, "name"), OPT(c, "pidfile"));
}

/* --- cgroup --------------------------------------------------------------------------------------- */

int change_cgroup(struct journal *j, const char *path)
{
	if (journal_add(j, json_pack("{s:s, s:s}", "kind", "cgroup", "path", path)) < 0)
		return -1;
	if (j->dry_run) {
		printf("would: create cgroup '%s'\n", path);
		return 0;
	}
	if (mkdir(path, 0755) < 0) {
		error("cannot create cgroup '%s': %m", path);
		return -1;
	}
	return 0;
}

/* Removes cgroup PATH: SIGKILL its tasks until none is left (10 s), then
 * rmdir (10 s).  0 or -1 with a message. */
static int cgroup_remove(const char *path)
{
	char procs[PATH_MAX], fe[PATH_MAX], buf[4096];
	int i;

	if (access(path, F_OK) < 0)
		return 0;
	snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
	for (i = 0; i < 100; i++) {
		char *p, *save = NULL;

		if (read_text(procs, buf, sizeof buf) <= 0)
			break;
		for (p = strtok_r(buf, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
			kill((pid_t)atoi(p), SIGKILL);
		usleep(100000);
	}
	/* cgroup v1 keeps the charges of exited tasks; emptying first makes
	 * the rmdir cheap. */
	snprintf(fe, sizeof fe, "%s/memory.force_empty", path);
	if (access(fe, F_OK) == 0)
		write_text(fe, "0", true);
	for (i = 0; i < 100; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		usleep(100000);
	}
	read_text(procs, buf, sizeof buf);
	error("cannot remove cgroup '%s': %m (tasks: %s)", path, buf);
	return -1;
}

static int undo_cgroup(json_t *c)
{
	const char *path = S(c, "path");

	if (!path) {
		error("journal entry 'cgroup' lacks path");
		return -1;
	}
	return cgroup_remove(path);
}

static void say_cgroup(const json_t *c, char *buf, size_t len)
{
	snprintf(buf, len, "kill the tasks of cgroup '%s' and remove it", S(c, "path"));
}

/* --- zram_add ------------------------------------------------------------------------------------ */

/* The numbers of the zram devices present now, as a JSON array. */
static json_t *zram_ids(void)
{
	json_t *a = json_array();
	DIR *d = opendir("/sys/block");
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		char *end;
		long n;

		if (strncmp(e->d_name, "zram", 4) || !e->d_name[4])
			continue;
		n = strtol(e->d_name + 4, &end, 10);
		if (!*end && n >= 0)
			json_array_append_new(a, json_integer(n));
	}
	if (d)
		closedir(d);
	return a;
}

int change_zram_add(struct journal *j, const char *control, char *id, size_t len)
{
	char path[PATH_MAX], v[32];
	char *end;
	long n;
	int idx;

	idx = journal_add(j, json_pack("{s:s, s:s, s:o}", "kind", "zram_add", "control", control,
				       "present", zram_ids()));
	if (idx < 0)
		return -1;
	pathf(path, sizeof path, "%s/hot_add", control);
	if (j->dry_run) {
		printf("would: read '%s' (add a zram device)\n", path);
		snprintf(id, len, "N");
		return 0;
	}
	if (read_text(path, v, sizeof v) < 0) {
		error("cannot add a zram device through '%s': %m", path);
		return -1;
	}
	n = strtol(v, &end, 10);
	if (end == v || *end || n < 0) {
		error("'%s' gave '%s', not a device number", path, v);
		return -1;
	}
	snprintf(id, len, "%ld", n);
	return journal_note(j, idx, "id", json_integer(n));
}

/* Whether zram device N is unused: no disksize and not swap. */
static bool zram_unused(long n)
{
	char path[64], v[64];

	snprintf(path, sizeof path, "/sys/block/zram%ld/disksize", n);
	if (read_text(path, v, sizeof v) < 0 || strcmp(v, "0"))
		return false;
	snprintf(path, sizeof path, "/dev/zram%ld", n);
	return !swap_active(path, NULL);
}

/* Removes zram device N when it is there and unused; 0 or -1. */
static int zram_remove(const char *control, long n)
{
	char path[PATH_MAX], sys[64], v[32];
	int i;

	snprintf(sys, sizeof sys, "/sys/block/zram%ld", n);
	pathf(path, sizeof path, "%s/hot_remove", control);
	snprintf(v, sizeof v, "%ld", n);
	/* Busy for a moment after a reset or while udev probes it. */
	for (i = 0; i < 50; i++) {
		if (access(sys, F_OK) < 0 && errno == ENOENT)
			return 0;
		if (!zram_unused(n)) {
			error("zram%ld is in use; not removing it", n);
			return -1;
		}
		if (write_text(path, v, true) == 0)
			return 0;
		usleep(100000);
	}
	return write_text(path, v, false);
}

static int undo_zram_add(json_t *c)
{
	const char *control = S(c, "control");
	json_t *present = json_object_get(c, "present"), *id = json_object_get(c, "id"), *now, *v;
	size_t i, k;
	int rc = 0;

	if (json_is_integer(id))
		return zram_remove(control, (long)json_integer_value(id));
	/* Died between the hot_add and noting it: the device that appeared
	 * since (unused: nothing was set on it yet). */
	now = zram_ids();
	json_array_foreach(now, i, v) {
		bool old = false;
		json_t *p;

		json_array_foreach(present, k, p)
			old = old || json_integer_value(p) == json_integer_value(v);
		if (!old && zram_unused((long)json_integer_value(v)) &&
		    zram_remove(control, (long)json_integer_value(v)) < 0)
			rc = -1;
	}
	json_decref(now);
	return rc;
}

static void say_zram_add(const json_t *c, char *buf, size_t len)
{
	json_t *id = json_object_get(c, "id");

	if (json_is_integer(id))
		snprintf(buf, len, "remove zram%lld through '%s/hot_remove'",
			 (long long)json_integer_value(id), S(c, "control"));
	else
		snprintf(buf, len, "remove the unused zram devices added since (through '%s/hot_remove')",
			 S(c, "control"));
}

/* --- the table ------------------------------------------------------------------------------------ */

static const struct change_kind kinds[] = {
#define X(k, barrier, fields) { #k, undo_##k, say_##k, barrier, fields },
	CHANGE_KINDS(X)
#undef X
};

int change_check(const json_t *c, char *why, size_t len)
{
	const struct change_kind *k = change_kind(c);
	const char *f, *kind = json_is_object(c) ? S(c, "kind") : NULL;

	if (!k) {
		snprintf(why, len, kind ? "has an unknown kind '%s'" : "has no kind%s", kind ? kind : "");
		return -1;
	}
	for (f = k->fields; *f;) {
		size_t n = strcspn(f, ",");
		bool array = n > 2 && f[n - 2] == '[' && f[n - 1] == ']';
		char key[64];
		json_t *v, *e;
		size_t i;
		bool ok;

		snprintf(key, sizeof key, "%.*s", (int)(array ? n - 2 : n), f);
		v = json_object_get(c, key);
		ok = array ? json_is_array(v) && json_array_size(v) < 32 : json_is_string(v);
		if (array && ok) {
			json_array_foreach(v, i, e)
				ok = ok && (json_is_string(e) || json_is_integer(e));
		}
		if (!ok) {
			snprintf(why, len, "('%s') lacks its %s '%s'", k->name, array ? "list" : "text", key);
			return -1;
		}
		f += n + (f[n] == ',');
	}
	return 0;
}

const struct change_kind *change_kind(const json_t *c)
{
	const char *k = S(c, "kind");
	size_t i;

	for (i = 0; k && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kinds[i].name, k))
			return &kinds[i];
	return NULL;
}
