import Foundation
import GGUF
import Kernels

/// One conversation's state for a ``LlamaModel``: the KV cache, the position, and the scratch
/// buffers a forward pass needs (allocated once, grown only when a larger batch arrives).
///
/// Not thread-safe: one context serves one caller; make one context per concurrent stream.
public final class LlamaContext {
    /// The weights this context runs (shared; the context owns only its KV cache and buffers).
    public let model: LlamaModel
    /// Positions the KV cache can hold.
    public let capacity: Int
    /// Tokens evaluated so far (the next position).
    public private(set) var position = 0

    /// Positions evaluated per forward pass; larger inputs are split, as llama.cpp's n_ubatch.
    public static let microBatch = 512
    /// Batches of at least this many rows take ggml's tiled flash-attention numerics.
    static let tiledAttentionRows = 64

    /// The threads this context computes with; share it with the vision encoder.
    package let pool: ThreadPool
    let kernels: KernelSet
    private let cache: KVCache
    private var scratch = ScratchBuffer()
    private var buffers: Buffers
    /// Converts f32 rows to f16 for the KV cache (F16C rounding on x86).
    private let toHalf: sv_from_float_fn
    private let swiglu: sv_swiglu_fn

    /// A context for `model`: a KV cache of `contextLength` positions, working buffers, and a
    /// pool of `threads` threads.
    ///
    /// - Parameters:
    ///   - model: the weights to run; shared, not copied.
    ///   - contextLength: positions to keep; default the smaller of the model's and 4096.
    ///   - threads: threads for matrix products and attention; default the active processor count.
    ///   - tracer: records a span per operation of every forward pass, and of the vision encoder
    ///     when it runs on this context (``VisionModel/embed(_:preprocessor:using:)``); nil, the
    ///     default, records nothing.
    public convenience init(model: LlamaModel, contextLength: Int? = nil, threads: Int? = nil, tracer: Tracer? = nil) throws {
        try self.init(model: model, contextLength: contextLength, threads: threads, kernels: .default, tracer: tracer)
    }

