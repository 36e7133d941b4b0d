// Kernels: the hot loops of swift-smolvlm. Nothing here knows about models.
//
// Every kernel has a portable scalar reference (Kernels/generic) that is the
// oracle for its SIMD twins (Kernels/x86, Kernels/arm). Block layouts are
// byte-identical to ggml's so GGUF tensor data is used in place.
//
// Numerics follow ggml's CPU backend on x86 (the reference we compare logits
// against): activations are quantized to the weight type's partner type before
// the dot product, with ggml's x86 rounding (see quantize notes below).
#ifndef SMOLVLM_KERNELS_H
#define SMOLVLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Types (ids are ggml's)

typedef enum sv_type {
    SV_TYPE_F32  = 0,
    SV_TYPE_F16  = 1,
    SV_TYPE_Q4_0 = 2,
    SV_TYPE_Q4_1 = 3,
    SV_TYPE_Q5_0 = 6,
    SV_TYPE_Q5_1 = 7,
    SV_TYPE_Q8_0 = 8,
    SV_TYPE_Q8_1 = 9,
    SV_TYPE_Q4_K = 12,
    SV_TYPE_Q5_K = 13,
    SV_TYPE_Q6_K = 14,
    SV_TYPE_Q8_K = 15,
    SV_TYPE_BF16 = 30,
    SV_TYPE_COUNT = 31, // size of per-type tables, not a type
} sv_type;

#define SV_QK4_0 32
#define SV_QK4_1 32
#define SV_QK5_0 32
#define SV_QK5_1 32
#define SV_QK8_0 32
#define SV_QK8_1 32
#define SV_QK_K 256
#define SV_K_SCALE_SIZE 12

typedef uint16_t sv_half; // IEEE binary16 bits
typedef uint16_t sv_bf16; // bfloat16 bits

typedef struct { sv_half d; uint8_t qs[SV_QK4_0 / 2]; } sv_block_q4_0;                 // 18 B
typedef struct { sv_half d; sv_half m; uint8_t qs[SV_QK4_1 / 2]; } sv_block_q4_1;      // 20 B
// Q5_0 / Q5_1: element j (< 16) is low nibble of qs[j] plus bit j of qh (as a little-endian
// uint32) as bit 4; element j + 16 is the high nibble of qs[j] plus bit j + 16.
typedef struct { sv_half d; uint8_t qh[4]; uint8_t qs[SV_QK5_0 / 2]; } sv_block_q5_0;            // 22 B, w = d*(q - 16)
typedef struct { sv_half d; sv_half m; uint8_t qh[4]; uint8_t qs[SV_QK5_1 / 2]; } sv_block_q5_1; // 24 B, w = d*q + m
typedef struct { sv_half d; int8_t qs[SV_QK8_0]; } sv_block_q8_0;                      // 34 B
typedef struct { sv_half d; sv_half s; int8_t qs[SV_QK8_1]; } sv_block_q8_1;           // 36 B, s = d * sum(qs)
typedef struct {
    sv_half d;                        // super-block scale for the 6-bit scales
    sv_half dmin;                     // super-block scale for the 6-bit mins
    uint8_t scales[SV_K_SCALE_SIZE];  // 8 scales + 8 mins, 6 bits each, packed
    uint8_t qs[SV_QK_K / 2];          // 4-bit quants
} sv_block_q4_K;                      // 144 B
typedef struct {
    sv_half d;
    sv_half dmin;
    uint8_t scales[SV_K_SCALE_SIZE];
    uint8_t qh[SV_QK_K / 8];          // high bit of each quant
    uint8_t qs[SV_QK_K / 2];          // low 4 bits
} sv_block_q5_K;                      // 176 B
typedef struct {
    uint8_t ql[SV_QK_K / 2];          // low 4 bits
    uint8_t qh[SV_QK_K / 4];          // high 2 bits
    int8_t scales[SV_QK_K / 16];      // 8-bit sub-block scales
    sv_half d;
} sv_block_q6_K;                      // 210 B
typedef struct {
    float d;
    int8_t qs[SV_QK_K];
    int16_t bsums[SV_QK_K / 16];      // sums of qs in groups of 16
} sv_block_q8_K;                      // 292 B

