/* test_tokenizer.c - the BERT WordPiece tokenizer (core/tokenizer.c) and its UTF-8 /
 * Unicode helpers (core/utf8.c).
 *
 * The golden cases (tests/data/tokenizer_cases.tsv, made by tests/ref_tokenizer.py
 * with Hugging Face's BertTokenizer algorithm on the real all-MiniLM-L6-v2 vocab,
 * tests/data/vocab_minilm.txt) are compared id by id; a mismatch prints the text,
 * the position and the tokens on both sides. Also: WordPiece edge cases on a small
 * vocab written here, vocab validation errors, strict UTF-8 rejection, chunked
 * file reading against whole-buffer encoding, and a speed figure (printed, never
 * asserted).
 *
 * Finding tests/data: tests run from a temporary directory; see repo_path.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "repo_path.h"
#include "error.h"
#include "mem.h"
#include "tokenizer.h"
#include "utf8.h"

static char data_dir[PATH_MAX + 32];
static char tmp_dir[PATH_MAX];

static void find_data_dir(void) { repo_path("tests/data", data_dir, sizeof data_dir); }

static void data_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", data_dir, name);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

/* Files the tests wrote, removed at the end. */
static char written[16][PATH_MAX + 64];
static int n_written;

static void write_file(const char *path, const void *data, size_t len)
{
    int known = 0;
    for (int i = 0; i < n_written; i++) known |= strcmp(written[i], path) == 0;
    if (!known && n_written < 16) snprintf(written[n_written++], sizeof written[0], "%s", path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "test_tokenizer: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(f);
}

static lf_tokenizer *real_vocab(void)
{
    char path[PATH_MAX + 64];
    data_path(path, sizeof path, "vocab_minilm.txt");
    lf_tokenizer *tok = lf_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "loading %s: %s", path, lf_error_get());
    return tok;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- golden cases -------------------------------------------------------------- */

/* Undoes the TSV escapes (\\ and \u{HEX}); returns the byte length or -1. */
static long unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (i + 1 < n && s[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
            continue;
        }
        if (i + 2 < n && s[i + 1] == 'u' && s[i + 2] == '{') {
            char *end;
            unsigned long cp = strtoul(s + i + 3, &end, 16);
            if (*end != '}' || cp > 0x10FFFF) return -1;
            o += (size_t)lf_utf8_encode((uint32_t)cp, (uint8_t *)out + o);
            i = (size_t)(end - s);
            continue;
        }
        return -1;
    }
    return (long)o;
}

static int parse_ids(const char *s, size_t n, int32_t *out, int max)
{
    int count = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ') i++;
        if (i >= n) break;
        long v = 0;
        if (s[i] < '0' || s[i] > '9') return -1;
        while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        if (count == max) return -1;
        out[count++] = (int32_t)v;
    }
    return count;
}

static const char *tok_str(const lf_tokenizer *tok, const int32_t *ids, int64_t n, int64_t i)
{
    if (i >= n) return "(end)";
    const char *t = lf_tokenizer_token(tok, ids[i]);
    return t ? t : "(bad id)";
}

