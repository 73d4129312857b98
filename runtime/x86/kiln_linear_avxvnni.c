/*
 * Linear kernels with AVX-VNNI (vpdpbusd on 256-bit registers: Alder Lake,
 * Zen 5 and other hosts without AVX-512), for rules/x86-avx-vnni.lua. The
 * same packed weights and the same integer sums as kiln_linear_avx512.c
 * (see kiln_rt_x86.h): a 16-row block of the n16k4 layout is two 8-row
 * halves in two registers. The zero-point corrections and the
 * requantization are the portable scalar arithmetic, one output at a time.
 */
#include "kiln_rt_x86.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

static inline __m256i bytes4(const uint8_t *p) { /* four activation bytes, broadcast */
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

/* Plane sums of one row against one 16-row block: dot[p][c]. */
static void block_sums(int32_t dot[2][16], const uint8_t *xl, const uint8_t *xh, const int8_t *wb, int32_t k4) {
  __m256i l0 = _mm256_setzero_si256(), l1 = l0, h0 = l0, h1 = l0;
  for (int32_t k = 0; k < k4; k++) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + (size_t)k * 64));
    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + (size_t)k * 64 + 32));
    const __m256i xk = bytes4(xl + 4 * k);
    l0 = _mm256_dpbusd_avx_epi32(l0, xk, w0);
    l1 = _mm256_dpbusd_avx_epi32(l1, xk, w1);
    if (xh) {
      const __m256i hk = bytes4(xh + 4 * k);
      h0 = _mm256_dpbusd_avx_epi32(h0, hk, w0);
      h1 = _mm256_dpbusd_avx_epi32(h1, hk, w1);
    }
  }
  _mm256_storeu_si256((__m256i *)(void *)dot[0], l0);
  _mm256_storeu_si256((__m256i *)(void *)(dot[0] + 8), l1);
  _mm256_storeu_si256((__m256i *)(void *)dot[1], h0);
  _mm256_storeu_si256((__m256i *)(void *)(dot[1] + 8), h1);
}

static void linear(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                   const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                   uint8_t *work, int planes) {
  const int32_t k4 = n_in / 4, blocks = (n_out + 15) / 16;
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    uint8_t *xl = work, *xh = work + n_in; /* byte planes, as kiln_linear_avx512.c */
    int64_t sum_x = 0;
    for (int32_t i = 0; i < n_in; i++) {
      xl[i] = (uint8_t)(xr[i] & 255);
      if (planes == 2) xh[i] = (uint8_t)((xr[i] - (xr[i] & 255)) / 256 + 128);
      sum_x += xr[i];
    }
    for (int32_t b = 0; b < blocks; b++) {
      int32_t dot[2][16];
      block_sums(dot, xl, planes == 2 ? xh : NULL, wp + (size_t)b * k4 * 64, k4);
      for (int32_t c = 0; c < 16 && b * 16 + c < n_out; c++) {
        const int32_t o = b * 16 + c;
        const int64_t acc = dot[0][c] + (planes == 2 ? 256 * (int64_t)dot[1][c] : 0) + (128 - (int64_t)w_zp[o]) * sum_x +
                            w_bias[o];
        y[(size_t)r * n_out + o] = kiln_to_grid(kiln_scale(acc, rq[o]), g);
      }
    }
  }
}

void kiln_linear_avxvnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1);
}

void kiln_linear_avxvnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2);
}
