/* h5io.c - HDF5 results files and inputs (see h5io.h, docs/results-format.md).
 *
 * Every HDF5 call is checked (< 0 is failure) and handles are closed in reverse
 * order of opening. HDF5's automatic error-stack printing is switched off on every
 * entry point, so users see only the one-line lf_error messages; the HDF5 build is
 * thread-safe, where that setting is per thread.
 *
 * Temporary results files are listed in a small static table that a signal
 * handler and an atexit hook can read without locks or allocation.
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#include "h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo.h"
#include "error.h"
#include "mem.h"
#include "version.h"

/* Above this size a dataset is chunked and compressed; below it the filter and
 * B-tree overhead outweighs the gain. */
#define LF_H5_CONTIGUOUS_MAX (64 * 1024)
/* Large enough for deflate to work well, small enough that reading a slice does
 * not decompress much more than it needs. */
#define LF_H5_CHUNK_BYTES (1024 * 1024)
#define LF_H5_DEFLATE_LEVEL 4
#define LF_H5_TEMP_SLOTS 16

struct lf_h5 {
    hid_t file;
    int writing;
    int force;
    int slot;       /* temp-table slot of the temporary file; -1 when none */
    int in_place;   /* published (lf_h5_publish) or opened with lf_h5_open_rw */
    char *path;     /* the name the user gave; every message names it */
    char *tmp_path; /* "PATH.tmp.PID" while writing; NULL for read handles */
};

/* ---- temporary-file table, signal handler, exit hook ------------------------ */

/* Absolute paths: the handler must still find the file if the program chdir()s. */
static char temp_paths[LF_H5_TEMP_SLOTS][PATH_MAX];
static pid_t temp_owner[LF_H5_TEMP_SLOTS];
static volatile sig_atomic_t temp_used[LF_H5_TEMP_SLOTS];
static int temp_hooks_installed;
static const int temp_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Only the registering process removes a file: a forked child that exits must not
 * delete the results its parent is still writing. */
static void temp_unlink_all(void)
{
    pid_t me = getpid();
    for (int i = 0; i < LF_H5_TEMP_SLOTS; i++)
        if (temp_used[i] && temp_owner[i] == me) unlink(temp_paths[i]);
}

/* Async-signal-safe: unlink, signal and raise only. The signal stays blocked while
 * the handler runs, so the re-raised one is delivered with the default action
 * (termination, with the right exit status for the shell) as soon as it returns. */
static void temp_on_signal(int sig)
{
    temp_unlink_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void temp_install_hooks(void)
{
    if (temp_hooks_installed) return;
    temp_hooks_installed = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = temp_on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof temp_signals / sizeof temp_signals[0]; i++)
        sigaddset(&sa.sa_mask, temp_signals[i]);
    for (size_t i = 0; i < sizeof temp_signals / sizeof temp_signals[0]; i++) {
        struct sigaction old;
        /* A program that ignores or handles the signal itself (a background job
         * ignoring SIGINT, a driver with a graceful stop) keeps its own plan. */
        if (sigaction(temp_signals[i], NULL, &old) != 0) continue;
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
        sigaction(temp_signals[i], &sa, NULL);
    }
    /* A driver that exits on an error without closing leaves no temporary file. */
    atexit(temp_unlink_all);
}

static int temp_register(const char *tmp_path)
{
    char abs[PATH_MAX];
    size_t len = strlen(tmp_path);
    if (tmp_path[0] == '/') {
        if (len >= sizeof abs) LF_FAIL("path too long (%zu bytes)", len);
        memcpy(abs, tmp_path, len + 1);
    } else {
        if (!getcwd(abs, sizeof abs))
            LF_FAIL("cannot get the current directory: %s", strerror(errno));
        size_t cwd = strlen(abs);
        if (cwd + 1 + len >= sizeof abs) LF_FAIL("path too long (%zu bytes)", cwd + 1 + len);
        abs[cwd] = '/';
        memcpy(abs + cwd + 1, tmp_path, len + 1);
    }
    /* Two handles on one name would share "PATH.tmp.PID", and the failure of the
     * second would delete the first one's file. */
    for (int i = 0; i < LF_H5_TEMP_SLOTS; i++)
        if (temp_used[i] && strcmp(temp_paths[i], abs) == 0)
            LF_FAIL("already being written by this process");
    temp_install_hooks();
    for (int i = 0; i < LF_H5_TEMP_SLOTS; i++) {
        if (temp_used[i]) continue;
        memcpy(temp_paths[i], abs, strlen(abs) + 1);
        temp_owner[i] = getpid();
        /* The handler must never see the flag before the path it guards. */
        atomic_signal_fence(memory_order_seq_cst);
        temp_used[i] = 1;
        return i;
    }
    LF_FAIL("too many results files open at once (at most %d)", LF_H5_TEMP_SLOTS);
}

static void temp_unregister(int slot)
{
    if (slot < 0) return;
    temp_used[slot] = 0;
    atomic_signal_fence(memory_order_seq_cst);
}

/* ---- small helpers ------------------------------------------------------------ */

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = lf_alloc(n, 1);
    if (d) memcpy(d, s, n);
    return d;
}

static void handle_free(lf_h5 *f)
{
    lf_free(f->tmp_path);
    lf_free(f->path);
    lf_free(f);
}

static int check_writable(lf_h5 *f)
{
    if (!f) LF_FAIL("results file: no file (NULL handle)");
    h5_quiet();
    if (!f->writing) LF_FAIL("%s: opened read-only", f->path);
    return 0;
}

static int type_info(lf_h5_type t, hid_t *file_type, hid_t *mem_type, size_t *size)
{
    switch (t) {
    case LF_H5_F32:
        *file_type = H5T_IEEE_F32LE;
        *mem_type = H5T_NATIVE_FLOAT;
        *size = 4;
        return 0;
    case LF_H5_F64:
        *file_type = H5T_IEEE_F64LE;
        *mem_type = H5T_NATIVE_DOUBLE;
        *size = 8;
        return 0;
    case LF_H5_I32:
        *file_type = H5T_STD_I32LE;
        *mem_type = H5T_NATIVE_INT32;
        *size = 4;
        return 0;
    case LF_H5_I64:
        *file_type = H5T_STD_I64LE;
        *mem_type = H5T_NATIVE_INT64;
        *size = 8;
        return 0;
    case LF_H5_U8:
        *file_type = H5T_STD_U8LE;
        *mem_type = H5T_NATIVE_UINT8;
        *size = 1;
        return 0;
    }
    LF_FAIL("unknown element type %d", (int)t);
}

static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating point";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum (a boolean?)";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* ---- attributes --------------------------------------------------------------- */

