// Apple platforms: image files through ImageIO, camera frames from CGImage and CVPixelBuffer.
// The iOS SDK has neither libjpeg nor libpng, and on macOS they would be Homebrew dylibs an app
// cannot ship, so there the C shim is not built (Package.swift) and this file takes its place.
// Everything that can be plain Swift (pixel layouts, strides, YCbCr) lives in PixelFormats.swift
// and is tested on Linux; this file only hands buffers to it. It is not compiled on the Linux
// machines this project is built on.
//
// ImageIO is not stb_image: its JPEG IDCT and chroma upsampling differ (libjpeg's own decoder
// differed from stb_image by at most 4 levels per channel before the stb-compatible shim), and it
// applies a PNG's embedded colour profile, which stb_image ignores. Answers stay the same kind of
// answer; logits are then not bit-identical to llama.cpp's for the same file.
#if !canImport(CImageShim) && canImport(ImageIO)
import CoreGraphics
import Foundation
import ImageIO
#if canImport(CoreVideo)
import CoreVideo
#endif

extension ImageDecoder {
    /// Decodes with ImageIO, after checking the header's size against `maxPixels`.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, format: Format, maxPixels: Int) -> Result<RGBImage, ImageError> {
        let name = format == .jpeg ? "JPEG" : "PNG"
        guard let source = CGImageSourceCreateWithData(Data(buffer: bytes) as CFData, nil),
              let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [CFString: Any] else {
            return .failure(.corrupt(reason: "\(name): ImageIO cannot read the data"))
        }
        let width = (properties[kCGImagePropertyPixelWidth] as? Int) ?? 0
        let height = (properties[kCGImagePropertyPixelHeight] as? Int) ?? 0
        guard width > 0, height > 0 else { return .failure(.empty(width: width, height: height)) }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else { return .failure(.tooLarge(width: width, height: height, limit: maxPixels)) }
        guard let image = CGImageSourceCreateImageAtIndex(source, 0, [kCGImageSourceShouldCacheImmediately: true] as CFDictionary) else {
            return .failure(.corrupt(reason: "\(name): ImageIO cannot decode the image"))
        }
        return Result { () throws(ImageError) in try RGBImage(cgImage: image) }
    }
}

extension RGBImage {
    /// The pixels of a `CGImage`, drawn into an sRGB bitmap (alpha dropped).
    ///
    /// - Throws: ``ImageError/empty(width:height:)``, ``ImageError/outOfMemory(reason:)`` when
    ///   no bitmap context can be made.
    public init(cgImage: CGImage) throws(ImageError) {
        let width = cgImage.width, height = cgImage.height
        guard width > 0, height > 0 else { throw .empty(width: width, height: height) }
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let drawn = rgba.withUnsafeMutableBytes { buffer -> Bool in
            guard let space = CGColorSpace(name: CGColorSpace.sRGB),
                  let context = CGContext(data: buffer.baseAddress, width: width, height: height, bitsPerComponent: 8,
                                          bytesPerRow: width * 4, space: space,
                                          bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else { return false }
            context.draw(cgImage, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else { throw .outOfMemory(reason: "no \(width)x\(height) bitmap context") }
        self = try Self.fromPacked(rgba, width: width, height: height, bytesPerRow: width * 4, format: .rgba)
    }

    #if canImport(CoreVideo)
    /// The pixels of a camera frame: `kCVPixelFormatType_32BGRA`, `32ARGB`, or bi-planar 4:2:0
    /// (`420f` full range, `420v` video range).
    ///
    /// - Throws: ``ImageError/unsupportedContent(reason:)`` for other pixel formats, and the
    ///   errors of the raw-buffer initialisers.
    public init(pixelBuffer: CVPixelBuffer) throws(ImageError) {
        CVPixelBufferLockBaseAddress(pixelBuffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixelBuffer, .readOnly) }
        let width = CVPixelBufferGetWidth(pixelBuffer), height = CVPixelBufferGetHeight(pixelBuffer)
        let format = CVPixelBufferGetPixelFormatType(pixelBuffer)
        func plane(_ i: Int) -> (UnsafeRawBufferPointer, Int)? {
            guard let base = CVPixelBufferGetBaseAddressOfPlane(pixelBuffer, i) else { return nil }
            let stride = CVPixelBufferGetBytesPerRowOfPlane(pixelBuffer, i)
            return (UnsafeRawBufferPointer(start: base, count: stride * CVPixelBufferGetHeightOfPlane(pixelBuffer, i)), stride)
        }
        switch format {
        case kCVPixelFormatType_32BGRA, kCVPixelFormatType_32ARGB:
            guard let base = CVPixelBufferGetBaseAddress(pixelBuffer) else { throw .invalidLayout(reason: "the pixel buffer has no memory") }
            let stride = CVPixelBufferGetBytesPerRow(pixelBuffer)
            self = try RGBImage(packed: UnsafeRawBufferPointer(start: base, count: stride * height), width: width, height: height,
                                bytesPerRow: stride, format: format == kCVPixelFormatType_32BGRA ? .bgra : .argb)
        case kCVPixelFormatType_420YpCbCr8BiPlanarFullRange, kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange:
            guard let (luma, lumaStride) = plane(0), let (chroma, chromaStride) = plane(1) else {
                throw .invalidLayout(reason: "the pixel buffer has no planes")
            }
            self = try RGBImage(nv12: luma, lumaBytesPerRow: lumaStride, chroma: chroma, chromaBytesPerRow: chromaStride,
                                width: width, height: height,
                                range: format == kCVPixelFormatType_420YpCbCr8BiPlanarFullRange ? .full : .video)
        default:
            throw .unsupportedContent(reason: "pixel format \(format) (BGRA, ARGB, 420f and 420v are supported)")
        }
    }
    #endif

    private static func fromPacked(_ bytes: [UInt8], width: Int, height: Int, bytesPerRow: Int,
                                   format: PackedFormat) throws(ImageError) -> RGBImage {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ImageError) in try RGBImage(packed: raw, width: width, height: height, bytesPerRow: bytesPerRow, format: format) }
        }
        return try result.get()
    }
}
#endif
