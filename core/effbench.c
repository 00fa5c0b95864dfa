/* effbench.c - attention variants as encoder hooks, the CPU backend, and the
 * measurement of one point of the efficiency benchmark on any backend (see
 * effbench.h; the CUDA backend is core/cuda/effbench_cuda.cu). */
#include "effbench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "bench.h"
#include "error.h"
#include "linformer.h"
#include "mem.h"
#include "parallel.h"
#include "progress.h"
#include "rng.h"

const char *lf_bench_variant_name(lf_bench_variant v)
{
    switch (v) {
    case LF_BENCH_DENSE: return "dense";
    case LF_BENCH_STREAMED: return "streamed";
    case LF_BENCH_LINFORMER: return "linformer";
    }
    return "unknown";
}

/* One (sequence, head) pair of a layer. */
static int lf_bench_pair(const lf_bench_attn *s, const lf_encoder_attn *a, int64_t pair)
{
    const int64_t n = a->n, D = a->D, b = pair / a->H, h = pair % a->H;
    const size_t off = (size_t)pair * (size_t)n * (size_t)D;
    const uint8_t *mask = a->mask ? a->mask + b * n : NULL;
    switch (s->variant) {
    case LF_BENCH_DENSE:
        return lf_attention_dense(a->q + off, a->k + off, a->v + off, mask, n, D, D,
                                  s->probs ? s->probs + (size_t)pair * (size_t)s->probs_stride
                                           : NULL,
                                  a->out + off);
    case LF_BENCH_STREAMED:
        return lf_attention_streamed(a->q + off, a->k + off, a->v + off, mask, n, D, D,
                                     a->out + off);
    case LF_BENCH_LINFORMER: {
        const lf_proj *e = lf_plan_get(s->plan, a->layer, (int)h, 0);
        const lf_proj *f = lf_plan_get(s->plan, a->layer, (int)h, 1);
        int64_t kp = lf_plan_k(s->plan, a->layer, (int)h);
        if (!e || !f || kp < 1) return -1;
        if (s->probs && n * kp > s->probs_stride)
            LF_FAIL("Pbar buffer holds %lld floats per head, n k = %lld", (long long)s->probs_stride,
                    (long long)(n * kp));
        return lf_attention_linformer(a->q + off, a->k + off, a->v + off, mask, n, D, D, e, f, kp,
                                      s->probs ? s->probs + (size_t)pair * (size_t)s->probs_stride
                                               : NULL,
                                      a->out + off);
    }
    }
    LF_FAIL("unknown attention variant %d", (int)s->variant);
}

int lf_bench_attention(void *user, lf_encoder_attn *a)
{
    lf_bench_attn *s = user;
    if (!s || !a) LF_FAIL("lf_bench_attention: NULL state or layer");
    const double t0 = lf_now();
    if (s->variant == LF_BENCH_LINFORMER) {
        if (!s->plan) LF_FAIL("lf_bench_attention: linformer without a projection plan");
        if (a->layer >= s->plan->layers || a->H != s->plan->heads)
            LF_FAIL("lf_bench_attention: the plan has %d layers x %d heads, the model %d x %lld",
                    s->plan->layers, s->plan->heads, a->num_layers, (long long)a->H);
        if (a->n > s->plan->n)
            LF_FAIL("lf_bench_attention: sequence length %lld exceeds the plan's n = %lld",
                    (long long)a->n, (long long)s->plan->n);
    }
    if (s->probs && a->B > s->probs_batch)
        LF_FAIL("lf_bench_attention: P buffer holds %lld sequences, the batch has %lld",
                (long long)s->probs_batch, (long long)a->B);
    if (s->variant == LF_BENCH_DENSE && s->probs && a->n * a->n > s->probs_stride)
        LF_FAIL("lf_bench_attention: P buffer holds %lld floats per head, n^2 = %lld",
                (long long)s->probs_stride, (long long)(a->n * a->n));
    const int nt = lf_threads_get();
    const int64_t pairs = a->B * a->H;
    int failed = 0;
    char msg[256] = "";
    /* As the encoder's dense attention: enough pairs, one per thread (serial inside,
     * nested regions run one thread); few pairs, in turn, each parallel inside. */
    const int outer = nt > 1 && pairs >= nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (outer)
    for (int64_t pair = 0; pair < pairs; pair++) {
        if (lf_bench_pair(s, a, pair) != 0) {
#pragma omp critical(lf_bench_error)
            if (!failed) {
                failed = 1;
                snprintf(msg, sizeof msg, "sequence %lld head %lld: %s", (long long)(pair / a->H),
                         (long long)(pair % a->H), lf_error_get());
            }
        }
    }
    s->seconds += lf_now() - t0;
    if (failed) LF_FAIL("%s", msg);
    return 0;
}

