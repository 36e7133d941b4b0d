import Foundation

/// Names one image by its content, so that the same picture sent again (a follow-up question,
/// a paused camera) is recognised as the same: in a ``PromptCache`` and in an embedding cache.
public struct ImageID: Hashable, Sendable, CustomStringConvertible {
    /// The identifying bytes: the SHA-256 of the encoded file, or a counter for images that only
    /// exist as pixels.
    public let bytes: [UInt8]

    /// The ID of an encoded image file: the SHA-256 of its bytes.
    public init<C: Collection<UInt8>>(contentsOf data: C) {
        var hasher = SHA256()
        if data.withContiguousStorageIfAvailable({ hasher.update(UnsafeRawBufferPointer($0)) }) == nil {
            hasher.update(Array(data))
        }
        bytes = hasher.finalize()
    }

    /// An ID from bytes the caller chose (unique per image: a digest, a counter).
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { bytes.prefix(8).map { String(format: "%02x", $0) }.joined() }
}

/// What a context's KV cache holds, one entry per position, so that a new prompt evaluates
/// only what differs from it: the longest shared prefix is kept (a fixed system prompt, an
/// earlier turn, the camera page's instruction) and the rest is evaluated.
///
/// A prefix never ends inside an image tile: a tile's embeddings attend to each other, so a
/// partly kept tile would not be the state a fresh evaluation reaches.
public struct PromptCache: Sendable, Equatable {
    /// What one position holds.
    public enum Entry: Hashable, Sendable {
        /// A text token.
        case token(Int)
        /// Embedding `row` of tile `tile` of an image.
        case image(ImageID, tile: Int, row: Int)
    }

    /// The entries, position by position.
    public private(set) var entries: [Entry] = []

    /// An empty cache.
    public init() {}

    /// Positions held.
    public var count: Int { entries.count }

    /// The text tokens held, in order (what repetition penalties look back on).
    public var tokens: [Int] {
        entries.compactMap { if case let .token(t) = $0 { t } else { nil } }
    }

    /// How many leading positions `prompt` can reuse: the longest common prefix, cut back to a
    /// tile boundary and to leave at least one position to evaluate (its logits are needed).
    public func reusablePrefix(of prompt: [Entry]) -> Int {
        var n = zip(entries, prompt).prefix { $0 == $1 }.count
        n = min(n, prompt.count - 1)
        while n > 0, case let .image(id, tile, _) = prompt[n], case let .image(id2, tile2, _) = prompt[n - 1],
              id == id2, tile == tile2 {
            n -= 1
        }
        return max(0, n)
    }

    /// Forgets the positions from `n` on.
    public mutating func truncate(to n: Int) {
        if n < entries.count { entries.removeSubrange(max(0, n)...) }
    }

    /// Records positions just evaluated.
    public mutating func append<S: Sequence<Entry>>(contentsOf new: S) { entries.append(contentsOf: new) }

    /// Records one evaluated position.
    public mutating func append(_ entry: Entry) { entries.append(entry) }

    /// The entries of `chunks`: each token, and each embedding of each tile of image `i`
    /// named `ids[i]`.
    public static func entries(of chunks: [PromptChunk], imageIDs ids: [ImageID], tokensPerTile: Int) -> [Entry] {
        var out: [Entry] = []
        for chunk in chunks {
            switch chunk {
            case let .text(t): out += t.map(Entry.token)
            case let .image(i, tile): out += (0 ..< tokensPerTile).map { .image(ids[i], tile: tile, row: $0) }
            }
        }
        return out
    }
}
