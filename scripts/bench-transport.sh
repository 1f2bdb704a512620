#!/usr/bin/env bash
# bench-transport.sh: fio (io_uring, O_DIRECT) on the block device each
# transport gives vramd (nbdfuse + loop, the kernel NBD client, vramd's own
# FUSE file + loop, ublk), for each backend, beside the kernel's references:
# a zram device and a loop device over a file on tmpfs.  All devices are up
# at once and the rounds interleave them, so drift hits them alike.  Besides
# IOPS and latency it charges each I/O with the CPU the rest of the machine
# spent serving it.  A benchmark, not a test: it prints tables, ratios and
# the transport goals' checks, writes a JSON document, and fails only when
# a run fails.  Needs root.
# Try it:  sudo make bench-transport BENCH_ARGS="--rounds 1 --runtime 2"
#     or:  sudo ROUNDS=1 SIZE=256M scripts/bench-transport.sh --backends ram

# shellcheck disable=SC2317 # the undo steps run from the undo stack (eval)
set -uo pipefail
export LC_ALL=C

prog=bench-transport
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BUILD:=$top/build}"
VRAMD="$BUILD/vramd"
# shellcheck source=scripts/bench-lib.sh
. "$top/scripts/bench-lib.sh"

# --- settings ------------------------------------------------------------------
# Every knob is an environment variable and an option (the option wins).
rounds=${ROUNDS:-2}
runtime_s=${RUNTIME:-5}
ramp_s=${RAMP:-1}
size=${SIZE:-1G}
out_dir=${OUT:-}
backends_opt=${BACKENDS:-auto}
transports_opt=${TRANSPORTS:-nbdfuse kernel vramd-fuse ublk}
refs_opt=${REFS:-zram tmpfs-loop}
cases_opt=${CASES:-}
connections=${CONNECTIONS:-4}
vramd_args=${VRAMD_ARGS:-}

# Cases: name rw block-size iodepth numjobs.  One fio job per case, so a
# case's queue depth is the iodepth of that one job.
ALL_CASES=(
	"randread-4k-qd1 randread 4k 1 1"
	"randread-4k-qd32 randread 4k 32 1"
	"randwrite-4k-qd1 randwrite 4k 1 1"
	"randwrite-4k-qd32 randwrite 4k 32 1"
	"randread-64k-qd8 randread 64k 8 1"
)

usage() {
	cat <<EOF
usage: $0 [options]

Runs fio (ioengine=io_uring, direct=1) on block devices and prints, per
case, each device's IOPS, p50/p99 completion latency and CPU per I/O
(median over the rounds, min-max beside it), then ratios against named
peers measured in the same run, then the transport goals (met / not met):
vramd-fuse/ram against nbdfuse/ram, and the vram backend's latency and IOPS.

Devices, one per transport and vramd backend, plus two references:
  nbdfuse/B           vramd --socket, nbdfuse -C CONNECTIONS, losetup --direct-io=on
  kernel/B            vramd --socket, nbd-client -connections CONNECTIONS /dev/nbdN
  vramd-fuse/B        vramd --fuse MNT (--fuse-uring off), losetup --direct-io=on
  vramd-fuse-uring/B  the same with --fuse-uring on (needs fuse's enable_uring,
                      which is turned on for the run and restored after)
  ublk/B              vramd --ublk: fio on /dev/ublkbN itself
  zram                a new zram device (lz4 where offered), filled by fio
                      with incompressible data
  tmpfs-loop          losetup --direct-io=on over a file on a new tmpfs
A transport this host or this vramd lacks is skipped with the reason.

Cases (fio numjobs 1, iodepth = the QD): $(for c in "${ALL_CASES[@]}"; do printf '%s ' "${c%% *}"; done)

Options (environment variable in brackets):
  --rounds N          rounds, each every case on every device (ROUNDS, default 2)
  --runtime S         seconds measured per case (RUNTIME, default 5)
  --ramp S            seconds of fio ramp before each measure (RAMP, default 1)
  --size SIZE         size of every device, K/M/G suffix (SIZE, default 1G)
  --out DIR           where the JSON document goes (OUT, default
                      $BUILD/bench-transport)
  --backends "LIST"   vramd backends: null ram vram (BACKENDS, default: null,
                      ram, and vram where vramd --dump-backend says supported)
  --transports "LIST" subset of: nbdfuse kernel vramd-fuse ublk (TRANSPORTS;
                      vramd-fuse means both fuse-uring off and on)
  --refs "LIST"       subset of: zram tmpfs-loop, or "" (REFS)
  --cases "PATTERNS"  only the cases matching these shell patterns (CASES)
  --connections N     nbdfuse -C and nbd-client -connections (CONNECTIONS, default 4)
  --vramd-args "ARGS" extra arguments for every vramd (VRAMD_ARGS)
  --help              this text

BUILD (default $top/build) names the build with vramd.  CPU per I/O
(cpu_us/io) is the CPU time every process on the machine but fio spent
during the fio run (user+system from /proc/PID/stat, with what each
reaped meanwhile; kernel threads included), divided by the I/Os the device
completed meanwhile (/sys/block/DEV/stat): what the server side (vramd,
nbdfuse, loop workers, kworkers) cost per I/O, plus whatever else ran
(each round first samples 1 s of the idle machine to show it).  srv_us/io
counts the daemons and kernel threads alone; fio_us/io is fio's own.  The
/proc/stat busy time less fio's is kept in the JSON (proc_stat_*): it
samples ticks, and on a virtual machine it can read low.
EOF
}

while [ $# -gt 0 ]; do
	opt=$1 val=""
	has_val=0
	case $opt in
	--*=*) val=${opt#*=} opt=${opt%%=*} has_val=1 ;;
	esac
	case $opt in
	--rounds | --runtime | --ramp | --size | --out | --backends | --transports | \
	--refs | --cases | --connections | --vramd-args)
		if [ $has_val = 0 ]; then
			[ $# -ge 2 ] || usage_error "option '$opt' needs a value"
			val=$2
			shift
		fi ;;
	esac
	case $opt in
	--rounds) rounds=$val ;;
	--runtime) runtime_s=$val ;;
	--ramp) ramp_s=$val ;;
	--size) size=$val ;;
	--out) out_dir=$val ;;
	--backends) backends_opt=$val ;;
	--transports) transports_opt=$val ;;
	--refs) refs_opt=$val ;;
	--cases) cases_opt=$val ;;
	--connections) connections=$val ;;
	--vramd-args) vramd_args=$val ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown option '$opt'" ;;
	esac
	shift
done

[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage_error "rounds: '$rounds' is not a positive integer"
[[ $runtime_s =~ ^[1-9][0-9]*$ ]] || usage_error "runtime: '$runtime_s' is not a positive integer"
[[ $ramp_s =~ ^[0-9]+$ ]] || usage_error "ramp: '$ramp_s' is not a whole number of seconds"
[[ $connections =~ ^[1-9][0-9]?$ ]] || usage_error "connections: '$connections' is not 1 to 99"

size_bytes=$(to_bytes "$size")
[ -n "$size_bytes" ] || usage_error "size: '$size' is not a size"
(( size_bytes >= (16 << 20) && size_bytes % (1 << 20) == 0 )) ||
	usage_error "size: '$size' is not a whole number of MiB, at least 16M"

CASE_LIST=("${ALL_CASES[@]}")
[ -z "$cases_opt" ] || mapfile -t CASE_LIST < <(pick_cases "$cases_opt" "${ALL_CASES[@]}")
[ ${#CASE_LIST[@]} -gt 0 ] || usage_error "cases: '$cases_opt' matches no case (see --help)"

for t in $transports_opt; do
	case $t in
	nbdfuse | kernel | vramd-fuse | ublk) ;;
	*) usage_error "transports: unknown transport '$t' (known: nbdfuse kernel vramd-fuse ublk)" ;;
	esac
done
for r in $refs_opt; do
	case $r in
	zram | tmpfs-loop) ;;
	*) usage_error "refs: unknown reference '$r' (known: zram tmpfs-loop)" ;;
	esac
