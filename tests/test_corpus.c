/* test_corpus.c - the tokenized corpus and its cache file (core/corpus.c).
 *
 * Byte tokenization round trip over all 256 byte values, UTF-8 text and invalid
 * UTF-8; WordPiece corpus equal to lf_tokenizer_encode_file; FNV-1a-64 against the
 * published test vectors; cache round trip and an independent parse of the file by
 * tests/ref_corpus.py (header fields and every checksum recomputed in Python);
 * lf_corpus_open building, hitting and rebuilding a stale cache; and rejection of
 * truncated, overlong, garbled and inconsistent cache files, each with one error
 * line naming the file and the problem; lf_corpus_compact against its definition.
 *
 * Runs in a scratch directory (tests/run.sh); writes its files there.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "corpus.h"
#include "error.h"
#include "mem.h"
#include "repo_path.h"
#include "tokenizer.h"

static char vocab_path[PATH_MAX + 64];

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "test_corpus: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A text with ASCII, 2-, 3- and 4-byte UTF-8, a NUL byte, CRLF and punctuation. */
static const char sample_text[] =
    "In the beginning God created the heaven and the earth.\r\n"
    "Caf\xc3\xa9 na\xc3\xafve \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 "
    "[CLS] [MASK] unaffable running's (x) -- 3.14\n";

static const char *python(void)
{
    if (system("/usr/bin/python3 -c 'import struct' >/dev/null 2>&1") == 0) return "/usr/bin/python3";
    if (system("python3 -c 'import struct' >/dev/null 2>&1") == 0) return "python3";
    return NULL;
}

/* ---- FNV-1a-64 ------------------------------------------------------------------- */

static void test_fnv(void)
{
    /* Published FNV-1a 64-bit test vectors (Fowler, Noll, Vo; isthe.com/chongo/tech/comp/fnv). */
    CHECK(lf_fnv1a64("", 0, LF_FNV1A64_INIT) == 0xcbf29ce484222325ULL);
    CHECK(lf_fnv1a64("a", 1, LF_FNV1A64_INIT) == 0xaf63dc4c8601ec8cULL);
    CHECK(lf_fnv1a64("foobar", 6, LF_FNV1A64_INIT) == 0x85944171f73967e8ULL);
    /* Incremental equals one pass. */
    uint64_t h = lf_fnv1a64("foo", 3, LF_FNV1A64_INIT);
    CHECK(lf_fnv1a64("bar", 3, h) == 0x85944171f73967e8ULL);
}

/* ---- byte tokenization ------------------------------------------------------------ */

static void test_bytes_round_trip(void)
{
    /* All 256 byte values (invalid UTF-8 included), then UTF-8 text. */
    size_t n = 256 + sizeof sample_text - 1;
    uint8_t *text = malloc(n);
    for (int i = 0; i < 256; i++) text[i] = (uint8_t)(255 - i);
    memcpy(text + 256, sample_text, sizeof sample_text - 1);
    write_file("bytes.txt", text, n);
    lf_corpus c;
    CHECK_MSG(lf_corpus_tokenize("bytes.txt", NULL, &c) == 0, "%s", lf_error_get());
    CHECK(c.kind == LF_CORPUS_BYTES);
    CHECK(c.count == (int64_t)n);
    CHECK(c.vocab_size == 260 && c.pad_id == 256 && c.cls_id == 257 && c.sep_id == 258 &&
          c.mask_id == 259 && c.unk_id == -1);
    int same = c.count == (int64_t)n;
    for (size_t i = 0; same && i < n; i++) same = c.ids[i] == text[i];
    CHECK_MSG(same, "byte ids differ from the bytes");
    uint8_t *back = malloc(n);
    CHECK(lf_corpus_bytes_decode(c.ids, (size_t)c.count, back) == 0);
    CHECK(memcmp(back, text, n) == 0);
    /* Decoding a special id fails, naming the position. */
    int32_t bad[3] = {65, LF_CORPUS_BYTE_MASK, 66};
    CHECK(lf_corpus_bytes_decode(bad, 3, back) != 0);
    CHECK_MSG(strstr(lf_error_get(), "token 1") != NULL, "message: %s", lf_error_get());
    for (int32_t id = 0; id < 260; id++) CHECK(lf_corpus_is_special(&c, id) == (id >= 256));
    CHECK(lf_corpus_is_special(&c, -1) == 0);
    /* Empty file: zero tokens, still a valid corpus. */
    write_file("empty.txt", "", 0);
    lf_corpus e;
    CHECK(lf_corpus_tokenize("empty.txt", NULL, &e) == 0 && e.count == 0);
    CHECK(lf_corpus_save(&e, "empty.cache") == 0);
    lf_corpus_free(&e);
    CHECK_MSG(lf_corpus_load("empty.cache", &e) == 0 && e.count == 0, "%s", lf_error_get());
    lf_corpus_free(&e);
    lf_corpus_free(&c);
    free(back);
    free(text);
    /* A missing file: one line naming it. */
    CHECK(lf_corpus_tokenize("no_such.txt", NULL, &c) != 0);
    CHECK_MSG(strstr(lf_error_get(), "no_such.txt") != NULL, "message: %s", lf_error_get());
}

