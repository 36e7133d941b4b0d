// NEON kernels against the scalar oracle, on AArch64 (run under qemu by run.sh).
//
// For SV_ISA_NEON and SV_ISA_NEON_DOTPROD:
//   * every from_float entry must produce the same bytes as SV_ISA_SCALAR, on random
//     data, exact .5 ties, zeros / all-zero blocks and degenerate input (subnormal,
//     NaN, Inf, huge);
//   * every vec_dot entry must
//       - equal the oracle bit for bit on "exact" data (power-of-two scales and
//         small quants, so every float operation in either order is exact and any
//         difference can only come from the integer part), and
//       - agree within 2e-6 of the sum of |terms| on random data with sane scales,
//         with activations from from_float, raw int8 activations including -128,
//         and "extreme" rows where every quant sits at an end of its range;
//   * sv_matmul_rows with m = 1 and m = 5 must agree with the scalar table, and
//     every gemm entry with its own table's vec_dot, bit for bit;
//   * the entries with a bit-exact contract (gemm_q8_0_r16, swiglu, the attention
//     kernels, the resampling passes) must equal their generic oracle bit for bit.
// One line per check; the last line is "N passed, M failed".
#define _DEFAULT_SOURCE // mmap's MAP_ANONYMOUS under -std=c11

#include "kernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int g_passed, g_failed;

static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) g_passed++; else g_failed++;
}

// MARK: - Deterministic random numbers (splitmix64)

static uint64_t g_rng = 0x5EED5EED12345678ull;

static uint64_t rng_u64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float rng_unit(void) { return (float)(rng_u64() >> 40) / (float)(1u << 24); } // [0, 1)
static float rng_uniform(float lo, float hi) { return lo + (hi - lo) * rng_unit(); }
static int rng_int(int lo, int hi) { return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1)); } // inclusive
static int rng_sign(void) { return (rng_u64() & 1) ? 1 : -1; }
static void rng_bytes(void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rng_u64();
}

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// MARK: - Activation patterns (f32 input of from_float)

enum { P_RANDOM, P_TIES, P_ZEROS, P_DEGENERATE, P_COUNT };
static const char *pattern_name[P_COUNT] = { "random", "ties", "zeros", "degenerate" };

static void fill_pattern(float *x, int64_t n, int pattern) {
    const int64_t B = 32; // finest block; Q8_K blocks are 8 of these
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        const int64_t len = n - b0 < B ? n - b0 : B;
        float *v = x + b0;
        const int64_t bi = b0 / B;
        switch (pattern) {
        case P_RANDOM: {
            // Amplitudes from 1e-3 to 1e2, so d spans f16 normals.
            const float amp = powf(10.0f, rng_uniform(-3.0f, 2.0f));
            for (int64_t j = 0; j < len; j++) v[j] = amp * rng_uniform(-1.0f, 1.0f);
            break;
        }
        case P_TIES: {
            // The block max is ±127·s with s a power of two, so id = 127/amax = 1/s
            // and -127/max = ∓1/s are exact and every x·id is a half-integer or an
            // integer: exact ties for round-half-even. A later element of equal
            // magnitude and opposite sign checks Q8_K's "first maximum" rule.
            static const float scales[3] = { 1.0f, 0.5f, 2.0f };
            const float s = scales[rng_int(0, 2)];
            for (int64_t j = 0; j < len; j++) {
                const int r = rng_int(0, 3);
                float b = (float)rng_int(-126, 126) + (r == 0 ? 0.5f : r == 1 ? -0.5f : 0.0f);
                if (rng_int(0, 7) == 0) b = (float)rng_sign() * 0.5f;
                v[j] = s * b;
            }
            const int64_t p = rng_int(0, (int)len - 1);
            v[p] = s * 127.0f * (float)rng_sign();
            if (len > 1 && rng_int(0, 1)) {
                const int64_t p2 = rng_int(0, (int)len - 1);
                if (p2 != p) v[p2] = -v[p];
            }
            break;
        }
        case P_ZEROS: {
            if ((b0 / 256) % 3 == 2 || bi % 3 == 1) { // whole Q8_K blocks too, from n = 768
                for (int64_t j = 0; j < len; j++) v[j] = 0.0f;
            } else if (bi % 5 == 2) {
                for (int64_t j = 0; j < len; j++) v[j] = -0.0f;
            } else {
                for (int64_t j = 0; j < len; j++) {
                    const int r = rng_int(0, 9);
                    v[j] = r < 3 ? 0.0f : r == 3 ? -0.0f : rng_uniform(-1.0f, 1.0f);
                }
            }
            break;
        }
        case P_DEGENERATE: {
            // Inputs the engine never feeds, but the byte contract covers them.
            static const uint32_t specials[] = {
                0x7FC00000u, 0xFFC12345u, 0x7F812345u, // quiet / signed / signaling NaN
                0x7F800000u, 0xFF800000u,              // ±Inf
                0x7F7FFFFFu, 0xFF000000u,              // huge
                0x00000001u, 0x80400000u, 0x007FFFFFu, // f32 subnormals
                0x00800000u, 0x02000000u,              // tiny normals (127/amax overflows)
                0x477FE000u, 0x477FF000u, 0x477FEFFFu, // 65504, 65520 (ties to Inf), just below
                0x33000000u, 0x33000001u, 0x33400000u, // 2^-25 (ties to 0), just above, 1.5·2^-25
                0x387FC000u, 0x38800000u,              // f16 subnormal/normal boundary
                0x3F808000u, 0x3F818000u,              // bf16 ties (to even, both ways)
                0x00000000u, 0x80000000u,
            };
            const int ns = (int)(sizeof(specials) / sizeof(specials[0]));
            const int kind = (int)(bi % 5);
            for (int64_t j = 0; j < len; j++) {
                switch (kind) {
                case 0: v[j] = bits_f32(specials[rng_int(0, ns - 1)]); break;                  // anything
                case 1: v[j] = bits_f32((uint32_t)rng_int(0, 0x7FFFFF) | (rng_sign() < 0 ? 0x80000000u : 0)); break; // subnormals
                case 2: v[j] = rng_uniform(-1e-37f, 1e-37f); break;                           // id overflows
                case 3: v[j] = rng_uniform(-3e38f, 3e38f); break;                              // huge
                default: v[j] = rng_int(0, 15) == 0 ? bits_f32(specials[rng_int(0, 4)]) : rng_uniform(-2.0f, 2.0f); break;
                }
            }
            break;
        }
        }
    }
}

// MARK: - Sizes

static const sv_type k_from_types[] = { SV_TYPE_Q8_0, SV_TYPE_Q8_1, SV_TYPE_Q8_K, SV_TYPE_F16, SV_TYPE_BF16, SV_TYPE_F32 };
static const sv_type k_dot_types[] = { SV_TYPE_F32, SV_TYPE_F16, SV_TYPE_BF16, SV_TYPE_Q8_0, SV_TYPE_Q4_0,
                                       SV_TYPE_Q4_1, SV_TYPE_Q5_0, SV_TYPE_Q5_1, SV_TYPE_Q4_K, SV_TYPE_Q5_K,
                                       SV_TYPE_Q6_K };
#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

// Odd block counts (1, 3, 5, 7, 9 blocks) plus the model's row lengths.
static int sizes_for(sv_type t, int64_t out[16]) {
    const int64_t be = sv_type_block_elems(t);
    int k = 0;
    if (be == 1) {
        static const int64_t f[] = { 1, 3, 7, 13, 19, 33, 576, 768, 1536, 3072 };
        for (int i = 0; i < NELEMS(f); i++) out[k++] = f[i];
        return k;
    }
    for (int b = 1; b <= 9; b += 2) out[k++] = b * be;
    static const int64_t model[] = { 576, 768, 1536, 3072 };
    for (int i = 0; i < NELEMS(model); i++) {
        int dup = model[i] % be != 0;
        for (int j = 0; j < k; j++) dup |= out[j] == model[i];
        if (!dup) out[k++] = model[i];
    }
    return k;
}

