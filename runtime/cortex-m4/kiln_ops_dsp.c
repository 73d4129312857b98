/*
 * Elementwise kernels for Armv7E-M with the DSP extension: requantization
 * and the moves built on it (kiln_take_half, kiln_concat_halves,
 * kiln_heads_first), the products (kiln_mul, kiln_mul_rows, RMSNorm's) and
 * the sums of kiln_add; the portable kernels' integers (kiln_rt_ops.c), bit
 * for bit, for every input.
 *
 * Each call prepares its requantization once (kiln_rt_target_requant.h):
 * from the call's zero points, the range of every accumulator it can meet,
 * over all int16 codes; where no accumulator in that range can be a rounding
 * tie and the sums stay in int32, a value is one SMMLA (or SMLAWB, the code
 * taken straight from its half of a word) on the high word, a shift and the
 * grid's clamp: SSAT or USAT where the grid is a full int16, uint8 or int8
 * range (one loop each, the clamp a constant in it). Two values a step, from
 * one 32-bit load of each input. Products of two codes are SMULBB/SMULTT, or
 * with zero points (a - za)(b - zb) = ab - zb a - za b + za zb in three
 * SMLAxy (int32 sums that wrap, exact since the result fits int32; two
 * where one zero point is 0). RMSNorm sums its squares with SMLALD (and the
 * codes with SMLAD, for the zero point), takes the root in 32-bit words
 * (kiln_dsp_isqrt62) and prepares each row's requantization once. kiln_add's
 * sums are exact in 64 bits (SMULL, SMLAL), rounded on the high word with a
 * branch for the rare tie (kiln_dsp_sum). A call outside these bounds takes
 * the portable kernel, exact value by value.
 */
#include "kiln_rt_dsp.h"

#include <arm_acle.h>
#include <stddef.h>

#define INLINE static inline __attribute__((always_inline))

/* A code in the high half of a word, or in the low half shifted up, enters
 * the high-word requantization as x 2^16 (SMLAWB multiplies it so). */
#define CODE_SHIFT 16
#define ROWS_MAX_N 65535 /* rmsnorm's sum of codes: 65535 * 2^15 < 2^31 */
#define ZP_MAX 32767     /* zero points the product loops take: -zp an int16 */

/* How a grid clamps: the saturating instructions where it is a full range. */
enum { CLAMP_S16, CLAMP_U8, CLAMP_S8, CLAMP_ANY };

INLINE int clamp_kind(const kiln_grid *g) {
  if (g->qmin == INT16_MIN && g->qmax == INT16_MAX) return CLAMP_S16;
  if (g->qmin == 0 && g->qmax == UINT8_MAX) return CLAMP_U8;
  if (g->qmin == INT8_MIN && g->qmax == INT8_MAX) return CLAMP_S8;
  return CLAMP_ANY;
}

/* kiln_to_grid's clamp (qmin first, then qmax), kind a constant where inlined. */
INLINE int16_t clamp_as(int32_t v, int kind, int32_t qmin, int32_t qmax) {
  switch (kind) {
  case CLAMP_S16: return (int16_t)__ssat(v, 16);
  case CLAMP_U8: return (int16_t)__usat(v, 8);
  case CLAMP_S8: return (int16_t)__ssat(v, 8);
  default:
    if (v < qmin) v = qmin;
    if (v > qmax) v = qmax;
    return (int16_t)v;
  }
}

INLINE uint32_t load32(const int16_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v); /* one LDR: the M4 loads unaligned words */
  return v;
}

/* The low and high codes of a word. */
INLINE int32_t low16(uint32_t w) { return (int16_t)w; }
INLINE int32_t high16(uint32_t w) { return (int32_t)w >> 16; }

/* ---- requantization ------------------------------------------------------ */

/* Two codes of a word, requantized: raw (zero point 0), SMLAWB on the code
 * as stored (x 2^16); else acc 2^pre = x scale + offset (scale = 2^pre,
 * offset = -x_zp 2^pre, in int32 by the prepared bounds). */
