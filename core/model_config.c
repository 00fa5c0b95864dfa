/* model_config.c - reading and validating a Hugging Face config.json (see
 * model_config.h for the fields, defaults and checks).
 *
 * The JSON is parsed by jansson with duplicate keys rejected: a config that says
 * two different things about one field is an error, not a choice of the last one.
 */
#include "model_config.h"

#include <errno.h>
#include <jansson.h>

#include "json_util.h"
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "mem.h"

/* A config.json is a few hundred bytes; anything this large is not one. */
#define CFG_MAX_BYTES (16u << 20)

const char *lf_activation_name(lf_activation act)
{
    switch (act) {
    case LF_ACT_GELU_ERF: return "gelu (exact erf)";
    case LF_ACT_GELU_TANH: return "gelu (tanh approximation)";
    }
    return "unknown";
}

/* A positive int field; DEF <= 0 means the field is required. */
static int cfg_positive(const char *name, const json_t *root, const char *key, int def, int *out)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        if (def <= 0) LF_FAIL("%s: %s: missing (required)", name, key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v)) LF_FAIL("%s: %s: is %s, expected an integer", name, key, lf_json_kind(v));
    json_int_t x = json_integer_value(v);
    if (x <= 0) LF_FAIL("%s: %s: %lld is not positive", name, key, (long long)x);
    if (x > INT_MAX) LF_FAIL("%s: %s: %lld is too large", name, key, (long long)x);
    *out = (int)x;
    return 0;
}

/* A string field copied into OUT (CAP bytes); DEF NULL means required. */
static int cfg_string(const char *name, const json_t *root, const char *key, const char *def,
                      char *out, size_t cap)
{
    const json_t *v = json_object_get(root, key);
    const char *s = def;
    if (v) {
        if (!json_is_string(v)) LF_FAIL("%s: %s: is %s, expected a string", name, key, lf_json_kind(v));
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) LF_FAIL("%s: %s: contains a NUL character", name, key);
    } else if (!def) {
        LF_FAIL("%s: %s: missing (required)", name, key);
    }
    if (strlen(s) >= cap) LF_FAIL("%s: %s: '%.40s...' is too long", name, key, s);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* model_type, or its inference from architectures[0] for files written before
 * model_type existed (AutoConfig does the same from the model name). */
static int cfg_model_type(const char *name, const json_t *root, lf_model_config *c)
{
    if (json_object_get(root, "model_type")) {
        LF_TRY(cfg_string(name, root, "model_type", NULL, c->model_type, sizeof c->model_type));
    } else {
        const json_t *arch = json_object_get(root, "architectures");
        const char *a = json_is_array(arch) ? json_string_value(json_array_get(arch, 0)) : NULL;
        if (!a)
            LF_FAIL("%s: model_type: missing, and no architectures list to infer it from "
                    "(expected \"model_type\": \"bert\" or \"roberta\")",
                    name);
        const char *t = !strncmp(a, "Bert", 4)         ? "bert"
                        : !strncmp(a, "XLMRoberta", 10) ? "xlm-roberta"
                        : !strncmp(a, "Roberta", 7)     ? "roberta"
                                                        : NULL;
        if (!t)
            LF_FAIL("%s: model_type: missing, and architecture '%.60s' is not a BERT or RoBERTa "
                    "model",
                    name, a);
        snprintf(c->model_type, sizeof c->model_type, "%s", t);
    }
    if (!strcmp(c->model_type, "bert"))
        c->family = LF_MODEL_BERT;
    else if (!strcmp(c->model_type, "roberta") || !strcmp(c->model_type, "xlm-roberta"))
        c->family = LF_MODEL_ROBERTA;
    else
        LF_FAIL("%s: model_type: '%s' is not supported (bert, roberta, xlm-roberta)", name,
                c->model_type);
    return 0;
}

static int cfg_activation(const char *name, const json_t *root, lf_model_config *c)
{
    LF_TRY(cfg_string(name, root, "hidden_act", "gelu", c->hidden_act_name, sizeof c->hidden_act_name));
    const char *a = c->hidden_act_name;
    if (!strcmp(a, "gelu") || !strcmp(a, "gelu_python"))
        c->hidden_act = LF_ACT_GELU_ERF;
    else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast"))
        c->hidden_act = LF_ACT_GELU_TANH;
    else
        LF_FAIL("%s: hidden_act: '%s' is not supported (gelu, gelu_python: exact erf GELU; "
                "gelu_new, gelu_pytorch_tanh, gelu_fast: tanh approximation)",
                name, a);
    return 0;
}

