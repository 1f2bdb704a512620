#!/usr/bin/env bash
# timeout: 360
# Every tier this host supports, end to end: `swapbench tier up TIER --
# WORKLOAD` sets the tier up as the only swap, runs the workload in a
# 256 MiB memory cgroup so that pages go out to the tier and come back, and
# tears it down.  The tier's own counters (not only the kernel's global
# ones) must have risen, and the machine must be exactly as before.  zram,
# disk and nbd run memtouch (512 MiB of incompressible, verified pages);
# zswap rejects incompressible pages, so it gets a compressible perl
# workload.  nbd uses vramd's ram backend over the nbdfuse transport, over
# vramd-fuse with FUSE over io_uring off and on (on where the kernel has it),
# and over the kernel transport too where the nbd module exists.  Try:
#   tests/run-tests test-harness-tiers.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

CG_LIMIT=256M
MIN_BYTES=$((200 << 20))	# of the 256+ MiB the workload must push out
MIN_PAGES=$((MIN_BYTES / 4096))
MEMTOUCH=$BUILD/tests/memtouch

requires_root
requires jq perl
requires_swapbench
requires_test_prog memtouch
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
problems=()
problem() {
	echo "FAIL: $*" >&2
	problems+=("$*")
}

# up NAME JSON ARGS... -- CMD: swapbench tier up NAME ARGS, its document in
# JSON; checks the exit status, the workload's and the machine afterwards.
up() {
	local name=$1 json=$2 out0 rc
	shift 2
	out0=$(vmstat_get pswpout)
	with_timeout 120 "$SWAPBENCH" tier up "$name" --memcg-limit "$CG_LIMIT" --json "$json" "$@"
	rc=$?
	PSWPOUT=$(($(vmstat_get pswpout) - out0))
	[ "$rc" = 0 ] || problem "$name: swapbench exited with status $rc"
	same_machine "$before" "after tier $name"
	[ -s "$json" ] || fail "$name: no document in $json"
	[ "$(jq -r .restored "$json")" = true ] || problem "$name: document says not restored"
	[ "$(jq -r .workload.exit_code "$json")" = 0 ] ||
		problem "$name: workload exit $(jq -c .workload "$json")"
	info "$name: $(jq -c '{peak, memcg: .workload.memcg, elapsed_ns: .workload.elapsed_ns}' "$json")"
}

# delta JSON PATH: counters_after PATH minus counters_before PATH (how much
# a counter rose).
delta() {
	jq -r "((.counters_after$2) // 0) - ((.counters_before$2) // 0)" "$1"
}

# at_least WHAT VALUE MIN: a problem unless VALUE >= MIN.
at_least() {
	if [ "${2:-0}" -ge "$3" ] 2>/dev/null; then
		info "  $1: $2 (>= $3)"
	else
		problem "$1: ${2:-nothing}, expected at least $3"
	fi
}

memtouch=("$MEMTOUCH" --bytes 512M --passes 1)
tested=()

if supported_tier zram; then
	j=$tmp/zram.json
	up zram "$j" --size 1G --algorithm lzo --page-cluster 0 --swappiness 180 --thp never \
		-- "${memtouch[@]}"
	at_least "zram block_stat.write_bytes" "$(delta "$j" .block_stat.write_bytes)" $MIN_BYTES
	at_least "zram block_stat.read_bytes" "$(delta "$j" .block_stat.read_bytes)" 1
	at_least "zram mm_stat.mem_used_max_bytes" "$(jq .counters_after.mm_stat.mem_used_max_bytes "$j")" $MIN_BYTES
	at_least "zram peak swap use (bytes)" "$(jq .peak.swap_used_bytes "$j")" $MIN_BYTES
	at_least "pswpout (pages)" "$PSWPOUT" $MIN_PAGES
	[ "$(jq -r .describe.comp_algorithm "$j")" = lzo ] || problem "zram: algorithm not lzo: $(jq -c .describe "$j")"
	[ "$(jq -r '[.in_force.vm_swappiness, .in_force.vm_page_cluster, .in_force.thp_enabled] | join(" ")' "$j")" = \
	  "180 0 never" ] || problem "zram: settings not in force while up: $(jq -c .in_force "$j")"
	tested+=(zram)
