import Foundation
import ReferenceFixtures
import SmolVLM
import Testing

// Image decoding against llama.cpp's (stb_image, 3 channels) as recorded in the
// vision-preprocess-* fixtures and the jpeg-variants fixture (byte-exact, by SHA-256), plus
// hostile input: every bad file is a typed error, never a crash, and oversized headers are
// refused before their pixels are allocated.

fileprivate enum Images {
    static let directory = ReferenceFixture.root.appendingPathComponent("images")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    static func bytes(_ name: String) -> [UInt8] { (try? [UInt8](Data(contentsOf: url(name)))) ?? [] }
    static var all: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".png") || $0.hasSuffix(".jpg") }.sorted()
    }

    /// The fixtures' RGB checksum: s1 = Σ u, s2 = Σ (i+1)·u over the bytes, both mod 2^64.
    static func checksum(_ bytes: [UInt8]) -> (sum: UInt64, weighted: UInt64) {
        var s1: UInt64 = 0, s2: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            s1 &+= UInt64(b)
            s2 &+= UInt64(i + 1) &* UInt64(b)
        }
        return (s1, s2)
    }
}

/// JPEG variants (sampling factors, progressive, restart intervals, odd sizes, grey, RGB,
/// CMYK, YCCK, extreme coefficients) with the SHA-256 of stb_image's RGB, written by
/// Tests/Reference/check_jpeg_decode.py.
fileprivate enum JPEGVariants {
    static let directory = ReferenceFixture.root.appendingPathComponent("jpeg-variants")
    static func bytes(_ name: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))) ?? []
    }
    static var all: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".jpg") }.sorted()
    }
}

/// SHA-256 of decoded pixels, for byte-exact comparisons with the fixtures' checksums (the
/// engine's own implementation; its known-answer tests are in DownloadTests).
fileprivate func sha256Hex(_ message: [UInt8]) -> String {
    SHA256.hash(message).map { String(format: "%02x", $0) }.joined()
}

/// PNG files built by hand: chunks with correct CRCs around a zlib stream of stored blocks.
enum PNGBuilder {
    static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func ihdr(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8) -> [UInt8] {
        chunk("IHDR", be32(width) + be32(height) + [bitDepth, colorType, 0, 0, 0])
    }

    /// zlib stream of stored (uncompressed) deflate blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var blocks = stride(from: 0, to: data.count, by: 65535).map { data[$0 ..< min($0 + 65535, data.count)] }
        if blocks.isEmpty { blocks = [[]] }
        for (i, block) in blocks.enumerated() {
            let n = UInt16(block.count)
            out += [i == blocks.count - 1 ? 1 : 0, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)]
            out += block
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for x in data { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return out + be32(b << 16 | a)
    }

    /// An 8-bit grayscale PNG of `rows`.
    static func gray(width: Int, height: Int, rows: [[UInt8]]) -> [UInt8] {
        png(width: UInt32(width), height: UInt32(height), bitDepth: 8, colorType: 0, rows: rows)
    }

    /// A PNG of the given unfiltered scanlines (filter byte 0 is prepended to each row).
    static func png(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8,
                    rows: [[UInt8]], extra: [[UInt8]] = []) -> [UInt8] {
        let raw: [UInt8] = rows.flatMap { [UInt8(0)] + $0 }
        return signature + ihdr(width: width, height: height, bitDepth: bitDepth, colorType: colorType)
            + extra.flatMap { $0 } + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }
}

/// A JPEG fixture with its SOF's height and width replaced.
fileprivate func jpegWithSize(_ bytes: [UInt8], width: UInt16, height: UInt16) -> [UInt8] {
    var b = bytes
    var i = 2
    while i + 9 < b.count {
        guard b[i] == 0xFF else { i += 1; continue }
        let marker = b[i + 1]
        if (0xC0 ... 0xCF).contains(marker), marker != 0xC4, marker != 0xC8, marker != 0xCC {
            b[i + 5] = UInt8(height >> 8); b[i + 6] = UInt8(height & 0xFF)
            b[i + 7] = UInt8(width >> 8); b[i + 8] = UInt8(width & 0xFF)
            return b
        }
        i += 2 + Int(b[i + 2]) << 8 + Int(b[i + 3])
    }
    Issue.record("no SOF marker found")
    return b
}

