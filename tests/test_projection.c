/* test_projection.c - projection plans (sharing, nonuniform k, kinds, initialisation)
 * and lf_proj_apply, against references written here from the definitions:
 * naive double-precision loops for linear/gaussian and max pooling, explicit dense
 * k x n matrices for mean pooling and conv, and masks with garbage in padded rows.
 *
 * Tolerances for float32 sums: the computed value of a sum of m products differs
 * from the exact one by at most gamma_m * sum |terms| with gamma_m ~ m u, u = 2^-24
 * (Higham, Accuracy and Stability, 3.1), whatever the summation order or FMA use.
 * The reference is exact up to double rounding, so |got - ref| <= (m + 2) u sum|terms|
 * is a bound a correct implementation cannot exceed, while any wrong index, weight or
 * leaked padded row changes the result by O(sum|terms| / m) or more.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "projection.h"
#include "rng.h"

#define U32 (1.0 / 16777216.0) /* unit roundoff of float32, 2^-24 */

static int64_t ks_buf[4096];

static const int64_t *k_all(int count, int64_t v)
{
    for (int i = 0; i < count; i++) ks_buf[i] = v;
    return ks_buf;
}

static void fill_uniform(float *x, size_t count, uint64_t seed)
{
    lf_rng r;
    lf_rng_init(&r, seed, 999);
    lf_rng_fill_uniform(&r, x, count, -1.0, 1.0);
}

/* Worst ratio |got - ref| / ((m + 2) u absum + tiny) over count values; > 1 fails. */
static double bound_ratio(const float *got, const double *ref, const double *absum, size_t count,
                          int64_t m, size_t *worst)
{
    double w = 0;
    *worst = 0;
    for (size_t i = 0; i < count; i++) {
        double r = fabs((double)got[i] - ref[i]) / ((double)(m + 2) * U32 * absum[i] + 1e-30);
        if (!(r <= w)) {
            w = isnan(r) ? INFINITY : r;
            *worst = i;
        }
    }
    return w;
}

#define CHECK_BOUND(what, got, ref, absum, count, m)                                               \
    do {                                                                                           \
        size_t wi_;                                                                                \
        double r_ = bound_ratio(got, ref, absum, count, m, &wi_);                                  \
        CHECK_MSG(r_ <= 1.0, "%s: element %zu: %.9g vs %.12g exceeds the float32 sum bound "      \
                  "(ratio %.3g)",                                                                  \
                  what, wi_, (double)(got)[wi_], (ref)[wi_], r_);                                  \
    } while (0)

/* ref[k_use, d] = scale * A[:k_use, :n_use] x (A row-major with leading dimension
 * lda, in double), over rows with mask[i] != 0; absum = the same with |.|. */
static void ref_dense_f(const float *A, int64_t lda, int64_t k_use, int64_t n_use, double scale,
                        const float *x, int64_t d, const uint8_t *mask, double *ref, double *absum)
{
    for (int64_t j = 0; j < k_use; j++)
        for (int64_t c = 0; c < d; c++) {
            double s = 0, a = 0;
            for (int64_t i = 0; i < n_use; i++) {
                if (mask && !mask[i]) continue;
                double t = scale * (double)A[j * lda + i] * (double)x[i * d + c];
                s += t;
                a += fabs(t);
            }
            ref[j * d + c] = s;
            absum[j * d + c] = a;
        }
}

/* ref = A x for a dense double A; a zero entry of A is structural (outside the window
 * or padded), so its term is skipped rather than multiplied: 0 * NaN would be NaN. */
static void ref_dense_d(const double *A, int64_t k, int64_t n, const float *x, int64_t d,
                        double *ref, double *absum)
{
    for (int64_t j = 0; j < k; j++)
        for (int64_t c = 0; c < d; c++) {
            double s = 0, a = 0;
            for (int64_t i = 0; i < n; i++) {
                if (A[j * n + i] == 0.0) continue;
                double t = A[j * n + i] * (double)x[i * d + c];
                s += t;
                a += fabs(t);
            }
            ref[j * d + c] = s;
            absum[j * d + c] = a;
        }
}

/* Position i lies in pooling slot j iff floor(j n/k) <= i < floor((j+1) n/k), i.e.
 * j n < (i+1) k <= (j+1) n: integer arithmetic, no floor in sight, so it checks the
 * library's window bounds rather than repeating them. */
static int in_window(int64_t i, int64_t j, int64_t n, int64_t k)
{
    return j * n < (i + 1) * k && (i + 1) * k <= (j + 1) * n;
}

/* Explicit mean-pooling matrix over valid positions below n_use: A[j, i] = 1 / (valid
 * positions of window j). Returns it in a (k x n) buffer the caller frees. */
static double *mean_matrix(int64_t k, int64_t n, int64_t n_use, const uint8_t *mask)
{
    double *A = calloc((size_t)(k * n), sizeof *A);
    for (int64_t j = 0; j < k; j++) {
        int cnt = 0;
        for (int64_t i = 0; i < n_use; i++) cnt += in_window(i, j, n, k) && (!mask || mask[i]);
        for (int64_t i = 0; i < n_use; i++)
            if (in_window(i, j, n, k) && (!mask || mask[i])) A[j * n + i] = 1.0 / cnt;
    }
    return A;
}

/* Explicit conv matrix: A[j, j window + t] = w[t] for valid positions below n_use. */
static double *conv_matrix(const float *w, int64_t k, int64_t n, int64_t n_use,
                           const uint8_t *mask)
{
    int64_t window = n / k;
    double *A = calloc((size_t)(k * n), sizeof *A);
    for (int64_t i = 0; i < n_use; i++)
        if (!mask || mask[i]) A[(i / window) * n + i] = w[i % window];
    return A;
}

/* Naive max pooling; slot_valid as the library should set it. */
static void ref_max(const float *x, int64_t k, int64_t n, int64_t n_use, int64_t d,
                    const uint8_t *mask, float *ref, uint8_t *valid)
{
    for (int64_t j = 0; j < k; j++) {
        valid[j] = 0;
        for (int64_t c = 0; c < d; c++) ref[j * d + c] = 0;
        for (int64_t i = 0; i < n_use; i++) {
            if (!in_window(i, j, n, k) || (mask && !mask[i])) continue;
            for (int64_t c = 0; c < d; c++)
                if (!valid[j] || x[i * d + c] > ref[j * d + c]) ref[j * d + c] = x[i * d + c];
            valid[j] = 1;
        }
    }
}

/* ---- names ------------------------------------------------------------------- */

