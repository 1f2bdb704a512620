/* Unit tests for harness/kmsg.c's filter: /dev/kmsg records (with
 * dictionary lines) in, the run's OOM reports out as dmesg prints them:
 * only reports logged since the run began, each from "invoked oom-killer"
 * to "Killed process" and the oom_reaper's line after it, other records
 * left out, and a buffer too small for them cut at a line, never
 * garbled. */
#include <string.h>

#include "kmsg.h"
#include "unit.h"

static const char records[] =
	/* A report from before the run: not the run's. */
	"4,100,5000000,-;old invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n"
	"3,101,5000100,-;Memory cgroup out of memory: Killed process 7 (old)\n"
	/* The run: something else, then a kill with its stack and a
	 * dictionary line, the reaper, then something else again. */
	"6,200,10000000,-;loop0: detected capacity change from 0 to 2097152\n"
	"4,201,10500000,-;swapbench touch invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
	" SUBSYSTEM=memory\n"
	" DEVICE=+memory:x\n"
	"4,202,10500010,-;CPU: 1 UID: 0 PID: 4242 Comm: swapbench touch Not tainted 6.18.0 #1\n"
	"4,203,10500020,c;Call Trace:\n"
	"6,204,10500400,-;memory: usage 524288kB, limit 524288kB, failcnt 133612\n"
	"3,205,10500500,-;Memory cgroup out of memory: Killed process 4242 (swapbench touch) total-vm:600000kB\n"
	"6,206,10600000,-;oom_reaper: reaped process 4242 (swapbench touch), now anon-rss:0kB\n"
	"6,207,11000000,-;Adding 1048572k swap on /dev/zram0.  Priority:100\n"
	/* A second kill of the run. */
	"4,208,12000000,-;stress-ng-vm invoked oom-killer: gfp_mask=0x140dca, order=0\n"
	"3,209,12000100,-;Memory cgroup out of memory: Killed process 4300 (stress-ng-vm)\n";

int main(void)
{
	char out[4096], small[200];
	size_t used = 0, sused = 0;
	int n = kmsg_oom_filter(records, sizeof records - 1, 10000000, out, sizeof out, &used);

	CHECK(n == 2);
	CHECK(used == strlen(out));
	CHECK(!strstr(out, "old"));		/* before the run */
	CHECK(!strstr(out, "loop0"));		/* not a report's */
	CHECK(!strstr(out, "Adding"));		/* after the report ended */
	CHECK(!strstr(out, "SUBSYSTEM"));	/* dictionary lines */
	CHECK(!strncmp(out, "[   10.500000] swapbench touch invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)",
		       strlen("[   10.500000] swapbench touch invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)")));
	CHECK(strstr(out, "\n[   10.500010] CPU: 1 UID: 0 PID: 4242 Comm: swapbench touch"));
	CHECK(strstr(out, "\n[   10.500400] memory: usage 524288kB, limit 524288kB, failcnt 133612\n"));
	CHECK(strstr(out, "Killed process 4242 (swapbench touch)"));
	CHECK(strstr(out, "\n[   10.600000] oom_reaper: reaped process 4242"));
	CHECK(strstr(out, "\n[   12.000100] Memory cgroup out of memory: Killed process 4300 (stress-ng-vm)\n"));

	/* Too small: whole lines up to the first that does not fit, then
	 * nothing (the count is still every report's). */
	n = kmsg_oom_filter(records, sizeof records - 1, 10000000, small, sizeof small, &sused);
	CHECK(n == 2);
	CHECK(sused == strlen(small) && sused > 0 && sused < sizeof small);
	CHECK(small[sused - 1] == '\n');
	CHECK(!strncmp(small, out, sused));

	/* Nothing since: no report. */
	used = 0;
	CHECK(kmsg_oom_filter(records, sizeof records - 1, 20000000, out, sizeof out, &used) == 0 &&
	      used == 0 && out[0] == '\0');
	if (!unit_failures)
		fprintf(stderr, "# a run's OOM reports out of /dev/kmsg records, cut at a line when too long\n");
	UNIT_DONE();
}
