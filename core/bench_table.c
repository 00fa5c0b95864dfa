/* bench_table.c - the efficiency table of bin/bench (see bench_table.h): the grid of
 * points measured variant by variant (core/effbench.c measures one), the HDF5
 * datasets, and the markdown tables laid out like the paper's Table 3. */
#include "bench_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "effbench.h"
#include "error.h"
#include "mem.h"
#include "parallel.h"
#include "progress.h"
#include "version.h"

#define NV LF_BENCH_NVARIANTS
#define GIB 1073741824.0
#define MIB 1048576.0

/* Results of the whole grid, [variant][n][k] row-major. */
typedef struct {
    int nn, nk;
    lf_bench_point *pt; /* NV * nn * nk */
    double sgemm;       /* GFLOP/s */
    double load[2][3];  /* load averages before and after the points (NaN if unknown) */
} bench_results;

static lf_bench_point *at(const bench_results *r, int v, int i, int j)
{
    return &r->pt[((size_t)v * (size_t)r->nn + (size_t)i) * (size_t)r->nk + (size_t)j];
}

/* A point no measurement exists for. */
static void mark_skipped(lf_bench_point *p, const char *reason)
{
    memset(p, 0, sizeof *p);
    p->skipped = 1;
    snprintf(p->reason, sizeof p->reason, "%s", reason);
}

static void print_point(const lf_bench_point *p, int v, int64_t n, int64_t k)
{
    char k_text[32] = "";
    if (v == LF_BENCH_LINFORMER) snprintf(k_text, sizeof k_text, " k=%lld", (long long)k);
    if (p->skipped)
        fprintf(stderr, "bench: %s n=%lld%s: skipped: %s\n", lf_bench_variant_name(v),
                (long long)n, k_text, p->reason);
    else
        fprintf(stderr,
                "bench: %s n=%lld%s: %.3f us/token (fastest %.3f), %.1f MiB/sequence, batch %lld "
                "(max %lld), attention %.1f GFLOP/s\n",
                lf_bench_variant_name(v), (long long)n, k_text, p->time_per_token * 1e6,
                p->time_best_per_token * 1e6, p->seq_bytes / MIB, (long long)p->batch,
                (long long)p->max_batch, p->attn_gflops);
}

/* Points of one n held between prepare and finish. */
typedef struct {
    lf_bench_state *st;
    lf_bench_point *p;
    int v;
    int64_t k;
} held_point;

/* Times the held points with their forwards interleaved (round robin), then
 * finishes them; *count becomes 0. */
static int flush(held_point *h, int *count, int repeats, int64_t n, lf_progress *line,
                 int64_t *done)
{
    int rc = 0;
    for (int rep = 0; rep < repeats && rc == 0; rep++)
        for (int i = 0; i < *count && rc == 0; i++) rc = lf_bench_point_time(h[i].st);
    for (int i = 0; i < *count; i++) {
        if (rc != 0) {
            lf_bench_point_abort(h[i].st);
            continue;
        }
        rc = lf_bench_point_finish(h[i].st, h[i].p);
        if (rc == 0) print_point(h[i].p, h[i].v, n, h[i].k);
        lf_progress_update(line, ++*done);
    }
    *count = 0;
    return rc;
}

/* Every n in turn. The points of one n are prepared one after the other (memory,
 * batch, warm-up; streamed, then Linformer by k, then dense, the largest last) and
 * kept set up while the others of that n prepare, as long as what they hold stays
 * under a quarter of the budget; then their timed forwards are interleaved, so that
 * a drifting load on a shared machine affects every variant alike. Past that quarter
 * the held points are timed and released first. The CUDA device measures each
 * point on its own (lf_bench_run_point_cuda). */
