/*
 * Integer arithmetic shared by every kernel: scaling by a kiln_rq with
 * round-half-to-even, division, square root, exp from tables.
 */
#include "kiln_rt.h"

#define SATURATE ((uint64_t)1 << 40) /* far outside any 16-bit grid */

/* round_half_even(v / 2^s) for v < 2^64, s in [1, 63] */
static uint64_t shift_rhe(uint64_t v, int s) {
  uint64_t q = v >> s;
  uint64_t rem = v & (((uint64_t)1 << s) - 1);
  uint64_t half = (uint64_t)1 << (s - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return q;
}

int64_t kiln_scale_wide(int64_t acc, kiln_rq rq) {
  if (acc == 0) return 0;
  const int negative = acc < 0;
  const uint64_t a = negative ? (uint64_t)0 - (uint64_t)acc : (uint64_t)acc;
  const uint64_t m = (uint64_t)(uint32_t)rq.mult;
  /* a * m as p1 * 2^32 + p0 (96 bits), from two 32x32 products */
  const uint64_t lo = (a & 0xFFFFFFFFu) * m;
  const uint64_t hi = (a >> 32) * m;
  const uint64_t p1 = hi + (lo >> 32);
  const uint64_t p0 = lo & 0xFFFFFFFFu;
  const int s = rq.shift;
  uint64_t q;
  if (s >= 96) {
    q = 0;
  } else if (s >= 32) {
    const int t = s - 32;
    if (t == 0) {
      q = p1;
      if (p0 > 0x80000000u || (p0 == 0x80000000u && (q & 1))) q++;
    } else if (t < 64) {
      /* remainder (p1 mod 2^t, p0) against half = 2^(t-1) * 2^32 */
      const uint64_t rem_hi = p1 & (((uint64_t)1 << t) - 1);
      const uint64_t half_hi = (uint64_t)1 << (t - 1);
      q = p1 >> t;
      if (rem_hi > half_hi || (rem_hi == half_hi && (p0 > 0 || (q & 1)))) q++;
    } else {
      q = 0; /* the product is below half of 2^s */
    }
  } else if (s > 0) {
    if ((p1 >> (31 + s)) != 0) {
      q = SATURATE;
    } else {
      const uint64_t v = (p1 << (32 - s)) | (p0 >> s);
      const uint64_t rem = p0 & (((uint64_t)1 << s) - 1);
      const uint64_t half = (uint64_t)1 << (s - 1);
      q = v;
      if (rem > half || (rem == half && (q & 1))) q++;
    }
  } else {
    q = (p1 >> 31) != 0 ? SATURATE : (p1 << 32) | p0; /* no shift: exact */
  }
  if (q > SATURATE) q = SATURATE;
  return negative ? -(int64_t)q : (int64_t)q;
}

uint64_t kiln_div_rhe(uint64_t num, uint64_t den) {
  uint64_t q = num / den;
  uint64_t r = num % den;
  if (r > den - r || (r == den - r && (q & 1))) q++;
  return q;
}

/* Digit by digit, without data-dependent branches (selects, not jumps). */
uint64_t kiln_isqrt(uint64_t v) {
  uint64_t root = 0;
  uint64_t bit = (uint64_t)1 << 62;
  while (bit > v) bit >>= 2;
  while (bit != 0) {
    const uint64_t trial = root + bit;
    const uint64_t take = (uint64_t)0 - (uint64_t)(v >= trial); /* all ones or zero */
    v -= trial & take;
    root = (root >> 1) + (bit & take);
    bit >>= 2;
  }
  return root;
}

uint32_t kiln_exp_q31(const kiln_exp_lut *lut, int32_t d) {
  return kiln_exp_q31_inline(lut, d);
}

/* round_half_even(v / 2^s) for signed v, s in [0, 62] */
int64_t kiln_shift_rhe(int64_t v, int32_t s) {
  if (s == 0) return v;
  if (v >= 0) return (int64_t)shift_rhe((uint64_t)v, s);
  return -(int64_t)shift_rhe((uint64_t)0 - (uint64_t)v, s);
}
