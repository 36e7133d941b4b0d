// Kernel tables per instruction set, CPU feature detection, and the default choice.
//
// Everything is decided once under pthread_once and never written again, so the
// tables can be read from any thread without locks.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE // getauxval
#endif

#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(_M_X64)
#define SV_ARCH_X86 1
#include <cpuid.h>
#elif defined(__aarch64__) || defined(_M_ARM64)
#define SV_ARCH_ARM64 1
#endif

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#if defined(SV_ARCH_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

const char *sv_isa_name(sv_isa isa) {
    switch (isa) {
    case SV_ISA_SCALAR: return "scalar";
    case SV_ISA_AVX2: return "avx2";
    case SV_ISA_AVX512: return "avx512";
    case SV_ISA_AVX512_VNNI: return "avx512-vnni";
    case SV_ISA_NEON: return "neon";
    case SV_ISA_NEON_DOTPROD: return "neon-dotprod";
    default: return "unknown";
    }
}

// MARK: - Feature detection

#if defined(__APPLE__)
static int sv_sysctl_flag(const char *name) {
    int value = 0;
    size_t size = sizeof(value);
    if (sysctlbyname(name, &value, &size, NULL, 0) != 0) return 0;
    return value != 0;
}
#endif

#if defined(SV_ARCH_X86)
static uint64_t sv_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

// CPUID says what the core implements; XCR0 says whether the OS saves the wider
// registers across context switches. Both are needed before using YMM/ZMM.
static int sv_x86_bf16;  // AVX512_BF16 (vdpbf16ps), for the peak loops only

static void sv_detect_x86(int supported[SV_ISA_COUNT]) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = sv_xgetbv0();
    const int os_ymm = (xcr0 & 0x6) == 0x6;      // XMM | YMM
    int os_zmm = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM0-15 upper, ZMM16-31
#if defined(__APPLE__)
    // macOS turns on AVX-512 state lazily, on first use; XCR0 does not show it yet.
    os_zmm = os_ymm && sv_sysctl_flag("hw.optional.avx512f");
#endif
    if (!os_ymm) return;

    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1;
    const int avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int avx512vnni = (c >> 11) & 1;

    supported[SV_ISA_AVX2] = avx2 && fma && f16c;
    supported[SV_ISA_AVX512] = supported[SV_ISA_AVX2] && os_zmm && avx512f && avx512bw && avx512vl && avx512dq;
    supported[SV_ISA_AVX512_VNNI] = supported[SV_ISA_AVX512] && avx512vnni;
    if (supported[SV_ISA_AVX512] && __get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 1, a, b, c, d);
        sv_x86_bf16 = (a >> 5) & 1;
    }
}
#endif

#if defined(SV_ARCH_ARM64)
static void sv_detect_arm64(int supported[SV_ISA_COUNT]) {
    // Advanced SIMD is mandatory in AArch64.
    supported[SV_ISA_NEON] = 1;
#if defined(__APPLE__)
    supported[SV_ISA_NEON_DOTPROD] = sv_sysctl_flag("hw.optional.arm.FEAT_DotProd");
#elif defined(__linux__)
    supported[SV_ISA_NEON_DOTPROD] = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
}
#endif

// MARK: - Tables

static sv_kernels sv_tables[SV_ISA_COUNT];
static int sv_supported[SV_ISA_COUNT];
static pthread_once_t sv_tables_once = PTHREAD_ONCE_INIT;

static void sv_build_table(sv_isa isa) {
    sv_kernels *k = &sv_tables[isa];
    memset(k, 0, sizeof(*k));
    k->isa = isa;
    k->name = sv_isa_name(isa);
    sv_fill_kernels_generic(k);
    switch (isa) {
#if defined(SV_ARCH_X86)
    case SV_ISA_AVX2: sv_fill_kernels_avx2(k); break;
    case SV_ISA_AVX512: sv_fill_kernels_avx512(k); break;
    case SV_ISA_AVX512_VNNI: sv_fill_kernels_avx512_vnni(k); break;
#endif
#if defined(SV_ARCH_ARM64)
    case SV_ISA_NEON: sv_fill_kernels_neon(k); break;
    case SV_ISA_NEON_DOTPROD: sv_fill_kernels_neon_dotprod(k); break;
#endif
    default: break;
    }
#if defined(SV_ARCH_X86)
    sv_fill_peak_x86(k, sv_x86_bf16);
#elif defined(SV_ARCH_ARM64)
    sv_fill_peak_arm(k);
#endif
}

static void sv_init_tables(void) {
    sv_supported[SV_ISA_SCALAR] = 1;
#if defined(SV_ARCH_X86)
    sv_detect_x86(sv_supported);
#elif defined(SV_ARCH_ARM64)
    sv_detect_arm64(sv_supported);
#endif
    // Only supported tables are built: a fill function may run CPU-specific setup.
    for (int i = 0; i < SV_ISA_COUNT; i++) {
        if (sv_supported[i]) sv_build_table((sv_isa)i);
    }
}

int sv_isa_supported(sv_isa isa) {
    if ((int)isa < 0 || isa >= SV_ISA_COUNT) return 0;
    pthread_once(&sv_tables_once, sv_init_tables);
    return sv_supported[isa];
}

const sv_kernels *sv_kernels_for(sv_isa isa) {
    return sv_isa_supported(isa) ? &sv_tables[isa] : NULL;
}

// MARK: - Default

static const sv_kernels *sv_default_table;
static pthread_once_t sv_default_once = PTHREAD_ONCE_INIT;

static sv_isa sv_best_isa(void) {
    static const sv_isa preference[] = {
        SV_ISA_AVX512_VNNI, SV_ISA_AVX512, SV_ISA_AVX2, SV_ISA_NEON_DOTPROD, SV_ISA_NEON,
    };
    for (size_t i = 0; i < sizeof(preference) / sizeof(preference[0]); i++) {
        if (sv_isa_supported(preference[i])) return preference[i];
    }
    return SV_ISA_SCALAR;
}

static void sv_init_default(void) {
    const sv_isa best = sv_best_isa();
    sv_isa chosen = best;
    const char *want = getenv("SMOLVLM_ISA");
    if (want != NULL && want[0] != '\0') {
        int found = -1;
        for (int i = 0; i < SV_ISA_COUNT; i++) {
            if (strcmp(want, sv_isa_name((sv_isa)i)) == 0) found = i;
        }
        if (found >= 0 && sv_isa_supported((sv_isa)found)) {
            chosen = (sv_isa)found;
        } else {
            fprintf(stderr, "smolvlm: SMOLVLM_ISA=%s %s; using %s\n", want,
                    found >= 0 ? "is not supported on this CPU"
                               : "is not one of scalar, avx2, avx512, avx512-vnni, neon, neon-dotprod",
                    sv_isa_name(best));
        }
    }
    sv_default_table = sv_kernels_for(chosen);
}

const sv_kernels *sv_kernels_default(void) {
    pthread_once(&sv_default_once, sv_init_default);
    return sv_default_table;
}
