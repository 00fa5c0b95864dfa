/* tokenizer.h - BERT WordPiece tokenizer (uncased), identical in its output to
 * Hugging Face's BertTokenizer with do_lower_case=True, the tokenizer of
 * bert-base-uncased and all-MiniLM-L6-v2.
 *
 * Pipeline (BasicTokenizer, then WordpieceTokenizer):
 *   1. clean: drop NUL, U+FFFD and every category C* character (controls, format
 *      characters such as U+200B/U+200D, private use, unassigned); \t \n \r and Zs
 *      become spaces;
 *   2. surround each CJK ideograph (HF's code point ranges) with spaces;
 *   3. split on whitespace (also U+2028/U+2029, as Python's str.split());
 *   4. per word: lower-case (Python's str.lower(): full mappings such as U+0130 ->
 *      "i" U+0307, and the final-sigma rule), NFD, drop category Mn (accents);
 *   5. split off every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126,
 *      category P*) as a word of its own;
 *   6. WordPiece: greedy longest match first, continuation pieces prefixed "##";
 *      a word longer than 100 code points, or one that cannot be covered by
 *      vocabulary pieces, becomes a single [UNK].
 * Unicode data: core/unicode_tables.h, from Python's unicodedata (lf_uni_version()).
 *
 * Strings in the text that look like special tokens ("[CLS]", "[MASK]") are
 * ordinary text here ('[', 'cl', '##s', ']'), as with Hugging Face's
 * split_special_tokens=True: corpus text cannot inject control tokens. Special
 * tokens are added by the caller with lf_tokenizer_special_id. Invalid UTF-8 is an
 * error naming its byte offset, never replaced.
 *
 * Thread safety: a loaded tokenizer is read-only; any number of threads may
 * encode with it at once.
 */
#ifndef LF_TOKENIZER_H
#define LF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lf_tokenizer lf_tokenizer;

typedef enum {
    LF_TOKEN_PAD = 0,
    LF_TOKEN_UNK,
    LF_TOKEN_CLS,
    LF_TOKEN_SEP,
    LF_TOKEN_MASK,
    LF_TOKEN_SPECIAL_COUNT
} lf_special_token;

/* Loads a vocab.txt: one token per line (LF or CRLF), id = line number from 0.
 * Rejects (error naming the file and, where it applies, the line): a file that
 * cannot be read, an empty file, invalid UTF-8, an empty line, a duplicate token,
 * and a missing [PAD] [UNK] [CLS] [SEP] or [MASK]. Returns NULL on failure.
 * Free with lf_tokenizer_free. */
lf_tokenizer *lf_tokenizer_load(const char *vocab_txt_path);
void lf_tokenizer_free(lf_tokenizer *tok);

/* Tokenizes text[0..len) (UTF-8, may contain NUL bytes, which are dropped) into
 * vocabulary ids, without special tokens. On success *ids is a new array from
 * lf_alloc (caller frees with lf_free; non-NULL even when *count is 0). On failure
 * (invalid UTF-8: "invalid UTF-8 at byte offset N: why"; out of memory) returns -1,
 * *ids = NULL, *count = 0. */
int lf_tokenizer_encode(const lf_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                        int64_t *count);

/* Tokenizes a UTF-8 text file, read in chunks of about 1 MiB cut at ASCII
 * whitespace (where the tokenizer's output splits anyway, so the ids equal those
 * of lf_tokenizer_encode on the whole file). With max_tokens > 0, stops after that
 * many ids (*count = min(max_tokens, total)); the rest of the file is still
 * checked to be valid UTF-8. Errors name the file and the byte offset. Output as
 * lf_tokenizer_encode. */
int lf_tokenizer_encode_file(const lf_tokenizer *tok, const char *path, int64_t max_tokens,
                             int32_t **ids, int64_t *count);

/* The first S sequences of n tokens of a text file, as the experiments read a corpus:
 * [CLS] + n - 2 consecutive tokens + [SEP], non-overlapping, in order from the start
 * (no padding). *seqs: [S, n] ids (lf_free). *available: how many such sequences the
 * file holds when that is fewer than S (then *seqs = NULL and 0 is returned, so the
 * caller can name its own flags in the message); otherwise S. -1 (error set) on a
 * bad file, n < 3 or out of memory. */
int lf_tokenizer_sequences(const lf_tokenizer *tok, const char *path, int64_t S, int64_t n,
                           int32_t **seqs, int64_t *available);

int32_t lf_tokenizer_vocab_size(const lf_tokenizer *tok);
int32_t lf_tokenizer_special_id(const lf_tokenizer *tok, lf_special_token which);
/* The token string of id (NUL-terminated, owned by tok), or NULL when out of range. */
const char *lf_tokenizer_token(const lf_tokenizer *tok, int32_t id);
/* The id of the exact token string s[0..len), or -1 when it is not in the vocab. */
int32_t lf_tokenizer_id(const lf_tokenizer *tok, const char *s, size_t len);

#endif
