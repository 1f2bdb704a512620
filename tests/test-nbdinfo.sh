#!/usr/bin/env bash
# What vramd advertises in the handshake, as nbdinfo sees it: export size,
# block sizes, transmission flags, read-only mode, the export list with its
# description, and a clean refusal of an unknown export name.  Try:
#   tests/run-tests test-nbdinfo.sh
# timeout: 60

. "$(dirname "$0")/functions.sh"
requires_vramd
requires_backend
requires nbdinfo jq timeout


# expect_json FILE JQ-EXPR WANT: the first export's field must equal WANT.
expect_json() {
	local got
	got=$(jq -c ".exports[0]$2" "$1")
	[ "$got" = "$3" ] || bad "nbdinfo --json: $2 is $got, expected $3"
}

desc="swapbench test export"
start_vramd --size 1G --description "$desc"
rw_uri=$NBD_URI

# The default export ("") and "vramd" both select it.
for uri in "$rw_uri" "nbd+unix:///vramd?socket=$SOCK"; do
	if ! with_timeout 20 nbdinfo --json "$uri" >"$tmp/info.json" 2>"$tmp/info.err"; then
		cat "$tmp/info.err" >&2
		fail "nbdinfo --json $uri failed"
	fi
	info "$uri: $(jq -c . "$tmp/info.json")"
	[ "$(jq -r .protocol "$tmp/info.json")" = newstyle-fixed ] ||
		bad "protocol is $(jq -r .protocol "$tmp/info.json"), expected newstyle-fixed"
	[ "$(jq -r .structured "$tmp/info.json")" = true ] ||
		bad "structured replies not negotiated"
	expect_json "$tmp/info.json" '."export-size"' 1073741824
	expect_json "$tmp/info.json" .block_size_minimum 1
	expect_json "$tmp/info.json" .block_size_preferred 4096
	expect_json "$tmp/info.json" .block_size_maximum 33554432
	for flag in can_flush can_fua can_trim can_zero can_multi_conn; do
		expect_json "$tmp/info.json" ".$flag" true
	done
	expect_json "$tmp/info.json" .is_read_only false
done

# --read-only, under another export name.
SOCK=$tmp/ro.sock start_vramd --size 64M --read-only --export-name swap0
ro_sock=$tmp/ro.sock
if ! with_timeout 20 nbdinfo --json "nbd+unix:///swap0?socket=$ro_sock" >"$tmp/ro.json" 2>"$tmp/ro.err"; then
	cat "$tmp/ro.err" >&2
	fail "nbdinfo --json on the --read-only server failed"
fi
expect_json "$tmp/ro.json" .is_read_only true
expect_json "$tmp/ro.json" '."export-size"' 67108864
size=$(with_timeout 20 nbdinfo --size "nbd+unix:///?socket=$ro_sock" 2>&1)
[ "$size" = 67108864 ] || bad "the empty export name does not select 'swap0': $size"

# --list shows the export name and description.
if ! with_timeout 20 nbdinfo --list --json "$rw_uri" >"$tmp/list.json" 2>"$tmp/list.err"; then
	cat "$tmp/list.err" >&2
	fail "nbdinfo --list --json failed"
fi
info "list: $(jq -c '[.exports[] | {"export-name", description}]' "$tmp/list.json")"
n=$(jq '.exports | length' "$tmp/list.json")
[ "$n" = 1 ] || bad "nbdinfo --list shows $n exports, expected 1"
got=$(jq -r '[.exports[] | select(."export-name" == "vramd")][0].description // empty' "$tmp/list.json")
[ -n "$got" ] || bad "nbdinfo --list does not list the export 'vramd' with a description"
[ "$got" = "$desc" ] || bad "export description is '$got', expected '$desc'"
with_timeout 20 nbdinfo --list "$rw_uri" >"$tmp/list.txt" 2>&1 || bad "nbdinfo --list failed"
grep -qF 'export="vramd"' "$tmp/list.txt" || bad "nbdinfo --list text lacks export=\"vramd\""
grep -qF "$desc" "$tmp/list.txt" || bad "nbdinfo --list text lacks the description"
with_timeout 20 nbdinfo --list --json "nbd+unix:///?socket=$ro_sock" >"$tmp/rolist.json" ||
	bad "nbdinfo --list on the --read-only server failed"
got=$(jq -r '[.exports[]."export-name"] | join(",")' "$tmp/rolist.json")
[ "$got" = swap0 ] || bad "--export-name swap0: nbdinfo --list shows '$got'"

# A wrong export name fails cleanly: an error, no hang, and the server
# goes on serving.
for uri in "nbd+unix:///wrong?socket=$SOCK" "nbd+unix:///vramd?socket=$ro_sock"; do
	timeout 20 nbdinfo "$uri" >"$tmp/wrong.out" 2>"$tmp/wrong.err"
	rc=$?
	info "nbdinfo $uri -> $rc: $(tr '\n' ' ' <"$tmp/wrong.err")"
	case $rc in
	0) bad "nbdinfo $uri: succeeded, expected a refusal" ;;
	124 | 137) bad "nbdinfo $uri: hung" ;;
	1) ;;
	*) bad "nbdinfo $uri: exit status $rc, expected 1" ;;
	esac
	grep -qiE 'export|no such' "$tmp/wrong.err" ||
		bad "nbdinfo $uri: error does not mention the export: $(cat "$tmp/wrong.err")"
done
size=$(with_timeout 20 nbdinfo --size "$rw_uri" 2>&1)
[ "$size" = 1073741824 ] || bad "server not serving after a wrong export name: $size"
kill -0 "$VRAMD_PID" 2>/dev/null || bad "the --read-only server died"

checks_done
