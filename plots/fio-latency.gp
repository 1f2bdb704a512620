# fio on each tier's raw block device (before it becomes swap): I/O
# latency per job (fio's clat where it gave one, else lat), one colour per
# tier side by side within each job: p99 as a filled square, the bar from
# p50 (open circle) to p99.9 (open triangle); medians over the valid runs.
# Runs marked not applicable (zswap has no device of its own) are left out.
# Inputs: fio-TIER.tsv (x_plot, job, valid runs, iops, bw, latency p50, p90,
# p99, p99.9 and max in us) per tier; variable jobs (the x categories).
load plotdir . "/common.gp"
if (!exists("jobs")) jobs = ""
set title fig_title("fio on the raw device: latency p50, p99 and p99.9 per job and tier")
set xlabel "fio job (pattern, block size, queue depth)"
set ylabel "I/O latency (us, log scale)"
set logscale y
set format y "%g"
set xrange [-0.6:words(jobs) - 0.4]
set xtics () rotate by -15
do for [i=1:words(jobs)] { set xtics add (word(jobs, i) i - 1) }
set key outside right top
set bmargin 5
plot for [t in tiers] sprintf("%s/fio-%s.tsv", datadir, t) using 1:8:6:9 \
	with yerrorbars lw 1.5 pt 5 ps 1 lc rgb tier_hex(t) title t, \
     for [t in tiers] sprintf("%s/fio-%s.tsv", datadir, t) using 1:6 \
	with points pt 6 ps 1 lc rgb tier_hex(t) notitle, \
     for [t in tiers] sprintf("%s/fio-%s.tsv", datadir, t) using 1:9 \
	with points pt 8 ps 1 lc rgb tier_hex(t) notitle, \
     keyentry with points pt 6 lc rgb "black" title "p50", \
     keyentry with points pt 5 lc rgb "black" title "p99", \
     keyentry with points pt 8 lc rgb "black" title "p99.9"
