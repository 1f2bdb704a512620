#!/usr/bin/env bash
# swapbench plot and report on fixture run directories
# (tests/fixtures/results/): run-a (overcommit), ramp-a (ramp) and fio-a
# (fio-raw).  Every figure rendered as PNG (checked by its magic bytes) and
# SVG (xmllint, else a grep for <svg) with the kernel in its title and units
# on its axes, the TSV inputs written (the latency CDF monotone, ending at
# 1), figures without data skipped with a note, and report.md with the
# tables, the figures, the fingerprint and the command.  No root needed.  Try:
#   tests/run-tests test-harness-plot.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
requires gnuplot
export SWAPBENCH_PLOTS=$top/plots
F=$top/tests/fixtures/results

png_magic=$(printf '\211PNG\r\n\032\n' | od -An -tx1)

# check_figure DIR FIGURE UNIT...: DIR/plots/FIGURE.png is a PNG and .svg
# valid SVG, both listed on stdout ($tmp/out), the title carries the kernel
# and the SVG each axis label UNIT.
check_figure() {
	local dir=$1 fig=$2 png svg unit
	shift 2
	png=$dir/plots/$fig.png svg=$dir/plots/$fig.svg
	[ -s "$png" ] || fail "$fig.png missing or empty"
	[ "$(head -c 8 "$png" | od -An -tx1)" = "$png_magic" ] || fail "$fig.png is not a PNG"
	[ -s "$svg" ] || fail "$fig.svg missing or empty"
	if command -v xmllint >/dev/null; then
		xmllint --noout "$svg" 2>"$tmp/xml" || fail "$fig.svg is not XML: $(cat "$tmp/xml")"
	fi
	grep -q '<svg' "$svg" || fail "$fig.svg has no <svg"
	grep -q 'kernel 6.12.0-swapbench' "$svg" || fail "$fig.svg: title without the kernel"
	grep -qx "$png" "$tmp/out" || fail "$fig.png not listed"
	grep -qx "$svg" "$tmp/out" || fail "$fig.svg not listed"
	for unit in "$@"; do
		grep -qF "$unit" "$svg" || fail "$fig.svg: no axis label '$unit'"
	done
}

# check_cdf TSV: latency rising, CDF rising from 0 to exactly 1, the share
# above falling from 1 to 0.
check_cdf() {
	awk -F'\t' '/^#/ { next }
		n++ == 0 { if ($2 != 0 || $3 != 1) bad = "does not start at 0"; }
		n > 1 && ($1 < x || $2 < c || $3 > e) { bad = "not monotone at line " NR }
		{ x = $1; c = $2; e = $3 }
		END { if (!bad && (n < 3 || c != 1 || e != 0)) bad = "does not end at 1";
		      if (bad) { print bad; exit 1 } }' "$1" >"$tmp/cdf" ||
		fail "$(basename "$1"): $(cat "$tmp/cdf")"
}

cp -r "$F/run-a" "$tmp/run-a"
"$SWAPBENCH" plot "$tmp/run-a" >"$tmp/out" 2>"$tmp/err" ||
	fail "plot failed: $(cat "$tmp/err")"
check_figure "$tmp/run-a" p99-by-tier 'probe latency p99 (ms)'
# Each tier in its own colour, from the tiers' tables (harness/tier-*.c):
# zram blue, disk grey, nbd-ram purple; none falls back to red.
for rgb in '31, 119, 180' '127, 127, 127' '148, 103, 189'; do
	grep -q "rgb( *${rgb//, /, *})" "$tmp/run-a/plots/p99-by-tier.svg" ||
		fail "p99-by-tier.svg: no bar in rgb($rgb)"
done
! grep -q 'rgb(214,  39,  40)' "$tmp/run-a/plots/p99-by-tier.svg" ||
	fail "p99-by-tier.svg: a tier drawn in the fallback red"
check_figure "$tmp/run-a" psi-full 'PSI memory full (% of interval)' 'time since start (s)'
check_figure "$tmp/run-a" swap-rates 'rate (pages/s)' 'time since start (s)'
check_figure "$tmp/run-a" latency-cdf 'probe exec latency (ms, log scale)' '(1 - CDF, log scale)'
for t in zram disk nbd-ram; do
	check_cdf "$tmp/run-a/plots/cdf-$t.tsv"
done
# 150 probes a run; disk's invalid repeat 2 is left out.
grep -q '^# zram: probe exec latency, 900 probes over 6 valid runs' "$tmp/run-a/plots/cdf-zram.tsv" ||
	fail "cdf-zram.tsv: histograms not merged over 6 runs"
grep -q '^# disk: probe exec latency, 750 probes over 5 valid runs' "$tmp/run-a/plots/cdf-disk.tsv" ||
	fail "cdf-disk.tsv: invalid run merged"
