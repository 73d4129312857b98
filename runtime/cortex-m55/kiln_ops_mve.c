/*
 * Elementwise kernels for Armv8.1-M with Helium: requantization and the
 * products of kiln_rt.h (kiln_requant, kiln_mul, kiln_mul_rows and the
 * moves built on requantization), four values a step in int32 lanes, a
 * last partial step predicated (VCTP). The same integers as the portable kernels:
 * each value's accumulator fits int32 (a code minus its zero point, or a
 * product of two such within int16: |product| <= 2^30), and kiln_mve_quot_high
 * or _low gives kiln_scale's quotient (capped where kiln_to_grid clamps
 * anyway). A product whose factors do not both fit int16, or a multiplier
 * whose shift lies outside 1 to 63, takes the portable kernel.
 */
#include "kiln_rt_mve.h"
#include "kiln_mve_scale.h"

#include <arm_mve.h>
#include <stddef.h>

#define LANES 4 /* int32 lanes */
#define INT16_ABS 32768

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* kiln_scale in lanes for |acc| < 2^31, the multiplier's kind a constant
 * where the loops below are inlined (one loop for each, no test inside). */
ALWAYS_INLINE int32x4_t scale_as(int32x4_t acc, const kiln_mve_shift *k, int high) {
  const uint32x4_t a = kiln_mve_magnitude(acc);
  return kiln_mve_signed(high ? kiln_mve_quot_high(a, k) : kiln_mve_quot_low(a, k, KILN_MVE_CAP), acc);
}

/* kiln_scale in lanes for |acc| < 2^(s - 1), s the shift, 18 to 32: with
 * the accumulator shifted left by 33 - s (still below 2^32) the quotient is
 * the same and its shift 33, kiln_mve_round_high with t = 1 in immediates. */
ALWAYS_INLINE int32x4_t scale_mid(int32x4_t acc, uint32x4_t m, int32_t left) {
  const uint32x4_t a = vshlq_r_u32(kiln_mve_magnitude(acc), left);
  const uint32x4_t h = vmulhq_u32(a, m), l = vmulq_u32(a, m);
  const uint32x4_t no_carry = vshrq_n_u32(vclzq_u32(vorrq_u32(vshlq_n_u32(vshrq_n_u32(h, 1), 31), l)), 5);
  const uint32x4_t q = vreinterpretq_u32_s32(vrshrq_n_s32(vreinterpretq_s32_u32(vsubq_u32(h, no_carry)), 1));
  return kiln_mve_signed(q, acc);
}

/* Requantizes count segments of len values, segment j from x + j * x_step
 * to y + j * y_step: kiln_requant, and the moves built on it. The loop
 * reads the grid and the multiplier from local copies, which no store can
 * change (a store through y could, for all the compiler knows, change *g).
 * mode: 0, 1 kiln_mve_shift low or high; 2 scale_mid (shift rq.shift). */
ALWAYS_INLINE void segments_as(int16_t *y, size_t y_step, const int16_t *x, size_t x_step, int32_t count, int32_t len,
                               int32_t x_zp, const kiln_mve_rq *u, kiln_rq rq, const kiln_grid *g_in, int mode) {
  const kiln_grid grid = *g_in, *g = &grid;
  const kiln_mve_shift k = u->k;
  const uint32x4_t m = vdupq_n_u32((uint32_t)rq.mult);
  const int32_t left = 33 - rq.shift;
#define SCALE(acc) (mode == 2 ? scale_mid((acc), m, left) : scale_as((acc), &k, mode))
  for (int32_t j = 0; j < count; j++, y += y_step, x += x_step) {
    int32_t i = 0;
    for (; i + LANES <= len; i += LANES) kiln_mve_store_grid4(y + i, SCALE(vsubq_n_s32(vldrhq_s32(x + i), x_zp)), g);
    if (i < len) {
      const mve_pred16_t p = vctp32q((uint32_t)(len - i));
      kiln_mve_store_grid4_p(y + i, SCALE(vsubq_n_s32(vldrhq_z_s32(x + i, p), x_zp)), g, p);
    }
  }
#undef SCALE
}

