/*
 * The AVX2 kernels of runtime/x86 (rules/x86-avx2.lua), each one
 * against its portable namesake on random and extreme inputs, bit for bit.
 *
 *   cc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -mavx2 -mfma -Iruntime/portable -Iruntime/x86 \
 *      tests/runtime/test_x86_avx2.c runtime/portable/kiln_rt_math.c runtime/portable/kiln_rt_ops.c \
 *      runtime/x86/kiln_linear_avx2.c runtime/x86/kiln_attention_avx2.c runtime/x86/kiln_ops_avx2.c \
 *      -o /tmp/test_x86_avx2 && /tmp/test_x86_avx2
 *
 * Prints one line per kernel and "ok" at the end; exits non-zero at the
 * first difference, naming the kernel, the case and the index.
 */
#include "kiln_rt.h"
#include "kiln_rt_avx2.h"

#include "test_random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static void check(const char *what, int c, const int16_t *a, const int16_t *b, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      fprintf(stderr, "%s case %d: index %d: portable %d, avx2 %d\n", what, c, (int)i, a[i], b[i]);
      failures++;
      exit(1);
    }
}

static kiln_rq random_rq(int32_t lo_shift, int32_t hi_shift) {
  kiln_rq rq;
  /* a power of two now and then: exact halves, so that ties are rounded */
  rq.mult = (int32_t)((1u << 30) + (rnd() % 4 == 0 ? 0 : rnd() & 0x3FFFFFFF));
  rq.shift = range(lo_shift, hi_shift);
  return rq;
}

static kiln_grid grid_of(int sixteen) {
  kiln_grid g;
  if (sixteen) {
    g.zero_point = 0, g.qmin = -32768, g.qmax = 32767;
  } else {
    g.zero_point = range(0, 255), g.qmin = 0, g.qmax = 255;
  }
  return g;
}

/* ---- linear ---------------------------------------------------------------- */

/* n16k4: wp[o / 16][i / 4][o % 16][i % 4] = w[o][i] - 128 */
static void pack(int8_t *wp, const uint8_t *w, int32_t n_out, int32_t n_in) {
  const int32_t blocks = (n_out + 15) / 16, k4 = n_in / 4;
  memset(wp, 0, (size_t)blocks * 16 * n_in);
  for (int32_t o = 0; o < n_out; o++)
    for (int32_t i = 0; i < n_in; i++)
      wp[(((size_t)(o / 16) * k4 + i / 4) * 16 + o % 16) * 4 + i % 4] = (int8_t)(w[(size_t)o * n_in + i] - 128);
}

static void test_linear(void) {
  enum { MAX_ROWS = 13, MAX_IN = 1024, MAX_OUT = 80 };
  static int16_t x[MAX_ROWS * MAX_IN], y0[MAX_ROWS * MAX_OUT], y1[MAX_ROWS * MAX_OUT];
  static uint8_t w[MAX_OUT * MAX_IN], work[2 * MAX_ROWS * MAX_IN];
  static int8_t wp[(MAX_OUT + 16) * MAX_IN];
  int32_t zw[MAX_OUT];
  int64_t bias[MAX_OUT];
  kiln_rq rq[MAX_OUT];
  for (int c = 0; c < 600; c++) {
    const int sixteen = c % 2;
    const int32_t rows = 1 + range(0, MAX_ROWS - 1), n_in = 4 * range(1, MAX_IN / 4), n_out = range(1, MAX_OUT);
    /* 0..2 random, 3: x at the top, 4: x at the bottom, 5: weights 0, 6: weights 255, 7, 8: both extremes */
    const int mode = c % 9;
    int32_t xlo = sixteen ? -32768 : 0, xhi = sixteen ? 32767 : 255;
    if (!sixteen && c % 5 == 0) xhi = 15; /* uint4 */
    const int32_t zx = sixteen ? 0 : range(xlo, xhi);
    for (int32_t i = 0; i < rows * n_in; i++) x[i] = (int16_t)(mode == 3 || mode == 8 ? xhi : mode == 4 || mode == 7 ? xlo : range(xlo, xhi));
    for (int32_t i = 0; i < n_out * n_in; i++) w[i] = (uint8_t)(mode == 5 || mode == 7 ? 0 : mode == 6 || mode == 8 ? 255 : range(0, 255));
    pack(wp, w, n_out, n_in);
    for (int32_t o = 0; o < n_out; o++) {
      zw[o] = range(0, 255);
      int64_t sw = 0;
      for (int32_t i = 0; i < n_in; i++) sw += w[(size_t)o * n_in + i];
      bias[o] = (int64_t)n_in * zx * zw[o] - zx * sw; /* planes = 1 */
      rq[o] = random_rq(sixteen ? 20 : 12, sixteen ? 40 : 30);
    }
    const kiln_grid g = grid_of(c % 3 == 0);
    kiln_linear_u8(y0, x, zx, rows, n_in, w, zw, n_out, rq, &g);
    (sixteen ? kiln_linear_avx2_a16 : kiln_linear_avx2_a8)(y1, x, rows, n_in, wp, zw, bias, n_out, rq, &g, work);
    check(sixteen ? "linear_a16" : "linear_a8", c, y0, y1, rows * n_out);
  }
  printf("linear: 600 cases\n");
}