/* A scalar attribute, replacing one of the same name (resume, status updates). */
static int attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *value)
{
    htri_t exists = H5Aexists(obj, name);
    if (exists < 0) LF_FAIL("attribute '%s': HDF5 cannot look it up", name);
    if (exists > 0 && H5Adelete(obj, name) < 0)
        LF_FAIL("attribute '%s': HDF5 cannot replace it", name);
    int rc = -1;
    hid_t space = -1, attr = -1;
    if ((space = H5Screate(H5S_SCALAR)) < 0) goto done;
    if ((attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto done;
    if (H5Awrite(attr, mem_type, value) < 0) goto done;
    rc = 0;
done:
    if (attr >= 0 && H5Aclose(attr) < 0) rc = -1;
    if (space >= 0 && H5Sclose(space) < 0) rc = -1;
    if (rc) lf_error_set("attribute '%s': HDF5 cannot write it", name);
    return rc;
}

static int attr_put_string(hid_t obj, const char *name, const char *value)
{
    if (!value) LF_FAIL("attribute '%s': NULL string", name);
    hid_t t = vlen_string_type();
    if (t < 0) LF_FAIL("attribute '%s': HDF5 cannot make a string type", name);
    int rc = attr_put(obj, name, t, t, &value);
    if (H5Tclose(t) < 0 && rc == 0) {
        lf_error_set("attribute '%s': HDF5 cannot close the string type", name);
        rc = -1;
    }
    return rc;
}

static int attr_put_int(hid_t obj, const char *name, int64_t value)
{
    return attr_put(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

/* Opens a group or dataset of a writable file for attribute writes. */
static hid_t attr_target_open(lf_h5 *f, const char *object_path, const char *name)
{
    if (check_writable(f) != 0) return -1;
    if (!object_path || !*object_path || !name || !*name) {
        lf_error_set("%s: an attribute needs an object path and a non-empty name", f->path);
        return -1;
    }
    if (!lf_h5_has(f, object_path)) {
        lf_error_set("%s: %s: no such group or dataset", f->path, object_path);
        return -1;
    }
    hid_t obj = H5Oopen(f->file, object_path, H5P_DEFAULT);
    if (obj < 0) lf_error_set("%s: %s: HDF5 cannot open it", f->path, object_path);
    return obj;
}

static int attr_target_close(lf_h5 *f, const char *object_path, hid_t obj, int rc)
{
    if (H5Oclose(obj) < 0 && rc == 0) {
        lf_error_set("HDF5 cannot close it");
        rc = -1;
    }
    if (rc) lf_error_prefix("%s: %s", f->path, object_path);
    return rc;
}

int lf_h5_attr_int(lf_h5 *f, const char *object_path, const char *name, int64_t value)
{
    hid_t obj = attr_target_open(f, object_path, name);
    if (obj < 0) return -1;
    return attr_target_close(f, object_path, obj, attr_put_int(obj, name, value));
}

int lf_h5_attr_u64(lf_h5 *f, const char *object_path, const char *name, uint64_t value)
{
    hid_t obj = attr_target_open(f, object_path, name);
    if (obj < 0) return -1;
    return attr_target_close(f, object_path, obj,
                             attr_put(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value));
}

int lf_h5_attr_double(lf_h5 *f, const char *object_path, const char *name, double value)
{
    hid_t obj = attr_target_open(f, object_path, name);
    if (obj < 0) return -1;
    return attr_target_close(f, object_path, obj,
                             attr_put(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value));
}

int lf_h5_attr_string(lf_h5 *f, const char *object_path, const char *name, const char *value)
{
    hid_t obj = attr_target_open(f, object_path, name);
    if (obj < 0) return -1;
    return attr_target_close(f, object_path, obj, attr_put_string(obj, name, value));
}

int lf_h5_config_int(lf_h5 *f, const char *name, int64_t value)
{
    return lf_h5_attr_int(f, "/config", name, value);
}

int lf_h5_config_u64(lf_h5 *f, const char *name, uint64_t value)
{
    return lf_h5_attr_u64(f, "/config", name, value);
}

int lf_h5_config_double(lf_h5 *f, const char *name, double value)
{
    return lf_h5_attr_double(f, "/config", name, value);
}

int lf_h5_config_string(lf_h5 *f, const char *name, const char *value)
{
    return lf_h5_attr_string(f, "/config", name, value);
}

/* ---- creating and closing results files -------------------------------------- */

/* Groups that track attribute and link creation order, so h5py and h5dump list
 * /config in the order the driver wrote it rather than alphabetically. */
static hid_t ordered_gcpl(hid_t cls)
{
    hid_t p = H5Pcreate(cls);
    if (p < 0) return -1;
    unsigned flags = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if (H5Pset_attr_creation_order(p, flags) < 0 || H5Pset_link_creation_order(p, flags) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

static int write_header(lf_h5 *f, const char *experiment)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        LF_FAIL("cannot format the current time");

    int rc = -1;
    hid_t gcpl = -1, root = -1, code = -1, config = -1;
    if ((gcpl = ordered_gcpl(H5P_GROUP_CREATE)) < 0) goto hdf5_fail;
    if ((root = H5Gopen2(f->file, "/", H5P_DEFAULT)) < 0) goto hdf5_fail;
    if (attr_put_string(root, "experiment", experiment) != 0) goto done;
    if (attr_put_string(root, "created", created) != 0) goto done;
    if (attr_put_int(root, "schema_version", LF_SCHEMA_VERSION) != 0) goto done;
    if (attr_put_string(root, "suite_version", LF_VERSION) != 0) goto done;

    if ((code = H5Gcreate2(f->file, "/code", H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0) goto hdf5_fail;
    if (attr_put_string(code, "git_revision", lf_build_git_revision()) != 0) goto done;
    if (attr_put_int(code, "git_dirty", lf_build_git_dirty()) != 0) goto done;
    if (attr_put_string(code, "compiler", lf_build_compiler()) != 0) goto done;
    if (attr_put_string(code, "cflags", lf_build_cflags()) != 0) goto done;
    if (attr_put_string(code, "blas", lf_build_blas()) != 0) goto done;
    if (attr_put_string(code, "lapack_version", lf_build_lapack_version()) != 0) goto done;
    if (attr_put_string(code, "hdf5_version", lf_build_hdf5_version()) != 0) goto done;
    if (attr_put_int(code, "cuda_backend", lf_build_cuda()) != 0) goto done;

    if ((config = H5Gcreate2(f->file, "/config", H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0)
        goto hdf5_fail;
    rc = 0;
    goto done;
hdf5_fail:
    lf_error_set("HDF5 cannot write the file header");
done:
    if (config >= 0 && H5Gclose(config) < 0) rc = -1;
    if (code >= 0 && H5Gclose(code) < 0) rc = -1;
    if (root >= 0 && H5Gclose(root) < 0) rc = -1;
    if (gcpl >= 0 && H5Pclose(gcpl) < 0) rc = -1;
    return rc;
}

lf_h5 *lf_h5_create(const char *path, const char *experiment, int force)
{
    h5_quiet();
    if (!path || !*path) {
        lf_error_set("results file: empty path");
        return NULL;
    }
    if (!experiment || !*experiment) {
        lf_error_set("%s: empty experiment name", path);
        return NULL;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!force) {
            lf_error_set("%s exists; pass --force to overwrite", path);
            return NULL;
        }
        if (S_ISDIR(st.st_mode)) {
            lf_error_set("%s is a directory", path);
            return NULL;
        }
    } else if (errno != ENOENT) {
        lf_error_set("%s: %s", path, strerror(errno));
        return NULL;
    }

    lf_h5 *f = lf_calloc(1, sizeof *f);
    if (!f) {
        lf_error_prefix("%s", path);
        return NULL;
    }
    f->file = -1;
    f->slot = -1;
    f->writing = 1;
    f->force = force ? 1 : 0;
    int created = 0;
    size_t tmp_len = strlen(path) + 32;
    if (!(f->path = dup_string(path)) || !(f->tmp_path = lf_alloc(tmp_len, 1))) {
        lf_error_prefix("%s", path);
        goto fail;
    }
    snprintf(f->tmp_path, tmp_len, "%s.tmp.%ld", path, (long)getpid());

    /* Registered before the file exists: no moment where a signal would leave it. */
    if ((f->slot = temp_register(f->tmp_path)) < 0) {
        lf_error_prefix("%s", path);
        goto fail;
    }
    /* Creating it with open() first turns an unwritable or missing directory into
     * the system's own words instead of HDF5's generic failure. */
    int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        lf_error_set("%s: cannot create temporary file %s: %s", path, f->tmp_path, strerror(errno));
        goto fail;
    }
    close(fd);
    created = 1;

    hid_t fcpl = ordered_gcpl(H5P_FILE_CREATE), fapl = -1;
    /* Strong close: H5Fclose really closes the file, so the rename that follows
     * publishes a complete file even if some object id leaked. */
    if (fcpl >= 0 && (fapl = H5Pcreate(H5P_FILE_ACCESS)) >= 0 &&
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        f->file = H5Fcreate(f->tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    int plists_ok = (fapl < 0 || H5Pclose(fapl) >= 0) & (fcpl < 0 || H5Pclose(fcpl) >= 0);
    if (f->file < 0 || !plists_ok) {
        lf_error_set("%s: HDF5 cannot create temporary file %s", path, f->tmp_path);
        goto fail;
    }
    if (write_header(f, experiment) != 0) {
        lf_error_prefix("%s", path);
        goto fail;
    }
    return f;

fail:
    if (f->file >= 0) H5Fclose(f->file);
    if (created) unlink(f->tmp_path);
    temp_unregister(f->slot);
    handle_free(f);
    return NULL;
}

/* Data reach the disk before the name does, so a crash right after the rename
 * cannot publish a file with missing blocks. */
static int sync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && (e == EINVAL || e == EROFS)) r = 0; /* nothing to sync there */
    errno = e;
    return r;
}

static int commit_rename(lf_h5 *f)
{
    if (f->force) {
        if (rename(f->tmp_path, f->path) != 0)
            LF_FAIL("%s: cannot rename %s to it: %s", f->path, f->tmp_path, strerror(errno));
        return 0;
    }
    /* Without --force, results that appeared while this run was writing (another
     * run with the same output) must not be replaced: rename only if absent. */
    int r = renameat2(AT_FDCWD, f->tmp_path, AT_FDCWD, f->path, RENAME_NOREPLACE);
    if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
        /* A filesystem without RENAME_NOREPLACE: check, then rename. */
        struct stat st;
        if (lstat(f->path, &st) == 0) {
            errno = EEXIST;
        } else {
            r = rename(f->tmp_path, f->path);
        }
    }
    if (r == 0) return 0;
    if (errno == EEXIST)
        LF_FAIL("%s exists; pass --force to overwrite (it appeared while this run was writing)",
                f->path);
    LF_FAIL("%s: cannot rename %s to it: %s", f->path, f->tmp_path, strerror(errno));
}

int lf_h5_close(lf_h5 *f, int commit)
{
    if (!f) return 0;
    h5_quiet();
    int rc = 0;
    if (!f->writing) {
        if (H5Fclose(f->file) < 0) {
            lf_error_set("%s: HDF5 cannot close it", f->path);
            rc = -1;
        }
        handle_free(f);
        return rc;
    }
    if (f->in_place) { /* a log under its final name: never removed here */
        if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0 || H5Fclose(f->file) < 0) {
            lf_error_set("%s: HDF5 cannot flush and close it (disk full?)", f->path);
            rc = -1;
        }
        handle_free(f);
        return rc;
    }
    if (commit) {
        if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0) {
            lf_error_set("%s: HDF5 cannot flush %s (disk full?)", f->path, f->tmp_path);
            rc = -1;
        }
        if (H5Fclose(f->file) < 0 && rc == 0) {
            lf_error_set("%s: HDF5 cannot close %s (disk full?)", f->path, f->tmp_path);
            rc = -1;
        }
        if (rc == 0 && sync_file(f->tmp_path) != 0) {
            lf_error_set("%s: cannot sync %s: %s", f->path, f->tmp_path, strerror(errno));
            rc = -1;
        }
        if (rc == 0) rc = commit_rename(f);
        if (rc != 0) unlink(f->tmp_path);
    } else {
        H5Fclose(f->file); /* being discarded: a close error changes nothing */
        unlink(f->tmp_path);
    }
    /* Only now: a signal between the rename and here unlinks a name that is gone. */
    temp_unregister(f->slot);
    handle_free(f);
    return rc;
}

/* ---- datasets ----------------------------------------------------------------- */

/* Chunks span the trailing dimensions in full as far as the budget allows, then
 * part of the next one, so that a chunk is a contiguous slab of the array. */
static void chunk_plan(int rank, const hsize_t *dims, size_t elsize, hsize_t *chunk)
{
    hsize_t budget = LF_H5_CHUNK_BYTES / elsize, inner = 1;
    int i;
    for (i = rank - 1; i >= 0; i--) {
        if (dims[i] <= budget / inner) {
            chunk[i] = dims[i];
            inner *= dims[i];
        } else {
            chunk[i] = budget / inner; /* >= 1: inner never exceeds budget */
            break;
        }
    }
    for (i--; i >= 0; i--) chunk[i] = 1;
}

/* Creates and fills a dataset with its description and units; returns it open
 * (the caller closes it) or -1 with "FILE: PATH: why" set, leaving no dataset. */
static hid_t dataset_create(lf_h5 *f, const char *path, hid_t file_type, hid_t mem_type,
                            size_t elsize, int compressible, int rank, const int64_t *dims,
                            const void *data, const char *description, const char *units,
                            int deferred)
{
    if (check_writable(f) != 0) return -1;
    if (!path || !*path || path[strlen(path) - 1] == '/') {
        lf_error_set("%s: dataset path '%s' has no name", f->path, path ? path : "");
        return -1;
    }
    if (!description || !*description) {
        lf_error_set("%s: %s: a description is required", f->path, path);
        return -1;
    }
    if (rank < 0 || rank > LF_H5_MAX_RANK) {
        lf_error_set("%s: %s: rank %d is outside 0..%d", f->path, path, rank, LF_H5_MAX_RANK);
        return -1;
    }
    if (rank > 0 && !dims) {
        lf_error_set("%s: %s: no dimensions given", f->path, path);
        return -1;
    }
    size_t count, bytes;
    if (lf_size_dims(rank, dims, &count) != 0 || lf_size_mul(count, elsize, &bytes) != 0) {
        lf_error_prefix("%s: %s", f->path, path);
        return -1;
    }
    if (count > 0 && !data && !deferred) {
        lf_error_set("%s: %s: no data given", f->path, path);
        return -1;
    }
    if (lf_h5_has(f, path)) {
        lf_error_set("%s: %s: already exists", f->path, path);
        return -1;
    }

    hsize_t hdims[LF_H5_MAX_RANK], chunk[LF_H5_MAX_RANK];
    for (int i = 0; i < rank; i++) hdims[i] = (hsize_t)dims[i];
    const char *why = "HDF5 cannot create it";
    hid_t space = -1, lcpl = -1, dcpl = -1, dset = -1;
    int linked = 0, ok = 0;
    if ((space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, hdims, NULL)) < 0)
        goto done;
    if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto done;
    if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0) goto done;
    if (compressible && bytes > LF_H5_CONTIGUOUS_MAX) {
        chunk_plan(rank, hdims, elsize, chunk);
        /* Fletcher32 last: on reading it runs first and checks the stored bytes. */
        why = "HDF5 cannot set up chunking and compression";
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, LF_H5_DEFLATE_LEVEL) < 0 || H5Pset_fletcher32(dcpl) < 0)
            goto done;
    }
    why = "HDF5 cannot create it (is a parent path a dataset?)";
    if ((dset = H5Dcreate2(f->file, path, file_type, space, lcpl, dcpl, H5P_DEFAULT)) < 0)
        goto done;
    linked = 1;
    why = "HDF5 cannot write it (disk full?)";
    if (count > 0 && data && H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        goto done;
    why = "HDF5 cannot write its attributes";
    if (attr_put_string(dset, "description", description) != 0) goto done;
    if (units && attr_put_string(dset, "units", units) != 0) goto done;
    ok = 1;
done:
    if (dcpl >= 0 && H5Pclose(dcpl) < 0) ok = 0;
    if (lcpl >= 0 && H5Pclose(lcpl) < 0) ok = 0;
    if (space >= 0 && H5Sclose(space) < 0) ok = 0;
    if (ok) return dset;
    lf_error_set("%s: %s: %s", f->path, path, why);
    if (dset >= 0) H5Dclose(dset);
    /* A half-written dataset would block a retry under the same name. */
    if (linked) H5Ldelete(f->file, path, H5P_DEFAULT);
    return -1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Makes the open dataset a dimension scale named after itself, then closes it. */
static int finish_scale(lf_h5 *f, const char *path, hid_t dset, int make_scale)
{
    int rc = 0;
    if (make_scale && H5DSset_scale(dset, base_name(path)) < 0) {
        lf_error_set("%s: %s: HDF5 cannot make it a dimension scale", f->path, path);
        rc = -1;
    }
    if (H5Dclose(dset) < 0 && rc == 0) {
        lf_error_set("%s: %s: HDF5 cannot close it", f->path, path);
        rc = -1;
    }
    if (rc) H5Ldelete(f->file, path, H5P_DEFAULT);
    return rc;
}

int lf_h5_write(lf_h5 *f, const char *path, lf_h5_type type, int rank, const int64_t *dims,
                const void *data, const char *description, const char *units)
{
    hid_t file_type, mem_type;
    size_t elsize;
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        if (f) lf_error_prefix("%s: %s", f->path, path ? path : "");
        return -1;
    }
    hid_t dset = dataset_create(f, path, file_type, mem_type, elsize, 1, rank, dims, data,
                                description, units, 0);
    if (dset < 0) return -1;
    return finish_scale(f, path, dset, 0);
}

static int dataset_shape(hid_t dset, int *rank, hsize_t *dims);

int lf_h5_create_dataset(lf_h5 *f, const char *path, lf_h5_type type, int rank,
                         const int64_t *dims, const char *description, const char *units)
{
    hid_t file_type, mem_type;
    size_t elsize;
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        if (f) lf_error_prefix("%s: %s", f->path, path ? path : "");
        return -1;
    }
    if (rank < 1) {
        lf_error_set("%s: %s: a dataset written in slabs needs rank >= 1", f ? f->path : "",
                     path ? path : "");
        return -1;
    }
    hid_t dset = dataset_create(f, path, file_type, mem_type, elsize, 1, rank, dims, NULL,
                                description, units, 1);
    if (dset < 0) return -1;
    return finish_scale(f, path, dset, 0);
}

