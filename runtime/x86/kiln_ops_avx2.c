/*
 * Elementwise kernels, RMSNorm, sigmoid, the softmax row and argmax with
 * AVX2: the contracts and the integers of their portable namesakes in
 * kiln_rt.h, four values at a time in int64 lanes (kiln_scale4 is
 * kiln_scale's fast path; lanes outside it take the portable arithmetic).
 * A multiplier whose shift is outside the vector arithmetic's range sends the
 * whole call to the portable kernel.
 */
#include "kiln_rt_avx2.h"
#include "kiln_avx2.h"

#include <stddef.h>

#define Q31_ONE ((int64_t)1 << 31)

/* ---- requantization and products --------------------------------------------- */

/* y = requant(x) over n codes, the shift already known to be in [1, 63]:
 * codes minus a zero point stay below 2^17, always within kiln_scale4. */
static void requant_span(int16_t *y, const int16_t *x, int32_t n, __m256i zx, const kiln_rq4 *rq4,
                         const kiln_grid4 *g4) {
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) { /* two vectors, one 8-code store */
    const __m256i lo = _mm256_sub_epi64(kiln_load4(x + i, 4), zx), hi = _mm256_sub_epi64(kiln_load4(x + i + 4, 4), zx);
    kiln_store8(y + i, kiln_scale4(lo, rq4->mult, rq4->shift, g4), kiln_scale4(hi, rq4->mult, rq4->shift, g4));
  }
  for (; i < n; i += 4)
    kiln_store4(y + i, kiln_scale4(_mm256_sub_epi64(kiln_load4(x + i, n - i), zx), rq4->mult, rq4->shift, g4), n - i);
}

void kiln_requant_avx2(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  if (!rq4.fast) {
    kiln_requant(y, x, n, x_zp, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  requant_span(y, x, n, _mm256_set1_epi64x(x_zp), &rq4, &g4);
}

/* y = scale((a - za)(b - zb)) over n values; the products reach 2^34, so a
 * vector beyond kiln_scale4 goes lane by lane. */
static void mul_span(int16_t *y, const int16_t *a, __m256i za, const int16_t *b, __m256i zb, int32_t n, kiln_rq rq,
                     const kiln_rq4 *rq4, const kiln_grid4 *g4, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i += 4) {
    const __m256i prod = _mm256_mul_epi32(_mm256_sub_epi64(kiln_load4(a + i, n - i), za),
                                          _mm256_sub_epi64(kiln_load4(b + i, n - i), zb));
    kiln_scale_store4(y + i, prod, n - i, rq, rq4, g4, g);
  }
}

void kiln_mul_avx2(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                   const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  const kiln_grid4 g4 = kiln_grid4_of(g);
  mul_span(y, a, _mm256_set1_epi64x(a_zp), b, _mm256_set1_epi64x(b_zp), n, rq, &rq4, &g4, g);
}

void kiln_mul_rows_avx2(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                        int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i zx = _mm256_set1_epi64x(x_zp), zt = _mm256_set1_epi64x(t_zp);
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      mul_span(y + base, x + base, zx, table + (size_t)s * d, zt, d, rq, &rq4, &g4, g);
    }
}

/* The products are below 2^48 in magnitude, their sum below 2^50: within
 * kiln_shift_grid4 for shifts in [1, 62]. */
