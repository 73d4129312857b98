/*
 * Linear kernels for Armv7E-M with the DSP extension (Cortex-M4, M7, M33):
 * SMLAD multiplies two pairs of int16 and adds both products to an int32 in
 * one instruction. Bit-identical to the portable kiln_linear_*: the same
 * integer sums, flushed to int64 before they can overflow.
 *
 * Preconditions (checked by the generator): activation codes stay within
 * int16 of their zero point; weights are 8-bit.
 */
#include "kiln_rt_dsp.h"

#include <arm_acle.h>
#include <stddef.h>

#define FLUSH_PAIRS 64 /* 64 pairs of |x| < 2^15, |w| < 2^9: below 2^31 */

/* Two int16 values in the halves of one word, as SMLAD reads them. */
static inline int16x2_t pack(int32_t lo, int32_t hi) {
  return (int16x2_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}

static inline int32_t weight_at(const void *w, int32_t i, int is_signed) {
  return is_signed ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i];
}

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const void *wo, int32_t w_zp, int32_t n_in, int is_signed) {
  int64_t acc = 0;
  int32_t i = 0;
  while (i + 2 <= n_in) {
    int32_t part = 0;
    const int32_t stop = i + 2 * FLUSH_PAIRS < n_in ? i + 2 * FLUSH_PAIRS : n_in;
    for (; i + 2 <= stop; i += 2) {
      const int16x2_t xv = pack(xr[i] - x_zp, xr[i + 1] - x_zp);
      const int16x2_t wv = pack(weight_at(wo, i, is_signed) - w_zp, weight_at(wo, i + 1, is_signed) - w_zp);
      part = __smlad(xv, wv, part);
    }
    acc += part;
  }
  if (i < n_in) acc += (int32_t)(xr[i] - x_zp) * (weight_at(wo, i, is_signed) - w_zp);
  return acc;
}

void kiln_linear_dsp_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g, row_dot);
}

void kiln_linear_dsp_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g, row_dot);
}
