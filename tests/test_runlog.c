/* test_runlog.c - the HDF5 training log (core/runlog.c) and the h5io functions
 * behind it (publish in place, appendable datasets, truncation).
 *
 * Round trip through the C reader and through h5py (tests/check_runlog.py: layout,
 * units, dimension scales, values); the `complete` flag: absent file before begin,
 * 0 while running, after SIGTERM and after SIGKILL, 1 only after finish, back to 0
 * on resume; a run killed outright (SIGKILL, in a child process) leaves a readable
 * log with every row logged before the kill; resume truncates rows at and after the
 * resume step (and columns of unequal length to the shortest), continues, and ends
 * with the same rows as an uninterrupted run; wrong files are refused.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "h5io.h"
#include "mem.h"
#include "repo_path.h"
#include "runlog.h"

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int tmp_leftover(const char *path, pid_t pid)
{
    char t[PATH_MAX];
    snprintf(t, sizeof t, "%s.tmp.%ld", path, (long)pid);
    return exists(t);
}

/* The values check_runlog.py expects for a step. */
static int log_step(lf_runlog *log, int64_t s)
{
    return lf_runlog_step(log, s, 10 - 0.5 * (double)s, 1e-3 * (double)s, 1000 + (double)s);
}
static int log_val(lf_runlog *log, int64_t s)
{
    return lf_runlog_validation(log, s, 2 + 0.01 * (double)s, 500 + s);
}

static lf_runlog *new_log(const char *path, int force)
{
    lf_runlog *log = lf_runlog_create(path, "pretrain", force);
    CHECK_MSG(log != NULL, "%s", lf_error_get());
    if (!log) return NULL;
    lf_h5 *f = lf_runlog_h5(log);
    CHECK(lf_h5_config_int(f, "seq_len", 512) == 0);
    CHECK(lf_h5_config_string(f, "sharing", "layerwise") == 0);
    CHECK(lf_h5_config_u64(f, "seed", 7) == 0);
    return log;
}

static int64_t attr_int(const char *path, const char *name)
{
    lf_h5 *f = lf_h5_open(path);
    int64_t v = -99;
    if (!f || lf_h5_read_attr_int(f, "/", name, &v) != 0) v = -99;
    lf_h5_close(f, 0);
    return v;
}

/* Reads a column as doubles; returns its length (-1 on failure). */
static int64_t read_col(const char *path, const char *col, double **out)
{
    lf_h5 *f = lf_h5_open(path);
    int rank;
    int64_t dims[1];
    *out = NULL;
    int64_t n = -1;
    if (f && lf_h5_read_f64(f, col, 1, &rank, dims, out) == 0) n = dims[0];
    if (n < 0) printf("    read %s %s: %s\n", path, col, lf_error_get());
    lf_h5_close(f, 0);
    return n;
}

static const char *python(void)
{
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0) return "/usr/bin/python3";
    return NULL;
}

static void py_check(const char *path, const char *steps, const char *vsteps, int complete)
{
    const char *py = python();
    if (!py) {
        printf("SKIPPED h5py check of %s: no /usr/bin/python3 with h5py\n", path);
        return;
    }
    char rp[PATH_MAX + 64], cmd[PATH_MAX + 512];
    repo_path("tests/check_runlog.py", rp, sizeof rp);
    snprintf(cmd, sizeof cmd, "%s %s %s '%s' '%s' %d", py, rp, path, steps, vsteps, complete);
    fflush(stdout);
    CHECK_MSG(system(cmd) == 0, "check_runlog.py rejected %s", path);
}

