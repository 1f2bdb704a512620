# Shared settings for swapbench's figures: every plots/<name>.gp loads this
# first.  `swapbench plot RUN_DIR` sets these variables in a file of
# assignments it writes and loads first (values as quoted data, never as
# commands; run.json is not trusted):
#   plotdir datadir   where the scripts and the TSV inputs are
#   out fmt           output file and format ('png' or 'svg')
#   host kernel scenario   for the subtitle
#   tiers             the tiers with data, space-separated
# and a figure may set fig_height and fig_width (pixels) before loading this.
# Try: build/swapbench plot tests/fixtures/results/run-a

if (!exists("fmt")) fmt = "png"
if (!exists("host")) host = "?"
if (!exists("kernel")) kernel = "?"
if (!exists("scenario")) scenario = "?"
if (!exists("tiers")) tiers = ""
if (!exists("fig_height")) fig_height = 560
if (!exists("fig_width")) fig_width = 900

# PNG through cairo where this gnuplot has it (gnuplot-nox may lack it).
if (fmt eq "svg") {
	set terminal svg size fig_width,fig_height dynamic noenhanced font "sans,11" background rgb "white"
} else {
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size fig_width,fig_height noenhanced font "sans,10"
	} else {
		set terminal png size fig_width,fig_height noenhanced
	}
}
set output out

# One colour per tier, the same in every figure ("zram@1.5", a tier at one
# overcommit ratio of a ramp, takes its tier's colour): swapbench plot
# passes `palette`, "LABEL=RGB ...", from the tiers' own tables
# (harness/tier-*.c); a label not in it takes its first word's colour
# ("nbd-vram-30", a sweep's "zram_swappiness60": nbd's, zram's), else red;
# a stack's is its levels' mean.
if (!exists("palette")) palette = ""
pal_ = " ".palette
pal_at(t) = strstrt(pal_, " ".t."=")
pal_rgb(t) = int(word(pal_[pal_at(t) + strlen(t) + 2:], 1) + 0)
cut_(t, c) = strstrt(t, c) > 0 ? t[1:strstrt(t, c) - 1] : t
first_word(t) = cut_(cut_(t, "_"), "-")
tier_of(t) = strstrt(t, "@") > 0 ? t[1:strstrt(t, "@") - 1] : t
tier_rgb(g) = tier_rgb1(tier_of(g))
# A stack ("zram+disk") takes the mean of its levels' colours.
ch_(c, s) = (c >> s) & 255
blend_(a, b) = ((ch_(a, 16) + ch_(b, 16)) / 2) * 65536 + ((ch_(a, 8) + ch_(b, 8)) / 2) * 256 + \
	       (ch_(a, 0) + ch_(b, 0)) / 2
tier_rgb1(t) = strstrt(t, "+") > 0 ? \
	       blend_(tier_rgb1(t[1:strstrt(t, "+") - 1]), tier_rgb1(t[strstrt(t, "+") + 1:])) : \
	       pal_at(t) > 0 ? pal_rgb(t) : \
	       pal_at(first_word(t)) > 0 ? pal_rgb(first_word(t)) : 0xd62728
tier_hex(t) = sprintf("#%06x", tier_rgb(t))

# "FIGURE" over "host H, kernel K, scenario S".
subtitle = sprintf("host %s, kernel %s, scenario %s", host, kernel, scenario)
fig_title(s) = s . "\n" . subtitle

set datafile separator "\t"
set datafile commentschars "#"
set datafile missing "?"
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key top left
