/* The undo journal: see journal.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "change.h"
#include "journal.h"
#include "log.h"
#include "procfs.h"

const char *state_dir(void)
{
	const char *d = getenv("SWAPBENCH_STATE_DIR");

	return d && *d ? d : "/run/swapbench";
}

static void journal_init(struct journal *j, bool dry_run)
{
	memset(j, 0, sizeof *j);
	j->lock_fd = -1;
	j->dry_run = dry_run;
	snprintf(j->dir, sizeof j->dir, "%s", state_dir());
	pathf(j->path, sizeof j->path, "%s/state.json", j->dir);
}

/* Loads j->path into j->doc: 1 loaded, 0 none, -1 broken. */
static int journal_load(struct journal *j)
{
	json_error_t err;
	json_t *doc, *changes;
	const char *schema;

	if (access(j->path, F_OK) < 0 && errno == ENOENT)
		return 0;
	doc = json_load_file(j->path, 0, &err);
	if (!doc) {
		error("cannot read the journal '%s': %s (line %d); move it aside and "
		      "check the machine by hand (swapbench doctor)", j->path, err.text, err.line);
		return -1;
	}
	schema = json_string_value(json_object_get(doc, "schema"));
	changes = json_object_get(doc, "changes");
	if (!schema || strcmp(schema, JOURNAL_SCHEMA) || !json_is_array(changes) ||
	    json_integer_value(json_object_get(doc, "version")) != JOURNAL_VERSION) {
		error("'%s' is not a swapbench journal of version %d", j->path, JOURNAL_VERSION);
		json_decref(doc);
		return -1;
	}
	json_decref(j->doc);
	j->doc = doc;
	return 1;
}

int journal_peek(struct journal *j)
{
	journal_init(j, true);
	return journal_load(j);
}

static pid_t journal_owner(const struct journal *j)
{
	json_t *o = j->doc ? json_object_get(j->doc, "owner") : NULL;

	return o ? (pid_t)json_integer_value(json_object_get(o, "pid")) : 0;
}

int journal_open(struct journal *j, bool dry_run)
{
	struct stat st;
	char lock[PATH_MAX + 8];

	journal_init(j, dry_run);
	if (dry_run)
		return journal_load(j) < 0 ? -1 : 0;
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST) {
		error("cannot create the state directory '%s': %m", j->dir);
		return -1;
	}
	if (lstat(j->dir, &st) < 0) {
		error("cannot stat '%s': %m", j->dir);
		return -1;
	}
	/* The journal names commands to run as root on undo: only its owner
	 * may write there. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		error("state directory '%s' must be a directory owned by uid %d and not "
		      "writable by others", j->dir, (int)geteuid());
		return -1;
	}
	snprintf(lock, sizeof lock, "%s/lock", j->dir);
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0) {
		error("cannot open '%s': %m", lock);
		return -1;
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			journal_load(j);
			error("another swapbench (pid %d) is changing this machine (it holds '%s'); "
			      "wait for it, or stop it with SIGTERM and it restores what it changed",
			      (int)journal_owner(j), lock);
		} else {
			error("cannot lock '%s': %m", lock);
		}
		journal_close(j);
		return -1;
	}
	if (journal_load(j) < 0) {
		journal_close(j);
		return -1;
	}
	return 0;
}

void journal_close(struct journal *j)
{
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	j->lock_fd = -1;
	json_decref(j->doc);
	j->doc = NULL;
}

bool journal_empty(const struct journal *j)
{
	return !j->doc || (json_array_size(json_object_get(j->doc, "changes")) == 0 &&
			   !json_object_get(j->doc, "tier"));
}

static int journal_own(struct journal *j);

int journal_begin(struct journal *j)
{
	char bid[64] = "";
	struct timespec ts;

	json_decref(j->doc);
	boot_id(bid, sizeof bid);
	clock_gettime(CLOCK_REALTIME, &ts);
	j->doc = json_pack("{s:s, s:i, s:s, s:I, s:b, s:[]}", "schema", JOURNAL_SCHEMA,
			   "version", JOURNAL_VERSION, "boot_id", bid, "created_unix_ns",
			   (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec, "kept", 0, "changes");
	if (!j->doc) {
		error("out of memory");
		return -1;
	}
	return journal_own(j);
}

/* Owner of the journal's changes: this process.  Sets owner and saves. */
static int journal_own(struct journal *j)
{
	char st;
	uint64_t ticks = 0;

	pid_stat(getpid(), &st, &ticks);
	json_object_set_new(j->doc, "owner", json_pack("{s:i, s:I}", "pid", (int)getpid(),
						       "start_ticks", (json_int_t)ticks));
	return journal_save(j);
}

