/*
 * Kernels for Armv8.1-M with Helium, the M-profile vector extension: linear
 * (kiln_linear_mve.c), attention rows (kiln_attention_mve.c), requantization
 * and elementwise products (kiln_ops_mve.c). Same contract as the portable kiln_linear_* in
 * kiln_rt.h for 8-bit weights, with one more argument: w_sum, the sum of
 * each weight row's codes, computed by the generator.
 */
#ifndef KILN_RT_MVE_H
#define KILN_RT_MVE_H

#include "kiln_rt.h"

void kiln_linear_mve_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);
void kiln_linear_mve_s16(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int16_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g);
/* activation codes in [0, 255] (uint8, uint4) */
void kiln_linear_mve_a8_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                           const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g);
void kiln_linear_mve_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g);

/* The attention rows of kiln_rt.h (kiln_attention_mve.c): kiln_qk_row for
 * codes within int16 of their zero points; kiln_pv_row where, besides,
 * the row's sum of |p - p_zp| stays below 2^16 (the generator checks both). */
void kiln_qk_row_mve(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g);
void kiln_softmax_row_mve(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                          const kiln_grid *g);
void kiln_pv_row_mve(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g);

/* Requantization and the elementwise products of kiln_rt.h, four values a
 * step (kiln_ops_mve.c); any operands (the portable kernel where the fast
 * path's bounds do not hold). */
void kiln_requant_mve(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g);
void kiln_take_half_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                        const kiln_grid *g);
void kiln_concat_halves_mve(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                            kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g);
void kiln_heads_first_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                          kiln_rq rq, const kiln_grid *g);
void kiln_mul_mve(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                  const kiln_grid *g);
void kiln_sigmoid_mve(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                      const kiln_grid *g);
void kiln_add_mve(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                  int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g);
void kiln_rmsnorm_mve(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                      int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g);
void kiln_mul_rows_mve(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                       int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g);

#endif
