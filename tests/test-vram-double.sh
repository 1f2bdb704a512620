#!/bin/bash
# The vram backend's own logic on any host: the interop, data-integrity,
# hostile-input and swap-path suites with `--backend vram`, run by
# build/tests/vramd-gpu-double (vramd linked with tests/gpu-double/, an
# emulated GPU whose streams run their copies late, so write-back staging
# (large copies also started late, behind newer ones) and the ordering
# between workers are really exercised; its statistics must show it all
# happened), with no staging and the smallest, then a device
# lost mid-run: writes and flushes must fail with EIO, reads too, the loss
# must be logged, and the server must stay up; no resident kernel where
# its blocks would hold half the GPU; copies the driver refuses
# when submitted: a read fails with EIO, a write-back loses the device; a
# driver that holds
# other work behind the resident kernel must not wedge the server; and
# with --resident-idle 1 the kernel ends and starts again between reads.
# test-vram.sh runs the same suites on a real GPU.
# timeout: 900
. "$(dirname "$0")/functions.sh"
VRAMD=$BUILD/tests/vramd-gpu-double
[ -x "$VRAMD" ] || skip "vramd-gpu-double not built (needs the CUDA headers: nvcc)"
export VRAMD VRAMD_BACKEND=vram
requires nbdcopy nbdinfo head cmp
rc=0
# The swap path moves 256 MiB through swap here (512 on real hardware):
# the double copies on the CPU, and CI runs this twice.
NBDCOPY_SIZE=256M SWAP_FUSE_WORK_MIB=512 run_suites "with --backend vram on the GPU double" test-libnbd.sh \
	test-fio-verify.sh test-hostile.sh test-nbdcopy.sh test-swap-fuse.sh || rc=1
# The staging extremes: none (every write completes in VRAM before its
# reply) and the smallest (2M); their round trips in 1 MiB requests below.
VRAMD_ARGS="--staging 0" run_suites "with --staging 0" test-libnbd.sh || rc=1
VRAMD_ARGS="--staging 2M" run_suites "with --staging 2M" test-fio-verify.sh || rc=1

info "writes are write-back, and workers order after each other's copies"
requires_test_prog nbd-client-check
requires jq
SOCK=$tmp/wb.sock start_vramd --size 64M --stats-file "$tmp/wb.json" --stats-interval-ms 0
with_timeout 120 "$BUILD/tests/nbd-client-check" "$NBD_URI" >"$tmp/wb.tap" 2>&1 ||
	{ grep '^not ok' "$tmp/wb.tap" >&2; echo "FAIL: nbd-client-check on the GPU double" >&2; rc=1; }
fresh_stats "$VRAMD_PID" "$tmp/wb.json" || { echo "FAIL: vramd wrote no statistics" >&2; rc=1; }
counts=$(jq -c '.backend_state | [.writeback_writes, .writeback_delayed, .order_waits, .completion_flag,
	.resident_reads]' "$tmp/wb.json")
info "writeback_writes, writeback_delayed, order_waits, completion_flag, resident_reads: $counts"
jq -e '.backend_state | .writeback_writes > 1000 and .writeback_delayed > 0 and .order_waits > 0 and
	.completion_flag and .resident_reads > 0 and
	(.resident_kernel == "running" or .resident_kernel == "parked")' "$tmp/wb.json" \
	>/dev/null || { echo "FAIL: no write-back, late start, ordering or resident read seen: $counts" >&2; rc=1; }
stop_vramd "$VRAMD_PID"

