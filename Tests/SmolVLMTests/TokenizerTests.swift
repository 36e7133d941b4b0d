import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

// The tokenizer against llama.cpp (committed fixtures from Tests/Reference/make_reference.py),
// plus properties that need no model: streaming decoding, hostile metadata, merge order and
// special-token partitioning on a tiny hand-made vocabulary.

fileprivate enum Models {
    static func path(_ name: String) -> String { ReferenceFixture.modelsDirectory.appendingPathComponent(name).path }
    static func present(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    static let smolLM2Name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static let tinyName = "tiny-text-q8_0.gguf"
    static let smolLM2Absent = "models/\(smolLM2Name) is absent: run ./models/fetch-smollm2.sh"
    static let tinyAbsent = "models/\(tinyName) is absent: run python3 models/make_synthetic.py --preset tiny --types q8_0 --parts text"

    /// Loaded once per test process (tests run in parallel; static lets initialise once).
    static let smolLM2: Result<Tokenizer, any Error> = Result { try Tokenizer(gguf: GGUFFile(path: path(smolLM2Name))) }
    static let tiny: Result<Tokenizer, any Error> = Result { try Tokenizer(gguf: GGUFFile(path: path(tinyName))) }
}

@Suite("Tokenizer against llama.cpp")
struct TokenizerFixtureTests {
    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func smolLM2Strings() throws {
        try checkCases("tokenizer-smollm2", try Models.smolLM2.get())
    }

    @Test(.enabled(if: Models.present(Models.tinyName), Comment(rawValue: Models.tinyAbsent)))
    func smolVLMStrings() throws {
        try checkCases("tokenizer-smolvlm", try Models.tiny.get())
    }

    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func smolLM2Pieces() throws {
        try checkPieces("tokenizer-smollm2", try Models.smolLM2.get())
    }

    @Test(.enabled(if: Models.present(Models.tinyName), Comment(rawValue: Models.tinyAbsent)))
    func smolVLMPieces() throws {
        try checkPieces("tokenizer-smolvlm", try Models.tiny.get())
    }

    /// Special ids and the end-of-generation set, as llama.cpp reports them for these files
    /// (llama_vocab_bos/eos/eot and llama_vocab_is_eog over the whole vocabulary, llama-cpp-python
    /// 0.3.36). EOT is not in the metadata: llama.cpp picks it by text, in hash-map order.
    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func smolLM2SpecialTokens() throws {
        let t = try Models.smolLM2.get()
        #expect(t.vocabularySize == 49152)
        #expect(t.bos == 1 && t.eos == 2 && t.eot == 0 && t.pad == 2 && t.unk == 0)
        #expect(t.endOfGenerationTokens == [0, 2, 4])  // <|endoftext|>, <|im_end|>, <reponame> (FIM repo)
        #expect(t.isEndOfGeneration(2) && !t.isEndOfGeneration(1) && !t.isEndOfGeneration(-1) && !t.isEndOfGeneration(1 << 40))
        #expect(!t.addBOS && !t.addEOS)
        #expect(t.preTokenizer == .smollm)
        #expect(t.id(of: "<|im_end|>") == 2 && t.id(of: "Ġthe") == 260 && t.id(of: "<nope>") == nil)
        #expect(t.isControl(1) && !t.isControl(260))
        #expect(t.text(of: 2) == "<|im_end|>" && t.text(of: 49152) == nil)
    }

    @Test(.enabled(if: Models.present(Models.tinyName), Comment(rawValue: Models.tinyAbsent)))
    func smolVLMSpecialTokens() throws {
        let t = try Models.tiny.get()
        #expect(t.vocabularySize == 49280)
        #expect(t.bos == 1 && t.eos == 49279 && t.eot == 49279)
        #expect(t.endOfGenerationTokens == [0, 2, 4, 49279])
        #expect(t.id(of: "<end_of_utterance>") == 49279 && t.isControl(49279))
        #expect(t.id(of: "<image>").map(t.isControl) == true)
    }

    /// Text → tokens → text is the identity for smollm (no space clean-up), special or not.
    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func roundTrip() throws {
        let t = try Models.smolLM2.get()
        let f = try ReferenceFixture("tokenizer-smollm2")
        for c in f["cases"]?.array ?? [] {
            let text = c["text"]?.string ?? ""
            #expect(t.decode(t.encode(text, parseSpecial: false)) == text)
            #expect(t.decode(t.encode(text), special: true) == text)
        }
        // Control tokens vanish unless asked for.
        #expect(t.decode(t.encode("<|im_start|>hi<|im_end|>")) == "hi")
        #expect(t.decode([1, 2, 0]) == "" && t.decode([1], special: true) == "<|im_start|>")
    }

    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func addSpecialFollowsMetadata() throws {
        let t = try Models.smolLM2.get()  // add_bos_token = false, no add_eos_token
        #expect(t.encode("Hello", addSpecial: true) == t.encode("Hello"))
        #expect(t.encode("") == [] && t.encode("", addSpecial: true) == [])
    }

    /// The 4 KB prompt must tokenize in well under a millisecond or so; prints the figure.
    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func speed() throws {
        let t = try Models.smolLM2.get()
        let paragraph = """
            The quick brown fox jumps over the lazy dog. In 1998, 3.14159 people (roughly) said: "Don't \
            worry, we'll fix it tomorrow!" Meanwhile, the café served crème brûlée to naïve tourists.\n
            """
        var prompt = ""
        while prompt.utf8.count < 4096 { prompt += paragraph }
        prompt = String(decoding: prompt.utf8.prefix(4096), as: UTF8.self)
        var tokens = t.encode(prompt)
        let rounds = 200
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0 ..< rounds { tokens = t.encode(prompt) }
        }
        let perCall = elapsed / rounds
        let micros = Double(perCall.components.attoseconds) / 1e12 + Double(perCall.components.seconds) * 1e6
        print("tokenizer speed: 4096-byte English prompt → \(tokens.count) tokens in \(String(format: "%.0f", micros)) µs per call (mean of \(rounds))")
        // Long runs must stay linear: 64 KB of spaces, one 64 KB "word", 64 KB of digits.
        for text in [String(repeating: " ", count: 65536), String(repeating: "a", count: 65536),
                     String(repeating: "7", count: 65536), String(repeating: "\n \t", count: 20000)] {
            var n = 0
            let e = clock.measure { n = t.encode(text).count }
            print("tokenizer speed: \(text.utf8.count)-byte run of \(String(reflecting: String(text.prefix(3)))) → \(n) tokens in \(e)")
            #expect(e < .seconds(1))
            #expect(t.decode(t.encode(text)) == text)
        }
        #expect(micros < 5000, "tokenizing 4 KB took \(micros) µs")
        // Building the tokenizer from an already opened file (49152 tokens, 48900 merges).
        let file = try GGUFFile(path: Models.path(Models.smolLM2Name))
        var built: Tokenizer?
        let load = clock.measure { built = try? Tokenizer(gguf: file) }
        print("tokenizer speed: built from GGUF metadata in \(load)")
        #expect(built?.vocabularySize == 49152)
    }

    func checkCases(_ fixture: String, _ t: Tokenizer) throws {
        let f = try ReferenceFixture(fixture)
        let cases = try #require(f["cases"]?.array)
        #expect(cases.count > 20)
        var failures = 0
        for c in cases {
            let text = try #require(c["text"]?.string)
            for (mode, parse) in [("special", true), ("plain", false)] {
                let expected = try #require(c[mode]?.ints)
                let ours = t.encode(text, parseSpecial: parse)
                if let i = firstDifference(ours, expected) {
                    failures += 1
                    Issue.record("""
                        \(fixture) [\(mode)] \(String(reflecting: text))
                          llama.cpp: \(expected)
                          ours:      \(ours)
                          first difference at index \(i)
                        """)
                }
            }
        }
        print("\(fixture): \(cases.count) strings × 2 modes, \(cases.count * 2 - failures) identical to llama.cpp")
    }

    func checkPieces(_ fixture: String, _ t: Tokenizer) throws {
        let f = try ReferenceFixture(fixture)
        let ids = try f.ints("piece_check_ids").values
        let hexValues = try #require(f["piece_check_hex"]?.array)
        let hex = hexValues.compactMap(\.string)
        #expect(ids.count == hex.count && ids.count > 400)
        var mismatches = 0
        for (id, h) in zip(ids, hex) {
            let ours = t.piece(for: id, special: true).map { String(format: "%02x", $0) }.joined()
            if ours != h {
                mismatches += 1
                Issue.record("\(fixture): piece of \(id) is \(ours), llama.cpp gives \(h)")
            }
        }
        print("\(fixture): \(ids.count) pieces, \(ids.count - mismatches) identical to llama.cpp")
    }
}

