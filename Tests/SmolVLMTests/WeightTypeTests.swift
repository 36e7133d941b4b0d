import Foundation
import ReferenceFixtures
import SmolVLM
import Testing

/// Every weight type the engine accepts, against llama.cpp on the `kquant` synthetic model (width
/// 256, ffn 768: every matrix product, the output head included, has rows that are multiples of
/// 256, so the K-quant files use K-quant blocks everywhere). Eight layers of random weights turn a
/// float-order difference in one kernel into a visible logit difference, so the tolerance is
/// tight. Two paths per type: decode (one token at a time: matrix × vector) and prefill (the same
/// sequence as one batch with logits for every position: matrix × matrix, 35 rows, so llama.cpp's
/// 4-row GEMM tiles and its 1-row tail both run).
@Suite("Every weight type against llama.cpp")
struct WeightTypeTests {
    static let types = ["f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]
    static let tolerance: Float = 0.003
    /// The bound for F16/BF16 prefill summed in OpenBLAS's order (see ``Agreement``; decode, one
    /// row at a time, stays on the kernels): the worst measured was 0.0059·std (F16) and
    /// 0.023·std (BF16, whose activations the kernels round to bf16 and OpenBLAS does not).
    static let openBLASTolerance: Float = 0.05

    static func model(_ type: String) -> String {
        ReferenceFixture.modelsDirectory.appendingPathComponent("kquant-text-\(type).gguf").path
    }
    static let modelsPresent = types.allSatisfy { FileManager.default.fileExists(atPath: model($0)) }

    @Test(.enabled(if: modelsPresent, "models/kquant-text-*.gguf are absent: run models/build-test-models.sh"),
          arguments: types)
    func matchesLlamaCpp(_ type: String) throws {
        let f = try ReferenceFixture("kquant-\(type)")
        let model = try LlamaModel(path: Self.model(type))
        let prompt = try f.ints("prompt").values
        let floatWeights = ["f16", "bf16"].contains(type)
        let tolerance = Agreement.tolerance(Self.tolerance, floatWeights: floatWeights, openBLAS: Self.openBLASTolerance)
        let tie = Agreement.tie(floatWeights: floatWeights, tolerance: tolerance)

        let decode = try LlamaContext(model: model, contextLength: 512, threads: 2)
        let decodeWorst = try TeacherForcing.compare(f, context: decode, promptLogits: try decode.evaluate(tokens: prompt),
                                                     tolerance: tolerance, tie: tie)

        let sequence = try f.ints("prefill_tokens").values
        let prefill = try LlamaContext(model: model, contextLength: 512, threads: 2)
        let all = try prefill.evaluate(tokens: sequence, logits: .all)
        let vocab = model.configuration.vocabularySize
        let prefillWorst = try TeacherForcing.compare(f, prefix: "prefill_", tolerance: tolerance, tie: tie) { step in
            Array(all[step * vocab ..< (step + 1) * vocab])
        }
        print("weight type \(type): decode max |Δ|/std \(decodeWorst), prefill max |Δ|/std \(prefillWorst)")
    }
}