# Round trips of 1 MiB writes without staging and with the smallest ring
# (a request half fills it), read back in lone 16 KiB requests (the
# resident kernel's, or the copy engines' with it off), each checked in
# the statistics.
head -c 16M /dev/urandom >"$tmp/st.src" || fail "cannot write $tmp/st.src"
for st in 0 2M; do
	if [ "$st" = 0 ]; then
		resident=off
		want='.writeback_writes == 0 and .staging_bytes_per_worker == 0 and
		      .resident_reads == 0 and .resident_kernel == "off"'
	else
		resident=on
		want='.writeback_writes > 0 and .staging_bytes_per_worker == 2097152 and
		      .resident_reads > 0'
	fi
	info "--staging $st --resident-kernel $resident: 16 MiB round trip"
	SOCK=$tmp/st.sock start_vramd --size 16M --staging "$st" --resident-kernel "$resident" \
		--stats-file "$tmp/st$st.json" --stats-interval-ms 0
	with_timeout 60 nbdcopy --request-size=1048576 "$tmp/st.src" "$NBD_URI" &&
		with_timeout 60 nbdcopy --synchronous --request-size=16384 "$NBD_URI" - |
		cmp -s - "$tmp/st.src" ||
		{ echo "FAIL: --staging $st: the round trip differs" >&2; rc=1; }
	fresh_stats "$VRAMD_PID" "$tmp/st$st.json" || { echo "FAIL: vramd wrote no statistics" >&2; rc=1; }
	jq -e ".backend_state | $want" "$tmp/st$st.json" >/dev/null ||
		{ echo "FAIL: --staging $st: not '$want': $(jq -c .backend_state "$tmp/st$st.json")" >&2; rc=1; }
	stop_vramd "$VRAMD_PID"
done

info "--resident-idle 1: the resident kernel ends between lone reads and starts again"
check_resident_idle || rc=1

info "other work held behind the resident kernel: vramd tells it to quit and goes on"
GPU_DOUBLE_SERIALIZE=1 SOCK=$tmp/ser.sock start_vramd --size 16M --stats-file "$tmp/ser.json" \
	--stats-interval-ms 0
with_timeout 30 nbdcopy --synchronous --request-size=4096 "$NBD_URI" null: &&
	with_timeout 30 nbdcopy --flush "$tmp/st.src" "$NBD_URI" &&
	with_timeout 30 nbdcopy "$NBD_URI" - | cmp -s - "$tmp/st.src" ||
	{ echo "FAIL: writes held behind the resident kernel did not complete, or came back wrong" >&2
	  rc=1; }
fresh_stats "$VRAMD_PID" "$tmp/ser.json" || { echo "FAIL: vramd wrote no statistics" >&2; rc=1; }
jq -e '.backend_state | .resident_kernel == "abandoned" and .resident_reads > 0' "$tmp/ser.json" \
	>/dev/null && grep -q 'resident kernel running: telling it to quit' "$tmp/vramd.log" ||
	{ echo "FAIL: the resident kernel was not told to quit: $(jq -c .backend_state "$tmp/ser.json")" >&2
	  rc=1; }
stop_vramd "$VRAMD_PID"

info "device lost after 40 copies"
head -c 32M /dev/urandom >"$tmp/src" || fail "cannot write $tmp/src"
GPU_DOUBLE_FAIL_AFTER=40 start_vramd --size 64M
if with_timeout 60 nbdcopy --flush --connections 1 "$tmp/src" "$NBD_URI" 2>"$tmp/copy.err"; then
	echo "FAIL: 32 MiB written and flushed to a lost device without an error" >&2
	rc=1
else
	if grep -qi 'input/output error\|EIO' "$tmp/copy.err"; then
		info "ok: the copy to the lost device failed with EIO"
	else
		cat "$tmp/copy.err" >&2
		echo "FAIL: the copy failed, but not with EIO" >&2
		rc=1
	fi
fi
if with_timeout 60 nbdcopy "$NBD_URI" - >/dev/null 2>"$tmp/read.err"; then
	echo "FAIL: reads from a lost device succeeded" >&2
	rc=1
else
	info "ok: reads from the lost device fail"
fi
grep -q 'failed: an illegal memory access.*refusing further requests' "$tmp/vramd.log" ||
	{ tail -5 "$tmp/vramd.log" >&2; echo "FAIL: vramd did not log the lost device" >&2; rc=1; }
kill -0 "$VRAMD_PID" 2>/dev/null && with_timeout 20 nbdinfo --size "$NBD_URI" >/dev/null ||
	{ echo "FAIL: vramd no longer serves after losing the device" >&2; rc=1; }

