// effbench_cuda.cu - the efficiency benchmark (effbench.h) on the CUDA device: the backend
// that runs the shared point measurement (lf_bench_run_point_on) with the encoder forward
// of encoder_cuda.cu and the device memory accounting of runtime_cuda.cu, the device's
// availability, and the cuBLAS sgemm rate that attention rates are compared with.
//
// Per point: setup uploads the model (and the Linformer plan's projections) under the
// budget; a run holds the host token ids, the encoder workspace on the device and, for
// dense and Linformer, the (B, H, n, n) / (B, H, n, k) probability buffer; a forward is
// lf_encoder_forward_cuda (ids uploaded, result left on the device) followed by
// lf_cuda_sync, timed by the host clock, its attention by CUDA events.
#include <string.h>

#include "cuda_util.h"
extern "C" {
#include "bench.h"
#include "effbench.h"
#include "mem.h"
#include "progress.h"
#include "rng.h"
}

// Device memory left to the CUDA libraries when the budget is lowered to the free memory:
// cuBLAS's workspace (up to 32 MiB per handle on Hopper) and the allocation granularity
// of the buffers (2 MiB pages) are outside lf_cuda_alloc's accounting.
static const size_t kReserve = (size_t)256 << 20;

// ---- the backend -----------------------------------------------------------------------

struct lf_bench_cuda_ctx {
    lf_model_cuda model;
    const lf_plan *plan; // host plan (linformer) or NULL
    lf_proj_cuda *proj;  // its projections on the device
    int n_proj;
};

struct lf_bench_cuda_run {
    int64_t B, n;
    int32_t *ids; // host, B n
    lf_encoder_ws_cuda ws;
    int ws_live;
    float *probs; // device, probs_floats
    size_t probs_floats;
};

static void lf_bcuda_teardown(void *p)
{
    lf_bench_cuda_ctx *c = (lf_bench_cuda_ctx *)p;
    if (!c) return;
    lf_plan_free_cuda(c->proj, c->n_proj);
    lf_model_free_cuda(&c->model);
    free(c);
}

static int lf_bcuda_setup(const lf_bench_point_cfg *cfg, const lf_plan *plan, void **out)
{
    *out = NULL;
    lf_bench_cuda_ctx *c = (lf_bench_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) LF_FAIL("lf_bench_run_point_cuda: out of host memory");
    if (lf_model_upload_cuda(cfg->model, &c->model) != 0) {
        lf_error_prefix("the weights");
        free(c);
        return -1;
    }
    c->plan = plan;
    if (plan) {
        if (lf_plan_upload_cuda(plan, &c->proj) != 0) {
            lf_error_prefix("the projection");
            lf_bcuda_teardown(c);
            return -1;
        }
        c->n_proj = plan->n_proj;
    }
    *out = c;
    return 0;
}

static void lf_bcuda_run_free(void *p)
{
    lf_bench_cuda_run *r = (lf_bench_cuda_run *)p;
    lf_cuda_free(r->probs);
    if (r->ws_live) lf_encoder_ws_free_cuda(&r->ws);
    lf_free(r->ids);
    memset(r, 0, sizeof *r);
}

static int lf_bcuda_run_init(void *ctx, const lf_bench_point_cfg *cfg, const lf_plan *plan,
                             int64_t B, void *p)
{
    (void)plan; // the context holds it with its device projections
    lf_bench_cuda_ctx *c = (lf_bench_cuda_ctx *)ctx;
    lf_bench_cuda_run *r = (lf_bench_cuda_run *)p;
    memset(r, 0, sizeof *r);
    r->B = B;
    r->n = cfg->n;
    size_t count, bytes;
    int64_t dims[2] = {B, cfg->n};
    if (lf_size_dims(2, dims, &count) != 0) return -1;
    if (!(r->ids = (int32_t *)lf_alloc(count, sizeof *r->ids))) return -1;
    lf_bench_tokens(cfg, count, r->ids);
    if (lf_encoder_ws_init_cuda(&r->ws, &c->model, B, cfg->n) != 0) goto fail;
    r->ws_live = 1;
    if (lf_bench_probs_count(cfg, B, &count) != 0 || lf_size_mul(count, sizeof(float), &bytes) != 0)
        goto fail;
    if (count > 0) {
        if (!(r->probs = (float *)lf_cuda_alloc(bytes))) {
            lf_error_prefix("attention probabilities of %lld sequences", (long long)B);
            goto fail;
        }
        r->probs_floats = count;
    }
    return 0;
fail:
    lf_bcuda_run_free(r);
    return -1;
}

static lf_cuda_attn lf_bcuda_attn(lf_bench_variant v)
{
    return v == LF_BENCH_DENSE       ? LF_CUDA_ATTN_DENSE
           : v == LF_BENCH_STREAMED  ? LF_CUDA_ATTN_STREAMED
                                     : LF_CUDA_ATTN_LINFORMER;
}

static int lf_bcuda_forward(void *ctx, const lf_bench_point_cfg *cfg, void *p, double *seconds,
                            double *attn_seconds)
{
    lf_bench_cuda_ctx *c = (lf_bench_cuda_ctx *)ctx;
    lf_bench_cuda_run *r = (lf_bench_cuda_run *)p;
    double attn = 0;
    lf_encoder_attn_cuda at = {lf_bcuda_attn(cfg->variant), c->plan, c->proj, r->probs,
                               r->probs_floats, &attn};
    const double t0 = lf_now();
    int rc = lf_encoder_forward_cuda(&c->model, r->ids, NULL, r->B, r->n, &at, NULL, &r->ws);
    if (rc == 0) rc = lf_cuda_sync();
    *seconds = lf_now() - t0;
    *attn_seconds = attn;
    return rc;
}

