// Dot products (scalar oracle).
//
// Quantized dots follow ggml's structure: everything inside a block (or a K-quant
// super-block) is an exact integer sum; floats only enter as one scale product per
// block, d_w*d_x, applied to that integer. SIMD twins must get the same integers,
// so they can only differ from these in the order of the per-block float adds.
//
// Float dots accumulate products in double, like ggml's non-SIMD path, which makes
// them the most accurate member of each family.
#include "../internal.h"

#pragma STDC FP_CONTRACT OFF

// MARK: - Float types

float sv_vec_dot_f32_f32_generic(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(w[i] * x[i]);
    return (float)sum;
}

float sv_vec_dot_f16_f16_generic(int64_t n, const void *vw, const void *vx) {
    const sv_half *w = vw, *x = vx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(sv_fp16_to_fp32(w[i]) * sv_fp16_to_fp32(x[i]));
    return (float)sum;
}

float sv_vec_dot_bf16_bf16_generic(int64_t n, const void *vw, const void *vx) {
    const sv_bf16 *w = vw, *x = vx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(sv_bf16_to_fp32(w[i]) * sv_bf16_to_fp32(x[i]));
    return (float)sum;
}

// MARK: - 32-element blocks

float sv_vec_dot_q8_0_q8_0_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q8_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < SV_QK8_0; j++) isum += w[i].qs[j] * x[i].qs[j];
        sum += (float)isum * (sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d));
    }
    return sum;
}

float sv_vec_dot_q4_0_q8_0_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < SV_QK4_0 / 2; j++) {
            isum += ((w[i].qs[j] & 0x0F) - 8) * x[i].qs[j];
            isum += ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + SV_QK4_0 / 2];
        }
        sum += (float)isum * (sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d));
    }
    return sum;
}

// w = d_w*q + m and Σx = s (precomputed by the activation quantizer as d_x*Σq_x, in
// f16), so Σ w·x = d_w*d_x*Σ q·q_x + m*s.
float sv_vec_dot_q4_1_q8_1_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float sum = 0.0f, summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < SV_QK4_1 / 2; j++) {
            isum += (w[i].qs[j] & 0x0F) * x[i].qs[j];
            isum += (w[i].qs[j] >> 4) * x[i].qs[j + SV_QK4_1 / 2];
        }
        sum += (float)isum * (sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d));
        summ += sv_fp16_to_fp32(w[i].m) * sv_fp16_to_fp32(x[i].s);
    }
    return sum + summ;
}

// Q5_0: q - 16 in [-16, 15], otherwise exactly Q4_0's structure.
float sv_vec_dot_q5_0_q8_0_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = sv_q5_high_bits(w[i].qh);
        int isum = 0;
        for (int j = 0; j < SV_QK5_0 / 2; j++) {
            const int lo = ((w[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int hi = ((w[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            isum += lo * x[i].qs[j];
            isum += hi * x[i].qs[j + SV_QK5_0 / 2];
        }
        sum += (float)isum * (sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d));
    }
    return sum;
}

// Q5_1: as Q4_1 with q in 0..31. The m*s terms are summed apart from the d*d*isum
// terms and added once at the end, as ggml's x86 kernel does (ggml's generic one
// folds both into one running sum; only the float order differs).
float sv_vec_dot_q5_1_q8_1_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float sum = 0.0f, summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = sv_q5_high_bits(w[i].qh);
        int isum = 0;
        for (int j = 0; j < SV_QK5_1 / 2; j++) {
            const int lo = (w[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            const int hi = (w[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            isum += lo * x[i].qs[j];
            isum += hi * x[i].qs[j + SV_QK5_1 / 2];
        }
        sum += (float)isum * (sv_fp16_to_fp32(w[i].d) * sv_fp16_to_fp32(x[i].d));
        summ += sv_fp16_to_fp32(w[i].m) * sv_fp16_to_fp32(x[i].s);
    }
    return sum + summ;
}

// MARK: - K-quants against Q8_K

// The min term of Q4_K/Q5_K is Σ_sb dmin*m_sb*Σ_{l in sb} x_l; the Q8_K bsums
// (sums of 16) provide Σ q_x per sub-block without touching the quants again.
static inline int sv_k4_min_dot(const uint8_t *scales, const int16_t *bsums) {
    int imin = 0;
    for (int sb = 0; sb < 8; sb++) {
        uint8_t sc, m;
        sv_get_scale_min_k4(sb, scales, &sc, &m);
        imin += m * (bsums[2 * sb] + bsums[2 * sb + 1]);
    }
    return imin;
}

float sv_vec_dot_q4_K_q8_K_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sum = 0.0f, summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int isum = 0;
        for (int sb = 0; sb < 8; sb += 2) {
            uint8_t sc_lo, sc_hi, m;
            sv_get_scale_min_k4(sb, w[i].scales, &sc_lo, &m);
            sv_get_scale_min_k4(sb + 1, w[i].scales, &sc_hi, &m);
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (q4[l] & 0xF) * q8[l];
                hi += (q4[l] >> 4) * q8[32 + l];
            }
            isum += sc_lo * lo + sc_hi * hi;
            q4 += 32;
            q8 += 64;
        }
        const int imin = sv_k4_min_dot(w[i].scales, x[i].bsums);
        sum += (sv_fp16_to_fp32(w[i].d) * x[i].d) * (float)isum;
        summ += (sv_fp16_to_fp32(w[i].dmin) * x[i].d) * (float)imin;
    }
    return sum - summ;
}

float sv_vec_dot_q5_K_q8_K_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sum = 0.0f, summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = w[i].qs;
        const uint8_t *qh = w[i].qh;
        const int8_t *q8 = x[i].qs;
        int isum = 0;
        for (int sb = 0; sb < 8; sb += 2) {
            uint8_t sc_lo, sc_hi, m;
            sv_get_scale_min_k4(sb, w[i].scales, &sc_lo, &m);
            sv_get_scale_min_k4(sb + 1, w[i].scales, &sc_hi, &m);
            const uint8_t bit_lo = (uint8_t)(1u << sb), bit_hi = (uint8_t)(2u << sb);
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += ((ql[l] & 0xF) + ((qh[l] & bit_lo) ? 16 : 0)) * q8[l];
                hi += ((ql[l] >> 4) + ((qh[l] & bit_hi) ? 16 : 0)) * q8[32 + l];
            }
            isum += sc_lo * lo + sc_hi * hi;
            ql += 32;
            q8 += 64;
        }
        const int imin = sv_k4_min_dot(w[i].scales, x[i].bsums);
        sum += (sv_fp16_to_fp32(w[i].d) * x[i].d) * (float)isum;
        summ += (sv_fp16_to_fp32(w[i].dmin) * x[i].d) * (float)imin;
    }
    return sum - summ;
}

