/*
 * Linear kernels with AVX2 on 4-bit weights, two codes a byte ("n16k4
 * nibbles", kiln_rt_x86_w4.h): the loops of kiln_linear_avx2.inc, each group
 * of 16 codes taken from one nibble of 16 bytes and widened to int16.
 */
#include "kiln_rt_avx2.h"
#include "kiln_rt_x86_w4.h"
#include "kiln_avx2.h"

#include <stddef.h>
#include <string.h>

typedef uint8_t W_CODE;
#define W_STEP_BYTES 32
#define W_OFFSET(c) ((c)->w_offset)
#define UINT4_OFFSET 0 /* the nibble is the code */
#define INT4_OFFSET (-8) /* the nibble is the code + 8 */

/* Rows 4j to 4j + 3 of a step: rows 0-7 of the block are the low nibbles of
 * the step's 32 bytes, rows 8-15 the high ones. */
static inline __m256i w_quarter(const uint8_t *step, int32_t j) {
  const __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)(step + 16 * (j & 1)));
  const __m128i nibbles = j >> 1 ? _mm_srli_epi16(bytes, 4) : bytes;
  return _mm256_cvtepu8_epi16(_mm_and_si128(nibbles, _mm_set1_epi8(0x0F)));
}

#include "kiln_linear_avx2.inc"

void kiln_linear_avx2_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK8, UINT4_OFFSET);
}

void kiln_linear_avx2_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK16, UINT4_OFFSET);
}

void kiln_linear_avx2_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK8, INT4_OFFSET);
}

void kiln_linear_avx2_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK16, INT4_OFFSET);
}
