/*
 * kiln runtime, portable integer kernels (C99, no float, no libm, no malloc).
 *
 * Every tensor lives on a quantization grid: an integer q stands for the real
 * value (q - zero_point) * scale. Activations are stored as int16_t whatever
 * their dtype (uint8, int8, uint4 and int4 values fit); weights keep their
 * own 8- or 16-bit type. Scales never appear at run time: the generator turns
 * every ratio of scales into a kiln_rq (a 31-bit multiplier and a shift).
 *
 * Rounding: everywhere a result is divided by a power of two or by an
 * integer, kiln rounds half to even, as TICO's fake quantization does
 * (nearbyint). Results are then clamped to the output grid's [qmin, qmax].
 *
 * Each kernel does one job with explicit parameters, CMSIS-NN style; the
 * generated code calls them in graph order, one call per quantization point.
 */
#ifndef KILN_RT_H
#define KILN_RT_H

#include <stdint.h>

/* A real multiplier m = mult * 2^-shift, mult in [2^30, 2^31). */
typedef struct {
  int32_t mult;
  int32_t shift;
} kiln_rq;

/* An output grid: zero point and clamp range. */
typedef struct {
  int32_t zero_point;
  int32_t qmin, qmax;
} kiln_grid;

/* y = a*ma + b*mb (+ c*mc) over a common shift: the sum of differently
 * scaled inputs, exact before one rounding. */
typedef struct {
  int32_t ma, mb, mc;
  int32_t shift;
} kiln_add_rq;

/* RMSNorm constants: out = gamma * x * rsqrt(mean(x^2) + eps) on the output
 * grid, as rq_row(x) * (gamma - gz) * (x - xz) with
 *   rq_row = gain / sqrt(sum((x - xz)^2) + eps_term)
 * gain = s_gamma * sqrt(n) / s_out; eps_term = n * eps / s_x^2 in Q(frac_bits). */
typedef struct {
  kiln_rq gain;
  uint64_t eps_term;
  int32_t frac_bits; /* even */
} kiln_norm_rq;

/* exp(-d * s) for an integer distance d >= 0 on a grid of step s, in Q31
 * (2^31 = 1.0): lo[d & 255] * hi[d >> 8]. hi may be NULL when d < 256. */
typedef struct {
  const uint32_t *lo, *hi;
  int32_t max_d; /* largest d the tables cover; beyond it exp is 0 */
} kiln_exp_lut;

/* ---- arithmetic ---------------------------------------------------------- */

/* round_half_even(acc * rq.mult / 2^rq.shift), saturated to +-2^40: the
 * general case, for any accumulator. */
int64_t kiln_scale_wide(int64_t acc, kiln_rq rq);

/* round_half_even(p / 2^s) for p < 2^63, s in [1, 63], without a branch:
 * with rem = p mod 2^s and half = 2^(s-1), adding half - 1 + (quotient's low
 * bit) carries into the quotient exactly when rem > half, or rem == half
 * and the quotient is odd. The sum stays below 2^63 + 2^62 < 2^64. */
static inline uint64_t kiln_rhe_u63(uint64_t p, int32_t s) {
  return (p + (((uint64_t)1 << (s - 1)) - 1) + ((p >> s) & 1)) >> s;
}

/* The same; accumulators below 2^32 in magnitude (nearly all) take one
 * 64-bit product. */
static inline int64_t kiln_scale(int64_t acc, kiln_rq rq) {
  const uint64_t a = acc < 0 ? (uint64_t)0 - (uint64_t)acc : (uint64_t)acc;
  if ((a >> 32) != 0 || rq.shift < 1 || rq.shift > 63) return kiln_scale_wide(acc, rq);
  const uint64_t p = a * (uint64_t)(uint32_t)rq.mult; /* < 2^63 */
  uint64_t q = kiln_rhe_u63(p, rq.shift);
  if (q > ((uint64_t)1 << 40)) q = (uint64_t)1 << 40;
  return acc < 0 ? -(int64_t)q : (int64_t)q;
}
/* round_half_even(v / 2^s), s in [0, 62]. */
int64_t kiln_shift_rhe(int64_t v, int32_t s);
/* round_half_even(num / den), den > 0. */
uint64_t kiln_div_rhe(uint64_t num, uint64_t den);
/* floor(sqrt(v)). */
uint64_t kiln_isqrt(uint64_t v);
/* exp(-d * s) in Q31 from a table pair. */
uint32_t kiln_exp_q31(const kiln_exp_lut *lut, int32_t d);
/* The same, inline, for the loops of softmax and sigmoid: d < 256 is one
 * table read; beyond, round_half_even(lo * hi / 2^31) (a product < 2^62). */
static inline uint32_t kiln_exp_q31_inline(const kiln_exp_lut *lut, int32_t d) {
  if (d > lut->max_d) return 0;
  if (d < 256) return lut->lo[d];
  return (uint32_t)kiln_rhe_u63((uint64_t)lut->lo[d & 255] * lut->hi[d >> 8], 31);
}
/* clamp(v + zp, qmin, qmax) */
static inline int16_t kiln_to_grid(int64_t v, const kiln_grid *g) {
  v += g->zero_point;
  if (v < g->qmin) v = g->qmin;
  if (v > g->qmax) v = g->qmax;
  return (int16_t)v;
}

