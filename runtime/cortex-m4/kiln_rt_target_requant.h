/*
 * Requantization for 32-bit cores with a 32x32->64 multiply (UMULL) and no
 * fast 64-bit shifts: kiln_dsp_requant(acc, rq, g) is
 * kiln_to_grid(kiln_scale(acc, rq), g) of kiln_rt.h, bit for bit, in about
 * twenty 32-bit instructions. kiln_rt.h takes it for every kernel's last step
 * when the target's cflags name this header (KILN_RT_TARGET_REQUANT);
 * tests/runtime/test_dsp_requant.c checks it against the portable one.
 *
 * How: with a = |acc| < 2^32 and m = rq.mult < 2^31, the product p = a * m
 * (below 2^63) is split into its 32-bit halves hi:lo, and
 * round_half_even(p / 2^s) is taken without a 64-bit shift:
 *  - s = 32 + t, t in [1, 31]: (p + 2^(s-1) - 1 + odd) >> s, the branchless
 *    rounding of kiln_rhe_u63, is (hi + 2^(t-1) - 1 + carry) >> t, where the
 *    low half's sum lo + (2^32 - 1) + odd carries exactly when lo or odd,
 *    the quotient's low bit (hi >> t) & 1, is not zero; hi < 2^31, so
 *    nothing overflows. t = 0 compares lo with 2^31.
 *  - s in [1, 31]: the quotient is (hi << (32 - s)) | (lo >> s) when
 *    hi < 2^s, rounded up when rem + 2^(s-1) - 1 + odd reaches 2^s
 *    (rem = lo mod 2^s); a larger one lands outside the grid anyway.
 * Quotients are then held at KILN_DSP_REQUANT_LIMIT = 2^24 (portable holds
 * them at 2^40): a grid's zero point and bounds are 16-bit codes, far below
 * 2^23, so q + zp beyond the limit clamps to the same bound either way.
 * Accumulators outside int32, shifts outside [1, 63] and negative
 * multipliers (kiln makes none) take kiln_scale. Kernels that requantize
 * many values with one multiplier prepare it once: kiln_dsp_rq (any
 * accumulator below a bound), kiln_dsp_hi (where the call's accumulators
 * cannot be ties: one SMMLA on the high word), kiln_dsp_sum (kiln_add's
 * sums, ties included); below, with RMSNorm's square root.
 */
#ifndef KILN_RT_TARGET_REQUANT_H
#define KILN_RT_TARGET_REQUANT_H

#include <stdint.h>

#define KILN_DSP_REQUANT_LIMIT ((uint32_t)1 << 24)

/* round_half_even(hi:lo / 2^s) for s in [1, 63] and hi < 2^31, held at
 * KILN_DSP_REQUANT_LIMIT. */
static inline __attribute__((always_inline)) uint32_t kiln_dsp_rhe_split(uint32_t hi, uint32_t lo, int32_t s) {
  uint32_t q;
  if (s >= 32) {
    const int32_t t = s - 32;
    if (t == 0) {
      q = hi + (lo > 0x80000000u || (lo == 0x80000000u && (hi & 1u)));
    } else {
      const uint32_t carry = (lo | ((hi >> t) & 1u)) != 0;
      q = (hi + ((uint32_t)1 << (t - 1)) - 1u + carry) >> t;
    }
  } else if ((hi >> s) != 0) {
    q = KILN_DSP_REQUANT_LIMIT; /* the quotient is 2^32 or more */
  } else {
    q = (hi << (32 - s)) | (lo >> s);
    if (q < KILN_DSP_REQUANT_LIMIT) {
      const uint32_t rem = lo & (((uint32_t)1 << s) - 1u);
      q += (rem + ((uint32_t)1 << (s - 1)) - 1u + (q & 1u)) >> s;
    }
  }
  return q < KILN_DSP_REQUANT_LIMIT ? q : KILN_DSP_REQUANT_LIMIT;
}

/* clamp(+-q + zp, qmin, qmax) for q <= KILN_DSP_REQUANT_LIMIT. */
static inline __attribute__((always_inline)) int16_t kiln_dsp_signed_to_grid(uint32_t q, int negative, const kiln_grid *g) {
  int32_t v = (negative ? -(int32_t)q : (int32_t)q) + g->zero_point;
  if (v < g->qmin) v = g->qmin;
  if (v > g->qmax) v = g->qmax;
  return (int16_t)v;
}

