#!/usr/bin/env python3
"""ref_mlm.py - independent Python implementation of the masked-LM data rules of
core/mlm_batch.h (token-block split, [CLS]/[SEP] sequences, per-epoch Fisher-Yates
order, 80/10/10 masking with the suite's xoshiro256** generator from ref_rng.py).
tests/test_mlm_batch.c writes a case file and the batches the C code produced; this
script recomputes the batches and compares them position by position.

usage: ref_mlm.py CASE.txt C_BATCHES.txt
CASE.txt:   line 1: seq_len batch seed split_block val_every max_val_seqs
            line 2: mask_prob mask_token_frac random_token_frac (as %.17g)
            line 3: vocab_size pad unk cls sep mask
            line 4: the corpus ids
            line 5: train steps to produce;  line 6: validation batch indices
C_BATCHES.txt: per batch a header "train STEP" or "val INDEX ROWS", then B lines
            "seq_index | inputs | targets | pad mask" (space-separated ints).
Exit status 0 when every batch matches."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import importlib.util

M = (1 << 64) - 1
TAG_PERM = 0x7065726D75746531
TAG_TRAIN = 0x747261696E6D736B
TAG_VAL = 0x76616C69646D736B


def load_ref_rng():
    """The generator functions of ref_rng.py (without running its printing main code)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref_rng.py")
    src = open(path).read().split("\nfor seed, stream in")[0]
    ns = {}
    exec(compile(src, path, "exec"), ns)
    return ns["init"], ns["nxt"]


rng_init, rng_next = load_ref_rng()


class Rng:
    def __init__(self, seed, stream):
        self.s = rng_init(seed & M, stream & M)

    def next(self):
        return rng_next(self.s)

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def bounded(self, m):
        threshold = ((1 << 64) - m) % m
        while True:
            x = self.next()
            if x >= threshold:
                return x % m


def main():
    case = open(sys.argv[1]).read().split("\n")
    n, B, seed, blk, every, max_val = (int(x) for x in case[0].split())
    p_sel, f_mask, f_rand = (float(x) for x in case[1].split())
    vocab, pad, unk, cls, sep, mask = (int(x) for x in case[2].split())
    ids = [int(x) for x in case[3].split()]
    steps = [int(x) for x in case[4].split()]
    vals = [int(x) for x in case[5].split()]

    train, val = [], []
    for j, start in enumerate(range(0, len(ids), blk)):
        (val if j % every == every - 1 else train).extend(ids[start:start + blk])
    piece = n - 2
    ntrain = -(-len(train) // piece)
    nval = -(-len(val) // piece)
    if max_val > 0:
        nval = min(nval, max_val)
    special = {t for t in (pad, unk, cls, sep, mask) if t >= 0}
    nonspecial = [t for t in range(vocab) if t not in special]
    per_epoch = ntrain // B

    def row(stream, i, g):
        content = stream[i * piece:(i + 1) * piece]
        inp = [cls] + content + [sep] + [pad] * (piece - len(content))
        pm = [1] * (len(content) + 2) + [0] * (piece - len(content))
        tgt = [-1] * n
        for p in range(n):
            t = inp[p]
            if not pm[p] or t in special:
                continue
            if not (g.uniform() < p_sel):
                continue
            tgt[p] = t
            v = g.uniform()
            if v < f_mask:
                inp[p] = mask
            elif v < f_mask + f_rand:
                inp[p] = nonspecial[g.bounded(len(nonspecial))]
        return inp, tgt, pm

    def perm(epoch):
        g = Rng(seed ^ TAG_PERM, epoch)
        p = list(range(ntrain))
        for i in range(ntrain - 1, 0, -1):
            j = g.bounded(i + 1)
            p[i], p[j] = p[j], p[i]
        return p

    def fmt(seq, inp, tgt, pm):
        return "%d | %s | %s | %s" % (seq, " ".join(map(str, inp)), " ".join(map(str, tgt)),
                                       " ".join(map(str, pm)))

    expected = []
    for s in steps:
        e, pos = divmod(s, per_epoch)
        pe = perm(e)
        expected.append("train %d" % s)
        for r in range(B):
            i = pe[pos * B + r]
            expected.append(fmt(i, *row(train, i, Rng(seed ^ TAG_TRAIN, e * ntrain + i))))
    for v in vals:
        first = v * B
        rows = min(B, nval - first)
        expected.append("val %d %d" % (v, rows))
        for r in range(B):
            if r < rows:
                i = first + r
                expected.append(fmt(i, *row(val, i, Rng(seed ^ TAG_VAL, i))))
            else:
                expected.append(fmt(-1, [pad] * n, [-1] * n, [0] * n))

    got = [l for l in open(sys.argv[2]).read().split("\n") if l]
    if len(got) != len(expected):
        print("ref_mlm.py: %d lines from C, %d expected" % (len(got), len(expected)))
        return 1
    for k, (a, b) in enumerate(zip(got, expected)):
        if a != b:
            print("ref_mlm.py: line %d differs\n  C:      %s\n  Python: %s" % (k + 1, a[:300], b[:300]))
            return 1
    print("ref_mlm.py: %d train and %d validation batches identical (%d train, %d validation "
          "sequences)" % (len(steps), len(vals), ntrain, nval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
