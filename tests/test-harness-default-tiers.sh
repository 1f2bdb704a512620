#!/usr/bin/env bash
# swapbench run with no --tiers (what `make bench` does) takes every tier
# this host supports, the nbd tier among them: with vramd's vram backend
# where `vramd --dump-backend --backend=vram` says the GPU works, else the
# ram backend as the transport's control, and its name (nbd-vram, nbd-ram)
# and the log say which.  The quick scenario, shortened; the machine as
# before afterwards.  Try:  tests/run-tests test-harness-default-tiers.sh
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires jq
requires_root
requires_swapbench
requires_vramd
[ -z "${SWAPBENCH_SANITIZED:-}" ] ||
	skip "a sanitizer build: the default nbd tier runs vramd in swap mode, which ASan's shadow memory rules out"
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
supported_tier nbd || skip "the nbd tier cannot run here"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)

if "$VRAMD" --dump-backend --backend=vram | grep -qx 'supported=yes'; then
	want=nbd-vram
else
	want=nbd-ram
fi
doc=$tmp/out/run.json
with_timeout 240 "$SWAPBENCH" run --scenario quick --repeats 1 --out "$tmp/out" \
	--set workload.duration_s=3 >"$tmp/run.out" 2>&1 ||
	{ cat "$tmp/run.out" >&2; fail "swapbench run without --tiers exited with status $?"; }
same_machine "$before" "after the run"
grep -q "tier nbd: backend ${want#nbd-}" "$tmp/run.out" ||
	fail "the log does not say which nbd backend was taken: $(grep 'nbd' "$tmp/run.out" | head -n 3)"
labels=$(jq -r '[.runs[].tier] | join(",")' "$doc")
info "default tiers: $labels; $(grep 'tier nbd:' "$tmp/run.out")"
[[ ",$labels," == *",$want,"* ]] || fail "no run of $want among the default tiers: $labels"
jq -e --arg t "$want" 'any(.runs[]; .tier == $t and .valid)' "$doc" >/dev/null ||
	fail "the $want run is not valid: $(jq -c --arg t "$want" '.runs[] | select(.tier == $t) | .invalid_reason' "$doc")"
exit 0