// MARK: - Streaming

@Suite("Streaming decoder")
struct StreamingDecoderTests {
    /// Decoding token by token gives the same text as decoding all at once, and never shows a
    /// replacement character for a character split across tokens.
    @Test(.enabled(if: Models.present(Models.smolLM2Name), Comment(rawValue: Models.smolLM2Absent)))
    func splitCharactersWithRealVocabulary() throws {
        let t = try Models.smolLM2.get()
        for text in ["Emoji: 🙂👍🏽🇫🇷 and ❤️", "中文字符和日本語のテキスト、한국어", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧑‍🚀 ok", "Café crème"] {
            let tokens = t.encode(text)
            var stream = t.streamingDecoder()
            var pieces: [String] = []
            for token in tokens { pieces.append(stream.append(token)) }
            pieces.append(stream.finish())
            #expect(pieces.joined() == t.decode(tokens))
            #expect(pieces.joined() == text)
            #expect(!pieces.contains { $0.contains("\u{FFFD}") }, "\(pieces)")
            // At least one character was really split (otherwise the test proves nothing).
            if text.hasPrefix("Emoji") || text.hasPrefix("中文") {
                #expect(tokens.contains { String(validating: t.piece(for: $0), as: UTF8.self) == nil })
            }
        }
    }

    @Test func splitCharactersWithByteTokens() throws {
        let t = try MiniVocabulary.tokenizer()
        let text = "a🙂b中c\u{1F3FD}"
        let tokens = t.encode(text)
        #expect(tokens.count >= 10)  // mostly one token per byte in this vocabulary
        var stream = t.streamingDecoder()
        var out = ""
        for token in tokens {
            let chunk = stream.append(token)
            #expect(!chunk.contains("\u{FFFD}"))
            out += chunk
        }
        #expect(stream.pendingBytes.isEmpty)
        out += stream.finish()
        #expect(out == text && out == t.decode(tokens))
    }

