/*
 * kiln runtime: linear layers on 4-bit weights (uint4, int4), stored two
 * codes a byte so that they take half the flash of 8-bit ones
 * (kiln_linear_w4.c). kiln copies these files beside a model only when it
 * has 4-bit Linear weights.
 *
 * Layout, as the generator writes it for every kernel whose target declares
 * no layout of its own: row o of a [n_out][n_in] matrix is the
 * KILN_W4_ROW_BYTES(n_in) bytes from byte o * KILN_W4_ROW_BYTES(n_in); byte
 * j of a row holds column 2j in its low nibble and column 2j + 1 in its
 * high nibble (0 past an odd n_in, so every row starts on a byte). An int4
 * code is its two's-complement nibble (-8 = 0x8, -1 = 0xF).
 */
#ifndef KILN_RT_W4_H
#define KILN_RT_W4_H

#include "kiln_rt.h"

#include <stddef.h>

#define KILN_W4_ROW_BYTES(n_in) (((size_t)(n_in) + 1) / 2)

/* Code i of a row of uint4 codes, and of int4 codes (the nibble sign-extended). */
static inline int32_t kiln_w4_u(const uint8_t *row, int32_t i) {
  return (row[i >> 1] >> (4 * (i & 1))) & 0x0F;
}
static inline int32_t kiln_w4_s(const uint8_t *row, int32_t i) {
  return (kiln_w4_u(row, i) ^ 8) - 8;
}
static inline int32_t kiln_w4(const uint8_t *row, int32_t i, int is_signed) {
  return is_signed ? kiln_w4_s(row, i) : kiln_w4_u(row, i);
}

/* y[r][o] = sum_i (x[r][i] - x_zp) * (w[o][i] - w_zp[o]), requantized per
 * output channel o, as kiln_linear_u8 and kiln_linear_s8 compute it. */
void kiln_linear_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

/* A target's sum over one row of (x - x_zp) * (w - w_zp) on a row of 4-bit
 * codes (is_signed: int4, else uint4), and the linear layer around it: every
 * weight row against every row of x, requantized per output channel. For the
 * targets whose kernel is a faster row dot product (kiln_rt_neon_w4.h,
 * kiln_rt_dsp_w4.h). */
typedef int64_t (*kiln_row_dot4)(const int16_t *x, int32_t x_zp, const uint8_t *w, int32_t w_zp, int32_t n_in,
                                 int is_signed);
void kiln_linear4_by_rows(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                          int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                          kiln_row_dot4 row_dot);

#endif
