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

// MARK: - Per-ISA fill functions (defined only where the ISA's file is compiled)

#if defined(__x86_64__) || defined(_M_X64)
void sv_fill_kernels_avx2(sv_kernels *k);
void sv_fill_kernels_avx512(sv_kernels *k);
void sv_fill_kernels_avx512_vnni(sv_kernels *k);
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
void sv_fill_kernels_neon(sv_kernels *k);
void sv_fill_kernels_neon_dotprod(sv_kernels *k);
#endif

// MARK: - Shared helpers

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
