/*
 * Portable integer kernels: plain loops, the semantics every other target
 * reproduces bit for bit. See kiln_rt.h for the conventions.
 */
#include "kiln_rt.h"

#include <stddef.h>

/* The fast paths (int16 differences into int32 sums, which compilers turn
 * into vector multiply-adds) give the same integers as the exact int64
 * loops beside them, which every call can fall back to. Under -Os (gcc and
 * clang define __OPTIMIZE_SIZE__: microcontroller images, scalar cores where
 * int64 multiply-accumulate is one instruction anyway) they are compiled
 * out, and only the compact exact loops remain. */
#ifdef __OPTIMIZE_SIZE__
#define KILN_FAST_PATHS 0
#else
#define KILN_FAST_PATHS 1
#endif

void kiln_requant(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++) y[i] = kiln_requant_to_grid((int64_t)x[i] - x_zp, rq, g);
}

void kiln_take_half(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                    const kiln_grid *g) {
  const int32_t h = d / 2;
  for (int32_t r = 0; r < rows; r++)
    kiln_requant(y + (size_t)r * h, x + (size_t)r * d + (which ? h : 0), h, x_zp, rq, g);
}

void kiln_concat_halves(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                        kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    kiln_requant(y + (size_t)r * 2 * h, a + (size_t)r * h, h, a_zp, a_rq, g);
    kiln_requant(y + (size_t)r * 2 * h + h, b + (size_t)r * h, h, b_zp, b_rq, g);
  }
}

void kiln_heads_first(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp, kiln_rq rq,
                      const kiln_grid *g) {
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++)
      kiln_requant(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, d, x_zp, rq, g);
}

void kiln_mul_rows(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                   int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  for (int32_t s = 0; s < rows; s++) {
    const int16_t *t = table + (size_t)s * d;
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      for (int32_t e = 0; e < d; e++) {
        const int64_t prod = (int64_t)(x[base + e] - x_zp) * (t[e] - t_zp);
        y[base + e] = kiln_requant_to_grid(prod, rq, g);
      }
    }
  }
}

void kiln_add(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
              int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++) {
    int64_t acc = (int64_t)(a[i] - a_zp) * rq->ma + (int64_t)(b[i] - b_zp) * rq->mb;
    if (c) acc += (int64_t)(c[i] - c_zp) * rq->mc;
    y[i] = kiln_to_grid(kiln_shift_rhe(acc, rq->shift), g);
  }
}

void kiln_mul(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
              const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++)
    y[i] = kiln_requant_to_grid((int64_t)(a[i] - a_zp) * (b[i] - b_zp), rq, g);
}

uint64_t kiln_rmsnorm_square(uint64_t ss, const kiln_norm_rq *p, int32_t *k) {
  /* sum + eps_term in Q(frac_bits); the generator keeps it below 2^62 */
  uint64_t t = (ss << p->frac_bits) + p->eps_term;
  *k = 0;
  if (t == 0) return 0; /* an all-zero row with eps 0: the output is zero */
  /* sqrt(t) = isqrt(t * 4^k) / 2^k with t * 4^k in [2^60, 2^62): 30 bits */
  while (t < ((uint64_t)1 << 60)) { t <<= 2; (*k)++; }
  while (t >= ((uint64_t)1 << 62)) { t >>= 2; (*k)--; }
  return t;
}

kiln_rq kiln_rmsnorm_scale(uint64_t root, int32_t k, const kiln_norm_rq *p) {
  uint64_t mant = ((uint64_t)p->gain.mult << 31) / root;
  int32_t shift = p->gain.shift + 31 - p->frac_bits / 2 - k;
  if (mant >= ((uint64_t)1 << 31)) { mant >>= 1; shift--; }
  const kiln_rq row = { (int32_t)mant, shift };
  return row;
}

void kiln_rmsnorm(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                  int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    uint64_t ss = 0;
    for (int32_t j = 0; j < n; j++) {
      const int64_t v = (int64_t)xr[j] - x_zp;
      ss += (uint64_t)(v * v);
    }
    int32_t k;
    const uint64_t t = kiln_rmsnorm_square(ss, p, &k);
    if (t == 0) {
      for (int32_t j = 0; j < n; j++) yr[j] = kiln_to_grid(0, g);
      continue;
    }
    const kiln_rq row = kiln_rmsnorm_scale(kiln_isqrt(t), k, p);
    for (int32_t j = 0; j < n; j++) {
      const int64_t prod = (int64_t)(gamma[j] - gamma_zp) * ((int64_t)xr[j] - x_zp);
      yr[j] = kiln_requant_to_grid(prod, row, g);
    }
  }
}

