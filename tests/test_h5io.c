/* test_h5io.c - the HDF5 results module (core/h5io.c) and build provenance.
 *
 * Files written through lf_h5 are read back with the raw HDF5 API (types, layout,
 * filters, dimension scales) as well as with lf_h5's own readers, so a mistake
 * shared by writer and reader cannot hide. When h5py is installed, Python reads a
 * results file and writes an input file for the C readers; without it that check
 * is skipped with a note. Everything happens in a private directory made inside
 * the current one, removed at the end.
 */
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buildinfo.h"
#include "check.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "version.h"

/* ---- helpers ------------------------------------------------------------------ */

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Entries of the current directory whose name contains `part` (NULL: all). */
static int count_names(const char *part)
{
    DIR *d = opendir(".");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!part || strstr(e->d_name, part)))
            n++;
    closedir(d);
    return n;
}

static void remove_all(void)
{
    DIR *d = opendir(".");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && unlink(e->d_name) != 0)
            rmdir(e->d_name);
    closedir(d);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* The current error message must contain `part`. */
#define CHECK_ERR(part)                                                                            \
    CHECK_MSG(strstr(lf_error_get(), part) != NULL, "error '%s' lacks '%s'", lf_error_get(), part)

/* Captures stderr in a file, to prove that failures print nothing but our message. */
static int quiet_begin(void)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static long quiet_end(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    long size = stat("stderr.txt", &st) == 0 ? (long)st.st_size : -1;
    unlink("stderr.txt");
    return size;
}

static int attr_str_is(lf_h5 *f, const char *obj, const char *name, const char *want)
{
    char *s = NULL;
    if (lf_h5_read_attr_string(f, obj, name, &s) != 0) {
        printf("    %s %s: %s\n", obj, name, lf_error_get());
        return 0;
    }
    int ok = strcmp(s, want) == 0;
    if (!ok) printf("    %s %s = '%s', expected '%s'\n", obj, name, s, want);
    lf_free(s);
    return ok;
}

/* ---- element types ------------------------------------------------------------ */

static const lf_h5_type all_types[] = {LF_H5_F32, LF_H5_F64, LF_H5_I32, LF_H5_I64, LF_H5_U8};
static const char *const type_names[] = {"f32", "f64", "i32", "i64", "u8"};

static size_t type_size(lf_h5_type t)
{
    return t == LF_H5_F64 || t == LF_H5_I64 ? 8 : t == LF_H5_U8 ? 1 : 4;
}

static hid_t type_native(lf_h5_type t)
{
    switch (t) {
    case LF_H5_F32: return H5T_NATIVE_FLOAT;
    case LF_H5_F64: return H5T_NATIVE_DOUBLE;
    case LF_H5_I32: return H5T_NATIVE_INT32;
    case LF_H5_I64: return H5T_NATIVE_INT64;
    default: return H5T_NATIVE_UINT8;
    }
}

static hid_t type_file(lf_h5_type t)
{
    switch (t) {
    case LF_H5_F32: return H5T_IEEE_F32LE;
    case LF_H5_F64: return H5T_IEEE_F64LE;
    case LF_H5_I32: return H5T_STD_I32LE;
    case LF_H5_I64: return H5T_STD_I64LE;
    default: return H5T_STD_U8LE;
    }
}

/* Ordinary values plus the extremes each type can hold (signed zero, denormals,
 * NaN, infinities, the integer limits), which a lossy path would alter. */
static void fill(lf_h5_type t, size_t n, void *buf)
{
    for (size_t i = 0; i < n; i++) {
        double v = 1.5 + (double)(i % 7) * 0.37 - (double)i * 0.01;
        switch (t) {
        case LF_H5_F32: {
            float s[] = {(float)v, -0.0f, FLT_MAX, FLT_TRUE_MIN, NAN, -INFINITY};
            ((float *)buf)[i] = i < 6 ? s[i] : (float)v;
            break;
        }
        case LF_H5_F64: {
            double s[] = {v, -0.0, DBL_MAX, DBL_TRUE_MIN, NAN, INFINITY};
            ((double *)buf)[i] = i < 6 ? s[i] : v;
            break;
        }
        case LF_H5_I32: {
            int32_t s[] = {7, INT32_MIN, INT32_MAX, -1, 0};
            ((int32_t *)buf)[i] = i < 5 ? s[i] : (int32_t)(i * 2654435761u);
            break;
        }
        case LF_H5_I64: {
            int64_t s[] = {-7, INT64_MIN, INT64_MAX, -1, 0};
            ((int64_t *)buf)[i] = i < 5 ? s[i] : (int64_t)(i * 0x9E3779B97F4A7C15ull);
            break;
        }
        case LF_H5_U8: ((uint8_t *)buf)[i] = (uint8_t)(i == 1 ? 255 : i * 37 + 3); break;
        }
    }
}

