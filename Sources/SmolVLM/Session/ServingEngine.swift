import Foundation
import Logging
import Synchronization

/// Why a request to a ``ServingEngine`` was refused before it ran.
public enum ServingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every slot is busy and the waiting queue holds `limit` requests already.
    case queueFull(limit: Int)
    /// The engine is shutting down and takes no new requests.
    case shuttingDown
    /// The prompt (image positions included) leaves no room in a slot's context.
    case promptTooLong(positions: Int, contextLength: Int)
    /// The prompt and the requested tokens do not fit in a slot's context together.
    case tokenBudget(positions: Int, maxTokens: Int, contextLength: Int)
    /// The request has images but no vision model (mmproj) was loaded.
    case noVisionModel(images: Int)
    /// The prompt text names a different number of images than the request carries.
    case imageCount(markers: Int, images: Int)
    /// An image would be resized past what the preprocessor accepts.
    case imageTooLarge(index: Int, width: Int, height: Int)

    public var description: String {
        switch self {
        case let .queueFull(limit): "all slots are busy and \(limit) requests are already waiting; retry later"
        case .shuttingDown: "the server is shutting down"
        case let .promptTooLong(n, ctx):
            "the request needs \(n) prompt positions (images included) but the context holds \(ctx); shorten it or use fewer or smaller images"
        case let .tokenBudget(n, maxTokens, ctx):
            "the prompt takes \(n) positions and \(maxTokens) tokens were requested, more than the context's \(ctx) positions"
        case let .noVisionModel(n):
            "the request has \(n) image\(n == 1 ? "" : "s") but no vision model (mmproj) is loaded"
        case let .imageCount(markers, images): "the prompt has \(markers) image markers for \(images) images"
        case let .imageTooLarge(i, w, h): "image \(i + 1) (\(w)x\(h)) is too large to preprocess"
        }
    }
}

/// Serves generation requests for many clients on one model: a fixed number of slots (each a
/// KV cache with its own ``PromptCache``), one thread pool for all of them, a bounded queue,
/// a cache of encoded images, and continuous batching: the decode steps of every active slot
/// run as one forward pass.
///
/// One scheduler thread does all model work. Each turn of its loop admits at most one waiting
/// request (encoding its images and evaluating its prompt, while the other slots wait, as
/// llama.cpp's server does) and then advances every generating slot by one token.
///
/// A request goes to the free slot whose cache shares the longest prefix with its prompt (a
/// fixed instruction, an earlier turn), else to the least recently used one.
public final class ServingEngine: @unchecked Sendable {
    /// How the engine is set up.
    public struct Configuration: Sendable {
        /// Slots: requests that generate at the same time.
        public var slots: Int
        /// Positions per slot's KV cache; nil: the smaller of the model's context and 4096.
        public var contextLength: Int?
        /// Threads of the shared pool; nil: the active processor count.
        public var threads: Int?
        /// Requests that may wait for a slot; nil: twice the slots. Beyond it, ``ServingError/queueFull(limit:)``.
        public var queueLimit: Int?
        /// Encoded images kept, least recently used first out; 0 turns the cache off.
        public var imageCacheEntries: Int
        /// Tile budget per image; nil: slice as llama.cpp does.
        public var maxTiles: Int?
        /// How conversations are rendered; default as llama-server does (the model's Jinja template).
        public var templateDialect: ChatTemplate.Dialect

        /// A configuration; every parameter defaults to the property's documented default.
        public init(slots: Int = 1, contextLength: Int? = nil, threads: Int? = nil, queueLimit: Int? = nil,
                    imageCacheEntries: Int = 32, maxTiles: Int? = nil, templateDialect: ChatTemplate.Dialect = .jinja) {
            self.templateDialect = templateDialect
            self.slots = slots
            self.contextLength = contextLength
            self.threads = threads
            self.queueLimit = queueLimit
            self.imageCacheEntries = imageCacheEntries
            self.maxTiles = maxTiles
        }
    }

    /// One request: a conversation to answer.
    public struct Request: Sendable {
        /// An image of the request, named by its content.
        public struct Image: Sendable {
            /// Identifies the image in the image cache and in slots' prompt caches.
            public var id: ImageID
            /// The decoded pixels.
            public var pixels: RGBImage
            /// An image with its ID.
            public init(id: ImageID, pixels: RGBImage) { self.id = id; self.pixels = pixels }
        }
        /// The conversation; ``ImagePromptLayout/marker`` in a message's content places the next image.
        public var messages: [ChatTemplate.Message]
        /// The images, in marker order.
        public var images: [Image]
        /// Sampling and stop strings; ``GenerationOptions/maxTokens`` is replaced by ``maxTokens``.
        public var options: GenerationOptions
        /// Tokens to generate at most; nil: until the context is full.
        public var maxTokens: Int?
        /// Reuse a slot's cached prefix (default true); false evaluates the whole prompt.
        public var cachePrompt: Bool
        /// Report each piece of text as it is generated (default true); false reports only the
        /// finished answer, sparing a waiting client a wake-up per token.
        public var streamsText: Bool

