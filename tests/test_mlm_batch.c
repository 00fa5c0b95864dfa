/* test_mlm_batch.c - the masked-LM data rules (core/mlm_batch.c).
 *
 * Split rule: exact token counts and exact validation/training streams on a corpus
 * whose ids are their positions; the same validation text for every sequence length
 * and batch size. Sequences: [CLS] text [SEP] [PAD]..., padding mask. Too-small
 * corpora and bad settings: one clear error. Masking statistics over about a million
 * tokens, each proportion within 5 binomial standard deviations (a false alarm
 * probability below 1e-6 per check): 15 % selected, of those 80 % [MASK], 10 %
 * random (uniform: chi-square within 5 sigma of its mean), 10 % unchanged. Special
 * tokens ([CLS] [SEP] [PAD] [UNK]) never selected. Determinism (same seed and step
 * -> same batch, in any call order), validation masks independent of batch size,
 * each sequence once per epoch, and the whole pipeline position by position
 * against the independent Python implementation tests/ref_mlm.py.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "corpus.h"
#include "error.h"
#include "mem.h"
#include "mlm_batch.h"
#include "repo_path.h"
#include "rng.h"

/* A corpus of `count` tokens whose ids are their positions; specials above them. */
static void position_corpus(lf_corpus *c, int64_t count)
{
    memset(c, 0, sizeof *c);
    c->kind = LF_CORPUS_WORDPIECE;
    c->count = count;
    c->ids = lf_alloc((size_t)count, sizeof(int32_t));
    for (int64_t i = 0; i < count; i++) c->ids[i] = (int32_t)i;
    c->pad_id = (int32_t)count;
    c->unk_id = (int32_t)count + 1;
    c->cls_id = (int32_t)count + 2;
    c->sep_id = (int32_t)count + 3;
    c->mask_id = (int32_t)count + 4;
    c->vocab_size = (int32_t)count + 5;
}

/* Byte corpus of uniform random bytes. */
static void random_byte_corpus(lf_corpus *c, int64_t count, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->kind = LF_CORPUS_BYTES;
    c->count = count;
    c->ids = lf_alloc((size_t)count, sizeof(int32_t));
    lf_rng g;
    lf_rng_init(&g, seed, 0);
    for (int64_t i = 0; i < count; i++) c->ids[i] = (int32_t)(lf_rng_next(&g) >> 56);
    c->vocab_size = LF_CORPUS_BYTE_VOCAB;
    c->pad_id = LF_CORPUS_BYTE_PAD;
    c->unk_id = -1;
    c->cls_id = LF_CORPUS_BYTE_CLS;
    c->sep_id = LF_CORPUS_BYTE_SEP;
    c->mask_id = LF_CORPUS_BYTE_MASK;
}

static lf_mlm_data_config config(int32_t n, int32_t B, int64_t blk, int32_t every)
{
    lf_mlm_data_config cfg;
    lf_mlm_data_config_default(&cfg);
    cfg.seq_len = n;
    cfg.batch = B;
    cfg.split_block = blk;
    cfg.val_every = every;
    cfg.seed = 1234;
    return cfg;
}

/* |k - N p| <= 5 sqrt(N p (1 - p)): the binomial count within 5 sigma. */
static void check_binomial(const char *what, int64_t k, int64_t N, double p)
{
    double mean = (double)N * p, sd = sqrt((double)N * p * (1 - p)), z = ((double)k - mean) / sd;
    CHECK_MSG(fabs(z) <= 5, "%s: %lld of %lld = %.5f, expected %.5f (%.1f sigma)", what,
              (long long)k, (long long)N, (double)k / (double)N, p, z);
    printf("    %-28s %9lld / %9lld = %.5f (expected %.5f, %+.2f sigma)\n", what, (long long)k,
           (long long)N, (double)k / (double)N, p, z);
}

/* ---- split and sequences ----------------------------------------------------------- */

