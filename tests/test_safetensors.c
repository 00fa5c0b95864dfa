/* test_safetensors.c - the safetensors reader (core/safetensors.c) and config.json
 * reader (core/model_config.c).
 *
 * Files are written by a small writer in this test (8-byte little-endian length,
 * JSON header, data), valid ones and corrupted ones: every rejection path of the
 * reader is exercised through both lf_safetensors_open (a file in the current
 * directory) and lf_safetensors_open_memory, which must give the same message; each
 * message is checked for the file, tensor and reason, and every test checks that
 * the library's allocations all came back. F16/BF16 widening is checked on known
 * values and on all 65536 bit patterns against an independent decoder in double.
 * When data/all-MiniLM-L6-v2 exists (make data), the real model is loaded: its
 * config, the shapes of 6 layers x 12 heads x 384 hidden, and every tensor;
 * otherwise that test passes with a "skipped" note.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "repo_path.h"
#include "error.h"
#include "mem.h"
#include "model_config.h"
#include "safetensors.h"

/* ---- writer ------------------------------------------------------------------- */

#define BAD "bad.safetensors"

/* A file image: le64 N (the header length unless n_override is given), the header
 * text, then the data. Returned buffer is malloc'd; *size set. */
static unsigned char *make_image(const char *header, size_t hlen, const void *data, size_t ndata,
                                 int override, uint64_t n_override, size_t *size)
{
    uint64_t n = override ? n_override : (uint64_t)hlen;
    *size = 8 + hlen + ndata;
    unsigned char *b = malloc(*size ? *size : 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, hlen);
    if (ndata) memcpy(b + 8 + hlen, data, ndata);
    return b;
}

static int write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int write_st(const char *path, const char *header, const void *data, size_t ndata)
{
    size_t size;
    unsigned char *b = make_image(header, strlen(header), data, ndata, 0, 0, &size);
    int rc = write_bytes(path, b, size);
    free(b);
    return rc;
}

static int contains(const char *s, const char *part) { return s && part && strstr(s, part); }

/* Opens IMAGE as a file and from memory; both must fail with the same message that
 * starts with "bad.safetensors: " and contains every NULL-terminated part. */
#define EXPECT_REJECT(image, size, ...) expect_reject(__FILE__, __LINE__, image, size, __VA_ARGS__, NULL)
static void expect_reject(const char *file, int line, const unsigned char *image, size_t size, ...)
{
    size_t before = lf_mem_current();
    char from_file[1100] = "";
    if (write_bytes(BAD, image, size) != 0) {
        check_fail(file, line, "cannot write %s", BAD);
        return;
    }
    lf_error_clear();
    lf_safetensors *st = lf_safetensors_open(BAD);
    if (st) {
        check_fail(file, line, "accepted a bad file");
        lf_safetensors_close(st);
        return;
    }
    snprintf(from_file, sizeof from_file, "%s", lf_error_get());
    if (strncmp(from_file, BAD ": ", strlen(BAD) + 2))
        check_fail(file, line, "message does not start with the file name: %s", from_file);
    va_list ap;
    va_start(ap, size);
    for (const char *part; (part = va_arg(ap, const char *));)
        if (!contains(from_file, part))
            check_fail(file, line, "message lacks \"%s\": %s", part, from_file);
    va_end(ap);

    lf_error_clear();
    st = lf_safetensors_open_memory(image, size, BAD);
    if (st) {
        check_fail(file, line, "open_memory accepted a bad image");
        lf_safetensors_close(st);
    } else if (strcmp(lf_error_get(), from_file)) {
        check_fail(file, line, "open_memory says \"%s\", open says \"%s\"", lf_error_get(), from_file);
    }
    if (lf_mem_current() != before)
        check_fail(file, line, "%zu bytes not freed after a rejection", lf_mem_current() - before);
}

/* A header (N = its length) plus NDATA bytes of data. */
static void reject_header(const char *file, int line, const char *header, size_t ndata,
                          const char *p1, const char *p2, const char *p3)
{
    unsigned char zeros[256] = {0};
    size_t size;
    if (ndata > sizeof zeros) ndata = sizeof zeros;
    unsigned char *b = make_image(header, strlen(header), zeros, ndata, 0, 0, &size);
    expect_reject(file, line, b, size, p1, p2, p3, NULL);
    free(b);
}
#define REJECT_HEADER(header, ndata, p1, p2, p3) reject_header(__FILE__, __LINE__, header, ndata, p1, p2, p3)

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- valid files ---------------------------------------------------------------- */

