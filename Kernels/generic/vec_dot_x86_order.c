// Dot products in the float order of llama.cpp's x86 build (scalar oracles).
//
// The integer part of a quantized dot is exact whatever the order, but the float part is
// not: which int32 partial sums exist, how they are scaled and in which order they are
// added decides the last bits of every output. A random model amplifies those bits (an
// activation that rounds the other way in the next layer's Q8 quantization), so matching
// llama.cpp's logits on x86 means adding in its order. Each function below states one such
// order in plain C; the x86 tables' kernels must return the same bits (tested bit for bit).
//
// The orders come from llama.cpp's CPU backend as built for AVX-512 (the reference build):
//   * Q4_0 and Q4_K weights with a multiple of 8 rows are repacked at load and multiplied by
//     8-column kernels. Their 1-row GEMV and their 4-row GEMM keep one float accumulator per
//     output: one fused multiply-add per block (Q4_0, Q4_K GEMV) or per 64 elements (Q4_K
//     GEMM), with the min term of Q4_K in a second accumulator subtracted at the end.
//   * Other K-quant products with 8 or more activation rows go through its tiled GEMM: per
//     super-block, the exact integers scaled by the weight's d (minus dmin times the min
//     integers, one FMA), then one FMA with the activation's d into a single accumulator.
//   * Q5_K and Q6_K otherwise go through ggml's AVX2 vec_dot: 8 int32 lanes per super-block (lane k
//     holds elements 4k..4k+3 of every 32-element run), one FMA per super-block into 8 float
//     lanes, then a fixed horizontal sum; Q5_K adds its min term as a scalar FMA chain.
//   * F16 and BF16 decode through ggml_vec_dot_f16/_bf16's AVX-512 paths: 16-lane
//     accumulators (four of them, FMA, for F16; two, multiply-then-add contracted to FMA by
//     GCC, for BF16) folded and reduced in _mm512_reduce_add_ps's order, summed in double.
#include "../internal.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

// _mm512_reduce_add_ps as GCC expands it: halves, quarters, then (l0 + l2) + (l1 + l3).
float sv_reduce16_gcc(const float v[16]) {
    float a[8], b[4];
    for (int i = 0; i < 8; i++) a[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; i++) b[i] = a[i + 4] + a[i];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

// hsum_float_8 (ggml's x86 helper): high half + low half, then (l0 + l2) + (l1 + l3).
float sv_reduce8_ggml(const float v[8]) {
    float b[4];
    for (int i = 0; i < 4; i++) b[i] = v[i + 4] + v[i];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

// MARK: - Repacked Q4_0 and Q4_K (ggml_gemv/gemm_*_8x8)

float sv_vec_dot_q4_0_q8_0_chain_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < SV_QK4_0 / 2; j++) {
            isum += ((w[i].qs[j] & 0x0F) - 8) * x[i].qs[j];
            isum += ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + SV_QK4_0 / 2];
        }
        acc = fmaf((float)isum, sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d), acc);
    }
    return acc;
}

// Σ over sub-blocks [sb0, sb0 + count) of scale·(q·y) and of min·Σy, exact.
static void sv_q4_K_ints(const sv_block_q4_K *w, const sv_block_q8_K *x, int sb0, int count, int *isum, int *imin) {
    int s = 0, m = 0;
    for (int sb = sb0; sb < sb0 + count; sb++) {
        uint8_t sc, mn;
        sv_get_scale_min_k4(sb, w->scales, &sc, &mn);
        const uint8_t *q4 = w->qs + 32 * (sb / 2);
        const int8_t *q8 = x->qs + 32 * sb;
        int dot = 0;
        for (int l = 0; l < 32; l++) dot += ((sb & 1) ? (q4[l] >> 4) : (q4[l] & 0xF)) * q8[l];
        s += sc * dot;
        m += mn * (x->bsums[2 * sb] + x->bsums[2 * sb + 1]);
    }
    *isum = s;
    *imin = m;
}

// step: sub-blocks per FMA (8: the GEMV's one per super-block; 2: the GEMM's one per 64).
static float sv_q4_K_chain(int64_t n, const sv_block_q4_K *w, const sv_block_q8_K *x, int step) {
    float acc = 0.0f, accm = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const float d = sv_fp16_to_fp32(w[i].d) * x[i].d;
        const float dmin = sv_fp16_to_fp32(w[i].dmin) * x[i].d;
        for (int sb = 0; sb < 8; sb += step) {
            int isum, imin;
            sv_q4_K_ints(&w[i], &x[i], sb, step, &isum, &imin);
            acc = fmaf((float)isum, d, acc);
            accm = fmaf((float)imin, dmin, accm);
        }
    }
    return acc - accm;
}

float sv_vec_dot_q4_K_q8_K_chain_generic(int64_t n, const void *w, const void *x) {
    return sv_q4_K_chain(n, w, x, 8);
}

float sv_vec_dot_q4_K_q8_K_chain64_generic(int64_t n, const void *w, const void *x) {
    return sv_q4_K_chain(n, w, x, 2);
}

// MARK: - The tiled K-quant GEMM (ggml-cpu/tiled, 8 or more activation rows)

// Per super-block: r = (float)isum · d_w, then r − dmin_w · (float)imin in one FMA (types
// with a min), then acc = r · d_x + acc in another.
static float sv_tiled_step(float acc, int isum, int imin, float d, float dmin, float dx) {
    return fmaf(fmaf(-dmin, (float)imin, (float)isum * d), dx, acc);
}

float sv_vec_dot_q4_K_q8_K_tiled_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        int isum, imin;
        sv_q4_K_ints(&w[i], &x[i], 0, 8, &isum, &imin);
        acc = sv_tiled_step(acc, isum, imin, sv_fp16_to_fp32(w[i].d), sv_fp16_to_fp32(w[i].dmin), x[i].d);
    }
    return acc;
}