static void test_split_rule(void)
{
    lf_corpus c;
    position_corpus(&c, 100003);
    lf_mlm_data_config cfg = config(66, 4, 1000, 20);
    cfg.mask_prob = 0; /* look at the text itself */
    lf_mlm_data d;
    CHECK_MSG(lf_mlm_data_init(&d, &c, &cfg) == 0, "%s", lf_error_get());
    /* Blocks 19, 39, 59, 79, 99 (full) are validation; block 100 has 3 tokens. */
    CHECK(d.val_len == 5000 && d.train_len == 95003);
    CHECK(d.train_seqs == 1485 && d.val_seqs == 79); /* ceil(95003/64), ceil(5000/64) */
    CHECK(d.batches_per_epoch == 371 && d.val_batches == 20);
    int ok = 1;
    for (int64_t k = 0, j = 0; j < 101; j++) {
        if (j % 20 != 19) continue;
        for (int64_t t = 0; t < 1000; t++, k++) ok &= d.val_tokens[k] == j * 1000 + t;
    }
    CHECK_MSG(ok, "validation stream is not blocks 19, 39, ... in order");
    ok = 1;
    for (int64_t k = 0, pos = 0; pos < 100003; pos++) {
        if ((pos / 1000) % 20 == 19) continue;
        ok &= d.train_tokens[k++] == pos;
    }
    CHECK_MSG(ok, "training stream is not the other blocks in order");

    /* Sequences: first validation sequence and the padded last one. */
    lf_mlm_data_batch b;
    CHECK(lf_mlm_batch_alloc(&b, 4, 66) == 0);
    CHECK(lf_mlm_val_batch(&d, 0, &b) == 0);
    CHECK(b.rows == 4 && b.input[0] == c.cls_id && b.input[65] == c.sep_id);
    for (int p = 1; p <= 64; p++) ok &= b.input[p] == 19000 + p - 1;
    CHECK(ok && b.tokens == 4 * 66 && b.masked == 0);
    CHECK(lf_mlm_val_batch(&d, 19, &b) == 0); /* sequences 76, 77, 78 */
    CHECK(b.rows == 3 && b.seq_index[2] == 78 && b.seq_index[3] == -1);
    const int32_t *last = b.input + 2 * 66;
    const uint8_t *pm = b.pad_mask + 2 * 66;
    /* 5000 = 78 * 64 + 8: [CLS] 8 tokens [SEP], then 56 [PAD]. */
    CHECK(last[0] == c.cls_id && last[1] == 99000 + 992 && last[8] == 99999 && last[9] == c.sep_id);
    for (int p = 0; p < 66; p++) ok &= pm[p] == (p < 10) && (p < 10 || last[p] == c.pad_id);
    CHECK_MSG(ok, "padding of the last sequence");
    for (int p = 0; p < 66; p++) ok &= b.pad_mask[3 * 66 + p] == 0 && b.target[3 * 66 + p] == -1;
    CHECK_MSG(ok, "unused row is not all padding");
    CHECK(b.tokens == 2 * 66 + 10);
    CHECK(lf_mlm_val_batch(&d, 20, &b) != 0 && strstr(lf_error_get(), "outside 0..19"));
    lf_mlm_batch_free(&b);

    /* The same validation text for another sequence length and batch size. */
    lf_mlm_data d2;
    lf_mlm_data_config cfg2 = config(130, 7, 1000, 20);
    CHECK(lf_mlm_data_init(&d2, &c, &cfg2) == 0);
    CHECK(d2.val_len == d.val_len && memcmp(d2.val_tokens, d.val_tokens, 5000 * 4) == 0);
    CHECK(d2.val_seqs == 40 && d2.train_seqs == 743); /* ceil(5000/128), ceil(95003/128) */
    lf_mlm_data_free(&d2);
    /* max_val_seqs keeps the first ones. */
    cfg2.max_val_seqs = 9;
    CHECK(lf_mlm_data_init(&d2, &c, &cfg2) == 0 && d2.val_seqs == 9 && d2.val_batches == 2);
    lf_mlm_data_free(&d2);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);

    /* The trailing partial block follows the rule too: 19010 tokens -> 10 validation. */
    position_corpus(&c, 19010);
    cfg = config(12, 2, 1000, 20);
    CHECK(lf_mlm_data_init(&d, &c, &cfg) == 0 && d.val_len == 10 && d.train_len == 19000);
    CHECK(d.val_seqs == 1 && d.val_tokens[0] == 19000);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

