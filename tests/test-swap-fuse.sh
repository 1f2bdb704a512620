#!/usr/bin/env bash
# Real swap through vramd without the kernel NBD client: vramd --swap (ram) ->
# nbdfuse file -> loop device (direct I/O) -> swapon; memtouch writes and
# verifies 768 MiB in a memory cgroup limited to 256 MiB, so 512 MiB or more
# goes through swap and back.  Undone in reverse order even on failure; swap
# goes off before the loop, FUSE or server do.  VRAMD_BACKEND picks the
# backend (ram by default; vram on a GPU host).  With SWAP_FUSE_SERVER=
# vramd-fuse, vramd serves the file itself (vramd --fuse, no NBD, no
# nbdfuse; SWAP_FUSE_URING=on|off|auto is its --fuse-uring), and SIGTERM in
# swap mode must be refused while the loop device holds the file
# (test-swap-vramd-fuse*.sh run it so).  Try:
#   tests/run-tests test-swap-fuse.sh
#   SWAP_FUSE_SERVER=nbdkit tests/run-tests test-swap-fuse.sh  (harness check)
# SWAP_FUSE_WORK_MIB sets how much memtouch writes (default 768, at least 320).
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

SERVER=${SWAP_FUSE_SERVER:-vramd}
EXPORT_SIZE=1G
CG_LIMIT_MIB=256
WORK_MIB=${SWAP_FUSE_WORK_MIB:-768}
WORK_TIMEOUT=200	# seconds for memtouch (two passes); the test has 300
MEMTOUCH=$BUILD/tests/memtouch
SWAP_PRIO=100

FUSE_URING=${SWAP_FUSE_URING:-auto}
requires_root
requires losetup mkswap swapon swapoff timeout setsid
[ "$SERVER" = vramd-fuse ] || requires nbdfuse fusermount3
[ -c /dev/fuse ] || skip "no /dev/fuse (FUSE not available)"
[ -c /dev/loop-control ] || skip "no /dev/loop-control (loop devices not available)"
case $SERVER in
vramd)	requires_vramd
	requires_backend ;;
vramd-fuse)
	requires_vramd
	requires_backend
	"$VRAMD" --help 2>&1 | grep -q -- '--fuse MOUNTPOINT' || skip "this vramd has no --fuse"
	case $FUSE_URING in
	on | off | auto) ;;
	*) fail "SWAP_FUSE_URING must be on, off or auto, not '$FUSE_URING'" ;;
	esac
	;;
nbdkit)	requires nbdkit ;;
*)	fail "SWAP_FUSE_SERVER must be vramd, vramd-fuse or nbdkit, not '$SERVER'" ;;
esac
requires_test_prog memtouch
[[ $WORK_MIB =~ ^[0-9]+$ ]] && [ "$WORK_MIB" -ge 320 ] ||
	fail "SWAP_FUSE_WORK_MIB must be a number of MiB, at least 320 (the cgroup holds $CG_LIMIT_MIB), not '$WORK_MIB'"
swaps_before=$(active_swaps)
[ -z "$swaps_before" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' '); this test wants its device to take all the swap-out"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr

problems=()
problem() {
	echo "FAIL: $*" >&2
	problems+=("$*")
}

# is_swap DEV: true while DEV is active swap.
is_swap() {
	[ -n "$1" ] && [ -n "$(swap_used_kib "$1")" ]
}

# --- the steps and their undo, in the order they are taken ------------------
# Each undo is safe to call twice (the main path calls it, then the cleanup
# finds nothing left to do) and refuses to pull anything out from under
# active swap.

SERVER_PID='' SOCK=$tmp/nbd.sock STATS='' SWAP_MODE=''
# The server and nbdfuse run in sessions of their own (setsid): the runner's
# timeout and ^C signal the test's whole process group, and neither may die
# before swapoff.  The test's traps stop them in order instead.

