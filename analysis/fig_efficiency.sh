#!/usr/bin/env bash
# fig_efficiency.sh - `make fig-efficiency`: exports a bin/bench results file to text
# with bin/h5export and draws analysis/fig_efficiency.gp (PDF and PNG).
#   usage: analysis/fig_efficiency.sh BIN_DIR BENCH.h5 FIGURE_DIR
set -euo pipefail
bin=${1:?usage: fig_efficiency.sh BIN_DIR BENCH.h5 FIGURE_DIR}
file=${2:?usage: fig_efficiency.sh BIN_DIR BENCH.h5 FIGURE_DIR}
dir=${3:?usage: fig_efficiency.sh BIN_DIR BENCH.h5 FIGURE_DIR}
[ -f "$file" ] || { echo "fig-efficiency: $file does not exist (run make bench-quick, or BENCH_FILE=...)"; exit 1; }
command -v gnuplot >/dev/null || { echo "fig-efficiency: needs gnuplot (make deps)"; exit 1; }
mkdir -p "$dir"
"$bin/h5export" "$file" /bench/n --out "$dir/eff_n.dat"
"$bin/h5export" "$file" /bench/k --out "$dir/eff_k.dat"
# One [n, k] matrix per variant (0 dense, 1 streamed, 2 linformer), seconds and bytes.
for v in 0 1 2; do
  "$bin/h5export" "$file" /bench/time --fix 0:$v --out "$dir/eff_time_$v.dat"
  "$bin/h5export" "$file" /bench/memory --fix 0:$v --out "$dir/eff_memory_$v.dat"
done
ks=$(tr '\n' ' ' < "$dir/eff_k.dat")
for fmt in pdf png; do
  gnuplot -e "dir='$dir'; out='$dir/fig_efficiency.$fmt.tmp'; fmt='$fmt'; ks='$ks'" \
    analysis/fig_efficiency.gp
  mv "$dir/fig_efficiency.$fmt.tmp" "$dir/fig_efficiency.$fmt"
done
echo "fig-efficiency: wrote $dir/fig_efficiency.pdf and $dir/fig_efficiency.png from $file"
