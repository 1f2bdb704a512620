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
#
# SWAPBENCH_VM_KERNEL=backports takes the kernel of bookworm-backports
# instead (6.12, which has ublk_drv), through package lists of its own in
# CACHE/backports/apt (the host's apt sources are left alone), cached in
# CACHE/backports/; its -unsigned image package is preferred.  Compressed
# modules (*.ko.xz, *.ko.zst) are cached decompressed.

set -u
export LC_ALL=C

prog=fetch-kernel
# The guest mounts the host's root over virtio-9p and uses zram and nbd; the
# rest of what it loads follows from these modules' dependencies.
WANT_MODULES=(virtio_pci 9pnet_virtio 9p zram nbd)
# Loaded too where the kernel has them (the ublk test needs ublk_drv).
OPTIONAL_MODULES=(ublk_drv)
META_PACKAGE=linux-image-amd64
flavour=${SWAPBENCH_VM_KERNEL:-stable}
case $flavour in
stable | backports) ;;
*) echo "fetch-kernel: SWAPBENCH_VM_KERNEL must be stable or backports, not '$flavour'" >&2; exit 1 ;;
esac

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
[ "$flavour" = backports ] && cache=$cache/backports
mkdir -p "$cache" || die "cannot create '$cache'"
cache=$(cd "$cache" && pwd) || exit 1

# apt, with package lists of its own for backports: a sources list naming
# only bookworm-backports, lists and downloads under CACHE/backports/apt.
APT_OPTS=()
if [ "$flavour" = backports ]; then
	a=$cache/apt
	mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/sources.list.d" "$a/preferences.d" ||
		die "cannot create '$a'"
	suite=$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") )
	[ -n "$suite" ] || suite=bookworm
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "deb [signed-by=$keyring] ${SWAPBENCH_VM_MIRROR:-http://deb.debian.org/debian} $suite-backports main" \
		>"$a/sources.list"
	APT_OPTS=(-o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/sources.list.d"
		-o "Dir::Etc::Preferences=$a/preferences" -o "Dir::Etc::PreferencesParts=$a/preferences.d"
		-o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a" -o "Dir::Cache::archives=$a/archives"
		-o APT::Sandbox::User=root)
fi

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
	pkg=$(apt-cache "${APT_OPTS[@]}" depends "$META_PACKAGE" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	# The signed image and its -unsigned twin carry the same kernel.
	if [ "$flavour" = backports ] &&
		apt-cache "${APT_OPTS[@]}" policy "$pkg-unsigned" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		pkg=$pkg-unsigned
	fi
	ver=$(apt-cache "${APT_OPTS[@]}" policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || return 1
	echo "$pkg $ver"
}

# download PKG VER: apt-get download into the scratch directory.
download() {
	(cd "$scratch" && apt-get -q -o APT::Sandbox::User=root "${APT_OPTS[@]}" download "$1=$2") \
		>"$scratch/apt.log" 2>&1
}

apt_update() {
	[ "$(id -u)" = 0 ] || return 1
	echo "$prog: apt-get update${APT_OPTS[*]:+ (private $flavour lists)} (package lists lack or misplace $META_PACKAGE)" >&2
	apt-get -q -o DPkg::Lock::Timeout=120 "${APT_OPTS[@]}" update >"$scratch/update.log" 2>&1
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
	m=${m%.xz}
	m=${m%.zst}
	m=${m%.ko}
	kofile[${m//-/_}]=$f
done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
[ ${#kofile[@]} -gt 0 ] || die "$pkg has no modules (*.ko, *.ko.xz, *.ko.zst) under /lib/modules/$kver"

# unpack_module SRC DEST: busybox's insmod takes plain modules only.
unpack_module() {
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

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
for m in "${OPTIONAL_MODULES[@]}"; do
	[ -n "${kofile[$m]:-}" ] && visit "$m"
done

stage=$scratch/entry
mkdir -p "$stage/modules" || exit 1
cp "$vmlinuz" "$stage/vmlinuz" || exit 1
cp "$scratch/root/boot/config-$kver" "$stage/config" 2>/dev/null || true
for m in "${order[@]}"; do
	unpack_module "${kofile[$m]}" "$stage/modules/$m.ko" || die "cannot unpack '${kofile[$m]}'"
	echo "$m"
done >"$stage/modules.load"
printf 'package=%s\nversion=%s\nkernel=%s\n' "$pkg" "$ver" "$kver" >"$stage/package"
touch "$stage/.complete"
rm -rf "$dir"
mv "$stage" "$dir" || die "cannot move the kernel into '$dir'"
echo "$prog: cached $kver in $dir (modules: ${order[*]})" >&2
echo "$dir"
