/* test_effbench.c - what the efficiency benchmark (bin/bench) rests on: the random
 * model (lf_model_random, lf_model_config_bert), the attention variants as encoder
 * hooks (core/effbench.c), the memory budget of the allocator (mem.h), the
 * measurement of one point, and the median of bench.h.
 *
 * The key check: the encoder forward with the Linformer hook at k = n and identity
 * projections (E = F = I) equals the encoder's own dense forward, and the dense and
 * streamed hooks equal it too, so the benchmark times the computation it names.
 * Tolerances: a random BERT (2 layers, hidden 32, |h| = O(1) after layer norm, with
 * query/key weights scaled up so that P is far from uniform); the variants differ
 * only in the order of float32 sums inside attention (different kernels and
 * blocks), each ~1e-7 relative, amplified by at most the layer norms' O(1) gains:
 * allowed 2e-5 absolute + 2e-5 relative on the final hidden states, measured
 * ~1e-6. A Gaussian projection with k < n must differ by more than 1e-2 (so the
 * comparison can fail).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "check.h"
#include "effbench.h"
#include "encoder.h"
#include "error.h"
#include "mem.h"
#include "model.h"
#include "parallel.h"
#include "projection.h"

static lf_model *tiny_model(uint64_t seed)
{
    lf_model_config c;
    if (lf_model_config_bert(&c, 2, 4, 32, 64) != 0) return NULL;
    lf_model *m = lf_model_random(&c, seed);
    if (!m) return NULL;
    /* Peaked attention: scale the query and key weights (std 0.02 -> 0.5). */
    const int64_t C = c.hidden_size;
    for (int l = 0; l < c.num_hidden_layers; l++)
        for (int64_t i = 0; i < 2 * C * C; i++) m->w.qkv_w[l * 3 * C * C + i] *= 25.0f;
    return m;
}

static void test_config_bert(void)
{
    lf_model_config c;
    CHECK(lf_model_config_bert(&c, 12, 12, 768, 4096) == 0);
    CHECK(c.num_hidden_layers == 12 && c.num_attention_heads == 12 && c.hidden_size == 768);
    CHECK(c.head_dim == 64 && c.intermediate_size == 3072 && c.vocab_size == 30522);
    CHECK(c.max_seq_len == 4096 && c.family == LF_MODEL_BERT && c.hidden_act == LF_ACT_GELU_ERF);
    CHECK(c.layer_norm_eps == 1e-12);
    lf_model_config keep = c;
    CHECK(lf_model_config_bert(&c, 2, 5, 32, 64) != 0);
    CHECK(strstr(lf_error_get(), "not divisible") != NULL);
    CHECK(lf_model_config_bert(&c, 0, 2, 32, 64) != 0);
    CHECK(memcmp(&c, &keep, sizeof c) == 0); /* untouched on failure */
}

/* BERT's initialisation, deterministic in the seed whatever the thread count. */
static void test_random_model(void)
{
    lf_model_config c;
    CHECK(lf_model_config_bert(&c, 2, 4, 32, 64) == 0);
    lf_threads_set(1);
    lf_model *a = lf_model_random(&c, 7);
    lf_threads_set(2);
    lf_model *b = lf_model_random(&c, 7);
    lf_model *d = lf_model_random(&c, 8);
    CHECK(a && b && d);
    if (!a || !b || !d) goto done;
    CHECK(a->tokenizer == NULL);
    CHECK(a->num_params == b->num_params);
    /* Bit-identical across thread counts; another seed differs. */
    const float *pa = a->w.word_emb, *pb = b->w.word_emb, *pd = d->w.word_emb;
    const size_t nw = (size_t)c.vocab_size * (size_t)c.hidden_size;
    CHECK(memcmp(pa, pb, nw * sizeof(float)) == 0);
    CHECK(memcmp(a->w.ffn_in_w, b->w.ffn_in_w,
                 (size_t)2 * c.intermediate_size * c.hidden_size * sizeof(float)) == 0);
    CHECK(memcmp(pa, pd, nw * sizeof(float)) != 0);
    /* N(0, 0.02^2): over ~1e6 word-embedding values the sample mean is within
     * 5 standard errors (5 * 0.02 / 1000 = 1e-4) of 0 and the sample std within
     * 1 % of 0.02 (its relative standard error is 1 / sqrt(2N) = 7e-4). */
    double s = 0, s2 = 0;
    for (size_t i = 0; i < nw; i++) s += pa[i], s2 += (double)pa[i] * pa[i];
    double mean = s / (double)nw, sd = sqrt(s2 / (double)nw - mean * mean);
    CHECK_NEAR(mean, 0.0, 1e-4);
    CHECK_NEAR(sd, 0.02, 2e-4);
    check_notef("word embeddings: mean %.2e, std %.5f", mean, sd);
    /* Layer norms 1 and 0, biases 0. */
    int ok = 1;
    for (int i = 0; i < c.hidden_size; i++)
        ok &= a->w.emb_ln_w[i] == 1.0f && a->w.emb_ln_b[i] == 0.0f &&
              a->w.ffn_ln_w[c.hidden_size + i] == 1.0f && a->w.attn_out_b[i] == 0.0f;
    for (int i = 0; i < 3 * c.hidden_size; i++) ok &= a->w.qkv_b[i] == 0.0f;
    CHECK(ok);
done:
    lf_model_free(a), lf_model_free(b), lf_model_free(d);
}

