/*
 * The graph in float32: the float reference, as TICO's float model computes
 * (calibration, kiln run / ppl, and TICO's fake-quant mode bit for bit up to
 * the order of its sums). Products in kiln_matmul's fixed order, so that
 * calibration gives the same bits on every host; through OpenBLAS's sgemm
 * instead when the state asks for it (the benchmark's baseline).
 */
#include "kiln_float.h"
#include "kiln_math.h"
#include "matmul.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

typedef float real;

#define EXP kiln_expf
#define WEIGHT(p, dtype, i) kiln_stored(p, dtype, (size_t)(i))

/* B may be a weight in fp16 or bf16: kiln_matmul converts it as it packs it.
 * OpenBLAS takes float32 only (the benchmark's baseline is an fp32 model). */
static void matmul(const kiln_graph_state *st, real *c, size_t ldc, const real *a, size_t lda, const void *b,
                   enum kiln_dtype b_type, size_t ldb, enum kiln_b_layout layout, int m, int n, int k) {
  if (st->openblas && b_type == KILN_FP32)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, layout == KILN_B_NK ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
  else
    kiln_matmul_f32(c, ldc, a, lda, b, b_type, ldb, layout, m, n, k);
}

static void offer_sample(kiln_reservoir *r, const real *x, size_t n) { kiln_reservoir_offer(r, x, n); }

#define GRAPH_RUN kiln_graph_run
#include "graph_ops.inc"

void kiln_fake_quant(float *y, const float *x, size_t n, const kiln_fq *q) {
  fake_quant(y, x, n, q);
}