    @Test func invalidBytesBecomeReplacementCharacters() throws {
        let t = try MiniVocabulary.tokenizer()
        var s = t.streamingDecoder()
        #expect(s.append(bytes: [0xF0, 0x9F]) == "")          // could still become an emoji
        #expect(s.pendingBytes == [0xF0, 0x9F])
        #expect(s.append(bytes: [0x41]) == "\u{FFFD}A")        // now it cannot
        #expect(s.append(bytes: [0xE4, 0xB8]) == "")
        #expect(s.finish() == "\u{FFFD}")                      // stream ended mid-character
        #expect(s.append(bytes: [0xFF, 0xC0, 0x80, 0xED, 0xA0, 0x80]) == String(decoding: [0xFF, 0xC0, 0x80, 0xED, 0xA0, 0x80] as [UInt8], as: UTF8.self))
        #expect(s.pendingBytes.isEmpty)
    }

    /// Any byte stream, cut anywhere, decodes to exactly what decoding it whole gives.
    @Test func randomByteStreamsMatchWholeDecoding() throws {
        let t = try MiniVocabulary.tokenizer()
        var rng = ByteStreamRNG(seed: 42)
        let alphabet: [UInt8] = [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xC0, 0xDF, 0xE0, 0xE4, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x8F, 0x90]
        for _ in 0 ..< 2000 {
            let bytes = (0 ..< Int(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var s = t.streamingDecoder()
            var out = "", i = 0
            while i < bytes.count {
                let n = min(bytes.count - i, 1 + Int(rng.next() % 4))
                out += s.append(bytes: bytes[i ..< i + n])
                i += n
            }
            out += s.finish()
            #expect(out == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }
}

// MARK: - A tiny vocabulary

/// Byte-level BPE vocabulary written by hand: 3 control tokens, 1 user-defined, the 256 byte
/// tokens, and merges that build "hello" and "Ġworld".
fileprivate enum MiniVocabulary {
    /// GPT-2's byte → character mapping (the test's own copy).
    static func byteText(_ b: Int) -> String {
        var extra = 256
        for x in 0 ..< 256 {
            let printable = (0x21 ... 0x7E).contains(x) || (0xA1 ... 0xAC).contains(x) || (0xAE ... 0xFF).contains(x)
            if x == b { return String(Character(Unicode.Scalar(printable ? x : extra)!)) }
            if !printable { extra += 1 }
        }
        fatalError()
    }

    static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
    static let mergeList = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "Ċ Ċ"]

    static var tokens: [String] {
        specials + (0 ..< 256).map(byteText) + mergeList.map { $0.replacingOccurrences(of: " ", with: "") }
    }
    static var types: [Int32] { [3, 3, 3, 4] + [Int32](repeating: 1, count: 256 + mergeList.count) }

    static func metadata(pre: String? = "smollm", override: [String: GGUFBytes.Value] = [:], drop: Set<String> = []) -> [UInt8] {
        var kv: [(String, GGUFBytes.Value)] = [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(types)),
            ("tokenizer.ggml.merges", .strings(mergeList)),
            ("tokenizer.ggml.bos_token_id", .uint32(1)),
            ("tokenizer.ggml.eos_token_id", .uint32(2)),
        ]
        if let pre { kv.append(("tokenizer.ggml.pre", .string(pre))) }
        kv = kv.filter { !drop.contains($0.0) && override[$0.0] == nil }
        for (k, v) in override.sorted(by: { $0.key < $1.key }) { kv.append((k, v)) }
        return GGUFBytes.file(kv)
    }

    static func tokenizer(pre: String? = "smollm", override: [String: GGUFBytes.Value] = [:], drop: Set<String> = []) throws -> Tokenizer {
        try Tokenizer(gguf: GGUFFile(bytes: metadata(pre: pre, override: override, drop: drop)))
    }

    static func id(_ text: String) -> Int { tokens.firstIndex(of: text)! }
    static func bytes(_ s: String) -> [Int] { s.utf8.map { id(byteText(Int($0))) } }
}

/// Writes a GGUF file with metadata only (layout as Tests/GGUFTests/GGUFBuilder.swift).
enum GGUFBytes {
    enum Value {
        case string(String), uint32(UInt32), int32(Int32), bool(Bool), float32(Float)
        case strings([String]), int32s([Int32]), float32s([Float])
    }

    static func file(_ kv: [(String, Value)]) -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
        b += Array("GGUF".utf8)
        u32(3)
        u64(0)  // tensors
        u64(UInt64(kv.count))
        for (key, value) in kv {
            str(key)
            switch value {
            case let .string(s): u32(8); str(s)
            case let .uint32(v): u32(4); u32(v)
            case let .int32(v): u32(5); u32(UInt32(bitPattern: v))
            case let .bool(v): u32(7); b.append(v ? 1 : 0)
            case let .float32(v): u32(6); u32(v.bitPattern)
            case let .strings(a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
            case let .int32s(a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
            case let .float32s(a): u32(9); u32(6); u64(UInt64(a.count)); a.forEach { u32($0.bitPattern) }
            }
        }
        while b.count % 32 != 0 { b.append(0) }
        return b
    }
}

fileprivate typealias ByteStreamRNG = SplitMix64

@Suite("Tokenizer on a hand-made vocabulary")
struct MiniVocabularyTests {
    @Test func mergesApplyByRank() throws {
        let t = try MiniVocabulary.tokenizer()
        let v = MiniVocabulary.self
        #expect(t.encode("hello world") == [v.id("hello"), v.id("Ġworld")])
        #expect(t.encode("hello") == [v.id("hello")])
        // "hellllo": "l l" pairs merge leftmost first: he ll ll o → hell ll o.
        #expect(t.encode("hellllo") == [v.id("hell"), v.id("ll"), v.id("o")])
        #expect(t.encode(" w") == [v.id("Ġw")])
        #expect(t.decode(t.encode("hello world, wörld!")) == "hello world, wörld!")
    }

    @Test func digitsAreSplitOneByOne() throws {
        let t = try MiniVocabulary.tokenizer()
        #expect(t.encode("a 12") == MiniVocabulary.bytes("a ") + MiniVocabulary.bytes("12"))
        // gpt-2 keeps " 12" together as one pre-token; without merges it is still bytes.
        let g = try MiniVocabulary.tokenizer(pre: "gpt-2")
        #expect(g.preTokenizer == .gpt2)
        #expect(g.encode("a 12") == MiniVocabulary.bytes("a 12"))
    }

    @Test func whitespaceRuns() throws {
        let t = try MiniVocabulary.tokenizer()
        let v = MiniVocabulary.self
        // "\n\n\n" is one pre-token ("\s+" at the end): merges ĊĊ then a lone Ċ.
        #expect(t.encode("\n\n\n") == [v.id("ĊĊ"), v.id(v.byteText(10))])
        // "a\n\n b": "\n\n " is split before its last space, which joins "b".
        #expect(t.encode("a\n\n b") == [v.id("a"), v.id("ĊĊ"), v.id("Ġ"), v.id("b")])
    }

    @Test func specialTokenParsing() throws {
        let t = try MiniVocabulary.tokenizer()
        let v = MiniVocabulary.self
        #expect(t.encode("<|im_start|>hello<image><|im_end|>") == [1, v.id("hello"), 3, 2])
        // Without special parsing, control tokens are text but user-defined ones still match.
        #expect(t.encode("<|im_start|>hello<image>", parseSpecial: false) == v.bytes("<|im_start|>") + [v.id("hello"), 3])
        let plain = t.encode("<|im_start|>x<image>", parseSpecial: false)
        #expect(plain.last == 3 && !plain.contains(1))
        #expect(t.decode(plain) == "<|im_start|>x<image>")
        #expect(t.decode([1, 3, 2]) == "<image>" && t.decode([1, 3, 2], special: true) == "<|im_start|><image><|im_end|>")
        #expect(t.piece(for: 1) == [] && t.piece(for: 1, special: true) == Array("<|im_start|>".utf8))
        #expect(t.piece(for: -1) == [] && t.piece(for: 100_000) == [])
        // Partial and nested lookalikes stay text.
        #expect(t.encode("<|im_start|<|im_start|>").last == 1)
        #expect(t.encode("<|im_start|<|im_start|>").count == "<|im_start|".utf8.count + 1)
    }

    @Test func endOfGenerationByText() throws {
        let t = try MiniVocabulary.tokenizer()
        // EOS from metadata; <|im_end|> and <|endoftext|> recognised by text. Of the two EOT
        // candidates llama.cpp takes the first its (libstdc++) hash map yields.
        // The expected winners come from a real std::unordered_map filled with these texts.
        #expect(t.eos == 2 && t.bos == 1)
        #expect(t.endOfGenerationTokens == [0, 2])
        #expect(t.eot == 0)
        var swapped = MiniVocabulary.tokens
        swapped.swapAt(0, 2)  // <|im_end|> = 0, <|endoftext|> = 2: now the higher id comes first
        let u = try MiniVocabulary.tokenizer(override: ["tokenizer.ggml.tokens": .strings(swapped)])
        #expect(u.eot == 2 && u.endOfGenerationTokens == [0, 2])
        // An explicit eot_token_id wins over detection.
        let w = try MiniVocabulary.tokenizer(override: ["tokenizer.ggml.eot_token_id": .uint32(1)])
        #expect(w.eot == 1 && w.endOfGenerationTokens == [0, 1, 2])
    }

    @Test func defaultsWhenKeysAreAbsent() throws {
        // Without BOS/EOS keys llama.cpp uses 11 for both in a gpt2 vocabulary.
        let t = try MiniVocabulary.tokenizer(drop: ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"])
        #expect(t.bos == 11 && t.eos == 11)
        #expect(t.isEndOfGeneration(11))
        // Absent pre-tokenizer: llama.cpp's "default" expressions.
        let d = try MiniVocabulary.tokenizer(pre: nil)
        #expect(d.preTokenizer == .default)
        #expect(d.decode(d.encode("a 1234, b!! c")) == "a 1234, b!! c")
    }

    @Test func addSpecialTokens() throws {
        let t = try MiniVocabulary.tokenizer(override: ["tokenizer.ggml.add_bos_token": .bool(true),
                                                        "tokenizer.ggml.add_eos_token": .bool(true)])
        #expect(t.encode("hello", addSpecial: true) == [1, MiniVocabulary.id("hello"), 2])
        #expect(t.encode("hello") == [MiniVocabulary.id("hello")])
        #expect(t.encode("", addSpecial: true) == [1, 2])
    }
}

// MARK: - Hostile metadata

@Suite("Tokenizer refuses bad metadata")
struct TokenizerHostileMetadataTests {
    private func error(pre: String? = "smollm", override: [String: GGUFBytes.Value] = [:], drop: Set<String> = []) -> TokenizerError? {
        do {
            _ = try MiniVocabulary.tokenizer(pre: pre, override: override, drop: drop)
            return nil
        } catch let e as TokenizerError {
            return e
        } catch {
            Issue.record("not a TokenizerError: \(error)")
            return nil
        }
    }

    @Test func valid() { #expect(error() == nil) }

    @Test func unsupportedModelAndPreTokenizer() {
        #expect(error(override: ["tokenizer.ggml.model": .string("llama")]) == .unsupportedModel("llama"))
        #expect(error(pre: "qwen2") == .unsupportedPreTokenizer("qwen2"))
        #expect(TokenizerError.unsupportedModel("llama").description.contains("'llama'"))
        #expect(error(drop: ["tokenizer.ggml.model"]) == .missingMetadata("tokenizer.ggml.model"))
    }

    @Test func missingOrMistypedArrays() {
        #expect(error(drop: ["tokenizer.ggml.tokens"]) == .missingMetadata("tokenizer.ggml.tokens"))
        #expect(error(drop: ["tokenizer.ggml.merges"]) == .missingMetadata("tokenizer.ggml.merges"))
        #expect(error(override: ["tokenizer.ggml.tokens": .int32s([1, 2])])
            == .invalidMetadata(key: "tokenizer.ggml.tokens", expected: "array[string]", found: "array[int32]"))
        #expect(error(override: ["tokenizer.ggml.merges": .string("h e")])
            == .invalidMetadata(key: "tokenizer.ggml.merges", expected: "array[string]", found: "string"))
        #expect(error(override: ["tokenizer.ggml.token_type": .strings(["1"])])
            == .invalidMetadata(key: "tokenizer.ggml.token_type", expected: "array of integers", found: "array[string]"))
        #expect(error(override: ["tokenizer.ggml.tokens": .strings([])]) == .emptyVocabulary)
        #expect(error(override: ["tokenizer.ggml.token_type": .int32s([1, 1, 1])])
            == .tooFewTokenTypes(tokens: MiniVocabulary.tokens.count, types: 3))
        #expect(error(pre: nil, override: ["tokenizer.ggml.pre": .uint32(1)])
            == .invalidMetadata(key: "tokenizer.ggml.pre", expected: "string", found: "uint32"))
        #expect(error(override: ["tokenizer.ggml.add_bos_token": .uint32(1)])
            == .invalidMetadata(key: "tokenizer.ggml.add_bos_token", expected: "bool", found: "uint32"))
    }

    /// Types outside llama.cpp's 0...6 (found by fuzzing: 99 and -5 were accepted as "normal").
    @Test func tokenTypesOutOfRange() {
        for bad: Int32 in [99, -5, 7] {
            var types = MiniVocabulary.types
            types[5] = bad
            #expect(error(override: ["tokenizer.ggml.token_type": .int32s(types)]) == .invalidTokenType(token: 5, type: Int(bad)))
        }
        #expect(TokenizerError.invalidTokenType(token: 5, type: 99).description.contains("0 to 6"))
    }

    @Test func idsOutOfRange() {
        let n = MiniVocabulary.tokens.count
        #expect(error(override: ["tokenizer.ggml.bos_token_id": .uint32(UInt32(n))])
            == .specialTokenOutOfRange(key: "tokenizer.ggml.bos_token_id", id: n, vocabularySize: n))
        #expect(error(override: ["tokenizer.ggml.eos_token_id": .int32(-1)])
            == .specialTokenOutOfRange(key: "tokenizer.ggml.eos_token_id", id: -1, vocabularySize: n))
        #expect(error(override: ["tokenizer.ggml.padding_token_id": .uint32(1 << 31)])
            == .specialTokenOutOfRange(key: "tokenizer.ggml.padding_token_id", id: 1 << 31, vocabularySize: n))
        #expect(error(override: ["tokenizer.ggml.eot_token_id": .string("2")])
            == .invalidMetadata(key: "tokenizer.ggml.eot_token_id", expected: "an integer", found: "string"))
    }

    @Test func badMerges() {
        #expect(error(override: ["tokenizer.ggml.merges": .strings(["h e", "hello"])]) == .malformedMerge(index: 1, merge: "hello"))
        #expect(error(override: ["tokenizer.ggml.merges": .strings([" he"])]) == .malformedMerge(index: 0, merge: " he"))
        #expect(error(override: ["tokenizer.ggml.merges": .strings(["h e", "x yz"])])
            == .mergeNamesUnknownToken(index: 1, merge: "x yz", token: "yz"))
        #expect(error(override: ["tokenizer.ggml.merges": .strings(["h x"])])
            == .mergeNamesUnknownToken(index: 0, merge: "h x", token: "hx"))
    }

    @Test func duplicateTokensAndMissingBOS() {
        var tokens = MiniVocabulary.tokens
        tokens[5] = tokens[4]
        #expect(error(override: ["tokenizer.ggml.tokens": .strings(tokens)])
            == .duplicateToken(text: tokens[4], first: 4, second: 5))
        // Canonically equivalent but different bytes are different tokens, as in llama.cpp.
        var accents = MiniVocabulary.tokens
        accents[3] = "<\u{E9}>"
        accents[0] = "<e\u{301}>"
        #expect(error(override: ["tokenizer.ggml.tokens": .strings(accents)]) == nil)
        // add_bos without a BOS token (vocabulary too small for the default 11).
        let small = Array(MiniVocabulary.tokens.prefix(5))
        #expect(error(override: ["tokenizer.ggml.tokens": .strings(small), "tokenizer.ggml.token_type": .int32s([3, 3, 3, 4, 1]),
                                 "tokenizer.ggml.merges": .strings([]), "tokenizer.ggml.add_bos_token": .bool(true)],
                      drop: ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"])
            == .missingSpecialToken("tokenizer.ggml.add_bos_token is set but there is no BOS token"))
    }

    /// Odd but legal: empty texts, the undefined token type, byte-type tokens, a vocabulary
    /// without some byte tokens. llama.cpp accepts these; so must we, without trapping. (Types
    /// outside 0...6, which llama.cpp also takes as undefined, are refused: tokenTypesOutOfRange.)
    @Test func oddButLegalVocabularies() throws {
        var tokens = MiniVocabulary.tokens
        var types = MiniVocabulary.types
        tokens[0] = ""                      // llama.cpp renames it "[EMPTY_0]"
        types[5] = 0                        // undefined type: renders as nothing
        types[6] = 6                        // byte type: parsed as "<0xXX>", here text "Ă" (byte 0x02)
        let t = try MiniVocabulary.tokenizer(override: ["tokenizer.ggml.tokens": .strings(tokens),
                                                        "tokenizer.ggml.token_type": .int32s(types)])
        #expect(t.id(of: "[EMPTY_0]") == 0)
        #expect(t.piece(for: 5, special: true) == [])
        #expect(t.encode("hello") == [MiniVocabulary.id("hello")])
        // Drop the byte token of "z": llama.cpp's BPE then emits nothing for that byte.
        var noZ = MiniVocabulary.tokens
        noZ[MiniVocabulary.id("z")] = "[gone]"
        let u = try MiniVocabulary.tokenizer(override: ["tokenizer.ggml.tokens": .strings(noZ)])
        #expect(u.encode("aza") == [MiniVocabulary.id("a"), MiniVocabulary.id("a")])
    }
}
