/*
 * Linear kernels for Armv7E-M with the DSP extension (Cortex-M4, M7, M33).
 * SMLAD multiplies two pairs of int16 and adds both products to an int32 in
 * one instruction; UXTB16/SXTB16 widen bytes 0 and 2 (or, rotated, 1 and 3)
 * of a word to such a pair. Bit-identical to the portable kiln_linear_*: the
 * same integer sums, in int32 blocks that cannot overflow, then int64.
 *
 * The folded kernels (kiln_linear_dsp_[us]8_folded) multiply the codes as
 * stored: sum (x - zx)(w - zw) = sum x w - zw sum x + bias, with each row's
 * bias = n zx zw - zx sum w made by the generator (rules/cortex-m4.lua), and
 * sum x once an input row. A pass takes four weight rows, so that each pair
 * of inputs loaded and rearranged serves four rows: per 4 inputs and 4 rows
 * (16 products), 2 loads and 2 packs of x, then a load, 2 widenings and 2
 * SMLADs a row: 24 instructions. Rows beyond a multiple of 4 take the same
 * loop one at a time.
 *
 * The blocked kernels (kiln_linear_dsp_[us]8_r4, _r4a8: rows of at most
 * 256 inputs, the generator's choice wherever they apply) take the weights
 * in the order they are read and each row's terms ready for a 32-bit
 * epilogue: see their section. The folded kernels take the longer rows.
 *
 * The row-dot kernels (kiln_linear_dsp_u8, _s8) take any row length and
 * activations within int16 of their zero point.
 */
#include "kiln_rt_dsp.h"

#include <arm_acle.h>
#include <stddef.h>

#define FLUSH_PAIRS 64 /* 64 pairs of |x| < 2^15, |w| < 2^9: below 2^31 */

/* Two int16 values in the halves of one word, as SMLAD reads them. */
static inline int16x2_t pack(int32_t lo, int32_t hi) {
  return (int16x2_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}

static inline int32_t weight_at(const void *w, int32_t i, int is_signed) {
  return is_signed ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i];
}

/* sum over one row of (x - zx) * (w - zw) */
static int64_t row_dot(const int16_t *xr, int32_t x_zp, const void *wo, int32_t w_zp, int32_t n_in, int is_signed) {
  int64_t acc = 0;
  int32_t i = 0;
  while (i + 2 <= n_in) {
    int32_t part = 0;
    const int32_t stop = i + 2 * FLUSH_PAIRS < n_in ? i + 2 * FLUSH_PAIRS : n_in;
    for (; i + 2 <= stop; i += 2) {
      const int16x2_t xv = pack(xr[i] - x_zp, xr[i + 1] - x_zp);
      const int16x2_t wv = pack(weight_at(wo, i, is_signed) - w_zp, weight_at(wo, i + 1, is_signed) - w_zp);
      part = __smlad(xv, wv, part);
    }
    acc += part;
  }
  if (i < n_in) acc += (int32_t)(xr[i] - x_zp) * (weight_at(wo, i, is_signed) - w_zp);
  return acc;
}

void kiln_linear_dsp_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g, row_dot);
}

void kiln_linear_dsp_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  kiln_linear8_by_rows(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g, row_dot);
}

/* ---- folded kernels ------------------------------------------------------ */

/* Inputs an int32 block: |x| <= 2^15 and |w| <= 255, so a product is at most
 * 8,355,840 in magnitude and 256 of them below 2^31. */
#define FOLDED_BLOCK 256
#define FOLDED_ROWS 4
/* -Os would keep these calls, and is_signed a variable tested in the inner loop */
#define INLINE static inline __attribute__((always_inline))

INLINE uint32_t load32(const void *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v); /* one LDR: the M4 loads unaligned words */
  return v;
}

/* Bytes 0 and 2, and bytes 1 and 3, of a word of 4 weight codes as int16 pairs. */
INLINE uint32_t even_bytes(uint32_t w, int is_signed) { return is_signed ? (uint32_t)__sxtb16(w) : (uint32_t)__uxtb16(w); }
INLINE uint32_t odd_bytes(uint32_t w, int is_signed) {
  uint32_t r; /* the widening's own ROR #8, which gcc does not fold in */
  if (is_signed)
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  else
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
}

