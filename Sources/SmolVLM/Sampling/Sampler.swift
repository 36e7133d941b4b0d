import Foundation

/// One token of a ``Sampler/distribution(_:history:)``: a token id and the probability the
/// sampler's draw would give it.
public struct TokenProbability: Sendable, Equatable {
    /// The token id.
    public var token: Int
    /// Its probability after the whole chain (penalties, filters, temperature); the
    /// probabilities of a distribution add up to 1.
    public var probability: Float

    /// A token and its probability.
    public init(token: Int, probability: Float) {
        self.token = token
        self.probability = probability
    }
}

/// Picks the next token from a row of logits with llama.cpp's default sampler chain:
///
/// 1. penalties (repetition, frequency, presence) over the last ``GenerationOptions/repetitionWindow``
///    tokens of the history,
/// 2. top-k, 3. top-p, 4. min-p — the filters see probabilities at temperature 1, as in llama.cpp,
/// 5. temperature,
/// 6. a draw from the remaining tokens' softmax with the seeded generator.
///
/// Temperature 0 is greedy: the most likely token after the penalties (the filters cannot
/// remove it), the lowest id on ties. llama.cpp breaks ties in whatever order its partial sort
/// leaves, which is unspecified; here ties always go to the lower id, at the top-k cut too.
///
/// The random stream is SplitMix64 seeded with ``seed``, one 53-bit uniform draw per
/// sampled token (greedy draws none). A seed reproduces this sampler's tokens exactly on any
/// machine; it does not reproduce llama.cpp's, whose stream is `std::mt19937`.
///
/// A value type: copying a sampler copies its random state, so the copy draws the same
/// sequence. `sample` keeps its buffers between calls, so a sampler reused for a whole
/// generation allocates only on its first call.
public struct Sampler: Sendable {
    /// The options the sampler was made from (valid: ``init(options:)`` checked them).
    public let options: GenerationOptions
    /// The seed of the random stream: ``GenerationOptions/seed``, or the random seed chosen when
    /// that was nil (report it to let a run be repeated).
    public let seed: UInt64

    private var rng: SplitMix64
    private var work = Workspace()

    /// A sampler for `options`, which must be valid (see ``GenerationOptions/validate()``).
    public init(options: GenerationOptions) throws(GenerationOptionsError) {
        try options.validate()
        self.options = options
        seed = options.seed ?? UInt64.random(in: .min ... .max)
        rng = SplitMix64(seed: seed)
    }

    /// The next token for `logits` (one per vocabulary entry), given `history`, the tokens
    /// before it in the context: the penalties look at its last
    /// ``GenerationOptions/repetitionWindow`` entries. Ids outside the vocabulary in the
    /// history are ignored.
    public mutating func sample(_ logits: [Float], history: some Collection<Int>) -> Int {
        precondition(!logits.isEmpty, "no logits to sample from")
        // The buffers leave `self` for the duration, so the chain can mutate them and the
        // random state without overlapping accesses to `self`.
        var ws = work
        work = Workspace()
        defer { work = ws }
        Self.runChain(options, logits, history, &ws)
        let candidates = ws.candidates
        if options.temperature <= 0 { return Int(candidates[0].id) }
        return Int(candidates[Self.draw(candidates, uniform: Self.uniform(&rng))].id)
    }

    /// The next token for `logits` with no history (the penalties have nothing to act on).
    public mutating func sample(_ logits: [Float]) -> Int {
        sample(logits, history: EmptyCollection())
    }

    /// The distribution ``sample(_:history:)`` would draw from for these inputs, most likely
    /// first (ties: lower id first): the tokens that survive the filters, with their softmax
    /// probabilities after the temperature. Greedy gives the one chosen token with
    /// probability 1. Does not consume randomness.
    public func distribution(_ logits: [Float], history: some Collection<Int>) -> [TokenProbability] {
        precondition(!logits.isEmpty, "no logits to sample from")
        var ws = Workspace()
        Self.runChain(options, logits, history, &ws)
        var c = ws.candidates
        c.sort(by: Candidate.ranksBefore)
        let maxLogit = c[0].logit
        var sum = 0.0
        for x in c { sum += Double(expf(x.logit - maxLogit)) }
        return c.map { TokenProbability(token: Int($0.id), probability: Float(Double(expf($0.logit - maxLogit)) / sum)) }
    }

    /// ``distribution(_:history:)`` with no history.
    public func distribution(_ logits: [Float]) -> [TokenProbability] {
        distribution(logits, history: EmptyCollection())
    }
}

// MARK: - The chain

extension Sampler {
    /// A token still in the running and its (possibly penalised and scaled) logit.
    struct Candidate {
        var id: Int32
        var logit: Float

        /// The chain's order: higher logit first, lower id first on equal logits.
        static func ranksBefore(_ a: Candidate, _ b: Candidate) -> Bool {
            a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
        }
    }

