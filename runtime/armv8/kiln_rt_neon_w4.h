/*
 * Linear kernels for AArch64 NEON on 4-bit weights (kiln_linear_neon_w4.c),
 * in the portable runtime's layout (kiln_rt_w4.h: two codes a byte, the low
 * nibble the even column). Same contract as kiln_linear_u4 and _s4;
 * kiln_linear_udot_u4 also takes the per-row sums of the weight codes
 * (computed by the generator) and needs activation codes in [0, 255].
 */
#ifndef KILN_RT_NEON_W4_H
#define KILN_RT_NEON_W4_H

#include "kiln_rt_w4.h"

void kiln_linear_udot_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g);
void kiln_linear_neon_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_neon_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

#endif
