/* lowrank_study.c - the study behind bin/lowrank (see lowrank_study.h): sequences,
 * plans, the dense and substituted forward passes, and the results file. */
#include "lowrank_study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ablation.h"
#include "encoder.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "parallel.h"
#include "plan_io.h"
#include "progress.h"
#include "spectrum_stats.h"
#include "substitute.h"
#include "tokenizer.h"

/* Token ids of F + S sequences: [CLS] + n - 2 corpus tokens + [SEP]. */
static int32_t *make_sequences(const lf_lowrank_opts *a, const lf_tokenizer *tok, int64_t S)
{
    const int64_t n = a->seq_len;
    int32_t *seqs = NULL;
    int64_t avail = 0;
    if (lf_tokenizer_sequences(tok, a->corpus, S, n, &seqs, &avail) != 0) return NULL;
    if (!seqs)
        lf_error_set("%s: the corpus is long enough for %lld sequences of %lld, not the "
                     "%lld asked for (--fit-sequences + --sequences)",
                     a->corpus, (long long)avail, (long long)n, (long long)S);
    return seqs;
}

/* ---- step 1: training sequences --------------------------------------------- */

typedef struct {
    int64_t L, H, n, D, done; /* sequences stored so far */
    float *q, *k, *v;         /* [F, L, H, n, D] */
    lf_spectrum_stats *stats; /* or NULL */
} train_ctx;

static int keep_train(void *user, lf_encoder_attn *a)
{
    train_ctx *t = user;
    const size_t head = (size_t)(t->n * t->D);
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++) {
            size_t off = (size_t)(((t->done + b) * t->L + a->layer) * t->H + h) * head;
            memcpy(t->q + off, lf_encoder_attn_head(a, a->q, b, h), head * sizeof(float));
            memcpy(t->k + off, lf_encoder_attn_head(a, a->k, b, h), head * sizeof(float));
            memcpy(t->v + off, lf_encoder_attn_head(a, a->v, b, h), head * sizeof(float));
        }
    if (t->stats && lf_spectrum_stats_add(t->stats, a->layer, a->probs, a->B, a->probs_seq_stride) != 0)
        return -1;
    if (a->layer == a->num_layers - 1) t->done += a->B;
    return 0;
}

/* ---- the plans ---------------------------------------------------------------- */

/* Every distinct plan and where each result slot takes its numbers from. */
typedef struct {
    int nuniq;
    lf_plan *uniq;       /* [nuniq] (zeroed entries: not applicable) */
    int *valid;          /* [nuniq] */
    double *train_loss;  /* [nuniq] */
    int *grid;           /* [np, ns, nk] -> unique index */
    int *nonuni;         /* [np, ns, 2] -> unique index or -1 */
    int64_t *k_layer;    /* [L] nonuniform k */
    int64_t k_uniform;
    double threshold;
} plan_set;

static int add_plan(plan_set *ps, const lf_lowrank_opts *a, lf_ab_kind kind, lf_sharing sh, int L, int H,
                    const int64_t *k, const lf_fit_data *train, const char *label)
{
    int u = ps->nuniq++;
    /* Parameter-free pooling has no sharing: build it unshared, whatever mode comes
     * first (a layerwise pooling plan could not serve layers of different k). */
    if (!lf_ab_kind_sharing_applies(kind)) sh = LF_SHARE_NONE;
    lf_ab_fit_opts fo = {(int)a->fit_steps, a->fit_lr, a->conv_lr, 0.1};
    double t0 = lf_now();
    if (lf_ab_plan_make(&ps->uniq[u], kind, L, H, a->seq_len, k, sh, a->seed, train, &fo,
                        &ps->train_loss[u]) != 0) {
        return -1;
    }
    ps->valid[u] = 1;
    if (lf_ab_kind_is_fitted(kind))
        fprintf(stderr, "lowrank: fitted %s, sharing %s, %s: training loss %.4g (relative error %.4f) "
                        "in %.1f s\n",
                lf_ab_kind_name(kind), lf_sharing_name(sh), label, ps->train_loss[u],
                sqrt(ps->train_loss[u]), lf_now() - t0);
    return u;
}

