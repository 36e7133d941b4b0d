import Foundation
import GGUF
import Kernels

/// What can go wrong loading or running a vision encoder (mmproj) beyond a malformed GGUF file.
public enum VisionModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `clip.projector_type` is not `idefics3` (the value, or `?` when absent).
    case unsupportedProjector(String)
    /// A `clip.vision.*` value is out of range or inconsistent (`reason` says how).
    case invalidHyperParameter(key: String, value: String, reason: String)
    /// The projector's output width differs from the text model's embedding length: the two files
    /// are not a pair.
    case projectorWidthMismatch(projector: Int, textEmbedding: Int)
    /// A tile passed to the encoder has `found` floats instead of `imageSize² × 3`.
    case tileSize(expected: Int, found: Int)

    public var description: String {
        switch self {
        case let .unsupportedProjector(p):
            "unsupported projector type '\(p)' (this engine runs 'idefics3' mmproj files)"
        case let .invalidHyperParameter(key, value, reason):
            "\(key) = \(value) is invalid: \(reason)"
        case let .projectorWidthMismatch(projector, text):
            "the vision projector outputs \(projector)-wide embeddings but the text model's embedding_length is \(text)"
        case let .tileSize(expected, found):
            "a tile must have \(expected) floats (size × size × 3), got \(found)"
        }
    }
}

/// Hyper-parameters of a SigLIP vision encoder with the idefics3 projector, from `clip.vision.*`.
public struct VisionConfiguration: Sendable, Equatable {
    /// Side of a square tile in pixels (`clip.vision.image_size`; 512 for SmolVLM).
    public var imageSize: Int
    /// Side of a square patch in pixels (`clip.vision.patch_size`; 16 for SmolVLM).
    public var patchSize: Int
    /// Width of the encoder's hidden state (`clip.vision.embedding_length`).
    public var embeddingLength: Int
    /// Width of the encoder's GELU feed-forward hidden layer (`clip.vision.feed_forward_length`).
    public var feedForwardLength: Int
    /// Number of encoder blocks (`clip.vision.block_count`).
    public var blockCount: Int
    /// Attention heads per block (`clip.vision.attention.head_count`).
    public var headCount: Int
    /// Epsilon of the encoder's LayerNorms (`clip.vision.attention.layer_norm_epsilon`).
    public var layerNormEpsilon: Float
    /// Pixel-shuffle factor of the projector (`clip.vision.projector.scale_factor`): each
    /// `scaleFactor × scaleFactor` patch group becomes one embedding.
    public var scaleFactor: Int
    /// Width of the projector output (= the text model's embedding length).
    public var projectionLength: Int
    /// `clip.vision.preproc_image_size`: the longest edge images are scaled to before slicing.
    /// nil when absent (files converted before the key existed) or 0, as llama.cpp treats both:
    /// then the llava-uhd slicing branch runs (see ``Idefics3Preprocessor``).
    public var preprocessLongestEdge: Int?
    /// `clip.vision.image_mean` / `image_std`: per-channel (R, G, B) normalisation. Required, as
    /// llama.cpp refuses a file without them (or with fewer than 3 values; it uses the first 3).
    public var imageMean: [Float]
    /// Per-channel standard deviation (see ``imageMean``).
    public var imageStd: [Float]

    /// Width of one attention head: ``embeddingLength`` / ``headCount``.
    public var headDimension: Int { embeddingLength / headCount }
    /// Patches along each side of a tile: ``imageSize`` / ``patchSize``.
    public var patchesPerSide: Int { imageSize / patchSize }
    /// Patches per tile (encoder sequence length): ``patchesPerSide``².
    public var patchCount: Int { patchesPerSide * patchesPerSide }
    /// Embeddings one tile becomes after the pixel shuffle.
    public var tokensPerTile: Int { patchCount / (scaleFactor * scaleFactor) }

