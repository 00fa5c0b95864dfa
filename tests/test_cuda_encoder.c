/* test_cuda_encoder.c - the encoder forward on the GPU (lf_encoder_forward_cuda) against
 * the CPU lf_encoder_forward on the tiny BERT and RoBERTa fixtures (tests/data; erf and
 * tanh GELU, eps 1e-12 and 1e-5, BERT and RoBERTa positions) with padding, for every
 * attention: dense, streamed (fused kernel), streamed (cuBLAS tiles), and Linformer
 * against the CPU forward with a hook that runs lf_attention_linformer per (sequence,
 * head) under the same plan; and all-MiniLM-L6-v2 when data/ has it (make data).
 *
 * Tolerances: tests/test_encoder.c holds the CPU forward within 1e-5 absolute + 1e-5
 * relative of an independent float64 encoder on the tiny models (measured 1.8e-6) and
 * within 2e-5 + 2e-5 on MiniLM (measured 1.4e-6). The GPU forward does the same float32
 * operations in other orders (cuBLAS, block reductions), so it obeys the same bounds,
 * and the two differ by at most twice them: 2e-5 + 2e-5 relative (tiny), 4e-5 + 4e-5
 * (MiniLM). Linformer is the same chain of float32 operations with the same inner
 * dimensions (<= 64 on the tiny models), so the tiny-model bound applies to it too.
 *
 * Without a GPU, lf_encoder_forward_emulate runs the GPU forward's own code path with
 * every step emulated on the host (lf_cuda_emulate.h) against the CPU forward, same
 * tolerance. The plumbing of the CPU Linformer hook is itself checked without a GPU: with linear
 * projections equal to the identity (k = n) and no padding (a linear projection's slots
 * all count, so padded rows would add zero keys) Linformer attention is dense
 * attention, and the hooked CPU forward must equal the plain one within 2e-5 + 2e-5. */
#include <limits.h>
#include <stdlib.h>

#include "check.h"
#include "encoder.h"
#include "linformer.h"
#include "model.h"
#include "repo_path.h"
#include "rng.h"
#include "test_cuda_util.h"

static lf_model *load_tiny(int roberta)
{
    char cfg[PATH_MAX], st[PATH_MAX];
    if (!repo_path(roberta ? "tests/data/encoder_tiny_roberta_config.json"
                           : "tests/data/encoder_tiny_config.json",
                   cfg, sizeof cfg) ||
        !repo_path(roberta ? "tests/data/encoder_tiny_roberta.safetensors"
                           : "tests/data/encoder_tiny.safetensors",
                   st, sizeof st)) {
        CHECK_MSG(0, "tests/data fixtures not found");
        return NULL;
    }
    lf_model *m = lf_model_load_files(cfg, st, NULL);
    CHECK_MSG(m, "loading the tiny %s model: %s", roberta ? "RoBERTa" : "BERT", lf_error_get());
    return m;
}

/* Random ids (B, n); with pad, trailing padding: sequence b has n - 5 b real tokens. */
static void make_batch(const lf_model_config *c, int64_t B, int64_t n, uint64_t seed, int pad,
                       int32_t *ids, uint8_t *mask)
{
    lf_rng r;
    lf_rng_init(&r, seed, 0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < n; i++) {
            int real = !pad || i < n - 5 * b;
            int32_t id;
            do id = (int32_t)(lf_rng_uniform(&r) * c->vocab_size);
            while (id == c->pad_token_id || id >= c->vocab_size);
            ids[b * n + i] = real ? id : c->pad_token_id;
            mask[b * n + i] = (uint8_t)real;
        }
}

/* The CPU Linformer hook: lf_attention_linformer per (sequence, head) with the plan's
 * projections and k. */
typedef struct {
    const lf_plan *plan;
} lin_hook;

static int cpu_linformer(void *user, lf_encoder_attn *a)
{
    const lf_plan *pl = ((lin_hook *)user)->plan;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++) {
            const lf_proj *e = lf_plan_get(pl, a->layer, (int)h, 0), *f = lf_plan_get(pl, a->layer, (int)h, 1);
            int64_t kp = lf_plan_k(pl, a->layer, (int)h);
            if (!e || !f || kp < 1) return -1;
            if (lf_attention_linformer(lf_encoder_attn_head(a, a->q, b, h), lf_encoder_attn_head(a, a->k, b, h),
                                       lf_encoder_attn_head(a, a->v, b, h), a->mask ? a->mask + b * a->n : NULL,
                                       a->n, a->D, a->D, e, f, kp, NULL,
                                       (float *)lf_encoder_attn_head(a, a->out, b, h)) != 0)
                return -1;
        }
    return 0;
}

