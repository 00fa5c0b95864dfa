/* test_checkpoint.c - training checkpoints (core/checkpoint.c): exact round trip, the
 * byte layout of checkpoint.h read back independently, every corruption refused with
 * one line (a flipped bit at every header byte and sampled payload bytes, truncation at
 * every header length and in the payload, bad magic, other version), a different
 * configuration named by its first differing key, a parameter-count mismatch, nothing
 * overwritten on failure, no temporary file left, and replacement of an old checkpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "corpus.h"
#include "error.h"

#define N 1000
static const char *fp = "point=n32_k8_none\nseq_len=32\nsteps=20\nlr=0.001\n";

static float P[N], M[N], V[N];

static void fill(uint32_t seed)
{
    for (int i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        P[i] = (float)((int32_t)seed) * 1e-9f;
        M[i] = (float)i * 0.5f - 3.0f;
        V[i] = (float)(seed >> 8) * 1e-7f;
    }
}

static int save(const char *path, uint64_t step)
{
    lf_ckpt_view v = {step, 42, N, P, M, V, (int64_t)step, fp};
    return lf_ckpt_save(path, &v);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    if (fread(b, 1, *len, f) != *len) *len = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (len) fwrite(b, 1, len, f);
    fclose(f);
}

static uint64_t u64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

static void test_round_trip(void)
{
    fill(1);
    CHECK(save("a.ckpt", 17) == 0);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "a.ckpt.tmp.%ld", (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    static float p[N], m[N], v[N];
    uint64_t step = 0;
    int64_t astep = 0;
    CHECK(lf_ckpt_load("a.ckpt", fp, N, p, m, v, &step, &astep) == 0);
    CHECK(step == 17 && astep == 17);
    CHECK(memcmp(p, P, sizeof P) == 0 && memcmp(m, M, sizeof M) == 0 &&
          memcmp(v, V, sizeof V) == 0);
    uint64_t vs = 0;
    CHECK(lf_ckpt_verify("a.ckpt", fp, &vs) == 0 && vs == 17);
    /* Replacing: a later save overwrites atomically. */
    fill(2);
    CHECK(save("a.ckpt", 18) == 0);
    CHECK(lf_ckpt_load("a.ckpt", fp, N, p, m, v, &step, &astep) == 0 && step == 18);
    CHECK(memcmp(p, P, sizeof P) == 0);
}

/* The layout of checkpoint.h, read back without the library's reader. */
static void test_layout(void)
{
    fill(3);
    CHECK(save("b.ckpt", 5) == 0);
    size_t len = 0;
    unsigned char *b = slurp("b.ckpt", &len);
    size_t t = strlen(fp);
    CHECK(len == 56 + t + 12 * N + 8);
    CHECK(memcmp(b, "LFCKPT\r\n", 8) == 0);
    CHECK(b[8] == LF_CKPT_VERSION && b[9] == 0 && u64(b + 16) == 5 && u64(b + 24) == 42);
    CHECK(u64(b + 32) == N && u64(b + 40) == 5 && u64(b + 48) == t);
    CHECK(memcmp(b + 56, fp, t) == 0);
    CHECK(memcmp(b + 56 + t, P, sizeof P) == 0);
    CHECK(memcmp(b + 56 + t + 4 * N, M, sizeof M) == 0);
    CHECK(memcmp(b + 56 + t + 8 * N, V, sizeof V) == 0);
    CHECK(u64(b + len - 8) == lf_fnv1a64(b, len - 8, LF_FNV1A64_INIT));
    free(b);
}

/* Loads must fail with one line naming the file, and leave the outputs alone. */
static int refused(const char *path, const char *want)
{
    static float p[N], m[N], v[N];
    for (int i = 0; i < N; i++) p[i] = m[i] = v[i] = 7.0f;
    uint64_t step = 99;
    int64_t astep = 99;
    lf_error_clear();
    int rc = lf_ckpt_load(path, fp, N, p, m, v, &step, &astep);
    const char *e = lf_error_get();
    int ok = rc == -1 && strstr(e, path) && !strchr(e, '\n') && (!want || strstr(e, want));
    for (int i = 0; i < N && ok; i++) ok = p[i] == 7.0f && m[i] == 7.0f && v[i] == 7.0f;
    ok = ok && step == 99 && astep == 99;
    if (!ok) printf("  refused(%s, %s): rc %d, error '%s'\n", path, want ? want : "-", rc, e);
    return ok;
}

