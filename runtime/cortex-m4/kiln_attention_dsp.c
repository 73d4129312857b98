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
#include "kiln_dsp_exp.h"

#include <arm_acle.h>
#include <stddef.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))
#define HOT KILN_DSP_HOT
#define load32 kiln_dsp_load32

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

/* A requantization prepared for signed accumulators a, |a| <= max_abs,
 * max_abs 2^pre < 2^31: the product p = (a << pre) mult by SMULL, with S =
 * shift + pre = 32 + t, t in [1, 30]. round_half_even(p / 2^S) is
 * floor((p + 2^(S-1) - 1 + odd) / 2^S) for a signed p too (odd: the low bit
 * of floor(p / 2^S), bit t of hi), which on the words hi:lo is
 * (hi + 2^(t-1) - 1 + carry) >> t, arithmetic, with carry = (lo or odd) != 0:
 * lo - 1 + odd stays in [0, 2^32) unless both are 0. Half to even is
 * symmetric, so this is portable's -round(|p|) for p < 0: no sign juggling.
 * The zero point rides in the addend as zp 2^t (a multiple of 2^t: the floor
 * is the same plus zp); the preparation keeps it below 2^30 in magnitude,
 * and |hi| <= 2^30, so the sum stays within int32. The result is then held
 * in [qmin, qmax].
 * No ties: a tie is p = (2j + 1) 2^(S-1), whose 2-adic valuation S - 1 =
 * 31 + t is v(a << pre) + v(mult) <= 31 + v(mult). The preparation raises
 * pre (where |a| leaves room) until t > v(mult): then no product is a tie,
 * round-half-even is round-half-up, floor((p + 2^(S-1)) / 2^S), and that is
 * (hi + 2^(t-1)) >> t, lo dropped (it is below one unit of hi, and
 * hi + 2^(t-1) is an integer): three instructions for the rounding. */
typedef struct {
  int32_t mult, pre, t;
  int32_t add; /* 2^(t-1) - 1 + zero_point 2^t; 2^(t-1) + zero_point 2^t without ties */
  int32_t qmin;
  uint32_t range; /* qmax - qmin */
  int ties;       /* 0: no product is a tie */
} row_rq;

/* 0 when rq does not fit the scheme for |a| <= max_abs (the row then takes
 * the kernels one by one). */
static int row_rq_prepare(row_rq *p, kiln_rq rq, int32_t zero_point, int32_t qmin, int32_t qmax, uint32_t max_abs) {
  if (rq.shift < 1 || rq.shift > 63 || rq.mult < 0 || qmin > qmax || zero_point < INT16_MIN
      || zero_point > INT16_MAX)
    return 0;
  int32_t pre = rq.shift < 33 ? 33 - rq.shift : 0;
  /* a << pre within int32 for |a| <= max_abs (and for a = -2^31 when
   * max_abs = 2^31 - 1, pre = 0: the logits' case) */
  if (pre > 30 || max_abs > (uint32_t)INT32_MAX >> pre) return 0;
  /* the smallest pre with t > v(mult), if |a| leaves room for it */
  const int32_t v2 = rq.mult == 0 ? 0 : __builtin_ctz((uint32_t)rq.mult);
  const int32_t pre_untied = v2 + 33 - rq.shift;
  p->ties = 1;
  if (pre_untied <= pre) {
    p->ties = 0;
  } else if (pre_untied <= 30 && v2 < 30 && max_abs <= (uint32_t)INT32_MAX >> pre_untied) {
    p->ties = 0;
    pre = pre_untied;
  }
  const int32_t t = rq.shift + pre - 32;
  /* |a << pre| <= 2^31 and mult < 2^31: |hi| <= 2^30. The addend: 2^(t-1)
   * <= 2^29 and |zp| 2^t <= 2^28, below 2^30 - 1 together. */
  const uint32_t zp_abs = (uint32_t)(zero_point < 0 ? -zero_point : zero_point);
  if (t > 30 || zp_abs > ((uint32_t)1 << 28) >> t) return 0;
  p->mult = rq.mult;
  p->pre = pre;
  p->t = t;
  p->add = (int32_t)(((uint32_t)1 << (t - 1)) - (uint32_t)p->ties) + zero_point * ((int32_t)1 << t);
  p->qmin = qmin;
  p->range = (uint32_t)(qmax - qmin);
  return 1;
}

