/*
 * The microcontroller targets' kernels (rules/cortex-m4.lua, rules/cortex-m55.lua)
 * against the portable runtime, bit for bit, as firmware: for every kernel the
 * rules name, the target's kernel and the portable one run on the same inputs
 * and their outputs (and guard values around them) are compared.
 *
 * The reference is the portable runtime compiled without the target's
 * KILN_RT_TARGET_REQUANT and linked into the image with its symbols renamed
 * kiln_* -> ref_kiln_* (tests/unit/mcu_kernels_spec.lua does that), so that
 * the comparison is with true portable, not with portable around the target's
 * requantization.
 *
 * The kernels come from -D defines the spec makes from the rules' kernels
 * table, so a kernel the rules do not name is not built and a new one is
 * tested as soon as the rules name it:
 *   KILN_TEST_<OP>=name     requant, take_half, concat_halves, heads_first, mul,
 *                           mul_rows, add, rmsnorm, sigmoid, softmax_row
 *   KILN_TEST_QK_ROW=name, KILN_TEST_QK_DIMS=(d, ...)   the head sizes its rules entry takes;
 *   KILN_TEST_PV_ROW=name, KILN_TEST_PV_DIMS=(d, ...)   the same for pv
 *   KILN_TEST_LINEAR=LINEAR(name, TEMPLATE, storage, grids, shift_lo, shift_hi, n_max, (n_in, ...)) ...
 *     one for each rules entry and weight storage: TEMPLATE ROWS (templates/ops/linear.c),
 *     SUMS (linear_sums.c: w_sum, the sum of each row's codes) or PACKED (linear_packed.c: no
 *     x_zp, each row's bias n zx zw - zx sum w); grids the activation grids the entry takes
 *     (bits of GRID_*), its multipliers' shifts, and the row lengths it takes.
 * The spec also writes test_mcu_tables.h: the target's headers, exp tables
 * made by the generator's own fixed.exp_lut (TEST_LUTS) and RMSNorm constants
 * by fixed.norm_rq (TEST_NORMS).
 *
 * The inputs are what the generator and the rules promise a call, and their
 * ends: codes on their grids (uint8, int8, int16, uint4, int4; often all at
 * one end), zero points anywhere on the grid's range and at its ends (int16
 * ones 0 where a kernel needs codes within int16 of them), multipliers with
 * mult in [2^30, 2^31) and every shift 0 to 95 the generator can make (often
 * fitted to the case's own accumulators, so that the outputs land inside
 * the grid and a unit of the accumulator shows where they are small; a
 * linear case's rows often share one shift, as a layer's do), output grids
 * of every dtype, lengths from 0 or 1 up (odd, short, past a vector or
 * block), accumulators past 2^31 where the contract allows; kv views with no
 * past; probabilities with zero point 0 whose codes sum up to 65535; rows
 * now and then at addresses off a word.
 *
 * Prints "<kernel> ok <cases>" for each kernel that agrees, and "ok" at the
 * end if all do; for one that does not, its first difference: "FAIL
 * <kernel>: case <c> (<its parameters>), index <i>: portable <v>, kernel
 * <w>"; the other kernels still run, and the program exits non-zero.
 */
#include "kiln_rt.h"
#include "kiln_rt_w4.h"
#include "test_mcu_tables.h"
#include "semihosting.h"
#include "test_random.h"

#include <stddef.h>

/* the buffers and helpers serve the kernels a target has, not always all */
#define MAYBE_UNUSED __attribute__((unused))

/* ---- the reference: the portable kernels, renamed ref_kiln_* ------------- */

#define REFERENCE(fn) extern __typeof__(fn) ref_##fn;
REFERENCE(kiln_requant)
REFERENCE(kiln_take_half)
REFERENCE(kiln_concat_halves)
REFERENCE(kiln_heads_first)
REFERENCE(kiln_mul)
REFERENCE(kiln_mul_rows)
REFERENCE(kiln_add)
REFERENCE(kiln_rmsnorm)
REFERENCE(kiln_sigmoid)
REFERENCE(kiln_softmax_row)
REFERENCE(kiln_qk_row)
REFERENCE(kiln_pv_row)
REFERENCE(kiln_linear_u8)
REFERENCE(kiln_linear_s8)
REFERENCE(kiln_linear_s16)
REFERENCE(kiln_linear_u4)
REFERENCE(kiln_linear_s4)

/* ---- output ------------------------------------------------------------- */

static void say(const char *s) { kiln_sh_write0(s); }

static void number(char *out, int64_t v) { /* no printf in firmware */
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do tmp[n++] = (char)('0' + u % 10), u /= 10;
  while (u);
  if (neg) *out++ = '-';
  while (n) *out++ = tmp[--n];
  *out = 0;
}

static void say_number(int64_t v) {
  char s[24];
  number(s, v);
  say(s);
}

/* The current case's parameters, for the report of a difference. */
#define DESC_CHARS 400
static char desc[DESC_CHARS];
static int32_t desc_len;

static void desc_start(void) { desc_len = 0, desc[0] = 0; }

static void desc_put(const char *s) {
  while (*s && desc_len < DESC_CHARS - 1) desc[desc_len++] = *s++;
  desc[desc_len] = 0;
}

/* ", name value" (the first without the comma) */
static void desc_add(const char *name, int64_t v) {
  char s[24];
  number(s, v);
  if (desc_len) desc_put(", ");
  desc_put(name), desc_put(" "), desc_put(s);
}

static void desc_rq(const char *name, kiln_rq rq) {
  desc_add(name, rq.mult);
  desc_add("shift", rq.shift);
}

static void desc_grid(const char *name, const kiln_grid *g) {
  desc_add(name, g->zero_point);
  desc_add("qmin", g->qmin);
  desc_add("qmax", g->qmax);
}

/* ---- buffers -------------------------------------------------------------- */

enum {
  MAX_IN = 65536,       /* the folded kernels' rows are below 2^16 */
  MAX_X = 2 * MAX_IN,   /* activations: two such rows */
  MAX_OUT = 20,         /* output channels of a linear case */
  MAX_W = 5 * MAX_IN,   /* weight codes: five rows of the longest */
  MAX_Y = 8192,         /* outputs of a case */
  GUARD = 8,            /* values past the outputs that no kernel may write */
  MAX_KV = 272 * 300,   /* one segment of keys or values */
};
#define SENTINEL ((int16_t)0x5A5A)

