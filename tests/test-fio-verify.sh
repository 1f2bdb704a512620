#!/usr/bin/env bash
# fio's nbd engine against vramd: four jobs, each on its own connection and
# its own 96 MiB of the export, write at random with crc32c verify headers
# and read everything back; then a second fio run, on new connections,
# verifies the same data again.  No job may report an error or a verify
# failure.  The same job on the null backend must fail.  Try:
#   tests/run-tests test-fio-verify.sh
# timeout: 180

. "$(dirname "$0")/functions.sh"
requires_vramd
requires_backend
requires fio jq
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"

[ "$VRAMD_BACKEND" != null ] ||
	skip "backend null drops writes: nothing to verify (the negative control runs it)"

# fio_args URI MIB_PER_JOB: set fio_args to four jobs (threads), each with
# its own connection and its own range of the export.
fio_args() {
	fio_args=(--name=vramd --thread --ioengine=nbd "--uri=$1" --rw=randwrite
		--bsrange=4k-64k --size="$2m" --offset_increment="$2m"
		--numjobs=4 --iodepth=32 --verify=crc32c --verify_state_save=0
		--output-format=json)
}

# run_fio NAME ARGS...: run fio in $tmp (fio may drop files in its working
# directory); its JSON report goes to $tmp/NAME.json and its messages to
# $tmp/NAME.err.  Returns fio's exit status.
run_fio() {
	local name=$1 rc
	shift
	info "fio $*"
	(cd "$tmp" && timeout --kill-after=5 90 fio "$@" --output="$tmp/$name.out" \
		2>"$tmp/$name.err")
	rc=$?
	[ $rc = 124 ] || [ $rc = 137 ] && fail "fio $name timed out"
	# fio writes its jobs' log lines ("fio: connected...", "verify: bad
	# magic...") into the --output file ahead of the JSON, and a line cut
	# short can run into the JSON's opening brace.
	awk '/^  "fio version"/ && !json { json = 1; print "{" }
		json { print; next }
		NR > 1 { print prev >"/dev/stderr" }
		{ prev = $0 }' "$tmp/$name.out" >"$tmp/$name.json" 2>>"$tmp/$name.err"
	return $rc
}

# check_fio NAME MIB_PER_JOB: every job ended without error, read back all
# it wrote, and fio said nothing about verification.
check_fio() {
	local name=$1 want=$(($2 * 1048576)) n errs short
	jq -e . "$tmp/$name.json" >/dev/null 2>&1 || {
		cat "$tmp/$name.out" "$tmp/$name.err" >&2
		fail "fio $name: no JSON report"
	}
	n=$(jq '.jobs | length' "$tmp/$name.json")
	[ "$n" = 4 ] || fail "fio $name: $n jobs reported, expected 4"
	errs=$(jq -r '.jobs[] | select(.error != 0) |
		"job \(.jobname) error \(.error)"' "$tmp/$name.json")
	short=$(jq -r --argjson want "$want" '.jobs[] | select(.read.io_bytes != $want) |
		"job \(.jobname) verified \(.read.io_bytes) bytes, expected \($want)"' \
		"$tmp/$name.json")
	if grep -qiE 'verify:|bad magic|crc32c|error|fail' "$tmp/$name.err"; then
		head -n 20 "$tmp/$name.err" >&2
		fail "fio $name: verify or I/O errors reported"
	fi
	[ -z "$errs" ] || fail "fio $name: $errs"
	[ -z "$short" ] || fail "fio $name: $short"
	info "ok: fio $name: 4 jobs, $(jq '[.jobs[].read.io_bytes] | add' "$tmp/$name.json") bytes verified"
}

mib=96
start_vramd --size 512M
fio_args "$NBD_URI" $mib
run_fio write "${fio_args[@]}" --do_verify=1 ||
	{ rc=$?; tail -n 20 "$tmp/write.err" >&2; fail "fio write+verify exited with status $rc"; }
check_fio write $mib
run_fio reverify "${fio_args[@]}" --verify_only=1 ||
	{ rc=$?; tail -n 20 "$tmp/reverify.err" >&2; fail "fio verify_only exited with status $rc"; }
check_fio reverify $mib

# Negative control: the null backend drops the writes, so verify must fail.
VRAMD_BACKEND=null SOCK=$tmp/null.sock start_vramd --size 512M
fio_args "$NBD_URI" 8
run_fio null "${fio_args[@]}" --do_verify=1 && fail "fio on the null backend succeeded"
jq -e '[.jobs[].error] | any(. != 0)' "$tmp/null.json" >/dev/null ||
	fail "fio on the null backend: no job reported an error"
grep -q 'verify: bad magic' "$tmp/null.err" ||
	fail "fio on the null backend: no verify failure reported"
info "ok: fio on the null backend fails verification"
