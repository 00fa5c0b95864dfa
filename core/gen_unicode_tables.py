#!/usr/bin/env python3
"""gen_unicode_tables.py - writes core/unicode_tables.h, the Unicode data the BERT
WordPiece tokenizer (core/tokenizer.c) needs, from Python's own unicodedata.

Why Python's unicodedata: the reference tokenizer (Hugging Face's BertTokenizer,
BasicTokenizer in Python) decides everything with unicodedata and str.lower(), so
tables taken from the same Python reproduce it code point for code point. The
Unicode version is that of the Python that runs this script; it is written into
the header (LF_UNICODE_VERSION) and the tests' golden cases record the one they
were made with.

    usage: /usr/bin/python3 core/gen_unicode_tables.py [--out core/unicode_tables.h] [--check]

--check regenerates in memory and exits 1 when the committed header differs
(ignoring the first line, which names the Python; the Unicode version must match).

What is tabulated (see unicode_tables.h for the C side):
  props  one byte per code point in a three-level table: identical blocks of
         2^SHIFT2 code points are stored once, and so are identical runs of
         2^SHIFT1 block numbers (about 18 KB for all of Unicode):
           bits 0-1  class: OTHER, SPACE (\\t \\n \\r, Zs, and the non-control
                     characters str.split() also splits on: U+2028, U+2029),
                     REMOVE (NUL, U+FFFD, every category C*: Cc Cf Cs Co Cn),
                     PUNCT (ASCII 33-47, 58-64, 91-96, 123-126 and category P*)
           bit 2     MN: category Mn (dropped by accent stripping)
           bit 3     CASED, bit 4 CASE_IGNORABLE: the two properties str.lower()
                     consults for the final-sigma rule (U+03A3 -> U+03C2 at the end
                     of a word). Python does not expose them, so they are measured
                     from str.lower() itself (see sigma_props).
           bit 5     CCC: canonical combining class is not zero (takes part in the
                     canonical reordering of NFD)
           bit 6     FOLD: NFD(c.lower()) != c, the sequence is in the fold table
  fold   sorted code points with NFD(c.lower()): lower-casing (full, so U+0130
         gives "i" U+0307) followed by full recursive canonical decomposition.
         Hangul syllables are left out: C decomposes them algorithmically.
  ccc    the combining class of the few characters that have one but are not Mn
         (Mn characters are dropped, so only their ccc == 0 or != 0 matters).
"""
import argparse
import sys
import unicodedata

SHIFT_CHOICES = range(3, 9)
MAX_CP = 0x110000

CLS_OTHER, CLS_SPACE, CLS_REMOVE, CLS_PUNCT = 0, 1, 2, 3
P_MN, P_CASED, P_CASE_IGNORABLE, P_CCC, P_FOLD = 4, 8, 16, 32, 64

HANGUL_S0, HANGUL_COUNT = 0xAC00, 11172
SIGMA, SMALL_SIGMA, FINAL_SIGMA = "\u03a3", "\u03c3", "\u03c2"


def is_ascii_punct(cp):
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


def char_class(cp, ch, cat):
    # Order matters and follows BasicTokenizer._clean_text: \t \n \r are Cc but count
    # as whitespace; other C* and NUL/U+FFFD are removed; Zs become spaces.
    if cp in (9, 10, 13) or cat == "Zs":
        return CLS_SPACE
    if cp == 0 or cp == 0xFFFD or cat.startswith("C"):
        return CLS_REMOVE
    # whitespace_tokenize uses str.split(), which also splits on U+2028/U+2029 (Zl, Zp).
    if ch.isspace():
        return CLS_SPACE
    if is_ascii_punct(cp) or cat.startswith("P"):
        return CLS_PUNCT
    return CLS_OTHER