# More workers than the GPU has room for resident blocks (half its threads:
# 32 blocks of 256 on the double): no resident kernel, reads still right.
info "33 workers on a GPU with room for 32 resident blocks"
SOCK=$tmp/many.sock start_vramd --size 16M --threads 33 --stats-file "$tmp/many.json" \
	--stats-interval-ms 0
head -c 16M /dev/urandom >"$tmp/many.src" || fail "cannot write $tmp/many.src"
rm -f "$tmp/many.out"
with_timeout 60 nbdcopy --flush "$tmp/many.src" "$NBD_URI" &&
	with_timeout 60 nbdcopy --synchronous --request-size=4096 "$NBD_URI" "$tmp/many.out" &&
	cmp -s "$tmp/many.out" "$tmp/many.src" ||
	{ echo "FAIL: 33 workers: the round trip failed or came back wrong" >&2; rc=1; }
fresh_stats "$VRAMD_PID" "$tmp/many.json" &&
	jq -e '.workers == 33 and .backend_state.resident_kernel == "off"' "$tmp/many.json" >/dev/null &&
	grep -q 'no resident kernel: 33 workers' "$tmp/vramd.log" ||
	{ echo "FAIL: 33 workers: the resident kernel was not left off, or not said so:" \
		"$(jq -c '{workers, k: .backend_state.resident_kernel}' "$tmp/many.json" 2>&1)" >&2; rc=1; }

# Copies the driver refuses when they are submitted (a non-sticky error, not
# a lost device).  A refused read fails with EIO, never with other bytes, and
# the device goes on; a refused write-back (its reply already out) marks the
# device lost, so the flush fails and no later read returns the old bytes.
head -c 8M /dev/urandom >"$tmp/rsrc" || fail "cannot write $tmp/rsrc"
same8m() { cmp -s -n 8388608 "$1" "$tmp/rsrc"; }
info "the 3rd read submission refused"
GPU_DOUBLE_REFUSE_READ=3 SOCK=$tmp/refr.sock start_vramd --size 64M
with_timeout 60 nbdcopy --flush "$tmp/rsrc" "$NBD_URI" ||
	{ echo "FAIL: writing 8 MiB failed (only a read is refused)" >&2; rc=1; }
rm -f "$tmp/rout"
if with_timeout 60 nbdcopy --request-size=4096 --requests=16 --connections=1 "$NBD_URI" \
	"$tmp/rout" 2>"$tmp/rr.err"; then
	same8m "$tmp/rout" && what="right bytes" || what="WRONG bytes"
	echo "FAIL: a refused read was answered ($what)" >&2
	rc=1
elif ! grep -qi 'input/output error\|EIO' "$tmp/rr.err"; then
	cat "$tmp/rr.err" >&2
	echo "FAIL: the refused read failed, but not with EIO" >&2
	rc=1
fi
rm -f "$tmp/rout"
with_timeout 60 nbdcopy "$NBD_URI" "$tmp/rout" && same8m "$tmp/rout" ||
	{ echo "FAIL: after a refused read, reads no longer right" >&2; rc=1; }
info "the 5th write submission (write-backs of 4 KiB writes) refused"
GPU_DOUBLE_REFUSE_WRITE=5 SOCK=$tmp/refw.sock start_vramd --size 64M
if with_timeout 60 nbdcopy --flush --request-size=4096 --requests=16 --connections=1 \
	"$tmp/rsrc" "$NBD_URI" 2>"$tmp/rw.err"; then
	echo "FAIL: 8 MiB written and flushed although a write-back was refused" >&2
	rc=1
fi
rm -f "$tmp/rout"
if with_timeout 60 nbdcopy "$NBD_URI" "$tmp/rout" 2>/dev/null && ! same8m "$tmp/rout"; then
	echo "FAIL: a read after a lost write-back returned other bytes without an error" >&2
	rc=1
fi
grep -q 'copy kernel launch\|cudaMemcpyAsync (single)' "$tmp/vramd.log" ||
	{ echo "FAIL: vramd did not log the refused launch" >&2; rc=1; }
[ $rc = 0 ] && info "ok: lost device reported, writes, flush and reads refused, server up;" \
	"refused submissions failed their requests"
exit $rc
