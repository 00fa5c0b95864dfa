/* mlm_batch.h - masked-LM training and validation batches from a tokenized corpus:
 * the train/validation split, sequences, seeded batch order and seeded masking.
 *
 * Split rule (fixed; independent of the sequence length, batch size and threads):
 *   the corpus token stream is cut into consecutive blocks of split_block tokens
 *   (default 16384; the last block may be shorter); block j goes to validation when
 *   j % val_every == val_every - 1 (default 20: every 20th block, about 5 % of the
 *   tokens), otherwise to training. The blocks of each side are concatenated in
 *   order into one stream. Because the rule is in tokens, every sequence length sees
 *   the same validation text.
 *
 * Sequences: each stream is cut into consecutive pieces of n - 2 tokens; sequence i
 *   is [CLS] piece_i [SEP], followed by [PAD] up to n when it is the stream's last,
 *   shorter piece (pad_mask 0 there). So sequences = ceil(stream_tokens / (n - 2)).
 *   With max_val_seqs > 0 only the first max_val_seqs validation sequences are used.
 *
 * Batch order: training step s (0-based) of batch size B belongs to epoch
 *   e = s / P, P = floor(train_seqs / B) batches per epoch (the sequences left over
 *   in an epoch are skipped in that epoch; the next epoch's permutation differs).
 *   Row r holds sequence perm_e[(s % P) * B + r], perm_e a Fisher-Yates permutation
 *   of 0..train_seqs-1 drawn from lf_rng(seed ^ LF_MLM_TAG_PERM, stream e).
 *
 * Masking (BERT/RoBERTa): each position whose token is not special ([PAD] [UNK]
 *   [CLS] [SEP] [MASK]; unlike BERT, [UNK] is never a target: predicting it teaches
 *   nothing) is selected with probability mask_prob (0.15), independently. A selected
 *   position gets target = its token and input = [MASK] with probability
 *   mask_token_frac (0.8), a random token with probability random_token_frac (0.1),
 *   else its own token. Random tokens are uniform over the non-special ids (for a
 *   BERT vocab these include its [unusedN] entries) and may equal the original.
 *   Every other position has target -1 (no loss).
 *   Draws, per position in order: for a maskable token u = uniform (selected when
 *   u < mask_prob); when selected v = uniform (v < f_mask: [MASK]; else
 *   v < f_mask + f_random: random id = nonspecial[bounded(count)]). Generators:
 *     training sequence i in epoch e: lf_rng(seed ^ LF_MLM_TAG_TRAIN, e * train_seqs + i)
 *       (dynamic masking: new masks every epoch);
 *     validation sequence i: lf_rng(seed ^ LF_MLM_TAG_VAL, i) (the same masks at
 *       every evaluation, whatever the batch size).
 *   bounded(m): x = next() until x >= (2^64 - m) mod m, then x mod m (no bias).
 * So a batch is a pure function of (corpus, config, step): resuming at step s needs
 * no saved state. tests/ref_mlm.py implements the same rules independently.
 *
 * Thread safety: lf_mlm_train_batch caches the current epoch's permutation in the
 * data object; call it from one thread at a time (validation batches are const).
 */
#ifndef LF_MLM_BATCH_H
#define LF_MLM_BATCH_H

#include <stdint.h>

#include "corpus.h"

#define LF_MLM_TAG_PERM 0x7065726d75746531ULL  /* "permute1" */
#define LF_MLM_TAG_TRAIN 0x747261696e6d736bULL /* "trainmsk" */
#define LF_MLM_TAG_VAL 0x76616c69646d736bULL   /* "validmsk" */

typedef struct {
    int32_t seq_len;          /* n >= 3 */
    int32_t batch;            /* B >= 1 */
    uint64_t seed;
    int64_t split_block;      /* tokens per split block (default 16384) */
    int32_t val_every;        /* every val_every-th block is validation (default 20, >= 2) */
    int64_t max_val_seqs;     /* 0 = all validation sequences */
    double mask_prob;         /* 0.15 */
    double mask_token_frac;   /* 0.8 */
    double random_token_frac; /* 0.1 */
} lf_mlm_data_config;

