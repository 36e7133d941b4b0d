import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Teacher forcing against llama.cpp: feed the reference's prompt and chosen tokens, compare our
/// logits with llama.cpp's at every step (llm.c style: the worst element and where it is).
@Suite("Decoder logits against llama.cpp, teacher-forced")
struct TeacherForcedTests {
    static func model(_ name: String) -> String {
        ReferenceFixture.modelsDirectory.appendingPathComponent(name).path
    }
    static func committed(_ name: String) -> String {
        ReferenceFixture.root.appendingPathComponent("models").appendingPathComponent(name).path
    }
    static func present(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test(.enabled(if: present(model("SmolLM2-135M-Instruct.Q4_1.gguf")), "models/SmolLM2-135M-Instruct.Q4_1.gguf is absent: run models/fetch-smollm2.sh"))
    func smolLM2Q4_1() throws {
        try check("generate-smollm2-q4_1", model: Self.model("SmolLM2-135M-Instruct.Q4_1.gguf"), tolerance: 0.01)
    }

    @Test(.enabled(if: present(model("tiny-text-f16.gguf")), "models/tiny-text-f16.gguf is absent: run python3 models/make_synthetic.py --preset tiny --types f16,q8_0"))
    func tinyF16() throws {
        try check("generate-tiny-f16", model: Self.model("tiny-text-f16.gguf"), tolerance: 0.01)
    }

    @Test(.enabled(if: present(model("tiny-text-q8_0.gguf")), "models/tiny-text-q8_0.gguf is absent: run python3 models/make_synthetic.py --preset tiny --types f16,q8_0"))
    func tinyQ8_0() throws {
        try check("generate-tiny-q8_0", model: Self.model("tiny-text-q8_0.gguf"), tolerance: 0.01)
    }

    @Test func tinyQ4_K_M() throws {
        try check("generate-tiny-q4_k_m", model: Self.committed("tiny-text-q4_k_m.gguf"), tolerance: 0.02)
    }

    @Test(.enabled(if: present(model("smolvlm-256m-text-q8_0.gguf")), "models/smolvlm-256m-text-q8_0.gguf is absent: run python3 models/make_synthetic.py --preset smolvlm-256m --types q8_0"))
    func smolVLM256MQ8_0() throws {
        try check("generate-smolvlm-256m-q8_0", model: Self.model("smolvlm-256m-text-q8_0.gguf"), tolerance: 0.01)
    }

    /// Compares every step; `tolerance` bounds max |Δ| / std(reference logits).
    func check(_ fixtureName: String, model path: String, tolerance: Float) throws {
        let f = try ReferenceFixture(fixtureName)
        let model = try LlamaModel(path: path)
        let context = try LlamaContext(model: model, contextLength: 512, threads: 2)
        let logits = try context.evaluate(tokens: try f.ints("prompt").values)
        try TeacherForcing.compare(f, context: context, promptLogits: logits, tolerance: tolerance)
    }
}