/// Decodes and returns the error (nil if it decoded).
fileprivate func decodeError(_ data: [UInt8], _ decoder: ImageDecoder = ImageDecoder()) -> ImageError? {
    do {
        _ = try decoder.decode(data: data)
        return nil
    } catch {
        return error
    }
}

@Suite("Image decoding")
struct ImageDecodingTests {
    // MARK: Against llama.cpp

    @Test("every fixture image decodes as llama.cpp's stb_image does", arguments: Images.all)
    func matchesLlamaCpp(name: String) throws {
        let stem = (name as NSString).deletingPathExtension
        let fixture = try ReferenceFixture("vision-preprocess-\(stem)")
        let image = try ImageDecoder().decode(path: Images.url(name).path)
        let decoded = try #require(fixture["decoded"])
        #expect(image.width == decoded["width"]?.int)
        #expect(image.height == decoded["height"]?.int)
        #expect(image.pixels.count == decoded["rgb_checksum"]?["count"]?.int)

        // Strided sample of the reference bytes: pixels 0, s, 2s, ... as [k, 3].
        let stride = try #require(fixture["rgb_sample_pixel_stride"]?.int)
        let sample = try fixture.ints("rgb_sample")
        var maxDelta = 0, sumDelta = 0
        for k in 0 ..< sample.rows {
            for c in 0 ..< 3 {
                let d = abs(Int(image.pixels[k * stride * 3 + c]) - sample.values[k * 3 + c])
                maxDelta = max(maxDelta, d)
                sumDelta += d
            }
        }
        let (s1, s2) = Images.checksum(image.pixels)
        let exact = String(s1) == decoded["rgb_checksum"]?["sum"]?.string
            && String(s2) == decoded["rgb_checksum"]?["weighted_sum"]?.string
        print("image \(name): \(image.width)x\(image.height), max |Δ| vs llama.cpp = \(maxDelta) "
            + "(mean \(String(format: "%.3f", Double(sumDelta) / Double(sample.values.count))) over \(sample.values.count) sampled bytes), "
            + "checksum \(exact ? "identical" : "differs")")
        // Both formats are byte-identical to stb_image's: JPEG because the shim rebuilds the
        // pixels from libjpeg's coefficients with stb's own arithmetic.
        #expect(maxDelta == 0)
        #expect(exact, "decode must be byte-identical to stb_image's")
        #expect(sha256Hex(image.pixels) == decoded["rgb_checksum"]?["sha256"]?.string)
    }

