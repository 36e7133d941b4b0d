// Byte-level BPE: GPT-2's byte ↔ printable-character mapping, the merge table and the merge loop.

extension Tokenizer {
    /// GPT-2's `bytes_to_unicode`: every byte gets a printable character, so that byte-level token
    /// texts are valid strings. Printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') map to
    /// themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen...) map, in byte
    /// order, to U+0100, U+0101, ... (so ' ' becomes 'Ġ' and '\n' becomes 'Ċ').
    enum ByteLevel {
        static let scalarOfByte: [UInt32] = {
            var table = [UInt32](repeating: 0, count: 256)
            var extra: UInt32 = 256
            for b in 0 ..< 256 {
                if (0x21 ... 0x7E).contains(b) || (0xA1 ... 0xAC).contains(b) || (0xAE ... 0xFF).contains(b) {
                    table[b] = UInt32(b)
                } else {
                    table[b] = extra
                    extra += 1
                }
            }
            return table
        }()

        /// The inverse: byte of a mapped scalar (all below U+0144), or -1.
        static let byteOfScalar: [Int16] = {
            var table = [Int16](repeating: -1, count: 0x144)
            for (b, s) in scalarOfByte.enumerated() { table[Int(s)] = Int16(b) }
            return table
        }()

        /// The byte-level string of one byte (a one-character token text).
        static func text(of byte: UInt8) -> String {
            String(Character(Unicode.Scalar(scalarOfByte[Int(byte)])!))
        }