/* v held in [qmin, qmax]: v - qmin within the range nearly always; else
 * the nearer bound */
INLINE int32_t row_clamp(int32_t v, const row_rq *p) {
  const uint32_t u = (uint32_t)v - (uint32_t)p->qmin;
  if (__builtin_expect(u > p->range, 0)) return v < p->qmin ? p->qmin : p->qmin + (int32_t)p->range;
  return v;
}

/* row_requant's steps after the shift (b = a << pre); ties: p->ties, a
 * constant where the caller has one loop for each */
INLINE int32_t row_requant_shifted(int32_t b, const row_rq *p, int ties) {
  const int64_t prod = (int64_t)b * p->mult; /* SMULL */
  const int32_t hi = (int32_t)(prod >> 32);
  if (!ties) return row_clamp((hi + p->add) >> p->t, p);
  const uint32_t x = (uint32_t)prod | (((uint32_t)hi >> p->t) & 1u);
  /* hi + add + (x != 0): x + 2^32 - 1 carries exactly when x != 0 (ADDS, ADC) */
  const uint64_t sum = ((uint64_t)(uint32_t)(hi + p->add) << 32) + x + 0xFFFFFFFFu;
  return row_clamp((int32_t)(uint32_t)(sum >> 32) >> p->t, p);
}

INLINE int32_t row_requant(int32_t a, const row_rq *p) {
  return row_requant_shifted((int32_t)((uint32_t)a << p->pre), p, p->ties);
}

/* The grids a row's codes land on are int16 (kiln_to_grid's cast keeps them). */
INLINE int grid_int16(const kiln_grid *g) {
  return g->qmin >= INT16_MIN && g->qmax <= INT16_MAX && g->qmin <= g->qmax && g->zero_point >= INT16_MIN
         && g->zero_point <= INT16_MAX;
}

#define PV_COLUMNS 8

/* acc[j] += sum_t p[t] v[t][e0 + j], j < PV_COLUMNS, over one segment of
 * rows of stride d: a leaf of its own, so that the eight sums stay in
 * registers; a zero probability (most keys of a peaked row) is a branch
 * instead of eight products. */
