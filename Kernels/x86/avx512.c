// AVX-512 (F/BW/VL/DQ) and AVX-512 VNNI kernels.
//
// Built without -mavx512* on the command line: every function here carries a
// target attribute, and dispatch.c only installs these tables when the CPU (and
// the OS, through XCR0) supports them.
//
// What is here, and why only this. The reference machine is AMD Zen 4, which
// executes a 512-bit op as two 256-bit halves: a zmm instruction costs about what
// two ymm instructions cost, so AVX-512 only pays where it removes work, through
// new instructions (vpdpbusd, vpternlogd, vpermw, variable shifts, masks) or
// fewer instructions overall. Every kernel below was measured against the AVX2
// one on matrix-vector shapes; entries where AVX-512 was not faster (f32 and f16
// dots, Q4_K/Q5_K, Q8_0 without VNNI, Q4_1 without VNNI) keep the AVX2 kernels,
// which sv_fill_kernels_avx512 installs first. Q5_0/Q5_1 gain even without VNNI
// (about 15%): their 32 fifth bits are a ready-made byte mask for one masked add,
// where AVX2 needs four instructions to spread them over the bytes. On Zen 4 in
// particular the 16-wide vcvtph2ps is slower than two 8-wide ones, so an F16 dot
// loses with zmm.
//
// Exactness: every integer part (a block's Σ q·q, the K-quant scale and min sums)
// is computed exactly for every input byte, including -128, so results differ
// from the scalar oracle only in the order of float additions. That rules out the
// abs/sign trick for signed×signed bytes (|-128| does not fit in int8); operands
// are biased into unsigned range instead, and the bias is subtracted exactly.
#if defined(__x86_64__) || defined(_M_X64)
#include "../internal.h"

#include <immintrin.h>
#include <math.h>

// Scalar float expressions stay unfused, like the oracle's.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")
#endif

// MARK: - Helpers

// 16 int32 lanes → 8: lane k + lane k + 8.
static inline __m256i sv_fold_epi32(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// f16 → f32 through vmovd + vcvtph2ps. (_cvtsh_ss lets clang load the half with a
// vpinsrw that merges into an unrelated live register, typically an accumulator,
// which chains every block's scale onto the previous block's FMA: 30% slower.)
static inline float sv_h2f(sv_half h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/// Lane 0 = f16(a) · f16(b): a block's scale product with one conversion.
static inline __m128 sv_h2f_mul(sv_half a, sv_half b) {
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | ((uint32_t)b << 16))));
    return _mm_mul_ss(f, _mm_movehdup_ps(f));
}

/// Lanes 0, 1 = f16(a), f16(b) from one conversion (a Q4_1/Q5_1 block's m and the
/// activation's s, which ggml multiplies with a fused add into its running sum).
static inline __m128 sv_h2f_pair2(sv_half a, sv_half b) {
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | ((uint32_t)b << 16))));
}

/// 16 bytes of packed nibbles (a Q4_0/Q4_1 block) as 32 unsigned bytes in element
/// order, [low nibbles | high nibbles]: a broadcast load and one variable shift of
/// the upper 128 bits, then a mask (AVX2 needs a shift, an insert and a mask).
static inline __m256i sv_nibbles_16(const uint8_t *p) {
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_and_si256(_mm256_srlv_epi64(t, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

/// A Q5_0/Q5_1 block's quants as 32 unsigned bytes (0..31) in element order: the
/// 32 fifth bits are already a byte mask (bit j ↔ element j), so one masked add puts
/// 16 on the nibbles whose bit is set (AVX2 spends a shuffle, an and and a compare).
static inline __m256i sv_q5_quants(const uint8_t *qs, const uint8_t *qh) {
    const __m256i nib = sv_nibbles_16(qs);
    return _mm256_mask_add_epi8(nib, _cvtu32_mask32(sv_q5_high_bits(qh)), nib, _mm256_set1_epi8(16));
}

static inline __m256i sv_load_256(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline float sv_hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// MARK: - BF16 dot

// bf16 → f32 is a 16-bit left shift. Both rows share a layout, so instead of
// widening (AVX2's vpmovzxwd + shift per 8 values) each 32-bit pair is split in
// place: even elements by shifting the low half up, odd elements by masking the
// high half, 32 values per load. Products are exact in f32 (8-bit significands);
// vdpbf16ps is avoided on purpose, it rounds differently from f32 FMA.
static inline void sv_bf16_fma32(__m512i a, __m512i b, __m512 *acc_even, __m512 *acc_odd) {
    const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
    *acc_even = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(a, 16)),
                                _mm512_castsi512_ps(_mm512_slli_epi32(b, 16)), *acc_even);
    *acc_odd = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(a, hi)),
                               _mm512_castsi512_ps(_mm512_and_si512(b, hi)), *acc_odd);
}

// ggml_vec_dot_bf16's AVX-512F order (sv_vec_dot_bf16_bf16_lanes32_generic): two 16-lane
// accumulators c1, c2 over elements [32i, 32i+16) and [32i+16, 32i+32), reduced separately
// and summed in double. Each 16-lane accumulator is two ymm halves (the order is per lane);
// its widening is a shift, and products are exact in f32, so FMA or not only rounds the add.
static inline __m256 sv_bf16x8_to_f32(const sv_bf16 *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static float sv_vec_dot_bf16_bf16_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_bf16 *a = vw, *b = vx;
    __m256 c[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int q = 0; q < 4; q++) c[q] = _mm256_fmadd_ps(sv_bf16x8_to_f32(a + i + 8 * q), sv_bf16x8_to_f32(b + i + 8 * q), c[q]);
    double sum = sv_reduce16_halves(c[0], c[1]);
    sum += sv_reduce16_halves(c[2], c[3]);
    for (; i < n; i++) sum += (double)(sv_bf16_to_fp32(a[i]) * sv_bf16_to_fp32(b[i]));
    return (float)sum;
}

// ggml_vec_dot_f16's AVX-512 order (sv_vec_dot_f16_f16_lanes64_generic): four 16-lane FMA
// accumulators per 64 elements, folded (0 + 2) + (1 + 3), reduced, tail in double. As ymm
// halves: the 16-wide vcvtph2ps is slower than two 8-wide ones on Zen 4.
static float sv_vec_dot_f16_f16_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_half *a = vw, *b = vx;
    __m256 c[8];
    for (int q = 0; q < 8; q++) c[q] = _mm256_setzero_ps();
    const int64_t np = n & ~(int64_t)63;
    for (int64_t i = 0; i < np; i += 64)
        for (int q = 0; q < 8; q++)
            c[q] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8 * q))),
                                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8 * q))), c[q]);
    // Accumulator j is c[2j] (lanes 0-7) and c[2j+1] (lanes 8-15).
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(c[0], c[4]), _mm256_add_ps(c[2], c[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(c[1], c[5]), _mm256_add_ps(c[3], c[7]));
    double sum = sv_reduce16_halves(lo, hi);
    for (int64_t i = np; i < n; i++) sum += (double)(sv_fp16_to_fp32(a[i]) * sv_fp16_to_fp32(b[i]));
    return (float)sum;
}

// MARK: - Q4_0 dot (no VNNI)

