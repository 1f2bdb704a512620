#!/usr/bin/env bash
# Build the VM test's initramfs (an uncompressed newc cpio archive): a static
# busybox, tests/vm/init as /init, the kernel modules fetch-kernel.sh cached
# (loaded in the order of their modules.load), and payload files that init
# copies into the guest's /run/swapbench.  Try:
#
#   tests/vm/make-initramfs.sh build/vm-cache/linux-image-* /tmp/initrd \
#       build/vramd=build/vramd tests/vm/guest-run.sh=tests/vm/guest-run.sh
#
# Each payload argument is SRC=DEST, DEST relative to /run/swapbench in the
# guest.  Needs a static busybox (busybox-static) with the cpio applet.

set -u
export LC_ALL=C

prog=make-initramfs
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	echo "$prog: $*" >&2
	exit 1
}

[ $# -ge 2 ] || { echo "usage: $0 KERNEL_DIR OUTPUT [SRC=DEST...]" >&2; exit 1; }
kdir=$1 out=$2
shift 2
[ -r "$kdir/modules.load" ] || die "'$kdir' is no kernel cache directory (no modules.load)"

busybox=${BUSYBOX:-$(command -v busybox)} || die "busybox not installed (apt install busybox-static)"
# A dynamic busybox would need the host's libraries before 9p is mounted.
if ldd "$busybox" >/dev/null 2>&1; then
	die "'$busybox' is not static (apt install busybox-static)"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/swapbench-initramfs.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,dev,proc,sys,mnt,etc,lib/modules,swapbench} || exit 1
cp "$busybox" "$stage/bin/busybox" || exit 1
cp "$here/init" "$stage/init" && chmod 755 "$stage/init" || exit 1
while read -r m; do
	[ -n "$m" ] || continue
	cp "$kdir/modules/$m.ko" "$stage/lib/modules/" || die "module '$m' missing from '$kdir/modules'"
done <"$kdir/modules.load"
cp "$kdir/modules.load" "$stage/etc/modules.load" || exit 1

for p in "$@"; do
	src=${p%%=*} dest=${p#*=}
	[ "$src" != "$p" ] && [ -n "$dest" ] || die "payload '$p' is not SRC=DEST"
	case $dest in
	/* | *..*) die "payload destination '$dest' must be relative, without '..'" ;;
	esac
	mkdir -p "$stage/swapbench/$(dirname "$dest")" &&
		cp -L "$src" "$stage/swapbench/$dest" || die "cannot copy payload '$src'"
done

(cd "$stage" && find . -mindepth 1 | sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$out.tmp" ||
	die "cpio failed"
mv "$out.tmp" "$out"
