# Shared helpers for swapbench's shell tests.  Each tests/test-*.sh sources
# this file; exit 0 is a pass, 77 a skip (the reason on stderr), anything
# else a failure.  Try one test alone with:  tests/run-tests test-nbdinfo.sh
#
# Cleanups registered with `cleanup_add` run in reverse order when the test
# exits, whatever the reason (pass, fail, signal).

set -u

: "${top:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD:=$top/build}"
# VRAMD may name another build of the server (the GPU double's, say).
: "${VRAMD:=$BUILD/vramd}"
export LC_ALL=C

tmp=$(mktemp -d "${TMPDIR:-/tmp}/swapbench-test.XXXXXX")
_cleanups=()

# bad MESSAGE: a check failed; the test goes on to the next and ends with
# checks_done, which fails it if any did.
errors=0
bad() {
	echo "FAIL: $*" >&2
	errors=$((errors + 1))
}
# refused_usage REGEX CMD ARGS...: CMD ARGS must exit 2 (a usage error)
# with REGEX on stderr; bad otherwise.
refused_usage() {
	local re=$1 rc
	shift
	timeout 20 "$@" >"$tmp/usage.out" 2>"$tmp/usage.err"
	rc=$?
	[ $rc = 2 ] && grep -qiE -- "$re" "$tmp/usage.err" ||
		bad "${*##*/}: status $rc, stderr: $(head -c 300 "$tmp/usage.err")"
}
checks_done() {
	[ "$errors" = 0 ] || fail "$errors check(s) failed"
	exit 0
}

cleanup_add() {
	_cleanups+=("$*")
}

_run_cleanups() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

info() {
	echo "# $*" >&2
}

# requires CMD...: skip unless every command exists.
requires() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' not installed"
	done
}

requires_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

# requires_gpu: skips unless $VRAMD can run the vram backend here (a CUDA
# build with a driver and a device; the GPU double's build emulates them),
# with vramd's own reason.
requires_gpu() {
	local dump
	dump=$("$VRAMD" --backend vram --dump-backend 2>&1)
	grep -qx 'cuda=yes' <<<"$dump" && return 0
	grep -q '^cuda_reason=' <<<"$dump" &&
		skip "vram backend unavailable: $(sed -n 's/^cuda_reason=//p' <<<"$dump")"
	skip "vramd built without CUDA"
}

# Backend under test: tests parameterised by backend read VRAMD_BACKEND
# (default ram); `requires_backend` skips when that backend cannot run here.
: "${VRAMD_BACKEND:=ram}"
requires_backend() {
	if [ "$VRAMD_BACKEND" = vram ]; then
		requires_gpu
	fi
}

# start_vramd [ARGS...]: start build/vramd in the foreground on a Unix
# socket $tmp/nbd.sock (override with SOCK=...), wait until it accepts, and
# register its shutdown.  Sets VRAMD_PID, SOCK and NBD_URI.  Extra ARGS go
# to vramd (e.g. --size 1G --read-only).  Its log is in $tmp/vramd.log.
start_vramd() {
	: "${SOCK:=$tmp/nbd.sock}"
	rm -f "$SOCK"
	# shellcheck disable=SC2086 # VRAMD_ARGS: extra options, word-split
	"$VRAMD" --foreground --no-swap --backend "$VRAMD_BACKEND" \
		--socket "$SOCK" ${VRAMD_ARGS:-} "$@" >>"$tmp/vramd.log" 2>&1 &
	VRAMD_PID=$!
	cleanup_add "stop_vramd $VRAMD_PID"
	local i
	for ((i = 0; i < 200; i++)); do
		[ -S "$SOCK" ] && break
		kill -0 "$VRAMD_PID" 2>/dev/null || {
			cat "$tmp/vramd.log" >&2
			fail "vramd exited during start-up"
		}
		sleep 0.05
	done
	[ -S "$SOCK" ] || fail "vramd did not create $SOCK"
	NBD_URI="nbd+unix:///?socket=$SOCK"
}

