#!/usr/bin/env bash
# swapbench report's fleet form on a fleet made from the fixture run
# (tests/fixtures/results/run-a): three hosts with results in two
# fingerprint classes, and hosts that failed in every way a fleet directory
# can hold one (a job still "running", swapbench run's exit status, a
# run.json cut short, one that is a symbolic link, one too large, a fio-raw
# run, a directory planted as a link), with names that are markdown and
# shell syntax, a tier label with a terminal escape.  fleet.md must have one row per host and tier with intervals,
# the classes, the failed hosts with their reasons, the host x tier tables
# and the figures (PNG and SVG, where gnuplot is); several run directories
# with --out make the same report; the usage errors; compare still refuses
# two machines.  No root needed.  Try:
#   tests/run-tests test-fleet-report.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
requires jq
export SWAPBENCH_PLOTS=$top/plots
F=$top/tests/fixtures/results
fleet=$tmp/fleet-42
mkdir "$fleet"

# host NAME FACTOR MACHINE_ID KERNEL CPU [GPU]: run-a as host NAME, its work
# done FACTOR times stress-ng's ops per second (plus 1000 a repeat), with
# that fingerprint.
host() {
	local d=$fleet/$1
	cp -r "$F/run-a" "$d" || fail "cannot copy run-a"
	jq --argjson k "$2" --arg mid "$3" --arg kern "$4" --arg cpu "$5" --arg gpu "${6:-}" '
		.fingerprint.machine_id = $mid | .fingerprint.kernel = $kern | .fingerprint.cpu_model = $cpu |
		(if $gpu != "" then .tool_versions.vramd = {"nbd-vram": {"gpu0_name": $gpu, "gpu_count": "1"}}
		 else . end) |
		.runs |= [.[] | .metrics.workload_ops_per_s = (.metrics.stressng_bogo_ops / 30 * $k + .repeat * 1000)]' \
		"$d/run.json" >"$d/run.json.new" && mv "$d/run.json.new" "$d/run.json" || fail "cannot edit $d/run.json"
}
host node1 1.0 00000000000000a1 6.12.0-swapbench "Xeon 8480" "NVIDIA H100 80GB HBM3"
host node2 1.1 00000000000000a2 6.12.0-swapbench "Xeon 8480" "NVIDIA H100 80GB HBM3"
host node3 0.7 00000000000000a3 6.1.0-21-amd64 "EPYC 9554"
printf '{"schema": "swapbench-fleet-job", "schema_version": 1, "state": "done", "exit_status": 0}\n' \
	>"$fleet/node1/fleet-job.json"
# Failed hosts, each its own way.
mkdir "$fleet/node4" "$fleet/node5" "$fleet/node6" "$fleet/node7" "$fleet/node8"
printf '{"schema": "swapbench-fleet-job", "schema_version": 1, "state": "running", "exit_status": null}\n' \
	>"$fleet/node4/fleet-job.json"
printf '{"state": "failed", "exit_status": 137}\n' >"$fleet/node5/fleet-job.json"
head -c 300 "$F/run-a/run.json" >"$fleet/node6/run.json"
ln -s /etc/passwd "$fleet/node7/run.json"
cp "$F/fio-a/run.json" "$fleet/node8/run.json"
mkdir "$fleet/node11" && truncate -s 65M "$fleet/node11/run.json"
# A tier label with a terminal escape and markdown: refused, never printed.
mkdir "$fleet/node12" && jq '.runs[0].tier = "zram\u001b]0;owned\u0007|x"' "$F/run-a/run.json" \
	>"$fleet/node12/run.json" || fail "cannot write node12's run.json"
# A name with markdown and shell syntax, and a host directory that is a
# link (not followed: not a host), and a directory that is no host.
odd='node9|`touch mark`$(touch mark2)'
mkdir "$fleet/$odd"
printf '{"state": "failed", "exit_status": 2}\n' >"$fleet/$odd/fleet-job.json"
ln -s "$fleet/node1" "$fleet/node10"
mkdir "$fleet/notes"

