#!/usr/bin/env bash
# The manual pages, man/swapbench.1 and man/vramd.8, against the programs:
# each page renders without a warning (groff -man -ww; mandoc -Tlint too
# where installed) and carries the Makefile's version; every command of
# `swapbench --help` has its subsection in swapbench(1), and every long
# option of each `swapbench COMMAND --help` appears in it (tier's options
# may be in TIERS instead); every option of `swapbench --help` is in
# OPTIONS, every tier of `swapbench list tiers` has its subsection in
# TIERS, and every section and key of scenarios/*.ini is in SCENARIO FILES;
# every long option of `vramd --help` is in vramd(8)'s OPTIONS.  Then
# `make install DESTDIR=...` (and with PREFIX=/usr) must put the programs
# and pages where they belong, found by man -M, and `make uninstall` take
# them all away.  Try:
#   tests/run-tests test-man.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"
requires_swapbench
requires_vramd
requires make install cmp

man1=$top/man/swapbench.1
man8=$top/man/vramd.8
[ -r "$man1" ] || fail "$man1 missing"
[ -r "$man8" ] || fail "$man8 missing"
version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' "$top/Makefile")

# --- install and uninstall ---------------------------------------------------

# mk ARGS...: make in the tree, on this test's build and without the
# calling make's flags (make test passes its own); never rebuilds the
# programs, which the runner's build made.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s -C "$top" BUILD="$BUILD" -o "$BUILD/swapbench" -o "$BUILD/vramd" "$@"
}

# installed ROOT PREFIX: make install and uninstall under DESTDIR=ROOT.
installed() {
	local root=$1 prefix=$2 f mode left out sect name want_mode want_src errors0=$errors
	local -A want=(
		["$prefix/bin/swapbench"]="755 $SWAPBENCH"
		["$prefix/sbin/vramd"]="755 $VRAMD"
		["$prefix/share/man/man1/swapbench.1"]="644 $man1"
		["$prefix/share/man/man8/vramd.8"]="644 $man8"
	)

	mk DESTDIR="$root" PREFIX="$prefix" install >"$tmp/install.log" 2>&1 ||
		{ bad "make install DESTDIR=$root PREFIX=$prefix failed: $(tail -5 "$tmp/install.log")"; return; }
	for f in "${!want[@]}"; do
		read -r want_mode want_src <<<"${want[$f]}"
		if [ ! -f "$root$f" ]; then
			bad "make install PREFIX=$prefix: no $f"
			continue
		fi
		mode=$(stat -c %a "$root$f")
		[ "$mode" = "$want_mode" ] || bad "make install: $f has mode $mode, expected $want_mode"
		cmp -s "$want_src" "$root$f" || bad "make install: $f differs from $want_src"
	done
	out=$("$root$prefix/bin/swapbench" --version 2>&1)
	[ "$out" = "swapbench $version" ] || bad "installed swapbench --version: '$out'"
	out=$("$root$prefix/sbin/vramd" --version 2>&1)
	[ "$out" = "vramd $version" ] || bad "installed vramd --version: '$out'"
	# The installed swapbench finds its scenarios, gnuplot scripts and vramd
	# from where it is, with no variable set and nothing in the directory
	# it runs in, and no vramd on PATH.
	for f in scenarios/overcommit.ini plots/common.gp; do
		cmp -s "$top/$f" "$root$prefix/share/swapbench/$f" || bad "make install: no share/swapbench/$f"
	done
	out=$(cd / && env -u SWAPBENCH_SCENARIOS -u SWAPBENCH_PLOTS PATH=/usr/bin:/bin \
		"$root$prefix/bin/swapbench" list scenarios 2>&1)
	grep -q '^overcommit ' <<<"$out" || bad "installed swapbench lists no overcommit scenario: $out"
	out=$(cd / && env -u SWAPBENCH_SCENARIOS PATH=/usr/bin:/bin "$root$prefix/bin/swapbench" doctor 2>&1)
	grep -q '^default run (make bench, scenario overcommit): memcg limit' <<<"$out" ||
		bad "installed swapbench doctor does not find the default scenario: $(grep 'default run' <<<"$out")"
	grep -Eq '^  vramd +vramd ' <<<"$out" ||
		bad "installed swapbench does not find the installed vramd: $(grep -E '^  vramd' <<<"$out")"
	if command -v man >/dev/null 2>&1; then
		for f in "1 swapbench" "8 vramd"; do
			read -r sect name <<<"$f"
			out=$(MANPATH='' man -M "$root$prefix/share/man" -w "$sect" "$name" 2>&1)
			[ "$out" = "$root$prefix/share/man/man$sect/$name.$sect" ] ||
				bad "man -M $root$prefix/share/man -w $sect $name: '$out'"
		done
	fi

	mk DESTDIR="$root" PREFIX="$prefix" uninstall >"$tmp/install.log" 2>&1 ||
		bad "make uninstall DESTDIR=$root PREFIX=$prefix failed: $(tail -5 "$tmp/install.log")"
	left=$(find "$root" ! -type d)
	[ -z "$left" ] || bad "make uninstall PREFIX=$prefix left: ${left//$'\n'/ }"
	[ "$errors" = "$errors0" ] && info "ok: make install and uninstall, DESTDIR=$root PREFIX=$prefix"
}
installed "$tmp/dest" /usr/local
installed "$tmp/dest-usr" /usr

