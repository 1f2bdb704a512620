#!/usr/bin/env bash
# Issue #20, item 9: when vramd cannot start all its worker threads it
# must stop the ones it started before giving up (worker.h promises
# nothing is left running; they were left).  A preloaded shim makes the
# 3rd pthread_create fail and counts the threads created and joined.
# Try:  tests/run-tests test-hostile-threads.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vramd
requires cc timeout
[ -z "${SWAPBENCH_SANITIZED:-}" ] ||
	skip "a sanitizer build: the runtime's own threads and interposers get in the shim's way"
cc -shared -fPIC -O1 -o "$tmp/thread-fail.so" "$top/tests/shim/thread-fail.c" -ldl ||
	fail "cannot build the pthread_create shim"

THREAD_FAIL_AT=3 LD_PRELOAD=$tmp/thread-fail.so timeout 20 "$VRAMD" --foreground --no-swap \
	--backend ram --size 16M --socket "$tmp/v.sock" --threads 4 >/dev/null 2>"$tmp/err"
rc=$?
info "vramd with the 3rd thread refused: exit $rc: $(tr '\n' ' ' <"$tmp/err")"
[ $rc = 1 ] || fail "exit status $rc, expected 1"
grep -q 'cannot start worker thread' "$tmp/err" || fail "no error about the worker thread"
read -r created joined < <(sed -n 's/^thread-fail: created \([0-9]*\) joined \([0-9]*\)$/\1 \2/p' "$tmp/err")
[ -n "${created:-}" ] || fail "the shim reported nothing"
[ "$created" = 2 ] || fail "$created threads created, expected 2"
[ "$joined" = "$created" ] || fail "$created worker threads started, $joined stopped before vramd gave up"
exit 0
