/* corpus.c - tokenized corpus and its binary cache file (see corpus.h). */
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"
#include "tokenizer.h"

static const char corpus_magic[8] = {'L', 'F', 'C', 'O', 'R', 'P', 'U', 'S'};

uint64_t lf_fnv1a64(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- little-endian fields ------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The token array in its stored form (little-endian int32), in place. On a
 * little-endian machine this is the identity. */
static void ids_to_le(int32_t *ids, size_t n)
{
    uint8_t *b = (uint8_t *)ids;
    for (size_t i = 0; i < n; i++) put_u32(b + 4 * i, (uint32_t)ids[i]);
}
static void ids_from_le(int32_t *ids, size_t n)
{
    const uint8_t *b = (const uint8_t *)ids;
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)get_u32(b + 4 * i);
}

/* ---- files ---------------------------------------------------------------------- */

/* Reads a whole file into a new buffer (lf_alloc, NUL-terminated for convenience). */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) LF_FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        LF_FAIL("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = lf_alloc(n + 1, 1);
    if (!buf) {
        fclose(f);
        lf_error_prefix("%s", path);
        return -1;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        lf_free(buf);
        LF_FAIL("%s: read error (file changed while reading?)", path);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

static int file_checksum(const char *path, uint64_t *sum, uint64_t *bytes)
{
    uint8_t *d;
    size_t n;
    LF_TRY(read_file(path, &d, &n));
    *sum = lf_fnv1a64(d, n, LF_FNV1A64_INIT);
    if (bytes) *bytes = n;
    lf_free(d);
    return 0;
}

/* ---- tokenizing ----------------------------------------------------------------- */

void lf_corpus_bytes_encode(const uint8_t *bytes, size_t len, int32_t *ids)
{
    for (size_t i = 0; i < len; i++) ids[i] = bytes[i];
}

int lf_corpus_bytes_decode(const int32_t *ids, size_t count, uint8_t *bytes)
{
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] > 255)
            LF_FAIL("byte decoding: token %zu is id %d, not a byte", i, (int)ids[i]);
        bytes[i] = (uint8_t)ids[i];
    }
    return 0;
}

void lf_corpus_free(lf_corpus *c)
{
    if (!c) return;
    lf_free(c->ids);
    lf_free(c->vocab_map);
    memset(c, 0, sizeof *c);
}

int lf_corpus_compact(lf_corpus *c)
{
    if (!c || !c->ids || c->vocab_size < 1) LF_FAIL("corpus compact: no corpus");
    if (c->vocab_map) LF_FAIL("corpus compact: the corpus is already compacted");
    const int32_t V = c->vocab_size;
    int32_t *to = lf_alloc((size_t)V, sizeof *to); /* tokenizer id -> compact id, or -1 */
    if (!to) LF_FAIL("corpus compact: out of memory");
    for (int32_t i = 0; i < V; i++) to[i] = -1;
    for (int64_t i = 0; i < c->count; i++) {
        if (c->ids[i] < 0 || c->ids[i] >= V) {
            lf_free(to);
            LF_FAIL("corpus compact: token %lld is id %d, outside the vocabulary of %d",
                    (long long)i, (int)c->ids[i], (int)V);
        }
        to[c->ids[i]] = 0;
    }
    const int32_t sp[5] = {c->pad_id, c->unk_id, c->cls_id, c->sep_id, c->mask_id};
    for (int i = 0; i < 5; i++)
        if (sp[i] >= 0 && sp[i] < V) to[sp[i]] = 0;
    int32_t used = 0;
    for (int32_t i = 0; i < V; i++)
        if (to[i] == 0) to[i] = used++;
        else to[i] = -1;
    int32_t *map = lf_alloc((size_t)used, sizeof *map);
    if (!map) {
        lf_free(to);
        LF_FAIL("corpus compact: out of memory");
    }
    for (int32_t i = 0; i < V; i++)
        if (to[i] >= 0) map[to[i]] = i;
    for (int64_t i = 0; i < c->count; i++) c->ids[i] = to[c->ids[i]];
    int32_t *spp[5] = {&c->pad_id, &c->unk_id, &c->cls_id, &c->sep_id, &c->mask_id};
    for (int i = 0; i < 5; i++)
        if (*spp[i] >= 0) *spp[i] = to[*spp[i]];
    lf_free(to);
    c->full_vocab_size = V;
    c->vocab_size = used;
    c->vocab_map = map;
    return 0;
}

int lf_corpus_is_special(const lf_corpus *c, int32_t id)
{
    return id >= 0 && (id == c->pad_id || id == c->unk_id || id == c->cls_id ||
                       id == c->sep_id || id == c->mask_id);
}

