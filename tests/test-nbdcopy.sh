#!/usr/bin/env bash
# Bulk data through vramd with nbdcopy: 1 GiB (NBDCOPY_SIZE) of random data in and back
# out, over one connection and over four with many requests in flight, must
# hash the same; the null backend must read back zeros.  Try:
#   tests/run-tests test-nbdcopy.sh
# timeout: 400

. "$(dirname "$0")/functions.sh"
requires_vramd
requires_backend
requires nbdcopy head cmp

size=${NBDCOPY_SIZE:-1G}	# the GPU host runs 4G
bytes=$(numfmt --from=iec "$size") || fail "bad NBDCOPY_SIZE '$size'"
src=$tmp/src.img
out=$tmp/out.img

info "writing $size of random data"
head -c "$size" /dev/urandom >"$src" || fail "cannot write $src"
[ "$(stat -c %s "$src")" = $bytes ] || fail "$src is not $bytes bytes"
want=$(sha256 "$src")
info "source sha256 $want"

# check_hash WHAT GOT: fail unless GOT is the source's hash.
check_hash() {
	[ "$2" = "$want" ] || fail "$1: sha256 $2, expected $want"
	info "ok: $1"
}

if [ "$VRAMD_BACKEND" = null ]; then
	info "backend null drops writes: round trips skipped"
else
	# One connection, default queue, through a pipe on the way out.
	start_vramd --size "$size"
	with_timeout 120 nbdcopy --flush --connections 1 "$src" "$NBD_URI" ||
		fail "nbdcopy $src -> vramd (1 connection) failed"
	got=$(with_timeout 120 nbdcopy --connections 1 "$NBD_URI" - | sha256)
	check_hash "1 connection" "$got"
	stop_vramd "$VRAMD_PID"

	# A fresh export, four connections and many requests in flight; read
	# back with maximum-size (32 MiB) requests.
	SOCK=$tmp/nbd4.sock start_vramd --size "$size"
	with_timeout 120 nbdcopy --flush --connections 4 --requests 256 "$src" "$NBD_URI" ||
		fail "nbdcopy $src -> vramd (4 connections) failed"
	with_timeout 120 nbdcopy --connections 4 --requests 8 --request-size 33554432 \
		"$NBD_URI" "$out" ||
		fail "nbdcopy vramd -> $out (4 connections) failed"
	check_hash "4 connections, 256 requests" "$(sha256 "$out")"
	rm -f "$out"
	stop_vramd "$VRAMD_PID"
fi

# The null backend accepts the writes and drops them: it reads back zeros.
VRAMD_BACKEND=null SOCK=$tmp/null.sock start_vramd --size "$size"
with_timeout 120 nbdcopy --flush --connections 4 "$src" "$NBD_URI" ||
	fail "nbdcopy $src -> vramd null backend failed"
with_timeout 120 nbdcopy --connections 4 "$NBD_URI" - |
	cmp -n $bytes - /dev/zero ||
	fail "null backend: read back is not $size of zeros"
info "ok: null backend reads zeros"