static void test_golden_cases(void)
{
    lf_tokenizer *tok = real_vocab();
    if (!tok) return;
    char path[PATH_MAX + 64];
    data_path(path, sizeof path, "tokenizer_cases.tsv");
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s: %s", path, strerror(errno));
    if (!f) {
        lf_tokenizer_free(tok);
        return;
    }
    size_t cap = 1 << 16;
    char *line = malloc(cap), *text = malloc(cap);
    int32_t *want = malloc(cap * sizeof *want);
    long lineno = 0, cases = 0, failed = 0, fast_differs = 0, tokens = 0;
    for (;;) {
        /* getline-like read into a growing buffer */
        size_t len = 0;
        int c;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (len + 1 >= cap) {
                cap *= 2;
                line = realloc(line, cap);
                text = realloc(text, cap);
                want = realloc(want, cap * sizeof *want);
            }
            line[len++] = (char)c;
        }
        if (c == EOF && len == 0) break;
        line[len] = '\0';
        lineno++;
        if (line[0] == '#') continue;
        char *tab1 = memchr(line, '\t', len);
        CHECK_MSG(tab1 != NULL, "%s:%ld: no tab", path, lineno);
        if (!tab1) continue;
        char *ids_s = tab1 + 1;
        char *tab2 = memchr(ids_s, '\t', len - (size_t)(ids_s - line));
        size_t ids_len = tab2 ? (size_t)(tab2 - ids_s) : len - (size_t)(ids_s - line);
        if (tab2 && tab2[1]) fast_differs++;
        long tlen = unescape(line, (size_t)(tab1 - line), text);
        int nwant = parse_ids(ids_s, ids_len, want, (int)cap);
        CHECK_MSG(tlen >= 0 && nwant >= 0, "%s:%ld: malformed case", path, lineno);
        if (tlen < 0 || nwant < 0) continue;
        cases++;
        tokens += nwant;
        int32_t *got;
        int64_t ngot;
        if (lf_tokenizer_encode(tok, text, (size_t)tlen, &got, &ngot) != 0) {
            CHECK_MSG(0, "%s:%ld: encode failed: %s", path, lineno, lf_error_get());
            failed++;
            continue;
        }
        int64_t pos = 0;
        while (pos < ngot && pos < nwant && got[pos] == want[pos]) pos++;
        if (pos < ngot || pos < nwant) {
            failed++;
            if (failed <= 10) {
                CHECK_MSG(0,
                          "%s:%ld: text \"%.*s\": first difference at token %lld: got %s (%d), "
                          "expected %s (%d); %lld tokens vs %d expected",
                          path, lineno, (int)(tab1 - line > 200 ? 200 : tab1 - line), line,
                          (long long)pos, tok_str(tok, got, ngot, pos),
                          pos < ngot ? got[pos] : -1, tok_str(tok, want, nwant, pos),
                          pos < nwant ? want[pos] : -1, (long long)ngot, nwant);
            }
        }
        lf_free(got);
    }
    fclose(f);
    free(line);
    free(text);
    free(want);
    CHECK_MSG(cases > 3000, "only %ld golden cases in %s", cases, path);
    CHECK_MSG(failed == 0, "%ld of %ld golden cases differ", failed, cases);
    check_notef("%ld cases, %ld tokens, %ld mismatches (HF fast tokenizer differs on %ld)", cases,
                tokens, failed, fast_differs);
    lf_tokenizer_free(tok);
}

/* ---- the real vocab's special tokens and lookups -------------------------------- */

static void test_real_vocab(void)
{
    lf_tokenizer *tok = real_vocab();
    if (!tok) return;
    CHECK(lf_tokenizer_vocab_size(tok) == 30522);
    CHECK(lf_tokenizer_special_id(tok, LF_TOKEN_PAD) == 0);
    CHECK(lf_tokenizer_special_id(tok, LF_TOKEN_UNK) == 100);
    CHECK(lf_tokenizer_special_id(tok, LF_TOKEN_CLS) == 101);
    CHECK(lf_tokenizer_special_id(tok, LF_TOKEN_SEP) == 102);
    CHECK(lf_tokenizer_special_id(tok, LF_TOKEN_MASK) == 103);
    CHECK(strcmp(lf_tokenizer_token(tok, 101), "[CLS]") == 0);
    CHECK(lf_tokenizer_token(tok, -1) == NULL && lf_tokenizer_token(tok, 30522) == NULL);
    CHECK(lf_tokenizer_id(tok, "hello", 5) == 7592);
    CHECK(lf_tokenizer_id(tok, "##ing", 5) == 2075);
    CHECK(lf_tokenizer_id(tok, "hellox", 6) == -1);
    /* the bible's first verse, ids from the reference tokenizer */
    const char *gen = "In the beginning God created the heaven and the earth.";
    const int32_t want[] = {1999, 1996, 2927, 2643, 2580, 1996, 6014, 1998, 1996, 3011, 1012};
    int32_t *ids;
    int64_t n;
    CHECK(lf_tokenizer_encode(tok, gen, strlen(gen), &ids, &n) == 0);
    CHECK(n == 11 && memcmp(ids, want, sizeof want) == 0);
    lf_free(ids);
    /* an empty text gives zero ids and a freeable array */
    CHECK(lf_tokenizer_encode(tok, "", 0, &ids, &n) == 0 && n == 0 && ids != NULL);
    lf_free(ids);
    /* NUL bytes are dropped without splitting, like any control character */
    CHECK(lf_tokenizer_encode(tok, "hel\0lo", 6, &ids, &n) == 0 && n == 1 && ids[0] == 7592);
    lf_free(ids);
    lf_tokenizer_free(tok);
}

