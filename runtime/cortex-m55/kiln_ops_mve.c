/*
 * Elementwise kernels for Armv8.1-M with Helium: requantization and the
 * products of kiln_rt.h (kiln_requant, kiln_mul, kiln_mul_rows and the
 * moves built on requantization), four values a step in int32 lanes, the
 * last step predicated (VCTP). The same integers as the portable kernels:
 * each value's accumulator fits int32 (a code minus its zero point, or a
 * product of two such within int16: |product| <= 2^30), and kiln_mve_scale4
 * or _low gives kiln_scale's quotient (capped where kiln_to_grid clamps
 * anyway). A product whose factors do not both fit int16, or a multiplier
 * whose shift lies outside 1 to 63, takes the portable kernel.
 */
#include "kiln_rt_mve.h"
#include "kiln_mve_scale.h"

#include <arm_mve.h>
#include <stddef.h>

#define LANES 4 /* int32 lanes */
#define INT16_ABS 32768

static void requant(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, const kiln_mve_rq *u, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i += LANES) {
    const mve_pred16_t p = vctp32q((uint32_t)(n - i));
    kiln_mve_store_grid4_p(y + i, kiln_mve_scale_uniform(vsubq_n_s32(vldrhq_z_s32(x + i, p), x_zp), u), g, p);
  }
}

void kiln_requant_mve(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  kiln_mve_rq u;
  /* |x - x_zp| < 2^31 for any int16 code when |x_zp| < 2^30 */
  if (!kiln_mve_uniform(rq, &u) || x_zp > (1 << 30) || x_zp < -(1 << 30)) {
    kiln_requant(y, x, n, x_zp, rq, g);
    return;
  }
  requant(y, x, n, x_zp, &u, g);
}

void kiln_take_half_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                        const kiln_grid *g) {
  const int32_t h = d / 2;
  for (int32_t r = 0; r < rows; r++) kiln_requant_mve(y + (size_t)r * h, x + (size_t)r * d + (which ? h : 0), h, x_zp, rq, g);
}

void kiln_concat_halves_mve(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                            kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    kiln_requant_mve(y + (size_t)r * 2 * h, a + (size_t)r * h, h, a_zp, a_rq, g);
    kiln_requant_mve(y + (size_t)r * 2 * h + h, b + (size_t)r * h, h, b_zp, b_rq, g);
  }
}

void kiln_heads_first_mve(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp,
                          kiln_rq rq, const kiln_grid *g) {
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++)
      kiln_requant_mve(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, d, x_zp, rq, g);
}

/* Whether a code minus its zero point fits int16 for all four lanes (the
 * products then fit int32). */
static inline int fits16(int32x4_t d) {
  return vmaxavq_s32(0, d) <= INT16_ABS;
}

/* y = (a - za)(b - zb) over n values, requantized; 0 where a step's factors
 * do not fit int16 (its values then left to the caller). */
static int32_t mul(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n,
                   const kiln_mve_rq *u, const kiln_grid *g) {
  int32_t i = 0;
  for (; i < n; i += LANES) {
    const mve_pred16_t p = vctp32q((uint32_t)(n - i));
    const int32x4_t da = vsubq_n_s32(vldrhq_z_s32(a + i, p), a_zp), db = vsubq_n_s32(vldrhq_z_s32(b + i, p), b_zp);
    if (!fits16(da) || !fits16(db)) break;
    kiln_mve_store_grid4_p(y + i, kiln_mve_scale_uniform(vmulq_s32(da, db), u), g, p);
  }
  return i;
}

void kiln_mul_mve(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
                  const kiln_grid *g) {
  kiln_mve_rq u;
  const int32_t done = kiln_mve_uniform(rq, &u) ? mul(y, a, a_zp, b, b_zp, n, &u, g) : 0;
  if (done < n) kiln_mul(y + done, a + done, a_zp, b + done, b_zp, n - done, rq, g);
}

void kiln_mul_rows_mve(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                       int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  kiln_mve_rq u;
  const int ok = kiln_mve_uniform(rq, &u);
  for (int32_t s = 0; s < rows; s++) {
    const int16_t *t = table + (size_t)s * d;
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      const int32_t done = ok ? mul(y + base, x + base, x_zp, t, t_zp, d, &u, g) : 0;
      if (done < d) kiln_mul(y + base + done, x + base + done, x_zp, t + done, t_zp, d - done, rq, g);
    }
  }
}