/* The prefill path at sizes it tiles and chunks: rows past one row group
 * (128) and every remainder of the 6-row tiles, n_in across several chunks
 * of 112 k steps (and not a multiple of one), n_out across several passes of
 * 4 half blocks and not a multiple of 16 or 8; extremes: codes all at one
 * end of their range, weights all 0 or 255 (w - 128 = -128 or 127), and the
 * 16-bit worst case for the int32 chunk sums (codes -32768, weights 0). */
static void test_linear_prefill(void) {
  enum { MAX_ROWS = 134, MAX_IN = 1500, MAX_OUT = 100 };
  static const int32_t row_counts[] = { 2, 3, 5, 7, 8, 11, 14, 127, 128, 129, 131, 134 };
  static int16_t x[MAX_ROWS * MAX_IN], y0[MAX_ROWS * MAX_OUT], y1[MAX_ROWS * MAX_OUT];
  static uint8_t w[MAX_OUT * MAX_IN];
  static int8_t wp[(MAX_OUT + 16) * MAX_IN];
  int32_t zw[MAX_OUT];
  int64_t bias[MAX_OUT];
  kiln_rq rq[MAX_OUT];
  const int ncases = 72;
  for (int c = 0; c < ncases; c++) {
    const int sixteen = c % 2;
    const int32_t rows = row_counts[(c / 2) % (int)(sizeof row_counts / sizeof *row_counts)];
    const int32_t n_in = c % 3 == 0 ? MAX_IN - 4 * range(0, 3) : 4 * range(100, MAX_IN / 4);
    const int32_t n_out = c % 5 == 0 ? MAX_OUT : range(33, MAX_OUT);
    /* 0..2 random, 3: x at the top, 4: x at the bottom, 5: weights 0, 6: weights 255, 7, 8: both extremes */
    const int mode = (c / 3) % 9;
    const int32_t xlo = sixteen ? -32768 : 0, xhi = sixteen ? 32767 : 255;
    const int32_t zx = sixteen ? 0 : range(xlo, xhi);
    for (int32_t i = 0; i < rows * n_in; i++)
      x[i] = (int16_t)(mode == 3 || mode == 8 ? xhi : mode == 4 || mode == 7 ? xlo : range(xlo, xhi));
    for (int32_t i = 0; i < n_out * n_in; i++)
      w[i] = (uint8_t)(mode == 5 || mode == 7 ? 0 : mode == 6 || mode == 8 ? 255 : range(0, 255));
    pack(wp, w, n_out, n_in);
    for (int32_t o = 0; o < n_out; o++) {
      zw[o] = range(0, 255);
      int64_t sw = 0;
      for (int32_t i = 0; i < n_in; i++) sw += w[(size_t)o * n_in + i];
      bias[o] = (int64_t)n_in * zx * zw[o] - zx * sw; /* planes = 1 */
      rq[o] = random_rq(sixteen ? 24 : 14, sixteen ? 44 : 32);
    }
    const kiln_grid g = grid_of(c % 3 == 0);
    kiln_linear_u8(y0, x, zx, rows, n_in, w, zw, n_out, rq, &g);
    (sixteen ? kiln_linear_avx2_a16 : kiln_linear_avx2_a8)(y1, x, rows, n_in, wp, zw, bias, n_out, rq, &g, NULL);
    check(sixteen ? "linear_prefill_a16" : "linear_prefill_a8", c, y0, y1, rows * n_out);
  }
  printf("linear prefill: %d cases\n", ncases);
}

