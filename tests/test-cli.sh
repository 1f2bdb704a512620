#!/usr/bin/env bash
# vramd's command line: --help, --version, --dump-backend, and bad inputs,
# each of which must give one clear line on stderr and exit status 2 (usage)
# or 1 (runtime) without crashing.  Also the socket mode, --pidfile, TCP on
# loopback, daemon start-up, and the default worker count.  Try:
#   tests/run-tests test-cli.sh
# timeout: 120

. "$(dirname "$0")/functions.sh"
requires_vramd
requires_backend
requires timeout nbdinfo


# expect_error STATUS REGEX ARGS...: vramd ARGS must exit with STATUS and
# print exactly one line "vramd: ..." on stderr, matching REGEX (extended,
# case-insensitive; empty matches anything).
expect_error() {
	local want=$1 re=$2 rc nlines
	shift 2
	rm -f "$sock" # left by an earlier case, it would make bind fail instead
	timeout --kill-after=2 10 "$VRAMD" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		bad "vramd $*: still running after 10s (accepted?), expected exit $want"
		return
	fi
	if [ $rc != "$want" ]; then
		bad "vramd $*: exit status $rc, expected $want; stderr: $(head -c 500 "$tmp/err")"
		return
	fi
	nlines=$(grep -c '' "$tmp/err")
	if [ "$nlines" != 1 ]; then
		bad "vramd $*: $nlines lines on stderr, expected 1:"
		sed 's/^/  | /' "$tmp/err" >&2
		return
	fi
	if ! grep -q '^vramd: .' "$tmp/err"; then
		bad "vramd $*: error line does not start with 'vramd: ': $(cat "$tmp/err")"
		return
	fi
	if [ -n "$re" ] && ! grep -qiE -- "$re" "$tmp/err"; then
		bad "vramd $*: error does not mention /$re/: $(cat "$tmp/err")"
		return
	fi
	info "ok: vramd $* -> $rc: $(cat "$tmp/err")"
}

# A TCP port nobody listens on (best effort; used for usage-error cases and
# the loopback server, which retries on a clash).
pick_port() {
	echo $((20000 + RANDOM % 40000))
}

# --help --------------------------------------------------------------------
"$VRAMD" --help >"$tmp/help" 2>"$tmp/help.err"
rc=$?
[ $rc = 0 ] || bad "vramd --help: exit status $rc, expected 0"
[ -s "$tmp/help" ] || bad "vramd --help printed nothing on stdout"
for opt in --backend --size --socket --socket-mode --tcp --allow-remote --allow-any-local-user \
	--export-name --description --read-only --threads --max-connections \
	--pidfile --foreground --swap --no-swap --force-exit --stats-file \
	--stats-interval-ms --gpu --cuda-sync --staging --resident-kernel --resident-idle --busy-poll \
	--dump-backend --help --version --ublk --ublk-id --ublk-del --force --fuse --fuse-uring \
	--queue-depth; do
	# Whole option names only: "--swap" must not be found in "--no-swap".
	grep -qE -- "(^|[^-[:alnum:]])$opt([^-[:alnum:]]|$)" "$tmp/help" && continue
	case $opt in
	--swap | --no-swap) grep -qF -- '--[no-]swap' "$tmp/help" && continue ;;
	esac
	bad "vramd --help does not mention $opt"
done
for word in ram null vram; do
	grep -qw -- "$word" "$tmp/help" || bad "vramd --help does not mention backend '$word'"
done

# --version -----------------------------------------------------------------
version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' "$top/Makefile")
out=$("$VRAMD" --version 2>&1)
rc=$?
[ $rc = 0 ] || bad "vramd --version: exit status $rc"
[ "$(head -n 1 <<<"$out")" = "vramd $version" ] ||
	bad "vramd --version: got '$out', expected 'vramd $version'"

# --dump-backend ------------------------------------------------------------
backends="ram null"
# vram too where this build has it, a GPU or not (supported=no then).
"$VRAMD" --backend ram --dump-backend 2>/dev/null | grep -q '^backends=.*vram' &&
	backends="$backends vram"
