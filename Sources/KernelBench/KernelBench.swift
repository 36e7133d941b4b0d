import GGUF
import Kernels
import SmolVLM

/// Measures matrix products at model shapes through the same entry point the engine uses.
package struct KernelBench {
    /// A weight matrix shape (`rows` outputs, `columns` inputs) and how many activation rows meet it.
    package struct Shape: Sendable, CustomStringConvertible {
        package var rows: Int
        package var columns: Int
        package var batch: Int
        package var label: String
        package init(rows: Int, columns: Int, batch: Int = 1, label: String) {
            self.rows = rows; self.columns = columns; self.batch = batch; self.label = label
        }
        package var description: String {
            batch == 1 ? "\(rows)x\(columns)" : "\(rows)x\(columns) ·\(batch)"
        }
    }

    package struct Result: Sendable {
        package var seconds: Double
        package var weightBytes: Int
        package var operations: Double
        /// Weight bytes streamed per second, in GB/s (10^9).
        package var gigabytesPerSecond: Double { Double(weightBytes) / seconds / 1e9 }
        /// Multiply-adds counted as two operations, per second, in 10^9.
        package var gigaOpsPerSecond: Double { operations / seconds / 1e9 }
    }

    /// SmolVLM-256M text shapes (matrix·vector: one decoded token; matrix·matrix: a 128-token
    /// prompt) and SigLIP shapes (matrix·vector and, with 1024 patch rows, matrix·matrix: one
    /// 512-px tile). Matrix·matrix products go through the tables' register-tiled gemm twins.
    package static let smolVLMShapes: [Shape] = [
        Shape(rows: 576, columns: 576, label: "text attn q/o"),
        Shape(rows: 1536, columns: 576, label: "text ffn up/gate"),
        Shape(rows: 576, columns: 1536, label: "text ffn down"),
        Shape(rows: 49280, columns: 576, label: "text output"),
        Shape(rows: 1536, columns: 576, batch: 128, label: "text ffn up/gate, prefill"),
        Shape(rows: 576, columns: 1536, batch: 128, label: "text ffn down, prefill"),
        Shape(rows: 768, columns: 768, label: "siglip attn"),
        Shape(rows: 3072, columns: 768, label: "siglip ffn up"),
        Shape(rows: 768, columns: 768, batch: 1024, label: "siglip attn, tile"),
        Shape(rows: 3072, columns: 768, batch: 1024, label: "siglip ffn up, tile"),
    ]

    package let pool: ThreadPool
    /// Minimum measured time per figure; the best of the repetitions is reported.
    package var minimumSeconds: Double

    package init(threads: Int, minimumSeconds: Double = 0.25) {
        pool = ThreadPool(threads: threads)
        self.minimumSeconds = minimumSeconds
    }

    /// Times one product at `shape` through `MatMul.multiply`, with the weights as the engine
    /// holds them: Q8_0 matrices repacked (``WeightMatrix/repackedForSpeed()``) when `kernels`
    /// has the repacked product, since models do that at load.
    package func measure(type: GGMLType, shape: Shape, kernels: KernelSet) -> Result {
        let weights = SyntheticWeights.make(type: type, rows: shape.rows, columns: shape.columns, seed: 42)
        var w = try! WeightMatrix(type: type, rows: shape.rows, columns: shape.columns, data: weights.pointer)
        if kernels.table.pointee.gemm_q8_0_r16 != nil { w = w.repackedForSpeed() }
        let x = SyntheticWeights.activations(count: shape.batch * shape.columns, seed: 7)
        var y = [Float](repeating: 0, count: shape.batch * shape.rows)
        var scratch = ScratchBuffer()
        let clock = ContinuousClock()
        var best = Double.infinity
        var total = 0.0
        var reps = 0
        // One warm-up, then repeat until the time budget is spent (at least twice).
        while reps < 3 || total < minimumSeconds {
            let start = clock.now
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    MatMul.multiply(w, xp.baseAddress!, rows: shape.batch, into: yp.baseAddress!,
                                    scratch: &scratch, pool: pool, kernels: kernels)
                }
            }
            let s = (clock.now - start).seconds
            if reps > 0 { best = min(best, s); total += s }
            reps += 1
        }
        let bytes = w.rowStride * w.rows
        let ops = 2.0 * Double(shape.rows) * Double(shape.columns) * Double(shape.batch)
        return Result(seconds: best, weightBytes: bytes, operations: ops)
    }

    /// A register-only loop's rate on every thread of the pool at once, in 10^9 operations per
    /// second (a multiply-add counts two), best of repeated runs; nil where `kernels` has no such
    /// loop. This is the machine's limit for the instruction the loop runs, measured in the same
    /// sitting as the kernels it is compared with.
    package func peak(_ kind: sv_peak, kernels: KernelSet) -> Double? {
        guard let loop = sv_kernels_peak(kernels.table, kind) else { return nil }
        let threads = pool.threadCount
        var iterations = 1 << 14
        // Grow the run until one pass takes a tenth of the budget (clock noise then negligible).
        while true {
            let s = timeOnAllThreads(loop, iterations: iterations).seconds
            if s >= minimumSeconds / 10 || iterations >= 1 << 40 { break }
            iterations *= s > 0 ? max(2, Int(minimumSeconds / 10 / s) + 1) : 16
        }
        var best = Double.infinity
        var total = 0.0
        var operations = 0.0
        while total < minimumSeconds || best == .infinity {
            let (s, ops) = timeOnAllThreads(loop, iterations: iterations)
            best = min(best, s)
            total += s
            operations = ops
        }
        return operations * Double(threads) / best / 1e9
    }

    /// The name of the instruction (or mix) a peak loop runs, nil where there is none.
    package static func peakInstruction(_ kind: sv_peak, _ kernels: KernelSet) -> String? {
        sv_kernels_peak_instruction(kernels.table, kind).map { String(cString: $0) }
    }

    private func timeOnAllThreads(_ loop: sv_peak_fn, iterations: Int) -> (seconds: Double, operations: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var ops = 0.0
        pool.run { i in
            var sink: Float = 0
            let done = loop(Int64(iterations), &sink)
            if i == 0 { ops = done }
        }
        return ((clock.now - start).seconds, ops)
    }
}
