/// An 8-bit RGB image: `width * height` pixels, row-major, 3 bytes (R, G, B) per pixel, as
/// llama.cpp's `clip_image_u8` holds a decoded image before preprocessing.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels (> 0).
    public let width: Int
    /// Height in pixels (> 0).
    public let height: Int
    /// `width * height * 3` bytes: R, G, B of each pixel, rows top to bottom.
    public let pixels: [UInt8]

    /// Wraps pixel data after checking it.
    ///
    /// - Throws: ``ImageError/empty(width:height:)`` when either side is not positive,
    ///   ``ImageError/pixelCountMismatch(expected:found:)`` when `pixels.count` is not
    ///   `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        guard width > 0, height > 0 else { throw .empty(width: width, height: height) }
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (expected, o2) = wh.multipliedReportingOverflow(by: 3)
        guard !o1, !o2, pixels.count == expected else {
            throw .pixelCountMismatch(expected: o1 || o2 ? Int.max : expected, found: pixels.count)
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The R, G, B bytes of the pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) is outside \(width)x\(height)")
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}

/// Why an image could not be read or decoded. Every bad input maps to one of these; none
/// crashes the process.
public enum ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, a directory, no permission, ...).
    case unreadable(path: String, reason: String)
    /// The data is zero bytes long.
    case noData
    /// The data is neither JPEG nor PNG (detected by its first bytes).
    case unsupportedFormat
    /// A JPEG or PNG this decoder does not handle (e.g. an unusual JPEG colour space).
    case unsupportedContent(reason: String)
    /// The data ends before the image does.
    case truncated(reason: String)
    /// The data is malformed: bad marker, checksum, compressed stream, ...
    case corrupt(reason: String)
    /// The image declares a zero width or height.
    case empty(width: Int, height: Int)
    /// The image declares more than `limit` pixels; refused before its pixels are allocated.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// Pixel data handed to ``RGBImage/init(width:height:pixels:)`` has the wrong length.
    case pixelCountMismatch(expected: Int, found: Int)
    /// Memory for the decoded pixels could not be allocated.
    case outOfMemory(reason: String)
    /// A raw pixel buffer's stride or size does not fit the image's size.
    case invalidLayout(reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read image '\(path)': \(reason)"
        case .noData: "the image data is empty (0 bytes)"
        case .unsupportedFormat: "unsupported image format (only JPEG and PNG are supported)"
        case let .unsupportedContent(reason): "unsupported image: \(reason)"
        case let .truncated(reason): "truncated image: \(reason)"
        case let .corrupt(reason): "corrupt image: \(reason)"
        case let .empty(w, h): "the image is empty (\(w)x\(h) pixels)"
        case let .tooLarge(w, h, limit):
            "the image is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit) (ImageDecoder.maxPixels)"
        case let .pixelCountMismatch(expected, found): "expected \(expected) RGB bytes, found \(found)"
        case let .outOfMemory(reason): "out of memory decoding the image: \(reason)"
        case let .invalidLayout(reason): "invalid pixel buffer: \(reason)"
        }
    }
}