/// Elements per block (1 for F32/F16/BF16); 0 for an id this library does not implement.
int64_t sv_type_block_elems(sv_type t);
/// Bytes per block; 0 for an unimplemented id.
size_t sv_type_block_bytes(sv_type t);
/// Bytes of one row of n elements, or 0 if n is not a multiple of the block size.
size_t sv_row_bytes(sv_type t, int64_t n);
/// The activation type a weight type is multiplied against (ggml's vec_dot_type).
sv_type sv_vec_dot_type(sv_type weight);
const char *sv_type_name(sv_type t);

// MARK: - Scalar conversions (round to nearest even, as F16C and ggml do)

float sv_fp16_to_fp32(sv_half h);
sv_half sv_fp32_to_fp16(float f);
float sv_bf16_to_fp32(sv_bf16 h);
sv_bf16 sv_fp32_to_bf16(float f);  // NaN stays a quiet NaN, otherwise RNE

// MARK: - Dequantization (scalar: exactness to ggml's dequantize_row_* is the point)

/// Dequantize n elements of type t (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
/// Returns 0, or -1 for an unsupported type or an n that is not a multiple of the block size.
int sv_dequantize_row(sv_type t, const void *x, float *y, int64_t n);

// MARK: - Instruction sets and kernel tables

typedef enum sv_isa {
    SV_ISA_SCALAR = 0,
    SV_ISA_AVX2 = 1,          // AVX2 + FMA + F16C
    SV_ISA_AVX512 = 2,        // AVX-512 F/BW/VL/DQ
    SV_ISA_AVX512_VNNI = 3,   // AVX-512 + VNNI
    SV_ISA_NEON = 4,
    SV_ISA_NEON_DOTPROD = 5,  // NEON + sdot
    SV_ISA_COUNT = 6,
} sv_isa;

/// Converts a row of f32 activations into a partner type (Q8_0, Q8_1, Q8_K, F16, BF16, F32).
/// n must be a multiple of the partner's block size.
///
/// Rounding matches ggml on x86 in every path: Q8_0/Q8_1 use d = amax/127, id = 127/amax
/// and round half to even; Q8_K uses iscale = -127/max (signed max), round half to even,
/// clamp at 127, d = 1/iscale. SIMD paths produce bytes identical to the scalar path.
typedef void (*sv_from_float_fn)(const float *x, void *y, int64_t n);

/// One dot product of a weight row against an activation row of the partner type, n elements.
typedef float (*sv_vec_dot_fn)(int64_t n, const void *w, const void *x);

/// A block of a matrix product: y[j·y_stride + i] = vec_dot(n, w_i, x_j) for weight rows
/// i < nr (row i at (char *)w + i·w_stride) and activation rows j < nc (at (char *)x + j·x_stride),
/// each output the same float, bit for bit, as the table's vec_dot for that pair. Twins gain
/// by register tiles (each weight block loaded once for several activation rows and vice
/// versa), never by reordering a dot's float additions.
typedef void (*sv_gemm_fn)(int64_t n, const void *w, size_t w_stride, int64_t nr,
                           const void *x, size_t x_stride, int64_t nc,
                           float *y, int64_t y_stride);

/// y[i] = silu(g[i]) · u[i] for n elements (see sv_swiglu_f32 for the numerics).
typedef void (*sv_swiglu_fn)(int64_t n, const float *g, const float *u, float *y);

/// ggml's GELU through its f16 table (see sv_gelu_f16_table for the numerics); `x == y` allowed.
typedef void (*sv_gelu_fn)(int64_t n, const float *x, float *y, const float *table);

/// sv_attention_block_f32acc's signature (see there); twins give bit-identical outputs.
typedef void (*sv_attention_block_f32acc_fn)(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                                             const sv_half *keys, const sv_half *values, int64_t kv_stride,
                                             int64_t n_kv, int causal, float scale,
                                             float *out, int64_t out_stride, float *scratch);