INLINE void pv_segment(int32_t acc[PV_COLUMNS], const int16_t *p, const int16_t *v, int32_t len, int32_t d) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
  for (int32_t t = len; t > 0; t--, v += d) {
    const int32_t pt = *p++;
    if (pt == 0) continue;
    uint32_t w = load32(v);
    a0 = __smlabb(pt, w, a0);
    a1 = __smlabt(pt, w, a1);
    w = load32(v + 2);
    a2 = __smlabb(pt, w, a2);
    a3 = __smlabt(pt, w, a3);
    w = load32(v + 4);
    a4 = __smlabb(pt, w, a4);
    a5 = __smlabt(pt, w, a5);
    w = load32(v + 6);
    a6 = __smlabb(pt, w, a6);
    a7 = __smlabt(pt, w, a7);
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

/* Both segments of a view (the probabilities of the past rows first) in
 * one call, the sums in registers across them; head_dim 8 has its stride a
 * constant, a register free for the loop. */
static HOT __attribute__((noinline)) void pv_columns8(int32_t acc[PV_COLUMNS], const int16_t *p, const kiln_kv_view *v) {
  pv_segment(acc, p, v->past, v->n_past, 8);
  pv_segment(acc, p + v->n_past, v->fresh, v->n_fresh, 8);
}

static __attribute__((noinline)) void pv_columns(int32_t acc[PV_COLUMNS], const int16_t *p, const kiln_kv_view *v,
                                                int32_t e0, int32_t d) {
  pv_segment(acc, p, v->past + e0, v->n_past, d);
  pv_segment(acc, p + v->n_past, v->fresh + e0, v->n_fresh, d);
}

/* out[j] for PV_COLUMNS sums less the bias, prepared (ties: a constant) */
INLINE void pv_store(int16_t *out, const int32_t acc[PV_COLUMNS], int32_t bias, const row_rq *r, int ties) {
  for (int32_t j = 0; j < PV_COLUMNS; j++)
    out[j] = (int16_t)row_requant_shifted((int32_t)((uint32_t)(acc[j] - bias) << r->pre), r, ties);
}

/* kiln_pv_row_dsp for probabilities whose codes sum to p_sum, their
 * magnitudes to p_abs. The sums less the bias, |sum p v - zv p_sum| <=
 * p_abs (2^15 + |zv|), take the
 * prepared requantization where that bound allows. */
static void pv_row_sum(int16_t *out, const int16_t *p, int32_t p_sum, int32_t p_abs, const kiln_kv_view *v, int32_t d,
                       kiln_rq rq, const kiln_grid *g) {
  const int32_t zv = v->zero_point;
  const int64_t bias = (int64_t)zv * p_sum;
  /* p_abs < 2^16 (the callers' condition) and |zv| < 2^15: the bound fits 32 bits */
  const uint32_t zv_abs = (uint32_t)(zv < 0 ? -zv : zv);
  const uint32_t bound = zv_abs < 32768 && p_abs < 65536 ? (uint32_t)p_abs * (32768u + zv_abs) : UINT32_MAX;
  row_rq r;
  const int prepared = bound <= INT32_MAX && grid_int16(g)
                       && row_rq_prepare(&r, rq, g->zero_point, g->qmin, g->qmax, bound);
  for (int32_t e = 0; e < d; e += PV_COLUMNS) {
    int32_t acc[PV_COLUMNS] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    if (d == 8)
      pv_columns8(acc, p, v);
    else
      pv_columns(acc, p, v, e, d);
    if (prepared && !r.ties) {
      pv_store(out + e, acc, (int32_t)bias, &r, 0);
    } else if (prepared) {
      pv_store(out + e, acc, (int32_t)bias, &r, 1);
    } else {
      for (int32_t j = 0; j < PV_COLUMNS; j++) out[e + j] = kiln_requant_to_grid(acc[j] - bias, rq, g);
    }
  }
}

void kiln_pv_row_dsp(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                     const kiln_grid *g) {
  (void)p_zp; /* 0: the generator's condition */
  const int32_t n = v->n_past + v->n_fresh;
  int32_t p_sum = 0, p_abs = 0;
  for (int32_t t = 0; t < n; t++) {
    p_sum += p[t];
    p_abs += p[t] < 0 ? -p[t] : p[t];
  }
  pv_row_sum(out, p, p_sum, p_abs, v, d, rq, g);
}

/* ---- a whole row ------------------------------------------------------------
 *
 * kiln_qk_row, the mask's kiln_requant, kiln_softmax_row and kiln_pv_row in
 * one call, four passes over the keys: the logits (and the largest), the
 * scores straight into exp values kept in scratch (and their sum), the
 * probabilities, p . v. Each requantization is prepared once a row
 * (row_rq below); rows whose constants or codes leave the prepared bounds
 * take the kernels one by one. */

typedef struct {
  row_rq logits; /* to the logits' grid */
  row_rq scores;
  int32_t bias32; /* zk sum (q - zq), when the dot products stay in int32 */
  int64_t bias;
  kiln_rq qk; /* for a dot product outside int32 */
  kiln_grid logits_grid;
} row_scores;

/* A logit whose dot product left int32. */
static __attribute__((noinline)) int32_t wide_logit(int64_t acc, const row_scores *r) {
  return kiln_requant_to_grid(acc, r->qk, &r->logits_grid);
}

/* logits[t] for one segment of len keys, and the largest logit so far.
 * narrow: every partial sum of the dot products (and the bias) is known to
 * stay within int32, so SMLAD's 32-bit sums are exact; else SMLALD's int64
 * and a check a key. The logits' scheme has pre = 0: any int32 sum takes it. */
INLINE int32_t logits_segment(int16_t *logits, const uint32_t *qd, const int16_t *k, int32_t len, int32_t d,
                              const row_scores *r, int narrow, int32_t top) {
  for (int32_t t = 0; t < len; t++) {
    const int16_t *kt = k + (size_t)t * d;
    int32_t logit;
    if (narrow) {
      int32_t acc = -r->bias32;
      for (int32_t j = 0; j < d / 2; j += 4) { /* d: a multiple of 8 */
        acc = __smlad(qd[j], load32(kt + 2 * j), acc);
        acc = __smlad(qd[j + 1], load32(kt + 2 * j + 2), acc);
        acc = __smlad(qd[j + 2], load32(kt + 2 * j + 4), acc);
        acc = __smlad(qd[j + 3], load32(kt + 2 * j + 6), acc);
      }
      logit = row_requant(acc, &r->logits);
    } else {
      int64_t acc = -r->bias;
      for (int32_t j = 0; j < d / 2; j += 4) {
        acc = __smlald(qd[j], load32(kt + 2 * j), acc);
        acc = __smlald(qd[j + 1], load32(kt + 2 * j + 2), acc);
        acc = __smlald(qd[j + 2], load32(kt + 2 * j + 4), acc);
        acc = __smlald(qd[j + 3], load32(kt + 2 * j + 6), acc);
      }
      logit = acc == (int32_t)acc ? row_requant((int32_t)acc, &r->logits) : wide_logit(acc, r);
    }
    logits[t] = (int16_t)logit;
    if (logit > top) top = logit;
  }
  return top;
}

/* head_dim 8 with int32 sums, the most common row: the query's four words
 * and the constants copied into locals, which gcc keeps in registers; one
 * loop for each rounding. */
INLINE int32_t logits_d8(int16_t *logits, const uint32_t *qd, const int16_t *k, int32_t len, const row_scores *r,
                         int32_t top, int ties) {
  const uint32_t q0 = qd[0], q1 = qd[1], q2 = qd[2], q3 = qd[3];
  const int32_t start = -r->bias32;
  const row_rq rq = r->logits;
  for (int32_t t = 0; t < len; t++, k += 8) {
    int32_t acc = __smlad(q0, load32(k), start);
    acc = __smlad(q1, load32(k + 2), acc);
    acc = __smlad(q2, load32(k + 4), acc);
    acc = __smlad(q3, load32(k + 6), acc);
    const int32_t logit = row_requant_shifted(acc, &rq, ties); /* pre = 0 */
    logits[t] = (int16_t)logit;
    if (logit > top) top = logit;
  }
  return top;
}

/* both segments of the keys (logits of the past keys first), in one call */
static HOT __attribute__((noinline)) int32_t logits_d8_untied(int16_t *logits, const uint32_t *qd,
                                                             const kiln_kv_view *k, const row_scores *r) {
  const int32_t top = logits_d8(logits, qd, k->past, k->n_past, r, INT16_MIN, 0);
  return logits_d8(logits + k->n_past, qd, k->fresh, k->n_fresh, r, top, 0);
}

static HOT __attribute__((noinline)) int32_t logits_d8_narrow(int16_t *logits, const uint32_t *qd,
                                                             const kiln_kv_view *k, const row_scores *r) {
  const int32_t top = logits_d8(logits, qd, k->past, k->n_past, r, INT16_MIN, 1);
  return logits_d8(logits + k->n_past, qd, k->fresh, k->n_fresh, r, top, 1);
}

static int32_t logits_d8_wide(int16_t *logits, const uint32_t *qd, const int16_t *k, int32_t len,
                              const row_scores *r, int32_t top) {
  return logits_segment(logits, qd, k, len, 8, r, 0, top);
}

static int32_t logits_any(int16_t *logits, const uint32_t *qd, const int16_t *k, int32_t len, int32_t d,
                          const row_scores *r, int32_t top) {
  return logits_segment(logits, qd, k, len, d, r, 0, top);
}

/* The mask's requantization of n logits (codes less the zero point zl:
 * within 2^16) into scores, then exp(top - score) kept as words and summed.
 * The requantization never decreases (mult >= 0), so the largest score top
 * is that of the largest logit, known before this pass. */
INLINE uint64_t mask_exp(uint8_t *kept, const int16_t *logits, int32_t n, int32_t zl, int32_t top,
                         const row_rq *r_in, const kiln_exp_lut *lut, int ties) {
  const row_rq r = *r_in; /* copies no store through kept can change */
  const uint32_t *const lo = lut->lo, *const hi = lut->hi;
  const int32_t max_d = lut->max_d;
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) {
    const int32_t a = (int32_t)((uint32_t)(logits[t] - zl) << r.pre);
    const uint32_t e = kiln_dsp_exp_q31(lo, hi, max_d, top - row_requant_shifted(a, &r, ties));
    kiln_dsp_store32(kept + 4 * (size_t)t, e);
    sum += e;
  }
  return sum;
}

