/*
 * The linear kernels on 4-bit weights, two codes a byte, against a reference
 * written from the layouts their headers document (kiln_rt_w4.h: rows;
 * kiln_rt_x86_w4.h: n16k4 nibbles), bit for bit: random and extreme inputs,
 * every code of the uint4 and int4 ranges, odd and short rows, zero points
 * at the ends of their ranges (for the portable kernels also outside them:
 * the exact loop), sums past 2^31 (the x86 kernels' scalar fallback).
 *
 * Built once per kernel family, each run where its instructions are:
 *   (none)                the portable kernels (-O2: the fast loop; -Os: the exact one);
 *   -DKILN_TEST_AVX2      kiln_linear_avx2_{u4,s4}_{a8,a16}    (-mavx2 -mfma);
 *   -DKILN_TEST_AVXVNNI   kiln_linear_avxvnni_...               (-mavxvnni);
 *   -DKILN_TEST_AVX512    kiln_linear_vnni_...                  (AVX-512 VNNI);
 *   -DKILN_TEST_NEON      kiln_linear_dot_{u4,s4}              (aarch64, under qemu-aarch64);
 *   -DKILN_TEST_DSP       kiln_linear_dsp_{u4,s4}   (Cortex-M4 firmware with kiln's
 *                         start-up and semihosting, under qemu-system-arm; no C library);
 *   -DKILN_TEST_MVE       kiln_linear_mve_{u4,s4}   (Cortex-M55 firmware, the same way).
 * The portable kernels are checked in every build. tests/unit/linear_w4_kernels_spec.lua
 * builds and runs them all. Prints one line per kernel and "ok" at the end;
 * exits non-zero at the first difference, naming the kernel and the case.
 */
#include "kiln_rt_w4.h"
#include "test_random.h"

#if defined(KILN_TEST_AVX2) || defined(KILN_TEST_AVXVNNI) || defined(KILN_TEST_AVX512)
#include "kiln_rt_x86_w4.h"
#define X86 1
#else
#define X86 0
#endif
#ifdef KILN_TEST_NEON
#include "kiln_rt_neon_w4.h"
#endif
#ifdef KILN_TEST_MVE
#include "kiln_rt_mve_w4.h"
#define KILN_TEST_FIRMWARE 1
#endif
#ifdef KILN_TEST_DSP
#include "kiln_rt_dsp_w4.h"
#define KILN_TEST_FIRMWARE 1
#endif
#ifdef KILN_TEST_FIRMWARE
#include "semihosting.h"
static void say(const char *s) { kiln_sh_write0(s); }
#else
#include <stdio.h>
static void say(const char *s) { fputs(s, stdout); }
#endif

#include <stddef.h>

enum { MAX_ROWS = 14, MAX_IN = 8192, MAX_OUT = 80, MAX_CODES = 164000 };

/* ---- inputs ------------------------------------------------------------------ */

/* One problem: the codes, the activations, and every form the kernels take them in. */
typedef struct {
  int32_t rows, n_in, n_out, x_zp, is_signed;
  int16_t x[MAX_ROWS * MAX_IN];
  int8_t w[MAX_CODES];                 /* w[o * n_in + i], one code a byte */
  uint8_t rows4[MAX_CODES / 2 + MAX_OUT]; /* kiln_rt_w4.h */
  uint8_t n16k4[(MAX_OUT + 16) * MAX_IN / 2]; /* kiln_rt_x86_w4.h */
  int32_t w_zp[MAX_OUT], w_sum[MAX_OUT];
  int64_t bias1[MAX_OUT], bias2[MAX_OUT]; /* the x86 kernels' per-row terms, one and two planes */
  kiln_rq rq[MAX_OUT];
  kiln_grid g;
} problem;

static problem P;
#if X86
static uint8_t work[2 * MAX_ROWS * MAX_IN]; /* the activations' byte planes */
#endif
static int16_t want[MAX_ROWS * MAX_OUT], got[MAX_ROWS * MAX_OUT];

