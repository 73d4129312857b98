/*
 * Linear kernels for Armv8.1-M with Helium (Cortex-M55, M85) on 4-bit
 * weights, two codes a byte (kiln_rt_w4.h). Eight weight bytes load widened
 * into eight int16 lanes (VLDRB.U16): masked they are the even columns
 * i, i + 2, ..., i + 14, shifted right by 4 the odd ones; VLD20/VLD21 load
 * sixteen activations de-interleaved the same way, so two VMLADAVA take the
 * sixteen products. int4 codes read offset binary (each nibble xor 8 is
 * s + 8 in [0, 15]) against the zero point moved by 8, which leaves every
 * difference as it was.
 *
 * Bit-identical to kiln_linear_u4 and _s4: the same integer sums, flushed to
 * int64 before they can overflow. Preconditions (checked by the generator):
 * activation codes within int16 of their zero point; weight zero points
 * outside the 4-bit range (which no calibration gives) go to the portable
 * kernels, whose differences are not bounded by 15.
 */
#include "kiln_rt_mve_w4.h"

#include <arm_mve.h>

/* Columns between flushes: |x - zx| <= 2^15 and |w - zw| <= 15, so 4096
 * products stay below 4096 * 32768 * 15 = 2,013,265,920 < 2^31. */
#define FLUSH_COLUMNS 4096
#define STEP 16 /* columns a step: eight weight bytes */
#define SIGN_FLIP 0x88 /* both nibbles of a byte to offset binary */
#define SIGNED_OFFSET 8

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const uint8_t *w, int32_t w_zp, int32_t n_in, int is_signed) {
  const uint16_t flip = is_signed ? SIGN_FLIP : 0;
  const int16_t zx = (int16_t)x_zp, zw = (int16_t)(w_zp + (is_signed ? SIGNED_OFFSET : 0));
  int64_t acc = 0;
  int32_t i = 0;
  while (i + STEP <= n_in) {
    int32_t part = 0;
    const int32_t stop = i + FLUSH_COLUMNS < n_in ? i + FLUSH_COLUMNS : n_in;
    for (; i + STEP <= stop; i += STEP) {
      const uint16x8_t bytes = veorq_u16(vldrbq_u16(w + i / 2), vdupq_n_u16(flip));
      const int16x8_t even = vsubq_n_s16(vreinterpretq_s16_u16(vandq_u16(bytes, vdupq_n_u16(0x0F))), zw);
      const int16x8_t odd = vsubq_n_s16(vreinterpretq_s16_u16(vshrq_n_u16(bytes, 4)), zw);
      const int16x8x2_t xv = vld2q_s16(xr + i);
      part = vmladavaq_s16(part, vsubq_n_s16(xv.val[0], zx), even);
      part = vmladavaq_s16(part, vsubq_n_s16(xv.val[1], zx), odd);
    }
    acc += part;
  }
  for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (kiln_w4(w, i, is_signed) - w_zp);
  return acc;
}

/* Whether every weight zero point lies on the 4-bit range. */
static int zero_points_fit(const int32_t *w_zp, int32_t n_out, int is_signed) {
  const int32_t lo = is_signed ? -8 : 0;
  for (int32_t o = 0; o < n_out; o++)
    if (w_zp[o] < lo || w_zp[o] > lo + 15) return 0;
  return 1;
}

static void linear4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  if (zero_points_fit(w_zp, n_out, is_signed))
    kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, is_signed, w_zp, n_out, rq, g, row_dot);
  else if (is_signed)
    kiln_linear_s4(y, x, x_zp, rows, n_in, w, w_zp, n_out, rq, g);
  else
    kiln_linear_u4(y, x, x_zp, rows, n_in, w, w_zp, n_out, rq, g);
}

void kiln_linear_mve_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear4(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g);
}

void kiln_linear_mve_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear4(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g);
}
