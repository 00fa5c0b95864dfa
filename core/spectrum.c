/* spectrum.c - singular values (Gram/float64, sgesdd, dgesdd), normalized cumulative
 * curves and Welford running statistics (see spectrum.h).
 *
 * Accuracy. The input is float32, so its singular values are exactly defined, but
 * whatever produced it (a float32 softmax) has already moved each entry by ~eps32
 * relative, i.e. sigma by up to ~eps32 ||P||_F: digits below ~1e-7 sigma_0 carry no
 * information about the model. We ask a method for |sigma_i - ref_i| <= 2 eps32
 * sigma_0 (eps32 = 2^-23, so 2.4e-7 sigma_0) for every i, where ref is float64
 * dgesdd of the same float32 matrix (itself accurate to ~n eps64 sigma_0).
 *   sgesdd: backward stable in float32; absolute error p(n) eps32 sigma_0 with p(n)
 *     a modest polynomial. Measured on attention matrices: up to 3.9e-6 sigma_0
 *     (33 eps32) and 2e-5 relative on the larger values: it misses the tolerance.
 *   Gram: G = A^T A (or A A^T, the smaller) in float64 has entries with relative
 *     error <= n eps64 when A >= 0 (no cancellation; attention matrices are
 *     non-negative), and in general absolute error <= n eps64 ||a_i|| ||a_j||. The
 *     symmetric eigensolver adds ~p(n) eps64 ||G||. So lambda_i is known to
 *     delta ~ n eps64 sigma_0^2, and sigma_i = sqrt(lambda_i) to
 *     min(delta / (2 sigma_i), sqrt(delta)): relative ~n eps64 (1e-13) for values
 *     above ~1e-4 sigma_0, and for sigma_i -> 0 an absolute floor sqrt(n eps64)
 *     sigma_0 ~ 2.4e-7 sigma_0 at n = 512 in the worst case (2 eps32 sigma_0, below
 *     what sgesdd achieves). Measured on attention matrices (n = 512, softmax of
 *     N(0, s^2) scores, s = 0.5 ... 16, with and without 128 padded keys): max
 *     |sigma_i - ref_i| = 2.6e-9 sigma_0, and 3e-11 relative for sigma_i >= 1e-3
 *     sigma_0 (tests/test_spectrum.c checks 2 eps32 on such matrices and measures
 *     ~5e-9). It meets the tolerance with a factor ~50 to spare.
 *   dgesdd on a float64 copy: ~n eps64 sigma_0, but twice the time of sgesdd.
 * Exact zero rows and columns are removed first (lf_sv_one), so padding costs
 * nothing and its zero singular values are exact with every method.
 *
 * Speed, one 512 x 512 attention matrix on one core of the 2-core AMD EPYC (KVM,
 * serial OpenBLAS 0.3.21; best of 9 runs of a batch of 16): Gram 17.7 ms (convert
 * 0.15, dsyrk 3.4, dsytrd 9.1, dsterf 3.3), sgesdd 20.7 ms, dgesdd 37.7 ms; sgesdd
 * with 2 OpenBLAS threads is barely faster (19.9 ms: half of bidiagonalization is
 * BLAS-2). Other eigenvalue paths were slower: the 2-stage dsyevd_2stage (~23 ms;
 * the bulge chasing is serial and n is small), dstemr (+1 ms over dsterf), Cholesky
 * + dqds (+0.6 ms). The Gram method is therefore the default: fastest and the only
 * float-speed method within tolerance.
 *
 * Batches parallelize over matrices, one serial LAPACK call chain per matrix: two
 * cores give ~1.9x (the memory bandwidth of the BLAS-2 half is shared), on top of
 * Gram's ~1.15x per matrix over sgesdd. Batch of 512 x 512 on 2 threads: Gram 9.1-10
 * ms/matrix = 2.1-2.2x the throughput of multi-threaded LAPACKE_sgesdd one matrix
 * after another (19.9-21.1 ms; best of 9 in two quiet sessions, the machine is
 * shared); sgesdd batch 10.2-11.2 ms (1.8-2.0x). With 384 of 512 keys padded the
 * Gram batch takes 0.68 ms/matrix (24x that baseline on the same padded matrices).
 */
