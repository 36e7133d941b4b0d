// NEON (AArch64 Advanced SIMD) kernels, and their sdot twins.
//
// Contract (see Kernels/include/kernels.h): from_float entries produce bytes
// identical to the generic scalar oracle; vec_dot entries compute every integer
// partial sum exactly and differ from the oracle only in float accumulation order;
// gemm entries give every output the bits of the same table's vec_dot. The repacked
// Q8_0 product, the tinyBLAS-order F16 block, SwiGLU, the attention kernels and the
// resampling passes give the bits of their generic oracles (ggml's x86 orders,
// polynomial exp included; the repacked product is not this file's Q8_0 vec_dot but
// its own summation, used for every product of a repacked matrix).
//
// The plain NEON dots widen with vmull_s8 / vmlal_s8 into int16 and pairwise
// accumulate into int32 with vpadalq_s16 / vmlal_n_s16. How many int8 products may
// share one int16 lane is decided per type from the value ranges (noted at each
// site) so that nothing can overflow, even for the -128 a foreign writer might put
// in a q8 block. The sdot versions use vdotq_s32, which sums four products straight
// into int32 and has no such limit.
//
// Only baseline ARMv8.0-A is assumed for the file; the sdot functions carry a
// function-level target attribute (or sit in a target pragma region, where shared
// macros generate them), and dispatch.c only hands them out when the CPU reports
// ASIMDDP.
#if defined(__aarch64__) || defined(_M_ARM64)

#include "../internal.h"

#include <arm_neon.h>
#include <math.h>
#include <stddef.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Kernels/arm/neon.c assumes little-endian AArch64 (GGUF block layouts are little-endian)"
#endif

#if defined(__clang__)
#define SV_TARGET_DOTPROD __attribute__((target("dotprod")))
#elif defined(__GNUC__)
// GCC's arm_neon.h defines vdotq_s32 under arch=armv8.2-a+dotprod, and an
// always_inline callee's features must be a subset of the caller's. Any CPU with
// FEAT_DotProd implements at least ARMv8.2-A, so this asks for nothing extra.
#define SV_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define SV_TARGET_DOTPROD // other compilers (MSVC): no per-function targets; untested
#endif

// Full unrolling of the tile bodies' small constant loops, so that their accumulator arrays
// live in registers (clang reads GCC's spelling too).
#define SV_UNROLL _Pragma("GCC unroll 16")

// MARK: - Half conversion helpers
//
// FCVT/FCVTL/FCVTN are baseline on AArch64 and round to nearest even under the
// default FPCR, handle subnormals (FZ is off by default), and treat NaN like F16C
// (sign kept, quiet bit set, top payload bits kept), which is what the generic
// integer conversions in generic/types.c implement.

static inline float sv_h2f(sv_half h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

static inline sv_half sv_f2h(float f) {
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

static inline float32x4_t sv_load_f16x4(const sv_half *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

// bf16 → f32 is exact: the bf16 bits are the top half of the f32.
static inline float32x4_t sv_load_bf16x4(const sv_bf16 *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

// MARK: - from_float

// Largest |x| of a block, ignoring NaN like the scalar `if (a > amax)` scan. NaN
// lanes are zeroed first: FMAXNM alone would not do, since a *signaling* NaN makes
// it return NaN. The accumulator starts at 0, so the result is never NaN.
static inline float32x4_t sv_amax_acc(float32x4_t acc, float32x4_t v) {
    const uint32x4_t not_nan = vceqq_f32(v, v);
    const float32x4_t a = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vabsq_f32(v)), not_nan));
    return vmaxq_f32(acc, a);
}

// float → int32 as x86 does it for Q8_0/Q8_1 (vroundps nearest-even, then vcvtps2dq):
// FCVTNS rounds the same way but saturates, while vcvtps2dq returns INT32_MIN for
// NaN and anything at or beyond ±2^31. Those inputs are reachable (a block whose
// amax is below 127/FLT_MAX gives id = +Inf, so 0·id is NaN), and the oracle
// reproduces x86, so fix them up: one compare and one select per 4 values.
static inline int32x4_t sv_cvt_s32_x86(float32x4_t v) {
    const uint32x4_t in_range = vcaltq_f32(v, vdupq_n_f32(2147483648.0f)); // false for NaN
    return vbslq_s32(in_range, vcvtnq_s32_f32(v), vdupq_n_s32(INT32_MIN));
}

// Narrows 16 int32 to 16 int8 with signed saturation, like vpackssdw + vpacksswb.
static inline int8x16_t sv_narrow_s32x16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t lo = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

// Shared by Q8_0 and Q8_1: quantizes 32 floats, returns the sum of the stored int8
// quants (the oracle sums after saturation; for finite input it is the same thing).
// d = amax/127 but the multiplier is 127/amax (not 1/d), exactly as ggml's AVX path.
static inline int32_t sv_quantize_block_q8(const float *x, int8_t *qs, float *d_out) {
    float32x4_t v[8];
    float32x4_t amaxv = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; j++) {
        v[j] = vld1q_f32(x + 4 * j);
        amaxv = sv_amax_acc(amaxv, v[j]);
    }
    const float amax = vmaxvq_f32(amaxv);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    *d_out = d;

    int32x4_t q[8];
    for (int j = 0; j < 8; j++) q[j] = sv_cvt_s32_x86(vmulq_n_f32(v[j], id));
    const int8x16_t q0 = sv_narrow_s32x16(q[0], q[1], q[2], q[3]);
    const int8x16_t q1 = sv_narrow_s32x16(q[4], q[5], q[6], q[7]);
    vst1q_s8(qs, q0);
    vst1q_s8(qs + 16, q1);
    return (int32_t)vaddlvq_s8(q0) + (int32_t)vaddlvq_s8(q1);
}

static void sv_quantize_row_q8_0_neon(const float *x, void *vy, int64_t n) {
    sv_block_q8_0 *y = vy;
    const int64_t nb = n / SV_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        (void)sv_quantize_block_q8(x + i * SV_QK8_0, y[i].qs, &d);
        y[i].d = sv_f2h(d);
    }
}

static void sv_quantize_row_q8_1_neon(const float *x, void *vy, int64_t n) {
    sv_block_q8_1 *y = vy;
    const int64_t nb = n / SV_QK8_1;
    for (int64_t i = 0; i < nb; i++) {
        float d;
        const int32_t sum = sv_quantize_block_q8(x + i * SV_QK8_1, y[i].qs, &d);
        y[i].d = sv_f2h(d);
        // s uses the unrounded f32 d, as ggml does.
        y[i].s = sv_f2h(d * (float)sum);
    }
}

// Q8_K: the scale comes from the *signed* value of largest magnitude (the first one
// in index order on ties, as the scalar `if (ax > amax)` scan picks), so the most
// negative or positive element maps to exactly -127 and the others stay within it.
static void sv_quantize_row_q8_K_neon(const float *x, void *vy, int64_t n) {
    sv_block_q8_K *y = vy;
    const int64_t nb = n / SV_QK_K;
    for (int64_t i = 0; i < nb; i++, x += SV_QK_K) {
        float32x4_t amax0 = vdupq_n_f32(0.0f), amax1 = vdupq_n_f32(0.0f);
        for (int j = 0; j < SV_QK_K; j += 8) {
            amax0 = sv_amax_acc(amax0, vld1q_f32(x + j));
            amax1 = sv_amax_acc(amax1, vld1q_f32(x + j + 4));
        }
        const float amax = vmaxvq_f32(vmaxq_f32(amax0, amax1));
        if (amax == 0.0f) {
            // All zero: the scalar path writes d = 0 and zero quants; bsums are zero too.
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }

        // Find the first element whose magnitude is amax; amax is one of the |x|
        // exactly, so the equality test is exact.
        const float32x4_t amaxv = vdupq_n_f32(amax);
        float max = amax;
        for (int j = 0; j < SV_QK_K; j += 4) {
            const uint32x4_t hit = vceqq_f32(vabsq_f32(vld1q_f32(x + j)), amaxv);
            if (vmaxvq_u32(hit) != 0) {
                int l = 0;
                while (fabsf(x[j + l]) != amax) l++;
                max = x[j + l];
                break;
            }
        }

        // Finite input gives values within [-127, 127]. For degenerate input (a
        // subnormal max makes iscale infinite) the oracle clamps to [-128, 127] and
        // maps NaN to 0, which is exactly FCVTNS (NaN → 0, saturating) followed by
        // the min and the saturating narrows.
        const float iscale = -127.0f / max;
        const int32x4_t lim = vdupq_n_s32(127);
        for (int j = 0; j < SV_QK_K; j += 16) {
            int32x4_t q[4];
            for (int l = 0; l < 4; l++) {
                q[l] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4 * l), iscale)), lim);
            }
            const int8x16_t q8 = sv_narrow_s32x16(q[0], q[1], q[2], q[3]);
            vst1q_s8(y[i].qs + j, q8);
            y[i].bsums[j / 16] = vaddlvq_s8(q8); // at most 16 · 128 in magnitude
        }
        y[i].d = 1.0f / iscale;
    }
}

// F16: FCVTN gives the same bits as F16C (see the helpers above).
static void sv_convert_row_f16_neon(const float *x, void *vy, int64_t n) {
    sv_half *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x4_t a = vcvt_f16_f32(vld1q_f32(x + i));
        const float16x4_t b = vcvt_f16_f32(vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(vcombine_f16(a, b)));
    }
    for (; i < n; i++) y[i] = sv_f2h(x[i]);
}

// BF16: round to nearest even on the bits; NaN is truncated and forced quiet
// (ggml's rule, see sv_fp32_to_bf16).
static void sv_convert_row_bf16_neon(const float *x, void *vy, int64_t n) {
    sv_bf16 *y = vy;
    const uint32x4_t abs_mask = vdupq_n_u32(0x7FFFFFFFu);
    const uint32x4_t inf = vdupq_n_u32(0x7F800000u);
    const uint32x4_t bias = vdupq_n_u32(0x7FFFu);
    const uint32x4_t one = vdupq_n_u32(1u);
    const uint32x4_t quiet = vdupq_n_u32(0x40u);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x4_t h[2];
        for (int l = 0; l < 2; l++) {
            const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i + 4 * l));
            const uint32x4_t is_nan = vcgtq_u32(vandq_u32(u, abs_mask), inf);
            const uint32x4_t rounded =
                vshrq_n_u32(vaddq_u32(vaddq_u32(u, bias), vandq_u32(vshrq_n_u32(u, 16), one)), 16);
            const uint32x4_t nan = vorrq_u32(vshrq_n_u32(u, 16), quiet);
            h[l] = vmovn_u32(vbslq_u32(is_nan, nan, rounded));
        }
        vst1q_u16(y + i, vcombine_u16(h[0], h[1]));
    }
    for (; i < n; i++) y[i] = sv_fp32_to_bf16(x[i]);
}

// MARK: - Float dots