cd "$tmp" || fail "cannot enter $tmp"
"$SWAPBENCH" report "$fleet" >"$tmp/out" 2>"$tmp/err" || fail "report of the fleet: $(cat "$tmp/err")"
md=$fleet/fleet.md
[ -s "$md" ] || fail "no fleet.md"
[ "$(tail -n 1 "$tmp/out")" = "$md" ] || bad "the last line is not fleet.md's path: $(tail -n 1 "$tmp/out")"
[ -z "$(find "$tmp" -name 'mark*')" ] || bad "a command from a host's name ran"

grep -qx '# swapbench fleet: anon-pressure on 11 hosts, 8 failed' "$md" || bad "title: $(head -n 1 "$md")"
grep -q "^- node12: run.json: run 0's tier label holds a character swapbench never writes" "$md" ||
	bad "node12's reason: $(grep '^- node12' "$md")"
! grep -q "$(printf '\033')" "$md" "$tmp/out" "$tmp/err" || bad "an escape from a tier label was printed"
# Classes: node1 and node2 alike (kernel, CPU, GPU), node3 apart.
grep -qx '| A | node1, node2 | 6.12.0-swapbench | Xeon 8480 | NVIDIA H100 80GB HBM3 |' "$md" ||
	bad "class A: $(grep '^| A | node' "$md" | head -n 1)"
grep -qx '| B | node3 | 6.1.0-21-amd64 | EPYC 9554 | - |' "$md" || bad "class B: $(grep '^| B | node3 |' "$md" | head -n 1)"
# One row per host and tier, with intervals; class by class.
rows=$(grep -Ec '^\| [AB] \| node[123] \| (zram|disk|nbd-ram) \| [0-9]/6 \| [0-9]+/s \[[0-9]+/s, [0-9]+/s\] \| [0-9.]+ ms \[[0-9.]+ ms, [0-9.]+ ms\] \| [0-9.]+% \[[0-9.]+%, [0-9.]+%\] \|$' "$md")
[ "$rows" = 9 ] || bad "$rows rows of 3 hosts x 3 tiers: $(grep '^| [AB] | node' "$md" | head -n 12)"
grep -q '^| A | node1 | disk | 5/6 | ' "$md" || bad "node1 disk's valid runs"
[ "$(grep -E '^\| [AB] \| node[123] \| zram \|' "$md" | cut -d'|' -f3 | tr -d ' ' | tr '\n' ' ')" = "node1 node2 node3 " ] ||
	bad "hosts not in class order"
# node2 does 10% more work than node1: its median is higher.
w1=$(grep '^| A | node1 | zram |' "$md" | cut -d'|' -f6 | sed 's/^ *\([0-9]*\)\/s.*/\1/')
w2=$(grep '^| A | node2 | zram |' "$md" | cut -d'|' -f6 | sed 's/^ *\([0-9]*\)\/s.*/\1/')
[ "${w2:-0}" -gt "${w1:-0}" ] || bad "work done: node2 $w2 not above node1 $w1"
# The failed hosts, each with its reason.
for h in node4 node5 node6 node7 node8 node12; do
	grep -q "^| - | $h | - | failed |" "$md" || bad "no failed row for $h"
done
grep -q '^- node4: no run.json: the job never finished (its record says running' "$md" || bad "node4's reason"
grep -q '^- node5: no run.json: swapbench run was killed by signal 9 (see run.log)$' "$md" || bad "node5's reason"
grep -q '^- node6: run.json:[0-9]*:[0-9]*: ' "$md" || bad "node6's reason: $(grep '^- node6' "$md")"
grep -q '^- node7: run.json: .*symbolic link (refused)$' "$md" || bad "node7's reason: $(grep '^- node7' "$md")"
grep -q '^- node8: a fio-raw run' "$md" || bad "node8's reason: $(grep '^- node8' "$md")"
grep -q '^- node11: run.json: larger than 67108864 bytes, or growing (refused)$' "$md" ||
	bad "node11's reason: $(grep '^- node11' "$md")"
