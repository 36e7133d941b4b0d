import ReferenceFixtures
import Testing

@Suite("Reference fixture loader")
struct ReferenceFixturesTests {
    @Test func generationCaseIsSelfConsistent() throws {
        let f = try ReferenceFixture("generate-smollm2-q4_1")
        #expect(f["kind"]?.string == "generation")
        let steps = try #require(f["steps"]?.int)
        let vocab = try #require(f["vocab"]?.int)
        #expect(steps >= 64)
        #expect(vocab == 49152)
        let tokens = try f.ints("tokens")
        let topIDs = try f.ints("top_ids")
        let full = try f.floats("full_logits")
        let fullSteps = try f.ints("full_steps")
        let stats = try f.floats("stats")
        #expect(tokens.values.count == steps)
        #expect(topIDs.shape == [steps, 64])
        #expect(full.shape == [fullSteps.values.count, vocab])
        for (row, step) in fullSteps.values.enumerated() {
            // Greedy: the chosen token is the reference's best, in the full vector and the top list.
            #expect(argmax(full.row(row)) == tokens.values[step])
            #expect(topIDs.row(step).first == tokens.values[step])
            // The stored statistics describe the full vector (f16 storage: loose bound).
            let c = Comparison("std", ours: [std(full.row(row))], reference: [stats.row(step)[stats.row(step).startIndex + 1]])
            #expect(c.maxAbsDiff < 1e-2, "\(c)")
        }
        #expect(try f.ints("prompt").values.first == 1)  // <|im_start|>
    }

    @Test func visionCaseIsSelfConsistent() throws {
        let f = try ReferenceFixture("vision-tiny-q8_0-motorcycle-1024x768")
        #expect(f["kind"]?.string == "vision")
        let nTiles = try #require(f["preprocess"]?["n_tiles"]?.int)
        let gridX = try #require(f["preprocess"]?["grid_x"]?.int), gridY = try #require(f["preprocess"]?["grid_y"]?.int)
        #expect(nTiles == gridX * gridY + 1)  // slices plus the overview
        #expect(f["preprocess"]?["tiles"]?.array?.count == nTiles)
        // The flat sequence: one token id per position, -1 where an image embedding goes.
        let sequence = try f.ints("sequence_tokens").values
        let tiles = try f.ints("sequence_tile").values
        #expect(sequence.count == f["n_pos"]?.int)
        #expect(sequence.filter { $0 == -1 }.count == 64 * nTiles)
        #expect(zip(sequence, tiles).allSatisfy { ($0 == -1) == ($1 >= 0) })
        // Chunks, in order, cover every position exactly once.
        let chunks = try #require(f["chunks"]?.array)
        #expect(chunks.compactMap { $0["n_pos"]?.int }.reduce(0, +) == sequence.count)
        let embd = try f.floats("embd_full")
        #expect(embd.shape.prefix(2) == [nTiles, 64])
        #expect(embd.values.allSatisfy { $0.isFinite })
        let steps = try f.ints("tokens").values.count
        #expect(steps == f["steps"]?.int)
    }

    @Test func missingFixtureIsAnError() {
        #expect(throws: ReferenceFixture.LoadError.self) { try ReferenceFixture("no-such-case") }
    }

    @Test func comparisonFindsTheWorstElement() {
        let c = Comparison("t", ours: [1, 2, 3.5, 4], reference: [1, 2, 3, 4])
        #expect(c.maxAbsDiff == 0.5)
        #expect(c.worstIndex == 2)
        #expect(c.oursAtWorst == 3.5 && c.referenceAtWorst == 3)
        #expect(abs(c.referenceStd - 1.118034) < 1e-5)
        #expect(c.description.contains("[2]"))
        let same = Comparison("same", ours: [1, 2], reference: [1, 2])
        #expect(same.maxAbsDiff == 0 && same.relativeError == 0)
        let nan = Comparison("nan", ours: [Float.nan, 2], reference: [1, 2])
        #expect(nan.maxAbsDiff.isNaN)
    }

    @Test func topKAndFirstDifference() {
        let t = TopKAgreement(ours: [0.1, 3, 2, 5], referenceTop: [3, 1, 0], k: 2)
        #expect(t.top1Agrees)
        #expect(t.oursTop == [3, 1])
        #expect(t.overlap == 1)
        let u = TopKAgreement(ours: [0.1, 3, 2, 5], referenceTop: [1, 3], k: 2)
        #expect(!u.top1Agrees)
        #expect(firstDifference([1, 2, 3], [1, 2, 4]) == 2)
        #expect(firstDifference([1, 2], [1, 2]) == nil)
        #expect(firstDifference([1, 2], [1, 2, 3]) == 2)
    }

    private func std(_ v: ArraySlice<Float>) -> Float {
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let varSum = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
        return Float((varSum / n).squareRoot())
    }
}
