/* mlm_f64.c - the float64 build of the masked-LM model (mlm.h, lf_mlm64_*): the same
 * source as the float32 model (mlm_impl.h) with double arithmetic and cblas_dgemm, the
 * reference that the tests check by finite differences. */
#include "mlm.h"

#define REAL double
#define MLM_DOUBLE 1
#define MLM lf_mlm64
#define MLM_FN(name) lf_mlm64_##name
#include "mlm_impl.h"
