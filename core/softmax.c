/* softmax.c - vectorizable exp and numerically stable row softmax (see softmax.h). */
#include "softmax.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* exp(x) = 2^m * exp(r), m = round(x / ln 2), r = x - m ln 2 with ln 2 split in a
 * high part exact in float and a low correction (Cody-Waite), |r| <= ln(2)/2; exp(r)
 * from the Cephes expf minimax polynomial. The rounding to m uses the 1.5 * 2^23
 * trick so that no float-to-int conversion (undefined for NaN) happens; 2^m is
 * assembled in the exponent bits with unsigned arithmetic. Where the target has FMA
 * the fused steps are written out (LF_FMA), as in the vector code below, so that the
 * scalar and vector results agree whatever the compiler contracts at any -O level
 * (bit for bit the same as GCC's -O3 contraction of the plain expressions: checked on
 * all 2^32 inputs). */
#if defined(__FMA__)
#define LF_FMA(a, b, c) fmaf(a, b, c)
#else
#define LF_FMA(a, b, c) ((a) * (b) + (c))
#endif
static inline float lf_exp1(float x)
{
    const float hi = 88.0f, lo = -87.33654f;
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    float t = LF_FMA(xc, 1.44269504088896341f, magic);
    float m = t - magic;
    float r = LF_FMA(-m, 0.693359375f, xc);
    r = LF_FMA(-m, -2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = LF_FMA(p, r, 1.3981999507e-3f);
    p = LF_FMA(p, r, 8.3334519073e-3f);
    p = LF_FMA(p, r, 4.1665795894e-2f);
    p = LF_FMA(p, r, 1.6666665459e-1f);
    p = LF_FMA(p, r, 5.0000001201e-1f);
    p = LF_FMA(p * r, r, r) + 1.0f;
    uint32_t tb, mb;
    memcpy(&tb, &t, sizeof tb);
    const uint32_t magic_bits = 0x4b400000u;
    mb = (tb - magic_bits + 127u) << 23;
    float scale;
    memcpy(&scale, &mb, sizeof scale);
    float y = p * scale;
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return y;
}

void lf_exp_inplace(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = lf_exp1(x[i]);
}

#if defined(__AVX2__) && defined(__FMA__)
/* lf_exp1 on eight lanes. min/max take the operand that must survive a NaN second
 * (they return their second operand when either is NaN), so NaN propagates like
 * in lf_exp1; the blends compare with ordered predicates (false for NaN). */
static inline __m256 lf_exp8(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.0f), lo = _mm256_set1_ps(-87.33654f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 m = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(m, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(m, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i mb = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4b400000)),
                         _mm256_set1_epi32(127)),
        23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(mb));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    return y;
}

/* Lanes of mask[0..7] that are nonzero, as all-ones float lanes. */
static inline __m256 lf_mask8(const uint8_t *mask)
{
    __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mask));
    return _mm256_castsi256_ps(
        _mm256_xor_si256(_mm256_cmpeq_epi32(m, _mm256_setzero_si256()), _mm256_set1_epi32(-1)));
}

#if defined(__AVX512F__)
/* lf_exp8 on sixteen lanes (the same operations lane by lane, so the same values). */
static inline __m512 lf_exp16(__m512 x)
{
    const __m512 hi = _mm512_set1_ps(88.0f), lo = _mm512_set1_ps(-87.33654f);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 xc = _mm512_max_ps(lo, _mm512_min_ps(hi, x));
    __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 m = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(m, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(m, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    __m512i mb = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4b400000)),
                         _mm512_set1_epi32(127)),
        23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(mb));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), y, _mm512_set1_ps(INFINITY));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), y, _mm512_setzero_ps());
    return y;
}
#endif

#endif

/* Eight independent lanes, so that GCC vectorizes the reductions without
 * reassociating (no -ffast-math); the lane order is fixed, so results are
 * deterministic. */
#define LF_LANES 8

#if defined(__AVX2__) && defined(__FMA__)
/* The portable loops below do not vectorize the masked maximum (GCC 12), and
 * Linformer's short rows feel every pass: eight lanes by hand, with the same
 * comparison (v > lane ? v : lane, which _mm256_max_ps(v, lane) is, NaN included)
 * and the same lane order, so the result equals the portable one. */
static float lf_row_max8(const float *row, int64_t n, const uint8_t *mask)
{
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + LF_LANES <= n; j += LF_LANES) {
        __m256 v = _mm256_loadu_ps(row + j);
        if (mask) v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, lf_mask8(mask + j));
        vmax = _mm256_max_ps(v, vmax);
    }
    float lane[LF_LANES];
    _mm256_storeu_ps(lane, vmax);
    for (; j < n; j++)
        if (!mask || mask[j]) lane[0] = row[j] > lane[0] ? row[j] : lane[0];
    float m = lane[0];
    for (int l = 1; l < LF_LANES; l++) m = lane[l] > m ? lane[l] : m;
    return m;
}
#endif

