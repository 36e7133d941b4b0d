// Kernels: every SIMD table against the scalar oracle, and the oracle against plain
// float arithmetic on dequantized data. Uses only the public C API.
import Foundation
import Kernels
import SmolVLM
import Testing

// MARK: - Harness

/// SplitMix64: deterministic, so a failure reproduces.
private struct Rng: RandomNumberGenerator {
    var base: SplitMix64
    init(_ seed: UInt64) { base = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { base.next() }
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { Float.random(in: lo..<hi, using: &self) }
    mutating func normal() -> Float {
        let u1 = max(Double.random(in: 0..<1, using: &self), 1e-300)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

extension sv_type: @retroactive CustomTestStringConvertible {
    public var testDescription: String { String(cString: sv_type_name(self)) }
}

private let weightTypes: [sv_type] = [
    SV_TYPE_F32, SV_TYPE_F16, SV_TYPE_BF16, SV_TYPE_Q8_0, SV_TYPE_Q4_0, SV_TYPE_Q4_1,
    SV_TYPE_Q5_0, SV_TYPE_Q5_1, SV_TYPE_Q4_K, SV_TYPE_Q5_K, SV_TYPE_Q6_K,
]
private let partnerTypes: [sv_type] = [SV_TYPE_Q8_0, SV_TYPE_Q8_1, SV_TYPE_Q8_K, SV_TYPE_F16, SV_TYPE_BF16, SV_TYPE_F32]

/// Every instruction set this CPU runs, other than the scalar oracle.
private func simdISAs() -> [sv_isa] {
    (1..<SV_ISA_COUNT.rawValue).map { sv_isa(rawValue: $0) }.filter { sv_isa_supported($0) != 0 }
}

private func table(_ isa: sv_isa) -> UnsafePointer<sv_kernels> { sv_kernels_for(isa)! }
private var scalar: UnsafePointer<sv_kernels> { table(SV_ISA_SCALAR) }
private func isaName(_ isa: sv_isa) -> String { String(cString: sv_isa_name(isa)) }
private func typeName(_ t: sv_type) -> String { String(cString: sv_type_name(t)) }

private func fromFloat(_ k: UnsafePointer<sv_kernels>, _ t: sv_type) -> sv_from_float_fn {
    var entries = k.pointee.from_float
    return withUnsafeBytes(of: &entries) {
        $0.load(fromByteOffset: Int(t.rawValue) * MemoryLayout<sv_from_float_fn?>.stride, as: sv_from_float_fn?.self)
    }!
}

private func vecDot(_ k: UnsafePointer<sv_kernels>, _ t: sv_type) -> sv_vec_dot_fn {
    var entries = k.pointee.vec_dot
    return withUnsafeBytes(of: &entries) {
        $0.load(fromByteOffset: Int(t.rawValue) * MemoryLayout<sv_vec_dot_fn?>.stride, as: sv_vec_dot_fn?.self)
    }!
}

private func convert(_ k: UnsafePointer<sv_kernels>, _ t: sv_type, _ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0xA5, count: sv_row_bytes(t, Int64(x.count)))
    let f = fromFloat(k, t)
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { f(xp.baseAddress, $0.baseAddress, Int64(x.count)) } }
    return out
}

private func dot(_ k: UnsafePointer<sv_kernels>, _ t: sv_type, _ n: Int, _ w: [UInt8], _ x: [UInt8]) -> Float {
    let f = vecDot(k, t)
    return w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in f(Int64(n), wp.baseAddress, xp.baseAddress) } }
}

private func loadU16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
private func storeU16(_ b: inout [UInt8], _ o: Int, _ v: UInt16) { b[o] = UInt8(v & 0xFF); b[o + 1] = UInt8(v >> 8) }
private func loadF32(_ b: [UInt8], _ o: Int) -> Float {
    Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
}

/// Decodes a row of any weight or partner type to floats (Q8_1 and Q8_K by hand,
/// since sv_dequantize_row covers weight types only).
private func decode(_ t: sv_type, _ b: [UInt8], _ n: Int) -> [Float] {
    switch t {
    case SV_TYPE_Q8_1:
        return (0..<n).map { i in
            let blk = (i / 32) * 36
            return sv_fp16_to_fp32(loadU16(b, blk)) * Float(Int8(bitPattern: b[blk + 4 + i % 32]))
        }
    case SV_TYPE_Q8_K:
        return (0..<n).map { i in
            let blk = (i / 256) * 292
            return loadF32(b, blk) * Float(Int8(bitPattern: b[blk + 4 + i % 256]))
        }
    default:
        var y = [Float](repeating: .nan, count: n)
        let rc = b.withUnsafeBytes { bp in y.withUnsafeMutableBufferPointer { sv_dequantize_row(t, bp.baseAddress, $0.baseAddress, Int64(n)) } }
        precondition(rc == 0, "dequantize \(typeName(t))")
        return y
    }
}

/// Byte offsets (within a block) of the f16 scale fields, and of the min fields.
private func scaleFields(_ t: sv_type) -> (scales: [Int], mins: [Int]) {
    switch t {
    case SV_TYPE_Q4_0, SV_TYPE_Q5_0, SV_TYPE_Q8_0: return ([0], [])
    case SV_TYPE_Q4_1, SV_TYPE_Q5_1, SV_TYPE_Q4_K, SV_TYPE_Q5_K: return ([0], [2])
    case SV_TYPE_Q6_K: return ([208], [])
    default: return ([], [])
    }
}

/// A random weight row: float types from normal data, quantized types from random
/// bytes with sane f16 scales (0.001–0.05; the min of Q4_1 and Q5_1 may be negative).
private func randomWeights(_ t: sv_type, _ n: Int, _ rng: inout Rng) -> [UInt8] {
    switch t {
    case SV_TYPE_F32, SV_TYPE_F16, SV_TYPE_BF16:
        return convert(scalar, t, (0..<n).map { _ in rng.normal() * 0.05 })
    default:
        var b = (0..<sv_row_bytes(t, Int64(n))).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let bs = sv_type_block_bytes(t), nb = n / Int(sv_type_block_elems(t))
        let (scales, mins) = scaleFields(t)
        for blk in 0..<nb {
            for o in scales { storeU16(&b, blk * bs + o, sv_fp32_to_fp16(rng.uniform(0.001, 0.05))) }
            for o in mins {
                let sign: Float = (hasMinTimesSum(t) && Bool.random(using: &rng)) ? -1 : 1
                storeU16(&b, blk * bs + o, sv_fp32_to_fp16(sign * rng.uniform(0.001, 0.05)))
            }
        }
        if t == SV_TYPE_Q8_0 {
            // ggml never writes -128 into Q8_0 and the x86 sign trick relies on that.
            for blk in 0..<nb { for j in 0..<32 where b[blk * bs + 2 + j] == 0x80 { b[blk * bs + 2 + j] = 0x81 } }
        }
        return b
    }
}

/// Activation-like data: normal values whose scale changes from block to block, with
/// the odd outlier, as hidden states have.
private func randomActivations(_ n: Int, _ rng: inout Rng) -> [Float] {
    var x = [Float](repeating: 0, count: n)
    var scale: Float = 1
    for i in 0..<n {
        if i % 32 == 0 { scale = rng.uniform(0.01, 4) }
        x[i] = rng.normal() * scale
        if rng.uniform(0, 1) < 0.005 { x[i] *= 40 }
    }
    return x
}

/// Types whose dot adds a per-block m_w·s_x term (s_x = the Q8_1 block's stored f16 sum).
private func hasMinTimesSum(_ t: sv_type) -> Bool { t == SV_TYPE_Q4_1 || t == SV_TYPE_Q5_1 }