done
if [ "$backends_opt" != auto ]; then
	for b in $backends_opt; do
		case $b in
		null | ram | vram) ;;
		*) usage_error "backends: unknown backend '$b' (known: null ram vram)" ;;
		esac
	done
fi

[ "$(id -u)" = 0 ] ||
	die "needs root (it attaches loop, zram and NBD devices and mounts FUSE and tmpfs); try: sudo $0"
for c in fio jq timeout losetup mount umount; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' not found (scripts/install-deps.sh installs it)"
done
fio --enghelp=io_uring >/dev/null 2>&1 || die "this fio has no io_uring engine (fio --enghelp=io_uring)"
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 2 ]; then
	die "io_uring is disabled here (/proc/sys/kernel/io_uring_disabled = 2)"
fi
[ -z "$transports_opt" ] || [ -x "$VRAMD" ] ||
	die "'$VRAMD' not found: run make, or set TRANSPORTS=\"\" for the references alone"

host=$(uname -n)
host=${host%%.*}
stamp=$(date +%Y%m%d-%H%M%S)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ -n "$out_dir" ] || out_dir=$BUILD/bench-transport
mkdir -p "$out_dir" || die "cannot create '$out_dir'"
out=$out_dir/bench-transport-$host-$stamp.json
clk_tck=$(getconf CLK_TCK)
declare -A SCAN0 SCAN1
# Hard-IRQ time shows in /proc/stat only where the kernel accounts it apart
# from the tasks (CONFIG_IRQ_TIME_ACCOUNTING).
irq_acct=$(awk '$1 == "cpu" { print ($7 > 0) ? 1 : 0 }' /proc/stat)
online_cpus=$(getconf _NPROCESSORS_ONLN)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-transport.XXXXXX") || die "mktemp failed"

progress() {
	echo "$prog: $*" >&2
}

# --- undo stack ----------------------------------------------------------------
# Each change to the machine pushes its undo (a function and internal
# arguments, quoted with %q) before or as it is made; at exit the stack runs
# in reverse.  Every undo is idempotent and has its own time limit.
UNDO=()
written=0

undo_push() {
	local q
	printf -v q '%q ' "$@"
	UNDO+=("$q")
}

run_undo() {
	local i
	for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
		eval "${UNDO[i]}"
		unset 'UNDO[i]'
	done
	UNDO=()
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT
	trap '' INT TERM        # cleanup runs to the end
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
		child=""
	fi
	[ ${#UNDO[@]} = 0 ] || progress "cleaning up"
	run_undo
	if [ "$written" = 0 ] && [ -s "$tmp/runs.jsonl" ]; then
		write_results false && progress "partial results in $out"
	fi
	# Only when nothing is mounted below it any more: rm -rf would reach
	# into a mount that could not be taken down.
	if awk -v t="$tmp/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		progress "WARNING: '$tmp' still has mounts; left in place"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- undo steps ----------------------------------------------------------------
# stop_pid NAME PID: SIGTERM, then SIGKILL after 5 s; reaps our children.
stop_pid() {
	local name=$1 pid=$2 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# A zombie child of ours is gone but for the reaping.
		[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		progress "$name (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# stop_pidfile NAME FILE: stop_pid on the pid FILE holds, if any.
stop_pidfile() {
	local pid=""
	[ -s "$2" ] && read -r pid <"$2"
	[[ $pid =~ ^[1-9][0-9]*$ ]] || return 0
	# Only the process that wrote it: a stale pid may be reused.
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 0
	stop_pid "$1" "$pid"
}

# stop_child DEVICE: the daemon we started in the background for DEVICE.
stop_child() {
	stop_pid "${CHILD_NAME[$1]:-}" "${CHILD_PID[$1]:-}"
	CHILD_PID[$1]=""
}

# detach_loop DEVICE: detach the loop device(s) over DEVICE's backing file
# (losetup -j finds one even when losetup timed out after attaching it).
detach_loop() {
	local d=$1 file=${LOOP_FILE[$1]:-} l
	local -a loops=()
	[ -z "${LOOP_DEV[$d]:-}" ] || loops+=("${LOOP_DEV[$d]}")
	if [ -n "$file" ]; then
		while IFS=: read -r l _; do
			[ -n "$l" ] && [ "$l" != "${LOOP_DEV[$d]:-}" ] && loops+=("$l")
		done < <(timeout 10 losetup -j "$file" 2>/dev/null)
	fi
	for l in "${loops[@]}"; do
		[ -b "$l" ] || continue
		# Not attached any more (or to another file by now): not ours.
		[ -e "/sys/block/${l#/dev/}/loop/backing_file" ] || continue
		[ -z "$file" ] || [ "$(cat "/sys/block/${l#/dev/}/loop/backing_file" 2>/dev/null)" = "$file" ] ||
			continue
		timeout 10 losetup -d "$l" 2>"$tmp/losetup-d.err" ||
			progress "WARNING: losetup -d '$l' failed: $(tail -n 1 "$tmp/losetup-d.err")"
	done
	LOOP_DEV[$d]=""
}

# unmount DIR: unmount a FUSE or tmpfs mount point if it is mounted.
unmount() {
	local dir=$1 i
	for ((i = 0; i < 50; i++)); do
		mounted "$dir" || return 0
		case $(mount_type "$dir") in
		fuse*) timeout 10 fusermount3 -u "$dir" 2>/dev/null ||
			timeout 10 umount "$dir" 2>/dev/null ;;
		*) timeout 10 umount "$dir" 2>/dev/null ;;
		esac
		mounted "$dir" || return 0
		sleep 0.1
	done
	progress "WARNING: '$dir' still mounted after 5 s: detaching it lazily"
	timeout 10 umount -l "$dir" 2>/dev/null
}

mounted() {
	awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}

mount_type() {
	awk -v d="$1" '$2 == d { t = $3 } END { print t }' /proc/mounts
}

# zram_remove ID: reset and remove the zram device we added.
zram_remove() {
	[ -e "/sys/block/zram$1" ] || return 0
	echo 1 >"/sys/block/zram$1/reset" 2>/dev/null
	echo "$1" >/sys/class/zram-control/hot_remove 2>/dev/null ||
		progress "WARNING: cannot remove zram$1"
}

# restore_param FILE VALUE
restore_param() {
	echo "$2" >"$1" 2>/dev/null || progress "WARNING: cannot restore '$1' to '$2'"
}

nbd_disconnect() {
	timeout 30 nbd-client -d "$1" >/dev/null 2>&1 ||
		progress "WARNING: nbd-client -d '$1' failed"
}

# ublk_del DEVICE: delete DEVICE's /dev/ublkbN if its vramd left it.
ublk_del() {
	local dev=${BDEV[$1]:-}
	[ -n "$dev" ] && [ -e "$dev" ] || return 0
	timeout 30 "$VRAMD" --ublk-del "${dev#/dev/ublkb}" >/dev/null 2>&1 ||
		progress "WARNING: vramd --ublk-del ${dev#/dev/ublkb} failed"
}

# unload_module NAME: rmmod a module this script loaded.
unload_module() {
	[ -d "/sys/module/$1" ] || return 0
	timeout 30 rmmod "$1" 2>/dev/null || progress "WARNING: rmmod '$1' failed"
}

# --- what this host can run ----------------------------------------------------
DEVICES=()               # names, in setup order
SKIPPED=()               # JSON objects { device, reason }
declare -A KIND TRANSPORT BACKEND BDEV DAEMONS DINFO LOOP_DEV LOOP_FILE CHILD_PID CHILD_NAME

skip_device() {
	progress "skipped $1: $2"
	SKIPPED+=("$(jq -cn --arg d "$1" --arg r "$2" '{ device: $d, reason: $r }')")
}

vramd_help=""
[ ! -x "$VRAMD" ] || vramd_help=$("$VRAMD" --help 2>&1)
# vramd_has OPTION: vramd --help lists OPTION.
vramd_has() {
	grep -Eq -- "(^|[[:space:],])$1([[:space:],=]|$)" <<<"$vramd_help"
}

# module_loadable NAME: the kernel knows module NAME (loaded, built in, or on disk).
module_loadable() {
	[ -d "/sys/module/$1" ] || timeout 10 modprobe -n -q "$1" 2>/dev/null
}

if [ "$backends_opt" = auto ]; then
	backends="null ram"
	if [ -x "$VRAMD" ]; then
		dump=$(timeout 30 "$VRAMD" --dump-backend --backend vram 2>/dev/null)
		if grep -qx 'supported=yes' <<<"$dump"; then
			backends="$backends vram"
		else
			progress "no vram backend: $(sed -n 's/^reason=//p' <<<"$dump" | head -n 1)"
		fi
	fi
else
	backends=$backends_opt
fi

# plan_transport T: the transport's devices, or why it cannot run here.
plan_transport() {
	local t=$1 why="" b c
	case $t in
	nbdfuse)
		for c in nbdfuse fusermount3; do
			command -v "$c" >/dev/null 2>&1 || why="'$c' not installed"
		done
		[ -n "$why" ] || [ -c /dev/fuse ] || why="no /dev/fuse" ;;
	kernel)
		if ! command -v nbd-client >/dev/null 2>&1; then
			why="'nbd-client' not installed"
		elif [ ! -e /sys/block/nbd0 ] && ! module_loadable nbd; then
			why="no kernel NBD client (no /dev/nbd0, no nbd module)"
		fi ;;
	vramd-fuse)
		if ! vramd_has --fuse; then
			why="this vramd has no --fuse (vramd --help)"
		elif ! command -v fusermount3 >/dev/null 2>&1; then
			why="'fusermount3' not installed"
		elif [ ! -c /dev/fuse ]; then
			why="no /dev/fuse"
		fi ;;
	ublk)
		if ! vramd_has --ublk; then
			why="this vramd has no --ublk (vramd --help)"
		elif [ ! -c /dev/ublk-control ] && ! module_loadable ublk_drv; then
			why="no ublk in this kernel (no /dev/ublk-control, no ublk_drv module)"
		fi ;;
	esac
	if [ -n "$why" ]; then
		for b in $backends; do skip_device "$t/$b" "$why"; done
		return
	fi
	for b in $backends; do
		plan_device "$t/$b" vramd "$t" "$b"
	done
	if [ "$t" = vramd-fuse ]; then
		why=""
		if ! vramd_has --fuse-uring; then
			why="this vramd has no --fuse-uring"
		elif [ ! -e /sys/module/fuse/parameters/enable_uring ]; then
			why="this kernel's fuse has no io_uring (no /sys/module/fuse/parameters/enable_uring)"
		fi
		for b in $backends; do
			if [ -n "$why" ]; then
				skip_device "vramd-fuse-uring/$b" "$why"
			else
				plan_device "vramd-fuse-uring/$b" vramd vramd-fuse-uring "$b"
			fi
		done
	fi
}

plan_device() {
	DEVICES+=("$1")
	KIND[$1]=$2
	TRANSPORT[$1]=$3
	BACKEND[$1]=$4
}

for t in $transports_opt; do
	plan_transport "$t"
done
for r in $refs_opt; do
	case $r in
	zram)
		if [ -w /sys/class/zram-control/hot_add ] || module_loadable zram; then
			plan_device zram ref zram ""
		else
			skip_device zram "no zram in this kernel (no /sys/class/zram-control, no zram module)"
		fi ;;
	tmpfs-loop) plan_device tmpfs-loop ref tmpfs-loop "" ;;
	esac