static int cpu_forward(const lf_model *m, const int32_t *ids, const uint8_t *mask, int64_t B, int64_t n,
                       const lf_plan *plan, float *hidden)
{
    lf_encoder_ws ws;
    lin_hook lh = {plan};
    lf_encoder_hooks hooks = {.attention = cpu_linformer, .user = &lh};
    int rc = lf_encoder_ws_init(&ws, m, B, n);
    if (rc == 0) rc = lf_encoder_forward_hooked(m, ids, mask, B, n, plan ? &hooks : NULL, hidden, NULL, &ws);
    lf_encoder_ws_free(&ws);
    CHECK_MSG(rc == 0, "CPU forward: %s", lf_error_get());
    return rc;
}

static void test_arguments(void)
{
    lf_model_cuda dm;
    lf_encoder_ws_cuda ws;
    int32_t id = 0;
    CHECK(lf_model_upload_cuda(NULL, &dm) == -1 && dm.params == NULL);
    CHECK(lf_model_upload_cuda(NULL, NULL) == -1);
    CHECK(lf_encoder_ws_init_cuda(&ws, NULL, 1, 4) == -1 && ws.x == NULL);
    CHECK(lf_encoder_forward_cuda(NULL, &id, NULL, 1, 1, NULL, NULL, &ws) == -1);
    CHECK(strstr(lf_error_get(), "NULL") != NULL);
    lf_encoder_ws_free_cuda(&ws);
    lf_model_free_cuda(&dm);
    CHECK(strcmp(lf_cuda_attn_name(LF_CUDA_ATTN_LINFORMER), "linformer") == 0);
    CHECK(strcmp(lf_cuda_attn_name((lf_cuda_attn)9), "unknown") == 0);
    lf_proj_cuda *pp = NULL;
    CHECK(lf_plan_upload_cuda(NULL, &pp) == -1 && pp == NULL);
}

/* An identity Linformer plan (linear, k = n, E = F = I, layerwise sharing). */
static int identity_plan(lf_plan *plan, int L, int H, int64_t n)
{
    int64_t *k = malloc((size_t)(L * H) * sizeof *k);
    for (int i = 0; i < L * H; i++) k[i] = n;
    int rc = lf_plan_init(plan, L, H, n, k, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 1);
    free(k);
    if (rc != 0) return rc;
    float *w = plan->proj[0].weights;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) w[i * n + j] = i == j ? 1.0f : 0.0f;
    return 0;
}

/* Without a GPU: the hooked CPU forward with identity projections equals the plain one. */
static void test_cpu_hook_identity(void)
{
    lf_model *m = load_tiny(0);
    if (!m) return;
    const lf_model_config *c = &m->config;
    const int64_t B = 3, n = 24, C = c->hidden_size;
    int32_t ids[3 * 24];
    uint8_t mask[3 * 24];
    make_batch(c, B, n, 3, 0, ids, mask); /* no padding: linear slots of padded rows would count */
    lf_plan plan;
    CHECK(identity_plan(&plan, c->num_hidden_layers, c->num_attention_heads, n) == 0);
    float *dense = malloc((size_t)(B * n * C) * 4), *lin = malloc((size_t)(B * n * C) * 4);
    if (cpu_forward(m, ids, mask, B, n, NULL, dense) == 0 && cpu_forward(m, ids, mask, B, n, &plan, lin) == 0) {
        double e = CHECK_ARRAYS("identity Linformer vs dense (CPU)", lin, dense, (size_t)(B * n * C), 2e-5, 2e-5);
        /* And the hook does run: a real projection (k = 8) changes the result. */
        lf_plan small;
        int64_t k8[64];
        for (int i = 0; i < c->num_hidden_layers * c->num_attention_heads; i++) k8[i] = 8;
        double diff = 0;
        if (lf_plan_init(&small, c->num_hidden_layers, c->num_attention_heads, n, k8, LF_SHARE_LAYERWISE,
                         LF_PROJ_LINEAR, 7) == 0 &&
            cpu_forward(m, ids, mask, B, n, &small, lin) == 0)
            for (int64_t i = 0; i < B * n * C; i++) diff = fmax(diff, fabs((double)lin[i] - dense[i]));
        CHECK_MSG(diff > 1e-2, "a k = 8 Linformer forward equals dense (%.3g): the hook did not run", diff);
        lf_plan_free(&small);
        check_notef("identity: max |diff| %.2e; k = 8: %.2e", e, diff);
    }
    lf_plan_free(&plan);
    free(dense), free(lin);
    lf_model_free(m);
}

