/*
 * Linear kernels with AVX-512 VNNI on weights packed by the generator (see
 * kiln_rt_x86.h). Everything runs on vpdpbusd (unsigned bytes x signed bytes,
 * four products into each int32 lane): 8-bit activations are one byte plane;
 * 16-bit activations are two, x = 256 xh + xl with xl = x & 255 and
 * xh + 128 in [0, 255], so that
 *   sum x w' = sum xl w' + 256 (sum (xh + 128) w' - 128 sum w'),  w' = w - 128.
 * No lane can overflow: four products of at most 255 * 128 a step, and n_in
 * below 65536.
 *
 * One output row (decode) streams the weights once and is bound by memory
 * bandwidth: four blocks from four parts of the matrix are read side by side,
 * with prefetches ahead of the loads. Several rows (prefill) are bound by the
 * dot-product units: a micro-kernel of 6 rows by several 16-row weight blocks
 * reuses each weight load 6 times. The zero-point terms (one constant a row
 * from the generator, plus (128 - zw) sum x) and the requantization run 8
 * outputs at a time with kiln_scale's exact arithmetic.
 */
#include "kiln_rt_x86.h"
#include "kiln_avx512.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define ROWS 6                   /* rows of the prefill micro-kernel */
#define PREFETCH 1024            /* bytes ahead in each streamed block (the best measured of 512..4096) */
#define PREFETCH_FROM (1L << 20) /* matrices below this many bytes stay in cache: no prefetches */

