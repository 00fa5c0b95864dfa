/* fuzz_safetensors.c - libFuzzer target for the safetensors reader and the config.json
 * reader (core/safetensors.c, core/model_config.c).
 *
 * Each input is opened as a whole safetensors image with lf_safetensors_open_memory,
 * which references the fuzzer's buffer without copying, so AddressSanitizer flags any
 * read outside it. An accepted image is then walked completely: every tensor is
 * found by name, shape-checked, every byte of its data read, and F32/F16/BF16 ones
 * converted to float32. The same bytes are also parsed as a config.json. After each
 * input the library's own allocation counter must be back where it started (a leak
 * of lf_alloc'd memory aborts here even before LeakSanitizer runs at exit).
 * Not part of `make test` (it needs clang's libFuzzer); build and run by hand:
 *
 *   cd /work/main   # the repository root
 *   mkdir -p build/fuzz/corpus build/fuzz/seeds
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Icore tests/fuzz_safetensors.c core/safetensors.c core/model_config.c core/json_util.c core/mem.c \
 *     core/error.c -ljansson -lm -o build/fuzz/fuzz_safetensors
 *   build/fuzz/fuzz_safetensors -seed_dir=build/fuzz/seeds       # writes the seed files
 *   build/fuzz/fuzz_safetensors -dict=build/fuzz/seeds.dict -max_len=4096 -max_total_time=120 \
 *     -print_final_stats=1 build/fuzz/corpus build/fuzz/seeds
 *
 * A crash leaves crash-<sha1> in the current directory; rerun it with
 * `build/fuzz/fuzz_safetensors crash-<sha1>`. LSAN_OPTIONS=suppressions=tests/lsan.supp is
 * not needed: nothing but jansson and the reader runs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "mem.h"
#include "model_config.h"
#include "safetensors.h"

/* Keeps the data reads from being optimised away. */
static volatile unsigned sink;

static void walk(const lf_safetensors *st)
{
    int n = lf_safetensors_count(st);
    for (int i = 0; i < n; i++) {
        const lf_st_tensor *t = lf_safetensors_tensor(st, i);
        if (!t) abort();
        const lf_st_tensor *u = lf_safetensors_find(st, t->name);
        if (u != t) abort(); /* names are unique: lookup must find this very record */
        if (lf_safetensors_check_shape(st, t, t->rank, t->shape) != 0) abort();
        if (t->end < t->begin || (uint64_t)t->count * lf_st_dtype_size(t->dtype) != t->end - t->begin)
            abort();
        unsigned acc = 0;
        for (uint64_t b = 0; b < t->end - t->begin; b++) acc += t->data[b];
        sink += acc;
        if (t->dtype == LF_ST_F32 || t->dtype == LF_ST_F16 || t->dtype == LF_ST_BF16) {
            /* count <= data bytes / 2 here (empty tensors aside), so this is small. */
            float *v = lf_safetensors_load_f32(st, t->name, t->rank, t->shape);
            if (!v) abort();
            for (int64_t j = 0; j < t->count; j++) sink += (unsigned)(v[j] != v[j]);
            lf_free(v);
        } else if (lf_safetensors_load_f32(st, t->name, -1, NULL) != NULL) {
            abort();
        }
    }
    sink += lf_safetensors_metadata(st, "format") != NULL;
    sink += lf_safetensors_find(st, "\xff no such tensor") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t before = lf_mem_current();
    lf_safetensors *st = lf_safetensors_open_memory(data, size, "fuzz");
    if (st) walk(st);
    else if (!lf_error_get()[0]) abort();
    lf_safetensors_close(st);

    lf_model_config cfg;
    if (lf_model_config_parse((const char *)data, size, "fuzz", &cfg) == 0) {
        if (cfg.hidden_size % cfg.num_attention_heads || cfg.layer_norm_eps <= 0 || cfg.max_seq_len <= 0)
            abort();
    }
    if (lf_mem_current() != before) {
        fprintf(stderr, "fuzz: %zu bytes of lf_alloc memory not freed\n", lf_mem_current() - before);
        abort();
    }
    return 0;
}

/* ---- seeds: `fuzz_safetensors -seed_dir=DIR` writes a few valid inputs to DIR and a
 * dictionary to DIR.dict, then exits. */

static void put(const char *dir, const char *name, const char *header, const void *d, size_t nd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint64_t n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    if (nd) fwrite(d, 1, nd, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = NULL;
    for (int i = 1; i < *argc; i++)
        if (!strncmp((*argv)[i], "-seed_dir=", 10)) dir = (*argv)[i] + 10;
    if (!dir) return 0;
    mkdir(dir, 0755);
    unsigned char d[64];
    for (int i = 0; i < 64; i++) d[i] = (unsigned char)(i * 37 + 11);
    put(dir, "f32", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", d, 24);
    put(dir, "mixed",
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
        "\"c\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[32,36]},"
        "\"e\":{\"dtype\":\"U8\",\"shape\":[0,7],\"data_offsets\":[36,36]}}    ",
        d, 40);
    put(dir, "empty", "{}      ", NULL, 0);
    /* Near misses, so that mutations reach the rarer checks quickly. */
    put(dir, "rank8", "{\"r\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}", d, 2);
    put(dir, "huge", "{\"h\":{\"dtype\":\"F64\",\"shape\":[4294967296,2147483648,0],\"data_offsets\":[0,0]}}",
        NULL, 0);
    put(dir, "overlap",
        "{\"p\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"q\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},"
        "\"__metadata__\":{\"k\":\"v\",\"n\":\"1\"}}",
        d, 10);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("{\"model_type\":\"bert\",\"hidden_size\":384,\"num_attention_heads\":12,"
              "\"num_hidden_layers\":6,\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-12,"
              "\"pad_token_id\":0,\"max_position_embeddings\":512,\"vocab_size\":30522}",
              f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s.dict", dir); /* beside the seeds, not among them */
    f = fopen(path, "w");
    if (f) {
        const char *words[] = {"dtype", "shape", "data_offsets", "__metadata__", "F32", "F16",
                               "BF16", "I64", "F64", "U8", "BOOL", "F8_E4M3", "model_type",
                               "roberta", "hidden_act", "gelu_new", "layer_norm_eps",
                               "num_attention_heads", "pad_token_id", "9223372036854775807",
                               "18446744073709551615", "4294967296", "\\u0000", "-1"};
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            fputc('"', f);
            for (const char *c = words[i]; *c; c++) {
                if (*c == '"' || *c == '\\') fputc('\\', f);
                fputc(*c, f);
            }
            fputs("\"\n", f);
        }
        fclose(f);
    }
    fprintf(stderr, "fuzz: seeds and dict written to %s\n", dir);
    exit(0);
}
