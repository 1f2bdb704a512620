#!/usr/bin/env bash
# timeout: 120
# swapbench's command line and its refusals.  Usage errors exit 2; each
# refusal (not root, swap already active, a kernel feature or tool missing,
# a bad option value, a tier kept up, another swapbench running) exits 1
# with its one-line message and changes nothing; --dry-run prints the
# changes and makes none; list, doctor (text and --json), a kept tier
# shown and taken down, --disable-other-swap putting the other swap back at
# its priority; run's --tiers specs and --set overrides, touch's options;
# the nbd tier's transports (ublk refused without ublk_drv, auto's choice
# printed, vramd-fuse's dry run).  Try:
#   tests/run-tests test-harness-refuse.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires jq setpriv
requires_swapbench
requires_swapbench_hooked
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
journal=$SWAPBENCH_STATE_DIR/state.json

# expect RC PATTERN CMD...: CMD exits RC with PATTERN (grep -E) in its
# output, and the machine is as before with no journal left.
expect() {
	local want=$1 pattern=$2 rc
	shift 2
	with_timeout 60 "$@" >"$tmp/out" 2>&1
	rc=$?
	[ "$rc" = "$want" ] || { cat "$tmp/out" >&2; fail "'$*' exited $rc, expected $want"; }
	grep -qE -- "$pattern" "$tmp/out" ||
		{ cat "$tmp/out" >&2; fail "'$*' did not say /$pattern/"; }
	[ ! -e "$journal" ] || fail "'$*' left a journal"
	same_machine "$before" "after '$*'"
	info "ok ($rc): $* -> $(grep -E -m1 -- "$pattern" "$tmp/out")"
}
SB=$SWAPBENCH

# --- usage ----------------------------------------------------------------------
expect 2 "usage: swapbench" "$SB"
expect 0 "Commands:" "$SB" --help
expect 2 "unknown command 'frobnicate'" "$SB" frobnicate
expect 2 "needs up, down or show" "$SB" tier
expect 2 "needs a TIER" "$SB" tier up
expect 2 "unknown tier 'tape'" "$SB" tier up tape
# run's tier specs and overrides, touch's options
expect 2 "tier 'nbd' has no option 'bogus'" "$SB" run --tiers nbd:bogus=1
expect 2 "expected KEY=VALUE after 'nbd:'" "$SB" run --tiers nbd:backend
expect 2 "tier 'nbd-ram' named twice" "$SB" run --tiers nbd:backend=ram,zram,nbd:backend=ram
expect 2 "--set workload.ratio: expected" "$SB" run --set workload.ratio=abc
expect 2 "--set: expected SECTION.KEY=VALUE" "$SB" run --set ratio
expect 2 "--set unknown key 'nope' in section \[probe\]" "$SB" run --set probe.nope=1
expect 2 "--set probe.placement: expected outside .* or inside" "$SB" run --set probe.placement=under
expect 2 "--set workload.engine: expected stress-ng or touch" "$SB" run --set workload.engine=fio
expect 2 "--compressibility: expected incompressible, 2:1, 4:1 or zero" "$SB" touch --bytes 1M --compressibility 3:1
expect 2 "--bytes is required" "$SB" touch
expect 2 "--locality: expected random or sequential" "$SB" touch --bytes 1M --locality up
# touch's check works: a flipped bit (the test build's hook) is found and fails it.
expect 0 '"mismatches":0' "$SB" touch --bytes 1M --duration 1
SWAPBENCH_TEST_TOUCH_CORRUPT=1 expect 1 "1 page\(s\) read back wrong" "$SWAPBENCH_HOOKED" touch --bytes 1M --duration 1
expect 2 "option '--algorithm' does not apply to tier 'disk'" "$SB" tier up disk --algorithm lz4
expect 2 "unexpected argument 'extra' \(put a command after --\)" "$SB" tier up zram extra
expect 2 "--hold and a COMMAND exclude each other" "$SB" tier up zram --hold -- true
expect 2 "expected 'tiers', 'stacks' or 'scenarios'" "$SB" list bogus
expect 0 "zram>disk" "$SB" list stacks
# Stacks and sweeps: refused with the rule, before anything is changed.
expect 2 "'zswap>zram' is no stack: .*compresses every page twice" "$SB" run --tiers 'zswap>zram'
expect 2 "'disk>zswap' is no stack: .*can only be the top level" "$SB" run --tiers 'disk>zswap'
expect 2 "'zram>zram' is no stack: tier 'zram' twice" "$SB" run --tiers 'zram>zram'
expect 2 "'zram>none' is no stack: .*no swap at all" "$SB" run --tiers 'zram>none'
expect 2 "a stack has at most 3 levels" "$SB" run --tiers 'zram>disk>nbd>zswap'
expect 2 "expected TIER or a stack" "$SB" run --tiers 'zram>'
expect 2 "a fio-raw scenario measures one device" "$SB" run --scenario fio-raw --tiers 'zram>disk'
expect 2 "--sweep vm.swappiness: give two values or more" "$SB" run --sweep vm.swappiness=60
expect 2 "--sweep: unknown factor 'vm.swapiness'" "$SB" run --sweep vm.swapiness=1,2
expect 2 "--sweep: one factor a run" "$SB" run --sweep vm.swappiness=1,2 --sweep vm.page-cluster=0,3
expect 2 "--sweep: scenario 'ramp' is a ramp" "$SB" run --scenario ramp --sweep vm.swappiness=1,2
expect 2 "--set memcg.mode: expected max .* or high" "$SB" run --set memcg.mode=low
# memory.high is cgroup v2's: where memory is v1's, refused before any run.
if ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	expect 1 "memcg.mode=high needs cgroup v2" "$SB" run --scenario quick --tiers zram --set memcg.mode=high
	expect 1 "memcg.mode=high needs cgroup v2" "$SB" run --scenario quick --tiers zram --sweep memcg.mode=max,high
