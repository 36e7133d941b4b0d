// AVX2 + FMA + F16C kernels.
//
// Compiled for every x86-64 build through per-function target attributes, so the
// package needs no -mavx2; dispatch.c only installs these after checking the CPU.
//
// Integer work is the same as in the generic oracle (the int8 products are exact;
// maddubs never saturates for these operand ranges, see each kernel). Floats enter
// as ggml's AVX2 code has them: each block's (or super-block's) int32 lanes are
// converted and FMA'd into a vector accumulator, reduced once at the end. Only the
// order of those float adds differs from generic. For the 32-element blocks that
// order is ggml's exactly (one 8-lane accumulator, blocks in order, hsum_float_8),
// which is also tinyBLAS_Q0_AVX's per-output order for batches: bit-identical to
// llama.cpp on x86.
#if defined(__x86_64__) || defined(_M_X64)

#include "../internal.h"

#include <immintrin.h>
#include <math.h>

// Scalar float expressions stay unfused, as in the generic files; every FMA here is
// written out as an intrinsic.
#pragma STDC FP_CONTRACT OFF

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

// MARK: - Helpers

static inline float sv_avx2_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int sv_avx2_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float sv_avx2_hsum_ps128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// f16 → f32 conversions are written to avoid a scalar insert (_cvtsh_ss becomes
// vpinsrw into whatever register is at hand, often an accumulator, which chains each
// block's conversion behind the previous block's FMA).
static inline float sv_avx2_h2f(sv_half h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16((short)h)));
}

// Two adjacent halves (d and m of Q4_1, d and s of Q8_1, d and dmin of Q4_K/Q5_K)
// → floats in lanes 0 and 1, from one zero-extending 32-bit load.
static inline __m128 sv_avx2_h2f_pair(const void *p) {
    return _mm_cvtph_ps(_mm_loadu_si32(p));
}

// d_w * d_x for one block, both halves converted by one instruction.
static inline __m256 sv_avx2_scale2(sv_half dw, sv_half dx) {
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)dw | ((uint32_t)dx << 16))));
    return _mm256_set1_ps(_mm_cvtss_f32(_mm_mul_ss(f, _mm_movehdup_ps(f))));
}

// u8 × s8 → 8 int32 sums of 4 products. maddubs saturates its int16 pair sums, so
// callers keep |u| * 128 * 2 below 32768 (u ≤ 127 is always safe).
static inline __m256i sv_avx2_dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// s8 × s8: move w's sign onto x so the unsigned-by-signed instruction applies.
// Exact unless x holds -128 where w is negative (|-(-128)| wraps); our quantizers
// never emit -128 for finite input.
static inline __m256i sv_avx2_dot_i8_i8(__m256i w, __m256i x) {
    return sv_avx2_dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

// 16 packed nibbles → 32 bytes: low nibbles first, then high nibbles (the Q4 layout).
static inline __m256i sv_avx2_unpack_nibbles(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// The 32 fifth bits of a Q5_0/Q5_1 block (bit j ↔ element j) → 32 bytes in element
// order, 0xFF where the bit is set: byte k of qh goes to bytes 8k..8k+7 (pshufb stays
// inside a 128-bit lane, so the word is broadcast to both), then each byte keeps its
// own bit and compares equal to it.
static inline __m256i sv_avx2_q5_high_mask(const uint8_t *qh) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)sv_q5_high_bits(qh)), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

// A Q5 block's quants as 32 unsigned bytes in element order, 0..31.
static inline __m256i sv_avx2_unpack_q5(const uint8_t *qs, const uint8_t *qh) {
    return _mm256_or_si256(sv_avx2_unpack_nibbles(qs), _mm256_and_si256(sv_avx2_q5_high_mask(qh), _mm256_set1_epi8(0x10)));
}

// MARK: - from_float

// |x|-max of 32 floats. vmaxps returns its second operand when either is NaN, so
// keeping the running max second skips NaN exactly like the scalar `a > amax`.
static inline float sv_avx2_amax32(const __m256 v[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) m = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), m);
    __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// x*id → 32 int8 in element order: round half to even, convert (NaN/overflow →
// INT32_MIN), saturate through the two packs, then undo the packs' lane interleave.
static inline __m256i sv_avx2_scale_to_i8(const __m256 v[4], float id) {
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q[k] = _mm256_cvtps_epi32(r);
    }
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void sv_quantize_row_q8_0_avx2(const float *x, void *vy, int64_t n) {
    sv_block_q8_0 *y = vy;
    const int64_t nb = n / SV_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += SV_QK8_0) {
        const __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
        const float amax = sv_avx2_amax32(v);
        const float d = amax / 127.0f;
        const float id = (amax != 0.0f) ? 127.0f / amax : 0.0f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, sv_avx2_scale_to_i8(v, id));
    }
}

static void sv_quantize_row_q8_1_avx2(const float *x, void *vy, int64_t n) {
    sv_block_q8_1 *y = vy;
    const int64_t nb = n / SV_QK8_1;
    for (int64_t i = 0; i < nb; i++, x += SV_QK8_1) {
        const __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
        const float amax = sv_avx2_amax32(v);
        const float d = amax / 127.0f;
        const float id = (amax != 0.0f) ? 127.0f / amax : 0.0f;
        const __m256i q = sv_avx2_scale_to_i8(v, id);
        // Sum of the stored int8 (as the scalar path does): bias to unsigned, then
        // sum-of-absolute-differences against zero.
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        const int sum = sv_avx2_hsum_epi32(sad) - 32 * 128;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

static void sv_convert_row_f16_avx2(const float *x, void *vy, int64_t n) {
    sv_half *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// bf16 = upper half of f32 after round-half-to-even on the lower half; NaN is
// truncated and made quiet instead, so rounding can never turn it into Inf.
static void sv_convert_row_bf16_avx2(const float *x, void *vy, int64_t n) {
    sv_bf16 *y = vy;
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i inf = _mm256_set1_epi32(0x7F800000);
    const __m256i bias = _mm256_set1_epi32(0x7FFF);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h[2];
        for (int k = 0; k < 2; k++) {
            const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
            const __m256i hi = _mm256_srli_epi32(u, 16);
            const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
            h[k] = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
        }
        // Values are ≤ 0xFFFF, so the unsigned-saturating pack is a plain narrowing.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(y + i), packed);
    }
    for (; i < n; i++) y[i] = sv_fp32_to_bf16(x[i]);
}

// MARK: - Float dots

static float sv_vec_dot_f32_f32_avx2(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc[0]);
    float sum = sv_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float sv_vec_dot_f16_f16_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_half *w = vw, *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8 * k)));
            const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        acc[0] = _mm256_fmadd_ps(a, b, acc[0]);
    }
    float sum = sv_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += _cvtsh_ss(w[i]) * _cvtsh_ss(x[i]);
    return sum;
}

static inline __m256 sv_avx2_load_bf16(const sv_bf16 *p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static float sv_vec_dot_bf16_bf16_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_bf16 *w = vw, *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_fmadd_ps(sv_avx2_load_bf16(w + i + 8 * k), sv_avx2_load_bf16(x + i + 8 * k), acc[k]);
        }
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(sv_avx2_load_bf16(w + i), sv_avx2_load_bf16(x + i), acc[0]);
    float sum = sv_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += sv_bf16_to_fp32(w[i]) * sv_bf16_to_fp32(x[i]);
    return sum;
}

// MARK: - 32-element blocks

