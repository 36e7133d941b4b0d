// Register-only throughput loops (sv_peak_fn) for the x86 tables: the yardstick `smolvlm bench
// kernels` divides each kernel's rate by.
//
// Each loop body is one volatile asm block so the compiler can neither hoist the loop-invariant
// products out of the loop nor drop them; accumulators live in registers bound by constraints,
// with enough independent chains (10–12) to cover the instruction's latency on any current core.
// Inputs are never loaded inside the loop, so the rate is the execution units' alone.
#if defined(__x86_64__) || defined(_M_X64)
#include "../internal.h"

#include <immintrin.h>

#define SV_PEAK_SINK(sink, v) (*(sink) = (float)(v))

// MARK: - AVX2 (ymm)

// 32 int8 multiply-adds per unit, the way AVX2 int8 kernels must: u8·s8 pairs into s16
// (vpmaddubsw), pairs of s16 into s32 (vpmaddwd against ones), then the accumulate.
__attribute__((target("avx2"))) static double sv_peak_int8_avx2(int64_t iterations, float *sink) {
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1);
    __m256i c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a;
    __m256i t0 = a, t1 = a, t2 = a, t3 = a, t4 = a, t5 = a;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vpmaddubsw %[b], %[a], %[t0]\n\t" "vpmaddubsw %[b], %[a], %[t1]\n\t" "vpmaddubsw %[b], %[a], %[t2]\n\t"
            "vpmaddubsw %[b], %[a], %[t3]\n\t" "vpmaddubsw %[b], %[a], %[t4]\n\t" "vpmaddubsw %[b], %[a], %[t5]\n\t"
            "vpmaddwd %[one], %[t0], %[t0]\n\t" "vpmaddwd %[one], %[t1], %[t1]\n\t" "vpmaddwd %[one], %[t2], %[t2]\n\t"
            "vpmaddwd %[one], %[t3], %[t3]\n\t" "vpmaddwd %[one], %[t4], %[t4]\n\t" "vpmaddwd %[one], %[t5], %[t5]\n\t"
            "vpaddd %[t0], %[c0], %[c0]\n\t" "vpaddd %[t1], %[c1], %[c1]\n\t" "vpaddd %[t2], %[c2], %[c2]\n\t"
            "vpaddd %[t3], %[c3], %[c3]\n\t" "vpaddd %[t4], %[c4], %[c4]\n\t" "vpaddd %[t5], %[c5], %[c5]\n\t"
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5),
              [t0] "+x"(t0), [t1] "+x"(t1), [t2] "+x"(t2), [t3] "+x"(t3), [t4] "+x"(t4), [t5] "+x"(t5)
            : [a] "x"(a), [b] "x"(b), [one] "x"(one));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)), _mm256_add_epi32(c4, c5));
    SV_PEAK_SINK(sink, _mm256_extract_epi32(s, 0));
    return (double)iterations * 6 * 32 * 2;
}

__attribute__((target("avx2,fma"))) static double sv_peak_f32_avx2(int64_t iterations, float *sink) {
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
    __m256 c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vfmadd231ps %[a], %[b], %[c0]\n\t" "vfmadd231ps %[a], %[b], %[c1]\n\t" "vfmadd231ps %[a], %[b], %[c2]\n\t"
            "vfmadd231ps %[a], %[b], %[c3]\n\t" "vfmadd231ps %[a], %[b], %[c4]\n\t" "vfmadd231ps %[a], %[b], %[c5]\n\t"
            "vfmadd231ps %[a], %[b], %[c6]\n\t" "vfmadd231ps %[a], %[b], %[c7]\n\t" "vfmadd231ps %[a], %[b], %[c8]\n\t"
            "vfmadd231ps %[a], %[b], %[c9]\n\t"
            : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4),
              [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9)
            : [a] "x"(a), [b] "x"(b));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)), _mm256_add_ps(c8, c9)));
    SV_PEAK_SINK(sink, _mm256_cvtss_f32(s));
    return (double)iterations * 10 * 8 * 2;
}

// MARK: - AVX-512 (zmm)

