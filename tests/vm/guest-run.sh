#!/usr/bin/env bash
# The guest side of tests/test-vm-kernel-nbd.sh: runs as root inside a QEMU
# guest booted on Debian's stock kernel, chrooted into the host's root (read
# only, over 9p) by tests/vm/init, from a copy of the payload in
# /run/swapbench (this script, tests/functions.sh, build/vramd,
# build/tests/memtouch, build/swapbench and scenarios/*.ini when built, vm.env).
#
#   guest-run.sh          boot checks, then the nbd, zram, tier and run scenarios (each in
#                         a process of its own), swapbench doctor, a leftovers
#                         check and "RESULT done"
#   guest-run.sh nbd      vramd (ram) -> nbd-client -unix -> /dev/nbd0 -> swap
#   guest-run.sh zram     zram.ko -> /dev/zram0 -> swap
#   guest-run.sh tier     swapbench tier up nbd --transport kernel
#   guest-run.sh run      swapbench run on cgroup v2: zram valid, OOM-killed and
#                         under memcg.mode=high; zswap valid and OOM-killed
#   guest-run.sh ublk     vramd --ublk -> /dev/ublkb0 -> swap, fio, kill -9
#                         (tests/test-vm-ublk.sh, on the backports kernel)
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
VM_SCENARIOS="nbd zram tier run"
VM_FIO_MIB=64			# ublk: fio verify size on the raw device
VM_DOCTOR=yes			# no: skip swapbench doctor
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

