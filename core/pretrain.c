/* pretrain.c - the masked-LM training loop of one sweep point: log, validation,
 * checkpoints, resume and stop requests (pretrain.h). */
#include "pretrain.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "parallel.h"
#include "progress.h"
#include "runlog.h"

#define EXPERIMENT "pretrain"

const char *lf_point_state_name(lf_point_state s)
{
    switch (s) {
    case LF_POINT_PENDING: return "pending";
    case LF_POINT_STARTED: return "started";
    case LF_POINT_INTERRUPTED: return "interrupted";
    case LF_POINT_COMPLETE: return "complete";
    case LF_POINT_UNREADABLE: return "unreadable";
    }
    return "unknown";
}

int lf_pretrain_model_config(const lf_pretrain_settings *s, const lf_pretrain_point *p, int vocab,
                             int64_t *k_buf, lf_mlm_config *out)
{
    lf_mlm_config c = lf_mlm_config_default();
    c.vocab = vocab;
    c.max_len = p->seq_len;
    c.dim = s->dim;
    c.heads = s->heads;
    c.layers = s->layers;
    c.ffn = s->ffn;
    c.pre_ln = s->pre_ln;
    c.dropout = s->dropout;
    c.seed = s->seed;
    c.linformer = p->linformer;
    c.sharing = p->sharing;
    c.kind = p->kind;
    c.proj_init_pool = p->linformer && p->kind == LF_PROJ_LINEAR ? s->proj_init_pool : 0;
    c.proj_lr_scale = s->proj_lr_scale;
    c.k = NULL;
    if (p->linformer) {
        for (int l = 0; l < s->layers; l++)
            for (int h = 0; h < s->heads; h++) {
                int64_t k = p->nonuniform ? s->nonuniform_k[l] : p->k;
                if (k > p->seq_len)
                    LF_FAIL("%s: k = %lld exceeds the sequence length n = %d (k must be <= n)",
                            p->name, (long long)k, p->seq_len);
                k_buf[l * s->heads + h] = k;
            }
        c.k = k_buf;
    }
    *out = c;
    return 0;
}

int lf_pretrain_check_point(const lf_pretrain_settings *s, const lf_pretrain_point *p, int vocab)
{
    if (s->dim % s->heads != 0)
        LF_FAIL("--dim %d is not divisible by --heads %d", s->dim, s->heads);
    int64_t *k = lf_alloc((size_t)s->layers * (size_t)s->heads, sizeof *k);
    if (!k) return -1;
    lf_mlm_config c;
    int rc = lf_pretrain_model_config(s, p, vocab, k, &c);
    if (!rc && p->linformer) {
        lf_plan plan;
        rc = lf_plan_init(&plan, s->layers, s->heads, p->seq_len, k, p->sharing, p->kind, s->seed);
        if (rc) lf_error_prefix("%s", p->name);
        lf_plan_free(&plan);
    }
    /* a backend (e.g. the GPU) that cannot train the point refuses it now, not mid-sweep */
    if (!rc && s->backend && s->backend->attach) {
        lf_mlm *m = NULL;
        rc = lf_mlm_create(&m, &c);
        if (!rc) rc = s->backend->attach(s->backend->user, m);
        if (s->backend->detach) s->backend->detach(s->backend->user);
        lf_mlm_free(m);
        if (rc) lf_error_prefix("%s", p->name);
    }
    lf_free(k);
    return rc;
}

/* Appends printf-formatted text to a growing buffer. */
typedef struct {
    char *buf;
    size_t len, cap;
    int bad;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->bad = 1;
            return;
        }
        if (b->buf && b->len + (size_t)w < b->cap) {
            b->len += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)w;
        char *nb = lf_alloc(cap, 1);
        if (!nb) {
            b->bad = 1;
            return;
        }
        if (b->buf) memcpy(nb, b->buf, b->len + 1);
        else nb[0] = 0;
        lf_free(b->buf);
        b->buf = nb;
        b->cap = cap;
    }
}

