import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// How far a download has got, reported to the progress handler of ``ModelStore``.
public struct DownloadProgress: Sendable, Hashable {
    /// The file being fetched.
    public var file: HubFile
    /// Bytes on disk so far, including those of an earlier, resumed attempt.
    public var bytesReceived: Int64
    /// The file's size, when the server has said it.
    public var totalBytes: Int64?

    /// Creates a progress report.
    public init(file: HubFile, bytesReceived: Int64, totalBytes: Int64?) {
        self.file = file
        self.bytesReceived = bytesReceived
        self.totalBytes = totalBytes
    }

    /// `bytesReceived / totalBytes` in 0...1, or nil while the size is unknown.
    public var fractionCompleted: Double? {
        guard let totalBytes, totalBytes > 0 else { return nil }
        return min(1, Double(bytesReceived) / Double(totalBytes))
    }
}

/// Finds model files: local paths as they are, known names (``ModelReference``) in a cache
/// directory, downloading them from Hugging Face the first time.
///
/// A download goes to `FILE.part` next to its final place, resumes from the `.part`'s size
/// with an HTTP `Range` request (after a dropped connection, or in a later run), checks the
/// size the server declared (`Content-Length`, `Content-Range`, Hugging Face's
/// `X-Linked-Size`) and the SHA-256 it published (`X-Linked-ETag`, or an `ETag` that is a
/// SHA-256), and only then renames the file into place. So a file at its final path is always
/// complete, and finding it there means no network at all.
///
/// Concurrent callers (tasks or processes) fetching the same file serialize on an exclusive
/// `flock` of `FILE.lock`: the first downloads, the others wait and then find the complete file.
/// The lock file stays behind (removing it would race with a waiter that has it open).
///
/// Environment: `SMOLVLM_CACHE` (the cache directory; default `$XDG_CACHE_HOME/smolvlm`, else
/// `~/.cache/smolvlm`), `HF_ENDPOINT` (the hub's base URL, default `https://huggingface.co`,
/// as in `huggingface_hub`), `HF_HUB_OFFLINE=1` (never touch the network).
public struct ModelStore: Sendable {
    /// Called with every chunk written; from a background thread, so keep it short.
    public typealias ProgressHandler = @Sendable (DownloadProgress) -> Void

    /// Timeouts and retry policy.
    public struct Configuration: Sendable, Hashable {
        /// Seconds without any data before a request is abandoned (and retried).
        public var requestTimeout: Double
        /// Attempts in a row that may fail without adding a byte before giving up; an attempt
        /// that made progress resets the count, so a long download over a flaky link finishes.
        public var maxAttemptsWithoutProgress: Int
        /// A hard cap on attempts for one file, whatever the progress.
        public var maxAttempts: Int
        /// Seconds before retry `n` is `retryDelay * n`.
        public var retryDelay: Double
        /// Seconds to wait for another download of the same file to finish.
        public var lockTimeout: Double
        /// Never use the network: known names resolve only from the cache.
        public var offline: Bool
        /// Use a copy llama.cpp or the Hugging Face CLI already downloaded (their caches, found
        /// from the environment as they find them) instead of downloading the file again.
        public var reusesOtherCaches: Bool

        /// The defaults: 60 s idle timeout, 5 tries without progress, 1 s back-off, 1 h lock wait.
        public init(requestTimeout: Double = 60, maxAttemptsWithoutProgress: Int = 5, maxAttempts: Int = 1000,
                    retryDelay: Double = 1, lockTimeout: Double = 3600, offline: Bool = false, reusesOtherCaches: Bool = true) {
            self.reusesOtherCaches = reusesOtherCaches
            self.requestTimeout = requestTimeout
            self.maxAttemptsWithoutProgress = maxAttemptsWithoutProgress
            self.maxAttempts = maxAttempts
            self.retryDelay = retryDelay
            self.lockTimeout = lockTimeout
            self.offline = offline
        }
    }

    /// Where downloaded files live: `{cacheDirectory}/{owner}/{repo}/{filename}`.
    public var cacheDirectory: URL
    /// The hub's base URL.
    public var endpoint: URL
    /// Timeouts and retry policy.
    public var configuration: Configuration
    /// llama.cpp's and the Hugging Face hub's caches, as the environment places them.
    let otherCaches: ForeignCaches

    /// A store; what is not given comes from the environment (see the type's documentation).
    public init(cacheDirectory: URL? = nil, endpoint: URL? = nil, configuration: Configuration? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.cacheDirectory = cacheDirectory ?? Self.defaultCacheDirectory(environment: environment)
        self.endpoint = endpoint ?? Self.defaultEndpoint(environment: environment)
        var config = configuration ?? Configuration()
        if configuration == nil, let flag = environment["HF_HUB_OFFLINE"], ["1", "true", "yes", "on"].contains(flag.lowercased()) {
            config.offline = true
        }
        self.configuration = config
        otherCaches = ForeignCaches(environment: environment)
    }

