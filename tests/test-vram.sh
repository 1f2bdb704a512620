#!/bin/bash
# The interop, hostile-input and swap-path suites again with vramd's vram
# backend (export in GPU memory), and the 4 GiB nbdcopy round trip; some
# again without write-back staging and with the smallest, and without the
# resident kernel; then the resident kernel must have answered lone reads
# (nbd-client-check's, counted in vramd's statistics), and with
# --resident-idle 1 ended and started again between them.  Skips,
# saying why, on a host without an NVIDIA GPU or a CUDA build.
# timeout: 900
. "$(dirname "$0")/functions.sh"
requires_vramd
requires_gpu
rc=0
VRAMD_BACKEND=vram NBDCOPY_SIZE=4G run_suites "with --backend vram" test-nbdinfo.sh \
	test-libnbd.sh test-fio-verify.sh test-hostile.sh test-nbdcopy.sh test-swap-fuse.sh || rc=1
# Write-through (no staging) and the smallest staging ring.
VRAMD_BACKEND=vram VRAMD_ARGS="--staging 0" run_suites "with --staging 0" \
	test-libnbd.sh test-fio-verify.sh || rc=1
VRAMD_BACKEND=vram VRAMD_ARGS="--staging 2M" NBDCOPY_SIZE=1G run_suites "with --staging 2M" \
	test-fio-verify.sh test-nbdcopy.sh || rc=1
VRAMD_BACKEND=vram VRAMD_ARGS="--resident-kernel off" run_suites "with --resident-kernel off" \
	test-libnbd.sh || rc=1

info "the resident kernel answers lone reads"
requires_test_prog nbd-client-check
requires jq
SOCK=$tmp/rk.sock VRAMD_BACKEND=vram start_vramd --size 256M --stats-file "$tmp/rk.json" \
	--stats-interval-ms 0
with_timeout 120 "$BUILD/tests/nbd-client-check" "$NBD_URI" >"$tmp/rk.tap" 2>&1 ||
	{ grep '^not ok' "$tmp/rk.tap" >&2; echo "FAIL: nbd-client-check" >&2; rc=1; }
fresh_stats "$VRAMD_PID" "$tmp/rk.json" || { echo "FAIL: vramd wrote no statistics" >&2; rc=1; }
state=$(jq -c '.backend_state | [.resident_kernel, .resident_reads]' "$tmp/rk.json")
info "resident_kernel, resident_reads: $state"
jq -e '.backend_state | (.resident_kernel == "running" or .resident_kernel == "parked") and
	.resident_reads > 0' "$tmp/rk.json" \
	>/dev/null || { echo "FAIL: the resident kernel answered no read: $state" >&2; rc=1; }
stop_vramd "$VRAMD_PID"

info "--resident-idle 1: the resident kernel ends between lone reads and starts again"
VRAMD_BACKEND=vram check_resident_idle || rc=1
exit $rc
