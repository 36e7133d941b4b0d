/// Everything that decides which tokens a generation produces and when it ends: the sampler
/// chain's settings (llama.cpp's `common_params_sampling`, same names, same defaults, same
/// "off" values), the token budget and stop strings.
///
/// The defaults are llama.cpp's, so `GenerationOptions()` samples as `llama-cli` does with no
/// sampling flags: penalties (off by default), top-k 40, top-p 0.95, min-p 0.05, temperature
/// 0.8, then a seeded draw. ``greedy`` is the deterministic preset.
///
/// Out-of-range values are errors, not clamped: ``validate()`` throws a
/// ``GenerationOptionsError`` naming the value, and ``Sampler/init(options:)`` and
/// ``TextGenerator`` call it. (llama.cpp's server silently clamps most of these; a library
/// caller that passes `topP: 1.5` more likely has a bug than a wish.) The values llama.cpp
/// gives a meaning to — `topK <= 0`, `topP == 1`, `minP == 0`, `temperature == 0`,
/// `repetitionWindow == -1` — are valid and mean what they mean there.
public struct GenerationOptions: Sendable, Equatable {
    /// Tokens to generate at most (default 256; must be ≥ 0). llama.cpp's `-n` defaults to -1,
    /// "until the context is full or an end-of-generation token"; ours is bounded so that a
    /// library call always ends, and a caller wanting more says so.
    public var maxTokens: Int

    /// Softmax temperature, applied after the filters (default 0.8, as llama.cpp's `--temp`;
    /// must be finite and ≥ 0). Values below 1 sharpen the distribution, above 1 flatten it.
    /// 0 is greedy: the most likely token after the penalties, the lowest id on ties, and the
    /// filters and seed play no part.
    public var temperature: Float

    /// Keep only the `topK` most likely tokens (default 40, as llama.cpp's `--top-k`; must be
    /// ≥ 0). 0 turns the filter off (llama.cpp: "<= 0 to use vocab size"); a value at or above
    /// the vocabulary size keeps everything. Ties at the cut keep the lower ids.
    public var topK: Int

    /// Nucleus sampling: keep the most likely tokens until their probabilities, at temperature 1,
    /// add up to at least `topP` (default 0.95, as llama.cpp's `--top-p`; must be in 0...1).
    /// At least one token is always kept, so 0 keeps only the most likely; 1 turns it off.
    public var topP: Float

    /// Drop tokens whose probability is below `minP` times the most likely token's (default
    /// 0.05, as llama.cpp's `--min-p`; must be in 0...1). 0 turns it off.
    public var minP: Float

    /// llama.cpp's `--repeat-penalty` (default 1.0 = off; must be finite and > 0): each token
    /// that occurs in the last ``repetitionWindow`` tokens of the history has its logit divided
    /// by this value when positive and multiplied by it when zero or negative, so values above
    /// 1 make repeats less likely whatever the logit's sign.
    public var repetitionPenalty: Float

    /// How many of the most recent history tokens the penalties look at: llama.cpp's
    /// `--repeat-last-n` (default 64). 0 turns all three penalties off; -1 means the whole
    /// history (the classic llama.cpp meaning, "-1 = context size": the history passed to the
    /// sampler is what the context holds). Values below -1 are errors. (Current llama.cpp's CLI
    /// and server refuse negatives and its library clamps them to 0; we keep the documented
    /// -1.)
    public var repetitionWindow: Int

    /// llama.cpp's `--frequency-penalty` (default 0 = off; must be finite): subtracted from a
    /// token's logit once per occurrence in the penalty window.
    public var frequencyPenalty: Float

    /// llama.cpp's `--presence-penalty` (default 0 = off; must be finite): subtracted once from
    /// the logit of every token that occurs in the penalty window.
    public var presencePenalty: Float

    /// Seed of the sampler's random draws (default nil: a fresh random seed each run, as
    /// llama.cpp's `LLAMA_DEFAULT_SEED`). The same seed, options, model and prompt give the same
    /// tokens on every run. The generator is SplitMix64, not llama.cpp's `std::mt19937`, so
    /// a seed does not reproduce llama.cpp's own sampled tokens — only greedy output is
    /// comparable across the two.
    public var seed: UInt64?