    /// `$SMOLVLM_CACHE`, else `$XDG_CACHE_HOME/smolvlm`, else `~/.cache/smolvlm`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["SMOLVLM_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir, isDirectory: true) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("smolvlm", isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home, isDirectory: true)
            .appendingPathComponent(".cache", isDirectory: true).appendingPathComponent("smolvlm", isDirectory: true)
    }

    /// `$HF_ENDPOINT`, else `https://huggingface.co`.
    public static func defaultEndpoint(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let text = environment["HF_ENDPOINT"], !text.isEmpty, let url = URL(string: text), url.scheme != nil { return url }
        return URL(string: "https://huggingface.co")!  // a literal: cannot fail
    }

    /// Where `file` is (or will be) in the cache.
    public func cachePath(for file: HubFile) -> URL {
        var url = cacheDirectory
        for part in file.repository.split(separator: "/") { url.appendPathComponent(String(part), isDirectory: true) }
        if file.revision != "main" { url.appendPathComponent("@" + file.revision, isDirectory: true) }
        for part in file.filename.split(separator: "/") { url.appendPathComponent(String(part)) }
        return url
    }

    /// The cached copy of `file` if it is complete (a final path only ever holds complete files):
    /// in this store's cache, else (``Configuration/reusesOtherCaches``) where llama.cpp or the
    /// Hugging Face CLI put it.
    public func cachedFile(_ file: HubFile) -> URL? {
        let path = cachePath(for: file)
        if FileManager.default.fileExists(atPath: path.path) { return path }
        return configuration.reusesOtherCaches ? otherCaches.find(file) : nil
    }

    /// The text model file a reference names: the path itself, or the cached (downloaded if
    /// needed) model file of a known release.
    public func resolveModel(_ reference: ModelReference, progress: ProgressHandler? = nil) async throws(HubError) -> URL {
        switch reference {
        case let .file(url): return url
        case .known:
            guard let file = reference.modelFile else { throw HubError.unknownModel(reference.description, known: []) }
            return try await fetch(file, name: reference.description, progress: progress)
        }
    }

    /// The vision projector a reference names: the path itself, or the cached (downloaded if
    /// needed) `mmproj-…` file of a known release.
    public func resolveMmproj(_ reference: ModelReference, progress: ProgressHandler? = nil) async throws(HubError) -> URL {
        switch reference {
        case let .file(url): return url
        case .known:
            guard let file = reference.mmprojFile else { throw HubError.unknownModel(reference.description, known: []) }
            return try await fetch(file, name: reference.description + " (mmproj)", progress: progress)
        }
    }

    /// Both files of a vision model: `mmproj` defaults to the projector of the same release when
    /// `model` is a known name (a path needs an explicit `mmproj`).
    public func resolve(model: ModelReference, mmproj: ModelReference? = nil,
                        progress: ProgressHandler? = nil) async throws(HubError) -> (model: URL, mmproj: URL) {
        let projector: ModelReference
        if let mmproj {
            projector = mmproj
        } else if case .known = model {
            projector = model
        } else {
            throw HubError.missingMmproj(model: model.description)
        }
        let modelURL = try await resolveModel(model, progress: progress)
        let mmprojURL = try await resolveMmproj(projector, progress: progress)
        return (modelURL, mmprojURL)
    }

    /// The cached copy of `file`, downloading it first if it is not complete in the cache.
    /// `name` is how errors refer to it (default: the file name).
    public func fetch(_ file: HubFile, name: String? = nil, progress: ProgressHandler? = nil) async throws(HubError) -> URL {
        let destination = cachePath(for: file)
        if let cached = cachedFile(file) { return cached }
        let label = name.map { "\($0) (\(file.filename))" } ?? file.filename
        let url = file.url(endpoint: endpoint)
        if configuration.offline {
            throw HubError.offline(name: label, url: url.absoluteString, reason: "HF_HUB_OFFLINE is set and the file is not in \(cacheDirectory.path)")
        }
        let directory = destination.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw HubError.fileSystem(path: directory.path, reason: error.localizedDescription)
        }
        let lock = try await FileLock.acquire(path: destination.path + ".lock", timeout: configuration.lockTimeout)
        defer { lock.release() }
        // Whoever held the lock before us may have finished the job.
        if FileManager.default.fileExists(atPath: destination.path) { return destination }
        let download = Download(file: file, url: url, label: label, destination: destination,
                                configuration: configuration, progress: progress)
        try await download.run()
        return destination
    }
}

/// An exclusive advisory lock on a file (`flock`), polled so that waiting never blocks a thread.
struct FileLock: Sendable {
    private let fd: Int32

    static func acquire(path: String, timeout: Double) async throws(HubError) -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw HubError.fileSystem(path: path, reason: String(cString: strerror(errno))) }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(max(0, timeout) * 1000))
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                close(fd)
                throw HubError.fileSystem(path: path, reason: String(cString: strerror(err)))
            }
            if clock.now >= deadline || Task.isCancelled {
                close(fd)
                throw HubError.lockTimeout(path: path, seconds: timeout)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return FileLock(fd: fd)
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
