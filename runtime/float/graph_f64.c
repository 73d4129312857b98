/*
 * The graph in float64: the exact fake-quant reference. TICO's graph and
 * TICO's fake quantization at every observer, with the arithmetic between
 * quantization points in double, so the float32 rounding noise of TICO's own
 * float model (about 1 LSB in 1-2 % of int16 codes, differing between BLAS
 * libraries) does not hide or fake a deviation of the integer kernels.
 */
#include "kiln_float.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

typedef double real;

static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k, const real *a, int lda,
                 const real *b, int ldb, real *c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

static void gemv(enum CBLAS_TRANSPOSE ta, int m, int n, const real *a, int lda, const real *x, real *y) {
  cblas_dgemv(CblasRowMajor, ta, m, n, 1.0, a, lda, x, 1, 0.0, y, 1);
}

#define GRAPH_RUN kiln_graph_run_f64
#include "graph_ops.inc"
