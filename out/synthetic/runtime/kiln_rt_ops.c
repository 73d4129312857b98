/*
 * Portable integer kernels: plain loops, the semantics every other target
 * reproduces bit for bit. See kiln_rt.h for the conventions.
 */
#include "kiln_rt.h"

#include <stddef.h>

void kiln_requant(int16_t *y, const int16_t *x, int32_t n, int32_t x_zp, kiln_rq rq, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++) y[i] = kiln_to_grid(kiln_scale((int64_t)x[i] - x_zp, rq), g);
}

void kiln_take_half(int16_t *y, const int16_t *x, int32_t rows, int32_t d, int32_t which, int32_t x_zp, kiln_rq rq,
                    const kiln_grid *g) {
  const int32_t h = d / 2;
  for (int32_t r = 0; r < rows; r++)
    kiln_requant(y + (size_t)r * h, x + (size_t)r * d + (which ? h : 0), h, x_zp, rq, g);
}

void kiln_concat_halves(int16_t *y, const int16_t *a, int32_t a_zp, kiln_rq a_rq, const int16_t *b, int32_t b_zp,
                        kiln_rq b_rq, int32_t rows, int32_t h, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    kiln_requant(y + (size_t)r * 2 * h, a + (size_t)r * h, h, a_zp, a_rq, g);
    kiln_requant(y + (size_t)r * 2 * h + h, b + (size_t)r * h, h, b_zp, b_rq, g);
  }
}

void kiln_heads_first(int16_t *y, const int16_t *x, int32_t rows, int32_t heads, int32_t d, int32_t x_zp, kiln_rq rq,
                      const kiln_grid *g) {
  for (int32_t s = 0; s < rows; s++)
    for (int32_t h = 0; h < heads; h++)
      kiln_requant(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, d, x_zp, rq, g);
}

void kiln_mul_rows(int16_t *y, const int16_t *x, int32_t x_zp, const int16_t *table, int32_t t_zp, int32_t rows,
                   int32_t heads, int32_t d, kiln_rq rq, const kiln_grid *g) {
  for (int32_t s = 0; s < rows; s++) {
    const int16_t *t = table + (size_t)s * d;
    for (int32_t h = 0; h < heads; h++) {
      const size_t base = ((size_t)s * heads + h) * d;
      for (int32_t e = 0; e < d; e++) {
        const int64_t prod = (int64_t)(x[base + e] - x_zp) * (t[e] - t_zp);
        y[base + e] = kiln_to_grid(kiln_scale(prod, rq), g);
      }
    }
  }
}

void kiln_add(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, const int16_t *c,
              int32_t c_zp, int32_t n, const kiln_add_rq *rq, const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++) {
    int64_t acc = (int64_t)(a[i] - a_zp) * rq->ma + (int64_t)(b[i] - b_zp) * rq->mb;
    if (c) acc += (int64_t)(c[i] - c_zp) * rq->mc;
    y[i] = kiln_to_grid(kiln_shift_rhe(acc, rq->shift), g);
  }
}

void kiln_mul(int16_t *y, const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t n, kiln_rq rq,
              const kiln_grid *g) {
  for (int32_t i = 0; i < n; i++)
    y[i] = kiln_to_grid(kiln_scale((int64_t)(a[i] - a_zp) * (b[i] - b_zp), rq), g);
}

uint64_t kiln_rmsnorm_square(uint64_t ss, const kiln_norm_rq *p, int32_t *k) {
  /* sum + eps_term in Q(frac_bits); the generator keeps it below 2^62 */
  uint64_t t = (ss << p->frac_bits) + p->eps_term;
  *k = 0;
  if (t == 0) return 0; /* an all-zero row with eps 0: the output is zero */
  /* sqrt(t) = isqrt(t * 4^k) / 2^k with t * 4^k in [2^60, 2^62): 30 bits */
  while (t < ((uint64_t)1 << 60)) { t <<= 2; (*k)++; }
  while (t >= ((uint64_t)1 << 62)) { t >>= 2; (*k)--; }
  return t;
}

kiln_rq kiln_rmsnorm_scale(uint64_t root, int32_t k, const kiln_norm_rq *p) {
  uint64_t mant = ((uint64_t)p->gain.mult << 31) / root;
  int32_t shift = p->gain.shift + 31 - p->frac_bits / 2 - k;
  if (mant >= ((uint64_t)1 << 31)) { mant >>= 1; shift--; }
  const kiln_rq row = { (int32_t)mant, shift };
  return row;
}

void kiln_rmsnorm(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n, const int16_t *gamma,
                  int32_t gamma_zp, const kiln_norm_rq *p, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n;
    int16_t *yr = y + (size_t)r * n;
    uint64_t ss = 0;
    for (int32_t j = 0; j < n; j++) {
      const int64_t v = (int64_t)xr[j] - x_zp;
      ss += (uint64_t)(v * v);
    }
    int32_t k;
    const uint64_t t = kiln_rmsnorm_square(ss, p, &k);
    if (t == 0) {
      for (int32_t j = 0; j < n; j++) yr[j] = kiln_to_grid(0, g);
      continue;
    }
    const kiln_rq row = kiln_rmsnorm_scale(kiln_isqrt(t), k, p);
    for (int32_t j = 0; j < n; j++) {
      const int64_t prod = (int64_t)(gamma[j] - gamma_zp) * ((int64_t)xr[j] - x_zp);
      yr[j] = kiln_to_grid(kiln_scale(prod, row), g);
    }
  }
}