__attribute__((target("avx512f,avx512bw"))) static double sv_peak_int8_avx512(int64_t iterations, float *sink) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5), one = _mm512_set1_epi16(1);
    __m512i c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a;
    __m512i t0 = a, t1 = a, t2 = a, t3 = a, t4 = a, t5 = a;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vpmaddubsw %[b], %[a], %[t0]\n\t" "vpmaddubsw %[b], %[a], %[t1]\n\t" "vpmaddubsw %[b], %[a], %[t2]\n\t"
            "vpmaddubsw %[b], %[a], %[t3]\n\t" "vpmaddubsw %[b], %[a], %[t4]\n\t" "vpmaddubsw %[b], %[a], %[t5]\n\t"
            "vpmaddwd %[one], %[t0], %[t0]\n\t" "vpmaddwd %[one], %[t1], %[t1]\n\t" "vpmaddwd %[one], %[t2], %[t2]\n\t"
            "vpmaddwd %[one], %[t3], %[t3]\n\t" "vpmaddwd %[one], %[t4], %[t4]\n\t" "vpmaddwd %[one], %[t5], %[t5]\n\t"
            "vpaddd %[t0], %[c0], %[c0]\n\t" "vpaddd %[t1], %[c1], %[c1]\n\t" "vpaddd %[t2], %[c2], %[c2]\n\t"
            "vpaddd %[t3], %[c3], %[c3]\n\t" "vpaddd %[t4], %[c4], %[c4]\n\t" "vpaddd %[t5], %[c5], %[c5]\n\t"
            : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4), [c5] "+v"(c5),
              [t0] "+v"(t0), [t1] "+v"(t1), [t2] "+v"(t2), [t3] "+v"(t3), [t4] "+v"(t4), [t5] "+v"(t5)
            : [a] "v"(a), [b] "v"(b), [one] "v"(one));
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)), _mm512_add_epi32(c4, c5));
    SV_PEAK_SINK(sink, _mm512_reduce_add_epi32(s));
    return (double)iterations * 6 * 64 * 2;
}

__attribute__((target("avx512f"))) static double sv_peak_f32_avx512(int64_t iterations, float *sink) {
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
    __m512 c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vfmadd231ps %[a], %[b], %[c0]\n\t" "vfmadd231ps %[a], %[b], %[c1]\n\t" "vfmadd231ps %[a], %[b], %[c2]\n\t"
            "vfmadd231ps %[a], %[b], %[c3]\n\t" "vfmadd231ps %[a], %[b], %[c4]\n\t" "vfmadd231ps %[a], %[b], %[c5]\n\t"
            "vfmadd231ps %[a], %[b], %[c6]\n\t" "vfmadd231ps %[a], %[b], %[c7]\n\t" "vfmadd231ps %[a], %[b], %[c8]\n\t"
            "vfmadd231ps %[a], %[b], %[c9]\n\t"
            : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4),
              [c5] "+v"(c5), [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9)
            : [a] "v"(a), [b] "v"(b));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)), _mm512_add_ps(c8, c9)));
    SV_PEAK_SINK(sink, _mm512_reduce_add_ps(s));
    return (double)iterations * 10 * 16 * 2;
}

// 64 int8 multiply-adds per vpdpbusd: 16 lanes, 4 byte products each.
__attribute__((target("avx512f,avx512vnni"))) static double sv_peak_int8_vnni(int64_t iterations, float *sink) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
    __m512i c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vpdpbusd %[b], %[a], %[c0]\n\t" "vpdpbusd %[b], %[a], %[c1]\n\t" "vpdpbusd %[b], %[a], %[c2]\n\t"
            "vpdpbusd %[b], %[a], %[c3]\n\t" "vpdpbusd %[b], %[a], %[c4]\n\t" "vpdpbusd %[b], %[a], %[c5]\n\t"
            "vpdpbusd %[b], %[a], %[c6]\n\t" "vpdpbusd %[b], %[a], %[c7]\n\t" "vpdpbusd %[b], %[a], %[c8]\n\t"
            "vpdpbusd %[b], %[a], %[c9]\n\t"
            : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4),
              [c5] "+v"(c5), [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9)
            : [a] "v"(a), [b] "v"(b));
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)), _mm512_add_epi32(c8, c9)));
    SV_PEAK_SINK(sink, _mm512_reduce_add_epi32(s));
    return (double)iterations * 10 * 64 * 2;
}

// 32 bf16 multiply-adds per vdpbf16ps: 16 lanes, a pair each.
__attribute__((target("avx512f,avx512bf16"))) static double sv_peak_bf16_avx512(int64_t iterations, float *sink) {
    __m512 a = _mm512_set1_ps(1e-3f);
    __m512i x = _mm512_set1_epi16(0x3f80);  // bf16 1.0
    __m512 c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vdpbf16ps %[x], %[x], %[c0]\n\t" "vdpbf16ps %[x], %[x], %[c1]\n\t" "vdpbf16ps %[x], %[x], %[c2]\n\t"
            "vdpbf16ps %[x], %[x], %[c3]\n\t" "vdpbf16ps %[x], %[x], %[c4]\n\t" "vdpbf16ps %[x], %[x], %[c5]\n\t"
            "vdpbf16ps %[x], %[x], %[c6]\n\t" "vdpbf16ps %[x], %[x], %[c7]\n\t" "vdpbf16ps %[x], %[x], %[c8]\n\t"
            "vdpbf16ps %[x], %[x], %[c9]\n\t"
            : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4),
              [c5] "+v"(c5), [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9)
            : [x] "v"(x));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)), _mm512_add_ps(c8, c9)));
    SV_PEAK_SINK(sink, _mm512_reduce_add_ps(s));
    return (double)iterations * 10 * 32 * 2;
}