static int measure(const lf_bench_table_opts *a, const lf_model *model, bench_results *r)
{
    lf_progress prog_line;
    int64_t total = 0, done = 0;
    for (int i = 0; i < a->nn; i++) {
        total += 2;
        for (int j = 0; j < a->nk; j++) total += a->ks[j] < a->ns[i];
    }
    const size_t base = lf_mem_current();
    const int cuda = !strcmp(a->device, "cuda");
    held_point *held = lf_alloc((size_t)a->nk + 2, sizeof *held);
    if (!held) return -1;
    int nheld = 0, rc = 0;
    lf_progress_start(&prog_line, "points", total, 0);
    for (int i = 0; i < a->nn && rc == 0; i++) {
        const int64_t n = a->ns[i];
        /* Order: streamed, Linformer for each k, dense. */
        const int order_v[] = {LF_BENCH_STREAMED, LF_BENCH_LINFORMER, LF_BENCH_DENSE};
        for (int o = 0; o < 3 && rc == 0; o++) {
            const int v = order_v[o];
            for (int j = 0; j < (v == LF_BENCH_LINFORMER ? a->nk : 1) && rc == 0; j++) {
                lf_bench_point *p = at(r, v, i, j);
                if (v == LF_BENCH_LINFORMER && a->ks[j] >= n) {
                    mark_skipped(p, "k >= n: no compression (the paper's '-')");
                    continue;
                }
                lf_bench_point_cfg cfg = {.model = model,
                                          .variant = (lf_bench_variant)v,
                                          .n = n,
                                          .k = a->ks[j],
                                          .budget = a->budget,
                                          .batch_tokens = a->batch_tokens,
                                          .verify_tokens = a->verify_tokens,
                                          .repeats = (int)a->repeats,
                                          .seed = a->seed,
                                          .base_bytes = base};
                if (cuda) {
                    rc = lf_bench_run_point_cuda(&cfg, p);
                    if (rc == 0) print_point(p, v, n, a->ks[j]);
                    lf_progress_update(&prog_line, ++done);
                    continue;
                }
                if (nheld > 0 && lf_mem_current() - base > a->budget / 4)
                    rc = flush(held, &nheld, (int)a->repeats, n, &prog_line, &done);
                if (rc != 0) break;
                lf_bench_state *st = NULL;
                rc = lf_bench_point_prepare(&cfg, p, &st);
                if (rc != 0) break;
                if (!st) { /* skipped */
                    print_point(p, v, n, a->ks[j]);
                    lf_progress_update(&prog_line, ++done);
                    continue;
                }
                held[nheld++] = (held_point){st, p, v, a->ks[j]};
            }
        }
        if (rc == 0 && nheld > 0) rc = flush(held, &nheld, (int)a->repeats, n, &prog_line, &done);
        /* k-independent: dense and streamed measured once per n. */
        for (int j = 1; j < a->nk; j++) {
            *at(r, LF_BENCH_DENSE, i, j) = *at(r, LF_BENCH_DENSE, i, 0);
            *at(r, LF_BENCH_STREAMED, i, j) = *at(r, LF_BENCH_STREAMED, i, 0);
        }
    }
    for (int i = 0; i < nheld; i++) lf_bench_point_abort(held[i].st);
    lf_free(held);
    lf_progress_finish(&prog_line);
    return rc;
}

static void get_load(double out[3])
{
    if (getloadavg(out, 3) != 3) out[0] = out[1] = out[2] = NAN;
}

/* ---- derived tables -------------------------------------------------------- */

static double time_of(const bench_results *r, int v, int i, int j)
{
    const lf_bench_point *p = at(r, v, i, j);
    return p->skipped ? NAN : p->time_per_token;
}

static double time_best_of(const bench_results *r, int v, int i, int j)
{
    const lf_bench_point *p = at(r, v, i, j);
    return p->skipped ? NAN : p->time_best_per_token;
}

static double mem_of(const bench_results *r, int v, int i, int j)
{
    const lf_bench_point *p = at(r, v, i, j);
    return p->skipped ? NAN : (double)p->seq_bytes;
}