static void test_round_trip(void)
{
    unlink("run.h5");
    lf_runlog *log = new_log("run.h5", 0);
    if (!log) return;
    CHECK(!exists("run.h5")); /* not visible before begin */
    CHECK(lf_runlog_step(log, 0, 1, 1, 1) != 0);  /* begin first */
    CHECK_MSG(lf_runlog_begin(log, 1234567, 12) == 0, "%s", lf_error_get());
    CHECK(exists("run.h5") && !tmp_leftover("run.h5", getpid()));
    for (int64_t s = 0; s < 10; s++) {
        CHECK(log_step(log, s) == 0);
        if (s == 4 || s == 9) CHECK(log_val(log, s) == 0);
    }
    CHECK(lf_runlog_train_rows(log) == 10 && lf_runlog_val_rows(log) == 2);
    CHECK(log_step(log, 9) != 0 && strstr(lf_error_get(), "steps must increase"));
    CHECK(log_val(log, 3) != 0 && strstr(lf_error_get(), "steps must increase"));
    CHECK(lf_runlog_train_rows(log) == 10);
    /* Config may still be added after begin (in place). */
    CHECK(lf_h5_config_int(lf_runlog_h5(log), "threads", 2) == 0);
    CHECK_MSG(lf_runlog_finish(log) == 0, "%s", lf_error_get());
    CHECK(attr_int("run.h5", "complete") == 1);
    CHECK(attr_int("run.h5", "parameter_count") == 1234567);
    CHECK(attr_int("run.h5", "resumes") == 0 && attr_int("run.h5", "resumed_from_step") == -1);
    double *loss = NULL, *ppl = NULL;
    CHECK(read_col("run.h5", "/train/loss", &loss) == 10);
    CHECK(loss && loss[0] == 10 && loss[9] == 5.5);
    CHECK(read_col("run.h5", "/val/perplexity", &ppl) == 2);
    CHECK(ppl && fabs(ppl[1] - exp(2.09)) <= 1e-15 * exp(2.09));
    lf_free(loss);
    lf_free(ppl);
    py_check("run.h5", "0,1,2,3,4,5,6,7,8,9", "4,9", 1);

    /* An existing log is not overwritten without force, and stays as it was. */
    CHECK(lf_runlog_create("run.h5", "pretrain", 0) == NULL);
    CHECK_MSG(strstr(lf_error_get(), "exists; pass --force"), "%s", lf_error_get());
    CHECK(attr_int("run.h5", "complete") == 1);
    /* With force it is replaced at begin; closing before begin leaves nothing. */
    log = new_log("run.h5", 1);
    CHECK(lf_runlog_close(log) == 0);
    CHECK(attr_int("run.h5", "complete") == 1 && !tmp_leftover("run.h5", getpid()));
    unlink("gone.h5");
    log = new_log("gone.h5", 0);
    CHECK(lf_runlog_close(log) == 0);
    CHECK(!exists("gone.h5") && !tmp_leftover("gone.h5", getpid()));
    /* An unfinished close leaves complete = 0. */
    log = new_log("run.h5", 1);
    CHECK(lf_runlog_begin(log, 1234567, 12) == 0);
    CHECK(log_step(log, 0) == 0);
    CHECK(lf_runlog_close(log) == 0);
    CHECK(attr_int("run.h5", "complete") == 0);
    py_check("run.h5", "0", "", 0);
}

/* A child logs steps 0..4 and validation at 3, then dies by `sig` (0 = before begin). */
static pid_t child_run(const char *path, int sig, int before_begin)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0) return pid;
    lf_runlog *log = lf_runlog_create(path, "pretrain", 1);
    if (!log) _exit(3);
    lf_h5_config_int(lf_runlog_h5(log), "seq_len", 512);
    lf_h5_config_string(lf_runlog_h5(log), "sharing", "layerwise");
    if (before_begin) raise(sig);
    if (lf_runlog_begin(log, 1234567, 12) != 0) _exit(4);
    for (int64_t s = 0; s < 5; s++) {
        if (log_step(log, s) != 0) _exit(5);
        if (s == 3 && log_val(log, s) != 0) _exit(6);
    }
    raise(sig);
    _exit(7); /* not reached */
}

