/*
 * Softmax rows and sigmoid for Armv7E-M: the portable kiln_softmax_row's and
 * kiln_sigmoid's integers (kiln_rt_ops.c), bit for bit, in 32-bit words:
 * no 64-bit shift, addition or division for a value.
 *
 * exp: the table read of kiln_exp_q31_inline; past 255 a UMULL and its
 *   rounding by 2^31 on the two words.
 * softmax: the row's sum in 64 bits, its reciprocal inv = floor(2^62 / sum)
 *   once a row (one library division), each probability
 *   round_half_even(e * inv / 2^31) from one UMULL, then the prepared
 *   requantization of kiln_rt_target_requant.h.
 * sigmoid: both of its quotients come from one reciprocal,
 *   y = round_half_even(2^62 / (2^31 + e)): for x >= 0 the result is y;
 *   for x < 0, e 2^31 / (2^31 + e) = 2^31 - 2^62 / (2^31 + e) exactly, and
 *   round-half-even commutes with 2^31 - (2^31 is even), so it is 2^31 - y.
 *   The quotient is two 16-bit digits on the core's UDIV.
 */
#include "kiln_rt_dsp.h"

#include <stddef.h>

#define INLINE static inline __attribute__((always_inline))
#define Q31_ONE ((uint32_t)1 << 31)
#define EXP_LO_SIZE 256 /* kiln_exp_lut: lo[d & 255] * hi[d >> 8] */

static inline uint32_t load32(const void *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

static inline void store32(void *p, uint32_t v) {
  __builtin_memcpy(p, &v, sizeof v);
}

/* (uint32_t)kiln_rhe_u63(p, 31) for any 64-bit p, on its words: the sum
 * p + 2^30 - 1 + bit 31 of p (which kiln_rhe_u63 takes modulo 2^64, as
 * here) and its bits 31 to 62. */
INLINE uint32_t rhe31(uint64_t p) {
  const uint32_t lo = (uint32_t)p, hi = (uint32_t)(p >> 32);
  const uint32_t add = 0x3FFFFFFFu + (lo >> 31);
  const uint32_t sum_lo = lo + add;
  const uint32_t sum_hi = hi + (sum_lo < add); /* ADDS, ADC */
  return (sum_hi << 1) | (sum_lo >> 31);
}

/* kiln_exp_q31_inline on a copy of the table (lo, hi, max_d). */
INLINE uint32_t exp_q31(const uint32_t *lo, const uint32_t *hi, int32_t max_d, int32_t d) {
  if (d > max_d) return 0;
  if (d < EXP_LO_SIZE) return lo[d];
  return rhe31((uint64_t)lo[d & (EXP_LO_SIZE - 1)] * hi[d >> 8]);
}

/* ---- softmax ---------------------------------------------------------------- */

/* round_half_even(p / 2^32) of the words of p: hi, plus the carry of
 * lo + 2^31 - 1 + (hi odd) (past 2^31, or 2^31 and hi odd). */
INLINE uint32_t rhe32(uint64_t p) {
  const uint32_t lo = (uint32_t)p, hi = (uint32_t)(p >> 32);
  const uint32_t add = 0x7FFFFFFFu + (hi & 1u);
  return hi + (lo + add < add);
}

int32_t kiln_softmax_top_dsp(int16_t *p, const int16_t *x, int32_t n, int32_t top, const kiln_exp_lut *lut,
                             kiln_rq rq, const kiln_grid *g, void *kept) {
  const uint32_t *const lo = lut->lo, *const hi = lut->hi;
  const int32_t max_d = lut->max_d;
  uint8_t *const words = kept;
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) {
    const uint32_t e = exp_q31(lo, hi, max_d, top - x[t]);
    if (words) store32(words + 4 * (size_t)t, e);
    sum += e;
  }
  /* The word path needs inv = 2^62 / sum within 32 bits: sum >= 2^31 (the
   * row's largest value alone is exp(0) = 2^31); then e inv < 2^63 for any
   * 32-bit e, so the probability is below 2^32 (bits = 32 below: the
   * requantization's shift must be 33 or more, as 2^-31 / s_p's is). */
  kiln_dsp_rq prq;
  if (n < 1 || sum < Q31_ONE || !kiln_dsp_rq_prepare(&prq, rq, g, 32)) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    int32_t p_sum = 0;
    for (int32_t t = 0; t < n; t++) p_sum += p[t];
    return p_sum;
  }
  const uint32_t inv = (uint32_t)kiln_softmax_reciprocal(sum);
  int32_t p_sum = 0;
  if (inv == Q31_ONE) { /* sum = 2^31: e inv / 2^31 = e, exactly */
    for (int32_t t = 0; t < n; t++) {
      const uint32_t e = words ? load32(words + 4 * (size_t)t) : exp_q31(lo, hi, max_d, top - x[t]);
      const int16_t code = kiln_dsp_requant_abs(e, 0, &prq);
      p[t] = code;
      p_sum += code;
    }
    return p_sum;
  }
  /* inv < 2^31: e inv / 2^31 = e (2 inv) / 2^32, the product's high word */
  const uint32_t inv2 = inv << 1;
  for (int32_t t = 0; t < n; t++) {
    const uint32_t e = words ? load32(words + 4 * (size_t)t) : exp_q31(lo, hi, max_d, top - x[t]);
    const int16_t code = kiln_dsp_requant_abs(rhe32((uint64_t)e * inv2), 0, &prq);
    p[t] = code;
    p_sum += code;
  }
  return p_sum;
}

