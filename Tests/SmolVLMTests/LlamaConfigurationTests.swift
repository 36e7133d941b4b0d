import GGUF
import SmolVLM
import Testing

/// Hyper-parameters a file can only get wrong: each is a typed error at load, naming the key.
@Suite("Llama hyper-parameters are range-checked")
struct LlamaConfigurationTests {
    static let valid: [(String, GGUFBytes.Value)] = [
        ("general.architecture", .string("llama")),
        ("llama.embedding_length", .uint32(64)), ("llama.block_count", .uint32(2)),
        ("llama.feed_forward_length", .uint32(128)), ("llama.attention.head_count", .uint32(4)),
        ("llama.attention.head_count_kv", .uint32(2)), ("llama.rope.freq_base", .float32(10000)),
        ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)), ("llama.context_length", .uint32(8192)),
    ]

    static func configuration(_ override: [String: GGUFBytes.Value]) throws -> LlamaConfiguration {
        let kv = valid.map { ($0.0, override[$0.0] ?? $0.1) }
        return try LlamaConfiguration(GGUFFile(bytes: GGUFBytes.file(kv)).metadata, vocabularySize: 100)
    }

    static func rejectedKey(_ override: [String: GGUFBytes.Value]) -> String? {
        do {
            _ = try configuration(override)
            return nil
        } catch let ModelError.invalidHyperParameter(key, _, _) {
            return key
        } catch {
            return "other error: \(error)"
        }
    }

    @Test func validParses() throws {
        let c = try Self.configuration([:])
        #expect(c.contextLength == 8192 && c.ropeFrequencyBase == 10000 && c.headDimension == 16)
    }

    /// Found by fuzzing: these were accepted and gave NaN logits or an absurd context.
    @Test func meaninglessValuesAreRefused() {
        for bad: Float in [.nan, -10000, 0, .infinity] {
            #expect(Self.rejectedKey(["llama.rope.freq_base": .float32(bad)]) == "llama.rope.freq_base")
        }
        for bad: Float in [-1e-5, .nan] {
            #expect(Self.rejectedKey(["llama.attention.layer_norm_rms_epsilon": .float32(bad)]) == "llama.attention.layer_norm_rms_epsilon")
        }
        #expect(Self.rejectedKey(["llama.context_length": .uint32(UInt32.max)]) == "llama.context_length")
        #expect(Self.rejectedKey(["llama.context_length": .uint32(UInt32(LlamaConfiguration.maxContextLength))]) == nil)
    }
}