# stop_vramd PID: SIGTERM with --force-exit semantics not assumed; the
# test servers run with --no-swap so SIGTERM ends them at once.
stop_vramd() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# fresh_stats PID FILE: asks vramd PID for its statistics (SIGUSR1) and
# waits up to 5 s for FILE (its --stats-file) to be rewritten; returns 1
# when it was not.
fresh_stats() {
	local pid=$1 file=$2 old i
	old=$(stat -c %i.%y "$file" 2>/dev/null)
	kill -USR1 "$pid" 2>/dev/null || return 1
	for ((i = 0; i < 50; i++)); do
		[ -s "$file" ] && [ "$(stat -c %i.%y "$file" 2>/dev/null)" != "$old" ] && return 0
		sleep 0.1
	done
	return 1
}

# with_timeout SECONDS CMD...: run CMD, fail the test if it overruns.
with_timeout() {
	local t=$1
	shift
	timeout --kill-after=5 "$t" "$@"
	local rc=$?
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "timed out after ${t}s: $*"
	return $rc
}

# --- privileged helpers: swap, vmstat, memory cgroups -------------------------

# loud MSG...: print to the test's original stderr, even from a cleanup
# (cleanups run with stdout and stderr sent to /dev/null).  The first call
# must come from the test's main shell, outside a cleanup: keep_stderr does it.
keep_stderr() {
	[ -n "${_stderr_fd:-}" ] || exec {_stderr_fd}>&2
}
loud() {
	echo "$*" >&"${_stderr_fd:-2}"
}
# no_stderr_fd: in a subshell about to exec a daemon, close keep_stderr's
# copy, so that a daemon left running on purpose (say, one that still backs
# swap) does not hold the runner's pipe open:
#   (no_stderr_fd; exec DAEMON ARGS) >>"$tmp/daemon.log" 2>&1 &
no_stderr_fd() {
	[ -z "${_stderr_fd:-}" ] || exec {_stderr_fd}>&-
}

# vmstat_get KEY: print KEY's value from /proc/vmstat (whole-key match);
# returns 1 with nothing printed when the key is missing.
vmstat_get() {
	awk -v k="$1" '$1 == k { print $2; found = 1; exit } END { exit !found }' /proc/vmstat
}

# active_swaps: print the active swap areas, one a line (nothing when none).
active_swaps() {
	awk 'NR > 1 { print $1 }' /proc/swaps
}

# swap_used_kib DEV: print DEV's "Used" column (KiB) in /proc/swaps, or
# nothing when DEV is not active swap.
swap_used_kib() {
	awk -v d="$1" 'NR > 1 && $1 == d { print $4; exit }' /proc/swaps
}

# memcg_find: set MEMCG_VERSION (2 or 1) and MEMCG_ROOT to a mounted
# hierarchy that has the memory controller, preferring cgroup v2; return 1
# when there is none.
memcg_find() {
	local mnt type opts
	MEMCG_VERSION='' MEMCG_ROOT=''
	while read -r _ mnt type opts _; do
		if [ "$type" = cgroup2 ] && [ -r "$mnt/cgroup.controllers" ] &&
		   tr ' ' '\n' <"$mnt/cgroup.controllers" | grep -qx memory; then
			MEMCG_VERSION=2 MEMCG_ROOT=$mnt
			return 0
		fi
	done </proc/mounts
	while read -r _ mnt type opts _; do
		if [ "$type" = cgroup ] &&
		   tr ',' '\n' <<<"$opts" | grep -qx memory; then
			MEMCG_VERSION=1 MEMCG_ROOT=$mnt
			return 0
		fi
	done </proc/mounts
	return 1
}

