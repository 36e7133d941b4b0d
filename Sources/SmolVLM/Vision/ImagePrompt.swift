/// What can go wrong turning a prompt with images into decoder input.
public enum ImagePromptError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The prompt's image markers and the images given do not pair up.
    case markerCount(markers: Int, images: Int, marker: String)
    /// The vocabulary lacks a token the idefics3 image layout needs (not a SmolVLM tokenizer?).
    case missingToken(String)
    /// Image `image`'s slice grid is not one the preprocessor makes: both sides positive, or
    /// 0 × 0 for an unsliced image.
    case invalidGrid(image: Int, x: Int, y: Int)

    public var description: String {
        switch self {
        case let .markerCount(markers, images, marker):
            "the prompt has \(markers) image marker\(markers == 1 ? "" : "s") ('\(marker)') but \(images) image\(images == 1 ? " was" : "s were") given"
        case let .missingToken(text):
            "the tokenizer has no token '\(text.debugDescription.dropFirst().dropLast())', which SmolVLM's image layout needs: is this a SmolVLM text model?"
        case let .invalidGrid(image, x, y):
            "image \(image + 1) has a \(x) × \(y) slice grid; a grid is positive on both sides, or 0 × 0 for an unsliced image"
        }
    }
}

/// One piece of decoder input, in evaluation order (mtmd's input chunks): a run of text tokens,
/// or the 64 embeddings of one image tile.
public enum PromptChunk: Sendable, Equatable {
    /// A run of text token ids.
    case text([Int])
    /// Tile `tile` (in the preprocessor's order: slices row-major, then the overview) of image
    /// `image` (in marker order).
    case image(image: Int, tile: Int)
}

/// The token layout llama.cpp's mtmd gives an idefics3 image (after Hugging Face's
/// `Idefics3Processor`): each slice is introduced by `<fake_token_around_image><row_R_col_C>`,
/// rows are separated by `\n` (none after the last), then `\n\n<fake_token_around_image>
/// <global-img>` introduces the overview and `<fake_token_around_image>` closes the image.
/// An unsliced image is the overview part alone.
public struct ImagePromptLayout: Sendable {
    /// The marker that stands for an image in prompt text (mtmd's default media marker).
    public static let marker = "<__media__>"

    let tokenizer: Tokenizer
    let rowEnd: Int
    let overviewStart: [Int]
    let imageEnd: [Int]

    /// Finds the token ids of mtmd's image markup (`\n`, `\n\n`, `<fake_token_around_image>`,
    /// `<global-img>`) by their pieces, as mtmd does, so `\n\n` is one token even where BPE would split it.
    /// - Throws: ``ImagePromptError/missingToken(_:)`` if the vocabulary lacks one of them (not a
    ///   SmolVLM tokenizer).
    public init(tokenizer: Tokenizer) throws(ImagePromptError) {
        self.tokenizer = tokenizer
        // mtmd looks these up by their text (the first id whose piece spells it), not by
        // tokenizing, so "\n\n" is one token even where BPE would split it.
        var ids: [String: Int] = [:]
        let wanted = ["\n", "\n\n", "<fake_token_around_image>", "<global-img>"]
        for id in 0 ..< tokenizer.vocabularySize where ids.count < wanted.count {
            let piece = String(decoding: tokenizer.piece(for: id, special: true), as: UTF8.self)
            if wanted.contains(piece) && ids[piece] == nil { ids[piece] = id }
        }
        func id(_ text: String) throws(ImagePromptError) -> Int {
            guard let id = ids[text] else { throw .missingToken(text) }
            return id
        }
        rowEnd = try id("\n")
        overviewStart = [try id("\n\n"), try id("<fake_token_around_image>"), try id("<global-img>")]
        imageEnd = [try id("<fake_token_around_image>")]
    }