/* Input pairs (x0, x2) and (x1, x3) of 4 codes, to meet even_bytes and odd_bytes. */
INLINE void pairs(const int16_t *x, uint32_t *even, uint32_t *odd) {
  const uint32_t x01 = load32(x), x23 = load32(x + 2);
  uint32_t e, o;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(e) : "r"(x01), "r"(x23));
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(o) : "r"(x23), "r"(x01));
  *even = e;
  *odd = o;
}

/* One weight word's four products with the input pairs: bytes 0 and 2
 * against (x0, x2), bytes 1 and 3 against (x1, x3). */
#define KILN_DSP_ROW4(widen, acc, word) \
  widen " %[t], " word "\n\t" \
  "smlad " acc ", %[t], %[xe], " acc "\n\t" \
  widen " %[t], " word ", ror #8\n\t" \
  "smlad " acc ", %[t], %[xo], " acc "\n\t"

/* Four inputs against four rows: the input pairs, then each row's word. */
#define DOT4_GROUP(widen) \
  __asm__("ldr %[v], [%[x]], #4\n\t" \
          "ldr %[t], [%[x]], #4\n\t" \
          "pkhbt %[xe], %[v], %[t], lsl #16\n\t" \
          "pkhtb %[xo], %[t], %[v], asr #16\n\t" \
          "ldr %[v], [%[p0], %[n2]]\n\t" KILN_DSP_ROW4(widen, "%[a2]", "%[v]") \
          "ldr %[v], [%[p1], %[n2]]\n\t" KILN_DSP_ROW4(widen, "%[a3]", "%[v]") \
          "ldr %[v], [%[p0]], #4\n\t" KILN_DSP_ROW4(widen, "%[a0]", "%[v]") \
          "ldr %[v], [%[p1]], #4\n\t" KILN_DSP_ROW4(widen, "%[a1]", "%[v]") \
          : [x] "+r"(x), [p0] "+r"(p0), [p1] "+r"(p1), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), \
            [a3] "+r"(a3), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v), [t] "=&r"(t) \
          : [n2] "r"(two_rows) \
          : "memory")

/* sum x[i] w_j[i] for four rows w_j = w + j * n_in over len inputs (a
 * multiple of 4, at most FOLDED_BLOCK): written out in assembly, since gcc
 * spills the accumulators at -Os. Rows 0 and 1 through two pointers, rows 2
 * and 3 at twice the row length from them. */
INLINE void dot4(int32_t acc[FOLDED_ROWS], const int16_t *x, const void *w, int32_t n_in, int32_t len,
                 int is_signed) {
  const uint8_t *p0 = w, *p1 = p0 + n_in;
  const int16_t *end = x + len;
  const int32_t two_rows = 2 * n_in;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  uint32_t xe, xo, v, t;
  while (x < end) {
    if (is_signed)
      DOT4_GROUP("sxtb16");
    else
      DOT4_GROUP("uxtb16");
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* The same for one row. */
INLINE int32_t dot1(const int16_t *x, const uint8_t *w, int32_t len, int is_signed) {
  int32_t a = 0;
  for (int32_t i = 0; i < len; i += 4) {
    uint32_t xe, xo;
    pairs(x + i, &xe, &xo);
    const uint32_t v = load32(w + i);
    a = __smlad(even_bytes(v, is_signed), xe, a);
    a = __smlad(odd_bytes(v, is_signed), xo, a);
  }
  return a;
}

/* sum x over n values (n < 2^16: an int32), two a SMLAD. */
static int32_t sum_codes(const int16_t *x, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; i += 2) s = __smlad(load32(x + i), 0x00010001u, s);
  return s;
}

INLINE void linear_folded(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w, int is_signed,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int16_t *yr = y + (size_t)r * n_out;
    const int64_t x_sum = sum_codes(xr, n_in);
    int32_t o = 0;
    for (; o + FOLDED_ROWS <= n_out; o += FOLDED_ROWS) {
      int32_t part[FOLDED_ROWS];
      const uint8_t *wo = w + (size_t)o * n_in;
      dot4(part, xr, wo, n_in, n_in < FOLDED_BLOCK ? n_in : FOLDED_BLOCK, is_signed);
      int64_t a0 = part[0], a1 = part[1], a2 = part[2], a3 = part[3];
      for (int32_t i = FOLDED_BLOCK; i < n_in; i += FOLDED_BLOCK) { /* rows longer than a block */
        dot4(part, xr + i, wo + i, n_in, n_in - i < FOLDED_BLOCK ? n_in - i : FOLDED_BLOCK, is_signed);
        a0 += part[0], a1 += part[1], a2 += part[2], a3 += part[3];
      }
      yr[o] = kiln_requant_to_grid(a0 - w_zp[o] * x_sum + w_bias[o], rq[o], g);
      yr[o + 1] = kiln_requant_to_grid(a1 - w_zp[o + 1] * x_sum + w_bias[o + 1], rq[o + 1], g);
      yr[o + 2] = kiln_requant_to_grid(a2 - w_zp[o + 2] * x_sum + w_bias[o + 2], rq[o + 2], g);
      yr[o + 3] = kiln_requant_to_grid(a3 - w_zp[o + 3] * x_sum + w_bias[o + 3], rq[o + 3], g);
    }
    for (; o < n_out; o++) {
      int64_t acc = 0;
      for (int32_t i = 0; i < n_in; i += FOLDED_BLOCK)
        acc += dot1(xr + i, w + (size_t)o * n_in + i, n_in - i < FOLDED_BLOCK ? n_in - i : FOLDED_BLOCK, is_signed);
      yr[o] = kiln_requant_to_grid(acc - w_zp[o] * x_sum + w_bias[o], rq[o], g);
    }
  }
}

