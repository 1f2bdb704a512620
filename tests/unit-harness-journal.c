/* Unit tests for harness/journal.c and change.c: a process records
 * changes and is killed with SIGKILL before undoing them; a second one
 * finds the journal and restores every change, last first.  Also the lock,
 * a dry run, an unknown kind (kept, replay fails), a broken journal, an
 * unsafe state directory and a journal from an earlier boot.  Works on
 * plain files in a temporary directory, as any user. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "change.h"
#include "journal.h"
#include "log.h"
#include "procfs.h"
#include "unit.h"

static char dir[64], knob[128], choice[128], sub[128], subfile[160], file[128], wfile[128];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static int is(const char *path, const char *text)
{
	char buf[256];

	return read_text(path, buf, sizeof buf) >= 0 && !strcmp(buf, text);
}

/* In a child: record and make changes, then die without undoing them. */
static void crash_after_changes(void)
{
	struct journal j;
	int fd;

	if (journal_open(&j, false) < 0 || journal_begin(&j) < 0)
		_exit(2);
	if (change_value(&j, knob, "new") < 0 || change_value(&j, choice, "b") < 0 ||
	    change_value(&j, knob, "new") < 0 /* no-op: same value, no entry */ ||
	    change_dir(&j, sub) < 0 || change_file(&j, file, &fd) < 0 ||
	    change_on_undo_write(&j, wfile, "undone") < 0)
		_exit(3);
	close(fd);
	put(subfile, "a log");
	raise(SIGKILL);
	_exit(4);
}

static int run_child(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		fn();
	waitpid(pid, &status, 0);
	return status;
}

static size_t changes_in_file(const char *path)
{
	json_t *doc = json_load_file(path, 0, NULL);
	size_t n = json_array_size(json_object_get(doc, "changes"));

	json_decref(doc);
	return n;
}

static int lock_pipe[2];

static void hold_lock(void)
{
	struct journal j;
	char c = 1;

	if (journal_open(&j, false) < 0)
		_exit(2);
	if (write(lock_pipe[1], &c, 1) != 1)
		_exit(3);
	pause();
	_exit(0);
}

int main(void)
{
	char state[128], statefile[160], buf[160];
	struct journal j;
	int status;
	pid_t holder;

	log_init("unit-harness-journal", LOG_INFO);
	snprintf(dir, sizeof dir, "/tmp/unit-journal.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state, sizeof state, "%s/state", dir);
	snprintf(statefile, sizeof statefile, "%s/state.json", state);
	snprintf(knob, sizeof knob, "%s/knob", dir);
	snprintf(choice, sizeof choice, "%s/choice", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	snprintf(subfile, sizeof subfile, "%s/sub/log", dir);
	snprintf(file, sizeof file, "%s/file", dir);
	snprintf(wfile, sizeof wfile, "%s/w", dir);
	setenv("SWAPBENCH_STATE_DIR", state, 1);
	put(knob, "old\n");
	put(choice, "[a] b c\n");
	put(wfile, "before");

	/* Crash after the changes: they are all there, and so is the journal. */
	status = run_child(crash_after_changes);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(is(knob, "new") && is(choice, "b") && access(file, F_OK) == 0 && is(subfile, "a log"));
	CHECK(changes_in_file(statefile) == 5);

	/* A dry run says what it would undo and undoes nothing. */
	CHECK(journal_open(&j, true) == 0 && !journal_empty(&j));
	CHECK(journal_replay(&j) == 0);
	journal_close(&j);
	CHECK(is(knob, "new") && changes_in_file(statefile) == 5);

	/* Another process holding the lock: refused. */
	CHECK(pipe(lock_pipe) == 0);
	holder = fork();
	if (holder == 0)
		hold_lock();
	CHECK(read(lock_pipe[0], buf, 1) == 1);
	CHECK(journal_open(&j, false) == -1);
	kill(holder, SIGKILL);
	waitpid(holder, &status, 0);

	/* The next start restores all of it, last first. */
	CHECK(journal_open(&j, false) == 0 && !journal_empty(&j));
	CHECK(journal_replay(&j) == 0);
	CHECK(journal_empty(&j));
	journal_close(&j);
	CHECK(is(knob, "old") && is(choice, "a") && is(wfile, "undone"));
	CHECK(access(file, F_OK) < 0 && access(sub, F_OK) < 0 && access(statefile, F_OK) < 0);
	/* Idempotent: nothing left to do. */
	CHECK(journal_open(&j, false) == 0 && journal_empty(&j) && journal_replay(&j) == 0);
	journal_close(&j);

	/* An entry of an unknown kind is kept and the replay fails; the rest
	 * is undone. */
	put(knob, "old");
	CHECK(journal_open(&j, false) == 0 && journal_begin(&j) == 0);
	CHECK(change_value(&j, knob, "new") == 0);
	CHECK(journal_add(&j, json_pack("{s:s}", "kind", "teleport")) == 1);
	CHECK(journal_replay(&j) == -1);
	CHECK(is(knob, "old") && changes_in_file(statefile) == 1);
	json_array_clear(json_object_get(j.doc, "changes"));
	CHECK(journal_replay(&j) == 0 && access(statefile, F_OK) < 0);
	journal_close(&j);

	/* A conditional run (vramd --ublk-del N while device N exists): run
	 * while its object exists, skipped once it is gone. */
	CHECK(journal_open(&j, false) == 0 && journal_begin(&j) == 0);
	{
		const char *mark[] = { "touch", wfile, NULL };
		const char *never[] = { "false", NULL };

		unlink(wfile);
		CHECK(change_on_undo_run_if(&j, never, 5, sub) == 0);
		CHECK(change_on_undo_run_if(&j, mark, 5, knob) == 1);
	}
	CHECK(journal_replay(&j) == 0 && journal_empty(&j));
	CHECK(access(wfile, F_OK) == 0);
	journal_close(&j);

	/* A journal from an earlier boot: only files are removed (settings
	 * and devices went with the reboot). */
	CHECK(journal_open(&j, false) == 0 && journal_begin(&j) == 0);
	CHECK(change_value(&j, knob, "new") == 0);
	{
		int fd;

		CHECK(change_file(&j, file, &fd) == 0);
		close(fd);
	}
	json_object_set_new(j.doc, "boot_id", json_string("not-this-boot"));
	CHECK(journal_replay(&j) == 0);
	CHECK(is(knob, "new") && access(file, F_OK) < 0);
	journal_close(&j);

	/* A broken journal: refused, and left for a human. */
	put(statefile, "{ not json");
	CHECK(journal_open(&j, false) == -1);
	CHECK(access(statefile, F_OK) == 0);
	unlink(statefile);

	/* A state directory others may write: refused. */
	CHECK(chmod(state, 0777) == 0);
	CHECK(journal_open(&j, false) == -1);
	CHECK(chmod(state, 0700) == 0);

	unlink(knob);
	unlink(choice);
	unlink(wfile);
	snprintf(buf, sizeof buf, "%s/lock", state);
	unlink(buf);
	rmdir(state);
	rmdir(dir);
	UNIT_DONE();
}
