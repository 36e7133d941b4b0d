import Foundation

/// Time spent in each phase of a generation, and the token counts, as llama.cpp reports them.
public struct GenerationTimings: Sendable, Equatable {
    /// All zero.
    public init() {}
    /// Positions the prompt took (image tiles included).
    public var promptTokens = 0
    /// Time to evaluate the prompt.
    public var promptSeconds = 0.0
    /// Tokens generated (end-of-generation tokens excluded).
    public var generatedTokens = 0
    /// Time from the first sample to the last, evaluations included.
    public var decodeSeconds = 0.0

    /// Prompt evaluation speed (0 before any prompt).
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decode speed (0 before any decode).
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
    /// The context had no room for another token.
    case contextFull
    /// The text contained this stop string (``GenerationOptions/stop``); the text before it was
    /// returned, the string itself and anything after it were not.
    case stopString(String)
}

/// Encoded as `{"reason": "end_of_generation", "token": 2}`, `{"reason": "max_tokens"}`,
/// `{"reason": "cancelled"}`, `{"reason": "context_full"}` or `{"reason": "stop_string",
/// "string": "…"}`.
extension StopReason: Codable {
    private enum CodingKeys: String, CodingKey { case reason, token, string }

    /// Reads the form written by ``encode(to:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let reason = try c.decode(String.self, forKey: .reason)
        switch reason {
        case "end_of_generation": self = .endOfGeneration(token: try c.decode(Int.self, forKey: .token))
        case "max_tokens": self = .maxTokens
        case "cancelled": self = .cancelled
        case "context_full": self = .contextFull
        case "stop_string": self = .stopString(try c.decode(String.self, forKey: .string))
        default:
            throw DecodingError.dataCorruptedError(forKey: .reason, in: c, debugDescription: "unknown stop reason '\(reason)'")
        }
    }

    /// Writes the reason's name and its value, if it has one.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .endOfGeneration(token):
            try c.encode("end_of_generation", forKey: .reason)
            try c.encode(token, forKey: .token)
        case .maxTokens: try c.encode("max_tokens", forKey: .reason)
        case .cancelled: try c.encode("cancelled", forKey: .reason)
        case .contextFull: try c.encode("context_full", forKey: .reason)
        case let .stopString(s):
            try c.encode("stop_string", forKey: .reason)
            try c.encode(s, forKey: .string)
        }
    }
}

/// The result of one generation.
public struct Generation: Sendable {
    /// Every sampled token, end-of-generation tokens excluded; after a stop string, this
    /// includes the tokens that spelled it (the text does not).
    public var tokens: [Int]
    /// The generated text, exactly what was streamed to `onText`.
    public var text: String
    /// Why generation ended.
    public var stopReason: StopReason
    /// Prompt and decode timings.
    public var timings: GenerationTimings
    /// The sampler's seed (``Sampler/seed``): the one given, or the random one chosen when
    /// ``GenerationOptions/seed`` was nil. Passing it back reproduces the run.
    public var seed: UInt64
}

/// Token selection for the original entry points: temperature and seed only, no filters.
/// ``GenerationOptions`` supersedes it (llama.cpp's whole default chain, stop strings).
@available(*, deprecated, message: "use GenerationOptions and the generate(…options:…) entry points")
public struct SamplingOptions: Sendable {
    /// 0 (the default) is greedy; above 0, a draw from the whole vocabulary's softmax at this
    /// temperature.
    public var temperature: Float = 0
    /// The draw's seed.
    public var seed: UInt64 = 0
    /// Greedy unless a temperature is given.
    public init(temperature: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature
        self.seed = seed
    }
}

/// Prefill, then decode one token at a time until an end-of-generation token, a stop string or
/// `maxTokens`.
public struct TextGenerator {
    /// The context the prompt is evaluated in and generation continues.
    public let context: LlamaContext
    /// Turns sampled tokens into the streamed text.
    public let tokenizer: Tokenizer

