/* pretrain.c - bin/pretrain: masked-LM pretraining sweeps over k, sharing, sequence
 * length and nonuniform k (the Linformer paper's Figure 3), one HDF5 log per point and
 * an index of the points in the output directory.
 *
 * The training loop, checkpoints and logs are in core/ (pretrain.c, checkpoint.c,
 * runlog.c, mlm.c, mlm_batch.c, optim.c), the points and DIR/index.tsv in core/sweep.c;
 * this file parses, checks every point before training any, and runs them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "corpus.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "pretrain.h"
#include "progress.h"
#include "sweep.h"
#include "version.h"
#ifdef LF_PRETRAIN_HAVE_CUDA
#include "lf_cuda.h"
#endif

static const char *prog = "pretrain";

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: pretrain --corpus FILE --out DIR [options]\n"
        "\n"
        "Masked-LM pretraining of a dense Transformer and Linformer variants; runs the product\n"
        "of the lists (plus one dense model of the same size per sequence length), one HDF5\n"
        "log DIR/POINT.h5 and checkpoint DIR/POINT.ckpt per point, and DIR/index.tsv.\n"
        "\n"
        "  --corpus FILE         training text (byte-level tokens unless --vocab)\n"
        "  --vocab FILE          WordPiece vocab.txt\n"
        "  --compact-vocab       the model's vocabulary is the tokens that occur in the corpus\n"
        "                        (plus the special tokens), renumbered: a smaller output layer\n"
        "  --seq-len LIST        sequence lengths n (default 256)\n"
        "  --k LIST              projected lengths (default 64); each k <= every n\n"
        "  --sharing LIST        none, headwise, kv, layerwise (default none)\n"
        "  --projection P        linear (learned, default), gaussian (fixed), mean, max, conv\n"
        "  --proj-init I         linear projections start as xavier (default; fairseq's\n"
        "                        Xavier-uniform) or pool (mean pooling over windows of n/k)\n"
        "  --proj-lr-scale X     learned projections (linear, conv) train at X times --lr\n"
        "                        (default 1)\n"
        "  --nonuniform SPEC     per-layer k, one per layer (e.g. 64,32): adds one point per n\n"
        "                        and sharing mode; with sharing, the shared matrix has the\n"
        "                        largest k and a layer uses its first k rows (pooling/conv:\n"
        "                        rejected, one window size per projection)\n"
        "  --layers L --dim D --heads H [--ffn F]   model size (default 2, 128, 4, 4 D)\n"
        "  --pre-ln              pre-LN layers (default post-LN, as RoBERTa)\n"
        "  --dropout P           hidden dropout (default 0)\n"
        "  --device D            cpu (default), cuda (forward and backward on the GPU; the\n"
        "                        optimizer, checkpoints and logs stay on the host; no dropout,\n"
        "                        no pooling/conv projections yet) or cuda-emulate (the GPU code\n"
        "                        path run on the host, slow: for tests)\n"
        "  --steps N             updates per point (default 200)\n"
        "  --batch B             sequences per update (default 8)\n"
        "  --lr X                peak learning rate (default 1e-3)\n"
        "  --warmup W            warm-up updates (default steps / 10)\n"
        "  --schedule S          linear (default) or cosine decay to 0 after warm-up\n"
        "  --clip X              gradient clipping norm (default 1; 0: none)\n"
        "  --weight-decay X      AdamW weight decay (default 0.01)\n"
        "  --eval-every M        validation every M updates (default 50; also at 0 and the end)\n"
        "  --val-seqs V          validation sequences (default 64; 0: all)\n"
        "  --checkpoint-every C  checkpoint every C updates (default 100; also at the end)\n"
        "  --shard i/N           run only the points with index %% N == i (0 <= i < N)\n"
        "  --resume              continue interrupted points from their checkpoints, skip\n"
        "                        complete ones (same settings required)\n"
        "  --force               start existing points over\n"
        "  --list                print the points this invocation would run, and exit\n"
        "  --threads T --seed S  threads (default: all cores), seed (default 0)\n"
        "  --quiet               no progress lines\n"
        "  --help, --version\n"
        "\n"
        "SIGINT/SIGTERM: the current point is checkpointed, its log left unfinished\n"
        "(complete = 0), exit status 130/143; --resume continues it bit-identically.\n"
        "Bad input: one error line, exit status 2, nothing written.\n");
}

typedef struct {
    const char *corpus, *vocab, *out, *projection, *schedule, *proj_init, *device;
    int64_t *k, *seq_len, *nonuniform;
    int nk, nn, nnu;
    char **sharing;
    int nsharing;
    int64_t layers, dim, heads, ffn, steps, batch, warmup, eval_every, val_seqs, ckpt_every;
    int64_t threads, shard_i, shard_n, stop_after;
    double lr, clip, weight_decay, dropout, proj_lr_scale;
    uint64_t seed;
    int pre_ln, resume, force, list, quiet, compact_vocab;
} args;

static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

static int accept_sharing(const char *name)
{
    lf_sharing s;
    return lf_sharing_parse(name, &s);
}

static int parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        LF_FAIL("%s: expected a number in [%g, %g], got '%s'", flag, lo, hi, s);
    *out = v;
    return 0;
}

static void parse_args(int argc, char **argv, args *a)
{
    enum {
        O_CORPUS = 1000, O_VOCAB, O_K, O_SHARING, O_SEQ, O_NU, O_PROJ, O_STEPS, O_BATCH, O_LR,
        O_WARMUP, O_SCHED, O_EVAL, O_CKPT, O_LAYERS, O_DIM, O_HEADS, O_FFN, O_PRELN, O_DROP,
        O_CLIP, O_WD, O_VALSEQ, O_THREADS, O_SEED, O_SHARD, O_RESUME, O_FORCE, O_OUT, O_LIST,
        O_QUIET, O_STOP, O_HELP, O_VERSION, O_COMPACT, O_PINIT, O_PLR, O_DEVICE
    };
    static const struct option opts[] = {
        {"corpus", required_argument, 0, O_CORPUS}, {"vocab", required_argument, 0, O_VOCAB},
        {"compact-vocab", no_argument, 0, O_COMPACT},
        {"k", required_argument, 0, O_K},           {"sharing", required_argument, 0, O_SHARING},
        {"seq-len", required_argument, 0, O_SEQ},   {"nonuniform", required_argument, 0, O_NU},
        {"projection", required_argument, 0, O_PROJ}, {"steps", required_argument, 0, O_STEPS},
        {"proj-init", required_argument, 0, O_PINIT},
        {"proj-lr-scale", required_argument, 0, O_PLR},
        {"device", required_argument, 0, O_DEVICE},
        {"batch", required_argument, 0, O_BATCH},   {"lr", required_argument, 0, O_LR},
        {"warmup", required_argument, 0, O_WARMUP}, {"schedule", required_argument, 0, O_SCHED},
        {"eval-every", required_argument, 0, O_EVAL},
        {"checkpoint-every", required_argument, 0, O_CKPT},
        {"layers", required_argument, 0, O_LAYERS}, {"dim", required_argument, 0, O_DIM},
        {"heads", required_argument, 0, O_HEADS},   {"ffn", required_argument, 0, O_FFN},
        {"pre-ln", no_argument, 0, O_PRELN},        {"dropout", required_argument, 0, O_DROP},
        {"clip", required_argument, 0, O_CLIP},     {"weight-decay", required_argument, 0, O_WD},
        {"val-seqs", required_argument, 0, O_VALSEQ},
        {"threads", required_argument, 0, O_THREADS}, {"seed", required_argument, 0, O_SEED},
        {"shard", required_argument, 0, O_SHARD},   {"resume", no_argument, 0, O_RESUME},
        {"force", no_argument, 0, O_FORCE},         {"out", required_argument, 0, O_OUT},
        {"list", no_argument, 0, O_LIST},           {"quiet", no_argument, 0, O_QUIET},
        {"stop-after", required_argument, 0, O_STOP}, {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},     {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->projection = "linear";
    a->proj_init = "xavier";
    a->device = "cpu";
    a->schedule = "linear";
    a->layers = 2, a->dim = 128, a->heads = 4, a->ffn = -1;
    a->steps = 200, a->batch = 8, a->warmup = -1, a->eval_every = 50, a->val_seqs = 64;
    a->ckpt_every = 100, a->shard_n = 1;
    a->lr = 1e-3, a->clip = 1.0, a->weight_decay = 0.01;
    const char *k = "64", *seq = "256", *sharing = "none", *nu = NULL;
    opterr = 0;
    int c;
#define I64(flag, lo, hi, dst)                                                                     \
    if (lf_parse_i64(flag, optarg, lo, hi, dst)) fail_usage()
#define DBL(flag, lo, hi, dst)                                                                     \
    if (parse_double(flag, optarg, lo, hi, dst)) fail_usage()
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CORPUS: a->corpus = optarg; break;
        case O_VOCAB: a->vocab = optarg; break;
        case O_K: k = optarg; break;
        case O_SHARING: sharing = optarg; break;
        case O_SEQ: seq = optarg; break;
        case O_NU: nu = optarg; break;
        case O_PROJ: a->projection = optarg; break;
        case O_PINIT: a->proj_init = optarg; break;
        case O_DEVICE: a->device = optarg; break;
        case O_SCHED: a->schedule = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_STEPS: I64("--steps", 1, INT32_MAX, &a->steps); break;
        case O_BATCH: I64("--batch", 1, 65536, &a->batch); break;
        case O_WARMUP: I64("--warmup", 0, INT32_MAX, &a->warmup); break;
        case O_EVAL: I64("--eval-every", 1, INT32_MAX, &a->eval_every); break;
        case O_CKPT: I64("--checkpoint-every", 1, INT32_MAX, &a->ckpt_every); break;
        case O_LAYERS: I64("--layers", 1, 64, &a->layers); break;
        case O_DIM: I64("--dim", 1, 65536, &a->dim); break;
        case O_HEADS: I64("--heads", 1, 1024, &a->heads); break;
        case O_FFN: I64("--ffn", 1, 1 << 20, &a->ffn); break;
        case O_VALSEQ: I64("--val-seqs", 0, INT32_MAX, &a->val_seqs); break;
        case O_THREADS: I64("--threads", 1, 4096, &a->threads); break;
        case O_STOP: I64("--stop-after", 1, INT32_MAX, &a->stop_after); break;
        case O_LR: DBL("--lr", 1e-12, 10, &a->lr); break;
        case O_CLIP: DBL("--clip", 0, 1e12, &a->clip); break;
        case O_WD: DBL("--weight-decay", 0, 10, &a->weight_decay); break;
        case O_PLR: DBL("--proj-lr-scale", 1e-6, 1000, &a->proj_lr_scale); break;
        case O_DROP: DBL("--dropout", 0, 0.999, &a->dropout); break;
        case O_SEED:
            if (lf_parse_u64("--seed", optarg, &a->seed)) fail_usage();
            break;
        case O_SHARD: {
            const char *slash = strchr(optarg, '/');
            char buf[64];
            if (!slash || (size_t)(slash - optarg) >= sizeof buf) {
                lf_error_set("--shard: expected i/N (e.g. 0/4), got '%s'", optarg);
                fail_usage();
            }
            memcpy(buf, optarg, (size_t)(slash - optarg));
            buf[slash - optarg] = 0;
            if (lf_parse_i64("--shard", slash + 1, 1, 1 << 20, &a->shard_n) ||
                lf_parse_i64("--shard", buf, 0, a->shard_n - 1, &a->shard_i)) {
                lf_error_prefix("shard index must be 0 <= i < N");
                fail_usage();
            }
            break;
        }
        case O_PRELN: a->pre_ln = 1; break;
        case O_COMPACT: a->compact_vocab = 1; break;
        case O_RESUME: a->resume = 1; break;
        case O_FORCE: a->force = 1; break;
        case O_LIST: a->list = 1; break;
        case O_QUIET: a->quiet = 1; break;
        case O_HELP: usage(stdout); exit(0);
        case O_VERSION: printf("pretrain (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
    }
#undef I64
#undef DBL
    if (optind < argc) {
        lf_error_set("unexpected argument '%s' (see --help)", argv[optind]);
        fail_usage();
    }
    if (!a->corpus) lf_error_set("--corpus FILE is required"), fail_usage();
    if (!a->out) lf_error_set("--out DIR is required"), fail_usage();
    if (a->resume && a->force)
        lf_error_set("--resume and --force exclude each other"), fail_usage();
    if (lf_parse_i64_list("--k", k, 1, INT32_MAX, &a->k, &a->nk)) fail_usage();
    if (lf_parse_i64_list("--seq-len", seq, 3, 1 << 20, &a->seq_len, &a->nn)) fail_usage();
    if (lf_parse_names("--sharing", sharing, accept_sharing, &a->sharing, &a->nsharing))
        fail_usage();
    if (nu) {
        if (lf_parse_i64_list("--nonuniform", nu, 1, INT32_MAX, &a->nonuniform, &a->nnu))
            fail_usage();
        if (a->nnu != a->layers) {
            lf_error_set("--nonuniform: %d values for %lld layers (one k per layer)", a->nnu,
                         (long long)a->layers);
            fail_usage();
        }
    }
    if (a->dim % a->heads) {
        lf_error_set("--dim %lld is not divisible by --heads %lld", (long long)a->dim,
                     (long long)a->heads);
        fail_usage();
    }
    if (a->ffn < 0) a->ffn = 4 * a->dim;
    if (a->warmup < 0) a->warmup = a->steps / 10;
    if (a->warmup > a->steps) {
        lf_error_set("--warmup %lld exceeds --steps %lld", (long long)a->warmup,
                     (long long)a->steps);
        fail_usage();
    }
    lf_proj_kind kind;
    if (lf_proj_kind_parse(a->projection, &kind)) lf_error_prefix("--projection"), fail_usage();
    if (strcmp(a->device, "cpu") != 0 && strcmp(a->device, "cuda") != 0 &&
        strcmp(a->device, "cuda-emulate") != 0) {
        lf_error_set("--device: expected cpu, cuda or cuda-emulate, got '%s'", a->device);
        fail_usage();
    }
#ifndef LF_PRETRAIN_HAVE_CUDA
    if (strcmp(a->device, "cpu") != 0) {
        lf_error_set("--device %s: this bin/pretrain was built without CUDA (no nvcc at build time)",
                     a->device);
        fail_usage();
    }
#endif
    if (strcmp(a->proj_init, "xavier") != 0 && strcmp(a->proj_init, "pool") != 0) {
        lf_error_set("--proj-init: expected xavier or pool, got '%s'", a->proj_init);
        fail_usage();
    }
    if (a->proj_lr_scale > 0 && a->proj_lr_scale != 1 && kind != LF_PROJ_LINEAR &&
        kind != LF_PROJ_CONV) {
        lf_error_set("--proj-lr-scale applies to learned projections (linear, conv); "
                     "--projection is %s", a->projection);
        fail_usage();
    }
    if (strcmp(a->proj_init, "pool") == 0 && kind != LF_PROJ_LINEAR) {
        lf_error_set("--proj-init pool initialises learned linear projections; --projection is "
                     "%s", a->projection);
        fail_usage();
    }
    lf_decay_kind dk;
    if (lf_decay_parse(a->schedule, &dk) || dk == LF_DECAY_CONSTANT) {
        lf_error_set("--schedule: expected linear or cosine, got '%s'", a->schedule);
        fail_usage();
    }
    for (int i = 0; i < a->nk; i++)
        for (int j = 0; j < a->nn; j++)
            if (a->k[i] > a->seq_len[j]) {
                lf_error_set("--k %lld exceeds --seq-len %lld (k must be <= n)", (long long)a->k[i],
                             (long long)a->seq_len[j]);
                fail_usage();
            }
    for (int j = 0; j < a->nn; j++)
        for (int i = 0; i < a->nnu; i++)
            if (a->nonuniform[i] > a->seq_len[j]) {
                lf_error_set("--nonuniform k %lld exceeds --seq-len %lld (k must be <= n)",
                             (long long)a->nonuniform[i], (long long)a->seq_len[j]);
                fail_usage();
            }
}

/* ---- main ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_signal = 0;
static void on_signal(int sig) { stop_signal = sig; }

int main(int argc, char **argv)
{
    args a;
    parse_args(argc, argv, &a);
    if (a.threads > 0) lf_threads_set((int)a.threads);
    else lf_threads_set(0);

    lf_pretrain_settings s = {
        .layers = (int)a.layers, .dim = (int)a.dim, .heads = (int)a.heads, .ffn = (int)a.ffn,
        .pre_ln = a.pre_ln, .proj_init_pool = strcmp(a.proj_init, "pool") == 0,
        .proj_lr_scale = a.proj_lr_scale,
        .dropout = a.dropout, .steps = a.steps, .batch = a.batch,
        .warmup = a.warmup, .eval_every = a.eval_every, .ckpt_every = a.ckpt_every,
        .val_seqs = a.val_seqs, .lr = a.lr, .final_frac = 0.0, .clip = a.clip,
        .weight_decay = a.weight_decay, .seed = a.seed, .threads = lf_threads_get(),
        .nonuniform_k = a.nonuniform, .corpus_path = a.corpus, .vocab_path = a.vocab,
        .stop_after = a.stop_after, .quiet = a.quiet};
    lf_decay_parse(a.schedule, &s.decay);

    /* the device (not for --list, which trains nothing): before the points are checked,
     * so that it refuses what it cannot train before anything is read or written */
