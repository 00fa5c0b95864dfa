/* attention.c - dense, streamed exact and projected (Linformer) attention for one head.
 *
 * All variants work on blocks of LF_QB query rows; blocks are independent, so they
 * run in parallel (OpenMP) with serial BLAS inside (parallel.h; with few keys, a
 * kernel of our own, lf_gemm_small), and every block is computed the same way
 * whatever the thread count: results are bit-identical
 * across thread counts. Dense and projected attention are the same computation
 * (queries against a set of keys with a mask), differing only in what the keys are.
 */
#include "attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "mem.h"
#include "parallel.h"
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_num_threads(void) { return 1; }
#endif
#include "softmax.h"
#include "tilegemm.h"

/* Query rows per block in streamed attention (and the minimum elsewhere): large
 * enough for efficient sgemm. */
#define LF_QB 64
/* Materialized attention sizes its blocks so that a block of scores holds about
 * LF_BLOCK_SCORES floats (128 KiB, well inside L2): with few keys (Linformer's k)
 * blocks get more rows and the products become efficient; capped at LF_QB_MAX. */
#define LF_BLOCK_SCORES 32768
#define LF_QB_MAX 512
/* Keys per tile in streamed attention: scores of a tile (LF_QB x LF_KB floats,
 * 128 KiB) fit in L2 beside the tile of V. */
#define LF_KB 512
/* Up to this many keys (a multiple of 8, as dv must be), lf_attend multiplies with
 * its own kernel (lf_gemm_small) instead of BLAS; see there. Measured faster for
 * k = 64, 128 and 256 (n = 4096 and 16384, d = 64); beyond, keys come from dense
 * attention, whose long products BLAS handles well. */
#define LF_SMALL_KEYS 256

static int lf_check_shapes(const char *fn, int64_t n, int64_t m, int64_t d, int64_t dv)
{
    if (n < 1 || m < 1 || d < 1 || dv < 1)
        LF_FAIL("%s: sizes must be positive (n=%lld keys=%lld d=%lld dv=%lld)", fn, (long long)n,
                (long long)m, (long long)d, (long long)dv);
    if (n > INT32_MAX || m > INT32_MAX || d > INT32_MAX || dv > INT32_MAX)
        LF_FAIL("%s: sizes exceed the BLAS integer range", fn);
    return 0;
}


/* Queries q [n, d] against keys [m, d] and values [m, dv] with key mask [m]:
 * out [n, dv] = softmax(q keys^T / sqrt(d)) values; the probabilities go to p
 * [n, m] when p != NULL, else to a per-thread block buffer. */
static int lf_attend(const char *fn, const float *q, const float *keys, const float *vals,
                     const uint8_t *mask, int64_t n, int64_t m, int64_t d, int64_t dv, float *p,
                     float *out, const lf_attend_prologue *pro)
{
    LF_TRY(lf_check_shapes(fn, n, m, d, dv));
    if (!q || !keys || !vals || !out) LF_FAIL("%s: NULL input or output", fn);
    int pro_failed = 0;
    const float scale = (float)(1.0 / sqrt((double)d));
    /* Few keys: the kernel above, with the keys transposed (d x m, a row of B per
     * inner index) into a per-thread copy; m and dv multiples of 8 fill its lanes. */
    const int small = LF_HAVE_TILES && m <= LF_SMALL_KEYS && m % 8 == 0 && dv % 8 == 0;
    int64_t qb = LF_BLOCK_SCORES / m / 16 * 16;
    qb = qb < LF_QB ? LF_QB : qb > LF_QB_MAX ? LF_QB_MAX : qb;
    const int64_t nblocks = (n + qb - 1) / qb;
    int failed = 0;
#pragma omp parallel
    {
        float *scratch = NULL, *keys_t = NULL;
        if (!p) scratch = lf_alloc((size_t)qb * (size_t)m, sizeof(float));
        if (small) keys_t = lf_alloc((size_t)d * (size_t)m, sizeof(float));
        if ((!p && !scratch) || (small && !keys_t)) {
#pragma omp atomic write
            failed = 1;
        }
        if (pro && pro->run(pro->ctx, lf_thread_id(), omp_get_num_threads()) != 0) {
#pragma omp atomic write
            pro_failed = 1;
        }
#pragma omp barrier
        if (pro && pro->finish && !pro_failed) {
#pragma omp single
            pro->finish(pro->ctx);
        }
        if (!failed && !pro_failed) {
            if (small) /* keys are ready only now (after the prologue) */
                for (int64_t j = 0; j < m; j++)
                    for (int64_t c = 0; c < d; c++) keys_t[c * m + j] = keys[j * d + c];
            /* Dynamic: a core taken away by another process (or the VM host) does
             * not hold up the others; every block is computed the same way
             * whichever thread takes it. */
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < nblocks; b++) {
                int64_t i0 = b * qb;
                int64_t rows = n - i0 < qb ? n - i0 : qb;
                float *s = p ? p + i0 * m : scratch;
#if LF_HAVE_TILES
                if (small) {
                    lf_gemm_small(rows, m, d, scale, q + i0 * d, d, keys_t, m, s, m);
                    lf_softmax_rows(s, rows, m, m, mask);
                    lf_gemm_small(rows, dv, m, 1.0f, s, m, vals, dv, out + i0 * dv, dv);
                    continue;
                }
#endif
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d,
                            scale, q + i0 * d, (int)d, keys, (int)d, 0.0f, s, (int)m);
                lf_softmax_rows(s, rows, m, m, mask);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dv, (int)m,
                            1.0f, s, (int)m, vals, (int)dv, 0.0f, out + i0 * dv, (int)dv);
            }
        }
        lf_free(keys_t);
        lf_free(scratch);
    }
    if (pro_failed) return -1; /* the prologue's caller reports its own error */
    if (failed) {
        lf_error_set("%s: out of memory for a %lld x %lld score block", fn, (long long)qb,
                     (long long)m);
        return -1;
    }
    return 0;
}