INLINE void requant_pair(int16_t *y, uint32_t w, int32_t scale, int32_t offset, const kiln_dsp_hi *p, int kind,
                         int raw) {
  int32_t v0, v1;
  if (raw) {
    v0 = __smlawb(p->mult, w, p->bias) >> p->t;
    v1 = __smlawt(p->mult, w, p->bias) >> p->t;
  } else {
    v0 = kiln_dsp_hi_value(low16(w) * scale + offset, p);
    v1 = kiln_dsp_hi_value(high16(w) * scale + offset, p);
  }
  y[0] = clamp_as(v0, kind, p->qmin, p->qmax);
  y[1] = clamp_as(v1, kind, p->qmin, p->qmax);
}

/* y[i] for n codes x[i]: four a step (two words), then a pair and one. */
INLINE void requant_as(int16_t *y, const int16_t *x, int32_t n, int32_t scale, int32_t offset, const kiln_dsp_hi *p,
                       int kind, int raw) {
  if (n <= 0) return; /* as the portable loop */
  for (const int16_t *const end = y + (n & ~3); y != end; x += 4, y += 4) {
    requant_pair(y, load32(x), scale, offset, p, kind, raw);
    requant_pair(y + 2, load32(x + 2), scale, offset, p, kind, raw);
  }
  if (n & 2) {
    requant_pair(y, load32(x), scale, offset, p, kind, raw);
    x += 2, y += 2;
  }
  if (n & 1) {
    const int32_t v = raw ? __smlawb(p->mult, (uint16_t)x[0], p->bias) >> p->t : kiln_dsp_hi_value(x[0] * scale + offset, p);
    y[0] = clamp_as(v, kind, p->qmin, p->qmax);
  }
}

/* count segments of len values, segment j from x + j x_step to y + j
 * y_step. The loop reads the constants from a local copy, which no store
 * through y can change. */
INLINE void segments_as(int16_t *y, size_t y_step, const int16_t *x, size_t x_step, int32_t count, int32_t len,
                        int32_t scale, int32_t offset, const kiln_dsp_hi *p_in, int kind, int raw) {
  const kiln_dsp_hi p = *p_in;
  for (int32_t j = 0; j < count; j++, y += y_step, x += x_step) requant_as(y, x, len, scale, offset, &p, kind, raw);
}

/* A call's requantization: the high-word constants, how codes enter (raw,
 * or scaled with an offset; else the portable kernel) and the clamp. */
enum { REQUANT_PORTABLE, REQUANT_RAW, REQUANT_OFFSET };
typedef struct {
  kiln_dsp_hi p;
  int32_t scale, offset;
  int mode, kind;
} requant_plan;

/* Every int16 code minus x_zp lies in [INT16_MIN - x_zp, INT16_MAX - x_zp]:
 * the range the preparation checks for ties and for int32 room. With x_zp
 * = 0 the code goes in as stored (x 2^16, SMLAWB); else shifted up by the
 * least pre that puts the rounding on the high word, pre = 33 - shift. */
static void requant_plan_make(requant_plan *r, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  const int32_t zp_max = 1 << 30; /* the range below in int32 */
  /* out of int32 (implementation-defined, unused) when x_zp is beyond zp_max */
  const int32_t lo = (int32_t)((int64_t)INT16_MIN - x_zp), hi = (int32_t)((int64_t)INT16_MAX - x_zp);
  const int32_t pre = rq.shift < 33 ? 33 - rq.shift : 0;
  r->kind = clamp_kind(g);
  r->scale = r->offset = 0;
  if (x_zp > zp_max || x_zp < -zp_max) {
    r->mode = REQUANT_PORTABLE;
  } else if (x_zp == 0 && kiln_dsp_hi_prepare(&r->p, rq, g, lo, hi, CODE_SHIFT)) {
    r->mode = REQUANT_RAW;
  } else if (pre <= 15 && kiln_dsp_hi_prepare(&r->p, rq, g, lo, hi, pre)) {
    /* x scale and the offset fit int32: |x| 2^pre <= 2^30, and the offset is acc 2^pre for x = 0 */
    r->mode = REQUANT_OFFSET;
    r->scale = (int32_t)1 << pre;
    r->offset = (int32_t)(-(int64_t)x_zp * r->scale);
  } else {
    r->mode = REQUANT_PORTABLE;
  }
}