// MARK: - from_float

static void test_from_float(const sv_kernels *ks, const sv_kernels *kv) {
    for (int ti = 0; ti < NELEMS(k_from_types); ti++) {
        const sv_type t = k_from_types[ti];
        int64_t ns[16];
        const int nn = sizes_for(t, ns);
        for (int ni = 0; ni < nn; ni++) {
            const int64_t n = ns[ni];
            const size_t bytes = sv_row_bytes(t, n);
            float *x = malloc((size_t)n * sizeof(float));
            uint8_t *a = malloc(bytes), *b = malloc(bytes);
            int ok = 1;
            char detail[160] = "";
            for (int p = 0; p < P_COUNT && ok; p++) {
                for (int rep = 0; rep < 3 && ok; rep++) {
                    fill_pattern(x, n, p);
                    memset(a, 0xCD, bytes);
                    memset(b, 0xCD, bytes);
                    ks->from_float[t](x, a, n);
                    kv->from_float[t](x, b, n);
                    for (size_t i = 0; i < bytes; i++) {
                        if (a[i] != b[i]) {
                            const size_t bb = sv_type_block_bytes(t);
                            snprintf(detail, sizeof detail, " first diff at byte %zu (block %zu, +%zu): scalar %02x, %s %02x [%s]",
                                     i, i / bb, i % bb, a[i], kv->name, b[i], pattern_name[p]);
                            ok = 0;
                            break;
                        }
                    }
                }
            }
            check(ok, "%-12s from_float %-5s n=%-5lld byte-identical (random, ties, zeros, degenerate)%s",
                  kv->name, sv_type_name(t), (long long)n, detail);
            free(x); free(a); free(b);
        }
    }
}

// MARK: - Weight and activation rows for the dots

static sv_half h(float f) { return sv_fp32_to_fp16(f); }
static float sane_scale(void) { return (float)rng_sign() * rng_uniform(0.001f, 0.05f); }

// exact = 1: power-of-two scales and bounded quants (see the header comment).
// exact = 2 ("extreme"): sane scales, every quant at an end of its range (Q8_0
// mostly -128), to catch int16 overflow in widening multiply-accumulate chains.
static void make_weights(sv_type t, int64_t n, void *row, int exact) {
    const int64_t nb = n / sv_type_block_elems(t);
    if (exact == 2) {
        make_weights(t, n, row, 0);
        const size_t bb = sv_type_block_bytes(t);
        for (int64_t i = 0; i < nb; i++) {
            uint8_t *blk = (uint8_t *)row + (size_t)i * bb;
            // [first, last) byte range of the quants in each layout.
            size_t first = 0, last = 0;
            switch (t) {
            case SV_TYPE_Q8_0: first = 2; last = bb; break;
            case SV_TYPE_Q4_0: first = 2; last = bb; break;
            case SV_TYPE_Q4_1: first = 4; last = bb; break;
            case SV_TYPE_Q5_0: first = 2; last = bb; break; // qh and qs: every quant 0 or 31
            case SV_TYPE_Q5_1: first = 4; last = bb; break;
            case SV_TYPE_Q4_K:
            case SV_TYPE_Q5_K: first = 4 + SV_K_SCALE_SIZE; last = bb; break;
            case SV_TYPE_Q6_K: first = 0; last = SV_QK_K / 2 + SV_QK_K / 4; break;
            default: break;
            }
            for (size_t j = first; j < last; j++) {
                if (t == SV_TYPE_Q8_0) blk[j] = rng_int(0, 3) ? 0x80 : 0x7F;
                else blk[j] = rng_int(0, 1) ? 0xFF : 0x00;
            }
        }
        return;
    }
    switch (t) {
    case SV_TYPE_F32:
    case SV_TYPE_F16:
    case SV_TYPE_BF16: {
        float *f = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) f[i] = exact ? (float)rng_int(-8, 8) / 8.0f : rng_uniform(-1.0f, 1.0f);
        if (t == SV_TYPE_F32) memcpy(row, f, (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n && t == SV_TYPE_F16; i++) ((sv_half *)row)[i] = h(f[i]);
        for (int64_t i = 0; i < n && t == SV_TYPE_BF16; i++) ((sv_bf16 *)row)[i] = sv_fp32_to_bf16(f[i]);
        free(f);
        break;
    }
    case SV_TYPE_Q8_0: {
        sv_block_q8_0 *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b)); // full int8 range, including -128
        for (int64_t i = 0; i < nb; i++) b[i].d = h(exact ? (float)rng_sign() / 16.0f : sane_scale());
        break;
    }
    case SV_TYPE_Q4_0: {
        sv_block_q4_0 *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b));
        for (int64_t i = 0; i < nb; i++) b[i].d = h(exact ? (float)rng_sign() / 16.0f : sane_scale());
        break;
    }
    case SV_TYPE_Q4_1: {
        sv_block_q4_1 *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b));
        for (int64_t i = 0; i < nb; i++) {
            b[i].d = h(exact ? 1.0f / 16.0f : fabsf(sane_scale()));
            b[i].m = h(exact ? (float)rng_sign() / 8.0f : sane_scale());
        }
        break;
    }
    case SV_TYPE_Q5_0: {
        sv_block_q5_0 *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b));
        for (int64_t i = 0; i < nb; i++) b[i].d = h(exact ? (float)rng_sign() / 16.0f : sane_scale());
        break;
    }
    case SV_TYPE_Q5_1: {
        sv_block_q5_1 *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b));
        for (int64_t i = 0; i < nb; i++) {
            b[i].d = h(exact ? 1.0f / 16.0f : fabsf(sane_scale()));
            b[i].m = h(exact ? (float)rng_sign() / 8.0f : sane_scale());
        }
        break;
    }
    case SV_TYPE_Q4_K:
    case SV_TYPE_Q5_K: {
        // Both share the d/dmin/scales prefix.
        const size_t bb = sv_type_block_bytes(t);
        rng_bytes(row, (size_t)nb * bb);
        for (int64_t i = 0; i < nb; i++) {
            sv_block_q4_K *b = (sv_block_q4_K *)((uint8_t *)row + (size_t)i * bb);
            b->d = h(exact ? 1.0f / 16.0f : fabsf(sane_scale()));
            b->dmin = h(exact ? 1.0f / 16.0f : fabsf(sane_scale()));
        }
        break;
    }
    case SV_TYPE_Q6_K: {
        sv_block_q6_K *b = row;
        rng_bytes(b, (size_t)nb * sizeof(*b));
        for (int64_t i = 0; i < nb; i++) {
            b[i].d = h(exact ? (float)rng_sign() / 16.0f : sane_scale());
            if (exact) {
                for (int g = 0; g < 16; g++) b[i].scales[g] = (int8_t)rng_int(-64, 63);
            }
        }
        break;
    }
    default: break;
    }
}

enum { A_QUANTIZED, A_RAW, A_ZEROS, A_EXACT, A_EXTREME };

static int8_t act_quant(int mode, int lim) {
    if (mode == A_EXTREME) return (int8_t)(rng_int(0, 3) ? -128 : 127);
    return (int8_t)rng_int(-lim, lim == 128 ? 127 : lim);
}