/* The same without ties, on the distance itself: with X = hi + add and the
 * score floor(X / 2^t), top - floor(X / 2^t) = floor((c - hi) / 2^t) for
 * c = top 2^t + 2^t - 1 - add (-floor(y) = floor(-y + 1 - 2^-t) for y a
 * multiple of 2^-t). The score's clamp becomes the distance's: below, only
 * where top = qmax (top is the largest clamped score, so a raw score above
 * it is above qmax too), where d < 0 holds at 0; above, a distance past
 * u = min(max_d, top - qmin) gives e_far = exp(top - qmin), which is 0 when
 * that distance is past max_d too. The exp table's own bound is then u. */
typedef struct {
  int32_t mult, pre, t, c, u;
  uint32_t e_far;
} mask_dist;

static HOT __attribute__((noinline)) uint64_t mask_exp_dist(uint8_t *kept, const int16_t *logits, int32_t n,
                                                           int32_t zl, const mask_dist *m_in, const uint32_t *lo,
                                                           const uint32_t *hi) {
  const mask_dist m = *m_in; /* copies no store through kept can change */
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) {
    const int32_t a = (int32_t)((uint32_t)(logits[t] - zl) << m.pre);
    const int32_t h = (int32_t)((int64_t)a * m.mult >> 32); /* SMULL */
    int32_t d = (m.c - h) >> m.t;
    d &= ~(d >> 31); /* d < 0: 0 */
    uint32_t e;
    if (__builtin_expect(d > m.u, 0))
      e = m.e_far;
    else if (d < KILN_DSP_EXP_LO)
      e = lo[d];
    else
      e = kiln_dsp_rhe31((uint64_t)lo[d & (KILN_DSP_EXP_LO - 1)] * hi[d >> 8]);
    kiln_dsp_store32(kept + 4 * (size_t)t, e);
    sum += e;
  }
  return sum;
}