// Σ (q−8)·y = Σ q·y − Σ 8·y, both with vpmaddubsw: q ≤ 15 and 8 are unsigned and a
// pair sum is at most 2·15·128, so nothing saturates, for every activation byte.
// (AVX2 instead moves the sign of q−8 onto y, which is wrong for y = −128.)
// One block per ymm: on Zen 4 that beats two blocks per zmm. One accumulator, blocks in
// order, as ggml's __AVX2__ branch of ggml_vec_dot_q4_0_q8_0 (see the VNNI notes below).
static inline __m256i sv_dot_q4_0_block(const uint8_t *qs, const int8_t *ys) {
    const __m256i y = sv_load_256(ys);
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(sv_nibbles_16(qs), y),
                                       _mm256_maddubs_epi16(_mm256_set1_epi8(8), y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static float sv_vec_dot_q4_0_q8_0_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK4_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q4_0_block(w[i].qs, x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc);
}

// MARK: - Q5_0 / Q5_1 dots (no VNNI)

// Q5_0: Σ (q−16)·y = Σ q·y − Σ 16·y, both by vpmaddubsw (q ≤ 31: pair sums ≤
// 2·31·128), exact for every activation byte, as for Q4_0.
static inline __m256i sv_dot_q5_0_block(const sv_block_q5_0 *w, const int8_t *ys) {
    const __m256i y = sv_load_256(ys);
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(sv_q5_quants(w->qs, w->qh), y),
                                       _mm256_maddubs_epi16(_mm256_set1_epi8(16), y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static float sv_vec_dot_q5_0_q8_0_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK5_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q5_0_block(&w[i], x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc);
}

static inline __m256i sv_dot_q5_1_block(const sv_block_q5_1 *w, const int8_t *ys) {
    const __m256i p = _mm256_maddubs_epi16(sv_q5_quants(w->qs, w->qh), sv_load_256(ys)); // ≤ 2·31·128
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static float sv_vec_dot_q5_1_q8_1_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m128 ms = sv_h2f_pair2(w[i].m, x[i].s);
        summ = fmaf(_mm_cvtss_f32(ms), _mm_cvtss_f32(_mm_movehdup_ps(ms)), summ);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q5_1_block(&w[i], x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc) + summ;
}

// MARK: - Q6_K dot

// Values are 0..63 with an offset of 32: Σ sc·(q−32)·y = Σ sc·q·y − 32·Σ sc·bsum,
// the scale groups of 16 being exactly the Q8_K bsum groups. Per 128 values, 64
// low-nibble bytes and 32 high-bit bytes become two zmm of 64 unsigned values:
//   zmm0 = [ql[0..31] & 15 | qh bits 0-1 ,  ql[32..63] & 15 | qh bits 2-3]
//   zmm1 = [ql[0..31] >> 4 | qh bits 4-5 ,  ql[32..63] >> 4 | qh bits 6-7]
// one vpsrlvq aligns the qh bits of both halves and one vpternlogd merges each.
// Every 128-bit lane is one group of 16 with one scale, broadcast by vpermw.
// This does the work of AVX2's kernel in about half the instructions.
static float sv_vec_dot_q6_K_q8_K_avx512(int64_t n, const void *vw, const void *vx) {
    const sv_block_q6_K *w = vw;
    const sv_block_q8_K *x = vx;
    const int64_t nb = n / SV_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    const __m512i qh_shift = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    // vpermw indices: 128-bit lane g of the k-th zmm takes scale 4k+g.
    const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 0x00010001, 0x00010001, 0x00010001, 0x00010001,
                                           0x00020002, 0x00020002, 0x00020002, 0x00020002,
                                           0x00030003, 0x00030003, 0x00030003, 0x00030003);
    const __m512i four = _mm512_set1_epi16(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));
        const __m512i sc512 = _mm512_castsi256_si512(sc16);
        // 32 · Σ sc_g · bsum_g, exact: |bsum| ≤ 2048, |sc| ≤ 128.
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sv_load_256(x[i].bsums), sc16), 5);
        __m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
        __m512i idx = sidx;
        for (int h = 0; h < 2; ++h) {
            const __m512i ql = _mm512_loadu_si512(w[i].ql + 64 * h);
            const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(sv_load_256(w[i].qh + 32 * h)), qh_shift);
            // (ql & 0x0F) | (hi & 0x30) in one op: truth table 0xEA = (A & B) | C.
            // The 16-bit shift's spill into the neighbouring byte is masked off by 0x30.
            const __m512i q0 = _mm512_ternarylogic_epi32(ql, m4, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), 0xEA);
            const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, _mm512_and_si512(qh, m30), 0xEA);
            // q ≤ 63: pair sums ≤ 2·63·128, no saturation.
            const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(x[i].qs + 128 * h));
            const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(x[i].qs + 128 * h + 64));
            const __m512i s0 = _mm512_permutexvar_epi16(idx, sc512);
            idx = _mm512_add_epi16(idx, four);
            const __m512i s1 = _mm512_permutexvar_epi16(idx, sc512);
            idx = _mm512_add_epi16(idx, four);
            sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_madd_epi16(p0, s0), _mm512_madd_epi16(p1, s1)));
        }
        // Lane k + 8 holds the same positions of the other 32-element run as lane k: folded,
        // the 8 lanes are ggml's AVX2 lanes exactly (integers, so any grouping is exact).
        acc = _mm256_fmadd_ps(_mm256_set1_ps(sv_h2f(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sv_fold_epi32(sumi)), acc);
    }
    return sv_hsum_ps256(acc);
}

// gemm_q6_K_q8_K: sv_vec_dot_q6_K_q8_K_avx512's steps for each of RM × RN pairs (the same
// instructions on the same operands: the same int32 lanes, the same d·d_x, the same FMA
// into the pair's own accumulator and the same final sum). A weight
// super-block's scales and each half's 6-bit quants and scale vectors are built once for RN
// activation rows; an activation half's 128 bytes are loaded once for RM weight rows.
// 1 × 4 measured fastest (the weight side is the expensive part to rebuild).
#ifndef SV_GEMM_Q6_K_RM
#define SV_GEMM_Q6_K_RM 1
#endif
#ifndef SV_GEMM_Q6_K_RN
#define SV_GEMM_Q6_K_RN 4
#endif

// TILED: the same integers in llama.cpp's tiled-GEMM order instead (sv_vec_dot_q6_K_q8_K_tiled
// per output: acc = (isum·d_w)·d_x + acc), the RN activation rows in the lanes of an xmm.
static inline __attribute__((always_inline)) void sv_gemm_q6_K_q8_K_tile_avx512(
    const int TILED, const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs,
    float *y, int64_t ys) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    const __m512i qh_shift = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 0x00010001, 0x00010001, 0x00010001, 0x00010001,
                                           0x00020002, 0x00020002, 0x00020002, 0x00020002,
                                           0x00030003, 0x00030003, 0x00030003, 0x00030003);
    const __m512i four = _mm512_set1_epi16(4);
    __m256 acc[4][4];
    __m128 tacc[4];
    for (int i = 0; i < RM; i++) {
        tacc[i] = _mm_setzero_ps();
        for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
        const sv_block_q6_K *wb[4];
        const sv_block_q8_K *xb[4];
        __m256i sc16[4];
        __m512i sumi[4][4];
        for (int j = 0; j < RN; j++) xb[j] = (const sv_block_q8_K *)(x + (size_t)j * xs) + b;
        for (int i = 0; i < RM; i++) {
            wb[i] = (const sv_block_q6_K *)(w + (size_t)i * ws) + b;
            sc16[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[i]->scales));
            for (int j = 0; j < RN; j++) {
                const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sv_load_256(xb[j]->bsums), sc16[i]), 5);
                sumi[i][j] = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
            }
        }
        for (int h = 0; h < 2; ++h) {
            __m512i y0[4], y1[4];
            for (int j = 0; j < RN; j++) {
                y0[j] = _mm512_loadu_si512(xb[j]->qs + 128 * h);
                y1[j] = _mm512_loadu_si512(xb[j]->qs + 128 * h + 64);
            }
            const __m512i idx0 = _mm512_add_epi16(sidx, _mm512_set1_epi16((short)(8 * h)));
            const __m512i idx1 = _mm512_add_epi16(idx0, four);
            for (int i = 0; i < RM; i++) {
                const __m512i sc512 = _mm512_castsi256_si512(sc16[i]);
                const __m512i ql = _mm512_loadu_si512(wb[i]->ql + 64 * h);
                const __m512i qh = _mm512_srlv_epi64(_mm512_broadcast_i64x4(sv_load_256(wb[i]->qh + 32 * h)), qh_shift);
                const __m512i q0 = _mm512_ternarylogic_epi32(ql, m4, _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30), 0xEA);
                const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, _mm512_and_si512(qh, m30), 0xEA);
                const __m512i s0 = _mm512_permutexvar_epi16(idx0, sc512);
                const __m512i s1 = _mm512_permutexvar_epi16(idx1, sc512);
                for (int j = 0; j < RN; j++) {
                    const __m512i p0 = _mm512_maddubs_epi16(q0, y0[j]);
                    const __m512i p1 = _mm512_maddubs_epi16(q1, y1[j]);
                    sumi[i][j] = _mm512_add_epi32(sumi[i][j], _mm512_add_epi32(_mm512_madd_epi16(p0, s0), _mm512_madd_epi16(p1, s1)));
                }
            }
        }
        for (int i = 0; i < RM; i++) {
            const float dw = sv_h2f(wb[i]->d);
            if (TILED) {
                __m256i f[4];
                for (int j = 0; j < 4; j++) f[j] = sv_fold_epi32(sumi[i][j < RN ? j : 0]);
                const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(f[0], f[1]), _mm256_hadd_epi32(f[2], f[3]));
                const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                const __m128 dx = _mm_setr_ps(xb[0]->d, xb[RN > 1 ? 1 : 0]->d, xb[RN > 2 ? 2 : 0]->d, xb[RN > 3 ? 3 : 0]->d);
                tacc[i] = _mm_fmadd_ps(_mm_mul_ps(_mm_cvtepi32_ps(isum), _mm_set1_ps(dw)), dx, tacc[i]);
                continue;
            }
            for (int j = 0; j < RN; j++)
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb[j]->d), _mm256_cvtepi32_ps(sv_fold_epi32(sumi[i][j])), acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++) {
        float t[4];
        _mm_storeu_ps(t, tacc[i]);
        for (int j = 0; j < RN; j++) y[(int64_t)j * ys + i] = TILED ? t[j] : sv_hsum_ps256(acc[i][j]);
    }
}

