#!/usr/bin/env bash
# swapbench run end to end: the quick scenario on zram, zswap, disk and nbd
# (vramd's ram backend over nbdfuse, probes inside the workload's cgroup) writes one
# result document (schema swapbench-run) whose runs swapped and are valid,
# with per-second windows, histograms and the tier's share of the traffic;
# on zram, the declared compressibility is checked (stress-ng's data judged
# against "incompressible" is invalid, swapbench touch's random pages are
# valid, a flipped bit (the touch test hook) is "data corruption", a tier with
# options runs under its own label),
# a scenario whose working set fits in its limit is judged invalid ("did
# not swap"), an interrupted run (SIGINT) restores and says so, a malformed scenario is refused with FILE:LINE and the key,
# and the machine is exactly as before.  Try:
#   tests/run-tests test-harness-run.sh
# timeout: 540

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

FIX=$top/tests/fixtures/harness

requires jq stress-ng
requires_swapbench

# A malformed scenario: refused before anything (no root needed).
out=$("$SWAPBENCH" run --scenario "$FIX/scenario-unknown-key.ini" 2>&1) && fail "bad scenario accepted"
grep -q 'scenario-unknown-key.ini:6: unknown key .wrokers. in section \[workload\]' <<<"$out" ||
	fail "bad scenario: unclear message: $out"
out=$("$SWAPBENCH" run --scenario "$FIX/scenario-bad-ratio.ini" 2>&1) && fail "bad ratio accepted"
grep -q 'scenario-bad-ratio.ini:4: workload.ratio: expected' <<<"$out" || fail "bad ratio: $out"
"$SWAPBENCH" list scenarios | grep -q '^quick ' || fail "'list scenarios' does not list quick"

requires_root
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
server_swap=on
[ -z "${SWAPBENCH_SANITIZED:-}" ] || server_swap=off	# no mlockall of ASan's shadow
tiers=
for t in zram zswap disk nbd; do
	supported_tier "$t" || continue
	[ "$t" = nbd ] && t=nbd:backend=ram:transport=fuse:server-swap=$server_swap
	tiers=${tiers:+$tiers,}$t
done
[ -n "$tiers" ] || skip "neither zram, zswap, disk nor nbd runs here"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)

doc=$tmp/quick/run.json
with_timeout 200 "$SWAPBENCH" run --scenario quick --tiers "$tiers" --repeats 1 --out "$tmp/quick" \
	--set probe.placement=inside ||
	fail "swapbench run --scenario quick exited with status $?"
same_machine "$before" "after run quick"
[ -s "$doc" ] || fail "no document $doc"
jq -e '.schema == "swapbench-run" and .schema_version == 1
	and (.fingerprint | has("host") and has("kernel") and .scenario == "quick"
	     and (.tier_config | type == "object") and (.factors | type == "object"))
	and (.tool_versions | type == "object") and (.settings | type == "object")' "$doc" >/dev/null ||
	fail "document lacks the required top-level shape"
# Provenance: the commit built, a machine id that is not /etc/machine-id,
# the CPU, and for the nbd tier vramd's own --dump-backend with its commit.
commit=$(sed -n 's/.*"\(.*\)".*/\1/p' "$BUILD/gen/commit.c")
jq -e --arg c "$commit" --arg raw "$(cat /etc/machine-id 2>/dev/null)" '
	.fingerprint.swapbench_commit == $c and .tool_versions.swapbench_commit == $c
	and (.fingerprint.machine_id | test("^[0-9a-f]{16}$")) and .fingerprint.machine_id != $raw
	and (.fingerprint.cpu_model | length > 0)' "$doc" >/dev/null ||
	fail "provenance: $(jq -c '[.fingerprint | {swapbench_commit, machine_id, cpu_model}, .tool_versions.swapbench_commit]' "$doc")"