/* mask_exp_dist's constants for the largest score top, where they fit int32
 * (|c| + 2^30 below 2^31: |top| 2^t small); else 0. */
static int mask_dist_prepare(mask_dist *m, const row_rq *r, int32_t top, const kiln_exp_lut *lut) {
  const int64_t c = (int64_t)top * ((int64_t)1 << r->t) + ((int64_t)1 << r->t) - 1 - r->add;
  if (r->ties || c >= ((int64_t)1 << 30) || c <= -((int64_t)1 << 30)) return 0;
  const int32_t far = top - r->qmin; /* the distance of a score held at qmin */
  m->mult = r->mult;
  m->pre = r->pre;
  m->t = r->t;
  m->c = (int32_t)c;
  m->u = lut->max_d < far ? lut->max_d : far;
  m->e_far = kiln_exp_q31(lut, far);
  return 1;
}

static __attribute__((noinline)) uint64_t mask_exp_row(uint8_t *kept, const int16_t *logits, int32_t n, int32_t zl,
                                                     int32_t top, const row_rq *r, const kiln_exp_lut *lut) {
  return r->ties ? mask_exp(kept, logits, n, zl, top, r, lut, 1) : mask_exp(kept, logits, n, zl, top, r, lut, 0);
}

/* q - zq as int16 pairs, its sum and the sum of its magnitudes (below 2^24); 0 when a difference leaves int16. */
static int query_pairs(uint32_t *qd, int32_t *q_sum, int32_t *q_abs, const int16_t *q, int32_t q_zp, int32_t d) {
  int32_t sum = 0, abs_sum = 0;
  for (int32_t e = 0; e < d; e += 2) {
    const int32_t lo = q[e] - q_zp, hi = q[e + 1] - q_zp;
    if (((uint32_t)(lo + 32768) | (uint32_t)(hi + 32768)) >> 16) return 0; /* both within int16 */
    qd[e / 2] = (uint32_t)(uint16_t)lo | ((uint32_t)hi << 16);
    sum += lo + hi;
    abs_sum += (lo < 0 ? -lo : lo) + (hi < 0 ? -hi : hi);
  }
  *q_sum = sum;
  *q_abs = abs_sum;
  return 1;
}

/* The row one kernel at a time: the same integers, any constants. */
static void row_by_kernels(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                           const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch) {
  const int32_t n = k->n_past + k->n_fresh;
  int16_t *const logits = scratch, *const probs = scratch + n;
  kiln_qk_row(logits, q, q_zp, k, d, a->qk, &a->logits);
  kiln_requant(logits, logits, n, a->logits.zero_point, a->mask, &a->scores);
  kiln_softmax_row_dsp(probs, logits, n, a->exp, a->softmax, &a->probs);
  kiln_pv_row(out, probs, a->probs.zero_point, v, d, a->pv, &a->out);
}

