#!/usr/bin/env python3
"""cli_bench.py - end-to-end tests of bin/bench on a tiny configuration (1 layer, 2
heads, hidden 16, n = 64 and 128, k = 16 and 100): the structure of the results file
(datasets, shapes, dimension scales, variant names, /config), the derived tables
recomputed from the stored values (speed-up = time[dense] / time[linformer], the
same for memory and against streamed), the k-independence of dense and streamed,
NaN with a reason for k >= n and for points that do not fit a small memory budget,
the markdown table, and every bad-flag path (one error line, exit status 2, no
output file). --device cuda: without a GPU (or in a build without nvcc) one error
line naming that, exit status 2, no file; with a GPU, the tiny run on the device and
its memory differences (exact in the device allocator's accounting).

Run by tests/cli_bench.sh with the current directory set to a scratch directory and
LF_BIN naming the directory of the programs. Timings are not checked (they are
measurements), only their consistency: ratios are recomputed from the stored
float64 values, so they must agree to rounding (1e-12 relative).
"""
import glob
import math
import os

import h5py
import numpy as np

from cli_common import Suite

suite = Suite("cli_bench", "bench")
report, run = suite.report, suite.run

TINY = ["--layers", "1", "--heads", "2", "--dim", "16", "--n", "64,128", "--k", "16,100",
        "--repeats", "1", "--threads", "1", "--seed", "3"]


def leftovers(out):
    return sorted(glob.glob(out + "*") + glob.glob(out[:-3] + ".md*"))


def check_run(name, out, *extra):
    rc, stdout, stderr = run(*TINY, "--out", out, *extra)
    ok = rc == 0 and os.path.exists(out) and os.path.exists(out[:-3] + ".md")
    report(f"{name}: runs", ok, "" if ok else f"exit {rc}: {stderr.strip()[-300:]}")
    return ok, stdout