    /// Buffers reused from call to call (a 49k vocabulary makes them worth keeping).
    struct Workspace {
        var logits: [Float] = []
        var candidates: [Candidate] = []
        var scratch: [Candidate] = []
        var counts: [Int: Int] = [:]
    }

    /// Leaves in `ws.candidates` what the draw chooses from, with final logits. Candidates are
    /// best-first when a filter had to sort them; otherwise in id order.
    static func runChain(_ o: GenerationOptions, _ logits: [Float], _ history: some Collection<Int>,
                         _ ws: inout Workspace) {
        ws.candidates.removeAll(keepingCapacity: true)
        var source = logits  // shares the caller's storage unless penalised
        if o.penaltiesActive && !history.isEmpty {
            var buffer = ws.logits  // taken out so that it is uniquely referenced: no copy
            ws.logits = []
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: logits)
            applyPenalties(o, history, to: &buffer, counts: &ws.counts)
            ws.logits = buffer
            source = buffer
        }

        if o.temperature <= 0 {
            // Greedy: the filters never drop the most likely token, and llama.cpp's temperature
            // stage at 0 keeps only it, so it is the argmax of the penalised logits.
            let best = argmax(source)
            ws.candidates.append(Candidate(id: Int32(best), logit: source[best]))
            return
        }

