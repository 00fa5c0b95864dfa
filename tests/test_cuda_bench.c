/* test_cuda_bench.c - the efficiency benchmark on the CUDA device (core/cuda/effbench_cuda.cu)
 * and what it adds to the backend: the device memory accounting of lf_cuda_alloc (bytes in
 * use, high-water mark, budget, refusals), and the encoder forward's kept probabilities
 * and attention timing (lf_encoder_attn_cuda.probs / .seconds).
 *
 * Without a GPU (checked here):
 *   - the budget refuses an allocation before cudaMalloc and counts it; an allocation
 *     that fails for want of a device is not counted as "did not fit";
 *   - lf_bench_cuda_available says "no CUDA device", lf_bench_run_point_cuda fails
 *     cleanly (what bin/bench --device cuda relies on);
 *   - the GPU forward's own code path, emulated on the host, with the bench's variants
 *     (dense with P kept, Linformer with Pbar kept; a layerwise plan, whose heads run
 *     as one batched call, and a plan without sharing, head by head): its final hidden
 *     states AND the kept probabilities of the last layer against the CPU forward
 *     hooked with the CPU benchmark's own attention (lf_bench_attention, the variant
 *     definitions of effbench.h, with its probs buffer of the same layout).
 *     Tolerance 2e-5 absolute + 2e-5 relative, as tests/test_cuda_encoder.c (same
 *     float32 operations in other orders; hidden states measured ~1e-6 here; P entries
 *     lie in [0, 1] and come from the same scores, so the same bound holds for them).
 *     Rows of the kept P sum to 1 within 1e-5 (n <= 48 float32 terms: <= 48 u ~ 3e-6).
 *     A buffer one float too small is refused.
 * With a GPU: the same comparisons on the device, lf_cuda_alloc's counters on real
 * allocations (and a refused 1 PiB cudaMalloc counted as an out-of-memory), the
 * attention time positive and at most the forward's, and lf_bench_run_point_cuda on a
 * tiny point for each variant: fields sane (times positive, fastest <= median,
 * attention <= forward, batches, fixed >= the weights, peak >= fixed + a sequence),
 * memory per sequence from two batch sizes, whose differences are exact in this
 * accounting (every buffer of a run is a fixed size times the batch): dense - streamed
 * = H n^2 floats (P), linformer - streamed = H n k floats (Pbar); a budget too small
 * for one sequence skips the point with the reason; the cuBLAS sgemm rate is positive.
 * No timing is asserted beyond signs and orderings that hold by construction. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "effbench.h"
#include "encoder.h"
#include "mem.h"
#include "model.h"
#include "test_cuda_util.h"

#define L_ 2
#define H_ 4
#define C_ 32
#define N_ 48
#define B_ 2
#define K_ 12

static lf_model *tiny_model(void)
{
    lf_model_config c;
    if (lf_model_config_bert(&c, L_, H_, C_, 64) != 0) {
        CHECK_MSG(0, "config: %s", lf_error_get());
        return NULL;
    }
    lf_model *m = lf_model_random(&c, 5);
    CHECK_MSG(m, "random model: %s", lf_error_get());
    return m;
}

static int tiny_plan(lf_plan *plan, lf_sharing share)
{
    int64_t ks[L_ * H_];
    for (int i = 0; i < L_ * H_; i++) ks[i] = K_;
    int rc = lf_plan_init(plan, L_, H_, N_, ks, share, LF_PROJ_LINEAR, 9);
    CHECK_MSG(rc == 0, "plan: %s", lf_error_get());
    return rc;
}

/* The benchmark's tokens (lf_bench_tokens, as a point of seed 4 has them). */
static void tiny_ids(const lf_model *m, int32_t *ids)
{
    lf_bench_point_cfg cfg = {.model = m, .seed = 4};
    lf_bench_tokens(&cfg, (size_t)B_ * N_, ids);
}

