/* model_config.h - the config.json of a Hugging Face BERT or RoBERTa encoder.
 *
 * Reads the fields the encoder needs, checks their JSON types and values, and fills
 * missing ones only where Hugging Face's own config class has a default (its
 * BertConfig / RobertaConfig constructor arguments):
 *
 *   field                     BERT default   RoBERTa default   check
 *   model_type                (required; inferred from architectures[0] "Bert..." /
 *                              "Roberta..." / "XLMRoberta..." when absent, as old files lack it)
 *   vocab_size                30522          50265             > 0
 *   hidden_size               768            768               > 0, divisible by heads
 *   num_hidden_layers         12             12                > 0
 *   num_attention_heads       12             12                > 0
 *   intermediate_size         3072           3072              > 0
 *   max_position_embeddings   512            512               > 0 (RoBERTa: > pad + 1)
 *   type_vocab_size           2              2 (files say 1)   > 0
 *   layer_norm_eps            1e-12          1e-12 (files 1e-5) finite, > 0
 *   hidden_act                "gelu"         "gelu"            see lf_activation
 *   pad_token_id              0              1                 in [0, vocab_size)
 *   position_embedding_type   "absolute"     "absolute"        only "absolute"
 *
 * model_type "bert" is BERT; "roberta" and "xlm-roberta" (the same architecture) are
 * RoBERTa, whose position ids start after the padding id: position i of a sequence
 * uses row pad_token_id + 1 + i of the position embeddings, so at most
 * max_position_embeddings - pad_token_id - 1 tokens fit (514 - 2 = 512).
 * Other model types (distilbert, albert, ...) name their fields differently and are
 * rejected. Errors: -1 with "PATH: field: reason", e.g.
 * "config.json: num_attention_heads: hidden_size 384 is not divisible by 5 heads".
 */
#ifndef LF_MODEL_CONFIG_H
#define LF_MODEL_CONFIG_H

#include <stddef.h>

typedef enum { LF_MODEL_BERT, LF_MODEL_ROBERTA } lf_model_family;

/* GELU variants. Hugging Face's "gelu" (and "gelu_python") is the exact
 * x/2 (1 + erf(x / sqrt 2)); "gelu_new", "gelu_pytorch_tanh" and "gelu_fast" are
 * the tanh approximation x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
typedef enum { LF_ACT_GELU_ERF, LF_ACT_GELU_TANH } lf_activation;

typedef struct {
    char model_type[32];   /* as in the file ("bert", "roberta", "xlm-roberta") */
    lf_model_family family;
    int vocab_size;
    int hidden_size;
    int num_hidden_layers;
    int num_attention_heads;
    int head_dim;          /* hidden_size / num_attention_heads */
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    double layer_norm_eps;
    lf_activation hidden_act;
    char hidden_act_name[32]; /* as in the file */
    int pad_token_id;
    int position_offset;   /* first position-embedding row: 0 (BERT), pad_token_id + 1 (RoBERTa) */
    int max_seq_len;       /* max_position_embeddings - position_offset */
} lf_model_config;

/* Reads and validates the config.json at PATH into *CFG (untouched on failure). */
int lf_model_config_load(const char *path, lf_model_config *cfg);
/* The same from LEN bytes of JSON text; NAME is used in messages. */
int lf_model_config_parse(const char *json, size_t len, const char *name, lf_model_config *cfg);

/* A BERT config of the given shape with every other field at BertConfig's default
 * (vocabulary 30522, intermediate 4 hidden, exact GELU, eps 1e-12), validated like a
 * file (e.g. hidden not divisible by heads fails). For models made in memory
 * (lf_model_random); *cfg untouched on failure. */
int lf_model_config_bert(lf_model_config *cfg, int layers, int heads, int hidden,
                         int max_positions);

/* "gelu (exact erf)" / "gelu (tanh approximation)". */
const char *lf_activation_name(lf_activation act);

#endif