float sv_vec_dot_q6_K_q8_K_generic(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = w[i].ql;
        const uint8_t *qh = w[i].qh;
        const int8_t *sc = w[i].scales;
        const int8_t *q8 = x[i].qs;
        int isum = 0;
        for (int half = 0; half < 2; half++) {
            // Four 32-element runs share ql/qh bytes; each run holds two 16-element
            // sub-blocks with their own scale.
            int part[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int s = l / 16;
                const int q0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                part[s + 0] += q0 * q8[l];
                part[s + 2] += q1 * q8[l + 32];
                part[s + 4] += q2 * q8[l + 64];
                part[s + 6] += q3 * q8[l + 96];
            }
            for (int g = 0; g < 8; g++) isum += sc[g] * part[g];
            ql += 64;
            qh += 32;
            sc += 8;
            q8 += 128;
        }
        sum += (sv_fp16_to_fp32(w[i].d) * x[i].d) * (float)isum;
    }
    return sum;
}

// MARK: - Table

void sv_fill_kernels_generic(sv_kernels *k) {
    k->from_float[SV_TYPE_Q8_0] = sv_quantize_row_q8_0_generic;
    k->from_float[SV_TYPE_Q8_1] = sv_quantize_row_q8_1_generic;
    k->from_float[SV_TYPE_Q8_K] = sv_quantize_row_q8_K_generic;
    k->from_float[SV_TYPE_F16] = sv_convert_row_f16_generic;
    k->from_float[SV_TYPE_BF16] = sv_convert_row_bf16_generic;
    k->from_float[SV_TYPE_F32] = sv_convert_row_f32_generic;

    k->vec_dot[SV_TYPE_F32] = sv_vec_dot_f32_f32_generic;
    k->vec_dot[SV_TYPE_F16] = sv_vec_dot_f16_f16_generic;
    k->vec_dot[SV_TYPE_BF16] = sv_vec_dot_bf16_bf16_generic;
    k->vec_dot[SV_TYPE_Q8_0] = sv_vec_dot_q8_0_q8_0_generic;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_generic;
    k->vec_dot[SV_TYPE_Q4_1] = sv_vec_dot_q4_1_q8_1_generic;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_generic;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_generic;
    k->vec_dot[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_generic;
    k->vec_dot[SV_TYPE_Q5_K] = sv_vec_dot_q5_K_q8_K_generic;
    k->vec_dot[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_generic;

    k->swiglu = sv_swiglu_f32;
    k->gelu = sv_gelu_f16_table;
    k->resample_h_rgb8 = sv_resample_h_rgb8_generic;
    k->resample_v_u8 = sv_resample_v_u8_generic;
    k->attention_block_f32acc = sv_attention_block_f32acc;
    k->attention_row_f16acc = sv_attention_row_f16acc;
    k->attention_row_f16acc_partial = sv_attention_row_f16acc_partial;
}