    /// Stop strings (default none; none may be empty): generation ends as soon as the decoded
    /// text contains one, and neither it nor anything after it is returned or streamed, as
    /// llama.cpp's server does with `stop`. The earliest match wins; on a tie, the first in the
    /// list.
    public var stop: [String]

    /// Options with llama.cpp's sampling defaults, each overridable.
    public init(maxTokens: Int = 256, temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95,
                minP: Float = 0.05, repetitionPenalty: Float = 1, repetitionWindow: Int = 64,
                frequencyPenalty: Float = 0, presencePenalty: Float = 0, seed: UInt64? = nil,
                stop: [String] = []) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.seed = seed
        self.stop = stop
    }

    /// Greedy decoding (temperature 0), otherwise the defaults: deterministic, and the tokens
    /// llama.cpp's `--temp 0` produces.
    public static let greedy = GenerationOptions(temperature: 0)

    /// Whether the penalties stage changes anything (llama.cpp skips it under the same test).
    var penaltiesActive: Bool {
        repetitionWindow != 0 && (repetitionPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0)
    }

    /// Throws the first out-of-range value, checked in declaration order.
    public func validate() throws(GenerationOptionsError) {
        if maxTokens < 0 { throw .maxTokens(maxTokens) }
        if !(temperature.isFinite && temperature >= 0) { throw .temperature(temperature) }
        if topK < 0 { throw .topK(topK) }
        if !(0 ... 1).contains(topP) { throw .topP(topP) }  // NaN fails `contains` too
        if !(0 ... 1).contains(minP) { throw .minP(minP) }
        if !(repetitionPenalty.isFinite && repetitionPenalty > 0) { throw .repetitionPenalty(repetitionPenalty) }
        if repetitionWindow < -1 { throw .repetitionWindow(repetitionWindow) }
        if !frequencyPenalty.isFinite { throw .frequencyPenalty(frequencyPenalty) }
        if !presencePenalty.isFinite { throw .presencePenalty(presencePenalty) }
        if stop.contains(where: \.isEmpty) { throw .emptyStopString }
    }
}

/// An out-of-range ``GenerationOptions`` value; each case carries the value given.
public enum GenerationOptionsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `maxTokens` is negative.
    case maxTokens(Int)
    /// `temperature` is negative or not finite.
    case temperature(Float)
    /// `topK` is negative.
    case topK(Int)
    /// `topP` is outside 0...1.
    case topP(Float)
    /// `minP` is outside 0...1.
    case minP(Float)
    /// `repetitionPenalty` is zero, negative or not finite.
    case repetitionPenalty(Float)
    /// `repetitionWindow` is below -1.
    case repetitionWindow(Int)
    /// `frequencyPenalty` is not finite.
    case frequencyPenalty(Float)
    /// `presencePenalty` is not finite.
    case presencePenalty(Float)
    /// `stop` contains an empty string, which would match before the first token.
    case emptyStopString

    /// The problem in the CLI's words (flag names as llama.cpp spells them).
    public var description: String {
        switch self {
        case let .maxTokens(v): "max tokens (-n) must not be negative, got \(v)"
        case let .temperature(v): "temperature must be finite and at least 0, got \(v)"
        case let .topK(v): "top-k must be at least 0 (0 = off), got \(v)"
        case let .topP(v): "top-p must be between 0 and 1 (1 = off), got \(v)"
        case let .minP(v): "min-p must be between 0 and 1 (0 = off), got \(v)"
        case let .repetitionPenalty(v): "repeat penalty must be finite and above 0 (1 = off), got \(v)"
        case let .repetitionWindow(v): "repeat-last-n must be at least -1 (-1 = whole history, 0 = off), got \(v)"
        case let .frequencyPenalty(v): "frequency penalty must be finite, got \(v)"
        case let .presencePenalty(v): "presence penalty must be finite, got \(v)"
        case .emptyStopString: "stop strings must not be empty"
        }
    }
}