double lf_bench_attention_flops(lf_bench_variant v, const lf_model_config *c, int64_t B,
                                int64_t n, int64_t k)
{
    const double pairs = (double)B * c->num_attention_heads * c->num_hidden_layers;
    const int64_t D = c->head_dim;
    return pairs * (v == LF_BENCH_LINFORMER ? lf_attention_linformer_flops(n, k, D, D)
                                            : lf_attention_dense_flops(n, D, D));
}

void lf_bench_tokens(const lf_bench_point_cfg *cfg, size_t count, int32_t *ids)
{
    lf_rng rng;
    lf_rng_init(&rng, cfg->seed, 0x70cc);
    for (size_t i = 0; i < count; i++)
        ids[i] = (int32_t)(lf_rng_next(&rng) % (uint64_t)cfg->model->config.vocab_size);
}

/* ---- the CPU backend ---------------------------------------------------------- */

/* Buffers of forwards at one batch size. */
typedef struct {
    int64_t B, n;
    int32_t *ids;
    lf_encoder_ws ws;
    lf_bench_attn attn;
} lf_bench_run;

static void lf_bench_run_free(void *run)
{
    lf_bench_run *r = run;
    lf_free(r->ids);
    lf_free(r->attn.probs);
    lf_encoder_ws_free(&r->ws);
    memset(r, 0, sizeof *r);
}

/* Random tokens (the same first rows for every batch size), workspace and P. */
static int lf_bench_run_init(void *ctx, const lf_bench_point_cfg *cfg, const lf_plan *plan,
                             int64_t B, void *run)
{
    (void)ctx;
    lf_bench_run *r = run;
    memset(r, 0, sizeof *r);
    const lf_model_config *c = &cfg->model->config;
    r->B = B;
    r->n = cfg->n;
    r->attn.variant = cfg->variant;
    r->attn.plan = plan;
    size_t count;
    int64_t dims[4] = {B, cfg->n, c->num_attention_heads, cfg->n};
    if (lf_size_dims(2, dims, &count) != 0) return -1;
    r->ids = lf_alloc(count, sizeof *r->ids);
    if (!r->ids) return -1;
    lf_bench_tokens(cfg, count, r->ids);
    if (lf_encoder_ws_init(&r->ws, cfg->model, B, cfg->n) != 0) goto fail;
    if (cfg->variant != LF_BENCH_STREAMED) {
        if (lf_bench_probs_count(cfg, B, &count) != 0) goto fail;
        r->attn.probs = lf_alloc(count, sizeof(float));
        if (!r->attn.probs) {
            lf_error_prefix("attention probabilities of %lld sequences", (long long)B);
            goto fail;
        }
        r->attn.probs_batch = B;
        r->attn.probs_stride = cfg->n * (cfg->variant == LF_BENCH_DENSE ? cfg->n : cfg->k);
    }
    return 0;
fail:
    lf_bench_run_free(r);
    return -1;
}

static int lf_bench_forward(void *ctx, const lf_bench_point_cfg *cfg, void *run, double *seconds,
                            double *attn_seconds)
{
    (void)ctx;
    lf_bench_run *r = run;
    lf_encoder_hooks hooks = {.attention = lf_bench_attention, .user = &r->attn};
    r->attn.seconds = 0;
    double t0 = lf_now();
    int rc = lf_encoder_forward_hooked(cfg->model, r->ids, NULL, r->B, r->n, &hooks, NULL, NULL,
                                       &r->ws);
    *seconds = lf_now() - t0;
    *attn_seconds = r->attn.seconds;
    return rc;
}

