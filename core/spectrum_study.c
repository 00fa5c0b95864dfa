/* spectrum_study.c - the Figure-1 study behind bin/spectrum (see spectrum_study.h):
 * sequences, the encoder passes with the statistics, checkpoints, the results file. */
#include "spectrum_study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoder.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "parallel.h"
#include "progress.h"
#include "spectrum.h"
#include "spectrum_stats.h"
#include "tokenizer.h"

/* Token ids of every sequence: [CLS] + n - 2 corpus tokens + [SEP]. */
static int32_t *make_sequences(const lf_spectrum_opts *a, const lf_tokenizer *tok)
{
    const int64_t n = a->seq_len, S = a->sequences;
    int32_t *seqs = NULL;
    int64_t avail = 0;
    if (lf_tokenizer_sequences(tok, a->corpus, S, n, &seqs, &avail) != 0) return NULL;
    if (!seqs && avail == 0)
        lf_error_set("%s: the corpus is shorter than one sequence of %lld tokens (%lld needed "
                     "besides [CLS] and [SEP])", a->corpus, (long long)n, (long long)(n - 2));
    else if (!seqs)
        lf_error_set("%s: the corpus is long enough for %lld sequences of %lld, not %lld "
                     "(use --sequences %lld or a longer corpus)",
                     a->corpus, (long long)avail, (long long)n, (long long)S, (long long)avail);
    return seqs;
}

typedef struct {
    lf_spectrum_stats *stats;
} observe_ctx;

static int observe_layer(void *user, lf_encoder_attn *a)
{
    observe_ctx *c = user;
    return lf_spectrum_stats_add(c->stats, a->layer, a->probs, a->B, a->probs_seq_stride);
}

/* Checkpoint file: the accumulated state plus what it was computed from. */
static int write_checkpoint(const lf_spectrum_opts *a, const char *path, const lf_spectrum_stats *st,
                            int64_t done)
{
    lf_h5 *f = lf_h5_create(path, "spectrum-checkpoint", 1);
    if (!f) return -1;
    int rc = 0;
    rc |= lf_h5_config_string(f, "model", a->model);
    rc |= lf_h5_config_string(f, "corpus", a->corpus);
    rc |= lf_h5_config_int(f, "seq_len", a->seq_len);
    rc |= lf_h5_config_string(f, "normalize", a->normalize);
    rc |= lf_h5_config_string(f, "svd", a->method);
    rc |= lf_h5_config_int(f, "sequences_done", done);
    rc |= lf_spectrum_stats_save(st, f, "/state");
    if (rc != 0) {
        lf_h5_close(f, 0);
        return -1;
    }
    return lf_h5_close(f, 1);
}

static int read_checkpoint(const lf_spectrum_opts *a, const char *path, lf_spectrum_stats *st, int64_t *done)
{
    lf_h5 *f = lf_h5_open(path);
    if (!f) return -1;
    int rc = -1;
    char *s = NULL;
    int64_t v;
    const char *keys[4] = {"model", "corpus", "normalize", "svd"};
    const char *want[4] = {a->model, a->corpus, a->normalize, a->method};
    for (int i = 0; i < 4; i++) {
        if (lf_h5_read_attr_string(f, "/config", keys[i], &s) != 0) goto done;
        if (strcmp(s, want[i]) != 0) {
            lf_error_set("%s was made with --%s %s, not %s; remove it or run with the same flags",
                         path, keys[i], s, want[i]);
            goto done;
        }
        lf_free(s);
        s = NULL;
    }
    if (lf_h5_read_attr_int(f, "/config", "seq_len", &v) != 0) goto done;
    if (v != a->seq_len) {
        lf_error_set("%s was made with --seq-len %lld, not %lld", path, (long long)v, (long long)a->seq_len);
        goto done;
    }
    if (lf_h5_read_attr_int(f, "/config", "sequences_done", done) != 0) goto done;
    if (*done > a->sequences) {
        lf_error_set("%s already holds %lld sequences, more than --sequences %lld", path,
                     (long long)*done, (long long)a->sequences);
        goto done;
    }
    if (lf_spectrum_stats_restore(st, f, "/state") != 0) goto done;
    rc = 0;
done:
    lf_free(s);
    lf_h5_close(f, 0);
    return rc;
}

