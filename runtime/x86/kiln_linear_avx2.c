/*
 * Linear kernels with AVX2 on the generator's n16k4 weights (kiln_rt_x86.h),
 * for hosts without VNNI.
 *
 * Why 16-bit products: vpmaddubsw (u8 x s8) adds its two products in a
 * saturating int16, and a code up to 255 times a weight of -128 makes pairs
 * up to 65280 in magnitude; an exact byte scheme needs a second vpmaddubsw a
 * step for a split operand, which costs as much as widening. So each weight
 * block is sign-extended to int16 (vpmovsxbw: in decode at each load, in
 * prefill once a chunk, for every row) and multiplied by the activation codes as
 * stored, int16, with vpmaddwd: every pair sum is exact in int32, for 8-bit
 * and 16-bit activations alike, and both kernels use the one-plane bias.
 *
 * Lanes: a 16-byte group of a k step (4 rows x 4 inputs) becomes 16 int16;
 * against the 4 broadcast codes vpmaddwd gives 8 int32, two partial sums a
 * row. Overflow: a lane gains at most 2 * 255 * 128 a step with 8-bit codes
 * and 2 * 32768 * 128 = 2^23 with 16-bit ones, so in decode the int32 sums
 * are folded into int64 every CHUNK16 steps (16-bit) or CHUNK8 steps (8-bit;
 * n_in is below 65536), before two lanes of one row could pass 2^31
 * together.
 *
 * One output row (decode) is bound by memory: STREAMS weight blocks from
 * distant parts of the matrix are read side by side, with prefetches ahead.
 *
 * Several rows (prefill) are bound by the vector ports: one vpmaddwd (16
 * products) and one vpaddd for every 16 products is the floor with AVX2 (it
 * has no integer multiply-add; the exact byte schemes on vpmaddubsw need two
 * of them, or one and a widening vpmaddwd, for 32 products, plus the adds,
 * which is no fewer uops). So everything else is taken out of the inner
 * loop: the weights of HALVES half blocks (8 outputs each) are widened to
 * int16 once per chunk of KC k steps into a buffer on the stack (wb, in L1),
 * and a tile of 6 rows x 8 outputs runs 12 vpmaddwd and 12 vpaddd a step on
 * 2 weight loads and 6 broadcast loads (12 accumulators, 2 weight vectors
 * and one broadcast: 15 of the 16 registers). Each row tile's codes are
 * reused from L1 by the HALVES half blocks; the codes of ROW_GROUP rows are
 * read once per HALVES half blocks. Overflow: a chunk's int32 lanes start
 * from 0 and gain at most 65280 (8-bit codes) or 2^23 (16-bit codes) a step,
 * so when fold8 adds a row's two lanes after KC = 112 steps the sum is at
 * most 2 * 112 * 2^23 = 1879048192 < 2^31; it then goes to int64.
 */
#include "kiln_rt_avx2.h"
#include "kiln_avx2.h"

#include <stddef.h>
#include <string.h>

#define STREAMS 3                /* weight blocks walked side by side in decode */
#define TILE_ROWS 6              /* rows of the largest prefill tile */
#define KC 112                   /* k steps of weights widened at a time (a chunk) */
#define ROW_GROUP 128            /* rows a pass over the weights (their sums on the stack) */
#define HALVES 4                 /* half blocks (8 outputs) a pass over a row group */
#define PREFETCH 1024            /* bytes ahead in each streamed block */
#define PREFETCH_FROM (1L << 20) /* matrices below this many bytes stay in cache: no prefetches */
#define CHUNK8 8192              /* k steps between int64 folds, 8-bit codes: 2 * 8192 * 65280 < 2^31 */
#define CHUNK16 64               /* the same, 16-bit codes: 2 * 64 * 2^23 = 2^30 */
#define STEP_BYTES 64            /* one k step of a 16-row block */

/* a prefill chunk's fold is exact: 2 * KC * 2^23 < 2^31 (see above) */
typedef char kiln_kc_fold_is_exact[2LL * KC * 8388608LL < 2147483648LL ? 1 : -1];

/* 16 weight bytes (4 rows x 4 inputs) as int16. */
static inline __m256i weights16(const int8_t *p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* The 4 codes of one k step, broadcast to every 64-bit lane. */
static inline __m256i codes4(const int16_t *p) {
  int64_t v;
  memcpy(&v, p, sizeof v);
  return _mm256_set1_epi64x(v);
}

/* Adds the row sums of two accumulators (rows 4j..4j+3 and 4j+4..4j+7, two
 * int32 lanes a row) to sums[0..8): the pair sums of a row are adjacent, and
 * vphaddd leaves the rows in the order 0 1 4 5 | 2 3 6 7. */
static inline void fold8(int64_t *sums, __m256i a, __m256i b) {
  const __m256i rows = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b), 0xD8);
  __m256i *s = (__m256i *)(void *)sums;
  _mm256_storeu_si256(s, _mm256_add_epi64(_mm256_loadu_si256(s), kiln_widen_lo(rows)));
  _mm256_storeu_si256(s + 1, _mm256_add_epi64(_mm256_loadu_si256(s + 1), kiln_widen_hi(rows)));
}

