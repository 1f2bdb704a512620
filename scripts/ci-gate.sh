#!/usr/bin/env bash
# ci-gate.sh: the latency gate for a change, measured against its base in
# one interleaved `swapbench run` (both sides on the same machine, in
# rotated order, so drift lands on both) and judged by `swapbench compare
# --pair base,cand`.  Two kinds of change:
#
#   code:   scripts/ci-gate.sh BASE_REF
#           builds vramd at BASE_REF (a git worktree) and the candidate (this
#           tree as it is, or --cand-ref REF), and runs the nbd tier with each
#           server binary (vramd=PATH), as 'base' and 'cand'; the harness is
#           the candidate's, so a change to it lands on both sides alike
#   config: scripts/ci-gate.sh --base-tier SPEC --cand-tier SPEC
#           runs two tier specs, e.g. zram:algorithm=lzo-rle against
#           zram:algorithm=lz4
#
# Exit status: compare's (0 ok, 1 regressed, 2 inconclusive, 3 bad input),
# 4 when a build or the run failed.  Needs root (swapbench run).
# Try:  sudo scripts/ci-gate.sh HEAD~1
set -uo pipefail
export LC_ALL=C

prog=ci-gate
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	cat <<'EOF'
usage: scripts/ci-gate.sh [OPTIONS] BASE_REF
       scripts/ci-gate.sh [OPTIONS] --base-vramd PATH --cand-vramd PATH
       scripts/ci-gate.sh [OPTIONS] --base-tier SPEC --cand-tier SPEC

Measures a change against its base in one interleaved swapbench run and
exits with the verdict of 'swapbench compare --pair base,cand'.

Code change (vramd): builds vramd at BASE_REF in a git worktree and the
candidate from this tree (or --cand-ref), then runs tier SPEC (--tier) once
with each binary, labelled base and cand.
Configuration change: runs --base-tier SPEC as base and --cand-tier SPEC as
cand (swapbench run --tiers syntax, e.g. zram:algorithm=lz4).

Options:
  --tier SPEC          the tier a code change runs on (default nbd:backend=ram;
                       nbd:backend=vram on a GPU host)
  --cand-ref REF       build the candidate at REF instead of this tree
  --base-vramd PATH    use this vramd as the base instead of building one
  --cand-vramd PATH    use this vramd as the candidate instead of building one
  --swapbench PATH     the harness to run (default: the candidate's build)
  --scenario NAME      swapbench scenario (default gate: 10 s runs, a probe
                       every 20 ms, 6 repeats)
  --repeats N          runs a side (default: the scenario's; compare needs 3
                       valid a side, and 4 to say regressed)
  --set S.K=V          passed to swapbench run (repeatable)
  --metric NAME        passed to swapbench compare (repeatable; default
                       probe_p99, psi_full and ops_rate: probe latency, stall
                       time and the workload's work done)
  --threshold [M=]PCT  compare's threshold (repeatable; default 10%, and 25%
                       for probe_p99, whose runs spread most: 13% run to run
                       on the test VM); any --threshold replaces both
  --margin [M=]PP      compare's PSI margin (default 1 percentage point)
  --inconclusive-exit N  exit status for inconclusive (default 2)
  --out DIR            where builds, run.json, compare.json and compare.md go
                       (default: a new directory under ${TMPDIR:-/tmp}, kept)
  -h, --help           this text

Exit status: 0 ok, 1 regressed, 2 inconclusive, 3 bad input, 4 a build or
the run failed.
EOF
}

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit "${2:-3}"; }
bad_usage() { say "$*"; echo "Try 'scripts/ci-gate.sh --help' for more information." >&2; exit 3; }

