import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Options that isolate one stage: everything else off, temperature 1 (probabilities = softmax
/// of the logits the stage leaves).
private func only(topK: Int = 0, topP: Float = 1, minP: Float = 0, temperature: Float = 1,
                  repetitionPenalty: Float = 1, repetitionWindow: Int = 64, frequencyPenalty: Float = 0,
                  presencePenalty: Float = 0, seed: UInt64 = 1) -> GenerationOptions {
    GenerationOptions(temperature: temperature, topK: topK, topP: topP, minP: minP,
                      repetitionPenalty: repetitionPenalty, repetitionWindow: repetitionWindow,
                      frequencyPenalty: frequencyPenalty, presencePenalty: presencePenalty, seed: seed)
}

private func sampler(_ o: GenerationOptions) throws -> Sampler { try Sampler(options: o) }

/// Seeded pseudo-random logits, deliberately with repeated values (ties) now and then.
private func randomLogits(_ n: Int, seed: UInt64, spread: Float = 8) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0 ..< n).map { _ in (Float(Int.random(in: 0 ..< 4096, using: &rng)) / 4096 - 0.5) * spread }
}

/// The reference order: higher logit first, lower id on ties.
private func ranked(_ logits: [Float]) -> [Int] {
    logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
}

/// Softmax of `logits` in Double.
private func softmax(_ logits: [Float]) -> [Double] {
    let m = Double(logits.max()!)
    let e = logits.map { exp(Double($0) - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

@Suite("Sampler chain (llama.cpp's semantics)")
struct SamplerTests {
    // MARK: top-k

    @Test func topKKeepsExactlyTheKBest() throws {
        let logits = randomLogits(1000, seed: 3)
        for k in [1, 2, 10, 40, 999] {
            let d = try sampler(only(topK: k)).distribution(logits)
            #expect(d.count == k)
            #expect(d.map(\.token) == Array(ranked(logits).prefix(k)), "k = \(k)")
        }
        // 0 (and anything at or above the vocabulary size) keeps everything.
        #expect(try sampler(only(topK: 0)).distribution(logits).count == 1000)
        #expect(try sampler(only(topK: 1000)).distribution(logits).count == 1000)
        #expect(try sampler(only(topK: 5000)).distribution(logits).count == 1000)
    }

    @Test func topKAtVocabularyScaleMatchesAFullSort() throws {
        let logits = randomLogits(49280, seed: 11, spread: 20)
        let d = try sampler(only(topK: 40)).distribution(logits)
        #expect(d.map(\.token) == Array(ranked(logits).prefix(40)))
        // The probabilities are the softmax of the survivors.
        let expected = softmax(d.map { logits[$0.token] })
        for (p, e) in zip(d, expected) { #expect(abs(Double(p.probability) - e) < 1e-6) }
    }

    @Test func topKTiesAtTheCutKeepTheLowerIds() throws {
        let d = try sampler(only(topK: 2)).distribution([1, 3, 3, 3, 0])
        #expect(d.map(\.token) == [1, 2])
    }

    // MARK: top-p

    @Test func topPKeepsUntilTheCumulativeProbabilityReachesP() throws {
        // Four equal logits: probabilities exactly 0.25 each, so the boundaries are exact.
        let flat: [Float] = [0, 0, 0, 0]
        func kept(_ p: Float, topK: Int = 0) throws -> Int { try sampler(only(topK: topK, topP: p)).distribution(flat).count }
        #expect(try kept(0.5) == 2)          // 0.25 + 0.25 >= 0.5: the reaching token is included
        #expect(try kept(0.5000001) == 3)
        #expect(try kept(0.25) == 1)
        #expect(try kept(0.2) == 1)
        #expect(try kept(0) == 1)            // at least one token survives
        #expect(try kept(1) == 4)            // off
        #expect(try kept(0.5, topK: 3) == 2) // on the top-k survivors, renormalised: 1/3 + 1/3 >= 0.5

        // Unequal: probabilities ~ 0.64, 0.24, 0.09, 0.03.
        let logits: [Float] = [3, 2, 1, 0]
        let p = softmax(logits)
        let d = try sampler(only(topP: Float(p[0] + p[1]) + 1e-4)).distribution(logits)
        #expect(d.map(\.token) == [0, 1, 2])
        #expect(try sampler(only(topP: Float(p[0] + p[1]) - 1e-4)).distribution(logits).map(\.token) == [0, 1])
        #expect(try sampler(only(topP: Float(p[0]) - 1e-4)).distribution(logits).map(\.token) == [0])
    }

    @Test func topPOverTheWholeVocabularyMatchesAFullSort() throws {
        // Wide logits: the nucleus fits in the best 256; narrow ones: it does not, and the
        // sampler falls back to sorting everything. Both must equal the brute-force cut.
        for (spread, p) in [(Float(30), Float(0.9)), (Float(2), Float(0.5)), (Float(2), Float(0.95))] {
            let logits = randomLogits(20000, seed: 5, spread: spread)
            let order = ranked(logits)
            let probabilities = softmax(logits)
            var cumulative = 0.0, expectedCount = order.count
            for (i, t) in order.enumerated() {
                cumulative += probabilities[t]
                if cumulative >= Double(p) { expectedCount = i + 1; break }
            }
            let d = try sampler(only(topP: p)).distribution(logits)
            // Float accumulation (as llama.cpp's) may move the cut by a token or so at most.
            #expect(abs(d.count - expectedCount) <= 2, "spread \(spread), p \(p): \(d.count) vs \(expectedCount)")
            #expect(d.map(\.token) == Array(order.prefix(d.count)))
        }
        // Signs, both zeros (equal, so ordered by id) and heavy ties through the full sort.
        let levels: [Float] = [-1.5, -0.0, 0, 0.25, -3]
        let tied = (0 ..< 3000).map { levels[($0 * 7) % levels.count] }
        let d = try sampler(only(topP: 0.99)).distribution(tied)
        #expect(d.count > 256 && d.map(\.token) == Array(ranked(tied).prefix(d.count)))
    }

    // MARK: min-p

    @Test func minPDropsTokensBelowPTimesTheBest() throws {
        let logits: [Float] = [logf(0.04), 0, logf(0.1), logf(0.5)]
        for topK in [0, 4] {  // unsorted and sorted paths
            #expect(try sampler(only(topK: topK, minP: 0.05)).distribution(logits).map(\.token) == [1, 3, 2])
            // Exactly at the threshold: kept (p_i >= p * p_max).
            #expect(try sampler(only(topK: topK, minP: 0.1)).distribution(logits).map(\.token) == [1, 3, 2])
            #expect(try sampler(only(topK: topK, minP: 0.11)).distribution(logits).map(\.token) == [1, 3])
            #expect(try sampler(only(topK: topK, minP: 1)).distribution(logits).map(\.token) == [1])
            #expect(try sampler(only(topK: topK, minP: 0)).distribution(logits).count == 4)
        }
    }

    // MARK: penalties

    /// The logits the penalties left, recovered from the distribution (temperature 1, no
    /// filters): differences to token `reference` are exact up to rounding.
    private func penalised(_ logits: [Float], _ history: [Int], _ o: GenerationOptions, reference: Int) throws -> [Float] {
        let d = try sampler(o).distribution(logits, history: history)
        var p = [Float](repeating: 0, count: logits.count)
        for x in d { p[x.token] = x.probability }
        return p.map { logf($0 / p[reference]) }
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() throws {
        let logits: [Float] = [2, -1, 0.5, 0]
        let got = try penalised(logits, [0, 1], only(repetitionPenalty: 2), reference: 3)
        // Token 0: 2 / 2 = 1; token 1: -1 * 2 = -2; tokens 2 and 3 untouched.
        for (g, e) in zip(got, [Float(1), -2, 0.5, 0]) { #expect(abs(g - e) < 1e-5, "\(got)") }
        // Penalties > 1 always lower a repeated token, whatever its sign; a penalty < 1 favours it.
        let favoured = try penalised(logits, [0, 1], only(repetitionPenalty: 0.5), reference: 3)
        for (g, e) in zip(favoured, [Float(4), -0.5, 0.5, 0]) { #expect(abs(g - e) < 1e-5, "\(favoured)") }
    }

    @Test func penaltiesLookOnlyAtTheWindow() throws {
        let logits: [Float] = [2, -1, 1.5, 0]
        let history = [0, 1, 2]
        func check(_ window: Int, _ expected: [Float]) throws {
            let got = try penalised(logits, history, only(repetitionPenalty: 2, repetitionWindow: window), reference: 3)
            for (g, e) in zip(got, expected) { #expect(abs(g - e) < 1e-5, "window \(window): \(got)") }
        }
        try check(1, [2, -1, 0.75, 0])    // only the last token
        try check(2, [2, -2, 0.75, 0])
        try check(64, [1, -2, 0.75, 0])   // a window longer than the history: all of it
        try check(-1, [1, -2, 0.75, 0])   // -1: the whole history
        try check(0, [2, -1, 1.5, 0])     // 0: off
        // A repeat 100 tokens back is outside the default window of 64 but inside -1's.
        let long = [0] + [Int](repeating: 3, count: 100)
        let inside = try penalised(logits, long, only(repetitionPenalty: 2, repetitionWindow: -1), reference: 1)
        let outside = try penalised(logits, long, only(repetitionPenalty: 2), reference: 1)
        #expect(abs(inside[0] - (1 - -1)) < 1e-5 && abs(outside[0] - (2 - -1)) < 1e-5)
    }

    @Test func frequencyAndPresencePenaltiesSubtractPerOccurrenceAndOnce() throws {
        let logits: [Float] = [2, -1, 1.5, 0]
        let got = try penalised(logits, [2, 2, 0, 7_000, -5], only(frequencyPenalty: 0.5, presencePenalty: 0.25), reference: 3)
        // Token 2 twice: 1.5 - 2 × 0.5 - 0.25; token 0 once: 2 - 0.5 - 0.25; ids outside the
        // vocabulary are ignored.
        for (g, e) in zip(got, [Float(1.25), -1, 0.25, 0]) { #expect(abs(g - e) < 1e-5, "\(got)") }
    }

    @Test func greedyTakesThePenalisedArgmax() throws {
        var s = try sampler(.greedy)
        #expect(s.sample([2, 1.9, 0]) == 0)
        var penalised = try sampler(GenerationOptions(temperature: 0, repetitionPenalty: 1.1))
        #expect(penalised.sample([2, 1.9, 0], history: [0]) == 1)  // 2 / 1.1 < 1.9
        #expect(penalised.sample([2, 1.9, 0], history: [5, 6]) == 0)
    }

    // MARK: greedy and temperature

    @Test func greedyBreaksTiesOnTheFirstIndex() throws {
        var s = try sampler(.greedy)
        #expect(s.sample([1, 3, 3, 2]) == 1)
        #expect(s.sample([5, 5, 5]) == 0)
        #expect(s.sample([-1, -0.5, -0.5]) == 1)
        var vocabulary = [Float](repeating: 0, count: 49280)
        vocabulary[40000] = 1
        vocabulary[45000] = 1
        #expect(s.sample(vocabulary) == 40000)
        #expect(s.distribution(vocabulary) == [TokenProbability(token: 40000, probability: 1)])
        // The seed plays no part.
        var a = try sampler(GenerationOptions(temperature: 0, seed: 1)), b = try sampler(GenerationOptions(temperature: 0, seed: 2))
        let logits = randomLogits(500, seed: 9)
        for _ in 0 ..< 20 { #expect(a.sample(logits) == b.sample(logits)) }
    }

    @Test func temperatureScalesTheDistribution() throws {
        let logits: [Float] = [0, 1, 2]
        var topShare: [Float: Double] = [:]
        for t: Float in [0.5, 1, 2] {
            // The exact distribution is softmax(logits / t) ...
            let expected = softmax(logits.map { $0 / t })
            let o = only(temperature: t, seed: 42)
            let d = try sampler(o).distribution(logits)
            for x in d { #expect(abs(Double(x.probability) - expected[x.token]) < 1e-6) }
            // ... and the draws follow it. 20 000 draws with a fixed seed: deterministic, and the
            // bound (5 standard deviations, < 0.018) holds for any decent generator.
            var s = try sampler(o)
            var counts = [0, 0, 0]
            let draws = 20000
            for _ in 0 ..< draws { counts[s.sample(logits)] += 1 }
            for i in 0 ..< 3 {
                let share = Double(counts[i]) / Double(draws)
                let sigma = (expected[i] * (1 - expected[i]) / Double(draws)).squareRoot()
                #expect(abs(share - expected[i]) < 5 * sigma, "t \(t), token \(i): \(share) vs \(expected[i])")
            }
            topShare[t] = Double(counts[2]) / Double(draws)
        }
        // Colder is sharper.
        #expect(topShare[0.5]! > topShare[1]! && topShare[1]! > topShare[2]!)
    }

    @Test func theDefaultChainFiltersThenScales() throws {
        // Defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8. The filters see
        // temperature-1 probabilities; the survivors are then sharpened.
        let logits = randomLogits(49280, seed: 21, spread: 24)
        let d = try Sampler(options: GenerationOptions(seed: 1)).distribution(logits)
        var cut = Array(ranked(logits).prefix(40))
        let p40 = softmax(cut.map { logits[$0] })
        var cumulative = 0.0, n = cut.count
        for i in cut.indices { cumulative += p40[i]; if cumulative >= 0.95 { n = i + 1; break } }
        cut = Array(cut.prefix(n))
        cut = cut.filter { logits[$0] >= logits[cut[0]] + logf(0.05) }
        #expect(d.map(\.token) == cut)
        let expected = softmax(cut.map { logits[$0] / 0.8 })
        for (x, e) in zip(d, expected) { #expect(abs(Double(x.probability) - e) < 1e-5) }
    }

    // MARK: reproducibility

    @Test func theSameSeedGivesTheSameTokens() throws {
        let logits = randomLogits(2000, seed: 4, spread: 3)
        func run(_ seed: UInt64?) throws -> (tokens: [Int], seed: UInt64) {
            var s = try Sampler(options: GenerationOptions(topK: 0, topP: 1, minP: 0, seed: seed))
            var history: [Int] = []
            for _ in 0 ..< 64 { history.append(s.sample(logits, history: history)) }
            return (history, s.seed)
        }
        #expect(try run(7).tokens == run(7).tokens)
        #expect(try run(7).tokens != run(8).tokens)
        #expect(try run(7).seed == 7)
        // No seed: a random one each time, and reporting it reproduces the run.
        let a = try run(nil), b = try run(nil)
        #expect(a.seed != b.seed && a.tokens != b.tokens)
        #expect(try run(a.seed).tokens == a.tokens)
        // A copy carries the random state: both continue identically.
        var s = try Sampler(options: GenerationOptions(topK: 0, seed: 3))
        _ = s.sample(logits)
        var copy = s
        for _ in 0 ..< 10 { #expect(s.sample(logits) == copy.sample(logits)) }
    }

    // MARK: validation

    @Test func invalidOptionsAreTypedErrors() throws {
        func fails(_ o: GenerationOptions, _ e: GenerationOptionsError) {
            #expect(throws: e) { try o.validate() }
            #expect(throws: e) { try Sampler(options: o) }
        }
        fails(GenerationOptions(maxTokens: -1), .maxTokens(-1))
        fails(GenerationOptions(temperature: -0.1), .temperature(-0.1))
        fails(GenerationOptions(temperature: .infinity), .temperature(.infinity))
        fails(GenerationOptions(topK: -1), .topK(-1))
        fails(GenerationOptions(topP: 1.5), .topP(1.5))
        fails(GenerationOptions(topP: -0.1), .topP(-0.1))
        fails(GenerationOptions(minP: 2), .minP(2))
        fails(GenerationOptions(repetitionPenalty: 0), .repetitionPenalty(0))
        fails(GenerationOptions(repetitionPenalty: -1.1), .repetitionPenalty(-1.1))
        fails(GenerationOptions(repetitionWindow: -2), .repetitionWindow(-2))
        fails(GenerationOptions(frequencyPenalty: .infinity), .frequencyPenalty(.infinity))
        fails(GenerationOptions(presencePenalty: -.infinity), .presencePenalty(-.infinity))
        fails(GenerationOptions(stop: ["ok", ""]), .emptyStopString)
        #expect(throws: GenerationOptionsError.self) { try GenerationOptions(topP: .nan).validate() }

        // llama.cpp's "off" and special values are valid.
        for o in [GenerationOptions(), .greedy, GenerationOptions(maxTokens: 0, topK: 0, topP: 0, minP: 1, repetitionWindow: -1),
                  GenerationOptions(topP: 1, minP: 0, repetitionPenalty: 0.5, repetitionWindow: 0, frequencyPenalty: -2, presencePenalty: 2)] {
            #expect(throws: Never.self) { try o.validate() }
        }
        #expect(GenerationOptions.greedy.temperature == 0)
        #expect(GenerationOptions() == GenerationOptions(maxTokens: 256, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05,
                                                         repetitionPenalty: 1, repetitionWindow: 64, seed: nil, stop: []))
    }
}

@Suite("Stop strings")
struct StopStringMatcherTests {
    /// Feeds `pieces`, then finishes; returns everything emitted, whether (and which) stop string
    /// was hit, and what each step emitted.
    func run(_ stops: [String], _ pieces: [String]) -> (text: String, stop: String?, steps: [String]) {
        var m = StopStringMatcher(stops)
        var steps: [String] = []
        for piece in pieces {
            let out = m.feed(piece)
            steps.append(out.text)
            if let stop = out.stop { return (steps.joined(), stop, steps) }
        }
        steps.append(m.finish())
        return (steps.joined(), nil, steps)
    }

    @Test func aStopStringSplitAcrossPiecesIsFoundAndDropped() {
        let r = run(["</s>"], ["Hello <", "/s", ">tail"])
        #expect(r.text == "Hello " && r.stop == "</s>")
        #expect(r.steps == ["Hello ", "", ""])  // "<" and "</s" held back, never emitted
        // The text after it in the same piece is dropped too.
        #expect(run(["STOP"], ["abcSTOPdef"]) == ("abc", "STOP", ["abc"]))
    }

    @Test func aPrefixThatDoesNotBecomeAStopStringIsEmitted() {
        let r = run(["</s>"], ["a <", "b", " </", "p>"])
        #expect(r.steps == ["a ", "<b", " ", "</p>", ""])
        #expect(r.text == "a <b </p>" && r.stop == nil)
        // At the end, a held-back prefix is flushed.
        #expect(run(["</s>"], ["x </"]) == ("x </", nil, ["x ", "</"]))
        // The longest possible start is held: "aab" could still begin "aabc".
        #expect(run(["aabc"], ["xaab"]).steps.first == "x")
    }

    @Test func theEarliestOfSeveralStopStringsWins() {
        #expect(run(["World", "lo W"], ["Hello World"]) == ("Hel", "lo W", ["Hel"]))
        // Same start: the first in the list.
        #expect(run(["ab", "abc"], ["xabc"]).stop == "ab")
        #expect(run(["abc", "ab"], ["xabc"]).stop == "abc")
        // One completes while another is still partial.
        #expect(run(["<|im_end|>", "\n\n"], ["Hi<|im", "\n\nmore"]) == ("Hi<|im", "\n\n", ["Hi", "<|im"]))
    }

    @Test func multiByteCharactersAreNeverSplit() {
        // "日本" held back after "日", released or matched by the next piece.
        #expect(run(["日本"], ["今日は日", "本語"]) == ("今日は", "日本", ["今日は", ""]))
        #expect(run(["日本"], ["今日は日", "曜日"]) == ("今日は日曜日", nil, ["今日は", "日曜", "日"]))
        // Sharing a lead byte is not a partial match: "ã" (C3 A3) is no prefix of "é" (C3 A9).
        #expect(run(["é"], ["ã", "café!"]) == ("ãcaf", "é", ["ã", "caf"]))
        // Emoji with a modifier.
        #expect(run(["👋🏽"], ["hi 👋", "🏽 there"]) == ("hi ", "👋🏽", ["hi ", ""]))
        #expect(run(["👋🏽"], ["hi 👋", "!"]) == ("hi 👋!", nil, ["hi ", "👋!", ""]))
    }

    @Test func afterAMatchNothingMoreIsEmitted() {
        var m = StopStringMatcher(["x"])
        #expect(m.feed("axb") == .init(text: "a", stop: "x"))
        #expect(m.matched == "x")
        #expect(m.feed("more") == .init(text: ""))
        #expect(m.finish() == "")
        // No stop strings: everything passes straight through.
        var plain = StopStringMatcher([])
        #expect(plain.feed("a<") == .init(text: "a<"))
        #expect(plain.finish() == "")
    }
}

@Suite("Generation with options")
struct GenerationOptionsTests {
    static let tiny = ReferenceFixture.root.appendingPathComponent("models/tiny-text-q4_k_m.gguf").path

    @Test func greedyMatchesLlamaCppsTokens() throws {
        let f = try ReferenceFixture("generate-tiny-q4_k_m")
        let file = try GGUFFile(path: Self.tiny)
        let tokenizer = try Tokenizer(gguf: file)
        let context = try LlamaContext(model: LlamaModel(file: file), contextLength: 128, threads: 2)
        let reference = try f.ints("tokens").values
        let prompt = try f.ints("prompt").values
        var streamed = ""
        var options = GenerationOptions.greedy
        options.maxTokens = reference.count
        let result = try TextGenerator(context: context, tokenizer: tokenizer)
            .generate(prompt: prompt, options: options) { streamed += $0; return true }
        let expected = Array(reference.prefix { !tokenizer.isEndOfGeneration($0) })
        #expect(result.tokens == expected, "first difference at \(firstDifference(result.tokens, expected) ?? -1)")
        #expect(result.text == streamed)
        #expect(result.stopReason == (expected.count == reference.count ? .maxTokens : .endOfGeneration(token: reference[expected.count])))
    }

    @Test func aStopStringEndsGenerationAndIsNotReturned() throws {
        let file = try GGUFFile(path: Self.tiny)
        let model = try LlamaModel(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        let prompt = [1, 11126, 42]
        func run(_ options: GenerationOptions) throws -> (Generation, String) {
            let context = try LlamaContext(model: model, contextLength: 64, threads: 1)
            var streamed = ""
            let g = try TextGenerator(context: context, tokenizer: tokenizer)
                .generate(prompt: prompt, options: options) { streamed += $0; return true }
            return (g, streamed)
        }
        var options = GenerationOptions.greedy
        options.maxTokens = 24
        let (full, _) = try run(options)
        #expect(full.stopReason == .maxTokens && full.text.count > 12)
        // A stop string from the middle of the greedy text, spanning a token boundary or not.
        let chars = Array(full.text)
        let stop = String(chars[8 ..< 12])
        options.stop = ["never appears \u{1}", stop]
        let (cut, streamed) = try run(options)
        let before = String(full.text[..<full.text.range(of: stop)!.lowerBound])
        #expect(cut.stopReason == .stopString(stop))
        #expect(cut.text == before && streamed == before)
        #expect(cut.tokens == Array(full.tokens.prefix(cut.tokens.count)) && cut.tokens.count < full.tokens.count)
        // Invalid options are refused before anything is evaluated.
        options.topP = 2
        #expect(throws: GenerationOptionsError.topP(2)) { try run(options) }
    }

    @Test func seededSamplingThroughTheGeneratorIsReproducible() throws {
        let file = try GGUFFile(path: Self.tiny)
        let model = try LlamaModel(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        func run(_ seed: UInt64?) throws -> Generation {
            let context = try LlamaContext(model: model, contextLength: 64, threads: 1)
            // Wider filters than the defaults: the random tiny model's distributions are flat.
            let options = GenerationOptions(maxTokens: 16, temperature: 1.5, topK: 100, topP: 1, minP: 0,
                                            repetitionPenalty: 1.3, seed: seed)
            return try TextGenerator(context: context, tokenizer: tokenizer).generate(prompt: [1, 11126, 42], options: options)
        }
        let a = try run(7)
        #expect(a.seed == 7)
        #expect(try run(7).tokens == a.tokens)
        #expect(try run(8).tokens != a.tokens)
        let random = try run(nil)
        #expect(try run(random.seed).tokens == random.tokens)
    }
}
