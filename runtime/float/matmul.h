/*
 * The matrix products of the float references, in one fixed order: the same
 * bits on every host, whatever its vector instructions.
 *
 *   c[i][j] = sum over p = 0, 1, ..., k-1 of a[i][p] * B(p, j)
 *
 * is one chain of fused multiply-adds per output, in increasing p, from +0:
 *   acc = +0;  for p in 0 .. k-1: acc = fma(a[i][p], B(p, j), acc);  c[i][j] = acc.
 * A fused multiply-add is one correctly rounded IEEE 754 operation, so the
 * chain has one result on any machine: the kernels only decide how many
 * chains run side by side (rows and columns of a tile in vector lanes) and
 * how the operands are blocked for the caches, never the order within a
 * chain. Results do not depend on m either (row i is the same computed alone
 * or with others), so a prefill row and the decode step of the same token
 * agree.
 *
 * Kernels: portable C (fmaf/fma from <math.h>: exact in software where the
 * host has no FMA unit, so slower but the same bits), AVX2+FMA and AVX-512F
 * (runtime/float/x86/). The best one the CPU runs is chosen at the first call;
 * kiln_matmul_use() forces one (tests compare them). Single-threaded: the
 * packing buffers are static.
 */
#ifndef KILN_MATMUL_H
#define KILN_MATMUL_H

#include "dtype.h"

#include <stddef.h>

/* How B is stored: [n][k] (each output's weights contiguous: Linear weights,
 * attention keys) or [k][n] (attention values). */
enum kiln_b_layout { KILN_B_NK, KILN_B_KN };

/* c[m][n] (row stride ldc) = a[m][k] (row stride lda) times B, B = b[n][k] or
 * b[k][n] (row stride ldb). m, n, k >= 0; k == 0 gives zeros. In float32,
 * B may be stored as fp16 or bf16 (weights in their checkpoint's dtype): its
 * values are converted, exactly, as they are packed. */
void kiln_matmul_f32(float *c, size_t ldc, const float *a, size_t lda, const void *b, enum kiln_dtype b_type,
                     size_t ldb, enum kiln_b_layout layout, int m, int n, int k);
void kiln_matmul_f64(double *c, size_t ldc, const double *a, size_t lda, const double *b, size_t ldb,
                     enum kiln_b_layout layout, int m, int n, int k);

/* Selects the kernels by name ("portable", "avx2", "avx512", or "auto" for
 * the best this CPU runs). Returns 0, or -1 if unknown or the CPU lacks them. */
int kiln_matmul_use(const char *name);
/* The name of the kernels in use (after choosing them if nothing was chosen). */
const char *kiln_matmul_kernels(void);

/* ---- for the kernel files ------------------------------------------------ */

/* One tile of `rows` rows (the index into tile_f32[]: rows - 1) by NR
 * columns over kc steps of the chain:
 *   c[r][j] = (first ? +0 : c[r][j]), then c[r][j] = fma(ap[p][r], bp[p][j], c[r][j]) for p < kc,
 * where ap is a packed tile of a (kc rows of `rows`), bp a packed panel of B
 * (kc rows of NR), and c has row stride ldc. */
typedef void kiln_tile_f32(int kc, const float *ap, const float *bp, float *c, size_t ldc, int first);
typedef void kiln_tile_f64(int kc, const double *ap, const double *bp, double *c, size_t ldc, int first);

/* Packs columns [j0, j0 + nr) (nr <= NR, the rest zero) and chain steps
 * [p0, p0 + kc) of B into a panel bp[kc][NR]. Copies and exact conversions
 * only: no arithmetic. */
typedef void kiln_pack_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                           enum kiln_b_layout layout, int p0, int kc, int j0, int nr);
typedef void kiln_pack_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0, int kc,
                           int j0, int nr);

/* A kernel set: tiles of 1 .. MR rows by NR columns and the packer of B for
 * that NR, per precision. */
typedef struct {
  const char *name;
  int (*available)(void); /* does this CPU run them */
  int mr_f32, nr_f32, mr_f64, nr_f64;
  kiln_tile_f32 *const *tile_f32; /* [mr_f32] */
  kiln_tile_f64 *const *tile_f64; /* [mr_f64] */
  kiln_pack_f32 *pack_f32;
  kiln_pack_f64 *pack_f64;
} kiln_matmul_isa;

#define KILN_MATMUL_MAX_MR 16
#define KILN_MATMUL_MAX_NR 32

extern const kiln_matmul_isa kiln_matmul_portable;
#if defined(__x86_64__)
extern const kiln_matmul_isa kiln_matmul_avx2;
extern const kiln_matmul_isa kiln_matmul_avx512;
#endif

/* Packing in plain C for a panel width of nr_max, for kernel sets without a
 * faster one. */
void kiln_pack_any_f32(float *bp, const void *b, enum kiln_dtype b_type, size_t ldb,
                       enum kiln_b_layout layout, int p0, int kc, int j0, int nr, int nr_max);
void kiln_pack_any_f64(double *bp, const double *b, size_t ldb, enum kiln_b_layout layout, int p0, int kc,
                       int j0, int nr, int nr_max);

#endif