done
[ ${#DEVICES[@]} -gt 0 ] || die "no device left to measure"

# Memory: every device that stores data holds SIZE of it in host memory
# (zram holds incompressible pages whole).
need=0
for d in "${DEVICES[@]}"; do
	case ${BACKEND[$d]} in
	null | vram) ;;
	*) need=$((need + size_bytes)) ;;
	esac
done
avail=$(awk '$1 == "MemAvailable:" { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
if (( need + (512 << 20) > avail )); then
	die "the devices would hold $((need >> 20)) MiB of host memory and only" \
		"$((avail >> 20)) MiB is available (with 512 MiB to spare): lower SIZE or drop some"
fi

# --- setting devices up ----------------------------------------------------------
# start_vramd DEVICE ARGS...: vramd for DEVICE (it daemonizes and returns
# once it serves), its stdout in $tmp/N/vramd.out.
start_vramd() {
	local d=$1 dir=${DIR[$1]} rc pid
	shift
	local -a cmd=("$VRAMD" --backend "${BACKEND[$d]}" --size "$size" --no-swap
		--pidfile "$dir/vramd.pid" --log "$dir/vramd.log")
	# shellcheck disable=SC2206 # extra options, word-split on purpose
	cmd+=($vramd_args "$@")
	CMDS[$d]="${cmd[*]}"
	undo_push stop_pidfile vramd "$dir/vramd.pid"
	timeout --kill-after=5 60 "${cmd[@]}" >"$dir/vramd.out" 2>"$dir/vramd.err" </dev/null
	rc=$?
	if [ $rc != 0 ]; then
		progress "vramd for $d: status $rc$([ $rc = 124 ] && echo ' (timed out after 60 s)'):" \
			"$(tail -n 3 "$dir/vramd.err" "$dir/vramd.log" 2>/dev/null | grep -v '^==>' | grep -v '^$' | tail -n 2)"
		return 1
	fi
	read -r pid 2>/dev/null <"$dir/vramd.pid"
	if ! [[ ${pid:-} =~ ^[1-9][0-9]*$ ]] || ! kill -0 "$pid" 2>/dev/null; then
		progress "vramd for $d wrote no live pid to '$dir/vramd.pid'"
		return 1
	fi
	DAEMONS[$d]="${DAEMONS[$d]:-} $pid"
}

# attach_loop DEVICE FILE: losetup --direct-io=on over FILE; sets BDEV.
attach_loop() {
	local d=$1 file=$2 l dio
	LOOP_FILE[$d]=$file
	undo_push detach_loop "$d"
	l=$(timeout 30 losetup --direct-io=on -f --show "$file" 2>"${DIR[$d]}/losetup.err") ||
		{ progress "losetup over '$file' failed: $(tail -n 1 "${DIR[$d]}/losetup.err")"; return 1; }
	[[ $l =~ ^/dev/loop[0-9]+$ ]] || { progress "losetup printed '$l'"; return 1; }
	LOOP_DEV[$d]=$l
	BDEV[$d]=$l
	dio=$(cat "/sys/block/${l#/dev/}/loop/dio" 2>/dev/null)
	[ "$dio" = 1 ] || progress "WARNING: $d: '$l' has no direct I/O (the page cache is in the path)"
	DINFO[$d]=$(jq -c --argjson dio "$([ "$dio" = 1 ] && echo true || echo false)" \
		'. + { loop_direct_io: $dio }' <<<"${DINFO[$d]}")
}

# wait_file FILE PID SECONDS: until FILE exists with a size, or PID dies.
wait_file() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		[ -s "$1" ] && return 0
		[ -z "$2" ] || kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

setup_nbdfuse() {
	local d=$1 dir=${DIR[$1]} sock=${DIR[$1]}/vramd.sock
	mkdir "$dir/mnt" || return 1
	start_vramd "$d" --socket "$sock" || return 1
	CHILD_NAME[$d]=nbdfuse
	undo_push stop_child "$d"
	undo_push unmount "$dir/mnt"
	# INT ignored: on ^C the cleanup, not the terminal, takes nbdfuse down,
	# after the loop device above it (libfuse keeps an ignored signal ignored).
	(trap '' INT; exec nbdfuse -P "$dir/nbdfuse.pid" -C "$connections" "$dir/mnt/nbd" \
		--unix "$sock") >"$dir/nbdfuse.log" 2>&1 </dev/null &
	CHILD_PID[$d]=$!
	CMDS[$d]="${CMDS[$d]}; nbdfuse -P PIDFILE -C $connections MNT/nbd --unix SOCK"
	if ! wait_file "$dir/nbdfuse.pid" "${CHILD_PID[$d]}" 20 ||
		! wait_file "$dir/mnt/nbd" "${CHILD_PID[$d]}" 20; then
		progress "nbdfuse did not serve '$dir/mnt/nbd' within 20 s: $(tail -n 1 "$dir/nbdfuse.log")"
		return 1
	fi
	DAEMONS[$d]="${DAEMONS[$d]} ${CHILD_PID[$d]}"
	attach_loop "$d" "$dir/mnt/nbd"
}

setup_kernel() {
	local d=$1 dir=${DIR[$1]} sock=${DIR[$1]}/vramd.sock n dev=""
	start_vramd "$d" --socket "$sock" || return 1
	if [ ! -e /sys/block/nbd0 ]; then
		undo_push unload_module nbd
		timeout 30 modprobe nbd || { progress "modprobe nbd failed"; return 1; }
	fi
	for n in /sys/block/nbd*; do
		[ -e "$n/pid" ] && continue
		[ "$(cat "$n/size" 2>/dev/null)" = 0 ] || continue
		dev=/dev/${n##*/}
		break
	done
	[ -n "$dev" ] || { progress "no free /dev/nbdN"; return 1; }
	undo_push nbd_disconnect "$dev"
	timeout 30 nbd-client -unix "$sock" "$dev" -b 4096 -connections "$connections" \
		>"$dir/nbd-client.log" 2>&1 ||
		{ progress "nbd-client on '$dev' failed: $(tail -n 1 "$dir/nbd-client.log")"; return 1; }
	CMDS[$d]="${CMDS[$d]}; nbd-client -unix SOCK $dev -b 4096 -connections $connections"
	BDEV[$d]=$dev
}

# The fuse module's io_uring switch, on for the uring devices: their vramd
# registers its rings at start-up.  What it was when first read is what the
# undo restores, even when some other program switches it meanwhile (then
# it is switched on again before the next vramd starts).
uring_param=/sys/module/fuse/parameters/enable_uring
uring_orig=""
fuse_uring_on() {
	local cur
	cur=$(cat "$uring_param") || return 1
	if [ -z "$uring_orig" ]; then
		uring_orig=$cur
		undo_push restore_param "$uring_param" "$uring_orig"
	fi
	case $cur in
	Y | 1) return 0 ;;
	esac
	echo Y >"$uring_param" || { progress "cannot turn on '$uring_param'"; return 1; }
	progress "turned on $uring_param (was $cur; $uring_orig at exit)"
}

setup_vramd_fuse() {
	local d=$1 dir=${DIR[$1]} uring=off file
	[ "${TRANSPORT[$d]}" = vramd-fuse-uring ] && uring=on
	mkdir "$dir/mnt" || return 1
	undo_push unmount "$dir/mnt"
	if [ $uring = on ]; then
		fuse_uring_on || return 1
	fi
	if vramd_has --fuse-uring; then
		start_vramd "$d" --fuse "$dir/mnt" --fuse-uring "$uring" || return 1
	else
		start_vramd "$d" --fuse "$dir/mnt" || return 1
	fi
	# The parent prints the file's path once it serves.
	file=$(grep -v '^[[:space:]]*$' "$dir/vramd.out" | tail -n 1)
	case $file in
	"$dir/mnt/"*) ;;
	*) progress "vramd --fuse printed '$file', not a file under '$dir/mnt'"; return 1 ;;
	esac
	[ -f "$file" ] || { progress "'$file' is not a file"; return 1; }
	attach_loop "$d" "$file"
}