static void test_names(void)
{
    for (int s = LF_SHARE_NONE; s <= LF_SHARE_LAYERWISE; s++) {
        lf_sharing got = (lf_sharing)-1;
        CHECK(lf_sharing_parse(lf_sharing_name((lf_sharing)s), &got) == 0 && (int)got == s);
    }
    for (int kd = LF_PROJ_LINEAR; kd <= LF_PROJ_CONV; kd++) {
        lf_proj_kind got = (lf_proj_kind)-1;
        CHECK(lf_proj_kind_parse(lf_proj_kind_name((lf_proj_kind)kd), &got) == 0 && (int)got == kd);
    }
    const char *sn[] = {"none", "headwise", "kv", "layerwise"};
    for (int s = 0; s < 4; s++) CHECK(strcmp(lf_sharing_name((lf_sharing)s), sn[s]) == 0);
    const char *kn[] = {"linear", "gaussian", "mean", "max", "conv"};
    for (int kd = 0; kd < 5; kd++) CHECK(strcmp(lf_proj_kind_name((lf_proj_kind)kd), kn[kd]) == 0);
    lf_proj_kind kind = LF_PROJ_MAX;
    CHECK(lf_proj_kind_parse("given", &kind) == 0 && kind == LF_PROJ_LINEAR);
    kind = LF_PROJ_MAX;
    CHECK(lf_proj_kind_parse("learned", &kind) == 0 && kind == LF_PROJ_LINEAR);

    const char *bad_s[] = {"Headwise", "", "NONE", "kv ", "key-value", "layer"};
    for (int i = 0; i < 6; i++) {
        lf_sharing got = LF_SHARE_KV;
        lf_error_clear();
        CHECK_MSG(lf_sharing_parse(bad_s[i], &got) == -1, "\"%s\" accepted", bad_s[i]);
        CHECK(got == LF_SHARE_KV); /* untouched on failure */
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad_s[i]);
        CHECK_MSG(strstr(lf_error_get(), quoted) != NULL, "message: %s", lf_error_get());
        CHECK_MSG(strstr(lf_error_get(), "none, headwise, kv, layerwise") != NULL, "message: %s",
                  lf_error_get());
    }
    CHECK(lf_sharing_parse(NULL, NULL) == -1);
    const char *bad_k[] = {"Linear", "", "gauss", "avg", "conv1d"};
    for (int i = 0; i < 5; i++) {
        lf_error_clear();
        CHECK_MSG(lf_proj_kind_parse(bad_k[i], &kind) == -1, "\"%s\" accepted", bad_k[i]);
        CHECK_MSG(strstr(lf_error_get(), "gaussian, mean, max, conv") != NULL, "message: %s",
                  lf_error_get());
    }
    CHECK(lf_proj_kind_parse(NULL, &kind) == -1);
    CHECK(strcmp(lf_sharing_name((lf_sharing)17), "unknown") == 0);
    CHECK(strcmp(lf_proj_kind_name((lf_proj_kind)-1), "unknown") == 0);
}

/* ---- plan structure ---------------------------------------------------------- */

static void test_counts_12x12(void)
{
    const int L = 12, H = 12;
    const int64_t n = 32, k = 8;
    const int expect[4] = {288, 24, 12, 1};
    for (int s = 0; s < 4; s++) {
        lf_plan plan;
        if (lf_plan_init(&plan, L, H, n, k_all(L * H, k), (lf_sharing)s, LF_PROJ_LINEAR, 1) != 0) {
            CHECK_MSG(0, "%s: %s", lf_sharing_name((lf_sharing)s), lf_error_get());
            continue;
        }
        CHECK_MSG(plan.n_proj == expect[s], "%s: n_proj = %d, expected %d",
                  lf_sharing_name((lf_sharing)s), plan.n_proj, expect[s]);
        CHECK(lf_plan_param_count(&plan) == (size_t)expect[s] * (size_t)(k * n));
        /* For every projection: how many users, and whether they all share one layer
         * and one key/value role. */
        int users[288] = {0}, layer_of[288], which_of[288], one_layer[288], one_which[288];
        int bad_range = 0, bad_get = 0;
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < 2; w++) {
                    int p = plan.index[(l * H + h) * 2 + w];
                    if (p < 0 || p >= plan.n_proj) {
                        bad_range++;
                        continue;
                    }
                    if (lf_plan_get(&plan, l, h, w) != &plan.proj[p]) bad_get++;
                    if (users[p]++ == 0) {
                        layer_of[p] = l;
                        which_of[p] = w;
                        one_layer[p] = one_which[p] = 1;
                    }
                    if (layer_of[p] != l) one_layer[p] = 0;
                    if (which_of[p] != w) one_which[p] = 0;
                }
        CHECK(bad_range == 0);
        CHECK(bad_get == 0);
        int unused = 0, wrong = 0;
        for (int p = 0; p < plan.n_proj && p < 288; p++) {
            if (users[p] == 0) unused++;
            const lf_proj *pr = &plan.proj[p];
            if (pr->k != k || pr->n != n || pr->kind != LF_PROJ_LINEAR || !pr->weights) wrong++;
            switch ((lf_sharing)s) {
            case LF_SHARE_NONE: /* every (layer, head, key|value) its own */
                if (users[p] != 1) wrong++;
                break;
            case LF_SHARE_HEADWISE: /* the H heads of one layer, keys apart from values */
                if (users[p] != H || !one_layer[p] || !one_which[p]) wrong++;
                break;
            case LF_SHARE_KV: /* keys and values of the H heads of one layer */
                if (users[p] != 2 * H || !one_layer[p]) wrong++;
                break;
            case LF_SHARE_LAYERWISE: /* everything */
                if (users[p] != 2 * L * H) wrong++;
                break;
            }
        }
        CHECK_MSG(unused == 0, "%s: %d projections have no user", lf_sharing_name((lf_sharing)s),
                  unused);
        CHECK_MSG(wrong == 0, "%s: %d projections with wrong users or shape",
                  lf_sharing_name((lf_sharing)s), wrong);
        /* The documented numbering, spot-checked. */
        int last = (11 * H + 11) * 2 + 1;
        switch ((lf_sharing)s) {
        case LF_SHARE_NONE: CHECK(plan.index[last] == 287); break;
        case LF_SHARE_HEADWISE:
            CHECK(plan.index[last] == 23 && plan.index[last - 1] == 22);
            CHECK(plan.index[(3 * H + 5) * 2] == plan.index[(3 * H + 0) * 2]);
            CHECK(plan.index[(3 * H + 5) * 2] != plan.index[(3 * H + 5) * 2 + 1]);
            break;
        case LF_SHARE_KV:
            CHECK(plan.index[last] == 11 && plan.index[last - 1] == 11);
            CHECK(plan.index[(4 * H) * 2] != plan.index[(5 * H) * 2]);
            break;
        case LF_SHARE_LAYERWISE: CHECK(plan.index[last] == 0); break;
        }
        lf_plan_free(&plan);
    }
}

