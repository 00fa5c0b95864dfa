"""cli_pretrain.py - bin/pretrain (DRAFT driver, synthetic batches) end to end: a short
run prints a log whose loss falls, and bad input gives one error line and exit 2."""
import sys

from cli_common import Suite

s = Suite("cli_pretrain", "pretrain")

small = ["--synthetic", "--seq-len", "32", "--layers", "2", "--dim", "32", "--heads", "2",
         "--vocab", "16", "--batch", "8", "--lr", "3e-3", "--threads", "1"]

# Training on the synthetic source: from ~log 16 = 2.77 to well below it in 150 steps
# (measured 0.73 dense, 0.18 Linformer layerwise k = 8; the floor is 0: every masked id
# is determined by the rest of its sequence).
for attn in (["--attention", "dense"],
             ["--attention", "linformer", "--k", "8", "--sharing", "layerwise"]):
    rc, out, err = s.run(*small, *attn, "--steps", "150", "--log-every", "50")
    rows = [l.split() for l in out.splitlines() if l and not l.startswith("#")]
    ok = rc == 0 and len(rows) == 3 and all(len(r) == 5 for r in rows)
    first = float(rows[0][1]) if ok else float("nan")
    last = float(rows[-1][1]) if ok else float("nan")
    s.report(f"learns ({attn[1]})", ok and last < 1.2 and last < first,
             f"loss at 50 steps {first:.3f}, at 150 {last:.3f}; rc {rc} {err.strip()}")

bad = [
    ([], "--synthetic"),
    (["--synthetic", "--attention", "sparse"], "--attention"),
    (["--synthetic", "--attention", "linformer", "--k", "100", "--seq-len", "64"], "exceeds"),
    (["--synthetic", "--attention", "linformer", "--projection", "conv", "--k", "5",
      "--seq-len", "64"], "divide"),
    (["--synthetic", "--attention", "linformer", "--sharing", "rows"], "sharing"),
    (["--synthetic", "--dim", "30", "--heads", "4"], "divisible"),
    (["--synthetic", "--dropout", "1.5"], "--dropout"),
    (["--synthetic", "--steps", "-3"], "--steps"),
    (["--synthetic", "--decay", "exp"], "decay"),
    (["--synthetic", "--bogus"], "unknown"),
]
for args, word in bad:
    rc, out, err = s.run(*args)
    lines = err.strip().splitlines()
    s.report(f"bad input {' '.join(args) or '(none)'}",
             rc == 2 and len(lines) == 1 and word in lines[0] and "error" in lines[0],
             f"rc {rc}: {err.strip()}")

sys.exit(s.finish())