#include "spectrum.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"
#include "mem.h"
#include "parallel.h"

/* ---- names ------------------------------------------------------------------- */

static const char *const lf_sv_method_names[] = {"gram", "sgesdd", "dgesdd"};
static const char *const lf_norm_names[] = {"sum", "energy"};

int lf_sv_method_parse(const char *s, lf_sv_method *out)
{
    if (s)
        for (int i = 0; i < 3; i++)
            if (strcmp(s, lf_sv_method_names[i]) == 0) {
                if (out) *out = (lf_sv_method)i;
                return 0;
            }
    LF_FAIL("singular value method \"%s\": unknown (valid: gram, sgesdd, dgesdd)",
            s ? s : "(null)");
}

const char *lf_sv_method_name(lf_sv_method method)
{
    return (int)method >= 0 && (int)method < 3 ? lf_sv_method_names[method] : "unknown";
}

int lf_norm_parse(const char *s, lf_norm *out)
{
    if (s)
        for (int i = 0; i < 2; i++)
            if (strcmp(s, lf_norm_names[i]) == 0) {
                if (out) *out = (lf_norm)i;
                return 0;
            }
    LF_FAIL("normalization \"%s\": unknown (valid: sum, energy)", s ? s : "(null)");
}

const char *lf_norm_name(lf_norm norm)
{
    return (int)norm >= 0 && (int)norm < 2 ? lf_norm_names[norm] : "unknown";
}

/* ---- singular values --------------------------------------------------------- */

/* Buffers of one thread. LAPACK's optimal workspace sizes come from its own query
 * (the blocked tridiagonalization falls back to slow unblocked code when given only
 * the minimal workspace); buffers grow when a matrix needs more, e.g. when dropping
 * zero rows changes sgesdd's path. */
typedef struct {
    double *dcopy; /* gram, dgesdd: [m n] float64 copy of the compacted matrix */
    float *fcopy;  /* sgesdd: [m n] float32 copy (LAPACK overwrites its input) */
    double *gram;  /* gram: [r r] */
    double *dval;  /* gram: [r] eigenvalues */
    float *fval;   /* sgesdd: [r] */
    double *work;  /* doubles, or floats for sgesdd (same allocation) */
    lapack_int *iwork;
    lapack_int lwork, liwork;
    int32_t *rows, *cols; /* [m], [n]: indices of the nonzero rows and columns */
    uint8_t *colnz;       /* [n] */
    int64_t bad_row, bad_col; /* position of a non-finite entry */
} lf_sv_ws;

/* lf_sv_one's failures other than LAPACK's info (which is never this negative). */
#define LF_SV_NONFINITE (-100000)
#define LF_SV_NOMEM (-100001)

static void lf_sv_ws_free(lf_sv_ws *w)
{
    lf_free(w->dcopy);
    lf_free(w->fcopy);
    lf_free(w->gram);
    lf_free(w->dval);
    lf_free(w->fval);
    lf_free(w->work);
    lf_free(w->iwork);
    lf_free(w->rows);
    lf_free(w->cols);
    lf_free(w->colnz);
    memset(w, 0, sizeof *w);
}

/* Workspace sizes for (method, m, n), m, n >= 1: LAPACK's own query (no error set,
 * callable from worker threads); returns LAPACK's info. */
static lapack_int lf_sv_query(lf_sv_method method, lapack_int m, lapack_int n, lapack_int *lwork,
                              lapack_int *liwork)
{
    lapack_int r = m < n ? m : n, info;
    *liwork = 8 * r;
    if (method == LF_SV_GRAM) {
        double q = 0;
        lapack_int iq = 0;
        info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', r, NULL, r, NULL, &q, -1, &iq, -1);
        *lwork = (lapack_int)q + 1;
        *liwork = iq > 1 ? iq : 1;
    } else if (method == LF_SV_SGESDD) {
        float q = 0;
        info = LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'N', n, m, NULL, n, NULL, NULL, 1, NULL, 1, &q,
                                   -1, NULL);
        /* The size comes back as a float: round up and add slack for the rounding. */
        *lwork = (lapack_int)(q * (1.0 + 1e-6)) + 1;
    } else {
        double q = 0;
        info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', n, m, NULL, n, NULL, NULL, 1, NULL, 1, &q,
                                   -1, NULL);
        *lwork = (lapack_int)q + 1;
    }
    return info;
}