/* Sum of a row's n codes (n a multiple of 4). */
static int64_t row_sum(const int16_t *xr, int32_t n) {
  __m256i s = _mm256_setzero_si256();
  int32_t i = 0;
  for (; i + 16 <= n; i += 16)
    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(xr + i)),
                                              _mm256_set1_epi16(1)));
  int64_t total = kiln_hsum4(_mm256_add_epi64(kiln_widen_lo(s), kiln_widen_hi(s)));
  for (; i < n; i++) total += xr[i];
  return total;
}

/* ---- the output ------------------------------------------------------------ */

typedef struct {
  const int32_t *w_zp;
  const int64_t *w_bias;
  const kiln_rq *rq;
  const kiln_grid *g;
  kiln_grid4 g4;
} finish_ctx;

/* Outputs [o, o + n) of one row, n <= 8, from their int64 weight sums:
 *   acc = sums + (128 - zw) sum_x + w_bias. */
static void finish8(int16_t *y, const int64_t *sums, int64_t sum_x, int32_t o, int32_t n, const finish_ctx *c) {
  if (n == 8 && sum_x >= INT32_MIN && sum_x <= INT32_MAX) {
    const __m256i sx = _mm256_set1_epi64x(sum_x), c128 = _mm256_set1_epi64x(128);
    __m256i out[2];
    int fits = 1;
    for (int h = 0; h < 2; h++) {
      const int32_t at = o + 4 * h;
      const __m256i zw = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(c->w_zp + at)));
      /* |sum_x| < 2^31 and |128 - zw| < 2^9: one signed 32 x 32 product */
      __m256i acc = _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(const void *)(sums + 4 * h)),
                                     _mm256_mul_epi32(_mm256_sub_epi64(c128, zw), sx));
      acc = _mm256_add_epi64(acc, _mm256_loadu_si256((const __m256i *)(const void *)(c->w_bias + at)));
      /* kiln_rq pairs as int64 lanes: multiplier low, shift high (shifts in [1, 63]: the generator's check) */
      const __m256i pairs = _mm256_loadu_si256((const __m256i *)(const void *)(c->rq + at));
      if (!kiln_fits4(acc)) {
        fits = 0;
        break;
      }
      out[h] = kiln_scale4(acc, pairs, _mm256_srli_epi64(pairs, 32), &c->g4);
    }
    if (fits) {
      kiln_store8(y + o, out[0], out[1]);
      return;
    }
  }
  for (int32_t i = 0; i < n; i++) {
    const int64_t acc = sums[i] + (128 - (int64_t)c->w_zp[o + i]) * sum_x + c->w_bias[o + i];
    y[o + i] = kiln_to_grid(kiln_scale(acc, c->rq[o + i]), c->g);
  }
}

/* ---- one row: weights streamed once ------------------------------------------ */

/* The 16 weight sums of STREAMS blocks (blocks[s] < 0: absent) against one
 * row; sums[s][row of the block]. */
static void gemv_streams(int64_t sums[STREAMS][16], const int16_t *x, const int8_t *wp, const int32_t *blocks,
                         int32_t k4, int32_t chunk, int prefetch) {
  const int8_t *wb[STREAMS];
  for (int s = 0; s < STREAMS; s++) { /* an absent block repeats the first (its sums are dropped) */
    wb[s] = wp + (size_t)(blocks[s] >= 0 ? blocks[s] : blocks[0]) * k4 * STEP_BYTES;
    memset(sums[s], 0, sizeof sums[s]);
  }
  for (int32_t k0 = 0; k0 < k4; k0 += chunk) {
    const int32_t k1 = k4 - k0 < chunk ? k4 : k0 + chunk;
    __m256i acc[STREAMS][4];
    for (int s = 0; s < STREAMS; s++)
      for (int j = 0; j < 4; j++) acc[s][j] = _mm256_setzero_si256();
    for (int32_t k = k0; k < k1; k++) {
      const __m256i xk = codes4(x + 4 * k);
      for (int s = 0; s < STREAMS; s++) {
        const int8_t *w = wb[s] + (size_t)k * STEP_BYTES;
        if (prefetch) _mm_prefetch((const char *)(w + PREFETCH), _MM_HINT_T0);
        for (int j = 0; j < 4; j++) acc[s][j] = _mm256_add_epi32(acc[s][j], _mm256_madd_epi16(weights16(w + 16 * j), xk));
      }
    }
    for (int s = 0; s < STREAMS; s++) {
      fold8(sums[s], acc[s][0], acc[s][1]);
      fold8(sums[s] + 8, acc[s][2], acc[s][3]);
    }
  }
}

