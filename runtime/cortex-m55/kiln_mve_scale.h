/*
 * Requantization for the Helium kernels (and the sum of a row's codes less
 * their zero point, which several of them fold in): kiln_scale and
 * kiln_to_grid of kiln_rt.h, the same integers, in a dozen instructions
 * where the operands allow. kiln_scale works on 64-bit values throughout (a generic 64-bit
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

/* The same for four accumulators at once, on their magnitudes a (below
 * 2^32), from the high and low words h, l of the 64-bit products a * mult
 * (VMULH, VMUL). A multiplier's shift s is taken apart once for its lanes:
 *
 * shifts 33 to 63 ("high"; t = s - 32): with q0 = h >> t and
 * half = 2^(t-1) in the high word,
 *   (p + 2^(s-1) - 1 + (q0 & 1)) >> s = (h + half - 1 + carry) >> t
 * with carry the low word's, 1 unless l and q0's low bit are both 0 (for
 * a magnitude a <= 2^31, h < 2^31; kiln_mve_round_high).
 *
 * shifts 1 to 32 ("low": multipliers from 1/2 up, requantization between
 * grids), where the quotient can exceed 32 bits: with u = 32 - s,
 * floor(p / 2^s) = h << u | l >> s, the shift saturating (VQSHL), rounded
 * by the remainder l mod 2^s against half = 2^(s-1), half to even; capped.
 *
 * No predicated operations: gcc 12 miscompiles some of them here. */
typedef struct {
  int32x4_t mult;
  int32x4_t right;      /* -t (high), -s (low) */
  int32x4_t left;       /* low: u */
  uint32x4_t rem_mask;  /* low: 2^s - 1 */
  uint32x4_t half;      /* low: 2^(s-1) */
} kiln_mve_shift;

/* for lanes of shifts 33 to 63 */
static inline kiln_mve_shift kiln_mve_shift_high(int32x4_t mult, int32x4_t shift) {
  kiln_mve_shift k;
  const int32x4_t t = vsubq_n_s32(shift, 32);
  k.mult = mult;
  k.right = vnegq_s32(t);
  k.left = k.right;
  k.rem_mask = k.half = vdupq_n_u32(0); /* unused by the high shifts */
  return k;
}

/* for lanes of shifts 1 to 32 */
static inline kiln_mve_shift kiln_mve_shift_low(int32x4_t mult, int32x4_t shift) {
  kiln_mve_shift k;
  k.mult = mult;
  k.right = vnegq_s32(shift);
  k.left = vsubq_s32(vdupq_n_s32(32), shift);
  k.rem_mask = vshlq_u32(vdupq_n_u32(0xFFFFFFFFu), vnegq_s32(k.left));
  k.half = vshlq_u32(vdupq_n_u32(1), vsubq_n_s32(shift, 1));
  return k;
}

/* (h + half - 1 + carry) >> t as VRSHL's rounding shift of h - (1 - carry)
 * (signed: at least -1, and VRSHL adds its 2^(t-1) without wrapping), with
 * 1 - carry = 1 exactly where l and q0's low bit are both 0, that is
 * where (q0 << 31 | l) is 0: its leading-zero count over 32 (VCLZ). */
static inline uint32x4_t kiln_mve_round_high(uint32x4_t h, uint32x4_t l, int32x4_t right) {
  const uint32x4_t no_carry = vshrq_n_u32(vclzq_u32(vorrq_u32(vshlq_n_u32(vshlq_u32(h, right), 31), l)), 5);
  return vreinterpretq_u32_s32(vrshlq_s32(vreinterpretq_s32_u32(vsubq_u32(h, no_carry)), right));
}

static inline uint32x4_t kiln_mve_quot_high(uint32x4_t a, const kiln_mve_shift *k) {
  const uint32x4_t m = vreinterpretq_u32_s32(k->mult);
  return kiln_mve_round_high(vmulhq_u32(a, m), vmulq_u32(a, m), k->right);
}

/* floor((h * 2^32 + l) / 2^s), rounded half to even and capped, for the
 * low shifts: any 64-bit magnitude h, l (the left shift of h saturates) */
