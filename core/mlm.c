/* mlm.c - the float32 masked-LM model (mlm.h): the fast path, products through lf_sgemm
 * with OpenMP. The code is in mlm_impl.h, shared with the float64 reference mlm_f64.c. */
#include "mlm.h"

#define REAL float
#define MLM lf_mlm
#define MLM_FN(name) lf_mlm_##name
#include "mlm_impl.h"

lf_mlm_config lf_mlm_config_default(void)
{
    lf_mlm_config c;
    memset(&c, 0, sizeof c);
    c.vocab = 256;
    c.max_len = 128;
    c.dim = 128;
    c.heads = 4;
    c.layers = 4;
    c.ffn = 512;
    c.sharing = LF_SHARE_NONE;
    c.kind = LF_PROJ_LINEAR;
    c.ln_eps = 1e-5;
    c.init_std = 0.02;
    c.seed = 1;
    return c;
}

int lf_mlm_batch_check(const lf_mlm_config *c, const lf_mlm_batch *b, const char *fn)
{
    if (!b || !b->ids || !b->targets) LF_FAIL("%s: NULL batch, ids or targets", fn);
    if (b->B < 1 || b->n < 1 || b->n > c->max_len)
        LF_FAIL("%s: batch %lld x %lld: need B >= 1 and 1 <= n <= %d (max_len)", fn,
                (long long)b->B, (long long)b->n, c->max_len);
    int64_t widest = 3 * (int64_t)c->dim;
    if (c->ffn > widest) widest = c->ffn;
    if (c->vocab > widest) widest = c->vocab;
    if (b->B > INT32_MAX / b->n || b->B * b->n > INT32_MAX / widest)
        LF_FAIL("%s: batch %lld x %lld is too large", fn, (long long)b->B, (long long)b->n);
    for (int64_t i = 0; i < b->B * b->n; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab)
            LF_FAIL("%s: token id %d at sequence %lld position %lld is outside [0, %d)", fn,
                    (int)b->ids[i], (long long)(i / b->n), (long long)(i % b->n), c->vocab);
        if (b->targets[i] < -1 || b->targets[i] >= c->vocab)
            LF_FAIL("%s: target %d at sequence %lld position %lld is outside [-1, %d)", fn,
                    (int)b->targets[i], (long long)(i / b->n), (long long)(i % b->n), c->vocab);
        if (b->targets[i] >= 0 && b->mask && !b->mask[i])
            LF_FAIL("%s: target at padded sequence %lld position %lld", fn, (long long)(i / b->n),
                    (long long)(i % b->n));
    }
    return 0;
}
