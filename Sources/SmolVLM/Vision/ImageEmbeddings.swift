import Foundation

/// One image as the decoder consumes it: the projector output of every tile, in the
/// preprocessor's order (slices row-major, then the overview).
public struct ImageEmbeddings: Sendable {
    /// The slice grid (0 × 0 for an unsliced image).
    public var gridX: Int
    /// Slices down; 0 for an unsliced image.
    public var gridY: Int
    /// Each tile is `tokensPerTile × width` floats, row-major.
    public var tiles: [[Float]]
    /// Floats per embedding (the text model's embedding length).
    public var width: Int
    /// Seconds spent resizing and normalising.
    public var preprocessSeconds: Double
    /// Seconds spent in the encoder and projector, per tile.
    public var encodeSeconds: [Double]

    /// Embeddings per tile (64 for SmolVLM's 512-pixel tiles); 0 when there are no tiles.
    public var tokensPerTile: Int { tiles.first.map { $0.count / width } ?? 0 }
}

extension VisionModel {
    /// Preprocesses `image` with `preprocessor` and encodes every tile.
    ///
    /// - Parameters:
    ///   - image: the decoded image.
    ///   - preprocessor: how to slice and normalise it (built from this model's configuration).
    ///   - pool: threads for the encoder.
    ///   - kernels: the kernel table to compute with.
    ///   - shouldStop: asked before each tile; returning true ends the work early and the result
    ///     is nil (for callers that can be cancelled).
    package func embed(_ image: RGBImage, preprocessor: Idefics3Preprocessor, pool: ThreadPool,
                       kernels: KernelSet = .default, shouldStop: () -> Bool) throws -> ImageEmbeddings? {
        let clock = ContinuousClock()
        let start = clock.now
        let pre = try pool.traced(.phase("preprocess")) { try preprocessor(image, pool: pool) }
        let preprocessSeconds = (clock.now - start).seconds
        var tiles: [[Float]] = []
        var seconds: [Double] = []
        let workspace = VisionWorkspace(configuration, threads: pool.threadCount)
        for tile in pre.tiles {
            if shouldStop() { return nil }
            let t0 = clock.now
            tiles.append(try pool.traced(.phase("encode tile")) { try encode(tile: tile, pool: pool, kernels: kernels, workspace: workspace) })
            seconds.append((clock.now - t0).seconds)
        }
        return ImageEmbeddings(gridX: pre.gridX, gridY: pre.gridY, tiles: tiles, width: outputWidth,
                               preprocessSeconds: preprocessSeconds, encodeSeconds: seconds)
    }

    /// Preprocesses `image` with `preprocessor` and encodes every tile on `context`'s threads
    /// (the encoder and the decoder then take turns on them instead of oversubscribing the cores).
    ///
    /// - Parameters:
    ///   - image: the decoded image.
    ///   - preprocessor: how to slice and normalise it (built from this model's configuration).
    ///   - context: the text context whose threads compute the encoder.
    /// - Returns: one embedding block per tile, with the grid they came from.
    public func embed(_ image: RGBImage, preprocessor: Idefics3Preprocessor, using context: LlamaContext) throws -> ImageEmbeddings {
        try embed(image, preprocessor: preprocessor, pool: context.pool)
    }

    /// Preprocesses `image` with `preprocessor` and encodes every tile.
    package func embed(_ image: RGBImage, preprocessor: Idefics3Preprocessor, pool: ThreadPool,
                       kernels: KernelSet = .default) throws -> ImageEmbeddings {
        // Never stopped, so never nil.
        try embed(image, preprocessor: preprocessor, pool: pool, kernels: kernels) { false }!
    }
}

extension LlamaContext {
    /// Evaluates a multimodal prompt chunk by chunk, as mtmd's helper does (one batch per text
    /// chunk, one per image tile), and returns the logits of its last position.
    ///
    /// - Throws: ``ModelError/contextOverflow(needed:capacity:)`` before evaluating anything if
    ///   the prompt does not fit; ``ModelError/invalidHyperParameter(key:value:reason:)`` if an
    ///   image's embeddings are not this model's width or a chunk names a missing tile.
    public func evaluate(_ chunks: [PromptChunk], images: [ImageEmbeddings]) throws -> [Float] {
        let d = model.configuration.embeddingLength
        var needed = position
        for chunk in chunks {
            switch chunk {
            case let .text(tokens): needed += tokens.count
            case let .image(i, t):
                guard images.indices.contains(i), images[i].tiles.indices.contains(t) else {
                    throw ModelError.invalidHyperParameter(key: "prompt chunk", value: "image \(i) tile \(t)", reason: "no such image tile was given")
                }
                guard images[i].width == d else {
                    throw ModelError.invalidHyperParameter(key: "image embedding width", value: String(images[i].width),
                                                           reason: "the text model's embedding length is \(d)")
                }
                needed += images[i].tiles[t].count / d
            }
        }
        guard needed <= capacity else { throw ModelError.contextOverflow(needed: needed, capacity: capacity) }
        guard !chunks.isEmpty else { throw ModelError.emptyInput }

        var logits: [Float] = []
        for (k, chunk) in chunks.enumerated() {
            let want: Logits = k == chunks.count - 1 ? .last : .none
            switch chunk {
            case let .text(tokens): logits = try evaluate(tokens: tokens, logits: want)
            case let .image(i, t): logits = try evaluate(embeddings: images[i].tiles[t], logits: want)
            }
        }
        return logits
    }
}