int lf_h5_write_slab(lf_h5 *f, const char *path, lf_h5_type type, int64_t first, int64_t count,
                     const void *data)
{
    hid_t file_type, mem_type;
    size_t elsize;
    if (check_writable(f) != 0) return -1;
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        lf_error_prefix("%s: %s", f->path, path ? path : "");
        return -1;
    }
    if (!lf_h5_has(f, path)) {
        lf_error_set("%s: %s: no such dataset (create it with lf_h5_create_dataset)", f->path,
                     path ? path : "");
        return -1;
    }
    hid_t dset = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (dset < 0) {
        lf_error_set("%s: %s: HDF5 cannot open it", f->path, path);
        return -1;
    }
    int rank;
    hsize_t dims[LF_H5_MAX_RANK];
    int rc = -1;
    hid_t fspace = -1, mspace = -1;
    if (dataset_shape(dset, &rank, dims) != 0 || rank < 1) {
        lf_error_set("%s: %s: cannot read its shape", f->path, path);
        goto done;
    }
    if (first < 0 || count < 0 || (hsize_t)first + (hsize_t)count > dims[0]) {
        lf_error_set("%s: %s: slab [%lld, %lld) is outside 0..%llu along the first dimension",
                     f->path, path, (long long)first, (long long)(first + count),
                     (unsigned long long)dims[0]);
        goto done;
    }
    if (count == 0) {
        rc = 0;
        goto done;
    }
    if (!data) {
        lf_error_set("%s: %s: no data given", f->path, path);
        goto done;
    }
    hsize_t start[LF_H5_MAX_RANK] = {0}, extent[LF_H5_MAX_RANK];
    for (int i = 0; i < rank; i++) extent[i] = dims[i];
    start[0] = (hsize_t)first;
    extent[0] = (hsize_t)count;
    if ((fspace = H5Dget_space(dset)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, extent, NULL) < 0 ||
        (mspace = H5Screate_simple(rank, extent, NULL)) < 0 ||
        H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, data) < 0) {
        lf_error_set("%s: %s: HDF5 cannot write rows %lld..%lld (disk full?)", f->path, path,
                     (long long)first, (long long)(first + count - 1));
        goto done;
    }
    rc = 0;
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    H5Dclose(dset);
    return rc;
}

