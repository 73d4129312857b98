/*
 * Linear kernels for Armv7E-M with the DSP extension (kiln_linear_dsp.c).
 * Same contract as the portable kiln_linear_* in kiln_rt.h, for activation
 * codes within int16 of their zero point and 8-bit weights.
 */
#ifndef KILN_RT_DSP_H
#define KILN_RT_DSP_H

#include "kiln_rt.h"

void kiln_linear_dsp_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_dsp_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

/* The folded kernels: n_in a multiple of 4 (below 2^16); codes multiplied as
 * stored, each row's bias = n zx zw - zx sum w (the generator's, int64). The
 * same signature as the packed linear kernels (templates/ops/linear_packed.c);
 * work is unused. */
void kiln_linear_dsp_u8_folded(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work);
void kiln_linear_dsp_s8_folded(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work);

/* The blocked kernels: n_in a multiple of 4 from 4 to 256, activation codes
 * within int16 of their zero point; weights in blocks of 4 rows x 4 inputs
 * (16 bytes: the rows in turn, each row's codes in the order 0, 2, 1, 3;
 * rows padded to a multiple of 4), and each row's terms as the generator
 * makes them for the grid g (rules/cortex-m4.lua r4_terms): the bias n zx
 * zw - zx sum w mod 2^32, zw, the multiplier, and (2 zp + 1) * 256 + shift -
 * 33 (shift in [33, 63], zp g's zero point). w_zp, rq and work are unused
 * (zw and the multipliers are in the terms). */
void kiln_linear_dsp_u8_r4(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                           const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g, uint8_t *work);
void kiln_linear_dsp_s8_r4(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                           const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g, uint8_t *work);

/* The same for activation codes of 8 bits or fewer (|x| <= 255), the
 * weights' blocks in words of two rows x two
 * inputs, [r0 i0, r1 i0, r0 i1, r1 i1] for rows 0, 1 then 2, 3 of inputs
 * 0, 1, then of inputs 2, 3; rows 0 and 2 of a block as unsigned codes, 1
 * and 3 as signed, and each row's zw in the terms taken off the code as
 * stored (rules/cortex-m4.lua r4a8). */
void kiln_linear_dsp_u8_r4a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                             const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);
void kiln_linear_dsp_s8_r4a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                             const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);

/* Attention rows (kiln_attention_dsp.c), kiln_qk_row's and kiln_pv_row's
 * contracts for head_dim at most KILN_DSP_MAX_HEAD_DIM: qk for an even
 * head_dim, pv for a multiple of 8. */
#define KILN_DSP_MAX_HEAD_DIM 256
void kiln_qk_row_dsp(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g);
void kiln_pv_row_dsp(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g);

/* Elementwise kernels (kiln_ops_dsp.c): the portable kernels' contracts and
 * integers, for any operands (the portable kernel where a call's bounds do
 * not hold). */
void kiln_requant_dsp(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g);
void kiln_take_half_dsp(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                        const kiln_grid *g);
void kiln_concat_halves_dsp(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                            kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g);
void kiln_heads_first_dsp(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                          kiln_rq rq, const kiln_grid *g);
void kiln_mul_dsp(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                  const kiln_grid *g);
void kiln_mul_rows_dsp(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                       int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g);
void kiln_add_dsp(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                  int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g);
void kiln_rmsnorm_dsp(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                      int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g);

/* ---- softmax and sigmoid (kiln_softmax_dsp.c) --------------------------------
 * kiln_softmax_row's and kiln_sigmoid's contracts, any input. */
void kiln_softmax_row_dsp(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                          const kiln_grid *g);
void kiln_sigmoid_dsp(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                      const kiln_grid *g);

/* The second half of kiln_softmax_row: the probabilities' codes from a
 * row's n exp values (kept: n 32-bit words, any alignment) and their sum;
 * returns the sum of the codes, or -1 where these constants need the
 * portable kernel (nothing written then). */
int32_t kiln_softmax_probs_dsp(int16_t *p, const void *kept, int32_t n, uint64_t sum, kiln_rq rq,
                               const kiln_grid *g);

/* ---- a whole attention row (kiln_attention_dsp.c) ----------------------------- */

/* The constants of one attention row, in the order of its observers (the
 * generated code fills it: templates/ops/attention_row.c). */
typedef struct {
  kiln_rq qk; /* q . k -> logits */
  kiln_grid logits;
  kiln_rq mask; /* logits -> scores (mask 0: the keys a row sees) */
  kiln_grid scores;
  const kiln_exp_lut *exp;
  kiln_rq softmax; /* Q31 probabilities -> probs */
  kiln_grid probs;
  kiln_rq pv; /* p . v -> out */
  kiln_grid out;
} kiln_attention_row;

/* One query row: kiln_qk_row, kiln_requant to the scores, kiln_softmax_row
 * and kiln_pv_row in one call, with the same integers for any input (a row
 * outside the fast path's bounds takes the kernels one by one; the fast
 * path wants a head_dim that is a multiple of 8). scratch: 3 (n_past +
 * n_fresh) codes. */
void kiln_attention_row_dsp(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                            const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch);

#endif
