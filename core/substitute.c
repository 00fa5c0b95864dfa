/* substitute.c - Linformer attention substituted into a pretrained encoder, and the
 * change of its final hidden states and pooled embeddings (see substitute.h).
 */
#include "substitute.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"

int lf_substitute_attention(void *user, lf_encoder_attn *a)
{
    const lf_plan *plan = user;
    if (!plan || !plan->proj) LF_FAIL("substitute: no plan");
    if (a->layer >= plan->layers || a->H != plan->heads || a->n > plan->n)
        LF_FAIL("substitute: the plan (%d layers x %d heads, n %lld) does not fit layer %d of %lld "
                "heads, n %lld",
                plan->layers, plan->heads, (long long)plan->n, a->layer, (long long)a->H,
                (long long)a->n);
    const int64_t B = a->B, H = a->H, n = a->n, D = a->D, pairs = B * H;
    int64_t kmax = 1;
    for (int64_t h = 0; h < H; h++) {
        int64_t kp = lf_plan_k(plan, a->layer, (int)h);
        if (kp > kmax) kmax = kp;
    }
    int failed = 0;
    char msg[512] = "";
#pragma omp parallel num_threads(lf_threads_get())
    {
        float *kb = lf_alloc((size_t)(kmax * D), sizeof(float));
        float *vb = lf_alloc((size_t)(kmax * D), sizeof(float));
        uint8_t *sk = lf_alloc((size_t)kmax, 1), *svm = lf_alloc((size_t)kmax, 1);
        const int ok = kb && vb && sk && svm;
#pragma omp for schedule(dynamic, 1)
        for (int64_t pair = 0; pair < pairs; pair++) {
            const int64_t b = pair / H, h = pair % H;
            const int64_t kp = lf_plan_k(plan, a->layer, (int)h);
            const uint8_t *mask = a->mask ? a->mask + b * n : NULL;
            int rc = ok ? 0 : -1;
            if (rc == 0)
                rc = lf_proj_apply(lf_plan_get(plan, a->layer, (int)h, 0), kp,
                                   lf_encoder_attn_head(a, a->k, b, h), n, D, mask, kb, sk);
            if (rc == 0)
                rc = lf_proj_apply(lf_plan_get(plan, a->layer, (int)h, 1), kp,
                                   lf_encoder_attn_head(a, a->v, b, h), n, D, mask, vb, svm);
            if (rc == 0) {
                for (int64_t j = 0; j < kp; j++) sk[j] = sk[j] && svm[j];
                rc = lf_attention_projected(lf_encoder_attn_head(a, a->q, b, h), kb, vb, sk, n, kp,
                                            D, D, NULL, a->out + ((b * H + h) * n) * D);
            }
            if (rc != 0) {
#pragma omp critical(lf_substitute_fail)
                if (!failed) {
                    failed = 1;
                    snprintf(msg, sizeof msg, "sequence %lld head %lld: %s", (long long)b,
                             (long long)h, ok ? lf_error_get() : "out of memory");
                }
            }
        }
        lf_free(kb), lf_free(vb), lf_free(sk), lf_free(svm);
    }
    if (failed) LF_FAIL("substitute: %s", msg);
    return 0;
}

int lf_substitute_compare(const float *x, const float *y, const uint8_t *mask, int64_t B,
                          int64_t n, int64_t C, double *rel_change, double *cosine)
{
    if (!x || !y || B < 1 || n < 1 || C < 1) LF_FAIL("substitute compare: bad arguments");
    double *mx = lf_alloc((size_t)C, sizeof(double)), *my = lf_alloc((size_t)C, sizeof(double));
    if (!mx || !my) {
        lf_free(mx), lf_free(my);
        return -1;
    }
    int rc = 0;
    for (int64_t b = 0; b < B && rc == 0; b++) {
        double num = 0, den = 0;
        int64_t tokens = 0;
        memset(mx, 0, (size_t)C * sizeof(double));
        memset(my, 0, (size_t)C * sizeof(double));
        for (int64_t t = 0; t < n; t++) {
            if (mask && !mask[b * n + t]) continue;
            const float *xr = x + (b * n + t) * C, *yr = y + (b * n + t) * C;
            for (int64_t c = 0; c < C; c++) {
                const double d = (double)yr[c] - (double)xr[c];
                num += d * d;
                den += (double)xr[c] * (double)xr[c];
                mx[c] += xr[c];
                my[c] += yr[c];
            }
            tokens++;
        }
        if (tokens == 0 || !(den > 0)) {
            lf_error_set("substitute compare: sequence %lld has %s", (long long)b,
                         tokens == 0 ? "no token" : "zero hidden states");
            rc = -1;
            break;
        }
        /* The 1/tokens of the means cancels in the cosine. */
        double dot = 0, nx = 0, ny = 0;
        for (int64_t c = 0; c < C; c++) dot += mx[c] * my[c], nx += mx[c] * mx[c], ny += my[c] * my[c];
        if (rel_change) rel_change[b] = sqrt(num / den);
        if (cosine) cosine[b] = nx > 0 && ny > 0 ? dot / sqrt(nx * ny) : NAN;
    }
    lf_free(mx), lf_free(my);
    return rc;
}