void kiln_add_avx2(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                   int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g) {
  if (rq->shift < 1 || rq->shift > 62) {
    kiln_add(y, a, a_zp, b, b_zp, c, c_zp, n, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i za = _mm256_set1_epi64x(a_zp), zb = _mm256_set1_epi64x(b_zp), zc = _mm256_set1_epi64x(c_zp);
  const __m256i ma = _mm256_set1_epi64x(rq->ma), mb = _mm256_set1_epi64x(rq->mb), mc = _mm256_set1_epi64x(rq->mc);
  const __m256i shift = _mm256_set1_epi64x(rq->shift);
  for (int32_t i = 0; i < n; i += 4) {
    __m256i acc = _mm256_add_epi64(_mm256_mul_epi32(_mm256_sub_epi64(kiln_load4(a + i, n - i), za), ma),
                                   _mm256_mul_epi32(_mm256_sub_epi64(kiln_load4(b + i, n - i), zb), mb));
    if (c) acc = _mm256_add_epi64(acc, _mm256_mul_epi32(_mm256_sub_epi64(kiln_load4(c + i, n - i), zc), mc));
    kiln_store4(y + i, kiln_shift_grid4(acc, shift, &g4), n - i);
  }
}

/* ---- layout moves (each a requantization) -------------------------------------- */

void kiln_take_half_avx2(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp,
                         kiln_rq rq, const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  if (!rq4.fast) {
    kiln_take_half(y, x, rows, d, which, x_zp, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i zx = _mm256_set1_epi64x(x_zp);
  const int32_t h = d / 2;
  for (int32_t r = 0; r < rows; r++) requant_span(y + (size_t)r * h, x + (size_t)r * d + (which ? h : 0), h, zx, &rq4, &g4);
}

void kiln_concat_halves_avx2(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                             kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  const kiln_rq4 ra = kiln_rq4_of(a_rq), rb = kiln_rq4_of(b_rq);
  if (!ra.fast || !rb.fast) {
    kiln_concat_halves(y, a, a_zp, a_rq, b, b_zp, b_rq, rows, h, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i za = _mm256_set1_epi64x(a_zp), zb = _mm256_set1_epi64x(b_zp);
  for (int32_t r = 0; r < rows; r++) {
    requant_span(y + (size_t)r * 2 * h, a + (size_t)r * h, h, za, &ra, &g4);
    requant_span(y + (size_t)r * 2 * h + h, b + (size_t)r * h, h, zb, &rb, &g4);
  }
}

void kiln_heads_first_avx2(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                           kiln_rq rq, const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  if (!rq4.fast) {
    kiln_heads_first(y, x, rows, heads, d, x_zp, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i zx = _mm256_set1_epi64x(x_zp);
  if (rows == 1) { /* [1][heads][d] and [heads][1][d] are the same order */
    requant_span(y, x, heads * d, zx, &rq4, &g4);
    return;
  }
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++)
      requant_span(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, d, zx, &rq4, &g4);
}

/* ---- RMSNorm --------------------------------------------------------------------- */

void kiln_rmsnorm_avx2(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                       int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i zx = _mm256_set1_epi64x(x_zp), zg = _mm256_set1_epi64x(gamma_zp);
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    /* squares below 2^34, their sum exact in int64 lanes */
    __m256i ss4 = _mm256_setzero_si256();
    for (int32_t j = 0; j < n; j += 4) {
      const __m256i v = _mm256_sub_epi64(kiln_load4(xr + j, n - j), zx);
      const __m256i sq = _mm256_mul_epi32(v, v);
      ss4 = _mm256_add_epi64(ss4, n - j >= 4 ? sq : _mm256_and_si256(sq, _mm256_cmpgt_epi64(
                                                                  _mm256_set1_epi64x(n - j), _mm256_setr_epi64x(0, 1, 2, 3))));
    }
    int32_t k;
    const uint64_t t = kiln_rmsnorm_square((uint64_t)kiln_hsum4(ss4), p, &k);
    if (t == 0) { /* an all-zero row with eps 0 */
      kiln_rmsnorm(yr, xr, x_zp, 1, n, gamma, gamma_zp, p, g);
      continue;
    }
    const kiln_rq row = kiln_rmsnorm_scale(kiln_isqrt(t), k, p);
    const kiln_rq4 rq4 = kiln_rq4_of(row);
    mul_span(yr, gamma, zg, xr, zx, n, row, &rq4, &g4, g);
  }
}

/* ---- exp tables: sigmoid, softmax ------------------------------------------------ */

/* kiln_exp_q31 for 4 distances d >= 0 in int64 lanes, bit for bit: gathers
 * from the low table, and for the lanes at 256 and beyond from the high one,
 * lo * hi rounded half to even by 2^31 (both at most 2^31: one 32 x 32
 * product). Lanes beyond the table read nothing and are 0. */
static inline __m256i exp4(__m256i dist, const kiln_exp_lut *lut) {
  const __m256i inside = _mm256_cmpgt_epi64(_mm256_set1_epi64x((int64_t)lut->max_d + 1), dist);
  if (_mm256_testz_si256(inside, inside)) return _mm256_setzero_si256();
  const __m128i in32 = kiln_low32x4(inside);
  const __m256i lo_idx = _mm256_and_si256(dist, _mm256_set1_epi64x(255));
  __m256i e = _mm256_cvtepu32_epi64(
      _mm256_mask_i64gather_epi32(_mm_setzero_si128(), (const int *)(const void *)lut->lo, lo_idx, in32, 4));
  if (lut->hi) {
    const __m256i wide = _mm256_and_si256(inside, _mm256_cmpgt_epi64(dist, _mm256_set1_epi64x(255)));
    if (!_mm256_testz_si256(wide, wide)) {
      const __m256i h = _mm256_cvtepu32_epi64(_mm256_mask_i64gather_epi32(
          _mm_setzero_si128(), (const int *)(const void *)lut->hi, _mm256_srli_epi64(dist, 8), kiln_low32x4(wide), 4));
      const __m256i prod = kiln_rhe_shift4(_mm256_mul_epu32(e, h), _mm256_set1_epi64x(31));
      e = _mm256_blendv_epi8(e, prod, wide);
    }
  }
  return e;
}

/* Non-negative int64 lanes below 2^52 as doubles (exact): the integer's bits
 * under the exponent of 2^52, minus 2^52. */
static inline __m256d small_to_double(__m256i v) {
  const __m256d magic = _mm256_set1_pd(4503599627370496.0); /* 2^52 */
  return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, _mm256_castpd_si256(magic))), magic);
}

/* floor of non-negative doubles below 2^52 as int64 lanes. */
static inline __m256i floor_to_int(__m256d v) {
  const __m256d magic = _mm256_set1_pd(4503599627370496.0);
  return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(_mm256_floor_pd(v), magic)), _mm256_castpd_si256(magic));
}

/* Sigmoid's quotient kiln_div_rhe(top << 31, 2^31 + e) for top, e in [0, 2^31]:
 * the double quotient (numerator and denominator exact, the quotient within
 * 2^-22 of the true one) is floored, corrected by the integer remainder to
 * the true floor, then rounded half to even. */
static inline __m256i sigmoid_div4(__m256i top, __m256i e) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i den = _mm256_add_epi64(_mm256_set1_epi64x(Q31_ONE), e); /* (2^31, 2^32] */
  const __m256d qd = _mm256_mul_pd(_mm256_div_pd(small_to_double(top), small_to_double(den)), _mm256_set1_pd(2147483648.0));
  __m256i q = floor_to_int(qd); /* < 2^32 */
  const __m256i num = _mm256_slli_epi64(top, 31);
  /* q * den with den up to 2^32: its low 32 bits and its bit 32 apart */
  const __m256i qden = _mm256_add_epi64(_mm256_mul_epu32(q, den), _mm256_slli_epi64(_mm256_mul_epu32(q, _mm256_srli_epi64(den, 32)), 32));
  __m256i r = _mm256_sub_epi64(num, qden);
  const __m256i low = kiln_negative4(r); /* q one too big */
  q = _mm256_add_epi64(q, low);
  r = _mm256_add_epi64(r, _mm256_and_si256(low, den));
  const __m256i high = _mm256_cmpgt_epi64(r, _mm256_sub_epi64(den, one)); /* q one too small */
  q = _mm256_sub_epi64(q, high);
  r = _mm256_sub_epi64(r, _mm256_and_si256(high, den));
  const __m256i rest = _mm256_sub_epi64(den, r);
  const __m256i up = _mm256_or_si256(_mm256_cmpgt_epi64(r, rest),
                                     _mm256_and_si256(_mm256_cmpeq_epi64(r, rest), _mm256_cmpeq_epi64(_mm256_and_si256(q, one), one)));
  return _mm256_sub_epi64(q, up);
}

