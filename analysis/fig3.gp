# fig3.gp - the Linformer paper's Figure 3 from bin/pretrain logs: validation perplexity
# (per masked token) against updates, four panels: (a) several k at n, (b) several k at
# n2, (c) the sharing modes at n and fixed k, (d) several n at fixed k; the dense
# Transformer of the same size is drawn in (a)-(c) as a black line. The first row (step 0,
# the untrained model, perplexity about the vocabulary size) is left out so that the
# differences between the curves are visible.
#
# Run by `make fig3` (experiments/reproduce.sh fig3), after the logs were exported to
# DIR/POINT.dat (two columns: update, validation perplexity):
#   gnuplot -e "dir='results/figures/fig3'; out='results/figures/fig3_ablations.pdf'; \
#               fmt='pdf'; n=256; n2=512; ks='32 64 128'; kfix=64; lens='128 256 512'; \
#               info='2 layers, d = 128, KJV bytes'" analysis/fig3.gp

if (!exists("dir")) dir = 'results/figures/fig3'
if (!exists("out")) out = 'results/figures/fig3_ablations.pdf'
if (!exists("fmt")) fmt = 'pdf'
if (!exists("n")) n = 256
if (!exists("n2")) n2 = 512
if (!exists("ks")) ks = '32 64 128'
if (!exists("kfix")) kfix = 64
if (!exists("lens")) lens = '128 256 512'
if (!exists("info")) info = ''

if (fmt eq 'pdf') {
    set terminal pdfcairo enhanced color font 'Helvetica,9' size 9in,7in
} else {
    set terminal pngcairo enhanced color font 'Helvetica,10' size 1400,1050
}
set output out
set multiplot layout 2,2 title sprintf("Masked-LM pretraining: validation perplexity per masked token against updates (%s; step 0 not drawn)", info)

f(name) = sprintf('%s/%s.dat', dir, name)
set border 3
set tics nomirror
set grid back lc rgb '#dddddd'
set xlabel 'updates'
set ylabel 'validation perplexity (per masked token)'
# Linear y, fitted to the data drawn: the curves end within a few tens of each other.
set autoscale yfix
set offsets 0, 0, graph 0.03, graph 0.03
set key top right font ',8'
# Distinct, colour-blind-friendly colours (Okabe-Ito).
array col[6] = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9']

set title sprintf('(a) n = %d, several k', n)
plot for [i=1:words(ks)] f(sprintf('n%d_k%s_none', n, word(ks, i))) every ::1 using 1:2 with linespoints \
        pt 7 ps 0.4 lw 1.6 lc rgb col[i] title sprintf('Linformer k = %s', word(ks, i)), \
     f(sprintf('n%d_dense', n)) every ::1 using 1:2 with lines lw 2 lc rgb 'black' title 'Transformer'

set title sprintf('(b) n = %d, several k', n2)
plot for [i=1:words(ks)] f(sprintf('n%d_k%s_none', n2, word(ks, i))) every ::1 using 1:2 with linespoints \
        pt 7 ps 0.4 lw 1.6 lc rgb col[i] title sprintf('Linformer k = %s', word(ks, i)), \
     f(sprintf('n%d_dense', n2)) every ::1 using 1:2 with lines lw 2 lc rgb 'black' title 'Transformer'

modes = 'none headwise kv layerwise'
set title sprintf('(c) n = %d, k = %d, sharing', n, kfix)
plot for [i=1:4] f(sprintf('n%d_k%d_%s', n, kfix, word(modes, i))) every ::1 using 1:2 with linespoints \
        pt 7 ps 0.4 lw 1.6 lc rgb col[i] title sprintf('sharing: %s', word(modes, i)), \
     f(sprintf('n%d_dense', n)) every ::1 using 1:2 with lines lw 2 lc rgb 'black' title 'Transformer'

set title sprintf('(d) k = %d, several n (no sharing)', kfix)
plot for [i=1:words(lens)] f(sprintf('n%s_k%d_none', word(lens, i), kfix)) every ::1 using 1:2 \
        with linespoints pt 7 ps 0.4 lw 1.6 lc rgb col[i] title sprintf('n = %s', word(lens, i))
unset multiplot
unset output