# memcg_create LIMIT: create a memory cgroup named swapbench-test-PID under
# the memory hierarchy's root, limited to LIMIT (bytes or K/M/G) of memory
# and unlimited swap (and, on v2, kept out of zswap so pages reach the swap
# device).  Registers its removal.  Sets MEMCG (its directory) and
# MEMCG_VERSION.  Skips the test when no memory controller is mounted or the
# cgroup cannot be set up.  Call from the test's main shell.
memcg_create() {
	local limit=$1 sc
	keep_stderr
	memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
	MEMCG=$MEMCG_ROOT/swapbench-test-$$
	if [ "$MEMCG_VERSION" = 2 ]; then
		# Children get a memory.max only when the parent delegates memory.
		sc=$MEMCG_ROOT/cgroup.subtree_control
		if ! tr ' ' '\n' <"$sc" | grep -qx memory; then
			echo +memory >"$sc" 2>/dev/null ||
				skip "cannot enable the memory controller in $sc"
			cleanup_add "echo -memory >'$sc'"
			info "enabled +memory in $sc (undone at exit)"
		fi
	fi
	mkdir "$MEMCG" || skip "cannot create cgroup $MEMCG"
	cleanup_add "memcg_remove '$MEMCG'"
	if [ "$MEMCG_VERSION" = 2 ]; then
		echo "$limit" >"$MEMCG/memory.max" ||
			fail "cannot set memory.max=$limit in $MEMCG"
		if [ -e "$MEMCG/memory.swap.max" ]; then
			echo max >"$MEMCG/memory.swap.max" ||
				fail "cannot set memory.swap.max=max in $MEMCG"
		fi
		if [ -e "$MEMCG/memory.zswap.max" ]; then
			echo 0 >"$MEMCG/memory.zswap.max" ||
				fail "cannot set memory.zswap.max=0 in $MEMCG"
		fi
	else
		echo "$limit" >"$MEMCG/memory.limit_in_bytes" ||
			fail "cannot set memory.limit_in_bytes=$limit in $MEMCG"
	fi
}

# memcg_enter: move the calling (sub)shell into $MEMCG; use it as
#   ( memcg_enter && exec PROG ARGS ) &
memcg_enter() {
	echo "$BASHPID" >"$MEMCG/cgroup.procs"
}

# memcg_oom_kills: print how many OOM kills $MEMCG has seen (0 when the
# kernel does not say).
memcg_oom_kills() {
	local f=$MEMCG/memory.events
	[ "$MEMCG_VERSION" = 2 ] || f=$MEMCG/memory.oom_control
	awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' "$f" 2>/dev/null
}

# memcg_remove DIR: SIGKILL whatever still runs in cgroup DIR, then remove
# it; returns 1 (and says so loudly) when it is still there after 10 s.
memcg_remove() {
	local cg=$1 i pid
	[ -d "$cg" ] || return 0
	for ((i = 0; i < 100; i++)); do
		[ -s "$cg/cgroup.procs" ] || break
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null
		done <"$cg/cgroup.procs"
		sleep 0.1
	done
	# v1 keeps charges of exited tasks; emptying first makes rmdir cheap.
	[ -e "$cg/memory.force_empty" ] && echo 0 >"$cg/memory.force_empty" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		rmdir "$cg" 2>/dev/null && return 0
		sleep 0.1
	done
	loud "WARNING: could not remove cgroup $cg (tasks: $(tr '\n' ' ' <"$cg/cgroup.procs" 2>/dev/null))"
	return 1
}

# requires_vramd: fail, not skip, when build/vramd is missing: a test that
# cannot find the server it tests has found a build problem.
requires_vramd() {
	[ -x "$VRAMD" ] || fail "$VRAMD not built (run make)"
}

# requires_test_prog NAME: fail unless the test program $BUILD/tests/NAME
# (built from tests/NAME.c) exists.
requires_test_prog() {
	[ -x "$BUILD/tests/$1" ] || fail "$BUILD/tests/$1 not built (run make)"
}

# sha256 [FILE]: the hex SHA-256 of FILE (default stdin), through openssl
# when it is there (several times faster where the CPU has SHA extensions).
sha256() {
	if command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$@" | cut -d' ' -f1
	else
		sha256sum "$@" | cut -d' ' -f1
	fi
}

# --- swapbench (harness) helpers ------------------------------------------------

SWAPBENCH="$BUILD/swapbench"

# swapbench with its test hooks (SWAPBENCH_TEST_KILL_AT,
# SWAPBENCH_TEST_TOUCH_CORRUPT), built only for tests (beside build/swapbench,
# so that it finds vramd, scenarios/ and plots/ as swapbench does); build/swapbench has none.
SWAPBENCH_HOOKED="$BUILD/swapbench-test"

# requires_swapbench: fail, not skip, when build/swapbench is missing.
requires_swapbench() {
	[ -x "$SWAPBENCH" ] || fail "$SWAPBENCH not built (run make)"
}

