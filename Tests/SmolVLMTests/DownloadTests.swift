import Foundation
import SmolVLM
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("SHA-256")
struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func knownVectors() {
        // FIPS 180-4 / NIST CAVP examples.
        #expect(Self.hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex(SHA256.hash(Array(
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8)))
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(Self.hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInAnyPiecesGivesTheSameDigest() {
        var rng = SplitMix64(seed: 7)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = SHA256.hash(data)
        // Every block-boundary case: pieces shorter than, equal to and longer than 64 bytes.
        for step in [1, 3, 55, 56, 63, 64, 65, 127, 128, 999] {
            var h = SHA256()
            var i = 0
            while i < data.count {
                h.update(data[i..<min(data.count, i + step)])
                i += step
            }
            #expect(h.finalize() == whole, "pieces of \(step)")
        }
        // Padding edge lengths.
        for n in [55, 56, 57, 63, 64, 65, 119, 120] {
            var h = SHA256()
            h.update(data.prefix(n))
            #expect(h.finalize() == SHA256.hash(Array(data.prefix(n))))
        }
    }

    @Test func fileDigestMatches() throws {
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("x.bin")
        let bytes = seededBytes(3 << 20, seed: 1)
        try Data(bytes).write(to: url)
        #expect(try SHA256.hexDigest(ofFileAt: url) == Self.hex(SHA256.hash(bytes)))
    }
}

@Suite("Model names")
struct ModelReferenceTests {
    @Test func namesMapToTheOfficialFiles() throws {
        let expected: [(String, String, String, String)] = [
            ("smolvlm-256m", "ggml-org/SmolVLM-256M-Instruct-GGUF", "SmolVLM-256M-Instruct-Q8_0.gguf", "mmproj-SmolVLM-256M-Instruct-Q8_0.gguf"),
            ("smolvlm-500m:q8_0", "ggml-org/SmolVLM-500M-Instruct-GGUF", "SmolVLM-500M-Instruct-Q8_0.gguf", "mmproj-SmolVLM-500M-Instruct-Q8_0.gguf"),
            ("SmolVLM2-256M:F16", "ggml-org/SmolVLM2-256M-Video-Instruct-GGUF", "SmolVLM2-256M-Video-Instruct-f16.gguf",
             "mmproj-SmolVLM2-256M-Video-Instruct-f16.gguf"),
            ("smolvlm2-500m", "ggml-org/SmolVLM2-500M-Video-Instruct-GGUF", "SmolVLM2-500M-Video-Instruct-Q8_0.gguf",
             "mmproj-SmolVLM2-500M-Video-Instruct-Q8_0.gguf"),
        ]
        for (name, repo, model, mmproj) in expected {
            let ref = try ModelReference(parsing: name)
            #expect(ref.modelFile == HubFile(repository: repo, filename: model), "\(name)")
            #expect(ref.mmprojFile == HubFile(repository: repo, filename: mmproj), "\(name)")
        }
        #expect(try ModelReference(parsing: "smolvlm-256m") == .known(.smolvlm256m, .q8_0))
        #expect(try ModelReference(parsing: "smolvlm-256m").description == "smolvlm-256m:q8_0")
        let url = try #require(try ModelReference(parsing: "smolvlm-256m").modelFile).url(endpoint: URL(string: "https://huggingface.co")!)
        #expect(url.absoluteString == "https://huggingface.co/ggml-org/SmolVLM-256M-Instruct-GGUF/resolve/main/SmolVLM-256M-Instruct-Q8_0.gguf")
    }

