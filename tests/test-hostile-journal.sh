#!/usr/bin/env bash
# Issue #20, item 13 (harness): `swapbench restore --dry-run` agrees with
# `swapbench restore`.  On a journal with entries it cannot undo (an
# unknown kind, no kind, a known kind without its fields) the dry run
# exited 0 and printed "(null)" where the restore exits 1.  Both must exit
# 1, name the same entries, and print no "(null)"; the entries they can
# undo are still listed.  Try:
#   tests/run-tests test-hostile-journal.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires jq
swapbench_isolate

write_journal() {
	journal_write "$(jq -n --arg f "$tmp/made-by-swapbench" \
		'[{kind: "file", path: $f}, {kind: "frobnicate", path: "/x"}, {path: "/y"},
		  {kind: "mount", fstype: "fuse"}, {kind: "run", argv: "rm -rf /"}, {kind: "process", pid: 1}]')"
}

write_journal
touch "$tmp/made-by-swapbench"
with_timeout 30 "$SWAPBENCH" restore --dry-run >"$tmp/dry" 2>&1
dry_rc=$?
with_timeout 30 "$SWAPBENCH" restore >"$tmp/real" 2>&1
real_rc=$?
info "item 13: restore --dry-run exit $dry_rc, restore exit $real_rc"
if grep -q '(null)' "$tmp/dry" "$tmp/real"; then
	cat "$tmp/dry" "$tmp/real" >&2
	fail "item 13: '(null)' printed"
fi
[ $real_rc = 1 ] || { cat "$tmp/real" >&2; fail "item 13: restore exit $real_rc on entries it cannot undo, expected 1"; }
[ $dry_rc = $real_rc ] || { cat "$tmp/dry" >&2; fail "item 13: restore --dry-run exit $dry_rc where restore exits $real_rc"; }
diff <(grep -o 'journal entry [0-9]* [^;]*;' "$tmp/dry") <(grep -o 'journal entry [0-9]* [^;]*;' "$tmp/real") >&2 ||
	fail "item 13: the dry run and the restore name different entries"
[ "$(grep -c 'journal entry [0-9]* .*; left in' "$tmp/dry")" = 5 ] ||
	{ cat "$tmp/dry" >&2; fail "item 13: the dry run did not name the 5 entries it cannot undo"; }
grep -q "would undo: remove '$tmp/made-by-swapbench'" "$tmp/dry" || { cat "$tmp/dry" >&2; fail "item 13: the undoable entry was not listed"; }
[ ! -e "$tmp/made-by-swapbench" ] || fail "item 13: the restore did not undo the entry it can"
info "item 13: both exit 1 and name the same 5 entries: $(grep -o 'journal entry [0-9]* [^;]*' "$tmp/dry" | tr '\n' ',')"
rm -f "$SWAPBENCH_STATE_DIR/state.json"
exit 0
