/*
 * kiln_matmul's AVX-512F kernels: tiles of up to 12 rows by 32 columns
 * (float) or 16 (double), two registers a row, so that 24 chains run side
 * by side and every step of every chain is one vfmadd231 (the same correctly
 * rounded fused multiply-add as fmaf). The B panel's row of the step is
 * loaded once and used by every row of the tile; the step's element of a is
 * broadcast.
 */
#include "../matmul.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f")))
#define MR 12

#define REAL float
#define SUFFIX f32
#define VEC __m512
#define LANES 16
#define VZERO _mm512_setzero_ps
#define VLOAD _mm512_load_ps
#define VLOADU _mm512_loadu_ps
#define VSTOREU _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VFMA _mm512_fmadd_ps
#include "../matmul_tiles.inc"

#define REAL double
#define SUFFIX f64
#define VEC __m512d
#define LANES 8
#define VZERO _mm512_setzero_pd
#define VLOAD _mm512_load_pd
#define VLOADU _mm512_loadu_pd
#define VSTOREU _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VFMA _mm512_fmadd_pd
#include "../matmul_tiles.inc"

#define NR_F32 32
#define NR_F64 16

/* Transposes a 16 x 16 block in registers: r[j][p] -> r[p][j]. */
static inline __attribute__((always_inline)) TARGET void transpose16(__m512 r[16]) {
  __m512 t[16], u[16], v[16];
  for (int i = 0; i < 16; i += 2) { /* 32-bit interleave of row pairs, within 128-bit lanes */
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) { /* 64-bit interleave: each lane holds 4 rows of one column */
    u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int h = 0; h < 16; h += 8) /* lanes 0, 2 and 1, 3 of rows 0-3 and 4-7 (8-11 and 12-15) */
    for (int i = 0; i < 4; i++) {
      v[h + i] = _mm512_shuffle_f32x4(u[h + i], u[h + i + 4], 0x88);
      v[h + i + 4] = _mm512_shuffle_f32x4(u[h + i], u[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; i++) { /* column i from v[i] and v[i + 8]; column i + 8 likewise */
    r[i] = _mm512_shuffle_f32x4(v[i], v[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(v[i], v[i + 8], 0xdd);
  }
}

/* 16 stored values from p as float32 (fewer than 16: the rest read as 0). */
static inline __attribute__((always_inline)) TARGET __m512 load16(const void *p, enum kiln_dtype t,
                                                                  int count) {
  if (t == KILN_FP32) return _mm512_maskz_loadu_ps((__mmask16)((1u << count) - 1), p);
  __m256i h;
  if (count == 16) {
    h = _mm256_loadu_si256((const __m256i *)p);
  } else {
    uint16_t part[16] = {0};
    memcpy(part, p, (size_t)count * 2);
    h = _mm256_loadu_si256((const __m256i *)(const void *)part);
  }
  if (t == KILN_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

/* B stored [n][k] (Linear weights): 16 x 16 blocks, converted and transposed in registers. */
static TARGET void pack_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                            enum kiln_b_layout layout, int p0, int kc, int j0, int nr) {
  if (layout != KILN_B_NK) {
    kiln_pack_any_f32(bp, b, b_type, ldb, layout, p0, kc, j0, nr, NR_F32);
    return;
  }
  const size_t bytes = kiln_dtype_bytes(b_type);
  for (int jh = 0; jh < NR_F32; jh += 16)
    for (int p = 0; p < kc; p += 16) {
      const int steps = kc - p < 16 ? kc - p : 16;
      __m512 r[16];
      for (int j = 0; j < 16; j++)
        r[j] = jh + j < nr
                   ? load16((const char *)b + ((size_t)(j0 + jh + j) * ldb + (size_t)(p0 + p)) * bytes,
                            b_type, steps)
                   : _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < steps; q++) _mm512_store_ps(bp + (size_t)(p + q) * NR_F32 + jh, r[q]);
    }
}

static void pack_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0, int kc,
                     int j0, int nr) {
  kiln_pack_any_f64(bp, b, ldb, layout, p0, kc, j0, nr, NR_F64);
}

static int available(void) {
  return __builtin_cpu_supports("avx512f");
}

const kiln_matmul_isa kiln_matmul_avx512 = {
    "avx512", available, MR, NR_F32, MR, NR_F64, tiles_f32, tiles_f64, pack_f32, pack_f64,
};

#else
typedef int kiln_matmul_x86_only; /* not an x86-64 host: nothing here (ISO C wants a declaration) */
#endif
