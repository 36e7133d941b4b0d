import GGUF
import Kernels
import SmolVLM
import Testing

/// Float-weight matrix products (F32, F16, BF16) against a double-precision reference, on shapes
/// that take every route: one activation row (the kernels' vec_dot), a batch (the kernels'
/// tinyBLAS-order tiles, or OpenBLAS with that trait), and more weight rows than one OpenBLAS slab.
/// The kernels round activations to the weight type first and OpenBLAS does not, so the
/// reference does what the build does; what is left is summation order, a few ulps of the sum.
@Suite("float-weight products")
struct FloatProductTests {
    @Test(arguments: [GGMLType.f32, .f16, .bf16])
    func agreeWithDoublePrecision(_ type: GGMLType) throws {
        var rng = SplitMix64(seed: 0xF1_0A7)
        for (rows, cols, m) in [(48, 96, 1), (64, 256, 40), (1100, 64, 33)] {
            let w = (0 ..< rows * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            let x = (0 ..< m * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            let rowBytes = try #require(type.byteCount(elements: cols))
            var stored = [UInt8](repeating: 0, count: rows * rowBytes)
            var wide = [Float](repeating: 0, count: rows * cols)
            for r in 0 ..< rows {
                stored.withUnsafeMutableBytes { s in
                    w.withUnsafeBufferPointer { wp in
                        let dst = s.baseAddress! + r * rowBytes
                        switch type {
                        case .f16: for c in 0 ..< cols { dst.storeBytes(of: sv_fp32_to_fp16(wp[r * cols + c]), toByteOffset: 2 * c, as: UInt16.self) }
                        case .bf16: for c in 0 ..< cols { dst.storeBytes(of: sv_fp32_to_bf16(wp[r * cols + c]), toByteOffset: 2 * c, as: UInt16.self) }
                        default: for c in 0 ..< cols { dst.storeBytes(of: wp[r * cols + c], toByteOffset: 4 * c, as: Float.self) }
                        }
                        _ = sv_dequantize_row(type.kernelType!, dst, &wide[r * cols], Int64(cols))
                    }
                }
            }
            // The kernels multiply activations rounded to the weight type; OpenBLAS takes them as they are.
            let rounded = m >= 32 && MatMul.usesOpenBLAS ? x : x.map { v in
                switch type {
                case .f16: sv_fp16_to_fp32(sv_fp32_to_fp16(v))
                case .bf16: sv_bf16_to_fp32(sv_fp32_to_bf16(v))
                default: v
                }
            }
            var y = [Float](repeating: .nan, count: m * rows)
            try stored.withUnsafeBytes { s in
                let matrix = try WeightMatrix(type: type, rows: rows, columns: cols, data: s.baseAddress!)
                var scratch = ScratchBuffer()
                MatMul.multiply(matrix, x, rows: m, into: &y, scratch: &scratch, pool: ThreadPool(threads: 2), kernels: .default)
            }
            var worst = 0.0
            for j in 0 ..< m {
                for r in 0 ..< rows {
                    var exact = 0.0, magnitude = 0.0
                    for c in 0 ..< cols {
                        exact += Double(wide[r * cols + c]) * Double(rounded[j * cols + c])
                        magnitude += abs(Double(wide[r * cols + c]) * Double(rounded[j * cols + c]))
                    }
                    worst = max(worst, abs(Double(y[j * rows + r]) - exact) / magnitude)
                }
            }
            // f32 summation of `cols` terms: a few ulps (2^-24 ≈ 6e-8) of the terms' magnitude.
            #expect(worst < 1e-6, "\(type.name) \(rows)×\(cols), m=\(m) (OpenBLAS: \(MatMul.usesOpenBLAS)): worst error \(worst) of Σ|w·x|")
        }
    }
}
