/* test_sweep.c - the points of a pretraining sweep and its index (core/sweep.c): the
 * fixed order and names of the product of the lists, an unknown projection refused,
 * and DIR/index.tsv: states read from the points' files, rows of other points kept
 * (and refreshed) across writes, the running point marked, no temporary file left.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "error.h"
#include "mem.h"
#include "sweep.h"

/* The current error message must contain `part`. */
#define CHECK_ERR(part)                                                                            \
    CHECK_MSG(strstr(lf_error_get(), part) != NULL, "error '%s' lacks '%s'", lf_error_get(), part)

static const int64_t seq[2] = {64, 128}, ks[2] = {16, 32}, nu[2] = {32, 16};
static const char *const sh[2] = {"none", "kv"};

static void test_points(void)
{
    lf_sweep_lists s = {seq, 1, ks, 2, sh, 2, nu, 2, "conv"};
    int np = -1;
    lf_pretrain_point *p = lf_sweep_points(&s, &np);
    const char *want[7] = {"n64_dense",         "n64_k16_none_conv",    "n64_k16_kv_conv",
                           "n64_k32_none_conv", "n64_k32_kv_conv",      "n64_nu32-16_none_conv",
                           "n64_nu32-16_kv_conv"};
    CHECK_MSG(p && np == 7, "%d points", np);
    for (int i = 0; p && i < 7 && i < np; i++)
        CHECK_MSG(strcmp(p[i].name, want[i]) == 0, "point %d: '%s', expected '%s'", i, p[i].name,
                  want[i]);
    if (p && np == 7) {
        CHECK(!p[0].linformer && p[1].linformer && p[1].k == 16 && p[1].sharing == LF_SHARE_NONE);
        CHECK(p[2].sharing == LF_SHARE_KV && p[3].k == 32 && p[5].nonuniform && p[5].k == 0);
        CHECK(p[6].kind == LF_PROJ_CONV && p[0].seq_len == 64);
    }
    lf_free(p);
    /* Two lengths, linear projection (no suffix), no nonuniform k. */
    lf_sweep_lists s2 = {seq, 2, ks, 1, sh, 1, NULL, 0, "linear"};
    p = lf_sweep_points(&s2, &np);
    CHECK_MSG(p && np == 4, "%d points", np);
    if (p && np == 4) {
        CHECK(strcmp(p[0].name, "n64_dense") == 0 && strcmp(p[1].name, "n64_k16_none") == 0);
        CHECK(strcmp(p[2].name, "n128_dense") == 0 && strcmp(p[3].name, "n128_k16_none") == 0);
    }
    lf_free(p);
    lf_sweep_lists bad = {seq, 1, ks, 1, sh, 1, NULL, 0, "fourier"};
    CHECK(lf_sweep_points(&bad, &np) == NULL);
    CHECK_ERR("fourier");
}

/* The index's row for point NAME (its line without the newline) into row. */
static int index_row(const char *dir, const char *name, char *row, size_t len)
{
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/index.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int found = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == '\t') {
            line[strcspn(line, "\n")] = 0;
            snprintf(row, len, "%s", line);
            found = 0;
        }
    fclose(f);
    return found;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_index(void)
{
    const char *dir = "sweep_index";
    mkdir(dir, 0755);
    lf_sweep_lists s = {seq, 1, ks, 2, sh, 1, NULL, 0, "linear"};
    int np = 0;
    lf_pretrain_point *p = lf_sweep_points(&s, &np);
    CHECK(p && np == 3);
    if (!p) return;
    CHECK_MSG(lf_sweep_index_write(dir, p, np, &s, 2, "n64_k16_none") == 0, "%s", lf_error_get());
    char row[1024] = "";
    CHECK(index_row(dir, "n64_dense", row, sizeof row) == 0);
    CHECK_MSG(strcmp(row, "n64_dense\t64\tdense\t-\t-\t-\t0/2\tpending\t0\tnan\tn64_dense.h5") == 0,
              "row '%s'", row);
    CHECK(index_row(dir, "n64_k16_none", row, sizeof row) == 0);
    CHECK_MSG(strstr(row, "\t1/2\trunning\t") != NULL, "row '%s'", row);
    CHECK(index_row(dir, "n64_k32_none", row, sizeof row) == 0);
    CHECK_MSG(strstr(row, "\t32\tnone\tlinear\t0/2\tpending\t") != NULL, "row '%s'", row);
    /* Another sweep into the same directory keeps these rows, their state read again
     * from the (absent) files: the running one is pending now. */
    lf_sweep_lists s2 = {seq + 1, 1, ks, 1, sh + 1, 1, NULL, 0, "linear"};
    int np2 = 0;
    lf_pretrain_point *p2 = lf_sweep_points(&s2, &np2);
    CHECK(p2 && np2 == 2);
    if (p2) CHECK_MSG(lf_sweep_index_write(dir, p2, np2, &s2, 1, NULL) == 0, "%s", lf_error_get());
    CHECK(index_row(dir, "n128_k16_kv", row, sizeof row) == 0);
    CHECK(index_row(dir, "n64_k16_none", row, sizeof row) == 0);
    CHECK_MSG(strstr(row, "\t1/2\tpending\t0\t") != NULL, "kept row '%s'", row);
    CHECK(index_row(dir, "n64_dense", row, sizeof row) == 0);
    CHECK_MSG(count_entries(dir) == 1, "%d entries in %s (a temporary file left?)",
              count_entries(dir), dir);
    /* A directory that does not exist: refused with the path, nothing written. */
    CHECK(lf_sweep_index_write("no/such/dir", p, np, &s, 1, NULL) == -1);
    CHECK_ERR("no/such/dir/index.tsv");
    lf_free(p), lf_free(p2);
}

int main(void)
{
    check_program = "test_sweep";
    RUN(test_points);
    RUN(test_index);
    return check_summary();
}