static inline __m512i bytes4(const uint8_t *p) { /* four activation bytes, broadcast */
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

static inline __m512i wload(const int8_t *p) { return _mm512_loadu_si512((const void *)p); }

/* Activation byte planes: plane 0 = x & 255 (all of x for 8-bit codes),
 * plane 1 = (x >> 8) + 128 for 16-bit codes; work[(r * planes + p) * n_in + i]. */
static void make_planes(uint8_t *work, const int16_t *x, int32_t rows, int32_t n_in, int planes) {
  const __m512i bias = _mm512_set1_epi16(128);
  for (int32_t r = 0; r < rows; r++) {
    const int16_t *xr = x + (size_t)r * n_in;
    uint8_t *lo = work + (size_t)r * planes * n_in, *hi = lo + n_in;
    int32_t i = 0;
    for (; i + 32 <= n_in; i += 32) { /* plain stores: the kernel reads the planes back at once */
      const __m512i v = _mm512_loadu_si512((const void *)(xr + i));
      _mm256_storeu_si256((__m256i *)(void *)(lo + i), _mm512_cvtepi16_epi8(v));
      if (planes == 2)
        _mm256_storeu_si256((__m256i *)(void *)(hi + i), _mm512_cvtepi16_epi8(_mm512_add_epi16(_mm512_srai_epi16(v, 8), bias)));
    }
    if (i < n_in) {
      const __mmask32 m = ((__mmask32)1 << (n_in - i)) - 1;
      const __m512i v = _mm512_maskz_loadu_epi16(m, (const void *)(xr + i));
      _mm256_mask_storeu_epi8((void *)(lo + i), m, _mm512_cvtepi16_epi8(v));
      if (planes == 2)
        _mm256_mask_storeu_epi8((void *)(hi + i), m, _mm512_cvtepi16_epi8(_mm512_add_epi16(_mm512_srai_epi16(v, 8), bias)));
    }
  }
}

/* Sum of a row's n codes. */
static int64_t row_sum(const int16_t *xr, int32_t n) {
  __m512i s = _mm512_setzero_si512();
  for (int32_t i = 0; i < n; i += 32) s = _mm512_add_epi32(s, _mm512_madd_epi16(kiln_load32(xr + i, n - i), _mm512_set1_epi16(1)));
  return _mm512_reduce_add_epi32(s); /* |sum| < 2^15 n_in < 2^31 */
}

/* ---- the output ----------------------------------------------------------- */

/* What finishing a row's outputs needs, broadcast once a call (and sum_x
 * once a row). */
typedef struct {
  __m512i sum_x;
  kiln_grid8 g8;
  const int32_t *w_zp;
  const int64_t *w_bias;
  const kiln_rq *rq;
  const kiln_grid *g;
  int planes;
} finish_ctx;

/* Finishes outputs [o, o + n), n <= 16, of one row from the int32 plane sums
 * of their 16-channel block (lane c: output o + c):
 *   acc = lo (+ 256 hi with two planes) + (128 - zw) sum_x + w_bias. */
static inline void finish16(int16_t *y, __m512i lo32, __m512i hi32, int32_t o, int32_t n, const finish_ctx *c) {
  for (int32_t h = 0; h < 2 && 8 * h < n; h++) {
    const int32_t at = o + 8 * h;
    const __mmask8 m = kiln_lanes8(n - 8 * h);
    const __m512i zw = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(m, (const void *)(c->w_zp + at)));
    __m512i acc = _mm512_cvtepi32_epi64(h ? _mm512_extracti64x4_epi64(lo32, 1) : _mm512_castsi512_si256(lo32));
    if (c->planes == 2) {
      const __m512i hi = _mm512_cvtepi32_epi64(h ? _mm512_extracti64x4_epi64(hi32, 1) : _mm512_castsi512_si256(hi32));
      acc = _mm512_add_epi64(acc, _mm512_slli_epi64(hi, 8));
    }
    /* |sum_x| < 2^31 and |128 - zw| < 2^9: the product fits the signed 32 x 32 multiply */
    acc = _mm512_add_epi64(acc, _mm512_mul_epi32(_mm512_sub_epi64(_mm512_set1_epi64(128), zw), c->sum_x));
    acc = _mm512_add_epi64(acc, _mm512_maskz_loadu_epi64(m, (const void *)(c->w_bias + at)));
    /* rq is { mult, shift } pairs: as int64 lanes, low halves multipliers (what mul_epi32 reads), high halves shifts */
    const __m512i pairs = _mm512_mask_loadu_epi64(_mm512_set1_epi64((int64_t)1 << 32), m, (const void *)(c->rq + at));
    if (kiln_fits8(acc)) {
      kiln_store8(y + at, kiln_scale8(acc, pairs, _mm512_srli_epi64(pairs, 32), &c->g8), m);
    } else {
      int64_t a[8];
      _mm512_storeu_si512((void *)a, acc);
      for (int32_t i = 0; i < 8 && 8 * h + i < n; i++) y[at + i] = kiln_to_grid(kiln_scale(a[i], c->rq[at + i]), c->g);
    }
  }
}

/* ---- one row: weights streamed once --------------------------------------- */

/* One row against STREAMS weight blocks at once, each from its own part of
 * the matrix (several independent streams keep more memory requests in
 * flight than one), finished in registers: blocks[s] is the block index of
 * stream s, or -1. */