        /// A request; `maxTokens` nil generates until the context is full.
        public init(messages: [ChatTemplate.Message], images: [Image] = [], options: GenerationOptions = GenerationOptions(),
                    maxTokens: Int? = nil, cachePrompt: Bool = true, streamsText: Bool = true) {
            self.streamsText = streamsText
            self.messages = messages
            self.images = images
            self.options = options
            self.maxTokens = maxTokens
            self.cachePrompt = cachePrompt
        }
    }

    /// What a request reports as it runs.
    public enum Event: Sendable {
        /// The prompt is evaluated and generation begins.
        case started(promptPositions: Int, cachedPositions: Int)
        /// A piece of the answer.
        case text(String)
        /// The answer is complete.
        case finished(Completion)
    }

    /// A finished request.
    public struct Completion: Sendable {
        /// The whole answer.
        public var text: String
        /// Tokens generated.
        public var generatedTokens: Int
        /// Why generation ended.
        public var stopReason: StopReason
        /// Positions of the prompt (image embeddings included).
        public var promptPositions: Int
        /// Of those, positions reused from the slot's cache.
        public var cachedPositions: Int
        /// Seconds from admission to the end of the prompt's evaluation (image encoding included).
        public var promptSeconds: Double
        /// Seconds from the first sampled token to the last.
        public var decodeSeconds: Double
        /// The slot that ran the request.
        public var slot: Int
    }

    /// A request in flight: its events, and a way to stop it.
    public struct Submission: Sendable {
        /// The events, ending after ``Event/finished(_:)`` or with the error that ended the request.
        public let events: AsyncThrowingStream<Event, any Error>
        /// Positions the prompt takes.
        public let promptPositions: Int
        let job: Job
        /// Stops the request: a queued one is dropped, a running one ends within a token.
        public func cancel() { job.cancel() }
    }

    /// Counters since start, for metrics.
    public struct Statistics: Sendable {
        /// Requests finished (any stop reason).
        public var requestsFinished = 0
        /// Requests refused because the queue was full.
        public var requestsRefused = 0
        /// Prompt positions evaluated and reused.
        public var promptPositionsEvaluated = 0, promptPositionsReused = 0
        /// Tokens generated.
        public var tokensGenerated = 0
        /// Image cache hits and misses (each miss is an encoder run).
        public var imageCacheHits = 0, imageCacheMisses = 0
        /// Seconds spent evaluating prompts and generating.
        public var promptSeconds = 0.0, decodeSeconds = 0.0
        /// Requests waiting and slots generating now.
        public var queued = 0, active = 0
    }

    /// The model pair served.
    public let model: SmolVLMModel
    /// The settings the engine was started with.
    public let configuration: Configuration
    /// Positions each slot holds.
    public let contextLength: Int
    /// Requests that may wait for a slot.
    public let queueLimit: Int
    /// The threads all slots compute with.
    package let pool: ThreadPool

    private let slots: [Slot]
    private let layout: ImagePromptLayout?
    private let preprocessor: Idefics3Preprocessor?
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [Job] = []
    private var stopping = false
    private var stopped = false
    private var stats = Statistics()
    // Scheduler thread only.
    private var imageCache: [ImageID: (embeddings: ImageEmbeddings, used: UInt64)] = [:]
    private var tick: UInt64 = 0

