/* h5export.c - bin/h5export: prints a numeric dataset of a results file as plain text
 * columns for gnuplot (figures are drawn from text files next to their .gp script).
 *
 *   bin/h5export FILE.h5 DATASET [--index-column] [--transpose] [--slice I] [--out FILE.dat]
 *
 * Rank 1: one value per line. Rank 2 [rows, cols]: one row per line (gnuplot's
 * `matrix` format); --transpose prints columns as lines; --index-column prefixes each
 * line with its 1-based line number (e.g. singular-value index). Rank 3 needs
 * --slice I and prints [I, :, :] as rank 2 (e.g. one variant of bin/bench's
 * [variant, n, k] grids). Values are printed
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
                                         {"slice", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int index_column = 0, transpose = 0, c;
    int64_t slice = -1;
    const char *out_path = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_column = 1; break;
        case 't': transpose = 1; break;
        case 'o': out_path = optarg; break;
        case 's':
            if (lf_parse_i64("--slice", optarg, 0, INT32_MAX, &slice) != 0)
                lf_cli_fail(prog, LF_EXIT_USAGE);
            break;
        case 'h':
            printf("usage: h5export FILE.h5 DATASET [--index-column] [--transpose] [--slice I] "
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
    if (lf_h5_read_f64(f, name, 3, &rank, dims, &x) != 0) {
        lf_h5_close(f, 0);
        lf_cli_fail(prog, LF_EXIT_USAGE);
    }
    lf_h5_close(f, 0);
    double *data = x;
    if (rank == 3 || slice >= 0) {
        if (rank != 3 || slice >= dims[0]) {
            if (rank != 3)
                lf_error_set("%s: --slice needs a rank-3 dataset; %s has rank %d", path, name, rank);
            else
                lf_error_set("%s: --slice %lld: %s has %lld slices", path, (long long)slice, name,
                             (long long)dims[0]);
            lf_free(x);
            lf_cli_fail(prog, LF_EXIT_USAGE);
        }
        if (slice < 0) {
            lf_error_set("%s: %s has rank 3: choose a slice with --slice I", path, name);
            lf_free(x);
            lf_cli_fail(prog, LF_EXIT_USAGE);
        }
        data = x + slice * dims[1] * dims[2];
        rank = 2;
        dims[0] = dims[1];
        dims[1] = dims[2];
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
            double v = transpose ? data[j * cols + i] : data[i * cols + j];
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
