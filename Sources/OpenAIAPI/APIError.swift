import SmolVLM

/// An error answered to a client as llama-server answers it: an HTTP status and
/// `{"error":{"code":<status>,"message":…,"type":…}}`, plus any fields that detail it.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public var status: Int
    /// OpenAI's and llama-server's error type (`invalid_request_error`, `authentication_error`, …).
    public var type: String
    /// What went wrong, for a person.
    public var message: String
    /// Extra fields of the error object (`n_prompt_tokens`, `n_ctx`).
    public var details: [String: Int] = [:]
    /// Extra response headers (`Retry-After`).
    public var headers: [String: String] = [:]

    public var description: String { "\(status) \(type): \(message)" }

    package static func invalidRequest(_ message: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", message: message)
    }

    package static let unauthorized = APIError(status: 401, type: "authentication_error", message: "Invalid API Key")
    package static let notFound = APIError(status: 404, type: "not_found_error", message: "File Not Found")

    /// The error object, as JSON.
    package var body: [String: Any] {
        var error: [String: Any] = ["code": status, "message": message, "type": type]
        for (k, v) in details { error[k] = v }
        return ["error": error]
    }

    /// The client-facing form of an engine or model error.
    package init(_ error: any Error, limits: ServerLimits) {
        switch error {
        case let e as APIError:
            self = e
        case let e as ServingError:
            switch e {
            case .queueFull:
                self = APIError(status: 503, type: "unavailable_error", message: "\(e) (--queue \(limits.queue))",
                                headers: ["Retry-After": "1"])
            case .shuttingDown:
                self = APIError(status: 503, type: "unavailable_error", message: e.description, headers: ["Retry-After": "5"])
            case let .promptTooLong(n, ctx):
                self = APIError(status: 400, type: "exceed_context_size_error",
                                message: "the request exceeds the available context size: \(n) prompt positions (images included), context \(ctx) (--ctx-size)",
                                details: ["n_prompt_tokens": n, "n_ctx": ctx])
            case let .tokenBudget(n, maxTokens, ctx):
                self = APIError(status: 400, type: "exceed_context_size_error",
                                message: "max_tokens \(maxTokens) does not fit after the prompt's \(n) positions in the context of \(ctx) (--ctx-size)",
                                details: ["n_prompt_tokens": n, "n_ctx": ctx])
            case let .noVisionModel(n):
                self = .invalidRequest("image input is not supported: the request has \(n) image\(n == 1 ? "" : "s") but the server was started without a vision model; start it with --mmproj FILE")
            case .imageCount, .imageTooLarge:
                self = .invalidRequest(e.description)
            }
        case let e as GenerationOptionsError:
            self = .invalidRequest(e.description)
        case let e as ImageError:
            if case let .tooLarge(w, h, limit) = e {
                self = .invalidRequest("an image is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit) pixels (--max-image-pixels)")
            } else {
                self = .invalidRequest("Failed to load image: \(e)")
            }
        case let e as Idefics3Preprocessor.Error:
            self = .invalidRequest("Failed to preprocess image: \(e)")
        default:
            self = APIError(status: 500, type: "server_error", message: "\(error)")
        }
    }

    package init(status: Int, type: String, message: String, details: [String: Int] = [:], headers: [String: String] = [:]) {
        self.status = status
        self.type = type
        self.message = message
        self.details = details
        self.headers = headers
    }
}

/// The per-request limits, for the messages that name them.
public struct ServerLimits: Sendable {
    /// Largest request body in bytes (`--max-body`).
    public var maxBody: Int
    /// Images per request (`--max-images`).
    public var maxImages: Int
    /// Decoded pixels per image (`--max-image-pixels`).
    public var maxImagePixels: Int
    /// Bytes of an image fetched from an http(s) URL.
    public var maxDownload: Int
    /// Seconds to receive a request body (`--body-timeout`).
    public var bodyTimeout: Double
    /// Seconds to fetch an image URL.
    public var downloadTimeout: Double
    /// Waiting requests beyond the slots (`--queue`).
    public var queue: Int

    /// Limits; the defaults are the server's flags' defaults.
    public init(maxBody: Int = 32 << 20, maxImages: Int = 16, maxImagePixels: Int = 16 << 20, maxDownload: Int = 10 << 20,
                bodyTimeout: Double = 30, downloadTimeout: Double = 10, queue: Int = 2) {
        self.maxBody = maxBody
        self.maxImages = maxImages
        self.maxImagePixels = maxImagePixels
        self.maxDownload = maxDownload
        self.bodyTimeout = bodyTimeout
        self.downloadTimeout = downloadTimeout
        self.queue = queue
    }
}
