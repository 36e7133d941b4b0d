import Kernels

/// A ggml tensor element type, identified by ggml's numeric id.
///
/// Every id ggml defines is known here (so `inspect` can describe any file), but only the
/// types in ``isComputable`` can be dequantized and multiplied by this engine.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    /// ggml's numeric id for the type (`enum ggml_type`), as stored in a GGUF tensor table.
    public let rawValue: UInt32
    /// ggml's name for the type, e.g. `Q4_K`.
    public let name: String
    /// Elements per block (1 for plain floats and integers).
    public let blockElements: Int
    /// Bytes per block.
    public let blockBytes: Int

    private init(_ rawValue: UInt32, _ name: String, _ blockElements: Int, _ blockBytes: Int) {
        self.rawValue = rawValue
        self.name = name
        self.blockElements = blockElements
        self.blockBytes = blockBytes
    }

    /// The type with ggml id `rawValue`, or nil if ggml defines no such type (or removed it).
    public init?(rawValue: UInt32) {
        guard let known = GGMLType.all.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = known
    }

    /// The type ggml calls `name` (case-insensitive, e.g. `q4_k` or `Q4_K`), or nil if ggml
    /// defines no type of that name.
    public init?(name: String) {
        let upper = name.uppercased()
        guard let known = GGMLType.all.first(where: { $0.name == upper }) else { return nil }
        self = known
    }

    public var description: String { name }

    /// True if this engine dequantizes and computes with the type.
    public var isComputable: Bool { GGMLType.computable.contains(self) }

    /// The kernel library's id for the type (only for computable types).
    package var kernelType: sv_type? { isComputable ? sv_type(rawValue: rawValue) : nil }

    /// Bytes used by `count` elements, or nil if `count` is not a multiple of the block size
    /// or the product overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockElements == 0 else { return nil }
        let (bytes, overflow) = (count / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// 32-bit IEEE float, 4 bytes per element.
    public static let f32 = GGMLType(0, "F32", 1, 4)
    /// 16-bit IEEE half float, 2 bytes per element.
    public static let f16 = GGMLType(1, "F16", 1, 2)
    /// Blocks of 32 weights: an F16 scale `d` and 32 unsigned 4-bit values `q`, weight
    /// `d · (q − 8)`; 18 bytes per block (4.5 bits per weight).
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 18)
    /// Blocks of 32 weights: F16 scale `d` and minimum `m`, 32 unsigned 4-bit values `q`, weight
    /// `d · q + m`; 20 bytes per block (5 bits per weight).
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 20)
    /// Blocks of 32 weights: an F16 scale `d`, the fifth bit of each value packed in 4 bytes and
    /// the low 4 bits in 16 bytes, weight `d · (q − 16)`; 22 bytes per block (5.5 bits per weight).
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22)
    /// Blocks of 32 weights: F16 scale `d` and minimum `m`, 5-bit values split as in ``q5_0``,
    /// weight `d · q + m`; 24 bytes per block (6 bits per weight).
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 24)
    /// Blocks of 32 weights: an F16 scale `d` and 32 signed bytes `q`, weight `d · q`; 34 bytes
    /// per block (8.5 bits per weight). Also the activation format paired with Q4_0, Q5_0 and Q8_0
    /// weights in dot products.
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)
    /// Blocks of 32 values: F16 scale `d`, F16 `s = d · Σq`, and 32 signed bytes; 36 bytes per
    /// block. Not stored in model files: the activation format paired with Q4_1 and Q5_1 weights,
    /// whose minimum term needs the block sum `s`.
    public static let q8_1 = GGMLType(9, "Q8_1", 32, 36)
    /// K-quant super-blocks of 256 weights: 16 sub-blocks of 16 with 4-bit scales and minimums,
    /// 2-bit values; 84 bytes per block (2.625 bits per weight). Readable, not computable here.
    public static let q2_K = GGMLType(10, "Q2_K", 256, 84)
    /// K-quant super-blocks of 256 weights: 16 sub-blocks of 16 with 6-bit scales, 3-bit values;
    /// 110 bytes per block (3.4375 bits per weight). Readable, not computable here.
    public static let q3_K = GGMLType(11, "Q3_K", 256, 110)
    /// K-quant super-blocks of 256 weights: F16 `d` and `dmin`, 8 sub-blocks of 32 with 6-bit
    /// scales and minimums, 4-bit values; 144 bytes per block (4.5 bits per weight).
    public static let q4_K = GGMLType(12, "Q4_K", 256, 144)
    /// K-quant super-blocks of 256 weights laid out as ``q4_K`` plus one high bit per weight;
    /// 176 bytes per block (5.5 bits per weight).
    public static let q5_K = GGMLType(13, "Q5_K", 256, 176)
    /// K-quant super-blocks of 256 weights: 16 sub-blocks of 16 with signed 8-bit scales, 6-bit
    /// values and an F16 `d`; 210 bytes per block (6.5625 bits per weight).
    public static let q6_K = GGMLType(14, "Q6_K", 256, 210)
    /// Super-blocks of 256 values: an F32 scale, 256 signed bytes and 16 sums of 16 values;
    /// 292 bytes per block. Not stored in model files: the activation format paired with K-quant
    /// weights in dot products.
    public static let q8_K = GGMLType(15, "Q8_K", 256, 292)
    /// bfloat16: the upper 16 bits of an F32 (same exponent range, 8-bit mantissa), 2 bytes per
    /// element.
    public static let bf16 = GGMLType(30, "BF16", 1, 2)

    /// Every type ggml defines today, with its block geometry (ggml.c's type_traits).
    public static let all: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K,
        GGMLType(16, "IQ2_XXS", 256, 66), GGMLType(17, "IQ2_XS", 256, 74),
        GGMLType(18, "IQ3_XXS", 256, 98), GGMLType(19, "IQ1_S", 256, 50),
        GGMLType(20, "IQ4_NL", 32, 18), GGMLType(21, "IQ3_S", 256, 110),
        GGMLType(22, "IQ2_S", 256, 82), GGMLType(23, "IQ4_XS", 256, 136),
        GGMLType(24, "I8", 1, 1), GGMLType(25, "I16", 1, 2), GGMLType(26, "I32", 1, 4),
        GGMLType(27, "I64", 1, 8), GGMLType(28, "F64", 1, 8), GGMLType(29, "IQ1_M", 256, 56),
        bf16,
        GGMLType(34, "TQ1_0", 256, 54), GGMLType(35, "TQ2_0", 256, 66),
        GGMLType(39, "MXFP4", 32, 17),
    ]

    /// The types SmolVLM GGUF files use, which the kernels implement.
    public static let computable: Set<GGMLType> = [f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K]
}
