// Register-only throughput loops (sv_peak_fn) for the NEON tables, as x86/peak.c does for x86:
// one volatile asm block per iteration (nothing hoisted or dropped), independent accumulators in
// registers, no memory traffic.
#if defined(__aarch64__) || defined(_M_ARM64)
#include "../internal.h"

#include <arm_neon.h>

#if defined(__clang__)
#define SV_PEAK_DOTPROD __attribute__((target("dotprod")))
#elif defined(__GNUC__)
#define SV_PEAK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define SV_PEAK_DOTPROD
#endif

// 16 int8 multiply-adds per unit, as the plain NEON dots do them: widening multiplies of the low
// and high halves into int16, then a pairwise accumulate into int32.
static double sv_peak_int8_neon(int64_t iterations, float *sink) {
    int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(5);
    int16x8_t t0 = vdupq_n_s16(0), t1 = t0, t2 = t0, t3 = t0;
    int32x4_t c0 = vdupq_n_s32(0), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "smull %[t0].8h, %[a].8b, %[b].8b\n\t" "smull %[t1].8h, %[a].8b, %[b].8b\n\t"
            "smull %[t2].8h, %[a].8b, %[b].8b\n\t" "smull %[t3].8h, %[a].8b, %[b].8b\n\t"
            "smlal2 %[t0].8h, %[a].16b, %[b].16b\n\t" "smlal2 %[t1].8h, %[a].16b, %[b].16b\n\t"
            "smlal2 %[t2].8h, %[a].16b, %[b].16b\n\t" "smlal2 %[t3].8h, %[a].16b, %[b].16b\n\t"
            "sadalp %[c0].4s, %[t0].8h\n\t" "sadalp %[c1].4s, %[t1].8h\n\t"
            "sadalp %[c2].4s, %[t2].8h\n\t" "sadalp %[c3].4s, %[t3].8h\n\t"
            : [t0] "+w"(t0), [t1] "+w"(t1), [t2] "+w"(t2), [t3] "+w"(t3),
              [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3)
            : [a] "w"(a), [b] "w"(b));
    }
    *sink = (float)vaddvq_s32(vaddq_s32(vaddq_s32(c0, c1), vaddq_s32(c2, c3)));
    return (double)iterations * 4 * 16 * 2;
}

static double sv_peak_f32_neon(int64_t iterations, float *sink) {
    float32x4_t a = vdupq_n_f32(0.999f), b = vdupq_n_f32(1e-3f);
    float32x4_t c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "fmla %[c0].4s, %[a].4s, %[b].4s\n\t" "fmla %[c1].4s, %[a].4s, %[b].4s\n\t"
            "fmla %[c2].4s, %[a].4s, %[b].4s\n\t" "fmla %[c3].4s, %[a].4s, %[b].4s\n\t"
            "fmla %[c4].4s, %[a].4s, %[b].4s\n\t" "fmla %[c5].4s, %[a].4s, %[b].4s\n\t"
            "fmla %[c6].4s, %[a].4s, %[b].4s\n\t" "fmla %[c7].4s, %[a].4s, %[b].4s\n\t"
            : [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3),
              [c4] "+w"(c4), [c5] "+w"(c5), [c6] "+w"(c6), [c7] "+w"(c7)
            : [a] "w"(a), [b] "w"(b));
    }
    *sink = vaddvq_f32(vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7))));
    return (double)iterations * 8 * 4 * 2;
}

