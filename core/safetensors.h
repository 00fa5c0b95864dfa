/* safetensors.h - a validating reader of safetensors files (Hugging Face weights).
 *
 * Byte layout (all integers little-endian):
 *
 *   offset 0        u64 N              length of the header in bytes
 *   offset 8        N bytes            UTF-8 JSON object (may end in spaces that pad it
 *                                      to a multiple of 8):
 *                     { "NAME": {"dtype": "F32", "shape": [d0, d1, ...],
 *                                "data_offsets": [BEGIN, END]},
 *                       ...,
 *                       "__metadata__": {"KEY": "VALUE", ...} }      (optional)
 *   offset 8 + N    data buffer        tensor NAME is the bytes [BEGIN, END) of this
 *                                      buffer: row-major, little-endian elements
 *
 * The file is treated as untrusted input, as a loader of downloaded weights must.
 * lf_safetensors_open rejects, naming the file, the tensor and the reason:
 *   - files shorter than 8 bytes; N < 2, N > 100 MB (the reference implementation's
 *     limit) or N > file size - 8;
 *   - a header that is not JSON (line and column reported; invalid UTF-8 and "\u0000"
 *     included), not an object, or has a duplicate key;
 *   - empty tensor names; entries that are not objects with exactly the members
 *     dtype (string), shape (array of integers) and data_offsets (array of two
 *     integers); a __metadata__ that is not an object of strings;
 *   - dtypes the format does not define (the name is quoted); rank > 8; negative
 *     dimensions or offsets; element count x element size overflowing 64 bits or
 *     differing from END - BEGIN; BEGIN > END; END beyond the data buffer;
 *   - tensors whose byte ranges overlap (both names given).
 * Gaps between tensors and bytes after the last one are accepted: they cannot cause
 * an out-of-bounds read, and hand-written writers may pad tensors for alignment (the
 * Rust reference rejects them).
 *
 * Every dtype of the format is accepted by open so that real checkpoints load (BERT
 * files carry an I64 "embeddings.position_ids"); conversion to float32 is offered for
 * F32, F16 and BF16 and refuses the others by name.
 *
 * Ownership: lf_safetensors_open/lf_safetensors_open_memory return a handle that
 * lf_safetensors_close frees, with every name, tensor record and mapping of it.
 * A file is mapped read-only (mmap; read into memory where mapping fails); a memory
 * image is referenced, not copied, and must outlive the handle. (As with any mapping, a
 * file truncated by another process while open makes reads of the lost part fault.)
 * Tensor data pointers are byte pointers with no alignment guarantee. Errors: NULL or -1 with
 * lf_error_get() = "FILE: tensor 'NAME': reason". A handle may be read from several
 * threads at once; nothing in it changes after open.
 */
#ifndef LF_SAFETENSORS_H
#define LF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define LF_ST_MAX_RANK 8
/* The reference implementation's limit on N; larger headers are taken as corrupt. */
#define LF_ST_MAX_HEADER ((uint64_t)100000000)

/* The dtypes of the format, as spelled in the header ("F32", "BF16", ...). */
typedef enum {
    LF_ST_BOOL,
    LF_ST_U8,
    LF_ST_I8,
    LF_ST_F8_E5M2,
    LF_ST_F8_E4M3,
    LF_ST_I16,
    LF_ST_U16,
    LF_ST_F16,
    LF_ST_BF16,
    LF_ST_I32,
    LF_ST_U32,
    LF_ST_F32,
    LF_ST_F64,
    LF_ST_I64,
    LF_ST_U64,
    LF_ST_NDTYPES
} lf_st_dtype;

typedef struct {
    const char *name;               /* owned by the handle */
    lf_st_dtype dtype;
    int rank;                       /* 0 (a scalar) .. LF_ST_MAX_RANK */
    int64_t shape[LF_ST_MAX_RANK];  /* shape[0..rank-1], each >= 0 */
    int64_t count;                  /* elements: product of the shape (1 for a scalar) */
    uint64_t begin, end;            /* byte range in the data buffer; end - begin = count x size */
    const unsigned char *data;      /* the bytes [begin, end); unaligned in general */
} lf_st_tensor;

typedef struct lf_safetensors lf_safetensors;

/* Opens and validates PATH. NULL (error set, nothing left allocated) on failure. */
lf_safetensors *lf_safetensors_open(const char *path);
/* Validates SIZE bytes at BYTES (a whole file image) without copying them; NAME is
 * used in messages ("<memory>" when NULL). BYTES must stay valid until close. */
lf_safetensors *lf_safetensors_open_memory(const void *bytes, size_t size, const char *name);
/* Frees the handle and everything it owns; NULL is a no-op. */
void lf_safetensors_close(lf_safetensors *st);

/* The path or name given at open. */
const char *lf_safetensors_path(const lf_safetensors *st);
/* Number of tensors; tensors are numbered 0..count-1 in the order of their data. */
int lf_safetensors_count(const lf_safetensors *st);
const lf_st_tensor *lf_safetensors_tensor(const lf_safetensors *st, int i);
/* The tensor called NAME; NULL with "FILE: no tensor 'NAME'" set when absent. */
const lf_st_tensor *lf_safetensors_find(const lf_safetensors *st, const char *name);
/* A value of __metadata__; NULL (no error set) when absent. */
const char *lf_safetensors_metadata(const lf_safetensors *st, const char *key);

/* "F32", ...; "?" outside the enum. */
const char *lf_st_dtype_name(lf_st_dtype dtype);
/* Bytes per element; 0 outside the enum. */
size_t lf_st_dtype_size(lf_st_dtype dtype);

/* 0 when T has RANK dimensions equal to SHAPE (an entry of -1 matches any size);
 * otherwise -1 with "FILE: NAME has shape [384, 383], expected [384, 384]". */
int lf_safetensors_check_shape(const lf_safetensors *st, const lf_st_tensor *t, int rank,
                               const int64_t *shape);

/* Converts T (F32, F16 or BF16) into OUT, which holds COUNT = t->count floats. F16 and
 * BF16 are widened exactly (subnormals, infinities, NaN payloads and signs kept). */
int lf_safetensors_to_f32(const lf_safetensors *st, const lf_st_tensor *t, float *out,
                          size_t count);
/* Finds NAME, checks its shape (as lf_safetensors_check_shape; RANK < 0 skips the
 * check) and returns a new float32 copy the caller frees with lf_free. NULL on error. */
float *lf_safetensors_load_f32(const lf_safetensors *st, const char *name, int rank,
                               const int64_t *shape);

/* The exact float32 value of an IEEE binary16 / bfloat16 bit pattern. */
float lf_f16_to_f32(uint16_t h);
float lf_bf16_to_f32(uint16_t b);

#endif