static float sv_vec_dot_f32_f32_neon(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    // Four accumulators hide the FMA latency.
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(w + i), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(w + i + 8), vld1q_f32(x + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(w + i + 12), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(w + i), vld1q_f32(x + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float sv_vec_dot_f16_f16_neon(int64_t n, const void *vw, const void *vx) {
    const sv_half *w = vw, *x = vx;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, sv_load_f16x4(w + i), sv_load_f16x4(x + i));
        s1 = vfmaq_f32(s1, sv_load_f16x4(w + i + 4), sv_load_f16x4(x + i + 4));
        s2 = vfmaq_f32(s2, sv_load_f16x4(w + i + 8), sv_load_f16x4(x + i + 8));
        s3 = vfmaq_f32(s3, sv_load_f16x4(w + i + 12), sv_load_f16x4(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, sv_load_f16x4(w + i), sv_load_f16x4(x + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += sv_h2f(w[i]) * sv_h2f(x[i]);
    return sum;
}

static float sv_vec_dot_bf16_bf16_neon(int64_t n, const void *vw, const void *vx) {
    const sv_bf16 *w = vw, *x = vx;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, sv_load_bf16x4(w + i), sv_load_bf16x4(x + i));
        s1 = vfmaq_f32(s1, sv_load_bf16x4(w + i + 4), sv_load_bf16x4(x + i + 4));
        s2 = vfmaq_f32(s2, sv_load_bf16x4(w + i + 8), sv_load_bf16x4(x + i + 8));
        s3 = vfmaq_f32(s3, sv_load_bf16x4(w + i + 12), sv_load_bf16x4(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, sv_load_bf16x4(w + i), sv_load_bf16x4(x + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += sv_bf16_to_fp32(w[i]) * sv_bf16_to_fp32(x[i]);
    return sum;
}

// MARK: - Integer helpers (plain NEON)

// Exact dot of 16 int8 pairs for *any* int8 values, as 4 int32 lane partials.
// One product per int16 lane: (-128)·(-128) = 16384, and two of those would not fit.
static inline int32x4_t sv_dot16_wide(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

// Dot of 32 pairs where |a| <= 31 (4- and 5-bit quants: Q4_0 in [-8, 7], Q4_1 in
// [0, 15], Q5_0 in [-16, 15], Q5_1 in [0, 31]): four products per int16 lane stay
// within 4 · 31 · 128 = 15872.
static inline int16x8_t sv_dot32_small_s16(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
    int16x8_t p = vmull_s8(vget_low_s8(a0), vget_low_s8(b0));
    p = vmlal_high_s8(p, a0, b0);
    p = vmlal_s8(p, vget_low_s8(a1), vget_low_s8(b1));
    return vmlal_high_s8(p, a1, b1);
}

// MARK: - Q8_0 / Q4_0 / Q4_1 (plain NEON)

static float sv_vec_dot_q8_0_q8_0_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q8_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    // Two blocks per iteration with separate accumulators for ILP.
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        int32x4_t a0 = sv_dot16_wide(vdupq_n_s32(0), vld1q_s8(w[i].qs), vld1q_s8(x[i].qs));
        a0 = sv_dot16_wide(a0, vld1q_s8(w[i].qs + 16), vld1q_s8(x[i].qs + 16));
        int32x4_t a1 = sv_dot16_wide(vdupq_n_s32(0), vld1q_s8(w[i + 1].qs), vld1q_s8(x[i + 1].qs));
        a1 = sv_dot16_wide(a1, vld1q_s8(w[i + 1].qs + 16), vld1q_s8(x[i + 1].qs + 16));
        // Lane partials are at most 8 · 16384 < 2^24, so the conversion is exact.
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        int32x4_t a0 = sv_dot16_wide(vdupq_n_s32(0), vld1q_s8(w[i].qs), vld1q_s8(x[i].qs));
        a0 = sv_dot16_wide(a0, vld1q_s8(w[i].qs + 16), vld1q_s8(x[i].qs + 16));
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

// Q4_0 nibbles: byte j holds element j (low) and j + 16 (high), both offset by 8.
static inline void sv_unpack_q4_0(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t q = vld1q_u8(qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
}

static inline void sv_unpack_q4_1(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t q = vld1q_u8(qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
}

static inline int32x4_t sv_q4_q8_block_neon(int8x16_t lo, int8x16_t hi, const int8_t *q8) {
    return vpaddlq_s16(sv_dot32_small_s16(lo, hi, vld1q_s8(q8), vld1q_s8(q8 + 16)));
}

static float sv_vec_dot_q4_0_q8_0_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q4_0(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        sv_unpack_q4_0(w[i + 1].qs, &lo, &hi);
        const int32x4_t a1 = sv_q4_q8_block_neon(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        sv_unpack_q4_0(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

// Q4_1 · Q8_1 = d_w d_x Σ q4 q8 + m_w · s_x, where s_x = d_x Σ q8 was stored by from_float.
static float sv_vec_dot_q4_1_q8_1_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    float summs = 0.0f;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q4_1(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        sv_unpack_q4_1(w[i + 1].qs, &lo, &hi);
        const int32x4_t a1 = sv_q4_q8_block_neon(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s) + sv_h2f(w[i + 1].m) * sv_h2f(x[i + 1].s);
    }
    for (; i < nb; i++) {
        sv_unpack_q4_1(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s);
    }
    return vaddvq_f32(vaddq_f32(s0, s1)) + summs;
}

// MARK: - Q5_0 / Q5_1

// The fifth bits of a Q5 block as byte masks in element order (0xFF where set):
// TBL spreads byte k of qh over 8 lanes, then each lane tests its own bit.
// *lo covers elements 0..15 (low nibbles), *hi elements 16..31 (high nibbles).
static inline void sv_q5_high_masks(const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t spread[32] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
    const uint8x16_t bits = vreinterpretq_u8_u32(vdupq_n_u32(sv_q5_high_bits(qh)));
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    *lo = vtstq_u8(vqtbl1q_u8(bits, vld1q_u8(spread)), bit);
    *hi = vtstq_u8(vqtbl1q_u8(bits, vld1q_u8(spread + 16)), bit);
}

// Q5_0 quants in [-16, 15]: nibble − 16, plus 16 where the fifth bit is set; i.e.
// subtract 16 only where it is clear.
static inline void sv_unpack_q5_0(const sv_block_q5_0 *b, int8x16_t *lo, int8x16_t *hi) {
    uint8x16_t hlo, hhi;
    sv_q5_high_masks(b->qh, &hlo, &hhi);
    const uint8x16_t q = vld1q_u8(b->qs), sixteen = vdupq_n_u8(16);
    *lo = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), vbicq_u8(sixteen, hlo)));
    *hi = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(q, 4), vbicq_u8(sixteen, hhi)));
}

// Q5_1 quants in [0, 31].
static inline void sv_unpack_q5_1(const sv_block_q5_1 *b, int8x16_t *lo, int8x16_t *hi) {
    uint8x16_t hlo, hhi;
    sv_q5_high_masks(b->qh, &hlo, &hhi);
    const uint8x16_t q = vld1q_u8(b->qs), sixteen = vdupq_n_u8(16);
    *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), vandq_u8(sixteen, hlo)));
    *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(sixteen, hhi)));
}

static float sv_vec_dot_q5_0_q8_0_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q5_0(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        sv_unpack_q5_0(&w[i + 1], &lo, &hi);
        const int32x4_t a1 = sv_q4_q8_block_neon(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        sv_unpack_q5_0(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

// Q5_1 · Q8_1 = d_w d_x Σ q5 q8 + m_w · s_x, as Q4_1.
static float sv_vec_dot_q5_1_q8_1_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    float summs = 0.0f;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q5_1(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        sv_unpack_q5_1(&w[i + 1], &lo, &hi);
        const int32x4_t a1 = sv_q4_q8_block_neon(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s) + sv_h2f(w[i + 1].m) * sv_h2f(x[i + 1].s);
    }
    for (; i < nb; i++) {
        sv_unpack_q5_1(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_q4_q8_block_neon(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s);
    }
    return vaddvq_f32(vaddq_f32(s0, s1)) + summs;
}

// MARK: - K-quant helpers

// Unpacks the 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K block (the layout
// sv_get_scale_min_k4 reads one at a time): scales 0-3 / mins 0-3 are the low 6
// bits of bytes 0-3 / 4-7; scales 4-7 / mins 4-7 take their low nibble / high
// nibble from bytes 8-11 and their top two bits from the spare top bits of bytes
// 0-3 / 4-7.
static inline void sv_unpack_scales_mins_k4(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a[3];
    memcpy(a, s, 12);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    const uint32_t sc_lo = a[0] & lo6;
    const uint32_t mn_lo = a[1] & lo6;
    const uint32_t sc_hi = (a[2] & lo4) | (((a[0] >> 6) & lo2) << 4);
    const uint32_t mn_hi = ((a[2] >> 4) & lo4) | (((a[1] >> 6) & lo2) << 4);
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(mn, &mn_lo, 4);
    memcpy(mn + 4, &mn_hi, 4);
}

// Σ_j bsums[j] · mins[j/2] over a Q8_K block: the part of Σ q·(d·sc) - m that
// comes from the mins. Pair sums of bsums are at most 2 · 16 · 127 = 4064.
static inline int32_t sv_k4_mins_dot(const int16_t *bsums, const uint8_t mn[8]) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    const int32x4_t p = vmlal_high_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(m)), pairs, m);
    return vaddvq_s32(p);
}

// The 6-bit quants of a Q6_K half (128 elements) as 8 groups of 16 signed values
// in [-32, 31], group g multiplying q8[16 g .. 16 g + 16) with scale sc[g].
static inline void sv_unpack_q6_K_half(const uint8_t *ql, const uint8_t *qh, int8x16_t q[8]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x30);
    const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16);
    const uint8x16_t l2 = vld1q_u8(ql + 32), l3 = vld1q_u8(ql + 48);
    const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
    // Bits 2k..2k+1 of qh are the high bits of the k-th quarter; move them to bits 4-5.
    const uint8x16_t u[8] = {
        vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(h0, 4), m2)),
        vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(h1, 4), m2)),
        vorrq_u8(vandq_u8(l2, m4), vandq_u8(vshlq_n_u8(h0, 2), m2)),
        vorrq_u8(vandq_u8(l3, m4), vandq_u8(vshlq_n_u8(h1, 2), m2)),
        vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(h0, m2)),
        vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(h1, m2)),
        vorrq_u8(vshrq_n_u8(l2, 4), vandq_u8(vshrq_n_u8(h0, 2), m2)),
        vorrq_u8(vshrq_n_u8(l3, 4), vandq_u8(vshrq_n_u8(h1, 2), m2)),
    };
    const int8x16_t bias = vdupq_n_s8(32);
    for (int g = 0; g < 8; g++) q[g] = vsubq_s8(vreinterpretq_s8_u8(u[g]), bias);
}