/* The CPU reference: lf_bench_attention (effbench.c) as the encoder's hook, keeping the
 * last layer's probabilities in probs (B, H, n, m). */
static int cpu_reference(const lf_model *m, const int32_t *ids, lf_bench_variant v,
                         const lf_plan *plan, float *hidden, float *probs)
{
    const int64_t cols = v == LF_BENCH_DENSE ? N_ : K_;
    lf_bench_attn at = {.variant = v, .plan = plan, .probs = probs, .probs_batch = B_,
                        .probs_stride = N_ * cols};
    lf_encoder_hooks hooks = {.attention = lf_bench_attention, .user = &at};
    lf_encoder_ws ws;
    int rc = lf_encoder_ws_init(&ws, m, B_, N_);
    if (rc == 0) rc = lf_encoder_forward_hooked(m, ids, NULL, B_, N_, &hooks, hidden, NULL, &ws);
    lf_encoder_ws_free(&ws);
    CHECK_MSG(rc == 0, "CPU reference: %s", lf_error_get());
    return rc;
}

static void check_rows(const char *what, const float *p, size_t rows, int64_t cols)
{
    double worst = 0;
    int negative = 0;
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t j = 0; j < cols; j++) {
            s += p[r * (size_t)cols + (size_t)j];
            negative |= p[r * (size_t)cols + (size_t)j] < 0;
        }
        worst = fmax(worst, fabs(s - 1));
    }
    CHECK_MSG(worst <= 1e-5 && !negative, "%s: rows of P sum to 1 within %.3g (bound 1e-5), "
              "negative entries: %d", what, worst, negative);
}

/* Hidden states and kept probabilities of the GPU forward (device = 1) or its host
 * emulation against the CPU reference, for dense and Linformer; share: the plan's
 * sharing (layerwise: every head of a layer in one batched call; none: head by head). */
