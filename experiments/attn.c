/* attn.c - bin/attn: apply dense, streamed or Linformer attention to tensors from any
 * framework (Q, K, V dumped with h5py) and write the output and probabilities.
 *
 *   bin/attn --in IN.h5 --out OUT.h5 --mode dense|streamed|linformer
 *            [--projection given|gaussian|mean|max|conv] [--k K] [--sharing none|headwise|kv]
 *            [--seed S] [--threads T] [--no-probabilities] [--force]
 *
 * Input and output formats are documented in docs/results-format.md. The work is in
 * core/ (attention.c, projection.c, h5io.c); this file parses, validates and writes.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cli.h"
#include "error.h"
#include "h5io.h"
#include "linformer.h"
#include "mem.h"
#include "parallel.h"
#include "projection.h"
#include "version.h"

static const char *prog = "attn";

static void usage(FILE *to)
{
    fprintf(to,
            "usage: attn --in IN.h5 --out OUT.h5 --mode dense|streamed|linformer [options]\n"
            "\n"
            "Applies one attention layer to Q, K, V read from IN.h5 (float datasets /q, /k\n"
            "shaped [H, n, d], /v shaped [H, n, dv], optional /mask [n] with 1 = token, 0 =\n"
            "padding) and writes /out [H, n, dv] and /probabilities to OUT.h5.\n"
            "\n"
            "  --mode M            dense (P materialized), streamed (exact, O(n) memory, no P),\n"
            "                      linformer (softmax(Q (E K)^T / sqrt(d)) F V)\n"
            "  --projection P      linformer projection: given (/e and /f [H, k, n] in IN.h5),\n"
            "                      gaussian (N(0, 1/k), default), mean, max, conv (kernel =\n"
            "                      stride = n/k; kernels from /conv [H, n/k] if present, else 1/window)\n"
            "  --k K               projected length, 1 <= K <= n (linformer; from /e for given)\n"
            "  --sharing S         none (default), headwise (one E, one F for all heads), kv (E = F)\n"
            "  --seed S            seed of the gaussian projection (default 0)\n"
            "  --threads T         threads (default: all cores)\n"
            "  --no-probabilities  do not write /probabilities\n"
            "  --force             overwrite OUT.h5 if it exists\n"
            "  --help, --version\n"
            "\n"
            "Malformed input: one error line on stderr, exit status 2, no output file.\n");
}

typedef struct {
    const char *in, *out, *mode, *projection, *sharing;
    int64_t k, threads;
    uint64_t seed;
    int force, no_probabilities;
} attn_args;

/* Exit helpers: every failure is one line; usage/input errors exit 2. */
static void fail_usage(void) { lf_cli_fail(prog, LF_EXIT_USAGE); }

