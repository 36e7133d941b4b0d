// Row operations of a transformer layer besides matrix products, with the numerics of ggml's
// CPU backend so logits agree with llama.cpp: RMSNorm accumulates in double, attention follows
// ggml's flash-attention paths (f16 value accumulator for short batches, f32 for tiled ones).
#include "../internal.h"

#include <math.h>

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

void sv_swiglu_f32(int64_t n, const float *g, const float *u, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void sv_attention_row_f16acc(const sv_kernels *k, int64_t d, const float *q,
                             const sv_half *keys, const sv_half *values, int64_t stride, int64_t n_kv,
                             float scale, float *out, sv_half *scratch) {
    sv_half *q16 = scratch;
    sv_half *acc = scratch + d;
    k->from_float[SV_TYPE_F16](q, q16, d);
    memset(acc, 0, (size_t)d * sizeof(sv_half));
    const sv_vec_dot_fn dot = k->vec_dot[SV_TYPE_F16];

    float S = 0.0f, M = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        const float s = dot(d, keys + j * stride, q16) * scale;
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
        S = S * ms + vs;
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < d; i++) out[i] = sv_fp16_to_fp32(acc[i]) * inv;
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
        double sum = 0.0;
        for (int64_t t = 0; t < nt; t++) {
            kq[t] = expf(kq[t] - M);
            sum += (double)kq[t];
        }
        S += (float)sum;
        for (int64_t t = 0; t < nt; t++) {
            const sv_half *v = values + (t0 + t) * stride;
            for (int64_t i = 0; i < d; i++) out[i] = fmaf(kq[t], sv_fp16_to_fp32(v[i]), out[i]);
        }
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int64_t i = 0; i < d; i++) out[i] *= inv;
}