static void test_nonuniform_k(void)
{
    /* Per layer, as the paper suggests: higher layers smaller. */
    const int L = 6, H = 2;
    const int64_t n = 512, kl[6] = {256, 256, 128, 128, 64, 64};
    int64_t k[12];
    int64_t sum_k = 0;
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < H; h++) k[l * H + h] = kl[l];
        sum_k += kl[l];
    }
    const size_t expect_params[3] = {(size_t)(2 * H * sum_k * n), (size_t)(2 * sum_k * n),
                                     (size_t)(sum_k * n)};
    for (int s = 0; s < 3; s++) {
        lf_plan plan;
        if (lf_plan_init(&plan, L, H, n, k, (lf_sharing)s, LF_PROJ_GAUSSIAN, 3) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        int wrong = 0;
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) {
                if (lf_plan_k(&plan, l, h) != kl[l]) wrong++;
                for (int w = 0; w < 2; w++)
                    if (lf_plan_get(&plan, l, h, w)->k != kl[l]) wrong++;
            }
        CHECK_MSG(wrong == 0, "%s: %d heads with the wrong k", lf_sharing_name((lf_sharing)s),
                  wrong);
        CHECK(lf_plan_param_count(&plan) == expect_params[s]);
        lf_plan_free(&plan);
    }

    /* Layerwise: one matrix with the largest k; users take a prefix of its rows,
     * gaussian ones rescaled by sqrt(k_max / k). */
    lf_plan plan;
    if (lf_plan_init(&plan, L, H, n, k, LF_SHARE_LAYERWISE, LF_PROJ_GAUSSIAN, 3) == 0) {
        CHECK(plan.n_proj == 1 && plan.proj[0].k == 256);
        CHECK(lf_plan_param_count(&plan) == (size_t)(256 * n));
        for (int l = 0; l < L; l++) CHECK(lf_plan_k(&plan, l, 1) == kl[l]);
        const int64_t d = 8;
        float *x = malloc(sizeof(float) * n * d), *full = malloc(sizeof(float) * 256 * d),
              *part = malloc(sizeof(float) * 64 * d);
        double *ref = malloc(sizeof(double) * 64 * d), *abs_ = malloc(sizeof(double) * 64 * d);
        fill_uniform(x, (size_t)(n * d), 11);
        const lf_proj *p0 = lf_plan_get(&plan, 0, 0, 0), *p5 = lf_plan_get(&plan, 5, 1, 1);
        CHECK(p0 == p5);
        CHECK(lf_proj_apply(p0, lf_plan_k(&plan, 0, 0), x, n, d, NULL, full, NULL) == 0);
        CHECK(lf_proj_apply(p5, lf_plan_k(&plan, 5, 1), x, n, d, NULL, part, NULL) == 0);
        /* layer 5's 64 rows are the first 64 of the shared 256, times sqrt(256/64) = 2 */
        ref_dense_f(p5->weights, n, 64, n, 2.0, x, d, NULL, ref, abs_);
        CHECK_BOUND("layer 5 prefix", part, ref, abs_, (size_t)(64 * d), n);
        /* Against layer 0's own result: each side is within (n + 2) u sum|terms| of
         * the exact value, so they differ by at most twice that. */
        for (int64_t i = 0; i < 64 * d; i++) ref[i] = 2.0 * full[i];
        CHECK_BOUND("layer 5 = 2 x layer 0's first rows", part, ref, abs_, (size_t)(64 * d),
                    2 * n + 2);
        free(x), free(full), free(part), free(ref), free(abs_);
        lf_plan_free(&plan);
    } else {
        CHECK_MSG(0, "%s", lf_error_get());
    }

    /* Per head: a shared linear/gaussian projection takes the largest k of its users
     * (not the first user's: the largest comes later here). */
    const int64_t kh[6] = {16, 64, 32, 8, 48, 48};
    const int64_t max_of_layer[2] = {64, 48};
    for (int s = 0; s < 4; s++) {
        if (lf_plan_init(&plan, 2, 3, 128, kh, (lf_sharing)s, LF_PROJ_LINEAR, 5) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        for (int l = 0; l < 2; l++)
            for (int h = 0; h < 3; h++) {
                int64_t want = s == LF_SHARE_NONE ? kh[l * 3 + h]
                             : s == LF_SHARE_LAYERWISE ? 64 : max_of_layer[l];
                CHECK_MSG(lf_plan_get(&plan, l, h, 0)->k == want &&
                              lf_plan_k(&plan, l, h) == kh[l * 3 + h],
                          "%s: layer %d head %d: projection k %lld, want %lld",
                          lf_sharing_name((lf_sharing)s), l, h,
                          (long long)lf_plan_get(&plan, l, h, 0)->k, (long long)want);
            }
        lf_plan_free(&plan);
    }

    /* Pooling and conv with per-layer k are fine as long as no projection is shared
     * across layers. */
    for (int kind = LF_PROJ_MEAN; kind <= LF_PROJ_CONV; kind++)
        for (int s = 0; s < 3; s++) {
            if (lf_plan_init(&plan, L, H, n, k, (lf_sharing)s, (lf_proj_kind)kind, 1) != 0) {
                CHECK_MSG(0, "%s %s: %s", lf_proj_kind_name((lf_proj_kind)kind),
                          lf_sharing_name((lf_sharing)s), lf_error_get());
                continue;
            }
            for (int l = 0; l < L; l++) {
                const lf_proj *p = lf_plan_get(&plan, l, 0, 1);
                CHECK(p->k == kl[l]);
                CHECK(p->window == (kind == LF_PROJ_CONV ? n / kl[l] : 0));
            }
            lf_plan_free(&plan);
        }
}

/* Fills a plan with garbage, runs a failing init and checks the message holds
 * every needle, and that the plan is left zeroed and freeable. */
static void expect_reject(const char *what, int layers, int heads, int64_t n, const int64_t *k,
                          int sharing, int kind, const char *n1, const char *n2, const char *n3)
{
    lf_plan plan;
    memset(&plan, 0xAB, sizeof plan);
    lf_error_clear();
    int rc = lf_plan_init(&plan, layers, heads, n, k, (lf_sharing)sharing, (lf_proj_kind)kind, 1);
    CHECK_MSG(rc == -1, "%s: accepted", what);
    if (rc != 0) {
        const char *m = lf_error_get();
        const char *needles[3] = {n1, n2, n3};
        for (int i = 0; i < 3; i++)
            CHECK_MSG(!needles[i] || strstr(m, needles[i]), "%s: message lacks \"%s\": %s", what,
                      needles[i], m);
        CHECK_MSG(plan.proj == NULL && plan.index == NULL && plan.k == NULL && plan.n_proj == 0,
                  "%s: failed plan not zeroed", what);
    }
    lf_plan_free(&plan);
}

