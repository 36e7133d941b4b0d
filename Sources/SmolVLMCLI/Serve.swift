import ArgumentParser
import Foundation
import Logging
import OpenAIAPI
import SmolVLM
import SmolVLMServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve llama-server's OpenAI-compatible API (chat completions with images) and the real-time camera page.",
        discussion: """
        Flags use llama-server's spellings, so a command line written for it works here: \
        smolvlm serve -hf ggml-org/SmolVLM-500M-Instruct-GGUF --port 8080 --ctx-size 2048 --n-predict 20 --alias smolvlm. \
        Open http://HOST:PORT/ for the camera page.
        """
    )

    @Option(name: [.customShort("m"), .long], help: "The text model: a GGUF path or a known name (smolvlm-256m, smolvlm-500m, …; :q8_0 or :f16).")
    var model: String?
    @Option(name: .customLong("hf", withSingleDash: true), help: "A Hugging Face repository as llama-server takes it (ggml-org/SmolVLM-500M-Instruct-GGUF[:Q8_0]); must be a known model.")
    var hf: String?
    @Option(help: "The vision encoder and projector (mmproj GGUF). Default: the known model's, or none for a path (images are then refused).")
    var mmproj: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @Option(name: [.customShort("a"), .long], help: "The model ID clients see (default: the model file's name).") var alias: String?
    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Positions per slot (default: the smaller of the model's and 4096).") var ctxSize: Int?
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens per request when it does not say (-1: until the context is full).") var nPredict = -1
    @Option(name: [.customLong("np", withSingleDash: true), .customLong("parallel")], help: "Slots: requests that generate at once, batched together.") var parallel = 1
    @Option(name: [.customShort("t"), .long], help: "Threads, shared by every slot.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' (repeatable).") var apiKey: [String] = []
    @Flag(help: "Serve Prometheus metrics at /metrics.") var metrics = false
    @Option(name: .customLong("chat-template"), help: "Use this built-in template (chatml, smolvlm) instead of detecting it.") var chatTemplate: String?

    @Option(name: .customLong("temp"), help: "Default sampling temperature (0: greedy).") var temperature = GenerationOptions().temperature
    @Option(name: .customLong("top-k"), help: "Default top-k (0: off).") var topK = GenerationOptions().topK
    @Option(name: .customLong("top-p"), help: "Default top-p (1: off).") var topP = GenerationOptions().topP
    @Option(name: .customLong("min-p"), help: "Default min-p (0: off).") var minP = GenerationOptions().minP
    @Option(name: .customLong("repeat-penalty"), help: "Default repetition penalty (1: off).") var repeatPenalty = GenerationOptions().repetitionPenalty
    @Option(name: .customLong("repeat-last-n"), help: "Default penalty window.") var repeatLastN = GenerationOptions().repetitionWindow
    @Option(help: "Default seed (-1: random per request).") var seed = -1

    @Option(name: .customLong("max-tiles"), help: "Tile budget per image: larger images are sliced into fewer tiles (1: no slicing). Default: as llama.cpp (up to 17 for a 2048-pixel image).")
    var maxTiles: Int?
    @Option(name: .customLong("max-images"), help: "Images per request.") var maxImages = 16
    @Option(name: .customLong("max-image-pixels"), help: "Decoded pixels per image (width × height).") var maxImagePixels = 16 << 20
    @Option(name: .customLong("max-body"), help: "Largest request body in bytes.") var maxBody = 32 << 20
    @Option(help: "Requests that may wait for a slot (default: 2 × slots); beyond, 503 with Retry-After.") var queue: Int?
    @Option(name: .customLong("image-cache"), help: "Encoded images kept for re-sent images (0: off).") var imageCache = 32
    @Option(name: .customLong("body-timeout"), help: "Seconds a client has to send its request body.") var bodyTimeout = 30.0

    func validate() throws {
        if model == nil && hf == nil { throw ValidationError("give a model: -m FILE|NAME or -hf REPO") }
        if parallel < 1 { throw ValidationError("--parallel must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let c = ctxSize, c < 1 { throw ValidationError("--ctx-size must be positive") }
        if nPredict < -1 { throw ValidationError("--n-predict must be -1 or at least 0") }
        if let q = queue, q < 0 { throw ValidationError("--queue must not be negative") }
        if let t = maxTiles, t < 1 { throw ValidationError("--max-tiles must be at least 1") }
        if maxImages < 0 || maxImagePixels < 1 || maxBody < 1 || imageCache < 0 || !(bodyTimeout > 0) {
            throw ValidationError("--max-images, --max-image-pixels, --max-body, --image-cache and --body-timeout must be positive")
        }
        if !(1 ... 65535).contains(port) && port != 0 { throw ValidationError("--port must be 0 … 65535") }
        if let name = chatTemplate, ChatTemplate(rawValue: name) == nil {
            throw ValidationError("unknown chat template '\(name)'; built-in: " + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))
        }
        try defaults.validate()
    }

    private var defaults: GenerationOptions {
        GenerationOptions(temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repeatPenalty,
                          repetitionWindow: repeatLastN, seed: seed < 0 ? nil : UInt64(seed))
    }

    /// `-hf owner/name[:QUANT]` as the known model it names.
    static func knownName(repository: String) throws -> String {
        let parts = repository.split(separator: ":", maxSplits: 1).map(String.init)
        guard let known = KnownModel.allCases.first(where: { $0.repository.lowercased() == parts[0].lowercased() }) else {
            throw ValidationError("-hf \(repository): not a known model; known: " + KnownModel.allCases.map(\.repository).joined(separator: ", "))
        }
        return parts.count == 2 ? "\(known.rawValue):\(parts[1].lowercased())" : known.rawValue
    }

    func run() async throws {
        var logger = Logger(label: "smolvlm.server")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let name = try model ?? Self.knownName(repository: hf!)
        // Resolve (and if needed download) before listening; loading the weights happens after.
        let (modelPath, mmprojPath) = try await ModelResolution.resolve(model: name, mmproj: mmproj)
        let template = chatTemplate.flatMap(ChatTemplate.init(rawValue:))
        let engineConfiguration = ServingEngine.Configuration(slots: parallel, contextLength: ctxSize, threads: threads,
                                                              queueLimit: queue, imageCacheEntries: imageCache, maxTiles: maxTiles)
        let limits = ServerLimits(maxBody: maxBody, maxImages: maxImages, maxImagePixels: maxImagePixels, bodyTimeout: bodyTimeout,
                                  queue: queue ?? 2 * parallel)
        let configuration = OpenAIServer.Configuration(
            host: host, port: port, modelID: alias ?? URL(fileURLWithPath: modelPath).lastPathComponent, modelPath: modelPath,
            apiKeys: apiKey, metrics: metrics, defaults: defaults, defaultMaxTokens: nPredict < 0 ? nil : nPredict, limits: limits)
        let server = OpenAIServer(configuration: configuration, logger: logger) { [logger] in
            let model = try SmolVLMModel(model: modelPath, mmproj: mmprojPath, chatTemplate: template)
            return try ServingEngine(model: model, configuration: engineConfiguration, logger: logger)
        }
        let host = self.host
        try await server.run { port in
            FileHandle.standardError.write("smolvlm serve: listening on http://\(host):\(port) (camera page at /)\n")
        }
    }
}