def sigma_props(ch):
    """(cased, case_ignorable) as str.lower()'s final-sigma rule sees them.

    Python lowers U+03A3 to U+03C2 when it follows a cased letter (skipping
    case-ignorable ones) and no cased letter follows (again skipping them):
      'A' SIGMA ch 'B':  ch ignorable -> the 'B' is seen -> sigma;
                          otherwise final iff ch is not cased.
      'A' SIGMA ch:       ch ignorable -> end of string -> final sigma.
    For an ignorable ch, cased never matters (it is always skipped)."""
    t1 = ("A" + SIGMA + ch + "B").lower()[1]
    t2 = ("A" + SIGMA + ch).lower()[1]
    if t1 == SMALL_SIGMA and t2 == FINAL_SIGMA:
        return False, True
    if t1 == SMALL_SIGMA and t2 == SMALL_SIGMA:
        return True, False
    assert t1 == FINAL_SIGMA and t2 == FINAL_SIGMA, (hex(ord(ch)), t1, t2)
    return False, False


def hangul_nfd(cp):
    s = cp - HANGUL_S0
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    if s % 28:
        out.append(0x11A7 + s % 28)
    return out


def build():
    props = bytearray(MAX_CP)
    fold = {}
    ccc_other = {}
    for cp in range(MAX_CP):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        cls = char_class(cp, ch, cat)
        p = cls
        if cat == "Mn":
            p |= P_MN
        if 0xD800 <= cp <= 0xDFFF:
            props[cp] = p  # never reaches the tokenizer: UTF-8 decoding rejects surrogates
            continue
        cased, ignorable = sigma_props(ch)
        if cased:
            p |= P_CASED
        if ignorable:
            p |= P_CASE_IGNORABLE
        ccc = unicodedata.combining(ch)
        if ccc:
            p |= P_CCC
            if cat != "Mn":
                ccc_other[cp] = ccc
        if cls in (CLS_OTHER, CLS_PUNCT):
            f = unicodedata.normalize("NFD", ch.lower())
            if HANGUL_S0 <= cp < HANGUL_S0 + HANGUL_COUNT:
                assert [ord(c) for c in f] == hangul_nfd(cp), hex(cp)
            elif f != ch:
                p |= P_FOLD
                fold[cp] = [ord(c) for c in f]
        props[cp] = p
    # What the C code takes for granted about the fold outputs: they are never removed
    # or whitespace (so folding cannot change the token split), and only U+03A3 has a
    # context-dependent lower case.
    for cp, seq in fold.items():
        for c in seq:
            assert props[c] & 3 in (CLS_OTHER, CLS_PUNCT), (hex(cp), hex(c))
            assert not (HANGUL_S0 <= c < HANGUL_S0 + HANGUL_COUNT)
    assert fold[0x3A3] == [0x3C3]
    # The reordered combining characters that survive accent stripping always join
    # the current word (core/tokenizer.c relies on it).
    for cp in ccc_other:
        assert props[cp] & 3 == CLS_OTHER, hex(cp)
    return props, fold, ccc_other


def dedup_blocks(values, shift):
    """Cut values into blocks of 2^shift, keep each distinct block once; returns
    (block number of every block, distinct blocks)."""
    size = 1 << shift
    blocks, index, seen = [], [], {}
    for start in range(0, len(values), size):
        blk = tuple(values[start : start + size])
        if blk not in seen:
            seen[blk] = len(blocks)
            blocks.append(blk)
        index.append(seen[blk])
    return index, blocks


def int_type(values):
    return "uint8_t" if max(values) < 256 else "uint16_t"


def three_level(props):
    """The smallest table over (shift1, shift2): props[cp] =
    leaf[mid[top[cp >> (s1 + s2)] << s1 | (cp >> s2) & mask1] << s2 | cp & mask2]."""
    best = None
    for s2 in SHIFT_CHOICES:
        mid_index, leaves = dedup_blocks(props, s2)
        for s1 in SHIFT_CHOICES:
            top, mids = dedup_blocks(mid_index, s1)
            mid = [v for m in mids for v in m]
            leaf = [v for b in leaves for v in b]
            size = lambda a: len(a) * (1 if int_type(a) == "uint8_t" else 2)
            total = size(top) + size(mid) + len(leaf)
            if best is None or total < best[0]:
                best = (total, s1, s2, top, mid, leaf)
    return best