/* ---- elementwise -------------------------------------------------------------- */

static void fill(int16_t *v, int32_t n, int32_t lo, int32_t hi) {
  for (int32_t i = 0; i < n; i++) v[i] = (int16_t)range(lo, hi);
}

static void test_elementwise(void) {
  enum { N = 700 };
  static int16_t a[N], b[N], c3[N], y0[N], y1[N];
  for (int c = 0; c < 300; c++) {
    const int sixteen = c % 2;
    const int32_t lo = sixteen ? -32768 : 0, hi = sixteen ? 32767 : 255;
    const int32_t n = range(1, N);
    fill(a, N, lo, hi), fill(b, N, lo, hi), fill(c3, N, lo, hi);
    const int32_t za = sixteen ? 0 : range(0, 255), zb = sixteen ? 0 : range(0, 255), zc = sixteen ? 0 : range(0, 255);
    const kiln_grid g = grid_of(c % 3 == 0);
    kiln_rq rq = random_rq(c % 11 == 0 ? 0 : 1, c % 13 == 0 ? 63 : 40);
    kiln_requant(y0, a, n, za, rq, &g), kiln_requant_avx2(y1, a, n, za, rq, &g);
    check("requant", c, y0, y1, n);
    rq = random_rq(c % 11 == 0 ? 0 : 14, c % 13 == 0 ? 63 : 48);
    kiln_mul(y0, a, za, b, zb, n, rq, &g), kiln_mul_avx2(y1, a, za, b, zb, n, rq, &g);
    check("mul", c, y0, y1, n);
    const int32_t heads = range(1, 4), d = 2 * range(1, 40), rows = N / (heads * d) < 3 ? 1 : 3;
    kiln_mul_rows(y0, a, za, b, zb, rows, heads, d, rq, &g), kiln_mul_rows_avx2(y1, a, za, b, zb, rows, heads, d, rq, &g);
    check("mul_rows", c, y0, y1, rows * heads * d);
    rq = random_rq(1, 30);
    kiln_take_half(y0, a, rows * heads, d, c % 2, za, rq, &g), kiln_take_half_avx2(y1, a, rows * heads, d, c % 2, za, rq, &g);
    check("take_half", c, y0, y1, rows * heads * d / 2);
    kiln_concat_halves(y0, a, za, rq, b, zb, random_rq(1, 30), rows * heads, d / 2, &g);
    memcpy(y1, y0, sizeof y0);
    kiln_rq rb = random_rq(1, 30);
    kiln_concat_halves(y0, a, za, rq, b, zb, rb, rows * heads, d / 2, &g);
    kiln_concat_halves_avx2(y1, a, za, rq, b, zb, rb, rows * heads, d / 2, &g);
    check("concat_halves", c, y0, y1, rows * heads * d);
    kiln_heads_first(y0, a, rows, heads, d, za, rq, &g), kiln_heads_first_avx2(y1, a, rows, heads, d, za, rq, &g);
    check("heads_first", c, y0, y1, rows * heads * d);
    kiln_add_rq arq;
    arq.ma = (int32_t)(rnd() & 0x7FFFFFFF), arq.mb = (int32_t)(rnd() & 0x7FFFFFFF), arq.mc = (int32_t)(rnd() & 0x7FFFFFFF);
    arq.shift = range(c % 17 == 0 ? 0 : 20, c % 19 == 0 ? 63 : 50);
    const int16_t *cc = c % 3 ? c3 : NULL;
    kiln_add(y0, a, za, b, zb, cc, zc, n, &arq, &g), kiln_add_avx2(y1, a, za, b, zb, cc, zc, n, &arq, &g);
    check("add", c, y0, y1, n);
    int32_t i0 = kiln_argmax(a, n), i1 = kiln_argmax_avx2(a, n);
    if (i0 != i1) {
      fprintf(stderr, "argmax case %d: portable %d, avx2 %d\n", c, (int)i0, (int)i1);
      exit(1);
    }
    for (int32_t i = 0; i < n; i++) b[i] = (int16_t)(a[i] % 3); /* ties */
    i0 = kiln_argmax(b, n), i1 = kiln_argmax_avx2(b, n);
    if (i0 != i1) {
      fprintf(stderr, "argmax ties case %d: portable %d, avx2 %d\n", c, (int)i0, (int)i1);
      exit(1);
    }
  }
  printf("elementwise: 300 cases\n");
}