char *lf_pretrain_fingerprint(const lf_pretrain_settings *s, const lf_pretrain_point *p,
                              const lf_corpus *c)
{
    strbuf b = {0};
    sb_printf(&b, "point=%s\nseq_len=%d\nattention=%s\n", p->name, p->seq_len,
              p->linformer ? "linformer" : "dense");
    if (p->linformer) {
        sb_printf(&b, "sharing=%s\nprojection=%s\n", lf_sharing_name(p->sharing),
                  lf_proj_kind_name(p->kind));
        /* only when set, so that fingerprints of the default stay as they were */
        if (p->kind == LF_PROJ_LINEAR && s->proj_init_pool) sb_printf(&b, "proj_init=pool\n");
        if (s->proj_lr_scale > 0 && s->proj_lr_scale != 1)
            sb_printf(&b, "proj_lr_scale=%.17g\n", s->proj_lr_scale);
        if (p->nonuniform) {
            sb_printf(&b, "k=nonuniform:");
            for (int l = 0; l < s->layers; l++)
                sb_printf(&b, "%s%lld", l ? "," : "", (long long)s->nonuniform_k[l]);
            sb_printf(&b, "\n");
        } else {
            sb_printf(&b, "k=%lld\n", (long long)p->k);
        }
    }
    sb_printf(&b, "layers=%d\ndim=%d\nheads=%d\nffn=%d\npre_ln=%d\ndropout=%.17g\n", s->layers,
              s->dim, s->heads, s->ffn, s->pre_ln, s->dropout);
    sb_printf(&b, "steps=%lld\nbatch=%lld\nwarmup=%lld\nlr=%.17g\nfinal_lr_frac=%.17g\n",
              (long long)s->steps, (long long)s->batch, (long long)s->warmup, s->lr,
              s->final_frac);
    sb_printf(&b, "schedule=%s\nclip=%.17g\nweight_decay=%.17g\nseed=%llu\nval_seqs=%lld\n",
              s->decay == LF_DECAY_LINEAR   ? "linear"
              : s->decay == LF_DECAY_COSINE ? "cosine"
                                            : "constant",
              s->clip, s->weight_decay, (unsigned long long)s->seed, (long long)s->val_seqs);
    sb_printf(&b, "tokenizer=%s\ncorpus_tokens=%lld\ncorpus_checksum=%016llx\nvocab_checksum=%016llx\n",
              c->kind == LF_CORPUS_BYTES ? "bytes" : "wordpiece", (long long)c->count,
              (unsigned long long)c->source_checksum, (unsigned long long)c->vocab_checksum);
    if (c->vocab_map) /* compacted (lf_corpus_compact): the model's vocabulary differs */
        sb_printf(&b, "compact_vocab=%d\n", (int)c->vocab_size);
    if (s->backend) sb_printf(&b, "device=%s\n", s->backend->device);
    if (b.bad) {
        lf_free(b.buf);
        lf_error_set("fingerprint: out of memory");
        return NULL;
    }
    return b.buf;
}

/* The loss through the settings' backend, or lf_mlm_loss. */
static int model_loss(const lf_pretrain_settings *s, lf_mlm *m, const lf_mlm_batch *b, int flags,
                      uint64_t dropout_step, double *loss, int64_t *n_masked)
{
    if (s->backend)
        return s->backend->loss(s->backend->user, m, b, flags, dropout_step, loss, n_masked);
    return lf_mlm_loss(m, b, flags, dropout_step, loss, n_masked);
}

/* Validation through lf_mlm_validate: the model's loss on the batch's filled rows. */
typedef struct {
    const lf_pretrain_settings *s;
    lf_mlm *model;
} val_ctx;

static int val_loss(void *ctx, const lf_mlm_data_batch *b, double *loss_sum)
{
    val_ctx *v = ctx;
    lf_mlm_batch mb = {b->rows, b->n, b->input, b->target, b->pad_mask};
    double loss;
    int64_t masked;
    LF_TRY(model_loss(v->s, v->model, &mb, 0, 0, &loss, &masked));
    *loss_sum = loss * (double)masked;
    return 0;
}