grep -q '^- node9__touch_mark___touch_mark2_: no run.json: swapbench run exited with status 2 (see run.log)$' "$md" ||
	bad "the odd name: $(grep '^- node9' "$md")"
grep -q 'node10\|notes' "$md" && bad "a link or a directory without a run was taken for a host"
grep -q 'passwd\|root:' "$md" && bad "the link's target leaked into fleet.md"
# The tables by metric, and the hosts' provenance.
grep -q '^| class | host | zram | disk | nbd-ram |$' "$md" || bad "no host x tier table"
[ "$(grep -c '^| class | host | zram | disk | nbd-ram |$' "$md")" = 3 ] || bad "not one table per metric"
grep -q '^| A | node1 | anon-pressure | 256 MiB | - | - | 00000000000000a1 | ? | exit 0 | - |$' "$md" ||
	bad "node1's host row: $(grep '^| A | node1 | anon' "$md")"
grep -Eq "^A +node1 +zram +6/6 +[0-9]+/s +[0-9.]+ ms +[0-9.]+%$" "$tmp/out" || bad "no summary on the terminal: $(head -n 3 "$tmp/out")"
grep -Eq "^- +node4 +failed: no run.json" "$tmp/out" || bad "no failed host on the terminal"
grep -q 'swapbench compare' "$md" || bad "fleet.md does not say that compare judges"

# The figures: one per metric, each tier's hosts side by side.
png_magic=$(printf '\211PNG\r\n\032\n' | od -An -tx1)
if command -v gnuplot >/dev/null 2>&1; then
	for f in fleet-work fleet-p99 fleet-psi; do
		[ "$(head -c 8 "$fleet/plots/$f.png" 2>/dev/null | od -An -tx1)" = "$png_magic" ] || bad "$f.png is not a PNG"
		grep -q '<svg' "$fleet/plots/$f.svg" 2>/dev/null || bad "no $f.svg"
		grep -q "^!\[.*\](plots/$f.png)$" "$md" || bad "fleet.md does not show $f"
		grep -q 'node1 (A)' "$fleet/plots/$f.svg" && grep -q 'node3 (B)' "$fleet/plots/$f.svg" ||
			bad "$f.svg does not name the hosts with their class"
		grep -q '3 hosts, 2 host classes, scenario anon-pressure' "$fleet/plots/$f.svg" || bad "$f.svg's subtitle"
	done
	[ "$(grep -vc '^#' "$fleet/plots/fleet-work.tsv")" = 9 ] || bad "fleet-work.tsv: not 9 rows"
	grep -q 'probe latency p99 (ms)' "$fleet/plots/fleet-p99.svg" || bad "fleet-p99.svg: no axis unit"
	grep -qx '1	zram	node2 (A)	[0-9.e+]*	[0-9.e+]*	[0-9.e+]*	6' "$fleet/plots/fleet-work.tsv" ||
		bad "fleet-work.tsv: node2's zram row: $(grep 'zram	node2' "$fleet/plots/fleet-work.tsv")"
	grep -q 'fleet-psi' "$tmp/out" && bad "the figures' paths were printed"
else
	info "gnuplot not installed: figure checks skipped"
	grep -q '^No figures' "$md" || bad "fleet.md does not say there are no figures"
fi

# A plots/ directory that is a link (or others may write) is refused, and
# nothing is written through it.
mkdir "$tmp/elsewhere"
rm -rf "$fleet/plots" && ln -s "$tmp/elsewhere" "$fleet/plots"
if command -v gnuplot >/dev/null 2>&1; then
	"$SWAPBENCH" report "$fleet" >/dev/null 2>"$tmp/err" && bad "a plots/ link was accepted"
	grep -q "not a directory of this user's" "$tmp/err" || bad "plots/ link: $(cat "$tmp/err")"
	[ -z "$(ls "$tmp/elsewhere")" ] || bad "figures written through the plots/ link"
	[ -s "$md" ] || bad "fleet.md not written when the figures were refused"
