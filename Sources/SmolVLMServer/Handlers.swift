import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAIAPI
import SmolVLM

/// The routes and what they answer.
struct Handlers: Sendable {
    let configuration: OpenAIServer.Configuration
    let state: ServerState
    let logger: Logger
    let created = Int(Date().timeIntervalSince1970)

    private var limits: ServerLimits { configuration.limits }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: WebcamPage.html)))
        }
        for path in ["/health", "/v1/health"] {
            router.get(RouterPath(path)) { _, _ in
                _ = try state.engine()
                return jsonResponse(["status": "ok"])
            }
        }
        for path in ["/v1/models", "/models"] {
            router.get(RouterPath(path)) { _, _ in try models() }
        }
        for path in ["/v1/chat/completions", "/chat/completions"] {
            router.post(RouterPath(path)) { request, _ in try await chatCompletions(request) }
        }
        router.get("/props") { _, _ in try props() }
        router.post("/tokenize") { request, _ in try await tokenize(request) }
        router.post("/detokenize") { request, _ in try await detokenize(request) }
        router.post("/apply-template") { request, _ in try await applyTemplate(request) }
        router.get("/metrics") { _, _ in try metrics() }
    }

    // MARK: - Chat completions

    private func chatCompletions(_ request: Request) async throws -> Response {
        // An announced body over the limit is refused before anything is read.
        let announced = request.headers[.contentLength].flatMap { Int($0) }
        if let announced, announced > limits.maxBody { throw HTTPError(.contentTooLarge) }
        // A client that goes away cancels its generation: the handler's task is cancelled when
        // the connection's inbound side closes.
        // (The connection closes after such a response; `Connection: close` tells the client
        // not to reuse it.)
        var response = try await request.body.consumeWithCancellationOnInboundClose { body in
            let engine = try state.engine()
            let bytes = try await collect(body, announced: announced)
            let chat = try ChatRequest(json: Data(buffer: bytes), defaults: configuration.defaults,
                                       defaultMaxTokens: configuration.defaultMaxTokens)
            guard chat.images.count <= limits.maxImages else {
                throw APIError.invalidRequest("the request has \(chat.images.count) images, over the limit of \(limits.maxImages) (--max-images)")
            }
            if !chat.images.isEmpty && engine.model.vision == nil {
                throw APIError(ServingError.noVisionModel(images: chat.images.count), limits: limits)
            }
            let images = try await loadImages(chat.images)
            let submission = try engine.submit(ServingEngine.Request(messages: chat.messages, images: images, options: chat.options,
                                                                     maxTokens: chat.maxTokens, cachePrompt: chat.cachePrompt,
                                                                     streamsText: chat.stream))
            let reply = Reply(id: "chatcmpl-" + Self.randomID(), created: Int(Date().timeIntervalSince1970), model: configuration.modelID)
            let events = EventReader(submission)
            return try await withTaskCancellationHandler {
                // Errors before generation starts (an image that fails to encode) are still a plain error response.
                let first = try await events.next()
                guard case .started? = first else {
                    // Finished before it started: cancelled, which only shutdown does to a waiting request.
                    throw APIError(status: 503, type: "unavailable_error",
                                   message: "the request was cancelled before it started: the server is shutting down")
                }
                if chat.stream { return stream(events, reply: reply, includeUsage: chat.includeUsage) }
                while let event = try await events.next() {
                    switch event {
                    case .text: break
                    case let .finished(c):
                        if c.stopReason == .cancelled, state.isStopping {
                            throw APIError(status: 503, type: "unavailable_error", message: "the server is shutting down")
                        }
                        return jsonResponse(reply.completion(text: c.text, completion: c))
                    case .started: break
                    }
                }
                throw APIError(status: 500, type: "server_error", message: "the generation ended without a result")
            } onCancel: {
                submission.cancel()
            }
        }
        response.headers[.connection] = "close"
        return response
    }

    /// The server-sent events of a streamed answer: role, content pieces, the finish chunk with
    /// timings, the usage chunk when asked for, `[DONE]`. A failed write (the client went away)
    /// cancels the generation.
    private func stream(_ events: EventReader, reply: Reply, includeUsage: Bool) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        let body = ResponseBody { writer in
            func send(_ object: Any) async throws {
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data()
                var buffer = ByteBuffer(string: "data: ")
                buffer.writeBytes(data)
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            do {
                try await send(reply.chunk(delta: ["role": "assistant", "content": NSNull()]))
                while let event = try await events.next() {
                    switch event {
                    case let .text(piece):
                        try await send(reply.chunk(delta: ["content": piece]))
                    case let .finished(c):
                        if c.stopReason == .cancelled, state.isStopping {
                            throw APIError(status: 503, type: "unavailable_error", message: "the server is shutting down; the answer was cut short")
                        } else {
                            var last = reply.chunk(delta: [:], finishReason: Reply.finishReason(c.stopReason))
                            last["timings"] = Reply.timings(c)
                            try await send(last)
                            if includeUsage {
                                var usage = reply.chunk(delta: nil)
                                usage["usage"] = Reply.usage(c)
                                try await send(usage)
                            }
                        }
                    case .started: break
                    }
                }
            } catch {
                // The client is gone (a write failed) or the engine failed mid-answer: the error
                // is the last event, as llama-server sends it.
                events.cancel()
                try? await send(APIError(error, limits: limits).body)
                try? await writer.finish(nil)
                return
            }
            events.cancel()
            try? await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The request body, within the size limit and the time limit. A body over the limit is
    /// still read to its end (and dropped): the connection can only answer once it is.
    private func collect(_ body: RequestBody, announced: Int?) async throws -> ByteBuffer {
        if let announced, announced > limits.maxBody { throw HTTPError(.contentTooLarge) }
        let limit = limits.maxBody, timeout = limits.bodyTimeout
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var collected = ByteBuffer()
                var over = false
                for try await var part in body {
                    if over || collected.readableBytes + part.readableBytes > limit {
                        over = true
                        continue
                    }
                    collected.writeBuffer(&part)
                }
                if over { throw HTTPError(.contentTooLarge) }
                return collected
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw APIError(status: 408, type: "timeout_error",
                               message: "the request body did not arrive within \(Int(timeout)) s (--body-timeout)")
            }
            return buffer
        }
    }

    /// Decodes (or downloads, then decodes) each image and names it by its bytes' SHA-256.
    private func loadImages(_ sources: [ChatRequest.ImageSource]) async throws -> [ServingEngine.Request.Image] {
        let decoder = ImageDecoder(maxPixels: limits.maxImagePixels)
        let fetcher = ImageFetcher(maxBytes: limits.maxDownload, timeout: limits.downloadTimeout)
        var images: [ServingEngine.Request.Image] = []
        for (i, source) in sources.enumerated() {
            let data: Data
            switch source {
            case let .bytes(d): data = d
            case let .url(url): data = try await fetcher.fetch(url)
            }
            do {
                images.append(.init(id: ImageID(contentsOf: data), pixels: try decoder.decode(data: data)))
            } catch let ImageError.tooLarge(w, h, limit) {
                throw APIError.invalidRequest("image \(i + 1) is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit) pixels (--max-image-pixels)")
            } catch {
                throw APIError.invalidRequest("Failed to load image \(i + 1): \(error)")
            }
        }
        return images
    }

    // MARK: - Other routes

    private func models() throws -> Response {
        let engine = try state.engine()
        let c = engine.model.text.configuration
        return jsonResponse([
            "object": "list",
            "data": [[
                "id": configuration.modelID, "object": "model", "created": created, "owned_by": "smolvlm",
                "meta": ["n_vocab": c.vocabularySize, "n_ctx_train": c.contextLength, "n_embd": c.embeddingLength,
                         "size": engine.model.text.file.fileSize],
            ] as [String: Any]],
        ])
    }

    private func props() throws -> Response {
        let engine = try state.engine()
        let d = configuration.defaults
        let tokenizer = engine.model.tokenizer
        return jsonResponse([
            "default_generation_settings": [
                "n_ctx": engine.contextLength,
                "params": [
                    "n_predict": configuration.defaultMaxTokens ?? -1, "temperature": d.temperature, "top_k": d.topK,
                    "top_p": d.topP, "min_p": d.minP, "repeat_penalty": d.repetitionPenalty, "repeat_last_n": d.repetitionWindow,
                    "presence_penalty": d.presencePenalty, "frequency_penalty": d.frequencyPenalty,
                    "seed": d.seed.map { Int(truncatingIfNeeded: $0) } ?? -1, "stop": d.stop,
                ] as [String: Any],
            ] as [String: Any],
            "n_ctx": engine.contextLength,
            "total_slots": engine.configuration.slots,
            "model_alias": configuration.modelID,
            "model_path": configuration.modelPath,
            "modalities": ["vision": engine.model.vision != nil, "audio": false],
            "chat_template": engine.model.chatTemplate.rawValue,
            "bos_token": tokenizer.bos.flatMap { tokenizer.text(of: $0) } ?? "",
            "eos_token": tokenizer.eos.flatMap { tokenizer.text(of: $0) } ?? "",
            "build_info": "smolvlm",
        ])
    }

    private func tokenize(_ request: Request) async throws -> Response {
        let engine = try state.engine()
        let body = try await jsonObject(request)
        let content = try body.string("content") ?? ""
        let tokenizer = engine.model.tokenizer
        let tokens = tokenizer.encode(content, addSpecial: try body.bool("add_special") ?? false,
                                      parseSpecial: try body.bool("parse_special") ?? true)
        guard try body.bool("with_pieces") ?? false else { return jsonResponse(["tokens": tokens]) }
        return jsonResponse(["tokens": tokens.map { id -> [String: Any] in
            let bytes = tokenizer.piece(for: id, special: true)
            // As llama-server: the piece as text when it is valid UTF-8, else its bytes.
            let piece: Any = String(validating: bytes, as: UTF8.self) ?? bytes.map(Int.init)
            return ["id": id, "piece": piece]
        }])
    }

    private func detokenize(_ request: Request) async throws -> Response {
        let engine = try state.engine()
        let body = try await jsonObject(request)
        let raw = try body.array("tokens") ?? []
        let vocab = engine.model.tokenizer.vocabularySize
        let tokens = try raw.map { v -> Int in
            guard let n = v as? Int, !JSONFields.isBoolean(v), (0 ..< vocab).contains(n) else {
                throw APIError.invalidRequest("'tokens' must be token ids in 0..<\(vocab)")
            }
            return n
        }
        return jsonResponse(["content": engine.model.tokenizer.decode(tokens, special: true)])
    }

    private func applyTemplate(_ request: Request) async throws -> Response {
        let engine = try state.engine()
        let data = Data(buffer: try await collect(request.body, announced: nil))
        let chat = try ChatRequest(json: data, defaults: configuration.defaults, defaultMaxTokens: nil)
        return jsonResponse(["prompt": engine.prompt(chat.messages)])
    }

    private func metrics() throws -> Response {
        guard configuration.metrics else {
            throw APIError(status: 501, type: "not_supported_error", message: "This server does not support metrics endpoint. Start it with `--metrics`")
        }
        let engine = try state.engine()
        let text = PrometheusText.render(engine.statistics, slots: engine.configuration.slots)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func jsonObject(_ request: Request) async throws -> JSONFields {
        let data = Data(buffer: try await collect(request.body, announced: request.headers[.contentLength].flatMap { Int($0) }))
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw APIError.invalidRequest("the request body must be a JSON object")
        }
        return JSONFields(object)
    }

    static func randomID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0 ..< 32).map { _ in alphabet.randomElement()! })
    }
}

