/*
 * Linear kernels for AArch64 NEON with the dot-product extension
 * (Armv8.2-A dotprod). Bit-identical to the portable kiln_linear_*: the sums
 * are the same integers, only computed in vector lanes, and requantized by
 * the same kiln_scale.
 *
 *   kiln_linear_udot_u8: uint8 activations x uint8 weights with UDOT, on the
 *     raw codes, corrected by the zero points:
 *       sum (x - zx)(w - zw) = sum xw - zw sum x - zx sum w + n zx zw
 *     with sum w per output row (w_sum) computed by the generator.
 *   kiln_linear_neon_u8 / _s8: activations whose codes stay within int16 of
 *     their zero point (int16 symmetric, any 8-bit grid) x 8-bit weights,
 *     with widening multiply-accumulate (SMLAL).
 */
#include "kiln_rt_neon.h"

#include <arm_neon.h>
#include <stddef.h>

/* Lane sums are flushed to int64 before they can overflow int32. */
#define FLUSH_ELEMENTS 1024

void kiln_linear_udot_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int64_t sum_x = 0;
    for (int32_t i = 0; i < n_in; i++) sum_x += xr[i];
    for (int32_t o = 0; o < n_out; o++) {
      const uint8_t *wo = w + (size_t)o * n_in;
      uint64_t dot = 0;
      int32_t i = 0;
      while (i + 16 <= n_in) {
        uint32x4_t lanes = vdupq_n_u32(0);
        const int32_t stop = i + FLUSH_ELEMENTS < n_in ? i + FLUSH_ELEMENTS : n_in;
        for (; i + 16 <= stop; i += 16) {
          const uint8x16_t xv = vcombine_u8(vmovn_u16(vreinterpretq_u16_s16(vld1q_s16(xr + i))),
                                            vmovn_u16(vreinterpretq_u16_s16(vld1q_s16(xr + i + 8))));
          lanes = vdotq_u32(lanes, xv, vld1q_u8(wo + i));
        }
        dot += vaddlvq_u32(lanes);
      }
      for (; i < n_in; i++) dot += (uint32_t)xr[i] * wo[i];
      const int64_t zw = w_zp[o];
      const int64_t acc = (int64_t)dot - zw * sum_x - (int64_t)x_zp * w_sum[o] + (int64_t)n_in * x_zp * zw;
      y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
    }
  }
}

/* Eight weights widened to int16, from an unsigned or signed 8-bit row. */
static inline int16x8_t load_weights(const void *w, int32_t i, int is_signed) {
  if (is_signed) return vmovl_s8(vld1_s8((const int8_t *)w + i));
  return vreinterpretq_s16_u16(vmovl_u8(vld1_u8((const uint8_t *)w + i)));
}

static inline int32_t weight_at(const void *w, int32_t i, int is_signed) {
  return is_signed ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i];
}

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const void *wo, int32_t w_zp, int32_t n_in, int is_signed) {
  const int16x8_t zx = vdupq_n_s16((int16_t)x_zp), zw = vdupq_n_s16((int16_t)w_zp);
  int64_t acc = 0;
  int32_t i = 0;
  while (i + 8 <= n_in) {
    int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
    const int32_t stop = i + FLUSH_ELEMENTS < n_in ? i + FLUSH_ELEMENTS : n_in;
    for (; i + 8 <= stop; i += 8) {
      const int16x8_t xv = vsubq_s16(vld1q_s16(xr + i), zx);
      const int16x8_t wv = vsubq_s16(load_weights(wo, i, is_signed), zw);
      lo = vmlal_s16(lo, vget_low_s16(xv), vget_low_s16(wv));
      hi = vmlal_high_s16(hi, xv, wv);
    }
    acc += vaddlvq_s32(lo) + vaddlvq_s32(hi);
  }
  for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (weight_at(wo, i, is_signed) - w_zp);
  return acc;
}

void kiln_linear_neon_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g, row_dot);
}

void kiln_linear_neon_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g, row_dot);
}
