/*
 * Linear kernels for Armv8.1-M with Helium (Cortex-M55, M85) on 8-bit
 * weights. VMLADAVA multiplies eight int16 lanes pairwise and adds all eight
 * products to a 32-bit scalar in one instruction; the weights are widened to
 * int16 as they load (VLDRB.U16 / .S16). The raw activation codes are
 * multiplied, and the zero points come in afterwards through the sums:
 *   sum (x - zx)(w - zw) = sum x w - zx sum w - zw sum (x - zx)
 * with sum w per weight row from the generator (w_sum) and sum (x - zx) once
 * per input row. Four weight rows go through each loaded vector of x. The
 * tail of a row (n_in not a multiple of 8) is one predicated step (VCTP):
 * lanes past the end load as zero and add nothing. Rows of at most 256
 * values (int16 codes: one tail-predicated DLSTP loop) requantize their
 * four outputs together in vector lanes (kiln_mve_round_high).
 *
 * Bit-identical to the portable kiln_linear_u8 and _s8: the same integer
 * sum, requantized by the same kiln_scale. Every product is at most
 * 2^15 * 255 < 2^23 in magnitude, so BLOCK = 256 of them fit an int32 in any
 * order; blocks add up in int64. The corrections are int64 products of
 * int32 values within the portable kernels' own bounds (|x - zx| < 2^16,
 * weight zero points on the 8-bit range's neighbourhood).
 */
#include "kiln_rt_mve.h"
#include "kiln_mve_scale.h"

#include <arm_mve.h>
#include <stddef.h>

#define BLOCK 256 /* 256 * 2^23 = 2^31: int32 sums of one block cannot overflow */
#define LANES 8   /* int16 lanes in a vector */
#define ROWS 4    /* weight rows a pass */

/* Each kernel's loops are compiled once per weight type (is_signed a
 * constant where they are inlined), without a test in the inner loop. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Eight weights from an unsigned or signed byte row, widened to int16;
 * with a predicate, lanes outside it are zero. */
ALWAYS_INLINE int16x8_t weights8(const uint8_t *w, int is_signed) {
  return is_signed ? vldrbq_s16((const int8_t *)w) : vreinterpretq_s16_u16(vldrbq_u16(w));
}

ALWAYS_INLINE int16x8_t weights8_z(const uint8_t *w, int is_signed, mve_pred16_t p) {
  return is_signed ? vldrbq_z_s16((const int8_t *)w, p) : vreinterpretq_s16_u16(vldrbq_z_u16(w, p));
}

/* sums[j] = sum x[i] * w_j[i] over i < n_in for ROWS weight rows w_j, n_in bytes apart. */
ALWAYS_INLINE void dot_rows(int64_t sums[ROWS], const int16_t *x, const uint8_t *w, int32_t n_in, int is_signed) {
  const uint8_t *w0 = w, *w1 = w + n_in, *w2 = w + 2 * (size_t)n_in, *w3 = w + 3 * (size_t)n_in;
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int32_t left = n_in; left > 0; left -= BLOCK) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, n = left < BLOCK ? left : BLOCK;
    for (; n >= LANES; n -= LANES, x += LANES, w0 += LANES, w1 += LANES, w2 += LANES, w3 += LANES) {
      const int16x8_t xv = vldrhq_s16(x);
      a0 = vmladavaq_s16(a0, xv, weights8(w0, is_signed));
      a1 = vmladavaq_s16(a1, xv, weights8(w1, is_signed));
      a2 = vmladavaq_s16(a2, xv, weights8(w2, is_signed));
      a3 = vmladavaq_s16(a3, xv, weights8(w3, is_signed));
    }
    if (n > 0) {
      const mve_pred16_t p = vctp16q((uint32_t)n);
      const int16x8_t xv = vldrhq_z_s16(x, p);
      a0 = vmladavaq_s16(a0, xv, weights8_z(w0, is_signed, p));
      a1 = vmladavaq_s16(a1, xv, weights8_z(w1, is_signed, p));
      a2 = vmladavaq_s16(a2, xv, weights8_z(w2, is_signed, p));
      a3 = vmladavaq_s16(a3, xv, weights8_z(w3, is_signed, p));
      x += n;
      w0 += n;
      w1 += n;
      w2 += n;
      w3 += n;
    }
    s0 += a0;
    s1 += a1;
    s2 += a2;
    s3 += a3;
  }
  sums[0] = s0;
  sums[1] = s1;
  sums[2] = s2;
  sums[3] = s3;
}

