// Pre-tokenization: splitting a text fragment into the words BPE merges within, exactly as
// llama.cpp's `unicode_regex_split` does for the supported pre-tokenizer types.

extension Tokenizer {
    /// The word-splitting rules of a GGUF's `tokenizer.ggml.pre`.
    public enum PreTokenizer: String, Sendable, CaseIterable {
        /// `smollm` (and llama.cpp's aliases with the same expressions: starcoder, refact,
        /// command-r, codeshell, exaone, minerva-7b, mellum2): every digit on its own (`\p{N}`),
        /// then the GPT-2 expression within the pieces in between.
        case smollm
        /// `gpt-2` (and aliases: phi-2, mpt, olmo, jais, ...): the GPT-2 expression
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
        case gpt2
        /// llama.cpp's fallback when `tokenizer.ggml.pre` is absent or "default": runs of
        /// punctuation and `$+<=>^~|` isolated, the GPT-2 expression, runs of numbers isolated,
        /// then ASCII digits in threes.
        case `default`

        /// The pre-tokenizer and llama.cpp's `clean_spaces` flag for a `tokenizer.ggml.pre` value.
        static func named(_ name: String?) -> (PreTokenizer, cleanSpaces: Bool)? {
            guard let name, name != "default" else { return (.default, true) }
            switch name {
            case "smollm", "command-r": return (.smollm, false)
            case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2": return (.smollm, true)
            case "gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "gigachat", "a.x-4.0", "mellum":
                return (.gpt2, true)
            case "trillion", "granite-docling": return (.gpt2, false)
            default: return nil
            }
        }
    }

    /// Splits text into words: decodes a fragment's scalars once, classifies them, and lists the
    /// words as ranges of scalar indices. Buffers are reused from fragment to fragment.
    struct WordSplitter {
        /// Scalars of the current fragment.
        var scalars: [UInt32] = []
        /// Their classes.
        var classes: [Tokenizer.CharacterClass] = []
        /// Byte offset (in the whole text) of each scalar, plus the end offset.
        var offsets: [Int] = []
        /// Words found: (first scalar, end scalar).
        var words: [(Int, Int)] = []
        private var chunks: [(Int, Int)] = []
        private var chunks2: [(Int, Int)] = []

        /// Decodes `bytes[range]` (valid UTF-8: it comes from a Swift string, cut only at special
        /// tokens, which are whole characters) and splits it.
        mutating func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ kind: PreTokenizer) {
            decode(bytes, range)
            words.removeAll(keepingCapacity: true)
            switch kind {
            case .smollm:
                // "\p{N}": each number scalar is a piece of its own; the GPT-2 splitter then runs
                // on the pieces between them, whose ends act as the end of the text for its
                // look-ahead (so a space before a digit is a word of its own).
                var start = 0
                for i in 0 ..< scalars.count where classes[i] == .number {
                    if start < i { gpt2(start, i) }
                    words.append((i, i + 1))
                    start = i + 1
                }
                if start < scalars.count { gpt2(start, scalars.count) }
            case .gpt2:
                gpt2(0, scalars.count)
            case .default:
                splitDefault()
            }
        }

        private mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            scalars.removeAll(keepingCapacity: true)
            classes.removeAll(keepingCapacity: true)
            offsets.removeAll(keepingCapacity: true)
            var i = range.lowerBound
            let end = range.upperBound
            let bmp = CharacterClasses.bmp
            while i < end {
                let b0 = UInt32(bytes[i])
                var v: UInt32, len: Int
                if b0 < 0x80 {
                    v = b0; len = 1
                } else if b0 < 0xE0, i + 1 < end {
                    v = (b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F); len = 2
                } else if b0 < 0xF0, i + 2 < end {
                    v = (b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F); len = 3
                } else if i + 3 < end {
                    v = (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                        | UInt32(bytes[i + 3] & 0x3F); len = 4
                } else {
                    v = 0xFFFD; len = 1  // unreachable for valid UTF-8
                }
                scalars.append(v)
                classes.append(v < 0x10000 ? CharacterClass(rawValue: bmp[Int(v)]) ?? .other
                                           : CharacterClass(rawValue: CharacterClasses.supplementary(v)) ?? .other)
                offsets.append(i)
                i += len
            }
            offsets.append(end)
        }

        @inline(__always)
        private func cls(_ i: Int, _ end: Int) -> Tokenizer.CharacterClass { i < end ? classes[i] : .none }

