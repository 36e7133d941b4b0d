import Foundation
import Logging
import Synchronization

/// Errors of a ``ChatSession`` beyond those of its model, images and context.
public enum ChatSessionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `respond(to:)` was called while the previous answer was still being generated.
    case busy
    /// The message has images but the session's model was loaded without an mmproj file.
    case noVisionModel(images: Int)

    public var description: String {
        switch self {
        case .busy: "the session is still answering the previous message; await it or cancel it first"
        case let .noVisionModel(n): "the message has \(n) image\(n == 1 ? "" : "s") but the model was loaded without a vision (mmproj) file"
        }
    }
}

/// A conversation with a ``SmolVLMModel``: its own KV cache, turns that build on each other,
/// and answers streamed as they are generated.
///
/// Earlier turns stay in the KV cache: a new message costs only its own tokens (and its images'
/// encoding). After ``reset()`` the cache is kept too, and the next prompt reuses the longest
/// prefix it shares with what the cache holds — a fixed system prompt and template head are
/// evaluated once, not once per camera frame.
///
/// One answer at a time: a call while one is being generated fails with
/// ``ChatSessionError/busy``. Generation runs on its own thread, so awaiting callers never block
/// the cooperative thread pool.
public final class ChatSession: @unchecked Sendable {
    /// What to do when a message does not fit in the context with the conversation before it.
    public enum OverflowPolicy: Sendable, Equatable {
        /// Fail the turn with ``ModelError/contextOverflow(needed:capacity:)``.
        case error
        /// Forget the oldest turns (never the system prompt or the new message) until it fits.
        case dropOldestTurns
    }

    /// How a session is set up.
    public struct Configuration: Sendable {
        /// Positions the KV cache holds; nil: the smaller of the model's context and 4096.
        public var contextLength: Int?
        /// Threads for the model's matrix products; nil: the active processor count.
        public var threads: Int?
        /// Text placed before the first user turn, in the template's system slot.
        public var systemPrompt: String?
        /// What to do when a turn does not fit in the context; default ``OverflowPolicy/error``.
        public var overflow: OverflowPolicy
        /// Tile budget per image (1: no slicing, 64 positions per image); nil: as llama.cpp.
        public var maxTiles: Int?
        /// Decodes image files and data (its pixel limit applies).
        public var imageDecoder: ImageDecoder
        /// Keep the logits each turn's first token is drawn from in ``ChatResult/promptLogits``
        /// (a vocabulary of floats per turn: for comparing against a reference).
        public var recordsPromptLogits: Bool

        /// A configuration; every parameter defaults to the property's documented default.
        /// - Parameters:
        ///   - contextLength: positions the KV cache holds; nil: the smaller of the model's context and 4096.
        ///   - threads: threads for the matrix products; nil: the active processor count.
        ///   - systemPrompt: text for the template's system slot before the first user turn; nil: none.
        ///   - overflow: what to do when a turn does not fit; default ``OverflowPolicy/error``.
        ///   - maxTiles: tile budget per image (1 turns slicing off); nil: slice as llama.cpp does.
        ///   - imageDecoder: decodes image files and data; default ``ImageDecoder/init(maxPixels:)``'s limit.
        ///   - recordsPromptLogits: keep each turn's first-token logits in ``ChatResult/promptLogits``.
        public init(contextLength: Int? = nil, threads: Int? = nil, systemPrompt: String? = nil,
                    overflow: OverflowPolicy = .error, maxTiles: Int? = nil, imageDecoder: ImageDecoder = ImageDecoder(),
                    recordsPromptLogits: Bool = false) {
            self.contextLength = contextLength
            self.threads = threads
            self.systemPrompt = systemPrompt
            self.overflow = overflow
            self.maxTiles = maxTiles
            self.imageDecoder = imageDecoder
            self.recordsPromptLogits = recordsPromptLogits
        }
    }

    /// The model pair this session runs; shared, read-only, with any other sessions on it.
    public let model: SmolVLMModel
    /// The settings the session was created with.
    public let configuration: Configuration

    private let context: LlamaContext
    private let layout: ImagePromptLayout?
    private let preprocessor: Idefics3Preprocessor?
    private let logger: Logger
    private let busy = Atomic<Bool>(false)

