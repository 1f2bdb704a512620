#!/usr/bin/env bash
# scripts/bench-transport.sh in short (one round, 1 s per case, 64 MiB,
# backends null and ram): bad options are usage errors, a user other than
# root is refused, a run writes a well-formed JSON document in which every
# case on every device did I/O, a run stopped mid-way (SIGTERM) writes
# partial results, and neither leaves anything behind (loop device, mount,
# zram device, daemon, temporary directory).  A check that the benchmark
# works, not a measurement.  Try:  tests/run-tests test-bench-transport.sh
# timeout: 400
# shellcheck disable=SC2016 # jq programs in single quotes

. "$(dirname "$0")/functions.sh"
requires_root
requires fio jq losetup timeout
requires_vramd
# The sanitizer pass has vramd's transports under ASan in test-fuse.sh and
# test-swap-*.sh; this one measures, and a measurement of an ASan build
# says nothing (and costs the CI pass 70 s).
[ -z "${SWAPBENCH_SANITIZED:-}" ] ||
	skip "a sanitizer build: a benchmark of it says nothing; the transports run under ASan in test-fuse.sh and test-swap-*.sh"
fio --enghelp=io_uring >/dev/null 2>&1 || skip "this fio has no io_uring engine"
bench=$top/scripts/bench-transport.sh
[ -x "$bench" ] || fail "$bench missing"

# What the benchmark may leave behind, and only that (other tests may be
# changing the rest of the machine meanwhile): it runs with TMPDIR=$tmp,
# so all its files, mounts and loop devices' backing files are below $tmp.
snapshot() {
	local d
	echo "== loop devices over files below $tmp"
	losetup -a 2>/dev/null | grep -F "($tmp/" | sort
	echo "== mounts below $tmp"
	awk -v t="$tmp/" 'index($2, t) == 1' /proc/mounts
	echo "== zram devices"
	ls -d /sys/block/zram* 2>/dev/null
	echo "== its temporary directories"
	for d in "$tmp"/bench-transport.*; do
		[ -e "$d" ] && echo "${d##*/}"
	done
	echo "== daemons started by this test"
	own_daemons
}

# usage_error REGEX ARGS...: bench-transport ARGS must exit 2 naming REGEX.
usage_error() {
	refused_usage "$1" env BUILD="$BUILD" "$bench" "${@:2}"
}
usage_error "rounds.*positive" --rounds 0
usage_error "runtime.*positive" --runtime x
usage_error "size" --size 1000
usage_error "size" --size 8M
usage_error "unknown transport" --transports bogus
usage_error "unknown reference" --refs bogus
usage_error "unknown backend" --backends gpu
usage_error "matches no case" --cases nope
usage_error "needs a value" --cases
usage_error "unknown option" --bogus
ROUNDS=x usage_error "rounds" --size 64M

BUILD=$BUILD timeout 20 "$bench" --help >"$tmp/help" 2>&1 ||
	bad "--help failed"
grep -q 'CPU per I/O' "$tmp/help" || bad "--help says nothing of CPU per I/O"

if command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=65534 --regid=65534 --clear-groups env BUILD="$BUILD" \
		timeout 20 "$bench" --rounds 1 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc != 1 ] || ! grep -q 'needs root' "$tmp/err"; then
		bad "not refused without root: status $rc, stderr: $(head -c 300 "$tmp/err")"
	fi
fi

before=$(snapshot)
info "a short run: ROUNDS=1 RUNTIME=1 RAMP=0 SIZE=64M BACKENDS='null ram'"
mkdir "$tmp/res"
TMPDIR=$tmp BUILD=$BUILD ROUNDS=1 RUNTIME=1 RAMP=0 SIZE=64M BACKENDS="null ram" OUT=$tmp/res \
	with_timeout 300 "$bench" >"$tmp/run.out" 2>"$tmp/run.err" ||
	{ tail -n 30 "$tmp/run.err" >&2; fail "bench-transport run failed"; }