/* The layouts, as the headers state them. */
static void pack(problem *p) {
  const size_t row_bytes = KILN_W4_ROW_BYTES(p->n_in);
  const int32_t blocks = (p->n_out + 15) / 16, k4 = p->n_in / 4;
  for (size_t i = 0; i < (size_t)p->n_out * row_bytes; i++) p->rows4[i] = 0;
  for (size_t i = 0; i < (size_t)blocks * 16 * p->n_in / 2; i++) p->n16k4[i] = 0;
  for (int32_t o = 0; o < p->n_out; o++)
    for (int32_t i = 0; i < p->n_in; i++) {
      const uint8_t nib = (uint8_t)(p->w[(size_t)o * p->n_in + i] & 0x0F);
      p->rows4[(size_t)o * row_bytes + i / 2] |= (uint8_t)(nib << (4 * (i % 2)));
      if (p->n_in % 4 == 0) {
        const size_t at = ((size_t)(o / 16) * k4 + i / 4) * 32 + (size_t)(o % 8) * 4 + i % 4;
        p->n16k4[at] |= (uint8_t)((nib ^ (p->is_signed ? 8 : 0)) << (o % 16 < 8 ? 0 : 4));
      }
    }
  if (p->n_in % 4 == 0 && p->is_signed) /* padded rows hold code 0, offset binary like the rest */
    for (int32_t o = p->n_out; o < blocks * 16; o++)
      for (int32_t i = 0; i < p->n_in; i++)
        p->n16k4[((size_t)(o / 16) * k4 + i / 4) * 32 + (size_t)(o % 8) * 4 + i % 4] |= (uint8_t)(8 << (o % 16 < 8 ? 0 : 4));
}

/* The sums, the x86 per-row terms, the packed forms and the reference
 * outputs of the codes in P. */
static void derive(problem *p) {
  const int64_t c = p->is_signed ? -8 : 0; /* what the x86 kernels take off each code */
  for (int32_t o = 0; o < p->n_out; o++) {
    int64_t sum = 0;
    for (int32_t i = 0; i < p->n_in; i++) sum += p->w[(size_t)o * p->n_in + i];
    p->w_sum[o] = (int32_t)sum;
    p->bias1[o] = (int64_t)p->n_in * p->x_zp * p->w_zp[o] - (int64_t)p->x_zp * sum;
    p->bias2[o] = p->bias1[o] - 32768 * (sum - c * p->n_in);
  }
  pack(p);
  for (int32_t r = 0; r < p->rows; r++)
    for (int32_t o = 0; o < p->n_out; o++) {
      int64_t acc = 0;
      for (int32_t i = 0; i < p->n_in; i++)
        acc += ((int64_t)p->x[(size_t)r * p->n_in + i] - p->x_zp) * ((int64_t)p->w[(size_t)o * p->n_in + i] - p->w_zp[o]);
      want[(size_t)r * p->n_out + o] = kiln_to_grid(kiln_scale(acc, p->rq[o]), &p->g);
    }
}

/* act: 0 uint8 codes, 1 int16 symmetric, 2 int16 codes far from their zero
 * point (only the portable kernels take those). zp_anywhere: zero points
 * off their ranges (the portable kernels' exact loop). far: every code at
 * the end that makes the largest sums, past 2^31. */
static void make(int32_t rows, int32_t n_in, int32_t n_out, int is_signed, int act, int zp_anywhere, int far) {
  problem *p = &P;
  p->rows = rows, p->n_in = n_in, p->n_out = n_out, p->is_signed = is_signed;
  const int32_t qlo = is_signed ? -8 : 0, qhi = qlo + 15;
  int32_t xlo = -32768, xhi = 32767;
  if (act == 0) xlo = 0, xhi = 255, p->x_zp = range(0, 255);
  else if (act == 1) p->x_zp = 0;
  else p->x_zp = zp_anywhere ? 40000 : range(-32768, 32767);
  const int ends = rnd() % 8 == 0; /* codes only at the ends of their ranges */
  for (int32_t i = 0; i < rows * n_in; i++)
    p->x[i] = (int16_t)(far ? (act ? xlo : xhi) : ends ? (rnd() % 2 ? xlo : xhi) : range(xlo, xhi));
  if (far) p->x_zp = 0;
  for (int32_t o = 0; o < n_out; o++) {
    for (int32_t i = 0; i < n_in; i++)
      p->w[(size_t)o * n_in + i] = (int8_t)(far ? qhi : ends ? (rnd() % 2 ? qlo : qhi) : range(qlo, qhi));
    p->w_zp[o] = far ? qlo : zp_anywhere && o % 3 == 0 ? 100 : range(qlo, qhi);
    /* a power of two now and then: exact halves, so that ties are rounded */
    p->rq[o].mult = (int32_t)((1u << 30) + (rnd() % 4 == 0 ? 0 : rnd() & 0x3FFFFFFF));
    p->rq[o].shift = far ? 40 : range(8, 30);
  }
  if (act == 0) p->g.zero_point = range(0, 255), p->g.qmin = 0, p->g.qmax = 255;
  else p->g.zero_point = 0, p->g.qmin = -32768, p->g.qmax = 32767;
  derive(p);
}

