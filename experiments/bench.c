/* bench.c - bin/bench: the efficiency benchmark, the Linformer paper's Table 3. Full
 * encoder inference on random tokens with dense (P materialized), streamed exact and
 * Linformer (layerwise sharing) attention, for every n and k; time per token, memory
 * per sequence and the largest batch that fits a memory budget; written to HDF5 and
 * as a markdown table laid out like Table 3 (FILE.md, also printed).
 *
 *   bin/bench [--device cpu|cuda] [--n LIST] [--k LIST] [--layers L --heads H --dim D]
 *             [--memory-budget BYTES] [--repeats R] [--batch-tokens T] [--verify-tokens T]
 *             [--quick] [--threads T] [--seed S] --out FILE.h5 [--force]
 *
 * --device cuda runs the points on the GPU (lf_bench_run_point_cuda, core/cuda) in a
 * build with nvcc; without one, or without a GPU, it stops with one error line.
 * One point's measurement is core/effbench.c, the table (the loop over the points,
 * the HDF5 datasets, the markdown) core/bench_table.c; this file parses the command
 * line (format of the results: docs/results-format.md, section bin/bench).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_table.h"
#include "cli.h"
#include "effbench.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "model.h"
#include "parallel.h"
#include "version.h"

static const char *prog = "bench";

#define GIB 1073741824.0
#define MIB 1048576.0

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench --out FILE.h5 [options]\n"
            "\n"
            "Efficiency of full encoder inference (the Linformer paper's Table 3): time per\n"
            "token and memory per sequence of dense attention (P materialized), streamed exact\n"
            "attention and Linformer (layerwise sharing: one k x n projection for all layers,\n"
            "heads, keys and values), on random tokens with a randomly initialised BERT of the\n"
            "given shape. Writes FILE.h5, and FILE.md with the tables (also printed).\n"
            "\n"
            "  --device D          cpu (default) or cuda: the CUDA encoder (core/cuda) on device\n"
            "                      0, points one after the other, FP32 math, sgemm rate from\n"
            "                      cuBLAS; needs a build with nvcc and a GPU (otherwise one\n"
            "                      error line, exit status 2)\n"
            "  --n LIST            sequence lengths (default 512,1024,...,65536; --quick up to 8192)\n"
            "  --k LIST            projected lengths (default 128,256,512,1024,2048; --quick 128,256);\n"
            "                      points with k >= n are left out, as in the paper\n"
            "  --layers L          encoder layers (default 12; --quick 2)\n"
            "  --heads H           attention heads (default 12)\n"
            "  --dim D             hidden size (default 768; intermediate 4 D)\n"
            "  --memory-budget B   bytes the benchmark may allocate, weights included; suffixes\n"
            "                      K, M, G (powers of 1024). Default: 16G (the paper's V100),\n"
            "                      on the CPU at most half of this machine's memory; on the\n"
            "                      GPU at most its free memory less 256 MiB. Each point is held to\n"
            "                      it; points that do not fit are skipped with the reason\n"
            "                      recorded. Points of one n held together for interleaved\n"
            "                      timing use at most a quarter of it besides\n"
            "  --repeats R         timed forwards per point after a warm-up (default 3; median)\n"
            "  --batch-tokens T    timed batch: about T tokens, at most the largest batch that\n"
            "                      fits (default 4096)\n"
            "  --verify-tokens T   also run the largest batch when it has at most T tokens\n"
            "                      (default 16384; 0 = never)\n"
            "  --quick             the small configuration of make bench-quick (minutes on 2 cores)\n"
            "  --threads T         threads (default: all cores)\n"
            "  --seed S            seed of the weights, tokens and projection (default 0)\n"
            "  --out FILE.h5       results (required); FILE.md is written next to it\n"
            "  --force             overwrite FILE.h5 and FILE.md if they exist\n"
            "  --help, --version\n"
            "\n"
            "Bad flags: one error line, exit status 2, no output file.\n");
}

typedef struct {
    lf_bench_table_opts o;
    const char *n_arg, *k_arg;
    int64_t *ns, *ks; /* o.ns, o.ks, owned */
    int64_t layers, heads, dim, threads;
    int budget_given, force;
    char md[4096]; /* o.md */
} bench_args;

