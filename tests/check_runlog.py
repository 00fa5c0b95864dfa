#!/usr/bin/env python3
"""check_runlog.py - reads a run log written by tests/test_runlog.c with h5py (no code
of the suite) and checks its layout and values: root attributes, /config, the
appendable columns (unlimited, chunked), descriptions and units, the step dimension
scales, perplexity = exp(loss).

usage: check_runlog.py LOG.h5 STEPS VAL_STEPS COMPLETE
  STEPS, VAL_STEPS: comma-separated expected steps; COMPLETE: 0 or 1.
The test writes train loss = 10 - 0.5 step, learning rate = 1e-3 step,
tokens/s = 1000 + step, validation loss = 2 + 0.01 step, masked tokens = 500 + step."""
import math
import sys

import h5py
import numpy as np


def main():
    path, steps, vsteps, complete = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    steps = [int(x) for x in steps.split(",") if x]
    vsteps = [int(x) for x in vsteps.split(",") if x]
    bad = []

    def want(what, ok):
        if not ok:
            bad.append(what)

    with h5py.File(path, "r") as f:
        a = f.attrs
        want("experiment", a["experiment"] == "pretrain")
        want("complete=%d" % complete, int(a["complete"]) == complete)
        want("parameter_count", int(a["parameter_count"]) == 1234567)
        want("distinct_projections", int(a["distinct_projections"]) == 12)
        want("config seq_len", int(f["config"].attrs["seq_len"]) == 512)
        want("config sharing", f["config"].attrs["sharing"] == "layerwise")
        for g in ("train", "val"):
            for name, ds in f[g].items():
                want("%s/%s description" % (g, name), len(ds.attrs["description"]) > 10)
                want("%s/%s unlimited" % (g, name), ds.maxshape == (None,) and ds.chunks is not None)
                if name != "step":
                    want("%s/%s step scale" % (g, name), ds.dims[0][0].name == "/%s/step" % g)
        want("train/loss units", f["train/loss"].attrs["units"] == "nats")
        want("tokens_per_s units", f["train/tokens_per_s"].attrs["units"] == "tokens/s")
        s = f["train/step"][()]
        want("train steps %s" % list(s), list(s) == steps and s.dtype == np.int64)
        st = np.array(steps, dtype=float)
        want("train loss", np.array_equal(f["train/loss"][()], 10 - 0.5 * st))
        want("learning rate", np.array_equal(f["train/learning_rate"][()], 1e-3 * st))
        want("tokens/s", np.array_equal(f["train/tokens_per_s"][()], 1000 + st))
        v = f["val/step"][()]
        want("val steps %s" % list(v), list(v) == vsteps)
        vl = f["val/loss"][()]
        want("val loss", np.array_equal(vl, 2 + 0.01 * np.array(vsteps, dtype=float)))
        want("perplexity", np.allclose(f["val/perplexity"][()], np.exp(vl), rtol=1e-15, atol=0))
        want("masked tokens", list(f["val/masked_tokens"][()]) == [500 + x for x in vsteps])
    for b in bad:
        print("check_runlog.py: %s: wrong" % b)
    print("check_runlog.py: %s: %d train rows, %d validation rows, complete=%d: %s"
          % (path, len(steps), len(vsteps), complete, "OK" if not bad else "MISMATCH"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
