/* Unit tests for harness/run.c: exit statuses, captured output, a missing
 * command, a command that outlives its timeout (killed, reported, never
 * waited on forever), and child_reap on a process group.  A child that
 * survives SIGKILL is tests/test-hostile-reap.sh's (issue #20, item 9). */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "run.h"
#include "unit.h"

int main(void)
{
	const char *ok[] = { "true", NULL };
	const char *no[] = { "false", NULL };
	const char *talk[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	const char *missing[] = { "swapbench-no-such-command", NULL };
	const char *slow[] = { "sh", "-c", "trap '' TERM; sleep 30", NULL };
	struct run_result r;
	uint64_t t0;
	char line[64];

	log_init("unit-harness-run", LOG_INFO);
	CHECK(run(ok, 5, 0, &r) == 0 && r.exit_code == 0 && !r.timed_out);
	CHECK(run(no, 5, RUN_QUIET, &r) == -1 && r.exit_code == 1);
	CHECK(run(talk, 5, RUN_QUIET, &r) == -1 && r.exit_code == 3);
	CHECK(!strcmp(r.out, "out\nerr"));
	CHECK(run(missing, 5, RUN_QUIET, &r) == -1 && r.exit_code == 127);
	CHECK(run(no, 5, RUN_DRY, &r) == 0); /* a dry run runs nothing */

	/* Ignores SIGTERM: SIGKILL follows 2 s later. */
	t0 = mono_ns();
	CHECK(run(slow, 1, 0, &r) == -1 && r.timed_out && !r.hung && r.exit_code == 128 + 9);
	CHECK(mono_ns() - t0 < 6000000000ull);

	CHECK(json_array_size(run_log) == 5); /* the dry run is not a child */
	{
		/* The words as given, quoting and all: one string each. */
		json_t *a = json_object_get(json_array_get(run_log, 2), "argv");

		CHECK(json_array_size(a) == 3);
		CHECK(json_is_string(json_array_get(a, 2)) &&
		      !strcmp(json_string_value(json_array_get(a, 2)), "echo out; echo err >&2; exit 3"));
	}
	CHECK(json_integer_value(json_object_get(json_array_get(run_log, 2), "exit_code")) == 3);
	/* child_reap: the group goes, the leader is reaped with its status. */
	{
		pid_t pid = fork(), w;
		int status = 0;

		if (pid == 0) {
			setpgid(0, 0);
			if (fork() == 0)
				pause(); /* a member of the group */
			pause();
			_exit(0);
		}
		setpgid(pid, pid);
		t0 = mono_ns();
		CHECK(child_reap(pid, true, 2000, "unit", &status) == 0 && WIFSIGNALED(status) &&
		      WTERMSIG(status) == SIGKILL);
		CHECK(mono_ns() - t0 < 2000000000ull);
		w = waitpid(pid, &status, WNOHANG);
		CHECK(w < 0); /* reaped once, by child_reap */
	}
	CHECK(have_command("sh") && !have_command("swapbench-no-such-command"));
	CHECK(!strcmp(argv_str(talk, line, 12), "sh -c echo "));
	UNIT_DONE();
}
