/* plan_io.c - a projection plan's parameters written to a results file (see plan_io.h). */
#include "plan_io.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "mem.h"

int lf_plan_save(lf_h5 *f, const char *path, const lf_plan *pl)
{
    if (!f || !path || !pl || !pl->proj) LF_FAIL("lf_plan_save: NULL file, path or plan");
    if (pl->kind == LF_PROJ_MEAN || pl->kind == LF_PROJ_MAX)
        LF_FAIL("lf_plan_save: a %s plan has no parameters to save", lf_proj_kind_name(pl->kind));
    const int conv = pl->kind == LF_PROJ_CONV;
    const int64_t LH = (int64_t)pl->layers * pl->heads;
    int64_t kmax = 0, wmax = 0;
    for (int j = 0; j < pl->n_proj; j++) {
        if (pl->proj[j].k > kmax) kmax = pl->proj[j].k;
        if (pl->proj[j].window > wmax) wmax = pl->proj[j].window;
    }
    const int64_t per = conv ? wmax : kmax * pl->n;
    float *w = lf_calloc((size_t)(pl->n_proj * per), sizeof(float));
    int32_t *idx = lf_alloc((size_t)(LH * 2), sizeof(int32_t)), *kk = lf_alloc((size_t)LH, sizeof(int32_t));
    int rc = w && idx && kk ? 0 : -1;
    if (rc == 0) {
        for (int j = 0; j < pl->n_proj; j++)
            memcpy(w + j * per, pl->proj[j].weights,
                   (size_t)(conv ? pl->proj[j].window : pl->proj[j].k * pl->n) * sizeof(float));
        for (int64_t j = 0; j < LH * 2; j++) idx[j] = pl->index[j];
        for (int64_t j = 0; j < LH; j++) kk[j] = (int32_t)pl->k[j];
        char wp[300], ip[300], kp[300];
        snprintf(wp, sizeof wp, "%s/weights", path);
        snprintf(ip, sizeof ip, "%s/index", path);
        snprintf(kp, sizeof kp, "%s/k", path);
        int64_t dw3[3] = {pl->n_proj, kmax, pl->n}, dw2[2] = {pl->n_proj, wmax};
        int64_t di[3] = {pl->layers, pl->heads, 2};
        if (conv)
            rc |= lf_h5_write(f, wp, LF_H5_F32, 2, dw2, w,
                              "conv kernels [projection, window]: xbar[j] = sum_t w[t] x[j window + t]",
                              NULL);
        else
            rc |= lf_h5_write(f, wp, LF_H5_F32, 3, dw3, w,
                              "fitted projection matrices [projection, k, n]: xbar = E x (a head with "
                              "a smaller k uses the first k rows)", NULL);
        rc |= lf_h5_write(f, ip, LF_H5_I32, 3, di, idx,
                          "projection used by (layer, head, 0 = keys E | 1 = values F)", NULL);
        rc |= lf_h5_write(f, kp, LF_H5_I32, 2, di, kk, "k of each (layer, head)", NULL);
        rc |= lf_h5_attr_string(f, wp, "sharing", lf_sharing_name(pl->sharing));
    }
    lf_free(w), lf_free(idx), lf_free(kk);
    return rc ? -1 : 0;
}
