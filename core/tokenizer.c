/* tokenizer.c - BERT WordPiece tokenizer matching Hugging Face's BertTokenizer with
 * do_lower_case=True (see tokenizer.h for the pipeline).
 *
 * Hugging Face works on whole strings (clean, NFC, split, lower, NFD, strip, split
 * on punctuation, WordPiece). Here the text is decoded once, code point by code
 * point, and every step is done on the fly with table lookups:
 *   - a whitespace-delimited token is collected as code points (lower-casing needs
 *     its context for the final sigma);
 *   - each code point is replaced by NFD(lower(cp)) (one table lookup), and
 *     combining marks are dropped as they come; the few non-Mn characters with a
 *     combining class (which NFD would reorder) are sorted within their run;
 *   - punctuation ends the current word; a word is WordPiece-split on its UTF-8
 *     bytes against an open-addressing hash table of the vocabulary.
 * The NFC step of Hugging Face's BasicTokenizer is left out: lower-casing and NFD
 * come after it and give the same result on canonically equivalent text. (Checked
 * against the reference for every code point, alone and in final-sigma contexts,
 * and on 400k random strings; the golden cases keep a sweep of every code point
 * that folds.)
 * Lookups per word are bounded by the longest vocabulary token, so the cost is
 * linear in the text.
 */
#include "tokenizer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "mem.h"
#include "utf8.h"

#define MAX_WORD_CHARS 100 /* longer words become [UNK] (max_input_chars_per_word) */
#define RUN_CAP 128        /* > MAX_WORD_CHARS: a longer run makes the word [UNK] anyway */
#define FILE_CHUNK (1u << 20)

static const char *const special_names[LF_TOKEN_SPECIAL_COUNT] = {"[PAD]", "[UNK]", "[CLS]",
                                                                  "[SEP]", "[MASK]"};

struct lf_tokenizer {
    int32_t n;             /* vocabulary size */
    char *blob;            /* every token, NUL-terminated, in id order */
    size_t *offset;        /* (n) start of token id in blob */
    uint32_t *length;      /* (n) byte length of token id */
    uint64_t *hash;        /* (n) hash of token id */
    int32_t *slot;         /* (mask + 1) open addressing: id or -1 */
    uint64_t mask;
    int32_t special[LF_TOKEN_SPECIAL_COUNT];
    int max_piece_chars;   /* longest token in code points: no longer match can exist */
    uint8_t ascii_props[128];
};

/* FNV-1a: tokens are short, so a byte-at-a-time hash is fast enough and simple. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

/* Mixes the FNV state so that its low bits (the slot index) depend on all bytes. */
static uint64_t hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Finds s[0..len) (prefixed with "##" when cont) in the vocab; -1 if absent. */
static int32_t vocab_find(const lf_tokenizer *tok, const uint8_t *s, size_t len, int cont)
{
    uint64_t h = FNV_OFFSET;
    if (cont) h = fnv_bytes(h, (const uint8_t *)"##", 2);
    h = hash_final(fnv_bytes(h, s, len));
    size_t full = len + (cont ? 2 : 0);
    for (uint64_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        int32_t id = tok->slot[i];
        if (id < 0) return -1;
        if (tok->hash[id] != h || tok->length[id] != full) continue;
        const char *t = tok->blob + tok->offset[id];
        if (cont) {
            if (t[0] != '#' || t[1] != '#') continue;
            t += 2;
        }
        if (memcmp(t, s, len) == 0) return id;
    }
}

int32_t lf_tokenizer_id(const lf_tokenizer *tok, const char *s, size_t len)
{
    return vocab_find(tok, (const uint8_t *)s, len, 0);
}

int32_t lf_tokenizer_vocab_size(const lf_tokenizer *tok) { return tok->n; }

int32_t lf_tokenizer_special_id(const lf_tokenizer *tok, lf_special_token which)
{
    LF_ASSERT(which >= 0 && which < LF_TOKEN_SPECIAL_COUNT);
    return tok->special[which];
}

const char *lf_tokenizer_token(const lf_tokenizer *tok, int32_t id)
{
    if (id < 0 || id >= tok->n) return NULL;
    return tok->blob + tok->offset[id];
}

void lf_tokenizer_free(lf_tokenizer *tok)
{
    if (!tok) return;
    lf_free(tok->blob);
    lf_free(tok->offset);
    lf_free(tok->length);
    lf_free(tok->hash);
    lf_free(tok->slot);
    lf_free(tok);
}