if [[ $tiers == *nbd* ]]; then
	jq -e --arg c "$commit" '[.tool_versions.vramd | to_entries[] | select(.key | startswith("nbd"))
		| .value | .commit == $c and .backend == "vram"] == [true]
		and (.tool_versions | has("nbdfuse") and has("nbd-client"))' "$doc" >/dev/null ||
		fail "vramd's provenance: $(jq -c '.tool_versions' "$doc")"
else
	jq -e '.tool_versions | has("vramd") or has("nbdfuse") or has("nbd-client") | not' "$doc" >/dev/null ||
		fail "nbd's tool versions without an nbd tier: $(jq -c '.tool_versions' "$doc")"
fi
n=$(jq '.runs | length' "$doc")
[ "$n" = "$(tr ',' '\n' <<<"$tiers" | wc -l)" ] || fail "expected one run per tier, got $n"
for key in probe_p50_ns probe_p99_ns probe_p999_ns psi_full_pct psi_some_pct longest_stall_ns \
	pswpin_pages pswpout_pages swapin_rate_pages_per_s swapout_rate_pages_per_s \
	touch_ops touch_mismatches workload_ops_per_s duration_ns; do
	jq -e --arg k "$key" 'all(.runs[]; .metrics | has($k) and (.[$k] | type == "number"))' "$doc" \
		>/dev/null || fail "a run lacks metrics.$key"
done
jq -e 'all(.runs[]; (.children | length) > 0 and all(.children[]; (.argv | type == "array")
	and (.exit_code | type == "number")))' "$doc" >/dev/null || fail "children malformed"
jq -e 'all(.runs[]; .samples_file | type == "string")' "$doc" >/dev/null || fail "no samples_file"
jq -e --argjson n "$n" '(.summary | length) == $n and all(.summary[]; .probe_p99_ns.runs == 1
	and .probe_p99_ns.mad == 0 and .psi_full_pct.median >= 0)' "$doc" >/dev/null ||
	fail "summary missing or wrong: $(jq -c .summary "$doc" | head -c 400)"
jq -e 'all(.runs[]; (.metrics.windows_1s >= 5) and (.metrics.psi_full_1s_p99_pct | type == "number")
	and (.metrics.psi_full_1s_p99_pct <= .metrics.psi_full_1s_max_pct)
	and (.metrics.probe_p99_1s_max_ns >= 0) and (.tier_name == "zswap" or .metrics.tier_write_share_pct >= 95)
	and (.histograms.probe_exec_ns | length > 0) and (.metrics.touch_slots > 0)
	and ([.histograms.probe_exec_ns[][2], .histograms_startup.probe_exec_ns[][2]] | add) == .metrics.probe_slots
	and .metrics.probe_run_slots + .metrics.startup_probe_slots == .metrics.probe_slots
	and (.metrics.startup_ns | type == "number") and .metrics.startup_ns < .metrics.duration_ns
	and (.tier_name != "nbd" or .metrics.tier_daemons_cpu_pct_of_core > 0))' "$doc" >/dev/null ||
	fail "windows, histograms or traffic share missing or wrong: $(jq -c '[.runs[] | .tier as $t | .metrics |
		{tier: $t, windows_1s, psi_full_1s_p99_pct, tier_write_share_pct, probe_slots, touch_slots}]' "$doc")"
for i in $(seq 0 $((n - 1))); do
	r=$(jq -c ".runs[$i] | {tier, valid, invalid_reason, p99: .metrics.probe_p99_ns,
		pswpout: (.metrics.pswpout_pages + .metrics.zswpout_pages), sampler_pct: .metrics.sampler_cpu_pct_of_core}" "$doc")
	info "$r"
	[ "$(jq -r .valid <<<"$r")" = true ] || fail "run $i invalid: $r"
	[ "$(jq -r .pswpout <<<"$r")" -gt 0 ] || fail "run $i did not swap: $r"
	f=$tmp/quick/$(jq -r ".runs[$i].samples_file" "$doc")
	[ "$(head -1 "$f")" = "$(printf 't_ns\tsource\tkey\tvalue')" ] || fail "$f: bad header"
	grep -q "$(printf '\tvmstat\tpswpout\t')" "$f" || fail "$f: no vmstat pswpout samples"
	w=$tmp/quick/$(jq -r ".runs[$i].windows_file" "$doc")
	head -1 "$w" | grep -q "^second	probes	probe_p50_ns" || fail "$w: bad header"
	[ "$(wc -l <"$w")" -ge 6 ] || fail "$w: too few windows"
