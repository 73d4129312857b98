/*
 * Attention rows with AVX-512: the same contract and the same integers as the
 * portable kiln_qk_row and kiln_pv_row (kiln_rt.h).
 *
 * qk: vpmaddwd forms exact pair sums (q_a k_a + q_b k_b fits int32 unless
 * both q values are -32768, which sends the row to the portable kernel);
 * they are widened to int64 before being added.
 * pv: probabilities are non-negative and sum to about 1 / s_p, so
 * sum_t p_t v_t stays within int32; the generator checks that bound before it
 * picks this kernel.
 * Preconditions (checked by the generator): head_dim is 8 or a multiple of
 * 32; codes minus zero point fit int16; the probabilities' zero point is 0.
 */
#include "kiln_rt_x86.h"
#include "kiln_avx512.h"

#include <stddef.h>

/* ---- q . k ----------------------------------------------------------------- */

/* The 8 dots of keys [t, t + 8) for d == 8 (absent keys read as zeros). */
static inline __m512i dots8_d8(__m512i q4, const int16_t *k, int32_t t, int32_t n, __m512i zk) {
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  __m512i half[2];
  for (int i = 0; i < 2; i++) { /* keys t + 4i .. t + 4i + 3 */
    const int32_t t4 = t + 4 * i;
    const __m512i kv = _mm512_sub_epi16(kiln_load32(k + (size_t)t4 * 8, 8 * (n - t4)), zk);
    const __m512i pairs = _mm512_madd_epi16(q4, kv); /* 4 int32 pair sums a key */
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(pairs));      /* keys t4, t4 + 1 */
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(pairs, 1)); /* keys t4 + 2, t4 + 3 */
    half[i] = _mm512_add_epi64(_mm512_permutex2var_epi64(lo, even, hi), _mm512_permutex2var_epi64(lo, odd, hi));
    /* half[i]: two partial sums a key, keys in order */
  }
  return _mm512_add_epi64(_mm512_permutex2var_epi64(half[0], even, half[1]),
                          _mm512_permutex2var_epi64(half[0], odd, half[1]));
}

/* Eight int64 lanes of one key's partial sums, for each of 8 keys -> the 8
 * keys' totals in one vector (a transpose and add). */
static inline __m512i reduce8(const __m512i v[8]) {
  __m512i s[4], t[2];
  for (int i = 0; i < 4; i++) /* pairs of keys: lanes (a0 + a1, b0 + b1) in each 128-bit lane */
    s[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi64(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 2; i++) /* 128-bit lanes 0, 2 and 1, 3 of two such vectors */
    t[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(s[2 * i], s[2 * i + 1], 0x88), _mm512_shuffle_i64x2(s[2 * i], s[2 * i + 1], 0xDD));
  /* t[i] 128-bit lanes: keys (4i, 4i+1) halves and (4i+2, 4i+3) halves, twice */
  return _mm512_add_epi64(_mm512_shuffle_i64x2(t[0], t[1], 0x88), _mm512_shuffle_i64x2(t[0], t[1], 0xDD));
}

/* The 8 dots of keys [t, t + 8) for d % 32 == 0 (absent keys give zeros). */
static inline __m512i dots8_wide(const __m512i *qv, const int16_t *k, int32_t t, int32_t n, int32_t d, __m512i zk) {
  __m512i part[8];
  for (int j = 0; j < 8; j++) {
    part[j] = _mm512_setzero_si512();
    if (t + j >= n) continue;
    const int16_t *kt = k + (size_t)(t + j) * d;
    for (int32_t c = 0; c < d / 32; c++) {
      const __m512i pairs = _mm512_madd_epi16(qv[c], _mm512_sub_epi16(_mm512_loadu_si512((const void *)(kt + 32 * c)), zk));
      part[j] = _mm512_add_epi64(part[j], _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(pairs)),
                                                           _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(pairs, 1))));
    }
  }
  return reduce8(part);
}

/* q minus its zero point as vectors: one 8-value head repeated in each
 * 128-bit lane (d == 8), or d / 32 vectors. 0 when a pair sum could overflow
 * int32 (a -32768 code) or d is beyond 256: the portable kernel's case. */