static void test_valid_file(void)
{
    size_t before = lf_mem_current();
    /* Data layout: "b" F16 [4] at 0..8, "a" F32 [2, 3] at 8..32, "c" BF16 [2] at 32..36,
     * "s" F32 scalar at 36..40, "e" F32 [0, 5] empty at 40, an I64 [2] at 40..56.
     * Listed out of offset order, header padded with spaces as the reference writer does. */
    const char *header =
        "{\"__metadata__\": {\"format\": \"pt\", \"note\": \"x\"},"
        " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [8, 32]},"
        " \"b\": {\"shape\": [4], \"dtype\": \"F16\", \"data_offsets\": [0, 8]},"
        " \"c\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [32, 36]},"
        " \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [36, 40]},"
        " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [40, 40]},"
        " \"ids\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [40, 56]}}      ";
    unsigned char data[56];
    const uint16_t b[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF}; /* 1, -2, 2^-24, 65504 */
    for (int i = 0; i < 4; i++) data[2 * i] = b[i] & 0xff, data[2 * i + 1] = b[i] >> 8;
    const float a[6] = {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 123456.789f};
    memcpy(data + 8, a, sizeof a); /* the test machine is little-endian, like the format */
    data[32] = 0x80, data[33] = 0x3F, data[34] = 0x49, data[35] = 0xC0; /* BF16 1, -3.140625 */
    const float s = 7.0f;
    memcpy(data + 36, &s, 4);
    const int64_t ids[2] = {5, -6};
    memcpy(data + 40, ids, sizeof ids);
    CHECK(write_st("ok.safetensors", header, data, sizeof data) == 0);

    lf_safetensors *st = lf_safetensors_open("ok.safetensors");
    CHECK_MSG(st, "open: %s", lf_error_get());
    if (!st) return;
    CHECK(!strcmp(lf_safetensors_path(st), "ok.safetensors"));
    CHECK(lf_safetensors_count(st) == 6);
    /* Numbered in data order; the empty tensor at 40 sorts before the I64 at [40, 56). */
    const char *order[6] = {"b", "a", "c", "s", "e", "ids"};
    for (int i = 0; i < 6; i++) {
        const lf_st_tensor *t = lf_safetensors_tensor(st, i);
        CHECK_MSG(t && !strcmp(t->name, order[i]), "tensor %d is %s, expected %s", i,
                  t ? t->name : "NULL", order[i]);
    }
    CHECK(lf_safetensors_tensor(st, 6) == NULL && contains(lf_error_get(), "out of range"));
    CHECK(lf_safetensors_tensor(st, -1) == NULL);
    CHECK(!strcmp(lf_safetensors_metadata(st, "format"), "pt"));
    CHECK(!strcmp(lf_safetensors_metadata(st, "note"), "x"));
    CHECK(lf_safetensors_metadata(st, "absent") == NULL);

    const lf_st_tensor *ta = lf_safetensors_find(st, "a");
    CHECK(ta && ta->dtype == LF_ST_F32 && ta->rank == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 &&
          ta->count == 6 && ta->begin == 8 && ta->end == 32);
    float out[6];
    CHECK(ta && lf_safetensors_to_f32(st, ta, out, 6) == 0);
    for (int i = 0; i < 6; i++) CHECK_MSG(f32_bits(out[i]) == f32_bits(a[i]), "a[%d] = %g", i, out[i]);

    const lf_st_tensor *tb = lf_safetensors_find(st, "b");
    CHECK(tb && tb->dtype == LF_ST_F16 && tb->count == 4);
    CHECK(tb && lf_safetensors_to_f32(st, tb, out, 4) == 0);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == ldexpf(1.0f, -24) && out[3] == 65504.0f);

    const lf_st_tensor *tc = lf_safetensors_find(st, "c");
    CHECK(tc && lf_safetensors_to_f32(st, tc, out, 2) == 0);
    CHECK(out[0] == 1.0f && out[1] == -3.140625f);

    const lf_st_tensor *ts = lf_safetensors_find(st, "s");
    CHECK(ts && ts->rank == 0 && ts->count == 1);
    CHECK(ts && lf_safetensors_to_f32(st, ts, out, 1) == 0 && out[0] == 7.0f);
    CHECK(lf_safetensors_check_shape(st, ts, 0, NULL) == 0);

    const lf_st_tensor *te = lf_safetensors_find(st, "e");
    CHECK(te && te->count == 0 && te->begin == 40 && te->end == 40);
    CHECK(te && lf_safetensors_to_f32(st, te, NULL, 0) == 0);

    const lf_st_tensor *ti = lf_safetensors_find(st, "ids");
    CHECK(ti && ti->dtype == LF_ST_I64 && !strcmp(lf_st_dtype_name(ti->dtype), "I64") &&
          lf_st_dtype_size(ti->dtype) == 8);
    int64_t got_ids[2] = {0, 0};
    if (ti) memcpy(got_ids, ti->data, sizeof got_ids);
    CHECK(got_ids[0] == 5 && got_ids[1] == -6);

    /* load_f32: find + shape check + convert, caller frees. */
    float *la = lf_safetensors_load_f32(st, "a", 2, (const int64_t[]){2, 3});
    CHECK_MSG(la, "%s", lf_error_get());
    if (la) CHECK(la[5] == a[5]);
    lf_free(la);
    la = lf_safetensors_load_f32(st, "a", -1, NULL);
    CHECK(la && la[0] == 0.5f);
    lf_free(la);
    CHECK(lf_safetensors_load_f32(st, "a", 2, (const int64_t[]){3, 2}) == NULL);
    CHECK(contains(lf_error_get(), "ok.safetensors: a has shape [2, 3], expected [3, 2]"));

    /* Lookups that fail. */
    CHECK(lf_safetensors_find(st, "nope") == NULL);
    CHECK(!strcmp(lf_error_get(), "ok.safetensors: no tensor 'nope'"));
    CHECK(lf_safetensors_load_f32(st, "nope", -1, NULL) == NULL);
    CHECK(contains(lf_error_get(), "no tensor 'nope'"));
    lf_safetensors_close(st);
    lf_safetensors_close(NULL);

    /* The same bytes from memory. */
    size_t size;
    unsigned char *img = make_image(header, strlen(header), data, sizeof data, 0, 0, &size);
    st = lf_safetensors_open_memory(img, size, NULL);
    CHECK_MSG(st, "open_memory: %s", lf_error_get());
    if (st) {
        CHECK(!strcmp(lf_safetensors_path(st), "<memory>"));
        CHECK(lf_safetensors_count(st) == 6);
        const lf_st_tensor *t = lf_safetensors_find(st, "a");
        CHECK(t && t->data == img + 8 + strlen(header) + 8); /* referenced, not copied */
    }
    lf_safetensors_close(st);
    free(img);

    /* The smallest file: "{}" and no data. */
    CHECK(write_st("empty.safetensors", "{}", NULL, 0) == 0);
    st = lf_safetensors_open("empty.safetensors");
    CHECK_MSG(st && lf_safetensors_count(st) == 0, "%s", lf_error_get());
    lf_safetensors_close(st);
    CHECK_MSG(lf_mem_current() == before, "%zu bytes leaked", lf_mem_current() - before);
}

