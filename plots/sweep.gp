# A sweep (swapbench run --sweep FACTOR=V1,V2,...): probe exec latency p99
# (top, log scale) and the workload's work done (bottom) against the swept
# factor, one line per tier in its colour: the median over the valid
# repeats at each value, with the minimum and maximum as error bars.  A
# factor whose values are names (an algorithm, memcg.mode) is drawn at
# positions 1, 2, ... with the names as tics.
# Inputs: sweep-TIER.tsv (value, x_plot, p99 median/min/max in ms, work
# done median/min/max per s, valid runs) per tier; factor, numeric.
fig_height = 760
load plotdir . "/common.gp"
set multiplot layout 2,1 title fig_title(sprintf("Sweep of %s: probe latency p99 and work done (median, min-max over repeats)", factor))
set xlabel factor
set offsets graph 0.05, graph 0.05, 0, 0
set ylabel "probe exec latency p99 (ms, log scale)"
set logscale y
set format y "%g"
if (numeric) {
	plot for [t in tiers] sprintf("%s/sweep-%s.tsv", datadir, t) using 2:3:4:5 \
		with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
} else {
	plot for [t in tiers] sprintf("%s/sweep-%s.tsv", datadir, t) using 2:3:4:5:xtic(1) \
		with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
}
unset logscale y
set format y "% h"
set ylabel "work done (workload ops per s)"
set yrange [0:*]
if (numeric) {
	plot for [t in tiers] sprintf("%s/sweep-%s.tsv", datadir, t) using 2:6:7:8 \
		with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
} else {
	plot for [t in tiers] sprintf("%s/sweep-%s.tsv", datadir, t) using 2:6:7:8:xtic(1) \
		with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
}
unset multiplot