const lf_bench_backend lf_bench_backend_cpu = {
    .name = "cpu",
    .run_size = sizeof(lf_bench_run),
    .mem_current = lf_mem_current,
    .mem_peak = lf_mem_peak,
    .mem_peak_reset = lf_mem_peak_reset,
    .mem_limit = lf_mem_limit,
    .mem_limit_set = lf_mem_limit_set,
    .mem_failures = lf_mem_failures,
    .run_init = lf_bench_run_init,
    .forward = lf_bench_forward,
    .run_free = lf_bench_run_free,
};

int lf_bench_probs_count(const lf_bench_point_cfg *cfg, int64_t B, size_t *count)
{
    *count = 0;
    if (cfg->variant == LF_BENCH_STREAMED) return 0;
    const int64_t cols = cfg->variant == LF_BENCH_DENSE ? cfg->n : cfg->k;
    int64_t pdims[4] = {B, cfg->model->config.num_attention_heads, cfg->n, cols};
    return lf_size_dims(4, pdims, count);
}

/* ---- the measurement, on either backend ---------------------------------------- */

/* Sets up a run at batch B and does one forward. 0 = done; 1 = did not fit (the
 * budget or the system refused an allocation; reason in the error); -1 = other
 * failure. On 0 the run stays set up, otherwise it is freed. */
static int lf_bench_try(const lf_bench_backend *be, void *ctx, const lf_bench_point_cfg *cfg,
                        const lf_plan *plan, int64_t B, void *run, double *seconds,
                        double *attn_seconds)
{
    size_t failures = be->mem_failures();
    int rc = be->run_init(ctx, cfg, plan, B, run);
    if (rc == 0) {
        rc = be->forward(ctx, cfg, run, seconds, attn_seconds);
        if (rc != 0) be->run_free(run);
    }
    if (rc == 0) return 0;
    return be->mem_failures() > failures ? 1 : -1;
}

static void lf_bench_point_skip(lf_bench_point *out, const char *fmt, const char *detail, double a,
                                double b)
{
    out->skipped = 1;
    snprintf(out->reason, sizeof out->reason, fmt, a, b, detail);
}

/* Memory per sequence from the peaks above fixed of batch 1 and batch B > 1:
 * slope = (peakB - peak1) / (B - 1), and what batch 1 used beyond it is per-call
 * scratch that does not grow with the batch; the largest batch follows from both. */
static void lf_bench_point_slope(lf_bench_point *out, size_t peak1, size_t peakB, int64_t B,
                                 size_t room)
{
    if (B < 2 || peakB <= peak1) return;
    size_t slope = (peakB - peak1 + (size_t)(B - 2)) / (size_t)(B - 1); /* rounded up */
    if (slope == 0 || slope > peak1) return;
    out->seq_bytes = slope;
    out->scratch_bytes = peak1 - slope;
    out->seq_exact = 1;
    out->max_batch = room > out->scratch_bytes ? (int64_t)((room - out->scratch_bytes) / slope) : 0;
    if (out->max_batch < B) out->max_batch = B; /* B itself ran within the budget */
}

/* A point between lf_bench_point_prepare and lf_bench_point_finish. */
struct lf_bench_state {
    const lf_bench_backend *be;
    lf_bench_point_cfg cfg;
    lf_plan plan;
    void *ctx;          /* the backend's setup (be->setup), or NULL */
    void *run;          /* be->run_size bytes for the buffers of one batch size */
    int live;           /* 1: run is set up (at the timed batch until finish) */
    double *times;      /* [repeats] forward seconds, then [repeats] attention seconds */
    int done;           /* timed forwards so far */
};

/* Memory of other points held meanwhile (see effbench.h): in use beyond this
 * point's fixed memory while its own run is not allocated. */
static size_t lf_bench_held(const lf_bench_backend *be, const lf_bench_point *out)
{
    size_t cur = be->mem_current();
    return cur > out->fixed_bytes ? cur - out->fixed_bytes : 0;
}

static void lf_bench_state_free(lf_bench_state *st)
{
    if (!st) return;
    if (st->live) st->be->run_free(st->run);
    if (st->ctx && st->be->teardown) st->be->teardown(st->ctx);
    lf_plan_free(&st->plan);
    lf_free(st->run);
    lf_free(st->times);
    lf_free(st);
}

void lf_bench_point_abort(lf_bench_state *st) { lf_bench_state_free(st); }

/* Device memory in use by every means (0 when the backend cannot tell). */
static size_t lf_bench_device_used(const lf_bench_backend *be)
{
    return be->device_used ? be->device_used() : 0;
}

