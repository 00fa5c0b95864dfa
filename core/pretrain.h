/* pretrain.h - masked-LM pretraining of one configuration ("point") with its HDF5 log
 * and checkpoints, and the sweep over points that bin/pretrain runs.
 *
 * One point: model (mlm.h) + data (mlm_batch.h) + AdamW with linear warm-up and
 * linear/cosine decay, gradient clipping (optim.h). Step s (0-based) trains on
 * lf_mlm_train_batch(s) with learning rate lf_lr_at(s) and dropout step s; after it
 * s + 1 updates are done and the log row has step = s + 1. Validation (loss per masked
 * token over the fixed validation sequences) runs at step 0, every eval_every updates
 * and at the end. A checkpoint (checkpoint.h) is written every ckpt_every updates, on
 * a stop request (SIGINT) and at the end, after that step's log rows; on resume from a
 * checkpoint at step S the log keeps rows with step <= S and the run continues with
 * step S, so an interrupted and resumed run ends with the same weights, optimizer state
 * and log columns (tokens_per_s aside) as an uninterrupted one, bit for bit.
 *
 * The fingerprint: every setting that changes the trajectory ("key=value\n" lines:
 * model, optimizer, schedule, total steps, batch, seed, masking, corpus checksum and
 * size). It is stored in the checkpoint and in the log's /config/fingerprint; resuming
 * under a different one is refused naming the setting that differs. Threads are not
 * in it: results are bit-identical for any thread count (mlm.h, optim.h). A backend
 * other than the CPU is (its line "device=NAME" only then, so CPU fingerprints stay as
 * they were): another device rounds differently.
 */
#ifndef LF_PRETRAIN_H
#define LF_PRETRAIN_H

#include <signal.h>
#include <stdint.h>

#include "corpus.h"
#include "mlm.h"
#include "mlm_batch.h"
#include "optim.h"

/* One point of a sweep. */
typedef struct {
    char name[96];       /* file stem, e.g. "n256_k64_none_linear", "n256_dense" */
    int seq_len;
    int linformer;       /* 0: dense Transformer */
    int64_t k;           /* uniform k (0 for dense or nonuniform) */
    int nonuniform;      /* 1: per-layer k from the spec */
    lf_sharing sharing;
    lf_proj_kind kind;
} lf_pretrain_point;

/* A replacement for lf_mlm_loss (same contract: loss, and with LF_MLM_BACKWARD the
 * gradient in lf_mlm_grads(m)), e.g. the GPU twin of bin/pretrain --device cuda. attach
 * is called with each point's model after it is built (before any loss), detach at the
 * end of the point; either may be NULL. lf_pretrain_check_point attaches (and detaches) a
 * model of every point up front, so a backend refuses what it cannot train there. */
typedef struct {
    int (*attach)(void *user, lf_mlm *m);
    int (*loss)(void *user, lf_mlm *m, const lf_mlm_batch *b, int flags, uint64_t dropout_step,
                double *loss, int64_t *n_masked);
    void (*detach)(void *user);
    void *user;
    const char *device; /* its name, recorded in /config and the fingerprint */
} lf_pretrain_backend;

/* Settings shared by all points. */
typedef struct {
    int layers, dim, heads, ffn, pre_ln;
    int proj_init_pool; /* 1: linear projections start as mean pooling (mlm.h) */
    double proj_lr_scale; /* learned projections train at lr * this (0 or 1: lr) */
    double dropout;
    int64_t steps, batch, warmup, eval_every, ckpt_every, val_seqs;
    double lr, final_frac, clip, weight_decay;
    lf_decay_kind decay;
    uint64_t seed;
    int threads;
    const int64_t *nonuniform_k; /* [layers] or NULL */
    const char *corpus_path, *vocab_path;
    int64_t stop_after;          /* testing aid: stop as on SIGINT after this step (0: never) */
    int quiet;                   /* no progress lines */
    const lf_pretrain_backend *backend; /* NULL: lf_mlm_loss on the CPU */
} lf_pretrain_settings;

typedef enum {
    LF_POINT_PENDING,     /* no log yet */
    LF_POINT_STARTED,     /* log, but no checkpoint to resume from: starts over */
    LF_POINT_INTERRUPTED, /* log with complete = 0 and a checkpoint */
    LF_POINT_COMPLETE,    /* log with complete = 1 */
    LF_POINT_UNREADABLE   /* log that cannot be opened (e.g. being written elsewhere) */
} lf_point_state;
const char *lf_point_state_name(lf_point_state s);

typedef struct {
    int interrupted;       /* 1: stopped by a request, checkpoint written, log unfinished */
    int64_t steps_done;
    double final_val_loss; /* nats per masked token at the last validation (NaN: none) */
} lf_pretrain_outcome;

/* Model configuration of a point (k points into k_buf [layers * heads]). */
int lf_pretrain_model_config(const lf_pretrain_settings *s, const lf_pretrain_point *p,
                             int vocab, int64_t *k_buf, lf_mlm_config *out);

/* Checks that a point is possible (k <= n, the projection plan exists, the model
 * builds), naming the point and problem. */
int lf_pretrain_check_point(const lf_pretrain_settings *s, const lf_pretrain_point *p, int vocab);

/* The fingerprint text of a point (lf_alloc'ed, lf_free it). */
char *lf_pretrain_fingerprint(const lf_pretrain_settings *s, const lf_pretrain_point *p,
                              const lf_corpus *c);

/* Trains one point: log at log_path, checkpoint at ckpt_path. resume: continue from
 * the checkpoint if there is one (else start over, replacing a log); !resume: the log
 * must not exist unless force. stop: polled before every step (set by a signal
 * handler); when non-zero the run checkpoints, leaves the log unfinished and returns
 * with outcome->interrupted = 1. */
int lf_pretrain_run(const lf_pretrain_settings *s, const lf_pretrain_point *p, const lf_corpus *c,
                    lf_mlm_data *data, const char *log_path, const char *ckpt_path, int resume,
                    int force, volatile sig_atomic_t *stop, lf_pretrain_outcome *outcome);

/* State of a point from its files; *final_ppl: last validation perplexity (NaN: none),
 * *steps: last logged training step (0: none). */
lf_point_state lf_pretrain_point_state(const char *log_path, const char *ckpt_path,
                                       double *final_ppl, int64_t *steps);

/* The fingerprint stored in an existing log (lf_alloc'ed), NULL with the error set. */
char *lf_pretrain_log_fingerprint(const char *log_path);

#endif