static void test_corruption(void)
{
    fill(4);
    CHECK(save("c.ckpt", 9) == 0);
    size_t len = 0;
    unsigned char *b = slurp("c.ckpt", &len);
    unsigned char *d = malloc(len);
    int bad = 0, tested = 0;
    /* A flipped bit at every header and fingerprint byte, and every 97th payload byte. */
    for (size_t i = 0; i < len; i += i < 56 + strlen(fp) + 8 ? 1 : 97) {
        memcpy(d, b, len);
        d[i] ^= (unsigned char)(1u << (i % 8));
        spit("d.ckpt", d, len);
        bad += !refused("d.ckpt", NULL);
        tested++;
    }
    /* Truncation at every length of the header, and inside the payload. */
    for (size_t l = 0; l < len; l += l < 80 ? 1 : 499) {
        spit("d.ckpt", b, l);
        bad += !refused("d.ckpt", l < 8 ? "not a checkpoint" : NULL);
        tested++;
    }
    spit("d.ckpt", b, len - 1);
    bad += !refused("d.ckpt", "truncated");
    /* An appended byte. */
    memcpy(d, b, len);
    spit("d.ckpt", d, len);
    FILE *f = fopen("d.ckpt", "ab");
    fputc(0, f);
    fclose(f);
    bad += !refused("d.ckpt", NULL);
    CHECK_MSG(bad == 0, "%d of %d damaged files accepted or badly reported", bad, tested + 2);
    check_notef("%d damaged variants refused", tested + 2);
    /* Other version with a valid checksum: named as such. */
    memcpy(d, b, len);
    d[8] = 2;
    uint64_t h = lf_fnv1a64(d, len - 8, LF_FNV1A64_INIT);
    for (int i = 0; i < 8; i++) d[len - 8 + i] = (unsigned char)(h >> (8 * i));
    spit("d.ckpt", d, len);
    CHECK(refused("d.ckpt", "version 2"));
    CHECK(refused("missing.ckpt", "cannot open"));
    free(b);
    free(d);
}

static void test_mismatch(void)
{
    fill(5);
    CHECK(save("e.ckpt", 3) == 0);
    static float p[N + 1], m[N + 1], v[N + 1];
    uint64_t step;
    int64_t astep;
    lf_error_clear();
    CHECK(lf_ckpt_load("e.ckpt", "point=n32_k8_none\nseq_len=32\nsteps=40\nlr=0.001\n", N, p, m,
                       v, &step, &astep) == -1);
    CHECK_MSG(strstr(lf_error_get(), "steps: 40 here, 20 in the checkpoint") != NULL, "%s",
              lf_error_get());
    CHECK(lf_ckpt_verify("e.ckpt", "point=n32_k8_none\nseq_len=32\nsteps=20\nlr=0.001\nnew=1\n",
                         NULL) == -1);
    CHECK_MSG(strstr(lf_error_get(), "new: 1 here, absent") != NULL, "%s", lf_error_get());
    CHECK(lf_ckpt_load("e.ckpt", fp, N + 1, p, m, v, &step, &astep) == -1);
    CHECK_MSG(strstr(lf_error_get(), "1000 parameters, the model has 1001") != NULL, "%s",
              lf_error_get());
    /* A directory that does not exist: the save fails, naming it, and leaves nothing. */
    lf_ckpt_view vw = {1, 1, N, P, M, V, 1, fp};
    CHECK(lf_ckpt_save("no/such/dir/x.ckpt", &vw) == -1 && strstr(lf_error_get(), "no/such"));
}

int main(void)
{
    check_program = "test_checkpoint";
    RUN(test_round_trip);
    RUN(test_layout);
    RUN(test_corruption);
    RUN(test_mismatch);
    return check_summary();
}