/* Requantizes count segments by a plan (kiln_requant and the moves);
 * segments that follow one another in both x and y run as one. */
static void requant_run(const requant_plan *r, int16_t *y, size_t y_step, const int16_t *x, size_t x_step,
                        int32_t count, int32_t len, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  if (count > 1 && x_step == (size_t)len && y_step == (size_t)len && (int64_t)count * len <= INT32_MAX) {
    len *= count;
    count = 1;
  }
  const kiln_dsp_hi *p = &r->p;
  const int32_t sc = r->scale, off = r->offset;
  switch (r->mode == REQUANT_PORTABLE ? -1 : r->kind * 2 + (r->mode == REQUANT_RAW)) {
  case CLAMP_S16 * 2 + 1: segments_as(y, y_step, x, x_step, count, len, 0, 0, p, CLAMP_S16, 1); break;
  case CLAMP_S16 * 2: segments_as(y, y_step, x, x_step, count, len, sc, off, p, CLAMP_S16, 0); break;
  case CLAMP_U8 * 2 + 1: segments_as(y, y_step, x, x_step, count, len, 0, 0, p, CLAMP_U8, 1); break;
  case CLAMP_U8 * 2: segments_as(y, y_step, x, x_step, count, len, sc, off, p, CLAMP_U8, 0); break;
  case CLAMP_S8 * 2 + 1: segments_as(y, y_step, x, x_step, count, len, 0, 0, p, CLAMP_S8, 1); break;
  case CLAMP_S8 * 2: segments_as(y, y_step, x, x_step, count, len, sc, off, p, CLAMP_S8, 0); break;
  case CLAMP_ANY * 2 + 1: segments_as(y, y_step, x, x_step, count, len, 0, 0, p, CLAMP_ANY, 1); break;
  case CLAMP_ANY * 2: segments_as(y, y_step, x, x_step, count, len, sc, off, p, CLAMP_ANY, 0); break;
  default:
    for (int32_t j = 0; j < count; j++) kiln_requant(y + j * y_step, x + j * x_step, len, x_zp, rq, g);
    break;
  }
}

static void requant_segments(int16_t *y, size_t y_step, const int16_t *x, size_t x_step, int32_t count, int32_t len,
                             int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  requant_plan r;
  requant_plan_make(&r, x_zp, rq, g);
  requant_run(&r, y, y_step, x, x_step, count, len, x_zp, rq, g);
}

void kiln_requant_dsp(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  requant_segments(y, 0, x, 0, 1, n, x_zp, rq, g);
}

void kiln_take_half_dsp(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                        const kiln_grid *g) {
  const int32_t h = d / 2;
  requant_segments(y, (size_t)h, x + (which ? h : 0), (size_t)d, rows, h, x_zp, rq, g);
}

void kiln_concat_halves_dsp(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                            kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  requant_segments(y, 2 * (size_t)h, a, (size_t)h, rows, h, a_zp, a_rq, g);
  requant_segments(y + h, 2 * (size_t)h, b, (size_t)h, rows, h, b_zp, b_rq, g);
}

void kiln_heads_first_dsp(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                          kiln_rq rq, const kiln_grid *g) {
  requant_plan r;
  requant_plan_make(&r, x_zp, rq, g);
  if (rows == 1) { /* [1][heads][d] is [heads][1][d]: one run */
    requant_run(&r, y, 0, x, 0, 1, heads * d, x_zp, rq, g);
    return;
  }
  for (int32_t h = 0; h < heads; h++)
    requant_run(&r, y + (size_t)h * rows * d, (size_t)d, x + (size_t)h * d, (size_t)heads * d, rows, d, x_zp, rq, g);
}

/* ---- products of two codes ------------------------------------------------ */

/* The constants of (a - za)(b - zb) in SMLAxy: nza, nzb = -za, -zb in a
 * low half, zz = za zb. */
typedef struct {
  int32_t nza, nzb, zz;
} product_zp;

