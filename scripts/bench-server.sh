#!/usr/bin/env bash
# bench-server.sh: fio's nbd engine against vramd and two reference servers,
# nbdkit memory (same job, another implementation) and nbdkit null (no
# storage: the ceiling of the NBD-over-Unix-socket transport itself).  All
# servers run at once on Unix sockets; for each case the rounds take the
# servers in turn, so drift hits them alike.  A benchmark, not a test: it
# prints a table, writes a JSON document, and fails only when a run fails.
# Try it:  make bench-server BENCH_ARGS=--quick
#     or:  scripts/bench-server.sh --quick --servers "nbdkit-memory nbdkit-null"

set -uo pipefail
export LC_ALL=C

prog=bench-server
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BUILD:=$top/build}"
: "${BACKENDS:=ram}"
VRAMD="$BUILD/vramd"
# shellcheck source=scripts/bench-lib.sh
. "$top/scripts/bench-lib.sh"

# --- settings ------------------------------------------------------------------
servers_opt="vramd nbdkit-memory nbdkit-null"
unset cases_opt # every case
vramd_args=""
runtime_s=5
ramp_s=1
repeats=1
size=4G
out=""
online_cpus=$(getconf _NPROCESSORS_ONLN)
# vramd's --threads default is the number of online CPUs; nbdkit gets as many.
: "${NBDKIT_THREADS:=$online_cpus}"

# Cases: name rw block-size iodepth connections metric.  fio's nbd engine
# opens one connection per job, so connections = numjobs (group_reporting).
CASES=(
	"randread-qd1-c1 randread 4k 1 1 lat"
	"randwrite-qd1-c1 randwrite 4k 1 1 lat"
	"randread-qd32-c4 randread 4k 32 4 iops"
	"randread-qd32-c8 randread 4k 32 8 iops"
	"randread-qd32-c16 randread 4k 32 16 iops"
	"randwrite-qd32-c4 randwrite 4k 32 4 iops"
	"randwrite-qd32-c8 randwrite 4k 32 8 iops"
	"randwrite-qd32-c16 randwrite 4k 32 16 iops"
	"seqread-1m-qd8-c1 read 1m 8 1 bw"
	"seqread-1m-qd8-c4 read 1m 8 4 bw"
	"seqwrite-1m-qd8-c1 write 1m 8 1 bw"
	"seqwrite-1m-qd8-c4 write 1m 8 4 bw"
)

usage() {
	cat <<EOF
usage: $0 [options]

Runs fio (--ioengine=nbd) against NBD servers on Unix sockets and prints,
per case, each server's figure and the ratios vramd/nbdkit-memory and
vramd/nbdkit-null.  Cases: 4 KiB randread/randwrite at QD1 on 1 connection
(p50/p99 completion latency), at QD32 on 4, 8 and 16 connections (IOPS),
1 MiB sequential read/write at QD8 on 1 and 4 connections (GB/s).

  --servers "LIST"    subset of: vramd nbdkit-memory nbdkit-null
                      (default "$servers_opt"; "vramd" means one column
                      per backend in \$BACKENDS, or name vramd-BACKEND)
  --cases "PATTERNS"  only the cases whose names match one of these shell
                      patterns (e.g. "seqwrite-* randread-qd1-c1"); names:
                      $(for c in "${CASES[@]}"; do printf '%s ' "${c%% *}"; done | fold -s -w 52 | sed '2,$s/^/                      /')
  --vramd-args "ARGS" extra arguments for every vramd (e.g. "--threads 4")
  --size SIZE         export size, K/M/G/T suffix (default $size)
  --runtime S         seconds measured per point (default $runtime_s)
  --quick             2 s per point
  --repeats R         rounds per case (default $repeats); the table shows medians
  --out FILE          JSON results (default results/bench-server-HOST-DATE.json)
  --help              this text

Environment: BUILD (build dir, default $top/build), BACKENDS (vramd
backends, default "ram"; e.g. BACKENDS="vram ram"), NBDKIT_THREADS
(nbdkit --threads, default: online CPUs, which is vramd's default).
Each point also has a $ramp_s s ramp.  Memory servers are written once in
full before the cases run, so reads never hit holes.
EOF
}

while [ $# -gt 0 ]; do
	opt=$1 val=""
	case $opt in
	--*=*) val=${opt#*=} opt=${opt%%=*} ;;
	esac
	case $opt in
	--servers | --cases | --vramd-args | --size | --runtime | --repeats | --out)
		if [ -z "$val" ] && [[ $1 != *=* ]]; then
			[ $# -ge 2 ] || usage_error "option '$opt' needs a value"
			val=$2
			shift
		fi ;;
	esac
	case $opt in
	--servers) servers_opt=$val ;;
	--cases) cases_opt=$val ;;
	--vramd-args) vramd_args=$val ;;
	--size) size=$val ;;
	--runtime) runtime_s=$val ;;
	--quick) runtime_s=2 ;;
	--repeats) repeats=$val ;;
	--out) out=$val ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown option '$opt'" ;;
	esac
	shift
