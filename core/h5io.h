/* h5io.h - HDF5 results files (writing) and HDF5 inputs (reading).
 *
 * One handle type serves both directions. A results file follows the conventions
 * of docs/results-format.md: root attributes (experiment, created, schema_version,
 * suite_version), /code (build provenance), /config (run parameters, filled by the
 * caller), datasets with description and units, dimension scales for axes, chunked
 * and compressed storage for large arrays.
 *
 * A results file is written under "PATH.tmp.PID" and renamed to PATH only by
 * lf_h5_close(f, 1): an interrupted run never leaves a file that looks finished.
 * While a file is being written, SIGINT, SIGTERM and SIGHUP (when their disposition
 * is still the default) and a normal exit() without close remove the temporary.
 *
 * Object paths are HDF5 paths such as "/spectrum/sv" ("/" is the root group).
 * Every function returns 0 on success and -1 with lf_error_get() set to one line
 * naming the file and object ("out.h5: /q: ..."); HDF5's own error stack printing
 * is switched off. Not thread-safe: use a handle from one thread at a time.
 */
#ifndef LF_H5IO_H
#define LF_H5IO_H

#include <stdint.h>

typedef struct lf_h5 lf_h5;

/* Element types of datasets. In the file they are little-endian IEEE floats and
 * two's complement integers, whatever the machine. */
typedef enum {
    LF_H5_F32,
    LF_H5_F64,
    LF_H5_I32,
    LF_H5_I64,
    LF_H5_U8,
} lf_h5_type;

#define LF_H5_MAX_RANK 8

/* ---- writing results ------------------------------------------------------- */

/* Starts a results file for `experiment`. Fails ("PATH exists; pass --force to
 * overwrite") when PATH exists and !force. Writes the root attributes, /code and
 * an empty /config. Returns NULL with the error set on failure, leaving no file. */
lf_h5 *lf_h5_create(const char *path, const char *experiment, int force);

/* commit = 1: flushes, closes and renames the temporary file to its final name
 * (when the final name appeared meanwhile and force was not given, fails and
 * removes the temporary file). commit = 0: closes and removes the temporary file
 * (use it on the error path of a driver). A read handle is just closed; a handle
 * written in place (lf_h5_publish, lf_h5_open_rw) is flushed and closed, never
 * removed. Frees f in every case; NULL is a no-op returning 0. */
int lf_h5_close(lf_h5 *f, int commit);

/* Run parameters: attributes of /config. An existing attribute is replaced. */
int lf_h5_config_int(lf_h5 *f, const char *name, int64_t value);
int lf_h5_config_u64(lf_h5 *f, const char *name, uint64_t value); /* seeds */
int lf_h5_config_double(lf_h5 *f, const char *name, double value);
int lf_h5_config_string(lf_h5 *f, const char *name, const char *value);

/* Attributes on any existing group or dataset ("/", "/spectrum/at_index"). An
 * existing attribute of that name is replaced. Strings are UTF-8, variable length
 * (h5py reads them as str). */
int lf_h5_attr_int(lf_h5 *f, const char *object_path, const char *name, int64_t value);
int lf_h5_attr_u64(lf_h5 *f, const char *object_path, const char *name, uint64_t value);
int lf_h5_attr_double(lf_h5 *f, const char *object_path, const char *name, double value);
int lf_h5_attr_string(lf_h5 *f, const char *object_path, const char *name, const char *value);

/* Writes a new dataset of `rank` (0 = scalar, at most LF_H5_MAX_RANK) dimensions,
 * row-major `data`, creating missing parent groups. `description` is required
 * (non-empty); `units` is written when non-NULL. Datasets over 64 KiB are stored in
 * chunks of at most 1 MiB with shuffle + deflate(4) + fletcher32; smaller ones are
 * contiguous. Fails when the path already exists. */
int lf_h5_write(lf_h5 *f, const char *path, lf_h5_type type, int rank, const int64_t *dims,
                const void *data, const char *description, const char *units);

/* A 1-D dataset of `len` values made an HDF5 dimension scale whose dimension name
 * is the dataset's base name ("/spectrum/k" names dimension "k"), so h5netcdf and
 * xarray see named dimensions. Attach it to axes with lf_h5_attach. */
/* A dataset written in slabs along its first dimension (e.g. one sequence or one
 * layer at a time, so a large array never has to be in memory at once): create it,
 * then lf_h5_write_slab rows [first, first + count) with data holding count rows.
 * Chunking and compression as lf_h5_write. Rows never written read back as zeros. */
int lf_h5_create_dataset(lf_h5 *f, const char *path, lf_h5_type type, int rank,
                         const int64_t *dims, const char *description, const char *units);
int lf_h5_write_slab(lf_h5 *f, const char *path, lf_h5_type type, int64_t first, int64_t count,
                     const void *data);

int lf_h5_scale(lf_h5 *f, const char *path, lf_h5_type type, int64_t len, const void *values,
                const char *description, const char *units);

