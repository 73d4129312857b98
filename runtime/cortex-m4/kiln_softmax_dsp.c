/*
 * Softmax rows and sigmoid for Armv7E-M: the portable kiln_softmax_row's and
 * kiln_sigmoid's integers (kiln_rt_ops.c), bit for bit, in 32-bit words:
 * no 64-bit shift, addition or division for a value.
 *
 * exp: the table read of kiln_exp_q31_inline; past 255 a UMULL and its
 *   rounding by 2^31 on the two words (kiln_dsp_exp.h).
 * softmax: the row's sum in 64 bits (ADDS, ADC), its reciprocal
 *   inv = floor(2^62 / sum) once a row (UDIV digits while the sum is below
 *   2^32, else the library's division), each probability
 *   round_half_even(e * inv / 2^31) from one UMULL, then a requantization
 *   prepared once a row (prob_rq).
 * sigmoid: both of its quotients come from one reciprocal,
 *   y = round_half_even(2^62 / (2^31 + e)): for x >= 0 the result is y;
 *   for x < 0, e 2^31 / (2^31 + e) = 2^31 - 2^62 / (2^31 + e) exactly, and
 *   round-half-even commutes with 2^31 - (2^31 is even), so it is 2^31 - y.
 *   The quotient is two 16-bit digits on the core's UDIV.
 */
#include "kiln_rt_dsp.h"
#include "kiln_dsp_exp.h"

#include <stddef.h>

#define INLINE static inline __attribute__((always_inline))
#define HOT KILN_DSP_HOT
#define Q31_ONE ((uint32_t)1 << 31)
#define load32 kiln_dsp_load32
#define store32 kiln_dsp_store32
#define exp_q31 kiln_dsp_exp_q31

/* ---- 2^62 / den on the core's UDIV ----------------------------------------- */

#define DIGIT ((uint32_t)1 << 16)

/* floor(2^62 / den) and its remainder for den in [2^31, 2^32): the
 * divisor's top bit is set, so the quotient (at most 2^31) is two 16-bit
 * digits, each estimated by UDIV from the divisor's high half and corrected
 * at most twice (Knuth's algorithm D with 16-bit digits); the remainders
 * are exact in 32 bits (below den). */
INLINE uint32_t div62(uint32_t den, uint32_t *rem) {
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
  *rem = rem1 * DIGIT - q0 * den; /* exact, < den */
  return q1 * DIGIT + q0;
}

/* kiln_softmax_reciprocal: floor(2^62 / sum), sum >= 2^31; the library's
 * 64-bit division only for sums of 2^32 or more. */
static uint32_t softmax_reciprocal(uint64_t sum) {
  uint32_t rem;
  return sum >> 32 ? (uint32_t)kiln_softmax_reciprocal(sum) : div62((uint32_t)sum, &rem);
}

/* ---- softmax ---------------------------------------------------------------- */

/* round_half_even(p / 2^32) of the words of p: hi, plus the carry of
 * lo + 2^31 - 1 + (hi odd) (past 2^31, or 2^31 and hi odd). */
INLINE uint32_t rhe32(uint64_t p) {
  const uint32_t lo = (uint32_t)p, hi = (uint32_t)(p >> 32);
  const uint32_t add = 0x7FFFFFFFu + (hi & 1u);
  return hi + (lo + add < add);
}

/* A probability's requantization prepared (shift 33 to 63, zero point >= 0):
 * with t = shift - 32, round_half_even(a mult / 2^shift) + zp is
 * (hi + 2^(t-1) - 1 + zp 2^t + carry) >> t on the words hi:lo of the UMULL
 * a mult, carry = (lo or bit t of hi) != 0, as in kiln_rt_target_requant.h;
 * for a < 2^32, hi < 2^31, and the preparation keeps the addend below 2^31:
 * no overflow in 32 bits.
 * A probability is at most 2^31: e <= sum, so e inv <= e 2^62 / sum <= 2^62.
 * Its code is then at least zp and at most the code of 2^31, and where both
 * lie within the grid (zp >= qmin, as for 2^-31 / s_p onto [0, 255] or
 * int16) no clamp is needed: unclamped. */
typedef struct {
  uint32_t mult;
  int32_t t;
  uint32_t add; /* 2^(t-1) - 1 + zp 2^t */
  int32_t qmin;
  uint32_t range; /* qmax - qmin */
  int unclamped;
  int32_t tie_shift; /* below */
} prob_rq;

