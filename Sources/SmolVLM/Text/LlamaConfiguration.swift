import GGUF

/// Hyper-parameters of a llama-architecture decoder, read from GGUF metadata (never constants).
public struct LlamaConfiguration: Sendable, Equatable {
    public var embeddingLength: Int
    public var blockCount: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var headDimension: Int
    public var ropeDimensions: Int
    public var ropeFrequencyBase: Float
    public var rmsEpsilon: Float
    public var contextLength: Int
    public var vocabularySize: Int

    /// Width of the key/value projections (all KV heads together).
    public var kvDimension: Int { headCountKV * headDimension }
    /// Query heads that share one key/value head.
    public var groupSize: Int { headCount / headCountKV }

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
        try check(contextLength > 0, "context_length", contextLength, "must be positive")
        try check(self.vocabularySize > 0, "vocab_size", self.vocabularySize, "must be positive")
    }
}
