/* checkpoint.c - atomic write and validated load of training checkpoints (checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"
#include "error.h"
#include "mem.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c stores floats as in memory: little-endian machines only"
#endif

static const char magic[8] = {'L', 'F', 'C', 'K', 'P', 'T', '\r', '\n'};
#define HEADER 56

static void put_u64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static void put_u32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)p[i] << (8 * i);
    return x;
}

/* Writes all of buf, folding it into the checksum. */
static int write_all(int fd, const void *buf, size_t len, uint64_t *h, const char *path)
{
    const unsigned char *p = buf;
    *h = lf_fnv1a64(buf, len, *h);
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            LF_FAIL("%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int lf_ckpt_save(const char *path, const lf_ckpt_view *c)
{
    if (!path || !c || !c->fingerprint || (c->n && (!c->params || !c->m || !c->v)))
        LF_FAIL("checkpoint save: bad arguments");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        LF_FAIL("%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) LF_FAIL("%s: cannot create: %s", tmp, strerror(errno));
    size_t t = strlen(c->fingerprint);
    unsigned char hdr[HEADER];
    memcpy(hdr, magic, 8);
    put_u32(hdr + 8, LF_CKPT_VERSION);
    put_u32(hdr + 12, 0);
    put_u64(hdr + 16, c->step);
    put_u64(hdr + 24, c->seed);
    put_u64(hdr + 32, (uint64_t)c->n);
    put_u64(hdr + 40, (uint64_t)c->adam_step);
    put_u64(hdr + 48, (uint64_t)t);
    uint64_t h = LF_FNV1A64_INIT;
    unsigned char tail[8];
    int rc = write_all(fd, hdr, HEADER, &h, tmp);
    if (!rc) rc = write_all(fd, c->fingerprint, t, &h, tmp);
    if (!rc) rc = write_all(fd, c->params, c->n * sizeof(float), &h, tmp);
    if (!rc) rc = write_all(fd, c->m, c->n * sizeof(float), &h, tmp);
    if (!rc) rc = write_all(fd, c->v, c->n * sizeof(float), &h, tmp);
    if (!rc) {
        put_u64(tail, h);
        uint64_t ignore = 0;
        rc = write_all(fd, tail, 8, &ignore, tmp);
    }
    if (!rc && fsync(fd) != 0) {
        lf_error_set("%s: fsync failed: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && !rc) {
        lf_error_set("%s: close failed: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (!rc && rename(tmp, path) != 0) {
        lf_error_set("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        rc = -1;
    }
    if (rc) unlink(tmp);
    return rc;
}

/* The value of `key` in "key=value\n" lines, as a pointer and length; NULL if absent. */
static const char *find_key(const char *text, size_t tlen, const char *key, size_t klen,
                            size_t *vlen)
{
    const char *p = text, *end = text + tlen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            *vlen = (size_t)(le - p - (ptrdiff_t)klen - 1);
            return p + klen + 1;
        }
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

/* Names the first key whose value differs between the run's and the file's text. */
static void describe_difference(const char *path, const char *here, const char *there,
                                size_t tlen)
{
    const char *p = here, *end = here + strlen(here);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(le - p));
        if (eq) {
            size_t klen = (size_t)(eq - p), vlen = 0, hv = (size_t)(le - eq - 1);
            const char *v = find_key(there, tlen, p, klen, &vlen);
            if (!v || vlen != hv || memcmp(v, eq + 1, hv) != 0) {
                if (v)
                    lf_error_set("%s: made by a different configuration (%.*s: %.*s here, %.*s in "
                                 "the checkpoint)",
                                 path, (int)klen, p, (int)hv, eq + 1, (int)vlen, v);
                else
                    lf_error_set("%s: made by a different configuration (%.*s: %.*s here, absent "
                                 "in the checkpoint)",
                                 path, (int)klen, p, (int)hv, eq + 1);
                return;
            }
        }
        p = nl ? nl + 1 : end;
    }
    lf_error_set("%s: made by a different configuration (it has settings this run lacks)", path);
}

/* Validates the file; with params non-NULL also copies the state out. n = 0 with
 * params NULL: the parameter count is not checked. */
static int ckpt_read(const char *path, const char *fingerprint, size_t n, float *params, float *m,
                     float *v, uint64_t *step, int64_t *adam_step)
{
    FILE *f = fopen(path, "rb");
    if (!f) LF_FAIL("%s: cannot open checkpoint: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        LF_FAIL("%s: cannot stat: %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = lf_alloc(size ? size : 1, 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    int rc = -1;
    if (got != size) {
        lf_error_set("%s: read failed", path);
        goto done;
    }
    if (size < 8 || memcmp(buf, magic, 8) != 0) {
        lf_error_set("%s: not a checkpoint (bad magic)", path);
        goto done;
    }
    if (size < HEADER + 8) {
        lf_error_set("%s: truncated checkpoint (%zu bytes)", path, size);
        goto done;
    }
    uint32_t version = get_u32(buf + 8);
    uint64_t t = get_u64(buf + 48), nn = get_u64(buf + 32);
    /* Size check before the checksum, so that a truncated file says so. Bounds first:
     * t and nn come from the file. */
    if (t > size || nn > size / 12) {
        lf_error_set("%s: truncated or damaged checkpoint (header sizes exceed the file)", path);
        goto done;
    }
    uint64_t expect = HEADER + t + 12 * nn + 8;
    if (expect != size) {
        lf_error_set("%s: truncated or damaged checkpoint (%zu bytes, expected %llu)", path, size,
                     (unsigned long long)expect);
        goto done;
    }
    if (lf_fnv1a64(buf, size - 8, LF_FNV1A64_INIT) != get_u64(buf + size - 8)) {
        lf_error_set("%s: damaged checkpoint (checksum mismatch)", path);
        goto done;
    }
    if (version != LF_CKPT_VERSION) {
        lf_error_set("%s: checkpoint format version %u, this build reads %u", path, version,
                     LF_CKPT_VERSION);
        goto done;
    }
    const char *text = (const char *)buf + HEADER;
    if (t != strlen(fingerprint) || memcmp(text, fingerprint, t) != 0) {
        describe_difference(path, fingerprint, text, t);
        goto done;
    }
    if (n && nn != n) {
        lf_error_set("%s: checkpoint has %llu parameters, the model has %zu", path,
                     (unsigned long long)nn, n);
        goto done;
    }
    const unsigned char *p = buf + HEADER + t;
    if (params) {
        memcpy(params, p, n * sizeof(float));
        memcpy(m, p + 4 * n, n * sizeof(float));
        memcpy(v, p + 8 * n, n * sizeof(float));
    }
    if (step) *step = get_u64(buf + 16);
    if (adam_step) *adam_step = (int64_t)get_u64(buf + 40);
    rc = 0;
done:
    lf_free(buf);
    return rc;
}

int lf_ckpt_load(const char *path, const char *fingerprint, size_t n, float *params, float *m,
                 float *v, uint64_t *step, int64_t *adam_step)
{
    if (!params || !m || !v) LF_FAIL("checkpoint load: bad arguments");
    return ckpt_read(path, fingerprint, n, params, m, v, step, adam_step);
}

int lf_ckpt_verify(const char *path, const char *fingerprint, uint64_t *step)
{
    return ckpt_read(path, fingerprint, 0, NULL, NULL, NULL, step, NULL);
}
