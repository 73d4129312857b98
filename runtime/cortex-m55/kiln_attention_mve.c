/*
 * Attention rows for Armv8.1-M with Helium: q . k and p . v for one query
 * row, the portable kiln_qk_row and kiln_pv_row's integers (kiln_rt.h).
 *
 *   q . k: sum (q - zq)(k - zk) = sum (q - zq) k - zk sum (q - zq), the
 *     first sum by VMLALDAVA (int16 lanes multiplied, all eight products
 *     added to a 64-bit scalar: exact for any codes), eight values a step;
 *     four keys' logits requantized together where their sums fit int32.
 *   p . v: sum_t (p - zp)(v - zv) = sum_t (p - zp) v - zv sum_t (p - zp)
 *     with each value row's eight codes widened into two int32x4 and
 *     VMLA'd by the row's probability. The generator uses this kernel only
 *     where sum_t |p - zp| < 2^16 (kernels.attention): every partial sum is
 *     below 2^16 * 2^15 = 2^31, so int32 lanes are exact in any order.
 *
 * Preconditions (checked by the generator): codes within int16 of their
 * zero points.
 */
#include "kiln_rt_mve.h"
#include "kiln_mve_scale.h"

#include <arm_mve.h>
#include <stddef.h>

#define LANES 8 /* int16 lanes in a vector */

/* sum (q - zq) k over d values, and the correction, for one key */
static inline __attribute__((always_inline)) int64_t qk_dot(const int16_t *q, int16_t q_zp, const int16_t *k,
                                                            int32_t d) {
  int64_t acc = 0;
  int32_t e = 0;
  for (; e + LANES <= d; e += LANES) acc = vmlaldavaq_s16(acc, vsubq_n_s16(vldrhq_s16(q + e), q_zp), vldrhq_s16(k + e));
  if (e < d) {
    const mve_pred16_t p = vctp16q((uint32_t)(d - e));
    acc = vmlaldavaq_p_s16(acc, vsubq_n_s16(vldrhq_z_s16(q + e, p), q_zp), vldrhq_z_s16(k + e, p), p);
  }
  return acc;
}

static inline int fits_int32(int64_t v) {
  return v > INT32_MIN && v <= INT32_MAX;
}

/* The logits of four keys' sums a0..a3 (already less the bias): in vector
 * lanes where all fit int32, else one by one. */