static int make_plans(plan_set *ps, const lf_lowrank_opts *a, int L, int H, const lf_fit_data *train,
                      const int64_t *k_layer, int nonuniform)
{
    const int slots = a->np * a->ns * a->nk + (nonuniform ? a->np * a->ns * 2 : 0);
    ps->uniq = lf_calloc((size_t)slots, sizeof(lf_plan));
    ps->valid = lf_calloc((size_t)slots, sizeof(int));
    ps->train_loss = lf_alloc((size_t)slots, sizeof(double));
    ps->grid = lf_alloc((size_t)(a->np * a->ns * a->nk), sizeof(int));
    ps->nonuni = lf_alloc((size_t)(a->np * a->ns * 2 + 1), sizeof(int));
    int64_t *k = lf_alloc((size_t)(L * H), sizeof(int64_t));
    if (!ps->uniq || !ps->valid || !ps->train_loss || !ps->grid || !ps->nonuni || !k) {
        lf_free(k);
        LF_FAIL("lowrank: out of memory for %d plans", slots);
    }
    char label[64];
    for (int p = 0; p < a->np; p++)
        for (int s = 0; s < a->ns; s++)
            for (int ki = 0; ki < a->nk; ki++) {
                int *slot = &ps->grid[(p * a->ns + s) * a->nk + ki];
                if (!lf_ab_kind_sharing_applies(a->kind[p]) && s > 0) {
                    *slot = ps->grid[(p * a->ns + 0) * a->nk + ki]; /* the same projection */
                    continue;
                }
                for (int i = 0; i < L * H; i++) k[i] = a->ks[ki];
                snprintf(label, sizeof label, "k %lld", (long long)a->ks[ki]);
                if ((*slot = add_plan(ps, a, a->kind[p], a->sh[s], L, H, k, train, label)) < 0) {
                    lf_free(k);
                    return -1;
                }
            }
    for (int p = 0; nonuniform && p < a->np; p++)
        for (int s = 0; s < a->ns; s++)
            for (int var = 0; var < 2; var++) {
                int *slot = &ps->nonuni[(p * a->ns + s) * 2 + var];
                if (!lf_ab_kind_sharing_applies(a->kind[p]) && s > 0) {
                    *slot = ps->nonuni[(p * a->ns + 0) * 2 + var];
                    continue;
                }
                for (int l = 0; l < L; l++)
                    for (int h = 0; h < H; h++) k[l * H + h] = var == 0 ? k_layer[l] : ps->k_uniform;
                snprintf(label, sizeof label, "%s k", var == 0 ? "nonuniform" : "uniform");
                *slot = add_plan(ps, a, a->kind[p], a->sh[s], L, H, k, train, label);
                if (*slot < 0) {
                    /* Combinations a plan cannot express (pooling/conv shared across layers
                     * of different k, conv with k not dividing n): no numbers (NaN). */
                    fprintf(stderr, "lowrank: note: %s with sharing %s and %s k is skipped: %s\n",
                            lf_ab_kind_name(a->kind[p]), lf_sharing_name(a->sh[s]),
                            var == 0 ? "nonuniform" : "uniform", lf_error_get());
                    ps->valid[ps->nuniq - 1] = 0;
                    ps->train_loss[ps->nuniq - 1] = NAN;
                }
                *slot = ps->nuniq - 1;
            }
    lf_free(k);
    return 0;
}

static void free_plans(plan_set *ps)
{
    for (int u = 0; ps->uniq && u < ps->nuniq; u++) lf_plan_free(&ps->uniq[u]);
    lf_free(ps->uniq), lf_free(ps->valid), lf_free(ps->train_loss), lf_free(ps->grid);
    lf_free(ps->nonuni);
}

/* ---- results -------------------------------------------------------------------- */

typedef struct results results;
static int write_summary(lf_h5 *f, const results *r, const double *grid_mean);

struct results {
    const lf_lowrank_opts *a;
    int L, H, F;
    const plan_set *ps;
    const lf_ablation *ab;
    const double *e2e_change, *e2e_cos; /* [nuniq, S] */
    int nonuniform;
    const int32_t *ids;
};