int lf_h5_scale(lf_h5 *f, const char *path, lf_h5_type type, int64_t len, const void *values,
                const char *description, const char *units)
{
    hid_t file_type, mem_type;
    size_t elsize;
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        if (f) lf_error_prefix("%s: %s", f->path, path ? path : "");
        return -1;
    }
    hid_t dset = dataset_create(f, path, file_type, mem_type, elsize, 1, 1, &len, values,
                                description, units, 0);
    if (dset < 0) return -1;
    return finish_scale(f, path, dset, 1);
}

int lf_h5_scale_range(lf_h5 *f, const char *path, int64_t len, int64_t first,
                      const char *description)
{
    if (len < 0 || first < INT32_MIN || first > INT32_MAX || first + len - 1 > INT32_MAX)
        LF_FAIL("%s: %s: range of %lld from %lld does not fit int32", f ? f->path : "",
                path ? path : "", (long long)len, (long long)first);
    int32_t *v = lf_alloc((size_t)(len > 0 ? len : 1), sizeof *v);
    if (!v) return -1;
    for (int64_t i = 0; i < len; i++) v[i] = (int32_t)(first + i);
    int rc = lf_h5_scale(f, path, LF_H5_I32, len, v, description, NULL);
    lf_free(v);
    return rc;
}

