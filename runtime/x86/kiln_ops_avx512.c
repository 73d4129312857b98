/*
 * Elementwise kernels, RMSNorm, sigmoid and the softmax row with AVX-512: the
 * same contracts and the same integers as their portable namesakes in
 * kiln_rt.h, eight values at a time in int64 lanes (kiln_scale8 is
 * kiln_scale's fast path; lanes outside it take the portable arithmetic).
 */
#include "kiln_rt_x86.h"
#include "kiln_avx512.h"

#include <stddef.h>

/* ---- requantization and products ------------------------------------------ */

void kiln_scale_store_lanes(int16_t *out, __m512i acc, __mmask8 m, kiln_rq rq, const kiln_grid *g) {
  int64_t a[8];
  _mm512_storeu_si512((void *)a, acc);
  for (int i = 0; i < 8; i++)
    if (m >> i & 1) out[i] = kiln_to_grid(kiln_scale(a[i], rq), g);
}

/* Codes minus a zero point stay below 2^17: requantizing them is always
 * within kiln_scale8 when the shift is. */
void kiln_requant_avx512(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  if (rq.shift < 1 || rq.shift > 63) {
    kiln_requant(y, x, n, x_zp, rq, g);
    return;
  }
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i zx = _mm512_set1_epi64(x_zp), mult = _mm512_set1_epi64(rq.mult), shift = _mm512_set1_epi64(rq.shift);
  for (int32_t i = 0; i < n; i += 8) {
    const __mmask8 m = kiln_lanes8(n - i);
    kiln_store8(y + i, kiln_scale8(_mm512_sub_epi64(kiln_load8(x + i, m), zx), mult, shift, &g8), m);
  }
}

void kiln_mul_avx512(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                     const kiln_grid *g) {
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const kiln_rq8 rq8 = kiln_rq8_of(rq);
  const __m512i za = _mm512_set1_epi64(a_zp), zb = _mm512_set1_epi64(b_zp);
  for (int32_t i = 0; i < n; i += 8) {
    const __mmask8 m = kiln_lanes8(n - i);
    const __m512i prod =
        _mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(a + i, m), za), _mm512_sub_epi64(kiln_load8(b + i, m), zb));
    kiln_scale_store8(y + i, prod, m, rq, &rq8, &g8, g);
  }
}

void kiln_mul_rows_avx512(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                          int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const kiln_rq8 rq8 = kiln_rq8_of(rq);
  const __m512i zx = _mm512_set1_epi64(x_zp), zt = _mm512_set1_epi64(t_zp);
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      for (int32_t e = 0; e < d; e += 8) {
        const __mmask8 m = kiln_lanes8(d - e);
        const __m512i prod = _mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(x + base + e, m), zx),
                                              _mm512_sub_epi64(kiln_load8(table + (size_t)s * d + e, m), zt));
        kiln_scale_store8(y + base + e, prod, m, rq, &rq8, &g8, g);
      }
    }
}

/* The products are below 2^48, their sum below 2^50: within kiln_shift8. */
void kiln_add_avx512(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                     int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g) {
  if (rq->shift < 1 || rq->shift > 62) {
    kiln_add(y, a, a_zp, b, b_zp, c, c_zp, n, rq, g);
    return;
  }
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i za = _mm512_set1_epi64(a_zp), zb = _mm512_set1_epi64(b_zp), zc = _mm512_set1_epi64(c_zp);
  const __m512i ma = _mm512_set1_epi64(rq->ma), mb = _mm512_set1_epi64(rq->mb), mc = _mm512_set1_epi64(rq->mc);
  const __m512i shift = _mm512_set1_epi64(rq->shift);
  for (int32_t i = 0; i < n; i += 8) {
    const __mmask8 m = kiln_lanes8(n - i);
    __m512i acc = _mm512_add_epi64(_mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(a + i, m), za), ma),
                                   _mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(b + i, m), zb), mb));
    if (c) acc = _mm512_add_epi64(acc, _mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(c + i, m), zc), mc));
    kiln_store8(y + i, kiln_to_grid8(kiln_shift8(acc, shift), &g8), m);
  }
}

