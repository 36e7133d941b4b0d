// Type tables and scalar half/bfloat conversions.
//
// The conversions are integer-only so they give the same bits whatever the FPU's
// rounding mode or flush-to-zero setting: fp32→fp16 rounds to nearest even and
// treats NaN exactly like F16C's vcvtps2ph (which ggml uses on x86), fp32→bf16
// is ggml's ggml_compute_fp32_to_bf16.
#include "../internal.h"

// MARK: - Type tables

int64_t sv_type_block_elems(sv_type t) {
    switch (t) {
    case SV_TYPE_F32:
    case SV_TYPE_F16:
    case SV_TYPE_BF16: return 1;
    case SV_TYPE_Q4_0: return SV_QK4_0;
    case SV_TYPE_Q4_1: return SV_QK4_1;
    case SV_TYPE_Q5_0: return SV_QK5_0;
    case SV_TYPE_Q5_1: return SV_QK5_1;
    case SV_TYPE_Q8_0: return SV_QK8_0;
    case SV_TYPE_Q8_1: return SV_QK8_1;
    case SV_TYPE_Q4_K:
    case SV_TYPE_Q5_K:
    case SV_TYPE_Q6_K:
    case SV_TYPE_Q8_K: return SV_QK_K;
    default: return 0;
    }
}

size_t sv_type_block_bytes(sv_type t) {
    switch (t) {
    case SV_TYPE_F32:  return sizeof(float);
    case SV_TYPE_F16:  return sizeof(sv_half);
    case SV_TYPE_BF16: return sizeof(sv_bf16);
    case SV_TYPE_Q4_0: return sizeof(sv_block_q4_0);
    case SV_TYPE_Q4_1: return sizeof(sv_block_q4_1);
    case SV_TYPE_Q5_0: return sizeof(sv_block_q5_0);
    case SV_TYPE_Q5_1: return sizeof(sv_block_q5_1);
    case SV_TYPE_Q8_0: return sizeof(sv_block_q8_0);
    case SV_TYPE_Q8_1: return sizeof(sv_block_q8_1);
    case SV_TYPE_Q4_K: return sizeof(sv_block_q4_K);
    case SV_TYPE_Q5_K: return sizeof(sv_block_q5_K);
    case SV_TYPE_Q6_K: return sizeof(sv_block_q6_K);
    case SV_TYPE_Q8_K: return sizeof(sv_block_q8_K);
    default: return 0;
    }
}

// GGUF data is used in place, so a padding byte anywhere would misread every tensor.
_Static_assert(sizeof(sv_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(sv_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(sv_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(sv_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(sv_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(sv_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(sv_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(sv_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(sv_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(sv_block_q8_K) == 292, "q8_K layout");

size_t sv_row_bytes(sv_type t, int64_t n) {
    const int64_t be = sv_type_block_elems(t);
    if (be == 0 || n < 0 || n % be != 0) return 0;
    return (size_t)(n / be) * sv_type_block_bytes(t);
}

sv_type sv_vec_dot_type(sv_type weight) {
    switch (weight) {
    case SV_TYPE_Q4_0:
    case SV_TYPE_Q5_0:
    case SV_TYPE_Q8_0: return SV_TYPE_Q8_0;
    case SV_TYPE_Q4_1:
    case SV_TYPE_Q5_1: return SV_TYPE_Q8_1;
    case SV_TYPE_Q4_K:
    case SV_TYPE_Q5_K:
    case SV_TYPE_Q6_K: return SV_TYPE_Q8_K;
    // Float weights meet activations of their own type, as in ggml.
    default: return weight;
    }
}

const char *sv_type_name(sv_type t) {
    switch (t) {
    case SV_TYPE_F32:  return "f32";
    case SV_TYPE_F16:  return "f16";
    case SV_TYPE_BF16: return "bf16";
    case SV_TYPE_Q4_0: return "q4_0";
    case SV_TYPE_Q4_1: return "q4_1";
    case SV_TYPE_Q5_0: return "q5_0";
    case SV_TYPE_Q5_1: return "q5_1";
    case SV_TYPE_Q8_0: return "q8_0";
    case SV_TYPE_Q8_1: return "q8_1";
    case SV_TYPE_Q4_K: return "q4_K";
    case SV_TYPE_Q5_K: return "q5_K";
    case SV_TYPE_Q6_K: return "q6_K";
    case SV_TYPE_Q8_K: return "q8_K";
    default: return "unknown";
    }
}

// MARK: - Conversions

static inline uint32_t sv_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float sv_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float sv_fp16_to_fp32(sv_half h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) {
        // Inf stays Inf; NaN keeps its payload but is made quiet, as vcvtph2ps does.
        return sv_bits_f32(sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0));
    }
    if (exp != 0) {
        return sv_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
    }
    // Zero or subnormal half: mant * 2^-24 is exact in f32 and, when nonzero, a
    // normal f32, so no FPU mode (flush-to-zero included) can change it.
    return sv_bits_f32(sign | sv_f32_bits((float)mant * 0x1p-24f));
}

// Rounds v >> shift to nearest, ties to even (1 <= shift <= 31).
static inline uint32_t sv_shift_rne(uint32_t v, unsigned shift) {
    const uint32_t q = v >> shift;
    const uint32_t rem = v & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1u)));
}

sv_half sv_fp32_to_fp16(float f) {
    const uint32_t u = sv_f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) {
        // F16C keeps the top 10 payload bits and sets the quiet bit.
        return (sv_half)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    }
    // 65520 is the midpoint between the largest half (65504) and 2^16; it rounds
    // to the even side, which is infinity.
    if (a >= 0x477FF000u) return (sv_half)(sign | 0x7C00u);
    if (a >= 0x38800000u) {
        // Normal half: rebias the exponent; a mantissa carry correctly bumps it.
        return (sv_half)(sign | sv_shift_rne(a - (112u << 23), 13));
    }
    // Subnormal half (units of 2^-24); below 2^-25 everything rounds to zero.
    const uint32_t e = a >> 23;
    if (e < 102) return sign;
    const uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;
    return (sv_half)(sign | sv_shift_rne(mant, 126 - e));
}

float sv_bf16_to_fp32(sv_bf16 h) {
    return sv_bits_f32((uint32_t)h << 16);
}

sv_bf16 sv_fp32_to_bf16(float f) {
    const uint32_t u = sv_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
        return (sv_bf16)((u >> 16) | 0x40u); // truncated NaN, forced quiet
    }
    return (sv_bf16)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