static int strings_create(lf_h5 *f, const char *path, int rank, const int64_t *dims,
                          const char *const *values, const char *description, int make_scale)
{
    if (check_writable(f) != 0) return -1;
    if (rank < 1 || rank > LF_H5_MAX_RANK)
        LF_FAIL("%s: %s: rank %d out of range [1, %d]", f->path, path ? path : "", rank,
                LF_H5_MAX_RANK);
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && count > INT64_MAX / dims[i]))
            LF_FAIL("%s: %s: bad dimension %lld", f->path, path ? path : "", (long long)dims[i]);
        count *= dims[i];
    }
    for (int64_t i = 0; values && i < count; i++)
        if (!values[i])
            LF_FAIL("%s: %s: string %lld is NULL", f->path, path ? path : "", (long long)i);
    hid_t t = vlen_string_type();
    if (t < 0) LF_FAIL("%s: %s: HDF5 cannot make a string type", f->path, path ? path : "");
    /* Not compressible: the filters would see only heap references, not text. */
    hid_t dset =
        dataset_create(f, path, t, t, sizeof(char *), 0, rank, dims, values, description, NULL, 0);
    H5Tclose(t);
    if (dset < 0) return -1;
    return finish_scale(f, path, dset, make_scale);
}

int lf_h5_write_strings(lf_h5 *f, const char *path, int64_t count, const char *const *values,
                        const char *description)
{
    return strings_create(f, path, 1, &count, values, description, 0);
}

int lf_h5_write_strings_nd(lf_h5 *f, const char *path, int rank, const int64_t *dims,
                           const char *const *values, const char *description)
{
    return strings_create(f, path, rank, dims, values, description, 0);
}

int lf_h5_scale_strings(lf_h5 *f, const char *path, int64_t count, const char *const *values,
                        const char *description)
{
    return strings_create(f, path, 1, &count, values, description, 1);
}

/* Rank and dimensions of an open dataset; -1 (no message) on failure. */
static int dataset_shape(hid_t dset, int *rank, hsize_t *dims)
{
    hid_t space = H5Dget_space(dset);
    if (space < 0) return -1;
    int nd = H5Sget_simple_extent_ndims(space);
    int rc =
        nd >= 0 && nd <= H5S_MAX_RANK && H5Sget_simple_extent_dims(space, dims, NULL) >= 0 ? 0 : -1;
    H5Sclose(space);
    *rank = nd;
    return rc;
}

int lf_h5_attach(lf_h5 *f, const char *dataset_path, int dim, const char *scale_path)
{
    LF_TRY(check_writable(f));
    if (!dataset_path || !scale_path) LF_FAIL("%s: attach: NULL path", f->path);
    if (!lf_h5_has(f, dataset_path)) LF_FAIL("%s: %s: no such dataset", f->path, dataset_path);
    if (!lf_h5_has(f, scale_path)) LF_FAIL("%s: %s: no such dimension scale", f->path, scale_path);
    int rc = -1;
    hid_t dset = -1, scale = -1;
    int rank, scale_rank;
    hsize_t dims[H5S_MAX_RANK], scale_dims[H5S_MAX_RANK];
    if ((dset = H5Dopen2(f->file, dataset_path, H5P_DEFAULT)) < 0) {
        lf_error_set("%s: %s: not a dataset", f->path, dataset_path);
        goto done;
    }
    if ((scale = H5Dopen2(f->file, scale_path, H5P_DEFAULT)) < 0) {
        lf_error_set("%s: %s: not a dataset", f->path, scale_path);
        goto done;
    }
    if (H5DSis_scale(scale) <= 0) {
        lf_error_set("%s: %s: not a dimension scale (write it with lf_h5_scale)", f->path,
                     scale_path);
        goto done;
    }
    if (dataset_shape(dset, &rank, dims) != 0 ||
        dataset_shape(scale, &scale_rank, scale_dims) != 0) {
        lf_error_set("%s: %s: HDF5 cannot read the shapes", f->path, dataset_path);
        goto done;
    }
    if (dim < 0 || dim >= rank) {
        lf_error_set("%s: %s: dimension %d does not exist (rank %d)", f->path, dataset_path, dim,
                     rank);
        goto done;
    }
    if (scale_rank != 1 || scale_dims[0] != dims[dim]) {
        lf_error_set("%s: %s: scale %s has %llu values but dimension %d has %llu", f->path,
                     dataset_path, scale_path,
                     scale_rank == 1 ? (unsigned long long)scale_dims[0] : 0ULL, dim,
                     (unsigned long long)dims[dim]);
        goto done;
    }
    if (H5DSattach_scale(dset, scale, (unsigned)dim) < 0) {
        lf_error_set("%s: %s: HDF5 cannot attach scale %s to dimension %d", f->path, dataset_path,
                     scale_path, dim);
        goto done;
    }
    rc = 0;
done:
    if (scale >= 0 && H5Dclose(scale) < 0 && rc == 0) {
        lf_error_set("%s: %s: HDF5 cannot close it", f->path, scale_path);
        rc = -1;
    }
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == 0) {
        lf_error_set("%s: %s: HDF5 cannot close it", f->path, dataset_path);
        rc = -1;
    }
    return rc;
}

/* ---- reading ------------------------------------------------------------------ */

lf_h5 *lf_h5_open(const char *path)
{
    h5_quiet();
    if (!path || !*path) {
        lf_error_set("HDF5 input: empty path");
        return NULL;
    }
    /* The system's answer first: HDF5 says only "unable to open" for every cause. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            lf_error_set("%s: no such file", path);
        else
            lf_error_set("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (is_dir) {
        lf_error_set("%s: is a directory, not an HDF5 file", path);
        return NULL;
    }
#if H5_VERSION_GE(1, 12, 0)
    htri_t is_hdf5 = H5Fis_accessible(path, H5P_DEFAULT);
#else
    htri_t is_hdf5 = H5Fis_hdf5(path);
#endif
    if (is_hdf5 <= 0) {
        lf_error_set("%s: not an HDF5 file", path);
        return NULL;
    }
    lf_h5 *f = lf_calloc(1, sizeof *f);
    if (!f || !(f->path = dup_string(path))) {
        lf_error_prefix("%s", path);
        if (f) handle_free(f);
        return NULL;
    }
    f->slot = -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    f->file = -1;
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        f->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0 && H5Pclose(fapl) < 0 && f->file >= 0) {
        H5Fclose(f->file);
        f->file = -1;
    }
    if (f->file < 0) {
        lf_error_set("%s: HDF5 cannot open it (damaged, or locked by a program writing it?)", path);
        handle_free(f);
        return NULL;
    }
    return f;
}

int lf_h5_has(lf_h5 *f, const char *path)
{
    if (!f || f->file < 0 || !path || !*path) return 0;
    h5_quiet();
    /* Walk the path one component at a time: H5Lexists fails (rather than saying
     * no) when an intermediate group is missing. */
    size_t len = strlen(path);
    char *norm = lf_alloc(len + 2, 1);
    if (!norm) return 0;
    size_t n = 0;
    int found = 1;
    const char *p = path;
    while (found && *p) {
        while (*p == '/') p++;
        const char *end = p;
        while (*end && *end != '/') end++;
        size_t clen = (size_t)(end - p);
        if (clen > 0 && !(clen == 1 && *p == '.')) {
            norm[n++] = '/';
            memcpy(norm + n, p, clen);
            n += clen;
            norm[n] = '\0';
            found = H5Lexists(f->file, norm, H5P_DEFAULT) > 0;
        }
        p = end;
    }
    /* The last link must also lead somewhere (a dangling soft link does not). */
    if (found && n > 0) found = H5Oexists_by_name(f->file, norm, H5P_DEFAULT) > 0;
    lf_free(norm);
    return found;
}