static void test_killed_runs(void)
{
    int status;
    /* SIGKILL after 5 steps: nothing could clean up, the log reads back to step 4. */
    unlink("killed.h5");
    pid_t pid = child_run("killed.h5", SIGKILL, 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(attr_int("killed.h5", "complete") == 0);
    double *steps = NULL;
    CHECK(read_col("killed.h5", "/train/step", &steps) == 5);
    CHECK(steps && steps[4] == 4);
    lf_free(steps);
    CHECK(read_col("killed.h5", "/val/loss", &steps) == 1);
    lf_free(steps);
    CHECK(!tmp_leftover("killed.h5", pid));
    py_check("killed.h5", "0,1,2,3,4", "3", 0);

    /* SIGTERM after begin: h5io's cleanup must not remove the published log. */
    unlink("term.h5");
    pid = child_run("term.h5", SIGTERM, 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(exists("term.h5") && attr_int("term.h5", "complete") == 0);
    CHECK(read_col("term.h5", "/train/loss", &steps) == 5);
    lf_free(steps);

    /* SIGTERM before begin: no log, no temporary file. */
    unlink("early.h5");
    pid = child_run("early.h5", SIGTERM, 1);
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    CHECK(!exists("early.h5") && !tmp_leftover("early.h5", pid));
}

static void test_resume(void)
{
    /* killed.h5 holds steps 0..4 and validation at 3; continue from step 3. */
    lf_runlog *log = lf_runlog_resume("killed.h5", "pretrain", 3);
    CHECK_MSG(log != NULL, "%s", lf_error_get());
    if (!log) return;
    CHECK(lf_runlog_train_rows(log) == 3 && lf_runlog_val_rows(log) == 0);
    CHECK(log_step(log, 2) != 0); /* step 2 is already there */
    for (int64_t s = 3; s < 10; s++) {
        CHECK(log_step(log, s) == 0);
        if (s == 4 || s == 9) CHECK(log_val(log, s) == 0);
    }
    CHECK(lf_runlog_finish(log) == 0);
    CHECK(attr_int("killed.h5", "complete") == 1);
    CHECK(attr_int("killed.h5", "resumes") == 1 && attr_int("killed.h5", "resumed_from_step") == 3);
    /* The same rows as the uninterrupted run.h5 of test_round_trip. */
    py_check("killed.h5", "0,1,2,3,4,5,6,7,8,9", "4,9", 1);

    /* Resuming a finished log marks it unfinished at once; closing keeps it so. */
    log = lf_runlog_resume("killed.h5", "pretrain", 10);
    CHECK(log != NULL && lf_runlog_train_rows(log) == 10 && lf_runlog_val_rows(log) == 2);
    CHECK(lf_runlog_close(log) == 0);
    CHECK(attr_int("killed.h5", "complete") == 0 && attr_int("killed.h5", "resumes") == 2);

    /* Columns of unequal length (a kill between two appends): cut to the shortest. */
    lf_h5 *f = lf_h5_open_rw("killed.h5");
    CHECK_MSG(f != NULL, "%s", lf_error_get());
    int64_t extra = 10;
    CHECK(lf_h5_append(f, "/train/step", LF_H5_I64, 1, &extra) == 0);
    int64_t rows = 0;
    CHECK(lf_h5_rows(f, "/train/step", &rows) == 0 && rows == 11);
    CHECK(lf_h5_close(f, 0) == 0);
    CHECK(exists("killed.h5")); /* an in-place handle never removes the file */
    log = lf_runlog_resume("killed.h5", "pretrain", 100);
    CHECK(log != NULL && lf_runlog_train_rows(log) == 10);
    CHECK(log_step(log, 10) == 0);
    CHECK(lf_runlog_close(log) == 0);
    double *st = NULL, *lr = NULL;
    CHECK(read_col("killed.h5", "/train/step", &st) == 11 &&
          read_col("killed.h5", "/train/learning_rate", &lr) == 11);
    CHECK(st && lr && st[10] == 10 && lr[10] == 1e-2);
    lf_free(st);
    lf_free(lr);
    /* Resume at 0 drops everything. */
    log = lf_runlog_resume("killed.h5", "pretrain", 0);
    CHECK(log != NULL && lf_runlog_train_rows(log) == 0 && lf_runlog_val_rows(log) == 0);
    CHECK(lf_runlog_close(log) == 0);

    /* Files that are not logs of this experiment. */
    CHECK(lf_runlog_resume("killed.h5", "other", 3) == NULL);
    CHECK_MSG(strstr(lf_error_get(), "a log of experiment 'pretrain', not 'other'"), "%s",
              lf_error_get());
    lf_h5 *r = lf_h5_create("plain.h5", "pretrain", 1);
    CHECK(r && lf_h5_close(r, 1) == 0);
    CHECK(lf_runlog_resume("plain.h5", "pretrain", 3) == NULL);
    CHECK_MSG(strstr(lf_error_get(), "not a run log (no /train/step)"), "%s", lf_error_get());
    CHECK(lf_runlog_resume("nonexistent.h5", "pretrain", 3) == NULL);
    CHECK_MSG(strstr(lf_error_get(), "nonexistent.h5: no such file"), "%s", lf_error_get());
    FILE *t = fopen("text.h5", "w");
    fputs("not hdf5\n", t);
    fclose(t);
    CHECK(lf_runlog_resume("text.h5", "pretrain", 3) == NULL);
    CHECK_MSG(strstr(lf_error_get(), "not an HDF5 file"), "%s", lf_error_get());
    CHECK(lf_runlog_resume("killed.h5", "pretrain", -1) == NULL);
}

static void test_appendable_h5io(void)
{
    /* The h5io pieces on their own: 2-D rows, truncate bounds, read-only refusal. */
    lf_h5 *f = lf_h5_create("app.h5", "app", 1);
    CHECK(f != NULL);
    if (!f) return;
    int64_t dims[2] = {0, 3};
    CHECK(lf_h5_create_appendable(f, "/g/x", LF_H5_F32, 2, dims, 4, "rows of three", NULL) == 0);
    CHECK(lf_h5_create_appendable(f, "/g/x", LF_H5_F32, 2, dims, 4, "again", NULL) != 0);
    float rowsv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (int i = 0; i < 3; i++) CHECK(lf_h5_append(f, "/g/x", LF_H5_F32, 1, rowsv + 3 * i) == 0);
    CHECK(lf_h5_append(f, "/g/x", LF_H5_F32, 3, rowsv) == 0); /* spans chunks of 4 rows */
    int64_t n = 0;
    CHECK(lf_h5_rows(f, "/g/x", &n) == 0 && n == 6);
    CHECK(lf_h5_truncate(f, "/g/x", 7) != 0 && strstr(lf_error_get(), "cannot truncate 6 rows to 7"));
    CHECK(lf_h5_truncate(f, "/g/x", 5) == 0);
    CHECK(lf_h5_publish(f) == 0);
    CHECK(lf_h5_publish(f) != 0);
    CHECK(lf_h5_close(f, 0) == 0);
    CHECK(exists("app.h5"));
    lf_h5 *r = lf_h5_open("app.h5");
    int rank;
    int64_t d[2];
    float *x = NULL;
    CHECK(r && lf_h5_read_f32(r, "/g/x", 2, &rank, d, &x) == 0);
    CHECK(x && rank == 2 && d[0] == 5 && d[1] == 3 && x[8] == 9 && x[9] == 1 && x[14] == 6);
    CHECK(lf_h5_append(r, "/g/x", LF_H5_F32, 1, rowsv) != 0 && strstr(lf_error_get(), "read-only"));
    lf_free(x);
    lf_h5_close(r, 0);
    /* A fixed-size dataset cannot grow. */
    f = lf_h5_open_rw("app.h5");
    int64_t one = 1, two[2] = {2, 3};
    CHECK(f && lf_h5_write(f, "/fixed", LF_H5_I64, 1, &one, two, "fixed", NULL) == 0);
    CHECK(lf_h5_append(f, "/fixed", LF_H5_I64, 1, &one) != 0 && strstr(lf_error_get(), "cannot extend"));
    CHECK(lf_h5_close(f, 1) == 0 && exists("app.h5"));
}

int main(void)
{
    check_program = "test_runlog";
    RUN(test_round_trip);
    RUN(test_killed_runs);
    RUN(test_resume);
    RUN(test_appendable_h5io);
    return check_summary();
}
