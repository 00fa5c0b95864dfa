/* linformer.c - one Linformer head: both projections, then projected attention, in
 * one parallel region (see linformer.h). */
#include "linformer.h"

#include <stdio.h>

#include "attention.h"
#include "error.h"
#include "mem.h"

typedef struct {
    const lf_proj *e, *f;
    const float *k, *v;
    const uint8_t *mask;
    int64_t n, d, dv, kp;
    float *kb, *vb;
    uint8_t *slots, *slots_v;
    int rc[2];
    char msg[2][256]; /* errors are thread-local: each projection keeps its own */
} lf_linformer_ctx;

/* Thread t computes projection t (keys, values), and with one thread both. The
 * projections are products with a long inner dimension n and a small output, fastest
 * as one serial sgemm each on its own core. */
static int lf_linformer_project(void *ctx, int thread, int threads)
{
    lf_linformer_ctx *c = ctx;
    int failed = 0;
    for (int which = thread; which < 2; which += threads) {
        c->rc[which] = which == 0
                           ? lf_proj_apply(c->e, c->kp, c->k, c->n, c->d, c->mask, c->kb, c->slots)
                           : lf_proj_apply(c->f, c->kp, c->v, c->n, c->dv, c->mask, c->vb,
                                           c->slots_v);
        if (c->rc[which] != 0) {
            snprintf(c->msg[which], sizeof c->msg[which], "%s", lf_error_get());
            failed = 1;
        }
    }
    return failed ? -1 : 0;
}

/* Keys and values see the same tokens; a slot counts only if both saw one (they
 * differ only if E and F differ in where they have support). */
static void lf_linformer_slots(void *ctx)
{
    lf_linformer_ctx *c = ctx;
    for (int64_t j = 0; j < c->kp; j++) c->slots[j] = c->slots[j] && c->slots_v[j];
}

int lf_attention_linformer(const float *q, const float *k, const float *v, const uint8_t *mask,
                           int64_t n, int64_t d, int64_t dv, const lf_proj *e, const lf_proj *f,
                           int64_t kp, float *p, float *out)
{
    if (!e || !f) LF_FAIL("lf_attention_linformer: NULL projection");
    if (kp < 1 || d < 1 || dv < 1)
        LF_FAIL("lf_attention_linformer: sizes must be positive (k=%lld d=%lld dv=%lld)",
                (long long)kp, (long long)d, (long long)dv);
    lf_linformer_ctx c = {.e = e, .f = f, .k = k, .v = v, .mask = mask, .n = n, .d = d, .dv = dv,
                          .kp = kp};
    c.kb = lf_alloc((size_t)kp, (size_t)(d + dv) * sizeof(float));
    c.slots = lf_alloc((size_t)kp, 2);
    if (!c.kb || !c.slots) {
        lf_free(c.kb);
        lf_free(c.slots);
        return -1;
    }
    c.vb = c.kb + kp * d;
    c.slots_v = c.slots + kp;
    lf_attend_prologue pro = {lf_linformer_project, lf_linformer_slots, &c};
    int rc = lf_attention_projected_after(q, c.kb, c.vb, c.slots, n, kp, d, dv, p, out, &pro);
    if (rc != 0 && (c.rc[0] != 0 || c.rc[1] != 0))
        lf_error_set("%s", c.rc[0] != 0 ? c.msg[0] : c.msg[1]);
    lf_free(c.slots);
    lf_free(c.kb);
    return rc;
}