#define STREAMS 4
static void gemv_streams(int16_t *y, const uint8_t *xl, const uint8_t *xh, const int8_t *wp, const int32_t *blocks,
                         int32_t k4, int32_t n_out, int prefetch, const finish_ctx *c) {
  __m512i lo[STREAMS], hi[STREAMS];
  const int8_t *wb[STREAMS];
  for (int s = 0; s < STREAMS; s++) { /* an absent block repeats the first (its sums are dropped) */
    lo[s] = hi[s] = _mm512_setzero_si512();
    wb[s] = wp + (size_t)(blocks[s] >= 0 ? blocks[s] : blocks[0]) * k4 * 64;
  }
  if (xh == NULL) { /* one plane: two accumulators a stream, over even and odd steps */
    int32_t k = 0;
    for (; k + 2 <= k4; k += 2) {
      const __m512i x0 = bytes4(xl + 4 * k), x1 = bytes4(xl + 4 * k + 4);
      for (int s = 0; s < STREAMS; s++) {
        const int8_t *w = wb[s] + (size_t)k * 64;
        if (prefetch) _mm_prefetch((const char *)(w + PREFETCH), _MM_HINT_T0);
        lo[s] = _mm512_dpbusd_epi32(lo[s], x0, wload(w));
        hi[s] = _mm512_dpbusd_epi32(hi[s], x1, wload(w + 64));
      }
    }
    if (k < k4)
      for (int s = 0; s < STREAMS; s++) lo[s] = _mm512_dpbusd_epi32(lo[s], bytes4(xl + 4 * k), wload(wb[s] + (size_t)k * 64));
    for (int s = 0; s < STREAMS; s++) lo[s] = _mm512_add_epi32(lo[s], hi[s]);
  } else {
    for (int32_t k = 0; k < k4; k++) {
      const __m512i xlk = bytes4(xl + 4 * k), xhk = bytes4(xh + 4 * k);
      for (int s = 0; s < STREAMS; s++) {
        const int8_t *w = wb[s] + (size_t)k * 64;
        if (prefetch && k % 2 == 0) _mm_prefetch((const char *)(w + PREFETCH), _MM_HINT_T0);
        const __m512i wk = wload(w);
        lo[s] = _mm512_dpbusd_epi32(lo[s], xlk, wk);
        hi[s] = _mm512_dpbusd_epi32(hi[s], xhk, wk);
      }
    }
  }
  for (int s = 0; s < STREAMS; s++) {
    if (blocks[s] < 0) continue;
    const int32_t o = blocks[s] * 16;
    finish16(y, lo[s], hi[s], o, n_out - o < 16 ? n_out - o : 16, c);
  }
}

/* ---- several rows: each weight load reused ROWS times --------------------- */

/* One row, one plane, one block: the int32 sums. */
static __m512i gemv_plane(const uint8_t *xp, const int8_t *wb, int32_t k4) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0;
  int32_t k = 0;
  for (; k + 2 <= k4; k += 2) {
    a0 = _mm512_dpbusd_epi32(a0, bytes4(xp + 4 * k), wload(wb + (size_t)k * 64));
    a1 = _mm512_dpbusd_epi32(a1, bytes4(xp + 4 * k + 4), wload(wb + (size_t)k * 64 + 64));
  }
  if (k < k4) a0 = _mm512_dpbusd_epi32(a0, bytes4(xp + 4 * k), wload(wb + (size_t)k * 64));
  return _mm512_add_epi32(a0, a1);
}

/* ROWS rows (planes 1 or 2 each) x G blocks, G <= 4, one pass over the
 * weights: sums[r * planes + p][b], 16 int32 lanes each. */