static double max_rel_diff(const float *x, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / den);
}

/* The forward with each hook against the encoder's own dense attention. */
static void test_hooks_match_dense(void)
{
    lf_threads_set(2);
    lf_model *m = tiny_model(3);
    CHECK(m != NULL);
    if (!m) return;
    const lf_model_config *c = &m->config;
    const int64_t B = 2, n = 40, H = c->num_attention_heads, L = c->num_hidden_layers,
                  C = c->hidden_size;
    int32_t ids[2 * 40];
    for (int i = 0; i < B * n; i++) ids[i] = (int32_t)((i * 7919) % c->vocab_size);
    const size_t cnt = (size_t)(B * n * C);
    float *ref = lf_alloc(cnt, sizeof(float)), *got = lf_alloc(cnt, sizeof(float));
    float *probs = lf_alloc((size_t)(B * H * n * n), sizeof(float));
    lf_encoder_ws ws;
    CHECK(lf_encoder_ws_init(&ws, m, B, n) == 0);
    CHECK(lf_encoder_forward(m, ids, NULL, B, n, ref, NULL, &ws) == 0);

    /* Dense with P materialized, and streamed. */
    lf_bench_attn st = {.variant = LF_BENCH_DENSE, .probs = probs, .probs_batch = B,
                        .probs_stride = n * n};
    lf_encoder_hooks hooks = {.attention = lf_bench_attention, .user = &st};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) == 0);
    CHECK_ARRAYS("dense hook", got, ref, cnt, 2e-5, 2e-5);
    double e_dense = max_rel_diff(got, ref, cnt);
    CHECK(st.seconds > 0);
    /* P of the last layer: rows sum to 1. */
    double worst = 0;
    for (int64_t r = 0; r < B * H * n; r++) {
        double sum = 0;
        for (int64_t j = 0; j < n; j++) sum += probs[r * n + j];
        worst = fmax(worst, fabs(sum - 1));
    }
    CHECK(worst < 1e-5);
    st = (lf_bench_attn){.variant = LF_BENCH_STREAMED};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) == 0);
    CHECK_ARRAYS("streamed hook", got, ref, cnt, 2e-5, 2e-5);
    double e_streamed = max_rel_diff(got, ref, cnt);

    /* Linformer, layerwise plan, k = n, E = F = I. */
    int64_t *ks = lf_alloc((size_t)(L * H), sizeof *ks);
    for (int i = 0; i < L * H; i++) ks[i] = n;
    lf_plan plan;
    CHECK(lf_plan_init(&plan, (int)L, (int)H, n, ks, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1) == 0);
    CHECK(plan.n_proj == 1);
    float *e = plan.proj[0].weights;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) e[i * n + j] = i == j ? 1.0f : 0.0f;
    st = (lf_bench_attn){.variant = LF_BENCH_LINFORMER, .plan = &plan, .probs = probs,
                         .probs_batch = B, .probs_stride = n * n};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) == 0);
    CHECK_ARRAYS("linformer hook, k = n, E = F = I", got, ref, cnt, 2e-5, 2e-5);
    double e_lin = max_rel_diff(got, ref, cnt);
    /* Pbar = P of the last layer here: compare with the dense hook's P. */
    lf_plan_free(&plan);

    /* A real compression must change the result (the comparison above can fail). */
    for (int i = 0; i < L * H; i++) ks[i] = 8;
    CHECK(lf_plan_init(&plan, (int)L, (int)H, n, ks, LF_SHARE_LAYERWISE, LF_PROJ_GAUSSIAN, 1) == 0);
    st = (lf_bench_attn){.variant = LF_BENCH_LINFORMER, .plan = &plan};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) == 0);
    double e_k8 = max_rel_diff(got, ref, cnt);
    CHECK_MSG(e_k8 > 1e-2, "k = 8 gaussian differs from dense by only %.3g", e_k8);
    lf_plan_free(&plan);

    /* A plan for fewer heads, or too short, is an error, not a crash. */
    for (int i = 0; i < L * H; i++) ks[i] = 8;
    CHECK(lf_plan_init(&plan, (int)L, 2, n, ks, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1) == 0);
    st = (lf_bench_attn){.variant = LF_BENCH_LINFORMER, .plan = &plan};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) != 0);
    CHECK(strstr(lf_error_get(), "heads") != NULL);
    lf_plan_free(&plan);
    CHECK(lf_plan_init(&plan, (int)L, (int)H, n / 2, ks, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1) == 0);
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) != 0);
    CHECK(strstr(lf_error_get(), "exceeds the plan") != NULL);
    lf_plan_free(&plan);
    /* A P buffer for fewer sequences. */
    st = (lf_bench_attn){.variant = LF_BENCH_DENSE, .probs = probs, .probs_batch = 1,
                         .probs_stride = n * n};
    CHECK(lf_encoder_forward_hooked(m, ids, NULL, B, n, &hooks, got, NULL, &ws) != 0);

    check_notef("relative difference to dense: dense hook %.1e, streamed %.1e, linformer "
                "k=n identity %.1e; k=8 gaussian %.2f",
                e_dense, e_streamed, e_lin, e_k8);
    lf_free(ks);
    lf_encoder_ws_free(&ws);
    lf_free(ref), lf_free(got), lf_free(probs);
    lf_model_free(m);
}