/* ---- WordPiece ----------------------------------------------------------------------- */

static void test_wordpiece_equals_tokenizer(void)
{
    /* The sample repeated, for a corpus of a few thousand ids. */
    size_t reps = 200, one = sizeof sample_text - 1;
    char *text = malloc(reps * one);
    for (size_t i = 0; i < reps; i++) memcpy(text + i * one, sample_text, one);
    write_file("wp.txt", text, reps * one);
    free(text);
    lf_tokenizer *tok = lf_tokenizer_load(vocab_path);
    CHECK_MSG(tok != NULL, "%s", lf_error_get());
    if (!tok) return;
    int32_t *ref = NULL;
    int64_t ref_n = 0;
    CHECK(lf_tokenizer_encode_file(tok, "wp.txt", 0, &ref, &ref_n) == 0);
    lf_corpus c;
    CHECK_MSG(lf_corpus_tokenize("wp.txt", vocab_path, &c) == 0, "%s", lf_error_get());
    CHECK(c.kind == LF_CORPUS_WORDPIECE);
    CHECK(c.vocab_size == lf_tokenizer_vocab_size(tok));
    CHECK(c.pad_id == lf_tokenizer_special_id(tok, LF_TOKEN_PAD));
    CHECK(c.unk_id == lf_tokenizer_special_id(tok, LF_TOKEN_UNK));
    CHECK(c.cls_id == lf_tokenizer_special_id(tok, LF_TOKEN_CLS));
    CHECK(c.sep_id == lf_tokenizer_special_id(tok, LF_TOKEN_SEP));
    CHECK(c.mask_id == lf_tokenizer_special_id(tok, LF_TOKEN_MASK));
    CHECK(c.count == ref_n && ref_n > 1000);
    CHECK(c.count == ref_n && memcmp(c.ids, ref, (size_t)ref_n * 4) == 0);
    /* The text "[CLS] [MASK]" is ordinary text, never special ids. */
    int64_t specials = 0;
    for (int64_t i = 0; i < c.count; i++)
        specials += c.ids[i] == c.cls_id || c.ids[i] == c.mask_id || c.ids[i] == c.pad_id;
    CHECK(specials == 0);
    CHECK(lf_corpus_save(&c, "wp.cache") == 0);
    lf_corpus l;
    CHECK_MSG(lf_corpus_load("wp.cache", &l) == 0, "%s", lf_error_get());
    CHECK(l.count == c.count && memcmp(l.ids, c.ids, (size_t)c.count * 4) == 0);
    CHECK(l.kind == c.kind && l.vocab_size == c.vocab_size && l.unk_id == c.unk_id &&
          l.source_checksum == c.source_checksum && l.vocab_checksum == c.vocab_checksum);
    CHECK(lf_corpus_matches(&l, "wp.txt", vocab_path, NULL, 0) == 1);
    CHECK(lf_corpus_matches(&l, "wp.txt", NULL, NULL, 0) == 0); /* bytes wanted */
    /* Independent parse in Python, ids compared with the tokenizer's output. */
    const char *py = python();
    if (py) {
        FILE *f = fopen("wp_ids.txt", "w");
        for (int64_t i = 0; i < ref_n; i++) fprintf(f, "%d\n", (int)ref[i]);
        fclose(f);
        char rp[PATH_MAX + 64], cmd[3 * PATH_MAX + 256];
        repo_path("tests/ref_corpus.py", rp, sizeof rp);
        snprintf(cmd, sizeof cmd, "%s %s wp.cache wp.txt wordpiece %s wp_ids.txt", py, rp,
                 vocab_path);
        fflush(stdout);
        CHECK_MSG(system(cmd) == 0, "ref_corpus.py rejected the WordPiece cache");
    } else {
        printf("SKIPPED ref_corpus.py check: no python3\n");
    }
    lf_corpus_free(&l);
    lf_corpus_free(&c);
    lf_free(ref);
    lf_tokenizer_free(tok);
    /* Invalid UTF-8 under WordPiece: an error naming the file and offset. */
    write_file("bad_utf8.txt", "abc \xff def", 9);
    CHECK(lf_corpus_tokenize("bad_utf8.txt", vocab_path, &c) != 0);
    CHECK_MSG(strstr(lf_error_get(), "bad_utf8.txt") && strstr(lf_error_get(), "byte offset 4"),
              "message: %s", lf_error_get());
}

