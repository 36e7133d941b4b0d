/// One generation, a token at a time: sampling, the streamed text, stop strings, and why it
/// ended. Every generating path drives one of these — ``TextGenerator``, ``ChatSession`` and a
/// server's batched decode, which evaluates the tokens of many loops in one forward pass — so
/// they sample, stop and stream alike.
///
/// Call ``next(logits:hasRoom:)`` with the logits of the last evaluated position; it answers
/// with a token to evaluate (and the text it completed) or with the end of the generation.
public struct DecodeLoop: Sendable {
    /// What ``next(logits:hasRoom:)`` decided.
    public enum Step: Sendable, Equatable {
        /// Evaluate `token` and pass its logits to the next call; `text` is what it completed
        /// (empty while a character or a possible stop string is incomplete).
        case token(Int, text: String)
        /// The generation ended (``DecodeLoop/stopReason`` says why); `text` is the last piece
        /// (bytes that were held back), often empty.
        case finished(text: String)
    }

    /// Every sampled token (end-of-generation tokens excluded; after a stop string, including
    /// the tokens that spelled it).
    public private(set) var tokens: [Int] = []
    /// The text streamed so far.
    public private(set) var text = ""
    /// Why the generation ended; nil while it runs.
    public private(set) var stopReason: StopReason?
    /// The options the generation runs with.
    public var options: GenerationOptions { sampler.options }
    /// The sampler's seed: the one given, or the random one chosen.
    public var seed: UInt64 { sampler.seed }

    private var sampler: Sampler
    private var history: [Int]
    private var decoder: StreamingDecoder
    private var stops: StopStringMatcher
    private let tokenizer: Tokenizer

    /// A generation with `options`; the penalties see `history` then the generated tokens.
    ///
    /// - Throws: ``GenerationOptionsError`` for invalid options.
    public init(options: GenerationOptions, tokenizer: Tokenizer, history: [Int] = []) throws(GenerationOptionsError) {
        sampler = try Sampler(options: options)
        self.history = history
        self.tokenizer = tokenizer
        decoder = tokenizer.streamingDecoder()
        stops = StopStringMatcher(options.stop)
    }

    /// True once ``GenerationOptions/maxTokens`` tokens were sampled: the next call ends the
    /// generation without reading its logits, so the last token need not be evaluated.
    public var isExhausted: Bool { tokens.count >= sampler.options.maxTokens }

    /// Samples the next token from `logits`. `hasRoom` says whether the context can take
    /// another position; without room the generation ends with ``StopReason/contextFull``.
    public mutating func next(logits: [Float], hasRoom: Bool) -> Step {
        guard stopReason == nil else { return .finished(text: "") }
        if isExhausted { return finish(.maxTokens) }
        let token = sampler.sample(logits, history: history)
        if tokenizer.isEndOfGeneration(token) { return finish(.endOfGeneration(token: token)) }
        guard hasRoom else { return finish(.contextFull) }
        tokens.append(token)
        history.append(token)
        let out = stops.feed(decoder.append(token))
        text += out.text
        if let hit = out.stop {
            stopReason = .stopString(hit)
            return .finished(text: out.text)
        }
        return .token(token, text: out.text)
    }

    /// Ends the generation for `reason` (the caller's: ``StopReason/cancelled``), releasing the
    /// text held back.
    public mutating func stop(_ reason: StopReason = .cancelled) -> Step {
        guard stopReason == nil else { return .finished(text: "") }
        return finish(reason)
    }

    private mutating func finish(_ reason: StopReason) -> Step {
        stopReason = reason
        // Bytes the decoder held (an incomplete character) can still complete a stop string.
        let out = stops.feed(decoder.finish())
        if let hit = out.stop, reason != .cancelled { stopReason = .stopString(hit) }
        let tail = out.text + stops.finish()
        text += tail
        return .finished(text: tail)
    }
}

extension LlamaContext {
    /// Runs `loop` to its end on this context from `logits` (a prefill's), one token per
    /// forward pass: the single-stream driver of ``DecodeLoop``.
    ///
    /// - Parameters:
    ///   - evaluatingLastToken: evaluate the token that exhausts the budget too (a conversation
    ///     wants the whole answer in the cache; a one-shot generation does not).
    ///   - shouldStop: asked before each token and after each piece; true ends the generation
    ///     as ``StopReason/cancelled``.
    ///   - evaluated: called with each token once it is in the cache.
    ///   - emit: receives each piece of text.
    func run(_ loop: inout DecodeLoop, from logits: [Float], evaluatingLastToken: Bool,
             shouldStop: () -> Bool, evaluated: (Int) -> Void = { _ in }, emit: (String) -> Void) throws {
        var logits = logits
        while true {
            let step = shouldStop() ? loop.stop(.cancelled) : loop.next(logits: logits, hasRoom: position < capacity)
            switch step {
            case let .finished(text):
                if !text.isEmpty { emit(text) }
                return
            case let .token(token, text):
                if !text.isEmpty { emit(text) }
                if shouldStop() { continue }
                if loop.isExhausted && !evaluatingLastToken { continue }
                logits = try evaluate(tokens: [token])
                evaluated(token)
            }
        }
    }
}