/* One 8-bit weight code, unsigned or signed storage. */
static int32_t weight8(const void *w, size_t i, int is_signed) {
  return is_signed ? ((const int8_t *)w)[i] : ((const uint8_t *)w)[i];
}

static void linear8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const void *w,
                    int is_signed, const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    for (int32_t o = 0; o < n_out; o++) {
      const size_t row = (size_t)o * n_in;
      const int32_t zw = w_zp[o];
      int64_t acc = 0;
      int32_t i = 0;
      /* |x - zp| < 2^16 and |w - zp| < 2^9: 32 products fit an int32 */
      for (; i + 32 <= n_in; i += 32) {
        int32_t part = 0;
        for (int32_t k = i; k < i + 32; k++) part += (int32_t)(xr[k] - x_zp) * (weight8(w, row + k, is_signed) - zw);
        acc += part;
      }
      for (; i < n_in; i++) acc += (int32_t)(xr[i] - x_zp) * (weight8(w, row + i, is_signed) - zw);
      y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
    }
  }
}

void kiln_linear_u8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const uint8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 0, w_zp, n_out, rq, g);
}

void kiln_linear_s8(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int8_t *w,
                    const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  linear8(y, x, x_zp, rows, n_in, w, 1, w_zp, n_out, rq, g);
}

void kiln_linear_s16(int16_t *y, const int16_t *x, int32_t x_zp, int32_t rows, int32_t n_in, const int16_t *w,
                     const int32_t *w_zp, int32_t n_out, const kiln_rq *rq, const kiln_grid *g) {
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    for (int32_t o = 0; o < n_out; o++) {
      const int16_t *wo = w + (size_t)o * n_in;
      const int32_t zw = w_zp[o];
      int64_t acc = 0;
      for (int32_t i = 0; i < n_in; i++) acc += (int64_t)(xr[i] - x_zp) * (wo[i] - zw);
      y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
    }
  }
}

void kiln_sigmoid(int16_t *y, const int16_t *x, int32_t x_zp, int32_t n, const kiln_exp_lut *lut, kiln_rq rq,
                  const kiln_grid *g) {
  const uint64_t one = (uint64_t)1 << 31;
  for (int32_t i = 0; i < n; i++) {
    const int32_t v = x[i] - x_zp;
    const uint64_t e = kiln_exp_q31(lut, v >= 0 ? v : -v); /* exp(-|x|) */
    /* x >= 0: 1 / (1 + e); x < 0: e / (1 + e); both in Q31 */
    const uint64_t sig = kiln_div_rhe((v >= 0 ? one : e) << 31, one + e);
    y[i] = kiln_to_grid(kiln_scale((int64_t)sig, rq), g);
  }
}

void kiln_lookup(int16_t *y, const int16_t *x, int32_t n, int32_t x_min, const int16_t *table) {
  for (int32_t i = 0; i < n; i++) y[i] = table[x[i] - x_min];
}

/* ---- attention ---------------------------------------------------------- */

static int64_t dot(const int16_t *a, int32_t a_zp, const int16_t *b, int32_t b_zp, int32_t d) {
  int64_t acc = 0;
  for (int32_t e = 0; e < d; e++) acc += (int64_t)(a[e] - a_zp) * (b[e] - b_zp);
  return acc;
}

void kiln_qk_row(int16_t *logits, const int16_t *q, int32_t q_zp, const kiln_kv_view *k, int32_t d, kiln_rq rq,
                 const kiln_grid *g) {
  for (int32_t t = 0; t < k->n_past; t++)
    logits[t] = kiln_to_grid(kiln_scale(dot(q, q_zp, k->past + (size_t)t * d, k->zero_point, d), rq), g);
  for (int32_t t = 0; t < k->n_fresh; t++)
    logits[k->n_past + t] =
        kiln_to_grid(kiln_scale(dot(q, q_zp, k->fresh + (size_t)t * d, k->zero_point, d), rq), g);
}

void kiln_softmax_row(int16_t *p, const int16_t *x, int32_t n, const kiln_exp_lut *lut, kiln_rq rq, const kiln_grid *g) {
  int16_t mx = x[0];
  for (int32_t t = 1; t < n; t++)
    if (x[t] > mx) mx = x[t];
  uint64_t sum = 0;
  for (int32_t t = 0; t < n; t++) sum += kiln_exp_q31(lut, mx - x[t]);
  /* one division a row: prob = e / sum in Q31 as e * (2^62 / sum) / 2^31;
   * the largest term is 2^31, so sum >= 2^31 and the reciprocal < 2^31 */
  const uint64_t inv = kiln_softmax_reciprocal(sum);
  for (int32_t t = 0; t < n; t++) {
    const uint64_t prob = kiln_softmax_prob(kiln_exp_q31(lut, mx - x[t]), inv);
    p[t] = kiln_to_grid(kiln_scale((int64_t)prob, rq), g);
  }
}

void kiln_pv_row(int16_t *out, const int16_t *p, int32_t p_zp, const kiln_kv_view *v, int32_t d, kiln_rq rq,
                 const kiln_grid *g) {
  for (int32_t e = 0; e < d; e++) {
    int64_t acc = 0;
    for (int32_t t = 0; t < v->n_past; t++)
      acc += (int64_t)(p[t] - p_zp) * (v->past[(size_t)t * d + e] - v->zero_point);
    for (int32_t t = 0; t < v->n_fresh; t++)
      acc += (int64_t)(p[v->n_past + t] - p_zp) * (v->fresh[(size_t)t * d + e] - v->zero_point);
    out[e] = kiln_to_grid(kiln_scale(acc, rq), g);
  }
}

int32_t kiln_argmax(const int16_t *x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}