base_ref= cand_ref= tier=nbd:backend=ram base_tier= cand_tier= base_vramd= cand_vramd=
swapbench= scenario=gate repeats= out= inconclusive_exit=2
sets=() cmp_opts=() own_threshold=
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || bad_usage "$1 needs a value"; }
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--tier) need_arg "$@"; tier=$2; shift ;;
	--cand-ref) need_arg "$@"; cand_ref=$2; shift ;;
	--base-tier) need_arg "$@"; base_tier=$2; shift ;;
	--cand-tier) need_arg "$@"; cand_tier=$2; shift ;;
	--base-vramd) need_arg "$@"; base_vramd=$2; shift ;;
	--cand-vramd) need_arg "$@"; cand_vramd=$2; shift ;;
	--swapbench) need_arg "$@"; swapbench=$2; shift ;;
	--scenario) need_arg "$@"; scenario=$2; shift ;;
	--repeats) need_arg "$@"; repeats=$2; shift ;;
	--set) need_arg "$@"; sets+=(--set "$2"); shift ;;
	--metric) need_arg "$@"; cmp_opts+=(--metric "$2"); shift ;;
	--threshold) need_arg "$@"; cmp_opts+=(--threshold "$2"); own_threshold=1; shift ;;
	--margin) need_arg "$@"; cmp_opts+=(--margin "$2"); shift ;;
	--inconclusive-exit) need_arg "$@"; inconclusive_exit=$2; shift ;;
	--out) need_arg "$@"; out=$2; shift ;;
	--) shift; break ;;
	-*) bad_usage "unknown option '$1'" ;;
	*) [ -z "$base_ref" ] || bad_usage "one BASE_REF only (got '$base_ref' and '$1')"
	   base_ref=$1 ;;
	esac
	shift