static void test_rejections(void)
{
    int64_t k[8];
    expect_reject("k = 0", 2, 2, 64, k_all(4, 0), LF_SHARE_NONE, LF_PROJ_LINEAR, "k = 0",
                  "1..64", NULL);
    for (int i = 0; i < 4; i++) k[i] = 16;
    k[3] = 65;
    expect_reject("k > n", 2, 2, 64, k, LF_SHARE_NONE, LF_PROJ_GAUSSIAN, "k = 65",
                  "layer 1 head 1", "1..64");
    k[3] = -4;
    expect_reject("k < 0", 2, 2, 64, k, LF_SHARE_NONE, LF_PROJ_MEAN, "k = -4", NULL, NULL);
    expect_reject("conv k does not divide n", 1, 2, 100, k_all(2, 7), LF_SHARE_NONE,
                  LF_PROJ_CONV, "conv", "k = 7", "n = 100");
    /* pooling/conv projections cannot serve users with different k */
    const int64_t kh[4] = {64, 32, 64, 64}; /* layer 0 heads differ */
    expect_reject("mean headwise", 2, 2, 128, kh, LF_SHARE_HEADWISE, LF_PROJ_MEAN, "headwise",
                  "mean", "k = 32");
    expect_reject("max kv", 2, 2, 128, kh, LF_SHARE_KV, LF_PROJ_MAX, "kv", "max", "k = 64");
    const int64_t kl[4] = {32, 32, 16, 16}; /* per layer: only layerwise shares across */
    expect_reject("conv layerwise", 2, 2, 128, kl, LF_SHARE_LAYERWISE, LF_PROJ_CONV, "layerwise",
                  "conv", "k = 16");
    expect_reject("mean layerwise", 2, 2, 128, kl, LF_SHARE_LAYERWISE, LF_PROJ_MEAN, "layerwise",
                  "k = 32", "k = 16");
    expect_reject("layers = 0", 0, 2, 64, k_all(4, 8), LF_SHARE_NONE, LF_PROJ_LINEAR,
                  "layers = 0", NULL, NULL);
    expect_reject("heads = 0", 2, 0, 64, k_all(4, 8), LF_SHARE_NONE, LF_PROJ_LINEAR, "heads = 0",
                  NULL, NULL);
    expect_reject("n = 0", 2, 2, 0, k_all(4, 8), LF_SHARE_NONE, LF_PROJ_LINEAR, "n = 0", NULL,
                  NULL);
    expect_reject("bad sharing", 1, 1, 64, k_all(1, 8), 9, LF_PROJ_LINEAR, "sharing", NULL, NULL);
    expect_reject("bad kind", 1, 1, 64, k_all(1, 8), LF_SHARE_NONE, 9, "kind", NULL, NULL);
    expect_reject("NULL k", 1, 1, 64, NULL, LF_SHARE_NONE, LF_PROJ_LINEAR, "k", NULL, NULL);
    CHECK(lf_plan_init(NULL, 1, 1, 64, k_all(1, 8), LF_SHARE_NONE, LF_PROJ_LINEAR, 1) == -1);

    /* The same shapes are accepted where sharing does not mix k. */
    lf_plan plan;
    CHECK(lf_plan_init(&plan, 2, 2, 128, kh, LF_SHARE_NONE, LF_PROJ_MAX, 1) == 0);
    lf_plan_free(&plan);
    CHECK(lf_plan_init(&plan, 2, 2, 128, kh, LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 1) == 0);
    /* Lookups outside the plan fail with a message. */
    lf_error_clear();
    CHECK(lf_plan_get(&plan, 2, 0, 0) == NULL && strstr(lf_error_get(), "layer 2"));
    CHECK(lf_plan_get(&plan, 0, -1, 0) == NULL);
    CHECK(lf_plan_get(&plan, 0, 0, 2) == NULL && strstr(lf_error_get(), "which = 2"));
    CHECK(lf_plan_k(&plan, 0, 2) == -1);
    lf_plan_free(&plan);
    lf_plan_free(&plan); /* twice is harmless */
    lf_plan zero = {0};
    lf_plan_free(&zero);
    lf_plan_free(NULL);
    CHECK(lf_plan_get(&zero, 0, 0, 0) == NULL);
}

/* ---- initialisation ---------------------------------------------------------- */

static void moments(const float *w, size_t count, double *mean, double *var, double *lo,
                    double *hi)
{
    double s = 0, s2 = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        s += w[i];
        if (w[i] < *lo) *lo = w[i];
        if (w[i] > *hi) *hi = w[i];
    }
    *mean = s / (double)count;
    for (size_t i = 0; i < count; i++) s2 += (w[i] - *mean) * (w[i] - *mean);
    *var = s2 / (double)(count - 1);
}

