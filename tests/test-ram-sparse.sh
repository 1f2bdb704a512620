#!/usr/bin/env bash
# Issue #20, item 13: TRIM (and WRITE_ZEROES: the same code) on the ram
# backend gives pages back instead of writing zeros into them: trimming a
# fresh 256 MiB export must not make it resident (it took RSS from 4 to
# 266 MB), and what was written and then trimmed reads back as zeros, the
# bytes around it unchanged (an unaligned range: edges zeroed by hand).
# Outside swap mode (locked memory is zeroed in place).
# Try:  tests/run-tests test-ram-sparse.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vramd
requires fio nbdcopy timeout cmp python3
fio --enghelp 2>/dev/null | grep -qw nbd || skip "this fio has no nbd engine"

# start NAME SIZE: a ram vramd on $tmp/NAME.sock; its pid in PID.
start() {
	"$VRAMD" --backend ram --size "$2" --socket "$tmp/$1.sock" --no-swap \
		--pidfile "$tmp/$1.pid" --log "$tmp/$1.log" || fail "vramd ($1) did not start"
	PID=$(cat "$tmp/$1.pid")
	cleanup_add "kill $PID 2>/dev/null"
}
trim() { # URI OFFSET LENGTH: one TRIM through fio's nbd engine
	timeout 60 fio --name=t --ioengine=nbd --uri="$1" --rw=trim --bs="$3" --offset="$2" \
		--size="$3" --output-format=terse >"$tmp/fio.out" 2>&1 ||
		fail "fio trim at $2 length $3: $(tail -c 300 "$tmp/fio.out")"
}

# --- a fresh export stays sparse ----------------------------------------------
start big 256M
rss() { echo $(($(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status") / 1024)); }
before=$(rss)
trim "nbd+unix:///?socket=$tmp/big.sock" 0 256M
after=$(rss)
info "vramd RSS ${before} MiB at start, ${after} MiB after one TRIM of all 256 MiB"
[ "$after" -lt $((before + 32)) ] ||
	fail "a TRIM of a fresh 256 MiB export made vramd resident: RSS ${before} -> ${after} MiB"

# --- trimmed bytes read as zeros, the rest unchanged --------------------------------
start small 16M
uri="nbd+unix:///?socket=$tmp/small.sock"
head -c 16M /dev/urandom >"$tmp/pat"
nbdcopy "$tmp/pat" "$uri" || fail "nbdcopy into the export failed"
off=$((4 * 1048576 + 512)) len=$((5 * 1048576))
trim "$uri" "$off" "$len"
nbdcopy "$uri" "$tmp/back" || fail "nbdcopy out of the export failed"
python3 - "$tmp/pat" "$tmp/expect" "$off" "$len" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
o, n = int(sys.argv[3]), int(sys.argv[4])
d[o:o + n] = bytes(n)
open(sys.argv[2], 'wb').write(d)
PY
cmp "$tmp/back" "$tmp/expect" >"$tmp/cmp" 2>&1 ||
	fail "after a TRIM of $len bytes at $off: $(head -n 1 "$tmp/cmp")"
info "a TRIM of $len bytes at $off reads back as zeros, the 11 MiB around it unchanged"
exit 0
