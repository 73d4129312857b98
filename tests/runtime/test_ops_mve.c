/*
 * The Cortex-M55 Helium kernels (runtime/cortex-m55/) against the portable
 * ones, bit for bit, as firmware under qemu-system-arm: the adds, products,
 * requantization, sigmoid, softmax, the attention rows and the 8-bit
 * linear kernels, on random inputs whose draws hit the ends of their ranges
 * (test_random.h), with multipliers of every shift and exp tables both
 * exp-like and arbitrary (any value up to 2^31). Inputs stay within each
 * kernel's documented preconditions (kiln_rt_mve.h): q - zq within int16
 * for q . k, sum |p - zp| below 2^16 for p . v.
 */
#include "kiln_rt.h"
#include "kiln_rt_mve.h"
#include "semihosting.h"
#include "test_random.h"

#include <stddef.h>

#define CASES 3000
#define N_MAX 260
#define D_MAX 20
#define KEYS_MAX 48
#define OUT_MAX 40

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

static int16_t A[N_MAX], B[N_MAX], C[N_MAX], X[2 * N_MAX], KV[KEYS_MAX * D_MAX];
static uint8_t W[N_MAX * OUT_MAX];
static int32_t W_ZP[OUT_MAX], W_SUM[OUT_MAX];
static kiln_rq RQ[OUT_MAX];
static uint32_t LO[256], HI[256];
static int16_t want[2 * OUT_MAX + N_MAX], got[2 * OUT_MAX + N_MAX];

/* codes over int16 (wide) or a small range around 0 */
static int16_t code(int wide) { return (int16_t)(wide ? range(-32768, 32767) : range(-300, 300)); }
static void fill(int16_t *x, int32_t n, int wide) {
  for (int32_t i = 0; i < n; i++) x[i] = code(wide);
}

static int32_t signed31(void) {
  const int32_t m = (int32_t)(rnd() & 0x7FFFFFFF);
  return rnd() % 2 ? m : -m;
}

/* a multiplier with a shift in [lo, hi], its mult mostly in [2^30, 2^31) */
static kiln_rq multiplier(int32_t lo, int32_t hi) {
  kiln_rq r;
  r.shift = range(lo, hi);
  r.mult = (int32_t)(rnd() % 4 ? (1u << 30) + rnd() % (1u << 30) : rnd() & 0x7FFFFFFF);
  return r;
}

static kiln_grid grid(void) {
  const int wide = rnd() % 2, from_zero = rnd() % 3 == 0;
  kiln_grid g;
  g.qmin = from_zero ? 0 : wide ? -32768 : -128;
  g.qmax = wide ? 32767 : from_zero ? 255 : 127;
  g.zero_point = range(-10, 10);
  return g;
}

/* exp tables: decreasing from 2^31 (as kiln writes them), or arbitrary
 * values up to 2^31; the second table sometimes absent */
static kiln_exp_lut tables(void) {
  const int arbitrary = rnd() % 4 == 0;
  uint32_t v = 1u << 31, h = 1u << 31;
  for (int i = 0; i < 256; i++) {
    LO[i] = arbitrary ? rnd() % ((1u << 31) + 1) : v;
    HI[i] = arbitrary ? rnd() % ((1u << 31) + 1) : h;
    v -= v / (1 + rnd() % 200);
    h -= h / (1 + rnd() % 8);
  }
  kiln_exp_lut l;
  l.lo = LO;
  l.hi = rnd() % 4 ? HI : NULL;
  l.max_d = l.hi ? range(0, 65535) : range(0, 255);
  return l;
}

static int differ(const char *what, int c, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    if (got[i] != want[i]) {
      char a[24], b[24], d[24], e[24];
      number(a, c), number(b, i), number(d, want[i]), number(e, got[i]);
      say(what), say(": case "), say(a), say(", value "), say(b), say(": portable "), say(d), say(", kernel "),
          say(e), say("\n");
      return 1;
    }
  return 0;
}

static int elementwise(int c, int32_t n, int wide, const kiln_grid *g) {
  kiln_add_rq ar;
  ar.ma = signed31(), ar.mb = (int32_t)(rnd() & 0x7FFFFFFF), ar.mc = signed31(), ar.shift = range(1, 32);
  fill(A, n, wide), fill(B, n, wide), fill(C, n, wide);
  const int32_t za = range(-65536, 65536), zb = range(-300, 300), zc = range(-65536, 65536);
  const int16_t *third = rnd() % 2 ? C : NULL;
  kiln_add(want, A, za, B, zb, third, zc, n, &ar, g);
  kiln_add_mve(got, A, za, B, zb, third, zc, n, &ar, g);
  if (differ("kiln_add_mve", c, n)) return 1;

  const kiln_rq r = multiplier(1, 63);
  const int32_t ma = rnd() % 2 ? 0 : range(-40000, 40000), mb = rnd() % 2 ? 0 : range(-300, 300);
  kiln_mul(want, A, ma, B, mb, n, r, g);
  kiln_mul_mve(got, A, ma, B, mb, n, r, g);
  if (differ("kiln_mul_mve", c, n)) return 1;

  const kiln_rq rr = multiplier(1, 63);
  kiln_requant(want, A, n, ma, rr, g);
  kiln_requant_mve(got, A, n, ma, rr, g);
  if (differ("kiln_requant_mve", c, n)) return 1;

  const kiln_exp_lut l = tables();
  const kiln_rq rs = multiplier(1, 63);
  fill(A, n, 1);
  kiln_sigmoid(want, A, ma, n, &l, rs, g);
  kiln_sigmoid_mve(got, A, ma, n, &l, rs, g);
  return differ("kiln_sigmoid_mve", c, n);
}