// One accumulator, blocks in order, as ggml's AVX2 branch (and tinyBLAS_Q0_AVX for
// batches): the order of the float adds is part of the result we must reproduce.
static float sv_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q8_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i p = sv_avx2_dot_i8_i8(_mm256_loadu_si256((const __m256i *)w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = _mm256_fmadd_ps(sv_avx2_scale2(w[i].d, x[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return sv_avx2_hsum_ps(acc);
}

// q4 - 8 is in [-8, 7], so the sign trick's |w| ≤ 8 keeps maddubs far from saturation.
static float sv_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *vw, const void *vx) {
    const __m256i eight = _mm256_set1_epi8(8);
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i p = sv_avx2_dot_i8_i8(_mm256_sub_epi8(sv_avx2_unpack_nibbles(w[i].qs), eight), _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = _mm256_fmadd_ps(sv_avx2_scale2(w[i].d, x[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return sv_avx2_hsum_ps(acc);
}

// Nibbles are already unsigned (0..15), so they feed maddubs directly.
// Nibbles are already unsigned (0..15), so they feed maddubs directly. As ggml's AVX2
// branch: one accumulator for d·dy·Σq·y, and Σ m·s as a scalar chain that GCC fuses
// into one FMA per block (ggml is built with -ffp-contract=fast), added at the end.
static float sv_vec_dot_q4_1_q8_1_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i p = sv_avx2_dot_u8_i8(sv_avx2_unpack_nibbles(w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        const __m128 dm = sv_avx2_h2f_pair(&w[i].d), ds = sv_avx2_h2f_pair(&x[i].d); // [d, m], [d, s]
        summ = fmaf(_mm_cvtss_f32(_mm_movehdup_ps(dm)), _mm_cvtss_f32(_mm_movehdup_ps(ds)), summ);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(dm, ds)), _mm256_cvtepi32_ps(p), acc);
    }
    return sv_avx2_hsum_ps(acc) + summ;
}

// Q5_0 · Q8_0: Σ (q−16)·y = Σ q·y − Σ 16·y with q = 0..31 unsigned, both through
// maddubs (pair sums ≤ 2·31·128), subtracted in int16 (|difference| ≤ 2·16·128).
// Exact for every activation byte, -128 included: the sign trick used for Q4_0 would
// cost as many instructions here and is not.
static inline __m256i sv_avx2_dot_q5_0_block(const sv_block_q5_0 *w, const int8_t *ys) {
    const __m256i y = _mm256_loadu_si256((const __m256i *)ys);
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(sv_avx2_unpack_q5(w->qs, w->qh), y),
                                       _mm256_maddubs_epi16(_mm256_set1_epi8(16), y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static float sv_vec_dot_q5_0_q8_0_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i p = sv_avx2_dot_q5_0_block(&w[i], x[i].qs);
        acc = _mm256_fmadd_ps(sv_avx2_scale2(w[i].d, x[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return sv_avx2_hsum_ps(acc);
}

// Q5_1 · Q8_1: q = 0..31 feeds maddubs directly (pair sums ≤ 2·31·128); the m·s
// terms are fused as in Q4_1 (ggml's q5_1 AVX2 branch has the same shape).
static float sv_vec_dot_q5_1_q8_1_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m256i p = sv_avx2_dot_u8_i8(sv_avx2_unpack_q5(w[i].qs, w[i].qh), _mm256_loadu_si256((const __m256i *)x[i].qs));
        const __m128 dm = sv_avx2_h2f_pair(&w[i].d), ds = sv_avx2_h2f_pair(&x[i].d); // [d, m], [d, s]
        summ = fmaf(_mm_cvtss_f32(_mm_movehdup_ps(dm)), _mm_cvtss_f32(_mm_movehdup_ps(ds)), summ);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(dm, ds)), _mm256_cvtepi32_ps(p), acc);
    }
    return sv_avx2_hsum_ps(acc) + summ;
}

// MARK: - K-quants against Q8_K

// The 12 packed bytes of Q4_K/Q5_K scales → 8 six-bit scales and 8 six-bit mins,
// four at a time: sub-blocks 0-3 sit in the low 6 bits of bytes 0-3 (scales) and
// 4-7 (mins); sub-blocks 4-7 take their low nibble from bytes 8-11 and their top
// two bits from the spare top bits of bytes 0-3 / 4-7.
static inline __m128i sv_avx2_k4_scales_mins(const uint8_t *p) {
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t sc_lo = a & 0x3F3F3F3Fu;
    const uint32_t mn_lo = b & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (c & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t mn_hi = ((c >> 4) & 0x0F0F0F0Fu) | (((b >> 6) & 0x03030303u) << 4);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi); // bytes: 8 scales, 8 mins
}

// Σ_sb min_sb * (Σ q8 over sub-block sb), from the 16 Q8_K group sums.
static inline __m128i sv_avx2_k4_min_dot(__m128i scales_mins, const int16_t *bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scales_mins, scales_mins));
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    // Group sums are ≤ 16*128 in magnitude, so pairwise int16 adds cannot overflow.
    const __m128i per_sb = _mm_hadd_epi16(b0, b1);
    return _mm_madd_epi16(mins, per_sb);
}

// pshufb masks broadcasting int16 scale sb (bytes 2sb, 2sb+1) to all 16 lanes.
#define SV_W(j) 2 * (j), 2 * (j) + 1
#define SV_W16(j) SV_W(j), SV_W(j), SV_W(j), SV_W(j), SV_W(j), SV_W(j), SV_W(j), SV_W(j)
static const uint8_t sv_avx2_k4_scale_bcast[8][32] = {
    {SV_W16(0), SV_W16(0)}, {SV_W16(1), SV_W16(1)}, {SV_W16(2), SV_W16(2)}, {SV_W16(3), SV_W16(3)},
    {SV_W16(4), SV_W16(4)}, {SV_W16(5), SV_W16(5)}, {SV_W16(6), SV_W16(6)}, {SV_W16(7), SV_W16(7)},
};
#undef SV_W16
#undef SV_W

static inline __m256i sv_avx2_k4_scale(__m256i scales16, int sb) {
    return _mm256_shuffle_epi8(scales16, _mm256_loadu_si256((const __m256i *)sv_avx2_k4_scale_bcast[sb]));
}

// One super-block's Σ scale·q·y as 8 int32 lanes, lane k holding elements 4k..4k+3 of every
// 32-element run (ggml's AVX2 layout). The integers are exact; the orders below differ only in
// how they turn these into floats.

// Q4 nibbles ≤ 15: maddubs pair sums stay ≤ 2*15*128.
static inline __m256i sv_avx2_q4_K_lanes(const sv_block_q4_K *w, const sv_block_q8_K *x, __m128i sm) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    // The 8 scales as int16, repeated in both 128-bit lanes for pshufb.
    const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const uint8_t *q4 = w->qs;
    const int8_t *q8 = x->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int sb = 0; sb < 8; sb += 2) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
        const __m256i lo = _mm256_and_si256(bits, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
        __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
        __m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
        p_lo = _mm256_madd_epi16(p_lo, sv_avx2_k4_scale(scales16, sb));
        p_hi = _mm256_madd_epi16(p_hi, sv_avx2_k4_scale(scales16, sb + 1));
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(p_lo, p_hi));
        q4 += 32;
        q8 += 64;
    }
    return acc;
}