    @Test("JPEG variants decode byte-identical to llama.cpp's stb_image", arguments: JPEGVariants.all)
    func jpegVariantMatchesStb(file: String) throws {
        let fixture = try ReferenceFixture("jpeg-variants")
        let entry = try #require(fixture["images"]?.array?.first { $0["file"]?.string == file },
                                 "\(file) is not in the manifest")
        let image = try ImageDecoder().decode(path: JPEGVariants.directory.appendingPathComponent(file).path)
        #expect(image.width == entry["width"]?.int && image.height == entry["height"]?.int)
        #expect(sha256Hex(image.pixels) == entry["rgb_sha256"]?.string, "\(file) differs from stb_image")
    }

    @Test("decode(path:) and decode(data:) agree; non-contiguous collections work")
    func pathAndData() throws {
        let bytes = Images.bytes("chelsea-300x200.png")
        let a = try ImageDecoder().decode(path: Images.url("chelsea-300x200.png").path)
        let b = try ImageDecoder().decode(data: bytes)
        let c = try ImageDecoder().decode(data: bytes.lazy.map { $0 })  // not contiguous
        #expect(a == b && b == c)
        #expect(a[0, 0] == (a.pixels[0], a.pixels[1], a.pixels[2]))
    }

    // MARK: PNG conversions stb_image makes (hand-made files)

    @Test("PNG: 16-bit keeps the high byte, alpha and tRNS dropped, grey replicated, palettes and 1-bit expanded")
    func pngConversions() throws {
        let dec = ImageDecoder()
        // 16-bit RGBA, 2x1: v >> 8, alpha dropped without compositing.
        let rgba16 = PNGBuilder.png(width: 2, height: 1, bitDepth: 16, colorType: 6,
                                    rows: [[0x12, 0xFF, 0xAB, 0x01, 0x00, 0x80, 0x00, 0x00,
                                            0xFF, 0xFF, 0x7F, 0xFF, 0x01, 0x00, 0x80, 0x00]])
        #expect(try dec.decode(data: rgba16).pixels == [0x12, 0xAB, 0x00, 0xFF, 0x7F, 0x01])
        // 8-bit grey + alpha.
        let ga8 = PNGBuilder.png(width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [[10, 0, 200, 128]])
        #expect(try dec.decode(data: ga8).pixels == [10, 10, 10, 200, 200, 200])
        // 16-bit grey.
        let g16 = PNGBuilder.png(width: 1, height: 2, bitDepth: 16, colorType: 0, rows: [[0xC3, 0xFF], [0x00, 0xFF]])
        #expect(try dec.decode(data: g16).pixels == [0xC3, 0xC3, 0xC3, 0, 0, 0])
        // 1-bit grey: 0 -> 0, 1 -> 255.
        let g1 = PNGBuilder.png(width: 3, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0000]])
        #expect(try dec.decode(data: g1).pixels == [255, 255, 255, 0, 0, 0, 255, 255, 255])
        // 4-bit grey: v * 17.
        let g4 = PNGBuilder.png(width: 2, height: 1, bitDepth: 4, colorType: 0, rows: [[0x3F]])
        #expect(try dec.decode(data: g4).pixels == [51, 51, 51, 255, 255, 255])
        // Palette with tRNS: colours as they are, transparency ignored.
        let pal = PNGBuilder.png(width: 2, height: 1, bitDepth: 8, colorType: 3, rows: [[1, 0]],
                                 extra: [PNGBuilder.chunk("PLTE", [1, 2, 3, 200, 100, 50]), PNGBuilder.chunk("tRNS", [0, 0])])
        #expect(try dec.decode(data: pal).pixels == [200, 100, 50, 1, 2, 3])
        // RGB with tRNS and a gAMA chunk: neither changes the pixels.
        let rgb = PNGBuilder.png(width: 1, height: 1, bitDepth: 8, colorType: 2, rows: [[9, 8, 7]],
                                 extra: [PNGBuilder.chunk("gAMA", PNGBuilder.be32(100_000)), PNGBuilder.chunk("tRNS", [0, 9, 0, 8, 0, 7])])
        #expect(try dec.decode(data: rgb).pixels == [9, 8, 7])
    }

    // MARK: Bad input

    @Test("truncated PNG and JPEG at several offsets are .truncated")
    func truncated() throws {
        for name in ["chelsea-300x200.png", "coffee-rgba-300x200.png", "camera-gray-640x480.png"] {
            let bytes = Images.bytes(name)
            for cut in [8, 20, 33, 60, bytes.count / 3, bytes.count / 2, bytes.count - 20, bytes.count - 1] {
                let err = decodeError(Array(bytes[..<cut]))
                guard case .truncated = err else {
                    Issue.record("\(name) cut at \(cut): expected .truncated, got \(String(describing: err))")
                    continue
                }
            }
        }
        for name in ["coffee-640x480.jpg", "rocket-400x1500.jpg", "astronaut-512x512.jpg"] {
            let bytes = Images.bytes(name)
            for cut in [3, 4, 10, 100, 300, 600, bytes.count / 4, bytes.count / 2, bytes.count * 9 / 10] {
                let err = decodeError(Array(bytes[..<cut]))
                guard case .truncated = err else {
                    Issue.record("\(name) cut at \(cut): expected .truncated, got \(String(describing: err))")
                    continue
                }
            }
        }
    }

    @Test("a progressive or multi-scan JPEG missing its later scans is .truncated, not a blurry image",
          arguments: ["progressive-422-q80-47x35.jpg", "separate-scans-420-q90-77x51.jpg"])
    func truncatedMultiScan(file: String) throws {
        let bytes = JPEGVariants.bytes(file)
        try #require(bytes.count > 1000)
        // Cut just before each SOS after the first (between scans: no Huffman error to notice).
        var cuts: [Int] = []
        var i = 2
        while i + 3 < bytes.count {
            if bytes[i] == 0xFF, bytes[i + 1] == 0xDA { cuts.append(i) }
            i += 1
        }
        try #require(cuts.count > 2)
        for cut in cuts.dropFirst() + [bytes.count / 2] {
            let err = decodeError(Array(bytes[..<cut]))
            guard case .truncated = err else {
                Issue.record("\(file) cut at \(cut): expected .truncated, got \(String(describing: err))")
                continue
            }
        }
    }

    @Test("JPEG sampling factors that are not whole ratios (stb_image refuses them) are .unsupportedContent")
    func fractionalSampling() throws {
        var b = Images.bytes("coffee-640x480.jpg")
        // The SOF's component specs follow its 8-byte header; make luma 3x2 next to 2x1 chroma.
        var i = 2
        var patched = false
        while i + 9 < b.count, !patched {
            guard b[i] == 0xFF else { i += 1; continue }
            if b[i + 1] == 0xC0 || b[i + 1] == 0xC2 {
                b[i + 11] = 0x32  // component 1: h=3, v=2
                b[i + 14] = 0x21  // component 2: h=2, v=1 (3 is not a multiple of 2)
                patched = true
            } else {
                i += 2 + Int(b[i + 2]) << 8 + Int(b[i + 3])
            }
        }
        try #require(patched)
        let err = decodeError(b)
        #expect(err.map { if case .unsupportedContent = $0 { true } else { false } } == true, "got \(String(describing: err))")
    }

    @Test("corrupt bytes in the middle are a typed error")
    func corrupt() throws {
        // PNG: any changed byte inside a chunk fails its CRC.
        var png = Images.bytes("chelsea-300x200.png")
        png[png.count / 2] ^= 0x5A
        #expect(decodeError(png).map { if case .corrupt = $0 { true } else { false } } == true)

        // JPEG: garbage over the entropy-coded data (bad Huffman codes, stray markers) ...
        let jpeg = Images.bytes("coffee-640x480.jpg")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(state >> 56)
        }
        var j = jpeg
        for i in j.count / 2 ..< j.count / 2 + 512 { j[i] = next() }
        let err = decodeError(j)
        #expect(err.map { if case .corrupt = $0 { true } else { false } } == true, "got \(String(describing: err))")

        // ... and over the header tables.
        var h = jpeg
        for i in 20 ..< 200 { h[i] = 0xFF }
        let herr = decodeError(h)
        #expect(herr != nil, "a JPEG with garbage tables decoded")
    }

    @Test("zero-length data, foreign formats and random bytes")
    func foreign() {
        #expect(decodeError([]) == .noData)
        #expect(decodeError(Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 64)) == .unsupportedFormat)
        #expect(decodeError(Array("BM".utf8) + [UInt8](repeating: 0, count: 64)) == .unsupportedFormat)
        #expect(decodeError([0xFF, 0xD8]) == .unsupportedFormat)
        #expect(decodeError([0x89, 0x50, 0x4E]) == .unsupportedFormat)
        var state: UInt64 = 42
        let random = (0 ..< 4096).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(state >> 56)
        }
        #expect(decodeError(random) == .unsupportedFormat)
        // Right signature, garbage after it.
        #expect(decodeError([0xFF, 0xD8, 0xFF] + random) != nil)
        #expect(decodeError(PNGBuilder.signature + random) != nil)
    }

    @Test("zero-sized images are .empty")
    func zeroSized() throws {
        let header = PNGBuilder.signature + PNGBuilder.ihdr(width: 0, height: 0, bitDepth: 8, colorType: 2)
        #expect(decodeError(header + PNGBuilder.chunk("IEND", [])) == .empty(width: 0, height: 0))
        let wide = PNGBuilder.png(width: 5, height: 0, bitDepth: 8, colorType: 2, rows: [])
        #expect(decodeError(wide) == .empty(width: 5, height: 0))
        let jpeg = jpegWithSize(Images.bytes("coffee-640x480.jpg"), width: 640, height: 0)
        let err = decodeError(jpeg)
        #expect(err.map { if case .empty = $0 { true } else { false } } == true, "got \(String(describing: err))")
        #expect(throws: ImageError.empty(width: 0, height: 3)) { try RGBImage(width: 0, height: 3, pixels: []) }
        #expect(throws: ImageError.pixelCountMismatch(expected: 6, found: 5)) {
            try RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5])
        }
    }

    @Test("huge PNG and JPEG headers are .tooLarge before any pixel is allocated")
    func tooLarge() throws {
        let limit = ImageDecoder().maxPixels
        // Only a header: refused from the IHDR alone, so nothing proportional was allocated.
        let header = PNGBuilder.signature + PNGBuilder.ihdr(width: 30000, height: 30000, bitDepth: 8, colorType: 6)
        #expect(decodeError(header) == .tooLarge(width: 30000, height: 30000, limit: limit))
        // A real file whose IHDR (with a recomputed CRC) claims 30000x30000.
        var png = Images.bytes("chelsea-300x200.png")
        let ihdr = PNGBuilder.ihdr(width: 30000, height: 30000, bitDepth: png[24], colorType: png[25])
        png.replaceSubrange(8 ..< 33, with: ihdr)
        #expect(decodeError(png) == .tooLarge(width: 30000, height: 30000, limit: limit))
        // A JPEG whose SOF claims 60000x60000 (3.6 G pixels, ~10 GB of RGB).
        let jpeg = jpegWithSize(Images.bytes("hubble-2000x600.jpg"), width: 60000, height: 60000)
        #expect(decodeError(jpeg) == .tooLarge(width: 60000, height: 60000, limit: limit))
        // Progressive too: its whole-image coefficient arrays are allocated by libjpeg only
        // after the header has passed the check.
        let progressive = JPEGVariants.bytes("progressive-422-q80-47x35.jpg")
        let hugeProgressive = jpegWithSize(progressive, width: 30000, height: 30000)
        #expect(decodeError(hugeProgressive) == .tooLarge(width: 30000, height: 30000, limit: limit))
        // The limit is configurable.
        let small = ImageDecoder(maxPixels: 1000)
        #expect(decodeError(Images.bytes("chelsea-300x200.png"), small) == .tooLarge(width: 300, height: 200, limit: 1000))
        #expect(decodeError(Images.bytes("coffee-640x480.jpg"), small) == .tooLarge(width: 640, height: 480, limit: 1000))
        #expect(try ImageDecoder(maxPixels: 300 * 200).decode(data: Images.bytes("chelsea-300x200.png")).width == 300)
    }

    @Test("unreadable paths")
    func unreadable() {
        #expect(throws: ImageError.unreadable(path: "/nonexistent/image.png", reason: "no such file")) {
            try ImageDecoder().decode(path: "/nonexistent/image.png")
        }
        #expect(throws: ImageError.unreadable(path: Images.directory.path, reason: "is a directory")) {
            try ImageDecoder().decode(path: Images.directory.path)
        }
    }

    @Test("200 corrupt JPEGs in a loop: no crash, no leak across longjmp")
    func corruptLoop() throws {
        let jpeg = Images.bytes("hubble-2000x600.jpg")
        var state: UInt64 = 7
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        func residentBytes() -> Int? {
            #if os(Linux)
            guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
            let fields = s.split(separator: " ")
            guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
            return pages * 4096
            #else
            return nil
            #endif
        }
        func round(_ i: Int) -> Bool {
            var j = jpeg
            // Truncate deep into the scan (pixels buffer already allocated when libjpeg bails out)
            // or overwrite a run of bytes there.
            if i % 2 == 0 {
                j.removeSubrange((j.count / 2 + next() % (j.count / 3))...)
            } else {
                let at = 1000 + next() % (j.count - 2000)
                for k in at ..< at + 64 { j[k] = UInt8(truncatingIfNeeded: next()) }
            }
            return decodeError(j) != nil
        }
        for i in 0 ..< 20 { _ = round(i) }  // warm up allocator
        let before = residentBytes()
        var failures = 0
        for i in 0 ..< 200 where round(i) { failures += 1 }
        #expect(failures >= 100, "only \(failures) of 200 damaged JPEGs were refused")
        let after = residentBytes()
        print("200 damaged JPEGs: \(failures) refused with a typed error, the rest decoded; resident memory "
            + "\(before.map { "\($0 >> 20)" } ?? "?") MB -> \(after.map { "\($0 >> 20)" } ?? "?") MB")
        if let before, let after {
            // Each decode allocates 3.6 MB of pixels; leaking them would add ~700 MB. Other tests
            // share this process and allocate meanwhile, so only a gross leak is caught here;
            // Tests/ImageShim/run.sh checks every error path precisely under LeakSanitizer.
            #expect(after - before < 600 << 20, "resident memory grew by \((after - before) >> 20) MB")
        }
    }
}
