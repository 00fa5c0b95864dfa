/* h5export.c - bin/h5export: prints a numeric dataset of a results file as plain text
 * columns for gnuplot (figures are drawn from text files next to their .gp script).
 *
 *   bin/h5export FILE.h5 DATASET [--index-column] [--transpose] [--fix DIM:INDEX ...]
 *                [--out FILE.dat]
 *
 * --fix DIM:INDEX (repeatable) keeps only INDEX (0-based) along dimension DIM of the
 * dataset, e.g. --fix 1:0 of a [P, S, K] array prints the [P, K] slice of the first S;
 * what remains must have rank <= 2.
 * Rank 1: one value per line. Rank 2 [rows, cols]: one row per line (gnuplot's
 * `matrix` format); --transpose prints columns as lines; --index-column prefixes each
 * line with its 1-based line number (e.g. singular-value index). Values are printed
 * with 17 significant digits so nothing is lost on the way to the figure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "version.h"

static const char *prog = "h5export";

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"index-column", no_argument, 0, 'i'},
                                         {"transpose", no_argument, 0, 't'},
                                         {"out", required_argument, 0, 'o'},
                                         {"fix", required_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int index_column = 0, transpose = 0, c, nfix = 0;
    int64_t fix_dim[LF_H5_MAX_RANK], fix_at[LF_H5_MAX_RANK];
    const char *out_path = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_column = 1; break;
        case 't': transpose = 1; break;
        case 'o': out_path = optarg; break;
        case 'f': {
            long long dd, ii;
            char tail;
            if (nfix >= LF_H5_MAX_RANK || sscanf(optarg, "%lld:%lld%c", &dd, &ii, &tail) != 2 || dd < 0 ||
                dd >= LF_H5_MAX_RANK || ii < 0) {
                lf_error_set("--fix: '%s': expected DIM:INDEX (0-based), at most %d times", optarg,
                             LF_H5_MAX_RANK);
                lf_cli_fail(prog, LF_EXIT_USAGE);
            }
            for (int j = 0; j < nfix; j++)
                if (fix_dim[j] == dd) {
                    lf_error_set("--fix: dimension %lld fixed twice", dd);
                    lf_cli_fail(prog, LF_EXIT_USAGE);
                }
            fix_dim[nfix] = dd, fix_at[nfix++] = ii;
            break;
        }
        case 'h':
            printf("usage: h5export FILE.h5 DATASET [--index-column] [--transpose] [--fix DIM:INDEX] "
                   "[--out FILE]\n");
            return 0;
        case 'V': printf("h5export (linformer suite) %s\n", LF_VERSION); return 0;
        default:
            lf_error_set("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
            lf_cli_fail(prog, LF_EXIT_USAGE);
        }
    }
    if (argc - optind != 2) {
        lf_error_set("expected FILE.h5 and DATASET (see --help)");
        lf_cli_fail(prog, LF_EXIT_USAGE);
    }
    const char *path = argv[optind], *name = argv[optind + 1];
    lf_h5 *f = lf_h5_open(path);
    if (!f) lf_cli_fail(prog, LF_EXIT_USAGE);
    int rank;
    int64_t dims[LF_H5_MAX_RANK];
    double *x = NULL;
    if (lf_h5_read_f64(f, name, nfix ? LF_H5_MAX_RANK : 2, &rank, dims, &x) != 0) {
        lf_h5_close(f, 0);
        lf_cli_fail(prog, LF_EXIT_USAGE);
    }
    lf_h5_close(f, 0);
    if (nfix > 0) {
        /* Keep the fixed indices: copy the remaining sub-array in row-major order. */
        int keep[LF_H5_MAX_RANK], fixed[LF_H5_MAX_RANK] = {0}, nkeep = 0;
        int64_t at[LF_H5_MAX_RANK] = {0}, ndims[LF_H5_MAX_RANK];
        for (int j = 0; j < nfix; j++) {
            if (fix_dim[j] >= rank || fix_at[j] >= dims[fix_dim[j]]) {
                lf_error_set("%s: %s: --fix %lld:%lld is outside its shape (rank %d)", path, name,
                             (long long)fix_dim[j], (long long)fix_at[j], rank);
                lf_free(x);
                lf_cli_fail(prog, LF_EXIT_USAGE);
            }
            fixed[fix_dim[j]] = 1, at[fix_dim[j]] = fix_at[j];
        }
        for (int d = 0; d < rank; d++)
            if (!fixed[d]) ndims[nkeep] = dims[d], keep[nkeep++] = d;
        if (nkeep > 2) {
            lf_error_set("%s: %s has rank %d; with %d dimensions fixed, %d remain (at most 2)", path,
                         name, rank, nfix, nkeep);
            lf_free(x);
            lf_cli_fail(prog, LF_EXIT_USAGE);
        }
        int64_t count = 1;
        for (int j = 0; j < nkeep; j++) count *= ndims[j];
        double *y = lf_alloc((size_t)count, sizeof(double));
        if (!y) lf_cli_fail(prog, LF_EXIT_RUNTIME);
        for (int64_t i = 0; i < count; i++) {
            int64_t r = i;
            for (int j = nkeep - 1; j >= 0; j--) at[keep[j]] = r % ndims[j], r /= ndims[j];
            int64_t off = 0;
            for (int d = 0; d < rank; d++) off = off * dims[d] + at[d];
            y[i] = x[off];
        }
        lf_free(x);
        x = y;
        rank = nkeep;
        for (int j = 0; j < nkeep; j++) dims[j] = ndims[j];
    }
    int64_t rows = rank == 0 ? 1 : dims[0], cols = rank == 2 ? dims[1] : 1;
    int64_t lines = transpose ? cols : rows, per = transpose ? rows : cols;
    /* Write to a temporary name and rename, like every results file. */
    char tmp[4096];
    FILE *out = stdout;
    if (out_path) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        out = fopen(tmp, "w");
        if (!out) {
            lf_error_set("%s: cannot write", tmp);
            lf_free(x);
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        }
    }
    for (int64_t i = 0; i < lines; i++) {
        if (index_column) fprintf(out, "%lld", (long long)(i + 1));
        for (int64_t j = 0; j < per; j++) {
            double v = transpose ? x[j * cols + i] : x[i * cols + j];
            fprintf(out, "%s%.17g", (index_column || j) ? " " : "", v);
        }
        fputc('\n', out);
    }
    lf_free(x);
    if (out_path) {
        if (fclose(out) != 0 || rename(tmp, out_path) != 0) {
            remove(tmp);
            lf_error_set("%s: cannot write", out_path);
            lf_cli_fail(prog, LF_EXIT_RUNTIME);
        }
    }
    return 0;
}
