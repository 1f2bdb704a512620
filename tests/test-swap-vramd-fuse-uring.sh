#!/usr/bin/env bash
# Real swap through vramd's own FUSE file over io_uring (vramd --fuse
# --fuse-uring on): the kernel's switch /sys/module/fuse/parameters/
# enable_uring is turned on for the test and put back as it was, also on
# failure; then test-swap-fuse.sh runs with SWAP_FUSE_SERVER=vramd-fuse.
# Skipped where the kernel has no FUSE over io_uring (before 6.14).
# Try:  tests/run-tests test-swap-vramd-fuse-uring.sh
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

PARAM=/sys/module/fuse/parameters/enable_uring
requires_root
[ -c /dev/fuse ] || skip "no /dev/fuse (FUSE not available)"
[ -e "$PARAM" ] || skip "the kernel has no FUSE over io_uring ($PARAM absent: before 6.14 or CONFIG_FUSE_IO_URING off)"
old=$(cat "$PARAM") || fail "cannot read $PARAM"
restore_param() {
	echo "$old" >"$PARAM" || loud "cannot put $PARAM back to $old"
}
cleanup_add restore_param
echo Y >"$PARAM" || fail "cannot write Y to $PARAM"
SWAP_FUSE_SERVER=vramd-fuse SWAP_FUSE_URING=on "$top/tests/test-swap-fuse.sh"
rc=$?
restore_param
[ "$(cat "$PARAM")" = "$old" ] || fail "$PARAM is $(cat "$PARAM"), was $old"
exit $rc