setup_ublk() {
	local d=$1 dir=${DIR[$1]} dev
	if [ ! -c /dev/ublk-control ]; then
		undo_push unload_module ublk_drv
		timeout 30 modprobe ublk_drv || { progress "modprobe ublk_drv failed"; return 1; }
	fi
	# Runs after vramd is stopped: a vramd that had to be killed leaves
	# its device behind.
	undo_push ublk_del "$d"
	start_vramd "$d" --ublk || return 1
	dev=$(grep -v '^[[:space:]]*$' "$dir/vramd.out" | tail -n 1)
	if ! [[ $dev =~ ^/dev/ublkb[0-9]+$ ]] || [ ! -b "$dev" ]; then
		progress "vramd --ublk printed '$dev', not a ublk block device"
		return 1
	fi
	BDEV[$d]=$dev
}

setup_zram() {
	local d=$1 id alg
	if [ ! -e /sys/class/zram-control/hot_add ]; then
		undo_push unload_module zram
		timeout 30 modprobe zram num_devices=0 || { progress "modprobe zram failed"; return 1; }
	fi
	# A device of our own: zram0 may be someone else's.
	id=$(cat /sys/class/zram-control/hot_add)
	[[ $id =~ ^[0-9]+$ ]] || { progress "cannot add a zram device"; return 1; }
	undo_push zram_remove "$id"
	alg=$(tr -d '[]' <"/sys/block/zram$id/comp_algorithm" | tr ' ' '\n' | grep -x lz4)
	if [ -n "$alg" ]; then
		echo lz4 >"/sys/block/zram$id/comp_algorithm" || alg=""
	fi
	[ -n "$alg" ] || alg=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "/sys/block/zram$id/comp_algorithm")
	echo "$size_bytes" >"/sys/block/zram$id/disksize" ||
		{ progress "cannot size zram$id"; return 1; }
	BDEV[$d]=/dev/zram$id
	CMDS[$d]="zram-control/hot_add; comp_algorithm=$alg; disksize=$size_bytes"
	DINFO[$d]=$(jq -c --arg alg "$alg" '. + { comp_algorithm: $alg }' <<<"${DINFO[$d]}")
}

setup_tmpfs_loop() {
	local d=$1 dir=${DIR[$1]}
	mkdir "$dir/tmpfs" || return 1
	undo_push unmount "$dir/tmpfs"
	timeout 30 mount -t tmpfs -o "size=$((size_bytes + (16 << 20))),mode=0700" tmpfs "$dir/tmpfs" ||
		{ progress "cannot mount a tmpfs on '$dir/tmpfs'"; return 1; }
	truncate -s "$size_bytes" "$dir/tmpfs/disk" || return 1
	CMDS[$d]="mount -t tmpfs; truncate -s $size_bytes FILE; losetup --direct-io=on -f --show FILE"
	attach_loop "$d" "$dir/tmpfs/disk"
}