/* One 8-bit weight code, unsigned or signed storage. */
static int32_t weight8(const void *w, size_t i, int is_signed) {
  return is_signed ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i];
}

/* The exact general case: any zero points, int64 sums of int32 blocks. */
static void linear8_exact(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const void *w,
                          int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    for (int32_t o = 0; o < n_out; o++) {
      const size_t row = (size_t)o * n_in;
      const int32_t zw = w_zp[o];
      int64_t acc = 0;
      int32_t i = 0;
      /* |x - zp| < 2^16 and |w - zp| < 2^9: 32 products fit an int32 */
      for (; i + 32 <= n_in; i += 32) {
        int32_t part = 0;
        for (int32_t k = i; k < i + 32; k++) part += (int32_t)(xr[k] - x_zp) * (weight8(w, row + k, is_signed) - zw);
        acc += part;
      }
      for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (weight8(w, row + i, is_signed) - zw);
      y[(size_t)r * n_out + o] = kiln_requant_to_grid(acc, rq[o], g);
    }
  }
}

/* The fast case works on int16 differences: xd = x - x_zp and wd = w - w_zp,
 * so that each product is int16 x int16 -> int32 (pmaddwd, smlal). It holds
 * when x_zp and every xd fit int16 (checked over the call's inputs) and
 * every weight zero point lies on the weight's own 8-bit range, so
 * |wd| <= 255. Signed weights are read as bytes with the sign bit flipped
 * (w ^ 0x80 = w + 128, in [0, 255]) and their zero point moved by 128 too,
 * which leaves wd unchanged: one loop serves both storage types. */
#define LINEAR8_SIGN_FLIP 0x80
#define LINEAR8_SIGNED_OFFSET 128 /* what the flip adds to a signed code */
#define LINEAR8_ROWS 4 /* weight rows a pass: each input value loaded once for four products */
/* Inputs a block, summed in int32: |xd| <= 2^15 and |wd| <= 255, so a product
 * is at most 32768 * 255 = 8,355,840 in magnitude and 256 of them at most
 * 2,139,095,040 < 2^31, in any order of addition. Blocks add up in int64. */
#define LINEAR8_BLOCK 256

/* Whether x_zp and every x - x_zp of n values fit int16. */
static int diffs_fit_int16(const int16_t *x, int32_t n, int32_t x_zp) {
  if (x_zp < INT16_MIN || x_zp > INT16_MAX) return 0;
  int32_t lo = INT16_MAX, hi = INT16_MIN;
  for (int32_t i = 0; i < n; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  return n == 0 || (lo - x_zp >= INT16_MIN && hi - x_zp <= INT16_MAX);
}

/* Whether every weight zero point lies on the 8-bit storage range. */
static int weight_zps_fit(const int32_t *w_zp, int32_t n_out, int is_signed) {
  const int32_t lo = is_signed ? INT8_MIN : 0, hi = is_signed ? INT8_MAX : UINT8_MAX;
  for (int32_t o = 0; o < n_out; o++)
    if (w_zp[o] < lo || w_zp[o] > hi) return 0;
  return 1;
}

/* sums[j] += sum_{i < len} xd[i] * wd_j[i] for four weight rows w[j] (bytes,
 * flip applied) with zero points zw[j] (flip applied); len <= LINEAR8_BLOCK,
 * so each row's sum fits int32. */
static void dot4_block(int64_t sums[LINEAR8_ROWS], const int16_t *x, int16_t x_zp, const uint8_t *const w[LINEAR8_ROWS],
                       uint8_t flip, const int16_t zw[LINEAR8_ROWS], int32_t len) {
  const uint8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  const int16_t z0 = zw[0], z1 = zw[1], z2 = zw[2], z3 = zw[3];
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int32_t i = 0; i < len; i++) {
    const int16_t xd = (int16_t)(x[i] - x_zp);
    s0 += xd * (int16_t)((w0[i] ^ flip) - z0);
    s1 += xd * (int16_t)((w1[i] ^ flip) - z1);
    s2 += xd * (int16_t)((w2[i] ^ flip) - z2);
    s3 += xd * (int16_t)((w3[i] ^ flip) - z3);
  }
  sums[0] += s0;
  sums[1] += s1;
  sums[2] += s2;
  sums[3] += s3;
}