static void requant_segments(int16_t *y, size_t y_step, const int16_t *x, size_t x_step, int32_t count, int32_t len,
                             int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  kiln_mve_rq u;
  /* |x - x_zp| < 2^31 for any int16 code when |x_zp| < 2^30 */
  if (!kiln_mve_uniform(rq, &u) || x_zp > (1 << 30) || x_zp < -(1 << 30)) {
    for (int32_t j = 0; j < count; j++) kiln_requant(y + j * y_step, x + j * x_step, len, x_zp, rq, g);
  } else if (u.high) {
    segments_as(y, y_step, x, x_step, count, len, x_zp, &u, rq, g, 1);
  } else if (rq.shift >= 18 && x_zp >= -(1 << 15) && x_zp <= 1 << 15) {
    /* |x - x_zp| <= 2^16 < 2^(shift - 1) */
    segments_as(y, y_step, x, x_step, count, len, x_zp, &u, rq, g, 2);
  } else {
    segments_as(y, y_step, x, x_step, count, len, x_zp, &u, rq, g, 0);
  }
}

void kiln_requant_mve(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  requant_segments(y, 0, x, 0, 1, n, x_zp, rq, g);
}

void kiln_take_half_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                        const kiln_grid *g) {
  const int32_t h = d / 2;
  requant_segments(y, (size_t)h, x + (which ? h : 0), (size_t)d, rows, h, x_zp, rq, g);
}

void kiln_concat_halves_mve(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                            kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  requant_segments(y, 2 * (size_t)h, a, (size_t)h, rows, h, a_zp, a_rq, g);
  requant_segments(y + h, 2 * (size_t)h, b, (size_t)h, rows, h, b_zp, b_rq, g);
}

void kiln_heads_first_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                          kiln_rq rq, const kiln_grid *g) {
  for (int32_t h = 0; h < heads; h++)
    requant_segments(y + (size_t)h * rows * d, (size_t)d, x + (size_t)h * d, (size_t)heads * d, rows, d, x_zp, rq, g);
}

/* Whether a code minus its zero point fits int16 for all four lanes (the
 * products then fit int32). */
static inline int fits16(int32x4_t d) {
  return vmaxavq_s32(0, d) <= INT16_ABS;
}

/* y = (a - za)(b - zb) over n values, requantized; returns how many, fewer
 * where a step's factors do not fit int16 (its values then left to the
 * caller). */
ALWAYS_INLINE int32_t mul_as(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n,
                             const kiln_mve_rq *u_in, const kiln_grid *g_in, int high) {
  const kiln_grid grid = *g_in, *g = &grid;
  const kiln_mve_shift k = u_in->k;
  int32_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    const int32x4_t da = vsubq_n_s32(vldrhq_s32(a + i), a_zp), db = vsubq_n_s32(vldrhq_s32(b + i), b_zp);
    if (!fits16(da) || !fits16(db)) return i;
    kiln_mve_store_grid4(y + i, scale_as(vmulq_s32(da, db), &k, high), g);
  }
  if (i < n) {
    const mve_pred16_t p = vctp32q((uint32_t)(n - i));
    const int32x4_t da = vsubq_n_s32(vldrhq_z_s32(a + i, p), a_zp), db = vsubq_n_s32(vldrhq_z_s32(b + i, p), b_zp);
    if (!fits16(da) || !fits16(db)) return i;
    kiln_mve_store_grid4_p(y + i, scale_as(vmulq_s32(da, db), &k, high), g, p);
  }
  return n;
}

/* The same eight values a step, where a code minus its zero point fits
 * int16 (always, for zero points of 0; else checked a step: no saturating
 * difference at the int16 range's ends): VMULLB / VMULLT give the even and
 * odd lanes' products in int32 (|product| <= 2^30), requantized in two
 * halves, and VMOVNB / VMOVNT put the codes (within the grid, so within
 * int16) back in order. Returns how many values it wrote, fewer where a
 * step's differences do not fit (from there on, mul_as). */
ALWAYS_INLINE int16x8_t mul8_codes(int16x8_t da, int16x8_t db, const kiln_mve_shift *k, int32x4_t lo, int32x4_t hi,
                                   int32_t zg, int high, int full16) {
  const int32x4_t even = vaddq_n_s32(scale_as(vmullbq_int_s16(da, db), k, high), zg);
  const int32x4_t odd = vaddq_n_s32(scale_as(vmulltq_int_s16(da, db), k, high), zg);
  if (full16) /* a grid of all int16: the clamp is VQMOVN's saturation */
    return vqmovntq_s32(vqmovnbq_s32(vdupq_n_s16(0), even), odd);
  const int16x8_t r = vmovnbq_s32(vdupq_n_s16(0), vminq_s32(vmaxq_s32(even, lo), hi));
  return vmovntq_s32(r, vminq_s32(vmaxq_s32(odd, lo), hi));
}