/* ---- layout moves (each a requantization) ---------------------------------- */

/* Halves narrower than a vector (head_dim 2, 4 or 8) are gathered 8 outputs
 * at a time by a permute over the 16 or 32 inputs they come from; wider ones
 * are whole rows of kiln_requant_avx512. */

/* 8 int16 lanes of the 32 at src picked by idx, as int64 lanes */
static inline __m512i pick8(const int16_t *src, __mmask32 have, __m512i idx) {
  const __m512i all = _mm512_maskz_loadu_epi16(have, (const void *)src);
  return _mm512_cvtepi16_epi64(_mm512_castsi512_si128(_mm512_permutexvar_epi16(idx, all)));
}

static inline __mmask32 first32(int32_t n) {
  return n >= 32 ? 0xFFFFFFFFu : (n <= 0 ? 0 : (((__mmask32)1 << n) - 1));
}

void kiln_take_half_avx512(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp,
                           kiln_rq rq, const kiln_grid *g) {
  const int32_t h = d / 2;
  if (h >= 8 || 8 % h != 0 || rq.shift < 1 || rq.shift > 63) {
    for (int32_t r = 0; r < rows; r++)
      kiln_requant_avx512(y + (size_t)r * h, x + (size_t)r * d + (which ? h : 0), h, x_zp, rq, g);
    return;
  }
  /* output j of a block of 8 (8 / h rows) reads input (j / h) * d + which * h + j % h of those rows */
  const int lg = h == 1 ? 0 : h == 2 ? 1 : 2;
  const __m128i j = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i idx = _mm512_zextsi128_si512(
      _mm_add_epi16(_mm_mullo_epi16(_mm_srli_epi16(j, lg), _mm_set1_epi16((int16_t)d)),
                    _mm_add_epi16(_mm_set1_epi16((int16_t)(which * h)), _mm_and_si128(j, _mm_set1_epi16((int16_t)(h - 1))))));
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i zx = _mm512_set1_epi64(x_zp), mult = _mm512_set1_epi64(rq.mult), shift = _mm512_set1_epi64(rq.shift);
  const int32_t n = rows * h;
  for (int32_t o = 0; o < n; o += 8) {
    const int32_t r = o >> lg;
    const __m512i v = pick8(x + (size_t)r * d, first32((rows - r) * d), idx);
    kiln_store8(y + o, kiln_scale8(_mm512_sub_epi64(v, zx), mult, shift, &g8), kiln_lanes8(n - o));
  }
}