void kiln_softmax_row_dsp(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                          const kiln_grid *g) {
  if (n < 1) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  int32_t top = x[0];
  for (int32_t t = 1; t < n; t++)
    if (x[t] > top) top = x[t];
  (void)kiln_softmax_top_dsp(p, x, n, top, lut, rq, g, NULL);
}

/* ---- sigmoid ---------------------------------------------------------------- */

#define DIGIT ((uint32_t)1 << 16)

/* round_half_even(2^62 / den) for den in [2^31, 2^32): the divisor's top
 * bit is set, so the quotient (below 2^31 + 1) is two 16-bit digits, each
 * estimated by UDIV from the divisor's high half and corrected at most
 * twice (Knuth's algorithm D with 16-bit digits); the remainders are exact
 * in 32 bits (below den). */
INLINE uint32_t recip62(uint32_t den) {
  const uint32_t d1 = den >> 16, d0 = den & (DIGIT - 1);
  /* the numerator's digits: 2^30 in the high word, then two zero digits */
  uint32_t q1 = ((uint32_t)1 << 30) / d1, r = ((uint32_t)1 << 30) - q1 * d1;
  while (q1 * d0 > r * DIGIT) { /* q1 <= 2^15, r < d1 < 2^16: no overflow */
    q1--;
    r += d1;
    if (r >= DIGIT) break;
  }
  const uint32_t rem1 = ((uint32_t)1 << 30) * DIGIT - q1 * den; /* 2^46 - q1 den, modulo 2^32: exact, < den */
  uint32_t q0 = rem1 / d1;
  r = rem1 - q0 * d1;
  while (q0 >= DIGIT || q0 * d0 > r * DIGIT) { /* q0 < 2^16 + 3 */
    q0--;
    r += d1;
    if (r >= DIGIT) break;
  }
  const uint32_t rem = rem1 * DIGIT - q0 * den; /* exact, < den */
  const uint32_t q = q1 * DIGIT + q0;
  return q + (rem > den - rem || (rem == den - rem && (q & 1u)));
}

/* kiln_sigmoid's Q31 value for v = x - x_zp and e = exp(-|v|) <= 2^31. */
INLINE uint32_t sigmoid_q31(int32_t v, uint32_t e) {
  const uint32_t y = e == Q31_ONE ? (uint32_t)1 << 30 : recip62(Q31_ONE + e); /* 2^62 / 2^32 */
  return v >= 0 ? y : Q31_ONE - y;
}

void kiln_sigmoid_dsp(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                      const kiln_grid *g) {
  kiln_dsp_rq prq;
  /* the Q31 value is at most 2^31: bits = 32 */
  if (!kiln_dsp_rq_prepare(&prq, rq, g, 32)) {
    kiln_sigmoid(y, x, x_zp, n, lut, rq, g);
    return;
  }
  const uint32_t *const lo = lut->lo, *const hi = lut->hi;
  const int32_t max_d = lut->max_d;
  for (int32_t i = 0; i < n; i++) {
    const int32_t v = x[i] - x_zp;
    const uint32_t e = exp_q31(lo, hi, max_d, v >= 0 ? v : -v);
    uint32_t sig;
    if (e <= Q31_ONE) {
      sig = sigmoid_q31(v, e);
    } else { /* not an exp table's value: portable's division */
      const uint64_t one = Q31_ONE;
      sig = (uint32_t)kiln_div_rhe((v >= 0 ? one : e) << 31, one + e);
    }
    y[i] = kiln_dsp_requant_abs(sig, 0, &prq);
  }
}