done

if [ -n "${cases_opt+set}" ]; then
	mapfile -t picked < <(pick_cases "$cases_opt" "${CASES[@]}")
	[ ${#picked[@]} -gt 0 ] || usage_error "--cases: '$cases_opt' matches no case (see --help)"
	CASES=("${picked[@]}")
fi
[[ $runtime_s =~ ^[1-9][0-9]*$ ]] || usage_error "--runtime: '$runtime_s' is not a positive integer"
[[ $repeats =~ ^[1-9][0-9]*$ ]] || usage_error "--repeats: '$repeats' is not a positive integer"
[[ $NBDKIT_THREADS =~ ^[1-9][0-9]*$ ]] || usage_error "NBDKIT_THREADS: '$NBDKIT_THREADS' is not a positive integer"

size_bytes=$(to_bytes "$size")
[ -n "$size_bytes" ] || usage_error "--size: '$size' is not a size"
# Sequential jobs each take an equal slice; the pre-fill takes quarters.
(( size_bytes > 0 && size_bytes % (16 << 20) == 0 )) ||
	usage_error "--size: '$size' is not a multiple of 16M"

# Expand the server list: "vramd" is one column per backend in $BACKENDS.
SERVERS=()
for s in $servers_opt; do
	case $s in
	vramd)
		for b in $BACKENDS; do SERVERS+=("vramd-$b"); done ;;
	vramd-?* | nbdkit-memory | nbdkit-null) SERVERS+=("$s") ;;
	*) usage_error "--servers: unknown server '$s' (known: vramd vramd-BACKEND nbdkit-memory nbdkit-null)" ;;
	esac
done
[ ${#SERVERS[@]} -gt 0 ] || usage_error "--servers: no server left to run"
mapfile -t dups < <(printf '%s\n' "${SERVERS[@]}" | sort | uniq -d)
[ ${#dups[@]} -eq 0 ] || usage_error "--servers: '${dups[0]}' named twice"

for c in fio jq nbdinfo timeout; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' not found (scripts/install-deps.sh installs it)"
done
need_nbdkit=0 need_vramd=0
for s in "${SERVERS[@]}"; do
	case $s in
	nbdkit-*) need_nbdkit=1 ;;
	vramd-*) need_vramd=1 ;;
	esac
done
[ $need_nbdkit = 0 ] || command -v nbdkit >/dev/null 2>&1 ||
	die "'nbdkit' not found (scripts/install-deps.sh installs it)"
[ $need_vramd = 0 ] || [ -x "$VRAMD" ] ||
	die "'$VRAMD' not found: run make, or leave vramd out of --servers"
fio --enghelp=nbd >/dev/null 2>&1 || die "this fio has no nbd engine (fio --enghelp=nbd)"

host=$(uname -n)
host=${host%%.*}
stamp=$(date +%Y%m%d-%H%M%S)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ -n "$out" ] || out="$top/results/bench-server-$host-$stamp.json"
mkdir -p "$(dirname "$out")" || die "cannot create the directory of '$out'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-server.XXXXXX") || die "mktemp failed"
clk_tck=$(getconf CLK_TCK)