/* ---- blocked kernels (kiln_linear_dsp_[us]8_r4) ---------------------------
 *
 * Rows of at most 256 inputs within int16 of their zero point, and 8-bit
 * weights: |sum (x - zx)(w - zw)| <= 256 * 2^15 * 255 < 2^31. The
 * sum then is exact in int32 arithmetic modulo 2^32, whatever its parts
 * (sum x w, zw sum x, the bias) do: each is taken mod 2^32 and wraps, the
 * total cannot. So the whole epilogue is 32-bit, and the generator emits
 * each row's terms ready for it (rules/cortex-m4.lua r4_terms).
 *
 * The weights come in blocks of 4 rows x 4 inputs (16 bytes, rows in turn,
 * each row's codes in the order 0, 2, 1, 3), so that one LDM loads a
 * block's 4 words and widening a word's bytes 0, 2 and 1, 3 gives the pairs
 * of codes (w0, w1), (w2, w3) that meet the inputs as stored (one LDRD).
 * Per 4 inputs and 4 rows: LDRD, LDM, 8 widenings and 8 SMLADs, the loop's
 * compare and branch once every 16 inputs. The loop takes all 14 registers,
 * so it and each block's epilogue are written out in assembly; the words'
 * registers are named (r8-r11) so that LDM's lists are in ascending order. */
#define R4_ROWS 4
#define R4_TERMS 4 /* a row's table: bias mod 2^32, zw, multiplier, (2 zp + 1) * 256 + shift - 33 */

/* The products' first and later instructions: SMUAD starts a sum. */
#define R4_SMUAD(acc, a, b) "smuad " acc ", " a ", " b "\n\t"
#define R4_SMLAD(acc, a, b) "smlad " acc ", " a ", " b ", " acc "\n\t"

/* One row's word [w0, w2, w1, w3] against the inputs: bytes 0 and 2 with
 * (x0, x1), then bytes 1 and 3, widened in place, with (x2, x3). */
#define R4_ROW(op, widen, acc, word) \
  widen " %[t], " word "\n\t" op(acc, "%[t]", "%[x01]") widen " " word ", " word ", ror #8\n\t" \
  R4_SMLAD(acc, word, "%[x23]")
/* 4 inputs against the block's 4 rows: the inputs, the rows' words. */
#define R4_LOADS \
  "ldrd %[x01], %[x23], [%[x]], #8\n\t" \
  "ldm %[w]!, {%[v0], %[v1], %[v2], %[v3]}\n\t"
#define R4_GROUP(op, widen) \
  R4_LOADS R4_ROW(op, widen, "%[a0]", "%[v0]") R4_ROW(op, widen, "%[a1]", "%[v1]") \
  R4_ROW(op, widen, "%[a2]", "%[v2]") R4_ROW(op, widen, "%[a3]", "%[v3]")