// Activation row of the partner type p. A_QUANTIZED / A_ZEROS go through the scalar
// from_float (P_RANDOM / P_ZEROS data); A_RAW writes random quants over the full
// int8 range, -128 included, with consistent sums; A_EXACT uses small quants and
// power-of-two scales; A_EXTREME only -128 (mostly) and 127.
static void make_activations(const sv_kernels *ks, sv_type p, int64_t n, void *row, int mode) {
    if (mode == A_QUANTIZED || mode == A_ZEROS || p == SV_TYPE_F32 || p == SV_TYPE_F16 || p == SV_TYPE_BF16) {
        float *f = malloc((size_t)n * sizeof(float));
        if (mode == A_EXACT) {
            for (int64_t i = 0; i < n; i++) f[i] = (float)rng_int(-8, 8) / 8.0f;
        } else {
            fill_pattern(f, n, mode == A_ZEROS ? P_ZEROS : P_RANDOM);
        }
        ks->from_float[p](f, row, n);
        free(f);
        return;
    }
    const int lim = mode == A_RAW ? 128 : (p == SV_TYPE_Q8_K ? 2 : 16);
    const int64_t nb = n / sv_type_block_elems(p);
    for (int64_t i = 0; i < nb; i++) {
        if (p == SV_TYPE_Q8_0 || p == SV_TYPE_Q8_1) {
            int8_t *qs = p == SV_TYPE_Q8_0 ? ((sv_block_q8_0 *)row)[i].qs : ((sv_block_q8_1 *)row)[i].qs;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                qs[j] = act_quant(mode, lim);
                sum += qs[j];
            }
            const float d = mode != A_EXACT ? fabsf(sane_scale()) : 1.0f / 64.0f;
            if (p == SV_TYPE_Q8_0) {
                ((sv_block_q8_0 *)row)[i].d = h(d);
            } else {
                ((sv_block_q8_1 *)row)[i].d = h(d);
                ((sv_block_q8_1 *)row)[i].s = h(d * (float)sum);
            }
        } else {
            sv_block_q8_K *b = &((sv_block_q8_K *)row)[i];
            for (int j = 0; j < SV_QK_K; j++) b->qs[j] = act_quant(mode, lim);
            for (int g = 0; g < SV_QK_K / 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += b->qs[16 * g + l];
                b->bsums[g] = (int16_t)s;
            }
            b->d = mode != A_EXACT ? rng_uniform(0.001f, 0.05f) : 1.0f / 128.0f;
        }
    }
}

// Activation row back to floats (the dequantized values the dot multiplies).
static void activations_to_f32(sv_type p, int64_t n, const void *row, float *out) {
    if (p == SV_TYPE_F32 || p == SV_TYPE_F16 || p == SV_TYPE_BF16) {
        sv_dequantize_row(p, row, out, n);
        return;
    }
    const int64_t be = sv_type_block_elems(p);
    for (int64_t i = 0; i < n / be; i++) {
        for (int64_t j = 0; j < be; j++) {
            float d; int q;
            if (p == SV_TYPE_Q8_0) { d = sv_fp16_to_fp32(((const sv_block_q8_0 *)row)[i].d); q = ((const sv_block_q8_0 *)row)[i].qs[j]; }
            else if (p == SV_TYPE_Q8_1) { d = sv_fp16_to_fp32(((const sv_block_q8_1 *)row)[i].d); q = ((const sv_block_q8_1 *)row)[i].qs[j]; }
            else { d = ((const sv_block_q8_K *)row)[i].d; q = ((const sv_block_q8_K *)row)[i].qs[j]; }
            out[i * be + j] = d * (float)q;
        }
    }
}

// Σ|terms| of the float sums a dot performs: the scale for its rounding error. The
// min parts of Q4_1 / Q5_1 / Q4_K / Q5_K are separate float terms that may cancel against
// the scale part, so they are counted separately (dequantize with one field zeroed).
static double dot_magnitude(sv_type t, int64_t n, const void *w, const void *x) {
    const sv_type p = sv_vec_dot_type(t);
    const size_t wb = sv_row_bytes(t, n);
    float *xf = malloc((size_t)n * sizeof(float));
    float *wf = malloc((size_t)n * sizeof(float));
    uint8_t *tmp = malloc(wb);
    activations_to_f32(p, n, x, xf);
    double mag = 0.0;
    const int64_t nb = n / sv_type_block_elems(t);
    const size_t bb = sv_type_block_bytes(t);
    for (int part = 0; part < 2; part++) {
        memcpy(tmp, w, wb);
        const int has_min = t == SV_TYPE_Q4_1 || t == SV_TYPE_Q5_1 || t == SV_TYPE_Q4_K || t == SV_TYPE_Q5_K;
        if (part == 1 && !has_min) break;
        for (int64_t i = 0; i < nb && has_min; i++) {
            uint8_t *blk = tmp + (size_t)i * bb;
            // d is at offset 0 and m/dmin at offset 2 in all four layouts.
            memset(blk + (part == 0 ? 2 : 0), 0, 2);
        }
        sv_dequantize_row(t, tmp, wf, n);
        for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * (double)xf[i]);
    }
    if (t == SV_TYPE_Q4_1 || t == SV_TYPE_Q5_1) {
        // The min term is m·s with s the stored (f16) block sum of the activations.
        for (int64_t i = 0; i < nb; i++) {
            const sv_half m = t == SV_TYPE_Q4_1 ? ((const sv_block_q4_1 *)w)[i].m : ((const sv_block_q5_1 *)w)[i].m;
            mag += fabs((double)sv_fp16_to_fp32(m) * (double)sv_fp16_to_fp32(((const sv_block_q8_1 *)x)[i].s));
        }
    }
    free(xf); free(wf); free(tmp);
    return mag;
}

#define REL_TOL 2e-6

static void test_vec_dot(const sv_kernels *ks, const sv_kernels *kv) {
    for (int ti = 0; ti < NELEMS(k_dot_types); ti++) {
        const sv_type t = k_dot_types[ti];
        const sv_type p = sv_vec_dot_type(t);
        int64_t ns[16];
        const int nn = sizes_for(t, ns);
        for (int ni = 0; ni < nn; ni++) {
            const int64_t n = ns[ni];
            void *w = malloc(sv_row_bytes(t, n));
            void *x = malloc(sv_row_bytes(p, n));
            int ok = 1;
            char detail[200] = "";
            double worst = 0.0;
            // Exact data: bit-identical results required.
            for (int rep = 0; rep < 4 && ok; rep++) {
                make_weights(t, n, w, 1);
                make_activations(ks, p, n, x, A_EXACT);
                const float a = ks->vec_dot[t](n, w, x), b = kv->vec_dot[t](n, w, x);
                if (memcmp(&a, &b, sizeof a) != 0) {
                    snprintf(detail, sizeof detail, " exact data: scalar %.9g, %s %.9g", a, kv->name, b);
                    ok = 0;
                }
            }
            // Random data: relative to the magnitude of the summed terms.
            static const int modes[] = { A_QUANTIZED, A_RAW, A_ZEROS, A_EXTREME };
            static const char *mode_name[] = { "quantized", "raw int8", "zeros", "extreme" };
            for (int mi = 0; mi < 4 && ok; mi++) {
                for (int rep = 0; rep < 4 && ok; rep++) {
                    make_weights(t, n, w, modes[mi] == A_EXTREME ? 2 : 0);
                    make_activations(ks, p, n, x, modes[mi]);
                    const float a = ks->vec_dot[t](n, w, x), b = kv->vec_dot[t](n, w, x);
                    const double mag = dot_magnitude(t, n, w, x);
                    const double err = fabs((double)a - (double)b);
                    const double rel = mag > 0 ? err / mag : err;
                    if (rel > worst) worst = rel;
                    if (!(err <= REL_TOL * mag + 1e-30) || isnan(b)) {
                        snprintf(detail, sizeof detail, " %s data: scalar %.9g, %s %.9g, |diff| %.3g > %.0e * %.4g",
                                 mode_name[mi], a, kv->name, b, err, REL_TOL, mag);
                        ok = 0;
                    }
                }
            }
            check(ok, "%-12s vec_dot %-4s x %-4s n=%-5lld exact-data bit-identical, worst rel err %.2e%s",
                  kv->name, sv_type_name(t), sv_type_name(p), (long long)n, worst, detail);
            free(w); free(x);
        }
    }
}

