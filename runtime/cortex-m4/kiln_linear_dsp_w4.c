/*
 * Linear kernels for Armv7E-M with the DSP extension (Cortex-M4, M7, M33) on
 * 4-bit weights, two codes a byte (kiln_rt_w4.h). Two weight bytes, four
 * columns, go into one word as b0 | b1 << 16: its nibbles at bits 0 and 16
 * are columns i and i + 2, at bits 4 and 20 columns i + 1 and i + 3, so one
 * mask (and a shift) gives two int16 pairs for SMLAD with no byte unpacking;
 * SSUB16 takes the zero point off both halves at once. Bit-identical to
 * kiln_linear_u4 and _s4: the same integer sums, flushed to int64 before
 * they can overflow.
 *
 * Preconditions (checked by the generator): activation codes stay within
 * int16 of their zero point.
 */
#include "kiln_rt_dsp_w4.h"

#include <arm_acle.h>

/* Columns between flushes: |x - zx| <= 2^15 and |w - zw| <= 15, so 4096
 * products stay below 4096 * 32768 * 15 = 2,013,265,920 < 2^31. */
#define FLUSH_COLUMNS 4096
#define NIBBLES_0_16 0x000F000Fu /* the low nibbles of both halves */
/* int4 codes read offset binary: the nibble xor 8 is s + 8 in [0, 15],
 * against the zero point moved by 8 */
#define SIGN_FLIP 0x00080008u
#define SIGNED_OFFSET 8

static inline int16x2_t pack(int32_t lo, int32_t hi) {
  return (int16x2_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const uint8_t *w, int32_t w_zp, int32_t n_in, int is_signed) {
  const uint32_t flip = is_signed ? SIGN_FLIP : 0;
  const int32_t zw = w_zp + (is_signed ? SIGNED_OFFSET : 0);
  const int16x2_t zw2 = pack(zw, zw);
  int64_t acc = 0;
  int32_t i = 0;
  while (i + 4 <= n_in) {
    int32_t part = 0;
    const int32_t stop = i + FLUSH_COLUMNS < n_in ? i + FLUSH_COLUMNS : n_in;
    for (; i + 4 <= stop; i += 4) {
      const uint32_t v = (uint32_t)w[i / 2] | (uint32_t)w[i / 2 + 1] << 16;
      const int16x2_t even = __ssub16((int16x2_t)((v & NIBBLES_0_16) ^ flip), zw2);        /* columns i, i + 2 */
      const int16x2_t odd = __ssub16((int16x2_t)(((v >> 4) & NIBBLES_0_16) ^ flip), zw2);  /* i + 1, i + 3 */
      part = __smlad(pack(xr[i] - x_zp, xr[i + 2] - x_zp), even, part);
      part = __smlad(pack(xr[i + 1] - x_zp, xr[i + 3] - x_zp), odd, part);
    }
    acc += part;
  }
  for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (kiln_w4(w, i, is_signed) - w_zp);
  return acc;
}

void kiln_linear_dsp_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g, row_dot);
}

void kiln_linear_dsp_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g, row_dot);
}
