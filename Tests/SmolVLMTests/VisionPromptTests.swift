import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Image + prompt against llama.cpp's mtmd, end to end on the synthetic SmolVLM-shaped models:
/// our decode, preprocessing, encoder and projector produce every tile's embeddings (compared
/// with llama.cpp's), our prompt layout must equal mtmd's chunks token for token, then the
/// decoder consumes the prompt chunk by chunk as mtmd's helper does and is teacher-forced on
/// llama.cpp's generated tokens.
@Suite("image prompts against llama.cpp's mtmd")
struct VisionPromptTests {
    /// The `vision-<model>-<mmproj type>-<image>` fixtures of one model family (those containing
    /// `SMOLVLM_VISION_FIXTURES` when it is set, to study one case).
    static func fixtures(_ family: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ReferenceFixture.root.path)) ?? []
        let only = ProcessInfo.processInfo.environment["SMOLVLM_VISION_FIXTURES"] ?? ""
        return names.filter { $0.hasPrefix("vision-\(family)-") && (only.isEmpty || $0.contains(only)) }.sorted()
    }

    static func modelPath(_ name: String) -> String {
        ReferenceFixture.modelsDirectory.appendingPathComponent(name).path
    }

    /// Whether every model file the family's fixtures name is built.
    static func modelsPresent(_ family: String) -> Bool {
        fixtures(family).allSatisfy { name in
            guard let f = try? ReferenceFixture(name), let t = f["model"]?.string, let m = f["mmproj"]?.string else { return false }
            return FileManager.default.fileExists(atPath: modelPath(t)) && FileManager.default.fileExists(atPath: modelPath(m))
        }
    }

    @Test(.enabled(if: modelsPresent("tiny"), "tiny synthetic models are absent: run models/build-test-models.sh"),
          arguments: fixtures("tiny"))
    func tinyImagePrompt(_ name: String) throws { try imagePrompt(name) }

    @Test(.enabled(if: modelsPresent("smolvlm-256m"), "SmolVLM-256M-shaped synthetic models are absent: run models/build-test-models.sh"),
          arguments: fixtures("smolvlm-256m"))
    func smolVLM256MImagePrompt(_ name: String) throws { try imagePrompt(name) }

    func imagePrompt(_ name: String) throws {
        let f = try ReferenceFixture(name)
        let textPath = Self.modelPath(try #require(f["model"]?.string)), mmprojPath = Self.modelPath(try #require(f["mmproj"]?.string))
        let textFile = try GGUFFile(path: textPath)
        let text = try LlamaModel(file: textFile)
        let tokenizer = try Tokenizer(gguf: textFile)
        let vision = try VisionModel(path: mmprojPath)
        try vision.checkCompatible(with: text)
        let image = try ImageDecoder().decode(path: ReferenceFixture.root.appendingPathComponent("images")
            .appendingPathComponent(try #require(f["image"]?.string)).path)

        // Embeddings of every tile against llama.cpp's.
        let pool = ThreadPool(threads: 2)
        let embedded = try vision.embed(image, preprocessor: try Idefics3Preprocessor(vision.configuration), pool: pool)
        let pre = try #require(f["preprocess"])
        #expect(embedded.gridX == pre["grid_x"]?.int && embedded.gridY == pre["grid_y"]?.int)
        #expect(embedded.tiles.count == pre["n_tiles"]?.int)
        let worstEmbedding = try compareEmbeddings(f, embedded)

        // The prompt layout, position by position.
        let layout = try ImagePromptLayout(tokenizer: tokenizer)
        let promptText = try #require(f["prompt_text"]?.string)
        let chunks = try layout.tokenize(promptText, grids: [(embedded.gridX, embedded.gridY)])
        var sequence: [Int] = [], tiles: [Int] = []
        for chunk in chunks {
            switch chunk {
            case let .text(t): sequence += t; tiles += Array(repeating: -1, count: t.count)
            case let .image(_, t):
                sequence += Array(repeating: -1, count: vision.configuration.tokensPerTile)
                tiles += Array(repeating: t, count: vision.configuration.tokensPerTile)
            }
        }
        #expect(sequence == (try f.ints("sequence_tokens").values), "token layout differs from mtmd's")
        #expect(tiles == (try f.ints("sequence_tile").values), "tile order differs from mtmd's")

        // Prefill with our embeddings, then teacher-force the generation.
        let context = try LlamaContext(model: text, contextLength: 2048, threads: 2)
        let logits = try context.evaluate(chunks, images: [embedded])
        #expect(context.position == f["n_pos"]?.int)
        print("\(name): grid \(embedded.gridX)x\(embedded.gridY), \(embedded.tiles.count) tiles, \(sequence.count) positions, worst tile embedding max |Δ|/std \(worstEmbedding)")
        // F16 products (an F16 mmproj or text model) go through OpenBLAS in a build with that
        // trait. The embeddings stay within 0.01·std there too (an F16 encoder through OpenBLAS:
        // at most 0.0022·std on these fixtures), but the decoder's layers of random weights grow
        // that difference, or its own order difference, in the logits.
        let floatWeights = [textPath, mmprojPath].contains { $0.contains("-f16") }
        let tolerance = Agreement.tolerance(0.01, floatWeights: floatWeights, openBLAS: Self.openBLASTolerance)
        try TeacherForcing.compare(f, context: context, promptLogits: logits, tolerance: tolerance,
                                   tie: Agreement.tie(floatWeights: floatWeights, tolerance: tolerance))
    }

    /// The logit bound for pairs with F16 weights summed in OpenBLAS's order (see ``Agreement``):
    /// the worst measured over these fixtures was 0.16·std (256M, camera-gray), top-1 unchanged.
    static let openBLASTolerance: Float = 0.3

    /// Compares each tile with llama.cpp's: the whole tile where the fixture has it, else its
    /// seeded sample of positions; returns the worst max |Δ| / std.
    func compareEmbeddings(_ f: ReferenceFixture, _ e: ImageEmbeddings) throws -> Float {
        let stats = try f.floats("embd_stats")
        var worst: Float = 0
        let full = try f.floats("embd_full"), fullTiles = try f.ints("embd_full_tiles").values
        let perTile = full.shape.dropFirst().reduce(1, *)
        let samples = try? f.floats("embd_samples"), sampleIndex = try? f.ints("embd_sample_idx").values
        for t in e.tiles.indices {
            let std = stats.row(t)[stats.row(t).startIndex + 1]
            let c: Comparison
            if let row = fullTiles.firstIndex(of: t) {
                c = Comparison("\(f.name) tile \(t)", ours: e.tiles[t], reference: full.values[row * perTile ..< (row + 1) * perTile], scale: std)
            } else if let samples, let sampleIndex {
                c = Comparison("\(f.name) tile \(t) (sampled)", ours: sampleIndex.map { e.tiles[t][$0] }, reference: samples.row(t), scale: std)
            } else {
                Issue.record("\(f.name): no reference for tile \(t)")
                continue
            }
            worst = max(worst, c.maxAbsDiffOverStd)
            #expect(c.maxAbsDiffOverStd <= 0.01, "\(c)")
        }
        return worst
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelPath("tiny-text-q8_0.gguf")),
                   "models/tiny-text-q8_0.gguf is absent: run models/build-test-models.sh"))
    func markersMustMatchImages() throws {
        let path = Self.modelPath("tiny-text-q8_0.gguf")
        let layout = try ImagePromptLayout(tokenizer: Tokenizer(gguf: GGUFFile(path: path)))
        #expect(throws: ImagePromptError.markerCount(markers: 1, images: 0, marker: ImagePromptLayout.marker)) {
            _ = try layout.tokenize("a \(ImagePromptLayout.marker) b", grids: [])
        }
        #expect(throws: ImagePromptError.markerCount(markers: 0, images: 1, marker: ImagePromptLayout.marker)) {
            _ = try layout.tokenize("no marker", grids: [(2, 2)])
        }
        // Grids the preprocessor never makes (a caller building them by hand) are refused, not a
        // trap in a range or a prompt with fewer tiles than the image has.
        let two = "\(ImagePromptLayout.marker) \(ImagePromptLayout.marker)"
        for bad in [(x: -1, y: 2), (x: 2, y: -1), (x: 3, y: 0), (x: 0, y: 1)] {
            #expect(throws: ImagePromptError.invalidGrid(image: 1, x: bad.x, y: bad.y)) {
                _ = try layout.tokenize(two, grids: [(0, 0), bad])
            }
        }
        // Two images: the second image's chunks name image 1, and text runs merge.
        let chunks = try layout.tokenize("\(ImagePromptLayout.marker)\(ImagePromptLayout.marker)x", grids: [(0, 0), (1, 1)])
        let images = chunks.compactMap { c -> [Int]? in if case let .image(i, t) = c { [i, t] } else { nil } }
        #expect(images == [[0, 0], [1, 0], [1, 1]])
        for (a, b) in zip(chunks, chunks.dropFirst()) {
            if case .text = a, case .text = b { Issue.record("adjacent text chunks were not merged") }
        }
    }
}

