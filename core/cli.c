/* cli.c - strict parsing of flag values for the drivers (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mem.h"

int lf_parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s) LF_FAIL("%s: expected an integer, got an empty value", flag);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || end == s)
        LF_FAIL("%s: expected an integer, got '%s'", flag, s);
    if (v < lo || v > hi)
        LF_FAIL("%s: %lld is out of range [%lld, %lld]", flag, v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int lf_parse_u64(const char *flag, const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-') LF_FAIL("%s: expected a non-negative integer, got '%s'", flag, s ? s : "");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0') LF_FAIL("%s: expected a non-negative integer, got '%s'", flag, s);
    *out = v;
    return 0;
}

int lf_parse_i64_list(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t **items,
                      int *count)
{
    *items = NULL;
    *count = 0;
    if (!s || !*s) LF_FAIL("%s: expected a comma-separated list, got an empty value", flag);
    int n = 1;
    for (const char *c = s; *c; c++) n += *c == ',';
    int64_t *v = lf_alloc((size_t)n, sizeof *v);
    char *copy = strdup(s);
    if (!v || !copy) {
        lf_free(v);
        free(copy);
        LF_FAIL("%s: out of memory", flag);
    }
    int i = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (lf_parse_i64(flag, tok, lo, hi, &v[i]) != 0) {
            lf_free(v);
            free(copy);
            return -1;
        }
        i++;
    }
    free(copy);
    if (i != n) {
        lf_free(v);
        LF_FAIL("%s: empty item in list '%s'", flag, s);
    }
    *items = v;
    *count = n;
    return 0;
}

int lf_parse_names(const char *flag, const char *s, int (*accept)(const char *name), char ***names,
                   int *count)
{
    *names = NULL;
    *count = 0;
    if (!s || !*s) LF_FAIL("%s: expected a comma-separated list, got an empty value", flag);
    int n = 1;
    for (const char *c = s; *c; c++) n += *c == ',';
    size_t len = strlen(s) + 1;
    /* One block: n + 1 pointers, then the copied text. */
    char **v = lf_alloc(1, (size_t)(n + 1) * sizeof(char *) + len);
    if (!v) return -1;
    char *text = (char *)(v + n + 1);
    memcpy(text, s, len);
    int i = 0;
    char *start = text;
    for (char *c = text;; c++) {
        if (*c == ',' || *c == '\0') {
            int last = *c == '\0';
            *c = '\0';
            if (!*start) {
                lf_free(v);
                LF_FAIL("%s: empty item in list '%s'", flag, s);
            }
            if (accept && accept(start) != 0) {
                lf_error_prefix("%s", flag);
                lf_free(v);
                return -1;
            }
            v[i++] = start;
            start = c + 1;
            if (last) break;
        }
    }
    v[i] = NULL;
    *names = v;
    *count = i;
    return 0;
}

void lf_cli_names_free(char **names) { lf_free(names); }

void lf_cli_fail(const char *prog, int status)
{
    fprintf(stderr, "%s: error: %s\n", prog, lf_error_get());
    exit(status);
}