// Q5_K: the 5th bit of element l of sub-block pair k (64 elements) is bit 2k (low
// nibbles) or 2k+1 (high nibbles) of qh[l]. The caller shifts qh right by 2 per pair.
static inline void sv_unpack_q5_K_pair(const uint8_t *qs, uint8x16_t qh0, uint8x16_t qh1,
                                       int8x16_t *lo0, int8x16_t *lo1, int8x16_t *hi0, int8x16_t *hi1) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1), two = vdupq_n_u8(2);
    const uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
    *lo0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vshlq_n_u8(vandq_u8(qh0, one), 4)));
    *lo1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vshlq_n_u8(vandq_u8(qh1, one), 4)));
    *hi0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vshlq_n_u8(vandq_u8(qh0, two), 3)));
    *hi1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vshlq_n_u8(vandq_u8(qh1, two), 3)));
}

// MARK: - K-quants (plain NEON)

// Adds scale · (dot of 32 pairs) to acc; the int16 lanes hold four products each
// (Q4_K: 4 · 15 · 128 = 7680, Q5_K: 4 · 31 · 128 = 15872, both < 32767).
static inline int32x4_t sv_scaled_dot32(int32x4_t acc, int8x16_t a0, int8x16_t a1,
                                        const int8_t *q8, int16_t scale) {
    const int16x8_t p = sv_dot32_small_s16(a0, a1, vld1q_s8(q8), vld1q_s8(q8 + 16));
    acc = vmlal_n_s16(acc, vget_low_s16(p), scale);
    return vmlal_high_n_s16(acc, p, scale);
}

static float sv_vec_dot_q4_K_q8_K_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        sv_unpack_scales_mins_k4(w[i].scales, sc, mn);
        const int32_t summ = sv_k4_mins_dot(x[i].bsums, mn);

        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        // Each 32 bytes of qs hold two sub-blocks: low nibbles, then high nibbles.
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q4), b1 = vld1q_u8(q4 + 16);
            acc = sv_scaled_dot32(acc, vreinterpretq_s8_u8(vandq_u8(b0, m4)),
                                  vreinterpretq_s8_u8(vandq_u8(b1, m4)), q8, sc[2 * j]);
            acc = sv_scaled_dot32(acc, vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)),
                                  vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), q8 + 32, sc[2 * j + 1]);
        }
        const float d = sv_h2f(w[i].d) * x[i].d;
        const float dmin = sv_h2f(w[i].dmin) * x[i].d;
        sumf += d * (float)vaddvq_s32(acc) - dmin * (float)summ;
    }
    return sumf;
}

static float sv_vec_dot_q5_K_q8_K_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        sv_unpack_scales_mins_k4(w[i].scales, sc, mn);
        const int32_t summ = sv_k4_mins_dot(x[i].bsums, mn);

        uint8x16_t qh0 = vld1q_u8(w[i].qh), qh1 = vld1q_u8(w[i].qh + 16);
        const uint8_t *q5 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++, q5 += 32, q8 += 64) {
            int8x16_t lo0, lo1, hi0, hi1;
            sv_unpack_q5_K_pair(q5, qh0, qh1, &lo0, &lo1, &hi0, &hi1);
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
            acc = sv_scaled_dot32(acc, lo0, lo1, q8, sc[2 * j]);
            acc = sv_scaled_dot32(acc, hi0, hi1, q8 + 32, sc[2 * j + 1]);
        }
        const float d = sv_h2f(w[i].d) * x[i].d;
        const float dmin = sv_h2f(w[i].dmin) * x[i].d;
        sumf += d * (float)vaddvq_s32(acc) - dmin * (float)summ;
    }
    return sumf;
}

static float sv_vec_dot_q6_K_q8_K_neon(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            int8x16_t q[8];
            sv_unpack_q6_K_half(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
            const int8_t *q8 = x[i].qs + 128 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            for (int g = 0; g < 8; g++) {
                // Two products per int16 lane: 2 · 32 · 128 = 8192. The scales differ
                // every 16 elements, so no more can be merged before scaling.
                const int8x16_t b = vld1q_s8(q8 + 16 * g);
                int16x8_t p = vmull_s8(vget_low_s8(q[g]), vget_low_s8(b));
                p = vmlal_high_s8(p, q[g], b);
                acc = vmlal_n_s16(acc, vget_low_s16(p), sc[g]);
                acc = vmlal_high_n_s16(acc, p, sc[g]);
            }
        }
        sumf += sv_h2f(w[i].d) * x[i].d * (float)vaddvq_s32(acc);
    }
    return sumf;
}

// MARK: - sdot (ARMv8.2 dotprod)

