import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Cancels a response from its own thread when it has generated `after` tokens, and tells how
/// many existed at that moment.
final class Canceller: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var count = 0

    init(_ response: ChatResponse, after n: Int) {
        let thread = Thread { [self] in
            while response.generatedTokens < n { usleep(200) }
            count = response.generatedTokens
            response.cancel()
            done.signal()
        }
        thread.start()
    }

    /// Tokens generated when cancel() was called (the semaphore orders the write before this).
    func wait() -> Int {
        done.wait()
        return count
    }
}

/// Runs tasks on a serial dispatch queue (a thread outside the cooperative pool).
final class QueueExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "ChatSessionTests.consumer")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// The chat API on the synthetic tiny SmolVLM pair: greedy answers equal llama.cpp's, later turns
/// cost only their own positions and agree with a from-scratch run, cancellation is prompt and
/// harmless, prefixes are reused across frames.
@Suite("ChatSession")
struct ChatSessionTests {
    static let textPath = ReferenceFixture.modelsDirectory.appendingPathComponent("tiny-text-q8_0.gguf").path
    static let mmprojPath = ReferenceFixture.modelsDirectory.appendingPathComponent("tiny-mmproj-q8_0.gguf").path
    static var present: Bool { FileManager.default.fileExists(atPath: textPath) && FileManager.default.fileExists(atPath: mmprojPath) }
    static func image(_ name: String) -> ImageInput { .file(ReferenceFixture.root.appendingPathComponent("images/\(name)")) }

    static func pair() throws -> SmolVLMModel { try SmolVLMModel(model: textPath, mmproj: mmprojPath) }

    /// Evaluates the first `positions` positions of a transcript in a fresh context, chunk by
    /// chunk, and returns the last logits: the from-scratch run a session must agree with.
    /// `textBatch` splits text into batches of at most that many tokens.
    static func fromScratch(_ model: SmolVLMModel, _ transcript: ChatSession.Transcript, positions: Int,
                            textBatch: Int = .max) throws -> [Float] {
        let context = try LlamaContext(model: model.text, contextLength: 2048, threads: 2)
        let perTile = model.vision?.configuration.tokensPerTile ?? 0
        var chunks: [PromptChunk] = [], used = 0
        for chunk in transcript.chunks where used < positions {
            switch chunk {
            case let .text(t):
                let take = Array(t.prefix(positions - used))
                for start in stride(from: 0, to: take.count, by: textBatch) {
                    chunks.append(.text(Array(take[start ..< min(start + textBatch, take.count)])))
                }
                used += take.count
            case .image:
                chunks.append(chunk)
                used += perTile
            }
        }
        #expect(used == positions)
        return try context.evaluate(chunks, images: transcript.images)
    }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func greedyAnswerEqualsLlamaCpp() async throws {
        let f = try ReferenceFixture("vision-tiny-q8_0-chelsea-300x200")
        let expected = try f.ints("tokens").values
        let session = try ChatSession(model: Self.pair(), configuration: .init(threads: 2))
        let result = try await session.respond(to: UserMessage("Describe this image.", images: [Self.image("chelsea-300x200.png")]),
                                               options: GenerationOptions(maxTokens: expected.count, temperature: 0)).result
        #expect(result.tokens == Array(expected.prefix(result.tokens.count)))
        #expect(result.timings.prefillPositions == f["n_pos"]?.int)
        #expect(result.timings.encodeSecondsPerTile.count == 13)
    }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func secondTurnCostsOnlyItsOwnTokens() async throws {
        let model = try Self.pair()
        let session = try ChatSession(model: model, configuration: .init(threads: 2, recordsPromptLogits: true))
        let greedy = GenerationOptions(maxTokens: 12, temperature: 0)
        let first = try await session.respond(to: UserMessage("What is in the picture?", images: [Self.image("coffee-rgba-300x200.png")]),
                                              options: greedy).result
        let afterFirst = first.timings.reusedPositions + first.timings.prefillPositions + first.tokens.count
        let second = try await session.respond(to: "Say it again, briefly.", options: greedy).result

        // Only the new turn's tokens were evaluated: the template's closing of the first answer
        // and the new user line.
        let delta = model.tokenizer.encode(ChatTemplate.smolvlm.render([.init(role: .user, content: "x")], addAssistantPrompt: false)).count
        #expect(second.timings.reusedPositions == afterFirst)
        #expect(second.timings.prefillPositions > 0 && second.timings.prefillPositions < delta + 16)
        #expect(second.timings.encodeSecondsPerTile.isEmpty)

        // The second turn's logits equal a from-scratch run of the whole conversation.
        let transcript = session.transcript
        let scratch = try Self.fromScratch(model, transcript, positions: second.timings.reusedPositions + second.timings.prefillPositions)
        let ours = try #require(second.promptLogits)
        let c = Comparison("second turn vs from scratch", ours: ours, reference: scratch[...])
        print(c)
        #expect(c.maxAbsDiffOverStd <= 0.01, "\(c)")
        #expect(argmax(ours) == argmax(scratch))
    }