/* ---- several rows: widened weights in a buffer, each reused by TILE_ROWS rows */

/* acc += w * codes, one vpmaddwd and one add */
#define MAC(acc, w, codes) (acc) = _mm256_add_epi32((acc), _mm256_madd_epi16((w), (codes)))
/* Values pinned to vector registers by an empty asm (no instruction): at
 * the end of each step, without it gcc spills some of gemm_tile6's 12
 * accumulators. */
#define PIN6(a, b, c, d, e, f) __asm__("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d), "+x"(e), "+x"(f))

/* Steps [k0, k0 + nk) of one half block (wh: its first k step) widened to
 * int16 in wb, 32 a step: outputs 0-3 (4 inputs each), then 4-7. */
static void widen_half(int16_t *wb, const int8_t *wh, int32_t k0, int32_t nk) {
  for (int32_t k = 0; k < nk; k++) {
    const int8_t *w = wh + (size_t)(k0 + k) * STEP_BYTES;
    _mm256_storeu_si256((__m256i *)(void *)(wb + 32 * k), weights16(w));
    _mm256_storeu_si256((__m256i *)(void *)(wb + 32 * k + 16), weights16(w + 16));
  }
}

/* The 8 weight sums of nk steps (widened in wb) against 6 rows xr[r] (at the
 * chunk's first step), added to sums[r][output of the half]. The
 * accumulators are named, not an array: compilers then keep all 12 of them
 * in registers, with the two weight vectors and one broadcast. */
static void gemm_tile6(int64_t (*sums)[8], const int16_t *const *xr, const int16_t *wb, int32_t nk) {
  const int16_t *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5];
  __m256i a0 = _mm256_setzero_si256(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0, a4 = a0,
          b4 = a0, a5 = a0, b5 = a0;
  for (int32_t k = 0; k < nk; k++) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 32 * k));
    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 32 * k + 16));
    __m256i c = codes4(x0 + 4 * k);
    MAC(a0, w0, c);
    MAC(b0, w1, c);
    c = codes4(x1 + 4 * k);
    MAC(a1, w0, c);
    MAC(b1, w1, c);
    c = codes4(x2 + 4 * k);
    MAC(a2, w0, c);
    MAC(b2, w1, c);
    c = codes4(x3 + 4 * k);
    MAC(a3, w0, c);
    MAC(b3, w1, c);
    c = codes4(x4 + 4 * k);
    MAC(a4, w0, c);
    MAC(b4, w1, c);
    c = codes4(x5 + 4 * k);
    MAC(a5, w0, c);
    MAC(b5, w1, c);
    PIN6(a0, b0, a1, b1, a2, b2);
    PIN6(a3, b3, a4, b4, a5, b5);
  }
  fold8(sums[0], a0, b0);
  fold8(sums[1], a1, b1);
  fold8(sums[2], a2, b2);
  fold8(sums[3], a3, b3);
  fold8(sums[4], a4, b4);
  fold8(sums[5], a5, b5);
}

/* The same for R <= 4 rows (constant in each instance). */
#define DEFINE_TILE(R)                                                                                               \
  static void gemm_tile##R(int64_t (*sums)[8], const int16_t *const *xr, const int16_t *wb, int32_t nk) {          \
    __m256i a[R], b[R];                                                                                              \
    for (int r = 0; r < R; r++) a[r] = b[r] = _mm256_setzero_si256();                                                \
    for (int32_t k = 0; k < nk; k++) {                                                                               \
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 32 * k));                           \
      const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 32 * k + 16));                      \
      for (int r = 0; r < R; r++) {                                                                                  \
        const __m256i c = codes4(xr[r] + 4 * k);                                                                     \
        MAC(a[r], w0, c);                                                                                            \
        MAC(b[r], w1, c);                                                                                            \
      }                                                                                                              \
    }                                                                                                                \
    for (int r = 0; r < R; r++) fold8(sums[r], a[r], b[r]);                                                          \
  }
DEFINE_TILE(4)
DEFINE_TILE(2)
DEFINE_TILE(1)

/* ---- the kernels ------------------------------------------------------------- */