static int16_t xa_buf[MAX_X + 1], xb_buf[MAX_X + 1], xc_buf[MAX_X + 1];
MAYBE_UNUSED static int16_t k_past[MAX_KV], k_fresh[MAX_KV];
MAYBE_UNUSED static union {
  uint8_t u8[2 * MAX_W];
  int16_t s16[MAX_W];
} wbuf;
MAYBE_UNUSED static uint8_t w4[MAX_W / 2 + MAX_OUT];
MAYBE_UNUSED static int32_t w_zp[MAX_OUT], w_sum[MAX_OUT];
MAYBE_UNUSED static int64_t w_bias[MAX_OUT];
MAYBE_UNUSED static kiln_rq w_rq[MAX_OUT];
#ifndef KILN_TEST_WORK_PER_VALUE
#define KILN_TEST_WORK_PER_VALUE 0 /* a packed kernel's scratch bytes an activation value (rules: work) */
#endif
MAYBE_UNUSED static uint8_t work[(KILN_TEST_WORK_PER_VALUE * MAX_X + 1) / 2 + 1];
static int16_t want_buf[1 + MAX_Y + GUARD], got_buf[1 + MAX_Y + GUARD];

/* A case's inputs and outputs (the reference's and the kernel's), now and
 * then one value into their buffers: at an address that is not a multiple
 * of 4, as the generated code passes rows of odd length. */
MAYBE_UNUSED static int16_t *xa = xa_buf, *xb = xb_buf, *xc = xc_buf;
static int16_t *want = want_buf, *got = got_buf;
static int32_t out_at, failed_at; /* where the outputs start; the first difference */

static void start_case(void) {
  desc_start();
  const uint32_t moved = rnd() % 16 & rnd() % 16; /* bits: x a, b, c, outputs; a quarter each */
  xa = xa_buf + (moved & 1), xb = xb_buf + (moved >> 1 & 1), xc = xc_buf + (moved >> 2 & 1);
  out_at = (int32_t)(moved >> 3 & 1);
  want = want_buf + out_at, got = got_buf + out_at;
  if (moved) desc_add("moved", moved);
}

/* Fills both outputs with the sentinel, n values and the guards about them. */
static void prefill(int32_t n) {
  for (int32_t i = 0; i < out_at + n + GUARD; i++) want_buf[i] = got_buf[i] = SENTINEL;
}

/* The first difference of the n outputs and the guards, reported; 1 if any. */
static int compare(const char *kernel, int32_t c, int32_t n) {
  for (int32_t i = 0; i < out_at + n + GUARD; i++)
    if (want_buf[i] != got_buf[i]) {
      failed_at = i - out_at;
      say("FAIL "), say(kernel), say(": case "), say_number(c), say(" ("), say(desc), say("), index ");
      say_number(i - out_at);
      if (i < out_at) say(" (before the outputs)");
      if (i >= out_at + n) say(" (past the outputs)");
      say(": portable "), say_number(want_buf[i]), say(", kernel "), say_number(got_buf[i]), say("\n");
      return 1;
    }
  return 0;
}

static void passed(const char *kernel, int32_t cases) {
  say(kernel), say(" ok "), say_number(cases), say("\n");
}

#define COUNT(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))
#define PICK(a) ((a)[rnd() % (uint32_t)COUNT(a)])
#define STR(x) #x
#define NAME(x) STR(x)
#define UNPAREN(...) __VA_ARGS__
#define ITEMS(list) UNPAREN list /* (a, b, ...) -> a, b, ... */

/* ---- grids, codes, multipliers ------------------------------------------------ */

enum { U8, S8, S16, U4, S4, DTYPES };
static const int32_t QMIN[DTYPES] = { 0, -128, -32768, 0, -8 };
static const int32_t QMAX[DTYPES] = { 255, 127, 32767, 15, 7 };

/* Activation grids as classes, for what a linear entry takes: int16 ones
 * with zero point 0 (codes within int16 of it) and others. */
enum { GRID_U8 = 1, GRID_S8 = 2, GRID_S16_ZERO = 4, GRID_S16 = 8, GRID_U4 = 16, GRID_S4 = 32 };

static int32_t bits_of(const kiln_grid *g) {
  int32_t b = 0;
  while (b < 17 && ((int32_t)1 << b) < g->qmax - g->qmin + 1) b++;
  return b;
}

/* A grid of a dtype; int16 ones with zero point 0 where zero16, else also
 * anywhere on the range. Zero points are often at the ends (range()). */
static kiln_grid grid_of(int32_t dtype, int zero16) {
  kiln_grid g;
  g.qmin = QMIN[dtype], g.qmax = QMAX[dtype];
  g.zero_point = dtype == S16 && (zero16 || rnd() % 2) ? 0 : range(g.qmin, g.qmax);
  return g;
}

MAYBE_UNUSED static kiln_grid any_grid(void) { return grid_of((int32_t)(rnd() % DTYPES), 0); }
/* every code minus the zero point within int16: what the row kernels need */
MAYBE_UNUSED static kiln_grid within16_grid(void) { return grid_of((int32_t)(rnd() % DTYPES), 1); }

/* n codes of a grid: uniform (ends often), all at one end, at both ends,
 * about the zero point, or all equal. */
static void codes_as(int16_t *x, int32_t n, const kiln_grid *g, uint32_t mode) {
  const int32_t lo = g->qmin, hi = g->qmax, fixed = range(lo, hi);
  for (int32_t i = 0; i < n; i++) {
    int32_t v;
    switch (mode) {
    case 0: v = lo; break;
    case 1: v = hi; break;
    case 2: v = rnd() % 2 ? lo : hi; break;
    case 3: v = g->zero_point + range(-3, 3); break;
    case 4: v = fixed; break;
    default: v = range(lo, hi); break;
    }
    x[i] = (int16_t)(v < lo ? lo : v > hi ? hi : v);
  }
}

