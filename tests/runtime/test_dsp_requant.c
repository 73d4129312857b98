/*
 * The Cortex-M requantization (runtime/cortex-m4/kiln_rt_target_requant.h)
 * against the portable kiln_to_grid(kiln_scale(acc, rq), g), on the host:
 * every shift from 0 to 64 with accumulators at the ends of int32 and their
 * rounding ties, then random accumulators (int32 and wider), multipliers and
 * 16-bit grids; and the prepared requantization (kiln_dsp_rq) for every
 * shift and accumulator bound, magnitudes at the bound's ends included;
 * the tie-free high-word requantization (kiln_dsp_hi) for every shift and
 * pre-shift, over accumulator ranges of codes and of products of codes, with
 * multipliers of many trailing zeros (where ties come within reach) and the
 * ranges' ends; and kiln_add's sums (kiln_dsp_sum) against kiln_shift_rhe,
 * ties included; and RMSNorm's square root (kiln_dsp_isqrt62) against
 * kiln_isqrt over its range, perfect squares and their neighbours included. Prints "ok N" or the first difference and exits non-zero.
 */
#include "kiln_rt.h"
#include "kiln_rt_target_requant.h"

#include <stdio.h>

#include "test_random.h"

static long checked;

static int check(int64_t acc, kiln_rq rq, const kiln_grid *g) {
  const int16_t want = kiln_to_grid(kiln_scale(acc, rq), g), got = kiln_dsp_requant(acc, rq, g);
  checked++;
  if (want == got) return 0;
  printf("FAIL acc %lld mult %ld shift %ld grid %ld [%ld, %ld]: portable %d, dsp %d\n", (long long)acc,
         (long)rq.mult, (long)rq.shift, (long)g->zero_point, (long)g->qmin, (long)g->qmax, want, got);
  return 1;
}

/* The prepared path on magnitude a and sign, prepared for |acc| < 2^bits. */
static int check_prepared(uint32_t a, int negative, kiln_rq rq, const kiln_grid *g, int32_t bits) {
  kiln_dsp_rq p;
  if (!kiln_dsp_rq_prepare(&p, rq, g, bits)) return 0;
  const int64_t acc = negative ? -(int64_t)a : (int64_t)a;
  const int16_t want = kiln_to_grid(kiln_scale(acc, rq), g), got = kiln_dsp_requant_abs(a, negative, &p);
  checked++;
  if (want == got) return 0;
  printf("FAIL prepared (%ld bits) acc %lld mult %ld shift %ld grid %ld [%ld, %ld]: portable %d, dsp %d\n",
         (long)bits, (long long)acc, (long)rq.mult, (long)rq.shift, (long)g->zero_point, (long)g->qmin,
         (long)g->qmax, want, got);
  return 1;
}

/* A 16-bit grid: int16, uint8 or int8 codes, or a narrow one about zero. */
static kiln_grid grid(void) {
  kiln_grid g;
  switch (rnd() % 4) {
  case 0: g.qmin = -32768, g.qmax = 32767; break;
  case 1: g.qmin = 0, g.qmax = 255; break;
  case 2: g.qmin = -128, g.qmax = 127; break;
  default: g.qmin = -range(0, 40), g.qmax = range(0, 40); break;
  }
  g.zero_point = range(g.qmin, g.qmax);
  return g;
}

/* An accumulator: mostly int32 (small ones often), sometimes wider. */
static int64_t accumulator(void) {
  switch (rnd() % 8) {
  case 0: return (int64_t)(int32_t)rnd() * (int64_t)(int32_t)rnd();
  case 1: return range(-300, 300);
  case 2: return range(-70000, 70000);
  case 3: return rnd() % 2 ? INT32_MAX - range(0, 3) : INT32_MIN + range(0, 3);
  default: return (int32_t)rnd();
  }
}

/* The high-word path on acc (in [lo, hi]), handed as acc 2^pre. */
static int check_hi(int64_t acc, const kiln_dsp_hi *p, kiln_rq rq, const kiln_grid *g, int32_t pre) {
  const int16_t want = kiln_to_grid(kiln_scale(acc, rq), g);
  const int16_t got = kiln_dsp_hi_clamp(kiln_dsp_hi_value((int32_t)(acc * ((int64_t)1 << pre)), p), p);
  checked++;
  if (want == got) return 0;
  printf("FAIL hi (pre %ld) acc %lld mult %ld shift %ld grid %ld [%ld, %ld]: portable %d, dsp %d\n", (long)pre,
         (long long)acc, (long)rq.mult, (long)rq.shift, (long)g->zero_point, (long)g->qmin, (long)g->qmax, want, got);
  return 1;
}

/* A multiplier in [2^30, 2^31), often with many trailing zeros (2^30 itself too). */
static int32_t multiplier(void) {
  const uint32_t m = 0x40000000u + rnd() % 0x40000000u;
  switch (rnd() % 4) {
  case 0: return (int32_t)(m & ~((1u << range(0, 30)) - 1u));
  case 1: return (int32_t)(m & ~((1u << range(10, 20)) - 1u));
  default: return (int32_t)m;
  }
}

