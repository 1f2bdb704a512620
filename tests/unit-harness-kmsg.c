/* Unit tests for harness/kmsg.c's filter: /dev/kmsg records (with
 * dictionary lines) in, the run's OOM reports out: only reports that
 * killed in the run's memory cgroup (by the report's task_memcg= or
 * oom_memcg=), each from "invoked oom-killer" to "Killed process" and the
 * oom_reaper's line after it; a report whose victim was already exiting
 * ends there; user space's records (facility 1 and up) and malformed
 * headers are not the kernel's; a buffer too small is cut at a line; the
 * records need no NUL after them. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kmsg.h"
#include "unit.h"

#define OURS "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0," \
	"oom_memcg=/swapbench-run-7541,task_memcg=/swapbench-run-7541,task=swapbench,pid=4242,uid=0"

static const char records[] =
	/* Another cgroup's kill: not the run's. */
	"4,100,5000000,-;java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n"
	"6,101,5000050,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/system.slice/app,"
	"task_memcg=/system.slice/app,task=java,pid=7,uid=0\n"
	"3,102,5000100,-;Memory cgroup out of memory: Killed process 7 (java)\n"
	"6,103,5000200,-;oom_reaper: reaped process 7 (java), now anon-rss:0kB\n"
	/* Something else, then the run's kill with its stack and a
	 * dictionary line, the reaper, then something else again. */
	"6,200,10000000,-;loop0: detected capacity change from 0 to 2097152\n"
	"4,201,10500000,-;swapbench invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
	" SUBSYSTEM=memory\n"
	" DEVICE=+memory:x;y\n"
	"4,202,10500010,-;CPU: 1 UID: 0 PID: 4242 Comm: swapbench Not tainted 6.18.0 #1\n"
	"4,203,10500020,c;Call Trace:\n"
	"6,204,10500400,-;memory: usage 524288kB, limit 524288kB, failcnt 133612\n"
	/* memory.stat's dump, one record (a backslash of its own is \x5c). */
	"6,204,10500420,-;anon 32768\\x0afile 0\\x0azswap 49951679\\x0aa\\x5cx0ab\\x0a\n"
	"6,205,10500450,-;" OURS "\n"
	"3,206,10500500,-;Memory cgroup out of memory: Killed process 4242 (swapbench) total-vm:600000kB\n"
	"6,207,10600000,-;oom_reaper: reaped process 4242 (swapbench), now anon-rss:0kB\n"
	"6,208,11000000,-;Adding 1048572k swap on /dev/zram0.  Priority:100\n"
	/* User space writing a report of its own into the log. */
	"12,209,11500000,-;fake invoked oom-killer: gfp_mask=0x0\n"
	/* Malformed headers. */
	"4,210;x invoked oom-killer: gfp_mask=0x0\n"
	"4,211,-5,-;y invoked oom-killer: gfp_mask=0x0\n"
	/* The run's second kill: its victim was already exiting. */
	"4,212,12000000,-;swapbench invoked oom-killer: gfp_mask=0x140dca, order=0\n"
	"6,213,12000050,-;" OURS "\n"
	"6,214,12000100,-;Memory cgroup out of memory: OOM victim 4243 (swapbench) is already exiting. "
	"Skip killing the task\n"
	"6,215,12500000,-;zram0: detected capacity change from 2097152 to 0\n";