/// Σ_blocks |m_w·s_x| for Q4_1/Q5_1 (m at byte 2 of the weight block, s at byte 2 of Q8_1's).
private func minTimesSumMagnitude(_ t: sv_type, _ n: Int, _ w: [UInt8], _ x: [UInt8]) -> Double {
    let bs = sv_type_block_bytes(t)
    return (0..<(n / 32)).reduce(0.0) { acc, blk in
        acc + abs(Double(sv_fp16_to_fp32(loadU16(w, blk * bs + 2))) * Double(sv_fp16_to_fp32(loadU16(x, blk * 36 + 2))))
    }
}

/// Σ|w_i·x_i| with the min term of Q4_1/Q5_1/Q4_K/Q5_K counted separately (so cancellation
/// between d·q and the min cannot hide float error), plus the magnitude of Q4_1's and
/// Q5_1's m·s terms. Float error of any dot ordering is a small multiple of this.
private func errorScale(_ t: sv_type, _ n: Int, _ w: [UInt8], _ xt: sv_type, _ x: [UInt8]) -> Double {
    let wf = decode(t, w, n), xf = decode(xt, x, n)
    var noMin = w
    let bs = sv_type_block_bytes(t), nb = n / Int(sv_type_block_elems(t))
    for blk in 0..<nb { for o in scaleFields(t).mins { storeU16(&noMin, blk * bs + o, 0) } }
    let wq = decode(t, noMin, n)
    var s = 0.0
    for i in 0..<n { s += (abs(Double(wq[i])) + abs(Double(wf[i]) - Double(wq[i]))) * abs(Double(xf[i])) }
    if hasMinTimesSum(t) { s += minTimesSumMagnitude(t, n, w, x) }
    return s
}

private func rowLengths(_ t: sv_type) -> [Int] {
    switch sv_type_block_elems(t) {
    case 256: return [256, 768, 1280, 1536, 3072]
    case 32: return [32, 96, 160, 224, 288, 576, 768, 1536, 3072]
    default: return [1, 7, 8, 31, 33, 100, 576, 768, 1536, 3072] // tails of every SIMD width
    }
}

// MARK: - Conversions

@Suite("Scalar conversions")
struct ConversionTests {
    @Test func fp16RoundTripsEveryNonNaNHalf() {
        for h in 0...0xFFFF {
            let bits = UInt16(h)
            let f = sv_fp16_to_fp32(bits)
            if f.isNaN { #expect(sv_fp32_to_fp16(f) & 0x7E00 == 0x7E00); continue }
            #expect(sv_fp32_to_fp16(f) == bits)
        }
    }

    @Test func fp16RoundsHalfToEven() {
        // 1 + 2^-11 is halfway between 1 and the next half: ties go to the even 1.
        #expect(sv_fp32_to_fp16(1 + 0x1p-11) == 0x3C00)
        #expect(sv_fp32_to_fp16(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(sv_fp32_to_fp16(65504) == 0x7BFF)
        #expect(sv_fp32_to_fp16(65519.99) == 0x7BFF)
        #expect(sv_fp32_to_fp16(65520) == 0x7C00)
        #expect(sv_fp32_to_fp16(0x1p-24) == 0x0001)
        #expect(sv_fp32_to_fp16(0x1p-25) == 0x0000) // tie between 0 and the smallest subnormal
        #expect(sv_fp32_to_fp16(0x1.8p-24) == 0x0002) // tie between 1 and 2 units → 2
        #expect(sv_fp32_to_fp16(-0.0) == 0x8000)
        #expect(sv_fp32_to_fp16(Float.nan) & 0x7E00 == 0x7E00)
    }

    @Test func bf16MatchesGGML() {
        #expect(sv_fp32_to_bf16(1.0) == 0x3F80)
        #expect(sv_fp32_to_bf16(Float(bitPattern: 0x3F80_8000)) == 0x3F80) // tie → even
        #expect(sv_fp32_to_bf16(Float(bitPattern: 0x3F81_8000)) == 0x3F82) // tie → even
        #expect(sv_fp32_to_bf16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(sv_fp32_to_bf16(Float(bitPattern: 0x7F80_0001)) == 0x7FC0) // sNaN → quiet, not Inf
        #expect(sv_fp32_to_bf16(.infinity) == 0x7F80)
        #expect(sv_bf16_to_fp32(0xC040) == -3.0)
    }

    @Test func typeTables() {
        #expect(sv_row_bytes(SV_TYPE_Q4_K, 1536) == 6 * 144)
        #expect(sv_row_bytes(SV_TYPE_Q8_0, 33) == 0)
        #expect(sv_row_bytes(SV_TYPE_F16, 7) == 14)
        #expect(sv_vec_dot_type(SV_TYPE_Q4_1) == SV_TYPE_Q8_1)
        #expect(sv_row_bytes(SV_TYPE_Q5_0, 576) == 18 * 22)
        #expect(sv_row_bytes(SV_TYPE_Q5_1, 960) == 30 * 24)
        #expect(sv_row_bytes(SV_TYPE_Q5_1, 48) == 0)
        #expect(sv_vec_dot_type(SV_TYPE_Q5_0) == SV_TYPE_Q8_0)
        #expect(sv_vec_dot_type(SV_TYPE_Q5_1) == SV_TYPE_Q8_1)
        #expect(typeName(SV_TYPE_Q5_0) == "q5_0" && typeName(SV_TYPE_Q5_1) == "q5_1")
        #expect(sv_vec_dot_type(SV_TYPE_Q6_K) == SV_TYPE_Q8_K)
        #expect(sv_vec_dot_type(SV_TYPE_BF16) == SV_TYPE_BF16)
        #expect(sv_type_block_elems(SV_TYPE_COUNT) == 0)
    }
}

// MARK: - Scalar oracle

@Suite("Scalar oracle")
struct ScalarOracleTests {
    /// Round half to even at exact ties, as ggml's x86 quantizer does (roundf would
    /// give 3, 4, -3, 1, -1, 2).
    @Test func q8RoundsTiesToEven() {
        let ties: [Float] = [2.5, 3.5, -2.5, 0.5, -0.5, 1.5]
        let expect: [Int8] = [2, 4, -2, 0, 0, 2]
        // With amax = 127 the multiplier is exactly 1, so the ties survive scaling.
        var x = [Float](repeating: 0, count: 256)
        x[0] = -127
        for (i, v) in ties.enumerated() { x[1 + i] = v }
        let q80 = convert(scalar, SV_TYPE_Q8_0, Array(x[0..<32]))
        let q81 = convert(scalar, SV_TYPE_Q8_1, Array(x[0..<32]))
        let q8k = convert(scalar, SV_TYPE_Q8_K, x) // max = -127 → iscale = 1
        #expect(Int8(bitPattern: q80[2]) == -127)
        #expect(Int8(bitPattern: q8k[4]) == -127)
        for i in 0..<ties.count {
            #expect(Int8(bitPattern: q80[3 + i]) == expect[i], "q8_0 \(ties[i])")
            #expect(Int8(bitPattern: q81[5 + i]) == expect[i], "q8_1 \(ties[i])")
            #expect(Int8(bitPattern: q8k[5 + i]) == expect[i], "q8_K \(ties[i])")
        }
        // q8_1's s is d times the sum of the stored quants.
        let sum = -127 + expect.reduce(0) { $0 + Int($1) }
        #expect(loadU16(q81, 2) == sv_fp32_to_fp16(Float(sum))) // d = 127/127 = 1
        // Q8_K bsums are sums of 16 quants; d = 1/iscale.
        #expect(loadF32(q8k, 0) == 1.0)
        let bsum0 = Int16(bitPattern: loadU16(q8k, 260))
        #expect(Int(bsum0) == sum)
    }

