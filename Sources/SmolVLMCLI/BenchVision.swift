import ArgumentParser
import Foundation
import GGUF
import SmolVLM

/// Time to first token for an image question, split into its phases, repeated: image decode,
/// preprocessing, encoder per tile, prefill of the whole prompt, then `-n` decoded tokens.
/// The context is reset between repetitions; weights stay mapped (the first run is a warm-up).
/// With `--trace`, one more run is traced on a context of its own, after the timed ones.
struct BenchVision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "Image decode, preprocess, encode per tile, prefill, time to first token and decode speed for an image prompt.",
        discussion: """
        --trace FILE runs the question once more after the timed runs (image decode, preprocess, every \
        tile's encode, prefill and the first \(TraceReport.decodeSteps) decode steps) and writes a Chrome \
        trace-event file of it: one span per operation per thread, named by kernel and shape, with the \
        operation count and weight bytes in its args. Open it in https://ui.perfetto.dev or \
        chrome://tracing. A table of that run follows the normal output: per operation kind and \
        shape, calls, total ms, share of the time, GOP/s and GB/s of weights streamed. The timed \
        runs are not traced.
        """
    )

    @Option(help: "The text model (GGUF).") var model: String
    @Option(help: "The vision encoder and projector (mmproj GGUF).") var mmproj: String
    @Option(help: "A JPEG or PNG image.") var image: String
    @Option(help: "The question.") var prompt = "Describe this image."
    @Option(name: .customLong("max-tiles"), help: "Tile budget (1: no slicing). Default: as llama.cpp.") var maxTiles: Int?
    @Option(name: .customShort("n"), help: "Tokens decoded after the prompt.") var generatedTokens = 32
    @Option(name: .customShort("r"), help: "Repetitions after a warm-up run.") var repetitions = 3
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("Also trace one run into this Chrome trace-event (Perfetto) file and print a per-operation table.",
                               valueName: "file")) var trace: String?

    func validate() throws {
        if let maxTiles, maxTiles < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if repetitions < 1 || threads < 1 || generatedTokens < 0 { throw ValidationError("-r and -t must be positive, -n not negative") }
        if let trace { try TraceReport.checkWritable(trace) }
    }

    struct Run {
        var decode = 0.0, preprocess = 0.0, encode = 0.0, tiles = 0, prefill = 0.0, positions = 0, tokens = 0.0
        var firstToken: Double { decode + preprocess + encode + prefill }
        var encodePerTile: Double { encode / Double(max(tiles, 1)) }
    }

    func run() throws {
        let textFile = try GGUFFile(path: model)
        let text = try LlamaModel(file: textFile)
        let tokenizer = try Tokenizer(gguf: textFile)
        let vision = try VisionModel(path: mmproj)
        try vision.checkCompatible(with: text)
        let layout = try ImagePromptLayout(tokenizer: tokenizer)
        let template = try ChatTemplate.detect(try? textFile.metadata.string("tokenizer.chat_template"))
        let preprocessor = try Idefics3Preprocessor(vision.configuration, maxTiles: maxTiles)
        let context = try LlamaContext(model: text, threads: threads)
        let clock = ContinuousClock()

        func once(_ context: LlamaContext, decodeSteps: Int) throws -> Run {
            var r = Run()
            context.reset()
            let pool = context.pool
            let t0 = clock.now
            let rgb = try pool.traced(.phase("decode image")) { try ImageDecoder().decode(path: image) }
            r.decode = (clock.now - t0).seconds
            let e = try vision.embed(rgb, preprocessor: preprocessor, pool: pool)
            r.preprocess = e.preprocessSeconds
            r.encode = e.encodeSeconds.reduce(0, +)
            r.tiles = e.tiles.count
            let chunks = try layout.tokenize(template.render([.init(role: .user, content: ImagePromptLayout.marker + prompt)]),
                                             grids: [(e.gridX, e.gridY)])
            r.positions = chunks.reduce(0) { $0 + $1.positions(tokensPerTile: vision.configuration.tokensPerTile) }
            let p0 = clock.now
            var logits = try pool.traced(.phase("prefill")) { try context.evaluate(chunks, images: [e]) }
            r.prefill = (clock.now - p0).seconds
            let d0 = clock.now
            for _ in 0 ..< decodeSteps {
                let token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
                logits = try pool.traced(.phase("decode token")) { try context.evaluate(tokens: [token]) }
            }
            r.tokens = decodeSteps > 0 ? Double(decodeSteps) / (clock.now - d0).seconds : 0
            return r
        }

        _ = try once(context, decodeSteps: generatedTokens)
        let runs = try (0 ..< repetitions).map { _ in try once(context, decodeSteps: generatedTokens) }
        let first = runs[0]
        print("model: \(model)\nmmproj: \(mmproj)\nimage: \(image), \(first.tiles) tiles, \(first.positions) prompt positions, threads \(threads), kernels \(KernelSet.default.name)")
        func row(_ label: String, _ values: [Double], _ unit: String, scale: Double = 1000) {
            let v = values.map { $0 * scale }.sorted()
            let best = unit == "tok/s" ? v[v.count - 1] : v[0]
            print("\(label.padding(toLength: 22, withPad: " ", startingAt: 0)) median \(String(format: "%10.2f", v[v.count / 2])) \(unit)   best \(String(format: "%10.2f", best))")
        }
        row("image decode", runs.map(\.decode), "ms")
        row("preprocess", runs.map(\.preprocess), "ms")
        row("encode per tile", runs.map(\.encodePerTile), "ms")
        row("prefill", runs.map(\.prefill), "ms")
        row("time to first token", runs.map(\.firstToken), "ms")
        if generatedTokens > 0 { row("decode", runs.map(\.tokens), "tok/s", scale: 1) }

        if let trace {
            let tracer = Tracer(threads: threads)
            let traced = try LlamaContext(model: text, contextLength: context.capacity, threads: threads, tracer: tracer)
            let steps = min(generatedTokens, TraceReport.decodeSteps)
            let r = try once(traced, decodeSteps: steps)
            try TraceReport.finish(tracer, path: trace,
                                   run: "one image question (\(r.tiles) tiles, \(r.positions) prompt positions, \(steps) decode steps)")
        }
    }
}