// 16 int8 multiply-adds per sdot: 4 lanes, 4 byte products each.
SV_PEAK_DOTPROD static double sv_peak_int8_sdot(int64_t iterations, float *sink) {
    int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(5);
    int32x4_t c0 = vdupq_n_s32(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "sdot %[c0].4s, %[a].16b, %[b].16b\n\t" "sdot %[c1].4s, %[a].16b, %[b].16b\n\t"
            "sdot %[c2].4s, %[a].16b, %[b].16b\n\t" "sdot %[c3].4s, %[a].16b, %[b].16b\n\t"
            "sdot %[c4].4s, %[a].16b, %[b].16b\n\t" "sdot %[c5].4s, %[a].16b, %[b].16b\n\t"
            "sdot %[c6].4s, %[a].16b, %[b].16b\n\t" "sdot %[c7].4s, %[a].16b, %[b].16b\n\t"
            : [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3),
              [c4] "+w"(c4), [c5] "+w"(c5), [c6] "+w"(c6), [c7] "+w"(c7)
            : [a] "w"(a), [b] "w"(b));
    }
    *sink = (float)vaddvq_s32(vaddq_s32(vaddq_s32(vaddq_s32(c0, c1), vaddq_s32(c2, c3)), vaddq_s32(vaddq_s32(c4, c5), vaddq_s32(c6, c7))));
    return (double)iterations * 8 * 16 * 2;
}

// llama.cpp's Q8_0 order with sdot (the repacked product's inner step): per 4 lanes and 4
// elements of a block, one sdot from a zeroed register, one conversion, one FMA.
SV_PEAK_DOTPROD static double sv_peak_q8_0_ordered_sdot(int64_t iterations, float *sink) {
    int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(5);
    float32x4_t d = vdupq_n_f32(1e-6f);
    int32x4_t p0 = vdupq_n_s32(0), p1 = p0, p2 = p0, p3 = p0;
    float32x4_t f0 = d, f1 = d, f2 = d, f3 = d, c0 = d, c1 = d, c2 = d, c3 = d;
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile(
            "movi %[p0].4s, #0\n\t" "movi %[p1].4s, #0\n\t" "movi %[p2].4s, #0\n\t" "movi %[p3].4s, #0\n\t"
            "sdot %[p0].4s, %[a].16b, %[b].16b\n\t" "sdot %[p1].4s, %[a].16b, %[b].16b\n\t"
            "sdot %[p2].4s, %[a].16b, %[b].16b\n\t" "sdot %[p3].4s, %[a].16b, %[b].16b\n\t"
            "scvtf %[f0].4s, %[p0].4s\n\t" "scvtf %[f1].4s, %[p1].4s\n\t"
            "scvtf %[f2].4s, %[p2].4s\n\t" "scvtf %[f3].4s, %[p3].4s\n\t"
            "fmla %[c0].4s, %[d].4s, %[f0].4s\n\t" "fmla %[c1].4s, %[d].4s, %[f1].4s\n\t"
            "fmla %[c2].4s, %[d].4s, %[f2].4s\n\t" "fmla %[c3].4s, %[d].4s, %[f3].4s\n\t"
            : [p0] "+w"(p0), [p1] "+w"(p1), [p2] "+w"(p2), [p3] "+w"(p3),
              [f0] "+w"(f0), [f1] "+w"(f1), [f2] "+w"(f2), [f3] "+w"(f3),
              [c0] "+w"(c0), [c1] "+w"(c1), [c2] "+w"(c2), [c3] "+w"(c3)
            : [a] "w"(a), [b] "w"(b), [d] "w"(d));
    }
    *sink = vaddvq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)));
    return (double)iterations * 4 * 16 * 2;
}

void sv_fill_peak_arm(sv_kernels *k) {
    if (k->isa != SV_ISA_NEON && k->isa != SV_ISA_NEON_DOTPROD) return;
    k->peak[SV_PEAK_F32] = sv_peak_f32_neon;
    k->peak_instruction[SV_PEAK_F32] = "fmla .4s";
    if (k->isa == SV_ISA_NEON_DOTPROD) {
        k->peak[SV_PEAK_INT8] = sv_peak_int8_sdot;
        k->peak_instruction[SV_PEAK_INT8] = "sdot .4s";
        k->peak[SV_PEAK_Q8_0_ORDERED] = sv_peak_q8_0_ordered_sdot;
        k->peak_instruction[SV_PEAK_Q8_0_ORDERED] = "sdot+scvtf+fmla .4s";
    } else {
        k->peak[SV_PEAK_INT8] = sv_peak_int8_neon;
        k->peak_instruction[SV_PEAK_INT8] = "smull+smlal2+sadalp";
    }
}
#endif