static void test_init_distributions(void)
{
    /* All bounds are 5 standard errors of the statistic for N = 65536 draws: a
     * correct generator fails one with probability < 1e-6, while a wrong scale (k
     * of the wrong head, a missing sqrt, Xavier without the gain) is off by >= 25%,
     * i.e. dozens of standard errors. */
    const int64_t n = 1024, k = 64;
    const size_t N = (size_t)(k * n);
    double mean, var, lo, hi;
    lf_plan plan;
    if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, LF_PROJ_GAUSSIAN, 21) == 0) {
        for (int p = 0; p < 2; p++) {
            moments(plan.proj[p].weights, N, &mean, &var, &lo, &hi);
            double v = 1.0 / (double)k;
            /* se(mean) = sqrt(v / N); se(sample variance) = v sqrt(2 / (N - 1)) */
            CHECK_NEAR(mean, 0.0, 5 * sqrt(v / (double)N));
            CHECK_NEAR(var, v, 5 * v * sqrt(2.0 / (double)(N - 1)));
            /* Gaussian, not just the right variance: kurtosis 3 (se sqrt(24 / N) =
             * 0.019; a uniform has 1.8) */
            double m4 = 0;
            for (size_t i = 0; i < N; i++) m4 += pow(plan.proj[p].weights[i] - mean, 4);
            double kurt = m4 / (double)N / (var * var);
            CHECK_NEAR(kurt, 3.0, 5 * sqrt(24.0 / (double)N));
            if (p == 0) check_notef("gaussian k=64: var*k = %.4f, kurtosis %.3f", var * k, kurt);
        }
        CHECK(memcmp(plan.proj[0].weights, plan.proj[1].weights, N * sizeof(float)) != 0);
        lf_plan_free(&plan);
    } else {
        CHECK_MSG(0, "%s", lf_error_get());
    }
    /* Shared across k = 64 and k = 16: drawn with the projection's k (64). */
    const int64_t k2[2] = {64, 16};
    if (lf_plan_init(&plan, 2, 1, n, k2, LF_SHARE_LAYERWISE, LF_PROJ_GAUSSIAN, 22) == 0) {
        moments(plan.proj[0].weights, N, &mean, &var, &lo, &hi);
        CHECK_NEAR(var, 1.0 / 64, 5 * (1.0 / 64) * sqrt(2.0 / (double)(N - 1)));
        lf_plan_free(&plan);
    }

    /* Xavier-uniform with gain 1/sqrt(2): U(-b, b), b = sqrt(1/2) sqrt(6 / (k + n)). */
    if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_KV, LF_PROJ_LINEAR, 23) == 0) {
        double b = sqrt(0.5) * sqrt(6.0 / (double)(k + n));
        moments(plan.proj[0].weights, N, &mean, &var, &lo, &hi);
        CHECK(lo >= -(double)(float)b && hi <= (double)(float)b);
        /* P(no draw in the outer 1% on one side) = 0.995^65536 ~ 1e-143 */
        CHECK(lo < -0.99 * b && hi > 0.99 * b);
        /* var = b^2 / 3; se(mean) = b / sqrt(3 N); Var(X^2) = 4 b^4 / 45 */
        CHECK_NEAR(mean, 0.0, 5 * b / sqrt(3.0 * (double)N));
        CHECK_NEAR(var, b * b / 3, 5 * b * b * sqrt(4.0 / 45.0 / (double)N));
        lf_plan_free(&plan);
    } else {
        CHECK_MSG(0, "%s", lf_error_get());
    }

    /* conv starts as mean pooling; pooling has no parameters */
    if (lf_plan_init(&plan, 1, 1, 96, k_all(1, 12), LF_SHARE_NONE, LF_PROJ_CONV, 1) == 0) {
        CHECK(plan.proj[0].window == 8 && plan.proj[1].window == 8);
        int off = 0;
        for (int t = 0; t < 8; t++) off += plan.proj[1].weights[t] != 0.125f;
        CHECK(off == 0);
        lf_plan_free(&plan);
    }
    for (int kind = LF_PROJ_MEAN; kind <= LF_PROJ_MAX; kind++) {
        if (lf_plan_init(&plan, 1, 2, 96, k_all(2, 12), LF_SHARE_HEADWISE, (lf_proj_kind)kind,
                         1) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        CHECK(plan.proj[0].weights == NULL && plan.proj[0].window == 0);
        CHECK(lf_plan_param_count(&plan) == 0);
        lf_plan_free(&plan);
    }
}

static int plans_equal(const lf_plan *a, const lf_plan *b)
{
    if (a->n_proj != b->n_proj) return 0;
    for (int p = 0; p < a->n_proj; p++)
        if (memcmp(a->proj[p].weights, b->proj[p].weights,
                   (size_t)(a->proj[p].k * a->proj[p].n) * sizeof(float)) != 0)
            return 0;
    return 1;
}

static void test_determinism(void)
{
    lf_plan a, b, c;
    const int64_t n = 64, k = 16;
    for (int kind = LF_PROJ_LINEAR; kind <= LF_PROJ_GAUSSIAN; kind++) {
        lf_threads_set(1);
        int ra = lf_plan_init(&a, 3, 2, n, k_all(6, k), LF_SHARE_NONE, (lf_proj_kind)kind, 7);
        lf_threads_set(4);
        int rb = lf_plan_init(&b, 3, 2, n, k_all(6, k), LF_SHARE_NONE, (lf_proj_kind)kind, 7);
        int rc = lf_plan_init(&c, 3, 2, n, k_all(6, k), LF_SHARE_NONE, (lf_proj_kind)kind, 8);
        lf_threads_set(0);
        CHECK(ra == 0 && rb == 0 && rc == 0);
        if (ra || rb || rc) continue;
        /* same seed: bit-identical whatever the thread count */
        CHECK(plans_equal(&a, &b));
        /* another seed: every projection differs */
        int same = 0;
        for (int p = 0; p < a.n_proj; p++)
            same += memcmp(a.proj[p].weights, c.proj[p].weights,
                           (size_t)(k * n) * sizeof(float)) == 0;
        CHECK(same == 0);
        /* the contract: projection p is drawn from stream p of the seed */
        if (kind == LF_PROJ_GAUSSIAN) {
            float *w = malloc(sizeof(float) * k * n);
            lf_rng r;
            lf_rng_init(&r, 7, 5);
            lf_rng_fill_normal(&r, w, (size_t)(k * n), 0.0, 1.0 / sqrt((double)k));
            CHECK(memcmp(w, a.proj[5].weights, (size_t)(k * n) * sizeof(float)) == 0);
            free(w);
        }
        lf_plan_free(&a), lf_plan_free(&b), lf_plan_free(&c);
    }
}