/* A dimension scale of the int32 values first, first + 1, ..., first + len - 1 (layer
 * or head indices, sequence numbers). */
int lf_h5_scale_range(lf_h5 *f, const char *path, int64_t len, int64_t first,
                      const char *description);

/* A 1-D dataset of `count` variable-length UTF-8 strings (no NULL entries). */
int lf_h5_write_strings(lf_h5 *f, const char *path, int64_t count, const char *const *values,
                        const char *description);
/* The same with any shape (rank <= LF_H5_MAX_RANK, row-major values), e.g. a
 * reason for every point of a [variant, n, k] grid. */
int lf_h5_write_strings_nd(lf_h5 *f, const char *path, int rank, const int64_t *dims,
                           const char *const *values, const char *description);
/* The same, made a dimension scale (string labels along an axis, e.g. projection
 * kinds). */
int lf_h5_scale_strings(lf_h5 *f, const char *path, int64_t count, const char *const *values,
                        const char *description);

/* Attaches the scale at scale_path to dimension `dim` of the dataset; the scale's
 * length must equal that dimension's size. */
int lf_h5_attach(lf_h5 *f, const char *dataset_path, int dim, const char *scale_path);

/* ---- reading inputs and results -------------------------------------------- */

/* Opens an existing HDF5 file read-only. Errors: "PATH: no such file",
 * "PATH: not an HDF5 file", "PATH: <system error>". */
lf_h5 *lf_h5_open(const char *path);

/* 1 when the group or dataset at path exists, else 0 (also for missing parents or
 * a NULL handle); never sets an error or prints anything. */
int lf_h5_has(lf_h5 *f, const char *path);

/* Reads a whole integer or floating-point dataset of rank <= max_rank, converted by
 * HDF5 to the requested type. On success *rank and dims[0..*rank-1] hold its shape
 * and *data a lf_alloc'ed row-major buffer the caller releases with lf_free; on
 * failure *data is NULL. Values outside the target type's range are an error, not
 * silently clamped. read_i32 accepts integer datasets only (no silent truncation of
 * fractions). */
int lf_h5_read_f32(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims,
                   float **data);
int lf_h5_read_f64(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims,
                   double **data);
int lf_h5_read_i32(lf_h5 *f, const char *path, int max_rank, int *rank, int64_t *dims,
                   int32_t **data);

/* Scalar (or one-element) attributes of a group or dataset. Strings may be
 * variable- or fixed-length; *value is lf_alloc'ed (lf_free it). Integer reads
 * accept integer attributes only; double reads accept integers and floats. */
int lf_h5_read_attr_string(lf_h5 *f, const char *object_path, const char *name, char **value);
int lf_h5_read_attr_int(lf_h5 *f, const char *object_path, const char *name, int64_t *value);
int lf_h5_read_attr_u64(lf_h5 *f, const char *object_path, const char *name, uint64_t *value);
int lf_h5_read_attr_double(lf_h5 *f, const char *object_path, const char *name, double *value);

/* ---- files that grow while a run goes (training logs) ------------------------ */

/* Publishes a file being written under its final name now, while it stays open for
 * writing in place: flushes, syncs and renames PATH.tmp.PID to PATH (refusing an
 * existing PATH without force, as lf_h5_close). From then on every write goes to
 * PATH itself and lf_h5_close(f, any) only flushes and closes: it never removes
 * PATH. Whoever reads such a file must be told by its own contents whether it is
 * finished (e.g. a "complete" attribute set last). */
int lf_h5_publish(lf_h5 *f);

/* Opens an existing HDF5 file for writing in place (no temporary file; resuming a
 * log). Errors as lf_h5_open. Close with lf_h5_close (which never removes it). */
lf_h5 *lf_h5_open_rw(const char *path);

/* Writes everything HDF5 holds in memory to the file (H5Fflush): after it, a process
 * killed outright leaves a file that reads back as of this moment. */
int lf_h5_flush(lf_h5 *f);

/* An appendable dataset: its first dimension starts at 0 rows and has no upper
 * limit; the others are dims[1..rank-1] (dims[0] is ignored). Chunked by
 * chunk_rows rows, unfiltered (so that the last chunk is rewritten in place as rows
 * arrive). Rows are added with lf_h5_append, counted with lf_h5_rows and dropped
 * from the end with lf_h5_truncate. */
int lf_h5_create_appendable(lf_h5 *f, const char *path, lf_h5_type type, int rank,
                            const int64_t *dims, int64_t chunk_rows, const char *description,
                            const char *units);
int lf_h5_append(lf_h5 *f, const char *path, lf_h5_type type, int64_t count, const void *data);
int lf_h5_rows(lf_h5 *f, const char *path, int64_t *rows);
/* Keeps the first `rows` rows (rows <= the current count). */
int lf_h5_truncate(lf_h5 *f, const char *path, int64_t rows);
/* Makes an existing 1-D dataset (e.g. an appendable step column) a dimension scale
 * named after its base name; attach it with lf_h5_attach. */
int lf_h5_set_scale(lf_h5 *f, const char *path);

#endif