float lf_row_max(const float *row, int64_t n, const uint8_t *mask)
{
#if defined(__AVX2__) && defined(__FMA__)
    return lf_row_max8(row, n, mask);
#endif
    float lane[LF_LANES];
    for (int l = 0; l < LF_LANES; l++) lane[l] = -INFINITY;
    int64_t j = 0;
    if (mask) {
        for (; j + LF_LANES <= n; j += LF_LANES)
            for (int l = 0; l < LF_LANES; l++) {
                float v = mask[j + l] ? row[j + l] : -INFINITY;
                lane[l] = v > lane[l] ? v : lane[l];
            }
        for (; j < n; j++)
            if (mask[j] && row[j] > lane[0]) lane[0] = row[j];
    } else {
        for (; j + LF_LANES <= n; j += LF_LANES)
            for (int l = 0; l < LF_LANES; l++) lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
        for (; j < n; j++) lane[0] = row[j] > lane[0] ? row[j] : lane[0];
    }
    float m = lane[0];
    for (int l = 1; l < LF_LANES; l++) m = lane[l] > m ? lane[l] : m;
    return m;
}

static double lf_sum_f64(const float *x, int64_t n)
{
    double lane[LF_LANES] = {0};
    int64_t j = 0;
    for (; j + LF_LANES <= n; j += LF_LANES)
        for (int l = 0; l < LF_LANES; l++) lane[l] += x[j + l];
    for (; j < n; j++) lane[0] += x[j];
    double s = 0.0;
    for (int l = 0; l < LF_LANES; l++) s += lane[l];
    return s;
}

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
/* lf_softmax_exp_shifted's work in one pass of eight lanes: shift, exponential,
 * mask and the double sum in the lanes of lf_sum_f64 (same lanes, same order, so
 * the same sum). One pass instead of three matters for Linformer's short rows
 * (k = 64 scores), where the passes and their loop overheads cost as much as the
 * exponentials. */
static double lf_exp_shifted8(float *row, int64_t n, float max, const uint8_t *mask)
{
    const __m256 vmax = _mm256_set1_ps(max);
    __m256d s_lo = _mm256_setzero_pd(), s_hi = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + LF_LANES <= n; j += LF_LANES) {
        __m256 e = lf_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), vmax));
        if (mask) e = _mm256_and_ps(e, lf_mask8(mask + j));
        _mm256_storeu_ps(row + j, e);
        s_lo = _mm256_add_pd(s_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s_hi = _mm256_add_pd(s_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lane[LF_LANES];
    _mm256_storeu_pd(lane, s_lo);
    _mm256_storeu_pd(lane + 4, s_hi);
    for (; j < n; j++) {
        row[j] = !mask || mask[j] ? lf_exp1(row[j] - max) : 0.0f;
        lane[0] += row[j];
    }
    double s = 0.0;
    for (int l = 0; l < LF_LANES; l++) s += lane[l];
    return s;
}
#endif

#if defined(__AVX512F__)
/* lf_exp_shifted8 sixteen elements at a time: elements j..j+7 are added to the eight
 * double lanes, then j+8..j+15, which is the order of the eight-lane loop, so the
 * sum (and everything else) is bit-identical to it; only the instruction count
 * halves. */
static double lf_exp_shifted16(float *row, int64_t n, float max, const uint8_t *mask)
{
    const __m512 vmax = _mm512_set1_ps(max);
    __m512d s = _mm512_setzero_pd();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 e = lf_exp16(_mm512_sub_ps(_mm512_loadu_ps(row + j), vmax));
        if (mask) {
            __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(mask + j)));
            e = _mm512_maskz_mov_ps(_mm512_test_epi32_mask(m, m), e);
        }
        _mm512_storeu_ps(row + j, e);
        s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s = _mm512_add_pd(s, _mm512_cvtps_pd(
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double lane[LF_LANES];
    _mm512_storeu_pd(lane, s);
    for (; j + LF_LANES <= n; j += LF_LANES)
        for (int l = 0; l < LF_LANES; l++) {
            row[j + l] = !mask || mask[j + l] ? lf_exp1(row[j + l] - max) : 0.0f;
            lane[l] += row[j + l];
        }
    for (; j < n; j++) {
        row[j] = !mask || mask[j] ? lf_exp1(row[j] - max) : 0.0f;
        lane[0] += row[j];
    }
    double sum = 0.0;
    for (int l = 0; l < LF_LANES; l++) sum += lane[l];
    return sum;
}
#endif

double lf_softmax_exp_shifted(float *row, int64_t n, float max, const uint8_t *mask)
{
    if (max == -INFINITY) {
        memset(row, 0, (size_t)n * sizeof *row);
        return 0.0;
    }
#if defined(__AVX512F__)
    return lf_exp_shifted16(row, n, max, mask);
#elif defined(__AVX2__) && defined(__FMA__)
    return lf_exp_shifted8(row, n, max, mask);
#endif
    /* Exponentiate with the shift fused in, then mask, then sum in eight double
     * lanes: each pass vectorizes (a single fused pass does not, with GCC 12). */
    for (int64_t j = 0; j < n; j++) row[j] = lf_exp1(row[j] - max);
    if (mask)
        for (int64_t j = 0; j < n; j++) row[j] = mask[j] ? row[j] : 0.0f;
    return lf_sum_f64(row, n);
}

float lf_softmax_row(float *row, int64_t n, const uint8_t *mask)
{
    float max = lf_row_max(row, n, mask);
    double sum = lf_softmax_exp_shifted(row, n, max, mask);
    if (sum > 0.0) {
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < n; j++) row[j] *= inv;
    }
    return max;
}

void lf_softmax_rows(float *s, int64_t rows, int64_t n, int64_t ld, const uint8_t *mask)
{
    for (int64_t i = 0; i < rows; i++) lf_softmax_row(s + i * ld, n, mask);
}