#define CODES_NEAR_ZERO 3 /* codes_as' mode: small differences, small sums */
static void codes(int16_t *x, int32_t n, const kiln_grid *g) { codes_as(x, n, g, rnd() % 10); }

/* A multiplier's mantissa in [2^30, 2^31): the ends often (2^30: exact halves, ties) */
static int32_t mantissa(void) {
  switch (rnd() % 8) {
  case 0: return (int32_t)1 << 30;
  case 1: return INT32_MAX;
  default: return (int32_t)((1u << 30) | (rnd() & 0x3FFFFFFFu));
  }
}

/* Any shift the generator makes (fixed.rq: 0 to 95), 1 to 63 mostly and the
 * ones where fast paths change (31, 32, 33) often. */
static int32_t any_shift(void) {
  static const int32_t special[] = { 0, 1, 2, 30, 31, 32, 33, 34, 62, 63, 64, 65, 80, 95 };
  const uint32_t r = rnd() % 8;
  if (r == 0) return PICK(special);
  if (r == 1) return range(0, 95);
  return range(1, 63);
}

static int32_t bits64(uint64_t v) {
  int32_t b = 0;
  while (b < 64 && (v >> b) != 0) b++;
  return b;
}

/* The largest magnitude of a case's accumulators, as they are made. */
static uint64_t largest;
static void track(int64_t v) {
  const uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  if (a > largest) largest = a;
}

/* A shift that maps accumulators up to max_abs onto grid g, give or take a
 * few: the outputs inside the grid and rounded, a unit of the accumulator
 * visible in them where max_abs is small. */
static int32_t fitted_shift(uint64_t max_abs, const kiln_grid *g) {
  const int32_t s = 30 + bits64(max_abs) - bits_of(g) + range(-3, 1);
  return s < 0 ? 0 : s > 95 ? 95 : s;
}

/* A multiplier for accumulators up to max_abs onto g: fitted, or at the
 * edge of the fast paths (31 to 34: below 2^-2 a unit of the accumulator
 * still shows often), or any shift. */
static kiln_rq rq_for(uint64_t max_abs, const kiln_grid *g) {
  kiln_rq rq;
  const uint32_t r = rnd() % 8;
  rq.mult = mantissa();
  rq.shift = r < 4 ? fitted_shift(max_abs, g) : r == 4 ? range(31, 34) : any_shift();
  return rq;
}

/* the largest |x - zp| of n codes */
MAYBE_UNUSED static uint64_t max_diff(const int16_t *x, int32_t n, int32_t zp) {
  largest = 0;
  for (int32_t i = 0; i < n; i++) track((int64_t)x[i] - zp);
  return largest;
}

/* The sizes of a case: short ones often, and past the vector widths and blocks. */
MAYBE_UNUSED static const int32_t LENGTHS[] = { 1,  1,  2,  3,  4,   5,   6,   7,   8,   9,   11,  12,
                                                13, 15, 16, 17, 24,  31,  32,  33,  63,  64,  65,  100,
                                                127, 128, 129, 255, 256, 257, 511, 512, 513, 1000 };
MAYBE_UNUSED static const int32_t SMALL[] = { 1, 1, 2, 3, 4, 5, 7, 8 };

/* ---- requantization and the moves built on it ----------------------------------- */

#if defined(KILN_TEST_REQUANT) || defined(KILN_TEST_TAKE_HALF) || defined(KILN_TEST_CONCAT_HALVES) \
  || defined(KILN_TEST_HEADS_FIRST)
/* one input grid and one output grid; the multiplier between them fitted to n codes x */
static kiln_grid gin, gout;
static void move_grids(void) {
  gin = any_grid(), gout = any_grid();
  desc_grid("x_zp", &gin), desc_grid("out_zp", &gout);
}
static kiln_rq move_rq(const int16_t *x, int32_t n, int32_t zp) {
  const kiln_rq rq = rq_for(max_diff(x, n, zp), &gout);
  desc_rq("mult", rq);
  return rq;
}
#endif

#define CASES 3000 /* a kernel's cases; linear and attention rows, which cost more, take fewer */
#define ROW_CASES 2000

