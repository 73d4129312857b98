/*
 * The Cortex-M4 blocked linear kernels (kiln_linear_dsp_u8_r4, _s8_r4 and
 * the 8-bit activations' _u8_r4a8, _s8_r4a8 of
 * runtime/cortex-m4/kiln_linear_dsp.c) against the portable linear's
 * integers (sum (x - zx)(w - zw) in int64, kiln_scale, kiln_to_grid), bit
 * for bit, with their weights and terms made as kiln_rt_dsp.h states them:
 * every row length the loop's entries tell apart (one group of 4 inputs, and
 * each remainder of the groups past the first modulo 4) up to 256, blocks
 * cut short by the last rows, uint8, int8 and int16 activations (zero points
 * off 0 too), weight codes and zero points at their ends, sums at +-2^31 - 2^23,
 * shifts over [33, 63] with power-of-two multipliers (exact ties), the
 * int16 and uint8 output grids (one saturation) and others (the clamp in
 * C), and inputs off a word boundary (the plain C path).
 *
 * Firmware with kiln's start-up and semihosting, under qemu-system-arm
 * (tests/unit/linear_r4_kernels_spec.lua builds and runs it). Prints one
 * line per kernel and "ok" at the end; exits non-zero at the first
 * difference, naming the kernel and the case.
 */
#include "kiln_rt_dsp.h"
#include "semihosting.h"
#include "test_random.h"

#include <stddef.h>

static void say(const char *s) { kiln_sh_write0(s); }

enum { MAX_ROWS = 5, MAX_IN = 256, MAX_OUT = 68, TERMS = 4 };

typedef struct {
  int32_t rows, n_in, n_out, x_zp, is_signed, a8;
  int16_t x[MAX_ROWS * MAX_IN + 2]; /* + 2: room to start the rows off a word */
  int16_t w[MAX_OUT * MAX_IN];      /* w[o * n_in + i], the codes */
  uint8_t blocks[(MAX_OUT + 3) * MAX_IN]; /* kiln_rt_dsp.h: blocks of 4 rows x 4 inputs (a8: its words) */
  int32_t w_zp[MAX_OUT];
  int32_t terms[MAX_OUT * TERMS];
  kiln_rq rq[MAX_OUT];
  kiln_grid g;
} problem;

static problem P;
static int16_t want[MAX_ROWS * MAX_OUT], got[MAX_ROWS * MAX_OUT];

/* The layout, the terms and the reference outputs of the codes in P. */
static void derive(problem *p) {
  const int32_t padded = (p->n_out + 3) / 4 * 4;
  for (int32_t i = 0; i < padded * p->n_in; i++) p->blocks[i] = 0;
  for (int32_t o = 0; o < p->n_out; o++) {
    int64_t sum = 0;
    for (int32_t i = 0; i < p->n_in; i++) {
      const int16_t c = p->w[o * p->n_in + i];
      sum += c;
      const int32_t r = o % 4, k = i % 4, at = (o / 4) * 4 * p->n_in + (i / 4) * 16;
      if (!p->a8) /* each row's codes 0, 2, 1, 3 */
        p->blocks[at + r * 4 + (k % 2) * 2 + k / 2] = (uint8_t)c;
      else /* rows 0, 2 unsigned, 1, 3 signed: the other codes' top bit flipped */
        p->blocks[at + (k / 2) * 8 + (r / 2) * 4 + (k % 2) * 2 + r % 2] =
            (uint8_t)(c ^ ((r % 2 == 1) != p->is_signed ? 0x80 : 0));
    }
    /* what the stored code is off w: the a8 form's flipped rows are 128 off */
    const int32_t off = !p->a8 ? 0 : p->is_signed ? (o % 2 ? 0 : -128) : (o % 2 ? 128 : 0);
    const int64_t bias = (int64_t)p->n_in * p->x_zp * p->w_zp[o] - (int64_t)p->x_zp * sum;
    p->terms[o * TERMS] = (int32_t)(uint32_t)(uint64_t)bias; /* mod 2^32 */
    p->terms[o * TERMS + 1] = p->w_zp[o] - off;
    p->terms[o * TERMS + 2] = p->rq[o].mult;
    p->terms[o * TERMS + 3] = (2 * p->g.zero_point + 1) * 256 + p->rq[o].shift - 33;
  }
  for (int32_t r = 0; r < p->rows; r++)
    for (int32_t o = 0; o < p->n_out; o++) {
      int64_t acc = 0;
      for (int32_t i = 0; i < p->n_in; i++)
        acc += ((int64_t)p->x[r * p->n_in + i] - p->x_zp) * ((int64_t)p->w[o * p->n_in + i] - p->w_zp[o]);
      want[r * p->n_out + o] = kiln_to_grid(kiln_scale(acc, p->rq[o]), &p->g);
    }
}

/* act: 0 uint8 codes, 1 int16 with zero point 0, 2 int16 within int16 of
 * a zero point anywhere, 3 int8 codes. far: the codes that make the largest
 * sums (the sign by the case). */
