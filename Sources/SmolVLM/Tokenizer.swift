import GGUF

/// The text ↔ token-id mapping of a GGUF model, built from its metadata alone and identical to
/// llama.cpp's (`llama_tokenize`, `llama_token_to_piece`, `llama_detokenize`).
///
/// Supported: `tokenizer.ggml.model = gpt2` (byte-level BPE, as SmolLM2 and SmolVLM use) with the
/// `smollm`, `gpt-2` or `default` pre-tokenizer (and llama.cpp's aliases of these, see
/// ``PreTokenizer``). Anything else is refused with a
/// ``TokenizerError`` when the tokenizer is built, never at use.
///
/// ```swift
/// let tokenizer = try Tokenizer(gguf: try GGUFFile(path: "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
/// let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n")  // special tokens parsed
/// let text = tokenizer.decode(ids)                                // control tokens hidden
/// ```
///
/// The value is immutable and cheap to copy (the vocabulary is shared), and safe to use from
/// any number of threads at once.
public struct Tokenizer: Sendable {
    /// llama.cpp's per-token attributes (`llama_token_attr`), derived from
    /// `tokenizer.ggml.token_type` and adjusted the way llama.cpp adjusts them (for instance,
    /// tokens it recognises as end-of-generation by their text are made control tokens).
    public struct Attributes: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// The unknown-token placeholder (`<unk>`).
        public static let unknown = Attributes(rawValue: 1 << 0)
        /// A reserved id with no piece; never produced by encoding.
        public static let unused = Attributes(rawValue: 1 << 1)
        /// An ordinary piece of text, produced by BPE merges.
        public static let normal = Attributes(rawValue: 1 << 2)
        /// A control token such as `<|im_start|>`: matched in text only with `parseSpecial`, rendered
        /// only with `special`.
        public static let control = Attributes(rawValue: 1 << 3)
        /// A token added by the model author (e.g. `<image>`): always matched in text, always rendered.
        public static let userDefined = Attributes(rawValue: 1 << 4)
        /// A byte-fallback token `<0xNN>` standing for one raw byte.
        public static let byte = Attributes(rawValue: 1 << 5)