same_machine "$before" "after bench-transport" snapshot
shopt -s nullglob
docs=("$tmp/res"/bench-transport-*.json)
shopt -u nullglob
[ ${#docs[@]} = 1 ] || fail "expected one JSON document in $tmp/res, found ${#docs[@]}"
doc=${docs[0]}
jq empty "$doc" || fail "'$doc' is not well-formed JSON"
info "devices: $(jq -r '[.devices[].name] | join(" ")' "$doc"); skipped: $(jq -r '[.skipped[].device] | join(" ")' "$doc")"

# check JQ-EXPR WHAT: the document must satisfy JQ-EXPR.
check() {
	jq -e "$1" "$doc" >/dev/null || bad "$2"
}
check '.schema_version == 1 and .tool == "bench-transport" and .complete' "document not complete"
check '.fingerprint | (.git_describe | type == "string") and (.kernel | type == "string")
	and (.host | type == "string") and has("cpu_model") and has("gpu")' "fingerprint incomplete"
# Provenance: the vramd measured (its own commit) and the machine, by the id
# swapbench gives it.
commit=$(sed -n 's/.*"\(.*\)".*/\1/p' "$BUILD/gen/commit.c")
mid=$("$BUILD/swapbench" doctor --json | jq -r .host.machine_id)
jq -e --arg c "$commit" --arg m "$mid" '.fingerprint.vramd_commit == $c and .fingerprint.machine_id == $m' \
	"$doc" >/dev/null ||
	bad "provenance: $(jq -c '.fingerprint | {vramd_commit, machine_id}' "$doc"), expected $commit and $mid"
check '.settings | .rounds == 1 and .runtime_s == 1 and .size_bytes == 67108864
	and .backends == ["null", "ram"] and .fio.ioengine == "io_uring" and .fio.direct == 1' "settings wrong"
check '[.cases[].name] == ["randread-4k-qd1", "randread-4k-qd32", "randwrite-4k-qd1",
	"randwrite-4k-qd32", "randread-64k-qd8"]' "cases wrong"
check 'all(.skipped[]; .reason | type == "string" and length > 0)' "a skipped device without a reason"
check '[.devices[].name] | index("zram") and index("tmpfs-loop")' "zram or tmpfs-loop missing"
if command -v nbdfuse >/dev/null 2>&1 && command -v fusermount3 >/dev/null 2>&1; then
	check '[.devices[].name] | index("nbdfuse/ram") and index("nbdfuse/null")' "nbdfuse devices missing"
fi
check '(.runs | length) == (.cases | length) * (.devices | length)' "not one run per case and device"
check 'all(.runs[]; .valid and .fio_exit_code == 0 and .iops > 0 and .lat_p50_us > 0
	and .lat_p99_us >= .lat_p50_us and .device_ios > 0 and (.cpu_per_io_us | type == "number")
	and (.srv_cpu_per_io_us | type == "number") and (.fio_cpu_per_io_us | type == "number"))' \
	"a run without I/O, latency or CPU figures: $(jq -c '[.runs[] | select((.valid | not) or .iops <= 0) | {case, device, reason}]' "$doc")"
check 'all(.summary[]; .valid_rounds == 1 and .iops > 0 and .iops_min == .iops and .iops_max == .iops)' \
	"summary not the one round's figures"
check '. as $d | all($d.devices[] | select(.kind == "vramd"); .name as $n |
	([$d.ratios[] | select(.device == $n and (.peer == "zram" or .peer == "tmpfs-loop"))] | length)
	== 2 * ($d.cases | length))' "each vramd device needs ratios against zram and tmpfs-loop in every case"
check 'all(.devices[] | select(.block_device | startswith("/dev/loop")); .loop_direct_io)' \
	"a loop device without direct I/O"
check '.devices[] | select(.name == "zram") | .prefill.zram_mm_stat |
	.compr_data_bytes >= .orig_data_bytes * 0.95' "zram's data was compressible"
grep -q '^## goals' "$tmp/run.out" || bad "no goals section in the output"
grep -q '^## randread-4k-qd32' "$tmp/run.out" || bad "no table in the output"

# SIGTERM: a background job of a script ignores SIGINT (bash), and a
# signal ignored from the start cannot be trapped.
info "stopped mid-run (SIGTERM): partial results, nothing left behind"
mkdir "$tmp/res2"
TMPDIR=$tmp BUILD=$BUILD ROUNDS=1 RUNTIME=5 RAMP=0 SIZE=64M BACKENDS="ram" OUT=$tmp/res2 \
	"$bench" >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
cleanup_add "kill -TERM $pid; wait $pid"
for ((i = 0; i < 600; i++)); do
	grep -q '^\[2/' "$tmp/int.err" && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 143 ] || { tail -n 5 "$tmp/int.err" >&2; bad "stopped run: status $rc, not 143"; }
same_machine "$before" "after a stopped bench-transport" snapshot
jq -e '.complete == false and (.runs | length) >= 1' "$tmp/res2"/bench-transport-*.json >/dev/null ||
	bad "no partial results after SIGTERM"

[ "$errors" = 0 ] || fail "$errors check(s) failed"
info "ok: usage errors, root refused, a complete run with I/O on every device, a stopped one, nothing left behind"