/* Whether the product loop takes these zero points (-zp an int16, and every
 * product in int32), and the range of (a - za)(b - zb) over int16 codes:
 * from its four corners. */
static int product_range(int32_t za, int32_t zb, product_zp *z, int32_t *lo, int32_t *hi) {
  if (za < -ZP_MAX || za > ZP_MAX || zb < -ZP_MAX || zb > ZP_MAX) return 0;
  const int32_t a0 = INT16_MIN - za, a1 = INT16_MAX - za, b0 = INT16_MIN - zb, b1 = INT16_MAX - zb;
  const int64_t c00 = (int64_t)a0 * b0, c01 = (int64_t)a0 * b1, c10 = (int64_t)a1 * b0, c11 = (int64_t)a1 * b1;
  const int64_t lo0 = c00 < c01 ? c00 : c01, lo1 = c10 < c11 ? c10 : c11;
  const int64_t hi0 = c00 > c01 ? c00 : c01, hi1 = c10 > c11 ? c10 : c11;
  const int64_t l = lo0 < lo1 ? lo0 : lo1, h = hi0 > hi1 ? hi0 : hi1;
  if (l < INT32_MIN || h > INT32_MAX) return 0; /* the product would not fit int32 */
  *lo = (int32_t)l;
  *hi = (int32_t)h;
  z->nza = (int32_t)(uint16_t)(int16_t)-za;
  z->nzb = (int32_t)(uint16_t)(int16_t)-zb;
  z->zz = za * zb;
  return 1;
}

/* How a product's zero points enter: both 0 (SMULBB, SMULTT); only a's
 * (zb = 0: (a - za) b = ab - za b, two SMLAxy); both (three SMLAxy). */
enum { PRODUCT_PLAIN, PRODUCT_ONE, PRODUCT_BOTH };

/* Two products from a word of each input, requantized. The product fits
 * int32 (the prepared range), so the SMLAxy sums, which wrap, end on it
 * exactly. */
INLINE void product_pair(int16_t *y, uint32_t wa, uint32_t wb, const product_zp *z, const kiln_dsp_hi *p, int kind,
                         int mode) {
  int32_t d0, d1;
  if (mode == PRODUCT_PLAIN) {
    d0 = low16(wa) * low16(wb);   /* SMULBB */
    d1 = high16(wa) * high16(wb); /* SMULTT */
  } else if (mode == PRODUCT_ONE) {
    d0 = __smlabb((int32_t)wb, z->nza, low16(wa) * low16(wb));
    d1 = __smlatb((int32_t)wb, z->nza, high16(wa) * high16(wb));
  } else {
    d0 = __smlabb((int32_t)wb, z->nza, __smlabb((int32_t)wa, z->nzb, __smlabb((int32_t)wa, (int32_t)wb, z->zz)));
    d1 = __smlatb((int32_t)wb, z->nza, __smlatb((int32_t)wa, z->nzb, __smlatt((int32_t)wa, (int32_t)wb, z->zz)));
  }
  y[0] = clamp_as(kiln_dsp_hi_value(d0, p), kind, p->qmin, p->qmax);
  y[1] = clamp_as(kiln_dsp_hi_value(d1, p), kind, p->qmin, p->qmax);
}

/* y[i] = requant((a[i] - za)(b[i] - zb)), n values: four a step, then a
 * pair and one. */
INLINE void product_as(int16_t *y, const int16_t *a, const int16_t *b, int32_t n, const product_zp *z_in,
                       const kiln_dsp_hi *p_in, int kind, int mode) {
  const kiln_dsp_hi p = *p_in;
  const product_zp z = *z_in;
  if (n <= 0) return; /* as the portable loop */
  for (const int16_t *const end = y + (n & ~3); y != end; a += 4, b += 4, y += 4) {
    product_pair(y, load32(a), load32(b), &z, &p, kind, mode);
    product_pair(y + 2, load32(a + 2), load32(b + 2), &z, &p, kind, mode);
  }
  if (n & 2) {
    product_pair(y, load32(a), load32(b), &z, &p, kind, mode);
    a += 2, b += 2, y += 2;
  }
  if (n & 1) {
    const int32_t wa = (uint16_t)a[0], wb = (uint16_t)b[0];
    const int32_t d = __smlabb(wb, z.nza, __smlabb(wa, z.nzb, __smlabb(wa, wb, z.zz))); /* any mode: the zero terms add 0 */
    y[0] = clamp_as(kiln_dsp_hi_value(d, &p), kind, p.qmin, p.qmax);
  }
}