static void test_param_count(void)
{
    lf_plan plan;
    struct {
        int sharing, kind;
        int64_t n, k;
        size_t expect;
    } cases[] = {
        {LF_SHARE_NONE, LF_PROJ_LINEAR, 64, 16, 24 * 16 * 64},
        {LF_SHARE_HEADWISE, LF_PROJ_GAUSSIAN, 64, 16, 6 * 16 * 64},
        {LF_SHARE_KV, LF_PROJ_LINEAR, 64, 16, 3 * 16 * 64},
        {LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 64, 16, 16 * 64},
        {LF_SHARE_NONE, LF_PROJ_CONV, 64, 16, 24 * 4},
        {LF_SHARE_KV, LF_PROJ_CONV, 64, 8, 3 * 8},
        {LF_SHARE_NONE, LF_PROJ_MEAN, 64, 16, 0},
        {LF_SHARE_LAYERWISE, LF_PROJ_MAX, 64, 16, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (lf_plan_init(&plan, 3, 4, cases[i].n, k_all(12, cases[i].k),
                         (lf_sharing)cases[i].sharing, (lf_proj_kind)cases[i].kind, 1) != 0) {
            CHECK_MSG(0, "case %zu: %s", i, lf_error_get());
            continue;
        }
        CHECK_MSG(lf_plan_param_count(&plan) == cases[i].expect, "case %zu: %zu, expected %zu", i,
                  lf_plan_param_count(&plan), cases[i].expect);
        lf_plan_free(&plan);
    }
    /* nonuniform layerwise: one k_max x n matrix */
    const int64_t kl[3] = {40, 20, 10};
    if (lf_plan_init(&plan, 3, 1, 64, kl, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1) == 0) {
        CHECK(lf_plan_param_count(&plan) == 40 * 64);
        lf_plan_free(&plan);
    }
    CHECK(lf_plan_param_count(NULL) == 0);
}

/* ---- apply ------------------------------------------------------------------- */

static void test_apply_matrix(void)
{
    /* Odd d catches vector-tail bugs; n_use < n checks lda = n with a column prefix. */
    const int64_t n = 200, k = 24, d = 19;
    float *x = malloc(sizeof(float) * n * d), *out = malloc(sizeof(float) * k * d);
    double *ref = malloc(sizeof(double) * k * d), *abs_ = malloc(sizeof(double) * k * d);
    uint8_t valid[24];
    fill_uniform(x, (size_t)(n * d), 1);
    for (int kind = LF_PROJ_LINEAR; kind <= LF_PROJ_GAUSSIAN; kind++) {
        lf_plan plan;
        if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_KV, (lf_proj_kind)kind, 4) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        const lf_proj *p = &plan.proj[0];
        const int64_t kus[3] = {24, 7, 1}, nus[3] = {200, 133, 1};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                int64_t ku = kus[a], nu = nus[b];
                memset(valid, 7, sizeof valid);
                if (lf_proj_apply(p, ku, x, nu, d, NULL, out, valid) != 0) {
                    CHECK_MSG(0, "%s", lf_error_get());
                    continue;
                }
                double scale = kind == LF_PROJ_GAUSSIAN ? sqrt((double)k / (double)ku) : 1.0;
                ref_dense_f(p->weights, n, ku, nu, scale, x, d, NULL, ref, abs_);
                char what[64];
                snprintf(what, sizeof what, "%s k_use=%lld n_use=%lld",
                         lf_proj_kind_name((lf_proj_kind)kind), (long long)ku, (long long)nu);
                CHECK_BOUND(what, out, ref, abs_, (size_t)(ku * d), nu);
                int bad = 0;
                for (int64_t j = 0; j < ku; j++) bad += valid[j] != 1;
                CHECK(bad == 0);
                CHECK(valid[ku < 24 ? ku : 23] == (ku < 24 ? 7 : 1)); /* nothing past k_use */
            }
        lf_plan_free(&plan);
    }
    free(x), free(out), free(ref), free(abs_);
}

static void test_apply_pooling(void)
{
    /* n = 100, k = 7: windows of 14 and 15 positions (the floor bounds matter);
     * also k = n (identity) and k = 1 (global). */
    const int64_t n = 100, d = 19;
    float *x = malloc(sizeof(float) * n * d), *out = malloc(sizeof(float) * n * d),
          *mx = malloc(sizeof(float) * n * d);
    double *ref = malloc(sizeof(double) * n * d), *abs_ = malloc(sizeof(double) * n * d);
    uint8_t valid[100], want[100];
    fill_uniform(x, (size_t)(n * d), 2);
    const int64_t ks[3] = {7, 100, 1};
    for (int a = 0; a < 3; a++) {
        int64_t k = ks[a];
        lf_plan plan;
        for (int kind = LF_PROJ_MEAN; kind <= LF_PROJ_MAX; kind++) {
            if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, (lf_proj_kind)kind,
                             1) != 0) {
                CHECK_MSG(0, "%s", lf_error_get());
                continue;
            }
            CHECK(lf_proj_apply(&plan.proj[0], k, x, n, d, NULL, out, valid) == 0);
            char what[64];
            snprintf(what, sizeof what, "%s k=%lld", lf_proj_kind_name((lf_proj_kind)kind),
                     (long long)k);
            if (kind == LF_PROJ_MEAN) {
                double *A = mean_matrix(k, n, n, NULL);
                ref_dense_d(A, k, n, x, d, ref, abs_);
                free(A);
                /* a float sum of <= 100 terms and one multiply by 1/count */
                CHECK_BOUND(what, out, ref, abs_, (size_t)(k * d), n);
            } else {
                ref_max(x, k, n, n, d, NULL, mx, want);
                /* exact: max selects one of the inputs (atol 1e-30 only avoids 0/0) */
                CHECK_ARRAYS(what, out, mx, (size_t)(k * d), 1e-30, 0);
            }
            CHECK(memchr(valid, 0, (size_t)k) == NULL);
            lf_plan_free(&plan);
        }
    }
    /* conv, with weights made unequal so that the kernel index t matters */
    const int64_t nc = 96, kc = 12;
    lf_plan plan;
    if (lf_plan_init(&plan, 1, 1, nc, k_all(1, kc), LF_SHARE_NONE, LF_PROJ_CONV, 1) == 0) {
        lf_proj *p = &plan.proj[0];
        for (int t = 0; t < 8; t++) p->weights[t] = (float)(0.5 - 0.3 * t);
        CHECK(lf_proj_apply(p, kc, x, nc, d, NULL, out, valid) == 0);
        double *A = conv_matrix(p->weights, kc, nc, nc, NULL);
        ref_dense_d(A, kc, nc, x, d, ref, abs_);
        free(A);
        CHECK_BOUND("conv", out, ref, abs_, (size_t)(kc * d), 8);
        CHECK(memchr(valid, 0, (size_t)kc) == NULL);
        lf_plan_free(&plan);
    }
    free(x), free(out), free(mx), free(ref), free(abs_);
}

/* Window-by-window reference for mean/max/conv with windows of n/k (k | n): each
 * position i belongs to slot ceil((i+1) k/n) - 1. sum/abs_ for mean and conv, mx
 * for max; want = slot saw a real token. */
static void ref_windows(int kind, const float *w, const float *x, int64_t n, int64_t k,
                        int64_t d, const uint8_t *mask, double *sum, double *abs_, float *mx,
                        uint8_t *want)
{
    int *cnt = calloc((size_t)k, sizeof *cnt);
    memset(sum, 0, sizeof(double) * k * d);
    memset(abs_, 0, sizeof(double) * k * d);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = ((i + 1) * k + n - 1) / n - 1;
        if (!mask[i]) continue;
        double wi = kind == LF_PROJ_CONV ? w[i % (n / k)] : 1.0;
        for (int64_t c = 0; c < d; c++) {
            float v = x[i * d + c];
            if (kind == LF_PROJ_MAX && (cnt[j] == 0 || v > mx[j * d + c])) mx[j * d + c] = v;
            sum[j * d + c] += wi * v;
            abs_[j * d + c] += fabs(wi * v);
        }
        cnt[j]++;
    }
    for (int64_t j = 0; j < k; j++) {
        want[j] = cnt[j] > 0;
        for (int64_t c = 0; c < d; c++) {
            if (kind == LF_PROJ_MEAN && cnt[j]) {
                sum[j * d + c] /= cnt[j];
                abs_[j * d + c] /= cnt[j];
            }
            if (kind == LF_PROJ_MAX && !cnt[j]) mx[j * d + c] = 0;
        }
    }
    free(cnt);
}