for b in $backends; do
	"$VRAMD" --backend "$b" --dump-backend >"$tmp/dump" 2>"$tmp/dump.err"
	rc=$?
	if [ $rc != 0 ]; then
		bad "vramd --backend $b --dump-backend: exit status $rc: $(cat "$tmp/dump.err")"
		continue
	fi
	info "--dump-backend $b: $(tr '\n' ' ' <"$tmp/dump")"
	if grep -v '^[a-z][a-z0-9_]*=' "$tmp/dump" | grep -q .; then
		bad "vramd --backend $b --dump-backend: lines not in key=value form:"
		grep -v '^[a-z][a-z0-9_]*=' "$tmp/dump" | sed 's/^/  | /' >&2
	fi
	dups=$(cut -d= -f1 "$tmp/dump" | sort | uniq -d | tr '\n' ' ')
	[ -z "$dups" ] || bad "vramd --backend $b --dump-backend: repeated keys: $dups"
	for line in "backend=$b" min_block_bytes=1 preferred_block_bytes=4096 \
		max_block_bytes=33554432; do
		grep -qx -- "$line" "$tmp/dump" ||
			bad "vramd --backend $b --dump-backend: no line '$line'"
	done
	# The commit built: git describe of the tree at build time (the Makefile's
	# BUILD/gen/commit.c), or unknown outside a checkout.
	want=unknown
	[ -f "$BUILD/gen/commit.c" ] && want=$(sed -n 's/.*"\(.*\)".*/\1/p' "$BUILD/gen/commit.c")
	grep -qx -- "commit=$want" "$tmp/dump" ||
		bad "vramd --backend $b --dump-backend: no line 'commit=$want': $(grep '^commit' "$tmp/dump")"
	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		[[ $want == *"$(git -C "$top" rev-parse --short=12 HEAD)"* ]] ||
			bad "vramd was built from '$want', the tree is at $(git -C "$top" rev-parse --short=12 HEAD)"
	fi
	grep -qxE 'cuda=(yes|no)' "$tmp/dump" ||
		bad "vramd --backend $b --dump-backend: no line 'cuda=yes' or 'cuda=no'"
	# The vram backend names the GPUs (none here without a driver), each
	# with its name, memory and PCIe link, for the run documents.
	if [ "$b" = vram ] && grep -q '^cuda_runtime=' "$tmp/dump"; then	# a CUDA build
		n=$(sed -n 's/^gpu_count=//p' "$tmp/dump")
		[[ $n =~ ^[0-9]+$ ]] || bad "vramd --backend vram --dump-backend: no gpu_count line"
		for ((g = 0; g < ${n:-0}; g++)); do
			for k in name vram_total_bytes pcie_gen pcie_width pcie_gen_max pcie_width_max; do
				grep -q "^gpu${g}_$k=" "$tmp/dump" || bad "vramd --dump-backend: no gpu${g}_$k line"
			done
		done
	fi
	list=$(sed -n 's/^backends=//p' "$tmp/dump")
	for want in null ram; do
		[[ ,$list, == *,$want,* ]] ||
			bad "vramd --backend $b --dump-backend: backends='$list' lacks $want"
	done
done

# Usage errors: exit 2, one line ----------------------------------------------
be=$VRAMD_BACKEND
sock=$tmp/cli.sock
port=$(pick_port)
base=(--foreground --no-swap --backend "$be")
expect_error 2 'no-such-option' "${base[@]}" --size 1M --socket "$sock" --no-such-option
expect_error 2 'size' "${base[@]}" --socket "$sock"
expect_error 2 'size' "${base[@]}" --socket "$sock" --size
expect_error 2 'size|0' "${base[@]}" --socket "$sock" --size 0
expect_error 2 'garbage' "${base[@]}" --socket "$sock" --size garbage
expect_error 2 '12Q|size' "${base[@]}" --socket "$sock" --size 12Q
expect_error 2 '-1|size' "${base[@]}" --socket "$sock" --size -1
expect_error 2 'bogus' --foreground --no-swap --backend bogus --size 1M --socket "$sock"
expect_error 2 'socket|tcp' "${base[@]}" --size 1M --socket "$sock" --tcp "127.0.0.1:$port"
expect_error 2 'socket|tcp' "${base[@]}" --size 1M
expect_error 2 'allow-remote|remote|loopback' "${base[@]}" --size 1M --allow-any-local-user --tcp "0.0.0.0:$port"
expect_error 2 'allow-remote|remote|loopback' "${base[@]}" --size 1M --allow-any-local-user --tcp "192.0.2.1:$port"
expect_error 2 'tcp|port|127\.0\.0\.1' "${base[@]}" --size 1M --allow-any-local-user --tcp 127.0.0.1
# Issue #20, item 3: TCP serves every local user; refused unless accepted.
expect_error 2 'every local user.*allow-any-local-user' "${base[@]}" --size 1M --tcp "127.0.0.1:$port"
expect_error 2 'thread' "${base[@]}" --size 1M --socket "$sock" --threads 0
expect_error 2 'thread|many' "${base[@]}" --size 1M --socket "$sock" --threads many
expect_error 2 'cuda-sync' "${base[@]}" --size 1M --socket "$sock" --cuda-sync fast
expect_error 2 'staging.*2M' "${base[@]}" --size 1M --socket "$sock" --staging 1M
expect_error 2 'staging.*1G' "${base[@]}" --size 1M --socket "$sock" --staging 2G
expect_error 2 'staging' "${base[@]}" --size 1M --socket "$sock" --staging lots
expect_error 2 'resident-kernel.*on or off' "${base[@]}" --size 1M --socket "$sock" --resident-kernel yes
expect_error 2 'resident-idle.*0 to 3600000' "${base[@]}" --size 1M --socket "$sock" --resident-idle 3600001
expect_error 2 'resident-idle' "${base[@]}" --size 1M --socket "$sock" --resident-idle 1s
expect_error 2 'busy-poll.*0 to 10000' "${base[@]}" --size 1M --socket "$sock" --busy-poll 10001
expect_error 2 'busy-poll' "${base[@]}" --size 1M --socket "$sock" --busy-poll 30us

