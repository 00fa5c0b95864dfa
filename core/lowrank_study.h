/* lowrank_study.h - the low-rank approximation study behind bin/lowrank: how well
 * Linformer's projections approximate a pretrained encoder's attention, per layer and
 * head, as k, sharing mode, projection kind and nonuniform k vary (the approximation
 * side of the paper's ablations).
 *
 * Sequences are [CLS] + (n - 2) consecutive WordPiece tokens + [SEP], non-overlapping
 * chunks from the start of the corpus: the first F train the fitted kinds (and choose
 * k for a nonuniform "spectrum:T"), the next S (disjoint, held out) are evaluated.
 * Steps: (1) forward the F training sequences, keeping Q, K, V; (2) build every plan
 * (fitting conv and fitted ones); (3) forward the S evaluation sequences with dense
 * attention, measuring SVD floor, Theorem-1 and output errors per layer and head
 * (core/ablation); (4) forward them again with each plan substituted in every layer
 * (core/substitute). Plans and fitting are in core/ablation_plan; the results file's
 * format is in docs/results-format.md.
 */
#ifndef LF_LOWRANK_STUDY_H
#define LF_LOWRANK_STUDY_H

#include <stdint.h>

#include "ablation_plan.h"
#include "model.h"

typedef struct {
    /* recorded in the results file as given */
    const char *model, *corpus, *k_list, *sharing_list, *proj_list, *nonuniform;
    const char *out; /* the results file (HDF5), replaced when force is set */
    int64_t seq_len, sequences, fit_sequences, fit_steps, jl_trials, batch;
    double fit_lr, conv_lr;
    uint64_t seed;
    int force;
    /* the lists, parsed: distinct k in 1..seq_len, sharing modes, projection kinds */
    const int64_t *ks;
    int nk, ns, np;
    lf_sharing sh[4];
    lf_ab_kind kind[LF_AB_KINDS];
} lf_lowrank_opts;

/* Runs the study on the loaded model m, writes o->out and prints the summary table
 * (output error per kind, sharing and k) on stdout, progress on stderr. Returns 0, or
 * -1 with the error set and nothing left looking finished; *input_error (when not
 * NULL) is 1 when the input was at fault (a nonuniform spec that does not fit the
 * model, a corpus too short for the sequences asked for), 0 otherwise. */
int lf_lowrank_study(const lf_lowrank_opts *o, lf_model *m, int *input_error);

#endif
