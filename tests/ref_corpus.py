#!/usr/bin/env python3
"""ref_corpus.py - independent reader of the corpus cache format (core/corpus.h),
used by tests/test_corpus.c: parses the header with struct, recomputes every FNV-1a-64
checksum in Python and compares the token ids with the expected ones.

usage: ref_corpus.py CACHE SOURCE bytes
       ref_corpus.py CACHE SOURCE wordpiece VOCAB IDS.txt   (IDS.txt: one id a line,
                                                              the C tokenizer's output)
Exit status 0 when everything matches; otherwise prints what differs and exits 1."""
import struct
import sys

M = (1 << 64) - 1


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & M
    return h


def main():
    cache, source, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    raw = open(cache, "rb").read()
    text = open(source, "rb").read()
    errors = []
    (magic, version, kind_id, rev, vocab, pad, unk, cls, sep, mask, zero, count, src_bytes,
     src_sum, vocab_sum, tok_sum, hdr_sum) = struct.unpack("<8sIIIiiiiiiIQQQQQQ", raw[:96])
    def want(name, got, exp):
        if got != exp:
            errors.append("%s: %r, expected %r" % (name, got, exp))
    want("magic", magic, b"LFCORPUS")
    want("version", version, 1)
    want("tokenizer revision", rev, 1)
    want("reserved", zero, 0)
    want("header checksum", hdr_sum, fnv1a64(raw[:88]))
    want("file size", len(raw), 96 + 4 * count)
    want("source bytes", src_bytes, len(text))
    want("source checksum", src_sum, fnv1a64(text))
    want("token checksum", tok_sum, fnv1a64(raw[96:]))
    ids = list(struct.unpack("<%di" % count, raw[96:96 + 4 * count]))
    if kind == "bytes":
        want("kind", kind_id, 0)
        want("vocab size", vocab, 260)
        want("specials", (pad, unk, cls, sep, mask), (256, -1, 257, 258, 259))
        want("vocab checksum", vocab_sum, 0)
        want("ids equal the bytes", ids == list(text), True)
    else:
        vocab_path, ids_path = sys.argv[4], sys.argv[5]
        vocab_raw = open(vocab_path, "rb").read()
        tokens = vocab_raw.decode("utf-8").splitlines()
        want("kind", kind_id, 1)
        want("vocab size", vocab, len(tokens))
        want("specials", (pad, unk, cls, sep, mask),
             tuple(tokens.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")))
        want("vocab checksum", vocab_sum, fnv1a64(vocab_raw))
        expected = [int(x) for x in open(ids_path).read().split()]
        want("ids equal the tokenizer's", ids == expected, True)
    for e in errors:
        print("ref_corpus.py: " + e)
    print("ref_corpus.py: %s cache of %d tokens: %s" % (kind, count, "OK" if not errors else "MISMATCH"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
