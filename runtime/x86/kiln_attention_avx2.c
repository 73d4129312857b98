/*
 * Attention rows with AVX2: the contract and the integers of the portable
 * kiln_qk_row and kiln_pv_row (kiln_rt.h).
 *
 * qk: vpmaddwd forms exact pair sums of (q - zq)(k - zk) (below 2^31 unless
 * both q values are -32768, which sends the row to the portable kernel).
 * When the row's largest |q - zq| times 32768 times d stays below 2^31, every
 * partial sum of a dot fits int32 and the pair sums are added there;
 * otherwise (wide 16-bit codes) each is widened to int64 first.
 * pv: probabilities are non-negative with zero point 0 and their codes sum
 * below 2^16 (the generator's check), so sum_t p_t v_t over raw int16 codes
 * stays within int32; the value zero point comes off as zv sum_t p_t.
 * head_dim: 8, or a multiple of 16 up to MAX_D; any other goes portable.
 */
#include "kiln_rt_avx2.h"
#include "kiln_avx2.h"

#include <stddef.h>
#include <string.h>

#define MAX_D 256
#define KEYS 8 /* keys a step of qk */

static int supported(int32_t d) { return d == 8 || (d % 16 == 0 && d <= MAX_D); }

/* ---- q . k ------------------------------------------------------------------------ */

/* q minus its zero point: d / 16 vectors, or for d == 8 the head in both
 * 128-bit lanes (two keys a vector). */
typedef struct {
  __m256i v[MAX_D / 16];
  int32_t d;
  int narrow; /* the dots' partial sums fit int32 */
} q_row;

/* 0 when a pair sum could overflow int32 (a -32768 code): the portable case. */
static int q_row_of(q_row *qr, const int16_t *q, int32_t q_zp, int32_t d) {
  int32_t top = 0;
  int16_t buf[MAX_D];
  for (int32_t e = 0; e < d; e++) {
    const int32_t v = q[e] - q_zp; /* within int16: the generator's check */
    if (v == INT16_MIN) return 0;
    buf[e] = (int16_t)v;
    if ((v < 0 ? -v : v) > top) top = v < 0 ? -v : v;
  }
  qr->d = d;
  qr->narrow = (int64_t)top * 32768 * d < ((int64_t)1 << 31);
  if (d == 8) {
    qr->v[0] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)buf));
  } else {
    for (int32_t c = 0; c < d / 16; c++) qr->v[c] = _mm256_loadu_si256((const __m256i *)(const void *)(buf + 16 * c));
  }
  return 1;
}

/* Sums of 4 vectors of 4 int64 lanes: lane j of the result is the total of
 * vector j. */
static inline __m256i reduce4x4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi64(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
  const __m256i cd = _mm256_add_epi64(_mm256_unpacklo_epi64(c, d), _mm256_unpackhi_epi64(c, d));
  return _mm256_add_epi64(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

/* Sums of 8 vectors of 8 int32 lanes (no overflow possible), in key order. */
static inline __m256i reduce8x8(const __m256i s[KEYS]) {
  const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  /* h0: keys 0 1 2 3 | 0 1 2 3 (halves of each), h1 likewise for 4..7 */
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

/* The 8 dots of keys kt[0..8) (each d codes) with q, as two vectors of 4
 * int64 lanes. */
static inline void dots8(__m256i out[2], const q_row *qr, const int16_t *kt, __m256i zk) {
  const int32_t d = qr->d;
  if (d == 8) {
    __m256i pairs[4]; /* keys 2i, 2i + 1 */
    for (int i = 0; i < 4; i++)
      pairs[i] = _mm256_madd_epi16(qr->v[0], _mm256_sub_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(kt + 16 * i)), zk));
    if (qr->narrow) {
      /* two rounds of hadd leave keys 0 2 4 6 | 1 3 5 7 */
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(pairs[0], pairs[1]), _mm256_hadd_epi32(pairs[2], pairs[3]));
      const __m256i keys = _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      out[0] = kiln_widen_lo(keys);
      out[1] = kiln_widen_hi(keys);
    } else {
      out[0] = reduce4x4(kiln_widen_lo(pairs[0]), kiln_widen_hi(pairs[0]), kiln_widen_lo(pairs[1]), kiln_widen_hi(pairs[1]));
      out[1] = reduce4x4(kiln_widen_lo(pairs[2]), kiln_widen_hi(pairs[2]), kiln_widen_lo(pairs[3]), kiln_widen_hi(pairs[3]));
    }
    return;
  }
  const int32_t chunks = d / 16;
  if (qr->narrow) {
    __m256i s[KEYS];
    for (int j = 0; j < KEYS; j++) {
      const int16_t *k = kt + (size_t)j * d;
      s[j] = _mm256_setzero_si256();
      for (int32_t c = 0; c < chunks; c++)
        s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(qr->v[c], _mm256_sub_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(k + 16 * c)), zk)));
    }
    const __m256i keys = reduce8x8(s);
    out[0] = kiln_widen_lo(keys);
    out[1] = kiln_widen_hi(keys);
    return;
  }
  __m256i s[KEYS];
  for (int j = 0; j < KEYS; j++) {
    const int16_t *k = kt + (size_t)j * d;
    s[j] = _mm256_setzero_si256();
    for (int32_t c = 0; c < chunks; c++) {
      const __m256i m = _mm256_madd_epi16(qr->v[c], _mm256_sub_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(k + 16 * c)), zk));
      s[j] = _mm256_add_epi64(s[j], _mm256_add_epi64(kiln_widen_lo(m), kiln_widen_hi(m)));
    }
  }
  out[0] = reduce4x4(s[0], s[1], s[2], s[3]);
  out[1] = reduce4x4(s[4], s[5], s[6], s[7]);
}