ALWAYS_INLINE int32_t mul8_as(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n,
                              const kiln_mve_rq *u_in, const kiln_grid *g, int high, int zero_zp, int full16) {
  const kiln_mve_shift k = u_in->k;
  const int32x4_t lo = vdupq_n_s32(g->qmin), hi = vdupq_n_s32(g->qmax);
  const int32_t zg = g->zero_point;
  const int16_t za = (int16_t)a_zp, zb = (int16_t)b_zp;
  int32_t i = 0;
  for (; i < n; i += 2 * LANES) {
    const mve_pred16_t p = vctp16q((uint32_t)(n - i));
    const int16x8_t va = i + 2 * LANES <= n ? vldrhq_s16(a + i) : vldrhq_z_s16(a + i, p);
    const int16x8_t vb = i + 2 * LANES <= n ? vldrhq_s16(b + i) : vldrhq_z_s16(b + i, p);
    int16x8_t da = va, db = vb;
    if (!zero_zp) {
      /* saturating differences: exact below 32767 in magnitude (VMAXAV) */
      da = vqsubq_n_s16(va, za);
      db = vqsubq_n_s16(vb, zb);
      if (vmaxavq_s16(vmaxavq_s16(0, da), db) >= INT16_MAX) return i;
    }
    const int16x8_t r = mul8_codes(da, db, &k, lo, hi, zg, high, full16);
    if (i + 2 * LANES <= n)
      vstrhq_s16(y + i, r);
    else
      vstrhq_p_s16(y + i, r, p);
  }
  return n;
}

static int32_t mul(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n,
                   const kiln_mve_rq *u, const kiln_grid *g_in) {
  const kiln_grid grid = *g_in, *g = &grid; /* a copy no store through y can change */
  int32_t done = n;
  if (a_zp < INT16_MIN || a_zp > INT16_MAX || b_zp < INT16_MIN || b_zp > INT16_MAX)
    done = 0;
  else if (a_zp == 0 && b_zp == 0 && u->high && g->qmin == INT16_MIN && g->qmax == INT16_MAX)
    done = mul8_as(y, a, 0, b, 0, n, u, g, 1, 1, 1); /* int16 activations on centred grids */
  else if (a_zp == 0 && b_zp == 0)
    done = u->high ? mul8_as(y, a, 0, b, 0, n, u, g, 1, 1, 0) : mul8_as(y, a, 0, b, 0, n, u, g, 0, 1, 0);
  else
    done = u->high ? mul8_as(y, a, a_zp, b, b_zp, n, u, g, 1, 0, 0) : mul8_as(y, a, a_zp, b, b_zp, n, u, g, 0, 0, 0);
  if (done == n) return n;
  y += done;
  a += done;
  b += done;
  n -= done;
  return done + (u->high ? mul_as(y, a, a_zp, b, b_zp, n, u, g, 1) : mul_as(y, a, a_zp, b, b_zp, n, u, g, 0));
}

void kiln_mul_mve(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                  const kiln_grid *g) {
  kiln_mve_rq u;
  const int32_t done = kiln_mve_uniform(rq, &u) ? mul(y, a, a_zp, b, b_zp, n, &u, g) : 0;
  if (done < n) kiln_mul(y + done, a + done, a_zp, b + done, b_zp, n - done, rq, g);
}

void kiln_mul_rows_mve(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                       int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  kiln_mve_rq u;
  const int ok = kiln_mve_uniform(rq, &u);
  for (int32_t s = 0; s < rows; s++) {
    const int16_t *t = table + (size_t)s * d;
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      const int32_t done = ok ? mul(y + base, x + base, x_zp, t, t_zp, d, &u, g) : 0;
      if (done < d) kiln_mul(y + base + done, x + base + done, x_zp, t + done, t_zp, d - done, rq, g);
    }
  }
}

/* sum (x - x_zp)^2 over n values, exactly (VMLALDAVA: 64-bit sums); 0 where
 * a difference does not fit int16 (*ok then 0) */
static uint64_t sum_squares(const int16_t *x, int32_t x_zp, int32_t n, int *ok) {
  int64_t ss = 0;
  for (int32_t i = 0; i < n; i += 8) {
    const mve_pred16_t p = vctp16q((uint32_t)(n - i));
    const int16x8_t v = vldrhq_z_s16(x + i, p);
    if (vmaxvq_p_s16(INT16_MIN, v, p) > INT16_MAX + x_zp || vminvq_p_s16(INT16_MAX, v, p) < INT16_MIN + x_zp) {
      *ok = 0;
      return 0;
    }
    const int16x8_t d = vsubq_n_s16(v, (int16_t)x_zp);
    ss = vmlaldavaq_p_s16(ss, d, d, p);
  }
  *ok = 1;
  return (uint64_t)ss;
}

