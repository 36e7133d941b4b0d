import Foundation
import Synchronization

/// Where the time of one turn went, and how much work it was.
public struct ChatTimings: Sendable, Equatable, Codable {
    /// Seconds decoding the turn's images (files and data).
    public var imageDecodeSeconds = 0.0
    /// Seconds resizing, slicing and normalising them.
    public var imagePreprocessSeconds = 0.0
    /// Seconds in the vision encoder, one entry per tile.
    public var encodeSecondsPerTile: [Double] = []
    /// Positions evaluated by the prefill (text tokens and image embeddings).
    public var prefillPositions = 0
    /// Positions reused from the KV cache instead of evaluated (earlier turns, a shared prefix).
    public var reusedPositions = 0
    /// Seconds in the prefill.
    public var prefillSeconds = 0.0
    /// Tokens generated.
    public var generatedTokens = 0
    /// Seconds generating them.
    public var decodeSeconds = 0.0

    /// All zeros: a turn that has done nothing yet.
    public init() {}

    /// Seconds from the request to the first generated token.
    public var timeToFirstTokenSeconds: Double {
        imageDecodeSeconds + imagePreprocessSeconds + encodeSecondsPerTile.reduce(0, +) + prefillSeconds
    }
    /// Prefill throughput: ``prefillPositions`` / ``prefillSeconds`` (0 when nothing was prefilled).
    public var prefillPositionsPerSecond: Double { prefillSeconds > 0 ? Double(prefillPositions) / prefillSeconds : 0 }
    /// Generation throughput: ``generatedTokens`` / ``decodeSeconds`` (0 when nothing was generated).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }
}

/// The outcome of one turn.
public struct ChatResult: Sendable, Codable {
    /// The whole answer.
    public var text: String
    /// The generated token ids (without a final end-of-generation token).
    public var tokens: [Int]
    /// Why generation ended.
    public var stopReason: StopReason
    /// Where the turn's time went: image decoding, encoding, prefill and generation.
    public var timings: ChatTimings
    /// The logits the first token was drawn from, when the session was configured with
    /// ``ChatSession/Configuration/recordsPromptLogits``.
    public var promptLogits: [Float]?
}

/// One answer as it is generated: iterate it for text pieces as they form (whole UTF-8
/// characters), or await ``result`` for the whole answer with its stop reason and timings.
///
/// Cancelling the task that iterates (or awaits ``result``) stops generation within a token;
/// the session stays usable and keeps what was generated so far as the answer of the turn.
public struct ChatResponse: AsyncSequence, Sendable {
    public typealias Element = String

    let pieces: AsyncThrowingStream<String, any Error>
    let outcome: Outcome

    public func makeAsyncIterator() -> AsyncThrowingStream<String, any Error>.AsyncIterator {
        pieces.makeAsyncIterator()
    }

    /// The finished turn. Waits for generation to end (it runs whether or not the pieces are
    /// read); rethrows the error that ended it.
    public var result: ChatResult {
        get async throws {
            try await withTaskCancellationHandler {
                try await outcome.value()
            } onCancel: {
                outcome.cancel()
            }
        }
    }

    /// Stops generation (as cancelling the consuming task does).
    public func cancel() { outcome.cancel() }

    /// Tokens generated so far (for progress displays; the pieces may lag behind it).
    public var generatedTokens: Int { outcome.tokens }
}

/// The shared state between a generating thread and the ``ChatResponse`` handed out: a
/// cancellation flag read before each token, and the final result with its waiters.
final class Outcome: Sendable {
    private struct State {
        var result: Result<ChatResult, any Error>?
        var waiters: [CheckedContinuation<ChatResult, any Error>] = []
    }
    private let state = Mutex(State())
    private let cancelled = Atomic<Bool>(false)
    private let generated = Atomic<Int>(0)

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    func cancel() { cancelled.store(true, ordering: .relaxed) }
    var tokens: Int { generated.load(ordering: .relaxed) }
    func countToken() { generated.add(1, ordering: .relaxed) }

    func finish(_ result: Result<ChatResult, any Error>) {
        let waiters = state.withLock { s -> [CheckedContinuation<ChatResult, any Error>] in
            guard s.result == nil else { return [] }
            s.result = result
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(with: result) }
    }

    func value() async throws -> ChatResult {
        try await withCheckedThrowingContinuation { c in
            let done = state.withLock { s -> Result<ChatResult, any Error>? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(with: done) }
        }
    }
}