    /// A generator over `context` (at its current position) with `tokenizer`.
    public init(context: LlamaContext, tokenizer: Tokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Generates after `prompt` (evaluated at the context's current position). `onText` receives
    /// each piece of text as soon as it forms whole characters and cannot be the start of a stop
    /// string; returning false stops generation.
    ///
    /// The penalties see `history` (the tokens already in the context before `prompt`, if the
    /// caller wants them counted), then the prompt, then the generated tokens — as llama.cpp's
    /// `llama-completion` feeds the prompt to its sampler.
    ///
    /// - Throws: ``GenerationOptionsError`` for invalid options (before any evaluation), or the
    ///   context's ``ModelError``.
    public func generate(prompt: [Int], options: GenerationOptions, history: [Int] = [],
                         onText: (String) -> Bool = { _ in true }) throws -> Generation {
        try options.validate()
        let clock = ContinuousClock()
        let start = clock.now
        let logits = try context.evaluate(tokens: prompt)
        var timings = GenerationTimings()
        timings.promptTokens = prompt.count
        timings.promptSeconds = (clock.now - start).seconds
        return try run(after: logits, timings: timings, options: options, history: history + prompt, onText: onText)
    }

    /// Generates from `logits`, the output of a prefill the caller ran (e.g. a prompt with
    /// images, ``LlamaContext/evaluate(_:images:)``); `timings` carries its prompt figures.
    /// The penalties see `history` then the generated tokens; the default, none, is what
    /// llama.cpp's `llama-mtmd-cli` does (its sampler sees only generated tokens).
    ///
    /// - Throws: ``GenerationOptionsError`` for invalid options, or the context's ``ModelError``.
    public func generate(after logits: [Float], timings: GenerationTimings, options: GenerationOptions,
                         history: [Int] = [], onText: (String) -> Bool = { _ in true }) throws -> Generation {
        return try run(after: logits, timings: timings, options: options, history: history, onText: onText)
    }

    /// The original entry point: `sampling`'s temperature over the whole vocabulary.
    @available(*, deprecated, message: "use generate(prompt:options:history:onText:)")
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .init(),
                         onText: (String) -> Bool = { _ in true }) throws -> Generation {
        try generate(prompt: prompt, options: Self.options(maxTokens, sampling), onText: onText)
    }

    /// The original entry point: `sampling`'s temperature over the whole vocabulary.
    @available(*, deprecated, message: "use generate(after:timings:options:history:onText:)")
    public func generate(after logits: [Float], timings: GenerationTimings, maxTokens: Int,
                         sampling: SamplingOptions = .init(),
                         onText: (String) -> Bool = { _ in true }) throws -> Generation {
        try generate(after: logits, timings: timings, options: Self.options(maxTokens, sampling), onText: onText)
    }

    /// What ``SamplingOptions`` meant, as ``GenerationOptions``: every filter off.
    @available(*, deprecated)
    private static func options(_ maxTokens: Int, _ s: SamplingOptions) -> GenerationOptions {
        GenerationOptions(maxTokens: max(0, maxTokens), temperature: max(0, s.temperature), topK: 0, topP: 1,
                          minP: 0, seed: s.seed)
    }

    private func run(after logits: [Float], timings: GenerationTimings, options: GenerationOptions,
                     history: [Int], onText: (String) -> Bool) throws -> Generation {
        var timings = timings
        var loop = try DecodeLoop(options: options, tokenizer: tokenizer, history: history)
        var declined = false
        let clock = ContinuousClock()
        let decodeStart = clock.now
        try context.run(&loop, from: logits, evaluatingLastToken: false, shouldStop: { declined }) { piece in
            if !onText(piece) { declined = true }
        }
        timings.generatedTokens = loop.tokens.count
        timings.decodeSeconds = (clock.now - decodeStart).seconds
        return Generation(tokens: loop.tokens, text: loop.text, stopReason: loop.stopReason ?? .cancelled,
                          timings: timings, seed: loop.seed)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (timings and benchmarks report these).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
