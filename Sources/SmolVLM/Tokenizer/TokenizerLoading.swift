import GGUF

// Building a tokenizer from GGUF metadata, following llama.cpp's `llama_vocab::impl::load` for
// BPE vocabularies: special ids and their defaults, attribute adjustments, the end-of-generation
// set, the special-token matching order and the piece cache.

extension Tokenizer {
    /// Builds the tokenizer described by a GGUF file's `tokenizer.ggml.*` metadata.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        try self.init(metadata: gguf.metadata)
    }

    /// Builds the tokenizer described by `tokenizer.ggml.*` metadata.
    public init(metadata md: GGUFMetadata) throws(TokenizerError) {
        // Model and pre-tokenizer.
        guard let model = try Self.string(md, "tokenizer.ggml.model") else {
            throw .missingMetadata("tokenizer.ggml.model")
        }
        guard model == "gpt2" else { throw .unsupportedModel(model) }
        let preName = try Self.string(md, "tokenizer.ggml.pre")
        guard let (pre, cleanSpaces) = PreTokenizer.named(preName) else {
            throw .unsupportedPreTokenizer(preName ?? "")
        }

        // Tokens, with llama.cpp's replacement for empty texts.
        guard let tokenValue = md["tokenizer.ggml.tokens"] else { throw .missingMetadata("tokenizer.ggml.tokens") }
        guard case let .array(.string(rawTexts)) = tokenValue else {
            throw .invalidMetadata(key: "tokenizer.ggml.tokens", expected: "array[string]", found: tokenValue.typeName)
        }
        let n = rawTexts.count
        guard n > 0 else { throw .emptyVocabulary }
        guard n < Int(Int32.max) else { throw .vocabularyTooLarge(n) }
        var texts = rawTexts
        var ids: [TextKey: Int32] = [:]
        ids.reserveCapacity(n)
        for i in 0 ..< n {
            if texts[i].isEmpty { texts[i] = "[EMPTY_\(i)]" }
            if let first = ids.updateValue(Int32(i), forKey: TextKey(texts[i])) {
                throw .duplicateToken(text: texts[i], first: Int(first), second: i)
            }
        }

        // Attributes from token types (all normal when absent).
        var attributes = [Attributes](repeating: .normal, count: n)
        if let typeValue = md["tokenizer.ggml.token_type"] {
            guard case let .array(array) = typeValue, let types = array.integers else {
                throw .invalidMetadata(key: "tokenizer.ggml.token_type", expected: "array of integers", found: typeValue.typeName)
            }
            guard types.count >= n else { throw .tooFewTokenTypes(tokens: n, types: types.count) }
            for i in 0 ..< n {
                guard (0 ... 6).contains(types[i]) else { throw .invalidTokenType(token: i, type: types[i]) }
                attributes[i] = Attributes(tokenType: types[i])
            }
        }

        // Merges.
        guard let mergeValue = md["tokenizer.ggml.merges"] else { throw .missingMetadata("tokenizer.ggml.merges") }
        guard case let .array(.string(mergeTexts)) = mergeValue else {
            throw .invalidMetadata(key: "tokenizer.ggml.merges", expected: "array[string]", found: mergeValue.typeName)
        }
        guard mergeTexts.count < Int(Int32.max) else { throw .vocabularyTooLarge(mergeTexts.count) }
        var merges = MergeTable(capacityFor: mergeTexts.count)
        for (rank, merge) in mergeTexts.enumerated() {
            // As llama.cpp: split at the first space after the first byte.
            let bytes = Array(merge.utf8)
            guard let space = bytes.dropFirst().firstIndex(of: UInt8(ascii: " ")) else {
                throw .malformedMerge(index: rank, merge: merge)
            }
            let left = String(decoding: bytes[..<space], as: UTF8.self)
            let right = String(decoding: bytes[(space + 1)...], as: UTF8.self)
            guard let l = ids[TextKey(left)] else { throw .mergeNamesUnknownToken(index: rank, merge: merge, token: left) }
            guard let r = ids[TextKey(right)] else { throw .mergeNamesUnknownToken(index: rank, merge: merge, token: right) }
            guard let result = ids[TextKey(left + right)] else {
                throw .mergeNamesUnknownToken(index: rank, merge: merge, token: left + right)
            }
            merges.insert(left: l, right: r, rank: Int32(rank), result: result)
        }
        let byteTokens = (0 ..< 256).map { ids[TextKey(ByteLevel.text(of: UInt8($0)))] ?? -1 }

        // Special ids: gpt2 defaults (BOS = EOS = 11 if that is a token), then metadata.
        func id(_ key: String, default value: Int? = nil) throws(TokenizerError) -> Int? {
            let fallback = value.flatMap { $0 < n ? $0 : nil }
            guard let v = md["tokenizer.ggml." + key] else { return fallback }
            guard let i = v.integer else {
                throw .invalidMetadata(key: "tokenizer.ggml." + key, expected: "an integer", found: v.typeName)
            }
            guard i >= 0 && i < n else { throw .specialTokenOutOfRange(key: "tokenizer.ggml." + key, id: i, vocabularySize: n) }
            return i
        }
        let bos = try id("bos_token_id", default: 11)
        let eos = try id("eos_token_id", default: 11)
        var eot = try id("eot_token_id")
        var eom = try id("eom_token_id")
        let unk = try id("unknown_token_id")
        _ = try id("seperator_token_id")
        let pad = try id("padding_token_id")
        _ = try id("mask_token_id")
        var fimPre = try id("fim_pre_token_id")
        var fimSuf = try id("fim_suf_token_id")
        var fimMid = try id("fim_mid_token_id")
        var fimPad = try id("fim_pad_token_id")
        var fimRep = try id("fim_rep_token_id")
        var fimSep = try id("fim_sep_token_id")
        fimPre = try id("prefix_token_id", default: fimPre)  // deprecated names win, as in llama.cpp
        fimSuf = try id("suffix_token_id", default: fimSuf)
        fimMid = try id("middle_token_id", default: fimMid)

        let addBOS = try Self.bool(md, "tokenizer.ggml.add_bos_token") ?? false
        let addEOS = try Self.bool(md, "tokenizer.ggml.add_eos_token") ?? false
        let addSpacePrefix = try Self.bool(md, "tokenizer.ggml.add_space_prefix") ?? false
        if addBOS && bos == nil { throw .missingSpecialToken("tokenizer.ggml.add_bos_token is set but there is no BOS token") }
        if addEOS && eos == nil { throw .missingSpecialToken("tokenizer.ggml.add_eos_token is set but there is no EOS token") }

        // Tokens llama.cpp recognises by their text. For each role still unset, the first
        // candidate in llama.cpp's hash-map order is taken and made a control token.
        var ranks: [Int32]?  // computed only if some role has several candidates
        var ranksComputed = false
        func first(of candidates: [String]) -> Int? {
            let found = candidates.compactMap { ids[TextKey($0)].map(Int.init) }
            if found.count <= 1 { return found.first }
            if !ranksComputed {
                ranks = LibstdcxxHashOrder.iterationRanks(texts)
                ranksComputed = true
            }
            guard let r = ranks else { return found.min() }  // beyond the emulation's prime table
            return found.min { r[$0] < r[$1] }
        }
        func detect(_ role: inout Int?, _ candidates: [String]) {
            guard role == nil, let t = first(of: candidates) else { return }
            role = t
            attributes[t].insert(.control)
        }
        detect(&eot, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                      "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"])
        detect(&eom, ["<|eom_id|>"])
        detect(&fimPre, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                         "<|code_prefix|>", "<|prefix|>"])
        detect(&fimSuf, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                         "<|code_suffix|>", "<|suffix|>"])
        detect(&fimMid, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                         "<|code_middle|>", "<|middle|>"])
        detect(&fimPad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        detect(&fimRep, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        detect(&fimSep, ["<|file_sep|>"])

        // Control tokens whose text says "unused" are unused.
        for i in 0 ..< n where attributes[i].contains(.control) && Self.containsBytes(texts[i], "unused") {
            attributes[i].insert(.unused)
        }

        // End of generation.
        var eog = Set([fimPad, fimRep, fimSep].compactMap { $0 })
        for text in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
                     "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                     "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                     "<｜end▁of▁sentence｜>", "[e~["] {
            if let t = ids[TextKey(text)].map(Int.init) {
                eog.insert(t)
                attributes[t].insert(.control)
            }
        }
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {  // gpt-oss: always rendered
            if let t = ids[TextKey(text)].map(Int.init) { attributes[t] = .userDefined }
        }
        for t in [eos, eot, eom].compactMap({ $0 }) { eog.insert(t) }
        let eogTexts = Set(eog.map { TextKey(texts[$0]) })
        func inEOG(_ text: String) -> Bool { eogTexts.contains(TextKey(text)) }
        let hasCall = inEOG("<|call|>") || inEOG("<|calls|>")
        if inEOG("<|end|>"), hasCall && (inEOG("<|return|>") || inEOG("<|flush|>")),
           let end = ids[TextKey("<|end|>")].map(Int.init) {
            eog.remove(end)
            attributes[end] = .userDefined
        }
        if inEOG("</s>"), inEOG("<|tool_response>") || inEOG("<|plamo:eos|>"),
           let s = ids[TextKey("</s>")].map(Int.init) {
            eog.remove(s)
            attributes[s] = .normal
        }
        var endOfGeneration = [Bool](repeating: false, count: n)
        for t in eog { endOfGeneration[t] = true }

        // Special tokens in matching order: longest text first (ties by id; llama.cpp's unstable
        // std::sort leaves their order unspecified, which matters only for overlapping texts of
        // equal length).
        let specialKinds: Attributes = [.control, .userDefined, .unknown]
        var specialIDs: [Int] = (0 ..< n).filter { (i: Int) -> Bool in !attributes[i].isDisjoint(with: specialKinds) }
        let lengths: [Int] = texts.map { (t: String) -> Int in t.utf8.count }
        specialIDs.sort { (a: Int, b: Int) -> Bool in lengths[a] != lengths[b] ? lengths[a] > lengths[b] : a < b }
        let special = SpecialTokenMatcher(
            order: specialIDs.map { Int32($0) }, texts: specialIDs.map { texts[$0] },
            onlyWhenParsingSpecial: specialIDs.map { !attributes[$0].isDisjoint(with: [.control, .unknown]) })

        // Pieces (llama_token_to_piece with special = true).
        var pieceBytes: [UInt8] = []
        pieceBytes.reserveCapacity(n * 6)
        var pieceStart: [Int32] = [0]
        pieceStart.reserveCapacity(n + 1)
        for i in 0 ..< n {
            let a = attributes[i]
            if !a.isDisjoint(with: [.unknown, .control, .userDefined]) {
                pieceBytes += texts[i].utf8
            } else if a.contains(.normal) {
                pieceBytes += ByteLevel.decode(texts[i])
            } else if a.contains(.byte), let b = Self.byteTokenValue(texts[i]) {
                pieceBytes.append(b)
            }
            guard pieceBytes.count < Int(Int32.max) else { throw .vocabularyTooLarge(n) }
            pieceStart.append(Int32(pieceBytes.count))
        }

        vocabulary = Vocabulary(texts: texts, attributes: attributes, ids: ids, byteTokens: byteTokens, merges: merges,
                                special: special, pieceBytes: pieceBytes, pieceStart: pieceStart,
                                endOfGeneration: endOfGeneration)
        preTokenizer = pre
        self.cleanSpaces = cleanSpaces
        self.addSpacePrefix = addSpacePrefix
        self.bos = bos
        self.eos = eos
        self.eot = eot
        self.eom = eom
        self.unk = unk
        self.pad = pad
        self.addBOS = addBOS
        self.addEOS = addEOS
        endOfGenerationTokens = eog.sorted()
    }

    /// Whether `needle`'s bytes occur in `text`'s (C's strstr, not Unicode-aware matching).
    static func containsBytes(_ text: String, _ needle: String) -> Bool {
        let h = Array(text.utf8), nd = Array(needle.utf8)
        guard nd.count <= h.count else { return false }
        for i in 0 ... h.count - nd.count where h[i ..< i + nd.count].elementsEqual(nd) { return true }
        return false
    }

    private static func string(_ md: GGUFMetadata, _ key: String) throws(TokenizerError) -> String? {
        guard let v = md[key] else { return nil }
        guard case let .string(s) = v else { throw .invalidMetadata(key: key, expected: "string", found: v.typeName) }
        return s
    }

    private static func bool(_ md: GGUFMetadata, _ key: String) throws(TokenizerError) -> Bool? {
        guard let v = md[key] else { return nil }
        guard case let .bool(b) = v else { throw .invalidMetadata(key: key, expected: "bool", found: v.typeName) }
        return b
    }

    /// The byte of a byte-type token, read as llama.cpp does: `strtol(text.substr(3, 2), 16)`,
    /// i.e. the "XX" of "<0xXX>". Nil where llama.cpp would throw (text shorter than 3 bytes).
    static func byteTokenValue(_ text: String) -> UInt8? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3 else { return nil }
        var digits = Array(bytes[3 ..< min(5, bytes.count)])
        // strtol: leading white space, a sign, an optional 0x, then hex digits.
        while let c = digits.first, c == 0x20 || (0x09 ... 0x0D).contains(c) { digits.removeFirst() }
        var negative = false
        if let c = digits.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            negative = c == UInt8(ascii: "-")
            digits.removeFirst()
        }
        func hex(_ c: UInt8) -> Int? {
            switch c {
            case 0x30 ... 0x39: Int(c - 0x30)
            case 0x41 ... 0x46: Int(c - 0x41 + 10)
            case 0x61 ... 0x66: Int(c - 0x61 + 10)
            default: nil
            }
        }
        if digits.count >= 3, digits[0] == 0x30, digits[1] | 0x20 == 0x78, hex(digits[2]) != nil {
            digits.removeFirst(2)
        }
        var value = 0
        for c in digits {
            guard let h = hex(c) else { break }
            value = value * 16 + h
        }
        return UInt8(truncatingIfNeeded: negative ? -value : value)
    }
}