/* The dots of keys [t, t + 8) of a segment of n keys; absent keys read a
 * zero-padded copy (their dots are not stored). */
static inline void dots_at(__m256i out[2], const q_row *qr, const int16_t *seg, int32_t t, int32_t n, __m256i zk,
                           int16_t *pad) {
  const int32_t d = qr->d;
  if (n - t >= KEYS) {
    dots8(out, qr, seg + (size_t)t * d, zk);
    return;
  }
  memset(pad, 0, sizeof(int16_t) * KEYS * (size_t)d);
  memcpy(pad, seg + (size_t)t * d, sizeof(int16_t) * (size_t)(n - t) * (size_t)d);
  dots8(out, qr, pad, zk);
}

void kiln_qk_row_avx2(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                      const kiln_grid *g) {
  q_row qr;
  if (!supported(d) || !q_row_of(&qr, q, q_zp, d)) {
    kiln_qk_row(logits, q, q_zp, k, d, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  const __m256i zk = _mm256_set1_epi16((int16_t)k->zero_point);
  int16_t pad[KEYS * MAX_D];
  const int16_t *seg[2] = { k->past, k->fresh };
  const int32_t len[2] = { k->n_past, k->n_fresh };
  int16_t *out = logits;
  for (int s = 0; s < 2; s++) {
    for (int32_t t = 0; t < len[s]; t += KEYS) {
      __m256i dots[2];
      dots_at(dots, &qr, seg[s], t, len[s], zk, pad);
      kiln_scale_store4(out + t, dots[0], len[s] - t, rq, &rq4, &g4, g);
      if (len[s] - t > 4) kiln_scale_store4(out + t + 4, dots[1], len[s] - t - 4, rq, &rq4, &g4, g);
    }
    out += len[s];
  }
}

/* ---- p . v ------------------------------------------------------------------------ */

/* Sum of n probability codes (each in [0, 32767]). */
static int64_t prob_sum(const int16_t *p, int32_t n) {
  int64_t s = 0;
  int32_t t = 0;
  __m256i acc = _mm256_setzero_si256();
  for (; t + 16 <= n; t += 16)
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(p + t)), _mm256_set1_epi16(1)));
  s = kiln_hsum4(_mm256_add_epi64(kiln_widen_lo(acc), kiln_widen_hi(acc)));
  for (; t < n; t++) s += p[t];
  return s;
}

/* d == 8: four keys a step, keys t, t + 2 in the low 128-bit lane and
 * t + 1, t + 3 in the high one, so that vpunpck pairs each key with the one
 * two later and vpmaddwd multiplies them by their two probabilities.
 * acc[0]: dims 0..3 (both lanes partial), acc[1]: dims 4..7. */