struct sv_kernels;

/// sv_attention_row_f16acc's and sv_attention_row_f16acc_partial's signatures; twins give
/// bit-identical outputs (`out` is d floats for the row form, the 2 + d partial for the other).
typedef void (*sv_attention_row_f16acc_fn)(const struct sv_kernels *k, int64_t d, const float *q,
                                           const sv_half *keys, const sv_half *values, int64_t stride,
                                           int64_t n_kv, float scale, float *out, sv_half *scratch);

/// One pass of a separable resampling of 8-bit images with fixed-point weights
/// (SV_RESAMPLE_PRECISION_BITS fraction bits; Pillow's, as llama.cpp's mtmd resizes images).
/// Output i takes count[i] inputs from first[i], weights at weights[i·ksize]; the sum starts at
/// half a unit, is shifted down and clamped to 0…255. Integer arithmetic (int32 wrapping): the
/// SIMD twins are byte-identical.
///   h: rows of in_w interleaved RGB pixels → rows of out_w pixels.
///   v: output rows [out_h0, out_h1) of row_elems bytes each from the rows of src.
#define SV_RESAMPLE_PRECISION_BITS 22
typedef void (*sv_resample_h_rgb8_fn)(const uint8_t *src, int64_t in_w, int64_t rows, uint8_t *dst, int64_t out_w,
                                      const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize);
typedef void (*sv_resample_v_u8_fn)(const uint8_t *src, int64_t row_elems, uint8_t *dst, int64_t out_h0, int64_t out_h1,
                                    const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize);

/// The machine's limits, measured: each loop runs one instruction (or one fixed mix) on
/// independent register accumulators, with no loads or stores, so its rate on every core at once
/// is the most that instruction can give. Kernels are reported as a share of the loop their inner
/// loop is bound by.
typedef enum sv_peak {
    SV_PEAK_INT8 = 0,      // int8 multiply-adds: vpdpbusd (VNNI), vpmaddubsw+vpmaddwd (AVX2), sdot
    SV_PEAK_F32 = 1,       // f32 FMA, the widest vector the table uses
    SV_PEAK_BF16 = 2,      // bf16 pair dot products into f32 (vdpbf16ps)
    // The per-block mix llama.cpp's Q8_0 order costs (sv_gemm_q8_0_r16_fn): for 4 int8 products
    // in each of a vector's lanes, one integer dot, one int→float conversion and one FMA. It
    // bounds any product that keeps that order, however it is tiled.
    SV_PEAK_Q8_0_ORDERED = 3,
    SV_PEAK_COUNT = 4,
} sv_peak;

/// Runs `iterations` of a register-only loop on the calling thread and returns the operations
/// it performed (a multiply-add counts two). A value that depends on every accumulator is
/// stored to *sink so the loop cannot be dropped.
typedef double (*sv_peak_fn)(int64_t iterations, float *sink);

/// Q8_0 weights repacked 16 rows at a time (Kernels/generic/gemm_q8_0_r16.c): for one block of
/// 32 columns, the 16 rows' quants as [k4][row][4], each stored + 128, then their scales.
typedef struct {
    uint8_t q[8][16][4];
    sv_half d[16];
} sv_block_q8_0_r16;

/// Bytes of a repacked `rows × n` Q8_0 matrix; 0 unless rows is a multiple of 16 and n of 32.
size_t sv_q8_0_r16_bytes(int64_t rows, int64_t n);
/// Repacks `rows` Q8_0 rows of n elements (row r at (char *)w + r·w_stride) into `out`.
void sv_repack_q8_0_r16(const void *w, size_t w_stride, int64_t rows, int64_t n, void *out);
/// −128 · Σ of each 4 consecutive quants of Q8_0 activation rows: out[a·(n/4) + q] for row a,
/// quad q (the start value of each vpdpbusd of the repacked product).
void sv_q8_0_quad_sums(const void *x, size_t x_stride, int64_t m, int64_t n, int32_t *out);
/// y[a·y_stride + r] for weight rows r of row groups [g0, g1) (16 rows each) of a repacked
/// matrix and m Q8_0 activation rows whose quad sums are `qsums`: each output the same float
/// as the x86 tables' Q8_0 vec_dot (ggml's order), 16 outputs per vector lane set.
typedef void (*sv_gemm_q8_0_r16_fn)(int64_t n, const void *wp, int64_t g0, int64_t g1, const void *x, size_t x_stride,
                                    const int32_t *qsums, int64_t m, float *y, int64_t y_stride);
