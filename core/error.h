/* error.h - the library's error convention.
 *
 * Library functions return 0 on success and -1 on failure; on failure they set a
 * thread-local message with lf_error_set ("what: why"). Drivers print it as one
 * line and exit non-zero. Only a broken internal invariant aborts (LF_ASSERT).
 */
#ifndef LF_ERROR_H
#define LF_ERROR_H

#include <stdio.h>
#include <stdlib.h>

void lf_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the current message: "context: <old message>". */
void lf_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *lf_error_get(void);
void lf_error_clear(void);

#define LF_FAIL(...)                                                                               \
    do {                                                                                           \
        lf_error_set(__VA_ARGS__);                                                                 \
        return -1;                                                                                 \
    } while (0)

/* Propagate a failure from a call that already set the message. */
#define LF_TRY(call)                                                                               \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

#define LF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", __FILE__, __LINE__,  \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