/* ---- WordPiece on a small vocab -------------------------------------------------- */

static lf_tokenizer *small_vocab(const char *extra)
{
    char path[PATH_MAX + 64], buf[4096];
    tmp_path(path, sizeof path, "small_vocab.txt");
    snprintf(buf, sizeof buf, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n%s", extra);
    write_file(path, buf, strlen(buf));
    lf_tokenizer *tok = lf_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "small vocab: %s", lf_error_get());
    return tok;
}

/* Encodes text and compares with the space-separated expected tokens. */
static void expect_tokens(const lf_tokenizer *tok, const char *text, const char *want)
{
    int32_t *ids;
    int64_t n;
    if (lf_tokenizer_encode(tok, text, strlen(text), &ids, &n) != 0) {
        CHECK_MSG(0, "\"%s\": %s", text, lf_error_get());
        return;
    }
    char got[1024] = "";
    size_t o = 0;
    for (int64_t i = 0; i < n && o < sizeof got - 64; i++)
        o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", i ? " " : "",
                              lf_tokenizer_token(tok, ids[i]));
    CHECK_MSG(strcmp(got, want) == 0, "\"%s\": got \"%s\", expected \"%s\"", text, got, want);
    lf_free(ids);
}

static void test_wordpiece_small(void)
{
    lf_tokenizer *tok = small_vocab("un\n##aff\n##able\na\nab\n##b\n##c\n##bc\nabcd\nx\n##x\n"
                                    "!\n.\ncafe\n");
    if (!tok) return;
    expect_tokens(tok, "unaffable", "un ##aff ##able");
    expect_tokens(tok, "UnAffABLE!", "un ##aff ##able !");
    expect_tokens(tok, "unaffablex", "un ##aff ##able ##x");
    expect_tokens(tok, "unaffabley", "[UNK]");       /* no full cover: the whole word */
    expect_tokens(tok, "abc", "ab ##c");              /* longest first, not a ##bc */
    expect_tokens(tok, "abcd", "abcd");
    expect_tokens(tok, "abcde", "[UNK]");
    expect_tokens(tok, "a.b", "a . [UNK]");           /* '.' splits; "b" alone has no piece */
    expect_tokens(tok, "x..x", "x . . x");
    expect_tokens(tok, "Café CAFÉ cafe\xcc\x81", "cafe cafe cafe"); /* accents stripped */
    expect_tokens(tok, "[CLS]", "[UNK] [UNK] [UNK]"); /* not a special token in text */
    /* 100 code points is the limit; combining marks count after stripping */
    char w[512];
    memset(w, 'x', 100);
    w[100] = '\0';
    int32_t *ids;
    int64_t n;
    CHECK(lf_tokenizer_encode(tok, w, 100, &ids, &n) == 0 && n == 100);
    lf_free(ids);
    w[100] = 'x';
    w[101] = '\0';
    CHECK(lf_tokenizer_encode(tok, w, 101, &ids, &n) == 0 && n == 1 && ids[0] == 1);
    lf_free(ids);
    memcpy(w + 100, "\xcc\x81", 2); /* x*100 + U+0301: 100 after stripping */
    CHECK(lf_tokenizer_encode(tok, w, 102, &ids, &n) == 0 && n == 100);
    lf_free(ids);
    lf_tokenizer_free(tok);

    /* A vocab without trailing newline and with CRLF line ends loads the same. */
    char path[PATH_MAX + 64];
    tmp_path(path, sizeof path, "crlf_vocab.txt");
    const char *crlf = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhi\r\n##ya";
    write_file(path, crlf, strlen(crlf));
    tok = lf_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "crlf vocab: %s", lf_error_get());
    if (tok) {
        CHECK(lf_tokenizer_vocab_size(tok) == 7);
        expect_tokens(tok, "hiya", "hi ##ya");
        lf_tokenizer_free(tok);
    }
}

/* ---- vocab errors ---------------------------------------------------------------- */

static void expect_load_error(const char *name, const char *content, size_t len,
                              const char *want1, const char *want2)
{
    char path[PATH_MAX + 64];
    tmp_path(path, sizeof path, name);
    if (content) write_file(path, content, len);
    lf_error_clear();
    lf_tokenizer *tok = lf_tokenizer_load(path);
    CHECK_MSG(tok == NULL, "%s: loaded a bad vocab", name);
    lf_tokenizer_free(tok);
    const char *e = lf_error_get();
    CHECK_MSG(strstr(e, path) != NULL, "%s: error does not name the file: %s", name, e);
    CHECK_MSG(strstr(e, want1) != NULL, "%s: error \"%s\" lacks \"%s\"", name, e, want1);
    if (want2) CHECK_MSG(strstr(e, want2) != NULL, "%s: error \"%s\" lacks \"%s\"", name, e, want2);
}

