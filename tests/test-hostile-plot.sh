#!/usr/bin/env bash
# Issue #20, item 1: `swapbench plot` on a hostile result document runs
# nothing.  A run.json whose fingerprint (host, kernel, scenario) carries
# backquoted commands, quotes and a newline, in a run directory whose name
# has backquotes and quotes, and one whose name starts with '|' (gnuplot's
# pipe): every figure is drawn, the titles show the text (backquotes as
# '_'), and no command ran (no marker file appears).  No root needed.  Try:
#   tests/run-tests test-hostile-plot.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
requires gnuplot jq
export SWAPBENCH_PLOTS=$top/plots
F=$top/tests/fixtures/results

cd "$tmp" || fail "cannot enter $tmp"
# Commands in backquotes, $(...), quotes and a newline: each would leave a
# marker in $tmp (gnuplot's and a shell's working directory) if it ran.
host='bench-01`touch mark-host; echo x`'
kernel="6.12.0-swapbench \`touch mark-kernel\` \$(touch mark-kernel2) ' \" end"
scenario=$'overcommit\n`touch mark-scenario`'
hostile() {
	jq --arg h "$host" --arg k "$kernel" --arg s "$scenario" \
		'.fingerprint.host = $h | .fingerprint.kernel = $k | .fingerprint.scenario = $s' \
		"$1/run.json" >"$1/run.json.new" && mv "$1/run.json.new" "$1/run.json"
}

# no_marks LABEL: no command ran (no marker file in $tmp or below).
no_marks() {
	local m
	m=$(find "$tmp" -name 'mark-*' 2>/dev/null | tr '\n' ' ')
	[ -z "$m" ] || fail "item 1: $1: a command from run.json or the path ran (made $m)"
}

# check DIR LABEL: the figures are there and nothing ran.
check() {
	local dir=$1 label=$2 fig
	no_marks "$label"
	for fig in p99-by-tier psi-full swap-rates latency-cdf; do
		[ -s "$dir/plots/$fig.png" ] && [ -s "$dir/plots/$fig.svg" ] ||
			fail "item 1: $label: $fig not drawn"
	done
	grep -q 'host bench-01_touch mark-host; echo x_' "$dir/plots/p99-by-tier.svg" ||
		fail "item 1: $label: the title does not show the host as text"
	ls "$dir/plots" | grep -q '^\.vars' && fail "item 1: $label: a variables file was left behind"
	info "item 1: $label: figures drawn, nothing run"
}

d="run-\`touch mark-dir\`-'q'-\"dq\"-\$(touch mark-dir2)"
cp -r "$F/run-a" "$tmp/$d"
hostile "$tmp/$d"
"$SWAPBENCH" plot "$d" >"$tmp/out" 2>"$tmp/err"
rc=$?
no_marks "hostile run.json in a directory named with backquotes and quotes"
[ $rc = 0 ] || { cat "$tmp/err" >&2; fail "item 1: plot of the hostile run.json failed"; }
check "$tmp/$d" "hostile run.json in a directory named with backquotes and quotes"

# gnuplot opens a file name starting with '|' or '<' as a pipe from a shell.
p='|touch mark-pipe;x'
cp -r "$F/run-a" "$tmp/$p"
"$SWAPBENCH" plot "$p" >"$tmp/out" 2>"$tmp/err"
rc=$?
no_marks "a directory named '$p'"
[ $rc = 0 ] || { cat "$tmp/err" >&2; fail "item 1: plot in '$p' failed"; }
info "item 1: a directory named '$p' is a directory, not a pipe"

# A samples file named outside the run directory is not read.
r=$tmp/run-outside
cp -r "$F/run-a" "$r"
jq '.runs[0].samples_file = "/etc/passwd" | .runs[1].samples_file = "../x"' "$r/run.json" >"$r/x" &&
	mv "$r/x" "$r/run.json"
"$SWAPBENCH" plot "$r" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "item 1: plot failed"; }
grep -q "samples file '/etc/passwd' is not a path inside the run directory" "$tmp/err" ||
	fail "item 1: a samples file outside the run directory was not refused"
info "item 1: a samples file outside the run directory is ignored"
exit 0