/* base / linformer; NaN when either is missing. */
static double ratio(double base, double lin) { return isnan(base) || isnan(lin) ? NAN : base / lin; }

/* ---- HDF5 -------------------------------------------------------------------- */

static int write_grid(lf_h5 *f, const char *name, const bench_results *r, int rank3,
                      const double *v, const char *description, const char *units)
{
    char path[96];
    snprintf(path, sizeof path, "/bench/%s", name);
    int64_t dims3[3] = {NV, r->nn, r->nk}, dims2[2] = {r->nn, r->nk};
    LF_TRY(lf_h5_write(f, path, LF_H5_F64, rank3 ? 3 : 2, rank3 ? dims3 : dims2, v, description,
                       units));
    int d = 0;
    if (rank3) LF_TRY(lf_h5_attach(f, path, d++, "/bench/variant"));
    LF_TRY(lf_h5_attach(f, path, d++, "/bench/n"));
    LF_TRY(lf_h5_attach(f, path, d, "/bench/k"));
    if (rank3) {
        LF_TRY(lf_h5_attr_string(f, path, "variants", "dense,streamed,linformer"));
        LF_TRY(lf_h5_attr_string(f, path, "k_independent",
                                 "dense and streamed do not depend on k: measured once per n, "
                                 "the same value stored for every k"));
    }
    LF_TRY(lf_h5_attr_string(f, path, "skipped", "NaN where a point was not measured; the "
                                                 "reason is in /bench/skip_reason"));
    return 0;
}

typedef double (*point_value)(const lf_bench_point *p);
static double pv_time(const lf_bench_point *p) { return p->time_per_token; }
static double pv_time_best(const lf_bench_point *p) { return p->time_best_per_token; }
static double pv_mem(const lf_bench_point *p) { return (double)p->seq_bytes; }
static double pv_attn_time(const lf_bench_point *p) { return p->attn_time_per_token; }
static double pv_attn_gflops(const lf_bench_point *p) { return p->attn_gflops; }
static double pv_fixed(const lf_bench_point *p) { return (double)p->fixed_bytes; }
static double pv_peak(const lf_bench_point *p) { return (double)p->peak_bytes; }
static double pv_rss(const lf_bench_point *p) { return (double)p->rss_peak_bytes; }
static double pv_max_batch(const lf_bench_point *p) { return (double)p->max_batch; }
static double pv_batch(const lf_bench_point *p) { return (double)p->batch; }
static double pv_verified(const lf_bench_point *p) { return p->verified; }
static double pv_forward(const lf_bench_point *p) { return p->forward_seconds; }
static double pv_budget(const lf_bench_point *p) { return (double)p->budget_bytes; }
static double pv_device(const lf_bench_point *p) { return (double)p->device_bytes; }

static void fill_grid(const bench_results *r, point_value fn, double scale, double *out)
{
    for (int v = 0; v < NV; v++)
        for (int i = 0; i < r->nn; i++)
            for (int j = 0; j < r->nk; j++) {
                const lf_bench_point *p = at(r, v, i, j);
                out[((size_t)v * r->nn + i) * r->nk + j] = p->skipped ? NAN : fn(p) * scale;
            }
}

