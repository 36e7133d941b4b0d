import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// The SigLIP encoder + idefics3 projector against llama.cpp's projector outputs (libmtmd,
/// flash attention on), on PNG tiles (bit-identical to llama.cpp's). The fixtures store the
/// output in f16, so an exact encoder is off by f16 rounding only (about 0.001·std; the Q8_0
/// encoder was checked bit-identical to llama.cpp, intermediates included, on tiles 0 and 5).
/// With the Q8_0 mmproj an ulp-level difference ahead of any activation quantization shows up
/// as 0.01–0.02·std, so that case is the sharper check.
@Suite("vision encoder against llama.cpp")
struct VisionEncoderTests {
    static func model(_ name: String) -> String {
        ReferenceFixture.modelsDirectory.appendingPathComponent(name).path
    }
    static func present(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static let tinyQ8 = model("tiny-mmproj-q8_0.gguf")
    static let tinyF16 = model("tiny-mmproj-f16.gguf")

    func check(mmproj: String, fixture: String, image: String) throws {
        let f = try ReferenceFixture(fixture)
        let vision = try VisionModel(path: mmproj)
        let decoded = try ImageDecoder().decode(path: ReferenceFixture.root.appendingPathComponent("images/\(image)").path)
        let tiles = Idefics3Preprocessor()(pixels: decoded.pixels, width: decoded.width, height: decoded.height).tiles
        let reference = try f.floats("embd_full")
        let tileIndex = try f.ints("embd_full_tiles").values
        #expect(reference.shape == [tileIndex.count, vision.configuration.tokensPerTile, vision.outputWidth])
        let pool = ThreadPool(threads: 4)
        let perTile = reference.shape.dropFirst().reduce(1, *)
        for (row, t) in tileIndex.enumerated() {
            let ours = try vision.encode(tile: tiles[t], pool: pool)
            let c = Comparison("\(fixture) tile \(t)", ours: ours, reference: reference.values[row * perTile ..< (row + 1) * perTile])
            print(c)
            #expect(c.maxAbsDiffOverStd <= 0.01, "\(c)")
        }
    }

    @Test(.enabled(if: present(tinyF16), "models/tiny-mmproj-f16.gguf is absent: run models/build-test-models.sh"))
    func tinyF16Model() throws {
        try check(mmproj: Self.tinyF16, fixture: "vision-tiny-f16-chelsea-300x200", image: "chelsea-300x200.png")
    }

    @Test(.enabled(if: present(tinyQ8), "models/tiny-mmproj-q8_0.gguf is absent: run models/build-test-models.sh"))
    func tinyQ8Model() throws {
        try check(mmproj: Self.tinyQ8, fixture: "vision-tiny-q8_0-chelsea-300x200", image: "chelsea-300x200.png")
    }

    @Test(.enabled(if: present(tinyQ8), "models/tiny-mmproj-q8_0.gguf is absent: run models/build-test-models.sh"))
    func projectorWidthMustMatchText() throws {
        let vision = try VisionModel(path: Self.tinyQ8)
        #expect(vision.configuration.tokensPerTile == 64)
        try vision.checkCompatible(textEmbeddingLength: vision.outputWidth)
        #expect(throws: VisionModelError.projectorWidthMismatch(projector: vision.outputWidth, textEmbedding: vision.outputWidth + 1)) {
            try vision.checkCompatible(textEmbeddingLength: vision.outputWidth + 1)
        }
        #expect(throws: VisionModelError.tileSize(expected: 512 * 512 * 3, found: 3)) {
            _ = try vision.encode(tile: [0, 0, 0], threads: 1)
        }
    }
}