/* The same for a row of at most BLOCK values: one block, four int32 sums in
 * the lanes of a vector. With bytes (activation codes in [0, 255], uint8
 * weights), sixteen values a step first: VLD20/VLD21 on the int16 codes
 * take their low bytes, and VMLADAVA.U8 multiplies sixteen byte pairs
 * (products below 2^16, the sums far below 2^32: the same integers). */
ALWAYS_INLINE int32x4_t dot_rows_short(const int16_t *x, const uint8_t *w, int32_t n_in, int is_signed, int bytes) {
  const uint8_t *w1 = w + n_in, *w2 = w + 2 * (size_t)n_in, *w3 = w + 3 * (size_t)n_in;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, i = 0;
  if (bytes) {
    uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (; i + 2 * LANES <= n_in; i += 2 * LANES) {
      const uint8x16_t xv = vld2q_u8((const uint8_t *)(x + i)).val[0]; /* little-endian: the low bytes */
      b0 = vmladavaq_u8(b0, xv, vldrbq_u8(w + i));
      b1 = vmladavaq_u8(b1, xv, vldrbq_u8(w1 + i));
      b2 = vmladavaq_u8(b2, xv, vldrbq_u8(w2 + i));
      b3 = vmladavaq_u8(b3, xv, vldrbq_u8(w3 + i));
    }
    a0 = (int32_t)b0;
    a1 = (int32_t)b1;
    a2 = (int32_t)b2;
    a3 = (int32_t)b3;
  }
  for (; i + LANES <= n_in; i += LANES) {
    const int16x8_t xv = vldrhq_s16(x + i);
    a0 = vmladavaq_s16(a0, xv, weights8(w + i, is_signed));
    a1 = vmladavaq_s16(a1, xv, weights8(w1 + i, is_signed));
    a2 = vmladavaq_s16(a2, xv, weights8(w2 + i, is_signed));
    a3 = vmladavaq_s16(a3, xv, weights8(w3 + i, is_signed));
  }
  if (i < n_in) {
    const mve_pred16_t p = vctp16q((uint32_t)(n_in - i));
    const int16x8_t xv = vldrhq_z_s16(x + i, p);
    a0 = vmladavaq_s16(a0, xv, weights8_z(w + i, is_signed, p));
    a1 = vmladavaq_s16(a1, xv, weights8_z(w1 + i, is_signed, p));
    a2 = vmladavaq_s16(a2, xv, weights8_z(w2 + i, is_signed, p));
    a3 = vmladavaq_s16(a3, xv, weights8_z(w3 + i, is_signed, p));
  }
  int32x4_t v = vdupq_n_s32(a0);
  v = vsetq_lane_s32(a1, v, 1);
  v = vsetq_lane_s32(a2, v, 2);
  return vsetq_lane_s32(a3, v, 3);
}

/* The same for int16 codes (not bytes): a tail-predicated loop (DLSTP.16 /
 * LETP: the last step's lanes past n_in neither load nor add), which gcc 12
 * does not emit, so it is written here. VMLADAVA takes its accumulator in
 * an even register (the sums are pinned to r0, r8, r10, r12) and the
 * widening byte loads their base in a low one ("l"). */
