#!/bin/bash
# The interop, hostile-input and swap-path suites again with vramd's vram
# backend (export in GPU memory), and the 4 GiB nbdcopy round trip; some
# again without write-back staging and with the smallest.  Skips,
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
exit $rc