/* Integer targets: a value that does not fit aborts the read instead of being
 * clamped to the type's limits, as HDF5 would do by default. */
static H5T_conv_ret_t conv_range_abort(H5T_conv_except_t except, hid_t src, hid_t dst,
                                       void *src_buf, void *dst_buf, void *user)
{
    (void)src, (void)dst, (void)src_buf, (void)dst_buf;
    if (except == H5T_CONV_EXCEPT_RANGE_HI || except == H5T_CONV_EXCEPT_RANGE_LOW) {
        *(int *)user = 1;
        return H5T_CONV_ABORT;
    }
    return H5T_CONV_UNHANDLED;
}

/* Reads all `count` values of dset converted to mem_type; -1 on failure, with
 * *out_of_range set when a value did not fit; -2 when out of memory (error set). */
static int read_values(hid_t dset, hid_t ftype, hid_t mem_type, size_t count, void *buf,
                       int *out_of_range)
{
    *out_of_range = 0;
    if (H5Tget_class(mem_type) == H5T_INTEGER) {
        hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
        int rc = dxpl >= 0 && H5Pset_type_conv_cb(dxpl, conv_range_abort, out_of_range) >= 0 &&
                         H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, dxpl, buf) >= 0
                     ? 0
                     : -1;
        if (dxpl >= 0 && H5Pclose(dxpl) < 0) rc = -1;
        return rc;
    }
    /* Narrowing wider floats to float32: HDF5 reports infinities and overflow as
     * the same range exception, so narrow here, where an infinity in the file can
     * stay one while a finite value too large for float32 is an error. */
    if (H5Tequal(mem_type, H5T_NATIVE_FLOAT) > 0 && H5Tget_class(ftype) == H5T_FLOAT &&
        H5Tget_size(ftype) > sizeof(float)) {
        double *wide = lf_alloc(count, sizeof(double));
        if (!wide) return -2;
        int rc =
            H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide) >= 0 ? 0 : -1;
        float *out = buf;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            out[i] = (float)wide[i];
            if (isinf(out[i]) && !isinf(wide[i])) {
                *out_of_range = 1;
                rc = -1;
            }
        }
        lf_free(wide);
        return rc;
    }
    return H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0 ? 0 : -1;
}

static int read_numeric(lf_h5 *f, const char *path, hid_t mem_type, size_t elsize,
                        int integers_only, const char *type_name, int max_rank, int *rank,
                        int64_t *dims, void **data)
{
    if (!data) LF_FAIL("HDF5 read: NULL output");
    *data = NULL;
    if (!f) LF_FAIL("HDF5 read: no file (NULL handle)");
    h5_quiet();
    if (!path || !rank || (max_rank > 0 && !dims)) LF_FAIL("%s: read: NULL argument", f->path);
    if (max_rank < 0 || max_rank > H5S_MAX_RANK)
        LF_FAIL("%s: %s: bad max_rank %d", f->path, path, max_rank);
    if (!lf_h5_has(f, path)) LF_FAIL("%s: %s: no such dataset", f->path, path);

    int rc = -1;
    hid_t dset = -1, ftype = -1, space = -1;
    void *buf = NULL;
    if ((dset = H5Oopen(f->file, path, H5P_DEFAULT)) < 0) {
        lf_error_set("%s: %s: HDF5 cannot open it", f->path, path);
        goto done;
    }
    if (H5Iget_type(dset) != H5I_DATASET) {
        lf_error_set("%s: %s: expected a dataset, found a %s", f->path, path,
                     H5Iget_type(dset) == H5I_GROUP ? "group" : "named datatype");
        goto done;
    }
    if ((ftype = H5Dget_type(dset)) < 0) {
        lf_error_set("%s: %s: HDF5 cannot read its type", f->path, path);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls != H5T_INTEGER && (cls != H5T_FLOAT || integers_only)) {
        lf_error_set("%s: %s: expected a%s dataset, found %s values", f->path, path,
                     integers_only ? "n integer" : " numeric", class_name(cls));
        goto done;
    }
    if ((space = H5Dget_space(dset)) < 0) {
        lf_error_set("%s: %s: HDF5 cannot read its shape", f->path, path);
        goto done;
    }
    if (H5Sget_simple_extent_type(space) == H5S_NULL) {
        lf_error_set("%s: %s: has no data (null dataspace)", f->path, path);
        goto done;
    }
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t hdims[H5S_MAX_RANK];
    if (nd < 0 || nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(space, hdims, NULL) < 0) {
        lf_error_set("%s: %s: HDF5 cannot read its shape", f->path, path);
        goto done;
    }
    if (nd > max_rank) {
        lf_error_set("%s: %s: rank %d exceeds %d", f->path, path, nd, max_rank);
        goto done;
    }
    for (int i = 0; i < nd; i++) {
        if (hdims[i] > (hsize_t)INT64_MAX) {
            lf_error_set("%s: %s: dimension %d is too large", f->path, path, i);
            goto done;
        }
        dims[i] = (int64_t)hdims[i];
    }
    size_t count;
    if (lf_size_dims(nd, dims, &count) != 0 || !(buf = lf_alloc(count, elsize))) {
        lf_error_prefix("%s: %s", f->path, path);
        goto done;
    }
    int out_of_range,
        got = count > 0 ? read_values(dset, ftype, mem_type, count, buf, &out_of_range) : 0;
    if (got != 0) {
        if (got == -2)
            lf_error_prefix("%s: %s", f->path, path);
        else if (out_of_range)
            lf_error_set("%s: %s: values out of range for %s", f->path, path, type_name);
        else
            lf_error_set("%s: %s: HDF5 cannot read it (damaged file or missing filter?)", f->path,
                         path);
        goto done;
    }
    *rank = nd;
    *data = buf;
    buf = NULL;
    rc = 0;
done:
    lf_free(buf);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (dset >= 0) H5Oclose(dset);
    return rc;
}

int lf_h5_read_f32(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims, float **data)
{
    return read_numeric(f, path, H5T_NATIVE_FLOAT, sizeof(float), 0, "float32", max_rank, rank,
                        dims, (void **)data);
}

int lf_h5_read_f64(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims,
                   double **data)
{
    return read_numeric(f, path, H5T_NATIVE_DOUBLE, sizeof(double), 0, "float64", max_rank, rank,
                        dims, (void **)data);
}

int lf_h5_read_i32(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims,
                   int32_t **data)
{
    return read_numeric(f, path, H5T_NATIVE_INT32, sizeof(int32_t), 1, "int32", max_rank, rank,
                        dims, (void **)data);
}

