#!/usr/bin/env bash
# Install the Debian packages swapbench needs to build, test and benchmark,
# on Debian 12 or Ubuntu 24.04 (universe enabled).  Only what is missing is
# installed, so a second run is quick and changes nothing.  Try it with
#   scripts/install-deps.sh --check     (lists what is missing; exit 1 if any)
#   make deps                           (installs; needs root or sudo)

set -euo pipefail
export LC_ALL=C

prog=install-deps

# One list, grouped by what needs it.  The names are the same on Debian 12
# and Ubuntu 24.04; on Ubuntu most of them live in "universe".
PACKAGES=(
	# building vramd, the harness and the fuzz targets
	build-essential pkg-config clang
	liburing-dev libjansson-dev libinih-dev libnbd-dev
	# NBD: client library tools (nbdinfo, nbdsh), reference servers, kernel client
	libnbd-bin nbdkit nbd-client
	# workloads, result handling, plots
	fio stress-ng jq gnuplot-nox
	# system tools the tiers and tests drive (swapon, zramctl, losetup,
	# /proc readers, modprobe, FUSE, a static shell for the VM image)
	util-linux procps kmod fuse3 busybox-static
	# the VM test
	qemu-system-x86
	# the manual pages' test (groff renders man/swapbench.1 and man/vramd.8)
	groff-base
	# the fleet tests: a one-node Slurm cluster (slurmctld, slurmd, munged)
	# and the Ansible example (scripts/fleet/)
	slurm-wlm munge ansible-core
)

usage() {
	cat <<EOF
usage: $0 [--check] [--help]

Installs, with apt-get, whichever of these packages is not installed:
$(echo "${PACKAGES[*]}" | fold -s -w 70 | sed 's/ *$//; s/^/  /')
plus clang's libFuzzer runtime, libclang-rt-N-dev (N: clang's version).

  --check   list what is missing and exit 1 if anything is (needs no root)
  --help    this text

Needs root; when run as another user it uses sudo if sudo is installed.
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

check_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--check) check_only=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "dpkg-query and apt-get not found: only Debian 12 and Ubuntu 24.04 are supported"
fi

os_id=unknown os_version=unknown
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	os_id=$(. /etc/os-release && echo "${ID:-unknown}")
	# shellcheck disable=SC1091
	os_version=$(. /etc/os-release && echo "${VERSION_ID:-unknown}")
fi
case "$os_id $os_version" in
"debian 12" | "ubuntu 24.04") ;;
*) echo "$prog: warning: tested on Debian 12 and Ubuntu 24.04, this is $os_id $os_version" >&2 ;;
esac

installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

# clang's -fsanitize=fuzzer needs libclang-rt-N-dev, which the clang-N
# package only recommends.  N comes from the installed clang package, or
# from the archive when clang is not installed yet (empty when unknown).
fuzz_runtime() {
	local n
	if installed clang; then
		n=$(dpkg-query -W -f='${Depends}\n' clang 2>/dev/null | tr ',' '\n' |
			sed -n 's/^ *clang-\([0-9][0-9]*\)\( .*\)\{0,1\}$/\1/p' | head -n 1)
	else
		n=$(apt-cache depends clang 2>/dev/null |
			sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1)
	fi
	[ -n "$n" ] && echo "libclang-rt-$n-dev"
	return 0
}

missing_packages() {
	local p rt
	for p in "${PACKAGES[@]}"; do
		installed "$p" || echo "$p"
	done
	rt=$(fuzz_runtime)
	if [ -n "$rt" ] && ! installed "$rt"; then
		echo "$rt"
	fi
}

mapfile -t missing < <(missing_packages)

if [ "$check_only" = 1 ]; then
	if [ ${#missing[@]} -eq 0 ]; then
		echo "$prog: all packages present"
		exit 0
	fi
	echo "$prog: missing: ${missing[*]}"
	exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "$prog: all packages present"
	exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 ||
		die "needs root to install ${missing[*]:-packages} (run it as root, or install sudo)"
	sudo=(sudo)
	echo "$prog: not root, using sudo"
fi

apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
	-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

echo "$prog: apt-get update"
"${apt[@]}" update >/dev/null || die "apt-get update failed"

# Ask again: the package lists may have been empty, which also hides the
# libFuzzer runtime's name while clang is missing.
mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -eq 0 ]; then
	echo "$prog: all packages present"
	exit 0
fi

# Say which names the archive lacks before apt-get fails on them.
unavailable=()
for p in "${missing[@]}"; do
	cand=$(apt-cache policy "$p" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
	if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
		unavailable+=("$p")
	fi
done
if [ ${#unavailable[@]} -gt 0 ]; then
	echo "$prog: no installable version of: ${unavailable[*]}" >&2
	[ "$os_id" = ubuntu ] &&
		echo "$prog: on Ubuntu these are in universe: add-apt-repository universe" >&2
	exit 1
fi

echo "$prog: installing: ${missing[*]}"
"${apt[@]}" install --no-install-recommends "${missing[@]}" ||
	die "apt-get install failed"

mapfile -t missing < <(missing_packages)
[ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
echo "$prog: done"
