/* spectrum.c - bin/spectrum: the Linformer paper's Figure 1 for a pretrained encoder —
 * singular values of the attention matrix P of every layer and head, averaged over
 * many sequences of real text — or for attention matrices dumped by any framework.
 *
 *   bin/spectrum --model DIR --corpus FILE [--seq-len 512] [--sequences S] [--index 128]
 *                [--normalize sum|energy] [--save-attention M] [--batch B]
 *                [--threads T] [--seed X] [--checkpoint-every N] [--resume] [--force]
 *                --out FILE.h5
 *   bin/spectrum --attention P.h5 [--index 128] [--normalize sum|energy] --out FILE.h5
 *
 * Sequences are [CLS] + (n - 2) consecutive WordPiece tokens + [SEP], non-overlapping
 * chunks taken in order from the start of the corpus (no padding, no randomness; the
 * seed is recorded for uniformity). Long runs write OUT.ckpt every N sequences and on
 * Ctrl-C; --resume continues from it and ends with the same result as an
 * uninterrupted run. The results file appears only when the run is complete.
 * The work is in core/ (encoder, spectrum, spectrum_stats); the format is in
 * docs/results-format.md.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "encoder.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "model.h"
#include "parallel.h"
#include "progress.h"
#include "spectrum.h"
#include "spectrum_stats.h"
#include "tokenizer.h"
#include "version.h"

static const char *prog = "spectrum";
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    const char *model, *corpus, *attention, *out, *normalize, *method;
    int64_t seq_len, sequences, index, save_attention, batch, threads, checkpoint_every;
    int64_t stop_after; /* testing aid: behave as if interrupted after this many sequences */
    uint64_t seed;
    int resume, force;
} spec_args;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: spectrum --model DIR --corpus FILE --out FILE.h5 [options]\n"
            "       spectrum --attention P.h5 --out FILE.h5 [--index I] [--normalize N]\n"
            "\n"
            "Singular-value spectra of the attention matrices P of every layer and head of a\n"
            "pretrained BERT/RoBERTa encoder over sequences of real text (the Linformer\n"
            "paper's Figure 1), or of matrices dumped elsewhere (/attention/probabilities\n"
            "shaped [M, L, H, n, n] or [M, n, n]).\n"
            "\n"
            "  --model DIR           Hugging Face model directory (config.json, model.safetensors,\n"
            "                        vocab.txt)\n"
            "  --corpus FILE         UTF-8 text\n"
            "  --seq-len N           tokens per sequence incl. [CLS] and [SEP] (default 512)\n"
            "  --sequences S         sequences to analyse (default 64)\n"
            "  --index I             1-based index for the heatmap value (default 128)\n"
            "  --normalize sum|energy  cumulative sum of sigma (default) or of sigma^2\n"
            "  --svd gram|sgesdd|dgesdd  singular-value method (default gram, see spectrum.h)\n"
            "  --save-attention M    also store P of the first M sequences\n"
            "  --batch B             sequences per forward pass (default 4)\n"
            "  --checkpoint-every N  write OUT.ckpt every N sequences (default 32; 0 = only on\n"
            "                        Ctrl-C)\n"
            "  --resume              continue from OUT.ckpt\n"
            "  --stop-after N        act as if interrupted after N sequences (for testing resume)\n"
            "  --threads T, --seed X, --force, --help, --version\n");
}

static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

static void parse_args(int argc, char **argv, spec_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"corpus", required_argument, 0, 'c'},
        {"attention", required_argument, 0, 'a'},   {"out", required_argument, 0, 'o'},
        {"seq-len", required_argument, 0, 'n'},     {"sequences", required_argument, 0, 's'},
        {"index", required_argument, 0, 'i'},       {"normalize", required_argument, 0, 'N'},
        {"svd", required_argument, 0, 'v'},         {"save-attention", required_argument, 0, 'A'},
        {"batch", required_argument, 0, 'b'},       {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'S'},        {"checkpoint-every", required_argument, 0, 'C'},
        {"resume", no_argument, 0, 'r'},            {"force", no_argument, 0, 'f'},
        {"stop-after", required_argument, 0, 'X'},
        {"help", no_argument, 0, 'h'},              {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->seq_len = 512, a->sequences = 64, a->index = 128, a->batch = 4, a->checkpoint_every = 32;
    a->normalize = "sum", a->method = lf_sv_method_name(LF_SV_DEFAULT);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'c': a->corpus = optarg; break;
        case 'a': a->attention = optarg; break;
        case 'o': a->out = optarg; break;
        case 'n': rc = lf_parse_i64("--seq-len", optarg, 3, 1 << 20, &a->seq_len); break;
        case 's': rc = lf_parse_i64("--sequences", optarg, 1, INT32_MAX, &a->sequences); break;
        case 'i': rc = lf_parse_i64("--index", optarg, 1, 1 << 20, &a->index); break;
        case 'N': a->normalize = optarg; break;
        case 'v': a->method = optarg; break;
        case 'A': rc = lf_parse_i64("--save-attention", optarg, 0, INT32_MAX, &a->save_attention); break;
        case 'b': rc = lf_parse_i64("--batch", optarg, 1, 1024, &a->batch); break;
        case 't': rc = lf_parse_i64("--threads", optarg, 1, 4096, &a->threads); break;
        case 'S': rc = lf_parse_u64("--seed", optarg, &a->seed); break;
        case 'C': rc = lf_parse_i64("--checkpoint-every", optarg, 0, INT32_MAX, &a->checkpoint_every); break;
        case 'X': rc = lf_parse_i64("--stop-after", optarg, 1, INT32_MAX, &a->stop_after); break;
        case 'r': a->resume = 1; break;
        case 'f': a->force = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("spectrum (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
        if (rc != 0) fail_usage();
    }
    if (optind < argc) lf_error_set("unexpected argument '%s' (see --help)", argv[optind]), fail_usage();
    if (!a->out) lf_error_set("--out FILE.h5 is required"), fail_usage();
    if (a->attention && (a->model || a->corpus))
        lf_error_set("--attention analyses given matrices; it takes no --model or --corpus"), fail_usage();
    if (!a->attention && (!a->model || !a->corpus))
        lf_error_set("--model DIR and --corpus FILE are required (or --attention P.h5)"), fail_usage();
    if (a->index > a->seq_len && !a->attention)
        lf_error_set("--index %lld exceeds --seq-len %lld", (long long)a->index, (long long)a->seq_len),
            fail_usage();
    if (a->save_attention > a->sequences)
        lf_error_set("--save-attention %lld exceeds --sequences %lld", (long long)a->save_attention,
                     (long long)a->sequences),
            fail_usage();
}