/// The scalar statement of that product, the oracle of the table's twins.
void sv_gemm_q8_0_r16_generic(int64_t n, const void *wp, int64_t g0, int64_t g1, const void *x, size_t x_stride,
                              const int32_t *qsums, int64_t m, float *y, int64_t y_stride);

typedef struct sv_kernels {
    sv_isa isa;
    const char *name;
    sv_from_float_fn from_float[SV_TYPE_COUNT];  // indexed by partner type
    sv_vec_dot_fn vec_dot[SV_TYPE_COUNT];        // indexed by weight type
    // Indexed by weight type; NULL where the table has no tiled twin (products then loop over
    // vec_dot, which is also the oracle). Valid only with the same table's vec_dot.
    sv_gemm_fn gemm[SV_TYPE_COUNT];
    // Indexed by weight type: the per-output dot of llama.cpp's repacked 8-column kernels, which
    // its x86 build uses for Q4_0 and Q4_K weights with a multiple of 8 rows: the GEMV (an
    // activation row on its own) and the GEMM (activation rows in groups of 4). NULL where
    // llama.cpp does not repack the type for this instruction set.
    sv_vec_dot_fn repack_gemv[SV_TYPE_COUNT];
    sv_vec_dot_fn repack_gemm[SV_TYPE_COUNT];
    // Indexed by weight type: the per-output dot of llama.cpp's tiled K-quant GEMM
    // (ggml-cpu/tiled), which its x86 build uses for products with 8 or more activation rows
    // whose weights were not repacked. NULL where that path does not exist.
    sv_vec_dot_fn tiled[SV_TYPE_COUNT];
    // Register-tiled twins of repack_gemm and tiled (same bits per output, as gemm is to
    // vec_dot); NULL where the table has none.
    sv_gemm_fn repack_gemm_block[SV_TYPE_COUNT];
    sv_gemm_fn tiled_block[SV_TYPE_COUNT];
    // Register-tiled twin of the tinyBLAS order of batched F16 products (sv_matmul_rows_ggml).
    sv_gemm_fn tinyblas_f16_block;
    sv_swiglu_fn swiglu;
    sv_gelu_fn gelu;
    sv_resample_h_rgb8_fn resample_h_rgb8;
    sv_resample_v_u8_fn resample_v_u8;
    // The repacked Q8_0 product (sv_gemm_q8_0_r16_fn); NULL where repacking does not pay.
    sv_gemm_q8_0_r16_fn gemm_q8_0_r16;
    sv_attention_block_f32acc_fn attention_block_f32acc;
    sv_attention_row_f16acc_fn attention_row_f16acc;
    sv_attention_row_f16acc_fn attention_row_f16acc_partial;
    // Register-only throughput loops (sv_peak_fn), indexed by sv_peak; NULL where the table's
    // instruction set lacks the instruction. peak_instruction names what each one runs.
    sv_peak_fn peak[SV_PEAK_COUNT];
    const char *peak_instruction[SV_PEAK_COUNT];
} sv_kernels;

/// Table lookups for callers that cannot index C arrays (Swift imports them as tuples).
/// NULL for a type the table does not cover.
static inline sv_from_float_fn sv_kernels_from_float(const sv_kernels *k, sv_type partner) {
    return (unsigned)partner < SV_TYPE_COUNT ? k->from_float[partner] : (sv_from_float_fn)0;
}
static inline sv_vec_dot_fn sv_kernels_vec_dot(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->vec_dot[weight] : (sv_vec_dot_fn)0;
}