// MARK: - Matrix products

static void test_matmul(const sv_kernels *ks, const sv_kernels *kv) {
    enum { ROWS = 9, PAD = 3 };
    const float sentinel = -12345.0f;
    for (int ti = 0; ti < NELEMS(k_dot_types); ti++) {
        const sv_type t = k_dot_types[ti];
        const sv_type p = sv_vec_dot_type(t);
        const int64_t be = sv_type_block_elems(t);
        const int64_t n = be == 1 ? 333 : 5 * be;
        const size_t wrow = sv_row_bytes(t, n), xrow = sv_row_bytes(p, n);
        uint8_t *w = malloc(wrow * ROWS);
        for (int r = 0; r < ROWS; r++) make_weights(t, n, w + r * wrow, 0);
        for (int m = 1; m <= 5; m += 4) {
            uint8_t *x = malloc(xrow * (size_t)m);
            for (int j = 0; j < m; j++) make_activations(ks, p, n, x + j * xrow, A_QUANTIZED);
            const int64_t ys = ROWS + PAD;
            float *ya = malloc(sizeof(float) * (size_t)(ys * m));
            float *yb = malloc(sizeof(float) * (size_t)(ys * m));
            for (int64_t i = 0; i < ys * m; i++) ya[i] = yb[i] = sentinel;
            // Rows [1, ROWS): r0 != 0, and row 0 and the padding must stay untouched.
            sv_matmul_rows(ks, t, n, w, wrow, x, xrow, m, ya, ys, 1, ROWS);
            sv_matmul_rows(kv, t, n, w, wrow, x, xrow, m, yb, ys, 1, ROWS);
            int ok = 1;
            double worst = 0.0;
            char detail[160] = "";
            for (int j = 0; j < m && ok; j++) {
                for (int64_t r = 0; r < ys && ok; r++) {
                    const float a = ya[j * ys + r], b = yb[j * ys + r];
                    if (r == 0 || r >= ROWS) {
                        if (a != sentinel || b != sentinel) {
                            snprintf(detail, sizeof detail, " wrote outside [r0, r1) at (%d, %lld)", j, (long long)r);
                            ok = 0;
                        }
                        continue;
                    }
                    const double mag = dot_magnitude(t, n, w + r * wrow, x + j * xrow);
                    const double err = fabs((double)a - (double)b);
                    if (mag > 0 && err / mag > worst) worst = err / mag;
                    if (!(err <= REL_TOL * mag + 1e-30)) {
                        snprintf(detail, sizeof detail, " at (%d, %lld): scalar %.9g, %s %.9g", j, (long long)r, a, kv->name, b);
                        ok = 0;
                    }
                }
            }
            check(ok, "%-12s matmul  %-4s m=%d n=%-5lld rows [1, %d), worst rel err %.2e%s",
                  kv->name, sv_type_name(t), m, (long long)n, ROWS, worst, detail);
            free(x); free(ya); free(yb);
        }
        free(w);
    }
}

// MARK: - Repacked Q8_0 product

