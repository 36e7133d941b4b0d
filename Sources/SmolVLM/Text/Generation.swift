import Foundation

/// Time spent in each phase of a generation, and the token counts, as llama.cpp reports them.
public struct GenerationTimings: Sendable, Equatable {
    public init() {}
    public var promptTokens = 0
    public var promptSeconds = 0.0
    public var generatedTokens = 0
    public var decodeSeconds = 0.0

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }
}

/// Why generation ended.
public enum StopReason: Sendable, Equatable {
    /// The model produced an end-of-generation token (EOS, EOT, `<end_of_utterance>` …).
    case endOfGeneration(token: Int)
    /// `maxTokens` tokens were produced.
    case maxTokens
    /// The caller asked to stop.
    case cancelled
}

/// The result of one generation.
public struct Generation: Sendable {
    public var tokens: [Int]
    public var text: String
    public var stopReason: StopReason
    public var timings: GenerationTimings
}

/// Token selection. Greedy (temperature 0) picks the most likely token, first on ties, as
/// llama.cpp's greedy sampler does.
public struct SamplingOptions: Sendable {
    public var temperature: Float = 0
    public var seed: UInt64 = 0
    public init(temperature: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature
        self.seed = seed
    }
}

/// Prefill, then decode one token at a time until an end-of-generation token or `maxTokens`.
public struct TextGenerator {
    public let context: LlamaContext
    public let tokenizer: Tokenizer

    public init(context: LlamaContext, tokenizer: Tokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Generates after `prompt` (evaluated at the context's current position). `onText` receives
    /// each piece of text as soon as it forms whole characters; returning false stops generation.
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .init(),
                         onText: (String) -> Bool = { _ in true }) throws -> Generation {
        let clock = ContinuousClock()
        let start = clock.now
        let logits = try context.evaluate(tokens: prompt)
        var timings = GenerationTimings()
        timings.promptTokens = prompt.count
        timings.promptSeconds = (clock.now - start).seconds
        return try generate(after: logits, timings: timings, maxTokens: maxTokens, sampling: sampling, onText: onText)
    }

    /// Generates from `logits`, the output of a prefill the caller ran (e.g. a prompt with
    /// images, ``LlamaContext/evaluate(_:images:)``); `timings` carries its prompt figures.
    public func generate(after logits: [Float], timings: GenerationTimings, maxTokens: Int,
                         sampling: SamplingOptions = .init(),
                         onText: (String) -> Bool = { _ in true }) throws -> Generation {
        var timings = timings
        var logits = logits
        let clock = ContinuousClock()
        var rng = SplitMix64(seed: sampling.seed)
        var decoder = tokenizer.streamingDecoder()
        var tokens: [Int] = []
        var text = ""

        var stop = StopReason.maxTokens
        let decodeStart = clock.now
        while tokens.count < maxTokens {
            let token = pick(logits, sampling, &rng)
            if tokenizer.isEndOfGeneration(token) { stop = .endOfGeneration(token: token); break }
            tokens.append(token)
            let piece = decoder.append(token)
            text += piece
            if !piece.isEmpty && !onText(piece) { stop = .cancelled; break }
            if tokens.count == maxTokens { break }
            logits = try context.evaluate(tokens: [token])
        }
        let tail = decoder.finish()
        if !tail.isEmpty { text += tail; _ = onText(tail) }
        timings.generatedTokens = tokens.count
        timings.decodeSeconds = (clock.now - decodeStart).seconds
        return Generation(tokens: tokens, text: text, stopReason: stop, timings: timings)
    }

    private func pick(_ logits: [Float], _ s: SamplingOptions, _ rng: inout SplitMix64) -> Int {
        if s.temperature <= 0 {
            var best = 0
            for i in 1 ..< logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        let maxLogit = logits.max() ?? 0
        let weights = logits.map { expf(($0 - maxLogit) / s.temperature) }
        var r = Float.random(in: 0 ..< 1, using: &rng) * weights.reduce(0, +)
        for i in weights.indices {
            r -= weights[i]
            if r <= 0 { return i }
        }
        return logits.count - 1  // rounding left a sliver of probability mass at the end
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (timings and benchmarks report these).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