static inline void logits4(int16_t *logits, int64_t a0, int64_t a1, int64_t a2, int64_t a3, kiln_rq rq,
                           const kiln_mve_rq *u, const kiln_grid *g) {
  if (fits_int32(a0) && fits_int32(a1) && fits_int32(a2) && fits_int32(a3)) {
    int32x4_t v = vdupq_n_s32((int32_t)a0);
    v = vsetq_lane_s32((int32_t)a1, v, 1);
    v = vsetq_lane_s32((int32_t)a2, v, 2);
    v = vsetq_lane_s32((int32_t)a3, v, 3);
    kiln_mve_store_grid4(logits, kiln_mve_scale_uniform(v, u), g);
  } else {
    logits[0] = kiln_mve_requant(a0, rq, g);
    logits[1] = kiln_mve_requant(a1, rq, g);
    logits[2] = kiln_mve_requant(a2, rq, g);
    logits[3] = kiln_mve_requant(a3, rq, g);
  }
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* One key's sum less the bias for heads of at most eight values: one load
 * (all eight lanes where d = 8; else the lanes past d zero) and one
 * VMLALDAVA starting from -bias, exact in 64 bits. Its low word is
 * returned; *wide collects hi + (lo >> 31), zero exactly where the sum
 * fits int32 (hi the sign of lo). */
ALWAYS_INLINE int32_t key_sum8(int16x8_t qd, const int16_t *kt, mve_pred16_t p, int64_t minus_bias, int full,
                               uint32_t *wide) {
  const int64_t acc = vmlaldavaq_s16(minus_bias, qd, full ? vldrhq_s16(kt) : vldrhq_z_s16(kt, p));
  const uint32_t lo = (uint32_t)acc;
  *wide |= (uint32_t)(acc >> 32) + (lo >> 31);
  return (int32_t)lo;
}

/* logits of one kv segment for heads of at most eight values (q - zq in one
 * register), four keys a step requantized in lanes where their sums fit
 * int32 (a magnitude up to 2^31: kiln_mve_quot_high and _low take any below
 * 2^32), one by one where not; the multiplier's kind (high) and whether
 * d = 8 (full) constants where it is inlined. */
ALWAYS_INLINE void qk_segment8(int16_t *logits, int16x8_t qd, mve_pred16_t p, const int16_t *k, int32_t len,
                               int64_t bias, int32_t d, kiln_rq rq, const kiln_mve_rq *u, const kiln_grid *g,
                               int full, int high) {
  const kiln_mve_shift ks = u->k;
  const int32x4_t lo = vdupq_n_s32(g->qmin), hi = vdupq_n_s32(g->qmax);
  const int32_t zg = g->zero_point;
  int32_t t = 0;
  for (const int16_t *kt = k; t < len; t += 4, kt += 4 * (size_t)d) {
    const int32_t left = len - t;
    uint32_t wide = 0;
    int32x4_t v = vdupq_n_s32(key_sum8(qd, kt, p, -bias, full, &wide));
    if (left > 1) v = vsetq_lane_s32(key_sum8(qd, kt + d, p, -bias, full, &wide), v, 1);
    if (left > 2) v = vsetq_lane_s32(key_sum8(qd, kt + 2 * d, p, -bias, full, &wide), v, 2);
    if (left > 3) v = vsetq_lane_s32(key_sum8(qd, kt + 3 * d, p, -bias, full, &wide), v, 3);
    if (wide) {
      const int32_t m = left < 4 ? left : 4;
      for (int32_t j = 0; j < m; j++)
        logits[t + j] = kiln_mve_requant(vmlaldavq_s16(qd, vldrhq_z_s16(kt + j * d, p)) - bias, rq, g);
      continue;
    }
    const uint32x4_t a = kiln_mve_magnitude(v);
    const uint32x4_t q = high ? kiln_mve_quot_high(a, &ks) : kiln_mve_quot_low(a, &ks, KILN_MVE_CAP);
    const int32x4_t r = vminq_s32(vmaxq_s32(vaddq_n_s32(kiln_mve_signed(q, v), zg), lo), hi);
    if (left >= 4)
      vstrhq_s32(logits + t, r);
    else
      vstrhq_p_s32(logits + t, r, vctp32q((uint32_t)left));
  }
}

static void qk_segment8_any(int16_t *logits, int16x8_t qd, mve_pred16_t p, const int16_t *k, int32_t len, int64_t bias,
                            int32_t d, kiln_rq rq, const kiln_mve_rq *u, const kiln_grid *g) {
  if (d == LANES) {
    if (u->high)
      qk_segment8(logits, qd, p, k, len, bias, d, rq, u, g, 1, 1);
    else
      qk_segment8(logits, qd, p, k, len, bias, d, rq, u, g, 1, 0);
  } else if (u->high) {
    qk_segment8(logits, qd, p, k, len, bias, d, rq, u, g, 0, 1);
  } else {
    qk_segment8(logits, qd, p, k, len, bias, d, rq, u, g, 0, 0);
  }
}

/* logits of one kv segment, four keys at a time (u: the row's multiplier in
 * lanes, NULL where its shift needs kiln_scale). */
static void qk_segment(int16_t *logits, const int16_t *q, int16_t q_zp, const int16_t *k, int32_t len, int64_t bias,
                       int32_t d, kiln_rq rq, const kiln_mve_rq *u, const kiln_grid *g_in) {
  const kiln_grid grid = *g_in, *g = &grid; /* a copy no store through logits can change */
  int32_t t = 0;
  if (u && d <= LANES) {
    const mve_pred16_t p = vctp16q((uint32_t)d);
    qk_segment8_any(logits, vsubq_n_s16(vldrhq_z_s16(q, p), q_zp), p, k, len, bias, d, rq, u, g);
    return;
  }
  for (; u && t + 4 <= len; t += 4) {
    const int16_t *kt = k + (size_t)t * d;
    logits4(logits + t, qk_dot(q, q_zp, kt, d) - bias, qk_dot(q, q_zp, kt + d, d) - bias,
            qk_dot(q, q_zp, kt + 2 * d, d) - bias, qk_dot(q, q_zp, kt + 3 * d, d) - bias, rq, u, g);
  }
  for (; t < len; t++) logits[t] = kiln_mve_requant(qk_dot(q, q_zp, k + (size_t)t * d, d) - bias, rq, g);
}

void kiln_qk_row_mve(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  const int64_t q_sum = kiln_mve_sum_diffs(q, d, q_zp);
  const int64_t bias = (int64_t)k->zero_point * q_sum;
  kiln_mve_rq u;
  const kiln_mve_rq *lanes = kiln_mve_uniform(rq, &u) ? &u : NULL;
  qk_segment(logits, q, (int16_t)q_zp, k->past, k->n_past, bias, d, rq, lanes, g);
  qk_segment(logits + k->n_past, q, (int16_t)q_zp, k->fresh, k->n_fresh, bias, d, rq, lanes, g);
}

/* acc += sum_t (p[t] - zp) v[t][e0 .. e0 + 8) over one segment's len rows;
 * lanes past width (< 8) are not loaded; a full width (a constant where it
 * is inlined) loads without predicates. */
ALWAYS_INLINE void pv_chunk_as(int32x4_t acc[2], const int16_t *p, int32_t p_zp, const int16_t *v, int32_t len,
                               int32_t d, int32_t e0, int32_t width, int full) {
  const mve_pred16_t lo = vctp32q((uint32_t)width), hi = vctp32q((uint32_t)(width > 4 ? width - 4 : 0));
  int32x4_t a0 = acc[0], a1 = acc[1];
  const int16_t *vt = v + e0;
  for (int32_t t = 0; t < len; t++, vt += d) {
    const int32_t pd = p[t] - p_zp;
    a0 = vmlaq_n_s32(a0, full ? vldrhq_s32(vt) : vldrhq_z_s32(vt, lo), pd);
    a1 = vmlaq_n_s32(a1, full ? vldrhq_s32(vt + 4) : vldrhq_z_s32(vt + 4, hi), pd);
  }
  acc[0] = a0;
  acc[1] = a1;
}

static void pv_chunk(int32x4_t acc[2], const int16_t *p, int32_t p_zp, const int16_t *v, int32_t len, int32_t d,
                     int32_t e0, int32_t width) {
  if (width == LANES)
    pv_chunk_as(acc, p, p_zp, v, len, d, e0, width, 1);
  else
    pv_chunk_as(acc, p, p_zp, v, len, d, e0, width, 0);
}

/* Four sums less the bias, requantized in lanes where the bias fits int32
 * and no difference wraps (the saturating one equal to the wrapping one);
 * returns 0 where not, having written nothing. */
static inline int pv_out4(int16_t *out, int32x4_t sums, int64_t bias, const kiln_mve_rq *u, const kiln_grid *g,
                          mve_pred16_t p) {
  if (bias != (int32_t)bias) return 0;
  const int32x4_t acc = vsubq_n_s32(sums, (int32_t)bias);
  if (vmaxvq_u32(0, vreinterpretq_u32_s32(veorq_s32(acc, vqsubq_n_s32(sums, (int32_t)bias)))) != 0) return 0;
  kiln_mve_store_grid4_p(out, kiln_mve_scale_uniform(acc, u), g, p);
  return 1;
}

void kiln_pv_row_mve(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  const int64_t p_sum = kiln_mve_sum_diffs(p, v->n_past + v->n_fresh, p_zp);
  const int64_t bias = (int64_t)v->zero_point * p_sum;
  kiln_mve_rq u;
  const kiln_mve_rq *lanes = kiln_mve_uniform(rq, &u) ? &u : NULL;
  for (int32_t e0 = 0; e0 < d; e0 += LANES) {
    const int32_t width = d - e0 < LANES ? d - e0 : LANES;
    int32x4_t acc[2] = { vdupq_n_s32(0), vdupq_n_s32(0) };
    pv_chunk(acc, p, p_zp, v->past, v->n_past, d, e0, width);
    pv_chunk(acc, p + v->n_past, p_zp, v->fresh, v->n_fresh, d, e0, width);
    if (lanes && pv_out4(out + e0, acc[0], bias, lanes, g, vctp32q((uint32_t)width))
        && (width <= 4 || pv_out4(out + e0 + 4, acc[1], bias, lanes, g, vctp32q((uint32_t)(width - 4)))))
      continue;
    int32_t sums[LANES];
    vst1q_s32(sums, acc[0]);
    vst1q_s32(sums + 4, acc[1]);
    for (int32_t j = 0; j < width; j++) out[e0 + j] = kiln_mve_requant(sums[j] - bias, rq, g);
  }
}

#define SOFTMAX_KEPT 256 /* a multiple of 4 */

/* mx - x for four lanes (those of p) */
static inline uint32x4_t distances(const int16_t *x, int16_t mx, mve_pred16_t p) {
  return vreinterpretq_u32_s32(vsubq_s32(vdupq_n_s32(mx), vldrhq_z_s32(x, p)));
}

/* The second pass: each probability from its exp value (kept, or NULL:
 * computed again), requantized; the multiplier's kind a constant where it
 * is inlined. */
static inline __attribute__((always_inline)) void softmax_probs(int16_t *p, const int16_t *x, int32_t n, int16_t mx,
                                                                const uint32_t *kept, uint32x4_t inv,
                                                                const kiln_exp_lut *lut, const kiln_mve_rq *u,
                                                                const kiln_grid *g, int high) {
  const kiln_mve_shift k = u->k;
  const int32x4_t lo = vdupq_n_s32(g->qmin), hi = vdupq_n_s32(g->qmax);
  const int32_t zg = g->zero_point;
  for (int32_t i = 0; i < n; i += 4) {
    const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
    const uint32x4_t e = kept ? vldrwq_u32(kept + i) : kiln_mve_exp4(distances(x + i, mx, pr), lut, pr);
    const uint32x4_t prob = kiln_mve_exp_product(e, inv);
    const uint32x4_t q = high ? kiln_mve_quot_high(prob, &k) : kiln_mve_quot_low(prob, &k, KILN_MVE_CAP);
    const int32x4_t v = vaddq_n_s32(vreinterpretq_s32_u32(q), zg);
    vstrhq_p_s32(p + i, vminq_s32(vmaxq_s32(v, lo), hi), pr);
  }
}

/* The first pass: the sum of the exp values, kept (where kept is not NULL)
 * for the second; two (kiln_mve_exp4_tables) a constant where inlined. */
ALWAYS_INLINE uint64_t softmax_sum(const int16_t *x, int32_t n, int16_t mx, uint32_t *kept, const kiln_exp_lut *lut,
                                   int two) {
  const uint32_t *lo = lut->lo, *hi = lut->hi, max_d = (uint32_t)lut->max_d;
  uint64_t sum = 0;
  for (int32_t i = 0; i < n; i += 4) {
    const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
    const uint32x4_t e = kiln_mve_exp4_tables(distances(x + i, mx, pr), lo, hi, max_d, two, pr);
    if (kept) vstrwq_u32(kept + i, e); /* all four lanes: i + 4 <= SOFTMAX_KEPT, a multiple of 4 */
    sum = vaddlvaq_u32(sum, e);
  }
  return sum;
}

void kiln_softmax_row_mve(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut_in, kiln_rq rq,
                          const kiln_grid *g_in) {
  const kiln_grid grid = *g_in, *g = &grid; /* copies no store through p can change */
  const kiln_exp_lut table = *lut_in, *lut = &table;
  kiln_mve_rq u;
  if (!kiln_mve_uniform(rq, &u)) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  int16_t mx = x[0];
  for (int32_t i = 0; i < n; i += LANES) {
    const mve_pred16_t pr = vctp16q((uint32_t)(n - i));
    mx = vmaxvq_p_s16(mx, vldrhq_z_s16(x + i, pr), pr);
  }
  /* the exp values of a row of up to SOFTMAX_KEPT keys are kept for the
   * second pass (1 KB of stack); a longer row computes them again */
  uint32_t kept[SOFTMAX_KEPT];
  const int keep = n <= SOFTMAX_KEPT;
  const uint64_t sum = kiln_mve_exp_two(lut) ? softmax_sum(x, n, mx, keep ? kept : NULL, lut, 1)
                                             : softmax_sum(x, n, mx, keep ? kept : NULL, lut, 0);
  /* prob = round_half_even(e * inv / 2^31), kiln_softmax_prob in lanes
   * (kiln_mve_exp_product: e <= 2^31, inv < 2^31) */
  const uint32x4_t inv = vdupq_n_u32((uint32_t)kiln_softmax_reciprocal(sum));
  if (u.high)
    softmax_probs(p, x, n, mx, keep ? kept : NULL, inv, lut, &u, g, 1);
  else
    softmax_probs(p, x, n, mx, keep ? kept : NULL, inv, lut, &u, g, 0);
}