static void test_vocab_errors(void)
{
    const char *base = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    char buf[256];
    expect_load_error("missing.txt", NULL, 0, "cannot open", NULL);
    expect_load_error("empty.txt", "", 0, "empty", NULL);
    snprintf(buf, sizeof buf, "%sthe\nof\nthe\n", base);
    expect_load_error("dup.txt", buf, strlen(buf), ":8:", "duplicate token \"the\" (first on line 6)");
    expect_load_error("nounk.txt", "[PAD]\n[CLS]\n[SEP]\n[MASK]\nx\n", 22, "[UNK]", "missing");
    snprintf(buf, sizeof buf, "%sa\n\nb\n", base);
    expect_load_error("blank.txt", buf, strlen(buf), ":7:", "empty line");
    snprintf(buf, sizeof buf, "%sa\nb\xc0\xafz\n", base);
    expect_load_error("badutf8.txt", buf, strlen(buf), ":7:", "invalid UTF-8 at byte offset 34:");
    lf_error_clear();
}

/* ---- strict UTF-8 --------------------------------------------------------------- */

static void test_invalid_utf8(void)
{
    lf_tokenizer *tok = real_vocab();
    if (!tok) return;
    static const struct {
        const char *bytes;
        size_t len;
        unsigned offset;
        const char *why;
    } bad[] = {
        {"ab\xc0\x80", 4, 2, "overlong"},
        {"\xc1\xbf", 2, 0, "overlong"},
        {"x/\xe0\x80\xaf", 5, 2, "overlong"},
        {"\xe0\x9f\xbf", 3, 0, "overlong"},
        {"\xf0\x80\x80\xaf", 4, 0, "overlong"},
        {"\xf0\x8f\xbf\xbf", 4, 0, "overlong"},
        {"\xed\xa0\x80", 3, 0, "surrogate"},
        {"abc\xed\xbf\xbf", 6, 3, "surrogate"},
        {"\xf4\x90\x80\x80", 4, 0, "above U+10FFFF"},
        {"\xf5\x80\x80\x80", 4, 0, "never occurs"},
        {"hello \xff", 7, 6, "never occurs"},
        {"\xfe", 1, 0, "never occurs"},
        {"\x80", 1, 0, "continuation byte"},
        {"caf\xc3\xa9\xa9", 6, 5, "continuation byte"},
        {"ok \xe2\x82", 5, 3, "text ends"},
        {"\xe2\x82 x", 4, 0, "not a continuation"},
        {"\xf0\x9f\x98", 3, 0, "text ends"},
        {"\xc3", 1, 0, "text ends"},
        {"\xc3(", 2, 0, "not a continuation"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = (int32_t *)&ids;
        int64_t n = -1;
        lf_error_clear();
        int rc = lf_tokenizer_encode(tok, bad[i].bytes, bad[i].len, &ids, &n);
        CHECK_MSG(rc == -1 && ids == NULL && n == 0, "case %zu: invalid UTF-8 accepted", i);
        char want[64];
        snprintf(want, sizeof want, "byte offset %u:", bad[i].offset);
        const char *e = lf_error_get();
        CHECK_MSG(strstr(e, want) && strstr(e, bad[i].why), "case %zu: error \"%s\", expected \"%s\" "
                  "and \"%s\"", i, e, want, bad[i].why);
        CHECK(lf_utf8_validate((const uint8_t *)bad[i].bytes, bad[i].len, 0) == -1);
    }
    /* Edges that are valid: U+0080, U+07FF, U+0800, U+FFFD, U+10000, U+10FFFF (the
     * controls, U+FFFD and the noncharacter are then dropped by the tokenizer). */
    const char ok[] = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    CHECK(lf_utf8_validate((const uint8_t *)ok, sizeof ok - 1, 0) == 0);
    int32_t *ids;
    int64_t n;
    CHECK(lf_tokenizer_encode(tok, ok, sizeof ok - 1, &ids, &n) == 0);
    lf_free(ids);
    /* decode(encode(cp)) == cp for every scalar value; surrogates never encode */
    int mismatches = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        uint8_t b[4];
        int k = lf_utf8_encode(cp, b);
        size_t pos = 0;
        uint32_t back = 0;
        if (lf_utf8_decode(b, (size_t)k, &pos, &back, 0) != 0 || back != cp || pos != (size_t)k)
            mismatches++;
    }
    CHECK_MSG(mismatches == 0, "%d code points do not round-trip through UTF-8", mismatches);
    lf_tokenizer_free(tok);
}

