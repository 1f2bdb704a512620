# One metric across a fleet (swapbench report FLEET_DIR): for each tier its
# hosts side by side, each host's median over its valid runs as a bar in
# the tier's colour with the bootstrap 95% interval as an error bar.  Hosts
# keep one order in every tier (by fingerprint class, then name), the class
# in brackets after the name; the tiers are named along the top.
# Inputs: METRIC.tsv (x, tier, host, median, lo, hi, runs; "?" where the
# host has no value) and fleet-tiers.tsv (the middle of each tier's hosts,
# tier).  Variables besides common.gp's: metric (the TSV's name), what (the
# title), ylab, xmax (the last bar's x).
load plotdir . "/common.gp"
# host: "N hosts"; kernel: "kernel K", or how many classes when several.
subtitle = sprintf("%s, %s, scenario %s", host, kernel, scenario)
set title fig_title(what)
set ylabel ylab
set xlabel "host (class)"
set yrange [0:*]
set xrange [-0.8:xmax + 0.8]
set link x2
set xtics rotate by 90 right scale 0 font ",9"
set x2tics scale 0
set style fill solid 0.55 border -1
set boxwidth 0.8
set key outside bottom center horizontal
data = datadir . "/" . metric . ".tsv"
plot data using 1:(0):xtic(3) with points pt 0 ps 0 lc rgb "#ffffffff" notitle, \
     datadir . "/fleet-tiers.tsv" using 1:(0):x2tic(2) axes x2y1 with points pt 0 ps 0 lc rgb "#ffffffff" notitle, \
     for [i = 1:words(tiers)] data using 1:(strcol(2) eq word(tiers, i) ? $4 : NaN) \
	with boxes lc rgb tier_hex(word(tiers, i)) notitle, \
     data using 1:4:5:6 with yerrorbars lc rgb "black" pt 7 ps 0.5 title "median, 95% interval"
