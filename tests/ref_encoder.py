#!/usr/bin/python3
"""ref_encoder.py - golden values for the encoder forward (core/encoder.c, checked by
tests/test_encoder.c), from an independent NumPy float64 implementation of BERT.

The forward below is written from the BERT definition (Devlin et al. 2019; Hugging
Face's modeling_bert.py / modeling_roberta.py for the details: post-LN, token type 0,
RoBERTa's position ids, the additive finfo.min attention mask), not from the C code.
It reads weights straight from the safetensors bytes (8-byte little-endian header
length, JSON header, raw buffer) with NumPy only.

It writes, under tests/data/:
  encoder_tiny.safetensors, encoder_tiny_config.json, encoder_tiny_vocab.txt
      a random BERT (2 layers, 4 heads, hidden 32, intermediate 64, vocab 100, 64
      positions, exact GELU, eps 1e-12) under the "bert." prefix, with the word
      embeddings stored as F16 and two matrices as BF16 (the forward uses the
      rounded values, so they exercise the loader's conversion), plus a pooler and a
      position_ids I64 buffer that the loader must ignore;
  encoder_tiny_roberta.safetensors, encoder_tiny_roberta_config.json
      a random RoBERTa (pad 1, 66 positions, tanh GELU "gelu_new", eps 1e-5, one
      token type) under "roberta.", with an lm_head tensor to ignore;
  encoder_tiny_golden.safetensors
      for each model, cases a (2 x 16 tokens), b (3 x 16, lengths 16/11/5 padded
      with the pad id and masked) and c (1 x 64, every position): ids, mask, final
      hidden states (B, n, C) and every P (B, L, H, n, n) (c: hidden only);
  encoder_minilm_golden.safetensors   (only when data/all-MiniLM-L6-v2 exists)
      four sentences (ids hard-coded below, from core/tokenizer.c and re-derived here
      by a small ASCII WordPiece) run one at a time unpadded: the hidden states of
      their tokens, the mean-pooled normalized embeddings (sentence-transformers),
      rows 0, 1 and last of P in layers 0 and 5 for every head; and one 512-token
      sequence (the sentences' ids repeated): 8 hidden rows and 3 rows of P in
      layers 0 and 5.
Golden tensors are float32 (rounding a float64 value to float32 adds at most 6e-8
relative, far below the tests' tolerances).

Cross-check of this reference against PyTorch: sentence-transformers' documentation
(sbert.net, "Usage") prints the cosine similarities of all-MiniLM-L6-v2 embeddings of
three sentences as [[1, 0.6660, 0.1046], [0.6660, 1, 0.1411], [0.1046, 0.1411, 1]];
the mean-pooled embeddings computed here must reproduce them to the 4 printed
decimals, or the script stops.

Usage (Debian's python3 with numpy; the pyenv python3 on PATH has no numpy):
    /usr/bin/python3 tests/ref_encoder.py            write the files
    /usr/bin/python3 tests/ref_encoder.py --check    recompute and compare with them
"""
import argparse
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
MINILM = os.path.join(REPO, "data", "all-MiniLM-L6-v2")

# ---- safetensors -----------------------------------------------------------------

