/* safetensors.c - validating reader of safetensors files (see safetensors.h for the
 * byte layout and the list of what is rejected).
 *
 * The header is parsed by jansson (a maintained JSON library) with duplicate keys
 * rejected; every number, size and offset is then checked before anything is
 * indexed, in 64-bit arithmetic with explicit overflow tests, so that no field of
 * the file can make the reader touch a byte outside the image it was given.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>

#include "json_util.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"

typedef struct {
    const char *key, *value; /* in the string arena */
} st_meta;

struct lf_safetensors {
    char *path;                 /* lf_alloc'd copy of the path or name */
    const unsigned char *image; /* the whole file */
    size_t image_size;
    void *map;                  /* mmap'd image, or NULL */
    unsigned char *owned;       /* image read into memory where mmap failed, or NULL */
    const unsigned char *data;  /* the data buffer: image + 8 + N */
    uint64_t data_size;
    int count;
    lf_st_tensor *tensors;      /* sorted by (begin, end) */
    int *by_name;               /* tensor indices sorted by name, for lookup */
    int nmeta;
    st_meta *meta;
    char *strings;              /* names and metadata, NUL-terminated, back to back */
};

/* ---- dtypes ----------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[LF_ST_NDTYPES] = {
    [LF_ST_BOOL] = {"BOOL", 1},       [LF_ST_U8] = {"U8", 1},   [LF_ST_I8] = {"I8", 1},
    [LF_ST_F8_E5M2] = {"F8_E5M2", 1}, [LF_ST_F8_E4M3] = {"F8_E4M3", 1},
    [LF_ST_I16] = {"I16", 2},         [LF_ST_U16] = {"U16", 2}, [LF_ST_F16] = {"F16", 2},
    [LF_ST_BF16] = {"BF16", 2},       [LF_ST_I32] = {"I32", 4}, [LF_ST_U32] = {"U32", 4},
    [LF_ST_F32] = {"F32", 4},         [LF_ST_F64] = {"F64", 8}, [LF_ST_I64] = {"I64", 8},
    [LF_ST_U64] = {"U64", 8},
};

const char *lf_st_dtype_name(lf_st_dtype dtype)
{
    return (unsigned)dtype < LF_ST_NDTYPES ? st_dtypes[dtype].name : "?";
}

size_t lf_st_dtype_size(lf_st_dtype dtype)
{
    return (unsigned)dtype < LF_ST_NDTYPES ? st_dtypes[dtype].size : 0;
}

/* ---- message helpers -------------------------------------------------------------- */

/* A name from the file, made printable for a one-line message: control bytes and
 * quotes escaped, long names cut (the message buffer is 1 KiB). Bytes >= 0x80 pass:
 * jansson has already checked that they form valid UTF-8. */