static void test_mem_limit(void)
{
    size_t before = lf_mem_current(), fails = lf_mem_failures();
    lf_mem_limit_set(before + 4096);
    CHECK(lf_mem_limit() == before + 4096);
    void *ok = lf_alloc(1024, 1);
    CHECK(ok != NULL);
    void *no = lf_alloc(8192, 1);
    CHECK(no == NULL);
    CHECK(strstr(lf_error_get(), "memory budget") != NULL);
    CHECK(lf_mem_failures() == fails + 1);
    CHECK(lf_mem_current() == before + 1024); /* the refused request left no trace */
    lf_free(ok);
    lf_mem_limit_set(0);
    no = lf_alloc(8192, 1);
    CHECK(no != NULL);
    lf_free(no);
    CHECK(lf_mem_current() == before);
}

/* One point: memory per sequence is exactly the workspace, the P (or Pbar) buffer
 * and the token ids of one sequence (from the difference of two batch sizes), and a
 * budget that cannot hold one sequence skips the point with the reason. */
static void test_run_point(void)
{
    /* One thread: with several, how many threads hold their attention scratch at the
     * moment of the peak is a matter of timing (up to (threads - 1) x ~130 KiB). */
    lf_threads_set(1);
    lf_model *m = tiny_model(5);
    CHECK(m != NULL);
    if (!m) return;
    const lf_model_config *c = &m->config;
    const int64_t n = 32, k = 8, H = c->num_attention_heads, C = c->hidden_size,
                  I = c->intermediate_size;
    /* encoder.h: x, qkv (3 C), q, k, v, ctx, merged, tmp, ffn (I), positions; plus ids.
     * n = 32 keeps every block a multiple of 64 bytes, so no rounding. */
    const size_t ws_seq = (size_t)n * (size_t)(10 * C + I) * 4 + (size_t)n * 4 + (size_t)n * 4;
    const size_t want[3] = {ws_seq + (size_t)(H * n * n) * 4, ws_seq,
                            ws_seq + (size_t)(H * n * k) * 4};
    for (int v = 0; v < LF_BENCH_NVARIANTS; v++) {
        lf_bench_point_cfg cfg = {.model = m, .variant = (lf_bench_variant)v, .n = n, .k = k,
                                  .budget = (size_t)1 << 30, .batch_tokens = 4 * n,
                                  .verify_tokens = 0, .repeats = 2, .seed = 1};
        lf_bench_point p;
        CHECK(lf_bench_run_point(&cfg, &p) == 0);
        CHECK(!p.skipped);
        CHECK(p.batch == 4 && p.seq_exact == 1);
        CHECK_MSG(p.seq_bytes == want[v], "%s: %zu bytes per sequence, expected %zu",
                  lf_bench_variant_name((lf_bench_variant)v), p.seq_bytes, want[v]);
        CHECK(p.time_per_token > 0 && p.attn_time_per_token > 0 &&
              p.attn_time_per_token < p.time_per_token && p.attn_gflops > 0);
        CHECK(p.fixed_bytes >= m->num_params * sizeof(float));
        CHECK(p.peak_bytes >= p.fixed_bytes + 4 * p.seq_bytes);
        int64_t expect_max = (int64_t)(((size_t)1 << 30) - p.fixed_bytes - p.scratch_bytes) /
                             (int64_t)p.seq_bytes;
        CHECK(p.max_batch == expect_max);
        CHECK(lf_mem_limit() == 0);

        /* Budget: the fixed memory plus half a sequence. */
        cfg.budget = p.fixed_bytes + want[v] / 2;
        size_t in_use = lf_mem_current();
        CHECK(lf_bench_run_point(&cfg, &p) == 0);
        CHECK(p.skipped);
        CHECK_MSG(strstr(p.reason, "does not fit") && strstr(p.reason, "memory budget"),
                  "reason: %s", p.reason);
        CHECK(lf_mem_current() == in_use && lf_mem_limit() == 0);
        /* Almost no room: still a skip, never an error. */
        cfg.budget = lf_mem_current() + 8;
        CHECK(lf_bench_run_point(&cfg, &p) == 0);
        CHECK_MSG(p.skipped, "budget of 8 free bytes: not skipped");
        /* No room at all: the weights alone. */
        cfg.budget = lf_mem_current() / 2;
        CHECK(lf_bench_run_point(&cfg, &p) == 0);
        CHECK_MSG(p.skipped && strstr(p.reason, "weights alone"), "reason: %s", p.reason);
    }
    /* The largest batch verified when cheap: it must run within the budget. */
    lf_bench_point_cfg cfg = {.model = m, .variant = LF_BENCH_STREAMED, .n = n, .k = k,
                              .budget = 0, .batch_tokens = n, .verify_tokens = 1 << 20,
                              .repeats = 1, .seed = 1};
    lf_bench_point p;
    cfg.budget = lf_mem_current() + ((size_t)3 << 20);
    CHECK(lf_bench_run_point(&cfg, &p) == 0);
    CHECK_MSG(!p.skipped && p.batch == 1 && p.verified == 1 && p.max_batch >= 2,
              "skipped %d batch %lld verified %d max_batch %lld seq %zu scratch %zu: %s", p.skipped,
              (long long)p.batch, p.verified, (long long)p.max_batch, p.seq_bytes, p.scratch_bytes,
              p.reason);
    CHECK_MSG(p.seq_exact == 1 && p.seq_bytes == ws_seq, "exact %d seq %zu (want %zu) scratch %zu max %lld", p.seq_exact, p.seq_bytes, ws_seq, p.scratch_bytes, (long long)p.max_batch);
    /* Bad configurations are errors. */
    cfg.budget = (size_t)1 << 30;
    cfg.variant = LF_BENCH_LINFORMER;
    cfg.k = n;
    CHECK(lf_bench_run_point(&cfg, &p) == -1);
    CHECK(strstr(lf_error_get(), "k = 32") != NULL);
    cfg.k = k;
    cfg.n = 65;
    CHECK(lf_bench_run_point(&cfg, &p) == -1);
    lf_model_free(m);
    lf_threads_set(2);
}

