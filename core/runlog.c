/* runlog.c - the HDF5 log of a training run, appended as the run goes (runlog.h). */
#include "runlog.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "mem.h"

#define RUNLOG_CHUNK_ROWS 1024

struct lf_runlog {
    lf_h5 *f;
    int begun;
    int64_t train_rows, val_rows;
    int64_t last_train_step, last_val_step; /* -1 when none */
    int64_t flush_every, unflushed;
};

typedef struct {
    const char *path;
    lf_h5_type type;
    const char *description, *units;
} column;

static const column train_cols[] = {
    {"/train/step", LF_H5_I64, "optimizer step (0-based) of the row", NULL},
    {"/train/loss", LF_H5_F64, "training loss of the step: mean cross-entropy per masked token",
     "nats"},
    {"/train/learning_rate", LF_H5_F64, "learning rate used for the step", NULL},
    {"/train/tokens_per_s", LF_H5_F64,
     "training throughput of the step: input tokens (padding excluded) per second", "tokens/s"},
};
static const column val_cols[] = {
    {"/val/step", LF_H5_I64, "optimizer steps done when validation ran", NULL},
    {"/val/loss", LF_H5_F64,
     "validation loss: mean cross-entropy per masked token over the fixed validation batches",
     "nats"},
    {"/val/perplexity", LF_H5_F64, "validation perplexity per masked token: exp(loss)", NULL},
    {"/val/masked_tokens", LF_H5_I64, "masked tokens the validation loss averages over", NULL},
};
#define NCOLS 4

static int create_group(lf_h5 *f, const column *cols)
{
    for (int i = 0; i < NCOLS; i++)
        LF_TRY(lf_h5_create_appendable(f, cols[i].path, cols[i].type, 1, NULL, RUNLOG_CHUNK_ROWS,
                                       cols[i].description, cols[i].units));
    LF_TRY(lf_h5_set_scale(f, cols[0].path));
    for (int i = 1; i < NCOLS; i++) LF_TRY(lf_h5_attach(f, cols[i].path, 0, cols[0].path));
    return 0;
}

lf_runlog *lf_runlog_create(const char *path, const char *experiment, int force)
{
    lf_runlog *log = lf_calloc(1, sizeof *log);
    if (!log) return NULL;
    if (!(log->f = lf_h5_create(path, experiment, force))) {
        lf_free(log);
        return NULL;
    }
    log->last_train_step = log->last_val_step = -1;
    log->flush_every = 1;
    return log;
}

lf_h5 *lf_runlog_h5(lf_runlog *log) { return log ? log->f : NULL; }

void lf_runlog_set_flush_every(lf_runlog *log, int64_t every)
{
    if (log) log->flush_every = every < 1 ? 1 : every;
}

int lf_runlog_begin(lf_runlog *log, int64_t parameter_count, int64_t distinct_projections)
{
    if (!log || log->begun) LF_FAIL("run log: begin on a log that is not new");
    lf_h5 *f = log->f;
    LF_TRY(lf_h5_attr_int(f, "/", "complete", 0));
    LF_TRY(lf_h5_attr_int(f, "/", "parameter_count", parameter_count));
    LF_TRY(lf_h5_attr_int(f, "/", "distinct_projections", distinct_projections));
    LF_TRY(lf_h5_attr_int(f, "/", "resumes", 0));
    LF_TRY(lf_h5_attr_int(f, "/", "resumed_from_step", -1));
    LF_TRY(create_group(f, train_cols));
    LF_TRY(create_group(f, val_cols));
    LF_TRY(lf_h5_publish(f));
    log->begun = 1;
    return 0;
}

static int maybe_flush(lf_runlog *log, int force)
{
    if (force || ++log->unflushed >= log->flush_every) {
        log->unflushed = 0;
        return lf_h5_flush(log->f);
    }
    return 0;
}

int lf_runlog_step(lf_runlog *log, int64_t step, double loss, double learning_rate,
                   double tokens_per_s)
{
    if (!log || !log->begun) LF_FAIL("run log: lf_runlog_begin was not called");
    if (step <= log->last_train_step)
        LF_FAIL("run log: training step %lld after step %lld (steps must increase)",
                (long long)step, (long long)log->last_train_step);
    LF_TRY(lf_h5_append(log->f, "/train/step", LF_H5_I64, 1, &step));
    LF_TRY(lf_h5_append(log->f, "/train/loss", LF_H5_F64, 1, &loss));
    LF_TRY(lf_h5_append(log->f, "/train/learning_rate", LF_H5_F64, 1, &learning_rate));
    LF_TRY(lf_h5_append(log->f, "/train/tokens_per_s", LF_H5_F64, 1, &tokens_per_s));
    log->last_train_step = step;
    log->train_rows++;
    return maybe_flush(log, 0);
}

