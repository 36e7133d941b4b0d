// libFuzzer target: image input through the public API. The first byte picks the path:
// JPEG/PNG decoding, a packed BGRA/RGBA/ARGB buffer, or an NV12 frame, the layout (sizes and
// row strides, negative ones included) read from the next bytes and the pixels from the rest.
// Any input must end in a typed error or an image of width × height × 3 bytes.
import FuzzSupport
import SmolVLM

/// Reads little-endian fields off the front of the input.
private struct Fields {
    var bytes: UnsafeRawBufferPointer
    mutating func int16() -> Int {
        guard bytes.count >= 2 else { return 0 }
        defer { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst(2)) }
        return Int(Int16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8))
    }
    mutating func byte() -> UInt8 {
        guard let b = bytes.first else { return 0 }
        bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        return b
    }
}

private func check(_ image: RGBImage) {
    require(image.width > 0 && image.height > 0, "empty image accepted")
    require(image.pixels.count == image.width * image.height * 3, "pixel count does not match the size")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Fields(bytes: UnsafeRawBufferPointer(start: data, count: size))
    switch input.byte() % 4 {
    case 0, 1:
        // Files: the cap keeps one input's allocation bounded as a server's --max-image-pixels does.
        if let image = attempt({ try ImageDecoder(maxPixels: 1 << 22).decode(data: input.bytes) }) { check(image) }
    case 2:
        let format: RGBImage.PackedFormat = [.bgra, .rgba, .argb][Int(input.byte() % 3)]
        let width = input.int16(), height = input.int16(), stride = input.int16()
        if let image = attempt({ try RGBImage(packed: input.bytes, width: width, height: height, bytesPerRow: stride, format: format) }) {
            check(image)
        }
    default:
        let range: RGBImage.YCbCrRange = input.byte() & 1 == 0 ? .full : .video
        let width = input.int16(), height = input.int16()
        let lumaStride = input.int16(), chromaStride = input.int16()
        let split = min(max(0, input.int16()), input.bytes.count)
        let luma = UnsafeRawBufferPointer(rebasing: input.bytes[..<split])
        let chroma = UnsafeRawBufferPointer(rebasing: input.bytes[split...])
        if let image = attempt({ try RGBImage(nv12: luma, lumaBytesPerRow: lumaStride, chroma: chroma, chromaBytesPerRow: chromaStride,
                                     width: width, height: height, range: range) }) {
            check(image)
        }
    }
    return 0
}