static int cfg_from_json(const json_t *root, const char *name, lf_model_config *out)
{
    if (!json_is_object(root))
        LF_FAIL("%s: the top level is %s, expected an object of settings", name, lf_json_kind(root));
    lf_model_config c;
    memset(&c, 0, sizeof c);
    LF_TRY(cfg_model_type(name, root, &c));
    const int roberta = c.family == LF_MODEL_ROBERTA;
    /* Defaults: the constructor arguments of BertConfig, RobertaConfig, XLMRobertaConfig. */
    const int def_vocab = !strcmp(c.model_type, "roberta") ? 50265 : 30522;
    const int def_pad = roberta ? 1 : 0;

    LF_TRY(cfg_positive(name, root, "vocab_size", def_vocab, &c.vocab_size));
    LF_TRY(cfg_positive(name, root, "hidden_size", 768, &c.hidden_size));
    LF_TRY(cfg_positive(name, root, "num_hidden_layers", 12, &c.num_hidden_layers));
    LF_TRY(cfg_positive(name, root, "num_attention_heads", 12, &c.num_attention_heads));
    LF_TRY(cfg_positive(name, root, "intermediate_size", 3072, &c.intermediate_size));
    LF_TRY(cfg_positive(name, root, "max_position_embeddings", 512, &c.max_position_embeddings));
    LF_TRY(cfg_positive(name, root, "type_vocab_size", 2, &c.type_vocab_size));
    if (c.hidden_size % c.num_attention_heads)
        LF_FAIL("%s: num_attention_heads: hidden_size %d is not divisible by %d heads", name,
                c.hidden_size, c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;

    const json_t *eps = json_object_get(root, "layer_norm_eps");
    c.layer_norm_eps = 1e-12;
    if (eps) {
        if (!json_is_number(eps))
            LF_FAIL("%s: layer_norm_eps: is %s, expected a number", name, lf_json_kind(eps));
        c.layer_norm_eps = json_number_value(eps);
        if (!(c.layer_norm_eps > 0) || !isfinite(c.layer_norm_eps))
            LF_FAIL("%s: layer_norm_eps: %g is not a positive finite number", name, c.layer_norm_eps);
    }

    LF_TRY(cfg_activation(name, root, &c));

    const json_t *pad = json_object_get(root, "pad_token_id");
    c.pad_token_id = def_pad;
    if (pad && json_is_null(pad)) {
        /* BERT only uses the padding id for masking, which the suite does from
         * lengths; RoBERTa needs it to place its positions. */
        if (roberta) LF_FAIL("%s: pad_token_id: null, but RoBERTa positions start after it", name);
        c.pad_token_id = -1;
    } else if (pad) {
        if (!json_is_integer(pad))
            LF_FAIL("%s: pad_token_id: is %s, expected an integer", name, lf_json_kind(pad));
        json_int_t p = json_integer_value(pad);
        if (p < 0 || p >= c.vocab_size)
            LF_FAIL("%s: pad_token_id: %lld is outside the vocabulary [0, %d)", name, (long long)p,
                    c.vocab_size);
        c.pad_token_id = (int)p;
    }

    char pet[32];
    LF_TRY(cfg_string(name, root, "position_embedding_type", "absolute", pet, sizeof pet));
    if (strcmp(pet, "absolute"))
        LF_FAIL("%s: position_embedding_type: '%s' is not supported (only absolute)", name, pet);

    c.position_offset = roberta ? c.pad_token_id + 1 : 0;
    if (c.max_position_embeddings <= c.position_offset)
        LF_FAIL("%s: max_position_embeddings: %d rows leave no position after the %d that RoBERTa "
                "skips (pad_token_id + 1)",
                name, c.max_position_embeddings, c.position_offset);
    c.max_seq_len = c.max_position_embeddings - c.position_offset;
    *out = c;
    return 0;
}

int lf_model_config_parse(const char *json, size_t len, const char *name, lf_model_config *cfg)
{
    if (!name) name = "config.json";
    if (!json || !cfg) LF_FAIL("%s: no text or no output (NULL)", name);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        LF_FAIL("%s: not valid JSON (line %d, column %d): %s", name, err.line, err.column, err.text);
    int rc = cfg_from_json(root, name, cfg);
    json_decref(root);
    return rc;
}

int lf_model_config_load(const char *path, lf_model_config *cfg)
{
    if (!path) LF_FAIL("config.json: no path (NULL)");
    FILE *f = fopen(path, "rb");
    if (!f) LF_FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        LF_FAIL("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        if (S_ISDIR(sb.st_mode)) LF_FAIL("%s: is a directory (give the config.json inside it)", path);
        LF_FAIL("%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > CFG_MAX_BYTES) {
        fclose(f);
        LF_FAIL("%s: %lld bytes is too large for a config.json", path, (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = lf_alloc(size ? size : 1, 1);
    if (!buf) {
        fclose(f);
        lf_error_prefix("%s", path);
        return -1;
    }
    size_t got = fread(buf, 1, size, f);
    int bad = ferror(f) || got != size;
    fclose(f);
    if (bad) {
        lf_free(buf);
        LF_FAIL("%s: read error", path);
    }
    int rc = lf_model_config_parse(buf, size, path, cfg);
    lf_free(buf);
    return rc;
}

int lf_model_config_bert(lf_model_config *cfg, int layers, int heads, int hidden,
                         int max_positions)
{
    if (hidden > INT_MAX / 4)
        LF_FAIL("model config: hidden size %d is too large", hidden);
    /* Through the JSON parser, so an in-memory config is checked exactly like a file. */
    char json[256];
    snprintf(json, sizeof json,
             "{\"model_type\": \"bert\", \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
             "\"hidden_size\": %d, \"intermediate_size\": %d, \"max_position_embeddings\": %d}",
             layers, heads, hidden, 4 * hidden, max_positions);
    return lf_model_config_parse(json, strlen(json), "model config", cfg);
}