static int q_vectors(__m512i *qv, const int16_t *q, int32_t q_zp, int32_t d) {
  if (d > 256) return 0;
  const __m512i zq = _mm512_set1_epi16((int16_t)q_zp), lowest = _mm512_set1_epi16(INT16_MIN);
  for (int32_t c = 0; c * 32 < d; c++) { /* codes minus zero point fit int16: only -32768 is refused */
    const __m512i v = _mm512_sub_epi16(kiln_load32(q + 32 * c, d - 32 * c), zq);
    if (_mm512_mask_cmpeq_epi16_mask(d - 32 * c >= 32 ? 0xFFFFFFFFu : (((__mmask32)1 << (d - 32 * c)) - 1), v, lowest))
      return 0;
    qv[c] = v;
  }
  if (d == 8) qv[0] = _mm512_broadcast_i32x4(_mm512_castsi512_si128(qv[0]));
  return 1;
}

/* The 8 dots of keys [t, t + 8) of one segment. */
static inline __m512i dots8(const __m512i *qv, const int16_t *k, int32_t t, int32_t n, int32_t d, __m512i zk) {
  return d == 8 ? dots8_d8(qv[0], k, t, n, zk) : dots8_wide(qv, k, t, n, d, zk);
}

void kiln_qk_row_avx512(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d,
                        kiln_rq rq, const kiln_grid *g) {
  __m512i qv[8];
  if (!q_vectors(qv, q, q_zp, d)) {
    kiln_qk_row(logits, q, q_zp, k, d, rq, g);
    return;
  }
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const kiln_rq8 rq8 = kiln_rq8_of(rq);
  const __m512i zk = _mm512_set1_epi16((int16_t)k->zero_point);
  const int16_t *seg[2] = { k->past, k->fresh };
  const int32_t len[2] = { k->n_past, k->n_fresh };
  int16_t *out = logits;
  for (int s = 0; s < 2; s++) {
    for (int32_t t = 0; t < len[s]; t += 8)
      kiln_scale_store8(out + t, dots8(qv, seg[s], t, len[s], d, zk), kiln_lanes8(len[s] - t), rq, &rq8, &g8, g);
    out += len[s];
  }
}

/* ---- p . v ----------------------------------------------------------------- */

/* pv for d == 8: eight keys a step, keys t + L and t + 4 + L interleaved in
 * 128-bit lane L so that vpmaddwd pairs them with their two probabilities.
 * The int32 sums: lo lanes hold dims 0..3, hi lanes dims 4..7, one 128-bit
 * lane per key pair. */
typedef struct {
  __m512i lo, hi;
} pv8_acc;

/* Adds keys [t, t + 8) of v (n keys in all) with probabilities p8 (zero past n). */
static inline void pv8_step(pv8_acc *acc, __m128i p8, const int16_t *v, int32_t t, int32_t n) {
  const __m512i lane_pair = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i a = kiln_load32(v + (size_t)t * 8, 8 * (n - t));           /* keys t .. t + 3 */
  const __m512i b = kiln_load32(v + (size_t)(t + 4) * 8, 8 * (n - t - 4)); /* keys t + 4 .. t + 7 */
  const __m128i pairs = _mm_unpacklo_epi16(p8, _mm_srli_si128(p8, 8));
  const __m512i pb = _mm512_permutexvar_epi32(lane_pair, _mm512_castsi128_si512(pairs));
  acc->lo = _mm512_add_epi32(acc->lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), pb));
  acc->hi = _mm512_add_epi32(acc->hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), pb));
}

/* sum_t p_t v[t][e] over raw codes, 8 int64 lanes */
static inline __m512i pv8_total(const pv8_acc *acc) {
  /* add the four 128-bit lanes: both = (lo0 + lo1, lo2 + lo3, hi0 + hi1, hi2 + hi3) */
  const __m512i both = _mm512_add_epi32(_mm512_shuffle_i64x2(acc->lo, acc->hi, 0x88),
                                        _mm512_shuffle_i64x2(acc->lo, acc->hi, 0xDD));
  const __m256i dims = _mm256_add_epi32(_mm512_castsi512_si256(_mm512_shuffle_i64x2(both, both, 0x08)),
                                        _mm512_castsi512_si256(_mm512_shuffle_i64x2(both, both, 0x0D)));
  return _mm512_cvtepi32_epi64(dims);
}

static __m512i pv_8(const int16_t *p, const int16_t *v, int32_t n) {
  pv8_acc acc = { _mm512_setzero_si512(), _mm512_setzero_si512() };
  for (int32_t t = 0; t < n; t += 8) pv8_step(&acc, _mm512_castsi512_si128(kiln_load32(p + t, n - t)), v, t, n);
  return pv8_total(&acc);
}

