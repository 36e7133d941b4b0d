import Foundation
import ReferenceFixtures
import SmolVLM
import Testing

/// The layer under `smolvlm serve`: a batched decode step equals each stream decoded alone,
/// the engine's concurrent answers equal sequential ones, prompt and image caches are reused,
/// and every refusal is a typed error.
@Suite("Serving engine")
struct ServingEngineTests {
    static func path(_ name: String) -> String { ReferenceFixture.modelsDirectory.appendingPathComponent(name).path }
    static func present(_ names: String...) -> Bool { names.allSatisfy { FileManager.default.fileExists(atPath: path($0)) } }
    static let tinyPresent = present("tiny-text-q8_0.gguf", "tiny-mmproj-q8_0.gguf")
    static let skipReason: Comment = "synthetic models are absent: run models/build-test-models.sh"

    // MARK: Batched decode

    /// Two streams decoded greedily for 12 steps, once batched, once each alone. Quantized
    /// weights: every logit of every step is the same (each row's products keep their
    /// summation order whatever the batch; attention reads each context's own cache). F16
    /// weights: a batch of rows takes the tiled product (ggml's choice too), whose order differs
    /// from the single-row dot product, so logits differ in the last bits; bounded by what was
    /// measured, with the same greedy tokens.
    @Test(.enabled(if: present("smolvlm-256m-text-q8_0.gguf", "smolvlm-256m-text-f16.gguf", "tiny-text-q8_0.gguf"), skipReason),
          arguments: ["tiny-text-q8_0.gguf", "smolvlm-256m-text-q8_0.gguf", "smolvlm-256m-text-f16.gguf"])
    func batchedDecodeEqualsSingleStreams(_ file: String) throws {
        let model = try SmolVLMModel(model: Self.path(file))
        let pool = ThreadPool(threads: 2)
        let prompts = [model.tokenizer.encode("<|im_start|>User: Tell me a story<end_of_utterance>\nAssistant:", addSpecial: true),
                       model.tokenizer.encode("<|im_start|>User: What is two plus two? Think.<end_of_utterance>\nAssistant:", addSpecial: true)]
        let batched = try prompts.map { _ in try LlamaContext(model: model.text, contextLength: 256, pool: pool) }
        let alone = try prompts.map { _ in try LlamaContext(model: model.text, contextLength: 256, threads: 2) }
        var logits = try zip(batched, prompts).map { try $0.evaluate(tokens: $1) }
        var aloneLogits = try zip(alone, prompts).map { try $0.evaluate(tokens: $1) }
        var mismatches = 0, worst: Float = 0, tokenMismatches = 0
        func argmax(_ l: [Float]) -> Int { l.indices.max { l[$0] < l[$1] }! }
        for _ in 0 ..< 12 {
            let tokens = logits.map(argmax)
            tokenMismatches += zip(tokens, aloneLogits.map(argmax)).filter { $0 != $1 }.count
            logits = try LlamaContext.decode(zip(batched, tokens).map { ($0, $1) })
            aloneLogits = try zip(alone, tokens).map { try $0.evaluate(tokens: [$1]) }
            for (a, b) in zip(logits, aloneLogits) {
                mismatches += zip(a, b).filter { $0 != $1 }.count
                let mean = b.reduce(0, +) / Float(b.count)
                let std = (b.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(b.count)).squareRoot()
                worst = max(worst, zip(a, b).map { abs($0 - $1) }.max()! / std)
            }
        }
        print("\(file): \(mismatches) logits differ over 12 batched steps, max |Δ|/std \(worst), greedy token mismatches \(tokenMismatches)")
        #expect(tokenMismatches == 0)
        if file.contains("f16") {
            #expect(worst < 0.01)
        } else {
            #expect(mismatches == 0)
        }
        #expect(batched.map(\.position) == alone.map(\.position))
    }

