#!/usr/bin/env python3
"""cli_pretrain.py - end-to-end tests of bin/pretrain on a tiny configuration (seconds):
the output layout and index, shard selection, resume after an interruption ending bit
for bit where an uninterrupted run ends, SIGINT, checkpoints that are corrupt or from
another configuration, and every bad flag or impossible combination (one error line,
exit status 2, nothing that looks finished left behind).

Run by tests/cli_pretrain.sh in a scratch directory with LF_BIN set. The corpus is
synthetic (seeded words), large enough for the fixed train/validation split (the
validation side needs 20 blocks of 16384 tokens).
"""
import glob
import math
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

from cli_common import Suite

suite = Suite("cli_pretrain", "pretrain")
report, run = suite.report, suite.run

rng = np.random.default_rng(7)
words = ["the", "lord", "and", "of", "unto", "he", "said", "land", "king", "people", "house",
         "son", "god", "day", "hand", "israel", "went", "came", "shall", "thee"]
text = " ".join(words[i] for i in rng.integers(0, len(words), 75000))
with open("corpus.txt", "w") as f:
    f.write(text[:360000])
with open("tiny.txt", "w") as f:
    f.write(text[:50000])

TINY = ["--corpus", "corpus.txt", "--seq-len", "32", "--layers", "1", "--dim", "16",
        "--heads", "2", "--batch", "4", "--val-seqs", "4", "--eval-every", "5",
        "--checkpoint-every", "4", "--threads", "2", "--quiet"]


def index_rows(d):
    rows = {}
    with open(os.path.join(d, "index.tsv")) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if not l.startswith("#")]
    head = lines[0]
    for l in lines[1:]:
        rows[l[0]] = dict(zip(head, l))
    return rows


def one_line_error(rc, err, want_rc=2):
    lines = [l for l in err.splitlines() if l.strip()]
    return rc == want_rc and len(lines) == 1 and "error" in lines[0], f"rc {rc}, stderr {err!r}"


# ---- layout and index ---------------------------------------------------------------
args = TINY + ["--k", "8,16", "--sharing", "none,kv", "--steps", "12"]
rc, out, err = run(*args, "--out", "full")
expect = ["n32_dense", "n32_k8_none", "n32_k8_kv", "n32_k16_none", "n32_k16_kv"]
files = sorted(os.listdir("full")) if os.path.isdir("full") else []
want = sorted(["index.tsv"] + [p + ".h5" for p in expect] + [p + ".ckpt" for p in expect])
report("layout: one log and checkpoint per point plus index.tsv, nothing else", rc == 0
       and files == want, f"rc {rc} {err[-300:]} files {files}")
rows = index_rows("full") if rc == 0 else {}
report("index lists every point complete with its final perplexity",
       sorted(rows) == sorted(expect) and all(r["state"] == "complete" and r["steps_done"] == "12"
                                                for r in rows.values()), str(rows)[:300])
ok, detail = True, ""
for p in expect:
    with h5py.File(f"full/{p}.h5", "r") as h:
        steps = h["train/step"][:]
        vs, vl, vp = h["val/step"][:], h["val/loss"][:], h["val/perplexity"][:]
        cfg = h["config"].attrs
        ok &= int(h.attrs["complete"]) == 1 and list(steps) == list(range(1, 13))
        ok &= list(vs) == [0, 5, 10, 12] and np.allclose(vp, np.exp(vl), rtol=1e-12)
        ok &= int(h.attrs["parameter_count"]) > 0 and int(cfg["threads"]) == 2
        ok &= int(cfg["seed"]) == 0 and int(cfg["seq_len"]) == 32
        ok &= bool(np.all(np.isfinite(h["train/loss"][:])))
        lr = h["train/learning_rate"][:]
        ok &= lr[0] > 0 and lr[-1] < lr[1]  # warm-up then decay
        ok &= abs(float(rows[p]["final_val_ppl"]) - vp[-1]) <= 1e-5 * vp[-1]
        dp = int(h.attrs["distinct_projections"])
        want_dp = 0 if "dense" in p else (4 if "none" in p else 1)  # none: 2 L H; kv: L
        ok &= dp == want_dp
        if not ok and not detail:
            detail = f"{p}: steps {steps} val {vs} dp {dp}"