/* The GPU forward with attention `at` against the CPU forward (plan for Linformer). */
static double compare(const lf_model *m, const lf_model_cuda *dm, int64_t B, int64_t n, lf_cuda_attn at,
                      const lf_plan *plan, double tol, uint64_t seed, const char *what)
{
    const lf_model_config *c = &m->config;
    const size_t total = (size_t)(B * n * c->hidden_size);
    int32_t *ids = malloc((size_t)(B * n) * 4);
    uint8_t *mask = malloc((size_t)(B * n));
    float *cpu = malloc(total * 4), *gpu = malloc(total * 4);
    make_batch(c, B, n, seed, 1, ids, mask);
    double e = -1;
    lf_proj_cuda *proj = NULL;
    lf_encoder_ws_cuda ws;
    if (cpu_forward(m, ids, mask, B, n, at == LF_CUDA_ATTN_LINFORMER ? plan : NULL, cpu) == 0 &&
        (!plan || at != LF_CUDA_ATTN_LINFORMER || lf_plan_upload_cuda(plan, &proj) == 0) &&
        lf_encoder_ws_init_cuda(&ws, dm, B, n) == 0) {
        lf_encoder_attn_cuda a = {.attn = at, .plan = plan, .proj = proj};
        int rc = lf_encoder_forward_cuda(dm, ids, mask, B, n, &a, gpu, &ws);
        CHECK_MSG(rc == 0, "%s: %s", what, lf_error_get());
        if (rc == 0) {
            char name[160];
            snprintf(name, sizeof name, "%s, %s attention", what, lf_cuda_attn_name(at));
            e = CHECK_ARRAYS(name, gpu, cpu, total, tol, tol);
        }
        lf_encoder_ws_free_cuda(&ws);
    } else {
        CHECK_MSG(0, "%s: setup failed: %s", what, lf_error_get());
    }
    if (proj) lf_plan_free_cuda(proj, plan->n_proj);
    free(ids), free(mask), free(cpu), free(gpu);
    return e;
}

/* Without a GPU: lf_encoder_forward_cuda's own code path with every step emulated on the
 * host, against the CPU forward (same tolerance), for every attention. */
static double compare_emulated(const lf_model *m, int64_t B, int64_t n, lf_cuda_attn at,
                               const lf_plan *plan, double tol, uint64_t seed, const char *what)
{
    const lf_model_config *c = &m->config;
    const size_t total = (size_t)(B * n * c->hidden_size);
    int32_t *ids = malloc((size_t)(B * n) * 4);
    uint8_t *mask = malloc((size_t)(B * n));
    float *cpu = malloc(total * 4), *emu = malloc(total * 4);
    lf_proj_cuda *hp = NULL;
    make_batch(c, B, n, seed, 1, ids, mask);
    double e = -1;
    if (plan) { /* host-weight views of the plan's projections */
        hp = calloc((size_t)plan->n_proj, sizeof *hp);
        for (int i = 0; i < plan->n_proj; i++) {
            const lf_proj *pr = &plan->proj[i];
            hp[i].kind = pr->kind, hp[i].k = pr->k, hp[i].n = pr->n, hp[i].window = pr->window;
            hp[i].weights = pr->weights;
        }
    }
    lf_encoder_attn_cuda a = {.attn = at, .plan = plan, .proj = hp};
    if (cpu_forward(m, ids, mask, B, n, at == LF_CUDA_ATTN_LINFORMER ? plan : NULL, cpu) == 0) {
        int rc = lf_encoder_forward_emulate(m, ids, mask, B, n, &a, emu);
        CHECK_MSG(rc == 0, "%s: %s", what, lf_error_get());
        if (rc == 0) {
            char name[160];
            snprintf(name, sizeof name, "emulated %s, %s attention", what, lf_cuda_attn_name(at));
            e = CHECK_ARRAYS(name, emu, cpu, total, tol, tol);
        }
    }
    free(hp), free(ids), free(mask), free(cpu), free(emu);
    return e;
}

