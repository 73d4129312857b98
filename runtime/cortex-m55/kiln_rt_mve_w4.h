/*
 * Linear kernels for Armv8.1-M with Helium on 4-bit weights
 * (kiln_linear_mve_w4.c), in the portable runtime's layout (kiln_rt_w4.h:
 * two codes a byte, the low nibble the even column). Same contract as
 * kiln_linear_u4 and _s4, for activation codes within int16 of their zero
 * point.
 */
#ifndef KILN_RT_MVE_W4_H
#define KILN_RT_MVE_W4_H

#include "kiln_rt_w4.h"

void kiln_linear_mve_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_mve_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

#endif