/* Output channels [o, o + 4) for every input row. The four weight rows stay
 * in cache while the input rows pass by, so each weight row is read from
 * memory once a call. Past n_out the last row is repeated and its results
 * dropped. */
static void linear8_rows4(int16_t *y, const int16_t *x, int16_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                          uint8_t flip, const int32_t *w_zp, int32_t o, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g) {
  const uint8_t *wj[LINEAR8_ROWS];
  int16_t zw[LINEAR8_ROWS];
  const int32_t valid = n_out - o < LINEAR8_ROWS ? n_out - o : LINEAR8_ROWS;
  for (int32_t j = 0; j < LINEAR8_ROWS; j++) {
    const int32_t oj = o + (j < valid ? j : valid - 1);
    wj[j] = w + (size_t)oj * n_in;
    zw[j] = (int16_t)(w_zp[oj] + (flip ? LINEAR8_SIGNED_OFFSET : 0));
  }
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int64_t sums[LINEAR8_ROWS] = { 0, 0, 0, 0 };
    for (int32_t i = 0; i < n_in; i += LINEAR8_BLOCK) {
      const uint8_t *wb[LINEAR8_ROWS] = { wj[0] + i, wj[1] + i, wj[2] + i, wj[3] + i };
      dot4_block(sums, xr + i, x_zp, wb, flip, zw, n_in - i < LINEAR8_BLOCK ? n_in - i : LINEAR8_BLOCK);
    }
    for (int32_t j = 0; j < valid; j++) y[(size_t)r * n_out + o + j] = kiln_requant_to_grid(sums[j], rq[o + j], g);
  }
}

static void linear8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const void *w,
                    int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  if (!KILN_FAST_PATHS || !diffs_fit_int16(x, rows * n_in, x_zp) || !weight_zps_fit(w_zp, n_out, is_signed)) {
    linear8_exact(y, x, x_zp, rows, n_in, w, is_signed, w_zp, n_out, rq, g);
    return;
  }
  const int16_t zx = (int16_t)x_zp;
  const uint8_t flip = is_signed ? LINEAR8_SIGN_FLIP : 0;
  for (int32_t o = 0; o < n_out; o += LINEAR8_ROWS)
    linear8_rows4(y, x, zx, rows, n_in, (const uint8_t *)w, flip, w_zp, o, n_out, rq, g);
}

void kiln_linear8_by_rows(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const void *w,
                          int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                          kiln_row_dot8 row_dot) {
  const size_t row_bytes = (size_t)n_in; /* one byte a weight */
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    for (int32_t o = 0; o < n_out; o++) {
      const int64_t acc = row_dot(xr, x_zp, (const uint8_t *)w + (size_t)o * row_bytes, w_zp[o], n_in, is_signed);
      y[(size_t)r * n_out + o] = kiln_requant_to_grid(acc, rq[o], g);
    }
  }
}

void kiln_linear_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g);
}

void kiln_linear_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g);
}

void kiln_linear_s16(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int16_t *w,
                     const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    for (int32_t o = 0; o < n_out; o++) {
      const int16_t *wo = w + (size_t)o * n_in;
      const int32_t zw = w_zp[o];
      int64_t acc = 0;
      for (int32_t i = 0; i < n_in; i++) acc += (int64_t)(xr[i] - x_zp) * (wo[i] - zw);
      y[(size_t)r * n_out + o] = kiln_requant_to_grid(acc, rq[o], g);
    }
  }
}

void kiln_sigmoid(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                  const kiln_grid *g) {
  const uint64_t one = (uint64_t)1 << 31;
  for (int32_t i = 0; i < n; i++) {
    const int32_t v = x[i] - x_zp;
    const uint64_t e = kiln_exp_q31_inline(lut, v >= 0 ? v : -v); /* exp(-|x|) */
    /* x >= 0: 1 / (1 + e); x < 0: e / (1 + e); both in Q31 */
    const uint64_t sig = kiln_div_rhe((v >= 0 ? one : e) << 31, one + e);
    y[i] = kiln_requant_to_grid((int64_t)sig, rq, g);
  }
}