static int write_config(lf_h5 *h, const lf_pretrain_settings *s, const lf_pretrain_point *p,
                        const lf_corpus *c, const char *fingerprint, const lf_mlm_data *data)
{
    LF_TRY(lf_h5_config_string(h, "point", p->name));
    LF_TRY(lf_h5_config_int(h, "seq_len", p->seq_len));
    LF_TRY(lf_h5_config_string(h, "attention", p->linformer ? "linformer" : "dense"));
    LF_TRY(lf_h5_config_int(h, "k", p->linformer && !p->nonuniform ? p->k : 0));
    LF_TRY(lf_h5_config_int(h, "nonuniform", p->nonuniform));
    LF_TRY(lf_h5_config_string(h, "sharing", p->linformer ? lf_sharing_name(p->sharing) : "-"));
    LF_TRY(lf_h5_config_string(h, "projection", p->linformer ? lf_proj_kind_name(p->kind) : "-"));
    LF_TRY(lf_h5_config_double(h, "proj_lr_scale",
                               s->proj_lr_scale > 0 ? s->proj_lr_scale : 1.0));
    LF_TRY(lf_h5_config_string(h, "proj_init",
                               !p->linformer                   ? "-"
                               : p->kind != LF_PROJ_LINEAR     ? "kind"
                               : s->proj_init_pool             ? "pool"
                                                               : "xavier"));
    LF_TRY(lf_h5_config_string(h, "device", s->backend ? s->backend->device : "cpu"));
    LF_TRY(lf_h5_config_int(h, "layers", s->layers));
    LF_TRY(lf_h5_config_int(h, "dim", s->dim));
    LF_TRY(lf_h5_config_int(h, "heads", s->heads));
    LF_TRY(lf_h5_config_int(h, "ffn", s->ffn));
    LF_TRY(lf_h5_config_int(h, "pre_ln", s->pre_ln));
    LF_TRY(lf_h5_config_double(h, "dropout", s->dropout));
    LF_TRY(lf_h5_config_int(h, "steps", s->steps));
    LF_TRY(lf_h5_config_int(h, "batch", s->batch));
    LF_TRY(lf_h5_config_int(h, "warmup", s->warmup));
    LF_TRY(lf_h5_config_double(h, "lr", s->lr));
    LF_TRY(lf_h5_config_double(h, "clip", s->clip));
    LF_TRY(lf_h5_config_double(h, "weight_decay", s->weight_decay));
    LF_TRY(lf_h5_config_int(h, "eval_every", s->eval_every));
    LF_TRY(lf_h5_config_int(h, "checkpoint_every", s->ckpt_every));
    LF_TRY(lf_h5_config_int(h, "val_sequences", data->val_seqs));
    LF_TRY(lf_h5_config_u64(h, "seed", s->seed));
    LF_TRY(lf_h5_config_int(h, "threads", lf_threads_get()));
    LF_TRY(lf_h5_config_string(h, "corpus", s->corpus_path));
    LF_TRY(lf_h5_config_string(h, "vocab", s->vocab_path ? s->vocab_path : "(bytes)"));
    LF_TRY(lf_h5_config_int(h, "corpus_tokens", c->count));
    LF_TRY(lf_h5_config_int(h, "vocab_size", c->vocab_size));
    LF_TRY(lf_h5_config_int(h, "compact_vocab", c->vocab_map != NULL));
    if (c->vocab_map) {
        const int64_t dims[1] = {c->vocab_size};
        LF_TRY(lf_h5_write(h, "/vocab_map", LF_H5_I32, 1, dims, c->vocab_map,
                           "the tokenizer's id of each id of the model's compact vocabulary",
                           NULL));
    }
    LF_TRY(lf_h5_config_string(h, "fingerprint", fingerprint));
    return 0;
}

char *lf_pretrain_log_fingerprint(const char *log_path)
{
    lf_h5 *h = lf_h5_open(log_path);
    if (!h) return NULL;
    char *fp = NULL;
    if (lf_h5_read_attr_string(h, "/config", "fingerprint", &fp) != 0) fp = NULL;
    lf_h5_close(h, 0);
    return fp;
}

