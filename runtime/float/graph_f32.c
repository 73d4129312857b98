/*
 * The graph in float32: the float reference, as TICO's float model computes
 * (calibration, kiln run / ppl, and TICO's fake-quant mode bit for bit).
 */
#include "kiln_float.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

typedef float real;

static void gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k, const real *a, int lda,
                 const real *b, int ldb, real *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

static void gemv(enum CBLAS_TRANSPOSE ta, int m, int n, const real *a, int lda, const real *x, real *y) {
  cblas_sgemv(CblasRowMajor, ta, m, n, 1.0f, a, lda, x, 1, 0.0f, y, 1);
}

#define GRAPH_RUN kiln_graph_run
#include "graph_ops.inc"

void kiln_fake_quant(float *y, const float *x, size_t n, const kiln_fq *q) { fake_quant(y, x, n, q); }
