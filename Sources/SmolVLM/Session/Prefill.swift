/// A prompt ready to evaluate: its chunks (text runs and image tiles), the embeddings of the
/// images they name, and one ``PromptCache/Entry`` per position of the whole sequence.
public struct PreparedPrompt: Sendable {
    /// The chunks to evaluate, starting at position ``base``.
    public var chunks: [PromptChunk]
    /// The images the chunks' tiles come from, by index.
    public var images: [ImageEmbeddings]
    /// Every position of the sequence from 0: the ``base`` positions before the chunks (which
    /// the cache must already hold), then the chunks'.
    public var entries: [PromptCache.Entry]
    /// Where the chunks start: 0 for a whole prompt, or the length of a conversation the cache
    /// already holds when the chunks only continue it.
    public var base: Int
    /// Positions per image tile.
    public var tokensPerTile: Int

    /// A prompt of `chunks` starting at `base`, whose whole sequence is `entries`.
    ///
    /// An image whose tiles the cache already holds may be given without tiles (it is not
    /// evaluated); `tokensPerTile` then must be given (nil: read from the images).
    public init(chunks: [PromptChunk], images: [ImageEmbeddings], entries: [PromptCache.Entry], base: Int = 0,
                tokensPerTile: Int? = nil) {
        self.chunks = chunks
        self.images = images
        self.entries = entries
        self.base = base
        self.tokensPerTile = tokensPerTile ?? images.first { !$0.tiles.isEmpty }?.tokensPerTile ?? 0
    }
}

/// What a prefill did.
public struct PrefillOutcome: Sendable {
    /// The logits of the prompt's last position.
    public var logits: [Float]
    /// Positions kept from the cache.
    public var reused: Int
    /// Positions evaluated.
    public var evaluated: Int
}

extension LlamaContext {
    /// Brings the KV cache from what `cache` says it holds to `prompt`: the longest reusable
    /// prefix is kept, the rest evaluated chunk by chunk (one batch per text run, one per image
    /// tile, as mtmd's helper does), and `cache` updated to match. The one prefill path of
    /// ``ChatSession`` and of a server's slots.
    ///
    /// - Parameters:
    ///   - prompt: the whole sequence's entries and the chunks to evaluate.
    ///   - cache: what this context's KV cache holds; updated to what it holds afterwards.
    ///   - shouldStop: asked before each chunk; true stops the prefill (nil is returned, and
    ///     `cache` describes what was evaluated so far).
    /// - Throws: ``ModelError/contextOverflow(needed:capacity:)`` before evaluating anything if
    ///   the prompt does not fit; the context's errors.
    public func prefill(_ prompt: PreparedPrompt, cache: inout PromptCache, shouldStop: () -> Bool = { false }) throws -> PrefillOutcome? {
        guard prompt.entries.count <= capacity else {
            throw ModelError.contextOverflow(needed: prompt.entries.count, capacity: capacity)
        }
        guard !prompt.chunks.isEmpty else { throw ModelError.emptyInput }
        let perTile = prompt.tokensPerTile
        let reuse = min(cache.reusablePrefix(of: prompt.entries), position)
        // Chunks that continue the cache share its first `base` entries by construction.
        precondition(reuse >= prompt.base, "a prompt continuing the cache at \(prompt.base) must share its prefix")
        truncate(to: reuse)
        cache.truncate(to: reuse)

        var logits: [Float] = []
        var start = prompt.base
        for (k, chunk) in prompt.chunks.enumerated() {
            let n = chunk.positions(tokensPerTile: perTile)
            defer { start += n }
            guard start + n > reuse else { continue }
            if shouldStop() { return nil }
            let want: Logits = k == prompt.chunks.count - 1 ? .last : .none
            switch chunk {
            case let .text(tokens):
                logits = try evaluate(tokens: Array(tokens[max(0, reuse - start)...]), logits: want)
            case let .image(i, t):
                guard prompt.images.indices.contains(i), prompt.images[i].tiles.indices.contains(t) else {
                    throw ModelError.invalidHyperParameter(key: "prompt chunk", value: "image \(i) tile \(t)", reason: "no such image tile was given")
                }
                logits = try evaluate(embeddings: prompt.images[i].tiles[t], logits: want)
            }
            cache.append(contentsOf: prompt.entries[max(start, reuse) ..< start + n])
        }
        return PrefillOutcome(logits: logits, reused: reuse, evaluated: prompt.entries.count - reuse)
    }
}
