import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

@Suite("Greedy generation and chat templates")
struct GenerationTests {
    static let smolLM2 = ReferenceFixture.modelsDirectory.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: smolLM2), "models/SmolLM2-135M-Instruct.Q4_1.gguf is absent: run models/fetch-smollm2.sh"))
    func greedyAnswerIsLlamaCpps() throws {
        let f = try ReferenceFixture("generate-smollm2-q4_1")
        let file = try GGUFFile(path: Self.smolLM2)
        let tokenizer = try Tokenizer(gguf: file)
        // The prompt as llama.cpp's built-in ChatML template formats it, tokenized by us.
        let template = try ChatTemplate.detect(try file.metadata.string("tokenizer.chat_template"))
        #expect(template == .chatml)
        let text = template.render([.init(role: .user, content: "What is the capital of France?")])
        #expect(text == f["prompt_text"]?.string)
        let prompt = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        #expect(prompt == (try f.ints("prompt").values))

        let context = try LlamaContext(model: LlamaModel(file: file), contextLength: 256, threads: 2)
        let result = try TextGenerator(context: context, tokenizer: tokenizer)
            .generate(prompt: prompt, options: GenerationOptions(maxTokens: 32, temperature: 0))
        // llama.cpp's greedy tokens up to its first end-of-generation token.
        let reference = try f.ints("tokens").values
        let expected = Array(reference.prefix { !tokenizer.isEndOfGeneration($0) })
        #expect(result.tokens == expected, "first difference at \(firstDifference(result.tokens, expected) ?? -1)")
        #expect(result.text == "The capital of France is Paris.")
        #expect(result.stopReason == .endOfGeneration(token: reference[expected.count]))
        #expect(result.timings.promptTokens == prompt.count && result.timings.generatedTokens == expected.count)
    }

    @Test func templatesAreDetectedAsLlamaCppDoes() throws {
        #expect(try ChatTemplate.detect("{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}") == .chatml)
        #expect(try ChatTemplate.detect("<|im_start|>{% for m in messages %}User:{{ m.content }}<end_of_utterance>{% endfor %}") == .smolvlm)
        #expect(try ChatTemplate.detect("smolvlm") == .smolvlm)
        #expect(throws: ChatTemplate.DetectionError.self) { try ChatTemplate.detect("[INST] {{ content }} [/INST]") }
        #expect(throws: ChatTemplate.DetectionError.absent) { try ChatTemplate.detect(nil) }
        let smol = ChatTemplate.smolvlm.render([.init(role: .system, content: "Be brief."), .init(role: .user, content: "Hi"),
                                                .init(role: .assistant, content: "Hello"), .init(role: .user, content: "Bye")])
        #expect(smol == "<|im_start|>Be brief.\n\nUser: Hi<end_of_utterance>\nAssistant: Hello<end_of_utterance>\nUser: Bye<end_of_utterance>\nAssistant:")
        #expect(ChatTemplate.chatml.render([.init(role: .user, content: "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func contextOverflowIsATypedError() throws {
        let path = ReferenceFixture.root.appendingPathComponent("models/tiny-text-q4_k_m.gguf").path
        let context = try LlamaContext(model: LlamaModel(path: path), contextLength: 8, threads: 1)
        _ = try context.evaluate(tokens: [1, 2, 3, 4, 5])
        #expect(throws: ModelError.contextOverflow(needed: 9, capacity: 8)) { try context.evaluate(tokens: [1, 2, 3, 4]) }
        // The context is still usable after the refusal.
        _ = try context.evaluate(tokens: [6, 7, 8])
        #expect(context.position == 8)
        #expect(throws: ModelError.tokenOutOfRange(token: 999_999, vocabularySize: 49280)) {
            context.reset()
            return try context.evaluate(tokens: [999_999])
        }
        #expect(throws: ModelError.emptyInput) { try context.evaluate(tokens: []) }
    }

    /// A context too large for its KV cache to be mapped (or whose size overflows) is refused
    /// with a typed error, not a trap; a normal one can be made right after.
    @Test func impossibleContextLengthIsATypedError() throws {
        let path = ReferenceFixture.root.appendingPathComponent("models/tiny-text-q4_k_m.gguf").path
        let model = try LlamaModel(path: path)
        for length in [Int.max / 2, 1 << 60] {
            #expect {
                _ = try LlamaContext(model: model, contextLength: length, threads: 1)
            } throws: { error in
                guard case let ModelError.invalidHyperParameter(key, value, _) = error else { return false }
                return key == "context length" && value == String(length)
            }
        }
        _ = try LlamaContext(model: model, contextLength: 64, threads: 1).evaluate(tokens: [1, 2])
    }

    @Test func seededSamplingIsReproducible() throws {
        let path = ReferenceFixture.root.appendingPathComponent("models/tiny-text-q4_k_m.gguf").path
        let file = try GGUFFile(path: path)
        let model = try LlamaModel(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        func run(seed: UInt64, temperature: Float) throws -> [Int] {
            let context = try LlamaContext(model: model, contextLength: 64, threads: 1)
            return try TextGenerator(context: context, tokenizer: tokenizer)
                .generate(prompt: [1, 11126, 42],
                          options: GenerationOptions(maxTokens: 16, temperature: temperature, topK: 0, topP: 1, minP: 0, seed: seed)).tokens
        }
        #expect(try run(seed: 7, temperature: 0.8) == run(seed: 7, temperature: 0.8))
        #expect(try run(seed: 7, temperature: 0.8) != run(seed: 8, temperature: 0.8))
        // Greedy ignores the seed.
        #expect(try run(seed: 1, temperature: 0) == run(seed: 2, temperature: 0))
    }
}