static void linear(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp, const int32_t *w_zp,
                   const int64_t *w_bias, int32_t n_out, const kiln_rq *rq, const kiln_grid *g, int32_t chunk) {
  const int32_t k4 = n_in / 4, blocks = (n_out + 15) / 16;
  finish_ctx c;
  c.w_zp = w_zp;
  c.w_bias = w_bias;
  c.rq = rq;
  c.g = g;
  c.g4 = kiln_grid4_of(g);
  if (rows == 1) {
    const int64_t sum_x = row_sum(x, n_in);
    const int32_t run = (blocks + STREAMS - 1) / STREAMS;
    const int prefetch = (long)blocks * k4 * STEP_BYTES >= PREFETCH_FROM;
    for (int32_t i = 0; i < run; i++) {
      int32_t at[STREAMS];
      int64_t sums[STREAMS][16];
      for (int s = 0; s < STREAMS; s++) at[s] = s * run + i < blocks ? s * run + i : -1;
      gemv_streams(sums, x, wp, at, k4, chunk, prefetch);
      for (int s = 0; s < STREAMS; s++) {
        if (at[s] < 0) continue;
        for (int32_t h = 0; h < 2; h++) {
          const int32_t o = at[s] * 16 + 8 * h;
          if (o < n_out) finish8(y, sums[s] + 8 * h, sum_x, o, n_out - o < 8 ? n_out - o : 8, &c);
        }
      }
    }
    return;
  }
  /* several rows, ROW_GROUP at a time; HALVES half blocks at a time, per
   * chunk of KC k steps: their weights widened once, then for each row tile
   * (its codes stay in L1) every half */
  const int32_t halves = (n_out + 7) / 8;
  for (int32_t g0 = 0; g0 < rows; g0 += ROW_GROUP) {
    const int32_t ng = rows - g0 < ROW_GROUP ? rows - g0 : ROW_GROUP;
    const int16_t *xg = x + (size_t)g0 * n_in;
    int64_t sum_x[ROW_GROUP];
    int64_t sums[HALVES][ROW_GROUP][8];
    int16_t wb[HALVES][32 * KC];
    /* tiles: 6 rows, then 4, 2, 1 (a remainder of 2 after 6s: two of 4) */
    int32_t n6 = ng / 6;
    if (ng % 6 == 2 && n6 > 0) n6--;
    for (int32_t r = 0; r < ng; r++) sum_x[r] = row_sum(xg + (size_t)r * n_in, n_in);
    for (int32_t h0 = 0; h0 < halves; h0 += HALVES) {
      const int32_t nh = halves - h0 < HALVES ? halves - h0 : HALVES;
      memset(sums, 0, sizeof sums);
      for (int32_t k0 = 0; k0 < k4; k0 += KC) {
        const int32_t nk = k4 - k0 < KC ? k4 - k0 : KC;
        for (int32_t j = 0; j < nh; j++)
          widen_half(wb[j], wp + (size_t)((h0 + j) / 2) * k4 * STEP_BYTES + 32 * ((h0 + j) % 2), k0, nk);
        int32_t r0 = 0;
        const int16_t *xr[TILE_ROWS];
        for (int32_t t = 0; t < n6; t++, r0 += 6) {
          for (int r = 0; r < 6; r++) xr[r] = xg + (size_t)(r0 + r) * n_in + 4 * k0;
          for (int32_t j = 0; j < nh; j++) gemm_tile6(sums[j] + r0, xr, wb[j], nk);
        }
        for (; r0 + 4 <= ng; r0 += 4) {
          for (int r = 0; r < 4; r++) xr[r] = xg + (size_t)(r0 + r) * n_in + 4 * k0;
          for (int32_t j = 0; j < nh; j++) gemm_tile4(sums[j] + r0, xr, wb[j], nk);
        }
        for (; r0 + 2 <= ng; r0 += 2) {
          for (int r = 0; r < 2; r++) xr[r] = xg + (size_t)(r0 + r) * n_in + 4 * k0;
          for (int32_t j = 0; j < nh; j++) gemm_tile2(sums[j] + r0, xr, wb[j], nk);
        }
        if (r0 < ng) {
          xr[0] = xg + (size_t)r0 * n_in + 4 * k0;
          for (int32_t j = 0; j < nh; j++) gemm_tile1(sums[j] + r0, xr, wb[j], nk);
        }
      }
      for (int32_t j = 0; j < nh; j++) {
        const int32_t o = 8 * (h0 + j), n = n_out - o < 8 ? n_out - o : 8;
        for (int32_t r = 0; r < ng; r++) finish8(y + (size_t)(g0 + r) * n_out, sums[j][r], sum_x[r], o, n, &c);
      }
    }
  }
}

void kiln_linear_avx2_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                         const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                         const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK8);
}

void kiln_linear_avx2_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const int8_t *wp,
                          const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                          const kiln_grid *g, uint8_t *work) {
  (void)work;
  linear(y, x, rows, n_in, wp, w_zp, w_bias, n_out, rq, g, CHUNK16);
}