# ---- a full tiny run ----------------------------------------------------------
ok, stdout = check_run("tiny", "r.h5")
if ok:
    with h5py.File("r.h5", "r") as f:
        b = f["bench"]
        names = [x.decode() if isinstance(x, bytes) else x for x in b["variant"][()]]
        report("variant names", names == ["dense", "streamed", "linformer"], str(names))
        report("n and k scales", list(b["n"][()]) == [64, 128] and list(b["k"][()]) == [16, 100])
        shapes = {k: b[k].shape for k in ("time", "memory", "attention_gflops", "max_batch",
                                          "skip_reason")}
        report("[variant, n, k] shapes", all(s == (3, 2, 2) for s in shapes.values()), str(shapes))
        report("[n, k] shapes", b["speedup"].shape == (2, 2) and b["memory_saving"].shape == (2, 2))
        dims = [[sc.name for sc in d.values()] for d in b["time"].dims]
        report("dimension scales attached", dims == [["/bench/variant"], ["/bench/n"], ["/bench/k"]],
               str(dims))
        report("variants attribute", b["time"].attrs["variants"] == "dense,streamed,linformer")
        report("k-independence said", "once per n" in b["time"].attrs["k_independent"])
        report("units", b["time"].attrs["units"] == "s" and b["memory"].attrs["units"] == "bytes")
        cfg = f["config"].attrs
        report("config", cfg["seed"] == 3 and cfg["threads"] == 1 and cfg["layers"] == 1 and
               cfg["heads"] == 2 and cfg["dim"] == 16 and cfg["device"] == "cpu" and
               cfg["sharing"] == "layerwise", str(dict(cfg)))
        report("provenance", f.attrs["experiment"] == "bench" and "git_revision" in f["code"].attrs)

        t, m = b["time"][()], b["memory"][()]
        reason = b["skip_reason"][()].astype(str)
        # k = 100 >= n = 64 is the paper's '-': NaN and a reason; everything else measured.
        lin_skip = np.isnan(t[2, 0, 1]) and "k >= n" in reason[2, 0, 1]
        report("k >= n skipped with reason", lin_skip, repr(reason[2, 0, 1]))
        measured = [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 0), (2, 1, 1)]
        report("measured points finite, no reason",
               all(np.isfinite(t[p]) and t[p] > 0 and m[p] > 0 and reason[p] == "" for p in measured))
        report("dense and streamed equal across k",
               np.array_equal(t[0:2, :, 0], t[0:2, :, 1]) and np.array_equal(m[0:2, :, 0], m[0:2, :, 1]))
        sp, ms = b["speedup"][()], b["memory_saving"][()]
        sps, mss = b["speedup_vs_streamed"][()], b["memory_saving_vs_streamed"][()]
        with np.errstate(invalid="ignore"):
            want = [t[0] / t[2], m[0] / m[2], t[1] / t[2], m[1] / m[2]]
        good = all(np.allclose(got, w, rtol=1e-12, equal_nan=True)
                   for got, w in zip([sp, ms, sps, mss], want))
        report("speedup = time[dense] / time[linformer] (and memory, streamed)", good,
               f"speedup {sp.tolist()} want {want[0].tolist()}")
        report("speedup NaN where linformer skipped", math.isnan(sp[0, 1]))
        tb = b["time_best"][()]
        with np.errstate(invalid="ignore"):
            report("time_best <= time (median), speedup_best from it",
                   all(tb[p] <= t[p] for p in measured) and
                   np.allclose(b["speedup_best"][()], tb[0] / tb[2], rtol=1e-12, equal_nan=True))
        la = b["load_average_before"][()]
        report("load averages recorded", la.shape == (3,) and b["load_average_after"].shape == (3,))
        # Memory per sequence: dense holds H n^2 floats of P more than streamed, and
        # Linformer H n k floats of Pbar (the workspace is the same code).
        d_minus_s = m[0, :, 0] - m[1, :, 0]
        want_p = np.array([2 * 64 * 64 * 4, 2 * 128 * 128 * 4], dtype=float)
        l_minus_s = m[2, 1, 0] - m[1, 1, 0]
        report("memory: dense - streamed = H n^2 floats", np.allclose(d_minus_s, want_p, rtol=0.05),
               f"{d_minus_s} vs {want_p}")
        report("memory: linformer - streamed = H n k floats",
               abs(l_minus_s - 2 * 128 * 16 * 4) <= 0.05 * 2 * 128 * 16 * 4, f"{l_minus_s}")
        fin = np.isfinite(t)
        report("budget recorded per point, no device memory on the CPU",
               np.all(b["budget"][()][fin] == cfg["memory_budget"]) and
               np.all(b["device_memory"][()][fin] == 0))
        mb, bt = b["max_batch"][()], b["batch"][()]
        report("batches", np.all(bt[np.isfinite(t)] >= 1) and np.all(mb[np.isfinite(t)] >= bt[np.isfinite(t)]))
        sg = float(b["sgemm_gflops"][()])
        share = b["attention_sgemm_share"][()]
        report("sgemm rate and shares", sg > 0 and np.allclose(share, b["attention_gflops"][()] / sg,
                                                               rtol=1e-12, equal_nan=True))
    md = open("r.md").read()
    report("markdown table", "## Time speed-up" in md and "| 64 |" in md and "| 128 |" in md and
           "## Memory saved" in md and "streamed" in md)
    report("markdown printed", "## Time speed-up" in stdout)
    report("markdown: '-' for k >= n", "| 64 | " in md and " - |" in md)

# ---- a budget too small for dense at n = 128 --------------------------------------
if ok:
    with h5py.File("r.h5", "r") as f:
        fixed = f["bench/fixed_memory"][()]
        mem = f["bench/memory"][()]
        scratch_bound = f["bench/peak_memory"][()]
    # Room for streamed and linformer at n = 128 with margin, not for dense's P.
    budget = int(fixed[0, 1, 0] + mem[1, 1, 0] + 0.5 * (mem[0, 1, 0] - mem[1, 1, 0]))
    ok2, _ = check_run("small budget", "s.h5", "--memory-budget", str(budget))
    if ok2:
        with h5py.File("s.h5", "r") as f:
            t = f["bench/time"][()]
            reason = f["bench/skip_reason"][()].astype(str)
            sp = f["bench/speedup"][()]
            report("budget: dense n=128 skipped with reason",
                   np.isnan(t[0, 1, 0]) and "does not fit" in reason[0, 1, 0] and
                   "budget" in reason[0, 1, 0], repr(reason[0, 1, 0]))
            report("budget: every skipped point has a reason, every measured none",
                   all((reason[i] != "") == bool(np.isnan(t[i])) for i in np.ndindex(t.shape)))
            report("budget: speedup NaN without dense", np.all(np.isnan(sp[1])))
            report("budget: recorded", f["config"].attrs["memory_budget"] == budget)
        md = open("s.md").read()
        report("budget: markdown says skipped", "skipped" in md)