/* The results file. ids: token ids [S, n] or NULL (--attention); probs_saved: P of the
 * first M sequences [M, L, H, n, n] or NULL. */
static int write_results(const lf_spectrum_opts *a, const lf_spectrum_stats *st, int64_t S,
                         const int32_t *ids, const float *probs_saved, int64_t M, int64_t n_saved_shape)
{
    const int64_t L = st->layers, H = st->heads, n = st->n;
    double *mean = lf_alloc((size_t)(L * H * n), sizeof(double));
    double *std = lf_alloc((size_t)(L * H * n), sizeof(double));
    double *at = lf_alloc((size_t)(L * H), sizeof(double));
    double *lm = lf_alloc((size_t)(L * n), sizeof(double));
    lf_h5 *f = NULL;
    int rc = -1;
    if (!mean || !std || !at || !lm) goto done;
    if (lf_spectrum_stats_results(st, a->index, mean, std, at, lm) != 0) goto done;
    f = lf_h5_create(a->out, "spectrum", a->force);
    if (!f) goto done;
    rc = 0;
    if (a->attention) {
        rc |= lf_h5_config_string(f, "attention", a->attention);
    } else {
        rc |= lf_h5_config_string(f, "model", a->model);
        rc |= lf_h5_config_string(f, "corpus", a->corpus);
        rc |= lf_h5_config_int(f, "batch", a->batch);
    }
    rc |= lf_h5_config_int(f, "seq_len", n);
    rc |= lf_h5_config_int(f, "sequences", S);
    rc |= lf_h5_config_int(f, "index", a->index);
    rc |= lf_h5_config_string(f, "normalize", a->normalize);
    rc |= lf_h5_config_string(f, "svd", a->method);
    rc |= lf_h5_config_int(f, "save_attention", M);
    rc |= lf_h5_config_u64(f, "seed", a->seed);
    rc |= lf_h5_config_int(f, "threads", lf_threads_get());
    rc |= lf_h5_scale_range(f, "/spectrum/layer", L, 0, "layer (0 = closest to the embeddings)");
    rc |= lf_h5_scale_range(f, "/spectrum/head", H, 0, "attention head");
    rc |= lf_h5_scale_range(f, "/spectrum/index", n, 1,
                            "singular-value index, 1-based (i = the i largest singular values)");
    int64_t d3[3] = {L, H, n}, d2[2] = {L, H}, dl[2] = {L, n};
    const char *what = strcmp(a->normalize, "energy") == 0
                           ? "sum of the i largest squared singular values of P over their total"
                           : "sum of the i largest singular values of P over their sum";
    char desc[256];
    snprintf(desc, sizeof desc, "mean over sequences of the normalized cumulative curve (%s)", what);
    rc |= lf_h5_write(f, "/spectrum/cumulative_mean", LF_H5_F64, 3, d3, mean, desc, "1");
    snprintf(desc, sizeof desc, "sample standard deviation over sequences of the curve (%s)", what);
    rc |= lf_h5_write(f, "/spectrum/cumulative_std", LF_H5_F64, 3, d3, std, desc, "1");
    rc |= lf_h5_write(f, "/spectrum/at_index", LF_H5_F64, 2, d2, at,
                      "mean normalized cumulative value at the index attribute (Figure 1, right)", "1");
    rc |= lf_h5_attr_int(f, "/spectrum/at_index", "index", a->index);
    rc |= lf_h5_write(f, "/spectrum/layer_mean", LF_H5_F64, 2, dl, lm,
                      "mean over heads and sequences of the normalized cumulative curve (Figure 1, left)",
                      "1");
    const char *dims3[3] = {"/spectrum/layer", "/spectrum/head", "/spectrum/index"};
    for (int i = 0; i < 3; i++) {
        rc |= lf_h5_attach(f, "/spectrum/cumulative_mean", i, dims3[i]);
        rc |= lf_h5_attach(f, "/spectrum/cumulative_std", i, dims3[i]);
    }
    rc |= lf_h5_attach(f, "/spectrum/at_index", 0, dims3[0]);
    rc |= lf_h5_attach(f, "/spectrum/at_index", 1, dims3[1]);
    rc |= lf_h5_attach(f, "/spectrum/layer_mean", 0, dims3[0]);
    rc |= lf_h5_attach(f, "/spectrum/layer_mean", 1, dims3[2]);
    if (ids) {
        int64_t di[2] = {S, n};
        rc |= lf_h5_write(f, "/input/token_ids", LF_H5_I32, 2, di, ids,
                          "WordPiece ids of each sequence: [CLS], n - 2 corpus tokens, [SEP]", NULL);
    }
    if (probs_saved && M > 0) {
        int64_t dp[5] = {M, L, H, n_saved_shape, n_saved_shape};
        rc |= lf_h5_write(f, "/attention/probabilities", LF_H5_F32, 5, dp, probs_saved,
                          "P = softmax(Q K^T / sqrt(d)) of the first sequences, every layer and head",
                          "probability");
    }
    rc = rc ? -1 : 0;
done:
    lf_free(mean), lf_free(std), lf_free(at), lf_free(lm);
    if (f) {
        if (rc != 0) {
            lf_h5_close(f, 0);
        } else {
            rc = lf_h5_close(f, 1);
        }
    }
    return rc;
}

