// Row-parallel matrix products built on the vec_dot kernels.
#include "internal.h"

#include <math.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

// llamafile's tinyBLAS<16, __m512, __m512, ggml_fp16_t, ggml_fp16_t, float> order, which
// llama.cpp (AVX-512 build, sgemm on) uses for every F16×F16 product with at least two
// activation rows and k a multiple of 16: one 16-lane accumulator, a fused multiply-add per
// 16 elements, then _mm512_reduce_add_ps (sv_reduce16_gcc). Each lane is an independent fma
// chain, so two 8-lane halves (AVX2) or scalar fmaf give the same bits.
float sv_vec_dot_f16_f16_tinyblas_generic(int64_t n, const void *w, const void *x) {
    const sv_half *a = w, *b = x;
    float acc[16] = {0};
    for (int64_t l = 0; l < n; l += 16)
        for (int i = 0; i < 16; i++) acc[i] = fmaf(sv_fp16_to_fp32(a[l + i]), sv_fp16_to_fp32(b[l + i]), acc[i]);
    return sv_reduce16_gcc(acc);
}

static float sv_dot_bf16_tinyblas_scalar(int64_t n, const void *w, const void *x) {
    const sv_bf16 *a = w, *b = x;
    float acc[16] = {0};
    for (int64_t l = 0; l < n; l += 16)
        for (int i = 0; i < 16; i++) acc[i] = fmaf(sv_bf16_to_fp32(a[l + i]), sv_bf16_to_fp32(b[l + i]), acc[i]);
    return sv_reduce16_gcc(acc);
}

#if defined(__x86_64__) || defined(_M_X64)
__attribute__((target("avx2,fma,f16c")))
static inline __m256 sv_bf16x8_load(const sv_bf16 *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

__attribute__((target("avx2,fma,f16c")))
static float sv_dot_bf16_tinyblas_avx2(int64_t n, const void *w, const void *x) {
    const sv_bf16 *a = w, *b = x;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t l = 0; l < n; l += 16) {
        lo = _mm256_fmadd_ps(sv_bf16x8_load(a + l), sv_bf16x8_load(b + l), lo);
        hi = _mm256_fmadd_ps(sv_bf16x8_load(a + l + 8), sv_bf16x8_load(b + l + 8), hi);
    }
    return sv_reduce16_halves(lo, hi);
}

__attribute__((target("avx2,fma,f16c")))
static float sv_dot_f16_tinyblas_avx2(int64_t n, const void *w, const void *x) {
    const sv_half *a = w, *b = x;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t l = 0; l < n; l += 16) {
        const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + l)));
        const __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + l + 8)));
        const __m256 b0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + l)));
        const __m256 b1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + l + 8)));
        lo = _mm256_fmadd_ps(a0, b0, lo);
        hi = _mm256_fmadd_ps(a1, b1, hi);
    }
    return sv_reduce16_halves(lo, hi);
}
#endif

// Bytes of W to keep hot while it meets every activation row: about half of a
// typical 512 KiB–1 MiB L2, leaving room for the activation rows streaming past.
#define SV_MATMUL_TILE_BYTES (256 * 1024)
#define SV_MATMUL_TILE_MIN_ROWS 4
#define SV_MATMUL_TILE_MAX_ROWS 64
// Activation rows that meet one W row back to back.
#define SV_MATMUL_X_GROUP 4
// Activation rows per gemm call: with the W tile, a block that sits in L2 while the gemm's
// register tiles walk it (weight rows outer, so each tile's weight rows stay in L1).
#define SV_MATMUL_GEMM_X_GROUP 64

void sv_gemm_by_vec_dot(sv_vec_dot_fn dot, int64_t n, const void *w, size_t w_stride, int64_t nr,
                        const void *x, size_t x_stride, int64_t nc, float *y, int64_t y_stride) {
    const char *wb = w, *xb = x;
    for (int64_t i = 0; i < nr; i++)
        for (int64_t j = 0; j < nc; j++)
            y[j * y_stride + i] = dot(n, wb + (size_t)i * w_stride, xb + (size_t)j * x_stride);
}

