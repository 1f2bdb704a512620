#!/usr/bin/env bash
# The kernel NBD path on a stock distribution kernel: boots Debian's
# linux-image-amd64 (fetched and cached by tests/vm/fetch-kernel.sh, never
# installed) under qemu-system-x86_64 -accel tcg, with this host's root shared
# read-only over virtio-9p.  The guest (tests/vm/guest-run.sh) swaps a
# memory-cgroup overcommit to vramd through nbd-client and /dev/nbd0, then to
# zram.ko, runs swapbench doctor and prints RESULT lines that this test
# checks.  About 80 s on an idle 2-core host, up to 250 s on a busy one.
# timeout: 720
#
#   make check-vm
#   tests/run-tests test-vm-kernel-nbd.sh
#
# How it works and how to debug it: tests/vm/README.md.  SWAPBENCH_VM_CACHE:
# kernel cache (default build/vm-cache); VM_TIMEOUT: seconds before a hung
# guest is killed.  KVM is not used (it hangs on the machines this runs on).

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

# In the source tree's build/ whatever BUILD is, so that every build (the
# ASan one too) shares one download.
VM_CACHE=${SWAPBENCH_VM_CACHE:-$top/build/vm-cache}
: "${VM_TIMEOUT:=600}"
case $VM_TIMEOUT in
'' | *[!0-9]* | 0) fail "VM_TIMEOUT must be a number of seconds, not '$VM_TIMEOUT'" ;;
esac
VM_MEM_MIB=2048
VM_CPUS=2
# Not "max": TCG emulates its AVX2, which glibc's string functions then use,
# at a seventh of qemu64's memcpy speed.
VM_CPU_MODEL=qemu64
QEMU="qemu-system-x86_64"
# Every line the guest must report (doctor may be "skip" while the harness
# is not built).
EXPECTED=(init boot nbd-attach nbd-swapon nbd-overcommit nbd-stat nbd-teardown nbd
	zram-setup zram-overcommit zram-mm_stat zram-teardown zram tier-nbd-kernel tier doctor clean "done")

# VM_SCENARIOS (say "nbd") runs a subset, when debugging.
keep=()
if [ -n "${VM_SCENARIOS:-}" ]; then
	for n in "${EXPECTED[@]}"; do
		case $n in
		nbd* | zram* | tier*) [[ " $VM_SCENARIOS " == *" ${n%%-*} "* ]] && keep+=("$n") ;;
		*) keep+=("$n") ;;
		esac
	done
	EXPECTED=("${keep[@]}")
fi

[ -z "${SWAPBENCH_SKIP_VM:-}" ] ||
	skip "SWAPBENCH_SKIP_VM is set (CI's sanitizer pass: the VM test ran in the plain pass)"
requires_root
requires "$QEMU" busybox timeout apt-get dpkg modinfo
requires_vramd
requires_test_prog memtouch
"$QEMU" -accel help 2>/dev/null | grep -qx tcg || skip "$QEMU offers no TCG accelerator"
"$QEMU" -device help 2>/dev/null | grep -q '"virtio-9p-pci"' ||
	skip "$QEMU has no virtio-9p (virtfs) device"

# --- the kernel and the initramfs ---------------------------------------------

start=$SECONDS
kdir=$("$top/tests/vm/fetch-kernel.sh" "$VM_CACHE" 2>"$tmp/fetch.err")
rc=$?
sed 's/^/# /' "$tmp/fetch.err" >&2
case $rc in
0) ;;
2) skip "kernel package cannot be fetched: $(tail -n 1 "$tmp/fetch.err")" ;;
*) fail "tests/vm/fetch-kernel.sh $VM_CACHE failed (exit $rc)" ;;
esac
info "kernel: $(tr '\n' ' ' <"$kdir/package")($((SECONDS - start))s)"