void kiln_lookup(int16_t *y, const int16_t *x, int32_t n, int32_t x_min, const int16_t *table) {
  for (int32_t i = 0; i < n; i++) y[i] = table[x[i] - x_min];
}

/* ---- attention ---------------------------------------------------------- */

static int64_t dot(const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t d) {
  int64_t acc = 0;
  for (int32_t e = 0; e < d; e++) acc += (int64_t)(a[e] - a_zp) * (b[e] - b_zp);
  return acc;
}

/* The fast q . k works on qd = q - q_zp as int16 (checked once a row) and on
 * the raw key codes, split into bytes so that every product stays small:
 * k = 256 * hi + lo with hi = k >> 8 in [-128, 127] and lo = k & 255 in
 * [0, 255] (the arithmetic shift of a negative value is implementation-
 * defined in C99; gcc, clang and every compiler kiln targets shift in the
 * sign), so
 *   sum qd (k - zk) = 256 sum qd hi + sum qd lo - zk sum qd.
 * |qd| <= 2^15, so each byte product is at most 32768 * 255 = 8,355,840 and
 * QK_MAX_D = 256 of them at most 2,139,095,040 < 2^31: both byte sums fit
 * int32 in any order of addition (pmaddwd, smlal). */
#define QK_MAX_D 256
#define QK_LANES 8 /* values a step: a fixed-width inner loop that vectorizes for d = 8 too */

static inline void split_mac(int32_t *hi, int32_t *lo, int16_t qd, int16_t k) {
  *hi += qd * (int16_t)(k >> 8);
  *lo += qd * (int16_t)(k & 0xFF);
}

/* sum qd . k over d <= QK_MAX_D values, from its two byte sums. */
static int64_t dot_split(const int16_t *q, int16_t q_zp, const int16_t *k, int32_t d) {
  int32_t hi = 0, lo = 0, e = 0;
  for (; e + QK_LANES <= d; e += QK_LANES)
    for (int32_t j = 0; j < QK_LANES; j++) split_mac(&hi, &lo, (int16_t)(q[e + j] - q_zp), k[e + j]);
  for (; e < d; e++) split_mac(&hi, &lo, (int16_t)(q[e] - q_zp), k[e]);
  return 256 * (int64_t)hi + lo;
}

/* Sum of n values minus a zero point, and whether the zero point and every
 * difference fit int16. */
static int sum_diffs_int16(const int16_t *x, int32_t n, int32_t x_zp, int64_t *sum) {
  *sum = 0;
  if (!diffs_fit_int16(x, n, x_zp)) return 0;
  int32_t s = 0; /* n <= QK_MAX_D values of at most 2^15 in magnitude */
  for (int32_t i = 0; i < n; i++) s += x[i] - x_zp;
  *sum = s;
  return 1;
}

/* logits of one kv segment: len keys of d values. */
static void qk_segment(int16_t *logits, const int16_t *q, int32_t q_zp, const int16_t *k, int32_t len, int32_t zk,
                       int32_t d, int fast, int64_t q_sum, kiln_rq rq, const kiln_grid *g) {
  const int64_t bias = (int64_t)zk * q_sum;
  for (int32_t t = 0; t < len; t++) {
    const int16_t *kt = k + (size_t)t * d;
    const int64_t acc = fast ? dot_split(q, (int16_t)q_zp, kt, d) - bias : dot(q, q_zp, kt, zk, d);
    logits[t] = kiln_requant_to_grid(acc, rq, g);
  }
}

void kiln_qk_row(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                 const kiln_grid *g) {
  int64_t q_sum = 0;
  const int fast = KILN_FAST_PATHS && d <= QK_MAX_D && sum_diffs_int16(q, d, q_zp, &q_sum);
  qk_segment(logits, q, q_zp, k->past, k->n_past, k->zero_point, d, fast, q_sum, rq, g);
  qk_segment(logits + k->n_past, q, q_zp, k->fresh, k->n_fresh, k->zero_point, d, fast, q_sum, rq, g);
}

