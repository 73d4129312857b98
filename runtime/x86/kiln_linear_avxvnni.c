/*
 * Linear kernels with AVX-VNNI (vpdpbusd on 256-bit registers: Alder Lake,
 * Zen 5 and other hosts without AVX-512), for rules/x86-avx-vnni.lua, on
 * the 8-bit weights packed for kiln_linear_avx512.c (n16k4, see
 * kiln_rt_x86.h): a 16-row block is two 8-row halves in two registers. The
 * loops are in kiln_linear_avxvnni.inc.
 */
#include "kiln_rt_x86.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

typedef int8_t W_CODE;
#define W_STEP_BYTES 64
#define W_OFFSET 128

static inline void w_halves(const int8_t *p, __m256i *rows0_7, __m256i *rows8_15) {
  *rows0_7 = _mm256_loadu_si256((const __m256i *)(const void *)p);
  *rows8_15 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
}

#include "kiln_linear_avxvnni.inc"

void kiln_linear_avxvnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1, W_OFFSET);
}

void kiln_linear_avxvnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2, W_OFFSET);
}
