/*
 * Kernels for x86-64 with VNNI: AVX-512 (kiln_*_avx512.c, rules/x86-vnni.lua)
 * and AVX-VNNI on 256-bit registers (kiln_linear_avxvnni.c,
 * rules/x86-avx-vnni.lua). Bit-identical to the portable kernels: the same
 * integer sums, requantized by kiln_scale's arithmetic.
 *
 * Weights come packed by the generator ("n16k4"): blocks of 16 output rows
 * and 4 inputs, wp[o / 16][i / 4][o % 16][i % 4] = w[o][i] - 128 as int8,
 * rows padded to a multiple of 16 with zeros; n_in must be a multiple of 4.
 * The kernels compute
 *   sum (x - zx)(w - zw) = sum x (w - 128) + (128 - zw) sum x + w_bias[o],
 *   w_bias[o] = n zx zw - zx sum w (- 256 * 128 (sum w - 128 n) with two byte
 * planes, see kiln_linear_avx512.c), a constant of the generator's; every
 * rq shift is within [1, 63] (the generator checks).
 */
#ifndef KILN_RT_X86_H
#define KILN_RT_X86_H

#include "kiln_rt.h"

/* 8-bit unsigned activations (codes in [0, 255]); work: rows * n_in bytes. */
void kiln_linear_vnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work);

/* Any activations stored as int16; work: 2 * rows * n_in bytes. */
void kiln_linear_vnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work);

/* The same with AVX-VNNI (256 bits); work as above. */
void kiln_linear_avxvnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work);
void kiln_linear_avxvnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);

/* Attention rows (kiln_attention_avx512.c): kiln_qk_row and kiln_pv_row with
 * AVX-512, for head_dim 8 or a multiple of 32 and codes within int16 of their
 * zero points; pv also needs probabilities with zero point 0 whose codes sum
 * below 2^16 (checked by the generator). */
void kiln_qk_row_avx512(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d,
                        kiln_rq rq, const kiln_grid *g);
void kiln_pv_row_avx512(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                        const kiln_grid *g);

/* The constants of one attention row, in the order of its observers. */
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

/* One query row of attention: kiln_qk_row, kiln_requant to the scores,
 * kiln_softmax_row and kiln_pv_row in one call, with the same integers;
 * the logits never leave registers. scratch: 2 * (n_past + n_fresh) codes.
 * Preconditions: those of kiln_qk_row_avx512 and kiln_pv_row_avx512. */
void kiln_attention_row_avx512(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                               const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch);

/* Elementwise kernels and the softmax row (kiln_ops_avx512.c): the portable
 * kernels of the same names without _avx512, eight values at a time. */
void kiln_requant_avx512(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g);
void kiln_mul_avx512(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                     const kiln_grid *g);
void kiln_mul_rows_avx512(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                          int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g);
void kiln_add_avx512(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                     int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g);
void kiln_take_half_avx512(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp,
                           kiln_rq rq, const kiln_grid *g);
void kiln_concat_halves_avx512(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b,
                               int32_t b_zp, kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g);
void kiln_heads_first_avx512(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                             kiln_rq rq, const kiln_grid *g);
void kiln_softmax_row_avx512(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                             const kiln_grid *g);
void kiln_sigmoid_avx512(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                         const kiln_grid *g);
int32_t kiln_argmax_avx512(const int16_t *x, int32_t n);
void kiln_rmsnorm_avx512(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                         int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g);

#endif