/* The defaults above (seq_len 512, batch 32, seed 0). */
void lf_mlm_data_config_default(lf_mlm_data_config *c);

typedef struct {
    lf_mlm_data_config cfg;
    int32_t vocab_size, pad_id, cls_id, sep_id, mask_id;
    int32_t *train_tokens, *val_tokens; /* the split streams */
    int64_t train_len, val_len;         /* their token counts */
    int64_t train_seqs, val_seqs;       /* sequences (val_seqs after max_val_seqs) */
    int64_t batches_per_epoch;          /* floor(train_seqs / B) */
    int64_t val_batches;                /* ceil(val_seqs / B) */
    uint8_t *special;                   /* [vocab_size]: 1 = never selected */
    int32_t *nonspecial;                /* the ids random replacement draws from */
    int32_t nonspecial_count;
    int64_t *perm;                      /* [train_seqs], the permutation of perm_epoch */
    int64_t perm_epoch;                 /* -1 before the first train batch */
} lf_mlm_data;

typedef struct {
    int32_t B, n;       /* capacity: B rows of n positions */
    int32_t rows;       /* rows filled: B for training; the last validation batch may have
                           fewer (rows >= rows are [PAD] with pad_mask 0 and target -1) */
    int32_t *input;     /* [B, n] token ids fed to the model */
    int32_t *target;    /* [B, n] original id at selected positions, -1 elsewhere */
    uint8_t *pad_mask;  /* [B, n] 1 = token ([CLS], text, [SEP]), 0 = padding */
    int64_t *seq_index; /* [B] sequence number within its split (-1 for unused rows) */
    int64_t masked;     /* positions with target >= 0 */
    int64_t tokens;     /* positions with pad_mask = 1 */
} lf_mlm_data_batch;

/* Splits the corpus and checks that it is large enough: at least one full training
 * batch and at least one validation sequence, else one error line saying how many
 * tokens and sequences there are and what is needed. Invalid config values (n < 3,
 * B < 1, probabilities outside [0, 1], mask + random fractions > 1, split_block < 1,
 * val_every < 2) are errors too. The corpus may be freed afterwards. */
int lf_mlm_data_init(lf_mlm_data *d, const lf_corpus *c, const lf_mlm_data_config *cfg);
void lf_mlm_data_free(lf_mlm_data *d);

int lf_mlm_batch_alloc(lf_mlm_data_batch *b, int32_t B, int32_t n);
void lf_mlm_batch_free(lf_mlm_data_batch *b);

/* The training batch of step (>= 0), into b (allocated with the config's B and n). */
int lf_mlm_train_batch(lf_mlm_data *d, int64_t step, lf_mlm_data_batch *b);
/* Validation batch index (0 .. val_batches - 1): sequences index*B ... */
int lf_mlm_val_batch(const lf_mlm_data *d, int64_t index, lf_mlm_data_batch *b);

/* Validation loss per masked token: calls loss_fn on every validation batch in index
 * order; loss_fn returns 0 and sets *loss_sum to the summed cross-entropy (nats)
 * over the batch's masked positions (target >= 0, rows < b->rows), or -1 with the
 * error set. *loss = (sum of loss_sum) / (sum of b->masked), accumulated in double;
 * *masked = that token count. Because masks belong to sequences, the result does not
 * depend on the batch size (up to summation order). Fails when the validation set
 * has no masked token at all. */
typedef int (*lf_mlm_loss_fn)(void *ctx, const lf_mlm_data_batch *b, double *loss_sum);
int lf_mlm_validate(const lf_mlm_data *d, lf_mlm_data_batch *b, lf_mlm_loss_fn loss_fn, void *ctx,
                    double *loss, int64_t *masked);

#endif