#define SV_Q6K_VEC_BODY(RM, RN, ...) sv_gemm_q6_K_q8_K_tile_avx512(0, RM, RN, __VA_ARGS__)
#define SV_Q6K_TILED_BODY(RM, RN, ...) sv_gemm_q6_K_q8_K_tile_avx512(1, RM, RN, __VA_ARGS__)
SV_GEMM_TILE_FNS(sv_gemm_q6_K_q8_K_, _avx512, SV_Q6K_VEC_BODY)
SV_GEMM_TILE_FNS(sv_gemm_q6_K_q8_K_tiled_, _avx512, SV_Q6K_TILED_BODY)

static void sv_gemm_q6_K_q8_K_avx512(int64_t n, const void *w, size_t ws, int64_t nr,
                                     const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q6_K_q8_K_, _avx512);
    sv_gemm_walk(tiles, SV_GEMM_Q6_K_RM, SV_GEMM_Q6_K_RN, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

static void sv_gemm_q6_K_q8_K_tiled_avx512(int64_t n, const void *w, size_t ws, int64_t nr,
                                           const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_q6_K_q8_K_tiled_, _avx512);
    sv_gemm_walk(tiles, SV_GEMM_Q6_K_RM, SV_GEMM_Q6_K_RN, n / SV_QK_K, w, ws, nr, x, xs, nc, y, ys);
}

// MARK: - Activation quantization (byte-identical to the scalar contract)

/// One 32-value block: d = amax/127 (stored as f16), id = 127/amax, q = rne(x·id)
/// saturated to int8, identical to the scalar path for every input: vcvtps2dq turns
/// NaN and out-of-range values into INT32_MIN, which saturates to -128 there too.
/// Returns d and the quants as 32 bytes in element order.
static inline __m256i sv_quantize_block_q8(const float *x, float *d_out, sv_half *dh_out) {
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    // vmaxps returns its second operand when either is NaN: keeping the running max
    // second drops NaN elements, like the scalar `a > amax` compare.
    __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
    m = _mm512_max_ps(_mm512_abs_ps(v1), m);
    const float amax = _mm512_reduce_max_ps(m);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    *d_out = d;
    *dh_out = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m512 vid = _mm512_set1_ps(id);
    // A plain multiply (not FMA), then round-half-even conversion, as the scalar path.
    const __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtsepi32_epi8(i0)), _mm512_cvtsepi32_epi8(i1), 1);
}

static void sv_quantize_row_q8_0_avx512(const float *x, void *vy, int64_t n) {
    sv_block_q8_0 *y = vy;
    const int64_t nb = n / SV_QK8_0;
    for (int64_t i = 0; i < nb; ++i) {
        float d;
        _mm256_storeu_si256((__m256i *)y[i].qs, sv_quantize_block_q8(x + i * SV_QK8_0, &d, &y[i].d));
    }
}

static void sv_quantize_row_q8_1_avx512(const float *x, void *vy, int64_t n) {
    sv_block_q8_1 *y = vy;
    const int64_t nb = n / SV_QK8_1;
    for (int64_t i = 0; i < nb; ++i) {
        float d;
        const __m256i q = sv_quantize_block_q8(x + i * SV_QK8_1, &d, &y[i].d);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
        // s sums what was stored (saturated int8), as the scalar path does: bias the
        // bytes to unsigned and sum them with vpsadbw, then remove the bias.
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        __m128i s = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        const int sum = _mm_cvtsi128_si32(s) - 32 * 128;
        y[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
    }
}

// MARK: - SwiGLU

// ggml_v_expf / ggml_v_silu of ggml's AVX-512 branch (vec.h, __AVX512F__ && __AVX512DQ__),
// instruction for instruction: the polynomial's rounding is part of the reference numbers.
// The scalar twin is sv_swiglu_f32 (Kernels/generic/transformer.c).
static inline __m512 sv_ggml_v_expf(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(d, res, alt);
}

static void sv_swiglu_f32_avx512(int64_t n, const float *g, const float *u, float *y) {
    const int64_t nv = n - n % 16;
    for (int64_t i = 0; i < nv; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = sv_ggml_v_expf(_mm512_sub_ps(_mm512_setzero_ps(), x));
        const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(silu, _mm512_loadu_ps(u + i)));
    }
    if (nv < n) sv_swiglu_f32(n - nv, g + nv, u + nv, y + nv); // < 16 left: libm's expf
}

// MARK: - GELU

// sv_gelu_f16_table 16 lanes at a time: vcvtps2ph is the scalar path's f16 rounding (NaN
// included), a gather reads the table, and two masks take the ±10 cut-offs, so every lane has
// the scalar result's bits.
static void sv_gelu_f16_table_avx512(int64_t n, const float *x, float *y, const float *table) {
    const int64_t nv = n - n % 16;
    for (int64_t i = 0; i < nv; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512i h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m512 g = _mm512_i32gather_ps(h, table, 4);
        g = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(10.0f), _CMP_GE_OQ), g, v);
        g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(-10.0f), _CMP_NLE_UQ), g);
        _mm512_storeu_ps(y + i, g);
    }
    if (nv < n) sv_gelu_f16_table(n - nv, x + nv, y + nv, table);
}

// MARK: - Attention

// Twins of Kernels/generic/transformer.c's attention, bit-identical: every float operation
// of the scalar code happens here too, on the same operands and in the same order; only
// independent operations run side by side. Scores run across 16 positions per register
// (each lane is one key's sequential FMA chain over the head dimension, from a tile of keys
// widened to f32 and transposed once), the value sums across 16 head-dimension elements per
// register (positions in order). F16C's conversions equal sv_fp16_to_fp32 / sv_fp32_to_fp16.

enum { SV_ATTN_TILE_AVX512 = 64 };

// The 16-lane group sum of the scalar softmax: a[l] = e[l] + e[l+8], b[l] = a[l] + a[l+4],
// (b0 + b2) + (b1 + b3) — _mm512_reduce_add_ps's order, spelled out.
static inline float sv_attn_group_sum16(__m512 e) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(e), _mm512_extractf32x8_ps(e, 1));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

// The 16×16 transpose of r (row l = r[l]) in place.
static inline void sv_transpose16_avx512(__m512 r[16]) {
    __m512 t[16];
    for (int l = 0; l < 16; l += 2) {
        t[l] = _mm512_unpacklo_ps(r[l], r[l + 1]);
        t[l + 1] = _mm512_unpackhi_ps(r[l], r[l + 1]);
    }
    for (int l = 0; l < 16; l += 4) {
        r[l] = _mm512_shuffle_ps(t[l], t[l + 2], 0x44);
        r[l + 1] = _mm512_shuffle_ps(t[l], t[l + 2], 0xEE);
        r[l + 2] = _mm512_shuffle_ps(t[l + 1], t[l + 3], 0x44);
        r[l + 3] = _mm512_shuffle_ps(t[l + 1], t[l + 3], 0xEE);
    }
    for (int l = 0; l < 16; l += 8) {
        for (int m = 0; m < 4; m++) {
            t[l + m] = _mm512_shuffle_f32x4(r[l + m], r[l + m + 4], 0x88);
            t[l + m + 4] = _mm512_shuffle_f32x4(r[l + m], r[l + m + 4], 0xDD);
        }
    }
    for (int m = 0; m < 8; m++) {
        r[m] = _mm512_shuffle_f32x4(t[m], t[m + 8], 0x88);
        r[m + 8] = _mm512_shuffle_f32x4(t[m], t[m + 8], 0xDD);
    }
}