# requires_swapbench_hooked: the same for build/swapbench-test.
requires_swapbench_hooked() {
	[ -x "$SWAPBENCH_HOOKED" ] || fail "$SWAPBENCH_HOOKED not built (run make)"
}

# swapbench_isolate: keep swapbench's undo journal in $tmp/state (not the
# machine's /run/swapbench), and register `swapbench restore` as a cleanup,
# so that whatever a test leaves set up is undone when it exits.
swapbench_isolate() {
	export SWAPBENCH_STATE_DIR=$tmp/state
	cleanup_add "'$SWAPBENCH' restore"
}

# journal_write CHANGES: a journal of this boot whose changes are the JSON
# array CHANGES, in $SWAPBENCH_STATE_DIR (made root's, mode 0700), as a
# crashed swapbench would leave it: for tests of `swapbench restore`.
journal_write() {
	mkdir -p -m 700 "$SWAPBENCH_STATE_DIR" &&
	jq -n --argjson c "$1" --arg bid "$(cat /proc/sys/kernel/random/boot_id)" \
		'{schema: "swapbench-state", version: 1, boot_id: $bid, kept: false,
		  owner: {pid: 1, start_ticks: 1}, changes: $c}' >"$SWAPBENCH_STATE_DIR/state.json"
}

# machine_snapshot: everything swapbench may change, one section per
# resource (compare two with diff): swaps, loop devices, FUSE and debugfs
# mounts, vm sysctls, zswap parameters, FUSE over io_uring (enable_uring),
# zram devices, THP, swapbench cgroups and swap files, and vramd/nbdfuse
# processes.
machine_snapshot() {
	local f k
	echo "== swaps"
	awk 'NR > 1 { print $1, $2, $3, $5 }' /proc/swaps
	echo "== loop devices"
	losetup -a 2>/dev/null | sort
	echo "== mounts"
	awk '$3 ~ /^fuse/ && $3 != "fusectl" || $3 == "debugfs"' /proc/mounts
	echo "== sysctls"
	for k in swappiness page-cluster watermark_scale_factor overcommit_memory; do
		echo "vm.$k = $(cat "/proc/sys/vm/$k" 2>/dev/null)"
	done
	echo "== zswap"
	for f in /sys/module/zswap/parameters/*; do
		[ -r "$f" ] && echo "${f##*/} = $(cat "$f" 2>/dev/null)"
	done
	echo "== fuse"
	echo "enable_uring = $(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)"
	echo "== zram"
	for f in /sys/block/zram*; do
		[ -e "$f" ] && echo "${f##*/}: $(cat "$f/disksize") $(cat "$f/comp_algorithm" 2>/dev/null)"
	done
	echo "== thp"
	cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null
	echo "== cgroups"
	find /sys/fs/cgroup -maxdepth 3 -type d -name '*swapbench*' 2>/dev/null | sort
	echo "== swap files"
	ls /var/tmp 2>/dev/null | grep '^swapbench' || true
	echo "== daemons"
	own_daemons
	return 0
}

# own_daemons: "PID NAME" of each vramd and nbdfuse this test run started
# (its SWAPBENCH_TEST_ID in their environment), one a line.
own_daemons() {
	local p
	pgrep -x 'vramd|nbdfuse' 2>/dev/null | while read -r p; do
		grep -qzx "SWAPBENCH_TEST_ID=${SWAPBENCH_TEST_ID:-none}" "/proc/$p/environ" 2>/dev/null &&
			echo "$p $(cat "/proc/$p/comm" 2>/dev/null)"
	done
	return 0
}

# same_machine BEFORE WHAT [SNAPSHOT]: fail, showing the difference, unless
# the machine is as machine_snapshot (or the function SNAPSHOT) described it
# in BEFORE.  Changes get a couple of seconds to settle (a daemon still
# exiting).
same_machine() {
	local before=$1 what=$2 snap=${3:-machine_snapshot} i d
	for ((i = 0; i < 20; i++)); do
		d=$(diff -u --label before --label after <(printf '%s\n' "$before") <("$snap")) &&
			return 0
		sleep 0.1
	done
	printf '%s\n' "$d" >&2
	fail "$what: the machine is not as it was"
}

