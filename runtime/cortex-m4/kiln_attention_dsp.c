/*
 * Attention rows for Armv7E-M with the DSP extension: the portable
 * kiln_qk_row and kiln_pv_row's integers (kiln_rt.h), bit for bit.
 *
 * q . k: the query minus its zero point as int16 pairs (within int16: the
 * generator checks its grid), against the raw key codes two at a time with
 * SMLALD, whose int64 sum is exact; the keys' zero point comes off once a
 * row, zk sum (q - zq).
 * p . v: probabilities on a grid with zero point 0 whose codes sum below
 * 2^16 (the generator checks it), so every sum p v of raw 16-bit value
 * codes stays below 2^31 in int32; eight output columns a pass in
 * registers, each probability times a word of two value codes with
 * SMLABB and SMLABT; the values' zero point comes off as zv sum p.
 */
#include "kiln_rt_dsp.h"

#include <arm_acle.h>
#include <stddef.h>

#define INLINE static inline __attribute__((always_inline))

static inline uint32_t load32(const void *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

static void qk_segment(int16_t *logits, const uint32_t *qd, const int16_t *k, int32_t len, int32_t d, int64_t bias,
                       kiln_rq rq, const kiln_grid *g) {
  for (int32_t t = 0; t < len; t++) {
    const int16_t *kt = k + (size_t)t * d;
    int64_t acc = 0;
    for (int32_t j = 0; j < d / 2; j++) acc = __smlald(qd[j], load32(kt + 2 * j), acc);
    logits[t] = kiln_requant_to_grid(acc - bias, rq, g);
  }
}

void kiln_qk_row_dsp(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  uint32_t qd[KILN_DSP_MAX_HEAD_DIM / 2];
  int32_t q_sum = 0;
  for (int32_t e = 0; e < d; e += 2) {
    const int32_t lo = q[e] - q_zp, hi = q[e + 1] - q_zp;
    qd[e / 2] = (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
    q_sum += lo + hi;
  }
  const int64_t bias = (int64_t)k->zero_point * q_sum;
  qk_segment(logits, qd, k->past, k->n_past, d, bias, rq, g);
  qk_segment(logits + k->n_past, qd, k->fresh, k->n_fresh, d, bias, rq, g);
}

#define PV_COLUMNS 8

/* acc[j] += sum_t p[t] v[t][e0 + j], j < PV_COLUMNS, over one segment. */
INLINE void pv_columns(int32_t acc[PV_COLUMNS], const int16_t *p, const int16_t *v, int32_t len, int32_t d) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
  for (int32_t t = 0; t < len; t++) {
    const int16_t *vt = v + (size_t)t * d;
    const int32_t pt = p[t];
    const uint32_t v01 = load32(vt), v23 = load32(vt + 2), v45 = load32(vt + 4), v67 = load32(vt + 6);
    a0 = __smlabb(pt, v01, a0);
    a1 = __smlabt(pt, v01, a1);
    a2 = __smlabb(pt, v23, a2);
    a3 = __smlabt(pt, v23, a3);
    a4 = __smlabb(pt, v45, a4);
    a5 = __smlabt(pt, v45, a5);
    a6 = __smlabb(pt, v67, a6);
    a7 = __smlabt(pt, v67, a7);
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

void kiln_pv_row_dsp(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  (void)p_zp; /* 0: the generator's condition */
  const int32_t n = v->n_past + v->n_fresh;
  int32_t p_sum = 0;
  for (int32_t t = 0; t < n; t++) p_sum += p[t];
  const int64_t bias = (int64_t)v->zero_point * p_sum;
  for (int32_t e = 0; e < d; e += PV_COLUMNS) {
    int32_t acc[PV_COLUMNS] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    pv_columns(acc, p, v->past + e, v->n_past, d);
    pv_columns(acc, p + v->n_past, v->fresh + e, v->n_fresh, d);
    for (int32_t j = 0; j < PV_COLUMNS; j++) out[e + j] = kiln_requant_to_grid(acc[j] - bias, rq, g);
  }
}
