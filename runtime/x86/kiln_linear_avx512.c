/*
 * Linear kernels with AVX-512 VNNI on 8-bit weights packed by the generator
 * (n16k4, w - 128 as int8: see kiln_rt_x86.h); the loops, and how they
 * compute, are in kiln_linear_avx512.inc.
 */
#include "kiln_rt_x86.h"
#include "kiln_avx512.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

typedef int8_t W_CODE;
#define W_STEP_BYTES 64
#define W_OFFSET(c) 128

static inline __m512i w_step(const int8_t *p) { return _mm512_loadu_si512((const void *)p); }

#include "kiln_linear_avx512.inc"

void kiln_linear_vnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, 128);
}

void kiln_linear_vnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, 128);
}