static void test_bytes_cache_python(void)
{
    lf_corpus c;
    CHECK(lf_corpus_tokenize("bytes.txt", NULL, &c) == 0);
    CHECK(lf_corpus_save(&c, "bytes.cache") == 0);
    CHECK(!file_exists("bytes.cache.tmp.0")); /* sanity: no odd leftovers */
    lf_corpus l;
    CHECK_MSG(lf_corpus_load("bytes.cache", &l) == 0, "%s", lf_error_get());
    CHECK(l.count == c.count && memcmp(l.ids, c.ids, (size_t)c.count * 4) == 0);
    lf_corpus_free(&l);
    lf_corpus_free(&c);
    const char *py = python();
    if (!py) {
        printf("SKIPPED ref_corpus.py check: no python3\n");
        return;
    }
    char rp[PATH_MAX + 64], cmd[2 * PATH_MAX + 128];
    repo_path("tests/ref_corpus.py", rp, sizeof rp);
    snprintf(cmd, sizeof cmd, "%s %s bytes.cache bytes.txt bytes", py, rp);
    fflush(stdout);
    CHECK_MSG(system(cmd) == 0, "ref_corpus.py rejected the byte cache");
}

/* ---- lf_corpus_open: build, hit, stale ------------------------------------------- */

static void test_open_cache(void)
{
    write_file("open.txt", sample_text, sizeof sample_text - 1);
    unlink("open.cache");
    lf_corpus c;
    lf_corpus_cache_status st;
    char note[256];
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, note, sizeof note) == 0);
    CHECK(st == LF_CORPUS_CACHE_BUILT && file_exists("open.cache") && note[0] == '\0');
    lf_corpus_free(&c);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, note, sizeof note) == 0);
    CHECK(st == LF_CORPUS_CACHE_HIT);
    CHECK(c.count == (int64_t)sizeof sample_text - 1);
    lf_corpus_free(&c);
    /* Same size, one byte changed: the checksum catches it. */
    char changed[sizeof sample_text];
    memcpy(changed, sample_text, sizeof sample_text);
    changed[3] = 'X';
    write_file("open.txt", changed, sizeof sample_text - 1);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, note, sizeof note) == 0);
    CHECK_MSG(st == LF_CORPUS_CACHE_REBUILT && strstr(note, "source checksum differs"), "note: %s",
              note);
    CHECK(c.ids[3] == 'X');
    lf_corpus_free(&c);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, NULL, 0) == 0 &&
          st == LF_CORPUS_CACHE_HIT && c.ids[3] == 'X');
    lf_corpus_free(&c);
    /* A longer file: size differs. */
    write_file("open.txt", sample_text, sizeof sample_text - 2);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, note, sizeof note) == 0);
    CHECK_MSG(st == LF_CORPUS_CACHE_REBUILT && strstr(note, "source size"), "note: %s", note);
    lf_corpus_free(&c);
    /* Switching to WordPiece: the byte cache is stale. */
    CHECK(lf_corpus_open("open.txt", vocab_path, "open.cache", 1, &c, &st, note, sizeof note) == 0);
    CHECK_MSG(st == LF_CORPUS_CACHE_REBUILT && strstr(note, "tokenizer"), "note: %s", note);
    CHECK(c.kind == LF_CORPUS_WORDPIECE);
    lf_corpus_free(&c);
    /* Another vocab (one token appended): its checksum differs. */
    size_t vlen;
    uint8_t *v = read_all(vocab_path, &vlen);
    CHECK(v != NULL);
    if (v) {
        FILE *f = fopen("vocab2.txt", "wb");
        fwrite(v, 1, vlen, f);
        fputs("zzzextratoken\n", f);
        fclose(f);
        free(v);
        CHECK(lf_corpus_open("open.txt", "vocab2.txt", "open.cache", 1, &c, &st, note, sizeof note) == 0);
        CHECK_MSG(st == LF_CORPUS_CACHE_REBUILT && strstr(note, "vocab checksum"), "note: %s", note);
        lf_corpus_free(&c);
    }
    /* Strict: a stale cache is an error naming it and what differs; it stays as it was. */
    write_file("open.txt", sample_text, sizeof sample_text - 1);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 0, &c, &st, NULL, 0) != 0);
    CHECK_MSG(strstr(lf_error_get(), "open.cache: stale corpus cache (tokenizer is wordpiece, "
                                     "wanted bytes); delete it to rebuild"),
              "message: %s", lf_error_get());
    CHECK(lf_corpus_load("open.cache", &c) == 0 && c.kind == LF_CORPUS_WORDPIECE);
    lf_corpus_free(&c);
    /* No cache path: just tokenized. */
    CHECK(lf_corpus_open("open.txt", NULL, NULL, 1, &c, &st, NULL, 0) == 0 && st == LF_CORPUS_UNCACHED);
    lf_corpus_free(&c);
    /* A damaged cache is an error, and stays as it was (not silently replaced). */
    write_file("open.cache", "garbage", 7);
    CHECK(lf_corpus_open("open.txt", NULL, "open.cache", 1, &c, &st, NULL, 0) != 0);
    CHECK_MSG(strstr(lf_error_get(), "open.cache") && strstr(lf_error_get(), "truncated"),
              "message: %s", lf_error_get());
    size_t glen;
    uint8_t *g = read_all("open.cache", &glen);
    CHECK(g && glen == 7 && memcmp(g, "garbage", 7) == 0);
    free(g);
}