static int same_bits(const float *a, const float *b, int64_t n, int64_t *at) {
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

// Every output of kv->gemm_q8_0_r16 against sv_gemm_q8_0_r16_generic, bit for bit: row counts of
// 1 to 3 groups (a sub-range [g0, g1) of them), odd block counts and the model's widths, 1 to 7
// activation rows (the tiles take them in pairs), padded strides; weights and activations over
// the full int8 range (-128 included) and at its ends. Outputs outside the range stay untouched.
static void test_gemm_q8_0_r16(const sv_kernels *kv) {
    if (kv->gemm_q8_0_r16 == NULL) return;
    static const int64_t widths[] = { 32, 96, 160, 288, 576, 1536 };
    static const int groups[][3] = { { 1, 0, 1 }, { 2, 0, 2 }, { 3, 1, 3 }, { 3, 0, 2 } }; // groups, g0, g1
    const float sentinel = -12345.0f;
    for (int wi = 0; wi < NELEMS(widths); wi++) {
        const int64_t n = widths[wi];
        const size_t wrow = sv_row_bytes(SV_TYPE_Q8_0, n), xrow = wrow + sizeof(sv_block_q8_0);
        for (int gi = 0; gi < NELEMS(groups); gi++) {
            const int64_t rows = 16 * groups[gi][0], g0 = groups[gi][1], g1 = groups[gi][2];
            uint8_t *w = malloc(wrow * (size_t)rows);
            void *wp = malloc(sv_q8_0_r16_bytes(rows, n));
            int ok = 1;
            char detail[200] = "";
            for (int m = 1; m <= 7 && ok; m += (m < 3 ? 1 : 2)) {
                uint8_t *x = malloc(xrow * (size_t)m);
                int32_t *qsums = malloc(sizeof(int32_t) * (size_t)(m * n / 4));
                const int64_t ys = rows + 5;
                float *ya = malloc(sizeof(float) * (size_t)(ys * m)), *yb = malloc(sizeof(float) * (size_t)(ys * m));
                static const int modes[] = { A_QUANTIZED, A_RAW, A_EXTREME };
                for (int mi = 0; mi < NELEMS(modes) && ok; mi++) {
                    for (int64_t r = 0; r < rows; r++) make_weights(SV_TYPE_Q8_0, n, w + r * wrow, modes[mi] == A_EXTREME ? 2 : 0);
                    if (modes[mi] == A_RAW) { // the full byte range in the weights too
                        for (int64_t r = 0; r < rows; r++)
                            for (int64_t b = 0; b < n / 32; b++) rng_bytes(((sv_block_q8_0 *)(w + r * wrow))[b].qs, 32);
                    }
                    for (int j = 0; j < m; j++) make_activations(kv, SV_TYPE_Q8_0, n, x + j * xrow, modes[mi]);
                    sv_repack_q8_0_r16(w, wrow, rows, n, wp);
                    sv_q8_0_quad_sums(x, xrow, m, n, qsums);
                    for (int64_t i = 0; i < ys * m; i++) ya[i] = yb[i] = sentinel;
                    sv_gemm_q8_0_r16_generic(n, wp, g0, g1, x, xrow, qsums, m, ya, ys);
                    kv->gemm_q8_0_r16(n, wp, g0, g1, x, xrow, qsums, m, yb, ys);
                    int64_t at;
                    if (!same_bits(ya, yb, ys * m, &at)) {
                        snprintf(detail, sizeof detail, " m=%d mode %d: at (%lld, %lld) generic %.9g, %s %.9g", m, modes[mi],
                                 (long long)(at / ys), (long long)(at % ys), ya[at], kv->name, yb[at]);
                        ok = 0;
                    }
                }
                free(x); free(qsums); free(ya); free(yb);
            }
            check(ok, "%-12s gemm_q8_0_r16 n=%-5lld rows=%-3lld groups [%lld, %lld) m=1,2,3,5,7 bit-identical to generic%s",
                  kv->name, (long long)n, (long long)rows, (long long)g0, (long long)g1, detail);
            free(w); free(wp);
        }
    }
}

// Every gemm entry against sv_gemm_by_vec_dot with the same table's vec_dot, bit for bit: block
// counts odd and even (the dots' two accumulators), every edge tile (1-9 weight rows × 1-9
// activation rows), padded strides, quantized / raw int8 (-128 included) / extreme data.
static void test_gemm(const sv_kernels *kv) {
    for (int ti = 0; ti < NELEMS(k_dot_types); ti++) {
        const sv_type t = k_dot_types[ti];
        if (kv->gemm[t] == NULL) continue;
        const sv_type p = sv_vec_dot_type(t);
        const int64_t be = sv_type_block_elems(t);
        static const int64_t blocks[] = { 1, 2, 3, 5, 18 };
        int ok = 1, cases = 0;
        char detail[200] = "";
        for (int bi = 0; bi < NELEMS(blocks) && ok; bi++) {
            const int64_t n = blocks[bi] * be;
            const size_t wrow = sv_row_bytes(t, n) + 8, xrow = sv_row_bytes(p, n) + 4;
            enum { MAXR = 9 };
            uint8_t *w = malloc(wrow * MAXR), *x = malloc(xrow * MAXR);
            const int64_t ys = MAXR + 3;
            float *ya = malloc(sizeof(float) * ys * MAXR), *yb = malloc(sizeof(float) * ys * MAXR);
            static const int modes[] = { A_QUANTIZED, A_RAW, A_EXTREME };
            for (int mi = 0; mi < NELEMS(modes) && ok; mi++) {
                for (int r = 0; r < MAXR; r++) make_weights(t, n, w + r * wrow, modes[mi] == A_EXTREME ? 2 : 0);
                for (int j = 0; j < MAXR; j++) make_activations(kv, p, n, x + j * xrow, modes[mi]);
                for (int nr = 1; nr <= MAXR && ok; nr++) {
                    for (int nc = 1; nc <= MAXR && ok; nc++) {
                        for (int64_t i = 0; i < ys * MAXR; i++) ya[i] = yb[i] = -12345.0f;
                        sv_gemm_by_vec_dot(kv->vec_dot[t], n, w, wrow, nr, x, xrow, nc, ya, ys);
                        kv->gemm[t](n, w, wrow, nr, x, xrow, nc, yb, ys);
                        int64_t at;
                        if (!same_bits(ya, yb, ys * MAXR, &at)) {
                            snprintf(detail, sizeof detail, " n=%lld %d x %d mode %d: at (%lld, %lld) vec_dot %.9g, gemm %.9g",
                                     (long long)n, nr, nc, modes[mi], (long long)(at / ys), (long long)(at % ys), ya[at], yb[at]);
                            ok = 0;
                        }
                        cases++;
                    }
                }
            }
            free(w); free(x); free(ya); free(yb);
        }
        check(ok, "%-12s gemm %-4s %d shapes (1-18 blocks, 1-9 x 1-9 rows) bit-identical to the table's vec_dot%s",
              kv->name, sv_type_name(t), cases, detail);
    }
}

// tinyblas_f16_block against sv_gemm_by_vec_dot with the tinyBLAS-order oracle, bit for bit, and
// sv_matmul_rows_ggml's F16 batches (which use it) against the scalar table's.
static void test_tinyblas_f16(const sv_kernels *ks, const sv_kernels *kv) {
    if (kv->tinyblas_f16_block == NULL) return;
    static const int64_t ns[] = { 16, 48, 64, 576, 1152 };
    for (int ni = 0; ni < NELEMS(ns); ni++) {
        const int64_t n = ns[ni];
        enum { MAXR = 9 };
        const size_t row = sv_row_bytes(SV_TYPE_F16, n) + 6;
        uint8_t *w = malloc(row * MAXR), *x = malloc(row * MAXR);
        const int64_t ys = MAXR + 3;
        float *ya = malloc(sizeof(float) * ys * MAXR), *yb = malloc(sizeof(float) * ys * MAXR);
        int ok = 1;
        char detail[200] = "";
        for (int rep = 0; rep < 2 && ok; rep++) {
            for (int r = 0; r < MAXR; r++) {
                make_weights(SV_TYPE_F16, n, w + r * row, 0);
                make_activations(ks, SV_TYPE_F16, n, x + r * row, A_QUANTIZED);
            }
            for (int nr = 1; nr <= MAXR && ok; nr++) {
                for (int nc = 1; nc <= MAXR && ok; nc++) {
                    for (int64_t i = 0; i < ys * MAXR; i++) ya[i] = yb[i] = -12345.0f;
                    sv_gemm_by_vec_dot(sv_vec_dot_f16_f16_tinyblas_generic, n, w, row, nr, x, row, nc, ya, ys);
                    kv->tinyblas_f16_block(n, w, row, nr, x, row, nc, yb, ys);
                    int64_t at;
                    if (!same_bits(ya, yb, ys * MAXR, &at)) {
                        snprintf(detail, sizeof detail, " %d x %d: at (%lld, %lld) oracle %.9g, block %.9g", nr, nc,
                                 (long long)(at / ys), (long long)(at % ys), ya[at], yb[at]);
                        ok = 0;
                    }
                }
            }
            if (ok) { // the engine's entry point, rows [1, 9) of 9, 5 activation rows
                for (int64_t i = 0; i < ys * MAXR; i++) ya[i] = yb[i] = -12345.0f;
                sv_matmul_rows_ggml(ks, SV_TYPE_F16, n, w, row, MAXR, x, row, 5, ya, ys, 1, MAXR);
                sv_matmul_rows_ggml(kv, SV_TYPE_F16, n, w, row, MAXR, x, row, 5, yb, ys, 1, MAXR);
                int64_t at;
                if (!same_bits(ya, yb, ys * MAXR, &at)) {
                    snprintf(detail, sizeof detail, " sv_matmul_rows_ggml m=5: at (%lld, %lld) scalar %.9g, %s %.9g",
                             (long long)(at / ys), (long long)(at % ys), ya[at], kv->name, yb[at]);
                    ok = 0;
                }
            }
        }
        check(ok, "%-12s tinyblas_f16_block n=%-5lld 1-9 x 1-9 rows bit-identical to the tinyBLAS order, and in sv_matmul_rows_ggml%s",
              kv->name, (long long)n, detail);
        free(w); free(x); free(ya); free(yb);
    }
}

// MARK: - SwiGLU, attention and resampling (bit-exact contracts)

static float rng_f16_value(float lo, float hi) { return sv_fp16_to_fp32(sv_fp32_to_fp16(rng_uniform(lo, hi))); }

// Lengths around the 16-element groups (polynomial) and the libm leftovers; gates from small to
// beyond the polynomial's saturation (|n| > 192: e^-g is 0 or Inf), results that are subnormal,
// and ±0, ±Inf, NaN; in place (y == g) as the engine calls it.
// The GELU twin looks up the scalar kernel's table entry for every f16 value, random bit
// patterns, the ±10 cut-offs and specials, with tails and in place; the table is random so a
// wrong index shows.
static void test_gelu(const sv_kernels *ks, const sv_kernels *kv) {
    if (kv->gelu == NULL || kv->gelu == ks->gelu) return;
    float *table = malloc(sizeof(float) * 65536);
    for (int i = 0; i < 65536; i++) table[i] = rng_uniform(-4.0f, 4.0f);
    static const uint32_t specials[] = { 0xC1200000u /* -10 */, 0x41200000u /* 10 */, 0xC11FFFFFu, 0xC1200001u,
                                         0x411FFFFFu, 0x41200001u, 0x477FF000u /* 65520 */, 0x7F800000u, 0xFF800000u,
                                         0x7FC00000u, 0xFFC12345u, 0x00000000u, 0x80000000u, 0x00000001u };
    const int64_t n = 65536 + 4096 + NELEMS(specials);
    float *x = malloc(sizeof(float) * (size_t)n), *ya = malloc(sizeof(float) * (size_t)n), *yb = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < 65536; i++) x[i] = sv_fp16_to_fp32((sv_half)i);
    for (int i = 0; i < 4096; i++) { uint32_t u = (uint32_t)rng_u64(); memcpy(&x[65536 + i], &u, 4); }
    for (int i = 0; i < NELEMS(specials); i++) x[65536 + 4096 + i] = bits_f32(specials[i]);
    static const int64_t lens[] = { 0, 1, 3, 4, 5, 17 };
    for (int li = 0; li <= NELEMS(lens); li++) {
        const int64_t len = li < NELEMS(lens) ? lens[li] : n;
        const float *src = x + (n - len);
        ks->gelu(len, src, ya, table);
        memcpy(yb, src, sizeof(float) * (size_t)len);
        kv->gelu(len, yb, yb, table); // in place
        int64_t at = -1;
        const int ok = len == 0 || same_bits(ya, yb, len, &at);
        check(ok, "%-12s gelu n=%-6lld bit-identical to sv_gelu_f16_table (every f16 value, random bits, cut-offs, NaN; in place)%s",
              kv->name, (long long)len, ok ? "" : " MISMATCH");
    }
    free(x); free(ya); free(yb); free(table);
}