static int write_config(lf_h5 *f, const lf_bench_table_opts *a, const lf_model_config *c)
{
    char list[1024];
    int rc = 0, len = 0;
    rc |= lf_h5_config_string(f, "device", a->device);
    if (!strcmp(a->device, "cuda")) {
        rc |= lf_h5_config_string(f, "cuda_device", lf_bench_cuda_device_name());
        rc |= lf_h5_config_string(f, "cuda_math", "fp32");
    }
    for (int i = 0; i < a->nn && len < (int)sizeof list - 24; i++)
        len += snprintf(list + len, sizeof list - (size_t)len, "%s%lld", i ? "," : "",
                        (long long)a->ns[i]);
    rc |= lf_h5_config_string(f, "n", list);
    len = 0;
    for (int i = 0; i < a->nk && len < (int)sizeof list - 24; i++)
        len += snprintf(list + len, sizeof list - (size_t)len, "%s%lld", i ? "," : "",
                        (long long)a->ks[i]);
    rc |= lf_h5_config_string(f, "k", list);
    rc |= lf_h5_config_int(f, "layers", c->num_hidden_layers);
    rc |= lf_h5_config_int(f, "heads", c->num_attention_heads);
    rc |= lf_h5_config_int(f, "dim", c->hidden_size);
    rc |= lf_h5_config_int(f, "intermediate", c->intermediate_size);
    rc |= lf_h5_config_int(f, "vocab", c->vocab_size);
    rc |= lf_h5_config_string(f, "model", "BERT, random weights N(0, 0.02^2) (lf_model_random)");
    rc |= lf_h5_config_string(f, "sharing", "layerwise");
    rc |= lf_h5_config_string(f, "projection", "linear");
    rc |= lf_h5_config_int(f, "memory_budget", (int64_t)a->budget);
    rc |= lf_h5_config_int(f, "repeats", a->repeats);
    rc |= lf_h5_config_int(f, "batch_tokens", a->batch_tokens);
    rc |= lf_h5_config_int(f, "verify_tokens", a->verify_tokens);
    rc |= lf_h5_config_int(f, "quick", a->quick);
    rc |= lf_h5_config_u64(f, "seed", a->seed);
    rc |= lf_h5_config_int(f, "threads", lf_threads_get());
    return rc ? -1 : 0;
}