done
[ $# -eq 0 ] || { [ -z "$base_ref" ] && [ $# -eq 1 ] && base_ref=$1; } ||
	bad_usage "unexpected arguments: $*"

[ -z "$repeats" ] || { [[ $repeats =~ ^[0-9]+$ ]] && [ "$repeats" -ge 1 ] && [ "$repeats" -le 100 ]; } ||
	bad_usage "--repeats: expected 1 to 100, got '$repeats'"
[[ $inconclusive_exit =~ ^[0-9]+$ ]] && [ "$inconclusive_exit" -le 255 ] ||
	bad_usage "--inconclusive-exit: expected 0 to 255, got '$inconclusive_exit'"
# The mode: a configuration change, prebuilt binaries, or a ref to build.
if [ -n "$base_tier$cand_tier" ]; then
	[ -n "$base_tier" ] && [ -n "$cand_tier" ] || bad_usage "--base-tier and --cand-tier go together"
	[ -z "$base_ref$cand_ref$base_vramd$cand_vramd" ] ||
		bad_usage "--base-tier/--cand-tier compare configurations: no BASE_REF, --cand-ref or --*-vramd"
	mode=config
else
	[ -n "$base_ref" ] || [ -n "$base_vramd" ] ||
		bad_usage "expected BASE_REF, --base-vramd PATH, or --base-tier and --cand-tier"
	[ -z "$base_ref" ] || [ -z "$base_vramd" ] || bad_usage "BASE_REF and --base-vramd exclude each other"
	[ -z "$cand_ref" ] || [ -z "$cand_vramd" ] || bad_usage "--cand-ref and --cand-vramd exclude each other"
	[[ $tier == nbd || $tier == nbd:* ]] || bad_usage "--tier: a code change runs on the nbd tier, got '$tier'"
	[[ $tier != *vramd=* && $tier != *as=* ]] || bad_usage "--tier: vramd= and as= are the gate's to set"
	mode=code
fi
for spec in "$base_tier" "$cand_tier" "$tier"; do
	[[ $spec != *,* && $spec != *as=* ]] || bad_usage "a tier spec holds one tier and no as= (got '$spec')"
done
[ "$(id -u)" = 0 ] || die "needs root (swapbench run sets up swap): run it with sudo"
# The gate's metrics: compare's gated ones (latency, stall time) and the
# work done, which a slower tier loses first in short runs.
printf '%s\n' "${cmp_opts[@]}" | grep -qx -- --metric ||
	cmp_opts+=(--metric probe_p99 --metric psi_full --metric ops_rate)
# A run's probe p99 spreads more than its other metrics (13% run to run in
# the gate scenario on the test VM, ops_rate 6%, PSI full 0.4 pp): a 10%
# threshold would take that noise for a change.
[ -n "$own_threshold" ] || cmp_opts+=(--threshold probe_p99=25%)

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/ci-gate.XXXXXX") || die "cannot make a directory under ${TMPDIR:-/tmp}" 4
else
	mkdir -p -- "$out" || die "cannot make '$out'" 4
	out=$(cd -- "$out" && pwd) || die "cannot enter '$out'" 4
	[ ! -e "$out/run/run.json" ] || die "'$out/run' holds a run already: choose another --out"
fi

# --- builds (code mode) -----------------------------------------------------------
worktrees=()
cleanup() {
	local w
	for w in "${worktrees[@]}"; do
		git -C "$top" worktree remove --force "$w" >/dev/null 2>&1 || rm -rf -- "$w"
	done
	[ ${#worktrees[@]} -eq 0 ] || git -C "$top" worktree prune >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CUDA only where the tier asks for the vram backend: a ram-backend gate
# needs no nvcc, and the build is minutes shorter without it.
cuda=${CUDA:-0}
[[ "$tier $base_tier $cand_tier" == *backend=vram* ]] && cuda=${CUDA:-auto}

# build NAME SRC_DIR: vramd and swapbench of SRC_DIR into $out/NAME-build.
build() {
	local name=$1 src=$2 log=$out/$1-build.log
	say "building $name ($(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')) into $out/$name-build"
	if ! timeout 1800 make -C "$src" -j"$(nproc)" BUILD="$out/$name-build" CUDA="$cuda" \
		"$out/$name-build/vramd" "$out/$name-build/swapbench" >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "building $name failed (the whole log: $log)" 4
	fi
}

# worktree NAME REF: a checkout of REF at $out/NAME-src.
worktree() {
	local name=$1 ref=$2 commit
	commit=$(git -C "$top" rev-parse --verify --quiet "$ref^{commit}") ||
		die "'$ref' is no commit in $top (fetch it first: git fetch origin $ref; CI checkouts need fetch-depth: 0)"
	git -C "$top" worktree add --detach "$out/$name-src" "$commit" >"$out/$name-worktree.log" 2>&1 ||
		die "git worktree add for '$ref' failed: $(tail -n 3 "$out/$name-worktree.log")" 4
	worktrees+=("$out/$name-src")
}

if [ "$mode" = code ]; then
	if [ -z "$base_vramd" ]; then
		worktree base "$base_ref"
		build base "$out/base-src"
		base_vramd=$out/base-build/vramd
	fi
	if [ -z "$cand_vramd" ] || [ -z "$swapbench" ]; then
		if [ -n "$cand_ref" ]; then
			worktree cand "$cand_ref"
			build cand "$out/cand-src"
		else
			build cand "$top"
		fi
		[ -n "$cand_vramd" ] || cand_vramd=$out/cand-build/vramd
		[ -n "$swapbench" ] || swapbench=$out/cand-build/swapbench
	fi
	for f in "$base_vramd" "$cand_vramd"; do
		[ -f "$f" ] && [ -x "$f" ] || die "'$f' is not an executable vramd"
	done
	base_vramd=$(realpath -- "$base_vramd") cand_vramd=$(realpath -- "$cand_vramd")
	base_spec=$tier:vramd=$base_vramd:as=base
	cand_spec=$tier:vramd=$cand_vramd:as=cand
else
	if [ -z "$swapbench" ]; then
		# This tree's, built afresh (build/ may be stale or another build).
		build cand "$top"
		swapbench=$out/cand-build/swapbench
	fi
	base_spec=$base_tier:as=base
	cand_spec=$cand_tier:as=cand
fi
[ -x "$swapbench" ] || die "'$swapbench' is not an executable swapbench"

# --- the run and the verdict --------------------------------------------------------
say "running scenario $scenario${repeats:+, $repeats repeats}, base and cand interleaved: base $base_spec, cand $cand_spec"
t0=$(date +%s)
"$swapbench" run --scenario "$scenario" ${repeats:+--repeats "$repeats"} --tiers "$base_spec,$cand_spec" \
	"${sets[@]}" --out "$out/run"
rc=$?
[ "$rc" = 0 ] || die "swapbench run exited with status $rc (its output is above; $out/run)" 4
say "the run took $(($(date +%s) - t0)) s"
"$swapbench" compare --pair base,cand "${cmp_opts[@]}" --json "$out/run/run.json" >"$out/compare.json"
"$swapbench" compare --pair base,cand "${cmp_opts[@]}" --markdown "$out/run/run.json" >"$out/compare.md"
"$swapbench" compare --pair base,cand "${cmp_opts[@]}" --inconclusive-exit "$inconclusive_exit" \
	"$out/run/run.json"
rc=$?
say "verdict in $out/compare.json and $out/compare.md; exit status $rc"
exit "$rc"