SV_TARGET_DOTPROD
static inline int32x4_t sv_dot32_sdot(int8x16_t a0, int8x16_t a1, const int8_t *b) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, vld1q_s8(b)), a1, vld1q_s8(b + 16));
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q8_0_q8_0_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q8_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const int32x4_t a0 = sv_dot32_sdot(vld1q_s8(w[i].qs), vld1q_s8(w[i].qs + 16), x[i].qs);
        const int32x4_t a1 = sv_dot32_sdot(vld1q_s8(w[i + 1].qs), vld1q_s8(w[i + 1].qs + 16), x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        const int32x4_t a0 = sv_dot32_sdot(vld1q_s8(w[i].qs), vld1q_s8(w[i].qs + 16), x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q4_0_q8_0_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q4_0(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        sv_unpack_q4_0(w[i + 1].qs, &lo, &hi);
        const int32x4_t a1 = sv_dot32_sdot(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        sv_unpack_q4_0(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q4_1_q8_1_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    float summs = 0.0f;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q4_1(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        sv_unpack_q4_1(w[i + 1].qs, &lo, &hi);
        const int32x4_t a1 = sv_dot32_sdot(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s) + sv_h2f(w[i + 1].m) * sv_h2f(x[i + 1].s);
    }
    for (; i < nb; i++) {
        sv_unpack_q4_1(w[i].qs, &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s);
    }
    return vaddvq_f32(vaddq_f32(s0, s1)) + summs;
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q5_0_q8_0_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q5_0(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        sv_unpack_q5_0(&w[i + 1], &lo, &hi);
        const int32x4_t a1 = sv_dot32_sdot(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
    }
    for (; i < nb; i++) {
        sv_unpack_q5_0(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q5_1_q8_1_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    float summs = 0.0f;
    int64_t i = 0;
    int8x16_t lo, hi;
    for (; i + 2 <= nb; i += 2) {
        sv_unpack_q5_1(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        sv_unpack_q5_1(&w[i + 1], &lo, &hi);
        const int32x4_t a1 = sv_dot32_sdot(lo, hi, x[i + 1].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        s1 = vmlaq_n_f32(s1, vcvtq_f32_s32(a1), sv_h2f(w[i + 1].d) * sv_h2f(x[i + 1].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s) + sv_h2f(w[i + 1].m) * sv_h2f(x[i + 1].s);
    }
    for (; i < nb; i++) {
        sv_unpack_q5_1(&w[i], &lo, &hi);
        const int32x4_t a0 = sv_dot32_sdot(lo, hi, x[i].qs);
        s0 = vmlaq_n_f32(s0, vcvtq_f32_s32(a0), sv_h2f(w[i].d) * sv_h2f(x[i].d));
        summs += sv_h2f(w[i].m) * sv_h2f(x[i].s);
    }
    return vaddvq_f32(vaddq_f32(s0, s1)) + summs;
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q4_K_q8_K_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        sv_unpack_scales_mins_k4(w[i].scales, sc, mn);
        const int32_t summ = sv_k4_mins_dot(x[i].bsums, mn);

        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q4), b1 = vld1q_u8(q4 + 16);
            const int32x4_t plo = sv_dot32_sdot(vreinterpretq_s8_u8(vandq_u8(b0, m4)),
                                                vreinterpretq_s8_u8(vandq_u8(b1, m4)), q8);
            const int32x4_t phi = sv_dot32_sdot(vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)),
                                                vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), q8 + 32);
            acc = vmlaq_n_s32(acc, plo, sc[2 * j]);
            acc = vmlaq_n_s32(acc, phi, sc[2 * j + 1]);
        }
        const float d = sv_h2f(w[i].d) * x[i].d;
        const float dmin = sv_h2f(w[i].dmin) * x[i].d;
        sumf += d * (float)vaddvq_s32(acc) - dmin * (float)summ;
    }
    return sumf;
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q5_K_q8_K_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        sv_unpack_scales_mins_k4(w[i].scales, sc, mn);
        const int32_t summ = sv_k4_mins_dot(x[i].bsums, mn);

        uint8x16_t qh0 = vld1q_u8(w[i].qh), qh1 = vld1q_u8(w[i].qh + 16);
        const uint8_t *q5 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++, q5 += 32, q8 += 64) {
            int8x16_t lo0, lo1, hi0, hi1;
            sv_unpack_q5_K_pair(q5, qh0, qh1, &lo0, &lo1, &hi0, &hi1);
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
            acc = vmlaq_n_s32(acc, sv_dot32_sdot(lo0, lo1, q8), sc[2 * j]);
            acc = vmlaq_n_s32(acc, sv_dot32_sdot(hi0, hi1, q8 + 32), sc[2 * j + 1]);
        }
        const float d = sv_h2f(w[i].d) * x[i].d;
        const float dmin = sv_h2f(w[i].dmin) * x[i].d;
        sumf += d * (float)vaddvq_s32(acc) - dmin * (float)summ;
    }
    return sumf;
}

SV_TARGET_DOTPROD
static float sv_vec_dot_q6_K_q8_K_neon_dotprod(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            int8x16_t q[8];
            sv_unpack_q6_K_half(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
            const int8_t *q8 = x[i].qs + 128 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            for (int g = 0; g < 8; g++) {
                const int32x4_t p = vdotq_s32(vdupq_n_s32(0), q[g], vld1q_s8(q8 + 16 * g));
                acc = vmlaq_n_s32(acc, p, sc[g]);
            }
        }
        sumf += sv_h2f(w[i].d) * x[i].d * (float)vaddvq_s32(acc);
    }
    return sumf;
}

// MARK: - Register-tiled products
//
// gemm twins of the 32-element block dots (Q8_0, Q4_0, Q5_0 against Q8_0; Q4_1, Q5_1 against
// Q8_1): RM weight rows × RN activation rows per tile, each output taking exactly its table's
// vec_dot steps: the same unpacking, the same integer block dot (so the same int32 lanes), the
// same d_w·d_x product and vmlaq_n_f32 into the accumulator of the block's parity (the dots keep
// two, even and odd blocks, an odd count's last block in the even one), for Q4_1/Q5_1 the same
// m_w·s_x sums (a pair of blocks per statement, as the dots write it), the same final
// reduction. Whether the compiler fuses vmlaq_n_f32 or contracts the min sums (clang does, GCC
// under ISO C does not), it does so in both. A weight block is unpacked once for RN activation
// rows and an activation block's scale converted once for RM weight rows. 2 × 3: 12
// accumulators with the operands fit in the 32 registers (2 × 4 spills in clang's and GCC's
// code; not yet measured on hardware).
#define SV_GEMM_NEON_RM 2
#define SV_GEMM_NEON_RN 3

#define SV_UNPACK_Q8_0(b, lo, hi) (*(lo) = vld1q_s8((b)->qs), *(hi) = vld1q_s8((b)->qs + 16))
#define SV_UNPACK_Q4_0(b, lo, hi) sv_unpack_q4_0((b)->qs, lo, hi)
#define SV_UNPACK_Q5_0(b, lo, hi) sv_unpack_q5_0(b, lo, hi)
#define SV_UNPACK_Q4_1(b, lo, hi) sv_unpack_q4_1((b)->qs, lo, hi)
#define SV_UNPACK_Q5_1(b, lo, hi) sv_unpack_q5_1(b, lo, hi)
// The min term's factors, m_w and s_x (0 where the pair has none; then never used).
#define SV_NO_MIN(b) 0.0f
#define SV_MIN_M(b) sv_h2f((b)->m)
#define SV_MIN_S(b) sv_h2f((b)->s)

// Integer block dots of the plain dots: Q8_0's (one product per int16 lane) and the 4-/5-bit
// types' (sv_q4_q8_block_neon).
static inline int32x4_t sv_q8_0_block_dot_neon(int8x16_t lo, int8x16_t hi, const int8_t *q8) {
    return sv_dot16_wide(sv_dot16_wide(vdupq_n_s32(0), lo, vld1q_s8(q8)), hi, vld1q_s8(q8 + 16));
}

#define SV_GEMM_QX_TILE(NAME, WBLOCK, XBLOCK, UNPACK, DOT, HAS_MIN, MW, SX)                              \
    static inline __attribute__((always_inline)) void NAME(                                              \
        const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,      \
        float *y, int64_t ys) {                                                                          \
        float32x4_t s[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX][2];                                            \
        float summs[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                                 \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) {                                                     \
                s[i][j][0] = s[i][j][1] = vdupq_n_f32(0.0f);                                             \
                summs[i][j] = 0.0f;                                                                      \
            }                                                                                            \
        for (int64_t b0 = 0; b0 < nb; b0 += 2) {                                                         \
            float mw[2][SV_GEMM_TILE_MAX], sx[2][SV_GEMM_TILE_MAX];                                      \
            SV_UNROLL for (int p = 0; p < 2; p++) {                                                      \
                const int64_t b = b0 + p;                                                                \
                if (b == nb) break;                                                                      \
                float dx[SV_GEMM_TILE_MAX];                                                              \
                const int8_t *xq[SV_GEMM_TILE_MAX];                                                      \
                SV_UNROLL for (int j = 0; j < RN; j++) {                                                 \
                    const XBLOCK *xb = (const XBLOCK *)(x + (size_t)j * xs) + b;                         \
                    dx[j] = sv_h2f(xb->d);                                                               \
                    sx[p][j] = SX(xb);                                                                   \
                    xq[j] = xb->qs;                                                                      \
                }                                                                                        \
                SV_UNROLL for (int i = 0; i < RM; i++) {                                                 \
                    const WBLOCK *wb = (const WBLOCK *)(w + (size_t)i * ws) + b;                         \
                    int8x16_t lo, hi;                                                                    \
                    UNPACK(wb, &lo, &hi);                                                                \
                    const float dw = sv_h2f(wb->d);                                                      \
                    mw[p][i] = MW(wb);                                                                   \
                    SV_UNROLL for (int j = 0; j < RN; j++) {                                             \
                        const int32x4_t a = DOT(lo, hi, xq[j]);                                          \
                        s[i][j][p] = vmlaq_n_f32(s[i][j][p], vcvtq_f32_s32(a), dw * dx[j]);              \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
            if (HAS_MIN) {                                                                               \
                SV_UNROLL for (int i = 0; i < RM; i++)                                                   \
                    SV_UNROLL for (int j = 0; j < RN; j++) {                                             \
                        if (b0 + 1 < nb) summs[i][j] += mw[0][i] * sx[0][j] + mw[1][i] * sx[1][j];       \
                        else summs[i][j] += mw[0][i] * sx[0][j];                                         \
                    }                                                                                    \
            }                                                                                            \
        }                                                                                                \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++)                                                       \
                y[(int64_t)j * ys + i] = HAS_MIN ? vaddvq_f32(vaddq_f32(s[i][j][0], s[i][j][1])) + summs[i][j] \
                                                 : vaddvq_f32(vaddq_f32(s[i][j][0], s[i][j][1]));        \
    }

#define SV_GEMM_NEON_DEFINE(PAIR, SUFFIX, BLOCK)                                                          \
    SV_GEMM_TILE_FNS(sv_gemm_##PAIR##_, _##SUFFIX, sv_gemm_##PAIR##_tile_##SUFFIX)                       \
    static void sv_gemm_##PAIR##_##SUFFIX(int64_t n, const void *w, size_t ws, int64_t nr,               \
                                          const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {  \
        static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_##PAIR##_, _##SUFFIX);        \
        sv_gemm_walk(tiles, SV_GEMM_NEON_RM, SV_GEMM_NEON_RN, n / (BLOCK), w, ws, nr, x, xs, nc, y, ys); \
    }

// Per table: the tile bodies (block dot DOT8 for Q8_0 weights, DOT4 for the 4-/5-bit ones) and
// the gemm entries.
#define SV_GEMM_NEON_ALL(SUFFIX, DOT8, DOT4)                                                                  \
    SV_GEMM_QX_TILE(sv_gemm_q8_0_q8_0_tile_##SUFFIX, sv_block_q8_0, sv_block_q8_0, SV_UNPACK_Q8_0, DOT8, 0,  \
                    SV_NO_MIN, SV_NO_MIN)                                                                     \
    SV_GEMM_QX_TILE(sv_gemm_q4_0_q8_0_tile_##SUFFIX, sv_block_q4_0, sv_block_q8_0, SV_UNPACK_Q4_0, DOT4, 0,  \
                    SV_NO_MIN, SV_NO_MIN)                                                                     \
    SV_GEMM_QX_TILE(sv_gemm_q5_0_q8_0_tile_##SUFFIX, sv_block_q5_0, sv_block_q8_0, SV_UNPACK_Q5_0, DOT4, 0,  \
                    SV_NO_MIN, SV_NO_MIN)                                                                     \
    SV_GEMM_QX_TILE(sv_gemm_q4_1_q8_1_tile_##SUFFIX, sv_block_q4_1, sv_block_q8_1, SV_UNPACK_Q4_1, DOT4, 1,  \
                    SV_MIN_M, SV_MIN_S)                                                                       \
    SV_GEMM_QX_TILE(sv_gemm_q5_1_q8_1_tile_##SUFFIX, sv_block_q5_1, sv_block_q8_1, SV_UNPACK_Q5_1, DOT4, 1,  \
                    SV_MIN_M, SV_MIN_S)                                                                       \
    SV_GEMM_NEON_DEFINE(q8_0_q8_0, SUFFIX, SV_QK8_0)                                                          \
    SV_GEMM_NEON_DEFINE(q4_0_q8_0, SUFFIX, SV_QK4_0)                                                          \
    SV_GEMM_NEON_DEFINE(q5_0_q8_0, SUFFIX, SV_QK5_0)                                                          \
    SV_GEMM_NEON_DEFINE(q4_1_q8_1, SUFFIX, SV_QK4_1)                                                          \
    SV_GEMM_NEON_DEFINE(q5_1_q8_1, SUFFIX, SV_QK5_1)

SV_GEMM_NEON_ALL(neon, sv_q8_0_block_dot_neon, sv_q4_q8_block_neon)

// gemm twins of the K-quant dots (Q4_K, Q5_K, Q6_K against Q8_K), the same way: per output the
// dot's int32 block sum (integer, so exact in any order: the tile shares the unpacked scales,
// mins and quants of a weight super-block among RN activation rows and each activation step
// among RM weight rows) and then the dot's float statement for the super-block, written alike.
#define SV_GEMM_K_NEON_RM 2
#define SV_GEMM_K_NEON_RN 3
#define SV_GEMM_Q6_K_NEON_RM 1 // 8 unpacked quant vectors per weight row and half
#define SV_GEMM_Q6_K_NEON_RN 4

// acc += scale · Σ of 32 pairs, the plain dots' way; the sdot way is in the dotprod region.
#define SV_SCALED_DOT32_NEON(acc, a0, a1, q8, scale) sv_scaled_dot32(acc, a0, a1, q8, scale)
// acc += scale · Σ of 16 pairs of Q6_K (two products per int16 lane, as the plain dot).
static inline int32x4_t sv_q6_K_group_neon(int32x4_t acc, int8x16_t q, const int8_t *q8, int8_t scale) {
    const int8x16_t b = vld1q_s8(q8);
    int16x8_t p = vmull_s8(vget_low_s8(q), vget_low_s8(b));
    p = vmlal_high_s8(p, q, b);
    acc = vmlal_n_s16(acc, vget_low_s16(p), scale);
    return vmlal_high_n_s16(acc, p, scale);
}

// Q4_K (Q5 = 0) and Q5_K (Q5 = 1).
#define SV_GEMM_K4_TILE(NAME, WBLOCK, Q5, SCALED_DOT32)                                                  \
    static inline __attribute__((always_inline)) void NAME(                                              \
        const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,      \
        float *y, int64_t ys) {                                                                          \
        float sumf[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                                  \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) sumf[i][j] = 0.0f;                                    \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                          \
        for (int64_t b = 0; b < nb; b++) {                                                               \
            const WBLOCK *wb[SV_GEMM_TILE_MAX];                                                          \
            const sv_block_q8_K *xb[SV_GEMM_TILE_MAX];                                                   \
            uint8_t sc[SV_GEMM_TILE_MAX][8], mn[SV_GEMM_TILE_MAX][8];                                    \
            uint8x16_t qh0[SV_GEMM_TILE_MAX], qh1[SV_GEMM_TILE_MAX];                                     \
            int32x4_t acc[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                           \
            int32_t summ[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                            \
            SV_UNROLL for (int j = 0; j < RN; j++) xb[j] = (const sv_block_q8_K *)(x + (size_t)j * xs) + b; \
            SV_UNROLL for (int i = 0; i < RM; i++) {                                                     \
                wb[i] = (const WBLOCK *)(w + (size_t)i * ws) + b;                                        \
                sv_unpack_scales_mins_k4(wb[i]->scales, sc[i], mn[i]);                                   \
                if (Q5) {                                                                                \
                    qh0[i] = vld1q_u8((const uint8_t *)wb[i] + offsetof(sv_block_q5_K, qh));             \
                    qh1[i] = vld1q_u8((const uint8_t *)wb[i] + offsetof(sv_block_q5_K, qh) + 16);        \
                }                                                                                        \
                SV_UNROLL for (int j = 0; j < RN; j++) {                                                 \
                    summ[i][j] = sv_k4_mins_dot(xb[j]->bsums, mn[i]);                                    \
                    acc[i][j] = vdupq_n_s32(0);                                                          \
                }                                                                                        \
            }                                                                                            \
            for (int k = 0; k < 4; k++) {                                                                \
                SV_UNROLL for (int i = 0; i < RM; i++) {                                                 \
                    const uint8_t *qs = wb[i]->qs + 32 * k;                                              \
                    int8x16_t lo0, lo1, hi0, hi1;                                                        \
                    if (Q5) {                                                                            \
                        sv_unpack_q5_K_pair(qs, qh0[i], qh1[i], &lo0, &lo1, &hi0, &hi1);                 \
                        qh0[i] = vshrq_n_u8(qh0[i], 2);                                                  \
                        qh1[i] = vshrq_n_u8(qh1[i], 2);                                                  \
                    } else {                                                                             \
                        const uint8x16_t b0 = vld1q_u8(qs), b1 = vld1q_u8(qs + 16);                      \
                        lo0 = vreinterpretq_s8_u8(vandq_u8(b0, m4));                                     \
                        lo1 = vreinterpretq_s8_u8(vandq_u8(b1, m4));                                     \
                        hi0 = vreinterpretq_s8_u8(vshrq_n_u8(b0, 4));                                    \
                        hi1 = vreinterpretq_s8_u8(vshrq_n_u8(b1, 4));                                    \
                    }                                                                                    \
                    SV_UNROLL for (int j = 0; j < RN; j++) {                                             \
                        const int8_t *q8 = xb[j]->qs + 64 * k;                                           \
                        acc[i][j] = SCALED_DOT32(acc[i][j], lo0, lo1, q8, sc[i][2 * k]);                 \
                        acc[i][j] = SCALED_DOT32(acc[i][j], hi0, hi1, q8 + 32, sc[i][2 * k + 1]);        \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
            SV_UNROLL for (int i = 0; i < RM; i++)                                                       \
                SV_UNROLL for (int j = 0; j < RN; j++) {                                                 \
                    const float d = sv_h2f(wb[i]->d) * xb[j]->d;                                         \
                    const float dmin = sv_h2f(wb[i]->dmin) * xb[j]->d;                                   \
                    sumf[i][j] += d * (float)vaddvq_s32(acc[i][j]) - dmin * (float)summ[i][j];           \
                }                                                                                        \
        }                                                                                                \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = sumf[i][j];                  \
    }

#define SV_GEMM_Q6_K_TILE(NAME, GROUP)                                                                   \
    static inline __attribute__((always_inline)) void NAME(                                              \
        const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,      \
        float *y, int64_t ys) {                                                                          \
        float sumf[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                                  \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) sumf[i][j] = 0.0f;                                    \
        for (int64_t b = 0; b < nb; b++) {                                                               \
            const sv_block_q6_K *wb[SV_GEMM_TILE_MAX];                                                   \
            const sv_block_q8_K *xb[SV_GEMM_TILE_MAX];                                                   \
            int32x4_t acc[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX];                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) xb[j] = (const sv_block_q8_K *)(x + (size_t)j * xs) + b; \
            SV_UNROLL for (int i = 0; i < RM; i++) {                                                     \
                wb[i] = (const sv_block_q6_K *)(w + (size_t)i * ws) + b;                                 \
                SV_UNROLL for (int j = 0; j < RN; j++) acc[i][j] = vdupq_n_s32(0);                       \
            }                                                                                            \
            for (int h = 0; h < 2; h++) {                                                                \
                SV_UNROLL for (int i = 0; i < RM; i++) {                                                 \
                    int8x16_t q[8];                                                                      \
                    sv_unpack_q6_K_half(wb[i]->ql + 64 * h, wb[i]->qh + 32 * h, q);                      \
                    const int8_t *sc = wb[i]->scales + 8 * h;                                            \
                    SV_UNROLL for (int j = 0; j < RN; j++) {                                             \
                        const int8_t *q8 = xb[j]->qs + 128 * h;                                          \
                        SV_UNROLL for (int g = 0; g < 8; g++)                                            \
                            acc[i][j] = GROUP(acc[i][j], q[g], q8 + 16 * g, sc[g]);                      \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
            SV_UNROLL for (int i = 0; i < RM; i++)                                                       \
                SV_UNROLL for (int j = 0; j < RN; j++)                                                   \
                    sumf[i][j] += sv_h2f(wb[i]->d) * xb[j]->d * (float)vaddvq_s32(acc[i][j]);            \
        }                                                                                                \
        SV_UNROLL for (int i = 0; i < RM; i++)                                                           \
            SV_UNROLL for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = sumf[i][j];                  \
    }

#define SV_GEMM_NEON_DEFINE_K(PAIR, SUFFIX, RM, RN)                                                       \
    SV_GEMM_TILE_FNS(sv_gemm_##PAIR##_, _##SUFFIX, sv_gemm_##PAIR##_tile_##SUFFIX)                       \
    static void sv_gemm_##PAIR##_##SUFFIX(int64_t n, const void *w, size_t ws, int64_t nr,               \
                                          const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {  \
        static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_##PAIR##_, _##SUFFIX);        \
        sv_gemm_walk(tiles, RM, RN, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);                           \
    }

#define SV_GEMM_NEON_ALL_K(SUFFIX, SCALED_DOT32, Q6_GROUP)                                                    \
    SV_GEMM_K4_TILE(sv_gemm_q4_K_q8_K_tile_##SUFFIX, sv_block_q4_K, 0, SCALED_DOT32)                          \
    SV_GEMM_K4_TILE(sv_gemm_q5_K_q8_K_tile_##SUFFIX, sv_block_q5_K, 1, SCALED_DOT32)                          \
    SV_GEMM_Q6_K_TILE(sv_gemm_q6_K_q8_K_tile_##SUFFIX, Q6_GROUP)                                              \
    SV_GEMM_NEON_DEFINE_K(q4_K_q8_K, SUFFIX, SV_GEMM_K_NEON_RM, SV_GEMM_K_NEON_RN)                            \
    SV_GEMM_NEON_DEFINE_K(q5_K_q8_K, SUFFIX, SV_GEMM_K_NEON_RM, SV_GEMM_K_NEON_RN)                            \
    SV_GEMM_NEON_DEFINE_K(q6_K_q8_K, SUFFIX, SV_GEMM_Q6_K_NEON_RM, SV_GEMM_Q6_K_NEON_RN)

SV_GEMM_NEON_ALL_K(neon, SV_SCALED_DOT32_NEON, sv_q6_K_group_neon)

// The sdot twins, under the dotprod target as a region: the tile functions the shared macros
// generate carry no attribute of their own.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

SV_GEMM_NEON_ALL(neon_dotprod, sv_dot32_sdot, sv_dot32_sdot)

// The sdot dots' K-quant steps: one sdot pair (or one sdot for Q6_K's 16) times the scale.
static inline int32x4_t sv_scaled_dot32_sdot(int32x4_t acc, int8x16_t a0, int8x16_t a1, const int8_t *q8, int32_t scale) {
    return vmlaq_n_s32(acc, sv_dot32_sdot(a0, a1, q8), scale);
}
static inline int32x4_t sv_q6_K_group_sdot(int32x4_t acc, int8x16_t q, const int8_t *q8, int8_t scale) {
    return vmlaq_n_s32(acc, vdotq_s32(vdupq_n_s32(0), q, vld1q_s8(q8)), scale);
}

SV_GEMM_NEON_ALL_K(neon_dotprod, sv_scaled_dot32_sdot, sv_q6_K_group_sdot)

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

// MARK: - F16 products in tinyBLAS's order, register-tiled

// sv_matmul_rows_ggml's F16 batches (sv_vec_dot_f16_f16_tinyblas_generic): every output 16
// lanes (four registers here), each a chain of fused multiply-adds one per 16 elements, then
// sv_reduce16_gcc's adds. A tile of RM weight rows × RN activation rows converts each 4 halves
// once for the tile instead of once per output; each output's lanes see the same FMAs in the
// same order. 2 × 3: 24 accumulators, a quarter of a step's operands at a time.
#define SV_TINYBLAS_NEON_RM 2
#define SV_TINYBLAS_NEON_RN 3

static inline __attribute__((always_inline)) void sv_tinyblas_f16_tile_neon(
    const int RM, const int RN, int64_t n, const char *w, size_t ws, const char *x, size_t xs, float *y, int64_t ys) {
    float32x4_t acc[SV_GEMM_TILE_MAX][SV_GEMM_TILE_MAX][4];
    SV_UNROLL for (int i = 0; i < RM; i++)
        SV_UNROLL for (int j = 0; j < RN; j++)
            SV_UNROLL for (int q = 0; q < 4; q++) acc[i][j][q] = vdupq_n_f32(0.0f);
    for (int64_t l = 0; l < n; l += 16) {
        SV_UNROLL for (int q = 0; q < 4; q++) {
            float32x4_t wv[SV_GEMM_TILE_MAX];
            SV_UNROLL for (int i = 0; i < RM; i++) wv[i] = sv_load_f16x4((const sv_half *)(w + (size_t)i * ws) + l + 4 * q);
            SV_UNROLL for (int j = 0; j < RN; j++) {
                const float32x4_t xv = sv_load_f16x4((const sv_half *)(x + (size_t)j * xs) + l + 4 * q);
                SV_UNROLL for (int i = 0; i < RM; i++) acc[i][j][q] = vfmaq_f32(acc[i][j][q], wv[i], xv);
            }
        }
    }
    SV_UNROLL for (int i = 0; i < RM; i++)
        SV_UNROLL for (int j = 0; j < RN; j++) {
            // Lanes 0-15 are acc[..][0..3]: (v[l + 8] + v[l]), then (a[l + 4] + a[l]), then
            // (b0 + b2) + (b1 + b3).
            const float32x4_t a0 = vaddq_f32(acc[i][j][2], acc[i][j][0]), a1 = vaddq_f32(acc[i][j][3], acc[i][j][1]);
            const float32x4_t b = vaddq_f32(a1, a0);
            const float32x2_t c = vadd_f32(vget_low_f32(b), vget_high_f32(b));
            y[(int64_t)j * ys + i] = vget_lane_f32(c, 0) + vget_lane_f32(c, 1);
        }
}

#define SV_TINYBLAS_F16_BODY(rm, rn, nb, w, ws, x, xs, y, ys) sv_tinyblas_f16_tile_neon(rm, rn, nb, w, ws, x, xs, y, ys)
SV_GEMM_TILE_FNS(sv_gemm_f16_tinyblas_, _neon, SV_TINYBLAS_F16_BODY)

// sv_gemm_walk's block count is the element count here (the tiles step by 16 themselves).
static void sv_gemm_f16_tinyblas_neon(int64_t n, const void *w, size_t ws, int64_t nr,
                                      const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_f16_tinyblas_, _neon);
    sv_gemm_walk(tiles, SV_TINYBLAS_NEON_RM, SV_TINYBLAS_NEON_RN, n, w, ws, nr, x, xs, nc, y, ys);
}

// MARK: - SwiGLU

// sv_ggml_expf_avx512_lane (Kernels/generic/transformer.c) on 4 lanes: the same FMAs on the same
// operands. Its ldexpf(j, n) (one rounding) is j·2^(n>>1), exact because j = e^b lies within
// [0.7, 1.5] and the factor is at least 2^-96, times 2^(n − (n>>1)), the one rounding.
static inline float32x4_t sv_ggml_expf_neon(float32x4_t x) {
    const float32x4_t r = vdupq_n_f32(0x1.8p23f);
    const float32x4_t z = vfmaq_f32(r, x, vdupq_n_f32(0x1.715476p+0f));
    const float32x4_t n = vsubq_f32(z, r);
    const float32x4_t b = vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f)), n, vdupq_n_f32(0x1.7f7d1cp-20f));
    const float32x4_t u = vmulq_f32(b, b);
    const float32x4_t hi = vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), b);
    const float32x4_t mid = vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), b);
    const float32x4_t lo = vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(0x1.ffffecp-1f), b);
    const float32x4_t j = vfmaq_f32(lo, vfmaq_f32(mid, hi, u), u);
    // |n| > 192 and NaN lanes are replaced below, whatever the conversion gives them.
    const uint32x4_t big = vcagtq_f32(n, vdupq_n_f32(192.0f));
    const int32x4_t ni = vcvtq_s32_f32(vbslq_f32(big, vdupq_n_f32(0.0f), n));
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const float32x4_t p1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    const float32x4_t p2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    const float32x4_t res = vmulq_f32(vmulq_f32(j, p1), p2);
    const float32x4_t sat = vreinterpretq_f32_u32(
        vandq_u32(vcgtq_f32(n, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(vdupq_n_f32(INFINITY))));
    return vbslq_f32(vceqq_f32(n, n), vbslq_f32(big, sat, res), n);
}

// sv_swiglu_f32's numerics: the polynomial for whole groups of 16, libm's expf for the rest.
// sv_gelu_f16_table 4 lanes at a time: vcvt_f16_f32 rounds to nearest even as the scalar
// path does; NEON has no gather, so the lanes are looked up one by one; a group holding a NaN
// goes to the scalar path (its f16 NaN bits follow x86's vcvtps2ph, which ARM's need not).
static void sv_gelu_f16_table_neon(int64_t n, const float *x, float *y, const float *table) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        if (vminvq_u32(vceqq_f32(v, v)) == 0) {
            sv_gelu_f16_table(4, x + i, y + i, table);
            continue;
        }
        uint16_t h[4];
        vst1_u16(h, vreinterpret_u16_f16(vcvt_f16_f32(v)));
        const float t[4] = { table[h[0]], table[h[1]], table[h[2]], table[h[3]] };
        float32x4_t g = vbslq_f32(vcgeq_f32(v, vdupq_n_f32(10.0f)), v, vld1q_f32(t));
        g = vbslq_f32(vcleq_f32(v, vdupq_n_f32(-10.0f)), vdupq_n_f32(0.0f), g);
        vst1q_f32(y + i, g);
    }
    if (i < n) sv_gelu_f16_table(n - i, x + i, y + i, table);
}

static void sv_swiglu_f32_neon(int64_t n, const float *g, const float *u, float *y) {
    const int64_t nv = n - n % 16;
    const float32x4_t one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nv; i += 4) {
        const float32x4_t x = vld1q_f32(g + i);
        const float32x4_t e = sv_ggml_expf_neon(vsubq_f32(zero, x));
        vst1q_f32(y + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(u + i)));
    }
    if (nv < n) sv_swiglu_f32(n - nv, g + nv, u + nv, y + nv);
}

// MARK: - Attention

// Twins of Kernels/generic/transformer.c's attention, bit-identical: every float operation of
// the scalar code happens here too, on the same operands and in the same order; only
// independent operations run side by side (as in the x86 twins, with 4 lanes: a 16-lane group
// of the scalar code is four registers). FCVTL/FCVTN equal sv_fp16_to_fp32 / sv_fp32_to_fp16.

enum { SV_ATTN_TILE_NEON = 64 };

// Keys of a tile widened and transposed (kt[i·64 + t], so scores run across positions, each lane
// one key's FMA chain over the head dimension), values widened in place (vt[t·d + i]). Positions
// past nt are zero, so the score lanes the masks drop are finite.
static void sv_attn_widen_tile_neon(int64_t d, const sv_half *keys, const sv_half *values, int64_t stride,
                                    int64_t nt, float *kt, float *vt) {
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        const sv_half *k0 = keys + t * stride;
        for (int64_t i = 0; i < d; i += 4) {
            const float32x4x2_t p01 = vtrnq_f32(sv_load_f16x4(k0 + i), sv_load_f16x4(k0 + stride + i));
            const float32x4x2_t p23 = vtrnq_f32(sv_load_f16x4(k0 + 2 * stride + i), sv_load_f16x4(k0 + 3 * stride + i));
            float *o = kt + i * SV_ATTN_TILE_NEON + t;
            vst1q_f32(o, vcombine_f32(vget_low_f32(p01.val[0]), vget_low_f32(p23.val[0])));
            vst1q_f32(o + SV_ATTN_TILE_NEON, vcombine_f32(vget_low_f32(p01.val[1]), vget_low_f32(p23.val[1])));
            vst1q_f32(o + 2 * SV_ATTN_TILE_NEON, vcombine_f32(vget_high_f32(p01.val[0]), vget_high_f32(p23.val[0])));
            vst1q_f32(o + 3 * SV_ATTN_TILE_NEON, vcombine_f32(vget_high_f32(p01.val[1]), vget_high_f32(p23.val[1])));
        }
    }
    for (; t < nt; t++) {
        const sv_half *key = keys + t * stride;
        for (int64_t i = 0; i < d; i += 4) {
            float tmp[4];
            vst1q_f32(tmp, sv_load_f16x4(key + i));
            for (int l = 0; l < 4; l++) kt[(i + l) * SV_ATTN_TILE_NEON + t] = tmp[l];
        }
    }
    for (int64_t i = 0; i < d && nt < SV_ATTN_TILE_NEON; i++) {
        for (int64_t tz = nt; tz < SV_ATTN_TILE_NEON; tz++) kt[i * SV_ATTN_TILE_NEON + tz] = 0.0f;
    }
    for (t = 0; t < nt; t++) {
        const sv_half *value = values + t * stride;
        for (int64_t i = 0; i < d; i += 4) vst1q_f32(vt + t * d + i, sv_load_f16x4(value + i));
    }
}

// Positions t < nt of 4c .. 4c + 3, as a lane mask.
static inline uint32x4_t sv_attn_valid_neon(int64_t nt, int c) {
    static const float lane[4] = { 0.0f, 1.0f, 2.0f, 3.0f };
    return vcltq_f32(vld1q_f32(lane), vdupq_n_f32((float)(nt - 4 * c)));
}

// One row's step of sv_attention_row_f32acc over a widened tile of nt positions.
static void sv_attn_tile_row_neon(int64_t d, const float *q, const float *kt, const float *vt, int64_t nt,
                                  float scale, float *out, float *M, float *S, float *kq) {
    float32x4_t s[16];
    for (int c = 0; c < 16; c++) s[c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < d; i++) {
        const float32x4_t qi = vdupq_n_f32(q[i]);
        const float *k = kt + i * SV_ATTN_TILE_NEON;
        for (int c = 0; c < 16; c++) s[c] = vfmaq_f32(s[c], qi, vld1q_f32(k + 4 * c));
    }
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    float32x4_t mx = ninf;
    for (int c = 0; c < 16; c++) {
        s[c] = vmulq_n_f32(s[c], scale);
        // The scalar `if (kq > max)` skips NaN scores; so does this.
        const uint32x4_t m = vandq_u32(sv_attn_valid_neon(nt, c), vceqq_f32(s[c], s[c]));
        mx = vmaxq_f32(mx, vbslq_f32(m, s[c], ninf));
    }
    const float tile_max = vmaxvq_f32(mx);
    const float Mold = *M;
    const float Mnew = fmaxf(Mold, tile_max);
    float Sr = *S;
    if (Mnew > Mold) {
        const float ms = expf(Mold - Mnew);
        for (int64_t i = 0; i < d; i += 4) vst1q_f32(out + i, vmulq_n_f32(vld1q_f32(out + i), ms));
        Sr *= ms;
    }
    *M = Mnew;
    const float32x4_t vM = vdupq_n_f32(Mnew);
    double sum = 0.0;
    for (int c = 0; c < 16; c += 4) {
        float32x4_t e[4];
        for (int l = 0; l < 4; l++) {
            const uint32x4_t valid = sv_attn_valid_neon(nt, c + l);
            e[l] = vreinterpretq_f32_u32(vandq_u32(valid, vreinterpretq_u32_f32(sv_ggml_expf_neon(vsubq_f32(s[c + l], vM)))));
            vst1q_f32(kq + 4 * (c + l), e[l]);
        }
        // The scalar group sum: e[l] + e[l + 8], then + [l + 4], then (b0 + b2) + (b1 + b3).
        const float32x4_t bsum = vaddq_f32(vaddq_f32(e[0], e[2]), vaddq_f32(e[1], e[3]));
        const float32x2_t pair = vadd_f32(vget_low_f32(bsum), vget_high_f32(bsum));
        sum += (double)(vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1));
    }
    *S = (float)((double)Sr + sum);
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
        float32x4_t a0 = vld1q_f32(out + i), a1 = vld1q_f32(out + i + 4);
        float32x4_t a2 = vld1q_f32(out + i + 8), a3 = vld1q_f32(out + i + 12);
        for (int64_t t = 0; t < nt; t++) {
            const float32x4_t p = vdupq_n_f32(kq[t]);
            const float *v = vt + t * d + i;
            a0 = vfmaq_f32(a0, p, vld1q_f32(v));
            a1 = vfmaq_f32(a1, p, vld1q_f32(v + 4));
            a2 = vfmaq_f32(a2, p, vld1q_f32(v + 8));
            a3 = vfmaq_f32(a3, p, vld1q_f32(v + 12));
        }
        vst1q_f32(out + i, a0);
        vst1q_f32(out + i + 4, a1);
        vst1q_f32(out + i + 8, a2);
        vst1q_f32(out + i + 12, a3);
    }
    for (; i < d; i += 4) {
        float32x4_t a = vld1q_f32(out + i);
        for (int64_t t = 0; t < nt; t++) a = vfmaq_f32(a, vdupq_n_f32(kq[t]), vld1q_f32(vt + t * d + i));
        vst1q_f32(out + i, a);
    }
}