// Q5 values ≤ 31: maddubs pair sums stay ≤ 2*31*128.
static inline __m256i sv_avx2_q5_K_lanes(const sv_block_q5_K *w, const sv_block_q8_K *x, __m128i sm) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const uint8_t *q5 = w->qs;
    const int8_t *q8 = x->qs;
    // qh[l] bit sb is the fifth bit of element l of sub-block sb. Shifting the whole
    // register right one bit per sub-block brings that bit to bit 0 of each byte; bits
    // leaking in from the neighbouring byte only reach bit 7 and up.
    __m256i hbits = _mm256_loadu_si256((const __m256i *)w->qh);
    __m256i acc = _mm256_setzero_si256();
    for (int sb = 0; sb < 8; sb += 2) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)q5);
        const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
        hbits = _mm256_srli_epi16(hbits, 1);
        const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
        hbits = _mm256_srli_epi16(hbits, 1);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, low4), h_lo);
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), low4), h_hi);
        __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
        __m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
        p_lo = _mm256_madd_epi16(p_lo, sv_avx2_k4_scale(scales16, sb));
        p_hi = _mm256_madd_epi16(p_hi, sv_avx2_k4_scale(scales16, sb + 1));
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(p_lo, p_hi));
        q5 += 32;
        q8 += 64;
    }
    return acc;
}

// pshufb masks that spread scale bytes 2k and 2k+1 over 8 bytes each, one 32-element
// run's worth of 16-element sub-blocks (widened to int16 afterwards).
static const uint8_t sv_avx2_q6_scale_pairs[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},
    {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13},
    {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

// Q6 is used unsigned (0..63, pair sums ≤ 2*63*128) and the -32 offset is taken out
// afterwards as 32 * Σ_g scale_g * bsum_g, lane k from groups 2k and 2k+1.
static inline __m256i sv_avx2_q6_K_lanes(const sv_block_q6_K *w, const sv_block_q8_K *x) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(0x03), m12 = _mm256_set1_epi8(0x0C);
    const __m256i m48 = _mm256_set1_epi8(0x30), m192 = _mm256_set1_epi8((char)0xC0);
    const __m128i scales = _mm_loadu_si128((const __m128i *)w->scales);
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)x->bsums);
    const __m256i off = _mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales));
    const uint8_t *ql = w->ql;
    const uint8_t *qh = w->qh;
    const int8_t *q8 = x->qs;
    __m256i acc = _mm256_setzero_si256();
    for (int half = 0; half < 2; half++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(h, m12), 2));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(h, m48));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), _mm256_srli_epi16(_mm256_and_si256(h, m192), 2));
        for (int r = 0; r < 4; r++) {
            const __m256i p = _mm256_maddubs_epi16(q[r], _mm256_loadu_si256((const __m256i *)(q8 + 32 * r)));
            const __m128i pair = _mm_shuffle_epi8(scales, _mm_loadu_si128((const __m128i *)sv_avx2_q6_scale_pairs[4 * half + r]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_cvtepi8_epi16(pair)));
        }
        ql += 64;
        qh += 32;
        q8 += 128;
    }
    return _mm256_sub_epi32(acc, _mm256_slli_epi32(off, 5));
}

// Σ of the min term's integers over a super-block: Σ_sb min_sb · Σ y over sub-block sb.
static inline int sv_avx2_k4_min_sum(__m128i sm, const int16_t *bsums) {
    return sv_avx2_hsum_epi32(_mm256_castsi128_si256(sv_avx2_k4_min_dot(sm, bsums)));
}

// MARK: - ggml's AVX2 vec_dot order

// Q4_K: one 8-lane accumulator for d·lanes and a 4-lane one for the min term.
static float sv_vec_dot_q4_K_q8_K_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    __m256 accf = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        const __m128 dd = _mm_mul_ps(sv_avx2_h2f_pair(&w[i].d), _mm_set1_ps(x[i].d)); // d, dmin
        accf = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sv_avx2_q4_K_lanes(&w[i], &x[i], sm)), accf);
        accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, _MM_SHUFFLE(1, 1, 1, 1)), _mm_cvtepi32_ps(sv_avx2_k4_min_dot(sm, x[i].bsums)), accm);
    }
    return sv_avx2_hsum_ps(accf) - sv_avx2_hsum_ps128(accm);
}

// Q5_K (unlike Q4_K) sums the min term's integers first and chains one scalar FMA per
// super-block (GCC contracts ggml's `summs += dmin * int`).
static float sv_vec_dot_q5_K_q8_K_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    __m256 accf = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        const __m128 dd = _mm_mul_ps(sv_avx2_h2f_pair(&w[i].d), _mm_set1_ps(x[i].d)); // d, dmin
        accf = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sv_avx2_q5_K_lanes(&w[i], &x[i], sm)), accf);
        summ = fmaf(_mm_cvtss_f32(_mm_movehdup_ps(dd)), (float)sv_avx2_k4_min_sum(sm, x[i].bsums), summ);
    }
    return sv_avx2_hsum_ps(accf) - summ;
}

static float sv_vec_dot_q6_K_q8_K_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    __m256 accf = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SV_QK_K; i++)
        accf = _mm256_fmadd_ps(_mm256_set1_ps(sv_avx2_h2f(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sv_avx2_q6_K_lanes(&w[i], &x[i])), accf);
    return sv_avx2_hsum_ps(accf);
}

// MARK: - llama.cpp's tiled K-quant GEMM order (8 or more activation rows)

// Per super-block r = isum·d, minus dmin·imin in one FMA, then acc = r·d_x + acc in another
// (sv_vec_dot_*_tiled_generic).
static inline float sv_tiled_step(float acc, int isum, int imin, float d, float dmin, float dx) {
    return fmaf(fmaf(-dmin, (float)imin, (float)isum * d), dx, acc);
}

static float sv_vec_dot_q4_K_q8_K_tiled_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        acc = sv_tiled_step(acc, sv_avx2_hsum_epi32(sv_avx2_q4_K_lanes(&w[i], &x[i], sm)), sv_avx2_k4_min_sum(sm, x[i].bsums),
                            sv_avx2_h2f(w[i].d), sv_avx2_h2f(w[i].dmin), x[i].d);
    }
    return acc;
}

static float sv_vec_dot_q5_K_q8_K_tiled_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        acc = sv_tiled_step(acc, sv_avx2_hsum_epi32(sv_avx2_q5_K_lanes(&w[i], &x[i], sm)), sv_avx2_k4_min_sum(sm, x[i].bsums),
                            sv_avx2_h2f(w[i].d), sv_avx2_h2f(w[i].dmin), x[i].d);
    }
    return acc;
}

static float sv_vec_dot_q6_K_q8_K_tiled_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++)
        acc = sv_tiled_step(acc, sv_avx2_hsum_epi32(sv_avx2_q6_K_lanes(&w[i], &x[i])), 0, sv_avx2_h2f(w[i].d), 0.0f, x[i].d);
    return acc;
}

// MARK: - llama.cpp's repacked Q4_0 / Q4_K orders

// Twins of vec_dot_x86_order.c's chains: the integers per block (or per 64 elements) come from
// the SIMD code above, the float part is the same scalar FMA chain, so the bits are the oracle's.

