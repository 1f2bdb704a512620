#!/usr/bin/env bash
# A workload in swapbench's memory cgroup is not OOM-killed for want of
# fresh statistics: one stress-ng --vm worker at 1.2x a 256 MiB limit, swapping
# to zram for 15 s through `swapbench tier up zram -- COMMAND`, sees no OOM
# kill, and the machine is as before.  Reclaim ages the active anon list
# only when the cgroup's statistics say so, and the kernel flushes them every
# 2 s: behind zram the worker was OOM-killed within 5 s with all its memory
# active (cgroup v1, kernel 6.18, before the memory.stat flusher of memcg.h;
# RUNBOOK.md, "cgroup v1: why runs were OOM-killed under swap-in").  Try:
#   tests/run-tests test-harness-memcg-flush.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires jq stress-ng
requires_swapbench
requires_root
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); the tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
supported_tier zram || skip "zram does not run here"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)

doc=$tmp/up.json
with_timeout 90 "$SWAPBENCH" tier up zram --page-cluster 0 --memcg-limit 256M --timeout 60 \
	--json "$doc" -- stress-ng --vm 1 --vm-bytes 308M --vm-method rand-set --vm-keep \
	--no-madvise --oomable --seed 42 --timeout 15s ||
	fail "swapbench tier up zram -- stress-ng exited with status $?"
same_machine "$before" "after tier up zram -- stress-ng"
# The reads happened (every 50 ms over 15 s: some 300), whatever the kernel
# would have done without them.
jq -e '.workload.memcg.stat_flushes >= 100' "$doc" >/dev/null ||
	fail "memory.stat was not read while the workload ran: $(jq -c .workload.memcg "$doc")"
kills=$(jq -r '.workload.memcg.oom_kills' "$doc")
[ "$kills" = 0 ] ||
	fail "stress-ng was OOM-killed $kills time(s) in a cgroup v$MEMCG_VERSION memory cgroup (see dmesg)"
# An OOM-killed --oomable stressor ends early and still exits 0: the time says.
jq -e '.workload.elapsed_ns >= 14000000000' "$doc" >/dev/null ||
	fail "stress-ng ended after $(jq '.workload.elapsed_ns / 1e9' "$doc") s, not 15"
checks_done
