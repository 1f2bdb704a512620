#!/usr/bin/env bash
# scripts/fleet/swapbench.yml, the Ansible example, run here as Ansible
# runs it on one server: ansible-playbook -c local -i localhost, with the
# quick scenario (2-s runs, tier zram).  The host's results must be
# fetched into RESULTS/fleet-ID/localhost/ with its job record, the run's
# directory on the "server" removed, each host's report.md made and the
# fleet report merged with its row; then a run that fails (an unknown
# scenario) must leave the host listed as failed with the exit status.
# Ansible's own files stay in the test's directory.  Skipped where
# ansible-core is not installed (scripts/install-deps.sh installs it).
# The machine as before afterwards.  Try:
#   tests/run-tests test-fleet-ansible.sh
# timeout: 240

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires jq
command -v ansible-playbook >/dev/null 2>&1 ||
	skip "ansible-core not installed (scripts/install-deps.sh installs it)"
requires_swap_tiers zram
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
export SWAPBENCH_SCENARIOS=$top/scenarios SWAPBENCH_PLOTS=$top/plots
export ANSIBLE_HOME=$tmp/ansible ANSIBLE_LOCAL_TEMP=$tmp/ansible/tmp ANSIBLE_REMOTE_TEMP=$tmp/ansible/tmp \
	ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_CONFIG=$tmp/ansible/ansible.cfg
mkdir -p "$tmp/ansible/tmp" && printf '[defaults]\n' >"$ANSIBLE_CONFIG" || fail "cannot set up Ansible's directory"

# playbook ID ARGS_JSON: the example on this machine into $tmp/results/fleet-ID
# (Ansible needs a UTF-8 locale).
playbook() {
	with_timeout 180 env LC_ALL=C.UTF-8 ansible-playbook -c local -i localhost, "$top/scripts/fleet/swapbench.yml" \
		-e swapbench_become=false -e "swapbench=$SWAPBENCH" -e "swapbench_local=$SWAPBENCH" \
		-e "swapbench_results=$tmp/results" -e "swapbench_fleet_id=$1" \
		-e "{\"swapbench_args\": $2}" >"$tmp/ansible-$1.log" 2>&1
}

playbook t1 '["--scenario", "quick", "--tiers", "zram", "--repeats", "1", "--set", "workload.duration_s=2"]' ||
	{ tail -n 30 "$tmp/ansible-t1.log" >&2; fail "ansible-playbook failed"; }
same_machine "$before" "after the playbook"
grep -q 'localhost *: ok=[0-9]* .* failed=0' "$tmp/ansible-t1.log" || bad "the play recap: $(grep 'localhost *:' "$tmp/ansible-t1.log")"

fleet=$tmp/results/fleet-t1
h=$fleet/localhost
[ -s "$h/run.json" ] || fail "no run.json fetched: $(ls -R "$fleet" | head -n 20)"
jq -e '[.runs[] | select(.tier == "zram" and .valid)] | length == 1' "$h/run.json" >/dev/null ||
	bad "no valid zram run: $(jq -c '[.runs[] | {tier, valid, invalid_reason}]' "$h/run.json")"
ls "$h"/zram-r1-*-samples.tsv >/dev/null 2>&1 || bad "the run's samples were not fetched"
jq -e '.state == "done" and .exit_status == 0 and .host == "localhost" and (.ended >= .started)' \
	"$h/fleet-job.json" >/dev/null || bad "job record: $(cat "$h/fleet-job.json")"
grep -q 'run 1/1: tier zram' "$h/run.log" || bad "run.log: $(head -c 300 "$h/run.log")"
remote=$(jq -r '.settings.out' "$h/run.json")
[ -n "$remote" ] && [ ! -e "$remote" ] || bad "the run's directory on the host is still there: $remote"
[ -s "$h/report.md" ] || bad "no report.md for the host"

md=$fleet/fleet.md
[ -s "$md" ] || fail "no fleet.md: $(tail -n 20 "$tmp/ansible-t1.log")"
info "fleet.md: $(grep '^| A | localhost | zram' "$md")"
grep -Eq '^\| A \| localhost \| zram@1\.1 \| 1/1 \| [0-9]+/s \| [0-9.]+ (us|ms) \| [0-9.]+% \|$' "$md" ||
	bad "fleet.md: no row for localhost and zram: $(grep localhost "$md" | head -n 3)"
grep -q '^| A | localhost | quick (workload.duration_s=2) | .* | exit 0 | \[report.md\](localhost/report.md) |$' "$md" ||
	bad "fleet.md's host row: $(grep '^| A | localhost | quick' "$md")"

# A run that fails: the host is failed, with the status, and nothing else breaks.
playbook t2 '["--scenario", "no-such-scenario"]' ||
	{ tail -n 30 "$tmp/ansible-t2.log" >&2; fail "ansible-playbook of a failing run failed"; }
same_machine "$before" "after the failing run"
jq -e '.state == "failed" and .exit_status != 0' "$tmp/results/fleet-t2/localhost/fleet-job.json" >/dev/null ||
	bad "failed run's record: $(cat "$tmp/results/fleet-t2/localhost/fleet-job.json")"
grep -q '^- localhost: no run.json: swapbench run exited with status [0-9]* (see run.log)$' \
	"$tmp/results/fleet-t2/fleet.md" || bad "fleet.md of the failed run: $(grep '^- localhost' "$tmp/results/fleet-t2/fleet.md")"
grep -q "no-such-scenario" "$tmp/results/fleet-t2/localhost/run.log" || bad "run.log of the failed run"

# What is not a list of arguments is refused before anything runs.
playbook t3 '"--scenario quick"' && bad "a string for swapbench_args was accepted"
[ ! -e "$tmp/results/fleet-t3/localhost" ] || bad "a refused play ran on the host"
checks_done