    // Conversation state, touched only by the thread that holds `busy`.
    private struct Turn {
        var user: String
        var images: [ImageEmbeddings]
        var imageIDs: [ImageID]
        var assistant: String
    }
    private var turns: [Turn] = []
    /// What the KV cache holds, so a new prompt can reuse its longest match.
    private var cache = PromptCache()
    /// The template text that tokenizes to `cache`, when known: a new turn whose rendered
    /// conversation extends it needs only the extension tokenized.
    private var cachedText: String? = ""
    private var imageCounter: UInt64 = 0
    /// Embeddings of the images whose positions may be in the cache.
    private var imageStore: [ImageID: ImageEmbeddings] = [:]

    /// A session with its own KV cache and threads over a shared model. To answer several
    /// conversations at once on one set of threads, use ``ServingEngine``: it batches their
    /// decoding steps.
    ///
    /// - Parameters:
    ///   - model: the model pair; shared, read-only.
    ///   - configuration: context length, threads, system prompt and image settings.
    ///   - logger: where the session logs.
    /// - Throws: ``ModelError`` for a bad context length, ``Idefics3Preprocessor/Error`` for a bad
    ///   tile budget.
    public convenience init(model: SmolVLMModel, configuration: Configuration = Configuration(),
                            logger: Logger = Logger(label: "smolvlm.session")) throws {
        try self.init(model: model, configuration: configuration, pool: nil, logger: logger)
    }

    /// A session that computes on `pool`, shared with other sessions (answers run one at a time
    /// on a shared pool); nil: a pool of its own with ``Configuration/threads`` threads.
    package init(model: SmolVLMModel, configuration: Configuration = Configuration(), pool: ThreadPool?,
                 logger: Logger = Logger(label: "smolvlm.session")) throws {
        self.model = model
        self.configuration = configuration
        self.logger = logger
        if let pool {
            context = try LlamaContext(model: model.text, contextLength: configuration.contextLength, pool: pool)
        } else {
            context = try LlamaContext(model: model.text, contextLength: configuration.contextLength, threads: configuration.threads)
        }
        let pipeline = try model.imagePipeline(maxTiles: configuration.maxTiles)
        layout = pipeline?.0
        preprocessor = pipeline?.1
    }

    /// Positions the KV cache can hold.
    public var contextLength: Int { context.capacity }

    /// Answers `message`, streaming the answer. Generation starts at once and runs to its end
    /// (or cancellation) whether or not the pieces are read.
    public func respond(to message: UserMessage, options: GenerationOptions = GenerationOptions()) -> ChatResponse {
        let outcome = Outcome()
        let (pieces, continuation) = AsyncThrowingStream<String, any Error>.makeStream(bufferingPolicy: .unbounded)
        continuation.onTermination = { reason in
            if case .cancelled = reason { outcome.cancel() }
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            continuation.finish(throwing: ChatSessionError.busy)
            outcome.finish(.failure(ChatSessionError.busy))
            return ChatResponse(pieces: pieces, outcome: outcome)
        }
        let thread = Thread { [self] in
            let result = Result { try answer(message, options: options, outcome: outcome) { continuation.yield($0) } }
            // Free the session before anyone learns the turn is over, so the next call finds it idle.
            busy.store(false, ordering: .releasing)
            switch result {
            case .success: continuation.finish()
            case let .failure(error): continuation.finish(throwing: error)
            }
            outcome.finish(result)
        }
        thread.stackSize = 8 << 20
        thread.start()
        return ChatResponse(pieces: pieces, outcome: outcome)
    }

