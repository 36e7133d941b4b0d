// Finding special tokens in text before pre-tokenization (llama.cpp's `tokenizer_st_partition`).

extension Tokenizer {
    /// One piece of partitioned text: raw bytes to pre-tokenize, or a special token.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    /// llama.cpp's partition semantics: the special tokens (control, user-defined and unknown
    /// ones) are taken one at a time, longest text first; each splits every remaining raw
    /// fragment at its leftmost non-overlapping occurrences. With `parseSpecial` false, control
    /// and unknown tokens are skipped but user-defined ones are still split out.
    ///
    /// Instead of searching each fragment once per special token, all occurrences of all special
    /// texts are found in one pass with a trie, then replayed in llama.cpp's token order: an
    /// occurrence is taken if it lies wholly in bytes no earlier token has taken and after the
    /// previous occurrence taken for the same token. That is the same result, in time linear in
    /// the text (times the trie depth at positions that start a special text).
    struct SpecialTokenMatcher: Sendable {
        /// Special token ids in matching order.
        let order: [Int32]
        /// UTF-8 length of each, in the same order.
        let lengths: [Int32]
        /// Whether each is matched only when parsing special tokens (control or unknown).
        let onlyWhenParsingSpecial: [Bool]
        /// Trie: child of the root for each first byte (-1 none).
        private let root: [Int32]
        /// Trie nodes past the root: edges of node i are edgeStart[i] ..< edgeStart[i + 1].
        private let edgeStart: [Int32]
        private let edgeByte: [UInt8]
        private let edgeTarget: [Int32]
        /// Index into `order` of the token ending at each node, or -1.
        private let value: [Int32]

        init(order: [Int32], texts: [String], onlyWhenParsingSpecial: [Bool]) {
            self.order = order
            self.onlyWhenParsingSpecial = onlyWhenParsingSpecial
            var lengths: [Int32] = []
            // Build with dictionaries, then flatten.
            var children: [[UInt8: Int32]] = [[:]]  // node 0 is the root
            var values: [Int32] = [-1]
            for (k, text) in texts.enumerated() {
                let bytes = Array(text.utf8)
                lengths.append(Int32(bytes.count))
                var node = 0
                for b in bytes {
                    if let c = children[node][b] {
                        node = Int(c)
                    } else {
                        children.append([:])
                        values.append(-1)
                        children[node][b] = Int32(children.count - 1)
                        node = children.count - 1
                    }
                }
                if values[node] < 0 { values[node] = Int32(k) }  // distinct texts: never taken
            }
            self.lengths = lengths
            var root = [Int32](repeating: -1, count: 256)
            for (b, c) in children[0] { root[Int(b)] = c }
            var edgeStart: [Int32] = []
            var edgeByte: [UInt8] = []
            var edgeTarget: [Int32] = []
            for node in children.indices {
                edgeStart.append(Int32(edgeByte.count))
                for (b, c) in children[node].sorted(by: { $0.key < $1.key }) {
                    edgeByte.append(b)
                    edgeTarget.append(c)
                }
            }
            edgeStart.append(Int32(edgeByte.count))
            self.root = root
            self.edgeStart = edgeStart
            self.edgeByte = edgeByte
            self.edgeTarget = edgeTarget
            value = values
        }

        @inline(__always)
        private func child(_ node: Int32, _ byte: UInt8) -> Int32 {
            var e = Int(edgeStart[Int(node)])
            let end = Int(edgeStart[Int(node) + 1])
            while e < end {
                if edgeByte[e] == byte { return edgeTarget[e] }
                e += 1
            }
            return -1
        }

        func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
            let n = bytes.count
            if n == 0 { return [] }
            if order.isEmpty { return [.text(0 ..< n)] }
            // Every occurrence of every eligible special text: (order index << 32) | position.
            var hits: [UInt64] = []
            for p in 0 ..< n {
                var node = root[Int(bytes[p])]
                var q = p + 1
                while node >= 0 {
                    let k = value[Int(node)]
                    if k >= 0 && (parseSpecial || !onlyWhenParsingSpecial[Int(k)]) {
                        hits.append(UInt64(k) << 32 | UInt64(p))
                    }
                    if q == n { break }
                    node = child(node, bytes[q])
                    q += 1
                }
            }
            if hits.isEmpty { return [.text(0 ..< n)] }
            hits.sort()

            var taken = [Bool](repeating: false, count: n)
            var accepted: [(start: Int, order: Int)] = []
            var currentToken = -1
            var lastEnd = 0
            for hit in hits {
                let k = Int(hit >> 32), p = Int(hit & 0xFFFF_FFFF)
                if k != currentToken { currentToken = k; lastEnd = 0 }
                let len = Int(lengths[k])
                if p < lastEnd { continue }
                var free = true
                for i in p ..< p + len where taken[i] { free = false; break }
                if !free { continue }
                for i in p ..< p + len { taken[i] = true }
                accepted.append((p, k))
                lastEnd = p + len
            }
            accepted.sort { $0.start < $1.start }
            var fragments: [Fragment] = []
            var cursor = 0
            for (start, k) in accepted {
                if start > cursor { fragments.append(.text(cursor ..< start)) }
                fragments.append(.token(Int(order[k])))
                cursor = start + Int(lengths[k])
            }
            if cursor < n { fragments.append(.text(cursor ..< n)) }
            return fragments
        }
    }
}
