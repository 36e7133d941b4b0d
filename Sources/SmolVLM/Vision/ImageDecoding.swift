#if canImport(CImageShim)
import CImageShim
#endif
import Foundation

/// Decodes JPEG and PNG files into ``RGBImage``s. Except on Apple platforms, byte-identical to llama.cpp's loader
/// (stb_image asked for 3 channels, as built on x86-64): grayscale is replicated, alpha is
/// dropped (not composited), 16-bit PNG samples keep their high byte. For JPEG, libjpeg(-turbo)
/// only parses the file and entropy-decodes it; dequantisation, IDCT, chroma upsampling and
/// colour conversion (YCbCr, RGB, CMYK and YCCK, decided as stb decides) reproduce stb_image's
/// integer arithmetic, including its SSE2 IDCT, on every CPU.
///
/// Unlike stb_image, truncated or corrupt data is an error rather than a partly grey image, and
/// sampling factors that are not whole ratios of the largest are ``ImageError/unsupportedContent(reason:)``.
///
/// On Apple platforms (no libjpeg or libpng in the SDK) ImageIO decodes instead: not
/// byte-identical to stb_image (JPEG IDCT and upsampling differ by a few levels; embedded PNG
/// colour profiles are applied), so logits there are not bit-identical to llama.cpp's.
public struct ImageDecoder: Sendable {
    /// The largest image accepted, in pixels (`width * height`). The header is checked against
    /// it before any pixel memory is allocated. Default: 64 Mi pixels (192 MiB of RGB).
    public var maxPixels: Int = 64 * 1024 * 1024

    /// A decoder with the default ``maxPixels``.
    public init() {}

    /// A decoder refusing images of more than `maxPixels` pixels.
    public init(maxPixels: Int) {
        self.maxPixels = max(0, maxPixels)
    }

    /// The formats recognised by their first bytes.
    public enum Format: Sendable, Equatable {
        /// `jpeg`: starts with `FF D8 FF`; `png`: starts with the 8-byte PNG signature.
        case jpeg, png

        /// The format of `data` judged by its signature, or nil.
        public init?(sniffing data: some Collection<UInt8>) {
            let head = Array(data.prefix(8))
            if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF {
                self = .jpeg
            } else if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
                self = .png
            } else {
                return nil
            }
        }
    }

    /// Reads and decodes the image file at `path`.
    ///
    /// - Throws: ``ImageError/unreadable(path:reason:)`` if the file cannot be read, otherwise
    ///   whatever ``decode(data:)`` throws.
    public func decode(path: String) throws(ImageError) -> RGBImage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .unreadable(path: path, reason: "is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        return try decode(data: data)
    }

    /// Decodes JPEG or PNG bytes, telling the format by its signature.
    ///
    /// - Throws: ``ImageError/noData`` for zero bytes, ``ImageError/unsupportedFormat`` for
    ///   anything but JPEG/PNG, ``ImageError/tooLarge(width:height:limit:)`` over
    ///   ``maxPixels``, and ``ImageError/truncated(reason:)``, ``ImageError/corrupt(reason:)``,
    ///   ``ImageError/empty(width:height:)``, ``ImageError/unsupportedContent(reason:)`` or
    ///   ``ImageError/outOfMemory(reason:)`` from the decoder.
    public func decode(data: some Collection<UInt8>) throws(ImageError) -> RGBImage {
        guard !data.isEmpty else { throw .noData }
        guard let format = Format(sniffing: data) else { throw .unsupportedFormat }
        let result: Result<RGBImage, ImageError>? = data.withContiguousStorageIfAvailable { bytes in
            Self.decode(bytes, format: format, maxPixels: maxPixels)
        }
        if let result { return try result.get() }
        return try Array(data).withUnsafeBufferPointer { bytes in
            Self.decode(bytes, format: format, maxPixels: maxPixels)
        }.get()
    }

    #if canImport(CImageShim)
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, format: Format, maxPixels: Int) -> Result<RGBImage, ImageError> {
        var rgb: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 512)
        let status = message.withUnsafeMutableBufferPointer { err -> Int32 in
            switch format {
            case .jpeg:
                smol_decode_jpeg(bytes.baseAddress, bytes.count, max(0, maxPixels), &rgb, &width, &height, err.baseAddress, err.count)
            case .png:
                smol_decode_png(bytes.baseAddress, bytes.count, max(0, maxPixels), &rgb, &width, &height, err.baseAddress, err.count)
            }
        }
        defer { smol_image_free(rgb) }
        let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let name = format == .jpeg ? "JPEG" : "PNG"
        let w = Int(width), h = Int(height)
        switch Int(status) {
        case Int(SMOL_IMAGE_OK):
            guard let rgb, w > 0, h > 0 else { return .failure(.corrupt(reason: "\(name): decoder returned no pixels")) }
            let pixels = Array(UnsafeBufferPointer(start: rgb, count: w * h * 3))
            return Result { () throws(ImageError) in try RGBImage(width: w, height: h, pixels: pixels) }
        case Int(SMOL_IMAGE_TOO_LARGE): return .failure(.tooLarge(width: w, height: h, limit: maxPixels))
        case Int(SMOL_IMAGE_EMPTY): return .failure(.empty(width: w, height: h))
        case Int(SMOL_IMAGE_TRUNCATED): return .failure(.truncated(reason: "\(name): \(reason)"))
        case Int(SMOL_IMAGE_UNSUPPORTED): return .failure(.unsupportedContent(reason: "\(name): \(reason)"))
        case Int(SMOL_IMAGE_NO_MEMORY): return .failure(.outOfMemory(reason: "\(name): \(reason)"))
        default: return .failure(.corrupt(reason: "\(name): \(reason)"))
        }
    }
    #endif
}