static inline sv_gemm_fn sv_kernels_gemm(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->gemm[weight] : (sv_gemm_fn)0;
}
static inline sv_vec_dot_fn sv_kernels_repack_gemv(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->repack_gemv[weight] : (sv_vec_dot_fn)0;
}
static inline sv_vec_dot_fn sv_kernels_repack_gemm(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->repack_gemm[weight] : (sv_vec_dot_fn)0;
}
static inline sv_vec_dot_fn sv_kernels_tiled(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->tiled[weight] : (sv_vec_dot_fn)0;
}
static inline sv_gemm_fn sv_kernels_repack_gemm_block(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->repack_gemm_block[weight] : (sv_gemm_fn)0;
}
static inline sv_gemm_fn sv_kernels_tiled_block(const sv_kernels *k, sv_type weight) {
    return (unsigned)weight < SV_TYPE_COUNT ? k->tiled_block[weight] : (sv_gemm_fn)0;
}
static inline sv_peak_fn sv_kernels_peak(const sv_kernels *k, sv_peak kind) {
    return (unsigned)kind < SV_PEAK_COUNT ? k->peak[kind] : (sv_peak_fn)0;
}
static inline const char *sv_kernels_peak_instruction(const sv_kernels *k, sv_peak kind) {
    return (unsigned)kind < SV_PEAK_COUNT ? k->peak_instruction[kind] : (const char *)0;
}

/// The table for one instruction set, or NULL if it is not compiled in or the CPU lacks it.
/// Tables are immutable and live for the process.
const sv_kernels *sv_kernels_for(sv_isa isa);
/// The table the engine uses: the best the CPU supports, unless the environment variable
/// SMOLVLM_ISA (scalar, avx2, avx512, avx512-vnni, neon, neon-dotprod) names another
/// supported one. Decided once per process.
const sv_kernels *sv_kernels_default(void);
const char *sv_isa_name(sv_isa isa);
/// 1 if this CPU can run the instruction set (and it is compiled in), else 0.
int sv_isa_supported(sv_isa isa);

// MARK: - Matrix products (row-parallel entry points)

/// Y = W · X for weight rows [r0, r1).
///   W:  rows of n elements of type wt, row r at (char *)w + r * w_stride.
///   X:  m activation rows already converted with from_float[sv_vec_dot_type(wt)],
///       row j at (char *)x + j * x_stride.
///   Y:  f32, element (j, r) at y[j * y_stride + r].
/// Callers split [0, rows) among threads; calls on disjoint row ranges may run concurrently.
/// m == 1 is the matrix-vector product. For m > 1 the kernel tiles over W rows so a tile of W
/// stays in cache while it meets every activation row, and computes each tile with the table's
/// gemm for wt when it has one (same bits as vec_dot, so results never depend on m or on how
/// callers split the rows).
void sv_matmul_rows(const sv_kernels *k, sv_type wt, int64_t n,
                    const void *w, size_t w_stride,
                    const void *x, size_t x_stride, int64_t m,
                    float *y, int64_t y_stride,
                    int64_t r0, int64_t r1);

/// sv_matmul_rows with each output summed in the order llama.cpp's CPU backend uses for the same
/// product on this instruction set, where that order depends on more than the weight type:
///   * Q4_0 and Q4_K weights whose row count `w_rows` is a multiple of 8, in a table with
///     repack_gemv/repack_gemm: llama.cpp repacks them and runs its 4-row GEMM on activation
///     rows [0, m − m % 4) and its 1-row GEMV on the rest;
///   * other K-quant weights with m >= 8, in a table with `tiled`: its tiled GEMM's order;
///   * F16 and BF16 weights with m >= 2 and n a multiple of 16 (x86 tables): llamafile's
///     tinyBLAS order (one 16-lane fused multiply-add accumulator, then _mm512_reduce_add_ps).
/// Everything else is sv_matmul_rows exactly. Activation rows must be the whole batch llama.cpp
/// would see in one matrix product (the 4-row grouping counts from row 0).
void sv_matmul_rows_ggml(const sv_kernels *k, sv_type wt, int64_t n,
                         const void *w, size_t w_stride, int64_t w_rows,
                         const void *x, size_t x_stride, int64_t m,
                         float *y, int64_t y_stride,
                         int64_t r0, int64_t r1);