    /// The chunks of one image with a `gridX × gridY` slice grid (0 × 0: unsliced), whose tiles
    /// are slices row-major, then the overview.
    ///
    /// - Precondition: `gridX` and `gridY` are both positive or both 0 (``tokenize(_:grids:addSpecial:)``
    ///   checks this and throws instead).
    public func chunks(image: Int, gridX: Int, gridY: Int) -> [PromptChunk] {
        precondition(Self.isValid(gridX, gridY), "\(ImagePromptError.invalidGrid(image: image, x: gridX, y: gridY))")
        var out: [PromptChunk] = []
        for row in 0 ..< gridY {
            for col in 0 ..< gridX {
                let start = tokenizer.encode("<fake_token_around_image><row_\(row + 1)_col_\(col + 1)>", parseSpecial: true)
                out.appendMerging(.text(start))
                out.appendMerging(.image(image: image, tile: row * gridX + col))
            }
            if row != gridY - 1 { out.appendMerging(.text([rowEnd])) }
        }
        out.appendMerging(.text(overviewStart))
        out.appendMerging(.image(image: image, tile: gridX * gridY))
        out.appendMerging(.text(imageEnd))
        return out
    }

    /// Tokenizes `text`, replacing each ``marker`` by the layout of the next image's grid, as
    /// `mtmd_tokenize` does with `add_special` and `parse_special` on: text between markers is
    /// tokenized on its own, adjacent text runs merge into one chunk, and BOS/EOS are added if
    /// the vocabulary asks for them.
    ///
    /// - Parameters:
    ///   - text: the prompt, with one ``marker`` where each image goes.
    ///   - grids: each image's slice grid (0 × 0 for an unsliced image), in marker order.
    ///   - addSpecial: add BOS/EOS as the vocabulary asks; false for text that continues a
    ///     conversation already in the context.
    /// - Throws: ``ImagePromptError/markerCount(markers:images:marker:)`` when markers and grids
    ///   do not pair up, ``ImagePromptError/invalidGrid(image:x:y:)`` for a grid the
    ///   preprocessor cannot have made.
    public func tokenize(_ text: String, grids: [(x: Int, y: Int)], addSpecial: Bool = true) throws(ImagePromptError) -> [PromptChunk] {
        let parts = text.split(separator: Self.marker, omittingEmptySubsequences: false)
        guard parts.count - 1 == grids.count else {
            throw .markerCount(markers: parts.count - 1, images: grids.count, marker: Self.marker)
        }
        if let bad = grids.firstIndex(where: { !Self.isValid($0.x, $0.y) }) {
            throw .invalidGrid(image: bad, x: grids[bad].x, y: grids[bad].y)
        }
        var chunks: [PromptChunk] = []
        for (i, part) in parts.enumerated() {
            if i > 0 {
                for c in self.chunks(image: i - 1, gridX: grids[i - 1].x, gridY: grids[i - 1].y) { chunks.appendMerging(c) }
            }
            chunks.appendMerging(.text(tokenizer.encode(String(part), addSpecial: false, parseSpecial: true)))
        }
        if addSpecial, tokenizer.addBOS, let bos = tokenizer.bos {
            if case let .text(first)? = chunks.first { chunks[0] = .text([bos] + first) } else { chunks.insert(.text([bos]), at: 0) }
        }
        if addSpecial, tokenizer.addEOS, let eos = tokenizer.eos { chunks.appendMerging(.text([eos])) }
        return chunks
    }

    private static func isValid(_ gridX: Int, _ gridY: Int) -> Bool {
        (gridX > 0 && gridY > 0) || (gridX == 0 && gridY == 0)
    }
}

extension PromptChunk {
    /// Decoder positions the chunk takes (one per token, `tokensPerTile` per image tile).
    public func positions(tokensPerTile: Int) -> Int {
        switch self {
        case let .text(t): t.count
        case .image: tokensPerTile
        }
    }
}

extension [PromptChunk] {
    /// Appends, merging a text run into a text chunk before it (as mtmd's `add_text` does) and
    /// dropping empty text.
    mutating func appendMerging(_ chunk: PromptChunk) {
        if case let .text(new) = chunk {
            guard !new.isEmpty else { return }
            if case let .text(old)? = last { self[count - 1] = .text(old + new); return }
        }
        append(chunk)
    }
}