/* ---- rejection of bad cache files ------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the header and token checksums so that only the intended change remains. */
static void fix_checksums(uint8_t *d, size_t len)
{
    put64(d + 80, lf_fnv1a64(d + 96, len - 96, LF_FNV1A64_INIT));
    put64(d + 88, lf_fnv1a64(d, 88, LF_FNV1A64_INIT));
}

/* Loads a variant of the good cache; expects failure with `want` in a one-line message. */
static void expect_reject(const char *name, const uint8_t *data, size_t len, const char *want)
{
    write_file(name, data, len);
    lf_corpus c;
    int rc = lf_corpus_load(name, &c);
    const char *msg = lf_error_get();
    CHECK_MSG(rc != 0, "%s: accepted", name);
    if (rc == 0) {
        lf_corpus_free(&c);
        return;
    }
    CHECK_MSG(strstr(msg, name) && strstr(msg, want) && !strchr(msg, '\n'),
              "%s: message '%s' lacks '%s' (or is not one line)", name, msg, want);
    CHECK(c.ids == NULL && c.count == 0);
    printf("    %s -> %s\n", name, msg);
}

static void test_reject_bad_caches(void)
{
    lf_corpus c;
    CHECK(lf_corpus_tokenize("bytes.txt", NULL, &c) == 0);
    CHECK(lf_corpus_save(&c, "good.cache") == 0);
    lf_corpus_free(&c);
    size_t len;
    uint8_t *good = read_all("good.cache", &len);
    CHECK(good && len == 96 + 4 * (256 + sizeof sample_text - 1));
    if (!good) return;
    uint8_t *d = malloc(len + 16);

    expect_reject("t_empty.cache", good, 0, "truncated");
    expect_reject("t_header.cache", good, 50, "truncated");
    expect_reject("t_tokens.cache", good, len - 2, "truncated");
    memcpy(d, good, len);
    d[len] = 0;
    expect_reject("t_long.cache", d, len + 1, "too long");
    memcpy(d, good, len);
    d[0] = 'X';
    expect_reject("t_magic.cache", d, len, "bad magic");
    memcpy(d, good, len);
    put32(d + 8, 2);
    fix_checksums(d, len);
    expect_reject("t_version.cache", d, len, "version 2");
    memcpy(d, good, len);
    d[50] ^= 1; /* token count, header checksum left stale */
    expect_reject("t_hdr_garbled.cache", d, len, "header is damaged");
    memcpy(d, good, len);
    d[200] ^= 0x40; /* a token byte */
    expect_reject("t_tok_garbled.cache", d, len, "token data is damaged");
    memcpy(d, good, len);
    put32(d + 96 + 4 * 10, 260); /* id = vocab size, checksums made consistent */
    fix_checksums(d, len);
    expect_reject("t_id_range.cache", d, len, "token 10 is id 260, outside the vocabulary");
    memcpy(d, good, len);
    put32(d + 96 + 4 * 7, (uint32_t)-5);
    fix_checksums(d, len);
    expect_reject("t_id_negative.cache", d, len, "token 7 is id -5");
    memcpy(d, good, len);
    put32(d + 12, 7);
    fix_checksums(d, len);
    expect_reject("t_kind.cache", d, len, "unknown tokenizer kind 7");
    memcpy(d, good, len);
    put32(d + 16, 9);
    fix_checksums(d, len);
    expect_reject("t_rev.cache", d, len, "tokenizer revision 9");
    memcpy(d, good, len);
    put32(d + 40, 5000); /* [MASK] id outside the vocabulary */
    fix_checksums(d, len);
    expect_reject("t_special.cache", d, len, "[MASK] id 5000");
    memcpy(d, good, len);
    put32(d + 20, 300); /* byte kind with another vocabulary */
    fix_checksums(d, len);
    expect_reject("t_bytevocab.cache", d, len, "byte tokenization with a vocabulary");
    memcpy(d, good, len);
    put64(d + 48, UINT64_MAX / 2); /* huge count, consistent header checksum */
    fix_checksums(d, len);
    expect_reject("t_count.cache", d, len, "truncated");
    /* The untouched copy still loads. */
    write_file("good2.cache", good, len);
    CHECK_MSG(lf_corpus_load("good2.cache", &c) == 0, "%s", lf_error_get());
    lf_corpus_free(&c);
    CHECK(lf_corpus_load("missing.cache", &c) != 0 && strstr(lf_error_get(), "missing.cache"));
    free(d);
    free(good);
}

