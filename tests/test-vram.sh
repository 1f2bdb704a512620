#!/bin/bash
# The interop, hostile-input and swap-path suites again with vramd's vram
# backend (export in GPU memory), and the 4 GiB nbdcopy round trip.  Skips,
# saying why, on a host without an NVIDIA GPU or a CUDA build.
# timeout: 900
. "$(dirname "$0")/functions.sh"
requires_vramd
requires_gpu
VRAMD_BACKEND=vram NBDCOPY_SIZE=4G run_suites "with --backend vram" test-nbdinfo.sh \
	test-libnbd.sh test-fio-verify.sh test-hostile.sh test-nbdcopy.sh test-swap-fuse.sh
