import Foundation
import OpenAIAPI
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads an image given by an http(s) URL, as llama-server does for `image_url`, with a
/// size cap (checked against the announced length and again as bytes arrive) and a timeout.
struct ImageFetcher: Sendable {
    var maxBytes: Int
    var timeout: Double

    /// The body of a 2xx answer.
    ///
    /// - Throws: ``APIError`` 400 for a failed download, a non-2xx status, or a body over the cap.
    func fetch(_ url: URL) async throws -> Data {
        let delegate = CappedDownload(maxBytes: maxBytes)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            delegate.start(session.dataTask(with: url), continuation: continuation, url: url)
        }
    }
}

/// Collects a download's bytes and cancels it once they pass the cap.
private final class CappedDownload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let maxBytes: Int
    private let lock = NSLock()
    private var data = Data()
    private var continuation: CheckedContinuation<Data, any Error>?
    private var failure: APIError?
    private var url: URL?

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    func start(_ task: URLSessionDataTask, continuation: CheckedContinuation<Data, any Error>, url: URL) {
        lock.withLock {
            self.continuation = continuation
            self.url = url
        }
        task.resume()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        if let http = response as? HTTPURLResponse, !(200 ..< 300).contains(http.statusCode) {
            fail(.invalidRequest("Failed to download image: \(url?.absoluteString ?? "") answered HTTP \(http.statusCode)"))
            completionHandler(.cancel)
            return
        }
        if response.expectedContentLength > Int64(maxBytes) {
            fail(tooLarge())
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive chunk: Data) {
        let over = lock.withLock { () -> Bool in
            data.append(chunk)
            return data.count > maxBytes
        }
        if over {
            fail(tooLarge())
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (continuation, failure, data) = lock.withLock { () -> (CheckedContinuation<Data, any Error>?, APIError?, Data) in
            defer { self.continuation = nil }
            return (self.continuation, self.failure, self.data)
        }
        guard let continuation else { return }
        if let failure {
            continuation.resume(throwing: failure)
        } else if let error {
            continuation.resume(throwing: APIError.invalidRequest("Failed to download image from \(url?.absoluteString ?? ""): \(error.localizedDescription)"))
        } else {
            continuation.resume(returning: data)
        }
    }

    private func tooLarge() -> APIError {
        .invalidRequest("Failed to download image: it is larger than \(maxBytes) bytes")
    }

    private func fail(_ error: APIError) {
        lock.withLock { if failure == nil { failure = error } }
    }
}