static int write_h5(lf_h5 *f, const lf_bench_table_opts *a, const lf_model_config *c,
                    const bench_results *r)
{
    LF_TRY(write_config(f, a, c));
    const char *names[NV];
    for (int v = 0; v < NV; v++) names[v] = lf_bench_variant_name((lf_bench_variant)v);
    LF_TRY(lf_h5_scale_strings(f, "/bench/variant", NV, names, "attention variant"));
    LF_TRY(lf_h5_scale(f, "/bench/n", LF_H5_I64, r->nn, a->ns, "sequence length", "tokens"));
    LF_TRY(lf_h5_scale(f, "/bench/k", LF_H5_I64, r->nk, a->ks,
                       "Linformer projected length (dense and streamed do not depend on it)",
                       NULL));
    const size_t cells = (size_t)NV * r->nn * r->nk, cells2 = (size_t)r->nn * r->nk;
    double *g = lf_alloc(cells, sizeof *g);
    double *g2 = lf_alloc(cells2, 5 * sizeof *g2);
    const char **reasons = lf_alloc(cells, sizeof *reasons);
    int rc = -1;
    if (!g || !g2 || !reasons) goto done;
    static const struct {
        const char *name;
        point_value fn;
        const char *description, *units;
    } grids[] = {
        {"time", pv_time, "time per token of full encoder inference: median forward time / "
                          "(batch n)", "s"},
        {"time_best", pv_time_best, "time per token from the fastest of the timed forwards "
                                    "(other load on the machine only ever adds time)", "s"},
        {"memory", pv_mem, "memory per sequence: allocator (lf_alloc; on the CUDA device "
                           "lf_cuda_alloc) high-water mark of a batch-1 forward "
                           "above the fixed memory (workspace, P, tokens, scratch)", "bytes"},
        {"attention_time", pv_attn_time, "time per token spent in attention (all layers, "
                                         "Linformer projections included)", "s"},
        {"attention_gflops", pv_attn_gflops, "attention rate: attention flops (multiply-add = "
                                             "2, softmax not counted) / attention time", "GFLOP/s"},
        {"forward_time", pv_forward, "median time of one forward of the timed batch", "s"},
        {"fixed_memory", pv_fixed, "allocator bytes in use before the first forward (weights, "
                                   "projection)", "bytes"},
        {"peak_memory", pv_peak, "allocator high-water mark during the timed forwards, fixed "
                                 "memory included", "bytes"},
        {"rss_peak", pv_rss, "peak resident set size of the process during the point (VmHWM, "
                             "reset per point; for reference: includes BLAS and runtime buffers)",
         "bytes"},
        {"budget", pv_budget, "memory budget the point was held to (on the CUDA device at most "
                              "its free memory less a 256 MiB reserve)", "bytes"},
        {"device_memory", pv_device, "CUDA: device memory in use after the warm-up forward at the "
                                     "timed batch beyond what was in use before the point "
                                     "(cudaMemGetInfo: also cuBLAS's workspace and allocation "
                                     "granularity); 0 on the CPU", "bytes"},
        {"max_batch", pv_max_batch, "largest batch that fits the memory budget: floor((budget - "
                                    "fixed) / memory per sequence)", NULL},
        {"batch", pv_batch, "batch of the timed forwards: min(max_batch, max(1, batch_tokens / "
                            "n))", NULL},
        {"max_batch_verified", pv_verified, "1 when a forward at max_batch ran within the budget, "
                                            "0 when not tried (too expensive)", NULL},
    };
    for (size_t i = 0; i < sizeof grids / sizeof grids[0]; i++) {
        fill_grid(r, grids[i].fn, 1.0, g);
        if (write_grid(f, grids[i].name, r, 1, g, grids[i].description, grids[i].units) != 0)
            goto done;
    }
    double *sp = g2, *ms = g2 + cells2, *sps = g2 + 2 * cells2, *mss = g2 + 3 * cells2,
           *spb = g2 + 4 * cells2;
    for (int i = 0; i < r->nn; i++)
        for (int j = 0; j < r->nk; j++) {
            size_t c2 = (size_t)i * r->nk + j;
            double tl = time_of(r, LF_BENCH_LINFORMER, i, j), ml = mem_of(r, LF_BENCH_LINFORMER, i, j);
            sp[c2] = ratio(time_of(r, LF_BENCH_DENSE, i, j), tl);
            spb[c2] = ratio(time_best_of(r, LF_BENCH_DENSE, i, j),
                            time_best_of(r, LF_BENCH_LINFORMER, i, j));
            ms[c2] = ratio(mem_of(r, LF_BENCH_DENSE, i, j), ml);
            sps[c2] = ratio(time_of(r, LF_BENCH_STREAMED, i, j), tl);
            mss[c2] = ratio(mem_of(r, LF_BENCH_STREAMED, i, j), ml);
        }
    if (write_grid(f, "speedup", r, 0, sp,
                   "time speed-up of Linformer over dense attention: time[dense] / time[linformer]",
                   NULL) ||
        write_grid(f, "memory_saving", r, 0, ms,
                   "memory saved by Linformer against dense attention: memory[dense] / "
                   "memory[linformer] (per sequence)",
                   NULL) ||
        write_grid(f, "speedup_best", r, 0, spb,
                   "time_best[dense] / time_best[linformer]", NULL) ||
        write_grid(f, "speedup_vs_streamed", r, 0, sps,
                   "time[streamed] / time[linformer]", NULL) ||
        write_grid(f, "memory_saving_vs_streamed", r, 0, mss,
                   "memory[streamed] / memory[linformer] (per sequence)", NULL))
        goto done;
    for (size_t i = 0; i < cells; i++) reasons[i] = r->pt[i].skipped ? r->pt[i].reason : "";
    int64_t dims3[3] = {NV, r->nn, r->nk};
    if (lf_h5_write_strings_nd(f, "/bench/skip_reason", 3, dims3, reasons,
                               "why a point was not measured (empty when it was)") ||
        lf_h5_attach(f, "/bench/skip_reason", 0, "/bench/variant") ||
        lf_h5_attach(f, "/bench/skip_reason", 1, "/bench/n") ||
        lf_h5_attach(f, "/bench/skip_reason", 2, "/bench/k"))
        goto done;
    if (lf_h5_write(f, "/bench/sgemm_gflops", LF_H5_F64, 0, NULL, &r->sgemm,
                    strcmp(a->device, "cuda")
                        ? "multi-threaded OpenBLAS sgemm rate, 2048^3, best of repeats, measured in "
                          "this run after the points"
                        : "cuBLAS sgemm rate (lf_sgemm_cuda, FP32 math), 4096^3, best of repeats, "
                          "measured in this run after the points",
                    "GFLOP/s"))
        goto done;
    fill_grid(r, pv_attn_gflops, 1.0 / r->sgemm, g);
    if (write_grid(f, "attention_sgemm_share", r, 1, g,
                   "attention rate as a fraction of /bench/sgemm_gflops", NULL))
        goto done;
    for (int i = 0; i < 2; i++) {
        double la[3];
        memcpy(la, r->load[i], sizeof la);
        if (lf_h5_write(f, i ? "/bench/load_average_after" : "/bench/load_average_before",
                        LF_H5_F64, 1, (int64_t[]){3}, la,
                        i ? "system load average (1, 5, 15 minutes) when the points were done"
                          : "system load average (1, 5, 15 minutes) before the first point; "
                            "above the thread count, other work shared the cores",
                        NULL))
            goto done;
    }
    rc = 0;
done:
    lf_free(g), lf_free(g2), lf_free(reasons);
    return rc;
}