// Widens keys and values [t0, t0 + nt) of a tile: kt[i·64 + t] (transposed) and vt[t·d + i];
// positions past nt get zero keys (their scores are masked out). Full groups of 16 keys are
// transposed in registers.
static void sv_attn_widen_tile_avx512(int64_t d, const sv_half *keys, const sv_half *values, int64_t stride,
                                      int64_t nt, float *kt, float *vt) {
    int64_t t = 0;
    for (; t + 16 <= nt; t += 16) {
        for (int64_t i = 0; i < d; i += 16) {
            __m512 r[16];
            for (int l = 0; l < 16; l++) {
                r[l] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(keys + (t + l) * stride + i)));
                _mm512_storeu_ps(vt + (t + l) * d + i,
                                 _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(values + (t + l) * stride + i))));
            }
            sv_transpose16_avx512(r);
            for (int l = 0; l < 16; l++) _mm512_storeu_ps(kt + (i + l) * SV_ATTN_TILE_AVX512 + t, r[l]);
        }
    }
    for (; t < nt; t++) {
        const sv_half *key = keys + t * stride, *value = values + t * stride;
        for (int64_t i = 0; i < d; i += 16) {
            float tmp[16];
            _mm512_storeu_ps(tmp, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(key + i))));
            for (int l = 0; l < 16; l++) kt[(i + l) * SV_ATTN_TILE_AVX512 + t] = tmp[l];
            _mm512_storeu_ps(vt + t * d + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(value + i))));
        }
    }
    for (t = nt; t < SV_ATTN_TILE_AVX512; t++) {
        for (int64_t i = 0; i < d; i++) kt[i * SV_ATTN_TILE_AVX512 + t] = 0.0f;
    }
}

// Scores of R (1...4) rows against one transposed tile: row j's 64 lanes in s[j][0...3], each
// lane one key's sequential FMA chain over the head dimension, exactly as for a single row.
// The rows only interleave, so 4·R independent chains share each load of the tile.
#define SV_ATTN_UNROLL _Pragma("clang loop unroll(full)")
static inline __attribute__((always_inline)) void
sv_attn_scores_avx512(const int R, int64_t d, const float *q, int64_t q_stride, const float *kt, __m512 s[4][4]) {
    SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
        SV_ATTN_UNROLL for (int c = 0; c < 4; c++) s[j][c] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < d; i++) {
        const float *k = kt + i * SV_ATTN_TILE_AVX512;
        const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16);
        const __m512 k2 = _mm512_loadu_ps(k + 32), k3 = _mm512_loadu_ps(k + 48);
        SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
            const __m512 qi = _mm512_set1_ps(q[j * q_stride + i]);
            s[j][0] = _mm512_fmadd_ps(qi, k0, s[j][0]);
            s[j][1] = _mm512_fmadd_ps(qi, k1, s[j][1]);
            s[j][2] = _mm512_fmadd_ps(qi, k2, s[j][2]);
            s[j][3] = _mm512_fmadd_ps(qi, k3, s[j][3]);
        }
    }
}

// One row's softmax step over a tile of nt (1...64) positions from its raw scores:
// sv_attention_row_f32acc's loop body up to the value sum (kq gets the weights).
static inline __attribute__((always_inline)) void
sv_attn_softmax_row_avx512(int64_t d, const __m512 raw[4], int64_t nt, float scale, float *out, float *M, float *S,
                           float *kq) {
    const __m512 vscale = _mm512_set1_ps(scale);
    __m512 s[4];
    __mmask16 valid[4];
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int c = 0; c < 4; c++) {
        s[c] = _mm512_mul_ps(raw[c], vscale);
        const int64_t left = nt - 16 * c;
        valid[c] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
        // The scalar `if (kq > max)` skips NaN scores; so does this.
        const __mmask16 m = valid[c] & _mm512_cmp_ps_mask(s[c], s[c], _CMP_ORD_Q);
        mx = _mm512_mask_max_ps(mx, m, mx, s[c]);
    }
    const float tile_max = _mm512_reduce_max_ps(mx);
    const float Mold = *M;
    const float Mnew = fmaxf(Mold, tile_max);
    float Sr = *S;
    if (Mnew > Mold) {
        const float ms = expf(Mold - Mnew);
        const __m512 vms = _mm512_set1_ps(ms);
        for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(out + i), vms));
        Sr *= ms;
    }
    *M = Mnew;
    const __m512 vM = _mm512_set1_ps(Mnew);
    double sum = 0.0;
    for (int c = 0; c < 4; c++) {
        const __m512 e = _mm512_maskz_mov_ps(valid[c], sv_ggml_v_expf(_mm512_sub_ps(s[c], vM)));
        _mm512_storeu_ps(kq + 16 * c, e);
        sum += (double)sv_attn_group_sum16(e);
    }
    *S = (float)((double)Sr + sum);
}

// Steps R (1...4) rows (row j at q + j·q_stride, nt[j] positions of the tile) over one tile.
// Every row's arithmetic is the single-row step's; the value sums (per row, 16 head-dimension
// elements per register, positions in order) interleave the rows over the shared positions
// and finish each row's own last positions alone.
static inline __attribute__((always_inline)) void
sv_attn_tile_rows_avx512(const int R, int64_t d, const float *q, int64_t q_stride, const float *kt, const float *vt,
                         const int64_t *nt, float scale, float *out, int64_t out_stride, float *M, float *S) {
    __m512 s[4][4];
    sv_attn_scores_avx512(R, d, q, q_stride, kt, s);
    float kq[4][SV_ATTN_TILE_AVX512];
    int64_t nt_min = nt[0];
    SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
        sv_attn_softmax_row_avx512(d, s[j], nt[j], scale, out + j * out_stride, &M[j], &S[j], kq[j]);
        if (nt[j] < nt_min) nt_min = nt[j];
    }
    int64_t i = 0;
    for (; i + 64 <= d; i += 64) {
        __m512 a[4][4];
        SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
            SV_ATTN_UNROLL for (int c = 0; c < 4; c++) a[j][c] = _mm512_loadu_ps(out + j * out_stride + i + 16 * c);
        }
        for (int64_t t = 0; t < nt_min; t++) {
            const float *v = vt + t * d + i;
            const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
            const __m512 v2 = _mm512_loadu_ps(v + 32), v3 = _mm512_loadu_ps(v + 48);
            SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
                const __m512 p = _mm512_set1_ps(kq[j][t]);
                a[j][0] = _mm512_fmadd_ps(p, v0, a[j][0]);
                a[j][1] = _mm512_fmadd_ps(p, v1, a[j][1]);
                a[j][2] = _mm512_fmadd_ps(p, v2, a[j][2]);
                a[j][3] = _mm512_fmadd_ps(p, v3, a[j][3]);
            }
        }
        SV_ATTN_UNROLL for (int j = 0; j < R; j++) {
            for (int64_t t = nt_min; t < nt[j]; t++) {
                const __m512 p = _mm512_set1_ps(kq[j][t]);
                const float *v = vt + t * d + i;
                a[j][0] = _mm512_fmadd_ps(p, _mm512_loadu_ps(v), a[j][0]);
                a[j][1] = _mm512_fmadd_ps(p, _mm512_loadu_ps(v + 16), a[j][1]);
                a[j][2] = _mm512_fmadd_ps(p, _mm512_loadu_ps(v + 32), a[j][2]);
                a[j][3] = _mm512_fmadd_ps(p, _mm512_loadu_ps(v + 48), a[j][3]);
            }
            SV_ATTN_UNROLL for (int c = 0; c < 4; c++) _mm512_storeu_ps(out + j * out_stride + i + 16 * c, a[j][c]);
        }
    }
    for (; i < d; i += 16) {
        for (int j = 0; j < R; j++) {
            float *o = out + j * out_stride + i;
            __m512 a = _mm512_loadu_ps(o);
            for (int64_t t = 0; t < nt[j]; t++) {
                a = _mm512_fmadd_ps(_mm512_set1_ps(kq[j][t]), _mm512_loadu_ps(vt + t * d + i), a);
            }
            _mm512_storeu_ps(o, a);
        }
    }
}

