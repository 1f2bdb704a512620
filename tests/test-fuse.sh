#!/usr/bin/env bash
# vramd --fuse as users and attackers meet it: bad options refused in one
# line; the file's size, mode and directory; root only (nobody is refused);
# truncation, writes past the end and a mount point that is a symbolic
# link, or that others could redirect (a directory on its way writable by
# them or theirs), refused;
# data written through the file read back, with O_DIRECT and fio's verify,
# through /dev/fuse reads and (where the kernel has it) FUSE over io_uring;
# fallocate punch-hole and zero-range read back as zeros; unmounting by hand
# ends vramd (status 1); kill -9 leaves a dead mount whose reads fail at
# once, not hang.  Try:  tests/run-tests test-fuse.sh
# timeout: 240

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

PARAM=/sys/module/fuse/parameters/enable_uring
requires_root
requires_vramd
requires timeout dd fio setpriv fallocate truncate cmp jq
[ -c /dev/fuse ] || skip "no /dev/fuse (FUSE not available)"
"$VRAMD" --help 2>&1 | grep -q -- '--fuse MOUNTPOINT' || skip "this vramd has no --fuse"


MNT=$tmp/mnt
mkdir -p "$MNT"
PID=''
mounted() {
	awk -v m="$MNT" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}
cleanup_mount() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	mounted && umount -l "$MNT"
	return 0
}
cleanup_add cleanup_mount

old_param=''
if [ -e "$PARAM" ]; then
	old_param=$(cat "$PARAM")
	restore_param() {
		echo "$old_param" >"$PARAM" || loud "cannot put $PARAM back to $old_param"
	}
	cleanup_add restore_param
fi

# expect_error STATUS REGEX ARGS...: one line "vramd: ..." matching REGEX.
expect_error() {
	local want=$1 re=$2 rc
	shift 2
	timeout --kill-after=2 10 "$VRAMD" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want" ] || [ "$(grep -c '' "$tmp/err")" != 1 ] ||
	   ! grep -qiE -- "^vramd: .*($re)" "$tmp/err"; then
		bad "vramd $*: exit $rc (want $want), stderr: $(head -c 400 "$tmp/err")"
		mounted && umount -l "$MNT"
		return
	fi
	info "ok: vramd $* -> $rc: $(cat "$tmp/err")"
}

# --- refused -------------------------------------------------------------------
base=(--foreground --no-swap --backend ram --size 64M)
expect_error 2 'fuse' "${base[@]}" --fuse ''
expect_error 2 'exactly one' "${base[@]}" --fuse "$MNT" --socket "$tmp/s.sock"
expect_error 2 'exactly one' "${base[@]}" --fuse "$MNT" --ublk
expect_error 2 'fuse-uring.*auto, on or off' "${base[@]}" --fuse "$MNT" --fuse-uring yes
expect_error 2 'fuse-uring needs --fuse' "${base[@]}" --socket "$tmp/s.sock" --fuse-uring on
expect_error 2 'queue-depth' "${base[@]}" --fuse "$MNT" --queue-depth 0
expect_error 2 'ublk-id needs --ublk' "${base[@]}" --fuse "$MNT" --ublk-id 3
expect_error 1 'mount point' "${base[@]}" --fuse "$tmp/absent"
ln -s "$MNT" "$tmp/link"
expect_error 1 'symbolic link' "${base[@]}" --fuse "$tmp/link"
: >"$tmp/plainfile"
expect_error 1 'mount point|directory' "${base[@]}" --fuse "$tmp/plainfile"
# A path others could redirect (rename a directory on the way, put a link
# in its place) before vramd stops, or before the admin's losetup: refused.
mkdir -m 0777 "$tmp/open"
mkdir "$tmp/open/m"
expect_error 1 'redirect' "${base[@]}" --fuse "$tmp/open/m"
mkdir -p "$tmp/theirs/m"
chown 65534 "$tmp/theirs"
expect_error 1 'belongs to uid 65534' "${base[@]}" --fuse "$tmp/theirs/m"
expect_error 1 'absolute' "${base[@]}" --fuse "relative/m"
expect_error 1 "no '\.\.'" "${base[@]}" --fuse "$MNT/../mnt"
if [ -e "$PARAM" ]; then
	echo N >"$PARAM"
	expect_error 1 'switched off|enable_uring' "${base[@]}" --fuse "$MNT" --fuse-uring on