# --- the pages render without warnings -----------------------------------------

if ! command -v groff >/dev/null 2>&1; then
	[ "$errors" = 0 ] || fail "$errors check(s) failed"
	skip "'groff' not installed (groff-base): the pages were not rendered or checked (install was)"
fi

for page in "$man1" "$man8"; do
	# -ww: every warning; -z: no output, only the warnings.
	groff -man -Tutf8 -ww -z "$page" >"$tmp/warn" 2>&1
	[ -s "$tmp/warn" ] && bad "${page#"$top"/} renders with warnings: $(head -c 600 "$tmp/warn")"
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -Tlint -W warning "$page" >"$tmp/warn" 2>&1
		[ -s "$tmp/warn" ] && bad "mandoc -Tlint ${page#"$top"/}: $(head -c 600 "$tmp/warn")"
	fi
	grep -q "^\.TH [A-Z]* [18] [0-9-]* \"[a-z]* $version\"" "$page" ||
		bad "${page#"$top"/}: .TH does not carry version $version (the Makefile's)"
done

# render PAGE: plain text, lines long enough that no name is broken.
render() {
	groff -man -Tascii -P-cbou -rLL=1000n "$1" 2>/dev/null
}
render "$man1" >"$tmp/swapbench.txt"
render "$man8" >"$tmp/vramd.txt"
if [ ! -s "$tmp/swapbench.txt" ] || [ ! -s "$tmp/vramd.txt" ]; then
	fail "a page rendered empty"
fi

# section FILE NAME: the text of section NAME (.SH), heading excluded.
section() {
	awk -v h="$2" '/^[^ ]/ { on = ($0 == h); next } on' "$1"
}
# subsection NAME < SECTION: the text of subsection NAME (.SS) in it.
subsection() {
	awk -v h="   $1" '/^   [^ ]/ { on = ($0 == h); next } on'
}
# long_options: the --options named in a help text on stdin, one a line.
long_options() {
	grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u
}
# mentions OPTION FILE: whether FILE names OPTION as a whole word
# ("--swap" is not found in "--no-swap" or "--swap-foo").
mentions() {
	grep -qE -- "(^|[^-[:alnum:]])$1([^-[:alnum:]]|$)" "$2"
}

# --- swapbench(1) ------------------------------------------------------------------

"$SWAPBENCH" --help >"$tmp/help" 2>&1 || bad "swapbench --help: exit status $?"
section "$tmp/swapbench.txt" OPTIONS >"$tmp/sect"
for opt in $(long_options <"$tmp/help"); do
	mentions "$opt" "$tmp/sect" || bad "swapbench(1) OPTIONS lacks '$opt' (from swapbench --help)"
