/* mem.c - aligned allocation with size accounting (see mem.h).
 *
 * Each block carries a 64-byte header holding the original malloc pointer and the
 * requested size, so lf_free can account for it without a lookup table.
 */
#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static atomic_size_t lf_mem_cur;
static atomic_size_t lf_mem_max;
static atomic_size_t lf_mem_lim; /* 0 = no budget */
static atomic_size_t lf_mem_fail;

typedef struct {
    void *base;
    size_t bytes;
} lf_block_header;

_Static_assert(sizeof(lf_block_header) <= LF_ALIGN, "header must fit in the alignment pad");

int lf_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) {
        lf_error_set("size overflow: %zu x %zu elements", a, b);
        return -1;
    }
    *out = a * b;
    return 0;
}

int lf_size_dims(int rank, const int64_t *dims, size_t *out)
{
    size_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) LF_FAIL("negative dimension %lld", (long long)dims[i]);
        LF_TRY(lf_size_mul(total, (size_t)dims[i], &total));
    }
    *out = total;
    return 0;
}

/* Reserves bytes against the budget and updates the peak; -1 (error set, nothing
 * reserved) when the budget would be exceeded. */
static int lf_mem_account(size_t bytes)
{
    size_t now = atomic_fetch_add(&lf_mem_cur, bytes) + bytes;
    size_t limit = atomic_load(&lf_mem_lim);
    if (limit && (now > limit || now < bytes)) {
        atomic_fetch_sub(&lf_mem_cur, bytes);
        atomic_fetch_add(&lf_mem_fail, 1);
        lf_error_set("memory budget of %zu bytes (%.1f MiB) exceeded allocating %zu bytes "
                     "(%.1f MiB) with %zu in use",
                     limit, limit / 1048576.0, bytes, bytes / 1048576.0, now - bytes);
        return -1;
    }
    size_t peak = atomic_load(&lf_mem_max);
    while (now > peak && !atomic_compare_exchange_weak(&lf_mem_max, &peak, now)) {
    }
    return 0;
}

void *lf_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (lf_size_mul(count, size, &bytes) != 0) return NULL;
    if (bytes > SIZE_MAX - 2 * LF_ALIGN) {
        lf_error_set("allocation of %zu bytes is too large", bytes);
        return NULL;
    }
    if (lf_mem_account(bytes) != 0) return NULL;
    void *base = malloc(bytes + 2 * LF_ALIGN);
    if (!base) {
        atomic_fetch_sub(&lf_mem_cur, bytes);
        atomic_fetch_add(&lf_mem_fail, 1);
        lf_error_set("out of memory allocating %zu bytes (%.1f MiB)", bytes, bytes / 1048576.0);
        return NULL;
    }
    uintptr_t user = ((uintptr_t)base + 2 * LF_ALIGN - 1) & ~(uintptr_t)(LF_ALIGN - 1);
    lf_block_header *h = (lf_block_header *)(user - LF_ALIGN);
    h->base = base;
    h->bytes = bytes;
    return (void *)user;
}

void *lf_calloc(size_t count, size_t size)
{
    void *p = lf_alloc(count, size);
    if (p) memset(p, 0, count * size);
    return p;
}

void lf_free(void *p)
{
    if (!p) return;
    lf_block_header *h = (lf_block_header *)((uintptr_t)p - LF_ALIGN);
    atomic_fetch_sub(&lf_mem_cur, h->bytes);
    free(h->base);
}

size_t lf_mem_current(void) { return atomic_load(&lf_mem_cur); }
size_t lf_mem_peak(void) { return atomic_load(&lf_mem_max); }
void lf_mem_peak_reset(void) { atomic_store(&lf_mem_max, atomic_load(&lf_mem_cur)); }
void lf_mem_limit_set(size_t bytes) { atomic_store(&lf_mem_lim, bytes); }
size_t lf_mem_limit(void) { return atomic_load(&lf_mem_lim); }
size_t lf_mem_failures(void) { return atomic_load(&lf_mem_fail); }
