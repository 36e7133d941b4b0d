import GGUF
import Kernels

/// A llama-architecture decoder (SmolLM2, SmolVLM's text model): weights mapped from a GGUF
/// file, never copied, shared by every ``LlamaContext`` that runs it.
public struct LlamaModel: Sendable {
    /// Hyperparameters read from the file's metadata.
    public let configuration: LlamaConfiguration
    /// The mapped GGUF file the weights are views into; kept alive by this model.
    public let file: GGUFFile

    // MARK: - Weights

    struct Layer: Sendable {
        var attentionNorm: [Float]
        var wq, wk, wv, wo: WeightMatrix
        var ffnNorm: [Float]
        var gate, up, down: WeightMatrix
    }

    let tokenEmbedding: GGUFTensorInfo
    let layers: [Layer]
    let outputNorm: [Float]
    /// `output.weight`, or the token embedding when the file has none (tied embeddings).
    let output: WeightMatrix

    /// Checks the hyperparameters and every weight's shape and type, and maps the weights (no copy).
    /// - Throws: ``ModelError`` for an unsupported architecture, an invalid hyperparameter or a
    ///   tensor of the wrong shape; `GGUFError` for a missing tensor or key, or a tensor type the
    ///   kernels cannot compute with.
    public init(file: GGUFFile) throws {
        self.file = file
        let vocab = (try? file.metadata.strings("tokenizer.ggml.tokens").count) ?? 0
        let c = try LlamaConfiguration(file.metadata, vocabularySize: vocab)
        configuration = c
        let d = c.embeddingLength

        // The explicit name mapping: GGUF tensor name → role, with the shape each must have
        // (ggml order: [columns, rows]).
        func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
            let t = try file.requireTensor(name)
            guard t.shape == [columns, rows] else { throw ModelError.tensorShape(tensor: name, expected: [columns, rows], found: t.shape) }
            // Q8_0 products then run on 16-row vectors, each output still in llama.cpp's order.
            return try WeightMatrix(t, in: file).repackedForSpeed()
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let t = try file.requireTensor(name)
            guard t.shape == [count] else { throw ModelError.tensorShape(tensor: name, expected: [count], found: t.shape) }
            return try file.dequantize(t)
        }

        tokenEmbedding = try file.requireTensor("token_embd.weight")
        guard tokenEmbedding.shape == [d, c.vocabularySize] else {
            throw ModelError.tensorShape(tensor: "token_embd.weight", expected: [d, c.vocabularySize], found: tokenEmbedding.shape)
        }
        guard tokenEmbedding.type.isComputable else {
            throw GGUFError.unsupportedTensorType(tensor: tokenEmbedding.name, type: tokenEmbedding.type.name)
        }
        layers = try (0 ..< c.blockCount).map { i in
            let p = "blk.\(i)."
            return Layer(
                attentionNorm: try vector(p + "attn_norm.weight", count: d),
                wq: try matrix(p + "attn_q.weight", columns: d, rows: c.headCount * c.headDimension),
                wk: try matrix(p + "attn_k.weight", columns: d, rows: c.kvDimension),
                wv: try matrix(p + "attn_v.weight", columns: d, rows: c.kvDimension),
                wo: try matrix(p + "attn_output.weight", columns: c.headCount * c.headDimension, rows: d),
                ffnNorm: try vector(p + "ffn_norm.weight", count: d),
                gate: try matrix(p + "ffn_gate.weight", columns: d, rows: c.feedForwardLength),
                up: try matrix(p + "ffn_up.weight", columns: d, rows: c.feedForwardLength),
                down: try matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: d))
        }
        outputNorm = try vector("output_norm.weight", count: d)
        output = file.tensor(named: "output.weight") != nil
            ? try matrix("output.weight", columns: d, rows: c.vocabularySize)
            : try WeightMatrix(tokenEmbedding, in: file)
    }

    /// Opens and maps the GGUF file at `path`.
    public init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Writes the embedding of `token` (one row of `token_embd.weight`, dequantized) to `out`.
    func embed(_ token: Int, into out: UnsafeMutablePointer<Float>) {
        let row = file.bytes(of: tokenEmbedding).baseAddress! + token * tokenEmbedding.rowBytes
        _ = sv_dequantize_row(tokenEmbedding.type.kernelType!, row, out, Int64(configuration.embeddingLength))
    }
}