static void sv_attention_block_f32acc_avx512(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                                             const sv_half *keys, const sv_half *values, int64_t kv_stride,
                                             int64_t n_kv, int causal, float scale,
                                             float *out, int64_t out_stride, float *scratch) {
    if (d <= 0 || d % 16 != 0) {
        sv_attention_block_f32acc(d, n_rows, q, q_stride, keys, values, kv_stride, n_kv, causal, scale,
                                  out, out_stride, scratch);
        return;
    }
    float *kt = scratch, *vt = kt + SV_ATTN_TILE_AVX512 * d, *kq = vt + SV_ATTN_TILE_AVX512 * d;
    float *rowM = kq + SV_ATTN_TILE_AVX512, *rowS = rowM + n_rows;
    for (int64_t r = 0; r < n_rows; r++) {
        rowM[r] = -INFINITY;
        rowS[r] = 0.0f;
        for (int64_t i = 0; i < d; i++) out[r * out_stride + i] = 0.0f;
    }
    const int64_t n_max = causal ? n_kv + n_rows - 1 : n_kv;
    for (int64_t t0 = 0; t0 < n_max; t0 += SV_ATTN_TILE_AVX512) {
        const int64_t tile = n_max - t0 < SV_ATTN_TILE_AVX512 ? n_max - t0 : SV_ATTN_TILE_AVX512;
        sv_attn_widen_tile_avx512(d, keys + t0 * kv_stride, values + t0 * kv_stride, kv_stride, tile, kt, vt);
        // Rows with no position in this tile (causal) are the first ones; the rest go in
        // groups of 4, then 2, then 1.
        int64_t r = causal && t0 - n_kv + 1 > 0 ? t0 - n_kv + 1 : 0;
        int64_t nt[4];
        for (; r < n_rows;) {
            const int64_t R = n_rows - r >= 4 ? 4 : n_rows - r >= 2 ? 2 : 1;
            for (int64_t j = 0; j < R; j++) {
                const int64_t n_r = causal ? n_kv + r + j : n_kv;
                nt[j] = n_r - t0 < SV_ATTN_TILE_AVX512 ? n_r - t0 : SV_ATTN_TILE_AVX512;
            }
            const float *qr = q + r * q_stride;
            float *outr = out + r * out_stride;
            if (R == 4) {
                sv_attn_tile_rows_avx512(4, d, qr, q_stride, kt, vt, nt, scale, outr, out_stride, &rowM[r], &rowS[r]);
            } else if (R == 2) {
                sv_attn_tile_rows_avx512(2, d, qr, q_stride, kt, vt, nt, scale, outr, out_stride, &rowM[r], &rowS[r]);
            } else {
                sv_attn_tile_rows_avx512(1, d, qr, q_stride, kt, vt, nt, scale, outr, out_stride, &rowM[r], &rowS[r]);
            }
            r += R;
        }
    }
    for (int64_t r = 0; r < n_rows; r++) {
        const float inv = rowS[r] == 0.0f ? 0.0f : 1.0f / rowS[r];
        const __m512 vinv = _mm512_set1_ps(inv);
        float *o = out + r * out_stride;
        for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), vinv));
    }
}

// sv_dot_f16_ggml_avx512 for n a multiple of 64 against q already widened: four 16-lane
// accumulators (f16 products are exact in f32, so FMA = the scalar's multiply then add),
// reduced (0+2) + (1+3), then halves 16 → 8 → 4 → 2 → 1.
static inline float sv_attn_dot_f16_avx512(int64_t n, const sv_half *x, const float *y) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16))), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 32))), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 48))), _mm512_loadu_ps(y + i + 48), a3);
    }
    return sv_attn_group_sum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
}

static inline __m512 sv_round_f16_avx512(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

enum { SV_ATTN_F16_MAX_D = 256 };

// attention_f16acc_loop of the generic file; the f16 accumulator is kept widened (every
// value in it is an f16, rounded after each update exactly where the scalar stores one).
static void sv_attn_f16acc_loop_avx512(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                       const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                       sv_half *scratch, float *acc, float *m_out, float *s_out) {
    float qf[SV_ATTN_F16_MAX_D];
    k->from_float[SV_TYPE_F16](q, scratch, d);
    for (int64_t i = 0; i < d; i += 16) {
        _mm512_storeu_ps(qf + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scratch + i))));
        _mm512_storeu_ps(acc + i, _mm512_setzero_ps());
    }
    float S = 0.0f, M = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        const float s = sv_attn_dot_f16_avx512(d, keys + j * stride, qf) * scale;
        const sv_half *v = values + j * stride;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            const float Mold = M;
            M = s;
            ms = expf(Mold - M);
            const __m512 vms = _mm512_set1_ps(ms);
            for (int64_t i = 0; i < d; i += 16) {
                _mm512_storeu_ps(acc + i, sv_round_f16_avx512(_mm512_mul_ps(_mm512_loadu_ps(acc + i), vms)));
            }
        } else {
            vs = expf(s - M);
        }
        const __m512 vvs = _mm512_set1_ps(vs);
        for (int64_t i = 0; i < d; i += 16) {
            const __m512 vi = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i)));
            _mm512_storeu_ps(acc + i, sv_round_f16_avx512(_mm512_fmadd_ps(vi, vvs, _mm512_loadu_ps(acc + i))));
        }
        S = fmaf(S, ms, vs);
    }
    *m_out = M;
    *s_out = S;
}

static void sv_attention_row_f16acc_avx512(const sv_kernels *k, int64_t d, const float *q, const sv_half *keys,
                                           const sv_half *values, int64_t stride, int64_t n_kv, float scale,
                                           float *out, sv_half *scratch) {
    if (d <= 0 || d % 64 != 0 || d > SV_ATTN_F16_MAX_D) {
        sv_attention_row_f16acc(k, d, q, keys, values, stride, n_kv, scale, out, scratch);
        return;
    }
    float acc[SV_ATTN_F16_MAX_D], M, S;
    sv_attn_f16acc_loop_avx512(k, d, q, keys, values, stride, n_kv, scale, scratch, acc, &M, &S);
    const __m512 vinv = _mm512_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
    for (int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(acc + i), vinv));
}

static void sv_attention_row_f16acc_partial_avx512(const sv_kernels *k, int64_t d, const float *q,
                                                   const sv_half *keys, const sv_half *values, int64_t stride,
                                                   int64_t n_kv, float scale, float *partial, sv_half *scratch) {
    if (d <= 0 || d % 64 != 0 || d > SV_ATTN_F16_MAX_D) {
        sv_attention_row_f16acc_partial(k, d, q, keys, values, stride, n_kv, scale, partial, scratch);
        return;
    }
    sv_attn_f16acc_loop_avx512(k, d, q, keys, values, stride, n_kv, scale, scratch, partial + 2, &partial[0], &partial[1]);
}

void sv_fill_kernels_avx512(sv_kernels *k) {
    sv_fill_kernels_avx2(k);
    k->from_float[SV_TYPE_Q8_0] = sv_quantize_row_q8_0_avx512;
    k->from_float[SV_TYPE_Q8_1] = sv_quantize_row_q8_1_avx512;
    k->vec_dot[SV_TYPE_F16] = sv_vec_dot_f16_f16_avx512;
    k->vec_dot[SV_TYPE_BF16] = sv_vec_dot_bf16_bf16_avx512;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_avx512;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_avx512;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_avx512;
    k->vec_dot[SV_TYPE_Q6_K] = sv_vec_dot_q6_K_q8_K_avx512;
    k->gemm[SV_TYPE_Q6_K] = sv_gemm_q6_K_q8_K_avx512;
    k->tiled_block[SV_TYPE_Q6_K] = sv_gemm_q6_K_q8_K_tiled_avx512;
    k->swiglu = sv_swiglu_f32_avx512;
    k->gelu = sv_gelu_f16_table_avx512;
    k->attention_block_f32acc = sv_attention_block_f32acc_avx512;
    k->attention_row_f16acc = sv_attention_row_f16acc_avx512;
    k->attention_row_f16acc_partial = sv_attention_row_f16acc_partial_avx512;
}

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,avx2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,avx2")
#endif