static void sv_attention_block_f32acc_neon(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                                           const sv_half *keys, const sv_half *values, int64_t kv_stride,
                                           int64_t n_kv, int causal, float scale,
                                           float *out, int64_t out_stride, float *scratch) {
    if (d <= 0 || d % 4 != 0) {
        sv_attention_block_f32acc(d, n_rows, q, q_stride, keys, values, kv_stride, n_kv, causal, scale,
                                  out, out_stride, scratch);
        return;
    }
    float *kt = scratch, *vt = kt + SV_ATTN_TILE_NEON * d, *kq = vt + SV_ATTN_TILE_NEON * d;
    float *rowM = kq + SV_ATTN_TILE_NEON, *rowS = rowM + n_rows;
    for (int64_t r = 0; r < n_rows; r++) {
        rowM[r] = -INFINITY;
        rowS[r] = 0.0f;
        for (int64_t i = 0; i < d; i++) out[r * out_stride + i] = 0.0f;
    }
    const int64_t n_max = causal ? n_kv + n_rows - 1 : n_kv;
    for (int64_t t0 = 0; t0 < n_max; t0 += SV_ATTN_TILE_NEON) {
        const int64_t tile = n_max - t0 < SV_ATTN_TILE_NEON ? n_max - t0 : SV_ATTN_TILE_NEON;
        sv_attn_widen_tile_neon(d, keys + t0 * kv_stride, values + t0 * kv_stride, kv_stride, tile, kt, vt);
        for (int64_t r = 0; r < n_rows; r++) {
            const int64_t n_r = causal ? n_kv + r : n_kv;
            if (n_r <= t0) continue;
            const int64_t nt = n_r - t0 < SV_ATTN_TILE_NEON ? n_r - t0 : SV_ATTN_TILE_NEON;
            sv_attn_tile_row_neon(d, q + r * q_stride, kt, vt, nt, scale, out + r * out_stride, &rowM[r], &rowS[r], kq);
        }
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const float inv = rowS[r] == 0.0f ? 0.0f : 1.0f / rowS[r];
        float *o = out + r * out_stride;
        for (int64_t i = 0; i < d; i += 4) vst1q_f32(o + i, vmulq_n_f32(vld1q_f32(o + i), inv));
    }
}