// Peak loops exist for the instructions the table's kernels use, count what they ran and leave
// a finite value (their rates mean nothing under qemu).
static void test_peak(const sv_kernels *kv) {
    const sv_peak kinds[] = { SV_PEAK_INT8, SV_PEAK_F32, SV_PEAK_Q8_0_ORDERED };
    for (int i = 0; i < NELEMS(kinds); i++) {
        if (kinds[i] == SV_PEAK_Q8_0_ORDERED && kv->isa != SV_ISA_NEON_DOTPROD) continue;
        const sv_peak_fn f = kv->peak[kinds[i]];
        float sink = NAN;
        const double once = f ? f(1000, &sink) : 0, twice = f ? f(2000, &sink) : 0;
        check(f != NULL && kv->peak_instruction[kinds[i]] != NULL && once > 0 && twice == 2 * once && isfinite(sink),
              "%-12s peak loop %d (%s): %.0f then %.0f operations", kv->name, (int)kinds[i],
              kv->peak_instruction[kinds[i]] ? kv->peak_instruction[kinds[i]] : "none", once, twice);
    }
}

static void test_swiglu(const sv_kernels *ks, const sv_kernels *kv) {
    if (kv->swiglu == NULL || kv->swiglu == ks->swiglu) return;
    static const int64_t ns[] = { 1, 5, 15, 16, 17, 31, 48, 100, 1536 };
    static const uint32_t specials[] = { 0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u,
                                         0xFFC12345u, 0x00000001u, 0x42C80000u /* 100 */, 0xC2C80000u /* -100 */ };
    for (int ni = 0; ni < NELEMS(ns); ni++) {
        const int64_t n = ns[ni];
        float *g = malloc(sizeof(float) * (size_t)n), *u = malloc(sizeof(float) * (size_t)n);
        float *ya = malloc(sizeof(float) * (size_t)n), *yb = malloc(sizeof(float) * (size_t)n);
        int ok = 1;
        char detail[160] = "";
        for (int rep = 0; rep < 8 && ok; rep++) {
            for (int64_t i = 0; i < n; i++) {
                const int kind = rng_int(0, 9);
                g[i] = kind < 4 ? rng_uniform(-8.0f, 8.0f)
                     : kind < 6 ? rng_uniform(-150.0f, 150.0f)
                     : kind < 8 ? rng_uniform(-200.0f, 200.0f) * (float)rng_int(1, 4)
                     : kind < 9 ? rng_uniform(85.0f, 104.0f) // e^-g subnormal
                                : bits_f32(specials[rng_int(0, NELEMS(specials) - 1)]);
                u[i] = rng_int(0, 15) ? rng_uniform(-3.0f, 3.0f) : bits_f32(specials[rng_int(0, NELEMS(specials) - 1)]);
            }
            ks->swiglu(n, g, u, ya);
            memcpy(yb, g, sizeof(float) * (size_t)n);
            kv->swiglu(n, yb, u, yb); // in place
            int64_t at;
            if (!same_bits(ya, yb, n, &at)) {
                uint32_t ba, bb;
                memcpy(&ba, &ya[at], 4);
                memcpy(&bb, &yb[at], 4);
                snprintf(detail, sizeof detail, " at %lld: g %.9g u %.9g: generic %.9g (%08x), %s %.9g (%08x)", (long long)at,
                         g[at], u[at], ya[at], ba, kv->name, yb[at], bb);
                ok = 0;
            }
        }
        check(ok, "%-12s swiglu n=%-5lld bit-identical to sv_swiglu_f32 (in place; up to |g| 800, specials)%s",
              kv->name, (long long)n, detail);
        free(g); free(u); free(ya); free(yb);
    }
}

// Keys and values interleaved in one cache (stride > d), as the engine stores them.
static sv_half *make_kv(int64_t n, int64_t stride, float amp) {
    sv_half *c = malloc(sizeof(sv_half) * (size_t)(n * stride + 1));
    for (int64_t i = 0; i < n * stride + 1; i++) c[i] = sv_fp32_to_fp16(rng_uniform(-amp, amp));
    return c;
}

static void test_attention_block(const sv_kernels *kv) {
    if (kv->attention_block_f32acc == NULL || kv->attention_block_f32acc == sv_attention_block_f32acc) return;
    static const int64_t ds[] = { 64, 4, 12, 72, 6 }; // 6: not a multiple of 4 (the scalar fallback)
    static const int64_t nkvs[] = { 0, 1, 5, 63, 64, 65, 130, 200 };
    static const int64_t nrows[] = { 1, 3, 7 };
    for (int di = 0; di < NELEMS(ds); di++) {
        const int64_t d = ds[di];
        int ok = 1, cases = 0;
        char detail[200] = "";
        for (int ki = 0; ki < NELEMS(nkvs) && ok; ki++) {
            for (int ri = 0; ri < NELEMS(nrows) && ok; ri++) {
                for (int causal = 0; causal <= 1 && ok; causal++) {
                    const int64_t n_kv = nkvs[ki], n_rows = nrows[ri];
                    const int64_t n_pos = n_kv + n_rows, kvs = 2 * d + 3, qs = d + 5, os = d + 2;
                    // Larger amplitudes give large, well-separated scores (rescaling, e^x near 0).
                    const float amp = (ki + ri) % 2 ? 4.0f : 1.0f;
                    sv_half *cache = make_kv(n_pos, kvs, amp);
                    float *q = malloc(sizeof(float) * (size_t)(n_rows * qs));
                    for (int64_t i = 0; i < n_rows * qs; i++) q[i] = rng_uniform(-amp, amp);
                    float *oa = malloc(sizeof(float) * (size_t)(n_rows * os)), *ob = malloc(sizeof(float) * (size_t)(n_rows * os));
                    for (int64_t i = 0; i < n_rows * os; i++) oa[i] = ob[i] = -777.0f;
                    const size_t sf = sv_attention_block_f32acc_scratch_floats(d, n_rows);
                    float *sa = malloc(sizeof(float) * sf), *sb = malloc(sizeof(float) * sf);
                    const float scale = 1.0f / sqrtf((float)d);
                    sv_attention_block_f32acc(d, n_rows, q, qs, cache, cache + d, kvs, n_kv, causal, scale, oa, os, sa);
                    kv->attention_block_f32acc(d, n_rows, q, qs, cache, cache + d, kvs, n_kv, causal, scale, ob, os, sb);
                    int64_t at;
                    if (!same_bits(oa, ob, n_rows * os, &at)) {
                        snprintf(detail, sizeof detail, " n_kv=%lld rows=%lld causal=%d: at (%lld, %lld) generic %.9g, %s %.9g",
                                 (long long)n_kv, (long long)n_rows, causal, (long long)(at / os), (long long)(at % os),
                                 oa[at], kv->name, ob[at]);
                        ok = 0;
                    }
                    cases++;
                    free(cache); free(q); free(oa); free(ob); free(sa); free(sb);
                }
            }
        }
        check(ok, "%-12s attention_block_f32acc d=%-3lld %d shapes (n_kv 0-200, 1/3/7 rows, causal or not) bit-identical%s",
              kv->name, (long long)d, cases, detail);
    }
}

