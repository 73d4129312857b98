/*
 * The kernel tests' random inputs (test_x86_avx2.c, test_linear_w4.c): one
 * xorshift sequence, the same on every host, and draws that hit the ends of
 * their range often, where kernels overflow or round ties.
 */
#ifndef KILN_TEST_RANDOM_H
#define KILN_TEST_RANDOM_H

#include <stdint.h>

static uint64_t state = 88172645463325252ULL;
static uint32_t rnd(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (uint32_t)(state >> 16);
}
/* uniform in [lo, hi]; every 8th draw an end */
static int32_t range(int32_t lo, int32_t hi) {
  const uint32_t r = rnd();
  if (r % 16 == 0) return lo;
  if (r % 16 == 1) return hi;
  return lo + (int32_t)((r >> 4) % (uint32_t)(hi - lo + 1));
}

#endif