static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

/* BYTES with an optional K, M or G suffix (powers of 1024). */
static int parse_bytes(const char *flag, const char *s, size_t *out)
{
    if (!s || !*s) LF_FAIL("%s: expected a number of bytes, got an empty value", flag);
    size_t len = strlen(s);
    double scale = 1;
    char num[64];
    if (len >= sizeof num) LF_FAIL("%s: '%s' is too long", flag, s);
    memcpy(num, s, len + 1);
    char last = num[len - 1];
    if (last == 'K' || last == 'k') scale = 1024.0;
    if (last == 'M' || last == 'm') scale = MIB;
    if (last == 'G' || last == 'g') scale = GIB;
    if (scale != 1) num[len - 1] = '\0';
    int64_t v;
    if (lf_parse_i64(flag, num, 1, INT64_MAX / 2, &v) != 0)
        LF_FAIL("%s: expected a positive number of bytes (suffix K, M or G allowed), got '%s'",
                flag, s);
    double bytes = (double)v * scale;
    if (bytes > 9.0e18) LF_FAIL("%s: '%s' is too large", flag, s);
    *out = (size_t)bytes;
    return 0;
}

static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

static void parse_args(int argc, char **argv, bench_args *a)
{
    static const struct option opts[] = {
        {"device", required_argument, 0, 'D'},        {"n", required_argument, 0, 'n'},
        {"k", required_argument, 0, 'k'},             {"layers", required_argument, 0, 'L'},
        {"heads", required_argument, 0, 'H'},         {"dim", required_argument, 0, 'd'},
        {"memory-budget", required_argument, 0, 'm'}, {"repeats", required_argument, 0, 'r'},
        {"batch-tokens", required_argument, 0, 'b'},  {"verify-tokens", required_argument, 0, 'v'},
        {"quick", no_argument, 0, 'q'},               {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 'S'},          {"out", required_argument, 0, 'o'},
        {"force", no_argument, 0, 'f'},               {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},             {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->o.device = "cpu";
    a->layers = a->heads = a->dim = -1;
    a->o.repeats = 3;
    a->o.batch_tokens = 4096;
    a->o.verify_tokens = 16384;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'D': a->o.device = optarg; break;
        case 'n': a->n_arg = optarg; break;
        case 'k': a->k_arg = optarg; break;
        case 'L': rc = lf_parse_i64("--layers", optarg, 1, 1024, &a->layers); break;
        case 'H': rc = lf_parse_i64("--heads", optarg, 1, 1024, &a->heads); break;
        case 'd': rc = lf_parse_i64("--dim", optarg, 1, 65536, &a->dim); break;
        case 'm':
            rc = parse_bytes("--memory-budget", optarg, &a->o.budget);
            a->budget_given = 1;
            break;
        case 'r': rc = lf_parse_i64("--repeats", optarg, 1, 1000, &a->o.repeats); break;
        case 'b': rc = lf_parse_i64("--batch-tokens", optarg, 1, INT32_MAX, &a->o.batch_tokens); break;
        case 'v': rc = lf_parse_i64("--verify-tokens", optarg, 0, INT32_MAX, &a->o.verify_tokens); break;
        case 'q': a->o.quick = 1; break;
        case 't': rc = lf_parse_i64("--threads", optarg, 1, 4096, &a->threads); break;
        case 'S': rc = lf_parse_u64("--seed", optarg, &a->o.seed); break;
        case 'o': a->o.out = optarg; break;
        case 'f': a->force = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("bench (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            rc = -1;
        }
        if (rc != 0) fail_usage();
    }
    if (optind < argc) {
        lf_error_set("unexpected argument '%s' (see --help)", argv[optind]);
        fail_usage();
    }
    if (strcmp(a->o.device, "cpu") && strcmp(a->o.device, "cuda")) {
        lf_error_set("--device: unknown device '%s' (expected cpu or cuda)", a->o.device);
        fail_usage();
    }
    if (!strcmp(a->o.device, "cuda") && !lf_bench_cuda_available()) fail_usage();
    if (!a->o.out) lf_error_set("--out FILE.h5 is required"), fail_usage();
    const char *n_def = a->o.quick ? "512,1024,2048,4096,8192"
                                 : "512,1024,2048,4096,8192,16384,32768,65536";
    const char *k_def = a->o.quick ? "128,256" : "128,256,512,1024,2048";
    if (lf_parse_i64_list("--n", a->n_arg ? a->n_arg : n_def, 2, 1 << 20, &a->ns, &a->o.nn) != 0 ||
        lf_parse_i64_list("--k", a->k_arg ? a->k_arg : k_def, 1, 1 << 20, &a->ks, &a->o.nk) != 0)
        fail_usage();
    for (int i = 0; i < a->o.nn; i++)
        for (int j = 0; j < i; j++)
            if (a->ns[i] == a->ns[j])
                lf_error_set("--n: %lld is listed twice", (long long)a->ns[i]), fail_usage();
    for (int i = 0; i < a->o.nk; i++)
        for (int j = 0; j < i; j++)
            if (a->ks[i] == a->ks[j])
                lf_error_set("--k: %lld is listed twice", (long long)a->ks[i]), fail_usage();
    if (a->layers < 0) a->layers = a->o.quick ? 2 : 12;
    if (a->heads < 0) a->heads = 12;
    if (a->dim < 0) a->dim = 768;
    if (a->dim % a->heads != 0) {
        lf_error_set("--dim: %lld is not divisible by %lld heads", (long long)a->dim,
                     (long long)a->heads);
        fail_usage();
    }
    if (!a->budget_given) {
        size_t phys = physical_memory();
        a->o.budget = (size_t)(16 * GIB);
        /* The CUDA points lower it to the device's free memory themselves. */
        if (strcmp(a->o.device, "cuda") && phys > 0 && phys / 2 < a->o.budget) a->o.budget = phys / 2;
    }
    /* FILE.h5 -> FILE.md; any other name gets .md appended. */
    size_t len = strlen(a->o.out);
    if (len + 4 >= sizeof a->md) lf_error_set("--out: path too long"), fail_usage();
    memcpy(a->md, a->o.out, len + 1);
    if (len > 3 && !strcmp(a->md + len - 3, ".h5")) a->md[len - 3] = '\0';
    strcat(a->md, ".md");
    if (!a->force) {
        const char *paths[2] = {a->o.out, a->md};
        for (int i = 0; i < 2; i++)
            if (access(paths[i], F_OK) == 0)
                lf_error_set("%s exists; pass --force to overwrite", paths[i]), fail_usage();
    }
    a->o.ns = a->ns, a->o.ks = a->ks, a->o.md = a->md;
}

int main(int argc, char **argv)
{
    bench_args a;
    parse_args(argc, argv, &a);
    lf_threads_set((int)a.threads);
    int64_t nmax = 0;
    for (int i = 0; i < a.o.nn; i++) nmax = a.ns[i] > nmax ? a.ns[i] : nmax;
    lf_model_config cfg;
    if (lf_model_config_bert(&cfg, (int)a.layers, (int)a.heads, (int)a.dim, (int)nmax) != 0)
        fail_usage();
    lf_h5 *f = lf_h5_create(a.o.out, "bench", a.force);
    if (!f) fail_usage();
    if (lf_bench_table(&a.o, &cfg, f) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    lf_free(a.ns), lf_free(a.ks);
    return 0;
}