declare -A DIR CMDS
setup_device() {
	local d=$1 i=$2
	DIR[$d]=$tmp/dev$i
	mkdir -p "${DIR[$d]}" || return 1
	DINFO[$d]='{}'
	DAEMONS[$d]=""
	case ${TRANSPORT[$d]} in
	nbdfuse) setup_nbdfuse "$d" ;;
	kernel) setup_kernel "$d" ;;
	vramd-fuse | vramd-fuse-uring) setup_vramd_fuse "$d" ;;
	ublk) setup_ublk "$d" ;;
	zram) setup_zram "$d" ;;
	tmpfs-loop) setup_tmpfs_loop "$d" ;;
	esac
}

# --- measuring ------------------------------------------------------------------
# cpu_busy: the machine's busy and total clock ticks so far (/proc/stat's
# cpu line: busy = user + nice + system + irq + softirq; guest time is in
# user already, steal is another guest's).  Sets BUSY, TOTAL and IRQ
# (irq + softirq); builtins only, so no child is reaped between readings.
cpu_busy() {
	local name user nice system idle iowait irq softirq steal rest
	read -r name user nice system idle iowait irq softirq steal rest </proc/stat
	BUSY=$((user + nice + system + irq + softirq))
	TOTAL=$((BUSY + idle + iowait + steal))
	IRQ=$((irq + softirq))
}

# children_ticks: user+system ticks of this shell's reaped children (cutime
# + cstime, fields 16 and 17 of /proc/PID/stat): fio, its job processes and
# io_uring workers, added when the timeout wrapper around it is reaped.
children_ticks() {
	local stat
	local -a f
	read -r stat </proc/$$/stat
	read -ra f <<<"${stat##*) }"
	CHILD_TICKS=$((f[13] + f[14]))
}

# scan_procs NAME: fills the associative array NAME with "TICKS PPID" for
# every process but this shell, TICKS its user+system time plus that of
# its reaped children (fields 14-17 of /proc/PID/stat: the kernel's task
# times, exact where /proc/stat samples ticks; on this kind of virtual
# machine /proc/stat lost a sixth of the time).
# shellcheck disable=SC2034 # into: a reference to the caller's array
scan_procs() {
	local -n into=$1
	local f stat pid
	local -a a
	into=()
	for f in /proc/[0-9]*/stat; do
		read -r stat 2>/dev/null <"$f" || continue
		pid=${f#/proc/}
		pid=${pid%/stat}
		[ "$pid" != $$ ] || continue
		read -ra a <<<"${stat##*) }"
		into["$pid"]="$((a[11] + a[12] + a[13] + a[14])) ${a[1]}"
	done
}

# proc_deltas [PID...]: from SCAN0 and SCAN1, the ticks every other process
# (ALL_TICKS), the kernel threads (children of kthreadd, pid 2: loop
# workers, kworkers, ksoftirqd; KTHREAD_TICKS) and the daemons PID...
# (DAEMON_TICKS) spent in between.  A process new in SCAN1 counts whole
# (it started meanwhile); one that exited meanwhile counts in its parent's
# children's time if the parent reaped it, else not at all.
proc_deltas() {
	local pid t ppid t0 dt p all=0 kt=0 dm=0
	for pid in "${!SCAN1[@]}"; do
		read -r t ppid <<<"${SCAN1[$pid]}"
		t0=${SCAN0[$pid]:-}
		t0=${t0%% *}
		dt=$t
		[ -z "$t0" ] || [ "$t" -lt "$t0" ] || dt=$((t - t0))  # a reused pid counts whole
		all=$((all + dt))
		[ "$ppid" != 2 ] && [ "$pid" != 2 ] || kt=$((kt + dt))
		for p in "$@"; do
			[ "$p" != "$pid" ] || dm=$((dm + dt))
		done
	done
	ALL_TICKS=$all KTHREAD_TICKS=$kt DAEMON_TICKS=$dm
}

# disk_ios DEV: reads + writes completed by block device DEV so far.
disk_ios() {
	local -a f
	read -ra f 2>/dev/null </sys/block/"${1#/dev/}"/stat || { DISK_IOS=-1; return; }
	DISK_IOS=$((f[0] + f[4]))
}

# daemons_alive DEVICE: every daemon serving DEVICE still runs.
daemons_alive() {
	local p
	for p in ${DAEMONS[$1]}; do
		kill -0 "$p" 2>/dev/null || return 1
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ] || return 1
	done
	return 0
}

