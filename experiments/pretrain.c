/* pretrain.c - bin/pretrain, DRAFT: masked-LM training of the model in core/mlm.h with
 * AdamW, warm-up + linear/cosine decay and gradient clipping (core/optim.h).
 *
 *   bin/pretrain --synthetic [--steps N] [--batch B] [--seq-len n] [--vocab V]
 *                [--layers L] [--dim C] [--heads H] [--ffn F] [--pre-ln]
 *                [--attention dense|linformer] [--k K] [--sharing S] [--projection P]
 *                [--dropout P] [--lr LR] [--warmup W] [--decay D] [--clip C]
 *                [--weight-decay WD] [--seed S] [--threads T] [--log-every M]
 *
 * DRAFT status: the corpus, its masking, the HDF5 run log, checkpoints and sweeps come
 * with core/corpus.h (another piece of issue 5). Until then the only batch source is
 * the synthetic one below, marked as such, and the run prints its log on stdout. It
 * serves as a smoke test of training end to end and as a throughput probe (tokens/s).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "error.h"
#include "mem.h"
#include "mlm.h"
#include "optim.h"
#include "parallel.h"
#include "projection.h"
#include "rng.h"
#include "version.h"

static const char *prog = "pretrain";

static void usage(FILE *to)
{
    fprintf(to,
            "usage: pretrain --synthetic [options]   (DRAFT: no corpus input yet)\n"
            "\n"
            "Trains an encoder masked LM (dense or Linformer attention) and prints, every M\n"
            "steps: step, training loss, learning rate, gradient norm, tokens/s.\n"
            "\n"
            "  --synthetic         batches from the built-in synthetic source: sequences\n"
            "                      (o + t) mod (V - 1), o = 0 or (V - 1) / 2 at random, 15 %% of\n"
            "                      positions replaced by the mask id V - 1 (required for now)\n"
            "  --steps N           updates (default 200)\n"
            "  --batch B           sequences per batch (default 8)\n"
            "  --seq-len n         tokens per sequence (default 128)\n"
            "  --vocab V           vocabulary size, >= 3 (default 64)\n"
            "  --layers L --dim C --heads H --ffn F   model size (default 4, 128, 4, 4 C)\n"
            "  --pre-ln            pre-LayerNorm layers (default post-LN, as RoBERTa)\n"
            "  --attention A       dense (default) or linformer\n"
            "  --k K               Linformer projected length, 1 <= K <= n (default n / 4)\n"
            "  --sharing S         none (default), headwise, kv, layerwise\n"
            "  --projection P      linear (learned, default), gaussian (fixed), mean, max, conv\n"
            "  --dropout P         hidden dropout in [0, 1) (default 0.1)\n"
            "  --lr LR             peak learning rate (default 1e-3)\n"
            "  --warmup W          warm-up updates (default steps / 10)\n"
            "  --decay D           linear (default), cosine, constant; to 0.1 lr at the end\n"
            "  --clip C            global gradient-norm clip, 0 = off (default 1)\n"
            "  --weight-decay WD   AdamW decoupled weight decay (default 0.01)\n"
            "  --seed S            parameters, data and dropout (default 1)\n"
            "  --threads T         threads (default: all cores)\n"
            "  --log-every M       print every M steps (default 10)\n"
            "  --help, --version\n");
}

typedef struct {
    int synthetic, pre_ln;
    int64_t steps, batch, seq_len, vocab, layers, dim, heads, ffn, k, warmup, threads, log_every;
    const char *attention, *sharing, *projection, *decay;
    double dropout, lr, clip, wd;
    uint64_t seed;
} args;

static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

static double parse_real(const char *flag, const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) {
        lf_error_set("%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
        fail_usage();
    }
    return v;
}

static void parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"synthetic", no_argument, 0, 'Y'},      {"steps", required_argument, 0, 'N'},
        {"batch", required_argument, 0, 'B'},    {"seq-len", required_argument, 0, 'n'},
        {"vocab", required_argument, 0, 'v'},    {"layers", required_argument, 0, 'L'},
        {"dim", required_argument, 0, 'C'},      {"heads", required_argument, 0, 'H'},
        {"ffn", required_argument, 0, 'F'},      {"pre-ln", no_argument, 0, 'P'},
        {"attention", required_argument, 0, 'a'}, {"k", required_argument, 0, 'k'},
        {"sharing", required_argument, 0, 's'},  {"projection", required_argument, 0, 'p'},
        {"dropout", required_argument, 0, 'd'},  {"lr", required_argument, 0, 'l'},
        {"warmup", required_argument, 0, 'w'},   {"decay", required_argument, 0, 'D'},
        {"clip", required_argument, 0, 'c'},     {"weight-decay", required_argument, 0, 'W'},
        {"seed", required_argument, 0, 'S'},     {"threads", required_argument, 0, 't'},
        {"log-every", required_argument, 0, 'e'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->steps = 200;
    a->batch = 8;
    a->seq_len = 128;
    a->vocab = 64;
    a->layers = 4;
    a->dim = 128;
    a->heads = 4;
    a->ffn = -1;
    a->k = -1;
    a->warmup = -1;
    a->log_every = 10;
    a->attention = "dense";
    a->sharing = "none";
    a->projection = "linear";
    a->decay = "linear";
    a->dropout = 0.1;
    a->lr = 1e-3;
    a->clip = 1.0;
    a->wd = 0.01;
    a->seed = 1;
    opterr = 0;
    int c;
    const int64_t big = 1 << 20;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'Y': a->synthetic = 1; break;
        case 'N': rc = lf_parse_i64("--steps", optarg, 0, INT32_MAX, &a->steps); break;
        case 'B': rc = lf_parse_i64("--batch", optarg, 1, big, &a->batch); break;
        case 'n': rc = lf_parse_i64("--seq-len", optarg, 1, big, &a->seq_len); break;
        case 'v': rc = lf_parse_i64("--vocab", optarg, 3, big, &a->vocab); break;
        case 'L': rc = lf_parse_i64("--layers", optarg, 1, 4096, &a->layers); break;
        case 'C': rc = lf_parse_i64("--dim", optarg, 1, big, &a->dim); break;
        case 'H': rc = lf_parse_i64("--heads", optarg, 1, 4096, &a->heads); break;
        case 'F': rc = lf_parse_i64("--ffn", optarg, 1, big, &a->ffn); break;
        case 'P': a->pre_ln = 1; break;
        case 'a': a->attention = optarg; break;
        case 'k': rc = lf_parse_i64("--k", optarg, 1, big, &a->k); break;
        case 's': a->sharing = optarg; break;
        case 'p': a->projection = optarg; break;
        case 'd': a->dropout = parse_real("--dropout", optarg, 0, 0.999); break;
        case 'l': a->lr = parse_real("--lr", optarg, 0, 10); break;
        case 'w': rc = lf_parse_i64("--warmup", optarg, 0, INT32_MAX, &a->warmup); break;
        case 'D': a->decay = optarg; break;
        case 'c': a->clip = parse_real("--clip", optarg, 0, 1e30); break;
        case 'W': a->wd = parse_real("--weight-decay", optarg, 0, 10); break;
        case 'S': rc = lf_parse_u64("--seed", optarg, &a->seed); break;
        case 't': rc = lf_parse_i64("--threads", optarg, 1, 4096, &a->threads); break;
        case 'e': rc = lf_parse_i64("--log-every", optarg, 1, INT32_MAX, &a->log_every); break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("pretrain (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
        if (rc != 0) fail_usage();
    }
    if (optind < argc) {
        lf_error_set("unexpected argument '%s' (see --help)", argv[optind]);
        fail_usage();
    }
    if (!a->synthetic) {
        lf_error_set("corpus input is not integrated yet: pass --synthetic (this driver is a "
                     "draft)");
        fail_usage();
    }
    if (strcmp(a->attention, "dense") && strcmp(a->attention, "linformer")) {
        lf_error_set("--attention: unknown '%s' (expected dense or linformer)", a->attention);
        fail_usage();
    }
    if (a->ffn < 0) a->ffn = 4 * a->dim;
    if (a->k < 0) a->k = a->seq_len / 4 > 0 ? a->seq_len / 4 : 1;
    if (a->warmup < 0) a->warmup = a->steps / 10;
}

/* ---- SYNTHETIC BATCH SOURCE (draft stand-in for core/corpus.h) ------------------- */
/* Sequence s of step t: x_i = (o + i) mod (V - 1), o = 0 or (V - 1) / 2 from (seed,
 * step); 15 % of positions (never the first) become the mask id V - 1 with their
 * original id as target; all others have target -1; no padding. */
