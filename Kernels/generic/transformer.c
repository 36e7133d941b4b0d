// Row operations of a transformer layer besides matrix products, with the numerics of ggml's
// CPU backend so logits agree with llama.cpp: RMSNorm accumulates in double, attention follows
// ggml's flash-attention paths (f16 value accumulator for short batches, f32 for tiled ones).
#include "../internal.h"

#include <math.h>

// Every float operation below is spelled out, fused (fmaf) or not, as ggml's compiled code
// does it; the compiler must not contract anything on its own.
#pragma STDC FP_CONTRACT OFF

void sv_rms_norm_f32(int64_t n, const float *x, const float *w, float eps, float *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    }
}

// ggml_v_expf of ggml's AVX-512 branch (vec.h, __AVX512F__ && __AVX512DQ__), one lane: a
// degree-5 polynomial on the reduced argument b = x - n·ln2 (ln2 split in two), scaled by
// 2^n with vscalefps; |n| > 192 saturates to 0 or +Inf. Not libm's expf: the results differ
// in the last bit often enough to flip a later activation quantization.
static float sv_ggml_expf_avx512_lane(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (n != n) return n;
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    return ldexpf(j, (int)n); // vscalefps: j·2^n, rounded once
}

// ggml_vec_swiglu_f32 on an AVX-512 build: 16-wide ggml_v_silu (x / (1 + ggml_v_expf(0 - x)))
// times u, then libm's expf for the n % 16 leftovers (ggml_silu_f32).
void sv_swiglu_f32(int64_t n, const float *g, const float *u, float *y) {
    const int64_t nv = n - n % 16;
    int64_t i = 0;
    for (; i < nv; i++) y[i] = (g[i] / (1.0f + sv_ggml_expf_avx512_lane(0.0f - g[i]))) * u[i];
    for (; i < n; i++) y[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
}

void sv_gelu_f16_table(int64_t n, const float *x, float *y, const float *table) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v <= -10.0f ? 0.0f : v >= 10.0f ? v : table[sv_fp32_to_fp16(v)];
    }
}

// ggml_vec_dot_f16 on an AVX-512 build (vec.cpp, GGML_SIMD with simd-mappings.h's __AVX512F__
// F16 macros, no AVX512-FP16): 64 elements per step in four 16-lane f32 accumulators (an
// f16·f16 product is exact in f32, so each FMA is one rounded add), reduced as
// GGML_F32Cx16_REDUCE does (0+2, 1+3, then 0+1) and across lanes by _mm512_reduce_add_ps
// (halves: 16 → 8 → 4 → 2 → 1); the n % 64 leftovers are added in double.
static float sv_dot_f16_ggml_avx512(int64_t n, const sv_half *x, const sv_half *y) {
    float acc[4][16] = {{0}};
    const int64_t np = n & ~(int64_t)63;
    for (int64_t i = 0; i < np; i += 64) {
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 16; l++) {
                acc[j][l] += sv_fp16_to_fp32(x[i + 16 * j + l]) * sv_fp16_to_fp32(y[i + 16 * j + l]);
            }
        }
    }
    float v[16];
    for (int l = 0; l < 16; l++) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    for (int w = 8; w >= 1; w /= 2) {
        for (int l = 0; l < w; l++) v[l] = v[l + w] + v[l];
    }
    double sum = (double)v[0];
    for (int64_t i = np; i < n; i++) sum += (double)(sv_fp16_to_fp32(x[i]) * sv_fp16_to_fp32(y[i]));
    return (float)sum;
}

/* The online-softmax loop shared by the whole-row and split-KV forms: returns M and S, leaves
 * the f16 accumulator in scratch + d. */
static void attention_f16acc_loop(const sv_kernels *k, int64_t d, const float *q,
                                  const sv_half *keys, const sv_half *values, int64_t stride,
                                  int64_t n_kv, float scale, sv_half *scratch, float *m_out, float *s_out) {
    sv_half *q16 = scratch;
    sv_half *acc = scratch + d;
    k->from_float[SV_TYPE_F16](q, q16, d);
    memset(acc, 0, (size_t)d * sizeof(sv_half));

    float S = 0.0f, M = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        const float s = sv_dot_f16_ggml_avx512(d, keys + j * stride, q16) * scale;
        const sv_half *v = values + j * stride;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            const float Mold = M;
            M = s;
            ms = expf(Mold - M);
            for (int64_t i = 0; i < d; i++) acc[i] = sv_fp32_to_fp16(sv_fp16_to_fp32(acc[i]) * ms);
        } else {
            vs = expf(s - M);
        }
        // ggml's f16 multiply-add: widen, fused multiply-add in f32, round back to f16.
        for (int64_t i = 0; i < d; i++) {
            acc[i] = sv_fp32_to_fp16(fmaf(sv_fp16_to_fp32(v[i]), vs, sv_fp16_to_fp32(acc[i])));
        }
        S = fmaf(S, ms, vs); // GCC contracts ggml's S*ms + vs
    }
    *m_out = M;
    *s_out = S;
}