#define R4_GROUP_U8(op) R4_GROUP(op, "uxtb16")
#define R4_GROUP_S8(op) R4_GROUP(op, "sxtb16")

/* The a8 form (activations of 8 bits or fewer): a word holds two rows x two
 * inputs, [r0 i0, r1 i0, r0 i1, r1 i1], r0's codes unsigned and r1's signed,
 * the inputs as stored, (x0, x1) and (x2, x3). As int16 halves the word is
 * (r0 i0 + 256 r1 i0, r0 i1 + 256 r1 i1), so SMLAD on it sums s0 + 256 s1
 * (mod 2^32), s0 and s1 the rows' sums; SMLAD on its widened bytes 0 and 2
 * sums s0. s1 = (that sum - s0) >> 8 then, exactly: |s1| <= 256 * 255 * 128
 * < 2^23. A word's 4 products take 3 instructions, not 4. Accumulators: a0
 * row 0, a1 rows 0 + 256 x 1, a2 row 2, a3 rows 2 + 256 x 3. */
#define R4_A8_WORD(op, acc_r, acc_f, word, xv) \
  "uxtb16 %[t], " word "\n\t" op(acc_r, "%[t]", xv) op(acc_f, word, xv)
#define R4_GROUP_A8(op) \
  R4_LOADS R4_A8_WORD(op, "%[a0]", "%[a1]", "%[v0]", "%[x01]") R4_A8_WORD(op, "%[a2]", "%[a3]", "%[v1]", "%[x01]") \
  R4_A8_WORD(R4_SMLAD, "%[a0]", "%[a1]", "%[v2]", "%[x23]") R4_A8_WORD(R4_SMLAD, "%[a2]", "%[a3]", "%[v3]", "%[x23]")
/* the a8 form's sums of rows 1 and 3 */
#define R4_A8_SPLIT \
  "sub %[a1], %[a1], %[a0]\n\t" \
  "asr %[a1], %[a1], #8\n\t" \
  "sub %[a3], %[a3], %[a2]\n\t" \
  "asr %[a3], %[a3], #8\n\t"

#define R4_TEMPS [x01] "=&r"(x01), [x23] "=&r"(x23), [t] "=&r"(t), [v0] "=&r"(v0), [v1] "=&r"(v1), [v2] "=&r"(v2), [v3] "=&r"(v3)
#define R4_START(group) \
  __asm__(group(R4_SMUAD) \
          : [x] "+r"(x), [w] "+r"(w), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), R4_TEMPS \
          : : "memory")
#define R4_NEXT(group) \
  __asm__(group(R4_SMLAD) \
          : [x] "+r"(x), [w] "+r"(w), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), R4_TEMPS \
          : : "memory")
#define R4_NEXT2(group) \
  __asm__(group(R4_SMLAD) group(R4_SMLAD) \
          : [x] "+r"(x), [w] "+r"(w), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), R4_TEMPS \
          : : "memory")
#define R4_LOOP(group) \
  __asm__("1:\n\t" group(R4_SMLAD) group(R4_SMLAD) group(R4_SMLAD) group(R4_SMLAD) \
          "cmp %[x], %[end]\n\t" \
          "bne 1b\n\t" \
          : [x] "+r"(x), [w] "+r"(w), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), R4_TEMPS \
          : [end] "r"(end) \
          : "cc", "memory")
/* the step for the kernel's form */
enum { FORM_U8, FORM_S8, FORM_A8 };
#define R4_STEP(step, form) \
  do { \
    if ((form) == FORM_A8) \
      step(R4_GROUP_A8); \
    else if ((form) == FORM_S8) \
      step(R4_GROUP_S8); \
    else \
      step(R4_GROUP_U8); \
  } while (0)

