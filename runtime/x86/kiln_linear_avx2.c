/*
 * Linear kernels with AVX2 on the generator's 8-bit n16k4 weights (w - 128
 * as int8, kiln_rt_x86.h), for hosts without VNNI: each group of 16 weight
 * bytes sign-extended to int16 and multiplied with vpmaddwd. The loops, and
 * why they are shaped so, are in kiln_linear_avx2.inc.
 */
#include "kiln_rt_avx2.h"
#include "kiln_avx2.h"

#include <stddef.h>
#include <string.h>

typedef int8_t W_CODE;
#define W_STEP_BYTES 64
#define W_OFFSET(c) 128

/* Rows 4j to 4j + 3 of a step: 16 weight bytes as int16. */
static inline __m256i w_quarter(const int8_t *step, int32_t j) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(step + 16 * j)));
}

#include "kiln_linear_avx2.inc"

void kiln_linear_avx2_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK8, 128);
}

void kiln_linear_avx2_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK16, 128);
}