        /// llama.cpp's hand-written matcher for
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        /// over scalars [start, end). Its semantics, which differ from a regex engine's in small
        /// ways, are reproduced as they are:
        /// - contractions are lower-case only ("'S" is punctuation then a letter);
        /// - an optional leading space is only ever U+0020, and it joins the following run of
        ///   letters, numbers, or other characters (neither whitespace, letter nor number);
        /// - a run of n > 1 whitespace scalars followed by something inside [start, end) gives
        ///   n - 1 of them as a word (the last one may then prefix the next word); at the end of
        ///   the range the whole run is one word.
        private mutating func gpt2(_ start: Int, _ end: Int) {
            var pos = start
            while pos < end {
                let c = scalars[pos]
                let wordStart = pos
                if c == 0x27 /* ' */, pos + 1 < end {
                    let n1 = scalars[pos + 1]
                    if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {  // s t m d
                        words.append((pos, pos + 2)); pos += 2; continue
                    }
                    if pos + 2 < end {
                        let n2 = scalars[pos + 2]
                        if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {  // re ve ll
                            words.append((pos, pos + 3)); pos += 3; continue
                        }
                    }
                }
                let isSpace = c == 0x20
                let lead = isSpace ? cls(pos + 1, end) : classes[pos]
                if lead == .letter || lead == .number {
                    if isSpace { pos += 1 }
                    while pos < end && classes[pos] == lead { pos += 1 }
                    words.append((wordStart, pos)); continue
                }
                if lead == .other || lead == .punctuation {
                    if isSpace { pos += 1 }
                    while pos < end && (classes[pos] == .other || classes[pos] == .punctuation) { pos += 1 }
                    words.append((wordStart, pos)); continue
                }
                var spaces = 0
                while pos + spaces < end && classes[pos + spaces] == .whitespace { spaces += 1 }
                if spaces > 1 && pos + spaces < end {
                    pos += spaces - 1
                } else if spaces > 0 {
                    pos += spaces
                } else {
                    pos += 1  // no rule matches (unreachable: every scalar has a class)
                }
                words.append((wordStart, pos))
            }
        }

        /// The `default` sequence: four expressions, each splitting the pieces of the previous one
        /// into matches and the gaps between them.
        private mutating func splitDefault() {
            let n = scalars.count
            // 1. [\p{P}\$\+<=>\^~\|]+  (for ASCII: every printable symbol but '`')
            chunks.removeAll(keepingCapacity: true)
            isolateRuns(in: [(0, n)], into: &chunks) { s, c in
                s < 0x80 ? (s > 0x20 && s < 0x7F && s != 0x60 && !Self.isASCIIAlnum(s)) : c == .punctuation
            }
            // 2. the GPT-2 expression
            for (a, b) in chunks { gpt2(a, b) }
            // 3. \p{N}+
            chunks2.removeAll(keepingCapacity: true)
            isolateRuns(in: words, into: &chunks2) { _, c in c == .number }
            // 4. [0-9][0-9][0-9]
            words.removeAll(keepingCapacity: true)
            for (a, b) in chunks2 {
                var gapStart = a, i = a
                while i + 3 <= b {
                    if Self.isDigit(scalars[i]), Self.isDigit(scalars[i + 1]), Self.isDigit(scalars[i + 2]) {
                        if gapStart < i { words.append((gapStart, i)) }
                        words.append((i, i + 3))
                        i += 3
                        gapStart = i
                    } else {
                        i += 1
                    }
                }
                if gapStart < b { words.append((gapStart, b)) }
            }
        }

        private static func isDigit(_ s: UInt32) -> Bool { s >= 0x30 && s <= 0x39 }
        private static func isASCIIAlnum(_ s: UInt32) -> Bool {
            isDigit(s) || (s >= 0x41 && s <= 0x5A) || (s >= 0x61 && s <= 0x7A)
        }

        /// Splits each piece into maximal runs of scalars satisfying `inRun` and the gaps between.
        private func isolateRuns(in pieces: [(Int, Int)], into out: inout [(Int, Int)],
                                 _ inRun: (UInt32, Tokenizer.CharacterClass) -> Bool) {
            for (a, b) in pieces {
                var i = a, gapStart = a
                while i < b {
                    if inRun(scalars[i], classes[i]) {
                        if gapStart < i { out.append((gapStart, i)) }
                        let runStart = i
                        while i < b && inRun(scalars[i], classes[i]) { i += 1 }
                        out.append((runStart, i))
                        gapStart = i
                    } else {
                        i += 1
                    }
                }
                if gapStart < b { out.append((gapStart, b)) }
            }
        }
    }
}