/* ---- the two studies ------------------------------------------------------------ */

int lf_spectrum_given(const lf_spectrum_opts *a, int *input_error)
{
    if (input_error) *input_error = 1; /* until the matrices are read and checked */
    lf_norm norm;
    lf_sv_method method;
    if (lf_norm_parse(a->normalize, &norm) != 0 || lf_sv_method_parse(a->method, &method) != 0)
        return -1;
    lf_h5 *f = lf_h5_open(a->attention);
    if (!f) return -1;
    int rank;
    int64_t dims[5];
    float *p = NULL;
    if (!lf_h5_has(f, "/attention/probabilities")) {
        lf_h5_close(f, 0);
        LF_FAIL("%s: missing dataset /attention/probabilities ([M, L, H, n, n] or [M, n, n])",
                a->attention);
    }
    if (lf_h5_read_f32(f, "/attention/probabilities", 5, &rank, dims, &p) != 0) {
        lf_h5_close(f, 0);
        return -1;
    }
    lf_h5_close(f, 0);
    int64_t M = 0, L = 1, H = 1, n = 0;
    int rc = -1;
    lf_spectrum_stats st;
    memset(&st, 0, sizeof st);
    if (rank == 5) {
        M = dims[0], L = dims[1], H = dims[2], n = dims[3];
    } else if (rank == 3) {
        M = dims[0], n = dims[1];
    } else {
        lf_error_set("%s: /attention/probabilities has rank %d; expected [M, L, H, n, n] or [M, n, n]",
                     a->attention, rank);
        goto done;
    }
    if (dims[rank - 1] != dims[rank - 2] || M < 1 || n < 1) {
        lf_error_set("%s: /attention/probabilities must hold square n x n matrices (got %lld x %lld)",
                     a->attention, (long long)dims[rank - 2], (long long)dims[rank - 1]);
        goto done;
    }
    if (a->index > n) {
        lf_error_set("--index %lld exceeds n = %lld", (long long)a->index, (long long)n);
        goto done;
    }
    if (input_error) *input_error = 0;
    if (lf_spectrum_stats_init(&st, (int)L, (int)H, n, norm, method) != 0) goto done;
    int added = 0;
    for (int64_t l = 0; l < L && added == 0; l++)
        added = lf_spectrum_stats_add(&st, (int)l, p + l * H * n * n, M, L * H * n * n);
    if (added != 0) {
        lf_error_prefix("%s", a->attention);
        if (input_error) *input_error = 1; /* bad matrices are bad input */
        goto done;
    }
    if (write_results(a, &st, M, NULL, NULL, 0, n) != 0) goto done;
    printf("spectrum: %lld matrices per layer and head analysed; wrote %s\n", (long long)M, a->out);
    rc = 0;
done:
    lf_spectrum_stats_free(&st);
    lf_free(p);
    return rc;
}