static const char *st_quote(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    const size_t keep = cap > 8 ? cap - 8 : 0; /* room for an escape and "..." */
    for (; *s && o < keep; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (*s && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

/* "[384, 383]" */
static const char *st_shape_str(char *buf, size_t cap, int rank, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < rank && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

/* ---- parsing ---------------------------------------------------------------------- */

static uint64_t st_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A non-negative JSON integer, element IDX of array ARR; WHAT names it in messages. */
static int st_get_u64(const char *path, const char *qname, const json_t *arr, size_t idx,
                      const char *what, uint64_t *out)
{
    const json_t *v = json_array_get(arr, idx);
    if (!json_is_integer(v))
        LF_FAIL("%s: tensor '%s': %s[%zu] is %s, not an integer", path, qname, what, idx,
                lf_json_kind(v));
    json_int_t x = json_integer_value(v);
    if (x < 0) LF_FAIL("%s: tensor '%s': %s[%zu] = %lld is negative", path, qname, what, idx, (long long)x);
    *out = (uint64_t)x;
    return 0;
}

/* Validates one tensor entry into T (name filled by the caller). */
static int st_parse_tensor(const lf_safetensors *st, const char *name, const json_t *entry,
                           lf_st_tensor *t)
{
    char q[256], qd[64], sh[256];
    const char *path = st->path;
    st_quote(q, sizeof q, name);
    if (!json_is_object(entry))
        LF_FAIL("%s: tensor '%s': entry is %s, not an object with dtype, shape and data_offsets",
                path, q, lf_json_kind(entry));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)entry, key, val) {
        (void)val;
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            LF_FAIL("%s: tensor '%s': unexpected member '%s' (an entry has exactly dtype, "
                    "shape and data_offsets)",
                    path, q, st_quote(qd, sizeof qd, key));
    }
    const json_t *dtype = json_object_get(entry, "dtype");
    const json_t *shape = json_object_get(entry, "shape");
    const json_t *offs = json_object_get(entry, "data_offsets");
    if (!dtype) LF_FAIL("%s: tensor '%s': missing member 'dtype'", path, q);
    if (!shape) LF_FAIL("%s: tensor '%s': missing member 'shape'", path, q);
    if (!offs) LF_FAIL("%s: tensor '%s': missing member 'data_offsets'", path, q);

    if (!json_is_string(dtype))
        LF_FAIL("%s: tensor '%s': dtype is %s, not a string", path, q, lf_json_kind(dtype));
    const char *ds = json_string_value(dtype);
    int d = -1;
    /* json_string_length: a dtype with an embedded NUL must not match a prefix. */
    for (int i = 0; i < LF_ST_NDTYPES; i++)
        if (strlen(st_dtypes[i].name) == json_string_length(dtype) && !strcmp(ds, st_dtypes[i].name))
            d = i;
    if (d < 0)
        LF_FAIL("%s: tensor '%s': unknown dtype '%s' (safetensors defines BOOL, U8, I8, F8_E5M2, "
                "F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                path, q, st_quote(qd, sizeof qd, ds));
    t->dtype = (lf_st_dtype)d;

    if (!json_is_array(shape))
        LF_FAIL("%s: tensor '%s': shape is %s, not an array", path, q, lf_json_kind(shape));
    size_t rank = json_array_size(shape);
    if (rank > LF_ST_MAX_RANK)
        LF_FAIL("%s: tensor '%s': rank %zu exceeds the maximum %d", path, q, rank, LF_ST_MAX_RANK);
    t->rank = (int)rank;
    uint64_t count = 1;
    int overflow = 0, zero = 0;
    for (size_t i = 0; i < rank; i++) {
        uint64_t dim;
        LF_TRY(st_get_u64(path, q, shape, i, "shape", &dim));
        t->shape[i] = (int64_t)dim; /* <= INT64_MAX: it came from a non-negative json_int_t */
        if (dim == 0) zero = 1;
        if (__builtin_mul_overflow(count, dim, &count)) overflow = 1;
    }
    st_shape_str(sh, sizeof sh, t->rank, t->shape);
    /* A zero dimension makes an empty tensor however large the others are, so an
     * intermediate overflow only counts when no dimension is zero. */
    if (zero) count = 0, overflow = 0;
    if (overflow || count > (uint64_t)INT64_MAX)
        LF_FAIL("%s: tensor '%s': shape %s has more than 2^63 elements", path, q, sh);
    uint64_t bytes;
    if (__builtin_mul_overflow(count, (uint64_t)st_dtypes[d].size, &bytes))
        LF_FAIL("%s: tensor '%s': shape %s of %s overflows 64-bit byte sizes", path, q, sh,
                st_dtypes[d].name);
    t->count = (int64_t)count;

    if (!json_is_array(offs))
        LF_FAIL("%s: tensor '%s': data_offsets is %s, not an array", path, q, lf_json_kind(offs));
    if (json_array_size(offs) != 2)
        LF_FAIL("%s: tensor '%s': data_offsets has %zu elements, not 2 ([begin, end])", path, q,
                json_array_size(offs));
    LF_TRY(st_get_u64(path, q, offs, 0, "data_offsets", &t->begin));
    LF_TRY(st_get_u64(path, q, offs, 1, "data_offsets", &t->end));
    if (t->begin > t->end)
        LF_FAIL("%s: tensor '%s': data_offsets [%llu, %llu] begin after end", path, q,
                (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != bytes)
        LF_FAIL("%s: tensor '%s': shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] "
                "span %llu",
                path, q, sh, st_dtypes[d].name, (unsigned long long)bytes,
                (unsigned long long)t->begin, (unsigned long long)t->end,
                (unsigned long long)(t->end - t->begin));
    if (t->end > st->data_size)
        LF_FAIL("%s: tensor '%s': data_offsets [%llu, %llu] reach past the end of the data "
                "(%llu bytes): the file is truncated or corrupt",
                path, q, (unsigned long long)t->begin, (unsigned long long)t->end,
                (unsigned long long)st->data_size);
    t->data = st->data + t->begin;
    return 0;
}

static int st_cmp_offsets(const void *a, const void *b)
{
    const lf_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* qsort has no context argument; the tensor array is reached through this, set only
 * while st_index_names sorts (thread-local, so concurrent opens do not interfere). */
static _Thread_local const lf_st_tensor *st_sort_tensors;
static int st_cmp_names(const void *a, const void *b)
{
    return strcmp(st_sort_tensors[*(const int *)a].name, st_sort_tensors[*(const int *)b].name);
}

static void st_index_names(lf_safetensors *st)
{
    for (int i = 0; i < st->count; i++) st->by_name[i] = i;
    st_sort_tensors = st->tensors;
    qsort(st->by_name, (size_t)st->count, sizeof(int), st_cmp_names);
    st_sort_tensors = NULL;
}

static int st_parse_header(lf_safetensors *st, json_t *root)
{
    const char *path = st->path;
    char q[256], q2[256];
    if (!json_is_object(root))
        LF_FAIL("%s: the header is %s, not a JSON object: not a safetensors file", path,
                lf_json_kind(root));

    /* Sizes first, so that the arena and arrays are allocated once. */
    size_t nt = 0, nm = 0, chars = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val))
                LF_FAIL("%s: __metadata__ is %s, not an object of strings", path, lf_json_kind(val));
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv))
                    LF_FAIL("%s: __metadata__ '%s' is %s, not a string", path,
                            st_quote(q, sizeof q, mk), lf_json_kind(mv));
                nm++;
                chars += strlen(mk) + 1 + strlen(json_string_value(mv)) + 1;
            }
            continue;
        }
        if (!key[0]) LF_FAIL("%s: a tensor has an empty name", path);
        nt++;
        chars += strlen(key) + 1;
    }
    if (nt > (size_t)INT32_MAX) LF_FAIL("%s: too many tensors (%zu)", path, nt);

    st->tensors = lf_calloc(nt, sizeof *st->tensors);
    st->by_name = lf_alloc(nt, sizeof *st->by_name);
    st->meta = lf_alloc(nm, sizeof *st->meta);
    st->strings = lf_alloc(chars, 1);
    if (!st->tensors || !st->by_name || !st->meta || !st->strings) {
        lf_error_prefix("%s", path);
        return -1;
    }

    char *s = st->strings;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                size_t kl = strlen(mk) + 1, vl = strlen(json_string_value(mv)) + 1;
                st_meta *m = &st->meta[st->nmeta++];
                m->key = memcpy(s, mk, kl);
                m->value = memcpy(s + kl, json_string_value(mv), vl);
                s += kl + vl;
            }
            continue;
        }
        lf_st_tensor *t = &st->tensors[st->count];
        LF_TRY(st_parse_tensor(st, key, val, t));
        size_t kl = strlen(key) + 1;
        t->name = memcpy(s, key, kl);
        s += kl;
        st->count++;
    }

    /* Overlap: in order of begin, each non-empty range must start at or after the
     * furthest end seen so far. Empty tensors occupy no bytes and overlap nothing. */
    qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, st_cmp_offsets);
    const lf_st_tensor *far = NULL;
    for (int i = 0; i < st->count; i++) {
        const lf_st_tensor *t = &st->tensors[i];
        if (t->begin == t->end) continue;
        if (far && t->begin < far->end)
            LF_FAIL("%s: tensor '%s': data_offsets [%llu, %llu] overlap those of tensor '%s' "
                    "[%llu, %llu]",
                    path, st_quote(q, sizeof q, t->name), (unsigned long long)t->begin,
                    (unsigned long long)t->end, st_quote(q2, sizeof q2, far->name),
                    (unsigned long long)far->begin, (unsigned long long)far->end);
        if (!far || t->end > far->end) far = t;
    }
    st_index_names(st);
    return 0;
}