    static let bigTextPath = ReferenceFixture.modelsDirectory.appendingPathComponent("smolvlm-256m-text-q8_0.gguf").path

    /// On the SmolVLM-256M-shaped decoder (a token takes milliseconds, so the consumer keeps up):
    /// after cancel() at most the token being computed is finished, and the session's cache is
    /// then exactly its transcript (checked against a from-scratch run in the same numerics:
    /// under 256 positions, batches under 64 rows).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: bigTextPath), "models/smolvlm-256m-text-q8_0.gguf is absent: run models/build-test-models.sh"))
    func cancellationIsPromptAndHarmless() async throws {
        let model = try SmolVLMModel(model: Self.bigTextPath)
        let session = try ChatSession(model: model, configuration: .init(threads: 2, recordsPromptLogits: true))
        let response = session.respond(to: "Count to a thousand.", options: GenerationOptions(maxTokens: 200, temperature: 0))
        // Cancel from a plain thread once 5 tokens exist: tests run on the cooperative pool,
        // which other suites may keep busy, so a task would see the stream late.
        let canceller = Canceller(response, after: 5)
        let atCancel = canceller.wait()
        let result = try await response.result
        let pieces = 5
        #expect(result.stopReason == .cancelled)
        #expect(result.tokens.count <= atCancel + 1, "\(result.tokens.count) tokens, \(atCancel) when cancelled")
        print("cancelled after \(pieces) pieces: \(atCancel) tokens generated then, \(result.tokens.count) in the end")

        // The session still answers, and agrees with a from-scratch run of its transcript.
        let next = try await session.respond(to: "Hello.", options: GenerationOptions(maxTokens: 4, temperature: 0)).result
        #expect(next.stopReason != .cancelled)
        let scratch = try Self.fromScratch(model, session.transcript, positions: next.timings.reusedPositions + next.timings.prefillPositions,
                                           textBatch: 32)
        let c = Comparison("after cancel vs from scratch", ours: try #require(next.promptLogits), reference: scratch[...])
        print(c)
        #expect(c.maxAbsDiffOverStd <= 0.01, "\(c)")
    }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func framesReuseTheSystemPrefix() async throws {
        let model = try Self.pair()
        let system = "You caption camera frames for a live feed. Answer in one short sentence."
        let session = try ChatSession(model: model, configuration: .init(threads: 2, systemPrompt: system, maxTiles: 1, recordsPromptLogits: true))
        let options = GenerationOptions(maxTokens: 3, temperature: 0)
        _ = try await session.respond(to: UserMessage("Caption.", images: [Self.image("chelsea-300x200.png")]), options: options).result
        try session.reset()
        let frame2 = try await session.respond(to: UserMessage("Caption.", images: [Self.image("camera-gray-640x480.png")]), options: options).result

        // Everything before the first image position comes from the cache.
        let head = model.tokenizer.encode(ChatTemplate.smolvlm.render([.init(role: .system, content: system), .init(role: .user, content: "")],
                                                                         addAssistantPrompt: false)).count
        #expect(frame2.timings.reusedPositions >= head - 8 && frame2.timings.reusedPositions > 10)
        #expect(frame2.timings.encodeSecondsPerTile.count == 1)

        // Same logits as a fresh session given only that frame.
        let fresh = try ChatSession(model: model, configuration: .init(threads: 2, systemPrompt: system, maxTiles: 1, recordsPromptLogits: true))
        let alone = try await fresh.respond(to: UserMessage("Caption.", images: [Self.image("camera-gray-640x480.png")]), options: options).result
        #expect(alone.timings.reusedPositions == 0)
        let c = Comparison("frame 2 with reuse vs fresh", ours: try #require(frame2.promptLogits), reference: try #require(alone.promptLogits)[...])
        #expect(c.maxAbsDiffOverStd <= 0.01, "\(c)")
    }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func overflowIsTypedOrDropsOldTurns() async throws {
        let model = try Self.pair()
        let strict = try ChatSession(model: model, configuration: .init(contextLength: 300, threads: 2))
        let options = GenerationOptions(maxTokens: 4, temperature: 0)
        let big = UserMessage("Describe.", images: [Self.image("chelsea-300x200.png")])  // 875 positions
        await #expect(throws: ModelError.self) { _ = try await strict.respond(to: big, options: options).result }
        _ = try await strict.respond(to: "Hi.", options: options).result  // still usable

        let rolling = try ChatSession(model: model, configuration: .init(contextLength: 220, threads: 2, overflow: .dropOldestTurns, maxTiles: 1))
        let image = UserMessage("Describe.", images: [Self.image("chelsea-300x200.png")])  // ~90 positions with one tile
        for _ in 0 ..< 4 { _ = try await rolling.respond(to: image, options: options).result }
        #expect(rolling.transcript.chunks.count > 0)
    }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func oneAnswerAtATimeAndTextOnlyModelsRefuseImages() async throws {
        let model = try Self.pair()
        let session = try ChatSession(model: model, configuration: .init(threads: 2))
        let long = session.respond(to: "Go on.", options: GenerationOptions(maxTokens: 100_000, temperature: 0))
        let second = session.respond(to: "Me too.", options: GenerationOptions(maxTokens: 1))
        await #expect(throws: ChatSessionError.busy) { _ = try await second.result }
        long.cancel()
        _ = try await long.result

        let textOnly = try ChatSession(model: SmolVLMModel(model: Self.textPath), configuration: .init(threads: 2))
        await #expect(throws: ChatSessionError.noVisionModel(images: 1)) {
            _ = try await textOnly.respond(to: UserMessage("What?", images: [Self.image("chelsea-300x200.png")])).result
        }
    }
}

extension ChatSessionTests {
    /// Cancelling the task that consumes the answer stops generation and leaves the session usable.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: bigTextPath), "models/smolvlm-256m-text-q8_0.gguf is absent: run models/build-test-models.sh"))
    func taskCancellationStopsTheAnswer() async throws {
        let session = try ChatSession(model: SmolVLMModel(model: Self.bigTextPath), configuration: .init(threads: 2))
        let response = session.respond(to: "Write a long story.", options: GenerationOptions(maxTokens: 2000, temperature: 0))
        // The consumer runs on its own queue: the cooperative pool may be kept busy by other
        // suites' long synchronous tests, and a task that never runs cannot see its cancellation.
        let consumer = Task(executorPreference: QueueExecutor()) {
            var n = 0
            for try await _ in response { n += 1 }
            return n
        }
        consumer.cancel()
        _ = try? await consumer.value
        let result = try await response.result
        #expect(result.stopReason == .cancelled)
        #expect(result.tokens.count < 2000)
        let next = try await session.respond(to: "Hi.", options: GenerationOptions(maxTokens: 2, temperature: 0)).result
        #expect(next.stopReason != .cancelled && next.tokens.count <= 2)
    }