    @Test func q8_0RoundTripWithinHalfStep() {
        var rng = Rng(7)
        let n = 3072
        var x = randomActivations(n, &rng)
        for i in 64..<96 { x[i] = 0 } // an all-zero block
        let q = convert(scalar, SV_TYPE_Q8_0, x)
        let y = decode(SV_TYPE_Q8_0, q, n)
        for b in 0..<(n / 32) {
            let blk = x[(b * 32)..<(b * 32 + 32)]
            let amax = blk.map { abs($0) }.max()!
            let d = amax / 127, dh = sv_fp16_to_fp32(loadU16(q, b * 34))
            // Half a step, plus what storing d as f16 moves the largest quant.
            let bound = 0.5 * d + 127 * abs(d - dh) + 4 * amax.ulp
            for j in 0..<32 {
                let i = b * 32 + j
                #expect(abs(x[i] - y[i]) <= bound, "block \(b) element \(j): \(x[i]) → \(y[i]), bound \(bound)")
            }
        }
    }

    /// Bit j of a Q5 block's qh is the fifth bit of element j: of the low nibble of qs[j]
    /// for j < 16, of the high nibble of qs[j - 16] above (ggml's layout).
    @Test func q5HighBitBelongsToElementOfSameIndex() {
        for j in 0..<32 {
            let qh = UInt32(1) << j
            let qhBytes = (0..<4).map { UInt8((qh >> (8 * $0)) & 0xFF) }
            var q50 = [UInt8](repeating: 0, count: 22), q51 = [UInt8](repeating: 0, count: 24)
            storeU16(&q50, 0, sv_fp32_to_fp16(1)) // d = 1
            storeU16(&q51, 0, sv_fp32_to_fp16(1)) // d = 1, m = 0.5
            storeU16(&q51, 2, sv_fp32_to_fp16(0.5))
            for k in 0..<4 { q50[2 + k] = qhBytes[k]; q51[4 + k] = qhBytes[k] }
            for k in 0..<16 { q50[6 + k] = 0x21; q51[8 + k] = 0x21 } // low nibble 1, high nibble 2
            let y0 = decode(SV_TYPE_Q5_0, q50, 32), y1 = decode(SV_TYPE_Q5_1, q51, 32)
            for i in 0..<32 {
                let q = (i < 16 ? 1 : 2) + (i == j ? 16 : 0)
                #expect(y0[i] == Float(q - 16), "q5_0 bit \(j) element \(i)")
                #expect(y1[i] == Float(q) + 0.5, "q5_1 bit \(j) element \(i)")
            }
        }
    }

    /// The generic dot equals Σ dequant(w)·dequant(x) up to float rounding, which
    /// shows the oracle's integer bookkeeping (nibble order, scale unpacking, bsums,
    /// the Q4_1/Q5_1 min term) is right.
    @Test(arguments: weightTypes)
    func genericDotMatchesDequantizedReference(_ t: sv_type) {
        var rng = Rng(0x5EED + UInt64(t.rawValue))
        let xt = sv_vec_dot_type(t)
        for n in rowLengths(t) {
            let w = randomWeights(t, n, &rng)
            let x = convert(scalar, xt, randomActivations(n, &rng))
            let wf = decode(t, w, n), xf = decode(xt, x, n)
            var ref = 0.0
            for i in 0..<n { ref += Double(wf[i]) * Double(xf[i]) }
            var tol = 1e-5 * errorScale(t, n, w, xt, x)
            if hasMinTimesSum(t) {
                // The oracle uses the stored s = f16(d·Σq), not Σ of the dequantized x:
                // allow its f16 rounding, |m|·|s|·2^-11 per block.
                tol += minTimesSumMagnitude(t, n, w, x) * 0x1p-10
            }
            let got = Double(dot(scalar, t, n, w, x))
            #expect(abs(got - ref) <= tol, "\(typeName(t)) n=\(n): generic \(got) vs reference \(ref), tol \(tol)")
        }
    }
}

// MARK: - SIMD twins against the oracle

@Suite("SIMD kernels against the scalar oracle")
struct SIMDTests {
    @Test func tablesAreCompleteAndReported() {
        let isas = simdISAs()
        let best = String(cString: sv_kernels_default().pointee.name)
        print("KernelsTests: SIMD ISAs tested: \(isas.isEmpty ? "none (scalar only)" : isas.map(isaName).joined(separator: ", ")); default table: \(best)")
        #expect(sv_isa_supported(SV_ISA_SCALAR) == 1)
        #expect(sv_kernels_for(SV_ISA_COUNT) == nil)
        for isa in [SV_ISA_SCALAR] + isas {
            let k = table(isa)
            #expect(k.pointee.isa == isa)
            var ff = k.pointee.from_float, vd = k.pointee.vec_dot
            let stride = MemoryLayout<sv_vec_dot_fn?>.stride
            for t in partnerTypes {
                let entry = withUnsafeBytes(of: &ff) { $0.load(fromByteOffset: Int(t.rawValue) * stride, as: sv_from_float_fn?.self) }
                #expect(entry != nil, "\(isaName(isa)) lacks from_float[\(typeName(t))]")
            }
            for t in weightTypes {
                let entry = withUnsafeBytes(of: &vd) { $0.load(fromByteOffset: Int(t.rawValue) * stride, as: sv_vec_dot_fn?.self) }
                #expect(entry != nil, "\(isaName(isa)) lacks vec_dot[\(typeName(t))]")
            }
        }
    }

    /// Inputs that stress the quantizers: exact ties, zeros, all-zero blocks, wide
    /// ranges, subnormals (whose 127/amax overflows to +Inf), tiny and huge blocks.
    private static func stressRows(_ n: Int, _ rng: inout Rng) -> [[Float]] {
        var rows: [[Float]] = [randomActivations(n, &rng)]
        // ~1e-41: a literal that small draws an underflow warning.
        let subnormal = Float.leastNormalMagnitude / 1000
        // Ties: amax 127 (multiplier 1) or 254 (multiplier 0.5), other values on .5 steps.
        rows.append((0..<n).map { i in
            if i % 32 == 0 { return (i / 32) % 2 == 0 ? 127 : -254 }
            return Float(Int.random(in: -100...100, using: &rng)) + ((i / 32) % 2 == 0 ? 0.5 : 1.0)
        })
        rows.append((0..<n).map { i in (i / 32) % 3 == 1 ? 0 : (i % 5 == 0 ? 0 : rng.normal()) })
        rows.append([Float](repeating: 0, count: n))
        rows.append((0..<n).map { _ in rng.normal() * powf(10, Float(Int.random(in: -20...20, using: &rng))) })
        rows.append((0..<n).map { i in
            switch (i / 32) % 4 {
            case 0: return rng.normal() * subnormal
            case 1: return rng.normal() * 1e-36
            case 2: return rng.normal() * 1e30
            default: return Float(bitPattern: UInt32.random(in: 1...0x7F_FFFF, using: &rng)) * (Bool.random(using: &rng) ? 1 : -1)
            }
        })
        // Whole Q8_K super-blocks of subnormals (127/max overflows there too).
        rows.append((0..<n).map { i in (i / 256) % 2 == 0 ? rng.normal() * subnormal : rng.normal() })
        return rows
    }

