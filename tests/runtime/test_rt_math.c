/*
 * Unit test of the portable runtime's arithmetic against 128-bit references:
 * kiln_scale (both paths), kiln_shift_rhe, kiln_div_rhe, kiln_isqrt.
 * Host only; prints "ok N" or the first failure and exits non-zero.
 */
#include "kiln_rt.h"

#include <stdio.h>
#include <stdlib.h>

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { /* xorshift64* */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

/* round_half_even(v / 2^s) for v >= 0 */
static u128 rhe(u128 v, int s) {
  if (s == 0) return v;
  u128 q = v >> s, rem = v & ((((u128)1) << s) - 1), half = ((u128)1) << (s - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return q;
}

static int64_t scale_ref(int64_t acc, kiln_rq rq) {
  int negative = acc < 0;
  u128 a = negative ? (u128)(-(i128)acc) : (u128)acc;
  u128 q = rhe(a * (u128)(uint32_t)rq.mult, rq.shift);
  if (q > ((u128)1 << 40)) q = (u128)1 << 40;
  return negative ? -(int64_t)q : (int64_t)q;
}

static int fail(const char *what, long long a, long long b, long long c) {
  printf("FAIL %s: %lld %lld %lld\n", what, a, b, c);
  return 1;
}

int main(void) {
  long checks = 0;
  for (int i = 0; i < 2000000; i++) {
    kiln_rq rq = { (int32_t)((1u << 30) + (next() % (1u << 30))), (int32_t)(next() % 90) };
    int bits = (int)(next() % 62);
    int64_t acc = (int64_t)(next() >> (63 - bits));
    if (next() & 1) acc = -acc;
    if (i % 7 == 0) acc = (acc >> rq.shift) << rq.shift | ((int64_t)1 << (rq.shift ? rq.shift - 1 : 0)); /* ties */
    int64_t want = scale_ref(acc, rq);
    if (kiln_scale(acc, rq) != want) return fail("kiln_scale", acc, rq.mult, rq.shift);
    if (kiln_scale_wide(acc, rq) != want) return fail("kiln_scale_wide", acc, rq.mult, rq.shift);
    checks += 2;
  }
  for (int i = 0; i < 1000000; i++) {
    int s = (int)(next() % 63);
    int64_t v = (int64_t)(next() >> 2);
    if (next() & 1) v = -v;
    if (i % 5 == 0 && s > 0) v = (v >> s << s) | ((int64_t)1 << (s - 1));
    u128 m = (u128)(v < 0 ? -(i128)v : (i128)v);
    int64_t want = v < 0 ? -(int64_t)rhe(m, s) : (int64_t)rhe(m, s);
    if (kiln_shift_rhe(v, s) != want) return fail("kiln_shift_rhe", v, s, want);
    uint64_t num = next() >> (next() % 64), den = (next() >> (next() % 64)) | 1;
    uint64_t q = num / den, r = num % den;
    if (2 * (u128)r > den || (2 * (u128)r == den && (q & 1))) q++;
    if (kiln_div_rhe(num, den) != q) return fail("kiln_div_rhe", (long long)num, (long long)den, (long long)q);
    uint64_t x = next() >> (next() % 64);
    uint64_t root = kiln_isqrt(x);
    if ((u128)root * root > x || (u128)(root + 1) * (root + 1) <= x) return fail("kiln_isqrt", (long long)x, (long long)root, 0);
    checks += 3;
  }
  printf("ok %ld\n", checks);
  return 0;
}