static void synthetic_batch(int32_t *ids, int32_t *tg, int64_t B, int64_t n, int64_t V,
                            uint64_t seed, int64_t step)
{
    lf_rng r;
    lf_rng_init(&r, seed ^ 0x73796e7468ULL, (uint64_t)step);
    const int64_t period = V - 1;
    for (int64_t s = 0; s < B; s++) {
        const int64_t o = (lf_rng_next(&r) & 1) ? period / 2 : 0;
        for (int64_t i = 0; i < n; i++) {
            const int64_t j = s * n + i;
            ids[j] = (int32_t)((o + i) % period);
            tg[j] = -1;
            if (i > 0 && lf_rng_uniform(&r) < 0.15) {
                tg[j] = ids[j];
                ids[j] = (int32_t)(V - 1);
            }
        }
    }
}
/* ---- end of the synthetic source ------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    args a;
    parse_args(argc, argv, &a);
    lf_threads_set(a.threads > 0 ? (int)a.threads : 0);

    lf_mlm_config c = lf_mlm_config_default();
    c.vocab = (int)a.vocab;
    c.max_len = (int)a.seq_len;
    c.dim = (int)a.dim;
    c.heads = (int)a.heads;
    c.layers = (int)a.layers;
    c.ffn = (int)a.ffn;
    c.pre_ln = a.pre_ln;
    c.dropout = a.dropout;
    c.seed = a.seed;
    c.linformer = strcmp(a.attention, "linformer") == 0;
    int64_t *ks = NULL;
    if (c.linformer) {
        if (lf_sharing_parse(a.sharing, &c.sharing) != 0 ||
            lf_proj_kind_parse(a.projection, &c.kind) != 0) {
            lf_error_prefix("--sharing/--projection");
            fail_usage();
        }
        if (a.k > a.seq_len) {
            lf_error_set("--k %lld exceeds --seq-len %lld (Linformer needs k <= n)",
                         (long long)a.k, (long long)a.seq_len);
            fail_usage();
        }
        ks = lf_alloc((size_t)(a.layers * a.heads), sizeof *ks);
        if (!ks) lf_cli_fail(prog, LF_EXIT_RUNTIME);
        for (int64_t i = 0; i < a.layers * a.heads; i++) ks[i] = a.k;
        c.k = ks;
    }
    lf_decay_kind decay;
    if (lf_decay_parse(a.decay, &decay) != 0) {
        lf_error_prefix("--decay");
        fail_usage();
    }
    lf_mlm *m = NULL;
    if (lf_mlm_create(&m, &c) != 0) fail_usage(); /* configuration errors name the problem */
    lf_free(ks);
    const size_t np = lf_mlm_param_count(m);
    const lf_param_group *groups;
    const int ng = lf_mlm_groups(m, &groups);
    lf_adamw opt;
    if (lf_adamw_init(&opt, np) != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    lf_adamw_hparams hp = lf_adamw_hparams_default();
    hp.weight_decay = a.wd;
    lf_lr_schedule sched = {a.lr, 0.1, a.warmup, a.steps, decay};
    int32_t *ids = lf_alloc((size_t)(a.batch * a.seq_len), sizeof *ids);
    int32_t *tg = lf_alloc((size_t)(a.batch * a.seq_len), sizeof *tg);
    if (!ids || !tg) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    lf_mlm_batch b = {a.batch, a.seq_len, ids, tg, NULL};

    const lf_plan *plan = lf_mlm_plan(m);
    printf("# pretrain (DRAFT, synthetic batches) %s: %s attention%s%s, L %lld, C %lld, H %lld, "
           "F %lld, n %lld, B %lld, V %lld, %zu parameters, %d distinct projections, seed %llu, "
           "%d threads\n",
           LF_VERSION, a.attention, c.linformer ? ", " : "",
           c.linformer ? lf_sharing_name(c.sharing) : "", (long long)a.layers, (long long)a.dim,
           (long long)a.heads, (long long)a.ffn, (long long)a.seq_len, (long long)a.batch,
           (long long)a.vocab, np, plan ? plan->n_proj : 0, (unsigned long long)a.seed,
           lf_threads_get());
    printf("# step loss lr grad_norm tokens_per_s\n");
    double t_last = now_s();
    int64_t tokens = 0;
    for (int64_t step = 0; step < a.steps; step++) {
        synthetic_batch(ids, tg, a.batch, a.seq_len, a.vocab, a.seed, step);
        double loss, norm = 0;
        if (lf_mlm_loss(m, &b, LF_MLM_BACKWARD | (a.dropout > 0 ? LF_MLM_DROPOUT : 0),
                        (uint64_t)step, &loss, NULL) != 0)
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        lf_grad_clip(lf_mlm_grads(m), np, groups, ng, a.clip, &norm);
        const double lr = lf_lr_at(&sched, opt.step);
        if (lf_adamw_update(&opt, lf_mlm_params(m), lf_mlm_grads(m), groups, ng, lr, &hp) != 0)
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        tokens += a.batch * a.seq_len;
        if (!isfinite(loss)) {
            lf_error_set("step %lld: loss is not finite (%g); lower --lr", (long long)step, loss);
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        }
        if ((step + 1) % a.log_every == 0 || step + 1 == a.steps) {
            const double t = now_s();
            printf("%lld %.6f %.6g %.4g %.1f\n", (long long)(step + 1), loss, lr, norm,
                   (double)tokens / (t - t_last));
            fflush(stdout);
            t_last = t;
            tokens = 0;
        }
    }
    lf_free(ids);
    lf_free(tg);
    lf_adamw_free(&opt);
    lf_mlm_free(m);
    return 0;
}
