// Separable 8-bit image resampling with fixed-point weights (Pillow's, as llama.cpp's mtmd
// resizes images): scalar oracle. Integer arithmetic throughout (int32 wrapping, as Pillow's
// C code), so any summation order gives the same bytes and SIMD twins are byte-identical.
#include "../internal.h"

static inline uint8_t sv_clip8(int32_t v) {
    v >>= SV_RESAMPLE_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void sv_resample_h_rgb8_generic(const uint8_t *src, int64_t in_w, int64_t rows, uint8_t *dst, int64_t out_w,
                                const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const int32_t half = 1 << (SV_RESAMPLE_PRECISION_BITS - 1);
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *row = src + y * in_w * 3;
        uint8_t *out = dst + y * out_w * 3;
        for (int64_t xx = 0; xx < out_w; xx++) {
            uint32_t s0 = half, s1 = half, s2 = half;
            const uint8_t *p = row + (int64_t)first[xx] * 3;
            const int32_t *w = weights + xx * ksize;
            for (int32_t k = 0; k < count[xx]; k++, p += 3) {
                s0 += (uint32_t)p[0] * (uint32_t)w[k];
                s1 += (uint32_t)p[1] * (uint32_t)w[k];
                s2 += (uint32_t)p[2] * (uint32_t)w[k];
            }
            out[3 * xx] = sv_clip8((int32_t)s0);
            out[3 * xx + 1] = sv_clip8((int32_t)s1);
            out[3 * xx + 2] = sv_clip8((int32_t)s2);
        }
    }
}

void sv_resample_v_u8_generic(const uint8_t *src, int64_t row_elems, uint8_t *dst, int64_t out_h0, int64_t out_h1,
                              const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize) {
    const int32_t half = 1 << (SV_RESAMPLE_PRECISION_BITS - 1);
    for (int64_t yy = out_h0; yy < out_h1; yy++) {
        const int32_t *w = weights + yy * ksize;
        for (int64_t i = 0; i < row_elems; i++) {
            uint32_t s = half;
            for (int32_t k = 0; k < count[yy]; k++) s += (uint32_t)src[(first[yy] + k) * row_elems + i] * (uint32_t)w[k];
            dst[yy * row_elems + i] = sv_clip8((int32_t)s);
        }
    }
}