/* ---- Unicode helpers -------------------------------------------------------------- */

static void test_unicode_props(void)
{
    check_notef("Unicode %s", lf_uni_version());
    CHECK((lf_uni_props(' ') & 3) == LF_UNI_SPACE);
    CHECK((lf_uni_props('\t') & 3) == LF_UNI_SPACE);
    CHECK((lf_uni_props(0x00A0) & 3) == LF_UNI_SPACE);
    CHECK((lf_uni_props(0x3000) & 3) == LF_UNI_SPACE);
    CHECK((lf_uni_props(0x2028) & 3) == LF_UNI_SPACE);
    CHECK((lf_uni_props(0x000B) & 3) == LF_UNI_REMOVE); /* \v is Cc, not whitespace here */
    CHECK((lf_uni_props(0x200D) & 3) == LF_UNI_REMOVE);
    CHECK((lf_uni_props(0xFFFD) & 3) == LF_UNI_REMOVE);
    CHECK((lf_uni_props(0xE000) & 3) == LF_UNI_REMOVE);  /* private use */
    CHECK((lf_uni_props(0x0378) & 3) == LF_UNI_REMOVE);  /* unassigned */
    CHECK((lf_uni_props('$') & 3) == LF_UNI_PUNCT);      /* Sc, but ASCII */
    CHECK((lf_uni_props(0x00BF) & 3) == LF_UNI_PUNCT);   /* inverted question mark */
    CHECK((lf_uni_props(0x20AC) & 3) == LF_UNI_OTHER);   /* euro sign: Sc, not ASCII */
    CHECK(lf_uni_props(0x0301) & LF_UNI_MN);
    CHECK(lf_uni_ccc(0x0301) != 0 && lf_uni_ccc('a') == 0 && lf_uni_ccc(0x1D165) == 216);
    uint32_t f[LF_UNI_FOLD_MAX_LEN];
    CHECK(lf_uni_fold(0x0130, f) == 2 && f[0] == 'i' && f[1] == 0x0307);
    CHECK(lf_uni_fold(0x00C5, f) == 2 && f[0] == 'a' && f[1] == 0x030A);
    CHECK(lf_uni_fold(0x212B, f) == 2 && f[0] == 'a' && f[1] == 0x030A); /* angstrom sign */
    CHECK(lf_uni_fold(0x1E9E, f) == 1 && f[0] == 0x00DF);
    CHECK(lf_uni_fold(0xD55C, f) == 3 && f[0] == 0x1112 && f[1] == 0x1161 && f[2] == 0x11AB);
    CHECK(lf_uni_fold(0xAC00, f) == 2 && f[0] == 0x1100 && f[1] == 0x1161);
    CHECK(lf_uni_fold('x', f) == 1 && f[0] == 'x');
    CHECK(lf_uni_is_cjk(0x4E2D) && lf_uni_is_cjk(0x2F800) && !lf_uni_is_cjk(0x3042) &&
          !lf_uni_is_cjk(0xAC00));
}

/* ---- files, chunks and speed ----------------------------------------------------- */

/* ~bytes of English-like text: the golden sentences' style, with some accents,
 * punctuation and numbers, like a corpus. */
static char *make_corpus(size_t bytes, size_t *len)
{
    static const char *const parts[] = {
        "And God said, Let there be light: and there was light. ",
        "The Linformer projects keys and values to k = 128 dimensions (n = 512).\n",
        "In 1903, Marie Curie won the Nobel Prize; her café was on Rue d'Ulm. ",
        "Thou shalt not steal.\n",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG -- 3.14159, 1,000,000!\n",
        "Zürich, Ångström and naïve résumés; Καλημέρα, Привет, 你好世界.\n",
    };
    char *t = malloc(bytes + 256);
    size_t o = 0, i = 0;
    while (o < bytes) {
        const char *p = parts[(i * 7 + i / 5) % 6];
        size_t l = strlen(p);
        memcpy(t + o, p, l);
        o += l;
        i++;
    }
    *len = o;
    return t;
}