void kiln_rmsnorm_mve(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                      int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    int ok = x_zp >= INT16_MIN && x_zp <= INT16_MAX;
    const uint64_t ss = ok ? sum_squares(xr, x_zp, n, &ok) : 0;
    int32_t k;
    const uint64_t t = ok ? kiln_rmsnorm_square(ss, p, &k) : 0;
    kiln_mve_rq u;
    if (!ok || t == 0 || !kiln_mve_uniform(kiln_rmsnorm_scale(kiln_isqrt(t), k, p), &u)) {
      kiln_rmsnorm(yr, xr, x_zp, 1, n, gamma, gamma_zp, p, g);
      continue;
    }
    const int32_t done = mul(yr, gamma, gamma_zp, xr, x_zp, n, &u, g);
    if (done < n) {
      /* a gain whose difference does not fit int16: the row again, portably */
      kiln_rmsnorm(yr, xr, x_zp, 1, n, gamma, gamma_zp, p, g);
    }
  }
}

/* 64-bit lanes as pairs of words: (h, l) = h * 2^32 + l, h signed. */
typedef struct {
  int32x4_t h;
  uint32x4_t l;
} wide4;

/* the product of int32 lanes d and a multiplier m, in 64 bits (VMULH, VMUL) */
static inline wide4 product(int32x4_t d, int32_t m) {
  const int32x4_t mv = vdupq_n_s32(m);
  const wide4 p = { vmulhq_s32(d, mv), vreinterpretq_u32_s32(vmulq_s32(d, mv)) };
  return p;
}

static inline wide4 plus(wide4 a, wide4 b) {
  const uint32x4_t l = vaddq_u32(a.l, b.l);
  const uint32x4_t carry = vminq_u32(vqsubq_u32(a.l, l), vdupq_n_u32(1)); /* l < a.l: the sum wrapped */
  const wide4 s = { vaddq_s32(vaddq_s32(a.h, b.h), vreinterpretq_s32_u32(carry)), l };
  return s;
}

/* d = code - zero point in int32 lanes, where each fits 2^17 (an int16
 * code, a zero point within +-2^16): the products then stay below 2^48 */
static inline int32x4_t diffs(const int16_t *x, int32_t zp, mve_pred16_t p) {
  return vsubq_n_s32(vldrhq_z_s32(x, p), zp);
}

/* The sum of differently scaled inputs, as kiln_add: each (x - zx) * m a
 * 64-bit product in a pair of words, the pairs added with their carry, the
 * magnitude rounded by the common shift (kiln_mve_round_low, shifts 1 to 32;
 * capped where kiln_to_grid clamps anyway), the sign put back. Other shifts,
 * or zero points beyond +-2^16, take the portable kernel. */
/* round_half_even(v / 2^s) for 64-bit lanes v (pairs of words) and s in
 * [20, 32], where the quotient fits int32: kiln_rhe_u63's identity holds
 * for any v under floor division, (v + 2^(s-1) - 1 + (q0 & 1)) >> s with
 * q0 = floor(v / 2^s), that is VRSHL's rounding shift (exact, no wrap) of v
 * less 1 - (q0 & 1); the high word's part, h << (32 - s), is taken modulo
 * 2^32, the quotient fitting. left = 32 - s, right = -s. */
static inline int32x4_t round_wide(wide4 v, int32x4_t left, int32x4_t right) {
  const uint32x4_t one = vdupq_n_u32(1);
  const uint32x4_t hs = vshlq_u32(vreinterpretq_u32_s32(v.h), left);
  const uint32x4_t even = vbicq_u32(one, vorrq_u32(hs, vshlq_u32(v.l, right))); /* 1 - (q0 & 1) */
  const uint32x4_t l = vsubq_u32(v.l, even);
  const uint32x4_t borrow = vminq_u32(vqsubq_u32(even, v.l), one); /* l wrapped: v.l < even */
  const uint32x4_t h = vshlq_u32(vsubq_u32(vreinterpretq_u32_s32(v.h), borrow), left);
  return vreinterpretq_s32_u32(vaddq_u32(h, vrshlq_u32(l, right)));
}