static void parse_args(int argc, char **argv, attn_args *a)
{
    static const struct option opts[] = {
        {"in", required_argument, 0, 'i'},       {"out", required_argument, 0, 'o'},
        {"mode", required_argument, 0, 'm'},     {"projection", required_argument, 0, 'p'},
        {"k", required_argument, 0, 'k'},        {"sharing", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'},     {"threads", required_argument, 0, 't'},
        {"force", no_argument, 0, 'f'},          {"no-probabilities", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->projection = "gaussian";
    a->sharing = "none";
    a->k = -1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': a->in = optarg; break;
        case 'o': a->out = optarg; break;
        case 'm': a->mode = optarg; break;
        case 'p': a->projection = optarg; break;
        case 's': a->sharing = optarg; break;
        case 'k':
            if (lf_parse_i64("--k", optarg, 1, INT32_MAX, &a->k) != 0) fail_usage();
            break;
        case 'S':
            if (lf_parse_u64("--seed", optarg, &a->seed) != 0) fail_usage();
            break;
        case 't':
            if (lf_parse_i64("--threads", optarg, 1, 4096, &a->threads) != 0) fail_usage();
            break;
        case 'f': a->force = 1; break;
        case 'n': a->no_probabilities = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("attn (linformer suite) %s\n", LF_VERSION); exit(0);
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            fail_usage();
        }
    }
    if (optind < argc) {
        lf_error_set("unexpected argument '%s' (see --help)", argv[optind]);
        fail_usage();
    }
    if (!a->in) lf_error_set("--in IN.h5 is required"), fail_usage();
    if (!a->out) lf_error_set("--out OUT.h5 is required"), fail_usage();
    if (!a->mode) lf_error_set("--mode is required (dense, streamed or linformer)"), fail_usage();
    if (strcmp(a->mode, "dense") && strcmp(a->mode, "streamed") && strcmp(a->mode, "linformer")) {
        lf_error_set("--mode: unknown mode '%s' (expected dense, streamed or linformer)", a->mode);
        fail_usage();
    }
}

/* A [H, n, d]-shaped input tensor. */
typedef struct {
    float *data;
    int64_t dims[3];
} tensor3;

static int read_tensor(lf_h5 *f, const char *path, const char *file, int rank_expected,
                       float **data, int64_t *dims)
{
    int rank;
    int64_t got[8];
    if (!lf_h5_has(f, path)) LF_FAIL("%s: missing dataset %s", file, path);
    LF_TRY(lf_h5_read_f32(f, path, 8, &rank, got, data));
    if (rank != rank_expected) {
        lf_free(*data);
        *data = NULL;
        LF_FAIL("%s: %s has rank %d, expected %d", file, path, rank, rank_expected);
    }
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (got[i] < 1) {
            lf_free(*data);
            *data = NULL;
            LF_FAIL("%s: %s has an empty dimension %d", file, path, i);
        }
        dims[i] = got[i];
        count *= (size_t)got[i];
    }
    for (size_t i = 0; i < count; i++)
        if (!isfinite((*data)[i])) {
            /* Name the element as h5py would index it: [a, b, c]. */
            char where[96];
            int len = 0;
            size_t rest = i, stride = count;
            for (int r = 0; r < rank && len < (int)sizeof where - 24; r++) {
                stride /= (size_t)dims[r];
                len += snprintf(where + len, sizeof where - (size_t)len, "%s%zu", r ? ", " : "",
                                rest / stride);
                rest %= stride;
            }
            float bad = (*data)[i];
            lf_free(*data);
            *data = NULL;
            LF_FAIL("%s: %s contains %s at [%s]", file, path, isnan(bad) ? "NaN" : "Inf", where);
        }
    return 0;
}

typedef struct {
    float *q, *k, *v, *e, *f, *conv;
    uint8_t *mask;
    int64_t heads, n, d, dv, kp;
} attn_input;

static void input_free(attn_input *in)
{
    lf_free(in->q), lf_free(in->k), lf_free(in->v), lf_free(in->e), lf_free(in->f),
        lf_free(in->conv), lf_free(in->mask);
}