    /// Reads and range-checks the `clip.vision.*` hyperparameters of an mmproj file.
    /// - Throws: ``VisionModelError/unsupportedProjector(_:)`` unless the projector is idefics3,
    ///   ``VisionModelError/invalidHyperParameter(key:value:reason:)`` for a value out of range,
    ///   `GGUFError` for a missing or mistyped required key.
    public init(_ md: GGUFMetadata) throws {
        let projector = (try? md.string("clip.projector_type")) ?? "?"
        guard projector == "idefics3" else { throw VisionModelError.unsupportedProjector(projector) }
        func int(_ key: String) throws -> Int { try md.integer("clip.vision." + key) }
        imageSize = try int("image_size")
        patchSize = try int("patch_size")
        embeddingLength = try int("embedding_length")
        feedForwardLength = try int("feed_forward_length")
        blockCount = try int("block_count")
        headCount = try int("attention.head_count")
        layerNormEpsilon = try md.float("clip.vision.attention.layer_norm_epsilon")
        scaleFactor = try int("projector.scale_factor")
        projectionLength = (try? int("projection_dim")) ?? 0
        let edge = md.contains("clip.vision.preproc_image_size") ? try int("preproc_image_size") : 0
        preprocessLongestEdge = edge > 0 ? edge : nil
        func channels(_ key: String) throws -> [Float] {
            let v = md.contains("clip.vision." + key) ? try md.floats("clip.vision." + key) : []
            guard v.count >= 3 else {
                throw VisionModelError.invalidHyperParameter(key: "clip.vision." + key, value: v.isEmpty ? "absent" : "\(v)", reason: "needs 3 values (R, G, B)")
            }
            return Array(v.prefix(3))
        }
        imageMean = try channels("image_mean")
        imageStd = try channels("image_std")

        func check(_ ok: Bool, _ key: String, _ value: Int, _ reason: String) throws {
            if !ok { throw VisionModelError.invalidHyperParameter(key: "clip.vision." + key, value: String(value), reason: reason) }
        }
        try check(patchSize > 0 && patchSize <= 64, "patch_size", patchSize, "must be in 1...64")
        try check(imageSize > 0 && imageSize <= 4096 && imageSize % patchSize == 0, "image_size", imageSize, "must be a multiple of the patch size, at most 4096")
        try check(embeddingLength > 0 && embeddingLength <= 1 << 14, "embedding_length", embeddingLength, "must be in 1...16384")
        try check(feedForwardLength > 0 && feedForwardLength <= 1 << 16, "feed_forward_length", feedForwardLength, "must be in 1...65536")
        try check(blockCount > 0 && blockCount <= 256, "block_count", blockCount, "must be in 1...256")
        try check(headCount > 0 && embeddingLength % headCount == 0, "attention.head_count", headCount, "must divide the embedding length \(embeddingLength)")
        try check(scaleFactor > 1 && (imageSize / patchSize) % scaleFactor == 0, "projector.scale_factor", scaleFactor, "must be > 1 and divide the patches per side")
        try check(edge >= 0 && edge <= Idefics3Preprocessor.maxResizeSide, "preproc_image_size", edge, "must be at most \(Idefics3Preprocessor.maxResizeSide)")
        for (key, values) in [("image_mean", imageMean), ("image_std", imageStd)] where !values.allSatisfy(\.isFinite) || (key == "image_std" && values.contains(0)) {
            throw VisionModelError.invalidHyperParameter(key: "clip.vision." + key, value: "\(values)", reason: key == "image_std" ? "must be finite and non-zero" : "must be finite")
        }
    }
}

/// SmolVLM's vision path after preprocessing: the SigLIP encoder (patch embedding, pre-norm
/// transformer blocks, post-LayerNorm), idefics3's pixel shuffle and the linear projector,
/// computed the way llama.cpp's clip graph (tools/mtmd, `build_vit` + `build_patch_merge_permute`)
/// does on the CPU. Weights are mapped from the mmproj GGUF file, never copied (bar small vectors).
public struct VisionModel: Sendable {
    /// Hyperparameters read from the mmproj metadata.
    public let configuration: VisionConfiguration
    /// The mapped mmproj file the weights are views into; kept alive by this model.
    public let file: GGUFFile

    struct Layer: Sendable {
        var norm1Weight, norm1Bias: [Float]
        var wq, wk, wv, wo: WeightMatrix
        var bq, bk, bv, bo: [Float]
        var norm2Weight, norm2Bias: [Float]
        var up, down: WeightMatrix
        var upBias, downBias: [Float]
    }