# supported_tier NAME: true when `swapbench doctor` says this host can run
# tier NAME (with its default options).
supported_tier() {
	[ -n "${_doctor_json:-}" ] || _doctor_json=$("$SWAPBENCH" doctor --json)
	[ "$(jq -r --arg t "$1" '.tiers[$t].supported' <<<"$_doctor_json")" = true ]
}

# requires_swap_tiers TIER...: skips unless this host can make these tiers
# swap for a test: no swap active already (each tier must be the only one),
# a memory cgroup controller (pressure goes only inside one), and each
# TIER supported (with doctor's reason when not).
requires_swap_tiers() {
	local t
	[ -z "$(active_swaps)" ] ||
		skip "swap already active on this host: $(active_swaps | tr '\n' ' '); each tier must be the only swap"
	memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
	for t in "$@"; do
		supported_tier "$t" ||
			skip "tier $t is not supported here: $(jq -r --arg t "$t" '.tiers[$t].why' <<<"$_doctor_json")"
	done
}

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds;
# returns 1 when SECONDS pass first.
wait_until() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# pid_gone PID: whether PID has exited (for wait_until).
pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

# wait_swap_used DEV KIB SECONDS: wait until DEV has at least KIB in use;
# returns 1 on timeout.
wait_swap_used() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(swap_used_kib "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# run_suites LABEL SUITE...: runs each tests/SUITE script with the
# environment as it is (VRAMD, VRAMD_BACKEND, VRAMD_ARGS, NBDCOPY_SIZE), saying
# "SUITE LABEL" as it goes; a skipped suite is reported, not failed.
# Returns 1 when any failed (its log tail on stderr).
run_suites() {
	local label=$1 t r rc=0 t0
	shift
	for t in "$@"; do
		info "$t $label"
		t0=$SECONDS
		bash "$top/tests/$t" >"$tmp/$t.log" 2>&1
		r=$?
		case $r in
		0) info "ok: $t ($((SECONDS - t0)) s)" ;;
		77) info "skipped: $t: $(grep -m1 '^SKIP' "$tmp/$t.log")" ;;
		*) tail -30 "$tmp/$t.log" >&2; echo "FAIL: $t $label (exit $r)" >&2; rc=1 ;;
		esac
	done
	return $rc
}

# check_resident_idle: vramd (VRAMD, VRAMD_BACKEND=vram) with
# --resident-idle 1 under nbd-client-check, whose lone reads after pauses
# of up to 3 ms meet the resident kernel as it ends and after: every read
# must come back right, the kernel must have been launched again many
# times (never given up on: no "ended" or "cannot start" in the log), and
# once the client is gone it must rest ("parked").  Returns 1 on failure.
check_resident_idle() {
	local json=$tmp/idle.json state ok=0
	requires_test_prog nbd-client-check
	requires jq
	SOCK=$tmp/idle.sock start_vramd --size 64M --resident-idle 1 --stats-file "$json" \
		--stats-interval-ms 0
	with_timeout 120 "$BUILD/tests/nbd-client-check" "$NBD_URI" >"$tmp/idle.tap" 2>&1 ||
		{ grep '^not ok' "$tmp/idle.tap" >&2; echo "FAIL: nbd-client-check with --resident-idle 1" >&2; ok=1; }
	sleep 0.2
	fresh_stats "$VRAMD_PID" "$json" || { echo "FAIL: vramd wrote no statistics" >&2; ok=1; }
	state=$(jq -c '.backend_state | [.resident_kernel, .resident_reads, .resident_launches]' "$json")
	info "--resident-idle 1: resident_kernel, resident_reads, resident_launches: $state"
	jq -e '.backend_state | .resident_kernel == "parked" and .resident_launches > 10 and
		.resident_reads >= .resident_launches and .resident_idle_ms == 1' "$json" >/dev/null ||
		{ echo "FAIL: --resident-idle 1: the kernel did not end and start again: $state" >&2; ok=1; }
	if grep -E 'resident kernel (ended|cannot start)|telling it to quit' "$tmp/vramd.log" >&2; then
		echo "FAIL: --resident-idle 1: the resident kernel was given up on" >&2
		ok=1
	fi
	stop_vramd "$VRAMD_PID"
	return $ok
}