/* Makes sure the LAPACK work arrays hold lwork / liwork elements. */
static int lf_sv_ws_reserve(lf_sv_ws *w, lapack_int lwork, lapack_int liwork)
{
    if (lwork > w->lwork) {
        lf_free(w->work);
        if (!(w->work = lf_alloc((size_t)lwork, sizeof(double)))) return -1;
        w->lwork = lwork;
    }
    if (liwork > w->liwork) {
        lf_free(w->iwork);
        if (!(w->iwork = lf_alloc((size_t)liwork, sizeof(lapack_int)))) return -1;
        w->liwork = liwork;
    }
    return 0;
}

static int lf_sv_ws_init(lf_sv_ws *w, lf_sv_method method, int64_t m, int64_t n,
                         lapack_int lwork, lapack_int liwork)
{
    memset(w, 0, sizeof *w);
    size_t mn = (size_t)m * (size_t)n, r = (size_t)(m < n ? m : n);
    int ok = (w->rows = lf_alloc((size_t)m, sizeof(int32_t))) &&
             (w->cols = lf_alloc((size_t)n, sizeof(int32_t))) && (w->colnz = lf_alloc((size_t)n, 1));
    if (ok && method == LF_SV_GRAM)
        ok = (w->dcopy = lf_alloc(mn, sizeof(double))) && (w->gram = lf_alloc(r * r, sizeof(double))) &&
             (w->dval = lf_alloc(r, sizeof(double)));
    else if (ok && method == LF_SV_SGESDD)
        ok = (w->fcopy = lf_alloc(mn, sizeof(float))) && (w->fval = lf_alloc(r, sizeof(float)));
    else if (ok)
        ok = (w->dcopy = lf_alloc(mn, sizeof(double))) != NULL;
    if (!ok || lf_sv_ws_reserve(w, lwork, liwork) != 0) {
        lf_sv_ws_free(w);
        return -1;
    }
    return 0;
}

/* One pass over a: rejects NaN/Inf (position into w->bad_*) and lists the rows and
 * columns holding a nonzero. Bit tests rather than float compares keep the loop
 * branch-free (and vectorizable); -0.0 counts as zero. Returns 0 or LF_SV_NONFINITE. */
static lapack_int lf_sv_scan(lf_sv_ws *w, const float *a, int64_t m, int64_t n, int64_t *mk,
                             int64_t *nk)
{
    memset(w->colnz, 0, (size_t)n);
    int64_t rk = 0;
    for (int64_t i = 0; i < m; i++) {
        const float *row = a + i * n;
        uint32_t nonfinite = 0, rownz = 0;
        for (int64_t j = 0; j < n; j++) {
            uint32_t u;
            memcpy(&u, &row[j], sizeof u);
            uint32_t nz = (u & 0x7fffffffu) != 0;
            nonfinite |= (u & 0x7f800000u) == 0x7f800000u;
            rownz |= nz;
            w->colnz[j] |= (uint8_t)nz;
        }
        if (nonfinite) {
            for (int64_t j = 0; j < n; j++)
                if (!isfinite(row[j])) {
                    w->bad_row = i;
                    w->bad_col = j;
                    break;
                }
            return LF_SV_NONFINITE;
        }
        if (rownz) w->rows[rk++] = (int32_t)i;
    }
    int64_t ck = 0;
    for (int64_t j = 0; j < n; j++)
        if (w->colnz[j]) w->cols[ck++] = (int32_t)j;
    *mk = rk;
    *nk = ck;
    return 0;
}

