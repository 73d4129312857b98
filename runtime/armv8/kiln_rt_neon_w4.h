/*
 * Linear kernels for AArch64 NEON with the dot-product extension on 4-bit
 * weights (kiln_linear_neon_w4.c), in the portable runtime's layout
 * (kiln_rt_w4.h: two codes a byte, the low nibble the even column). Same
 * contract as kiln_linear_u4 and _s4, for any activations stored as int16;
 * they also take the per-row sums of the weight codes (computed by the
 * generator).
 */
#ifndef KILN_RT_NEON_W4_H
#define KILN_RT_NEON_W4_H

#include "kiln_rt_w4.h"

void kiln_linear_dot_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);
void kiln_linear_dot_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);

#endif