fi
rm -f "$fleet/plots"

# fleet.md planted as a link is replaced, not written through.
echo keep >"$tmp/target"
ln -sf "$tmp/target" "$md"
"$SWAPBENCH" report "$fleet" >/dev/null 2>"$tmp/err" || bad "report over a fleet.md link: $(cat "$tmp/err")"
[ "$(cat "$tmp/target")" = keep ] || bad "fleet.md's link was followed"
[ -L "$md" ] && bad "fleet.md is still a link"

# Several run directories with --out: hosts named by their directories
# (the same name twice: the second gets ~2); a run directory alone is still
# the one-run report.
mkdir -p "$tmp/a" "$tmp/b"
cp -r "$fleet/node1" "$tmp/a/gpu-box" && cp -r "$fleet/node3" "$tmp/b/gpu-box"
"$SWAPBENCH" report --out "$tmp/merged" "$tmp/a/gpu-box" "$tmp/b/gpu-box" "$fleet/node4" \
	>"$tmp/out" 2>"$tmp/err" || bad "report --out of three directories: $(cat "$tmp/err")"
grep -qx '# swapbench fleet: anon-pressure on 3 hosts, 1 failed' "$tmp/merged/fleet.md" ||
	bad "--out: title $(head -n 1 "$tmp/merged/fleet.md" 2>/dev/null)"
grep -q '^| A | gpu-box | zram | 6/6 | ' "$tmp/merged/fleet.md" && grep -q '^| B | gpu-box~2 | zram | 6/6 | ' "$tmp/merged/fleet.md" ||
	bad "--out: rows $(grep '^| [AB] | gpu' "$tmp/merged/fleet.md" | head -n 2)"
grep -q '^| - | node4 | - | failed |' "$tmp/merged/fleet.md" || bad "--out: node4 not failed"
grep -q 'report.md\](' "$tmp/merged/fleet.md" && bad "--out: links to report.md outside the report's directory"
"$SWAPBENCH" report "$tmp/a/gpu-box" >/dev/null 2>&1 || bad "one run directory: report failed"
[ -s "$tmp/a/gpu-box/report.md" ] && [ ! -e "$tmp/a/gpu-box/fleet.md" ] || bad "one run directory: not report.md"

# Usage: several directories need --out; --out is no run directory's;
# a lone directory must be a run's or a fleet's.
refused_usage 'name its directory with --out' "$SWAPBENCH" report "$tmp/a/gpu-box" "$tmp/b/gpu-box"
refused_usage '--out is for a fleet report' "$SWAPBENCH" report --out "$tmp/x" "$tmp/a/gpu-box"
refused_usage 'expected a RUN_DIR' "$SWAPBENCH" report
"$SWAPBENCH" report "$tmp/elsewhere" >/dev/null 2>"$tmp/err" && bad "an empty directory made a fleet report"
grep -q 'no run.json, and no host directories' "$tmp/err" || bad "empty directory: $(cat "$tmp/err")"
"$SWAPBENCH" report "$tmp/none" >/dev/null 2>"$tmp/err" && bad "a missing directory made a report"
[ ! -e "$tmp/none" ] || bad "report made the missing directory"
"$SWAPBENCH" report --help | grep -q 'swapbench report \[--out DIR\] FLEET_DIR' || bad "--help: no fleet form"

# The fleet report describes; compare still judges one machine at a time.
"$SWAPBENCH" compare "$fleet/node1/run.json" "$fleet/node2/run.json" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q 'differ in machine_id' "$tmp/err" ||
	bad "compare of two machines: status $rc, $(cat "$tmp/err")"
"$SWAPBENCH" compare --force "$fleet/node1/run.json" "$fleet/node2/run.json" >/dev/null 2>&1
rc=$?
[ $rc != 3 ] || bad "compare --force of two machines refused"
checks_done
