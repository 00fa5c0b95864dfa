/* cli.h - shared command-line helpers for the drivers: strict number and list
 * parsing with messages that name the flag, and the one-line error convention.
 *
 * Exit statuses (DESIGN.md): 2 for usage errors and malformed input, 1 for
 * run-time failures.
 */
#ifndef LF_CLI_H
#define LF_CLI_H

#include <stdint.h>

#define LF_EXIT_USAGE 2
#define LF_EXIT_RUNTIME 1

/* Whole-string integer in [lo, hi]; error "--flag: ..." otherwise. */
int lf_parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
int lf_parse_u64(const char *flag, const char *s, uint64_t *out);
/* Comma-separated integers, each in [lo, hi]; *items is lf_alloc'ed (lf_free it). */
int lf_parse_i64_list(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t **items,
                      int *count);
/* Comma-separated names, each checked by accept(name) == 0 (which sets the error);
 * returns a lf_alloc'ed array of pointers into a lf_alloc'ed copy: free both with
 * lf_cli_names_free. */
int lf_parse_names(const char *flag, const char *s, int (*accept)(const char *name), char ***names,
                   int *count);
void lf_cli_names_free(char **names);

/* Prints "prog: error: <message>" on stderr and exits with status. */
void lf_cli_fail(const char *prog, int status) __attribute__((noreturn));

#endif