grep -q 'overcommit-curve skipped: not a ramp' "$tmp/err" || fail "run-a: no overcommit-curve note"
grep -q 'fio-latency skipped' "$tmp/err" || fail "run-a: no fio-latency note"
[ ! -e "$tmp/run-a/plots/overcommit-curve.png" ] || fail "run-a: overcommit-curve drawn without a ramp"
for tsv in p99.tsv p99-runs.tsv series-zram.tsv series-disk.tsv series-nbd-ram.tsv; do
	[ -s "$tmp/run-a/plots/$tsv" ] || fail "$tsv missing"
done
# disk repeat 2 is invalid: 5 runs, not 6.
grep -Eq '^disk	[0-9.]+	[0-9.]+	[0-9.]+	5$' "$tmp/run-a/plots/p99.tsv" || fail "p99.tsv: invalid run counted"
# nbd-ram's samples are in the sampler's long layout (t_ns source key value):
# PSI full from the workload's cgroup (about 4%), not the system's (1.8%).
awk -F'\t' '$1 == "15.000" { exit !($2 > 2.5 && $2 < 6.5 && $3 > 0 && $4 > 0) }' \
	"$tmp/run-a/plots/series-nbd-ram.tsv" || fail "long-layout samples misread"

# Without samples files: the time-series figures are skipped with a note.
mkdir "$tmp/bare"
cp "$F/base.json" "$tmp/bare/run.json"
"$SWAPBENCH" plot "$tmp/bare" >"$tmp/out" 2>"$tmp/err" || fail "plot bare: $(cat "$tmp/err")"
grep -q 'psi-full and swap-rates skipped' "$tmp/err" || fail "bare: no skip note"
[ -s "$tmp/bare/plots/p99-by-tier.png" ] || fail "bare: no p99 figure"
[ ! -e "$tmp/bare/plots/psi-full.png" ] || fail "bare: psi-full drawn without data"
grep -q 'latency-cdf skipped: no valid run has histograms' "$tmp/err" || fail "bare: no latency-cdf note"
[ ! -e "$tmp/bare/plots/latency-cdf.png" ] || fail "bare: latency-cdf drawn without data"

# A malformed histogram: that run is left out with a warning, the rest drawn.
mkdir "$tmp/badhist"
cp -r "$F/run-a/samples" "$tmp/badhist/"
sed '0,/"probe_exec_ns": \[\[/s//"probe_exec_ns": [["x", /' "$F/run-a/run.json" >"$tmp/badhist/run.json"
"$SWAPBENCH" plot "$tmp/badhist" >"$tmp/out" 2>"$tmp/err" || fail "plot badhist: $(cat "$tmp/err")"
grep -q "zram repeat 1: histogram 'probe_exec_ns' is not a list" "$tmp/err" ||
	fail "badhist: no warning: $(cat "$tmp/err")"
grep -q '^# zram: probe exec latency, 750 probes over 5 valid runs' "$tmp/badhist/plots/cdf-zram.tsv" ||
	fail "badhist: malformed histogram not left out"

# A ramp: the overcommit curve per tier (median and spread at each ratio)
# and the latency tail of each tier at each ratio.
cp -r "$F/ramp-a" "$tmp/ramp-a"
"$SWAPBENCH" plot "$tmp/ramp-a" >"$tmp/out" 2>"$tmp/err" || fail "plot ramp-a: $(cat "$tmp/err")"
check_figure "$tmp/ramp-a" overcommit-curve 'probe exec latency p99 (ms, log scale)' \
	'PSI memory full (% of run time)' 'overcommit ratio (working set / memory cgroup limit)'
check_figure "$tmp/ramp-a" latency-cdf 'probe exec latency (ms, log scale)'
check_figure "$tmp/ramp-a" p99-by-tier 'probe latency p99 (ms)'
for t in zram disk nbd-vram; do
	c=$tmp/ramp-a/plots/curve-$t.tsv
	[ "$(grep -vc '^#' "$c")" = 4 ] || fail "curve-$t.tsv: not one row per ratio"
	awk -F'\t' '!/^#/ && !($4 <= $3 && $3 <= $5 && $7 <= $6 && $6 <= $8) { exit 1 }' "$c" ||
		fail "curve-$t.tsv: median outside min-max"
	for r in 1 1.25 1.5 2; do
		check_cdf "$tmp/ramp-a/plots/cdf-$t@$r.tsv"
	done
done
# Tier colours by the base tier: no "zram@1.5" curve file; disk at 2 lost a run.
[ ! -e "$tmp/ramp-a/plots/curve-zram@1.5.tsv" ] || fail "curve per group, not per tier"
grep -Eq '^2	[0-9.]+	([0-9.]+	){6}2$' "$tmp/ramp-a/plots/curve-disk.tsv" ||
	fail "curve-disk.tsv: invalid run counted at ratio 2"