static void compare_variants(int device, lf_sharing share)
{
    lf_model *m = tiny_model();
    lf_plan plan;
    if (!m || tiny_plan(&plan, share) != 0) {
        lf_model_free(m);
        return;
    }
    int32_t ids[B_ * N_];
    tiny_ids(m, ids);
    const size_t hid = (size_t)B_ * N_ * C_;
    float *ref = malloc(hid * 4), *got = malloc(hid * 4), *plain = malloc(hid * 4);
    lf_model_cuda dm = {0};
    lf_proj_cuda *proj = NULL;
    if (device && (lf_model_upload_cuda(m, &dm) != 0 || lf_plan_upload_cuda(&plan, &proj) != 0))
        tc_fatal("upload");
    lf_proj_cuda *hp = calloc((size_t)plan.n_proj, sizeof *hp); /* host views (emulation) */
    for (int i = 0; i < plan.n_proj; i++) {
        const lf_proj *pr = &plan.proj[i];
        hp[i] = (lf_proj_cuda){pr->kind, pr->k, pr->n, pr->window, pr->weights};
    }
    for (int vi = 0; vi < 2; vi++) {
        const lf_bench_variant v = vi ? LF_BENCH_LINFORMER : LF_BENCH_DENSE;
        const int64_t cols = vi ? K_ : N_;
        const size_t pn = (size_t)B_ * H_ * N_ * (size_t)cols;
        float *pref = malloc(pn * 4), *pgot = malloc(pn * 4);
        char name[64];
        snprintf(name, sizeof name, "%s%s", lf_bench_variant_name(v),
                 vi && share == LF_SHARE_NONE ? " (no sharing)" : "");
        if (cpu_reference(m, ids, v, &plan, ref, pref) != 0) goto next;
        double secs = 0;
        lf_encoder_attn_cuda at = {.attn = vi ? LF_CUDA_ATTN_LINFORMER : LF_CUDA_ATTN_DENSE,
                                   .plan = &plan, .proj = device ? proj : hp,
                                   .probs_floats = pn, .seconds = &secs};
        int rc;
        if (device) {
            float *dp = tc_dev(pn, 4);
            lf_encoder_ws_cuda ws;
            if (lf_encoder_ws_init_cuda(&ws, &dm, B_, N_) != 0) tc_fatal("workspace");
            at.probs = dp;
            at.probs_floats = pn - 1;
            CHECK(lf_encoder_forward_cuda(&dm, ids, NULL, B_, N_, &at, got, &ws) == -1 &&
                  strstr(lf_error_get(), "probability buffer") != NULL);
            at.probs_floats = pn;
            rc = lf_encoder_forward_cuda(&dm, ids, NULL, B_, N_, &at, got, &ws);
            if (rc == 0) tc_down(pgot, dp, pn, 4);
            lf_encoder_attn_cuda no_probs = {.attn = at.attn, .plan = &plan, .proj = proj};
            if (rc == 0) rc = lf_encoder_forward_cuda(&dm, ids, NULL, B_, N_, &no_probs, plain, &ws);
            lf_encoder_ws_free_cuda(&ws);
            lf_cuda_free(dp);
        } else {
            at.probs = pgot;
            at.probs_floats = pn - 1;
            CHECK(lf_encoder_forward_emulate(m, ids, NULL, B_, N_, &at, got) == -1 &&
                  strstr(lf_error_get(), "probability buffer") != NULL);
            at.probs_floats = pn;
            for (size_t i = 0; i < pn; i++) pgot[i] = NAN;
            rc = lf_encoder_forward_emulate(m, ids, NULL, B_, N_, &at, got);
            lf_encoder_attn_cuda no_probs = {.attn = at.attn, .plan = &plan, .proj = hp};
            if (rc == 0) rc = lf_encoder_forward_emulate(m, ids, NULL, B_, N_, &no_probs, plain);
        }
        CHECK_MSG(rc == 0, "%s forward: %s", name, lf_error_get());
        if (rc == 0) {
            char what[128];
            snprintf(what, sizeof what, "%s %s: hidden states", device ? "GPU" : "emulated", name);
            double eh = CHECK_ARRAYS(what, got, ref, hid, 2e-5, 2e-5);
            snprintf(what, sizeof what, "%s %s: kept P of the last layer", device ? "GPU" : "emulated", name);
            double ep = CHECK_ARRAYS(what, pgot, pref, pn, 2e-5, 2e-5);
            check_rows(what, pgot, pn / (size_t)cols, cols);
            snprintf(what, sizeof what, "%s %s: with and without kept P", device ? "GPU" : "emulated", name);
            CHECK_ARRAYS(what, got, plain, hid, 2e-5, 2e-5);
            CHECK_MSG(secs > 0 && isfinite(secs), "%s: attention time %g s", name, secs);
            check_notef("%s %s: hidden max |diff| %.2e, P %.2e, attention %.3g ms",
                        device ? "GPU" : "emulated", name, eh, ep, secs * 1e3);
        }
    next:
        free(pref), free(pgot);
    }
    free(hp);
    if (device) {
        lf_plan_free_cuda(proj, plan.n_proj);
        lf_model_free_cuda(&dm);
    }
    free(ref), free(got), free(plain);
    lf_plan_free(&plan);
    lf_model_free(m);
}

static void test_emulated(void)
{
    compare_variants(0, LF_SHARE_LAYERWISE);
    compare_variants(0, LF_SHARE_NONE);
}
static void test_gpu_forward(void)
{
    compare_variants(1, LF_SHARE_LAYERWISE);
    compare_variants(1, LF_SHARE_NONE);
}

/* The budget is checked before cudaMalloc, so this part needs no GPU. */
static void test_accounting_budget(void)
{
    const size_t cur = lf_cuda_mem_current(), fails = lf_cuda_mem_failures();
    CHECK(lf_cuda_mem_limit() == 0);
    lf_cuda_mem_limit_set(cur + 1000);
    CHECK(lf_cuda_alloc(2000) == NULL);
    CHECK(strstr(lf_error_get(), "device memory budget") != NULL);
    CHECK(lf_cuda_mem_failures() == fails + 1);
    CHECK(lf_cuda_mem_current() == cur);
    lf_cuda_mem_limit_set(0);
    CHECK(lf_cuda_alloc(0) == NULL && lf_cuda_mem_failures() == fails + 1);
}