static void pv_8(__m256i acc[2], const int16_t *p, const int16_t *v, int32_t n) {
  int16_t pad_v[32], pad_p[4];
  for (int32_t t = 0; t < n; t += 4) {
    const int16_t *vt = v + (size_t)t * 8, *pt = p + t;
    if (n - t < 4) { /* the last keys, zero-padded */
      memset(pad_v, 0, sizeof pad_v);
      memset(pad_p, 0, sizeof pad_p);
      memcpy(pad_v, vt, sizeof(int16_t) * 8 * (size_t)(n - t));
      memcpy(pad_p, pt, sizeof(int16_t) * (size_t)(n - t));
      vt = pad_v;
      pt = pad_p;
    }
    const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)vt);       /* keys t, t + 1 */
    const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(vt + 16)); /* keys t + 2, t + 3 */
    const int32_t lo = (int32_t)((uint32_t)(uint16_t)pt[0] | (uint32_t)(uint16_t)pt[2] << 16);
    const int32_t hi = (int32_t)((uint32_t)(uint16_t)pt[1] | (uint32_t)(uint16_t)pt[3] << 16);
    const __m256i pp = _mm256_setr_epi32(lo, lo, lo, lo, hi, hi, hi, hi);
    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), pp));
    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), pp));
  }
}

/* d % 16 == 0: two keys a step, interleaved by vpunpck; per 16 dims two
 * accumulators: dims 0..3 | 8..11 and 4..7 | 12..15. */
static void pv_wide(__m256i *acc, const int16_t *p, const int16_t *v, int32_t n, int32_t d) {
  const int32_t chunks = d / 16;
  for (int32_t t = 0; t < n; t += 2) {
    const int pair = t + 1 < n; /* an odd last key pairs with a zero probability */
    const uint32_t pp = (uint32_t)(uint16_t)p[t] | (pair ? (uint32_t)(uint16_t)p[t + 1] << 16 : 0);
    const __m256i pb = _mm256_set1_epi32((int32_t)pp);
    const int16_t *va = v + (size_t)t * d, *vb = va + d;
    for (int32_t c = 0; c < chunks; c++) {
      const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(va + 16 * c));
      const __m256i b = pair ? _mm256_loadu_si256((const __m256i *)(const void *)(vb + 16 * c)) : _mm256_setzero_si256();
      acc[2 * c] = _mm256_add_epi32(acc[2 * c], _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), pb));
      acc[2 * c + 1] = _mm256_add_epi32(acc[2 * c + 1], _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), pb));
    }
  }
}

void kiln_pv_row_avx2(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                      const kiln_grid *g) {
  if (!supported(d) || p_zp != 0) {
    kiln_pv_row(out, p, p_zp, v, d, rq, g);
    return;
  }
  const kiln_grid4 g4 = kiln_grid4_of(g);
  const kiln_rq4 rq4 = kiln_rq4_of(rq);
  /* sum p (v - zv) = sum p v - zv sum p */
  const __m256i zp_psum = _mm256_set1_epi64x((int64_t)v->zero_point * prob_sum(p, v->n_past + v->n_fresh));
  if (d == 8) {
    __m256i acc[2] = { _mm256_setzero_si256(), _mm256_setzero_si256() };
    pv_8(acc, p, v->past, v->n_past);
    pv_8(acc, p + v->n_past, v->fresh, v->n_fresh);
    const __m256i dims = _mm256_add_epi32(_mm256_permute2x128_si256(acc[0], acc[1], 0x20),
                                          _mm256_permute2x128_si256(acc[0], acc[1], 0x31));
    kiln_scale_store4(out, _mm256_sub_epi64(kiln_widen_lo(dims), zp_psum), 4, rq, &rq4, &g4, g);
    kiln_scale_store4(out + 4, _mm256_sub_epi64(kiln_widen_hi(dims), zp_psum), 4, rq, &rq4, &g4, g);
    return;
  }
  __m256i acc[2 * MAX_D / 16];
  for (int32_t i = 0; i < 2 * (d / 16); i++) acc[i] = _mm256_setzero_si256();
  pv_wide(acc, p, v->past, v->n_past, d);
  pv_wide(acc, p + v->n_past, v->fresh, v->n_fresh, d);
  for (int32_t c = 0; c < d / 16; c++) {
    const __m256i lo = _mm256_permute2x128_si256(acc[2 * c], acc[2 * c + 1], 0x20); /* dims 0..7 */
    const __m256i hi = _mm256_permute2x128_si256(acc[2 * c], acc[2 * c + 1], 0x31); /* dims 8..15 */
    int16_t *o = out + 16 * c;
    kiln_scale_store4(o, _mm256_sub_epi64(kiln_widen_lo(lo), zp_psum), 4, rq, &rq4, &g4, g);
    kiln_scale_store4(o + 4, _mm256_sub_epi64(kiln_widen_hi(lo), zp_psum), 4, rq, &rq4, &g4, g);
    kiln_scale_store4(o + 8, _mm256_sub_epi64(kiln_widen_lo(hi), zp_psum), 4, rq, &rq4, &g4, g);
    kiln_scale_store4(o + 12, _mm256_sub_epi64(kiln_widen_hi(hi), zp_psum), 4, rq, &rq4, &g4, g);
  }
}

