/* bench.c - median of repeats, the sgemm rate and the peak resident memory (see
 * bench.h). */
#include "bench.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "progress.h"
#include "rng.h"

static int lf_bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lf_bench_median(double *v, int count)
{
    if (count < 1) return NAN;
    qsort(v, (size_t)count, sizeof *v, lf_bench_cmp);
    return count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

int lf_bench_sgemm_rate(int64_t m, double min_time, double *gflops)
{
    if (m < 1 || m > 32768) LF_FAIL("lf_bench_sgemm_rate: size %lld out of range", (long long)m);
    size_t count = (size_t)m * (size_t)m;
    float *a = lf_alloc(count, 3 * sizeof(float));
    if (!a) {
        lf_error_prefix("lf_bench_sgemm_rate: %lld x %lld matrices", (long long)m, (long long)m);
        return -1;
    }
    float *b = a + count, *c = b + count;
    lf_rng r;
    lf_rng_init(&r, 2020, 1);
    lf_rng_fill_normal(&r, a, 2 * count, 0.0, 1.0);
    lf_blas_threads_set(lf_threads_get());
    const int im = (int)m;
    double best = INFINITY, total = 0;
    for (int rep = -1; rep < 200 && (rep < 5 || total < min_time); rep++) {
        double t0 = lf_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, im, im, im, 1.0f, a, im, b, im,
                    0.0f, c, im);
        double t = lf_now() - t0;
        if (rep < 0) continue; /* warm-up */
        best = t < best ? t : best;
        total += t;
    }
    lf_blas_threads_set(1);
    lf_free(a);
    *gflops = 2.0 * (double)m * (double)m * (double)m / best * 1e-9;
    return 0;
}

int lf_bench_rss_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

size_t lf_bench_rss_peak(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kb = 0;
        int found = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
                found = 1;
                break;
            }
        fclose(f);
        if (found) return (size_t)kb * 1024;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}