/// Scalar statements of llama.cpp's x86 summation orders (Kernels/generic/vec_dot_x86_order.c),
/// the oracles the x86 tables' kernels for those orders are tested against bit for bit.
float sv_vec_dot_q4_0_q8_0_chain_generic(int64_t n, const void *w, const void *x);    // repacked GEMV/GEMM
float sv_vec_dot_q4_K_q8_K_chain_generic(int64_t n, const void *w, const void *x);    // repacked GEMV
float sv_vec_dot_q4_K_q8_K_chain64_generic(int64_t n, const void *w, const void *x);  // repacked GEMM
float sv_vec_dot_q5_K_q8_K_lanes8_generic(int64_t n, const void *w, const void *x);   // ggml's AVX2 vec_dot
float sv_vec_dot_q6_K_q8_K_lanes8_generic(int64_t n, const void *w, const void *x);   // ggml's AVX2 vec_dot
float sv_vec_dot_q4_K_q8_K_tiled_generic(int64_t n, const void *w, const void *x);    // tiled GEMM
float sv_vec_dot_q5_K_q8_K_tiled_generic(int64_t n, const void *w, const void *x);    // tiled GEMM
float sv_vec_dot_q6_K_q8_K_tiled_generic(int64_t n, const void *w, const void *x);    // tiled GEMM
float sv_vec_dot_f16_f16_lanes64_generic(int64_t n, const void *w, const void *x);    // ggml_vec_dot_f16, AVX-512
float sv_vec_dot_bf16_bf16_lanes32_generic(int64_t n, const void *w, const void *x);  // ggml_vec_dot_bf16, AVX-512F
float sv_vec_dot_f16_f16_tinyblas_generic(int64_t n, const void *w, const void *x);   // llamafile's tinyBLAS, F16 batches

/// The oracle every gemm twin is tested against: the same block of outputs as sv_gemm_fn, one
/// call of `dot` per (weight row, activation row).
void sv_gemm_by_vec_dot(sv_vec_dot_fn dot, int64_t n, const void *w, size_t w_stride, int64_t nr,
                        const void *x, size_t x_stride, int64_t nc, float *y, int64_t y_stride);

// MARK: - Normalization and attention (ggml's CPU numerics)

/// y = x / sqrt(mean(x²) + eps) · w (w may be NULL). The sum of squares is accumulated in
/// double, as ggml's rms_norm does.
void sv_rms_norm_f32(int64_t n, const float *x, const float *w, float eps, float *y);

/// y[i] = silu(g[i]) · u[i], silu(x) = x / (1 + e^-x), with the numerics of ggml_vec_swiglu_f32
/// in an AVX-512 build (the reference llama.cpp): e^-x from ggml's vectorized polynomial
/// (ggml_v_expf, not libm) for whole groups of 16, libm's expf for the n % 16 leftovers, so
/// callers go one row at a time. Portable scalar reference; tables carry faster twins.
void sv_swiglu_f32(int64_t n, const float *g, const float *u, float *y);

/// ggml_vec_gelu_f32 with GGML_GELU_FP16 (its default): y[i] = 0 for x[i] ≤ −10, x[i] for
/// x[i] ≥ 10, otherwise table[h] with h the bits of x[i] rounded to f16 (round to nearest even,
/// NaN as vcvtps2ph makes it). `table` holds 65536 floats, the GELU of every f16 value as ggml
/// tabulates it. `x == y` is allowed.
void sv_gelu_f16_table(int64_t n, const float *x, float *y, const float *table);

/// The scalar resampling passes (see sv_resample_h_rgb8_fn), the oracle of every table's twins.
void sv_resample_h_rgb8_generic(const uint8_t *src, int64_t in_w, int64_t rows, uint8_t *dst, int64_t out_w,
                                const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize);
void sv_resample_v_u8_generic(const uint8_t *src, int64_t row_elems, uint8_t *dst, int64_t out_h0, int64_t out_h1,
                              const int32_t *first, const int32_t *count, const int32_t *weights, int64_t ksize);