int journal_save(struct journal *j)
{
	char tmp[PATH_MAX + 8];
	int fd, dfd;
	char *text;
	size_t len;

	if (j->dry_run)
		return 0;
	if (journal_empty(j)) {
		if (unlink(j->path) < 0 && errno != ENOENT) {
			error("cannot remove '%s': %m", j->path);
			return -1;
		}
		return 0;
	}
	text = json_dumps(j->doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text) {
		error("cannot encode the journal");
		return -1;
	}
	len = strlen(text);
	snprintf(tmp, sizeof tmp, "%s.tmp", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		error("cannot create '%s': %m", tmp);
		goto err_free;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		error("cannot write '%s': %m", tmp);
		goto err_close;
	}
	if (fsync(fd) < 0) {
		error("cannot fsync '%s': %m", tmp);
		goto err_close;
	}
	close(fd);
	if (rename(tmp, j->path) < 0) {
		error("cannot rename '%s' to '%s': %m", tmp, j->path);
		goto err_unlink;
	}
	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(text);
	return 0;

err_close:
	close(fd);
err_unlink:
	unlink(tmp);
err_free:
	free(text);
	return -1;
}

#ifdef SWAPBENCH_TEST_HOOKS
/* Test hook, compiled only into build/swapbench-test (the Makefile
 * sets SWAPBENCH_TEST_HOOKS there, never for build/swapbench: an
 * environment variable must not make the real tool die mid-change):
 * SWAPBENCH_TEST_KILL_AT=N makes swapbench SIGKILL itself when it is about
 * to record its Nth change (changes 1..N-1 are made), to prove that
 * `swapbench restore` finishes from any point. */
static void test_kill_hook(void)
{
	static int count;
	const char *at = getenv("SWAPBENCH_TEST_KILL_AT");

	count++;
	if (at && atoi(at) == count) {
		fprintf(stderr, "swapbench: SWAPBENCH_TEST_KILL_AT=%d: killing myself\n", count);
		raise(SIGKILL);
	}
}
#else
static void test_kill_hook(void)
{
}
#endif

int journal_add(struct journal *j, json_t *change)
{
	json_t *changes = json_object_get(j->doc, "changes");

	if (!change || !changes) {
		json_decref(change);
		error("no journal to record a change in");
		return -1;
	}
	if (!j->dry_run)
		test_kill_hook();
	json_array_append_new(changes, change);
	if (journal_save(j) < 0) {
		json_array_remove(changes, json_array_size(changes) - 1);
		return -1;
	}
	return (int)json_array_size(changes) - 1;
}

int journal_note(struct journal *j, int idx, const char *key, json_t *value)
{
	json_t *c = json_array_get(json_object_get(j->doc, "changes"), (size_t)idx);

	if (!c) {
		json_decref(value);
		return -1;
	}
	json_object_set_new(c, key, value);
	return journal_save(j);
}

/* Changes whose effect a reboot undoes by itself (all but files). */
static bool gone_with_reboot(const json_t *c)
{
	const char *k = json_string_value(json_object_get(c, "kind"));

	return k && strcmp(k, "file") != 0;
}

int journal_replay(struct journal *j)
{
	json_t *changes = j->doc ? json_object_get(j->doc, "changes") : NULL;
	const char *bid_then = j->doc ? json_string_value(json_object_get(j->doc, "boot_id")) : NULL;
	char bid[64] = "", say[512];
	bool rebooted, failed = false;
	size_t i;

	if (!changes) {
		json_decref(j->doc);
		j->doc = NULL;
		return journal_save(j);
	}
	boot_id(bid, sizeof bid);
	rebooted = bid_then && bid[0] && strcmp(bid, bid_then) != 0;
	if (rebooted && !j->dry_run)
		info("the journal is from an earlier boot: only files it created are removed");
	for (i = json_array_size(changes); i-- > 0;) {
		json_t *c = json_array_get(changes, i);
		const struct change_kind *k = change_kind(c);

		/* The same check in a dry run: it must fail where the restore would. */
		if (change_check(c, say, sizeof say) < 0) {
			error("journal entry %zu %s; left in '%s'", i, say, j->path);
			failed = true;
			continue;
		}
		k->say(c, say, sizeof say);
		if (j->dry_run) {
			printf("would undo: %s\n", say);
			continue;
		}
		if (!(rebooted && gone_with_reboot(c))) {
			debug("undo: %s", say);
			if (k->undo(c) < 0) {
				failed = true;
				if (k->barrier) {
					error("stopped undoing at '%s': what is left stays in '%s' for "
					      "'swapbench restore'", say, j->path);
					break;
				}
				continue;
			}
		}
		json_array_remove(changes, i);
		if (journal_save(j) < 0)
			return -1;
	}
	if (failed)
		return -1;
	if (j->dry_run)
		return 0;
	json_object_del(j->doc, "tier");
	json_object_set_new(j->doc, "kept", json_false());
	return journal_save(j);
}
