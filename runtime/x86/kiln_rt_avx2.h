/*
 * Kernels for x86-64 with AVX2 and FMA but neither AVX-512 nor any VNNI
 * (Haswell to Comet Lake, Zen 1 to 3), for rules/x86-avx2.lua. Bit-identical
 * to the portable kernels: the same integer sums, requantized by
 * kiln_scale's arithmetic. The generated code includes this header (its name
 * matches kiln_rt*.h); the vector helpers are in kiln_avx2.h.
 *
 * Linear layers take the generator's n16k4 weights (kiln_rt_x86.h) with the
 * one-plane bias (planes = 1): acc = sum x (w - 128) + (128 - zw) sum x +
 * w_bias[o], whatever the activations' width, since every product is formed
 * exactly in 16 bits (see kiln_linear_avx2.c). work is not read: the
 * activations are used in place.
 */
#ifndef KILN_RT_AVX2_H
#define KILN_RT_AVX2_H

#include "kiln_rt.h"
#include "kiln_rt_x86.h"

/* 8-bit unsigned activations (codes in [0, 255]). */
void kiln_linear_avx2_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work);

/* Any activations stored as int16. */
void kiln_linear_avx2_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work);

/* Attention rows (kiln_attention_avx2.c): kiln_qk_row and kiln_pv_row for
 * head_dim 8 or a multiple of 16 (up to 256; other sizes run the portable
 * loops), codes within int16 of their zero points; pv also needs
 * probabilities with zero point 0 whose codes sum below 2^16 (both checked
 * by the generator). */
void kiln_qk_row_avx2(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                      const kiln_grid *g);
void kiln_pv_row_avx2(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                      const kiln_grid *g);

/* One query row of attention in one call (qk, requant to the scores,
 * softmax, pv), with the integers of the four kernels; scratch: 2 * (n_past
 * + n_fresh) codes. Preconditions: those of the two rows above. */
void kiln_attention_row_avx2(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                             const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch);

/* Elementwise kernels, RMSNorm, sigmoid, the softmax row and argmax
 * (kiln_ops_avx2.c): the portable kernels of the same names without _avx2. */
void kiln_requant_avx2(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g);
void kiln_mul_avx2(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                   const kiln_grid *g);
void kiln_mul_rows_avx2(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                        int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g);
void kiln_add_avx2(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                   int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g);
void kiln_take_half_avx2(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp,
                         kiln_rq rq, const kiln_grid *g);
void kiln_concat_halves_avx2(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                             kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g);
void kiln_heads_first_avx2(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                           kiln_rq rq, const kiln_grid *g);
void kiln_softmax_row_avx2(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                           const kiln_grid *g);
void kiln_sigmoid_avx2(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                       const kiln_grid *g);
void kiln_rmsnorm_avx2(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                       int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g);
int32_t kiln_argmax_avx2(const int16_t *x, int32_t n);

#endif
