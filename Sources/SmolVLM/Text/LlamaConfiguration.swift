import GGUF

/// Hyper-parameters of a llama-architecture decoder, read from GGUF metadata (never constants).
public struct LlamaConfiguration: Sendable, Equatable {
    /// Width of the hidden state and token embeddings (`llama.embedding_length`).
    public var embeddingLength: Int
    /// Number of transformer blocks (`llama.block_count`).
    public var blockCount: Int
    /// Width of the SwiGLU feed-forward hidden layer (`llama.feed_forward_length`).
    public var feedForwardLength: Int
    /// Query heads per attention layer (`llama.attention.head_count`).
    public var headCount: Int
    /// Key/value heads per layer (`llama.attention.head_count_kv`); equal to ``headCount`` when
    /// the file omits it (no grouped-query attention).
    public var headCountKV: Int
    /// Width of one head (`llama.attention.key_length`); ``embeddingLength`` / ``headCount`` when
    /// absent.
    public var headDimension: Int
    /// Dimensions of each head that RoPE rotates (`llama.rope.dimension_count`); the whole head
    /// when absent.
    public var ropeDimensions: Int
    /// RoPE base frequency θ (`llama.rope.freq_base`); 10000 when absent, as in llama.cpp.
    public var ropeFrequencyBase: Float
    /// Epsilon added to the mean square in RMSNorm (`llama.attention.layer_norm_rms_epsilon`).
    public var rmsEpsilon: Float
    /// Positions the model was trained for (`llama.context_length`): the upper bound of a context.
    public var contextLength: Int
    /// Rows of the token embedding and output projection (`llama.vocab_size`, else the tokenizer's
    /// vocabulary size).
    public var vocabularySize: Int

    /// Width of the key/value projections (all KV heads together).
    public var kvDimension: Int { headCountKV * headDimension }
    /// Query heads that share one key/value head.
    public var groupSize: Int { headCount / headCountKV }

    /// The longest training context accepted (2^24 positions, past any released model's); a
    /// larger value is a broken file, not a model.
    public static let maxContextLength = 1 << 24

    /// Reads and range-checks the `llama.*` hyperparameters.
    /// - Parameters:
    ///   - md: the text model's metadata.
    ///   - vocabularySize: the tokenizer's vocabulary size, used when `llama.vocab_size` is absent.
    /// - Throws: ``ModelError/unsupportedArchitecture(_:)`` unless `general.architecture` is `llama`,
    ///   `GGUFError` for a missing or mistyped required key, ``ModelError/invalidHyperParameter(key:value:reason:)``
    ///   for a value out of range.
    public init(_ md: GGUFMetadata, vocabularySize: Int) throws {
        let arch = try md.string("general.architecture")
        guard arch == "llama" else { throw ModelError.unsupportedArchitecture(arch) }
        func int(_ key: String) throws -> Int { try md.integer("llama." + key) }
        embeddingLength = try int("embedding_length")
        blockCount = try int("block_count")
        feedForwardLength = try int("feed_forward_length")
        headCount = try int("attention.head_count")
        headCountKV = (try? int("attention.head_count_kv")) ?? headCount
        headDimension = (try? int("attention.key_length")) ?? (headCount > 0 ? embeddingLength / headCount : 0)
        ropeDimensions = (try? int("rope.dimension_count")) ?? headDimension
        ropeFrequencyBase = (try? md.float("llama.rope.freq_base")) ?? 10000
        rmsEpsilon = try md.float("llama.attention.layer_norm_rms_epsilon")
        contextLength = try int("context_length")
        self.vocabularySize = (try? int("vocab_size")) ?? vocabularySize

        func check(_ ok: Bool, _ key: String, _ value: Int, _ reason: String) throws {
            if !ok { throw ModelError.invalidHyperParameter(key: "llama." + key, value: String(value), reason: reason) }
        }
        try check(embeddingLength > 0 && embeddingLength <= 1 << 16, "embedding_length", embeddingLength, "must be in 1...65536")
        try check(blockCount > 0 && blockCount <= 1024, "block_count", blockCount, "must be in 1...1024")
        try check(feedForwardLength > 0 && feedForwardLength <= 1 << 18, "feed_forward_length", feedForwardLength, "must be in 1...262144")
        try check(headCount > 0 && headCount <= 1024, "attention.head_count", headCount, "must be in 1...1024")
        try check(headCountKV > 0 && headCount % headCountKV == 0, "attention.head_count_kv", headCountKV, "must divide the head count \(headCount)")
        try check(headDimension > 0 && headDimension % 2 == 0 && headDimension <= 1024, "attention.key_length", headDimension, "must be even and at most 1024")
        try check(ropeDimensions > 0 && ropeDimensions <= headDimension && ropeDimensions % 2 == 0, "rope.dimension_count", ropeDimensions, "must be even and at most the head dimension")
        try check(contextLength > 0 && contextLength <= Self.maxContextLength, "context_length", contextLength,
                  "must be in 1...\(Self.maxContextLength)")
        func check(_ ok: Bool, _ key: String, _ value: Float, _ reason: String) throws {
            if !ok { throw ModelError.invalidHyperParameter(key: "llama." + key, value: String(value), reason: reason) }
        }
        try check(ropeFrequencyBase.isFinite && ropeFrequencyBase > 0, "rope.freq_base", ropeFrequencyBase, "must be a positive number")
        try check(rmsEpsilon.isFinite && rmsEpsilon > 0, "attention.layer_norm_rms_epsilon", rmsEpsilon, "must be a positive number")
        try check(self.vocabularySize > 0, "vocab_size", self.vocabularySize, "must be positive")
    }
}