/* Checks the framing and parses the header of st->image. */
static int st_parse(lf_safetensors *st)
{
    const char *path = st->path;
    if (st->image_size < 8)
        LF_FAIL("%s: the file is %zu bytes, shorter than the 8-byte header length: not a "
                "safetensors file, or truncated",
                path, st->image_size);
    uint64_t n = st_le64(st->image);
    uint64_t avail = (uint64_t)st->image_size - 8;
    if (n < 2)
        LF_FAIL("%s: header length %llu is too small (a header is at least '{}'): not a "
                "safetensors file",
                path, (unsigned long long)n);
    if (n > LF_ST_MAX_HEADER)
        LF_FAIL("%s: header length %llu exceeds the limit of %llu bytes: not a safetensors file, "
                "or corrupt",
                path, (unsigned long long)n, (unsigned long long)LF_ST_MAX_HEADER);
    if (n > avail)
        LF_FAIL("%s: header length %llu exceeds the %llu bytes that follow it: the file is "
                "truncated or corrupt",
                path, (unsigned long long)n, (unsigned long long)avail);
    st->data = st->image + 8 + n;
    st->data_size = avail - n;

    json_error_t err;
    json_t *root = json_loadb((const char *)st->image + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        LF_FAIL("%s: the header is not valid JSON (line %d, column %d): %s", path, err.line,
                err.column, err.text);
    int rc = st_parse_header(st, root);
    json_decref(root);
    return rc;
}

/* ---- open and close --------------------------------------------------------------- */

static lf_safetensors *st_new(const char *name)
{
    lf_safetensors *st = lf_calloc(1, sizeof *st);
    if (!st) return NULL;
    size_t len = strlen(name) + 1;
    st->path = lf_alloc(len, 1);
    if (!st->path) {
        lf_free(st);
        return NULL;
    }
    memcpy(st->path, name, len);
    return st;
}

void lf_safetensors_close(lf_safetensors *st)
{
    if (!st) return;
    if (st->map) munmap(st->map, st->image_size);
    lf_free(st->owned);
    lf_free(st->tensors);
    lf_free(st->by_name);
    lf_free(st->meta);
    lf_free(st->strings);
    lf_free(st->path);
    lf_free(st);
}

lf_safetensors *lf_safetensors_open_memory(const void *bytes, size_t size, const char *name)
{
    if (!name) name = "<memory>";
    if (!bytes && size) {
        lf_error_set("%s: no data (NULL pointer)", name);
        return NULL;
    }
    lf_safetensors *st = st_new(name);
    if (!st) return NULL;
    st->image = bytes ? bytes : (const unsigned char *)"";
    st->image_size = size;
    if (st_parse(st) != 0) {
        lf_safetensors_close(st);
        return NULL;
    }
    return st;
}

/* Reads the whole file where mapping is not possible (some network or FUSE file
 * systems); pread keeps 64-bit offsets explicit. */
static int st_read_all(int fd, unsigned char *buf, size_t size, const char *path)
{
    size_t done = 0;
    while (done < size) {
        ssize_t r = pread(fd, buf + done, size - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) LF_FAIL("%s: read error: %s", path, strerror(errno));
        if (r == 0) LF_FAIL("%s: the file shrank while being read", path);
        done += (size_t)r;
    }
    return 0;
}

lf_safetensors *lf_safetensors_open(const char *path)
{
    if (!path) {
        lf_error_set("safetensors: no file name (NULL)");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lf_error_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        lf_error_set("%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        lf_error_set("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        lf_error_set("%s: %lld bytes do not fit in this process's address space", path,
                     (long long)sb.st_size);
        close(fd);
        return NULL;
    }
    lf_safetensors *st = st_new(path);
    if (!st) {
        close(fd);
        return NULL;
    }
    st->image_size = (size_t)sb.st_size;
    if (st->image_size >= 8) { /* mmap refuses length 0; short files fail in st_parse */
        void *m = mmap(NULL, st->image_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            st->map = m;
            st->image = m;
        }
    }
    if (!st->map) {
        st->owned = lf_alloc(st->image_size, 1);
        if (!st->owned || st_read_all(fd, st->owned, st->image_size, path) != 0) {
            if (!st->owned) lf_error_prefix("%s", path);
            close(fd);
            lf_safetensors_close(st);
            return NULL;
        }
        st->image = st->owned;
    }
    close(fd);
    if (st_parse(st) != 0) {
        lf_safetensors_close(st);
        return NULL;
    }
    return st;
}

/* ---- queries ---------------------------------------------------------------------- */

const char *lf_safetensors_path(const lf_safetensors *st) { return st ? st->path : "(null)"; }

int lf_safetensors_count(const lf_safetensors *st) { return st ? st->count : 0; }

const lf_st_tensor *lf_safetensors_tensor(const lf_safetensors *st, int i)
{
    if (!st || i < 0 || i >= st->count) {
        lf_error_set("%s: tensor index %d out of range [0, %d)", lf_safetensors_path(st), i,
                     lf_safetensors_count(st));
        return NULL;
    }
    return &st->tensors[i];
}

const lf_st_tensor *lf_safetensors_find(const lf_safetensors *st, const char *name)
{
    if (!st || !name) {
        lf_error_set("%s: no tensor name (NULL)", lf_safetensors_path(st));
        return NULL;
    }
    int lo = 0, hi = st->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[st->by_name[mid]].name, name);
        if (c == 0) return &st->tensors[st->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    char q[256];
    lf_error_set("%s: no tensor '%s'", st->path, st_quote(q, sizeof q, name));
    return NULL;
}

const char *lf_safetensors_metadata(const lf_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

int lf_safetensors_check_shape(const lf_safetensors *st, const lf_st_tensor *t, int rank,
                               const int64_t *shape)
{
    char q[256], a[256], b[256];
    if (!t) LF_FAIL("%s: no tensor (NULL)", lf_safetensors_path(st));
    int ok = rank == t->rank && rank >= 0 && rank <= LF_ST_MAX_RANK;
    for (int i = 0; ok && i < rank; i++)
        if (shape[i] != -1 && shape[i] != t->shape[i]) ok = 0;
    if (ok) return 0;
    int shown = rank < 0 ? 0 : rank > LF_ST_MAX_RANK ? LF_ST_MAX_RANK : rank;
    LF_FAIL("%s: %s has shape %s, expected %s", lf_safetensors_path(st), st_quote(q, sizeof q, t->name),
            st_shape_str(a, sizeof a, t->rank, t->shape), st_shape_str(b, sizeof b, shown, shape));
}

/* ---- conversion ------------------------------------------------------------------- */

static float st_bits_f32(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float lf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) /* infinity or NaN: the payload keeps its top bits */
        return st_bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return st_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return st_bits_f32(sign); /* signed zero */
    /* Subnormal: mant x 2^-24. With p the top set bit, that is 2^(p-24) x 1.f, a
     * normal float32 (exponent field p - 24 + 127). */
    int p = 31 - __builtin_clz(mant);
    return st_bits_f32(sign | ((uint32_t)(p + 103) << 23) | ((mant ^ (1u << p)) << (23 - p)));
}

float lf_bf16_to_f32(uint16_t b) { return st_bits_f32((uint32_t)b << 16); }

int lf_safetensors_to_f32(const lf_safetensors *st, const lf_st_tensor *t, float *out,
                          size_t count)
{
    char q[256];
    if (!t) LF_FAIL("%s: no tensor (NULL)", lf_safetensors_path(st));
    st_quote(q, sizeof q, t->name);
    if (t->dtype != LF_ST_F32 && t->dtype != LF_ST_F16 && t->dtype != LF_ST_BF16)
        LF_FAIL("%s: %s has dtype %s; only F32, F16 and BF16 convert to float32",
                lf_safetensors_path(st), q, lf_st_dtype_name(t->dtype));
    if ((uint64_t)count != (uint64_t)t->count)
        LF_FAIL("%s: %s has %lld elements, the output holds %zu", lf_safetensors_path(st), q,
                (long long)t->count, count);
    if (count && !out) LF_FAIL("%s: %s: no output buffer (NULL)", lf_safetensors_path(st), q);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case LF_ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (count) memcpy(out, p, count * 4);
#else
        for (size_t i = 0; i < count; i++)
            out[i] = st_bits_f32((uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                                 (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24);
#endif
        return 0;
    case LF_ST_F16:
        for (size_t i = 0; i < count; i++)
            out[i] = lf_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case LF_ST_BF16:
        for (size_t i = 0; i < count; i++)
            out[i] = lf_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    default:
        break;
    }
    LF_ASSERT(!"unreachable: dtype checked above");
    return -1;
}

float *lf_safetensors_load_f32(const lf_safetensors *st, const char *name, int rank,
                               const int64_t *shape)
{
    const lf_st_tensor *t = lf_safetensors_find(st, name);
    if (!t) return NULL;
    if (rank >= 0 && lf_safetensors_check_shape(st, t, rank, shape) != 0) return NULL;
    /* Refuse a non-float dtype before allocating: a huge I64 tensor must not cost memory
     * (the call sets the message and touches no output). */
    if (t->dtype != LF_ST_F32 && t->dtype != LF_ST_F16 && t->dtype != LF_ST_BF16) {
        lf_safetensors_to_f32(st, t, NULL, 0);
        return NULL;
    }
    char q[256];
    st_quote(q, sizeof q, t->name);
    if ((uint64_t)t->count > (uint64_t)SIZE_MAX) {
        lf_error_set("%s: %s is too large for memory", st->path, q);
        return NULL;
    }
    float *out = lf_alloc((size_t)t->count, sizeof(float));
    if (!out) {
        lf_error_prefix("%s: %s", st->path, q);
        return NULL;
    }
    if (lf_safetensors_to_f32(st, t, out, (size_t)t->count) != 0) {
        lf_free(out);
        return NULL;
    }
    return out;
}
