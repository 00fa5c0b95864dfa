/* bench.h - measuring helpers shared by the benchmarks: the median of timed repeats,
 * the machine's multi-threaded sgemm rate (the ceiling that attention rates are
 * compared with, measured in the same run), and the process's peak resident memory.
 *
 * Nothing here is a test: the numbers go into benchmark reports as ratios measured
 * side by side (DESIGN.md, "Verification rules").
 */
#ifndef LF_BENCH_H
#define LF_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Median of count > 0 values (the mean of the middle two for an even count); sorts
 * v in place. NaN when count < 1. */
double lf_bench_median(double *v, int count);

/* GFLOP/s of C = A B for m x m x m float32 matrices with OpenBLAS using every thread
 * of lf_threads_get(): one warm-up, then the best (smallest) time of at least 5
 * repeats and min_time seconds (at most 200). The best, not the median: on a shared
 * VM interruptions only ever add time. BLAS is serial again afterwards. Run it after
 * other measurements: OpenBLAS's threads keep spinning for a while after a threaded
 * call. -1 (error set) when the matrices cannot be allocated. */
int lf_bench_sgemm_rate(int64_t m, double min_time, double *gflops);

/* Peak resident set size of the process in bytes since the last
 * lf_bench_rss_peak_reset (Linux VmHWM, which writing 5 to /proc/self/clear_refs
 * resets); where that reset is not possible, the getrusage ru_maxrss of the whole
 * process life. lf_bench_rss_peak_reset returns 1 when the reset worked, else 0. */
int lf_bench_rss_peak_reset(void);
size_t lf_bench_rss_peak(void);

#endif