/* Gaps and trailing bytes cannot cause an out-of-bounds read and are accepted; an
 * empty tensor inside another's range occupies no bytes and is accepted too. */
static void test_gaps_accepted(void)
{
    const char *header = "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]},"
                         " \"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [16, 20]},"
                         " \"z\": {\"dtype\": \"F16\", \"shape\": [0], \"data_offsets\": [17, 17]}}";
    unsigned char data[32] = {0};
    CHECK(write_st("gaps.safetensors", header, data, sizeof data) == 0);
    lf_safetensors *st = lf_safetensors_open("gaps.safetensors");
    CHECK_MSG(st && lf_safetensors_count(st) == 3, "%s", lf_error_get());
    lf_safetensors_close(st);
}

/* ---- rejections ------------------------------------------------------------------ */

static void test_reject_framing(void)
{
    const unsigned char seven[7] = {2, 0, 0, 0, 0, 0, 0};
    EXPECT_REJECT(seven, 0, "the file is 0 bytes", "shorter than the 8-byte header length");
    EXPECT_REJECT(seven, 7, "the file is 7 bytes");

    size_t size;
    unsigned char *b;
    b = make_image("{}", 2, NULL, 0, 1, 0, &size);
    EXPECT_REJECT(b, size, "header length 0 is too small");
    free(b);
    b = make_image("{}", 2, NULL, 0, 1, 1, &size);
    EXPECT_REJECT(b, size, "header length 1 is too small");
    free(b);
    b = make_image("{}", 2, NULL, 0, 1, 100000001, &size);
    EXPECT_REJECT(b, size, "header length 100000001 exceeds the limit of 100000000 bytes");
    free(b);
    b = make_image("{}", 2, NULL, 0, 1, UINT64_MAX, &size);
    EXPECT_REJECT(b, size, "header length 18446744073709551615 exceeds the limit");
    free(b);
    /* Within the limit but longer than the file. */
    b = make_image("{}", 2, NULL, 0, 1, 3, &size);
    EXPECT_REJECT(b, size, "header length 3 exceeds the 2 bytes that follow it", "truncated");
    free(b);
    b = make_image("{}", 2, NULL, 0, 1, 100000000, &size);
    EXPECT_REJECT(b, size, "header length 100000000 exceeds the 2 bytes");
    free(b);

    /* Files that are not there or not files. */
    lf_error_clear();
    CHECK(lf_safetensors_open("missing.safetensors") == NULL);
    CHECK(!strcmp(lf_error_get(), "missing.safetensors: cannot open: No such file or directory"));
    CHECK(mkdir("adir", 0700) == 0 || errno == EEXIST);
    CHECK(lf_safetensors_open("adir") == NULL);
    CHECK(!strcmp(lf_error_get(), "adir: not a regular file"));
    CHECK(lf_safetensors_open(NULL) == NULL);
    CHECK(lf_safetensors_open_memory(NULL, 10, "m") == NULL && contains(lf_error_get(), "m: no data"));
}

static void test_reject_json(void)
{
    REJECT_HEADER("{\"a\": {\"dtype\": \"F32\",\n   \"shape\": [1],, \"data_offsets\": [0, 4]}}", 4,
                  "the header is not valid JSON (line 2, column", NULL, NULL);
    REJECT_HEADER("{\"a\": 1} trailing", 0, "not valid JSON", NULL, NULL);
    REJECT_HEADER("{\"a\": {", 0, "not valid JSON (line 1, column", NULL, NULL);
    REJECT_HEADER("[1, 2, 3]", 0, "the header is an array, not a JSON object", NULL, NULL);
    REJECT_HEADER("\"str\"", 0, "not valid JSON (line 1, column", "'[' or '{' expected", NULL);
    REJECT_HEADER("{\"a\xff\": {}}", 0, "not valid JSON", NULL, NULL); /* invalid UTF-8 */
    REJECT_HEADER("{\"a\\u0000b\": {}}", 0, "not valid JSON", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                  8, "not valid JSON", "duplicate", NULL);
    /* A NUL byte inside the header bytes (not an escape). */
    static const char with_nul[] = "{\"a\":\0 1}";
    size_t size;
    unsigned char *b = make_image(with_nul, sizeof with_nul - 1, NULL, 0, 0, 0, &size);
    EXPECT_REJECT(b, size, "not valid JSON");
    free(b);
}

