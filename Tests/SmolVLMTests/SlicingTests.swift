import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// The idefics3 llava-uhd branch (mmproj without `clip.vision.preproc_image_size`, or a token
/// limit) against llama.cpp's tiles, the tile budget (`maxTiles`), and the preprocessor built
/// from mmproj metadata.
@Suite("idefics3 slicing: llava-uhd branch, tile budget, configuration")
struct SlicingTests {
    static let images = ReferenceFixture.root.appendingPathComponent("images")
    static let fixture = Result { try ReferenceFixture("vision-preprocess-llava-uhd") }
    static var caseNames: [String] {
        ((try? fixture.get())?["cases"]?.array ?? []).compactMap { $0["name"]?.string }
    }

    /// The fixture's checksum of f32 bit patterns: Σ u and Σ (i+1)·u, mod 2^64.
    static func checksum(_ values: [Float]) -> (String, String) {
        var s1: UInt64 = 0, s2: UInt64 = 0
        for (i, v) in values.enumerated() {
            let u = UInt64(v.bitPattern)
            s1 &+= u
            s2 &+= u &* UInt64(i + 1)
        }
        return (String(s1), String(s2))
    }

    /// `source` tiled to `width × height`, as make_reference.py derives its wide/tall/huge images.
    static func tiled(_ source: RGBImage, width: Int, height: Int) throws -> RGBImage {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0 ..< height {
            for x in 0 ..< width {
                let s = ((y % source.height) * source.width + x % source.width) * 3
                let d = (y * width + x) * 3
                px[d] = source.pixels[s]; px[d + 1] = source.pixels[s + 1]; px[d + 2] = source.pixels[s + 2]
            }
        }
        return try RGBImage(width: width, height: height, pixels: px)
    }

    /// A preprocessor with the hparams llama.cpp reported for the case (so no model file is needed).
    static func preprocessor(hparams h: JSONValue, imageMaxTokens: Int?) throws -> Idefics3Preprocessor {
        let edge = try #require(h["image_longest_edge"]?.int)
        let patch = try #require(h["patch_size"]?.int), merge = try #require(h["n_merge"]?.int)
        return try Idefics3Preprocessor(tileSize: try #require(h["image_size"]?.int), longestEdge: edge > 0 ? edge : nil,
                                        mean: (h["image_mean"]?.array ?? []).compactMap { $0.double.map(Float.init) },
                                        std: (h["image_std"]?.array ?? []).compactMap { $0.double.map(Float.init) },
                                        maxTiles: nil, imageMaxTokens: imageMaxTokens, pixelsPerToken: patch * patch * merge * merge)
    }

