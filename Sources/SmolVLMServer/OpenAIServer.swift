import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import OpenAIAPI
import SmolVLM
import Synchronization

/// An HTTP server with llama-server's OpenAI-compatible API over a ``ServingEngine``: the
/// clients written for `llama-server` (the `openai` package, `requests`, the webcam page) work
/// against it unchanged.
///
/// Routes: `POST /v1/chat/completions` (and `/chat/completions`), `GET /v1/models` (and
/// `/models`), `GET /health`, `POST /tokenize`, `POST /detokenize`, `POST /apply-template`,
/// `GET /props`, `GET /metrics` (with ``Configuration/metrics``), and `GET /`, the real-time
/// camera page.
public struct OpenAIServer: Sendable {
    /// How the server is set up (the `serve` command's flags).
    public struct Configuration: Sendable {
        /// Address to listen on (default 127.0.0.1).
        public var host: String
        /// Port (default 8080; 0 picks a free one).
        public var port: Int
        /// The model ID clients see (`--alias`; default the model file's name).
        public var modelID: String
        /// The model file's path, for `/props`.
        public var modelPath: String
        /// Accepted API keys (`--api-key`); empty: no authentication.
        public var apiKeys: [String]
        /// Serve `/metrics` (`--metrics`).
        public var metrics: Bool
        /// Sampling defaults for requests that do not set them (the sampling flags).
        public var defaults: GenerationOptions
        /// Tokens per request when it does not say (`-n`); nil: until the context is full.
        public var defaultMaxTokens: Int?
        /// Per-request limits.
        public var limits: ServerLimits

        /// A configuration; every parameter defaults to llama-server's default.
        public init(host: String = "127.0.0.1", port: Int = 8080, modelID: String, modelPath: String = "",
                    apiKeys: [String] = [], metrics: Bool = false, defaults: GenerationOptions = GenerationOptions(),
                    defaultMaxTokens: Int? = nil, limits: ServerLimits = ServerLimits()) {
            self.host = host
            self.port = port
            self.modelID = modelID
            self.modelPath = modelPath
            self.apiKeys = apiKeys
            self.metrics = metrics
            self.defaults = defaults
            self.defaultMaxTokens = defaultMaxTokens
            self.limits = limits
        }
    }

    /// The settings.
    public let configuration: Configuration
    private let loader: @Sendable () throws -> ServingEngine
    private let logger: Logger