#define DOT4_ASM(load)                                                                                            \
  "add %[w1], %[w0], %[n]\n\t"                                                                                  \
  "add %[w2], %[w1], %[n]\n\t"                                                                                  \
  "add %[w3], %[w2], %[n]\n\t"                                                                                  \
  "dlstp.16 lr, %[n]\n"                                                                                         \
  "1:\n\t"                                                                                                     \
  "vldrh.u16 q0, [%[x]], #16\n\t"                                                                              \
  load " q1, [%[w0]], #8\n\t"                                                                                  \
  "vmlava.s16 %[a0], q0, q1\n\t"                                                                               \
  load " q2, [%[w1]], #8\n\t"                                                                                  \
  "vmlava.s16 %[a1], q0, q2\n\t"                                                                               \
  load " q1, [%[w2]], #8\n\t"                                                                                  \
  "vmlava.s16 %[a2], q0, q1\n\t"                                                                               \
  load " q2, [%[w3]], #8\n\t"                                                                                  \
  "vmlava.s16 %[a3], q0, q2\n\t"                                                                               \
  "letp lr, 1b"

ALWAYS_INLINE int32x4_t dot_rows_short16(const int16_t *x, const uint8_t *w, int32_t n_in, int is_signed) {
  register int32_t a0 __asm__("r0") = 0, a1 __asm__("r8") = 0, a2 __asm__("r10") = 0, a3 __asm__("r12") = 0;
  const uint8_t *w0 = w, *w1, *w2, *w3;
  const int16_t *xp = x;
  if (is_signed)
    __asm__ volatile(DOT4_ASM("vldrb.s16")
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xp), [w0] "+l"(w0),
                       [w1] "=&l"(w1), [w2] "=&l"(w2), [w3] "=&l"(w3)
                     : [n] "r"(n_in)
                     : "q0", "q1", "q2", "lr", "memory");
  else
    __asm__ volatile(DOT4_ASM("vldrb.u16")
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xp), [w0] "+l"(w0),
                       [w1] "=&l"(w1), [w2] "=&l"(w2), [w3] "=&l"(w3)
                     : [n] "r"(n_in)
                     : "q0", "q1", "q2", "lr", "memory");
  int32x4_t v = vdupq_n_s32(a0);
  v = vsetq_lane_s32(a1, v, 1);
  v = vsetq_lane_s32(a2, v, 2);
  return vsetq_lane_s32(a3, v, 3);
}

/* sum x[i] * w[i] over one weight row. */
ALWAYS_INLINE int64_t dot_row(const int16_t *x, const uint8_t *w, int32_t n_in, int is_signed) {
  int64_t s = 0;
  for (int32_t left = n_in; left > 0; left -= BLOCK) {
    int32_t a = 0, n = left < BLOCK ? left : BLOCK;
    for (; n >= LANES; n -= LANES, x += LANES, w += LANES) a = vmladavaq_s16(a, vldrhq_s16(x), weights8(w, is_signed));
    if (n > 0) {
      const mve_pred16_t p = vctp16q((uint32_t)n);
      a = vmladavaq_s16(a, vldrhq_z_s16(x, p), weights8_z(w, is_signed, p));
      x += n;
      w += n;
    }
    s += a;
  }
  return s;
}

/* sum (x - zx)(w - zw) from sum x w, requantized */
ALWAYS_INLINE int16_t output(int64_t dot, int32_t x_zp, int32_t w_sum, int32_t w_zp, int64_t sx, kiln_rq rq,
                             const kiln_grid *g) {
  return kiln_mve_requant(dot - (int64_t)x_zp * w_sum - (int64_t)w_zp * sx, rq, g);
}

/* Four outputs at once, in int32 lanes, where every one of them fits: rows of
 * at most BLOCK values (so |sum (x - zx)(w - zw)| <= 256 * 2^15 * 255 < 2^31),
 * weight zero points on the 8-bit range (|w - zw| <= 255), shifts 33 to 63.
 * The terms of the sum are taken modulo 2^32 (uint32 lanes): their total is
 * the exact value, which fits. Returns 0, having written nothing, where a
 * condition fails. The grid's bounds come in lanes (lo, hi) and its zero
 * point as zg, loaded once a call. */
