import ReferenceFixtures
import SmolVLM
import Testing

/// Teacher forcing against a llama.cpp generation fixture: after the prompt, feed llama.cpp's
/// chosen tokens one at a time and compare our logits with its logits at every step (llm.c
/// style: the worst element and where it is). The fixture holds, per step, the reference's top
/// logits, a fixed probe set, summary stats, and a few full vectors.
enum TeacherForcing {
    /// `promptLogits` are ours after the prompt; `tolerance` bounds max |Δ| / std(reference).
    /// Top-1 must agree unless llama.cpp's own top two are within 1e-3·std (a tie).
    static func compare(_ f: ReferenceFixture, context: LlamaContext, promptLogits: [Float], tolerance: Float) throws {
        let name = f.name
        let tokens = try f.ints("tokens").values
        let topIDs = try f.ints("top_ids"), topLogits = try f.floats("top_logits")
        let probeIDs = try f.ints("probe_ids").values, probeLogits = try f.floats("probe_logits")
        let stats = try f.floats("stats")
        let fullSteps = try f.ints("full_steps").values, full = try f.floats("full_logits")

        var worst: Float = 0, worstStep = 0, ties = 0, mismatches: [String] = []
        var logits = promptLogits
        for step in 0 ..< tokens.count {
            if step > 0 { logits = try context.evaluate(tokens: [tokens[step - 1]]) }
            let std = stats.row(step)[stats.row(step).startIndex + 1]
            let gap = stats.row(step)[stats.row(step).startIndex + 4]
            let ids = Array(topIDs.row(step)) + probeIDs
            let ref = Array(topLogits.row(step)) + Array(probeLogits.row(step))
            var c = Comparison("\(name) step \(step)", ours: ids.map { logits[$0] }, reference: ref, scale: std)
            if let row = fullSteps.firstIndex(of: step) {
                let fullCmp = Comparison("\(name) step \(step) (full vector)", ours: logits, reference: full.row(row), scale: std)
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
        print("\(name): \(tokens.count) steps, max |Δ|/std = \(worst) (step \(worstStep)), top-1 ties \(ties), top-1 mismatches \(mismatches.count)")
    }
}
