#!/usr/bin/env bash
# timeout: 300
# "A new tier is one file and one X() line" (README, Adding a tier), held
# to: a copy of this tree gets tests/fixtures/new-tier/tier-swapfile.c as
# harness/tier-swapfile.c and X(swapfile) in TIERS, nothing else, and its
# swapbench must build with warnings as errors, list the tier with its
# summary and options, accept it in `run --tiers`, run it (the quick
# scenario, 2 s: valid, pages out to its file), draw it in its own colour
# and leave the machine as it was.  Try:  tests/run-tests test-new-tier.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires git jq make cc
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"

# The tree as it is (tracked and untracked files git does not ignore),
# without the build.
src=$tmp/src
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf -) | tar -C "$src" -xf - || fail "cannot copy the tree"
cp "$top/tests/fixtures/new-tier/tier-swapfile.c" "$src/harness/" || fail "cannot copy the tier"
sed -i 's/^#define TIERS(X) \(.*\)$/#define TIERS(X) \1 X(swapfile)/' "$src/harness/tier.h"
[ "$(cd "$src" && git diff --no-index --stat "$top/harness/tier.h" harness/tier.h | tail -n 1)" != "" ] ||
	fail "the X() line was not added to TIERS: $(grep -n 'define TIERS' "$src/harness/tier.h")"
grep -q 'X(none) X(swapfile)$' "$src/harness/tier.h" ||
	fail "TIERS is not as this test expects: $(grep -n 'define TIERS' "$src/harness/tier.h")"

info "building swapbench with the new tier"
with_timeout 240 make -C "$src" -s -j"$(nproc)" WERROR=1 BUILD="$tmp/b" "$tmp/b/swapbench" \
	>"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; fail "the tree with one new tier file does not build"; }
SWAPBENCH=$tmp/b/swapbench
export SWAPBENCH_SCENARIOS=$src/scenarios
swapbench_isolate

# Listed, with its summary and its own option.
"$SWAPBENCH" list >"$tmp/list" 2>&1 || bad "list: $(cat "$tmp/list")"
grep -q 'swapfile.*a swap file (the tier of tests/test-new-tier.sh)' "$tmp/list" ||
	bad "list does not show the tier: $(cat "$tmp/list")"
"$SWAPBENCH" tier --help >"$tmp/tier-help" 2>&1
grep -q 'swapfile' "$tmp/tier-help" || bad "tier --help does not name it: $(head -c 600 "$tmp/tier-help")"
"$SWAPBENCH" tier up swapfile --help >"$tmp/up-help" 2>&1
grep -q -- '--file PATH' "$tmp/up-help" || bad "tier up swapfile --help lacks --file: $(head -c 600 "$tmp/up-help")"

# Run, as any tier.
before=$(machine_snapshot)
file=$tmp/swapfile.swap
with_timeout 200 "$SWAPBENCH" run --scenario quick --tiers "swapfile:file=$file:as=swapfile" --repeats 1 \
	--set workload.duration_s=2 --out "$tmp/run" >"$tmp/run.out" 2>&1 ||
	bad "run --tiers swapfile: $(tail -n 15 "$tmp/run.out")"
doc=$tmp/run/run.json
jq -e '.runs | length == 1 and all(.[]; .tier == "swapfile" and .valid == true)' "$doc" >/dev/null ||
	bad "the run: $(jq -c '[.runs[] | {tier, valid, invalid_reason}]' "$doc" 2>/dev/null)"
jq -e '.runs[0].metrics.pswpout_pages > 1000' "$doc" >/dev/null ||
	bad "no pages went out: $(jq -c '.runs[0].metrics | {pswpout_pages, pswpin_pages}' "$doc" 2>/dev/null)"
[ ! -e "$file" ] || bad "the swap file was left behind: $file"
same_machine "$before" "after the run"

# Drawn in its own colour (0x123456), where gnuplot is here.
if command -v gnuplot >/dev/null; then
	"$SWAPBENCH" plot "$tmp/run" >"$tmp/plot.out" 2>&1 || bad "plot: $(tail -n 5 "$tmp/plot.out")"
	# 0x123456 as gnuplot's SVG writes it: rgb( 18,  52,  86).
	grep -qE 'rgb\( *18, +52, +86\)' "$tmp/run/plots/p99-by-tier.svg" 2>/dev/null ||
		bad "p99-by-tier.svg does not draw the tier in its colour"
else
	info "no gnuplot: its colour is not checked"
fi
checks_done