int lf_spectrum_study(const lf_spectrum_opts *a, lf_model *m, volatile sig_atomic_t *stop,
                      int *input_error)
{
    if (input_error) *input_error = 0;
    lf_norm norm;
    lf_sv_method method;
    if (lf_norm_parse(a->normalize, &norm) != 0 || lf_sv_method_parse(a->method, &method) != 0) {
        if (input_error) *input_error = 1;
        return -1;
    }
    const lf_model_config *cfg = &m->config;
    const int64_t n = a->seq_len, S = a->sequences, L = cfg->num_hidden_layers,
                  H = cfg->num_attention_heads;
    int rc = -1, ws_ready = 0;
    lf_spectrum_stats st;
    memset(&st, 0, sizeof st);
    lf_encoder_ws ws;
    float *saved = NULL;
    double *at = NULL, *lm = NULL;
    int32_t *ids = make_sequences(a, m->tokenizer);
    if (!ids) goto input;
    if (lf_spectrum_stats_init(&st, (int)L, (int)H, n, norm, method) != 0) goto done;

    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", a->out);
    int64_t done = 0;
    if (a->resume && access(ckpt, F_OK) == 0) {
        if (read_checkpoint(a, ckpt, &st, &done) != 0) goto input;
        fprintf(stderr, "spectrum: resuming from %s after %lld sequences\n", ckpt, (long long)done);
    } else if (!a->resume && access(ckpt, F_OK) == 0) {
        lf_error_set("%s exists from an interrupted run; pass --resume to continue it, or remove it",
                     ckpt);
        goto input;
    }

    const int64_t B = a->batch < S ? a->batch : S;
    if (lf_encoder_ws_init(&ws, m, B, n) != 0) goto done;
    ws_ready = 1;
    observe_ctx octx = {&st};
    lf_encoder_hooks hooks = {.observe = observe_layer, .user = &octx, .keep_probs = 1};
    lf_progress pr;
    lf_progress_start(&pr, "sequences", S, done);
    int64_t since_ckpt = 0;
    /* A stop request is honoured between batches, never after the last one. */
    while (done < S && !(stop && *stop) && !(a->stop_after > 0 && done >= a->stop_after)) {
        int64_t b = S - done < B ? S - done : B;
        if (lf_encoder_forward_hooked(m, ids + done * n, NULL, b, n, &hooks, NULL, NULL, &ws) != 0)
            goto done;
        done += b;
        since_ckpt += b;
        lf_progress_update(&pr, done);
        if (a->checkpoint_every > 0 && since_ckpt >= a->checkpoint_every && done < S) {
            if (write_checkpoint(a, ckpt, &st, done) != 0) goto done;
            since_ckpt = 0;
        }
    }
    if (done < S) { /* stopped */
        if (write_checkpoint(a, ckpt, &st, done) != 0) goto done;
        fprintf(stderr, "\nspectrum: interrupted after %lld of %lld sequences; state saved in %s; "
                        "run the same command with --resume to continue\n",
                (long long)done, (long long)S, ckpt);
        rc = 1;
        goto done;
    }
    lf_progress_finish(&pr);

    /* P of the first M sequences: recomputed here (M forwards), so that saving does not
     * interact with checkpoints. */
    const int64_t M = a->save_attention;
    if (M > 0) {
        size_t count = (size_t)(M * L * H) * (size_t)(n * n);
        saved = lf_alloc(count, sizeof(float));
        if (!saved) goto done;
        for (int64_t s0 = 0; s0 < M; s0 += B) {
            int64_t b = M - s0 < B ? M - s0 : B;
            if (lf_encoder_forward(m, ids + s0 * n, NULL, b, n, NULL,
                                   saved + (size_t)(s0 * L * H) * (size_t)(n * n), &ws) != 0)
                goto done;
        }
    }
    if (write_results(a, &st, S, ids, saved, M, n) != 0) goto done;
    unlink(ckpt);
    at = lf_alloc((size_t)(L * H), sizeof(double)), lm = lf_alloc((size_t)(L * n), sizeof(double));
    if (at && lm && lf_spectrum_stats_results(&st, a->index, NULL, NULL, at, lm) == 0) {
        printf("spectrum: %lld sequences of %lld tokens; mean normalized cumulative value at index %lld:\n",
               (long long)S, (long long)n, (long long)a->index);
        for (int64_t l = 0; l < L; l++) printf("  layer %lld: %.4f\n", (long long)(l + 1), lm[l * n + a->index - 1]);
    }
    printf("spectrum: wrote %s\n", a->out);
    rc = 0;
    goto done;
input:
    if (input_error) *input_error = 1;
done:
    lf_free(at), lf_free(lm), lf_free(saved), lf_free(ids);
    if (ws_ready) lf_encoder_ws_free(&ws);
    lf_spectrum_stats_free(&st);
    return rc;
}
