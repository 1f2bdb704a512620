#!/usr/bin/env bash
# swapbench plot and report on a fixture run directory
# (tests/fixtures/results/run-a): every figure rendered as PNG (checked by
# its magic bytes) and SVG (xmllint, else a grep for <svg), the TSV inputs
# written, figures without data skipped with a note, and report.md with the
# table, the figures, the fingerprint and the command.  No root needed.  Try:
#   tests/run-tests test-harness-plot.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
requires gnuplot
export SWAPBENCH_PLOTS=$top/plots
F=$top/tests/fixtures/results

cp -r "$F/run-a" "$tmp/run-a"
"$SWAPBENCH" plot "$tmp/run-a" >"$tmp/out" 2>"$tmp/err" ||
	fail "plot failed: $(cat "$tmp/err")"
png_magic=$(printf '\211PNG\r\n\032\n' | od -An -tx1)
for fig in p99-by-tier psi-full swap-rates; do
	png=$tmp/run-a/plots/$fig.png svg=$tmp/run-a/plots/$fig.svg
	[ -s "$png" ] || fail "$fig.png missing or empty"
	[ "$(head -c 8 "$png" | od -An -tx1)" = "$png_magic" ] || fail "$fig.png is not a PNG"
	[ -s "$svg" ] || fail "$fig.svg missing or empty"
	if command -v xmllint >/dev/null; then
		xmllint --noout "$svg" 2>"$tmp/xml" || fail "$fig.svg is not XML: $(cat "$tmp/xml")"
	fi
	grep -q '<svg' "$svg" || fail "$fig.svg has no <svg"
	grep -q 'kernel 6.12.0-swapbench' "$svg" || fail "$fig.svg: title without the kernel"
	grep -qx "$png" "$tmp/out" || fail "$fig.png not listed"
done
grep -q 'probe latency p99 (ms)' "$tmp/run-a/plots/p99-by-tier.svg" || fail "p99: no axis unit"
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
grep -q '^| tier | valid runs | probe p50 | probe p99 | probe p99.9 | PSI full | longest stall |' "$md" ||
	fail "report: no table header"
grep -q '^| zram | 6/6 | ' "$md" || fail "report: no zram row"
grep -q '^| disk | 5/6 | ' "$md" || fail "report: disk validity"
grep -q 'invalid: disk repeat 2: faults went to the wrong tier' "$md" || fail "report: invalid reason"
grep -q '^!\[.*\](plots/p99-by-tier.png)$' "$md" || fail "report: figure not embedded"
grep -q '"kernel": "6.12.0-swapbench"' "$md" || fail "report: no fingerprint"
grep -q '^swapbench run --scenario anon-pressure' "$md" || fail "report: no command"
"$SWAPBENCH" report "$tmp/bare" >/dev/null 2>&1 || fail "report bare failed"
grep -q 'No figures\|p99-by-tier' "$tmp/bare/report.md" || fail "report bare: figures"

# Settings without "command" (as 'swapbench run' records them): the command
# is rebuilt from scenario, tiers, repeats and out.
cp -r "$F/run-b" "$tmp/run-b"
"$SWAPBENCH" report "$tmp/run-b" >/dev/null 2>&1 || fail "report run-b failed"
grep -qx "sudo swapbench run --scenario 'scenarios/overcommit.ini' --tiers zram,disk,nbd-ram --repeats 6 --out 'results/x'" \
	"$tmp/run-b/report.md" || fail "report: command not rebuilt from settings"
