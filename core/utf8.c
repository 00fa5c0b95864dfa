/* utf8.c - strict UTF-8 and the tokenizer's Unicode property lookups (see utf8.h).
 *
 * The tables come from core/unicode_tables.h, generated from Python's unicodedata
 * by core/gen_unicode_tables.py; this is the only file that includes it.
 */
#include "utf8.h"

#include "error.h"
#include "unicode_tables.h"

_Static_assert(LF_UNI_FOLD_MAX <= LF_UNI_FOLD_MAX_LEN, "fold sequences longer than utf8.h allows");

#define HANGUL_S0 0xAC00u
#define HANGUL_COUNT 11172u

static int utf8_fail(uint64_t offset, const char *why, unsigned byte)
{
    lf_error_set("invalid UTF-8 at byte offset %llu: %s (byte 0x%02X)", (unsigned long long)offset,
                 why, byte);
    return -1;
}

int lf_utf8_decode(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp, uint64_t base_offset)
{
    size_t i = *pos;
    unsigned b0 = s[i];
    if (b0 < 0x80) {
        *cp = b0;
        *pos = i + 1;
        return 0;
    }
    uint64_t off = base_offset + i;
    int need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte (Unicode Table 3-7) */
    uint32_t c;
    if (b0 < 0xC0) return utf8_fail(off, "continuation byte without a lead byte", b0);
    if (b0 < 0xC2) return utf8_fail(off, "overlong 2-byte encoding (lead byte 0xC0/0xC1)", b0);
    if (b0 < 0xE0) {
        need = 1;
        c = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        need = 2;
        c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;      /* below: overlong */
        else if (b0 == 0xED) hi = 0x9F; /* above: surrogates U+D800-U+DFFF */
    } else if (b0 < 0xF5) {
        need = 3;
        c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;      /* below: overlong */
        else if (b0 == 0xF4) hi = 0x8F; /* above: beyond U+10FFFF */
    } else {
        return utf8_fail(off, "byte that never occurs in UTF-8 (0xF5-0xFF)", b0);
    }
    /* Errors name the offset of the lead byte, like Python's decoder, and the byte
     * that broke the sequence. */
    for (int k = 1; k <= need; k++) {
        if (i + (size_t)k >= len) {
            lf_error_set("invalid UTF-8 at byte offset %llu: truncated sequence, lead byte 0x%02X "
                         "needs %d continuation bytes but the text ends after %d",
                         (unsigned long long)off, b0, need, k - 1);
            return -1;
        }
        unsigned b = s[i + (size_t)k];
        if ((b & 0xC0) != 0x80) {
            lf_error_set("invalid UTF-8 at byte offset %llu: truncated sequence, lead byte 0x%02X "
                         "is followed by 0x%02X, not a continuation byte",
                         (unsigned long long)off, b0, b);
            return -1;
        }
        if (k == 1 && (b < lo || b > hi)) {
            const char *why = b0 == 0xED   ? "encoded surrogate (U+D800-U+DFFF)"
                              : b0 == 0xF4 ? "code point above U+10FFFF"
                                           : "overlong encoding";
            lf_error_set("invalid UTF-8 at byte offset %llu: %s (bytes 0x%02X 0x%02X)",
                         (unsigned long long)off, why, b0, b);
            return -1;
        }
        c = c << 6 | (b & 0x3F);
    }
    *cp = c;
    *pos = i + 1 + (size_t)need;
    return 0;
}

int lf_utf8_validate(const uint8_t *s, size_t len, uint64_t base_offset)
{
    size_t pos = 0;
    uint32_t cp;
    while (pos < len) {
        /* ASCII runs dominate real text: skip them eight bytes at a time. */
        while (pos + 8 <= len) {
            uint64_t w;
            __builtin_memcpy(&w, s + pos, 8);
            if (w & 0x8080808080808080ull) break;
            pos += 8;
        }
        if (pos >= len) break;
        LF_TRY(lf_utf8_decode(s, len, &pos, &cp, base_offset));
    }
    return 0;
}

int lf_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

unsigned lf_uni_props(uint32_t cp)
{
    if (cp >= 0x110000) return 0;
    unsigned m = lf_uni_mid[(uint32_t)lf_uni_top[cp >> (LF_UNI_SHIFT1 + LF_UNI_SHIFT2)] << LF_UNI_SHIFT1 |
                            (cp >> LF_UNI_SHIFT2 & ((1u << LF_UNI_SHIFT1) - 1))];
    return lf_uni_leaf[m << LF_UNI_SHIFT2 | (cp & ((1u << LF_UNI_SHIFT2) - 1))];
}

int lf_uni_fold(uint32_t cp, uint32_t out[LF_UNI_FOLD_MAX_LEN])
{
    if (cp - HANGUL_S0 < HANGUL_COUNT) {
        /* Hangul syllables decompose algorithmically (Unicode 3.12) into L V [T] jamo. */
        uint32_t s = cp - HANGUL_S0;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    if (!(lf_uni_props(cp) & LF_UNI_FOLD)) {
        out[0] = cp;
        return 1;
    }
    size_t lo = 0, hi = LF_UNI_FOLD_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lf_uni_fold_cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    LF_ASSERT(lo < LF_UNI_FOLD_COUNT && lf_uni_fold_cp[lo] == cp);
    unsigned e = lf_uni_fold_entry[lo], n = e & 7;
    for (unsigned k = 0; k < n; k++) out[k] = lf_uni_fold_pool[(e >> 3) + k];
    return (int)n;
}

unsigned lf_uni_ccc(uint32_t cp)
{
    unsigned p = lf_uni_props(cp);
    if (!(p & LF_UNI_CCC)) return 0;
    if (p & LF_UNI_MN) return 1;
    size_t lo = 0, hi = LF_UNI_CCC_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lf_uni_ccc_cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    LF_ASSERT(lo < LF_UNI_CCC_COUNT && lf_uni_ccc_cp[lo] == cp);
    return lf_uni_ccc_value[lo];
}

int lf_uni_is_cjk(uint32_t cp)
{
    /* The exact ranges of BasicTokenizer._is_chinese_char (CJK Unified Ideographs,
     * Extensions A-E, Compatibility Ideographs and their Supplement); Hangul,
     * Hiragana and Katakana are not among them. */
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

const char *lf_uni_version(void) { return LF_UNICODE_VERSION; }