# launch_server [VRAMD-MODE-OPTION]: start the server in the background and
# wait until it listens; return 1 (and reap it) when it exits first.
launch_server() {
	local i
	rm -f "$SOCK"
	case $SERVER in
	vramd-fuse)
		mkdir -p "$MNT"
		(no_stderr_fd; exec setsid "$VRAMD" --foreground "$@" --backend "$VRAMD_BACKEND" \
			--size "$EXPORT_SIZE" --fuse "$MNT" --fuse-uring "$FUSE_URING" \
			${STATS:+--stats-file "$STATS"}) >"$tmp/server.out" 2>>"$tmp/server.log" &
		SERVER_PID=$!
		# It prints the file's path once the file serves.
		for ((i = 0; i < 200; i++)); do
			if [ "$(cat "$tmp/server.out" 2>/dev/null)" = "$FUSE_FILE" ]; then
				fuse_mounted || fail "vramd printed $FUSE_FILE but $MNT is not mounted"
				return 0
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.05
		done
		stop_server
		return 1
		;;
	vramd)
		(no_stderr_fd; exec setsid "$VRAMD" --foreground "$@" --backend "$VRAMD_BACKEND" \
			--size "$EXPORT_SIZE" --socket "$SOCK" \
			${STATS:+--stats-file "$STATS"}) >>"$tmp/server.log" 2>&1 &
		;;
	nbdkit)
		(no_stderr_fd; exec setsid nbdkit --foreground --unix "$SOCK" memory "$EXPORT_SIZE") \
			>>"$tmp/server.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	stop_server
	return 1
}

start_server() {
	cleanup_add stop_server
	if [ "$SERVER" != nbdkit ]; then
		if "$VRAMD" --help 2>&1 | grep -q -- '--stats-file'; then
			STATS=$tmp/vramd-stats.json
		else
			info "vramd --help does not list --stats-file: skipping the stats check"
		fi
		# A real swap device: insist on swap mode (vramd fails without
		# mlockall and warns where OOM immunity or PR_SET_IO_FLUSHER
		# cannot be had).
		# Under ASan (no mlockall of its shadow memory) the data path is
		# still worth checking; the workload's pressure stays inside
		# its cgroup, away from vramd.
		if [ -n "${SWAPBENCH_SANITIZED:-}" ]; then
			info "sanitizer build: vramd runs without swap mode"
			launch_server --no-swap && return 0
		else
			SWAP_MODE=--swap
			launch_server --swap && return 0
		fi
	else
		launch_server && return 0
	fi
	cat "$tmp/server.log" >&2
	[ "$SERVER" = vramd-fuse ] && fail "vramd --fuse did not serve $FUSE_FILE"
	fail "$SERVER did not start listening on $SOCK"
}

# stop_server: SIGTERM, then up to 10 s for it to exit (in swap mode vramd
# waits for its clients, which are gone once FUSE is unmounted); SIGKILL only
# as a last resort, and never while the export still backs swap.
SERVER_RC=''
stop_server() {
	local i pid=$SERVER_PID
	[ -n "$pid" ] || return 0
	if is_swap "$LOOP" || loop_attached || { [ "$SERVER" != vramd-fuse ] && fuse_mounted; }; then
		loud "NOT stopping $SERVER (pid $pid): its export is still in use ($LOOP swap or $MNT mounted)"
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
	loud "$SERVER (pid $pid) did not exit within 10 s of SIGTERM; sending SIGKILL"
	loud "$(tail -n 5 "$tmp/server.log" 2>/dev/null)"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	SERVER_RC=$? SERVER_PID=
	return 1
}

MNT=$tmp/mnt FUSE_FILE=$tmp/mnt/nbd FUSE_PID=''
[ "$SERVER" = vramd-fuse ] && FUSE_FILE=$MNT/export
fuse_mounted() {
	awk -v m="$MNT" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}
start_fuse() {
	local i size
	if [ "$SERVER" = vramd-fuse ]; then
		cleanup_add fuse_unmount
		size=$(stat -c %s "$FUSE_FILE")
		[ "$size" = $((1 << 30)) ] || fail "$FUSE_FILE has size $size, not 1 GiB"
		info "vramd (pid $SERVER_PID) serves $FUSE_FILE ($size bytes, $(awk -v m="$MNT" '$2 == m { print $3 }' /proc/mounts))"
		return 0
	fi
	mkdir -p "$MNT"
	(no_stderr_fd; exec setsid nbdfuse --pidfile "$tmp/nbdfuse.pid" "$FUSE_FILE" \
		--unix "$SOCK") >>"$tmp/nbdfuse.log" 2>&1 &
	FUSE_PID=$!
	cleanup_add fuse_unmount
	for ((i = 0; i < 200; i++)); do
		if [ -s "$tmp/nbdfuse.pid" ] && fuse_mounted && [ -f "$FUSE_FILE" ]; then
			size=$(stat -c %s "$FUSE_FILE")
			[ "$size" -gt 0 ] || fail "$FUSE_FILE has size $size"
			info "nbdfuse (pid $FUSE_PID) serves $FUSE_FILE ($size bytes)"
			return 0
		fi
		kill -0 "$FUSE_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$tmp/nbdfuse.log" >&2
	fail "nbdfuse did not mount $FUSE_FILE"
}