NP_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even (no NaNs here)."""
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def st_write(path, tensors, metadata=None):
    """tensors: list of (name, dtype, array). Data in list order, header padded to 8."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, arr in tensors:
        arr = np.asarray(arr)
        if dtype == "BF16":
            raw = bf16_bits(arr).tobytes()
        else:
            raw = np.ascontiguousarray(arr, dtype=NP_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def st_read(path):
    """name -> ndarray (floats widened to float64), straight from the bytes."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = blob[base + b:base + e]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            arr = np.frombuffer(raw, NP_DTYPES[info["dtype"]])
        arr = arr.reshape(shape)
        out[name] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr.copy()
    return out


# ---- the BERT forward, float64 ---------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x, act):
    if act in ("gelu", "gelu_python"):
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if act in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ValueError(act)


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def linear(x, W, name):
    """torch.nn.Linear: y = x W^T + b, W stored [out, in]."""
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def bert_forward(W, cfg, ids, mask=None):
    """ids [B, n] -> hidden [B, n, C], probs [B, L, H, n, n]."""
    ids = np.asarray(ids)
    B, n = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D = C // H
    eps = cfg["layer_norm_eps"]
    roberta = cfg["model_type"] in ("roberta", "xlm-roberta")
    pad = cfg["pad_token_id"]
    pfx = next(p for p in ("", "bert.", "roberta.")
               if p + "embeddings.word_embeddings.weight" in W)
    Wp = {k[len(pfx):]: v for k, v in W.items() if k.startswith(pfx)}
    if mask is None:
        mask = np.ones((B, n), dtype=np.uint8)

    if roberta:  # modeling_roberta.create_position_ids_from_input_ids
        real = (ids != pad).astype(np.int64)
        positions = np.cumsum(real, axis=1) * real + pad
    else:
        positions = np.broadcast_to(np.arange(n), (B, n))
    x = (Wp["embeddings.word_embeddings.weight"][ids]
         + Wp["embeddings.token_type_embeddings.weight"][0]
         + Wp["embeddings.position_embeddings.weight"][positions])
    x = layer_norm(x, Wp["embeddings.LayerNorm.weight"], Wp["embeddings.LayerNorm.bias"], eps)

    # get_extended_attention_mask: (1 - mask) * finfo(float32).min added to the scores
    additive = (1.0 - mask[:, None, None, :].astype(np.float64)) * np.finfo(np.float32).min
    all_probs = []
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def heads(t):
            return t.reshape(B, n, H, D).transpose(0, 2, 1, 3)

        q = heads(linear(x, Wp, p + "attention.self.query"))
        k = heads(linear(x, Wp, p + "attention.self.key"))
        v = heads(linear(x, Wp, p + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D) + additive
        scores -= scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        probs = e / e.sum(axis=-1, keepdims=True)
        all_probs.append(probs)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(B, n, C)
        x = layer_norm(linear(ctx, Wp, p + "attention.output.dense") + x,
                       Wp[p + "attention.output.LayerNorm.weight"],
                       Wp[p + "attention.output.LayerNorm.bias"], eps)
        inter = gelu(linear(x, Wp, p + "intermediate.dense"), cfg["hidden_act"])
        x = layer_norm(linear(inter, Wp, p + "output.dense") + x,
                       Wp[p + "output.LayerNorm.weight"], Wp[p + "output.LayerNorm.bias"], eps)
    return x, np.stack(all_probs, axis=1)


# ---- tiny random models ------------------------------------------------------------

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, type_vocab_size=2)


def tiny_config(roberta):
    cfg = dict(TINY)
    cfg.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
               initializer_range=0.02, position_embedding_type="absolute")
    if roberta:
        cfg.update(architectures=["RobertaModel"], model_type="roberta", pad_token_id=1,
                   bos_token_id=0, eos_token_id=2, max_position_embeddings=66,
                   type_vocab_size=1, layer_norm_eps=1e-5, hidden_act="gelu_new")
    else:
        cfg.update(architectures=["BertModel"], model_type="bert", pad_token_id=0,
                   max_position_embeddings=64, layer_norm_eps=1e-12, hidden_act="gelu")
    return cfg


def tiny_tensors(cfg, seed, prefix, low_precision):
    """Random weights scaled so that activations are O(1) and attention is peaked but
    not saturated (query/key weights larger than BERT's 0.02 init)."""
    rng = np.random.default_rng(seed)
    V, C, I = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"]
    P, T = cfg["max_position_embeddings"], cfg["type_vocab_size"]

    def mat(rows, cols, scale):
        return rng.normal(0.0, scale, (rows, cols)).astype(np.float32)

    def vec(size, center=0.0, scale=0.1):
        return (center + rng.normal(0.0, scale, size)).astype(np.float32)

    t = []
    t.append(("embeddings.word_embeddings.weight", "F16" if low_precision else "F32",
              mat(V, C, 1.0)))
    t.append(("embeddings.position_embeddings.weight", "F32", mat(P, C, 0.5)))
    t.append(("embeddings.token_type_embeddings.weight", "F32", mat(T, C, 0.5)))
    t.append(("embeddings.LayerNorm.weight", "F32", vec(C, 1.0)))
    t.append(("embeddings.LayerNorm.bias", "F32", vec(C)))
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for name, scale in (("query", 0.35), ("key", 0.35), ("value", C ** -0.5)):
            dt = "BF16" if (low_precision and layer == 0 and name == "key") else "F32"
            t.append((p + f"attention.self.{name}.weight", dt, mat(C, C, scale)))
            t.append((p + f"attention.self.{name}.bias", "F32", vec(C)))
        t.append((p + "attention.output.dense.weight", "F32", mat(C, C, C ** -0.5)))
        t.append((p + "attention.output.dense.bias", "F32", vec(C)))
        t.append((p + "attention.output.LayerNorm.weight", "F32", vec(C, 1.0)))
        t.append((p + "attention.output.LayerNorm.bias", "F32", vec(C)))
        dt = "BF16" if (low_precision and layer == 1) else "F32"
        t.append((p + "intermediate.dense.weight", dt, mat(I, C, C ** -0.5)))
        t.append((p + "intermediate.dense.bias", "F32", vec(I)))
        t.append((p + "output.dense.weight", "F32", mat(C, I, I ** -0.5)))
        t.append((p + "output.dense.bias", "F32", vec(C)))
        t.append((p + "output.LayerNorm.weight", "F32", vec(C, 1.0)))
        t.append((p + "output.LayerNorm.bias", "F32", vec(C)))
    t = [(prefix + name, dt, arr) for name, dt, arr in t]
    return t, rng


def tiny_cases(cfg, rng):
    """a: 2 x 16 full; b: 3 x 16 with lengths 16, 11, 5 padded; c: 1 x max length."""
    V = cfg["vocab_size"]
    if cfg["model_type"] == "bert":
        cls, sep, pad, first = 2, 3, 0, 5
        nmax = cfg["max_position_embeddings"]
    else:
        cls, sep, pad, first = 0, 2, 1, 3
        nmax = cfg["max_position_embeddings"] - cfg["pad_token_id"] - 1

    def seq(length, n):
        body = rng.integers(first, V, size=length - 2)
        ids = np.concatenate([[cls], body, [sep], np.full(n - length, pad)]).astype(np.int32)
        mask = np.concatenate([np.ones(length), np.zeros(n - length)]).astype(np.uint8)
        return ids, mask

    cases = {}
    a = [seq(16, 16) for _ in range(2)]
    cases["a"] = (np.stack([s[0] for s in a]), None)
    b = [seq(length, 16) for length in (16, 11, 5)]
    cases["b"] = (np.stack([s[0] for s in b]), np.stack([s[1] for s in b]))
    cases["c"] = (seq(nmax, nmax)[0][None, :], None)
    return cases


def write_tiny(out_dir):
    golden = []
    for roberta in (False, True):
        cfg = tiny_config(roberta)
        stem = "encoder_tiny_roberta" if roberta else "encoder_tiny"
        prefix = "roberta." if roberta else "bert."
        tensors, rng = tiny_tensors(cfg, seed=20200608 + roberta, prefix=prefix,
                                    low_precision=not roberta)
        C, P = cfg["hidden_size"], cfg["max_position_embeddings"]
        if roberta:
            tensors.append(("lm_head.bias", "F32", np.zeros(cfg["vocab_size"], np.float32)))
        else:
            tensors.append(("bert.embeddings.position_ids", "I64",
                            np.arange(P, dtype=np.int64)[None, :]))
            tensors.append(("bert.pooler.dense.weight", "F32",
                            rng.normal(0, 0.1, (C, C)).astype(np.float32)))
            tensors.append(("bert.pooler.dense.bias", "F32", np.zeros(C, np.float32)))
        st_path = os.path.join(out_dir, stem + ".safetensors")
        st_write(st_path, tensors, metadata={"format": "pt"})
        with open(os.path.join(out_dir, stem + "_config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        if not roberta:
            words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            words += [f"w{i:02d}" for i in range(cfg["vocab_size"] - len(words))]
            with open(os.path.join(out_dir, stem + "_vocab.txt"), "w") as f:
                f.write("\n".join(words) + "\n")
        # The forward reads the file back: F16/BF16 values are the rounded ones.
        W = st_read(st_path)
        key = "roberta." if roberta else ""
        for case, (ids, mask) in tiny_cases(cfg, rng).items():
            hidden, probs = bert_forward(W, cfg, ids, mask)
            golden.append((f"{key}{case}.ids", "I32", ids))
            if mask is not None:
                golden.append((f"{key}{case}.mask", "U8", mask))
            golden.append((f"{key}{case}.hidden", "F32", hidden))
            if case != "c":
                golden.append((f"{key}{case}.probs", "F32", probs))
            print(f"{stem} case {case}: ids {ids.shape}, |hidden| max {abs(hidden).max():.3f}, "
                  f"P max {probs.max():.3f}")
    st_write(os.path.join(out_dir, "encoder_tiny_golden.safetensors"), golden,
             metadata={"source": "tests/ref_encoder.py"})


# ---- all-MiniLM-L6-v2 ----------------------------------------------------------------

# Ids from core/tokenizer.c (the suite's WordPiece) on the vocab of all-MiniLM-L6-v2,
# without [CLS]/[SEP]; re-derived below by ascii_wordpiece as a check.
SENTENCES = [
    ("The weather is lovely today.", [1996, 4633, 2003, 8403, 2651, 1012]),
    ("It's so sunny outside!", [2009, 1005, 1055, 2061, 11559, 2648, 999]),
    ("He drove to the stadium.", [2002, 5225, 2000, 1996, 3346, 1012]),
    ("Linformer approximates self-attention by a low-rank matrix, reducing the complexity "
     "from O(n^2) to O(n).",
     [11409, 14192, 2121, 15796, 2015, 2969, 1011, 3086, 2011, 1037, 2659, 1011, 4635, 8185,
      1010, 8161, 1996, 11619, 2013, 1051, 1006, 1050, 1034, 1016, 1007, 2000, 1051, 1006, 1050,
      1007, 1012]),
]
CLS, SEP = 101, 102
# sbert.net, "Usage" of SentenceTransformer("all-MiniLM-L6-v2") on the first three.
SBERT_SIMILARITY = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411],
                             [0.1046, 0.1411, 1.0]])
PROB_LAYERS = [0, 5]
LONG_N = 512
LONG_ROWS = [0, 1, 100, 255, 256, 400, 510, 511]
LONG_PROB_ROWS = [0, 257, 511]


def ascii_wordpiece(text, vocab):
    """BertTokenizer for plain ASCII text: lower-case, split on whitespace and
    punctuation, greedy longest-match WordPiece."""
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            words.append(cur)
            cur = ""
        elif (33 <= ord(ch) <= 47 or 58 <= ord(ch) <= 64 or 91 <= ord(ch) <= 96
              or 123 <= ord(ch) <= 126):
            words += [cur, ch]
            cur = ""
        else:
            cur += ch
    words.append(cur)
    ids = []
    for w in filter(None, words):
        start = 0
        while start < len(w):
            end = len(w)
            while end > start:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in vocab:
                    break
                end -= 1
            if end == start:
                ids.append(vocab["[UNK]"])
                break
            ids.append(vocab[w[start:end] if start == 0 else "##" + w[start:end]])
            start = end
    return ids


def write_minilm(out_dir):
    with open(os.path.join(MINILM, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(MINILM, "vocab.txt"), encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    for text, ids in SENTENCES:
        got = ascii_wordpiece(text, vocab)
        if got != ids:
            sys.exit(f"ref_encoder.py: the hard-coded ids of {text!r} differ from WordPiece: {got}")
    W = st_read(os.path.join(MINILM, "model.safetensors"))
    C = cfg["hidden_size"]

    seqs = [[CLS] + ids + [SEP] for _, ids in SENTENCES]
    nmax = max(len(s) for s in seqs)
    ids_pad = np.zeros((len(seqs), nmax), np.int32)
    mask = np.zeros((len(seqs), nmax), np.uint8)
    hidden_rows, embeddings = [], []
    prob_rows = np.zeros((len(seqs), len(PROB_LAYERS), cfg["num_attention_heads"], 3, nmax))
    row_index = np.zeros((len(seqs), 3), np.int32)
    for s, seq in enumerate(seqs):
        ids_pad[s, :len(seq)] = seq
        mask[s, :len(seq)] = 1
        hidden, probs = bert_forward(W, cfg, np.array([seq]))  # alone, unpadded
        hidden_rows.append(hidden[0])
        mean = hidden[0].mean(axis=0)  # sentence-transformers mean pooling
        embeddings.append(mean / np.linalg.norm(mean))
        rows = [0, 1, len(seq) - 1]
        row_index[s] = rows
        for li, layer in enumerate(PROB_LAYERS):
            prob_rows[s, li, :, :, :len(seq)] = probs[0, layer][:, rows, :]
    embeddings = np.array(embeddings)
    sim = embeddings[:3] @ embeddings[:3].T
    print("cosine similarities (sbert.net prints 0.6660 0.1046 0.1411):")
    print(np.array2string(sim, precision=5))
    if np.abs(sim - SBERT_SIMILARITY).max() > 6e-5:
        sys.exit("ref_encoder.py: the NumPy reference does not reproduce the published "
                 "sentence-transformers similarities")

    body = [t for _, ids in SENTENCES for t in ids]
    long_seq = [CLS] + [body[i % len(body)] for i in range(LONG_N - 2)] + [SEP]
    long_hidden, long_probs = bert_forward(W, cfg, np.array([long_seq]))
    long_p = long_probs[0][PROB_LAYERS][:, :, LONG_PROB_ROWS, :]
    print(f"MiniLM: {len(seqs)} sentences (n <= {nmax}), one of {LONG_N} tokens; "
          f"|hidden| max {abs(long_hidden).max():.3f}")

    golden = [
        ("sent.ids", "I32", ids_pad), ("sent.mask", "U8", mask),
        ("sent.prob_rows", "I32", row_index),
        ("sent.hidden", "F32", np.concatenate(hidden_rows).reshape(-1, C)),
        ("sent.embedding", "F32", embeddings),
        ("sent.probs", "F32", prob_rows),
        ("sbert.similarity", "F32", SBERT_SIMILARITY),
        ("prob_layers", "I32", np.array(PROB_LAYERS, np.int32)),
        ("long.ids", "I32", np.array([long_seq], np.int32)),
        ("long.rows", "I32", np.array(LONG_ROWS, np.int32)),
        ("long.hidden", "F32", long_hidden[0][LONG_ROWS]),
        ("long.prob_rows", "I32", np.array(LONG_PROB_ROWS, np.int32)),
        ("long.probs", "F32", long_p),
    ]
    st_write(os.path.join(out_dir, "encoder_minilm_golden.safetensors"), golden,
             metadata={"source": "tests/ref_encoder.py", "model": "all-MiniLM-L6-v2"})


def compare(new_dir):
    """--check: every freshly computed tensor against the committed file."""
    worst = 0.0
    for name in sorted(os.listdir(new_dir)):
        old_path = os.path.join(DATA, name)
        if not os.path.exists(old_path):
            sys.exit(f"ref_encoder.py: {old_path} is missing")
        if not name.endswith(".safetensors"):
            with open(old_path, "rb") as a, open(os.path.join(new_dir, name), "rb") as b:
                if a.read() != b.read():
                    sys.exit(f"ref_encoder.py: {name} differs")
            continue
        old, new = st_read(old_path), st_read(os.path.join(new_dir, name))
        if old.keys() != new.keys():
            sys.exit(f"ref_encoder.py: {name}: other tensors")
        for k in new:
            d = np.abs(old[k].astype(np.float64) - new[k].astype(np.float64)).max()
            worst = max(worst, d)
            if d > 1e-6:
                sys.exit(f"ref_encoder.py: {name}: {k} differs by {d:.3g}")
    print(f"ref_encoder.py: the committed fixtures match (max difference {worst:.3g})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="recompute into a temporary directory and compare with tests/data")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = tmp if args.check else DATA
        write_tiny(out)
        if os.path.isdir(MINILM):
            write_minilm(out)
        else:
            print(f"SKIPPED MiniLM golden values: {MINILM} not found (run make data)")
        if args.check:
            compare(tmp)


if __name__ == "__main__":
    main()
