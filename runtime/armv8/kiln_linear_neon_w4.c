/*
 * Linear kernels for AArch64 NEON on 4-bit weights, two codes a byte
 * (kiln_rt_w4.h). Bit-identical to kiln_linear_u4 and _s4: each byte is
 * split into its two nibbles in registers (AND, shift, and for int4 a
 * sign-extending shift pair), zipped back into column order, and the same
 * integer sums follow as in kiln_linear_neon.c:
 *
 *   kiln_linear_udot_u4: uint8 activations x uint4 weights with UDOT, on the
 *     raw codes, corrected by the zero points:
 *       sum (x - zx)(w - zw) = sum xw - zw sum x - zx sum w + n zx zw;
 *   kiln_linear_neon_u4 / _s4: activations within int16 of their zero point
 *     with widening multiply-accumulate (SMLAL).
 */
#include "kiln_rt_neon_w4.h"

#include <arm_neon.h>

/* Columns between flushes of the lanes to 64 bits. A UDOT lane gains at
 * most 2 * 4 * 255 * 15 = 30,600 a 32-column step: 2048 steps stay below
 * 2^32. An SMLAL lane gains two products of at most 2^15 * 15 a 16-column
 * step: 1024 steps reach at most 1,006,632,960 < 2^31. */
#define UDOT_FLUSH 65536
#define SMLAL_FLUSH 16384

/* The 32 uint4 codes of 16 bytes, in column order. */
static inline uint8x16x2_t codes32_u4(const uint8_t *p) {
  const uint8x16_t b = vld1q_u8(p);
  const uint8x16_t even = vandq_u8(b, vdupq_n_u8(0x0F)), odd = vshrq_n_u8(b, 4);
  uint8x16x2_t c;
  c.val[0] = vzip1q_u8(even, odd);
  c.val[1] = vzip2q_u8(even, odd);
  return c;
}

/* 16 activation codes in [0, 255] as bytes. */
static inline uint8x16_t bytes16(const int16_t *x) {
  return vcombine_u8(vmovn_u16(vreinterpretq_u16_s16(vld1q_s16(x))), vmovn_u16(vreinterpretq_u16_s16(vld1q_s16(x + 8))));
}

/* sum over one row of x * w, raw codes */
static uint64_t udot_row(const int16_t *xr, const uint8_t *wo, int32_t n_in) {
  uint64_t dot = 0;
  int32_t i = 0;
  while (i + 32 <= n_in) {
    uint32x4_t lanes = vdupq_n_u32(0);
    const int32_t stop = i + UDOT_FLUSH < n_in ? i + UDOT_FLUSH : n_in;
    for (; i + 32 <= stop; i += 32) {
      const uint8x16x2_t w = codes32_u4(wo + i / 2);
      lanes = vdotq_u32(lanes, bytes16(xr + i), w.val[0]);
      lanes = vdotq_u32(lanes, bytes16(xr + i + 16), w.val[1]);
    }
    dot += vaddlvq_u32(lanes);
  }
  for (; i < n_in; i++) dot += (uint32_t)xr[i] * (uint32_t)kiln_w4_u(wo, i);
  return dot;
}

void kiln_linear_udot_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g) {
  const size_t row_bytes = KILN_W4_ROW_BYTES(n_in);
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int64_t sum_x = 0;
    for (int32_t i = 0; i < n_in; i++) sum_x += xr[i];
    for (int32_t o = 0; o < n_out; o++) {
      const int64_t zw = w_zp[o], zx = x_zp;
      const int64_t acc = (int64_t)udot_row(xr, w + (size_t)o * row_bytes, n_in) - zw * sum_x - zx * w_sum[o] +
                          (int64_t)n_in * zx * zw;
      y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
    }
  }
}

/* The 16 codes of 8 bytes, in column order, widened to int16; int4 nibbles
 * sign-extended by shifting them to the top of a byte and back. */
static inline int16x8x2_t codes16(const uint8_t *p, int is_signed) {
  const uint8x8_t b = vld1_u8(p);
  int8x8_t even, odd;
  if (is_signed) {
    even = vshr_n_s8(vshl_n_s8(vreinterpret_s8_u8(b), 4), 4);
    odd = vshr_n_s8(vreinterpret_s8_u8(b), 4);
  } else {
    even = vreinterpret_s8_u8(vand_u8(b, vdup_n_u8(0x0F)));
    odd = vreinterpret_s8_u8(vshr_n_u8(b, 4));
  }
  const int8x8x2_t z = vzip_s8(even, odd);
  int16x8x2_t c;
  c.val[0] = vmovl_s8(z.val[0]);
  c.val[1] = vmovl_s8(z.val[1]);
  return c;
}

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const uint8_t *wo, int32_t w_zp, int32_t n_in, int is_signed) {
  const int16x8_t zx = vdupq_n_s16((int16_t)x_zp), zw = vdupq_n_s16((int16_t)w_zp);
  int64_t acc = 0;
  int32_t i = 0;
  while (i + 16 <= n_in) {
    int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
    const int32_t stop = i + SMLAL_FLUSH < n_in ? i + SMLAL_FLUSH : n_in;
    for (; i + 16 <= stop; i += 16) {
      const int16x8x2_t c = codes16(wo + i / 2, is_signed);
      for (int h = 0; h < 2; h++) {
        const int16x8_t xv = vsubq_s16(vld1q_s16(xr + i + 8 * h), zx), wv = vsubq_s16(c.val[h], zw);
        lo = vmlal_s16(lo, vget_low_s16(xv), vget_low_s16(wv));
        hi = vmlal_high_s16(hi, xv, wv);
      }
    }
    acc += vaddlvq_s32(lo) + vaddlvq_s32(hi);
  }
  for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (kiln_w4(wo, i, is_signed) - w_zp);
  return acc;
}

void kiln_linear_neon_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g, row_dot);
}

void kiln_linear_neon_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g, row_dot);
}
