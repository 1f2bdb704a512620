#!/usr/bin/env bash
# The guest side of tests/test-vm-kernel-nbd.sh: runs as root inside a QEMU
# guest booted on Debian's stock kernel, chrooted into the host's root (read
# only, over 9p) by tests/vm/init, from a copy of the payload in
# /run/swapbench (this script, tests/functions.sh, build/vramd,
# build/tests/memtouch, build/swapbench when built, vm.env).
#
#   guest-run.sh          boot checks, then the nbd and zram scenarios (each in
#                         a process of its own), swapbench doctor, a leftovers
#                         check and "RESULT done"
#   guest-run.sh nbd      vramd (ram) -> nbd-client -unix -> /dev/nbd0 -> swap
#   guest-run.sh zram     zram.ko -> /dev/zram0 -> swap
#
# Each step prints one line "RESULT NAME ok|fail|skip DETAIL" on stdout (the
# console) and on /dev/ttyS1, which the host collects and checks.  A scenario
# stops at its first failed step; its cleanups undo what it did, in reverse.

# It swaps, formats block devices and writes to ttyS1: never on a host.
if ! tr ' ' '\n' </proc/cmdline | grep -qx swapbench.vm=1; then
	echo "$0: not in the VM test's guest (no swapbench.vm=1 on the kernel command line)" >&2
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=$top/build
export top BUILD
. "$top/tests/functions.sh"

# Settings, overridden by the host's vm.env.
VM_CG_LIMIT_MIB=32		# memory cgroup limit
VM_WORK_MIB=96			# memtouch --bytes: three times the limit (small:
				# under TCG, 96M and 2 passes take 30-130 s via nbd)
VM_WORK_PASSES=2
VM_WORK_TIMEOUT=240		# seconds for memtouch
VM_EXPORT_MIB=512		# vramd export = nbd swap size
VM_ZRAM_MIB=256			# zram disksize
VM_NBD_CONNECTIONS=4		# what swapbench's nbd tier uses (harness/tier-nbd.c)
VM_NBD_TIMEOUT=30
VM_SCENARIO_TIMEOUT=280	# the host sets it from its own timeout
VM_SCENARIOS="nbd zram tier"
SWAPBENCH_SANITIZED=
# shellcheck disable=SC1091
[ -r "$top/vm.env" ] && . "$top/vm.env"

MEMTOUCH=$BUILD/tests/memtouch
SWAP_PRIO=100
# A pipe nobody writes to: "read -t N -u $SLEEP_FD" sleeps without a fork.
mkfifo "$tmp/sleep.fifo" && exec {SLEEP_FD}<>"$tmp/sleep.fifo" || exit 1

# result NAME ok|fail|skip DETAIL: one line to ttyS1 for the host, and to
# the console with the guest's uptime.
result() {
	local line="RESULT $*" up
	read -r up _ </proc/uptime
	echo "[$up] $line"
	echo "$line" >/dev/ttyS1 2>/dev/null
	return 0
}
ok() {
	result "$1" ok "${@:2}"
}
# bad STEP DETAIL: report the step failed and end the scenario (its
# cleanups run from the EXIT trap).
bad() {
	result "$1" fail "${@:2}"
	exit 1
}

mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'
}

# procs_named NAME...: "pid name" of every process with one of these names.
procs_named() {
	local d comm n
	for d in /proc/[0-9]*; do
		read -r comm 2>/dev/null <"$d/comm" || continue
		for n in "$@"; do
			[ "$comm" = "$n" ] && echo "${d#/proc/} $comm"
		done
	done
	return 0
}

# --- the memory-cgroup overcommit both scenarios run ---------------------------

WORK_PID=''
kill_workload() {
	[ -n "$WORK_PID" ] || return 0
	kill -KILL "$WORK_PID" 2>/dev/null
	wait "$WORK_PID" 2>/dev/null
	WORK_PID=
}