    /// The convolution kernel as `embeddingLength` rows of `3 · patch · patch` floats, each in
    /// ggml's im2col order (channel, kernel row, kernel column).
    let patchWeight: [Float]
    let patchBias: [Float]
    /// `patchCount × embeddingLength`.
    let positionEmbedding: [Float]
    let layers: [Layer]
    let postNormWeight, postNormBias: [Float]
    /// `mm.model.fc.weight`: `scale² · width` columns → projection width rows.
    let projector: WeightMatrix
    /// ggml's im2col type for the patch convolution (F16 unless the kernel is BF16).
    let im2colType: GGMLType

    /// Width of each output embedding.
    public var outputWidth: Int { projector.rows }

    /// Checks the hyperparameters and every weight's shape and type, and maps the weights.
    /// - Throws: ``VisionModelError`` for an unsupported projector or hyperparameter,
    ///   ``ModelError/tensorShape(tensor:expected:found:)`` for a weight of the wrong shape,
    ///   `GGUFError` for a missing tensor or key, or a type the kernels cannot compute with.
    public init(file: GGUFFile) throws {
        self.file = file
        var c = try VisionConfiguration(file.metadata)
        let d = c.embeddingLength, ff = c.feedForwardLength, p = c.patchSize
        let merged = d * c.scaleFactor * c.scaleFactor

        func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
            let t = try file.requireTensor(name)
            guard t.shape == [columns, rows] else { throw ModelError.tensorShape(tensor: name, expected: [columns, rows], found: t.shape) }
            return try WeightMatrix(t, in: file).repackedForSpeed()
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let t = try file.requireTensor(name)
            guard t.shape == [count] else { throw ModelError.tensorShape(tensor: name, expected: [count], found: t.shape) }
            return try file.dequantize(t)
        }

        // Patch embedding: a conv2d kernel [KW, KH, IC, OC] in ggml order, so each output
        // channel is one contiguous row of IC·KH·KW, exactly im2col's column order.
        let pw = try file.requireTensor("v.patch_embd.weight")
        guard pw.shape == [p, p, 3, d] else { throw ModelError.tensorShape(tensor: pw.name, expected: [p, p, 3, d], found: pw.shape) }
        patchWeight = try file.dequantize(pw)
        im2colType = pw.type == .bf16 ? .f32 : .f16
        patchBias = try vector("v.patch_embd.bias", count: d)
        let pos = try file.requireTensor("v.position_embd.weight")
        guard pos.shape == [d, c.patchCount] else { throw ModelError.tensorShape(tensor: pos.name, expected: [d, c.patchCount], found: pos.shape) }
        positionEmbedding = try file.dequantize(pos)

        layers = try (0 ..< c.blockCount).map { i in
            let b = "v.blk.\(i)."
            // llama.cpp swaps ffn_up/ffn_down for old idefics3 exports whose "down" maps width → ff.
            var upName = b + "ffn_up", downName = b + "ffn_down"
            if let down = file.tensor(named: downName + ".weight"), down.shape.first == d, d != ff {
                swap(&upName, &downName)
            }
            return Layer(
                norm1Weight: try vector(b + "ln1.weight", count: d), norm1Bias: try vector(b + "ln1.bias", count: d),
                wq: try matrix(b + "attn_q.weight", columns: d, rows: d),
                wk: try matrix(b + "attn_k.weight", columns: d, rows: d),
                wv: try matrix(b + "attn_v.weight", columns: d, rows: d),
                wo: try matrix(b + "attn_out.weight", columns: d, rows: d),
                bq: try vector(b + "attn_q.bias", count: d), bk: try vector(b + "attn_k.bias", count: d),
                bv: try vector(b + "attn_v.bias", count: d), bo: try vector(b + "attn_out.bias", count: d),
                norm2Weight: try vector(b + "ln2.weight", count: d), norm2Bias: try vector(b + "ln2.bias", count: d),
                up: try matrix(upName + ".weight", columns: d, rows: ff),
                down: try matrix(downName + ".weight", columns: ff, rows: d),
                upBias: try vector(upName + ".bias", count: ff),
                downBias: try vector(downName + ".bias", count: d))
        }
        postNormWeight = try vector("v.post_ln.weight", count: d)
        postNormBias = try vector("v.post_ln.bias", count: d)

