import SmolVLM
import Testing

/// Camera-frame layouts converted to RGB, checked against values worked out independently:
/// hand-built buffers with padding in every stride, odd sizes, and bad layouts refused.
@Suite("Raw pixel buffers")
struct PixelFormatTests {
    /// A 3 × 2 image with distinct colours, as (r, g, b).
    static let colours: [[(UInt8, UInt8, UInt8)]] = [
        [(255, 0, 0), (0, 255, 0), (0, 0, 255)],
        [(10, 20, 30), (200, 100, 50), (1, 2, 3)],
    ]
    static var expectedRGB: [UInt8] { colours.flatMap { $0.flatMap { [$0.0, $0.1, $0.2] } } }

    /// Packs the colours in `order` (indices of r, g, b, alpha in a pixel), with `padding`
    /// garbage bytes after each row.
    static func packed(_ order: (r: Int, g: Int, b: Int, a: Int), padding: Int) -> (bytes: [UInt8], stride: Int) {
        let stride = 3 * 4 + padding
        var bytes = [UInt8](repeating: 0xEE, count: stride * 2)
        for (y, row) in colours.enumerated() {
            for (x, c) in row.enumerated() {
                let p = y * stride + 4 * x
                bytes[p + order.r] = c.0
                bytes[p + order.g] = c.1
                bytes[p + order.b] = c.2
                bytes[p + order.a] = 0x7F
            }
        }
        return (bytes, stride)
    }

    @Test(arguments: [(RGBImage.PackedFormat.bgra, 0), (.bgra, 20), (.rgba, 4), (.argb, 8)])
    func packedPixels(_ format: RGBImage.PackedFormat, _ padding: Int) throws {
        let order: (r: Int, g: Int, b: Int, a: Int) = switch format {
        case .bgra: (2, 1, 0, 3)
        case .rgba: (0, 1, 2, 3)
        case .argb: (1, 2, 3, 0)
        }
        let (bytes, stride) = Self.packed(order, padding: padding)
        let image = try bytes.withUnsafeBytes {
            try RGBImage(packed: $0, width: 3, height: 2, bytesPerRow: stride, format: format)
        }
        #expect(image.width == 3 && image.height == 2)
        #expect(image.pixels == Self.expectedRGB)
    }

    /// BT.601 worked out here in doubles, independently of the implementation's floats.
    static func bt601(_ y: Double, _ cb: Double, _ cr: Double, video: Bool) -> [UInt8] {
        let l = video ? (y - 16) * 255 / 219 : y
        let b = (cb - 128) * (video ? 255 / 224 : 1), r = (cr - 128) * (video ? 255 / 224 : 1)
        func c(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
        return [c(l + 1.402 * r), c(l - 0.344136 * b - 0.714136 * r), c(l + 1.772 * b)]
    }

    /// A 5 × 3 NV12 frame (odd sides: the chroma plane is 3 × 2 samples), strides padded.
    @Test(arguments: [RGBImage.YCbCrRange.full, .video])
    func nv12(_ range: RGBImage.YCbCrRange) throws {
        let width = 5, height = 3, lumaStride = 8, chromaStride = 10
        var luma = [UInt8](repeating: 0xEE, count: lumaStride * height)
        var chroma = [UInt8](repeating: 0xEE, count: chromaStride * 2)
        for y in 0 ..< height { for x in 0 ..< width { luma[y * lumaStride + x] = UInt8(16 + 40 * y + 30 * x) } }
        for y in 0 ..< 2 {
            for x in 0 ..< 3 {
                chroma[y * chromaStride + 2 * x] = UInt8(60 + 50 * x + 20 * y)  // Cb
                chroma[y * chromaStride + 2 * x + 1] = UInt8(200 - 60 * x - 30 * y)  // Cr
            }
        }
        let image = try luma.withUnsafeBytes { l in
            try chroma.withUnsafeBytes { c in
                try RGBImage(nv12: l, lumaBytesPerRow: lumaStride, chroma: c, chromaBytesPerRow: chromaStride,
                             width: width, height: height, range: range)
            }
        }
        var expected: [UInt8] = []
        for y in 0 ..< height {
            for x in 0 ..< width {
                let cb = Double(chroma[(y / 2) * chromaStride + 2 * (x / 2)]), cr = Double(chroma[(y / 2) * chromaStride + 2 * (x / 2) + 1])
                expected += Self.bt601(Double(luma[y * lumaStride + x]), cb, cr, video: range == .video)
            }
        }
        // Float against double arithmetic may round a half differently: at most one level.
        let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "max difference \(worst) levels")
        // Grey stays grey, and full-range white and black are exact.
        let grey = try [UInt8](repeating: 128, count: 4).withUnsafeBytes { l in
            try [UInt8](repeating: 128, count: 2).withUnsafeBytes { c in
                try RGBImage(nv12: l, lumaBytesPerRow: 2, chroma: c, chromaBytesPerRow: 2, width: 2, height: 2, range: .full)
            }
        }
        #expect(grey.pixels == [UInt8](repeating: 128, count: 12))
    }

    @Test func badLayoutsAreTypedErrors() {
        let bytes = [UInt8](repeating: 0, count: 40)
        bytes.withUnsafeBytes { b in
            #expect(throws: ImageError.empty(width: 0, height: 2)) {
                try RGBImage(packed: b, width: 0, height: 2, bytesPerRow: 12, format: .bgra)
            }
            // A stride shorter than a row.
            #expect { try RGBImage(packed: b, width: 3, height: 2, bytesPerRow: 8, format: .bgra) } throws: { e in
                guard case .invalidLayout = e as? ImageError else { return false }
                return true
            }
            // A buffer too short for its rows: 3 rows of 16 bytes need 44.
            #expect { try RGBImage(packed: b, width: 3, height: 3, bytesPerRow: 16, format: .rgba) } throws: { e in
                guard case .invalidLayout = e as? ImageError else { return false }
                return true
            }
            // A chroma plane too short.
            #expect { try RGBImage(nv12: b, lumaBytesPerRow: 4, chroma: UnsafeRawBufferPointer(rebasing: b[0 ..< 3]),
                                   chromaBytesPerRow: 4, width: 4, height: 4, range: .full) } throws: { e in
                guard case .invalidLayout = e as? ImageError else { return false }
                return true
            }
            #expect { try RGBImage(packed: b, width: 1 << 40, height: 1, bytesPerRow: 1 << 42, format: .rgba) } throws: { e in
                guard case .invalidLayout = e as? ImageError else { return false }
                return true
            }
        }
    }
}
