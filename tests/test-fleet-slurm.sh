#!/usr/bin/env bash
# scripts/fleet/swapbench.sbatch on a one-node Slurm cluster made here: a
# munged and a slurmctld and slurmd on localhost, with a key, a slurm.conf
# and state directories generated in the test's directory (its own ports
# and socket: a cluster this machine already runs is not touched), all
# stopped and removed at the end.  A three-element array runs the quick
# scenario (2-s runs, tier zram) as three hosts of one node
# (SWAPBENCH_FLEET_HOST=%h-sim%a); the third one's swapbench run fails on
# purpose (a stand-in that exits 1 without touching the machine).  The
# merge job the first element submitted must run after them and write
# fleet.md with one row per host and tier, the failed host listed with its
# reason, each host's report.md and the fleet's figures.  Skipped, with the
# reason, where the daemons cannot start.  The machine as before afterwards.
# Try:  tests/run-tests test-fleet-slurm.sh
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires jq
requires sbatch squeue scontrol sinfo slurmctld slurmd munged
requires_swap_tiers zram
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
# The jobs get this environment (sbatch's --export=ALL): the tree's
# scenarios and gnuplot scripts, wherever the build is.
export SWAPBENCH_SCENARIOS=$top/scenarios SWAPBENCH_PLOTS=$top/plots

