/*
 * How the float references store weights: in the checkpoint's own dtype
 * (fp32, fp16 or bf16), converted to float32 only for arithmetic. Every
 * conversion to float32 is exact; conversions from float32 round to nearest,
 * ties to even (IEEE 754's default, and torch's `.to(dtype)`).
 */
#ifndef KILN_DTYPE_H
#define KILN_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum kiln_dtype { KILN_FP32, KILN_FP16, KILN_BF16 };

static inline size_t kiln_dtype_bytes(enum kiln_dtype t) {
  return t == KILN_FP32 ? 4 : 2;
}

static inline float kiln_bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t kiln_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* bfloat16 is the top half of a float32. */
static inline float kiln_bf16_to_f32(uint16_t h) {
  return kiln_bits_f32((uint32_t)h << 16);
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits. */
static inline float kiln_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
  if (exp == 0x1f) return kiln_bits_f32(sign | 0x7f800000u | (frac << 13)); /* infinity, NaN */
  if (exp != 0) return kiln_bits_f32(sign | ((exp + 112) << 23) | (frac << 13));
  /* zero or subnormal: frac * 2^-24, exact in float32 */
  const float v = (float)frac * 0x1p-24f;
  return sign ? -v : v;
}

static inline uint16_t kiln_f32_to_bf16(float f) {
  const uint32_t u = kiln_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

uint16_t kiln_f32_to_f16(float f);

/* Element i of stored values, as float32. */
static inline float kiln_stored(const void *data, enum kiln_dtype t, size_t i) {
  if (t == KILN_FP32) return ((const float *)data)[i];
  uint16_t h;
  memcpy(&h, (const unsigned char *)data + 2 * i, sizeof h);
  return t == KILN_BF16 ? kiln_bf16_to_f32(h) : kiln_f16_to_f32(h);
}

/* dst[0..n) = stored elements [first, first + n) as float32. */
void kiln_stored_to_f32(float *dst, const void *data, enum kiln_dtype t, size_t first, size_t n);

/* Stores x rounded to t at element i of data. */
void kiln_store(void *data, enum kiln_dtype t, size_t i, float x);

/* Is stored element i a NaN or an infinity? */
static inline int kiln_stored_nonfinite(const void *data, enum kiln_dtype t, size_t i) {
  if (t == KILN_FP32) return (kiln_f32_bits(((const float *)data)[i]) & 0x7f800000u) == 0x7f800000u;
  uint16_t h;
  memcpy(&h, (const unsigned char *)data + 2 * i, sizeof h);
  return t == KILN_BF16 ? (h & 0x7f80u) == 0x7f80u : (h & 0x7c00u) == 0x7c00u;
}

#endif
