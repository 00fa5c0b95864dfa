/* lowrank.c - bin/lowrank: how well Linformer's projections approximate a pretrained
 * encoder's attention, per layer and head, as k, sharing mode, projection kind and
 * nonuniform k vary (the approximation side of the paper's ablations).
 *
 *   bin/lowrank --model DIR --corpus FILE --out FILE.h5 [--k 16,32,64,128,256]
 *               [--sharing none,headwise,kv,layerwise] [--projection gaussian,mean,max,conv,fitted]
 *               [--nonuniform LIST|spectrum:T] [--sequences S] [--fit-sequences F]
 *               [--fit-steps N] [--fit-lr R] [--conv-lr R] [--jl-trials T] [--seq-len N] [--batch B]
 *               [--seed X] [--threads T] [--force]
 *
 * The study itself (sequences, plans, passes, the results file) is core/lowrank_study;
 * this file parses the command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ablation_plan.h"
#include "cli.h"
#include "error.h"
#include "lowrank_study.h"
#include "mem.h"
#include "model.h"
#include "parallel.h"
#include "version.h"

static const char *prog = "lowrank";

typedef struct {
    lf_lowrank_opts o;
    int64_t threads;
    int64_t *ks; /* o.ks, owned */
} lr_args;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: lowrank --model DIR --corpus FILE --out FILE.h5 [options]\n"
            "\n"
            "Low-rank approximation ablations on a pretrained BERT encoder's attention: best\n"
            "rank-k error, Theorem-1 error, Linformer output error per layer and head for each\n"
            "projection kind, sharing mode and k; fitted projections; nonuniform k; the encoder\n"
            "with Linformer attention substituted end to end.\n"
            "\n"
            "  --model DIR          Hugging Face model directory (config.json, model.safetensors,\n"
            "                       vocab.txt)\n"
            "  --corpus FILE        UTF-8 text\n"
            "  --k LIST             projected lengths (default 16,32,64,128,256)\n"
            "  --sharing LIST       none,headwise,kv,layerwise (default all four)\n"
            "  --projection LIST    gaussian,mean,max,conv,fitted (default all five)\n"
            "  --nonuniform SPEC    per-layer k (one per layer, e.g. 256,256,128,128,64,64) or\n"
            "                       spectrum:T (per layer the smallest k whose mean cumulative\n"
            "                       singular value reaches T), compared with the uniform k of\n"
            "                       equal total cost\n"
            "  --sequences S        held-out evaluation sequences (default 4)\n"
            "  --fit-sequences F    training sequences for conv/fitted and spectrum:T (default 2)\n"
            "  --fit-steps N        Adam steps per fit (default 20)\n"
            "  --fit-lr R           Adam step of fitted matrices relative to the weight scale k/n\n"
            "                       (default 0.002)\n"
            "  --conv-lr R          the same for conv kernels (default 0.01)\n"
            "  --jl-trials T        Gaussian draws per (sequence, head, k) for Theorem 1 (default 2;\n"
            "                       0 = skip)\n"
            "  --seq-len N          tokens per sequence incl. [CLS] and [SEP] (default 512)\n"
            "  --batch B            sequences per forward pass (default 4)\n"
            "  --threads T, --seed X, --force, --help, --version\n");
}

static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

static int accept_sharing(const char *s)
{
    lf_sharing x;
    return lf_sharing_parse(s, &x);
}

static int accept_kind(const char *s)
{
    lf_ab_kind x;
    return lf_ab_kind_parse(s, &x);
}

static int parse_lr(const char *flag, const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end || !(*out > 0 && *out < 100))
        LF_FAIL("%s: '%s' is not a number in (0, 100)", flag, s);
    return 0;
}

