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
 * Long runs write OUT.ckpt every N sequences and on Ctrl-C; --resume continues from it
 * and ends with the same result as an uninterrupted run. The study is
 * core/spectrum_study (on core/encoder, spectrum, spectrum_stats); this file parses
 * the command line and turns Ctrl-C into a stop request.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "model.h"
#include "parallel.h"
#include "spectrum.h"
#include "spectrum_study.h"
#include "version.h"

static const char *prog = "spectrum";
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    lf_spectrum_opts o;
    int64_t threads;
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
    a->o.seq_len = 512, a->o.sequences = 64, a->o.index = 128, a->o.batch = 4, a->o.checkpoint_every = 32;
    a->o.normalize = "sum", a->o.method = lf_sv_method_name(LF_SV_DEFAULT);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm': a->o.model = optarg; break;
        case 'c': a->o.corpus = optarg; break;
        case 'a': a->o.attention = optarg; break;
        case 'o': a->o.out = optarg; break;
        case 'n': rc = lf_parse_i64("--seq-len", optarg, 3, 1 << 20, &a->o.seq_len); break;
        case 's': rc = lf_parse_i64("--sequences", optarg, 1, INT32_MAX, &a->o.sequences); break;
        case 'i': rc = lf_parse_i64("--index", optarg, 1, 1 << 20, &a->o.index); break;
        case 'N': a->o.normalize = optarg; break;
        case 'v': a->o.method = optarg; break;
        case 'A': rc = lf_parse_i64("--save-attention", optarg, 0, INT32_MAX, &a->o.save_attention); break;
        case 'b': rc = lf_parse_i64("--batch", optarg, 1, 1024, &a->o.batch); break;
        case 't': rc = lf_parse_i64("--threads", optarg, 1, 4096, &a->threads); break;
        case 'S': rc = lf_parse_u64("--seed", optarg, &a->o.seed); break;
        case 'C': rc = lf_parse_i64("--checkpoint-every", optarg, 0, INT32_MAX, &a->o.checkpoint_every); break;
        case 'X': rc = lf_parse_i64("--stop-after", optarg, 1, INT32_MAX, &a->o.stop_after); break;
        case 'r': a->o.resume = 1; break;
        case 'f': a->o.force = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("spectrum (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
        if (rc != 0) fail_usage();
    }
    if (optind < argc) lf_error_set("unexpected argument '%s' (see --help)", argv[optind]), fail_usage();
    if (!a->o.out) lf_error_set("--out FILE.h5 is required"), fail_usage();
    if (a->o.attention && (a->o.model || a->o.corpus))
        lf_error_set("--attention analyses given matrices; it takes no --model or --corpus"), fail_usage();
    if (!a->o.attention && (!a->o.model || !a->o.corpus))
        lf_error_set("--model DIR and --corpus FILE are required (or --attention P.h5)"), fail_usage();
    if (a->o.index > a->o.seq_len && !a->o.attention)
        lf_error_set("--index %lld exceeds --seq-len %lld", (long long)a->o.index, (long long)a->o.seq_len),
            fail_usage();
    if (a->o.save_attention > a->o.sequences)
        lf_error_set("--save-attention %lld exceeds --sequences %lld", (long long)a->o.save_attention,
                     (long long)a->o.sequences),
            fail_usage();
}

int main(int argc, char **argv)
{
    spec_args a;
    parse_args(argc, argv, &a);
    lf_threads_set((int)a.threads);
    lf_norm norm;
    lf_sv_method method;
    if (lf_norm_parse(a.o.normalize, &norm) != 0) lf_error_prefix("--normalize"), fail_usage();
    if (lf_sv_method_parse(a.o.method, &method) != 0) lf_error_prefix("--svd"), fail_usage();
    if (!a.o.force && access(a.o.out, F_OK) == 0)
        lf_error_set("%s exists; pass --force to overwrite", a.o.out), fail_usage();
    int input_error = 0, rc;
    if (a.o.attention) {
        rc = lf_spectrum_given(&a.o, &input_error);
    } else {
        lf_model *m = lf_model_load_for_text(a.o.model, a.o.seq_len, "the spectrum driver");
        if (!m) fail_usage();
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = lf_spectrum_study(&a.o, m, &interrupted, &input_error);
        lf_model_free(m);
    }
    if (rc < 0) lf_cli_fail(prog, input_error ? LF_EXIT_USAGE : LF_EXIT_RUNTIME);
    return rc == 1 ? 130 : 0;
}
