// linformer_cuda.cu - Linformer attention for one head on the GPU, twin of
// lf_attention_linformer (core/linformer.c): Kbar = E K, Vbar = F V (lf_proj_apply_cuda),
// a slot counts only if both projections saw a real token, then projected attention.
#include "cuda_util.h"

__global__ void slots_and_kernel(uint8_t *slots, const uint8_t *slots_v, int64_t kp)
{
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < kp;
         j += (int64_t)gridDim.x * blockDim.x)
        slots[j] = slots[j] && slots_v[j];
}

extern "C" int lf_attention_linformer_ws_cuda(const float *q, const float *k, const float *v,
                                              const uint8_t *mask, int64_t n, int64_t d,
                                              int64_t dv, const lf_proj_cuda *e,
                                              const lf_proj_cuda *f, int64_t kp, float *p,
                                              float *out, float *kb, float *vb, uint8_t *slots)
{
    const char *fn = "lf_attention_linformer_cuda";
    if (!e || !f) LF_FAIL("%s: NULL projection", fn);
    if (kp < 1 || kp > e->k || kp > f->k)
        LF_FAIL("%s: kp = %lld is out of range 1..%lld", fn, (long long)kp,
                (long long)(e->k < f->k ? e->k : f->k));
    if (!kb || !vb || !slots) LF_FAIL("%s: NULL scratch", fn);
    if (lf_proj_apply_cuda(e, kp, k, n, d, mask, kb, slots) != 0 ||
        lf_proj_apply_cuda(f, kp, v, n, dv, mask, vb, slots + kp) != 0) {
        lf_error_prefix("%s", fn);
        return -1;
    }
    slots_and_kernel<<<(unsigned)((kp + 255) / 256 > 65535 ? 65535 : (kp + 255) / 256), 256>>>(
        slots, slots + kp, kp);
    LF_CUDA_LAUNCHED();
    return lf_attention_projected_cuda(q, kb, vb, slots, n, kp, d, dv, p, out);
}

extern "C" int lf_attention_linformer_cuda(const float *q, const float *k, const float *v,
                                           const uint8_t *mask, int64_t n, int64_t d, int64_t dv,
                                           const lf_proj_cuda *e, const lf_proj_cuda *f,
                                           int64_t kp, float *p, float *out)
{
    float *kb = NULL, *vb = NULL;
    uint8_t *slots = NULL;
    int rc = -1;
    if (kp < 1) LF_FAIL("lf_attention_linformer_cuda: kp = %lld must be positive", (long long)kp);
    if ((kb = (float *)lf_cuda_alloc((size_t)kp * (size_t)d * sizeof(float))) &&
        (vb = (float *)lf_cuda_alloc((size_t)kp * (size_t)dv * sizeof(float))) &&
        (slots = (uint8_t *)lf_cuda_alloc(2 * (size_t)kp)))
        rc = lf_attention_linformer_ws_cuda(q, k, v, mask, n, d, dv, e, f, kp, p, out, kb, vb, slots);
    if (lf_cuda_release(slots) != 0) rc = -1; // waits for the work that reads the scratch
    lf_cuda_free(vb);
    lf_cuda_free(kb);
    return rc;
}

extern "C" int lf_plan_upload_cuda(const lf_plan *plan, lf_proj_cuda **out)
{
    if (!out) LF_FAIL("lf_plan_upload_cuda: NULL output");
    *out = NULL;
    if (!plan || plan->n_proj < 1 || !plan->proj) LF_FAIL("lf_plan_upload_cuda: empty plan");
    lf_proj_cuda *dp = (lf_proj_cuda *)calloc((size_t)plan->n_proj, sizeof *dp);
    if (!dp) LF_FAIL("lf_plan_upload_cuda: out of memory for %d projections", plan->n_proj);
    for (int i = 0; i < plan->n_proj; i++)
        if (lf_proj_upload_cuda(&plan->proj[i], &dp[i]) != 0) {
            lf_error_prefix("lf_plan_upload_cuda: projection %d", i);
            lf_plan_free_cuda(dp, i);
            return -1;
        }
    *out = dp;
    return 0;
}

extern "C" void lf_plan_free_cuda(lf_proj_cuda *proj, int n_proj)
{
    if (!proj) return;
    for (int i = 0; i < n_proj; i++) lf_proj_free_cuda(&proj[i]);
    free(proj);
}

// lf_attention_linformer_ws_cuda on the host: e, f hold HOST weights.
extern "C" int lf_attention_linformer_ws_emulate(const float *q, const float *k, const float *v,
                                                 const uint8_t *mask, int64_t n, int64_t d,
                                                 int64_t dv, const lf_proj_cuda *e,
                                                 const lf_proj_cuda *f, int64_t kp, float *p,
                                                 float *out, float *kb, float *vb, uint8_t *slots)
{
    if (!e || !f || !kb || !vb || !slots) LF_FAIL("lf_attention_linformer_emulate: NULL argument");
    if (kp < 1 || kp > e->k || kp > f->k) LF_FAIL("lf_attention_linformer_emulate: bad kp");
    const lf_proj he = {e->kind, e->k, e->n, e->window, e->weights};
    const lf_proj hf = {f->kind, f->k, f->n, f->window, f->weights};
    LF_TRY(lf_proj_apply_emulate_any(&he, kp, k, n, d, mask, kb, slots));
    LF_TRY(lf_proj_apply_emulate_any(&hf, kp, v, n, dv, mask, vb, slots + kp));
    for (int64_t j = 0; j < kp; j++) slots[j] = slots[j] && slots[kp + j];
    return lf_attention_heads_emulate(q, kb, vb, slots, 1, n, kp, d, dv, p, out);
}
