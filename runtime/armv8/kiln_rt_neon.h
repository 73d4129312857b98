/*
 * Linear kernels for AArch64 NEON with the dot-product extension
 * (kiln_linear_neon.c). Same contract as the portable kiln_linear_* in
 * kiln_rt.h; kiln_linear_udot_u8 also takes the per-row sums of the weight
 * codes (computed by the generator) and needs activation codes in [0, 255].
 */
#ifndef KILN_RT_NEON_H
#define KILN_RT_NEON_H

#include "kiln_rt.h"

void kiln_linear_udot_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g);
void kiln_linear_neon_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_neon_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                         const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

#endif
