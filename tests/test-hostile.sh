#!/usr/bin/env bash
# test-hostile.sh: hostile NBD clients against vramd while a well-behaved
# client does verified I/O on the same server.  Every case of
# build/tests/nbd-hostile must pass (`build/tests/nbd-hostile --list` says
# what each sends and expects), the good client must see no error and no
# data mismatch, and both servers (read-write and --read-only) must still
# be running and answer nbdinfo afterwards.  A second round runs the same
# cases, without data checks, against the null backend.  Try it with:
#
#   tests/run-tests test-hostile.sh
#   HOSTILE_CASES='read-* handshake/*' bash tests/test-hostile.sh
# timeout: 600

source "$(dirname "$0")/functions.sh"

requires nbdinfo timeout
HOSTILE=$BUILD/tests/nbd-hostile
[ -x "$VRAMD" ] || fail "'$VRAMD' is not built (run make)"
[ -x "$HOSTILE" ] || fail "'$HOSTILE' is not built (run make)"
requires_backend

SIZE=64M
SIZE_BYTES=$((64 * 1024 * 1024))
# Case globs from the environment; `read` does not expand them.
read -ra cases <<<"${HOSTILE_CASES:-}"
problems=()

# hostile_round BACKEND [--no-data]: a read-write and a read-only server of
# BACKEND, a good client on the first, and every hostile case on both.
hostile_round() {
	local backend=$1 data=${2:-} rw ro rw_pid ro_pid good_pid hrc grc
	local tap=$tmp/hostile-$backend.tap good=$tmp/good-$backend.log

	info "round: backend $backend${data:+ ($data)}"
	VRAMD_BACKEND=$backend
	SOCK=$tmp/$backend-rw.sock
	start_vramd --size "$SIZE"
	rw=$SOCK rw_pid=$VRAMD_PID
	SOCK=$tmp/$backend-ro.sock
	start_vramd --size "$SIZE" --read-only
	ro=$SOCK ro_pid=$VRAMD_PID

	# The good client runs until told to stop (600 s is only a cap).
	"$HOSTILE" $data --good-client 600 "$rw" >"$good" 2>&1 &
	good_pid=$!
	cleanup_add "kill $good_pid"
	sleep 1

	timeout --kill-after=5 270 "$HOSTILE" $data --ro-socket "$ro" "$rw" \
		"${cases[@]}" >"$tap" 2>&1
	hrc=$?
	cat "$tap"
	if [ $hrc -eq 124 ] || [ $hrc -eq 137 ]; then
		problems+=("$backend: nbd-hostile timed out after 270 s")
	elif [ $hrc -ne 0 ]; then
		problems+=("$backend: $(grep -c '^not ok' "$tap") hostile case(s) failed (exit $hrc)")
	fi

	if kill -0 "$good_pid" 2>/dev/null; then
		kill -TERM "$good_pid"
		wait "$good_pid"
		grc=$?
	else
		wait "$good_pid"
		grc=$?
		[ $grc -eq 0 ] && grc=1	# ended before it was told to
	fi
	cat "$good"
	[ $grc -eq 0 ] || problems+=("$backend: the good client failed (exit $grc): $(tail -n 2 "$good" | head -n 1)")

	local pid sock
	for pid in "$rw_pid" "$ro_pid"; do
		kill -0 "$pid" 2>/dev/null ||
			problems+=("$backend: vramd (pid $pid) is gone")
	done
	for sock in "$rw" "$ro"; do
		local size
		size=$(timeout 10 nbdinfo --size "nbd+unix:///?socket=$sock" 2>&1)
		[ "$size" = "$SIZE_BYTES" ] ||
			problems+=("$backend: nbdinfo on $sock: '$size', want $SIZE_BYTES")
	done
	stop_vramd "$rw_pid"
	stop_vramd "$ro_pid"
}

main_backend=$VRAMD_BACKEND
if [ "$main_backend" = null ]; then
	hostile_round null --no-data
else
	hostile_round "$main_backend"
	hostile_round null --no-data
fi

if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault' "$tmp/vramd.log"; then
	problems+=("vramd's log has a sanitizer or crash report")
fi
if [ ${#problems[@]} -gt 0 ]; then
	echo "--- vramd log (last 40 lines)" >&2
	tail -n 40 "$tmp/vramd.log" >&2
	for p in "${problems[@]}"; do
		echo "FAIL: $p" >&2
	done
	exit 1
fi
exit 0
