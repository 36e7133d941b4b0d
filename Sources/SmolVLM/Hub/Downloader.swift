import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One file's download into `destination.part`, attempt after attempt, then its checks and the
/// rename into place. See ``ModelStore`` for the contract.
struct Download: Sendable {
    let file: HubFile
    let url: URL
    let label: String
    let destination: URL
    let configuration: ModelStore.Configuration
    let progress: ModelStore.ProgressHandler?

    var partPath: URL { URL(fileURLWithPath: destination.path + ".part") }

    func run() async throws(HubError) {
        var attempts = 0
        var attemptsWithoutProgress = 0
        var everAnswered = false
        // Hugging Face puts the LFS size and SHA-256 on the redirect to its CDN; they stay
        // valid for every later attempt at the same file.
        var linkedSize: Int64?
        var linkedHash: String?
        var lastReason = ""
        while true {
            if Task.isCancelled { throw HubError.cancelled(name: label) }
            attempts += 1
            let result = try await attempt()
            if result.status != nil { everAnswered = true }
            if let size = result.linkedSize { linkedSize = size }
            if let hash = result.linkedHash { linkedHash = hash }
            if let reason = result.writeError { throw HubError.fileSystem(path: partPath.path, reason: reason) }

            switch classify(result, everAnswered: everAnswered) {
            case let .fail(error):
                throw error
            case .complete:
                try finish(result, linkedSize: linkedSize, linkedHash: linkedHash)
                return
            case let .retry(reason, restart):
                lastReason = reason
                if restart { try? FileManager.default.removeItem(at: partPath) }
            }
            attemptsWithoutProgress = result.received > 0 ? 0 : attemptsWithoutProgress + 1
            if attemptsWithoutProgress >= configuration.maxAttemptsWithoutProgress || attempts >= configuration.maxAttempts {
                throw HubError.connectionLost(name: label, url: url.absoluteString, attempts: attempts, reason: lastReason)
            }
            let delay = configuration.retryDelay * Double(max(1, attemptsWithoutProgress))
            if delay > 0 { try? await Task.sleep(for: .milliseconds(Int64(delay * 1000))) }
        }
    }

    private enum Verdict {
        case complete
        case retry(String, restart: Bool)
        case fail(HubError)
    }

    private func classify(_ r: AttemptResult, everAnswered: Bool) -> Verdict {
        let where_ = url.absoluteString
        if let status = r.status, !(200..<300).contains(status) {
            switch status {
            case 404: return .fail(.notFound(name: label, url: where_))
            case 401, 403: return .fail(.unauthorized(name: label, url: where_, status: status))
            // The .part is at least as long as the file (a finished download that was never
            // renamed, or a different file): start over rather than trust it.
            case 416: return .retry("HTTP 416 for the resumed range", restart: true)
            case 408, 429, 500...599: return .retry("HTTP \(status)", restart: false)
            default: return .fail(.httpStatus(name: label, url: where_, status: status))
            }
        }
        if r.rangeMismatch { return .retry("the server resumed at the wrong offset", restart: true) }
        if let error = r.error {
            if let code = error.urlErrorCode, Self.unreachable.contains(code), !everAnswered {
                return .fail(.offline(name: label, url: where_, reason: error.reason))
            }
            if error.urlErrorCode == URLError.cancelled.rawValue, Task.isCancelled {
                return .fail(.cancelled(name: label))
            }
            return .retry(error.reason, restart: false)
        }
        guard let status = r.status, status == 200 || status == 206 else {
            return .fail(.httpStatus(name: label, url: where_, status: r.status ?? 0))
        }
        // A clean end short of the response's own Content-Length is a dropped connection
        // that the transport did not flag.
        if let length = r.contentLength, r.received < length {
            return .retry("connection closed after \(r.received) of \(length) bytes", restart: false)
        }
        return .complete
    }

    /// Size check, checksum, then the atomic rename.
    private func finish(_ r: AttemptResult, linkedSize: Int64?, linkedHash: String?) throws(HubError) {
        let size = Self.fileSize(partPath)
        let expected = linkedSize ?? r.rangeTotal ?? (r.status == 200 ? r.contentLength : nil)
        if let expected, size != expected {
            try? FileManager.default.removeItem(at: partPath)
            throw HubError.sizeMismatch(name: label, url: url.absoluteString, expected: expected, received: size)
        }
        if let want = linkedHash ?? r.etagHash {
            let got: String
            do {
                got = try SHA256.hexDigest(ofFileAt: partPath)
            } catch {
                throw HubError.fileSystem(path: partPath.path, reason: error.localizedDescription)
            }
            if got != want {
                try? FileManager.default.removeItem(at: partPath)
                throw HubError.checksumMismatch(name: label, url: url.absoluteString, expected: want, actual: got)
            }
        }
        // rename(2) replaces atomically: readers see either no file or the whole file.
        if rename(partPath.path, destination.path) != 0 {
            throw HubError.fileSystem(path: destination.path, reason: String(cString: strerror(errno)))
        }
    }