report("logs: complete, steps 1..N, validation at 0/every M/end, perplexity = exp(loss), "
       "config, distinct projections", ok, detail)
with h5py.File("full/n32_dense.h5", "r") as h:
    v = h["val/loss"][:]
report("training lowers the validation loss at every evaluation", bool(np.all(np.diff(v) < 0))
       and v[-1] < v[0] - 0.05, f"{v}")

# ---- --list and --shard -------------------------------------------------------------
sets = []
for i in range(3):
    rc, out, err = run(*args, "--out", "unused", "--shard", f"{i}/3", "--list")
    sets.append([l.split("\t")[1] for l in out.splitlines()])
flat = sorted(sum(sets, []))
report("--shard i/3: disjoint, every 3rd point, together all points",
       flat == sorted(expect) and sets[0] == [expect[0], expect[3]] and sets[1] == [expect[1],
       expect[4]] and sets[2] == [expect[2]] and not os.path.exists("unused"), f"{sets}")
rc, out, err = run(*args, "--out", "sh", "--shard", "1/3")
made = sorted(os.path.basename(p)[:-3] for p in glob.glob("sh/*.h5"))
rows = index_rows("sh") if rc == 0 else {}
report("--shard 1/3 trains only its points; the index shows the others pending",
       rc == 0 and made == sorted(sets[1]) and all(
           rows[p]["state"] == ("complete" if p in sets[1] else "pending") for p in expect),
       f"rc {rc} {err} {made} {rows}")
rc, out, err = run(*args, "--out", "sh", "--shard", "0/3")
rows = index_rows("sh") if rc == 0 else {}
report("a second shard into the same directory updates the shared index",
       rc == 0 and sum(r["state"] == "complete" for r in rows.values()) == 4, f"{rows}")
with h5py.File("sh/n32_k8_none.h5", "r") as a, h5py.File("full/n32_k8_none.h5", "r") as b:
    same = all(np.array_equal(a[d][:], b[d][:]) for d in ("train/loss", "val/loss"))
report("a point trained in a shard equals the same point in the full sweep", same)


# ---- interruption and resume: bit-identical -----------------------------------------
def compare(d1, d2, points):
    for p in points:
        c1 = open(f"{d1}/{p}.ckpt", "rb").read()
        c2 = open(f"{d2}/{p}.ckpt", "rb").read()
        if c1 != c2:
            return False, f"{p}: checkpoints differ"
        with h5py.File(f"{d1}/{p}.h5", "r") as a, h5py.File(f"{d2}/{p}.h5", "r") as b:
            for d in ("train/step", "train/loss", "train/learning_rate", "val/step", "val/loss",
                      "val/perplexity", "val/masked_tokens"):
                if not np.array_equal(a[d][:], b[d][:]):
                    return False, f"{p}: {d} differs"
            if int(b.attrs["complete"]) != 1:
                return False, f"{p}: not complete"
    return True, ""


rargs = TINY + ["--k", "8", "--sharing", "headwise", "--steps", "20", "--dropout", "0.1"]
rc0, _, err0 = run(*rargs, "--out", "r_full")
rc, out, err = run(*rargs, "--out", "r_int", "--stop-after", "10")
with h5py.File("r_int/n32_dense.h5", "r") as h:
    unfinished = int(h.attrs["complete"]) == 0 and h["train/step"][-1] == 10
rows = index_rows("r_int")
report("--stop-after 10 (as SIGINT): exit 130, log unfinished at step 10, index says interrupted",
       rc0 == 0 and rc == 130 and unfinished and rows["n32_dense"]["state"] == "interrupted"
       and rows["n32_k8_headwise"]["state"] == "pending", f"rc {rc} {err} {rows}")
rc, out, err = run(*rargs, "--out", "r_int", "--resume")
ok, detail = compare("r_full", "r_int", ["n32_dense", "n32_k8_headwise"])
report("run 2x = run x, interrupt, resume x: final weights, Adam state and log bit-identical "
       "(dropout on)", rc == 0 and ok, f"rc {rc} {err} {detail}")
