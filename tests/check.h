/* check.h - the tests' tiny harness.
 *
 * A test is a function run with RUN(fn); inside it CHECK* macros record failures
 * with file, line and the values involved. A test passes when none of its checks
 * failed. main() returns check_summary(): one line "name: N passed, M failed" and a
 * non-zero exit status when anything failed. Comparisons print the worst error
 * so that a passing run also shows how close it was.
 */
#ifndef LF_CHECK_H
#define LF_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed, check_current_failures;
static const char *check_program = "test";

static void check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "    %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    check_current_failures++;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) check_fail(__FILE__, __LINE__, "check failed: %s", #cond);                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) check_fail(__FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double ca_ = (double)(a), cb_ = (double)(b), ct_ = (double)(tol);                          \
        if (!(fabs(ca_ - cb_) <= ct_))                                                             \
            check_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| = %.3g > %.3g", #a, ca_,  \
                       #b, cb_, fabs(ca_ - cb_), ct_);                                             \
    } while (0)

/* Largest |a_i - b_i| / (atol + rtol |b_i|) over n elements must be <= 1; prints the
 * worst element. Returns the worst absolute difference. */
__attribute__((unused)) static double check_arrays_f(const char *file, int line, const char *what, const float *a,
                             const float *b, size_t n, double atol, double rtol)
{
    double worst_ratio = 0, worst_abs = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst_ratio)) { /* also catches NaN */
            worst_ratio = isnan(r) ? INFINITY : r;
            worst_i = i;
        }
        if (d > worst_abs) worst_abs = d;
    }
    if (!(worst_ratio <= 1.0))
        check_fail(file, line, "%s: element %zu: %.9g vs %.9g (max abs diff %.3g, atol %.1g rtol %.1g)",
                   what, worst_i, (double)a[worst_i], (double)b[worst_i], worst_abs, atol, rtol);
    return worst_abs;
}
#define CHECK_ARRAYS(what, a, b, n, atol, rtol)                                                    \
    check_arrays_f(__FILE__, __LINE__, what, a, b, n, atol, rtol)

__attribute__((unused)) static double check_arrays_d(const char *file, int line, const char *what, const double *a,
                             const double *b, size_t n, double atol, double rtol)
{
    double worst_ratio = 0, worst_abs = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        double r = d / (atol + rtol * fabs(b[i]));
        if (!(r <= worst_ratio)) {
            worst_ratio = isnan(r) ? INFINITY : r;
            worst_i = i;
        }
        if (d > worst_abs) worst_abs = d;
    }
    if (!(worst_ratio <= 1.0))
        check_fail(file, line, "%s: element %zu: %.12g vs %.12g (max abs diff %.3g, atol %.1g rtol %.1g)",
                   what, worst_i, a[worst_i], b[worst_i], worst_abs, atol, rtol);
    return worst_abs;
}
#define CHECK_ARRAYS_D(what, a, b, n, atol, rtol)                                                  \
    check_arrays_d(__FILE__, __LINE__, what, a, b, n, atol, rtol)

/* Tests may print a note (measured error, etc.) shown after PASS/FAIL. */
static char check_note[256];
static void check_notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((unused)) static void check_notef(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(check_note, sizeof check_note, fmt, ap);
    va_end(ap);
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_current_failures = 0;                                                                \
        check_note[0] = '\0';                                                                      \
        fn();                                                                                      \
        if (check_current_failures == 0) {                                                         \
            check_passed++;                                                                        \
            printf("PASS %s%s%s\n", #fn, check_note[0] ? "  " : "", check_note);                   \
        } else {                                                                                   \
            check_failed++;                                                                        \
            printf("FAIL %s (%d failed checks)%s%s\n", #fn, check_current_failures,                \
                   check_note[0] ? "  " : "", check_note);                                         \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static int check_summary(void)
{
    printf("%s: %d passed, %d failed\n", check_program, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
