#!/usr/bin/env bash
# The kernel NBD path on a stock distribution kernel: boots Debian's
# linux-image-amd64 (fetched and cached by tests/vm/fetch-kernel.sh, never
# installed) under qemu-system-x86_64 -accel tcg, with this host's root shared
# read-only over virtio-9p.  The guest (tests/vm/guest-run.sh) swaps a
# memory-cgroup overcommit to vramd through nbd-client and /dev/nbd0, then to
# zram.ko, through swapbench's own nbd tier, runs swapbench run on cgroup v2
# (zram valid, OOM-killed and under memcg.mode=high, zswap valid and
# OOM-killed) and swapbench doctor, and prints RESULT lines that this test
# checks.  About 100 s on an idle 2-core host, up to 300 s on a busy one.
# timeout: 720
#
#   make check-vm
#   tests/run-tests test-vm-kernel-nbd.sh
#
# How it works and how to debug it: tests/vm/README.md.  SWAPBENCH_VM_CACHE:
# kernel cache (default build/vm-cache); VM_TIMEOUT: seconds before a hung
# guest is killed.  KVM is not used (it hangs on the machines this runs on).

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
. "$top/tests/vm/lib.sh"

# Every line the guest must report (doctor may be "skip" while the harness
# is not built).
EXPECTED=(init boot nbd-attach nbd-swapon nbd-overcommit nbd-stat nbd-teardown nbd
	zram-setup zram-overcommit zram-mm_stat zram-teardown zram tier-nbd-kernel tier run-v2 run-high run-zswap run doctor clean "done")
VM_MAY_SKIP+=(tier-nbd-kernel run-v2 run-high run-zswap)

# VM_SCENARIOS (say "nbd") runs a subset, when debugging.
keep=()
if [ -n "${VM_SCENARIOS:-}" ]; then
	for n in "${EXPECTED[@]}"; do
		case $n in
		nbd* | zram* | tier* | run*) [[ " $VM_SCENARIOS " == *" ${n%%-*} "* ]] && keep+=("$n") ;;
		*) keep+=("$n") ;;
		esac
	done
	EXPECTED=("${keep[@]}")
fi

vm_requires
vm_kernel stable
vm_initrd
vm_boot
vm_results "${EXPECTED[@]}"
exit 0