/* One row's grid code from its sum acc (sum x w over the row, mod 2^32)
 * and its terms (bias, zw, mult, (2 zp + 1) * 256 + shift - 33, loaded into
 * v0-v3; a shift by register takes its low byte), before the clamp, left in
 * v1: acc - zw x_sum + bias, then round_half_even(acc * mult
 * / 2^s) + zp, s = 32 + k, k = shift - 32 in [1, 31]. With p = acc * mult
 * = hi:lo (SMULL, |p| < 2^62), floor(p / 2^s) = hi >> k and, as in
 * kiln_rhe_u63, the rounding is floor((p + 2^(s-1) - 1 + odd) / 2^s), odd
 * that quotient's low bit (bit k of hi, bit 1 of hi >> (k - 1)): the low
 * word's part carries exactly when lo or odd is not zero, so the result is
 * floor((h + 2^(k-1)) / 2^k) with h = hi - 1 + carry (SBC), that is
 * ((h >> (k - 1)) + 1) >> 1; adding zp first as 2 zp + 1 (the
 * word's top 24 bits) gives the code. Every step fits int32 (|hi| < 2^30). Round half to even is
 * odd-symmetric, so this signed floor form is portable's |acc| form. */
#define R4_CODE(acc) \
  "mls " acc ", %[v1], %[xs], " acc "\n\t" \
  "add " acc ", " acc ", %[v0]\n\t" \
  "smull %[v0], %[v1], " acc ", %[v2]\n\t" \
  "asr %[v2], %[v1], %[v3]\n\t" \
  "and %[v2], %[v2], #2\n\t" \
  "orr %[v2], %[v2], %[v0]\n\t" \
  "cmp %[v2], #1\n\t" /* carry: lo or odd not zero */ \
  "sbc %[v1], %[v1], #0\n\t" \
  "asr %[v1], %[v1], %[v3]\n\t" \
  "add %[v1], %[v1], %[v3], asr #8\n\t" \
  "asr %[v1], %[v1], #1\n\t"
#define R4_TERMS_LOAD "ldm %[tp]!, {%[v0], %[v1], %[v2], %[v3]}\n\t"
/* the code clamped by one saturation (the int16 and uint8 grids) and stored */
#define R4_STORE(acc, sat) R4_TERMS_LOAD R4_CODE(acc) sat "strh %[v1], [%[y]], #2\n\t"
#define R4_SSAT16 "ssat %[v1], #16, %[v1]\n\t"
#define R4_USAT8 "usat %[v1], #8, %[v1]\n\t"
/* the code kept in acc, for the clamp in C (other grids) */
#define R4_KEEP(acc) R4_TERMS_LOAD R4_CODE(acc) "mov " acc ", %[v1]\n\t"
#define R4_OUT(text) \
  __asm__(text \
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tp] "+r"(tp), [y] "+r"(y), \
            [v0] "=&r"(v0), [v1] "=&r"(v1), [v2] "=&r"(v2), [v3] "=&r"(v3) \
          : [xs] "r"(x_sum) \
          : "cc", "memory")

/* How a kernel clamps to its grid: the int16 and uint8 grids (every
 * stories-like model's) with one saturating instruction. */
enum { CLAMP_S16, CLAMP_U8, CLAMP_ANY };

INLINE int16_t r4_clamp(int32_t v, int clamp, const kiln_grid *g) {
  if (clamp == CLAMP_S16) return (int16_t)__ssat(v, 16);
  if (clamp == CLAMP_U8) return (int16_t)__usat(v, 8);
  if (v < g->qmin) v = g->qmin;
  if (v > g->qmax) v = g->qmax;
  return (int16_t)v;
}

/* The running state of one input row: where the next block's weights,
 * terms and outputs are. */
typedef struct {
  const uint8_t *w;
  const int32_t *terms;
  int16_t *y;
} r4_cursor;

/* One block of 4 rows against an input row x (groups of 4
 * inputs, at least 1); `full`: all 4 rows are outputs, else only the first
 * `live` (the rest is the layout's zero padding, and has no terms). */
