/* corpus.h - a text corpus as one stream of token ids, and its binary cache file.
 *
 * Tokenizers:
 *   LF_CORPUS_BYTES (default): every byte of the file is one token, id = byte value
 *     0..255, so any file (any encoding, even invalid UTF-8) tokenizes and decodes
 *     back exactly. Special ids follow the bytes:
 *       256 [PAD]   257 [CLS]   258 [SEP]   259 [MASK]     vocabulary size 260
 *     There is no [UNK] (unk_id = -1): every byte is representable.
 *   LF_CORPUS_WORDPIECE: BERT WordPiece with a vocab.txt (core/tokenizer.h; its
 *     [PAD] [UNK] [CLS] [SEP] [MASK] ids and vocabulary size).
 * The corpus text itself never contains special ids (the WordPiece tokenizer emits
 * [UNK] for uncoverable words, the only special id that occurs in a corpus).
 *
 * Cache file (all integers little-endian), written under PATH.tmp.PID and renamed:
 *   off  size
 *     0     8  magic "LFCORPUS"
 *     8     4  u32 format version (LF_CORPUS_VERSION)
 *    12     4  u32 tokenizer kind (0 bytes, 1 wordpiece)
 *    16     4  u32 tokenizer revision (LF_CORPUS_TOKENIZER_REV: bumped when a
 *              tokenizer's output changes, which makes older caches stale)
 *    20     4  i32 vocabulary size
 *    24    20  i32 ids of [PAD] [UNK] [CLS] [SEP] [MASK] (-1 = none)
 *    44     4  zero
 *    48     8  u64 token count
 *    56     8  u64 source text size in bytes
 *    64     8  u64 FNV-1a-64 of the source text bytes
 *    72     8  u64 FNV-1a-64 of the vocab.txt bytes (0 for byte tokenization)
 *    80     8  u64 FNV-1a-64 of the token array as stored (little-endian int32)
 *    88     8  u64 FNV-1a-64 of bytes 0..87 (the header itself)
 *    96  4*count  int32 token ids
 * FNV-1a-64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) detects a stale
 * or damaged cache; it is not a cryptographic hash.
 *
 * Loading treats the file as untrusted: a short or overlong file, a wrong magic,
 * version, kind or revision, a damaged header or token array, special ids or
 * vocabulary size out of range and token ids outside the vocabulary each give one
 * error line naming the file and the problem.
 */
#ifndef LF_CORPUS_H
#define LF_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#define LF_CORPUS_VERSION 1u
#define LF_CORPUS_TOKENIZER_REV 1u
#define LF_CORPUS_HEADER_BYTES 96

/* Byte tokenization: ids of the special tokens and the vocabulary size. */
#define LF_CORPUS_BYTE_PAD 256
#define LF_CORPUS_BYTE_CLS 257
#define LF_CORPUS_BYTE_SEP 258
#define LF_CORPUS_BYTE_MASK 259
#define LF_CORPUS_BYTE_VOCAB 260

typedef enum { LF_CORPUS_BYTES = 0, LF_CORPUS_WORDPIECE = 1 } lf_corpus_kind;

typedef struct {
    lf_corpus_kind kind;
    int32_t vocab_size;
    int32_t pad_id, unk_id, cls_id, sep_id, mask_id; /* unk_id = -1 for bytes */
    int64_t count;                                   /* tokens */
    int32_t *ids;                                    /* [count], lf_alloc'ed */
    uint64_t source_bytes, source_checksum, vocab_checksum;
    /* After lf_corpus_compact: the tokenizer's id of each compact id [vocab_size] and
     * the tokenizer's vocabulary size; NULL and 0 for a corpus in tokenizer ids. */
    int32_t *vocab_map;
    int32_t full_vocab_size;
} lf_corpus;

/* FNV-1a-64 of data[0..len), continuing from h (start with LF_FNV1A64_INIT). */
#define LF_FNV1A64_INIT 0xcbf29ce484222325ULL
uint64_t lf_fnv1a64(const void *data, size_t len, uint64_t h);

/* Tokenizes the file at text_path: bytes when vocab_path is NULL, else WordPiece
 * with that vocab.txt. Errors name the file (unreadable, invalid UTF-8 at byte N
 * for WordPiece). Free with lf_corpus_free. */
int lf_corpus_tokenize(const char *text_path, const char *vocab_path, lf_corpus *out);

/* Writes the cache (temporary file + fsync + rename; nothing left behind on failure). */
int lf_corpus_save(const lf_corpus *c, const char *cache_path);

/* Reads and validates a cache (see the top comment). */
int lf_corpus_load(const char *cache_path, lf_corpus *out);

/* Is c a tokenization of text_path with vocab_path (NULL = bytes) by this build?
 * Returns 1 when it is, 0 when stale (why[] says what differs: tokenizer kind,
 * source size, source checksum, vocab checksum), -1 on an error (unreadable file). */
int lf_corpus_matches(const lf_corpus *c, const char *text_path, const char *vocab_path,
                      char *why, size_t why_len);

typedef enum {
    LF_CORPUS_UNCACHED = 0, /* no cache path given: tokenized */
    LF_CORPUS_CACHE_HIT,    /* loaded from a matching cache */
    LF_CORPUS_CACHE_BUILT,  /* no cache yet: tokenized and written */
    LF_CORPUS_CACHE_REBUILT /* the cache was stale (why in the message): rewritten */
} lf_corpus_cache_status;

/* The corpus of text_path: from cache_path when it matches, else tokenized (and the
 * cache written when cache_path is non-NULL). A cache that exists but does not load
 * (damaged, other format version) is an error, not silently replaced. A stale cache
 * (made from another text, vocab or tokenizer) is rebuilt when rebuild_stale is
 * non-zero, and note (may be NULL) receives one line for the user ("corpus cache X
 * was stale (source checksum differs): rebuilt"); with rebuild_stale = 0 it is an
 * error ("X: stale corpus cache (source checksum differs); delete it to rebuild"). */
int lf_corpus_open(const char *text_path, const char *vocab_path, const char *cache_path,
                   int rebuild_stale, lf_corpus *out, lf_corpus_cache_status *status, char *note,
                   size_t note_len);

/* Renumbers the corpus to a compact vocabulary: the ids that occur in it plus the
 * special ids, in increasing order of the tokenizer's id, become 0, 1, ...; ids,
 * vocab_size and the special ids are rewritten and vocab_map records the tokenizer's
 * id of each compact id. A model over the compact vocabulary computes its output
 * softmax over those tokens only (BERT's 30,522 WordPiece ids against the 7,893 that
 * occur in the King James Bible: the output layer and the embedding update cost a
 * quarter). Tokens outside the corpus (never a target, never an input) are all that
 * is dropped. The random replacement of the masking rule then draws from the corpus's
 * tokens. A compacted corpus is not written to a cache (lf_corpus_save refuses it).
 * Compacting twice is an error. */
int lf_corpus_compact(lf_corpus *c);

void lf_corpus_free(lf_corpus *c);

/* 1 for [PAD] [UNK] [CLS] [SEP] [MASK] of this corpus's tokenizer, else 0. */
int lf_corpus_is_special(const lf_corpus *c, int32_t id);

/* Byte tokenization of a buffer (ids[i] = bytes[i]) and back; decode fails on an id
 * that is not a byte (a special id), naming its position. */
void lf_corpus_bytes_encode(const uint8_t *bytes, size_t len, int32_t *ids);
int lf_corpus_bytes_decode(const int32_t *ids, size_t count, uint8_t *bytes);

#endif
