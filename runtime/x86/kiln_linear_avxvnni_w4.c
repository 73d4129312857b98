/*
 * Linear kernels with AVX-VNNI on 4-bit weights, two codes a byte ("n16k4
 * nibbles", kiln_rt_x86_w4.h): the loops of kiln_linear_avxvnni.inc, a
 * step's two 8-row halves the low and the high nibbles of its 32 bytes.
 */
#include "kiln_rt_x86_w4.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

typedef uint8_t W_CODE;
#define W_STEP_BYTES 32
#define UINT4_OFFSET 0 /* the nibble is the code */
#define INT4_OFFSET (-8) /* the nibble is the code + 8 */

static inline void w_halves(const uint8_t *p, __m256i *rows0_7, __m256i *rows8_15) {
  const __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)p), low = _mm256_set1_epi8(0x0F);
  *rows0_7 = _mm256_and_si256(bytes, low);
  *rows8_15 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
}

#include "kiln_linear_avxvnni.inc"

void kiln_linear_avxvnni_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, UINT4_OFFSET);
}

void kiln_linear_avxvnni_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                                const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                                const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, UINT4_OFFSET);
}

void kiln_linear_avxvnni_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, INT4_OFFSET);
}

void kiln_linear_avxvnni_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                                const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                                const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, INT4_OFFSET);
}