        /// The attribute of a GGUF token type (1 normal, 2 unknown, 3 control, 4 user-defined,
        /// 5 unused, 6 byte); other values are "undefined" (no attribute), as in llama.cpp.
        init(tokenType: Int) {
            switch tokenType {
            case 1: self = .normal
            case 2: self = .unknown
            case 3: self = .control
            case 4: self = .userDefined
            case 5: self = .unused
            case 6: self = .byte
            default: self = []
            }
        }
    }

    /// A token text compared and hashed by its UTF-8 bytes, as llama.cpp's std::string keys are
    /// (Swift's String equality is Unicode canonical equivalence: "é" == "e\u{301}").
    struct TextKey: Hashable, Sendable {
        let text: String
        init(_ text: String) { self.text = text }
        static func == (a: TextKey, b: TextKey) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }
        func hash(into hasher: inout Hasher) {
            var s = text
            s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// Everything built from the vocabulary, shared by copies.
    final class Vocabulary: Sendable {
        let texts: [String]
        let attributes: [Attributes]
        let ids: [TextKey: Int32]
        /// Token of each byte's one-character text, or -1.
        let byteTokens: [Int32]
        let merges: MergeTable
        let special: SpecialTokenMatcher
        /// `llama_token_to_piece(special: true)` of every token, concatenated.
        let pieceBytes: [UInt8]
        let pieceStart: [Int32]
        let endOfGeneration: [Bool]

        init(texts: [String], attributes: [Attributes], ids: [TextKey: Int32], byteTokens: [Int32],
             merges: MergeTable, special: SpecialTokenMatcher, pieceBytes: [UInt8], pieceStart: [Int32],
             endOfGeneration: [Bool]) {
            self.texts = texts
            self.attributes = attributes
            self.ids = ids
            self.byteTokens = byteTokens
            self.merges = merges
            self.special = special
            self.pieceBytes = pieceBytes
            self.pieceStart = pieceStart
            self.endOfGeneration = endOfGeneration
        }
    }

    let vocabulary: Vocabulary

    /// How text is split into words before merging.
    public let preTokenizer: PreTokenizer
    /// Beginning-of-sequence token (`tokenizer.ggml.bos_token_id`; llama.cpp's default for
    /// gpt2 vocabularies, 11, when absent).
    public let bos: Int?
    /// End-of-sequence token (`tokenizer.ggml.eos_token_id`; default 11 like `bos`).
    public let eos: Int?
    /// End-of-turn token: `tokenizer.ggml.eot_token_id`, or the token llama.cpp recognises by
    /// its text (`<|im_end|>`, `<|endoftext|>`, `<end_of_utterance>`, ...). When several such
    /// tokens exist, llama.cpp takes the first its hash map yields; so does this (see
    /// `LibstdcxxHashOrder`): 0 for SmolLM2, 49279 `<end_of_utterance>` for SmolVLM.
    public let eot: Int?
    /// End-of-message token (`tokenizer.ggml.eom_token_id` or `<|eom_id|>`).
    public let eom: Int?
    /// Unknown-token id (`tokenizer.ggml.unknown_token_id`).
    public let unk: Int?
    /// Padding token (`tokenizer.ggml.padding_token_id`).
    public let pad: Int?
    /// Whether `encode(_:addSpecial: true)` starts with ``bos`` (`tokenizer.ggml.add_bos_token`).
    public let addBOS: Bool
    /// Whether `encode(_:addSpecial: true)` ends with ``eos`` (`tokenizer.ggml.add_eos_token`).
    public let addEOS: Bool
    /// Whether `byte` has a one-byte token; a byte without one is dropped by encoding, as in
    /// llama.cpp (SmolLM2 lacks 21 of them: 0x04, 0x06, …, 0xF5…0xFF).
    package func hasByteToken(_ byte: UInt8) -> Bool { vocabulary.byteTokens[Int(byte)] >= 0 }

    /// Every token that ends generation, ascending (llama.cpp's `special_eog_ids`).
    public let endOfGenerationTokens: [Int]
    /// llama.cpp's `clean_spaces` (`clean_up_tokenization_spaces`) for this pre-tokenizer:
    /// applied by ``decode(_:special:)``. Off for `smollm`.
    package let cleanSpaces: Bool
    /// `tokenizer.ggml.add_space_prefix`: ``decode(_:special:)`` drops one leading space.
    package let addSpacePrefix: Bool

    // MARK: - Queries

    /// Number of tokens in the vocabulary; valid ids are `0 ..< vocabularySize`.
    public var vocabularySize: Int { vocabulary.texts.count }

    /// The token's text as stored in the vocabulary (byte-level form: a space is "Ġ"), or nil
    /// for an id out of range.
    public func text(of token: Int) -> String? {
        vocabulary.texts.indices.contains(token) ? vocabulary.texts[token] : nil
    }

    /// The token whose vocabulary text is exactly `tokenText` (byte-level form, or a special
    /// token such as `"<|im_end|>"`), or nil.
    public func id(of tokenText: String) -> Int? { vocabulary.ids[TextKey(tokenText)].map(Int.init) }

    /// The token's attributes (empty for an id out of range).
    public func attributes(of token: Int) -> Attributes {
        vocabulary.attributes.indices.contains(token) ? vocabulary.attributes[token] : []
    }

    /// Whether the token is a control token (rendered as nothing unless asked for).
    public func isControl(_ token: Int) -> Bool { attributes(of: token).contains(.control) }

    /// Whether generation stops at this token: EOS, EOT, EOM, the FIM pad/repo/separator tokens
    /// and tokens llama.cpp recognises by their text (`<|im_end|>`, `<|endoftext|>`,
    /// `<end_of_utterance>`, `<|eot_id|>`, ...); see ``endOfGenerationTokens``.
    public func isEndOfGeneration(_ token: Int) -> Bool {
        vocabulary.endOfGeneration.indices.contains(token) && vocabulary.endOfGeneration[token]
    }

    // MARK: - Encoding

    /// The tokens of `text`, as `llama_tokenize(text, add_special: addSpecial,
    /// parse_special: parseSpecial)`.
    ///
    /// - Parameters:
    ///   - text: the text to tokenize, any Unicode.
    ///   - addSpecial: add ``bos`` / ``eos`` around the text if the model asks for them
    ///     (``addBOS``, ``addEOS``; both off for SmolLM2 and SmolVLM).
    ///   - parseSpecial: recognise control tokens such as `<|im_start|>` written in the text.
    ///     When false they are tokenized as plain text; user-defined tokens are recognised
    ///     either way, as in llama.cpp.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = true) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial, addBOS, let bos { output.append(bos) }
        var text = text
        text.withUTF8 { encodeBody($0, parseSpecial: parseSpecial, into: &output) }
        if addSpecial, addEOS, let eos { output.append(eos) }
        return output
    }

    private func encodeBody(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, into output: inout [Int]) {
        let fragments = vocabulary.special.partition(bytes, parseSpecial: parseSpecial)
        if fragments.isEmpty { return }
        var splitter = WordSplitter()
        let bpe = BPEScratch()
        let merges = vocabulary.merges
        vocabulary.byteTokens.withUnsafeBufferPointer { byteTokens in
            for fragment in fragments {
                switch fragment {
                case let .token(t):
                    output.append(t)
                case let .text(range):
                    splitter.split(bytes, range, preTokenizer)
                    for (a, b) in splitter.words {
                        let start = splitter.offsets[a], end = splitter.offsets[b]
                        bpe.encode(UnsafeBufferPointer(rebasing: bytes[start ..< end]), byteTokens: byteTokens,
                                   merges: merges, into: &output)
                    }
                }
            }
        }
    }

    // MARK: - Decoding

    /// The bytes of one token, as `llama_token_to_piece(token, lstrip: 0, special: special)`:
    /// byte-level text mapped back to raw bytes for normal tokens; the text itself for special
    /// tokens. Control and unknown tokens give nothing unless `special` is true; user-defined
    /// tokens are always rendered. An id out of range gives nothing (llama.cpp would throw).
    ///
    /// A piece need not be valid UTF-8 on its own: a character may be split across tokens. Use
    /// ``decode(_:special:)`` or ``StreamingDecoder`` to get text.
    public func piece(for token: Int, special: Bool = false) -> [UInt8] {
        guard vocabulary.texts.indices.contains(token) else { return [] }
        if !special && !vocabulary.attributes[token].isDisjoint(with: [.unknown, .control]) { return [] }
        let start = Int(vocabulary.pieceStart[token]), end = Int(vocabulary.pieceStart[token + 1])
        return Array(vocabulary.pieceBytes[start ..< end])
    }

    /// The bytes of a token sequence, as `llama_detokenize(tokens, remove_special: false,
    /// unparse_special: special)`.
    public func decodeBytes(_ tokens: some Sequence<Int>, special: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var first = true
        for t in tokens {
            var p = piece(for: t, special: special)
            if first && addSpacePrefix && p.first == 0x20 { p.removeFirst() }
            first = false
            out += p
        }
        return cleanSpaces ? Self.cleanUpSpaces(out) : out
    }

    /// The text of a token sequence (see ``decodeBytes(_:special:)``); bytes that are not valid
    /// UTF-8 become U+FFFD.
    public func decode(_ tokens: some Sequence<Int>, special: Bool = false) -> String {
        String(decoding: decodeBytes(tokens, special: special), as: UTF8.self)
    }

    /// llama.cpp's `clean_spaces` passes over the detokenized bytes: " ?", " !", " .", " ,"
    /// lose the space; " ' " becomes "'"; " 's", " 'm", " 're", " 've" lose the space.
    static func cleanUpSpaces(_ input: [UInt8]) -> [UInt8] {
        let space = UInt8(ascii: " "), quote = UInt8(ascii: "'")
        var text = input
        // Pass 1.
        var total = text.isEmpty ? 0 : 1
        for i in 1 ..< max(text.count, 1) {
            let x = text[i]
            if text[i - 1] == space && (x == UInt8(ascii: "?") || x == UInt8(ascii: "!") || x == UInt8(ascii: ".") || x == UInt8(ascii: ",")) {
                total -= 1
            }
            text[total] = x
            total += 1
        }
        text.removeSubrange(total...)
        // Pass 2.
        let total2 = text.count
        total = total2 == 0 ? 0 : 1
        var i = 1
        while i < total2 {
            let x = text[i]
            if x == quote && i + 1 < total2 && text[i - 1] == space && text[i + 1] == space {
                total -= 1
                i += 1
                text[i] = 0
            }
            text[total] = x
            total += 1
            i += 1
        }
        text.removeSubrange(total...)
        // Pass 3.
        let total3 = text.count
        total = total3 == 0 ? 0 : 1
        for i in 1 ..< max(total3, 1) {
            let x = text[i]
            if text[i - 1] == space && x == quote && i + 1 < total3 {
                let x1 = text[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    total -= 1
                } else if i + 2 < total3 {
                    let x2 = text[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        total -= 1
                    }
                }
            }
            text[total] = x
            total += 1
        }
        text.removeSubrange(total...)
        return text
    }

    /// A decoder that turns tokens into text one at a time; see ``StreamingDecoder``.
    public func streamingDecoder(special: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, special: special)
    }
}
