/* runlog.h - the HDF5 log of a training run, written as the run goes.
 *
 * Unlike a results file (written under a temporary name and renamed when complete),
 * a run log appears under its final name as soon as training starts and grows with
 * every step, so that a long run can be watched and a killed run still leaves its
 * history. Whether it is finished is said by the root attribute `complete`: 0 from
 * the start, set to 1 by lf_runlog_finish only, and set back to 0 first thing when a
 * run is resumed. A log is never left looking finished when it is not.
 *
 * File layout (besides the usual root attributes, /code and /config):
 *   root attributes  complete (int64 0/1), parameter_count, distinct_projections
 *                    (int64), resumes (int64: how often the run was resumed),
 *                    resumed_from_step (int64, -1 when never resumed)
 *   /train/step            int64   [steps]  optimizer step (dimension scale "step")
 *   /train/loss            float64 [steps]  training loss, nats per masked token
 *   /train/learning_rate   float64 [steps]  learning rate used for the step
 *   /train/tokens_per_s    float64 [steps]  throughput of the step (tokens/s)
 *   /val/step              int64   [evals]  step after which validation ran (scale)
 *   /val/loss              float64 [evals]  validation loss, nats per masked token
 *   /val/perplexity        float64 [evals]  exp(loss): perplexity per masked token
 *   /val/masked_tokens     int64   [evals]  masked tokens the loss averages over
 * Every column is an appendable dataset (unlimited first dimension, chunked). Steps
 * are strictly increasing within a group. The file is flushed after every
 * validation row and every flush_every training rows (default 1), so a run killed
 * outright (SIGKILL, out of memory) leaves a log readable up to its last flush. The
 * columns of a group are appended one after another: in a killed run's log they may
 * differ in length by one row; readers (and lf_runlog_resume) use the shortest.
 *
 * While a run has the file open, HDF5's file lock keeps other programs from opening
 * it; to watch a live log, read it with HDF5_USE_FILE_LOCKING=FALSE in the reader's
 * environment.
 */
#ifndef LF_RUNLOG_H
#define LF_RUNLOG_H

#include <stdint.h>

#include "h5io.h"

typedef struct lf_runlog lf_runlog;

/* Starts a new log (refuses an existing path without force, as lf_h5_create). The
 * file is not yet visible under path: fill /config through lf_runlog_h5, then call
 * lf_runlog_begin. Returns NULL with the error set. */
lf_runlog *lf_runlog_create(const char *path, const char *experiment, int force);

/* The HDF5 handle, for /config (lf_h5_config_*) and any extra attributes. */
lf_h5 *lf_runlog_h5(lf_runlog *log);

/* Writes parameter_count and distinct_projections, creates the columns, sets
 * complete = 0 and publishes the file under its final name. */
int lf_runlog_begin(lf_runlog *log, int64_t parameter_count, int64_t distinct_projections);

/* Appends one training step (step > the last logged step). */
int lf_runlog_step(lf_runlog *log, int64_t step, double loss, double learning_rate,
                   double tokens_per_s);
/* Appends one validation: loss = mean nats per masked token over masked_tokens
 * positions; perplexity = exp(loss) is stored beside it. */
int lf_runlog_validation(lf_runlog *log, int64_t step, double loss, int64_t masked_tokens);

/* Flushes after every `every` training rows (>= 1). */
void lf_runlog_set_flush_every(lf_runlog *log, int64_t every);

/* Marks the run complete (complete = 1), flushes and closes; frees log. */
int lf_runlog_finish(lf_runlog *log);
/* Flushes and closes a run that stops unfinished (interrupted, to be resumed):
 * complete stays 0. Frees log; NULL is a no-op. Before lf_runlog_begin it discards
 * the unpublished file. */
int lf_runlog_close(lf_runlog *log);

/* Reopens the log at path to continue a run whose next step is from_step: sets
 * complete = 0 (flushed before anything else), drops every training and validation
 * row with step >= from_step (and rows beyond the shortest column), counts the
 * resume. Fails on a file that is not a run log of `experiment`. */
lf_runlog *lf_runlog_resume(const char *path, const char *experiment, int64_t from_step);

/* Rows currently in the log. */
int64_t lf_runlog_train_rows(const lf_runlog *log);
int64_t lf_runlog_val_rows(const lf_runlog *log);

#endif