/* The accumulators a kernel meets: a code minus a zero point, or a product of two. */
static void acc_range(int64_t *lo, int64_t *hi) {
  const int32_t za = range(-300, 300), zb = range(-300, 300);
  const int64_t a_lo = INT16_MIN - (int64_t)za, a_hi = INT16_MAX - (int64_t)za;
  const int64_t b_lo = INT16_MIN - (int64_t)zb, b_hi = INT16_MAX - (int64_t)zb;
  switch (rnd() % 4) {
  case 0: *lo = a_lo, *hi = a_hi; break;
  case 1: { /* a product: its range from the ends */
    const int64_t e[4] = { a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi };
    *lo = *hi = e[0];
    for (int i = 1; i < 4; i++) *lo = e[i] < *lo ? e[i] : *lo, *hi = e[i] > *hi ? e[i] : *hi;
    break;
  }
  case 2: *lo = -(1 << 8), *hi = 255; break;
  default: { const int32_t b = range(1, 31); *lo = -((int64_t)1 << b), *hi = ((int64_t)1 << b) - 1; break; }
  }
}

static int check_hi_all(void) {
  int failed = 0;
  for (int32_t s = 1; s <= 63 && !failed; s++) {
    for (int32_t pre = 0; pre <= 17 && !failed; pre++) {
      for (int i = 0; i < 400 && !failed; i++) {
        const kiln_rq rq = { i % 50 == 0 ? 0 : multiplier(), s };
        const kiln_grid g = grid();
        int64_t lo, hi;
        acc_range(&lo, &hi);
        kiln_dsp_hi p;
        if (lo < INT32_MIN || hi > INT32_MAX || !kiln_dsp_hi_prepare(&p, rq, &g, (int32_t)lo, (int32_t)hi, pre)) continue;
        const int32_t z = rq.mult ? __builtin_ctz((uint32_t)rq.mult) : 0;
        for (int j = 0; j < 40 && !failed; j++) {
          int64_t acc = lo + (int64_t)(((uint64_t)rnd() << 32 | rnd()) % (uint64_t)(hi - lo + 1));
          if (j == 0) acc = lo;
          if (j == 1) acc = hi;
          if (j == 2) acc = 0;
          /* near the smallest possible tie, 2^(s-1-z) (beyond the range when the path applies) */
          if (j == 3 && s - 1 - z >= 0 && s - 1 - z < 40) {
            const int64_t near = ((int64_t)1 << (s - 1 - z)) - 1;
            if (near <= hi) acc = near;
            else if (-near >= lo) acc = -near;
          }
          failed |= check_hi(acc, &p, rq, &g, pre);
        }
      }
    }
  }
  return failed;
}

/* kiln_add's value against the portable one. */
static int check_sum(const int16_t x[3], const int32_t zp[3], int32_t terms, const kiln_add_rq *rq,
                     const kiln_dsp_sum *p, const kiln_grid *g) {
  int64_t acc = (int64_t)(x[0] - zp[0]) * rq->ma + (int64_t)(x[1] - zp[1]) * rq->mb;
  if (terms == 3) acc += (int64_t)(x[2] - zp[2]) * rq->mc;
  const int16_t want = kiln_to_grid(kiln_shift_rhe(acc, rq->shift), g);
  const int32_t m[3] = { p->m[0], p->m[1], p->m[2] };
  int64_t w = (int64_t)((uint64_t)(uint32_t)p->c_hi << 32 | p->c_lo);
  for (int32_t i = 0; i < terms; i++) w += (int64_t)(x[i] * 65536) * m[i];
  int32_t v = kiln_dsp_sum_value((int32_t)(w >> 32), (uint32_t)w, p);
  if (v < p->qmin) v = p->qmin;
  if (v > p->qmax) v = p->qmax;
  checked++;
  if (want == (int16_t)v) return 0;
  printf("FAIL sum x %d %d %d zp %ld %ld %ld m %ld %ld %ld shift %ld grid %ld: portable %d, dsp %d\n", x[0], x[1],
         x[2], (long)zp[0], (long)zp[1], (long)zp[2], (long)rq->ma, (long)rq->mb, (long)rq->mc, (long)rq->shift,
         (long)g->zero_point, want, (int16_t)v);
  return 1;
}

static int check_sum_all(void) {
  int failed = 0;
  for (long i = 0; i < 400000 && !failed; i++) {
    const int32_t s = range(14, 50), terms = 2 + (int32_t)(rnd() % 2);
    kiln_add_rq rq;
    int32_t *m[3] = { &rq.ma, &rq.mb, &rq.mc };
    for (int k = 0; k < 3; k++) {
      /* weights about 1 (m near 2^s), or small multiples of 2^(s-3), which make ties */
      if (i % 3 == 0 && s <= 33) *m[k] = range(-8, 8) * (1 << (s - 3 < 30 ? s - 3 : 30));
      else *m[k] = (int32_t)((int64_t)(rnd() % 0x7fffffffu) * (rnd() % 2 ? 1 : -1) >> range(0, 3));
    }
    rq.shift = s;
    const int32_t zp[3] = { range(-200, 300), range(-200, 300), range(-200, 300) };
    const kiln_grid g = grid();
    kiln_dsp_sum p;
    if (!kiln_dsp_sum_prepare(&p, &rq, zp, terms, &g)) continue;
    for (int j = 0; j < 20 && !failed; j++) {
      const int16_t x[3] = { (int16_t)range(INT16_MIN, INT16_MAX), (int16_t)range(INT16_MIN, INT16_MAX),
                             (int16_t)range(INT16_MIN, INT16_MAX) };
      failed |= check_sum(x, zp, terms, &rq, &p, &g);
    }
  }
  return failed;
}