/* Every truncation length and a flipped bit at every byte position within and just
 * after the header, and at every 23rd byte of the token array (one checksum covers
 * it all; fewer files keep the test fast on slow disks): each variant is rejected
 * with one line, never loaded as data. */
static void test_exhaustive_damage(void)
{
    size_t len;
    uint8_t *good = read_all("good.cache", &len);
    CHECK(good != NULL);
    if (!good) return;
    uint8_t *d = malloc(len);
    int64_t accepted = 0, multiline = 0, tried = 0;
    lf_corpus c;
    for (size_t cut = 0; cut < len; cut += cut < 128 ? 1 : 23, tried++) {
        write_file("dmg.cache", good, cut);
        if (lf_corpus_load("dmg.cache", &c) == 0) accepted++, lf_corpus_free(&c);
        else multiline += strchr(lf_error_get(), '\n') != NULL;
    }
    for (size_t pos = 0; pos < len; pos += pos < 128 ? 1 : 23, tried++) {
        memcpy(d, good, len);
        d[pos] ^= (uint8_t)(1u << (pos % 8));
        write_file("dmg.cache", d, len);
        if (lf_corpus_load("dmg.cache", &c) == 0) accepted++, lf_corpus_free(&c);
        else multiline += strchr(lf_error_get(), '\n') != NULL;
    }
    CHECK_MSG(accepted == 0, "%lld damaged files loaded", (long long)accepted);
    CHECK(multiline == 0);
    check_notef("%lld damaged variants, all rejected", (long long)tried);
    free(d);
    free(good);
}

static void test_save_errors(void)
{
    lf_corpus c;
    CHECK(lf_corpus_tokenize("bytes.txt", NULL, &c) == 0);
    CHECK(lf_corpus_save(&c, "no_such_dir/x.cache") != 0);
    CHECK_MSG(strstr(lf_error_get(), "no_such_dir/x.cache"), "message: %s", lf_error_get());
    lf_corpus_free(&c);
}

