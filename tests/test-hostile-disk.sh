#!/usr/bin/env bash
# Issue #20, item 10: the disk tier does not reformat another system's swap
# area.  A loop device made with `mkswap -L sysswap` (an fstab line may name
# its UUID or label): `tier up disk --device` refuses it without --force,
# and with --force the swap area keeps its UUID and label after the tier
# was up and down.  Try:
#   tests/run-tests test-hostile-disk.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires losetup mkswap blkid truncate
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr
swapbench_isolate

truncate -s 256M "$tmp/sys.img" || fail "cannot create $tmp/sys.img"
dev=$(losetup -f --show "$tmp/sys.img") || skip "cannot attach a loop device"
cleanup_add "losetup -d '$dev'"
mkswap -L sysswap "$dev" >/dev/null || fail "mkswap -L sysswap $dev failed"
id() { blkid -p -o value -s "$1" "$dev"; }
uuid=$(id UUID) label=$(id LABEL)
[ "$label" = sysswap ] && [ -n "$uuid" ] || fail "mkswap made no label or UUID ('$label', '$uuid')"
before=$(machine_snapshot)

with_timeout 60 "$SWAPBENCH" tier up disk --device "$dev" -- true >"$tmp/out" 2>&1
rc=$?
[ "$(id UUID)" = "$uuid" ] && [ "$(id LABEL)" = sysswap ] ||
	{ cat "$tmp/out" >&2; fail "item 10: without --force, '$dev' was reformatted: UUID $(id UUID), label '$(id LABEL)' (was $uuid, sysswap)"; }
[ $rc = 1 ] || { cat "$tmp/out" >&2; fail "item 10: exit $rc without --force, expected 1"; }
grep -q "is a swap area already (UUID $uuid, label 'sysswap')" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "item 10: the refusal does not say why"; }
same_machine "$before" "item 10: after the refusal"
info "item 10: another system's swap area refused without --force"

with_timeout 60 "$SWAPBENCH" tier up disk --device "$dev" --force -- true >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out" >&2; fail "item 10: tier up disk --device $dev --force failed"; }
grep -q "keeps its swap UUID $uuid and label 'sysswap'" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "item 10: --force did not say that the UUID and label are kept"; }
[ "$(id UUID)" = "$uuid" ] && [ "$(id LABEL)" = sysswap ] ||
	fail "item 10: with --force, UUID $(id UUID), label '$(id LABEL)' after the tier (was $uuid, sysswap)"
same_machine "$before" "item 10: after the tier was up and down"
info "item 10: with --force the swap area kept UUID $uuid and label sysswap"
exit 0
