#!/usr/bin/env bash
# Real swap through vramd's own FUSE file (vramd --fuse, /dev/fuse reads):
# test-swap-fuse.sh with SWAP_FUSE_SERVER=vramd-fuse and --fuse-uring off;
# memtouch verifies every page of 768 MiB written through a 256 MiB memory
# cgroup.  Try:  tests/run-tests test-swap-vramd-fuse.sh
# timeout: 300
export SWAP_FUSE_SERVER=vramd-fuse SWAP_FUSE_URING=off
exec "$(dirname "${BASH_SOURCE[0]}")/test-swap-fuse.sh"