done

# zram checks the declared compressibility: stress-ng's pages are not
# incompressible (invalid), swapbench touch's are (valid, read back intact).
if supported_tier zram; then
	# stress-ng's data (about 2.8:1) declared incompressible.  Three short
	# repeats: cgroup v1 now and then OOM-kills stress-ng at this ratio
	# (also invalid, for another reason); one must be judged on its data.
	with_timeout 150 "$SWAPBENCH" run --scenario quick --tiers zram:algorithm=lzo-rle --repeats 3 \
		--set workload.engine=stress-ng --set factors.compressibility=incompressible \
		--set workload.duration_s=5 --out "$tmp/liar" ||
		fail "swapbench run (declared incompressible) exited with status $?"
	r=$(jq -c '[.runs[] | {tier, valid, invalid_reason, c: .metrics.compression.ratio}]' "$tmp/liar/run.json")
	info "stress-ng declared incompressible: $r"
	jq -e 'length == 3 and all(.[]; .tier == "zram-lzo-rle" and .valid == false)' <<<"$r" >/dev/null ||
		fail "tier options or validity: $r"
	grep -q '"invalid_reason":"compressibility: the scenario declares incompressible' <<<"$r" ||
		fail "stress-ng's compressible data passed as incompressible: $r"
	# Also a probe command line, run by the shell.
	with_timeout 90 "$SWAPBENCH" run --scenario quick --tiers zram --repeats 1 \
		--set factors.compressibility=incompressible --probe-cmd '/bin/sh -c "exit 0"' \
		--out "$tmp/touch" ||
		fail "swapbench run (touch) exited with status $?"
	r=$(jq -c '.runs[0] | {valid, invalid_reason, c: .metrics.compression.ratio,
		ops: .metrics.touch_ops, bad: .metrics.touch_mismatches,
		probes: .metrics.probe_slots, probe_fail: .metrics.probe_exec_failures}' "$tmp/touch/run.json")
	info "touch, incompressible: $r"
	jq -e '.valid and .c < 1.3 and .ops > 0 and .bad == 0 and .probes > 0 and .probe_fail == 0' \
		<<<"$r" >/dev/null ||
		fail "touch engine: $r"
	# A page that comes back wrong (the touch test hook, in the test build)
	# makes the run invalid.
	requires_swapbench_hooked
	SWAPBENCH_TEST_TOUCH_CORRUPT=1 with_timeout 60 "$SWAPBENCH_HOOKED" run --scenario quick --tiers zram \
		--repeats 1 --set workload.duration_s=3 --out "$tmp/corrupt" ||
		fail "swapbench run (corrupt) exited with status $?"
	r=$(jq -c '.runs[0] | {valid, invalid_reason}' "$tmp/corrupt/run.json")
	info "touch, one bit flipped: $r"
	grep -q '"invalid_reason":"data corruption: 1 page(s) read back wrong' <<<"$r" ||
		fail "a corrupted page was not caught: $r"
	same_machine "$before" "after the compressibility runs"
fi

# A working set that fits: judged invalid, and still restored.
tier=${tiers%%,*}
with_timeout 60 "$SWAPBENCH" run --scenario "$FIX/scenario-fits.ini" --tiers "$tier" --repeats 1 \
	--out "$tmp/fits" || fail "swapbench run (fits) exited with status $?"
same_machine "$before" "after run fits"
r=$(jq -c '.runs[0] | {valid, invalid_reason, pswpout: .metrics.pswpout_pages, zswpout: .metrics.zswpout_pages}' "$tmp/fits/run.json")
info "fits: $r"
[ "$(jq -r .valid <<<"$r")" = false ] || fail "a run that fits was judged valid: $r"
grep -q 'did not swap' <<<"$r" || fail "wrong reason: $r"