void kiln_add_mve(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
                  int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g_in) {
  const int32_t zp_max = 1 << 16;
  if (rq->shift < 1 || rq->shift > 32 || a_zp > zp_max || a_zp < -zp_max || b_zp > zp_max || b_zp < -zp_max
      || c_zp > zp_max || c_zp < -zp_max) {
    kiln_add(y, a, a_zp, b, b_zp, c, c_zp, n, rq, g_in);
    return;
  }
  const kiln_grid grid = *g_in, *g = &grid;
  const int32_t ma = rq->ma, mb = rq->mb, mc = rq->mc;
  if (rq->shift >= 20) {
    /* |sum| <= 3 * 2^17 * 2^31 < 2^(31 + 20): the quotient fits int32 */
    const int32x4_t left = vdupq_n_s32(32 - rq->shift), right = vdupq_n_s32(-rq->shift);
    for (int32_t i = 0; i < n; i += LANES) {
      const mve_pred16_t p = vctp32q((uint32_t)(n - i));
      wide4 v = plus(product(diffs(a + i, a_zp, p), ma), product(diffs(b + i, b_zp, p), mb));
      if (c) v = plus(v, product(diffs(c + i, c_zp, p), mc));
      kiln_mve_store_grid4_p(y + i, round_wide(v, left, right), g, p);
    }
    return;
  }
  const kiln_mve_shift k = kiln_mve_shift_low(vdupq_n_s32(0), vdupq_n_s32(rq->shift));
  for (int32_t i = 0; i < n; i += LANES) {
    const mve_pred16_t p = vctp32q((uint32_t)(n - i));
    wide4 v = plus(product(diffs(a + i, a_zp, p), ma), product(diffs(b + i, b_zp, p), mb));
    if (c) v = plus(v, product(diffs(c + i, c_zp, p), mc));
    /* the magnitude: v xor sign, minus sign (+1 for a negative lane, with its carry) */
    const int32x4_t sign = vshrq_n_s32(v.h, 31);
    const uint32x4_t neg = vreinterpretq_u32_s32(vnegq_s32(sign)), s32 = vreinterpretq_u32_s32(sign);
    const uint32x4_t l = vaddq_u32(veorq_u32(v.l, s32), neg);
    const uint32x4_t carry = vandq_u32(neg, vsubq_u32(vdupq_n_u32(1), vminq_u32(l, vdupq_n_u32(1))));
    const uint32x4_t h = vaddq_u32(veorq_u32(vreinterpretq_u32_s32(v.h), s32), carry);
    const uint32x4_t q = kiln_mve_round_low(h, l, &k, KILN_MVE_CAP);
    kiln_mve_store_grid4_p(y + i, kiln_mve_signed(q, sign), g, p);
  }
}

/* kiln_sigmoid without a division. With D = 2^31 + e (e = exp(-|x|) in
 * Q31, 0 to 2^31), both of its quotients come from R = round(2^62 / D):
 *   x >= 0: 2^31 * 2^31 / D = 2^62 / D;
 *   x < 0:  e * 2^31 / D = 2^31 - 2^62 / D,
 * rounded half to even alike, since 2^62 / D is never a half (D (2k + 1) =
 * 2^63 has no solution for D in [2^31, 2^32]) and 2^31 is even.
 *
 * R is found in lanes: Y ~ 2^63 / D in [2^31, 2^32) from a linear seed
 * below it (relative error 1/289 to 33/289), SIGMOID_STEPS Newton steps
 *   Y += Y * (1 - D Y / 2^63)       (VMULH twice; the error squares)
 * with D Y / 2^63 held at 1 or below, so that a step never turns a
 * rounding overshoot into a wrap. R0 = Y / 2 is then within one of R, and
 * the two tests (2j - 1) D < 2^63 for j = R0, R0 + 1 (the high word of the
 * product below 2^31: the product is never exactly 2^63) count how far R
 * lies from R0 - 1. Checked for every e in [1, 2^31] against the exact
 * quotient (e = 2^31 as D = 2^32 - 1, whose R is the same 2^30, a
 * saturating add); e = 0 (D = 2^31, Y = 2^32 out of range) is selected. */
#define SIGMOID_SEED_C0 1411840460u /* 2^31 * 768 / 289, modulo 2^32 */
#define SIGMOID_SEED_C1 3804538504u /* 2^31 * 512 / 289: Y0 = C0 - D * C1 / 2^32 */
#define SIGMOID_STEPS 4
#define Q31_ONE (1u << 31)