    @Test(arguments: partnerTypes)
    func fromFloatIsByteIdentical(_ t: sv_type) {
        var rng = Rng(0xF00D + UInt64(t.rawValue))
        let lengths = sv_type_block_elems(t) == 256 ? [256, 768, 1280, 3072] : [32, 96, 160, 576, 1536, 3072]
        for isa in simdISAs() {
            let k = table(isa)
            var mismatches = 0
            for n in lengths {
                for (r, x) in Self.stressRows(n, &rng).enumerated() {
                    let a = convert(scalar, t, x), b = convert(k, t, x)
                    if a != b {
                        mismatches += 1
                        let first = a.indices.first { a[$0] != b[$0] }!
                        Issue.record("\(isaName(isa)) \(typeName(t)) n=\(n) row \(r): first differing byte \(first) (\(a[first]) vs \(b[first]))")
                    }
                }
            }
            #expect(mismatches == 0)
        }
    }

    @Test(arguments: weightTypes)
    func vecDotMatchesOracle(_ t: sv_type) {
        var rng = Rng(0xD07 + UInt64(t.rawValue))
        let xt = sv_vec_dot_type(t)
        for isa in simdISAs() {
            let k = table(isa)
            for n in rowLengths(t) {
                for trial in 0..<3 {
                    let w = randomWeights(t, n, &rng)
                    let xf = randomActivations(n, &rng)
                    let x = convert(scalar, xt, xf)
                    // One wrong quant moves the result by roughly 1/n of errorScale (≥ 3e-4
                    // at n = 3072), far above this; float reordering stays far below it.
                    let tol = 1e-5 * errorScale(t, n, w, xt, x) + 1e-30
                    let want = dot(scalar, t, n, w, x), got = dot(k, t, n, w, x)
                    #expect(abs(Double(got) - Double(want)) <= tol,
                            "\(isaName(isa)) \(typeName(t)) n=\(n): \(got) vs scalar \(want), tol \(tol)")
                    if trial == 0 && n == rowLengths(t).last! {
                        // The comparison can fail: the same kernel on negated activations
                        // lands far outside the tolerance around the unperturbed result.
                        let flipped = dot(k, t, n, w, convert(scalar, xt, xf.map { -$0 }))
                        #expect(abs(Double(want)) > 100 * tol)
                        #expect(abs(Double(flipped) - Double(want)) > tol, "\(isaName(isa)) \(typeName(t)): perturbation went unnoticed")
                    }
                }
            }
        }
    }
}

// MARK: - Matrix products

