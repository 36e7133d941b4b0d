import GGUF
import Kernels
import SmolVLM

/// Weight matrices with random contents in any computable ggml type, for timing kernels.
///
/// Quantized blocks are random bytes (every bit pattern is a valid quant) with their f16
/// scale fields set to small finite values, so results stay finite like real weights.
package enum SyntheticWeights {
    /// Byte offsets of the f16 scale fields inside one block.
    static func scaleFieldOffsets(_ type: GGMLType) -> [Int] {
        switch type {
        case .q8_0, .q4_0, .q5_0: [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
        case .q6_K: [208]
        default: []
        }
    }

    /// `rows × columns` elements of `type`, row-major, in a 64-byte aligned buffer.
    package static func make(type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> AlignedBytes {
        var rng = SplitMix64(seed: seed)
        let rowBytes = type.byteCount(elements: columns)!
        let buffer = AlignedBytes(count: rowBytes * rows)
        let p = buffer.pointer
        switch type {
        case .f32:
            let f = p.bindMemory(to: Float.self, capacity: rows * columns)
            for i in 0 ..< rows * columns { f[i] = Float.random(in: -1 ... 1, using: &rng) }
        case .f16:
            let h = p.bindMemory(to: UInt16.self, capacity: rows * columns)
            for i in 0 ..< rows * columns { h[i] = sv_fp32_to_fp16(Float.random(in: -1 ... 1, using: &rng)) }
        case .bf16:
            let h = p.bindMemory(to: UInt16.self, capacity: rows * columns)
            for i in 0 ..< rows * columns { h[i] = sv_fp32_to_bf16(Float.random(in: -1 ... 1, using: &rng)) }
        default:
            let bytes = p.bindMemory(to: UInt8.self, capacity: rowBytes * rows)
            for i in 0 ..< rowBytes * rows { bytes[i] = UInt8.random(in: 0 ... 255, using: &rng) }
            let offsets = scaleFieldOffsets(type)
            let blocks = rows * columns / type.blockElements
            for b in 0 ..< blocks {
                for o in offsets {
                    let scale = sv_fp32_to_fp16(Float.random(in: 0.001 ... 0.05, using: &rng))
                    (p + b * type.blockBytes + o).storeBytes(of: scale, as: UInt16.self)
                }
            }
        }
        return buffer
    }

    /// `count` floats uniform in [-1, 1].
    package static func activations(count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in Float.random(in: -1 ... 1, using: &rng) }
    }
}

/// An owned, 64-byte aligned byte buffer.
package final class AlignedBytes: @unchecked Sendable {
    package let pointer: UnsafeMutableRawPointer
    package let count: Int
    package init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}