/* One matrix with serial LAPACK; returns 0, LAPACK's info, LF_SV_NONFINITE or
 * LF_SV_NOMEM, and sets no error: it runs on worker threads, whose messages are
 * thread-local.
 *
 * All-zero rows and columns are dropped first: they contribute exactly zero singular
 * values and nothing else (A = [B 0; 0 0] up to permutations has the values of B
 * plus zeros), and padded keys make such columns. A 512 x 512 attention matrix of a
 * 128-token sentence costs a 512 x 128 problem, and its zeros come out exact.
 *
 * No transposition: the row-major m x n matrix is the column-major n x m matrix
 * A^T, which has the same singular values. */
static lapack_int lf_sv_one(lf_sv_ws *w, lf_sv_method method, const float *a, int64_t m,
                            int64_t n, double *sv)
{
    int64_t r = m < n ? m : n, mk, nk;
    lapack_int info = lf_sv_scan(w, a, m, n, &mk, &nk);
    if (info != 0) return info;
    int64_t rk = mk < nk ? mk : nk;
    for (int64_t i = rk; i < r; i++) sv[i] = 0.0;
    if (rk == 0) return 0;
    if (mk < m || nk < n) {
        lapack_int lwork, liwork;
        info = lf_sv_query(method, (lapack_int)mk, (lapack_int)nk, &lwork, &liwork);
        if (info != 0) return info;
        if (lf_sv_ws_reserve(w, lwork, liwork) != 0) return LF_SV_NOMEM;
    }
    /* The compacted matrix, row-major mk x nk, converted as the method needs. */
    int full_cols = nk == n;
    if (method == LF_SV_SGESDD) {
        for (int64_t i = 0; i < mk; i++) {
            const float *row = a + (int64_t)w->rows[i] * n;
            float *dst = w->fcopy + i * nk;
            if (full_cols)
                memcpy(dst, row, (size_t)n * sizeof(float));
            else
                for (int64_t j = 0; j < nk; j++) dst[j] = row[w->cols[j]];
        }
        info = LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'N', (lapack_int)nk, (lapack_int)mk, w->fcopy,
                                   (lapack_int)nk, w->fval, NULL, 1, NULL, 1, (float *)w->work,
                                   w->lwork, w->iwork);
        if (info == 0)
            for (int64_t i = 0; i < rk; i++) sv[i] = w->fval[i];
        return info;
    }
    for (int64_t i = 0; i < mk; i++) {
        const float *row = a + (int64_t)w->rows[i] * n;
        double *dst = w->dcopy + i * nk;
        if (full_cols)
            for (int64_t j = 0; j < n; j++) dst[j] = row[j];
        else
            for (int64_t j = 0; j < nk; j++) dst[j] = row[w->cols[j]];
    }
    lapack_int M = (lapack_int)mk, N = (lapack_int)nk, R = (lapack_int)rk;
    if (method == LF_SV_DGESDD)
        return LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'N', N, M, w->dcopy, N, sv, NULL, 1, NULL, 1,
                                   w->work, w->lwork, w->iwork);
    /* B = A^T is N x M column-major with leading dimension N. The smaller Gram:
     * B B^T (N x N) when N <= M, else B^T B (M x M). */
    if (N <= M)
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, N, M, 1.0, w->dcopy, N, 0.0, w->gram, R);
    else
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, M, N, 1.0, w->dcopy, N, 0.0, w->gram, R);
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'N', 'L', R, w->gram, R, w->dval, w->work, w->lwork,
                               w->iwork, w->liwork);
    if (info != 0) return info;
    /* Eigenvalues come ascending; rounding can leave the zero ones slightly
     * negative (G is positive semidefinite), and sqrt keeps the order. */
    for (int64_t i = 0; i < rk; i++) {
        double lam = w->dval[rk - 1 - i];
        sv[i] = lam > 0 ? sqrt(lam) : 0.0;
    }
    return 0;
}

