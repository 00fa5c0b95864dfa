/* model.h - a pretrained BERT or RoBERTa encoder loaded from a Hugging Face model
 * directory: config.json (model_config.h), model.safetensors (safetensors.h) and,
 * when present, vocab.txt (tokenizer.h).
 *
 * Every parameter lives in one float32 allocation carved into named pointers
 * (the llm.c layout); per-layer tensors are stacked over the L layers so that layer
 * l's slice starts at l times the per-layer size. F16 and BF16 checkpoints are
 * widened exactly. Matrices keep torch.nn.Linear's [out_features, in_features]
 * layout, so y = x W^T + b is an sgemm with the second operand transposed.
 *
 * Tensor names are Hugging Face's (BertModel / RobertaModel), optionally under a
 * "bert." or "roberta." prefix (checkpoints saved from *ForMaskedLM and friends):
 *   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.*,
 *   encoder.layer.N.attention.self.{query,key,value}.{weight,bias},
 *   encoder.layer.N.attention.output.dense.*, encoder.layer.N.attention.output.LayerNorm.*,
 *   encoder.layer.N.intermediate.dense.*, encoder.layer.N.output.dense.*,
 *   encoder.layer.N.output.LayerNorm.*
 * (layer-norm parameters may also be called gamma/beta, as in checkpoints converted
 * from TensorFlow, bert-base-uncased among them).
 * Every one must be present with the shape the config implies; other tensors
 * (pooler, position_ids buffer, MLM head) are ignored, as Hugging Face ignores
 * unexpected keys. Errors name the file, the tensor and got vs expected, e.g.
 *   "m/model.safetensors: 'encoder.layer.3.attention.self.key.weight' has shape
 *    [384, 383], expected [384, 384]".
 */
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model_config.h"
#include "tokenizer.h"

/* Shapes use V = vocab_size, P = max_position_embeddings, T = type_vocab_size,
 * C = hidden_size, I = intermediate_size, L = num_hidden_layers. */
typedef struct {
    float *word_emb;   /* (V, C) */
    float *pos_emb;    /* (P, C); RoBERTa's rows 0..pad_token_id are never used */
    float *type_emb;   /* (T, C) */
    float *emb_ln_w;   /* (C) */
    float *emb_ln_b;   /* (C) */
    float *qkv_w;      /* (L, 3C, C): query, key, value weights stacked, so one sgemm
                          projects all three */
    float *qkv_b;      /* (L, 3C) */
    float *attn_out_w; /* (L, C, C) attention.output.dense */
    float *attn_out_b; /* (L, C) */
    float *attn_ln_w;  /* (L, C) attention.output.LayerNorm */
    float *attn_ln_b;  /* (L, C) */
    float *ffn_in_w;   /* (L, I, C) intermediate.dense */
    float *ffn_in_b;   /* (L, I) */
    float *ffn_out_w;  /* (L, C, I) output.dense */
    float *ffn_out_b;  /* (L, C) */
    float *ffn_ln_w;   /* (L, C) output.LayerNorm */
    float *ffn_ln_b;   /* (L, C) */
} lf_model_weights;

typedef struct {
    lf_model_config config;
    lf_model_weights w;
    float *params;          /* the one allocation every pointer of w points into */
    size_t num_params;      /* parameters loaded (the allocation adds alignment padding) */
    lf_tokenizer *tokenizer; /* from vocab.txt; NULL when the model came without one */
    char prefix[16];        /* tensor-name prefix found in the file: "", "bert." or "roberta." */
} lf_model;

/* Loads DIR/config.json and DIR/model.safetensors, and DIR/vocab.txt when that file
 * exists (RoBERTa directories have a BPE vocab.json instead; m->tokenizer is then
 * NULL and a caller that needs a tokenizer says so). A vocab.txt whose size differs
 * from the embedding rows is an error ("vocab.txt has N tokens but the embeddings
 * have M rows"). Returns NULL with the error set on failure, nothing left allocated.
 * Free with lf_model_free. */
lf_model *lf_model_load(const char *dir);

/* lf_model_load for a driver that cuts text into sequences of seq_len tokens: the
 * directory must also have a WordPiece vocab.txt ("DIR: no vocab.txt; WHO needs a
 * WordPiece vocabulary") and seq_len must not exceed the model's positions
 * ("--seq-len N exceeds the model's P positions"). NULL (error set) otherwise. */
lf_model *lf_model_load_for_text(const char *dir, int64_t seq_len, const char *who);

/* The same from explicit paths; VOCAB_PATH may be NULL (no tokenizer). */
lf_model *lf_model_load_files(const char *config_path, const char *weights_path,
                              const char *vocab_path);

/* A model of configuration CFG with random parameters, as BERT initialises them
 * (Hugging Face's _init_weights, initializer_range 0.02): weight matrices and
 * embeddings N(0, 0.02^2), biases 0, layer-norm weights 1 and biases 0; no
 * tokenizer. Deterministic in SEED whatever the thread count: the parameters are
 * filled in blocks of 2^20, block b of tensor t from rng stream (t << 32) + b.
 * For benchmarks and tests that need a model of a given shape without a file.
 * NULL (error set) on failure. Free with lf_model_free. */
lf_model *lf_model_random(const lf_model_config *cfg, uint64_t seed);

/* Frees the model, its parameters and its tokenizer; NULL is a no-op. */
void lf_model_free(lf_model *m);

#endif