    /// Errors that, before the server has ever answered, mean it cannot be reached: retrying
    /// would only make the user wait (a timeout included: a silently dropped connection
    /// attempt costs a full timeout per try).
    private static let unreachable: Set<Int> = [
        URLError.cannotConnectToHost.rawValue, URLError.cannotFindHost.rawValue,
        URLError.dnsLookupFailed.rawValue, URLError.notConnectedToInternet.rawValue,
        URLError.timedOut.rawValue,
    ]

    static func fileSize(_ url: URL) -> Int64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// One HTTP request, resuming from the `.part`'s current size.
    private func attempt() async throws(HubError) -> AttemptResult {
        let part = partPath
        if !FileManager.default.fileExists(atPath: part.path) {
            guard FileManager.default.createFile(atPath: part.path, contents: nil) else {
                throw HubError.fileSystem(path: part.path, reason: "cannot create the file")
            }
        }
        let handle: FileHandle
        let offset: UInt64
        do {
            handle = try FileHandle(forWritingTo: part)
            offset = try handle.seekToEnd()
        } catch {
            throw HubError.fileSystem(path: part.path, reason: error.localizedDescription)
        }
        defer { try? handle.close() }

        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalAndRemoteCacheData,
                                 timeoutInterval: configuration.requestTimeout)
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        // Sizes and hashes refer to the stored bytes, so no transfer compression.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        request.setValue("swift-smolvlm", forHTTPHeaderField: "User-Agent")

        let delegate = AttemptDelegate(file: file, handle: handle, offset: Int64(offset), progress: progress)
        // A session per request: its delegate is then this request's alone (per-task
        // delegates are not available everywhere), and invalidating it frees the delegate.
        let session = Self.session(delegate: delegate, timeout: configuration.requestTimeout)
        defer { session.finishTasksAndInvalidate() }
        let task = TaskBox(session.dataTask(with: request))
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<AttemptResult, Never>) in
                delegate.start(continuation)
                task.task.resume()
            }
        } onCancel: {
            task.task.cancel()
        }
        if result.received > 0 { try? handle.synchronize() }
        return result
    }

    private static func session(delegate: AttemptDelegate, timeout: Double) -> URLSession {
        let config = URLSessionConfiguration.ephemeral
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        config.timeoutIntervalForRequest = timeout
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        return URLSession(configuration: config, delegate: delegate, delegateQueue: queue)
    }
}

/// URLSession tasks are not marked Sendable on every platform; this one is only resumed and
/// cancelled, both thread-safe operations.
private final class TaskBox: @unchecked Sendable {
    let task: URLSessionDataTask
    init(_ task: URLSessionDataTask) { self.task = task }
}

/// What one request produced.
struct AttemptResult: Sendable {
    /// The final response's status (nil when none arrived).
    var status: Int?
    var contentLength: Int64?
    /// The total from `Content-Range: bytes a-b/TOTAL`.
    var rangeTotal: Int64?
    /// A SHA-256 `ETag` on the final response.
    var etagHash: String?
    var linkedSize: Int64?
    var linkedHash: String?
    /// Bytes written by this request.
    var received: Int64 = 0
    var rangeMismatch = false
    var writeError: String?
    var error: TransportError?
}

/// The parts of a transport error the retry policy looks at (the error itself is not Sendable).
struct TransportError: Sendable {
    var urlErrorCode: Int?
    var reason: String
}

