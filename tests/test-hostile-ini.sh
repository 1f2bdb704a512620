#!/usr/bin/env bash
# Issue #20, item 13 (harness): a scenario line longer than the INI
# reader's buffer is refused.  inih splits such a line and parses its end
# as a line of its own: "ratio = 1.2<250 spaces>2" was read as ratio 2.0.
# The longest line that fits is still read whole; --set is applied after
# the scenario loads, so an unknown key there proves the file was accepted
# without anything run.  Try:
#   tests/run-tests test-hostile-ini.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
export SWAPBENCH_STATE_DIR=$tmp/state

# load FILE: swapbench run's scenario loading of FILE, stopped right after
# by an unknown --set key; prints its message.
load() {
	timeout 20 "$SWAPBENCH" run --scenario "$1" --set workload.no-such-key=1 2>&1
}

printf '[workload]\nratio = 1.2%250s2\n' '' >"$tmp/long.ini"
out=$(load "$tmp/long.ini")
grep -q "long.ini:2: line longer than [0-9]* characters" <<<"$out" ||
	fail "item 13: a 260-character line was not refused: $out"
info "item 13: over-long line refused: $out"

# The same with a comment after the value, and in a section header.
printf '[workload]\nduration_s = 5 ; %300s\n' 'x' >"$tmp/comment.ini"
out=$(load "$tmp/comment.ini")
grep -q "comment.ini:2: line longer than" <<<"$out" || fail "item 13: a long comment line was not refused: $out"

# A line that fits the buffer exactly is read whole.
max=$(sed -n 's/.*line longer than \([0-9]*\) characters.*/\1/p' <<<"$out")
[ -n "$max" ] || fail "item 13: no limit in the message: $out"
line="ratio = 1.5"
pad=$((max - ${#line}))
printf '[workload]\nratio = 1.5%*s\n' "$pad" '' >"$tmp/fits.ini"
[ "$(sed -n 2p "$tmp/fits.ini" | wc -c)" = $((max + 1)) ] || fail "test bug: the line is not $max characters"
out=$(load "$tmp/fits.ini")
grep -q "unknown key 'no-such-key'" <<<"$out" ||
	fail "item 13: a line of $max characters (the limit) was refused: $out"
info "item 13: a line of exactly $max characters is read whole"
exit 0
