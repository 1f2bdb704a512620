# The host side the VM tests share (test-vm-kernel-nbd.sh, test-vm-ublk.sh):
# fetch a Debian kernel, pack the initramfs, boot it under QEMU's TCG with
# the host's root over virtio-9p, and check the guest's RESULT lines.
# Source it after tests/functions.sh, then:
#
#   vm_requires                        skips where QEMU or the tools are missing
#   vm_kernel [stable|backports]       sets kdir (tests/vm/fetch-kernel.sh)
#   vm_initrd [KNOB=VALUE...]          $tmp/initrd with the payload and vm.env
#   vm_boot                            runs the guest, fails when it hangs
#   vm_results NAME...                 every NAME must say ok (or may skip
#                                      where VM_MAY_SKIP lists it)
#
# How it works and how to debug it: tests/vm/README.md.

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
VM_MAY_SKIP=(doctor)

vm_requires() {
	[ -z "${SWAPBENCH_SKIP_VM:-}" ] ||
		skip "SWAPBENCH_SKIP_VM is set (CI's sanitizer pass: the VM test ran in the plain pass)"
	requires_root
	requires "$QEMU" busybox timeout apt-get dpkg modinfo
	requires_vramd
	requires_test_prog memtouch
	"$QEMU" -accel help 2>/dev/null | grep -qx tcg || skip "$QEMU offers no TCG accelerator"
	"$QEMU" -device help 2>/dev/null | grep -q '"virtio-9p-pci"' ||
		skip "$QEMU has no virtio-9p (virtfs) device"
}

# vm_kernel [FLAVOUR]: the kernel's cache directory in kdir; skips when no
# kernel package can be had.
vm_kernel() {
	local rc
	vm_start=$SECONDS
	kdir=$(SWAPBENCH_VM_KERNEL=${1:-stable} "$top/tests/vm/fetch-kernel.sh" "$VM_CACHE" 2>"$tmp/fetch.err")
	rc=$?
	sed 's/^/# /' "$tmp/fetch.err" >&2
	case $rc in
	0) ;;
	2) skip "kernel package cannot be fetched: $(tail -n 1 "$tmp/fetch.err")" ;;
	*) fail "tests/vm/fetch-kernel.sh $VM_CACHE failed (exit $rc)" ;;
	esac
	info "kernel: $(tr '\n' ' ' <"$kdir/package")($((SECONDS - vm_start))s)"
}

# vm_initrd [KNOB=VALUE...]: the guest's settings (VM_* knobs of
# guest-run.sh set in the environment pass through; the arguments are
# added) and the initramfs with the payload.
vm_initrd() {
	local t v f payload
	{
		t=$(((VM_TIMEOUT - 40) / 2))
		echo "VM_SCENARIO_TIMEOUT=$((t < 60 ? 60 : t))"
		echo "SWAPBENCH_SANITIZED=${SWAPBENCH_SANITIZED:-}"
		for v in VM_SCENARIOS VM_CG_LIMIT_MIB VM_WORK_MIB VM_WORK_PASSES VM_WORK_TIMEOUT \
			VM_EXPORT_MIB VM_ZRAM_MIB VM_FIO_MIB; do
			[ -n "${!v:-}" ] && printf '%s=%q\n' "$v" "${!v}"
		done
		for v in "$@"; do
			printf '%s=%q\n' "${v%%=*}" "${v#*=}"
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
		for f in "$top"/scenarios/*.ini; do	# the guest's swapbench run, doctor
			payload+=("$f=scenarios/${f##*/}")
		done
	else
		info "$BUILD/swapbench absent: the guest skips its swapbench steps (tier, run, doctor)"
	fi
	"$top/tests/vm/make-initramfs.sh" "$kdir" "$tmp/initrd" "${payload[@]}" ||
		fail "tests/vm/make-initramfs.sh failed"
}

QEMU_PID=''
_vm_stop_qemu() {
	[ -n "$QEMU_PID" ] || return 0
	kill -TERM "$QEMU_PID" 2>/dev/null
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=
}

vm_show_console() {
	echo "--- guest console ($tmp/console.log):" >&2
	tr -d '\r' <"$tmp/console.log" >&2
	echo "--- end of guest console" >&2
	if [ -s "$tmp/qemu.log" ]; then
		echo "--- $QEMU output:" >&2
		cat "$tmp/qemu.log" >&2
	fi
}

# vm_boot: boots the guest and waits for it to power off (at most
# VM_TIMEOUT seconds).  ttyS0 is the console; the guest also writes its
# RESULT lines to ttyS1.
vm_boot() {
	local qemu boot rc
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
	# In the background, so that a signal to this test reaches its traps
	# (and the QEMU stop) at once.
	timeout --kill-after=10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
	QEMU_PID=$!
	cleanup_add _vm_stop_qemu
	wait "$QEMU_PID"
	rc=$?
	QEMU_PID=
	took=$((SECONDS - boot))
	# The whole console of the last run stays beside the runner's logs.
	if [ -d "$BUILD/test-logs" ]; then
		tr -d '\r' <"$tmp/console.log" >"$BUILD/test-logs/vm-console.log" 2>/dev/null
	fi
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		vm_show_console
		fail "the guest hung: killed after ${VM_TIMEOUT}s"
	fi
	if [ $rc != 0 ]; then
		vm_show_console
		fail "$QEMU exited with status $rc after ${took}s"
	fi
	info "guest ran ${took}s, from boot to power-off"
}

# vm_results NAME...: fails, with the console, unless every NAME reported
# ok (or skip, for those in VM_MAY_SKIP) and no other step failed.
vm_results() {
	local name line status problems=() s may
	tr -d '\r' <"$tmp/results.log" | grep '^RESULT ' >"$tmp/results" || true
	sed 's/^/# /' "$tmp/results" >&2
	for name in "$@"; do
		line=$(awk -v n="$name" '$2 == n' "$tmp/results" | tail -n 1)
		status=$(awk '{ print $3 }' <<<"$line")
		may=
		for s in "${VM_MAY_SKIP[@]}"; do
			[ "$s" = "$name" ] && may=1
		done
		case $status in
		ok) ;;
		skip) [ -n "$may" ] || problems+=("RESULT $name skip") ;;
		'') problems+=("no RESULT $name") ;;
		*) problems+=("RESULT $name $status") ;;
		esac
	done
	while read -r _ name status _; do
		[ "$status" = fail ] && [[ " $* " != *" $name "* ]] &&
			problems+=("RESULT $name fail")
	done <"$tmp/results"

	# swapbench doctor's report, as the guest printed it.
	tr -d '\r' <"$tmp/console.log" |
		sed -n '/^----- swapbench doctor -----$/,/^----- end of swapbench doctor/p' >&2

	if [ ${#problems[@]} -gt 0 ]; then
		vm_show_console
		fail "${#problems[@]} problem(s): ${problems[*]}"
	fi
	info "all $# results ok in $((SECONDS - vm_start))s"
}
