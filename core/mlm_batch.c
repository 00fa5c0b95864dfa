/* mlm_batch.c - train/validation split, sequences, batch order and masking for
 * masked-LM pretraining (the rules are stated in mlm_batch.h). */
#include "mlm_batch.h"

#include <string.h>

#include "error.h"
#include "mem.h"
#include "rng.h"

void lf_mlm_data_config_default(lf_mlm_data_config *c)
{
    memset(c, 0, sizeof *c);
    c->seq_len = 512;
    c->batch = 32;
    c->seed = 0;
    c->split_block = 16384;
    c->val_every = 20;
    c->max_val_seqs = 0;
    c->mask_prob = 0.15;
    c->mask_token_frac = 0.8;
    c->random_token_frac = 0.1;
}

/* Uniform integer in [0, m), m >= 1, without modulo bias. */
static uint64_t bounded(lf_rng *r, uint64_t m)
{
    uint64_t threshold = (0 - m) % m; /* (2^64 - m) mod m */
    uint64_t x;
    do x = lf_rng_next(r);
    while (x < threshold);
    return x % m;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

void lf_mlm_data_free(lf_mlm_data *d)
{
    if (!d) return;
    lf_free(d->train_tokens);
    lf_free(d->val_tokens);
    lf_free(d->special);
    lf_free(d->nonspecial);
    lf_free(d->perm);
    memset(d, 0, sizeof *d);
}

static int check_config(const lf_mlm_data_config *c)
{
    if (c->seq_len < 3)
        LF_FAIL("sequence length %d: must be at least 3 ([CLS], a token, [SEP])", (int)c->seq_len);
    if (c->batch < 1) LF_FAIL("batch size %d: must be at least 1", (int)c->batch);
    if (c->split_block < 1)
        LF_FAIL("split block %lld tokens: must be at least 1", (long long)c->split_block);
    if (c->val_every < 2) LF_FAIL("val_every %d: must be at least 2", (int)c->val_every);
    if (c->max_val_seqs < 0)
        LF_FAIL("max_val_seqs %lld: must be >= 0 (0 = all)", (long long)c->max_val_seqs);
    if (!(c->mask_prob >= 0 && c->mask_prob <= 1))
        LF_FAIL("mask probability %g: must be in [0, 1]", c->mask_prob);
    if (!(c->mask_token_frac >= 0 && c->random_token_frac >= 0 &&
          c->mask_token_frac + c->random_token_frac <= 1))
        LF_FAIL("mask fractions %g ([MASK]) + %g (random): each >= 0, sum <= 1",
                c->mask_token_frac, c->random_token_frac);
    return 0;
}

int lf_mlm_data_init(lf_mlm_data *d, const lf_corpus *c, const lf_mlm_data_config *cfg)
{
    memset(d, 0, sizeof *d);
    LF_TRY(check_config(cfg));
    if (c->vocab_size < 1 || c->pad_id < 0 || c->cls_id < 0 || c->sep_id < 0 || c->mask_id < 0)
        LF_FAIL("corpus: its tokenizer lacks [PAD], [CLS], [SEP] or [MASK]");
    d->cfg = *cfg;
    d->vocab_size = c->vocab_size;
    d->pad_id = c->pad_id;
    d->cls_id = c->cls_id;
    d->sep_id = c->sep_id;
    d->mask_id = c->mask_id;
    d->perm_epoch = -1;
    const int64_t n = cfg->seq_len, piece = n - 2, blk = cfg->split_block, every = cfg->val_every;

    /* Split: count first, then copy the blocks. */
    int64_t val_len = 0;
    for (int64_t start = 0, j = 0; start < c->count; start += blk, j++)
        if (j % every == every - 1) val_len += (c->count - start < blk ? c->count - start : blk);
    int64_t train_len = c->count - val_len;
    int64_t train_seqs = ceil_div(train_len, piece), val_seqs = ceil_div(val_len, piece);
    if (train_seqs < cfg->batch)
        LF_FAIL("corpus too small for one batch: %lld tokens give %lld training sequences of "
                "%d tokens, a batch needs %d",
                (long long)c->count, (long long)train_seqs, (int)n, (int)cfg->batch);
    if (val_seqs < 1)
        LF_FAIL("corpus too small for validation: %lld tokens; block j of %lld tokens is "
                "validation when j %% %d == %d, so at least %lld tokens are needed",
                (long long)c->count, (long long)blk, (int)every, (int)every - 1,
                (long long)((every - 1) * blk + 1));
    if (cfg->max_val_seqs > 0 && val_seqs > cfg->max_val_seqs) val_seqs = cfg->max_val_seqs;

    if (!(d->train_tokens = lf_alloc((size_t)train_len, sizeof(int32_t))) ||
        !(d->val_tokens = lf_alloc((size_t)val_len, sizeof(int32_t))) ||
        !(d->special = lf_calloc((size_t)c->vocab_size, 1)) ||
        !(d->nonspecial = lf_alloc((size_t)c->vocab_size, sizeof(int32_t))) ||
        !(d->perm = lf_alloc((size_t)train_seqs, sizeof(int64_t)))) {
        lf_mlm_data_free(d);
        return -1;
    }
    int64_t tp = 0, vp = 0;
    for (int64_t start = 0, j = 0; start < c->count; start += blk, j++) {
        int64_t len = c->count - start < blk ? c->count - start : blk;
        if (j % every == every - 1) {
            memcpy(d->val_tokens + vp, c->ids + start, (size_t)len * sizeof(int32_t));
            vp += len;
        } else {
            memcpy(d->train_tokens + tp, c->ids + start, (size_t)len * sizeof(int32_t));
            tp += len;
        }
    }
    LF_ASSERT(tp == train_len && vp == val_len);
    d->train_len = train_len;
    d->val_len = val_len;
    d->train_seqs = train_seqs;
    d->val_seqs = val_seqs;
    d->batches_per_epoch = train_seqs / cfg->batch;
    d->val_batches = ceil_div(val_seqs, cfg->batch);

    const int32_t sp[5] = {c->pad_id, c->unk_id, c->cls_id, c->sep_id, c->mask_id};
    for (int i = 0; i < 5; i++)
        if (sp[i] >= 0 && sp[i] < c->vocab_size) d->special[sp[i]] = 1;
    for (int32_t id = 0; id < c->vocab_size; id++)
        if (!d->special[id]) d->nonspecial[d->nonspecial_count++] = id;
    if (d->nonspecial_count == 0) {
        lf_mlm_data_free(d);
        LF_FAIL("corpus: its vocabulary has no token that is not special");
    }
    return 0;
}

int lf_mlm_batch_alloc(lf_mlm_data_batch *b, int32_t B, int32_t n)
{
    memset(b, 0, sizeof *b);
    if (B < 1 || n < 1) LF_FAIL("batch of %d x %d: both must be >= 1", (int)B, (int)n);
    size_t cells;
    LF_TRY(lf_size_mul((size_t)B, (size_t)n, &cells));
    b->B = B;
    b->n = n;
    if (!(b->input = lf_alloc(cells, sizeof(int32_t))) ||
        !(b->target = lf_alloc(cells, sizeof(int32_t))) || !(b->pad_mask = lf_alloc(cells, 1)) ||
        !(b->seq_index = lf_alloc((size_t)B, sizeof(int64_t)))) {
        lf_mlm_batch_free(b);
        return -1;
    }
    return 0;
}

void lf_mlm_batch_free(lf_mlm_data_batch *b)
{
    if (!b) return;
    lf_free(b->input);
    lf_free(b->target);
    lf_free(b->pad_mask);
    lf_free(b->seq_index);
    memset(b, 0, sizeof *b);
}

/* Fills row r of b with sequence i of a stream (tokens[0..len)) and masks it with
 * generator g. Returns the number of masked positions; adds real tokens to *tokens. */
static int64_t fill_row(const lf_mlm_data *d, const int32_t *stream, int64_t len, int64_t i,
                        lf_rng *g, lf_mlm_data_batch *b, int32_t r, int64_t *tokens)
{
    const int64_t n = d->cfg.seq_len, piece = n - 2, start = i * piece;
    const int64_t m = len - start < piece ? len - start : piece;
    int32_t *in = b->input + (size_t)r * n, *tg = b->target + (size_t)r * n;
    uint8_t *pm = b->pad_mask + (size_t)r * n;
    in[0] = d->cls_id;
    memcpy(in + 1, stream + start, (size_t)m * sizeof(int32_t));
    in[m + 1] = d->sep_id;
    for (int64_t p = m + 2; p < n; p++) in[p] = d->pad_id;
    for (int64_t p = 0; p < n; p++) pm[p] = p < m + 2;
    *tokens += m + 2;
    b->seq_index[r] = i;

    const double pm_sel = d->cfg.mask_prob, f_mask = d->cfg.mask_token_frac,
                 f_rand = d->cfg.mask_token_frac + d->cfg.random_token_frac;
    int64_t masked = 0;
    for (int64_t p = 0; p < n; p++) {
        int32_t t = in[p];
        tg[p] = -1;
        if (!pm[p] || d->special[t]) continue;
        if (!(lf_rng_uniform(g) < pm_sel)) continue;
        tg[p] = t;
        masked++;
        double v = lf_rng_uniform(g);
        if (v < f_mask)
            in[p] = d->mask_id;
        else if (v < f_rand)
            in[p] = d->nonspecial[bounded(g, (uint64_t)d->nonspecial_count)];
    }
    return masked;
}

static void clear_rows(const lf_mlm_data *d, lf_mlm_data_batch *b, int32_t from)
{
    const int64_t n = b->n;
    for (int64_t r = from; r < b->B; r++) {
        for (int64_t p = 0; p < n; p++) {
            b->input[r * n + p] = d->pad_id;
            b->target[r * n + p] = -1;
            b->pad_mask[r * n + p] = 0;
        }
        b->seq_index[r] = -1;
    }
}

static int check_batch(const lf_mlm_data *d, const lf_mlm_data_batch *b)
{
    if (!b || !b->input) LF_FAIL("MLM batch: not allocated");
    if (b->B != d->cfg.batch || b->n != d->cfg.seq_len)
        LF_FAIL("MLM batch: allocated as %d x %d, the data gives %d x %d", (int)b->B, (int)b->n,
                (int)d->cfg.batch, (int)d->cfg.seq_len);
    return 0;
}

int lf_mlm_train_batch(lf_mlm_data *d, int64_t step, lf_mlm_data_batch *b)
{
    LF_TRY(check_batch(d, b));
    if (step < 0) LF_FAIL("MLM batch: step %lld < 0", (long long)step);
    const int64_t B = d->cfg.batch, P = d->batches_per_epoch, epoch = step / P, pos = step % P;
    if (epoch != d->perm_epoch) {
        lf_rng g;
        lf_rng_init(&g, d->cfg.seed ^ LF_MLM_TAG_PERM, (uint64_t)epoch);
        for (int64_t i = 0; i < d->train_seqs; i++) d->perm[i] = i;
        for (int64_t i = d->train_seqs - 1; i > 0; i--) {
            int64_t j = (int64_t)bounded(&g, (uint64_t)i + 1);
            int64_t t = d->perm[i];
            d->perm[i] = d->perm[j];
            d->perm[j] = t;
        }
        d->perm_epoch = epoch;
    }
    b->rows = (int32_t)B;
    b->masked = b->tokens = 0;
    for (int64_t r = 0; r < B; r++) {
        int64_t i = d->perm[pos * B + r];
        lf_rng g;
        uint64_t stream = (uint64_t)epoch * (uint64_t)d->train_seqs + (uint64_t)i;
        lf_rng_init(&g, d->cfg.seed ^ LF_MLM_TAG_TRAIN, stream);
        b->masked += fill_row(d, d->train_tokens, d->train_len, i, &g, b, (int32_t)r, &b->tokens);
    }
    return 0;
}

int lf_mlm_val_batch(const lf_mlm_data *d, int64_t index, lf_mlm_data_batch *b)
{
    LF_TRY(check_batch(d, b));
    if (index < 0 || index >= d->val_batches)
        LF_FAIL("MLM validation batch %lld: outside 0..%lld", (long long)index,
                (long long)d->val_batches - 1);
    const int64_t B = d->cfg.batch, first = index * B;
    const int64_t rows = d->val_seqs - first < B ? d->val_seqs - first : B;
    b->rows = (int32_t)rows;
    b->masked = b->tokens = 0;
    for (int64_t r = 0; r < rows; r++) {
        lf_rng g;
        lf_rng_init(&g, d->cfg.seed ^ LF_MLM_TAG_VAL, (uint64_t)(first + r));
        b->masked +=
            fill_row(d, d->val_tokens, d->val_len, first + r, &g, b, (int32_t)r, &b->tokens);
    }
    clear_rows(d, b, (int32_t)rows);
    return 0;
}

int lf_mlm_validate(const lf_mlm_data *d, lf_mlm_data_batch *b, lf_mlm_loss_fn loss_fn, void *ctx,
                    double *loss, int64_t *masked)
{
    double sum = 0;
    int64_t count = 0;
    for (int64_t v = 0; v < d->val_batches; v++) {
        LF_TRY(lf_mlm_val_batch(d, v, b));
        if (b->masked == 0) continue;
        double part = 0;
        LF_TRY(loss_fn(ctx, b, &part));
        sum += part;
        count += b->masked;
    }
    if (count == 0)
        LF_FAIL("validation: %lld sequences but not one masked token (corpus or mask rate too "
                "small)",
                (long long)d->val_seqs);
    *loss = sum / (double)count;
    *masked = count;
    return 0;
}
