# Probe latency p99 by tier: the median over valid runs as a bar, the
# run-to-run spread (min to max) as an error bar, and each run as a dot.
# Inputs: p99.tsv (tier, median, min, max, runs) and p99-runs.tsv (index,
# tier, p99), both in milliseconds.
load plotdir . "/common.gp"
set title fig_title("Probe latency p99 by tier (median and spread over runs)")
set xlabel "tier"
set ylabel "probe latency p99 (ms)"
set yrange [0:*]
set xrange [-0.6:*]
set style fill solid 0.55 border -1
set boxwidth 0.6
plot datadir . "/p99.tsv" using 0:2:(tier_rgb(strcol(1))):xtic(1) with boxes lc rgb variable notitle, \
     "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 7 ps 0.6 title "median, min-max over runs", \
     datadir . "/p99-runs.tsv" using 1:3 with points pt 6 ps 0.8 lc rgb "#333333" title "one run"