/* Grows *buf (elements of size elem, capacity *cap) to hold at least need. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem, size_t used)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) {
        if (c > SIZE_MAX / 2) LF_FAIL("tokenizer: buffer of %zu elements is too large", need);
        c *= 2;
    }
    void *p = lf_alloc(c, elem);
    if (!p) return -1;
    if (used) memcpy(p, *buf, used * elem);
    lf_free(*buf);
    *buf = p;
    *cap = c;
    return 0;
}

/* Reads a whole file into a new buffer (size in *len). */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) LF_FAIL("%s: cannot open: %s", path, strerror(errno));
    void *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (grow(&buf, &cap, n + (1 << 16), 1, n) != 0) {
            lf_error_prefix("%s", path);
            goto fail;
        }
        size_t want = cap - n;
        size_t got = fread((uint8_t *)buf + n, 1, want, f);
        n += got;
        if (got < want) break; /* end of file or an error */
    }
    if (ferror(f)) {
        lf_error_set("%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
fail:
    fclose(f);
    lf_free(buf);
    return -1;
}

/* Sets "path:line: message". */
static void fail_line(const char *path, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_line(const char *path, int64_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lf_error_set("%s:%lld: %s", path, (long long)line, msg);
}

lf_tokenizer *lf_tokenizer_load(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len) != 0) return NULL;
    lf_tokenizer *tok = lf_calloc(1, sizeof *tok);
    if (!tok) {
        lf_free(data);
        return NULL;
    }
    /* Count lines: every '\n' ends one, and a last line without '\n' counts too. */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n') lines++;
    if (lines == 0) {
        lf_error_set("%s: empty vocabulary file", path);
        goto fail;
    }
    if (lines > INT32_MAX / 4) {
        lf_error_set("%s: %zu lines is too many for a vocabulary", path, lines);
        goto fail;
    }
    tok->n = (int32_t)lines;
    uint64_t slots = 16;
    while (slots < 2 * (uint64_t)lines) slots *= 2; /* load factor <= 1/2 */
    tok->mask = slots - 1;
    tok->blob = lf_alloc(len + 1, 1);
    tok->offset = lf_alloc(lines, sizeof *tok->offset);
    tok->length = lf_alloc(lines, sizeof *tok->length);
    tok->hash = lf_alloc(lines, sizeof *tok->hash);
    tok->slot = lf_alloc(slots, sizeof *tok->slot);
    if (!tok->blob || !tok->offset || !tok->length || !tok->hash || !tok->slot) goto fail;
    memset(tok->slot, 0xff, slots * sizeof *tok->slot);
    for (int k = 0; k < LF_TOKEN_SPECIAL_COUNT; k++) tok->special[k] = -1;

    size_t pos = 0, out = 0;
    for (int32_t id = 0; id < tok->n; id++) {
        size_t end = pos;
        while (end < len && data[end] != '\n') end++;
        size_t tl = end - pos;
        if (tl > 0 && data[pos + tl - 1] == '\r') tl--; /* CRLF files, as Python's text mode */
        int64_t line = (int64_t)id + 1;
        if (tl == 0) {
            fail_line(path, line, "empty line (a vocabulary has one token per line)");
            goto fail;
        }
        if (lf_utf8_validate(data + pos, tl, pos) != 0) { /* offset in the file */
            lf_error_prefix("%s:%lld", path, (long long)line);
            goto fail;
        }
        memcpy(tok->blob + out, data + pos, tl);
        tok->blob[out + tl] = '\0';
        tok->offset[id] = out;
        tok->length[id] = (uint32_t)tl;
        uint64_t h = hash_final(fnv_bytes(FNV_OFFSET, data + pos, tl));
        tok->hash[id] = h;
        uint64_t i = h & tok->mask;
        for (; tok->slot[i] >= 0; i = (i + 1) & tok->mask) {
            int32_t other = tok->slot[i];
            if (tok->hash[other] == h && tok->length[other] == tl &&
                memcmp(tok->blob + tok->offset[other], data + pos, tl) == 0) {
                fail_line(path, line, "duplicate token \"%.*s\" (first on line %d)",
                          tl > 80 ? 80 : (int)tl, (const char *)data + pos, other + 1);
                goto fail;
            }
        }
        tok->slot[i] = id;
        int chars = 0;
        for (size_t b = 0; b < tl; b++) chars += (data[pos + b] & 0xC0) != 0x80;
        if (chars > tok->max_piece_chars) tok->max_piece_chars = chars;
        out += tl + 1;
        pos = end + 1;
    }
    for (int k = 0; k < LF_TOKEN_SPECIAL_COUNT; k++) {
        tok->special[k] = vocab_find(tok, (const uint8_t *)special_names[k],
                                     strlen(special_names[k]), 0);
        if (tok->special[k] < 0) {
            lf_error_set("%s: special token %s is missing from the vocabulary (%d tokens)", path,
                         special_names[k], tok->n);
            goto fail;
        }
    }
    for (uint32_t c = 0; c < 128; c++) tok->ascii_props[c] = (uint8_t)lf_uni_props(c);
    lf_free(data);
    return tok;

fail:
    lf_free(data);
    lf_tokenizer_free(tok);
    return NULL;
}