        let n = source.count
        var sorted = false
        if o.topK > 0 && o.topK < n {
            source.withUnsafeBufferPointer { selectTop(o.topK, of: $0, into: &ws.candidates) }
            sorted = true
        } else {
            ws.candidates.reserveCapacity(n)
            for i in 0 ..< n { ws.candidates.append(Candidate(id: Int32(i), logit: source[i])) }
        }
        if o.topP < 1 { topP(o.topP, source, &ws.candidates, &ws.scratch, sorted: &sorted) }
        if o.minP > 0 { minP(o.minP, &ws.candidates, sorted: sorted) }
        if o.temperature != 1 {
            for i in ws.candidates.indices { ws.candidates[i].logit /= o.temperature }
        }
    }

    /// llama.cpp's penalties: per distinct token of the window, divide a positive logit by the
    /// repetition penalty (multiply one ≤ 0, so a penalty > 1 always lowers it), then subtract
    /// `count × frequency + presence`.
    static func applyPenalties(_ o: GenerationOptions, _ history: some Collection<Int>,
                               to logits: inout [Float], counts: inout [Int: Int]) {
        let window = o.repetitionWindow < 0 ? history.count : min(o.repetitionWindow, history.count)
        counts.removeAll(keepingCapacity: true)
        for t in history.suffix(window) { counts[t, default: 0] += 1 }
        for (t, c) in counts where t >= 0 && t < logits.count {
            var x = logits[t]
            if x <= 0 { x *= o.repetitionPenalty } else { x /= o.repetitionPenalty }
            logits[t] = x - (Float(c) * o.frequencyPenalty + o.presencePenalty)
        }
    }

    /// The first index of the largest value.
    static func argmax(_ values: [Float]) -> Int {
        values.withUnsafeBufferPointer { p in
            var best = 0
            var bestValue = p[0]
            for i in 1 ..< p.count where p[i] > bestValue {
                best = i
                bestValue = p[i]
            }
            return best
        }
    }

    /// The `k` best of `logits` (ids = indices), best first, by a bounded min-heap: one pass,
    /// and the vocabulary is never sorted. Ties at the cut keep the lower ids.
    static func selectTop(_ k: Int, of logits: UnsafeBufferPointer<Float>, into out: inout [Candidate]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(k)
        for i in 0 ..< k { out.append(Candidate(id: Int32(i), logit: logits[i])) }
        out.withUnsafeMutableBufferPointer { heap in
            // Root = the worst kept candidate.
            func siftDown(_ start: Int) {
                var i = start
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var worst = i
                    if l < k && Candidate.ranksBefore(heap[worst], heap[l]) { worst = l }
                    if r < k && Candidate.ranksBefore(heap[worst], heap[r]) { worst = r }
                    if worst == i { return }
                    heap.swapAt(i, worst)
                    i = worst
                }
            }
            for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
            // Later ids lose ties, so only a strictly larger logit displaces the root.
            for i in k ..< logits.count where logits[i] > heap[0].logit {
                heap[0] = Candidate(id: Int32(i), logit: logits[i])
                siftDown(0)
            }
        }
        out.sort(by: Candidate.ranksBefore)
    }

    /// llama.cpp's top-p: softmax of the candidates at temperature 1 (in Float, as there), then
    /// keep the best until the running sum reaches `p`, the reaching token included; keep all
    /// if rounding leaves the sum short. Unsorted (whole-vocabulary) candidates are first tried
    /// against their best 256, as llama.cpp does, so the full sort happens only when those
    /// 256 hold less than `p`.
    static func topP(_ p: Float, _ logits: [Float], _ cand: inout [Candidate], _ scratch: inout [Candidate],
                     sorted: inout Bool) {
        var maxLogit = cand[0].logit
        if !sorted { for c in cand { maxLogit = max(maxLogit, c.logit) } }
        var sum: Float = 0
        for c in cand { sum += expf(c.logit - maxLogit) }

        /// The number of leading entries whose probabilities first reach `p`, or nil.
        func cut(_ best: [Candidate]) -> Int? {
            var cumulative: Float = 0
            for (i, c) in best.enumerated() {
                cumulative += expf(c.logit - maxLogit) / sum
                if cumulative >= p { return i + 1 }
            }
            return nil
        }

        if !sorted && cand.count > 1024 {
            // Unsorted candidates are the whole vocabulary in id order, i.e. `logits` itself.
            logits.withUnsafeBufferPointer { selectTop(256, of: $0, into: &scratch) }
            if let n = cut(scratch) {
                cand.removeAll(keepingCapacity: true)
                cand.append(contentsOf: scratch[..<n])
                sorted = true
                return
            }
        }
        if !sorted {
            sortWholeVocabulary(&cand, scratch: &scratch)
            sorted = true
        }
        if let n = cut(cand) { cand.removeSubrange(n...) }
    }

    /// Sorts candidates given in id order into ``Candidate/ranksBefore`` order with a stable
    /// LSD radix sort on the logits' bits (three 11-bit passes): a flat distribution can need
    /// most of a 49k vocabulary in order for top-p, and a comparison sort of that costs several
    /// milliseconds a token. Stability keeps equal logits in id order.
    static func sortWholeVocabulary(_ cand: inout [Candidate], scratch: inout [Candidate]) {
        let n = cand.count
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: cand)
        /// Ascending in this key = descending logit (IEEE bits made monotone; -0 counts as +0,
        /// as `==` does).
        @inline(__always) func key(_ x: Float) -> UInt32 {
            let bits = (x == 0 ? 0 : x).bitPattern
            return bits & 0x8000_0000 != 0 ? bits : ~(bits | 0x8000_0000)
        }
        var counts = [Int](repeating: 0, count: 2048)
        cand.withUnsafeMutableBufferPointer { a in
            scratch.withUnsafeMutableBufferPointer { b in
                counts.withUnsafeMutableBufferPointer { count in
                    var source = a, destination = b
                    for shift: UInt32 in [0, 11, 22] {
                        for i in 0 ..< 2048 { count[i] = 0 }
                        for i in 0 ..< n { count[Int((key(source[i].logit) >> shift) & 2047)] += 1 }
                        var offset = 0
                        for i in 0 ..< 2048 { (count[i], offset) = (offset, offset + count[i]) }
                        for i in 0 ..< n {
                            let digit = Int((key(source[i].logit) >> shift) & 2047)
                            destination[count[digit]] = source[i]
                            count[digit] += 1
                        }
                        swap(&source, &destination)
                    }
                    // Three passes leave the result in `b`.
                    if source.baseAddress != a.baseAddress { _ = a.update(fromContentsOf: source) }
                }
            }
        }
    }

    /// llama.cpp's min-p: keep tokens whose logit is at least the best logit + ln p, i.e. whose
    /// probability is at least p × the best one's. The best token always stays.
    static func minP(_ p: Float, _ cand: inout [Candidate], sorted: Bool) {
        var maxLogit = cand[0].logit
        if !sorted { for c in cand { maxLogit = max(maxLogit, c.logit) } }
        let threshold = maxLogit + logf(p)
        if sorted {
            var keep = 1
            while keep < cand.count && cand[keep].logit >= threshold { keep += 1 }
            cand.removeSubrange(keep...)
        } else {
            cand.removeAll { $0.logit < threshold }
        }
    }

    /// A uniform double in [0, 1) from the top 53 bits of one draw.
    static func uniform(_ rng: inout SplitMix64) -> Double {
        Double(rng.next() >> 11) * 0x1p-53
    }

    /// llama.cpp's dist sampler: softmax (sum in Double) and the first candidate at which the
    /// running sum reaches `uniform` × the total.
    static func draw(_ cand: [Candidate], uniform: Double) -> Int {
        var maxLogit = cand[0].logit
        for c in cand { maxLogit = max(maxLogit, c.logit) }
        var total = 0.0
        for c in cand { total += Double(expf(c.logit - maxLogit)) }
        let target = total * uniform
        var running = 0.0
        for (i, c) in cand.enumerated() {
            running += Double(expf(c.logit - maxLogit))
            if running >= target { return i }
        }
        return cand.count - 1  // unreachable: the last term brings `running` to `total`
    }
}
