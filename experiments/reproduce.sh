#!/usr/bin/env bash
# reproduce.sh - the main job behind `make reproduce` (and `make fig1`): runs the
# experiments the suite implements at the chosen scale and lists what it wrote.
#   usage: experiments/reproduce.sh BIN_DIR [step ...]
#          steps: data spectrum fig1 lowrank fig-lowrank bench pretrain fig3
#   environment: SCALE=default|paper|gpu, MODEL=DIR, CORPUS=FILE, THREADS=T, SEQUENCES=S (the
#                scale's count of spectrum sequences, 64 or 10,000, overridden);
#                pretrain/fig3: SCALE=default|gpu, PRETRAIN_STEPS=N (see the pretrain step)
set -euo pipefail
bin=${1:-bin}
shift || true
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(data spectrum fig1 lowrank fig-lowrank bench pretrain fig3)

scale=${SCALE:-default}
model=${MODEL:-data/all-MiniLM-L6-v2}
# The paper scale needs 5.1 M tokens; the Bible has 1.0 M, so it reads the Bible followed
# by the Linux kernel documentation (data/fetch.sh paper; 12,441 sequences of 512).
case "$scale" in
  default|gpu) sequences=64; spectrum=results/spectrum.h5; corpus=${CORPUS:-data/kjv.txt}; tag=
           lowrank=results/lowrank.h5; lowrank_args=(--sequences 4 --fit-sequences 2) ;;
  paper) sequences=10000; spectrum=results/spectrum_paper.h5; corpus=${CORPUS:-data/paper_corpus.txt}
         tag=_paper
         lowrank=results/lowrank_paper.h5; lowrank_args=(--sequences 64 --fit-sequences 16 --fit-steps 100) ;;
  *) echo "reproduce: error: SCALE must be default, gpu or paper, not '$scale'" >&2; exit 2 ;;
esac
sequences=${SEQUENCES:-$sequences}
threads=${THREADS:+--threads $THREADS}
figures=results/figures
mkdir -p results "$figures"
made=()