/* ---- encoding ---------------------------------------------------------------- */

typedef struct {
    const lf_tokenizer *tok;
    int32_t *ids; /* output, grown by doubling */
    int64_t count, cap;
    uint32_t *tcp; /* code points of the current whitespace-delimited token */
    size_t tn, tcap;
    /* the current word after normalization, as UTF-8 with code point offsets; only
     * the first MAX_WORD_CHARS are kept, wn counts them all */
    uint8_t wbytes[4 * MAX_WORD_CHARS + 4];
    uint16_t woff[MAX_WORD_CHARS + 2];
    size_t wn;
    /* non-Mn combining characters waiting for canonical reordering */
    uint32_t run_cp[RUN_CAP];
    uint8_t run_ccc[RUN_CAP];
    size_t rn;
} enc_state;

static int push_id(enc_state *st, int32_t id)
{
    if (st->count == st->cap) {
        size_t cap = (size_t)st->cap;
        void *p = st->ids;
        LF_TRY(grow(&p, &cap, cap + 1, sizeof(int32_t), (size_t)st->count));
        st->ids = p;
        st->cap = (int64_t)cap;
    }
    st->ids[st->count++] = id;
    return 0;
}

/* WordPiece on the current word, then starts a new one. */
static int word_end(enc_state *st)
{
    size_t n = st->wn;
    if (n == 0) return 0;
    st->wn = 0;
    const lf_tokenizer *tok = st->tok;
    if (n > MAX_WORD_CHARS) return push_id(st, tok->special[LF_TOKEN_UNK]);
    int64_t mark = st->count;
    size_t start = 0;
    while (start < n) {
        size_t end = start + (size_t)tok->max_piece_chars;
        if (end > n) end = n;
        int32_t id = -1;
        for (; end > start; end--) {
            id = vocab_find(tok, st->wbytes + st->woff[start], st->woff[end] - st->woff[start],
                            start > 0);
            if (id >= 0) break;
        }
        if (id < 0) {
            /* no piece fits here: the whole word is one [UNK], as in Hugging Face */
            st->count = mark;
            return push_id(st, tok->special[LF_TOKEN_UNK]);
        }
        LF_TRY(push_id(st, id));
        start = end;
    }
    return 0;
}

static void word_add(enc_state *st, uint32_t cp)
{
    if (st->wn < MAX_WORD_CHARS + 1) {
        if (st->wn == 0) st->woff[0] = 0;
        uint16_t o = st->woff[st->wn];
        st->woff[st->wn + 1] = (uint16_t)(o + lf_utf8_encode(cp, st->wbytes + o));
    }
    st->wn++;
}

/* A character after accent stripping: punctuation is a word by itself. */
static int emit_char(enc_state *st, uint32_t cp, unsigned props)
{
    if ((props & 3) == LF_UNI_PUNCT) {
        LF_TRY(word_end(st));
        word_add(st, cp);
        return word_end(st);
    }
    word_add(st, cp);
    return 0;
}

/* Emits the pending combining run in canonical order (stable by combining class). */
static void run_flush(enc_state *st)
{
    size_t n = st->rn < RUN_CAP ? st->rn : RUN_CAP;
    for (size_t i = 1; i < n; i++) {
        uint32_t c = st->run_cp[i];
        uint8_t k = st->run_ccc[i];
        size_t j = i;
        for (; j > 0 && st->run_ccc[j - 1] > k; j--) {
            st->run_cp[j] = st->run_cp[j - 1];
            st->run_ccc[j] = st->run_ccc[j - 1];
        }
        st->run_cp[j] = c;
        st->run_ccc[j] = k;
    }
    /* Run characters are never punctuation (asserted by the table generator). */
    for (size_t i = 0; i < n; i++) word_add(st, st->run_cp[i]);
    st->wn += st->rn - n; /* overflow: the word is far past MAX_WORD_CHARS */
    st->rn = 0;
}