static void test_attention_f16acc(const sv_kernels *ks, const sv_kernels *kv) {
    const int has_row = kv->attention_row_f16acc != NULL && kv->attention_row_f16acc != sv_attention_row_f16acc;
    const int has_partial = kv->attention_row_f16acc_partial != NULL &&
                            kv->attention_row_f16acc_partial != sv_attention_row_f16acc_partial;
    if (!has_row && !has_partial) return;
    static const int64_t ds[] = { 64, 128, 4, 6, 70, 100 };
    static const int64_t nkvs[] = { 0, 1, 3, 17, 64, 200 };
    for (int di = 0; di < NELEMS(ds); di++) {
        const int64_t d = ds[di];
        int ok_row = 1, ok_partial = 1;
        char detail[200] = "";
        for (int ki = 0; ki < NELEMS(nkvs); ki++) {
            for (int rep = 0; rep < 3; rep++) {
                const int64_t n_kv = nkvs[ki], stride = 2 * d + 1;
                const float amp = rep == 2 ? 6.0f : 1.5f;
                sv_half *cache = make_kv(n_kv + 1, stride, amp);
                float *q = malloc(sizeof(float) * (size_t)d);
                for (int64_t i = 0; i < d; i++) q[i] = rng_f16_value(-amp, amp) * (rep == 1 ? 1.001f : 1.0f);
                sv_half *sa = malloc(sizeof(sv_half) * (size_t)(2 * d)), *sb = malloc(sizeof(sv_half) * (size_t)(2 * d));
                float *oa = malloc(sizeof(float) * (size_t)(d + 2)), *ob = malloc(sizeof(float) * (size_t)(d + 2));
                const float scale = 1.0f / sqrtf((float)d);
                int64_t at;
                if (has_row) {
                    sv_attention_row_f16acc(ks, d, q, cache, cache + d, stride, n_kv, scale, oa, sa);
                    kv->attention_row_f16acc(kv, d, q, cache, cache + d, stride, n_kv, scale, ob, sb);
                    if (ok_row && !same_bits(oa, ob, d, &at)) {
                        snprintf(detail, sizeof detail, " row n_kv=%lld: at %lld generic %.9g, %s %.9g",
                                 (long long)n_kv, (long long)at, oa[at], kv->name, ob[at]);
                        ok_row = 0;
                    }
                }
                if (has_partial) {
                    sv_attention_row_f16acc_partial(ks, d, q, cache, cache + d, stride, n_kv, scale, oa, sa);
                    kv->attention_row_f16acc_partial(kv, d, q, cache, cache + d, stride, n_kv, scale, ob, sb);
                    if (ok_partial && !same_bits(oa, ob, d + 2, &at)) {
                        snprintf(detail, sizeof detail, " partial n_kv=%lld: at %lld generic %.9g, %s %.9g",
                                 (long long)n_kv, (long long)at, oa[at], kv->name, ob[at]);
                        ok_partial = 0;
                    }
                }
                free(cache); free(q); free(sa); free(sb); free(oa); free(ob);
            }
        }
        if (has_row)
            check(ok_row, "%-12s attention_row_f16acc d=%-3lld n_kv 0-200 bit-identical%s", kv->name, (long long)d,
                  ok_row ? "" : detail);
        if (has_partial)
            check(ok_partial, "%-12s attention_row_f16acc_partial d=%-3lld n_kv 0-200 bit-identical [M, S, VKQ]%s", kv->name,
                  (long long)d, ok_partial ? "" : detail);
    }
}

// Source bytes that end at a page boundary with an inaccessible page after it, so a twin that
// reads past the image faults instead of passing.
static uint8_t *guarded_alloc(size_t n, void **base, size_t *len) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t body = (n + page - 1) / page * page;
    *len = body + page;
    uint8_t *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    mprotect(m + body, page, PROT_NONE);
    *base = m;
    return m + body - n;
}

// Filter coefficients as Pillow builds them (a window of taps per output, first + count within
// the input), with weights that are mostly a normalised kernel, sometimes negative lobes, and
// sometimes any int32 (clamping at both ends, wrapping sums).
static void make_coeffs(int64_t in, int64_t out, int64_t ksize, int32_t *first, int32_t *count, int32_t *weights) {
    for (int64_t o = 0; o < out; o++) {
        const int c = rng_int(1, (int)(ksize < in ? ksize : in));
        count[o] = c;
        first[o] = rng_int(0, (int)(in - c));
        if (o == out - 1 && rng_int(0, 1)) first[o] = (int32_t)(in - c); // reach the last input
        const int kind = rng_int(0, 5);
        for (int64_t k = 0; k < ksize; k++) {
            int32_t wk;
            if (kind == 0) wk = (int32_t)(uint32_t)rng_u64();
            else if (kind == 1) wk = rng_int(-(1 << 21), 1 << 22);
            else wk = rng_int(0, (1 << 22) / c + 1);
            weights[o * ksize + k] = k < c ? wk : (int32_t)0x5A5A5A5A; // unused taps: garbage
        }
    }
}