# SIGINT in the middle of the workload: exit 130, machine restored, the run
# kept as invalid ("interrupted").  A run can end before the signal comes
# (its workload OOM-killed early under cgroup v1 and a sanitizer build):
# then it is tried again, signalled sooner.
for wait_s in 7 4 2; do
	"$SWAPBENCH" run --scenario quick --tiers "$tier" --repeats 1 --out "$tmp/int" &
	pid=$!
	sleep "$wait_s"
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	[ "$rc" = 130 ] && break
	info "the run signalled after $wait_s s exited with status $rc (it may have ended first): again"
	same_machine "$before" "after a run that ended before its signal"
done
[ "$rc" = 130 ] || fail "interrupted run exited with status $rc, expected 130 (three tries)"
same_machine "$before" "after an interrupted run"
r=$(jq -c '.runs[0] | {valid, invalid_reason}' "$tmp/int/run.json")
info "interrupted: $r"
grep -q 'interrupted by signal 2' <<<"$r" || fail "interrupted run: $r"

# Rounds rotate the tier order (A B, B A), each run says its place.  A is
# the baseline, tier none: no swap, a cgroup the working set fits in, valid
# when nothing swapped; the report shows zram against it.
if supported_tier zram; then
	with_timeout 150 "$SWAPBENCH" run --scenario quick --tiers none,zram --repeats 2 \
		--set workload.duration_s=2 --out "$tmp/rot" >/dev/null 2>&1 ||
		fail "swapbench run of two tiers twice exited with status $?"
	same_machine "$before" "after the rotated run"
	r=$(jq -c '[.runs[] | [.tier, .repeat, .position_in_round]]' "$tmp/rot/run.json")
	[ "$r" = '[["none",1,1],["zram",1,2],["zram",2,1],["none",2,2]]' ] ||
		fail "rounds not rotated: $r"
	jq -e '.settings.order == "interleaved, rotated"' "$tmp/rot/run.json" >/dev/null ||
		fail "settings.order: $(jq -c .settings.order "$tmp/rot/run.json")"
	r=$(jq -c '[.runs[] | {tier, valid, invalid_reason, out: (.metrics.pswpout_pages + .metrics.zswpout_pages),
		limit: .metrics.memcg_limit_bytes, ws: .metrics.working_set_bytes}]' "$tmp/rot/run.json")
	info "baseline and zram: $r"
	jq -e 'all(.[]; .valid) and all(.[] | select(.tier == "none"); .out == 0 and .limit > .ws)
		and all(.[] | select(.tier == "zram"); .out > 0 and .limit < .ws)' <<<"$r" >/dev/null ||
		fail "baseline runs: $r"
	"$SWAPBENCH" report "$tmp/rot" >"$tmp/rot/summary" || fail "report of the baseline run failed"
	grep -q '^| zram@1.1 | 2/2 / 2/2 | .* \[.*\] |' "$tmp/rot/report.md" ||
		fail "no baseline row with intervals: $(grep -A4 'Against the baseline' "$tmp/rot/report.md")"
	grep -q '^### Start-up' "$tmp/rot/report.md" || fail "report.md has no start-up table"
	grep -q 'p99 vs none' "$tmp/rot/summary" || fail "summary lacks the baseline column: $(cat "$tmp/rot/summary")"
	# A baseline the host cannot hold is refused before anything is changed.
	out=$("$SWAPBENCH" run --scenario quick --tiers none --set memcg.limit=4G --set workload.ratio=16 \
		--out "$tmp/big" 2>&1) && fail "a baseline beyond the host's memory ran"
	grep -q "tier 'none' cannot run here: its cgroup needs .* over half of MemAvailable" <<<"$out" ||
		fail "oversized baseline: unclear message: $out"
	same_machine "$before" "after an oversized baseline"
fi
exit 0