/* Realistic sizes (n = 4096, k = 256, d = 64, windows of 16) with padding between
 * and after the tokens, against the naive product or the window-by-window
 * reference, and bit-identical for 1 and 2 threads (the product is large enough for
 * lf_sgemm to split it into panels). */
/* lf_plan_init_pooling: every matrix of a linear plan (headwise sharing, k = 7 of n =
 * 100: windows of 14 and 15) becomes the test's own mean-pooling matrix rounded to
 * float, exactly; plans of other kinds are refused. */
static void test_init_pooling(void)
{
    const int64_t n = 100, k = 7;
    lf_plan plan;
    if (lf_plan_init(&plan, 2, 3, n, k_all(6, k), LF_SHARE_HEADWISE, LF_PROJ_LINEAR, 4) != 0) {
        CHECK_MSG(0, "%s", lf_error_get());
        return;
    }
    CHECK(lf_plan_init_pooling(&plan) == 0);
    double *A = mean_matrix(k, n, n, NULL);
    int exact = 1;
    for (int p = 0; p < plan.n_proj; p++)
        for (int64_t i = 0; i < k * n; i++) exact &= plan.proj[p].weights[i] == (float)A[i];
    CHECK_MSG(exact, "pooling-initialised weights differ from the mean-pooling matrix");
    CHECK(plan.n_proj == 4);
    free(A);
    lf_plan_free(&plan);
    if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, LF_PROJ_GAUSSIAN, 4) == 0) {
        CHECK(lf_plan_init_pooling(&plan) != 0 && strstr(lf_error_get(), "gaussian"));
        lf_plan_free(&plan);
    }
}

static void test_apply_large(void)
{
    const int64_t n = 4096, k = 256, d = 64;
    float *x = malloc(sizeof(float) * n * d), *out = malloc(sizeof(float) * k * d),
          *out1 = malloc(sizeof(float) * k * d), *mx = malloc(sizeof(float) * k * d);
    double *sum = malloc(sizeof(double) * k * d), *abs_ = malloc(sizeof(double) * k * d);
    uint8_t *mask = malloc((size_t)n), valid[256], valid1[256], want[256];
    for (int64_t i = 0; i < n; i++) mask[i] = (i / 16) % 5 != 2 && i % 3 != 0 && i < 4000;
    fill_uniform(x, (size_t)(n * d), 6);
    for (int kind = LF_PROJ_LINEAR; kind <= LF_PROJ_CONV; kind++) {
        lf_plan plan;
        if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, (lf_proj_kind)kind, 1) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        const lf_proj *p = &plan.proj[0];
        const char *name = lf_proj_kind_name((lf_proj_kind)kind);
        int matrix = kind <= LF_PROJ_GAUSSIAN;
        if (matrix) {
            ref_dense_f(p->weights, n, k, n, 1.0, x, d, mask, sum, abs_);
            memset(want, 1, sizeof want);
        } else {
            ref_windows(kind, p->weights, x, n, k, d, mask, sum, abs_, mx, want);
        }
        lf_threads_set(1);
        int r1 = lf_proj_apply(p, k, x, n, d, mask, out1, valid1);
        lf_threads_set(2);
        int r2 = lf_proj_apply(p, k, x, n, d, mask, out, valid);
        lf_threads_set(0);
        CHECK(r1 == 0 && r2 == 0);
        CHECK_MSG(memcmp(out, out1, sizeof(float) * k * d) == 0, "%s: 1 and 2 threads differ",
                  name);
        CHECK(memcmp(valid, want, (size_t)k) == 0 && memcmp(valid1, want, (size_t)k) == 0);
        if (kind == LF_PROJ_MAX)
            CHECK_ARRAYS(name, out, mx, (size_t)(k * d), 1e-30, 0); /* exact */
        else
            CHECK_BOUND(name, out, sum, abs_, (size_t)(k * d), matrix ? n : n / k);
        lf_plan_free(&plan);
    }
    free(x), free(out), free(out1), free(mx), free(sum), free(abs_), free(mask);
}

/* Garbage for padded rows: a padded row that leaks shows up as huge, Inf or NaN. */
static void poison_rows(float *x, int64_t n, int64_t d, const uint8_t *mask)
{
    const float junk[4] = {1e30f, -1e30f, NAN, INFINITY};
    for (int64_t i = 0; i < n; i++)
        if (!mask[i])
            for (int64_t c = 0; c < d; c++) x[i * d + c] = junk[(i + c) % 4];
}