# fuse_unmount: unmount (which ends nbdfuse and its NBD connections), never
# while the file still backs a loop device.  vramd --fuse unmounts when it
# exits; a mount left by one that died is detached.
fuse_unmount() {
	local i
	if [ "$SERVER" = vramd-fuse ]; then
		if fuse_mounted && ! loop_attached && ! kill -0 "${SERVER_PID:-0}" 2>/dev/null; then
			loud "$MNT still mounted with vramd gone: detaching it"
			umount -l "$MNT"
		fi
		return 0
	fi
	if fuse_mounted; then
		if loop_attached; then
			loud "NOT unmounting $MNT: $LOOP is still attached to $FUSE_FILE"
			return 1
		fi
		fusermount3 -u "$MNT" || {
			loud "fusermount3 -u $MNT failed"
			return 1
		}
	fi
	[ -n "$FUSE_PID" ] || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$FUSE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$FUSE_PID" 2>/dev/null; then
		# Unmounted, so nothing can be using it any more.
		loud "nbdfuse (pid $FUSE_PID) still runs 10 s after unmount; killing it"
		kill -KILL "$FUSE_PID"
	fi
	wait "$FUSE_PID" 2>/dev/null
	FUSE_PID=
	return 0
}

LOOP=''
loop_attached() {
	[ -n "$LOOP" ] && [ -e "/sys/block/${LOOP#/dev/}/loop/backing_file" ]
}
attach_loop() {
	if LOOP=$(losetup --direct-io=on --find --show "$FUSE_FILE" 2>"$tmp/losetup.err"); then
		cleanup_add loop_detach
	else
		info "losetup --direct-io=on failed ($(cat "$tmp/losetup.err")); falling back to buffered I/O"
		LOOP=$(losetup --find --show "$FUSE_FILE") ||
			fail "losetup --find --show $FUSE_FILE failed"
		cleanup_add loop_detach
	fi
	local dio
	dio=$(cat "/sys/block/${LOOP#/dev/}/loop/dio" 2>/dev/null)
	if [ "$dio" = 1 ]; then
		info "$LOOP -> $FUSE_FILE, direct I/O on"
	else
		info "$LOOP -> $FUSE_FILE, direct I/O OFF (loop/dio=${dio:-?}): writes go through the page cache"
	fi
}
loop_detach() {
	local i
	loop_attached || return 0
	if is_swap "$LOOP"; then
		loud "NOT detaching $LOOP: it is still active swap"
		return 1
	fi
	losetup -d "$LOOP" || {
		loud "losetup -d $LOOP failed"
		return 1
	}
	# Detach is deferred while anything (udev, blkid) holds the device open.
	for ((i = 0; i < 100; i++)); do
		loop_attached || return 0
		sleep 0.1
	done
	loud "$LOOP still attached 10 s after losetup -d"
	return 1
}

swap_on() {
	with_timeout 60 mkswap "$LOOP" >"$tmp/mkswap.log" 2>&1 || {
		cat "$tmp/mkswap.log" >&2
		fail "mkswap $LOOP failed"
	}
	# Registered first: a signal right after swapon must still find its undo.
	cleanup_add swap_off
	with_timeout 60 swapon --priority "$SWAP_PRIO" "$LOOP" || fail "swapon $LOOP failed"
	is_swap "$LOOP" || fail "$LOOP not in /proc/swaps after swapon"
	info "swap on $LOOP, priority $SWAP_PRIO"
}

# swap_off: the one step that must not fail silently: while it has not
# succeeded, the loop device, FUSE and the server all stay.
swap_off() {
	is_swap "$LOOP" || return 0
	if ! timeout --kill-after=10 120 swapoff "$LOOP"; then
		loud "FAIL: swapoff $LOOP failed or timed out; leaving $LOOP, $MNT and $SERVER (pid $SERVER_PID) in place"
		loud "      recover by hand: swapoff $LOOP && losetup -d $LOOP && fusermount3 -u $MNT && kill $SERVER_PID"
		return 1
	fi
	return 0
}

WORK_PID=''
kill_workload() {
	[ -n "$WORK_PID" ] || return 0
	kill -KILL "$WORK_PID" 2>/dev/null
	wait "$WORK_PID" 2>/dev/null
	WORK_PID=
}

