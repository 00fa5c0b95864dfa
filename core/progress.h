/* progress.h - a progress line with rate and ETA on stderr for long runs.
 *
 * On a terminal the line is redrawn in place at most twice a second; otherwise
 * (logs, CI) a plain line is printed at most every 10 seconds, so logs stay short.
 */
#ifndef LF_PROGRESS_H
#define LF_PROGRESS_H

#include <stdint.h>

typedef struct {
    char what[64];   /* e.g. "sequences" */
    int64_t total;   /* items to do in all */
    int64_t start;   /* items already done when this run started (resume) */
    int64_t done;
    double t0, last; /* monotonic seconds */
    int tty;
} lf_progress;

void lf_progress_start(lf_progress *p, const char *what, int64_t total, int64_t already_done);
void lf_progress_update(lf_progress *p, int64_t done);
/* Final line (always printed). */
void lf_progress_finish(lf_progress *p);
/* Monotonic clock in seconds. */
double lf_now(void);

#endif
