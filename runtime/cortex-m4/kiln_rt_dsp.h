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

/* Attention rows (kiln_attention_dsp.c), kiln_qk_row's and kiln_pv_row's
 * contracts for head_dim at most KILN_DSP_MAX_HEAD_DIM: qk for an even
 * head_dim, pv for a multiple of 8. */
#define KILN_DSP_MAX_HEAD_DIM 256
void kiln_qk_row_dsp(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g);
void kiln_pv_row_dsp(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g);

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