/* Opens a single-valued attribute and its type; on failure sets "FILE: OBJ: why". */
static int attr_open_value(lf_h5 *f, const char *object_path, const char *name, hid_t *attr,
                           hid_t *type)
{
    *attr = *type = -1;
    if (!f) LF_FAIL("HDF5 attribute: no file (NULL handle)");
    h5_quiet();
    if (!object_path || !name) LF_FAIL("%s: attribute: NULL argument", f->path);
    if (!lf_h5_has(f, object_path))
        LF_FAIL("%s: %s: no such group or dataset", f->path, object_path);
    htri_t exists = H5Aexists_by_name(f->file, object_path, name, H5P_DEFAULT);
    if (exists <= 0) LF_FAIL("%s: %s: no attribute '%s'", f->path, object_path, name);
    if ((*attr = H5Aopen_by_name(f->file, object_path, name, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        LF_FAIL("%s: %s: HDF5 cannot open attribute '%s'", f->path, object_path, name);
    hid_t space = H5Aget_space(*attr);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0) H5Sclose(space);
    if ((*type = H5Aget_type(*attr)) < 0 || points != 1) {
        lf_error_set("%s: %s: attribute '%s' %s", f->path, object_path, name,
                     points != 1 ? "is not a single value" : "has an unreadable type");
        if (*type >= 0) H5Tclose(*type);
        H5Aclose(*attr);
        *attr = *type = -1;
        return -1;
    }
    return 0;
}

static void attr_close_value(hid_t attr, hid_t type)
{
    H5Tclose(type);
    H5Aclose(attr);
}

int lf_h5_read_attr_string(lf_h5 *f, const char *object_path, const char *name, char **value)
{
    if (!value) LF_FAIL("HDF5 attribute: NULL output");
    *value = NULL;
    hid_t attr, type;
    LF_TRY(attr_open_value(f, object_path, name, &attr, &type));
    int rc = -1;
    hid_t mem = -1;
    char *out = NULL;
    if (H5Tget_class(type) != H5T_STRING) {
        lf_error_set("%s: %s: attribute '%s' is %s, not a string", f->path, object_path, name,
                     class_name(H5Tget_class(type)));
        goto done;
    }
    htri_t variable = H5Tis_variable_str(type);
    if (variable > 0) {
        char *s = NULL;
        if ((mem = vlen_string_type()) < 0 || H5Tset_cset(mem, H5Tget_cset(type)) < 0 ||
            H5Aread(attr, mem, &s) < 0)
            goto hdf5_fail;
        out = dup_string(s ? s : "");
        H5free_memory(s);
        if (!out) goto alloc_fail;
    } else if (variable == 0) {
        size_t size = H5Tget_size(type);
        if (size == 0 || (mem = H5Tcopy(type)) < 0) goto hdf5_fail;
        if (!(out = lf_calloc(size + 1, 1))) goto alloc_fail;
        if (H5Aread(attr, mem, out) < 0) goto hdf5_fail;
        /* Fixed-length strings may be space-padded (Fortran, some h5py writers). */
        if (H5Tget_strpad(type) == H5T_STR_SPACEPAD)
            for (size_t n = strlen(out); n > 0 && out[n - 1] == ' '; n--) out[n - 1] = '\0';
    } else {
        goto hdf5_fail;
    }
    *value = out;
    out = NULL;
    rc = 0;
    goto done;
hdf5_fail:
    lf_error_set("%s: %s: HDF5 cannot read attribute '%s'", f->path, object_path, name);
    goto done;
alloc_fail:
    lf_error_prefix("%s: %s: attribute '%s'", f->path, object_path, name);
done:
    lf_free(out);
    if (mem >= 0) H5Tclose(mem);
    attr_close_value(attr, type);
    return rc;
}

/* Integers are read through 64 bits of the source's signedness so that a value that
 * does not fit the requested type is reported rather than clamped. */
static int attr_read_integer(lf_h5 *f, const char *object_path, const char *name, int want_signed,
                             int64_t *s, uint64_t *u)
{
    hid_t attr, type;
    LF_TRY(attr_open_value(f, object_path, name, &attr, &type));
    int rc = -1;
    if (H5Tget_class(type) != H5T_INTEGER) {
        lf_error_set("%s: %s: attribute '%s' is %s, not an integer", f->path, object_path, name,
                     class_name(H5Tget_class(type)));
        goto done;
    }
    int src_signed = H5Tget_sign(type) == H5T_SGN_2;
    int64_t sv = 0;
    uint64_t uv = 0;
    if (H5Aread(attr, src_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64,
                src_signed ? (void *)&sv : (void *)&uv) < 0) {
        lf_error_set("%s: %s: HDF5 cannot read attribute '%s'", f->path, object_path, name);
        goto done;
    }
    if (want_signed) {
        if (!src_signed && uv > (uint64_t)INT64_MAX) goto range;
        *s = src_signed ? sv : (int64_t)uv;
    } else {
        if (src_signed && sv < 0) goto range;
        *u = src_signed ? (uint64_t)sv : uv;
    }
    rc = 0;
    goto done;
range:
    lf_error_set("%s: %s: attribute '%s' is out of range for %s", f->path, object_path, name,
                 want_signed ? "int64" : "uint64");
done:
    attr_close_value(attr, type);
    return rc;
}

int lf_h5_read_attr_int(lf_h5 *f, const char *object_path, const char *name, int64_t *value)
{
    if (!value) LF_FAIL("HDF5 attribute: NULL output");
    return attr_read_integer(f, object_path, name, 1, value, NULL);
}

int lf_h5_read_attr_u64(lf_h5 *f, const char *object_path, const char *name, uint64_t *value)
{
    if (!value) LF_FAIL("HDF5 attribute: NULL output");
    return attr_read_integer(f, object_path, name, 0, NULL, value);
}

int lf_h5_read_attr_double(lf_h5 *f, const char *object_path, const char *name, double *value)
{
    if (!value) LF_FAIL("HDF5 attribute: NULL output");
    hid_t attr, type;
    LF_TRY(attr_open_value(f, object_path, name, &attr, &type));
    int rc = -1;
    H5T_class_t cls = H5Tget_class(type);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        lf_error_set("%s: %s: attribute '%s' is %s, not a number", f->path, object_path, name,
                     class_name(cls));
    } else if (H5Aread(attr, H5T_NATIVE_DOUBLE, value) < 0) {
        lf_error_set("%s: %s: HDF5 cannot read attribute '%s'", f->path, object_path, name);
    } else {
        rc = 0;
    }
    attr_close_value(attr, type);
    return rc;
}

/* ---- files that grow while a run goes (training logs) ------------------------ */

int lf_h5_publish(lf_h5 *f)
{
    LF_TRY(check_writable(f));
    if (f->in_place) LF_FAIL("%s: already published", f->path);
    if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0)
        LF_FAIL("%s: HDF5 cannot flush %s (disk full?)", f->path, f->tmp_path);
    if (sync_file(f->tmp_path) != 0)
        LF_FAIL("%s: cannot sync %s: %s", f->path, f->tmp_path, strerror(errno));
    /* The open file follows the rename (POSIX): HDF5 keeps writing through its
     * descriptor, now under the final name. */
    LF_TRY(commit_rename(f));
    temp_unregister(f->slot);
    f->slot = -1;
    f->in_place = 1;
    return 0;
}

lf_h5 *lf_h5_open_rw(const char *path)
{
    lf_h5 *r = lf_h5_open(path); /* the checks and messages of a read open */
    if (!r) return NULL;
    H5Fclose(r->file);
    r->file = -1;
    if (access(path, W_OK) != 0) {
        lf_error_set("%s: not writable: %s", path, strerror(errno));
        handle_free(r);
        return NULL;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        r->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (r->file < 0) {
        lf_error_set("%s: HDF5 cannot open it for writing (damaged, or open in another "
                     "program?)",
                     path);
        handle_free(r);
        return NULL;
    }
    r->writing = 1;
    r->in_place = 1;
    return r;
}

int lf_h5_flush(lf_h5 *f)
{
    LF_TRY(check_writable(f));
    if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0)
        LF_FAIL("%s: HDF5 cannot flush it (disk full?)", f->path);
    return 0;
}