// MARK: - VNNI dots
//
// vpdpbusd (u8 × s8, four products into each int32 lane) on ymm, one 32-block per
// register: on Zen 4 this beats two blocks per zmm. Each dpbusd starts from zero so
// no accumulation chain runs through its latency. The float side is ggml's, exactly:
// lane k of a block holds the integer sum of elements 4k..4k+3 (what ggml's
// mul_sum_i8_pairs_float gives with vpdpbusd), one 8-lane accumulator takes
// fma(d_w·d_x, lanes, acc) block after block, and hsum reduces it (hi+lo, then pairs).
// That is ggml_vec_dot_*_q8_* (arch/x86/quants.c, __AVX2__ branch, VNNI helpers) for one
// activation row and llamafile's tinyBLAS_Q0_AVX for batches (same per-output order), so
// the results are bit-identical to llama.cpp's. Q4_1/Q5_1 add Σ m·s as a scalar chain
// of FMAs (GCC contracts ggml's summs += m*s). The K-quants gain nothing from VNNI (vpdpwssd in place of
// vpmaddwd + vpaddd only lengthens the dependency chain), so they keep the kernels
// installed by sv_fill_kernels_avx512.

// Q8_0 · Q8_0, exact: flip the weights' sign bit (w + 128 ∈ 0..255), then
// Σ w·y = Σ (w+128)·y − 128·Σ y, both sums by dpbusd.
static inline __m256i sv_dot_q8_0_block_vnni(const int8_t *ws, const int8_t *ys) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    const __m256i y = sv_load_256(ys);
    const __m256i wu = _mm256_xor_si256(sv_load_256(ws), bias);
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), wu, y),
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, y));
}

static float sv_vec_dot_q8_0_q8_0_avx512_vnni(int64_t n, const void *vw, const void *vx) {
    const sv_block_q8_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q8_0_block_vnni(w[i].qs, x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc);
}

// Q4_0 · Q8_0: the nibbles are unsigned already; the −8 offset is a second dpbusd
// of the activations against a vector of 8s.
static inline __m256i sv_dot_q4_0_block_vnni(const uint8_t *qs, const int8_t *ys) {
    const __m256i y = sv_load_256(ys);
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), sv_nibbles_16(qs), y),
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), y));
}

static float sv_vec_dot_q4_0_q8_0_avx512_vnni(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK4_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q4_0_block_vnni(w[i].qs, x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc);
}

static inline __m256i sv_dot_q4_1_block_vnni(const uint8_t *qs, const int8_t *ys) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), sv_nibbles_16(qs), sv_load_256(ys));
}

static float sv_vec_dot_q4_1_q8_1_avx512_vnni(int64_t n, const void *vw, const void *vx) {
    const sv_block_q4_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m128 ms = sv_h2f_pair2(w[i].m, x[i].s);
        summ = fmaf(_mm_cvtss_f32(ms), _mm_cvtss_f32(_mm_movehdup_ps(ms)), summ);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q4_1_block_vnni(w[i].qs, x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc) + summ;
}

// Q5_0 / Q5_1: the quants from sv_q5_quants (0..31, unsigned) go straight into
// dpbusd; Q5_0's −16 offset is a second dpbusd against a vector of 16s, as Q4_0's −8.
static inline __m256i sv_dot_q5_0_block_vnni(const sv_block_q5_0 *w, const int8_t *ys) {
    const __m256i y = sv_load_256(ys);
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), sv_q5_quants(w->qs, w->qh), y),
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(16), y));
}

static float sv_vec_dot_q5_0_q8_0_avx512_vnni(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_0 *w = vw;
    const sv_block_q8_0 *x = vx;
    const int64_t nb = n / SV_QK5_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q5_0_block_vnni(&w[i], x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc);
}

static inline __m256i sv_dot_q5_1_block_vnni(const sv_block_q5_1 *w, const int8_t *ys) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), sv_q5_quants(w->qs, w->qh), sv_load_256(ys));
}

static float sv_vec_dot_q5_1_q8_1_avx512_vnni(int64_t n, const void *vw, const void *vx) {
    const sv_block_q5_1 *w = vw;
    const sv_block_q8_1 *x = vx;
    const int64_t nb = n / SV_QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const __m128 ms = sv_h2f_pair2(w[i].m, x[i].s);
        summ = fmaf(_mm_cvtss_f32(ms), _mm_cvtss_f32(_mm_movehdup_ps(ms)), summ);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(sv_h2f_mul(w[i].d, x[i].d)), _mm256_cvtepi32_ps(sv_dot_q5_1_block_vnni(&w[i], x[i].qs)), acc);
    }
    return sv_hsum_ps256(acc) + summ;
}

// MARK: - VNNI register-tiled products
//
// gemm_<w>_q8_x for the 32-element blocks: RM weight rows × RN activation rows per tile,
// every output its own 8-lane accumulator taking exactly its vec_dot's fma(d_w·d_x, lanes,
// acc) per block, then the same hsum (and for Q4_1/Q5_1 the same fmaf chain of m·s, added
// last), so each output is the vec_dot's float bit for bit. The tile shares the work that
// does not depend on the pair: a weight block is loaded and unpacked to unsigned bytes once
// for RN activation rows, an activation block is loaded once for RM weight rows, and the
// offset term −c·Σy (c = 128 for Q8_0's sign flip, 8 for Q4_0, 16 for Q5_0) is computed once
// per activation block and fed to each pair's dpbusd as its starting value: the same exact
// int32 lanes as the vec_dot's subtraction. The RM·RN scale products d_w·d_x (exact
// conversions, one rounding: the vec_dot's product) come from two conversions and two
// multiplies per block, and each pair's FMA takes its product as an embedded-broadcast
// load, which keeps the multiply off the two pipes that run dpbusd and the FMAs. The m·s
// chains of all pairs are lanes of two vectors (lane 4i + j: the pair's fmaf, unchanged).
// 4 × 4 keeps the 16 accumulators, 4 activation blocks and their offset terms in the 32
// vector registers.
#define SV_GEMM_VNNI_RM 4
#define SV_GEMM_VNNI_RN 4

enum { SV_GEMM_Q8_0, SV_GEMM_Q4_0, SV_GEMM_Q4_1, SV_GEMM_Q5_0, SV_GEMM_Q5_1 };