        /// The raw bytes of a byte-level token text, as llama.cpp's `llama_decode_text`: a
        /// character outside the mapping becomes "[UNK_BYTE_0x<its UTF-8 in hex><the whole text>]".
        static func decode(_ text: String) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(text.utf8.count)
            for scalar in text.unicodeScalars {
                let v = Int(scalar.value)
                if v < byteOfScalar.count, byteOfScalar[v] >= 0 {
                    out.append(UInt8(byteOfScalar[v]))
                } else {
                    out += Array("[UNK_BYTE_0x".utf8)
                    for byte in String(scalar).utf8 {
                        let hex = Array("0123456789abcdef".utf8)
                        out.append(hex[Int(byte >> 4)])
                        out.append(hex[Int(byte & 15)])
                    }
                    out += Array(text.utf8)
                    out.append(UInt8(ascii: "]"))
                }
            }
            return out
        }
    }

    /// Merge rules by pair of token ids: open addressing, power-of-two capacity, linear probing.
    struct MergeTable: Sendable {
        private var keys: [UInt64]
        private var values: [UInt64]
        private let shift: UInt64
        private let mask: Int
        private(set) var count = 0

        init(capacityFor n: Int) {
            var capacity = 16
            while capacity < n * 2 { capacity <<= 1 }
            keys = [UInt64](repeating: .max, count: capacity)
            values = [UInt64](repeating: 0, count: capacity)
            shift = UInt64(64 - capacity.trailingZeroBitCount)
            mask = capacity - 1
        }

        @inline(__always)
        private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

        /// Adds a rule unless the pair already has one (the first, lowest rank, wins, as in
        /// llama.cpp's `bpe_ranks.emplace`). Returns false if the pair was already present.
        @discardableResult
        mutating func insert(left: Int32, right: Int32, rank: Int32, result: Int32) -> Bool {
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            var i = slot(key)
            while keys[i] != .max {
                if keys[i] == key { return false }
                i = (i + 1) & mask
            }
            keys[i] = key
            values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: result))
            count += 1
            return true
        }

        /// (rank << 32) | result for the pair, or nil. Negative ids never match.
        @inline(__always)
        func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
            if left < 0 || right < 0 { return nil }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            return keys.withUnsafeBufferPointer { k in
                var i = slot(key)
                while true {
                    let stored = k[i]
                    if stored == key { return values[i] }
                    if stored == .max { return nil }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Scratch space for merging one pre-token at a time; reused across the words of one call
    /// (never shared between threads: each `encode` makes its own).
    final class BPEScratch {
        private var capacity = 0
        private var ids: UnsafeMutablePointer<Int32>
        private var next: UnsafeMutablePointer<Int32>
        private var prev: UnsafeMutablePointer<Int32>
        /// Short words: the merge of each symbol with its right neighbour (rank << 32 | result).
        private var pair: UnsafeMutablePointer<UInt64>
        /// Long words: a min-heap of (rank << 32 | left index).
        private var heap: [UInt64] = []

        static let dead = Int32.min
        static let none = UInt64.max
        /// Up to this length a linear scan for the best pair beats a heap.
        static let shortWord = 32

        init() {
            ids = .allocate(capacity: 0)
            next = .allocate(capacity: 0)
            prev = .allocate(capacity: 0)
            pair = .allocate(capacity: 0)
        }

        deinit {
            ids.deallocate()
            next.deallocate()
            prev.deallocate()
            pair.deallocate()
        }

        private func reserve(_ n: Int) {
            if n <= capacity { return }
            let c = max(n, capacity * 2, 64)
            ids.deallocate(); next.deallocate(); prev.deallocate(); pair.deallocate()
            ids = .allocate(capacity: c)
            next = .allocate(capacity: c)
            prev = .allocate(capacity: c)
            pair = .allocate(capacity: c)
            capacity = c
        }

        /// Appends the tokens of one pre-token (its raw bytes) to `output`.
        ///
        /// The symbols start as one token per byte (the token whose text is the byte's mapped
        /// character). The pair of adjacent symbols with the lowest merge rank is merged first; on
        /// equal ranks the leftmost pair, exactly as llama.cpp's `llm_bigram_bpe` queue orders
        /// them. A byte whose one-character token is missing from the vocabulary produces
        /// nothing, as in llama.cpp.
        func encode(_ word: UnsafeBufferPointer<UInt8>, byteTokens: UnsafeBufferPointer<Int32>, merges: MergeTable,
                    into output: inout [Int]) {
            let n = word.count
            if n == 0 { return }
            if n == 1 {
                let t = byteTokens[Int(word[0])]
                if t >= 0 { output.append(Int(t)) }
                return
            }
            reserve(n)
            for i in 0 ..< n {
                ids[i] = byteTokens[Int(word[i])]
                next[i] = i + 1 < n ? Int32(i + 1) : -1
                prev[i] = Int32(i - 1)
            }
            if n <= Self.shortWord { mergeShort(n, merges) } else { mergeLong(n, merges) }
            var i: Int32 = 0
            while i >= 0 {
                let t = ids[Int(i)]
                if t >= 0 { output.append(Int(t)) }
                i = next[Int(i)]
            }
        }

        /// Repeatedly scans the live symbols for the lowest (rank, position) pair.
        private func mergeShort(_ n: Int, _ merges: MergeTable) {
            for i in 0 ..< n - 1 { pair[i] = merges.lookup(ids[i], ids[i + 1]) ?? Self.none }
            pair[n - 1] = Self.none
            while true {
                var best = Self.none, left = -1
                var i = 0
                while i >= 0 {
                    if pair[i] < best { best = pair[i]; left = i }
                    i = Int(next[i])
                }
                if left < 0 { return }
                let right = Int(next[left])
                ids[left] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                let after = next[right]
                next[left] = after
                if after >= 0 {
                    prev[Int(after)] = Int32(left)
                    pair[left] = merges.lookup(ids[left], ids[Int(after)]) ?? Self.none
                } else {
                    pair[left] = Self.none
                }
                let before = Int(prev[left])
                if before >= 0 { pair[before] = merges.lookup(ids[before], ids[left]) ?? Self.none }
            }
        }

        /// The same with a heap of candidate pairs, for long words: an entry whose pair has
        /// changed since it was queued is recognised on pop because the current pair at its left
        /// index no longer has that rank (a rank names one pair of tokens, so an entry that still
        /// matches is as good as a fresh one with the same key).
        private func mergeLong(_ n: Int, _ merges: MergeTable) {
            heap.removeAll(keepingCapacity: true)
            for i in 0 ..< n - 1 {
                if let m = merges.lookup(ids[i], ids[i + 1]) { push(m & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
            }
            while let top = pop() {
                let left = Int(top & 0xFFFF_FFFF)
                let rank = top >> 32
                if ids[left] == Self.dead { continue }
                let right = Int(next[left])
                if right < 0 { continue }
                guard let m = merges.lookup(ids[left], ids[right]), m >> 32 == rank else { continue }
                ids[left] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
                ids[right] = Self.dead
                let after = next[right]
                next[left] = after
                if after >= 0 { prev[Int(after)] = Int32(left) }
                let before = prev[left]
                if before >= 0, let m = merges.lookup(ids[Int(before)], ids[left]) {
                    push(m & 0xFFFF_FFFF_0000_0000 | UInt64(before))
                }
                if after >= 0, let m = merges.lookup(ids[left], ids[Int(after)]) {
                    push(m & 0xFFFF_FFFF_0000_0000 | UInt64(left))
                }
            }
        }

        private func push(_ v: UInt64) {
            heap.append(v)
            heap.withUnsafeMutableBufferPointer { h in
                var i = h.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    if h[parent] <= v { break }
                    h[i] = h[parent]
                    i = parent
                }
                h[i] = v
            }
        }

        private func pop() -> UInt64? {
            guard let last = heap.popLast() else { return nil }
            if heap.isEmpty { return last }
            return heap.withUnsafeMutableBufferPointer { h in
                let top = h[0]
                let n = h.count
                var i = 0
                while true {
                    let l = 2 * i + 1
                    if l >= n { break }
                    let r = l + 1
                    let c = r < n && h[r] < h[l] ? r : l
                    if h[c] >= last { break }
                    h[i] = h[c]
                    i = c
                }
                h[i] = last
                return top
            }
        }
    }
}