static void test_resample(const sv_kernels *ks, const sv_kernels *kv) {
    if (kv->resample_h_rgb8 != NULL && kv->resample_h_rgb8 != ks->resample_h_rgb8) {
        static const int64_t in_ws[] = { 1, 2, 5, 17, 64, 383 };
        for (int wi = 0; wi < NELEMS(in_ws); wi++) {
            const int64_t in_w = in_ws[wi];
            int ok = 1;
            char detail[160] = "";
            for (int rep = 0; rep < 6 && ok; rep++) {
                const int64_t rows = rng_int(1, 4), out_w = rng_int(1, 40), ksize = rng_int(1, 9);
                void *base; size_t len;
                const size_t n_src = (size_t)(in_w * 3 * rows);
                uint8_t *src = guarded_alloc(n_src, &base, &len);
                rng_bytes(src, n_src);
                if (rep % 3 == 1) memset(src, 0xFF, n_src);
                int32_t *first = malloc(sizeof(int32_t) * (size_t)out_w), *count = malloc(sizeof(int32_t) * (size_t)out_w);
                int32_t *weights = malloc(sizeof(int32_t) * (size_t)(out_w * ksize));
                make_coeffs(in_w, out_w, ksize, first, count, weights);
                const size_t n_dst = (size_t)(out_w * 3 * rows) + 8;
                uint8_t *da = malloc(n_dst), *db = malloc(n_dst);
                memset(da, 0xA5, n_dst);
                memset(db, 0xA5, n_dst);
                sv_resample_h_rgb8_generic(src, in_w, rows, da, out_w, first, count, weights, ksize);
                kv->resample_h_rgb8(src, in_w, rows, db, out_w, first, count, weights, ksize);
                for (size_t i = 0; i < n_dst; i++) {
                    if (da[i] != db[i]) {
                        snprintf(detail, sizeof detail, " rows=%lld out_w=%lld: byte %zu generic %02x, %s %02x",
                                 (long long)rows, (long long)out_w, i, da[i], kv->name, db[i]);
                        ok = 0;
                        break;
                    }
                }
                munmap(base, len);
                free(first); free(count); free(weights); free(da); free(db);
            }
            check(ok, "%-12s resample_h_rgb8 in_w=%-3lld byte-identical (1-4 rows, 1-40 outputs, 1-9 taps, any weights)%s",
                  kv->name, (long long)in_w, detail);
        }
    }
    if (kv->resample_v_u8 != NULL && kv->resample_v_u8 != ks->resample_v_u8) {
        static const int64_t elems[] = { 1, 15, 16, 17, 33, 111, 3 * 383 };
        for (int ei = 0; ei < NELEMS(elems); ei++) {
            const int64_t row_elems = elems[ei];
            int ok = 1;
            char detail[160] = "";
            for (int rep = 0; rep < 6 && ok; rep++) {
                const int64_t in_h = rng_int(1, 12), out_h = rng_int(1, 12), ksize = rng_int(1, 9);
                const int64_t h0 = rng_int(0, (int)out_h - 1), h1 = rng_int((int)h0 + 1, (int)out_h);
                void *base; size_t len;
                const size_t n_src = (size_t)(row_elems * in_h);
                uint8_t *src = guarded_alloc(n_src, &base, &len);
                rng_bytes(src, n_src);
                int32_t *first = malloc(sizeof(int32_t) * (size_t)out_h), *count = malloc(sizeof(int32_t) * (size_t)out_h);
                int32_t *weights = malloc(sizeof(int32_t) * (size_t)(out_h * ksize));
                make_coeffs(in_h, out_h, ksize, first, count, weights);
                const size_t n_dst = (size_t)(row_elems * out_h);
                uint8_t *da = malloc(n_dst), *db = malloc(n_dst);
                memset(da, 0xA5, n_dst);
                memset(db, 0xA5, n_dst);
                sv_resample_v_u8_generic(src, row_elems, da, h0, h1, first, count, weights, ksize);
                kv->resample_v_u8(src, row_elems, db, h0, h1, first, count, weights, ksize);
                for (size_t i = 0; i < n_dst; i++) {
                    if (da[i] != db[i]) {
                        snprintf(detail, sizeof detail, " out rows [%lld, %lld): byte %zu generic %02x, %s %02x",
                                 (long long)h0, (long long)h1, i, da[i], kv->name, db[i]);
                        ok = 0;
                        break;
                    }
                }
                munmap(base, len);
                free(first); free(count); free(weights); free(da); free(db);
            }
            check(ok, "%-12s resample_v_u8 row_elems=%-4lld byte-identical (sub-ranges of 1-12 rows, 1-9 taps, any weights)%s",
                  kv->name, (long long)row_elems, detail);
        }
    }
}

// MARK: - Main

int main(void) {
    const sv_kernels *ks = sv_kernels_for(SV_ISA_SCALAR);
    if (ks == NULL) {
        printf("FAIL no scalar table\n0 passed, 1 failed\n");
        return 1;
    }
    // SV_EXPECT_DOTPROD=1 / 0: the emulated CPU does / does not have sdot (run.sh
    // knows, it picked the qemu -cpu model), so dispatch's detection is checked too.
    // Unset: a CPU without sdot is a skip. SV_DETECT_ONLY=1: only the detection.
    const char *expect = getenv("SV_EXPECT_DOTPROD");
    const int detect_only = getenv("SV_DETECT_ONLY") != NULL;
    const sv_isa isas[] = { SV_ISA_NEON, SV_ISA_NEON_DOTPROD };
    for (int i = 0; i < 2; i++) {
        const sv_kernels *kv = sv_kernels_for(isas[i]);
        if (isas[i] == SV_ISA_NEON_DOTPROD && expect != NULL) {
            const int want = strcmp(expect, "0") != 0;
            check((kv != NULL) == want, "%-12s %sdetected by dispatch, as expected for this CPU: %s",
                  sv_isa_name(isas[i]), kv ? "" : "not ", want ? "has sdot" : "no sdot");
        } else {
            check(kv != NULL || isas[i] == SV_ISA_NEON_DOTPROD, "%-12s %s by dispatch", sv_isa_name(isas[i]),
                  kv ? "detected" : isas[i] == SV_ISA_NEON ? "NOT detected" : "not on this CPU (skipped)");
        }
        if (kv == NULL || detect_only) continue;
        // Which entries the fill replaced (information; a generic entry is still correct).
        printf("info %-12s overrides:", kv->name);
        for (int t = 0; t < SV_TYPE_COUNT; t++) {
            if (kv->from_float[t] && kv->from_float[t] != ks->from_float[t]) printf(" from_float[%s]", sv_type_name((sv_type)t));
        }
        for (int t = 0; t < SV_TYPE_COUNT; t++) {
            if (kv->vec_dot[t] && kv->vec_dot[t] != ks->vec_dot[t]) printf(" vec_dot[%s]", sv_type_name((sv_type)t));
        }
        for (int t = 0; t < SV_TYPE_COUNT; t++) {
            if (kv->gemm[t]) printf(" gemm[%s]", sv_type_name((sv_type)t));
        }
        if (kv->gemm_q8_0_r16) printf(" gemm_q8_0_r16");
        if (kv->tinyblas_f16_block) printf(" tinyblas_f16_block");
        if (kv->swiglu != ks->swiglu) printf(" swiglu");
        if (kv->gelu != ks->gelu) printf(" gelu");
        if (kv->attention_block_f32acc != ks->attention_block_f32acc) printf(" attention_block_f32acc");
        if (kv->attention_row_f16acc != ks->attention_row_f16acc) printf(" attention_row_f16acc");
        if (kv->attention_row_f16acc_partial != ks->attention_row_f16acc_partial) printf(" attention_row_f16acc_partial");
        if (kv->resample_h_rgb8 != ks->resample_h_rgb8) printf(" resample_h_rgb8");
        if (kv->resample_v_u8 != ks->resample_v_u8) printf(" resample_v_u8");
        printf("\n");
        test_from_float(ks, kv);
        test_vec_dot(ks, kv);
        test_matmul(ks, kv);
        test_gemm(kv);
        test_tinyblas_f16(ks, kv);
        test_gemm_q8_0_r16(kv);
        test_swiglu(ks, kv);
        test_gelu(ks, kv);
        test_peak(kv);
        test_attention_block(kv);
        test_attention_f16acc(ks, kv);
        test_resample(ks, kv);
    }
    // The sdot table must really carry sdot dots, not just inherit the NEON ones.
    const sv_kernels *kn = sv_kernels_for(SV_ISA_NEON), *kd = sv_kernels_for(SV_ISA_NEON_DOTPROD);
    if (kn != NULL && kd != NULL && !detect_only) {
        static const sv_type int_dots[] = { SV_TYPE_Q8_0, SV_TYPE_Q4_0, SV_TYPE_Q4_1, SV_TYPE_Q5_0,
                                            SV_TYPE_Q5_1, SV_TYPE_Q4_K, SV_TYPE_Q5_K, SV_TYPE_Q6_K };
        int distinct = 1;
        for (int i = 0; i < NELEMS(int_dots); i++) distinct &= kd->vec_dot[int_dots[i]] != kn->vec_dot[int_dots[i]];
        check(distinct, "%-12s integer dots (q8_0 q4_0 q4_1 q5_0 q5_1 q4_K q5_K q6_K) are its own, not neon's", kd->name);
        int gemms = kd->gemm_q8_0_r16 != kn->gemm_q8_0_r16;
        for (int i = 0; i < NELEMS(int_dots); i++) gemms &= kd->gemm[int_dots[i]] != kn->gemm[int_dots[i]];
        check(gemms, "%-12s integer gemms and gemm_q8_0_r16 are its own, not neon's", kd->name);
    }
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