static inline __attribute__((always_inline)) void sv_gemm_q_tile_vnni(
    const int kind, const int RM, const int RN, int64_t nb, const char *w, size_t ws,
    const char *x, size_t xs, float *y, int64_t ys) {
    const size_t wbytes = kind == SV_GEMM_Q8_0 ? sizeof(sv_block_q8_0) : kind == SV_GEMM_Q4_0 ? sizeof(sv_block_q4_0)
                        : kind == SV_GEMM_Q4_1 ? sizeof(sv_block_q4_1) : kind == SV_GEMM_Q5_0 ? sizeof(sv_block_q5_0)
                        : sizeof(sv_block_q5_1);
    const int with_min = kind == SV_GEMM_Q4_1 || kind == SV_GEMM_Q5_1;  // partner Q8_1, m·s term
    const size_t xbytes = with_min ? sizeof(sv_block_q8_1) : sizeof(sv_block_q8_0);
    const char offset = kind == SV_GEMM_Q8_0 ? (char)0x80 : kind == SV_GEMM_Q4_0 ? 8 : kind == SV_GEMM_Q5_0 ? 16 : 0;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[SV_GEMM_VNNI_RM][SV_GEMM_VNNI_RN];
    __m256 summ[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i yq[SV_GEMM_VNNI_RN], ystart[SV_GEMM_VNNI_RN];
        uint64_t hw = 0, hx = 0, hm = 0, hs = 0;
        for (int j = 0; j < RN; j++) {
            const char *xb = x + (size_t)j * xs + (size_t)b * xbytes;
            if (with_min) {
                const sv_block_q8_1 *q = (const sv_block_q8_1 *)xb;
                yq[j] = sv_load_256(q->qs);
                hx |= (uint64_t)q->d << (16 * j);
                hs |= (uint64_t)q->s << (16 * j);
            } else {
                const sv_block_q8_0 *q = (const sv_block_q8_0 *)xb;
                yq[j] = sv_load_256(q->qs);
                hx |= (uint64_t)q->d << (16 * j);
            }
            ystart[j] = offset ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(offset), yq[j]))
                               : _mm256_setzero_si256();
        }
        for (int i = 0; i < RM; i++) {
            const sv_half *h = (const sv_half *)(w + (size_t)i * ws + (size_t)b * wbytes);
            hw |= (uint64_t)h[0] << (16 * i);                 // d leads every block
            if (with_min) hm |= (uint64_t)h[1] << (16 * i);   // then Q4_1/Q5_1's m
        }
        // sc[4i + j] = d_w[i] · d_x[j]. Read back through volatile so the compiler keeps the
        // memory round trip (a broadcast load per pair) instead of rebuilding it with shuffles.
        const __m256i lo = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), hi = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
        const __m256 fw = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hw)));
        const __m256 fxx = _mm256_castsi256_ps(_mm256_broadcastsi128_si256(_mm_castps_si128(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hx)))));
        __attribute__((aligned(32))) float sc[16];
        _mm256_store_ps(sc, _mm256_mul_ps(_mm256_permutexvar_ps(lo, fw), fxx));
        if (RM > 2) _mm256_store_ps(sc + 8, _mm256_mul_ps(_mm256_permutexvar_ps(hi, fw), fxx));
        if (with_min) {
            const __m256 fm = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hm)));
            const __m256 fss = _mm256_castsi256_ps(_mm256_broadcastsi128_si256(_mm_castps_si128(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hs)))));
            summ[0] = _mm256_fmadd_ps(_mm256_permutexvar_ps(lo, fm), fss, summ[0]);
            if (RM > 2) summ[1] = _mm256_fmadd_ps(_mm256_permutexvar_ps(hi, fm), fss, summ[1]);
        }
        for (int i = 0; i < RM; i++) {
            const char *wb = w + (size_t)i * ws + (size_t)b * wbytes;
            __m256i wu;
            switch (kind) {
            case SV_GEMM_Q8_0: wu = _mm256_xor_si256(sv_load_256(((const sv_block_q8_0 *)wb)->qs), flip); break;
            case SV_GEMM_Q4_0: wu = sv_nibbles_16(((const sv_block_q4_0 *)wb)->qs); break;
            case SV_GEMM_Q4_1: wu = sv_nibbles_16(((const sv_block_q4_1 *)wb)->qs); break;
            case SV_GEMM_Q5_0: wu = sv_q5_quants(((const sv_block_q5_0 *)wb)->qs, ((const sv_block_q5_0 *)wb)->qh); break;
            default: wu = sv_q5_quants(((const sv_block_q5_1 *)wb)->qs, ((const sv_block_q5_1 *)wb)->qh); break;
            }
            for (int j = 0; j < RN; j++) {
                const __m256i p = _mm256_dpbusd_epi32(ystart[j], wu, yq[j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(((volatile float *)sc)[4 * i + j]), _mm256_cvtepi32_ps(p), acc[i][j]);
            }
        }
    }
    __attribute__((aligned(32))) float sm[16];
    if (with_min) {
        _mm256_store_ps(sm, summ[0]);
        _mm256_store_ps(sm + 8, summ[1]);
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) {
            // No "+ 0" for the types without a min term: it would turn a −0 result into +0.
            y[(int64_t)j * ys + i] = with_min ? sv_hsum_ps256(acc[i][j]) + sm[4 * i + j] : sv_hsum_ps256(acc[i][j]);
        }
}

#define SV_GEMM_VNNI_KIND(NAME, KIND)                                                               \
    static inline __attribute__((always_inline)) void sv_gemm_##NAME##_tile_vnni(                   \
        const int RM, const int RN, int64_t nb, const char *w, size_t ws, const char *x, size_t xs, \
        float *y, int64_t ys) {                                                                     \
        sv_gemm_q_tile_vnni(KIND, RM, RN, nb, w, ws, x, xs, y, ys);                                 \
    }                                                                                               \
    SV_GEMM_TILE_FNS(sv_gemm_##NAME##_, _avx512_vnni, sv_gemm_##NAME##_tile_vnni)                   \
    static void sv_gemm_##NAME##_avx512_vnni(int64_t n, const void *w, size_t ws, int64_t nr,       \
                                             const void *x, size_t xs, int64_t nc, float *y,        \
                                             int64_t ys) {                                          \
        static const sv_gemm_tile_fn tiles[] = SV_GEMM_TILE_TABLE(sv_gemm_##NAME##_, _avx512_vnni); \
        sv_gemm_walk(tiles, SV_GEMM_VNNI_RM, SV_GEMM_VNNI_RN, n / 32, w, ws, nr, x, xs, nc, y, ys); \
    }

// MARK: - F16 products in tinyBLAS's order, register-tiled

// sv_matmul_rows_ggml's F16 batches: every output one 16-lane accumulator taking a fused
// multiply-add per 16 elements, then _mm512_reduce_add_ps as GCC expands it. A tile of RM
// weight rows × RN activation rows converts each 16 halves once for the tile instead of once
// per output; each output's lanes see the same FMAs in the same order, so the bits are the
// per-output kernel's. 4 × 6: 24 accumulators, 4 weight vectors and one activation vector.
static inline __attribute__((always_inline)) void sv_tinyblas_f16_tile(
    const int RM, const int RN, int64_t n, const char *w, size_t ws, const char *x, size_t xs, float *y, int64_t ys) {
    __m512 acc[4][6];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t l = 0; l < n; l += 16) {
        __m512 wv[4];
        for (int i = 0; i < RM; i++) wv[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + (size_t)i * ws) + l / 16));
        for (int j = 0; j < RN; j++) {
            const __m512 xv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + (size_t)j * xs) + l / 16));
            for (int i = 0; i < RM; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            y[(int64_t)j * ys + i] = sv_reduce16_halves(_mm512_castps512_ps256(acc[i][j]), _mm512_extractf32x8_ps(acc[i][j], 1));
}

#define SV_TB_TILE(RM, RN) \
    static void sv_tinyblas_f16_tile_##RM##x##RN(int64_t n, const char *w, size_t ws, const char *x, size_t xs, float *y, int64_t ys) { \
        sv_tinyblas_f16_tile(RM, RN, n, w, ws, x, xs, y, ys);                                                                        \
    }
SV_TB_TILE(1, 1) SV_TB_TILE(1, 2) SV_TB_TILE(1, 3) SV_TB_TILE(1, 4) SV_TB_TILE(1, 5) SV_TB_TILE(1, 6)
SV_TB_TILE(2, 1) SV_TB_TILE(2, 2) SV_TB_TILE(2, 3) SV_TB_TILE(2, 4) SV_TB_TILE(2, 5) SV_TB_TILE(2, 6)
SV_TB_TILE(3, 1) SV_TB_TILE(3, 2) SV_TB_TILE(3, 3) SV_TB_TILE(3, 4) SV_TB_TILE(3, 5) SV_TB_TILE(3, 6)
SV_TB_TILE(4, 1) SV_TB_TILE(4, 2) SV_TB_TILE(4, 3) SV_TB_TILE(4, 4) SV_TB_TILE(4, 5) SV_TB_TILE(4, 6)
#undef SV_TB_TILE

