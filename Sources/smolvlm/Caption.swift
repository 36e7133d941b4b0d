import ArgumentParser
import Foundation
import GGUF
import SmolVLM

struct Caption: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about one or more images with a SmolVLM model pair, streaming to stdout.",
        discussion: """
        The images are placed before the prompt in one user message of the model's chat template, each expanded \
        into the tile layout llama.cpp's mtmd uses. Timings go to stderr.
        """
    )

    @Option(help: "The text model (GGUF, llama architecture).") var model: String
    @Option(help: "The vision encoder and projector (mmproj GGUF, idefics3).") var mmproj: String
    @Option(help: "An image (JPEG or PNG); repeat for several.") var image: [String]
    @Option(help: "The question or instruction.") var prompt = "Describe this image."
    @Option(name: [.customShort("n"), .long], help: "Tokens to generate at most.") var maxTokens = 128
    @Option(help: "Sampling temperature; 0 is greedy (llama.cpp's default is 0.8).") var temp: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens; 0 = off.") var topK = 40
    @Option(name: .customLong("top-p"), help: "Keep the most likely tokens up to this cumulative probability; 1 = off.") var topP: Float = 0.95
    @Option(name: .customLong("min-p"), help: "Drop tokens below this fraction of the most likely one's probability; 0 = off.") var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), help: "Penalise tokens repeated in the last --repeat-last-n; 1 = off.") var repeatPenalty: Float = 1
    @Option(name: .customLong("repeat-last-n"), parsing: .unconditional, help: "Tokens the repeat penalty looks back over; 0 = off, -1 = the whole context.") var repeatLastN = 64
    @Option(help: "Seed for sampling at temperature > 0 (default: random, printed to stderr).") var seed: UInt64?
    @Option(help: "Stop when the output contains this string (not printed); repeat for several.") var stop: [String] = []
    @Option(name: .customLong("max-tiles"), help: "Slice each image into at most this many 512-px tiles (1: no slicing, 64 tokens per image). Default: as llama.cpp.")
    var maxTiles: Int?
    @Option(help: "Threads (the caller included).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Context length (default: the smaller of the model's and 4096).") var ctx: Int?
    @Option(name: .customLong("chat-template"), help: "Use this built-in template (chatml, smolvlm) instead of detecting it.") var chatTemplate: String?

    func validate() throws {
        if image.isEmpty { throw ValidationError("give at least one --image") }
        if maxTokens < 0 { throw ValidationError("-n must not be negative") }
        do { try generationOptions.validate() } catch { throw ValidationError("\(error)") }
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let name = chatTemplate, ChatTemplate(rawValue: name) == nil {
            throw ValidationError("unknown chat template '\(name)'; built-in: " + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    var generationOptions: GenerationOptions {
        GenerationOptions(maxTokens: maxTokens, temperature: temp, topK: topK, topP: topP, minP: minP,
                          repetitionPenalty: repeatPenalty, repetitionWindow: repeatLastN, seed: seed, stop: stop)
    }

    func run() throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        let textFile = try GGUFFile(path: model)
        let text = try LlamaModel(file: textFile)
        let tokenizer = try Tokenizer(gguf: textFile)
        let vision = try VisionModel(path: mmproj)
        try vision.checkCompatible(with: text)
        let context = try LlamaContext(model: text, contextLength: ctx, threads: threads)
        let layout = try ImagePromptLayout(tokenizer: tokenizer)
        let template = try chatTemplate.flatMap(ChatTemplate.init(rawValue:))
            ?? ChatTemplate.detect(try? textFile.metadata.string("tokenizer.chat_template"))
        let loadSeconds = (clock.now - t0).seconds

        let preprocessor = try Idefics3Preprocessor(vision.configuration, maxTiles: maxTiles)
        var decodeSeconds = 0.0
        var images: [ImageEmbeddings] = []
        for path in image {
            let d0 = clock.now
            let rgb = try ImageDecoder().decode(path: path)
            decodeSeconds += (clock.now - d0).seconds
            images.append(try vision.embed(rgb, preprocessor: preprocessor, pool: context.pool))
        }

        let content = String(repeating: ImagePromptLayout.marker, count: images.count) + prompt
        let chunks = try layout.tokenize(template.render([.init(role: .user, content: content)]),
                                         grids: images.map { ($0.gridX, $0.gridY) })
        let tokensPerTile = vision.configuration.tokensPerTile
        let p0 = clock.now
        let logits = try context.evaluate(chunks, images: images)
        var timings = GenerationTimings()
        timings.promptTokens = chunks.reduce(0) { $0 + $1.positions(tokensPerTile: tokensPerTile) }
        timings.promptSeconds = (clock.now - p0).seconds

        let result = try TextGenerator(context: context, tokenizer: tokenizer)
            .generate(after: logits, timings: timings, options: generationOptions) { piece in
                FileHandle.standardOutput.write(Data(piece.utf8))
                return true
            }
        // Through the same unbuffered handle as the pieces, so it lands before the timings.
        FileHandle.standardOutput.write("\n")

        var err = FileHandle.standardError
        let t = result.timings
        let tiles = images.flatMap(\.encodeSeconds)
        let encodeSeconds = tiles.reduce(0, +)
        let preprocessSeconds = images.reduce(0) { $0 + $1.preprocessSeconds }
        print("smolvlm: \("load time".leftPad(18)) = \(ms(loadSeconds)) ms", to: &err)
        for (i, e) in images.enumerated() {
            let grid = e.gridX * e.gridY > 0 ? "\(e.gridX)x\(e.gridY) + overview" : "unsliced"
            print("smolvlm: image \(i + 1): \(e.tiles.count) tiles (\(grid)), \(e.tiles.count * tokensPerTile) image positions", to: &err)
        }
        print("smolvlm: \("decode + preprocess".leftPad(18)) = \(ms(decodeSeconds + preprocessSeconds)) ms (decode \(ms(decodeSeconds).trimmed) ms, preprocess \(ms(preprocessSeconds).trimmed) ms)", to: &err)
        print("smolvlm: \("image encode".leftPad(18)) = \(ms(encodeSeconds)) ms / \(String(tiles.count).leftPad(5)) tiles  (\(ms(encodeSeconds / Double(max(tiles.count, 1)))) ms per tile)", to: &err)
        print(rateLine("prompt eval", t.promptSeconds, t.promptTokens, "positions"), to: &err)
        print(rateLine("eval", t.decodeSeconds, t.generatedTokens, "runs     "), to: &err)
        print("smolvlm: \("time to first token".leftPad(18)) = \(ms(decodeSeconds + preprocessSeconds + encodeSeconds + t.promptSeconds)) ms (images + prefill)", to: &err)
        print("smolvlm: \("total time".leftPad(18)) = \(ms((clock.now - t0).seconds)) ms", to: &err)
        print("smolvlm: stop: \(result.stopReason)" + (temp > 0 ? ", seed \(result.seed)" : ""), to: &err)
    }
}

struct EncodeImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-image",
        abstract: "Write the projector embeddings of every tile of an image (the vision side on its own).",
        discussion: """
        The output is little-endian f32: tiles in mtmd's order (slices row by row, then the overview), each \
        tokens-per-tile rows of the projector's width. The grid, shapes and timings are printed.
        """
    )

    @Option(help: "The vision encoder and projector (mmproj GGUF, idefics3).") var mmproj: String
    @Option(help: "An image (JPEG or PNG).") var image: String
    @Option(name: .customLong("max-tiles"), help: "Slice into at most this many 512-px tiles (1: no slicing). Default: as llama.cpp.")
    var maxTiles: Int?
    @Option(help: "Where to write the embeddings.") var out: String
    @Option(help: "Threads (the caller included).") var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let vision = try VisionModel(path: mmproj)
        let d0 = clock.now
        let rgb = try ImageDecoder().decode(path: image)
        let decodeSeconds = (clock.now - d0).seconds
        let preprocessor = try Idefics3Preprocessor(vision.configuration, maxTiles: maxTiles)
        let e = try vision.embed(rgb, preprocessor: preprocessor, pool: ThreadPool(threads: threads))

        var bytes = Data(capacity: e.tiles.reduce(0) { $0 + $1.count } * 4)
        for tile in e.tiles {
            tile.withUnsafeBufferPointer { p in
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            }
        }
        try bytes.write(to: URL(fileURLWithPath: out))

        let grid = e.gridX * e.gridY > 0 ? "\(e.gridX)x\(e.gridY) slices + overview" : "unsliced (overview only)"
        print("image: \(rgb.width)x\(rgb.height), grid \(grid), \(e.tiles.count) tiles of \(e.tokensPerTile) x \(e.width)")
        print("wrote \(out): [\(e.tiles.count), \(e.tokensPerTile), \(e.width)] f32")
        print("decode \(ms(decodeSeconds).trimmed) ms, preprocess \(ms(e.preprocessSeconds).trimmed) ms, encode \(e.encodeSeconds.map { ms($0).trimmed }.joined(separator: " ")) ms per tile")
    }
}

private func ms(_ seconds: Double) -> String { String(format: "%10.2f", seconds * 1000) }

private func rateLine(_ label: String, _ s: Double, _ n: Int, _ unit: String) -> String {
    let per = n > 0 ? s * 1000 / Double(n) : 0
    let rate = s > 0 ? Double(n) / s : 0
    return "smolvlm: \(label.leftPad(18)) = \(ms(s)) ms / \(String(n).leftPad(5)) \(unit) (\(String(format: "%8.2f", per)) ms per token, \(String(format: "%8.2f", rate)) tokens per second)"
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespaces) }
}
