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

#endif