/* Token ids of every sequence: [CLS] + n - 2 corpus tokens + [SEP]. */
static int32_t *make_sequences(const spec_args *a, const lf_tokenizer *tok)
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
static int write_checkpoint(const spec_args *a, const char *path, const lf_spectrum_stats *st,
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

static int read_checkpoint(const spec_args *a, const char *path, lf_spectrum_stats *st, int64_t *done)
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
static int write_results(const spec_args *a, const lf_spectrum_stats *st, int64_t S,
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

/* --attention: matrices from another framework. */
static int run_given(spec_args *a)
{
    lf_h5 *f = lf_h5_open(a->attention);
    if (!f) fail_usage();
    int rank;
    int64_t dims[5];
    float *p = NULL;
    if (!lf_h5_has(f, "/attention/probabilities")) {
        lf_h5_close(f, 0);
        lf_error_set("%s: missing dataset /attention/probabilities ([M, L, H, n, n] or [M, n, n])",
                     a->attention);
        fail_usage();
    }
    if (lf_h5_read_f32(f, "/attention/probabilities", 5, &rank, dims, &p) != 0) {
        lf_h5_close(f, 0);
        fail_usage();
    }
    lf_h5_close(f, 0);
    int64_t M, L = 1, H = 1, n;
    if (rank == 5) {
        M = dims[0], L = dims[1], H = dims[2], n = dims[3];
    } else if (rank == 3) {
        M = dims[0], n = dims[1];
    } else {
        lf_free(p);
        lf_error_set("%s: /attention/probabilities has rank %d; expected [M, L, H, n, n] or [M, n, n]",
                     a->attention, rank);
        fail_usage();
    }
    if (dims[rank - 1] != dims[rank - 2] || M < 1 || n < 1) {
        lf_free(p);
        lf_error_set("%s: /attention/probabilities must hold square n x n matrices (got %lld x %lld)",
                     a->attention, (long long)dims[rank - 2], (long long)dims[rank - 1]);
        fail_usage();
    }
    if (a->index > n) {
        lf_free(p);
        lf_error_set("--index %lld exceeds n = %lld", (long long)a->index, (long long)n);
        fail_usage();
    }
    lf_norm norm;
    lf_sv_method method;
    if (lf_norm_parse(a->normalize, &norm) != 0 || lf_sv_method_parse(a->method, &method) != 0) {
        lf_free(p);
        fail_usage();
    }
    lf_spectrum_stats st;
    if (lf_spectrum_stats_init(&st, (int)L, (int)H, n, norm, method) != 0) {
        lf_free(p);
        lf_cli_fail(prog, LF_EXIT_RUNTIME);
    }
    int rc = 0;
    for (int64_t l = 0; l < L && rc == 0; l++)
        rc = lf_spectrum_stats_add(&st, (int)l, p + l * H * n * n, M, L * H * n * n);
    if (rc != 0) {
        lf_error_prefix("%s", a->attention);
        lf_spectrum_stats_free(&st);
        lf_free(p);
        fail_usage(); /* bad matrices are bad input */
    }
    rc = write_results(a, &st, M, NULL, NULL, 0, n);
    lf_spectrum_stats_free(&st);
    lf_free(p);
    if (rc != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    printf("spectrum: %lld matrices per layer and head analysed; wrote %s\n", (long long)M, a->out);
    return 0;
}

int main(int argc, char **argv)
{
    spec_args a;
    parse_args(argc, argv, &a);
    lf_threads_set((int)a.threads);
    lf_norm norm;
    lf_sv_method method;
    if (lf_norm_parse(a.normalize, &norm) != 0) lf_error_prefix("--normalize"), fail_usage();
    if (lf_sv_method_parse(a.method, &method) != 0) lf_error_prefix("--svd"), fail_usage();
    if (!a.force && access(a.out, F_OK) == 0)
        lf_error_set("%s exists; pass --force to overwrite", a.out), fail_usage();
    if (a.attention) return run_given(&a);

    lf_model *m = lf_model_load_for_text(a.model, a.seq_len, "the spectrum driver");
    if (!m) fail_usage();
    const lf_model_config *cfg = &m->config;
    int32_t *ids = make_sequences(&a, m->tokenizer);
    if (!ids) {
        lf_model_free(m);
        fail_usage();
    }
    const int64_t n = a.seq_len, S = a.sequences, L = cfg->num_hidden_layers,
                  H = cfg->num_attention_heads;
    lf_spectrum_stats st;
    if (lf_spectrum_stats_init(&st, (int)L, (int)H, n, norm, method) != 0) lf_cli_fail(prog, 1);

    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", a.out);
    int64_t done = 0;
    if (a.resume && access(ckpt, F_OK) == 0) {
        if (read_checkpoint(&a, ckpt, &st, &done) != 0) fail_usage();
        fprintf(stderr, "spectrum: resuming from %s after %lld sequences\n", ckpt, (long long)done);
    } else if (!a.resume && access(ckpt, F_OK) == 0) {
        lf_error_set("%s exists from an interrupted run; pass --resume to continue it, or remove it",
                     ckpt);
        fail_usage();
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const int64_t B = a.batch < S ? a.batch : S;
    lf_encoder_ws ws;
    if (lf_encoder_ws_init(&ws, m, B, n) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    observe_ctx octx = {&st};
    lf_encoder_hooks hooks = {.observe = observe_layer, .user = &octx, .keep_probs = 1};
    lf_progress pr;
    lf_progress_start(&pr, "sequences", S, done);
    int64_t since_ckpt = 0;
    while (done < S && !interrupted) {
        int64_t b = S - done < B ? S - done : B;
        if (lf_encoder_forward_hooked(m, ids + done * n, NULL, b, n, &hooks, NULL, NULL, &ws) != 0)
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        done += b;
        since_ckpt += b;
        if (a.stop_after > 0 && done >= a.stop_after && done < S) interrupted = 1;
        lf_progress_update(&pr, done);
        if (a.checkpoint_every > 0 && since_ckpt >= a.checkpoint_every && done < S) {
            if (write_checkpoint(&a, ckpt, &st, done) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
            since_ckpt = 0;
        }
    }
    if (interrupted) {
        if (write_checkpoint(&a, ckpt, &st, done) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
        fprintf(stderr, "\nspectrum: interrupted after %lld of %lld sequences; state saved in %s; "
                        "run the same command with --resume to continue\n",
                (long long)done, (long long)S, ckpt);
        lf_free(ids);
        lf_encoder_ws_free(&ws);
        lf_spectrum_stats_free(&st);
        lf_model_free(m);
        return 130;
    }
    lf_progress_finish(&pr);

    /* P of the first M sequences: recomputed here (M forwards), so that saving does not
     * interact with checkpoints. */
    const int64_t M = a.save_attention;
    float *saved = NULL;
    if (M > 0) {
        size_t count = (size_t)(M * L * H) * (size_t)(n * n);
        saved = lf_alloc(count, sizeof(float));
        if (!saved) lf_cli_fail(prog, LF_EXIT_RUNTIME);
        for (int64_t s0 = 0; s0 < M; s0 += B) {
            int64_t b = M - s0 < B ? M - s0 : B;
            if (lf_encoder_forward(m, ids + s0 * n, NULL, b, n, NULL,
                                   saved + (size_t)(s0 * L * H) * (size_t)(n * n), &ws) != 0)
                lf_cli_fail(prog, LF_EXIT_RUNTIME);
        }
    }
    if (write_results(&a, &st, S, ids, saved, M, n) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    unlink(ckpt);
    double *at = lf_alloc((size_t)(L * H), sizeof(double)), *lm = lf_alloc((size_t)(L * n), sizeof(double));
    if (at && lm && lf_spectrum_stats_results(&st, a.index, NULL, NULL, at, lm) == 0) {
        printf("spectrum: %lld sequences of %lld tokens; mean normalized cumulative value at index %lld:\n",
               (long long)S, (long long)n, (long long)a.index);
        for (int64_t l = 0; l < L; l++) printf("  layer %lld: %.4f\n", (long long)(l + 1), lm[l * n + a.index - 1]);
    }
    printf("spectrum: wrote %s\n", a.out);
    lf_free(at), lf_free(lm), lf_free(saved), lf_free(ids);
    lf_encoder_ws_free(&ws);
    lf_spectrum_stats_free(&st);
    lf_model_free(m);
    return 0;
}