static void test_reject_entries(void)
{
    REJECT_HEADER("{\"\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "a tensor has an empty name", NULL, NULL);
    REJECT_HEADER("{\"w\": [1, 2]}", 0, "tensor 'w': entry is an array, not an object", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "tensor 'w': missing member 'dtype'", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
                  "tensor 'w': missing member 'shape'", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
                  "tensor 'w': missing member 'data_offsets'", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1}}",
                  4, "tensor 'w': unexpected member 'x'", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "tensor 'w': dtype is an integer, not a string", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"Q4_0\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "tensor 'w': unknown dtype 'Q4_0'", "F16, BF16", NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "unknown dtype 'f32'", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\\u0000x\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "not valid JSON", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16,
                  "tensor 'w': shape is an integer, not an array", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2.0], \"data_offsets\": [0, 16]}}", 16,
                  "tensor 'w': shape[1] is a real number, not an integer", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8,
                  "tensor 'w': shape[0] is a string, not an integer", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", 16,
                  "tensor 'w': shape[1] = -2 is negative", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}",
                  1, "tensor 'w': rank 9 exceeds the maximum 8", NULL, NULL);
    /* Rank 8 is fine. */
    {
        const char *h = "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,2], \"data_offsets\": [0, 2]}}";
        size_t size;
        unsigned char two[2] = {1, 2};
        unsigned char *b = make_image(h, strlen(h), two, 2, 0, 0, &size);
        lf_safetensors *st = lf_safetensors_open_memory(b, size, "r8");
        CHECK_MSG(st && lf_safetensors_tensor(st, 0)->rank == 8, "%s", lf_error_get());
        lf_safetensors_close(st);
        free(b);
    }
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4], \"data_offsets\": [0, 0]}}",
                  0, "tensor 'w': shape [4294967296, 4294967296, 4] has more than 2^63 elements", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [9223372036854775807, 2], \"data_offsets\": [0, 0]}}",
                  0, "has more than 2^63 elements", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}",
                  0, "tensor 'w': shape [4611686018427387904] of F32 overflows 64-bit byte sizes", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 0]}}",
                  0, "not valid JSON", NULL, NULL); /* beyond 64-bit integers: jansson refuses */
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": \"0-4\"}}", 4,
                  "tensor 'w': data_offsets is a string, not an array", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 4,
                  "tensor 'w': data_offsets has 1 elements, not 2", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
                  "data_offsets has 3 elements, not 2", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
                  "tensor 'w': data_offsets[0] = -4 is negative", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.0]}}", 4,
                  "tensor 'w': data_offsets[1] is a real number, not an integer", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8,
                  "tensor 'w': data_offsets [8, 4] begin after end", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24,
                  "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20",
                  NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 12,
                  "shape [3] of BF16 needs 6 bytes", NULL, NULL);
    /* Past the end of the data: a truncated file. */
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 15,
                  "tensor 'w': data_offsets [0, 16] reach past the end of the data (15 bytes)",
                  "truncated", NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [18446744073709551612, 18446744073709551616]}}",
                  4, "not valid JSON", NULL, NULL);
    REJECT_HEADER("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [9223372036854775803, 9223372036854775807]}}",
                  4, "reach past the end of the data (4 bytes)", NULL, NULL);
    /* __metadata__ */
    REJECT_HEADER("{\"__metadata__\": [\"pt\"]}", 0, "__metadata__ is an array, not an object of strings",
                  NULL, NULL);
    REJECT_HEADER("{\"__metadata__\": {\"format\": \"pt\", \"n\": 3}}", 0,
                  "__metadata__ 'n' is an integer, not a string", NULL, NULL);
    /* Names with control characters stay on one line in the message. */
    REJECT_HEADER("{\"bad\\nname\": {\"dtype\": \"X\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                  "tensor 'bad\\x0aname': unknown dtype 'X'", NULL, NULL);
}

static void test_reject_overlap(void)
{
    REJECT_HEADER("{\"first\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"second\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                  12, "tensor 'second': data_offsets [4, 12] overlap those of tensor 'first' [0, 8]",
                  NULL, NULL);
    /* The overlap is with a tensor before the previous one (the furthest end counts). */
    REJECT_HEADER("{\"big\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                  " \"mid\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]},"
                  " \"late\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}",
                  16, "tensor 'mid': data_offsets [4, 8] overlap those of tensor 'big' [0, 16]", NULL, NULL);
    /* Identical ranges. */
    REJECT_HEADER("{\"p\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]},"
                  " \"q\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}",
                  4, "overlap those of tensor", NULL, NULL);
}

/* ---- conversion ------------------------------------------------------------------ */