// Four Q4_0 blocks' integer dots at once, reduced together (one horizontal reduction per four
// blocks instead of four).
static float sv_vec_dot_q4_0_q8_0_chain_avx2(int64_t n, const void *vw, const void *vx) {
    const __m256i eight = _mm256_set1_epi8(8);
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    float acc = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m256i p[4];
        for (int b = 0; b < 4; b++)
            p[b] = sv_avx2_dot_i8_i8(_mm256_sub_epi8(sv_avx2_unpack_nibbles(w[i + b].qs), eight),
                                     _mm256_loadu_si256((const __m256i *)x[i + b].qs));
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        int sums[4];
        _mm_storeu_si128((__m128i *)sums, _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
        for (int b = 0; b < 4; b++)
            acc = fmaf((float)sums[b], sv_avx2_h2f(w[i + b].d) * sv_avx2_h2f(x[i + b].d), acc);
    }
    for (; i < nb; i++) {
        const __m256i p = sv_avx2_dot_i8_i8(_mm256_sub_epi8(sv_avx2_unpack_nibbles(w[i].qs), eight),
                                            _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = fmaf((float)sv_avx2_hsum_epi32(p), sv_avx2_h2f(w[i].d) * sv_avx2_h2f(x[i].d), acc);
    }
    return acc;
}

// The GEMV: one FMA per super-block.
static float sv_vec_dot_q4_K_q8_K_chain_avx2(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f, accm = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        acc = fmaf((float)sv_avx2_hsum_epi32(sv_avx2_q4_K_lanes(&w[i], &x[i], sm)), sv_avx2_h2f(w[i].d) * x[i].d, acc);
        accm = fmaf((float)sv_avx2_k4_min_sum(sm, x[i].bsums), sv_avx2_h2f(w[i].dmin) * x[i].d, accm);
    }
    return acc - accm;
}

// The GEMM: one FMA per 64 elements (two sub-blocks).
static float sv_vec_dot_q4_K_q8_K_chain64_avx2(int64_t n, const void *vw, const void *vx) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const sv_block_q4_K *w = vw;
    const sv_block_q8_K *x = vx;
    float acc = 0.0f, accm = 0.0f;
    for (int64_t i = 0; i < n / SV_QK_K; i++) {
        const __m128i sm = sv_avx2_k4_scales_mins(w[i].scales);
        const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const float d = sv_avx2_h2f(w[i].d) * x[i].d, dmin = sv_avx2_h2f(w[i].dmin) * x[i].d;
        int mins[4];
        _mm_storeu_si128((__m128i *)mins, sv_avx2_k4_min_dot(sm, x[i].bsums)); // one per 64 elements
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        for (int sb = 0; sb < 8; sb += 2) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(bits, low4), _mm256_loadu_si256((const __m256i *)q8)),
                                                   sv_avx2_k4_scale(scales16, sb));
            const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), low4),
                                                                        _mm256_loadu_si256((const __m256i *)(q8 + 32))),
                                                   sv_avx2_k4_scale(scales16, sb + 1));
            acc = fmaf((float)sv_avx2_hsum_epi32(_mm256_add_epi32(p_lo, p_hi)), d, acc);
            accm = fmaf((float)mins[sb / 2], dmin, accm);
            q4 += 32;
            q8 += 64;
        }
    }
    return acc - accm;
}

// MARK: - Register-tiled twins of the K-quant orders

// One weight row against up to 4 activation rows, the activation rows in the 4 lanes of an
// xmm: each lane's arithmetic is the scalar order's (lane-wise FMAs round as fmaf does), so
// every output has the bits of sv_vec_dot_q4_K_q8_K_chain64 / *_tiled. The weight's nibbles
// and scales are unpacked once for the 4 rows.

// Σ of each of four 8-lane int32 vectors, as the 4 lanes of an xmm.
static inline __m128i sv_avx2_hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

enum { SV_ORDER_Q4_K_CHAIN64, SV_ORDER_Q4_K_TILED, SV_ORDER_Q5_K_TILED };

static inline __attribute__((always_inline)) void sv_korder_tile_avx2(
    const int ORDER, const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,
    float *y, int64_t ys) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m128 acc[4], accm[4];
    for (int i = 0; i < RM; i++) acc[i] = accm[i] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        // Lanes past RN repeat row 0; their results are never stored.
        const sv_block_q8_K *xb[4];
        for (int j = 0; j < 4; j++) xb[j] = (const sv_block_q8_K *)(x + (size_t)(j < RN ? j : 0) * xs) + b;
        const __m128 dx = _mm_setr_ps(xb[0]->d, xb[1]->d, xb[2]->d, xb[3]->d);
        for (int i = 0; i < RM; i++) {
            const char *wrow = w + (size_t)i * ws;
            __m128i sm;
            float dw, dmw;
            if (ORDER == SV_ORDER_Q5_K_TILED) {
                const sv_block_q5_K *wb = (const sv_block_q5_K *)wrow + b;
                sm = sv_avx2_k4_scales_mins(wb->scales);
                dw = sv_avx2_h2f(wb->d), dmw = sv_avx2_h2f(wb->dmin);
                __m256i l[4];
                for (int j = 0; j < 4; j++) l[j] = sv_avx2_q5_K_lanes(wb, xb[j], sm);
                const __m128i isum = sv_avx2_hsum4_epi32(l[0], l[1], l[2], l[3]);
                const __m128i imin = _mm_setr_epi32(sv_avx2_k4_min_sum(sm, xb[0]->bsums), sv_avx2_k4_min_sum(sm, xb[1]->bsums),
                                                    sv_avx2_k4_min_sum(sm, xb[2]->bsums), sv_avx2_k4_min_sum(sm, xb[3]->bsums));
                const __m128 r = _mm_fnmadd_ps(_mm_set1_ps(dmw), _mm_cvtepi32_ps(imin), _mm_mul_ps(_mm_cvtepi32_ps(isum), _mm_set1_ps(dw)));
                acc[i] = _mm_fmadd_ps(r, dx, acc[i]);
                continue;
            }
            const sv_block_q4_K *wb = (const sv_block_q4_K *)wrow + b;
            sm = sv_avx2_k4_scales_mins(wb->scales);
            dw = sv_avx2_h2f(wb->d), dmw = sv_avx2_h2f(wb->dmin);
            const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            __m256i blk[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
            // chain64: the min integers per 64 elements, transposed to one xmm (over rows) per 64.
            __m128i minT[4];
            if (ORDER == SV_ORDER_Q4_K_CHAIN64) {
                __m128i m[4];
                for (int j = 0; j < 4; j++) m[j] = sv_avx2_k4_min_dot(sm, xb[j]->bsums);
                const __m128i t0 = _mm_unpacklo_epi32(m[0], m[1]), t1 = _mm_unpackhi_epi32(m[0], m[1]);
                const __m128i t2 = _mm_unpacklo_epi32(m[2], m[3]), t3 = _mm_unpackhi_epi32(m[2], m[3]);
                minT[0] = _mm_unpacklo_epi64(t0, t2), minT[1] = _mm_unpackhi_epi64(t0, t2);
                minT[2] = _mm_unpacklo_epi64(t1, t3), minT[3] = _mm_unpackhi_epi64(t1, t3);
            }
            const __m128 d = _mm_mul_ps(_mm_set1_ps(dw), dx), dmin = _mm_mul_ps(_mm_set1_ps(dmw), dx);
            for (int sb = 0; sb < 8; sb += 2) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(wb->qs + 16 * sb));
                const __m256i lo = _mm256_and_si256(bits, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
                const __m256i s_lo = sv_avx2_k4_scale(scales16, sb), s_hi = sv_avx2_k4_scale(scales16, sb + 1);
                __m256i p[4];
                for (int j = 0; j < 4; j++) {
                    const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xb[j]->qs + 32 * sb))), s_lo);
                    const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xb[j]->qs + 32 * sb + 32))), s_hi);
                    p[j] = _mm256_add_epi32(p_lo, p_hi);
                }
                if (ORDER == SV_ORDER_Q4_K_CHAIN64) {
                    acc[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(sv_avx2_hsum4_epi32(p[0], p[1], p[2], p[3])), d, acc[i]);
                    accm[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(minT[sb / 2]), dmin, accm[i]);
                } else {
                    for (int j = 0; j < 4; j++) blk[j] = _mm256_add_epi32(blk[j], p[j]);
                }
            }
            if (ORDER == SV_ORDER_Q4_K_TILED) {
                const __m128i isum = sv_avx2_hsum4_epi32(blk[0], blk[1], blk[2], blk[3]);
                const __m128i imin = _mm_setr_epi32(sv_avx2_k4_min_sum(sm, xb[0]->bsums), sv_avx2_k4_min_sum(sm, xb[1]->bsums),
                                                    sv_avx2_k4_min_sum(sm, xb[2]->bsums), sv_avx2_k4_min_sum(sm, xb[3]->bsums));
                const __m128 r = _mm_fnmadd_ps(_mm_set1_ps(dmw), _mm_cvtepi32_ps(imin), _mm_mul_ps(_mm_cvtepi32_ps(isum), _mm_set1_ps(dw)));
                acc[i] = _mm_fmadd_ps(r, dx, acc[i]);
            }
        }
    }
    for (int i = 0; i < RM; i++) {
        float out[4];
        _mm_storeu_ps(out, ORDER == SV_ORDER_Q4_K_CHAIN64 ? _mm_sub_ps(acc[i], accm[i]) : acc[i]);
        for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = out[j];
    }
}

