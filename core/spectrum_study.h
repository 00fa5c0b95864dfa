/* spectrum_study.h - the Linformer paper's Figure 1 for a pretrained encoder, as
 * bin/spectrum runs it: singular values of the attention matrix P of every layer and
 * head, averaged over many sequences of real text, or of matrices dumped by any
 * framework.
 *
 * Sequences are [CLS] + (n - 2) consecutive WordPiece tokens + [SEP], non-overlapping
 * chunks taken in order from the start of the corpus (no padding, no randomness; the
 * seed is recorded for uniformity). Long runs write OUT.ckpt every N sequences and when
 * stopped; a resumed run ends with the same result as an uninterrupted one. The
 * results file appears only when the run is complete (format: docs/results-format.md).
 */
#ifndef LF_SPECTRUM_STUDY_H
#define LF_SPECTRUM_STUDY_H

#include <signal.h>
#include <stdint.h>

#include "model.h"

typedef struct {
    const char *model, *corpus; /* the text study (recorded) */
    const char *attention;      /* or: the file of given matrices */
    const char *out;            /* results; OUT.ckpt holds an interrupted run's state */
    const char *normalize;      /* "sum" or "energy" (lf_norm_parse) */
    const char *method;         /* singular-value method (lf_sv_method_parse) */
    int64_t seq_len, sequences, index, save_attention, batch, checkpoint_every;
    int64_t stop_after; /* testing aid: behave as if stopped after this many sequences */
    uint64_t seed;      /* recorded */
    int resume, force;
} lf_spectrum_opts;

/* The study over o->sequences sequences of o->corpus with the loaded model m: the
 * statistics, OUT.ckpt every o->checkpoint_every sequences, then the results file and
 * a summary on stdout. *stop (set by a signal handler; may be NULL) or o->stop_after
 * ends the run early with its state in OUT.ckpt, which o->resume continues. Returns 0
 * (results written), 1 (stopped, state saved), or -1 with the error set; *input_error
 * (when not NULL) is 1 when the input was at fault (a corpus too short, a checkpoint of
 * other settings or one left without o->resume). */
int lf_spectrum_study(const lf_spectrum_opts *o, lf_model *m, volatile sig_atomic_t *stop,
                      int *input_error);

/* The same statistics of the matrices /attention/probabilities ([M, L, H, n, n] or
 * [M, n, n]) in o->attention. 0, or -1 with the error set (*input_error 1 when the
 * file or its matrices were at fault). */
int lf_spectrum_given(const lf_spectrum_opts *o, int *input_error);

#endif