static void test_masking(void)
{
    const int64_t n = 96, k = 12, d = 19; /* window 8 for every kind */
    float *x = malloc(sizeof(float) * n * d), *x0 = malloc(sizeof(float) * n * d),
          *out = malloc(sizeof(float) * k * d), *out2 = malloc(sizeof(float) * k * d),
          *mx = malloc(sizeof(float) * k * d);
    double *ref = malloc(sizeof(double) * k * d), *abs_ = malloc(sizeof(double) * k * d);
    uint8_t mask[96], valid[12], valid2[12], want[12];
    /* Real tokens 0..59 except 8..23 (windows 1 and 2 fully padded) and every i with
     * i % 7 == 3 (scattered); 60..95 padded (windows 8..11 fully, window 7 partly). */
    for (int64_t i = 0; i < n; i++) mask[i] = i < 60 && !(i >= 8 && i < 24) && i % 7 != 3;
    fill_uniform(x, (size_t)(n * d), 3);
    poison_rows(x, n, d, mask);
    memcpy(x0, x, sizeof(float) * n * d);

    for (int kind = LF_PROJ_LINEAR; kind <= LF_PROJ_CONV; kind++) {
        lf_plan plan;
        if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, (lf_proj_kind)kind, 9) != 0) {
            CHECK_MSG(0, "%s", lf_error_get());
            continue;
        }
        lf_proj *p = &plan.proj[0];
        const char *name = lf_proj_kind_name((lf_proj_kind)kind);
        if (kind == LF_PROJ_CONV)
            for (int t = 0; t < 8; t++) p->weights[t] = (float)(1.0 + 0.25 * t);
        memset(valid, 7, sizeof valid);
        if (lf_proj_apply(p, k, x, n, d, mask, out, valid) != 0) {
            CHECK_MSG(0, "%s: %s", name, lf_error_get());
            lf_plan_free(&plan);
            continue;
        }
        CHECK_MSG(memcmp(x, x0, sizeof(float) * n * d) == 0, "%s modified x", name);
        for (int64_t j = 0; j < k; j++) {
            want[j] = 0;
            for (int64_t i = 0; i < n; i++) want[j] |= mask[i] && in_window(i, j, n, k);
            if (kind <= LF_PROJ_GAUSSIAN) want[j] = 1; /* every slot sees every token */
        }
        CHECK_MSG(memcmp(valid, want, (size_t)k) == 0, "%s: slot_valid wrong", name);
        CHECK(want[1] == (kind <= LF_PROJ_GAUSSIAN) && want[7] == 1 && want[8] == want[1]);
        if (kind == LF_PROJ_MAX) {
            ref_max(x, k, n, n, d, mask, mx, want);
            CHECK_ARRAYS(name, out, mx, (size_t)(k * d), 1e-30, 0); /* exact, as above */
        } else {
            if (kind <= LF_PROJ_GAUSSIAN) {
                ref_dense_f(p->weights, n, k, n, 1.0, x, d, mask, ref, abs_);
            } else {
                double *A = kind == LF_PROJ_MEAN ? mean_matrix(k, n, n, mask)
                                                 : conv_matrix(p->weights, k, n, n, mask);
                ref_dense_d(A, k, n, x, d, ref, abs_);
                free(A);
            }
            CHECK_BOUND(name, out, ref, abs_, (size_t)(k * d), n);
        }
        /* slots that saw no token are zero rows */
        int nonzero = 0;
        for (int64_t j = 0; j < k; j++)
            if (!valid[j])
                for (int64_t c = 0; c < d; c++) nonzero += out[j * d + c] != 0.0f;
        CHECK(nonzero == 0);

        /* Padding at the end == the unpadded run on the real tokens (n_use = m):
         * exactly, because trailing padding must not change the arithmetic at all. */
        const int64_t m = 53; /* window 6 (48..55) partial, 7..11 beyond */
        uint8_t tail[96];
        for (int64_t i = 0; i < n; i++) tail[i] = i < m;
        float *xt = malloc(sizeof(float) * n * d);
        fill_uniform(xt, (size_t)(n * d), 4);
        poison_rows(xt, n, d, tail);
        CHECK(lf_proj_apply(p, k, xt, n, d, tail, out, valid) == 0);
        CHECK(lf_proj_apply(p, k, xt, m, d, NULL, out2, valid2) == 0);
        CHECK_MSG(memcmp(out, out2, sizeof(float) * k * d) == 0,
                  "%s: padded run differs from the unpadded one", name);
        CHECK(memcmp(valid, valid2, (size_t)k) == 0);
        for (int64_t j = 0; j < k; j++)
            CHECK(valid2[j] == (kind <= LF_PROJ_GAUSSIAN ? 1 : j <= 6));
        if (kind == LF_PROJ_MEAN) { /* and both equal the definition */
            double *A = mean_matrix(k, n, m, NULL);
            ref_dense_d(A, k, n, xt, d, ref, abs_);
            free(A);
            CHECK_BOUND("mean n_use=53", out2, ref, abs_, (size_t)(k * d), n);
        }

        /* nothing real at all: zero rows, no valid slot */
        uint8_t none[96] = {0};
        poison_rows(xt, n, d, none);
        memset(valid, 7, sizeof valid);
        CHECK(lf_proj_apply(p, k, xt, n, d, none, out, valid) == 0);
        int nz = 0, nv = 0;
        for (int64_t i = 0; i < k * d; i++) nz += out[i] != 0.0f;
        for (int64_t j = 0; j < k; j++) nv += valid[j] != 0;
        CHECK_MSG(nz == 0 && nv == 0, "%s, all padded: %d nonzero values, %d valid slots", name,
                  nz, nv);
        free(xt);
        lf_plan_free(&plan);
    }
    free(x), free(x0), free(out), free(out2), free(mx), free(ref), free(abs_);
}

static void test_apply_errors(void)
{
    lf_plan plan;
    const int64_t n = 128, k = 32, d = 4;
    float x[128 * 4], out[32 * 4];
    fill_uniform(x, sizeof x / sizeof x[0], 5);
    if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, LF_PROJ_GAUSSIAN, 1) != 0) {
        CHECK_MSG(0, "%s", lf_error_get());
        return;
    }
    const lf_proj *p = &plan.proj[0];
    struct {
        int64_t k_use, n_use, d;
        const char *needle;
    } bad[] = {
        {0, n, d, "k_use = 0"},    {33, n, d, "k_use = 33"}, {-1, n, d, "1..32"},
        {k, 0, d, "n_use = 0"},    {k, 129, d, "1..128"},    {k, n, 0, "d = 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lf_error_clear();
        CHECK_MSG(lf_proj_apply(p, bad[i].k_use, x, bad[i].n_use, bad[i].d, NULL, out, NULL) == -1,
                  "case %zu accepted", i);
        CHECK_MSG(strstr(lf_error_get(), bad[i].needle) != NULL, "case %zu: %s", i, lf_error_get());
    }
    CHECK(lf_proj_apply(p, k, NULL, n, d, NULL, out, NULL) == -1);
    CHECK(lf_proj_apply(p, k, x, n, d, NULL, NULL, NULL) == -1);
    CHECK(lf_proj_apply(NULL, k, x, n, d, NULL, out, NULL) == -1);
    lf_plan_free(&plan);
    /* pooling and conv have no row prefix */
    for (int kind = LF_PROJ_MEAN; kind <= LF_PROJ_CONV; kind++) {
        if (lf_plan_init(&plan, 1, 1, n, k_all(1, k), LF_SHARE_NONE, (lf_proj_kind)kind, 1) != 0)
            continue;
        lf_error_clear();
        CHECK(lf_proj_apply(&plan.proj[0], 16, x, n, d, NULL, out, NULL) == -1);
        CHECK_MSG(strstr(lf_error_get(), "k_use = 16") &&
                      strstr(lf_error_get(), lf_proj_kind_name((lf_proj_kind)kind)),
                  "%s", lf_error_get());
        CHECK(lf_proj_apply(&plan.proj[0], k, x, 100, d, NULL, out, NULL) == 0); /* n_use < n ok */
        lf_plan_free(&plan);
    }
}

int main(void)
{
    check_program = "test_projection";
    RUN(test_names);
    RUN(test_counts_12x12);
    RUN(test_nonuniform_k);
    RUN(test_rejections);
    RUN(test_init_distributions);
    RUN(test_determinism);
    RUN(test_param_count);
    RUN(test_apply_matrix);
    RUN(test_apply_pooling);
    RUN(test_init_pooling);
    RUN(test_apply_large);
    RUN(test_masking);
    RUN(test_apply_errors);
    return check_summary();
}