void sv_attention_row_f16acc(const sv_kernels *k, int64_t d, const float *q,
                             const sv_half *keys, const sv_half *values, int64_t stride, int64_t n_kv,
                             float scale, float *out, sv_half *scratch) {
    float M, S;
    attention_f16acc_loop(k, d, q, keys, values, stride, n_kv, scale, scratch, &M, &S);
    const sv_half *acc = scratch + d;
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < d; i++) out[i] = sv_fp16_to_fp32(acc[i]) * inv;
}

void sv_attention_row_f16acc_partial(const sv_kernels *k, int64_t d, const float *q,
                                     const sv_half *keys, const sv_half *values, int64_t stride,
                                     int64_t n_kv, float scale, float *partial, sv_half *scratch) {
    attention_f16acc_loop(k, d, q, keys, values, stride, n_kv, scale, scratch, &partial[0], &partial[1]);
    const sv_half *acc = scratch + d;
    for (int64_t i = 0; i < d; i++) partial[2 + i] = sv_fp16_to_fp32(acc[i]);
}

void sv_attention_merge_partials(int64_t d, int64_t n, const float *partials, float *out) {
    float M = -INFINITY, S = 0.0f;
    for (int64_t i = 0; i < d; i++) out[i] = 0.0f;
    for (int64_t c = 0; c < n; c++) {
        const float *p = partials + c * (2 + d);
        const float Mc = p[0], Sc = p[1];
        if (Sc == 0.0f) continue;
        const float Mnew = fmaxf(M, Mc);
        const float scale_old = expf(M - Mnew);
        const float scale_new = expf(Mc - Mnew);
        for (int64_t i = 0; i < d; i++) out[i] = fmaf(out[i], scale_old, p[2 + i] * scale_new);
        S = fmaf(S, scale_old, Sc * scale_new);
        M = Mnew;
    }
    if (S != 0.0f) {
        const float inv = 1.0f / S;
        for (int64_t i = 0; i < d; i++) out[i] *= inv;
    }
}

enum { SV_ATTN_TILE = 64 };

void sv_attention_row_f32acc(int64_t d, const float *q,
                             const sv_half *keys, const sv_half *values, int64_t stride, int64_t n_kv,
                             float scale, float *out, float *scratch) {
    float *kq = scratch;
    float S = 0.0f, M = -INFINITY;
    for (int64_t i = 0; i < d; i++) out[i] = 0.0f;
    for (int64_t t0 = 0; t0 < n_kv; t0 += SV_ATTN_TILE) {
        const int64_t nt = n_kv - t0 < SV_ATTN_TILE ? n_kv - t0 : SV_ATTN_TILE;
        float tile_max = -INFINITY;
        for (int64_t t = 0; t < nt; t++) {
            const sv_half *key = keys + (t0 + t) * stride;
            float s = 0.0f;
            for (int64_t i = 0; i < d; i++) s = fmaf(q[i], sv_fp16_to_fp32(key[i]), s);
            kq[t] = s * scale;
            if (kq[t] > tile_max) tile_max = kq[t];
        }
        const float Mnew = fmaxf(M, tile_max);
        if (Mnew > M) {
            const float ms = expf(M - Mnew);
            for (int64_t i = 0; i < d; i++) out[i] *= ms;
            S *= ms;
        }
        M = Mnew;
        // ggml_vec_soft_max_f32 on an AVX-512 build over the whole 64-wide tile (positions
        // past n_kv are -INF, so 0): 16 lanes of ggml_v_expf at a time, each group reduced
        // as _mm512_reduce_add_ps does and accumulated in double.
        double sum = 0.0;
        for (int64_t c = 0; c < SV_ATTN_TILE; c += 16) {
            float e[16];
            for (int64_t l = 0; l < 16; l++) {
                const int64_t t = c + l;
                e[l] = t < nt ? sv_ggml_expf_avx512_lane(kq[t] - M) : 0.0f;
                if (t < nt) kq[t] = e[l];
            }
            float a[8], b[4];
            for (int l = 0; l < 8; l++) a[l] = e[l] + e[l + 8];
            for (int l = 0; l < 4; l++) b[l] = a[l] + a[l + 4];
            sum += (double)((b[0] + b[2]) + (b[1] + b[3]));
        }
        S = (float)((double)S + sum); // S[tq] += ggml_vec_soft_max_f32(...): float += ggml_float
        for (int64_t t = 0; t < nt; t++) {
            const sv_half *v = values + (t0 + t) * stride;
            for (int64_t i = 0; i < d; i++) out[i] = fmaf(kq[t], sv_fp16_to_fp32(v[i]), out[i]);
        }
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < d; i++) out[i] *= inv;
}

// The oracle for the table twins: one row at a time (they widen each tile once for all rows).
void sv_attention_block_f32acc(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                               const sv_half *keys, const sv_half *values, int64_t kv_stride,
                               int64_t n_kv, int causal, float scale,
                               float *out, int64_t out_stride, float *scratch) {
    for (int64_t r = 0; r < n_rows; r++) {
        sv_attention_row_f32acc(d, q + r * q_stride, keys, values, kv_stride, causal ? n_kv + r : n_kv,
                                scale, out + r * out_stride, scratch);
    }
}
