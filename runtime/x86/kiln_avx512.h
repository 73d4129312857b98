/*
 * Helpers shared by the AVX-512 kernels (header-only: static inline). Values
 * travel as 8 int64 lanes, enough for any accumulator kiln_scale takes; a
 * mask selects the lanes of a row's tail so that no kernel needs a scalar
 * epilogue.
 */
#ifndef KILN_AVX512_H
#define KILN_AVX512_H

#include "kiln_rt.h"

#include <immintrin.h>

/* An output grid, broadcast once per kernel call. */
typedef struct {
  __m512i zero_point, qmin, qmax;
} kiln_grid8;

static inline kiln_grid8 kiln_grid8_of(const kiln_grid *g) {
  kiln_grid8 v;
  v.zero_point = _mm512_set1_epi64(g->zero_point);
  v.qmin = _mm512_set1_epi64(g->qmin);
  v.qmax = _mm512_set1_epi64(g->qmax);
  return v;
}

/* The first n of 8 lanes (all 8 for n >= 8). */
static inline __mmask8 kiln_lanes8(int32_t n) {
  return n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << n) - 1);
}

/* 8 int16 codes as int64 lanes (masked-off lanes read nothing and are 0).
 * Whole vectors take plain loads and stores: a masked store cannot forward
 * its data to a later load, and the next kernel reads these right away. */
static inline __m512i kiln_load8(const int16_t *p, __mmask8 m) {
  if (m == 0xFF) return _mm512_cvtepi16_epi64(_mm_loadu_si128((const __m128i *)(const void *)p));
  return _mm512_cvtepi16_epi64(_mm_maskz_loadu_epi16(m, (const void *)p));
}

static inline void kiln_store8(int16_t *p, __m512i v, __mmask8 m) {
  if (m == 0xFF) _mm_storeu_si128((__m128i *)(void *)p, _mm512_cvtepi64_epi16(v));
  else _mm_mask_storeu_epi16((void *)p, m, _mm512_cvtepi64_epi16(v));
}

/* The first n of 32 int16 values (all 32 for n >= 32; none for n <= 0), by a
 * plain load when whole (see kiln_load8). */
static inline __m512i kiln_load32(const int16_t *p, int32_t n) {
  if (n >= 32) return _mm512_loadu_si512((const void *)p);
  return _mm512_maskz_loadu_epi16(n <= 0 ? 0 : (((__mmask32)1 << n) - 1), (const void *)p);
}

/* round_half_even(p / 2^s) for |p| < 2^62, s in [1, 63], on signed lanes:
 * with q = floor(p / 2^s) and r the remainder, adding half - 1 plus q's low
 * bit carries into q exactly when r is above half, or equal to half with q
 * odd (floor division makes this hold for negative p too). */
static inline __m512i kiln_rhe_shift8(__m512i p, __m512i shift) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i half_less = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(shift, one)), one);
  const __m512i odd = _mm512_and_si512(_mm512_srav_epi64(p, shift), one);
  return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(p, half_less), odd), shift);
}

/* kiln_to_grid on 8 lanes */
static inline __m512i kiln_to_grid8(__m512i v, const kiln_grid8 *g) {
  return _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(v, g->zero_point), g->qmin), g->qmax);
}

/* Whether kiln_scale8 gives kiln_scale's result for these lanes: |acc| < 2^31
 * (shifts in [1, 63] are the caller's check). */
static inline int kiln_fits8(__m512i acc) {
  return _mm512_cmpgt_epu64_mask(_mm512_abs_epi64(acc), _mm512_set1_epi64(0x7FFFFFFF)) == 0;
}

/* kiln_scale then kiln_to_grid on 8 lanes, when kiln_fits8(acc) and every
 * shift is in [1, 63] (kiln_scale's fast path, bit for bit: round half to
 * even is symmetric, so the signed product rounds like kiln_scale's
 * magnitude; the quotient stays below 2^62, so kiln_scale's saturation at
 * 2^40 and the grid's clamp give the same code). */
static inline __m512i kiln_scale8(__m512i acc, __m512i mult, __m512i shift, const kiln_grid8 *g) {
  return kiln_to_grid8(kiln_rhe_shift8(_mm512_mul_epi32(acc, mult), shift), g);
}

/* The same for unsigned accumulators in [0, 2^31] (probabilities in Q31). */
static inline __m512i kiln_scale8_q31(__m512i acc, __m512i mult, __m512i shift, const kiln_grid8 *g) {
  return kiln_to_grid8(kiln_rhe_shift8(_mm512_mul_epu32(acc, mult), shift), g);
}

/* round_half_even(v / 2^s) on 8 signed lanes, |v| < 2^62, s in [1, 62] */
static inline __m512i kiln_shift8(__m512i v, __m512i shift) {
  return kiln_rhe_shift8(v, shift);
}

/* One multiplier for a whole kernel call, broadcast; fast when its shift
 * suits kiln_scale8. */
typedef struct {
  __m512i mult, shift;
  int fast;
} kiln_rq8;

static inline kiln_rq8 kiln_rq8_of(kiln_rq rq) {
  kiln_rq8 v;
  v.mult = _mm512_set1_epi64(rq.mult);
  v.shift = _mm512_set1_epi64(rq.shift);
  v.fast = rq.shift >= 1 && rq.shift <= 63;
  return v;
}