static void test_tiny_models_emulated(void)
{
    double worst = 0;
    for (int roberta = 0; roberta < 2; roberta++) {
        lf_model *m = load_tiny(roberta);
        if (!m) return;
        const lf_model_config *c = &m->config;
        const int L = c->num_hidden_layers, H = c->num_attention_heads;
        const int64_t n = c->max_seq_len < 24 ? c->max_seq_len : 24;
        const char *name = roberta ? "tiny RoBERTa" : "tiny BERT";
        for (int at = 0; at < 3; at++)
            worst = fmax(worst, compare_emulated(m, 3, n, (lf_cuda_attn)at, NULL, 2e-5, 10 + (uint64_t)at, name));
        lf_plan plan;
        int64_t k8[64], k6[64];
        for (int i = 0; i < L * H; i++) k8[i] = 8, k6[i] = 6;
        if (lf_plan_init(&plan, L, H, n, k8, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 7) == 0) {
            worst = fmax(worst, compare_emulated(m, 3, n, LF_CUDA_ATTN_LINFORMER, &plan, 2e-5, 20, name));
            lf_plan_free(&plan);
        }
        if (lf_plan_init(&plan, L, H, n, k6, LF_SHARE_NONE, LF_PROJ_MEAN, 7) == 0) {
            worst = fmax(worst, compare_emulated(m, 3, n, LF_CUDA_ATTN_LINFORMER, &plan, 2e-5, 21, name));
            lf_plan_free(&plan);
        }
        lf_model_free(m);
    }
    check_notef("max |emulated - cpu| %.2e", worst);
}

static void test_tiny_models(void)
{
    double worst = 0;
    for (int roberta = 0; roberta < 2; roberta++) {
        lf_model *m = load_tiny(roberta);
        if (!m) return;
        lf_model_cuda dm;
        CHECK_MSG(lf_model_upload_cuda(m, &dm) == 0, "%s", lf_error_get());
        const lf_model_config *c = &m->config;
        const int L = c->num_hidden_layers, H = c->num_attention_heads;
        const int64_t n = c->max_seq_len < 24 ? c->max_seq_len : 24;
        const char *name = roberta ? "tiny RoBERTa" : "tiny BERT";
        for (int at = 0; at < 3; at++) {
            double e = compare(m, &dm, 3, n, (lf_cuda_attn)at, NULL, 2e-5, 10 + (uint64_t)at, name);
            worst = fmax(worst, e);
        }
        /* Linformer: linear (k = 8) under layerwise sharing, and mean pooling (k = 6). */
        lf_plan plan;
        int64_t k8[64], k6[64];
        for (int i = 0; i < L * H; i++) k8[i] = 8, k6[i] = 6;
        if (lf_plan_init(&plan, L, H, n, k8, LF_SHARE_LAYERWISE, LF_PROJ_LINEAR, 7) == 0) {
            worst = fmax(worst, compare(m, &dm, 3, n, LF_CUDA_ATTN_LINFORMER, &plan, 2e-5, 20, name));
            lf_plan_free(&plan);
        }
        if (lf_plan_init(&plan, L, H, n, k6, LF_SHARE_NONE, LF_PROJ_MEAN, 7) == 0) {
            worst = fmax(worst, compare(m, &dm, 3, n, LF_CUDA_ATTN_LINFORMER, &plan, 2e-5, 21, name));
            lf_plan_free(&plan);
        }
        lf_model_free_cuda(&dm);
        lf_model_free(m);
    }
    check_notef("max |gpu - cpu| %.2e", worst);
}

static void test_minilm(void)
{
    char dir[PATH_MAX];
    if (!repo_path("data/all-MiniLM-L6-v2", dir, sizeof dir)) {
        printf("SKIPPED test_minilm: data/all-MiniLM-L6-v2 not present (make data)\n");
        return;
    }
    lf_model *m = lf_model_load(dir);
    CHECK_MSG(m, "%s", lf_error_get());
    if (!m) return;
    lf_model_cuda dm;
    CHECK_MSG(lf_model_upload_cuda(m, &dm) == 0, "%s", lf_error_get());
    double e = compare(m, &dm, 2, 128, LF_CUDA_ATTN_DENSE, NULL, 4e-5, 30, "MiniLM");
    lf_model_free_cuda(&dm);
    lf_model_free(m);
    check_notef("max |gpu - cpu| %.2e", e);
}

int main(void)
{
    check_program = "test_cuda_encoder";
    RUN(test_arguments);
    RUN(test_cpu_hook_identity);
    RUN(test_tiny_models_emulated);
    if (tc_no_gpu(check_program)) return check_summary();
    RUN(test_tiny_models);
    RUN(test_minilm);
    lf_cuda_shutdown();
    return check_summary();
}