/* Ties: a tie is a mult = (2j + 1) 2^(31 + t), of 2-adic valuation 31 + t =
 * v(a) + v(mult), so only a whose low k = 31 + t - v(mult) bits are all 0
 * can be one (k >= 32: none, a < 2^32 being nonzero). Other a take
 * round-half-up, (hi + 2^(t-1) + zp 2^t) >> t, lo dropped (it is below one
 * unit of hi). tie_shift = 32 - k (0: no a is ever a tie), and a << tie_shift
 * == 0 marks the few a that need the full rounding (0 among them: both
 * roundings give zp for it). */

INLINE int32_t prob_code(uint32_t a, const prob_rq *p) {
  const uint64_t prod = (uint64_t)a * p->mult; /* UMULL */
  const uint32_t hi = (uint32_t)(prod >> 32);
  const uint32_t x = (uint32_t)prod | ((hi >> p->t) & 1u);
  const uint64_t sum = ((uint64_t)(hi + p->add) << 32) + x + 0xFFFFFFFFu; /* ADDS, ADC: + (x != 0) */
  return (int32_t)((uint32_t)(sum >> 32) >> p->t);
}

/* prob_code where a cannot be a tie (may_tie false) */
INLINE int32_t prob_code_untied(uint32_t a, const prob_rq *p) {
  const uint32_t hi = (uint32_t)((uint64_t)a * p->mult >> 32); /* UMULL */
  return (int32_t)((hi + p->add + 1u) >> p->t);
}

INLINE int16_t prob_clamp(int32_t v, const prob_rq *p) {
  const uint32_t u = (uint32_t)v - (uint32_t)p->qmin;
  if (__builtin_expect(u > p->range, 0)) return (int16_t)(v < p->qmin ? p->qmin : p->qmin + (int32_t)p->range);
  return (int16_t)v;
}

static int prob_rq_prepare(prob_rq *p, kiln_rq rq, const kiln_grid *g) {
  if (rq.shift < 33 || rq.shift > 63 || rq.mult < 0 || g->zero_point < 0 || g->zero_point > INT16_MAX
      || g->qmin > g->qmax || g->qmin < INT16_MIN || g->qmax > INT16_MAX)
    return 0;
  p->t = rq.shift - 32;
  const uint32_t half = (uint32_t)1 << (p->t - 1);
  /* the addend 2^(t-1) - 1 + zp 2^t below 2^31 */
  if ((uint32_t)g->zero_point > (0x7FFFFFFFu - half) >> p->t) return 0;
  p->mult = (uint32_t)rq.mult;
  p->add = half - 1u + ((uint32_t)g->zero_point << p->t);
  p->qmin = g->qmin;
  p->range = (uint32_t)(g->qmax - g->qmin);
  p->unclamped = g->zero_point >= g->qmin && prob_code(Q31_ONE, p) <= g->qmax;
  const int32_t k = 31 + p->t - (rq.mult == 0 ? 31 : __builtin_ctz((uint32_t)rq.mult));
  p->tie_shift = k >= 32 ? 0 : 32 - k;
  return 1;
}

/* round_half_even(e inv / 2^31): the high word of e (2 inv), rounded, for
 * inv < 2^31; e itself for inv = 2^31 (sum = 2^31: e 2^31 / 2^31). */
INLINE uint32_t prob_q31(uint32_t e, uint32_t inv) {
  return inv == Q31_ONE ? e : rhe32((uint64_t)e * (inv << 1));
}

/* The probabilities' codes from the exp values (kept as words, or again
 * from x), and their sum. */
INLINE int32_t prob_pass(int16_t *p, const uint8_t *kept, int keep, const int16_t *x, int32_t n, int32_t top,
                         const kiln_exp_lut *lut, uint32_t inv, const prob_rq *r_in, int unclamped) {
  const prob_rq r = *r_in; /* copies no store through p can change */
  const uint32_t *const lo = keep ? NULL : lut->lo, *const hi = keep ? NULL : lut->hi;
  const int32_t max_d = keep ? 0 : lut->max_d;
  int32_t p_sum = 0;
  for (int32_t t = 0; t < n; t++) {
    const uint32_t e = keep ? load32(kept + 4 * (size_t)t) : exp_q31(lo, hi, max_d, top - x[t]);
    const int32_t v = prob_code(prob_q31(e, inv), &r);
    const int16_t code = unclamped ? (int16_t)v : prob_clamp(v, &r);
    p[t] = code;
    p_sum += code;
  }
  return p_sum;
}