def c_array(ctype, name, values, per_line, fmt):
    lines = [f"static const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        lines.append("    " + ",".join(fmt(v) for v in values[i : i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def render(props, fold, ccc_other):
    total, s1, s2, top, mid, leaf = three_level(props)
    for cp in range(0, MAX_CP, 977):  # the C lookup formula, spot-checked
        m = mid[top[cp >> (s1 + s2)] << s1 | (cp >> s2) & ((1 << s1) - 1)]
        assert leaf[m << s2 | cp & ((1 << s2) - 1)] == props[cp]

    fold_cps = sorted(fold)
    pool, entries = [], []
    for cp in fold_cps:
        seq = fold[cp]
        assert len(seq) <= 7 and len(pool) < (1 << 13)
        entries.append(len(pool) << 3 | len(seq))
        pool.extend(seq)
    max_fold = max(len(s) for s in fold.values())

    counts = [0] * 4
    for v in props:
        counts[v & 3] += 1
    out = []
    out.append(
        f"""/* unicode_tables.h - GENERATED by core/gen_unicode_tables.py from Python {sys.version.split()[0]}'s
 * unicodedata (Unicode {unicodedata.unidata_version}); do not edit. Regenerate with
 *     /usr/bin/python3 core/gen_unicode_tables.py
 *
 * The Unicode data of the BERT tokenizer (see the generator's docstring for the
 * meaning of every bit). Included by core/utf8.c only.
 *   props of cp = lf_uni_leaf[lf_uni_mid[lf_uni_top[cp >> {s1 + s2}] << {s1} | (cp >> {s2} & {(1 << s1) - 1})] << {s2} | (cp & {(1 << s2) - 1})]
 *                 ({total} bytes)
 *   lf_uni_fold:  NFD(lower(cp)) for {len(fold_cps)} code points (Hangul syllables excluded), entry =
 *                 offset << 3 | length into lf_uni_fold_pool
 *   lf_uni_ccc:   canonical combining class of the non-Mn characters that have one
 * Class counts: other {counts[0]}, space {counts[1]}, remove {counts[2]}, punct {counts[3]}.
 */
#ifndef LF_UNICODE_TABLES_H
#define LF_UNICODE_TABLES_H

#include <stdint.h>

#define LF_UNICODE_VERSION "{unicodedata.unidata_version}"
#define LF_UNI_SHIFT1 {s1}
#define LF_UNI_SHIFT2 {s2}
#define LF_UNI_FOLD_MAX {max_fold}
#define LF_UNI_FOLD_COUNT {len(fold_cps)}
#define LF_UNI_CCC_COUNT {len(ccc_other)}
"""
    )
    dec = lambda v: f"{v}"
    out.append(c_array(int_type(top), "lf_uni_top", top, 32, dec))
    out.append(c_array(int_type(mid), "lf_uni_mid", mid, 24, dec))
    out.append(c_array("uint8_t", "lf_uni_leaf", leaf, 32, dec))
    out.append(c_array("uint32_t", "lf_uni_fold_cp", fold_cps, 12, lambda v: f"0x{v:x}"))
    out.append(c_array("uint16_t", "lf_uni_fold_entry", entries, 14, lambda v: f"{v}"))
    out.append(c_array("uint32_t", "lf_uni_fold_pool", pool, 12, lambda v: f"0x{v:x}"))
    ccc_cps = sorted(ccc_other)
    out.append(c_array("uint32_t", "lf_uni_ccc_cp", ccc_cps, 12, lambda v: f"0x{v:x}"))
    out.append(c_array("uint8_t", "lf_uni_ccc_value", [ccc_other[c] for c in ccc_cps], 24, lambda v: f"{v}"))
    out.append("\n#endif\n")
    return "\n".join(out), (s1, s2, total, len(fold_cps), len(pool))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="core/unicode_tables.h")
    ap.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = ap.parse_args()
    text, stats = render(*build())
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read().split("\n", 1)[1:] == text.split("\n", 1)[1:]
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from the generator output'}")
        sys.exit(0 if same else 1)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    s1, s2, total, nfold, npool = stats
    print(f"wrote {args.out}: Unicode {unicodedata.unidata_version}, props in {total} bytes (shifts {s1}, {s2}); "
          f"{nfold} folds in {npool} code points")


if __name__ == "__main__":
    main()