# vramd_stats FILE: print "WRITE_BYTES WRITE_ERRORS READ_BYTES READ_ERRORS
# SWAP_MODE" from vramd's stats JSON ("null" for a missing key).
vramd_stats() {
	jq -r '[.commands.write.bytes, .commands.write.errors,
		.commands.read.bytes, .commands.read.errors, .swap_mode.on]
		| map(tostring) | join(" ")' "$1" 2>/dev/null
}

# --- set up -----------------------------------------------------------------

start_server
[ "$SERVER" = vramd-fuse ] || info "$SERVER (pid $SERVER_PID) listening on $SOCK"
start_fuse
attach_loop
swap_on

# In swap mode vramd --fuse must not exit while the file backs swap: a
# SIGTERM now is refused, and kept: vramd exits once the loop device lets
# the file go (below).
if [ "$SERVER" = vramd-fuse ] && [ -n "$SWAP_MODE" ]; then
	kill -TERM "$SERVER_PID"
	sleep 0.5
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		problem "vramd --fuse exited on SIGTERM while its file backed live swap"
	else
		grep -q 'refusing to exit' "$tmp/server.log" ||
			problem "vramd --fuse stayed after SIGTERM but logged no refusal"
		info "SIGTERM with the file in use: refused, as it must be"
	fi
fi
if [ "$SERVER" = vramd-fuse ] && [ -n "$STATS" ] && command -v jq >/dev/null 2>&1 &&
   fresh_stats "$SERVER_PID" "$STATS"; then
	info "vramd --fuse: $(jq -c .frontend "$STATS")"
	want=$FUSE_URING
	[ "$want" = auto ] && { [ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" = Y ] && want=on || want=off; }
	got=$(jq -r .frontend.transport "$STATS")
	case $want:$got in
	on:io_uring | off:dev_fuse) ;;
	*) problem "--fuse-uring $FUSE_URING (kernel switch $(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)): vramd uses '$got'" ;;
	esac
fi

memcg_create "${CG_LIMIT_MIB}M"
info "memory cgroup v$MEMCG_VERSION $MEMCG, limit ${CG_LIMIT_MIB} MiB"
if [ "$(cat /sys/module/zswap/parameters/enabled 2>/dev/null)" = Y ] &&
   [ ! -e "$MEMCG/memory.zswap.max" ]; then
	skip "zswap is enabled and cgroup v$MEMCG_VERSION cannot keep this test out of it: pages would not reach $LOOP"
fi

# --- the workload -------------------------------------------------------------

pswpout0=$(vmstat_get pswpout) || fail "no pswpout in /proc/vmstat"
pswpin0=$(vmstat_get pswpin) || fail "no pswpin in /proc/vmstat"
start=$SECONDS
(memcg_enter && exec "$MEMTOUCH" --bytes "${WORK_MIB}M" --passes 2) \
	>"$tmp/memtouch.json" 2>"$tmp/memtouch.err" &
WORK_PID=$!
cleanup_add kill_workload
peak_kib=0
while kill -0 "$WORK_PID" 2>/dev/null; do
	used=$(swap_used_kib "$LOOP")
	[ "${used:-0}" -gt "$peak_kib" ] && peak_kib=$used
	if ((SECONDS - start > WORK_TIMEOUT)); then
		kill_workload
		fail "memtouch did not finish within ${WORK_TIMEOUT}s (peak swap use ${peak_kib} KiB)"
	fi
	sleep 0.2
done
wait "$WORK_PID"
work_rc=$?
WORK_PID=
pswpout=$(($(vmstat_get pswpout) - pswpout0))
pswpin=$(($(vmstat_get pswpin) - pswpin0))
oom_kills=$(memcg_oom_kills)
info "memtouch: exit $work_rc in $((SECONDS - start))s: $(cat "$tmp/memtouch.json")"
info "pswpout +$pswpout pages, pswpin +$pswpin pages, peak $LOOP use $peak_kib KiB, cgroup OOM kills $oom_kills"

if [ "$work_rc" -ne 0 ]; then
	sed 's/^/#   /' "$tmp/memtouch.err" >&2
	problem "memtouch exited with status $work_rc (cgroup OOM kills: $oom_kills)"
fi
grep -q '"mismatches":0[,}]' "$tmp/memtouch.json" ||
	problem "memtouch did not report zero mismatches"
