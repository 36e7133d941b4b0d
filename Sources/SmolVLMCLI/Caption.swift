import ArgumentParser
import Foundation
import GGUF
import SmolVLM

/// Options shared by the commands that load a model pair and generate.
struct ModelOptions: ParsableArguments {
    @Option(help: "The text model: a GGUF path or a known name (smolvlm-256m, smolvlm-500m, smolvlm2-256m, smolvlm2-500m, with :q8_0 or :f16).")
    var model = "smolvlm-256m"
    @Option(help: "The vision encoder and projector (mmproj GGUF). Default: the known model's, or none for a path.")
    var mmproj: String?
    @Option(help: "Threads (the caller included).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Context length (default: the smaller of the model's and 4096).") var ctx: Int?
    @Option(name: .customLong("chat-template"), help: "Use this built-in template (chatml, smolvlm) instead of detecting it.") var chatTemplate: String?

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let name = chatTemplate, ChatTemplate(rawValue: name) == nil {
            throw ValidationError("unknown chat template '\(name)'; built-in: " + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    /// Loads the pair, resolving (and if needed downloading) known names. A text model given
    /// as a path without --mmproj loads text only.
    func load() async throws -> SmolVLMModel {
        let (modelPath, mmprojPath) = try await ModelResolution.resolve(model: model, mmproj: mmproj)
        return try SmolVLMModel(model: modelPath, mmproj: mmprojPath, chatTemplate: chatTemplate.flatMap(ChatTemplate.init(rawValue:)))
    }
}

/// Sampling flags, mapped onto ``GenerationOptions`` (llama.cpp's names and defaults, except a
/// greedy default temperature: captions should not change from run to run).
struct SamplingFlags: ParsableArguments {
    @Option(name: [.customShort("n"), .long], help: "Tokens to generate at most.") var maxTokens = 128
    @Option(help: "Sampling temperature; 0 is greedy.") var temp: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: off).") var topK = GenerationOptions().topK
    @Option(name: .customLong("top-p"), help: "Keep the smallest set of tokens whose probability reaches p (1: off).") var topP = GenerationOptions().topP
    @Option(name: .customLong("min-p"), help: "Drop tokens less likely than min-p times the most likely (0: off).") var minP = GenerationOptions().minP
    @Option(name: .customLong("repeat-penalty"), help: "Penalty for repeating recent tokens (1: off).") var repeatPenalty = GenerationOptions().repetitionPenalty
    @Option(name: .customLong("repeat-last-n"), help: "How many recent tokens the penalty looks at (0: off, -1: the context).") var repeatLastN = GenerationOptions().repetitionWindow
    @Option(help: "Seed for sampling (default: random).") var seed: UInt64?
    @Option(help: "Stop when this text is generated (repeatable).") var stop: [String] = []

    var options: GenerationOptions {
        var o = GenerationOptions()
        o.maxTokens = maxTokens
        o.temperature = temp
        o.topK = topK
        o.topP = topP
        o.minP = minP
        o.repetitionPenalty = repeatPenalty
        o.repetitionWindow = repeatLastN
        o.seed = seed
        o.stop = stop
        return o
    }

    func validate() throws {
        if maxTokens < 0 { throw ValidationError("-n must not be negative") }
        try options.validate()
    }
}

struct Caption: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about images with a SmolVLM model pair.",
        discussion: """
        With one or more --image and no --jsonl, the images go into one user message (before the prompt) and the \
        answer streams to stdout; timings go to stderr. With --jsonl, each image (a file, a directory of JPEG/PNG \
        files, or a quoted glob such as 'photos/*.jpg') is captioned on its own and written as one JSON line; a bad \
        file is recorded with its error and the run goes on; --resume skips images already captioned in OUT.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(help: "An image (JPEG or PNG), a directory or a glob; repeatable.") var image: [String]
    @Option(help: "The question or instruction.") var prompt = "Describe this image."
    @Option(name: .customLong("max-tiles"), help: "Slice each image into at most this many 512-px tiles (1: no slicing, 64 positions per image). Default: as llama.cpp.")
    var maxTiles: Int?
    @Flag(help: "Print the result as one JSON object (text, stop reason, timings) instead of streaming text.") var json = false
    @Option(help: "Caption each image separately into this JSON Lines file.") var jsonl: String?
    @Flag(help: "With --jsonl: skip images OUT already has a caption for.") var resume = false

    func validate() throws {
        if image.isEmpty { throw ValidationError("give at least one --image") }
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if resume && jsonl == nil { throw ValidationError("--resume needs --jsonl") }
    }

    func run() async throws {
        let model = try await modelOptions.load()
        let session = try ChatSession(model: model, configuration: .init(contextLength: modelOptions.ctx, threads: modelOptions.threads, maxTiles: maxTiles))
        if let jsonl {
            try await batch(session, out: jsonl)
            return
        }
        let files = try ImagePaths.expand(image)
        if files.count > 1, image.contains(where: ImagePaths.isPattern) {
            throw ValidationError("\(files.count) images matched: caption them one by one with --jsonl OUT, or name them one by one")
        }
        let response = session.respond(to: UserMessage(prompt, images: files.map { .file(URL(fileURLWithPath: $0)) }), options: sampling.options)
        let interrupt = Interrupt { response.cancel() }
        defer { interrupt.stop() }
        if !json {
            for try await piece in response { FileHandle.standardOutput.write(piece) }
            FileHandle.standardOutput.write("\n")
        }
        let result = try await response.result
        if json {
            FileHandle.standardOutput.write(try JSONRecord(image: files.count == 1 ? files[0] : nil, result: result, load: model.loadSeconds).line() + "\n")
        } else {
            Report.timings(result, model: model, images: files.count)
        }
    }

    private func batch(_ session: ChatSession, out: String) async throws {
        let files = try ImagePaths.expand(image)
        let done = resume ? JSONRecord.captioned(in: out) : []
        let todo = files.filter { !done.contains($0) }
        if !FileManager.default.fileExists(atPath: out) || !resume {
            guard FileManager.default.createFile(atPath: out, contents: nil) else { throw ValidationError("cannot create \(out)") }
        }
        guard let handle = FileHandle(forWritingAtPath: out) else { throw ValidationError("cannot write \(out)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        var progress = BatchProgress(total: todo.count, label: "captioning")
        if files.count != todo.count { FileHandle.standardError.write("resuming: \(files.count - todo.count) of \(files.count) images already in \(out)\n") }
        var failures = 0
        for path in todo {
            try session.reset()
            let response = session.respond(to: UserMessage(prompt, images: [.file(URL(fileURLWithPath: path))]), options: sampling.options)
            let interrupt = Interrupt { response.cancel() }
            let record: JSONRecord
            do {
                let result = try await response.result
                interrupt.stop()
                if result.stopReason == .cancelled { throw CancellationError() }
                record = JSONRecord(image: path, result: result, load: nil)
            } catch is CancellationError {
                FileHandle.standardError.write("\ninterrupted; run again with --resume to continue\n")
                throw ExitCode(130)
            } catch {
                interrupt.stop()
                failures += 1
                record = JSONRecord(image: path, error: error)
            }
            try handle.write(contentsOf: Data((try record.line() + "\n").utf8))
            progress.advance()
        }
        progress.finish()
        FileHandle.standardError.write("\(todo.count - failures) captioned, \(failures) failed, written to \(out)\n")
    }
}

struct EncodeImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-image",
        abstract: "Write the projector embeddings of every tile of an image (the vision side on its own).",
        discussion: """
        The output is little-endian f32: tiles in mtmd's order (slices row by row, then the overview), each \
        tokens-per-tile rows of the projector's width. The grid, shapes and timings are printed.
        """
    )

    @Option(help: "The vision encoder and projector (mmproj GGUF).") var mmproj: String
    @Option(help: "An image (JPEG or PNG).") var image: String
    @Option(name: .customLong("max-tiles"), help: "Slice into at most this many 512-px tiles (1: no slicing). Default: as llama.cpp.")
    var maxTiles: Int?
    @Option(help: "Where to write the embeddings.") var out: String
    @Option(help: "Threads (the caller included).") var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() async throws {
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
        print("decode \(Report.ms(decodeSeconds)) ms, preprocess \(Report.ms(e.preprocessSeconds)) ms, encode \(e.encodeSeconds.map { Report.ms($0) }.joined(separator: " ")) ms per tile")
    }
}
