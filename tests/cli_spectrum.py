#!/usr/bin/env python3
"""cli_spectrum.py - end-to-end tests of bin/spectrum on the tiny BERT fixture
(tests/data/encoder_tiny*): results against an independent NumPy computation from
the saved attention matrices, the --attention path, checkpoint and resume, and every
bad-input path (one error line, exit status 2, no output file).

Tolerance: bin/spectrum computes singular values from the float32 matrices with a
float64 method accurate to ~1e-9 of the largest singular value (core/spectrum.h);
NumPy computes them in float64 from the same float32 values, so cumulative curves
(ratios of sums of 64 values) agree to ~1e-9; we allow 1e-7.
"""
import os
import shutil
import sys

import h5py
import numpy as np

from cli_common import Suite

suite = Suite("cli_spectrum", "spectrum")
report, run = suite.report, suite.run
DATA = os.path.join(os.environ.get("LF_REPO", "."), "tests", "data")


def setup():
    os.makedirs("model", exist_ok=True)
    shutil.copy(os.path.join(DATA, "encoder_tiny_config.json"), "model/config.json")
    shutil.copy(os.path.join(DATA, "encoder_tiny.safetensors"), "model/model.safetensors")
    shutil.copy(os.path.join(DATA, "encoder_tiny_vocab.txt"), "model/vocab.txt")
    rng = np.random.default_rng(0)
    words = [f"w{i:02d}" for i in rng.integers(0, 95, 2000)]
    with open("corpus.txt", "w") as f:
        for i in range(0, len(words), 15):
            f.write(" ".join(words[i:i + 15]) + "\n")
    return [5 + int(w[1:]) for w in words]  # vocab: 5 special tokens, then w00..w94


def curves(p, energy=False):
    s = np.linalg.svd(p.astype(np.float64), compute_uv=False)
    if energy:
        s = s * s
    return np.cumsum(s, axis=-1) / s.sum(axis=-1, keepdims=True)


BASE = ["--model", "model", "--corpus", "corpus.txt", "--seq-len", "64", "--index", "16"]


def test_against_numpy(tokens):
    rc, out, err = run(*BASE, "--sequences", "6", "--batch", "2", "--save-attention", "6",
                       "--out", "s.h5")
    if rc != 0:
        return report("spectrum vs NumPy", False, f"exit {rc}: {err.strip()}")
    with h5py.File("s.h5", "r") as f:
        ids = f["input/token_ids"][...]
        p = f["attention/probabilities"][...]  # [M, L, H, n, n]
        mean, std = f["spectrum/cumulative_mean"][...], f["spectrum/cumulative_std"][...]
        at, lm = f["spectrum/at_index"][...], f["spectrum/layer_mean"][...]
        idx = int(f["spectrum/at_index"].attrs["index"])
        dims = [d[0].name for d in f["spectrum/cumulative_mean"].dims]
        cfg = dict(f["config"].attrs)
    body = np.array(tokens[:6 * 62]).reshape(6, 62)
    ids_ok = (ids.shape == (6, 64) and (ids[:, 0] == 2).all() and (ids[:, -1] == 3).all()
              and (ids[:, 1:-1] == body).all())
    rows_ok = np.abs(p.sum(axis=-1) - 1).max() < 1e-5
    c = curves(p)  # [M, L, H, n]
    e_mean = np.abs(mean - c.mean(axis=0)).max()
    e_std = np.abs(std - c.std(axis=0, ddof=1)).max()
    e_at = np.abs(at - c.mean(axis=0)[:, :, 15]).max()
    e_lm = np.abs(lm - c.mean(axis=(0, 2))).max()
    ok = (ids_ok and rows_ok and max(e_mean, e_std, e_at, e_lm) < 1e-7 and idx == 16
          and dims == ["/spectrum/layer", "/spectrum/head", "/spectrum/index"]
          and cfg["threads"] > 0 and "seed" in cfg and mean.shape == (2, 4, 64))
    report("spectrum vs NumPy (token ids, mean, std, at_index, layer_mean)", ok,
           f"max errors {e_mean:.1e} {e_std:.1e} {e_at:.1e} {e_lm:.1e}, ids {ids_ok}")
    return p


