/// Finds stop strings in streamed text, as llama.cpp's server does with `stop`: feed it each
/// decoded piece and emit what it returns. It holds back a tail that could still become a stop
/// string, releases it once it cannot, and never releases a stop string or anything after it.
///
/// Matching is on UTF-8 bytes, like llama.cpp's. Pieces must be whole characters (as
/// ``Tokenizer``'s streaming decoder produces them); since a stop string starts at a character
/// boundary, so does every match and every held-back tail, and the returned text is always
/// whole characters. When several stop strings match, the one starting earliest wins, and on
/// a tie the first in the list.
public struct StopStringMatcher: Sendable {
    /// What one ``feed(_:)`` produced.
    public struct Output: Sendable, Equatable {
        /// Text safe to emit now (possibly empty).
        public var text: String
        /// The stop string found, if any: generation should end, and ``text`` is everything
        /// before it.
        public var stop: String?

        /// Text to emit and the stop string hit, if any.
        public init(text: String, stop: String? = nil) {
            self.text = text
            self.stop = stop
        }
    }

    /// The stop strings, in priority order for matches starting at the same place.
    public let stops: [String]
    /// The stop string found, once one has been; from then on nothing more is emitted.
    public private(set) var matched: String?

    private let patterns: [[UInt8]]
    private var pending: [UInt8] = []

    /// A matcher for `stops`. Empty strings are ignored (they would match before any text).
    public init(_ stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
        patterns = self.stops.map { Array($0.utf8) }
    }

    /// Adds `piece` to the stream and returns the text that can be emitted now, and the stop
    /// string if this piece completed one.
    public mutating func feed(_ piece: String) -> Output {
        if matched != nil { return Output(text: "", stop: nil) }
        pending.append(contentsOf: piece.utf8)
        if patterns.isEmpty { return Output(text: takePending(upTo: pending.count)) }

        // `pending` holds at most one partial stop string before this piece, so searching all
        // of it stays cheap.
        var best: (start: Int, index: Int)?
        for (index, pattern) in patterns.enumerated() {
            if let start = firstOccurrence(of: pattern), start < (best?.start ?? .max) { best = (start, index) }
        }
        if let best {
            matched = stops[best.index]
            let text = takePending(upTo: best.start)
            pending.removeAll()
            return Output(text: text, stop: matched)
        }
        return Output(text: takePending(upTo: pending.count - heldBackCount()))
    }

    /// Ends the stream: the held-back tail, which can no longer become a stop string. Empty
    /// after a match.
    public mutating func finish() -> String {
        if matched != nil { return "" }
        return takePending(upTo: pending.count)
    }

    /// Removes and decodes `pending[..<end]`.
    private mutating func takePending(upTo end: Int) -> String {
        guard end > 0 else { return "" }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return text
    }

    /// The start of the first occurrence of `pattern` in `pending`.
    private func firstOccurrence(of pattern: [UInt8]) -> Int? {
        guard pattern.count <= pending.count else { return nil }
        for start in 0 ... pending.count - pattern.count
        where pending[start] == pattern[0] && pending[start ..< start + pattern.count].elementsEqual(pattern) {
            return start
        }
        return nil
    }

    /// The length of the longest tail of `pending` that is a proper prefix of some stop string
    /// (llama.cpp's `string_find_partial_stop`, over all stop strings).
    private func heldBackCount() -> Int {
        var longest = 0
        for pattern in patterns {
            var length = min(pattern.count - 1, pending.count)
            while length > longest {
                if pending[(pending.count - length)...].elementsEqual(pattern[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }
}
