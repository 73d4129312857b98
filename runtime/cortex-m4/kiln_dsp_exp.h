/*
 * Helpers shared by the Cortex-M4 softmax, sigmoid and attention rows
 * (kiln_softmax_dsp.c, kiln_attention_dsp.c): exp from kiln_exp_lut's tables
 * in 32-bit words, exactly as kiln_exp_q31_inline computes it.
 */
#ifndef KILN_DSP_EXP_H
#define KILN_DSP_EXP_H

#include "kiln_rt.h"

/* The few hot loops are compiled at -O2: under the firmware's -Os, gcc
 * keeps their constants on the stack and indexes by a counter, a third more
 * instructions a value. */
#if defined(__GNUC__) && !defined(__clang__)
#define KILN_DSP_HOT __attribute__((optimize("O2")))
#else
#define KILN_DSP_HOT
#endif

#define KILN_DSP_EXP_LO 256 /* kiln_exp_lut: lo[d & 255] * hi[d >> 8] */

static inline uint32_t kiln_dsp_load32(const void *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

static inline void kiln_dsp_store32(void *p, uint32_t v) {
  __builtin_memcpy(p, &v, sizeof v);
}

/* (uint32_t)kiln_rhe_u63(p, 31) for any 64-bit p, on its words: the sum
 * p + 2^30 - 1 + bit 31 of p (which kiln_rhe_u63 takes modulo 2^64, as
 * here) and its bits 31 to 62. */
static inline __attribute__((always_inline)) uint32_t kiln_dsp_rhe31(uint64_t p) {
  const uint32_t lo = (uint32_t)p, hi = (uint32_t)(p >> 32);
  const uint32_t add = 0x3FFFFFFFu + (lo >> 31);
  const uint32_t sum_lo = lo + add;
  const uint32_t sum_hi = hi + (sum_lo < add); /* ADDS, ADC */
  return (sum_hi << 1) | (sum_lo >> 31);
}

/* kiln_exp_q31_inline on a copy of the table (lo, hi, max_d). */
static inline __attribute__((always_inline)) uint32_t kiln_dsp_exp_q31(const uint32_t *lo, const uint32_t *hi,
                                                                        int32_t max_d, int32_t d) {
  if (d > max_d) return 0;
  if (d < KILN_DSP_EXP_LO) return lo[d];
  return kiln_dsp_rhe31((uint64_t)lo[d & (KILN_DSP_EXP_LO - 1)] * hi[d >> 8]);
}

#endif