/* Independent decoders, in double, straight from the definitions. */
static double ref_f16(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double ref_bf16(uint16_t b)
{
    int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
    double v = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return s ? -v : v;
}

static void test_half_conversion(void)
{
    /* Known values. */
    CHECK(lf_f16_to_f32(0x3C00) == 1.0f);
    CHECK(lf_f16_to_f32(0xBC00) == -1.0f);
    CHECK(lf_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(lf_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(lf_f16_to_f32(0x03FF) == 1023.0f * ldexpf(1.0f, -24)); /* largest subnormal */
    CHECK(lf_f16_to_f32(0x0400) == ldexpf(1.0f, -14));           /* smallest normal */
    CHECK(lf_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(lf_f16_to_f32(0xFC00) == -INFINITY);
    CHECK(lf_f16_to_f32(0x7C00) == INFINITY);
    CHECK(f32_bits(lf_f16_to_f32(0x8000)) == 0x80000000u); /* -0 keeps its sign */
    CHECK(f32_bits(lf_f16_to_f32(0x0000)) == 0);
    CHECK(isnan(lf_f16_to_f32(0x7E00)) && f32_bits(lf_f16_to_f32(0x7E00)) == 0x7FC00000u);
    CHECK(f32_bits(lf_f16_to_f32(0xFD01)) == 0xFFA02000u); /* signalling NaN payload kept */
    CHECK(lf_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(lf_bf16_to_f32(0xC049) == -3.140625f);
    CHECK(lf_bf16_to_f32(0x7F7F) == 0x1.FEp127f);
    CHECK(lf_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* subnormal */
    CHECK(lf_bf16_to_f32(0xFF80) == -INFINITY);
    CHECK(isnan(lf_bf16_to_f32(0x7FC0)));

    /* Every bit pattern against the reference decoders. */
    int bad16 = 0, badb = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        double r = ref_f16((uint16_t)u);
        float g = lf_f16_to_f32((uint16_t)u);
        int ok = isnan(r) ? (isnan(g) && ((f32_bits(g) >> 13) & 0x3FF) == (u & 0x3FF) && (f32_bits(g) >> 31) == (u >> 15))
                          : ((double)g == r && !signbit(g) == !signbit(r));
        if (!ok && bad16++ < 3) check_fail(__FILE__, __LINE__, "f16 0x%04x -> %a, expected %a", u, g, r);
        r = ref_bf16((uint16_t)u);
        g = lf_bf16_to_f32((uint16_t)u);
        ok = isnan(r) ? (isnan(g) && f32_bits(g) == u << 16) : ((double)g == r && !signbit(g) == !signbit(r));
        if (!ok && badb++ < 3) check_fail(__FILE__, __LINE__, "bf16 0x%04x -> %a, expected %a", u, g, r);
    }
    CHECK(bad16 == 0 && badb == 0);

    /* Through a file: every F16 pattern as one tensor. */
    static unsigned char data[131072];
    for (uint32_t u = 0; u < 65536; u++) data[2 * u] = u & 0xff, data[2 * u + 1] = (unsigned char)(u >> 8);
    CHECK(write_st("half.safetensors",
                   "{\"h\": {\"dtype\": \"F16\", \"shape\": [256, 256], \"data_offsets\": [0, 131072]}}",
                   data, sizeof data) == 0);
    lf_safetensors *st = lf_safetensors_open("half.safetensors");
    CHECK_MSG(st, "%s", lf_error_get());
    float *h = st ? lf_safetensors_load_f32(st, "h", 2, (const int64_t[]){256, 256}) : NULL;
    CHECK(h != NULL);
    int bad = 0;
    for (uint32_t u = 0; h && u < 65536; u++)
        if (f32_bits(h[u]) != f32_bits(lf_f16_to_f32((uint16_t)u))) bad++;
    CHECK_MSG(bad == 0, "%d patterns differ between the tensor and lf_f16_to_f32", bad);
    lf_free(h);
    lf_safetensors_close(st);
    check_notef("all 65536 F16 and BF16 patterns exact");
}

static void test_conversion_errors(void)
{
    size_t before = lf_mem_current();
    const char *header = "{\"ids\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]},"
                         " \"d\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [16, 24]},"
                         " \"f\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [24, 36]}}";
    unsigned char data[36] = {0};
    CHECK(write_st("conv.safetensors", header, data, sizeof data) == 0);
    lf_safetensors *st = lf_safetensors_open("conv.safetensors");
    CHECK_MSG(st, "%s", lf_error_get());
    if (!st) return;
    float out[4];
    CHECK(lf_safetensors_to_f32(st, lf_safetensors_find(st, "ids"), out, 2) == -1);
    CHECK(!strcmp(lf_error_get(),
                  "conv.safetensors: ids has dtype I64; only F32, F16 and BF16 convert to float32"));
    CHECK(lf_safetensors_load_f32(st, "d", -1, NULL) == NULL);
    CHECK(contains(lf_error_get(), "conv.safetensors: d has dtype F64"));
    CHECK(lf_safetensors_to_f32(st, lf_safetensors_find(st, "f"), out, 4) == -1);
    CHECK(contains(lf_error_get(), "f has 3 elements, the output holds 4"));
    CHECK(lf_safetensors_to_f32(st, NULL, out, 4) == -1);
    lf_safetensors_close(st);
    CHECK_MSG(lf_mem_current() == before, "%zu bytes leaked", lf_mem_current() - before);
}

static void test_shape_check(void)
{
    /* A query weight one column short, F16 to keep the file small. */
    const char *header = "{\"encoder.layer.0.attention.self.query.weight\": {\"dtype\": \"F16\","
                         " \"shape\": [384, 383], \"data_offsets\": [0, 294144]}}";
    unsigned char *data = calloc(294144, 1);
    CHECK(write_st("model.safetensors", header, data, 294144) == 0);
    free(data);
    lf_safetensors *st = lf_safetensors_open("model.safetensors");
    CHECK_MSG(st, "%s", lf_error_get());
    if (!st) return;
    const char *name = "encoder.layer.0.attention.self.query.weight";
    const lf_st_tensor *t = lf_safetensors_find(st, name);
    CHECK(lf_safetensors_check_shape(st, t, 2, (const int64_t[]){384, 384}) == -1);
    CHECK_MSG(!strcmp(lf_error_get(), "model.safetensors: encoder.layer.0.attention.self.query.weight "
                                      "has shape [384, 383], expected [384, 384]"),
              "message: %s", lf_error_get());
    CHECK(lf_safetensors_check_shape(st, t, 2, (const int64_t[]){384, 383}) == 0);
    CHECK(lf_safetensors_check_shape(st, t, 2, (const int64_t[]){-1, 383}) == 0);
    CHECK(lf_safetensors_check_shape(st, t, 1, (const int64_t[]){147072}) == -1);
    CHECK(contains(lf_error_get(), "has shape [384, 383], expected [147072]"));
    CHECK(lf_safetensors_check_shape(st, t, 3, (const int64_t[]){384, 383, 1}) == -1);
    CHECK(contains(lf_error_get(), "expected [384, 383, 1]"));
    CHECK(lf_safetensors_load_f32(st, name, 2, (const int64_t[]){383, 384}) == NULL);
    CHECK(contains(lf_error_get(), "has shape [384, 383], expected [383, 384]"));
    lf_safetensors_close(st);
}

/* ---- config.json ----------------------------------------------------------------- */

static const char *minilm_config =
    "{\n  \"_name_or_path\": \"nreimers/MiniLM-L6-H384-uncased\",\n  \"architectures\": [\"BertModel\"],\n"
    "  \"attention_probs_dropout_prob\": 0.1,\n  \"hidden_act\": \"gelu\",\n  \"hidden_size\": 384,\n"
    "  \"intermediate_size\": 1536,\n  \"layer_norm_eps\": 1e-12,\n  \"max_position_embeddings\": 512,\n"
    "  \"model_type\": \"bert\",\n  \"num_attention_heads\": 12,\n  \"num_hidden_layers\": 6,\n"
    "  \"pad_token_id\": 0,\n  \"position_embedding_type\": \"absolute\",\n  \"type_vocab_size\": 2,\n"
    "  \"vocab_size\": 30522\n}\n";

static const char *roberta_config =
    "{\"architectures\": [\"RobertaForMaskedLM\"], \"attention_probs_dropout_prob\": 0.1,"
    " \"bos_token_id\": 0, \"eos_token_id\": 2, \"hidden_act\": \"gelu\", \"hidden_size\": 768,"
    " \"initializer_range\": 0.02, \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-05,"
    " \"max_position_embeddings\": 514, \"model_type\": \"roberta\", \"num_attention_heads\": 12,"
    " \"num_hidden_layers\": 12, \"pad_token_id\": 1, \"type_vocab_size\": 1, \"vocab_size\": 50265}";

/* Parses TEXT; must fail with a message containing PART. */
#define CONFIG_REJECT(text, part) config_reject(__FILE__, __LINE__, text, part)
static void config_reject(const char *file, int line, const char *text, const char *part)
{
    lf_model_config c;
    memset(&c, 0x5a, sizeof c);
    lf_error_clear();
    if (lf_model_config_parse(text, strlen(text), "config.json", &c) == 0) {
        check_fail(file, line, "accepted: %s", text);
        return;
    }
    if (!contains(lf_error_get(), part) || strncmp(lf_error_get(), "config.json: ", 13))
        check_fail(file, line, "message lacks \"%s\": %s", part, lf_error_get());
    if (c.hidden_size != 0x5a5a5a5a) check_fail(file, line, "output changed on failure");
}

static void test_config(void)
{
    size_t before = lf_mem_current();
    lf_model_config c;
    CHECK(write_bytes("config.json", minilm_config, strlen(minilm_config)) == 0);
    CHECK_MSG(lf_model_config_load("config.json", &c) == 0, "%s", lf_error_get());
    CHECK(!strcmp(c.model_type, "bert") && c.family == LF_MODEL_BERT);
    CHECK(c.vocab_size == 30522 && c.hidden_size == 384 && c.num_hidden_layers == 6);
    CHECK(c.num_attention_heads == 12 && c.head_dim == 32 && c.intermediate_size == 1536);
    CHECK(c.max_position_embeddings == 512 && c.type_vocab_size == 2 && c.pad_token_id == 0);
    CHECK(c.layer_norm_eps == 1e-12 && c.hidden_act == LF_ACT_GELU_ERF);
    CHECK(!strcmp(c.hidden_act_name, "gelu"));
    CHECK(c.position_offset == 0 && c.max_seq_len == 512);
    CHECK(!strcmp(lf_activation_name(c.hidden_act), "gelu (exact erf)"));

    CHECK_MSG(lf_model_config_parse(roberta_config, strlen(roberta_config), "r", &c) == 0, "%s",
              lf_error_get());
    CHECK(c.family == LF_MODEL_ROBERTA && c.vocab_size == 50265 && c.hidden_size == 768);
    CHECK(c.layer_norm_eps == 1e-5 && c.pad_token_id == 1 && c.type_vocab_size == 1);
    CHECK(c.position_offset == 2 && c.max_seq_len == 512 && c.head_dim == 64);

    /* Defaults, as Hugging Face's config classes have them. */
    const char *bare = "{\"model_type\": \"bert\"}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0);
    CHECK(c.vocab_size == 30522 && c.hidden_size == 768 && c.num_hidden_layers == 12 &&
          c.num_attention_heads == 12 && c.intermediate_size == 3072 &&
          c.max_position_embeddings == 512 && c.type_vocab_size == 2 && c.layer_norm_eps == 1e-12 &&
          c.hidden_act == LF_ACT_GELU_ERF && c.pad_token_id == 0);
    bare = "{\"model_type\": \"roberta\", \"max_position_embeddings\": 514}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0);
    CHECK(c.vocab_size == 50265 && c.pad_token_id == 1 && c.max_seq_len == 512);
    bare = "{\"model_type\": \"xlm-roberta\"}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0);
    CHECK(c.family == LF_MODEL_ROBERTA && c.vocab_size == 30522 && c.max_seq_len == 510);
    /* model_type inferred from architectures in old files. */
    bare = "{\"architectures\": [\"RobertaModel\"], \"vocab_size\": 50265}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0 && !strcmp(c.model_type, "roberta"));
    bare = "{\"architectures\": [\"BertForMaskedLM\"]}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0 && c.family == LF_MODEL_BERT);
    /* Activations. */
    const char *acts[][2] = {{"gelu_new", "t"}, {"gelu_pytorch_tanh", "t"}, {"gelu_fast", "t"},
                             {"gelu_python", "e"}};
    for (int i = 0; i < 4; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"model_type\": \"bert\", \"hidden_act\": \"%s\"}", acts[i][0]);
        CHECK(lf_model_config_parse(text, strlen(text), "a", &c) == 0);
        CHECK_MSG(c.hidden_act == (acts[i][1][0] == 't' ? LF_ACT_GELU_TANH : LF_ACT_GELU_ERF), "%s",
                  acts[i][0]);
    }
    CHECK(!strcmp(lf_activation_name(LF_ACT_GELU_TANH), "gelu (tanh approximation)"));
    /* Integer eps is a number too. */
    bare = "{\"model_type\": \"bert\", \"layer_norm_eps\": 1}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0 && c.layer_norm_eps == 1.0);

    /* Rejections. */
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_act\": \"swish\"}",
                  "config.json: hidden_act: 'swish' is not supported (gelu, gelu_python: exact erf GELU;");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_act\": \"relu\"}", "'relu' is not supported");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_act\": 1}", "hidden_act: is an integer, expected a string");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_size\": 384, \"num_attention_heads\": 5}",
                  "config.json: num_attention_heads: hidden_size 384 is not divisible by 5 heads");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_size\": 0}", "hidden_size: 0 is not positive");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"num_hidden_layers\": -6}", "num_hidden_layers: -6 is not positive");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_size\": \"384\"}", "hidden_size: is a string, expected an integer");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_size\": 384.0}", "hidden_size: is a real number, expected an integer");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"vocab_size\": 3000000000}", "vocab_size: 3000000000 is too large");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"vocab_size\": true}", "vocab_size: is a boolean");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"layer_norm_eps\": 0}", "layer_norm_eps: 0 is not a positive finite number");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"layer_norm_eps\": -1e-12}", "layer_norm_eps: -1e-12 is not a positive");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"layer_norm_eps\": \"1e-12\"}", "layer_norm_eps: is a string, expected a number");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"pad_token_id\": 30522}", "pad_token_id: 30522 is outside the vocabulary [0, 30522)");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"pad_token_id\": -1}", "pad_token_id: -1 is outside");
    CONFIG_REJECT("{\"model_type\": \"roberta\", \"pad_token_id\": null}", "pad_token_id: null, but RoBERTa");
    CONFIG_REJECT("{\"model_type\": \"roberta\", \"max_position_embeddings\": 2}",
                  "max_position_embeddings: 2 rows leave no position");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}",
                  "position_embedding_type: 'relative_key' is not supported (only absolute)");
    CONFIG_REJECT("{\"model_type\": \"distilbert\", \"dim\": 768}", "model_type: 'distilbert' is not supported");
    CONFIG_REJECT("{\"model_type\": 3}", "model_type: is an integer, expected a string");
    CONFIG_REJECT("{\"hidden_size\": 384}", "model_type: missing, and no architectures list");
    CONFIG_REJECT("{\"architectures\": [\"GPT2LMHeadModel\"]}", "architecture 'GPT2LMHeadModel' is not a BERT or RoBERTa");
    CONFIG_REJECT("[1, 2]", "config.json: the top level is an array, expected an object");
    CONFIG_REJECT("{\"model_type\": \"bert\",\n \"hidden_size\": 384,,\n}", "config.json: not valid JSON (line 2, column");
    CONFIG_REJECT("{\"model_type\": \"bert\", \"hidden_size\": 384, \"hidden_size\": 768}", "duplicate");
    CONFIG_REJECT("", "not valid JSON");
    /* A BERT config with pad_token_id null is fine: BERT only masks with it. */
    bare = "{\"model_type\": \"bert\", \"pad_token_id\": null}";
    CHECK(lf_model_config_parse(bare, strlen(bare), "b", &c) == 0 && c.pad_token_id == -1);

    /* Files. */
    CHECK(lf_model_config_load("nothere.json", &c) == -1);
    CHECK(!strcmp(lf_error_get(), "nothere.json: cannot open: No such file or directory"));
    CHECK(mkdir("model_dir", 0700) == 0 || errno == EEXIST);
    CHECK(lf_model_config_load("model_dir", &c) == -1);
    CHECK(contains(lf_error_get(), "model_dir: is a directory (give the config.json inside it)"));
    CHECK(write_bytes("broken.json", "{\"model_type\": \"bert\"", 21) == 0);
    CHECK(lf_model_config_load("broken.json", &c) == -1);
    CHECK(contains(lf_error_get(), "broken.json: not valid JSON (line 1"));
    CHECK_MSG(lf_mem_current() == before, "%zu bytes leaked", lf_mem_current() - before);
}

