/* plan_io.h - saving a projection plan's parameters (e.g. fitted projections) in a
 * results file, so that they can be reused:
 *   PATH/weights  linear/gaussian: [n_proj, kmax, n] float32, the [k, n] matrix of each
 *                 distinct projection, rows beyond its own k zero (kmax = the largest);
 *                 conv: [n_proj, max window] float32 kernels, zero-padded
 *   PATH/index    [layers, heads, 2] int32: the projection of (layer, head, 0 = keys E |
 *                 1 = values F)
 *   PATH/k        [layers, heads] int32: each head's k (a head with a smaller k than its
 *                 shared projection uses the first k rows; gaussian ones rescaled as in
 *                 projection.h)
 * with the attribute `sharing` on PATH/weights. Mean and max pooling have no
 * parameters: saving them is refused (error set).
 */
#ifndef LF_PLAN_IO_H
#define LF_PLAN_IO_H

#include "h5io.h"
#include "projection.h"

/* 0, or -1 with the error set (h5io's message). */
int lf_plan_save(lf_h5 *f, const char *path, const lf_plan *plan);

#endif
