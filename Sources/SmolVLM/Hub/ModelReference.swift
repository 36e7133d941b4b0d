import Foundation

/// A SmolVLM release this engine knows how to fetch: the official llama.cpp GGUF conversions
/// published by ggml-org on Hugging Face.
///
/// | name            | repository                                   | file stem                      |
/// |-----------------|----------------------------------------------|--------------------------------|
/// | `smolvlm-256m`  | `ggml-org/SmolVLM-256M-Instruct-GGUF`        | `SmolVLM-256M-Instruct`        |
/// | `smolvlm-500m`  | `ggml-org/SmolVLM-500M-Instruct-GGUF`        | `SmolVLM-500M-Instruct`        |
/// | `smolvlm2-256m` | `ggml-org/SmolVLM2-256M-Video-Instruct-GGUF` | `SmolVLM2-256M-Video-Instruct` |
/// | `smolvlm2-500m` | `ggml-org/SmolVLM2-500M-Video-Instruct-GGUF` | `SmolVLM2-500M-Video-Instruct` |
///
/// Each repository holds a text model `{stem}-{QUANT}.gguf` and a vision projector
/// `mmproj-{stem}-{QUANT}.gguf` for each ``ModelQuantization``.
///
/// Provenance: the Hugging Face hub is not reachable from this project's build machines, so
/// these names were not fetched from the repositories themselves. They were checked against
/// the ggml-org "SmolVLM GGUF" collection page and the repositories' model cards (the four
/// repositories exist; `llama-server -hf ggml-org/…-GGUF:Q8_0` and `SmolVLM-500M-Instruct-Q8_0.gguf`,
/// `SmolVLM2-256M-Video-Instruct-Q8_0.gguf` are shown there), and against many public projects
/// that download these exact URLs: every Q8_0 text file and Q8_0 projector, and the F16
/// projectors (`mmproj-…-f16.gguf`, lower-case `f16`) of three (SmolVLM2-256M's only as a local
/// file name). The F16 text files are the least certain: `SmolVLM2-500M-Video-Instruct-f16.gguf`
/// is named as a file of its repository, the other three only appear as local file names
/// following the same pattern. Sizes seen in
/// those projects (bytes; not enforced, the server's own headers are what is checked):
/// `SmolVLM-256M-Instruct-Q8_0` 175 054 528 and its projector 103 769 856;
/// `SmolVLM-500M-Instruct-Q8_0` 436 806 912 (SHA-256 9d4612de…) and its projector 108 783 360
/// (SHA-256 d1eb8b6b…); `SmolVLM2-256M-Video-Instruct-Q8_0` 175 056 352 and its projector
/// 103 771 680; `SmolVLM2-500M-Video-Instruct-Q8_0` 436 808 704; the
/// `SmolVLM2-500M-Video-Instruct` F16 projector 199 470 624.
public enum KnownModel: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// SmolVLM-256M-Instruct: the smallest pair (SigLIP-93M encoder, SmolLM2-135M-based decoder).
    case smolvlm256m = "smolvlm-256m"
    /// SmolVLM-500M-Instruct: the same encoder with a SmolLM2-360M-based decoder; better answers,
    /// about twice the decode cost.
    case smolvlm500m = "smolvlm-500m"
    /// SmolVLM2-256M-Video-Instruct: the 256M architecture retrained on a mix including video frames.
    case smolvlm2_256m = "smolvlm2-256m"
    /// SmolVLM2-500M-Video-Instruct: the 500M architecture retrained on a mix including video frames.
    case smolvlm2_500m = "smolvlm2-500m"

    /// The Hugging Face repository, `owner/name`.
    public var repository: String { "ggml-org/\(fileStem)-GGUF" }

    /// The part every file name in the repository shares.
    public var fileStem: String {
        switch self {
        case .smolvlm256m: "SmolVLM-256M-Instruct"
        case .smolvlm500m: "SmolVLM-500M-Instruct"
        case .smolvlm2_256m: "SmolVLM2-256M-Video-Instruct"
        case .smolvlm2_500m: "SmolVLM2-500M-Video-Instruct"
        }
    }

    /// The name as users type it (`smolvlm-256m`).
    public var description: String { rawValue }
}

