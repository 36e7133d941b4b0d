import ArgumentParser
import Foundation
import SmolVLM

struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a known SmolVLM model (text model and vision projector) into the cache and print their paths.",
        discussion: """
        NAME is one of \(KnownModel.allCases.map(\.rawValue).joined(separator: ", ")), optionally followed by \
        :QUANT (\(ModelQuantization.allCases.map(\.rawValue).joined(separator: ", ")); default \
        \(ModelQuantization.default.rawValue)). The files come from the official llama.cpp conversions on Hugging Face \
        (ggml-org/…-GGUF). Files already in the cache are not fetched again; an interrupted download resumes.

        Cache: $SMOLVLM_CACHE, else $XDG_CACHE_HOME/smolvlm, else ~/.cache/smolvlm. \
        Hub address: $HF_ENDPOINT (default https://huggingface.co). HF_HUB_OFFLINE=1 forbids network use.
        """
    )

    @Argument(help: "NAME[:QUANT], e.g. smolvlm-256m or smolvlm2-500m:f16.") var name: String
    @Option(help: "Cache directory (overrides $SMOLVLM_CACHE).") var cache: String?
    @Flag(name: .customLong("text-only"), help: "Only the text model, not the vision projector.") var textOnly = false

    func run() throws {
        let reference = try ModelReference(parsing: name)
        guard case .known = reference else {
            throw ValidationError("'\(name)' is a file, not a model name; known names: \(KnownModel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let store = ModelStore(cacheDirectory: cache.map { URL(fileURLWithPath: $0, isDirectory: true) })
        let bar = ProgressBar()
        let textOnly = textOnly
        let paths = try runBlocking { () async throws -> [URL] in
            let model = try await store.resolveModel(reference, progress: bar.update)
            bar.finish()
            if textOnly { return [model] }
            let mmproj = try await store.resolveMmproj(reference, progress: bar.update)
            bar.finish()
            return [model, mmproj]
        }
        print("model:  \(paths[0].path)")
        if paths.count > 1 { print("mmproj: \(paths[1].path)") }
    }
}

/// What `--model` / `--mmproj` options turn into: file paths, with known names downloaded
/// (progress bar on stderr) or taken from the cache. For `caption`, `chat` and the like.
enum ModelArguments {
    /// The text model and vision projector; `mmproj` nil means the projector of the same
    /// release as `model` (which must then be a name).
    static func resolve(model: String, mmproj: String?, store: ModelStore = ModelStore()) throws -> (model: String, mmproj: String) {
        let modelRef = try ModelReference(parsing: model)
        let mmprojRef = try mmproj.map { (text: String) throws(HubError) -> ModelReference in try ModelReference(parsing: text) }
        let bar = ProgressBar()
        let urls = try runBlocking {
            let urls = try await store.resolve(model: modelRef, mmproj: mmprojRef, progress: bar.update)
            bar.finish()
            return [urls.model, urls.mmproj]
        }
        return (urls[0].path, urls[1].path)
    }

    /// The text model alone (for text-only commands).
    static func resolveModel(_ model: String, store: ModelStore = ModelStore()) throws -> String {
        let ref = try ModelReference(parsing: model)
        if case let .file(url) = ref { return url.path }
        let bar = ProgressBar()
        return try runBlocking {
            let url = try await store.resolveModel(ref, progress: bar.update)
            bar.finish()
            return url.path
        }
    }
}

/// Runs async work from a synchronous command and waits for it. Only for the top of a
/// command-line tool: it blocks the calling thread.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    // The semaphore orders the write before this read.
    guard let result = box.result else { throw CleanExit.message("internal error: no result") }
    return try result.get()
}

/// Hands a result from the task to the waiting thread (ordered by the semaphore).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// A one-line progress bar on stderr, redrawn at most ten times a second; on a non-terminal
/// only the final line of each file is written.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(2) != 0
    private var last: DownloadProgress?
    private var started: ContinuousClock.Instant?
    private var startBytes: Int64 = 0
    private var lastDraw: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    var update: ModelStore.ProgressHandler { { [self] report in handle(report) } }

    private func handle(_ report: DownloadProgress) {
        lock.withLock {
            let now = clock.now
            if last?.file != report.file {
                started = now
                startBytes = report.bytesReceived
                lastDraw = nil
            }
            last = report
            guard isTerminal else { return }
            if let lastDraw, now - lastDraw < .milliseconds(100), report.bytesReceived != report.totalBytes { return }
            lastDraw = now
            // ESC[K clears what a longer previous line left behind.
            FileHandle.standardError.write(Data(("\r" + line(report, now: now) + "\u{1B}[K").utf8))
        }
    }

    /// Ends the current file's line (nothing if nothing was downloaded: the file was cached).
    func finish() {
        lock.withLock {
            guard let report = last else { return }
            let text = isTerminal ? "\r" + line(report, now: clock.now) + "\u{1B}[K\n" : line(report, now: clock.now) + "\n"
            FileHandle.standardError.write(Data(text.utf8))
            last = nil
        }
    }

    private func line(_ r: DownloadProgress, now: ContinuousClock.Instant) -> String {
        let mb = { (bytes: Int64) in String(format: "%.1f", Double(bytes) / 1e6) }
        var text = r.file.filename + " "
        if let fraction = r.fractionCompleted, let total = r.totalBytes {
            let width = 30
            let filled = Int(fraction * Double(width))
            text += "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "] "
            text += String(format: "%3d%% ", Int(fraction * 100)) + "\(mb(r.bytesReceived))/\(mb(total)) MB"
        } else {
            text += "\(mb(r.bytesReceived)) MB"
        }
        if let started {
            let seconds = (now - started).seconds
            if seconds > 0.2 { text += String(format: "  %.1f MB/s", Double(r.bytesReceived - startBytes) / 1e6 / seconds) }
        }
        return text
    }
}