/// Receives one request's events: writes the body to the `.part`, reports progress, and
/// collects what the checks need.
final class AttemptDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private let file: HubFile
    private let handle: FileHandle
    private var offset: Int64
    private let progress: ModelStore.ProgressHandler?
    private var result = AttemptResult()
    private var total: Int64?
    private var continuation: CheckedContinuation<AttemptResult, Never>?
    private var disposition: URLSession.ResponseDisposition?
    private var finished = false

    init(file: HubFile, handle: FileHandle, offset: Int64, progress: ModelStore.ProgressHandler?) {
        self.file = file
        self.handle = handle
        self.offset = offset
        self.progress = progress
    }

    func start(_ continuation: CheckedContinuation<AttemptResult, Never>) {
        lock.withLock {
            if finished { continuation.resume(returning: result) } else { self.continuation = continuation }
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        completionHandler(received(response: response))
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        if !received(data: data, response: dataTask.response) { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(redirect(response: response, request: request))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        completed(error: error, response: task.response)
    }

    func received(response: URLResponse) -> URLSession.ResponseDisposition {
        lock.withLock { accept(response) }
    }

    /// Looks at the final response once. Reached from whichever callback comes first: the
    /// response callback, the first chunk or the completion, so that the checks hold even
    /// where a platform's delegate signatures differ and the response callback is not made.
    private func accept(_ response: URLResponse) -> URLSession.ResponseDisposition {
        if let disposition { return disposition }
        let verdict = judge(response)
        disposition = verdict
        return verdict
    }

    private func judge(_ response: URLResponse) -> URLSession.ResponseDisposition {
        guard let http = response as? HTTPURLResponse else { return .cancel }
        let headers = Headers(http)
        result.status = http.statusCode
        noteLinked(headers)
        result.contentLength = headers["content-length"].flatMap { Int64($0) }
        result.etagHash = headers["etag"].flatMap { Self.sha256(etag: $0) }
        switch http.statusCode {
        case 200:
            if offset > 0 {
                // The server ignored Range and sends the whole file: start the .part over.
                do {
                    try handle.truncate(atOffset: 0)
                } catch {
                    result.writeError = error.localizedDescription
                    return .cancel
                }
                offset = 0
            }
            total = result.linkedSize ?? result.contentLength
        case 206:
            guard let range = headers["content-range"].flatMap(Self.parseContentRange), range.start == offset else {
                result.rangeMismatch = true
                return .cancel
            }
            result.rangeTotal = range.total
            total = result.linkedSize ?? range.total
        default:
            // An error page: its status is all we need.
            return .cancel
        }
        return .allow
    }

    /// Writes a chunk; false to abandon the request.
    func received(data: Data, response: URLResponse?) -> Bool {
        let report: DownloadProgress? = lock.withLock {
            guard let response, accept(response) == .allow, result.writeError == nil else { return nil }
            do {
                try handle.write(contentsOf: data)
            } catch {
                result.writeError = error.localizedDescription
                return nil
            }
            offset += Int64(data.count)
            result.received += Int64(data.count)
            return DownloadProgress(file: file, bytesReceived: offset, totalBytes: total)
        }
        guard let report else { return false }
        progress?(report)
        return true
    }

    func redirect(response: HTTPURLResponse, request: URLRequest) -> URLRequest {
        lock.withLock {
            noteLinked(Headers(response))
            var next = request
            // Not every platform carries custom headers across a redirect.
            if offset > 0 { next.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
            next.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
            return next
        }
    }

    func completed(error: Error?, response: URLResponse?) {
        lock.withLock {
            if let response { _ = accept(response) }
            if let error {
                let ns = error as NSError
                result.error = TransportError(urlErrorCode: ns.domain == NSURLErrorDomain ? ns.code : nil,
                                              reason: ns.localizedDescription)
            }
            finished = true
            continuation?.resume(returning: result)
            continuation = nil
        }
    }

    private func noteLinked(_ headers: Headers) {
        if let size = headers["x-linked-size"].flatMap({ Int64($0) }) { result.linkedSize = size }
        if let hash = headers["x-linked-etag"].flatMap({ Self.sha256(etag: $0) }) { result.linkedHash = hash }
    }

    /// The SHA-256 in an ETag (`"<64 hex>"`, maybe weak), or nil for any other kind of ETag
    /// (git blob SHA-1s for small files, CDN-specific tags).
    static func sha256(etag: String) -> String? {
        var text = etag.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        text = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard text.utf8.count == 64, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }) else {
            return nil
        }
        return text.lowercased()
    }

    /// `bytes START-END/TOTAL` (TOTAL may be `*`).
    static func parseContentRange(_ text: String) -> (start: Int64, total: Int64?)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = trimmed.dropFirst(6)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2, let dash = halves[0].firstIndex(of: "-"),
              let start = Int64(halves[0][..<dash].trimmingCharacters(in: .whitespaces)) else { return nil }
        return (start, Int64(halves[1].trimmingCharacters(in: .whitespaces)))
    }
}

/// Response headers with case-insensitive lookup on every platform.
private struct Headers {
    private var fields: [String: String] = [:]

    init(_ response: HTTPURLResponse) {
        for (key, value) in response.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
    }

    subscript(name: String) -> String? { fields[name] }
}