/* lf_corpus_compact against its definition, checked naively: the compact vocabulary
 * is exactly the occurring ids plus the specials, in increasing order; every token
 * maps back to its original id; special ids are renumbered consistently; a second
 * compaction and caching a compacted corpus are refused. wp.txt is written by
 * test_wordpiece_equals_tokenizer; the byte case has 6 distinct bytes + 4 specials. */
static void test_compact(void)
{
    for (int wp = 0; wp < 2; wp++) {
        lf_corpus c, orig;
        const char *vp = wp ? vocab_path : NULL, *txt = wp ? "wp.txt" : "few_bytes.txt";
        if (!wp) write_file("few_bytes.txt", "abracadabra\n", 12);
        CHECK_MSG(lf_corpus_tokenize(txt, vp, &c) == 0, "%s", lf_error_get());
        CHECK(lf_corpus_tokenize(txt, vp, &orig) == 0);
        if (!c.ids || !orig.ids) return;
        const int32_t V = orig.vocab_size;
        uint8_t *seen = calloc((size_t)V, 1);
        for (int64_t i = 0; i < orig.count; i++) seen[orig.ids[i]] = 1;
        const int32_t sp[5] = {orig.pad_id, orig.unk_id, orig.cls_id, orig.sep_id, orig.mask_id};
        for (int i = 0; i < 5; i++)
            if (sp[i] >= 0) seen[sp[i]] = 1;
        int32_t expect = 0;
        for (int32_t i = 0; i < V; i++) expect += seen[i];
        CHECK_MSG(lf_corpus_compact(&c) == 0, "%s", lf_error_get());
        CHECK_MSG(c.vocab_size == expect && expect < V && (wp || expect == 10),
                  "compact %d, expected %d of %d",
                  (int)c.vocab_size, (int)expect, (int)V);
        CHECK(c.full_vocab_size == V && c.count == orig.count && c.vocab_map);
        if (c.vocab_size != expect || !c.vocab_map) {
            free(seen);
            lf_corpus_free(&c), lf_corpus_free(&orig);
            continue;
        }
        int ok_order = 1, ok_seen = 1, ok_tokens = 1;
        for (int32_t j = 0; j < c.vocab_size; j++) {
            if (j > 0 && c.vocab_map[j] <= c.vocab_map[j - 1]) ok_order = 0;
            if (c.vocab_map[j] < 0 || c.vocab_map[j] >= V || !seen[c.vocab_map[j]]) ok_seen = 0;
        }
        for (int64_t i = 0; i < c.count; i++)
            if (c.ids[i] < 0 || c.ids[i] >= c.vocab_size || c.vocab_map[c.ids[i]] != orig.ids[i])
                ok_tokens = 0;
        CHECK(ok_order && ok_seen && ok_tokens);
        int32_t got[5] = {c.pad_id, c.unk_id, c.cls_id, c.sep_id, c.mask_id};
        for (int i = 0; i < 5; i++)
            CHECK_MSG(sp[i] < 0 ? got[i] == -1 : (got[i] >= 0 && c.vocab_map[got[i]] == sp[i]),
                      "special %d: %d -> %d", i, (int)sp[i], (int)got[i]);
        CHECK(lf_corpus_compact(&c) != 0);
        CHECK_MSG(strstr(lf_error_get(), "already compacted"), "message: %s", lf_error_get());
        CHECK(lf_corpus_save(&c, "compact.cache") != 0 && !file_exists("compact.cache"));
        free(seen);
        lf_corpus_free(&c);
        lf_corpus_free(&orig);
    }
}

int main(void)
{
    check_program = "test_corpus";
    repo_path("tests/data/vocab_minilm.txt", vocab_path, sizeof vocab_path);
    RUN(test_fnv);
    RUN(test_bytes_round_trip);
    RUN(test_bytes_cache_python);
    RUN(test_wordpiece_equals_tokenizer);
    RUN(test_open_cache);
    RUN(test_reject_bad_caches);
    RUN(test_exhaustive_damage);
    RUN(test_save_errors);
    RUN(test_compact);
    return check_summary();
}