ALWAYS_INLINE int output4(int16_t *y, int32x4_t dots, int32_t x_zp, const int32_t *w_sum, const int32_t *w_zp,
                          int32_t sx, const kiln_rq *rq, int is_signed, int32x4_t lo, int32x4_t hi, int32_t zg,
                          int zero_x) {
  const int32x4_t zw = vldrwq_s32(w_zp);
  const int32x4x2_t r = vld2q_s32((const int32_t *)rq); /* mult, shift */
  const int32x4_t t1 = vsubq_n_s32(r.val[1], 33);       /* t - 1, t = shift - 32 */
  const uint32x4_t zw_on_range = vreinterpretq_u32_s32(is_signed ? vaddq_n_s32(zw, 128) : zw);
  if (vmaxvq_u32(0, zw_on_range) > 255 || vmaxvq_u32(0, vreinterpretq_u32_s32(t1)) > 30) return 0;
  uint32x4_t u = vreinterpretq_u32_s32(dots);
  if (!zero_x) u = vsubq_u32(u, vmulq_n_u32(vreinterpretq_u32_s32(vldrwq_s32(w_sum)), (uint32_t)x_zp));
  u = vsubq_u32(u, vmulq_n_u32(vreinterpretq_u32_s32(zw), (uint32_t)sx));
  /* kiln_mve_quot_high, right = -t made here */
  const uint32x4_t m = vreinterpretq_u32_s32(r.val[0]);
  const int32x4_t right = vsubq_s32(vdupq_n_s32(-1), t1);
  const int32x4_t acc = vreinterpretq_s32_u32(u);
  const uint32x4_t a = kiln_mve_magnitude(acc);
  const uint32x4_t q = kiln_mve_round_high(vmulhq_u32(a, m), vmulq_u32(a, m), right);
  const int32x4_t v = vaddq_n_s32(kiln_mve_signed(q, acc), zg);
  vstrhq_s32(y, vminq_s32(vmaxq_s32(v, lo), hi));
  return 1;
}

/* One input row against all weight rows, for rows of at most BLOCK values:
 * four weight rows a pass through dot_rows_short and output4. Returns how
 * many outputs it wrote (a multiple of four; fewer where output4 refused a
 * group, whose outputs the caller then computes). */
ALWAYS_INLINE int32_t linear_short(int16_t *yr, const int16_t *xr, int32_t x_zp, int32_t n_in, const uint8_t *w,
                                   int is_signed, int bytes, const int32_t *w_zp, const int32_t *w_sum, int32_t n_out,
                                   const kiln_rq *rq, const kiln_grid *g, int64_t sx64, int zero_x) {
  const int32x4_t lo = vdupq_n_s32(g->qmin), hi = vdupq_n_s32(g->qmax);
  const int32_t zg = g->zero_point;
  const int32_t sx = (int32_t)sx64; /* only its value modulo 2^32 enters the lanes' sum */
  int32_t o = 0;
  for (const uint8_t *wo = w; o + ROWS <= n_out; o += ROWS, wo += ROWS * (size_t)n_in) {
    const int32x4_t dots =
        bytes ? dot_rows_short(xr, wo, n_in, is_signed, 1) : dot_rows_short16(xr, wo, n_in, is_signed);
    if (!output4(yr + o, dots, x_zp, w_sum + o, w_zp + o, sx, rq + o, is_signed, lo, hi, zg, zero_x)) break;
  }
  return o;
}

/* the int16-code short-row loops as functions of their own: the registers
 * the inline assembly pins stay free of the caller's loop state (bytes keep
 * theirs inline: C only); activations on a grid centred on 0 (x_zp = 0,
 * int16 codes) skip the x_zp * w_sum term */
#define NOINLINE static __attribute__((noinline))
NOINLINE int32_t linear_short_u8(int16_t *yr, const int16_t *xr, int32_t x_zp, int32_t n_in, const uint8_t *w,
                                 const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                                 const kiln_grid *g, int64_t sx) {
  if (x_zp == 0) return linear_short(yr, xr, 0, n_in, w, 0, 0, w_zp, w_sum, n_out, rq, g, sx, 1);
  return linear_short(yr, xr, x_zp, n_in, w, 0, 0, w_zp, w_sum, n_out, rq, g, sx, 0);
}

