#!/usr/bin/env python3
"""bench_spectrum.py - benchmark of the spectrum analysis on the real model, side by
side with NumPy on the same machine (part of `make bench`).

  /usr/bin/python3 experiments/bench_spectrum.py BIN_DIR [--model DIR] [--corpus FILE]
                                                 [--sequences S] [--threads T]

1. bin/spectrum on S sequences of 512 tokens: seconds per sequence (encoder forward
   plus all L x H singular-value spectra).
2. The attention matrices of those sequences (saved with --save-attention) analysed
   by bin/spectrum --attention (HDF5 read included) and by NumPy's
   np.linalg.svd(P, compute_uv=False) one matrix after another, with the same thread
   count for NumPy's BLAS: throughput in matrices per second and their ratio, and
   the largest difference between the two sets of singular-value curves.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--model", default="data/all-MiniLM-L6-v2")
    ap.add_argument("--corpus", default="data/kjv.txt")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    # NumPy's BLAS gets the same number of threads as the suite.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import h5py
    import numpy as np

    spectrum = os.path.join(a.bin, "spectrum")
    if not os.path.isdir(a.model) or not os.path.isfile(a.corpus):
        print(f"bench_spectrum: skipped: {a.model} or {a.corpus} missing (run make data)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run_h5, p_h5, given_h5 = (os.path.join(tmp, x) for x in ("run.h5", "p.h5", "given.h5"))
        common = ["--model", a.model, "--corpus", a.corpus, "--sequences", str(a.sequences),
                  "--threads", str(a.threads)]
        t0 = time.perf_counter()
        subprocess.run([spectrum, *common, "--out", run_h5], check=True, capture_output=True)
        per_seq = (time.perf_counter() - t0) / a.sequences
        subprocess.run([spectrum, *common, "--save-attention", str(a.sequences), "--out", p_h5],
                       check=True, capture_output=True)
        with h5py.File(p_h5, "r") as f:
            p = f["attention/probabilities"][...]
            ours_mean = f["spectrum/cumulative_mean"][...]
        m, L, H, n, _ = p.shape
        mats = p.reshape(-1, n, n)
        t0 = time.perf_counter()
        subprocess.run([spectrum, "--attention", p_h5, "--threads", str(a.threads), "--out",
                        given_h5], check=True, capture_output=True)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        sv = np.stack([np.linalg.svd(x, compute_uv=False) for x in mats])
        t_numpy = time.perf_counter() - t0
        cum = np.cumsum(sv.astype(np.float64), axis=1) / sv.sum(axis=1, keepdims=True)
        diff = np.abs(cum.reshape(m, L, H, n).mean(axis=0) - ours_mean).max()
    count = mats.shape[0]
    print(f"spectrum benchmark: {a.model}, {a.sequences} sequences of {n} tokens, "
          f"{a.threads} threads, NumPy {np.__version__}")
    print(f"  bin/spectrum: {per_seq:.3f} s per sequence (forward + {L * H} spectra)")
    print(f"  {count} matrices {n} x {n}: bin/spectrum --attention {count / t_ours:.1f} matrices/s "
          f"(HDF5 read included), NumPy svd(compute_uv=False) {count / t_numpy:.1f} matrices/s")
    print(f"  throughput ratio: {t_numpy / t_ours:.2f}x; largest difference of the mean curves "
          f"{diff:.1e} (NumPy float32 sgesdd vs the suite's float64 method)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
