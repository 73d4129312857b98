/*
 * Conversions between float32 and the stored dtypes (dtype.h).
 */
#include "dtype.h"

uint16_t kiln_f32_to_f16(float f) {
  const uint32_t u = kiln_f32_bits(f);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* 65520 and up round to infinity */
  if (a < 0x38800000u) {
    /* below 2^-14: multiples of 2^-24; |f| * 2^24 < 1024 is exact, and adding
     * and subtracting 2^23 rounds it to an integer, ties to even */
    const float scaled = kiln_bits_f32(a) * 0x1p24f;
    const float q = (scaled + 0x1p23f) - 0x1p23f;
    return (uint16_t)(sign | (uint16_t)q); /* q = 1024 is the smallest normal, 0x0400 */
  }
  /* drop 13 fraction bits, round to nearest even (a carry moves into the exponent), rebias */
  const uint32_t r = (a + 0xfffu + ((a >> 13) & 1u)) - (112u << 23);
  return (uint16_t)(sign | (uint16_t)(r >> 13));
}

void kiln_stored_to_f32(float *dst, const void *data, enum kiln_dtype t, size_t first, size_t n) {
  if (t == KILN_FP32) {
    memcpy(dst, (const float *)data + first, n * sizeof *dst);
    return;
  }
  for (size_t i = 0; i < n; i++) dst[i] = kiln_stored(data, t, first + i);
}

void kiln_store(void *data, enum kiln_dtype t, size_t i, float x) {
  if (t == KILN_FP32) {
    ((float *)data)[i] = x;
    return;
  }
  const uint16_t h = t == KILN_BF16 ? kiln_f32_to_bf16(x) : kiln_f32_to_f16(x);
  memcpy((unsigned char *)data + 2 * i, &h, sizeof h);
}