else
	expect_error 1 'no FUSE over io_uring' "${base[@]}" --fuse "$MNT" --fuse-uring on
fi
mounted && bad "a refused start left $MNT mounted"

# --- serving ---------------------------------------------------------------------
# start MODE [ARGS...]: vramd --fuse as a daemon; its parent prints the
# file's path.
start() {
	local out mode=$1
	shift
	out=$(timeout 20 "$VRAMD" --no-swap --backend ram --size 64M --fuse "$MNT" \
		--fuse-uring "$mode" --threads 2 --pidfile "$tmp/vramd.pid" "$@" \
		--stats-file "$tmp/stats.json" --log "$tmp/vramd.log") ||
		fail "vramd --fuse $MNT --fuse-uring $mode $* did not start: $(tail -n 3 "$tmp/vramd.log")"
	PID=$(cat "$tmp/vramd.pid")
	[ "$out" = "$MNT/export" ] || bad "vramd printed '$out', expected '$MNT/export'"
	mounted || fail "vramd started but $MNT is not mounted"
}

# stop: SIGTERM (no swap mode: at once) and the mount gone.
stop() {
	local i
	kill -TERM "$PID"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PID" 2>/dev/null && fail "vramd --fuse did not exit within 10 s of SIGTERM"
	PID=''
	mounted && bad "vramd --fuse exited but left $MNT mounted"
}

# data_checks LABEL: the file and its data, as root and as nobody.
data_checks() {
	local label=$1 f=$MNT/export
	[ "$(stat -c '%s %a %F' "$f")" = "67108864 600 regular file" ] ||
		bad "$label: $f is '$(stat -c '%s %a %F' "$f")', expected '67108864 600 regular file'"
	[ "$(ls -A "$MNT")" = export ] || bad "$label: $MNT holds '$(ls -A "$MNT" | tr '\n' ' ')'"
	if setpriv --reuid=65534 --regid=65534 --clear-groups cat "$f" >/dev/null 2>&1; then
		bad "$label: user nobody could read $f"
	fi
	truncate -s 1M "$f" 2>/dev/null && bad "$label: truncating $f to 1 MiB succeeded"
	[ "$(stat -c %s "$f")" = 67108864 ] || bad "$label: the size changed to $(stat -c %s "$f")"
	dd if=/dev/urandom of="$tmp/pat" bs=1M count=4 status=none
	dd if="$tmp/pat" of="$f" bs=1M seek=60 oflag=direct conv=notrunc status=none ||
		bad "$label: writing 4 MiB at 60 MiB with O_DIRECT failed"
	dd if="$f" of="$tmp/back" bs=1M skip=60 count=4 iflag=direct status=none ||
		bad "$label: reading it back failed"
	cmp -s "$tmp/pat" "$tmp/back" || bad "$label: 4 MiB read back differ from what was written"
	dd if=/dev/zero of="$f" bs=4096 seek=16384 count=1 oflag=direct conv=notrunc status=none \
		2>/dev/null && bad "$label: a write past the end succeeded"
	fallocate --punch-hole --keep-size -o $((56 << 20)) -l $((5 << 20)) "$f" ||
		bad "$label: fallocate --punch-hole failed"
	fallocate --zero-range --keep-size -o $((61 << 20)) -l $((1 << 20)) "$f" ||
		bad "$label: fallocate --zero-range failed"
	cmp -s <(dd if="$f" bs=1M skip=60 count=2 iflag=direct status=none) <(head -c 2M /dev/zero) ||
		bad "$label: punched and zeroed ranges do not read as zeros"
	cmp -s <(dd if="$f" bs=1M skip=62 count=2 iflag=direct status=none) \
		<(tail -c 2M "$tmp/pat") || bad "$label: the bytes after the zeroed ranges changed"
	sync "$f" || bad "$label: fsync of $f failed"
	timeout 120 fio --name=verify --filename="$f" --direct=1 --ioengine=io_uring \
		--rw=randwrite --bs=4k --size=32M --iodepth=32 --verify=crc32c \
		--verify_fatal=1 --verify_state_save=0 --output-format=terse >"$tmp/fio.out" 2>&1 ||
		bad "$label: fio verify failed: $(tail -c 400 "$tmp/fio.out")"
	[ "$(cut -d';' -f5 "$tmp/fio.out" | head -n 1)" = 0 ] ||
		bad "$label: fio reports error $(cut -d';' -f5 "$tmp/fio.out" | head -n 1)"
	kill -USR1 "$PID"
	sleep 0.3
	jq -e '.commands.write.errors == 0 and .commands.read.errors == 0 and
	       .commands.write.bytes > 33554432 and .frontend.name == "fuse"' \
		"$tmp/stats.json" >/dev/null ||
		bad "$label: statistics: $(jq -c '{frontend, w: .commands.write, r: .commands.read | del(.latency_ns)}' "$tmp/stats.json" 2>&1 | head -c 600)"
	info "$label: $(jq -c .frontend "$tmp/stats.json")"
}

