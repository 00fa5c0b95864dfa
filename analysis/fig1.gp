# fig1.gp - the Linformer paper's Figure 1 from a bin/spectrum run: left, the mean
# normalized cumulative singular value of P against the singular-value index, one line
# per layer; right, the value at index IDX for every layer x head.
#
# Run by `make fig1` (after bin/h5export wrote the .dat files into DIR):
#   gnuplot -e "dir='results/figures'; out='results/figures/fig1_spectrum.pdf'; \
#               fmt='pdf'; idx=128; model='all-MiniLM-L6-v2'; seqs=64; n=512" analysis/fig1.gp
# Inputs: DIR/fig1_layer_mean.dat (index, then one column per layer) and
#         DIR/fig1_at_index.dat (layers x heads matrix).

if (!exists("dir")) dir = 'results/figures'
if (!exists("out")) out = dir.'/fig1_spectrum.pdf'
if (!exists("fmt")) fmt = 'pdf'
if (!exists("idx")) idx = 128
if (!exists("model")) model = 'model'
if (!exists("seqs")) seqs = 0
if (!exists("n")) n = 512

curves = dir.'/fig1_layer_mean.dat'
heat = dir.'/fig1_at_index.dat'
stats curves nooutput
layers = STATS_columns - 1
stats heat matrix nooutput
heads = STATS_size_x

if (fmt eq 'pdf') {
    set terminal pdfcairo enhanced color font 'Helvetica,9' size 7.5in,3in
} else {
    set terminal pngcairo enhanced color font 'Helvetica,10' size 1500,600
}
set output out
set multiplot layout 1,2 title sprintf("Spectrum of the context mapping matrix P: %s, n = %d, mean over %d sequences", model, n, seqs)

# Left: one line per layer, colored along a perceptually ordered (viridis-like) scale
# from the lowest layer (purple) to the highest (yellow-green).
set border 3
set tics nomirror
set grid back lc rgb '#dddddd'
set xlabel 'singular value index'
set ylabel 'normalized cumulative singular value'
set xrange [1:n]
set yrange [0:1.02]
set key right bottom title 'layer' font ',8'
set arrow 1 from idx, graph 0 to idx, graph 1 nohead dt 2 lc rgb '#888888'
set label 1 sprintf('index %d', idx) at idx, graph 0.06 offset 0.5,0 font ',8' tc rgb '#666666'
set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21908d', 0.75 '#5dc963', 1 '#d4c21a')
unset colorbox
frac(l) = layers > 1 ? (l - 1.0) / (layers - 1) : 0.5
plot for [l=1:layers] curves using 1:(column(l + 1)) with lines lw 1.8 \
     lc palette frac frac(l) title sprintf('%d', l)
unset arrow 1
unset label 1
unset grid

# Right: heatmap of the value at index idx, layer (y) x head (x).
set border 15
set xlabel 'head'
set ylabel 'layer'
set xrange [-0.5:heads - 0.5]
set yrange [-0.5:layers - 0.5]
set xtics 0, 1, heads - 1 format '%.0f'
set ytics 0, 1, layers - 1
# Tic labels count from 1 like the legend.
set xtics () ; do for [h=0:heads-1] { set xtics add (sprintf('%d', h + 1) h) }
set ytics () ; do for [l=0:layers-1] { set ytics add (sprintf('%d', l + 1) l) }
set cblabel sprintf('normalized cumulative value at index %d', idx)
set palette defined (0 '#fff7ec', 0.5 '#fc8d59', 1 '#7f0000')
set colorbox
set key off
plot heat matrix with image notitle, \
     heat matrix using 1:2:(sprintf('%.2f', $3)) with labels font ',6' notitle
unset multiplot
unset output