int main(void)
{
	char out[4096], small[200];
	size_t used = 0, sused = 0, n = sizeof records - 1, page = (size_t)sysconf(_SC_PAGESIZE);
	int k = kmsg_oom_filter(records, n, "swapbench-run-7541", out, sizeof out, &used);
	char *guard;

	CHECK(k == 2);
	CHECK(used == strlen(out));
	CHECK(!strstr(out, "java"));		/* another cgroup's */
	CHECK(!strstr(out, "loop0"));		/* not a report's */
	CHECK(!strstr(out, "Adding") && !strstr(out, "zram0"));	/* after a report ended */
	CHECK(!strstr(out, "SUBSYSTEM"));	/* dictionary lines */
	CHECK(!strstr(out, "fake") && !strstr(out, " x ") && !strstr(out, " y "));
	CHECK(!strncmp(out, "[   10.500000] swapbench invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)",
		       strlen("[   10.500000] swapbench invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)")));
	CHECK(strstr(out, "\n[   10.500010] CPU: 1 UID: 0 PID: 4242 Comm: swapbench"));
	CHECK(strstr(out, "\n[   10.500400] memory: usage 524288kB, limit 524288kB, failcnt 133612\n"));
	CHECK(strstr(out, "Killed process 4242 (swapbench)"));
	CHECK(strstr(out, "\n[   10.500420] anon 32768\n[   10.500420] file 0\n[   10.500420] zswap 49951679\n"
		      "[   10.500420] a\\x5cx0ab\n[   10.500450] oom-kill:"));
	CHECK(strstr(out, "\n[   10.600000] oom_reaper: reaped process 4242"));
	CHECK(strstr(out, "is already exiting. Skip killing the task\n"));

	/* Another cgroup, or one whose name only ends like the run's: none. */
	used = 0;
	CHECK(kmsg_oom_filter(records, n, "app", out, sizeof out, &used) == 1 && strstr(out, "java"));
	used = 0;
	CHECK(kmsg_oom_filter(records, n, "run-7541", out, sizeof out, &used) == 0 && used == 0 &&
	      out[0] == '\0');

	/* Too small: whole lines up to the first that does not fit. */
	used = 0;
	kmsg_oom_filter(records, n, "swapbench-run-7541", out, sizeof out, &used);
	k = kmsg_oom_filter(records, n, "swapbench-run-7541", small, sizeof small, &sused);
	CHECK(k == 2);
	CHECK(sused == strlen(small) && sused > 0 && sused < sizeof small);
	CHECK(small[sused - 1] == '\n');
	CHECK(!strncmp(small, out, sused));

	/* A record's own lines: two \x0a in a row give an empty line, a last
	 * piece without one is a line too; cut inside such a record, the
	 * buffer ends at one of its lines. */
	{
		static const char split[] =
			"4,1,100,-;swapbench invoked oom-killer: gfp_mask=0x0\n"
			"6,2,200,-;p\\x0a\\x0aq\\x0alast\n"
			"6,3,300,-;" OURS "\n"
			"3,4,400,-;Memory cgroup out of memory: Killed process 9 (swapbench)\n";
		const char *line2 = "[    0.000200] p\n[    0.000200] \n[    0.000200] q\n"
				    "[    0.000200] last\n[    0.000300] oom-kill:";
		char cut[120];
		size_t cused = 0;

		used = 0;
		CHECK(kmsg_oom_filter(split, sizeof split - 1, "swapbench-run-7541", out, sizeof out,
				      &used) == 1);
		CHECK(strstr(out, line2));
		/* Room for the first line and two of the record's: cut there. */
		k = kmsg_oom_filter(split, sizeof split - 1, "swapbench-run-7541", cut,
				    strlen("[    0.000100] swapbench invoked oom-killer: gfp_mask=0x0\n"
					   "[    0.000200] p\n[    0.000200] \n") + 5, &cused);
		CHECK(k == 1 && cused == strlen(cut));
		CHECK(!strcmp(cut, "[    0.000100] swapbench invoked oom-killer: gfp_mask=0x0\n"
				   "[    0.000200] p\n[    0.000200] \n"));
	}

	/* A record right before an unreadable page: nothing read past it. */
	guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard != MAP_FAILED && mprotect(guard + page, page, PROT_NONE) == 0) {
		static const char rec[] = "4,1,12345,-;a invoked oom-killer: gfp_mask=0x0";
		char *at = guard + page - (sizeof rec - 1);

		memcpy(at, rec, sizeof rec - 1);
		used = 0;
		CHECK(kmsg_oom_filter(at, sizeof rec - 1, "swapbench-run-7541", out, sizeof out, &used) == 0);
		munmap(guard, 2 * page);
	}
	if (!unit_failures)
		fprintf(stderr, "# a run's OOM reports out of /dev/kmsg records: its cgroup's only, "
				"cut at a line when too long\n");
	UNIT_DONE();
}