modes=(off)
if [ -e "$PARAM" ]; then
	echo Y >"$PARAM"
	modes+=(on)
else
	info "no $PARAM: FUSE over io_uring not tested (kernel before 6.14)"
fi
for mode in "${modes[@]}"; do
	start "$mode"
	data_checks "--fuse-uring $mode"
	want=dev_fuse
	[ "$mode" = on ] && want=io_uring
	[ "$(jq -r .frontend.transport "$tmp/stats.json")" = "$want" ] ||
		bad "--fuse-uring $mode: transport $(jq -r .frontend.transport "$tmp/stats.json"), expected $want"
	stop
done
# --busy-poll: the io_uring queue threads poll their ring before sleeping,
# and work that came while they polled is counted.
if [ -e "$PARAM" ]; then
	start on --busy-poll 200
	data_checks "--fuse-uring on --busy-poll 200"
	jq -e '.busy_poll_hits > 0' "$tmp/stats.json" >/dev/null ||
		bad "--busy-poll 200: no request came while a queue polled: $(jq -c '{busy_poll_hits}' "$tmp/stats.json")"
	stop
fi

# --- io_uring laid out but refused: every thread serves /dev/fuse reads ----------
# With io_uring set-up refused (kernel.io_uring_disabled = 2) under --fuse-uring
# auto, vramd warns and serves through /dev/fuse reads with its queue threads
# turned readers (1 + --threads), not one reader alone.
# kernel.io_uring_disabled is the whole machine's: not while swap (a tier
# that may be served over io_uring) or a swapbench run is up.
DISABLED=/proc/sys/kernel/io_uring_disabled
if [ -n "$(active_swaps)" ] || [ -e /run/swapbench/state.json ]; then
	info "swap or a swapbench run is active: io_uring refusal not tested (it would be the machine's)"
elif [ -e "$PARAM" ] && [ -w "$DISABLED" ]; then
	old_disabled=$(cat "$DISABLED")
	cleanup_add "echo $old_disabled >$DISABLED"
	echo 2 >"$DISABLED"
	start auto
	echo "$old_disabled" >"$DISABLED"
	grep -q 'cannot set up io_uring queue 0.*serving through /dev/fuse reads instead' "$tmp/vramd.log" ||
		bad "no fallback warning: $(tail -n 3 "$tmp/vramd.log")"
	data_checks "--fuse-uring auto, io_uring refused"
	jq -e '.frontend.transport == "dev_fuse" and .frontend.reader_threads == 3 and
	       .frontend.queue_threads == 0' "$tmp/stats.json" >/dev/null ||
		bad "io_uring refused: $(jq -c .frontend "$tmp/stats.json")"
	stop
fi

# --- the mount taken away from under vramd ---------------------------------------
start off
umount "$MNT" || bad "umount $MNT failed"
for ((i = 0; i < 30; i++)); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
	bad "vramd --fuse still runs 3 s after its mount went"
	kill -KILL "$PID"
else
	wait_rc=$(grep -c 'went away' "$tmp/vramd.log")
	[ "$wait_rc" -ge 1 ] || bad "vramd --fuse ended without saying its mount went away: $(tail -n 2 "$tmp/vramd.log")"
fi
PID=''

# --- kill -9: a dead mount fails reads at once ----------------------------------
start off
kill -KILL "$PID"
sleep 0.3
PID=''
if timeout 10 dd if="$MNT/export" of=/dev/null bs=4096 count=1 iflag=direct 2>"$tmp/dd.err"; then
	bad "a read of the file of a killed vramd succeeded"
else
	rc=$?
	[ $rc = 124 ] && bad "a read of the file of a killed vramd hung (10 s)"
	info "read after kill -9: $(head -n 1 "$tmp/dd.err")"
fi
umount -l "$MNT" || bad "umount -l of the dead mount failed"
mounted && bad "$MNT still mounted"

checks_done
