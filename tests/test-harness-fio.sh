#!/usr/bin/env bash
# swapbench run, scenario kind fio-raw: fio on each tier's raw device (zram,
# disk and nbd through vramd's ram backend, set up but never swapped on),
# shortened to 1 s jobs on 64 MiB.  Each tier gets one valid run with six
# fio jobs whose IOPS and latency percentiles make sense; zswap's run is kept
# as "not applicable"; a bad [fio] size is refused; the machine is exactly
# as before (no swap, no loop device left).  Try:
#   tests/run-tests test-harness-fio.sh
# timeout: 150

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires jq fio
requires_swapbench

# A scenario as the shipped one, shortened: 1 s a job on 64 MiB of 128 MiB
# devices.
scen=$tmp/fio-short.ini
sed -e 's/^duration_s = .*/duration_s = 1/' -e 's/^timeout_s = .*/timeout_s = 30/' \
	-e 's/^size = .*/size = 64M/' "$top/scenarios/fio-raw.ini" >"$scen"
printf '\n[tier]\nsize = 128M\n' >>"$scen"
grep -qx 'size = 64M' "$scen" || fail "scenarios/fio-raw.ini has no [fio] size to shorten"
grep -qx 'duration_s = 1' "$scen" || fail "scenarios/fio-raw.ini has no duration_s to shorten"

# A bad [fio] size: refused with FILE:LINE and the key (no root needed).
sed -e 's/^size = 64M$/size = 1000/' "$scen" >"$tmp/bad.ini"
out=$("$SWAPBENCH" run --scenario "$tmp/bad.ini" 2>&1) && fail "bad [fio] size accepted"
grep -q 'bad.ini:[0-9]*: fio.size: expected a size in whole MiB' <<<"$out" ||
	fail "bad [fio] size: unclear message: $out"

requires_root
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); fio-raw needs none"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
tiers=
for t in zram disk nbd; do
	if [ "$t" = nbd ] && [ -n "${SWAPBENCH_SANITIZED:-}" ]; then
		info "nbd: skipped in a sanitizer build (vramd's swap mode locks its memory)"
		continue
	fi
	if supported_tier "$t"; then
		tiers=${tiers:+$tiers,}$t
	else
		info "$t: not supported here: $(jq -r ".tiers.$t.why" <<<"$_doctor_json")"
	fi
done
[ -n "$tiers" ] || skip "none of zram, disk and nbd runs here"
supported_tier zswap && tiers=$tiers,zswap
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
loops_before=$(losetup -a 2>/dev/null | sort)

doc=$tmp/fio/run.json
with_timeout 120 "$SWAPBENCH" run --scenario "$scen" --tiers "$tiers" --repeats 1 --out "$tmp/fio" ||
	fail "swapbench run --scenario fio-raw exited with status $?"
same_machine "$before" "after run fio-raw"
[ -z "$(active_swaps)" ] || fail "swap left active: $(active_swaps | tr '\n' ' ')"
[ "$(losetup -a 2>/dev/null | sort)" = "$loops_before" ] || fail "a loop device was left: $(losetup -a)"
[ -s "$doc" ] || fail "no document $doc"
jq -e '.settings.scenario.kind == "fio-raw" and .settings.scenario.fio_size_bytes == 67108864' "$doc" \
	>/dev/null || fail "settings do not record the fio-raw scenario: $(jq -c .settings.scenario "$doc")"

for t in ${tiers//,/ }; do
	n=$(jq --arg t "$t" '[.runs[] | select(.tier == $t)] | length' "$doc")
	[ "$n" = 1 ] || fail "$t: expected one run, got $n"
	r=$(jq -c --arg t "$t" '.runs[] | select(.tier == $t)' "$doc")
	[ "$(jq -r .kind <<<"$r")" = fio ] || fail "$t: run kind is not fio: $(jq -c .kind <<<"$r")"
	if [ "$t" = zswap ]; then
		jq -e '.valid == false and (.invalid_reason | startswith("not applicable"))' <<<"$r" >/dev/null ||
			fail "zswap: expected 'not applicable': $(jq -c '{valid, invalid_reason}' <<<"$r")"
		info "zswap: $(jq -r .invalid_reason <<<"$r")"
		continue
	fi
	[ "$(jq -r .valid <<<"$r")" = true ] || fail "$t: run invalid: $(jq -r .invalid_reason <<<"$r")"
	jq -e '.fio.size_bytes == 67108864 and .fio.compressibility == "incompressible"
		and (.fio.ioengine == "io_uring" or .fio.ioengine == "libaio")' <<<"$r" >/dev/null ||
		fail "$t: run.fio malformed: $(jq -c .fio <<<"$r")"
	jq -e '[.fio_jobs[].job] == ["randread-4k-qd1", "randwrite-4k-qd1", "randread-4k-qd32",
		"randwrite-4k-qd32", "randread-64k-qd8", "randwrite-64k-qd8"]' <<<"$r" >/dev/null ||
		fail "$t: expected the six jobs: $(jq -c '[.fio_jobs[].job]' <<<"$r")"
	jq -e 'all(.fio_jobs[]; .iops > 0 and .bw_bytes_per_s > 0 and .error == 0
		and .runtime_ns > 0 and .lat_p50_ns > 0 and .lat_p90_ns >= .lat_p50_ns
		and .lat_p99_ns >= .lat_p90_ns and .lat_p999_ns >= .lat_p99_ns
		and .lat_max_ns >= .lat_p50_ns and .lat_mean_ns > 0)' <<<"$r" >/dev/null ||
		fail "$t: a job's figures do not make sense: $(jq -c .fio_jobs <<<"$r")"
	jq -e 'all(.fio_jobs[]; (.bs_bytes == 4096 or .bs_bytes == 65536)
		and (.rw == "randread" or .rw == "randwrite") and (.iodepth | type == "number"))' \
		<<<"$r" >/dev/null || fail "$t: job parameters malformed"
	# The precondition and six jobs, each recorded with its exit code.
	[ "$(jq '[.children[] | select(.argv[0] == "fio" and any(.argv[]; startswith("--output=")))
		| .exit_code] | length, (map(select(. != 0)) | length)' <<<"$r" | tr '\n' ' ')" = "7 0 " ] ||
		fail "$t: expected 7 fio children with exit code 0: $(jq -c '[.children[] | select(.argv[0] == "fio")]' <<<"$r")"
	for f in $(jq -r '.fio_jobs[].output_file' <<<"$r"); do
		jq -e '.jobs[0]' "$tmp/fio/$f" >/dev/null 2>&1 || fail "$t: fio output $f missing or malformed"
	done
	info "$t: $(jq -c '[.fio_jobs[] | "\(.job) \(.iops | floor) IOPS p50 \(.lat_p50_ns) p99 \(.lat_p99_ns) ns"]' <<<"$r")"
done
exit 0