INLINE void r4_block(r4_cursor *c, const uint32_t *x, int32_t groups, int32_t x_sum, int form, int clamp,
                     const kiln_grid *g, int32_t live) {
  register uint32_t v0 __asm__("r8"), v1 __asm__("r9"), v2 __asm__("r10"), v3 __asm__("r11");
  uint32_t x01, x23, t;
  int32_t a0, a1, a2, a3;
  const uint8_t *w = c->w;
  const uint32_t *end = x + 2 * groups;
  R4_STEP(R4_START, form);
  if (((groups - 1) & 1) != 0) R4_STEP(R4_NEXT, form); /* the loop takes the rest four groups at a time */
  if (((groups - 1) & 2) != 0) R4_STEP(R4_NEXT2, form);
  if (x != end) R4_STEP(R4_LOOP, form);
  if (form == FORM_A8) __asm__(R4_A8_SPLIT : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3));
  c->w = w;
  const int32_t *tp = c->terms;
  int16_t *y = c->y;
  if (live == R4_ROWS && clamp == CLAMP_S16)
    R4_OUT(R4_STORE("%[a0]", R4_SSAT16) R4_STORE("%[a1]", R4_SSAT16) R4_STORE("%[a2]", R4_SSAT16)
               R4_STORE("%[a3]", R4_SSAT16));
  else if (live == R4_ROWS && clamp == CLAMP_U8)
    R4_OUT(R4_STORE("%[a0]", R4_USAT8) R4_STORE("%[a1]", R4_USAT8) R4_STORE("%[a2]", R4_USAT8)
               R4_STORE("%[a3]", R4_USAT8));
  else {
    int32_t code[R4_ROWS];
    R4_OUT(R4_KEEP("%[a0]"));
    code[0] = a0;
    if (live > 1) R4_OUT(R4_KEEP("%[a1]"));
    code[1] = a1;
    if (live > 2) R4_OUT(R4_KEEP("%[a2]"));
    code[2] = a2;
    if (live > 3) R4_OUT(R4_KEEP("%[a3]"));
    code[3] = a3;
    for (int32_t j = 0; j < live; j++) y[j] = r4_clamp(code[j], clamp, g);
    y += live;
  }
  c->terms = tp;
  c->y = y;
}

/* sum x over one input row on a word, 4 codes a LDRD. */
static int32_t r4_sum(const int16_t *x, int32_t n_in) {
  const uint32_t *xw = (const uint32_t *)(const void *)x, *end = xw + n_in / 2;
  int32_t s = 0;
  uint32_t x01, x23;
  while (xw != end) {
    __asm__("ldrd %[x01], %[x23], [%[xw]], #8\n\t"
            "smlad %[s], %[x01], %[one], %[s]\n\t"
            "smlad %[s], %[x23], %[one], %[s]\n\t"
            : [xw] "+r"(xw), [s] "+r"(s), [x01] "=&r"(x01), [x23] "=&r"(x23)
            : [one] "r"(0x00010001u)
            : "memory");
  }
  return s;
}

/* Blocks on grids no saturation fits and the last block of a row cut short
 * (both rare) out of line, one copy a form: the code stays small. */
#define R4_ANY(name, form) \
  static __attribute__((noinline)) void name(r4_cursor *c, const uint32_t *x, int32_t groups, int32_t x_sum, \
                                             const kiln_grid *g, int32_t live) { \
    r4_block(c, x, groups, x_sum, form, CLAMP_ANY, g, live); \
  }
R4_ANY(r4_any_u8, FORM_U8)
R4_ANY(r4_any_s8, FORM_S8)
R4_ANY(r4_any_a8, FORM_A8)

INLINE void r4_block_any(r4_cursor *c, const uint32_t *x, int32_t groups, int32_t x_sum, int form,
                         const kiln_grid *g, int32_t live) {
  if (form == FORM_A8)
    r4_any_a8(c, x, groups, x_sum, g, live);
  else if (form == FORM_S8)
    r4_any_s8(c, x, groups, x_sum, g, live);
  else
    r4_any_u8(c, x, groups, x_sum, g, live);
}

INLINE void linear_r4_rows(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w, int form,
                           const int32_t *terms, int32_t n_out, const kiln_grid *g, int clamp) {
  /* n_in, n_out > 0: unsigned, the divisions are shifts */
  const int32_t groups = (int32_t)((uint32_t)n_in / 4), full = (int32_t)((uint32_t)n_out / R4_ROWS * R4_ROWS);
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    const uint32_t *pairs_of_x = (const uint32_t *)(const void *)xr; /* the inputs as stored */
    const int32_t x_sum = r4_sum(xr, n_in);
    r4_cursor c = { w, terms, y + (size_t)r * n_out };
    int16_t *const full_end = c.y + full;
    if (clamp == CLAMP_ANY)
      while (c.y != full_end) r4_block_any(&c, pairs_of_x, groups, x_sum, form, g, R4_ROWS);
    else
      while (c.y != full_end) r4_block(&c, pairs_of_x, groups, x_sum, form, clamp, g, R4_ROWS);
    if (full != n_out) r4_block_any(&c, pairs_of_x, groups, x_sum, form, g, n_out - full);
  }
}

