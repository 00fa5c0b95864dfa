/* json_util.h - small helpers shared by the readers of JSON (jansson) in core/:
 * safetensors headers and config.json. */
#ifndef LF_JSON_UTIL_H
#define LF_JSON_UTIL_H

#include <jansson.h>

/* "an object", "an array", "a string", ... for error messages about wrong types. */
const char *lf_json_kind(const json_t *v);

#endif