/* ---- markdown ---------------------------------------------------------------- */

/* The paper's Table 3 (16 GB V100): rows n = 512 ... 65536, columns k = 128 ... 2048;
 * 0 = "-" (k >= n). */
static const int64_t paper_n[8] = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
static const int64_t paper_k[5] = {128, 256, 512, 1024, 2048};
static const double paper_time[8][5] = {
    {1.5, 1.3, 0, 0, 0},     {1.7, 1.6, 1.3, 0, 0},   {2.6, 2.4, 2.1, 1.3, 0},
    {3.4, 3.2, 2.8, 2.2, 1.3}, {5.5, 5.0, 4.4, 3.5, 2.1}, {8.6, 7.8, 7.0, 5.6, 3.3},
    {13, 12, 11, 8.8, 5.0},  {20, 18, 16, 14, 7.9}};
static const double paper_mem[8][5] = {
    {1.7, 1.5, 0, 0, 0},    {3.0, 2.9, 1.8, 0, 0},  {6.1, 5.6, 3.6, 2.0, 0},
    {14, 13, 8.3, 4.3, 2.3}, {28, 26, 17, 8.5, 4.5}, {56, 48, 32, 16, 8},
    {56, 48, 36, 18, 16},   {60, 52, 40, 20, 18}};

static double paper_value(const double table[8][5], int64_t n, int64_t k)
{
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 5; j++)
            if (paper_n[i] == n && paper_k[j] == k) return table[i][j];
    return NAN;
}

/* memory: 0 time (median), 1 memory, 2 time (best of repeats). */
static void md_ratio_table(FILE *o, const lf_bench_table_opts *a, const bench_results *r, int base_v,
                           int memory, const double paper[8][5])
{
    fprintf(o, "| n \\ k |");
    for (int j = 0; j < a->nk; j++) fprintf(o, " %lld |", (long long)a->ks[j]);
    fprintf(o, "\n|---|");
    for (int j = 0; j < a->nk; j++) fprintf(o, "---|");
    fprintf(o, "\n");
    for (int i = 0; i < a->nn; i++) {
        fprintf(o, "| %lld |", (long long)a->ns[i]);
        for (int j = 0; j < a->nk; j++) {
            if (a->ks[j] >= a->ns[i]) {
                fprintf(o, " - |");
                continue;
            }
            double (*get)(const bench_results *, int, int, int) =
                memory == 1 ? mem_of : memory == 2 ? time_best_of : time_of;
            double lin = get(r, LF_BENCH_LINFORMER, i, j), base = get(r, base_v, i, j);
            double x = ratio(base, lin);
            double p = paper ? paper_value(paper, a->ns[i], a->ks[j]) : NAN;
            if (isnan(x))
                fprintf(o, " skipped");
            else
                fprintf(o, x < 100 ? " %.1f×" : " %.0f×", x);
            if (!isnan(p) && p > 0) fprintf(o, " (%g)", p);
            fprintf(o, " |");
        }
        fprintf(o, "\n");
    }
}