/* Means over layers and heads (for figures and quick reading): /lowrank/summary/. */
static int write_summary(lf_h5 *f, const results *r, const double *grid_mean)
{
    const lf_lowrank_opts *a = r->a;
    const int64_t K = a->nk, P = a->np, S = a->ns, LH = (int64_t)r->L * r->H;
    double *v = lf_alloc((size_t)(P * S * K + 1), sizeof(double));
    double *tmp = lf_alloc((size_t)(K * LH + 1), sizeof(double));
    int rc = v && tmp ? 0 : -1;
    for (int64_t g = 0; rc == 0 && g < P * S * K; g++) {
        double sum = 0;
        for (int64_t i = 0; i < LH; i++) sum += grid_mean[g * LH + i];
        v[g] = sum / (double)LH;
    }
    int64_t d3[3] = {P, S, K};
    const char *n3[3] = {"/lowrank/projection", "/lowrank/sharing", "/lowrank/k"};
    if (rc == 0) {
        rc |= lf_h5_write(f, "/lowrank/summary/output_error", LF_H5_F64, 3, d3, v,
                          "output_error averaged over layers and heads", "1");
        for (int d = 0; d < 3; d++) rc |= lf_h5_attach(f, "/lowrank/summary/output_error", d, n3[d]);
    }
    const lf_ab_stat *st[3] = {&r->ab->svd, &r->ab->jl, &r->ab->jl_out};
    const char *paths[3] = {"/lowrank/summary/svd_error", "/lowrank/summary/jl_error",
                            "/lowrank/summary/jl_output_error"};
    for (int i = 0; rc == 0 && i < 3 && K > 0; i++) {
        if (i > 0 && a->jl_trials == 0) break;
        lf_ab_stat_results(st[i], tmp, NULL);
        for (int64_t ki = 0; ki < K; ki++) {
            double sum = 0;
            for (int64_t j = 0; j < LH; j++) sum += tmp[ki * LH + j];
            v[ki] = sum / (double)LH;
        }
        rc |= lf_h5_write(f, paths[i], LF_H5_F64, 1, &K, v, "averaged over layers and heads", "1");
        rc |= lf_h5_attach(f, paths[i], 0, "/lowrank/k");
    }
    lf_free(v), lf_free(tmp);
    return rc ? -1 : 0;
}

