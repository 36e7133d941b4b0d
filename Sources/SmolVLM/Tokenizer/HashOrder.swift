// The order in which llama.cpp visits its vocabulary when it auto-detects special tokens.
//
// llama.cpp finds EOT and FIM tokens by text ("<|im_end|>", "<|endoftext|>",
// "<end_of_utterance>", ...), walking its `std::unordered_map<std::string, llama_token>` and taking
// the first match. When a vocabulary holds several candidates (every SmolLM2/SmolVLM vocabulary
// does), the winner is decided by the hash table's iteration order, which is an implementation
// detail of the C++ standard library. The Linux builds we compare against use libstdc++; this
// file reproduces its order (std::hash<std::string> is `_Hash_bytes` with seed 0xc70f6907, buckets
// are primes from `__prime_list` under the prime rehash policy with load factor 1, and a new node
// goes to the front of its bucket or, for an empty bucket, to the front of the list). It was
// checked node by node against a real `std::unordered_map` filled with the SmolLM2 and SmolVLM
// vocabularies. A libc++ build of llama.cpp (macOS) may pick differently.

extension Tokenizer {
    enum LibstdcxxHashOrder {
        /// `std::_Hash_bytes(bytes, count, 0xc70f6907)`, the 64-bit MurmurHash2 variant of libstdc++.
        static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
            let mul: UInt64 = 0xc6a4_a793_5bd1_e995
            @inline(__always) func shiftMix(_ v: UInt64) -> UInt64 { v ^ (v >> 47) }
            let n = bytes.count
            var h: UInt64 = 0xc70f_6907 ^ (UInt64(n) &* mul)
            let aligned = n & ~7
            var p = 0
            while p < aligned {
                var d: UInt64 = 0
                for k in (0 ..< 8).reversed() { d = d << 8 | UInt64(bytes[p + k]) }
                h ^= shiftMix(d &* mul) &* mul
                h = h &* mul
                p += 8
            }
            if n & 7 != 0 {
                var d: UInt64 = 0
                for k in (aligned ..< n).reversed() { d = d << 8 | UInt64(bytes[k]) }
                h ^= d
                h = h &* mul
            }
            return shiftMix(shiftMix(h) &* mul)
        }

        /// Bucket counts libstdc++ grows through (its `__prime_list` from index 6 on).
        static let primes: [Int] = [
            17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103, 109, 113,
            127, 137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257, 277, 293, 313, 337, 359,
            383, 409, 439, 467, 503, 541, 577, 619, 661, 709, 761, 823, 887, 953, 1031, 1109, 1193,
            1289, 1381, 1493, 1613, 1741, 1879, 2029, 2179, 2357, 2549, 2753, 2971, 3209, 3469, 3739,
            4027, 4349, 4703, 5087, 5503, 5953, 6427, 6949, 7517, 8123, 8783, 9497, 10273, 11113,
            12011, 12983, 14033, 15173, 16411, 17749, 19183, 20753, 22447, 24281, 26267, 28411, 30727,
            33223, 35933, 38873, 42043, 45481, 49201, 53201, 57557, 62233, 67307, 72817, 78779, 85229,
            92203, 99733, 107897, 116731, 126271, 136607, 147793, 159871, 172933, 187091, 202409,
            218971, 236897, 256279, 277261, 299951, 324503, 351061, 379787, 410857, 444487, 480881,
            520241, 562841, 608903, 658753, 712697, 771049, 834181, 902483, 976369, 1056323, 1142821,
            1236397, 1337629, 1447153, 1565659, 1693859, 1832561, 1982627, 2144977, 2320627, 2510653,
            2716249, 2938679, 3179303, 3439651, 3721303, 4026031, 4355707, 4712381,
        ]
        static let smallBuckets: [Int] = [2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13]

        /// Position of every token in the iteration order of a libstdc++ unordered_map into which
        /// `texts` were inserted in id order (all distinct), or nil if the vocabulary is too large
        /// for the embedded prime table.
        static func iterationRanks(_ texts: [String]) -> [Int32]? {
            let n = texts.count
            var codes = [UInt64](repeating: 0, count: n)
            var next = [Int32](repeating: -1, count: n)
            var head: Int32 = -1
            let empty: Int32 = -1, beforeBegin: Int32 = -2
            var buckets: [Int32] = [empty]
            var nextResize = 0

            func nextBucketCount(_ want: Int) -> Int? {
                if want < smallBuckets.count {
                    nextResize = smallBuckets[want]
                    return smallBuckets[want]
                }
                guard let p = primes.first(where: { $0 >= want }) else { return nil }
                nextResize = p
                return p
            }

            for i in 0 ..< n {
                var text = texts[i]
                let code = text.withUTF8 { hash($0) }
                codes[i] = code
                if i + 1 > nextResize {
                    let minBuckets = max(i + 1, nextResize != 0 ? 0 : 11)
                    if minBuckets >= buckets.count {
                        guard let count = nextBucketCount(max(minBuckets + 1, buckets.count * 2)) else { return nil }
                        // Rehash: relink every node, in list order, into the new buckets.
                        var fresh = [Int32](repeating: empty, count: count)
                        var p = head
                        head = -1
                        var firstBucket = 0
                        while p >= 0 {
                            let following = next[Int(p)]
                            let b = Int(codes[Int(p)] % UInt64(count))
                            if fresh[b] == empty {
                                next[Int(p)] = head
                                head = p
                                fresh[b] = beforeBegin
                                if next[Int(p)] >= 0 { fresh[firstBucket] = p }
                                firstBucket = b
                            } else if fresh[b] == beforeBegin {
                                next[Int(p)] = head
                                head = p
                            } else {
                                let before = Int(fresh[b])
                                next[Int(p)] = next[before]
                                next[before] = p
                            }
                            p = following
                        }
                        buckets = fresh
                    } else {
                        nextResize = buckets.count
                    }
                }
                let count = UInt64(buckets.count)
                let b = Int(code % count)
                let node = Int32(i)
                if buckets[b] == empty {
                    next[i] = head
                    head = node
                    if next[i] >= 0 { buckets[Int(codes[Int(next[i])] % count)] = node }
                    buckets[b] = beforeBegin
                } else if buckets[b] == beforeBegin {
                    next[i] = head
                    head = node
                } else {
                    let before = Int(buckets[b])
                    next[i] = next[before]
                    next[before] = node
                }
            }

            var ranks = [Int32](repeating: 0, count: n)
            var p = head, r: Int32 = 0
            while p >= 0 {
                ranks[Int(p)] = r
                r += 1
                p = next[Int(p)]
            }
            return ranks
        }
    }
}