int lf_bench_point_prepare_on(const lf_bench_backend *be, const lf_bench_point_cfg *cfg,
                              lf_bench_point *out, lf_bench_state **stp)
{
    const char *fn = "lf_bench_point_prepare";
    if (!be || !cfg || !out || !cfg->model || !stp)
        LF_FAIL("%s: NULL backend, configuration, model or result", fn);
    *stp = NULL;
    memset(out, 0, sizeof *out);
    const lf_model_config *c = &cfg->model->config;
    const int64_t n = cfg->n;
    const int lin = cfg->variant == LF_BENCH_LINFORMER;
    if (cfg->variant != LF_BENCH_DENSE && cfg->variant != LF_BENCH_STREAMED && !lin)
        LF_FAIL("%s: unknown variant %d", fn, (int)cfg->variant);
    if (n < 1 || n > c->max_seq_len)
        LF_FAIL("%s: n = %lld outside [1, %d] (the model's positions)", fn, (long long)n,
                c->max_seq_len);
    if (lin && (cfg->k < 1 || cfg->k >= n))
        LF_FAIL("%s: k = %lld must be in [1, n) = [1, %lld)", fn, (long long)cfg->k, (long long)n);
    if (cfg->budget == 0 || cfg->repeats < 1 || cfg->batch_tokens < 0 || cfg->verify_tokens < 0)
        LF_FAIL("%s: budget, repeats and token counts must be positive", fn);
    const size_t entry = be->mem_current();
    if (cfg->base_bytes > entry)
        LF_FAIL("%s: base_bytes %zu exceeds the %zu bytes in use", fn, cfg->base_bytes, entry);
    const size_t held = cfg->base_bytes ? entry - cfg->base_bytes : 0;
    const size_t device_entry = lf_bench_device_used(be);
    out->budget_bytes = cfg->budget;

    /* The state and the timings are bookkeeping, allocated before the budget
     * applies; on the CPU they count as fixed memory. */
    lf_bench_state *st = lf_calloc(1, sizeof *st);
    if (!st) return -1;
    st->be = be;
    st->cfg = *cfg;
    st->times = lf_alloc((size_t)cfg->repeats, 2 * sizeof(double));
    void *run = st->run = lf_calloc(1, be->run_size);
    if (!st->times || !run) {
        lf_bench_state_free(st);
        return -1;
    }
    const size_t old_limit = be->mem_limit();
    be->mem_limit_set(cfg->budget + held);
    out->rss_per_point = lf_bench_rss_peak_reset();
    int rc = -1;
    const double MiB = 1048576.0;
    const lf_plan *plan = lin ? &st->plan : NULL;

    if (be->mem_current() - held >= cfg->budget) {
        lf_bench_point_skip(out, "the weights alone take %.1f MiB of the %.1f MiB budget%s", "",
                            (be->mem_current() - held) / MiB, cfg->budget / MiB);
        rc = 0;
        goto done;
    }
    if (lin) {
        int64_t *ks = lf_alloc((size_t)c->num_hidden_layers * (size_t)c->num_attention_heads,
                               sizeof *ks);
        size_t failures = be->mem_failures();
        int prc = -1;
        if (ks) {
            for (int i = 0; i < c->num_hidden_layers * c->num_attention_heads; i++) ks[i] = cfg->k;
            prc = lf_plan_init(&st->plan, c->num_hidden_layers, c->num_attention_heads, n, ks,
                               LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, cfg->seed);
            lf_free(ks);
        }
        if (prc != 0) {
            if (be->mem_failures() == failures) goto done;
            lf_bench_point_skip(out, "the projection does not fit (%.0f of %.0f bytes): %s",
                                lf_error_get(), (double)(be->mem_current() - held),
                                (double)cfg->budget);
            rc = 0;
            goto done;
        }
    }
    if (be->setup) {
        size_t failures = be->mem_failures();
        if (be->setup(cfg, plan, &st->ctx) != 0) {
            if (be->mem_failures() == failures) goto done;
            lf_bench_point_skip(out, "the weights and projection do not fit the %.1f MiB budget "
                                "(%.1f MiB in use): %s",
                                lf_error_get(), cfg->budget / MiB,
                                (be->mem_current() - held) / MiB);
            rc = 0;
            goto done;
        }
    }
    out->fixed_bytes = be->mem_current() - held;
    be->mem_peak_reset();

    /* Batch 1: an upper bound of the memory of one sequence (it includes per-call
     * scratch); this forward is also the warm-up when the timed batch is 1. */
    double t_first, a_first;
    int tr = lf_bench_try(be, st->ctx, cfg, plan, 1, run, &t_first, &a_first);
    if (tr < 0) goto done;
    if (tr > 0) {
        lf_bench_point_skip(out, "one sequence does not fit the budget (fixed %.1f MiB, budget "
                            "%.1f MiB): %s",
                            lf_error_get(), out->fixed_bytes / MiB, cfg->budget / MiB);
        rc = 0;
        goto done;
    }
    st->live = 1;
    const size_t peak1 = be->mem_peak() - out->fixed_bytes - held;
    const size_t room = cfg->budget - out->fixed_bytes;
    out->seq_bytes = peak1 > 0 ? peak1 : 1;
    out->max_batch = (int64_t)(room / out->seq_bytes);
    LF_ASSERT(out->max_batch >= 1); /* batch 1 ran under the budget */
    int64_t want = cfg->batch_tokens / n;
    out->batch = want < 1 ? 1 : want > out->max_batch ? out->max_batch : want;

    if (out->batch != 1) {
        be->run_free(run);
        st->live = 0;
        be->mem_peak_reset();
        tr = lf_bench_try(be, st->ctx, cfg, plan, out->batch, run, &t_first, &a_first);
        if (tr < 0) goto done;
        if (tr > 0) {
            /* The bound above overstates each sequence, so this should not happen;
             * fall back to batch 1 rather than lose the point. */
            out->batch = 1;
            if (lf_bench_try(be, st->ctx, cfg, plan, 1, run, &t_first, &a_first) != 0) goto done;
        } else {
            lf_bench_point_slope(out, peak1, be->mem_peak() - out->fixed_bytes - held, out->batch,
                                 room);
        }
        st->live = 1;
    }
    out->peak_bytes = be->mem_peak() - held;
    if (be->device_used) {
        size_t now = lf_bench_device_used(be);
        out->device_bytes = now > device_entry ? now - device_entry : 0;
    }
    rc = 0;
done:
    be->mem_limit_set(old_limit);
    if (rc != 0)
        lf_error_prefix("%s: %s n=%lld k=%lld", fn, lf_bench_variant_name(cfg->variant),
                        (long long)n, (long long)(lin ? cfg->k : 0));
    if (rc != 0 || out->skipped) {
        lf_bench_state_free(st);
        if (rc == 0) lf_error_clear();
        return rc;
    }
    *stp = st;
    return 0;
}