/* Reads and validates everything; returns -1 with the error set (all input errors). */
static int read_input(const attn_args *a, lf_proj_kind kind, int linformer, attn_input *in)
{
    memset(in, 0, sizeof *in);
    lf_h5 *f = lf_h5_open(a->in);
    if (!f) return -1;
    int64_t dq[3], dk[3], dv[3];
    int rc = -1;
    if (read_tensor(f, "/q", a->in, 3, &in->q, dq) || read_tensor(f, "/k", a->in, 3, &in->k, dk) ||
        read_tensor(f, "/v", a->in, 3, &in->v, dv))
        goto done;
    if (dk[0] != dq[0] || dv[0] != dq[0]) {
        lf_error_set("%s: head counts differ: /q has %lld, /k %lld, /v %lld", a->in,
                     (long long)dq[0], (long long)dk[0], (long long)dv[0]);
        goto done;
    }
    if (dk[1] != dq[1] || dv[1] != dq[1]) {
        lf_error_set("%s: sequence lengths n differ: /q has %lld, /k %lld, /v %lld", a->in,
                     (long long)dq[1], (long long)dk[1], (long long)dv[1]);
        goto done;
    }
    if (dk[2] != dq[2]) {
        lf_error_set("%s: head dimension d differs: /q has %lld, /k %lld", a->in, (long long)dq[2],
                     (long long)dk[2]);
        goto done;
    }
    in->heads = dq[0], in->n = dq[1], in->d = dq[2], in->dv = dv[2];
    if (lf_h5_has(f, "/mask")) {
        float *m = NULL;
        int64_t dm[1];
        if (read_tensor(f, "/mask", a->in, 1, &m, dm)) goto done;
        if (dm[0] != in->n) {
            lf_free(m);
            lf_error_set("%s: /mask has length %lld, expected n = %lld", a->in, (long long)dm[0],
                         (long long)in->n);
            goto done;
        }
        in->mask = lf_alloc((size_t)in->n, 1);
        if (!in->mask) {
            lf_free(m);
            goto done;
        }
        for (int64_t i = 0; i < in->n; i++) {
            if (m[i] != 0.0f && m[i] != 1.0f) {
                lf_error_set("%s: /mask[%lld] = %g; expected 1 (token) or 0 (padding)", a->in,
                             (long long)i, (double)m[i]);
                lf_free(m);
                goto done;
            }
            in->mask[i] = m[i] != 0.0f;
        }
        lf_free(m);
    }
    if (linformer) {
        if (kind == LF_PROJ_LINEAR) {
            int64_t de[3], df[3];
            if (read_tensor(f, "/e", a->in, 3, &in->e, de) ||
                read_tensor(f, "/f", a->in, 3, &in->f, df))
                goto done;
            if (de[0] != in->heads || de[2] != in->n || df[0] != in->heads || df[1] != de[1] ||
                df[2] != in->n) {
                lf_error_set("%s: /e and /f must both be [H, k, n] = [%lld, k, %lld]; got "
                             "[%lld, %lld, %lld] and [%lld, %lld, %lld]",
                             a->in, (long long)in->heads, (long long)in->n, (long long)de[0],
                             (long long)de[1], (long long)de[2], (long long)df[0],
                             (long long)df[1], (long long)df[2]);
                goto done;
            }
            if (a->k >= 0 && a->k != de[1]) {
                lf_error_set("--k %lld disagrees with /e, which has k = %lld", (long long)a->k,
                             (long long)de[1]);
                goto done;
            }
            in->kp = de[1];
        } else {
            if (a->k < 0) {
                lf_error_set("--k is required for --mode linformer with --projection %s",
                             a->projection);
                goto done;
            }
            in->kp = a->k;
        }
        if (in->kp < 1 || in->kp > in->n) {
            lf_error_set("--k: k = %lld must be between 1 and n = %lld", (long long)in->kp,
                         (long long)in->n);
            goto done;
        }
        if (kind == LF_PROJ_CONV && lf_h5_has(f, "/conv")) {
            int64_t dc[2];
            if (read_tensor(f, "/conv", a->in, 2, &in->conv, dc)) goto done;
            if (in->n % in->kp != 0 || dc[0] != in->heads || dc[1] != in->n / in->kp) {
                lf_error_set("%s: /conv must be [H, n/k] = [%lld, %lld]", a->in,
                             (long long)in->heads, (long long)(in->n / (in->kp ? in->kp : 1)));
                goto done;
            }
        }
    }
    rc = 0;
done:
    lf_h5_close(f, 0);
    if (rc != 0) input_free(in);
    return rc;
}

/* Builds the projection plan (one layer, H heads) and installs given weights. */
static int make_plan(const attn_args *a, lf_proj_kind kind, lf_sharing sharing,
                     const attn_input *in, lf_plan *plan)
{
    int64_t *ks = lf_alloc((size_t)in->heads, sizeof *ks);
    if (!ks) return -1;
    for (int64_t h = 0; h < in->heads; h++) ks[h] = in->kp;
    int rc = lf_plan_init(plan, 1, (int)in->heads, in->n, ks, sharing, kind, a->seed);
    lf_free(ks);
    if (rc != 0) return -1;
    if (kind == LF_PROJ_LINEAR || (kind == LF_PROJ_CONV && in->conv)) {
        if (sharing != LF_SHARE_NONE) {
            lf_error_set("--sharing %s cannot be used with per-head given weights; use none",
                         lf_sharing_name(sharing));
            return -1;
        }
        size_t per = kind == LF_PROJ_LINEAR ? (size_t)(in->kp * in->n) : (size_t)(in->n / in->kp);
        for (int h = 0; h < in->heads; h++) {
            lf_proj *e = &plan->proj[plan->index[(size_t)h * 2 + 0]];
            lf_proj *f = &plan->proj[plan->index[(size_t)h * 2 + 1]];
            if (kind == LF_PROJ_LINEAR) {
                memcpy(e->weights, in->e + h * per, per * sizeof(float));
                memcpy(f->weights, in->f + h * per, per * sizeof(float));
            } else {
                memcpy(e->weights, in->conv + h * per, per * sizeof(float));
                memcpy(f->weights, in->conv + h * per, per * sizeof(float));
            }
        }
    }
    return 0;
}

