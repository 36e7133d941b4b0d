import Foundation
import GGUF

/// A SmolVLM model pair, loaded once and shared: the text decoder with its tokenizer and chat
/// template, and (optionally) the vision encoder with its projector.
///
/// Weights stay memory-mapped from the GGUF files; every ``ChatSession`` made from this value
/// reads the same pages, so sessions cost only their KV cache and scratch buffers.
public struct SmolVLMModel: Sendable {
    /// The llama-architecture decoder.
    public let text: LlamaModel
    /// The decoder's tokenizer (from the text model's GGUF metadata).
    public let tokenizer: Tokenizer
    /// The vision encoder and projector, or nil for a text-only model.
    public let vision: VisionModel?
    /// How conversations are written for this model.
    public let chatTemplate: ChatTemplate
    /// Seconds spent opening and checking the files.
    public let loadSeconds: Double

    /// Loads a text model and, if given, its mmproj file.
    ///
    /// - Parameters:
    ///   - model: path of the text model GGUF (llama architecture).
    ///   - mmproj: path of the vision GGUF (idefics3 projector), or nil for text only.
    ///   - chatTemplate: a built-in template to use instead of recognising the model's own.
    /// - Throws: `GGUFError` (module GGUF) for unreadable or malformed files, ``ModelError`` and
    ///   ``VisionModelError`` for unsupported models, ``VisionModelError/projectorWidthMismatch(projector:textEmbedding:)``
    ///   for a pair that does not belong together, ``ChatTemplate/DetectionError`` when the
    ///   model's template is not recognised and none was given, ``ImagePromptError`` when the
    ///   vocabulary lacks SmolVLM's image tokens but an mmproj was given.
    public init(model: String, mmproj: String? = nil, chatTemplate: ChatTemplate? = nil) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let file = try GGUFFile(path: model)
        text = try LlamaModel(file: file)
        tokenizer = try Tokenizer(gguf: file)
        self.chatTemplate = try chatTemplate ?? ChatTemplate.detect(try? file.metadata.string("tokenizer.chat_template"))
        if let mmproj {
            let v = try VisionModel(path: mmproj)
            try v.checkCompatible(with: text)
            _ = try ImagePromptLayout(tokenizer: tokenizer)
            vision = v
        } else {
            vision = nil
        }
        loadSeconds = (clock.now - start).seconds
    }
}

extension SmolVLMModel {
    /// Loads a known release by name (``KnownModel``), downloading its text model and mmproj
    /// into `store`'s cache the first time (resumable, size- and SHA-256-checked) and reading
    /// them from there afterwards; the loading itself runs off the caller's thread.
    ///
    /// - Parameters:
    ///   - model: the release, e.g. `.smolvlm256m`.
    ///   - quantization: which files (default ``ModelQuantization/default``, Q8_0).
    ///   - store: where files are cached and fetched from (default: `~/.cache/smolvlm`, the hub).
    ///   - progress: called as bytes arrive.
    /// - Throws: ``HubError`` when a file cannot be had, then the errors of loading the files (as the initialiser from paths).
    public static func load(_ model: KnownModel, quantization: ModelQuantization = .default, store: ModelStore = ModelStore(),
                            progress: ModelStore.ProgressHandler? = nil) async throws -> SmolVLMModel {
        let files = try await store.resolve(model: .known(model, quantization), progress: progress)
        return try await Task.detached { try SmolVLMModel(model: files.model, mmproj: files.mmproj) }.value
    }

    /// Loads a text model and, if given, its mmproj file from file URLs.
    ///
    /// - Parameters:
    ///   - model: the text model GGUF.
    ///   - mmproj: the vision GGUF, or nil for text only.
    ///   - chatTemplate: a built-in template to use instead of recognising the model's own.
    /// - Throws: as the initialiser from paths.
    public init(model: URL, mmproj: URL? = nil, chatTemplate: ChatTemplate? = nil) throws {
        try self.init(model: model.path, mmproj: mmproj?.path, chatTemplate: chatTemplate)
    }

    /// How this pair turns images into prompt positions: the image-token layout and the
    /// preprocessor with a tile budget of `maxTiles` (nil: as llama.cpp); nil for a text-only pair.
    func imagePipeline(maxTiles: Int?) throws -> (ImagePromptLayout, Idefics3Preprocessor)? {
        guard let vision else { return nil }
        return (try ImagePromptLayout(tokenizer: tokenizer), try Idefics3Preprocessor(vision.configuration, maxTiles: maxTiles))
    }
}