    /// As the public initialiser, on a chosen kernel set (tests compare each SIMD set against the
    /// scalar reference; the benchmarks measure each).
    package convenience init(model: LlamaModel, contextLength: Int? = nil, threads: Int? = nil, kernels: KernelSet,
                             tracer: Tracer? = nil) throws {
        try self.init(model: model, contextLength: contextLength,
                      pool: ThreadPool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, tracer: tracer),
                      kernels: kernels)
    }

    /// A context for `model` that computes on `pool`, a pool shared with other contexts (a
    /// server's slots): their forward passes take turns on the same threads instead of
    /// oversubscribing the cores. Contexts on one pool must be used from one thread at a time.
    ///
    /// - Parameters:
    ///   - model: the weights to run; shared, not copied.
    ///   - contextLength: positions to keep; default the smaller of the model's and 4096.
    ///   - pool: the threads to compute with.
    ///   - kernels: the SIMD kernel set; default the best this CPU supports.
    package init(model: LlamaModel, contextLength: Int? = nil, pool: ThreadPool, kernels: KernelSet = .default) throws {
        let c = model.configuration
        let requested = contextLength ?? min(c.contextLength, 4096)
        guard requested > 0 else {
            throw ModelError.invalidHyperParameter(key: "context length", value: String(requested), reason: "must be positive")
        }
        self.model = model
        capacity = requested
        self.pool = pool
        self.kernels = kernels
        cache = try KVCache(layers: c.blockCount, capacity: requested, kvDimension: c.kvDimension)
        buffers = Buffers(rows: 1, configuration: c)
        guard let toHalf = sv_kernels_from_float(kernels.table, SV_TYPE_F16) else {
            preconditionFailure("kernel table \(kernels.name) lacks f16 conversion")
        }
        self.toHalf = toHalf
        swiglu = kernels.table.pointee.swiglu ?? sv_swiglu_f32
    }

    /// Forgets every evaluated position (the cache contents are overwritten as positions are reused).
    public func reset() { position = 0 }

    /// Rewinds to `position`, keeping the cache before it (for prefix reuse).
    public func truncate(to position: Int) {
        self.position = max(0, min(position, self.position))
    }

    // MARK: - Evaluation

    /// Which positions of a batch produce logits: the last, every one, or none (a prefix whose
    /// logits nobody reads skips the output projection).
    public enum Logits: Sendable {
        /// Logits of the batch's last position only: a prefill followed by sampling.
        case last
        /// Logits of every position: scoring a text, comparing against a reference.
        case all
        /// No logits: the output projection is skipped.
        case none
    }

    /// Evaluates `tokens` at the next positions and returns logits (`vocabularySize` floats per
    /// requested row, row-major).
    public func evaluate(tokens: [Int], logits: Logits = .last) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        let vocab = model.configuration.vocabularySize
        if let bad = tokens.first(where: { $0 < 0 || $0 >= vocab }) {
            throw ModelError.tokenOutOfRange(token: bad, vocabularySize: vocab)
        }
        return try evaluate(count: tokens.count, logits: logits) { start, n, x in
            let d = model.configuration.embeddingLength
            pool.traced(.rows("embed tokens", n, d)) {
                for i in 0 ..< n { model.embed(tokens[start + i], into: x + i * d) }
            }
        }
    }

    /// Evaluates rows of input embeddings (`embeddingLength` floats each; e.g. projected image
    /// features) at the next positions.
    public func evaluate(embeddings: [Float], logits: Logits = .last) throws -> [Float] {
        let d = model.configuration.embeddingLength
        guard !embeddings.isEmpty, embeddings.count % d == 0 else { throw ModelError.emptyInput }
        return try evaluate(count: embeddings.count / d, logits: logits) { start, n, x in
            embeddings.withUnsafeBufferPointer { e in
                x.update(from: e.baseAddress! + start * d, count: n * d)
            }
        }
    }

    private func evaluate(count: Int, logits: Logits,
                          fill: (_ start: Int, _ n: Int, _ x: UnsafeMutablePointer<Float>) -> Void) throws -> [Float] {
        guard position + count <= capacity else {
            throw ModelError.contextOverflow(needed: position + count, capacity: capacity)
        }
        let vocab = model.configuration.vocabularySize
        var out: [Float] = []
        out.reserveCapacity(logits == .all ? count * vocab : logits == .last ? vocab : 0)
        var start = 0
        while start < count {
            let n = min(Self.microBatch, count - start)
            if buffers.rows < n { buffers = Buffers(rows: n, configuration: model.configuration) }
            let outputRows = switch logits {
            case .all: n
            case .last: start + n == count ? 1 : 0
            case .none: 0
            }
            pool.traced(.phase("forward ·\(n)")) {
                fill(start, n, buffers.x)
                forward([Segment(context: self, row: 0, rows: n, position: position)], rows: n, outputRows: outputRows)
            }
            out.append(contentsOf: UnsafeBufferPointer(start: buffers.logits, count: outputRows * vocab))
            start += n
        }
        return out
    }

    /// Evaluates one token in each of several contexts in a single forward pass and returns
    /// each context's logits for it: a server's decode step for all its active slots. The
    /// matrix products see one row per context, so the weights are read once per step instead
    /// of once per stream; attention reads each context's own cache.
    ///
    /// The contexts must run the same model on the same ``pool`` and be distinct. A batched
    /// product can sum in another order than a single row's for some weight types, so a
    /// stream's logits may differ from its unbatched ones in the last bits.
    ///
    /// - Throws: ``ModelError/tokenOutOfRange(token:vocabularySize:)``,
    ///   ``ModelError/contextOverflow(needed:capacity:)`` for a full context,
    ///   ``ModelError/invalidHyperParameter(key:value:reason:)`` for contexts that cannot share
    ///   a pass; nothing is evaluated then.
    package static func decode(_ batch: [(context: LlamaContext, token: Int)]) throws -> [[Float]] {
        guard let leader = batch.first?.context else { throw ModelError.emptyInput }
        let c = leader.model.configuration
        var seen = Set<ObjectIdentifier>()
        for (context, token) in batch {
            guard context.model.file.storage === leader.model.file.storage, context.pool === leader.pool, seen.insert(ObjectIdentifier(context)).inserted else {
                throw ModelError.invalidHyperParameter(key: "decode batch", value: "\(batch.count) contexts",
                                                       reason: "contexts in one batch must be distinct and share a model and a thread pool")
            }
            guard token >= 0, token < c.vocabularySize else {
                throw ModelError.tokenOutOfRange(token: token, vocabularySize: c.vocabularySize)
            }
            guard context.position < context.capacity else {
                throw ModelError.contextOverflow(needed: context.position + 1, capacity: context.capacity)
            }
        }
        let n = batch.count, d = c.embeddingLength, vocab = c.vocabularySize
        if leader.buffers.rows < n { leader.buffers = Buffers(rows: n, configuration: c) }
        let b = leader.buffers
        let segments = batch.enumerated().map { i, e in Segment(context: e.context, row: i, rows: 1, position: e.context.position) }
        leader.pool.traced(.phase("forward ·\(n) streams")) {
            leader.pool.traced(.rows("embed tokens", n, d)) {
                for (i, e) in batch.enumerated() { leader.model.embed(e.token, into: b.x + i * d) }
            }
            leader.forward(segments, rows: n, outputRows: n)
        }
        return (0 ..< n).map { Array(UnsafeBufferPointer(start: b.logits + $0 * vocab, count: vocab)) }
    }

    // MARK: - Forward pass

    /// Rows of one context within a forward pass. A pass usually runs one context's rows; a
    /// batched decode runs one row of each of several contexts, whose products are shared and
    /// whose attention reads each context's own cache.
    private struct Segment {
        let context: LlamaContext
        /// The segment's first row in the pass's buffers.
        let row: Int
        let rows: Int
        /// The context position of the segment's first row.
        let position: Int
    }

    /// Runs `n` rows already in `buffers.x` through every layer, each segment's rows at its
    /// context's next positions, then the final norm and output projection for the last
    /// `outputRows` rows (which the last layer leaves at the start of `buffers.x`).
    private func forward(_ segments: [Segment], rows n: Int, outputRows: Int) {
        let c = model.configuration
        let d = c.embeddingLength
        let b = buffers
        let qWidth = c.headCount * c.headDimension, kv = c.kvDimension
        // Every layer rotates by the same angles: cos/sin per row are worked out once per pass.
        pool.traced(.rows("rope angles", n, c.ropeDimensions)) {
            for s in segments {
                for i in 0 ..< s.rows { ropeAngles(position: s.position + i, into: b.ropeCache + (s.row + i) * c.ropeDimensions) }
            }
        }

        for (l, layer) in model.layers.enumerated() {
            // Attention block: x += Wo · attention(rope(Wq·h), rope(Wk·h), Wv·h), h = norm(x)
            pool.traced(.rows("rmsnorm", n, d)) {
                for i in 0 ..< n { sv_rms_norm_f32(Int64(d), b.x + i * d, layer.attentionNorm, c.rmsEpsilon, b.h + i * d) }
            }
            matmul(layer.wq, b.h, n, b.q)
            matmul(layer.wk, b.h, n, b.k)
            matmul(layer.wv, b.h, n, b.v)
            pool.traced(.rows("rope", n, qWidth + kv)) {
                pool.parallelFor(n) { rows in
                    for i in rows {
                        let angles = b.ropeCache + i * c.ropeDimensions
                        rope(b.q + i * qWidth, heads: c.headCount, angles: angles)
                        rope(b.k + i * kv, heads: c.headCountKV, angles: angles)
                    }
                }
            }
            pool.traced(.convert(to: "f16 kv-cache", rows: n, columns: 2 * kv)) {
                for s in segments {
                    for i in 0 ..< s.rows {
                        toHalf(b.k + (s.row + i) * kv, s.context.cache.keys(layer: l, position: s.position + i), Int64(kv))
                        toHalf(b.v + (s.row + i) * kv, s.context.cache.values(layer: l, position: s.position + i), Int64(kv))
                    }
                }
            }
            for s in segments { attention(layer: l, segment: s) }
            matmul(layer.wo, b.attn, n, b.h)
            pool.traced(.rows("residual", n, d)) {
                for i in 0 ..< n * d { b.x[i] += b.h[i] }
            }

            // After the last layer's attention only the rows whose logits are wanted go on, as in
            // llama.cpp's graph (inp_out_ids): its feed-forward products then see `outputRows`
            // activation rows, and some kernels' summation order depends on that count.
            var m = n
            if l == model.layers.count - 1 && outputRows < n {
                UnsafeMutableRawPointer(b.x).copyMemory(from: b.x + (n - outputRows) * d, byteCount: outputRows * d * 4)
                m = outputRows
            }
            guard m > 0 else { break }

            // Feed-forward block: x += W_down · (silu(W_gate·h) ⊙ W_up·h), h = norm(x)
            pool.traced(.rows("rmsnorm", m, d)) {
                for i in 0 ..< m { sv_rms_norm_f32(Int64(d), b.x + i * d, layer.ffnNorm, c.rmsEpsilon, b.h + i * d) }
            }
            matmul(layer.gate, b.h, m, b.gate)
            matmul(layer.up, b.h, m, b.up)
            // Row by row: ggml's SwiGLU takes its last n % 16 elements of each row down another path.
            let ff = c.feedForwardLength
            pool.traced(.rows("swiglu", m, ff)) {
                for i in 0 ..< m { swiglu(Int64(ff), b.gate + i * ff, b.up + i * ff, b.gate + i * ff) }
            }
            matmul(layer.down, b.gate, m, b.h)
            pool.traced(.rows("residual", m, d)) {
                for i in 0 ..< m * d { b.x[i] += b.h[i] }
            }
        }
        for s in segments { s.context.position += s.rows }

        guard outputRows > 0 else { return }
        pool.traced(.rows("rmsnorm", outputRows, d)) {
            for i in 0 ..< outputRows {
                sv_rms_norm_f32(Int64(d), b.x + i * d, model.outputNorm, c.rmsEpsilon, b.h + i * d)
            }
        }
        b.reserveLogits(rows: outputRows)
        matmul(model.output, b.h, outputRows, b.logits)
    }

    private func matmul(_ w: WeightMatrix, _ x: UnsafeMutablePointer<Float>, _ rows: Int, _ y: UnsafeMutablePointer<Float>) {
        MatMul.multiply(w, x, rows: rows, into: y, scratch: &scratch, pool: pool, kernels: kernels)
    }

    /// cos θ_i and sin θ_i of RoPE's pairs at `position`, interleaved, with the angle of pair i
    /// built by repeated multiplication, θ_i = pos · base^(-2i/n), as ggml does.
    private func ropeAngles(position: Int, into cs: UnsafeMutablePointer<Float>) {
        let c = model.configuration
        let thetaScale = powf(c.ropeFrequencyBase, -2.0 / Float(c.ropeDimensions))
        var theta = Float(position)
        for i in 0 ..< c.ropeDimensions / 2 {
            cs[2 * i] = cosf(theta)
            cs[2 * i + 1] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// RoPE as ggml applies it for arch `llama` ("normal" mode: adjacent pairs rotate) by the
    /// angles ``ropeAngles(position:into:)`` worked out for the row.
    private func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, angles cs: UnsafePointer<Float>) {
        let c = model.configuration
        let pairs = c.ropeDimensions / 2
        for h in 0 ..< heads {
            let v = x + h * c.headDimension
            for i in 0 ..< pairs {
                let x0 = v[2 * i], x1 = v[2 * i + 1]
                let cosT = cs[2 * i], sinT = cs[2 * i + 1]
                // ggml's rotate_pairs as GCC contracts it (-ffp-contract=fast; checked against
                // llama.cpp's output): x0·cos − (x1·sin) and x0·sin + (x1·cos), each one FMA
                // over the rounded product in parentheses.
                v[2 * i] = (-(x1 * sinT)).addingProduct(x0, cosT)
                v[2 * i + 1] = (x1 * cosT).addingProduct(x0, sinT)
            }
        }
    }

    /// Causal grouped-query attention for a segment's rows over its context's cache, scale
    /// 1/√head_dim.
    private func attention(layer l: Int, segment s: Segment) {
        let c = model.configuration
        let n = s.rows, p0 = s.position
        let split = n == 1 && Self.attentionWindow(position: p0, capacity: s.context.capacity) >= Self.splitKVWindow
        // Row i sees positions 0 ... p0 + i.
        pool.traced(.attention(split ? "attention split-kv" : n >= Self.tiledAttentionRows ? "attention tiled" : "attention",
                               heads: c.headCount, headDimension: c.headDimension, rows: n, keys: n * p0 + n * (n + 1) / 2)) {
            if split {
                splitAttention(layer: l, segment: s)
            } else {
                causalAttention(layer: l, segment: s)
            }
        }
    }

    /// Every row and head as its own job (a tiled block of rows for a batch of at least
    /// ``tiledAttentionRows``), spread across the pool.
    private func causalAttention(layer l: Int, segment s: Segment) {
        let c = model.configuration
        let n = s.rows, p0 = s.position, r0 = s.row, cache = s.context.cache
        let hd = c.headDimension
        let scale = 1 / Float(hd).squareRoot()
        let tiled = n >= Self.tiledAttentionRows
        let b = buffers
        let table = kernels.table
        let keysBase = cache.keys(layer: l, position: 0)
        let valuesBase = cache.values(layer: l, position: 0)
        let qWidth = c.headCount * hd
        if tiled {
            // Blocks of consecutive rows × heads: each thread widens a tile of keys and values once
            // per block; row i of the batch sees positions 0 ... p0 + i (causal).
            let blockRows = 64
            let blocks = (n + blockRows - 1) / blockRows
            let scratchFloats = sv_attention_block_f32acc_scratch_floats(Int64(hd), Int64(blockRows))
            let scratch = b.workspace(count: scratchFloats * pool.threadCount)
            let attentionBlock = table.pointee.attention_block_f32acc ?? sv_attention_block_f32acc
            pool.run { thread in
                let tileScratch = scratch + thread * scratchFloats
                var job = thread
                while job < blocks * c.headCount {
                    let i0 = (job / c.headCount) * blockRows, h = job % c.headCount
                    let kvHead = h / c.groupSize
                    attentionBlock(Int64(hd), Int64(min(blockRows, n - i0)), b.q + (r0 + i0) * qWidth + h * hd, Int64(qWidth),
                                   keysBase + kvHead * hd, valuesBase + kvHead * hd, Int64(c.kvDimension),
                                   Int64(p0 + i0 + 1), 1, scale, b.attn + (r0 + i0) * qWidth + h * hd, Int64(qWidth), tileScratch)
                    job += pool.threadCount
                }
            }
            return
        }
        let attentionRow = table.pointee.attention_row_f16acc ?? sv_attention_row_f16acc
        pool.run { thread in
            let scratch = b.attentionScratch + thread * Buffers.attentionScratchFloats
            var job = thread
            while job < n * c.headCount {
                let i = job / c.headCount, h = job % c.headCount
                let kvHead = h / c.groupSize
                let q = b.q + (r0 + i) * qWidth + h * hd
                let out = b.attn + (r0 + i) * qWidth + h * hd
                let keys = keysBase + kvHead * hd
                let values = valuesBase + kvHead * hd
                let nKV = Int64(p0 + i + 1)
                let halves = UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: sv_half.self)
                attentionRow(table, Int64(hd), q, keys, values, Int64(c.kvDimension), nKV, scale, out, halves)
                job += pool.threadCount
            }
        }
    }

    /// llama.cpp's single-row decode over a long cache: its KV view of `attentionWindow`
    /// positions is cut into one contiguous slice per thread, each thread runs every head over its
    /// slice, and the slices' partial softmax sums are merged. The merge reorders the arithmetic,
    /// so matching llama.cpp's logits means taking the same path with the same slices (as many
    /// as threads, sized from the padded window; masked positions past `position` are skipped).
    private func splitAttention(layer l: Int, segment s: Segment) {
        let c = model.configuration
        let p0 = s.position, r0 = s.row, cache = s.context.cache
        let hd = c.headDimension
        let qWidth = c.headCount * hd
        let scale = 1 / Float(hd).squareRoot()
        let b = buffers
        let table = kernels.table
        let keysBase = cache.keys(layer: l, position: 0)
        let valuesBase = cache.values(layer: l, position: 0)
        let slices = pool.threadCount
        let window = Self.attentionWindow(position: p0, capacity: s.context.capacity)
        let sliceLength = (window + slices - 1) / slices
        let valid = p0 + 1
        let partialFloats = 2 + hd
        let partials = b.workspace(count: c.headCount * slices * partialFloats)
        let attentionPartial = table.pointee.attention_row_f16acc_partial ?? sv_attention_row_f16acc_partial
        pool.run { thread in
            let halves = UnsafeMutableRawPointer(b.attentionScratch + thread * Buffers.attentionScratchFloats)
                .assumingMemoryBound(to: sv_half.self)
            let start = min(thread * sliceLength, valid)
            let end = min(start + sliceLength, valid)
            for h in 0 ..< c.headCount {
                let kvHead = h / c.groupSize
                let partial = partials + (h * slices + thread) * partialFloats
                attentionPartial(table, Int64(hd), b.q + r0 * qWidth + h * hd,
                                 keysBase + start * c.kvDimension + kvHead * hd,
                                 valuesBase + start * c.kvDimension + kvHead * hd,
                                 Int64(c.kvDimension), Int64(end - start), scale, partial, halves)
            }
        }
        pool.parallelFor(c.headCount) { heads in
            for h in heads {
                sv_attention_merge_partials(Int64(hd), Int64(slices), partials + h * slices * partialFloats, b.attn + r0 * qWidth + h * hd)
            }
        }
    }

    /// Single-row decodes over at least this many (padded) positions take the split-KV path.
    static let splitKVWindow = 512

    /// The number of cache positions llama.cpp's attention sees when the newest token sits at
    /// `position`: the used cells rounded up to a multiple of 256 (at least 256), capped by the
    /// cache size.
    static func attentionWindow(position: Int, capacity: Int) -> Int {
        func roundUp(_ x: Int) -> Int { (x + 255) / 256 * 256 }
        return min(roundUp(capacity), max(256, roundUp(position + 1)))
    }
}