/// Reads a submission's events from one task at a time (the handler, then the response body).
final class EventReader: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<ServingEngine.Event, any Error>.AsyncIterator
    private let submission: ServingEngine.Submission

    init(_ submission: ServingEngine.Submission) {
        self.submission = submission
        iterator = submission.events.makeAsyncIterator()
    }

    func next() async throws -> ServingEngine.Event? { try await iterator.next() }
    func cancel() { submission.cancel() }
}

/// The JSON shapes of an answer, as llama-server writes them.
struct Reply: Sendable {
    let id: String
    let created: Int
    let model: String

    func completion(text: String, completion c: ServingEngine.Completion) -> [String: Any] {
        [
            "id": id, "object": "chat.completion", "created": created, "model": model, "system_fingerprint": "smolvlm",
            "choices": [["index": 0, "finish_reason": Self.finishReason(c.stopReason),
                         "message": ["role": "assistant", "content": text]] as [String: Any]],
            "usage": Self.usage(c),
            "timings": Self.timings(c),
        ]
    }

    func chunk(delta: [String: Any]?, finishReason: String? = nil) -> [String: Any] {
        var out: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                  "system_fingerprint": "smolvlm"]
        if let delta {
            out["choices"] = [["index": 0, "delta": delta, "finish_reason": finishReason ?? NSNull()] as [String: Any]]
        } else {
            out["choices"] = [Any]()
        }
        return out
    }

    static func finishReason(_ stop: StopReason) -> String {
        switch stop {
        case .maxTokens, .contextFull: "length"
        case .endOfGeneration, .stopString, .cancelled: "stop"
        }
    }

    static func usage(_ c: ServingEngine.Completion) -> [String: Any] {
        ["prompt_tokens": c.promptPositions, "completion_tokens": c.generatedTokens,
         "total_tokens": c.promptPositions + c.generatedTokens,
         "prompt_tokens_details": ["cached_tokens": c.cachedPositions]]
    }

    static func timings(_ c: ServingEngine.Completion) -> [String: Any] {
        let promptN = c.promptPositions - c.cachedPositions
        let promptMS = c.promptSeconds * 1000, predictedMS = c.decodeSeconds * 1000
        return [
            "cache_n": c.cachedPositions, "prompt_n": promptN, "prompt_ms": promptMS,
            "prompt_per_token_ms": promptN > 0 ? promptMS / Double(promptN) : 0,
            "prompt_per_second": promptMS > 0 ? Double(promptN) / c.promptSeconds : 0,
            "predicted_n": c.generatedTokens, "predicted_ms": predictedMS,
            "predicted_per_token_ms": c.generatedTokens > 0 ? predictedMS / Double(c.generatedTokens) : 0,
            "predicted_per_second": c.decodeSeconds > 0 ? Double(c.generatedTokens) / c.decodeSeconds : 0,
        ]
    }
}