# fio-raw: latency percentiles per job and tier, zswap (not applicable) and
# disk's failed repeat left out; no probe figures.
cp -r "$F/fio-a" "$tmp/fio-a"
"$SWAPBENCH" plot "$tmp/fio-a" >"$tmp/out" 2>"$tmp/err" || fail "plot fio-a: $(cat "$tmp/err")"
check_figure "$tmp/fio-a" fio-latency 'I/O latency (us, log scale)' 'fio job (pattern, block size, queue depth)'
grep -q 'randwrite-64k-qd8' "$tmp/fio-a/plots/fio-latency.svg" || fail "fio-latency: no job names"
[ ! -e "$tmp/fio-a/plots/fio-zswap.tsv" ] || fail "fio: zswap (not applicable) drawn"
[ ! -e "$tmp/fio-a/plots/p99-by-tier.png" ] || fail "fio: probe figure drawn"
for t in zram disk nbd-ram nbd-vram; do
	[ "$(grep -vc '^#' "$tmp/fio-a/plots/fio-$t.tsv")" = 6 ] || fail "fio-$t.tsv: not 6 jobs"
done
awk -F'\t' '!/^#/ && $3 != 1 { exit 1 }' "$tmp/fio-a/plots/fio-disk.tsv" ||
	fail "fio-disk.tsv: the invalid repeat counted"

# Broken input and usage.
mkdir "$tmp/broken"
cp "$F/truncated.json" "$tmp/broken/run.json"
"$SWAPBENCH" plot "$tmp/broken" 2>"$tmp/err" && fail "plot of truncated JSON succeeded"
grep -Eq 'run\.json:[0-9]+:[0-9]+: ' "$tmp/err" || fail "broken: $(cat "$tmp/err")"
"$SWAPBENCH" plot 2>/dev/null; [ $? = 2 ] || fail "plot without RUN_DIR: not a usage error"

# report.md: the table, the figures, the fingerprint, the command.
"$SWAPBENCH" report "$tmp/run-a" >"$tmp/out" 2>"$tmp/err" || fail "report: $(cat "$tmp/err")"
md=$tmp/run-a/report.md
[ -s "$md" ] || fail "report.md missing"
grep -q '^| tier | valid runs | work done (ops/s) | probe p50 | probe p99 | probe p99.9 | PSI full | PSI full, p99 of seconds | longest stall | swap-out (pages/s) | swap-in (pages/s) | NBD daemons CPU (% of a core) | NBD daemons CPU per page swapped |$' "$md" ||
	fail "report: no table header"
# The terminal summary: a row per tier, then the path of report.md.
grep -Eq '^tier +valid +work/s +probe p99 +PSI full +out pg/s +in pg/s$' "$tmp/out" ||
	fail "report: no summary header on stdout: $(head -n 3 "$tmp/out")"
grep -Eq '^disk +5/6 +- +9\.22 ms +0\.41% +7172/s +5123/s$' "$tmp/out" ||
	fail "report: summary's disk row: $(grep '^disk' "$tmp/out")"
[ "$(tail -n 1 "$tmp/out")" = "$md" ] || fail "report: last line '$(tail -n 1 "$tmp/out")', expected $md"
# A real run's document (its runs carry a ratio): rows TIER@RATIO, in the
# table and the summary.
real=$top/docs/results/h100-20261207-incompressible
if [ -s "$real/run.json" ]; then
	mkdir "$tmp/real" && cp "$real/run.json" "$tmp/real/"
	"$SWAPBENCH" report "$tmp/real" >"$tmp/real.out" 2>"$tmp/err" || fail "report of $real: $(cat "$tmp/err")"
	grep -Eq '^nbd-ram@1\.5 +2/2 +150853/s +' "$tmp/real.out" ||
		fail "report of $real: summary row: $(grep '^nbd-ram' "$tmp/real.out")"
	[ "$(grep -c '^| [a-z0-9-]*@1\.5 | 2/2 |' "$tmp/real/report.md")" = 5 ] ||
		fail "report of $real: table rows: $(grep -c '@1.5 |' "$tmp/real/report.md")"
	# Some 240 probes a run: no p99.9 (it would be the largest sample or two).
	grep -q '^| nbd-ram@1\.5 | 2/2 | 150853/s \[149581/s, 152125/s\] | [^|]* | [^|]* | - |' "$tmp/real/report.md" ||
		fail "report of $real: a p99.9 from 240 probes: $(grep '^| nbd-ram' "$tmp/real/report.md")"
	grep -q 'Probe p99.9 is shown only where every valid run had at least 10000 probes' \
		"$tmp/real/report.md" || fail "report of $real: no note on the p99.9 column"
	# Two rounds: each run's work done and p99 by round, in run order.
	grep -q '^### By round' "$tmp/real/report.md" || fail "report of $real: no table by round"
	grep -q '^| zram@1\.5 | 476986/s | 442275/s |$' "$tmp/real/report.md" ||
		fail "report of $real: zram by round: $(grep '^| zram@1.5 | [0-9]*/s' "$tmp/real/report.md")"
