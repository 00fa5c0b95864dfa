/* linformer.c - one Linformer head: both projections (concurrently), then projected
 * attention (see linformer.h). */
#include "linformer.h"

#include "attention.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"

#include <stdio.h>

int lf_attention_linformer(const float *q, const float *k, const float *v, const uint8_t *mask,
                           int64_t n, int64_t d, int64_t dv, const lf_proj *e, const lf_proj *f,
                           int64_t kp, float *p, float *out)
{
    if (!e || !f) LF_FAIL("lf_attention_linformer: NULL projection");
    if (kp < 1 || d < 1 || dv < 1)
        LF_FAIL("lf_attention_linformer: sizes must be positive (k=%lld d=%lld dv=%lld)",
                (long long)kp, (long long)d, (long long)dv);
    float *kb = lf_alloc((size_t)kp, (size_t)(d + dv) * sizeof(float));
    uint8_t *slots = lf_alloc((size_t)kp, 2);
    if (!kb || !slots) {
        lf_free(kb);
        lf_free(slots);
        return -1;
    }
    float *vb = kb + kp * d;
    uint8_t *slots_v = slots + kp;
    /* Errors are thread-local: each section keeps its message for the caller. */
    int rcs[2] = {0, 0};
    char msgs[2][256] = {"", ""};
    int team = lf_threads_get() >= 2 ? 2 : 1;
#pragma omp parallel for schedule(static, 1) num_threads(team)
    for (int which = 0; which < 2; which++) {
        rcs[which] = which == 0 ? lf_proj_apply(e, kp, k, n, d, mask, kb, slots)
                                : lf_proj_apply(f, kp, v, n, dv, mask, vb, slots_v);
        if (rcs[which] != 0) snprintf(msgs[which], sizeof msgs[which], "%s", lf_error_get());
    }
    int rc = -1;
    if (rcs[0] != 0 || rcs[1] != 0) {
        lf_error_set("%s", rcs[0] != 0 ? msgs[0] : msgs[1]);
    } else {
        /* Keys and values see the same tokens; a slot counts only if both saw one
         * (they differ only if E and F differ in where they have support). */
        for (int64_t j = 0; j < kp; j++) slots[j] = slots[j] && slots_v[j];
        rc = lf_attention_projected(q, kb, vb, slots, n, kp, d, dv, p, out);
    }
    lf_free(slots);
    lf_free(kb);
    return rc;
}