// llama.cpp's Q8_0 order, per 16 outputs and 4 elements of a block: the lane's integer starts
// from its bias (a register move standing in for the kernel's broadcast load), one vpdpbusd, one
// conversion, one FMA into that lane's float accumulator. 64 multiply-adds per unit.
__attribute__((target("avx512f,avx512vnni"))) static double sv_peak_q8_0_ordered_vnni(int64_t iterations, float *sink) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5), bias = _mm512_set1_epi32(-128);
    __m512 d = _mm512_set1_ps(1e-6f);
    __m512i p0 = a, p1 = a, p2 = a, p3 = a, p4 = a, p5 = a;
    __m512 f0 = d, f1 = d, f2 = d, f3 = d, f4 = d, f5 = d;
    __m512 c0 = d, c1 = d, c2 = d, c3 = d, c4 = d, c5 = d;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "vmovdqa64 %[bias], %[p0]\n\t" "vmovdqa64 %[bias], %[p1]\n\t" "vmovdqa64 %[bias], %[p2]\n\t"
            "vmovdqa64 %[bias], %[p3]\n\t" "vmovdqa64 %[bias], %[p4]\n\t" "vmovdqa64 %[bias], %[p5]\n\t"
            "vpdpbusd %[b], %[a], %[p0]\n\t" "vpdpbusd %[b], %[a], %[p1]\n\t" "vpdpbusd %[b], %[a], %[p2]\n\t"
            "vpdpbusd %[b], %[a], %[p3]\n\t" "vpdpbusd %[b], %[a], %[p4]\n\t" "vpdpbusd %[b], %[a], %[p5]\n\t"
            "vcvtdq2ps %[p0], %[f0]\n\t" "vcvtdq2ps %[p1], %[f1]\n\t" "vcvtdq2ps %[p2], %[f2]\n\t"
            "vcvtdq2ps %[p3], %[f3]\n\t" "vcvtdq2ps %[p4], %[f4]\n\t" "vcvtdq2ps %[p5], %[f5]\n\t"
            "vfmadd231ps %[d], %[f0], %[c0]\n\t" "vfmadd231ps %[d], %[f1], %[c1]\n\t" "vfmadd231ps %[d], %[f2], %[c2]\n\t"
            "vfmadd231ps %[d], %[f3], %[c3]\n\t" "vfmadd231ps %[d], %[f4], %[c4]\n\t" "vfmadd231ps %[d], %[f5], %[c5]\n\t"
            : [p0] "+v"(p0), [p1] "+v"(p1), [p2] "+v"(p2), [p3] "+v"(p3), [p4] "+v"(p4), [p5] "+v"(p5),
              [f0] "+v"(f0), [f1] "+v"(f1), [f2] "+v"(f2), [f3] "+v"(f3), [f4] "+v"(f4), [f5] "+v"(f5),
              [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4), [c5] "+v"(c5)
            : [a] "v"(a), [b] "v"(b), [bias] "v"(bias), [d] "v"(d));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(c4, c5));
    SV_PEAK_SINK(sink, _mm512_reduce_add_ps(s));
    return (double)iterations * 6 * 64 * 2;
}

// MARK: - Table

void sv_fill_peak_x86(sv_kernels *k, int bf16) {
    switch (k->isa) {
    case SV_ISA_AVX2:
        k->peak[SV_PEAK_INT8] = sv_peak_int8_avx2;
        k->peak_instruction[SV_PEAK_INT8] = "vpmaddubsw+vpmaddwd+vpaddd ymm";
        k->peak[SV_PEAK_F32] = sv_peak_f32_avx2;
        k->peak_instruction[SV_PEAK_F32] = "vfmadd231ps ymm";
        break;
    case SV_ISA_AVX512:
    case SV_ISA_AVX512_VNNI:
        if (k->isa == SV_ISA_AVX512_VNNI) {
            k->peak[SV_PEAK_INT8] = sv_peak_int8_vnni;
            k->peak_instruction[SV_PEAK_INT8] = "vpdpbusd zmm";
            k->peak[SV_PEAK_Q8_0_ORDERED] = sv_peak_q8_0_ordered_vnni;
            k->peak_instruction[SV_PEAK_Q8_0_ORDERED] = "vpdpbusd+vcvtdq2ps+vfmadd231ps zmm";
        } else {
            k->peak[SV_PEAK_INT8] = sv_peak_int8_avx512;
            k->peak_instruction[SV_PEAK_INT8] = "vpmaddubsw+vpmaddwd+vpaddd zmm";
        }
        k->peak[SV_PEAK_F32] = sv_peak_f32_avx512;
        k->peak_instruction[SV_PEAK_F32] = "vfmadd231ps zmm";
        if (bf16) {
            k->peak[SV_PEAK_BF16] = sv_peak_bf16_avx512;
            k->peak_instruction[SV_PEAK_BF16] = "vdpbf16ps zmm";
        }
        break;
    default: break;
    }
}
#endif