/* ---- the kernels ---------------------------------------------------------------- */

typedef void (*run_fn)(const problem *p, int16_t *y);

/* What a kernel needs of its inputs. */
typedef struct {
  const char *name;
  run_fn run;
  int is_signed;
  int act8;      /* activation codes in [0, 255] */
  int within16;  /* x - x_zp within int16 */
  int x86;       /* n16k4 nibbles: n_in a multiple of 4 */
} kernel;

#define ROWS_KERNEL(fn)                                                                                  \
  static void run_##fn(const problem *p, int16_t *y) {                                                   \
    fn(y, p->x, p->x_zp, p->rows, p->n_in, p->rows4, p->w_zp, p->n_out, p->rq, &p->g);                  \
  }
#define SUMS_KERNEL(fn)                                                                                  \
  static void run_##fn(const problem *p, int16_t *y) {                                                   \
    fn(y, p->x, p->x_zp, p->rows, p->n_in, p->rows4, p->w_zp, p->w_sum, p->n_out, p->rq, &p->g);        \
  }
#define X86_KERNEL(fn, bias)                                                                             \
  static void run_##fn(const problem *p, int16_t *y) {                                                   \
    fn(y, p->x, p->rows, p->n_in, p->n16k4, p->w_zp, p->bias, p->n_out, p->rq, &p->g, work);            \
  }