static int write_results(const results *r)
{
    const lf_lowrank_opts *a = r->a;
    const int64_t L = r->L, H = r->H, K = a->nk, P = a->np, S = a->ns, LH = L * H, E = a->sequences;
    const plan_set *ps = r->ps;
    lf_h5 *f = lf_h5_create(a->out, "lowrank", a->force);
    if (!f) return -1;
    int rc = 0;
    rc |= lf_h5_config_string(f, "model", a->model);
    rc |= lf_h5_config_string(f, "corpus", a->corpus);
    rc |= lf_h5_config_int(f, "seq_len", a->seq_len);
    rc |= lf_h5_config_int(f, "sequences", a->sequences);
    rc |= lf_h5_config_int(f, "fit_sequences", a->fit_sequences);
    rc |= lf_h5_config_int(f, "fit_steps", a->fit_steps);
    rc |= lf_h5_config_double(f, "fit_lr", a->fit_lr);
    rc |= lf_h5_config_double(f, "conv_lr", a->conv_lr);
    rc |= lf_h5_config_int(f, "jl_trials", a->jl_trials);
    rc |= lf_h5_config_int(f, "batch", a->batch);
    rc |= lf_h5_config_string(f, "k", a->k_list);
    rc |= lf_h5_config_string(f, "sharing", a->sharing_list);
    rc |= lf_h5_config_string(f, "projection", a->proj_list);
    rc |= lf_h5_config_string(f, "nonuniform", a->nonuniform ? a->nonuniform : "");
    rc |= lf_h5_config_u64(f, "seed", a->seed);
    rc |= lf_h5_config_int(f, "threads", lf_threads_get());

    const char *pn[LF_AB_KINDS], *sn[4];
    int32_t applies[LF_AB_KINDS];
    for (int p = 0; p < P; p++) pn[p] = lf_ab_kind_name(a->kind[p]), applies[p] = lf_ab_kind_sharing_applies(a->kind[p]);
    for (int s = 0; s < S; s++) sn[s] = lf_sharing_name(a->sh[s]);
    int32_t *kv = lf_alloc((size_t)K, sizeof(int32_t));
    const size_t big = (size_t)(P * S * K * LH) + (size_t)(P * S * 2 * LH) + 1;
    double *m = lf_alloc(big, sizeof(double)), *sd = lf_alloc(big, sizeof(double));
    double *um = lf_alloc((size_t)(ps->nuniq * LH + 1), sizeof(double));
    double *us = lf_alloc((size_t)(ps->nuniq * LH + 1), sizeof(double));
    if (!kv || !m || !sd || !um || !us) {
        rc = -1;
        goto done;
    }
    for (int i = 0; i < K; i++) kv[i] = (int32_t)a->ks[i];
    rc |= lf_h5_scale(f, "/lowrank/k", LF_H5_I32, K, kv, "projected length k", NULL);
    rc |= lf_h5_scale_range(f, "/lowrank/layer", L, 0, "layer (0 = closest to the embeddings)");
    rc |= lf_h5_scale_range(f, "/lowrank/head", H, 0, "attention head");
    rc |= lf_h5_scale_strings(f, "/lowrank/projection", (int)P, pn, "projection kind");
    rc |= lf_h5_scale_strings(f, "/lowrank/sharing", (int)S, sn, "sharing mode of E and F");
    rc |= lf_h5_write(f, "/lowrank/sharing_applies", LF_H5_I32, 1, &P, applies,
                      "1 when the sharing mode changes the projection; 0 for the parameter-free mean "
                      "and max pooling, whose numbers are computed once and repeated under every "
                      "sharing mode", NULL);
    rc |= lf_h5_attach(f, "/lowrank/sharing_applies", 0, "/lowrank/projection");
    const char *d3[3] = {"/lowrank/k", "/lowrank/layer", "/lowrank/head"};
    int64_t dk[3] = {K, L, H};
    struct {
        const lf_ab_stat *st;
        const char *mean, *std, *dm, *ds;
    } kstats[3] = {
        {&r->ab->svd, "/lowrank/svd_error", NULL,
         "relative Frobenius error ||P - P_k||_F / ||P||_F of the best rank-k approximation of P "
         "(Eckart-Young), mean over the evaluation sequences", NULL},
        {&r->ab->jl, "/lowrank/jl_error", "/lowrank/jl_error_std",
         "Theorem 1: ||P R^T R - P||_F / ||P||_F for R [k, n] with N(0, 1/k) entries, mean over "
         "sequences and jl_trials draws",
         "sample standard deviation of jl_error over sequences and draws"},
        {&r->ab->jl_out, "/lowrank/jl_output_error", "/lowrank/jl_output_error_std",
         "Theorem 1 at the output: ||P R^T R V - P V||_F / ||P V||_F, mean over sequences and draws",
         "sample standard deviation of jl_output_error over sequences and draws"}};
    for (int i = 0; i < 3 && K > 0; i++) {
        if (i > 0 && a->jl_trials == 0) break;
        lf_ab_stat_results(kstats[i].st, m, sd);
        rc |= lf_h5_write(f, kstats[i].mean, LF_H5_F64, 3, dk, m, kstats[i].dm, "1");
        for (int d = 0; d < 3; d++) rc |= lf_h5_attach(f, kstats[i].mean, d, d3[d]);
        if (kstats[i].std) {
            rc |= lf_h5_write(f, kstats[i].std, LF_H5_F64, 3, dk, sd, kstats[i].ds, "1");
            for (int d = 0; d < 3; d++) rc |= lf_h5_attach(f, kstats[i].std, d, d3[d]);
        }
    }
    double *th = lf_alloc((size_t)K, sizeof(double));
    if (!th) {
        rc = -1;
        goto done;
    }
    for (int i = 0; i < K; i++) th[i] = sqrt((double)(a->seq_len + 1) / (double)a->ks[i]);
    rc |= lf_h5_write(f, "/lowrank/jl_expected", LF_H5_F64, 1, &K, th,
                      "closed form sqrt(E err^2) = sqrt((n + 1) / k) of jl_error (core/lowrank.h)", "1");
    rc |= lf_h5_attach(f, "/lowrank/jl_expected", 0, "/lowrank/k");
    lf_free(th);

    /* Output errors per unique plan, then expanded onto the grid. */
    lf_ab_stat_results(&r->ab->out, um, us);
    for (int64_t g = 0; g < P * S * K; g++) {
        int u = ps->grid[g];
        memcpy(m + g * LH, um + u * LH, (size_t)LH * sizeof(double));
        memcpy(sd + g * LH, us + u * LH, (size_t)LH * sizeof(double));
    }
    int64_t d5[5] = {P, S, K, L, H};
    const char *n5[5] = {"/lowrank/projection", "/lowrank/sharing", "/lowrank/k", "/lowrank/layer",
                         "/lowrank/head"};
    rc |= lf_h5_write(f, "/lowrank/output_error", LF_H5_F64, 5, d5, m,
                      "||P V - softmax(Q (E K)^T / sqrt d) F V||_F / ||P V||_F per head, mean over the "
                      "held-out evaluation sequences", "1");
    rc |= lf_h5_write(f, "/lowrank/output_error_std", LF_H5_F64, 5, d5, sd,
                      "sample standard deviation of output_error over the evaluation sequences", "1");
    for (int d = 0; d < 5; d++) {
        rc |= lf_h5_attach(f, "/lowrank/output_error", d, n5[d]);
        rc |= lf_h5_attach(f, "/lowrank/output_error_std", d, n5[d]);
    }
    rc |= lf_h5_attr_string(f, "/lowrank/output_error", "projections", a->proj_list);
    rc |= write_summary(f, r, m);
    rc |= lf_h5_attr_string(f, "/lowrank/output_error", "sharings", a->sharing_list);

    /* Fit losses and end to end, [P, S, K]. */
    double *fl = lf_alloc((size_t)(P * S * K * 4 + 1), sizeof(double));
    if (!fl) {
        rc = -1;
        goto done;
    }
    double *ch = fl + P * S * K, *co = ch + P * S * K, *cmin = co + P * S * K;
    for (int64_t g = 0; g < P * S * K; g++) {
        int u = ps->grid[g];
        fl[g] = ps->train_loss[u];
        double sc = 0, so = 0, mn = INFINITY;
        for (int64_t e = 0; e < E; e++) {
            sc += r->e2e_change[u * E + e], so += r->e2e_cos[u * E + e];
            if (r->e2e_cos[u * E + e] < mn) mn = r->e2e_cos[u * E + e];
        }
        ch[g] = sc / (double)E, co[g] = so / (double)E, cmin[g] = mn;
    }
    int64_t d3p[3] = {P, S, K};
    const char *n3[3] = {"/lowrank/projection", "/lowrank/sharing", "/lowrank/k"};
    const char *paths3[4] = {"/lowrank/fit_loss", "/lowrank/e2e/hidden_change", "/lowrank/e2e/cosine",
                             "/lowrank/e2e/cosine_min"};
    const char *descs3[4] = {
        "final training loss of the fit (mean relative squared output error over the training "
        "sequences' heads); NaN for kinds that are not fitted",
        "relative change ||Y - X||_F / ||X||_F of the final hidden states with Linformer attention "
        "substituted in every layer, mean over the evaluation sequences",
        "cosine similarity of the mean-pooled final hidden states (sentence embeddings) to the "
        "original model's, mean over the evaluation sequences",
        "lowest cosine similarity over the evaluation sequences"};
    for (int i = 0; i < 4; i++) {
        rc |= lf_h5_write(f, paths3[i], LF_H5_F64, 3, d3p, fl + i * P * S * K, descs3[i], "1");
        for (int d = 0; d < 3; d++) rc |= lf_h5_attach(f, paths3[i], d, n3[d]);
    }

    /* Nonuniform k against the uniform k of equal total cost. */
    if (r->nonuniform) {
        const char *vn[2] = {"nonuniform", "uniform"};
        rc |= lf_h5_scale_strings(f, "/lowrank/nonuniform/variant", 2, vn,
                                  "per-layer k, or the uniform k of equal total cost");
        int32_t kl[64];
        for (int l = 0; l < L && l < 64; l++) kl[l] = (int32_t)ps->k_layer[l];
        int64_t dl = L;
        rc |= lf_h5_write(f, "/lowrank/nonuniform/k_layer", LF_H5_I32, 1, &dl, kl,
                          "k of each layer in the nonuniform variant", NULL);
        rc |= lf_h5_attach(f, "/lowrank/nonuniform/k_layer", 0, "/lowrank/layer");
        rc |= lf_h5_attr_int(f, "/lowrank/nonuniform", "uniform_k", ps->k_uniform);
        rc |= lf_h5_attr_double(f, "/lowrank/nonuniform", "threshold", ps->threshold);
        rc |= lf_h5_attr_string(f, "/lowrank/nonuniform", "spec", a->nonuniform);
        double *nm = lf_alloc((size_t)(P * S * 2 * (LH + 3)), sizeof(double));
        if (!nm) {
            rc = -1;
            goto done_fl;
        }
        double *nch = nm + P * S * 2 * LH, *nco = nch + P * S * 2, *nfl = nco + P * S * 2;
        for (int64_t g = 0; g < P * S * 2; g++) {
            int u = ps->nonuni[g];
            const int ok = ps->valid[u];
            double sc = 0, so = 0;
            for (int64_t e = 0; e < E; e++) sc += r->e2e_change[u * E + e], so += r->e2e_cos[u * E + e];
            nch[g] = ok ? sc / (double)E : NAN, nco[g] = ok ? so / (double)E : NAN;
            nfl[g] = ps->train_loss[u];
            for (int64_t i = 0; i < LH; i++) nm[g * LH + i] = ok ? um[u * LH + i] : NAN;
        }
        int64_t dn5[5] = {P, S, 2, L, H}, dn3[3] = {P, S, 2};
        const char *nn5[5] = {"/lowrank/projection", "/lowrank/sharing", "/lowrank/nonuniform/variant",
                              "/lowrank/layer", "/lowrank/head"};
        rc |= lf_h5_write(f, "/lowrank/nonuniform/output_error", LF_H5_F64, 5, dn5, nm,
                          "output_error with the nonuniform per-layer k and with the uniform k of "
                          "equal total cost (NaN: combination the plan cannot express)", "1");
        for (int d = 0; d < 5; d++) rc |= lf_h5_attach(f, "/lowrank/nonuniform/output_error", d, nn5[d]);
        const char *np3[3] = {"/lowrank/nonuniform/hidden_change", "/lowrank/nonuniform/cosine",
                              "/lowrank/nonuniform/fit_loss"};
        const double *nv3[3] = {nch, nco, nfl};
        for (int i = 0; i < 3; i++) {
            rc |= lf_h5_write(f, np3[i], LF_H5_F64, 3, dn3, nv3[i],
                              i == 0 ? "e2e hidden_change for each variant"
                                     : i == 1 ? "e2e cosine for each variant" : "fit_loss for each variant",
                              "1");
            for (int d = 0; d < 3; d++) rc |= lf_h5_attach(f, np3[i], d, nn5[d]);
        }
        lf_free(nm);
    }

    /* The fitted projections, reusable: the parameters of every distinct projection. */
    for (int p = 0; p < P; p++) {
        if (!lf_ab_kind_is_fitted(a->kind[p])) continue;
        for (int s = 0; s < S; s++) {
            char path[256];
            for (int ki = 0; ki < K; ki++) {
                snprintf(path, sizeof path, "/lowrank/fitted/%s/%s/k%lld", pn[p], sn[s], (long long)a->ks[ki]);
                rc |= lf_plan_save(f, path, &ps->uniq[ps->grid[(p * S + s) * K + ki]]);
            }
            for (int var = 0; r->nonuniform && var < 2; var++) {
                const int u = ps->nonuni[(p * S + s) * 2 + var];
                if (!ps->valid[u]) continue;
                snprintf(path, sizeof path, "/lowrank/nonuniform/fitted/%s/%s/%s", pn[p], sn[s],
                         var == 0 ? "nonuniform" : "uniform");
                rc |= lf_plan_save(f, path, &ps->uniq[u]);
            }
        }
    }
    int64_t di2[2] = {r->F + E, a->seq_len};
    rc |= lf_h5_write(f, "/input/token_ids", LF_H5_I32, 2, di2, r->ids,
                      "WordPiece ids of each sequence: the first fit_sequences train, the rest are "
                      "the held-out evaluation sequences", NULL);
done_fl:
    lf_free(fl);
done:
    lf_free(kv), lf_free(m), lf_free(sd), lf_free(um), lf_free(us);
    if (rc != 0) {
        lf_h5_close(f, 0);
        return -1;
    }
    return lf_h5_close(f, 1);
}