    /// A server whose engine `load` makes once the server listens (until then every route but
    /// the page answers 503 "Loading model", as llama-server does).
    public init(configuration: Configuration, logger: Logger = Logger(label: "smolvlm.server"),
                load: @escaping @Sendable () throws -> ServingEngine) {
        self.configuration = configuration
        self.loader = load
        self.logger = logger
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully: stops taking requests,
    /// cancels the running ones (streams end with an error event), and returns, within 7 s
    /// whatever the clients do.
    ///
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let state = ServerState()
        let handlers = Handlers(configuration: configuration, state: state, logger: logger)
        let router = Router()
        // Any origin: the camera page also runs opened from a file (origin "null"). No cookies are
        // used, so "*" grants nothing beyond what the API key already decides.
        router.middlewares.add(CORSMiddleware(allowOrigin: .all,
                                              allowHeaders: [.accept, .authorization, .contentType, .origin, HTTPField.Name("X-Api-Key")!],
                                              allowMethods: [.get, .post, .options, .delete, .head],
                                              exposedHeaders: ["Retry-After"], maxAge: .seconds(600)))
        router.middlewares.add(ErrorMiddleware(limits: configuration.limits, logger: logger))
        router.middlewares.add(AuthMiddleware(keys: configuration.apiKeys))
        handlers.register(on: router)

        let app = Application(router: router,
                              configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                   serverName: nil),
                              onServerRunning: { channel in
                                  onListening(channel.localAddress?.port ?? configuration.port)
                              },
                              logger: logger)
        let engineService = EngineService(state: state, loader: loader, logger: logger)
        // Services shut down in reverse order: the engine first (cancelling generations, so
        // open responses end at once), then the HTTP server.
        var groupConfiguration = ServiceGroupConfiguration(services: [app, engineService],
                                                           gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A handler that never returns (a client that never reads its answer) must not keep
        // the process alive: after 5 s of graceful shutdown what is left is cancelled, and
        // after 2 s more the group returns anyway.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(5)
        groupConfiguration.maximumCancellationDuration = .seconds(2)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

// MARK: - Engine lifecycle

/// The engine once loaded, shared by the handlers.
final class ServerState: Sendable {
    enum Phase { case loading, ready(ServingEngine), failed(String), stopping }
    private let phase = Mutex<Phase>(.loading)

    func set(_ p: Phase) { phase.withLock { $0 = p } }

    /// True once SIGTERM/SIGINT began the shutdown.
    var isStopping: Bool {
        if case .stopping = phase.withLock({ $0 }) { true } else { false }
    }

    /// The engine, or the 503 to answer while there is none.
    func engine() throws(APIError) -> ServingEngine {
        switch phase.withLock({ $0 }) {
        case let .ready(engine): return engine
        case .loading: throw APIError(status: 503, type: "unavailable_error", message: "Loading model")
        case let .failed(reason): throw APIError(status: 503, type: "unavailable_error", message: "the model failed to load: \(reason)")
        case .stopping: throw APIError(status: 503, type: "unavailable_error", message: "the server is shutting down")
        }
    }
}

/// Loads the engine after the server listens, and shuts it down first on SIGTERM/SIGINT.
struct EngineService: Service {
    let state: ServerState
    let loader: @Sendable () throws -> ServingEngine
    let logger: Logger

    func run() async throws {
        let engine: ServingEngine
        do {
            engine = try await onThread(loader)
        } catch {
            logger.error("model failed to load: \(error)")
            state.set(.failed("\(error)"))
            throw error
        }
        state.set(.ready(engine))
        logger.info("model loaded", metadata: ["slots": "\(engine.configuration.slots)", "n_ctx": "\(engine.contextLength)"])
        // Wait for the signal, then cancel every request so the HTTP server can close promptly.
        try? await gracefulShutdown()
        state.set(.stopping)
        await onThread { engine.shutdown() }
    }
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

func onThread(_ work: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { continuation in
        Thread { work(); continuation.resume() }.start()
    }
}

// MARK: - Middleware

/// Answers every thrown error with llama-server's error object.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let limits: ServerLimits
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let api: APIError = switch error.status {
            case .notFound: .notFound
            case .contentTooLarge: APIError(status: 413, type: "invalid_request_error",
                                            message: "the request body is larger than \(limits.maxBody) bytes (--max-body)")
            default: APIError(status: Int(error.status.code), type: "invalid_request_error", message: error.body ?? "\(error.status)")
            }
            return jsonError(api)
        } catch {
            let api = APIError(error, limits: limits)
            if api.status >= 500 && api.status != 503 { logger.error("request failed: \(error)") }
            return jsonError(api)
        }
    }
}

/// `Authorization: Bearer <key>` (or `X-Api-Key`) when keys are set; the page and `/health`
/// stay public, and CORS preflights are answered before this runs.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard !keys.isEmpty, path != "/", path != "/health", path != "/v1/health", request.method != .options else {
            return try await next(request, context)
        }
        var given = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 }
        if given == nil, let name = HTTPField.Name("X-Api-Key") { given = request.headers[name] }
        guard let given, keys.contains(given) else { throw APIError.unauthorized }
        return try await next(request, context)
    }
}

func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok, headers extra: [String: String] = [:]) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
    for (k, v) in extra { if let name = HTTPField.Name(k) { headers[name] = v } }
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func jsonError(_ error: APIError) -> Response {
    var headers = error.headers
    if error.status == 408 { headers["Connection"] = "close" }
    return jsonResponse(error.body, status: HTTPResponse.Status(code: error.status), headers: headers)
}