# Write every byte once, so that reads are of data, not of holes (zram and
# tmpfs answer those without a copy); fio's buffers are random, refilled
# for every write: nothing for zram to compress.
prefill() {
	local d=$1 json=$tmp/prefill.json rc t0 t1 rec zram=""
	printf '[prefill] %s %s ... ' "$d" "${BDEV[$d]}" >&2
	t0=$(date +%s.%N)
	run_fio "$json" 600 --ioengine=io_uring --direct=1 --name=prefill --filename="${BDEV[$d]}" --rw=write --bs=1m \
		--iodepth=8 --size="$size_bytes" --refill_buffers
	rc=$?
	t1=$(date +%s.%N)
	if [ "${TRANSPORT[$d]}" = zram ]; then
		# mm_stat: orig_data_size compr_data_size mem_used_total ...
		zram=$(awk '{ printf "{\"orig_data_bytes\":%d,\"compr_data_bytes\":%d,\"mem_used_bytes\":%d}", $1, $2, $3 }' \
			"/sys/block/${BDEV[$d]#/dev/}/mm_stat" 2>/dev/null)
	fi
	rec=$(jq -c --argjson rc "$rc" --arg t0 "$t0" --arg t1 "$t1" --argjson zram "${zram:-null}" '
		.jobs[0] as $j |
		{ fio_exit_code: $rc, fio_error: $j.error, io_bytes: $j.write.io_bytes,
		  bw_bytes_per_s: $j.write.bw_bytes,
		  elapsed_s: (($t1 | tonumber) - ($t0 | tonumber)) }
		+ (if $zram then { zram_mm_stat: $zram } else {} end)' "$json" 2>/dev/null)
	if [ $rc -ne 0 ] || [ -z "$rec" ] ||
		[ "$(jq --argjson n "$size_bytes" '.fio_error == 0 and .io_bytes == $n' <<<"$rec")" != true ]; then
		echo "failed" >&2
		progress "pre-fill of $d failed: $(fio_reason $rc)"
		return 1
	fi
	DINFO[$d]=$(jq -c --argjson p "$rec" '. + { prefill: $p }' <<<"${DINFO[$d]}")
	jq -r '"\(.bw_bytes_per_s / 1e9 * 100 | round / 100) GB/s, \(.elapsed_s * 10 | round / 10) s" +
		(if .zram_mm_stat then ", zram stores \(.zram_mm_stat.compr_data_bytes / .zram_mm_stat.orig_data_bytes * 100 | round)% of the data size" else "" end)' \
		<<<"$rec" >&2
}

# idle_sample ROUND: how many CPUs the machine kept busy over 1 s with
# nothing measured (every process's time, as in measure).
idle_sample() {
	local w0 w1
	scan_procs SCAN0
	w0=$EPOCHREALTIME
	sleep 1
	w1=$EPOCHREALTIME
	scan_procs SCAN1
	proc_deltas
	jq -cn --argjson round "$1" --argjson ticks "$ALL_TICKS" --argjson hz "$clk_tck" \
		--arg w0 "$w0" --arg w1 "$w1" \
		'{ round: $round, busy_cpus: ($ticks / $hz / (($w1 | tonumber) - ($w0 | tonumber))) }' \
		>>"$tmp/idle.jsonl"
}

# measure CASE-FIELDS... DEVICE ROUND ORDER: one run; appends a record to
# runs.jsonl and prints its figures.
measure() {
	local name=$1 rw=$2 bs=$3 qd=$4 jobs=$5 d=$6 round=$7 order=$8
	local json=$tmp/run.json dir=read rc limit
	local b0 t0 q0 c0 i0 b1 t1 q1 c1 i1 w0 w1 irq_add=0
	case $rw in
	*write) dir="write" ;;
	esac
	if ! daemons_alive "$d"; then
		jq -cn --arg case "$name" --arg device "$d" --argjson round "$round" \
			'{ case: $case, device: $device, round: $round, valid: false,
			   reason: "server not running" }' >>"$tmp/runs.jsonl"
		echo "ERR (server not running)"
		return
	fi
	limit=$((ramp_s + runtime_s + 30))
	disk_ios "${BDEV[$d]}"
	i0=$DISK_IOS
	scan_procs SCAN0
	children_ticks
	c0=$CHILD_TICKS
	w0=$EPOCHREALTIME
	cpu_busy
	b0=$BUSY t0=$TOTAL q0=$IRQ
	run_fio "$json" "$limit" --ioengine=io_uring --direct=1 --name="$name" --filename="${BDEV[$d]}" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --numjobs="$jobs" --group_reporting --time_based \
		--runtime="$runtime_s" --ramp_time="$ramp_s" --norandommap --randrepeat=0 \
		--size="$size_bytes" --percentile_list=50:90:99:99.9
	rc=$?
	cpu_busy
	b1=$BUSY t1=$TOTAL q1=$IRQ
	w1=$EPOCHREALTIME
	children_ticks
	c1=$CHILD_TICKS
	scan_procs SCAN1
	disk_ios "${BDEV[$d]}"
	i1=$DISK_IOS
	# shellcheck disable=SC2086 # DAEMONS: a list of pids
	proc_deltas ${DAEMONS[$d]}
	# Where the kernel keeps interrupt time apart from tasks' (it shows
	# hard-IRQ time at all), add it; else it is in the interrupted tasks'.
	[ "$irq_acct" = 0 ] || irq_add=$((q1 - q0))
	local alive=true
	daemons_alive "$d" || alive=false
	local ios=$((i1 - i0))
	[ "$i0" -ge 0 ] && [ "$i1" -ge 0 ] || ios=-1
	jq -c --arg case "$name" --arg device "$d" --argjson round "$round" --argjson order "$order" \
		--arg dir "$dir" --argjson rc "$rc" --arg reason "$(fio_reason "$rc")" \
		--argjson alive "$alive" --argjson tick_us "$((1000000 / clk_tck))" \
		--argjson busy "$((b1 - b0))" --argjson total "$((t1 - t0))" \
		--argjson fio "$((c1 - c0))" --argjson daemon "$DAEMON_TICKS" --argjson kthread "$KTHREAD_TICKS" \
		--argjson all "$((ALL_TICKS + irq_add))" \
		--argjson has_daemon "$([ -n "${DAEMONS[$d]// /}" ] && echo true || echo false)" \
		--argjson ios "$ios" --arg w0 "$w0" --arg w1 "$w1" --argjson cpus "$online_cpus" "$fio_jq"'
		def per($n; $d): if $d > 0 then $n / $d else null end;
		(.jobs[0][$dir].total_ios // 0) as $fio_ios |
		(if $ios > 0 then $ios else $fio_ios end) as $n |
		{ case: $case, device: $device, round: $round, order: $order }
		+ fio_figures($dir; $rc; $reason; $alive) +
		{ fio_ios: $fio_ios,
		  window_s: (($w1 | tonumber) - ($w0 | tonumber)),
		  device_ios: (if $ios >= 0 then $ios else null end),
		  busy_cpus: (if $total > 0 then $busy / $total * $cpus else null end),
		  proc_stat_busy_us: ($busy * $tick_us),
		  proc_stat_cpu_per_io_us: per(($busy - $fio) * $tick_us; $n),
		  fio_cpu_us: ($fio * $tick_us),
		  server_cpu_us: ($all * $tick_us),
		  cpu_per_io_us: per($all * $tick_us; $n),
		  fio_cpu_per_io_us: per($fio * $tick_us; $n),
		  daemon_cpu_us: (if $has_daemon then $daemon * $tick_us else null end),
		  daemon_cpu_per_io_us: (if $has_daemon then per($daemon * $tick_us; $n) else null end),
		  kthread_cpu_us: ($kthread * $tick_us),
		  srv_cpu_per_io_us: per(($daemon + $kthread) * $tick_us; $n),
		  total_cpu_per_io_us: per(($all + $fio) * $tick_us; $n) }' \
		"$json" >"$tmp/rec.json" 2>/dev/null ||
		jq -cn --arg case "$name" --arg device "$d" --argjson round "$round" \
			--argjson rc "$rc" --arg reason "$(fio_reason "$rc")" \
			'{ case: $case, device: $device, round: $round, valid: false,
			   reason: $reason, fio_exit_code: $rc }' >"$tmp/rec.json"
	cat "$tmp/rec.json" >>"$tmp/runs.jsonl"
	jq -r 'def r(n): . * n | round / n;
		if .valid | not then "ERR (\(.reason))"
		else "\(.iops / 1000 | r(10)) kIOPS, p50 \(.lat_p50_us | r(10)) us, p99 \(.lat_p99_us | r(10)) us, " +
			"\(if .cpu_per_io_us == null then "-" else .cpu_per_io_us | r(100) end) us CPU/IO" end' \
		"$tmp/rec.json"
}

# --- results -------------------------------------------------------------------
fingerprint() {
	jq -n --argjson machine "$(host_json)" \
		--arg describe "$(git -C "$top" describe --always --dirty 2>/dev/null)" \
		--arg fio "$(version_of fio --version)" \
		--arg nbdfuse "$(version_of nbdfuse --version)" \
		--arg nbdclient "$(nbd-client -V 2>&1 | grep -m1 "from nbd")" \
		--arg vramd "$([ -x "$VRAMD" ] && version_of "$VRAMD" --version)" \
		--arg vcommit "$([ -x "$VRAMD" ] && "$VRAMD" --backend null --dump-backend 2>/dev/null |
			sed -n 's/^commit=//p')" '
		def nz: if . == "" then null else . end;
		$machine +
		{ git_describe: ($describe | nz), vramd_commit: ($vcommit | nz),
		  versions: { fio: ($fio | nz), nbdfuse: ($nbdfuse | nz),
			      nbd_client: ($nbdclient | nz), vramd: ($vramd | nz) } }'
}

devices_json() {
	local d info
	for d in "${DEVICES[@]}"; do
		info=${DINFO[$d]:-}
		[ -n "$info" ] || info='{}'
		jq -cn --arg name "$d" --arg kind "${KIND[$d]}" --arg transport "${TRANSPORT[$d]}" \
			--arg backend "${BACKEND[$d]}" --arg bdev "${BDEV[$d]:-}" \
			--arg command "${CMDS[$d]:-}" --argjson info "$info" '
			def nz: if . == "" then null else . end;
			{ name: $name, kind: $kind, transport: $transport,
			  backend: ($backend | nz), block_device: ($bdev | nz),
			  command: ($command | nz) } + $info'
	done
}

cases_json() {
	local c
	for c in "${CASE_LIST[@]}"; do
		# shellcheck disable=SC2086
		set -- $c
		jq -cn --arg name "$1" --arg rw "$2" --arg bs "$3" --argjson qd "$4" --argjson jobs "$5" '
			{ name: $name, rw: $rw,
			  bs_bytes: ($bs | rtrimstr("k") | tonumber * 1024),
			  iodepth: $qd, numjobs: $jobs }'
	done
}