void kiln_concat_halves_avx512(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b,
                               int32_t b_zp, kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  if (h >= 8 || 8 % (2 * h) != 0 || a_rq.shift < 1 || a_rq.shift > 63 || b_rq.shift < 1 || b_rq.shift > 63) {
    for (int32_t r = 0; r < rows; r++) {
      kiln_requant_avx512(y + (size_t)r * 2 * h, a + (size_t)r * h, h, a_zp, a_rq, g);
      kiln_requant_avx512(y + (size_t)r * 2 * h + h, b + (size_t)r * h, h, b_zp, b_rq, g);
    }
    return;
  }
  /* output j of a block of 8 (8 / 2h rows): a's or b's value (j / 2h) * h + j % h, with that side's constants */
  const int lg = h == 1 ? 1 : h == 2 ? 2 : 3; /* log2(2h) */
  const __m128i j = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7);
  const __m128i in_row = _mm_and_si128(j, _mm_set1_epi16((int16_t)(2 * h - 1)));
  const __mmask8 from_b = _mm_cmpge_epi16_mask(in_row, _mm_set1_epi16((int16_t)h));
  const __m512i idx = _mm512_zextsi128_si512(_mm_add_epi16(_mm_mullo_epi16(_mm_srli_epi16(j, lg), _mm_set1_epi16((int16_t)h)),
                                                           _mm_and_si128(in_row, _mm_set1_epi16((int16_t)(h - 1)))));
  const __m512i z = _mm512_mask_blend_epi64(from_b, _mm512_set1_epi64(a_zp), _mm512_set1_epi64(b_zp));
  const __m512i m8 = _mm512_mask_blend_epi64(from_b, _mm512_set1_epi64(a_rq.mult), _mm512_set1_epi64(b_rq.mult));
  const __m512i s8 = _mm512_mask_blend_epi64(from_b, _mm512_set1_epi64(a_rq.shift), _mm512_set1_epi64(b_rq.shift));
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const int32_t n = rows * 2 * h;
  for (int32_t o = 0; o < n; o += 8) {
    const int32_t r = o >> lg;
    const __mmask32 have = first32((rows - r) * h);
    const __m512i v = _mm512_mask_mov_epi64(pick8(a + (size_t)r * h, have, idx), from_b, pick8(b + (size_t)r * h, have, idx));
    kiln_store8(y + o, kiln_scale8(_mm512_sub_epi64(v, z), m8, s8, &g8), kiln_lanes8(n - o));
  }
}

void kiln_heads_first_avx512(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                             kiln_rq rq, const kiln_grid *g) {
  if (rows == 1) { /* one row: [1][heads][d] and [heads][1][d] are the same order */
    kiln_requant_avx512(y, x, heads * d, x_zp, rq, g);
    return;
  }
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++)
      kiln_requant_avx512(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, d, x_zp, rq, g);
}

/* ---- RMSNorm ----------------------------------------------------------------- */

/* floor(sqrt(v)) for v < 2^62: the double square root is within one of it
 * (v rounds to 53 bits, sqrt to nearest); the integers settle the last step. */
static uint64_t isqrt_sse(uint64_t v) {
  uint64_t root = (uint64_t)_mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd((double)v)));
  while (root * root > v) root--;
  while ((root + 1) * (root + 1) <= v) root++;
  return root;
}

void kiln_rmsnorm_avx512(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                         int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i zx = _mm512_set1_epi64(x_zp), zg = _mm512_set1_epi64(gamma_zp);
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    __m512i ss8 = _mm512_setzero_si512();
    for (int32_t j = 0; j < n; j += 8) {
      const __m512i v = _mm512_sub_epi64(kiln_load8(xr + j, kiln_lanes8(n - j)), zx);
      ss8 = _mm512_mask_add_epi64(ss8, kiln_lanes8(n - j), ss8, _mm512_mul_epi32(v, v));
    }
    int32_t k;
    const uint64_t t = kiln_rmsnorm_square((uint64_t)_mm512_reduce_add_epi64(ss8), p, &k);
    if (t == 0) { /* an all-zero row with eps 0 */
      kiln_rmsnorm(yr, xr, x_zp, 1, n, gamma, gamma_zp, p, g);
      continue;
    }
    const kiln_rq row = kiln_rmsnorm_scale(isqrt_sse(t), k, p);
    const kiln_rq8 rq8 = kiln_rq8_of(row);
    for (int32_t j = 0; j < n; j += 8) {
      const __mmask8 m = kiln_lanes8(n - j);
      const __m512i prod =
          _mm512_mul_epi32(_mm512_sub_epi64(kiln_load8(gamma + j, m), zg), _mm512_sub_epi64(kiln_load8(xr + j, m), zx));
      kiln_scale_store8(yr + j, prod, m, row, &rq8, &g8, g);
    }
  }
}

/* ---- exp tables: sigmoid, softmax ---------------------------------------- */

/* An exp table ready for 8 lanes: when its distances stop below 4096 (at most
 * 16 high entries), the high table sits in two registers and a permute
 * replaces the gather. */