# ---- --force ------------------------------------------------------------------------
rc, _, err = run(*TINY, "--out", "r.h5")
report("existing output refused", rc == 2 and "--force" in err and len(err.strip().splitlines()) == 1,
       err.strip())
rc, _, err = run(*TINY, "--out", "r.h5", "--force", "--n", "64", "--k", "16")
with h5py.File("r.h5", "r") as f:
    report("--force overwrites", rc == 0 and f["bench/time"].shape == (3, 1, 1),
           "" if rc == 0 else err)

# ---- bad flags: exit 2, one line, no file ---------------------------------------------
bad = [
    (["--n", "0"], "--n"),
    (["--n", "64,abc"], "--n"),
    (["--n", "64,64"], "twice"),
    (["--k", ""], "--k"),
    (["--k", "16,16"], "twice"),
    (["--device", "tpu"], "unknown device"),
    (["--heads", "3"], "not divisible"),
    (["--memory-budget", "0"], "--memory-budget"),
    (["--memory-budget", "12X"], "--memory-budget"),
    (["--repeats", "0"], "--repeats"),
    (["--threads", "-1"], "--threads"),
    (["--bogus"], "unknown"),
    (["extra"], "unexpected argument"),
]
for flags, needle in bad:
    out = "bad.h5"
    rc, _, err = run(*TINY, *flags, "--out", out)
    lines = err.strip().splitlines()
    good = rc == 2 and len(lines) == 1 and needle in lines[0] and not leftovers(out)
    report(f"bad flag {' '.join(flags)}", good,
           err.strip() if good else f"exit {rc}, stderr {err!r}, left {leftovers(out)}")
# ---- --device cuda ---------------------------------------------------------------------
rc, _, err = run(*TINY, "--device", "cuda", "--out", "cuda.h5")
if rc == 0:  # a build with nvcc on a machine with a GPU
    with h5py.File("cuda.h5", "r") as f:
        b = f["bench"]
        t, m = b["time"][()], b["memory"][()]
        report("cuda: device recorded", f["config"].attrs["device"] == "cuda" and
               "cuda_device" in f["config"].attrs, str(dict(f["config"].attrs)))
        measured = [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 0), (2, 1, 1)]
        report("cuda: measured points finite", all(np.isfinite(t[p]) and t[p] > 0 for p in measured))
        # Exact in lf_cuda_alloc's accounting (requested bytes; every buffer of a run is a
        # fixed size times the batch): dense - streamed = H n^2 floats, linformer - streamed
        # = H n k floats.
        report("cuda: memory dense - streamed = H n^2 floats",
               np.array_equal(m[0, :, 0] - m[1, :, 0], [2 * 64 * 64 * 4, 2 * 128 * 128 * 4]),
               str(m[0, :, 0] - m[1, :, 0]))
        report("cuda: memory linformer - streamed = H n k floats",
               m[2, 1, 0] - m[1, 1, 0] == 2 * 128 * 16 * 4, str(m[2, 1, 0] - m[1, 1, 0]))
        report("cuda: device memory seen", np.all(b["device_memory"][()][np.isfinite(t)] > 0))
else:
    lines = err.strip().splitlines()
    report("--device cuda without a GPU: one line, exit 2, no file",
           rc == 2 and len(lines) == 1 and ("no CUDA device" in lines[0] or
                                            "built without the CUDA encoder" in lines[0])
           and not leftovers("cuda.h5"), f"exit {rc}, stderr {err!r}, left {leftovers('cuda.h5')}")
rc, _, err = run(*TINY)
report("missing --out", rc == 2 and "--out" in err and len(err.strip().splitlines()) == 1,
       err.strip())

raise SystemExit(suite.finish())