lf_point_state lf_pretrain_point_state(const char *log_path, const char *ckpt_path,
                                       double *final_ppl, int64_t *steps)
{
    *final_ppl = NAN;
    *steps = 0;
    if (access(log_path, F_OK) != 0) return LF_POINT_PENDING;
    lf_h5 *h = lf_h5_open(log_path);
    if (!h) {
        lf_error_clear();
        return LF_POINT_UNREADABLE;
    }
    int64_t complete = 0;
    if (lf_h5_read_attr_int(h, "/", "complete", &complete) != 0) {
        lf_h5_close(h, 0);
        lf_error_clear();
        return LF_POINT_UNREADABLE;
    }
    int rank;
    int64_t dims[1];
    double *v = NULL;
    if (lf_h5_read_f64(h, "/val/perplexity", 1, &rank, dims, &v) == 0 && dims[0] > 0)
        *final_ppl = v[dims[0] - 1];
    lf_free(v);
    v = NULL;
    if (lf_h5_read_f64(h, "/train/step", 1, &rank, dims, &v) == 0 && dims[0] > 0)
        *steps = (int64_t)v[dims[0] - 1];
    lf_free(v);
    lf_h5_close(h, 0);
    lf_error_clear();
    if (complete == 1) return LF_POINT_COMPLETE;
    return access(ckpt_path, F_OK) == 0 ? LF_POINT_INTERRUPTED : LF_POINT_STARTED;
}

typedef struct {
    lf_mlm *model;
    lf_adamw opt;
    lf_mlm_data_batch batch;
    lf_runlog *log;
    char *fingerprint;
    int64_t *k;
} run_state;

static int save_ckpt(run_state *r, const lf_pretrain_settings *s, const char *path, int64_t step)
{
    lf_ckpt_view v = {(uint64_t)step, s->seed, lf_mlm_param_count(r->model),
                      lf_mlm_params(r->model), r->opt.m, r->opt.v, r->opt.step, r->fingerprint};
    return lf_ckpt_save(path, &v);
}

static int validate(const lf_pretrain_settings *s, run_state *r, lf_mlm_data *data, int64_t step,
                    double *loss_out)
{
    val_ctx vc = {s, r->model};
    double loss;
    int64_t masked;
    LF_TRY(lf_mlm_validate(data, &r->batch, val_loss, &vc, &loss, &masked));
    LF_TRY(lf_runlog_validation(r->log, step, loss, masked));
    *loss_out = loss;
    return 0;
}