#define MAX_G 4
static void gemm_block(__m512i (*sums)[MAX_G], const uint8_t *x, int32_t n_in, int planes, const int8_t *wg,
                       int32_t k4, int g) {
  const size_t stride = (size_t)k4 * 64; /* between the blocks of the group */
  if (planes == 1 && g == 4) {
    __m512i acc[ROWS][4];
    for (int r = 0; r < ROWS; r++)
      for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_si512();
    for (int32_t k = 0; k < k4; k++) {
      __m512i w[4];
      for (int b = 0; b < 4; b++) w[b] = wload(wg + b * stride + (size_t)k * 64);
      for (int r = 0; r < ROWS; r++) {
        const __m512i xb = bytes4(x + (size_t)r * n_in + 4 * k);
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], xb, w[b]);
      }
    }
    for (int r = 0; r < ROWS; r++)
      for (int b = 0; b < 4; b++) sums[r][b] = acc[r][b];
  } else if (planes == 2 && g == 2) {
    __m512i acc[ROWS][2][2]; /* row, plane, block */
    for (int r = 0; r < ROWS; r++)
      for (int p = 0; p < 2; p++) acc[r][p][0] = acc[r][p][1] = _mm512_setzero_si512();
    for (int32_t k = 0; k < k4; k++) {
      const __m512i w0 = wload(wg + (size_t)k * 64), w1 = wload(wg + stride + (size_t)k * 64);
      for (int r = 0; r < ROWS; r++)
        for (int p = 0; p < 2; p++) {
          const __m512i xb = bytes4(x + (size_t)(r * 2 + p) * n_in + 4 * k);
          acc[r][p][0] = _mm512_dpbusd_epi32(acc[r][p][0], xb, w0);
          acc[r][p][1] = _mm512_dpbusd_epi32(acc[r][p][1], xb, w1);
        }
    }
    for (int r = 0; r < ROWS; r++)
      for (int p = 0; p < 2; p++) {
        sums[r * 2 + p][0] = acc[r][p][0];
        sums[r * 2 + p][1] = acc[r][p][1];
      }
  } else { /* a partial group: one block at a time */
    for (int b = 0; b < g; b++)
      for (int rp = 0; rp < ROWS * planes; rp++) sums[rp][b] = gemv_plane(x + (size_t)rp * n_in, wg + b * stride, k4);
  }
}

/* ---- the kernels ---------------------------------------------------------- */

static void linear(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                   const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq, const kiln_grid *g,
                   uint8_t *work, int planes) {
  const int32_t k4 = n_in / 4, blocks = (n_out + 15) / 16;
  const int group = planes == 1 ? 4 : 2;
  finish_ctx c;
  c.g8 = kiln_grid8_of(g);
  c.w_zp = w_zp;
  c.w_bias = w_bias;
  c.rq = rq;
  c.g = g;
  c.planes = planes;
  make_planes(work, x, rows, n_in, planes);
  int32_t r0 = 0;
  for (; r0 + ROWS <= rows; r0 += ROWS) {
    int64_t sum_x[ROWS];
    for (int r = 0; r < ROWS; r++) sum_x[r] = row_sum(x + (size_t)(r0 + r) * n_in, n_in);
    for (int32_t b = 0; b < blocks; b += group) {
      const int g_now = blocks - b < group ? blocks - b : group;
      __m512i sums[ROWS * 2][MAX_G];
      gemm_block(sums, work + (size_t)r0 * planes * n_in, n_in, planes, wp + (size_t)b * k4 * 64, k4, g_now);
      for (int r = 0; r < ROWS; r++) {
        c.sum_x = _mm512_set1_epi64(sum_x[r]);
        for (int j = 0; j < g_now; j++) {
          const int32_t o = (b + j) * 16;
          finish16(y + (size_t)(r0 + r) * n_out, sums[r * planes][j], planes == 2 ? sums[r * 2 + 1][j] : sums[r][j], o,
                   n_out - o < 16 ? n_out - o : 16, &c);
        }
      }
    }
  }
  /* the remaining rows (all of decode's one): the blocks split into STREAMS
   * runs, walked side by side */
  const int32_t run = (blocks + STREAMS - 1) / STREAMS;
  const int prefetch = (long)blocks * k4 * 64 >= PREFETCH_FROM;
  for (; r0 < rows; r0++) {
    c.sum_x = _mm512_set1_epi64(row_sum(x + (size_t)r0 * n_in, n_in));
    const uint8_t *xl = work + (size_t)r0 * planes * n_in;
    for (int32_t i = 0; i < run; i++) {
      int32_t streams[STREAMS];
      for (int s = 0; s < STREAMS; s++) streams[s] = s * run + i < blocks ? s * run + i : -1;
      gemv_streams(y + (size_t)r0 * n_out, xl, planes == 2 ? xl + n_in : NULL, wp, streams, k4, n_out, prefetch, &c);
    }
  }
}

void kiln_linear_vnni_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 1);
}

void kiln_linear_vnni_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work) {
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, work, 2);
}
