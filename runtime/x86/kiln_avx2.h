/*
 * Helpers shared by the AVX2 kernels (header-only: static inline). Values to
 * requantize travel as 4 int64 lanes. AVX2 has no 64-bit arithmetic shift,
 * no 64-bit min/max and no abs, so kiln_scale's arithmetic runs on
 * magnitudes, exactly as the portable code does: |acc| times the
 * multiplier, shifted with round half to even, the sign put back, then the
 * grid's clamp by compares and blends.
 */
#ifndef KILN_AVX2_H
#define KILN_AVX2_H

#include "kiln_rt.h"

#include <immintrin.h>
#include <string.h>

/* An output grid, broadcast once per kernel call. */
typedef struct {
  __m256i zero_point, qmin, qmax;
} kiln_grid4;

static inline kiln_grid4 kiln_grid4_of(const kiln_grid *g) {
  kiln_grid4 v;
  v.zero_point = _mm256_set1_epi64x(g->zero_point);
  v.qmin = _mm256_set1_epi64x(g->qmin);
  v.qmax = _mm256_set1_epi64x(g->qmax);
  return v;
}

/* The first n of 4 int16 codes as int64 lanes (the others 0): a partial
 * vector goes through a small copy, so no load reads past the data. */
static inline __m256i kiln_load4(const int16_t *p, int32_t n) {
  if (n >= 4) return _mm256_cvtepi16_epi64(_mm_loadl_epi64((const __m128i *)(const void *)p));
  int16_t t[4] = { 0, 0, 0, 0 };
  if (n > 0) memcpy(t, p, (size_t)n * sizeof *t);
  return _mm256_cvtepi16_epi64(_mm_loadl_epi64((const __m128i *)(const void *)t));
}

/* The low 32 bits of 4 int64 lanes, in the low half. */
static inline __m128i kiln_low32x4(__m256i v) {
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
}

/* Stores the first n of 4 lanes that already hold codes (clamped to a grid,
 * so the saturating pack is exact). */
static inline void kiln_store4(int16_t *p, __m256i v, int32_t n) {
  const __m128i lo = kiln_low32x4(v);
  const __m128i codes = _mm_packs_epi32(lo, lo);
  if (n >= 4) {
    _mm_storel_epi64((__m128i *)(void *)p, codes);
  } else {
    int16_t t[8];
    _mm_storeu_si128((__m128i *)(void *)t, codes);
    memcpy(p, t, (size_t)(n > 0 ? n : 0) * sizeof *t);
  }
}

/* Two vectors of codes as 8 int16 in one store. */
static inline void kiln_store8(int16_t *p, __m256i lo, __m256i hi) {
  _mm_storeu_si128((__m128i *)(void *)p, _mm_packs_epi32(kiln_low32x4(lo), kiln_low32x4(hi)));
}

/* round_half_even(a * mult / 2^shift) for magnitudes a < 2^32, mult < 2^31
 * (the low 32 bits of its lane) and shift in [1, 63]: the product is below
 * 2^63; with q = floor(p / 2^s), adding half - 1 plus q's low bit carries into
 * q exactly when the remainder is above half, or half with q odd. */
static inline __m256i kiln_rhe_mul4(__m256i a, __m256i mult, __m256i shift) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i p = _mm256_mul_epu32(a, mult);
  const __m256i half_less = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(shift, one)), one);
  const __m256i odd = _mm256_and_si256(_mm256_srlv_epi64(p, shift), one);
  return _mm256_srlv_epi64(_mm256_add_epi64(_mm256_add_epi64(p, half_less), odd), shift);
}

/* round_half_even(v / 2^shift) for magnitudes v < 2^63, shift in [1, 63]
 * (the sum below stays under 2^64). */
static inline __m256i kiln_rhe_shift4(__m256i v, __m256i shift) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i half_less = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(shift, one)), one);
  const __m256i odd = _mm256_and_si256(_mm256_srlv_epi64(v, shift), one);
  return _mm256_srlv_epi64(_mm256_add_epi64(_mm256_add_epi64(v, half_less), odd), shift);
}

/* All ones in the lanes where v < 0. */
static inline __m256i kiln_negative4(__m256i v) { return _mm256_cmpgt_epi64(_mm256_setzero_si256(), v); }

