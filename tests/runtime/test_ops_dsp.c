/*
 * The Cortex-M4 elementwise kernels (runtime/cortex-m4/kiln_ops_dsp.c)
 * against the portable ones, bit for bit, as firmware under qemu-system-arm:
 * random and extreme codes, zero points 0, small, at the ends of the int16
 * range and beyond it (the fallbacks), multipliers with many trailing zeros
 * (ties within reach), every shift, full and narrow grids, odd and empty
 * lengths. Prints one line per kernel and "ok" at the end; exits non-zero at
 * the first difference, naming the kernel and the case.
 */
#include "kiln_rt_dsp.h"
#include "semihosting.h"
#include "test_random.h"

#include <stddef.h>

enum { MAX_N = 600, CASES = 3000 };

static int16_t a[MAX_N], b[MAX_N], c[MAX_N], want[MAX_N], got[MAX_N];

static void say(const char *s) { kiln_sh_write0(s); }

static void number(char *out, int64_t v) { /* no printf in firmware */
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do tmp[n++] = (char)('0' + u % 10), u /= 10; while (u);
  if (neg) *out++ = '-';
  while (n) *out++ = tmp[--n];
  *out = 0;
}

static int16_t code(void) { return (int16_t)range(INT16_MIN, INT16_MAX); }

/* codes of a grid: mostly its own range, sometimes any int16 */
static void fill(int16_t *x, int32_t n, const kiln_grid *g) {
  const int any = rnd() % 4 == 0;
  for (int32_t i = 0; i < n; i++) x[i] = any ? code() : (int16_t)range(g->qmin, g->qmax);
}

static kiln_grid grid(void) {
  kiln_grid g;
  switch (rnd() % 6) {
  case 0: case 1: g.qmin = INT16_MIN, g.qmax = INT16_MAX; break;
  case 2: case 3: g.qmin = 0, g.qmax = 255; break;
  case 4: g.qmin = -128, g.qmax = 127; break;
  default: g.qmin = -range(0, 40), g.qmax = range(0, 40); break;
  }
  g.zero_point = rnd() % 3 == 0 ? 0 : range(g.qmin, g.qmax);
  return g;
}

static int32_t zero_point(const kiln_grid *g) {
  switch (rnd() % 8) {
  case 0: case 1: case 2: return 0;
  case 3: return rnd() % 2 ? 32767 : -32768;
  case 4: return range(-70000, 70000); /* beyond int16: fallbacks */
  default: return range(g->qmin, g->qmax);
  }
}

static int32_t multiplier(void) {
  const uint32_t m = 0x40000000u + rnd() % 0x40000000u;
  switch (rnd() % 5) {
  case 0: return (int32_t)(m & ~((1u << range(0, 30)) - 1u));
  case 1: return 0x40000000;
  default: return (int32_t)m;
  }
}

static kiln_rq rq_for(int32_t lo, int32_t hi) {
  const kiln_rq rq = { multiplier(), rnd() % 8 == 0 ? range(1, 63) : range(lo, hi) };
  return rq;
}

static int compare(const char *kernel, int c_no, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    if (want[i] != got[i]) {
      char s1[24], s2[24], s3[24], s4[24];
      number(s1, c_no), number(s2, i), number(s3, want[i]), number(s4, got[i]);
      say(kernel), say(": case "), say(s1), say(", output "), say(s2), say(": portable "), say(s3), say(", dsp "),
        say(s4), say("\n");
      return 1;
    }
  return 0;
}

static void clear(int32_t n) {
  for (int32_t i = 0; i < n; i++) want[i] = got[i] = 0x5A5A;
}

static int test_requant(void) {
  for (int k = 0; k < CASES; k++) {
    kiln_grid gx = grid();
    const kiln_grid g = grid();
    const int32_t n = range(0, 70), zp = zero_point(&gx);
    const kiln_rq rq = rq_for(28, 33);
    fill(a, n, &gx);
    clear(MAX_N);
    kiln_requant(want, a, n, zp, rq, &g);
    kiln_requant_dsp(got, a, n, zp, rq, &g);
    if (compare("kiln_requant_dsp", k, MAX_N)) return 1;
    /* the moves: rows of d (take_half), halves (concat), heads (heads_first) */
    const int32_t rows = range(1, 4), heads = range(1, 4), d = 2 * range(1, 8), h = range(1, 9);
    const int32_t which = (int32_t)(rnd() % 2);
    const kiln_rq rq_b = rq_for(28, 33);
    fill(a, rows * heads * d, &gx);
    fill(b, rows * h, &gx);
    clear(MAX_N);
    kiln_take_half(want, a, rows * heads, d, which, zp, rq, &g);
    kiln_take_half_dsp(got, a, rows * heads, d, which, zp, rq, &g);
    if (compare("kiln_take_half_dsp", k, MAX_N)) return 1;
    clear(MAX_N);
    kiln_concat_halves(want, a, zp, rq, b, zp + 1, rq_b, rows, h, &g);
    kiln_concat_halves_dsp(got, a, zp, rq, b, zp + 1, rq_b, rows, h, &g);
    if (compare("kiln_concat_halves_dsp", k, MAX_N)) return 1;
    clear(MAX_N);
    kiln_heads_first(want, a, rows, heads, d, zp, rq, &g);
    kiln_heads_first_dsp(got, a, rows, heads, d, zp, rq, &g);
    if (compare("kiln_heads_first_dsp", k, MAX_N)) return 1;
  }
  say("kiln_requant_dsp and the moves ok\n");
  return 0;
}

