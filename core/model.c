/* model.c - loading a Hugging Face BERT/RoBERTa model directory into one float32
 * parameter block (see model.h). */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "rng.h"
#include "safetensors.h"

/* Each tensor of the block starts on a 64-byte boundary (16 floats): BLAS and the
 * vector loops read aligned rows, and the padding costs at most 1 KiB in all. */
#define LF_MODEL_ALIGN_FLOATS 16
#define LF_MODEL_NTENSORS 17

/* Tensor-name prefixes tried in order; the one under which the word embeddings
 * are found is used for every tensor. */
static const char *const lf_model_prefixes[] = {"", "bert.", "roberta."};

static int lf_model_layout(const lf_model_config *c, size_t counts[LF_MODEL_NTENSORS])
{
    const size_t V = (size_t)c->vocab_size, P = (size_t)c->max_position_embeddings,
                 T = (size_t)c->type_vocab_size, C = (size_t)c->hidden_size,
                 I = (size_t)c->intermediate_size, L = (size_t)c->num_hidden_layers;
    /* Every config value is a positive int, so only the products can overflow. */
    size_t cc, ic;
    if (lf_size_mul(C, C, &cc) || lf_size_mul(I, C, &ic)) return -1;
    size_t sizes[LF_MODEL_NTENSORS][2] = {
        {V, C}, {P, C}, {T, C}, {C, 1}, {C, 1},  /* embeddings */
        {L, 3 * cc}, {L, 3 * C},                 /* qkv */
        {L, cc}, {L, C}, {L, C}, {L, C},         /* attention output, LayerNorm */
        {L, ic}, {L, I}, {L, ic}, {L, C},        /* feed-forward */
        {L, C}, {L, C}};                         /* output LayerNorm */
    if (cc > SIZE_MAX / 3) {
        lf_error_set("model: hidden size %zu is too large", C);
        return -1;
    }
    for (int i = 0; i < LF_MODEL_NTENSORS; i++)
        if (lf_size_mul(sizes[i][0], sizes[i][1], &counts[i]) != 0) return -1;
    return 0;
}

/* The pointers of w in the order of lf_model_layout. */
static float **lf_model_slot(lf_model_weights *w, int i)
{
    float **slots[LF_MODEL_NTENSORS] = {
        &w->word_emb,  &w->pos_emb,    &w->type_emb,   &w->emb_ln_w,  &w->emb_ln_b,  &w->qkv_w,
        &w->qkv_b,     &w->attn_out_w, &w->attn_out_b, &w->attn_ln_w, &w->attn_ln_b, &w->ffn_in_w,
        &w->ffn_in_b,  &w->ffn_out_w,  &w->ffn_out_b,  &w->ffn_ln_w,  &w->ffn_ln_b};
    return slots[i];
}

/* Finds PREFIX+NAME, checks its shape against the config's and converts it into
 * DST (exactly rank-1 or rank-2 SHAPE). */
static int lf_model_fetch(const lf_safetensors *st, const char *prefix, const char *name, int rank,
                          int64_t d0, int64_t d1, float *dst)
{
    char full[160];
    int len = snprintf(full, sizeof full, "%s%s", prefix, name);
    LF_ASSERT(len > 0 && (size_t)len < sizeof full);
    const lf_st_tensor *t = lf_safetensors_find(st, full);
    /* Checkpoints converted from Google's TensorFlow BERT (bert-base-uncased among
     * them) name layer-norm parameters gamma/beta; Hugging Face renames them on load. */
    const char *ln = strstr(full, "LayerNorm.");
    if (!t && ln) {
        char old[160];
        snprintf(old, sizeof old, "%.*sLayerNorm.%s", (int)(ln - full), full,
                 strcmp(ln, "LayerNorm.weight") == 0 ? "gamma" : "beta");
        t = lf_safetensors_find(st, old);
        if (t) snprintf(full, sizeof full, "%s", old);
    }
    if (!t) {
        if (rank == 1)
            LF_FAIL("%s: tensor '%s' is missing (expected shape [%lld]); is this a BERT/RoBERTa "
                    "checkpoint matching its config.json?",
                    lf_safetensors_path(st), full, (long long)d0);
        LF_FAIL("%s: tensor '%s' is missing (expected shape [%lld, %lld]); is this a "
                "BERT/RoBERTa checkpoint matching its config.json?",
                lf_safetensors_path(st), full, (long long)d0, (long long)d1);
    }
    const int64_t shape[2] = {d0, d1};
    LF_TRY(lf_safetensors_check_shape(st, t, rank, shape));
    return lf_safetensors_to_f32(st, t, dst, (size_t)t->count);
}