static int lf_sv_check_sizes(int64_t count, int64_t m, int64_t n, lf_sv_method method)
{
    if ((int)method < 0 || (int)method > 2)
        LF_FAIL("singular values: unknown method %d", (int)method);
    if (count < 0 || m < 0 || n < 0)
        LF_FAIL("singular values: negative size (count %lld, %lld x %lld)", (long long)count,
                (long long)m, (long long)n);
    if (m > INT_MAX || n > INT_MAX)
        LF_FAIL("singular values: %lld x %lld exceeds LAPACK's 32-bit sizes", (long long)m,
                (long long)n);
    size_t total;
    LF_TRY(lf_size_mul((size_t)m, (size_t)n, &total));
    LF_TRY(lf_size_mul(total, (size_t)count, &total));
    LF_TRY(lf_size_mul(total, sizeof(double), &total));
    return 0;
}

int lf_sv_batch(const float *a, int64_t count, int64_t m, int64_t n, lf_sv_method method,
                double *sv)
{
    LF_TRY(lf_sv_check_sizes(count, m, n, method));
    int64_t r = m < n ? m : n;
    if (count == 0 || r == 0) return 0;
    if (!a || !sv) LF_FAIL("singular values: NULL matrix or output");
    lapack_int lwork, liwork, qinfo;
    qinfo = lf_sv_query(method, (lapack_int)m, (lapack_int)n, &lwork, &liwork);
    if (qinfo != 0) LF_FAIL("singular values: LAPACK workspace query failed (info %d)", (int)qinfo);

    int threads = lf_threads_get();
#ifdef _OPENMP
    if (omp_in_parallel()) threads = 1; /* nested: the caller already owns the cores */
#endif
    if ((int64_t)threads > count) threads = (int)count;
    lf_sv_ws *ws = lf_calloc((size_t)threads, sizeof *ws);
    if (!ws) return -1;
    int rc = 0;
    for (int t = 0; t < threads && rc == 0; t++)
        rc = lf_sv_ws_init(&ws[t], method, m, n, lwork, liwork);
    if (rc != 0) {
        for (int t = 0; t < threads; t++) lf_sv_ws_free(&ws[t]);
        lf_free(ws);
        return -1;
    }

    size_t mn = (size_t)m * (size_t)n;
    int64_t bad = count, bad_row = 0, bad_col = 0;
    lapack_int bad_info = 0;
    /* Dynamic scheduling only balances the load (another process may hold a core);
     * each matrix is computed the same way whichever thread takes it. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t c = 0; c < count; c++) {
        lf_sv_ws *w = &ws[lf_thread_id()];
        lapack_int info = lf_sv_one(w, method, a + (size_t)c * mn, m, n, sv + (size_t)c * (size_t)r);
        if (info != 0) {
#pragma omp critical(lf_sv_batch_error)
            if (c < bad) {
                bad = c;
                bad_info = info;
                bad_row = w->bad_row;
                bad_col = w->bad_col;
            }
        }
    }
    for (int t = 0; t < threads; t++) lf_sv_ws_free(&ws[t]);
    lf_free(ws);
    if (bad == count) return 0;
    /* The lowest failing matrix, whatever the thread count. */
    if (bad_info == LF_SV_NONFINITE)
        LF_FAIL("singular values: matrix %lld has a non-finite entry %g at (%lld, %lld)",
                (long long)bad, (double)a[(size_t)bad * mn + (size_t)(bad_row * n + bad_col)],
                (long long)bad_row, (long long)bad_col);
    if (bad_info == LF_SV_NOMEM)
        LF_FAIL("singular values: matrix %lld: out of memory for LAPACK's workspace", (long long)bad);
    LF_FAIL("singular values (%s): matrix %lld: LAPACK failed (info %d)", lf_sv_method_name(method),
            (long long)bad, (int)bad_info);
}

int lf_sv_compute(const float *a, int64_t m, int64_t n, lf_sv_method method, double *sv)
{
    return lf_sv_batch(a, 1, m, n, method, sv);
}

/* ---- cumulative curves ------------------------------------------------------- */

/* Shared by lf_sv_cumulative and lf_sv_cumulative_at so that both do the same
 * operations (bit-identical values). Writes the non-decreasing prefix sums of the
 * (scaled) terms into cum (if not NULL), the prefix at 0-based `at` into *prefix_at
 * and the total into *total. Returns 1 when every value is zero. */
