/*
 * Linear kernels for AArch64 NEON with the dot-product extension on 4-bit
 * weights, two codes a byte (kiln_rt_w4.h). Bit-identical to kiln_linear_u4
 * and _s4: the same integer sums, by another route. A weight byte is split
 * into its two nibbles in registers and zipped back into column order, each
 * nibble n in [0, 15] (an int4 nibble xor 8: the code + 8); an activation
 * x = 256 xh + xl into its low byte (unsigned) and high byte (signed), so that
 * UDOT and SDOT multiply four bytes a lane at once and
 *   sum x n = sum xl n + 256 sum xh n,
 * exact for any int16 codes. With the code w = n + c (c = 0 for uint4, -8
 * for int4) the zero points come in as one correction a row:
 *   sum (x - zx)(w - zw) = sum x n + (c - zw) sum x - zx sum w + n_in zx zw,
 * sum w the row's code sum from the generator.
 */
#include "kiln_rt_neon_w4.h"

#include <arm_neon.h>

/* Columns between flushes of the lanes to 64 bits: a UDOT lane gains at most
 * 2 * 4 * 255 * 15 = 30,600 a 32-column step and an SDOT lane 2 * 4 * 128 *
 * 15 = 15,360 in magnitude, so 2048 steps stay below 2^32 and 2^31. */
#define FLUSH_COLUMNS 65536
#define INT4_FLIP 0x88 /* both nibbles of a byte to offset binary */
#define UINT4_OFFSET 0
#define INT4_OFFSET (-8)

/* The 32 nibbles of 16 bytes in column order. */
static inline uint8x16x2_t nibbles32(const uint8_t *p, uint8_t flip) {
  const uint8x16_t b = veorq_u8(vld1q_u8(p), vdupq_n_u8(flip));
  const uint8x16_t even = vandq_u8(b, vdupq_n_u8(0x0F)), odd = vshrq_n_u8(b, 4);
  uint8x16x2_t n;
  n.val[0] = vzip1q_u8(even, odd);
  n.val[1] = vzip2q_u8(even, odd);
  return n;
}

/* sum over one row of x * n */
static int64_t dot_row(const int16_t *xr, const uint8_t *wo, int32_t n_in, uint8_t flip) {
  int64_t dot = 0;
  int32_t i = 0;
  while (i + 32 <= n_in) {
    uint32x4_t lo = vdupq_n_u32(0);
    int32x4_t hi = vdupq_n_s32(0);
    const int32_t stop = i + FLUSH_COLUMNS < n_in ? i + FLUSH_COLUMNS : n_in;
    for (; i + 32 <= stop; i += 32) {
      const uint8x16x2_t n = nibbles32(wo + i / 2, flip);
      for (int h = 0; h < 2; h++) {
        const int16x8_t x0 = vld1q_s16(xr + i + 16 * h), x1 = vld1q_s16(xr + i + 16 * h + 8);
        const uint8x16_t xl = vcombine_u8(vmovn_u16(vreinterpretq_u16_s16(x0)), vmovn_u16(vreinterpretq_u16_s16(x1)));
        const int8x16_t xh = vcombine_s8(vshrn_n_s16(x0, 8), vshrn_n_s16(x1, 8));
        lo = vdotq_u32(lo, xl, n.val[h]);
        hi = vdotq_s32(hi, xh, vreinterpretq_s8_u8(n.val[h]));
      }
    }
    dot += (int64_t)vaddlvq_u32(lo) + 256 * vaddlvq_s32(hi);
  }
  for (; i < n_in; i++) dot += (int32_t)xr[i] * (int32_t)(kiln_w4_u(wo, i) ^ (flip & 0x0F));
  return dot;
}

static void linear(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                   const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                   uint8_t flip, int64_t offset) {
  const size_t row_bytes = KILN_W4_ROW_BYTES(n_in);
  const int64_t zx = x_zp;
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int64_t sum_x = 0;
    for (int32_t i = 0; i < n_in; i++) sum_x += xr[i];
    for (int32_t o = 0; o < n_out; o++) {
      const int64_t zw = w_zp[o];
      const int64_t acc = dot_row(xr, w + (size_t)o * row_bytes, n_in, flip) + (offset - zw) * sum_x - zx * w_sum[o] +
                          (int64_t)n_in * zx * zw;
      y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
    }
  }
}

void kiln_linear_dot_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g) {
  linear(y, x, x_zp, rows, n_in, w, w_zp, w_sum, n_out, rq, g, 0, UINT4_OFFSET);
}

void kiln_linear_dot_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g) {
  linear(y, x, x_zp, rows, n_in, w, w_zp, w_sum, n_out, rq, g, INT4_FLIP, INT4_OFFSET);
}