/// One query row attending to n_kv cached positions (keys and values in f16, rows `stride`
/// halves apart), with ggml's flash-attention numerics for batches of fewer than 64 query rows
/// (ops.cpp, ggml_compute_forward_flash_attn_ext_f16_one_chunk): q is rounded to f16 with the
/// table's conversion, each score is ggml_vec_dot_f16 in its AVX-512 summation order (whatever
/// the table), the running softmax-weighted sum of values is kept in f16 and rescaled when the
/// maximum grows, and the running sum is S·ms + vs fused, as GCC compiles it.
/// `scratch` holds 2·d halves.
void sv_attention_row_f16acc(const sv_kernels *k, int64_t d, const float *q,
                             const sv_half *keys, const sv_half *values, int64_t stride, int64_t n_kv,
                             float scale, float *out, sv_half *scratch);

/// One chunk of a split-KV decode step (ggml's path for a single query row over 512 or more
/// cached positions: each thread takes a contiguous slice of the positions): the same loop as
/// sv_attention_row_f16acc over `n_kv` positions, but unnormalised. Writes `partial` =
/// [M, S, VKQ[0..d)] (running maximum, running sum, f16 accumulator widened to f32); an empty
/// slice gives M = -inf, S = 0. `scratch` holds 2·d halves.
void sv_attention_row_f16acc_partial(const sv_kernels *k, int64_t d, const float *q,
                                     const sv_half *keys, const sv_half *values, int64_t stride,
                                     int64_t n_kv, float scale, float *partial, sv_half *scratch);

/// Combines `n` partials (each 2 + d floats, in position order) into the attention output, as
/// ggml_flash_attn_ext_reduce_partials does: a slice with S = 0 is skipped; otherwise
/// VKQ = VKQ·e^(M−M') + (VKQ_c·e^(M_c−M')) with the second product rounded first (one FMA,
/// as GCC contracts it), likewise S; then VKQ / S.
void sv_attention_merge_partials(int64_t d, int64_t n, const float *partials, float *out);

/// The same with ggml's tiled flash-attention numerics (batches of 64 or more query rows):
/// scores in f32 from f32 q and f16→f32 keys, positions taken 64 at a time (each tile's softmax
/// as ggml_vec_soft_max_f32 on AVX-512: ggml_v_expf, 16-lane sums added in double to the f32
/// running sum), the running sum of values in f32. `scratch` holds 64 floats.
void sv_attention_row_f32acc(int64_t d, const float *q,
                             const sv_half *keys, const sv_half *values, int64_t stride, int64_t n_kv,
                             float scale, float *out, float *scratch);

/// Floats of scratch sv_attention_block_f32acc (in every table) needs for n_rows rows of head
/// dimension d: a 64-position tile of keys and of values widened to f32, 64 scores, and each
/// row's running maximum and sum.
static inline size_t sv_attention_block_f32acc_scratch_floats(int64_t d, int64_t n_rows) {
    return (size_t)(2 * 64 * d + 64 + 2 * n_rows);
}

/// n_rows query rows (row r at q + r·q_stride, its output at out + r·out_stride) attending to
/// the same keys and values, each exactly as sv_attention_row_f32acc computes it (bit for bit):
/// row r sees the first n_kv + r positions when `causal` (rows at consecutive positions of a
/// prompt whose first row sees n_kv), else all n_kv. The table twins widen each 64-position
/// tile of keys and values once for all rows. `scratch` holds
/// sv_attention_block_f32acc_scratch_floats(d, n_rows) floats.
void sv_attention_block_f32acc(int64_t d, int64_t n_rows, const float *q, int64_t q_stride,
                               const sv_half *keys, const sv_half *values, int64_t kv_stride,
                               int64_t n_kv, int causal, float scale,
                               float *out, int64_t out_stride, float *scratch);

// MARK: - Threading support

/// A spin-wait hint (pause / yield) for the engine's thread pool.
static inline void sv_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif

#endif