else
	info "zram: not supported here: $(jq -r .tiers.zram.why <<<"$_doctor_json")"
fi

if supported_tier disk; then
	j=$tmp/disk.json
	up disk "$j" --size 1G --file "/var/tmp/swapbench-test-$$.swap" -- "${memtouch[@]}"
	at_least "disk block_stat.write_bytes ($(jq -r .counters_after.block_dev "$j"))" \
		"$(delta "$j" .block_stat.write_bytes)" $MIN_BYTES
	at_least "disk peak swap use (bytes)" "$(jq .peak.swap_used_bytes "$j")" $MIN_BYTES
	at_least "pswpout (pages)" "$PSWPOUT" $MIN_PAGES
	tested+=(disk)
else
	info "disk: not supported here: $(jq -r .tiers.disk.why <<<"$_doctor_json")"
fi

if supported_tier zswap; then
	j=$tmp/zswap.json
	# 256 MiB of text, copied on assignment: some 600 MiB in a 256 MiB cgroup.
	up zswap "$j" --size 1G --file "/var/tmp/swapbench-test-zswap-$$.swap" \
		--max-pool-percent 30 --shrinker on -- \
		perl -e '$s = "swapbench zswap " x (16 << 20); $n = ($s =~ tr/z//);
			 exit($n == (16 << 20) ? 0 : 1)'
	at_least "zswap vmstat.zswpout (pages)" "$(delta "$j" .vmstat.zswpout)" $MIN_PAGES
	at_least "zswap vmstat.zswpin (pages)" "$(delta "$j" .vmstat.zswpin)" 1
	[ "$(jq -r .describe.parameters.max_pool_percent "$j")" = 30 ] ||
		problem "zswap: max_pool_percent not 30 while up: $(jq -c .describe.parameters "$j")"
	[ "$(jq -r .in_force.zswap_shrinker_enabled "$j")" = Y ] ||
		problem "zswap: the shrinker not on while up: $(jq -c .in_force "$j")"
	[ "$(jq -r '.counters_before.debugfs | length' "$j")" -gt 0 ] ||
		info "zswap: no debugfs counters (debugfs unavailable)"
	tested+=(zswap)
else
	info "zswap: not supported here: $(jq -r .tiers.zswap.why <<<"$_doctor_json")"
fi

# check_nbd JSON: vramd served the swap traffic, the device saw it, and
# neither daemon was swapped out.
check_nbd() {
	local j=$1 name=$2
	at_least "$name vramd write bytes" "$(delta "$j" .vramd.write.bytes)" $MIN_BYTES
	at_least "$name vramd read bytes" "$(delta "$j" .vramd.read.bytes)" 1
	at_least "$name block_stat.write_bytes ($(jq -r .describe.device "$j"))" \
		"$(delta "$j" .block_stat.write_bytes)" $MIN_BYTES
	at_least "pswpout (pages)" "$PSWPOUT" $MIN_PAGES
	[ "$(jq '[.counters_after.vramd.read.errors, .counters_after.vramd.write.errors] | add' "$j")" = 0 ] ||
		problem "$name: vramd reports I/O errors: $(jq -c .counters_after.vramd "$j")"
	[ "$(jq '[.counters_after.daemons[].vm_swap_bytes] | add' "$j")" = 0 ] ||
		problem "$name: a daemon was swapped out: $(jq -c .counters_after.daemons "$j")"
}