/* ---- the study ------------------------------------------------------------------- */

/* The summary table on stdout: output error, mean over layers and heads, per
 * projection, sharing and k. */
static void print_summary(const lf_lowrank_opts *a, const plan_set *ps, const lf_ablation *ab,
                          int L, int H)
{
    double *um = lf_alloc((size_t)(ps->nuniq * L * H), sizeof(double));
    if (!um) return;
    lf_ab_stat_results(&ab->out, um, NULL);
    printf("lowrank: output error (mean over layers and heads) on %lld held-out sequences:\n",
           (long long)a->sequences);
    printf("  %-9s %-10s", "kind", "sharing");
    for (int ki = 0; ki < a->nk; ki++) printf(" k=%-6lld", (long long)a->ks[ki]);
    printf("\n");
    for (int p = 0; p < a->np; p++)
        for (int s = 0; s < a->ns; s++) {
            if (!lf_ab_kind_sharing_applies(a->kind[p]) && s > 0) continue;
            printf("  %-9s %-10s", lf_ab_kind_name(a->kind[p]),
                   lf_ab_kind_sharing_applies(a->kind[p]) ? lf_sharing_name(a->sh[s]) : "(any)");
            for (int ki = 0; ki < a->nk; ki++) {
                int u = ps->grid[(p * a->ns + s) * a->nk + ki];
                double sum = 0;
                for (int i = 0; i < L * H; i++) sum += um[u * L * H + i];
                printf(" %-8.4f", sum / (L * H));
            }
            printf("\n");
        }
    lf_free(um);
}

