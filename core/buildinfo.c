/* buildinfo.c - build provenance (see buildinfo.h).
 *
 * Rebuilt on every build (Makefile) so that LF_GIT_REV and LF_GIT_DIRTY describe
 * the sources of this very binary.
 */
#include "buildinfo.h"

#include <hdf5.h>
#include <lapacke.h>
#include <stdio.h>

#include "parallel.h"

/* Fallbacks keep the file compilable outside the Makefile (an IDE, a quick cc). */
#ifndef LF_GIT_REV
#define LF_GIT_REV "unknown"
#endif
#ifndef LF_GIT_DIRTY
#define LF_GIT_DIRTY 0
#endif
#ifndef LF_CFLAGS
#define LF_CFLAGS "unknown"
#endif
#ifndef LF_CUDA
#define LF_CUDA 0
#endif

/* clang also defines __GNUC__, so it is tested first. */
#if defined(__clang__)
#define LF_COMPILER "clang " __VERSION__
#elif defined(__GNUC__)
#define LF_COMPILER "gcc " __VERSION__
#else
#define LF_COMPILER __VERSION__
#endif

const char *lf_build_git_revision(void) { return LF_GIT_REV[0] ? LF_GIT_REV : "unknown"; }
int lf_build_git_dirty(void) { return LF_GIT_DIRTY ? 1 : 0; }
const char *lf_build_compiler(void) { return LF_COMPILER; }
const char *lf_build_cflags(void) { return LF_CFLAGS; }

const char *lf_build_blas(void)
{
    const char *s = lf_blas_config();
    return s ? s : "unknown";
}

/* Thread-local buffers: callers on different threads never race on the text. */
const char *lf_build_lapack_version(void)
{
    static _Thread_local char buf[48];
    lapack_int major = 0, minor = 0, patch = 0;
    LAPACKE_ilaver(&major, &minor, &patch);
    snprintf(buf, sizeof buf, "%d.%d.%d", (int)major, (int)minor, (int)patch);
    return buf;
}

const char *lf_build_hdf5_version(void)
{
    static _Thread_local char buf[48];
    unsigned major = 0, minor = 0, release = 0;
    if (H5get_libversion(&major, &minor, &release) < 0) return "unknown";
    snprintf(buf, sizeof buf, "%u.%u.%u", major, minor, release);
    return buf;
}

int lf_build_cuda(void) { return LF_CUDA ? 1 : 0; }
int lf_build_threads(void) { return lf_threads_get(); }
