# PSI memory "full" over time, one line per tier: the share of each
# sampling interval in which every task of the workload stalled on memory.
# Inputs: series-TIER.tsv (t_s, psi_full_pct, swapin, swapout) per tier.
load plotdir . "/common.gp"
set title fig_title("PSI memory full over time")
set xlabel "time since start (s)"
set ylabel "PSI memory full (% of interval)"
set yrange [0:*]
plot for [t in tiers] sprintf("%s/series-%s.tsv", datadir, t) using 1:2 with lines lw 2 lc rgb tier_hex(t) title t