/* The code of row o (of 4 in a block), input i, as the form stores it. */
static int32_t r4_code_at(const uint8_t *block, int32_t n_in, int32_t o, int32_t i, int form) {
  const uint8_t *unit = block + (size_t)(i / 4) * 16;
  const int32_t k = i % 4;
  if (form != FORM_A8) return weight_at(unit, o * 4 + (k % 2) * 2 + k / 2, form == FORM_S8); /* 0, 2, 1, 3 */
  (void)n_in;
  return weight_at(unit, (k / 2) * 8 + (o / 2) * 4 + (k % 2) * 2 + o % 2, o % 2); /* rows 1, 3 signed */
}

/* The same sums and codes in plain C, for inputs or scratch off a word
 * boundary (the generator's never are): each row's sum mod 2^32, then the
 * requantization the terms hold. */
static void linear_r4_exact(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w, int form,
                            const int32_t *terms, int32_t n_out, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    uint32_t x_sum = 0;
    for (int32_t i = 0; i < n_in; i++) x_sum += (uint32_t)(int32_t)xr[i];
    for (int32_t o = 0; o < n_out; o++) {
      const int32_t *t = terms + (size_t)o * R4_TERMS;
      const uint8_t *block = w + (size_t)(o / R4_ROWS) * R4_ROWS * n_in;
      uint32_t acc = (uint32_t)t[0] - (uint32_t)t[1] * x_sum;
      for (int32_t i = 0; i < n_in; i++)
        acc += (uint32_t)(int32_t)xr[i] * (uint32_t)r4_code_at(block, n_in, o % R4_ROWS, i, form);
      const kiln_rq rq = { t[2], (t[3] & 255) + 33 };
      y[(size_t)r * n_out + o] = kiln_requant_to_grid((int32_t)acc, rq, g); /* the sum fits int32: see above */
    }
  }
}

INLINE void linear_r4(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w, int form,
                      const int32_t *terms, int32_t n_out, const kiln_grid *g) {
  if (((uintptr_t)x & 3) != 0) /* LDRD needs words */
    linear_r4_exact(y, x, rows, n_in, w, form, terms, n_out, g);
  else if (g->qmin == INT16_MIN && g->qmax == INT16_MAX)
    linear_r4_rows(y, x, rows, n_in, w, form, terms, n_out, g, CLAMP_S16);
  else if (g->qmin == 0 && g->qmax == UINT8_MAX)
    linear_r4_rows(y, x, rows, n_in, w, form, terms, n_out, g, CLAMP_U8);
  else
    linear_r4_rows(y, x, rows, n_in, w, form, terms, n_out, g, CLAMP_ANY);
}

void kiln_linear_dsp_u8_r4(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                           const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g, uint8_t *work) {
  (void)w_zp, (void)rq, (void)work; /* zw and the multipliers are in the terms */
  linear_r4(y, x, rows, n_in, w, FORM_U8, terms, n_out, g);
}

void kiln_linear_dsp_s8_r4(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                           const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g, uint8_t *work) {
  (void)w_zp, (void)rq, (void)work;
  linear_r4(y, x, rows, n_in, (const uint8_t *)w, FORM_S8, terms, n_out, g);
}

/* u8 and s8 weights differ in the a8 form only in what the generator did
 * to them (rules/cortex-m4.lua r4a8): the kernels are one. */
void kiln_linear_dsp_u8_r4a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                             const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  (void)w_zp, (void)rq, (void)work;
  linear_r4(y, x, rows, n_in, w, FORM_A8, terms, n_out, g);
}

void kiln_linear_dsp_s8_r4a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                             const int32_t *w_zp, const int32_t *terms, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  kiln_linear_dsp_u8_r4a8(y, x, rows, n_in, (const uint8_t *)w, w_zp, terms, n_out, rq, g, work);
}

void kiln_linear_dsp_u8_folded(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *w,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear_folded(y, x, rows, n_in, w, 0, w_zp, w_bias, n_out, rq, g);
}

void kiln_linear_dsp_s8_folded(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *w,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear_folded(y, x, rows, n_in, (const uint8_t *)w, 1, w_zp, w_bias, n_out, rq, g);
}