void kiln_softmax_row(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq, const kiln_grid *g) {
  int16_t mx = x[0];
  for (int32_t t = 1; t < n; t++)
    if (x[t] > mx) mx = x[t];
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) sum += kiln_exp_q31_inline(lut, mx - x[t]);
  /* one division a row: prob = e / sum in Q31 as e * (2^62 / sum) / 2^31;
   * the largest term is 2^31, so sum >= 2^31 and the reciprocal < 2^31 */
  const uint64_t inv = kiln_softmax_reciprocal(sum);
  for (int32_t t = 0; t < n; t++) {
    const uint64_t prob = kiln_softmax_prob(kiln_exp_q31_inline(lut, mx - x[t]), inv);
    p[t] = kiln_requant_to_grid((int64_t)prob, rq, g);
  }
}

/* The fast p . v works on pd = p - p_zp as int16 and on the raw value codes
 * (|v| <= 2^15), with sum_t pd (v - zv) = sum_t pd v - zv sum_t pd. When the
 * row's sum_t |pd| is below 2^16 (probabilities sum to about 1 / s_p, far
 * below it), every |sum pd v| is below 2^16 * 2^15 = 2^31: int32 sums, in any
 * order. The output dimensions go up to PV_CHUNK at a time into a small
 * local array, the inner loop running along a value row (contiguous). */
#define PV_CHUNK 64 /* 256 bytes of stack */
#define PV_MAX_ABS_SUM 65536

/* Whether p - p_zp fits int16 for the row, with sum |p - p_zp| below
 * PV_MAX_ABS_SUM; *sum = sum (p - p_zp). */
static int pv_fits_int32(const int16_t *p, int32_t n, int32_t p_zp, int64_t *sum) {
  *sum = 0;
  if (!diffs_fit_int16(p, n, p_zp)) return 0;
  int64_t s = 0, abs_sum = 0;
  for (int32_t t = 0; t < n; t++) {
    const int32_t pd = p[t] - p_zp;
    s += pd;
    abs_sum += pd < 0 ? -pd : pd;
  }
  *sum = s;
  return abs_sum < PV_MAX_ABS_SUM;
}

/* acc[j] += sum_t pd[t] * v[t][e0 + j], j < width, over the len keys of one
 * segment ([len][d]). */
static void pv_chunk(int32_t *acc, int32_t width, const int16_t *p, int16_t p_zp, const int16_t *v, int32_t len,
                     int32_t d, int32_t e0) {
  for (int32_t t = 0; t < len; t++) {
    const int16_t pd = (int16_t)(p[t] - p_zp);
    const int16_t *vt = v + (size_t)t * d + e0;
    for (int32_t j = 0; j < width; j++) acc[j] += pd * vt[j];
  }
}

/* out[e] for one output dimension, exactly, in int64. */
static int64_t pv_exact(const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, int32_t e) {
  int64_t acc = 0;
  for (int32_t t = 0; t < v->n_past; t++) acc += (int64_t)(p[t] - p_zp) * (v->past[(size_t)t * d + e] - v->zero_point);
  for (int32_t t = 0; t < v->n_fresh; t++)
    acc += (int64_t)(p[v->n_past + t] - p_zp) * (v->fresh[(size_t)t * d + e] - v->zero_point);
  return acc;
}

void kiln_pv_row(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                 const kiln_grid *g) {
  int64_t p_sum = 0;
  if (!KILN_FAST_PATHS || !pv_fits_int32(p, v->n_past + v->n_fresh, p_zp, &p_sum)) {
    for (int32_t e = 0; e < d; e++) out[e] = kiln_requant_to_grid(pv_exact(p, p_zp, v, d, e), rq, g);
    return;
  }
  const int64_t bias = (int64_t)v->zero_point * p_sum;
  for (int32_t e = 0; e < d; e += PV_CHUNK) {
    const int32_t width = d - e < PV_CHUNK ? d - e : PV_CHUNK;
    int32_t acc[PV_CHUNK];
    for (int32_t j = 0; j < width; j++) acc[j] = 0;
    pv_chunk(acc, width, p, (int16_t)p_zp, v->past, v->n_past, d, e);
    pv_chunk(acc, width, p + v->n_past, (int16_t)p_zp, v->fresh, v->n_fresh, d, e);
    for (int32_t j = 0; j < width; j++) out[e + j] = kiln_requant_to_grid(acc[j] - bias, rq, g);
  }
}

int32_t kiln_argmax(const int16_t *x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}
