// Activation quantization (scalar oracle).
//
// Rounding follows ggml on x86, not ggml's *_ref functions: the AVX path of
// quantize_row_q8_0/q8_1 multiplies by id = 127/amax (not 1/d) and rounds half to
// even (vroundps), where the reference uses 1/d and roundf (half away from zero).
// Both are reproduced here exactly, including the saturation of vcvtps2dq +
// vpacksswb, so every SIMD twin can be required to produce identical bytes.
// Q8_K has no x86 special case in ggml; its reference already rounds half to even.
#include "../internal.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF

// Round half to even by the 1.5*2^23 trick: exact for |v| < 2^22 under the default
// rounding mode, independent of libm and of SSE4.1 availability. (IEEE semantics
// forbid the compiler from folding (v + c) - c without fast-math.)
static inline float sv_round_half_even(float v) {
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

// x86's float→int8 path, reproduced for every input: vroundps, then vcvtps2dq (NaN
// and anything outside int32 become INT32_MIN), then signed saturating packs. The
// odd cases are reachable: a block of subnormals gives id = +Inf.
static inline int8_t sv_q8_from_scaled(float v) {
    if (v != v || v >= 2147483648.0f) return -128;
    if (v >= 4194304.0f) return 127;
    if (v <= -4194304.0f) return -128;
    const float r = sv_round_half_even(v);
    if (r > 127.0f) return 127;
    if (r < -128.0f) return -128;
    return (int8_t)r;
}

// Max of |x| by an ordered compare, so NaN elements are skipped. SIMD twins do the
// same by keeping the running max as vmaxps's second operand (or with fmaxnm);
// ggml's operand order lets a NaN through instead, the one way we differ from it.
static inline float sv_block_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    return amax;
}

void sv_quantize_row_q8_0_generic(const float *x, void *vy, int64_t n) {
    sv_block_q8_0 *y = vy;
    const int64_t nb = n / SV_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += SV_QK8_0) {
        const float amax = sv_block_amax(x, SV_QK8_0);
        const float d = amax / 127.0f;
        const float id = (amax != 0.0f) ? 127.0f / amax : 0.0f;
        y[i].d = sv_fp32_to_fp16(d);
        for (int j = 0; j < SV_QK8_0; j++) y[i].qs[j] = sv_q8_from_scaled(x[j] * id);
    }
}

void sv_quantize_row_q8_1_generic(const float *x, void *vy, int64_t n) {
    sv_block_q8_1 *y = vy;
    const int64_t nb = n / SV_QK8_1;
    for (int64_t i = 0; i < nb; i++, x += SV_QK8_1) {
        const float amax = sv_block_amax(x, SV_QK8_1);
        const float d = amax / 127.0f;
        const float id = (amax != 0.0f) ? 127.0f / amax : 0.0f;
        y[i].d = sv_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < SV_QK8_1; j++) {
            y[i].qs[j] = sv_q8_from_scaled(x[j] * id);
            sum += y[i].qs[j];
        }
        // ggml's AVX path sums the int32 values before the int8 pack; they only
        // differ for NaN/Inf input, where the block is meaningless anyway.
        y[i].s = sv_fp32_to_fp16(d * (float)sum);
    }
}

void sv_quantize_row_q8_K_generic(const float *x, void *vy, int64_t n) {
    sv_block_q8_K *y = vy;
    const int64_t nb = n / SV_QK_K;
    for (int64_t i = 0; i < nb; i++, x += SV_QK_K) {
        // The scale comes from the signed element of largest magnitude (first one on
        // ties), so that element maps to exactly -127 and the range is symmetric.
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < SV_QK_K; j++) {
            const float a = fabsf(x[j]);
            if (a > amax) { amax = a; max = x[j]; }
        }
        if (amax == 0.0f) {
            // ggml leaves bsums unwritten here; zero them so the output is deterministic.
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < SV_QK_K; j++) {
            // Finite input with a normal max gives v in [-127, 127]. The rest only
            // makes degenerate blocks well defined for the SIMD twins (ggml asserts
            // instead): a subnormal max makes iscale infinite; ±Inf products clamp
            // to 127 / -128 and NaN products (0 * Inf) give 0.
            const float s = iscale * x[j];
            const float v = (fabsf(s) < 4194304.0f) ? sv_round_half_even(s) : s;
            y[i].qs[j] = (v != v) ? 0 : (int8_t)(v > 127.0f ? 127.0f : (v < -128.0f ? -128.0f : v));
        }
        for (int g = 0; g < SV_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void sv_convert_row_f16_generic(const float *x, void *vy, int64_t n) {
    sv_half *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = sv_fp32_to_fp16(x[i]);
}

void sv_convert_row_bf16_generic(const float *x, void *vy, int64_t n) {
    sv_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = sv_fp32_to_bf16(x[i]);
}

void sv_convert_row_f32_generic(const float *x, void *vy, int64_t n) {
    if ((const void *)x != vy) memmove(vy, x, (size_t)n * sizeof(float));
}
