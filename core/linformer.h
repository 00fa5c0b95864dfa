/* linformer.h - Linformer attention for one head: projections plus attention.
 *
 *   Kbar = E K, Vbar = F V   (k x d, k x dv; projection.h)
 *   out  = softmax(Q Kbar^T / sqrt(d)) Vbar   (attention.h)
 *
 * The two projections are independent products with a long inner dimension n and
 * a small output; they run concurrently, one per thread, which keeps each product
 * at full single-core BLAS speed instead of splitting a small output into thin panels.
 */
#ifndef LF_LINFORMER_H
#define LF_LINFORMER_H

#include <stdint.h>

#include "projection.h"

/* q, k: [n, d]; v: [n, dv]; mask: [n] or NULL (padded rows contribute nothing; a
 * sequence shorter than the projections' n uses their first n columns). e, f: key
 * and value projections, of which the first kp rows are used. p: [n, kp] or NULL. */
int lf_attention_linformer(const float *q, const float *k, const float *v, const uint8_t *mask,
                           int64_t n, int64_t d, int64_t dv, const lf_proj *e, const lf_proj *f,
                           int64_t kp, float *p, float *out);

#endif
