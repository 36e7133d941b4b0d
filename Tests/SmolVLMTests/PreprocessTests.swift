import Foundation
import ReferenceFixtures
import SmolVLM
import Testing

/// Tiles against llama.cpp's idefics3 preprocessing (dumped from libmtmd). PNG and JPEG decodes
/// are byte-identical to llama.cpp's (stb_image), so every tile must match exactly.
@Suite("idefics3 preprocessing against llama.cpp")
struct PreprocessTests {
    static let images = ["chelsea-300x200.png", "camera-gray-640x480.png", "coffee-rgba-300x200.png",
                         "astronaut-512x512.jpg", "coffee-640x480.jpg", "motorcycle-1024x768.jpg",
                         "hubble-2000x600.jpg", "rocket-400x1500.jpg"]

    @Test(arguments: images)
    func tilesMatchLlamaCpp(_ image: String) throws {
        let stem = String(image.split(separator: ".")[0])
        let f = try ReferenceFixture("vision-preprocess-\(stem)")
        let decoded = try ImageDecoder().decode(path: ReferenceFixture.root.appendingPathComponent("images/\(image)").path)
        let out = Idefics3Preprocessor()(pixels: decoded.pixels, width: decoded.width, height: decoded.height)
        let pre = try #require(f["preprocess"])
        #expect(out.gridX == pre["grid_x"]?.int && out.gridY == pre["grid_y"]?.int)
        let tiles = try #require(pre["tiles"]?.array)
        #expect(out.tiles.count == tiles.count)
        let stride = try #require(f["tile_sample_stride"]?.int)
        let samples = try f.floats("tile_samples")
        var worst: Float = 0, exactTiles = 0
        for (t, tile) in out.tiles.enumerated() where t < tiles.count {
            var s1: UInt64 = 0, s2: UInt64 = 0
            for (i, v) in tile.enumerated() {
                let u = UInt64(v.bitPattern)
                s1 &+= u
                s2 &+= u &* UInt64(i + 1)
            }
            let exact = String(s1) == tiles[t]["checksum"]?["sum"]?.string && String(s2) == tiles[t]["checksum"]?["weighted_sum"]?.string
            if exact { exactTiles += 1 }
            let ours = Swift.stride(from: 0, to: tile.count, by: stride).map { tile[$0] }
            let c = Comparison("\(stem) tile \(t)", ours: ours, reference: samples.row(t))
            worst = max(worst, c.maxAbsDiff)
            #expect(exact, "\(c)")
        }
        #expect(worst == 0)
        print("\(image): grid \(out.gridX)x\(out.gridY)+1, \(exactTiles)/\(out.tiles.count) tiles bit-exact, max |Δ| \(worst)")
    }
}
