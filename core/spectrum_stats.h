/* spectrum_stats.h - the statistics of the Linformer paper's Figure 1, accumulated
 * over many sequences: for every (layer, head) the mean and standard deviation of the
 * normalized cumulative singular-value curve of P, the value of the mean curve at a
 * chosen index, and the mean curve of each layer (over its heads).
 *
 * Matrices are added a layer at a time for a batch of sequences, in sequence order;
 * the Welford states are updated in that fixed order, so results are identical for
 * any thread count (the singular values themselves are, see spectrum.h). The state
 * can be saved to and restored from a checkpoint file, so long runs resume exactly.
 */
#ifndef LF_SPECTRUM_STATS_H
#define LF_SPECTRUM_STATS_H

#include <stdint.h>

#include "h5io.h"
#include "spectrum.h"

typedef struct {
    int layers, heads;
    int64_t n;          /* matrices are n x n; curves have n points */
    lf_norm norm;
    lf_sv_method method;
    lf_welford *state;  /* [layers * heads] */
    double *sv, *cum;   /* scratch for one batch: [batch * heads, n] */
    int64_t scratch;    /* matrices the scratch holds */
} lf_spectrum_stats;

int lf_spectrum_stats_init(lf_spectrum_stats *s, int layers, int heads, int64_t n, lf_norm norm,
                           lf_sv_method method);
void lf_spectrum_stats_free(lf_spectrum_stats *s);

/* Adds layer LAYER's P of B sequences: sequence b's head h is the n x n matrix at
 * probs + b * seq_stride + h * n * n. Fails (error set) on a non-finite entry or an
 * all-zero matrix (its normalized curve is undefined), naming sequence and head. */
int lf_spectrum_stats_add(lf_spectrum_stats *s, int layer, const float *probs, int64_t B,
                          int64_t seq_stride);

/* Matrices added so far for (layer, head) (the same for all when adding by layer). */
int64_t lf_spectrum_stats_count(const lf_spectrum_stats *s, int layer, int head);

/* Results. mean, std: [layers, heads, n]; at_index: [layers, heads] = mean curve at the
 * 1-based index; layer_mean: [layers, n] = mean over heads of the mean curves (each
 * head has the same count, so this is the mean over all matrices of the layer). Any
 * output may be NULL. std is NaN with fewer than two matrices. */
int lf_spectrum_stats_results(const lf_spectrum_stats *s, int64_t index, double *mean,
                              double *std, double *at_index, double *layer_mean);

/* Checkpoint state: datasets PREFIX/count [L, H] (int64), PREFIX/mean and PREFIX/m2
 * [L, H, n] (float64) in an open results file; restore checks the shapes. */
int lf_spectrum_stats_save(const lf_spectrum_stats *s, lf_h5 *f, const char *prefix);
int lf_spectrum_stats_restore(lf_spectrum_stats *s, lf_h5 *f, const char *prefix);

#endif