/* Inlined: a call would cost as much as the work (it runs some 20,000 times a token). */
static inline __attribute__((always_inline)) int16_t kiln_dsp_requant(int64_t acc, kiln_rq rq, const kiln_grid *g) {
  const int32_t s = rq.shift;
  if (acc != (int32_t)acc || s < 1 || s > 63 || rq.mult < 0) return kiln_to_grid(kiln_scale(acc, rq), g);
  const int32_t v = (int32_t)acc;
  const uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
  const uint64_t p = (uint64_t)a * (uint32_t)rq.mult; /* UMULL */
  return kiln_dsp_signed_to_grid(kiln_dsp_rhe_split((uint32_t)(p >> 32), (uint32_t)p, s), v < 0, g);
}

/* ---- prepared once a call ------------------------------------------------
 *
 * A kernel that requantizes many values with one kiln_rq and one grid
 * prepares them once, so that each value takes one branchless path of about
 * a dozen instructions. The product is made to have exactly s' = 33 bits
 * below the point, or more: |acc| is shifted left by pre = 33 - s first
 * when s < 33 (it must then stay below 2^32, which the kernel's bound on
 * |acc| guarantees: the caller names it in bits), so that s' = 32 + t with
 * t >= 1 always and the rounding is kiln_dsp_rhe_split's t >= 1 branch,
 * nothing else: round_half_even(p / 2^s) = (hi + 2^(t-1) - 1 + carry) >> t,
 * carry = (lo or the quotient's low bit) != 0. The quotient is below 2^30,
 * so +-q + zp needs no limit and no 64-bit clamp. */
typedef struct {
  uint32_t mult;
  int32_t pre;   /* |acc| << pre before the product: max(0, 33 - shift) */
  int32_t t;     /* the high word's shift: shift + pre - 32, at least 1 */
  uint32_t bias; /* 2^(t-1) - 1 */
  int32_t zero_point, qmin, qmax;
} kiln_dsp_rq;

/* Fills p for rq and g, for accumulators of magnitude below 2^bits (bits <=
 * 32); 0 when this path does not apply (a shift outside [1, 63], a negative
 * multiplier, or |acc| << pre past 32 bits), and the kernel must take the
 * per-value kiln_requant_to_grid instead. */
static inline int kiln_dsp_rq_prepare(kiln_dsp_rq *p, kiln_rq rq, const kiln_grid *g, int32_t bits) {
  if (rq.shift < 1 || rq.shift > 63 || rq.mult < 0 || bits < 1 || bits > 32) return 0;
  p->pre = rq.shift < 33 ? 33 - rq.shift : 0;
  if (bits + p->pre > 32) return 0;
  p->mult = (uint32_t)rq.mult;
  p->t = rq.shift + p->pre - 32;
  p->bias = ((uint32_t)1 << (p->t - 1)) - 1u;
  p->zero_point = g->zero_point;
  p->qmin = g->qmin;
  p->qmax = g->qmax;
  return 1;
}

/* The magnitude a of an accumulator (a < 2^bits of the preparation) and its
 * sign, requantized: kiln_requant_to_grid's result, bit for bit. */
static inline __attribute__((always_inline)) int16_t kiln_dsp_requant_abs(uint32_t a, int negative,
                                                                           const kiln_dsp_rq *p) {
  const uint64_t prod = (uint64_t)(a << p->pre) * p->mult; /* UMULL, below 2^63 */
  const uint32_t hi = (uint32_t)(prod >> 32), lo = (uint32_t)prod;
  const uint32_t carry = (lo | ((hi >> p->t) & 1u)) != 0;
  const int32_t q = (int32_t)((hi + p->bias + carry) >> p->t);
  int32_t v = (negative ? -q : q) + p->zero_point;
  if (v < p->qmin) v = p->qmin;
  if (v > p->qmax) v = p->qmax;
  return (int16_t)v;
}

/* The same for a signed accumulator (|acc| < 2^bits, bits <= 31). */
static inline __attribute__((always_inline)) int16_t kiln_dsp_requant_prepared(int32_t acc, const kiln_dsp_rq *p) {
  return kiln_dsp_requant_abs(acc < 0 ? 0u - (uint32_t)acc : (uint32_t)acc, acc < 0, p);
}

