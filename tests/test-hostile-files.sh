#!/usr/bin/env bash
# Issue #20, item 2: root vramd must not write through a symbolic link or
# into another user's file planted where its --pidfile, --log or
# --stats-file goes (with fs.protected_symlinks=0, as on some hosts, an
# unprivileged user could otherwise make root overwrite any file).  Each
# planted path is refused with a clear message and the victim file stays
# unchanged; the statistics file replaces a link instead of following it.
# Try:  tests/run-tests test-hostile-files.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_vramd
requires timeout cmp


victim=$tmp/victim
printf 'root-owned contents\n' >"$victim"
cp "$victim" "$tmp/victim.orig"
dir=$tmp/pub
mkdir -m 1777 "$dir"
base=(--foreground --no-swap --backend ram --size 1M --socket "$tmp/v.sock")

# run_refused LABEL REGEX ARGS...: vramd must exit 1 saying REGEX.
run_refused() {
	local label=$1 re=$2 rc
	shift 2
	timeout 10 "$VRAMD" "${base[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 124 ]; then
		bad "item 2, $label: vramd started (still running after 10 s)"
	elif [ $rc != 1 ] || ! grep -qiE "$re" "$tmp/err"; then
		bad "item 2, $label: exit $rc, stderr: $(head -c 300 "$tmp/err")"
	else
		info "item 2, $label: refused: $(cat "$tmp/err")"
	fi
	cmp -s "$victim" "$tmp/victim.orig" || bad "item 2, $label: the victim file was written"
	cp "$tmp/victim.orig" "$victim"
}

ln -s "$victim" "$dir/vramd.pid"
run_refused "--pidfile symlink" 'pidfile.*symbolic link' --pidfile "$dir/vramd.pid"
ln -s "$victim" "$dir/vramd.log"
run_refused "--log symlink" 'log file.*symbolic link' --log "$dir/vramd.log"
: >"$dir/owned.pid"
chown 65534:65534 "$dir/owned.pid"
run_refused "--pidfile of another user" 'pidfile.*another user' --pidfile "$dir/owned.pid"
: >"$dir/owned.log"
chown 65534:65534 "$dir/owned.log"
run_refused "--log of another user" 'log file.*another user' --log "$dir/owned.log"
mkfifo "$dir/fifo.pid"
run_refused "--pidfile a FIFO" 'pidfile.*not a regular file' --pidfile "$dir/fifo.pid"

# --stats-file: a link at the path is replaced by the statistics, and a
# link at any guessable temporary name (PATH.tmp.PID was used) is never
# written through.
ln -s "$victim" "$dir/stats.json"
for i in $(seq 1 400); do ln -s "$victim" "$dir/stats.json.tmp.$i" 2>/dev/null; done
"$VRAMD" --no-swap --backend ram --size 1M --socket "$tmp/v.sock" --stats-file "$dir/stats.json" \
	--stats-interval-ms 100 --pidfile "$tmp/v.pid" || fail "vramd did not start"
sleep 0.5
kill -TERM "$(cat "$tmp/v.pid")"
for ((i = 0; i < 50; i++)); do
	[ -e "$tmp/v.sock" ] || break
	sleep 0.1
done
cmp -s "$victim" "$tmp/victim.orig" || bad "item 2, --stats-file: the victim file was written"
if [ -L "$dir/stats.json" ] || ! grep -q '"commands"' "$dir/stats.json"; then
	bad "item 2, --stats-file: $dir/stats.json is not vramd's statistics ($(ls -l "$dir/stats.json"))"
else
	info "item 2, --stats-file: the planted link was replaced by the statistics; the victim is intact"
fi
leftover=$(find "$dir" -name 'stats.json.??????' ! -name 'stats.json.tmp.*' | head -n 3)
[ -z "$leftover" ] || bad "item 2, --stats-file: temporary files left: $leftover"

checks_done