int lf_corpus_tokenize(const char *text_path, const char *vocab_path, lf_corpus *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *text = NULL;
    size_t len;
    lf_tokenizer *tok = NULL;
    int rc = -1;
    if (vocab_path) {
        if (!(tok = lf_tokenizer_load(vocab_path))) return -1;
        if (file_checksum(vocab_path, &out->vocab_checksum, NULL) != 0) goto done;
    }
    if (read_file(text_path, &text, &len) != 0) goto done;
    out->source_bytes = len;
    out->source_checksum = lf_fnv1a64(text, len, LF_FNV1A64_INIT);
    if (!tok) {
        out->kind = LF_CORPUS_BYTES;
        out->vocab_size = LF_CORPUS_BYTE_VOCAB;
        out->pad_id = LF_CORPUS_BYTE_PAD;
        out->unk_id = -1;
        out->cls_id = LF_CORPUS_BYTE_CLS;
        out->sep_id = LF_CORPUS_BYTE_SEP;
        out->mask_id = LF_CORPUS_BYTE_MASK;
        if (!(out->ids = lf_alloc(len, sizeof(int32_t)))) {
            lf_error_prefix("%s", text_path);
            goto done;
        }
        lf_corpus_bytes_encode(text, len, out->ids);
        out->count = (int64_t)len;
    } else {
        out->kind = LF_CORPUS_WORDPIECE;
        out->vocab_size = lf_tokenizer_vocab_size(tok);
        out->pad_id = lf_tokenizer_special_id(tok, LF_TOKEN_PAD);
        out->unk_id = lf_tokenizer_special_id(tok, LF_TOKEN_UNK);
        out->cls_id = lf_tokenizer_special_id(tok, LF_TOKEN_CLS);
        out->sep_id = lf_tokenizer_special_id(tok, LF_TOKEN_SEP);
        out->mask_id = lf_tokenizer_special_id(tok, LF_TOKEN_MASK);
        if (lf_tokenizer_encode(tok, (const char *)text, len, &out->ids, &out->count) != 0) {
            lf_error_prefix("%s", text_path);
            goto done;
        }
    }
    rc = 0;
done:
    lf_free(text);
    lf_tokenizer_free(tok);
    if (rc) lf_corpus_free(out);
    return rc;
}

/* ---- cache file ------------------------------------------------------------------ */

static void header_pack(const lf_corpus *c, uint64_t tokens_sum, uint8_t *h)
{
    memset(h, 0, LF_CORPUS_HEADER_BYTES);
    memcpy(h, corpus_magic, 8);
    put_u32(h + 8, LF_CORPUS_VERSION);
    put_u32(h + 12, (uint32_t)c->kind);
    put_u32(h + 16, LF_CORPUS_TOKENIZER_REV);
    put_u32(h + 20, (uint32_t)c->vocab_size);
    put_u32(h + 24, (uint32_t)c->pad_id);
    put_u32(h + 28, (uint32_t)c->unk_id);
    put_u32(h + 32, (uint32_t)c->cls_id);
    put_u32(h + 36, (uint32_t)c->sep_id);
    put_u32(h + 40, (uint32_t)c->mask_id);
    put_u64(h + 48, (uint64_t)c->count);
    put_u64(h + 56, c->source_bytes);
    put_u64(h + 64, c->source_checksum);
    put_u64(h + 72, c->vocab_checksum);
    put_u64(h + 80, tokens_sum);
    put_u64(h + 88, lf_fnv1a64(h, 88, LF_FNV1A64_INIT));
}

/* Checksum of the ids as stored (little-endian int32), without a copy. */
static uint64_t tokens_checksum(const int32_t *ids, int64_t count)
{
    uint64_t h = LF_FNV1A64_INIT;
    uint8_t b[4];
    for (int64_t i = 0; i < count; i++) {
        put_u32(b, (uint32_t)ids[i]);
        h = lf_fnv1a64(b, 4, h);
    }
    return h;
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int lf_corpus_save(const lf_corpus *c, const char *cache_path)
{
    if (!cache_path || !*cache_path) LF_FAIL("corpus cache: empty path");
    if (c->vocab_map) LF_FAIL("corpus cache %s: a compacted corpus is not cached", cache_path);
    size_t plen = strlen(cache_path) + 32;
    char *tmp = lf_alloc(plen, 1);
    if (!tmp) return -1;
    snprintf(tmp, plen, "%s.tmp.%ld", cache_path, (long)getpid());
    uint8_t h[LF_CORPUS_HEADER_BYTES];
    header_pack(c, tokens_checksum(c->ids, c->count), h);
    int rc = -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        lf_error_set("%s: cannot create %s: %s", cache_path, tmp, strerror(errno));
        lf_free(tmp);
        return -1;
    }
    int bad = write_all(f, h, sizeof h);
    /* The ids in stored form, a block at a time. */
    int32_t block[4096];
    for (int64_t i = 0; !bad && i < c->count; i += 4096) {
        size_t m = (size_t)(c->count - i < 4096 ? c->count - i : 4096);
        memcpy(block, c->ids + i, m * sizeof(int32_t));
        ids_to_le(block, m);
        bad = write_all(f, block, m * sizeof(int32_t));
    }
    if (!bad) bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        lf_error_set("%s: cannot write %s: %s", cache_path, tmp, strerror(e));
    } else if (rename(tmp, cache_path) != 0) {
        lf_error_set("%s: cannot rename %s to it: %s", cache_path, tmp, strerror(errno));
    } else {
        rc = 0;
    }
    if (rc) unlink(tmp);
    lf_free(tmp);
    return rc;
}