    /// Starts the engine: the slots' KV caches, the pool, and the scheduler thread.
    ///
    /// - Throws: ``ModelError`` for a bad context length, ``Idefics3Preprocessor/Error`` for a
    ///   bad tile budget.
    public init(model: SmolVLMModel, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "smolvlm.engine")) throws {
        self.model = model
        self.configuration = configuration
        self.logger = logger
        let pool = ThreadPool(threads: configuration.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.pool = pool
        slots = try (0 ..< max(1, configuration.slots)).map { i in
            Slot(index: i, context: try LlamaContext(model: model.text, contextLength: configuration.contextLength, pool: pool))
        }
        contextLength = slots[0].context.capacity
        queueLimit = configuration.queueLimit ?? 2 * slots.count
        let pipeline = try model.imagePipeline(maxTiles: configuration.maxTiles)
        layout = pipeline?.0
        preprocessor = pipeline?.1
        let thread = Thread { [self] in schedule() }
        thread.name = "smolvlm-engine"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Counters since start.
    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.queued = queue.count
        return s
    }

    // MARK: - Submitting

    /// The prompt `request` makes: its chunks and one cache entry per position. Cheap (no image
    /// is encoded); checks that it fits in a slot's context with the requested tokens.
    ///
    /// - Throws: ``ServingError`` for a prompt that cannot run, ``ImagePromptError`` when the
    ///   vocabulary lacks the image tokens.
    public func promptPositions(of request: Request) throws -> Int {
        try prepare(request).entries.count
    }

    /// Queues `request` and returns its events.
    ///
    /// - Throws: ``ServingError/queueFull(limit:)`` when every slot is busy and the queue is
    ///   full, ``ServingError/shuttingDown`` after ``shutdown()``, and the errors of a prompt
    ///   that cannot run (too long, images without a vision model), before anything is queued.
    public func submit(_ request: Request) throws -> Submission {
        let prepared = try prepare(request)
        let (events, continuation) = AsyncThrowingStream<Event, any Error>.makeStream(bufferingPolicy: .unbounded)
        let job = Job(prepared: prepared, continuation: continuation)
        continuation.onTermination = { [weak job] reason in
            if case .cancelled = reason { job?.cancel() }
        }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw ServingError.shuttingDown }
        let busy = slots.count - slots.filter(\.isFree).count
        let waiting = queue.count
        // A request that would wait behind every slot and a full queue is refused now, not left to pile up.
        if busy + waiting >= slots.count + queueLimit {
            stats.requestsRefused += 1
            throw ServingError.queueFull(limit: queueLimit)
        }
        queue.append(job)
        condition.signal()
        return Submission(events: events, promptPositions: prepared.entries.count, job: job)
    }

    /// Stops taking requests, cancels the waiting and running ones, and ends the scheduler
    /// thread. Returns once every request has ended.
    public func shutdown() {
        condition.lock()
        stopping = true
        let waiting = queue
        queue = []
        for job in waiting { job.cancel() }
        for slot in slots { slot.job?.cancel() }
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
        for job in waiting { job.continuation.finish(throwing: ServingError.shuttingDown) }
    }

    /// A request turned into its prompt.
    struct Prepared: Sendable {
        var chunks: [PromptChunk]
        var entries: [PromptCache.Entry]
        var images: [Request.Image]
        var options: GenerationOptions
        var cachePrompt: Bool
        var streamsText: Bool
    }

    /// The prompt text of a conversation, as this engine renders it.
    public func prompt(_ messages: [ChatTemplate.Message]) -> String {
        model.chatTemplate.render(messages, addAssistantPrompt: true, dialect: configuration.templateDialect)
    }

    private func prepare(_ request: Request) throws -> Prepared {
        let text = prompt(request.messages)
        let markers = text.components(separatedBy: ImagePromptLayout.marker).count - 1
        guard markers == request.images.count else {
            throw ServingError.imageCount(markers: markers, images: request.images.count)
        }
        let chunks: [PromptChunk]
        var perTile = 0
        if request.images.isEmpty {
            let tokens = model.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            chunks = tokens.isEmpty ? [] : [.text(tokens)]
        } else {
            guard let vision = model.vision, let layout, let preprocessor else {
                throw ServingError.noVisionModel(images: request.images.count)
            }
            perTile = vision.configuration.tokensPerTile
            let grids = try request.images.enumerated().map { i, image in
                let plan = preprocessor.plan(width: image.pixels.width, height: image.pixels.height)
                guard max(plan.refinedWidth, plan.refinedHeight, plan.contentWidth, plan.contentHeight) <= Idefics3Preprocessor.maxResizeSide else {
                    throw ServingError.imageTooLarge(index: i, width: image.pixels.width, height: image.pixels.height)
                }
                return (x: plan.gridX, y: plan.gridY)
            }
            chunks = try layout.tokenize(text, grids: grids, addSpecial: true)
        }
        let entries = PromptCache.entries(of: chunks, imageIDs: request.images.map(\.id), tokensPerTile: perTile)
        guard !entries.isEmpty, entries.count < contextLength else {
            throw ServingError.promptTooLong(positions: entries.count, contextLength: contextLength)
        }
        var options = request.options
        if let n = request.maxTokens {
            guard entries.count + n <= contextLength else {
                throw ServingError.tokenBudget(positions: entries.count, maxTokens: n, contextLength: contextLength)
            }
            options.maxTokens = n
        } else {
            options.maxTokens = contextLength - entries.count
        }
        try options.validate()
        return Prepared(chunks: chunks, entries: entries, images: request.images, options: options, cachePrompt: request.cachePrompt,
                        streamsText: request.streamsText)
    }

    // MARK: - Scheduling

    private func schedule() {
        while true {
            condition.lock()
            while queue.isEmpty && !slots.contains(where: { !$0.isFree }) && !stopping { condition.wait() }
            if stopping && queue.isEmpty && slots.allSatisfy(\.isFree) {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            var admitted: (Job, Slot)?
            if !queue.isEmpty, let slot = chooseSlot(for: queue[0]) {
                admitted = (queue.removeFirst(), slot)
                slot.job = admitted!.0
            }
            stats.active = slots.count - slots.filter(\.isFree).count
            condition.unlock()

            if let (job, slot) = admitted { start(job, on: slot) }
            step()
        }
    }

    /// The free slot whose cache shares the longest prefix with the job's prompt; ties and
    /// no-match go to the least recently used.
    private func chooseSlot(for job: Job) -> Slot? {
        let free = slots.filter(\.isFree)
        guard !free.isEmpty else { return nil }
        return free.max { a, b in
            let ra = job.prepared.cachePrompt ? a.cache.reusablePrefix(of: job.prepared.entries) : 0
            let rb = job.prepared.cachePrompt ? b.cache.reusablePrefix(of: job.prepared.entries) : 0
            return ra != rb ? ra < rb : a.lastUsed > b.lastUsed
        }
    }

    /// Encodes the job's images (from the image cache where it can) and evaluates its prompt on `slot`.
    private func start(_ job: Job, on slot: Slot) {
        let clock = ContinuousClock()
        let t0 = clock.now
        let p = job.prepared
        (slot.promptPositions, slot.reused, slot.promptSeconds) = (p.entries.count, 0, 0)
        do {
            if job.isCancelled { throw CancellationError() }
            if !p.cachePrompt {
                slot.cache = PromptCache()
                slot.context.reset()
            }
            let reuse = min(slot.cache.reusablePrefix(of: p.entries), slot.context.position)
            // Images whose tiles all lie in the reused prefix need no embeddings.
            var needed = Set<ImageID>()
            for case let .image(id, _, _) in p.entries[reuse...] { needed.insert(id) }
            var images: [ImageEmbeddings] = []
            for image in p.images {
                guard needed.contains(image.id) else {
                    images.append(ImageEmbeddings(gridX: 0, gridY: 0, tiles: [], width: 0, preprocessSeconds: 0, encodeSeconds: []))
                    continue
                }
                guard let e = try embeddings(of: image, job: job) else { throw CancellationError() }
                images.append(e)
            }
            let prompt = PreparedPrompt(chunks: p.chunks, images: images, entries: p.entries,
                                        tokensPerTile: model.vision?.configuration.tokensPerTile ?? 0)
            guard let prefill = try slot.context.prefill(prompt, cache: &slot.cache, shouldStop: { job.isCancelled }) else {
                throw CancellationError()
            }
            slot.loop = try DecodeLoop(options: p.options, tokenizer: model.tokenizer, history: slot.cache.tokens)
            slot.logits = prefill.logits
            slot.promptPositions = p.entries.count
            slot.reused = prefill.reused
            slot.promptSeconds = (clock.now - t0).seconds
            slot.decodeStart = clock.now
            record { s in
                s.promptPositionsEvaluated += prefill.evaluated
                s.promptPositionsReused += prefill.reused
                s.promptSeconds += slot.promptSeconds
            }
            job.continuation.yield(.started(promptPositions: p.entries.count, cachedPositions: prefill.reused))
        } catch {
            logger.debug("request failed before generating", metadata: ["error": "\(error)"])
            release(slot)
            if error is CancellationError {
                finish(job, slot: slot, text: "", tokens: 0, stop: .cancelled)
            } else {
                record { $0.requestsFinished += 1 }
                job.continuation.finish(throwing: error)
            }
        }
    }

    private func embeddings(of image: Request.Image, job: Job) throws -> ImageEmbeddings? {
        tick += 1
        if let hit = imageCache[image.id] {
            imageCache[image.id]?.used = tick
            record { $0.imageCacheHits += 1 }
            return hit.embeddings
        }
        guard let vision = model.vision, let preprocessor else { throw ServingError.noVisionModel(images: 1) }
        guard let e = try vision.embed(image.pixels, preprocessor: preprocessor, pool: pool, shouldStop: { job.isCancelled }) else {
            return nil
        }
        record { $0.imageCacheMisses += 1 }
        if configuration.imageCacheEntries > 0 {
            if imageCache.count >= configuration.imageCacheEntries, let oldest = imageCache.min(by: { $0.value.used < $1.value.used }) {
                imageCache[oldest.key] = nil
            }
            imageCache[image.id] = (e, tick)
        }
        return e
    }

    /// One decode step for every generating slot: sample, stream, then evaluate every slot's
    /// new token in one batched forward pass.
    private func step() {
        var batch: [(context: LlamaContext, token: Int)] = []
        var batchSlots: [Slot] = []
        for slot in slots {
            guard let job = slot.job, slot.loop != nil else { continue }
            let step = job.isCancelled
                ? slot.loop!.stop(.cancelled)
                : slot.loop!.next(logits: slot.logits, hasRoom: slot.context.position < slot.context.capacity)
            switch step {
            case let .token(token, text):
                if !text.isEmpty, job.prepared.streamsText { job.continuation.yield(.text(text)) }
                if slot.loop!.isExhausted {
                    // The budget is spent: end now rather than evaluate a token nobody samples from.
                    if case let .finished(tail) = slot.loop!.next(logits: [], hasRoom: true), !tail.isEmpty, job.prepared.streamsText {
                        job.continuation.yield(.text(tail))
                    }
                    complete(slot)
                } else {
                    batch.append((slot.context, token))
                    batchSlots.append(slot)
                }
            case let .finished(text):
                if !text.isEmpty, job.prepared.streamsText { job.continuation.yield(.text(text)) }
                complete(slot)
            }
        }
        guard !batch.isEmpty else { return }
        do {
            let logits = try pool.traced(.phase("decode step ·\(batch.count)")) { try LlamaContext.decode(batch) }
            for (i, slot) in batchSlots.enumerated() {
                slot.logits = logits[i]
                slot.cache.append(.token(batch[i].token))
            }
        } catch {
            for slot in batchSlots {
                guard let job = slot.job else { continue }
                release(slot)
                record { $0.requestsFinished += 1 }
                job.continuation.finish(throwing: error)
            }
        }
    }

    private func complete(_ slot: Slot) {
        guard let job = slot.job, let loop = slot.loop else { return }
        let decodeSeconds = (ContinuousClock.now - slot.decodeStart).seconds
        record { s in
            s.tokensGenerated += loop.tokens.count
            s.decodeSeconds += decodeSeconds
        }
        release(slot)
        finish(job, slot: slot, text: loop.text, tokens: loop.tokens.count, stop: loop.stopReason ?? .cancelled,
               decodeSeconds: decodeSeconds)
    }

    private func finish(_ job: Job, slot: Slot, text: String, tokens: Int, stop: StopReason, decodeSeconds: Double = 0) {
        let completion = Completion(text: text, generatedTokens: tokens, stopReason: stop, promptPositions: slot.promptPositions,
                                    cachedPositions: slot.reused, promptSeconds: slot.promptSeconds,
                                    decodeSeconds: decodeSeconds, slot: slot.index)
        // Counted before the client can learn the request ended, so statistics read after it agree.
        record { $0.requestsFinished += 1 }
        job.continuation.yield(.finished(completion))
        job.continuation.finish()
    }

    private func release(_ slot: Slot) {
        tick += 1
        condition.lock()
        slot.job = nil
        slot.loop = nil
        slot.lastUsed = tick
        condition.unlock()
    }

    private func record(_ update: (inout Statistics) -> Void) {
        condition.lock()
        update(&stats)
        condition.unlock()
    }

    // MARK: - State

    /// A queued or running request.
    final class Job: Sendable {
        let prepared: Prepared
        let continuation: AsyncThrowingStream<Event, any Error>.Continuation
        private let cancelled = Atomic<Bool>(false)

        init(prepared: Prepared, continuation: AsyncThrowingStream<Event, any Error>.Continuation) {
            self.prepared = prepared
            self.continuation = continuation
        }

        var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
        func cancel() { cancelled.store(true, ordering: .relaxed) }
    }

    /// A KV cache and what it holds, and the request it serves. `job` is written under the
    /// engine's lock; the rest only by the scheduler thread.
    private final class Slot {
        let index: Int
        let context: LlamaContext
        var cache = PromptCache()
        var job: Job?
        var loop: DecodeLoop?
        var logits: [Float] = []
        var lastUsed: UInt64 = 0
        var promptPositions = 0, reused = 0
        var promptSeconds = 0.0
        var decodeStart = ContinuousClock.now

        init(index: Int, context: LlamaContext) {
            self.index = index
            self.context = context
        }

        var isFree: Bool { job == nil }
    }
}