fi
expect 0 "Options of tier nbd" "$SB" tier --help
expect 1 "--size: expected a size like 512M or 4G, got 'banana'" "$SB" tier up zram --size banana
expect 1 "--connections: expected an integer from 1 to 16, got '99'" "$SB" tier up nbd --connections 99
expect 1 "--busy-poll: expected an integer from 0 to 10000, got '20000'" "$SB" tier up nbd --busy-poll 20000
expect 1 "--thp: expected one of '.*never', got 'sometimes'" "$SB" tier up zram --thp sometimes
expect 1 "--watermark-scale-factor: expected an integer from 1 to 3000, got '0'" \
	"$SB" tier up disk --watermark-scale-factor 0

# --- list, doctor ------------------------------------------------------------------
expect 0 "^zram +compressed RAM" "$SB" list tiers
expect 0 "^scenarios:" "$SB" list
expect 0 "^tiers:" "$SB" doctor
expect 0 "^  auto takes [a-z-]+: " "$SB" doctor
"$SB" doctor --json >"$tmp/doctor.json" || fail "doctor --json failed"
jq -e '.schema == "swapbench-doctor" and (.tiers | keys | sort) == ["disk", "nbd", "none", "zram", "zswap"]
       and (.checks | map(.name) | index("psi") != null) and (.advice | type) == "array"
       and (.tools | has("nbdfuse"))
       and (.nbd_transports | [.ublk, .kernel, .["vramd-fuse"], .nbdfuse] | all(.offered | type == "boolean"))
       and (.nbd_transports | has("auto") and (.auto_why | type) == "string")' "$tmp/doctor.json" >/dev/null ||
	fail "doctor --json document is not as expected: $(head -c 400 "$tmp/doctor.json")"

# --- not root --------------------------------------------------------------------------
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$SB" 2>/dev/null; then
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	expect 1 "needs root; run it with sudo" "${nobody[@]}" "$SB" tier up zram
	expect 1 "needs root; run it with sudo" "${nobody[@]}" "$SB" tier down
	expect 1 "needs root; run it with sudo" "${nobody[@]}" "$SB" restore
	expect 0 "^tiers:" "${nobody[@]}" "$SB" doctor
else
	info "skipped the not-root cases: user 65534 cannot run '$SB'"
fi