/* Points held together and timed interleaved measure what they measure alone: the
 * memory of the others is not charged to them (base_bytes), and the budget applies
 * to each point's own memory. */
static void test_interleaved(void)
{
    lf_threads_set(1); /* exact peaks, as in test_run_point */
    lf_model *m = tiny_model(5);
    CHECK(m != NULL);
    if (!m) return;
    const int64_t n = 32, k = 8;
    const size_t base = lf_mem_current();
    lf_bench_point alone[3], inter[3];
    lf_bench_state *st[3] = {NULL, NULL, NULL};
    for (int v = 0; v < 3; v++) {
        lf_bench_point_cfg cfg = {.model = m, .variant = (lf_bench_variant)v, .n = n, .k = k,
                                  .budget = (size_t)64 << 20, .batch_tokens = 4 * n,
                                  .verify_tokens = 0, .repeats = 2, .seed = 1};
        CHECK(lf_bench_run_point(&cfg, &alone[v]) == 0);
    }
    /* Dense last, with the others held; its budget leaves room for itself only. */
    for (int v = 0; v < 3; v++) {
        lf_bench_point_cfg cfg = {.model = m, .variant = (lf_bench_variant)v, .n = n, .k = k,
                                  .budget = (size_t)64 << 20, .batch_tokens = 4 * n,
                                  .verify_tokens = 0, .repeats = 2, .seed = 1, .base_bytes = base};
        if (v == LF_BENCH_DENSE)
            cfg.budget = alone[v].fixed_bytes + 5 * alone[v].seq_bytes + alone[v].scratch_bytes;
        CHECK(lf_bench_point_prepare(&cfg, &inter[v], &st[v]) == 0);
        CHECK(st[v] != NULL);
    }
    for (int rep = 0; rep < 2; rep++)
        for (int v = 0; v < 3; v++) CHECK(st[v] && lf_bench_point_time(st[v]) == 0);
    CHECK(st[0] && lf_bench_point_time(st[0]) != 0); /* all forwards already timed */
    for (int v = 0; v < 3; v++) {
        CHECK(st[v] && lf_bench_point_finish(st[v], &inter[v]) == 0);
        CHECK_MSG(inter[v].seq_bytes == alone[v].seq_bytes && inter[v].fixed_bytes ==
                      alone[v].fixed_bytes && inter[v].seq_exact && inter[v].batch == 4,
                  "%s: held %zu / %zu bytes, alone %zu / %zu",
                  lf_bench_variant_name((lf_bench_variant)v), inter[v].seq_bytes,
                  inter[v].fixed_bytes, alone[v].seq_bytes, alone[v].fixed_bytes);
        CHECK(inter[v].time_per_token > 0 && inter[v].time_best_per_token <= inter[v].time_per_token);
    }
    CHECK(inter[LF_BENCH_DENSE].max_batch == 5);
    CHECK(lf_mem_current() == base && lf_mem_limit() == 0);
    lf_model_free(m);
    lf_threads_set(2);
}