int lf_runlog_validation(lf_runlog *log, int64_t step, double loss, int64_t masked_tokens)
{
    if (!log || !log->begun) LF_FAIL("run log: lf_runlog_begin was not called");
    if (step <= log->last_val_step)
        LF_FAIL("run log: validation at step %lld after one at step %lld (steps must increase)",
                (long long)step, (long long)log->last_val_step);
    double ppl = exp(loss);
    LF_TRY(lf_h5_append(log->f, "/val/step", LF_H5_I64, 1, &step));
    LF_TRY(lf_h5_append(log->f, "/val/loss", LF_H5_F64, 1, &loss));
    LF_TRY(lf_h5_append(log->f, "/val/perplexity", LF_H5_F64, 1, &ppl));
    LF_TRY(lf_h5_append(log->f, "/val/masked_tokens", LF_H5_I64, 1, &masked_tokens));
    log->last_val_step = step;
    log->val_rows++;
    return maybe_flush(log, 1);
}

int lf_runlog_finish(lf_runlog *log)
{
    if (!log) LF_FAIL("run log: NULL");
    if (!log->begun) {
        lf_runlog_close(log);
        LF_FAIL("run log: finish before lf_runlog_begin");
    }
    /* Everything else reaches the file before the flag does. */
    int rc = lf_h5_flush(log->f);
    if (rc == 0) rc = lf_h5_attr_int(log->f, "/", "complete", 1);
    if (lf_h5_close(log->f, 1) != 0) rc = -1;
    lf_free(log);
    return rc;
}

int lf_runlog_close(lf_runlog *log)
{
    if (!log) return 0;
    int rc = lf_h5_close(log->f, 0); /* in place after begin: only flushes and closes */
    lf_free(log);
    return rc;
}

int64_t lf_runlog_train_rows(const lf_runlog *log) { return log ? log->train_rows : 0; }
int64_t lf_runlog_val_rows(const lf_runlog *log) { return log ? log->val_rows : 0; }

/* Truncates a group's columns to the rows with step < from_step (and to the shortest
 * column); returns the kept rows and the last kept step (-1 when none). */
static int truncate_group(lf_h5 *f, const column *cols, int64_t from_step, int64_t *rows,
                          int64_t *last_step)
{
    int64_t keep = INT64_MAX;
    for (int i = 0; i < NCOLS; i++) {
        int64_t r;
        LF_TRY(lf_h5_rows(f, cols[i].path, &r));
        if (r < keep) keep = r;
    }
    double *steps = NULL;
    int rank;
    int64_t dims[1];
    LF_TRY(lf_h5_read_f64(f, cols[0].path, 1, &rank, dims, &steps));
    int64_t k = 0;
    while (k < keep && steps[k] < (double)from_step) {
        if (k > 0 && !(steps[k] > steps[k - 1])) {
            lf_free(steps);
            LF_FAIL("%s: steps are not increasing at row %lld: not a run log this code wrote",
                    cols[0].path, (long long)k);
        }
        k++;
    }
    *last_step = k > 0 ? (int64_t)steps[k - 1] : -1;
    lf_free(steps);
    for (int i = 0; i < NCOLS; i++) LF_TRY(lf_h5_truncate(f, cols[i].path, k));
    *rows = k;
    return 0;
}

lf_runlog *lf_runlog_resume(const char *path, const char *experiment, int64_t from_step)
{
    if (from_step < 0) {
        lf_error_set("%s: resume at step %lld < 0", path, (long long)from_step);
        return NULL;
    }
    lf_h5 *f = lf_h5_open_rw(path);
    if (!f) return NULL;
    lf_runlog *log = NULL;
    char *exp_name = NULL;
    if (lf_h5_read_attr_string(f, "/", "experiment", &exp_name) != 0) goto fail;
    if (strcmp(exp_name, experiment) != 0) {
        lf_error_set("%s: a log of experiment '%s', not '%s'", path, exp_name, experiment);
        goto fail;
    }
    for (int i = 0; i < NCOLS; i++)
        if (!lf_h5_has(f, train_cols[i].path) || !lf_h5_has(f, val_cols[i].path)) {
            lf_error_set("%s: not a run log (no %s)", path,
                         !lf_h5_has(f, train_cols[i].path) ? train_cols[i].path : val_cols[i].path);
            goto fail;
        }
    /* Not finished any more, before anything else changes. */
    if (lf_h5_attr_int(f, "/", "complete", 0) != 0 || lf_h5_flush(f) != 0) goto fail;
    if (!(log = lf_calloc(1, sizeof *log))) goto fail;
    log->f = f;
    log->begun = 1;
    log->flush_every = 1;
    if (truncate_group(f, train_cols, from_step, &log->train_rows, &log->last_train_step) != 0 ||
        truncate_group(f, val_cols, from_step, &log->val_rows, &log->last_val_step) != 0) {
        lf_error_prefix("%s", path);
        goto fail;
    }
    int64_t resumes = 0;
    if (lf_h5_read_attr_int(f, "/", "resumes", &resumes) != 0) resumes = 0;
    if (lf_h5_attr_int(f, "/", "resumes", resumes + 1) != 0 ||
        lf_h5_attr_int(f, "/", "resumed_from_step", from_step) != 0 || lf_h5_flush(f) != 0)
        goto fail;
    lf_free(exp_name);
    return log;
fail:
    lf_free(exp_name);
    lf_free(log);
    lf_h5_close(f, 0);
    return NULL;
}