# Settings for the guest; VM_* knobs of guest-run.sh set here pass through.
{
	t=$(((VM_TIMEOUT - 40) / 2))
	echo "VM_SCENARIO_TIMEOUT=$((t < 60 ? 60 : t))"
	echo "SWAPBENCH_SANITIZED=${SWAPBENCH_SANITIZED:-}"
	for v in VM_SCENARIOS VM_CG_LIMIT_MIB VM_WORK_MIB VM_WORK_PASSES VM_WORK_TIMEOUT \
		VM_EXPORT_MIB VM_ZRAM_MIB; do
		[ -n "${!v:-}" ] && printf '%s=%q\n' "$v" "${!v}"
	done
} >"$tmp/vm.env"
payload=(
	"$top/tests/functions.sh=tests/functions.sh"
	"$top/tests/vm/guest-run.sh=tests/vm/guest-run.sh"
	"$VRAMD=build/vramd"
	"$BUILD/tests/memtouch=build/tests/memtouch"
	"$tmp/vm.env=vm.env"
)
if [ -x "$BUILD/swapbench" ]; then
	payload+=("$BUILD/swapbench=build/swapbench")
else
	info "$BUILD/swapbench absent: the guest skips swapbench doctor"
fi
"$top/tests/vm/make-initramfs.sh" "$kdir" "$tmp/initrd" "${payload[@]}" ||
	fail "tests/vm/make-initramfs.sh failed"

# --- boot ---------------------------------------------------------------------

QEMU_PID=''
stop_qemu() {
	[ -n "$QEMU_PID" ] || return 0
	kill -TERM "$QEMU_PID" 2>/dev/null
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=
}

# ttyS0 is the console; the guest also writes its RESULT lines to ttyS1.
: >"$tmp/console.log"
: >"$tmp/results.log"
qemu=("$QEMU" -accel tcg -cpu "$VM_CPU_MODEL" -m "$VM_MEM_MIB" -smp "$VM_CPUS"
	-nodefaults -display none -no-reboot
	-kernel "$kdir/vmlinuz" -initrd "$tmp/initrd"
	-append "console=ttyS0 quiet psi=1 panic=-1 zswap.enabled=0 swapbench.vm=1"
	-serial "file:$tmp/console.log" -serial "file:$tmp/results.log"
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)
info "${qemu[*]}"
boot=$SECONDS
# In the background, so that a signal to this test reaches its traps (and
# stop_qemu) at once.
timeout --kill-after=10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
QEMU_PID=$!
cleanup_add stop_qemu
wait "$QEMU_PID"
rc=$?
QEMU_PID=
took=$((SECONDS - boot))
# The whole console of the last run stays beside the runner's logs.
if [ -d "$BUILD/test-logs" ]; then
	tr -d '\r' <"$tmp/console.log" >"$BUILD/test-logs/vm-console.log" 2>/dev/null
fi

show_console() {
	echo "--- guest console ($tmp/console.log):" >&2
	tr -d '\r' <"$tmp/console.log" >&2
	echo "--- end of guest console" >&2
	if [ -s "$tmp/qemu.log" ]; then
		echo "--- $QEMU output:" >&2
		cat "$tmp/qemu.log" >&2
	fi
}

if [ $rc = 124 ] || [ $rc = 137 ]; then
	show_console
	fail "the guest hung: killed after ${VM_TIMEOUT}s"
fi
if [ $rc != 0 ]; then
	show_console
	fail "$QEMU exited with status $rc after ${took}s"
fi
info "guest ran ${took}s, from boot to power-off"

# --- the guest's results -------------------------------------------------------

tr -d '\r' <"$tmp/results.log" | grep '^RESULT ' >"$tmp/results" || true
sed 's/^/# /' "$tmp/results" >&2
problems=()
for name in "${EXPECTED[@]}"; do
	line=$(awk -v n="$name" '$2 == n' "$tmp/results" | tail -n 1)
	status=$(awk '{ print $3 }' <<<"$line")
	case $name:$status in
	*:ok | doctor:skip | tier-nbd-kernel:skip) ;;
	*:) problems+=("no RESULT $name") ;;
	*) problems+=("RESULT $name $status") ;;
	esac
done
while read -r _ name status _; do
	[ "$status" = fail ] && [[ " ${EXPECTED[*]} " != *" $name "* ]] &&
		problems+=("RESULT $name fail")
done <"$tmp/results"

# swapbench doctor's report, as the guest printed it.
tr -d '\r' <"$tmp/console.log" |
	sed -n '/^----- swapbench doctor -----$/,/^----- end of swapbench doctor/p' >&2

if [ ${#problems[@]} -gt 0 ]; then
	show_console
	fail "${#problems[@]} problem(s): ${problems[*]}"
fi
info "all ${#EXPECTED[@]} results ok in $((SECONDS - start))s"
exit 0