static int lf_model_fill(lf_model *m, const lf_safetensors *st)
{
    const lf_model_config *c = &m->config;
    const lf_model_weights *w = &m->w;
    const int64_t V = c->vocab_size, P = c->max_position_embeddings, T = c->type_vocab_size,
                  C = c->hidden_size, I = c->intermediate_size;

    /* The prefix: wherever the word embeddings are. */
    const char *prefix = NULL;
    for (size_t i = 0; i < sizeof lf_model_prefixes / sizeof lf_model_prefixes[0]; i++) {
        char probe[64];
        snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", lf_model_prefixes[i]);
        if (lf_safetensors_find(st, probe)) {
            prefix = lf_model_prefixes[i];
            break;
        }
    }
    if (!prefix)
        LF_FAIL("%s: tensor 'embeddings.word_embeddings.weight' is missing (also looked for it "
                "under 'bert.' and 'roberta.'): not a BERT/RoBERTa checkpoint",
                lf_safetensors_path(st));
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    lf_error_clear();

    LF_TRY(lf_model_fetch(st, prefix, "embeddings.word_embeddings.weight", 2, V, C, w->word_emb));
    LF_TRY(lf_model_fetch(st, prefix, "embeddings.position_embeddings.weight", 2, P, C, w->pos_emb));
    LF_TRY(lf_model_fetch(st, prefix, "embeddings.token_type_embeddings.weight", 2, T, C,
                          w->type_emb));
    LF_TRY(lf_model_fetch(st, prefix, "embeddings.LayerNorm.weight", 1, C, 0, w->emb_ln_w));
    LF_TRY(lf_model_fetch(st, prefix, "embeddings.LayerNorm.bias", 1, C, 0, w->emb_ln_b));

    for (int l = 0; l < c->num_hidden_layers; l++) {
        const struct {
            const char *name;
            int rank;
            int64_t d0, d1;
            float *dst;
        } per_layer[] = {
            {"attention.self.query.weight", 2, C, C, w->qkv_w + (3 * l + 0) * C * C},
            {"attention.self.key.weight", 2, C, C, w->qkv_w + (3 * l + 1) * C * C},
            {"attention.self.value.weight", 2, C, C, w->qkv_w + (3 * l + 2) * C * C},
            {"attention.self.query.bias", 1, C, 0, w->qkv_b + (3 * l + 0) * C},
            {"attention.self.key.bias", 1, C, 0, w->qkv_b + (3 * l + 1) * C},
            {"attention.self.value.bias", 1, C, 0, w->qkv_b + (3 * l + 2) * C},
            {"attention.output.dense.weight", 2, C, C, w->attn_out_w + l * C * C},
            {"attention.output.dense.bias", 1, C, 0, w->attn_out_b + l * C},
            {"attention.output.LayerNorm.weight", 1, C, 0, w->attn_ln_w + l * C},
            {"attention.output.LayerNorm.bias", 1, C, 0, w->attn_ln_b + l * C},
            {"intermediate.dense.weight", 2, I, C, w->ffn_in_w + l * I * C},
            {"intermediate.dense.bias", 1, I, 0, w->ffn_in_b + l * I},
            {"output.dense.weight", 2, C, I, w->ffn_out_w + l * C * I},
            {"output.dense.bias", 1, C, 0, w->ffn_out_b + l * C},
            {"output.LayerNorm.weight", 1, C, 0, w->ffn_ln_w + l * C},
            {"output.LayerNorm.bias", 1, C, 0, w->ffn_ln_b + l * C},
        };
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            char name[128];
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, per_layer[i].name);
            LF_TRY(lf_model_fetch(st, prefix, name, per_layer[i].rank, per_layer[i].d0,
                                  per_layer[i].d1, per_layer[i].dst));
        }
    }
    /* A checkpoint with more layers than its config says is inconsistent: the
     * config would silently run a truncated model. */
    char extra[96];
    snprintf(extra, sizeof extra, "%sencoder.layer.%d.attention.self.query.weight", prefix,
             c->num_hidden_layers);
    if (lf_safetensors_find(st, extra))
        LF_FAIL("%s: has tensor '%s' but config.json says num_hidden_layers = %d",
                lf_safetensors_path(st), extra, c->num_hidden_layers);
    lf_error_clear();
    return 0;
}