int lf_h5_create_appendable(lf_h5 *f, const char *path, lf_h5_type type, int rank,
                            const int64_t *dims, int64_t chunk_rows, const char *description,
                            const char *units)
{
    hid_t file_type, mem_type;
    size_t elsize;
    LF_TRY(check_writable(f));
    if (!path || !*path || path[strlen(path) - 1] == '/')
        LF_FAIL("%s: dataset path '%s' has no name", f->path, path ? path : "");
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        lf_error_prefix("%s: %s", f->path, path);
        return -1;
    }
    if (!description || !*description) LF_FAIL("%s: %s: a description is required", f->path, path);
    if (rank < 1 || rank > LF_H5_MAX_RANK || (rank > 1 && !dims))
        LF_FAIL("%s: %s: an appendable dataset needs rank 1..%d and its dimensions", f->path,
                path, LF_H5_MAX_RANK);
    if (chunk_rows < 1) LF_FAIL("%s: %s: chunk_rows must be >= 1", f->path, path);
    if (lf_h5_has(f, path)) LF_FAIL("%s: %s: already exists", f->path, path);
    hsize_t cur[LF_H5_MAX_RANK], max[LF_H5_MAX_RANK], chunk[LF_H5_MAX_RANK];
    cur[0] = 0;
    max[0] = H5S_UNLIMITED;
    chunk[0] = (hsize_t)chunk_rows;
    for (int i = 1; i < rank; i++) {
        if (dims[i] < 1)
            LF_FAIL("%s: %s: dimension %d is %lld", f->path, path, i, (long long)dims[i]);
        cur[i] = max[i] = chunk[i] = (hsize_t)dims[i];
    }
    const char *why = "HDF5 cannot create it (is a parent path a dataset?)";
    int ok = 0, linked = 0;
    hid_t space = -1, lcpl = -1, dcpl = -1, dset = -1;
    if ((space = H5Screate_simple(rank, cur, max)) < 0) goto done;
    if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto done;
    if ((dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0)
        goto done;
    if ((dset = H5Dcreate2(f->file, path, file_type, space, lcpl, dcpl, H5P_DEFAULT)) < 0)
        goto done;
    linked = 1;
    why = "HDF5 cannot write its attributes";
    if (attr_put_string(dset, "description", description) != 0) goto done;
    if (units && attr_put_string(dset, "units", units) != 0) goto done;
    ok = 1;
done:
    if (dset >= 0 && H5Dclose(dset) < 0) ok = 0;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    if (ok) return 0;
    if (linked) H5Ldelete(f->file, path, H5P_DEFAULT);
    LF_FAIL("%s: %s: %s", f->path, path, why);
}

/* Opens an existing dataset for a row operation and reads its shape. */
static hid_t rows_open(lf_h5 *f, const char *path, int *rank, hsize_t *dims)
{
    if (!lf_h5_has(f, path)) {
        lf_error_set("%s: %s: no such dataset", f->path, path ? path : "");
        return -1;
    }
    hid_t dset = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (dset < 0) {
        lf_error_set("%s: %s: HDF5 cannot open it as a dataset", f->path, path);
        return -1;
    }
    if (dataset_shape(dset, rank, dims) != 0 || *rank < 1) {
        lf_error_set("%s: %s: cannot read its shape (or it is a scalar)", f->path, path);
        H5Dclose(dset);
        return -1;
    }
    return dset;
}

int lf_h5_rows(lf_h5 *f, const char *path, int64_t *rows)
{
    if (!f) LF_FAIL("HDF5: no file (NULL handle)");
    h5_quiet();
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    hid_t dset = rows_open(f, path, &rank, dims);
    if (dset < 0) return -1;
    H5Dclose(dset);
    *rows = (int64_t)dims[0];
    return 0;
}

int lf_h5_append(lf_h5 *f, const char *path, lf_h5_type type, int64_t count, const void *data)
{
    hid_t file_type, mem_type;
    size_t elsize;
    LF_TRY(check_writable(f));
    if (type_info(type, &file_type, &mem_type, &elsize) != 0) {
        lf_error_prefix("%s: %s", f->path, path ? path : "");
        return -1;
    }
    if (count < 0 || (count > 0 && !data))
        LF_FAIL("%s: %s: append: bad count or no data", f->path, path);
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    hid_t dset = rows_open(f, path, &rank, dims);
    if (dset < 0) return -1;
    int rc = -1;
    hid_t fspace = -1, mspace = -1;
    if (rank > LF_H5_MAX_RANK) {
        lf_error_set("%s: %s: rank %d exceeds %d", f->path, path, rank, LF_H5_MAX_RANK);
        goto done;
    }
    if (count == 0) {
        rc = 0;
        goto done;
    }
    hsize_t start[LF_H5_MAX_RANK] = {0}, extent[LF_H5_MAX_RANK], grown[LF_H5_MAX_RANK];
    for (int i = 0; i < rank; i++) extent[i] = grown[i] = dims[i];
    start[0] = dims[0];
    extent[0] = (hsize_t)count;
    grown[0] = dims[0] + (hsize_t)count;
    if (H5Dset_extent(dset, grown) < 0) {
        lf_error_set("%s: %s: HDF5 cannot extend it (not an appendable dataset?)", f->path, path);
        goto done;
    }
    if ((fspace = H5Dget_space(dset)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, extent, NULL) < 0 ||
        (mspace = H5Screate_simple(rank, extent, NULL)) < 0 ||
        H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, data) < 0) {
        lf_error_set("%s: %s: HDF5 cannot append %lld rows (disk full?)", f->path, path,
                     (long long)count);
        H5Dset_extent(dset, dims); /* no half-written rows */
        goto done;
    }
    rc = 0;
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    H5Dclose(dset);
    return rc;
}

int lf_h5_truncate(lf_h5 *f, const char *path, int64_t rows)
{
    LF_TRY(check_writable(f));
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    hid_t dset = rows_open(f, path, &rank, dims);
    if (dset < 0) return -1;
    int rc = 0;
    if (rows < 0 || (hsize_t)rows > dims[0]) {
        lf_error_set("%s: %s: cannot truncate %llu rows to %lld", f->path, path,
                     (unsigned long long)dims[0], (long long)rows);
        rc = -1;
    } else if ((hsize_t)rows < dims[0]) {
        dims[0] = (hsize_t)rows;
        if (H5Dset_extent(dset, dims) < 0) {
            lf_error_set("%s: %s: HDF5 cannot shrink it (not an appendable dataset?)", f->path,
                         path);
            rc = -1;
        }
    }
    H5Dclose(dset);
    return rc;
}

int lf_h5_set_scale(lf_h5 *f, const char *path)
{
    LF_TRY(check_writable(f));
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    hid_t dset = rows_open(f, path, &rank, dims);
    if (dset < 0) return -1;
    int rc = 0;
    if (rank != 1) {
        lf_error_set("%s: %s: a dimension scale must be 1-D (rank %d)", f->path, path, rank);
        rc = -1;
    } else if (H5DSset_scale(dset, base_name(path)) < 0) {
        lf_error_set("%s: %s: HDF5 cannot make it a dimension scale", f->path, path);
        rc = -1;
    }
    H5Dclose(dset);
    return rc;
}