# --- a kernel feature or a tool missing ---------------------------------------------------
expect 1 "compression algorithm 'nosuch' is not offered by this kernel's zram \(offered: " \
	"$SB" tier up zram --algorithm nosuch
expect 1 "zswap compressor 'nosuch' is not available" "$SB" tier up zswap --compressor nosuch
if [ ! -e /sys/module/zswap/parameters/zpool ]; then
	expect 1 "has no 'zpool' parameter" "$SB" tier up zswap --zpool zsmalloc
fi
if [ ! -e /dev/nbd0 ] && [ ! -e /sys/module/nbd ] && ! modprobe -n -q nbd 2>/dev/null; then
	# The kernel is looked at first: without its NBD client, installing
	# nbd-client would not help.
	expect 1 "transport kernel: no kernel NBD client .*; --transport auto takes the best" \
		"$SB" tier up nbd --transport kernel
fi
expect 1 "no vramd binary at '/nonexistent/vramd'" "$SB" tier up nbd --vramd /nonexistent/vramd
# The nbd tier's transports: ublk refused where the kernel has none, bad
# values named, auto's choice (doctor's) printed with what it passed over.
if [ ! -e /dev/ublk-control ] && ! modprobe -n -q ublk_drv 2>/dev/null; then
	expect 1 "tier 'nbd' cannot run here: transport ublk: no ublk in this kernel \(no /dev/ublk-control, no loadable ublk_drv module: CONFIG_BLK_DEV_UBLK\)" \
		"$SB" tier up nbd --transport ublk
	jq -e '.nbd_transports.ublk.offered == false' "$tmp/doctor.json" >/dev/null ||
		fail "doctor says ublk is offered here: $(jq -c .nbd_transports.ublk "$tmp/doctor.json")"
else
	info "ublk offered here: its refusal not tested"
fi
expect 1 "--transport: expected ublk, kernel, vramd-fuse, nbdfuse \(or its old name fuse\) or auto, got 'carrier-pigeon'" \
	"$SB" tier up nbd --transport carrier-pigeon
expect 1 "--fuse-uring: expected auto, on or off, got 'maybe'" "$SB" tier up nbd --fuse-uring maybe
expect 1 "--queue-depth: expected an integer from 1 to 4096, got '0'" "$SB" tier up nbd --queue-depth 0
auto=$(jq -r '.nbd_transports.auto // empty' "$tmp/doctor.json")
if [ -n "$auto" ]; then
	if [ "$auto" = ublk ]; then
		expect 0 "nbd tier: transport ublk \(ublk is the first choice and offered\)" \
			"$SB" tier up nbd --dry-run
	else
		expect 0 "nbd tier: transport $auto \(ublk passed over: .*; $auto is the first offered\)" \
			"$SB" tier up nbd --dry-run
	fi
else
	info "no nbd transport offered here: auto's choice not tested"
fi
if [ "$(jq -r '.nbd_transports["vramd-fuse"].offered' "$tmp/doctor.json")" = true ]; then
	expect 0 "would run: .*vramd .*--fuse [^ ]*/nbd/mnt --fuse-uring off --queue-depth 16 " \
		"$SB" tier up nbd --transport vramd-fuse --fuse-uring off --queue-depth 16 --dry-run
	expect 0 "would undo: unmount '[^']*/nbd/mnt' \(fuse.vramd\)" \
		"$SB" tier up nbd --transport vramd-fuse --dry-run
	if [ ! -e /sys/module/fuse/parameters/enable_uring ]; then
		expect 1 "--fuse-uring on: this kernel has no FUSE over io_uring" \
			"$SB" tier up nbd --transport vramd-fuse --fuse-uring on
	elif [ "$(cat /sys/module/fuse/parameters/enable_uring)" = N ]; then
		expect 0 "would: write 'Y' to '/sys/module/fuse/parameters/enable_uring'" \
			"$SB" tier up nbd --transport vramd-fuse --fuse-uring on --dry-run
	fi