static inline uint32x4_t kiln_mve_round_low(uint32x4_t h, uint32x4_t l, const kiln_mve_shift *k, uint32_t cap) {
  const uint32x4_t one = vdupq_n_u32(1);
  const uint32x4_t q0 = vorrq_u32(vqshlq_u32(h, k->left), vshlq_u32(l, k->right));
  const uint32x4_t rem = vandq_u32(l, k->rem_mask);
  const uint32x4_t above = vminq_u32(vqsubq_u32(rem, k->half), one);                /* rem > half */
  const uint32x4_t tie = vsubq_u32(one, vminq_u32(veorq_u32(rem, k->half), one));   /* rem == half */
  const uint32x4_t round = vorrq_u32(above, vandq_u32(tie, vandq_u32(q0, one)));
  return vminq_u32(vqaddq_u32(q0, round), vdupq_n_u32(cap));
}

static inline uint32x4_t kiln_mve_quot_low(uint32x4_t a, const kiln_mve_shift *k, uint32_t cap) {
  const uint32x4_t m = vreinterpretq_u32_s32(k->mult);
  return kiln_mve_round_low(vmulhq_u32(a, m), vmulq_u32(a, m), k, cap);
}

/* Signed accumulators, |acc| < 2^31: the quotient with acc's sign. Below
 * shift 33 it is capped at 2^30 in magnitude, which kiln_to_grid clamps to
 * the same code as the exact value (every grid lies within +-2^17). */
#define KILN_MVE_CAP (1u << 30)
static inline int32x4_t kiln_mve_signed(uint32x4_t q, int32x4_t acc) {
  const int32x4_t sign = vshrq_n_s32(acc, 31); /* 0 or -1 */
  return vsubq_s32(veorq_s32(vreinterpretq_s32_u32(q), sign), sign);
}

static inline uint32x4_t kiln_mve_magnitude(int32x4_t acc) {
  return vreinterpretq_u32_s32(vabsq_s32(acc));
}

/* One multiplier for every lane, taken apart once. */
typedef struct {
  kiln_mve_shift k;
  int high;
} kiln_mve_rq;

/* 0 for a shift outside 1 to 63, which only kiln_scale takes */
static inline int kiln_mve_uniform(kiln_rq rq, kiln_mve_rq *u) {
  if (rq.shift < 1 || rq.shift > 63) return 0;
  u->high = rq.shift > 32;
  u->k = u->high ? kiln_mve_shift_high(vdupq_n_s32(rq.mult), vdupq_n_s32(rq.shift))
                 : kiln_mve_shift_low(vdupq_n_s32(rq.mult), vdupq_n_s32(rq.shift));
  return 1;
}

/* kiln_scale in lanes: signed accumulators |acc| <= 2^31, or (_u)
 * non-negative ones up to 2^31 */
static inline int32x4_t kiln_mve_scale_uniform_u(uint32x4_t a, const kiln_mve_rq *u) {
  return vreinterpretq_s32_u32(u->high ? kiln_mve_quot_high(a, &u->k) : kiln_mve_quot_low(a, &u->k, KILN_MVE_CAP));
}

static inline int32x4_t kiln_mve_scale_uniform(int32x4_t acc, const kiln_mve_rq *u) {
  return kiln_mve_signed(vreinterpretq_u32_s32(kiln_mve_scale_uniform_u(kiln_mve_magnitude(acc), u)), acc);
}

/* sum (x - zx) over n codes, exactly: the raw codes eight lanes a step into
 * an int32 (VADDVA: blocks of up to 2^16 codes, |sum| <= 2^16 * 2^15),
 * the last step predicated; the blocks and n * zx in int64 */
#define KILN_MVE_SUM_BLOCK 65536
static inline int64_t kiln_mve_sum_diffs(const int16_t *x, int32_t n, int32_t zx) {
  int64_t s = 0;
  for (int32_t i = 0; i < n;) {
    const int32_t end = n - i > KILN_MVE_SUM_BLOCK ? i + KILN_MVE_SUM_BLOCK : n;
    int32_t b = 0;
    for (; i + 8 <= end; i += 8) b = vaddvaq_s16(b, vldrhq_s16(x + i));
    if (i < end) {
      const mve_pred16_t p = vctp16q((uint32_t)(end - i));
      b = vaddvaq_p_s16(b, vldrhq_z_s16(x + i, p), p);
      i = end;
    }
    s += b;
  }
  return s - (int64_t)n * zx;
}