void lf_model_free(lf_model *m)
{
    if (!m) return;
    lf_tokenizer_free(m->tokenizer);
    lf_free(m->params);
    lf_free(m);
}

/* A model with CFG and its parameter block allocated (uninitialised), every pointer of
 * w set. WHAT and WHERE name the config and the weights in messages. */
static lf_model *lf_model_alloc(const lf_model_config *cfg, const char *what, const char *where)
{
    size_t counts[LF_MODEL_NTENSORS], offsets[LF_MODEL_NTENSORS], total = 0, params = 0;
    if (lf_model_layout(cfg, counts) != 0) {
        lf_error_prefix("%s", what);
        return NULL;
    }
    for (int i = 0; i < LF_MODEL_NTENSORS; i++) {
        offsets[i] = total;
        size_t padded = (counts[i] + LF_MODEL_ALIGN_FLOATS - 1) / LF_MODEL_ALIGN_FLOATS *
                        LF_MODEL_ALIGN_FLOATS;
        if (padded < counts[i] || total > SIZE_MAX - padded) {
            lf_error_set("%s: the model is too large for memory", what);
            return NULL;
        }
        total += padded;
        params += counts[i];
    }
    lf_model *m = lf_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->config = *cfg;
    m->num_params = params;
    m->params = lf_alloc(total, sizeof(float));
    if (!m->params) {
        lf_error_prefix("%s: %zu parameters", where, params);
        lf_free(m);
        return NULL;
    }
    for (int i = 0; i < LF_MODEL_NTENSORS; i++) *lf_model_slot(&m->w, i) = m->params + offsets[i];
    return m;
}

lf_model *lf_model_load_files(const char *config_path, const char *weights_path,
                              const char *vocab_path)
{
    if (!config_path || !weights_path) {
        lf_error_set("lf_model_load_files: no config or weights path (NULL)");
        return NULL;
    }
    lf_model_config cfg;
    if (lf_model_config_load(config_path, &cfg) != 0) return NULL;

    lf_safetensors *st = lf_safetensors_open(weights_path);
    if (!st) return NULL;
    lf_model *m = lf_model_alloc(&cfg, config_path, weights_path);
    if (!m) goto fail;
    if (lf_model_fill(m, st) != 0) goto fail;
    lf_safetensors_close(st);
    st = NULL;

    if (vocab_path) {
        m->tokenizer = lf_tokenizer_load(vocab_path);
        if (!m->tokenizer) goto fail;
        int32_t nv = lf_tokenizer_vocab_size(m->tokenizer);
        if (nv != cfg.vocab_size) {
            lf_error_set("%s has %d tokens but the embeddings have %d rows (%s%s in %s): the "
                         "vocabulary does not belong to these weights",
                         vocab_path, (int)nv, cfg.vocab_size, m->prefix,
                         "embeddings.word_embeddings.weight", weights_path);
            goto fail;
        }
    }
    return m;

fail:
    lf_safetensors_close(st);
    lf_model_free(m);
    return NULL;
}

static int lf_model_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

