/// Numeric comparisons against reference values, with messages a failing test can print as is
/// (llm.c style: what was compared, the worst element, and where).
public struct Comparison: Sendable, CustomStringConvertible {
    public let label: String
    public let count: Int
    /// Largest |ours − reference|.
    public let maxAbsDiff: Float
    /// Index of that element.
    public let worstIndex: Int
    public let oursAtWorst: Float
    public let referenceAtWorst: Float
    /// Standard deviation of the reference values (the scale for relative tolerances).
    public let referenceStd: Float
    /// ‖ours − reference‖ / ‖reference‖.
    public let relativeError: Float

    /// max |Δ| / std(reference): the figure the tolerances in the issues are stated in.
    public var maxAbsDiffOverStd: Float { referenceStd > 0 ? maxAbsDiff / referenceStd : maxAbsDiff }

    public init(_ label: String, ours: some Collection<Float>, reference: some Collection<Float>, scale: Float? = nil) {
        precondition(ours.count == reference.count, "\(label): \(ours.count) values vs \(reference.count) reference values")
        self.label = label
        count = reference.count
        var maxDiff: Float = 0, worst = 0, worstOurs: Float = 0, worstRef: Float = 0
        var sum = 0.0, sumSq = 0.0, diffSq = 0.0
        for (i, (a, b)) in zip(ours, reference).enumerated() {
            let d = abs(a - b)
            if d > maxDiff || d.isNaN { maxDiff = d; worst = i; worstOurs = a; worstRef = b }
            sum += Double(b); sumSq += Double(b) * Double(b); diffSq += Double(a - b) * Double(a - b)
        }
        let n = Double(max(count, 1))
        let mean = sum / n
        maxAbsDiff = maxDiff
        worstIndex = worst
        oursAtWorst = worstOurs
        referenceAtWorst = worstRef
        referenceStd = scale ?? Float(max(0, sumSq / n - mean * mean).squareRoot())
        relativeError = sumSq > 0 ? Float((diffSq / sumSq).squareRoot()) : Float(diffSq.squareRoot())
    }

    public var description: String {
        "\(label): max |Δ| \(fmt(maxAbsDiff)) (\(fmt(maxAbsDiffOverStd)) × std \(fmt(referenceStd))) at [\(worstIndex)] "
            + "ours \(fmt(oursAtWorst)) vs ref \(fmt(referenceAtWorst)), rel. error \(fmt(relativeError)), n=\(count)"
    }
}

/// Agreement of the most likely tokens between our logits and the reference's.
public struct TopKAgreement: Sendable {
    /// Ours and the reference's best token are the same.
    public let top1Agrees: Bool
    /// Fraction of the reference's top k found in our top k.
    public let overlap: Double
    public let oursTop: [Int]
    public let referenceTop: [Int]

    public init(ours: [Float], referenceTop: [Int], k: Int) {
        let k = min(k, referenceTop.count, ours.count)
        let ranked = ours.indices.sorted { ours[$0] > ours[$1] || (ours[$0] == ours[$1] && $0 < $1) }
        oursTop = Array(ranked.prefix(k))
        self.referenceTop = Array(referenceTop.prefix(k))
        top1Agrees = oursTop.first == self.referenceTop.first
        overlap = k == 0 ? 1 : Double(Set(oursTop).intersection(self.referenceTop).count) / Double(k)
    }
}

/// The first index where two sequences differ, or nil if they are equal (lengths included).
public func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
    for i in 0 ..< min(a.count, b.count) where a[i] != b[i] { return i }
    return a.count == b.count ? nil : min(a.count, b.count)
}

/// Index of the largest value (first on ties), as greedy decoding picks it.
public func argmax(_ v: some Collection<Float>) -> Int {
    var best = -Float.infinity, at = 0
    for (i, x) in v.enumerated() where x > best { best = x; at = i }
    return at
}

private func fmt(_ x: Float) -> String {
    if x == 0 { return "0" }
    if !x.isFinite { return "\(x)" }
    let a = abs(x)
    if a >= 1e-3 && a < 1e4 {
        let s = String(Double(x))
        return s.count > 9 ? String(s.prefix(9)) : s
    }
    return "\(x)"
}