/* Each pass a leaf of its own (noinline), so that its loop keeps the row's
 * constants in registers; the common one (kept, inv < 2^31, no clamp) apart,
 * in two versions: some probabilities may be ties (checked), or none. */
INLINE int32_t probs_fast(int16_t *p, const uint8_t *kept, int32_t n, uint32_t inv, const prob_rq *r, int check) {
  int32_t p_sum = 0;
  const prob_rq rr = *r;
  const uint32_t inv2 = inv << 1;
  for (int32_t t = 0; t < n; t++) {
    const uint32_t prob = rhe32((uint64_t)load32(kept + 4 * (size_t)t) * inv2);
    const int32_t code = check && __builtin_expect((prob << rr.tie_shift) == 0, 0) ? prob_code(prob, &rr)
                                                                                   : prob_code_untied(prob, &rr);
    p[t] = (int16_t)code;
    p_sum += code;
  }
  return p_sum;
}

static HOT __attribute__((noinline)) int32_t probs_kept_fast(int16_t *p, const uint8_t *kept, int32_t n,
                                                            uint32_t inv, const prob_rq *r) {
  return probs_fast(p, kept, n, inv, r, 1);
}

static HOT __attribute__((noinline)) int32_t probs_kept_untied(int16_t *p, const uint8_t *kept, int32_t n,
                                                              uint32_t inv, const prob_rq *r) {
  return probs_fast(p, kept, n, inv, r, 0);
}

static __attribute__((noinline)) int32_t probs_kept(int16_t *p, const uint8_t *kept, int32_t n, uint32_t inv,
                                                   const prob_rq *r) {
  return prob_pass(p, kept, 1, NULL, n, 0, NULL, inv, r, 0);
}

static __attribute__((noinline)) int32_t probs_again(int16_t *p, const int16_t *x, int32_t n, int32_t top,
                                                    const kiln_exp_lut *lut, uint32_t inv, const prob_rq *r) {
  return prob_pass(p, NULL, 0, x, n, top, lut, inv, r, 0);
}

int32_t kiln_softmax_probs_dsp(int16_t *p, const void *kept, int32_t n, uint64_t sum, kiln_rq rq,
                               const kiln_grid *g) {
  prob_rq r;
  /* the word path needs inv = 2^62 / sum within 32 bits: sum >= 2^31 (the
   * row's largest value alone is exp(0) = 2^31) */
  if (sum < Q31_ONE || !prob_rq_prepare(&r, rq, g)) return -1;
  const uint32_t inv = softmax_reciprocal(sum);
  if (inv != Q31_ONE && r.unclamped)
    return r.tie_shift ? probs_kept_fast(p, kept, n, inv, &r) : probs_kept_untied(p, kept, n, inv, &r);
  return probs_kept(p, kept, n, inv, &r);
}

/* The row's exp values summed. */
static __attribute__((noinline)) uint64_t exp_sum(const int16_t *x, int32_t n, int32_t top, const kiln_exp_lut *lut) {
  const uint32_t *const lo = lut->lo, *const hi = lut->hi;
  const int32_t max_d = lut->max_d;
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) sum += exp_q31(lo, hi, max_d, top - x[t]);
  return sum;
}

