#if OPENBLAS
import COpenBLAS
import Kernels

/// Float-weight matrix products through OpenBLAS (the `OpenBLAS` package trait), as llama.cpp's
/// BLAS backend runs them: the weights widened to f32 a slab of rows at a time, the activations
/// taken as they are (f32, not first rounded to the weights' type as the CPU kernels do), one
/// `cblas_sgemm` per slab on OpenBLAS's own threads. Sums follow OpenBLAS's order, so outputs
/// agree with llama.cpp's CPU backend to rounding, not bit for bit.
enum BLASMatMul {
    /// Fewer activation rows than this stay on the engine's kernels (ggml's BLAS backend takes
    /// products from 32 rows, columns and outputs up).
    static let minimumRows = 32
    /// Weight rows widened per sgemm: bounds the f32 copy (3 MB at SmolVLM's widths) however
    /// tall the matrix (the 49 280-row output head would be 113 MB at once).
    static let slabRows = 1024

    static func handles(_ w: WeightMatrix, rows m: Int) -> Bool {
        [.f32, .f16, .bf16].contains(w.type) && m >= minimumRows && w.rows >= minimumRows && w.columns >= minimumRows
    }

    /// `y = x · wᵀ` for `m` rows of `x`; see ``MatMul/multiply(_:_:rows:into:scratch:pool:kernels:)``.
    static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>,
                         scratch: inout ScratchBuffer, pool: ThreadPool) {
        let cols = w.columns
        openblas_set_num_threads(Int32(pool.threadCount))
        for r0 in stride(from: 0, to: w.rows, by: slabRows) {
            let rows = min(slabRows, w.rows - r0)
            let slab: UnsafePointer<Float>
            if w.type == .f32 {
                slab = (w.data + r0 * w.rowStride).assumingMemoryBound(to: Float.self)
            } else {
                let wide = scratch.reserve(rows * cols * MemoryLayout<Float>.size).assumingMemoryBound(to: Float.self)
                pool.parallelFor(rows) { range in
                    for r in range {
                        _ = sv_dequantize_row(w.kernelType, w.data + (r0 + r) * w.rowStride, wide + r * cols, Int64(cols))
                    }
                }
                slab = UnsafePointer(wide)
            }
            // Row-major y[m × w.rows], this slab's columns r0 ..< r0 + rows: x (m × cols) · slabᵀ.
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(rows), Int32(cols),
                        1, x, Int32(cols), slab, Int32(cols), 0, y + r0, Int32(w.rows))
        }
    }
}
#endif