/* ---- tie-free, on the high word ------------------------------------------
 *
 * Most calls can never meet a rounding tie: acc * mult = (2k + 1) 2^(s-1)
 * needs acc to be an odd multiple of 2^(s-1-z), z the number of trailing
 * zero bits of mult, so no |acc| below 2^(s-1-z) (and no acc at all when z
 * >= s) is a tie. There, half to even is half up, for either sign (the
 * nearest integer is unique), and the whole requantization is
 *   q + zp = floor((acc mult + 2^(s-1) + zp 2^s) / 2^s),
 * the output zero point folded into the rounding constant. A kernel hands
 * acc' = acc 2^pre (pre its own: 0 for a product, 16 for a code in the high
 * half of a word, which SMLAWB multiplies as x 2^16), so that s' = s + pre
 * is at least 33: the constant 2^(s'-1) + zp 2^s' is then bias * 2^32, a
 * high word alone, and
 *   q + zp = (bias + floor(acc' mult / 2^32)) >> t,  t = s' - 32,
 * one SMMLA (or SMLAWB) and one arithmetic shift; the clamp is the grid's.
 * Exact: floor(floor(X / 2^32) / 2^t) = floor(X / 2^s'), and the sum is
 * held in int32 by the call's bounds (checked when prepared); the quotient
 * is then below 2^31, so kiln_scale's hold at 2^40 never applies. */
typedef struct {
  int32_t mult;  /* rq.mult */
  int32_t bias;  /* (2^(s'-1) + zp 2^s') / 2^32 */
  int32_t t;     /* s' - 32, in [1, 31] */
  int32_t qmin, qmax;
} kiln_dsp_hi;

/* acc + floor(a * m / 2^32): SMMLA, which gcc does not emit from C (it
 * makes an SMLAL and a move); plain C elsewhere (the host tests). The sum
 * must fit int32 (kiln_dsp_hi_prepare's bounds). */
static inline __attribute__((always_inline)) int32_t kiln_dsp_smmla(int32_t a, int32_t m, int32_t acc) {
#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(m), "r"(acc));
  return r;
#else
  return (int32_t)(acc + (((int64_t)a * m) >> 32)); /* >> of a negative: the sign shifted in (gcc, clang) */
#endif
}

/* Fills p for rq and g, for accumulators acc in [lo, hi] that the kernel
 * hands as acc 2^pre; 0 when the path does not apply (a shift outside
 * [1, 63], s' outside [33, 62], a negative multiplier, acc 2^pre outside
 * int32, a possible tie, or a bias that could carry the sum past int32),
 * and the kernel must take an exact per-value path instead. Inlined: it
 * runs once a call, and some calls are short. */
static inline __attribute__((always_inline)) int kiln_dsp_hi_prepare(kiln_dsp_hi *p, kiln_rq rq, const kiln_grid *g,
                                                                      int32_t lo, int32_t hi, int32_t pre) {
  const int32_t s = rq.shift, t = s + pre - 32;
  if (s < 1 || s > 63 || rq.mult < 0 || pre < 0 || pre > 16 || t < 1 || t > 30 || lo > hi) return 0;
  /* acc 2^pre in [-2^31, 2^31 - 1]: acc in [-2^(31-pre), 2^(31-pre) - 1] (>> of a negative: the sign shifted in) */
  if ((lo >> (31 - pre)) < -1 || (hi >> (31 - pre)) > 0) return 0;
  const uint32_t a_lo = lo < 0 ? 0u - (uint32_t)lo : (uint32_t)lo, a_hi = hi < 0 ? 0u - (uint32_t)hi : (uint32_t)hi;
  const uint32_t a = a_lo > a_hi ? a_lo : a_hi; /* the largest |acc|, up to 2^31 */
  if (rq.mult != 0 && a != 0) {
    const int32_t z = __builtin_ctz((uint32_t)rq.mult), e = s - 1 - z;
    if (e >= 0 && e < 32 && (a >> e) != 0) return 0; /* some |acc| reaches 2^(s-1-z): a tie is possible */
  }
  /* |floor(acc' mult / 2^32)| <= 2^30 (|acc'| <= 2^31, mult < 2^31): a bias within +-(2^30 - 1) keeps
   * the sum in int32 */
  const int64_t bias = ((int32_t)1 << (t - 1)) + (int64_t)g->zero_point * ((int32_t)1 << t);
  if (bias <= -((int64_t)1 << 30) || bias >= ((int64_t)1 << 30)) return 0;
  p->mult = rq.mult;
  p->bias = (int32_t)bias;
  p->t = t;
  p->qmin = g->qmin;
  p->qmax = g->qmax;
  return 1;
}