/* ---- a whole row ------------------------------------------------------------------ */

/* The scores straight from the dot products (logits requantized twice, in
 * registers), and their largest code; 0 when a multiplier's shift is
 * outside the vector arithmetic (the caller then runs the kernels one by one). */
static int scores_row(int16_t *scores, int16_t *top, const q_row *qr, const kiln_kv_view *k,
                      const kiln_attention_row *a) {
  const kiln_rq4 qk4 = kiln_rq4_of(a->qk), mask4 = kiln_rq4_of(a->mask);
  if (!qk4.fast || !mask4.fast) return 0;
  const kiln_grid4 logits4 = kiln_grid4_of(&a->logits), scores4 = kiln_grid4_of(&a->scores);
  const __m256i zk = _mm256_set1_epi16((int16_t)k->zero_point), zl = _mm256_set1_epi64x(a->logits.zero_point);
  int16_t pad[KEYS * MAX_D];
  const int16_t *seg[2] = { k->past, k->fresh };
  const int32_t len[2] = { k->n_past, k->n_fresh };
  int16_t *row = scores;
  for (int s = 0; s < 2; s++) {
    for (int32_t t = 0; t < len[s]; t += KEYS) {
      __m256i dots[2];
      dots_at(dots, qr, seg[s], t, len[s], zk, pad);
      for (int h = 0; h < 2 && 4 * h < len[s] - t; h++) {
        __m256i logits;
        if (kiln_fits4(dots[h])) {
          logits = kiln_scale4(dots[h], qk4.mult, qk4.shift, &logits4);
        } else {
          int16_t lanes[4];
          kiln_scale_store4(lanes, dots[h], 4, a->qk, &qk4, &logits4, &a->logits);
          logits = kiln_load4(lanes, 4);
        }
        kiln_store4(row + t + 4 * h, kiln_scale4(_mm256_sub_epi64(logits, zl), mask4.mult, mask4.shift, &scores4),
                    len[s] - t - 4 * h);
      }
    }
    row += len[s];
  }
  *top = kiln_max_code_avx2(scores, k->n_past + k->n_fresh);
  return 1;
}

void kiln_attention_row_avx2(int16_t *out, const int16_t *q, int32_t q_zp, const kiln_kv_view *k,
                             const kiln_kv_view *v, int32_t d, const kiln_attention_row *a, int16_t *scratch) {
  const int32_t n = k->n_past + k->n_fresh;
  int16_t *const scores = scratch, *const probs = scratch + n;
  q_row qr;
  int16_t top;
  if (!supported(d) || !q_row_of(&qr, q, q_zp, d) || !scores_row(scores, &top, &qr, k, a)) {
    kiln_qk_row_avx2(scores, q, q_zp, k, d, a->qk, &a->logits);
    kiln_requant_avx2(scores, scores, n, a->logits.zero_point, a->mask, &a->scores);
    top = kiln_max_code_avx2(scores, n);
  }
  kiln_softmax_top_avx2(probs, scores, n, top, a->exp, a->softmax, &a->probs);
  kiln_pv_row_avx2(out, probs, a->probs.zero_point, v, d, a->pv, &a->out);
}