// Activation rows [0, m_head) go through `head` (or its register-tiled block twin `head_block`
// when there is one), the rest through `tail`; all NULL means the table's vec_dot and gemm.
static void sv_matmul_rows_with(const sv_kernels *k, sv_type wt, int64_t n,
                                const void *w, size_t w_stride,
                                const void *x, size_t x_stride, int64_t m,
                                float *y, int64_t y_stride,
                                int64_t r0, int64_t r1,
                                sv_vec_dot_fn head, sv_gemm_fn head_block, sv_vec_dot_fn tail, int64_t m_head) {
    if (r1 <= r0 || m <= 0) return;
    const sv_vec_dot_fn dot = ((unsigned)wt < SV_TYPE_COUNT) ? k->vec_dot[wt] : NULL;
    if (head == NULL) {
        head = tail = dot;
        head_block = ((unsigned)wt < SV_TYPE_COUNT) ? k->gemm[wt] : NULL;
        m_head = m;
    }
    const char *wb = w;
    const char *xb = x;

    if (dot == NULL || head == NULL || tail == NULL) {
        // A missing kernel is a caller bug; make it loud in the output, not a crash.
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = r0; r < r1; r++) y[j * y_stride + r] = NAN;
        return;
    }

    if (m == 1) {
        const sv_vec_dot_fn d1 = m_head > 0 ? head : tail;
        for (int64_t r = r0; r < r1; r++) y[r] = d1(n, wb + (size_t)r * w_stride, x);
        return;
    }

    const size_t row_bytes = sv_row_bytes(wt, n);
    int64_t tile = row_bytes ? (int64_t)(SV_MATMUL_TILE_BYTES / row_bytes) : SV_MATMUL_TILE_MAX_ROWS;
    if (tile < SV_MATMUL_TILE_MIN_ROWS) tile = SV_MATMUL_TILE_MIN_ROWS;
    if (tile > SV_MATMUL_TILE_MAX_ROWS) tile = SV_MATMUL_TILE_MAX_ROWS;

    // Within a W tile the block kernel takes the head rows in groups of SV_MATMUL_GEMM_X_GROUP;
    // without one, activation rows go in small groups, so each W row is read from L2 once per
    // group and hit in L1 for the rest of it while the group's activation rows stay in L1.
    const int64_t j_first = head_block != NULL ? m_head : 0;
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = (t0 + tile < r1) ? t0 + tile : r1;
        if (head_block != NULL) {
            for (int64_t j0 = 0; j0 < m_head; j0 += SV_MATMUL_GEMM_X_GROUP) {
                const int64_t j1 = (j0 + SV_MATMUL_GEMM_X_GROUP < m_head) ? j0 + SV_MATMUL_GEMM_X_GROUP : m_head;
                head_block(n, wb + (size_t)t0 * w_stride, w_stride, t1 - t0,
                           xb + (size_t)j0 * x_stride, x_stride, j1 - j0, y + j0 * y_stride + t0, y_stride);
            }
        }
        for (int64_t j0 = j_first; j0 < m; j0 += SV_MATMUL_X_GROUP) {
            const int64_t j1 = (j0 + SV_MATMUL_X_GROUP < m) ? j0 + SV_MATMUL_X_GROUP : m;
            for (int64_t r = t0; r < t1; r++) {
                const void *wr = wb + (size_t)r * w_stride;
                for (int64_t j = j0; j < j1; j++)
                    y[j * y_stride + r] = (j < m_head ? head : tail)(n, wr, xb + (size_t)j * x_stride);
            }
        }
    }
}

void sv_matmul_rows(const sv_kernels *k, sv_type wt, int64_t n,
                    const void *w, size_t w_stride,
                    const void *x, size_t x_stride, int64_t m,
                    float *y, int64_t y_stride,
                    int64_t r0, int64_t r1) {
    sv_matmul_rows_with(k, wt, n, w, w_stride, x, x_stride, m, y, y_stride, r0, r1, NULL, NULL, NULL, 0);
}

void sv_matmul_rows_ggml(const sv_kernels *k, sv_type wt, int64_t n,
                         const void *w, size_t w_stride, int64_t w_rows,
                         const void *x, size_t x_stride, int64_t m,
                         float *y, int64_t y_stride,
                         int64_t r0, int64_t r1) {
    sv_vec_dot_fn head = NULL, tail = NULL;
    sv_gemm_fn head_block = NULL;
    int64_t m_head = 0;
    const int typed = (unsigned)wt < SV_TYPE_COUNT;
    if (typed && w_rows % 8 == 0 && k->repack_gemv[wt] != NULL && k->repack_gemm[wt] != NULL) {
        head = k->repack_gemm[wt];
        head_block = k->repack_gemm_block[wt];
        tail = k->repack_gemv[wt];
        m_head = m - m % 4;
    } else if (typed && m >= 8 && k->tiled[wt] != NULL) {
        head = tail = k->tiled[wt];
        head_block = k->tiled_block[wt];
        m_head = m;
    } else if ((wt == SV_TYPE_F16 || wt == SV_TYPE_BF16) && m >= 2 && n % 16 == 0) {
        const int f16 = wt == SV_TYPE_F16;
        head = f16 ? sv_vec_dot_f16_f16_tinyblas_generic : sv_dot_bf16_tinyblas_scalar;
#if defined(__x86_64__) || defined(_M_X64)
        if (k->isa == SV_ISA_AVX2 || k->isa == SV_ISA_AVX512 || k->isa == SV_ISA_AVX512_VNNI)
            head = f16 ? sv_dot_f16_tinyblas_avx2 : sv_dot_bf16_tinyblas_avx2;
#endif
        tail = head;
        // Every table's block twin has these bits, whichever per-output kernel `head` is.
        if (f16) head_block = k->tinyblas_f16_block;
        m_head = m;
    }
    sv_matmul_rows_with(k, wt, n, w, w_stride, x, x_stride, m, y, y_stride, r0, r1, head, head_block, tail, m_head);
}