/* v or -v by a sign mask (two's complement: (v ^ m) - m). */
static inline __m256i kiln_apply_sign4(__m256i v, __m256i neg) {
  return _mm256_sub_epi64(_mm256_xor_si256(v, neg), neg);
}

/* Whether every lane's magnitude is below 2^32: kiln_scale's fast path. */
static inline int kiln_fits4(__m256i acc) {
  const __m256i mag = kiln_apply_sign4(acc, kiln_negative4(acc));
  return _mm256_testz_si256(mag, _mm256_set1_epi64x((int64_t)0xFFFFFFFF00000000LL));
}

/* kiln_to_grid on 4 lanes (the values are below 2^62 in magnitude). */
static inline __m256i kiln_to_grid4(__m256i v, const kiln_grid4 *g) {
  v = _mm256_add_epi64(v, g->zero_point);
  v = _mm256_blendv_epi8(v, g->qmin, _mm256_cmpgt_epi64(g->qmin, v));
  return _mm256_blendv_epi8(v, g->qmax, _mm256_cmpgt_epi64(v, g->qmax));
}

/* kiln_scale then kiln_to_grid, when kiln_fits4(acc) and every shift is in
 * [1, 63]: kiln_scale's fast path lane by lane (its saturation at 2^40 lies
 * beyond every grid, so the clamp gives the same code). */
static inline __m256i kiln_scale4(__m256i acc, __m256i mult, __m256i shift, const kiln_grid4 *g) {
  const __m256i neg = kiln_negative4(acc);
  const __m256i q = kiln_rhe_mul4(kiln_apply_sign4(acc, neg), mult, shift);
  return kiln_to_grid4(kiln_apply_sign4(q, neg), g);
}

/* kiln_shift_rhe then kiln_to_grid for |v| < 2^63, shift in [1, 62]. */
static inline __m256i kiln_shift_grid4(__m256i v, __m256i shift, const kiln_grid4 *g) {
  const __m256i neg = kiln_negative4(v);
  const __m256i q = kiln_rhe_shift4(kiln_apply_sign4(v, neg), shift);
  return kiln_to_grid4(kiln_apply_sign4(q, neg), g);
}

/* One multiplier for a whole call, broadcast; fast when its shift suits
 * kiln_scale4. */
typedef struct {
  __m256i mult, shift;
  int fast;
} kiln_rq4;

static inline kiln_rq4 kiln_rq4_of(kiln_rq rq) {
  kiln_rq4 v;
  v.mult = _mm256_set1_epi64x(rq.mult);
  v.shift = _mm256_set1_epi64x(rq.shift);
  v.fast = rq.shift >= 1 && rq.shift <= 63;
  return v;
}

/* out[0..n) = kiln_to_grid(kiln_scale(acc[lane], rq), g), n <= 4: in vector
 * lanes when it can be, else the portable arithmetic lane by lane. */
static inline void kiln_scale_store4(int16_t *out, __m256i acc, int32_t n, kiln_rq rq, const kiln_rq4 *rq4,
                                     const kiln_grid4 *g4, const kiln_grid *g) {
  if (rq4->fast && kiln_fits4(acc)) {
    kiln_store4(out, kiln_scale4(acc, rq4->mult, rq4->shift, g4), n);
  } else {
    int64_t a[4];
    _mm256_storeu_si256((__m256i *)(void *)a, acc);
    for (int32_t i = 0; i < n && i < 4; i++) out[i] = kiln_to_grid(kiln_scale(a[i], rq), g);
  }
}

/* Sum of the 4 int64 lanes. */
static inline int64_t kiln_hsum4(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

/* 8 int32 lanes as two vectors of 4 int64 lanes. */
static inline __m256i kiln_widen_lo(__m256i v) { return _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)); }
static inline __m256i kiln_widen_hi(__m256i v) { return _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)); }

/* ---- softmax, shared by the softmax row and the attention row (kiln_ops_avx2.c) */

/* Exp values of a row kept between the two passes; longer rows recompute. */
#define KILN_AVX2_SOFTMAX_KEEP 2048

/* The largest of n >= 1 codes. */
int16_t kiln_max_code_avx2(const int16_t *x, int32_t n);

/* The softmax row given its largest code. */
void kiln_softmax_top_avx2(int16_t *p, const int16_t *x, int32_t n, int16_t top, const kiln_exp_lut *lut, kiln_rq rq,
                           const kiln_grid *g);

#endif