void kiln_sigmoid_avx2(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                       const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  if (!rq4.fast) {
    kiln_sigmoid(y, x, x_zp, n, lut, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i zx = _mm256_set1_epi64x(x_zp), one = _mm256_set1_epi64x(Q31_ONE);
  for (int32_t i = 0; i < n; i += 4) {
    const __m256i v = _mm256_sub_epi64(kiln_load4(x + i, n - i), zx);
    const __m256i neg = kiln_negative4(v);
    const __m256i e = exp4(kiln_apply_sign4(v, neg), lut); /* exp(-|x|) */
    /* x >= 0: 1 / (1 + e); x < 0: e / (1 + e); both in Q31, at most 2^31 */
    const __m256i sig = sigmoid_div4(_mm256_blendv_epi8(one, e, neg), e);
    kiln_store4(y + i, kiln_scale4(sig, rq4.mult, rq4.shift, &g4), n - i);
  }
}

int16_t kiln_max_code_avx2(const int16_t *x, int32_t n) {
  __m256i top = _mm256_set1_epi16(INT16_MIN);
  int32_t t = 0;
  for (; t + 16 <= n; t += 16) top = _mm256_max_epi16(top, _mm256_loadu_si256((const __m256i *)(const void *)(x + t)));
  __m128i q = _mm_max_epi16(_mm256_castsi256_si128(top), _mm256_extracti128_si256(top, 1));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 8));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 4));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 2));
  int16_t mx = (int16_t)_mm_extract_epi16(q, 0);
  for (; t < n; t++)
    if (x[t] > mx) mx = x[t];
  return mx;
}