    @Test func pathsAndMistakes() throws {
        let dir = try TemporaryDirectory()
        // An existing file wins even when its name is a model name.
        let shadow = dir.url.appendingPathComponent("smolvlm-256m")
        try Data([1]).write(to: shadow)
        #expect(try ModelReference(parsing: shadow.path) == .file(shadow))
        #expect(try ModelReference(parsing: "models/missing.gguf") == .file(URL(fileURLWithPath: "models/missing.gguf")))
        #expect(try ModelReference(parsing: "missing.gguf") == .file(URL(fileURLWithPath: "missing.gguf")))
        #expect(throws: HubError.unknownQuantization(model: "smolvlm-256m", quantization: "q4_k", available: ["q8_0", "f16"])) {
            try ModelReference(parsing: "smolvlm-256m:q4_k")
        }
        do {
            _ = try ModelReference(parsing: "smolvlm-1b")
            Issue.record("a typo of a name must be refused")
        } catch {
            #expect(error.description.contains("smolvlm2-500m"), "the message lists the known names")
        }
    }

    @Test func cacheDirectoryAndEndpointComeFromTheEnvironment() {
        #expect(ModelStore.defaultCacheDirectory(environment: ["SMOLVLM_CACHE": "/c", "XDG_CACHE_HOME": "/x"]).path == "/c")
        #expect(ModelStore.defaultCacheDirectory(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]).path == "/x/smolvlm")
        #expect(ModelStore.defaultCacheDirectory(environment: ["HOME": "/h"]).path == "/h/.cache/smolvlm")
        #expect(ModelStore.defaultEndpoint(environment: [:]).absoluteString == "https://huggingface.co")
        #expect(ModelStore.defaultEndpoint(environment: ["HF_ENDPOINT": "http://127.0.0.1:9"]).absoluteString == "http://127.0.0.1:9")
        let store = ModelStore(cacheDirectory: URL(fileURLWithPath: "/c"), environment: [:])
        let file = HubFile(repository: "ggml-org/SmolVLM-256M-Instruct-GGUF", filename: "SmolVLM-256M-Instruct-Q8_0.gguf")
        #expect(store.cachePath(for: file).path == "/c/ggml-org/SmolVLM-256M-Instruct-GGUF/SmolVLM-256M-Instruct-Q8_0.gguf")
    }
}