fi
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	expect 1 "is on tmpfs, which cannot hold a swap file" "$SB" tier up disk --file /dev/shm/swapbench-test.swap
fi
expect 1 "is not an absolute path" "$SB" tier up disk --file relative.swap
touch "/var/tmp/swapbench-test-exists-$$.swap"
before=$(machine_snapshot)
expect 1 "exists already; remove it or choose another --file" \
	"$SB" tier up disk --file "/var/tmp/swapbench-test-exists-$$.swap"
rm -f "/var/tmp/swapbench-test-exists-$$.swap"
before=$(machine_snapshot)
expect 1 "--device: '/dev/null' is not a block device" "$SB" tier up disk --device /dev/null

# --- dry runs -------------------------------------------------------------------------------
expect 0 "would run: swapon --priority 100 /dev/zram" "$SB" tier up zram --size 256M --dry-run
expect 0 "would undo: swapoff '/dev/zram" "$SB" tier up zram --size 256M --dry-run
expect 0 "would: write 'Y' to '/sys/module/zswap/parameters/enabled'" \
	"$SB" tier up zswap --dry-run --file "/var/tmp/swapbench-test-dry-$$.swap"
expect 0 "would run: nbdfuse " "$SB" tier up nbd --transport fuse --dry-run
expect 0 "would run: .*vramd .*--busy-poll 30 " "$SB" tier up nbd --transport fuse --busy-poll 30 --dry-run
expect 0 "would run in '.*swapbench-[0-9]+': true" "$SB" tier up disk --dry-run \
	--file "/var/tmp/swapbench-test-dry-$$.swap" -- true
expect 0 "nothing to restore" "$SB" restore --dry-run

# --- swap already active ----------------------------------------------------------------------
other=/var/tmp/swapbench-test-other-$$.swap
cleanup_add "swapoff '$other'; rm -f '$other'"
fallocate -l 64M "$other" && chmod 600 "$other" && mkswap "$other" >/dev/null &&
	swapon --priority 7 "$other" || fail "cannot set up the pre-existing swap '$other'"
before=$(machine_snapshot)
expect 1 "swap is active already: '$other' \(priority 7\).*--disable-other-swap" \
	"$SB" tier up zram --size 256M -- true
expect 0 "taking '$other' off" "$SB" tier up zram --size 256M --disable-other-swap -- \
	sh -c "! grep -q '$other' /proc/swaps"
[ "$(awk -v f="$other" '$1 == f { print $5 }' /proc/swaps)" = 7 ] ||
	fail "'$other' did not come back at priority 7: $(cat /proc/swaps)"
swapoff "$other" && rm -f "$other"
before=$(machine_snapshot)

# --- a kept tier; another swapbench at work -------------------------------------------------------
"$SB" tier up zram --size 256M 2>"$tmp/out" || { cat "$tmp/out" >&2; fail "tier up zram (kept) failed"; }
"$SB" tier show zram >"$tmp/show.json" || fail "tier show failed"
jq -e '.kept == true and .up == true and .describe.device != null and .counters.swaps.size_bytes > 0' \
	"$tmp/show.json" >/dev/null || fail "tier show: $(head -c 400 "$tmp/show.json")"
for cmd in "tier up disk -- true" "tier down disk"; do
	# shellcheck disable=SC2086
	"$SB" $cmd >"$tmp/out" 2>&1 && fail "'$cmd' worked with zram kept up"
	grep -qE "tier 'zram' is up already|tier 'disk' is not up \(tier 'zram' is\)" "$tmp/out" ||
		{ cat "$tmp/out" >&2; fail "'$cmd' did not say why"; }
done
expect 0 "tier 'zram' is down" "$SB" tier down zram
expect 0 "no tier is up" "$SB" tier down

"$SB" tier up zram --size 256M --hold >"$tmp/hold.log" 2>&1 &
hold=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'holding it' "$tmp/hold.log" && break
	sleep 0.1
done
"$SB" tier up disk -- true >"$tmp/out" 2>&1 && fail "a second swapbench was let in"
grep -q "another swapbench (pid $hold) is changing this machine" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "the second swapbench did not say why"; }
kill -TERM "$hold"
wait "$hold" || fail "the holding swapbench exited $? after SIGTERM"
same_machine "$before" "after --hold"
exit 0
