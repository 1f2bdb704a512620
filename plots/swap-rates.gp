# Swap-in (solid) and swap-out (dashed) rates over time, one colour per tier.
# Inputs: series-TIER.tsv (t_s, psi_full_pct, swapin, swapout) per tier,
# rates in pages per second.
load plotdir . "/common.gp"
set title fig_title("Swap-in and swap-out rates over time")
set xlabel "time since start (s)"
set ylabel "rate (pages/s)"
set yrange [0:*]
plot for [t in tiers] sprintf("%s/series-%s.tsv", datadir, t) using 1:3 with lines lw 2 lc rgb tier_hex(t) title t . " in", \
     for [t in tiers] sprintf("%s/series-%s.tsv", datadir, t) using 1:4 with lines lw 2 dt 2 lc rgb tier_hex(t) title t . " out"
