/* error.c - thread-local error messages (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <string.h>

#define LF_ERROR_LEN 1024
static _Thread_local char lf_error_msg[LF_ERROR_LEN];

void lf_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lf_error_msg, sizeof lf_error_msg, fmt, ap);
    va_end(ap);
}

void lf_error_prefix(const char *fmt, ...)
{
    char old[LF_ERROR_LEN], ctx[LF_ERROR_LEN];
    memcpy(old, lf_error_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    /* Assemble by hand: the result is cut at the buffer size like any message. */
    size_t pos = 0;
    const char *parts[3] = {ctx, ": ", old};
    for (int i = 0; i < 3; i++)
        for (const char *c = parts[i]; *c && pos + 1 < sizeof lf_error_msg; c++)
            lf_error_msg[pos++] = *c;
    lf_error_msg[pos] = '\0';
}

const char *lf_error_get(void) { return lf_error_msg[0] ? lf_error_msg : "unknown error"; }

void lf_error_clear(void) { lf_error_msg[0] = '\0'; }
