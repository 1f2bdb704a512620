#!/bin/bash
# The interop, hostile-input and swap-path suites again with vramd's vram
# backend (export in GPU memory), and the 4 GiB nbdcopy round trip.  Skips,
# saying why, on a host without an NVIDIA GPU or a CUDA build.
# timeout: 900
. "$(dirname "$0")/functions.sh"
requires_vramd
requires_gpu
rc=0
for t in test-nbdinfo.sh test-libnbd.sh test-fio-verify.sh test-hostile.sh test-nbdcopy.sh \
	test-swap-fuse.sh; do
	info "$t with --backend vram"
	VRAMD_BACKEND=vram NBDCOPY_SIZE=4G bash "$top/tests/$t" >"$tmp/$t.log" 2>&1
	r=$?
	case $r in
	0) info "ok: $t" ;;
	77) info "skipped: $t: $(grep -m1 '^SKIP' "$tmp/$t.log")" ;;
	*) tail -30 "$tmp/$t.log" >&2; echo "FAIL: $t with --backend vram (exit $r)" >&2; rc=1 ;;
	esac
done
exit $rc
