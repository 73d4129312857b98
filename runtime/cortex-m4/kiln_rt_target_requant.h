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
 * many values with one multiplier prepare it once (kiln_dsp_rq, below).
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
