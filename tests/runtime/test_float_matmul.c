/*
 * kiln_matmul against its definition (matmul.h): every output of one kernel
 * set, bit for bit, equals one fmaf (fma) chain over p from +0, for shapes
 * around every tile and block edge, both layouts of B, row strides wider than
 * the rows, and values whose products are subnormal. Cells outside the
 * result keep their contents. A hash of every result must equal the one
 * recorded here (on an x86-64 host): the same bits on any host.
 *
 *   test_float_matmul KERNELS   -> "ok N hash H", "unavailable KERNELS", or the first failure
 */
#include "matmul.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the bits of every result. */
#define RESULTS_HASH 0x5bbb52bcc4d79cdbull

static uint64_t hash = 0xcbf29ce484222325ull;
static void mix(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) hash = (hash ^ b[i]) * 0x100000001b3ull;
}

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { /* xorshift64* */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

/* Mostly uniform in [-1, 1); now and then a zero of either sign, a tiny value
 * (products below the smallest normal float) or a large one. */
static double value(void) {
  const uint64_t r = next();
  const double u = (double)(r >> 11) * 0x1p-53 * 2.0 - 1.0;
  switch (r & 15) {
  case 0:
    return (r & 16) ? 0.0 : -0.0;
  case 1:
    return u * 1e-22;
  case 2:
    return u * 1e6;
  default:
    return u;
  }
}

#define SENTINEL 12345.0

#define DEFINE_CHECK(REAL, SUFFIX, FMA)                                                                      \
  static int check_##SUFFIX(int m, int n, int k, enum kiln_b_layout layout) {                                \
    const size_t lda = (size_t)k + 3, ldc = (size_t)n + 2;                                                   \
    const size_t ldb = (layout == KILN_B_NK ? (size_t)k : (size_t)n) + 5;                                    \
    const size_t brows = layout == KILN_B_NK ? (size_t)n : (size_t)k;                                        \
    REAL *a = malloc(((size_t)m * lda + 1) * sizeof *a), *b = malloc((brows * ldb + 1) * sizeof *b);         \
    REAL *c = malloc(((size_t)m * ldc + 1) * sizeof *c);                                                     \
    if (!a || !b || !c) return printf("FAIL out of memory\n"), 1;                                            \
    for (size_t i = 0; i < (size_t)m * lda; i++) a[i] = (REAL)value();                                       \
    for (size_t i = 0; i < brows * ldb; i++) b[i] = (REAL)value();                                           \
    for (size_t i = 0; i < (size_t)m * ldc; i++) c[i] = (REAL)SENTINEL;                                      \
    kiln_matmul_##SUFFIX(c, ldc, a, lda, b, ldb, layout, m, n, k);                                           \
    mix(c, (size_t)m * ldc * sizeof *c);                                                                     \
    int bad = 0;                                                                                             \
    for (int i = 0; i < m && !bad; i++)                                                                      \
      for (size_t j = 0; j < ldc && !bad; j++) {                                                             \
        REAL want = (REAL)SENTINEL;                                                                          \
        if (j < (size_t)n) {                                                                                 \
          want = 0;                                                                                          \
          for (int p = 0; p < k; p++)                                                                        \
            want = FMA(a[(size_t)i * lda + p],                                                               \
                       layout == KILN_B_NK ? b[j * ldb + p] : b[(size_t)p * ldb + j], want);                 \
        }                                                                                                    \
        if (memcmp(&want, &c[(size_t)i * ldc + j], sizeof want) != 0) {                                      \
          printf("FAIL %s m=%d n=%d k=%d layout=%s: c[%d][%zu] = %a, the chain gives %a\n", #SUFFIX, m, n,   \
                 k, layout == KILN_B_NK ? "nk" : "kn", i, j, (double)c[(size_t)i * ldc + j], (double)want);  \
          bad = 1;                                                                                           \
        }                                                                                                    \
      }                                                                                                      \
    free(a);                                                                                                 \
    free(b);                                                                                                 \
    free(c);                                                                                                 \
    return bad;                                                                                              \
  }
DEFINE_CHECK(float, f32, fmaf)
DEFINE_CHECK(double, f64, fma)

int main(int argc, char **argv) {
  if (argc != 2) return printf("usage: test_float_matmul KERNELS\n"), 2;
  if (kiln_matmul_use(argv[1]) != 0) return printf("unavailable %s\n", argv[1]), 0;
  /* around tile heights (4, 6, 12), tile widths (8, 16, 32), the chain block
   * (256) and the column block (512 floats, 256 doubles) */
  static const int ms[] = {1, 2, 3, 5, 6, 7, 12, 13, 25};
  static const int ns[] = {1, 7, 8, 9, 16, 17, 31, 32, 33, 100, 257, 513};
  static const int ks[] = {0, 1, 2, 15, 16, 17, 64, 255, 256, 257, 600};
  int checks = 0;
  for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++)
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
      for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++) {
        const int m = ms[im], n = ns[in], k = ks[ik];
        if ((long)m * n * k > 400000 && (im + in + ik) % 3 != 0) continue; /* a third of the large ones */
        for (int layout = KILN_B_NK; layout <= KILN_B_KN; layout++) {
          if (check_f32(m, n, k, (enum kiln_b_layout)layout) ||
              check_f64(m, n, k, (enum kiln_b_layout)layout))
            return 1;
          checks += 2;
        }
      }
  if (hash != RESULTS_HASH) {
    printf("FAIL results hash %#llx, recorded %#llx: kiln_matmul gives other bits on this host or build\n",
           (unsigned long long)hash, (unsigned long long)RESULTS_HASH);
    return 1;
  }
  printf("ok %d hash %#llx\n", checks, (unsigned long long)hash);
  return 0;
}