@Suite("sv_matmul_rows")
struct MatmulTests {
    @Test(arguments: weightTypes)
    func matchesPerRowDots(_ t: sv_type) {
        var rng = Rng(0x3A7 + UInt64(t.rawValue))
        let xt = sv_vec_dot_type(t)
        let n = sv_type_block_elems(t) == 256 ? 768 : 576
        let rows = 150 // more than one tile of rows
        let wb = sv_row_bytes(t, Int64(n)), xb = sv_row_bytes(xt, Int64(n))
        var w = [UInt8]()
        for _ in 0..<rows { w += randomWeights(t, n, &rng) }
        let tables = [scalar] + simdISAs().map(table)
        for k in tables {
            for m in [1, 5] {
                var x = [UInt8]()
                for _ in 0..<m { x += convert(k, xt, randomActivations(n, &rng)) }
                let yStride = rows + 3
                let (r0, r1) = (7, 141)
                var y = [Float](repeating: -42, count: m * yStride)
                w.withUnsafeBytes { wp in
                    x.withUnsafeBytes { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            sv_matmul_rows(k, t, Int64(n), wp.baseAddress, wb, xp.baseAddress, xb, Int64(m),
                                           yp.baseAddress, Int64(yStride), Int64(r0), Int64(r1))
                        }
                    }
                }
                for j in 0..<m {
                    let xj = Array(x[(j * xb)..<((j + 1) * xb)])
                    for r in 0..<yStride {
                        let got = y[j * yStride + r]
                        if r >= r0 && r < r1 {
                            let want = dot(k, t, n, Array(w[(r * wb)..<((r + 1) * wb)]), xj)
                            #expect(got.bitPattern == want.bitPattern, "\(String(cString: k.pointee.name)) \(typeName(t)) m=\(m) row \(r)")
                        } else {
                            #expect(got == -42, "wrote outside [r0, r1): row \(r)")
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Attention

/// The attention twins reproduce llama.cpp's flash-attention arithmetic only if they are the
/// scalar oracle bit for bit, so outputs are compared as bit patterns.
@Suite("Attention twins against the scalar oracle")
struct AttentionTests {
    static let d = 64
    static let kvStride = 3 * 64 // keys of one head inside rows of three heads, as in the caches

    /// Keys, values and queries: normal (mode 0), large (mode 1: scores far apart, so most
    /// exponentials underflow), equal keys (mode 2: every score of a row equal).
    fileprivate static func inputs(positions: Int, rows: Int, mode: Int, _ rng: inout Rng) -> (k: [sv_half], v: [sv_half], q: [Float]) {
        let scale: Float = mode == 1 ? 40 : 1
        let k = (0..<(positions * kvStride)).map { _ in sv_fp32_to_fp16(mode == 2 ? 0.5 : rng.normal() * scale) }
        let v = (0..<(positions * kvStride)).map { _ in sv_fp32_to_fp16(rng.normal()) }
        let q = (0..<(rows * 100)).map { _ in rng.normal() * scale }
        return (k, v, q)
    }

    static func block(_ t: UnsafePointer<sv_kernels>, rows: Int, nKV: Int, causal: Bool,
                      _ k: [sv_half], _ v: [sv_half], _ q: [Float]) -> [UInt32] {
        let outStride = 70
        var out = [Float](repeating: -7, count: rows * outStride)
        var scratch = [Float](repeating: .nan, count: sv_attention_block_f32acc_scratch_floats(Int64(d), Int64(rows)))
        let f = t.pointee.attention_block_f32acc!
        k.withUnsafeBufferPointer { kp in
            v.withUnsafeBufferPointer { vp in
                f(Int64(d), Int64(rows), q, 100, kp.baseAddress! + 64, vp.baseAddress! + 128, Int64(kvStride),
                  Int64(nKV), causal ? 1 : 0, 0.125, &out, Int64(outStride), &scratch)
            }
        }
        return out.map(\.bitPattern)
    }

    @Test func blockF32AccIsBitIdentical() {
        var rng = Rng(0xA77E)
        let scalarTable = scalar
        for mode in 0..<3 {
            for nKV in [1, 7, 63, 64, 65, 200, 1024] {
                for rows in [1, 3, 64, 100] {
                    for causal in [false, true] {
                        let positions = causal ? nKV + rows : nKV
                        let (k, v, q) = Self.inputs(positions: positions, rows: rows, mode: mode, &rng)
                        let want = Self.block(scalarTable, rows: rows, nKV: nKV, causal: causal, k, v, q)
                        // The generic block is the row oracle, row by row.
                        var rowOut = [Float](repeating: 0, count: Self.d), rowScratch = [Float](repeating: 0, count: 64)
                        let r = rows - 1
                        k.withUnsafeBufferPointer { kp in
                            v.withUnsafeBufferPointer { vp in
                                sv_attention_row_f32acc(Int64(Self.d), Array(q[(r * 100)...]), kp.baseAddress! + 64, vp.baseAddress! + 128,
                                                        Int64(Self.kvStride), Int64(causal ? nKV + r : nKV), 0.125, &rowOut, &rowScratch)
                            }
                        }
                        #expect(Array(want[(r * 70)..<(r * 70 + Self.d)]) == rowOut.map(\.bitPattern))
                        for isa in simdISAs() {
                            let got = Self.block(table(isa), rows: rows, nKV: nKV, causal: causal, k, v, q)
                            #expect(got == want, "\(isaName(isa)) mode \(mode) n_kv \(nKV) rows \(rows) causal \(causal)")
                        }
                    }
                }
            }
        }
    }

    @Test func rowF16AccIsBitIdentical() {
        var rng = Rng(0xF16A)
        for mode in 0..<3 {
            for nKV in [1, 7, 63, 64, 65, 200, 1024] {
                let (k, v, q) = Self.inputs(positions: nKV, rows: 3, mode: mode, &rng)
                func run(_ t: UnsafePointer<sv_kernels>, partial: Bool, row: Int) -> [UInt32] {
                    var out = [Float](repeating: -7, count: 2 + Self.d)
                    var halves = [sv_half](repeating: 0x7E00, count: 2 * Self.d)
                    let f = partial ? t.pointee.attention_row_f16acc_partial! : t.pointee.attention_row_f16acc!
                    k.withUnsafeBufferPointer { kp in
                        v.withUnsafeBufferPointer { vp in
                            f(t, Int64(Self.d), Array(q[(row * 100)...]), kp.baseAddress!, vp.baseAddress!, Int64(Self.kvStride),
                              Int64(nKV), 0.125, &out, &halves)
                        }
                    }
                    return out.map(\.bitPattern)
                }
                for row in 0..<3 {
                    for partial in [false, true] {
                        let want = run(scalar, partial: partial, row: row)
                        for isa in simdISAs() {
                            #expect(run(table(isa), partial: partial, row: row) == want,
                                    "\(isaName(isa)) mode \(mode) n_kv \(nKV) partial \(partial)")
                        }
                    }
                }
            }
        }
    }

    /// F16C's conversions, which the twins use, against the scalar ones on every half and on
    /// floats around every rounding boundary that matters (subnormals, overflow, NaN).
    @Test func f16ConversionsMatchScalar() {
        for isa in simdISAs() {
            let toHalf = fromFloat(table(isa), SV_TYPE_F16)
            var floats = (0...0xFFFF).map { sv_fp16_to_fp32(UInt16($0)) }
            var rng = Rng(0xC0DE)
            floats += (0..<4096).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            floats += [65504, 65519.99, 65520, 1e-8, 2.98e-8, 2.99e-8, -0.0, .infinity, -.infinity, .nan]
            floats += [Float](repeating: 0, count: (16 - floats.count % 16) % 16)
            var got = [sv_half](repeating: 0, count: floats.count)
            floats.withUnsafeBufferPointer { fp in got.withUnsafeMutableBytes { toHalf(fp.baseAddress, $0.baseAddress, Int64(floats.count)) } }
            let want = floats.map { sv_fp32_to_fp16($0) }
            #expect(got == want, "\(isaName(isa))")
        }
    }

    /// The GELU twins look up the same table entry as the scalar kernel for every input: all f16
    /// values, random bit patterns, the ±10 cut-offs and their neighbours, infinities, NaN, and
    /// lengths that leave a tail; in place as well. The table is random so a wrong index shows.
    @Test func geluTableLookupIsBitIdentical() {
        var rng = Rng(0x6E1D)
        let lookup = (0...0xFFFF).map { _ in Float.random(in: -4 ... 4, using: &rng) }
        var xs = (0...0xFFFF).map { sv_fp16_to_fp32(UInt16($0)) }
        xs += (0..<4096).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
        xs += [-10, 10, (-10 as Float).nextUp, (-10 as Float).nextDown, (10 as Float).nextUp, (10 as Float).nextDown,
               9.999, -9.999, 65520, -65520, .infinity, -.infinity, .nan, -.nan, 0, -0.0]
        for isa in simdISAs() {
            guard let gelu = table(isa).pointee.gelu else { continue }
            for n in [xs.count, 37, 16, 9, 1] {
                let x = Array(xs.suffix(n))
                var want = [Float](repeating: 1, count: n), got = want, inPlace = x
                lookup.withUnsafeBufferPointer { t in
                    sv_gelu_f16_table(Int64(n), x, &want, t.baseAddress)
                    gelu(Int64(n), x, &got, t.baseAddress)
                    inPlace.withUnsafeMutableBufferPointer { gelu(Int64(n), $0.baseAddress, $0.baseAddress, t.baseAddress) }
                }
                let wrong = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
                let wrongInPlace = zip(inPlace, want).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(wrong == 0 && wrongInPlace == 0, "\(isaName(isa)) n=\(n): \(wrong) outputs differ, \(wrongInPlace) in place")
            }
        }
    }
}

// MARK: - Register-tiled matrix products

/// A table's gemm must give every output exactly the float its vec_dot gives for that pair
/// (the llama.cpp fixtures depend on it), whatever the tile a pair falls in.
@Suite("gemm twins against vec_dot")
struct GemmTests {
    /// Every table that has a tiled twin for t, with it.
    static func gemmTables(_ t: sv_type) -> [(UnsafePointer<sv_kernels>, sv_gemm_fn)] {
        ([scalar] + simdISAs().map(table)).compactMap { k in sv_kernels_gemm(k, t).map { (k, $0) } }
    }

    static func widths(_ t: sv_type) -> [Int] {
        sv_type_block_elems(t) == 256 ? [256, 768, 1536, 3072] : [32, 64, 96, 160, 576, 768, 1536, 3072]
    }

    /// Activation rows converted with the table's own from_float, as the engine does.
    fileprivate static func activations(_ k: UnsafePointer<sv_kernels>, _ t: sv_type, rows: Int, _ n: Int, _ rng: inout Rng) -> [UInt8] {
        var x = [UInt8]()
        for _ in 0..<rows { x += convert(k, sv_vec_dot_type(t), randomActivations(n, &rng)) }
        return x
    }

    @Test func q8_0HasTiledTwinsOnX86() {
        let names = Self.gemmTables(SV_TYPE_Q8_0).map { String(cString: $0.0.pointee.name) }
        print("KernelsTests: tables with a Q8_0 gemm: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        #if arch(x86_64)
        for isa in simdISAs() { #expect(names.contains(isaName(isa)), "\(isaName(isa)) lacks gemm[q8_0]") }
        #endif
    }

    /// Every tile shape and edge: 1…9 weight rows × 1…9 activation rows, odd y stride.
    @Test(arguments: weightTypes)
    func everyTileShapeIsBitIdentical(_ t: sv_type) {
        var rng = Rng(0x6E33 + UInt64(t.rawValue))
        let xt = sv_vec_dot_type(t)
        for (k, gemm) in Self.gemmTables(t) {
            let vd = vecDot(k, t)
            for n in Self.widths(t) {
                let wb = sv_row_bytes(t, Int64(n)), xb = sv_row_bytes(xt, Int64(n))
                var w = [UInt8]()
                for _ in 0..<9 { w += randomWeights(t, n, &rng) }
                let x = Self.activations(k, t, rows: 9, n, &rng)
                var want = [Float](repeating: 0, count: 81)
                w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in
                    sv_gemm_by_vec_dot(vd, Int64(n), wp.baseAddress, wb, 9, xp.baseAddress, xb, 9, &want, 9)
                } }
                var bad = 0
                for nr in 1...9 {
                    for nc in 1...9 {
                        let ys = nr + 2
                        var y = [Float](repeating: -42, count: nc * ys)
                        w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in
                            gemm(Int64(n), wp.baseAddress, wb, Int64(nr), xp.baseAddress, xb, Int64(nc), &y, Int64(ys))
                        } }
                        for j in 0..<nc {
                            for i in 0..<ys where i < nr ? y[j * ys + i].bitPattern != want[j * 9 + i].bitPattern : y[j * ys + i] != -42 {
                                bad += 1
                                if bad <= 5 {
                                    Issue.record("\(String(cString: k.pointee.name)) \(typeName(t)) n=\(n) \(nr)x\(nc): y[\(j)][\(i)] = \(y[j * ys + i]) vs vec_dot \(i < nr ? want[j * 9 + i] : -42)")
                                }
                            }
                        }
                    }
                }
                #expect(bad == 0)
            }
        }
    }

    /// The model shapes through sv_matmul_rows, with the weight rows split as the thread pool
    /// splits them (multiples of 16) and unevenly: every output equals the table's vec_dot, so
    /// results depend neither on the split nor on the number of activation rows.
    @Test(arguments: [
        (768, 768, 1024), (3072, 768, 1024), (768, 3072, 1024), // SigLIP tile: attention, ffn up, ffn down
        (576, 576, 128), (1536, 576, 128), (576, 1536, 7), (49, 576, 130), // text prefill, odd counts
    ])
    func modelShapesThroughMatmulRows(_ shape: (rows: Int, n: Int, m: Int)) {
        for t in weightTypes where shape.n % Int(sv_type_block_elems(t)) == 0 {
            var rng = Rng(0x5A9E + UInt64(shape.rows * 7 + shape.m))
            let xt = sv_vec_dot_type(t)
            for (k, _) in Self.gemmTables(t) {
                let wb = sv_row_bytes(t, Int64(shape.n)), xb = sv_row_bytes(xt, Int64(shape.n))
                var w = [UInt8]()
                for _ in 0..<shape.rows { w += randomWeights(t, shape.n, &rng) }
                let x = Self.activations(k, t, rows: shape.m, shape.n, &rng)
                var want = [Float](repeating: 0, count: shape.rows * shape.m)
                var got = [Float](repeating: .nan, count: shape.rows * shape.m)
                let splits = [0, 16 * ((shape.rows / 3) / 16), shape.rows / 2 + 5, shape.rows]
                w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in
                    sv_gemm_by_vec_dot(vecDot(k, t), Int64(shape.n), wp.baseAddress, wb, Int64(shape.rows),
                                       xp.baseAddress, xb, Int64(shape.m), &want, Int64(shape.rows))
                    for s in 0..<(splits.count - 1) {
                        sv_matmul_rows(k, t, Int64(shape.n), wp.baseAddress, wb, xp.baseAddress, xb, Int64(shape.m),
                                       &got, Int64(shape.rows), Int64(splits[s]), Int64(splits[s + 1]))
                    }
                } }
                let bad = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(bad == 0, "\(String(cString: k.pointee.name)) \(typeName(t)) \(shape): \(bad) outputs differ from vec_dot")
            }
        }
    }
}

// MARK: - llama.cpp's x86 summation orders

private func dot(_ f: sv_vec_dot_fn, _ n: Int, _ w: [UInt8], _ x: [UInt8]) -> Float {
    w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in f(Int64(n), wp.baseAddress, xp.baseAddress) } }
}