def test_energy():
    rc, _, err = run(*BASE, "--sequences", "3", "--normalize", "energy", "--save-attention", "3",
                     "--out", "e.h5")
    if rc != 0:
        return report("energy normalization", False, f"exit {rc}: {err.strip()}")
    with h5py.File("e.h5", "r") as f:
        c = curves(f["attention/probabilities"][...], energy=True)
        e = np.abs(f["spectrum/cumulative_mean"][...] - c.mean(axis=0)).max()
    report("energy normalization vs NumPy", e < 1e-7, f"max error {e:.1e}")


def test_given_attention(p):
    # The matrices saved by the model run give exactly the same statistics.
    rc, _, err = run("--attention", "s.h5", "--index", "16", "--out", "g.h5")
    if rc != 0:
        return report("--attention [M, L, H, n, n]", False, f"exit {rc}: {err.strip()}")
    with h5py.File("g.h5", "r") as f, h5py.File("s.h5", "r") as s:
        same = all(np.array_equal(f[k][...], s[k][...]) for k in
                   ("spectrum/cumulative_mean", "spectrum/cumulative_std", "spectrum/at_index"))
    report("--attention [M, L, H, n, n] equals the model run", same)
    # [M, n, n] from elsewhere: random row-stochastic matrices.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 40, 40)) * 2
    q = np.exp(x - x.max(-1, keepdims=True))
    q = (q / q.sum(-1, keepdims=True)).astype(np.float32)
    with h5py.File("m.h5", "w") as f:
        f["attention/probabilities"] = q
    rc, _, err = run("--attention", "m.h5", "--index", "10", "--out", "gm.h5")
    if rc != 0:
        return report("--attention [M, n, n]", False, f"exit {rc}: {err.strip()}")
    with h5py.File("gm.h5", "r") as f:
        c = curves(q)
        e = np.abs(f["spectrum/cumulative_mean"][0, 0] - c.mean(axis=0)).max()
        e2 = abs(f["spectrum/at_index"][0, 0] - c.mean(axis=0)[9])
    report("--attention [M, n, n] vs NumPy", max(e, e2) < 1e-7, f"max error {max(e, e2):.1e}")


def test_resume():
    args = BASE + ["--sequences", "6", "--batch", "2", "--checkpoint-every", "0"]
    rc, _, _ = run(*args, "--out", "full.h5")
    rc1, _, err1 = run(*args, "--stop-after", "2", "--out", "part.h5")
    interrupted = rc1 == 130 and not os.path.exists("part.h5") and os.path.exists("part.h5.ckpt")
    rc_nores, _, err_nores = run(*args, "--out", "part.h5")
    refuses = rc_nores == 2 and "--resume" in err_nores
    rc2, _, err2 = run(*args, "--resume", "--out", "part.h5")
    if rc != 0 or rc2 != 0:
        return report("checkpoint and resume", False, f"exits {rc} {rc1} {rc2}: {err1} {err2}")
    with h5py.File("full.h5", "r") as a, h5py.File("part.h5", "r") as b:
        same = all(np.array_equal(a[k][...], b[k][...]) for k in
                   ("spectrum/cumulative_mean", "spectrum/cumulative_std", "input/token_ids"))
    gone = not os.path.exists("part.h5.ckpt")
    report("interrupted run leaves no result, refuses to restart without --resume, resumes "
           "to the identical result", interrupted and refuses and same and gone,
           f"interrupted {interrupted}, refuses {refuses}, same {same}, checkpoint removed {gone}")


def bad(name, args, expect, make=None):
    for p in ("bad.h5", "bad.h5.ckpt"):
        if os.path.exists(p):
            os.remove(p)
    if make:
        make()
    rc, out, err = run(*args, "--out", "bad.h5")
    lines = [l for l in err.splitlines() if l.strip()]
    left = [p for p in os.listdir(".") if p.startswith("bad.h5")]
    ok = rc == 2 and len(lines) == 1 and expect.lower() in lines[0].lower() and not left
    report(f"bad input: {name}", ok, lines[0] if ok else f"exit {rc}, stderr {lines!r}, left {left}")


