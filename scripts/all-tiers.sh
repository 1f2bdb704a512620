#!/usr/bin/env bash
# The full comparison on one host, as docs/FINDINGS.md measured it: every
# tier, transport and stack with the no-swap baseline through overcommit
# and incompressible (one interleaved `swapbench run` each), fio-raw on
# each device, the ramp on three tiers; one result directory each under
# OUT, each scenario at its own sizing (overcommit sizes itself to the
# host).  Its runs are 6 s where the answer's incompressible runs were 5 s
# and its ramp's 4 s; the zswap diagnosis and the vramd benchmarks are
# separate (RUNBOOK.md).  About 25 minutes on a 16-CPU GPU host.  As root:
#   OUT=results/mine scripts/all-tiers.sh
# Knobs (environment): TIERS (overcommit and incompressible), FIO_TIERS,
# RAMP_TIERS, REPEATS, DURATION (s per run of overcommit,
# incompressible and the ramp), SCENARIOS (a subset, in order), and, empty unless set,
# LIMIT (memcg.limit), RATIO (workload.ratio), WORKERS, SIZE (tier.size).
# Run with --help for this text.
set -u
case ${1:-} in
-h | --help)
	sed -n '2,/^# Run with --help/p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
"") ;;
*)
	echo "all-tiers: takes no arguments (settings come from the environment; --help)" >&2
	exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
SWAPBENCH=${SWAPBENCH:-$top/build/swapbench}
OUT=${OUT:-results/all-tiers-$(date -u +%Y%m%dT%H%M%SZ)}
nbd_vram=nbd:backend=vram
TIERS=${TIERS:-none,zram,zswap,disk,$nbd_vram,$nbd_vram:transport=nbdfuse,nbd:backend=ram,zram>$nbd_vram,zram>disk}
FIO_TIERS=${FIO_TIERS:-zram,disk,$nbd_vram,$nbd_vram:transport=nbdfuse,nbd:backend=ram}
RAMP_TIERS=${RAMP_TIERS:-zram,$nbd_vram,zram>$nbd_vram}
REPEATS=${REPEATS:-5}
DURATION=${DURATION:-6}
SCENARIOS=${SCENARIOS:-overcommit incompressible fio-raw ramp}
for sc in $SCENARIOS; do
	case $sc in
	overcommit | incompressible | fio-raw | ramp) ;;
	*) echo "all-tiers: unknown scenario '$sc' (overcommit incompressible fio-raw ramp)" >&2; exit 2 ;;
	esac
done
for v in REPEATS DURATION; do
	case ${!v} in
	'' | *[!0-9]* | 0*) echo "all-tiers: $v must be a whole number above 0, not '${!v}'" >&2; exit 2 ;;
	esac
done
"$SWAPBENCH" list tiers 2>/dev/null | grep -q . || { echo "all-tiers: cannot run $SWAPBENCH" >&2; exit 1; }

common=()
[ -n "${LIMIT:-}" ] && common+=(--set "memcg.limit=$LIMIT")
[ -n "${WORKERS:-}" ] && common+=(--set "workload.workers=$WORKERS")
[ -n "${SIZE:-}" ] && common+=(--set "tier.size=$SIZE")
ratio=()
[ -n "${RATIO:-}" ] && ratio=(--set "workload.ratio=$RATIO")
rc=0 pid= stop=
# A signal to this script (timeout, kill) reaches the running swapbench,
# which stops, restores the machine and writes the runs done so far.
trap 'stop=1; [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null' INT TERM
for sc in $SCENARIOS; do
	[ -n "$stop" ] && break
	case $sc in
	overcommit | incompressible)
		args=(--tiers "$TIERS" --repeats "$REPEATS" "${ratio[@]}" --set "workload.duration_s=$DURATION"
		      --set "workload.timeout_s=$((DURATION * 4 + 120))") ;;
	ramp)
		args=(--tiers "$RAMP_TIERS" --repeats 3 --set "workload.duration_s=$DURATION"
		      --set "workload.timeout_s=$((DURATION * 4 + 60))") ;;
	fio-raw)
		args=(--tiers "$FIO_TIERS" --repeats 2 --set "workload.duration_s=3") ;;
	esac
	printf '== %s:' "$sc"
	printf ' %q' "$SWAPBENCH" run --scenario "$sc" "${common[@]}" "${args[@]}" --out "$OUT/$sc"
	echo
	"$SWAPBENCH" run --scenario "$sc" "${common[@]}" "${args[@]}" --out "$OUT/$sc" &
	pid=$!
	# A signal that came between the check above and here.
	[ -n "$stop" ] && kill -INT "$pid" 2>/dev/null
	# wait returns early when a trapped signal comes: wait again while
	# swapbench runs (the shell's own job table, not a pid another
	# process may have by then), then once more for its own status (bash
	# keeps it), whether or not a signal cut the last wait short.
	while [ -n "$(jobs -pr)" ]; do wait "$pid"; done
	wait "$pid" || rc=1
	pid=
done
# Stopped by a signal: not the whole comparison, whatever swapbench said.
[ -n "$stop" ] && [ "$rc" = 0 ] && rc=130
exit $rc
