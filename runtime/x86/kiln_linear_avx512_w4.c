/*
 * Linear kernels with AVX-512 VNNI on 4-bit weights, two codes a byte
 * ("n16k4 nibbles", kiln_rt_x86_w4.h): the loops of kiln_linear_avx512.inc,
 * each k step's 64 codes unpacked from 32 bytes in three instructions.
 */
#include "kiln_rt_x86_w4.h"
#include "kiln_avx512.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

typedef uint8_t W_CODE;
#define W_STEP_BYTES 32
#define W_OFFSET(c) ((c)->w_offset)
#define UINT4_OFFSET 0 /* the nibble is the code */
#define INT4_OFFSET (-8) /* the nibble is the code + 8 */

/* A step's 32 bytes in both halves of a register, the upper half shifted
 * down by a nibble: the low nibble of every byte is then code j of the step
 * (rows 0-7 of the block from the low nibbles, rows 8-15 from the high). */
static inline __m512i w_step(const uint8_t *p) {
  const __m512i both = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
  const __m512i shifted = _mm512_srlv_epi64(both, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0));
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

#include "kiln_linear_avx512.inc"

void kiln_linear_vnni_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, UINT4_OFFSET);
}

void kiln_linear_vnni_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, UINT4_OFFSET);
}

void kiln_linear_vnni_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, INT4_OFFSET);
}

void kiln_linear_vnni_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, INT4_OFFSET);
}
