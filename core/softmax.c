/* softmax.c - vectorizable exp and numerically stable row softmax (see softmax.h). */
#include "softmax.h"

#include <math.h>
#include <string.h>

/* exp(x) = 2^m * exp(r), m = round(x / ln 2), r = x - m ln 2 with ln 2 split in a
 * high part exact in float and a low correction (Cody-Waite), |r| <= ln(2)/2; exp(r)
 * from the Cephes expf minimax polynomial. The rounding to m uses the 1.5 * 2^23
 * trick so that no float-to-int conversion (undefined for NaN) happens; 2^m is
 * assembled in the exponent bits with unsigned arithmetic. */
static inline float lf_exp1(float x)
{
    const float hi = 88.0f, lo = -87.33654f;
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    float t = xc * 1.44269504088896341f + magic;
    float m = t - magic;
    float r = xc - m * 0.693359375f;
    r = r - m * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
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

/* Eight independent lanes, so that GCC vectorizes the reductions without
 * reassociating (no -ffast-math); the lane order is fixed, so results are
 * deterministic. */
#define LF_LANES 8

float lf_row_max(const float *row, int64_t n, const uint8_t *mask)
{
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

double lf_softmax_exp_shifted(float *row, int64_t n, float max, const uint8_t *mask)
{
    if (max == -INFINITY) {
        memset(row, 0, (size_t)n * sizeof *row);
        return 0.0;
    }
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