int lf_lowrank_study(const lf_lowrank_opts *a, lf_model *m, int *input_error)
{
    if (input_error) *input_error = 0;
    if (!a || !m) LF_FAIL("lowrank study: NULL options or model");
    const lf_model_config *cfg = &m->config;
    const int L = cfg->num_hidden_layers, H = cfg->num_attention_heads;
    const int64_t n = a->seq_len, C = cfg->hidden_size, D = C / H, F = a->fit_sequences,
                  E = a->sequences, B = a->batch;
    int rc = -1, ws_ready = 0, ab_ready = 0;
    plan_set ps;
    memset(&ps, 0, sizeof ps);
    int64_t k_layer[256];
    int32_t *ids = NULL;
    lf_encoder_ws ws;
    train_ctx tc = {L, H, n, D, 0, NULL, NULL, NULL, NULL};
    lf_spectrum_stats st;
    memset(&st, 0, sizeof st);
    const float **pq = NULL, **pk = NULL, **pv = NULL;
    double *lm = NULL;
    const lf_plan **up = NULL;
    float *ref = NULL, *hid = NULL;
    double *e2e_change = NULL, *e2e_cos = NULL;
    lf_ablation ab;

    /* Input problems first, before any work: exit status 2 in the driver. */
    if (L > 256) {
        lf_error_set("models with more than 256 layers are not supported");
        goto input;
    }
    if (a->nonuniform && lf_ab_nonuniform_parse(a->nonuniform, L, n, k_layer, &ps.threshold) != 0)
        goto input;
    if (!(ids = make_sequences(a, m->tokenizer, F + E))) goto input;
    if (lf_encoder_ws_init(&ws, m, B, n) != 0) goto done;
    ws_ready = 1;
    const double t0 = lf_now();

    /* 1. training sequences: Q, K, V of every layer and head (and spectra). */
    const size_t tsz = (size_t)(F * L * H) * (size_t)(n * D);
    if (F > 0) {
        tc.q = lf_alloc(tsz, sizeof(float)), tc.k = lf_alloc(tsz, sizeof(float)), tc.v = lf_alloc(tsz, sizeof(float));
        if (!tc.q || !tc.k || !tc.v) goto done;
        if (ps.threshold > 0) {
            if (lf_spectrum_stats_init(&st, L, H, n, LF_NORM_SUM, LF_SV_DEFAULT) != 0) goto done;
            tc.stats = &st;
        }
        lf_encoder_hooks th = {.observe = keep_train, .user = &tc, .keep_probs = tc.stats != NULL};
        for (int64_t s = 0; s < F; s += B) {
            int64_t b = F - s < B ? F - s : B;
            if (lf_encoder_forward_hooked(m, ids + s * n, NULL, b, n, &th, NULL, NULL, &ws) != 0)
                goto done;
        }
    }
    if (ps.threshold > 0) {
        lm = lf_alloc((size_t)(L * n), sizeof(double));
        if (!lm || lf_spectrum_stats_results(&st, 1, NULL, NULL, NULL, lm) != 0 ||
            lf_ab_k_from_spectrum(lm, L, n, ps.threshold, k_layer) != 0)
            goto done;
    }
    if (a->nonuniform) {
        ps.k_uniform = lf_ab_uniform_k(k_layer, L);
        ps.k_layer = k_layer;
        fprintf(stderr, "lowrank: nonuniform k per layer:");
        for (int l = 0; l < L; l++) fprintf(stderr, " %lld", (long long)k_layer[l]);
        fprintf(stderr, "; uniform k of equal total cost: %lld\n", (long long)ps.k_uniform);
    }

    /* 2. plans (fits on the training sequences). */
    lf_fit_data train = {(int)F, L, H, D, D, NULL, NULL, NULL, NULL, NULL};
    if (F > 0) {
        pq = lf_alloc((size_t)(F * L * H), sizeof *pq), pk = lf_alloc((size_t)(F * L * H), sizeof *pk);
        pv = lf_alloc((size_t)(F * L * H), sizeof *pv);
        if (!pq || !pk || !pv) goto done;
        for (int64_t i = 0; i < F * L * H; i++)
            pq[i] = tc.q + i * n * D, pk[i] = tc.k + i * n * D, pv[i] = tc.v + i * n * D;
        train.q = pq, train.k = pk, train.v = pv;
    }
    if (make_plans(&ps, a, L, H, F > 0 ? &train : NULL, k_layer, a->nonuniform != NULL) != 0) goto done;
    lf_free(pq), lf_free(pk), lf_free(pv), lf_free(tc.q), lf_free(tc.k), lf_free(tc.v);
    pq = pk = pv = NULL, tc.q = tc.k = tc.v = NULL;
    fprintf(stderr, "lowrank: %d plans ready after %.1f s\n", ps.nuniq, lf_now() - t0);

    /* 3. evaluation sequences, dense: the per-head measurements and the reference
     * hidden states. */
    up = lf_alloc((size_t)ps.nuniq, sizeof *up);
    ref = lf_alloc((size_t)(E * n * C), sizeof(float)), hid = lf_alloc((size_t)(B * n * C), sizeof(float));
    e2e_change = lf_alloc((size_t)(ps.nuniq * E), sizeof(double));
    e2e_cos = lf_alloc((size_t)(ps.nuniq * E), sizeof(double));
    if (!up || !ref || !hid || !e2e_change || !e2e_cos) goto done;
    for (int u = 0; u < ps.nuniq; u++) up[u] = ps.valid[u] ? &ps.uniq[u] : NULL;
    if (lf_ablation_init(&ab, L, H, n, a->ks, a->nk, up, ps.nuniq, (int)a->jl_trials, a->seed) != 0)
        goto done;
    ab_ready = 1;
    lf_encoder_hooks oh = {.observe = lf_ablation_observe, .user = &ab, .keep_probs = 1};
    const int32_t *eval = ids + F * n;
    lf_progress pr;
    lf_progress_start(&pr, "evaluation passes", (ps.nuniq + 1) * E, 0);
    for (int64_t s = 0; s < E; s += B) {
        int64_t b = E - s < B ? E - s : B;
        if (lf_encoder_forward_hooked(m, eval + s * n, NULL, b, n, &oh, ref + s * n * C, NULL, &ws) != 0)
            goto done;
        lf_progress_update(&pr, s + b);
    }

    /* 4. end to end: each plan substituted in every layer. */
    for (int u = 0; u < ps.nuniq; u++) {
        for (int64_t s = 0; s < E; s += B) {
            int64_t b = E - s < B ? E - s : B;
            if (!up[u]) {
                for (int64_t e = s; e < s + b; e++) e2e_change[u * E + e] = e2e_cos[u * E + e] = NAN;
                continue;
            }
            lf_encoder_hooks sh = {.attention = lf_substitute_attention, .user = (void *)up[u]};
            if (lf_encoder_forward_hooked(m, eval + s * n, NULL, b, n, &sh, hid, NULL, &ws) != 0 ||
                lf_substitute_compare(ref + s * n * C, hid, NULL, b, n, C, e2e_change + u * E + s,
                                      e2e_cos + u * E + s) != 0)
                goto done;
            lf_progress_update(&pr, (u + 1) * E + s + b);
        }
    }
    lf_progress_finish(&pr);

    results r = {a, L, H, (int)F, &ps, &ab, e2e_change, e2e_cos, a->nonuniform != NULL, ids};
    if (write_results(&r) != 0) goto done;
    print_summary(a, &ps, &ab, L, H);
    printf("lowrank: wrote %s in %.1f s\n", a->out, lf_now() - t0);
    rc = 0;
    goto done;
input:
    if (input_error) *input_error = 1;
done:
    if (ab_ready) lf_ablation_free(&ab);
    free_plans(&ps);
    lf_spectrum_stats_free(&st);
    lf_free(lm), lf_free(pq), lf_free(pk), lf_free(pv), lf_free(tc.q), lf_free(tc.k), lf_free(tc.v);
    lf_free(up), lf_free(ref), lf_free(hid), lf_free(e2e_change), lf_free(e2e_cos), lf_free(ids);
    if (ws_ready) lf_encoder_ws_free(&ws);
    return rc;
}