    @Test("llava-uhd tiles are llama.cpp's, bit for bit (PNG sources)", arguments: caseNames)
    func llavaUHDMatchesLlamaCpp(_ name: String) throws {
        let f = try Self.fixture.get()
        let c = try #require(f["cases"]?.array?.first { $0["name"]?.string == name })
        let source = try ImageDecoder().decode(path: Self.images.appendingPathComponent(try #require(c["source"]?.string)).path)
        let width = try #require(c["width"]?.int), height = try #require(c["height"]?.int)
        let image = c["derived"]?.bool == true ? try Self.tiled(source, width: width, height: height) : source
        let rgb = Self.checksum(image.pixels.map { Float(bitPattern: UInt32($0)) })
        #expect(rgb.0 == c["rgb_checksum"]?["sum"]?.string && rgb.1 == c["rgb_checksum"]?["weighted_sum"]?.string, "input image differs")

        let maxTokens = try #require(c["image_max_tokens"]?.int)
        let pre = try Self.preprocessor(hparams: try #require(c["hparams"]), imageMaxTokens: maxTokens > 0 ? maxTokens : nil)
        #expect(pre.branch == .llavaUHD)
        let out = try pre(image)
        #expect(out.gridX == c["grid_x"]?.int && out.gridY == c["grid_y"]?.int)
        let tiles = try #require(c["tiles"]?.array)
        try #require(out.tiles.count == tiles.count)
        let stride = try #require(c["tile_sample_stride"]?.int)
        let samples = try f.floats("tile_samples_\(name)")
        var worst: Float = 0
        for (t, tile) in out.tiles.enumerated() {
            let (s1, s2) = Self.checksum(tile)
            let ours = Swift.stride(from: 0, to: tile.count, by: stride).map { tile[$0] }
            let cmp = Comparison("\(name) tile \(t)", ours: ours, reference: samples.row(t))
            worst = max(worst, cmp.maxAbsDiff)
            #expect(s1 == tiles[t]["checksum"]?["sum"]?.string && s2 == tiles[t]["checksum"]?["weighted_sum"]?.string, "\(cmp)")
        }
        print("llava-uhd \(name): grid \(out.gridX)x\(out.gridY)+1, max |Δ| \(worst)")
    }

    /// The fixture made with the nopreproc mmproj on a JPEG (our JPEG decode is byte-identical
    /// to llama.cpp's stb_image, so the tiles must be too).
    @Test func llavaUHDJpegExact() throws {
        let f = try ReferenceFixture("vision-preprocess-nopreproc-motorcycle-1024x768")
        let pre = try #require(f["preprocess"])
        let p = try Self.preprocessor(hparams: try #require(pre["hparams"]), imageMaxTokens: nil)
        let image = try ImageDecoder().decode(path: Self.images.appendingPathComponent("motorcycle-1024x768.jpg").path)
        let out = try p(image)
        #expect(out.gridX == 2 && out.gridY == 2 && out.gridX == pre["grid_x"]?.int && out.gridY == pre["grid_y"]?.int)
        let tiles = try #require(pre["tiles"]?.array)
        try #require(out.tiles.count == tiles.count)
        let stride = try #require(f["tile_sample_stride"]?.int)
        let samples = try f.floats("tile_samples")
        var worst: Float = 0, exact = 0
        for (t, tile) in out.tiles.enumerated() {
            let (s1, s2) = Self.checksum(tile)
            if s1 == tiles[t]["checksum"]?["sum"]?.string && s2 == tiles[t]["checksum"]?["weighted_sum"]?.string { exact += 1 }
            let ours = Swift.stride(from: 0, to: tile.count, by: stride).map { tile[$0] }
            worst = max(worst, Comparison("tile \(t)", ours: ours, reference: samples.row(t)).maxAbsDiff)
        }
        #expect(exact == out.tiles.count && worst == 0)
        print("nopreproc motorcycle (JPEG): \(exact)/\(out.tiles.count) tiles bit-exact, max |Δ| \(worst)")
    }

    // MARK: grids

    static let longest = Idefics3Preprocessor()
    static let uhd = Idefics3Preprocessor(longestEdge: nil)
    static func budget(_ n: Int?, longestEdge: Int? = 2048) throws -> Idefics3Preprocessor {
        try Idefics3Preprocessor(longestEdge: longestEdge, maxTiles: n)
    }
    static func grid(_ p: Idefics3Preprocessor, _ w: Int, _ h: Int) -> [Int] {
        let plan = p.plan(width: w, height: h)
        return [plan.gridX, plan.gridY]
    }

    @Test func llamaCppGrids() {
        // Longest edge: everything is scaled up to 2048 first.
        #expect(Self.grid(Self.longest, 300, 200) == [4, 3])
        #expect(Self.grid(Self.longest, 640, 480) == [4, 3])
        #expect(Self.grid(Self.longest, 400, 1500) == [2, 4])
        #expect(Self.grid(Self.longest, 1, 1) == [4, 4])
        // llava-uhd: sides rounded to the nearest whole tile, at least one; a small image is
        // still a 1×1 grid (one slice + the overview), never overview-only.
        #expect(Self.grid(Self.uhd, 300, 200) == [1, 1])
        #expect(Self.grid(Self.uhd, 640, 480) == [1, 1])
        #expect(Self.grid(Self.uhd, 1024, 768) == [2, 2])  // 1.5 rounds away from zero
        #expect(Self.grid(Self.uhd, 2000, 600) == [4, 1])
        #expect(Self.grid(Self.uhd, 400, 1500) == [1, 3])
        #expect(Self.grid(Self.uhd, 5000, 1) == [10, 1])
        #expect(Self.uhd.plan(width: 1024, height: 768).tileCount == 5)
        #expect(Self.uhd.plan(width: 300, height: 200).tileCount == 2)
    }

    @Test func tileBudgetLongestEdge() throws {
        // 640×480: 4×3 at 2048; 1536 → 3×3; 1024 → 2×2; 512 → one tile.
        #expect(Self.grid(try Self.budget(nil), 640, 480) == [4, 3])
        #expect(Self.grid(try Self.budget(12), 640, 480) == [4, 3])
        #expect(Self.grid(try Self.budget(11), 640, 480) == [3, 3])
        #expect(Self.grid(try Self.budget(8), 640, 480) == [2, 2])
        #expect(Self.grid(try Self.budget(4), 640, 480) == [2, 2])
        #expect(Self.grid(try Self.budget(3), 640, 480) == [0, 0])
        #expect(Self.grid(try Self.budget(2), 400, 1500) == [1, 2])  // 1024 tall
        #expect(Self.grid(try Self.budget(16), 1, 1) == [4, 4])
        #expect(Self.grid(try Self.budget(15), 1, 1) == [3, 3])
        for n in 1 ... 20 {
            for (w, h) in [(300, 200), (640, 480), (2000, 600), (400, 1500), (1, 1), (5000, 1), (1, 5000)] {
                let g = Self.grid(try Self.budget(n), w, h)
                #expect(g[0] * g[1] <= n && g[0] * g[1] != 1, "\(w)x\(h) budget \(n): \(g)")
            }
        }
    }

    @Test func tileBudgetLlavaUHD() throws {
        #expect(Self.grid(try Self.budget(nil, longestEdge: nil), 1024, 768) == [2, 2])
        #expect(Self.grid(try Self.budget(4, longestEdge: nil), 1024, 768) == [2, 2])
        #expect(Self.grid(try Self.budget(3, longestEdge: nil), 1024, 768) == [2, 1])  // 1024×768 floored to tiles
        #expect(Self.grid(try Self.budget(2, longestEdge: nil), 1024, 768) == [0, 0])  // 836×627 floors to 1×1
        #expect(Self.grid(try Self.budget(9, longestEdge: nil), 3000, 2200) == [3, 2])
        #expect(Self.grid(try Self.budget(24, longestEdge: nil), 3000, 2200) == [6, 4])
        #expect(Self.grid(try Self.budget(2, longestEdge: nil), 5000, 1) == [2, 1])  // past the pixel limit: shortened
        #expect(Self.grid(try Self.budget(3, longestEdge: nil), 1, 5000) == [1, 3])
        // A budget the image fits changes nothing but the single-tile case.
        #expect(Self.grid(try Self.budget(100, longestEdge: nil), 300, 200) == [0, 0])
        for n in 1 ... 20 {
            for (w, h) in [(300, 200), (640, 480), (2000, 600), (400, 1500), (1, 1), (5000, 1), (1, 5000), (3000, 2200)] {
                let g = Self.grid(try Self.budget(n, longestEdge: nil), w, h)
                #expect(g[0] * g[1] <= n && g[0] * g[1] != 1, "\(w)x\(h) budget \(n): \(g)")
            }
        }
    }

    @Test func oneTileIsOneGlobalImage() throws {
        let image = try ImageDecoder().decode(path: Self.images.appendingPathComponent("chelsea-300x200.png").path)
        for edge in [2048, nil] as [Int?] {
            let p = try Self.budget(1, longestEdge: edge)
            let out = try p(image)
            #expect(out.gridX == 0 && out.gridY == 0 && out.tiles.count == 1)
            #expect(out.tiles[0].count == 512 * 512 * 3)
            // The global image is the overview llama.cpp would make at that size.
            let full = try Self.budget(nil, longestEdge: edge)
            if edge == nil { #expect(out.tiles[0] == (try full(image)).tiles.last!) }
        }
        // With maxTiles: 1 the longest-edge overview is the image Lanczos-fitted to one tile.
        let one = try (try Self.budget(1))(image).tiles[0]
        let at512 = try Idefics3Preprocessor(longestEdge: 512, maxTiles: nil)(image)
        #expect(at512.gridX == 1 && at512.gridY == 1 && one == at512.tiles.last!)
    }

    @Test func invalidBudgetsAreTypedErrors() throws {
        #expect(throws: Idefics3Preprocessor.Error.invalidMaxTiles(0)) { try Idefics3Preprocessor(maxTiles: 0) }
        #expect(throws: Idefics3Preprocessor.Error.invalidMaxTiles(-3)) { try Idefics3Preprocessor(maxTiles: -3) }
        #expect(throws: Idefics3Preprocessor.Error.invalidTokenLimit(name: "imageMaxTokens", value: 0)) {
            try Idefics3Preprocessor(maxTiles: nil, imageMaxTokens: 0)
        }
        #expect(throws: Idefics3Preprocessor.Error.self) { try Idefics3Preprocessor(std: [0.5, 0, 0.5], maxTiles: nil) }
        #expect(throws: Idefics3Preprocessor.Error.self) { try Idefics3Preprocessor(mean: [0.5], maxTiles: nil) }
        // Resizes llama.cpp refuses (over 65536 pixels a side) are refused here too.
        let line = try RGBImage(width: 70000, height: 1, pixels: [UInt8](repeating: 9, count: 70000 * 3))
        #expect(throws: Idefics3Preprocessor.Error.imageTooLarge(width: 70000, height: 1, limit: 65536)) {
            try Self.uhd(line)
        }
        #expect(try (try Self.budget(4, longestEdge: nil))(line).tiles.count == 5)
        #expect(try Self.longest(line).gridX == 4)
    }

    // MARK: configuration from the file

    static func model(_ name: String) -> String { ReferenceFixture.modelsDirectory.appendingPathComponent(name).path }
    static let tinyQ8 = model("tiny-mmproj-q8_0.gguf"), tinyQ8NoPre = model("tiny-mmproj-q8_0-nopreproc.gguf")
    static func present(_ paths: String...) -> Bool { paths.allSatisfy { FileManager.default.fileExists(atPath: $0) } }

    @Test(.enabled(if: present(tinyQ8, tinyQ8NoPre), "tiny mmproj models are absent: run models/build-test-models.sh"))
    func configurationPicksTheBranch() throws {
        let with = try VisionConfiguration(try GGUFFile(path: Self.tinyQ8).metadata)
        let without = try VisionConfiguration(try GGUFFile(path: Self.tinyQ8NoPre).metadata)
        #expect(with.preprocessLongestEdge == 2048 && without.preprocessLongestEdge == nil)
        #expect(with.imageMean == [0.5, 0.5, 0.5] && with.imageStd == [0.5, 0.5, 0.5])
        let a = try Idefics3Preprocessor(with), b = try Idefics3Preprocessor(without)
        #expect(a.branch == .longestEdge && a.tileSize == 512 && a.longestEdge == 2048 && a.pixelsPerToken == 4096)
        #expect(b.branch == .llavaUHD && b.longestEdge == nil)
        // A token limit sends llama.cpp down the llava-uhd branch even with the key.
        let limited = try Idefics3Preprocessor(with, imageMaxTokens: 256)
        #expect(limited.branch == .llavaUHD && limited.maxPixels == 256 * 4096)
        #expect(Self.grid(limited, 640, 480) == [2, 1])
        // A token floor scales up (sides ceiled to tiles): 300×200 needs 1024 tokens = 16 tiles' worth.
        let floored = try Idefics3Preprocessor(with, imageMinTokens: 1024)
        #expect(floored.branch == .llavaUHD && Self.grid(floored, 300, 200) == [5, 4])
        #expect(Self.grid(a, 1024, 768) == [4, 3] && Self.grid(b, 1024, 768) == [2, 2])
        #expect(throws: Idefics3Preprocessor.Error.invalidMaxTiles(0)) { try Idefics3Preprocessor(with, maxTiles: 0) }
    }

    // MARK: degenerate images

    @Test(arguments: [(1, 1), (1, 5000), (5000, 1), (2, 3)])
    func degenerateImagesDecodeAndPreprocess(_ size: (Int, Int)) throws {
        let (w, h) = size
        let rows = (0 ..< h).map { y in (0 ..< w).map { x in UInt8(truncatingIfNeeded: x &* 7 &+ y &* 13) } }
        let image = try ImageDecoder().decode(data: PNGBuilder.gray(width: w, height: h, rows: rows))
        #expect(image.width == w && image.height == h)
        for p in [Self.longest, Self.uhd, try Self.budget(1), try Self.budget(4), try Self.budget(2, longestEdge: nil)] {
            let plan = p.plan(width: w, height: h)
            let out = try p(image)
            #expect(out.gridX == plan.gridX && out.gridY == plan.gridY && out.tiles.count == plan.tileCount)
            #expect(out.tiles.allSatisfy { $0.count == 512 * 512 * 3 && $0.allSatisfy(\.isFinite) })
        }
    }
}

