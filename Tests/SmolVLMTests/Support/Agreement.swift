import SmolVLM

/// How closely a model must match llama.cpp's CPU backend. The engine's kernels keep that
/// backend's summation order, so the tight bounds hold. A build with the OpenBLAS trait sums
/// F32/F16/BF16 products of 32 or more rows in OpenBLAS's order instead, and on these
/// random-weight fixtures an order difference grows layer after layer (one activation rounded
/// differently to f16 moves everything after it), so models with float weights are held there to
/// a looser bound measured for that order, with top-1 flips between near-tied tokens forgiven.
enum Agreement {
    /// The bound for a model: `strict` unless its products go through OpenBLAS.
    static func tolerance(_ strict: Float, floatWeights: Bool, openBLAS: Float) -> Float {
        floatWeights && MatMul.usesOpenBLAS ? openBLAS : strict
    }

    /// The gap between llama.cpp's top two logits, in std, below which a different top-1 is a tie:
    /// 1e-3 for the kernels; twice the bound for OpenBLAS's order (each logit may be off by it).
    static func tie(floatWeights: Bool, tolerance: Float) -> Float {
        floatWeights && MatMul.usesOpenBLAS ? 2 * tolerance : 1e-3
    }
}