/* The product loop for a call's zero points and grid, one instantiation
 * each; a zero point of a alone is moved to b's side (the product is
 * symmetric). */
static void product(int16_t *y, const int16_t *a, const int16_t *b, int32_t n, const product_zp *z_in,
                    const kiln_dsp_hi *p, int kind) {
  product_zp z = *z_in;
  if (z.nza == 0 && z.nzb != 0) {
    const int16_t *const t = a;
    a = b, b = t;
    z.nza = z.nzb, z.nzb = 0;
  }
  const int mode = z.nzb != 0 ? PRODUCT_BOTH : z.nza != 0 ? PRODUCT_ONE : PRODUCT_PLAIN;
  switch (kind * 3 + mode) {
  case CLAMP_S16 * 3 + PRODUCT_PLAIN: product_as(y, a, b, n, &z, p, CLAMP_S16, PRODUCT_PLAIN); break;
  case CLAMP_S16 * 3 + PRODUCT_ONE: product_as(y, a, b, n, &z, p, CLAMP_S16, PRODUCT_ONE); break;
  case CLAMP_S16 * 3 + PRODUCT_BOTH: product_as(y, a, b, n, &z, p, CLAMP_S16, PRODUCT_BOTH); break;
  case CLAMP_U8 * 3 + PRODUCT_PLAIN: product_as(y, a, b, n, &z, p, CLAMP_U8, PRODUCT_PLAIN); break;
  case CLAMP_U8 * 3 + PRODUCT_ONE: product_as(y, a, b, n, &z, p, CLAMP_U8, PRODUCT_ONE); break;
  case CLAMP_U8 * 3 + PRODUCT_BOTH: product_as(y, a, b, n, &z, p, CLAMP_U8, PRODUCT_BOTH); break;
  case CLAMP_S8 * 3 + PRODUCT_PLAIN: product_as(y, a, b, n, &z, p, CLAMP_S8, PRODUCT_PLAIN); break;
  case CLAMP_S8 * 3 + PRODUCT_ONE: product_as(y, a, b, n, &z, p, CLAMP_S8, PRODUCT_ONE); break;
  case CLAMP_S8 * 3 + PRODUCT_BOTH: product_as(y, a, b, n, &z, p, CLAMP_S8, PRODUCT_BOTH); break;
  default: product_as(y, a, b, n, &z, p, CLAMP_ANY, PRODUCT_BOTH); break;
  }
}

/* The same products where the high-word path does not apply (a possible
 * tie, or a shift that would not put the rounding on the high word): each
 * requantized by the prepared exact path (kiln_dsp_rq, |product| <= 2^31);
 * 0 where that does not apply either (the caller then takes the portable
 * kernel). */
static int product_exact(int16_t *y, const int16_t *a, const int16_t *b, int32_t n, const product_zp *z, kiln_rq rq,
                         const kiln_grid *g) {
  kiln_dsp_rq q;
  if (!kiln_dsp_rq_prepare(&q, rq, g, 32)) return 0; /* |product| <= 2^31 < 2^32 */
  for (int32_t i = 0; i < n; i++) {
    const int32_t wa = (uint16_t)a[i], wb = (uint16_t)b[i];
    y[i] = kiln_dsp_requant_prepared(__smlabb(wb, z->nza, __smlabb(wa, z->nzb, __smlabb(wa, wb, z->zz))), &q);
  }
  return 1;
}

/* Prepares a product call: its zero points and its requantization (the
 * product handed as is, pre 0); 0 where the loop does not apply. */