static inline uint32x4_t sigmoid_recip(uint32x4_t e) {
  const uint32x4_t den = vqaddq_n_u32(e, Q31_ONE), one = vdupq_n_u32(1);
  uint32x4_t y = vsubq_u32(vdupq_n_u32(SIGMOID_SEED_C0), vmulhq_u32(den, vdupq_n_u32(SIGMOID_SEED_C1)));
#pragma GCC unroll 4
  for (int s = 0; s < SIGMOID_STEPS; s++) {
    const uint32x4_t dy = vminq_u32(vmulhq_u32(den, y), vdupq_n_u32(Q31_ONE)); /* D Y / 2^32 */
    y = vaddq_u32(y, vmulhq_u32(y, vmulq_n_u32(dy, 0xFFFFFFFEu))); /* 2^32 - 2 dy: 2 (1 - D Y / 2^63) */
  }
  const uint32x4_t odd_lo = vsubq_u32(vbicq_u32(y, one), one); /* 2 R0 - 1 */
  const uint32x4_t above = vaddq_u32(vshrq_n_u32(vmulhq_u32(odd_lo, den), 31),
                                     vshrq_n_u32(vmulhq_u32(vaddq_n_u32(odd_lo, 2), den), 31));
  const uint32x4_t r = vsubq_u32(vaddq_u32(vshrq_n_u32(y, 1), one), above);
  return vpselq_u32(vdupq_n_u32(Q31_ONE), r, vcmpeqq_n_u32(e, 0));
}

/* The loop of kiln_sigmoid_mve, whether the exp tables take their second
 * table (two) and the multiplier's kind (high) constants where inlined. */
ALWAYS_INLINE void sigmoid_as(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut,
                              kiln_rq rq, const kiln_mve_rq *u, const kiln_grid *g, int two, int high) {
  const uint32_t *lo_t = lut->lo, *hi_t = lut->hi, max_d = (uint32_t)lut->max_d;
  const kiln_mve_shift k = u->k;
  const int32x4_t lo = vdupq_n_s32(g->qmin), hi = vdupq_n_s32(g->qmax);
  const int32_t zg = g->zero_point;
  for (int32_t i = 0; i < n; i += LANES) {
    const mve_pred16_t p = vctp32q((uint32_t)(n - i));
    const int32x4_t v = vsubq_n_s32(vldrhq_z_s32(x + i, p), x_zp);
    const uint32x4_t e = kiln_mve_exp4_tables(vreinterpretq_u32_s32(vabsq_s32(v)), lo_t, hi_t, max_d, two, p);
    if (vmaxvq_u32(0, e) > Q31_ONE) {
      kiln_sigmoid(y + i, x + i, x_zp, n - i < LANES ? n - i : LANES, lut, rq, g);
      continue;
    }
    const uint32x4_t r = sigmoid_recip(e);
    const uint32x4_t sig = vpselq_u32(vsubq_u32(vdupq_n_u32(Q31_ONE), r), r, vcmpltq_n_s32(v, 0));
    const uint32x4_t q = high ? kiln_mve_quot_high(sig, &k) : kiln_mve_quot_low(sig, &k, KILN_MVE_CAP);
    const int32x4_t c = vaddq_n_s32(vreinterpretq_s32_u32(q), zg);
    vstrhq_p_s32(y + i, vminq_s32(vmaxq_s32(c, lo), hi), p);
  }
}

/* Four values a step: exp(-|x|) gathered (kiln_mve_exp4), the quotient
 * (sigmoid_recip) and the requantization in lanes (kiln_mve_scale_uniform_u:
 * the quotient is at most 2^31). A step whose exp values exceed 2^31
 * (no table kiln writes has them) takes the portable kernel. */
void kiln_sigmoid_mve(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut_in, kiln_rq rq,
                      const kiln_grid *g_in) {
  kiln_mve_rq u;
  if (!kiln_mve_uniform(rq, &u) || x_zp > (1 << 30) || x_zp < -(1 << 30)) {
    kiln_sigmoid(y, x, x_zp, n, lut_in, rq, g_in);
    return;
  }
  const kiln_grid grid = *g_in, *g = &grid; /* copies no store through y can change */
  if (kiln_mve_exp_two(lut_in))
    u.high ? sigmoid_as(y, x, x_zp, n, lut_in, rq, &u, g, 1, 1) : sigmoid_as(y, x, x_zp, n, lut_in, rq, &u, g, 1, 0);
  else
    u.high ? sigmoid_as(y, x, x_zp, n, lut_in, rq, &u, g, 0, 1) : sigmoid_as(y, x, x_zp, n, lut_in, rq, &u, g, 0, 0);
}
