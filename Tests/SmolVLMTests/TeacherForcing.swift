import ReferenceFixtures
import SmolVLM
import Testing

/// Teacher forcing against a llama.cpp generation fixture: after the prompt, feed llama.cpp's
/// chosen tokens one at a time and compare our logits with its logits at every step (llm.c
/// style: the worst element and where it is). The fixture holds, per step, the reference's top
/// logits, a fixed probe set, summary stats, and a few full vectors.
enum TeacherForcing {
    /// `promptLogits` are ours after the prompt; `tolerance` bounds max |Δ| / std(reference).
    /// Top-1 must agree unless llama.cpp's own top two are within `tie`·std.
    @discardableResult
    static func compare(_ f: ReferenceFixture, context: LlamaContext, promptLogits: [Float], tolerance: Float,
                        tie: Float = 1e-3) throws -> Float {
        let tokens = try f.ints("tokens").values
        return try compare(f, tolerance: tolerance, tie: tie) { step in
            step == 0 ? promptLogits : try context.evaluate(tokens: [tokens[step - 1]])
        }
    }

    /// Compares the logits `logits(step)` returns for every step of the record whose arrays are
    /// named `prefix` + tokens, top_ids, …; returns the worst max |Δ| / std.
    @discardableResult
    static func compare(_ f: ReferenceFixture, prefix p: String = "", tolerance: Float, tie: Float = 1e-3,
                        logits: (Int) throws -> [Float]) throws -> Float {
        let name = p.isEmpty ? f.name : "\(f.name) (\(p.dropLast()))"
        let topIDs = try f.ints(p + "top_ids"), topLogits = try f.floats(p + "top_logits")
        let probeIDs = try f.ints(p + "probe_ids").values, probeLogits = try f.floats(p + "probe_logits")
        let stats = try f.floats(p + "stats")
        let fullSteps = try f.ints(p + "full_steps").values, full = try f.floats(p + "full_logits")

        var worst: Float = 0, worstStep = 0, ties = 0, mismatches: [String] = []
        for step in 0 ..< topIDs.rows {
            let logits = try logits(step)
            let std = stats.row(step)[stats.row(step).startIndex + 1]
            let gap = stats.row(step)[stats.row(step).startIndex + 4]
            let ids = Array(topIDs.row(step)) + probeIDs
            let ref = Array(topLogits.row(step)) + Array(probeLogits.row(step))
            let c = Comparison("\(name) step \(step)", ours: ids.map { logits[$0] }, reference: ref, scale: std)
            if c.maxAbsDiffOverStd > worst { worst = c.maxAbsDiffOverStd; worstStep = step }
            #expect(c.maxAbsDiffOverStd <= tolerance, "\(c)")
            if let row = fullSteps.firstIndex(of: step) {
                // The full vector is stored as f16: only what exceeds its rounding counts.
                var beyond: Float = 0, at = 0
                for (i, r) in full.row(row).enumerated() {
                    let excess = abs(logits[i] - r) - Float(Float16(r).ulp) / 2
                    if excess > beyond { beyond = excess; at = i }
                }
                #expect(beyond / std <= tolerance,
                        "\(name) step \(step) (full f16 vector): |Δ| beyond f16 rounding \(beyond / std) × std at [\(at)], ours \(logits[at]) vs \(full.row(row)[full.row(row).startIndex + at])")
            }
            let ours = argmax(logits), theirs = topIDs.row(step).first!
            if ours != theirs {
                if gap < tie * std {
                    ties += 1
                } else {
                    mismatches.append("step \(step): ours \(ours) (\(logits[ours])) vs llama.cpp \(theirs) (\(logits[theirs])), reference gap \(gap)")
                }
            }
        }
        #expect(mismatches.isEmpty, "top-1 differs from llama.cpp: \(mismatches.joined(separator: "; "))")
        print("\(name): \(topIDs.rows) steps, max |Δ|/std = \(worst) (step \(worstStep)), top-1 ties \(ties), top-1 mismatches \(mismatches.count)")
        return worst
    }
}