int lf_attention_dense(const float *q, const float *k, const float *v, const uint8_t *mask,
                       int64_t n, int64_t d, int64_t dv, float *p, float *out)
{
    return lf_attend("lf_attention_dense", q, k, v, mask, n, n, d, dv, p, out, NULL);
}

int lf_attention_projected(const float *q, const float *kbar, const float *vbar,
                           const uint8_t *slot_mask, int64_t n, int64_t kp, int64_t d, int64_t dv,
                           float *p, float *out)
{
    return lf_attend("lf_attention_projected", q, kbar, vbar, slot_mask, n, kp, d, dv, p, out,
                     NULL);
}

int lf_attention_projected_after(const float *q, const float *kbar, const float *vbar,
                                 const uint8_t *slot_mask, int64_t n, int64_t kp, int64_t d,
                                 int64_t dv, float *p, float *out, const lf_attend_prologue *pro)
{
    return lf_attend("lf_attention_projected", q, kbar, vbar, slot_mask, n, kp, d, dv, p, out,
                     pro);
}

/* One block of query rows against all key tiles with an online softmax: for each
 * row a running maximum mx and sum l; when a tile raises the maximum, the
 * accumulated output and sum are rescaled by exp(old - new). l is kept in double
 * (it sums up to n terms); the output accumulator in float like a dense P V. */
static void lf_streamed_block(const float *q, const float *k, const float *v, const uint8_t *mask,
                              int64_t rows, int64_t n, int64_t d, int64_t dv, float scale, float *s,
                              float *acc, float *mx, double *l, float *out)
{
    for (int64_t i = 0; i < rows; i++) {
        mx[i] = -INFINITY;
        l[i] = 0.0;
    }
    memset(acc, 0, (size_t)rows * (size_t)dv * sizeof *acc);
    for (int64_t j0 = 0; j0 < n; j0 += LF_KB) {
        int64_t cols = n - j0 < LF_KB ? n - j0 : LF_KB;
        const uint8_t *tmask = mask ? mask + j0 : NULL;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, scale, q,
                    (int)d, k + j0 * d, (int)d, 0.0f, s, (int)cols);
        for (int64_t i = 0; i < rows; i++) {
            float *srow = s + i * cols;
            float tmax = lf_row_max(srow, cols, tmask);
            float newmax = tmax > mx[i] ? tmax : mx[i];
            if (newmax == -INFINITY) { /* nothing unmasked yet */
                memset(srow, 0, (size_t)cols * sizeof *srow);
                continue;
            }
            if (newmax > mx[i] && mx[i] != -INFINITY) {
                float alpha = expf(mx[i] - newmax);
                float *arow = acc + i * dv;
                for (int64_t c = 0; c < dv; c++) arow[c] *= alpha;
                l[i] *= alpha;
            }
            mx[i] = newmax;
            l[i] += lf_softmax_exp_shifted(srow, cols, newmax, tmask);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dv, (int)cols, 1.0f,
                    s, (int)cols, v + j0 * dv, (int)dv, 1.0f, acc, (int)dv);
    }
    for (int64_t i = 0; i < rows; i++) {
        float inv = l[i] > 0.0 ? (float)(1.0 / l[i]) : 0.0f;
        for (int64_t c = 0; c < dv; c++) out[i * dv + c] = acc[i * dv + c] * inv;
    }
}

int lf_attention_streamed(const float *q, const float *k, const float *v, const uint8_t *mask,
                          int64_t n, int64_t d, int64_t dv, float *out)
{
    const char *fn = "lf_attention_streamed";
    LF_TRY(lf_check_shapes(fn, n, n, d, dv));
    if (!q || !k || !v || !out) LF_FAIL("%s: NULL input or output", fn);
    const float scale = (float)(1.0 / sqrt((double)d));
    const int64_t nblocks = (n + LF_QB - 1) / LF_QB;
    int failed = 0;
#pragma omp parallel
    {
        float *s = lf_alloc((size_t)LF_QB * LF_KB, sizeof(float));
        float *acc = lf_alloc((size_t)LF_QB * (size_t)dv, sizeof(float));
        float *mx = lf_alloc(LF_QB, sizeof(float));
        double *l = lf_alloc(LF_QB, sizeof(double));
        if (!s || !acc || !mx || !l) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp barrier
        if (!failed) {
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblocks; b++) {
                int64_t i0 = b * LF_QB;
                int64_t rows = n - i0 < LF_QB ? n - i0 : LF_QB;
                lf_streamed_block(q + i0 * d, k, v, mask, rows, n, d, dv, scale, s, acc, mx, l,
                                  out + i0 * dv);
            }
        }
        lf_free(l);
        lf_free(mx);
        lf_free(acc);
        lf_free(s);
    }
    if (failed) LF_FAIL("%s: out of memory for tile buffers", fn);
    return 0;
}

double lf_attention_dense_flops(int64_t n, int64_t d, int64_t dv)
{
    return 2.0 * (double)n * (double)n * (double)(d + dv);
}

double lf_attention_linformer_flops(int64_t n, int64_t kp, int64_t d, int64_t dv)
{
    /* E K and F V (2 kp n d + 2 kp n dv), then scores and P V (2 n kp (d + dv)). */
    return 4.0 * (double)n * (double)kp * (double)(d + dv);
}