/* kiln_to_grid(kiln_scale(acc, rq), g): the last step of nearly every
 * kernel. A target whose cflags define KILN_RT_TARGET_REQUANT replaces it
 * in its runtime's kiln_rt_target_requant.h (defining KILN_RT_REQUANT) by a
 * function of the same result for every input, faster on its core. */
#ifdef KILN_RT_TARGET_REQUANT
#include "kiln_rt_target_requant.h"
#endif
#ifndef KILN_RT_REQUANT_INLINE /* the target's way to make a compiler inline it */
#define KILN_RT_REQUANT_INLINE
#endif
static inline KILN_RT_REQUANT_INLINE int16_t kiln_requant_to_grid(int64_t acc, kiln_rq rq, const kiln_grid *g) {
#ifdef KILN_RT_REQUANT
  return KILN_RT_REQUANT(acc, rq, g);
#else
  return kiln_to_grid(kiln_scale(acc, rq), g);
#endif
}

/* Softmax normalization, shared by every target's softmax: the reciprocal
 * floor(2^62 / sum) of a row's sum of exp values (sum >= 2^31), and one
 * probability in Q31, round_half_even(e * inv / 2^31). */
static inline uint64_t kiln_softmax_reciprocal(uint64_t sum) {
  return ((uint64_t)1 << 62) / sum;
}

static inline uint64_t kiln_softmax_prob(uint64_t e, uint64_t inv) {
  return kiln_rhe_u63(e * inv, 31); /* e <= 2^31, inv < 2^31: e * inv < 2^62 */
}

/* ---- kernels --------------------------------------------------------------- */

/* Requantize n values from one grid to another. */
void kiln_requant(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g);

/* Copies half (which = 0: first, 1: second) of each group of d values,
 * requantized: [rows][d] -> [rows][d/2]. */
void kiln_take_half(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                    const kiln_grid *g);

/* Concatenates two [rows][h] tensors per row into [rows][2h], each requantized. */
void kiln_concat_halves(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                        kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g);

/* [rows][heads][d] -> [heads][rows][d], requantized. */
void kiln_heads_first(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp, kiln_rq rq,
                      const kiln_grid *g);

/* y[s][h][e] = x[s][h][e] * table[s][e]: [rows][heads][d] times a [rows][d] table row. */
void kiln_mul_rows(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                   int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g);

/* y = a + b (+ c), each on its own grid; c may be NULL. */
void kiln_add(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
              int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g);

/* y = a * b elementwise. */
void kiln_mul(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
              const kiln_grid *g);

/* RMSNorm's multiplier for one row, in two steps around a square root:
 * t = (ss + eps) * 4^k in [2^60, 2^62) for the row's sum of squares ss (0 for
 * an all-zero row with eps 0, whose output is zero); then, with
 * root = isqrt(t), the row's gain / sqrt(ss + eps) as mult and shift. */
uint64_t kiln_rmsnorm_square(uint64_t ss, const kiln_norm_rq *p, int32_t *k);
kiln_rq kiln_rmsnorm_scale(uint64_t root, int32_t k, const kiln_norm_rq *p);

/* RMSNorm over rows of n values; gamma on its own grid. */
void kiln_rmsnorm(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                  int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g);

/* y[r][o] = sum_i (x[r][i] - x_zp) * (w[o][i] - w_zp[o]), requantized per
 * output channel o. One variant per weight storage type. */
void kiln_linear_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);
void kiln_linear_s16(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int16_t *w,
                     const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g);

/* A target's sum over one row of (x - x_zp) * (w - w_zp), 8-bit weights
 * (is_signed: int8, else uint8), and the linear layer around it: every row
 * of x against every weight row, requantized per output channel. For the
 * targets whose kernel is a faster row dot product (kiln_rt_neon.h,
 * kiln_rt_dsp.h). */
typedef int64_t (*kiln_row_dot8)(const int16_t *x, int32_t x_zp, const void *w, int32_t w_zp, int32_t n_in,
                                 int is_signed);
void kiln_linear8_by_rows(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const void *w,
                          int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                          kiln_row_dot8 row_dot);

/* Sigmoid through exp: y = 1 / (1 + exp(-x)) on the output grid; rq maps Q31 to it. */
void kiln_sigmoid(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                  const kiln_grid *g);

/* y = table[x - x_min] for inputs with at most 256 levels (exact tables built by the generator). */
void kiln_lookup(int16_t *y, const int16_t *x, int32_t n, int32_t x_min, const int16_t *table);

/* ---- attention, one query row at a time ------------------------------------ */

/* Keys or values of one kv head in two segments: the cache (past) and the
 * tokens of this call (new), each [len][d] with row stride d. */
typedef struct {
  const int16_t *past;
  int32_t n_past;
  const int16_t *fresh;
  int32_t n_fresh;
  int32_t zero_point;
} kiln_kv_view;

/* logits[t] = q . k[t] over the n_past + n_fresh keys, requantized. */
void kiln_qk_row(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                 const kiln_grid *g);

/* Softmax over n values: probabilities on the output grid; rq maps Q31 to it. */
void kiln_softmax_row(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq, const kiln_grid *g);

/* out[e] = sum_t p[t] * v[t][e], requantized. */
void kiln_pv_row(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                 const kiln_grid *g);

/* Index of the largest value (the first, on ties). */
int32_t kiln_argmax(const int16_t *x, int32_t n);

#endif
