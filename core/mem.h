/* mem.h - checked, aligned allocation with overflow-checked sizes and a high-water mark.
 *
 * Every buffer of the library comes from lf_alloc/lf_calloc and goes back through
 * lf_free. Sizes are element count times element size, checked for overflow. The
 * allocator keeps the bytes currently allocated and their peak, so benchmarks can
 * report the memory an algorithm really used.
 */
#ifndef LF_MEM_H
#define LF_MEM_H

#include <stddef.h>
#include <stdint.h>

#define LF_ALIGN 64

/* count * size bytes, 64-byte aligned; NULL (error set) on overflow or out of memory.
 * A zero-byte request returns a valid, freeable pointer. */
void *lf_alloc(size_t count, size_t size);
/* Same, zero-filled. */
void *lf_calloc(size_t count, size_t size);
/* Frees a pointer from lf_alloc/lf_calloc; NULL is a no-op. */
void lf_free(void *p);

/* *out = a * b; returns -1 (error set) on overflow. */
int lf_size_mul(size_t a, size_t b, size_t *out);
/* Product of dims[0..rank-1] as an element count; -1 on a negative dim or overflow. */
int lf_size_dims(int rank, const int64_t *dims, size_t *out);

size_t lf_mem_current(void);
size_t lf_mem_peak(void);
/* Sets the peak to the current usage (start of a measurement). */
void lf_mem_peak_reset(void);

/* A budget for everything allocated through lf_alloc (0 = none, the default): an
 * allocation that would take the current usage above it fails like an
 * out-of-memory (NULL, error "memory budget of B bytes exceeded ..."), so a
 * benchmark can find what fits without the operating system killing the process.
 * Applies to every thread from the next allocation on. */
void lf_mem_limit_set(size_t bytes);
size_t lf_mem_limit(void);
/* Allocations refused so far, for the budget or by the system: a caller compares
 * the count before and after a failed call to tell "did not fit" from other errors. */
size_t lf_mem_failures(void);

#endif
