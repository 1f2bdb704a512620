# bench-lib.sh: what the fio benchmarks (bench-server.sh, bench-transport.sh)
# share; sourced, not run.  The caller sets prog (its name in messages) and,
# before run_fio, tmp (its scratch directory); run_fio keeps the fio run in
# flight in child, for the caller's exit trap to stop.
# shellcheck shell=bash disable=SC2154,SC2034 # prog, tmp: the caller's; fio_jq: for it

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage_error() {
	echo "$prog: $*" >&2
	echo "try '$0 --help'" >&2
	exit 2
}

# to_bytes SIZE: bytes for N[KMGT] (powers of 1024), empty when malformed.
to_bytes() {
	local n=${1%[KkMmGgTt]} s=${1##*[0-9]}
	[[ $n =~ ^[0-9]+$ ]] || return 0
	case $s in
	"") echo "$n" ;;
	[Kk]) echo $((n << 10)) ;;
	[Mm]) echo $((n << 20)) ;;
	[Gg]) echo $((n << 30)) ;;
	[Tt]) echo $((n << 40)) ;;
	esac
}

# pick_cases "PATTERNS" CASE...: the CASEs ("NAME FIELDS...") whose NAME
# matches one of the shell PATTERNS, one a line, in their order.
pick_cases() {
	local pats=$1 c p
	local -
	set -f          # the patterns are for names, not for files here
	shift
	for c in "$@"; do
		for p in $pats; do
			# shellcheck disable=SC2053 # p is a pattern on purpose
			if [[ ${c%% *} == $p ]]; then
				echo "$c"
				break
			fi
		done
	done
}

version_of() {
	"$@" 2>/dev/null | head -n 1
}

child=""

# run_fio JSON TIMEOUT FIO-ARGS...: fio in the background (so a signal
# reaches the caller's trap at once) under a timeout, its messages in
# $tmp/fio.log; returns fio's exit status.  FIO-ARGS name the engine.
run_fio() {
	local json=$1 limit=$2 rc
	shift 2
	rm -f "$json"
	timeout --kill-after=10 "$limit" fio --output-format=json --output="$json" "$@" \
		>"$tmp/fio.log" 2>&1 &
	child=$!
	wait "$child"
	rc=$?
	child=""
	return $rc
}

# fio_reason RC: one line saying why a run is invalid.
fio_reason() {
	local line
	case $1 in
	124 | 137) echo "fio timed out" ; return ;;
	esac
	line=$(grep -v 'connected to NBD server' "$tmp/fio.log" | grep -v '^[[:space:]]*$' | tail -n 1)
	echo "fio exit $1${line:+: $line}"
}

# fio_jq: jq definitions for a fio JSON document of one group-reported job:
# fio_figures($dir; $rc; $reason; $alive) is the run's validity (fio's
# exit status $rc, its message $reason, and whether the server is still
# $alive) and its figures for direction $dir ("read" or "write"), latency
# as fio's completion latency in microseconds.
# shellcheck disable=SC2016 # jq, not shell
fio_jq='
def us: if . == null then null else . / 1000 end;
def fio_figures($dir; $rc; $reason; $alive):
	.jobs[0] as $j | $j[$dir] as $d |
	($rc == 0 and $j.error == 0 and $d.io_bytes > 0 and $alive) as $ok |
	{ valid: $ok,
	  reason: (if $ok then null
		   elif $alive | not then "server exited"
		   elif $rc != 0 then $reason
		   elif $j.error != 0 then "fio error \($j.error)"
		   else "no I/O done" end),
	  fio_exit_code: $rc, fio_error: $j.error,
	  iops: $d.iops, bw_bytes_per_s: $d.bw_bytes, io_bytes: $d.io_bytes,
	  lat_mean_us: ($d.clat_ns.mean | us),
	  lat_p50_us: ($d.clat_ns.percentile["50.000000"] | us),
	  lat_p90_us: ($d.clat_ns.percentile["90.000000"] | us),
	  lat_p99_us: ($d.clat_ns.percentile["99.000000"] | us),
	  lat_p99_9_us: ($d.clat_ns.percentile["99.900000"] | us),
	  lat_max_us: ($d.clat_ns.max | us) };
'

# machine_id_hash: 16 hex digits of FNV-1a (64 bits) over "swapbench:" and
# /etc/machine-id (else the DMI product UUID), as swapbench's fingerprint
# and doctor give it: a stable id of the machine that does not reveal the
# id itself; "" without one.
machine_id_hash() {
	local id s i c h=0xcbf29ce484222325
	id=$(tr -d '\n' </etc/machine-id 2>/dev/null)
	[ -n "$id" ] || id=$(tr -d '\n' </sys/class/dmi/id/product_uuid 2>/dev/null)
	# not a placeholder many boards and VMs share
	case ${id,,} in *[!0-]*) ;; *) id= ;; esac
	case ${id,,} in *[!f-]*) ;; *) id= ;; esac
	[ "${id,,}" != 03000200-0400-0500-0006-000700080009 ] || id=
	[ -n "$id" ] || return 0
	s="swapbench:$id"
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 0x100000001b3))
	done
	printf '%016x\n' "$h"
}

# host_json: the machine as a JSON object (host, kernel, arch, os,
# cpu_model, online_cpus, nproc, mem_total_bytes, gpu: nvidia-smi's name,
# driver and memory where there is one, machine_id: machine_id_hash); null
# for what cannot be told.
host_json() {
	local cpu mem os gpu=""
	cpu=$(awk -F': ' '$1 ~ /^model name[[:space:]]*$/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '$1 == "MemTotal:" { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
	# shellcheck disable=SC1091
	os=$( (. /etc/os-release && echo "${PRETTY_NAME:-}") 2>/dev/null)
	if command -v nvidia-smi >/dev/null 2>&1; then
		gpu=$(timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total \
			--format=csv,noheader 2>/dev/null | head -n 1)
	fi
	jq -n --arg host "$(uname -n)" --arg kernel "$(uname -r)" --arg arch "$(uname -m)" \
		--arg os "$os" --arg cpu "$cpu" --argjson online "$(getconf _NPROCESSORS_ONLN)" \
		--argjson avail "$(nproc)" --argjson mem "${mem:-0}" --arg gpu "$gpu" \
		--arg mid "$(machine_id_hash)" '
		def nz: if . == "" then null else . end;
		{ host: $host, kernel: $kernel, arch: $arch, os: ($os | nz),
		  cpu_model: ($cpu | nz), online_cpus: $online, nproc: $avail,
		  mem_total_bytes: $mem, gpu: ($gpu | nz), machine_id: ($mid | nz) }'
}