/* ---- the real model ----------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* data/all-MiniLM-L6-v2 of the repository (see repo_path.h). */
static int find_model_dir(char *out, size_t cap)
{
    return repo_path("data/all-MiniLM-L6-v2", out, cap) && is_dir(out);
}

static void test_real_model(void)
{
    char dir[PATH_MAX - 64], path[PATH_MAX];
    if (!find_model_dir(dir, sizeof dir)) {
        check_notef("skipped: run make data (data/all-MiniLM-L6-v2 not found)");
        return;
    }
    size_t before = lf_mem_current();
    lf_model_config c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_MSG(lf_model_config_load(path, &c) == 0, "%s", lf_error_get());
    CHECK(c.family == LF_MODEL_BERT && c.num_hidden_layers == 6 && c.num_attention_heads == 12 &&
          c.hidden_size == 384 && c.head_dim == 32 && c.intermediate_size == 1536 &&
          c.vocab_size == 30522 && c.max_position_embeddings == 512 && c.type_vocab_size == 2 &&
          c.layer_norm_eps == 1e-12 && c.hidden_act == LF_ACT_GELU_ERF && c.max_seq_len == 512);

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lf_safetensors *st = lf_safetensors_open(path);
    CHECK_MSG(st, "%s", lf_error_get());
    if (!st) return;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    struct {
        const char *name;
        int rank;
        int64_t d0, d1;
    } emb[] = {{"embeddings.word_embeddings.weight", 2, c.vocab_size, H},
               {"embeddings.position_embeddings.weight", 2, c.max_position_embeddings, H},
               {"embeddings.token_type_embeddings.weight", 2, c.type_vocab_size, H},
               {"embeddings.LayerNorm.weight", 1, H, 0},
               {"embeddings.LayerNorm.bias", 1, H, 0}};
    int checked = 0;
    for (size_t i = 0; i < sizeof emb / sizeof emb[0]; i++) {
        const lf_st_tensor *t = lf_safetensors_find(st, emb[i].name);
        CHECK_MSG(t && lf_safetensors_check_shape(st, t, emb[i].rank, (const int64_t[]){emb[i].d0, emb[i].d1}) == 0,
                  "%s", lf_error_get());
        checked++;
    }
    const char *per_layer[][2] = {
        {"attention.self.query.weight", "HH"}, {"attention.self.query.bias", "H"},
        {"attention.self.key.weight", "HH"},   {"attention.self.key.bias", "H"},
        {"attention.self.value.weight", "HH"}, {"attention.self.value.bias", "H"},
        {"attention.output.dense.weight", "HH"}, {"attention.output.dense.bias", "H"},
        {"attention.output.LayerNorm.weight", "H"}, {"attention.output.LayerNorm.bias", "H"},
        {"intermediate.dense.weight", "IH"},   {"intermediate.dense.bias", "I"},
        {"output.dense.weight", "HI"},         {"output.dense.bias", "H"},
        {"output.LayerNorm.weight", "H"},      {"output.LayerNorm.bias", "H"}};
    for (int l = 0; l < c.num_hidden_layers; l++)
        for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
            char name[128];
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, per_layer[k][0]);
            int64_t shape[2];
            int rank = (int)strlen(per_layer[k][1]);
            for (int d = 0; d < rank; d++) shape[d] = per_layer[k][1][d] == 'H' ? H : I;
            const lf_st_tensor *t = lf_safetensors_find(st, name);
            CHECK_MSG(t && t->dtype == LF_ST_F32 && lf_safetensors_check_shape(st, t, rank, shape) == 0,
                      "%s", lf_error_get());
            checked++;
        }
    /* Every tensor loads; float ones are finite, weights not all zero (biases may be:
     * the unused pooler's is). */
    int loaded = 0, nonfloat = 0;
    for (int i = 0; i < lf_safetensors_count(st); i++) {
        const lf_st_tensor *t = lf_safetensors_tensor(st, i);
        if (t->dtype != LF_ST_F32 && t->dtype != LF_ST_F16 && t->dtype != LF_ST_BF16) {
            nonfloat++;
            CHECK(lf_safetensors_load_f32(st, t->name, -1, NULL) == NULL);
            continue;
        }
        float *v = lf_safetensors_load_f32(st, t->name, t->rank, t->shape);
        CHECK_MSG(v, "%s", lf_error_get());
        if (!v) continue;
        int finite = 1;
        double ss = 0;
        for (int64_t j = 0; j < t->count; j++) {
            if (!isfinite(v[j])) finite = 0;
            ss += (double)v[j] * v[j];
        }
        int bias = strstr(t->name, "bias") != NULL;
        CHECK_MSG(finite && (ss > 0 || bias), "%s: finite %d, sum of squares %g", t->name, finite, ss);
        lf_free(v);
        loaded++;
    }
    /* BERT checkpoints carry position_ids = 0..511 as I64. */
    const lf_st_tensor *pid = lf_safetensors_find(st, "embeddings.position_ids");
    if (pid) {
        CHECK(pid->dtype == LF_ST_I64 && pid->count == c.max_position_embeddings);
        int ok = 1;
        for (int64_t j = 0; j < pid->count; j++) {
            int64_t v;
            memcpy(&v, pid->data + 8 * j, 8);
            if (v != j) ok = 0;
        }
        CHECK(ok);
    }
    int total = lf_safetensors_count(st);
    CHECK(loaded + nonfloat == total && checked == 5 + 16 * c.num_hidden_layers);
    lf_safetensors_close(st);
    CHECK_MSG(lf_mem_current() == before, "%zu bytes leaked", lf_mem_current() - before);
    check_notef("%s: %d tensors (%d float32 loaded, %d other), 6 layers x 12 heads x 384 checked", dir,
                total, loaded, nonfloat);
}

int main(void)
{
    check_program = "test_safetensors";
    RUN(test_valid_file);
    RUN(test_gaps_accepted);
    RUN(test_reject_framing);
    RUN(test_reject_json);
    RUN(test_reject_entries);
    RUN(test_reject_overlap);
    RUN(test_half_conversion);
    RUN(test_conversion_errors);
    RUN(test_shape_check);
    RUN(test_config);
    RUN(test_real_model);
    return check_summary();
}