static void write_md(FILE *o, const lf_bench_table_opts *a, const lf_model_config *c,
                     const bench_results *r)
{
    fprintf(o, "# Efficiency of full encoder inference (Table 3 of the Linformer paper)\n\n");
    fprintf(o,
            "bin/bench %s, device %s%s%s, threads %d: BERT with %d layer(s), %d heads, d = %d "
            "(random weights), random tokens; Linformer with layerwise sharing (one k x n projection); "
            "memory budget %.2f GiB; time = median of %lld forwards after a warm-up; seed %llu. "
            "Load average before / after: %.1f / %.1f. Results: %s.\n\n",
            LF_VERSION, a->device, strcmp(a->device, "cuda") ? "" : " ",
            strcmp(a->device, "cuda") ? "" : lf_bench_cuda_device_name(), lf_threads_get(), c->num_hidden_layers, c->num_attention_heads,
            c->hidden_size, a->budget / GIB, (long long)a->repeats, (unsigned long long)a->seed,
            r->load[0][0], r->load[1][0], a->out);
    fprintf(o, "## Time speed-up, dense / Linformer: measured (paper, 16 GB V100)\n\n");
    md_ratio_table(o, a, r, LF_BENCH_DENSE, 0, paper_time);
    fprintf(o, "\nFrom the fastest forward of each point instead of the median (other load on "
               "the machine only ever adds time):\n\n");
    md_ratio_table(o, a, r, LF_BENCH_DENSE, 2, paper_time);
    fprintf(o, "\n## Memory saved, dense / Linformer, per sequence: measured (paper)\n\n");
    md_ratio_table(o, a, r, LF_BENCH_DENSE, 1, paper_mem);
    fprintf(o, "\n## Against streamed exact attention (no P): time streamed / Linformer\n\n");
    md_ratio_table(o, a, r, LF_BENCH_STREAMED, 0, NULL);
    fprintf(o, "\n## Against streamed exact attention: memory streamed / Linformer\n\n");
    md_ratio_table(o, a, r, LF_BENCH_STREAMED, 1, NULL);
    fprintf(o, "\n## Every point\n\n");
    fprintf(o, "| variant | n | k | time per token (µs), median | fastest | memory per sequence "
               "(MiB) | largest batch | timed batch | attention GFLOP/s | share of sgemm |\n");
    fprintf(o, "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < a->nn; i++)
        for (int v = 0; v < NV; v++)
            for (int j = 0; j < (v == LF_BENCH_LINFORMER ? a->nk : 1); j++) {
                const lf_bench_point *p = at(r, v, i, j);
                if (v == LF_BENCH_LINFORMER && a->ks[j] >= a->ns[i]) continue;
                char kt[24] = "any";
                if (v == LF_BENCH_LINFORMER) snprintf(kt, sizeof kt, "%lld", (long long)a->ks[j]);
                fprintf(o, "| %s | %lld | %s |", lf_bench_variant_name(v), (long long)a->ns[i], kt);
                if (p->skipped) {
                    fprintf(o, " skipped: %s | | | | | | |\n", p->reason);
                    continue;
                }
                fprintf(o, " %.3f | %.3f | %.1f | %lld%s | %lld | %.1f | %.0f %% |\n",
                        p->time_per_token * 1e6, p->time_best_per_token * 1e6, p->seq_bytes / MIB, (long long)p->max_batch,
                        p->verified ? "" : " (not run)", (long long)p->batch, p->attn_gflops,
                        100.0 * p->attn_gflops / r->sgemm);
            }
    if (strcmp(a->device, "cuda"))
        fprintf(o, "\nsgemm rate measured in this run (2048³, threads %d): %.1f GFLOP/s.\n",
                lf_threads_get(), r->sgemm);
    else
        fprintf(o, "\ncuBLAS sgemm rate measured in this run (4096³, FP32): %.1f GFLOP/s.\n",
                r->sgemm);
    int any = 0;
    for (int i = 0; i < a->nn; i++)
        for (int j = 0; j < a->nk; j++) {
            const lf_bench_point *p = at(r, LF_BENCH_LINFORMER, i, j);
            if (a->ns[i] < 4096 || p->skipped) continue;
            if (!any) fprintf(o, "Linformer attention as a share of it, n >= 4096:");
            fprintf(o, "%s n=%lld k=%lld: %.0f %%", any ? ";" : "", (long long)a->ns[i],
                    (long long)a->ks[j], 100.0 * p->attn_gflops / r->sgemm);
            any = 1;
        }
    if (any) fprintf(o, " (target: at least 60 %%).\n");
}

/* Writes the markdown to PATH (through a temporary name) and prints it. */
static int write_md_file(const lf_bench_table_opts *a, const lf_model_config *c, const bench_results *r)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->md, (long)getpid());
    FILE *o = fopen(tmp, "w");
    if (!o) LF_FAIL("%s: cannot write", tmp);
    write_md(o, a, c, r);
    if (fclose(o) != 0 || rename(tmp, a->md) != 0) {
        remove(tmp);
        LF_FAIL("%s: cannot write", a->md);
    }
    write_md(stdout, a, c, r);
    return 0;
}