    @Test(.enabled(if: tinyPresent, skipReason))
    func decodeRefusesMismatchedBatches() throws {
        let model = try SmolVLMModel(model: Self.path("tiny-text-q8_0.gguf"))
        let pool = ThreadPool(threads: 2)
        let a = try LlamaContext(model: model.text, contextLength: 4, pool: pool)
        let other = try LlamaContext(model: model.text, contextLength: 4, threads: 1)
        #expect(throws: ModelError.self) { try LlamaContext.decode([(a, 1), (a, 2)]) }
        #expect(throws: ModelError.self) { try LlamaContext.decode([(a, 1), (other, 2)]) }
        #expect(throws: ModelError.tokenOutOfRange(token: -1, vocabularySize: model.text.configuration.vocabularySize)) {
            try LlamaContext.decode([(a, -1)])
        }
        _ = try a.evaluate(tokens: [1, 2, 3, 4])
        #expect(throws: ModelError.contextOverflow(needed: 5, capacity: 4)) { try LlamaContext.decode([(a, 1)]) }
    }

    // MARK: Prompt cache

    @Test func promptCacheKeepsWholeTiles() {
        let image = ImageID(bytes: [1]), other = ImageID(bytes: [2])
        func tile(_ id: ImageID, _ t: Int) -> [PromptCache.Entry] { (0 ..< 4).map { .image(id, tile: t, row: $0) } }
        var cache = PromptCache()
        cache.append(contentsOf: [.token(1), .token(2)] + tile(image, 0) + tile(image, 1) + [.token(3)])
        // The same prompt: all but the last position (its logits are needed).
        let same = cache.entries
        #expect(cache.reusablePrefix(of: same) == same.count - 1)
        // Another image from its first tile on: the shared text only.
        let changed = [.token(1), .token(2)] + tile(other, 0) + tile(other, 1) + [.token(3)]
        #expect(cache.reusablePrefix(of: changed) == 2)
        // Another second tile: the first is kept.
        let secondChanged = [.token(1), .token(2)] + tile(image, 0) + tile(other, 1) + [.token(3)]
        #expect(cache.reusablePrefix(of: secondChanged) == 2 + 4)
        // A prompt ending inside a tile: the last position must be evaluated, and with it its tile.
        #expect(cache.reusablePrefix(of: Array(same.prefix(2 + 4 + 3))) == 2 + 4)
        cache.truncate(to: 3)
        #expect(cache.count == 3 && cache.tokens == [1, 2])
    }

    // MARK: Engine

    static func request(_ text: String, maxTokens: Int?, images: [ServingEngine.Request.Image] = []) -> ServingEngine.Request {
        let marker = String(repeating: ImagePromptLayout.marker, count: images.count)
        return ServingEngine.Request(messages: [.init(role: .user, content: marker + text)], images: images,
                                     options: .greedy, maxTokens: maxTokens)
    }

    static func run(_ submission: ServingEngine.Submission) async throws -> (text: String, completion: ServingEngine.Completion) {
        var text = ""
        for try await event in submission.events {
            switch event {
            case let .text(piece): text += piece
            case let .finished(c): return (text, c)
            case .started: break
            }
        }
        throw CancellationError()
    }

    /// Three requests at once on two slots (one waits in the queue) answer exactly what one slot
    /// answers for them one after another; a repeated request reuses its slot's cached prompt.
    @Test(.enabled(if: tinyPresent, skipReason))
    func concurrentAnswersEqualSequentialOnes() async throws {
        let model = try SmolVLMModel(model: Self.path("tiny-text-q8_0.gguf"))
        let questions = ["Tell me about the sea.", "What is a cat?", "Count to ten."]
        let serial = try ServingEngine(model: model, configuration: .init(slots: 1, contextLength: 512, threads: 2))
        var expected: [String] = []
        for q in questions { expected.append(try await Self.run(serial.submit(Self.request(q, maxTokens: 24))).text) }
        serial.shutdown()

        let engine = try ServingEngine(model: model, configuration: .init(slots: 2, contextLength: 512, threads: 2))
        let submissions = try questions.map { try engine.submit(Self.request($0, maxTokens: 24)) }
        var answers: [String] = []
        for s in submissions { answers.append(try await Self.run(s).text) }
        #expect(answers == expected)

        let again = try await Self.run(engine.submit(Self.request(questions[2], maxTokens: 24)))
        #expect(again.text == expected[2])
        #expect(again.completion.cachedPositions == again.completion.promptPositions - 1)
        #expect(engine.statistics.requestsFinished == 4)
        engine.shutdown()
    }

    /// A re-sent image is not encoded again: the second request hits the image cache (a new
    /// slot, so its prompt cache cannot have served it).
    @Test(.enabled(if: tinyPresent, skipReason))
    func resentImagesComeFromTheImageCache() async throws {
        let model = try SmolVLMModel(model: Self.path("tiny-text-q8_0.gguf"), mmproj: Self.path("tiny-mmproj-q8_0.gguf"))
        let data = try Data(contentsOf: ReferenceFixture.root.appendingPathComponent("images/chelsea-300x200.png"))
        let image = ServingEngine.Request.Image(id: ImageID(contentsOf: data), pixels: try ImageDecoder().decode(data: data))
        let engine = try ServingEngine(model: model, configuration: .init(slots: 2, contextLength: 2048, threads: 2))
        let first = try await Self.run(engine.submit(Self.request("What is this?", maxTokens: 4, images: [image])))
        // A different text before the image: the other (empty) slot is chosen, so the image must come from the cache.
        let busy = try engine.submit(Self.request("Tell me a long story about the sea.", maxTokens: 64))
        let second = try await Self.run(engine.submit(Self.request("Describe it.", maxTokens: 4, images: [image])))
        _ = try await Self.run(busy)
        #expect(first.completion.promptPositions > 13 * 64)
        #expect(engine.statistics.imageCacheMisses == 1)
        #expect(engine.statistics.imageCacheHits == 1)
        #expect(second.completion.cachedPositions < 13 * 64)
        engine.shutdown()
    }

    @Test(.enabled(if: tinyPresent, skipReason))
    func refusalsAreTypedErrors() async throws {
        let textOnly = try SmolVLMModel(model: Self.path("tiny-text-q8_0.gguf"))
        let engine = try ServingEngine(model: textOnly, configuration: .init(slots: 1, contextLength: 64, threads: 2, queueLimit: 0))
        let long = String(repeating: "word ", count: 100)
        #expect(throws: ServingError.self) { try engine.submit(Self.request(long, maxTokens: 4)) }
        let n = try engine.promptPositions(of: Self.request("Hi", maxTokens: nil))
        #expect(throws: ServingError.tokenBudget(positions: n, maxTokens: 65 - n, contextLength: 64)) {
            try engine.submit(Self.request("Hi", maxTokens: 65 - n))
        }
        let pixels = try RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12))
        #expect(throws: ServingError.noVisionModel(images: 1)) {
            try engine.submit(Self.request("Hi", maxTokens: 4, images: [.init(id: ImageID(bytes: [0]), pixels: pixels)]))
        }
        // One slot, no queue: a second request while the first runs is refused.
        let running = try engine.submit(Self.request("Hi", maxTokens: nil))
        #expect(throws: ServingError.queueFull(limit: 0)) { try engine.submit(Self.request("Hello", maxTokens: 4)) }
        running.cancel()
        let cancelled = try await Self.run(running)
        #expect(cancelled.completion.stopReason == .cancelled || cancelled.completion.stopReason == .contextFull
            || { if case .endOfGeneration = cancelled.completion.stopReason { true } else { false } }())
        // The slot is free again.
        let after = try await Self.run(engine.submit(Self.request("Hello", maxTokens: 4)))
        #expect(after.completion.generatedTokens <= 4)
        engine.shutdown()
        #expect(throws: ServingError.shuttingDown) { try engine.submit(Self.request("Hello", maxTokens: 4)) }
    }
}
