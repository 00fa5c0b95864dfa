/* buildinfo.h - build provenance: what code, compiler, flags and libraries made
 * this binary, recorded in every results file (/code in DESIGN.md).
 *
 * The Makefile passes the git revision, dirty flag, optimisation flags and CUDA
 * switch as macros when compiling buildinfo.c, and rebuilds that one object on
 * every build so the revision never goes stale. Library versions are asked of the
 * libraries actually linked, not of the headers. All strings are static (or
 * thread-local) and must not be freed.
 */
#ifndef LF_BUILDINFO_H
#define LF_BUILDINFO_H

/* 12-character git revision, or "unknown" outside a git checkout. */
const char *lf_build_git_revision(void);
/* 1 when tracked files had uncommitted changes at build time. */
int lf_build_git_dirty(void);
/* "gcc 12.2.0", "clang <version>", or the bare __VERSION__ of another compiler. */
const char *lf_build_compiler(void);
/* Optimisation, OpenMP and sanitizer flags of the build. */
const char *lf_build_cflags(void);
/* OpenBLAS configuration string (version, target, threading). */
const char *lf_build_blas(void);
/* Reference LAPACK version from LAPACKE_ilaver, "3.11.0". */
const char *lf_build_lapack_version(void);
/* HDF5 library version from H5get_libversion, "1.10.8". */
const char *lf_build_hdf5_version(void);
/* 1 when the CUDA backend was built alongside this binary. */
int lf_build_cuda(void);
/* Threads used for OpenMP and BLAS (lf_threads_get). */
int lf_build_threads(void);

#endif