server_swap=on
[ -z "${SWAPBENCH_SANITIZED:-}" ] || server_swap=off	# no mlockall of ASan's shadow
# offered TRANSPORT: doctor says this host offers the nbd tier's TRANSPORT.
offered() {
	supported_tier nbd &&
		[ "$(jq -r --arg t "$1" '.nbd_transports[$t].offered' <<<"$_doctor_json")" = true ]
}
# frontend_transport JSON: how vramd took the kernel's requests, by its own
# statistics ("io_uring", "dev_fuse"; empty when it does not say).
frontend_transport() {
	jq -r '.describe.frontend.transport // empty' "$1"
}

if offered nbdfuse; then
	j=$tmp/nbd-nbdfuse.json
	# "fuse" is nbdfuse's old name, still taken.
	up nbd "$j" --size 1G --backend ram --transport fuse --server-swap "$server_swap" -- "${memtouch[@]}"
	check_nbd "$j" "nbd/nbdfuse"
	[ "$(jq -r .describe.transport "$j")" = nbdfuse ] ||
		problem "nbd: transport not nbdfuse: $(jq -c .describe "$j")"
	tested+=(nbd/nbdfuse)
else
	info "nbd/nbdfuse: not offered here: $(jq -r '.nbd_transports.nbdfuse.detail // .tiers.nbd.why' <<<"$_doctor_json")"
fi
# vramd's own FUSE file, with requests read from /dev/fuse (fuse-uring off)
# and over io_uring (on: the fuse module's enable_uring turned on while up,
# and back after; same_machine checks it).
for uring in off on; do
	if ! offered vramd-fuse; then
		info "nbd/vramd-fuse: not offered here: $(jq -r '.nbd_transports["vramd-fuse"].detail // .tiers.nbd.why' <<<"$_doctor_json")"
		break
	fi
	if [ $uring = on ] && [ ! -e /sys/module/fuse/parameters/enable_uring ]; then
		info "nbd/vramd-fuse fuse-uring=on: skipped: this kernel has no FUSE over io_uring" \
			"(no /sys/module/fuse/parameters/enable_uring)"
		continue
	fi
	j=$tmp/nbd-vramd-fuse-$uring.json
	up nbd "$j" --size 1G --backend ram --transport vramd-fuse --fuse-uring $uring \
		--server-swap "$server_swap" -- "${memtouch[@]}"
	check_nbd "$j" "nbd/vramd-fuse fuse-uring=$uring"
	[ "$(jq -r '[.describe.transport, .describe.fuse_uring, .describe.direct_io] | join(" ")' "$j")" = \
	  "vramd-fuse $uring true" ] || problem "nbd/vramd-fuse: not as asked: $(jq -c .describe "$j")"
	ft=$(frontend_transport "$j")
	if [ $uring = on ]; then
		[ "$(jq -r .describe.fuse_enable_uring "$j")" = Y ] ||
			problem "nbd/vramd-fuse: enable_uring not Y while up: $(jq -c .describe "$j")"
		[ -z "$ft" ] || [ "$ft" = io_uring ] ||
			problem "nbd/vramd-fuse fuse-uring=on: vramd took requests by '$ft', not io_uring"
	else
		[ "$ft" != io_uring ] || problem "nbd/vramd-fuse fuse-uring=off: vramd used io_uring"
	fi
	info "  vramd took the requests by: ${ft:-(vramd does not say)}"
	tested+=("nbd/vramd-fuse:uring=$uring")
done
if [ -e /dev/nbd0 ] || [ -e /sys/module/nbd ]; then
	j=$tmp/nbd-kernel.json
	up nbd "$j" --size 1G --backend ram --transport kernel --server-swap "$server_swap" -- "${memtouch[@]}"
	check_nbd "$j" "nbd/kernel"
	tested+=(nbd/kernel)
else
	info "nbd/kernel: skipped: no kernel NBD client here (/dev/nbd0 absent, no nbd module)"
fi

[ ${#tested[@]} -gt 0 ] || skip "no tier can run on this host"
info "tiers tested: ${tested[*]}"
if [ ${#problems[@]} -gt 0 ]; then
	fail "${#problems[@]} check(s) failed: ${problems[*]}"
fi
exit 0