static size_t lf_bcuda_device_used(void)
{
    size_t free_b = 0, total = 0;
    if (lf_cuda_mem_info(&free_b, &total) != 0) {
        lf_error_clear();
        return 0;
    }
    return total > free_b ? total - free_b : 0;
}

static const lf_bench_backend lf_bench_backend_cuda = {
    "cuda",
    sizeof(lf_bench_cuda_run),
    lf_cuda_mem_current,
    lf_cuda_mem_peak,
    lf_cuda_mem_peak_reset,
    lf_cuda_mem_limit,
    lf_cuda_mem_limit_set,
    lf_cuda_mem_failures,
    lf_bcuda_setup,
    lf_bcuda_teardown,
    lf_bcuda_run_init,
    lf_bcuda_forward,
    lf_bcuda_run_free,
    lf_bcuda_device_used,
};

// ---- the interface of effbench.h -------------------------------------------------------

extern "C" int lf_bench_cuda_available(void)
{
    if (lf_cuda_device_count() < 1) {
        lf_error_set("--device cuda: no CUDA device (cudaGetDeviceCount finds none: no GPU, or "
                     "no driver); use --device cpu");
        return 0;
    }
    size_t free_b, total;
    if (lf_cuda_mem_info(&free_b, &total) != 0) {
        lf_error_prefix("--device cuda: device %s is not usable", lf_cuda_device_name());
        return 0;
    }
    return 1;
}

extern "C" const char *lf_bench_cuda_device_name(void) { return lf_cuda_device_name(); }

extern "C" int lf_bench_run_point_cuda(const lf_bench_point_cfg *cfg, lf_bench_point *out)
{
    const char *fn = "lf_bench_run_point_cuda";
    if (!cfg || !out) LF_FAIL("%s: NULL configuration or result", fn);
    if (lf_cuda_device_count() < 1) LF_FAIL("%s: no CUDA device", fn);
    size_t free_b, total;
    if (lf_cuda_mem_info(&free_b, &total) != 0) {
        lf_error_prefix("%s", fn);
        return -1;
    }
    // What this point may have: the budget, at most what the device has free (with the
    // libraries' reserve) plus what lf_cuda_alloc already holds (charged to the point).
    lf_bench_point_cfg c = *cfg;
    c.base_bytes = 0;
    const size_t cap = lf_cuda_mem_current() + (free_b > kReserve ? free_b - kReserve : 0);
    if (c.budget > cap) c.budget = cap;
    if (c.budget == 0) {
        memset(out, 0, sizeof *out);
        out->skipped = 1;
        snprintf(out->reason, sizeof out->reason,
                 "the device has %.1f MiB free, less than the %.0f MiB reserve",
                 (double)free_b / 1048576.0, (double)kReserve / 1048576.0);
        return 0;
    }
    return lf_bench_run_point_on(&lf_bench_backend_cuda, &c, out);
}

extern "C" int lf_bench_sgemm_rate_cuda(int64_t m, double min_time, double *gflops)
{
    const char *fn = "lf_bench_sgemm_rate_cuda";
    if (!gflops || m < 1 || m > 32768) LF_FAIL("%s: m = %lld outside [1, 32768]", fn, (long long)m);
    *gflops = 0;
    const size_t count = (size_t)m * (size_t)m, bytes = count * sizeof(float);
    float *h = (float *)lf_alloc(count, sizeof(float));
    float *a = NULL, *b = NULL, *c = NULL;
    int rc = -1;
    if (!h) return -1;
    {
        lf_rng rng;
        lf_rng_init(&rng, 12345, 0);
        for (size_t i = 0; i < count; i++) h[i] = (float)(lf_rng_uniform(&rng) - 0.5);
    }
    if (!(a = (float *)lf_cuda_alloc(bytes)) || !(b = (float *)lf_cuda_alloc(bytes)) ||
        !(c = (float *)lf_cuda_alloc(bytes)) || lf_cuda_upload(a, h, bytes) != 0 ||
        lf_cuda_upload(b, h, bytes) != 0)
        goto done;
    // One warm-up, then the best of at least 5 products and min_time seconds (at most 200).
    if (lf_sgemm_cuda(0, 0, m, m, m, 1.0f, a, m, b, m, 0.0f, c, m) != 0 || lf_cuda_sync() != 0)
        goto done;
    {
        double best = INFINITY, spent = 0;
        for (int i = 0; i < 200 && (i < 5 || spent < min_time); i++) {
            const double t0 = lf_now();
            if (lf_sgemm_cuda(0, 0, m, m, m, 1.0f, a, m, b, m, 0.0f, c, m) != 0 ||
                lf_cuda_sync() != 0)
                goto done;
            const double t = lf_now() - t0;
            spent += t;
            if (t < best) best = t;
        }
        *gflops = 2.0 * (double)m * (double)m * (double)m / best * 1e-9;
    }
    rc = 0;
done:
    if (rc != 0) lf_error_prefix("%s: %lld^3", fn, (long long)m);
    lf_cuda_free(c);
    lf_cuda_free(b);
    lf_cuda_free(a);
    lf_free(h);
    return rc;
}