// sv_dot_f16_ggml_avx512: its four 16-lane accumulators as sixteen 4-lane ones (a[4j + k] is
// accumulator j's lanes 4k .. 4k + 3; an f16·f16 product is exact, so FMA is its multiply-add),
// reduced in its order, the n % 64 leftovers added in double.
static inline float sv_attn_dot_f16_neon(int64_t n, const sv_half *x, const sv_half *y) {
    float32x4_t a[16];
    for (int c = 0; c < 16; c++) a[c] = vdupq_n_f32(0.0f);
    const int64_t np = n & ~(int64_t)63;
    for (int64_t i = 0; i < np; i += 64) {
        for (int c = 0; c < 16; c++) a[c] = vfmaq_f32(a[c], sv_load_f16x4(x + i + 4 * c), sv_load_f16x4(y + i + 4 * c));
    }
    float32x4_t v[4];
    for (int k = 0; k < 4; k++) v[k] = vaddq_f32(vaddq_f32(a[k], a[8 + k]), vaddq_f32(a[4 + k], a[12 + k]));
    // Halving steps, upper half + lower half: 16 → 8 → 4 → 2 → 1.
    const float32x4_t v4 = vaddq_f32(vaddq_f32(v[3], v[1]), vaddq_f32(v[2], v[0]));
    const float32x2_t v2 = vadd_f32(vget_high_f32(v4), vget_low_f32(v4));
    double sum = (double)(vget_lane_f32(v2, 1) + vget_lane_f32(v2, 0));
    for (int64_t i = np; i < n; i++) sum += (double)(sv_h2f(x[i]) * sv_h2f(y[i]));
    return (float)sum;
}