# write_results COMPLETE: the JSON document: settings, every run, medians
# with min and max over the valid rounds, ratios and goals.
write_results() {
	local complete=$1
	touch "$tmp/runs.jsonl" "$tmp/idle.jsonl"
	jq -n --argjson complete "$complete" --arg started "$started_at" \
		--arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--argjson fingerprint "$(fingerprint)" \
		--argjson devices "$(devices_json | jq -sc .)" \
		--argjson skipped "$(printf '%s\n' "${SKIPPED[@]}" | jq -sc .)" \
		--argjson cases "$(cases_json | jq -sc .)" \
		--slurpfile runs "$tmp/runs.jsonl" --slurpfile idle "$tmp/idle.jsonl" \
		--argjson rounds "$rounds" --argjson runtime "$runtime_s" --argjson ramp "$ramp_s" \
		--argjson size "$size_bytes" --arg backends "$backends" \
		--argjson conns "$connections" --arg vramd_args "$vramd_args" '
		def median: sort | length as $n |
			if $n == 0 then null
			elif $n % 2 == 1 then .[($n - 1) / 2]
			else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
		def keys_: ["iops", "bw_bytes_per_s", "lat_p50_us", "lat_p99_us", "lat_p99_9_us",
			    "cpu_per_io_us", "srv_cpu_per_io_us", "fio_cpu_per_io_us", "daemon_cpu_per_io_us",
			    "total_cpu_per_io_us", "busy_cpus"];
		( [ $cases[] as $c | $devices[] as $d |
		    [ $runs[] | select(.case == $c.name and .device == $d.name) ] as $r |
		    [ $r[] | select(.valid) ] as $v |
		    { case: $c.name, device: $d.name, rounds: ($r | length),
		      valid_rounds: ($v | length) } +
		    ([ (keys_ | .[]) as $k | [ $v[] | .[$k] | select(. != null) ] as $x |
		       { key: $k, value: ($x | median) },
		       { key: "\($k)_min", value: ($x | min) },
		       { key: "\($k)_max", value: ($x | max) } ] | from_entries) ] ) as $summary |
		def val($c; $d; $k): [ $summary[] | select(.case == $c and .device == $d) ][0] | .[$k];
		def ratio($a; $b): if $a == null or $b == null or $b <= 0 then null else $a / $b end;
		# CPU time is sampled in ticks: under 1 us per I/O it is noise (zram
		# works in fio'\''s context, and its own figure is about 0).
		def cpu_ratio($a; $b): if $a == null or $b == null or $b < 1 or $a < 0 then null else $a / $b end;
		[ $devices[] | .name ] as $names |
		def present($n): $names | index($n) != null;
		( [ $cases[].name as $c | $devices[] | select(.kind == "vramd") as $d |
		    ( (if $d.transport != "nbdfuse" then ["nbdfuse/\($d.backend)"] else [] end)
		      + ["zram", "tmpfs-loop"] )[] as $p | select(present($p)) |
		    { case: $c, device: $d.name, peer: $p,
		      iops_x: ratio(val($c; $d.name; "iops"); val($c; $p; "iops")),
		      lat_p50_x: ratio(val($c; $d.name; "lat_p50_us"); val($c; $p; "lat_p50_us")),
		      lat_p99_x: ratio(val($c; $d.name; "lat_p99_us"); val($c; $p; "lat_p99_us")),
		      cpu_per_io_x: cpu_ratio(val($c; $d.name; "cpu_per_io_us"); val($c; $p; "cpu_per_io_us")),
		      srv_cpu_per_io_x: cpu_ratio(val($c; $d.name; "srv_cpu_per_io_us"); val($c; $p; "srv_cpu_per_io_us")),
		      total_cpu_per_io_x: cpu_ratio(val($c; $d.name; "total_cpu_per_io_us"); val($c; $p; "total_cpu_per_io_us")) } ] ) as $ratios |
		( [ ("vramd-fuse/ram", "vramd-fuse-uring/ram") as $d |
		    select(present($d) or ($skipped | map(.device) | index($d) != null)) |
		    def goal($what; $case; $value; $op; $target):
			{ device: $d, goal: $what, case: $case, value: $value, op: $op, target: $target,
			  srv_cpu_ratio: null,
			  met: (if $value == null or $target == null then null
				elif $op == ">=" then $value >= $target else $value <= $target end) };
		    goal("randread 4K QD32 IOPS"; "randread-4k-qd32"; val("randread-4k-qd32"; $d; "iops"); ">="; 100000),
		    goal("randread 4K QD32 IOPS / nbdfuse/ram"; "randread-4k-qd32";
			 ratio(val("randread-4k-qd32"; $d; "iops"); val("randread-4k-qd32"; "nbdfuse/ram"; "iops")); ">="; 3.3),
		    goal("randread 4K QD1 p50 us"; "randread-4k-qd1"; val("randread-4k-qd1"; $d; "lat_p50_us"); "<="; 45),
		    goal("randwrite 4K QD1 p50 us"; "randwrite-4k-qd1"; val("randwrite-4k-qd1"; $d; "lat_p50_us"); "<="; 45),
		    (("randread-4k-qd32", "randwrite-4k-qd32") as $c |
		     goal("\($c | split("-") | .[0]) 4K QD32 CPU per I/O / nbdfuse/ram"; $c;
			  cpu_ratio(val($c; $d; "cpu_per_io_us"); val($c; "nbdfuse/ram"; "cpu_per_io_us")); "<="; (1 / 3))
		     | .srv_cpu_ratio = cpu_ratio(val($c; $d; "srv_cpu_per_io_us"); val($c; "nbdfuse/ram"; "srv_cpu_per_io_us"))) ]
		  + [ ("ublk/vram", "kernel/vram", "vramd-fuse/vram", "vramd-fuse-uring/vram") as $d |
		    select(present($d)) |
		    def goal($what; $case; $value; $op; $target):
			{ device: $d, goal: $what, case: $case, value: $value, op: $op, target: $target,
			  srv_cpu_ratio: null,
			  met: (if $value == null then null
				elif $op == ">=" then $value >= $target else $value <= $target end) };
		    goal("randread 4K QD1 p50 us"; "randread-4k-qd1"; val("randread-4k-qd1"; $d; "lat_p50_us"); "<="; 30),
		    goal("randread 4K QD32 IOPS"; "randread-4k-qd32"; val("randread-4k-qd32"; $d; "iops"); ">="; 400000) ] ) as $goals |
		{ schema_version: 1, tool: "bench-transport", complete: $complete,
		  started_at: $started, finished_at: $finished,
		  fingerprint: $fingerprint,
		  settings: { rounds: $rounds, runtime_s: $runtime, ramp_s: $ramp, size_bytes: $size,
			      backends: ($backends | split(" ") | map(select(. != ""))),
			      connections: $conns, vramd_args: $vramd_args,
			      fio: { ioengine: "io_uring", direct: 1, norandommap: 1, randrepeat: 0,
				     numjobs_iodepth: "one job per case; iodepth = the case QD" },
			      order: "rounds interleaved: every case on every device per round, device order rotated by one each round",
			      summary: "median, _min and _max over the valid rounds",
			      notes: [ "lat_*_us: fio completion latency (clat) percentiles",
				       "cpu_per_io_us: CPU time of every process but fio (and this script) during the fio run / device_ios: user+system+reaped children from /proc/PID/stat, kernel threads included, hard-IRQ and softirq time from /proc/stat added where the kernel keeps it apart; the server side (daemons, loop workers, kworkers) plus whatever else ran; see idle[] for the idle machine",
				       "proc_stat_cpu_per_io_us: the /proc/stat way: whole-machine busy time (user+nice+system+irq+softirq) less fio'\''s / device_ios; tick-sampled, it read low (below fio'\''s own time) on a virtual machine",
				       "device_ios: reads+writes the block device completed during the fio run (/sys/block/DEV/stat), ramp included, as is the CPU window",
				       "daemon_cpu_per_io_us: user+system time of the vramd and nbdfuse processes alone (/proc/PID/stat) / device_ios",
				       "srv_cpu_per_io_us: the daemons plus every kernel thread (children of kthreadd: loop workers, kworkers, ksoftirqd) / device_ios; blind to other processes, and to work done in fio'\''s own context (zram compresses there)",
				       "fio_cpu_per_io_us: fio'\''s user+system time (its processes and io_uring workers) / device_ios; total_cpu_per_io_us: cpu_per_io_us + fio_cpu_per_io_us",
				       "ratios: device median / peer median; *_x above 1 is better for iops, below 1 for latency and CPU; no CPU ratio where the peer'\''s figure is under 1 us per I/O (tick sampling)" ] },
		  devices: $devices, skipped: $skipped, cases: $cases, idle: $idle,
		  runs: $runs, summary: $summary, ratios: $ratios, goals: $goals }' \
		>"$out.tmp" && mv "$out.tmp" "$out" && written=1
}

