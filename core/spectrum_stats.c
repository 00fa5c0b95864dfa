/* spectrum_stats.c - Figure-1 statistics over many sequences (see spectrum_stats.h). */
#include "spectrum_stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "mem.h"

int lf_spectrum_stats_init(lf_spectrum_stats *s, int layers, int heads, int64_t n, lf_norm norm,
                           lf_sv_method method)
{
    memset(s, 0, sizeof *s);
    if (layers < 1 || heads < 1 || n < 1)
        LF_FAIL("lf_spectrum_stats_init: layers, heads and n must be positive (%d, %d, %lld)",
                layers, heads, (long long)n);
    s->layers = layers, s->heads = heads, s->n = n, s->norm = norm, s->method = method;
    s->state = lf_calloc((size_t)layers * (size_t)heads, sizeof *s->state);
    if (!s->state) return -1;
    for (int i = 0; i < layers * heads; i++) {
        if (lf_welford_init(&s->state[i], n) != 0) {
            lf_spectrum_stats_free(s);
            return -1;
        }
    }
    return 0;
}

void lf_spectrum_stats_free(lf_spectrum_stats *s)
{
    if (s->state)
        for (int i = 0; i < s->layers * s->heads; i++) lf_welford_free(&s->state[i]);
    lf_free(s->state);
    lf_free(s->sv);
    lf_free(s->cum);
    memset(s, 0, sizeof *s);
}

static int lf_spectrum_stats_reserve(lf_spectrum_stats *s, int64_t matrices)
{
    if (matrices <= s->scratch) return 0;
    lf_free(s->sv);
    lf_free(s->cum);
    s->sv = lf_alloc((size_t)matrices * (size_t)s->n, sizeof(double));
    s->cum = lf_alloc((size_t)matrices * (size_t)s->n, sizeof(double));
    s->scratch = (s->sv && s->cum) ? matrices : 0;
    return s->scratch ? 0 : -1;
}

int lf_spectrum_stats_add(lf_spectrum_stats *s, int layer, const float *probs, int64_t B,
                          int64_t seq_stride)
{
    if (layer < 0 || layer >= s->layers)
        LF_FAIL("lf_spectrum_stats_add: layer %d outside 0..%d", layer, s->layers - 1);
    const int64_t n = s->n, H = s->heads;
    LF_TRY(lf_spectrum_stats_reserve(s, B * H));
    /* The heads of a sequence are contiguous; when the sequences are too, one batched
     * call spreads all B H matrices over the threads. Strided sequences (P of every
     * layer in one buffer) take one call each. Results are the same either way. */
    if (seq_stride == H * n * n) {
        if (lf_sv_batch(probs, B * H, n, n, s->method, s->sv) != 0) {
            lf_error_prefix("layer %d", layer);
            return -1;
        }
    } else {
        for (int64_t b = 0; b < B; b++) {
            if (lf_sv_batch(probs + b * seq_stride, H, n, n, s->method, s->sv + b * H * n) != 0) {
                lf_error_prefix("layer %d, sequence %lld of the batch", layer, (long long)b);
                return -1;
            }
        }
    }
    for (int64_t i = 0; i < B * H; i++) {
        if (lf_sv_cumulative(s->sv + i * n, n, s->norm, s->cum + i * n) != 0) {
            lf_error_prefix("layer %d, sequence %lld of the batch, head %lld", layer,
                            (long long)(i / H), (long long)(i % H));
            return -1;
        }
    }
    /* Fixed order: sequence by sequence, head by head. */
    for (int64_t i = 0; i < B * H; i++)
        LF_TRY(lf_welford_add(&s->state[layer * H + i % H], s->cum + i * n));
    return 0;
}

int64_t lf_spectrum_stats_count(const lf_spectrum_stats *s, int layer, int head)
{
    return s->state[layer * s->heads + head].count;
}