static void test_too_small_and_bad_config(void)
{
    lf_corpus c;
    lf_mlm_data d;
    position_corpus(&c, 300);
    lf_mlm_data_config cfg = config(66, 1, 1000, 20);
    CHECK(lf_mlm_data_init(&d, &c, &cfg) != 0);
    CHECK_MSG(strstr(lf_error_get(), "corpus too small for validation") &&
                  strstr(lf_error_get(), "19001 tokens"),
              "message: %s", lf_error_get());
    printf("    %s\n", lf_error_get());
    lf_corpus_free(&c);

    /* 2000 tokens, blocks of 100: 1900 training tokens = 30 sequences of 64. */
    position_corpus(&c, 2000);
    cfg = config(66, 31, 100, 20);
    CHECK(lf_mlm_data_init(&d, &c, &cfg) != 0);
    CHECK_MSG(strstr(lf_error_get(), "corpus too small for one batch: 2000 tokens give 30 "
                                     "training sequences of 66 tokens, a batch needs 31"),
              "message: %s", lf_error_get());
    printf("    %s\n", lf_error_get());
    cfg.batch = 30;
    CHECK_MSG(lf_mlm_data_init(&d, &c, &cfg) == 0, "%s", lf_error_get());
    CHECK(d.batches_per_epoch == 1);
    lf_mlm_data_free(&d);

    lf_mlm_data_config b;
    b = config(2, 1, 100, 20);
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "sequence length 2"));
    b = config(66, 0, 100, 20);
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "batch size 0"));
    b = config(66, 1, 0, 20);
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "split block 0"));
    b = config(66, 1, 100, 1);
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "val_every 1"));
    b = config(66, 1, 100, 20);
    b.mask_prob = 1.5;
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "mask probability 1.5"));
    b.mask_prob = NAN;
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "mask probability"));
    b = config(66, 1, 100, 20);
    b.mask_token_frac = 0.9;
    b.random_token_frac = 0.2;
    CHECK(lf_mlm_data_init(&d, &c, &b) != 0 && strstr(lf_error_get(), "sum <= 1"));
    /* A batch allocated with another shape is refused. */
    b = config(66, 2, 100, 20);
    CHECK(lf_mlm_data_init(&d, &c, &b) == 0);
    lf_mlm_data_batch wrong;
    CHECK(lf_mlm_batch_alloc(&wrong, 3, 66) == 0);
    CHECK(lf_mlm_train_batch(&d, 0, &wrong) != 0 && strstr(lf_error_get(), "allocated as 3 x 66"));
    CHECK(lf_mlm_train_batch(&d, -1, &wrong) != 0);
    lf_mlm_batch_free(&wrong);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

/* ---- masking ------------------------------------------------------------------------ */

