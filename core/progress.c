/* progress.c - progress line with rate and ETA (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double lf_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void lf_progress_start(lf_progress *p, const char *what, int64_t total, int64_t already_done)
{
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->start = p->done = already_done;
    p->t0 = p->last = lf_now();
    p->tty = isatty(STDERR_FILENO);
}

static void lf_progress_print(lf_progress *p, int final)
{
    double el = lf_now() - p->t0;
    double rate = el > 0 ? (double)(p->done - p->start) / el : 0.0;
    char line[256];
    if (final) {
        snprintf(line, sizeof line, "%lld/%lld %s in %.1f s (%.2f %s/s)", (long long)p->done,
                 (long long)p->total, p->what, el, rate, p->what);
    } else {
        double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0.0;
        snprintf(line, sizeof line, "%lld/%lld %s (%.1f%%), %.2f %s/s, elapsed %.0f s, ETA %.0f s",
                 (long long)p->done, (long long)p->total, p->what,
                 p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 100.0, rate, p->what,
                 el, eta);
    }
    if (p->tty)
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void lf_progress_update(lf_progress *p, int64_t done)
{
    p->done = done;
    double t = lf_now();
    if (t - p->last < (p->tty ? 0.5 : 10.0)) return;
    p->last = t;
    lf_progress_print(p, 0);
}

void lf_progress_finish(lf_progress *p) { lf_progress_print(p, 1); }