int lf_corpus_load(const char *cache_path, lf_corpus *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(cache_path, "rb");
    if (!f) LF_FAIL("%s: cannot open corpus cache: %s", cache_path, strerror(errno));
    int rc = -1;
    struct stat st;
    uint8_t h[LF_CORPUS_HEADER_BYTES];
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        lf_error_set("%s: corpus cache is not a regular file", cache_path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < LF_CORPUS_HEADER_BYTES || fread(h, 1, sizeof h, f) != sizeof h) {
        lf_error_set("%s: truncated corpus cache (%llu bytes; the header alone is %d)", cache_path,
                     (unsigned long long)size, LF_CORPUS_HEADER_BYTES);
        goto done;
    }
    if (memcmp(h, corpus_magic, 8) != 0) {
        lf_error_set("%s: not a corpus cache (bad magic)", cache_path);
        goto done;
    }
    uint32_t version = get_u32(h + 8);
    if (version != LF_CORPUS_VERSION) {
        lf_error_set("%s: corpus cache format version %u, this build reads %u (delete the file "
                     "to rebuild it)",
                     cache_path, version, LF_CORPUS_VERSION);
        goto done;
    }
    if (get_u64(h + 88) != lf_fnv1a64(h, 88, LF_FNV1A64_INIT)) {
        lf_error_set("%s: corpus cache header is damaged (checksum mismatch)", cache_path);
        goto done;
    }
    uint32_t kind = get_u32(h + 12), rev = get_u32(h + 16);
    if (kind > LF_CORPUS_WORDPIECE) {
        lf_error_set("%s: corpus cache has unknown tokenizer kind %u", cache_path, kind);
        goto done;
    }
    if (rev != LF_CORPUS_TOKENIZER_REV) {
        lf_error_set("%s: corpus cache made by tokenizer revision %u, this build has %u (delete "
                     "the file to rebuild it)",
                     cache_path, rev, LF_CORPUS_TOKENIZER_REV);
        goto done;
    }
    out->kind = (lf_corpus_kind)kind;
    out->vocab_size = (int32_t)get_u32(h + 20);
    int32_t *sp[5] = {&out->pad_id, &out->unk_id, &out->cls_id, &out->sep_id, &out->mask_id};
    static const char *const sp_name[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    if (out->vocab_size <= 0) {
        lf_error_set("%s: corpus cache has vocabulary size %d", cache_path, (int)out->vocab_size);
        goto done;
    }
    for (int i = 0; i < 5; i++) {
        *sp[i] = (int32_t)get_u32(h + 24 + 4 * i);
        int optional = i == 1 && kind == LF_CORPUS_BYTES;
        if (!(*sp[i] >= 0 && *sp[i] < out->vocab_size) && !(optional && *sp[i] == -1)) {
            lf_error_set("%s: corpus cache: %s id %d outside the vocabulary 0..%d", cache_path,
                         sp_name[i], (int)*sp[i], (int)out->vocab_size - 1);
            goto done;
        }
    }
    if (kind == LF_CORPUS_BYTES &&
        (out->vocab_size != LF_CORPUS_BYTE_VOCAB || out->pad_id != LF_CORPUS_BYTE_PAD ||
         out->unk_id != -1 || out->cls_id != LF_CORPUS_BYTE_CLS ||
         out->sep_id != LF_CORPUS_BYTE_SEP || out->mask_id != LF_CORPUS_BYTE_MASK)) {
        lf_error_set("%s: corpus cache: byte tokenization with a vocabulary other than 256 bytes "
                     "+ [PAD] [CLS] [SEP] [MASK]",
                     cache_path);
        goto done;
    }
    uint64_t count = get_u64(h + 48);
    uint64_t payload = size - LF_CORPUS_HEADER_BYTES;
    if (count > payload / 4 || payload != count * 4) {
        lf_error_set("%s: corpus cache %s: header says %llu tokens (4 bytes each), the file "
                     "holds %llu bytes after the header",
                     cache_path, count > payload / 4 ? "truncated" : "too long",
                     (unsigned long long)count, (unsigned long long)payload);
        goto done;
    }
    out->count = (int64_t)count;
    out->source_bytes = get_u64(h + 56);
    out->source_checksum = get_u64(h + 64);
    out->vocab_checksum = get_u64(h + 72);
    if (!(out->ids = lf_alloc((size_t)count, sizeof(int32_t)))) {
        lf_error_prefix("%s", cache_path);
        goto done;
    }
    if (count && fread(out->ids, 4, (size_t)count, f) != (size_t)count) {
        lf_error_set("%s: read error in the corpus cache (file changed while reading?)",
                     cache_path);
        goto done;
    }
    if (lf_fnv1a64(out->ids, (size_t)count * 4, LF_FNV1A64_INIT) != get_u64(h + 80)) {
        lf_error_set("%s: corpus cache token data is damaged (checksum mismatch)", cache_path);
        goto done;
    }
    ids_from_le(out->ids, (size_t)count);
    for (uint64_t i = 0; i < count; i++) {
        int32_t id = out->ids[i];
        if (id < 0 || id >= out->vocab_size) {
            lf_error_set("%s: corpus cache token %llu is id %d, outside the vocabulary 0..%d",
                         cache_path, (unsigned long long)i, (int)id, (int)out->vocab_size - 1);
            goto done;
        }
    }
    rc = 0;
done:
    fclose(f);
    if (rc) lf_corpus_free(out);
    return rc;
}

int lf_corpus_matches(const lf_corpus *c, const char *text_path, const char *vocab_path,
                      char *why, size_t why_len)
{
    char dummy[8];
    if (!why || why_len == 0) why = dummy, why_len = sizeof dummy;
    lf_corpus_kind want = vocab_path ? LF_CORPUS_WORDPIECE : LF_CORPUS_BYTES;
    if (c->kind != want) {
        snprintf(why, why_len, "tokenizer is %s, wanted %s",
                 c->kind == LF_CORPUS_BYTES ? "bytes" : "wordpiece",
                 want == LF_CORPUS_BYTES ? "bytes" : "wordpiece");
        return 0;
    }
    if (vocab_path) {
        uint64_t vs;
        LF_TRY(file_checksum(vocab_path, &vs, NULL));
        if (vs != c->vocab_checksum) {
            snprintf(why, why_len, "vocab checksum differs");
            return 0;
        }
    }
    uint64_t sum, bytes;
    LF_TRY(file_checksum(text_path, &sum, &bytes));
    if (bytes != c->source_bytes) {
        snprintf(why, why_len, "source size %llu bytes, cache made from %llu",
                 (unsigned long long)bytes, (unsigned long long)c->source_bytes);
        return 0;
    }
    if (sum != c->source_checksum) {
        snprintf(why, why_len, "source checksum differs");
        return 0;
    }
    return 1;
}

int lf_corpus_open(const char *text_path, const char *vocab_path, const char *cache_path,
                   int rebuild_stale, lf_corpus *out, lf_corpus_cache_status *status, char *note,
                   size_t note_len)
{
    memset(out, 0, sizeof *out);
    if (note && note_len) note[0] = '\0';
    lf_corpus_cache_status st = LF_CORPUS_UNCACHED;
    if (cache_path) {
        if (access(cache_path, F_OK) == 0) {
            LF_TRY(lf_corpus_load(cache_path, out));
            char why[160];
            int m = lf_corpus_matches(out, text_path, vocab_path, why, sizeof why);
            if (m < 0) {
                lf_corpus_free(out);
                return -1;
            }
            if (m == 1) {
                if (status) *status = LF_CORPUS_CACHE_HIT;
                return 0;
            }
            lf_corpus_free(out);
            if (!rebuild_stale)
                LF_FAIL("%s: stale corpus cache (%s); delete it to rebuild", cache_path, why);
            if (note && note_len)
                snprintf(note, note_len, "corpus cache %s was stale (%s): rebuilt", cache_path,
                         why);
            st = LF_CORPUS_CACHE_REBUILT;
        } else {
            st = LF_CORPUS_CACHE_BUILT;
        }
    }
    LF_TRY(lf_corpus_tokenize(text_path, vocab_path, out));
    if (cache_path && lf_corpus_save(out, cache_path) != 0) {
        lf_corpus_free(out);
        return -1;
    }
    if (status) *status = st;
    return 0;
}