#define SV_Q4K_CHAIN64_BODY(RM, RN, ...) sv_korder_tile_avx2(SV_ORDER_Q4_K_CHAIN64, RM, RN, __VA_ARGS__)
#define SV_Q4K_TILED_BODY(RM, RN, ...) sv_korder_tile_avx2(SV_ORDER_Q4_K_TILED, RM, RN, __VA_ARGS__)
#define SV_Q5K_TILED_BODY(RM, RN, ...) sv_korder_tile_avx2(SV_ORDER_Q5_K_TILED, RM, RN, __VA_ARGS__)
SV_GEMM_TILE_FNS(sv_gemm_q4_K_q8_K_chain64_, _avx2, SV_Q4K_CHAIN64_BODY)
SV_GEMM_TILE_FNS(sv_gemm_q4_K_q8_K_tiled_, _avx2, SV_Q4K_TILED_BODY)
SV_GEMM_TILE_FNS(sv_gemm_q5_K_q8_K_tiled_, _avx2, SV_Q5K_TILED_BODY)

static void sv_gemm_q4_K_q8_K_chain64_avx2(int64_t n, const void *w, size_t ws, int64_t nr,
                                           const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q4_K_q8_K_chain64_, _avx2);
    sv_gemm_walk(tiles, 1, 4, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

static void sv_gemm_q4_K_q8_K_tiled_avx2(int64_t n, const void *w, size_t ws, int64_t nr,
                                         const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q4_K_q8_K_tiled_, _avx2);
    sv_gemm_walk(tiles, 1, 4, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

static void sv_gemm_q5_K_q8_K_tiled_avx2(int64_t n, const void *w, size_t ws, int64_t nr,
                                         const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q5_K_q8_K_tiled_, _avx2);
    sv_gemm_walk(tiles, 1, 4, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

// MARK: - GELU

// sv_gelu_f16_table 8 lanes at a time (see the AVX-512 twin): vcvtps2ph rounds as the scalar
// path does, a gather reads the table, compares take the ±10 cut-offs.
static void sv_gelu_f16_table_avx2(int64_t n, const float *x, float *y, const float *table) {
    const int64_t nv = n - n % 8;
    for (int64_t i = 0; i < nv; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256 g = _mm256_i32gather_ps(table, h, 4);
        g = _mm256_blendv_ps(g, v, _mm256_cmp_ps(v, _mm256_set1_ps(10.0f), _CMP_GE_OQ));
        g = _mm256_and_ps(g, _mm256_cmp_ps(v, _mm256_set1_ps(-10.0f), _CMP_NLE_UQ));
        _mm256_storeu_ps(y + i, g);
    }
    if (nv < n) sv_gelu_f16_table(n - nv, x + nv, y + nv, table);
}

// MARK: - Image resampling

// Twins of Kernels/generic/resample.c. int32 products of a byte and a 22-bit weight, summed
// with wrapping adds, shifted and clamped by the saturating packs: the same bytes.

// Vertical: 32 output bytes at a time, every tap into 4 registers of 8 int32.
static void sv_resample_v_u8_avx2(const uint8_t *src, int64_t row_elems, uint8_t *dst, int64_t out_h0, int64_t out_h1,
                                  const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const __m256i half = _mm256_set1_epi32(1 << (SV_RESAMPLE_PRECISION_BITS - 1));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t yy = out_h0; yy < out_h1; yy++) {
        const int32_t *w = weights + yy * ksize;
        const uint8_t *base = src + (int64_t)first[yy] * row_elems;
        uint8_t *out = dst + yy * row_elems;
        int64_t i = 0;
        for (; i + 32 <= row_elems; i += 32) {
            __m256i a0 = half, a1 = half, a2 = half, a3 = half;
            const uint8_t *p = base + i;
            for (int32_t k = 0; k < count[yy]; k++, p += row_elems) {
                const __m256i wk = _mm256_set1_epi32(w[k]);
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), wk));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))), wk));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16))), wk));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24))), wk));
            }
            const int sh = SV_RESAMPLE_PRECISION_BITS;
            const __m256i p01 = _mm256_packs_epi32(_mm256_srai_epi32(a0, sh), _mm256_srai_epi32(a1, sh));
            const __m256i p23 = _mm256_packs_epi32(_mm256_srai_epi32(a2, sh), _mm256_srai_epi32(a3, sh));
            _mm256_storeu_si256((__m256i *)(out + i), _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23), order));
        }
        for (; i < row_elems; i++) {
            uint32_t acc = 1u << (SV_RESAMPLE_PRECISION_BITS - 1);
            for (int32_t k = 0; k < count[yy]; k++) acc += (uint32_t)base[k * row_elems + i] * (uint32_t)w[k];
            const int32_t v = (int32_t)acc >> SV_RESAMPLE_PRECISION_BITS;
            out[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
    }
}

// Horizontal: one output pixel's three channels in the low lanes of an xmm, one product per tap.
static void sv_resample_h_rgb8_avx2(const uint8_t *src, int64_t in_w, int64_t rows, uint8_t *dst, int64_t out_w,
                                    const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const __m128i half = _mm_set1_epi32(1 << (SV_RESAMPLE_PRECISION_BITS - 1));
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *row = src + y * in_w * 3;
        uint8_t *out = dst + y * out_w * 3;
        for (int64_t xx = 0; xx < out_w; xx++) {
            // Each tap loads 4 bytes (a pixel and the next byte): the last pixel of the last row
            // has no next byte, and the last output of a row must not touch the next row.
            if ((y == rows - 1 && first[xx] + count[xx] == in_w) || xx == out_w - 1) {
                sv_resample_h_rgb8_generic(row, in_w, 1, out + 3 * xx, 1, first + xx, count + xx, weights + xx * ksize, ksize);
                continue;
            }
            __m128i acc = half;
            const uint8_t *p = row + (int64_t)first[xx] * 3;
            const int32_t *w = weights + xx * ksize;
            for (int32_t k = 0; k < count[xx]; k++, p += 3) {
                int32_t px;
                memcpy(&px, p, 4);
                acc = _mm_add_epi32(acc, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(px)), _mm_set1_epi32(w[k])));
            }
            const __m128i v = _mm_packs_epi32(_mm_srai_epi32(acc, SV_RESAMPLE_PRECISION_BITS), _mm_setzero_si128());
            const int32_t b = _mm_cvtsi128_si32(_mm_packus_epi16(v, v));
            memcpy(out + 3 * xx, &b, 4); // the fourth byte is the next pixel's, written next
        }
    }
}

