/*
 * The x86 targets' linear kernels on 4-bit weights (kiln_linear_avx512_w4.c,
 * kiln_linear_avxvnni_w4.c, kiln_linear_avx2_w4.c): the 8-bit kernels'
 * loops on weights packed two codes a byte. kiln copies these files beside
 * a model only when it has 4-bit Linear weights.
 *
 * Weights come packed by the generator ("n16k4 nibbles"): the blocks of 16
 * rows and 4 inputs of kiln_rt_x86.h, each k step of a block in 32 bytes,
 * byte j holding the code of row j / 4 (of the block), input j % 4 in its
 * low nibble and the code of row 8 + j / 4, input j % 4 in its high nibble:
 *   the nibble of w[o][i] is byte wp[o / 16][i / 4][(o % 8) * 4 + i % 4],
 *   its low half when o % 16 < 8, its high half otherwise,
 * rows padded to a multiple of 16 with code 0; n_in a multiple of 4. A uint4
 * nibble is the code; an int4 one is the code + 8 (offset binary, [0, 15]).
 * The kernels multiply the nibbles as they are, so they compute
 *   sum (x - zx)(w - zw) = sum x n + (c - zw) sum x + w_bias[o],
 * n = w - c the nibble, c = 0 for uint4 and -8 for int4, and w_bias as in
 * kiln_rt_x86.h from the codes (its two-plane term 256 * 128 (sum w - c n_in)).
 */
#ifndef KILN_RT_X86_W4_H
#define KILN_RT_X86_W4_H

#include "kiln_rt.h"

/* AVX-512 VNNI: 8-bit unsigned activations (work: rows * n_in bytes), and
 * any stored as int16 (work: 2 * rows * n_in bytes). */
void kiln_linear_vnni_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work);
void kiln_linear_vnni_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);
void kiln_linear_vnni_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work);
void kiln_linear_vnni_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);

/* The same with AVX-VNNI (256 bits); work as above. */
void kiln_linear_avxvnni_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work);
void kiln_linear_avxvnni_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                                const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                                const kiln_grid *g, uint8_t *work);
void kiln_linear_avxvnni_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                               const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                               const kiln_grid *g, uint8_t *work);
void kiln_linear_avxvnni_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                                const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                                const kiln_grid *g, uint8_t *work);

/* AVX2, the nibbles widened to int16 (one-plane bias for both; work unused). */
void kiln_linear_avx2_u4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work);
void kiln_linear_avx2_u4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);
void kiln_linear_avx2_s4_a8(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                            const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                            const kiln_grid *g, uint8_t *work);
void kiln_linear_avx2_s4_a16(int16_t *y, const int16_t *x, int32_t rows, int32_t n_in, const uint8_t *wp,
                             const int32_t *w_zp, const int64_t *w_bias, int32_t n_out, const kiln_rq *rq,
                             const kiln_grid *g, uint8_t *work);

#endif