/// `/metrics` in Prometheus' text format: llama-server's `llamacpp:` names where it has one
/// (dashboards built for it keep working), `smolvlm_` for what it lacks.
enum PrometheusText {
    static func render(_ s: ServingEngine.Statistics, slots: Int) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("llamacpp:prompt_tokens_total", "counter", "Number of prompt tokens processed.", Double(s.promptPositionsEvaluated))
        metric("llamacpp:prompt_seconds_total", "counter", "Prompt process time", s.promptSeconds)
        metric("llamacpp:tokens_predicted_total", "counter", "Number of generation tokens processed.", Double(s.tokensGenerated))
        metric("llamacpp:tokens_predicted_seconds_total", "counter", "Predict process time", s.decodeSeconds)
        metric("llamacpp:requests_processing", "gauge", "Number of requests processing.", Double(s.active))
        metric("llamacpp:requests_deferred", "gauge", "Number of requests deferred.", Double(s.queued))
        metric("smolvlm_requests_finished_total", "counter", "Requests answered (any stop reason).", Double(s.requestsFinished))
        metric("smolvlm_requests_refused_total", "counter", "Requests refused with 503 because the queue was full.", Double(s.requestsRefused))
        metric("smolvlm_prompt_tokens_cached_total", "counter", "Prompt positions reused from a slot's cache.", Double(s.promptPositionsReused))
        metric("smolvlm_image_cache_hits_total", "counter", "Images whose embeddings came from the image cache.", Double(s.imageCacheHits))
        metric("smolvlm_image_cache_misses_total", "counter", "Images encoded by the vision model.", Double(s.imageCacheMisses))
        metric("smolvlm_slots", "gauge", "Slots (requests that can generate at once).", Double(slots))
        return out
    }
}
