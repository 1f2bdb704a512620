#!/usr/bin/env bash
# timeout: 120
# The test runner itself, on a copy of it with two tests of its own and a
# stand-in dmesg: a kernel WARNING logged while a test runs fails that
# test (and is printed), one logged before it started does not, a BUG
# line fails it too, an OOM kill's report does not, and a log without
# timestamps is not judged; the last line counts what happened; exit
# status 77 is a skip and 3 a failure.  Try:
#   tests/run-tests test-run-tests.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires awk
mkdir -p "$tmp/tree/tests" "$tmp/bin" "$tmp/build"
cp "$top/tests/run-tests" "$tmp/tree/tests/"
printf '#!/usr/bin/env bash\nexit 0\n' >"$tmp/tree/tests/test-ok.sh"
printf '#!/usr/bin/env bash\necho "SKIP: nothing here"\nexit 77\n' >"$tmp/tree/tests/test-skip.sh"
printf '#!/usr/bin/env bash\nexit 3\n' >"$tmp/tree/tests/test-bad.sh"
# The stand-in prints the log in $KLOG, lines "OFFSET TEXT" with OFFSET
# seconds from now, as dmesg would ("[ uptime] TEXT"), or without a
# timestamp when OFFSET is "-".
cat >"$tmp/bin/dmesg" <<'SHIM'
#!/usr/bin/env bash
read -r up _ </proc/uptime
while read -r off text; do
	if [ "$off" = - ]; then
		echo "$text"
	else
		awk -v u="$up" -v o="$off" -v t="$text" \
			'BEGIN { v = u + o; if (v < 0) v = 0; printf "[%12.6f] %s\n", v, t }'
	fi
done <"${KLOG:-/dev/null}"
SHIM
chmod +x "$tmp/bin/dmesg"

# runner KLOG TESTS...: the copy's output, its status in $tmp/rc.
runner() {
	local klog=$1
	shift
	printf '%s\n' "$klog" >"$tmp/klog"
	PATH=$tmp/bin:$PATH KLOG=$tmp/klog BUILD=$tmp/build SWAPBENCH_TEST_ID= \
		with_timeout 60 "$tmp/tree/tests/run-tests" "$@" >"$tmp/out" 2>&1
	echo $? >"$tmp/rc"
}

runner "30 WARNING: CPU: 1 PID: 42 at mm/zswap.c:1 zswap_store+0x1/0x2" test-ok.sh
grep -q '^FAIL test-ok.sh (.*): the kernel logged a warning or bug while it ran:' "$tmp/out" &&
	grep -q 'WARNING: CPU: 1 PID: 42 at mm/zswap.c' "$tmp/out" &&
	[ "$(tail -n 1 "$tmp/out")" = "0 passed, 1 failed, 0 skipped" ] && [ "$(cat "$tmp/rc")" = 1 ] ||
	bad "a WARNING during the test did not fail it: rc $(cat "$tmp/rc"), $(cat "$tmp/out")"

runner "30 BUG: unable to handle page fault for address: 0000000000000008" test-ok.sh
grep -q '^FAIL test-ok.sh' "$tmp/out" || bad "a BUG during the test did not fail it: $(cat "$tmp/out")"

runner "-100 WARNING: CPU: 0 PID: 1 at kernel/old.c:1 long_ago+0x0/0x1" test-ok.sh
grep -q '^PASS test-ok.sh' "$tmp/out" && [ "$(cat "$tmp/rc")" = 0 ] ||
	bad "a WARNING from before the test failed it: $(cat "$tmp/out")"

runner "30 stress-ng invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
30 CPU: 3 UID: 0 PID: 4242 Comm: stress-ng Not tainted 6.18.0 #1
30 Call Trace:
30  <TASK>
30  dump_stack_lvl+0x5d/0x80
30  oom_kill_process+0x11d/0x290
30  out_of_memory+0xee/0x5c0
30 Memory cgroup out of memory: Killed process 4242 (stress-ng) total-vm:1000kB, anon-rss:900kB" test-ok.sh
grep -q '^PASS test-ok.sh' "$tmp/out" || bad "an OOM kill's report failed the test: $(cat "$tmp/out")"

runner "- WARNING: CPU: 1 PID: 42 at mm/zswap.c:1 zswap_store+0x1/0x2" test-ok.sh
grep -q '^PASS test-ok.sh' "$tmp/out" || bad "a log without timestamps was judged: $(cat "$tmp/out")"

runner "" test-ok.sh test-skip.sh test-bad.sh
grep -q '^SKIP test-skip.sh.*nothing here' "$tmp/out" && grep -q '^FAIL test-bad.sh (.*): exit status 3' "$tmp/out" &&
	[ "$(tail -n 1 "$tmp/out")" = "1 passed, 1 failed, 1 skipped" ] && [ "$(cat "$tmp/rc")" = 1 ] ||
	bad "pass, skip and fail counted wrong: rc $(cat "$tmp/rc"), $(cat "$tmp/out")"
checks_done