// attention_f16acc_loop of transformer.c: the f16 accumulator in scratch + d, widened, updated
// and rounded back 4 elements at a time.
static void sv_attn_f16acc_loop_neon(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                     const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                     sv_half *scratch, float *m_out, float *s_out) {
    sv_half *q16 = scratch, *acc = scratch + d;
    k->from_float[SV_TYPE_F16](q, q16, d);
    memset(acc, 0, (size_t)d * sizeof(sv_half));
    const int64_t d4 = d & ~(int64_t)3;
    float S = 0.0f, M = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        const float s = sv_attn_dot_f16_neon(d, keys + j * stride, q16) * scale;
        const sv_half *v = values + j * stride;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            const float Mold = M;
            M = s;
            ms = expf(Mold - M);
            int64_t i = 0;
            for (; i < d4; i += 4) {
                vst1_u16(acc + i, vreinterpret_u16_f16(vcvt_f16_f32(vmulq_n_f32(sv_load_f16x4(acc + i), ms))));
            }
            for (; i < d; i++) acc[i] = sv_f2h(sv_h2f(acc[i]) * ms);
        } else {
            vs = expf(s - M);
        }
        const float32x4_t vvs = vdupq_n_f32(vs);
        int64_t i = 0;
        for (; i < d4; i += 4) {
            const float32x4_t r = vfmaq_f32(sv_load_f16x4(acc + i), sv_load_f16x4(v + i), vvs);
            vst1_u16(acc + i, vreinterpret_u16_f16(vcvt_f16_f32(r)));
        }
        for (; i < d; i++) acc[i] = sv_f2h(fmaf(sv_h2f(v[i]), vs, sv_h2f(acc[i])));
        S = fmaf(S, ms, vs);
    }
    *m_out = M;
    *s_out = S;
}

static void sv_attention_row_f16acc_neon(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                         const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                         float *out, sv_half *scratch) {
    float M, S;
    sv_attn_f16acc_loop_neon(k, d, q, keys, values, stride, n_kv, scale, scratch, &M, &S);
    const sv_half *acc = scratch + d;
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) vst1q_f32(out + i, vmulq_n_f32(sv_load_f16x4(acc + i), inv));
    for (; i < d; i++) out[i] = sv_h2f(acc[i]) * inv;
}

static void sv_attention_row_f16acc_partial_neon(const sv_kernels *k, int64_t d, const float *q,
                                                 const sv_half *keys, const sv_half *values, int64_t stride,
                                                 int64_t n_kv, float scale, float *partial, sv_half *scratch) {
    sv_attn_f16acc_loop_neon(k, d, q, keys, values, stride, n_kv, scale, scratch, &partial[0], &partial[1]);
    const sv_half *acc = scratch + d;
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) vst1q_f32(partial + 2 + i, sv_load_f16x4(acc + i));
    for (; i < d; i++) partial[2 + i] = sv_h2f(acc[i]);
}

// MARK: - Image resampling

// Twins of Kernels/generic/resample.c. uint32 products of a byte and a 22-bit weight, summed
// with wrapping multiply-adds, shifted (arithmetic, as the oracle's int32) and clamped by the
// saturating narrows (negative → 0, above 255 → 255): the same bytes.

static inline uint8x8_t sv_resample_clip8_neon(uint32x4_t a, uint32x4_t b) {
    const int32x4_t sa = vshrq_n_s32(vreinterpretq_s32_u32(a), SV_RESAMPLE_PRECISION_BITS);
    const int32x4_t sb = vshrq_n_s32(vreinterpretq_s32_u32(b), SV_RESAMPLE_PRECISION_BITS);
    return vqmovn_u16(vcombine_u16(vqmovun_s32(sa), vqmovun_s32(sb)));
}

// Vertical: 16 output bytes at a time, every tap into 4 registers of 4 lanes.
static void sv_resample_v_u8_neon(const uint8_t *src, int64_t row_elems, uint8_t *dst, int64_t out_h0, int64_t out_h1,
                                  const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const uint32x4_t half = vdupq_n_u32(1u << (SV_RESAMPLE_PRECISION_BITS - 1));
    for (int64_t yy = out_h0; yy < out_h1; yy++) {
        const int32_t *w = weights + yy * ksize;
        const uint8_t *base = src + (int64_t)first[yy] * row_elems;
        uint8_t *out = dst + yy * row_elems;
        int64_t i = 0;
        for (; i + 16 <= row_elems; i += 16) {
            uint32x4_t a0 = half, a1 = half, a2 = half, a3 = half;
            const uint8_t *p = base + i;
            for (int32_t k = 0; k < count[yy]; k++, p += row_elems) {
                const uint8x16_t px = vld1q_u8(p);
                const uint16x8_t lo = vmovl_u8(vget_low_u8(px)), hi = vmovl_high_u8(px);
                const uint32_t wk = (uint32_t)w[k];
                a0 = vmlaq_n_u32(a0, vmovl_u16(vget_low_u16(lo)), wk);
                a1 = vmlaq_n_u32(a1, vmovl_high_u16(lo), wk);
                a2 = vmlaq_n_u32(a2, vmovl_u16(vget_low_u16(hi)), wk);
                a3 = vmlaq_n_u32(a3, vmovl_high_u16(hi), wk);
            }
            vst1q_u8(out + i, vcombine_u8(sv_resample_clip8_neon(a0, a1), sv_resample_clip8_neon(a2, a3)));
        }
        for (; i < row_elems; i++) {
            uint32_t acc = 1u << (SV_RESAMPLE_PRECISION_BITS - 1);
            for (int32_t k = 0; k < count[yy]; k++) acc += (uint32_t)base[k * row_elems + i] * (uint32_t)w[k];
            const int32_t v = (int32_t)acc >> SV_RESAMPLE_PRECISION_BITS;
            out[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
    }
}

// Horizontal: one output pixel's three channels in lanes 0-2, one multiply-add per tap. A tap
// loads 4 bytes (its pixel and the next byte), so the last row's outputs that reach the image's
// last pixel take the scalar pass; the store writes only the pixel's 3 bytes.
static void sv_resample_h_rgb8_neon(const uint8_t *src, int64_t in_w, int64_t rows, uint8_t *dst, int64_t out_w,
                                    const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const uint32x4_t half = vdupq_n_u32(1u << (SV_RESAMPLE_PRECISION_BITS - 1));
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *row = src + y * in_w * 3;
        uint8_t *out = dst + y * out_w * 3;
        for (int64_t xx = 0; xx < out_w; xx++) {
            if (y == rows - 1 && first[xx] + count[xx] == in_w) {
                sv_resample_h_rgb8_generic(row, in_w, 1, out + 3 * xx, 1, first + xx, count + xx, weights + xx * ksize, ksize);
                continue;
            }
            uint32x4_t acc = half;
            const uint8_t *p = row + (int64_t)first[xx] * 3;
            const int32_t *w = weights + xx * ksize;
            for (int32_t k = 0; k < count[xx]; k++, p += 3) {
                uint32_t px;
                memcpy(&px, p, 4);
                const uint16x4_t px16 = vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(px))));
                acc = vmlaq_n_u32(acc, vmovl_u16(px16), (uint32_t)w[k]);
            }
            const uint32_t b = vget_lane_u32(vreinterpret_u32_u8(sv_resample_clip8_neon(acc, acc)), 0);
            memcpy(out + 3 * xx, &b, 3);
        }
    }
}

// MARK: - Repacked Q8_0 product