static int check_isqrt_all(void) {
  for (long i = 0; i < 3000000; i++) {
    uint64_t t = ((uint64_t)rnd() << 32 | rnd()) & (((uint64_t)1 << 62) - 1);
    if (i % 3 == 0) { /* a square, or one below it */
      const uint64_t r = ((uint64_t)1 << 30) + (((uint64_t)rnd() << 32 | rnd()) % ((uint64_t)1 << 30));
      t = r * r - (uint64_t)(i % 2);
    }
    if (i == 1) t = (uint64_t)1 << 60;
    if (i == 2) t = ((uint64_t)1 << 62) - 1;
    if (t < ((uint64_t)1 << 60) || t >= ((uint64_t)1 << 62)) t = (t & (((uint64_t)1 << 60) - 1)) | ((uint64_t)1 << 60);
    checked++;
    if (kiln_dsp_isqrt62(t) != kiln_isqrt(t)) {
      printf("FAIL isqrt %llu: portable %llu, dsp %lu\n", (unsigned long long)t, (unsigned long long)kiln_isqrt(t),
             (unsigned long)kiln_dsp_isqrt62(t));
      return 1;
    }
  }
  return 0;
}

int main(void) {
  int failed = 0;
  const kiln_grid wide = { 0, -32768, 32767 };
  /* every shift, at the ends of int32 and on exact ties of the rounding */
  for (int32_t s = 0; s <= 64 && !failed; s++) {
    for (int i = 0; i < 20000 && !failed; i++) {
      const kiln_rq rq = { (int32_t)(0x40000000u + rnd() % 0x40000000u), s };
      const kiln_grid g = i % 2 ? wide : grid();
      const int64_t edges[] = { 0, 1, -1, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1 };
      if (i < 7) failed |= check(edges[i], rq, &g);
      failed |= check(accumulator(), rq, &g);
      /* a tie: acc * mult = (2k + 1) * 2^(s-1) needs mult odd multiples; take acc = 2^(s-1) / 2^b */
      if (s >= 1 && s <= 62) {
        const kiln_rq one = { 0x40000000, s }; /* 2^30 */
        const int64_t tie = s >= 31 ? ((int64_t)(2 * (int64_t)range(0, 1 << 20) + 1) << (s - 31)) : 0;
        if (tie == (int32_t)tie) failed |= check(i % 4 == 0 ? -tie : tie, one, &g);
      }
    }
  }
  /* prepared: every shift and bound, magnitudes random, small and at the bound */
  for (int32_t s = 0; s <= 64 && !failed; s++) {
    for (int32_t bits = 0; bits <= 33 && !failed; bits++) {
      for (int i = 0; i < 3000 && !failed; i++) {
        const kiln_rq rq = { (int32_t)(0x40000000u + rnd() % 0x40000000u), s };
        const kiln_grid g = i % 2 ? wide : grid();
        const uint32_t top = bits >= 32 ? 0xffffffffu : ((uint32_t)1 << bits) - 1u;
        const uint32_t a = i % 3 == 0 ? top - (uint32_t)range(0, 2) : i % 3 == 1 ? (uint32_t)range(0, 3) : rnd() & top;
        if (a <= top) failed |= check_prepared(a, i % 4 < 2, rq, &g, bits);
        /* a tie, (2k + 1) * 2^(s-1) = a * mult: odd a with mult = 2^30 + 2^(s-1) for s <= 30, else
         * mult = 2^30 and a an odd multiple of 2^(s-31) */
        if (s >= 1 && s <= 63) {
          const uint32_t odd = 2u * (uint32_t)range(0, 1 << 12) + 1u;
          const kiln_rq tied = { s <= 30 ? (int32_t)(0x40000000u + (1u << (s - 1))) : 0x40000000, s };
          const uint64_t t = s <= 30 ? odd : (uint64_t)odd << (s - 31);
          if (t <= top) failed |= check_prepared((uint32_t)t, i % 4 < 2, tied, &g, bits);
        }
      }
    }
  }
  /* random everything, multipliers of either sign included */
  for (long i = 0; i < 20000000 && !failed; i++) {
    const kiln_rq rq = { (int32_t)(i % 64 == 0 ? rnd() : 0x40000000u + rnd() % 0x40000000u), range(-2, 66) };
    const kiln_grid g = grid();
    failed |= check(accumulator(), rq, &g);
  }
  if (!failed) failed |= check_hi_all();
  if (!failed) failed |= check_sum_all();
  if (!failed) failed |= check_isqrt_all();
  if (failed) return 1;
  printf("ok %ld\n", checked);
  return 0;
}
