#!/usr/bin/env bash
# Issue #20, item 10: the disk tier does not reformat another system's swap
# area.  A loop device made with `mkswap -L sysswap` (an fstab line may name
# its UUID or label): `tier up disk --device` refuses it without --force,
# and with --force the swap area keeps its UUID and label after the tier
# was up and down.  A run's repeats on a fresh device use again the swap
# area the first one made (no --force), while another system's is still
# refused; a device too small for swap is refused with its size.  Try:
#   tests/run-tests test-hostile-disk.sh
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires losetup mkswap blkid truncate jq
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

# The swap area swapbench itself made on a device is no stranger's: a
# run's later repeats use it again without --force (they were refused).
# Another system's area is still refused by a run.
truncate -s 256M "$tmp/fresh.img" || fail "cannot create $tmp/fresh.img"
fresh=$(losetup -f --show "$tmp/fresh.img") || skip "cannot attach a second loop device"
cleanup_add "losetup -d '$fresh'"
before=$(machine_snapshot)
export SWAPBENCH_SCENARIOS=$top/scenarios
with_timeout 120 "$SWAPBENCH" run --scenario quick --tiers "disk:device=$fresh:as=part" --repeats 2 \
	--set workload.duration_s=2 --out "$tmp/rep" >"$tmp/out" 2>&1 ||
	{ tail -n 5 "$tmp/out" >&2; fail "swapbench run on $fresh, 2 repeats, failed"; }
jq -e '[.runs[] | .repeat] == [1, 2] and all(.runs[]; .valid)' "$tmp/rep/run.json" >/dev/null ||
	fail "the repeats on $fresh: $(jq -c '[.runs[] | {repeat, valid, invalid_reason}]' "$tmp/rep/run.json")"
with_timeout 60 "$SWAPBENCH" run --scenario quick --tiers "disk:device=$dev:as=sys" --repeats 1 \
	--set workload.duration_s=2 --out "$tmp/sys" >"$tmp/out" 2>&1
grep -q "is a swap area already (UUID $uuid, label 'sysswap')" "$tmp/out" &&
	[ "$(id UUID)" = "$uuid" ] && [ "$(id LABEL)" = sysswap ] ||
	{ tail -n 5 "$tmp/out" >&2; fail "a run reformatted or did not refuse another system's swap area"; }
# A device too small for swap (an unsized zram is 0 bytes) is refused
# before anything is set up, with its size.
truncate -s 512K "$tmp/tiny.img" || fail "cannot create $tmp/tiny.img"
tiny=$(losetup -f --show "$tmp/tiny.img") || skip "cannot attach a third loop device"
cleanup_add '[ -z "$tiny" ] || losetup -d "$tiny"'
with_timeout 60 "$SWAPBENCH" tier up disk --device "$tiny" -- true >"$tmp/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "'$tiny' holds 524288 bytes, too few for swap (at least 1024 KiB)" "$tmp/out" &&
	[ -z "$(blkid -p -o value -s TYPE "$tiny")" ] ||
	{ cat "$tmp/out" >&2; fail "a 512 KiB device: exit $rc, or not refused with its size, or formatted"; }
losetup -d "$tiny" && tiny=
same_machine "$before" "after the runs on devices"
info "a 512 KiB device refused with its size"
info "a run's repeats reuse the swap area it made; another system's is still refused"
exit 0
