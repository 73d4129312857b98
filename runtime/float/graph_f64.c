/*
 * The graph in float64: the exact fake-quant reference. TICO's graph and
 * TICO's fake quantization at every observer, with the arithmetic between
 * quantization points in double, so the float32 rounding noise of TICO's own
 * float model (about 1 LSB in 1-2 % of int16 codes, differing between BLAS
 * libraries) does not hide or fake a deviation of the integer kernels.
 * Products in kiln_matmul's fixed order: its verdicts are the same on every
 * host.
 */
#include "kiln_float.h"
#include "kiln_math.h"
#include "matmul.h"

#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

typedef double real;

#define EXP kiln_exp
/* params are doubles here, whatever the checkpoint stored (model.c makes them) */
#define WEIGHT(p, dtype, i) ((void)(dtype), ((const double *)(p))[i])

static void matmul(const kiln_graph_state *st, real *c, size_t ldc, const real *a, size_t lda, const void *b,
                   enum kiln_dtype b_type, size_t ldb, enum kiln_b_layout layout, int m, int n, int k) {
  (void)st;
  (void)b_type;
  kiln_matmul_f64(c, ldc, a, lda, b, ldb, layout, m, n, k);
}

/* the exact reference never observes (obs->sample is NULL here) */
static void offer_sample(kiln_reservoir *r, const real *x, size_t n) { (void)r; (void)x; (void)n; }

#define GRAPH_RUN kiln_graph_run_f64
#include "graph_ops.inc"