int lf_pretrain_run(const lf_pretrain_settings *s, const lf_pretrain_point *p, const lf_corpus *c,
                    lf_mlm_data *data, const char *log_path, const char *ckpt_path, int resume,
                    int force, volatile sig_atomic_t *stop, lf_pretrain_outcome *outcome)
{
    memset(outcome, 0, sizeof *outcome);
    outcome->final_val_loss = NAN;
    run_state r;
    memset(&r, 0, sizeof r);
    int rc = -1;
    lf_mlm_config mc;
    r.k = lf_alloc((size_t)s->layers * (size_t)s->heads, sizeof *r.k);
    if (!r.k) goto done;
    if (lf_pretrain_model_config(s, p, data->vocab_size, r.k, &mc)) goto done;
    if (lf_mlm_create(&r.model, &mc)) goto done;
    if (s->backend && s->backend->attach && s->backend->attach(s->backend->user, r.model)) {
        lf_error_prefix("%s", p->name);
        goto done;
    }
    r.fingerprint = lf_pretrain_fingerprint(s, p, c);
    if (!r.fingerprint) goto done;
    const size_t n = lf_mlm_param_count(r.model);
    if (lf_adamw_init(&r.opt, n)) goto done;
    if (lf_mlm_batch_alloc(&r.batch, (int32_t)s->batch, p->seq_len)) goto done;
    const lf_param_group *groups;
    const int ng = lf_mlm_groups(r.model, &groups);
    float *params = lf_mlm_params(r.model), *grads = lf_mlm_grads(r.model);

    int64_t step = 0;
    if (resume && access(ckpt_path, F_OK) == 0) {
        uint64_t st;
        int64_t ast;
        if (lf_ckpt_load(ckpt_path, r.fingerprint, n, params, r.opt.m, r.opt.v, &st, &ast))
            goto done;
        if (ast != (int64_t)st || st > (uint64_t)s->steps) {
            lf_error_set("%s: inconsistent checkpoint (step %llu, optimizer step %lld, run of %lld "
                         "steps)",
                         ckpt_path, (unsigned long long)st, (long long)ast, (long long)s->steps);
            goto done;
        }
        step = (int64_t)st;
        r.opt.step = ast;
        /* The log must belong to this run too. */
        char *lfp = lf_pretrain_log_fingerprint(log_path);
        if (!lfp) goto done;
        int same = strcmp(lfp, r.fingerprint) == 0;
        lf_free(lfp);
        if (!same) {
            lf_error_set("%s: log of a different configuration than its checkpoint %s", log_path,
                         ckpt_path);
            goto done;
        }
        r.log = lf_runlog_resume(log_path, EXPERIMENT, step + 1);
        if (!r.log) goto done;
    } else {
        if (resume) unlink(ckpt_path); /* none; nothing stale may survive either */
        r.log = lf_runlog_create(log_path, EXPERIMENT, force || resume);
        if (!r.log) goto done;
        if (write_config(lf_runlog_h5(r.log), s, p, c, r.fingerprint, data)) goto done;
        const lf_plan *plan = lf_mlm_plan(r.model);
        if (lf_runlog_begin(r.log, (int64_t)n, plan ? plan->n_proj : 0)) goto done;
        double l0;
        if (validate(s, &r, data, 0, &l0)) goto done;
        outcome->final_val_loss = l0;
    }

    lf_lr_schedule sched = {s->lr, s->final_frac, s->warmup, s->steps, s->decay};
    lf_adamw_hparams hp = lf_adamw_hparams_default();
    hp.weight_decay = s->weight_decay;
    lf_progress prog;
    if (!s->quiet) {
        char what[64];
        snprintf(what, sizeof what, "steps %.50s", p->name);
        lf_progress_start(&prog, what, s->steps, step);
    }
    int flags = LF_MLM_BACKWARD | (s->dropout > 0 ? LF_MLM_DROPOUT : 0);
    while (step < s->steps) {
        if ((stop && *stop) || (s->stop_after > 0 && step >= s->stop_after)) {
            outcome->interrupted = 1;
            break;
        }
        double t0 = lf_now();
        if (lf_mlm_train_batch(data, step, &r.batch)) goto done;
        lf_mlm_batch mb = {r.batch.rows, r.batch.n, r.batch.input, r.batch.target,
                           r.batch.pad_mask};
        double lr = lf_lr_at(&sched, step), loss;
        if (model_loss(s, r.model, &mb, flags, (uint64_t)step, &loss, NULL)) goto done;
        if (!isfinite(loss)) {
            lf_error_set("%s: training loss is %g at step %lld (diverged; lower --lr)", p->name,
                         loss, (long long)step + 1);
            goto done;
        }
        const float gscale = lf_grad_clip_scale(grads, n, groups, ng, s->clip, NULL);
        if (lf_adamw_update_scaled(&r.opt, params, grads, gscale, groups, ng, lr, &hp))
            goto done;
        step++;
        double dt = lf_now() - t0;
        if (lf_runlog_step(r.log, step, loss, lr, dt > 0 ? (double)r.batch.tokens / dt : 0))
            goto done;
        if (step % s->eval_every == 0 || step == s->steps) {
            double vl;
            if (validate(s, &r, data, step, &vl)) goto done;
            outcome->final_val_loss = vl;
        }
        if (s->ckpt_every > 0 && step % s->ckpt_every == 0 && step < s->steps)
            if (save_ckpt(&r, s, ckpt_path, step)) goto done;
        if (!s->quiet) lf_progress_update(&prog, step);
    }
    if (!s->quiet) lf_progress_finish(&prog);
    outcome->steps_done = step;
    /* The final (or interrupted) state is always checkpointed before the log says so. */
    if (save_ckpt(&r, s, ckpt_path, step)) goto done;
    if (outcome->interrupted) {
        rc = lf_runlog_close(r.log);
    } else {
        rc = lf_runlog_finish(r.log);
    }
    r.log = NULL;
done:
    if (r.log) lf_runlog_close(r.log); /* an error leaves the log unfinished */
    lf_mlm_batch_free(&r.batch);
    lf_adamw_free(&r.opt);
    if (s->backend && s->backend->detach) s->backend->detach(s->backend->user);
    lf_mlm_free(r.model);
    lf_free(r.fingerprint);
    lf_free(r.k);
    return rc;
}