with h5py.File("r_int/n32_dense.h5", "r") as h:
    report("the resumed log counts its resume", int(h.attrs["resumes"]) == 1)
rc, out, err = run(*rargs, "--out", "r_int", "--resume")
report("--resume of a finished sweep skips every point", rc == 0 and "skipped" not in err
       and compare("r_full", "r_int", ["n32_dense"])[0], err)
rc, out, err = run(*rargs, "--threads", "1", "--out", "r_t1")
ok, detail = compare("r_full", "r_t1", ["n32_dense", "n32_k8_headwise"])
report("1 thread ends bit-identical to 2 threads", rc == 0 and ok, detail)

# SIGINT while training: checkpoint, exit 130, log complete = 0; resume ends identical.
# Long enough (1500 updates, about a second on an idle core) that the signal, sent as
# soon as the first periodic checkpoint appears, lands in the middle of the first point.
sargs = TINY + ["--k", "8", "--sharing", "none", "--steps", "1500", "--checkpoint-every", "300",
                "--eval-every", "300"]
rc0, _, err0 = run(*sargs, "--out", "s_full")
p = subprocess.Popen([suite.bin, *sargs, "--out", "s_int"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
t0 = time.time()
# The first periodic checkpoint (step 300) says the run is well under way.
while time.time() - t0 < 120 and not os.path.exists("s_int/n32_dense.ckpt"):
    time.sleep(0.002)
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=120)
states = index_rows("s_int")
inter = [k for k, r in states.items() if r["state"] == "interrupted"]
ok = p.returncode == 130 and len(inter) == 1
if ok:
    with h5py.File(f"s_int/{inter[0]}.h5", "r") as h:
        ok = int(h.attrs["complete"]) == 0 and os.path.exists(f"s_int/{inter[0]}.ckpt")
        stopped = int(h["train/step"][-1])
        ok = ok and 300 <= stopped < 1500
report("SIGINT: exit 130, checkpoint written, log left with complete = 0, index interrupted",
       ok and "resume" in err, f"rc {p.returncode} {err!r} {states}")
rc, out, err = run(*sargs, "--out", "s_int", "--resume")
ok, detail = compare("s_full", "s_int", ["n32_dense", "n32_k8_none"])
report(f"SIGINT at step {stopped if inter else '?'} then --resume: bit-identical to the "
       "uninterrupted run", rc0 == 0 and rc == 0 and ok, f"rc {rc} {err} {detail}")

# ---- checkpoints that must be refused -----------------------------------------------
def interrupted_copy(name):
    shutil.rmtree(name, ignore_errors=True)
    shutil.copytree("r_int", name)
    rc, _, err = run(*rargs, "--out", name, "--force", "--stop-after", "10")
    return rc == 130


cases = {
    "flipped byte": lambda b: b[:200] + bytes([b[200] ^ 1]) + b[201:],
    "truncated": lambda b: b[:len(b) // 2],
    "not a checkpoint": lambda b: b"hello world, certainly not a checkpoint" * 4,
    "empty": lambda b: b"",
}
for what, damage in cases.items():
    ok = interrupted_copy("c_bad")
    path = "c_bad/n32_dense.ckpt"
    data = open(path, "rb").read()
    open(path, "wb").write(damage(data))
    before = open("c_bad/n32_dense.h5", "rb").read()
    rc, out, err = run(*rargs, "--out", "c_bad", "--resume")
    good, detail = one_line_error(rc, err)
    with h5py.File("c_bad/n32_dense.h5", "r") as h:
        unfinished = int(h.attrs["complete"]) == 0
    report(f"corrupt checkpoint ({what}) refused: one line naming the file, exit 2, log "
           "untouched and unfinished", ok and good and "n32_dense.ckpt" in err and unfinished
           and open("c_bad/n32_dense.h5", "rb").read() == before, detail)

# A checkpoint of another point (copied over): a different configuration.
ok = interrupted_copy("c_other")
run(*rargs, "--out", "c_other", "--resume", "--stop-after", "12")
shutil.copy("c_other/n32_k8_headwise.ckpt", "c_other/n32_dense.ckpt")
rc, out, err = run(*rargs, "--out", "c_other", "--resume")
good, detail = one_line_error(rc, err)
report("checkpoint of another configuration refused, naming the setting", good
       and "different configuration" in err and "point" in err, detail)

# Resuming with other settings (log fingerprint differs).
rc, out, err = run(*(rargs[:-2] + ["--dropout", "0.2"]), "--out", "r_int", "--resume")
good, detail = one_line_error(rc, err)
report("--resume with other settings refused", good and "other settings" in err, detail)

# ---- bad flags and impossible combinations --------------------------------------------
bad = [
    (["--k", "64"], "exceeds"),                                 # k > n = 32
    (["--nonuniform", "8,4"], "one k per layer"),               # 1 layer
    (["--nonuniform", "40"], "exceeds"),
    (["--layers", "2", "--nonuniform", "8,4", "--projection", "max", "--sharing", "layerwise"],
     "equal k"),
    (["--layers", "2", "--nonuniform", "8,4", "--projection", "conv", "--sharing", "layerwise",
      "--k", "8"], None),
    (["--projection", "conv", "--k", "7"], None),               # conv needs k | n
    (["--shard", "3/3"], "shard"),
    (["--shard", "x"], "shard"),
    (["--shard", "1/0"], "shard"),
    (["--sharing", "none,everything"], "sharing"),
    (["--projection", "fourier"], "projection"),
    (["--proj-init", "zeros"], "proj-init"),
    (["--proj-init", "pool", "--projection", "mean"], "proj-init"),
    (["--proj-lr-scale", "0"], "proj-lr-scale"),
    (["--proj-lr-scale", "0.5", "--projection", "max"], "proj-lr-scale"),
    (["--schedule", "constant"], "schedule"),
    (["--steps", "0"], "steps"),
    (["--steps", "10", "--warmup", "11"], "warmup"),
    (["--lr", "abc"], "lr"),
    (["--dim", "15"], "divisible"),
    (["--resume", "--force"], "exclude"),
    (["--bogus"], "bogus"),
    (["--seq-len", "2"], "seq-len"),
]
for extra, word in bad:
    shutil.rmtree("b_out", ignore_errors=True)
    rc, out, err = run(*TINY, "--steps", "5", "--k", "8", *extra, "--out", "b_out")
    good, detail = one_line_error(rc, err)
    report(f"rejected: {' '.join(extra)}", good and (word is None or word in err)
           and not os.path.exists("b_out"), detail)
rc, out, err = run("--out", "b_out", "--steps", "5")
report("missing --corpus rejected", one_line_error(rc, err)[0] and not os.path.exists("b_out"),
       err)
rc, out, err = run(*TINY, "--steps", "5", "--k", "8", "--out", "b_out", "--corpus", "tiny.txt")
report("corpus too small: one line with the token counts, exit 2, nothing written",
       one_line_error(rc, err)[0] and "too small" in err and not os.path.exists("b_out"), err)
rc, out, err = run(*TINY, "--steps", "5", "--k", "8", "--out", "b_out", "--corpus", "nope.txt")
report("missing corpus file rejected", one_line_error(rc, err)[0], err)
rc, out, err = run(*args, "--out", "full")
report("existing logs without --resume or --force rejected", one_line_error(rc, err)[0]
       and "--resume" in err, err)
# Nonuniform k with layerwise sharing of a linear projection is defined: one shared
# matrix with the largest k, each layer uses its first k rows.
rc, out, err = run(*TINY, "--steps", "3", "--layers", "2", "--k", "8", "--nonuniform", "16,8",
                   "--sharing", "layerwise", "--out", "nu")
with h5py.File("nu/n32_nu16-8_layerwise.h5", "r") as h:
    ok = int(h.attrs["complete"]) == 1 and int(h.attrs["distinct_projections"]) == 1
report("nonuniform k with layerwise sharing (linear): one shared projection, trains", rc == 0
       and ok, err)

# ---- --proj-init pool: learned linear projections that start as mean pooling -----------
rc, out, err = run(*TINY, "--steps", "4", "--k", "8", "--proj-init", "pool", "--out", "pi")
ok, detail = rc == 0, f"rc {rc} {err[-300:]}"
if ok:
    with h5py.File("pi/n32_k8_none.h5", "r") as h, h5py.File("pi/n32_dense.h5", "r") as d:
        fp = h["config"].attrs["fingerprint"]
        fp = fp.decode() if isinstance(fp, bytes) else fp
        pi = h["config"].attrs["proj_init"]
        pd = d["config"].attrs["proj_init"]
        ok = "proj_init=pool" in fp and pi in ("pool", b"pool") and pd in ("-", b"-")
        ok &= int(h.attrs["complete"]) == 1
        detail = f"proj_init {pi!r} (dense {pd!r}), fingerprint {fp!r}"
report("--proj-init pool: trains, recorded in /config and the fingerprint (dense: '-')", ok,
       detail)
rc, out, err = run(*TINY, "--steps", "4", "--k", "8", "--resume", "--out", "pi")
report("--resume of a --proj-init pool run without the flag refused",
       one_line_error(rc, err)[0] and "other settings" in err, err)
# --proj-lr-scale: recorded; a run with scale 1 is the default run, bit for bit
rc, out, err = run(*TINY, "--steps", "4", "--k", "8", "--proj-lr-scale", "0.25", "--out", "plr")
rc1, out1, err1 = run(*TINY, "--steps", "4", "--k", "8", "--proj-lr-scale", "1", "--out", "plr1")
rc2, out2, err2 = run(*TINY, "--steps", "4", "--k", "8", "--out", "plr0")
ok, detail = rc == 0 and rc1 == 0 and rc2 == 0, f"rc {rc} {rc1} {rc2} {err[-200:]}"
if ok:
    with h5py.File("plr/n32_k8_none.h5", "r") as h:
        fp = h["config"].attrs["fingerprint"]
        fp = fp.decode() if isinstance(fp, bytes) else fp
        ok = "proj_lr_scale=0.25" in fp and float(h["config"].attrs["proj_lr_scale"]) == 0.25
        detail = fp
    with open("plr1/n32_k8_none.ckpt", "rb") as f1, open("plr0/n32_k8_none.ckpt", "rb") as f0, \
            open("plr/n32_k8_none.ckpt", "rb") as f2:
        c1, c0, c2 = f1.read(), f0.read(), f2.read()
    ok &= c1 == c0 and c2 != c0
report("--proj-lr-scale: in /config and the fingerprint; scale 1 gives the default run's "
       "checkpoint byte for byte, 0.25 another", ok, detail)

# ---- --compact-vocab: the model's vocabulary is the corpus's tokens -------------------
# corpus.txt is 20 whole words of BERT's vocabulary: the compact vocabulary is their ids
# and the 5 special tokens, in the tokenizer's order (checked against vocab.txt here).
VOCAB = os.path.join(os.environ.get("LF_REPO", "."), "tests", "data", "vocab_minilm.txt")
with open(VOCAB, encoding="utf-8") as f:
    vid = {w.rstrip("\n"): i for i, w in enumerate(f)}
want_map = sorted({vid[w] for w in words} | {vid[t] for t in
                  ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")})
# WordPiece makes one token per word: the validation split needs 311,297 tokens
with open("corpus_wp.txt", "w") as f:
    f.write(" ".join(words[i] for i in rng.integers(0, len(words), 330000)))
cv = ["--steps", "6", "--k", "8", "--vocab", VOCAB, "--corpus", "corpus_wp.txt"]
rc, out, err = run(*TINY, *cv, "--compact-vocab", "--out", "cv")
ok, detail = rc == 0, f"rc {rc} {err[-300:]}"
if ok:
    for p in ("n32_dense", "n32_k8_none"):
        with h5py.File(f"cv/{p}.h5", "r") as h:
            cfg = h["config"].attrs
            fp = cfg["fingerprint"]
            fp = fp.decode() if isinstance(fp, bytes) else fp
            vm = list(h["vocab_map"][:])
            ok &= int(cfg["vocab_size"]) == len(want_map) and int(cfg["compact_vocab"]) == 1
            ok &= vm == want_map and f"compact_vocab={len(want_map)}" in fp
            ok &= int(h.attrs["complete"]) == 1
            detail = f"{p}: vocab_size {cfg['vocab_size']} map {vm[:8]} want {want_map[:8]}"
report("--compact-vocab: vocab_size and /vocab_map are the corpus's tokens + specials, "
       "in the fingerprint", ok, detail)
rc, out, err = run(*TINY, *cv, "--out", "cv_full")
ok = rc == 0
if ok:
    with h5py.File("cv_full/n32_dense.h5", "r") as h, h5py.File("cv/n32_dense.h5", "r") as c:
        ok = int(h["config"].attrs["vocab_size"]) == 30522 and "vocab_map" not in h
        ok &= int(h.attrs["parameter_count"]) - int(c.attrs["parameter_count"]) == \
            (30522 - len(want_map)) * 17  # token embedding row (16) + output bias, per id
report("without --compact-vocab: the full WordPiece vocabulary (parameter count differs by "
       "17 per dropped id)", ok, err[-300:])
rc, out, err = run(*TINY, *cv, "--resume", "--out", "cv")
report("--resume of a compact-vocabulary run without --compact-vocab refused",
       one_line_error(rc, err)[0] and "other settings" in err, err)

# --device: refused values; cuda-emulate (the CUDA code path on the host, when the build has
# CUDA) trains the same trajectory as the CPU within float rounding: the same steps in other
# summation orders (test_cuda_mlm bounds one step at 1e-5 relative in the loss); over 6
# updates the losses stay within 1e-4 relative, a wrong gradient anywhere moves them by more.
rc, out, err = run(*TINY, "--steps", "2", "--device", "gpu", "--out", "dev_bad")
report("--device gpu refused", one_line_error(rc, err)[0] and "--device" in err and
       not os.path.exists("dev_bad"), err)
rc, out, err = run(*TINY, "--steps", "6", "--k", "8", "--device", "cuda-emulate", "--out", "dev_emu")
if rc == 2 and "built without CUDA" in err:
    print("SKIPPED --device cuda-emulate: this build has no CUDA (no nvcc)")
else:
    rc1, out1, err1 = run(*TINY, "--steps", "6", "--k", "8", "--out", "dev_cpu")
    ok, detail = rc == 0 and rc1 == 0, f"rc {rc} {rc1} {err[-300:]} {err1[-300:]}"
    if ok:
        for p in ("n32_dense", "n32_k8_none"):
            with h5py.File(f"dev_emu/{p}.h5", "r") as e, h5py.File(f"dev_cpu/{p}.h5", "r") as c:
                le, lc = e["train/loss"][:], c["train/loss"][:]
                rel = float(np.max(np.abs(le - lc) / np.abs(lc)))
                dev = e["config"].attrs["device"]
                dev = dev.decode() if isinstance(dev, bytes) else dev
                fp = e["config"].attrs["fingerprint"]
                fp = fp.decode() if isinstance(fp, bytes) else fp
                fpc = c["config"].attrs["fingerprint"]
                fpc = fpc.decode() if isinstance(fpc, bytes) else fpc
                ok &= len(le) == 6 and rel <= 1e-4 and dev == "cuda-emulate"
                ok &= "device=cuda-emulate" in fp and "device=" not in fpc
                ok &= int(e.attrs["complete"]) == 1
                detail += f" {p}: max rel. loss difference {rel:.2g}"
    report("--device cuda-emulate: the CPU's losses within 1e-4 relative over 6 updates, "
           "device in /config and the fingerprint", ok, detail)
    rc, out, err = run(*TINY, "--steps", "6", "--k", "8", "--resume", "--out", "dev_emu")
    report("--resume of a cuda-emulate run on the CPU refused",
           one_line_error(rc, err)[0] and "other settings" in err, err)
    for extra, want in ((["--dropout", "0.1"], "dropout is not on the GPU"),
                        (["--projection", "conv"], "conv projections are not on the GPU")):
        rc, out, err = run(*TINY, "--steps", "2", "--k", "8", "--device", "cuda-emulate", *extra,
                           "--out", "dev_refused")
        report(f"--device cuda-emulate {' '.join(extra)} refused before anything is written",
               one_line_error(rc, err)[0] and want in err and not os.path.exists("dev_refused"),
               err)

left = glob.glob("**/*.tmp.*", recursive=True)
report("no temporary files left anywhere", not left, f"{left}")
raise SystemExit(suite.finish())
