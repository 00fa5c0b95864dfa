# fig_efficiency.gp - the efficiency benchmark (bin/bench, the Linformer paper's Table 3)
# as curves: left, time per token against n; right, memory per sequence against n;
# log-log, one line per variant: dense attention (P materialized), streamed exact
# attention, and Linformer (layerwise sharing) for every k.
#
# Run by `make fig-efficiency` (analysis/fig_efficiency.sh exports the data first):
#   gnuplot -e "dir='results/figures'; out='results/figures/fig_efficiency.pdf'; \
#               fmt='pdf'; ks='128 256'" analysis/fig_efficiency.gp
# Inputs in DIR: eff_n.dat (one n per line), eff_time_V.dat and eff_memory_V.dat
# (V = 0 dense, 1 streamed, 2 linformer; one line per n, one column per k; NaN where a
# point was not measured). Dense and streamed do not depend on k: column 1 is used.

if (!exists("dir")) dir = 'results/figures'
if (!exists("out")) out = dir.'/fig_efficiency.pdf'
if (!exists("fmt")) fmt = 'pdf'
if (!exists("ks")) ks = '128 256'
nk = words(ks)

if (fmt eq 'pdf') {
    set terminal pdfcairo enhanced color font 'Helvetica,9' size 7.5in,3in
} else {
    set terminal pngcairo enhanced color font 'Helvetica,10' size 1500,600
}
set output out
set datafile missing 'nan'
set multiplot layout 1,2 title "Full encoder inference: dense, streamed exact and Linformer (layerwise) attention"

set border 3
set tics nomirror
set grid back lc rgb '#dddddd'
set logscale xy 2
set format x '%.0f'
set xlabel 'sequence length n (tokens)'
set key top left reverse Left box opaque samplen 2 font ',8'

# Paste n beside each matrix: column 1 = n, columns 2.. = k values.
src(kind, v) = sprintf("< paste -d' ' %s/eff_n.dat %s/eff_%s_%d.dat", dir, dir, kind, v)
lin_color(i) = i == 1 ? '#1b9e77' : i == 2 ? '#66a61e' : i == 3 ? '#e6ab02' : i == 4 ? '#a6761d' : '#7570b3'

set ylabel 'time per token (µs)'
set format y '%g'
plot src('time', 0) using 1:($2 * 1e6) with linespoints lw 2 pt 7 lc rgb '#d95f02' title 'dense (P materialized)', \
     src('time', 1) using 1:($2 * 1e6) with linespoints lw 2 pt 5 lc rgb '#444444' title 'streamed exact', \
     for [i = 1:nk] src('time', 2) using 1:(column(i + 1) * 1e6) with linespoints lw 2 pt 9 \
         lc rgb lin_color(i) title sprintf('Linformer k = %s', word(ks, i))

set ylabel 'memory per sequence (MiB)'
plot src('memory', 0) using 1:($2 / 1048576) with linespoints lw 2 pt 7 lc rgb '#d95f02' title 'dense (P materialized)', \
     src('memory', 1) using 1:($2 / 1048576) with linespoints lw 2 pt 5 lc rgb '#444444' title 'streamed exact', \
     for [i = 1:nk] src('memory', 2) using 1:(column(i + 1) / 1048576) with linespoints lw 2 pt 9 \
         lc rgb lin_color(i) title sprintf('Linformer k = %s', word(ks, i))

unset multiplot
unset output
