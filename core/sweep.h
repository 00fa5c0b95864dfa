/* sweep.h - the points of a pretraining sweep (bin/pretrain) and the sweep
 * directory's index.
 *
 * A sweep is the product of the lists: for each sequence length, the dense
 * Transformer, then every k x sharing mode, then (with a per-layer k) every sharing
 * mode with the nonuniform k, in that order. A point's name is its file stem:
 * n256_dense, n256_k64_none, n256_nu64-32_layerwise, n256_k64_none_conv (the
 * projection kind when it is not linear). DIR/index.tsv lists the points with their
 * state read from their files (pending, started, interrupted, complete, running,
 * unreadable), keeping the rows of other shards or sweeps into the same directory.
 */
#ifndef LF_SWEEP_H
#define LF_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "pretrain.h"

typedef struct {
    const int64_t *seq_len; /* sequence lengths */
    int nn;
    const int64_t *k; /* uniform k */
    int nk;
    const char *const *sharing; /* sharing mode names (valid) */
    int nsharing;
    const int64_t *nonuniform; /* one k per layer, or NULL with nnu = 0 */
    int nnu;
    const char *projection; /* projection kind name */
} lf_sweep_lists;

/* Every point of the sweep in its fixed order (*count of them, lf_free the array);
 * NULL with the error set when out of memory or the projection kind is unknown. */
lf_pretrain_point *lf_sweep_points(const lf_sweep_lists *s, int *count);

/* DIR/NAME.h5 and DIR/NAME.ckpt, a point's log and checkpoint, into log and ckpt
 * (len bytes each). */
void lf_sweep_paths(const char *dir, const char *name, char *log, char *ckpt, size_t len);

/* Rewrites DIR/index.tsv (through a temporary file, fsync'ed, renamed): the np points
 * (point i in shard i mod shard_n), the one named running marked so, and any rows of
 * other points already in the file, every state read again from the files. 0, or -1
 * with the error set (the old index left as it was). */
int lf_sweep_index_write(const char *dir, const lf_pretrain_point *pts, int np,
                         const lf_sweep_lists *s, int64_t shard_n, const char *running);

#endif
