/*
 * kiln_matmul's AVX2 kernels (with FMA, and F16C for fp16 weights): tiles of up to 6 rows by 16 columns
 * (float) or 8 (double), two registers a row, so that 12 chains of 8 (4)
 * lanes run side by side and every step of every chain is one vfmadd231
 * (the same correctly rounded fused multiply-add as fmaf). The B panel's row
 * of the step is loaded once and used by every row of the tile; the step's
 * element of a is broadcast.
 */
#include "../matmul.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define MR 6

#define REAL float
#define SUFFIX f32
#define VEC __m256
#define LANES 8
#define VZERO _mm256_setzero_ps
#define VLOAD _mm256_load_ps
#define VLOADU _mm256_loadu_ps
#define VSTOREU _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#include "../matmul_tiles.inc"

#define REAL double
#define SUFFIX f64
#define VEC __m256d
#define LANES 4
#define VZERO _mm256_setzero_pd
#define VLOAD _mm256_load_pd
#define VLOADU _mm256_loadu_pd
#define VSTOREU _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VFMA _mm256_fmadd_pd
#include "../matmul_tiles.inc"

#define NR_F32 16
#define NR_F64 8

/* Transposes an 8 x 8 block in registers: r[j][p] -> r[p][j]. */
static inline __attribute__((always_inline)) TARGET void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) { /* 32-bit interleave of row pairs, within 128-bit lanes */
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) { /* each lane now holds 4 rows of one column */
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; i++) { /* column i: low lanes of rows 0-3 and 4-7; column i + 4: high lanes */
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

/* 8 stored values from p as float32 (fewer than 8: the rest read as 0). */
static inline __attribute__((always_inline)) TARGET __m256 load8(const void *p, enum kiln_dtype t,
                                                                 int count) {
  if (t == KILN_FP32) {
    const __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps((const float *)p, mask);
  }
  __m128i h;
  if (count == 8) {
    h = _mm_loadu_si128((const __m128i *)p);
  } else {
    uint16_t part[8] = {0};
    memcpy(part, p, (size_t)count * 2);
    h = _mm_loadu_si128((const __m128i *)(const void *)part);
  }
  if (t == KILN_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

/* B stored [n][k] (Linear weights): 8 x 8 blocks, converted and transposed in registers. */
static TARGET void pack_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                            enum kiln_b_layout layout, int p0, int kc, int j0, int nr) {
  if (layout != KILN_B_NK) {
    kiln_pack_any_f32(bp, b, b_type, ldb, layout, p0, kc, j0, nr, NR_F32);
    return;
  }
  const size_t bytes = kiln_dtype_bytes(b_type);
  for (int jh = 0; jh < NR_F32; jh += 8)
    for (int p = 0; p < kc; p += 8) {
      const int steps = kc - p < 8 ? kc - p : 8;
      __m256 r[8];
      for (int j = 0; j < 8; j++)
        r[j] = jh + j < nr ? load8((const char *)b + ((size_t)(j0 + jh + j) * ldb + (size_t)(p0 + p)) * bytes,
                                   b_type, steps)
                           : _mm256_setzero_ps();
      transpose8(r);
      for (int q = 0; q < steps; q++) _mm256_store_ps(bp + (size_t)(p + q) * NR_F32 + jh, r[q]);
    }
}

static void pack_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0, int kc,
                     int j0, int nr) {
  kiln_pack_any_f64(bp, b, ldb, layout, p0, kc, j0, nr, NR_F64);
}

/* F16C (vcvtph2ps) comes with every AVX2 CPU, but is checked like the rest;
 * clang's __builtin_cpu_supports has no name for it. */
static int available(void) {
  unsigned eax, ebx, ecx, edx;
  const int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const kiln_matmul_isa kiln_matmul_avx2 = {
    "avx2", available, MR, NR_F32, MR, NR_F64, tiles_f32, tiles_f64, pack_f32, pack_f64,
};

#else
typedef int kiln_matmul_x86_only; /* not an x86-64 host: nothing here (ISO C wants a declaration) */
#endif
