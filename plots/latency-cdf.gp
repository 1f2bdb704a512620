# Probe exec latency tail per tier: the share of exec probes (fork+exec of
# the probe command, timed from each slot's intended start) slower than x,
# that is 1 - CDF, from the valid runs' histograms merged per tier.  Log-log,
# so that the tail shows: p99 is where a line crosses 0.01, p99.9 where it
# crosses 0.001 (dotted).  Dash types tell the ratios of a ramp apart.
# Inputs: cdf-TIER.tsv (latency_ms, cdf, exceedance) per tier; variables
# tiers, dashes (a dash type per tier) and ymin (lower end of the y axis).
load plotdir . "/common.gp"
if (!exists("dashes")) dashes = ""
if (!exists("ymin")) ymin = 1e-4
dt_of(i) = words(dashes) >= i ? int(word(dashes, i)) : 1
set title fig_title("Probe exec latency tail per tier (share of probes slower than x)")
set xlabel "probe exec latency (ms, log scale)"
set ylabel "share of probes slower (1 - CDF, log scale)"
set logscale xy
set yrange [ymin:1.5]
set format y "%g"
set grid xtics ytics lc rgb "#dddddd"
set key top right
set arrow from graph 0, first 0.01 to graph 1, first 0.01 nohead dt 3 lc rgb "#888888"
set arrow from graph 0, first 0.001 to graph 1, first 0.001 nohead dt 3 lc rgb "#888888"
set label "p99" at graph 0.01, first 0.01 offset 0,0.6 tc rgb "#555555"
set label "p99.9" at graph 0.01, first 0.001 offset 0,0.6 tc rgb "#555555"
plot for [i=1:words(tiers)] sprintf("%s/cdf-%s.tsv", datadir, word(tiers, i)) \
	using 1:($3 > 0 ? $3 : 1/0) with lines lw 2 dt dt_of(i) lc rgb tier_hex(word(tiers, i)) \
	title word(tiers, i)