static int lf_prefix_sums(const double *sv, int64_t r, lf_norm norm, double *cum, int64_t at,
                          double *prefix_at, double *total)
{
    if ((int)norm < 0 || (int)norm > 1) LF_FAIL("cumulative curve: unknown normalization %d", (int)norm);
    if (!sv) LF_FAIL("cumulative curve: NULL singular values");
    for (int64_t i = 0; i < r; i++) {
        if (!(sv[i] >= 0) || isinf(sv[i]))
            LF_FAIL("cumulative curve: singular value %lld is %g (need finite, >= 0)", (long long)i,
                    sv[i]);
        if (i > 0 && sv[i] > sv[i - 1])
            LF_FAIL("cumulative curve: singular values not descending at index %lld (%.17g > %.17g)",
                    (long long)i, sv[i], sv[i - 1]);
    }
    if (sv[0] == 0) return 1;
    /* Scale by a power of two near 1/sv[0]: exact, and squares can neither overflow
     * nor (for any value that matters) underflow. */
    int e = ilogb(sv[0]);
    double s = 0, c = 0, prev = 0;
    for (int64_t i = 0; i < r; i++) {
        double x = ldexp(sv[i], -e);
        if (norm == LF_NORM_ENERGY) x *= x;
        /* Neumaier's compensated sum: the error stays ~eps64 of the total instead of
         * growing with r. */
        double t = s + x;
        c += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
        double p = s + c;
        /* The compensated value may wobble down by an ulp where exact prefix sums of
         * non-negative terms cannot: keep the curve non-decreasing. */
        if (p < prev) p = prev;
        prev = p;
        if (cum) cum[i] = p;
        if (i == at) *prefix_at = p;
    }
    *total = prev;
    return 0;
}

int lf_sv_cumulative(const double *sv, int64_t r, lf_norm norm, double *cum)
{
    if (r < 0) LF_FAIL("cumulative curve: negative length %lld", (long long)r);
    if (r == 0) return 0;
    if (!cum) LF_FAIL("cumulative curve: NULL output");
    double at, total;
    int z = lf_prefix_sums(sv, r, norm, cum, -1, &at, &total);
    if (z < 0) return -1;
    if (z == 1) {
        for (int64_t i = 0; i < r; i++) cum[i] = NAN;
        LF_FAIL("cumulative curve: all %lld singular values are zero (zero matrix): the "
                "normalized curve is undefined (filled with NaN)",
                (long long)r);
    }
    for (int64_t i = 0; i < r; i++) cum[i] /= total;
    return 0;
}

int lf_sv_cumulative_at(const double *sv, int64_t r, lf_norm norm, int64_t index, double *value)
{
    if (!value) LF_FAIL("cumulative curve: NULL output");
    if (index < 1 || index > r)
        LF_FAIL("cumulative curve: index %lld outside 1..%lld (1-based)", (long long)index,
                (long long)r);
    double at = 0, total;
    int z = lf_prefix_sums(sv, r, norm, NULL, index - 1, &at, &total);
    if (z < 0) return -1;
    if (z == 1) {
        *value = NAN;
        LF_FAIL("cumulative curve: all %lld singular values are zero (zero matrix): the "
                "normalized value is undefined (NaN)",
                (long long)r);
    }
    *value = at / total;
    return 0;
}

/* ---- running statistics ------------------------------------------------------ */

int lf_welford_init(lf_welford *w, int64_t len)
{
    if (!w) LF_FAIL("running statistics: NULL state");
    memset(w, 0, sizeof *w);
    if (len < 1) LF_FAIL("running statistics: length %lld (need >= 1)", (long long)len);
    w->mean = lf_calloc((size_t)len, sizeof(double));
    w->m2 = lf_calloc((size_t)len, sizeof(double));
    if (!w->mean || !w->m2) {
        lf_welford_free(w);
        return -1;
    }
    w->len = len;
    return 0;
}