for step in "${steps[@]}"; do
  case "$step" in
  data)
    if [ "$corpus" = data/paper_corpus.txt ]; then
      bash data/fetch.sh paper
    elif [ "$model" = data/all-MiniLM-L6-v2 ] || [ "$corpus" = data/kjv.txt ]; then
      bash data/fetch.sh
    fi
    ;;
  spectrum)
    echo "reproduce: spectrum of $model on $corpus, $sequences sequences of 512 tokens -> $spectrum"
    # The run resumes from its checkpoint if an earlier one was interrupted.
    resume=; [ -e "$spectrum.ckpt" ] && resume=--resume
    "$bin/spectrum" --model "$model" --corpus "$corpus" --sequences "$sequences" \
      --out "$spectrum" --force $resume $threads
    made+=("$spectrum")
    ;;
  fig1)
    [ -e "$spectrum" ] || "$0" "$bin" spectrum
    # The paper scale keeps its own .dat files and figure beside the default ones.
    dats=$figures${tag:+/paper}
    mkdir -p "$dats"
    "$bin/h5export" "$spectrum" /spectrum/layer_mean --transpose --index-column \
      --out "$dats/fig1_layer_mean.dat"
    "$bin/h5export" "$spectrum" /spectrum/at_index --out "$dats/fig1_at_index.dat"
    seqs=$(h5dump -a /config/sequences "$spectrum" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
    name=$(basename "$model")
    for fmt in pdf png; do
      fig=$figures/fig1_spectrum$tag.$fmt
      gnuplot -e "dir='$dats'; out='$fig.tmp'; fmt='$fmt'; idx=128; \
                  model='$name'; seqs=$seqs; n=512" analysis/fig1.gp
      mv "$fig.tmp" "$fig"
      made+=("$fig")
    done
    ;;
  lowrank)
    # Low-rank ablations (issue 4): every k, sharing mode and projection kind, fitted
    # kinds trained on the first sequences and evaluated on the following ones, and
    # nonuniform k chosen from the spectrum against the uniform k of equal cost.
    echo "reproduce: low-rank ablations of $model on $corpus (${lowrank_args[*]}) -> $lowrank"
    "$bin/lowrank" --model "$model" --corpus "$corpus" "${lowrank_args[@]}" \
      --nonuniform spectrum:0.9 --out "$lowrank" --force $threads
    made+=("$lowrank")
    ;;
  fig-lowrank)
    [ -e "$lowrank" ] || "$0" "$bin" lowrank
    attr() { h5dump -a "/config/$1" "$lowrank" | sed -n 's/.*(0): "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p'; }
    kinds=$(attr projection | tr , ' '); sharings=$(attr sharing | tr , ' ')
    d=$figures
    "$bin/h5export" "$lowrank" /lowrank/k --out "$d/fig_lowrank_kcol.dat"
    for x in svd_error jl_output_error jl_error; do
      "$bin/h5export" "$lowrank" "/lowrank/summary/$x" --out "$d/fig_lowrank_$x.dat"
    done
    "$bin/h5export" "$lowrank" /lowrank/summary/output_error --fix 1:0 --transpose \
      --out "$d/fig_lowrank_bykind.dat"
    paste -d ' ' "$d/fig_lowrank_kcol.dat" "$d/fig_lowrank_svd_error.dat" \
      "$d/fig_lowrank_jl_output_error.dat" "$d/fig_lowrank_jl_error.dat" \
      "$d/fig_lowrank_bykind.dat" > "$d/fig_lowrank_k.dat"
    cfit=0; cconv=0; i=0
    for kind in $kinds; do
      case $kind in
      fitted|conv)
        "$bin/h5export" "$lowrank" /lowrank/summary/output_error --fix 0:$i --transpose \
          --out "$d/fig_lowrank_${kind}_s.dat"
        paste -d ' ' "$d/fig_lowrank_kcol.dat" "$d/fig_lowrank_${kind}_s.dat" > "$d/fig_lowrank_$kind.dat"
        [ "$kind" = fitted ] && cfit=1 || cconv=1 ;;
      esac
      i=$((i + 1))
    done
    seqs=$(h5dump -a /config/sequences "$lowrank" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
    fitseqs=$(h5dump -a /config/fit_sequences "$lowrank" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
    seqlen=$(h5dump -a /config/seq_len "$lowrank" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
    name=$(basename "$(attr model)")
    for fmt in pdf png; do
      gnuplot -e "dir='$d'; out='$d/fig_lowrank.$fmt.tmp'; fmt='$fmt'; model='$name'; \
                  seqs=$seqs; fitseqs=$fitseqs; n=$seqlen; kinds='$kinds'; sharings='$sharings'; \
                  cfit=$cfit; cconv=$cconv" analysis/fig_lowrank.gp
      mv "$d/fig_lowrank.$fmt.tmp" "$d/fig_lowrank.$fmt"
      made+=("$d/fig_lowrank.$fmt")
    done
    ;;
  bench)
    out=results/microbench.txt
    echo "reproduce: core benchmark (bin/microbench --quick) -> $out"
    "$bin/microbench" --quick $threads | tee "$out.tmp"
    mv "$out.tmp" "$out"
    made+=("$out")
    ;;
  # ---- pretraining ablations (the paper's Figure 3) ---------------------------------
  # Both scales read the corpus as BERT WordPiece tokens (the model's vocab.txt) with the
  # vocabulary compacted to the tokens that occur (--compact-vocab: 7,898 for the KJV):
  # with byte tokens, models of this size sit for tens of thousands of updates at a
  # plateau where no attention is used (see the README), so no k or sharing comparison
  # can be made in minutes. SCALE=default: 2 layers, d = 128, 4 heads, batch 8, n = 128
  # (and 256, 64), k in {16, 32, 64}, the four sharing modes at k = 32: 13 points,
  # about 20 minutes on 2 cores. SCALE=gpu: the same sweep bigger (4 layers, d = 256,
  # n = 512 and 1024, k in {64, 128, 256}, batch 16) for a many-core machine: there is
  # no CUDA training path, so it trains on the CPU of whatever machine runs it (e.g. 16
  # cores of a GPU host, --threads from THREADS). Every run resumes: an interrupted
  # sweep continues where it stopped and complete points are skipped.
  pretrain)
    pdir=results/pretrain${PRETRAIN_TAG:-}
    [ "$scale" != gpu ] || pdir=results/pretrain_gpu
    if [ "$scale" = gpu ]; then
      n=512; n2=1024; ks=64,128,256; kfix=128; n0=256
      size=(--layers 4 --dim 256 --heads 4 --batch 16 --val-seqs 64)
      info="4 layers, d = 256, 4 heads, batch 16"
      psteps=${PRETRAIN_STEPS:-4000}; evalm=200
    else
      n=128; n2=256; ks=16,32,64; kfix=32; n0=64
      size=(--layers 2 --dim 128 --heads 4 --batch 8 --val-seqs 32)
      info="2 layers, d = 128, 4 heads, batch 8"
      psteps=${PRETRAIN_STEPS:-2000}; evalm=$(( psteps / 20 > 0 ? psteps / 20 : 1 ))
    fi
    common=(--corpus "$corpus" --vocab "$model/vocab.txt" --compact-vocab "${size[@]}"
            --steps "$psteps" --eval-every "$evalm" --checkpoint-every "$evalm" --lr 2e-3
            --seed 0 --resume --quiet --out "$pdir")
    echo "reproduce: pretraining sweep (SCALE=$scale, $psteps updates per point) -> $pdir"
    t0=$(date +%s)
    "$bin/pretrain" "${common[@]}" $threads --seq-len "$n" --k "$ks" --sharing none
    "$bin/pretrain" "${common[@]}" $threads --seq-len "$n2" --k "$ks" --sharing none
    "$bin/pretrain" "${common[@]}" $threads --seq-len "$n" --k "$kfix" --sharing headwise,kv,layerwise
    "$bin/pretrain" "${common[@]}" $threads --seq-len "$n0" --k "$kfix" --sharing none
    echo "reproduce: pretraining sweep took $(( $(date +%s) - t0 )) s"
    printf '%s\n' "n=$n n2=$n2 ks='${ks//,/ }' kfix=$kfix lens='$n0 $n $n2'" \
      "info='$info, $psteps updates, $(basename "$corpus") WordPiece'" > "$pdir/fig3.params"
    made+=("$pdir/index.tsv")
    ;;
  fig3)
    pdir=results/pretrain${PRETRAIN_TAG:-}
    [ "$scale" != gpu ] || pdir=results/pretrain_gpu
    [ -e "$pdir/fig3.params" ] || "$0" "$bin" pretrain
    gtag=; [ "$scale" != gpu ] || gtag=_gpu
    dats=$figures/fig3${PRETRAIN_TAG:-}$gtag
    mkdir -p "$dats"
    for log in "$pdir"/*.h5; do
      name=$(basename "$log" .h5)
      paste <("$bin/h5export" "$log" /val/step) <("$bin/h5export" "$log" /val/perplexity) \
        > "$dats/$name.dat"
    done
    # shellcheck disable=SC1090
    eval "$(sed -n 1p "$pdir/fig3.params")"
    info=$(sed -n 2p "$pdir/fig3.params" | sed "s/^info='//; s/'$//")
    for fmt in pdf png; do
      fig=$figures/fig3_ablations${PRETRAIN_TAG:-}${gtag}.$fmt
      gnuplot -e "dir='$dats'; out='$fig.tmp'; fmt='$fmt'; n=$n; n2=$n2; ks='$ks'; \
                  kfix=$kfix; lens='$lens'; info='$info'" analysis/fig3.gp
      mv "$fig.tmp" "$fig"
      made+=("$fig")
    done
    ;;
  *) echo "reproduce: error: unknown step '$step' (data, spectrum, fig1, lowrank, fig-lowrank, bench, pretrain, fig3)" >&2
     exit 2 ;;
  esac
done

echo
echo "reproduce: done (SCALE=$scale). Wrote:"
for f in "${made[@]}"; do echo "  $f"; done