# --- cleanup -------------------------------------------------------------------
declare -A PID SOCK CMD EXIT_CODE
child=""        # the fio run in flight (its timeout wrapper)
written=0

stop_servers() {
	local s pid i
	for s in "${SERVERS[@]}"; do
		pid=${PID[$s]:-}
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		EXIT_CODE[$s]=$?
		PID[$s]=""
	done
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	stop_servers
	if [ "$written" = 0 ] && [ -s "$tmp/runs.jsonl" ]; then
		write_results false && echo "$prog: partial results in $out" >&2
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- servers -------------------------------------------------------------------
# cpu_ticks PID: user+system clock ticks so far (fields 14 and 15 of stat,
# counted after the command name, which may hold spaces).
cpu_ticks() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	rest=${stat##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo $(( ${12} + ${13} ))
}

# nbdkit_plugin NAME: the plugin by name, or by path when NBDKIT_PLUGINS
# points at a directory of them (a bundled nbdkit on a host without it).
nbdkit_plugin() {
	if [ -n "${NBDKIT_PLUGINS:-}" ] && [ -f "$NBDKIT_PLUGINS/nbdkit-$1-plugin.so" ]; then
		echo "$NBDKIT_PLUGINS/nbdkit-$1-plugin.so"
	else
		echo "$1"
	fi
}

start_server() {
	local s=$1 sock="$tmp/$1.sock" log="$tmp/$1.log" i got
	local -a cmd
	case $s in
	vramd-*)
		# 16 jobs connect at once while the last case's 8 may still be
		# closing: room for both (--max-connections defaults to 16).
		# shellcheck disable=SC2206
		cmd=("$VRAMD" --backend "${s#vramd-}" --size "$size" --socket "$sock"
			--foreground --no-swap --max-connections 64 $vramd_args) ;;
	nbdkit-memory)
		cmd=(nbdkit -U "$sock" --foreground --exit-with-parent
			--threads "$NBDKIT_THREADS" "$(nbdkit_plugin memory)" "$size") ;;
	nbdkit-null)
		cmd=(nbdkit -U "$sock" --foreground --exit-with-parent
			--threads "$NBDKIT_THREADS" "$(nbdkit_plugin null)" "$size") ;;
	esac
	CMD[$s]="${cmd[*]}"
	SOCK[$s]=$sock
	rm -f "$sock"
	"${cmd[@]}" >"$log" 2>&1 </dev/null &
	PID[$s]=$!
	for ((i = 0; i < 200; i++)); do
		[ -S "$sock" ] && break
		if ! kill -0 "${PID[$s]}" 2>/dev/null; then
			wait "${PID[$s]}"
			EXIT_CODE[$s]=$?
			PID[$s]=""
			sed 's/^/  /' "$log" >&2
			die "server '$s' exited during start-up (status ${EXIT_CODE[$s]}): ${CMD[$s]}"
		fi
		sleep 0.05
	done
	[ -S "$sock" ] || die "server '$s' did not create '$sock' within 10 s"
	got=$(timeout 10 nbdinfo --size "$(uri "$s")" 2>"$tmp/nbdinfo.err") ||
		die "nbdinfo could not connect to '$s': $(tail -n 1 "$tmp/nbdinfo.err")"
	[ "$got" = "$size_bytes" ] ||
		die "server '$s' exports $got bytes, asked for $size_bytes"
}

uri() {
	echo "nbd+unix:///?socket=${SOCK[$1]}"
}