int lf_bench_point_prepare(const lf_bench_point_cfg *cfg, lf_bench_point *out,
                           lf_bench_state **stp)
{
    return lf_bench_point_prepare_on(&lf_bench_backend_cpu, cfg, out, stp);
}

int lf_bench_point_time(lf_bench_state *st)
{
    if (!st || !st->live || st->done >= st->cfg.repeats)
        LF_FAIL("lf_bench_point_time: no point, or all %d forwards timed", st ? st->cfg.repeats : 0);
    double *t = st->times;
    int rc = st->be->forward(st->ctx, &st->cfg, st->run, &t[st->done],
                             &t[st->cfg.repeats + st->done]);
    if (rc != 0) {
        lf_error_prefix("lf_bench_point_time: %s n=%lld", lf_bench_variant_name(st->cfg.variant),
                        (long long)st->cfg.n);
        return -1;
    }
    st->done++;
    return 0;
}

int lf_bench_point_finish(lf_bench_state *st, lf_bench_point *out)
{
    const char *fn = "lf_bench_point_finish";
    if (!st || !out) LF_FAIL("%s: NULL state or result", fn);
    const lf_bench_backend *be = st->be;
    const lf_bench_point_cfg *cfg = &st->cfg;
    const int64_t n = cfg->n;
    int rc = -1;
    size_t old_limit = be->mem_limit();
    void *run = st->run;
    if (st->done != cfg->repeats || !st->live) {
        lf_error_set("%s: %d of %d forwards timed", fn, st->done, cfg->repeats);
        goto done;
    }
    {
        /* The high-water mark of the timed forwards is not separable from other held
         * points; peak_bytes is that of the batch-B warm-up in prepare (same buffers). */
        double *times = st->times, *attn_times = st->times + cfg->repeats;
        out->forward_seconds = lf_bench_median(times, cfg->repeats); /* sorts: [0] is the best */
        const double tokens = (double)out->batch * (double)n;
        out->time_best_per_token = times[0] / tokens;
        const double attn = lf_bench_median(attn_times, cfg->repeats);
        out->time_per_token = out->forward_seconds / tokens;
        out->attn_time_per_token = attn / tokens;
        out->attn_gflops =
            lf_bench_attention_flops(cfg->variant, &cfg->model->config, out->batch, n, cfg->k) /
            attn * 1e-9;
    }
    out->verified = out->batch == out->max_batch;
    be->run_free(run);
    st->live = 0;

    /* The largest batch itself, when that is cheap: it must run under the budget; if
     * it does not (it cannot, unless scratch grows faster than the batch), the
     * largest batch is lowered until one does. With a timed batch of 1 this run also
     * gives the memory per sequence as a difference of two batch sizes (the largest
     * batch is then not raised again). */
    const size_t held = lf_bench_held(be, out);
    const size_t peak1 = out->seq_bytes + out->scratch_bytes;
    const size_t room = cfg->budget - out->fixed_bytes;
    be->mem_limit_set(cfg->budget + held);
    while (!out->verified && cfg->verify_tokens > 0 && out->max_batch > out->batch &&
           out->max_batch * n <= cfg->verify_tokens) {
        double t, a;
        be->mem_peak_reset();
        int tr = lf_bench_try(be, st->ctx, cfg, cfg->variant == LF_BENCH_LINFORMER ? &st->plan : NULL,
                              out->max_batch, run, &t, &a);
        if (tr < 0) goto done;
        if (tr == 0) {
            be->run_free(run);
            out->verified = 1;
            if (!out->seq_exact) {
                int64_t keep = out->max_batch;
                lf_bench_point_slope(out, peak1, be->mem_peak() - out->fixed_bytes - held, keep,
                                     room);
                out->max_batch = keep;
            }
        } else {
            out->max_batch--;
        }
    }
    out->rss_peak_bytes = lf_bench_rss_peak();
    lf_error_clear();
    rc = 0;
done:
    be->mem_limit_set(old_limit);
    if (rc != 0)
        lf_error_prefix("%s: %s n=%lld", fn, lf_bench_variant_name(cfg->variant), (long long)n);
    lf_bench_state_free(st);
    return rc;
}

