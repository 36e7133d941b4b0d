// Row dequantization, bit-identical to ggml's dequantize_row_* (and to gguf-py's
// gguf.quants.dequantize, which orders the float operations the same way).
//
// Bit-identity depends on doing exactly the same roundings in the same order, so
// no expression here may be fused into an FMA (clang would otherwise contract
// `d*q - m` on targets with FMA in the baseline, e.g. arm64).
#include "../internal.h"

#pragma STDC FP_CONTRACT OFF

static void sv_dequantize_row_q4_0(const sv_block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        // Low nibbles hold the first half of the block, high nibbles the second.
        for (int j = 0; j < SV_QK4_0 / 2; j++) {
            const int lo = (x[i].qs[j] & 0x0F) - 8;
            const int hi = (x[i].qs[j] >> 4) - 8;
            y[j] = (float)lo * d;
            y[j + SV_QK4_0 / 2] = (float)hi * d;
        }
        y += SV_QK4_0;
    }
}

static void sv_dequantize_row_q4_1(const sv_block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const float m = sv_fp16_to_fp32(x[i].m);
        for (int j = 0; j < SV_QK4_1 / 2; j++) {
            const int lo = x[i].qs[j] & 0x0F;
            const int hi = x[i].qs[j] >> 4;
            y[j] = (float)lo * d + m;
            y[j + SV_QK4_1 / 2] = (float)hi * d + m;
        }
        y += SV_QK4_1;
    }
}

// Q5_0: q = nibble | (fifth bit << 4) in 0..31, w = (q - 16)*d, the int converted
// before the one multiply (ggml's x0*d; gguf-py's d * float32(q - 16)).
static void sv_dequantize_row_q5_0(const sv_block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const uint32_t qh = sv_q5_high_bits(x[i].qh);
        for (int j = 0; j < SV_QK5_0 / 2; j++) {
            const int lo = ((x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int hi = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            y[j] = (float)lo * d;
            y[j + SV_QK5_0 / 2] = (float)hi * d;
        }
        y += SV_QK5_0;
    }
}

// Q5_1: w = q*d + m, two roundings (multiply, then add), never fused.
static void sv_dequantize_row_q5_1(const sv_block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const float m = sv_fp16_to_fp32(x[i].m);
        const uint32_t qh = sv_q5_high_bits(x[i].qh);
        for (int j = 0; j < SV_QK5_1 / 2; j++) {
            const int lo = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            const int hi = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            y[j] = (float)lo * d + m;
            y[j + SV_QK5_1 / 2] = (float)hi * d + m;
        }
        y += SV_QK5_1;
    }
}

static void sv_dequantize_row_q8_0(const sv_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        for (int j = 0; j < SV_QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
        y += SV_QK8_0;
    }
}

// Q4_K: 8 sub-blocks of 32. ggml first forms the sub-block scale d*sc and offset
// dmin*m (each rounded once), then y = (d*sc)*q - dmin*m.
static void sv_dequantize_row_q4_K(const sv_block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const float dmin = sv_fp16_to_fp32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        // Each 32-byte run of qs carries two sub-blocks: low nibbles then high nibbles.
        for (int sb = 0; sb < 8; sb += 2) {
            uint8_t sc, m;
            sv_get_scale_min_k4(sb, x[i].scales, &sc, &m);
            const float d_lo = d * (float)sc, m_lo = dmin * (float)m;
            sv_get_scale_min_k4(sb + 1, x[i].scales, &sc, &m);
            const float d_hi = d * (float)sc, m_hi = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d_lo * (float)(q[l] & 0xF) - m_lo;
            for (int l = 0; l < 32; l++) y[32 + l] = d_hi * (float)(q[l] >> 4) - m_hi;
            y += 64;
            q += 32;
        }
    }
}

// Q5_K: as Q4_K, plus a fifth bit from qh: bit sb of qh[l] belongs to element l
// of sub-block sb.
static void sv_dequantize_row_q5_K(const sv_block_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const float dmin = sv_fp16_to_fp32(x[i].dmin);
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        for (int sb = 0; sb < 8; sb += 2) {
            uint8_t sc, m;
            sv_get_scale_min_k4(sb, x[i].scales, &sc, &m);
            const float d_lo = d * (float)sc, m_lo = dmin * (float)m;
            sv_get_scale_min_k4(sb + 1, x[i].scales, &sc, &m);
            const float d_hi = d * (float)sc, m_hi = dmin * (float)m;
            const uint8_t bit_lo = (uint8_t)(1u << sb), bit_hi = (uint8_t)(2u << sb);
            for (int l = 0; l < 32; l++) {
                const int q = (ql[l] & 0xF) + ((qh[l] & bit_lo) ? 16 : 0);
                y[l] = d_lo * (float)q - m_lo;
            }
            for (int l = 0; l < 32; l++) {
                const int q = (ql[l] >> 4) + ((qh[l] & bit_hi) ? 16 : 0);
                y[32 + l] = d_hi * (float)q - m_hi;
            }
            y += 64;
            ql += 32;
        }
    }
}

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; y = (d*sc)*q, q in [-32, 31].
// Each 128-element half uses 64 bytes of ql (low nibbles, then high nibbles, for
// two 32-byte runs) and 32 bytes of qh (four 2-bit fields per byte).
static void sv_dequantize_row_q6_K(const sv_block_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sv_fp16_to_fp32(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                const int s = l / 16;
                const int q0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[s + 0] * (float)q0;
                y[l + 32] = d * (float)sc[s + 2] * (float)q1;
                y[l + 64] = d * (float)sc[s + 4] * (float)q2;
                y[l + 96] = d * (float)sc[s + 6] * (float)q3;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

int sv_dequantize_row(sv_type t, const void *x, float *y, int64_t n) {
    const int64_t be = sv_type_block_elems(t);
    if (be == 0 || n < 0 || n % be != 0) return -1;
    const int64_t nb = n / be;
    switch (t) {
    case SV_TYPE_F32:
        memcpy(y, x, (size_t)n * sizeof(float));
        return 0;
    case SV_TYPE_F16: {
        const sv_half *h = x;
        for (int64_t i = 0; i < n; i++) y[i] = sv_fp16_to_fp32(h[i]);
        return 0;
    }
    case SV_TYPE_BF16: {
        const sv_bf16 *h = x;
        for (int64_t i = 0; i < n; i++) y[i] = sv_bf16_to_fp32(h[i]);
        return 0;
    }
    case SV_TYPE_Q4_0: sv_dequantize_row_q4_0(x, y, nb); return 0;
    case SV_TYPE_Q4_1: sv_dequantize_row_q4_1(x, y, nb); return 0;
    case SV_TYPE_Q5_0: sv_dequantize_row_q5_0(x, y, nb); return 0;
    case SV_TYPE_Q5_1: sv_dequantize_row_q5_1(x, y, nb); return 0;
    case SV_TYPE_Q8_0: sv_dequantize_row_q8_0(x, y, nb); return 0;
    case SV_TYPE_Q4_K: sv_dequantize_row_q4_K(x, y, nb); return 0;
    case SV_TYPE_Q5_K: sv_dequantize_row_q5_K(x, y, nb); return 0;
    case SV_TYPE_Q6_K: sv_dequantize_row_q6_K(x, y, nb); return 0;
    default: return -1;
    }
}
