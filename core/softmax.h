/* softmax.h - row softmax with a vectorizable exponential.
 *
 * glibc's expf does not vectorize without -ffast-math, which the suite does not use
 * (it breaks NaN handling), and a scalar expf per score would cost more than the
 * matrix products of Linformer attention. lf_exp_inplace is a Cephes-style
 * polynomial with exact range reduction that GCC vectorizes; its error is within a
 * few float ulp (tests/test_core.c checks it against double exp). With AVX2 and
 * FMA, the softmax passes run the same polynomial by hand on eight lanes, fusing
 * shift, exponential, mask and sum into one pass (Linformer's rows are short, so
 * the number of passes counts); same contract, same lanes for the sums.
 */
#ifndef LF_SOFTMAX_H
#define LF_SOFTMAX_H

#include <stdint.h>

/* x[i] = exp(x[i]). Accurate for x <= 88 (relative error < 4e-7); returns +inf for
 * x > 88, 0 for x < -87.33 (below the normal range); NaN stays NaN. */
void lf_exp_inplace(float *x, int64_t n);

/* In place: row[j] = exp(row[j] - max) / sum over the entries with mask[j] != 0;
 * masked entries become 0. mask may be NULL (all entries count). The sum is
 * accumulated in double. A row with every entry masked becomes all zeros.
 * Returns the maximum used (or -inf for an all-masked row). */
float lf_softmax_row(float *row, int64_t n, const uint8_t *mask);

/* lf_softmax_row on each of rows rows of n entries, row i at s + i * ld (the
 * same results as row by row). */
void lf_softmax_rows(float *s, int64_t rows, int64_t n, int64_t ld, const uint8_t *mask);

/* Online-softmax pieces for streamed attention: exponentiate row[j] - max in
 * place (masked entries -> 0) and return the sum of the result in double. */
double lf_softmax_exp_shifted(float *row, int64_t n, float max, const uint8_t *mask);

/* Maximum over unmasked entries (-inf if none). */
float lf_row_max(const float *row, int64_t n, const uint8_t *mask);

#endif
