// Q8_0 weights repacked 16 rows at a time for a VNNI matrix product that keeps llama.cpp's
// summation order. Scalar oracle and the layout's helpers.
//
// Layout: row groups of 16, each a run of nb blocks of sv_block_q8_0_r16: for block b, the
// 16 rows' 32 quants as [k4 = 0..7][row = 0..15][4 bytes], stored as w + 128 (unsigned, the
// operand vpdpbusd wants), then the 16 rows' f16 scales. One 512-bit load is then 4 quants of
// 16 rows, and a dot of 4 activation bytes against it (one vpdpbusd) advances 16 outputs.
//
// Per output the order is ggml's AVX2 Q8_0 vec_dot (and tinyBLAS_Q0_AVX's): 8 float lanes, lane
// l taking fma(d_w·d_x, Σ_{e<4} w·x over elements 4l..4l+3 of each block, lane) block after
// block, then hsum_float_8. The integer of one lane is one vpdpbusd of the layout (4 quants of a
// row against 4 activation bytes), started at −128·Σ of those 4 bytes to undo the +128, so the
// SIMD twins keep every output in its own zmm lane and return these bits (llama.cpp's).
#include "../internal.h"

#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

size_t sv_q8_0_r16_bytes(int64_t rows, int64_t n) {
    if (rows % 16 != 0 || n % SV_QK8_0 != 0) return 0;
    return (size_t)(rows / 16) * (size_t)(n / SV_QK8_0) * sizeof(sv_block_q8_0_r16);
}

void sv_repack_q8_0_r16(const void *w, size_t w_stride, int64_t rows, int64_t n, void *out) {
    const int64_t nb = n / SV_QK8_0;
    sv_block_q8_0_r16 *o = out;
    for (int64_t g = 0; g < rows / 16; g++) {
        for (int64_t b = 0; b < nb; b++, o++) {
            for (int r = 0; r < 16; r++) {
                const sv_block_q8_0 *src = (const sv_block_q8_0 *)((const char *)w + (size_t)(16 * g + r) * w_stride) + b;
                o->d[r] = src->d;
                for (int k4 = 0; k4 < 8; k4++)
                    for (int e = 0; e < 4; e++) o->q[k4][r][e] = (uint8_t)(src->qs[4 * k4 + e] + 128);
            }
        }
    }
}

void sv_q8_0_quad_sums(const void *x, size_t x_stride, int64_t m, int64_t n, int32_t *out) {
    const int64_t nb = n / SV_QK8_0;
    for (int64_t a = 0; a < m; a++) {
        const sv_block_q8_0 *row = (const sv_block_q8_0 *)((const char *)x + (size_t)a * x_stride);
        for (int64_t b = 0; b < nb; b++)
            for (int q = 0; q < 8; q++) {
                const int8_t *e = row[b].qs + 4 * q;
                out[a * (n / 4) + 8 * b + q] = -128 * (e[0] + e[1] + e[2] + e[3]);
            }
    }
}

void sv_gemm_q8_0_r16_generic(int64_t n, const void *wp, int64_t g0, int64_t g1, const void *x, size_t x_stride,
                              const int32_t *qsums, int64_t m, float *y, int64_t y_stride) {
    const int64_t nb = n / SV_QK8_0;
    for (int64_t g = g0; g < g1; g++) {
        const sv_block_q8_0_r16 *wg = (const sv_block_q8_0_r16 *)wp + g * nb;
        for (int64_t a = 0; a < m; a++) {
            const sv_block_q8_0 *xa = (const sv_block_q8_0 *)((const char *)x + (size_t)a * x_stride);
            for (int r = 0; r < 16; r++) {
                float acc[8] = {0};
                for (int64_t b = 0; b < nb; b++) {
                    const float d = sv_fp16_to_fp32(wg[b].d[r]) * sv_fp16_to_fp32(xa[b].d);
                    for (int l = 0; l < 8; l++) {
                        int32_t lane = qsums[a * (n / 4) + 8 * b + l];
                        for (int e = 0; e < 4; e++) lane += (int32_t)wg[b].q[l][r][e] * xa[b].qs[4 * l + e];
                        acc[l] = fmaf(d, (float)lane, acc[l]);
                    }
                }
                y[a * y_stride + 16 * g + r] = sv_reduce8_ggml(acc);
            }
        }
    }
}
