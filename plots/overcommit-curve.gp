# The overcommit curve of a ramp: probe exec latency p99 (top, log scale)
# and PSI memory full (bottom) against the overcommit ratio, one line per
# tier in its colour: the median over the valid repeats at each ratio, with
# the minimum and maximum as error bars.
# Inputs: curve-TIER.tsv (ratio, x_plot, p99 median/min/max in ms, PSI full
# median/min/max in %, valid runs) per tier.
fig_height = 760
load plotdir . "/common.gp"
set multiplot layout 2,1 title fig_title("Overcommit curve: probe latency p99 and PSI memory full by ratio (median, min-max over repeats)")
set xlabel "overcommit ratio (working set / memory cgroup limit)"
set ylabel "probe exec latency p99 (ms, log scale)"
set logscale y
set format y "%g"
set offsets graph 0.03, graph 0.03, 0, 0
plot for [t in tiers] sprintf("%s/curve-%s.tsv", datadir, t) using 2:3:4:5 \
	with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
unset logscale y
set format y "% h"
set ylabel "PSI memory full (% of run time)"
set yrange [0:*]
plot for [t in tiers] sprintf("%s/curve-%s.tsv", datadir, t) using 2:6:7:8 \
	with yerrorlines lw 2 pt 7 ps 0.8 lc rgb tier_hex(t) title t
unset multiplot
