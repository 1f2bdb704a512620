/* LD_PRELOAD shim for tests: kill() drops SIGKILL sent to a process group
 * (pid < -1), so that the group's leader survives it as a task stuck in
 * the kernel (D state on a dead device) would; it says so on stderr once
 * per group.  Every other kill() goes through.  A process stuck in D state
 * cannot be made on demand, and one that survives SIGKILL for a while is
 * what swapbench must not wait for forever.  Built by
 * tests/test-hostile-reap.sh. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

int kill(pid_t pid, int sig)
{
	static pid_t last;

	if (pid < -1 && sig == SIGKILL) {
		if (last != pid)
			fprintf(stderr, "kill-group-survives: SIGKILL to group %d dropped\n", (int)-pid);
		last = pid;
		return 0;
	}
	return (int)syscall(SYS_kill, pid, sig);
}