void lf_welford_free(lf_welford *w)
{
    if (!w) return;
    lf_free(w->mean);
    lf_free(w->m2);
    memset(w, 0, sizeof *w);
}

int lf_welford_add(lf_welford *w, const double *x)
{
    if (!w || !w->mean || !x) LF_FAIL("running statistics: NULL or uninitialised state or input");
    for (int64_t j = 0; j < w->len; j++)
        if (!isfinite(x[j]))
            LF_FAIL("running statistics: element %lld is %g; refused (it would poison the mean)",
                    (long long)j, x[j]);
    if (w->count == INT64_MAX) LF_FAIL("running statistics: count overflow");
    w->count++;
    double inv = 1.0 / (double)w->count;
    for (int64_t j = 0; j < w->len; j++) {
        /* Welford: update by the deviation from the running mean, not raw sums of
         * squares, which cancel catastrophically for a spread much smaller than the
         * mean (curves near 1). d and x - mean' have the same sign, so m2 only grows. */
        double d = x[j] - w->mean[j];
        w->mean[j] += d * inv;
        w->m2[j] += d * (x[j] - w->mean[j]);
    }
    return 0;
}

int lf_welford_merge(lf_welford *into, const lf_welford *from)
{
    if (!into || !from || !into->mean || !from->mean)
        LF_FAIL("running statistics: NULL or uninitialised state");
    if (into->len != from->len)
        LF_FAIL("running statistics: cannot merge length %lld into length %lld",
                (long long)from->len, (long long)into->len);
    if (from->count == 0) return 0;
    if (into->count == 0) {
        memcpy(into->mean, from->mean, (size_t)into->len * sizeof(double));
        memcpy(into->m2, from->m2, (size_t)into->len * sizeof(double));
        into->count = from->count;
        return 0;
    }
    if (from->count > INT64_MAX - into->count) LF_FAIL("running statistics: count overflow");
    double na = (double)into->count, nb = (double)from->count, nt = na + nb;
    double fb = nb / nt, fab = na * nb / nt;
    for (int64_t j = 0; j < into->len; j++) {
        /* Chan, Golub and LeVeque (1979): the pairwise update of mean and m2. */
        double delta = from->mean[j] - into->mean[j];
        into->mean[j] += delta * fb;
        into->m2[j] += from->m2[j] + delta * delta * fab;
    }
    into->count += from->count;
    return 0;
}

int lf_welford_std(const lf_welford *w, double *std)
{
    if (!w || !w->mean || !std) LF_FAIL("running statistics: NULL or uninitialised state or output");
    for (int64_t j = 0; j < w->len; j++)
        std[j] = w->count < 2 ? NAN : sqrt(w->m2[j] / (double)(w->count - 1));
    return 0;
}

int lf_welford_restore(lf_welford *w, int64_t len, int64_t count, const double *mean,
                       const double *m2)
{
    if (!w) LF_FAIL("running statistics: NULL state");
    memset(w, 0, sizeof *w);
    if (count < 0) LF_FAIL("running statistics checkpoint: negative count %lld", (long long)count);
    if (!mean || !m2) LF_FAIL("running statistics checkpoint: NULL mean or m2");
    if (len < 1) LF_FAIL("running statistics checkpoint: length %lld (need >= 1)", (long long)len);
    for (int64_t j = 0; j < len; j++) {
        if (!isfinite(mean[j]) || !isfinite(m2[j]) || m2[j] < 0)
            LF_FAIL("running statistics checkpoint: element %lld has mean %g, m2 %g (need finite, "
                    "m2 >= 0)",
                    (long long)j, mean[j], m2[j]);
        if (count == 0 && (mean[j] != 0 || m2[j] != 0))
            LF_FAIL("running statistics checkpoint: count 0 but element %lld has mean %g, m2 %g",
                    (long long)j, mean[j], m2[j]);
    }
    LF_TRY(lf_welford_init(w, len));
    memcpy(w->mean, mean, (size_t)len * sizeof(double));
    memcpy(w->m2, m2, (size_t)len * sizeof(double));
    w->count = count;
    return 0;
}