static int attention(int c, int32_t n, int wide, const kiln_grid *g) {
  kiln_exp_lut l = tables();
  LO[0] = 1u << 31; /* exp(0): a row's sum is at least 2^31 */
  const kiln_rq rs = multiplier(1, 63);
  fill(A, n, wide);
  kiln_softmax_row(want, A, n, &l, rs, g);
  kiln_softmax_row_mve(got, A, n, &l, rs, g);
  if (differ("kiln_softmax_row_mve", c, n)) return 1;

  const int32_t d = rnd() % 2 ? 8 : range(1, D_MAX), n_past = range(0, KEYS_MAX - 8), n_fresh = range(1, 8);
  fill(KV, (n_past + n_fresh) * d, wide);
  fill(A, d, wide);
  const kiln_kv_view kv = { KV, n_past, KV + n_past * d, n_fresh, rnd() % 2 ? 0 : range(-300, 300) };
  const kiln_rq r = multiplier(1, 63);
  const int32_t zq = rnd() % 2 || wide ? 0 : range(-300, 300);
  kiln_qk_row(want, A, zq, &kv, d, r, g);
  kiln_qk_row_mve(got, A, zq, &kv, d, r, g);
  if (differ("kiln_qk_row_mve", c, n_past + n_fresh)) return 1;

  const int32_t zp = range(-100, 100);
  for (int32_t t = 0; t < n_past + n_fresh; t++) B[t] = (int16_t)(zp + range(-600, 600));
  kiln_pv_row(want, B, zp, &kv, d, r, g);
  kiln_pv_row_mve(got, B, zp, &kv, d, r, g);
  return differ("kiln_pv_row_mve", c, d);
}

/* 8-bit weights: rows up to 260 values (the short rows' path and past it),
 * weight zero points mostly on the byte range, shifts mostly 33 to 63 */
static int linear(int c, int wide, const kiln_grid *g) {
  const int32_t n_in = range(1, N_MAX), n_out = range(1, OUT_MAX), rows = range(1, 2);
  const int kind = (int)(rnd() % 3); /* 0: u8, 1: s8, 2: u8 on byte activations */
  for (int32_t i = 0; i < n_in * n_out; i++) W[i] = (uint8_t)rnd();
  for (int32_t o = 0; o < n_out; o++) {
    W_ZP[o] = rnd() % 8 ? range(kind == 1 ? -128 : 0, kind == 1 ? 127 : 255) : range(-300, 600);
    int32_t s = 0;
    for (int32_t i = 0; i < n_in; i++) s += kind == 1 ? (int8_t)W[o * n_in + i] : W[o * n_in + i];
    W_SUM[o] = s;
    RQ[o] = rnd() % 10 ? multiplier(33, 63) : multiplier(1, 63);
  }
  for (int32_t i = 0; i < rows * n_in; i++) X[i] = kind == 2 ? (int16_t)range(0, 255) : code(wide);
  const int32_t zx = kind == 2 ? range(0, 255) : rnd() % 2 ? 0 : range(-300, 300);
  const int32_t n = rows * n_out;
  if (kind == 1) {
    kiln_linear_s8(want, X, zx, rows, n_in, (const int8_t *)W, W_ZP, n_out, RQ, g);
    kiln_linear_mve_s8(got, X, zx, rows, n_in, (const int8_t *)W, W_ZP, W_SUM, n_out, RQ, g);
    return differ("kiln_linear_mve_s8", c, n);
  }
  kiln_linear_u8(want, X, zx, rows, n_in, W, W_ZP, n_out, RQ, g);
  if (kind == 2) {
    kiln_linear_mve_a8_u8(got, X, zx, rows, n_in, W, W_ZP, W_SUM, n_out, RQ, g);
    return differ("kiln_linear_mve_a8_u8", c, n);
  }
  kiln_linear_mve_u8(got, X, zx, rows, n_in, W, W_ZP, W_SUM, n_out, RQ, g);
  return differ("kiln_linear_mve_u8", c, n);
}

int main(void) {
  for (int c = 0; c < CASES; c++) {
    const int32_t n = range(1, 200);
    const int wide = rnd() % 2;
    const kiln_grid g = grid();
    if (elementwise(c, n, wide, &g) || attention(c, n, wide, &g) || linear(c, wide, &g)) return 1;
  }
  say("ok\n");
  return 0;
}