/* Two passes over the exp values, computed twice (no room to keep them). */
void kiln_softmax_row_dsp(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                          const kiln_grid *g) {
  prob_rq r;
  if (n < 1 || !prob_rq_prepare(&r, rq, g)) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  int32_t top = x[0];
  for (int32_t t = 1; t < n; t++)
    if (x[t] > top) top = x[t];
  const uint64_t sum = exp_sum(x, n, top, lut);
  if (sum < Q31_ONE) { /* see kiln_softmax_probs_dsp */
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  (void)probs_again(p, x, n, top, lut, softmax_reciprocal(sum), &r);
}

/* ---- sigmoid ---------------------------------------------------------------- */

/* round_half_even(2^62 / (2^31 + e)) for e in (0, 2^31). The quotient is
 * never a tie for 2^31 < den < 2^32 (2^63 = (2k + 1) den has no such
 * solution), so it is floor(2^62 / den + 1/2) = (floor(2^63 / den) + 1) / 2,
 * floored. floor(2^63 / den) is two 16-bit digits of long division. Each
 * digit's estimate from den's high half d1 >= 2^15 (UDIV) is never too
 * small and at most 2 too large (it exceeds the digit by less than
 * num d0 / (d1 2^16 den) + 1 < 3), and the exact product digit * den
 * (UMULL) against the partial numerator corrects it: no loop, no
 * remainder comparison. (e = 0 and e = 2^31 give powers of two.) */
INLINE uint32_t sigmoid_quotient(uint32_t e) {
  const uint32_t den = Q31_ONE + e, d1 = den >> 16;
  const uint64_t top = (uint64_t)1 << 47;
  uint32_t q1 = Q31_ONE / d1; /* floor(2^47 / den), or up to 2 more */
  uint64_t p = (uint64_t)q1 * den;
  if (p > top) {
    q1--;
    p -= den;
    if (p > top) {
      q1--;
      p -= den;
    }
  }
  const uint32_t rem1 = (uint32_t)(top - p); /* below den */
  uint32_t q0 = rem1 / d1; /* floor(rem1 2^16 / den), or up to 2 more */
  const uint64_t num = (uint64_t)rem1 << 16;
  p = (uint64_t)q0 * den;
  if (p > num) {
    q0--;
    if (p - den > num) q0--;
  }
  const uint32_t q = (q1 << 16) + q0; /* floor(2^63 / den) <= 2^32 - 2 */
  return (q >> 1) + (q & 1u);
}

/* kiln_sigmoid's Q31 value for v = x - x_zp from y = 2^62 / (2^31 + e) rounded. */
INLINE uint32_t sigmoid_q31(int32_t v, uint32_t y) {
  return v >= 0 ? y : Q31_ONE - y;
}

/* prepared: prob_rq (zero point >= 0); else kiln_rt_target_requant.h's */
INLINE void sigmoid_loop(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut,
                         const prob_rq *pr_in, const kiln_dsp_rq *dr, int prepared, int check) {
  const prob_rq pr = *pr_in;
  const uint32_t *const lo = lut->lo, *const hi = lut->hi;
  const int32_t max_d = lut->max_d;
  for (int32_t i = 0; i < n; i++) {
    const int32_t v = x[i] - x_zp;
    const uint32_t e = exp_q31(lo, hi, max_d, v >= 0 ? v : -v);
    uint32_t sig;
    if (__builtin_expect(e - 1u < Q31_ONE - 1u, 1)) { /* 0 < e < 2^31: one comparison */
      sig = sigmoid_q31(v, sigmoid_quotient(e));
    } else if (e <= Q31_ONE) { /* 0 or 2^31: powers of two */
      sig = sigmoid_q31(v, e == 0 ? Q31_ONE : (uint32_t)1 << 30);
    } else { /* not an exp table's value: portable's division */
      const uint64_t one = Q31_ONE;
      sig = (uint32_t)kiln_div_rhe((v >= 0 ? one : e) << 31, one + e);
    }
    /* sig <= 2^31 < 2^32: both requantizations take it */
    if (prepared)
      y[i] = prob_clamp(check && __builtin_expect((sig << pr.tie_shift) == 0, 0) ? prob_code(sig, &pr)
                                                                                 : prob_code_untied(sig, &pr),
                        &pr);
    else
      y[i] = kiln_dsp_requant_abs(sig, 0, dr);
  }
}

static HOT __attribute__((noinline)) void sigmoid_prepared(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n,
                                                          const kiln_exp_lut *lut, const prob_rq *pr) {
  sigmoid_loop(y, x, x_zp, n, lut, pr, NULL, 1, 1);
}

static HOT __attribute__((noinline)) void sigmoid_untied(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n,
                                                        const kiln_exp_lut *lut, const prob_rq *pr) {
  sigmoid_loop(y, x, x_zp, n, lut, pr, NULL, 1, 0);
}

static __attribute__((noinline)) void sigmoid_general(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n,
                                                     const kiln_exp_lut *lut, const kiln_dsp_rq *dr) {
  const prob_rq none = { 0, 1, 0, 0, 0, 0, 0 };
  sigmoid_loop(y, x, x_zp, n, lut, &none, dr, 0, 0);
}

void kiln_sigmoid_dsp(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                      const kiln_grid *g) {
  prob_rq pr;
  kiln_dsp_rq dr;
  if (prob_rq_prepare(&pr, rq, g)) {
    if (pr.tie_shift)
      sigmoid_prepared(y, x, x_zp, n, lut, &pr);
    else
      sigmoid_untied(y, x, x_zp, n, lut, &pr);
  } else if (kiln_dsp_rq_prepare(&dr, rq, g, 32)) {
    sigmoid_general(y, x, x_zp, n, lut, &dr);
  } else {
    kiln_sigmoid(y, x, x_zp, n, lut, rq, g);
  }
}