def test_bad_inputs():
    def broken_model(what):
        def make():
            shutil.rmtree("bm", ignore_errors=True)
            shutil.copytree("model", "bm")
            if what == "vocab":
                lines = open("bm/vocab.txt").read().splitlines()
                open("bm/vocab.txt", "w").write("\n".join(lines[:-1]) + "\n")
            elif what == "weights":
                data = open("bm/model.safetensors", "rb").read()
                open("bm/model.safetensors", "wb").write(data[: len(data) // 2])
            elif what == "config":
                open("bm/config.json", "w").write('{"hidden_size": 32,')
            elif what == "missing":
                os.remove("bm/model.safetensors")
        return make

    bm = ["--model", "bm", "--corpus", "corpus.txt", "--seq-len", "64", "--index", "16",
          "--sequences", "2"]
    bad("missing model directory", ["--model", "nope", "--corpus", "corpus.txt"], "nope")
    bad("missing weights", bm, "model.safetensors", broken_model("missing"))
    bad("garbled weights", bm, "model.safetensors", broken_model("weights"))
    bad("garbled config.json", bm, "config.json", broken_model("config"))
    bad("vocab does not match the embeddings", bm, "vocab.txt", broken_model("vocab"))
    bad("corpus shorter than one sequence", BASE[:2] + ["--corpus", "short.txt"] + BASE[4:],
        "one sequence", lambda: open("short.txt", "w").write("w01 w02 w03\n"))
    bad("corpus too short for --sequences", BASE + ["--sequences", "1000"], "enough for")
    bad("--seq-len above the model's positions", BASE[:4] + ["--seq-len", "65", "--index", "16"],
        "positions")
    bad("invalid UTF-8 in the corpus", BASE[:2] + ["--corpus", "bin.txt"] + BASE[4:],
        "UTF-8", lambda: open("bin.txt", "wb").write(b"w01 w02 \xff\xfe w03\n" * 50))
    bad("missing corpus", BASE[:2] + ["--corpus", "none.txt"] + BASE[4:], "none.txt")
    bad("--index 0", BASE[:6] + ["--index", "0"], "--index")
    bad("--index above --seq-len", BASE[:6] + ["--index", "65"], "exceeds")
    bad("--normalize unknown", BASE + ["--normalize", "max"], "--normalize")
    bad("--sequences not a number", BASE + ["--sequences", "ten"], "--sequences")
    bad("--attention with --model", ["--attention", "s.h5"] + BASE[:2], "no --model")
    bad("--attention not square", ["--attention", "ns.h5"], "square",
        lambda: h5py.File("ns.h5", "w").create_dataset("attention/probabilities",
                                                       data=np.ones((2, 4, 5), np.float32)))
    nan = np.full((2, 4, 4), 0.25, np.float32)
    nan[1, 2, 3] = np.nan
    bad("--attention with NaN", ["--attention", "nan.h5", "--index", "2"], "NaN",
        lambda: h5py.File("nan.h5", "w").create_dataset("attention/probabilities", data=nan))
    bad("--attention without the dataset", ["--attention", "empty.h5"], "/attention/probabilities",
        lambda: h5py.File("empty.h5", "w").close())
    open("exists.h5", "w").write("keep")
    rc, _, err = run(*BASE, "--sequences", "1", "--out", "exists.h5")
    report("bad input: output exists without --force",
           rc == 2 and "--force" in err and open("exists.h5").read() == "keep", err.strip())


def main():
    tokens = setup()
    tests = [lambda: test_against_numpy(tokens), test_energy, None, test_resume, test_bad_inputs]
    p = None
    for i, t in enumerate(tests):
        try:
            if t is None:
                test_given_attention(p)
            elif i == 0:
                p = t()
            else:
                t()
        except Exception as exc:
            report(f"test {i}", False, f"exception {exc!r}")
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