static void make(int32_t rows, int32_t n_in, int32_t n_out, int is_signed, int a8, int act, int far) {
  problem *p = &P;
  p->rows = rows, p->n_in = n_in, p->n_out = n_out, p->is_signed = is_signed, p->a8 = a8;
  const int32_t qlo = is_signed ? -128 : 0, qhi = qlo + 255;
  int32_t xlo = -32768, xhi = 32767;
  if (act == 0) xlo = 0, xhi = 255, p->x_zp = range(0, 255);
  else if (act == 3) xlo = -128, xhi = 127, p->x_zp = range(-128, 127);
  else if (act == 1) p->x_zp = 0;
  else {
    p->x_zp = range(-32768, 32767);
    if (p->x_zp > 0) xlo = p->x_zp - 32768;
    else xhi = p->x_zp + 32767;
  }
  const int ends = rnd() % 8 == 0; /* codes only at the ends of their ranges */
  const int high = rnd() % 2;      /* far: x at its top or bottom */
  if (far) p->x_zp = act == 0 ? (high ? 0 : 255) : act == 3 ? (high ? -128 : 127) : 0;
  for (int32_t i = 0; i < rows * n_in; i++)
    p->x[i] = (int16_t)(far ? (high ? xhi : xlo) : ends ? (rnd() % 2 ? xlo : xhi) : range(xlo, xhi));
  for (int32_t o = 0; o < n_out; o++) {
    const int top = far ? (int)(rnd() % 2) : 0;
    for (int32_t i = 0; i < n_in; i++)
      p->w[o * n_in + i] = (int16_t)(far ? (top ? qhi : qlo) : ends ? (rnd() % 2 ? qlo : qhi) : range(qlo, qhi));
    p->w_zp[o] = far ? (top ? qlo : qhi) : range(qlo, qhi);
    /* a power of two now and then: exact halves, so that ties are rounded */
    p->rq[o].mult = (int32_t)((1u << 30) + (rnd() % 4 == 0 ? 0 : rnd() & 0x3FFFFFFF));
    p->rq[o].shift = rnd() % 2 ? range(33, 40) : range(33, 63);
  }
  switch (rnd() % 4) {
  case 0: p->g.zero_point = 0, p->g.qmin = -32768, p->g.qmax = 32767; break;
  case 1: p->g.zero_point = range(0, 255), p->g.qmin = 0, p->g.qmax = 255; break;
  case 2: p->g.zero_point = range(-128, 127), p->g.qmin = -128, p->g.qmax = 127; break;
  default: p->g.zero_point = range(-20000, 20000), p->g.qmin = -30000, p->g.qmax = 30000; break;
  }
  derive(p);
}

static void run(const problem *p, int16_t *y, int off_word) {
  const int16_t *x = p->x;
  if (off_word) { /* the rows moved by one code: the plain C path */
    static int16_t moved[MAX_ROWS * MAX_IN + 2];
    for (int32_t i = 0; i < p->rows * p->n_in; i++) moved[i + 1] = p->x[i];
    x = moved + 1;
  }
  if (p->a8 && p->is_signed)
    kiln_linear_dsp_s8_r4a8(y, x, p->rows, p->n_in, (const int8_t *)p->blocks, p->w_zp, p->terms, p->n_out, p->rq,
                            &p->g, NULL);
  else if (p->a8)
    kiln_linear_dsp_u8_r4a8(y, x, p->rows, p->n_in, p->blocks, p->w_zp, p->terms, p->n_out, p->rq, &p->g, NULL);
  else if (p->is_signed)
    kiln_linear_dsp_s8_r4(y, x, p->rows, p->n_in, (const int8_t *)p->blocks, p->w_zp, p->terms, p->n_out, p->rq, &p->g,
                          NULL);
  else
    kiln_linear_dsp_u8_r4(y, x, p->rows, p->n_in, p->blocks, p->w_zp, p->terms, p->n_out, p->rq, &p->g, NULL);
}

static const int32_t N_IN[] = { 4, 8, 12, 16, 20, 24, 28, 60, 64, 100, 172, 252, 256 };
static const int32_t N_OUT[] = { 1, 2, 3, 4, 5, 6, 7, 8, 12, 17, 64, 67 };
static const int32_t ROWS[] = { 1, 1, 1, 2, 3, 5 };
#define COUNT(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))
#define CASES 600

static void number(char *out, int64_t v) { /* no printf in firmware */
  char tmp[24];
  int n = 0, neg = v < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do tmp[n++] = (char)('0' + u % 10), u /= 10; while (u);
  if (neg) *out++ = '-';
  while (n) *out++ = tmp[--n];
  *out = 0;
}

static int check(const char *name, int c, int off_word) {
  const int32_t n = P.rows * P.n_out;
  for (int32_t i = 0; i < n; i++) got[i] = 0x5A5A;
  run(&P, got, off_word);
  for (int32_t i = 0; i < n; i++)
    if (got[i] != want[i]) {
      char a[24], b[24], d[24], e[24];
      number(a, c), number(b, i), number(d, want[i]), number(e, got[i]);
      say(name), say(": case "), say(a), say(", output "), say(b), say(": reference "), say(d), say(", kernel "),
          say(e), say("\n");
      return 1;
    }
  return 0;
}

int main(void) {
  static const char *const NAMES[] = { "kiln_linear_dsp_u8_r4", "kiln_linear_dsp_s8_r4", "kiln_linear_dsp_u8_r4a8",
                                        "kiln_linear_dsp_s8_r4a8" };
  for (int k = 0; k < 4; k++) {
    const int is_signed = k % 2, a8 = k / 2;
    for (int c = 0; c < CASES; c++) {
      const int far = c % 10 == 9;
      const int32_t n_in = far ? MAX_IN : N_IN[rnd() % COUNT(N_IN)];
      const int act = a8 ? (rnd() % 2 ? 0 : 3) : (int)(rnd() % 4);
      make(ROWS[rnd() % COUNT(ROWS)], n_in, N_OUT[rnd() % COUNT(N_OUT)], is_signed, a8, act, far);
      if (check(NAMES[k], c, c % 16 == 5)) return 1;
    }
    say(NAMES[k]), say(" ok\n");
  }
  say("ok\n");
  return 0;
}