/* ---- RMSNorm, exp tables ---------------------------------------------------------- */

static void test_rmsnorm(void) {
  enum { N = 600, ROWS = 3 };
  static int16_t x[N * ROWS], gamma[N], y0[N * ROWS], y1[N * ROWS];
  for (int c = 0; c < 200; c++) {
    const int sixteen = c % 2;
    const int32_t lo = sixteen ? -32768 : 0, hi = sixteen ? 32767 : 255, n = range(1, N);
    fill(x, N * ROWS, lo, hi), fill(gamma, N, lo, hi);
    if (c % 7 == 0) memset(x, 0, sizeof x);
    const int32_t zx = c % 7 == 0 ? 0 : sixteen ? 0 : range(0, 255), zg = sixteen ? 0 : range(0, 255);
    kiln_norm_rq p;
    p.gain = random_rq(20, 40);
    p.frac_bits = 2 * range(0, 8);
    p.eps_term = c % 5 == 0 ? 0 : rnd();
    const kiln_grid g = grid_of(c % 3 == 0);
    kiln_rmsnorm(y0, x, zx, ROWS, n, gamma, zg, &p, &g), kiln_rmsnorm_avx2(y1, x, zx, ROWS, n, gamma, zg, &p, &g);
    check("rmsnorm", c, y0, y1, ROWS * n);
  }
  printf("rmsnorm: 200 cases\n");
}

/* exp(-d s) tables in Q31, lo[0] = 2^31 (the generator's; here any decreasing values) */
static void make_lut(kiln_exp_lut *lut, uint32_t *lo, uint32_t *hi, int32_t max_d) {
  const double s = 1.0 / (1.0 + rnd() % 2000);
  for (int i = 0; i < 256; i++) {
    double e = 2147483648.0;
    for (int j = 0; j < i; j++) e *= 1.0 - s;
    lo[i] = (uint32_t)e;
  }
  for (int i = 0; i < 256; i++) {
    double e = 2147483648.0;
    for (int j = 0; j < i * 256 && e > 1; j++) e *= 1.0 - s;
    hi[i] = (uint32_t)e;
  }
  lut->lo = lo;
  lut->hi = max_d >= 256 ? hi : NULL;
  lut->max_d = max_d;
}

static void test_exp(void) {
  enum { N = 3000 };
  static int16_t x[N], y0[N], y1[N];
  static uint32_t lo[256], hi[256];
  for (int c = 0; c < 120; c++) {
    const int sixteen = c % 2;
    kiln_exp_lut lut;
    make_lut(&lut, lo, hi, c % 4 == 0 ? 255 : range(256, 65535));
    const int32_t n = c % 10 == 0 ? N : range(1, 600);
    const kiln_grid g = grid_of(c % 3 == 0);
    fill(x, N, sixteen ? -32768 : 0, sixteen ? 32767 : 255);
    const int32_t zx = sixteen ? 0 : range(0, 255);
    kiln_rq rq = random_rq(c % 9 == 0 ? 0 : 20, 40);
    kiln_sigmoid(y0, x, zx, n, &lut, rq, &g), kiln_sigmoid_avx2(y1, x, zx, n, &lut, rq, &g);
    check("sigmoid", c, y0, y1, n);
    if (c % 3 == 1) fill(x, N, -40, 40);
    kiln_softmax_row(y0, x, n, &lut, rq, &g), kiln_softmax_row_avx2(y1, x, n, &lut, rq, &g);
    check("softmax_row", c, y0, y1, n);
  }
  printf("sigmoid, softmax: 120 cases\n");
}

/* ---- attention --------------------------------------------------------------------- */

