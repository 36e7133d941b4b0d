import Foundation
import SmolVLM
import Testing

/// A model llama.cpp (`-hf`) or the Hugging Face CLI already downloaded is used where it lies:
/// the hub cache layout (which llama.cpp now writes too) and llama.cpp's earlier flat cache,
/// found from the same environment variables those tools read; nothing touches the network.
@Suite("Other tools' caches")
struct ForeignCacheTests {
    static let file = HubFile(repository: "ggml-org/SmolVLM-256M-Instruct-GGUF", filename: "SmolVLM-256M-Instruct-Q8_0.gguf")
    /// Nothing listens here: a download attempt would fail.
    static let nowhere = URL(string: "http://127.0.0.1:1")!

    static func write(_ url: URL, _ text: String = "GGUF") throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    @Test func findsTheHubCacheSnapshotOfTheRevision() async throws {
        let dir = try TemporaryDirectory()
        let repo = dir.url.appendingPathComponent("hub/models--ggml-org--SmolVLM-256M-Instruct-GGUF")
        // Two snapshots; refs/main names the second.
        try Self.write(repo.appendingPathComponent("snapshots/0000old/\(Self.file.filename)"), "old")
        let current = repo.appendingPathComponent("snapshots/abc123/\(Self.file.filename)")
        try Self.write(current, "new")
        try Self.write(repo.appendingPathComponent("refs/main"), "abc123\n")
        let store = ModelStore(cacheDirectory: dir.url.appendingPathComponent("own"), endpoint: Self.nowhere,
                               environment: ["HF_HUB_CACHE": dir.url.appendingPathComponent("hub").path, "HOME": dir.url.path])
        #expect(store.cachedFile(Self.file)?.path == current.path)
        let fetched = try await store.fetch(Self.file)
        #expect(fetched.path == current.path)
        // llama.cpp's LLAMA_CACHE and HF_HOME (its hub/ folder) point at the same layout.
        let viaLlama = ModelStore(cacheDirectory: dir.url.appendingPathComponent("own"), endpoint: Self.nowhere,
                                  environment: ["LLAMA_CACHE": dir.url.appendingPathComponent("hub").path,
                                                "HOME": dir.url.appendingPathComponent("elsewhere").path])
        #expect(viaLlama.cachedFile(Self.file)?.path == current.path)
        let viaHome = ModelStore(cacheDirectory: dir.url.appendingPathComponent("own"), endpoint: Self.nowhere,
                                 environment: ["HF_HOME": dir.url.path, "HOME": dir.url.appendingPathComponent("elsewhere").path])
        #expect(viaHome.cachedFile(Self.file)?.path == current.path)
    }

    @Test func findsLlamaCppsFlatCache() async throws {
        let dir = try TemporaryDirectory()
        let flat = dir.url.appendingPathComponent(".cache/llama.cpp/ggml-org_SmolVLM-256M-Instruct-GGUF_SmolVLM-256M-Instruct-Q8_0.gguf")
        try Self.write(flat)
        let store = ModelStore(cacheDirectory: dir.url.appendingPathComponent("own"), endpoint: Self.nowhere,
                               environment: ["HOME": dir.url.path])
        #expect(store.cachedFile(Self.file)?.path == flat.path)
        #expect(try await store.fetch(Self.file).path == flat.path)
    }

    @Test func ownCacheFirstAndReuseCanBeTurnedOff() throws {
        let dir = try TemporaryDirectory()
        let flat = dir.url.appendingPathComponent(".cache/llama.cpp/ggml-org_SmolVLM-256M-Instruct-GGUF_SmolVLM-256M-Instruct-Q8_0.gguf")
        try Self.write(flat)
        let own = ModelStore(cacheDirectory: dir.url.appendingPathComponent("own"), endpoint: Self.nowhere, environment: ["HOME": dir.url.path])
        try Self.write(own.cachePath(for: Self.file))
        #expect(own.cachedFile(Self.file)?.path == own.cachePath(for: Self.file).path)
        let strict = ModelStore(cacheDirectory: dir.url.appendingPathComponent("strict"), endpoint: Self.nowhere,
                                configuration: .init(reusesOtherCaches: false), environment: ["HOME": dir.url.path])
        #expect(strict.cachedFile(Self.file) == nil)
        // A folder with the file's name is not a file.
        let other = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: other.url.appendingPathComponent(".cache/llama.cpp/ggml-org_SmolVLM-256M-Instruct-GGUF_SmolVLM-256M-Instruct-Q8_0.gguf"),
                                                withIntermediateDirectories: true)
        #expect(ModelStore(cacheDirectory: other.url.appendingPathComponent("own"), endpoint: Self.nowhere,
                           environment: ["HOME": other.url.path]).cachedFile(Self.file) == nil)
    }
}