/* q + zp for acc' = acc 2^pre, before the clamp. */
static inline __attribute__((always_inline)) int32_t kiln_dsp_hi_value(int32_t acc_shifted, const kiln_dsp_hi *p) {
  return kiln_dsp_smmla(acc_shifted, p->mult, p->bias) >> p->t;
}

/* The clamp of kiln_to_grid, in its order (qmin first). */
static inline __attribute__((always_inline)) int16_t kiln_dsp_hi_clamp(int32_t v, const kiln_dsp_hi *p) {
  if (v < p->qmin) v = p->qmin;
  if (v > p->qmax) v = p->qmax;
  return (int16_t)v;
}

/* ---- sums of scaled codes (kiln_add) -------------------------------------
 *
 * y = round_half_even(sum_i (x_i - z_i) m_i / 2^s) + zp, clamped: the sum
 * is exact in 64 bits. Each code enters as x 2^16 (where a word holds it,
 * the high half masked or the low half shifted up: one instruction either
 * way), so that s' = s + 16 >= 33 and the quotient is the high word's
 * shift by t = s - 16, with
 *   w = sum_i (x_i 2^16) m_i + c,  c = -2^16 sum_i z_i m_i + 2^(s'-1) + zp 2^s',
 *   q + zp = floor(w / 2^s') = (w >> 32) >> t,
 * the half-up rounding. A tie (the sum an odd multiple of 2^(s-1)) leaves
 * w mod 2^s' = 0: the low word zero and the high word's low t bits zero;
 * there half up is one above half to even when q is odd. Ties are rare (the
 * low word is zero about once in 2^16 values), so kernels test the low word
 * first, on a branch seldom taken. |w| < 2^63 when the sum of the |m_i|
 * times each code's largest |x - z_i|, plus the constant, stays below 2^47
 * (in units of 2^16): checked once a call. */
typedef struct {
  int32_t m[3];
  uint32_t c_lo; /* c's low word */
  int32_t c_hi;  /* c's high word */
  int32_t t;     /* s - 16, in [1, 31] */
  int32_t zero_point, qmin, qmax;
} kiln_dsp_sum;

/* The largest |x - zp| over int16 codes x, for |zp| <= 2^16: 32768 + zp
 * from the bottom code, or 32767 - zp from the top one. */
static inline uint32_t kiln_dsp_code_span(int32_t zp) {
  return zp >= 0 ? (uint32_t)(32768 + zp) : (uint32_t)(32767 - zp);
}

/* Fills p for kiln_add's multipliers and zero points (c absent: terms = 2);
 * 0 when this path does not apply (a shift outside [17, 47], a zero point
 * beyond 2^16, or a sum that could leave 64 bits). */