# kill_workload [SIGNAL]: the background workload gets SIGNAL (KILL: a
# memtouch; TERM: a swapbench under timeout, which passes it on and
# swapbench answers by undoing what it set up), and is waited for.
WORK_PID=''
kill_workload() {
	[ -n "$WORK_PID" ] || return 0
	kill -"${1:-KILL}" "$WORK_PID" 2>/dev/null
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

# traffic STEP DEV BEFORE: after an overcommit, DEV's block-layer traffic
# since its stat line was BEFORE, against pswpout and vramd's statistics
# (which must show as many bytes written and no errors).  Reports STEP.
traffic() {
	local step=$1 dev=$2 sys=/sys/block/${2#/dev/} rio rsec wio wsec rio2 rsec2 wio2 wsec2
	local wbytes werrs rbytes rerrs smode
	read -r rio _ rsec _ wio _ wsec _ <<<"$3"
	info "$sys/stat after: $(cat "$sys/stat")"
	read -r rio2 _ rsec2 _ wio2 _ wsec2 _ <"$sys/stat"
	rio=$((rio2 - rio)) rsec=$((rsec2 - rsec)) wio=$((wio2 - wio)) wsec=$((wsec2 - wsec))
	read -r wbytes werrs rbytes rerrs smode <<<"$(server_stats '[.commands.write.bytes,
		.commands.write.errors, .commands.read.bytes, .commands.read.errors,
		.swap_mode.on] | map(tostring) | join(" ")')"
	[ "$wsec" -ge $((PSWPOUT * 8)) ] ||
		bad "$step" "$dev wrote $wsec sectors, fewer than pswpout's $PSWPOUT pages"
	[ "$rsec" -gt 0 ] && [ "$rio" -gt 0 ] || bad "$step" "$dev stat shows no reads"
	[ "${werrs:-x}" = 0 ] && [ "${rerrs:-x}" = 0 ] ||
		bad "$step" "vramd reports errors: write ${werrs:-?}, read ${rerrs:-?}"
	[ "${wbytes:-0}" -ge $((wsec * 512)) ] ||
		bad "$step" "vramd received ${wbytes:-?} bytes of writes, $dev sent $((wsec * 512))"
	ok "$step" "$sys/stat: reads $rio I/Os $rsec sectors ($(mib $((rsec * 512))) MiB)," \
		"writes $wio I/Os $wsec sectors ($(mib $((wsec * 512))) MiB);" \
		"vramd: read $rbytes bytes, wrote $wbytes bytes, 0 errors, swap_mode $smode"
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
	local mode i size lbs iot conns pid before
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

	info "$NBD_SYS/stat before: $(cat "$NBD_SYS/stat")"
	before=$(<"$NBD_SYS/stat")
	overcommit nbd-overcommit "$NBD"
	traffic nbd-stat "$NBD" "$before"

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

# --- ublk: vramd is the block device itself ---------------------------------------

UBLK_DEV='' UBLK_ID='' UBLK_SYS='' DD_PID=''

# ublk_server MODE: vramd MODE --ublk in a session of its own (it must
# outlive the scenario timeout's signal, and the swapoff); waits for the
# device path it prints.  Sets SERVER_PID, UBLK_DEV, UBLK_ID, UBLK_SYS.
ublk_server() {
	local mode=$1 i line=''
	STATS=$tmp/vramd-stats.json
	rm -f "$STATS"
	: >"$tmp/vramd.out"
	setsid "$VRAMD" --foreground "$mode" --ublk --backend ram --size "${VM_EXPORT_MIB}M" \
		--stats-file "$STATS" --stats-interval-ms 0 >"$tmp/vramd.out" 2>>"$tmp/vramd.log" &
	SERVER_PID=$!
	# START_DEV reads the partition table through vramd: slow under TCG.
	for ((i = 0; i < 600; i++)); do
		read -r line <"$tmp/vramd.out"
		[[ $line == /dev/ublkb* ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		read -r -t 0.05 -u "$SLEEP_FD"
	done
	if [[ $line != /dev/ublkb* ]]; then
		cat "$tmp/vramd.log" >&2
		bad ublk-start "vramd $mode --ublk printed no device within 30 s"
	fi
	UBLK_DEV=$line UBLK_ID=${line#/dev/ublkb} UBLK_SYS=/sys/block/${line#/dev/}
	info "vramd $mode --ublk (pid $SERVER_PID) serves $UBLK_DEV"
}

# ublk_gone ID: neither the block nor the char device of ublk ID is left.
ublk_gone() {
	[ ! -e "/dev/ublkb$1" ] && [ ! -e "/dev/ublkc$1" ] && [ ! -e "/sys/class/ublk-char/ublkc$1" ]
}

# wait_exit SECONDS: waits for vramd to end by itself; sets SERVER_RC.
wait_exit() {
	local i pid=$SERVER_PID
	for ((i = 0; i < $1 * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			SERVER_RC=$? SERVER_PID=
			return 0
		fi
		read -r -t 0.1 -u "$SLEEP_FD"
	done
	return 1
}

# ublk_cleanup: after a failed step: vramd stopped (never while the device
# is swap: the swapoff cleanup runs first), a left-over device deleted.
ublk_cleanup() {
	local i
	if [ -n "$UBLK_DEV" ] && [ -n "$(swap_used_kib "$UBLK_DEV")" ]; then
		loud "NOT stopping vramd (pid $SERVER_PID): $UBLK_DEV is still active swap"
		return 1
	fi
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		wait_exit 15 || { kill -KILL "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID"; SERVER_PID=; }
	fi
	for i in /dev/ublkc*; do
		[ -e "$i" ] && timeout 40 "$VRAMD" --ublk-del "${i#/dev/ublkc}"
	done
	return 0
}

# server_json FILTER: jq over fresh statistics, space-separated.
server_json() {
	server_stats "[$1] | map(tostring) | join(\" \")"
}

scenario_ublk() {
	local mode size lbs wc fua dmax fe q before t0 out rc node i wbytes werrs rbytes rerrs fl fle tc te zc ze
	requires mkswap swapon swapoff jq timeout fio blkdiscard dd cmp
	requires_vramd
	requires_test_prog memtouch
	[ -c /dev/ublk-control ] || bad ublk-start "no /dev/ublk-control (ublk_drv.ko not loaded?)"
	[ -z "$(active_swaps)" ] || bad ublk-start "swap already active: $(active_swaps | tr '\n' ' ')"
	ls /dev/ublkb* >/dev/null 2>&1 && bad ublk-start "ublk devices exist already: $(ls /dev/ublk[bc]*)"
	cleanup_add ublk_cleanup

	# --- swap through /dev/ublkbN, in swap mode -----------------------------
	mode=--swap
	[ -n "$SWAPBENCH_SANITIZED" ] && mode=--no-swap
	ublk_server "$mode"
	size=$(($(cat "$UBLK_SYS/size") * 512))
	lbs=$(cat "$UBLK_SYS/queue/logical_block_size")
	wc=$(cat "$UBLK_SYS/queue/write_cache")
	fua=$(cat "$UBLK_SYS/queue/fua" 2>/dev/null || echo '?')
	dmax=$(cat "$UBLK_SYS/queue/discard_max_bytes")
	read -r fe q <<<"$(server_json '.frontend, .queues')"
	[ "$size" = $((VM_EXPORT_MIB << 20)) ] ||
		bad ublk-start "$UBLK_DEV has $size bytes, expected ${VM_EXPORT_MIB} MiB"
	[ "$lbs" = 4096 ] || bad ublk-start "$UBLK_DEV logical block size $lbs, expected 4096"
	[ "$wc" = "write back" ] || bad ublk-start "$UBLK_DEV write_cache '$wc', expected 'write back' (flushes)"
	[ "$fua" != 0 ] || bad ublk-start "$UBLK_DEV has no FUA"
	[ "$dmax" -gt 0 ] || bad ublk-start "$UBLK_DEV takes no discards"
	[ "$fe" = ublk ] || bad ublk-start "vramd statistics say frontend '${fe:-?}', expected ublk"
	ok ublk-start "$UBLK_DEV ${VM_EXPORT_MIB} MiB, block size $lbs, $wc, fua $fua," \
		"discard_max_bytes $dmax, $q queues, vramd $mode; features $(jq -c .features "$STATS")"

	swap_on ublk-swapon "$UBLK_DEV"
	ok ublk-swapon "$(awk -v d="$UBLK_DEV" '$1 == d { print $1, $2, $3 " KiB", "priority " $5 }' /proc/swaps)"

	before=$(<"$UBLK_SYS/stat")
	overcommit ublk-overcommit "$UBLK_DEV"
	traffic ublk-stat "$UBLK_DEV" "$before"

	# SIGTERM while the device is swap: refused, vramd goes on serving.
	if [ "$mode" = --swap ]; then
		kill -TERM "$SERVER_PID"
		read -r -t 2 -u "$SLEEP_FD"
		kill -0 "$SERVER_PID" 2>/dev/null || bad ublk-refuse "vramd exited on SIGTERM while $UBLK_DEV was swap"
		grep -q 'refusing to exit' "$tmp/vramd.log" || bad ublk-refuse "vramd did not log its refusal"
		timeout 20 dd if="$UBLK_DEV" of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null ||
			bad ublk-refuse "$UBLK_DEV does not serve reads after the refused SIGTERM"
		ok ublk-refuse "SIGTERM refused while $UBLK_DEV is swap: vramd still serving"
	else
		result ublk-refuse skip "vramd $mode: no swap mode to refuse with"
	fi

	# Teardown: swapoff; vramd (SIGTERM pending) exits by itself.
	swap_off "$UBLK_DEV" || bad ublk-teardown "swapoff $UBLK_DEV failed"
	[ "$mode" = --swap ] || kill -TERM "$SERVER_PID"
	wait_exit 20 || bad ublk-teardown "vramd did not exit within 20 s of the swapoff"
	[ "$SERVER_RC" = 0 ] || {
		tail -n 20 "$tmp/vramd.log" >&2
		bad ublk-teardown "vramd exited with status $SERVER_RC"
	}
	ublk_gone "$UBLK_ID" || bad ublk-teardown "ublk device $UBLK_ID left after vramd exited"
	[ -z "$(active_swaps)" ] || bad ublk-teardown "swap still active: $(active_swaps | tr '\n' ' ')"
	[ -e "$MEMCG" ] && bad ublk-teardown "cgroup left: $MEMCG"
	ok ublk-teardown "swapoff; vramd exit 0 by itself; /dev/ublkb$UBLK_ID and /dev/ublkc$UBLK_ID gone"

	# --- the raw device: fio verify, flushes, discard, write zeroes ----------
	ublk_server --no-swap
	t0=$SECONDS
	timeout 200 fio --name=v --filename="$UBLK_DEV" --direct=1 --ioengine=io_uring --iodepth=16 \
		--rw=randwrite --bs=4k --size="${VM_FIO_MIB}M" --verify=crc32c --verify_fatal=1 \
		--fsync=512 --output-format=terse >"$tmp/fio.out" 2>&1
	rc=$?
	[ $rc = 0 ] || { cat "$tmp/fio.out" >&2; bad ublk-fio "fio verify on $UBLK_DEV exited with status $rc"; }
	read -r wbytes werrs rbytes rerrs fl fle <<<"$(server_json '.commands.write.bytes,
		.commands.write.errors, .commands.read.bytes, .commands.read.errors,
		.commands.flush.count, .commands.flush.errors')"
	[ "${werrs:-x}" = 0 ] && [ "${rerrs:-x}" = 0 ] && [ "${fle:-x}" = 0 ] ||
		bad ublk-fio "vramd reports errors: write ${werrs:-?}, read ${rerrs:-?}, flush ${fle:-?}"
	[ "${wbytes:-0}" -ge $((VM_FIO_MIB << 20)) ] && [ "${rbytes:-0}" -ge $((VM_FIO_MIB << 20)) ] ||
		bad ublk-fio "vramd wrote ${wbytes:-?} and read ${rbytes:-?} bytes, expected ${VM_FIO_MIB} MiB each"
	[ "${fl:-0}" -gt 0 ] || bad ublk-fio "no flush reached vramd (fio --fsync)"
	ok ublk-fio "fio randwrite 4k ${VM_FIO_MIB}M --verify=crc32c --fsync=512 on $UBLK_DEV:" \
		"exit 0 in $((SECONDS - t0))s; vramd wrote $wbytes read $rbytes bytes, $fl flushes, 0 errors"

	timeout 30 blkdiscard -o 0 -l 1M "$UBLK_DEV" || bad ublk-discard "blkdiscard $UBLK_DEV failed"
	timeout 30 blkdiscard -z -o 1M -l 1M "$UBLK_DEV" || bad ublk-discard "blkdiscard -z $UBLK_DEV failed"
	timeout 30 dd if="$UBLK_DEV" bs=1M skip=1 count=1 iflag=direct 2>/dev/null |
		cmp -s -n 1048576 - /dev/zero || bad ublk-discard "$UBLK_DEV is not zero after blkdiscard -z"
	read -r tc te zc ze <<<"$(server_json '.commands.trim.count, .commands.trim.errors,
		.commands.write_zeroes.count, .commands.write_zeroes.errors')"
	[ "${tc:-0}" -gt 0 ] && [ "${te:-x}" = 0 ] ||
		bad ublk-discard "vramd saw ${tc:-?} trims with ${te:-?} errors"
	[ "${zc:-0}" -gt 0 ] && [ "${ze:-x}" = 0 ] ||
		bad ublk-discard "vramd saw ${zc:-?} write-zeroes with ${ze:-?} errors"
	ok ublk-discard "blkdiscard and blkdiscard -z: $tc trims, $zc write-zeroes at vramd, 0 errors, zeros read back"

	# --- kill -9: reads in flight fail, later ones too, --ublk-del cleans up -
	dd if="$UBLK_DEV" of=/dev/null bs=64k iflag=direct 2>"$tmp/dd.err" &
	DD_PID=$!
	cleanup_add 'kill -KILL $DD_PID'
	read -r -t 1 -u "$SLEEP_FD"
	kill -0 "$DD_PID" 2>/dev/null ||
		bad ublk-kill "the reader of $UBLK_DEV ended before vramd was killed (make it longer)"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	t0=$SECONDS
	for ((i = 0; i < 300; i++)); do
		kill -0 "$DD_PID" 2>/dev/null || break
		read -r -t 0.1 -u "$SLEEP_FD"
	done
	kill -0 "$DD_PID" 2>/dev/null && bad ublk-kill "a read in flight on $UBLK_DEV hung for 30 s after vramd was killed"
	wait "$DD_PID"
	rc=$?
	[ $rc != 0 ] || bad ublk-kill "a read in flight on $UBLK_DEV succeeded after vramd was killed"
	info "the reader in flight: exit $rc after $((SECONDS - t0))s: $(tr '\n' ' ' <"$tmp/dd.err")"
	out=$(timeout 30 dd if="$UBLK_DEV" of=/dev/null bs=4096 count=1 iflag=direct 2>&1)
	rc=$?
	[ $rc = 124 ] && bad ublk-kill "a read of $UBLK_DEV hung for 30 s after vramd was killed"
	[ $rc != 0 ] || bad ublk-kill "a read of $UBLK_DEV succeeded after vramd was killed"
	node=gone
	[ -b "$UBLK_DEV" ] && node=present
	[ -e "/dev/ublkc$UBLK_ID" ] || bad ublk-kill "/dev/ublkc$UBLK_ID vanished: nothing left for --ublk-del"
	ok ublk-kill "after kill -9 the read in flight failed ($(grep -m1 -v records "$tmp/dd.err"))," \
		"a new one too ($(tail -n 1 <<<"$out")), within $((SECONDS - t0))s; $UBLK_DEV $node, /dev/ublkc$UBLK_ID left"

	t0=$SECONDS
	timeout 40 "$VRAMD" --ublk-del "$UBLK_ID" >"$tmp/del.out" 2>&1
	rc=$?
	[ $rc = 0 ] || { cat "$tmp/del.out" >&2; bad ublk-del "vramd --ublk-del $UBLK_ID exited with status $rc"; }
	for ((i = 0; i < 50; i++)); do
		ublk_gone "$UBLK_ID" && break
		read -r -t 0.1 -u "$SLEEP_FD"
	done
	ublk_gone "$UBLK_ID" || bad ublk-del "ublk device $UBLK_ID still there after --ublk-del"
	timeout 40 "$VRAMD" --ublk-del "$UBLK_ID" >"$tmp/del2.out" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -q 'no such device' "$tmp/del2.out" ||
		bad ublk-del "a second --ublk-del $UBLK_ID: status $rc, '$(cat "$tmp/del2.out")'"
	[ -z "$(procs_named vramd memtouch fio)" ] ||
		bad ublk-del "processes left: $(procs_named vramd memtouch fio | tr '\n' ' ')"
	ok ublk-del "vramd --ublk-del $UBLK_ID: exit 0 in $((SECONDS - t0))s, device gone;" \
		"again: '$(tail -n 1 "$tmp/del2.out")'"

	# --- the device deleted under a running vramd: refused without --force
	# (a live server's device is no leftover); with it, vramd notices and
	# exits 1 ------------------------------------------------------------------
	ublk_server --no-swap
	t0=$SECONDS
	if timeout 40 "$VRAMD" --ublk-del "$UBLK_ID" >"$tmp/del4.out" 2>&1; then
		bad ublk-gone "--ublk-del $UBLK_ID deleted a device whose server runs, without --force"
	elif ! grep -q 'is running' "$tmp/del4.out"; then
		bad ublk-gone "--ublk-del of a live device refused without saying why: $(cat "$tmp/del4.out")"
	fi
	timeout 40 "$VRAMD" --ublk-del "$UBLK_ID" --force >"$tmp/del3.out" 2>&1 ||
		{ cat "$tmp/del3.out" >&2; bad ublk-gone "vramd --ublk-del $UBLK_ID --force under a running vramd failed"; }
	wait_exit 20 || bad ublk-gone "vramd did not exit within 20 s of its device being deleted"
	[ "$SERVER_RC" = 1 ] || bad ublk-gone "vramd exited with status $SERVER_RC, expected 1"
	grep -q 'went away' "$tmp/vramd.log" || bad ublk-gone "vramd did not say why it exited"
	ublk_gone "$UBLK_ID" || bad ublk-gone "ublk device $UBLK_ID still there"
	ok ublk-gone "--ublk-del under a running vramd: refused; with --force it exited with status 1 in $((SECONDS - t0))s, device gone"
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

# quick_run ARGS...: swapbench run of the quick scenario, 3-s runs in a
# 48M cgroup, one repeat, with the guest's journal and scenarios, under
# VM_WORK_TIMEOUT; ARGS add to it (--out, --tiers, --set).  It execs
# timeout, replacing the shell it runs in: call it in ( ) or with &, so
# that a background one's pid is timeout's, which passes a TERM on.
quick_run() {
	SWAPBENCH_STATE_DIR=$tmp/sbstate SWAPBENCH_SCENARIOS=$top/scenarios \
		exec timeout --kill-after=30 "$VM_WORK_TIMEOUT" "$BUILD/swapbench" run --scenario quick \
		--set memcg.limit=48M --set workload.duration_s=3 --repeats 1 "$@"
}

# nothing_left STEP: no swap and no swapbench cgroup after a run, or STEP
# fails saying what is left.
nothing_left() {
	local cgs
	cgs=$(find /sys/fs/cgroup -maxdepth 1 -name 'swapbench*' | tr '\n' ' ')
	[ -z "$(active_swaps)" ] && [ -z "$cgs" ] || bad "$1" "left over: $(active_swaps | tr '\n' ' ') $cgs"
}

# run_limits: whether the cgroup of the swapbench under WORK_PID (a
# background quick_run) has memory.high and memory.max both written (a new
# cgroup has them at "max"); sets the caller's limits to "HIGH MAX".
# Builtins only: it polls under TCG beside the workload.
run_limits() {
	local pid=$WORK_PID comm= h m cg i
	# Down the first children (timeout's, and any shell's between) to swapbench.
	# (A children list ends without a newline: read's status says nothing.)
	for i in 1 2 3; do
		read -r pid _ 2>/dev/null <"/proc/$pid/task/$pid/children"
		[ -n "$pid" ] && read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
		[ "$comm" != swapbench ] || break
	done
	[ "$comm" = swapbench ] || return 1
	cg=/sys/fs/cgroup/swapbench-run-$pid
	read -r h 2>/dev/null <"$cg/memory.high" && read -r m 2>/dev/null <"$cg/memory.max" || return 1
	limits="$h $m"
	[[ $limits != *max* ]]
}

# swapbench run on cgroup v2 (the host here has v1): the quick scenario over
# a zram of 16 MiB that the workload overfills (OOM-killed: the kernel's
# report kept, of the run's own cgroup) and one it fits in (valid, swapped),
# with the cgroup's PSI and memory files and memory.zswap.current sampled;
# a run under memcg.mode=high (memory.high, memory.max as a backstop);
# then zswap, valid at 1.5x and at 3x OOM-killed by its pool filling the
# cgroup (the reason says so).
scenario_run() {
	local out=$tmp/run doc small big file tsv fast zs cur zrun zfile ratio want rc limits=
	if [ ! -x "$BUILD/swapbench" ]; then
		result run-v2 skip "build/swapbench absent"
		result run-high skip "build/swapbench absent"
		result run-zswap skip "build/swapbench absent"
		return 0
	fi
	cleanup_add "SWAPBENCH_STATE_DIR=$tmp/sbstate '$BUILD/swapbench' restore >/dev/null"
	(quick_run --out "$out" --tiers 'zram:size=16M:as=small,zram:size=128M:as=big' \
		--set workload.ratio=2) ||
		bad run-v2 "swapbench run exit $?"
	doc=$out/run.json
	small=$(jq -c '.runs[] | select(.tier == "small")' "$doc")
	big=$(jq -c '.runs[] | select(.tier == "big")' "$doc")
	jq -e '.fingerprint.cgroup_version == 2' "$doc" >/dev/null ||
		bad run-v2 "not a cgroup v2 run: $(jq -c .fingerprint.cgroup_version "$doc")"
	jq -e '.valid and .metrics.pswpout_pages > 0 and .metrics.oom_kills == 0 and
		(has("oom_report_file") | not)' <<<"$big" >/dev/null ||
		bad run-v2 "the 128M zram's run: $(jq -c '{valid, invalid_reason, p: .metrics.pswpout_pages}' <<<"$big")"
	file=$(jq -r '.oom_report_file // empty' <<<"$small")
	jq -e '.oom_report_file as $f | .valid == false and .metrics.oom_kills >= 1 and
		(.invalid_reason | contains("the kernel'"'"'s report is in " + $f + ";"))' <<<"$small" >/dev/null &&
		[ -f "$out/$file" ] ||
		bad run-v2 "the 16M zram's run: $(jq -c '{valid, invalid_reason, oom_report_file}' <<<"$small")"
	# On v2 the kill names the cgroup by its path under the v2 root.
	grep -qE 'oom-kill:.*task_memcg=/swapbench-run-[0-9]+(,|$)' "$out/$file" &&
		! grep -oE 'task_memcg=[^,]*' "$out/$file" | grep -qvE '=/swapbench-run-[0-9]+$' ||
		bad run-v2 "$file: $(grep -E 'oom-kill:' "$out/$file" | head -3)"
	# The v2 cgroup files, memory.zswap.current on every fast round.
	tsv=$out/$(jq -r .samples_file <<<"$big")
	fast=$(awk -F'\t' '$2 == "psi_memory" && $3 == "full_total_us"' "$tsv" | wc -l)
	zs=$(awk -F'\t' '$2 == "cg_memory.zswap.current"' "$tsv" | wc -l)
	cur=$(awk -F'\t' '$2 == "cg_memory.current"' "$tsv" | wc -l)
	[ "$fast" -gt 10 ] && [ "$zs" = "$fast" ] && [ "$cur" -gt 0 ] && [ "$cur" -lt "$fast" ] &&
		grep -q $'\tcg_memory.pressure\tfull_total_us\t' "$tsv" ||
		bad run-v2 "samples: $fast fast rounds, $zs memory.zswap.current, $cur memory.current"
	nothing_left run-v2
	ok run-v2 "cgroup v2: 128M zram valid ($(jq .metrics.pswpout_pages <<<"$big") pages out), 16M zram" \
		"OOM-killed with its report kept ($file), $zs of $fast rounds read memory.zswap.current"

	# memcg.mode=high (memory.high, cgroup v2's alone): throttled, not
	# killed, at 2x it still swaps and counts; the cgroup has memory.high
	# at the limit and memory.max at twice it and 64 MiB while it runs.
	quick_run --out "$tmp/h" --tiers 'zram:size=128M:as=zh' --set memcg.mode=high \
		--set workload.ratio=2 &
	WORK_PID=$!
	cleanup_add kill_workload TERM	# before swapbench restore, added first
	while kill -0 "$WORK_PID" 2>/dev/null && ! run_limits; do
		read -r -t 0.1 -u "$SLEEP_FD"
	done
	wait "$WORK_PID"
	rc=$?
	WORK_PID=
	[ "$rc" = 0 ] || bad run-high "swapbench run exit $rc"
	[ "$limits" = "50331648 167772160" ] ||
		bad run-high "the run's cgroup had memory.high and memory.max '${limits:-?}', not 50331648 167772160"
	jq -e '.settings.scenario.memcg_mode == "high" and .fingerprint.factors.memcg_mode == "high" and
		(.runs[0] | .valid and .metrics.pswpout_pages > 0 and .metrics.oom_kills == 0)' \
		"$tmp/h/run.json" >/dev/null ||
		bad run-high "$(jq -c '{m: .settings.scenario.memcg_mode, f: .fingerprint.factors, r: [.runs[] | {valid, invalid_reason, p: .metrics.pswpout_pages}]}' "$tmp/h/run.json")"
	nothing_left run-high
	ok run-high "memcg.mode=high: memory.high and memory.max $limits; 128M zram at 2x valid, $(jq '.runs[0].metrics.pswpout_pages' "$tmp/h/run.json") pages out"

	# zswap (over zram0 as its device: the guest's /var/tmp is tmpfs) with
	# 2:1 data at three times the limit: its pool, charged to the cgroup
	# and never written back (6.1 has no shrinker), fills the cgroup and
	# the OOM killer comes; the reason says so, with zswap's ratio.
	cleanup_add zram_reset
	echo 128M >"$ZRAM_SYS/disksize" || bad run-zswap "cannot size $ZRAM as zswap's device"
	(quick_run --out "$tmp/z" --tiers "zswap:device=$ZRAM:as=zswap" --set workload.ratios=1.5,3) ||
		bad run-zswap "swapbench run exit $?"
	# At 1.5x it fits compressed: valid, its 2:1 judged by the cgroup's
	# memory.stat (zswap's pool counter, zbud's pages, reads 1.00:1 here).
	zrun=$(jq -c '.runs[] | select(.ratio == 1.5)' "$tmp/z/run.json")
	jq -e '.valid and .metrics.oom_kills == 0 and .metrics.memcg_zswap_ratio >= 1.5' <<<"$zrun" >/dev/null ||
		bad run-zswap "at 1.5x: $(jq -c '{valid, invalid_reason, m: (.metrics | {compression, memcg_zswap_ratio, zswpout_pages})}' <<<"$zrun")"
	zrun=$(jq -c '.runs[] | select(.ratio == 3)' "$tmp/z/run.json")
	# memory.stat's zswapped over zswap: what zswap held for what it charged.
	ratio=$(jq -r '.metrics.memcg_zswap_ratio' <<<"$zrun")
	want="zswap charges its pool to the cgroup and compressed these pages $(printf %.2f "$ratio"):1, so once"
	jq -e --arg want "$want" '.valid == false and .metrics.oom_kills >= 1 and
		.metrics.memcg_zswap_peak_bytes > .metrics.memcg_limit_bytes / 4 and
		.metrics.memcg_zswap_ratio > 1.5 and
		(.invalid_reason | startswith("oom kill: ") and contains($want) and
		 contains("(this kernel'"'"'s zswap has no shrinker: a lower memory.zswap.max)") and
		 contains("RUNBOOK.md, \"zswap OOM-killed: its pool filled the cgroup\""))' <<<"$zrun" >/dev/null ||
		bad run-zswap "$(jq -c '{valid, invalid_reason, m: (.metrics | {compression, memcg_zswap_ratio, memcg_zswap_peak_bytes, memcg_limit_bytes, oom_kills})}' <<<"$zrun")"
	# memory.stat's dump in the report (one record on 6.1), line by line.
	zfile=$tmp/z/$(jq -r '.oom_report_file // "none"' <<<"$zrun")
	grep -qE '^\[ *[0-9]+\.[0-9]{6}\] zswap [0-9]+$' "$zfile" && ! grep -q 'x0a' "$zfile" ||
		bad run-zswap "memory.stat's lines in $zfile: $(grep -m1 -E 'anon [0-9]' "$zfile" | cut -c1-200)"
	zram_reset || bad run-zswap "cannot reset $ZRAM"
	nothing_left run-zswap
	ok run-zswap "zswap over $ZRAM valid at 1.5x, OOM-killed at 3x: $(jq -r .invalid_reason <<<"$zrun" | cut -c1-200)..."
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
	p=$(ls -d /dev/ublkb* /dev/ublkc* 2>/dev/null | tr '\n' ' ')
	[ -z "$p" ] || why+=("ublk devices: $p")
	[ "$(cat /proc/mounts)" = "$1" ] || why+=("mounts changed: $(diff <(echo "$1") /proc/mounts | tr '\n' ' ')")
	if [ ${#why[@]} -gt 0 ]; then
		result clean fail "${why[*]}"
	else
		ok clean "no swap, $NBD disconnected, $ZRAM reset, no ublk device, no vramd/nbd-client/memtouch," \
			"cgroups and mounts as at start"
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
	if [ "$VM_DOCTOR" = yes ]; then
		doctor
	else
		result doctor skip "VM_DOCTOR=$VM_DOCTOR"
	fi
	leftovers "$mounts"
	result "done" ok "guest finished"
}

case ${1:-all} in
all) run_all ;;
nbd) keep_stderr; scenario_nbd ;;
zram) keep_stderr; scenario_zram ;;
tier) keep_stderr; scenario_tier ;;
run) keep_stderr; scenario_run ;;
ublk) keep_stderr; scenario_ublk ;;
*) echo "usage: $0 [all|nbd|zram|tier|run|ublk]" >&2; exit 2 ;;
esac
