/// Camera frames as apps receive them: 4-byte packed pixels (BGRA from a `CVPixelBuffer` of
/// `kCVPixelFormatType_32BGRA`, RGBA from a `CGImage` bitmap context) or NV12 (the bi-planar
/// 4:2:0 `420f`/`420v` buffers cameras deliver), each row padded to a stride. Plain Swift, so
/// the conversion is the same (and tested) on every platform; the Apple-only initialisers only
/// lock the buffer and call these.
extension RGBImage {
    /// The byte order of a packed 4-byte pixel. The alpha (or padding) byte is dropped, as
    /// stb_image drops it when llama.cpp asks for 3 channels.
    public enum PackedFormat: Sendable, Equatable {
        /// B, G, R, A: `kCVPixelFormatType_32BGRA`, the camera's usual format.
        case bgra
        /// R, G, B, A: `CGImage` bitmaps with premultiplied-last or no-skip-last alpha.
        case rgba
        /// A, R, G, B: `kCVPixelFormatType_32ARGB`.
        case argb

        /// Offsets of R, G and B within a pixel.
        var offsets: (r: Int, g: Int, b: Int) {
            switch self {
            case .bgra: (2, 1, 0)
            case .rgba: (0, 1, 2)
            case .argb: (1, 2, 3)
            }
        }
    }

    /// How luma and chroma bytes map to colour (ITU-R BT.601, the matrix of SD and of most
    /// phone cameras' YCbCr).
    public enum YCbCrRange: Sendable, Equatable {
        /// Luma and chroma use 0...255 (`420f`, kCVPixelFormatType_420YpCbCr8BiPlanarFullRange).
        case full
        /// Luma 16...235, chroma 16...240 (`420v`, kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange).
        case video
    }

    /// Converts packed 4-byte pixels.
    ///
    /// - Parameters:
    ///   - bytes: the first row's first byte onward; at least `bytesPerRow · (height − 1) + 4 · width` bytes.
    ///   - width: pixels per row (> 0).
    ///   - height: rows (> 0).
    ///   - bytesPerRow: the stride from one row to the next (≥ 4 · `width`).
    ///   - format: the byte order of a pixel.
    /// - Throws: ``ImageError/empty(width:height:)`` for a side that is not positive,
    ///   ``ImageError/invalidLayout(reason:)`` for a stride or buffer too small for the size.
    public init(packed bytes: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerRow: Int, format: PackedFormat) throws(ImageError) {
        guard width > 0, height > 0 else { throw .empty(width: width, height: height) }
        try Self.checkSize(width, height)
        try Self.checkPlane("packed pixels", bytes.count, rowBytes: width * 4, bytesPerRow: bytesPerRow, rows: height)
        let (ro, go, bo) = format.offsets
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgb.withUnsafeMutableBufferPointer { out in
            for y in 0 ..< height {
                let row = y * bytesPerRow
                for x in 0 ..< width {
                    let p = row + 4 * x, o = (y * width + x) * 3
                    out[o] = bytes[p + ro]
                    out[o + 1] = bytes[p + go]
                    out[o + 2] = bytes[p + bo]
                }
            }
        }
        try self.init(width: width, height: height, pixels: rgb)
    }

    /// Converts an NV12 frame: a luma plane of `width × height` bytes and an interleaved
    /// Cb, Cr plane at half resolution (rounded up), each with its own stride. Each chroma
    /// sample covers a 2 × 2 block of pixels (nearest sample, as Core Image's default does).
    ///
    /// - Parameters:
    ///   - luma: the Y plane from its first byte.
    ///   - lumaBytesPerRow: the Y plane's stride (≥ `width`).
    ///   - chroma: the CbCr plane from its first byte.
    ///   - chromaBytesPerRow: the CbCr plane's stride (≥ 2 · ⌈`width` / 2⌉).
    ///   - width: pixels per row (> 0).
    ///   - height: rows (> 0).
    ///   - range: full (`420f`) or video (`420v`) range.
    /// - Throws: ``ImageError/empty(width:height:)``, ``ImageError/invalidLayout(reason:)`` for
    ///   a stride or plane too small for the size.
    public init(nv12 luma: UnsafeRawBufferPointer, lumaBytesPerRow: Int, chroma: UnsafeRawBufferPointer, chromaBytesPerRow: Int,
                width: Int, height: Int, range: YCbCrRange) throws(ImageError) {
        guard width > 0, height > 0 else { throw .empty(width: width, height: height) }
        try Self.checkSize(width, height)
        let chromaWidth = (width + 1) / 2, chromaHeight = (height + 1) / 2
        try Self.checkPlane("luma plane", luma.count, rowBytes: width, bytesPerRow: lumaBytesPerRow, rows: height)
        try Self.checkPlane("chroma plane", chroma.count, rowBytes: 2 * chromaWidth, bytesPerRow: chromaBytesPerRow, rows: chromaHeight)
        // BT.601: R = Y + 1.402 Cr, G = Y − 0.344136 Cb − 0.714136 Cr, B = Y + 1.772 Cb (Cb, Cr
        // centred on 0); video range first stretches Y from 16...235 and Cb, Cr from 16...240.
        let (yScale, yOffset, cScale): (Float, Float, Float) = switch range {
        case .full: (1, 0, 1)
        case .video: (255 / 219, 16, 255 / 224)
        }
        func clamp(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgb.withUnsafeMutableBufferPointer { out in
            for y in 0 ..< height {
                let lumaRow = y * lumaBytesPerRow, chromaRow = (y / 2) * chromaBytesPerRow
                for x in 0 ..< width {
                    let l = (Float(luma[lumaRow + x]) - yOffset) * yScale
                    let cb = (Float(chroma[chromaRow + 2 * (x / 2)]) - 128) * cScale
                    let cr = (Float(chroma[chromaRow + 2 * (x / 2) + 1]) - 128) * cScale
                    let o = (y * width + x) * 3
                    out[o] = clamp(l + 1.402 * cr)
                    out[o + 1] = clamp(l - 0.344136 * cb - 0.714136 * cr)
                    out[o + 2] = clamp(l + 1.772 * cb)
                }
            }
        }
        try self.init(width: width, height: height, pixels: rgb)
    }

    /// Sides past 2^28 pixels are no camera's (and would overflow the byte counts).
    private static func checkSize(_ width: Int, _ height: Int) throws(ImageError) {
        guard width < 1 << 28, height < 1 << 28 else {
            throw .invalidLayout(reason: "\(width)x\(height) pixels is larger than any camera frame")
        }
    }

    /// Checks that a plane of `rows` rows of `rowBytes` bytes, `bytesPerRow` apart, fits in `count` bytes.
    private static func checkPlane(_ what: String, _ count: Int, rowBytes: Int, bytesPerRow: Int, rows: Int) throws(ImageError) {
        guard bytesPerRow >= rowBytes else {
            throw .invalidLayout(reason: "\(what): \(bytesPerRow) bytes per row, fewer than the \(rowBytes) one row needs")
        }
        let (span, o1) = bytesPerRow.multipliedReportingOverflow(by: rows - 1)
        let (needed, o2) = span.addingReportingOverflow(rowBytes)
        guard !o1, !o2, count >= needed else {
            throw .invalidLayout(reason: "\(what): \(count) bytes, fewer than the \(o1 || o2 ? Int.max : needed) its size and stride need")
        }
    }
}
