#!/usr/bin/env bash
# The full comparison on one host: the five tiers (nbd with vramd's vram and
# ram backends, zram, zswap over a disk swap file, disk) through overcommit
# (stress-ng), incompressible (swapbench touch), ramp and fio-raw, one
# result directory each under OUT.  Sizes come from the environment; the
# defaults fit a 16-CPU, 128 GiB GPU host in about 30 minutes.  Run as root:
#   OUT=results/h100 scripts/all-tiers.sh
# Knobs: TIERS, LIMIT (memory cgroup), RATIO, WORKERS, DURATION (s per run),
# REPEATS, REPEATS_INCOMPRESSIBLE, SIZE (each tier's device), SCENARIOS (a
# subset, in order).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
SWAPBENCH=${SWAPBENCH:-$top/build/swapbench}
OUT=${OUT:-results/all-tiers-$(date -u +%Y%m%dT%H%M%SZ)}
TIERS=${TIERS:-nbd:backend=vram,nbd:backend=ram,zram,zswap,disk}
LIMIT=${LIMIT:-4G}
RATIO=${RATIO:-1.5}
WORKERS=${WORKERS:-4}
DURATION=${DURATION:-30}
REPEATS=${REPEATS:-3}
REPEATS_INCOMPRESSIBLE=${REPEATS_INCOMPRESSIBLE:-$REPEATS}
SIZE=${SIZE:-8G}
SCENARIOS=${SCENARIOS:-overcommit incompressible fio-raw ramp}

common=(--tiers "$TIERS" --set "memcg.limit=$LIMIT" --set "workload.workers=$WORKERS"
	--set "tier.size=$SIZE")
rc=0 pid= stop=
# A signal to this script (timeout, kill) reaches the running swapbench,
# which stops, restores the machine and writes the runs done so far.
trap 'stop=1; [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null' INT TERM
for sc in $SCENARIOS; do
	[ -n "$stop" ] && break
	case $sc in
	overcommit | incompressible)
		n=$REPEATS
		[ "$sc" = incompressible ] && n=$REPEATS_INCOMPRESSIBLE
		args=(--repeats "$n" --set "workload.ratio=$RATIO"
		      --set "workload.duration_s=$DURATION" --set "workload.timeout_s=$((DURATION * 4 + 60))") ;;
	ramp)
		args=(--repeats 1 --set "workload.duration_s=$((DURATION * 2 / 3))"
		      --set "workload.timeout_s=$((DURATION * 4 + 60))") ;;
	fio-raw)
		args=(--repeats 1 --set "workload.duration_s=5") ;;
	*)
		echo "all-tiers: unknown scenario '$sc'" >&2
		exit 2 ;;
	esac
	echo "== $sc: $SWAPBENCH run --scenario $sc ${common[*]} ${args[*]} --out $OUT/$sc"
	"$SWAPBENCH" run --scenario "$sc" "${common[@]}" "${args[@]}" --out "$OUT/$sc" &
	pid=$!
	while ! wait "$pid"; do	# wait returns early when a trapped signal comes
		kill -0 "$pid" 2>/dev/null || { rc=1; break; }
	done
	pid=
done
exit $rc