int lf_spectrum_stats_results(const lf_spectrum_stats *s, int64_t index, double *mean,
                              double *std, double *at_index, double *layer_mean)
{
    const int64_t n = s->n, H = s->heads;
    if (index < 1 || index > n)
        LF_FAIL("index %lld is outside 1..%lld", (long long)index, (long long)n);
    for (int l = 0; l < s->layers; l++) {
        if (layer_mean)
            for (int64_t i = 0; i < n; i++) layer_mean[l * n + i] = 0.0;
        for (int64_t h = 0; h < H; h++) {
            const lf_welford *w = &s->state[l * H + h];
            if (w->count < 1) LF_FAIL("layer %d head %lld: no matrices were added", l, (long long)h);
            if (mean) memcpy(mean + (l * H + h) * n, w->mean, (size_t)n * sizeof(double));
            if (std) LF_TRY(lf_welford_std(w, std + (l * H + h) * n));
            if (at_index) at_index[l * H + h] = w->mean[index - 1];
            if (layer_mean)
                for (int64_t i = 0; i < n; i++) layer_mean[l * n + i] += w->mean[i] / (double)H;
        }
    }
    return 0;
}

int lf_spectrum_stats_save(const lf_spectrum_stats *s, lf_h5 *f, const char *prefix)
{
    const int64_t L = s->layers, H = s->heads, n = s->n;
    int64_t *count = lf_alloc((size_t)(L * H), sizeof *count);
    double *mean = lf_alloc((size_t)(L * H * n), sizeof *mean);
    double *m2 = lf_alloc((size_t)(L * H * n), sizeof *m2);
    int rc = -1;
    if (count && mean && m2) {
        for (int64_t i = 0; i < L * H; i++) {
            count[i] = s->state[i].count;
            memcpy(mean + i * n, s->state[i].mean, (size_t)n * sizeof(double));
            memcpy(m2 + i * n, s->state[i].m2, (size_t)n * sizeof(double));
        }
        char path[256];
        int64_t d2[2] = {L, H}, d3[3] = {L, H, n};
        rc = 0;
        snprintf(path, sizeof path, "%s/count", prefix);
        rc |= lf_h5_write(f, path, LF_H5_I64, 2, d2, count, "matrices accumulated per layer, head", NULL);
        snprintf(path, sizeof path, "%s/mean", prefix);
        rc |= lf_h5_write(f, path, LF_H5_F64, 3, d3, mean, "running mean of the cumulative curves", NULL);
        snprintf(path, sizeof path, "%s/m2", prefix);
        rc |= lf_h5_write(f, path, LF_H5_F64, 3, d3, m2,
                          "running sum of squared deviations (Welford M2)", NULL);
        rc = rc ? -1 : 0;
    }
    lf_free(count), lf_free(mean), lf_free(m2);
    return rc;
}

int lf_spectrum_stats_restore(lf_spectrum_stats *s, lf_h5 *f, const char *prefix)
{
    const int64_t L = s->layers, H = s->heads, n = s->n;
    char path[256];
    int rank;
    int64_t dims[3];
    double *count = NULL, *mean = NULL, *m2 = NULL;
    int rc = -1;
    snprintf(path, sizeof path, "%s/count", prefix);
    if (lf_h5_read_f64(f, path, 2, &rank, dims, &count) != 0) goto done;
    if (rank != 2 || dims[0] != L || dims[1] != H) {
        lf_error_set("%s: shape does not match %lld layers x %lld heads", path, (long long)L,
                     (long long)H);
        goto done;
    }
    snprintf(path, sizeof path, "%s/mean", prefix);
    if (lf_h5_read_f64(f, path, 3, &rank, dims, &mean) != 0) goto done;
    if (rank != 3 || dims[0] != L || dims[1] != H || dims[2] != n) {
        lf_error_set("%s: shape does not match [%lld, %lld, %lld]", path, (long long)L,
                     (long long)H, (long long)n);
        goto done;
    }
    snprintf(path, sizeof path, "%s/m2", prefix);
    if (lf_h5_read_f64(f, path, 3, &rank, dims, &m2) != 0) goto done;
    if (rank != 3 || dims[0] != L || dims[1] != H || dims[2] != n) {
        lf_error_set("%s: shape does not match [%lld, %lld, %lld]", path, (long long)L,
                     (long long)H, (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < L * H; i++) {
        lf_welford_free(&s->state[i]);
        if (lf_welford_restore(&s->state[i], n, (int64_t)count[i], mean + i * n, m2 + i * n) != 0)
            goto done;
    }
    rc = 0;
done:
    lf_free(count), lf_free(mean), lf_free(m2);
    return rc;
}