static void test_encode_file(void)
{
    lf_tokenizer *tok = real_vocab();
    if (!tok) return;
    size_t len;
    char *text = make_corpus(3u << 20, &len);
    /* a 1.5 MiB "word" without whitespace crosses chunk boundaries */
    size_t big = 3u << 19;
    char *all = malloc(len + big + 64);
    memcpy(all, text, len / 2);
    memset(all + len / 2, 'z', big);
    memcpy(all + len / 2 + big, text + len / 2, len - len / 2);
    size_t total = len + big;
    char path[PATH_MAX + 64];
    tmp_path(path, sizeof path, "corpus.txt");
    write_file(path, all, total);

    int32_t *ids_a = NULL, *ids_b = NULL;
    int64_t na = 0, nb = 0;
    CHECK(lf_tokenizer_encode(tok, all, total, &ids_a, &na) == 0);
    CHECK_MSG(lf_tokenizer_encode_file(tok, path, 0, &ids_b, &nb) == 0, "%s", lf_error_get());
    CHECK_MSG(na == nb && ids_a && ids_b && memcmp(ids_a, ids_b, (size_t)na * sizeof(int32_t)) == 0,
              "file (%lld ids) and buffer (%lld ids) encodings differ", (long long)nb,
              (long long)na);
    lf_free(ids_b);
    /* max_tokens gives exactly the prefix */
    CHECK(lf_tokenizer_encode_file(tok, path, 1000, &ids_b, &nb) == 0);
    CHECK(nb == 1000 && ids_a && memcmp(ids_a, ids_b, 1000 * sizeof(int32_t)) == 0);
    lf_free(ids_b);
    lf_free(ids_a);

    /* invalid UTF-8 far into the file: named by file and offset, also when the
     * tokens needed were all found before it */
    size_t at = total - 10;
    all[at] = (char)0xC0;
    write_file(path, all, total);
    lf_error_clear();
    for (int limited = 0; limited < 2; limited++) {
        ids_b = (int32_t *)&ids_b;
        CHECK(lf_tokenizer_encode_file(tok, path, limited ? 100 : 0, &ids_b, &nb) == -1);
        CHECK(ids_b == NULL && nb == 0);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu:", at);
        const char *e = lf_error_get();
        CHECK_MSG(strstr(e, path) && strstr(e, want), "error \"%s\" lacks the file or \"%s\"", e,
                  want);
    }
    tmp_path(path, sizeof path, "no_such_corpus.txt");
    CHECK(lf_tokenizer_encode_file(tok, path, 0, &ids_b, &nb) == -1);
    CHECK(strstr(lf_error_get(), "cannot open") != NULL);
    free(all);
    free(text);
    lf_tokenizer_free(tok);
}

static void test_speed(void)
{
    lf_tokenizer *tok = real_vocab();
    if (!tok) return;
    size_t len;
    char *text = make_corpus(5u << 20, &len);
    int32_t *ids;
    int64_t n = 0;
    double t0 = now_s();
    int rc = lf_tokenizer_encode(tok, text, len, &ids, &n);
    double dt = now_s() - t0;
    CHECK(rc == 0);
    if (rc == 0) lf_free(ids);
    check_notef("%.1f MB in %.3f s: %.1f MB/s, %.2f M tokens/s (not asserted)", len / 1e6, dt,
                len / 1e6 / dt, n / 1e6 / dt);
    free(text);
    lf_tokenizer_free(tok);
}

int main(void)
{
    check_program = "test_tokenizer";
    find_data_dir();
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/lf_tokenizer_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "test_tokenizer: cannot create a temporary directory: %s\n", strerror(errno));
        return 2;
    }
    printf("tests/data: %s\n", data_dir);
    RUN(test_unicode_props);
    RUN(test_real_vocab);
    RUN(test_golden_cases);
    RUN(test_wordpiece_small);
    RUN(test_vocab_errors);
    RUN(test_invalid_utf8);
    RUN(test_encode_file);
    RUN(test_speed);
    for (int i = 0; i < n_written; i++) unlink(written[i]);
    if (rmdir(tmp_dir) != 0) fprintf(stderr, "test_tokenizer: could not remove %s\n", tmp_dir);
    return check_summary();
}