static void sv_gemm_f16_tinyblas_avx512(int64_t n, const void *w, size_t ws, int64_t nr,
                                        const void *x, size_t xs, int64_t nc, float *y, int64_t ys) {
    typedef void (*tile_fn)(int64_t, const char *, size_t, const char *, size_t, float *, int64_t);
    static const tile_fn tiles[4][6] = {
        {sv_tinyblas_f16_tile_1x1, sv_tinyblas_f16_tile_1x2, sv_tinyblas_f16_tile_1x3, sv_tinyblas_f16_tile_1x4, sv_tinyblas_f16_tile_1x5, sv_tinyblas_f16_tile_1x6},
        {sv_tinyblas_f16_tile_2x1, sv_tinyblas_f16_tile_2x2, sv_tinyblas_f16_tile_2x3, sv_tinyblas_f16_tile_2x4, sv_tinyblas_f16_tile_2x5, sv_tinyblas_f16_tile_2x6},
        {sv_tinyblas_f16_tile_3x1, sv_tinyblas_f16_tile_3x2, sv_tinyblas_f16_tile_3x3, sv_tinyblas_f16_tile_3x4, sv_tinyblas_f16_tile_3x5, sv_tinyblas_f16_tile_3x6},
        {sv_tinyblas_f16_tile_4x1, sv_tinyblas_f16_tile_4x2, sv_tinyblas_f16_tile_4x3, sv_tinyblas_f16_tile_4x4, sv_tinyblas_f16_tile_4x5, sv_tinyblas_f16_tile_4x6},
    };
    const char *wb = w, *xb = x;
    for (int64_t i = 0; i < nr; i += 4) {
        const int rm = nr - i < 4 ? (int)(nr - i) : 4;
        for (int64_t j = 0; j < nc; j += 6) {
            const int rn = nc - j < 6 ? (int)(nc - j) : 6;
            tiles[rm - 1][rn - 1](n, wb + (size_t)i * ws, ws, xb + (size_t)j * xs, xs, y + j * ys + i, ys);
        }
    }
}

// MARK: - Repacked Q8_0 product

// sv_gemm_q8_0_r16_generic with 16 outputs per zmm: each vpdpbusd takes 4 quants of 16 weight
// rows (one load) against 4 activation bytes (broadcast), started at −128·Σ of those bytes,
// which is exactly lane l of ggml's per-block sum for all 16 outputs at once; the conversion
// and the FMA into that lane's accumulator follow, then hsum_float_8's adds across the 8 lane
// accumulators. Against the 8-lane vec_dot tiles this saves every horizontal step and builds
// each scale product once per 16 outputs. Tile: one row group × A ≤ 3 activation rows (24
// accumulators).
static inline __attribute__((always_inline)) void sv_q8r16_tile_vnni(
    const int A, int64_t nb, const sv_block_q8_0_r16 *w, const char *x, size_t xs,
    const int32_t *qsums, int64_t nq, float *y, int64_t ys) {
    __m512 facc[3][8];
    for (int a = 0; a < A; a++)
        for (int l = 0; l < 8; l++) facc[a][l] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)w[b].d));
        __m512 d[3];
        const sv_block_q8_0 *xb[3];
        for (int a = 0; a < A; a++) {
            xb[a] = (const sv_block_q8_0 *)(x + (size_t)a * xs) + b;
            d[a] = _mm512_mul_ps(dw, _mm512_set1_ps(sv_h2f(xb[a]->d)));
        }
        for (int l = 0; l < 8; l++) {
            const __m512i wz = _mm512_loadu_si512(w[b].q[l]);
            for (int a = 0; a < A; a++) {
                int32_t four;
                memcpy(&four, xb[a]->qs + 4 * l, 4);
                const __m512i p = _mm512_dpbusd_epi32(_mm512_set1_epi32(qsums[a * nq + 8 * b + l]), wz, _mm512_set1_epi32(four));
                facc[a][l] = _mm512_fmadd_ps(d[a], _mm512_cvtepi32_ps(p), facc[a][l]);
            }
        }
    }
    for (int a = 0; a < A; a++) {
        // hsum_float_8 per output: (l4 + l0) + (l6 + l2), (l5 + l1) + (l7 + l3), then their sum.
        __m512 h[4];
        for (int i = 0; i < 4; i++) h[i] = _mm512_add_ps(facc[a][i + 4], facc[a][i]);
        _mm512_storeu_ps(y + (int64_t)a * ys, _mm512_add_ps(_mm512_add_ps(h[0], h[2]), _mm512_add_ps(h[1], h[3])));
    }
}

static void sv_q8r16_tile_1(int64_t nb, const sv_block_q8_0_r16 *w, const char *x, size_t xs, const int32_t *q, int64_t nq, float *y, int64_t ys) {
    sv_q8r16_tile_vnni(1, nb, w, x, xs, q, nq, y, ys);
}
static void sv_q8r16_tile_2(int64_t nb, const sv_block_q8_0_r16 *w, const char *x, size_t xs, const int32_t *q, int64_t nq, float *y, int64_t ys) {
    sv_q8r16_tile_vnni(2, nb, w, x, xs, q, nq, y, ys);
}
static void sv_q8r16_tile_3(int64_t nb, const sv_block_q8_0_r16 *w, const char *x, size_t xs, const int32_t *q, int64_t nq, float *y, int64_t ys) {
    sv_q8r16_tile_vnni(3, nb, w, x, xs, q, nq, y, ys);
}

#ifndef SV_Q8R16_A
#define SV_Q8R16_A 2
#endif
// Activation rows in chunks of 48 (their blocks stay in L1/L2 while every row group of the
// range meets them), then row groups, then activation rows in threes.
static void sv_gemm_q8_0_r16_avx512_vnni(int64_t n, const void *wp, int64_t g0, int64_t g1, const void *x, size_t x_stride,
                                         const int32_t *qsums, int64_t m, float *y, int64_t y_stride) {
    typedef void (*tile_fn)(int64_t, const sv_block_q8_0_r16 *, const char *, size_t, const int32_t *, int64_t, float *, int64_t);
    static const tile_fn tiles[3] = {sv_q8r16_tile_1, sv_q8r16_tile_2, sv_q8r16_tile_3};
    const int64_t nb = n / SV_QK8_0, nq = n / 4;
    const sv_block_q8_0_r16 *w = wp;
    for (int64_t a0 = 0; a0 < m; a0 += 48) {
        const int64_t a1 = a0 + 48 < m ? a0 + 48 : m;
        for (int64_t g = g0; g < g1; g++) {
            for (int64_t a = a0; a < a1; a += SV_Q8R16_A) {
                const int A = a + SV_Q8R16_A <= a1 ? SV_Q8R16_A : (int)(a1 - a);
                tiles[A - 1](nb, w + g * nb, (const char *)x + (size_t)a * x_stride, x_stride, qsums + a * nq, nq,
                             y + a * y_stride + 16 * g, y_stride);
            }
        }
    }
}

SV_GEMM_VNNI_KIND(q8_0_q8_0, SV_GEMM_Q8_0)
SV_GEMM_VNNI_KIND(q4_0_q8_0, SV_GEMM_Q4_0)
SV_GEMM_VNNI_KIND(q4_1_q8_1, SV_GEMM_Q4_1)
SV_GEMM_VNNI_KIND(q5_0_q8_0, SV_GEMM_Q5_0)
SV_GEMM_VNNI_KIND(q5_1_q8_1, SV_GEMM_Q5_1)

void sv_fill_kernels_avx512_vnni(sv_kernels *k) {
    sv_fill_kernels_avx512(k);
    k->vec_dot[SV_TYPE_Q8_0] = sv_vec_dot_q8_0_q8_0_avx512_vnni;
    k->gemm[SV_TYPE_Q8_0] = sv_gemm_q8_0_q8_0_avx512_vnni;
    k->gemm_q8_0_r16 = sv_gemm_q8_0_r16_avx512_vnni;
    k->tinyblas_f16_block = sv_gemm_f16_tinyblas_avx512;
    k->vec_dot[SV_TYPE_Q4_0] = sv_vec_dot_q4_0_q8_0_avx512_vnni;
    k->vec_dot[SV_TYPE_Q4_1] = sv_vec_dot_q4_1_q8_1_avx512_vnni;
    k->vec_dot[SV_TYPE_Q5_0] = sv_vec_dot_q5_0_q8_0_avx512_vnni;
    k->vec_dot[SV_TYPE_Q5_1] = sv_vec_dot_q5_1_q8_1_avx512_vnni;
    k->gemm[SV_TYPE_Q4_0] = sv_gemm_q4_0_q8_0_avx512_vnni;
    k->gemm[SV_TYPE_Q4_1] = sv_gemm_q4_1_q8_1_avx512_vnni;
    k->gemm[SV_TYPE_Q5_0] = sv_gemm_q5_0_q8_0_avx512_vnni;
    k->gemm[SV_TYPE_Q5_1] = sv_gemm_q5_1_q8_1_avx512_vnni;
}

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif
