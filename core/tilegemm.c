/* tilegemm.c - register-blocked single-threaded products for the shapes of Linformer
 * attention (see tilegemm.h): AVX-512 or AVX2 micro-tiles, no packing. */
#include "tilegemm.h"

#include <string.h>

#if LF_HAVE_TILES
/* Products with a short inner dimension (d or Linformer's k) and few columns, as in
 * attention over few keys. OpenBLAS packs both operands again for every block of
 * queries and zeroes C for beta = 0 in a pass of its own; on a 512 x 64 x 64
 * product it reaches ~70 % of a core's large-sgemm rate, where this plain
 * register-blocked kernel reaches ~100 %: B (at most 256 x 64 floats here) stays
 * in L1/L2 and needs no packing, and C is written once. Every element of C is alpha
 * times one sequential FMA sum over the inner index, whichever tile and block its
 * row falls in, so results do not depend on block sizes or thread counts. */

#if !defined(__AVX512F__)
/* One micro-tile: C[r x 8g] = alpha * A[r x kk] B[kk x 8g] for r <= 6 rows and
 * g <= 2 groups of eight columns; 12 accumulators + 2 rows of B + a broadcast fit
 * the 16 AVX registers. r and g are constants after inlining. */
static inline __attribute__((always_inline)) void lf_tile(int r, int g, int64_t kk, float alpha,
                                                          const float *a, int64_t lda,
                                                          int64_t acs, const float *b,
                                                          int64_t ldb, float *c, int64_t ldc,
                                                          int acc)
{
    /* Named accumulators, not an array: GCC 12 keeps an array on the stack. */
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    if (acc) { /* continue the sums already in C */
#define LF_LOAD(I)                                                                         \
    if (r > I) {                                                                           \
        c##I##0 = _mm256_loadu_ps(c + I * ldc);                                            \
        if (g > 1) c##I##1 = _mm256_loadu_ps(c + I * ldc + 8);                             \
    }
        LF_LOAD(0) LF_LOAD(1) LF_LOAD(2) LF_LOAD(3) LF_LOAD(4) LF_LOAD(5)
#undef LF_LOAD
    }
    for (int64_t t = 0; t < kk; t++) {
        const __m256 b0 = _mm256_loadu_ps(b + t * ldb);
        const __m256 b1 = g > 1 ? _mm256_loadu_ps(b + t * ldb + 8) : b0;
        __m256 ai;
#define LF_ROW(I)                                                                          \
    if (r > I) {                                                                           \
        ai = _mm256_broadcast_ss(a + I * lda + t * acs);                                   \
        c##I##0 = _mm256_fmadd_ps(ai, b0, c##I##0);                                        \
        if (g > 1) c##I##1 = _mm256_fmadd_ps(ai, b1, c##I##1);                             \
    }
        LF_ROW(0) LF_ROW(1) LF_ROW(2) LF_ROW(3) LF_ROW(4) LF_ROW(5)
#undef LF_ROW
    }
    const __m256 va = _mm256_set1_ps(alpha);
#define LF_STORE(I)                                                                        \
    if (r > I) {                                                                           \
        _mm256_storeu_ps(c + I * ldc, _mm256_mul_ps(va, c##I##0));                         \
        if (g > 1) _mm256_storeu_ps(c + I * ldc + 8, _mm256_mul_ps(va, c##I##1));          \
    }
    LF_STORE(0) LF_STORE(1) LF_STORE(2) LF_STORE(3) LF_STORE(4) LF_STORE(5)
#undef LF_STORE
}
#define LF_TILE(R, G)                                                                      \
    static void lf_tile_##R##_##G(int64_t kk, float alpha, const float *a, int64_t lda,     \
                                  int64_t acs, const float *b, int64_t ldb, float *c,       \
                                  int64_t ldc, int acc)                                     \
    {                                                                                      \
        lf_tile(R, G, kk, alpha, a, lda, acs, b, ldb, c, ldc, acc);                        \
    }
LF_TILE(1, 1) LF_TILE(2, 1) LF_TILE(3, 1) LF_TILE(4, 1) LF_TILE(5, 1) LF_TILE(6, 1)
LF_TILE(1, 2) LF_TILE(2, 2) LF_TILE(3, 2) LF_TILE(4, 2) LF_TILE(5, 2) LF_TILE(6, 2)
#undef LF_TILE
typedef void (*lf_tile_fn)(int64_t, float, const float *, int64_t, int64_t, const float *, int64_t,
                           float *, int64_t, int);
static const lf_tile_fn lf_tiles[2][6] = {
    {lf_tile_1_1, lf_tile_2_1, lf_tile_3_1, lf_tile_4_1, lf_tile_5_1, lf_tile_6_1},
    {lf_tile_1_2, lf_tile_2_2, lf_tile_3_2, lf_tile_4_2, lf_tile_5_2, lf_tile_6_2}};
#endif

#if defined(__AVX512F__)
/* The same micro-tile with 512-bit vectors (r <= 6 rows, g <= 2 groups of sixteen
 * columns), for CPUs with AVX-512: twice the work per instruction of the tile above,
 * which would cap the kernel at half the machine's sgemm rate. Columns past the end
 * of C are masked off (m0, m1), so n need not be a multiple of 16. */
static inline __attribute__((always_inline)) void lf_tile16(int r, int g, int64_t kk,
                                                            float alpha, const float *a,
                                                            int64_t lda, int64_t acs,
                                                            const float *b, int64_t ldb, float *c,
                                                            int64_t ldc, __mmask16 m0,
                                                            __mmask16 m1, int acc)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    if (acc) { /* continue the sums already in C */
#define LF_LOAD(I)                                                                         \
    if (r > I) {                                                                           \
        c##I##0 = _mm512_maskz_loadu_ps(m0, c + I * ldc);                                  \
        if (g > 1) c##I##1 = _mm512_maskz_loadu_ps(m1, c + I * ldc + 16);                  \
    }
        LF_LOAD(0) LF_LOAD(1) LF_LOAD(2) LF_LOAD(3) LF_LOAD(4) LF_LOAD(5)
#undef LF_LOAD
    }
    for (int64_t t = 0; t < kk; t++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + t * ldb);
        const __m512 b1 = g > 1 ? _mm512_maskz_loadu_ps(m1, b + t * ldb + 16) : b0;
        __m512 ai;
#define LF_ROW(I)                                                                          \
    if (r > I) {                                                                           \
        ai = _mm512_set1_ps(a[I * lda + t * acs]);                                         \
        c##I##0 = _mm512_fmadd_ps(ai, b0, c##I##0);                                        \
        if (g > 1) c##I##1 = _mm512_fmadd_ps(ai, b1, c##I##1);                             \
    }
        LF_ROW(0) LF_ROW(1) LF_ROW(2) LF_ROW(3) LF_ROW(4) LF_ROW(5)
#undef LF_ROW
    }
    const __m512 va = _mm512_set1_ps(alpha);
#define LF_STORE(I)                                                                        \
    if (r > I) {                                                                           \
        _mm512_mask_storeu_ps(c + I * ldc, m0, _mm512_mul_ps(va, c##I##0));                \
        if (g > 1) _mm512_mask_storeu_ps(c + I * ldc + 16, m1, _mm512_mul_ps(va, c##I##1)); \
    }
    LF_STORE(0) LF_STORE(1) LF_STORE(2) LF_STORE(3) LF_STORE(4) LF_STORE(5)
#undef LF_STORE
}
#define LF_TILE(R, G)                                                                      \
    static void lf_tile16_##R##_##G(int64_t kk, float alpha, const float *a, int64_t lda,   \
                                    int64_t acs, const float *b, int64_t ldb, float *c,     \
                                    int64_t ldc, __mmask16 m0, __mmask16 m1, int acc)       \
    {                                                                                      \
        lf_tile16(R, G, kk, alpha, a, lda, acs, b, ldb, c, ldc, m0, m1, acc);              \
    }
LF_TILE(1, 1) LF_TILE(2, 1) LF_TILE(3, 1) LF_TILE(4, 1) LF_TILE(5, 1) LF_TILE(6, 1)
LF_TILE(1, 2) LF_TILE(2, 2) LF_TILE(3, 2) LF_TILE(4, 2) LF_TILE(5, 2) LF_TILE(6, 2)
#undef LF_TILE
typedef void (*lf_tile16_fn)(int64_t, float, const float *, int64_t, int64_t, const float *,
                             int64_t, float *, int64_t, __mmask16, __mmask16, int);
static const lf_tile16_fn lf_tiles16[2][6] = {
    {lf_tile16_1_1, lf_tile16_2_1, lf_tile16_3_1, lf_tile16_4_1, lf_tile16_5_1, lf_tile16_6_1},
    {lf_tile16_1_2, lf_tile16_2_2, lf_tile16_3_2, lf_tile16_4_2, lf_tile16_5_2, lf_tile16_6_2}};
#endif

/* One pass of tiles over C [rows x n]: C = alpha A B (acc = 0) or C += A B with
 * alpha = 1 (acc = 1); A's element (i, t) at a[i * lda + t * acs]. */
static void lf_tiles_pass(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a,
                          int64_t lda, int64_t acs, const float *b, int64_t ldb, float *c,
                          int64_t ldc, int acc)
{
#if defined(__AVX512F__)
    for (int64_t i = 0; i < rows; i += 6) {
        int r = rows - i < 6 ? (int)(rows - i) : 6;
        for (int64_t j = 0; j < n; j += 32) {
            int64_t cols = n - j < 32 ? n - j : 32;
            int g = cols > 16 ? 2 : 1;
            __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
            __mmask16 m1 = cols >= 32 ? (__mmask16)0xFFFF
                           : g > 1    ? (__mmask16)((1u << (cols - 16)) - 1)
                                      : (__mmask16)0;
            lf_tiles16[g - 1][r - 1](kk, alpha, a + i * lda, lda, acs, b + j, ldb,
                                     c + i * ldc + j, ldc, m0, m1, acc);
        }
    }
#else
    for (int64_t i = 0; i < rows; i += 6) {
        int r = rows - i < 6 ? (int)(rows - i) : 6;
        for (int64_t j = 0; j < n; j += 16) {
            int g = n - j < 16 ? 1 : 2;
            lf_tiles[g - 1][r - 1](kk, alpha, a + i * lda, lda, acs, b + j, ldb, c + i * ldc + j,
                                   ldc, acc);
        }
    }
#endif
}

void lf_gemm_small(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float *c, int64_t ldc)
{
    lf_tiles_pass(rows, n, kk, alpha, a, lda, 1, b, ldb, c, ldc, 0);
}

void lf_gemm_small_at(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    lf_tiles_pass(rows, n, kk, alpha, a, 1, lda, b, ldb, c, ldc, 0);
}

void lf_gemm_stream(int64_t rows, int64_t n, int64_t kk, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    /* Chunks of LF_STREAM_KC inner indices: the chunk of B (at most 256 x 256 floats,
     * 64 KiB at n = 64) stays in L2 while every row tile of A passes over it, so A and
     * B are each read from memory once, and nothing is copied. */
    enum { LF_STREAM_KC = 256 };
    if (kk <= 0) {
        for (int64_t i = 0; i < rows; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t t = 0; t < kk; t += LF_STREAM_KC) {
        int64_t kc = kk - t < LF_STREAM_KC ? kk - t : LF_STREAM_KC;
        lf_tiles_pass(rows, n, kc, 1.0f, a + t, lda, 1, b + t * ldb, ldb, c, ldc, t > 0);
    }
    if (alpha != 1.0f)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] *= alpha;
}
#endif