// MARK: - Attention

// Twins of Kernels/generic/transformer.c's attention, bit-identical (see the AVX-512 twins,
// which these follow with 8 lanes: a 16-lane group of the scalar code is two registers).

enum { SV_ATTN_TILE_AVX2 = 64 };

// sv_ggml_expf_avx512_lane on 8 lanes: the same polynomial; vscalefps' j·2^n (one rounding)
// as j·2^(n>>1) (exact: j is about 1 and the factor at least 2^-96) times 2^(n - (n>>1)).
static inline __m256 sv_ggml_expf_avx512_avx2(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    // Lanes with |n| > 192 or NaN are replaced below, whatever the conversion gave.
    const __m256i ni = _mm256_cvttps_epi32(_mm256_andnot_ps(big, n));
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 res = _mm256_mul_ps(_mm256_mul_ps(j, p1), p2);
    const __m256 alt = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(INFINITY));
    res = _mm256_blendv_ps(res, alt, big);
    return _mm256_blendv_ps(res, n, _mm256_cmp_ps(n, n, _CMP_UNORD_Q));
}

// The scalar's 16-lane group sum, lanes 0-7 in lo and 8-15 in hi.
static inline float sv_attn_group_sum16_avx2(__m256 lo, __m256 hi) {
    const __m256 a = _mm256_add_ps(lo, hi);
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

static void sv_attn_widen_tile_avx2(int64_t d, const sv_half *keys, const sv_half *values, int64_t stride,
                                    int64_t nt, float *kt, float *vt) {
    for (int64_t t = 0; t < nt; t++) {
        const sv_half *key = keys + t * stride, *value = values + t * stride;
        for (int64_t i = 0; i < d; i += 8) {
            float tmp[8];
            _mm256_storeu_ps(tmp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(key + i))));
            for (int l = 0; l < 8; l++) kt[(i + l) * SV_ATTN_TILE_AVX2 + t] = tmp[l];
            _mm256_storeu_ps(vt + t * d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(value + i))));
        }
    }
    for (int64_t t = nt; t < SV_ATTN_TILE_AVX2; t++) {
        for (int64_t i = 0; i < d; i++) kt[i * SV_ATTN_TILE_AVX2 + t] = 0.0f;
    }
}

static void sv_attn_tile_row_avx2(int64_t d, const float *q, const float *kt, const float *vt, int64_t nt,
                                  float scale, float *out, float *M, float *S, float *kq) {
    __m256 s[8];
    for (int c = 0; c < 8; c++) s[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < d; i++) {
        const __m256 qi = _mm256_set1_ps(q[i]);
        const float *k = kt + i * SV_ATTN_TILE_AVX2;
        for (int c = 0; c < 8; c++) s[c] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + 8 * c), s[c]);
    }
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 valid[8];
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int c = 0; c < 8; c++) {
        s[c] = _mm256_mul_ps(s[c], vscale);
        valid[c] = _mm256_cmp_ps(lane, _mm256_set1_ps((float)(nt - 8 * c)), _CMP_LT_OQ);
        // The scalar `if (kq > max)` skips NaN scores; so does this.
        const __m256 m = _mm256_and_ps(valid[c], _mm256_cmp_ps(s[c], s[c], _CMP_ORD_Q));
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s[c], m));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    const float tile_max = _mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1)));
    const float Mold = *M;
    const float Mnew = fmaxf(Mold, tile_max);
    float Sr = *S;
    if (Mnew > Mold) {
        const float ms = expf(Mold - Mnew);
        const __m256 vms = _mm256_set1_ps(ms);
        for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), vms));
        Sr *= ms;
    }
    *M = Mnew;
    const __m256 vM = _mm256_set1_ps(Mnew);
    __m256 e[8];
    for (int c = 0; c < 8; c++) {
        e[c] = _mm256_and_ps(valid[c], sv_ggml_expf_avx512_avx2(_mm256_sub_ps(s[c], vM)));
        _mm256_storeu_ps(kq + 8 * c, e[c]);
    }
    double sum = 0.0;
    for (int c = 0; c < 8; c += 2) sum += (double)sv_attn_group_sum16_avx2(e[c], e[c + 1]);
    *S = (float)((double)Sr + sum);
    int64_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m256 a0 = _mm256_loadu_ps(out + i), a1 = _mm256_loadu_ps(out + i + 8);
        __m256 a2 = _mm256_loadu_ps(out + i + 16), a3 = _mm256_loadu_ps(out + i + 24);
        for (int64_t t = 0; t < nt; t++) {
            const __m256 p = _mm256_set1_ps(kq[t]);
            const float *v = vt + t * d + i;
            a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), a0);
            a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), a1);
            a2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), a2);
            a3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), a3);
        }
        _mm256_storeu_ps(out + i, a0);
        _mm256_storeu_ps(out + i + 8, a1);
        _mm256_storeu_ps(out + i + 16, a2);
        _mm256_storeu_ps(out + i + 24, a3);
    }
    for (; i < d; i += 8) {
        __m256 a = _mm256_loadu_ps(out + i);
        for (int64_t t = 0; t < nt; t++) a = _mm256_fmadd_ps(_mm256_set1_ps(kq[t]), _mm256_loadu_ps(vt + t * d + i), a);
        _mm256_storeu_ps(out + i, a);
    }
}

static void sv_attention_block_f32acc_avx2(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                                           const sv_half *keys, const sv_half *values, int64_t kv_stride,
                                           int64_t n_kv, int causal, float scale,
                                           float *out, int64_t out_stride, float *scratch) {
    if (d <= 0 || d % 8 != 0) {
        sv_attention_block_f32acc(d, n_rows, q, q_stride, keys, values, kv_stride, n_kv, causal, scale,
                                  out, out_stride, scratch);
        return;
    }
    float *kt = scratch, *vt = kt + SV_ATTN_TILE_AVX2 * d, *kq = vt + SV_ATTN_TILE_AVX2 * d;
    float *rowM = kq + SV_ATTN_TILE_AVX2, *rowS = rowM + n_rows;
    for (int64_t r = 0; r < n_rows; r++) {
        rowM[r] = -INFINITY;
        rowS[r] = 0.0f;
        for (int64_t i = 0; i < d; i++) out[r * out_stride + i] = 0.0f;
    }
    const int64_t n_max = causal ? n_kv + n_rows - 1 : n_kv;
    for (int64_t t0 = 0; t0 < n_max; t0 += SV_ATTN_TILE_AVX2) {
        const int64_t tile = n_max - t0 < SV_ATTN_TILE_AVX2 ? n_max - t0 : SV_ATTN_TILE_AVX2;
        sv_attn_widen_tile_avx2(d, keys + t0 * kv_stride, values + t0 * kv_stride, kv_stride, tile, kt, vt);
        for (int64_t r = 0; r < n_rows; r++) {
            const int64_t n_r = causal ? n_kv + r : n_kv;
            if (n_r <= t0) continue;
            const int64_t nt = n_r - t0 < SV_ATTN_TILE_AVX2 ? n_r - t0 : SV_ATTN_TILE_AVX2;
            sv_attn_tile_row_avx2(d, q + r * q_stride, kt, vt, nt, scale, out + r * out_stride, &rowM[r], &rowS[r], kq);
        }
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const __m256 vinv = _mm256_set1_ps(rowS[r] == 0.0f ? 0.0f : 1.0f / rowS[r]);
        float *o = out + r * out_stride;
        for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), vinv));
    }
}