static void test_no_gpu(void)
{
    const size_t fails = lf_cuda_mem_failures();
    CHECK(lf_cuda_alloc(100) == NULL);
    CHECK_MSG(lf_cuda_mem_failures() == fails, "a missing device counted as an out-of-memory");
    CHECK(lf_cuda_mem_current() == 0 && lf_cuda_mem_peak() == 0);
    CHECK(lf_bench_cuda_available() == 0);
    CHECK(strstr(lf_error_get(), "no CUDA device") != NULL);
    lf_model *m = tiny_model();
    lf_bench_point_cfg cfg = {.model = m, .variant = LF_BENCH_DENSE, .n = 16, .budget = 1 << 26,
                              .batch_tokens = 64, .repeats = 1};
    lf_bench_point pt;
    CHECK(lf_bench_run_point_cuda(&cfg, &pt) == -1);
    CHECK(strstr(lf_error_get(), "no CUDA device") != NULL);
    CHECK(lf_bench_run_point_cuda(NULL, &pt) == -1);
    double g = 1;
    CHECK(lf_bench_sgemm_rate_cuda(64, 0, &g) == -1);
    lf_model_free(m);
}

static void test_gpu_accounting(void)
{
    const size_t cur = lf_cuda_mem_current();
    lf_cuda_mem_peak_reset();
    void *a = lf_cuda_alloc(1000), *b = lf_cuda_alloc(3000);
    CHECK(a && b);
    CHECK(lf_cuda_mem_current() == cur + 4000 && lf_cuda_mem_peak() == cur + 4000);
    lf_cuda_free(a);
    CHECK(lf_cuda_mem_current() == cur + 3000 && lf_cuda_mem_peak() == cur + 4000);
    lf_cuda_mem_peak_reset();
    CHECK(lf_cuda_mem_peak() == cur + 3000);
    lf_cuda_free(b);
    CHECK(lf_cuda_mem_current() == cur);
    const size_t fails = lf_cuda_mem_failures();
    CHECK(lf_cuda_alloc((size_t)1 << 50) == NULL); /* 1 PiB: cudaMalloc's out-of-memory */
    CHECK_MSG(lf_cuda_mem_failures() == fails + 1, "failures %zu -> %zu: %s", fails,
              lf_cuda_mem_failures(), lf_error_get());
    CHECK(lf_cuda_mem_current() == cur);
    CHECK(lf_cuda_sync() == 0); /* the refused allocation left no sticky error */
}

