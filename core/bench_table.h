/* bench_table.h - the efficiency benchmark's table (bin/bench, the Linformer paper's
 * Table 3): full encoder inference on random tokens with dense (P materialized),
 * streamed exact and Linformer (layerwise sharing) attention for every n and k; time
 * per token, memory per sequence and the largest batch that fits a memory budget,
 * written to HDF5 and as markdown tables laid out like Table 3 (format:
 * docs/results-format.md, section bin/bench). One point's measurement is
 * core/effbench.h.
 *
 * On the CPU the points of one n are prepared one after the other and their timed
 * forwards interleaved, so that a drifting load affects every variant alike; the CUDA
 * device measures each point on its own.
 */
#ifndef LF_BENCH_TABLE_H
#define LF_BENCH_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "h5io.h"
#include "model.h"

typedef struct {
    const char *device; /* "cpu" or "cuda" (the caller checked that it is usable) */
    const char *out;    /* the HDF5 file's name, as recorded in the markdown */
    const char *md;     /* the markdown file, replaced (through a temporary name) */
    const int64_t *ns, *ks; /* sequence lengths and projected lengths, distinct */
    int nn, nk;
    int64_t repeats, batch_tokens, verify_tokens;
    size_t budget; /* bytes */
    int quick;     /* recorded */
    uint64_t seed;
} lf_bench_table_opts;

/* Measures every point of a BERT of configuration cfg (random weights from the seed),
 * then the sgemm rate, writes the datasets to f and the markdown to o->md (and on
 * stdout). f is closed in every case: kept on success, discarded on failure (and the
 * markdown removed), so that no file looks finished when the run was not. Returns 0,
 * or -1 with the error set. */
int lf_bench_table(const lf_bench_table_opts *o, const lf_model_config *cfg, lf_h5 *f);

#endif