static void test_masking_statistics(void)
{
    lf_corpus c;
    random_byte_corpus(&c, 1200000, 99);
    lf_mlm_data_config cfg = config(258, 16, 16384, 20);
    lf_mlm_data d;
    CHECK_MSG(lf_mlm_data_init(&d, &c, &cfg) == 0, "%s", lf_error_get());
    lf_mlm_data_batch b;
    CHECK(lf_mlm_batch_alloc(&b, 16, 258) == 0);
    int64_t maskable = 0, selected = 0, to_mask = 0, unchanged = 0, to_random = 0;
    int64_t special_bad = 0, random_special = 0, masked_sum = 0, hist[256] = {0};
    int64_t steps = d.batches_per_epoch;
    for (int64_t s = 0; s < steps; s++) {
        CHECK(lf_mlm_train_batch(&d, s, &b) == 0);
        masked_sum += b.masked;
        for (int64_t q = 0; q < 16 * 258; q++) {
            int32_t in = b.input[q], tg = b.target[q];
            int pos = (int)(q % 258);
            if (!b.pad_mask[q]) { /* padding: never selected, stays [PAD] */
                special_bad += tg != -1 || in != c.pad_id;
                continue;
            }
            if (pos == 0) { /* [CLS] */
                special_bad += tg != -1 || in != c.cls_id;
                continue;
            }
            if (tg < 0 && in == c.sep_id) continue; /* [SEP] (text bytes are < 256) */
            special_bad += tg > 255;                 /* a selected special token */
            maskable++;
            if (tg < 0) continue;
            selected++;
            if (in == c.mask_id) {
                to_mask++;
            } else if (in == tg) {
                unchanged++;
            } else {
                to_random++;
                if (in > 255) random_special++;
                else hist[in]++;
            }
        }
    }
    CHECK(special_bad == 0 && random_special == 0);
    CHECK(masked_sum == selected);
    /* Every text position of the epoch's sequences is counted once: all tokens but
     * those of the sequences left over after the last full batch. */
    CHECK(maskable > 1000000);
    check_binomial("selected", selected, maskable, 0.15);
    check_binomial("[MASK] among selected", to_mask, selected, 0.8);
    /* A random draw equal to the original token (1 in 256) looks unchanged. */
    check_binomial("unchanged among selected", unchanged, selected, 0.1 + 0.1 / 256);
    check_binomial("random among selected", to_random, selected, 0.1 * 255 / 256);
    /* Random ids uniform over the 256 bytes (the corpus bytes are uniform, so the
     * draws that differ from their original are uniform too): chi-square with 255
     * degrees of freedom within 5 sigma (sd = sqrt(2 * 255)) of its mean. */
    double chi2 = 0, e = (double)to_random / 256;
    for (int v = 0; v < 256; v++) chi2 += ((double)hist[v] - e) * ((double)hist[v] - e) / e;
    CHECK_MSG(fabs(chi2 - 255) <= 5 * sqrt(2 * 255.0), "chi-square %.1f (df 255)", chi2);
    check_notef("%lld tokens, %.4f selected, chi2 %.0f (df 255)", (long long)maskable,
                (double)selected / (double)maskable, chi2);
    lf_mlm_batch_free(&b);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

static void test_special_never_masked(void)
{
    /* Vocabulary 10: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, text ids 5..9; a third of
     * the corpus is [UNK]. Every position is selected (mask_prob 1) and replaced by a
     * random id: none may be special, and [UNK] stays unselected. */
    lf_corpus c;
    memset(&c, 0, sizeof c);
    c.count = 3000;
    c.ids = lf_alloc(3000, sizeof(int32_t));
    for (int i = 0; i < 3000; i++) c.ids[i] = i % 3 == 0 ? 1 : 5 + i % 5;
    c.vocab_size = 10;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3, c.mask_id = 4;
    lf_mlm_data_config cfg = config(50, 4, 100, 10);
    cfg.mask_prob = 1;
    cfg.mask_token_frac = 0;
    cfg.random_token_frac = 1;
    lf_mlm_data d;
    CHECK_MSG(lf_mlm_data_init(&d, &c, &cfg) == 0, "%s", lf_error_get());
    CHECK(d.nonspecial_count == 5);
    lf_mlm_data_batch b;
    CHECK(lf_mlm_batch_alloc(&b, 4, 50) == 0);
    int64_t bad = 0, unk = 0, sel = 0;
    for (int64_t s = 0; s < 3 * d.batches_per_epoch; s++) {
        CHECK(lf_mlm_train_batch(&d, s, &b) == 0);
        for (int q = 0; q < 4 * 50; q++) {
            int32_t in = b.input[q], tg = b.target[q];
            if (tg >= 0) {
                sel++;
                bad += tg < 5 || in < 5; /* a special target or a special random id */
            } else {
                /* unselected: specials only, unchanged */
                bad += in >= 5;
                unk += in == 1;
            }
        }
    }
    CHECK_MSG(bad == 0, "%lld violations", (long long)bad);
    CHECK(unk > 0 && sel > 0);
    /* Validation too, with the default 80/10/10. */
    lf_mlm_data_free(&d);
    cfg.mask_token_frac = 0.8;
    cfg.random_token_frac = 0.1;
    CHECK(lf_mlm_data_init(&d, &c, &cfg) == 0);
    for (int64_t v = 0; v < d.val_batches; v++) {
        CHECK(lf_mlm_val_batch(&d, v, &b) == 0);
        for (int q = 0; q < 4 * 50; q++) {
            int32_t in = b.input[q], tg = b.target[q];
            bad += tg >= 0 ? tg < 5 || (in < 5 && in != 4) : (in >= 5);
        }
    }
    CHECK(bad == 0);
    lf_mlm_batch_free(&b);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

/* ---- determinism and order ---------------------------------------------------------- */

static int batches_equal(const lf_mlm_data_batch *a, const lf_mlm_data_batch *b)
{
    size_t cells = (size_t)a->B * (size_t)a->n;
    return a->rows == b->rows && a->masked == b->masked && a->tokens == b->tokens &&
           memcmp(a->input, b->input, cells * 4) == 0 &&
           memcmp(a->target, b->target, cells * 4) == 0 &&
           memcmp(a->pad_mask, b->pad_mask, cells) == 0 &&
           memcmp(a->seq_index, b->seq_index, (size_t)a->B * 8) == 0;
}

static void test_determinism(void)
{
    lf_corpus c;
    random_byte_corpus(&c, 60000, 5);
    lf_mlm_data_config cfg = config(34, 8, 1000, 20);
    lf_mlm_data d1, d2, d3;
    CHECK(lf_mlm_data_init(&d1, &c, &cfg) == 0 && lf_mlm_data_init(&d2, &c, &cfg) == 0);
    cfg.seed++;
    CHECK(lf_mlm_data_init(&d3, &c, &cfg) == 0);
    lf_mlm_data_batch a, b, x;
    CHECK(lf_mlm_batch_alloc(&a, 8, 34) == 0 && lf_mlm_batch_alloc(&b, 8, 34) == 0 &&
          lf_mlm_batch_alloc(&x, 8, 34) == 0);
    int64_t P = d1.batches_per_epoch;
    /* Same step, other object, other call history (another epoch in between). */
    CHECK(lf_mlm_train_batch(&d1, 5, &a) == 0);
    CHECK(lf_mlm_train_batch(&d2, 3 * P + 1, &b) == 0);
    CHECK(lf_mlm_train_batch(&d2, 5, &b) == 0);
    CHECK(batches_equal(&a, &b));
    CHECK(lf_mlm_train_batch(&d1, 5, &b) == 0 && batches_equal(&a, &b));
    CHECK(lf_mlm_train_batch(&d3, 5, &x) == 0 && !batches_equal(&a, &x)); /* other seed */
    CHECK(lf_mlm_train_batch(&d1, 6, &x) == 0 && !batches_equal(&a, &x)); /* other step */
    /* Each training sequence once per epoch (leftovers: train_seqs - P * B). */
    int64_t T = d1.train_seqs;
    int *seen = calloc((size_t)T, sizeof(int));
    int64_t order_same = 0;
    for (int64_t s = 0; s < P; s++) {
        CHECK(lf_mlm_train_batch(&d1, s, &a) == 0);
        CHECK(lf_mlm_train_batch(&d1, P + s, &b) == 0); /* the next epoch */
        for (int r = 0; r < 8; r++) {
            seen[a.seq_index[r]]++;
            order_same += a.seq_index[r] == b.seq_index[r];
        }
    }
    int64_t once = 0, more = 0;
    for (int64_t i = 0; i < T; i++) once += seen[i] == 1, more += seen[i] > 1;
    CHECK(more == 0 && once == P * 8 && T - once < 8);
    CHECK_MSG(order_same < P * 8 / 10, "epochs 0 and 1 share %lld of %lld positions",
              (long long)order_same, (long long)(P * 8));
    free(seen);
    /* Dynamic masking: the same sequence gets other masks in another epoch. */
    int64_t seq = -1, r0 = -1, r1 = -1, s1 = -1;
    CHECK(lf_mlm_train_batch(&d1, 0, &a) == 0);
    seq = a.seq_index[0];
    r0 = 0;
    for (int64_t s = P; s < 2 * P && s1 < 0; s++) {
        CHECK(lf_mlm_train_batch(&d1, s, &b) == 0);
        for (int r = 0; r < 8; r++)
            if (b.seq_index[r] == seq) s1 = s, r1 = r;
    }
    CHECK(s1 >= 0);
    if (s1 >= 0)
        CHECK(memcmp(a.target + r0 * 34, b.target + r1 * 34, 34 * 4) != 0);

    /* Validation: identical at every call, and the rows of a sequence identical for
     * batch sizes 8 and 3. */
    CHECK(lf_mlm_val_batch(&d1, 1, &a) == 0 && lf_mlm_val_batch(&d1, 1, &b) == 0 &&
          batches_equal(&a, &b));
    lf_mlm_data_config cfg3 = config(34, 3, 1000, 20);
    lf_mlm_data e;
    CHECK(lf_mlm_data_init(&e, &c, &cfg3) == 0 && e.val_seqs == d1.val_seqs);
    lf_mlm_data_batch small;
    CHECK(lf_mlm_batch_alloc(&small, 3, 34) == 0);
    int same = 1;
    for (int64_t v = 0; v < d1.val_batches; v++) {
        CHECK(lf_mlm_val_batch(&d1, v, &a) == 0);
        for (int r = 0; r < a.rows; r++) {
            int64_t i = a.seq_index[r];
            CHECK(lf_mlm_val_batch(&e, i / 3, &small) == 0);
            int rr = (int)(i % 3);
            same &= small.seq_index[rr] == i &&
                    memcmp(small.input + rr * 34, a.input + r * 34, 34 * 4) == 0 &&
                    memcmp(small.target + rr * 34, a.target + r * 34, 34 * 4) == 0;
        }
    }
    CHECK_MSG(same, "validation rows depend on the batch size");
    lf_mlm_batch_free(&small);
    lf_mlm_data_free(&e);
    lf_mlm_batch_free(&a);
    lf_mlm_batch_free(&b);
    lf_mlm_batch_free(&x);
    lf_mlm_data_free(&d1);
    lf_mlm_data_free(&d2);
    lf_mlm_data_free(&d3);
    lf_corpus_free(&c);
}

/* ---- against the Python implementation --------------------------------------------- */

static void dump_batch(FILE *f, const lf_mlm_data_batch *b)
{
    for (int r = 0; r < b->B; r++) {
        fprintf(f, "%lld |", (long long)b->seq_index[r]);
        for (int p = 0; p < b->n; p++) fprintf(f, " %d", (int)b->input[r * b->n + p]);
        fprintf(f, " |");
        for (int p = 0; p < b->n; p++) fprintf(f, " %d", (int)b->target[r * b->n + p]);
        fprintf(f, " |");
        for (int p = 0; p < b->n; p++) fprintf(f, " %d", (int)b->pad_mask[r * b->n + p]);
        fprintf(f, "\n");
    }
}

static void test_python_reference(void)
{
    if (system("/usr/bin/python3 -c 'import struct' >/dev/null 2>&1") != 0) {
        printf("SKIPPED test_python_reference: no /usr/bin/python3\n");
        check_notef("skipped");
        return;
    }
    /* Vocabulary 50 (specials 0..4), 3001 tokens with some [UNK], short sequences,
     * small blocks, a high mask rate so that every branch is taken often. */
    lf_corpus c;
    memset(&c, 0, sizeof c);
    c.count = 3001;
    c.ids = lf_alloc(3001, sizeof(int32_t));
    lf_rng g;
    lf_rng_init(&g, 77, 0);
    for (int i = 0; i < 3001; i++) c.ids[i] = lf_rng_uniform(&g) < 0.05 ? 1 : 5 + (int32_t)(lf_rng_next(&g) % 45);
    c.vocab_size = 50;
    c.pad_id = 0, c.unk_id = 1, c.cls_id = 2, c.sep_id = 3, c.mask_id = 4;
    lf_mlm_data_config cfg = config(20, 3, 100, 5);
    cfg.seed = 0xfedcba9876543210ULL;
    cfg.mask_prob = 0.3;
    lf_mlm_data d;
    CHECK_MSG(lf_mlm_data_init(&d, &c, &cfg) == 0, "%s", lf_error_get());
    int64_t P = d.batches_per_epoch;
    int64_t steps[] = {0, 1, P - 1, P, 3 * P + 2, 10 * P + 5};
    FILE *f = fopen("mlm_case.txt", "w");
    fprintf(f, "%d %d %llu %lld %d %lld\n", (int)cfg.seq_len, (int)cfg.batch,
            (unsigned long long)cfg.seed, (long long)cfg.split_block, (int)cfg.val_every,
            (long long)cfg.max_val_seqs);
    fprintf(f, "%.17g %.17g %.17g\n", cfg.mask_prob, cfg.mask_token_frac, cfg.random_token_frac);
    fprintf(f, "%d %d %d %d %d %d\n", (int)c.vocab_size, (int)c.pad_id, (int)c.unk_id,
            (int)c.cls_id, (int)c.sep_id, (int)c.mask_id);
    for (int i = 0; i < 3001; i++) fprintf(f, "%d ", (int)c.ids[i]);
    fprintf(f, "\n");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) fprintf(f, "%lld ", (long long)steps[i]);
    fprintf(f, "\n");
    for (int64_t v = 0; v < d.val_batches; v++) fprintf(f, "%lld ", (long long)v);
    fprintf(f, "\n");
    fclose(f);
    lf_mlm_data_batch b;
    CHECK(lf_mlm_batch_alloc(&b, 3, 20) == 0);
    f = fopen("mlm_c.txt", "w");
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        CHECK(lf_mlm_train_batch(&d, steps[i], &b) == 0);
        fprintf(f, "train %lld\n", (long long)steps[i]);
        dump_batch(f, &b);
    }
    for (int64_t v = 0; v < d.val_batches; v++) {
        CHECK(lf_mlm_val_batch(&d, v, &b) == 0);
        fprintf(f, "val %lld %d\n", (long long)v, (int)b.rows);
        dump_batch(f, &b);
    }
    fclose(f);
    CHECK(d.val_seqs % 3 != 0); /* the last validation batch is partial */
    char rp[PATH_MAX + 64], cmd[PATH_MAX + 128];
    repo_path("tests/ref_mlm.py", rp, sizeof rp);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s mlm_case.txt mlm_c.txt", rp);
    fflush(stdout);
    CHECK_MSG(system(cmd) == 0, "ref_mlm.py found a difference");
    lf_mlm_batch_free(&b);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

/* ---- validation loss aggregation ------------------------------------------------------ */

/* A stand-in for the model: "cross-entropy" of a masked position = log(2 + target id)
 * + 0.001 * position; counts the calls and checks the batch it is given. */
typedef struct {
    int calls, bad;
} fake_ctx;

static int fake_loss(void *ctx, const lf_mlm_data_batch *b, double *loss_sum)
{
    fake_ctx *fc = ctx;
    fc->calls++;
    double s = 0;
    int64_t m = 0;
    for (int64_t q = 0; q < (int64_t)b->B * b->n; q++) {
        if (b->target[q] < 0) continue;
        fc->bad += q / b->n >= b->rows; /* masked position in an unused row */
        s += log(2.0 + b->target[q]) + 0.001 * (double)(q % b->n);
        m++;
    }
    fc->bad += m != b->masked;
    *loss_sum = s;
    return 0;
}

static int failing_loss(void *ctx, const lf_mlm_data_batch *b, double *loss_sum)
{
    (void)ctx, (void)b, (void)loss_sum;
    lf_error_set("model exploded");
    return -1;
}

static void test_validate(void)
{
    lf_corpus c;
    random_byte_corpus(&c, 50000, 11);
    double loss[3];
    int64_t masked[3];
    const int32_t Bs[3] = {1, 4, 7};
    for (int i = 0; i < 3; i++) {
        lf_mlm_data_config cfg = config(40, Bs[i], 1000, 20);
        lf_mlm_data d;
        lf_mlm_data_batch b;
        CHECK(lf_mlm_data_init(&d, &c, &cfg) == 0 && lf_mlm_batch_alloc(&b, Bs[i], 40) == 0);
        fake_ctx fc = {0, 0};
        CHECK_MSG(lf_mlm_validate(&d, &b, fake_loss, &fc, &loss[i], &masked[i]) == 0, "%s",
                  lf_error_get());
        CHECK(fc.bad == 0 && fc.calls == (int)d.val_batches);
        /* Independent: every validation sequence's masked positions, directly. */
        if (i == 0) {
            double s = 0;
            int64_t m = 0;
            for (int64_t v = 0; v < d.val_seqs; v++) {
                CHECK(lf_mlm_val_batch(&d, v, &b) == 0);
                for (int p = 0; p < 40; p++)
                    if (b.target[p] >= 0) s += log(2.0 + b.target[p]) + 0.001 * p, m++;
            }
            CHECK(m == masked[0]);
            /* Per-batch partial sums vs one running sum: only rounding differs (about
             * 300 terms of about 5 in double: relative error far below 1e-13). */
            CHECK_NEAR(loss[0], s / (double)m, 1e-13 * loss[0]);
        }
        CHECK(lf_mlm_validate(&d, &b, failing_loss, NULL, &loss[i], &masked[i]) != 0 &&
              strstr(lf_error_get(), "model exploded"));
        lf_mlm_batch_free(&b);
        lf_mlm_data_free(&d);
    }
    /* Independent of the batch size; only the summation order differs (as above). */
    CHECK(masked[0] == masked[1] && masked[1] == masked[2]);
    CHECK_NEAR(loss[1], loss[0], 1e-13 * loss[0]);
    CHECK_NEAR(loss[2], loss[0], 1e-13 * loss[0]);
    check_notef("loss %.12f over %lld masked tokens for B = 1, 4, 7", loss[0], (long long)masked[0]);
    /* No masked token at all: an error, not a NaN. */
    lf_mlm_data_config cfg = config(40, 2, 1000, 20);
    cfg.mask_prob = 0;
    lf_mlm_data d;
    lf_mlm_data_batch b;
    CHECK(lf_mlm_data_init(&d, &c, &cfg) == 0 && lf_mlm_batch_alloc(&b, 2, 40) == 0);
    double l;
    int64_t m;
    fake_ctx fc = {0, 0};
    CHECK(lf_mlm_validate(&d, &b, fake_loss, &fc, &l, &m) != 0 &&
          strstr(lf_error_get(), "not one masked token"));
    lf_mlm_batch_free(&b);
    lf_mlm_data_free(&d);
    lf_corpus_free(&c);
}

int main(void)
{
    check_program = "test_mlm_batch";
    RUN(test_split_rule);
    RUN(test_too_small_and_bad_config);
    RUN(test_masking_statistics);
    RUN(test_special_never_masked);
    RUN(test_determinism);
    RUN(test_python_reference);
    RUN(test_validate);
    return check_summary();
}