    static let cli = ReferenceFixture.modelsDirectory.deletingLastPathComponent().appendingPathComponent(".build/release/smolvlm")

    /// `smolvlm caption --json` (the CLI is built on the same session) gives the API's answer.
    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"),
          .enabled(if: FileManager.default.isExecutableFile(atPath: cli.path), ".build/release/smolvlm is not built (swift build -c release)"))
    func cliCaptionEqualsTheAPI() async throws {
        let binary = Self.cli
        let image = ReferenceFixture.root.appendingPathComponent("images/chelsea-300x200.png")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["caption", "--model", Self.textPath, "--mmproj", Self.mmprojPath, "--image", image.path,
                             "-n", "16", "--threads", "2", "--json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        struct Line: Decodable { var text: String }
        let cli = try JSONDecoder().decode(Line.self, from: data)

        let session = try ChatSession(model: Self.pair(), configuration: .init(threads: 2))
        let api = try await session.respond(to: UserMessage("Describe this image.", images: [.file(image)]),
                                            options: GenerationOptions(maxTokens: 16, temperature: 0)).result
        #expect(cli.text == api.text)
        let f = try ReferenceFixture("vision-tiny-q8_0-chelsea-300x200")
        #expect(api.tokens == Array(try f.ints("tokens").values.prefix(16)))
    }
}