lf_model *lf_model_load_for_text(const char *dir, int64_t seq_len, const char *who)
{
    lf_model *m = lf_model_load(dir);
    if (!m) return NULL;
    if (!m->tokenizer) {
        lf_model_free(m);
        lf_error_set("%s: no vocab.txt; %s needs a WordPiece vocabulary", dir, who);
        return NULL;
    }
    if (seq_len > m->config.max_seq_len) {
        lf_error_set("--seq-len %lld exceeds the model's %d positions", (long long)seq_len,
                     m->config.max_seq_len);
        lf_model_free(m);
        return NULL;
    }
    return m;
}

lf_model *lf_model_load(const char *dir)
{
    if (!dir || !*dir) {
        lf_error_set("model: no directory given");
        return NULL;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        lf_error_set("%s: cannot open the model directory: %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(sb.st_mode)) {
        lf_error_set("%s: not a directory (give the Hugging Face model directory holding "
                     "config.json, model.safetensors and vocab.txt)",
                     dir);
        return NULL;
    }
    size_t len = strlen(dir) + 32;
    char *config = lf_alloc(3, len);
    if (!config) return NULL;
    char *weights = config + len, *vocab = config + 2 * len;
    snprintf(config, len, "%s/config.json", dir);
    snprintf(weights, len, "%s/model.safetensors", dir);
    snprintf(vocab, len, "%s/vocab.txt", dir);

    lf_model *m = NULL;
    if (!lf_model_exists(config)) {
        lf_error_set("%s: missing: a Hugging Face model directory has a config.json", config);
    } else if (!lf_model_exists(weights)) {
        char other[4096];
        snprintf(other, sizeof other, "%s/pytorch_model.bin", dir);
        const char *hint = lf_model_exists(other)
                               ? " (the directory has pytorch_model.bin: convert it to safetensors)"
                               : "";
        snprintf(other, sizeof other, "%s/model.safetensors.index.json", dir);
        if (lf_model_exists(other)) hint = " (sharded checkpoints are not supported)";
        lf_error_set("%s: missing: only model.safetensors weights are read%s", weights, hint);
    } else {
        m = lf_model_load_files(config, weights, lf_model_exists(vocab) ? vocab : NULL);
    }
    lf_free(config);
    return m;
}

/* Tensors in the order of lf_model_layout: 0 = N(0, std^2), 1 = zeros, 2 = ones. */
static const int lf_model_init_kind[LF_MODEL_NTENSORS] = {0, 0, 0, 2, 1, 0, 1, 0, 1,
                                                          2, 1, 0, 1, 0, 1, 2, 1};

lf_model *lf_model_random(const lf_model_config *cfg, uint64_t seed)
{
    if (!cfg) {
        lf_error_set("lf_model_random: no config (NULL)");
        return NULL;
    }
    lf_model *m = lf_model_alloc(cfg, "random model", "random model");
    if (!m) return NULL;
    size_t counts[LF_MODEL_NTENSORS];
    LF_ASSERT(lf_model_layout(cfg, counts) == 0);
    const double std = 0.02; /* BERT's initializer_range */
    const size_t block = (size_t)1 << 20;
    const int nt = lf_threads_get();
    for (int t = 0; t < LF_MODEL_NTENSORS; t++) {
        float *dst = *lf_model_slot(&m->w, t);
        const size_t count = counts[t];
        const int64_t blocks = (int64_t)((count + block - 1) / block);
        if (lf_model_init_kind[t] != 0) {
            const float v = lf_model_init_kind[t] == 2 ? 1.0f : 0.0f;
            for (size_t i = 0; i < count; i++) dst[i] = v;
            continue;
        }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t b = 0; b < blocks; b++) {
            lf_rng r;
            lf_rng_init(&r, seed, ((uint64_t)t << 32) + (uint64_t)b);
            size_t first = (size_t)b * block, len = count - first < block ? count - first : block;
            lf_rng_fill_normal(&r, dst + first, len, 0.0, std);
        }
    }
    return m;
}