min_pages=$(((WORK_MIB - CG_LIMIT_MIB) * 1024 * 1024 / 4096))
[ "$pswpout" -ge "$min_pages" ] ||
	problem "pswpout rose by $pswpout pages, expected at least $min_pages ($((WORK_MIB - CG_LIMIT_MIB)) MiB)"
[ "$pswpin" -gt 0 ] || problem "pswpin did not rise: nothing was read back from swap"
[ "$peak_kib" -gt 0 ] || problem "/proc/swaps never showed $LOOP in use"

if [ -n "$STATS" ]; then
	if ! command -v jq >/dev/null 2>&1; then
		info "jq not installed: skipping the vramd stats check"
		STATS=
	else
		if ! fresh_stats "$SERVER_PID" "$STATS"; then
			info "vramd wrote no stats file $STATS: skipping the stats check"
			STATS=
		else
			read -r wbytes werrs rbytes rerrs smode <<<"$(vramd_stats "$STATS")"
			info "vramd stats: write ${wbytes:-?} bytes (${werrs:-?} errors), read ${rbytes:-?} bytes (${rerrs:-?} errors), swap_mode ${smode:-?}"
			case ${wbytes:-null}${rbytes:-null} in
			*[!0-9]*)
				problem "vramd stats lack commands.write.bytes or commands.read.bytes: $(head -c 300 "$STATS")" ;;
			*)
				[ "$wbytes" -ge $((min_pages * 4096)) ] ||
					problem "vramd received $wbytes bytes of writes, expected at least $((min_pages * 4096))"
				[ "$rbytes" -gt 0 ] || problem "vramd served no reads"
				;;
			esac
			if [ "${werrs:-}" != 0 ] || [ "${rerrs:-}" != 0 ]; then
				problem "vramd reports I/O errors: write ${werrs:-?}, read ${rerrs:-?}"
			fi
			[ -n "$SWAP_MODE" ] && [ "${smode:-}" != true ] &&
				problem "vramd was started with --swap but its stats say swap_mode ${smode:-?}"
		fi
	fi
fi

# --- tear down, in order, checking each step -----------------------------------

memcg_remove "$MEMCG" || problem "could not remove cgroup $MEMCG"
swap_off || fail "swapoff $LOOP failed (see above); teardown stopped so nothing is pulled from under live swap"
loop_detach || problem "could not detach $LOOP"
if [ "$SERVER" = vramd-fuse ] && [ -n "$SWAP_MODE" ]; then
	# The refused SIGTERM takes effect now that nothing holds the file.
	for ((i = 0; i < 50; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SERVER_PID" 2>/dev/null &&
		problem "vramd --fuse did not exit within 5 s of its file being released (SIGTERM pending)"
fi
fuse_unmount || problem "could not unmount $MNT"
stop_server || problem "$SERVER did not exit within 10 s of SIGTERM after its client left"
info "$SERVER exited with status $SERVER_RC"
[ "$SERVER" = nbdkit ] || [ "$SERVER_RC" = 0 ] ||
	problem "vramd exited with status $SERVER_RC after SIGTERM"
[ "$SERVER" = vramd-fuse ] && fuse_mounted && problem "$MNT still mounted after vramd --fuse exited"
if [ -n "$STATS" ] && [ -s "$STATS" ]; then
	read -r wbytes werrs rbytes rerrs smode <<<"$(vramd_stats "$STATS")"
	info "vramd final stats: write $wbytes bytes, read $rbytes bytes"
fi

# --- the machine is as it was ---------------------------------------------------

# Swap is compared as a whole (the test only runs on a host without swap);
# loop devices, mounts and cgroups by what this test made, since other
# tests may run beside it.
[ "$(active_swaps)" = "$swaps_before" ] ||
	problem "swap active that was not before: $(active_swaps | tr '\n' ' ')"
losetup -a | grep -qF "$tmp/" &&
	problem "loop device still attached: $(losetup -a | grep -F "$tmp/")"
awk -v t="$tmp/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts &&
	problem "mount left under $tmp: $(awk -v t="$tmp/" 'index($2, t) == 1' /proc/mounts)"
[ -e "$MEMCG" ] && problem "cgroup left: $MEMCG"
for pid in $SERVER_PID $FUSE_PID; do
	kill -0 "$pid" 2>/dev/null && problem "process $pid still runs"
done

if [ ${#problems[@]} -gt 0 ]; then
	fail "${#problems[@]} check(s) failed: ${problems[*]}"
fi
exit 0