void kiln_attention_row_dsp(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                            const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch) {
  const int32_t n = k->n_past + k->n_fresh;
  uint32_t qd[KILN_DSP_MAX_HEAD_DIM / 2];
  int32_t q_sum, q_abs;
  row_scores r;
  const kiln_grid *gl = &a->logits, *gs = &a->scores;
  /* the logits' scheme takes any int32 (pre = 0: shift >= 33); the mask's
   * input, a logit less its zero point, is within 2^16 on int16 grids */
  const uint32_t mask_max = (uint32_t)(gl->qmax - gl->zero_point > gl->zero_point - gl->qmin
                                           ? gl->qmax - gl->zero_point : gl->zero_point - gl->qmin);
  if (n < 1 || d < 2 || d > KILN_DSP_MAX_HEAD_DIM || d % 8 != 0 || a->qk.shift < 33 || !grid_int16(gl)
      || !grid_int16(gs) || !grid_int16(&a->probs) || a->probs.zero_point != 0 || a->probs.qmax < 0
      || !query_pairs(qd, &q_sum, &q_abs, q, q_zp, d)
      || !row_rq_prepare(&r.logits, a->qk, gl->zero_point, gl->qmin, gl->qmax, INT32_MAX)
      || !row_rq_prepare(&r.scores, a->mask, gs->zero_point, gs->qmin, gs->qmax, mask_max)) {
    row_by_kernels(out, q, q_zp, k, v, d, a, scratch);
    return;
  }
  r.qk = a->qk;
  r.logits_grid = *gl;
  r.bias = (int64_t)k->zero_point * q_sum;
  /* |partial sum| <= |bias| + sum |q - zq| 2^15, the key codes being int16 */
  const int narrow = (r.bias < 0 ? -r.bias : r.bias) + ((int64_t)q_abs << 15) < ((int64_t)1 << 31);
  r.bias32 = narrow ? (int32_t)r.bias : 0;
  /* scratch: the exp values (2n codes' room), then the scores, which the
   * probabilities overwrite */
  int16_t *const logits = scratch + 2 * n;
  int32_t top = INT16_MIN;
  if (d == 8 && narrow && !r.logits.ties) {
    top = logits_d8_untied(logits, qd, k, &r);
  } else if (d == 8 && narrow) {
    top = logits_d8_narrow(logits, qd, k, &r);
  } else if (d == 8) {
    top = logits_d8_wide(logits, qd, k->past, k->n_past, &r, top);
    top = logits_d8_wide(logits + k->n_past, qd, k->fresh, k->n_fresh, &r, top);
  } else {
    top = logits_any(logits, qd, k->past, k->n_past, d, &r, top);
    top = logits_any(logits + k->n_past, qd, k->fresh, k->n_fresh, d, &r, top);
  }
  const int32_t zl = gl->zero_point;
  const int32_t top_score = row_requant(top - zl, &r.scores);
  mask_dist m;
  const uint64_t sum = mask_dist_prepare(&m, &r.scores, top_score, a->exp)
                           ? mask_exp_dist((uint8_t *)scratch, logits, n, zl, &m, a->exp->lo, a->exp->hi)
                           : mask_exp_row((uint8_t *)scratch, logits, n, zl, top_score, &r.scores, a->exp);
  /* the probabilities overwrite the logits */
  int16_t *const probs = logits;
  int32_t p_sum = kiln_softmax_probs_dsp(probs, scratch, n, sum, a->softmax, &a->probs);
  if (p_sum < 0) { /* the scores again, and the portable softmax */
    kiln_requant(logits, logits, n, zl, a->mask, gs);
    kiln_softmax_row(probs, logits, n, a->exp, a->softmax, &a->probs);
    p_sum = 0;
    for (int32_t t = 0; t < n; t++) p_sum += probs[t];
  }
  /* pv in int32 wants codes >= 0 (zero point 0, qmax >= 0: a probability is
   * never negative) summing below 2^16 */
  if (p_sum >= 65536) {
    kiln_pv_row(out, probs, 0, v, d, a->pv, &a->out);
    return;
  }
  pv_row_sum(out, probs, p_sum, p_sum, v, d, a->pv, &a->out);
}