/* Runs the chosen mode head by head; p is [H, n, n | k] or NULL. */
static int compute(const char *mode, const attn_input *in, const lf_plan *plan, float *p,
                   float *out)
{
    const int64_t n = in->n, d = in->d, dv = in->dv, kp = in->kp;
    for (int64_t h = 0; h < in->heads; h++) {
        const float *q = in->q + h * n * d, *k = in->k + h * n * d, *v = in->v + h * n * dv;
        float *o = out + h * n * dv;
        int rc;
        if (!strcmp(mode, "dense")) {
            rc = lf_attention_dense(q, k, v, in->mask, n, d, dv, p ? p + h * n * n : NULL, o);
        } else if (!strcmp(mode, "streamed")) {
            rc = lf_attention_streamed(q, k, v, in->mask, n, d, dv, o);
        } else {
            rc = lf_attention_linformer(q, k, v, in->mask, n, d, dv, lf_plan_get(plan, 0, (int)h, 0),
                                        lf_plan_get(plan, 0, (int)h, 1), kp,
                                        p ? p + h * n * kp : NULL, o);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

static int write_output(const attn_args *a, const attn_input *in, const lf_plan *plan,
                        const float *p, const float *out)
{
    const int linformer = !strcmp(a->mode, "linformer");
    lf_h5 *f = lf_h5_create(a->out, "attn", a->force);
    if (!f) return -1;
    const int64_t cols = linformer ? in->kp : in->n;
    int64_t dims_out[3] = {in->heads, in->n, in->dv};
    int64_t dims_p[3] = {in->heads, in->n, cols};
    int rc = 0;
    rc |= lf_h5_config_string(f, "input", a->in);
    rc |= lf_h5_config_string(f, "mode", a->mode);
    rc |= lf_h5_config_int(f, "heads", in->heads);
    rc |= lf_h5_config_int(f, "n", in->n);
    rc |= lf_h5_config_int(f, "d", in->d);
    rc |= lf_h5_config_int(f, "dv", in->dv);
    rc |= lf_h5_config_int(f, "masked", in->mask != NULL);
    rc |= lf_h5_config_u64(f, "seed", a->seed);
    rc |= lf_h5_config_int(f, "threads", lf_threads_get());
    if (linformer) {
        rc |= lf_h5_config_string(f, "projection", a->projection);
        rc |= lf_h5_config_string(f, "sharing", a->sharing);
        rc |= lf_h5_config_int(f, "k", in->kp);
    }
    rc |= lf_h5_scale_range(f, "/head", in->heads, 0, "attention head index");
    rc |= lf_h5_scale_range(f, "/query", in->n, 0, "query position (row of P)");
    rc |= lf_h5_scale_range(f, "/channel", in->dv, 0, "value channel");
    rc |= lf_h5_scale_range(f, linformer ? "/slot" : "/key", cols, 0,
                            linformer ? "projected key/value slot (row of E and F)"
                                      : "key position (column of P)");
    rc |= lf_h5_write(f, "/out", LF_H5_F32, 3, dims_out, out,
                      linformer ? "attention output softmax(Q (E K)^T / sqrt(d)) F V per head"
                                : "attention output softmax(Q K^T / sqrt(d)) V per head",
                      NULL);
    rc |= lf_h5_attach(f, "/out", 0, "/head");
    rc |= lf_h5_attach(f, "/out", 1, "/query");
    rc |= lf_h5_attach(f, "/out", 2, "/channel");
    if (p) {
        rc |= lf_h5_write(f, "/probabilities", LF_H5_F32, 3, dims_p, p,
                          linformer ? "context mapping Pbar = softmax(Q (E K)^T / sqrt(d)), n x k"
                                    : "context mapping P = softmax(Q K^T / sqrt(d)), n x n",
                          "probability");
        rc |= lf_h5_attach(f, "/probabilities", 0, "/head");
        rc |= lf_h5_attach(f, "/probabilities", 1, "/query");
        rc |= lf_h5_attach(f, "/probabilities", 2, linformer ? "/slot" : "/key");
    }
    if (linformer && (plan->kind == LF_PROJ_LINEAR || plan->kind == LF_PROJ_GAUSSIAN)) {
        /* Store the projections actually used, so a gaussian run can be reproduced
         * or reused elsewhere. */
        size_t per = (size_t)(in->kp * in->n);
        float *e = lf_alloc((size_t)in->heads * per, sizeof(float));
        float *fm = lf_alloc((size_t)in->heads * per, sizeof(float));
        if (!e || !fm) {
            rc = -1;
        } else {
            for (int h = 0; h < in->heads; h++) {
                const lf_proj *pe = lf_plan_get(plan, 0, h, 0), *pf = lf_plan_get(plan, 0, h, 1);
                memcpy(e + h * per, pe->weights, per * sizeof(float));
                memcpy(fm + h * per, pf->weights, per * sizeof(float));
            }
            int64_t de[3] = {in->heads, in->kp, in->n};
            rc |= lf_h5_write(f, "/e", LF_H5_F32, 3, de, e, "key projection E per head", NULL);
            rc |= lf_h5_write(f, "/f", LF_H5_F32, 3, de, fm, "value projection F per head", NULL);
        }
        lf_free(e), lf_free(fm);
    }
    if (rc != 0) {
        lf_h5_close(f, 0);
        return -1;
    }
    return lf_h5_close(f, 1);
}

int main(int argc, char **argv)
{
    attn_args a;
    parse_args(argc, argv, &a);
    lf_threads_set((int)(a.threads > 0 ? a.threads : 0));
    const int linformer = !strcmp(a.mode, "linformer");
    lf_proj_kind kind = LF_PROJ_GAUSSIAN;
    lf_sharing sharing = LF_SHARE_NONE;
    if (linformer) {
        const char *pname = strcmp(a.projection, "given") ? a.projection : "linear";
        if (lf_proj_kind_parse(pname, &kind) != 0 || !strcmp(a.projection, "linear") ||
            !strcmp(a.projection, "learned")) {
            lf_error_set("--projection: unknown projection '%s' (expected given, gaussian, mean, "
                         "max or conv)", a.projection);
            fail_usage();
        }
        if (lf_sharing_parse(a.sharing, &sharing) != 0 || sharing == LF_SHARE_LAYERWISE) {
            lf_error_set("--sharing: '%s' is not one of none, headwise, kv (one layer here)",
                         a.sharing);
            fail_usage();
        }
    } else if (a.k >= 0) {
        lf_error_set("--k applies only to --mode linformer");
        fail_usage();
    }
    /* Refuse early, before any work, when the output exists. */
    FILE *exists = a.force ? NULL : fopen(a.out, "rb");
    if (exists) {
        fclose(exists);
        lf_error_set("%s exists; pass --force to overwrite", a.out);
        fail_usage();
    }
    attn_input in;
    if (read_input(&a, kind, linformer, &in) != 0) fail_usage();
    lf_plan plan;
    memset(&plan, 0, sizeof plan);
    if (linformer && make_plan(&a, kind, sharing, &in, &plan) != 0) {
        input_free(&in);
        lf_plan_free(&plan);
        fail_usage();
    }
    const int64_t cols = linformer ? in.kp : in.n;
    int want_p = !a.no_probabilities && strcmp(a.mode, "streamed") != 0;
    float *out = lf_alloc((size_t)(in.heads * in.n * in.dv), sizeof(float));
    float *p = NULL;
    if (want_p) {
        size_t count;
        int64_t dims[3] = {in.heads, in.n, cols};
        if (lf_size_dims(3, dims, &count) == 0) p = lf_alloc(count, sizeof(float));
    }
    int rc = (!out || (want_p && !p)) ? -1 : 0;
    if (rc == 0) rc = compute(a.mode, &in, &plan, p, out);
    if (rc == 0) rc = write_output(&a, &in, &plan, p, out);
    lf_free(p);
    lf_free(out);
    lf_plan_free(&plan);
    input_free(&in);
    if (rc != 0) lf_cli_fail(prog, LF_EXIT_RUNTIME);
    return 0;
}