/// Activation buffers of a forward pass, sized for `rows` rows.
private final class Buffers {
    static let attentionScratchFloats = 1024
    let rows: Int
    let x, h, q, k, v, attn, gate, up, ropeCache, attentionScratch: UnsafeMutablePointer<Float>
    /// Logit rows, grown to the most rows a pass has wanted (usually one, however long the
    /// batch: a 512-row prefill wanting only its last row's logits needs 0.2 MB, not 100).
    private(set) var logits: UnsafeMutablePointer<Float>
    private var logitRows = 1
    private let vocabularySize: Int
    private let all: [UnsafeMutablePointer<Float>]

    init(rows n: Int, configuration c: LlamaConfiguration) {
        rows = n
        let qWidth = c.headCount * c.headDimension
        func alloc(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }
        x = alloc(n * c.embeddingLength)
        h = alloc(n * max(c.embeddingLength, qWidth))
        q = alloc(n * qWidth)
        k = alloc(n * c.kvDimension)
        v = alloc(n * c.kvDimension)
        attn = alloc(n * qWidth)
        gate = alloc(n * c.feedForwardLength)
        up = alloc(n * c.feedForwardLength)
        vocabularySize = c.vocabularySize
        logits = alloc(c.vocabularySize)
        ropeCache = alloc(n * c.ropeDimensions)
        attentionScratch = alloc(64 * Self.attentionScratchFloats)
        all = [x, h, q, k, v, attn, gate, up, ropeCache, attentionScratch]
    }

    /// Makes room for `rows` rows of logits.
    func reserveLogits(rows: Int) {
        guard rows > logitRows else { return }
        logits.deallocate()
        logits = UnsafeMutablePointer<Float>.allocate(capacity: rows * vocabularySize)
        logitRows = rows
    }

    private var workspaceStorage: UnsafeMutablePointer<Float>?
    private var workspaceCapacity = 0

    /// Attention scratch (tiled blocks' widened tiles, split-KV partial sums), grown on demand
    /// and reused by every layer and forward pass; one user at a time.
    func workspace(count: Int) -> UnsafeMutablePointer<Float> {
        if let storage = workspaceStorage, count <= workspaceCapacity { return storage }
        workspaceStorage?.deallocate()
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: count)
        workspaceStorage = storage
        workspaceCapacity = count
        return storage
    }

    deinit {
        for p in all { p.deallocate() }
        logits.deallocate()
        workspaceStorage?.deallocate()
    }
}