static int product_prepare(product_zp *z, kiln_dsp_hi *p, int32_t za, int32_t zb, kiln_rq rq, const kiln_grid *g) {
  int32_t lo, hi;
  return product_range(za, zb, z, &lo, &hi) && kiln_dsp_hi_prepare(p, rq, g, lo, hi, 0);
}

void kiln_mul_dsp(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                  const kiln_grid *g) {
  product_zp z;
  int32_t lo, hi;
  kiln_dsp_hi p;
  if (!product_range(a_zp, b_zp, &z, &lo, &hi)) {
    kiln_mul(y, a, a_zp, b, b_zp, n, rq, g);
  } else if (kiln_dsp_hi_prepare(&p, rq, g, lo, hi, 0)) {
    product(y, a, b, n, &z, &p, clamp_kind(g));
  } else if (!product_exact(y, a, b, n, &z, rq, g)) {
    kiln_mul(y, a, a_zp, b, b_zp, n, rq, g);
  }
}

void kiln_mul_rows_dsp(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                       int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  product_zp z;
  kiln_dsp_hi p;
  if (!product_prepare(&z, &p, x_zp, t_zp, rq, g)) {
    kiln_mul_rows(y, x, x_zp, table, t_zp, rows, heads, d, rq, g);
    return;
  }
  const int kind = clamp_kind(g);
  for (int32_t s = 0; s < rows; s++) {
    const int16_t *t = table + (size_t)s * d;
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      product(y + base, x + base, t, d, &z, &p, kind);
    }
  }
}

/* ---- RMSNorm ----------------------------------------------------------------- */

/* sum (x - zp)^2 over n values, modulo 2^64 as the portable sum: sum x^2
 * (SMLALD, exact in int64) - 2 zp sum x (SMLAD, exact in int32 for n <=
 * ROWS_MAX_N) + n zp^2, the same integer. */
static uint64_t sum_squares(const int16_t *x, int32_t n, int32_t zp) {
  const uint32_t ones = 0x00010001u; /* SMLAD against it: the two codes' sum */
  int64_t sq = 0;
  int32_t sum = 0, i = 0;
  for (; i + 2 <= n; i += 2) {
    const uint32_t w = load32(x + i);
    sq = __smlald((int32_t)w, (int32_t)w, sq);
    sum = __smlad((int32_t)w, (int32_t)ones, sum);
  }
  if (i < n) sq += x[i] * x[i], sum += x[i];
  return (uint64_t)sq - 2u * (uint64_t)(int64_t)zp * (uint64_t)(int64_t)sum + (uint64_t)n * (uint64_t)((int64_t)zp * zp);
}

/* kiln_rmsnorm_square's t and k: its loops, which shift t two bits at a time
 * into [2^60, 2^62), as one shift found from t's length. */
static uint64_t norm_square(uint64_t ss, const kiln_norm_rq *p, int32_t *k) {
  uint64_t t = (ss << p->frac_bits) + p->eps_term;
  *k = 0;
  if (t == 0) return 0;
  const int32_t len = 64 - __builtin_clzll(t);
  if (len <= 60) { /* shifted up while below 2^60: until 61 or 62 bits long */
    *k = (62 - len) / 2;
    t <<= 2 * *k;
  } else if (len >= 63) { /* shifted down once to 61 or 62 bits */
    t >>= 2;
    *k = -1;
  }
  return t;
}

/* A row of RMSNorm through the product loop; 0 where it does not apply. */
static int rmsnorm_row(int16_t *yr, const int16_t *xr, int32_t x_zp, int32_t n, const int16_t *gamma, int32_t gamma_zp,
                       const kiln_norm_rq *p, const kiln_grid *g) {
  product_zp z;
  int32_t lo, hi;
  if (n > ROWS_MAX_N || !product_range(gamma_zp, x_zp, &z, &lo, &hi)) return 0;
  int32_t k;
  const uint64_t t = norm_square(sum_squares(xr, n, x_zp), p, &k);
  if (t == 0) {
    for (int32_t j = 0; j < n; j++) yr[j] = kiln_to_grid(0, g);
    return 1;
  }
  const kiln_rq rq = kiln_rmsnorm_scale(kiln_dsp_isqrt62(t), k, p);
  kiln_dsp_hi row;
  if (!kiln_dsp_hi_prepare(&row, rq, g, lo, hi, 0)) return product_exact(yr, gamma, xr, n, &z, rq, g);
  product(yr, gamma, xr, n, &z, &row, clamp_kind(g));
  return 1;
}