/* out[lanes m] = kiln_to_grid(kiln_scale(acc[lane], rq), g) with the portable
 * arithmetic: the rare lanes outside kiln_scale8 (kiln_ops_avx512.c; out of
 * line, so that the kernels' loops keep their registers). */
void kiln_scale_store_lanes(int16_t *out, __m512i acc, __mmask8 m, kiln_rq rq, const kiln_grid *g);

/* out[lanes m] = kiln_to_grid(kiln_scale(acc, rq), g): vector when it can be. */
static inline void kiln_scale_store8(int16_t *out, __m512i acc, __mmask8 m, kiln_rq rq, const kiln_rq8 *rq8,
                                     const kiln_grid8 *g8, const kiln_grid *g) {
  if (rq8->fast && kiln_fits8(acc)) kiln_store8(out, kiln_scale8(acc, rq8->mult, rq8->shift, g8), m);
  else kiln_scale_store_lanes(out, acc, m, rq, g);
}

/* ---- softmax, shared by the softmax row and the attention row -------------- */

/* Exp values of a row kept between the two passes; longer rows recompute. */
#define KILN_SOFTMAX_KEEP 2048

/* The largest of n >= 1 codes (kiln_ops_avx512.c). */
int16_t kiln_max_code_avx512(const int16_t *x, int32_t n);

/* Pass one: kept[t] = exp(-(top - x[t]) s) in Q31 for the first
 * KILN_SOFTMAX_KEEP codes (rounded up to 8, zeros past n); returns the sum
 * over all n, as kiln_softmax_row adds them. */
uint64_t kiln_softmax_exps_avx512(uint32_t *kept, const int16_t *x, int32_t n, int16_t top, const kiln_exp_lut *lut);

/* The softmax row given its largest score. */
void kiln_softmax_top_avx512(int16_t *p, const int16_t *x, int32_t n, int16_t top, const kiln_exp_lut *lut,
                             kiln_rq rq, const kiln_grid *g);

/* Pass two's constants: the row's reciprocal (kiln_softmax_reciprocal) split
 * as inv = ih * 2^31 + il, since e * inv (< 2^62) is no single 32 x 32
 * product; and the probabilities' multiplier. */
typedef struct {
  __m512i ih, il, mult, shift;
} kiln_softmax_norm8;

static inline kiln_softmax_norm8 kiln_softmax_norm8_of(uint64_t sum, kiln_rq rq) {
  const uint64_t inv = kiln_softmax_reciprocal(sum);
  kiln_softmax_norm8 v;
  v.ih = _mm512_set1_epi64((int64_t)(inv >> 31));
  v.il = _mm512_set1_epi64((int64_t)(inv & 0x7FFFFFFF));
  v.mult = _mm512_set1_epi64(rq.mult);
  v.shift = _mm512_set1_epi64(rq.shift);
  return v;
}

/* Probability codes of 8 exp values: kiln_softmax_prob (round half to even of
 * (e ih 2^31 + e il) / 2^31), then kiln_scale's fast path (a Q31 value at
 * most 2^31; shifts in [1, 63] are the caller's check). */
static inline __m512i kiln_softmax_probs8(__m512i e, const kiln_softmax_norm8 *n, const kiln_grid8 *g) {
  const __m512i q31 = kiln_rhe_shift8(
      _mm512_add_epi64(_mm512_slli_epi64(_mm512_mul_epu32(e, n->ih), 31), _mm512_mul_epu32(e, n->il)),
      _mm512_set1_epi64(31));
  return kiln_scale8_q31(q31, n->mult, n->shift, g);
}

/* kiln_div_rhe on 8 lanes, num < 2^63, 0 < den < 2^52 and num / den < 2^48:
 * num times den's reciprocal (14 bits, then two Newton steps: about 50 bits)
 * is within one of the true quotient; the integer remainder corrects it,
 * then rounds half to even. */
static inline __m512i kiln_div_rhe8(__m512i num, __m512i den) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512d d = _mm512_cvtepu64_pd(den), unit = _mm512_set1_pd(1.0);
  __m512d inv = _mm512_rcp14_pd(d);
  inv = _mm512_fmadd_pd(inv, _mm512_fnmadd_pd(d, inv, unit), inv);
  inv = _mm512_fmadd_pd(inv, _mm512_fnmadd_pd(d, inv, unit), inv);
  __m512i q = _mm512_cvttpd_epu64(_mm512_mul_pd(_mm512_cvtepu64_pd(num), inv));
  __m512i r = _mm512_sub_epi64(num, _mm512_mullo_epi64(q, den));
  const __mmask8 low = _mm512_movepi64_mask(r); /* r < 0: q one too big */
  q = _mm512_mask_sub_epi64(q, low, q, one);
  r = _mm512_mask_add_epi64(r, low, r, den);
  const __mmask8 high = _mm512_cmpge_epi64_mask(r, den); /* q one too small */
  q = _mm512_mask_add_epi64(q, high, q, one);
  r = _mm512_mask_sub_epi64(r, high, r, den);
  const __m512i rest = _mm512_sub_epi64(den, r);
  const __mmask8 up = _mm512_cmpgt_epi64_mask(r, rest) |
                      (_mm512_cmpeq_epi64_mask(r, rest) & _mm512_test_epi64_mask(q, one));
  return _mm512_mask_add_epi64(q, up, q, one);
}

#endif
