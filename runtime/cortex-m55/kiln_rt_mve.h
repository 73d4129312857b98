/*
 * Linear kernels for Armv8.1-M with Helium, the M-profile vector extension
 * (kiln_linear_mve.c). Same contract as the portable kiln_linear_* in
 * kiln_rt.h for 8-bit weights, with one more argument: w_sum, the sum of
 * each weight row's codes, computed by the generator.
 */
#ifndef KILN_RT_MVE_H
#define KILN_RT_MVE_H

#include "kiln_rt.h"

void kiln_linear_mve_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);
void kiln_linear_mve_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);

#endif