# --- fio -----------------------------------------------------------------------
# Write every byte of a memory server once, so the reads that follow are of
# data, not of holes (nbdkit memory answers holes without touching memory).
prefill() {
	local s=$1 json="$tmp/prefill.json" rc t0 t1 quarter=$((size_bytes / 4)) rec
	printf '[prefill] %s %s ... ' "$s" "$size" >&2
	t0=$(date +%s.%N)
	run_fio "$json" 900 --ioengine=nbd --uri="$(uri "$s")" --name=prefill --rw=write --bs=1m --iodepth=8 \
		--numjobs=4 --size="$quarter" --offset_increment="$quarter" \
		--group_reporting
	rc=$?
	t1=$(date +%s.%N)
	rec=$(jq -c --arg server "$s" --argjson rc "$rc" --arg t0 "$t0" --arg t1 "$t1" '
		.jobs[0] as $j |
		{ server: $server, fio_exit_code: $rc, fio_error: $j.error,
		  io_bytes: $j.write.io_bytes, bw_bytes_per_s: $j.write.bw_bytes,
		  elapsed_s: (($t1 | tonumber) - ($t0 | tonumber)) }' "$json" 2>/dev/null)
	if [ $rc -ne 0 ] || [ -z "$rec" ] ||
		[ "$(jq -r '.fio_error == 0 and .io_bytes == '"$size_bytes" <<<"$rec")" != true ]; then
		echo "failed" >&2
		die "pre-fill of '$s' failed: $(fio_reason $rc)"
	fi
	echo "$rec" >>"$tmp/prefill.jsonl"
	jq -r '"\(.bw_bytes_per_s / 1e9 * 100 | round / 100) GB/s, \(.elapsed_s * 10 | round / 10) s"' <<<"$rec" >&2
}

# measure CASE-FIELDS... SERVER ROUND: one point; appends a record to runs.jsonl
# and prints its headline figure.
measure() {
	local name=$1 rw=$2 bs=$3 qd=$4 conns=$5 metric=$6 s=$7 round=$8
	local json="$tmp/run.json" dir=read rc t other_before other_after o
	local -a extra=()
	case $rw in
	*write) dir="write" ;;
	esac
	case $rw in
	read | write)
		# Each connection streams through its own slice.
		extra=(--size=$((size_bytes / conns)) --offset_increment=$((size_bytes / conns))) ;;
	*)
		extra=(--norandommap) ;;
	esac
	if [ -z "${PID[$s]}" ] || ! kill -0 "${PID[$s]}" 2>/dev/null; then
		jq -cn --arg case "$name" --arg server "$s" --argjson round "$round" \
			'{ case: $case, server: $server, round: $round, valid: false,
			   reason: "server not running" }' >>"$tmp/runs.jsonl"
		echo "ERR (server not running)"
		return
	fi
	local before after
	before=$(cpu_ticks "${PID[$s]}")
	other_before=0
	for o in "${SERVERS[@]}"; do
		[ "$o" = "$s" ] || [ -z "${PID[$o]}" ] ||
			other_before=$((other_before + $(cpu_ticks "${PID[$o]}")))
	done
	t=$((ramp_s + runtime_s + 60))
	run_fio "$json" "$t" --ioengine=nbd --uri="$(uri "$s")" --name="$name" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --numjobs="$conns" --group_reporting \
		--time_based --runtime="$runtime_s" --ramp_time="$ramp_s" \
		--percentile_list=50:90:99:99.9 "${extra[@]}"
	rc=$?
	after=$(cpu_ticks "${PID[$s]}")
	other_after=0
	for o in "${SERVERS[@]}"; do
		[ "$o" = "$s" ] || [ -z "${PID[$o]}" ] ||
			other_after=$((other_after + $(cpu_ticks "${PID[$o]}")))
	done
	local alive=true
	kill -0 "${PID[$s]}" 2>/dev/null || alive=false
	jq -c --arg case "$name" --arg server "$s" --argjson round "$round" \
		--arg dir "$dir" --argjson rc "$rc" --arg reason "$(fio_reason "$rc")" \
		--argjson alive "$alive" \
		--argjson server_cpu_ms $(((after - before) * 1000 / clk_tck)) \
		--argjson other_cpu_ms $(((other_after - other_before) * 1000 / clk_tck)) "$fio_jq"'
		{ case: $case, server: $server, round: $round }
		+ fio_figures($dir; $rc; $reason; $alive)
		+ { client_cpu_pct: (.jobs[0] | .usr_cpu + .sys_cpu),
		    server_cpu_ms: $server_cpu_ms,
		    idle_servers_cpu_ms: $other_cpu_ms }' "$json" >"$tmp/rec.json" 2>/dev/null ||
		jq -cn --arg case "$name" --arg server "$s" --argjson round "$round" \
			--argjson rc "$rc" --arg reason "$(fio_reason "$rc")" \
			'{ case: $case, server: $server, round: $round, valid: false,
			   reason: $reason, fio_exit_code: $rc }' >"$tmp/rec.json"
	cat "$tmp/rec.json" >>"$tmp/runs.jsonl"
	jq -r --arg metric "$metric" '
		def r(n): . * n | round / n;
		if .valid | not then "ERR (\(.reason))"
		elif $metric == "lat" then "p50 \(.lat_p50_us | r(10)) us, p99 \(.lat_p99_us | r(10)) us"
		elif $metric == "iops" then "\(.iops / 1000 | r(10)) kIOPS"
		else "\(.bw_bytes_per_s / 1e9 | r(100)) GB/s" end' "$tmp/rec.json"
}

