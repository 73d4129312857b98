/*
 * kiln_matmul against its definition (matmul.h): every output of one kernel
 * set, bit for bit, equals one fmaf (fma) chain over p from +0 (in float32
 * with B stored as fp32, bf16 or fp16), for shapes around every tile and
 * block edge, both layouts of B, row strides wider than the rows, and values
 * whose products are subnormal. Cells outside the
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
#define RESULTS_HASH 0x55240da6ea929a2bull

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
 * (products below the smallest normal float), one in fp16's subnormal range,
 * or a large one (within fp16's range: no infinities, so no NaN, whose bits
 * differ between CPU architectures). */
static double value(void) {
  const uint64_t r = next();
  const double u = (double)(r >> 11) * 0x1p-53 * 2.0 - 1.0;
  switch (r & 15) {
  case 0:
    return (r & 16) ? 0.0 : -0.0;
  case 1:
    return u * 1e-22;
  case 2:
    return u * 3e4;
  case 3:
    return u * 1e-6;
  default:
    return u;
  }
}

#define SENTINEL 12345.0

struct shape {
  int m, n, k;
  enum kiln_b_layout layout;
  size_t lda, ldb, ldc, brows;
};

static struct shape shape_of(int m, int n, int k, enum kiln_b_layout layout) {
  struct shape sh = {m, n, k, layout, (size_t)k + 3, 0, (size_t)n + 2, 0};
  sh.ldb = (layout == KILN_B_NK ? (size_t)k : (size_t)n) + 5;
  sh.brows = layout == KILN_B_NK ? (size_t)n : (size_t)k;
  return sh;
}

static size_t b_index(const struct shape *sh, size_t j, int p) {
  return sh->layout == KILN_B_NK ? j * sh->ldb + (size_t)p : (size_t)p * sh->ldb + j;
}

static int report(const char *what, const struct shape *sh, int i, size_t j, double got, double want) {
  printf("FAIL %s m=%d n=%d k=%d layout=%s: c[%d][%zu] = %a, the chain gives %a\n", what, sh->m, sh->n, sh->k,
         sh->layout == KILN_B_NK ? "nk" : "kn", i, j, got, want);
  return 1;
}

/* float32, with B stored as bt */
static int check_f32(int m, int n, int k, enum kiln_b_layout layout, enum kiln_dtype bt) {
  const struct shape sh = shape_of(m, n, k, layout);
  float *a = malloc(((size_t)m * sh.lda + 1) * sizeof *a), *c = malloc(((size_t)m * sh.ldc + 1) * sizeof *c);
  void *b = malloc((sh.brows * sh.ldb + 1) * sizeof(float));
  if (!a || !b || !c) return printf("FAIL out of memory\n"), 1;
  for (size_t i = 0; i < (size_t)m * sh.lda; i++) a[i] = (float)value();
  for (size_t i = 0; i < sh.brows * sh.ldb; i++) kiln_store(b, bt, i, (float)value());
  for (size_t i = 0; i < (size_t)m * sh.ldc; i++) c[i] = (float)SENTINEL;
  kiln_matmul_f32(c, sh.ldc, a, sh.lda, b, bt, sh.ldb, layout, m, n, k);
  mix(c, (size_t)m * sh.ldc * sizeof *c);
  int bad = 0;
  for (int i = 0; i < m && !bad; i++)
    for (size_t j = 0; j < sh.ldc && !bad; j++) {
      float want = (float)SENTINEL;
      if (j < (size_t)n) {
        want = 0;
        for (int p = 0; p < k; p++)
          want = fmaf(a[(size_t)i * sh.lda + p], kiln_stored(b, bt, b_index(&sh, j, p)), want);
      }
      if (memcmp(&want, &c[(size_t)i * sh.ldc + j], sizeof want) != 0)
        bad = report(bt == KILN_FP32   ? "f32"
                     : bt == KILN_BF16 ? "f32, B bf16"
                                       : "f32, B fp16",
                     &sh, i, j, c[(size_t)i * sh.ldc + j], want);
    }
  free(a);
  free(b);
  free(c);
  return bad;
}

static int check_f64(int m, int n, int k, enum kiln_b_layout layout) {
  const struct shape sh = shape_of(m, n, k, layout);
  double *a = malloc(((size_t)m * sh.lda + 1) * sizeof *a), *c = malloc(((size_t)m * sh.ldc + 1) * sizeof *c);
  double *b = malloc((sh.brows * sh.ldb + 1) * sizeof *b);
  if (!a || !b || !c) return printf("FAIL out of memory\n"), 1;
  for (size_t i = 0; i < (size_t)m * sh.lda; i++) a[i] = value();
  for (size_t i = 0; i < sh.brows * sh.ldb; i++) b[i] = value();
  for (size_t i = 0; i < (size_t)m * sh.ldc; i++) c[i] = SENTINEL;
  kiln_matmul_f64(c, sh.ldc, a, sh.lda, b, sh.ldb, layout, m, n, k);
  mix(c, (size_t)m * sh.ldc * sizeof *c);
  int bad = 0;
  for (int i = 0; i < m && !bad; i++)
    for (size_t j = 0; j < sh.ldc && !bad; j++) {
      double want = SENTINEL;
      if (j < (size_t)n) {
        want = 0;
        for (int p = 0; p < k; p++) want = fma(a[(size_t)i * sh.lda + p], b[b_index(&sh, j, p)], want);
      }
      if (memcmp(&want, &c[(size_t)i * sh.ldc + j], sizeof want) != 0)
        bad = report("f64", &sh, i, j, c[(size_t)i * sh.ldc + j], want);
    }
  free(a);
  free(b);
  free(c);
  return bad;
}

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
          const enum kiln_b_layout lay = (enum kiln_b_layout)layout;
          if (check_f32(m, n, k, lay, KILN_FP32) || check_f32(m, n, k, lay, KILN_BF16) ||
              check_f32(m, n, k, lay, KILN_FP16) || check_f64(m, n, k, lay))
            return 1;
          checks += 4;
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