static void test_median_and_flops(void)
{
    double a[5] = {5, 1, 4, 2, 3}, b[4] = {10, 1, 3, 2};
    CHECK(lf_bench_median(a, 5) == 3);
    CHECK(lf_bench_median(b, 4) == 2.5);
    CHECK(isnan(lf_bench_median(b, 0)));
    lf_model_config c;
    CHECK(lf_model_config_bert(&c, 2, 4, 32, 64) == 0);
    /* 2 layers x 4 heads x 3 sequences; dense 2 n^2 (d + dv), linformer 4 n k (d + dv). */
    CHECK(lf_bench_attention_flops(LF_BENCH_DENSE, &c, 3, 64, 0) == 24.0 * 2 * 64 * 64 * 16);
    CHECK(lf_bench_attention_flops(LF_BENCH_LINFORMER, &c, 3, 64, 8) == 24.0 * 4 * 64 * 8 * 16);
    CHECK(!strcmp(lf_bench_variant_name(LF_BENCH_STREAMED), "streamed"));
    CHECK(lf_bench_rss_peak() > 0);
}

/* Until the CUDA backend provides an encoder (effbench.h), --device cuda says so. */
static void test_cuda_stub(void)
{
#ifndef LF_BENCH_HAVE_CUDA_ENCODER
    CHECK(lf_bench_cuda_available() == 0);
    CHECK(strstr(lf_error_get(), "built without the CUDA encoder") != NULL);
#endif
}

int main(void)
{
    check_program = "test_effbench";
    RUN(test_config_bert);
    RUN(test_random_model);
    RUN(test_hooks_match_dense);
    RUN(test_mem_limit);
    RUN(test_run_point);
    RUN(test_interleaved);
    RUN(test_median_and_flops);
    RUN(test_cuda_stub);
    return check_summary();
}
