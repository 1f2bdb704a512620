#!/usr/bin/env bash
# timeout: 200
# An OOM-killed run keeps the kernel's report: zram of 16 MiB under three
# times the quick scenario's limit fills and the workload is OOM-killed;
# the run is invalid, its reason names TAG-oom.txt, and that file beside
# run.json (root's alone) holds the kill report from "invoked oom-killer"
# to "Killed process" of the workload's own process in the run's cgroup,
# with the memory state between.  A run that was not killed has no such
# file.  Try:
#   tests/run-tests test-harness-oom-report.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires jq
requires_swapbench
requires_swap_tiers zram
dd if=/dev/kmsg of=/dev/null bs=8192 count=1 iflag=nonblock 2>/dev/null ||
	skip "the kernel log (/dev/kmsg) cannot be read here"
keep_stderr
swapbench_isolate
export SWAPBENCH_SCENARIOS=$top/scenarios
before=$(machine_snapshot)

with_timeout 150 "$SWAPBENCH" run --scenario quick --tiers 'zram:size=16M:as=small,zram:as=big' \
	--set workload.ratio=3 --set workload.duration_s=3 --repeats 1 --out "$tmp/run" \
	>"$tmp/run.out" 2>&1 || bad "run: $(tail -n 15 "$tmp/run.out")"
doc=$tmp/run/run.json
small=$(jq -c '.runs[] | select(.tier == "small")' "$doc")
big=$(jq -c '.runs[] | select(.tier == "big")' "$doc")
file=$(jq -r '.oom_report_file // empty' <<<"$small")
jq -e '.oom_report_file as $f | .valid == false and .metrics.oom_kills >= 1 and
	(.invalid_reason | startswith("oom kill: ") and contains("the kernel'"'"'s report is in " + $f + ";"))' \
	<<<"$small" >/dev/null || bad "the small zram's run: $(jq -c '{valid, invalid_reason, oom_report_file}' <<<"$small")"
if [ -n "$file" ] && [ -f "$tmp/run/$file" ]; then
	r=$tmp/run/$file
	grep -qE '^\[ *[0-9]+\.[0-9]{6}\] .* invoked oom-killer: ' "$r" &&
		grep -qE '^\[ *[0-9]+\.[0-9]{6}\] .*Killed process [0-9]+ \(' "$r" &&
		grep -qE 'Call Trace:|oom_kill_process' "$r" ||
		bad "$file is not a kill report: $(head -c 600 "$r")"
	# The reports are the run's: every kill in its cgroup, of its workload.
	grep -oE 'task_memcg=[^,]*' "$r" | grep -vE '/swapbench-run-[0-9]+$' &&
		bad "$file holds another cgroup's kill"
	grep -qE 'task_memcg=[^,]*/swapbench-run-[0-9]+(,|$)' "$r" || bad "$file names no cgroup of the run"
	comm=$(sed -nE 's/.*Killed process [0-9]+ \((.*)\).*/\1/p' "$r" | sort -u | tr '\n' ' ')
	[[ $comm == swapbench* ]] || bad "the processes killed were '$comm', not the workload's"
	[ "$(stat -c '%U %a' "$r")" = "root 600" ] && [ ! -L "$r" ] || bad "$file: not a plain file of root's alone"
else
	bad "no OOM report file: '$file' in $(ls "$tmp/run")"
fi
jq -e '.metrics.oom_kills == 0 and (has("oom_report_file") | not)' <<<"$big" >/dev/null ||
	bad "the big zram's run: $(jq -c '{valid, invalid_reason, oom_report_file}' <<<"$big")"
same_machine "$before" "after the OOM-killed run"
checks_done