int lf_bench_run_point_on(const lf_bench_backend *be, const lf_bench_point_cfg *cfg,
                          lf_bench_point *out)
{
    lf_bench_state *st = NULL;
    LF_TRY(lf_bench_point_prepare_on(be, cfg, out, &st));
    if (!st) return 0; /* skipped */
    for (int i = 0; i < cfg->repeats; i++)
        if (lf_bench_point_time(st) != 0) {
            lf_bench_point_abort(st);
            return -1;
        }
    return lf_bench_point_finish(st, out);
}

int lf_bench_run_point(const lf_bench_point_cfg *cfg, lf_bench_point *out)
{
    return lf_bench_run_point_on(&lf_bench_backend_cpu, cfg, out);
}

#ifndef LF_BENCH_HAVE_CUDA_ENCODER
/* Stand-ins of a build without nvcc (effbench.h). */
int lf_bench_cuda_available(void)
{
    lf_error_set("--device cuda: built without the CUDA encoder (no nvcc, or NO_CUDA=1); "
                 "use --device cpu");
    return 0;
}

int lf_bench_run_point_cuda(const lf_bench_point_cfg *cfg, lf_bench_point *out)
{
    (void)cfg;
    (void)out;
    LF_FAIL("lf_bench_run_point_cuda: built without the CUDA encoder");
}

int lf_bench_sgemm_rate_cuda(int64_t m, double min_time, double *gflops)
{
    (void)m;
    (void)min_time;
    (void)gflops;
    LF_FAIL("lf_bench_sgemm_rate_cuda: built without the CUDA encoder");
}

const char *lf_bench_cuda_device_name(void) { return "none"; }
#endif