extension VisionPromptTests {
    /// A prompt with images that cannot fit is refused before anything is evaluated, and the
    /// context stays usable; a mismatched model pair is refused with both widths named.
    @Test(.enabled(if: ["tiny-text-q8_0.gguf", "tiny-mmproj-q8_0.gguf", "smolvlm-256m-text-q8_0.gguf"]
                       .allSatisfy { FileManager.default.fileExists(atPath: modelPath($0)) },
                   "synthetic models are absent: run models/build-test-models.sh"))
    func overflowAndMismatchAreTypedErrors() throws {
        let textPath = Self.modelPath("tiny-text-q8_0.gguf"), mmprojPath = Self.modelPath("tiny-mmproj-q8_0.gguf")
        let bigText = Self.modelPath("smolvlm-256m-text-q8_0.gguf")
        let file = try GGUFFile(path: textPath)
        let text = try LlamaModel(file: file)
        let vision = try VisionModel(path: mmprojPath)
        let tokenizer = try Tokenizer(gguf: file)
        let image = try RGBImage(width: 64, height: 48, pixels: (0 ..< 64 * 48 * 3).map { UInt8($0 % 251) })
        let context = try LlamaContext(model: text, contextLength: 200, threads: 2)
        let embedded = try vision.embed(image, preprocessor: Idefics3Preprocessor(vision.configuration), pool: context.pool)
        let chunks = try ImagePromptLayout(tokenizer: tokenizer).tokenize("User: \(ImagePromptLayout.marker)Hi", grids: [(embedded.gridX, embedded.gridY)])
        let needed = chunks.reduce(0) { $0 + $1.positions(tokensPerTile: vision.configuration.tokensPerTile) }
        #expect(throws: ModelError.contextOverflow(needed: needed, capacity: 200)) {
            _ = try context.evaluate(chunks, images: [embedded])
        }
        #expect(context.position == 0)
        let logits = try context.evaluate(tokens: tokenizer.encode("Hi"))
        #expect(logits.count == text.configuration.vocabularySize && context.position > 0)

        let big = try LlamaModel(path: bigText)
        #expect(vision.outputWidth == 64 && big.configuration.embeddingLength == 576)
        #expect(throws: VisionModelError.projectorWidthMismatch(projector: 64, textEmbedding: 576)) {
            try vision.checkCompatible(with: big)
        }
    }
}