# --- results -------------------------------------------------------------------
# kv_json: key=value lines on stdin -> a JSON object.
kv_json() {
	jq -Rn '[inputs | select(test("^[A-Za-z0-9_]+=")) |
		capture("^(?<key>[^=]+)=(?<value>.*)$")] | from_entries'
}

fingerprint() {
	local commit="" dirty=false
	if commit=$(git -C "$top" rev-parse HEAD 2>/dev/null); then
		[ -z "$(git -C "$top" status --porcelain -- servers common Makefile 2>/dev/null)" ] ||
			dirty=true
	else
		commit=""
	fi
	jq -n --argjson machine "$(host_json)" \
		--arg fio "$(version_of fio --version)" \
		--arg nbdkit "$(version_of nbdkit --version)" \
		--arg libnbd "$(nbdinfo --version 2>/dev/null | awk '$1 == "libnbd" { print $2 }')" \
		--arg vramd "$([ -x "$VRAMD" ] && version_of "$VRAMD" --version)" \
		--arg commit "$commit" --argjson dirty "$dirty" \
		--arg vcommit "$([ -x "$VRAMD" ] && "$VRAMD" --backend null --dump-backend 2>/dev/null |
			sed -n 's/^commit=//p')" '
		def nz: if . == "" then null else . end;
		$machine +
		{ versions: { fio: ($fio | nz), nbdkit: ($nbdkit | nz),
			      libnbd: ($libnbd | nz), vramd: ($vramd | nz) },
		  vramd_commit: ($vcommit | nz),
		  git_commit: ($commit | nz), git_dirty: (if $commit == "" then null else $dirty end) }'
}