static void test_attention(void) {
  enum { MAX_D = 256, MAX_T = 300 };
  static int16_t q[MAX_D], kp[MAX_T * MAX_D], kf[MAX_T * MAX_D], vp[MAX_T * MAX_D], vf[MAX_T * MAX_D], p[2 * MAX_T];
  static int16_t y0[2 * MAX_T], y1[2 * MAX_T], scratch[4 * MAX_T];
  static uint32_t lo[256], hi[256];
  const int32_t dims[] = { 8, 16, 32, 64, 128, 256, 12, 48 };
  for (int c = 0; c < 300; c++) {
    const int sixteen = c % 2;
    const int32_t d = dims[c % 8], n_past = range(0, MAX_T / (d > 64 ? 4 : 1)), n_fresh = range(1, 40);
    const int32_t lo16 = sixteen ? -32768 : 0, hi16 = sixteen ? 32767 : 255;
    const int32_t zq = sixteen ? 0 : range(0, 255), zk = sixteen ? 0 : range(0, 255), zv = sixteen ? 0 : range(0, 255);
    /* codes minus zero points within int16 (the generator's precondition) */
    fill(q, MAX_D, sixteen ? -32767 : 0, hi16);
    if (c % 10 == 5) q[0] = q[1] = -32768; /* the pair that overflows int32: the portable case */
    fill(kp, MAX_T * MAX_D, lo16, hi16), fill(kf, MAX_T * MAX_D, lo16, hi16);
    fill(vp, MAX_T * MAX_D, lo16, hi16), fill(vf, MAX_T * MAX_D, lo16, hi16);
    const kiln_kv_view k = { kp, n_past, kf, n_fresh, zk }, v = { vp, n_past, vf, n_fresh, zv };
    const kiln_grid g = grid_of(c % 3 == 0);
    const kiln_rq rq = random_rq(sixteen ? 20 : 8, 40);
    const int32_t n = n_past + n_fresh;
    kiln_qk_row(y0, q, zq, &k, d, rq, &g), kiln_qk_row_avx2(y1, q, zq, &k, d, rq, &g);
    check("qk_row", c, y0, y1, n);
    /* probabilities: zero point 0, codes summing below 2^16 */
    const int32_t budget = 65535 - n;
    for (int32_t t = 0; t < n; t++) p[t] = (int16_t)(rnd() % (uint32_t)(budget / n + 1));
    if (c % 4 == 0) {
      memset(p, 0, sizeof p);
      p[range(0, n - 1)] = 32767;
    }
    kiln_pv_row(y0, p, 0, &v, d, rq, &g), kiln_pv_row_avx2(y1, p, 0, &v, d, rq, &g);
    check("pv_row", c, y0, y1, d);
    kiln_exp_lut lut;
    make_lut(&lut, lo, hi, range(256, 65535));
    kiln_attention_row a;
    a.qk = random_rq(sixteen ? 24 : 8, 36), a.logits = grid_of(sixteen), a.mask = random_rq(28, 34);
    a.scores = grid_of(sixteen), a.exp = &lut, a.softmax = random_rq(32, 40), a.probs = grid_of(sixteen);
    a.probs.zero_point = 0, a.probs.qmin = 0, a.probs.qmax = sixteen ? 32767 : 255;
    a.pv = random_rq(sixteen ? 20 : 8, 36), a.out = grid_of(sixteen);
    {
      int16_t *const logits = scratch, *const scores = scratch + n, *const probs = scratch + 2 * n;
      kiln_qk_row(logits, q, zq, &k, d, a.qk, &a.logits);
      kiln_requant(scores, logits, n, a.logits.zero_point, a.mask, &a.scores);
      kiln_softmax_row(probs, scores, n, a.exp, a.softmax, &a.probs);
      int64_t sum = 0;
      for (int32_t t = 0; t < n; t++) sum += probs[t];
      if (sum >= 65536) continue; /* outside the generator's bound */
      kiln_pv_row(y0, probs, 0, &v, d, a.pv, &a.out);
    }
    kiln_attention_row_avx2(y1, q, zq, &k, &v, d, &a, scratch);
    check("attention_row", c, y0, y1, d);
  }
  printf("attention: 300 cases\n");
}

int main(void) {
  test_linear();
  test_linear_prefill();
  test_elementwise();
  test_rmsnorm();
  test_exp();
  test_attention();
  printf("ok\n");
  return failures != 0;
}