/// A weight format the official repositories publish for both the text model and the projector.
public enum ModelQuantization: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// 8-bit blocks: a quarter of the F32 size, indistinguishable from F16 in practice. The default.
    case q8_0
    /// Half precision: the unquantized reference, twice the size of Q8_0.
    case f16

    /// What a name without a `:QUANT` suffix gets.
    public static let `default` = ModelQuantization.q8_0

    /// How the quantization is spelled in the repositories' file names (they write `Q8_0` but `f16`).
    public var fileSuffix: String {
        switch self {
        case .q8_0: "Q8_0"
        case .f16: "f16"
        }
    }

    /// The name as users type it (`q8_0`).
    public var description: String { rawValue }
}

/// One file in a Hugging Face repository.
public struct HubFile: Sendable, Hashable, CustomStringConvertible {
    /// `owner/name`.
    public var repository: String
    /// The path inside the repository.
    public var filename: String
    /// The git revision (branch, tag or commit).
    public var revision: String

    /// A file at `revision` (default `main`) of `repository`.
    public init(repository: String, filename: String, revision: String = "main") {
        self.repository = repository
        self.filename = filename
        self.revision = revision
    }

    /// The download address, `{endpoint}/{repository}/resolve/{revision}/{filename}`, as
    /// `huggingface_hub` builds it.
    public func url(endpoint: URL) -> URL {
        var url = endpoint
        let parts = repository.split(separator: "/").map(String.init) + ["resolve", revision]
            + filename.split(separator: "/").map(String.init)
        for part in parts { url.appendPathComponent(part) }
        return url
    }

    /// `owner/name/filename`.
    public var description: String { "\(repository)/\(filename)" }
}

/// What `--model` or `--mmproj` names: a file on disk, or a known release and quantization to
/// download (``ModelStore``) on first use.
///
/// Parsing (``init(parsing:fileManager:)``): an existing file always wins; otherwise `NAME` or
/// `NAME:QUANT` (case-insensitive) with `NAME` a ``KnownModel`` and `QUANT` a
/// ``ModelQuantization`` (default ``ModelQuantization/default``); otherwise anything that looks
/// like a path (has a `/` or ends in `.gguf`) is taken as a path, and the loader reports it if
/// it is missing; anything else is a typo of a name and is refused with the list of names.
public enum ModelReference: Sendable, Hashable, CustomStringConvertible {
    /// A GGUF file on disk.
    case file(URL)
    /// A release to fetch from the hub (or the cache).
    case known(KnownModel, ModelQuantization)

    /// Parses a `--model` / `--mmproj` argument; see the type's documentation for the rules.
    public init(parsing text: String, fileManager: FileManager = .default) throws(HubError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { throw HubError.unknownModel(text, known: KnownModel.allCases.map(\.rawValue)) }
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: trimmed, isDirectory: &isDirectory), !isDirectory.boolValue {
            self = .file(URL(fileURLWithPath: trimmed))
            return
        }
        let lower = trimmed.lowercased()
        let parts = lower.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        if let model = KnownModel(rawValue: String(parts[0])) {
            guard parts.count == 2 else {
                self = .known(model, .default)
                return
            }
            guard let quant = ModelQuantization(rawValue: String(parts[1])) else {
                throw HubError.unknownQuantization(model: model.rawValue, quantization: String(parts[1]),
                                                   available: ModelQuantization.allCases.map(\.rawValue))
            }
            self = .known(model, quant)
            return
        }
        if trimmed.contains("/") || lower.hasSuffix(".gguf") {
            self = .file(URL(fileURLWithPath: trimmed))
            return
        }
        throw HubError.unknownModel(trimmed, known: KnownModel.allCases.map(\.rawValue))
    }

    /// The text model file of a known release (nil for a path).
    public var modelFile: HubFile? {
        guard case let .known(model, quant) = self else { return nil }
        return HubFile(repository: model.repository, filename: "\(model.fileStem)-\(quant.fileSuffix).gguf")
    }

    /// The vision projector (mmproj) file of a known release (nil for a path).
    public var mmprojFile: HubFile? {
        guard case let .known(model, quant) = self else { return nil }
        return HubFile(repository: model.repository, filename: "mmproj-\(model.fileStem)-\(quant.fileSuffix).gguf")
    }

    /// `smolvlm-256m:q8_0`, or the path.
    public var description: String {
        switch self {
        case let .file(url): url.path
        case let .known(model, quant): "\(model.rawValue):\(quant.rawValue)"
        }
    }
}