done

commands=$(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$tmp/help")
[ "$(wc -w <<<"$commands")" -ge 10 ] || bad "swapbench --help lists only: ${commands//$'\n'/ }"
section "$tmp/swapbench.txt" COMMANDS >"$tmp/commands"
section "$tmp/swapbench.txt" TIERS >"$tmp/tiers"
section "$tmp/swapbench.txt" SYNOPSIS >"$tmp/synopsis"
for cmd in $commands; do
	grep -qE "swapbench $cmd( |$)" "$tmp/synopsis" || bad "swapbench(1) SYNOPSIS lacks 'swapbench $cmd'"
	subsection "$cmd" <"$tmp/commands" >"$tmp/sub"
	if [ ! -s "$tmp/sub" ]; then
		bad "swapbench(1) COMMANDS has no subsection '$cmd' (from swapbench --help)"
		continue
	fi
	"$SWAPBENCH" "$cmd" --help >"$tmp/cmdhelp" 2>&1 ||
		{ bad "swapbench $cmd --help: exit status $?"; continue; }
	# tier's options are every tier's: documented in TIERS.
	[ "$cmd" = tier ] && cat "$tmp/tiers" >>"$tmp/sub"
	n=0
	for opt in $(long_options <"$tmp/cmdhelp"); do
		n=$((n + 1))
		mentions "$opt" "$tmp/sub" ||
			bad "swapbench(1) '$cmd' lacks '$opt' (from swapbench $cmd --help)"
	done
	info "ok: swapbench $cmd: $n option(s) checked"
done

for tier in $("$SWAPBENCH" list tiers | awk '{ print $1 }'); do
	subsection "$tier" <"$tmp/tiers" | grep -q . ||
		bad "swapbench(1) TIERS has no subsection '$tier' (from swapbench list tiers)"
done

# Each [section] of scenarios/*.ini must have its item in SCENARIO FILES,
# naming each key the files give it.
section "$tmp/swapbench.txt" "SCENARIO FILES" >"$tmp/scen"
for f in "$top"/scenarios/*.ini; do
	awk '/^\[[a-z]+\]/ { s = $1; next }
	     s != "" && /^[a-z][a-z_-]*[ \t]*=/ { sub(/[ \t]*=.*/, ""); print s, $0 }' "$f"
done | sort -u >"$tmp/keys"
while read -r sect key; do
	# the item: from its tag to the next line at the tag's indent
	awk -v t="       $sect" '/^       [^ ]/ { if (!done && index($0, t) == 1) on = 1
					     else if (on) { on = 0; done = 1 } }
				   on' "$tmp/scen" >"$tmp/item"
	if [ ! -s "$tmp/item" ]; then
		bad "swapbench(1) SCENARIO FILES has no item $sect (from scenarios/*.ini)"
	elif ! mentions "$key" "$tmp/item"; then
		bad "swapbench(1) SCENARIO FILES: $sect lacks '$key' (from scenarios/*.ini)"
	fi
done <"$tmp/keys"
info "ok: $(wc -l <"$tmp/keys") scenario key(s) checked"

# --- vramd(8) ----------------------------------------------------------------------

"$VRAMD" --help >"$tmp/help" 2>&1 || bad "vramd --help: exit status $?"
section "$tmp/vramd.txt" OPTIONS >"$tmp/sect"
n=0
for opt in $(long_options <"$tmp/help"); do
	n=$((n + 1))
	mentions "$opt" "$tmp/sect" || bad "vramd(8) OPTIONS lacks '$opt' (from vramd --help)"
done
[ "$n" -ge 30 ] || bad "vramd --help names only $n options"
info "ok: vramd: $n option(s) checked"
section "$tmp/vramd.txt" BACKENDS >"$tmp/sect"
for b in $("$VRAMD" --backend ram --dump-backend | sed -n 's/^backends=//p' | tr ',' ' '); do
	grep -qE "^       $b( |$)" "$tmp/sect" || bad "vramd(8) BACKENDS lacks '$b' (from --dump-backend)"
done

checks_done
