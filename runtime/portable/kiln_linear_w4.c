/*
 * Portable linear kernels on 4-bit weights, two codes a byte (layout in
 * kiln_rt_w4.h): the semantics the targets' 4-bit kernels reproduce bit for
 * bit. The codes are unpacked where they are multiplied; nothing is widened
 * into a buffer.
 */
#include "kiln_rt_w4.h"

/* As in kiln_rt_ops.c: the fast loop gives the exact loop's integers when
 * its bounds hold, and -Os builds (microcontroller images) keep only the
 * compact exact loop. */
#ifdef __OPTIMIZE_SIZE__
#define KILN_FAST_PATHS 0
#else
#define KILN_FAST_PATHS 1
#endif

/* Column pairs (one weight byte each) summed in int32: with |x - x_zp| <=
 * 2^16 and |w - w_zp| <= 15, a pair adds at most 2 * 65536 * 15 =
 * 1,966,080, and 1024 pairs at most 2,013,265,920 < 2^31. Blocks add up in
 * int64. */
#define W4_BLOCK_PAIRS 1024
/* Reading a byte xor 0x88 turns both int4 nibbles into s + 8 in [0, 15]
 * (offset binary); against zero points moved by 8 the differences are unchanged. */
#define W4_SIGN_FLIP 0x88
#define W4_SIGNED_OFFSET 8

/* Any zero points: one int64 product a code. */
static int64_t row_dot_exact(const int16_t *xr, int32_t x_zp, const uint8_t *w, int32_t w_zp, int32_t n_in,
                             int is_signed) {
  int64_t acc = 0;
  for (int32_t i = 0; i < n_in; i++) acc += ((int64_t)xr[i] - x_zp) * ((int64_t)kiln_w4(w, i, is_signed) - w_zp);
  return acc;
}

/* Zero points within the bounds above: a loop over the row's bytes, both
 * nibbles of each against two inputs, which compilers vectorize. */
static int64_t row_dot_pairs(const int16_t *xr, int32_t x_zp, const uint8_t *w, int32_t w_zp, int32_t n_in,
                             int is_signed) {
  const uint8_t flip = is_signed ? W4_SIGN_FLIP : 0;
  const int32_t zw = w_zp + (is_signed ? W4_SIGNED_OFFSET : 0), pairs = n_in / 2;
  int64_t acc = 0;
  for (int32_t j0 = 0; j0 < pairs; j0 += W4_BLOCK_PAIRS) {
    const int32_t j1 = pairs - j0 < W4_BLOCK_PAIRS ? pairs : j0 + W4_BLOCK_PAIRS;
    int32_t part = 0;
    for (int32_t j = j0; j < j1; j++) {
      const int32_t b = w[j] ^ flip;
      part += (xr[2 * j] - x_zp) * ((b & 0x0F) - zw) + (xr[2 * j + 1] - x_zp) * ((b >> 4) - zw);
    }
    acc += part;
  }
  if (n_in & 1) acc += (int64_t)(xr[n_in - 1] - x_zp) * (kiln_w4(w, n_in - 1, is_signed) - w_zp);
  return acc;
}

/* Whether x_zp and every weight zero point keep the differences within the
 * bounds of row_dot_pairs (codes on the 4-bit range, x stored as int16). */
static int zero_points_fit(int32_t x_zp, const int32_t *w_zp, int32_t n_out, int is_signed) {
  const int32_t lo = is_signed ? -8 : 0;
  if (x_zp < INT16_MIN || x_zp > INT16_MAX) return 0;
  for (int32_t o = 0; o < n_out; o++)
    if (w_zp[o] < lo || w_zp[o] > lo + 15) return 0;
  return 1;
}

/* The weight row is the outer loop: each packed row is read from memory once
 * a call, for however many rows of x (prefill), which stay in cache. */
void kiln_linear4_by_rows(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                          int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                          kiln_row_dot4 row_dot) {
  const size_t row_bytes = KILN_W4_ROW_BYTES(n_in);
  for (int32_t o = 0; o < n_out; o++) {
    const uint8_t *wo = w + (size_t)o * row_bytes;
    for (int32_t r = 0; r < rows; r++) {
      const int64_t acc = row_dot(x + (size_t)r * n_in, x_zp, wo, w_zp[o], n_in, is_signed);
      y[(size_t)r * n_out + o] = kiln_requant_to_grid(acc, rq[o], g);
    }
  }
}

static void linear4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  const int fast = KILN_FAST_PATHS && zero_points_fit(x_zp, w_zp, n_out, is_signed);
  kiln_linear4_by_rows(y, x, x_zp, rows, n_in, w, is_signed, w_zp, n_out, rq, g, fast ? row_dot_pairs : row_dot_exact);
}

void kiln_linear_u4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear4(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g);
}

void kiln_linear_s4(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear4(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g);
}