// sv_dot_f16_ggml_avx512 (n a multiple of 64) against q already widened: its four 16-lane
// accumulators as eight 8-lane ones, reduced in its order.
static inline float sv_attn_dot_f16_avx2(int64_t n, const sv_half *x, const float *y) {
    __m256 a[8];
    for (int c = 0; c < 8; c++) a[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 64) {
        for (int c = 0; c < 8; c++) {
            a[c] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * c))),
                                   _mm256_loadu_ps(y + i + 8 * c), a[c]);
        }
    }
    // Accumulator j is a[2j] (lanes 0-7) and a[2j + 1] (lanes 8-15).
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]));
    return sv_attn_group_sum16_avx2(lo, hi);
}

static inline __m256 sv_round_f16_avx2(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

enum { SV_ATTN_F16_MAX_D_AVX2 = 256 };

static void sv_attn_f16acc_loop_avx2(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                     const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                     sv_half *scratch, float *acc, float *m_out, float *s_out) {
    float qf[SV_ATTN_F16_MAX_D_AVX2];
    k->from_float[SV_TYPE_F16](q, scratch, d);
    for (int64_t i = 0; i < d; i += 8) {
        _mm256_storeu_ps(qf + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scratch + i))));
        _mm256_storeu_ps(acc + i, _mm256_setzero_ps());
    }
    float S = 0.0f, M = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        const float s = sv_attn_dot_f16_avx2(d, keys + j * stride, qf) * scale;
        const sv_half *v = values + j * stride;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            const float Mold = M;
            M = s;
            ms = expf(Mold - M);
            const __m256 vms = _mm256_set1_ps(ms);
            for (int64_t i = 0; i < d; i += 8) {
                _mm256_storeu_ps(acc + i, sv_round_f16_avx2(_mm256_mul_ps(_mm256_loadu_ps(acc + i), vms)));
            }
        } else {
            vs = expf(s - M);
        }
        const __m256 vvs = _mm256_set1_ps(vs);
        for (int64_t i = 0; i < d; i += 8) {
            const __m256 vi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
            _mm256_storeu_ps(acc + i, sv_round_f16_avx2(_mm256_fmadd_ps(vi, vvs, _mm256_loadu_ps(acc + i))));
        }
        S = fmaf(S, ms, vs);
    }
    *m_out = M;
    *s_out = S;
}

static void sv_attention_row_f16acc_avx2(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                         const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                         float *out, sv_half *scratch) {
    if (d <= 0 || d % 64 != 0 || d > SV_ATTN_F16_MAX_D_AVX2) {
        sv_attention_row_f16acc(k, d, q, keys, values, stride, n_kv, scale, out, scratch);
        return;
    }
    float acc[SV_ATTN_F16_MAX_D_AVX2], M, S;
    sv_attn_f16acc_loop_avx2(k, d, q, keys, values, stride, n_kv, scale, scratch, acc, &M, &S);
    const __m256 vinv = _mm256_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
    for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(acc + i), vinv));
}

static void sv_attention_row_f16acc_partial_avx2(const sv_kernels *k, int64_t d, const float *q,
                                                 const sv_half *keys, const sv_half *values, int64_t stride,
                                                 int64_t n_kv, float scale, float *partial, sv_half *scratch) {
    if (d <= 0 || d % 64 != 0 || d > SV_ATTN_F16_MAX_D_AVX2) {
        sv_attention_row_f16acc_partial(k, d, q, keys, values, stride, n_kv, scale, partial, scratch);
        return;
    }
    sv_attn_f16acc_loop_avx2(k, d, q, keys, values, stride, n_kv, scale, scratch, partial + 2, &partial[0], &partial[1]);
}

// MARK: - Register-tiled products
//
// gemm_q8_0_q8_0: RM weight rows × RN activation rows per tile, each output its own 8-lane
// accumulator taking exactly sv_vec_dot_q8_0_q8_0_avx2's steps (the sign trick, maddubs,
// madd, fma(d_w·d_x, lanes, acc) block after block, the same hsum), so every output is that
// vec_dot's float bit for bit. A weight block is loaded (and its |w| taken) once for RN
// activation rows, an activation block once for RM weight rows; the RM·RN scale products
// (exact conversions, one rounding each, as scale2) come from two conversions and two
// multiplies per block and reach each pair's FMA as a broadcast load.
#ifndef SV_GEMM_Q8_0_AVX2_RM
#define SV_GEMM_Q8_0_AVX2_RM 2
#endif
#ifndef SV_GEMM_Q8_0_AVX2_RN
#define SV_GEMM_Q8_0_AVX2_RN 4
#endif

static inline __attribute__((always_inline)) void sv_gemm_q8_0_q8_0_tile_avx2(
    const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,
    float *y, int64_t ys) {
    __m256 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i yq[4];
        uint64_t hw = 0, hx = 0;
        for (int j = 0; j < RN; j++) {
            const sv_block_q8_0 *xb = (const sv_block_q8_0 *)(x + (size_t)j * xs) + b;
            yq[j] = _mm256_loadu_si256((const __m256i *)xb->qs);
            hx |= (uint64_t)xb->d << (16 * j);
        }
        for (int i = 0; i < RM; i++) hw |= (uint64_t)((const sv_block_q8_0 *)(w + (size_t)i * ws) + b)->d << (16 * i);
        // sc[4i + j] = d_w[i] · d_x[j], read back through volatile so each pair gets a
        // broadcast load rather than shuffles the compiler would rebuild it with.
        const __m256 fw = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hw)));
        const __m256 fxx = _mm256_castsi256_ps(_mm256_broadcastsi128_si256(_mm_castps_si128(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hx)))));
        __attribute__((aligned(32))) float sc[16];
        _mm256_store_ps(sc, _mm256_mul_ps(_mm256_permutevar8x32_ps(fw, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)), fxx));
        if (RM > 2) _mm256_store_ps(sc + 8, _mm256_mul_ps(_mm256_permutevar8x32_ps(fw, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)), fxx));
        for (int i = 0; i < RM; i++) {
            const sv_block_q8_0 *wb = (const sv_block_q8_0 *)(w + (size_t)i * ws) + b;
            const __m256i wv = _mm256_loadu_si256((const __m256i *)wb->qs);
            const __m256i wa = _mm256_sign_epi8(wv, wv);
            for (int j = 0; j < RN; j++) {
                const __m256i p = sv_avx2_dot_u8_i8(wa, _mm256_sign_epi8(yq[j], wv));
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(((volatile float *)sc)[4 * i + j]), _mm256_cvtepi32_ps(p), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = sv_avx2_hsum_ps(acc[i][j]);
}

SV_GEMM_TILE_FNS(sv_gemm_q8_0_q8_0_, _avx2, sv_gemm_q8_0_q8_0_tile_avx2)

static void sv_gemm_q8_0_q8_0_avx2(int64_t n, const void *w, size_t ws, int64_t nr,
                                   const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q8_0_q8_0_, _avx2);
    sv_gemm_walk(tiles, SV_GEMM_Q8_0_AVX2_RM, SV_GEMM_Q8_0_AVX2_RN, n / SV_QK8_0, w, ws, nr, x, xs, nc, y, ys);
}