fi
grep -q '^| zram | 6/6 | ' "$md" || fail "report: no zram row"
grep -q '^| disk | 5/6 | ' "$md" || fail "report: disk validity"
grep -q 'invalid: disk repeat 2: faults went to the wrong tier' "$md" || fail "report: invalid reason"
grep -q '^!\[.*\](plots/p99-by-tier.png)$' "$md" || fail "report: figure not embedded"
grep -q '^!\[.*\](plots/latency-cdf.png)$' "$md" || fail "report: latency-cdf not embedded"
grep -q 'Overcommit curve: per ratio' "$md" && fail "report: ratio table for a run that is not a ramp"
grep -q '"kernel": "6.12.0-swapbench"' "$md" || fail "report: no fingerprint"
grep -q '^swapbench run --scenario anon-pressure' "$md" || fail "report: no command"
"$SWAPBENCH" report "$tmp/bare" >/dev/null 2>&1 || fail "report bare failed"
grep -q 'No figures\|p99-by-tier' "$tmp/bare/report.md" || fail "report bare: figures"

# Settings without "command" (as 'swapbench run' records them): the command
# is rebuilt from scenario, tiers, repeats and out.
cp -r "$F/run-b" "$tmp/run-b"
"$SWAPBENCH" report "$tmp/run-b" >/dev/null 2>&1 || fail "report run-b failed"
grep -qx "sudo swapbench run --scenario 'overcommit' --tiers zram,disk,nbd-ram --repeats 6 --out 'results/x'" \
	"$tmp/run-b/report.md" || fail "report: command not rebuilt from settings"

# A ramp's report: the table per tier and ratio, then one row per ratio.
"$SWAPBENCH" report "$tmp/ramp-a" >/dev/null 2>"$tmp/err" || fail "report ramp-a: $(cat "$tmp/err")"
md=$tmp/ramp-a/report.md
grep -q '^| disk@2 | 2/3 | ' "$md" || fail "ramp report: no per-group table"
grep -q '^## Overcommit curve: per ratio' "$md" || fail "ramp report: no ratio table"
grep -q '^| ratio | zram probe p99 | zram PSI full | disk probe p99 | disk PSI full | nbd-vram probe p99 | nbd-vram PSI full |$' \
	"$md" || fail "ramp report: ratio table header"
for r in 1 1.25 1.5 2; do
	grep -Eq "^\| $r \| [0-9.]+ (us|ms) \| [0-9.]+% \| " "$md" || fail "ramp report: no row for ratio $r"
done
grep -q '^!\[.*\](plots/overcommit-curve.png)$' "$md" || fail "ramp report: curve not embedded"
grep -q '^swapbench run --scenario ramp --tiers zram,disk,nbd-vram --repeats 3$' "$md" ||
	fail "ramp report: no command"

# A fio-raw run's report: a table per tier and job instead of the probe table.
"$SWAPBENCH" report "$tmp/fio-a" >/dev/null 2>"$tmp/err" || fail "report fio-a: $(cat "$tmp/err")"
md=$tmp/fio-a/report.md
grep -q '^| tier | job | valid runs | IOPS | bandwidth (MiB/s) | p50 (us) | p99 (us) | p99.9 (us) |$' "$md" ||
	fail "fio report: no table header"
grep -q '^| tier | valid runs | probe p50' "$md" && fail "fio report: probe table"
[ "$(grep -c '^| nbd-vram | rand' "$md")" = 6 ] || fail "fio report: nbd-vram not 6 jobs"
grep -Eq '^\| zram \| randread-4k-qd1 \| 2/2 \| [0-9]+ \| [0-9.]+ \| 2\.6 \| 8\.1 \| 19\.7 \|$' "$md" ||
	fail "fio report: zram randread-4k-qd1 row"
grep -q '^| disk | randwrite-64k-qd8 | 1/2 | ' "$md" || fail "fio report: disk's failed repeat counted"
grep -q '^| zswap | - | 0/2 | ' "$md" || fail "fio report: no zswap row"
grep -q '^- invalid: zswap repeat 1: not applicable: ' "$md" || fail "fio report: no reason for zswap"
grep -q '^!\[.*\](plots/fio-latency.png)$' "$md" || fail "fio report: figure not embedded"
grep -q '"scenario": "fio-raw"' "$md" || fail "fio report: no fingerprint"