/* One code point of NFD(lower(token)): accent stripping and canonical order. */
static int emit_decomposed(enc_state *st, uint32_t cp)
{
    unsigned p = lf_uni_props(cp);
    if (p & LF_UNI_MN) {
        /* dropped; a starter (ccc 0) still ends the reordering run */
        if (!(p & LF_UNI_CCC) && st->rn) run_flush(st);
        return 0;
    }
    if (p & LF_UNI_CCC) {
        if (st->rn < RUN_CAP) {
            st->run_cp[st->rn] = cp;
            st->run_ccc[st->rn] = (uint8_t)lf_uni_ccc(cp);
        }
        st->rn++;
        return 0;
    }
    if (st->rn) run_flush(st);
    return emit_char(st, cp, p);
}

/* Python's str.lower() final-sigma rule for the U+03A3 at t[i]: a cased letter
 * before it and none after it, skipping case-ignorable characters both ways. */
static int is_final_sigma(const uint32_t *t, size_t n, size_t i)
{
    size_t j = i;
    unsigned p = 0;
    while (j > 0) {
        p = lf_uni_props(t[--j]);
        if (!(p & LF_UNI_CASE_IGNORABLE)) break;
        p = 0;
    }
    if (!(p & LF_UNI_CASED) || (p & LF_UNI_CASE_IGNORABLE)) return 0;
    for (j = i + 1; j < n; j++) {
        p = lf_uni_props(t[j]);
        if (!(p & LF_UNI_CASE_IGNORABLE)) return !(p & LF_UNI_CASED);
    }
    return 1;
}

/* Normalizes and word-pieces the collected whitespace-delimited token. */
static int token_end(enc_state *st)
{
    const uint32_t *t = st->tcp;
    size_t n = st->tn;
    st->tn = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i];
        if (c < 128) {
            /* ASCII: no decomposition, no combining class; lower-case inline */
            if (st->rn) run_flush(st);
            unsigned p = st->tok->ascii_props[c];
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            LF_TRY(emit_char(st, c, p));
            continue;
        }
        if (c == 0x3A3) {
            if (st->rn) run_flush(st);
            LF_TRY(emit_decomposed(st, is_final_sigma(t, n, i) ? 0x3C2 : 0x3C3));
            continue;
        }
        uint32_t f[LF_UNI_FOLD_MAX_LEN];
        int k = lf_uni_fold(c, f);
        for (int j = 0; j < k; j++) LF_TRY(emit_decomposed(st, f[j]));
    }
    if (st->rn) run_flush(st);
    return word_end(st);
}

static int token_add(enc_state *st, uint32_t cp)
{
    if (st->tn == st->tcap) {
        void *p = st->tcp;
        LF_TRY(grow(&p, &st->tcap, st->tn + 1, sizeof(uint32_t), st->tn));
        st->tcp = p;
    }
    st->tcp[st->tn++] = cp;
    return 0;
}

/* Tokenizes s[0..len), which ends where a token may end (end of text or after
 * whitespace); base is the offset of s in the whole input, for error messages. */
static int encode_span(enc_state *st, const uint8_t *s, size_t len, uint64_t base)
{
    const lf_tokenizer *tok = st->tok;
    size_t pos = 0;
    while (pos < len) {
        uint32_t cp;
        unsigned p;
        if (s[pos] < 0x80) {
            cp = s[pos++];
            p = tok->ascii_props[cp];
        } else {
            LF_TRY(lf_utf8_decode(s, len, &pos, &cp, base));
            p = lf_uni_props(cp);
        }
        switch (p & 3) {
        case LF_UNI_REMOVE:
            continue; /* removed without splitting: "a\u200Bb" is one word */
        case LF_UNI_SPACE:
            if (st->tn) LF_TRY(token_end(st));
            continue;
        default:
            if (cp >= 0x3400 && lf_uni_is_cjk(cp)) {
                if (st->tn) LF_TRY(token_end(st));
                LF_TRY(token_add(st, cp));
                LF_TRY(token_end(st));
                continue;
            }
            LF_TRY(token_add(st, cp));
        }
    }
    if (st->tn) LF_TRY(token_end(st));
    return 0;
}

static void enc_free(enc_state *st)
{
    lf_free(st->tcp);
    lf_free(st->ids);
}

/* Hands the ids to the caller (a valid array even when empty). */
static int enc_finish(enc_state *st, int32_t **ids, int64_t *count)
{
    if (!st->ids) {
        st->ids = lf_alloc(1, sizeof(int32_t));
        if (!st->ids) return -1;
    }
    lf_free(st->tcp);
    *ids = st->ids;
    *count = st->count;
    st->tcp = NULL;
    st->ids = NULL;
    return 0;
}

