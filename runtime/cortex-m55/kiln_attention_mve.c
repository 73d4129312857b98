/*
 * Attention rows for Armv8.1-M with Helium: q . k and p . v for one query
 * row, the portable kiln_qk_row and kiln_pv_row's integers (kiln_rt.h).
 *
 *   q . k: sum (q - zq)(k - zk) = sum (q - zq) k - zk sum (q - zq), the
 *     first sum by VMLALDAVA (int16 lanes multiplied, all eight products
 *     added to a 64-bit scalar: exact for any codes), eight values a step.
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
static int64_t qk_dot(const int16_t *q, int16_t q_zp, const int16_t *k, int32_t d) {
  int64_t acc = 0;
  int32_t e = 0;
  for (; e + LANES <= d; e += LANES) acc = vmlaldavaq_s16(acc, vsubq_n_s16(vldrhq_s16(q + e), q_zp), vldrhq_s16(k + e));
  if (e < d) {
    const mve_pred16_t p = vctp16q((uint32_t)(d - e));
    acc = vmlaldavaq_p_s16(acc, vsubq_n_s16(vldrhq_z_s16(q + e, p), q_zp), vldrhq_z_s16(k + e, p), p);
  }
  return acc;
}

static void qk_segment(int16_t *logits, const int16_t *q, int16_t q_zp, const int16_t *k, int32_t len, int64_t bias,
                       int32_t d, kiln_rq rq, const kiln_grid *g) {
  for (int32_t t = 0; t < len; t++) logits[t] = kiln_mve_requant(qk_dot(q, q_zp, k + (size_t)t * d, d) - bias, rq, g);
}

void kiln_qk_row_mve(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  int64_t q_sum = 0;
  for (int32_t e = 0; e < d; e++) q_sum += q[e] - q_zp;
  const int64_t bias = (int64_t)k->zero_point * q_sum;
  qk_segment(logits, q, (int16_t)q_zp, k->past, k->n_past, bias, d, rq, g);
  qk_segment(logits + k->n_past, q, (int16_t)q_zp, k->fresh, k->n_fresh, bias, d, rq, g);
}

/* acc += sum_t (p[t] - zp) v[t][e0 .. e0 + 8) over one segment's len rows;
 * lanes past width (< 8) are not loaded. */
static void pv_chunk(int32x4_t acc[2], const int16_t *p, int32_t p_zp, const int16_t *v, int32_t len, int32_t d,
                     int32_t e0, int32_t width) {
  const mve_pred16_t lo = vctp32q((uint32_t)width), hi = vctp32q((uint32_t)(width > 4 ? width - 4 : 0));
  int32x4_t a0 = acc[0], a1 = acc[1];
  for (int32_t t = 0; t < len; t++) {
    const int16_t *vt = v + (size_t)t * d + e0;
    const int32_t pd = p[t] - p_zp;
    a0 = vmlaq_n_s32(a0, vldrhq_z_s32(vt, lo), pd);
    a1 = vmlaq_n_s32(a1, vldrhq_z_s32(vt + 4, hi), pd);
  }
  acc[0] = a0;
  acc[1] = a1;
}

void kiln_pv_row_mve(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  int64_t p_sum = 0;
  for (int32_t t = 0; t < v->n_past + v->n_fresh; t++) p_sum += p[t] - p_zp;
  const int64_t bias = (int64_t)v->zero_point * p_sum;
  for (int32_t e0 = 0; e0 < d; e0 += LANES) {
    const int32_t width = d - e0 < LANES ? d - e0 : LANES;
    int32x4_t acc[2] = { vdupq_n_s32(0), vdupq_n_s32(0) };
    pv_chunk(acc, p, p_zp, v->past, v->n_past, d, e0, width);
    pv_chunk(acc, p + v->n_past, p_zp, v->fresh, v->n_fresh, d, e0, width);
    int32_t sums[LANES];
    vst1q_s32(sums, acc[0]);
    vst1q_s32(sums + 4, acc[1]);
    for (int32_t j = 0; j < width; j++) out[e0 + j] = kiln_mve_requant(sums[j] - bias, rq, g);
  }
}