void kiln_softmax_row_avx2(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                           const kiln_grid *g) {
  kiln_softmax_top_avx2(p, x, n, kiln_max_code_avx2(x, n), lut, rq, g);
}

void kiln_softmax_top_avx2(int16_t *p, const int16_t *x, int32_t n, int16_t mx, const kiln_exp_lut *lut, kiln_rq rq,
                           const kiln_grid *g) {
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  if (!rq4.fast) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  /* pass one: the exp values (kept for the first KEEP codes) and their sum */
  uint32_t kept[KILN_AVX2_SOFTMAX_KEEP];
  const __m256i top = _mm256_set1_epi64x(mx);
  __m256i sum4 = _mm256_setzero_si256();
  for (int32_t t = 0; t < n; t += 4) {
    const int32_t m = n - t < 4 ? n - t : 4;
    __m256i e = exp4(_mm256_sub_epi64(top, kiln_load4(x + t, m)), lut);
    if (m < 4) e = _mm256_and_si256(e, _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3)));
    if (t < KILN_AVX2_SOFTMAX_KEEP) _mm_storeu_si128((__m128i *)(void *)(kept + t), kiln_low32x4(e));
    sum4 = _mm256_add_epi64(sum4, e);
  }
  const uint64_t inv = kiln_softmax_reciprocal((uint64_t)kiln_hsum4(sum4));
  if (inv >> 32 != 0) { /* e * inv must be one 32 x 32 product: a sum of at least 2^30 */
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  /* pass two: prob = round_half_even(e inv / 2^31) (at most 2^31), then kiln_scale */
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const __m256i inv4 = _mm256_set1_epi64x((int64_t)inv), s31 = _mm256_set1_epi64x(31);
  for (int32_t t = 0; t < n; t += 4) {
    const int32_t m = n - t < 4 ? n - t : 4;
    const __m256i e = t + 4 <= KILN_AVX2_SOFTMAX_KEEP
                          ? _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(kept + t)))
                          : exp4(_mm256_sub_epi64(top, kiln_load4(x + t, m)), lut);
    const __m256i prob = kiln_rhe_shift4(_mm256_mul_epu32(e, inv4), s31);
    kiln_store4(p + t, kiln_scale4(prob, rq4.mult, rq4.shift, &g4), m);
  }
}

/* ---- argmax ------------------------------------------------------------------------ */

int32_t kiln_argmax_avx2(const int16_t *x, int32_t n) {
  const int16_t mx = kiln_max_code_avx2(x, n);
  const __m256i top = _mm256_set1_epi16(mx);
  int32_t t = 0;
  for (; t + 16 <= n; t += 16) { /* the first code equal to the largest */
    const int hit = _mm256_movemask_epi8(_mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(x + t)), top));
    if (hit) return t + __builtin_ctz((unsigned)hit) / 2;
  }
  for (; t < n; t++)
    if (x[t] == mx) return t;
  return 0;
}
