#!/usr/bin/env bash
# Fetch Debian's stock kernel for the VM test into a cache, without installing
# it: the package linux-image-amd64 points at (apt-get download), unpacked
# with dpkg -x into a scratch directory, of which the cache keeps vmlinuz,
# the config and the modules the guest loads (with their dependencies, named
# in load order in modules.load).  Try:
#
#   tests/vm/fetch-kernel.sh build/vm-cache
#
# prints the kernel's cache directory (CACHE/PACKAGE_VERSION) on stdout.
# Exit 0 on success, 2 when no kernel package can be had (the reason on
# stderr), 1 on any other error.  A cached kernel is reused while it is the
# archive's current one; when the archive cannot be reached the newest cached
# one is used.  SWAPBENCH_VM_KERNEL_DEB=FILE.deb uses that package instead.

set -u
export LC_ALL=C

prog=fetch-kernel
# The guest mounts the host's root over virtio-9p and uses zram and nbd; the
# rest of what it loads follows from these modules' dependencies.
WANT_MODULES=(virtio_pci 9pnet_virtio 9p zram nbd)
META_PACKAGE=linux-image-amd64

die() {
	echo "$prog: $*" >&2
	exit 1
}
unavailable() {
	echo "$prog: $*" >&2
	exit 2
}

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 1; }
cache=$1
for c in dpkg dpkg-deb modinfo; do
	command -v "$c" >/dev/null 2>&1 || unavailable "'$c' not installed"
done
mkdir -p "$cache" || die "cannot create '$cache'"
cache=$(cd "$cache" && pwd) || exit 1

scratch=$(mktemp -d "$cache/.fetch.XXXXXX") || die "cannot create a scratch directory in '$cache'"
trap 'rm -rf "$scratch"' EXIT

# newest_cached: the most recently completed cache entry, if any.
newest_cached() {
	local d best='' t bt=0
	for d in "$cache"/*/; do
		[ -e "$d/.complete" ] || continue
		t=$(stat -c %Y "$d/.complete")
		[ "$t" -gt "$bt" ] && { best=${d%/}; bt=$t; }
	done
	[ -n "$best" ] && echo "$best"
}

# target_package: the kernel image package the metapackage depends on now
# (e.g. linux-image-6.1.0-56-amd64), and its candidate version.
target_package() {
	local pkg ver
	pkg=$(apt-cache depends "$META_PACKAGE" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || return 1
	echo "$pkg $ver"
}

# download PKG VER: apt-get download into the scratch directory.
download() {
	(cd "$scratch" && apt-get -q -o APT::Sandbox::User=root download "$1=$2") \
		>"$scratch/apt.log" 2>&1
}

apt_update() {
	[ "$(id -u)" = 0 ] || return 1
	echo "$prog: apt-get update (package lists lack or misplace $META_PACKAGE)" >&2
	apt-get -q -o DPkg::Lock::Timeout=120 update >"$scratch/update.log" 2>&1
}

# --- which package, and is it cached already ----------------------------------

deb=''
if [ -n "${SWAPBENCH_VM_KERNEL_DEB:-}" ]; then
	[ -r "$SWAPBENCH_VM_KERNEL_DEB" ] || die "cannot read SWAPBENCH_VM_KERNEL_DEB='$SWAPBENCH_VM_KERNEL_DEB'"
	deb=$SWAPBENCH_VM_KERNEL_DEB
	pkg=$(dpkg-deb -f "$deb" Package) && ver=$(dpkg-deb -f "$deb" Version) ||
		die "'$deb' is not a Debian package"
else
	command -v apt-get >/dev/null 2>&1 || unavailable "apt-get not installed (not a Debian system)"
	if ! target=$(target_package); then
		apt_update && target=$(target_package) || target=''
	fi
	if [ -z "$target" ]; then
		old=$(newest_cached) && { echo "$prog: $META_PACKAGE unknown to apt; using cached $old" >&2; echo "$old"; exit 0; }
		unavailable "the package archive offers no $META_PACKAGE (apt-cache depends $META_PACKAGE)"
	fi
	read -r pkg ver <<<"$target"
fi
dir=$cache/${pkg}_${ver//:/%}
if [ -e "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi

# --- download and unpack --------------------------------------------------------

if [ -z "$deb" ]; then
	if ! download "$pkg" "$ver"; then
		# Stale lists name a version the mirror no longer has.
		if apt_update && target=$(target_package); then
			read -r pkg ver <<<"$target"
			dir=$cache/${pkg}_${ver//:/%}
			[ -e "$dir/.complete" ] && { echo "$dir"; exit 0; }
			download "$pkg" "$ver" || target=''
		else
			target=''
		fi
		if [ -z "$target" ]; then
			sed 's/^/  /' "$scratch/apt.log" >&2
			old=$(newest_cached) && { echo "$prog: cannot download $pkg; using cached $old" >&2; echo "$old"; exit 0; }
			unavailable "cannot download $pkg $ver (apt-get download; see above)"
		fi
	fi
	deb=$(ls "$scratch"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || die "apt-get download left no .deb in '$scratch'"
fi
echo "$prog: unpacking $pkg $ver" >&2
dpkg -x "$deb" "$scratch/root" || die "dpkg -x '$deb' failed"

vmlinuz=$(ls "$scratch"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$pkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir=$scratch/root/lib/modules/$kver
[ -d "$moddir" ] || die "$pkg has no /lib/modules/$kver"

# --- the modules the guest loads, dependencies first ------------------------------

declare -A kofile=() state=()
while IFS= read -r f; do
	m=${f##*/}
	m=${m%.ko}
	kofile[${m//-/_}]=$f
done < <(find "$moddir" -name '*.ko')
[ ${#kofile[@]} -gt 0 ] || die "$pkg has no uncompressed modules (*.ko) under /lib/modules/$kver"

is_builtin() {
	grep -q "/${1}.ko\$" "$moddir/modules.builtin" 2>/dev/null ||
		grep -q "/${1//_/-}.ko\$" "$moddir/modules.builtin" 2>/dev/null
}

order=()
# visit MODULE: depth-first, a module after everything it depends on.
visit() {
	local m=${1//-/_} d deps
	case ${state[$m]:-} in
	done) return 0 ;;
	active) die "module dependency cycle through '$m'" ;;
	esac
	if [ -z "${kofile[$m]:-}" ]; then
		is_builtin "$m" && { state[$m]="done"; return 0; }
		die "$pkg has neither $m.ko nor a built-in $m"
	fi
	state[$m]=active
	deps=$(modinfo -F depends "${kofile[$m]}") || die "modinfo '${kofile[$m]}' failed"
	for d in ${deps//,/ }; do
		visit "$d"
	done
	state[$m]="done"
	order+=("$m")
}
for m in "${WANT_MODULES[@]}"; do
	visit "$m"
done

stage=$scratch/entry
mkdir -p "$stage/modules" || exit 1
cp "$vmlinuz" "$stage/vmlinuz" || exit 1
cp "$scratch/root/boot/config-$kver" "$stage/config" 2>/dev/null || true
for m in "${order[@]}"; do
	cp "${kofile[$m]}" "$stage/modules/$m.ko" || exit 1
	echo "$m"
done >"$stage/modules.load"
printf 'package=%s\nversion=%s\nkernel=%s\n' "$pkg" "$ver" "$kver" >"$stage/package"
touch "$stage/.complete"
rm -rf "$dir"
mv "$stage" "$dir" || die "cannot move the kernel into '$dir'"
echo "$prog: cached $kver in $dir (modules: ${order[*]})" >&2
echo "$dir"
