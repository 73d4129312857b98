/*
 * The Cortex-M requantization (runtime/cortex-m4/kiln_rt_target_requant.h)
 * against the portable kiln_to_grid(kiln_scale(acc, rq), g), on the host:
 * every shift from 0 to 64 with accumulators at the ends of int32 and their
 * rounding ties, then random accumulators (int32 and wider), multipliers and
 * 16-bit grids; and the prepared requantization (kiln_dsp_rq) for every
 * shift and accumulator bound, magnitudes at the bound's ends included.
 * Prints "ok N" or the first difference and exits non-zero.
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
  if (failed) return 1;
  printf("ok %ld\n", checked);
  return 0;
}