static double value_at(lf_h5_type t, const void *buf, size_t i)
{
    switch (t) {
    case LF_H5_F32: return ((const float *)buf)[i];
    case LF_H5_F64: return ((const double *)buf)[i];
    case LF_H5_I32: return ((const int32_t *)buf)[i];
    case LF_H5_I64: return (double)((const int64_t *)buf)[i];
    default: return ((const uint8_t *)buf)[i];
    }
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* ---- tests -------------------------------------------------------------------- */

static void test_roundtrip_types_ranks(void)
{
    lf_h5 *f = lf_h5_create("types.h5", "test_roundtrip", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    if (!f) return;
    static const int64_t shape[LF_H5_MAX_RANK] = {2, 3, 1, 2, 3, 1, 2, 2};
    unsigned char *buf = lf_alloc(1024, 8);
    char path[64];
    for (int ti = 0; ti < 5; ti++)
        for (int rank = 0; rank <= LF_H5_MAX_RANK; rank++) {
            size_t n = 1;
            for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
            fill(all_types[ti], n, buf);
            snprintf(path, sizeof path, "/%s/rank%d", type_names[ti], rank);
            CHECK_MSG(lf_h5_write(f, path, all_types[ti], rank, shape, buf, "test data", "m") == 0,
                      "write %s: %s", path, lf_error_get());
        }
    int64_t empty_dims[2] = {0, 3};
    CHECK_MSG(lf_h5_write(f, "/empty", LF_H5_F32, 2, empty_dims, NULL, "no rows", NULL) == 0,
              "write /empty: %s", lf_error_get());
    CHECK_MSG(lf_h5_close(f, 1) == 0, "close: %s", lf_error_get());

    /* Raw HDF5: stored type, shape and bits. */
    hid_t file = H5Fopen("types.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    unsigned char *got = lf_alloc(1024, 8);
    int exact = 0, total = 0;
    for (int ti = 0; file >= 0 && ti < 5; ti++)
        for (int rank = 0; rank <= LF_H5_MAX_RANK; rank++) {
            size_t n = 1;
            for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
            fill(all_types[ti], n, buf);
            snprintf(path, sizeof path, "/%s/rank%d", type_names[ti], rank);
            hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
            hid_t ty = d >= 0 ? H5Dget_type(d) : -1, sp = d >= 0 ? H5Dget_space(d) : -1;
            hsize_t hd[H5S_MAX_RANK] = {0};
            int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, hd, NULL) : -1;
            CHECK_MSG(ty >= 0 && H5Tequal(ty, type_file(all_types[ti])) > 0, "%s: stored type",
                      path);
            CHECK_MSG(nd == rank, "%s: rank %d", path, nd);
            CHECK_MSG(sp >= 0 && H5Sget_simple_extent_type(sp) == (rank ? H5S_SIMPLE : H5S_SCALAR),
                      "%s: dataspace class", path);
            for (int i = 0; i < rank && nd == rank; i++)
                CHECK_MSG(hd[i] == (hsize_t)shape[i], "%s: dim %d = %llu", path, i,
                          (unsigned long long)hd[i]);
            memset(got, 0xA5, 1024 * 8);
            CHECK(d >= 0 &&
                  H5Dread(d, type_native(all_types[ti]), H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
            int same = memcmp(got, buf, n * type_size(all_types[ti])) == 0;
            CHECK_MSG(same, "%s: values differ bitwise", path);
            exact += same;
            total++;
            if (sp >= 0) H5Sclose(sp);
            if (ty >= 0) H5Tclose(ty);
            if (d >= 0) H5Dclose(d);
        }
    if (file >= 0) H5Fclose(file);

    /* lf_h5's readers: every type through float64 (exact for all but huge int64),
     * int32 for the integer types that fit, float32 bitwise for float32. */
    lf_h5 *r = lf_h5_open("types.h5");
    CHECK_MSG(r != NULL, "open: %s", lf_error_get());
    for (int ti = 0; r && ti < 5; ti++) {
        lf_h5_type t = all_types[ti];
        for (int rank = 0; rank <= LF_H5_MAX_RANK; rank++) {
            size_t n = 1;
            for (int i = 0; i < rank; i++) n *= (size_t)shape[i];
            fill(t, n, buf);
            snprintf(path, sizeof path, "/%s/rank%d", type_names[ti], rank);
            int64_t dims[LF_H5_MAX_RANK];
            int got_rank = -1;
            if (t != LF_H5_I64) {
                double *d64 = NULL;
                CHECK_MSG(lf_h5_read_f64(r, path, LF_H5_MAX_RANK, &got_rank, dims, &d64) == 0,
                          "read_f64 %s: %s", path, lf_error_get());
                CHECK(got_rank == rank);
                for (int i = 0; i < rank && got_rank == rank; i++) CHECK(dims[i] == shape[i]);
                for (size_t i = 0; d64 && i < n; i++)
                    CHECK_MSG(same_double(d64[i], value_at(t, buf, i)), "%s[%zu]: %.17g vs %.17g",
                              path, i, d64[i], value_at(t, buf, i));
                lf_free(d64);
            }
            if (t == LF_H5_F32) {
                float *d32 = NULL;
                CHECK(lf_h5_read_f32(r, path, LF_H5_MAX_RANK, &got_rank, dims, &d32) == 0);
                CHECK_MSG(d32 && memcmp(d32, buf, n * 4) == 0, "read_f32 %s: bits differ", path);
                lf_free(d32);
            }
            if (t == LF_H5_I32 || t == LF_H5_U8) {
                int32_t *i32 = NULL;
                CHECK_MSG(lf_h5_read_i32(r, path, LF_H5_MAX_RANK, &got_rank, dims, &i32) == 0,
                          "read_i32 %s: %s", path, lf_error_get());
                for (size_t i = 0; i32 && i < n; i++) CHECK(i32[i] == (int32_t)value_at(t, buf, i));
                lf_free(i32);
            }
        }
    }
    int64_t dims[2] = {-1, -1};
    int rank = -1;
    float *e = NULL;
    CHECK_MSG(lf_h5_read_f32(r, "/empty", 2, &rank, dims, &e) == 0, "read /empty: %s",
              lf_error_get());
    CHECK(rank == 2 && dims[0] == 0 && dims[1] == 3 && e != NULL);
    lf_free(e);
    CHECK(lf_h5_close(r, 0) == 0);
    CHECK(lf_h5_close(NULL, 1) == 0);
    lf_free(got);
    lf_free(buf);
    check_notef("%d/%d datasets bit-exact (5 types x ranks 0..8)", exact, total);
}

static void test_header_and_attributes(void)
{
    lf_h5 *f = lf_h5_create("attrs.h5", "test_attrs", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    if (!f) return;
    float x[3] = {1, 2, 3};
    int64_t n3 = 3;
    CHECK(lf_h5_write(f, "/group/x", LF_H5_F32, 1, &n3, x, "three numbers", "s") == 0);
    CHECK(lf_h5_write(f, "/y", LF_H5_F32, 1, &n3, x, "no units here", NULL) == 0);
    CHECK(lf_h5_config_int(f, "threads", 8) == 0);
    CHECK(lf_h5_config_u64(f, "seed", 0xDEADBEEFCAFEF00Dull) == 0);
    CHECK(lf_h5_config_double(f, "alpha", 0.125) == 0);
    CHECK(lf_h5_config_string(f, "projection", "gaussian") == 0);
    CHECK(lf_h5_config_string(f, "projection", "sparse") == 0); /* replaces */
    CHECK(lf_h5_attr_string(f, "/", "status", "complete") == 0);
    CHECK(lf_h5_attr_int(f, "/group/x", "count", -42) == 0);
    CHECK(lf_h5_attr_double(f, "/group", "scale", -2.5e-300) == 0);
    CHECK(lf_h5_attr_string(f, "/nope", "a", "b") == -1);
    CHECK_ERR("attrs.h5: /nope: no such group or dataset");
    CHECK_MSG(lf_h5_close(f, 1) == 0, "close: %s", lf_error_get());

    lf_h5 *r = lf_h5_open("attrs.h5");
    CHECK_MSG(r != NULL, "open: %s", lf_error_get());
    if (!r) return;
    CHECK(attr_str_is(r, "/", "experiment", "test_attrs"));
    CHECK(attr_str_is(r, "/", "suite_version", LF_VERSION));
    CHECK(attr_str_is(r, "/", "status", "complete"));
    int64_t iv = -1;
    CHECK(lf_h5_read_attr_int(r, "/", "schema_version", &iv) == 0 && iv == LF_SCHEMA_VERSION);
    char *created = NULL;
    CHECK(lf_h5_read_attr_string(r, "/", "created", &created) == 0);
    /* ISO 8601 UTC, "2026-01-31T12:34:56Z" */
    CHECK_MSG(created && strlen(created) == 20 && created[4] == '-' && created[10] == 'T' &&
                  created[19] == 'Z',
              "created = '%s'", created ? created : "(none)");
    lf_free(created);

    char *s = NULL;
    CHECK(lf_h5_read_attr_string(r, "/code", "git_revision", &s) == 0 && s && s[0] != '\0');
    CHECK(s && strcmp(s, lf_build_git_revision()) == 0);
    lf_free(s);
    CHECK(lf_h5_read_attr_int(r, "/code", "git_dirty", &iv) == 0 && (iv == 0 || iv == 1));
    CHECK(lf_h5_read_attr_int(r, "/code", "cuda_backend", &iv) == 0 && iv == lf_build_cuda());
    CHECK(lf_h5_read_attr_string(r, "/code", "compiler", &s) == 0);
    CHECK_MSG(s && (strncmp(s, "gcc ", 4) == 0 || strncmp(s, "clang ", 6) == 0), "compiler '%s'",
              s ? s : "");
    lf_free(s);
    CHECK(attr_str_is(r, "/code", "cflags", lf_build_cflags()));
    CHECK(lf_h5_read_attr_string(r, "/code", "blas", &s) == 0 && s && strlen(s) > 0);
    lf_free(s);
    unsigned maj, min, rel;
    char hv[32];
    H5get_libversion(&maj, &min, &rel);
    snprintf(hv, sizeof hv, "%u.%u.%u", maj, min, rel);
    CHECK(attr_str_is(r, "/code", "hdf5_version", hv));
    CHECK(lf_h5_read_attr_string(r, "/code", "lapack_version", &s) == 0);
    int a = 0, b = 0, c = 0;
    CHECK_MSG(s && sscanf(s, "%d.%d.%d", &a, &b, &c) == 3 && a >= 3, "lapack_version '%s'",
              s ? s : "");
    lf_free(s);

    CHECK(lf_h5_read_attr_int(r, "/config", "threads", &iv) == 0 && iv == 8);
    uint64_t u = 0;
    CHECK(lf_h5_read_attr_u64(r, "/config", "seed", &u) == 0 && u == 0xDEADBEEFCAFEF00Dull);
    CHECK(lf_h5_read_attr_int(r, "/config", "seed", &iv) == -1); /* does not fit int64 */
    CHECK_ERR("out of range for int64");
    double dv = 0;
    CHECK(lf_h5_read_attr_double(r, "/config", "alpha", &dv) == 0 && dv == 0.125);
    CHECK(lf_h5_read_attr_double(r, "/config", "threads", &dv) == 0 && dv == 8.0);
    CHECK(attr_str_is(r, "/config", "projection", "sparse"));
    CHECK(lf_h5_read_attr_int(r, "/group/x", "count", &iv) == 0 && iv == -42);
    CHECK(lf_h5_read_attr_double(r, "/group", "scale", &dv) == 0 && dv == -2.5e-300);

    CHECK(attr_str_is(r, "/group/x", "description", "three numbers"));
    CHECK(attr_str_is(r, "/group/x", "units", "s"));
    CHECK(attr_str_is(r, "/y", "description", "no units here"));
    CHECK(lf_h5_read_attr_string(r, "/y", "units", &s) == -1 && s == NULL);
    CHECK_ERR("attrs.h5: /y: no attribute 'units'");
    CHECK(lf_h5_read_attr_int(r, "/config", "projection", &iv) == -1);
    CHECK_ERR("not an integer");
    CHECK(lf_h5_read_attr_string(r, "/config", "alpha", &s) == -1);
    CHECK_ERR("not a string");
    /* A read handle refuses writes. */
    CHECK(lf_h5_attr_int(r, "/", "x", 1) == -1);
    CHECK_ERR("read-only");
    CHECK(lf_h5_close(r, 1) == 0);

    /* Fixed-length, space-padded strings (as some h5py and Fortran writers make). */
    hid_t file = H5Fopen("attrs.h5", H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, 8);
    H5Tset_strpad(t, H5T_STR_SPACEPAD);
    hid_t at = H5Acreate2(file, "fixed", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(at >= 0 && H5Awrite(at, t, "abc     ") >= 0);
    H5Aclose(at);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(file);
    r = lf_h5_open("attrs.h5");
    CHECK(r && attr_str_is(r, "/", "fixed", "abc"));
    lf_h5_close(r, 0);
}

static void test_dimension_scales(void)
{
    lf_h5 *f = lf_h5_create("scales.h5", "test_scales", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    if (!f) return;
    float sv[12];
    for (int i = 0; i < 12; i++) sv[i] = (float)i;
    int64_t dims[2] = {3, 4};
    int32_t layers[3] = {0, 1, 2};
    const char *const kinds[4] = {"gaussian", "sparse", "svd", "learned"};
    CHECK(lf_h5_write(f, "/spectrum/sv", LF_H5_F32, 2, dims, sv, "singular values", NULL) == 0);
    CHECK(lf_h5_scale(f, "/spectrum/layer", LF_H5_I32, 3, layers, "layer index", NULL) == 0);
    CHECK(lf_h5_scale_strings(f, "/spectrum/kind", 4, kinds, "projection kind") == 0);
    CHECK(lf_h5_scale_range(f, "/spectrum/index", 4, 1, "index from 1") == 0);
    CHECK(lf_h5_scale_range(f, "/spectrum/too_far", 2, INT32_MAX, "overflows") == -1);
    CHECK_ERR("does not fit int32");
    CHECK(lf_h5_write_strings(f, "/names", 2, kinds, "plain strings") == 0);
    CHECK_MSG(lf_h5_attach(f, "/spectrum/sv", 0, "/spectrum/layer") == 0, "attach: %s",
              lf_error_get());
    CHECK_MSG(lf_h5_attach(f, "/spectrum/sv", 1, "/spectrum/kind") == 0, "attach: %s",
              lf_error_get());
    /* Mistakes are refused with a reason. */
    CHECK(lf_h5_attach(f, "/spectrum/sv", 1, "/spectrum/layer") == -1);
    CHECK_ERR("has 3 values but dimension 1 has 4");
    CHECK(lf_h5_attach(f, "/spectrum/sv", 2, "/spectrum/layer") == -1);
    CHECK_ERR("dimension 2 does not exist");
    CHECK(lf_h5_attach(f, "/spectrum/sv", 0, "/names") == -1);
    CHECK_ERR("not a dimension scale");
    CHECK(lf_h5_attach(f, "/spectrum/sv", 0, "/spectrum/none") == -1);
    CHECK_ERR("/spectrum/none: no such dimension scale");
    const char *const with_null[2] = {"a", NULL};
    CHECK(lf_h5_write_strings(f, "/bad", 2, with_null, "has a hole") == -1);
    CHECK_ERR("string 1 is NULL");
    CHECK_MSG(lf_h5_close(f, 1) == 0, "close: %s", lf_error_get());

    hid_t file = H5Fopen("scales.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(file, "/spectrum/sv", H5P_DEFAULT);
    hid_t layer = H5Dopen2(file, "/spectrum/layer", H5P_DEFAULT);
    hid_t kind = H5Dopen2(file, "/spectrum/kind", H5P_DEFAULT);
    CHECK(d >= 0 && layer >= 0 && kind >= 0);
    CHECK(H5DSis_scale(layer) > 0 && H5DSis_scale(kind) > 0 && H5DSis_scale(d) == 0);
    CHECK(H5DSis_attached(d, layer, 0) > 0);
    CHECK(H5DSis_attached(d, kind, 1) > 0);
    CHECK(H5DSis_attached(d, layer, 1) == 0);
    CHECK(H5DSget_num_scales(d, 0) == 1 && H5DSget_num_scales(d, 1) == 1);
    char name[32] = "";
    CHECK(H5DSget_scale_name(layer, name, sizeof name) > 0 && strcmp(name, "layer") == 0);
    CHECK(H5DSget_scale_name(kind, name, sizeof name) > 0 && strcmp(name, "kind") == 0);
    /* The string scale holds UTF-8 variable-length strings. */
    hid_t t = H5Dget_type(kind);
    CHECK(H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 &&
          H5Tget_cset(t) == H5T_CSET_UTF8);
    char *back[4] = {0};
    CHECK(H5Dread(kind, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(back[i] && strcmp(back[i], kinds[i]) == 0, "kind[%d] = '%s'", i,
                  back[i] ? back[i] : "");
        H5free_memory(back[i]);
    }
    H5Tclose(t);
    CHECK(H5Lexists(file, "/bad", H5P_DEFAULT) == 0);
    /* The range scale: int32 1..4. */
    hid_t idx = H5Dopen2(file, "/spectrum/index", H5P_DEFAULT);
    int32_t iv[4] = {0};
    CHECK(idx >= 0 && H5DSis_scale(idx) > 0 &&
          H5Dread(idx, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv) >= 0);
    for (int i = 0; i < 4; i++) CHECK_MSG(iv[i] == i + 1, "index[%d] = %d", i, (int)iv[i]);
    if (idx >= 0) H5Dclose(idx);
    H5Dclose(kind);
    H5Dclose(layer);
    H5Dclose(d);
    H5Fclose(file);
}

static void test_large_chunked(void)
{
    lf_h5 *f = lf_h5_create("large.h5", "test_large", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    if (!f) return;
    int64_t dims[2] = {600, 1000}; /* 2.4 MB of float32 */
    float *a = lf_alloc(600 * 1000, sizeof(float));
    for (int i = 0; i < 600 * 1000; i++) a[i] = (float)(i % 1000) * 0.5f + (float)(i / 1000);
    int64_t wide[3] = {2, 3, 300000}; /* one row exceeds a chunk */
    double *w = lf_alloc(2 * 3 * 300000, sizeof(double));
    for (int i = 0; i < 2 * 3 * 300000; i++) w[i] = (double)(i % 5000);
    int64_t small[2] = {100, 100}; /* 40 KB: stays contiguous */
    CHECK(lf_h5_write(f, "/big", LF_H5_F32, 2, dims, a, "large", NULL) == 0);
    CHECK(lf_h5_write(f, "/wide", LF_H5_F64, 3, wide, w, "wide", NULL) == 0);
    CHECK(lf_h5_write(f, "/small", LF_H5_F32, 2, small, a, "small", NULL) == 0);
    CHECK_MSG(lf_h5_close(f, 1) == 0, "close: %s", lf_error_get());

    hid_t file = H5Fopen("large.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *names[3] = {"/big", "/wide", "/small"};
    size_t elsize[3] = {4, 8, 4};
    for (int k = 0; k < 3; k++) {
        hid_t d = H5Dopen2(file, names[k], H5P_DEFAULT);
        hid_t dcpl = H5Dget_create_plist(d);
        CHECK(d >= 0 && dcpl >= 0);
        if (k == 2) {
            CHECK_MSG(H5Pget_layout(dcpl) == H5D_CONTIGUOUS, "%s is not contiguous", names[k]);
            CHECK(H5Pget_nfilters(dcpl) == 0);
        } else {
            CHECK_MSG(H5Pget_layout(dcpl) == H5D_CHUNKED, "%s is not chunked", names[k]);
            CHECK_MSG(H5Pget_nfilters(dcpl) == 3, "%s: %d filters", names[k],
                      H5Pget_nfilters(dcpl));
            H5Z_filter_t want[3] = {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE, H5Z_FILTER_FLETCHER32};
            for (unsigned i = 0; i < 3 && H5Pget_nfilters(dcpl) == 3; i++) {
                unsigned flags, cd[4], fc;
                size_t ncd = 4;
                char fname[64];
                H5Z_filter_t id =
                    H5Pget_filter2(dcpl, i, &flags, &ncd, cd, sizeof fname, fname, &fc);
                CHECK_MSG(id == want[i], "%s: filter %u is %d", names[k], i, (int)id);
                if (id == H5Z_FILTER_DEFLATE) CHECK(ncd >= 1 && cd[0] == 4);
            }
            hsize_t chunk[3];
            int cr = H5Pget_chunk(dcpl, 3, chunk);
            size_t bytes = elsize[k];
            for (int i = 0; i < cr; i++) bytes *= chunk[i];
            CHECK_MSG(bytes <= 1024 * 1024 && bytes >= 256 * 1024, "%s: chunk of %zu bytes",
                      names[k], bytes);
            if (k == 0) CHECK(cr == 2 && chunk[1] == 1000); /* full trailing dimension */
            if (k == 1) CHECK(cr == 3 && chunk[0] == 1 && chunk[1] == 1 && chunk[2] == 131072);
            hsize_t stored = H5Dget_storage_size(d);
            size_t raw = k == 0 ? 600 * 1000 * 4 : 2 * 3 * 300000 * 8;
            CHECK_MSG(stored < raw / 2, "%s: %llu stored bytes for %zu raw", names[k],
                      (unsigned long long)stored, raw);
        }
        H5Pclose(dcpl);
        H5Dclose(d);
    }
    H5Fclose(file);

    lf_h5 *r = lf_h5_open("large.h5");
    int rank = 0;
    int64_t got_dims[3];
    float *b = NULL;
    double *wb = NULL;
    CHECK(r && lf_h5_read_f32(r, "/big", 2, &rank, got_dims, &b) == 0);
    CHECK(rank == 2 && got_dims[0] == 600 && got_dims[1] == 1000);
    CHECK_MSG(b && memcmp(a, b, 600 * 1000 * sizeof(float)) == 0, "/big does not round-trip");
    CHECK(r && lf_h5_read_f64(r, "/wide", 3, &rank, got_dims, &wb) == 0);
    CHECK_MSG(wb && memcmp(w, wb, 2 * 3 * 300000 * sizeof(double)) == 0,
              "/wide does not round-trip");
    lf_h5_close(r, 0);
    lf_free(wb);
    lf_free(b);
    lf_free(w);
    lf_free(a);
}

static void test_commit_publishes(void)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "pub.h5.tmp.%ld", (long)getpid());
    lf_h5 *f = lf_h5_create("pub.h5", "test_commit", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    if (!f) return;
    int64_t one = 1;
    double v = 4;
    CHECK(lf_h5_write(f, "/v", LF_H5_F64, 1, &one, &v, "a value", NULL) == 0);
    CHECK_MSG(!exists("pub.h5"), "final name exists before commit");
    CHECK_MSG(exists(tmp), "no temporary file %s while writing", tmp);
    CHECK(lf_h5_close(f, 1) == 0);
    CHECK_MSG(exists("pub.h5"), "final name missing after commit");
    CHECK(count_names(".tmp.") == 0);
    lf_h5 *r = lf_h5_open("pub.h5");
    CHECK(r && attr_str_is(r, "/", "experiment", "test_commit"));
    lf_h5_close(r, 0);
}

static void test_discard(void)
{
    int before = count_names(NULL);
    lf_h5 *f = lf_h5_create("gone.h5", "test_discard", 0);
    CHECK_MSG(f != NULL, "create: %s", lf_error_get());
    int64_t one = 1;
    double v = 4;
    CHECK(lf_h5_write(f, "/v", LF_H5_F64, 1, &one, &v, "a value", NULL) == 0);
    CHECK(lf_h5_close(f, 0) == 0);
    CHECK(!exists("gone.h5"));
    CHECK(count_names(".tmp.") == 0);
    CHECK(count_names(NULL) == before);
}

static void test_force(void)
{
    lf_h5 *f = lf_h5_create("same.h5", "first", 0);
    CHECK(f && lf_h5_close(f, 1) == 0);
    CHECK(lf_h5_create("same.h5", "second", 0) == NULL);
    CHECK_ERR("same.h5 exists; pass --force to overwrite");
    f = lf_h5_create("same.h5", "second", 1);
    CHECK_MSG(f != NULL, "create --force: %s", lf_error_get());
    /* The old results stay whole until the new ones are committed. */
    lf_h5 *r = lf_h5_open("same.h5");
    CHECK(r && attr_str_is(r, "/", "experiment", "first"));
    lf_h5_close(r, 0);
    CHECK(lf_h5_close(f, 1) == 0);
    r = lf_h5_open("same.h5");
    CHECK(r && attr_str_is(r, "/", "experiment", "second"));
    lf_h5_close(r, 0);

    /* Results appearing under the same name while this run writes are kept. */
    f = lf_h5_create("race.h5", "late", 0);
    CHECK(f != NULL);
    write_text("race.h5", "someone else's results\n");
    CHECK(lf_h5_close(f, 1) == -1);
    CHECK_ERR("race.h5 exists; pass --force");
    CHECK(count_names(".tmp.") == 0);
    lf_h5 *check_text = lf_h5_open("race.h5");
    CHECK(check_text == NULL); /* still the text file */
    CHECK_ERR("not an HDF5 file");
    CHECK(count_names(NULL) == 2);
}

static void test_write_errors(void)
{
    int before = count_names(NULL);
    CHECK(lf_h5_create("nodir/x.h5", "e", 0) == NULL);
    CHECK_ERR("nodir/x.h5: cannot create temporary file");
    CHECK_ERR("No such file or directory");
    CHECK(lf_h5_create("x.h5", "", 0) == NULL);
    CHECK_ERR("empty experiment name");
    char blocked[64];
    snprintf(blocked, sizeof blocked, "blocked.h5.tmp.%ld", (long)getpid());
    mkdir(blocked, 0755);
    CHECK(lf_h5_create("blocked.h5", "e", 0) == NULL);
    CHECK_ERR("cannot create temporary file");
    rmdir(blocked);
    CHECK_MSG(count_names(NULL) == before, "a failed create left files behind");

    lf_h5 *f = lf_h5_create("errors.h5", "test_errors", 0);
    CHECK(f != NULL);
    if (!f) return;
    /* A second handle on the same name in this process must not touch the first. */
    CHECK(lf_h5_create("errors.h5", "twice", 1) == NULL);
    CHECK_ERR("errors.h5: already being written by this process");
    CHECK(count_names(".tmp.") == 1);
    int64_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    double v[1] = {1};
    CHECK(lf_h5_write(f, "/r9", LF_H5_F64, 9, dims, v, "too many dims", NULL) == -1);
    CHECK_ERR("errors.h5: /r9: rank 9 is outside 0..8");
    int64_t neg[2] = {2, -1};
    CHECK(lf_h5_write(f, "/neg", LF_H5_F64, 2, neg, v, "negative", NULL) == -1);
    CHECK_ERR("negative dimension");
    CHECK(lf_h5_write(f, "/nodesc", LF_H5_F64, 1, dims, v, "", NULL) == -1);
    CHECK_ERR("errors.h5: /nodesc: a description is required");
    CHECK(lf_h5_write(f, "/nodesc", LF_H5_F64, 1, dims, v, NULL, NULL) == -1);
    CHECK(lf_h5_write(f, "/nodata", LF_H5_F64, 1, dims, NULL, "x", NULL) == -1);
    CHECK_ERR("no data given");
    CHECK(lf_h5_write(f, "/badtype", (lf_h5_type)42, 1, dims, v, "x", NULL) == -1);
    CHECK_ERR("unknown element type 42");
    CHECK(lf_h5_write(f, "/a/b", LF_H5_F64, 1, dims, v, "ok", NULL) == 0);
    CHECK(lf_h5_write(f, "/a/b", LF_H5_F64, 1, dims, v, "again", NULL) == -1);
    CHECK_ERR("errors.h5: /a/b: already exists");
    int saved = quiet_begin();
    int rc = lf_h5_write(f, "/a/b/c", LF_H5_F64, 1, dims, v, "under a dataset", NULL);
    long noise = quiet_end(saved);
    CHECK(rc == -1);
    CHECK_ERR("errors.h5: /a/b/c: HDF5 cannot create it");
    CHECK_MSG(noise == 0, "HDF5 printed %ld bytes on stderr", noise);
    CHECK(lf_h5_write(f, "/dir/", LF_H5_F64, 1, dims, v, "no name", NULL) == -1);
    CHECK_ERR("has no name");
    CHECK(lf_h5_close(f, 1) == 0);

    lf_h5 *r = lf_h5_open("errors.h5");
    CHECK(r != NULL);
    CHECK(lf_h5_has(r, "/a/b") == 1);
    const char *absent[] = {"/r9", "/neg", "/nodesc", "/nodata", "/badtype", "/a/b/c", "/dir"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        CHECK_MSG(lf_h5_has(r, absent[i]) == 0, "%s exists after a failed write", absent[i]);
    lf_h5_close(r, 0);
}

static void test_read_errors(void)
{
    CHECK(lf_h5_open("missing.h5") == NULL);
    CHECK_ERR("missing.h5: no such file");
    write_text("text.h5", "this is not HDF5\n");
    CHECK(lf_h5_open("text.h5") == NULL);
    CHECK_ERR("text.h5: not an HDF5 file");
    CHECK(lf_h5_open(".") == NULL);
    CHECK_ERR("is a directory");

    lf_h5 *f = lf_h5_create("IN.h5", "inputs", 0);
    CHECK(f != NULL);
    if (!f) return;
    int64_t d3[3] = {2, 2, 2};
    float cube[8] = {0};
    double big[2] = {1e300, 1.0};
    double special[4] = {1.0, -2.0, NAN, -INFINITY};
    int64_t huge[2] = {1, (int64_t)1 << 40};
    int64_t n4 = 4, n2 = 2;
    const char *const words[2] = {"a", "b"};
    CHECK(lf_h5_write(f, "/cube", LF_H5_F32, 3, d3, cube, "a cube", NULL) == 0);
    CHECK(lf_h5_write(f, "/big", LF_H5_F64, 1, &n2, big, "beyond float32", NULL) == 0);
    CHECK(lf_h5_write(f, "/special", LF_H5_F64, 1, &n4, special, "specials", NULL) == 0);
    CHECK(lf_h5_write(f, "/huge", LF_H5_I64, 1, &n2, huge, "beyond int32", NULL) == 0);
    CHECK(lf_h5_write_strings(f, "/words", 2, words, "strings") == 0);
    CHECK(lf_h5_close(f, 1) == 0);

    lf_h5 *r = lf_h5_open("IN.h5");
    CHECK(r != NULL);
    if (!r) return;
    int rank;
    int64_t dims[3];
    float *x = (float *)1;
    int saved = quiet_begin();
    CHECK(lf_h5_read_f32(r, "/q", 2, &rank, dims, &x) == -1 && x == NULL);
    CHECK_ERR("IN.h5: /q: no such dataset");
    CHECK(lf_h5_read_f32(r, "/nope/deeper/q", 2, &rank, dims, &x) == -1);
    CHECK_ERR("IN.h5: /nope/deeper/q: no such dataset");
    CHECK(lf_h5_read_f32(r, "/cube", 2, &rank, dims, &x) == -1 && x == NULL);
    CHECK_ERR("IN.h5: /cube: rank 3 exceeds 2");
    CHECK(lf_h5_read_f32(r, "/words", 2, &rank, dims, &x) == -1);
    CHECK_ERR("IN.h5: /words: expected a numeric dataset, found string values");
    CHECK(lf_h5_read_f32(r, "/code", 2, &rank, dims, &x) == -1);
    CHECK_ERR("IN.h5: /code: expected a dataset, found a group");
    int32_t *ix = NULL;
    CHECK(lf_h5_read_i32(r, "/cube", 3, &rank, dims, &ix) == -1);
    CHECK_ERR("IN.h5: /cube: expected an integer dataset, found floating point values");
    CHECK(lf_h5_read_f32(r, "/big", 1, &rank, dims, &x) == -1 && x == NULL);
    CHECK_ERR("IN.h5: /big: values out of range for float32");
    CHECK(lf_h5_read_i32(r, "/huge", 1, &rank, dims, &ix) == -1 && ix == NULL);
    CHECK_ERR("IN.h5: /huge: values out of range for int32");
    CHECK(lf_h5_has(r, "/nope/deeper/q") == 0);
    CHECK(lf_h5_has(r, "/cube/inside") == 0);
    CHECK(lf_h5_has(r, "") == 0);
    CHECK(lf_h5_has(NULL, "/cube") == 0);
    long noise = quiet_end(saved);
    CHECK_MSG(noise == 0, "HDF5 printed %ld bytes on stderr", noise);
    CHECK(lf_h5_has(r, "/") == 1 && lf_h5_has(r, "cube") == 1 && lf_h5_has(r, "//code/") == 1);
    CHECK(lf_h5_has(r, "/config") == 1);

    /* NaN and infinities are values, not range errors. */
    float *s32 = NULL;
    CHECK_MSG(lf_h5_read_f32(r, "/special", 1, &rank, dims, &s32) == 0, "read: %s", lf_error_get());
    CHECK(s32 && s32[0] == 1.0f && s32[1] == -2.0f && isnan(s32[2]) && isinf(s32[3]) && s32[3] < 0);
    lf_free(s32);
    lf_h5_close(r, 0);
}

/* A child process creates a results file, writes into it, and is then stopped by
 * `sig` (or exits without closing when sig == 0); nothing may be left behind. */
static void run_interrupted_child(int sig)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lf_h5 *f = lf_h5_create("interrupted.h5", "test_signal", 0);
        if (!f) _exit(3);
        int64_t n = 100000;
        float *a = lf_calloc((size_t)n, sizeof(float));
        if (!a || lf_h5_write(f, "/a", LF_H5_F32, 1, &n, a, "zeros", NULL) != 0) _exit(4);
        lf_free(a);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "interrupted.h5.tmp.%ld", (long)getpid());
        if (!exists(tmp)) _exit(5);
        if (sig == 0) exit(0); /* like a driver bailing out on an error */
        raise(sig);
        _exit(6); /* not reached unless the signal was ignored */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (sig) {
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == sig,
                  "child with signal %d: exited %d / signal %d", sig,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    } else {
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit status %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    CHECK_MSG(count_names(".tmp.") == 0, "signal %d: a temporary file was left", sig);
    CHECK_MSG(!exists("interrupted.h5"), "signal %d: a final file appeared", sig);
}

static void test_signal_cleanup(void)
{
    run_interrupted_child(SIGINT);
    run_interrupted_child(SIGTERM);
    run_interrupted_child(0);

    /* A forked child that exits must not remove the temporary file of its parent. */
    lf_h5 *f = lf_h5_create("parent.h5", "test_fork", 0);
    CHECK(f != NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) exit(0);
    int status;
    waitpid(pid, &status, 0);
    CHECK_MSG(count_names(".tmp.") == 1, "the parent's temporary file was removed by its child");
    CHECK(lf_h5_close(f, 1) == 0 && exists("parent.h5"));
}

/* ---- h5py --------------------------------------------------------------------- */

static const char *py_script =
    "import sys, h5py, numpy as np\n"
    "errs = []\n"
    "def check(cond, what):\n"
    "    if not cond: errs.append(what)\n"
    "with h5py.File(sys.argv[1], 'r') as f:\n"
    "    ds = f['/spectrum/sv']\n"
    "    check(ds.shape == (2, 3) and ds.dtype == np.float32, 'shape/dtype %r %r' % (ds.shape, "
    "ds.dtype))\n"
    "    check(np.array_equal(ds[()], np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5), "
    "'values')\n"
    "    check(ds.attrs['description'] == 'singular values', 'description %r' % "
    "ds.attrs['description'])\n"
    "    check(ds.attrs['units'] == '1', 'units %r' % ds.attrs.get('units'))\n"
    "    check(ds.dims[0][0].name == '/spectrum/layer', 'dim 0 scale %r' % ds.dims[0][0].name)\n"
    "    check(ds.dims[1][0].name == '/spectrum/kind', 'dim 1 scale %r' % ds.dims[1][0].name)\n"
    "    check(list(ds.dims[0][0][()]) == [4, 5], 'layer values')\n"
    "    check([s.decode() for s in ds.dims[1][0][()]] == ['gaussian', 'sparse', 'svd'], 'kinds')\n"
    "    check(f.attrs['experiment'] == 'h5py_check', 'experiment %r' % f.attrs['experiment'])\n"
    "    check(int(f.attrs['schema_version']) == int(sys.argv[3]), 'schema_version')\n"
    "    check(len(f['/code'].attrs['git_revision']) > 0, 'git_revision')\n"
    "    check(int(f['/config'].attrs['seed']) == 2**64 - 1, 'seed %r' % "
    "f['/config'].attrs['seed'])\n"
    "    check(list(f['/config'].attrs) == ['seed', 'alpha', 'name'], 'order %r' % "
    "list(f['/config'].attrs))\n"
    "    check(f['/config'].attrs['name'] == 'h\\u00e9llo', 'utf-8 %r' % "
    "f['/config'].attrs['name'])\n"
    "try:\n"
    "    import xarray as xr\n"
    "    x = xr.open_dataset(sys.argv[1], group='spectrum', engine='h5netcdf')\n"
    "    check(x['sv'].dims == ('layer', 'kind'), 'xarray dims %r' % (x['sv'].dims,))\n"
    "    print('    xarray: sv dims', x['sv'].dims)\n"
    "except ImportError:\n"
    "    pass\n"
    "with h5py.File(sys.argv[2], 'w') as g:\n"
    "    g['q'] = (np.arange(6, dtype='>f8') / 4).reshape(2, 3)\n"
    "    g['idx'] = np.array([1, -2, 3], dtype=np.int16)\n"
    "    g['flag'] = np.array([True, False])\n"
    "    g.attrs['note'] = 'from h5py'\n"
    "    g.attrs['fixed'] = np.bytes_(b'fixed')\n"
    "    g.attrs['n'] = np.int32(12)\n"
    "if errs:\n"
    "    print('    h5py:', '; '.join(errs))\n"
    "    sys.exit(1)\n";

/* Slab writing: a dataset created empty and filled along its first dimension in
 * pieces (uneven, out of order, one large enough to be chunked) reads back exactly;
 * slabs outside the dataset and missing datasets are refused with the path named. */
static void test_slabs(void)
{
    lf_h5 *f = lf_h5_create("slabs.h5", "test_slabs", 0);
    CHECK(f != NULL);
    if (!f) return;
    const int64_t dims[3] = {7, 40, 300}; /* 336 KB: chunked and compressed */
    const size_t per = 40 * 300;
    float *all = malloc(7 * per * sizeof *all);
    for (size_t i = 0; i < 7 * per; i++) all[i] = (float)i * 0.25f - 3.0f;
    CHECK(lf_h5_create_dataset(f, "/big/p", LF_H5_F32, 3, dims, "slab test", "probability") == 0);
    CHECK(lf_h5_write_slab(f, "/big/p", LF_H5_F32, 4, 3, all + 4 * per) == 0);
    CHECK(lf_h5_write_slab(f, "/big/p", LF_H5_F32, 0, 1, all) == 0);
    CHECK(lf_h5_write_slab(f, "/big/p", LF_H5_F32, 1, 3, all + per) == 0);
    CHECK(lf_h5_write_slab(f, "/big/p", LF_H5_F32, 6, 2, all) == -1);
    CHECK(strstr(lf_error_get(), "/big/p") && strstr(lf_error_get(), "outside"));
    CHECK(lf_h5_write_slab(f, "/big/none", LF_H5_F32, 0, 1, all) == -1);
    CHECK(strstr(lf_error_get(), "no such dataset") != NULL);
    int64_t one = 4;
    CHECK(lf_h5_create_dataset(f, "/zeros", LF_H5_I32, 1, &one, "never written", NULL) == 0);
    CHECK(lf_h5_close(f, 1) == 0);
    f = lf_h5_open("slabs.h5");
    CHECK(f != NULL);
    if (!f) {
        free(all);
        return;
    }
    int rank;
    int64_t got[8];
    float *back = NULL;
    CHECK(lf_h5_read_f32(f, "/big/p", 3, &rank, got, &back) == 0);
    CHECK(rank == 3 && got[0] == 7 && got[1] == 40 && got[2] == 300);
    CHECK(back && memcmp(back, all, 7 * per * sizeof *all) == 0);
    int32_t *z = NULL;
    CHECK(lf_h5_read_i32(f, "/zeros", 1, &rank, got, &z) == 0);
    CHECK(z && z[0] == 0 && z[3] == 0);
    char *desc = NULL;
    CHECK(lf_h5_read_attr_string(f, "/big/p", "units", &desc) == 0);
    CHECK(desc && strcmp(desc, "probability") == 0);
    lf_free(desc);
    lf_free(back);
    lf_free(z);
    lf_h5_close(f, 0);
    free(all);
}

static void test_h5py_interop(void)
{
    const char *py = NULL;
    /* The system python has h5py from Debian; a pyenv python3 on PATH may not. */
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0)
        py = "/usr/bin/python3";
    else if (system("python3 -c 'import h5py' >/dev/null 2>&1") == 0)
        py = "python3";
    if (!py) {
        printf("SKIPPED test_h5py_interop: no python3 with h5py (apt install python3-h5py)\n");
        check_notef("skipped: no h5py");
        return;
    }
    lf_h5 *f = lf_h5_create("py.h5", "h5py_check", 0);
    CHECK(f != NULL);
    if (!f) return;
    float sv[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f};
    int64_t dims[2] = {2, 3};
    int64_t layers[2] = {4, 5};
    const char *const kinds[3] = {"gaussian", "sparse", "svd"};
    CHECK(lf_h5_config_u64(f, "seed", UINT64_MAX) == 0);
    CHECK(lf_h5_config_double(f, "alpha", 0.5) == 0);
    CHECK(lf_h5_config_string(f, "name", "h\xc3\xa9llo") == 0);
    CHECK(lf_h5_write(f, "/spectrum/sv", LF_H5_F32, 2, dims, sv, "singular values", "1") == 0);
    CHECK(lf_h5_scale(f, "/spectrum/layer", LF_H5_I64, 2, layers, "layer", NULL) == 0);
    CHECK(lf_h5_scale_strings(f, "/spectrum/kind", 3, kinds, "projection kind") == 0);
    CHECK(lf_h5_attach(f, "/spectrum/sv", 0, "/spectrum/layer") == 0);
    CHECK(lf_h5_attach(f, "/spectrum/sv", 1, "/spectrum/kind") == 0);
    CHECK(lf_h5_close(f, 1) == 0);
    write_text("check.py", py_script);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s check.py py.h5 from_py.h5 %d", py, LF_SCHEMA_VERSION);
    fflush(stdout);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "h5py check failed (status %d)", rc);

    /* An input file written by h5py: big-endian float64, int16, a boolean enum. */
    lf_h5 *r = lf_h5_open("from_py.h5");
    CHECK_MSG(r != NULL, "open from_py.h5: %s", lf_error_get());
    if (!r) return;
    int rank;
    int64_t d[2];
    float *q = NULL;
    int32_t *idx = NULL;
    CHECK(lf_h5_read_f32(r, "/q", 2, &rank, d, &q) == 0 && rank == 2 && d[0] == 2 && d[1] == 3);
    for (int i = 0; q && i < 6; i++) CHECK(q[i] == (float)i / 4);
    lf_free(q);
    CHECK(lf_h5_read_i32(r, "/idx", 1, &rank, d, &idx) == 0 && d[0] == 3);
    CHECK(idx && idx[0] == 1 && idx[1] == -2 && idx[2] == 3);
    CHECK(lf_h5_read_f32(r, "/flag", 1, &rank, d, &q) == -1 && q == NULL);
    CHECK_ERR("from_py.h5: /flag: expected a numeric dataset, found enum");
    CHECK(attr_str_is(r, "/", "note", "from h5py"));
    CHECK(attr_str_is(r, "/", "fixed", "fixed"));
    int64_t n = 0;
    CHECK(lf_h5_read_attr_int(r, "/", "n", &n) == 0 && n == 12);
    lf_free(idx);
    lf_h5_close(r, 0);
    check_notef("with %s", py);
}

int main(void)
{
    check_program = "test_h5io";
    /* Start from default dispositions so the module installs its cleanup handler
     * even when this test is started as a background job (SIGINT ignored). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    char dir[] = "h5io-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("test_h5io: private directory");
        return 1;
    }

    RUN(test_roundtrip_types_ranks);
    remove_all();
    RUN(test_header_and_attributes);
    remove_all();
    RUN(test_dimension_scales);
    remove_all();
    RUN(test_large_chunked);
    remove_all();
    RUN(test_commit_publishes);
    remove_all();
    RUN(test_discard);
    remove_all();
    RUN(test_force);
    remove_all();
    RUN(test_write_errors);
    remove_all();
    RUN(test_read_errors);
    remove_all();
    RUN(test_signal_cleanup);
    remove_all();
    RUN(test_slabs);
    remove_all();
    RUN(test_h5py_interop);
    remove_all();

    if (chdir("..") == 0) rmdir(dir);
    return check_summary();
}
