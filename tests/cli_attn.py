#!/usr/bin/env python3
"""cli_attn.py - end-to-end tests of bin/attn: results against an independent NumPy
reference (float64) and every bad-input path (one error line, exit status 2, no
output file and no temporary file left).

Run by tests/cli_attn.sh with the current directory set to a scratch directory and
LF_BIN naming the directory of the programs. Prints PASS/FAIL per case and a final
"cli_attn: N passed, M failed".

Tolerances: bin/attn computes in float32 with float64 sums where it matters; against
the float64 reference the output agrees to ~1e-6 relative (Frobenius), so 1e-5.
"""
import glob
import os
import sys

import h5py
import numpy as np

from cli_common import Suite

suite = Suite("cli_attn", "attn")
report, run = suite.report, suite.run


def write_input(path, heads=2, n=40, d=8, dv=6, seed=0, mask=None, extra=None, **override):
    rng = np.random.default_rng(seed)
    data = {
        "q": rng.standard_normal((heads, n, d)).astype(np.float32),
        "k": rng.standard_normal((heads, n, d)).astype(np.float32),
        "v": rng.standard_normal((heads, n, dv)).astype(np.float32),
    }
    if mask is not None:
        data["mask"] = np.asarray(mask)
    data.update(extra or {})
    data.update(override)
    with h5py.File(path, "w") as f:
        for key, val in data.items():
            if val is not None:
                f[key] = val
    return data