typedef struct {
  const kiln_exp_lut *lut;
  __m512i hi0, hi1; /* hi[0..8), hi[8..16) as uint64 lanes */
  int hi_in_registers;
} exp_table8;

static inline exp_table8 exp_table8_of(const kiln_exp_lut *lut) {
  exp_table8 t;
  t.lut = lut;
  t.hi_in_registers = lut->hi != NULL && lut->max_d < 4096;
  t.hi0 = t.hi1 = _mm512_setzero_si512();
  if (t.hi_in_registers) {
    const int32_t n = (lut->max_d >> 8) + 1; /* entries the table holds */
    const __m512i h = _mm512_maskz_loadu_epi32((__mmask16)((1u << n) - 1), (const void *)lut->hi);
    t.hi0 = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(h));
    t.hi1 = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(h, 1));
  }
  return t;
}

/* kiln_exp_q31 for 8 distances d >= 0, bit for bit. */
static inline __m512i exp8(__m512i dist, const exp_table8 *t) {
  const kiln_exp_lut *lut = t->lut;
  const __mmask8 inside = _mm512_cmple_epu64_mask(dist, _mm512_set1_epi64(lut->max_d));
  if (!inside) return _mm512_setzero_si512(); /* all beyond the table: exp is 0 */
  const __m512i lo_idx = _mm512_and_si512(dist, _mm512_set1_epi64(255));
  __m512i e = _mm512_cvtepu32_epi64(_mm512_mask_i64gather_epi32(_mm256_setzero_si256(), inside, lo_idx,
                                                                 (const void *)lut->lo, 4));
  const __mmask8 wide = _mm512_mask_cmpge_epu64_mask(inside, dist, _mm512_set1_epi64(256));
  if (t->hi_in_registers) {
    const __m512i h = _mm512_permutex2var_epi64(t->hi0, _mm512_srli_epi64(dist, 8), t->hi1);
    e = _mm512_mask_mov_epi64(e, wide, kiln_rhe_shift8(_mm512_mul_epu32(e, h), _mm512_set1_epi64(31)));
  } else if (lut->hi && wide) {
    const __m512i hi_idx = _mm512_min_epu64(_mm512_srli_epi64(dist, 8), _mm512_set1_epi64(255));
    const __m512i h = _mm512_cvtepu32_epi64(
        _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), wide, hi_idx, (const void *)lut->hi, 4));
    e = _mm512_mask_mov_epi64(e, wide, kiln_rhe_shift8(_mm512_mul_epu32(e, h), _mm512_set1_epi64(31)));
  }
  return e;
}

void kiln_sigmoid_avx512(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                         const kiln_grid *g) {
  if (rq.shift < 1 || rq.shift > 63) {
    kiln_sigmoid(y, x, x_zp, n, lut, rq, g);
    return;
  }
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i zx = _mm512_set1_epi64(x_zp), one = _mm512_set1_epi64((int64_t)1 << 31);
  const __m512i mult = _mm512_set1_epi64(rq.mult), shift = _mm512_set1_epi64(rq.shift);
  const exp_table8 table = exp_table8_of(lut);
  for (int32_t i = 0; i < n; i += 8) {
    const __mmask8 m = kiln_lanes8(n - i);
    const __m512i v = _mm512_sub_epi64(kiln_load8(x + i, m), zx);
    const __m512i e = exp8(_mm512_abs_epi64(v), &table); /* exp(-|x|) */
    /* x >= 0: 1 / (1 + e); x < 0: e / (1 + e); both in Q31, at most 2^31 */
    const __m512i num = _mm512_slli_epi64(_mm512_mask_mov_epi64(one, _mm512_movepi64_mask(v), e), 31);
    kiln_store8(y + i, kiln_scale8_q31(kiln_div_rhe8(num, _mm512_add_epi64(one, e)), mult, shift, &g8), m);
  }
}