# align: TSV on stdin -> columns, the first left-aligned, the rest right.
align() {
	awk -F'\t' '
		{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
		  if (NF > nf) nf = NF }
		END {
			for (r = 1; r <= NR; r++) {
				line = ""
				for (i = 1; i <= nf; i++)
					line = line sprintf(i == 1 ? "%-*s  " : "%*s  ", w[i], cell[r, i])
				sub(/ +$/, "", line)
				print line
			}
		}'
}

print_tables() {
	local c
	for c in "${CASE_LIST[@]}"; do
		c=${c%% *}
		jq -r --arg c "$c" '.cases[] | select(.name == $c) |
			"## \(.name): fio \(.rw), \(.bs_bytes / 1024) KiB, numjobs \(.numjobs), iodepth \(.iodepth)"' "$out"
		jq -r --arg c "$c" '
			def r(n): . * n | round / n;
			def cell($k; $scale; $n):
				if .[$k] == null then "-"
				elif .rounds > 1 then
					"\(.[$k] / $scale | r($n)) (\(.["\($k)_min"] / $scale | r($n))-\(.["\($k)_max"] / $scale | r($n)))"
				else "\(.[$k] / $scale | r($n))" end;
			["device", "kIOPS", "p50_us", "p99_us", "cpu_us/io", "srv_us/io", "fio_us/io", "valid"],
			(.summary[] | select(.case == $c) |
			 [ .device, cell("iops"; 1000; 10), cell("lat_p50_us"; 1; 10), cell("lat_p99_us"; 1; 10),
			   cell("cpu_per_io_us"; 1; 10), cell("srv_cpu_per_io_us"; 1; 10),
			   cell("fio_cpu_per_io_us"; 1; 10), "\(.valid_rounds)/\(.rounds)" ])
			| @tsv' "$out" | align
		echo
	done
	if [ "$(jq '.ratios | length' "$out")" != 0 ]; then
		echo "## ratios, median / median (IOPS: above 1 is better; p50, p99, CPU per I/O: below 1;"
		echo "## all/io: CPU per I/O with fio's included; '-': a peer's CPU figure under 1 us/io)"
		jq -r '
			def x: if . == null then "-" else "x\(. * 100 | round / 100)" end;
			["case", "device", "peer", "IOPS", "p50", "p99", "cpu/io", "all/io"],
			(.ratios[] | [ .case, .device, .peer, (.iops_x | x), (.lat_p50_x | x),
				       (.lat_p99_x | x), (.cpu_per_io_x | x), (.total_cpu_per_io_x | x) ]) | @tsv' "$out" | align
		echo
	fi
	echo "## goals: vramd-fuse/ram against nbdfuse/ram; the vram backend on a GPU host"
	if [ "$(jq '.goals | length' "$out")" = 0 ]; then
		echo "not measured: no vramd-fuse/ram and no vram device in this run"
	else
		jq -r '
			def f: if . == null then "-" elif . >= 100 then "\(. | round)"
			       else "\(. * 100 | round / 100)" end;
			.goals[] | "\(if .met == null then "NOT MEASURED" elif .met then "met" else "NOT MET" end): " +
			"\(.device) \(.goal) = \(.value | f) (goal \(.op) \(.target | f))" +
			(if .srv_cpu_ratio then "; daemons + kernel threads alone: \(.srv_cpu_ratio | f)" else "" end)' "$out"
	fi
}

# --- main ----------------------------------------------------------------------
progress "devices: ${DEVICES[*]}; cases: $(for c in "${CASE_LIST[@]}"; do printf '%s ' "${c%% *}"; done)"
progress "$rounds round(s), ${runtime_s} s + ${ramp_s} s ramp per case, size $size, $online_cpus CPUs"
: >"$tmp/runs.jsonl"
: >"$tmp/idle.jsonl"
i=0
for d in "${DEVICES[@]}"; do
	[ "${TRANSPORT[$d]}" != vramd-fuse-uring ] || fuse_uring_on || die "cannot turn on FUSE over io_uring"
done
for d in "${DEVICES[@]}"; do
	i=$((i + 1))
	printf '[setup] %s ... ' "$d" >&2
	setup_device "$d" "$i" || { echo "failed" >&2; die "cannot set up $d"; }
	echo "${BDEV[$d]}${DAEMONS[$d]:+ (pids${DAEMONS[$d]})}" >&2
done
for d in "${DEVICES[@]}"; do
	[ "${BACKEND[$d]}" = null ] || prefill "$d" || die "cannot fill $d"
done

ndev=${#DEVICES[@]}
total=$(( ${#CASE_LIST[@]} * rounds * ndev ))
n=0
for ((round = 1; round <= rounds; round++)); do
	idle_sample "$round"
	for c in "${CASE_LIST[@]}"; do
		# shellcheck disable=SC2086
		set -- $c
		for ((k = 0; k < ndev; k++)); do
			d=${DEVICES[(k + round - 1) % ndev]}
			n=$((n + 1))
			printf '[%d/%d] round %d %s %s ... ' "$n" "$total" "$round" "$1" "$d" >&2
			measure "$@" "$d" "$round" "$k" >&2
		done
	done
done

progress "taking the devices down"
run_undo
write_results true || die "cannot write '$out'"

echo "# bench-transport $(date -u +%Y-%m-%dT%H:%MZ) on $host (vramd $(jq -r '.fingerprint.vramd_commit // "?"' "$out")):" \
	"$online_cpus CPUs, kernel $(uname -r), ${runtime_s} s per case, $rounds round(s); median (min-max)"
echo "# cpu_us/io: CPU time of every process but fio, per I/O (idle machine:" \
	"$(jq -r '[.idle[].busy_cpus | select(. != null) | . * 1000 | round / 1000] | map(tostring) | join(", ")' "$out") CPUs busy)"
[ ${#SKIPPED[@]} = 0 ] ||
	jq -r '.skipped[] | "# skipped \(.device): \(.reason)"' "$out"
echo
print_tables
progress "results in $out"

invalid=$(jq '[.runs[] | select(.valid | not)] | length' "$out")
if [ "$invalid" != 0 ]; then
	progress "$invalid run(s) failed; see .runs[].reason in $out"
	exit 1
fi
exit 0