NOINLINE int32_t linear_short_s8(int16_t *yr, const int16_t *xr, int32_t x_zp, int32_t n_in, const uint8_t *w,
                                 const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                                 const kiln_grid *g, int64_t sx) {
  return linear_short(yr, xr, x_zp, n_in, w, 1, 0, w_zp, w_sum, n_out, rq, g, sx, 0);
}

ALWAYS_INLINE void linear8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                           int is_signed, int bytes, const int32_t *w_zp, const int32_t *w_sum, int32_t n_out,
                           const kiln_rq *rq, const kiln_grid *g_in) {
  const kiln_grid grid = *g_in, *g = &grid; /* a copy no store through y can change */
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    int16_t *yr = y + (size_t)r * n_out;
    const int64_t sx = kiln_mve_sum_diffs(xr, n_in, x_zp);
    int32_t o = 0;
    if (n_in > 0 && n_in <= BLOCK)
      o = bytes       ? linear_short(yr, xr, x_zp, n_in, w, 0, 1, w_zp, w_sum, n_out, rq, g, sx, 0)
          : is_signed ? linear_short_s8(yr, xr, x_zp, n_in, w, w_zp, w_sum, n_out, rq, g, sx)
                      : linear_short_u8(yr, xr, x_zp, n_in, w, w_zp, w_sum, n_out, rq, g, sx);
    for (; o + ROWS <= n_out; o += ROWS) {
      int64_t dots[ROWS];
      dot_rows(dots, xr, w + (size_t)o * n_in, n_in, is_signed);
      for (int32_t j = 0; j < ROWS; j++) yr[o + j] = output(dots[j], x_zp, w_sum[o + j], w_zp[o + j], sx, rq[o + j], g);
    }
    for (; o < n_out; o++)
      yr[o] = output(dot_row(xr, w + (size_t)o * n_in, n_in, is_signed), x_zp, w_sum[o], w_zp[o], sx, rq[o], g);
  }
}

void kiln_linear_mve_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 0, 0, w_zp, w_sum, n_out, rq, g);
}

void kiln_linear_mve_a8_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                           const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                           const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 0, 1, w_zp, w_sum, n_out, rq, g);
}

void kiln_linear_mve_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                        const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                        const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, (const uint8_t *)w, 1, 0, w_zp, w_sum, n_out, rq, g);
}

/* 16-bit weights: VMLALDAVA multiplies the raw int16 codes eight at a time
 * into a 64-bit sum, exact for any codes; the zero points come in through
 * the sums as above. A row whose weight zero point lies beyond +-2^16
 * (none that calibration gives) takes the exact int64 loop. */
void kiln_linear_mve_s16(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int16_t *w,
                         const int32_t *w_zp, const int32_t *w_sum, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    const int64_t sx = kiln_mve_sum_diffs(xr, n_in, x_zp);
    for (int32_t o = 0; o < n_out; o++) {
      const int16_t *wo = w + (size_t)o * n_in;
      int64_t acc = 0;
      if (w_zp[o] >= -(1 << 16) && w_zp[o] <= 1 << 16) {
        for (int32_t i = 0; i < n_in; i += LANES) {
          const mve_pred16_t p = vctp16q((uint32_t)(n_in - i));
          acc = vmlaldavaq_p_s16(acc, vldrhq_z_s16(xr + i, p), vldrhq_z_s16(wo + i, p), p);
        }
        acc -= (int64_t)x_zp * w_sum[o] + (int64_t)w_zp[o] * sx;
      } else {
        for (int32_t i = 0; i < n_in; i++) acc += (int64_t)(xr[i] - x_zp) * (wo[i] - w_zp[o]);
      }
      y[(size_t)r * n_out + o] = kiln_mve_requant(acc, rq[o], g);
    }
  }
}