/* ---- the whole table ------------------------------------------------------------ */

int lf_bench_table(const lf_bench_table_opts *a, const lf_model_config *cfg, lf_h5 *f)
{
    if (!a || !cfg || !f) {
        if (f) lf_h5_close(f, 0);
        LF_FAIL("bench table: NULL options, configuration or file");
    }
    fprintf(stderr, "bench: %d threads, BERT %d x %d x %d, budget %.2f GiB, %d n x %d k\n",
            lf_threads_get(), cfg->num_hidden_layers, cfg->num_attention_heads, cfg->hidden_size,
            a->budget / GIB, a->nn, a->nk);
    lf_model *model = lf_model_random(cfg, a->seed);
    bench_results r = {.nn = a->nn, .nk = a->nk};
    r.pt = lf_calloc((size_t)NV * a->nn * a->nk, sizeof *r.pt);
    int rc = model && r.pt ? 0 : -1;
    get_load(r.load[0]);
    if (rc == 0) rc = measure(a, model, &r);
    get_load(r.load[1]);
    lf_model_free(model);
    model = NULL;
    /* The ceiling last: OpenBLAS's threads spin for a while after a threaded call. */
    if (rc == 0)
        rc = strcmp(a->device, "cuda") ? lf_bench_sgemm_rate(2048, 1.0, &r.sgemm)
                                       : lf_bench_sgemm_rate_cuda(4096, 1.0, &r.sgemm);
    if (rc == 0) rc = write_h5(f, a, cfg, &r);
    int md_written = 0;
    if (rc == 0) rc = write_md_file(a, cfg, &r);
    if (rc == 0) md_written = 1;
    lf_free(r.pt);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lf_error_get());
        lf_h5_close(f, 0);
        lf_error_set("%s", msg);
        return -1;
    }
    if (lf_h5_close(f, 1) != 0) {
        if (md_written) remove(a->md);
        return -1;
    }
    return 0;
}