int16_t kiln_max_code_avx512(const int16_t *x, int32_t n) {
  __m512i top = _mm512_set1_epi16(INT16_MIN);
  for (int32_t t = 0; t < n; t += 32) {
    const __mmask32 m = n - t >= 32 ? 0xFFFFFFFFu : (((__mmask32)1 << (n - t)) - 1);
    top = _mm512_mask_max_epi16(top, m, top, kiln_load32(x + t, n - t));
  }
  /* fold 32 lanes to one */
  __m256i h = _mm256_max_epi16(_mm512_castsi512_si256(top), _mm512_extracti64x4_epi64(top, 1));
  __m128i q = _mm_max_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 8));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 4));
  q = _mm_max_epi16(q, _mm_srli_si128(q, 2));
  return (int16_t)_mm_extract_epi16(q, 0);
}

void kiln_softmax_row_avx512(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                             const kiln_grid *g) {
  kiln_softmax_top_avx512(p, x, n, kiln_max_code_avx512(x, n), lut, rq, g);
}

uint64_t kiln_softmax_exps_avx512(uint32_t *kept, const int16_t *x, int32_t n, int16_t mx, const kiln_exp_lut *lut) {
  const __m512i top = _mm512_set1_epi64(mx);
  const exp_table8 table = exp_table8_of(lut);
  __m512i sum8 = _mm512_setzero_si512();
  for (int32_t t = 0; t < n; t += 8) {
    const __mmask8 m = kiln_lanes8(n - t);
    const __m512i e = _mm512_maskz_mov_epi64(m, exp8(_mm512_maskz_sub_epi64(m, top, kiln_load8(x + t, m)), &table));
    if (t < KILN_SOFTMAX_KEEP) _mm256_storeu_si256((__m256i *)(void *)(kept + t), _mm512_cvtepi64_epi32(e));
    sum8 = _mm512_add_epi64(sum8, e);
  }
  return (uint64_t)_mm512_reduce_add_epi64(sum8);
}

void kiln_softmax_top_avx512(int16_t *p, const int16_t *x, int32_t n, int16_t mx, const kiln_exp_lut *lut,
                             kiln_rq rq, const kiln_grid *g) {
  if (rq.shift < 1 || rq.shift > 63) {
    kiln_softmax_row(p, x, n, lut, rq, g);
    return;
  }
  uint32_t kept[KILN_SOFTMAX_KEEP];
  const kiln_softmax_norm8 norm = kiln_softmax_norm8_of(kiln_softmax_exps_avx512(kept, x, n, mx, lut), rq);
  const kiln_grid8 g8 = kiln_grid8_of(g);
  const __m512i top = _mm512_set1_epi64(mx);
  const exp_table8 table = exp_table8_of(lut);
  for (int32_t t = 0; t < n; t += 8) {
    const __mmask8 m = kiln_lanes8(n - t);
    const __m512i e = t < KILN_SOFTMAX_KEEP
                          ? _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(const void *)(kept + t)))
                          : exp8(_mm512_maskz_sub_epi64(m, top, kiln_load8(x + t, m)), &table);
    kiln_store8(p + t, kiln_softmax_probs8(e, &norm, &g8), m);
  }
}

/* ---- argmax ------------------------------------------------------------------ */

int32_t kiln_argmax_avx512(const int16_t *x, int32_t n) {
  const __m512i top = _mm512_set1_epi16(kiln_max_code_avx512(x, n));
  for (int32_t t = 0; t < n; t += 32) { /* the first code equal to the largest */
    const __mmask32 live = n - t >= 32 ? 0xFFFFFFFFu : (((__mmask32)1 << (n - t)) - 1);
    const __mmask32 hit = _mm512_mask_cmpeq_epi16_mask(live, kiln_load32(x + t, n - t), top);
    if (hit) {
      int32_t i = 0;
      while (!(hit >> i & 1)) i++;
      return t + i;
    }
  }
  return 0;
}