servers_json() {
	local s dump threads
	for s in "${SERVERS[@]}"; do
		dump='{}'
		threads=$NBDKIT_THREADS
		case $s in
		vramd-*)
			dump=$(timeout 10 "$VRAMD" --backend "${s#vramd-}" --dump-backend 2>/dev/null | kv_json)
			[ -n "$dump" ] || dump='{}'
			threads=null
			[[ " $vramd_args " =~ \ --threads[\ =]([0-9]+)\  ]] && threads=${BASH_REMATCH[1]}
			# the default: online CPUs, at most --max-connections (64 here)
			[ "$threads" != null ] || threads=$((online_cpus < 64 ? online_cpus : 64)) ;;
		esac
		jq -cn --arg name "$s" --arg command "${CMD[$s]:-}" --argjson threads "$threads" \
			--arg exit_code "${EXIT_CODE[$s]:-}" --argjson dump "$dump" \
			--slurpfile prefill <(jq -c --arg s "$s" 'select(.server == $s)' \
				"$tmp/prefill.jsonl" 2>/dev/null) '
			{ name: $name, command: $command, threads: $threads,
			  exit_code: (if $exit_code == "" then null else ($exit_code | tonumber) end),
			  prefill: ($prefill[0] // null | if . then del(.server) else . end) }
			+ (if $dump == {} then {} else { dump_backend: $dump } end)'
	done
}

cases_json() {
	local c
	for c in "${CASES[@]}"; do
		# shellcheck disable=SC2086
		set -- $c
		jq -cn --arg name "$1" --arg rw "$2" --arg bs "$3" --argjson qd "$4" \
			--argjson conns "$5" --arg metric "$6" '
			{ name: $name, rw: $rw,
			  bs_bytes: (if $bs == "4k" then 4096 else 1048576 end),
			  iodepth: $qd, connections: $conns,
			  metric: ({ lat: "lat_us", iops: "iops", bw: "bw_bytes_per_s" }[$metric]) }'
	done
}

# write_results COMPLETE: the JSON document, with medians over valid rounds.
write_results() {
	local complete=$1
	jq -n --argjson complete "$complete" --arg started "$started_at" \
		--arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--argjson fingerprint "$(fingerprint)" \
		--argjson servers "$(servers_json | jq -sc .)" \
		--argjson cases "$(cases_json | jq -sc .)" \
		--slurpfile runs "$tmp/runs.jsonl" \
		--argjson runtime "$runtime_s" --argjson ramp "$ramp_s" \
		--argjson repeats "$repeats" --argjson size "$size_bytes" \
		--arg vramd_args "$vramd_args" --arg backends "$BACKENDS" \
		--argjson nbdkit_threads "$NBDKIT_THREADS" '
		def median: sort | length as $n |
			if $n == 0 then null
			elif $n % 2 == 1 then .[($n - 1) / 2]
			else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
		def keys_: ["iops", "bw_bytes_per_s", "lat_mean_us", "lat_p50_us",
			    "lat_p99_us", "lat_p99_9_us", "server_cpu_ms"];
		{ schema_version: 1, tool: "bench-server", complete: $complete,
		  started_at: $started, finished_at: $finished,
		  fingerprint: $fingerprint,
		  settings: { servers: [$servers[].name], backends: $backends,
			      size_bytes: $size, runtime_s: $runtime, ramp_s: $ramp,
			      repeats: $repeats, vramd_args: $vramd_args,
			      nbdkit_threads: $nbdkit_threads,
			      transport: "unix socket", fio_engine: "nbd",
			      summary: "median over valid rounds",
			      notes: [ "lat_*_us: fio completion latency (clat) percentiles",
				       "server_cpu_ms: the measured server: user+system CPU time over the whole fio run (ramp included)",
				       "idle_servers_cpu_ms: CPU time the other (idle) servers used meanwhile",
				       "bw_bytes_per_s and iops: the figures fio reports for the measured span" ] },
		  servers: $servers, cases: $cases, runs: $runs,
		  summary: [ $cases[] as $c | $servers[] as $s |
			[ $runs[] | select(.case == $c.name and .server == $s.name) ] as $r |
			[ $r[] | select(.valid) ] as $v |
			{ case: $c.name, server: $s.name, rounds: ($r | length),
			  valid_rounds: ($v | length) } +
			([ (keys_ | .[]) as $k |
			   { key: $k, value: ([ $v[] | .[$k] | select(. != null) ] | median) } ]
			 | from_entries) ] }' >"$out.tmp" && mv "$out.tmp" "$out" && written=1
}

# print_table: one row per case and figure, medians, then the ratios.
print_table() {
	jq -r '
		. as $doc |
		[ $doc.servers[].name ] as $names |
		[ $names[] | select(startswith("vramd-")) ] as $vramds |
		[ "nbdkit-memory", "nbdkit-null" | select(. as $n | $names | index($n)) ] as $refs |
		def short: if . == "nbdkit-memory" then "mem" elif . == "nbdkit-null" then "null"
			   elif ($vramds | length) == 1 then "vramd" else ltrimstr("vramd-") end;
		def val($case; $server; $key):
			first($doc.summary[] | select(.case == $case and .server == $server)) | .[$key];
		def rows: $doc.cases[] |
			if .metric == "lat_us" then [.name, "p50_us", "lat_p50_us"], [.name, "p99_us", "lat_p99_us"]
			elif .metric == "iops" then [.name, "kIOPS", "iops"]
			else [.name, "GB/s", "bw_bytes_per_s"] end;
		(["case", "figure"] + $names +
		 [ $vramds[] as $v | $refs[] as $r | "\($v | short)/\($r | short)" ]) ,
		(rows as [$case, $fig, $key] |
		 [$case, $fig] +
		 [ $names[] as $n | val($case; $n; $key) ] +
		 [ $vramds[] as $v | $refs[] as $r |
		   [ val($case; $v; $key), val($case; $r; $key) ] |
		   if .[0] == null or .[1] == null or .[1] == 0 then null
		   else "x\(.[0] / .[1])" end ])
		| map(if . == null then "-" else tostring end) | @tsv' "$out" |
	awk -F'\t' '
		function fmt(v, label) {
			if (v == "-" || NR == 1) return v
			if (v ~ /^x/) return sprintf("%.2f", substr(v, 2))
			if (label == "kIOPS") return sprintf("%.1f", v / 1000)
			if (label == "GB/s") return sprintf("%.2f", v / 1e9)
			return sprintf("%.1f", v)
		}
		{
			for (i = 1; i <= NF; i++) {
				cell[NR, i] = (i <= 2) ? $i : fmt($i, $2)
				if (length(cell[NR, i]) > w[i]) w[i] = length(cell[NR, i])
			}
			if (NF > nf) nf = NF
		}
		END {
			for (r = 1; r <= NR; r++) {
				line = ""
				for (i = 1; i <= nf; i++) {
					if (i <= 2) line = line sprintf("%-*s  ", w[i], cell[r, i])
					else line = line sprintf("%*s  ", w[i], cell[r, i])
				}
				sub(/ +$/, "", line)
				print line
			}
		}'
}

# --- main ----------------------------------------------------------------------
echo "$prog: servers: ${SERVERS[*]}; ${runtime_s}s + ${ramp_s}s ramp per point," \
	"$repeats round(s); size $size; nbdkit --threads $NBDKIT_THREADS (vramd's default:" \
	"$online_cpus online CPUs)" >&2
for s in "${SERVERS[@]}"; do
	start_server "$s"
done
: >"$tmp/prefill.jsonl"
: >"$tmp/runs.jsonl"
for s in "${SERVERS[@]}"; do
	case $s in
	*-null) ;;  # nothing stored, nothing to fill
	*) prefill "$s" ;;
	esac
done

total=$(( ${#CASES[@]} * repeats * ${#SERVERS[@]} ))
n=0
for c in "${CASES[@]}"; do
	# shellcheck disable=SC2086
	set -- $c
	for ((round = 1; round <= repeats; round++)); do
		for s in "${SERVERS[@]}"; do
			n=$((n + 1))
			printf '[%d/%d] %s %s%s ... ' "$n" "$total" "$1" "$s" \
				"$([ "$repeats" -gt 1 ] && echo " round $round")" >&2
			measure "$@" "$s" "$round" >&2
		done
	done
done

stop_servers
write_results true || die "cannot write '$out'"

echo "# bench-server $(date -u +%Y-%m-%dT%H:%MZ) on $host: $online_cpus CPUs, kernel $(uname -r)," \
	"${runtime_s}s per point, $repeats round(s), median shown"
print_table
echo "# ratios: vramd / reference; above 1 is better for kIOPS and GB/s, below 1 for latency"
echo "$prog: results in $out" >&2

invalid=$(jq '[.runs[] | select(.valid | not)] | length' "$out")
if [ "$invalid" != 0 ]; then
	echo "$prog: $invalid run(s) failed; see .runs[].reason in $out" >&2
	exit 1
fi
exit 0