private let x86ISAs: [sv_isa] = simdISAs().filter { [SV_ISA_AVX2, SV_ISA_AVX512, SV_ISA_AVX512_VNNI].contains($0) }

/// Each x86 kernel that follows one of llama.cpp's summation orders returns the same bits as
/// the scalar statement of that order (Kernels/generic/vec_dot_x86_order.c), on random blocks
/// and activations of the model row lengths. These orders are what makes the engine's logits
/// equal llama.cpp's; the fixture tests (WeightTypeTests) check the end result.
@Suite("x86 kernels in llama.cpp's summation orders")
struct X86OrderTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let type: sv_type
        let oracle: sv_vec_dot_fn
        let kernel: @Sendable (UnsafePointer<sv_kernels>) -> sv_vec_dot_fn?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "q4_0 repacked GEMV", type: SV_TYPE_Q4_0, oracle: sv_vec_dot_q4_0_q8_0_chain_generic) { sv_kernels_repack_gemv($0, SV_TYPE_Q4_0) },
        Case(name: "q4_0 repacked GEMM", type: SV_TYPE_Q4_0, oracle: sv_vec_dot_q4_0_q8_0_chain_generic) { sv_kernels_repack_gemm($0, SV_TYPE_Q4_0) },
        Case(name: "q4_K repacked GEMV", type: SV_TYPE_Q4_K, oracle: sv_vec_dot_q4_K_q8_K_chain_generic) { sv_kernels_repack_gemv($0, SV_TYPE_Q4_K) },
        Case(name: "q4_K repacked GEMM", type: SV_TYPE_Q4_K, oracle: sv_vec_dot_q4_K_q8_K_chain64_generic) { sv_kernels_repack_gemm($0, SV_TYPE_Q4_K) },
        Case(name: "q4_K tiled GEMM", type: SV_TYPE_Q4_K, oracle: sv_vec_dot_q4_K_q8_K_tiled_generic) { sv_kernels_tiled($0, SV_TYPE_Q4_K) },
        Case(name: "q5_K tiled GEMM", type: SV_TYPE_Q5_K, oracle: sv_vec_dot_q5_K_q8_K_tiled_generic) { sv_kernels_tiled($0, SV_TYPE_Q5_K) },
        Case(name: "q6_K tiled GEMM", type: SV_TYPE_Q6_K, oracle: sv_vec_dot_q6_K_q8_K_tiled_generic) { sv_kernels_tiled($0, SV_TYPE_Q6_K) },
        Case(name: "q5_K vec_dot", type: SV_TYPE_Q5_K, oracle: sv_vec_dot_q5_K_q8_K_lanes8_generic) { vecDot($0, SV_TYPE_Q5_K) },
        Case(name: "q6_K vec_dot", type: SV_TYPE_Q6_K, oracle: sv_vec_dot_q6_K_q8_K_lanes8_generic) { vecDot($0, SV_TYPE_Q6_K) },
    ]

    @Test(arguments: cases)
    func matchesItsOracleBitForBit(_ c: Case) throws {
        try #require(!x86ISAs.isEmpty, "no x86 SIMD table on this CPU")
        var rng = Rng(0x0DE5 + UInt64(c.type.rawValue))
        let xt = sv_vec_dot_type(c.type)
        for isa in x86ISAs {
            let kernel = try #require(c.kernel(table(isa)), "\(isaName(isa)) has no \(c.name)")
            var compared = 0
            for n in rowLengths(c.type) {
                for _ in 0..<4 {
                    let w = randomWeights(c.type, n, &rng)
                    let x = convert(scalar, xt, randomActivations(n, &rng))
                    let want = dot(c.oracle, n, w, x), got = dot(kernel, n, w, x)
                    #expect(want.bitPattern == got.bitPattern, "\(isaName(isa)) \(c.name) n=\(n): \(got) vs oracle \(want)")
                    compared += 1
                }
            }
            #expect(compared > 0)
        }
    }

    /// ggml_vec_dot_f16/_bf16's AVX-512 orders are the AVX-512 tables' F16/BF16 dots (the AVX2
    /// table keeps ggml's AVX2 order), with every row-length tail.
    @Test(arguments: [SV_TYPE_F16, SV_TYPE_BF16])
    func avx512FloatDotsMatchGGMLOrder(_ t: sv_type) throws {
        let isas = x86ISAs.filter { $0 != SV_ISA_AVX2 }
        try #require(!isas.isEmpty, "no AVX-512 table on this CPU")
        let oracle: sv_vec_dot_fn = t == SV_TYPE_F16 ? sv_vec_dot_f16_f16_lanes64_generic : sv_vec_dot_bf16_bf16_lanes32_generic
        var rng = Rng(0xF16 + UInt64(t.rawValue))
        for isa in isas {
            for n in rowLengths(t) + [64, 256, 768, 100 * 64 + 33] {
                let w = randomWeights(t, n, &rng)
                let x = convert(scalar, t, randomActivations(n, &rng))
                let want = dot(oracle, n, w, x), got = dot(vecDot(table(isa), t), n, w, x)
                #expect(want.bitPattern == got.bitPattern, "\(isaName(isa)) \(typeName(t)) n=\(n): \(got) vs oracle \(want)")
            }
        }
    }

    /// The register-tiled block twins of those orders give each output the bits of the per-row
    /// kernel, at every tile edge (1–6 weight rows × 1–9 activation rows).
    @Test(arguments: [SV_TYPE_Q4_K, SV_TYPE_Q5_K, SV_TYPE_Q6_K])
    func blockTwinsMatchTheirRowKernels(_ t: sv_type) throws {
        try #require(!x86ISAs.isEmpty, "no x86 SIMD table on this CPU")
        var rng = Rng(0xB10C + UInt64(t.rawValue))
        let n = 768, xt = sv_vec_dot_type(t)
        let wb = sv_row_bytes(t, Int64(n)), xb = sv_row_bytes(xt, Int64(n))
        var checked = 0
        for isa in x86ISAs {
            let k = table(isa)
            let pairs: [(String, sv_gemm_fn?, sv_vec_dot_fn?)] = [
                ("repacked GEMM", sv_kernels_repack_gemm_block(k, t), sv_kernels_repack_gemm(k, t)),
                ("tiled GEMM", sv_kernels_tiled_block(k, t), sv_kernels_tiled(k, t)),
            ]
            for (name, block, row) in pairs {
                guard let block, let row else { continue }
                for (nr, nc) in [(1, 1), (1, 4), (2, 3), (3, 5), (5, 9), (6, 8)] {
                    let w = (0..<nr).flatMap { _ in randomWeights(t, n, &rng) }
                    let x = (0..<nc).flatMap { _ in convert(scalar, xt, randomActivations(n, &rng)) }
                    var got = [Float](repeating: .nan, count: nr * nc), want = got
                    w.withUnsafeBytes { wp in
                        x.withUnsafeBytes { xp in
                            block(Int64(n), wp.baseAddress, wb, Int64(nr), xp.baseAddress, xb, Int64(nc), &got, Int64(nr))
                            sv_gemm_by_vec_dot(row, Int64(n), wp.baseAddress, wb, Int64(nr), xp.baseAddress, xb, Int64(nc), &want, Int64(nr))
                        }
                    }
                    #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(isaName(isa)) \(typeName(t)) \(name) \(nr)×\(nc)")
                    checked += 1
                }
            }
        }
        #expect(checked > 0, "no block twin for \(typeName(t))")
    }

    /// The register-tiled F16 product gives every output tinyBLAS's per-output bits, at every
    /// tile edge (1–9 weight rows × 1–13 activation rows).
    @Test func tinyBLASF16BlockMatchesItsOrder() throws {
        let isas = x86ISAs.filter { sv_kernels_for($0).pointee.tinyblas_f16_block != nil }
        try #require(!isas.isEmpty, "no table with the tiled F16 product on this CPU")
        var rng = Rng(0x7B1A5)
        let n = 768, rb = sv_row_bytes(SV_TYPE_F16, Int64(n))
        for isa in isas {
            let block = try #require(table(isa).pointee.tinyblas_f16_block)
            for (nr, nc) in [(1, 1), (4, 6), (5, 7), (9, 13), (3, 2)] {
                let w = (0..<nr).flatMap { _ in randomWeights(SV_TYPE_F16, n, &rng) }
                let x = (0..<nc).flatMap { _ in convert(scalar, SV_TYPE_F16, randomActivations(n, &rng)) }
                var got = [Float](repeating: .nan, count: nr * nc), want = got
                w.withUnsafeBytes { wp in
                    x.withUnsafeBytes { xp in
                        block(Int64(n), wp.baseAddress, rb, Int64(nr), xp.baseAddress, rb, Int64(nc), &got, Int64(nr))
                        sv_gemm_by_vec_dot(sv_vec_dot_f16_f16_tinyblas_generic, Int64(n), wp.baseAddress, rb, Int64(nr),
                                           xp.baseAddress, rb, Int64(nc), &want, Int64(nr))
                    }
                }
                #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(isaName(isa)) \(nr)×\(nc)")
            }
        }
    }

    /// The repacked Q8_0 product (16 weight rows per vector) gives every output the bits of the
    /// x86 tables' Q8_0 vec_dot, which is llama.cpp's; its scalar statement too.
    @Test func repackedQ8_0MatchesVecDot() throws {
        let isas = x86ISAs.filter { sv_kernels_for($0).pointee.gemm_q8_0_r16 != nil }
        try #require(!isas.isEmpty, "no table with the repacked Q8_0 product on this CPU")
        var rng = Rng(0x9816)
        for isa in isas {
            let k = table(isa)
            let gemm = try #require(k.pointee.gemm_q8_0_r16)
            for (rows, n, m) in [(16, 32, 1), (32, 768, 5), (48, 3072, 2), (16, 96, 7)] {
                let wb = sv_row_bytes(SV_TYPE_Q8_0, Int64(n)), xb = wb
                let w = (0..<rows).flatMap { _ in randomWeights(SV_TYPE_Q8_0, n, &rng) }
                let x = (0..<m).flatMap { _ in convert(scalar, SV_TYPE_Q8_0, randomActivations(n, &rng)) }
                var packed = [UInt8](repeating: 0, count: sv_q8_0_r16_bytes(Int64(rows), Int64(n)))
                var sums = [Int32](repeating: 0, count: m * n / 4)
                var fast = [Float](repeating: .nan, count: m * rows), oracle = fast, ref = fast
                w.withUnsafeBytes { wp in
                    x.withUnsafeBytes { xp in
                        sv_repack_q8_0_r16(wp.baseAddress, wb, Int64(rows), Int64(n), &packed)
                        sv_q8_0_quad_sums(xp.baseAddress, xb, Int64(m), Int64(n), &sums)
                        // Two calls over the row groups, as threads split them.
                        gemm(Int64(n), packed, 0, 1, xp.baseAddress, xb, sums, Int64(m), &fast, Int64(rows))
                        gemm(Int64(n), packed, 1, Int64(rows / 16), xp.baseAddress, xb, sums, Int64(m), &fast, Int64(rows))
                        sv_gemm_q8_0_r16_generic(Int64(n), packed, 0, Int64(rows / 16), xp.baseAddress, xb, sums, Int64(m), &oracle, Int64(rows))
                        sv_gemm_by_vec_dot(vecDot(k, SV_TYPE_Q8_0), Int64(n), wp.baseAddress, wb, Int64(rows), xp.baseAddress, xb, Int64(m), &ref, Int64(rows))
                    }
                }
                #expect(fast.map(\.bitPattern) == oracle.map(\.bitPattern), "\(isaName(isa)) \(rows)×\(n), m=\(m): twin vs oracle")
                #expect(oracle.map(\.bitPattern) == ref.map(\.bitPattern), "\(isaName(isa)) \(rows)×\(n), m=\(m): oracle vs vec_dot")
            }
        }
    }

    /// sv_matmul_rows_ggml picks, row by row, the order llama.cpp would: repacked types (weight
    /// rows a multiple of 8) take the GEMM order for the first m − m % 4 activation rows and the
    /// GEMV order for the rest; other K-quants take the tiled order from 8 rows up and the
    /// vec_dot below; F16/BF16 batches take tinyBLAS's order.
    @Test func scheduleFollowsLlamaCpp() throws {
        try #require(!x86ISAs.isEmpty, "no x86 SIMD table on this CPU")
        var rng = Rng(0x5C4ED)
        let n = 512
        for isa in x86ISAs {
            let k = table(isa)
            // (type, weight rows, activation rows, expected order for row j)
            let plans: [(sv_type, Int, Int, (Int) -> sv_vec_dot_fn)] = [
                (SV_TYPE_Q4_K, 16, 7, { $0 < 4 ? sv_vec_dot_q4_K_q8_K_chain64_generic : sv_vec_dot_q4_K_q8_K_chain_generic }),
                (SV_TYPE_Q4_K, 16, 1, { _ in sv_vec_dot_q4_K_q8_K_chain_generic }),
                (SV_TYPE_Q4_0, 8, 9, { _ in sv_vec_dot_q4_0_q8_0_chain_generic }),
                (SV_TYPE_Q4_K, 12, 9, { _ in sv_vec_dot_q4_K_q8_K_tiled_generic }),
                (SV_TYPE_Q4_K, 12, 7, { _ in vecDot(k, SV_TYPE_Q4_K) }),
                (SV_TYPE_Q6_K, 16, 8, { _ in sv_vec_dot_q6_K_q8_K_tiled_generic }),
                (SV_TYPE_Q6_K, 16, 7, { _ in sv_vec_dot_q6_K_q8_K_lanes8_generic }),
                (SV_TYPE_Q5_K, 16, 12, { _ in sv_vec_dot_q5_K_q8_K_tiled_generic }),
            ]
            for (t, rows, m, expected) in plans {
                let xt = sv_vec_dot_type(t)
                let wb = sv_row_bytes(t, Int64(n)), xb = sv_row_bytes(xt, Int64(n))
                let w = (0..<rows).flatMap { _ in randomWeights(t, n, &rng) }
                let x = (0..<m).flatMap { _ in convert(scalar, xt, randomActivations(n, &rng)) }
                var y = [Float](repeating: .nan, count: m * rows)
                w.withUnsafeBytes { wp in
                    x.withUnsafeBytes { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            sv_matmul_rows_ggml(k, t, Int64(n), wp.baseAddress, wb, Int64(rows), xp.baseAddress, xb, Int64(m),
                                                yp.baseAddress, Int64(rows), 0, Int64(rows))
                        }
                    }
                }
                var wrong = 0
                for j in 0..<m {
                    for r in 0..<rows {
                        let want = w.withUnsafeBytes { wp in x.withUnsafeBytes { xp in
                            expected(j)(Int64(n), wp.baseAddress! + r * wb, xp.baseAddress! + j * xb)
                        } }
                        if want.bitPattern != y[j * rows + r].bitPattern { wrong += 1 }
                    }
                }
                #expect(wrong == 0, "\(isaName(isa)) \(typeName(t)) \(rows)×\(n), m=\(m): \(wrong) outputs not in llama.cpp's order")
            }
        }
    }
}