def softmax(s, mask=None):
    s = s.astype(np.float64)
    if mask is not None:
        s = np.where(mask.astype(bool)[None, :], s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def ref_dense(q, k, v, mask=None):
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    out, probs = [], []
    for h in range(q.shape[0]):
        p = softmax(q[h] @ k[h].T / np.sqrt(q.shape[2]), mask)
        probs.append(p)
        out.append(p @ v[h])
    return np.array(out), np.array(probs)


def ref_linformer(q, k, v, e, f):
    q, k, v, e, f = (x.astype(np.float64) for x in (q, k, v, e, f))
    out, probs = [], []
    for h in range(q.shape[0]):
        p = softmax(q[h] @ (e[h] @ k[h]).T / np.sqrt(q.shape[2]))
        probs.append(p)
        out.append(p @ (f[h] @ v[h]))
    return np.array(out), np.array(probs)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def leftovers(out):
    return glob.glob(out + "*")


# ---- results ---------------------------------------------------------------------

def test_dense():
    data = write_input("in.h5")
    rc, _, err = run("--in", "in.h5", "--out", "dense.h5", "--mode", "dense")
    if rc != 0:
        return report("dense", False, f"exit {rc}: {err.strip()}")
    ref_out, ref_p = ref_dense(data["q"], data["k"], data["v"])
    with h5py.File("dense.h5", "r") as f:
        e_out, e_p = rel(f["out"][...], ref_out), rel(f["probabilities"][...], ref_p)
        attrs_ok = (f.attrs["experiment"] in ("attn", b"attn")
                    and f["config"].attrs["mode"] in ("dense", b"dense")
                    and int(f["config"].attrs["heads"]) == 2
                    and "git_revision" in f["code"].attrs
                    and "seed" in f["config"].attrs and "threads" in f["config"].attrs
                    and "description" in f["out"].attrs)
        dims = [f["probabilities"].dims[i][0].name for i in range(3)]
        shapes = f["out"].shape == (2, 40, 6) and f["probabilities"].shape == (2, 40, 40)
    ok = e_out < 1e-5 and e_p < 1e-5 and attrs_ok and shapes and dims == ["/head", "/query", "/key"]
    report("dense", ok, f"rel err out {e_out:.1e} P {e_p:.1e}, dims {dims}, attrs {attrs_ok}")


def test_streamed():
    data = write_input("in.h5", n=700, d=16, dv=16, seed=1)
    rc, _, err = run("--in", "in.h5", "--out", "streamed.h5", "--mode", "streamed")
    if rc != 0:
        return report("streamed", False, f"exit {rc}: {err.strip()}")
    ref_out, _ = ref_dense(data["q"], data["k"], data["v"])
    with h5py.File("streamed.h5", "r") as f:
        e = rel(f["out"][...], ref_out)
        no_p = "probabilities" not in f
    report("streamed", e < 1e-5 and no_p, f"rel err {e:.1e}, no /probabilities: {no_p}")


def test_mask():
    n, real = 40, 29
    mask = np.array([1] * real + [0] * (n - real), dtype=np.int8)
    data = write_input("in.h5", mask=mask, seed=2)
    data["k"][:, real:, :] = 1e4  # garbage in padded rows must not leak
    with h5py.File("in.h5", "r+") as f:
        f["k"][...] = data["k"]
    ref_out, _ = ref_dense(data["q"][:, :real], data["k"][:, :real], data["v"][:, :real])
    ok, detail = True, []
    for mode in ("dense", "streamed"):
        rc, _, err = run("--in", "in.h5", "--out", f"mask_{mode}.h5", "--mode", mode)
        if rc != 0:
            return report("mask", False, f"{mode}: exit {rc}: {err.strip()}")
        with h5py.File(f"mask_{mode}.h5", "r") as f:
            e = rel(f["out"][:, :real], ref_out)
        ok &= e < 1e-5
        detail.append(f"{mode} {e:.1e}")
    report("padded equals unpadded", ok, ", ".join(detail))


def test_linformer_identity():
    n = 24
    eye = np.broadcast_to(np.eye(n, dtype=np.float32), (2, n, n)).copy()
    data = write_input("in.h5", n=n, extra={"e": eye, "f": eye}, seed=3)
    rc, _, err = run("--in", "in.h5", "--out", "lin_id.h5", "--mode", "linformer",
                     "--projection", "given")
    if rc != 0:
        return report("linformer k=n, E=F=I equals dense", False, f"exit {rc}: {err.strip()}")
    ref_out, _ = ref_dense(data["q"], data["k"], data["v"])
    with h5py.File("lin_id.h5", "r") as f:
        e = rel(f["out"][...], ref_out)
        k_attr = int(f["config"].attrs["k"])
    report("linformer k=n, E=F=I equals dense", e < 1e-5 and k_attr == n, f"rel err {e:.1e}")


def test_linformer_gaussian():
    data = write_input("in.h5", n=64, d=16, dv=8, seed=4)
    rc, _, err = run("--in", "in.h5", "--out", "lin_g.h5", "--mode", "linformer",
                     "--projection", "gaussian", "--k", "16", "--seed", "7")
    if rc != 0:
        return report("linformer gaussian", False, f"exit {rc}: {err.strip()}")
    with h5py.File("lin_g.h5", "r") as f:
        e_mat, f_mat = f["e"][...], f["f"][...]
        ref_out, ref_p = ref_linformer(data["q"], data["k"], data["v"], e_mat, f_mat)
        e_out, e_p = rel(f["out"][...], ref_out), rel(f["probabilities"][...], ref_p)
        shape_ok = f["probabilities"].shape == (2, 64, 16)
        var = float(e_mat.var())
    # Entries N(0, 1/k): the sample variance of 2*16*64 = 2048 values has relative
    # standard error sqrt(2/2048) = 3 %, so 15 % is five standard errors.
    ok = e_out < 1e-5 and e_p < 1e-5 and shape_ok and abs(var * 16 - 1) < 0.15
    report("linformer gaussian vs NumPy", ok, f"rel err out {e_out:.1e} P {e_p:.1e}, var*k {var*16:.3f}")


def test_linformer_pooling():
    data = write_input("in.h5", n=64, d=16, dv=8, seed=5)
    q, k, v = data["q"], data["k"], data["v"]
    ok, detail = True, []
    for kind in ("mean", "max", "conv"):
        rc, _, err = run("--in", "in.h5", "--out", f"lin_{kind}.h5", "--mode", "linformer",
                         "--projection", kind, "--k", "16")
        if rc != 0:
            return report("linformer pooling", False, f"{kind}: exit {rc}: {err.strip()}")
        w = 4
        if kind == "max":
            kb = k.reshape(2, 16, w, 16).max(axis=2)
            vb = v.reshape(2, 16, w, 8).max(axis=2)
        else:  # mean, and conv initialised to 1/window
            kb = k.reshape(2, 16, w, 16).mean(axis=2)
            vb = v.reshape(2, 16, w, 8).mean(axis=2)
        ref = np.array([softmax(q[h].astype(np.float64) @ kb[h].T / 4.0) @ vb[h] for h in range(2)])
        with h5py.File(f"lin_{kind}.h5", "r") as f:
            e = rel(f["out"][...], ref)
        ok &= e < 1e-5
        detail.append(f"{kind} {e:.1e}")
    report("linformer mean/max/conv vs NumPy", ok, ", ".join(detail))


def test_determinism_and_force():
    write_input("in.h5", n=300, d=32, dv=32, seed=6)
    outs = []
    for threads in ("1", "2", "2"):
        rc, _, err = run("--in", "in.h5", "--out", "det.h5", "--mode", "linformer", "--k", "32",
                         "--seed", "3", "--threads", threads, "--force")
        if rc != 0:
            return report("determinism", False, f"exit {rc}: {err.strip()}")
        with h5py.File("det.h5", "r") as f:
            outs.append(f["out"][...].tobytes())
    report("same seed: identical output for 1, 2, 2 threads; --force overwrites",
           outs[0] == outs[1] == outs[2])


# ---- bad input ---------------------------------------------------------------------

def bad(name, args, expect, make=None):
    for p in glob.glob("bad*"):
        os.remove(p)
    if make:
        make()
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    left = leftovers("bad_out.h5")
    ok = (rc == 2 and len(lines) == 1 and expect.lower() in lines[0].lower() and not left
          and out == "")
    report(f"bad input: {name}", ok,
           f"exit {rc}, stderr {lines!r}, leftovers {left}" if not ok else lines[0])


def test_bad_inputs():
    base = ["--in", "bad_in.h5", "--out", "bad_out.h5"]
    good = lambda **kw: (lambda: write_input("bad_in.h5", **kw))
    rng = np.random.default_rng(9)
    nanq = rng.standard_normal((2, 40, 8)).astype(np.float32)
    nanq[1, 3, 2] = np.nan
    infv = rng.standard_normal((2, 40, 6)).astype(np.float32)
    infv[0, 0, 0] = np.inf
    bad("missing dataset", base + ["--mode", "dense"], "missing dataset /v", good(v=None))
    bad("wrong rank", base + ["--mode", "dense"], "/q has rank 2",
        good(q=np.zeros((40, 8), np.float32)))
    bad("mismatched n", base + ["--mode", "dense"], "sequence lengths",
        good(k=np.zeros((2, 39, 8), np.float32)))
    bad("mismatched d", base + ["--mode", "dense"], "head dimension",
        good(k=np.zeros((2, 40, 7), np.float32)))
    bad("mismatched heads", base + ["--mode", "dense"], "head counts",
        good(v=np.zeros((3, 40, 6), np.float32)))
    bad("NaN", base + ["--mode", "dense"], "/q contains NaN at [1, 3, 2]", good(q=nanq))
    bad("Inf", base + ["--mode", "streamed"], "/v contains Inf at [0, 0, 0]", good(v=infv))
    bad("k < 1", base + ["--mode", "linformer", "--k", "0"], "--k", good())
    bad("k > n", base + ["--mode", "linformer", "--k", "41"], "between 1 and n = 40", good())
    bad("k not a number", base + ["--mode", "linformer", "--k", "12x"], "--k", good())
    bad("k without linformer", base + ["--mode", "dense", "--k", "4"], "--k applies only", good())
    bad("linformer without k", base + ["--mode", "linformer"], "--k is required", good())
    bad("conv with k not dividing n", base + ["--mode", "linformer", "--projection", "conv",
                                              "--k", "7"], "conv", good())
    bad("unknown mode", base + ["--mode", "sparse"], "unknown mode 'sparse'", good())
    bad("unknown projection", base + ["--mode", "linformer", "--projection", "pca", "--k", "4"],
        "unknown projection", good())
    bad("unknown option", base + ["--mode", "dense", "--bogus"], "unknown", good())
    bad("missing --mode", base, "--mode is required", good())
    bad("missing input file", ["--in", "bad_none.h5", "--out", "bad_out.h5", "--mode", "dense"],
        "bad_none.h5")
    bad("not an HDF5 file", base + ["--mode", "dense"], "not an HDF5 file",
        lambda: open("bad_in.h5", "w").write("this is text\n"))
    bad("mask length", base + ["--mode", "dense"], "/mask has length",
        good(mask=np.ones(39, np.int8)))
    bad("mask values", base + ["--mode", "dense"], "expected 1 (token) or 0",
        good(mask=np.full(40, 2, np.int8)))
    bad("given E of wrong shape", base + ["--mode", "linformer", "--projection", "given"],
        "/e and /f must both be", good(extra={"e": np.zeros((2, 4, 39), np.float32),
                                               "f": np.zeros((2, 4, 40), np.float32)}))
    bad("given without /e", base + ["--mode", "linformer", "--projection", "given"],
        "missing dataset /e", good())
    # An existing output is not overwritten without --force, and stays intact.
    write_input("bad_in.h5")
    with open("exists.h5", "w") as f:
        f.write("precious")
    rc, _, err = run("--in", "bad_in.h5", "--out", "exists.h5", "--mode", "dense")
    intact = open("exists.h5").read() == "precious"
    report("bad input: output exists without --force", rc == 2 and "--force" in err and intact,
           err.strip())


def main():
    for t in (test_dense, test_streamed, test_mask, test_linformer_identity,
              test_linformer_gaussian, test_linformer_pooling, test_determinism_and_force,
              test_bad_inputs):
        try:
            t()
        except Exception as exc:  # a crash of the test itself is a failure, not an abort
            report(t.__name__, False, f"exception {exc!r}")
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
