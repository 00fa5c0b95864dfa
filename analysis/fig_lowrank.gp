# fig_lowrank.gp - the low-rank ablation from a bin/lowrank run: left, the Linformer
# output error against k for every projection kind (sharing "none"), log-log, with
# the best rank-k error of P (the SVD floor) and the Theorem-1 errors of Gaussian
# maps (at the output, P R^T R V, and for P itself, with its closed form
# sqrt((n + 1) / k)); right, the output error of the learned kinds (fitted, conv)
# for every sharing mode.
#
# Run by `make fig-lowrank` (after bin/h5export wrote the .dat files into DIR):
#   gnuplot -e "dir='results/figures'; out='results/figures/fig_lowrank.pdf'; fmt='pdf'; \
#               model='all-MiniLM-L6-v2'; seqs=4; fitseqs=2; n=512; \
#               kinds='gaussian mean max conv fitted'; sharings='none headwise kv layerwise'; \
#               cfit=6; cconv=0" analysis/fig_lowrank.gp
# Inputs: DIR/fig_lowrank_k.dat: k, svd floor, JL at the output, JL of P, then one
#         column per kind (sharing none);
#         DIR/fig_lowrank_fitted.dat and fig_lowrank_conv.dat: k, then one column per
#         sharing mode. cfit / cconv = 0 when that kind was not run.

if (!exists("dir")) dir = 'results/figures'
if (!exists("out")) out = dir.'/fig_lowrank.pdf'
if (!exists("fmt")) fmt = 'pdf'
if (!exists("model")) model = 'model'
if (!exists("seqs")) seqs = 0
if (!exists("fitseqs")) fitseqs = 0
if (!exists("n")) n = 512
if (!exists("kinds")) kinds = 'gaussian mean max conv fitted'
if (!exists("sharings")) sharings = 'none headwise kv layerwise'
if (!exists("cfit")) cfit = 1
if (!exists("cconv")) cconv = 1

byk = dir.'/fig_lowrank_k.dat'
fitd = dir.'/fig_lowrank_fitted.dat'
convd = dir.'/fig_lowrank_conv.dat'

if (fmt eq 'pdf') {
    set terminal pdfcairo enhanced color font 'Helvetica,9' size 8in,4.2in
} else {
    set terminal pngcairo enhanced color font 'Helvetica,10' size 1600,840
}
set output out
set multiplot layout 1,2 title sprintf("Linformer approximation of %s's attention, n = %d: %d held-out sequences (fits on %d others)", model, n, seqs, fitseqs)

set border 3
set bmargin at screen 0.2
set tics nomirror
set grid back lc rgb '#dddddd'
set logscale xy 2
set format y '%g'
set xlabel 'projected length k'
set ylabel 'relative error (Frobenius)'
set key at screen 0.04, screen 0.13 left top Left reverse font ',8' maxrows 5 width -2
colors = '#1b9e77 #d95f02 #7570b3 #e7298a #66a61e #e6ab02'
plot byk using 1:2 with linespoints lw 2.2 pt 7 ps 0.5 lc rgb '#000000' title 'SVD floor ||P-P_k||/||P||', \
     byk using 1:4 with lines dt 3 lw 1.5 lc rgb '#555555' title 'Theorem 1: ||PR^TR-P||/||P||', \
     byk using 1:(sqrt((n + 1.0) / $1)) with lines dt 2 lw 1 lc rgb '#999999' title '  closed form sqrt((n+1)/k)', \
     byk using 1:3 with lines dt 4 lw 1.5 lc rgb '#555555' title 'Theorem 1 at the output ||PR^TRV-PV||/||PV||', \
     for [i=1:words(kinds)] byk using 1:(column(4 + i)) with linespoints lw 1.8 pt 5 ps 0.5 \
         lc rgb word(colors, i) title word(kinds, i).' (output error, sharing '.word(sharings, 1).')'

set ylabel 'output error ||PV - Linformer||/||PV||'
set key at screen 0.54, screen 0.13 left top Left reverse font ',8' maxrows 4
unset logscale y
set format y '%.2f'
plot for [s=1:words(sharings)] (cfit ? fitd : convd) using 1:(cfit ? column(1 + s) : NaN) with linespoints lw 1.8 pt 7 ps 0.5 \
         lc rgb word(colors, s) title 'fitted, '.word(sharings, s), \
     for [s=1:words(sharings)] (cconv ? convd : fitd) using 1:(cconv ? column(1 + s) : NaN) with linespoints lw 1.4 dt 2 pt 4 ps 0.5 \
         lc rgb word(colors, s) title 'conv, '.word(sharings, s)
unset multiplot
unset output
