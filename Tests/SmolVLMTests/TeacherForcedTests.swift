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
        let prompt = try f.ints("prompt").values
        let tokens = try f.ints("tokens").values
        let topIDs = try f.ints("top_ids"), topLogits = try f.floats("top_logits")
        let probeIDs = try f.ints("probe_ids").values, probeLogits = try f.floats("probe_logits")
        let stats = try f.floats("stats")
        let fullSteps = try f.ints("full_steps").values, full = try f.floats("full_logits")

        let model = try LlamaModel(path: path)
        let context = try LlamaContext(model: model, contextLength: 512, threads: 2)
        var worst: Float = 0, worstStep = 0, ties = 0, mismatches: [String] = []
        var logits = try context.evaluate(tokens: prompt)
        for step in 0 ..< tokens.count {
            if step > 0 { logits = try context.evaluate(tokens: [tokens[step - 1]]) }
            let std = stats.row(step)[stats.row(step).startIndex + 1]
            let gap = stats.row(step)[stats.row(step).startIndex + 4]
            // The reference's top logits and the fixed probe set, every step.
            let ids = Array(topIDs.row(step)) + probeIDs
            let ref = Array(topLogits.row(step)) + Array(probeLogits.row(step))
            var c = Comparison("\(fixtureName) step \(step)", ours: ids.map { logits[$0] }, reference: ref, scale: std)
            if let row = fullSteps.firstIndex(of: step) {
                let fullCmp = Comparison("\(fixtureName) step \(step) (full vector)", ours: logits, reference: full.row(row), scale: std)
                if fullCmp.maxAbsDiff > c.maxAbsDiff { c = fullCmp }
            }
            if c.maxAbsDiffOverStd > worst { worst = c.maxAbsDiffOverStd; worstStep = step }
            #expect(c.maxAbsDiffOverStd <= tolerance, "\(c)")
            let ours = argmax(logits)
            if ours != tokens[step] {
                if gap < 1e-3 * std {
                    ties += 1
                } else {
                    mismatches.append("step \(step): ours \(ours) (\(logits[ours])) vs llama.cpp \(tokens[step]) (\(logits[tokens[step]])), reference gap \(gap)")
                }
            }
        }
        #expect(mismatches.isEmpty, "top-1 differs from llama.cpp: \(mismatches.joined(separator: "; "))")
        print("\(fixtureName): \(tokens.count) steps, max |Δ|/std = \(worst) (step \(worstStep)), top-1 ties \(ties), top-1 mismatches \(mismatches.count)")
    }
}