short=$(hostname -s) || skip "hostname -s failed"
[[ $short =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || skip "host name '$short' does not suit a slurm.conf"

# munged checks that every directory above its socket can be searched by
# all; the key stays in a directory of root's alone.
chmod 711 "$tmp"
mkdir -m 700 "$tmp/munge" && mkdir -m 755 "$tmp/run" &&
	mkdir "$tmp/slurm-state" "$tmp/spool" "$tmp/log" "$tmp/submit" "$tmp/results" "$tmp/bin" ||
	fail "cannot create the cluster's directories"

# Processes of this cluster carry this in their environment (slurmd passes
# it to slurmstepd): the cleanup stops those, and no other.
export SWAPBENCH_FLEET_TEST_MARK=$tmp
own_cluster_pids() {
	local p
	for p in $(pgrep -x 'munged|slurmctld|slurmd|slurmstepd'); do
		grep -qzx "SWAPBENCH_FLEET_TEST_MARK=$tmp" "/proc/$p/environ" 2>/dev/null && echo "$p"
	done
	return 0
}
stop_cluster() {
	local i p
	for p in $(own_cluster_pids); do
		kill -TERM "$p" 2>/dev/null
	done
	for ((i = 0; i < 100; i++)); do
		[ -z "$(own_cluster_pids)" ] && return 0
		sleep 0.1
	done
	for p in $(own_cluster_pids); do
		kill -KILL "$p" 2>/dev/null
	done
}
cleanup_add stop_cluster

# A free TCP port, for slurmctld and slurmd (not the default 6817/6818,
# which a real cluster on this machine may hold).
used_ports=$(awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		grep -qx "$p" <<<"$used_ports" || { used_ports+=$'\n'$p; echo "$p"; return; }
	done
}

# --- munge ---------------------------------------------------------------------

if command -v mungekey >/dev/null 2>&1; then
	mungekey -c -b 1024 -k "$tmp/munge/munge.key" || fail "mungekey failed"
else
	dd if=/dev/urandom of="$tmp/munge/munge.key" bs=128 count=1 status=none || fail "cannot make a munge key"
fi
chmod 400 "$tmp/munge/munge.key"
sock=$tmp/run/munge.sock
munged -F --key-file="$tmp/munge/munge.key" --socket="$sock" --pid-file="$tmp/run/munged.pid" \
	--log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" >"$tmp/log/munged.out" 2>&1 &
for ((i = 0; i < 50; i++)); do
	[ -S "$sock" ] && break
	sleep 0.1
done
[ -S "$sock" ] || skip "munged did not start: $(tail -n 2 "$tmp/log/munged.out" | tr '\n' ' ')"

# --- slurm.conf, slurmctld, slurmd ----------------------------------------------

cpus=$(nproc)
mem_mib=$(awk '$1 == "MemTotal:" { print int($2 / 1024 * 0.9) }' /proc/meminfo)
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=swapbenchtest
SlurmctldHost=$short(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/slurm-state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/linear
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$short NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=fleet Nodes=$short Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
state=
for ((i = 0; i < 300; i++)); do
	state=$(sinfo -h -n "$short" -o %t 2>/dev/null)
	[ "$state" = idle ] && break
	sleep 0.1
done
[ "$state" = idle ] ||
	skip "the Slurm daemons did not start (node state '$state'): $(tail -n 3 "$tmp/log/slurmctld.log" "$tmp/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
info "one-node cluster up: $(sinfo -h -o '%P %D %t %N')"

# --- the fleet ---------------------------------------------------------------------

# The third host's swapbench run fails at once; every other call is the real one.
cat >"$tmp/bin/swapbench" <<EOF
#!/usr/bin/env bash
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 2 ] && [ "\${1:-}" = run ]; then
	echo "swapbench: a failure, for the test" >&2
	exit 1
fi
exec "$SWAPBENCH" "\$@"
EOF
chmod 755 "$tmp/bin/swapbench"

# Every job of this cluster (SLURM_CONF: ours alone) goes before the daemons.
cleanup_add "scancel --quiet --user=root; sleep 2"
job=$(cd "$tmp/submit" && SWAPBENCH="$tmp/bin/swapbench" SWAPBENCH_FLEET_RESULTS="$tmp/results" \
	SWAPBENCH_FLEET_HOST='%h-sim%a' sbatch --parsable --array=0-2 "$top/scripts/fleet/swapbench.sbatch" \
	--scenario quick --tiers zram --repeats 1 --set workload.duration_s=2 2>"$tmp/sbatch.err") ||
	fail "sbatch failed: $(cat "$tmp/sbatch.err")"
[[ $job =~ ^[0-9]+$ ]] || fail "sbatch --parsable said '$job'"
info "array job $job submitted"

# Wait for the array and the merge: no job of ours left in the queue.
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 200 ]; do
	[ -z "$(squeue -h -o %i 2>/dev/null)" ] && [ -e "$tmp/results/fleet-$job/merge.log" ] && break
	sleep 1
done
info "the array and its merge took $((SECONDS - t0)) s"
left=$(squeue -h -o '%i %j %T %r' 2>/dev/null)
for f in "$tmp"/submit/swapbench-fleet-*.out; do
	[ -e "$f" ] && info "${f##*/}: $(tr '\n' ' ' <"$f")"
done
[ -z "$left" ] || fail "jobs still queued after 200 s: $left"
same_machine "$before" "after the fleet"

fleet=$tmp/results/fleet-$job
md=$fleet/fleet.md
[ -s "$md" ] || fail "no fleet.md; merge.log: $(tail -n 5 "$fleet/merge.log" 2>/dev/null)"
merge_id=$(squeue -h -t all -n swapbench-fleet-merge -o %i 2>/dev/null | head -n 1)
[ -n "$merge_id" ] || bad "no merge job was submitted"
scontrol show job "$merge_id" -o >"$tmp/merge.job" 2>&1
grep -q 'JobState=COMPLETED' "$tmp/merge.job" ||
	bad "the merge job did not complete: $(grep -o 'JobState=[^ ]*\|Reason=[^ ]*' "$tmp/merge.job" | tr '\n' ' ')"
for t in 0 1 2; do
	scontrol show job "${job}_$t" -o 2>/dev/null | grep -o 'JobState=[A-Z]*' >"$tmp/state.$t"
done
grep -qx 'JobState=COMPLETED' "$tmp/state.0" && grep -qx 'JobState=COMPLETED' "$tmp/state.1" ||
	bad "elements 0 and 1 did not complete: $(cat "$tmp/state.0" "$tmp/state.1" | tr '\n' ' ')"
grep -qx 'JobState=FAILED' "$tmp/state.2" || bad "element 2 did not fail: $(cat "$tmp/state.2")"

# Each host's directory: its run (or its failure), its job record.
for t in 0 1; do
	h=$fleet/$short-sim$t
	[ -s "$h/run.json" ] || { bad "no run.json for host $short-sim$t: $(tail -n 3 "$h/run.log" 2>/dev/null)"; continue; }
	jq -e '[.runs[] | select(.tier == "zram" and .valid)] | length == 1' "$h/run.json" >/dev/null ||
		bad "host $short-sim$t: no valid zram run: $(jq -c '[.runs[] | {tier, valid, invalid_reason}]' "$h/run.json")"
	jq -e '.state == "done" and .exit_status == 0 and .array_task_id == '"$t" "$h/fleet-job.json" >/dev/null ||
		bad "host $short-sim$t: job record $(cat "$h/fleet-job.json")"
	[ -s "$h/report.md" ] || bad "host $short-sim$t: the merge made no report.md"
done
jq -e '.state == "failed" and .exit_status == 1' "$fleet/$short-sim2/fleet-job.json" >/dev/null ||
	bad "host $short-sim2: job record $(cat "$fleet/$short-sim2/fleet-job.json" 2>/dev/null)"
[ ! -e "$fleet/$short-sim2/run.json" ] || bad "the failed host has a run.json"

# The merged report: one row per host and tier, the failed host with its reason.
info "fleet.md's table:"
grep '^| [A-Z-] | ' "$md" | head -n 4 >&2
grep -q "^# swapbench fleet: quick (workload.duration_s=2) on 3 hosts, 1 failed$" "$md" ||
	bad "fleet.md's title: $(head -n 1 "$md")"
for t in 0 1; do
	grep -Eq "^\| A \| $short-sim$t \| zram@1\.1 \| 1/1 \| [0-9]+/s \| [0-9.]+ (us|ms) \| [0-9.]+% \|$" "$md" ||
		bad "fleet.md: no row for host $short-sim$t and tier zram: $(grep "sim$t" "$md" | head -n 2)"
done
[ "$(grep -c '^| A | [^|]* | zram@1\.1 |' "$md")" = 2 ] || bad "fleet.md: not two rows of zram"
grep -q "^| - | $short-sim2 | - | failed |" "$md" || bad "fleet.md: the failed host has no row"
grep -q "^- $short-sim2: no run.json: swapbench run exited with status 1 (see run.log)$" "$md" ||
	bad "fleet.md: the failed host's reason: $(grep "^- $short-sim2" "$md")"
grep -q "^| A | $short-sim0, $short-sim1 | " "$md" || bad "fleet.md: the two hosts are not one class"
grep -q "^| A | $short-sim0 | quick (workload.duration_s=2) | .* | exit 0 | \[report.md\]($short-sim0/report.md) |$" "$md" ||
	bad "fleet.md: host table row: $(grep "^| A | $short-sim0 | quick" "$md")"
grep -q "$md" "$fleet/merge.log" || bad "merge.log does not end with fleet.md's path"
if command -v gnuplot >/dev/null 2>&1; then
	for f in fleet-work fleet-p99 fleet-psi; do
		[ -s "$fleet/plots/$f.png" ] && [ -s "$fleet/plots/$f.svg" ] || bad "no figure $f"
		grep -q "^!\[.*\](plots/$f.png)$" "$md" || bad "fleet.md does not show $f"
	done
	[ -s "$fleet/$short-sim0/plots/p99-by-tier.png" ] || bad "the merge drew no figures for host $short-sim0"
fi
checks_done