#ifdef LF_PRETRAIN_HAVE_CUDA
    lf_pretrain_backend backend;
    if (strcmp(a.device, "cpu") != 0 && !a.list) {
        if (lf_pretrain_backend_cuda(&backend, strcmp(a.device, "cuda-emulate") == 0))
            fail_usage();
        s.backend = &backend;
    }
#endif

    int np = 0;
    const lf_sweep_lists lists = {a.seq_len, a.nn, a.k, a.nk, (const char *const *)a.sharing,
                                  a.nsharing, a.nonuniform, a.nnu, a.projection};
    lf_pretrain_point *pts = lf_sweep_points(&lists, &np);
    if (!pts) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    /* Every point must be possible before anything is trained or written. */
    int vocab_guess = a.vocab ? 1 : LF_CORPUS_BYTE_VOCAB; /* plans do not depend on it */
    for (int i = 0; i < np; i++)
        if (lf_pretrain_check_point(&s, &pts[i], vocab_guess)) fail_usage();

    if (a.list) {
        for (int i = 0; i < np; i++)
            if (i % a.shard_n == a.shard_i) printf("%d\t%s\n", i, pts[i].name);
        lf_free(pts);
        lf_free(a.k), lf_free(a.seq_len), lf_free(a.nonuniform);
        lf_cli_names_free(a.sharing);
        return 0;
    }

    lf_corpus corpus;
    if (lf_corpus_open(a.corpus, a.vocab, NULL, 0, &corpus, NULL, NULL, 0)) fail_usage();
    if (a.compact_vocab && lf_corpus_compact(&corpus)) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    /* The data of every sequence length: a corpus too small for one is an input error. */
    lf_mlm_data *data = lf_calloc((size_t)a.nn, sizeof *data);
    if (!data) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    for (int j = 0; j < a.nn; j++) {
        lf_mlm_data_config dc;
        lf_mlm_data_config_default(&dc);
        dc.seq_len = (int32_t)a.seq_len[j];
        dc.batch = (int32_t)a.batch;
        dc.seed = a.seed;
        dc.max_val_seqs = a.val_seqs;
        if (lf_mlm_data_init(&data[j], &corpus, &dc)) {
            lf_error_prefix("%s", a.corpus);
            fail_usage();
        }
    }

    /* Existing logs: refused without --resume/--force; with --resume they must belong
     * to a run of the same settings. Checked for every selected point up front. */
    char log[4096], ckpt[4096];
    for (int i = 0; i < np; i++) {
        if (i % a.shard_n != a.shard_i) continue;
        lf_sweep_paths(a.out, pts[i].name, log, ckpt, sizeof log);
        if (access(log, F_OK) != 0) continue;
        if (!a.resume && !a.force) {
            lf_error_set("%s exists; pass --resume to continue the sweep or --force to start over",
                         log);
            fail_usage();
        }
        if (a.resume) {
            char *fp = lf_pretrain_fingerprint(&s, &pts[i], &corpus);
            char *lfp = fp ? lf_pretrain_log_fingerprint(log) : NULL;
            if (!lfp) lf_cli_fail(prog, LF_EXIT_USAGE);
            int same = strcmp(fp, lfp) == 0;
            lf_free(fp), lf_free(lfp);
            if (!same) {
                lf_error_set("%s was run with other settings; use another --out or --force", log);
                fail_usage();
            }
            /* A checkpoint that cannot be resumed from is refused before any training. */
            if (access(ckpt, F_OK) == 0) {
                char *cfp = lf_pretrain_fingerprint(&s, &pts[i], &corpus);
                if (!cfp) lf_cli_fail(prog, LF_EXIT_RUNTIME);
                int bad = lf_ckpt_verify(ckpt, cfp, NULL);
                lf_free(cfp);
                if (bad) fail_usage();
            }
        }
    }
    if (mkdir(a.out, 0777) != 0 && errno != EEXIST) {
        lf_error_set("%s: cannot create directory: %s", a.out, strerror(errno));
        fail_usage();
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int status = 0;
    if (lf_sweep_index_write(a.out, pts, np, &lists, a.shard_n, NULL))
        lf_cli_fail(prog, LF_EXIT_RUNTIME);
    for (int i = 0; i < np && !stop_signal; i++) {
        if (i % a.shard_n != a.shard_i) continue;
        lf_pretrain_point *p = &pts[i];
        lf_sweep_paths(a.out, p->name, log, ckpt, sizeof log);
        double ppl;
        int64_t steps;
        if (a.resume && lf_pretrain_point_state(log, ckpt, &ppl, &steps) == LF_POINT_COMPLETE) {
            if (!a.quiet) fprintf(stderr, "%s: %s complete, skipped\n", prog, p->name);
            continue;
        }
        lf_mlm_data *d = NULL;
        for (int j = 0; j < a.nn; j++)
            if (a.seq_len[j] == p->seq_len) d = &data[j];
        if (lf_sweep_index_write(a.out, pts, np, &lists, a.shard_n, p->name))
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        lf_pretrain_outcome oc;
        double t0 = lf_now();
        if (lf_pretrain_run(&s, p, &corpus, d, log, ckpt, a.resume, a.force, &stop_signal, &oc)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", lf_error_get());
            lf_sweep_index_write(a.out, pts, np, &lists, a.shard_n, NULL);
            lf_error_set("%s", msg);
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        }
        if (!a.quiet)
            fprintf(stderr, "%s: %s %s at step %lld, validation perplexity %.4g (%.1f s)\n", prog,
                    p->name, oc.interrupted ? "interrupted" : "done", (long long)oc.steps_done,
                    exp(oc.final_val_loss), lf_now() - t0);
        if (oc.interrupted) {
            status = stop_signal ? 128 + stop_signal : 130;
            break;
        }
    }
    if (stop_signal && !status) status = 128 + stop_signal;
    if (lf_sweep_index_write(a.out, pts, np, &lists, a.shard_n, NULL))
        lf_cli_fail(prog, LF_EXIT_RUNTIME);
    for (int j = 0; j < a.nn; j++) lf_mlm_data_free(&data[j]);
    lf_free(data);
    lf_corpus_free(&corpus);
    lf_free(pts);
    lf_free(a.k), lf_free(a.seq_len), lf_free(a.nonuniform);
    lf_cli_names_free(a.sharing);
#ifdef LF_PRETRAIN_HAVE_CUDA
    if (s.backend) lf_pretrain_backend_cuda_free(&backend);
#endif
    if (status)
        fprintf(stderr, "%s: interrupted; checkpoint saved, continue with --resume\n", prog);
    return status;
}
