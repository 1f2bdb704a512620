#!/usr/bin/env bash
# vramd --ublk on a real ublk driver: boots Debian 12's backports kernel
# (6.12, whose ublk_drv the stock 6.1 package lacks; fetched and cached by
# tests/vm/fetch-kernel.sh, never installed) under qemu-system-x86_64 -accel
# tcg, with this host's root shared read-only over virtio-9p.  In the guest
# (tests/vm/guest-run.sh ublk) vramd serves /dev/ublkb0 itself: swap on it
# under a memory-cgroup overcommit, a SIGTERM refused while it is swap, fio
# verify on the raw device, discard and write-zeroes, and a kill -9 whose
# left-over device fails I/O and goes with vramd --ublk-del.  About 2-3
# minutes on a 2-core host.
# timeout: 720
#
#   tests/run-tests test-vm-ublk.sh
#
# How it works and how to debug it: tests/vm/README.md.  Knobs as for
# test-vm-kernel-nbd.sh (SWAPBENCH_VM_CACHE, VM_TIMEOUT, VM_WORK_MIB, ...),
# and VM_FIO_MIB (the fio verify's size).

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
. "$top/tests/vm/lib.sh"

EXPECTED=(init boot ublk-start ublk-swapon ublk-overcommit ublk-stat ublk-refuse
	ublk-teardown ublk-fio ublk-discard ublk-kill ublk-del ublk-gone ublk clean "done")
# Under AddressSanitizer vramd has no swap mode: nothing to refuse.
[ -n "${SWAPBENCH_SANITIZED:-}" ] && VM_MAY_SKIP+=(ublk-refuse)

vm_requires
requires fio
vm_kernel backports
[ -e "$kdir/modules/ublk_drv.ko" ] || skip "the backports kernel $(basename "$kdir") has no ublk_drv module"
vm_initrd VM_SCENARIOS=ublk VM_DOCTOR=no
vm_boot
vm_results "${EXPECTED[@]}"
exit 0
