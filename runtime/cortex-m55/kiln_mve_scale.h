/*
 * Requantization for the Helium kernels: kiln_scale and kiln_to_grid of
 * kiln_rt.h, the same integers, in a dozen instructions where the operands
 * allow. kiln_scale works on 64-bit values throughout (a generic 64-bit
 * shift, a saturation at 2^40); here, for |acc| < 2^31 and a shift s in
 * [32, 63] (every multiplier below 1/2: the linear layers', the attention
 * scores'), the product |acc| * mult < 2^62 is one UMULL, its high word h
 * is below 2^31, and
 *   round_half_even(p / 2^s) = (p + 2^(s-1) - 1 + ((h >> t) & 1)) >> s,
 * t = s - 32, taken from the high word after a 64-bit add (kiln_rhe_u63's
 * identity). The quotient is below 2^31, so the saturation cannot apply.
 * Every other case is kiln_scale itself.
 */
#ifndef KILN_MVE_SCALE_H
#define KILN_MVE_SCALE_H

#include "kiln_rt.h"

#include <arm_mve.h>

static inline int64_t kiln_mve_scale(int64_t acc, kiln_rq rq) {
  const int32_t t = rq.shift - 32;
  if (acc != (int32_t)acc || acc == INT32_MIN || (uint32_t)t > 31) return kiln_scale(acc, rq);
  const uint32_t a = (uint32_t)(acc < 0 ? -acc : acc);
  const uint64_t p = (uint64_t)a * (uint32_t)rq.mult;
  const uint32_t odd = ((uint32_t)(p >> 32) >> t) & 1;
  const uint32_t q = (uint32_t)((p + (((uint64_t)1 << (rq.shift - 1)) - 1) + odd) >> 32) >> t;
  return acc < 0 ? -(int64_t)q : (int64_t)q;
}

/* kiln_to_grid(kiln_scale(acc, rq), g) */
static inline int16_t kiln_mve_requant(int64_t acc, kiln_rq rq, const kiln_grid *g) {
  return kiln_to_grid(kiln_mve_scale(acc, rq), g);
}

/* The same for four accumulators at once, each by its own multiplier:
 * |acc| < 2^31 and t = shift - 32 in [1, 31] (shifts 33 to 63), from the
 * high and low words of the 64-bit products (VMULH, VMUL): with
 * q0 = h >> t and half = 2^(t-1) in the high word,
 *   (p + 2^(s-1) - 1 + (q0 & 1)) >> s = (h + half - 1 + carry) >> t
 * with carry the low word's, 1 unless l and q0's low bit are both 0; and
 * h + half < 2^31 + 2^30 does not wrap. */
static inline int32x4_t kiln_mve_scale4(int32x4_t acc, int32x4_t mult, int32x4_t t) {
  const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(acc)), m = vreinterpretq_u32_s32(mult);
  const uint32x4_t h = vmulhq_u32(a, m), l = vmulq_u32(a, m);
  const int32x4_t right = vnegq_s32(t);
  const uint32x4_t odd = vandq_u32(vshlq_u32(h, right), vdupq_n_u32(1));
  /* half - 1, plus 1 unless q0 is even and l is 0 (without predicates,
   * which gcc 12 miscompiles here) */
  const uint32x4_t half_less = vsubq_n_u32(vshlq_u32(vdupq_n_u32(1), vsubq_n_s32(t, 1)), 1);
  const uint32x4_t carry = vminq_u32(vorrq_u32(odd, l), vdupq_n_u32(1));
  const int32x4_t q = vreinterpretq_s32_u32(vshlq_u32(vaddq_u32(vaddq_u32(h, half_less), carry), right));
  const int32x4_t sign = vshrq_n_s32(acc, 31); /* 0 or -1 */
  return vsubq_s32(veorq_s32(q, sign), sign);
}

/* The same for shifts 1 to 32 (multipliers from 1/2 up: requantization
 * between grids), where the quotient can exceed 32 bits: with u = 32 - s,
 * floor(p / 2^s) = h << u | l >> s, the shift saturating (VQSHL); the
 * remainder l mod 2^s against half = 2^(s-1) rounds it, half to even. The
 * result is capped at 2^30 in magnitude: kiln_to_grid clamps such a value
 * to the same code as the exact one (every grid lies within +-2^17). */
#define KILN_MVE_CAP (1u << 30)
static inline int32x4_t kiln_mve_scale4_low(int32x4_t acc, int32x4_t mult, int32x4_t s) {
  const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(acc)), m = vreinterpretq_u32_s32(mult);
  const uint32x4_t h = vmulhq_u32(a, m), l = vmulq_u32(a, m), one = vdupq_n_u32(1);
  const int32x4_t u = vsubq_s32(vdupq_n_s32(32), s);
  const uint32x4_t q0 = vorrq_u32(vqshlq_u32(h, u), vshlq_u32(l, vnegq_s32(s)));
  const uint32x4_t rem = vandq_u32(l, vshlq_u32(vdupq_n_u32(0xFFFFFFFFu), vnegq_s32(u)));
  const uint32x4_t half = vshlq_u32(one, vsubq_n_s32(s, 1));
  const uint32x4_t above = vminq_u32(vqsubq_u32(rem, half), one);                 /* rem > half */
  const uint32x4_t tie = vsubq_u32(one, vminq_u32(veorq_u32(rem, half), one));   /* rem == half */
  const uint32x4_t round = vorrq_u32(above, vandq_u32(tie, vandq_u32(q0, one)));
  const int32x4_t q = vreinterpretq_s32_u32(vminq_u32(vqaddq_u32(q0, round), vdupq_n_u32(KILN_MVE_CAP)));
  const int32x4_t sign = vshrq_n_s32(acc, 31);
  return vsubq_s32(veorq_s32(q, sign), sign);
}

/* kiln_to_grid of four values, stored as int16 */
static inline void kiln_mve_store_grid4(int16_t *y, int32x4_t v, const kiln_grid *g) {
  v = vaddq_n_s32(v, g->zero_point);
  v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(g->qmin)), vdupq_n_s32(g->qmax));
  vstrhq_s32(y, v);
}

#endif