// MARK: - Image resampling

@Suite("Resampling twins against the scalar oracle")
struct ResampleTests {
    /// A random but valid pass: output i reads count[i] ≤ ksize inputs from first[i].
    private static func kernel(inSize: Int, outSize: Int, ksize: Int, _ rng: inout Rng) -> (first: [Int32], count: [Int32], weights: [Int32]) {
        var first = [Int32](), count = [Int32](), weights = [Int32]()
        for _ in 0..<outSize {
            let c = Int.random(in: 1...min(ksize, inSize), using: &rng)
            first.append(Int32(Int.random(in: 0...(inSize - c), using: &rng)))
            count.append(Int32(c))
            weights += (0..<ksize).map { _ in Int32.random(in: -(1 << 21)...(1 << 22), using: &rng) }
        }
        return (first, count, weights)
    }

    /// Every table's passes give the oracle's bytes: up- and downscales, odd sizes, and rows
    /// whose last output reads the image's last pixel (the edge the twins special-case).
    @Test func passesAreByteIdentical() {
        var rng = Rng(0x2E5A)
        for isa in simdISAs() {
            let k = table(isa).pointee
            guard let h = k.resample_h_rgb8, let v = k.resample_v_u8 else { continue }
            for (inW, outW, rows, ksize) in [(7, 19, 3, 7), (1024, 2048, 5, 7), (2048, 512, 4, 25), (33, 5, 2, 15), (1, 4, 2, 3)] {
                let src = (0..<(inW * rows * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                var kk = Self.kernel(inSize: inW, outSize: outW, ksize: ksize, &rng)
                kk.first[outW - 1] = Int32(inW) - kk.count[outW - 1] // the last output reads the last pixel
                var want = [UInt8](repeating: 0, count: outW * rows * 3), got = want
                sv_resample_h_rgb8_generic(src, Int64(inW), Int64(rows), &want, Int64(outW), kk.first, kk.count, kk.weights, Int64(ksize))
                h(src, Int64(inW), Int64(rows), &got, Int64(outW), kk.first, kk.count, kk.weights, Int64(ksize))
                #expect(got == want, "\(isaName(isa)) horizontal \(inW)→\(outW)")
            }
            for (inH, outH, elems, ksize) in [(5, 13, 7, 7), (768, 1536, 96, 7), (1536, 512, 6144, 19), (9, 2, 35, 9)] {
                let src = (0..<(inH * elems)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let kk = Self.kernel(inSize: inH, outSize: outH, ksize: ksize, &rng)
                var want = [UInt8](repeating: 0, count: outH * elems), got = want
                sv_resample_v_u8_generic(src, Int64(elems), &want, 0, Int64(outH), kk.first, kk.count, kk.weights, Int64(ksize))
                // In two row ranges, as the preprocessor splits them across threads.
                v(src, Int64(elems), &got, 0, Int64(outH / 2), kk.first, kk.count, kk.weights, Int64(ksize))
                v(src, Int64(elems), &got, Int64(outH / 2), Int64(outH), kk.first, kk.count, kk.weights, Int64(ksize))
                #expect(got == want, "\(isaName(isa)) vertical \(inH)→\(outH) × \(elems)")
            }
        }
    }
}

// MARK: - Peak loops

@Suite("Register-only peak loops")
struct PeakLoopTests {
    /// Every x86 SIMD table carries the loops `smolvlm bench kernels` divides by: the int8
    /// multiply-add and the f32 FMA its kernels are bound by (and, with VNNI, the mix of llama.cpp's
    /// Q8_0 order), each named, counting the operations it ran and leaving a finite value behind.
    @Test func x86TablesMeasureTheirInstructions() throws {
        try #require(!x86ISAs.isEmpty, "no x86 SIMD table on this CPU")
        for isa in x86ISAs {
            let k = table(isa)
            var kinds = [SV_PEAK_INT8, SV_PEAK_F32]
            if isa == SV_ISA_AVX512_VNNI { kinds.append(SV_PEAK_Q8_0_ORDERED) }
            for kind in kinds {
                let loop = sv_kernels_peak(k, kind), name = sv_kernels_peak_instruction(k, kind)
                let run = try #require(loop, "\(isaName(isa)): no peak loop \(kind.rawValue)")
                #expect(name.map { String(cString: $0).isEmpty } == false, "\(isaName(isa)): loop \(kind.rawValue) unnamed")
                var sink: Float = .nan
                let once = run(1000, &sink), twice = run(2000, &sink)
                #expect(once > 0 && twice == 2 * once, "\(isaName(isa)) loop \(kind.rawValue): \(once) then \(twice) operations")
                #expect(sink.isFinite, "\(isaName(isa)) loop \(kind.rawValue) left \(sink)")
            }
        }
    }
}