static void parse_args(int argc, char **argv, lr_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"corpus", required_argument, 0, 'c'},
        {"out", required_argument, 0, 'o'},        {"k", required_argument, 0, 'k'},
        {"sharing", required_argument, 0, 'h'},    {"projection", required_argument, 0, 'p'},
        {"nonuniform", required_argument, 0, 'u'}, {"sequences", required_argument, 0, 's'},
        {"fit-sequences", required_argument, 0, 'F'}, {"fit-steps", required_argument, 0, 'T'},
        {"fit-lr", required_argument, 0, 'L'},     {"conv-lr", required_argument, 0, 'R'},     {"jl-trials", required_argument, 0, 'J'},
        {"seq-len", required_argument, 0, 'n'},    {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},    {"seed", required_argument, 0, 'S'},
        {"force", no_argument, 0, 'f'},            {"help", no_argument, 0, 'H'},
        {"version", no_argument, 0, 'V'},          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->o.k_list = "16,32,64,128,256", a->o.sharing_list = "none,headwise,kv,layerwise";
    a->o.proj_list = "gaussian,mean,max,conv,fitted";
    a->o.seq_len = 512, a->o.sequences = 4, a->o.fit_sequences = 2, a->o.fit_steps = 20, a->o.jl_trials = 2;
    a->o.batch = 4, a->o.fit_lr = 0.002, a->o.conv_lr = 0.01;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm': a->o.model = optarg; break;
        case 'c': a->o.corpus = optarg; break;
        case 'o': a->o.out = optarg; break;
        case 'k': a->o.k_list = optarg; break;
        case 'h': a->o.sharing_list = optarg; break;
        case 'p': a->o.proj_list = optarg; break;
        case 'u': a->o.nonuniform = optarg; break;
        case 's': rc = lf_parse_i64("--sequences", optarg, 1, 1 << 20, &a->o.sequences); break;
        case 'F': rc = lf_parse_i64("--fit-sequences", optarg, 0, 1 << 20, &a->o.fit_sequences); break;
        case 'T': rc = lf_parse_i64("--fit-steps", optarg, 0, 1 << 20, &a->o.fit_steps); break;
        case 'J': rc = lf_parse_i64("--jl-trials", optarg, 0, 1 << 16, &a->o.jl_trials); break;
        case 'n': rc = lf_parse_i64("--seq-len", optarg, 3, 1 << 20, &a->o.seq_len); break;
        case 'b': rc = lf_parse_i64("--batch", optarg, 1, 1024, &a->o.batch); break;
        case 't': rc = lf_parse_i64("--threads", optarg, 1, 4096, &a->threads); break;
        case 'S': rc = lf_parse_u64("--seed", optarg, &a->o.seed); break;
        case 'L': rc = parse_lr("--fit-lr", optarg, &a->o.fit_lr); break;
        case 'R': rc = parse_lr("--conv-lr", optarg, &a->o.conv_lr); break;
        case 'f': a->o.force = 1; break;
        case 'H': usage(stdout); exit(0);
        case 'V': printf("lowrank (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
        if (rc != 0) fail_usage();
    }
    if (optind < argc) lf_error_set("unexpected argument '%s' (see --help)", argv[optind]), fail_usage();
    if (!a->o.out) lf_error_set("--out FILE.h5 is required"), fail_usage();
    if (!a->o.model || !a->o.corpus) lf_error_set("--model DIR and --corpus FILE are required"), fail_usage();
    if (lf_parse_i64_list("--k", a->o.k_list, 1, a->o.seq_len, &a->ks, &a->o.nk) != 0) fail_usage();
    char **names;
    int count;
    if (lf_parse_names("--sharing", a->o.sharing_list, accept_sharing, &names, &count) != 0) fail_usage();
    for (int i = 0; i < count; i++) {
        lf_sharing_parse(names[i], &a->o.sh[a->o.ns]);
        for (int j = 0; j < a->o.ns; j++)
            if (a->o.sh[j] == a->o.sh[a->o.ns]) lf_error_set("--sharing: '%s' given twice", names[i]), fail_usage();
        a->o.ns++;
    }
    lf_cli_names_free(names);
    if (lf_parse_names("--projection", a->o.proj_list, accept_kind, &names, &count) != 0) fail_usage();
    for (int i = 0; i < count; i++) {
        lf_ab_kind_parse(names[i], &a->o.kind[a->o.np]);
        for (int j = 0; j < a->o.np; j++)
            if (a->o.kind[j] == a->o.kind[a->o.np])
                lf_error_set("--projection: '%s' given twice", names[i]), fail_usage();
        a->o.np++;
    }
    lf_cli_names_free(names);
    for (int i = 0; i < a->o.nk; i++)
        for (int j = 0; j < i; j++)
            if (a->ks[i] == a->ks[j])
                lf_error_set("--k: %lld given twice", (long long)a->ks[i]), fail_usage();
    int fitted = 0;
    for (int i = 0; i < a->o.np; i++) {
        fitted |= lf_ab_kind_is_fitted(a->o.kind[i]);
        if (a->o.kind[i] == LF_AB_CONV)
            for (int j = 0; j < a->o.nk; j++)
                if (a->o.seq_len % a->ks[j] != 0)
                    lf_error_set("--k: conv needs k to divide --seq-len %lld; %lld does not",
                                 (long long)a->o.seq_len, (long long)a->ks[j]),
                        fail_usage();
    }
    if ((fitted || (a->o.nonuniform && strncmp(a->o.nonuniform, "spectrum:", 9) == 0)) &&
        a->o.fit_sequences < 1)
        lf_error_set("--fit-sequences must be >= 1 for conv, fitted and --nonuniform spectrum:T"),
            fail_usage();
    a->o.ks = a->ks;
}

/* ---- main ----------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    lr_args a;
    parse_args(argc, argv, &a);
    lf_threads_set((int)a.threads);
    if (!a.o.force && access(a.o.out, F_OK) == 0)
        lf_error_set("%s exists; pass --force to overwrite", a.o.out), fail_usage();
    lf_model *m = lf_model_load_for_text(a.o.model, a.o.seq_len, "the lowrank driver");
    if (!m) fail_usage();
    int input_error = 0;
    const int rc = lf_lowrank_study(&a.o, m, &input_error);
    lf_free(a.ks);
    lf_model_free(m);
    if (rc != 0) lf_cli_fail(prog, input_error ? LF_EXIT_USAGE : LF_EXIT_RUNTIME);
    return 0;
}