/* round_half_even(lo * hi / 2^31) for lo, hi <= 2^31, the product p below
 * 2^62 in its high and low words h, l (VMULH, VMUL): floor(p / 2^31) is
 * h << 1 | l >> 31, and kiln_rhe_u63's carry, rem + 2^30 - 1 + (the
 * quotient's low bit) reaching 2^31 with rem = l mod 2^31, decides the
 * rounding; the quotient's low bit is l's top bit. */
static inline uint32x4_t kiln_mve_exp_product(uint32x4_t lo, uint32x4_t hi) {
  const uint32x4_t h = vmulhq_u32(lo, hi), l = vmulq_u32(lo, hi);
  const uint32x4_t q = vsriq_n_u32(vshlq_n_u32(h, 1), l, 31);
  const uint32x4_t carry = vaddq_n_u32(vaddq_u32(vbicq_n_u32(l, 0x80000000u), vshrq_n_u32(l, 31)), (1u << 30) - 1);
  return vaddq_u32(q, vshrq_n_u32(carry, 31));
}

/* exp(-d s) in Q31 for four distances d (the lanes of p), kiln_exp_q31_inline
 * in lanes: lo[d & 255] gathered, and (two: a constant where it is inlined,
 * for tables with hi and max_d >= 256) past 255 times hi[d >> 8] rounded
 * by 2^31 (kiln_mve_exp_product), 0 past max_d. */
static inline __attribute__((always_inline)) uint32x4_t kiln_mve_exp4_tables(uint32x4_t d, const uint32_t *lo_t,
                                                                             const uint32_t *hi_t, uint32_t max_d,
                                                                             int two, mve_pred16_t p) {
  const uint32x4_t lo = vldrwq_gather_shifted_offset_z_u32(lo_t, vandq_u32(d, vdupq_n_u32(255)), p);
  uint32x4_t e = lo;
  if (two) {
    /* the index stays on the table where d is past max_d (whose result is 0) */
    const uint32x4_t row = vminq_u32(vshrq_n_u32(d, 8), vdupq_n_u32(max_d >> 8));
    const uint32x4_t hi = vldrwq_gather_shifted_offset_z_u32(hi_t, row, p);
    e = vpselq_u32(kiln_mve_exp_product(lo, hi), lo, vcmpcsq_n_u32(d, 256));
  }
  return vpselq_u32(vdupq_n_u32(0), e, vcmphiq_n_u32(d, max_d));
}

/* whether a table pair needs its second table */
static inline int kiln_mve_exp_two(const kiln_exp_lut *lut) {
  return lut->hi && lut->max_d >= 256;
}

static inline uint32x4_t kiln_mve_exp4(uint32x4_t d, const kiln_exp_lut *lut, mve_pred16_t p) {
  return kiln_mve_exp_two(lut) ? kiln_mve_exp4_tables(d, lut->lo, lut->hi, (uint32_t)lut->max_d, 1, p)
                               : kiln_mve_exp4_tables(d, lut->lo, lut->hi, (uint32_t)lut->max_d, 0, p);
}

/* kiln_to_grid of four values */
static inline int32x4_t kiln_mve_to_grid4(int32x4_t v, const kiln_grid *g) {
  v = vaddq_n_s32(v, g->zero_point);
  return vminq_s32(vmaxq_s32(v, vdupq_n_s32(g->qmin)), vdupq_n_s32(g->qmax));
}

/* stored as int16: all four, or the lanes of p */
static inline void kiln_mve_store_grid4(int16_t *y, int32x4_t v, const kiln_grid *g) {
  vstrhq_s32(y, kiln_mve_to_grid4(v, g));
}

static inline void kiln_mve_store_grid4_p(int16_t *y, int32x4_t v, const kiln_grid *g, mve_pred16_t p) {
  vstrhq_p_s32(y, kiln_mve_to_grid4(v, g), p);
}

#endif