        let fc = try file.requireTensor("mm.model.fc.weight")
        guard fc.shape.count == 2, fc.shape[0] == merged, fc.shape[1] > 0 else {
            throw ModelError.tensorShape(tensor: fc.name, expected: [merged, c.projectionLength], found: fc.shape)
        }
        projector = try WeightMatrix(fc, in: file).repackedForSpeed()
        if c.projectionLength == 0 { c.projectionLength = fc.shape[1] }
        configuration = c
    }

    /// Maps the mmproj file at `path` and loads it as ``init(file:)`` does.
    /// - Throws: `GGUFError` if the file cannot be opened or parsed, and what ``init(file:)`` throws.
    public init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Throws ``VisionModelError/projectorWidthMismatch(projector:textEmbedding:)`` unless the
    /// projector's output width equals the text model's embedding length.
    public func checkCompatible(textEmbeddingLength: Int) throws {
        guard outputWidth == textEmbeddingLength else {
            throw VisionModelError.projectorWidthMismatch(projector: outputWidth, textEmbedding: textEmbeddingLength)
        }
    }

    /// Throws ``VisionModelError/projectorWidthMismatch(projector:textEmbedding:)`` unless the
    /// projector's output width equals `text`'s embedding length.
    public func checkCompatible(with text: LlamaModel) throws {
        try checkCompatible(textEmbeddingLength: text.configuration.embeddingLength)
    }

    /// Encodes one tile (`imageSize × imageSize × 3` floats, HWC, normalised as
    /// ``Idefics3Preprocessor`` makes them) into `tokensPerTile × outputWidth` floats, row-major.
    public func encode(tile: [Float], threads: Int? = nil) throws -> [Float] {
        let pool = ThreadPool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return try encode(tile: tile, pool: pool, kernels: .default)
    }

    /// Encodes one tile as ``encode(tile:threads:)`` does, on an existing pool (no thread
    /// start-up per tile).
    /// - Parameters:
    ///   - tile: `imageSize × imageSize × 3` floats, HWC, normalised.
    ///   - pool: the threads for the matrix products and attention.
    ///   - kernels: the SIMD kernel set; default the best for this CPU.
    /// - Returns: `tokensPerTile × outputWidth` floats, row-major.
    /// - Throws: ``VisionModelError/tileSize(expected:found:)`` for a tile of the wrong size.
    package func encode(tile: [Float], pool: ThreadPool, kernels: KernelSet = .default) throws -> [Float] {
        let workspace = VisionWorkspace(configuration, threads: pool.threadCount)
        return try encode(tile: tile, pool: pool, kernels: kernels, workspace: workspace)
    }

    /// Encodes one tile in a workspace's buffers: nothing is allocated per tile but the result.
    /// - Parameters:
    ///   - tile: `imageSize × imageSize × 3` floats, HWC, normalised.
    ///   - pool: the threads for the matrix products and attention.
    ///   - kernels: the SIMD kernel set; default the best for this CPU.
    ///   - workspace: made for this model's configuration and at least `pool`'s threads; one
    ///     tile at a time.
    /// - Returns: `tokensPerTile × outputWidth` floats, row-major.
    /// - Throws: ``VisionModelError/tileSize(expected:found:)`` for a tile of the wrong size.
    package func encode(tile: [Float], pool: ThreadPool, kernels: KernelSet = .default,
                        workspace: VisionWorkspace) throws -> [Float] {
        let ws = workspace
        let c = configuration
        let side = c.imageSize
        guard tile.count == side * side * 3 else { throw VisionModelError.tileSize(expected: side * side * 3, found: tile.count) }
        precondition(ws.fits(c, threads: pool.threadCount), "the workspace was made for another model or fewer threads")
        let n = c.patchCount, d = c.embeddingLength, ff = c.feedForwardLength
        let hd = c.headDimension, heads = c.headCount
        func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ rows: Int, _ y: UnsafeMutablePointer<Float>) {
            MatMul.multiply(w, x, rows: rows, into: y, scratch: &ws.scratch, pool: pool, kernels: kernels)
        }
        guard let toHalf = sv_kernels_from_float(kernels.table, SV_TYPE_F16) else {
            preconditionFailure("kernel table \(kernels.name) lacks f16 conversion")
        }
        let x = ws.x, h = ws.h, q = ws.q, k = ws.k, v = ws.v, attn = ws.attn, up = ws.up
        let kHalf = ws.kHalf, vHalf = ws.vHalf, attnScratch = ws.attentionScratch
        // Row-wise element work (norms, bias, GELU, residuals) on every thread, 16 rows a chunk.
        func rows(_ label: @autoclosure () -> String, width: Int = d, _ body: (Int) -> Void) {
            pool.traced(.rows(label(), n, width)) {
                pool.parallelFor(n, granularity: 16) { range in for i in range { body(i) } }
            }
        }
        let gelu = kernels.table.pointee.gelu ?? sv_gelu_f16_table
        let attnBlockRows = VisionWorkspace.attentionBlockRows
        let attnScratchFloats = ws.attentionScratchFloats

        // 1. Patch embedding, as ggml_conv_2d computes it: im2col (rounded to f16) is the
        //    "weight" matrix of patchCount rows, the kernel the activation rows (so it is rounded
        //    to f16 too), giving embedding × patch, transposed back to patch-major.
        try patchEmbed(tile: tile, into: x, workspace: ws, pool: pool, kernels: kernels)
        pool.traced(.rows("patch bias + position", n, d)) {
            for i in 0 ..< n {
                for j in 0 ..< d {
                    x[i * d + j] = (x[i * d + j] + patchBias[j]) + positionEmbedding[i * d + j]
                }
            }
        }

        // 2. Pre-norm transformer blocks.
        let scale = 1 / Float(hd).squareRoot()
        for layer in layers {
            // x += Wo · attention(Wq·h + bq, Wk·h + bk, Wv·h + bv) + bo, h = LayerNorm(x)
            rows("layernorm") { i in layerNorm(x + i * d, layer.norm1Weight, layer.norm1Bias, h + i * d) }
            matmul(layer.wq, h, n, q); addBias(q, layer.bq, rows: n, pool: pool)
            matmul(layer.wk, h, n, k); addBias(k, layer.bk, rows: n, pool: pool)
            matmul(layer.wv, h, n, v); addBias(v, layer.bv, rows: n, pool: pool)
            pool.traced(.convert(to: "f16 k+v", rows: n, columns: d)) {
                pool.parallelFor(n) { range in
                    for i in range {
                        toHalf(k + i * d, kHalf + i * d, Int64(d))
                        toHalf(v + i * d, vHalf + i * d, Int64(d))
                    }
                }
            }
            let attentionBlock = kernels.table.pointee.attention_block_f32acc ?? sv_attention_block_f32acc
            let rowBlocks = (n + attnBlockRows - 1) / attnBlockRows
            pool.traced(.attention("attention", heads: heads, headDimension: hd, rows: n, keys: n * n)) {
                pool.run { thread in
                    let s = attnScratch + thread * attnScratchFloats
                    var job = thread
                    while job < rowBlocks * heads {
                        let i0 = (job / heads) * attnBlockRows, hh = job % heads
                        let rows = min(attnBlockRows, n - i0)
                        attentionBlock(Int64(hd), Int64(rows), q + i0 * d + hh * hd, Int64(d),
                                       kHalf + hh * hd, vHalf + hh * hd, Int64(d), Int64(n), 0, scale,
                                       attn + i0 * d + hh * hd, Int64(d), s)
                        job += pool.threadCount
                    }
                }
            }
            matmul(layer.wo, attn, n, h); addBias(h, layer.bo, rows: n, pool: pool)
            rows("residual") { i in for j in i * d ..< (i + 1) * d { x[j] = h[j] + x[j] } }

            // x += W_down · gelu(W_up · h + b_up) + b_down, h = LayerNorm(x)
            rows("layernorm") { i in layerNorm(x + i * d, layer.norm2Weight, layer.norm2Bias, h + i * d) }
            matmul(layer.up, h, n, up); addBias(up, layer.upBias, rows: n, pool: pool)
            Self.geluTable.withUnsafeBufferPointer { table in
                rows("gelu", width: ff) { i in gelu(Int64(ff), up + i * ff, up + i * ff, table.baseAddress) }
            }
            matmul(layer.down, up, n, h); addBias(h, layer.downBias, rows: n, pool: pool)
            rows("residual") { i in for j in i * d ..< (i + 1) * d { x[j] = x[j] + h[j] } }
        }
        rows("layernorm") { i in layerNorm(x + i * d, postNormWeight, postNormBias, h + i * d) }

        // 3. Pixel shuffle (build_patch_merge_permute): the s×s block of patches at block (bx, by)
        //    becomes token by·(W/s) + bx with features ordered (row in block, column in block, e).
        let s = c.scaleFactor, w = c.patchesPerSide, wb = w / s
        let merged = d * s * s
        let tokens = c.tokensPerTile
        let shuffled = ws.shuffled
        pool.traced(.rows("pixel shuffle", tokens, merged)) {
            for py in 0 ..< w {
                for px in 0 ..< w {
                    let t = (py / s) * wb + px / s
                    let f = (py % s) * d * s + (px % s) * d
                    (shuffled + t * merged + f).update(from: h + (py * w + px) * d, count: d)
                }
            }
        }

        // 4. Projector.
        var out = [Float](repeating: 0, count: tokens * outputWidth)
        out.withUnsafeMutableBufferPointer { o in matmul(projector, shuffled, tokens, o.baseAddress!) }
        return out
    }

    // MARK: - Pieces

    private func patchEmbed(tile: [Float], into x: UnsafeMutablePointer<Float>,
                            workspace ws: VisionWorkspace, pool: ThreadPool, kernels: KernelSet) throws {
        let c = configuration
        let p = c.patchSize, side = c.imageSize, w = c.patchesPerSide
        let n = c.patchCount, d = c.embeddingLength
        let cols = 3 * p * p
        let im2col = ws.im2col, y = ws.patchOutput
        let half = im2colType == .f16
        guard let toHalf = sv_kernels_from_float(kernels.table, SV_TYPE_F16) else {
            preconditionFailure("kernel table \(kernels.name) lacks f16 conversion")
        }
        pool.traced(.rows(half ? "im2col f16" : "im2col f32", n, cols)) {
            tile.withUnsafeBufferPointer { t in
                let src = t.baseAddress!
                pool.parallelFor(n) { range in
                    // One patch's row gathered in f32, then rounded to f16 in one vector pass.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { row in
                        for patch in range {
                            let oy = patch / w, ox = patch % w
                            let out = half ? row.baseAddress! : (im2col + patch * cols * 4).assumingMemoryBound(to: Float.self)
                            for ch in 0 ..< 3 {
                                for ky in 0 ..< p {
                                    for kx in 0 ..< p {
                                        out[(ch * p + ky) * p + kx] = src[((oy * p + ky) * side + ox * p + kx) * 3 + ch]
                                    }
                                }
                            }
                            if half { toHalf(out, im2col + patch * cols * 2, Int64(cols)) }
                        }
                    }
                }
            }
        }
        let m = try WeightMatrix(type: im2colType, rows: n, columns: cols, data: UnsafeRawPointer(im2col))
        patchWeight.withUnsafeBufferPointer { kw in
            MatMul.multiplyOnKernels(m, kw.baseAddress!, rows: d, into: y, scratch: &ws.scratch, pool: pool, kernels: kernels)
        }
        // y is embedding-major (d rows of n patches); the encoder runs patch-major.
        pool.traced(.rows("transpose", d, n)) {
            for e in 0 ..< d {
                for i in 0 ..< n { x[i * d + e] = y[e * n + i] }
            }
        }
    }

    private func addBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], rows: Int, pool: ThreadPool) {
        let width = b.count
        pool.traced(.rows("bias", rows, width)) {
            b.withUnsafeBufferPointer { bias in
                pool.parallelFor(rows, granularity: 16) { range in
                    for i in range {
                        for j in 0 ..< width { y[i * width + j] += bias[j] }
                    }
                }
            }
        }
    }

    /// ggml_norm (mean in double; the variance of x − mean in groups of 16 reduced as
    /// _mm512_reduce_add_ps does, accumulated in double) followed by ggml_mul and ggml_add.
    private func layerNorm(_ x: UnsafePointer<Float>, _ weight: [Float], _ bias: [Float], _ y: UnsafeMutablePointer<Float>) {
        let n = weight.count
        var sum = 0.0
        for i in 0 ..< n { sum += Double(x[i]) }
        let mean = Float(sum) / Float(n)
        var sum2 = 0.0
        var i = 0
        while i + 15 < n {
            var v = SIMD16<Float>()
            for j in 0 ..< 16 {
                let t = x[i + j] - mean
                y[i + j] = t
                v[j] = t * t
            }
            let a = v.highHalf + v.lowHalf
            let b = a.highHalf + a.lowHalf
            sum2 += Double((b[0] + b[2]) + (b[1] + b[3]))
            i += 16
        }
        while i < n {
            let t = x[i] - mean
            y[i] = t
            sum2 += Double(t * t)
            i += 1
        }
        let variance = Float(sum2 / Double(n))
        let scale = 1 / (variance + configuration.layerNormEpsilon).squareRoot()
        for j in 0 ..< n { y[j] = (y[j] * scale) * weight[j] + bias[j] }
    }

    /// The table of ggml_vec_gelu_f32 with GGML_GELU_FP16, as the `gelu` kernels look it up: the
    /// tanh GELU of every f16 value, rounded to f16 (x ≤ −10 gives 0 and x ≥ 10 passes through,
    /// in the kernel).
    static let geluTable: [Float] = (0 ..< 65536).map { i in
        let f = sv_fp16_to_fp32(UInt16(i))
        let g = 0.5 * f * (1 + tanhf(0.79788456080286535587989211986876 * f * Float(1).addingProduct(0.044715 * f, f)))
        return sv_fp16_to_fp32(sv_fp32_to_fp16(g))
    }

}