#ifdef KILN_TEST_REQUANT
static int test_requant(void) {
  const char *name = NAME(KILN_TEST_REQUANT);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t n = c == 0 ? 0 : c < 8 ? c : PICK(LENGTHS); /* 0: the past of an empty cache */
    move_grids();
    desc_add("n", n);
    codes(xa, n, &gin);
    const kiln_rq rq = move_rq(xa, n, gin.zero_point);
    prefill(n);
    ref_kiln_requant(want, xa, n, gin.zero_point, rq, &gout);
    KILN_TEST_REQUANT(got, xa, n, gin.zero_point, rq, &gout);
    if (compare(name, c, n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_TAKE_HALF
static int test_take_half(void) {
  const char *name = NAME(KILN_TEST_TAKE_HALF);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t rows = PICK(SMALL) * (rnd() % 4 == 0 ? 3 : 1), d = 2 * PICK(SMALL) * (rnd() % 2 ? 8 : 1);
    const int32_t which = (int32_t)(rnd() % 2);
    move_grids();
    desc_add("rows", rows), desc_add("d", d), desc_add("which", which);
    codes(xa, rows * d, &gin);
    const kiln_rq rq = move_rq(xa, rows * d, gin.zero_point);
    prefill(rows * d / 2);
    ref_kiln_take_half(want, xa, rows, d, which, gin.zero_point, rq, &gout);
    KILN_TEST_TAKE_HALF(got, xa, rows, d, which, gin.zero_point, rq, &gout);
    if (compare(name, c, rows * d / 2)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_CONCAT_HALVES
static int test_concat_halves(void) {
  const char *name = NAME(KILN_TEST_CONCAT_HALVES);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t rows = PICK(SMALL) * (rnd() % 4 == 0 ? 3 : 1), h = PICK(SMALL) * (rnd() % 2 ? 8 : 1);
    move_grids();
    const kiln_grid gb = any_grid();
    desc_grid("b_zp", &gb), desc_add("rows", rows), desc_add("h", h);
    codes(xa, rows * h, &gin);
    codes(xb, rows * h, &gb);
    const kiln_rq rq_a = move_rq(xa, rows * h, gin.zero_point), rq_b = move_rq(xb, rows * h, gb.zero_point);
    prefill(2 * rows * h);
    ref_kiln_concat_halves(want, xa, gin.zero_point, rq_a, xb, gb.zero_point, rq_b, rows, h, &gout);
    KILN_TEST_CONCAT_HALVES(got, xa, gin.zero_point, rq_a, xb, gb.zero_point, rq_b, rows, h, &gout);
    if (compare(name, c, 2 * rows * h)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_HEADS_FIRST
static int test_heads_first(void) {
  const char *name = NAME(KILN_TEST_HEADS_FIRST);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t rows = PICK(SMALL), heads = PICK(SMALL), d = PICK(SMALL) * (rnd() % 2 ? 8 : 1);
    move_grids();
    desc_add("rows", rows), desc_add("heads", heads), desc_add("d", d);
    codes(xa, rows * heads * d, &gin);
    const kiln_rq rq = move_rq(xa, rows * heads * d, gin.zero_point);
    prefill(rows * heads * d);
    ref_kiln_heads_first(want, xa, rows, heads, d, gin.zero_point, rq, &gout);
    KILN_TEST_HEADS_FIRST(got, xa, rows, heads, d, gin.zero_point, rq, &gout);
    if (compare(name, c, rows * heads * d)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

/* ---- products and sums -------------------------------------------------------- */

#ifdef KILN_TEST_MUL
static int test_mul(void) {
  const char *name = NAME(KILN_TEST_MUL);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t n = PICK(LENGTHS);
    const kiln_grid ga = any_grid(), gb = any_grid(), g = any_grid();
    codes(xa, n, &ga);
    codes(xb, n, &gb);
    largest = 0;
    for (int32_t i = 0; i < n; i++) track(((int64_t)xa[i] - ga.zero_point) * (xb[i] - gb.zero_point));
    const kiln_rq rq = rq_for(largest, &g);
    desc_add("n", n), desc_grid("a_zp", &ga), desc_grid("b_zp", &gb), desc_grid("out_zp", &g), desc_rq("mult", rq);
    prefill(n);
    ref_kiln_mul(want, xa, ga.zero_point, xb, gb.zero_point, n, rq, &g);
    KILN_TEST_MUL(got, xa, ga.zero_point, xb, gb.zero_point, n, rq, &g);
    if (compare(name, c, n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_MUL_ROWS
static int test_mul_rows(void) {
  const char *name = NAME(KILN_TEST_MUL_ROWS);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t rows = PICK(SMALL), heads = PICK(SMALL), d = PICK(SMALL) * (rnd() % 2 ? 8 : 1);
    const kiln_grid gx = any_grid(), gt = any_grid(), g = any_grid();
    codes(xa, rows * heads * d, &gx);
    codes(xb, rows * d, &gt);
    largest = 0;
    for (int32_t i = 0; i < rows * heads * d; i++)
      track(((int64_t)xa[i] - gx.zero_point) * (xb[i / (heads * d) * d + i % d] - gt.zero_point));
    const kiln_rq rq = rq_for(largest, &g);
    desc_add("rows", rows), desc_add("heads", heads), desc_add("d", d), desc_grid("x_zp", &gx),
      desc_grid("t_zp", &gt), desc_grid("out_zp", &g), desc_rq("mult", rq);
    prefill(rows * heads * d);
    ref_kiln_mul_rows(want, xa, gx.zero_point, xb, gt.zero_point, rows, heads, d, rq, &g);
    KILN_TEST_MUL_ROWS(got, xa, gx.zero_point, xb, gt.zero_point, rows, heads, d, rq, &g);
    if (compare(name, c, rows * heads * d)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_ADD
/* Term weights as fixed.add_rq makes them: the largest in [2^29, 2^30], the
 * others at most that (0 for a term that is not there). */
static kiln_add_rq add_rq(int terms, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp,
                          const int16_t *c, int32_t c_zp, int32_t n, const kiln_grid *g) {
  kiln_add_rq rq;
  int32_t m[3];
  const int32_t top = range(1 << 29, 1 << 30);
  const int32_t first = (int32_t)(rnd() % (uint32_t)terms); /* the term of the largest weight */
  for (int32_t i = 0; i < 3; i++) {
    const uint32_t r = rnd() % 6;
    m[i] = i >= terms ? 0 : i == first || r == 0 ? top : r == 1 ? 0 : r == 2 ? range(0, 15) : range(0, top);
  }
  rq.ma = m[0], rq.mb = m[1], rq.mc = m[2];
  largest = 0;
  for (int32_t i = 0; i < n; i++)
    track(((int64_t)a[i] - a_zp) * rq.ma + ((int64_t)b[i] - b_zp) * rq.mb
          + (terms == 3 ? ((int64_t)c[i] - c_zp) * rq.mc : 0));
  /* any shift of fixed.add_rq's (0 to ADD_SHIFT_MAX = 62), or one fitted to the sums */
  const int32_t fitted = bits64(largest) - bits_of(g) + range(-3, 1);
  rq.shift = rnd() % 2 ? range(0, 62) : fitted < 0 ? 0 : fitted > 62 ? 62 : fitted;
  return rq;
}

static int test_add(void) {
  const char *name = NAME(KILN_TEST_ADD);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t n = PICK(LENGTHS), three = (int32_t)(rnd() % 2);
    const kiln_grid ga = any_grid(), gb = any_grid(), gc = any_grid(), g = any_grid();
    codes(xa, n, &ga);
    codes(xb, n, &gb);
    codes(xc, n, &gc);
    const kiln_add_rq rq = add_rq(three ? 3 : 2, xa, ga.zero_point, xb, gb.zero_point, xc, gc.zero_point, n, &g);
    desc_add("n", n), desc_add("terms", 2 + three), desc_grid("a_zp", &ga), desc_grid("b_zp", &gb),
      desc_grid("c_zp", &gc), desc_grid("out_zp", &g), desc_add("ma", rq.ma), desc_add("mb", rq.mb),
      desc_add("mc", rq.mc), desc_add("shift", rq.shift);
    const int16_t *cp = three ? xc : NULL;
    const int32_t c_zp = three ? gc.zero_point : 0;
    prefill(n);
    ref_kiln_add(want, xa, ga.zero_point, xb, gb.zero_point, cp, c_zp, n, &rq, &g);
    KILN_TEST_ADD(got, xa, ga.zero_point, xb, gb.zero_point, cp, c_zp, n, &rq, &g);
    if (compare(name, c, n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

/* ---- RMSNorm, sigmoid, softmax: the generator's constants ------------------------- */

#ifdef KILN_TEST_RMSNORM
typedef struct {
  int32_t n;
  kiln_grid x, gamma;
  kiln_norm_rq p;
} norm_case;
static const norm_case NORMS[] = TEST_NORMS;

static int test_rmsnorm(void) {
  const char *name = NAME(KILN_TEST_RMSNORM);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const norm_case *nc = &NORMS[c % COUNT(NORMS)];
    const int32_t rows = range(1, 3), n = nc->n;
    const kiln_grid g = any_grid();
    desc_add("config", c % COUNT(NORMS)), desc_add("rows", rows), desc_add("n", n), desc_grid("out_zp", &g);
    for (int32_t r = 0; r < rows; r++) {
      codes(xa + r * n, n, &nc->x);
      if (rnd() % 8 == 0) /* an all-zero row: with eps 0 its output is the zero point */
        for (int32_t i = 0; i < n; i++) xa[r * n + i] = (int16_t)nc->x.zero_point;
    }
    codes(xb, n, &nc->gamma);
    prefill(rows * n);
    ref_kiln_rmsnorm(want, xa, nc->x.zero_point, rows, n, xb, nc->gamma.zero_point, &nc->p, &g);
    KILN_TEST_RMSNORM(got, xa, nc->x.zero_point, rows, n, xb, nc->gamma.zero_point, &nc->p, &g);
    if (compare(name, c, rows * n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#if defined(KILN_TEST_SIGMOID) || defined(KILN_TEST_SOFTMAX_ROW)
/* An exp table of fixed.exp_lut, for a grid spanning span + 1 codes. */
typedef struct {
  kiln_exp_lut lut;
  int32_t span;
} lut_case;
static const lut_case LUTS[] = TEST_LUTS;

/* One of the tables made for a grid of g's span, *index set to it. */
static const kiln_exp_lut *lut_for(const kiln_grid *g, int32_t *index) {
  int32_t matching = 0;
  for (int32_t i = 0; i < COUNT(LUTS); i++) matching += LUTS[i].span == g->qmax - g->qmin;
  int32_t pick = (int32_t)(rnd() % (uint32_t)matching);
  for (int32_t i = 0; i < COUNT(LUTS); i++)
    if (LUTS[i].span == g->qmax - g->qmin && pick-- == 0) {
      *index = i;
      return &LUTS[i].lut;
    }
  return NULL; /* the spec makes tables for every span */
}
#endif

#ifdef KILN_TEST_SIGMOID
static int test_sigmoid(void) {
  const char *name = NAME(KILN_TEST_SIGMOID);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t n = PICK(LENGTHS);
    const kiln_grid gx = grid_of(S16, 0), g = any_grid(); /* a table below 257 levels otherwise (kiln_lookup) */
    int32_t t;
    const kiln_exp_lut *lut = lut_for(&gx, &t);
    const kiln_rq rq = rq_for((uint64_t)1 << 31, &g); /* Q31 onto the output grid */
    desc_add("n", n), desc_grid("x_zp", &gx), desc_add("table", t), desc_grid("out_zp", &g), desc_rq("mult", rq);
    codes(xa, n, &gx);
    prefill(n);
    ref_kiln_sigmoid(want, xa, gx.zero_point, n, lut, rq, &g);
    KILN_TEST_SIGMOID(got, xa, gx.zero_point, n, lut, rq, &g);
    if (compare(name, c, n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_SOFTMAX_ROW
static const int32_t KEYS[] = { 1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100, 255, 256, 257, 300,
                                511, 512, 513, 600 };

static int test_softmax_row(void) {
  const char *name = NAME(KILN_TEST_SOFTMAX_ROW);
  for (int32_t c = 0; c < CASES; c++) {
    start_case();
    const int32_t n = c < 16 ? c + 1 : PICK(KEYS);
    const kiln_grid gx = any_grid(), g = any_grid();
    int32_t t;
    const kiln_exp_lut *lut = lut_for(&gx, &t);
    const kiln_rq rq = rq_for((uint64_t)1 << 31, &g);
    desc_add("n", n), desc_grid("x_zp", &gx), desc_add("table", t), desc_grid("out_zp", &g), desc_rq("mult", rq);
    codes(xa, n, &gx);
    if (rnd() % 4 == 0) xa[rnd() % (uint32_t)n] = (int16_t)gx.qmax; /* one score far above the rest */
    prefill(n);
    ref_kiln_softmax_row(want, xa, n, lut, rq, &g);
    KILN_TEST_SOFTMAX_ROW(got, xa, n, lut, rq, &g);
    if (compare(name, c, n)) return 1;
  }
  passed(name, CASES);
  return 0;
}
#endif

/* ---- attention rows ------------------------------------------------------------ */

#if defined(KILN_TEST_QK_ROW) || defined(KILN_TEST_PV_ROW)
static const int32_t PAST[] = { 0, 0, 0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 100, 255 };
static const int32_t FRESH[] = { 1, 1, 1, 2, 3, 4, 5, 8, 9, 17 };

/* The two segments of a kv view on grid g, d values a row (no past: NULL,
 * as the prefill passes it); far: every code at qmin. */
static kiln_kv_view kv_view(int32_t n_past, int32_t n_fresh, int32_t d, const kiln_grid *g, int far) {
  kiln_kv_view v;
  codes_as(k_past, n_past * d, g, far ? 0 : rnd() % 10);
  codes_as(k_fresh, n_fresh * d, g, far ? 0 : rnd() % 10);
  v.past = n_past ? k_past : NULL, v.n_past = n_past;
  v.fresh = k_fresh, v.n_fresh = n_fresh;
  v.zero_point = g->zero_point;
  return v;
}
#endif

#ifdef KILN_TEST_QK_ROW
static const int32_t QK_DIMS[] = { ITEMS(KILN_TEST_QK_DIMS) };

static int test_qk_row(void) {
  const char *name = NAME(KILN_TEST_QK_ROW);
  for (int32_t c = 0; c < ROW_CASES; c++) {
    start_case();
    /* far (one case in 8): |sums| up to d * 2^30, past 2^31 */
    const int far = c % 8 == 7;
    const int32_t d = far ? QK_DIMS[COUNT(QK_DIMS) - 1 - (int32_t)(rnd() % 2)] : PICK(QK_DIMS);
    const int32_t n_past = PICK(PAST), n_fresh = PICK(FRESH);
    kiln_grid gq = within16_grid(), gk = within16_grid();
    const kiln_grid g = any_grid();
    if (far) gq = grid_of(S16, 1), gk = grid_of(S16, 1); /* products up to 2^30 */
    codes(xa, d, &gq);
    if (far)
      for (int32_t i = 0; i < d; i++) xa[i] = (int16_t)(rnd() % 4 ? gq.qmin : gq.qmax);
    const kiln_kv_view k = kv_view(n_past, n_fresh, d, &gk, far);
    largest = 0;
    for (int32_t t = 0; t < n_past + n_fresh; t++) {
      const int16_t *kt = t < n_past ? k.past + (size_t)t * d : k.fresh + (size_t)(t - n_past) * d;
      int64_t acc = 0;
      for (int32_t e = 0; e < d; e++) acc += ((int64_t)xa[e] - gq.zero_point) * (kt[e] - gk.zero_point);
      track(acc);
    }
    const kiln_rq rq = rq_for(largest, &g);
    desc_add("d", d), desc_add("n_past", n_past), desc_add("n_fresh", n_fresh), desc_grid("q_zp", &gq),
      desc_grid("k_zp", &gk), desc_grid("out_zp", &g), desc_rq("mult", rq);
    prefill(n_past + n_fresh);
    ref_kiln_qk_row(want, xa, gq.zero_point, &k, d, rq, &g);
    KILN_TEST_QK_ROW(got, xa, gq.zero_point, &k, d, rq, &g);
    if (compare(name, c, n_past + n_fresh)) return 1;
  }
  passed(name, ROW_CASES);
  return 0;
}
#endif

#ifdef KILN_TEST_PV_ROW
static const int32_t PV_DIMS[] = { ITEMS(KILN_TEST_PV_DIMS) };
/* the largest code of a probability grid with zero point 0, by dtype */
static const int32_t P_QMAX[] = { 7, 15, 127, 255, 32767 };
#define P_SUM_LIMIT 65535 /* the generator's: codes summing below 2^16 */

/* n probability codes in [0, qmax] summing to at most P_SUM_LIMIT: as
 * softmax makes them (one large, the rest small), random, or as large as
 * the limit lets them be */
static void probabilities(int16_t *p, int32_t n, int32_t qmax, int far) {
  const uint32_t mode = far ? 0 : rnd() % 4;
  const int32_t limit = far || rnd() % 2 ? P_SUM_LIMIT : range(0, P_SUM_LIMIT);
  int32_t sum = 0;
  for (int32_t t = 0; t < n; t++) {
    int32_t v = mode == 0 ? qmax : mode == 1 ? range(0, qmax) : mode == 2 ? range(0, qmax / 16 + 1) : range(0, 3);
    if (v > qmax) v = qmax;
    if (sum + v > limit) v = limit - sum;
    p[t] = (int16_t)v, sum += v;
  }
  if (mode >= 2 && n > 0) { /* the peak: what the rest leaves */
    const int32_t t = (int32_t)(rnd() % (uint32_t)n), room = limit - (sum - p[t]);
    p[t] = (int16_t)(room < qmax ? room : qmax);
  }
}

static int test_pv_row(void) {
  const char *name = NAME(KILN_TEST_PV_ROW);
  for (int32_t c = 0; c < ROW_CASES; c++) {
    start_case();
    /* far (one case in 8): every value at its end, the codes summing to 65535: int16 values,
     * |sums| up to 2^31 - 2^15; uint8 ones against zero point 255 */
    const int far = c % 8 == 7, far16 = far && c % 16 == 7;
    const int32_t d = far ? PV_DIMS[COUNT(PV_DIMS) - 1] : PICK(PV_DIMS);
    const int32_t n_past = PICK(PAST), n_fresh = PICK(FRESH), n = n_past + n_fresh;
    const int32_t p_qmax = far ? 32767 : PICK(P_QMAX);
    kiln_grid gv = within16_grid();
    const kiln_grid g = any_grid();
    if (far16) gv = grid_of(S16, 1);
    else if (far) gv = grid_of(U8, 1), gv.zero_point = 255;
    probabilities(xa, n, p_qmax, far);
    const kiln_kv_view v = kv_view(n_past, n_fresh, d, &gv, far);
    largest = 0;
    for (int32_t e = 0; e < d; e++) {
      int64_t acc = 0;
      for (int32_t t = 0; t < n; t++)
        acc += (int64_t)xa[t] * ((t < n_past ? v.past[(size_t)t * d + e] : v.fresh[(size_t)(t - n_past) * d + e])
                                 - gv.zero_point);
      track(acc);
    }
    const kiln_rq rq = rq_for(largest, &g);
    desc_add("d", d), desc_add("n_past", n_past), desc_add("n_fresh", n_fresh), desc_add("p_qmax", p_qmax),
      desc_grid("v_zp", &gv), desc_grid("out_zp", &g), desc_rq("mult", rq);
    prefill(d);
    ref_kiln_pv_row(want, xa, 0, &v, d, rq, &g);
    KILN_TEST_PV_ROW(got, xa, 0, &v, d, rq, &g);
    if (compare(name, c, d)) return 1;
  }
  passed(name, ROW_CASES);
  return 0;
}
#endif

/* ---- linear layers ---------------------------------------------------------------- */

#ifdef KILN_TEST_LINEAR
enum { W_U8, W_S8, W_S16, W_U4, W_S4 };
static const int32_t W_LO[] = { 0, -128, -32768, 0, -8 }, W_HI[] = { 255, 127, 32767, 15, 7 };
#define STORAGE_u8 W_U8
#define STORAGE_s8 W_S8
#define STORAGE_s16 W_S16
#define STORAGE_u4 W_U4
#define STORAGE_s4 W_S4

/* One case of a linear layer, in every form a template passes it. */
typedef struct {
  int32_t rows, n_in, n_out, x_zp, storage;
  kiln_grid g;
} linear_case;
static linear_case L;

/* the template's call (templates/ops/linear*.c) for a weight storage */
#define W_u8 wbuf.u8
#define W_s8 (const int8_t *)wbuf.u8
#define W_s16 wbuf.s16
#define W_u4 w4
#define W_s4 w4
#define CALL_ROWS(fn, st, y) fn(y, xa, L.x_zp, L.rows, L.n_in, W_##st, w_zp, L.n_out, w_rq, &L.g)
#define CALL_SUMS(fn, st, y) fn(y, xa, L.x_zp, L.rows, L.n_in, W_##st, w_zp, w_sum, L.n_out, w_rq, &L.g)
#define CALL_PACKED(fn, st, y) fn(y, xa, L.rows, L.n_in, W_##st, w_zp, w_bias, L.n_out, w_rq, &L.g, work)

/* the portable kernel of a storage */
static void reference(int16_t *y) {
  switch (L.storage) {
  case W_U8: ref_kiln_linear_u8(y, xa, L.x_zp, L.rows, L.n_in, wbuf.u8, w_zp, L.n_out, w_rq, &L.g); break;
  case W_S8:
    ref_kiln_linear_s8(y, xa, L.x_zp, L.rows, L.n_in, (const int8_t *)wbuf.u8, w_zp, L.n_out, w_rq, &L.g);
    break;
  case W_S16: ref_kiln_linear_s16(y, xa, L.x_zp, L.rows, L.n_in, wbuf.s16, w_zp, L.n_out, w_rq, &L.g); break;
  case W_U4: ref_kiln_linear_u4(y, xa, L.x_zp, L.rows, L.n_in, w4, w_zp, L.n_out, w_rq, &L.g); break;
  default: ref_kiln_linear_s4(y, xa, L.x_zp, L.rows, L.n_in, w4, w_zp, L.n_out, w_rq, &L.g); break;
  }
}

typedef struct {
  const char *name;
  void (*run)(int16_t *y);
  int32_t storage;
  uint32_t grids;
  int32_t shift_lo, shift_hi, n_max;
  const int32_t *sizes;
  int32_t n_sizes;
} linear_kernel;

#define LINEAR(fn, tmpl, st, grids, lo, hi, n_max, sizes) \
  static void run_##fn##_##st(int16_t *y) { CALL_##tmpl(fn, st, y); } \
  static const int32_t sizes_##fn##_##st[] = { UNPAREN sizes };
KILN_TEST_LINEAR
#undef LINEAR
#define LINEAR(fn, tmpl, st, grids, lo, hi, n_max, sizes) \
  { #fn, run_##fn##_##st, STORAGE_##st, grids, lo, hi, n_max, sizes_##fn##_##st, COUNT(sizes_##fn##_##st) },
static const linear_kernel LINEARS[] = { KILN_TEST_LINEAR };
#undef LINEAR

static int32_t code_of(int32_t storage, size_t i) {
  if (storage == W_S16) return wbuf.s16[i];
  return storage == W_S8 || storage == W_S4 ? (int8_t)wbuf.u8[i] : wbuf.u8[i];
}

static void set_code(int32_t storage, size_t i, int32_t v) {
  if (storage == W_S16) wbuf.s16[i] = (int16_t)v;
  else wbuf.u8[i] = (uint8_t)v;
}

/* An activation grid of a class (GRID_*). */
static kiln_grid act_grid(uint32_t cls) {
  switch (cls) {
  case GRID_U8: return grid_of(U8, 1);
  case GRID_S8: return grid_of(S8, 1);
  case GRID_U4: return grid_of(U4, 1);
  case GRID_S4: return grid_of(S4, 1);
  case GRID_S16_ZERO: return grid_of(S16, 1);
  default: { /* int16, zero point off 0 */
    kiln_grid g = grid_of(S16, 0);
    if (g.zero_point == 0) g.zero_point = rnd() % 2 ? -32768 : 32767;
    return g;
  }
  }
}

static uint32_t pick_class(uint32_t mask) {
  for (;;) {
    const uint32_t cls = 1u << (rnd() % 6);
    if (mask & cls) return cls;
  }
}

/* A case for kernel k: far, the largest sums the entry lets it make (every
 * code at the end farthest from its zero point), longest, on rows as long
 * as it takes. */
static void linear_make(const linear_kernel *k, int far, int longest) {
  static const int32_t ROWS[] = { 1, 1, 1, 2, 3, 4, 5, 6 };
  static const int32_t N_OUT[] = { 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 20 };
  linear_case *p = &L;
  const int32_t st = k->storage, wlo = W_LO[st], whi = W_HI[st];
  p->storage = st;
  p->rows = longest ? 2 : PICK(ROWS);
  p->n_in = longest ? k->n_max : k->sizes[rnd() % (uint32_t)k->n_sizes];
  if (far && !longest && rnd() % 2) /* the longer half of the sizes: past the blocks */
    p->n_in = k->sizes[k->n_sizes / 2 + (int32_t)(rnd() % (uint32_t)(k->n_sizes - k->n_sizes / 2))];
  p->n_out = longest ? 5 : PICK(N_OUT); /* 5: a pass of four rows and one left */
  /* far: the widest grid the entry takes, half the time */
  const uint32_t widest = k->grids & GRID_S16 ? GRID_S16 : k->grids & GRID_S16_ZERO ? GRID_S16_ZERO : 0;
  const uint32_t cls = far && widest && rnd() % 2 ? widest : pick_class(k->grids);
  kiln_grid gx = act_grid(cls);
  if (far && cls != GRID_S16_ZERO) gx.zero_point = gx.qmax; /* codes at qmin: |x - zx| as large as the grid allows */
  p->x_zp = gx.zero_point;
  /* one case in five small sums: a unit of them shows in the outputs */
  const int fine = !far && rnd() % 5 == 0;
  codes_as(xa, p->rows * p->n_in, &gx, fine ? CODES_NEAR_ZERO : rnd() % 10);
  if (far)
    for (int32_t i = 0; i < p->rows * p->n_in; i++) xa[i] = (int16_t)gx.qmin;
  p->g = any_grid();
  const uint32_t wmode = fine ? 3 : rnd() % 10;
  /* the rows' multipliers: each fitted to its sums, or one shift for all
   * (as a layer's rows have, where kernels requantize rows together), or
   * each its own */
  const uint32_t policy = rnd() % 4;
  const int32_t shared = rnd() % 2 ? any_shift() : range(31, 34);
  for (int32_t o = 0; o < p->n_out; o++) {
    const size_t row = (size_t)o * p->n_in;
    w_zp[o] = far ? wlo : range(wlo, whi);
    for (int32_t i = 0; i < p->n_in; i++) {
      int32_t v = far ? whi : wmode == 0 ? wlo : wmode == 1 ? whi : wmode == 2 ? (rnd() % 2 ? wlo : whi)
                  : wmode == 3 ? w_zp[o] + range(-2, 2) : range(wlo, whi);
      v = v < wlo ? wlo : v > whi ? whi : v;
      set_code(st, row + (size_t)i, v);
    }
    /* each row's multiplier fitted to its own sums (or any shift), within the entry's */
    largest = 0;
    for (int32_t r = 0; r < p->rows; r++) {
      int64_t acc = 0;
      for (int32_t i = 0; i < p->n_in; i++)
        acc += ((int64_t)xa[(size_t)r * p->n_in + i] - p->x_zp) * (code_of(st, row + (size_t)i) - w_zp[o]);
      track(acc);
    }
    w_rq[o] = rq_for(largest, &p->g);
    if (policy == 1) w_rq[o].shift = shared;
    if (policy == 2) w_rq[o].shift = fitted_shift(largest, &p->g);
    if (w_rq[o].shift < k->shift_lo) w_rq[o].shift = k->shift_lo;
    if (w_rq[o].shift > k->shift_hi) w_rq[o].shift = k->shift_hi;
  }
  /* the forms the templates pass: row sums, the folded bias, 4-bit rows */
  const size_t row_bytes = KILN_W4_ROW_BYTES(p->n_in);
  for (int32_t o = 0; o < p->n_out; o++) {
    int64_t sum = 0;
    for (int32_t i = 0; i < p->n_in; i++) sum += code_of(st, (size_t)o * p->n_in + i);
    w_sum[o] = (int32_t)sum;
    w_bias[o] = (int64_t)p->n_in * p->x_zp * w_zp[o] - (int64_t)p->x_zp * sum; /* rules/cortex-m4.lua's bias */
    if (st == W_U4 || st == W_S4) {
      for (size_t b = 0; b < row_bytes; b++) w4[(size_t)o * row_bytes + b] = 0;
      for (int32_t i = 0; i < p->n_in; i++)
        w4[(size_t)o * row_bytes + i / 2] |= (uint8_t)((wbuf.u8[(size_t)o * p->n_in + i] & 0x0F) << (4 * (i % 2)));
    }
  }
  desc_add("far", far), desc_add("rows", p->rows), desc_add("n_in", p->n_in), desc_add("n_out", p->n_out), desc_grid("x_zp", &gx),
    desc_grid("out_zp", &p->g), desc_add("w_zp[0]", w_zp[0]), desc_rq("mult[0]", w_rq[0]);
}

#define LINEAR_CASES 1000

static int test_linear(const linear_kernel *k) {
  for (int32_t c = 0; c < LINEAR_CASES + 2; c++) {
    start_case();
    /* one case in 16 the largest sums, and the last two on the longest rows */
    linear_make(k, c % 16 == 15 || c >= LINEAR_CASES, c >= LINEAR_CASES);
    const int32_t n = L.rows * L.n_out;
    prefill(n);
    reference(want);
    k->run(got);
    if (compare(k->name, c, n)) {
      const int32_t o = (failed_at < 0 ? 0 : failed_at) % L.n_out;
      say("  output channel "), say_number(o), say(": w_zp "), say_number(w_zp[o]), say(", mult "),
        say_number(w_rq[o].mult), say(", shift "), say_number(w_rq[o].shift), say("\n");
      return 1;
    }
  }
  passed(k->name, LINEAR_CASES + 2);
  return 0;
}
#endif

/* Every kernel, each to its first difference: one kernel's failure does not hide another's. */
int main(void) {
  int failed = 0;
#ifdef KILN_TEST_LINEAR
  for (int32_t i = 0; i < COUNT(LINEARS); i++) failed |= test_linear(&LINEARS[i]);
#endif
#ifdef KILN_TEST_QK_ROW
  failed |= test_qk_row();
#endif
#ifdef KILN_TEST_PV_ROW
  failed |= test_pv_row();
#endif
#ifdef KILN_TEST_SOFTMAX_ROW
  failed |= test_softmax_row();
#endif
#ifdef KILN_TEST_REQUANT
  failed |= test_requant();
#endif
#ifdef KILN_TEST_TAKE_HALF
  failed |= test_take_half();
#endif
#ifdef KILN_TEST_CONCAT_HALVES
  failed |= test_concat_halves();
#endif
#ifdef KILN_TEST_HEADS_FIRST
  failed |= test_heads_first();
#endif
#ifdef KILN_TEST_MUL
  failed |= test_mul();
#endif
#ifdef KILN_TEST_MUL_ROWS
  failed |= test_mul_rows();
#endif
#ifdef KILN_TEST_ADD
  failed |= test_add();
#endif
#ifdef KILN_TEST_RMSNORM
  failed |= test_rmsnorm();
#endif
#ifdef KILN_TEST_SIGMOID
  failed |= test_sigmoid();
#endif
  if (failed) return 1;
  say("ok\n");
  return 0;
}
