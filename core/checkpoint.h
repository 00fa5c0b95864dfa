/* checkpoint.h - the training checkpoint of a pretraining run: parameters, AdamW
 * moments and step, and the run's configuration fingerprint, in one binary file that
 * is written atomically and validated on load.
 *
 * "RNG state": every random choice of a run is a pure function of (seed, step) -
 * batch order and masking (mlm_batch.h), dropout masks (mlm.h, from dropout_step =
 * step) - so the seed and the step are the whole random state; both are stored.
 *
 * File layout (integers little-endian; floats IEEE-754 binary32 as stored in memory,
 * little-endian machines only - a compile-time check refuses others):
 *   off  size
 *     0     8  magic "LFCKPT\r\n"
 *     8     4  u32 format version (LF_CKPT_VERSION)
 *    12     4  u32 zero
 *    16     8  u64 step (updates done)
 *    24     8  u64 seed
 *    32     8  u64 parameter count n
 *    40     8  u64 AdamW step (equals step)
 *    48     8  u64 fingerprint length t (bytes)
 *    56     t  fingerprint: the run's configuration as "key=value\n" lines
 *  56+t   4n  float params;  then 4n float Adam m;  then 4n float Adam v
 *   end     8  u64 FNV-1a-64 of every byte before it
 * Written to PATH.tmp.PID, fsync'ed and renamed over PATH, so a crash at any point
 * leaves either the old checkpoint or the new one, never a mixture.
 */
#ifndef LF_CHECKPOINT_H
#define LF_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define LF_CKPT_VERSION 1u

typedef struct {
    uint64_t step, seed;
    size_t n;             /* parameters */
    const float *params;  /* [n] */
    const float *m, *v;   /* [n] AdamW moments */
    int64_t adam_step;
    const char *fingerprint; /* NUL-terminated "key=value\n" lines */
} lf_ckpt_view;

/* Writes the checkpoint atomically (see the top comment). */
int lf_ckpt_save(const char *path, const lf_ckpt_view *c);

/* Reads and validates the checkpoint at path against the run that wants to resume:
 * the file must be a complete, undamaged checkpoint of this format version whose
 * fingerprint equals `fingerprint` and whose parameter count equals n. On success
 * params, m and v (each [n]) are overwritten and *step, *adam_step set. Errors are
 * one line naming the file and the problem: "not a checkpoint", "truncated",
 * "damaged (checksum)", "made by format version V", "made by a different
 * configuration (KEY: VALUE here, VALUE in the checkpoint)", "N parameters, the
 * model has M". On failure nothing is overwritten. */
int lf_ckpt_load(const char *path, const char *fingerprint, size_t n, float *params, float *m,
                 float *v, uint64_t *step, int64_t *adam_step);

/* The same validation without a model at hand (the parameter count is not checked):
 * lets a driver refuse a bad checkpoint before it trains anything. *step (may be
 * NULL) gets the checkpoint's step. */
int lf_ckpt_verify(const char *path, const char *fingerprint, uint64_t *step);

#endif
