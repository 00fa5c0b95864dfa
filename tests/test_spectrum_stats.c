/* test_spectrum_stats.c - Figure-1 statistics against a direct computation, the
 * checkpoint round trip, and refusals.
 *
 * The direct computation uses lf_sv_compute and lf_sv_cumulative (checked against
 * closed forms and float64 references in test_spectrum.c) and a two-pass mean and
 * sample standard deviation in long double; Welford's update agrees with it to a few
 * ulp of the values (<= 1), so 1e-13 absolute.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "rng.h"
#include "softmax.h"
#include "spectrum_stats.h"

enum { L = 2, H = 3, N = 24, S = 5 };

/* P of S sequences for layer l: [S, H, N, N] row softmax of random scores. */
static float *make_probs(int layer)
{
    float *p = malloc((size_t)S * H * N * N * sizeof *p);
    lf_rng r;
    lf_rng_init(&r, 77, (uint64_t)layer);
    lf_rng_fill_normal(&r, p, (size_t)S * H * N * N, 0.0, 1.0 + layer);
    for (int i = 0; i < S * H * N; i++) lf_softmax_row(p + (size_t)i * N, N, NULL);
    return p;
}

static void test_against_direct(void)
{
    lf_spectrum_stats st;
    CHECK(lf_spectrum_stats_init(&st, L, H, N, LF_NORM_SUM, LF_SV_DEFAULT) == 0);
    float *p[L];
    for (int l = 0; l < L; l++) {
        p[l] = make_probs(l);
        /* Two batches (3 + 2 sequences), the second with a sequence stride larger than
         * H N N, exercising both paths. */
        CHECK(lf_spectrum_stats_add(&st, l, p[l], 3, H * N * N) == 0);
        float *strided = calloc((size_t)2 * 2 * H * N * N, sizeof *strided);
        for (int b = 0; b < 2; b++)
            memcpy(strided + (size_t)b * 2 * H * N * N, p[l] + (size_t)(3 + b) * H * N * N,
                   (size_t)H * N * N * sizeof *strided);
        CHECK(lf_spectrum_stats_add(&st, l, strided, 2, 2 * H * N * N) == 0);
        free(strided);
    }
    double mean[L * H * N], std[L * H * N], at[L * H], lm[L * N];
    CHECK(lf_spectrum_stats_results(&st, 7, mean, std, at, lm) == 0);
    double worst = 0;
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < H; h++) {
            double cum[S][N], sv[N];
            for (int s = 0; s < S; s++) {
                CHECK(lf_sv_compute(p[l] + ((size_t)s * H + h) * N * N, N, N, LF_SV_DEFAULT, sv) == 0);
                CHECK(lf_sv_cumulative(sv, N, LF_NORM_SUM, cum[s]) == 0);
            }
            for (int i = 0; i < N; i++) {
                long double m = 0, v = 0;
                for (int s = 0; s < S; s++) m += cum[s][i];
                m /= S;
                for (int s = 0; s < S; s++) v += (cum[s][i] - m) * (cum[s][i] - m);
                double sd = (double)sqrtl(v / (S - 1));
                worst = fmax(worst, fabs(mean[(l * H + h) * N + i] - (double)m));
                worst = fmax(worst, fabs(std[(l * H + h) * N + i] - sd));
            }
            CHECK(at[l * H + h] == mean[(l * H + h) * N + 6]);
            CHECK(lf_spectrum_stats_count(&st, l, h) == S);
        }
        for (int i = 0; i < N; i++) {
            double e = 0;
            for (int h = 0; h < H; h++) e += mean[(l * H + h) * N + i] / H;
            worst = fmax(worst, fabs(lm[l * N + i] - e));
        }
    }
    CHECK_MSG(worst <= 1e-13, "max difference %.3g", worst);
    check_notef("max difference from the direct computation %.1e", worst);

    /* Checkpoint round trip: restored state gives identical results. */
    lf_h5 *f = lf_h5_create("ckpt.h5", "test", 1);
    CHECK(f && lf_spectrum_stats_save(&st, f, "/state") == 0 && lf_h5_close(f, 1) == 0);
    lf_spectrum_stats st2;
    CHECK(lf_spectrum_stats_init(&st2, L, H, N, LF_NORM_SUM, LF_SV_DEFAULT) == 0);
    f = lf_h5_open("ckpt.h5");
    CHECK(f && lf_spectrum_stats_restore(&st2, f, "/state") == 0);
    lf_h5_close(f, 0);
    double mean2[L * H * N], std2[L * H * N];
    CHECK(lf_spectrum_stats_results(&st2, 7, mean2, std2, NULL, NULL) == 0);
    CHECK(memcmp(mean, mean2, sizeof mean) == 0 && memcmp(std, std2, sizeof std) == 0);
    /* A checkpoint of another shape is refused. */
    lf_spectrum_stats st3;
    CHECK(lf_spectrum_stats_init(&st3, L, H + 1, N, LF_NORM_SUM, LF_SV_DEFAULT) == 0);
    f = lf_h5_open("ckpt.h5");
    CHECK(f && lf_spectrum_stats_restore(&st3, f, "/state") == -1);
    CHECK(strstr(lf_error_get(), "does not match") != NULL);
    lf_h5_close(f, 0);
    unlink("ckpt.h5");
    lf_spectrum_stats_free(&st3);
    lf_spectrum_stats_free(&st2);
    lf_spectrum_stats_free(&st);
    for (int l = 0; l < L; l++) free(p[l]);
}

static void test_refusals(void)
{
    lf_spectrum_stats st;
    CHECK(lf_spectrum_stats_init(&st, 1, 1, 4, LF_NORM_SUM, LF_SV_DEFAULT) == 0);
    float zero[16] = {0};
    CHECK(lf_spectrum_stats_add(&st, 0, zero, 1, 16) == -1); /* curve undefined */
    CHECK(strstr(lf_error_get(), "layer 0") != NULL);
    CHECK(lf_spectrum_stats_add(&st, 1, zero, 1, 16) == -1); /* no layer 1 */
    double at;
    CHECK(lf_spectrum_stats_results(&st, 1, NULL, NULL, &at, NULL) == -1); /* nothing added */
    float eye[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    CHECK(lf_spectrum_stats_add(&st, 0, eye, 1, 16) == 0);
    CHECK(lf_spectrum_stats_results(&st, 5, NULL, NULL, &at, NULL) == -1); /* index > n */
    CHECK(lf_spectrum_stats_results(&st, 2, NULL, NULL, &at, NULL) == 0);
    CHECK_NEAR(at, 0.5, 1e-15); /* identity: equal singular values, linear ramp */
    lf_spectrum_stats_free(&st);
    lf_spectrum_stats_free(&st); /* safe twice */
    CHECK(lf_spectrum_stats_init(&st, 0, 1, 4, LF_NORM_SUM, LF_SV_DEFAULT) == -1);
}

int main(void)
{
    check_program = "test_spectrum_stats";
    RUN(test_against_direct);
    RUN(test_refusals);
    return check_summary();
}