static inline int kiln_dsp_sum_prepare(kiln_dsp_sum *p, const kiln_add_rq *rq, const int32_t zp[3], int32_t terms,
                                       const kiln_grid *g) {
  const int32_t s = rq->shift, zp_max = 1 << 16;
  const int32_t m0 = rq->ma, m1 = rq->mb, m2 = terms == 3 ? rq->mc : 0, z2 = terms == 3 ? zp[2] : 0;
  if (s < 17 || s > 47 || g->zero_point > zp_max || g->zero_point < -zp_max || zp[0] > zp_max || zp[0] < -zp_max
      || zp[1] > zp_max || zp[1] < -zp_max || z2 > zp_max || z2 < -zp_max)
    return 0;
  /* each span below 2^17 and |m| at most 2^31: 32-bit factors (UMULL) */
  const uint32_t u0 = m0 < 0 ? 0u - (uint32_t)m0 : (uint32_t)m0, u1 = m1 < 0 ? 0u - (uint32_t)m1 : (uint32_t)m1;
  const uint32_t u2 = m2 < 0 ? 0u - (uint32_t)m2 : (uint32_t)m2;
  const uint32_t zg = (uint32_t)(g->zero_point < 0 ? -g->zero_point : g->zero_point);
  const uint64_t half = (uint64_t)1 << (s - 1);
  /* the constant's part, 2^(s-1) + |zp| 2^s = (2 |zp| + 1) 2^(s-1), and the codes' */
  const uint64_t bound = half * (2u * zg + 1u) + (uint64_t)kiln_dsp_code_span(zp[0]) * u0
    + (uint64_t)kiln_dsp_code_span(zp[1]) * u1 + (uint64_t)kiln_dsp_code_span(z2) * u2;
  if (bound >= ((uint64_t)1 << 47)) return 0;
  /* sum z_i m_i: below 2^47 in magnitude (the bound holds it), so c below 2^63 */
  const int64_t zsum = (int64_t)zp[0] * m0 + (int64_t)zp[1] * m1 + (int64_t)z2 * m2;
  /* c = 2^16 (2^(s-1) + zp 2^s - zsum) = 2^16 ((2 zp + 1) 2^(s-1) - zsum) */
  const int64_t c = ((int64_t)(2 * g->zero_point + 1) * (int64_t)half - zsum) * 65536;
  p->m[0] = m0;
  p->m[1] = m1;
  p->m[2] = m2;
  p->c_lo = (uint32_t)c;
  p->c_hi = (int32_t)(c >> 32);
  p->t = s - 16;
  p->zero_point = g->zero_point;
  p->qmin = g->qmin;
  p->qmax = g->qmax;
  return 1;
}

/* The tie's correction, out of the loops (a branch seldom taken). */
static __attribute__((noinline, unused)) int32_t kiln_dsp_sum_tie(int32_t hi, int32_t v, int32_t t, int32_t zp) {
  if (((uint32_t)hi << (32 - t)) == 0) v -= (v - zp) & 1;
  return v;
}

/* q + zp from w = hi:lo, before the clamp. */
static inline __attribute__((always_inline)) int32_t kiln_dsp_sum_value(int32_t hi, uint32_t lo, const kiln_dsp_sum *p) {
  const int32_t v = hi >> p->t;
  return __builtin_expect(lo == 0, 0) ? kiln_dsp_sum_tie(hi, v, p->t, p->zero_point) : v;
}

/* ---- RMSNorm's square root ---------------------------------------------------
 *
 * floor(sqrt(t)) for t in [2^60, 2^62) (kiln_rmsnorm_square's range),
 * kiln_isqrt's result in some 60 instructions instead of 800: the root x of
 * the high word by Newton's method from above (32-bit divisions; from 2^15,
 * above sqrt(2^30), it decreases to floor(sqrt(a)) and stops), which puts
 * floor(sqrt(t)) in [x 2^16, (x + 1) 2^16) since x^2 2^32 <= t < (x + 1)^2
 * 2^32; then one Newton step for t from r0 = (x + 1) 2^16 - 1 >=
 * floor(sqrt(t)): floor((r0 + floor(t / r0)) / 2) is never below the root
 * (the arithmetic-geometric mean) and at most (r0 - sqrt t)^2 / (2 r0) <=
 * 2^32 / 2^31 = 2 above it, so at most two steps down finish. */
static inline uint32_t kiln_dsp_isqrt62(uint64_t t) {
  const uint32_t a = (uint32_t)(t >> 32); /* [2^28, 2^30) */
  uint32_t x = (uint32_t)1 << 15, y = (x + a / x) / 2;
  while (y < x) {
    x = y;
    y = (x + a / x) / 2;
  }
  const uint32_t r0 = ((x + 1) << 16) - 1; /* x < 2^15: below 2^31, and at least 2^30 */
  uint32_t r = (uint32_t)(((uint64_t)r0 + t / r0) / 2);
  while ((uint64_t)r * r > t) r--;
  return r;
}

/* kiln_rt.h's requantization is this one, always inlined (gcc's -Os would
 * call it); a host test including this header after kiln_rt.h keeps the
 * portable one. */
#ifndef KILN_RT_REQUANT
#define KILN_RT_REQUANT kiln_dsp_requant
#endif
#ifndef KILN_RT_REQUANT_INLINE
#define KILN_RT_REQUANT_INLINE __attribute__((always_inline))
#endif

#endif