/* An x86 family's four kernels, the a16 ones with their bias (bias2: two byte planes) */
#define X86_FAMILY(isa, a16_bias)                                                                        \
  X86_KERNEL(kiln_linear_##isa##_u4_a8, bias1)                                                           \
  X86_KERNEL(kiln_linear_##isa##_u4_a16, a16_bias)                                                       \
  X86_KERNEL(kiln_linear_##isa##_s4_a8, bias1)                                                           \
  X86_KERNEL(kiln_linear_##isa##_s4_a16, a16_bias)
#define X86_ENTRIES(isa)                                                                                 \
  { "kiln_linear_" #isa "_u4_a8", run_kiln_linear_##isa##_u4_a8, 0, 1, 1, 1 },                          \
  { "kiln_linear_" #isa "_u4_a16", run_kiln_linear_##isa##_u4_a16, 0, 0, 0, 1 },                        \
  { "kiln_linear_" #isa "_s4_a8", run_kiln_linear_##isa##_s4_a8, 1, 1, 1, 1 },                          \
  { "kiln_linear_" #isa "_s4_a16", run_kiln_linear_##isa##_s4_a16, 1, 0, 0, 1 },

ROWS_KERNEL(kiln_linear_u4)
ROWS_KERNEL(kiln_linear_s4)
#ifdef KILN_TEST_AVX2
X86_FAMILY(avx2, bias1) /* widened weights: every product exact, one plane */
#endif
#ifdef KILN_TEST_AVXVNNI
X86_FAMILY(avxvnni, bias2)
#endif
#ifdef KILN_TEST_AVX512
X86_FAMILY(vnni, bias2)
#endif
#ifdef KILN_TEST_NEON
SUMS_KERNEL(kiln_linear_dot_u4)
SUMS_KERNEL(kiln_linear_dot_s4)
#endif
#ifdef KILN_TEST_DSP
ROWS_KERNEL(kiln_linear_dsp_u4)
ROWS_KERNEL(kiln_linear_dsp_s4)
#endif
#ifdef KILN_TEST_MVE
ROWS_KERNEL(kiln_linear_mve_u4)
ROWS_KERNEL(kiln_linear_mve_s4)
#endif

static const kernel KERNELS[] = {
  { "kiln_linear_u4", run_kiln_linear_u4, 0, 0, 0, 0 },
  { "kiln_linear_s4", run_kiln_linear_s4, 1, 0, 0, 0 },
#ifdef KILN_TEST_AVX2
  X86_ENTRIES(avx2)
#endif
#ifdef KILN_TEST_AVXVNNI
  X86_ENTRIES(avxvnni)
#endif
#ifdef KILN_TEST_AVX512
  X86_ENTRIES(vnni)
#endif
#ifdef KILN_TEST_NEON
  { "kiln_linear_dot_u4", run_kiln_linear_dot_u4, 0, 0, 0, 0 },
  { "kiln_linear_dot_s4", run_kiln_linear_dot_s4, 1, 0, 0, 0 },
#endif
#ifdef KILN_TEST_DSP
  { "kiln_linear_dsp_u4", run_kiln_linear_dsp_u4, 0, 0, 1, 0 },
  { "kiln_linear_dsp_s4", run_kiln_linear_dsp_s4, 1, 0, 1, 0 },
#endif
#ifdef KILN_TEST_MVE
  { "kiln_linear_mve_u4", run_kiln_linear_mve_u4, 0, 0, 1, 0 },
  { "kiln_linear_mve_s4", run_kiln_linear_mve_s4, 1, 0, 1, 0 },
#endif
};

/* ---- the cases -------------------------------------------------------------------- */

static const int32_t N_IN[] = { 1, 2, 3, 4, 7, 8, 12, 31, 32, 33, 64, 100, 172, 255, 256, 260, 1028 };
static const int32_t N_OUT[] = { 1, 3, 8, 16, 17, 33, 48, 80 };
static const int32_t ROWS[] = { 1, 1, 2, 3, 5, 6, 7, 8, 13, 14 };
#define COUNT(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))
#define CASES 160

static void number(char *out, int64_t v) { /* no printf in firmware */
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do tmp[n++] = (char)('0' + u % 10), u /= 10; while (u);
  if (neg) *out++ = '-';
  while (n) *out++ = tmp[--n];
  *out = 0;
}

static int check(const kernel *k, int c) {
  const int32_t n = P.rows * P.n_out;
  for (int32_t i = 0; i < n; i++) got[i] = 0x5A5A;
  k->run(&P, got);
  for (int32_t i = 0; i < n; i++)
    if (got[i] != want[i]) {
      char a[24], b[24], d[24], e[24];
      number(a, c), number(b, i), number(d, want[i]), number(e, got[i]);
      say(k->name), say(": case "), say(a), say(", output "), say(b), say(": reference "), say(d), say(", kernel "),
          say(e), say("\n");
      return 1;
    }
  return 0;
}

int main(void) {
  for (int32_t j = 0; j < COUNT(KERNELS); j++) {
    const kernel *k = &KERNELS[j];
    for (int c = 0; c < CASES + 2; c++) {
      const int far = c >= CASES; /* the last two: sums past 2^31, one and two rows */
      const int32_t rows = far ? c - CASES + 1 : ROWS[rnd() % COUNT(ROWS)];
      int32_t n_in = far ? MAX_IN : N_IN[rnd() % COUNT(N_IN)];
      const int32_t n_out = far ? 20 : N_OUT[rnd() % COUNT(N_OUT)];
      if (k->x86) n_in = (n_in + 3) / 4 * 4;
      const int act = k->act8 ? 0 : far ? 1 : (int)(rnd() % (k->within16 ? 2 : 3));
      const int zp_anywhere = !far && !k->x86 && !k->within16 && !k->act8 && rnd() % 4 == 0;
      make(rows, n_in, n_out, k->is_signed, act, zp_anywhere, far);
      if (check(k, c)) return 1;
    }
    say(k->name), say(" ok\n");
  }
  say("ok\n");
  return 0;
}