static void test_gpu_points(void)
{
    CHECK_MSG(lf_bench_cuda_available() == 1, "%s", lf_error_get());
    lf_model *m = tiny_model();
    if (!m) return;
    const size_t weights = (size_t)m->num_params * sizeof(float);
    lf_bench_point pt[3];
    const size_t budget = (size_t)64 << 20;
    for (int v = 0; v < 3; v++) {
        lf_bench_point_cfg cfg = {.model = m, .variant = (lf_bench_variant)v, .n = N_, .k = K_,
                                  .budget = budget, .batch_tokens = 4 * N_,
                                  .verify_tokens = 1 << 20, .repeats = 3, .seed = 2};
        lf_bench_point *p = &pt[v];
        const char *name = lf_bench_variant_name((lf_bench_variant)v);
        int rc = lf_bench_run_point_cuda(&cfg, p);
        CHECK_MSG(rc == 0 && !p->skipped, "%s: rc %d, %s", name, rc, rc ? lf_error_get() : p->reason);
        if (rc != 0 || p->skipped) continue;
        CHECK_MSG(p->time_per_token > 0 && isfinite(p->time_per_token) &&
                  p->time_best_per_token > 0 && p->time_best_per_token <= p->time_per_token &&
                  p->forward_seconds > 0,
                  "%s: times %g %g %g", name, p->time_per_token, p->time_best_per_token,
                  p->forward_seconds);
        CHECK_MSG(p->attn_time_per_token > 0 && p->attn_time_per_token <= p->time_per_token &&
                  p->attn_gflops > 0,
                  "%s: attention %g s/token of %g, %g GFLOP/s", name, p->attn_time_per_token,
                  p->time_per_token, p->attn_gflops);
        CHECK_MSG(p->batch == 4 && p->max_batch >= p->batch && p->seq_exact,
                  "%s: batch %lld, max %lld, exact %d", name, (long long)p->batch,
                  (long long)p->max_batch, p->seq_exact);
        CHECK_MSG(p->fixed_bytes >= weights && p->seq_bytes > 0 &&
                  p->peak_bytes >= p->fixed_bytes + p->seq_bytes && p->budget_bytes == budget &&
                  p->device_bytes > 0,
                  "%s: fixed %zu (weights %zu), per sequence %zu, peak %zu, budget %zu, device %zu",
                  name, p->fixed_bytes, weights, p->seq_bytes, p->peak_bytes, p->budget_bytes,
                  p->device_bytes);
        CHECK_MSG(p->verified, "%s: largest batch %lld (%lld tokens) not run", name,
                  (long long)p->max_batch, (long long)(p->max_batch * N_));
        check_notef("%s: %.3f us/token, %zu bytes/sequence, max batch %lld", name,
                    p->time_per_token * 1e6, p->seq_bytes, (long long)p->max_batch);
    }
    if (!pt[0].skipped && !pt[1].skipped && !pt[2].skipped) {
        CHECK_MSG(pt[0].seq_bytes - pt[1].seq_bytes == (size_t)H_ * N_ * N_ * 4,
                  "dense - streamed = %zu bytes per sequence, H n^2 floats = %d",
                  pt[0].seq_bytes - pt[1].seq_bytes, H_ * N_ * N_ * 4);
        CHECK_MSG(pt[2].seq_bytes - pt[1].seq_bytes == (size_t)H_ * N_ * K_ * 4,
                  "linformer - streamed = %zu bytes per sequence, H n k floats = %d",
                  pt[2].seq_bytes - pt[1].seq_bytes, H_ * N_ * K_ * 4);
        /* Room for the weights and half a sequence: skipped, with the reason. */
        lf_bench_point_cfg cfg = {.model = m, .variant = LF_BENCH_DENSE, .n = N_,
                                  .budget = pt[0].fixed_bytes + pt[0].seq_bytes / 2,
                                  .batch_tokens = N_, .repeats = 1};
        lf_bench_point s;
        int rc = lf_bench_run_point_cuda(&cfg, &s);
        CHECK_MSG(rc == 0 && s.skipped && strstr(s.reason, "does not fit"), "rc %d skipped %d: %s",
                  rc, s.skipped, rc ? lf_error_get() : s.reason);
        CHECK(lf_cuda_mem_limit() == 0);
    }
    CHECK(lf_cuda_mem_current() == 0); /* every point freed what it allocated */
    double g = 0;
    CHECK_MSG(lf_bench_sgemm_rate_cuda(256, 0, &g) == 0 && g > 0 && isfinite(g), "sgemm: %s",
              lf_error_get());
    lf_model_free(m);
}

int main(void)
{
    check_program = "test_cuda_bench";
    RUN(test_accounting_budget);
    RUN(test_emulated);
    if (tc_no_gpu("test_cuda_bench")) {
        RUN(test_no_gpu);
        return check_summary();
    }
    RUN(test_gpu_accounting);
    RUN(test_gpu_forward);
    RUN(test_gpu_points);
    lf_cuda_shutdown();
    return check_summary();
}