# Runtime error: an export too big to allocate -------------------------------
rt_backends=ram
[ "$VRAMD_BACKEND" = vram ] && rt_backends="ram vram"
for b in $rt_backends; do
	expect_error 1 '' --foreground --no-swap --backend "$b" --size 99999T --socket "$sock"
done
rm -f "$sock"

# Socket mode and --pidfile; the options whose bad values were refused above
# are accepted with good ones (so those refusals were not "unknown option").
start_vramd --size 1M --pidfile "$tmp/vramd.pid" --threads 1 --max-connections 4
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || bad "socket mode is $mode, expected 600"
[ "$(cat "$tmp/vramd.pid" 2>/dev/null)" = "$VRAMD_PID" ] ||
	bad "--pidfile holds '$(cat "$tmp/vramd.pid" 2>/dev/null)', expected $VRAMD_PID"
# Workers: online CPUs by default, but no more than --max-connections.
SOCK=$tmp/one.sock start_vramd --size 1M --max-connections 1
# The line may land in the log just after the socket is up: give it 2 s.
for _ in $(seq 20); do grep -q "on $tmp/one.sock (" "$tmp/vramd.log" && break; sleep 0.1; done
grep -q "on $tmp/one.sock (1 workers" "$tmp/vramd.log" ||
	bad "--max-connections 1 without --threads: not one worker: $(grep "on $tmp/one.sock" "$tmp/vramd.log")"
SOCK=$tmp/mode.sock start_vramd --size 1M --socket-mode 0660
mode=$(stat -c %a "$tmp/mode.sock")
[ "$mode" = 660 ] || bad "--socket-mode 0660: socket mode is $mode"

# TCP on loopback serves the export -------------------------------------------
for _ in 1 2 3 4 5; do
	port=$(pick_port)
	"$VRAMD" --foreground --no-swap --backend "$be" --size 1M --allow-any-local-user \
		--tcp "127.0.0.1:$port" >>"$tmp/tcp.log" 2>&1 &
	tcp_pid=$!
	cleanup_add "stop_vramd $tcp_pid"
	for ((i = 0; i < 100; i++)); do
		size=$(nbdinfo --size "nbd://127.0.0.1:$port" 2>/dev/null) && break
		kill -0 "$tcp_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$tcp_pid" 2>/dev/null && break
	size= # it exited: probably the port was taken; try another
done
if [ "${size:-}" != 1048576 ]; then
	bad "--tcp 127.0.0.1:PORT: nbdinfo --size gave '${size:-}', expected 1048576"
	cat "$tmp/tcp.log" >&2
fi

# Daemon mode: the parent exits 0 once the socket listens ---------------------
dsock=$tmp/daemon.sock
dpid=$tmp/daemon.pid
cleanup_add "[ -s '$dpid' ] && kill -TERM \$(cat '$dpid')"
timeout 10 "$VRAMD" --no-swap --backend "$be" --size 1M --socket "$dsock" \
	--pidfile "$dpid" >"$tmp/daemon.log" 2>&1
rc=$?
if [ $rc != 0 ]; then
	bad "daemon start-up: exit status $rc: $(cat "$tmp/daemon.log")"
else
	size=$(nbdinfo --size "nbd+unix:///?socket=$dsock" 2>&1)
	[ "$size" = 1048576 ] || bad "daemon: not serving once the parent exited: $size"
	daemon=$(cat "$dpid" 2>/dev/null)
	if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
		kill -TERM "$daemon"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$daemon" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$daemon" 2>/dev/null && bad "daemon did not exit on SIGTERM"
	else
		bad "daemon: --pidfile '$dpid' does not name a live process"
	fi
fi

checks_done
