#!/bin/bash
# The vram backend's own logic on any host: the interop, data-integrity,
# hostile-input and swap-path suites with `--backend vram`, run by
# build/tests/vramd-gpu-double (vramd linked with tests/gpu-double/, an
# emulated GPU whose streams run their copies late, so write-back staging
# and the ordering between workers are really exercised), then a device
# lost mid-run: writes and flushes must fail with EIO, reads too, the loss
# must be logged, and the server must stay up.  test-vram.sh runs the same
# suites on a real GPU.
# timeout: 900
. "$(dirname "$0")/functions.sh"
VRAMD=$BUILD/tests/vramd-gpu-double
[ -x "$VRAMD" ] || skip "vramd-gpu-double not built (needs the CUDA headers: nvcc)"
export VRAMD VRAMD_BACKEND=vram
requires nbdcopy nbdinfo head cmp
rc=0
NBDCOPY_SIZE=256M run_suites "with --backend vram on the GPU double" test-libnbd.sh \
	test-fio-verify.sh test-hostile.sh test-nbdcopy.sh test-swap-fuse.sh || rc=1

info "device lost after 40 copies"
head -c 32M /dev/urandom >"$tmp/src" || fail "cannot write $tmp/src"
GPU_DOUBLE_FAIL_AFTER=40 start_vramd --size 64M
if with_timeout 60 nbdcopy --flush --connections 1 "$tmp/src" "$NBD_URI" 2>"$tmp/copy.err"; then
	echo "FAIL: 32 MiB written and flushed to a lost device without an error" >&2
	rc=1
else
	info "ok: the copy to the lost device failed: $(grep -m1 -io 'input/output error\|EIO' "$tmp/copy.err")"
	grep -qi 'input/output error\|EIO' "$tmp/copy.err" ||
		{ cat "$tmp/copy.err" >&2; echo "FAIL: the copy failed, but not with EIO" >&2; rc=1; }
fi
if with_timeout 60 nbdcopy "$NBD_URI" - >/dev/null 2>"$tmp/read.err"; then
	echo "FAIL: reads from a lost device succeeded" >&2
	rc=1
else
	info "ok: reads from the lost device fail"
fi
grep -q 'failed: an illegal memory access.*refusing further writes' "$tmp/vramd.log" ||
	{ tail -5 "$tmp/vramd.log" >&2; echo "FAIL: vramd did not log the lost device" >&2; rc=1; }
kill -0 "$VRAMD_PID" 2>/dev/null && with_timeout 20 nbdinfo --size "$NBD_URI" >/dev/null ||
	{ echo "FAIL: vramd no longer serves after losing the device" >&2; rc=1; }
[ $rc = 0 ] && info "ok: lost device reported, writes, flush and reads refused, server up"
exit $rc
