/// Turns a stream of tokens into text as they arrive, never splitting a character.
///
/// Byte-level BPE tokens are byte strings: an emoji or a CJK character is often spread over two
/// or three tokens, and printing each token's piece as soon as it comes would show replacement
/// characters. This decoder holds back the bytes of an incomplete UTF-8 sequence at the end of
/// what it has seen and releases them once the character is complete. Bytes that can never form
/// a character become U+FFFD as soon as that is certain, and whatever is still held back when
/// the stream ends becomes U+FFFD in ``finish()``: nothing is lost, and the concatenation of
/// everything returned equals `tokenizer.decode(allTokens, special:)` (for pre-tokenizers without
/// llama.cpp's space clean-up, such as `smollm`).
///
/// ```swift
/// var stream = tokenizer.streamingDecoder()
/// for token in generated { print(stream.append(token), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDecoder: Sendable {
    /// The tokenizer whose pieces are decoded.
    public let tokenizer: Tokenizer
    /// Whether control tokens are rendered (as `piece(for:special:)`).
    public let special: Bool
    /// Bytes of an incomplete UTF-8 sequence waiting for the rest of their character.
    public private(set) var pendingBytes: [UInt8] = []
    private var isFirstToken = true

    /// A decoder with nothing pending.
    /// - Parameters:
    ///   - tokenizer: the model's tokenizer.
    ///   - special: render control tokens (see ``special``); default false, as for answers shown to users.
    public init(tokenizer: Tokenizer, special: Bool = false) {
        self.tokenizer = tokenizer
        self.special = special
    }

    /// Adds one token; returns the text it completes (possibly empty).
    public mutating func append(_ token: Int) -> String {
        var piece = tokenizer.piece(for: token, special: special)
        if isFirstToken && tokenizer.addSpacePrefix && piece.first == 0x20 { piece.removeFirst() }
        isFirstToken = false
        return append(bytes: piece)
    }

    /// Adds raw bytes; returns the text they complete (possibly empty).
    public mutating func append(bytes: some Sequence<UInt8>) -> String {
        pendingBytes += bytes
        let cut = Self.completePrefixLength(pendingBytes)
        if cut == 0 { return "" }
        let text = String(decoding: pendingBytes[..<cut], as: UTF8.self)
        pendingBytes.removeSubrange(..<cut)
        return text
    }

    /// Ends the stream: returns the held-back bytes as text (U+FFFD for an unfinished character)
    /// and starts afresh.
    public mutating func finish() -> String {
        let text = String(decoding: pendingBytes, as: UTF8.self)
        pendingBytes.removeAll()
        isFirstToken = true
        return text
    }

    /// Length of the prefix that can be decoded now: everything but a trailing sequence that is
    /// a proper prefix of a well-formed UTF-8 character (Unicode Table 3-7). Cutting there never
    /// changes how either side decodes: the held-back part starts with a lead byte, which ends
    /// any sequence before it.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var j = n - 1
        // Find the last lead byte among the final three bytes.
        while j >= 0 && j >= n - 3 && bytes[j] & 0xC0 == 0x80 { j -= 1 }
        guard j >= 0 && j >= n - 3 else { return n }
        let lead = bytes[j]
        let need: Int
        switch lead {
        case 0xC2 ... 0xDF: need = 2
        case 0xE0 ... 0xEF: need = 3
        case 0xF0 ... 0xF4: need = 4
        default: return n  // ASCII or a byte that never starts a character
        }
        let have = n - j
        if have >= need { return n }
        // Are the continuation bytes present so far allowed after this lead byte?
        for k in 1 ..< have {
            let b = bytes[j + k]
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            if k == 1 {
                switch lead {
                case 0xE0: low = 0xA0
                case 0xED: high = 0x9F
                case 0xF0: low = 0x90
                case 0xF4: high = 0x8F
                default: break
                }
            }
            if b < low || b > high { return n }
        }
        return j
    }
}