void kiln_rmsnorm_dsp(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                      int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    if (!rmsnorm_row(yr, xr, x_zp, n, gamma, gamma_zp, p, g)) kiln_rmsnorm(yr, xr, x_zp, 1, n, gamma, gamma_zp, p, g);
  }
}

/* ---- sums ---------------------------------------------------------------------- */

/* One value of a sum: w = c + sum x_i 2^16 m_i (SMULL, SMLAL: exact in int64
 * by the prepared bound); with every zero point 0 the constant's low word is
 * 0 and it adds to the high word alone. */
INLINE int16_t sum_one(int32_t xa, int32_t xb, int32_t xc, const kiln_dsp_sum *p, int three, int plain, int kind) {
  int64_t w = (int64_t)xa * p->m[0] + (int64_t)xb * p->m[1];
  if (three) w += (int64_t)xc * p->m[2];
  int32_t hi;
  uint32_t lo;
  if (plain) {
    hi = (int32_t)(w >> 32) + p->c_hi;
    lo = (uint32_t)w;
  } else {
    w += (int64_t)((uint64_t)(uint32_t)p->c_hi << 32 | p->c_lo);
    hi = (int32_t)(w >> 32);
    lo = (uint32_t)w;
  }
  return clamp_as(kiln_dsp_sum_value(hi, lo, p), kind, p->qmin, p->qmax);
}

/* One value a step: codes as int16 loads shifted up (with their constants
 * and pointers, a pair a step would not fit the registers). */
INLINE void add_as(int16_t *y, const int16_t *a, const int16_t *b, const int16_t *c, int32_t n, const kiln_dsp_sum *p_in,
                   int kind, int three, int plain) {
  const kiln_dsp_sum p = *p_in;
  for (; n > 0; n--) {
    const int32_t xa = *a++ * 65536, xb = *b++ * 65536; /* -2^31 at the least: int32 */
    y[0] = sum_one(xa, xb, three ? *c++ * 65536 : 0, &p, three, plain, kind);
    y++;
  }
}

void kiln_add_dsp(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                  int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g) {
  const int32_t zp[3] = { a_zp, b_zp, c_zp };
  const int three = c != NULL;
  kiln_dsp_sum p;
  if (!kiln_dsp_sum_prepare(&p, rq, zp, three ? 3 : 2, g)) {
    kiln_add(y, a, a_zp, b, b_zp, c, c_zp, n, rq, g);
    return;
  }
  const int plain = p.c_lo == 0;
  switch (clamp_kind(g) * 4 + three * 2 + plain) {
  case CLAMP_S16 * 4 + 3: add_as(y, a, b, c, n, &p, CLAMP_S16, 1, 1); break;
  case CLAMP_S16 * 4 + 2: add_as(y, a, b, c, n, &p, CLAMP_S16, 1, 0); break;
  case CLAMP_S16 * 4 + 1: add_as(y, a, b, c, n, &p, CLAMP_S16, 0, 1); break;
  case CLAMP_S16 * 4: add_as(y, a, b, c, n, &p, CLAMP_S16, 0, 0); break;
  case CLAMP_U8 * 4 + 3: add_as(y, a, b, c, n, &p, CLAMP_U8, 1, 1); break;
  case CLAMP_U8 * 4 + 2: add_as(y, a, b, c, n, &p, CLAMP_U8, 1, 0); break;
  case CLAMP_U8 * 4 + 1: add_as(y, a, b, c, n, &p, CLAMP_U8, 0, 1); break;
  case CLAMP_U8 * 4: add_as(y, a, b, c, n, &p, CLAMP_U8, 0, 0); break;
  default: add_as(y, a, b, c, n, &p, CLAMP_ANY, three, 0); break;
  }
}