/// Every download scenario against a loopback server. Short timeouts and retry delays so a
/// failure is reported in seconds; the suite's time limit is the last line of defence.
@Suite("Model download", .timeLimit(.minutes(1)))
struct DownloadTests {
    static let repo = "ggml-org/SmolVLM-256M-Instruct-GGUF"
    static let name = "SmolVLM-256M-Instruct-Q8_0.gguf"
    static let path = "/\(repo)/resolve/main/\(name)"
    static let file = HubFile(repository: repo, filename: name)
    static let data = seededBytes(3 << 20 + 12345, seed: 42)
    static let sha = SHA256Tests.hex(SHA256.hash(data))

    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }

    func store(_ endpoint: URL, maxAttemptsWithoutProgress: Int = 3) -> ModelStore {
        ModelStore(cacheDirectory: dir.url, endpoint: endpoint,
                   configuration: .init(requestTimeout: 5, maxAttemptsWithoutProgress: maxAttemptsWithoutProgress,
                                        maxAttempts: 50, retryDelay: 0.01, lockTimeout: 20, reusesOtherCaches: false))
    }

    func contents(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
    var part: URL { URL(fileURLWithPath: store(URL(string: "http://127.0.0.1:1")!).cachePath(for: Self.file).path + ".part") }

    @Test func downloadsOnceThenServesFromTheCache() async throws {
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: Self.sha, linkedSize: Self.data.count)])
        let reports = ProgressLog()
        let url = try await store(server.endpoint).fetch(Self.file, progress: reports.record)
        #expect(try contents(url) == Self.data)
        #expect(url == store(server.endpoint).cachePath(for: Self.file))
        #expect(!FileManager.default.fileExists(atPath: part.path), "the .part was renamed into place")
        #expect(server.requests == [.init(path: Self.path, range: nil)])
        let events = reports.events
        #expect(!events.isEmpty)
        #expect(events.last?.bytesReceived == Int64(Self.data.count) && events.last?.totalBytes == Int64(Self.data.count))
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.bytesReceived < $1.bytesReceived }, "progress only grows")

        // Second time: no request at all, even with the server gone.
        server.stop()
        let again = try await store(server.endpoint).fetch(Self.file)
        #expect(again == url)
        #expect(server.requests.count == 1)
    }

    @Test func aCachedFileNeedsNoNetwork() async throws {
        let s = store(URL(string: "http://127.0.0.1:\(try TestHTTPServer.closedPort())")!)
        let target = s.cachePath(for: Self.file)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: target)
        #expect(try await s.fetch(Self.file) == target)
        let pair = try await s.resolve(model: try ModelReference(parsing: "smolvlm-256m"),
                                       mmproj: .file(URL(fileURLWithPath: "/elsewhere/mmproj.gguf")))
        #expect(pair.model == target && pair.mmproj.path == "/elsewhere/mmproj.gguf")
    }

    @Test func resumesAfterDroppedConnections() async throws {
        // Every response stops after 1 MiB: four requests, each resuming where the last stopped.
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: Self.sha, dropAfter: 1 << 20)])
        let url = try await store(server.endpoint).fetch(Self.file)
        #expect(try contents(url) == Self.data)
        let ranges = server.requests.map(\.range)
        #expect(ranges == [nil, "bytes=1048576-", "bytes=2097152-", "bytes=3145728-"])
    }

    @Test func resumesAPartialFileFromAnEarlierRun() async throws {
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, etag: Self.sha)])
        try FileManager.default.createDirectory(at: part.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.data.prefix(1_000_000)).write(to: part)
        let url = try await store(server.endpoint).fetch(Self.file)
        #expect(try contents(url) == Self.data)
        #expect(server.requests.map(\.range) == ["bytes=1000000-"])
    }

    @Test func restartsWhenTheServerIgnoresRange() async throws {
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: Self.sha, ignoreRange: true)])
        try FileManager.default.createDirectory(at: part.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Garbage: appending the full body after it would give a wrong file.
        try Data(repeating: 0xEE, count: 500_000).write(to: part)
        let url = try await store(server.endpoint).fetch(Self.file)
        #expect(try contents(url) == Self.data)
        #expect(server.requests.map(\.range) == ["bytes=500000-"])
    }

    @Test func startsOverWhenThePartialFileIsTooLong() async throws {
        // A .part longer than the file: the server answers 416 to the resumed range.
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: Self.sha)])
        try FileManager.default.createDirectory(at: part.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.data + [1, 2, 3]).write(to: part)
        let url = try await store(server.endpoint).fetch(Self.file)
        #expect(try contents(url) == Self.data)
        #expect(server.requests.map(\.range) == ["bytes=\(Self.data.count + 3)-", nil])
    }

    @Test func waitsForAnotherDownloaderOnlyAsLongAsAllowed() async throws {
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data)])
        let target = store(server.endpoint).cachePath(for: Self.file)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Another process's download, as far as the store can tell.
        let fd = open(target.path + ".lock", O_RDWR | O_CREAT, 0o644)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        let impatient = ModelStore(cacheDirectory: dir.url, endpoint: server.endpoint,
                                   configuration: .init(requestTimeout: 5, retryDelay: 0.01, lockTimeout: 0.3))
        let error = await failure { try await impatient.fetch(Self.file) }
        #expect(error == .lockTimeout(path: target.path + ".lock", seconds: 0.3))
        #expect(server.requests.isEmpty)
        flock(fd, LOCK_UN)
        close(fd)
        #expect(try contents(try await impatient.fetch(Self.file)) == Self.data)
    }

    @Test func readsSizeAndChecksumFromHuggingFacesRedirect() async throws {
        let cdn = "/cdn/blob"
        let server = try TestHTTPServer(routes: [
            Self.path: .init(linkedETag: Self.sha, linkedSize: Self.data.count, redirectTo: cdn),
            cdn: .init(body: Self.data, dropAfter: 2 << 20),
        ])
        let url = try await store(server.endpoint).fetch(Self.file)
        #expect(try contents(url) == Self.data)
        #expect(server.requests == [.init(path: Self.path, range: nil), .init(path: cdn, range: nil),
                                    .init(path: Self.path, range: "bytes=2097152-"), .init(path: cdn, range: "bytes=2097152-")])

        // The same redirect with a wrong hash: the checksum on the redirect is what is checked.
        let other = HubFile(repository: Self.repo, filename: "other.gguf")
        server.setRoute("/\(Self.repo)/resolve/main/other.gguf", .init(linkedETag: String(repeating: "ab", count: 32), redirectTo: cdn))
        server.setRoute(cdn, .init(body: Self.data))
        await #expect(throws: HubError.self) { try await store(server.endpoint).fetch(other) }
    }

    @Test func detectsCorruption() async throws {
        let wrong = String(repeating: "0", count: 64)
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: wrong)])
        let error = await failure { try await store(server.endpoint).fetch(Self.file) }
        guard case let .checksumMismatch(_, _, expected, actual) = error else {
            Issue.record("expected a checksum mismatch, got \(String(describing: error))")
            return
        }
        #expect(expected == wrong && actual == Self.sha)
        #expect(!FileManager.default.fileExists(atPath: store(server.endpoint).cachePath(for: Self.file).path), "nothing put in place")
        #expect(!FileManager.default.fileExists(atPath: part.path), "the corrupt .part is removed")
    }

    @Test func detectsAResponseOfTheWrongSize() async throws {
        // A well-formed response 1000 bytes shorter than the size the hub declares.
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedSize: Self.data.count, shortBy: 1000)])
        let error = await failure { try await store(server.endpoint).fetch(Self.file) }
        guard case let .sizeMismatch(_, _, expected, received) = error else {
            Issue.record("expected a size mismatch, got \(String(describing: error))")
            return
        }
        #expect(expected == Int64(Self.data.count) && received == Int64(Self.data.count - 1000))
        #expect(!FileManager.default.fileExists(atPath: store(server.endpoint).cachePath(for: Self.file).path), "nothing put in place")
        #expect(!FileManager.default.fileExists(atPath: part.path))
    }

    @Test func givesUpOnABodyThatNeverCompletes() async throws {
        // Content-Length promises the whole file but every response stops at the same byte.
        let cut = 2_000_000
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, truncateAt: cut)])
        let error = await failure { try await store(server.endpoint, maxAttemptsWithoutProgress: 3).fetch(Self.file) }
        guard case let .connectionLost(_, url, attempts, _) = error else {
            Issue.record("expected a lost connection, got \(String(describing: error))")
            return
        }
        #expect(url.hasSuffix(Self.path))
        #expect(attempts == 4, "one attempt with progress, then three without")
        #expect(Download_fileSize(part) == Int64(cut), "the .part is kept for the next run to resume")
        #expect(!FileManager.default.fileExists(atPath: store(server.endpoint).cachePath(for: Self.file).path))
    }

    @Test func httpErrorsAreTyped() async throws {
        let server = try TestHTTPServer(routes: [
            "/\(Self.repo)/resolve/main/private.gguf": .init(status: 401),
            "/\(Self.repo)/resolve/main/forbidden.gguf": .init(status: 403),
        ])
        let s = store(server.endpoint)
        let error = await failure { try await s.fetch(Self.file, name: "smolvlm-256m:q8_0") }
        guard case let .notFound(name, url) = error else {
            Issue.record("expected not found, got \(String(describing: error))")
            return
        }
        #expect(name.contains("smolvlm-256m:q8_0") && url == server.endpoint.absoluteString + Self.path)
        await #expect(throws: HubError.unauthorized(name: "private.gguf", url: server.endpoint.absoluteString + "/\(Self.repo)/resolve/main/private.gguf", status: 401)) {
            try await s.fetch(HubFile(repository: Self.repo, filename: "private.gguf"))
        }
        await #expect(throws: HubError.unauthorized(name: "forbidden.gguf", url: server.endpoint.absoluteString + "/\(Self.repo)/resolve/main/forbidden.gguf", status: 403)) {
            try await s.fetch(HubFile(repository: Self.repo, filename: "forbidden.gguf"))
        }
    }

    @Test func offlineIsATypedErrorThatSaysWhatToDo() async throws {
        let endpoint = URL(string: "http://127.0.0.1:\(try TestHTTPServer.closedPort())")!
        // An unreachable host is a verdict that ends the download without a retry (a failure
        // after retries is `.connectionLost(attempts:)`), so the error's type says what a
        // wall-clock bound used to say here; that bound failed on a loaded machine (12.8 s
        // under ASan with the fuzzers running).
        let error = await failure { try await store(endpoint).resolve(model: try ModelReference(parsing: "smolvlm-256m")) }
        guard let error, case let .offline(name, url, _) = error else {
            Issue.record("expected .offline, got \(String(describing: error))")
            return
        }
        #expect(name.contains("smolvlm-256m:q8_0") && name.contains(Self.name))
        #expect(url == endpoint.absoluteString + Self.path)
        #expect(error.description.contains("pass their paths"), "the message says how to use local files")

        let offline = ModelStore(cacheDirectory: dir.url, endpoint: endpoint, environment: ["HF_HUB_OFFLINE": "1"])
        await #expect(throws: HubError.self) { try await offline.fetch(Self.file) }
    }

    @Test func concurrentCallersShareOneDownload() async throws {
        let server = try TestHTTPServer(routes: [Self.path: .init(body: Self.data, linkedETag: Self.sha)])
        let s = store(server.endpoint)
        let urls = try await withThrowingTaskGroup(of: URL.self) { group in
            for _ in 0..<4 { group.addTask { try await s.fetch(Self.file) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(urls).count == 1)
        #expect(try contents(urls[0]) == Self.data)
        #expect(server.requests.count == 1, "the lock lets one caller download; the others find the file")
    }

    @Test func resolvesBothFilesOfAName() async throws {
        let mmprojName = "mmproj-SmolVLM-256M-Instruct-Q8_0.gguf"
        let projector = seededBytes(100_000, seed: 9)
        let server = try TestHTTPServer(routes: [
            Self.path: .init(body: Self.data),
            "/\(Self.repo)/resolve/main/\(mmprojName)": .init(body: projector, etag: SHA256Tests.hex(SHA256.hash(projector))),
        ])
        let pair = try await store(server.endpoint).resolve(model: try ModelReference(parsing: "smolvlm-256m:q8_0"))
        #expect(try contents(pair.model) == Self.data)
        #expect(try contents(pair.mmproj) == projector)
        #expect(pair.mmproj.lastPathComponent == mmprojName)
        await #expect(throws: HubError.missingMmproj(model: "/x/model.gguf")) {
            try await store(server.endpoint).resolve(model: .file(URL(fileURLWithPath: "/x/model.gguf")))
        }
    }
}

// MARK: - Helpers

/// The HubError `body` throws (nil when it succeeds or throws something else, which the
/// caller's pattern match then reports).
func failure<T>(_ body: () async throws -> T) async -> HubError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error as? HubError
    }
}

func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
        withUnsafeBytes(of: rng.next()) { out.append(contentsOf: $0) }
    }
    return Array(out.prefix(count))
}

func Download_fileSize(_ url: URL) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.int64Value ?? -1
}

/// A fresh directory under the system's temporary directory, removed when the value goes.
final class TemporaryDirectory: Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("smolvlm-hub-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Progress reports, collected from whatever thread delivers them.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var log: [DownloadProgress] = []
    var events: [DownloadProgress] { lock.withLock { log } }
    var record: ModelStore.ProgressHandler { { [self] report in lock.withLock { log.append(report) } } }
}