// sv_gemm_q8_0_r16_generic with 4 outputs per register. The 16 bytes at q[l][4r'..4r'+3] of a
// layout block are lane l's 4 quants of 4 weight rows; XOR 0x80 gives back the signed quants,
// so one 4-byte dot against the activation's bytes 4l..4l+3 is that lane's integer for 4
// outputs. The oracle starts the lane at −128·Σx and adds the biased quants' products instead,
// which is the same integer (both are exact), so the twins do not read `qsums`. Then, as the
// oracle: the conversion (exact, |lane| <= 4·128·128), the FMA into lane l's accumulator block
// after block, and hsum_float_8's adds across the 8 lane accumulators of each output.
//
// Tile: RQ quads of weight rows (4 rows each) × A activation rows, 8·RQ·A accumulators
// (16 for the two shapes used, leaving room for the operands in 32 registers). The integer
// dot is the only difference between the two tables, so the tile is written once, as a macro
// over the lane dot (a dotprod function cannot be inlined into a baseline one).
#define SV_Q8R16_TILE_BODY(LANE_DOT, RQ, A, nb, w, rq0, x, xs, y, ys)                                 \
    do {                                                                                           \
        float32x4_t facc[2][2][8];                                                                 \
        SV_UNROLL for (int r = 0; r < (RQ); r++)                                                         \
            SV_UNROLL for (int a = 0; a < (A); a++)                                                      \
                SV_UNROLL for (int l = 0; l < 8; l++) facc[r][a][l] = vdupq_n_f32(0.0f);                 \
        const int8x16_t bias = vdupq_n_s8((int8_t)0x80);                                           \
        for (int64_t b = 0; b < (nb); b++) {                                                       \
            const sv_block_q8_0_r16 *wb = (w) + b;                                                 \
            const sv_block_q8_0 *xb[2];                                                            \
            float32x4_t d[2][2];                                                                   \
            SV_UNROLL for (int a = 0; a < (A); a++) {                                                    \
                xb[a] = (const sv_block_q8_0 *)((x) + (size_t)a * (xs)) + b;                       \
                const float dx = sv_h2f(xb[a]->d);                                                 \
                SV_UNROLL for (int r = 0; r < (RQ); r++)                                                 \
                    d[r][a] = vmulq_n_f32(sv_load_f16x4(wb->d + 4 * ((rq0) + r)), dx);             \
            }                                                                                      \
            SV_UNROLL for (int l = 0; l < 8; l++) {                                                      \
                int8x16_t x4[2];                                                                   \
                SV_UNROLL for (int a = 0; a < (A); a++) {                                                \
                    int32_t four;                                                                  \
                    memcpy(&four, xb[a]->qs + 4 * l, 4);                                           \
                    x4[a] = vreinterpretq_s8_s32(vdupq_n_s32(four));                               \
                }                                                                                  \
                SV_UNROLL for (int r = 0; r < (RQ); r++) {                                               \
                    const int8x16_t wv = veorq_s8(vld1q_s8((const int8_t *)wb->q[l][4 * ((rq0) + r)]), bias); \
                    SV_UNROLL for (int a = 0; a < (A); a++) {                                            \
                        const int32x4_t p = LANE_DOT(wv, x4[a]);                                   \
                        facc[r][a][l] = vfmaq_f32(facc[r][a][l], d[r][a], vcvtq_f32_s32(p));       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        SV_UNROLL for (int r = 0; r < (RQ); r++)                                                         \
            SV_UNROLL for (int a = 0; a < (A); a++) {                                                    \
                float32x4_t h[4];                                                                  \
                SV_UNROLL for (int i = 0; i < 4; i++) h[i] = vaddq_f32(facc[r][a][i + 4], facc[r][a][i]); \
                vst1q_f32((y) + (int64_t)a * (ys) + 4 * ((rq0) + r),                               \
                          vaddq_f32(vaddq_f32(h[0], h[2]), vaddq_f32(h[1], h[3])));                \
            }                                                                                      \
    } while (0)

// Lane dot without sdot: 4 rows × 4 products, each at most 128·128 in int16, pairwise summed.
static inline int32x4_t sv_q8r16_lane_dot_neon(int8x16_t wv, int8x16_t x4) {
    const int16x8_t p01 = vmull_s8(vget_low_s8(wv), vget_low_s8(x4));
    const int16x8_t p23 = vmull_high_s8(wv, x4);
    return vpaddq_s32(vpaddlq_s16(p01), vpaddlq_s16(p23));
}

#define SV_Q8R16_LANE_DOT_SDOT(wv, x4) vdotq_s32(vdupq_n_s32(0), (wv), (x4))

// Activation rows in chunks of 48 (their blocks stay in L1/L2 while every row group of the range
// meets them), then row groups, then activation rows in pairs (a lone last one takes two row quads
// at a time instead, for the same number of independent accumulators).
#define SV_Q8R16_GEMM(SUFFIX, TARGET, LANE_DOT)                                                       \
    TARGET static void sv_q8r16_tile_1x2_##SUFFIX(int64_t nb, const sv_block_q8_0_r16 *w, int rq0,  \
                                                   const char *x, size_t xs, float *y, int64_t ys) { \
        SV_Q8R16_TILE_BODY(LANE_DOT, 1, 2, nb, w, rq0, x, xs, y, ys);                                 \
    }                                                                                                 \
    TARGET static void sv_q8r16_tile_2x1_##SUFFIX(int64_t nb, const sv_block_q8_0_r16 *w, int rq0,  \
                                                   const char *x, size_t xs, float *y, int64_t ys) { \
        SV_Q8R16_TILE_BODY(LANE_DOT, 2, 1, nb, w, rq0, x, xs, y, ys);                                 \
    }                                                                                                 \
    TARGET static void sv_gemm_q8_0_r16_##SUFFIX(int64_t n, const void *wp, int64_t g0, int64_t g1,   \
                                                 const void *x, size_t x_stride, const int32_t *qsums, \
                                                 int64_t m, float *y, int64_t y_stride) {             \
        SV_UNUSED(qsums);                                                                             \
        const int64_t nb = n / SV_QK8_0;                                                              \
        const sv_block_q8_0_r16 *w = wp;                                                              \
        const char *xc = x;                                                                           \
        for (int64_t a0 = 0; a0 < m; a0 += 48) {                                                      \
            const int64_t a1 = a0 + 48 < m ? a0 + 48 : m;                                             \
            for (int64_t g = g0; g < g1; g++) {                                                       \
                const sv_block_q8_0_r16 *wg = w + g * nb;                                             \
                int64_t a = a0;                                                                       \
                for (; a + 2 <= a1; a += 2)                                                           \
                    for (int rq = 0; rq < 4; rq++)                                                    \
                        sv_q8r16_tile_1x2_##SUFFIX(nb, wg, rq, xc + (size_t)a * x_stride, x_stride,   \
                                                   y + a * y_stride + 16 * g, y_stride);              \
                if (a < a1)                                                                           \
                    for (int rq = 0; rq < 4; rq += 2)                                                 \
                        sv_q8r16_tile_2x1_##SUFFIX(nb, wg, rq, xc + (size_t)a * x_stride, x_stride,   \
                                                   y + a * y_stride + 16 * g, y_stride);              \
            }                                                                                         \
        }                                                                                             \
    }

SV_Q8R16_GEMM(neon, , sv_q8r16_lane_dot_neon)
SV_Q8R16_GEMM(neon_dotprod, SV_TARGET_DOTPROD, SV_Q8R16_LANE_DOT_SDOT)

// MARK: - Tables

void sv_fill_kernels_neon(sv_kernels *k) {
    k->from_float[SV_TYPE_Q8_0] = sv_quantize_row_q8_0_neon;
    k->from_float[SV_TYPE_Q8_1] = sv_quantize_row_q8_1_neon;
    k->from_float[SV_TYPE_Q8_K] = sv_quantize_row_q8_K_neon;
    k->from_float[SV_TYPE_F16] = sv_convert_row_f16_neon;
    k->from_float[SV_TYPE_BF16] = sv_convert_row_bf16_neon;

    k->vec_dot[SV_TYPE_F32] = sv_vec_dot_f32_f32_neon;
    k->vec_dot[SV_TYPE_F16] = sv_vec_dot_f16_f16_neon;
    k->vec_dot[SV_TYPE_BF16] = sv_vec_dot_bf16_bf16_neon;
    k->vec_dot[SV_TYPE_Q8_0] = sv_vec_dot_q8_0_q8_0_neon;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_neon;
    k->vec_dot[SV_TYPE_Q4_1] = sv_vec_dot_q4_1_q8_1_neon;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_neon;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_neon;
    k->vec_dot[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_neon;
    k->vec_dot[SV_TYPE_Q5_K] = sv_vec_dot_q5_K_q8_K_neon;
    k->vec_dot[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_neon;
    k->gemm[SV_TYPE_Q8_0] = sv_gemm_q8_0_q8_0_neon;
    k->gemm[SV_TYPE_Q4_0] = sv_gemm_q4_0_q8_0_neon;
    k->gemm[SV_TYPE_Q5_0] = sv_gemm_q5_0_q8_0_neon;
    k->gemm[SV_TYPE_Q4_1] = sv_gemm_q4_1_q8_1_neon;
    k->gemm[SV_TYPE_Q5_1] = sv_gemm_q5_1_q8_1_neon;
    k->gemm[SV_TYPE_Q4_K] = sv_gemm_q4_K_q8_K_neon;
    k->gemm[SV_TYPE_Q5_K] = sv_gemm_q5_K_q8_K_neon;
    k->gemm[SV_TYPE_Q6_K] = sv_gemm_q6_K_q8_K_neon;
    k->tinyblas_f16_block = sv_gemm_f16_tinyblas_neon;

    k->gemm_q8_0_r16 = sv_gemm_q8_0_r16_neon;

    k->swiglu = sv_swiglu_f32_neon;
    k->gelu = sv_gelu_f16_table_neon;
    k->attention_block_f32acc = sv_attention_block_f32acc_neon;
    k->attention_row_f16acc = sv_attention_row_f16acc_neon;
    k->attention_row_f16acc_partial = sv_attention_row_f16acc_partial_neon;
    k->resample_h_rgb8 = sv_resample_h_rgb8_neon;
    k->resample_v_u8 = sv_resample_v_u8_neon;
}

void sv_fill_kernels_neon_dotprod(sv_kernels *k) {
    sv_fill_kernels_neon(k);
    k->vec_dot[SV_TYPE_Q8_0] = sv_vec_dot_q8_0_q8_0_neon_dotprod;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_neon_dotprod;
    k->vec_dot[SV_TYPE_Q4_1] = sv_vec_dot_q4_1_q8_1_neon_dotprod;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_neon_dotprod;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_neon_dotprod;
    k->vec_dot[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_neon_dotprod;
    k->vec_dot[SV_TYPE_Q5_K] = sv_vec_dot_q5_K_q8_K_neon_dotprod;
    k->vec_dot[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_neon_dotprod;
    k->gemm[SV_TYPE_Q8_0] = sv_gemm_q8_0_q8_0_neon_dotprod;
    k->gemm[SV_TYPE_Q4_0] = sv_gemm_q4_0_q8_0_neon_dotprod;
    k->gemm[SV_TYPE_Q5_0] = sv_gemm_q5_0_q8_0_neon_dotprod;
    k->gemm[SV_TYPE_Q4_1] = sv_gemm_q4_1_q8_1_neon_dotprod;
    k->gemm[SV_TYPE_Q5_1] = sv_gemm_q5_1_q8_1_neon_dotprod;
    k->gemm[SV_TYPE_Q4_K] = sv_gemm_q4_K_q8_K_neon_dotprod;
    k->gemm[SV_TYPE_Q5_K] = sv_gemm_q5_K_q8_K_neon_dotprod;
    k->gemm[SV_TYPE_Q6_K] = sv_gemm_q6_K_q8_K_neon_dotprod;

    k->gemm_q8_0_r16 = sv_gemm_q8_0_r16_neon_dotprod;
}

#endif // __aarch64__ || _M_ARM64
