/*
 * kiln_matmul: the portable kernels, the choice of kernels, and the blocking
 * loops (matmul_driver.inc, once per precision). The order of every sum is
 * fixed by matmul.h; nothing here may change it.
 */
#include "matmul.h"

#include <math.h>
#include <string.h>

/* ---- portable kernels ------------------------------------------------------ */

/* Tiles of up to 4 rows by 2 columns in plain C: "vectors" of one lane, and
 * fmaf / fma from <math.h> (one instruction where the CPU has FMA, an exact
 * software routine in glibc where it has not). */
#define TARGET
#define MR 4

#define REAL float
#define SUFFIX f32
#define VEC float
#define LANES 1
#define VZERO() 0.0f
#define VLOAD(p) (*(p))
#define VLOADU(p) (*(p))
#define VSTOREU(p, v) (*(p) = (v))
#define VSET1(x) (x)
#define VFMA fmaf
#include "matmul_tiles.inc"

#define REAL double
#define SUFFIX f64
#define VEC double
#define LANES 1
#define VZERO() 0.0
#define VLOAD(p) (*(p))
#define VLOADU(p) (*(p))
#define VSTOREU(p, v) (*(p) = (v))
#define VSET1(x) (x)
#define VFMA fma
#include "matmul_tiles.inc"

#define PORTABLE_NR 2

void kiln_pack_any_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                       enum kiln_b_layout layout, int p0, int kc, int j0, int nr, int nr_max) {
  for (int p = 0; p < kc; p++) {
    float *dst = bp + (size_t)p * nr_max;
    for (int j = 0; j < nr_max; j++)
      dst[j] = j >= nr               ? 0.0f
               : layout == KILN_B_NK ? kiln_stored(b, b_type, (size_t)(j0 + j) * ldb + (size_t)(p0 + p))
                                     : kiln_stored(b, b_type, (size_t)(p0 + p) * ldb + (size_t)(j0 + j));
  }
}

void kiln_pack_any_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0, int kc,
                       int j0, int nr, int nr_max) {
  for (int p = 0; p < kc; p++) {
    double *dst = bp + (size_t)p * nr_max;
    for (int j = 0; j < nr_max; j++)
      dst[j] = j >= nr               ? 0.0
               : layout == KILN_B_NK ? b[(size_t)(j0 + j) * ldb + (size_t)(p0 + p)]
                                     : b[(size_t)(p0 + p) * ldb + (size_t)(j0 + j)];
  }
}

static void pack_portable_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                              enum kiln_b_layout layout, int p0, int kc, int j0, int nr) {
  kiln_pack_any_f32(bp, b, b_type, ldb, layout, p0, kc, j0, nr, PORTABLE_NR);
}

static void pack_portable_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0,
                              int kc, int j0, int nr) {
  kiln_pack_any_f64(bp, b, ldb, layout, p0, kc, j0, nr, PORTABLE_NR);
}

static int always(void) {
  return 1;
}

const kiln_matmul_isa kiln_matmul_portable = {
    "portable",  always,    MR,        PORTABLE_NR,       MR,
    PORTABLE_NR, tiles_f32, tiles_f64, pack_portable_f32, pack_portable_f64,
};

#undef TARGET
#undef MR

/* ---- choosing the kernels -------------------------------------------------- */

static const kiln_matmul_isa *const all_isas[] = {
#if defined(__x86_64__)
    &kiln_matmul_avx512,
    &kiln_matmul_avx2,
#endif
    &kiln_matmul_portable,
};
#define N_ISAS (sizeof all_isas / sizeof all_isas[0])

static const kiln_matmul_isa *active;

int kiln_matmul_use(const char *name) {
  for (size_t i = 0; i < N_ISAS; i++) {
    const kiln_matmul_isa *isa = all_isas[i];
    if ((strcmp(name, "auto") == 0 || strcmp(name, isa->name) == 0) && isa->available()) {
      active = isa;
      return 0;
    }
  }
  return -1;
}

static const kiln_matmul_isa *chosen(void) {
  if (!active) kiln_matmul_use("auto");
  return active;
}

const char *kiln_matmul_kernels(void) {
  return chosen()->name;
}

/* ---- the blocking loops, per precision ------------------------------------- */

#define REAL float
#define SUFFIX f32
#define B_TYPE const void
#define B_TYPE_ARG b_type,
#define B_TYPE_PARAM enum kiln_dtype b_type,
#define TILES tile_f32
#define PACK pack_f32
#define MR_OF mr_f32
#define NR_OF nr_f32
#include "matmul_driver.inc"
#undef REAL
#undef SUFFIX
#undef B_TYPE
#undef B_TYPE_ARG
#undef B_TYPE_PARAM
#undef TILES
#undef PACK
#undef MR_OF
#undef NR_OF

#define REAL double
#define SUFFIX f64
#define B_TYPE const double
#define B_TYPE_ARG
#define B_TYPE_PARAM
#define TILES tile_f64
#define PACK pack_f64
#define MR_OF mr_f64
#define NR_OF nr_f64
#include "matmul_driver.inc"
