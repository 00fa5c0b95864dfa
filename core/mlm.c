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
