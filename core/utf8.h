/* utf8.h - strict UTF-8 decoding and encoding, and the Unicode properties the BERT
 * tokenizer needs (character classes, lower-casing with canonical decomposition,
 * combining classes), looked up in tables generated from Python's unicodedata
 * (core/unicode_tables.h, made by core/gen_unicode_tables.py).
 *
 * Decoding is strict (RFC 3629, Unicode Table 3-7): overlong forms, surrogates
 * U+D800-U+DFFF, code points above U+10FFFF, the bytes 0xC0, 0xC1, 0xF5-0xFF,
 * stray continuation bytes and truncated sequences are all rejected, so text is
 * never silently altered.
 */
#ifndef LF_UTF8_H
#define LF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*pos] (len bytes in s) and advances *pos past it.
 * Returns 0, or -1 with the error set to "invalid UTF-8 at byte offset N: why"
 * where N is *pos + base_offset (the offset of s in a larger file or stream). */
int lf_utf8_decode(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp, uint64_t base_offset);

/* Checks that s[0..len) is valid UTF-8; same error as lf_utf8_decode. */
int lf_utf8_validate(const uint8_t *s, size_t len, uint64_t base_offset);

/* Writes cp (at most U+10FFFF, no surrogate) as 1-4 bytes to out; returns the count. */
int lf_utf8_encode(uint32_t cp, uint8_t out[4]);

/* Character classes, as Hugging Face's BasicTokenizer sees them. */
enum {
    LF_UNI_OTHER = 0,
    LF_UNI_SPACE = 1,  /* \t \n \r, category Zs, U+2028, U+2029: separates words */
    LF_UNI_REMOVE = 2, /* NUL, U+FFFD and every category C* (Cc Cf Cs Co Cn): dropped */
    LF_UNI_PUNCT = 3,  /* ASCII 33-47, 58-64, 91-96, 123-126 and category P*: own word */
};
/* Property bits above the class (lf_uni_props(cp) & 3). */
#define LF_UNI_MN 4               /* category Mn: removed when stripping accents */
#define LF_UNI_CASED 8            /* Unicode Cased (meaningful when not case-ignorable) */
#define LF_UNI_CASE_IGNORABLE 16  /* Unicode Case_Ignorable */
#define LF_UNI_CCC 32             /* canonical combining class != 0 */
#define LF_UNI_FOLD 64            /* NFD(lower(cp)) != cp and is in the fold table */

/* The property byte of cp (0 for cp > U+10FFFF). */
unsigned lf_uni_props(uint32_t cp);

/* out = NFD(lower(cp)) without context (U+03A3 gives U+03C3; the caller applies the
 * final-sigma rule). Returns the count, 1 to LF_UNI_FOLD_MAX_LEN. */
#define LF_UNI_FOLD_MAX_LEN 4
int lf_uni_fold(uint32_t cp, uint32_t out[LF_UNI_FOLD_MAX_LEN]);

/* Canonical combining class of cp (exact for characters that are not Mn; for Mn
 * characters only zero / non-zero is kept: 0 or 1). */
unsigned lf_uni_ccc(uint32_t cp);

/* Is cp in the ranges Hugging Face's BasicTokenizer treats as CJK ideographs (each
 * becomes a word of its own)? */
int lf_uni_is_cjk(uint32_t cp);

/* The Unicode version the tables were generated from, e.g. "14.0.0". */
const char *lf_uni_version(void);

#endif
