// Private to the Kernels target: naming and wiring of per-ISA kernels.
//
// Names say the type pair, ggml style: sv_vec_dot_<weight>_<activation>_<isa>,
// sv_quantize_row_<partner>_<isa>. The scalar versions (suffix _generic, in
// Kernels/generic) are the oracle every SIMD twin is tested against.
//
// Wiring: dispatch.c starts every table as a copy of the generic one, then calls
// the ISA's fill function, which overrides only the entries it implements. A fill
// function may call a lower ISA's fill first (avx512 → avx2).
#ifndef SMOLVLM_KERNELS_INTERNAL_H
#define SMOLVLM_KERNELS_INTERNAL_H

#include "include/kernels.h"

#include <string.h>

#define SV_UNUSED(x) (void)(x)

// MARK: - Generic (scalar) kernels

void sv_quantize_row_q8_0_generic(const float *x, void *y, int64_t n);
void sv_quantize_row_q8_1_generic(const float *x, void *y, int64_t n);
void sv_quantize_row_q8_K_generic(const float *x, void *y, int64_t n);
void sv_convert_row_f16_generic(const float *x, void *y, int64_t n);
void sv_convert_row_bf16_generic(const float *x, void *y, int64_t n);
void sv_convert_row_f32_generic(const float *x, void *y, int64_t n);

float sv_vec_dot_f32_f32_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_f16_f16_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_bf16_bf16_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q8_0_q8_0_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q4_0_q8_0_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q4_1_q8_1_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q5_0_q8_0_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q5_1_q8_1_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q4_K_q8_K_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q5_K_q8_K_generic(int64_t n, const void *w, const void *x);
float sv_vec_dot_q6_K_q8_K_generic(int64_t n, const void *w, const void *x);

void sv_fill_kernels_generic(sv_kernels *k);

// _mm512_reduce_add_ps as GCC expands it, and ggml's hsum_float_8 (vec_dot_x86_order.c).
float sv_reduce16_gcc(const float v[16]);
float sv_reduce8_ggml(const float v[8]);

// MARK: - Register-tiled matrix products
//
// A fill function that installs vec_dot[t] must install the matching gemm[t] or clear it:
// a gemm is only correct next to the vec_dot whose bits it reproduces (the tests compare
// every table's pair on random data).

/// One rm × rn register tile of an sv_gemm_fn over nb blocks per row (pointers at the tile).
typedef void (*sv_gemm_tile_fn)(int64_t nb, const char *w, size_t w_stride,
                                const char *x, size_t x_stride, float *y, int64_t y_stride);

#define SV_GEMM_TILE_MAX 4

/// Covers nr × nc outputs with rm_max × rn_max tiles (at most SV_GEMM_TILE_MAX each) and the
/// edges with smaller ones: tiles[(rm - 1) · SV_GEMM_TILE_MAX + (rn - 1)] computes rm weight
/// rows × rn activation rows. Weight rows are the outer loop, so a tile's weight rows stay in
/// L1 while every activation row of the block streams past them.
static inline void sv_gemm_walk(const sv_gemm_tile_fn tiles[SV_GEMM_TILE_MAX * SV_GEMM_TILE_MAX],
                                int rm_max, int rn_max, int64_t nb,
                                const void *w, size_t w_stride, int64_t nr,
                                const void *x, size_t x_stride, int64_t nc,
                                float *y, int64_t y_stride) {
    const char *wb = w, *xb = x;
    for (int64_t i = 0; i < nr; i += rm_max) {
        const int rm = (nr - i < rm_max) ? (int)(nr - i) : rm_max;
        for (int64_t j = 0; j < nc; j += rn_max) {
            const int rn = (nc - j < rn_max) ? (int)(nc - j) : rn_max;
            tiles[(rm - 1) * SV_GEMM_TILE_MAX + (rn - 1)](nb, wb + (size_t)i * w_stride, w_stride,
                                                           xb + (size_t)j * x_stride, x_stride,
                                                           y + j * y_stride + i, y_stride);
        }
    }
}

/// The 4 × 4 table of tile functions PREFIX##rm##x##rn##SUFFIX, for sv_gemm_walk.
#define SV_GEMM_TILE_TABLE(PREFIX, SUFFIX)                                                     \
    {                                                                                          \
        PREFIX##1x1##SUFFIX, PREFIX##1x2##SUFFIX, PREFIX##1x3##SUFFIX, PREFIX##1x4##SUFFIX,    \
        PREFIX##2x1##SUFFIX, PREFIX##2x2##SUFFIX, PREFIX##2x3##SUFFIX, PREFIX##2x4##SUFFIX,    \
        PREFIX##3x1##SUFFIX, PREFIX##3x2##SUFFIX, PREFIX##3x3##SUFFIX, PREFIX##3x4##SUFFIX,    \
        PREFIX##4x1##SUFFIX, PREFIX##4x2##SUFFIX, PREFIX##4x3##SUFFIX, PREFIX##4x4##SUFFIX,    \
    }

/// Defines the 16 tile functions PREFIX##rm##x##rn##SUFFIX, each BODY(rm, rn, ...) inlined.
#define SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, rm, rn)                                          \
    static void PREFIX##rm##x##rn##SUFFIX(int64_t nb, const char *w, size_t ws, const char *x, \
                                          size_t xs, float *y, int64_t ys) {                   \
        BODY(rm, rn, nb, w, ws, x, xs, y, ys);                                                 \
    }
#define SV_GEMM_TILE_FNS(PREFIX, SUFFIX, BODY)                                                 \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 1, 1) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 1, 2)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 1, 3) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 1, 4)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 2, 1) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 2, 2)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 2, 3) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 2, 4)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 3, 1) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 3, 2)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 3, 3) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 3, 4)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 4, 1) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 4, 2)    \
    SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 4, 3) SV_GEMM_TILE_FN(PREFIX, SUFFIX, BODY, 4, 4)

// MARK: - Per-ISA fill functions (defined only where the ISA's file is compiled)

#if defined(__x86_64__) || defined(_M_X64)
void sv_fill_kernels_avx2(sv_kernels *k);
void sv_fill_kernels_avx512(sv_kernels *k);
void sv_fill_kernels_avx512_vnni(sv_kernels *k);
/// The register-only peak loops (x86/peak.c) for the table's instruction set; `bf16` when the
/// CPU has AVX512_BF16.
void sv_fill_peak_x86(sv_kernels *k, int bf16);
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
void sv_fill_kernels_neon(sv_kernels *k);
void sv_fill_kernels_neon_dotprod(sv_kernels *k);
/// The register-only peak loops (arm/peak.c) for the table's instruction set.
void sv_fill_peak_arm(sv_kernels *k);
#endif

// MARK: - Shared helpers

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

/// _mm512_reduce_add_ps as GCC expands it in ggml (sv_reduce16_gcc), on a 16-lane value held as
/// two ymm halves; written out so the order does not rest on this compiler's expansion.
__attribute__((target("avx")))
static inline float sv_reduce16_halves(__m256 lo, __m256 hi) {
    const __m256 a = _mm256_add_ps(hi, lo);
    const __m128 b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b)); // b0 + b2, b1 + b3
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}
#endif

/// The 32 fifth bits of a Q5_0/Q5_1 block as one word: bit j belongs to element j. The
/// bytes are little-endian in the file; assembling them keeps the read unaligned-safe
/// and independent of the host's byte order.
static inline uint32_t sv_q5_high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}

/// Unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
static inline void sv_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

#endif