static int test_mul(void) {
  for (int k = 0; k < CASES; k++) {
    kiln_grid ga = grid(), gb = grid();
    const kiln_grid g = grid();
    const int32_t n = range(0, 70), za = zero_point(&ga), zb = zero_point(&gb);
    const kiln_rq rq = rq_for(30, 48);
    fill(a, n, &ga);
    fill(b, n, &gb);
    clear(MAX_N);
    kiln_mul(want, a, za, b, zb, n, rq, &g);
    kiln_mul_dsp(got, a, za, b, zb, n, rq, &g);
    if (compare("kiln_mul_dsp", k, MAX_N)) return 1;
    const int32_t rows = range(1, 3), heads = range(1, 4), d = range(1, 9);
    fill(a, rows * heads * d, &ga);
    fill(b, rows * d, &gb);
    clear(MAX_N);
    kiln_mul_rows(want, a, za, b, zb, rows, heads, d, rq, &g);
    kiln_mul_rows_dsp(got, a, za, b, zb, rows, heads, d, rq, &g);
    if (compare("kiln_mul_rows_dsp", k, MAX_N)) return 1;
  }
  say("kiln_mul_dsp, kiln_mul_rows_dsp ok\n");
  return 0;
}

static int test_add(void) {
  for (int k = 0; k < CASES; k++) {
    kiln_grid ga = grid(), gb = grid(), gc = grid();
    const kiln_grid g = grid();
    const int32_t n = range(0, 70), za = zero_point(&ga), zb = zero_point(&gb), zc = zero_point(&gc);
    kiln_add_rq rq;
    rq.shift = rnd() % 8 == 0 ? range(1, 62) : range(28, 31);
    int32_t *m[3] = { &rq.ma, &rq.mb, &rq.mc };
    for (int j = 0; j < 3; j++) /* weights about 1; or small multiples of 2^(s-3), which make ties */
      *m[j] = rnd() % 3 == 0 && rq.shift >= 4 && rq.shift <= 33 ? range(-8, 8) * (1 << (rq.shift - 4))
                                                              : (int32_t)(rnd() % 0x7fffffffu) * (rnd() % 4 ? 1 : -1);
    const int three = (int)(rnd() % 2);
    fill(a, n, &ga);
    fill(b, n, &gb);
    fill(c, n, &gc);
    clear(MAX_N);
    kiln_add(want, a, za, b, zb, three ? c : NULL, zc, n, &rq, &g);
    kiln_add_dsp(got, a, za, b, zb, three ? c : NULL, zc, n, &rq, &g);
    if (compare("kiln_add_dsp", k, MAX_N)) return 1;
  }
  say("kiln_add_dsp ok\n");
  return 0;
}

static int test_rmsnorm(void) {
  for (int k = 0; k < CASES; k++) {
    kiln_grid gx = grid(), gg = grid();
    const kiln_grid g = grid();
    const int32_t rows = range(1, 3), n = range(1, 200), zx = zero_point(&gx), zg = rnd() % 2 ? 0 : zero_point(&gg);
    kiln_norm_rq p;
    p.gain.mult = multiplier();
    p.gain.shift = range(20, 34);
    p.frac_bits = 2 * range(0, 20);
    p.eps_term = rnd() % 4 == 0 ? 0 : (uint64_t)rnd() << range(0, 24);
    fill(a, rows * n, &gx);
    if (rnd() % 8 == 0)
      for (int32_t i = 0; i < n; i++) a[i] = (int16_t)zx; /* an all-zero row */
    fill(b, n, &gg);
    clear(MAX_N);
    kiln_rmsnorm(want, a, zx, rows, n, b, zg, &p, &g);
    kiln_rmsnorm_dsp(got, a, zx, rows, n, b, zg, &p, &g);
    if (compare("kiln_rmsnorm_dsp", k, MAX_N)) return 1;
  }
  say("kiln_rmsnorm_dsp ok\n");
  return 0;
}

int main(void) {
  if (test_requant() || test_mul() || test_add() || test_rmsnorm()) return 1;
  say("ok\n");
  return 0;
}