/* Sum of n probabilities. */
static int64_t prob_sum(const int16_t *p, int32_t n) {
  __m512i s = _mm512_setzero_si512();
  for (int32_t t = 0; t < n; t += 32) s = _mm512_add_epi32(s, _mm512_madd_epi16(kiln_load32(p + t, n - t), _mm512_set1_epi16(1)));
  return _mm512_reduce_add_epi32(s); /* below 2^16 (the generator's bound) */
}

/* acc[e] += sum over keys of p[t] v[t][e] (raw codes), int32 lanes.
 * Layout of the accumulators: for each 32-dim chunk c, two vectors (unpacklo, unpackhi). */
static void pv_wide(int64_t *sums, const int16_t *p, const kiln_kv_view *v, int32_t d) {
  __m512i acc[16];
  const int32_t chunks = d / 32;
  for (int32_t i = 0; i < 2 * chunks; i++) acc[i] = _mm512_setzero_si512();
  const int16_t *seg[2] = { v->past, v->fresh };
  const int32_t len[2] = { v->n_past, v->n_fresh };
  const int16_t *pt = p;
  for (int s = 0; s < 2; s++) {
    const int16_t *vs = seg[s];
    for (int32_t t = 0; t < len[s]; t += 2) {
      const int pair = t + 1 < len[s]; /* an odd last key pairs with a zero probability */
      const uint32_t pp = (uint32_t)(uint16_t)pt[t] | (pair ? (uint32_t)(uint16_t)pt[t + 1] << 16 : 0);
      const __m512i pb = _mm512_set1_epi32((int32_t)pp);
      for (int32_t c = 0; c < chunks; c++) {
        const __m512i a = _mm512_loadu_si512((const void *)(vs + (size_t)t * d + 32 * c));
        const __m512i b = pair ? _mm512_loadu_si512((const void *)(vs + (size_t)(t + 1) * d + 32 * c)) : _mm512_setzero_si512();
        acc[2 * c] = _mm512_add_epi32(acc[2 * c], _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), pb));
        acc[2 * c + 1] = _mm512_add_epi32(acc[2 * c + 1], _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), pb));
      }
    }
    pt += len[s];
  }
  /* unpack interleaves within 128-bit lanes: lo holds dims 8L + 0..3, hi dims 8L + 4..7 of lane L */
  for (int32_t c = 0; c < chunks; c++) {
    int32_t lo[16], hi[16];
    _mm512_storeu_si512((void *)lo, acc[2 * c]);
    _mm512_storeu_si512((void *)hi, acc[2 * c + 1]);
    for (int32_t lane = 0; lane < 4; lane++)
      for (int32_t j = 0; j < 4; j++) {
        sums[32 * c + 8 * lane + j] = lo[4 * lane + j];
        sums[32 * c + 8 * lane + 4 + j] = hi[4 * lane + j];
      }
  }
}

void kiln_pv_row_avx512(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                        const kiln_grid *g) {
  (void)p_zp; /* 0: checked by the generator */
  if (d != 8 && (d % 32 != 0 || d > 256)) {
    kiln_pv_row(out, p, p_zp, v, d, rq, g);
    return;
  }
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const kiln_rq8 rq8 = kiln_rq8_of(rq);
  /* sum p (v - zv) = sum p v - zv sum p */
  const __m512i zp_psum = _mm512_set1_epi64((int64_t)v->zero_point * prob_sum(p, v->n_past + v->n_fresh));
  if (d == 8) {
    const __m512i sums = _mm512_add_epi64(pv_8(p, v->past, v->n_past), pv_8(p + v->n_past, v->fresh, v->n_fresh));
    kiln_scale_store8(out, _mm512_sub_epi64(sums, zp_psum), 0xFF, rq, &rq8, &g8, g);
    return;
  }
  int64_t sums[256];
  pv_wide(sums, p, v, d);
  for (int32_t e = 0; e < d; e += 8)
    kiln_scale_store8(out + e, _mm512_sub_epi64(_mm512_loadu_si512((const void *)(sums + e)), zp_psum), 0xFF, rq, &rq8,
                      &g8, g);
}

/* ---- a whole row ----------------------------------------------------------- */