    /// Forgets the conversation. The KV cache keeps its contents for prefix reuse: the next
    /// prompt evaluates only what differs from what the cache holds.
    ///
    /// - Throws: ``ChatSessionError/busy`` while an answer is being generated.
    public func reset() throws(ChatSessionError) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { throw .busy }
        defer { busy.store(false, ordering: .releasing) }
        turns = []
        cachedText = nil
    }

    // MARK: - One turn

    private func answer(_ message: UserMessage, options: GenerationOptions, outcome: Outcome,
                        emit: (String) -> Void) throws -> ChatResult {
        var timings = ChatTimings()
        let clock = ContinuousClock()

        // Images: decode, slice, encode (cancellable between tiles).
        var images: [ImageEmbeddings] = []
        if !message.images.isEmpty {
            guard let vision = model.vision, let preprocessor else { throw ChatSessionError.noVisionModel(images: message.images.count) }
            for input in message.images {
                let t0 = clock.now
                let rgb = try input.decoded(with: configuration.imageDecoder)
                timings.imageDecodeSeconds += (clock.now - t0).seconds
                guard let embedded = try vision.embed(rgb, preprocessor: preprocessor, pool: context.pool,
                                                      shouldStop: { outcome.isCancelled }) else {
                    return cancelledBeforeAnswer(timings)
                }
                timings.imagePreprocessSeconds += embedded.preprocessSeconds
                timings.encodeSecondsPerTile += embedded.encodeSeconds
                images.append(embedded)
            }
        }
        let ids = images.map { _ in nextImageID() }
        for (id, e) in zip(ids, images) { imageStore[id] = e }
        var turn = Turn(user: String(repeating: ImagePromptLayout.marker, count: images.count) + message.text,
                        images: images, imageIDs: ids, assistant: "")

        // The prompt: the conversation's extension when the cache holds its start, else all of it.
        var prompt = try buildPrompt(for: turn)
        while prompt.entries.count >= context.capacity {
            guard configuration.overflow == .dropOldestTurns, !turns.isEmpty else {
                throw ModelError.contextOverflow(needed: prompt.entries.count + 1, capacity: context.capacity)
            }
            logger.info("context full: dropping the oldest turn", metadata: ["needed": "\(prompt.entries.count + 1)", "capacity": "\(context.capacity)"])
            turns.removeFirst()
            cachedText = nil
            prompt = try buildPrompt(for: turn)
        }

        // Reuse the longest cached prefix and evaluate the rest.
        let t3 = clock.now
        guard let prefill = try context.prefill(prompt.prompt, cache: &cache, shouldStop: { outcome.isCancelled }) else {
            cachedText = nil
            return cancelledBeforeAnswer(timings)
        }
        let promptLogits = configuration.recordsPromptLogits ? prefill.logits : nil
        timings.reusedPositions = prefill.reused
        timings.prefillPositions = prefill.evaluated
        timings.prefillSeconds = (clock.now - t3).seconds
        logger.debug("prefill", metadata: ["positions": "\(timings.prefillPositions)", "reused": "\(prefill.reused)",
                                           "ms": "\(Int(timings.prefillSeconds * 1000))"])

        // Generate, evaluating every kept token so the cache holds the whole answer.
        let t4 = clock.now
        var loop = try DecodeLoop(options: options, tokenizer: model.tokenizer, history: cache.tokens)
        var evaluated: [Int] = []
        try context.run(&loop, from: prefill.logits, evaluatingLastToken: true, shouldStop: { outcome.isCancelled },
                        evaluated: { token in
                            cache.append(.token(token))
                            evaluated.append(token)
                            outcome.countToken()
                        }, emit: emit)
        let tokens = loop.tokens, text = loop.text, stop = loop.stopReason ?? .cancelled
        timings.generatedTokens = tokens.count
        timings.decodeSeconds = (clock.now - t4).seconds

        // Record the turn. The template writes the answer after its opener ("Assistant:" + " The…"
        // or "assistant\n" + "The…"); with the spelling that renders back to what the cache holds,
        // the next turn only needs its own text tokenized.
        let answerText = model.tokenizer.decode(tokens)
        let trimmed = answerText.hasPrefix(" ") ? String(answerText.dropFirst()) : answerText
        // The cache holds the evaluated tokens: all of them, but for one that completed a stop
        // string or came after a cancellation.
        let cacheText = prompt.text + model.tokenizer.decode(evaluated)
        let spelling = [answerText, trimmed].first { candidate in
            var t = turn
            t.assistant = candidate
            return render(turns + [t], addAssistant: false).hasPrefix(cacheText)
        }
        turn.assistant = spelling ?? trimmed
        cachedText = spelling == nil ? nil : cacheText
        turns.append(turn)
        pruneImages()
        logger.debug("turn done", metadata: ["tokens": "\(tokens.count)", "stop": "\(stop)"])
        return ChatResult(text: text, tokens: tokens, stopReason: stop, timings: timings, promptLogits: promptLogits)
    }

    private func cancelledBeforeAnswer(_ timings: ChatTimings) -> ChatResult {
        pruneImages()
        return ChatResult(text: "", tokens: [], stopReason: .cancelled, timings: timings, promptLogits: nil)
    }

    /// Drops stored embeddings that neither a turn nor the cache refers to any more.
    private func pruneImages() {
        var live = Set(turns.flatMap(\.imageIDs))
        for case let .image(id, _, _) in cache.entries { live.insert(id) }
        imageStore = imageStore.filter { live.contains($0.key) }
    }

    // MARK: - Transcript

    /// What the KV cache holds, as chunks a fresh context could evaluate to reach the same state
    /// (for inspection, tests and comparisons): text tokens, and image tiles referring to
    /// ``images``.
    public struct Transcript: Sendable {
        /// Everything evaluated into the KV cache so far, in order: runs of text token ids and image tiles.
        public var chunks: [PromptChunk]
        /// The embeddings of every image in the conversation, indexed by ``PromptChunk/image(image:tile:)``.
        public var images: [ImageEmbeddings]
    }

    /// The cache's contents. Read it between answers: while one is generated it is in flux.
    public var transcript: Transcript {
        var chunks: [PromptChunk] = [], images: [ImageEmbeddings] = [], index: [ImageID: Int] = [:]
        var text: [Int] = []
        func flushText() {
            if !text.isEmpty { chunks.append(.text(text)); text = [] }
        }
        for entry in cache.entries {
            switch entry {
            case let .token(t):
                text.append(t)
            case let .image(id, tile, row):
                flushText()
                guard row == 0, let e = imageStore[id] else { continue }
                let i = index[id] ?? { images.append(e); index[id] = images.count - 1; return images.count - 1 }()
                chunks.append(.image(image: i, tile: tile))
            }
        }
        flushText()
        return Transcript(chunks: chunks, images: images)
    }

    // MARK: - Prompt

    private struct Prompt {
        var prompt: PreparedPrompt
        /// The template text the entries stand for.
        var text: String
        var entries: [PromptCache.Entry] { prompt.entries }
    }

    private func buildPrompt(for turn: Turn) throws -> Prompt {
        let full = render(turns + [turn], addAssistant: true)
        let perTile = model.vision?.configuration.tokensPerTile ?? 0
        if let cachedText, full.hasPrefix(cachedText), cache.count == context.position {
            // Only the new text: the cache already holds the conversation before it.
            let delta = String(full.dropFirst(cachedText.count))
            let chunks = try tokenize(delta, images: turn.images, addSpecial: cache.count == 0)
            let entries = cache.entries + PromptCache.entries(of: chunks, imageIDs: turn.imageIDs, tokensPerTile: perTile)
            return Prompt(prompt: PreparedPrompt(chunks: chunks, images: turn.images, entries: entries, base: cache.count), text: full)
        }
        let all = turns + [turn]
        let images = all.flatMap(\.images)
        let chunks = try tokenize(full, images: images, addSpecial: true)
        let entries = PromptCache.entries(of: chunks, imageIDs: all.flatMap(\.imageIDs), tokensPerTile: perTile)
        return Prompt(prompt: PreparedPrompt(chunks: chunks, images: images, entries: entries, base: 0), text: full)
    }

    private func render(_ turns: [Turn], addAssistant: Bool) -> String {
        var messages: [ChatTemplate.Message] = []
        if let system = configuration.systemPrompt { messages.append(.init(role: .system, content: system)) }
        for (i, t) in turns.enumerated() {
            messages.append(.init(role: .user, content: t.user))
            if i < turns.count - 1 || !addAssistant { messages.append(.init(role: .assistant, content: t.assistant)) }
        }
        return model.chatTemplate.render(messages, addAssistantPrompt: addAssistant)
    }

    private func tokenize(_ text: String, images: [ImageEmbeddings], addSpecial: Bool) throws -> [PromptChunk] {
        if let layout {
            return try layout.tokenize(text, grids: images.map { ($0.gridX, $0.gridY) }, addSpecial: addSpecial)
        }
        let tokens = model.tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: true)
        return tokens.isEmpty ? [] : [.text(tokens)]
    }

    private func nextImageID() -> ImageID {
        imageCounter += 1
        return ImageID(bytes: withUnsafeBytes(of: imageCounter.littleEndian, Array.init))
    }
}