// MARK: - Q5_K and Q6_K (ggml's AVX2 vec_dot)

// One super-block's integers in ggml's AVX2 lanes: lane k holds elements 4k..4k+3 of every
// 32-element run. Q5_K also gives its min term Σ_sb min_sb · Σ y (*imin).
static void sv_q5_K_lanes(const sv_block_q5_K *w, const sv_block_q8_K *x, int lane[8], int *imin) {
    int m = 0;
    for (int k = 0; k < 8; k++) lane[k] = 0;
    for (int sb = 0; sb < 8; sb++) {
        uint8_t sc, mn;
        sv_get_scale_min_k4(sb, w->scales, &sc, &mn);
        m += mn * (x->bsums[2 * sb] + x->bsums[2 * sb + 1]);
        const uint8_t *ql = w->qs + 32 * (sb / 2);
        const int8_t *q8 = x->qs + 32 * sb;
        for (int l = 0; l < 32; l++) {
            const int q = ((sb & 1) ? (ql[l] >> 4) : (ql[l] & 0xF)) + ((w->qh[l] >> sb) & 1) * 16;
            lane[l / 4] += sc * q * q8[l];
        }
    }
    *imin = m;
}

static void sv_q6_K_lanes(const sv_block_q6_K *w, const sv_block_q8_K *x, int lane[8]) {
    for (int k = 0; k < 8; k++) lane[k] = 0;
    for (int e = 0; e < SV_QK_K; e++) {
        // Element e: half h, run r (32 elements sharing ql/qh bytes), position l.
        const int h = e / 128, r = (e % 128) / 32, l = e % 32;
        const uint8_t qlb = w->ql[64 * h + l + 32 * (r & 1)];
        const int lo = (r < 2) ? (qlb & 0xF) : (qlb >> 4);
        const int hi = (w->qh[32 * h + l] >> (2 * r)) & 3;
        lane[l / 4] += w->scales[e / 16] * (lo | (hi << 4)) * x->qs[e];
    }
    // The -32 offset, per lane k from scale groups 2k and 2k+1.
    for (int k = 0; k < 8; k++)
        lane[k] -= 32 * (x->bsums[2 * k] * w->scales[2 * k] + x->bsums[2 * k + 1] * w->scales[2 * k + 1]);
}

static int sv_lane_sum(const int lane[8]) {
    int s = 0;
    for (int k = 0; k < 8; k++) s += lane[k];
    return s;
}

float sv_vec_dot_q5_K_q8_K_lanes8_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc[8] = {0}, summ = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        int lane[8], imin;
        sv_q5_K_lanes(&w[i], &x[i], lane, &imin);
        const float d = sv_fp16_to_fp32(w[i].d) * x[i].d;
        for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
        summ = fmaf(sv_fp16_to_fp32(w[i].dmin) * x[i].d, (float)imin, summ);
    }
    return sv_reduce8_ggml(acc) - summ;
}

float sv_vec_dot_q6_K_q8_K_lanes8_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc[8] = {0};
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        int lane[8];
        sv_q6_K_lanes(&w[i], &x[i], lane);
        const float d = sv_fp16_to_fp32(w[i].d) * x[i].d;
        for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    return sv_reduce8_ggml(acc);
}

float sv_vec_dot_q5_K_q8_K_tiled_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        int lane[8], imin;
        sv_q5_K_lanes(&w[i], &x[i], lane, &imin);
        acc = sv_tiled_step(acc, sv_lane_sum(lane), imin, sv_fp16_to_fp32(w[i].d), sv_fp16_to_fp32(w[i].dmin), x[i].d);
    }
    return acc;
}

float sv_vec_dot_q6_K_q8_K_tiled_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        int lane[8];
        sv_q6_K_lanes(&w[i], &x[i], lane);
        acc = sv_tiled_step(acc, sv_lane_sum(lane), 0, sv_fp16_to_fp32(w[i].d), 0.0f, x[i].d);
    }
    return acc;
}

// MARK: - F16 and BF16 (ggml_vec_dot_f16/_bf16, AVX-512 paths)

float sv_vec_dot_f16_f16_lanes64_generic(int64_t n, const void *vw, const void *vx) {
    const sv_half *w = vw, *x = vx;
    float acc[4][16] = {{0}};
    const int64_t np = n & ~(int64_t)63;
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] = fmaf(sv_fp16_to_fp32(w[i + 16 * j + l]), sv_fp16_to_fp32(x[i + 16 * j + l]), acc[j][l]);
    float v[16];
    for (int l = 0; l < 16; l++) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    double sum = sv_reduce16_gcc(v);
    for (int64_t i = np; i < n; i++) sum += (double)(sv_fp16_to_fp32(w[i]) * sv_fp16_to_fp32(x[i]));
    return (float)sum;
}

float sv_vec_dot_bf16_bf16_lanes32_generic(int64_t n, const void *vw, const void *vx) {
    const sv_bf16 *w = vw, *x = vx;
    float c1[16] = {0}, c2[16] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 16; l++) {
            c1[l] = fmaf(sv_bf16_to_fp32(w[i + l]), sv_bf16_to_fp32(x[i + l]), c1[l]);
            c2[l] = fmaf(sv_bf16_to_fp32(w[i + 16 + l]), sv_bf16_to_fp32(x[i + 16 + l]), c2[l]);
        }
    double sum = sv_reduce16_gcc(c1);
    sum += sv_reduce16_gcc(c2);
    for (; i < n; i++) sum += (double)(sv_bf16_to_fp32(w[i]) * sv_bf16_to_fp32(x[i]));
    return (float)sum;
}