void kiln_attention_row_avx512(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                               const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch) {
  const int32_t n = k->n_past + k->n_fresh;
  int16_t *const scores = scratch, *const probs = scratch + n;
  __m512i qv[8];
  if (!q_vectors(qv, q, q_zp, d) || a->mask.shift < 1 || a->mask.shift > 63) { /* the kernels one by one */
    kiln_qk_row_avx512(scores, q, q_zp, k, d, a->qk, &a->logits);
    kiln_requant_avx512(scores, scores, n, a->logits.zero_point, a->mask, &a->scores);
    kiln_softmax_row_avx512(probs, scores, n, a->exp, a->softmax, &a->probs);
    kiln_pv_row_avx512(out, probs, a->probs.zero_point, v, d, a->pv, &a->out);
    return;
  }
  /* scores = requant(logits) straight from the dot products, and their max */
  const kiln_grid8 logits8 = kiln_grid8_of(&a->logits), scores8 = kiln_grid8_of(&a->scores);
  const kiln_rq8 qk8 = kiln_rq8_of(a->qk), mask8 = kiln_rq8_of(a->mask);
  const __m512i zk = _mm512_set1_epi16((int16_t)k->zero_point), zl = _mm512_set1_epi64(a->logits.zero_point);
  __m512i top = _mm512_set1_epi64(INT16_MIN);
  const int16_t *seg[2] = { k->past, k->fresh };
  const int32_t len[2] = { k->n_past, k->n_fresh };
  int16_t *row = scores;
  for (int s = 0; s < 2; s++) {
    for (int32_t t = 0; t < len[s]; t += 8) {
      const __mmask8 m = kiln_lanes8(len[s] - t);
      const __m512i dots = dots8(qv, seg[s], t, len[s], d, zk);
      __m512i logits;
      if (qk8.fast && kiln_fits8(dots)) {
        logits = kiln_scale8(dots, qk8.mult, qk8.shift, &logits8);
      } else {
        int16_t lanes[8];
        kiln_scale_store_lanes(lanes, dots, 0xFF, a->qk, &a->logits);
        logits = kiln_load8(lanes, 0xFF);
      }
      const __m512i sc = kiln_scale8(_mm512_sub_epi64(logits, zl), mask8.mult, mask8.shift, &scores8);
      kiln_store8(row + t, sc, m);
      top = _mm512_mask_max_epi64(top, m, top, sc);
    }
    row += len[s];
  }
  const int16_t mx = (int16_t)_mm512_reduce_max_epi64(top);
  if (d != 8 || n > KILN_SOFTMAX_KEEP || a->softmax.shift < 1 || a->softmax.shift > 63) {
    kiln_softmax_top_avx512(probs, scores, n, mx, a->exp, a->softmax, &a->probs);
    kiln_pv_row_avx512(out, probs, a->probs.zero_point, v, d, a->pv, &a->out);
    return;
  }
  /* d == 8: each 8 probabilities go straight into p . v */
  uint32_t kept[KILN_SOFTMAX_KEEP + 8]; /* + 8 zeros: the second segment's last vector reads past n */
  const kiln_softmax_norm8 norm = kiln_softmax_norm8_of(kiln_softmax_exps_avx512(kept, scores, n, mx, a->exp), a->softmax);
  _mm256_storeu_si256((__m256i *)(void *)(kept + (n + 7) / 8 * 8), _mm256_setzero_si256());
  const kiln_grid8 probs8 = kiln_grid8_of(&a->probs);
  const int16_t *vseg[2] = { v->past, v->fresh };
  pv8_acc acc = { _mm512_setzero_si512(), _mm512_setzero_si512() };
  __m512i psum = _mm512_setzero_si512();
  const uint32_t *e = kept;
  for (int s = 0; s < 2; s++) {
    for (int32_t t = 0; t < len[s]; t += 8) {
      const __mmask8 m = kiln_lanes8(len[s] - t);
      const __m512i ev = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(const void *)(e + t)));
      const __m512i p = _mm512_maskz_mov_epi64(m, kiln_softmax_probs8(ev, &norm, &probs8));
      psum = _mm512_add_epi64(psum, p);
      pv8_step(&acc, _mm512_cvtepi64_epi16(p), vseg[s], t, len[s]);
    }
    e += len[s];
  }
  /* sum p (v - zv) = sum p v - zv sum p */
  const __m512i sums = _mm512_sub_epi64(pv8_total(&acc),
                                        _mm512_mullo_epi64(_mm512_set1_epi64(v->zero_point), _mm512_set1_epi64(_mm512_reduce_add_epi64(psum))));
  const kiln_grid8 out8 = kiln_grid8_of(&a->out);
  const kiln_rq8 pv8 = kiln_rq8_of(a->pv);
  kiln_scale_store8(out, sums, 0xFF, a->pv, &pv8, &out8, &a->out);
}