// gemm_q4_K_q8_K: sv_vec_dot_q4_K_q8_K_avx2's steps for each of RM × RN pairs (the same
// instructions on the same operands, so the same int32 lanes, the same d·d_x and dmin·d_x
// products, the same FMAs into the pair's own accf and accm, the same final reduction).
// What the tile shares: a weight super-block's scales and mins are unpacked once, and each
// 64-quant step's nibbles and scale vectors once, for RN activation rows; an activation
// step's 64 bytes are loaded once for RM weight rows. 1 × 4 measured fastest (2 × 2 and
// wider spill: each weight row holds its nibbles and two scale vectors per step).
#ifndef SV_GEMM_Q4_K_AVX2_RM
#define SV_GEMM_Q4_K_AVX2_RM 1
#endif
#ifndef SV_GEMM_Q4_K_AVX2_RN
#define SV_GEMM_Q4_K_AVX2_RN 4
#endif

static inline __attribute__((always_inline)) void sv_gemm_q4_K_q8_K_tile_avx2(
    const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,
    float *y, int64_t ys) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 accf[4][4];
    __m128 accm[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) accf[i][j] = _mm256_setzero_ps(), accm[i][j] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const sv_block_q4_K *wb[4];
        const sv_block_q8_K *xb[4];
        __m128i sm[4];
        __m256i scales16[4], acc[4][4];
        for (int i = 0; i < RM; i++) {
            wb[i] = (const sv_block_q4_K *)(w + (size_t)i * ws) + b;
            sm[i] = sv_avx2_k4_scales_mins(wb[i]->scales);
            scales16[i] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm[i]));
        }
        for (int j = 0; j < RN; j++) xb[j] = (const sv_block_q8_K *)(x + (size_t)j * xs) + b;
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_si256();
        for (int sb = 0; sb < 8; sb += 2) {
            __m256i y_lo[4], y_hi[4];
            for (int j = 0; j < RN; j++) {
                y_lo[j] = _mm256_loadu_si256((const __m256i *)(xb[j]->qs + 32 * sb));
                y_hi[j] = _mm256_loadu_si256((const __m256i *)(xb[j]->qs + 32 * sb + 32));
            }
            for (int i = 0; i < RM; i++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(wb[i]->qs + 16 * sb));
                const __m256i lo = _mm256_and_si256(bits, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
                const __m256i s_lo = sv_avx2_k4_scale(scales16[i], sb), s_hi = sv_avx2_k4_scale(scales16[i], sb + 1);
                for (int j = 0; j < RN; j++) {
                    const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y_lo[j]), s_lo);
                    const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y_hi[j]), s_hi);
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_add_epi32(p_lo, p_hi));
                }
            }
        }
        for (int i = 0; i < RM; i++) {
            const __m128 dm = sv_avx2_h2f_pair(&wb[i]->d);
            for (int j = 0; j < RN; j++) {
                const __m128 dd = _mm_mul_ps(dm, _mm_set1_ps(xb[j]->d)); // d, dmin
                accf[i][j] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(acc[i][j]), accf[i][j]);
                accm[i][j] = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, _MM_SHUFFLE(1, 1, 1, 1)), _mm_cvtepi32_ps(sv_avx2_k4_min_dot(sm[i], xb[j]->bsums)), accm[i][j]);
            }
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = sv_avx2_hsum_ps(accf[i][j]) - sv_avx2_hsum_ps128(accm[i][j]);
}

SV_GEMM_TILE_FNS(sv_gemm_q4_K_q8_K_, _avx2, sv_gemm_q4_K_q8_K_tile_avx2)

static void sv_gemm_q4_K_q8_K_avx2(int64_t n, const void *w, size_t ws, int64_t nr,
                                   const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q4_K_q8_K_, _avx2);
    sv_gemm_walk(tiles, SV_GEMM_Q4_K_AVX2_RM, SV_GEMM_Q4_K_AVX2_RN, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

#pragma clang attribute pop

// MARK: - Table

// Not compiled for AVX2 itself: it only stores pointers, and the dispatcher may call
// it before knowing anything about the CPU.
void sv_fill_kernels_avx2(sv_kernels *k) {
    k->gelu = sv_gelu_f16_table_avx2;
    k->from_float[SV_TYPE_Q8_0] = sv_quantize_row_q8_0_avx2;
    k->from_float[SV_TYPE_Q8_1] = sv_quantize_row_q8_1_avx2;
    // Q8_K stays generic: it is O(n) per activation row and already exact.
    k->from_float[SV_TYPE_F16] = sv_convert_row_f16_avx2;
    k->from_float[SV_TYPE_BF16] = sv_convert_row_bf16_avx2;

    k->vec_dot[SV_TYPE_F32] = sv_vec_dot_f32_f32_avx2;
    k->vec_dot[SV_TYPE_F16] = sv_vec_dot_f16_f16_avx2;
    k->vec_dot[SV_TYPE_BF16] = sv_vec_dot_bf16_bf16_avx2;
    k->vec_dot[SV_TYPE_Q8_0] = sv_vec_dot_q8_0_q8_0_avx2;
    k->gemm[SV_TYPE_Q8_0] = sv_gemm_q8_0_q8_0_avx2;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_avx2;
    k->vec_dot[SV_TYPE_Q4_1] = sv_vec_dot_q4_1_q8_1_avx2;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_avx2;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_avx2;
    k->vec_dot[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_avx2;
    k->gemm[SV_TYPE_Q4_K] = sv_gemm_q4_K_q8_K_avx2;
    k->vec_dot[SV_TYPE_Q5_K] = sv_vec_dot_q5_K_q8_K_avx2;
    k->vec_dot[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_avx2;
    // llama.cpp's tiled K-quant GEMM (8+ activation rows, weights not repacked).
    k->tiled[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_tiled_avx2;
    k->tiled[SV_TYPE_Q5_K] = sv_vec_dot_q5_K_q8_K_tiled_avx2;
    k->tiled[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_tiled_avx2;
    k->tiled_block[SV_TYPE_Q4_K] = sv_gemm_q4_K_q8_K_tiled_avx2;
    k->tiled_block[SV_TYPE_Q5_K] = sv_gemm_q5_K_q8_K_tiled_avx2;
    // llama.cpp repacks these for AVX2 and up (ggml_repack_get_optimal_repack_type).
    k->repack_gemv[SV_TYPE_Q4_0] = k->repack_gemm[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_chain_avx2;
    k->repack_gemv[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_chain_avx2;
    k->repack_gemm[SV_TYPE_Q4_K] = sv_vec_dot_q4_K_q8_K_chain64_avx2;
    k->repack_gemm_block[SV_TYPE_Q4_K] = sv_gemm_q4_K_q8_K_chain64_avx2;

    k->resample_h_rgb8 = sv_resample_h_rgb8_avx2;
    k->resample_v_u8 = sv_resample_v_u8_avx2;

    k->attention_block_f32acc = sv_attention_block_f32acc_avx2;
    k->attention_row_f16acc = sv_attention_row_f16acc_avx2;
    k->attention_row_f16acc_partial = sv_attention_row_f16acc_partial_avx2;
}

#endif