/// The buffers one tile's encode works in, made once and reused for every tile (one tile at a
/// time): activations, the f16 keys and values, attention scratch per thread, im2col, the pixel
/// shuffle and the converted activations of the matrix products.
package final class VisionWorkspace {
    static let attentionBlockRows = 128

    let patchCount, embeddingLength, feedForwardLength, headDimension, threads: Int
    let x, h, q, k, v, attn, up, patchOutput, shuffled, attentionScratch: UnsafeMutablePointer<Float>
    let kHalf, vHalf: UnsafeMutablePointer<sv_half>
    /// ggml's im2col of the tile: F32 bytes are the larger case, so either type fits.
    let im2col: UnsafeMutableRawPointer
    let attentionScratchFloats: Int
    var scratch = ScratchBuffer()

    /// Buffers for tiles of a model with `configuration`, encoded with up to `threads` threads.
    package init(_ c: VisionConfiguration, threads: Int) {
        let n = c.patchCount, d = c.embeddingLength, ff = c.feedForwardLength
        patchCount = n
        embeddingLength = d
        feedForwardLength = ff
        headDimension = c.headDimension
        self.threads = max(threads, 1)
        func alloc(_ count: Int) -> UnsafeMutablePointer<Float> { .allocate(capacity: count) }
        x = alloc(n * d); h = alloc(n * d); q = alloc(n * d); k = alloc(n * d); v = alloc(n * d)
        attn = alloc(n * d); up = alloc(n * ff); patchOutput = alloc(n * d)
        shuffled = alloc(c.tokensPerTile * d * c.scaleFactor * c.scaleFactor)
        attentionScratchFloats = sv_attention_block_f32acc_scratch_floats(Int64(c.headDimension), Int64(Self.attentionBlockRows))
        attentionScratch = alloc(attentionScratchFloats * self.threads)
        kHalf = .allocate(capacity: n * d)
        vHalf = .allocate(capacity: n * d)
        im2col = .allocate(byteCount: n * 3 * c.patchSize * c.patchSize * 4, alignment: 64)
    }

    func fits(_ c: VisionConfiguration, threads: Int) -> Bool {
        patchCount == c.patchCount && embeddingLength == c.embeddingLength && feedForwardLength == c.feedForwardLength
            && headDimension == c.headDimension && threads <= self.threads
    }

    deinit {
        for p in [x, h, q, k, v, attn, up, patchOutput, shuffled, attentionScratch] { p.deallocate() }
        kHalf.deallocate()
        vHalf.deallocate()
        im2col.deallocate()
    }
}