int lf_tokenizer_encode(const lf_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                        int64_t *count)
{
    *ids = NULL;
    *count = 0;
    enc_state st;
    memset(&st, 0, sizeof st);
    st.tok = tok;
    /* about one id per 4-5 bytes of English; start there to avoid most regrowth */
    size_t guess = len / 4 + 16;
    void *p = NULL;
    size_t cap = 0;
    if (grow(&p, &cap, guess, sizeof(int32_t), 0) != 0) return -1;
    st.ids = p;
    st.cap = (int64_t)cap;
    if (encode_span(&st, (const uint8_t *)text, len, 0) != 0 || enc_finish(&st, ids, count) != 0) {
        enc_free(&st);
        return -1;
    }
    return 0;
}

int lf_tokenizer_encode_file(const lf_tokenizer *tok, const char *path, int64_t max_tokens,
                             int32_t **ids, int64_t *count)
{
    *ids = NULL;
    *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f) LF_FAIL("%s: cannot open: %s", path, strerror(errno));
    enc_state st;
    memset(&st, 0, sizeof st);
    st.tok = tok;
    size_t cap = 2 * FILE_CHUNK, have = 0;
    uint8_t *buf = lf_alloc(cap, 1);
    uint64_t base = 0; /* file offset of buf[0] */
    int eof = 0, rc = -1, done = 0;
    if (!buf) goto out;
    while (!eof || have > 0) {
        if (!eof) {
            if (cap - have < FILE_CHUNK) { /* one token longer than a chunk: grow */
                void *p = buf;
                if (grow(&p, &cap, cap + FILE_CHUNK, 1, have) != 0) goto out;
                buf = p;
            }
            size_t got = fread(buf + have, 1, FILE_CHUNK, f);
            if (got < FILE_CHUNK) {
                if (ferror(f)) {
                    lf_error_set("%s: read error: %s", path, strerror(errno));
                    goto out;
                }
                eof = 1;
            }
            have += got;
        }
        /* Cut after the last ASCII whitespace: it never occurs inside a UTF-8
         * sequence and always ends a token, so chunks tokenize independently. */
        size_t cut = have;
        if (!eof) {
            while (cut > 0 && buf[cut - 1] != ' ' && buf[cut - 1] != '\n' && buf[cut - 1] != '\t' &&
                   buf[cut - 1] != '\r')
                cut--;
            if (cut == 0) continue; /* no whitespace yet: read more */
        }
        int bad = done ? lf_utf8_validate(buf, cut, base) : encode_span(&st, buf, cut, base);
        if (bad) {
            lf_error_prefix("%s", path);
            goto out;
        }
        if (max_tokens > 0 && st.count >= max_tokens) done = 1;
        memmove(buf, buf + cut, have - cut);
        have -= cut;
        base += cut;
    }
    if (max_tokens > 0 && st.count > max_tokens) st.count = max_tokens;
    if (enc_finish(&st, ids, count) != 0) goto out;
    rc = 0;
out:
    fclose(f);
    lf_free(buf);
    enc_free(&st);
    return rc;
}

int lf_tokenizer_sequences(const lf_tokenizer *tok, const char *path, int64_t S, int64_t n,
                           int32_t **seqs, int64_t *available)
{
    *seqs = NULL;
    *available = 0;
    if (S < 1 || n < 3) LF_FAIL("lf_tokenizer_sequences: need S >= 1 and n >= 3 (S=%lld n=%lld)",
                                (long long)S, (long long)n);
    const int64_t body = n - 2;
    int32_t *ids = NULL;
    int64_t count = 0;
    if (lf_tokenizer_encode_file(tok, path, S * body, &ids, &count) != 0) return -1;
    *available = count / body;
    if (count < S * body) {
        lf_free(ids);
        return 0;
    }
    int32_t *out = lf_alloc((size_t)(S * n), sizeof *out);
    if (!out) {
        lf_free(ids);
        return -1;
    }
    const int32_t cls = lf_tokenizer_special_id(tok, LF_TOKEN_CLS);
    const int32_t sep = lf_tokenizer_special_id(tok, LF_TOKEN_SEP);
    for (int64_t s = 0; s < S; s++) {
        out[s * n] = cls;
        memcpy(out + s * n + 1, ids + s * body, (size_t)body * sizeof *ids);
        out[s * n + n - 1] = sep;
    }
    lf_free(ids);
    *seqs = out;
    return 0;
}
