#!/usr/bin/env bash
# scripts/bench-server.sh's command line and one short real run: bad
# options are usage errors (status 2, a clear message), --cases picks cases
# by shell pattern, and a one-case run against vramd's ram backend writes a
# complete JSON document with a valid figure.  A check that the benchmark
# works, not a measurement.  Try:  tests/run-tests test-bench-server.sh
# timeout: 120

. "$(dirname "$0")/functions.sh"
requires_vramd
requires fio jq nbdinfo timeout
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"
bench=$top/scripts/bench-server.sh
[ -x "$bench" ] || fail "$bench missing"

# usage_error REGEX ARGS...: bench-server ARGS must exit 2 naming REGEX.
usage_error() {
	refused_usage "$1" env BUILD="$BUILD" "$bench" "${@:2}"
}
usage_error "cases.*matches no case" --cases nope
usage_error "cases.*needs a value" --cases
usage_error "cases.*matches no case" --cases ""
usage_error "runtime" --runtime 0
usage_error "repeats" --repeats x
usage_error "size" --size 1000
usage_error "unknown server" --servers bogus
usage_error "unknown option" --bogus

info "one case, one server, 1 s"
BUILD=$BUILD with_timeout 60 "$bench" --servers vramd-ram --size 64M --runtime 1 \
	--cases "randr*-qd1-c1 seqwrite-1m-qd8-c4" --out "$tmp/b.json" >"$tmp/b.out" 2>&1 ||
	{ cat "$tmp/b.out" >&2; fail "bench-server run failed"; }
got=$(jq -r '[.runs[].case] | unique | join(" ")' "$tmp/b.json")
[ "$got" = "randread-qd1-c1 seqwrite-1m-qd8-c4" ] ||
	bad "--cases ran '$got'"
jq -e '.complete and (.runs | length == 2) and all(.runs[]; .valid and .fio_exit_code == 0)' \
	"$tmp/b.json" >/dev/null ||
	bad "results not complete and valid: $(jq -c '.runs' "$tmp/b.json")"
jq -e '.runs[] | select(.case == "randread-qd1-c1") | .lat_p50_us > 0' "$tmp/b.json" >/dev/null ||
	bad "no QD1 latency in the results"
[ "$errors" = 0 ] || fail "$errors check(s) failed"
info "ok: usage errors, --cases, a complete run"
