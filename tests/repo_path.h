/* repo_path.h - how test programs find files of the repository (tests/data fixtures,
 * data/ downloads) while they run in a scratch directory: under $LF_REPO (tests/run.sh
 * sets it), else in the nearest ancestor of the test program's own directory that
 * holds the path (the programs live in bin/tests/ or build/<variant>/bin/tests/).
 * $LF_TESTS_DATA, when set, overrides the location of tests/data. */
#ifndef LF_REPO_PATH_H
#define LF_REPO_PATH_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((unused)) static int repo_path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Writes the location of REL (e.g. "tests/data" or "data/all-MiniLM-L6-v2") into out
 * and returns 1 if it exists; 0 (out still set to the best guess) otherwise. */
__attribute__((unused)) static int repo_path(const char *rel, char *out, size_t cap)
{
    const char *env = getenv("LF_TESTS_DATA");
    if (env && *env && strcmp(rel, "tests/data") == 0) {
        snprintf(out, cap, "%s", env);
        return repo_path_exists(out);
    }
    env = getenv("LF_REPO");
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, rel);
        return repo_path_exists(out);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (char *slash; (slash = strrchr(exe, '/')) && slash != exe;) {
            *slash = '\0';
            if (snprintf(out, cap, "%s/%s", exe, rel) < (int)cap && repo_path_exists(out)) return 1;
        }
    }
    snprintf(out, cap, "%s", rel);
    return repo_path_exists(out);
}

#endif