# overcommit STEP DEV: memtouch writes and verifies VM_WORK_MIB, in
# VM_WORK_PASSES passes, in a cgroup of VM_CG_LIMIT_MIB, so that most of it
# goes out to DEV (the only swap) and back.  Reports STEP; sets PSWPOUT,
# PSWPIN and, for zram, ZRAM_PEAK (the mm_stat line with the most data
# stored, sampled while the pages are out: they are freed when memtouch ends).
overcommit() {
	local step=$1 dev=$2 pout0 pin0 start used=0 peak=0 rc oom min_pages line next name
	local zstat=/sys/block/${dev#/dev/}/mm_stat
	ZRAM_PEAK=0
	memcg_create "${VM_CG_LIMIT_MIB}M"
	pout0=$(vmstat_get pswpout) && pin0=$(vmstat_get pswpin) ||
		bad "$step" "no pswpout/pswpin in /proc/vmstat"
	start=$SECONDS
	(memcg_enter && exec "$MEMTOUCH" --bytes "${VM_WORK_MIB}M" --passes "$VM_WORK_PASSES") \
		>"$tmp/memtouch.json" 2>"$tmp/memtouch.err" &
	WORK_PID=$!
	cleanup_add kill_workload
	next=$((start + 10))
	# Bash builtins only: under TCG each fork and exec costs tens of
	# milliseconds that the workload would lose.
	while kill -0 "$WORK_PID" 2>/dev/null; do
		used=0
		while read -r name _ _ line _; do
			[ "$name" = "$dev" ] && used=$line
		done </proc/swaps
		((used > peak)) && peak=$used
		if [ -r "$zstat" ] && read -r line <"$zstat" && ((${line%% *} > ${ZRAM_PEAK%% *})); then
			ZRAM_PEAK=$line
		fi
		if ((SECONDS >= next)); then
			info "$((SECONDS - start))s: $dev use $used KiB, cgroup $(($(<"$MEMCG/memory.current") >> 20)) MiB," \
				"pswpout +$(($(vmstat_get pswpout) - pout0)) pswpin +$(($(vmstat_get pswpin) - pin0))"
			next=$((SECONDS + 10))
		fi
		if ((SECONDS - start > VM_WORK_TIMEOUT)); then
			kill_workload
			bad "$step" "memtouch did not finish within ${VM_WORK_TIMEOUT}s (peak $dev use $peak KiB)"
		fi
		read -r -t 0.5 -u "$SLEEP_FD"
	done
	wait "$WORK_PID"
	rc=$?
	WORK_PID=
	PSWPOUT=$(($(vmstat_get pswpout) - pout0))
	PSWPIN=$(($(vmstat_get pswpin) - pin0))
	oom=$(memcg_oom_kills)
	memcg_remove "$MEMCG" || bad "$step" "cannot remove cgroup $MEMCG"
	info "memtouch exit $rc in $((SECONDS - start))s: $(cat "$tmp/memtouch.json")"
	if [ "$rc" -ne 0 ]; then
		cat "$tmp/memtouch.err" >&2
		bad "$step" "memtouch exited with status $rc (cgroup OOM kills: $oom)"
	fi
	grep -q '"mismatches":0[,}]' "$tmp/memtouch.json" ||
		bad "$step" "memtouch read back wrong data: $(cat "$tmp/memtouch.json")"
	min_pages=$(((VM_WORK_MIB - VM_CG_LIMIT_MIB) * 256))
	[ "$PSWPOUT" -ge "$min_pages" ] ||
		bad "$step" "pswpout rose by $PSWPOUT pages, expected at least $min_pages"
	[ "$PSWPIN" -gt 0 ] || bad "$step" "pswpin did not rise: nothing came back from $dev"
	[ "$peak" -gt 0 ] || bad "$step" "/proc/swaps never showed $dev in use"
	ok "$step" "memtouch --bytes ${VM_WORK_MIB}M --passes $VM_WORK_PASSES in a ${VM_CG_LIMIT_MIB}M cgroup:" \
		"0 mismatches, $((SECONDS - start))s, pswpout +$PSWPOUT pswpin +$PSWPIN pages," \
		"peak $dev use $peak KiB, OOM kills $oom"
}

# swap_on STEP DEV: mkswap and swapon DEV, registering the swapoff first.
swap_on() {
	local step=$1 dev=$2
	timeout 60 mkswap "$dev" >"$tmp/mkswap.log" 2>&1 || {
		cat "$tmp/mkswap.log" >&2
		bad "$step" "mkswap $dev failed"
	}
	cleanup_add "swap_off $dev"
	timeout 60 swapon --priority "$SWAP_PRIO" "$dev" || bad "$step" "swapon $dev failed"
	[ -n "$(swap_used_kib "$dev")" ] || bad "$step" "$dev not in /proc/swaps after swapon"
}
swap_off() {
	[ -n "$(swap_used_kib "$1")" ] || return 0
	timeout 120 swapoff "$1"
}

# --- nbd: the kernel transport of swapbench's nbd tier -------------------------

NBD=/dev/nbd0
NBD_SYS=/sys/block/nbd0
SOCK='' STATS='' SERVER_PID='' SERVER_RC=''

nbd_connected() {
	[ -s "$NBD_SYS/pid" ] || [ "$(cat "$NBD_SYS/size" 2>/dev/null || echo 0)" != 0 ]
}

nbd_detach() {
	local i
	nbd_connected || return 0
	if [ -n "$(swap_used_kib "$NBD")" ]; then
		loud "NOT detaching $NBD: it is still active swap"
		return 1
	fi
	timeout 30 nbd-client -d "$NBD" || return 1
	for ((i = 0; i < 100; i++)); do
		nbd_connected || return 0
		sleep 0.1
	done
	loud "$NBD still connected 10 s after nbd-client -d"
	return 1
}

# stop_server: SIGTERM, up to 10 s to exit; never while nbd0 is connected
# (in swap mode vramd would refuse anyway); SIGKILL as a last resort.
stop_server() {
	local i pid=$SERVER_PID
	[ -n "$pid" ] || return 0
	if nbd_connected; then
		loud "NOT stopping vramd (pid $pid): $NBD is still connected"
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			SERVER_RC=$? SERVER_PID=
			return 0
		fi
		sleep 0.1
	done
	loud "vramd (pid $pid) did not exit within 10 s of SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	SERVER_RC=$? SERVER_PID=
	return 1
}

# server_stats: fresh statistics from vramd (SIGUSR1, then wait for the
# file to be rewritten); prints jq's answer to the filter $1.
server_stats() {
	local old i
	old=$(stat -c %i.%y "$STATS" 2>/dev/null)
	kill -USR1 "$SERVER_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -s "$STATS" ] && [ "$(stat -c %i.%y "$STATS" 2>/dev/null)" != "$old" ] && break
		sleep 0.05
	done
	jq -r "$1" "$STATS" 2>/dev/null
}

scenario_nbd() {
	local mode i size lbs iot conns pid rio rsec wio wsec stats
	local -a ncmd
	requires nbd-client mkswap swapon swapoff jq timeout
	requires_vramd
	requires_test_prog memtouch
	[ -b "$NBD" ] || bad nbd-attach "no $NBD (nbd.ko not loaded?)"
	[ -z "$(active_swaps)" ] || bad nbd-attach "swap already active: $(active_swaps | tr '\n' ' ')"

	# The server, as swapbench's nbd tier starts it: swap mode (mlockall),
	# room for the client's connections.
	mode=--swap
	[ -n "$SWAPBENCH_SANITIZED" ] && mode=--no-swap
	SOCK=$tmp/vramd.sock STATS=$tmp/vramd-stats.json
	# In a session of its own, out of reach of the scenario timeout's
	# signal to its process group: it must outlive the swapoff.
	setsid "$VRAMD" --foreground "$mode" --backend ram --size "${VM_EXPORT_MIB}M" \
		--socket "$SOCK" --max-connections $((VM_NBD_CONNECTIONS + 4)) \
		--stats-file "$STATS" --stats-interval-ms 0 >>"$tmp/vramd.log" 2>&1 &
	SERVER_PID=$!
	cleanup_add stop_server
	for ((i = 0; i < 400; i++)); do
		[ -S "$SOCK" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -S "$SOCK" ]; then
		cat "$tmp/vramd.log" >&2
		bad nbd-attach "vramd $mode did not listen on $SOCK"
	fi

	# The client, with the options harness/nbdclient.c gives it.
	ncmd=(nbd-client -unix "$SOCK" "$NBD" -b 4096 -timeout "$VM_NBD_TIMEOUT"
		-connections "$VM_NBD_CONNECTIONS" -swap)
	info "${ncmd[*]}"
	cleanup_add nbd_detach
	timeout 60 "${ncmd[@]}" || bad nbd-attach "${ncmd[*]} failed"
	size=$(($(cat "$NBD_SYS/size") * 512))
	lbs=$(cat "$NBD_SYS/queue/logical_block_size")
	iot=$(cat "$NBD_SYS/queue/io_timeout" 2>/dev/null || echo '?')
	pid=$(cat "$NBD_SYS/pid" 2>/dev/null || echo '-')
	conns=$(server_stats .connections_current)
	[ "$size" = $((VM_EXPORT_MIB << 20)) ] ||
		bad nbd-attach "$NBD has $size bytes, expected ${VM_EXPORT_MIB} MiB"
	[ "$lbs" = 4096 ] || bad nbd-attach "$NBD logical block size $lbs, expected 4096"
	[ "$conns" = "$VM_NBD_CONNECTIONS" ] ||
		bad nbd-attach "vramd has ${conns:-?} connections, expected $VM_NBD_CONNECTIONS"
	[ "$iot" = '?' ] || [ "$iot" = $((VM_NBD_TIMEOUT * 1000)) ] ||
		bad nbd-attach "$NBD io_timeout $iot ms, expected $((VM_NBD_TIMEOUT * 1000))"
	timeout 10 nbd-client -c "$NBD" >/dev/null || bad nbd-attach "nbd-client -c $NBD says not connected"
	ok nbd-attach "$NBD ${VM_EXPORT_MIB} MiB, block size $lbs, io_timeout $iot ms," \
		"$conns connections at vramd $mode, nbd0/pid $pid"

	swap_on nbd-swapon "$NBD"
	ok nbd-swapon "$(awk -v d="$NBD" '$1 == d { print $1, $2, $3 " KiB", "priority " $5 }' /proc/swaps)"

	read -r rio _ rsec _ wio _ wsec _ <"$NBD_SYS/stat"
	info "$NBD_SYS/stat before: $(cat "$NBD_SYS/stat")"
	overcommit nbd-overcommit "$NBD"

	# The traffic, as the block layer and the server saw it.
	info "$NBD_SYS/stat after: $(cat "$NBD_SYS/stat")"
	read -r rio2 _ rsec2 _ wio2 _ wsec2 _ <"$NBD_SYS/stat"
	rio=$((rio2 - rio)) rsec=$((rsec2 - rsec)) wio=$((wio2 - wio)) wsec=$((wsec2 - wsec))
	stats=$(server_stats '[.commands.write.bytes, .commands.write.errors, .commands.read.bytes,
		.commands.read.errors, .swap_mode.on] | map(tostring) | join(" ")')
	read -r wbytes werrs rbytes rerrs smode <<<"$stats"
	[ "$wsec" -ge $((PSWPOUT * 8)) ] ||
		bad nbd-stat "$NBD wrote $wsec sectors, fewer than pswpout's $PSWPOUT pages"
	[ "$rsec" -gt 0 ] && [ "$rio" -gt 0 ] || bad nbd-stat "$NBD stat shows no reads"
	[ "${werrs:-x}" = 0 ] && [ "${rerrs:-x}" = 0 ] ||
		bad nbd-stat "vramd reports errors: write ${werrs:-?}, read ${rerrs:-?}"
	[ "${wbytes:-0}" -ge $((wsec * 512)) ] ||
		bad nbd-stat "vramd received ${wbytes:-?} bytes of writes, $NBD sent $((wsec * 512))"
	ok nbd-stat "$NBD_SYS/stat: reads $rio I/Os $rsec sectors ($(mib $((rsec * 512))) MiB)," \
		"writes $wio I/Os $wsec sectors ($(mib $((wsec * 512))) MiB);" \
		"vramd: read $rbytes bytes, wrote $wbytes bytes, 0 errors, swap_mode $smode"

	# Teardown in order: swapoff, detach the client, stop the server.
	swap_off "$NBD" || bad nbd-teardown "swapoff $NBD failed"
	nbd_detach || bad nbd-teardown "nbd-client -d $NBD failed"
	stop_server || bad nbd-teardown "vramd did not exit within 10 s of SIGTERM after its clients left"
	[ "$SERVER_RC" = 0 ] || {
		tail -n 20 "$tmp/vramd.log" >&2
		bad nbd-teardown "vramd exited with status $SERVER_RC"
	}
	[ -z "$(active_swaps)" ] || bad nbd-teardown "swap still active: $(active_swaps | tr '\n' ' ')"
	nbd_connected && bad nbd-teardown "$NBD still connected"
	[ -z "$(procs_named vramd nbd-client memtouch)" ] ||
		bad nbd-teardown "processes left: $(procs_named vramd nbd-client memtouch | tr '\n' ' ')"
	[ -e "$MEMCG" ] && bad nbd-teardown "cgroup left: $MEMCG"
	ok nbd-teardown "swapoff, nbd-client -d, vramd exit 0; no swap, $NBD size 0, no processes left"
}

# --- zram as a module ------------------------------------------------------------

ZRAM=/dev/zram0
ZRAM_SYS=/sys/block/zram0

zram_reset() {
	[ -e "$ZRAM_SYS/reset" ] || return 0
	swap_off "$ZRAM" || return 1
	echo 1 >"$ZRAM_SYS/reset"
}

# mm_stat_fields LINE: the first fields of zram's mm_stat, named.
mm_stat_fields() {
	local o c u _l mx s _p h
	read -r o c u _l mx s _p h _ <<<"$1"
	echo "orig_data_size $o ($(mib "$o") MiB), compr_data_size $c, mem_used_total $u," \
		"mem_used_max $mx, same_pages $s, huge_pages ${h:-?}"
}

scenario_zram() {
	local alg state final
	requires mkswap swapon swapoff timeout
	requires_test_prog memtouch
	[ -b "$ZRAM" ] && [ -e "$ZRAM_SYS/disksize" ] || bad zram-setup "no $ZRAM (zram.ko not loaded?)"
	state=$(cat /sys/module/zram/initstate 2>/dev/null)
	[ "$state" = live ] || bad zram-setup "zram is not a loaded module (initstate '${state:-absent}')"
	[ "$(cat "$ZRAM_SYS/disksize")" = 0 ] || bad zram-setup "$ZRAM already has a disksize"
	[ -z "$(active_swaps)" ] || bad zram-setup "swap already active: $(active_swaps | tr '\n' ' ')"
	alg=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$ZRAM_SYS/comp_algorithm")
	cleanup_add zram_reset
	echo "${VM_ZRAM_MIB}M" >"$ZRAM_SYS/disksize" || bad zram-setup "cannot set $ZRAM_SYS/disksize"
	swap_on zram-setup "$ZRAM"
	ok zram-setup "zram.ko $state, $ZRAM ${VM_ZRAM_MIB} MiB, algorithm ${alg:-?}," \
		"$(awk -v d="$ZRAM" '$1 == d { print "swap " $3 " KiB priority " $5 }' /proc/swaps)"

	overcommit zram-overcommit "$ZRAM"
	read -r final <"$ZRAM_SYS/mm_stat"
	info "$ZRAM_SYS/mm_stat at peak: $ZRAM_PEAK"
	info "$ZRAM_SYS/mm_stat after: $final"
	[ "${ZRAM_PEAK%% *}" -gt 0 ] ||
		bad zram-mm_stat "mm_stat never showed data stored (last: $final)"
	ok zram-mm_stat "peak: $(mm_stat_fields "$ZRAM_PEAK")"

	swap_off "$ZRAM" || bad zram-teardown "swapoff $ZRAM failed"
	echo 1 >"$ZRAM_SYS/reset" || bad zram-teardown "cannot reset $ZRAM"
	[ "$(cat "$ZRAM_SYS/disksize")" = 0 ] || bad zram-teardown "$ZRAM disksize not 0 after reset"
	[ -z "$(active_swaps)" ] || bad zram-teardown "swap still active: $(active_swaps | tr '\n' ' ')"
	[ -e "$MEMCG" ] && bad zram-teardown "cgroup left: $MEMCG"
	ok zram-teardown "swapoff, reset; disksize 0, no swap"
}

# --- everything ------------------------------------------------------------------

boot_checks() {
	local why=() zs
	[ -b "$NBD" ] || why+=("no $NBD")
	[ -b "$ZRAM" ] || why+=("no $ZRAM")
	tr ' ' '\n' </sys/fs/cgroup/cgroup.controllers 2>/dev/null | grep -qx memory ||
		why+=("no cgroup2 memory controller")
	[ -r /proc/pressure/memory ] || why+=("no PSI")
	zs=$(cat /sys/module/zswap/parameters/enabled 2>/dev/null || echo absent)
	[ "$zs" != Y ] || why+=("zswap enabled (pages would not reach the devices)")
	if [ ${#why[@]} -gt 0 ]; then
		result boot fail "${why[*]}"
	else
		ok boot "kernel $(uname -r), $(nproc) CPUs, $(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) KiB;" \
			"$NBD, $ZRAM, cgroup2 memory, PSI; zswap enabled=$zs"
	fi
}

# The nbd tier of swapbench itself with the kernel transport: swapbench
# starts vramd, attaches /dev/nbd0 with nbd-client, swaps on it, runs the
# overcommit in its own memory cgroup, and undoes it all.
scenario_tier() {
	local json=$tmp/tier-nbd.json rc w wl
	if [ ! -x "$BUILD/swapbench" ]; then
		result tier-nbd-kernel skip "build/swapbench absent"
		return 0
	fi
	SWAPBENCH_STATE_DIR=$tmp/sbstate timeout --kill-after=30 "$VM_WORK_TIMEOUT" \
		"$BUILD/swapbench" tier up nbd --backend ram --transport kernel \
		--size "${VM_EXPORT_MIB}M" --vramd "$BUILD/vramd" \
		--server-swap "$([ -n "$SWAPBENCH_SANITIZED" ] && echo off || echo on)" \
		--memcg-limit "${VM_CG_LIMIT_MIB}M" --json "$json" -- \
		"$MEMTOUCH" --bytes "${VM_WORK_MIB}M" --passes 1
	rc=$?
	w=$(jq -r '.counters_after.block_stat.write_bytes // 0' "$json" 2>/dev/null)
	wl=$(jq -r '.workload.exit_code // "none"' "$json" 2>/dev/null)
	if [ $rc = 0 ] && [ "$wl" = 0 ] && [ "${w:-0}" -gt 0 ] && [ -z "$(active_swaps)" ] &&
		! nbd_connected; then
		ok tier-nbd-kernel "swapbench tier up nbd --transport kernel: workload exit 0, nbd0 wrote $(mib "$w") MiB, all undone"
	else
		result tier-nbd-kernel fail "swapbench exit $rc, workload exit $wl, nbd0 write bytes ${w:-?}, swaps: $(active_swaps | tr '\n' ' ')"
		return 1
	fi
}

doctor() {
	local rc lines
	if [ ! -x "$BUILD/swapbench" ]; then
		echo "swapbench doctor: build/swapbench is absent (not built on the host)"
		result doctor skip "build/swapbench absent"
		return
	fi
	echo "----- swapbench doctor -----"
	timeout --kill-after=5 120 "$BUILD/swapbench" doctor >"$tmp/doctor.out" 2>&1
	rc=$?
	cat "$tmp/doctor.out"
	echo "----- end of swapbench doctor (exit $rc) -----"
	lines=$(wc -l <"$tmp/doctor.out")
	if [ $rc -ge 124 ]; then
		result doctor fail "exit $rc (timeout or signal), $lines lines"
	elif [ "$lines" = 0 ]; then
		result doctor fail "exit $rc, no output"
	else
		ok doctor "exit $rc, $lines lines"
	fi
}

# leftovers MOUNTS_BEFORE: nothing the scenarios made is left.
leftovers() {
	local why=() p
	[ -z "$(active_swaps)" ] || why+=("swap: $(active_swaps | tr '\n' ' ')")
	nbd_connected && why+=("$NBD connected")
	[ "$(cat "$ZRAM_SYS/disksize" 2>/dev/null || echo 0)" = 0 ] || why+=("$ZRAM has a disksize")
	p=$(procs_named vramd nbd-client memtouch | tr '\n' ' ')
	[ -z "$p" ] || why+=("processes: $p")
	p=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d -name 'swapbench*' | tr '\n' ' ')
	[ -z "$p" ] || why+=("cgroups: $p")
	[ "$(cat /proc/mounts)" = "$1" ] || why+=("mounts changed: $(diff <(echo "$1") /proc/mounts | tr '\n' ' ')")
	if [ ${#why[@]} -gt 0 ]; then
		result clean fail "${why[*]}"
	else
		ok clean "no swap, $NBD disconnected, $ZRAM reset, no vramd/nbd-client/memtouch, cgroups and mounts as at start"
	fi
}

run_all() {
	local s rc mounts
	mounts=$(cat /proc/mounts)
	boot_checks
	for s in $VM_SCENARIOS; do
		info "=== scenario $s ==="
		# The scenario's cleanups (swapoff first) get 60 s after a timeout.
		timeout --kill-after=60 "$VM_SCENARIO_TIMEOUT" bash "${BASH_SOURCE[0]}" "$s"
		rc=$?
		case $rc in
		0) ok "$s" "scenario passed" ;;
		124 | 137) result "$s" fail "timed out after ${VM_SCENARIO_TIMEOUT}s" ;;
		*) result "$s" fail "exit $rc" ;;
		esac
		if [ $rc != 0 ]; then
			echo "--- the guest kernel's last messages:"
			dmesg | tail -n 60
			echo "---"
		fi
	done
	doctor
	leftovers "$mounts"
	result "done" ok "guest finished"
}

case ${1:-all} in
all) run_all ;;
nbd) keep_stderr; scenario_nbd ;;
zram) keep_stderr; scenario_zram ;;
tier) keep_stderr; scenario_tier ;;
*) echo "usage: $0 [all|nbd|zram|tier]" >&2; exit 2 ;;
esac
