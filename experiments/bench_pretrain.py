#!/usr/bin/env python3
"""bench_pretrain.py - masked-LM training throughput of bin/pretrain against a PyTorch
implementation of the same model and configuration, side by side on the same machine
and thread count (issue 5's performance target: >= 1.2x PyTorch on CPU).

    /usr/bin/python3 experiments/bench_pretrain.py [--bin bin] [--threads 2] [--steps 30]
        [--seq-len 256] [--k 64] [--dense] [--layers 2] [--dim 128] [--heads 4]
        [--batch 8] [--rounds 2] [--corpus data/kjv.txt] [--vocab VOCAB.txt]

Both sides train the same network: byte vocabulary (260) or, with --vocab, the WordPiece
vocabulary compacted to the corpus's tokens (bin/pretrain --compact-vocab, as the
default Figure-3 sweep; 7,898 ids for the KJV, the size read from bin/pretrain's log and
used by the PyTorch side), token + position embeddings,
post-LN (RoBERTa) layers with one fused QKV product, Linformer attention with learned
E, F per head (sharing none) or dense attention, exact-erf GELU feed-forward (4 d),
output tied to the token embeddings plus a bias, cross-entropy over the masked
positions (15 %), gradient clipping at 1 and AdamW, float32. Throughput is input tokens
per second of complete training steps (forward, backward, clipping, update):
bin/pretrain's own per-step column /train/tokens_per_s (median over steps after the
first 3), PyTorch timed the same way (median over steps after 3 warm-up steps). The
sides alternate for --rounds rounds so that a machine shared with other work affects
both alike; the report gives every round and the ratio of the medians.
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def c_side(a, out):
    cmd = [os.path.join(a.bin, "pretrain"), "--corpus", a.corpus, "--seq-len", str(a.seq_len),
           "--k", str(a.k), "--sharing", "none", "--layers", str(a.layers), "--dim", str(a.dim),
           "--heads", str(a.heads), "--batch", str(a.batch), "--steps", str(a.steps),
           "--eval-every", str(10 ** 6), "--val-seqs", "1", "--checkpoint-every", str(10 ** 6),
           "--threads", str(a.threads), "--quiet", "--out", out, "--force",
           *(["--vocab", a.vocab, "--compact-vocab"] if a.vocab else []),
           # points: 0 = dense, 1 = Linformer; train only the one measured
           "--shard", "0/2" if a.dense else "1/2"]
    subprocess.run(cmd, check=True)
    name = f"n{a.seq_len}_dense" if a.dense else f"n{a.seq_len}_k{a.k}_none"
    with h5py.File(os.path.join(out, name + ".h5"), "r") as h:
        tps = h["train/tokens_per_s"][3:]
        vocab = int(h["config"].attrs["vocab_size"])
    return float(np.median(tps)), vocab


def torch_side(a, V):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    # Flush denormals to zero: with thousands of output ids most softmax gradients are
    # below the normal range, and products of denormals run ~40x slower on x86 (the
    # output layer's backward took 95 ms instead of 2 ms). bin/pretrain's exponential
    # returns 0 below the normal range, so it never makes them.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    n, C, H, L, k = a.seq_len, a.dim, a.heads, a.layers, a.k
    D = C // H

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(C, 3 * C)
            self.o = torch.nn.Linear(C, C)
            self.ln1 = torch.nn.LayerNorm(C, eps=1e-5)
            self.w1 = torch.nn.Linear(C, 4 * C)
            self.w2 = torch.nn.Linear(4 * C, C)
            self.ln2 = torch.nn.LayerNorm(C, eps=1e-5)
            if not a.dense:
                bound = math.sqrt(0.5) * math.sqrt(6.0 / (k + n))
                self.E = torch.nn.Parameter(torch.empty(H, k, n).uniform_(-bound, bound))
                self.F = torch.nn.Parameter(torch.empty(H, k, n).uniform_(-bound, bound))

        def forward(self, x):
            B = x.shape[0]
            q, kk, v = self.qkv(x).view(B, n, 3, H, D).permute(2, 0, 3, 1, 4)
            if not a.dense:
                kk = torch.einsum("hkn,bhnd->bhkd", self.E, kk)
                v = torch.einsum("hkn,bhnd->bhkd", self.F, v)
            p = torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(D), dim=-1)
            ctx = (p @ v).transpose(1, 2).reshape(B, n, C)
            h = self.ln1(x + self.o(ctx))
            return self.ln2(h + self.w2(F.gelu(self.w1(h))))

    class MLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = torch.nn.Embedding(V, C)
            self.pos = torch.nn.Embedding(n, C)
            self.ln = torch.nn.LayerNorm(C, eps=1e-5)
            self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
            self.bias = torch.nn.Parameter(torch.zeros(V))

        def forward(self, ids, targets):
            x = self.ln(self.tok(ids) + self.pos.weight[None])
            for l in self.layers:
                x = l(x)
            sel = targets >= 0
            logits = F.linear(x[sel], self.tok.weight, self.bias)  # tied output, as nn.Linear
            return F.cross_entropy(logits, targets[sel])

    model = MLM()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6,
                            weight_decay=0.01)
    g = np.random.default_rng(0)
    times = []
    for step in range(a.steps):
        # byte ids 0..255 (no special tokens), else any id of the compact vocabulary
        ids = torch.from_numpy(g.integers(0, 256 if V == 260 else V, (a.batch, n)).astype(np.int64))
        tg = torch.where(torch.from_numpy(g.random((a.batch, n)) < 0.15), ids, -1)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median([a.batch * n / t for t in times[3:]]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--corpus", default="data/kjv.txt")
    ap.add_argument("--vocab", default=None, help="WordPiece vocab.txt (compacted to the corpus)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--dense", action="store_true")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("bench_pretrain: error: PyTorch is not installed (pip install torch)", file=sys.stderr)
        return 2
    what = "dense" if a.dense else f"Linformer k = {a.k}"
    print(f"bench_pretrain: {what}, n = {a.seq_len}, L = {a.layers}, d = {a.dim}, "
          f"H = {a.heads}, batch {a.batch}, {a.threads} threads, {a.steps} steps per side, "
          f"{'WordPiece (compact)' if a.vocab else 'bytes'}; "
          f"torch {torch.__version__}")
    cs, ts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            tps, vocab = c_side(a, os.path.join(tmp, f"r{r}"))
            cs.append(tps)
            ts.append(torch_side(a, vocab))
            print(f"  round {r + 1}: bin/pretrain {cs[-1]:9.0f} tokens/s   "
                  f"PyTorch {ts[-1]:9.0f} tokens/s   ratio {cs[-1] / ts[-1]:.2f}")
    c, t = statistics.median(cs), statistics.median(ts)
    print(f"bench_pretrain: median bin/pretrain {c:.0f} tokens/s, PyTorch {t:.0f} tokens/s, "
          f"ratio {c / t:.2f} (target >= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
